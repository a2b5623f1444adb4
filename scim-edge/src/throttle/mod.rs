//! Fairness between tenants: rate limits per organization and per token, a bound on each
//! organization's requests in flight, and a budget per source address for work done before
//! anyone is authenticated: OAuth endpoint requests, and token lookups the core refuses.
//!
//! A lookup of a valid token is not charged to the address: behind a load balancer that hides
//! client addresses every tenant would share one budget, and each token is looked up once per
//! cache lifetime anyway. A refused lookup is charged; an address whose budget is spent has its
//! uncached lookups answered 429 until it refills, before any call to the core. A refused token
//! is also remembered for a few seconds and refused again at no cost.
//!
//! Buckets are GCRA token buckets from `governor` (one atomic compare-and-swap per check, no
//! lock, no timer task); each key's limiter lives in a bounded `moka` cache that forgets idle
//! keys, rather than in governor's keyed store, which grows until it is swept and has one quota
//! for every key (organizations may have their own). A limiter is keyed by its quota too, so an
//! organization's new override takes effect with its next token lookup.
//!
//! Throttled requests are answered `429` with a SCIM error body and `Retry-After`, which Okta
//! and Entra ID both honour by backing off. A client that asks again before the `Retry-After`
//! it was given has its next 429s held until that time (`hold_refusal`, outside the global
//! concurrency limit): answering a client that ignores the header as fast as it can send was
//! the CPU a hostile tenant still took from the others (15,000–18,000 429s a second in
//! `identity-bench neighbours`); a held answer costs a timer and no CPU, and each connection of
//! such a client is then heard about once per `Retry-After`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use moka::sync::Cache;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ScimError;

/// A sustained rate and a burst; `None` rate means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

impl Rate {
    fn quota(self) -> Option<Quota> {
        let per_second = NonZeroU32::new(self.per_second)?;
        let burst = NonZeroU32::new(self.burst).unwrap_or(per_second);
        Some(Quota::per_second(per_second).allow_burst(burst))
    }
}

/// The edge's configured limits; an organization's own overrides replace single fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Per organization, shared by its tokens.
    pub organization: Rate,
    /// Per token (one provisioning connection).
    pub token: Rate,
    /// Requests of one organization in flight at once; 0 is unlimited.
    pub organization_concurrency: u32,
    /// Unauthenticated work per source address.
    pub address: Rate,
    /// How long a refused token is answered 401 without asking the core again.
    pub refused_token_ttl: Duration,
    /// Heavy requests (`fair::is_heavy`) of every organization in the handlers at once, shared
    /// fairly between organizations; 0 is unlimited.
    pub heavy_slots: usize,
    /// What a heavy request spends of its organization's and its token's rate (a light one
    /// spends 1).
    pub heavy_cost: u32,
    /// At most how long the 429 of a client that ignored its `Retry-After` is held; zero
    /// answers at once.
    pub hold_ignored_retry_after: Duration,
}

impl Default for Limits {
    /// Well above what Okta and Entra ID send to one application (Microsoft asks a gallery
    /// endpoint for at least 25 requests per second per tenant; an Okta import pages one request
    /// at a time), well below what lets one tenant take a replica.
    fn default() -> Self {
        Self {
            organization: Rate {
                per_second: 100,
                burst: 200,
            },
            token: Rate {
                per_second: 100,
                burst: 200,
            },
            organization_concurrency: 32,
            address: Rate {
                per_second: 20,
                burst: 100,
            },
            refused_token_ttl: Duration::from_secs(10),
            // half the CPUs: the other half stays free for everyone's cheap requests
            heavy_slots: std::thread::available_parallelism()
                .map_or(1, |cpus| (cpus.get() / 2).max(1)),
            // a page of 1,000 users costs the core and the edge about what ten point requests do
            heavy_cost: 10,
            // Retry-After is 1 or 2 s for every limit here; the cap only bounds a bug
            hold_ignored_retry_after: Duration::from_secs(5),
        }
    }
}

/// An organization's overrides (0: the edge's default), from the core's token check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Overrides {
    pub per_second: u32,
    pub burst: u32,
    pub concurrency: u32,
}

/// Why a request was throttled (the metric's `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    OrganizationRate,
    TokenRate,
    OrganizationConcurrency,
    AddressRate,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrganizationRate => "organization_rate",
            Self::TokenRate => "token_rate",
            Self::OrganizationConcurrency => "organization_concurrency",
            Self::AddressRate => "address_rate",
        }
    }
}

/// A throttled request: why, and when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub reason: Reason,
    pub retry_after: Duration,
}

impl Throttled {
    /// `Retry-After` in whole seconds, at least 1.
    fn retry_after_secs(self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }

    /// The 429 answer.
    pub fn to_error(self) -> ScimError {
        let seconds = self.retry_after_secs();
        let detail = match self.reason {
            Reason::OrganizationRate => "too many requests for this organization",
            Reason::TokenRate => "too many requests for this token",
            Reason::OrganizationConcurrency => "too many concurrent requests for this organization",
            Reason::AddressRate => "too many unauthenticated requests from this address",
        };
        ScimError::too_many_requests(format!("{detail}; retry after {seconds} s"), seconds)
    }
}

