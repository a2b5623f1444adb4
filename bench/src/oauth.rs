//! `identity-bench oauth`: what OAuth costs an identity provider, against pasted tokens, in the
//! same run — the token endpoint (client credentials, refresh rotation, the whole code flow with
//! its consent page) and SCIM requests authorized by an OAuth access token against the same
//! requests with a pasted token. The edge is started without a token cache, so every SCIM
//! request has its token checked by the core: the comparison is of the authorization paths.

use crate::drive::{concurrent, timed};
use crate::edge::send;
use crate::stats::{Ratio, Samples, Summary};
use anyhow::{Context, Result, ensure};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use identity_proto::admin::v1 as admin;
use identity_proto::admin::v1::connection_service_client::ConnectionServiceClient;
use reqwest::{Client, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

const REDIRECT_URI: &str = "http://127.0.0.1:43219/bench/callback";

/// A registered client and where to reach the edge.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// `http://host:port`: the OAuth issuer.
    pub(crate) issuer: String,
    /// `http://host:port/scim/v2`.
    pub(crate) scim_url: String,
    pub(crate) samples: usize,
    pub(crate) concurrency: usize,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) owner_credential: String,
    pub(crate) pasted_token: String,
}

/// Creates a connection of `org_id` and registers a client for it, as the bootstrap admin.
pub(crate) async fn register_client(
    admin_endpoint: &str,
    admin_token: &str,
    org_id: &str,
) -> Result<(String, String)> {
    let auth = identity_proto::client::BearerCredential::new(admin_token)?;
    let mut connections = ConnectionServiceClient::with_interceptor(
        crate::stack::channel(admin_endpoint).await?,
        auth,
    );
    let connection = connections
        .create_connection(admin::CreateConnectionRequest {
            organization_id: org_id.to_owned(),
            name: "Benchmark".into(),
            allowed_group_names: vec![],
        })
        .await
        .context("CreateConnection")?
        .into_inner()
        .connection
        .context("connection")?;
    let registered = connections
        .register_o_auth_client(admin::RegisterOAuthClientRequest {
            organization_id: org_id.to_owned(),
            connection_id: connection.id,
            name: "Benchmark".into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            client_credentials: true,
        })
        .await
        .context("RegisterOAuthClient")?
        .into_inner();
    Ok((
        registered.client.context("client")?.client_id,
        registered.client_secret,
    ))
}

impl Plan {
    async fn token(&self, http: &Client, form: &[(&str, &str)]) -> Result<Value> {
        send(
            http.post(format!("{}/oauth/token", self.issuer))
                .basic_auth(&self.client_id, Some(&self.client_secret))
                .form(form),
            &[StatusCode::OK],
        )
        .await
    }

    /// The whole code flow: consent page, approval, exchange; returns the token response.
    async fn code_flow(&self, http: &Client) -> Result<Value> {
        let verifier = format!("{}{}", uuid::Uuid::new_v4().simple(), "v".repeat(20));
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let page = http
            .get(format!("{}/oauth/authorize", self.issuer))
            .query(&[
                ("response_type", "code"),
                ("client_id", self.client_id.as_str()),
                ("redirect_uri", REDIRECT_URI),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
                ("state", "bench"),
            ])
            .send()
            .await?
            .text()
            .await?;
        let marker = "name=\"request_id\" value=\"";
        let start = page
            .find(marker)
            .context("request_id in the consent page")?
            + marker.len();
        let end = page[start..].find('"').context("end of request_id")? + start;
        let approved = http
            .post(format!("{}/oauth/authorize", self.issuer))
            .form(&[
                ("request_id", &page[start..end]),
                ("owner_credential", self.owner_credential.as_str()),
                ("decision", "approve"),
            ])
            .send()
            .await?;
        ensure!(
            approved.status() == StatusCode::SEE_OTHER,
            "approval: {}",
            approved.status()
        );
        let location = approved
            .headers()
            .get(reqwest::header::LOCATION)
            .context("Location")?
            .to_str()?;
        let code = reqwest::Url::parse(location)?
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .context("code in the redirect")?;
        self.token(
            http,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &verifier),
            ],
        )
        .await
    }
}

