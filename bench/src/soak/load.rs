//! The load: organizations writing through SCIM the way an identity provider does, retrying on
//! 5xx, 429 and broken connections until an answer is final, and what each writer was told.

use super::supervisor::Supervisor;
use crate::edge::{GROUP_SCHEMA, PATCH_SCHEMA, SCIM_JSON, USER_SCHEMA};
use crate::stack;
use anyhow::{Context, Result};
use rand::Rng;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// An identity provider gives up on a request after this long; the stack must answer sooner.
const GIVE_UP_AFTER: Duration = Duration::from_secs(120);

/// One organization: its SCIM token, and one group per writer.
pub(super) struct Tenant {
    pub(super) index: usize,
    pub(super) org_id: String,
    pub(super) base_url: String,
    pub(super) http: Client,
    pub(super) groups: Vec<String>,
}

impl Tenant {
    pub(super) async fn create(
        supervisor: &Supervisor,
        index: usize,
        writers: usize,
        run_id: &str,
    ) -> Result<Self> {
        let org =
            stack::create_organization(&supervisor.admin_endpoint(), &supervisor.admin_token, true)
                .await?;
        let token = org.scim_token.context("SCIM token issued")?;
        let http = crate::edge::client(&token, writers + 1)?;
        let base_url = supervisor.scim_url();
        let mut groups = Vec::new();
        for writer in 0..writers {
            let body = json!({
                "schemas": [GROUP_SCHEMA],
                "displayName": format!("soak-{run_id}-t{index}-w{writer}"),
            });
            let created = crate::edge::send(
                http.post(format!("{base_url}/Groups"))
                    .header(reqwest::header::CONTENT_TYPE, SCIM_JSON)
                    .json(&body),
                &[StatusCode::CREATED],
            )
            .await
            .context("POST /Groups")?;
            groups.push(created["id"].as_str().context("group id")?.to_owned());
        }
        Ok(Self {
            index,
            org_id: org.id,
            base_url,
            http,
            groups,
        })
    }
}

/// A user one writer created, and what the writer was told about it.
#[derive(Debug)]
pub(super) struct Tracked {
    pub(super) user_name: String,
    /// Set once a create was acknowledged.
    pub(super) id: Option<String>,
    /// The display name of the last acknowledged write.
    pub(super) display_name: String,
    /// A later write whose answer never came (the run ended while it was retried): either value
    /// may be stored.
    pub(super) pending_display_name: Option<String>,
    pub(super) deleted: bool,
    /// A delete whose answer never came.
    pub(super) delete_pending: bool,
    pub(super) member: bool,
}

/// What one writer did and saw.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    pub(super) tenant: usize,
    pub(super) users: Vec<Tracked>,
    pub(super) acknowledged: u64,
    pub(super) requests: u64,
    pub(super) retries: u64,
    /// A retried create answered 409: an earlier attempt had committed (found by filter).
    pub(super) resolved_conflicts: u64,
    /// A read after an acknowledged write that did not show it.
    pub(super) stale_reads: u64,
    /// Answers no retry explains (e.g. 404 for a user that exists, 400 for a valid request).
    pub(super) unexpected: Vec<String>,
    /// Failed attempts (5xx, 429, broken connection): when sent, when seen, what.
    pub(super) failures: Vec<(Instant, Instant, String)>,
    pub(super) unresolved: u64,
}

pub(super) struct Writer {
    pub(super) tenant: Arc<Tenant>,
    pub(super) worker: usize,
    pub(super) run_id: String,
    pub(super) ledger: Ledger,
    pub(super) live: Vec<usize>,
    pub(super) next_name: usize,
}

pub(super) enum Answer {
    Final {
        status: StatusCode,
        body: Value,
        attempts: u32,
    },
    GaveUp,
}

impl Writer {
    pub(super) fn new(tenant: Arc<Tenant>, worker: usize, run_id: &str) -> Self {
        let ledger = Ledger {
            tenant: tenant.index,
            ..Ledger::default()
        };
        Self {
            tenant,
            worker,
            run_id: run_id.to_owned(),
            ledger,
            live: Vec::new(),
            next_name: 0,
        }
    }

    pub(super) async fn run(mut self, stop: Arc<AtomicBool>) -> Ledger {
        while !stop.load(Ordering::Relaxed) {
            let roll = rand::rng().random_range(0..100);
            if self.live.len() < 3 || roll < 35 {
                self.create().await;
            } else if roll < 60 {
                self.rename().await;
            } else if roll < 75 {
                self.add_member().await;
            } else if roll < 85 {
                self.delete().await;
            } else {
                self.read().await;
            }
        }
        self.ledger
    }

    pub(super) fn pick(&self) -> usize {
        self.live[rand::rng().random_range(0..self.live.len())]
    }

