use super::*;

type Admitted = Result<Option<OwnedSemaphorePermit>, Throttled>;

/// A light request of `organization` with token `token`, without overrides.
fn light(throttle: &Throttle, organization: &str, token: &str) -> Admitted {
    throttle.admit(organization, token, Overrides::default(), false)
}

/// A heavy request of `organization` with token `token`, without overrides.
fn heavy(throttle: &Throttle, organization: &str, token: &str) -> Admitted {
    throttle.admit(organization, token, Overrides::default(), true)
}

fn limits(per_second: u32, burst: u32, concurrency: u32) -> Limits {
    Limits {
        organization: Rate { per_second, burst },
        token: Rate {
            per_second: 0,
            burst: 0,
        },
        organization_concurrency: concurrency,
        address: Rate {
            per_second: 1,
            burst: 2,
        },
        refused_token_ttl: Duration::from_secs(10),
        heavy_slots: 0,
        heavy_cost: 10,
        hold_ignored_retry_after: Duration::from_secs(5),
    }
}

#[test]
fn an_organization_spends_its_own_bucket_only() {
    let throttle = Throttle::new(limits(1, 3, 0));
    for _ in 0..3 {
        light(&throttle, "a", "t1").unwrap();
    }
    let refused = light(&throttle, "a", "t2").unwrap_err();
    assert_eq!(refused.reason, Reason::OrganizationRate);
    assert!(refused.retry_after > Duration::ZERO);
    assert!(refused.retry_after <= Duration::from_secs(1));
    // another tenant is untouched
    light(&throttle, "b", "t3").unwrap();
    // an override replaces the default (a new bucket for the new quota)
    let roomy = Overrides {
        per_second: 100,
        burst: 100,
        concurrency: 0,
    };
    throttle.admit("a", "t1", roomy, false).unwrap();
}

#[test]
fn a_heavy_request_spends_its_cost() {
    // 1 per second, a burst of 30: three heavy requests (10 each), then nothing, not even a
    // light one, until the bucket refills
    let throttle = Throttle::new(limits(1, 30, 0));
    for _ in 0..3 {
        heavy(&throttle, "a", "t").unwrap();
    }
    let refused = light(&throttle, "a", "t").unwrap_err();
    assert_eq!(refused.reason, Reason::OrganizationRate);
    // a cost above the burst spends the whole burst instead of being refused forever
    let tiny = Throttle::new(limits(1, 5, 0));
    heavy(&tiny, "b", "t").unwrap();
    assert!(light(&tiny, "b", "t").is_err());
}

#[test]
fn a_token_is_limited_inside_its_organization() {
    let mut limits = limits(0, 0, 0);
    limits.token = Rate {
        per_second: 1,
        burst: 1,
    };
    let throttle = Throttle::new(limits);
    light(&throttle, "a", "t1").unwrap();
    let refused = light(&throttle, "a", "t1").unwrap_err();
    assert_eq!(refused.reason, Reason::TokenRate);
    light(&throttle, "a", "t2").unwrap();
}

#[test]
fn concurrency_is_bounded_per_organization_and_released_with_the_permit() {
    let throttle = Throttle::new(limits(0, 0, 2));
    let first = light(&throttle, "a", "t").unwrap();
    let _second = light(&throttle, "a", "t").unwrap();
    let refused = light(&throttle, "a", "t").unwrap_err();
    assert_eq!(refused.reason, Reason::OrganizationConcurrency);
    light(&throttle, "b", "t").unwrap();
    drop(first);
    light(&throttle, "a", "t").unwrap();
    // an organization's own bound
    let wide = Overrides {
        concurrency: 10,
        ..Overrides::default()
    };
    assert!(throttle.admit("a", "t", wide, false).unwrap().is_some());
}

#[test]
fn unauthenticated_work_is_budgeted_per_address() {
    let throttle = Throttle::new(limits(0, 0, 0));
    let one = Some(IpAddr::from([10, 0, 0, 1]));
    throttle.admit_unauthenticated(one).unwrap();
    throttle.admit_unauthenticated(one).unwrap();
    let refused = throttle.admit_unauthenticated(one).unwrap_err();
    assert_eq!(refused.reason, Reason::AddressRate);
    throttle
        .admit_unauthenticated(Some(IpAddr::from([10, 0, 0, 2])))
        .unwrap();
}

#[test]
fn an_address_that_spends_its_budget_on_refusals_is_refused_lookups() {
    let throttle = Throttle::new(limits(0, 0, 0));
    let one = Some(IpAddr::from([10, 0, 0, 1]));
    let other = Some(IpAddr::from([10, 0, 0, 2]));
    // the burst of 2 refusals is free
    for _ in 0..2 {
        throttle.check_address(one).unwrap();
        throttle.charge_refusal(one);
    }
    throttle.check_address(one).unwrap();
    // the third refusal finds the budget spent: lookups stop until it refills
    throttle.charge_refusal(one);
    let refused = throttle.check_address(one).unwrap_err();
    assert_eq!(refused.reason, Reason::AddressRate);
    assert!(refused.retry_after <= Duration::from_secs(1));
    throttle.check_address(other).unwrap();
}

