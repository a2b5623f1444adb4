//! `identity-bench core`: the identity.v1 gRPC API under load — CreateUser throughput,
//! LookupUser latency among N users, AddRoleMembers on an N-member role against an empty role,
//! IntrospectToken and role checks under concurrent load (again large role against empty), and
//! the change stream's lag from a write's commit to its delivery to a watcher.

use crate::drive::{concurrent, retry_transient, timed};
use crate::stats::{Ratio, Samples, Summary};
use anyhow::{Context, Result, ensure};
use identity_proto::client::AuthenticatedChannel;
use identity_proto::identity::v1 as pb;
use identity_proto::identity::v1::access_token_service_client::AccessTokenServiceClient;
use identity_proto::identity::v1::change_service_client::ChangeServiceClient;
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
            ..Default::default()
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
            ..Default::default()
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

    // 4. reads platform services make on every request, under concurrent load
    let token_holders: Vec<String> = users
        .iter()
        .take(plan.samples)
        .map(|(id, _)| id.clone())
        .collect();
    results.push(introspection(&channel, plan, &token_holders).await?);
    // the same question (a member: yes) on the N-member role and on a 1-member role; a first
    // untimed round warms both, then the small role is measured before and after the large one
    let member = users[0].0.clone();
    roles
        .add_role_members(pb::AddRoleMembersRequest {
            organization_id: plan.org_id.clone(),
            role_id: empty.clone(),
            user_ids: vec![member.clone()],
            expected_version: None,
        })
        .await
        .context("AddRoleMembers for the 1-member role")?;
    role_checks(&channel, plan, &large, &member, plan.users).await?;
    role_checks(&channel, plan, &empty, &member, 1).await?;
    let check_small = role_checks(&channel, plan, &empty, &member, 1).await?;
    let check_large = role_checks(&channel, plan, &large, &member, plan.users).await?;
    let check_small_again = role_checks(&channel, plan, &empty, &member, 1).await?;
    let check_small = if check_small_again.p50_ms < check_small.p50_ms {
        check_small_again
    } else {
        check_small
    };
    ratios.push(Ratio::of(
        "check role large/1-member",
        &check_large,
        &check_small,
    ));
    results.push(check_large);
    results.push(check_small);
    results.push(batch_role_checks(&channel, plan, &large, &users).await?);

    // 5. how late a watcher hears of a committed write
    results.push(stream_lag(&channel, plan).await?);
    Ok((results, ratios))
}

/// Concurrent calls per read scenario: enough samples for a stable p99.
fn read_calls(plan: &Plan) -> usize {
    (plan.samples * 4).max(100)
}

/// IntrospectToken of active tokens, `concurrency` calls in flight.
async fn introspection(
    channel: &AuthenticatedChannel,
    plan: &Plan,
    holders: &[String],
) -> Result<Summary> {
    eprintln!("core: issuing {} access tokens", holders.len());
    let mut issuer = AccessTokenServiceClient::new(channel.clone());
    let mut tokens = Vec::with_capacity(holders.len());
    for user_id in holders {
        let issued = issuer
            .issue_access_token(pb::IssueAccessTokenRequest {
                organization_id: plan.org_id.clone(),
                user_id: user_id.clone(),
                scopes: vec!["bench".into()],
                ttl: None,
            })
            .await
            .context("IssueAccessToken")?;
        tokens.push(issued.into_inner().token);
    }
    let calls = read_calls(plan);
    eprintln!(
        "core: {calls} introspections with {} in flight",
        plan.concurrency
    );
    let (_, samples, wall) = concurrent(calls, plan.concurrency, |i| {
        let mut client = AccessTokenServiceClient::new(channel.clone());
        let token = tokens[i % tokens.len()].clone();
        timed(async move {
            let response = client
                .introspect_token(pb::IntrospectTokenRequest {
                    token,
                    organization_id: String::new(),
                })
                .await?
                .into_inner();
            ensure!(response.active, "an issued token introspected inactive");
            Ok(())
        })
    })
    .await;
    Ok(samples.summarize("IntrospectToken (concurrent)", wall))
}

