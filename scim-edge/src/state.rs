//! What every request handler shares: the core's clients, the token cache and the settings
//! that shape responses (base URL, limits). Cheap to clone; holds no per-request data.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::core_client::CoreClient;
use crate::principal::TokenCache;
use crate::schema::Limits;
use crate::throttle::Throttle;

/// Settings fixed at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The externally visible SCIM base URL, without a trailing slash.
    pub base_url: String,
    /// The limits enforced and advertised.
    pub limits: Limits,
    /// How long one request may take.
    pub request_timeout: Duration,
    /// Requests served at once.
    pub max_concurrent_requests: usize,
    /// The header naming the client's address behind a proxy; `None`: the peer address.
    pub client_address_header: Option<http::HeaderName>,
}

impl Settings {
    /// The settings of `config` once the listener is bound to `bound`.
    pub fn from_config(config: &Config, bound: std::net::SocketAddr) -> Self {
        Self {
            base_url: config.base_url_for(bound),
            limits: config.limits(),
            request_timeout: config.request_timeout,
            max_concurrent_requests: config.max_concurrent_requests,
            client_address_header: config.client_address_header.clone(),
        }
    }

    /// The path part of the base URL (`/scim/v2`), where the SCIM routes are mounted; empty
    /// when the base URL has no path.
    pub fn base_path(&self) -> String {
        let path = self
            .base_url
            .parse::<http::Uri>()
            .map(|uri| uri.path().to_owned())
            .unwrap_or_default();
        path.trim_end_matches('/').to_owned()
    }

    /// The OAuth issuer (RFC 8414 §2): the base URL's scheme and authority, where the OAuth
    /// endpoints are served.
    pub fn issuer(&self) -> String {
        match url::Url::parse(&self.base_url) {
            Ok(url) => url.origin().ascii_serialization(),
            Err(_) => self.base_url.clone(),
        }
    }

    /// `base_url` + `/Users/{id}` and the like.
    pub fn location(&self, endpoint: &str, id: &str) -> String {
        format!("{}{endpoint}/{id}", self.base_url)
    }
}

/// The state of the router. Cloned for every request (axum's `State`, the auth layer), so every
/// field is behind an `Arc`: cloning the core's four tonic clients costs more than serving a GET,
/// and cloning the token and throttle caches (several `Arc`s each) was 6 % of the edge's CPU.
#[derive(Debug, Clone)]
pub struct AppState {
    pub core: Arc<CoreClient>,
    pub tokens: Arc<TokenCache>,
    pub throttle: Arc<Throttle>,
    pub settings: Arc<Settings>,
}

impl AppState {
    /// State over `core` with a token cache bounded by `config`.
    pub fn new(core: CoreClient, config: &Config, bound: std::net::SocketAddr) -> Self {
        Self {
            core: Arc::new(core),
            tokens: Arc::new(TokenCache::new(
                config.token_cache_ttl,
                config.token_cache_capacity,
            )),
            throttle: Arc::new(Throttle::new(config.throttle)),
            settings: Arc::new(Settings::from_config(config, bound)),
        }
    }
}
