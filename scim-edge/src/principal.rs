//! Who is calling ([`Principal`]) and the edge's positive token cache.
//!
//! A token the core accepted is cached for `min(configured ttl, token lifetime)`, keyed by the
//! token's SHA-256 (the token itself is never stored), in a bounded cache; `crate::auth` fills
//! and reads it.

use std::time::{Duration, Instant};

use identity_proto::identity::v1::PrincipalKind;
use moka::sync::Cache;
use sha2::{Digest, Sha256};

use crate::throttle::Overrides;

/// Who is calling, put in the request's extensions by `crate::auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The organization every call acts on.
    pub organization_id: String,
    /// The token's id (for logs; never the secret).
    pub token_id: String,
    /// A provisioning client or a user.
    pub kind: PrincipalKind,
    /// The user, for a user's own token (`/Me`).
    pub user_id: Option<String>,
    /// The provisioning connection the token belongs to, if any.
    pub connection_id: Option<String>,
    /// The organization's overrides of the edge's rate limits.
    pub limits: Overrides,
}

#[derive(Debug, Clone)]
struct CachedPrincipal {
    principal: Principal,
    ttl: Duration,
}

/// Each entry lives for its own time to live: the shorter of the configured one and the
/// token's remaining lifetime.
#[derive(Debug)]
struct PerEntryTtl;

impl moka::Expiry<[u8; 32], CachedPrincipal> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &CachedPrincipal,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The positive token cache.
#[derive(Clone)]
pub struct TokenCache {
    cache: Cache<[u8; 32], CachedPrincipal>,
    ttl: Duration,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("ttl", &self.ttl)
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

impl TokenCache {
    /// A cache of at most `capacity` tokens, each kept at most `ttl` (0 disables caching).
    pub fn new(ttl: Duration, capacity: u64) -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(capacity)
                .expire_after(PerEntryTtl)
                .build(),
            ttl,
        }
    }

    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<Principal> {
        self.cache.get(key).map(|cached| cached.principal)
    }

    pub(crate) fn insert(&self, key: [u8; 32], principal: Principal, expires_in_seconds: i64) {
        let lifetime = Duration::from_secs(u64::try_from(expires_in_seconds).unwrap_or(0));
        // a token without an expiry reports 0: only the configured ttl bounds it then
        let ttl = if expires_in_seconds > 0 {
            self.ttl.min(lifetime)
        } else {
            self.ttl
        };
        if !ttl.is_zero() {
            self.cache.insert(key, CachedPrincipal { principal, ttl });
        }
    }
}

/// The cache's key of a token: its SHA-256.
pub(crate) fn token_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal() -> Principal {
        Principal {
            organization_id: "org".to_owned(),
            token_id: "tok".to_owned(),
            kind: PrincipalKind::ProvisioningClient,
            user_id: None,
            connection_id: None,
            limits: Overrides::default(),
        }
    }

    #[test]
    fn cache_is_keyed_by_hash_and_honours_zero_ttl() {
        let key = token_key("secret");
        assert_ne!(&key[..6], b"secret");
        let cache = TokenCache::new(Duration::from_secs(30), 10);
        cache.insert(key, principal(), 3600);
        assert_eq!(cache.get(&key), Some(principal()));
        assert_eq!(cache.get(&token_key("other")), None);

        let disabled = TokenCache::new(Duration::ZERO, 10);
        disabled.insert(key, principal(), 3600);
        assert_eq!(disabled.get(&key), None);
    }

    #[test]
    fn entry_lives_no_longer_than_the_token() {
        let cache = TokenCache::new(Duration::from_secs(30), 10);
        let key = token_key("short");
        cache.insert(key, principal(), 1);
        assert!(cache.get(&key).is_some());
        std::thread::sleep(Duration::from_millis(1100));
        assert!(cache.get(&key).is_none());
    }
}
