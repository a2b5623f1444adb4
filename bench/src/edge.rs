//! `identity-bench edge`: the SCIM 2.0 HTTP surface under load, as identity providers drive it —
//! POST /Users throughput, GET /Users?filter=userName eq "…" among N users, and PATCH add-member
//! on an N-member Group against an empty Group, measured in the same run.

use crate::drive::{concurrent, timed};
use crate::stats::{Ratio, Samples, Summary};
use anyhow::{Context, Result, bail, ensure};
use rand::Rng;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub(crate) const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(crate) const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub(crate) const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub(crate) const SCIM_JSON: &str = "application/scim+json";

/// What a scenario needs to know.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// `http://host:port/scim/v2`, without a trailing slash.
    pub(crate) base_url: String,
    pub(crate) users: usize,
    pub(crate) samples: usize,
    pub(crate) concurrency: usize,
    /// Members per PATCH while filling the large group.
    pub(crate) fill_batch: usize,
    pub(crate) run_id: String,
}

/// An HTTP client that sends the bearer token and SCIM's media type on every request.
pub(crate) fn client(token: &str, concurrency: usize) -> Result<Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    let mut auth: reqwest::header::HeaderValue = format!("Bearer {token}")
        .parse()
        .context("token is not a valid header value")?;
    auth.set_sensitive(true);
    headers.insert(reqwest::header::AUTHORIZATION, auth);
    headers.insert(reqwest::header::ACCEPT, SCIM_JSON.parse()?);
    Ok(Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(concurrency.max(1))
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(120))
        .build()?)
}

/// Sends `request`; the parsed JSON body (Null when empty) if its status is one of `expected`.
pub(crate) async fn send(
    request: reqwest::RequestBuilder,
    expected: &[StatusCode],
) -> Result<Value> {
    let response = request.send().await?;
    let status = response.status();
    let body = response.text().await?;
    if !expected.contains(&status) {
        let shown: String = body.chars().take(500).collect();
        bail!("HTTP {status}: {shown}");
    }
    Ok(if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body)?
    })
}

fn user_body(plan: &Plan, kind: &str, i: usize) -> (String, Value) {
    let user_name = format!("{kind}{i:07}.{}@bench.example.com", plan.run_id);
    let body = json!({
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "externalId": format!("{kind}-{i}-{}", plan.run_id),
        "name": {"givenName": "Bench", "familyName": format!("User{i}")},
        "displayName": format!("Bench User {i}"),
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "active": true
    });
    (user_name, body)
}

