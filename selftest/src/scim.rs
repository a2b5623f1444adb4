//! The SCIM client the self-test sends with: bearer token, `application/scim+json`, a timeout
//! per request, and answers turned into [`Failure`]s that name the request.

use super::report::{Failure, Problem};
use crate::Error;
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::Value;
use std::time::Duration;

/// SCIM's media type (RFC 7644 §3.1).
const SCIM_JSON: &str = "application/scim+json";
/// How long one request may take: identity providers give up after about as long.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A SCIM endpoint and the token to call it with.
#[derive(Clone)]
pub(super) struct Scim {
    http: reqwest::Client,
    /// `https://edge/scim/v2`, without a trailing slash.
    base: String,
    authorization: HeaderValue,
}

/// Never prints the token.
impl std::fmt::Debug for Scim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scim")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// An answer: the request it was to, the status and the body (`Null` when empty, a string when
/// not JSON).
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) request: String,
    pub(super) status: u16,
    pub(super) body: Value,
}

impl Scim {
    /// Checks the base URL and the token before anything is sent.
    /// `ca_file`: CA certificates trusted as well as the system's.
    pub(super) fn new(
        base_url: &str,
        token: &str,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, Error> {
        let base = base_url.trim().trim_end_matches('/');
        let url = reqwest::Url::parse(base)
            .map_err(|err| Error::Usage(format!("scim url {base:?}: {err}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
            return Err(Error::Usage(format!(
                "scim url {base:?}: expected http(s)://<edge>/scim/v2"
            )));
        }
        // what identity providers accept pasted: the bare token or `Bearer <token>`
        let token = match token.trim().split_once(char::is_whitespace) {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ if token.trim().eq_ignore_ascii_case("bearer") => "",
            _ => token.trim(),
        };
        if token.is_empty() {
            return Err(Error::Usage("the SCIM token is empty".into()));
        }
        let mut authorization = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| Error::Usage("the SCIM token contains invalid characters".into()))?;
        authorization.set_sensitive(true);
        let mut http = reqwest::Client::builder();
        if let Some(path) = ca_file {
            let pem = std::fs::read(path)
                .map_err(|err| Error::Usage(format!("CA file {}: {err}", path.display())))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|err| Error::Usage(format!("CA file {}: {err}", path.display())))?;
            for certificate in certificates {
                http = http.add_root_certificate(certificate);
            }
        }
        let http = http
            .user_agent(concat!("identity-selftest/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|err| {
                Error::Usage(format!("cannot set up HTTPS: {}", crate::error_chain(&err)))
            })?;
        Ok(Self {
            http,
            base: base.to_owned(),
            authorization,
        })
    }

    pub(super) async fn get(&self, target: &str) -> Result<Reply, Failure> {
        self.send(Method::GET, target, None).await
    }

    pub(super) async fn post(&self, target: &str, body: &Value) -> Result<Reply, Failure> {
        self.send(Method::POST, target, Some(body)).await
    }

    pub(super) async fn put(&self, target: &str, body: &Value) -> Result<Reply, Failure> {
        self.send(Method::PUT, target, Some(body)).await
    }

    pub(super) async fn patch(&self, target: &str, body: &Value) -> Result<Reply, Failure> {
        self.send(Method::PATCH, target, Some(body)).await
    }

    pub(super) async fn delete(&self, target: &str) -> Result<Reply, Failure> {
        self.send(Method::DELETE, target, None).await
    }

    /// `target` is relative to the base URL with its query unencoded
    /// (`/Users?filter=userName eq "a"`): it is shown that way and encoded here.
    async fn send(
        &self,
        method: Method,
        target: &str,
        body: Option<&Value>,
    ) -> Result<Reply, Failure> {
        let request = format!("{method} {target}");
        let transport = |detail: String| Failure {
            request: request.clone(),
            status: None,
            problem: Problem::Transport(detail),
        };
        let mut builder = self
            .http
            .request(
                method.clone(),
                format!("{}{}", self.base, encode_target(target)),
            )
            .header(AUTHORIZATION, self.authorization.clone())
            .header(ACCEPT, SCIM_JSON);
        if let Some(body) = body {
            builder = builder
                .header(CONTENT_TYPE, SCIM_JSON)
                .body(body.to_string());
        }
        let response = builder
            .send()
            .await
            .map_err(|err| transport(describe(&err)))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|err| transport(format!("reading the answer: {}", describe(&err))))?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Reply {
            request,
            status,
            body,
        })
    }
}

