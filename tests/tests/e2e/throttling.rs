//! Fairness at the edge: one organization over its rate gets `429` with `Retry-After` and a
//! SCIM error body while another organization is served; an owner's override through admin.v1
//! lifts the limit; an address that keeps presenting refused tokens stops reaching the core.

use identity_proto::admin::v1 as admin;
use identity_tests::Stack;

/// Sends `count` GETs of the service provider configuration one after the other and returns
/// how many answered 200 and the first 429 seen.
async fn burst(
    tenant: &identity_tests::Tenant,
    count: usize,
) -> (usize, Option<identity_tests::Response>) {
    let mut ok = 0;
    let mut throttled = None;
    for _ in 0..count {
        let response = tenant.get("/Users?count=1").await;
        match response.status {
            200 => ok += 1,
            429 => {
                throttled.get_or_insert(response);
            }
            other => panic!("unexpected status {other}:\n{response}"),
        }
    }
    (ok, throttled)
}

/// `SetRateLimits` for `org`, as the owner holding `owner_secret`.
async fn set_limits(
    stack: &Stack,
    owner_secret: &str,
    org: &str,
    limits: admin::RateLimits,
) -> Result<admin::ScimSettings, tonic::Status> {
    stack
        .admin_client_with(owner_secret)
        .scim
        .set_rate_limits(admin::SetRateLimitsRequest {
            organization_id: org.to_owned(),
            rate_limits: Some(limits),
        })
        .await
        .map(|response| response.into_inner().settings.unwrap())
}

#[tokio::test]
async fn an_organization_over_its_rate_is_throttled_and_others_are_not() {
    let stack = Stack::builder()
        .with_edge(true)
        // every request asks the core, so a new override applies at once
        .token_cache_ttl_secs(0)
        .edge_env("SCIM_EDGE_ORG_REQUESTS_PER_SECOND", "1")
        .edge_env("SCIM_EDGE_ORG_BURST", "5")
        // this client ignores Retry-After on purpose: answer it at once (holds have their test)
        .edge_env("SCIM_EDGE_HOLD_IGNORED_RETRY_AFTER_SECS", "0")
        .start()
        .await;
    let noisy = stack.new_tenant().await;
    let quiet = stack.new_tenant().await;

    let (ok, throttled) = burst(&noisy, 12).await;
    assert!(
        (5..=7).contains(&ok),
        "the burst of 5 (and a refill) passes: {ok}"
    );
    let throttled = throttled.expect("the noisy organization is throttled");
    throttled.expect_error(429, None);
    let retry_after: u64 = throttled
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");

    // the other organization is untouched
    let (ok, throttled) = burst(&quiet, 5).await;
    assert_eq!((ok, throttled.is_none()), (5, true));

    // the owner lifts the noisy organization's limit
    let roomy = admin::RateLimits {
        requests_per_second: 1000,
        burst: 1000,
        max_concurrent_requests: 0,
    };
    let settings = set_limits(&stack, &noisy.owner_secret, &noisy.org_id, roomy)
        .await
        .unwrap();
    assert_eq!(settings.rate_limits.unwrap().requests_per_second, 1000);
    let (ok, throttled) = burst(&noisy, 20).await;
    assert_eq!((ok, throttled.is_none()), (20, true));

    // another organization's owner cannot change it
    let denied = set_limits(
        &stack,
        &quiet.owner_secret,
        &noisy.org_id,
        admin::RateLimits::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    // nor set a value no edge could honour sensibly
    let too_fast = admin::RateLimits {
        requests_per_second: 100_001,
        ..admin::RateLimits::default()
    };
    let invalid = set_limits(&stack, &noisy.owner_secret, &noisy.org_id, too_fast)
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn a_client_that_ignores_retry_after_gets_its_429s_late() {
    let stack = Stack::builder()
        .with_edge(true)
        .edge_env("SCIM_EDGE_ORG_REQUESTS_PER_SECOND", "1")
        .edge_env("SCIM_EDGE_ORG_BURST", "1")
        .start()
        .await;
    let noisy = stack.new_tenant().await;
    let quiet = stack.new_tenant().await;
    noisy.get("/Users?count=1").await.expect(200);
    // the first 429 is answered at once and says when to come back
    let first = noisy.get("/Users?count=1").await;
    first.expect_error(429, None);
    let retry_after: u64 = first.header("retry-after").unwrap().parse().unwrap();
    // asking again at once: the answer comes no earlier than that (a lower bound only: a slow
    // machine can only make it later)
    let asked = std::time::Instant::now();
    let held = noisy.get("/Users?count=1").await;
    assert!(
        asked.elapsed() >= std::time::Duration::from_millis(retry_after * 1000 - 200),
        "held for {:?}",
        asked.elapsed()
    );
    // the request was refused when it arrived; only its answer waited
    held.expect_error(429, None);
    // held answers are counted for the operator
    let metrics = stack.edge_metrics().await;
    assert!(
        metrics.contains("scim_throttled_held_seconds_count"),
        "{metrics}"
    );
    // another organization is not held
    quiet.get("/Users?count=1").await.expect(200);
}

#[tokio::test]
async fn refused_tokens_spend_the_address_budget() {
    let stack = Stack::builder()
        .with_edge(true)
        .edge_env("SCIM_EDGE_UNAUTHENTICATED_REQUESTS_PER_SECOND", "1")
        .edge_env("SCIM_EDGE_UNAUTHENTICATED_BURST", "3")
        .start()
        .await;
    let tenant = stack.new_tenant().await;
    // a valid token is served (and now cached)
    tenant.get("/Users?count=1").await.expect(200);
    let mut statuses = Vec::new();
    for n in 0..6 {
        let guess = tenant.with_token(&format!("idscim_guess{n}"));
        statuses.push(guess.get("/Users").await.status);
    }
    assert_eq!(&statuses[..3], [401, 401, 401], "{statuses:?}");
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    // the same refused token again is answered from memory: 401, not a new lookup
    let again = tenant.with_token("idscim_guess0").get("/Users").await;
    again.expect_error(401, None);
    // the valid, cached token still works
    tenant.get("/Users?count=1").await.expect(200);
}