/// Limiters are kept per key while in use; this many keys of each kind at most.
const MAX_KEYS: u64 = 100_000;
/// A key unused this long is forgotten (its bucket would be full again by then anyway).
const IDLE: Duration = Duration::from_secs(600);
/// 429s held at once, every client together; beyond this they are answered at once (a held
/// answer is a timer and a few hundred bytes).
const MAX_HELD: usize = 10_000;

/// The edge's limiters. Cheap to clone.
#[derive(Clone)]
pub struct Throttle {
    limits: Limits,
    rates: Cache<(String, Rate), Arc<DefaultDirectRateLimiter>>,
    slots: Cache<(String, u32), Arc<Semaphore>>,
    addresses: Cache<IpAddr, Arc<DefaultDirectRateLimiter>>,
    /// Addresses whose budget is spent, until when.
    blocked: Cache<IpAddr, Instant>,
    refused: Cache<[u8; 32], ScimError>,
    heavy: Option<crate::fair::FairGate>,
    /// Per organization or address: until when its last 429 told it to wait.
    told_to_wait: Cache<String, Instant>,
    held: Arc<Semaphore>,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn cache<K, V>() -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(MAX_KEYS)
        .time_to_idle(IDLE)
        .build()
}

impl Throttle {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            rates: cache(),
            slots: cache(),
            addresses: cache(),
            blocked: cache(),
            refused: Cache::builder()
                .max_capacity(MAX_KEYS)
                .time_to_live(limits.refused_token_ttl.max(Duration::from_millis(1)))
                .build(),
            heavy: crate::fair::FairGate::new(limits.heavy_slots),
            told_to_wait: Cache::builder()
                .max_capacity(MAX_KEYS)
                .time_to_live(Duration::from_secs(60))
                .build(),
            held: Arc::new(Semaphore::new(MAX_HELD)),
        }
    }

    /// The 429 of a throttled request of `client` (an organization, or an address before
    /// authentication): held until the time its previous 429 gave when it came back earlier,
    /// otherwise answered at once and that time remembered.
    pub fn refusal(&self, client: &str, throttled: Throttled) -> Refusal {
        let now = Instant::now();
        if !self.limits.hold_ignored_retry_after.is_zero()
            && let Some(until) = self.told_to_wait.get(client)
            && until > now
        {
            return Refusal {
                error: throttled.to_error(),
                hold: Some(Hold {
                    until: until.min(now + self.limits.hold_ignored_retry_after),
                    parking: self.held.clone(),
                }),
            };
        }
        self.told_to_wait.insert(
            client.to_owned(),
            now + Duration::from_secs(throttled.retry_after_secs()),
        );
        Refusal {
            error: throttled.to_error(),
            hold: None,
        }
    }

    /// Admits one authenticated request of `organization` with token `token_id`: spends its
    /// cost (1, or the heavy cost for a heavy request) from the organization's and the token's
    /// buckets, then takes one of the organization's slots, held until the returned permit is
    /// dropped.
    pub fn admit(
        &self,
        organization: &str,
        token_id: &str,
        overrides: Overrides,
        heavy: bool,
    ) -> Result<Option<OwnedSemaphorePermit>, Throttled> {
        let cost = if heavy {
            self.limits.heavy_cost.max(1)
        } else {
            1
        };
        let organization_rate = Rate {
            per_second: pick(overrides.per_second, self.limits.organization.per_second),
            burst: pick(overrides.burst, self.limits.organization.burst),
        };
        self.spend(
            format!("org:{organization}"),
            organization_rate,
            Reason::OrganizationRate,
            cost,
        )?;
        self.spend(
            format!("token:{token_id}"),
            self.limits.token,
            Reason::TokenRate,
            cost,
        )?;
        let concurrency = pick(overrides.concurrency, self.limits.organization_concurrency);
        if concurrency == 0 {
            return Ok(None);
        }
        let slots = self
            .slots
            .get_with((organization.to_owned(), concurrency), || {
                Arc::new(Semaphore::new(concurrency as usize))
            });
        slots.try_acquire_owned().map(Some).map_err(|_| Throttled {
            reason: Reason::OrganizationConcurrency,
            retry_after: Duration::from_secs(1),
        })
    }

    /// Waits for one of the heavy-work slots for `organization` (see `fair`); `None` when
    /// heavy work is not limited.
    pub async fn heavy_slot(&self, organization: &str) -> Option<crate::fair::HeavySlot> {
        let gate = self.heavy.as_ref()?;
        let asked = std::time::Instant::now();
        let slot = gate.acquire(organization).await;
        crate::metrics::heavy_wait(organization, asked.elapsed());
        Some(slot)
    }

    /// Spends one unit of `address`'s budget for unauthenticated work (an OAuth request).
    pub fn admit_unauthenticated(&self, address: Option<IpAddr>) -> Result<(), Throttled> {
        let Some(quota) = self.limits.address.quota() else {
            return Ok(());
        };
        let limiter = self
            .addresses
            .get_with(known(address), || Arc::new(RateLimiter::direct(quota)));
        check(&limiter, Reason::AddressRate, 1)
    }

    /// Before a token lookup: refused while `address` has spent its budget on refusals.
    pub fn check_address(&self, address: Option<IpAddr>) -> Result<(), Throttled> {
        match self.blocked.get(&known(address)) {
            Some(until) if until > Instant::now() => Err(Throttled {
                reason: Reason::AddressRate,
                retry_after: until - Instant::now(),
            }),
            _ => Ok(()),
        }
    }

    /// After the core refused a token from `address`: spends one unit of its budget, and once
    /// the budget is spent refuses its lookups until the budget refills.
    pub fn charge_refusal(&self, address: Option<IpAddr>) {
        if let Err(throttled) = self.admit_unauthenticated(address) {
            self.blocked
                .insert(known(address), Instant::now() + throttled.retry_after);
        }
    }

    /// The core's refusal of the token with this hash, if it refused it moments ago.
    pub fn recently_refused(&self, token_key: &[u8; 32]) -> Option<ScimError> {
        self.refused.get(token_key)
    }

    /// Remembers that the core refused the token with this hash, and how.
    pub fn remember_refused(&self, token_key: [u8; 32], refusal: ScimError) {
        if !self.limits.refused_token_ttl.is_zero() {
            self.refused.insert(token_key, refusal);
        }
    }

    fn spend(&self, key: String, rate: Rate, reason: Reason, cost: u32) -> Result<(), Throttled> {
        let Some(quota) = rate.quota() else {
            return Ok(());
        };
        let limiter = self
            .rates
            .get_with((key, rate), || Arc::new(RateLimiter::direct(quota)));
        check(&limiter, reason, cost)
    }
}