/// CheckRoleMembership of a member of `role` (which has `size` members), `concurrency` calls in
/// flight.
async fn role_checks(
    channel: &AuthenticatedChannel,
    plan: &Plan,
    role: &str,
    user_id: &str,
    size: usize,
) -> Result<Summary> {
    let calls = read_calls(plan);
    let (_, samples, wall) = concurrent(calls, plan.concurrency, |_| {
        let mut client = RoleServiceClient::new(channel.clone());
        let request = pb::CheckRoleMembershipRequest {
            organization_id: plan.org_id.clone(),
            role_id: role.to_owned(),
            user_id: user_id.to_owned(),
        };
        timed(async move {
            let answer = client.check_role_membership(request).await?.into_inner();
            ensure!(answer.is_member, "a member was answered not a member");
            Ok(())
        })
    })
    .await;
    Ok(samples.summarize(
        &format!("CheckRoleMembership, role of {size} (concurrent)"),
        wall,
    ))
}

/// BatchCheckRoleMembership of 100 users on the large role, `concurrency` calls in flight.
async fn batch_role_checks(
    channel: &AuthenticatedChannel,
    plan: &Plan,
    role: &str,
    users: &[(String, String)],
) -> Result<Summary> {
    const BATCH: usize = 100;
    let calls = read_calls(plan) / 4;
    let (_, samples, wall) = concurrent(calls, plan.concurrency, |i| {
        let mut client = RoleServiceClient::new(channel.clone());
        let checks = (0..BATCH)
            .map(|k| pb::RoleMembershipCheck {
                user_id: users[(i * BATCH + k) % users.len()].0.clone(),
                role: Some(pb::role_membership_check::Role::RoleId(role.to_owned())),
            })
            .collect();
        let request = pb::BatchCheckRoleMembershipRequest {
            organization_id: plan.org_id.clone(),
            checks,
        };
        timed(async move {
            let answer = client
                .batch_check_role_membership(request)
                .await?
                .into_inner();
            ensure!(
                answer.is_member.len() == BATCH && answer.is_member.iter().all(|m| *m),
                "every user of the large role is a member"
            );
            Ok(())
        })
    })
    .await;
    Ok(samples.summarize(
        &format!("BatchCheckRoleMembership x{BATCH}, role of {}", plan.users),
        wall,
    ))
}

/// The lag from a write's commit (its response, which the core sends after the commit) to its
/// arrival on a WatchChanges stream opened before it. Writes are spaced by a random 20–80 ms so
/// they fall at every phase of the watcher's polling.
async fn stream_lag(channel: &AuthenticatedChannel, plan: &Plan) -> Result<Summary> {
    use futures::StreamExt;
    let writes = plan.samples.min(200);
    eprintln!("core: {writes} writes watched on a change stream");
    let mut changes = ChangeServiceClient::new(channel.clone());
    let latest = changes
        .list_changes(pb::ListChangesRequest {
            organization_id: plan.org_id.clone(),
            after_sequence: 0,
            page_size: 1,
        })
        .await
        .map(|r| r.into_inner().latest_sequence)
        .or_else(|status| {
            // a pruned feed tells the latest sequence in its error
            use tonic_types::StatusExt;
            status
                .get_error_details()
                .error_info()
                .and_then(|info| info.metadata.get("latest_sequence")?.parse().ok())
                .ok_or(status)
        })?;
    let mut stream = changes
        .watch_changes(pb::WatchChangesRequest {
            organization_id: plan.org_id.clone(),
            after_sequence: latest,
        })
        .await?
        .into_inner();
    let (arrivals_tx, mut arrivals_rx) = tokio::sync::mpsc::unbounded_channel();
    let watcher = tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            let now = Instant::now();
            for change in message.changes {
                if change.kind == pb::ChangeKind::Created as i32
                    && arrivals_tx.send((change.resource_id, now)).is_err()
                {
                    return;
                }
            }
        }
    });
    let mut users = UserServiceClient::new(channel.clone());
    let mut committed = std::collections::HashMap::new();
    let started = Instant::now();
    for i in 0..writes {
        let created = users
            .create_user(pb::CreateUserRequest {
                organization_id: plan.org_id.clone(),
                user: Some(user(plan, "w", i)),
                ..Default::default()
            })
            .await
            .context("CreateUser while watching")?;
        let at = Instant::now();
        let id = created.into_inner().user.context("user")?.id;
        committed.insert(id, at);
        let pause = rand::rng().random_range(20..80);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    let mut samples = Samples::with_capacity(writes);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = 0;
    while seen < writes {
        let Ok(Some((id, arrived))) =
            tokio::time::timeout_at(deadline.into(), arrivals_rx.recv()).await
        else {
            break;
        };
        if let Some(at) = committed.get(&id) {
            samples.record(arrived.saturating_duration_since(*at));
            seen += 1;
        }
    }
    for _ in seen..writes {
        samples.record_error();
    }
    watcher.abort();
    Ok(samples.summarize("WatchChanges lag, commit to delivery", started.elapsed()))
}
