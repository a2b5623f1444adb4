//! `identity-bench core`: the identity.v1 gRPC API under load — CreateUser throughput,
//! LookupUser latency among N users, and AddRoleMembers on an N-member role against an empty
//! role, measured in the same run.

use crate::drive::{concurrent, retry_transient, timed};
use crate::stats::{Ratio, Samples, Summary};
use anyhow::{Context, Result, ensure};
use identity_proto::client::AuthenticatedChannel;
use identity_proto::identity::v1 as pb;
use identity_proto::identity::v1::role_service_client::RoleServiceClient;
use identity_proto::identity::v1::user_service_client::UserServiceClient;
use rand::Rng;
use std::time::{Duration, Instant};

/// AddRoleMembers takes at most this many ids per call (role_service.proto).
const MAX_MEMBERS_PER_CALL: usize = 10_000;

/// What a scenario needs to know.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) org_id: String,
    pub(crate) users: usize,
    pub(crate) samples: usize,
    pub(crate) concurrency: usize,
    /// Distinguishes this run's names from earlier runs on the same store.
    pub(crate) run_id: String,
}

fn user(plan: &Plan, kind: &str, i: usize) -> pb::User {
    let user_name = format!("{kind}{i:07}.{}@bench.example.com", plan.run_id);
    pb::User {
        emails: vec![pb::ContactValue {
            value: user_name.clone(),
            r#type: "work".into(),
            primary: true,
            display: String::new(),
        }],
        display_name: format!("Bench User {i}"),
        name: Some(pb::PersonName {
            given_name: "Bench".into(),
            family_name: format!("User{i}"),
            ..Default::default()
        }),
        user_name,
        active: true,
        ..Default::default()
    }
}

async fn create_users(
    channel: &AuthenticatedChannel,
    plan: &Plan,
    kind: &str,
    count: usize,
) -> Result<(Vec<(String, String)>, Samples, Duration)> {
    let (outputs, samples, wall) = concurrent(count, plan.concurrency, |i| {
        let client = UserServiceClient::new(channel.clone());
        let request = pb::CreateUserRequest {
            organization_id: plan.org_id.clone(),
            user: Some(user(plan, kind, i)),
            password: String::new(),
            adopt_existing: false,
        };
        async move {
            timed(async {
                let response = retry_transient(|| {
                    let mut client = client.clone();
                    let request = request.clone();
                    async move { client.create_user(request).await }
                })
                .await
                .context("CreateUser")?
                .into_inner();
                let user = response.user.context("CreateUser returned no user")?;
                Ok((user.id, user.user_name))
            })
            .await
        }
    })
    .await;
    let created: Vec<(String, String)> = outputs.into_iter().flatten().collect();
    ensure!(
        created.len() == count,
        "only {} of {count} users were created; see the first error above",
        created.len()
    );
    Ok((created, samples, wall))
}

async fn create_role(channel: &AuthenticatedChannel, plan: &Plan, name: &str) -> Result<String> {
    let mut roles = RoleServiceClient::new(channel.clone());
    let role = roles
        .create_role(pb::CreateRoleRequest {
            organization_id: plan.org_id.clone(),
            role: Some(pb::Role {
                display_name: format!("{name}-{}", plan.run_id),
                description: "identity-bench".into(),
                ..Default::default()
            }),
            member_user_ids: vec![],
        })
        .await
        .context("CreateRole")?
        .into_inner()
        .role
        .context("CreateRole returned no role")?;
    Ok(role.id)
}