/// A throttled request's answer, and whether to hold it.
#[derive(Debug)]
pub struct Refusal {
    pub error: ScimError,
    pub hold: Option<Hold>,
}

impl Refusal {
    /// The 429, carrying its hold for `hold_refusal`.
    pub fn into_response(self) -> axum::response::Response {
        use axum::response::IntoResponse;
        let mut response = self.error.into_response();
        if let Some(hold) = self.hold {
            response.extensions_mut().insert(hold);
        }
        response
    }
}

/// A response extension: send this answer no earlier than `until`.
#[derive(Debug, Clone)]
pub struct Hold {
    until: Instant,
    parking: Arc<Semaphore>,
}

/// Outside the concurrency limits (a held answer holds no slot, see `crate::envelope`): waits
/// until the time of a response carrying a [`Hold`], or not at all when `MAX_HELD` are already
/// held.
pub async fn hold_refusal(response: &mut axum::response::Response) {
    if let Some(hold) = response.extensions_mut().remove::<Hold>()
        && let Ok(_parked) = hold.parking.try_acquire_owned()
    {
        crate::metrics::refusal_held(hold.until.saturating_duration_since(Instant::now()));
        tokio::time::sleep_until(hold.until.into()).await;
    }
}

/// The client's address: the right-most entry of `header` when configured and present (the
/// address the trusted proxy in front of the edge saw; entries further left are the client's
/// own claims), else the connection's peer; `None` without either.
pub fn client_address(
    headers: &http::HeaderMap,
    header: Option<&http::HeaderName>,
    extensions: &http::Extensions,
) -> Option<IpAddr> {
    let forwarded = header
        .and_then(|name| headers.get(name))
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.rsplit(',').next())
        .and_then(|entry| entry.trim().parse::<IpAddr>().ok());
    forwarded.or_else(|| {
        extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip())
    })
}

/// The key of an unauthenticated client (never equal to an organization id, a UUID).
pub fn address_key(address: Option<IpAddr>) -> String {
    format!("address:{}", known(address))
}

/// Without a known address (no connection information) all such work shares one budget.
fn known(address: Option<IpAddr>) -> IpAddr {
    address.unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// An organization's override when set, else the edge's default.
fn pick(overridden: u32, default: u32) -> u32 {
    if overridden == 0 { default } else { overridden }
}

/// Spends `cost` cells of `limiter`: at most its burst, which could never be spent at once.
fn check(limiter: &DefaultDirectRateLimiter, reason: Reason, cost: u32) -> Result<(), Throttled> {
    let cost = NonZeroU32::new(cost).unwrap_or(NonZeroU32::MIN);
    let spent = match limiter.check_n(cost) {
        Ok(outcome) => outcome,
        // more than the burst: spend the whole burst instead
        Err(governor::InsufficientCapacity(burst)) => limiter
            .check_n(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
            .unwrap_or(Ok(())),
    };
    spent.map_err(|not_until| Throttled {
        reason,
        retry_after: not_until.wait_time_from(DefaultClock::default().now()),
    })
}

#[cfg(test)]
mod tests;
