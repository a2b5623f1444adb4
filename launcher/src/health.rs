//! Waiting until a started process serves.

use anyhow::{Context, Result, bail};
use std::time::{Duration, Instant};
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const POLL: Duration = Duration::from_millis(25);

/// Polls the gRPC health check of `endpoint` (`http://host:port`) until it answers SERVING.
pub async fn wait_grpc_serving(endpoint: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let endpoint = Endpoint::from_shared(endpoint.to_owned())
        .with_context(|| format!("invalid endpoint {endpoint}"))?
        .connect_timeout(Duration::from_secs(5));
    loop {
        let outcome = async {
            let mut client = HealthClient::new(endpoint.connect().await?);
            let status = client
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await?
                .into_inner()
                .status;
            Ok::<_, anyhow::Error>(status == ServingStatus::Serving as i32)
        }
        .await;
        match outcome {
            Ok(true) => return Ok(()),
            other if Instant::now() > deadline => bail!(
                "{} not serving within {timeout:?} (last: {other:?})",
                endpoint.uri()
            ),
            _ => tokio::time::sleep(POLL).await,
        }
    }
}

/// Polls `url` until it answers 2xx.
pub async fn wait_http_ok(url: &str, timeout: Duration) -> Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + timeout;
    loop {
        match http.get(url).send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            other if Instant::now() > deadline => {
                bail!("{url} not ready within {timeout:?} (last: {other:?})")
            }
            _ => tokio::time::sleep(POLL).await,
        }
    }
}