async fn scim_get(http: &Client, plan: &Plan, token: &str) -> Result<()> {
    let response = http
        .get(format!("{}/ServiceProviderConfig", plan.scim_url))
        .bearer_auth(token)
        .send()
        .await?;
    ensure!(
        response.status() == StatusCode::OK,
        "SCIM GET: {}",
        response.status()
    );
    response.bytes().await?;
    Ok(())
}

/// `samples` calls of `op`, one after another.
async fn sequential<F, Fut>(name: &str, samples: usize, mut op: F) -> Result<Summary>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let started = Instant::now();
    let mut recorded = Samples::with_capacity(samples);
    for _ in 0..samples {
        let (_, latency) = timed(op()).await?;
        recorded.record(latency);
    }
    Ok(recorded.summarize(name, started.elapsed()))
}

/// Runs the scenario; returns the summaries and the same-run ratios.
pub(crate) async fn run(plan: &Plan) -> Result<(Vec<Summary>, Vec<Ratio>)> {
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(plan.concurrency.max(1))
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()?;
    let mut results = Vec::new();

    eprintln!("client credentials: {} exchanges", plan.samples);
    let (_, samples, wall) = concurrent(plan.samples, plan.concurrency, |_| {
        let http = http.clone();
        async move {
            timed(async {
                plan.token(&http, &[("grant_type", "client_credentials")])
                    .await
                    .map(|_| ())
            })
            .await
        }
    })
    .await;
    results.push(samples.summarize(
        &format!(
            "token endpoint, client_credentials ({} in flight)",
            plan.concurrency
        ),
        wall,
    ));

    let flows = (plan.samples / 10).max(1);
    eprintln!("authorization code flow: {flows} flows");
    let started = Instant::now();
    let mut recorded = Samples::with_capacity(flows);
    let mut tokens = Value::Null;
    for _ in 0..flows {
        let (issued, latency) = timed(plan.code_flow(&http)).await?;
        recorded.record(latency);
        tokens = issued;
    }
    results.push(recorded.summarize(
        "code flow: consent page + approval + exchange",
        started.elapsed(),
    ));

    eprintln!("refresh rotation: {} refreshes", plan.samples);
    let mut refresh = tokens["refresh_token"]
        .as_str()
        .context("refresh_token")?
        .to_owned();
    let mut access = String::new();
    let started = Instant::now();
    let mut recorded = Samples::with_capacity(plan.samples);
    for _ in 0..plan.samples {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ];
        let (rotated, latency) = timed(plan.token(&http, &form)).await?;
        recorded.record(latency);
        refresh = rotated["refresh_token"]
            .as_str()
            .context("refresh_token")?
            .to_owned();
        access = rotated["access_token"]
            .as_str()
            .context("access_token")?
            .to_owned();
    }
    results.push(recorded.summarize("token endpoint, refresh_token rotation", started.elapsed()));

    // pasted, OAuth, pasted again: the second pasted run shows how much order and warmth move
    // the figures
    eprintln!(
        "SCIM GET with each kind of token: 3 x {} requests",
        plan.samples
    );
    let pasted_name = "SCIM GET, pasted token";
    let oauth_name = "SCIM GET, OAuth access token";
    let first = sequential(pasted_name, plan.samples, || {
        scim_get(&http, plan, &plan.pasted_token)
    })
    .await?;
    let oauth = sequential(oauth_name, plan.samples, || scim_get(&http, plan, &access)).await?;
    let again = sequential("SCIM GET, pasted token (again)", plan.samples, || {
        scim_get(&http, plan, &plan.pasted_token)
    })
    .await?;
    let ratios = vec![
        Ratio::of(
            "SCIM GET: OAuth access token / pasted token",
            &oauth,
            &first,
        ),
        Ratio::of(
            "SCIM GET: pasted token, second run / first run",
            &again,
            &first,
        ),
    ];
    results.extend([first, oauth, again]);
    Ok((results, ratios))
}