    /// Sends until the answer is final, as an identity provider retries: 5xx, 429 and broken
    /// connections are retried with backoff (at most a second, or the server's Retry-After).
    pub(super) async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Answer {
        let url = format!("{}{path}", self.tenant.base_url);
        let first = Instant::now();
        let mut backoff = Duration::from_millis(50);
        let mut attempts = 0;
        loop {
            attempts += 1;
            self.ledger.requests += 1;
            let mut request = self.tenant.http.request(method.clone(), &url);
            if let Some(body) = body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, SCIM_JSON)
                    .json(body);
            }
            let sent = Instant::now();
            let (failure, wait) = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let text = response.text().await.unwrap_or_default();
                    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                        let shown: String = text.chars().take(200).collect();
                        (format!("{method} {path}: {status} {shown}"), retry_after)
                    } else {
                        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
                        return Answer::Final {
                            status,
                            body,
                            attempts,
                        };
                    }
                }
                Err(e) => (format!("{method} {path}: {e}"), None),
            };
            self.ledger.failures.push((sent, Instant::now(), failure));
            if first.elapsed() > GIVE_UP_AFTER {
                self.ledger.unresolved += 1;
                return Answer::GaveUp;
            }
            self.ledger.retries += 1;
            tokio::time::sleep(wait.unwrap_or(backoff).min(Duration::from_secs(1))).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }

    pub(super) fn unexpected(&mut self, what: &str, status: StatusCode, body: &Value) {
        let detail = body["detail"].as_str().unwrap_or_default().to_owned();
        self.ledger
            .unexpected
            .push(format!("{what}: {status} {detail}"));
    }

    pub(super) async fn create(&mut self) {
        let user_name = format!(
            "soak-{}-t{}-w{}-{}@soak.example.com",
            self.run_id, self.tenant.index, self.worker, self.next_name
        );
        self.next_name += 1;
        let body = json!({
            "schemas": [USER_SCHEMA],
            "userName": user_name,
            "externalId": format!("x-{user_name}"),
            "displayName": "v0",
            "name": {"givenName": "Soak", "familyName": "User"},
            "emails": [{"value": user_name, "type": "work", "primary": true}],
            "active": true
        });
        let index = self.ledger.users.len();
        self.ledger.users.push(Tracked {
            user_name: user_name.clone(),
            id: None,
            display_name: "v0".into(),
            pending_display_name: None,
            deleted: false,
            delete_pending: false,
            member: false,
        });
        let id = match self.call(Method::POST, "/Users", Some(&body)).await {
            Answer::Final {
                status: StatusCode::CREATED,
                body,
                ..
            } => body["id"].as_str().map(str::to_owned),
            // an earlier attempt committed but its answer was lost: find it, as Okta does
            Answer::Final {
                status: StatusCode::CONFLICT,
                attempts,
                ..
            } if attempts > 1 => {
                self.ledger.resolved_conflicts += 1;
                let filter = format!("/Users?filter=userName%20eq%20%22{user_name}%22");
                match self.call(Method::GET, &filter, None).await {
                    Answer::Final { status, body, .. } if status == StatusCode::OK => {
                        body["Resources"][0]["id"].as_str().map(str::to_owned)
                    }
                    _ => None,
                }
            }
            Answer::Final { status, body, .. } => {
                self.unexpected("POST /Users", status, &body);
                None
            }
            Answer::GaveUp => None,
        };
        if let Some(id) = id {
            self.ledger.acknowledged += 1;
            self.ledger.users[index].id = Some(id);
            self.live.push(index);
        }
    }

    pub(super) async fn rename(&mut self) {
        let index = self.pick();
        let id = self.ledger.users[index]
            .id
            .clone()
            .expect("live users have ids");
        let value = format!("v{}", rand::rng().random_range(1..1_000_000));
        let body = json!({
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "replace", "path": "displayName", "value": value}],
        });
        match self
            .call(Method::PATCH, &format!("/Users/{id}"), Some(&body))
            .await
        {
            Answer::Final { status, .. } if status.is_success() => {
                self.ledger.acknowledged += 1;
                self.ledger.users[index].display_name = value;
            }
            Answer::Final { status, body, .. } => self.unexpected("PATCH /Users", status, &body),
            Answer::GaveUp => self.ledger.users[index].pending_display_name = Some(value),
        }
    }

    pub(super) async fn add_member(&mut self) {
        let index = self.pick();
        if self.ledger.users[index].member {
            return self.read().await;
        }
        let id = self.ledger.users[index]
            .id
            .clone()
            .expect("live users have ids");
        let group = self.tenant.groups[self.worker].clone();
        let body = json!({
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}],
        });
        match self
            .call(Method::PATCH, &format!("/Groups/{group}"), Some(&body))
            .await
        {
            Answer::Final { status, .. } if status.is_success() => {
                self.ledger.acknowledged += 1;
                self.ledger.users[index].member = true;
            }
            Answer::Final { status, body, .. } => self.unexpected("PATCH /Groups", status, &body),
            Answer::GaveUp => {}
        }
    }

    pub(super) async fn delete(&mut self) {
        let position = rand::rng().random_range(0..self.live.len());
        let index = self.live[position];
        let id = self.ledger.users[index]
            .id
            .clone()
            .expect("live users have ids");
        match self
            .call(Method::DELETE, &format!("/Users/{id}"), None)
            .await
        {
            // 404 on a retry: an earlier attempt deleted it
            Answer::Final {
                status: StatusCode::NO_CONTENT,
                ..
            }
            | Answer::Final {
                status: StatusCode::NOT_FOUND,
                attempts: 2..,
                ..
            } => {
                self.ledger.acknowledged += 1;
                self.ledger.users[index].deleted = true;
                self.live.swap_remove(position);
            }
            Answer::Final { status, body, .. } => self.unexpected("DELETE /Users", status, &body),
            Answer::GaveUp => {
                self.ledger.users[index].delete_pending = true;
                self.live.swap_remove(position);
            }
        }
    }

    /// Reads one of this writer's users: it must show the last acknowledged write.
    pub(super) async fn read(&mut self) {
        let index = self.pick();
        let id = self.ledger.users[index]
            .id
            .clone()
            .expect("live users have ids");
        if let Answer::Final { status, body, .. } =
            self.call(Method::GET, &format!("/Users/{id}"), None).await
        {
            let tracked = &self.ledger.users[index];
            if status != StatusCode::OK {
                self.unexpected("GET /Users/{id}", status, &body);
            } else if tracked.pending_display_name.is_none()
                && body["displayName"].as_str() != Some(tracked.display_name.as_str())
            {
                self.ledger.stale_reads += 1;
            }
        }
    }
}