impl Reply {
    /// The reply when its status is one of `expected`, else a failure with the server's detail.
    pub(super) fn expect(self, expected: &[u16]) -> Result<Self, Failure> {
        if expected.contains(&self.status) {
            return Ok(self);
        }
        Err(Failure {
            problem: Problem::Status(error_detail(&self.body)),
            request: self.request,
            status: Some(self.status),
        })
    }

    /// A failure of this reply: the status was right, the body is not.
    pub(super) fn check_failed(&self, problem: impl Into<String>) -> Failure {
        Failure {
            request: self.request.clone(),
            status: Some(self.status),
            problem: Problem::Check(problem.into()),
        }
    }

    /// A string attribute the provider reads back (`id` above all).
    pub(super) fn string(&self, attribute: &str) -> Result<String, Failure> {
        self.body[attribute]
            .as_str()
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| self.check_failed(format!("the answer has no {attribute}")))
    }

    /// Checks that `pointer` (a JSON pointer) holds `expected`.
    pub(super) fn expect_value(&self, pointer: &str, expected: &Value) -> Result<(), Failure> {
        let found = self.body.pointer(pointer).unwrap_or(&Value::Null);
        if found == expected {
            Ok(())
        } else {
            Err(self.check_failed(format!(
                "{} is {found}, not {expected}",
                pointer.trim_start_matches('/').replace('/', ".")
            )))
        }
    }

    /// `totalResults` of a ListResponse, which must be an integer (Okta refuses strings).
    pub(super) fn total(&self) -> Result<u64, Failure> {
        self.body["totalResults"]
            .as_u64()
            .ok_or_else(|| self.check_failed("totalResults is not an integer"))
    }

    /// The ids of a ListResponse's `Resources` (none when absent, as RFC 7644 allows).
    pub(super) fn resource_ids(&self) -> Vec<String> {
        self.body["Resources"]
            .as_array()
            .map(|resources| {
                resources
                    .iter()
                    .filter_map(|resource| resource["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A ListResponse with exactly `expected` (by id, in any order) and a matching total.
    pub(super) fn expect_ids(&self, expected: &[&str]) -> Result<(), Failure> {
        let total = self.total()?;
        let mut ids = self.resource_ids();
        ids.sort();
        let mut wanted: Vec<String> = expected.iter().map(|id| (*id).to_owned()).collect();
        wanted.sort();
        if total == wanted.len() as u64 && ids == wanted {
            Ok(())
        } else if total != wanted.len() as u64 {
            Err(self.check_failed(format!("totalResults is {total}, not {}", wanted.len())))
        } else {
            Err(self.check_failed(format!("Resources are {ids:?}, not {wanted:?}")))
        }
    }

    /// A group whose members are exactly `expected` (by id; none for an empty slice).
    pub(super) fn expect_members(&self, expected: &[&str]) -> Result<(), Failure> {
        let members = member_ids(&self.body);
        if members == expected {
            Ok(())
        } else if expected.is_empty() {
            Err(self.check_failed(format!("members are {members:?} after the removal")))
        } else {
            Err(self.check_failed(format!("members are {members:?}, not {expected:?}")))
        }
    }
}

/// The ids of a group's members, sorted.
pub(super) fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .map(|members| {
            members
                .iter()
                .filter_map(|member| member["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// `scimType: detail` of a SCIM error, else the start of whatever came back (a proxy's page).
fn error_detail(body: &Value) -> String {
    let detail = body["detail"].as_str().map(str::trim);
    match (body["scimType"].as_str(), detail) {
        (Some(scim_type), Some(detail)) => format!("{scim_type}: {detail}"),
        (Some(scim_type), None) => scim_type.to_owned(),
        (None, Some(detail)) => detail.to_owned(),
        (None, None) => match body {
            Value::Null => "(no body)".to_owned(),
            Value::String(text) => excerpt(text),
            other => excerpt(&other.to_string()),
        },
    }
}

/// The first line of a body, at most 120 characters.
fn excerpt(text: &str) -> String {
    let line = text.trim().lines().next().unwrap_or_default();
    let mut short: String = line.chars().take(120).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    short
}

/// Percent-encodes the query of `target`, keeping `=` and `&` between parameters.
fn encode_target(target: &str) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_owned();
    };
    let mut encoded = String::with_capacity(target.len() * 2);
    encoded.push_str(path);
    encoded.push('?');
    for byte in query.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'=' | b'&' => {
                encoded.push(char::from(byte));
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

/// Why no answer came, in the operator's terms.
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        format!("no answer within {} s", REQUEST_TIMEOUT.as_secs())
    } else if err.is_connect() {
        format!("cannot connect: {}", crate::error_chain(err))
    } else {
        crate::error_chain(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_query_is_encoded() {
        assert_eq!(
            encode_target("/Users?filter=userName eq \"a@b.invalid\"&startIndex=1&count=100"),
            "/Users?filter=userName%20eq%20%22a%40b.invalid%22&startIndex=1&count=100"
        );
        assert_eq!(encode_target("/Users/0190-ab"), "/Users/0190-ab");
    }

    #[test]
    fn error_details_come_from_the_scim_error_or_the_body() {
        assert_eq!(
            error_detail(&json!({ "status": "400", "scimType": "invalidValue", "detail": "bad" })),
            "invalidValue: bad"
        );
        assert_eq!(
            error_detail(&json!({ "status": "401", "detail": "the token is invalid" })),
            "the token is invalid"
        );
        assert_eq!(
            error_detail(&Value::String("<html>\n<h1>Bad Gateway</h1>".into())),
            "<html>"
        );
        assert_eq!(error_detail(&Value::Null), "(no body)");
    }

    #[test]
    fn a_reply_names_its_request_when_it_fails() {
        let reply = Reply {
            request: "GET /Users?startIndex=1&count=1".into(),
            status: 401,
            body: json!({ "detail": "the token is invalid" }),
        };
        assert_eq!(
            reply.expect(&[200]).unwrap_err().to_string(),
            "GET /Users?startIndex=1&count=1 → 401 the token is invalid"
        );
        let listed = Reply {
            request: "GET /Users".into(),
            status: 200,
            body: json!({ "totalResults": 1, "Resources": [{ "id": "u1" }] }),
        };
        listed.expect_ids(&["u1"]).unwrap();
        assert_eq!(
            listed.expect_ids(&[]).unwrap_err().to_string(),
            "GET /Users → 200, but totalResults is 1, not 0"
        );
        assert_eq!(
            listed
                .expect_value("/Resources/0/id", &json!("u2"))
                .unwrap_err()
                .to_string(),
            "GET /Users → 200, but Resources.0.id is \"u1\", not \"u2\""
        );
    }

    #[test]
    fn the_base_url_and_token_are_checked_before_sending() {
        assert!(Scim::new("https://edge.example/scim/v2/", "idscim_x", None).is_ok());
        for url in [
            "edge.example/scim/v2",
            "ftp://edge/scim/v2",
            "https://e/scim?x=1",
        ] {
            assert!(
                matches!(Scim::new(url, "t", None), Err(Error::Usage(_))),
                "{url}"
            );
        }
        let scim = Scim::new("https://edge.example/scim/v2/", " Bearer idscim_x\n", None).unwrap();
        assert_eq!(scim.base, "https://edge.example/scim/v2");
        assert_eq!(scim.authorization, "Bearer idscim_x");
        assert!(!format!("{scim:?}").contains("idscim_x"));
        for token in ["", "  ", "Bearer  ", "new\nline"] {
            assert!(
                matches!(
                    Scim::new("https://e/scim/v2", token, None),
                    Err(Error::Usage(_))
                ),
                "{token:?}"
            );
        }
    }
}
