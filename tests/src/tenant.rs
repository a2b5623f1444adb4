//! One organization as an identity provider sees it: a SCIM base URL, a bearer token and an
//! HTTP client, with helpers that return status, headers and the parsed JSON body.

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// SCIM's media type (RFC 7644 §3.1).
pub const SCIM_JSON: &str = "application/scim+json";

/// An organization with SCIM enabled, created by [`crate::Stack::new_tenant`].
#[derive(Clone)]
pub struct Tenant {
    pub org_id: String,
    pub slug: String,
    /// The role every SCIM-created user joins (it is also listed as a Group).
    pub default_role_id: String,
    pub default_role_name: String,
    /// The SCIM bearer token.
    pub scim_token: String,
    pub token_id: String,
    /// The organization's first owner credential (admin API).
    pub owner_secret: String,
    /// `http://<edge>/scim/v2`, without a trailing slash.
    pub base_url: String,
    pub http: reqwest::Client,
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("org_id", &self.org_id)
            .field("slug", &self.slug)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// An HTTP response with its body parsed as JSON (`Null` when empty, a string when not JSON).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: String,
}

impl std::fmt::Display for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "HTTP {}", self.status)?;
        for (name, value) in &self.headers {
            writeln!(f, "{name}: {}", value.to_str().unwrap_or("<binary>"))?;
        }
        let shown: String = self.raw.chars().take(4000).collect();
        write!(f, "\n{shown}")
    }
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `id` of the returned resource.
    #[track_caller]
    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("response has no id:\n{self}"))
            .to_owned()
    }

    /// The `ETag` header.
    #[track_caller]
    pub fn etag(&self) -> String {
        self.header("etag")
            .unwrap_or_else(|| panic!("response has no ETag:\n{self}"))
            .to_owned()
    }

    /// Asserts the status code, showing the whole response otherwise.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "unexpected status; response:\n{self}");
        self
    }

    /// Asserts a SCIM error response (RFC 7644 §3.12): status, body shape and `scimType`
    /// (`None` asserts there is none).
    #[track_caller]
    pub fn expect_error(&self, status: u16, scim_type: Option<&str>) -> &Self {
        self.expect(status);
        assert_eq!(
            self.body["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
            "error schemas; response:\n{self}"
        );
        assert_eq!(
            self.body["status"],
            json!(status.to_string()),
            "error status must be the code as a string; response:\n{self}"
        );
        assert_eq!(
            self.body.get("scimType").and_then(Value::as_str),
            scim_type,
            "scimType; response:\n{self}"
        );
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with(SCIM_JSON),
            "error content type {content_type:?}; response:\n{self}"
        );
        self
    }

    /// The `Resources` of a ListResponse (empty when absent).
    pub fn resources(&self) -> Vec<Value> {
        self.body["Resources"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The `id`s of a ListResponse's resources, in order.
    pub fn resource_ids(&self) -> Vec<String> {
        self.resources()
            .iter()
            .filter_map(|r| r["id"].as_str().map(str::to_owned))
            .collect()
    }

    /// `totalResults` of a ListResponse.
    #[track_caller]
    pub fn total(&self) -> u64 {
        self.body["totalResults"]
            .as_u64()
            .unwrap_or_else(|| panic!("no totalResults:\n{self}"))
    }
}

impl Tenant {
    /// The same tenant presenting another bearer token.
    pub fn with_token(&self, token: &str) -> Tenant {
        Tenant {
            scim_token: token.to_owned(),
            ..self.clone()
        }
    }

    /// Full URL of `path` (relative to the SCIM base, e.g. `/Users`), or `path` when absolute.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base_url)
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.request(Method::POST, path, Some(body), &[]).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Response {
        self.request(Method::PUT, path, Some(body), &[]).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Response {
        self.request(Method::PATCH, path, Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path, None, &[]).await
    }

    /// A request with a JSON body (sent as `application/scim+json`) and extra headers.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Response {
        let body = body.map(|b| serde_json::to_vec(&b).expect("serialize body"));
        self.raw(method, path, body, SCIM_JSON, headers).await
    }

    /// A request with a raw body (for malformed JSON and odd content types).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        content_type: &str,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut request = self
            .http
            .request(method.clone(), self.url(path))
            .header("accept", SCIM_JSON);
        if !self.scim_token.is_empty() {
            request = request.bearer_auth(&self.scim_token);
        }
        if let Some(body) = body {
            request = request.header("content-type", content_type).body(body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let raw = response
            .text()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: reading body: {e}"));
        let body = if raw.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&raw).unwrap_or_else(|_| Value::String(raw.clone()))
        };
        Response {
            status,
            headers,
            body,
            raw,
        }
    }

    /// POSTs a minimal user and asserts 201; returns the created resource.
    pub async fn create_user(&self, user_name: &str) -> Value {
        self.create_user_with(crate::scim::user(user_name)).await
    }

    /// POSTs `body` to /Users and asserts 201; returns the created resource.
    pub async fn create_user_with(&self, body: Value) -> Value {
        let response = self.post("/Users", body).await;
        response.expect(201);
        response.body
    }

    /// POSTs a group with the given member ids and asserts 201; returns the created resource.
    pub async fn create_group(&self, display_name: &str, member_ids: &[&str]) -> Value {
        let response = self
            .post("/Groups", crate::scim::group(display_name, member_ids))
            .await;
        response.expect(201);
        response.body
    }
}