async fn create_users(
    http: &Client,
    plan: &Plan,
    kind: &str,
    count: usize,
) -> Result<(Vec<(String, String)>, Samples, Duration)> {
    let url = format!("{}/Users", plan.base_url);
    let (outputs, samples, wall) = concurrent(count, plan.concurrency, |i| {
        let (user_name, body) = user_body(plan, kind, i);
        let request = http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, SCIM_JSON)
            .json(&body);
        async move {
            timed(async {
                let created = send(request, &[StatusCode::CREATED])
                    .await
                    .context("POST /Users")?;
                let id = created["id"]
                    .as_str()
                    .context("created user has no id")?
                    .to_owned();
                Ok((id, user_name))
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

async fn create_group(http: &Client, plan: &Plan, name: &str) -> Result<String> {
    let body = json!({"schemas": [GROUP_SCHEMA], "displayName": format!("{name}-{}", plan.run_id)});
    let created = send(
        http.post(format!("{}/Groups", plan.base_url))
            .header(reqwest::header::CONTENT_TYPE, SCIM_JSON)
            .json(&body),
        &[StatusCode::CREATED],
    )
    .await
    .context("POST /Groups")?;
    Ok(created["id"]
        .as_str()
        .context("created group has no id")?
        .to_owned())
}

fn patch(http: &Client, plan: &Plan, group_id: &str, operation: Value) -> reqwest::RequestBuilder {
    http.patch(format!("{}/Groups/{group_id}", plan.base_url))
        .header(reqwest::header::CONTENT_TYPE, SCIM_JSON)
        .json(&json!({"schemas": [PATCH_SCHEMA], "Operations": [operation]}))
}

fn add_members(ids: &[&str]) -> Value {
    let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    // Okta and Entra both send add with path "members" and a list of {value}
    json!({"op": "add", "path": "members", "value": members})
}

const PATCHED: [StatusCode; 2] = [StatusCode::OK, StatusCode::NO_CONTENT];

/// Runs every edge scenario and returns the summaries and ratios.
pub(crate) async fn run(http: Client, plan: &Plan) -> Result<(Vec<Summary>, Vec<Ratio>)> {
    let mut results = Vec::new();
    let mut ratios = Vec::new();

    // 1. POST /Users throughput; these users are also the data set of the next scenarios
    eprintln!(
        "edge: POST /Users x{} with {} in flight",
        plan.users, plan.concurrency
    );
    let (users, samples, wall) = create_users(&http, plan, "u", plan.users).await?;
    results.push(samples.summarize("POST /Users (concurrent)", wall));

    // 2. the identity providers' matching query, one at a time for clean latencies
    eprintln!("edge: {} GET /Users?filter=userName eq", plan.samples);
    let mut samples = Samples::with_capacity(plan.samples);
    let started = Instant::now();
    let url = format!("{}/Users", plan.base_url);
    for _ in 0..plan.samples {
        let (expected_id, user_name) = &users[rand::rng().random_range(0..users.len())];
        let filter = format!("userName eq \"{user_name}\"");
        let call = Instant::now();
        let outcome = send(
            http.get(&url).query(&[("filter", filter.as_str())]),
            &[StatusCode::OK],
        )
        .await;
        let latency = call.elapsed();
        match outcome {
            Ok(body)
                if body["totalResults"] == json!(1)
                    && body["Resources"][0]["id"] == json!(expected_id) =>
            {
                samples.record(latency)
            }
            outcome => {
                eprintln!("filter {filter} gave {outcome:?}");
                samples.record_error();
            }
        }
    }
    results.push(samples.summarize(
        &format!("GET /Users?filter=userName eq @ {}", users.len()),
        started.elapsed(),
    ));

    // 3. PATCH add-member on an N-member group against an empty group
    eprintln!("edge: filling a group with {} members", users.len());
    let large = create_group(&http, plan, "bench-large").await?;
    let empty = create_group(&http, plan, "bench-empty").await?;
    let started = Instant::now();
    let mut fill = Samples::default();
    for chunk in users.chunks(plan.fill_batch.max(1)) {
        let ids: Vec<&str> = chunk.iter().map(|(id, _)| id.as_str()).collect();
        let call = Instant::now();
        send(patch(&http, plan, &large, add_members(&ids)), &PATCHED)
            .await
            .context("PATCH add while filling the large group")?;
        fill.record(call.elapsed());
    }
    results.push(fill.summarize(
        &format!("PATCH /Groups fill ({}/call)", plan.fill_batch),
        started.elapsed(),
    ));

    let (extra, _, _) = create_users(&http, plan, "x", plan.samples).await?;
    eprintln!(
        "edge: {} single-member PATCH adds on each group",
        plan.samples
    );
    let mut on_large = Samples::with_capacity(plan.samples);
    let mut on_empty = Samples::with_capacity(plan.samples);
    let (mut wall_large, mut wall_empty) = (Duration::ZERO, Duration::ZERO);
    for (k, (user_id, _)) in extra.iter().enumerate() {
        let order = if k % 2 == 0 {
            [&large, &empty]
        } else {
            [&empty, &large]
        };
        for group_id in order {
            let call = Instant::now();
            let outcome = send(
                patch(&http, plan, group_id, add_members(&[user_id])),
                &PATCHED,
            )
            .await;
            let latency = call.elapsed();
            let (samples, wall) = if group_id == &large {
                (&mut on_large, &mut wall_large)
            } else {
                (&mut on_empty, &mut wall_empty)
            };
            *wall += latency;
            match outcome {
                Ok(_) => samples.record(latency),
                Err(error) => {
                    eprintln!("PATCH add gave {error:#}");
                    samples.record_error();
                }
            }
            // untimed: Okta's remove form, to put the group back to its size
            let remove =
                json!({"op": "remove", "path": format!("members[value eq \"{user_id}\"]")});
            send(patch(&http, plan, group_id, remove), &PATCHED)
                .await
                .context("PATCH remove")?;
        }
    }
    let large_summary = on_large.summarize(
        &format!("PATCH add 1 member, group of {}", users.len()),
        wall_large,
    );
    let empty_summary = on_empty.summarize("PATCH add 1 member, empty group", wall_empty);
    ratios.push(Ratio::of(
        "PATCH add member large/empty",
        &large_summary,
        &empty_summary,
    ));
    results.push(large_summary);
    results.push(empty_summary);
    Ok((results, ratios))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_members_is_the_providers_patch_shape() {
        assert_eq!(
            add_members(&["a", "b"]),
            json!({"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "b"}]})
        );
    }

    #[test]
    fn user_names_are_unique_per_run_and_index() {
        let plan = Plan {
            base_url: String::new(),
            users: 2,
            samples: 1,
            concurrency: 1,
            fill_batch: 1,
            run_id: "r1".into(),
        };
        let (a, body) = user_body(&plan, "u", 1);
        let (b, _) = user_body(&plan, "u", 2);
        let (c, _) = user_body(&plan, "x", 1);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(body["userName"], json!(a));
        assert_eq!(body["emails"][0]["value"], json!(a));
    }
}