/// Runs every core scenario and returns the summaries and ratios.
pub(crate) async fn run(
    channel: AuthenticatedChannel,
    plan: &Plan,
) -> Result<(Vec<Summary>, Vec<Ratio>)> {
    let mut results = Vec::new();
    let mut ratios = Vec::new();

    // 1. CreateUser throughput; these users are also the data set of the next scenarios
    eprintln!(
        "core: creating {} users with {} in flight",
        plan.users, plan.concurrency
    );
    let (users, samples, wall) = create_users(&channel, plan, "u", plan.users).await?;
    results.push(samples.summarize("CreateUser (concurrent)", wall));

    // 2. LookupUser by user name among N users, one call at a time for clean latencies
    eprintln!("core: {} lookups by user name", plan.samples);
    let mut client = UserServiceClient::new(channel.clone());
    let mut samples = Samples::with_capacity(plan.samples);
    let started = Instant::now();
    for _ in 0..plan.samples {
        let (expected_id, user_name) = &users[rand::rng().random_range(0..users.len())];
        // mixed case: the lookup is case-insensitive, as SCIM userName matching is
        let request = pb::LookupUserRequest {
            organization_id: plan.org_id.clone(),
            key: Some(pb::lookup_user_request::Key::UserName(
                user_name.to_uppercase(),
            )),
        };
        let call = Instant::now();
        match client.lookup_user(request).await {
            Ok(response)
                if response.get_ref().user.as_ref().map(|u| &u.id) == Some(expected_id) =>
            {
                samples.record(call.elapsed())
            }
            outcome => {
                eprintln!("lookup of {user_name} gave {outcome:?}");
                samples.record_error();
            }
        }
    }
    results.push(samples.summarize(
        &format!("LookupUser by user_name @ {} users", users.len()),
        started.elapsed(),
    ));

    // 3. AddRoleMembers on an N-member role against an empty one
    eprintln!("core: filling a role with {} members", users.len());
    let large = create_role(&channel, plan, "bench-large").await?;
    let empty = create_role(&channel, plan, "bench-empty").await?;
    let mut roles = RoleServiceClient::new(channel.clone());
    let started = Instant::now();
    let mut fill = Samples::default();
    for chunk in users.chunks(MAX_MEMBERS_PER_CALL) {
        let request = pb::AddRoleMembersRequest {
            organization_id: plan.org_id.clone(),
            role_id: large.clone(),
            user_ids: chunk.iter().map(|(id, _)| id.clone()).collect(),
            expected_version: None,
        };
        let call = Instant::now();
        roles
            .add_role_members(request)
            .await
            .context("AddRoleMembers while filling the large role")?;
        fill.record(call.elapsed());
    }
    results.push(fill.summarize(
        &format!("AddRoleMembers fill ({MAX_MEMBERS_PER_CALL}/call)"),
        started.elapsed(),
    ));

    // users that are in neither role, one per sample
    let (extra, _, _) = create_users(&channel, plan, "x", plan.samples).await?;
    eprintln!("core: {} single-member adds on each role", plan.samples);
    let mut on_large = Samples::with_capacity(plan.samples);
    let mut on_empty = Samples::with_capacity(plan.samples);
    let (mut wall_large, mut wall_empty) = (Duration::ZERO, Duration::ZERO);
    for (k, (user_id, _)) in extra.iter().enumerate() {
        // alternate the order so neither role always runs on a warmer cache
        let order = if k % 2 == 0 {
            [&large, &empty]
        } else {
            [&empty, &large]
        };
        for role_id in order {
            let call = Instant::now();
            let outcome = roles
                .add_role_members(pb::AddRoleMembersRequest {
                    organization_id: plan.org_id.clone(),
                    role_id: role_id.clone(),
                    user_ids: vec![user_id.clone()],
                    expected_version: None,
                })
                .await;
            let latency = call.elapsed();
            let (samples, wall, expected_count) = if role_id == &large {
                (&mut on_large, &mut wall_large, users.len() as i64 + 1)
            } else {
                (&mut on_empty, &mut wall_empty, 1)
            };
            *wall += latency;
            match outcome {
                Ok(response)
                    if response.get_ref().added_count == 1
                        && response.get_ref().role.as_ref().map(|r| r.member_count)
                            == Some(expected_count) =>
                {
                    samples.record(latency)
                }
                outcome => {
                    eprintln!(
                        "AddRoleMembers gave {outcome:?} (expected {expected_count} members)"
                    );
                    samples.record_error();
                }
            }
            // untimed: put the role back to its size for the next sample
            roles
                .remove_role_members(pb::RemoveRoleMembersRequest {
                    organization_id: plan.org_id.clone(),
                    role_id: role_id.clone(),
                    user_ids: vec![user_id.clone()],
                    expected_version: None,
                })
                .await
                .context("RemoveRoleMembers")?;
        }
    }
    let large_summary = on_large.summarize(
        &format!("AddRoleMembers 1 user, role of {}", users.len()),
        wall_large,
    );
    let empty_summary = on_empty.summarize("AddRoleMembers 1 user, empty role", wall_empty);
    ratios.push(Ratio::of(
        "add member large/empty",
        &large_summary,
        &empty_summary,
    ));
    results.push(large_summary);
    results.push(empty_summary);
    Ok((results, ratios))
}