#[test]
fn refused_tokens_are_remembered() {
    let throttle = Throttle::new(limits(0, 0, 0));
    assert!(throttle.recently_refused(&[1; 32]).is_none());
    throttle.remember_refused([1; 32], ScimError::invalid_token("token expired"));
    assert_eq!(
        throttle.recently_refused(&[1; 32]).unwrap().detail,
        "token expired"
    );
    assert!(throttle.recently_refused(&[2; 32]).is_none());
}

#[test]
fn the_client_address_comes_from_the_proxy_header_or_the_peer() {
    let mut headers = http::HeaderMap::new();
    let mut extensions = http::Extensions::new();
    assert_eq!(client_address(&headers, None, &extensions), None);
    extensions.insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
        [10, 0, 0, 9],
        4000,
    ))));
    let peer = Some(IpAddr::from([10, 0, 0, 9]));
    assert_eq!(client_address(&headers, None, &extensions), peer);
    let forwarded = http::HeaderName::from_static("x-forwarded-for");
    // no header: the peer
    assert_eq!(
        client_address(&headers, Some(&forwarded), &extensions),
        peer
    );
    // the right-most entry is the one the trusted proxy added
    headers.insert(&forwarded, "1.2.3.4, 203.0.113.7".parse().unwrap());
    assert_eq!(
        client_address(&headers, Some(&forwarded), &extensions),
        Some(IpAddr::from([203, 0, 113, 7]))
    );
    headers.insert(&forwarded, "garbage".parse().unwrap());
    assert_eq!(
        client_address(&headers, Some(&forwarded), &extensions),
        peer
    );
}

#[test]
fn a_client_that_comes_back_before_retry_after_has_its_429_held_until_then() {
    let throttle = Throttle::new(limits(0, 0, 0));
    let throttled = Throttled {
        reason: Reason::OrganizationRate,
        retry_after: Duration::from_millis(10),
    };
    let asked = Instant::now();
    // the first 429 is answered at once and tells the client to wait 1 s
    assert!(throttle.refusal("a", throttled).hold.is_none());
    // coming back before then: held until then
    let hold = throttle.refusal("a", throttled).hold.expect("held");
    assert!(hold.until >= asked + Duration::from_millis(900));
    assert!(hold.until <= Instant::now() + Duration::from_secs(1));
    assert_eq!(
        hold.until,
        throttle.refusal("a", throttled).hold.unwrap().until
    );
    // another client was told nothing
    assert!(throttle.refusal("b", throttled).hold.is_none());
    // holding turned off
    let mut off = limits(0, 0, 0);
    off.hold_ignored_retry_after = Duration::ZERO;
    let throttle = Throttle::new(off);
    assert!(throttle.refusal("a", throttled).hold.is_none());
    assert!(throttle.refusal("a", throttled).hold.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_held_answer_is_sent_at_its_time() {
    use axum::response::IntoResponse;
    use tower::ServiceExt;
    let throttle = Throttle::new(limits(0, 0, 0));
    let throttled = Throttled {
        reason: Reason::OrganizationRate,
        retry_after: Duration::from_secs(2),
    };
    throttle.refusal("a", throttled);
    let refusal = Arc::new(std::sync::Mutex::new(Some(
        throttle.refusal("a", throttled),
    )));
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(move || {
                let refusal = refusal.lock().unwrap().take();
                async move {
                    refusal.map_or_else(
                        || axum::http::StatusCode::OK.into_response(),
                        Refusal::into_response,
                    )
                }
            }),
        )
        .layer(axum::middleware::from_fn(
            |request: axum::extract::Request, next: axum::middleware::Next| async move {
                let mut response = next.run(request).await;
                hold_refusal(&mut response).await;
                response
            },
        ));
    let request = || {
        axum::http::Request::get("/")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let started = tokio::time::Instant::now();
    let held = app.clone().oneshot(request()).await.unwrap();
    assert_eq!(held.status(), 429);
    assert_eq!(held.headers()["retry-after"], "2");
    assert!(started.elapsed() >= Duration::from_millis(1900));
    // an answer without a hold is not delayed
    let started = tokio::time::Instant::now();
    assert_eq!(app.oneshot(request()).await.unwrap().status(), 200);
    assert_eq!(started.elapsed(), Duration::ZERO);
}

#[test]
fn throttled_requests_are_429_with_retry_after() {
    let error = Throttled {
        reason: Reason::OrganizationRate,
        retry_after: Duration::from_millis(1500),
    }
    .to_error();
    assert_eq!(error.status, 429);
    assert_eq!(error.retry_after, Some(2));
}
