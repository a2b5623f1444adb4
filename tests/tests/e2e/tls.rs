//! TLS on every hop, with certificates made at run time: the edge serves HTTPS and reaches the
//! core over mutual TLS with no bearer credential at all, the admin CLI trusts a given CA, a
//! platform service is known by its client certificate, and a certificate from the wrong CA, an
//! expired one or one naming nobody is refused. A rotated certificate file is served to new
//! connections without a restart.

use identity_launcher::{CoreLaunch, EdgeLaunch, Listening, Output, Process};
use identity_proto::client::{CertificateFiles, ClientTls, IdentityClient};
use identity_proto::identity::v1 as pb;
use identity_tests::{SCIM_JSON, Store, binary_path, unique};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A certificate authority that issues certificates into a directory.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let pem = params.self_signed(&key).expect("self-signed CA").pem();
        Self {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// Issues a certificate for `names` (DNS names or IP addresses), valid now unless
    /// `expired`; writes `<file>.pem` and `<file>.key` and returns them.
    fn issue(&self, dir: &Path, file: &str, names: &[&str], expired: bool) -> CertificateFiles {
        let key = KeyPair::generate().expect("leaf key");
        let mut params = CertificateParams::new(
            names
                .iter()
                .map(|name| (*name).to_owned())
                .collect::<Vec<_>>(),
        )
        .expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, names[0]);
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = params.signed_by(&key, &self.issuer).expect("signed leaf");
        let files = CertificateFiles {
            cert: dir.join(format!("{file}.pem")),
            key: dir.join(format!("{file}.key")),
        };
        std::fs::write(&files.cert, cert.pem()).expect("write certificate");
        std::fs::write(&files.key, key.serialize_pem()).expect("write key");
        files
    }

    fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, &self.pem).expect("write CA");
        path.to_owned()
    }
}

fn path(file: &Path) -> String {
    file.display().to_string()
}

async fn spawn(name: &'static str, command: tokio::process::Command) -> (Process, Listening) {
    Process::spawn(name, command, Output::Memory, START_TIMEOUT)
        .await
        .unwrap_or_else(|error| panic!("{error:#}"))
}

/// The port of a listening line's address field, for a `localhost` URL (the name the
/// certificates carry).
fn port(line: &Listening, field: &str) -> String {
    let addr: std::net::SocketAddr = line
        .field(field)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("{field} in the listening line"));
    addr.port().to_string()
}

async fn cli(args: &[&str], endpoint: &str, ca: Option<&Path>, credential: &str) -> (bool, String) {
    let mut command = tokio::process::Command::new(binary_path("identity-admin"));
    command
        .arg("--endpoint")
        .arg(endpoint)
        .args(args)
        .env("IDENTITY_ADMIN_CREDENTIAL", credential)
        .env_remove("IDENTITY_ADMIN_CA_FILE")
        .env_remove("IDENTITY_ADMIN_CREDENTIAL_FILE")
        .kill_on_drop(true);
    if let Some(ca) = ca {
        command.arg("--ca-file").arg(ca);
    }
    let output = command.output().await.expect("run identity-admin");
    // stdout alone when it worked (a secret is printed alone there), stderr too when not
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        (true, stdout)
    } else {
        (
            false,
            format!("{stdout}{}", String::from_utf8_lossy(&output.stderr)),
        )
    }
}

fn https_client(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA"))
        .tls_info(true)
        .build()
        .expect("client")
}

/// The core's log holds a line with all of `words`, within a few seconds.
async fn logged(process: &Process, words: &[&str]) -> bool {
    for _ in 0..50 {
        if process
            .log_lines()
            .iter()
            .any(|line| words.iter().all(|word| line.contains(word)))
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// A call whose connection the server refused: with TLS 1.3 the client learns that its
/// certificate was refused only after it has sent the call (UNKNOWN or CANCELLED: the
/// connection broke under it), or before (UNAVAILABLE); never an answer from the service.
#[track_caller]
fn refused_at_handshake(status: &tonic::Status) {
    assert!(
        matches!(
            status.code(),
            tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
        ),
        "{status:?}"
    );
}

#[tokio::test]
async fn every_hop_speaks_tls_and_refuses_the_wrong_certificates() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let ca = Ca::new("identity test CA");
    let ca_file = ca.write(&dir.path().join("ca.pem"));
    let core_files = ca.issue(dir.path(), "core", &["localhost", "127.0.0.1"], false);
    let edge_files = ca.issue(
        dir.path(),
        "edge-server",
        &["localhost", "127.0.0.1"],
        false,
    );
    let edge_client = ca.issue(dir.path(), "edge-client", &["scim-edge"], false);

    // the core: both listeners over TLS, identity.v1 verifying client certificates
    let store = Store::create().await;
    let admin_token = format!("idadm_{}", uuid::Uuid::new_v4().simple());
    let unused_edge_credential = format!("idedge_{}", uuid::Uuid::new_v4().simple());
    let mut command = CoreLaunch {
        bin_dir: None,
        database_url: store.url(),
        identity_listen: "127.0.0.1:0",
        admin_listen: "127.0.0.1:0",
        metrics_listen: None,
        admin_token: &admin_token,
        edge_credential: &unused_edge_credential,
        hermetic: true,
    }
    .command()
    .expect("core command");
    command
        .env("IDENTITY_TLS_CERT_FILE", path(&core_files.cert))
        .env("IDENTITY_TLS_KEY_FILE", path(&core_files.key))
        .env("IDENTITY_TLS_CLIENT_CA_FILE", path(&ca_file))
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info");
    let (core, line) = spawn("identity-core", command).await;
    let identity = format!("https://localhost:{}", port(&line, "identity_addr"));
    let admin = format!("https://localhost:{}", port(&line, "admin_addr"));

    // the edge: HTTPS outside, mutual TLS to the core and no bearer credential
    let mut command = EdgeLaunch {
        bin_dir: None,
        listen: "127.0.0.1:0",
        core_endpoint: &identity,
        core_credential: "",
        base_url: None,
        hermetic: true,
    }
    .command()
    .expect("edge command");
    command
        .env_remove("SCIM_EDGE_CORE_CREDENTIAL")
        .env("SCIM_EDGE_CORE_CA_FILE", path(&ca_file))
        .env("SCIM_EDGE_CORE_CLIENT_CERT_FILE", path(&edge_client.cert))
        .env("SCIM_EDGE_CORE_CLIENT_KEY_FILE", path(&edge_client.key))
        .env("SCIM_EDGE_TLS_CERT_FILE", path(&edge_files.cert))
        .env("SCIM_EDGE_TLS_KEY_FILE", path(&edge_files.key))
        .env("SCIM_EDGE_TLS_RELOAD_INTERVAL_SECS", "1")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info");
    let (edge, line) = spawn("scim-edge", command).await;
    let edge_port = port(&line, "addr");
    let scim = format!("https://localhost:{edge_port}/scim/v2");

    // the admin CLI over TLS: trusting the CA it works, trusting only the system it does not
    let slug = unique("tls");
    let (ok, output) = cli(&["org", "list"], &admin, None, &admin_token).await;
    assert!(!ok, "a CLI that does not trust the CA must fail: {output}");
    let ca_path = Some(ca_file.as_path());
    // through a port-forward the address is not the certificate's name: --server-name says it
    let by_address = admin.replace("localhost", "127.0.0.1");
    let (ok, output) = cli(
        &["--server-name", "elsewhere.example", "org", "list"],
        &by_address,
        ca_path,
        &admin_token,
    )
    .await;
    assert!(!ok && output.contains("elsewhere.example"), "{output}");
    let (ok, output) = cli(
        &["--server-name", "localhost", "org", "list"],
        &by_address,
        ca_path,
        &admin_token,
    )
    .await;
    assert!(ok, "{output}");
    for args in [
        vec!["org", "create", "--slug", &slug, "--name", "TLS"],
        vec!["scim", "enable", "--org", &slug],
    ] {
        let (ok, output) = cli(&args, &admin, ca_path, &admin_token).await;
        assert!(
            ok,
            "identity-admin {args:?}: {output}\ncore:\n{}",
            core.log_tail(40)
        );
    }
    let (ok, token) = cli(
        &["token", "issue", "--org", &slug],
        &admin,
        ca_path,
        &admin_token,
    )
    .await;
    assert!(ok, "{token}");
    let token = token.trim().to_owned();

    // SCIM over HTTPS, through an edge that the core knows by its certificate alone
    let http = https_client(&ca.pem);
    let user_name = format!("{}@example.com", unique("ada"));
    let created = http
        .post(format!("{scim}/Users"))
        .bearer_auth(&token)
        .header("content-type", SCIM_JSON)
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
        }))
        .send()
        .await
        .expect("POST over HTTPS");
    let status = created.status();
    let body: serde_json::Value = created.json().await.expect("json");
    assert_eq!(status, 201, "{body}\nedge:\n{}", edge.log_tail(40));
    let base_url = http
        .get(format!("{scim}/ServiceProviderConfig"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET");
    assert_eq!(base_url.status(), 200);
    assert!(
        body["meta"]["location"]
            .as_str()
            .is_some_and(|location| location.starts_with("https://")),
        "an HTTPS edge derives an https base URL: {body}"
    );
    // plaintext to the HTTPS port gets no SCIM answer
    let plain = reqwest::get(format!("http://127.0.0.1:{edge_port}/healthz")).await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());

    // a platform service known by its certificate: the name of a live service credential
    let (ok, output) = cli(
        &[
            "service-credential",
            "create",
            "--name",
            "billing-tls",
            "--org",
            &slug,
        ],
        &admin,
        ca_path,
        &admin_token,
    )
    .await;
    assert!(ok, "{output}");
    let org_id = {
        let (ok, output) = cli(
            &["--output", "json", "org", "get", &slug],
            &admin,
            ca_path,
            &admin_token,
        )
        .await;
        assert!(ok, "{output}");
        let org: serde_json::Value = serde_json::from_str(output.trim()).expect("org json");
        org["id"].as_str().expect("org id").to_owned()
    };
    let lookup = |client: IdentityClient| {
        let org_id = org_id.clone();
        let user_name = user_name.clone();
        async move {
            client
                .users
                .clone()
                .lookup_user(pb::LookupUserRequest {
                    organization_id: org_id,
                    key: Some(pb::lookup_user_request::Key::UserName(user_name)),
                    ..Default::default()
                })
                .await
        }
    };
    let service = |files: CertificateFiles, ca_file: &Path| {
        IdentityClient::connect_lazy_tls(
            &identity,
            None,
            &ClientTls {
                ca_file: Some(ca_file.to_owned()),
                identity: Some(files),
                reload_interval: None,
                server_name: None,
            },
        )
        .expect("client")
    };
    let billing_files = ca.issue(dir.path(), "billing", &["billing-tls"], false);
    let found = lookup(service(billing_files.clone(), &ca_file))
        .await
        .unwrap_or_else(|status| panic!("{status:?}\ncore:\n{}", core.log_tail(40)));
    assert_eq!(found.into_inner().user.expect("user").user_name, user_name);

    // the Python example, over mutual TLS with the same certificate and no credential
    if let Some(python) = crate::python_example::python() {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/examples/python/identity_example.py"
        );
        let output = tokio::process::Command::new(python)
            .arg(script)
            .args(["--target", identity.trim_start_matches("https://")])
            .args(["--organization-id", &org_id, "--user-name", &user_name])
            .args(["--role-name", "nobody's role"])
            // well-formed, never issued: introspection answers inactive
            .args(["--token", &format!("idat_{}", "A".repeat(43))])
            .arg("--ca-file")
            .arg(&ca_file)
            .arg("--client-cert")
            .arg(&billing_files.cert)
            .arg("--client-key")
            .arg(&billing_files.key)
            .env_remove("IDENTITY_CREDENTIAL")
            .kill_on_drop(true)
            .output()
            .await
            .expect("run the Python example");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success()
                && stdout.contains(&user_name)
                && stdout.contains(r#""step":"introspect","active":false"#),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    // a certificate naming nobody: the handshake passes, the call is unauthenticated
    let nobody = ca.issue(dir.path(), "nobody", &["nobody"], false);
    let status = lookup(service(nobody, &ca_file)).await.expect_err("nobody");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");

    // the wrong CA and an expired certificate: refused at the handshake, and the log says why
    let rogue = Ca::new("someone else's CA");
    let impostor = rogue.issue(dir.path(), "impostor", &["scim-edge"], false);
    let status = lookup(service(impostor, &ca_file))
        .await
        .expect_err("impostor");
    refused_at_handshake(&status);
    assert!(
        logged(&core, &["TLS handshake refused", "UnknownIssuer"]).await,
        "{}",
        core.log_tail(40)
    );
    let expired = ca.issue(dir.path(), "expired", &["scim-edge"], true);
    let status = lookup(service(expired, &ca_file))
        .await
        .expect_err("expired");
    refused_at_handshake(&status);
    assert!(
        logged(&core, &["TLS handshake refused", "expired"]).await,
        "{}",
        core.log_tail(40)
    );
    // a client that distrusts the core's certificate never sends its call
    let rogue_ca = rogue.write(&dir.path().join("rogue-ca.pem"));
    let edge_client_again = CertificateFiles {
        cert: edge_client.cert.clone(),
        key: edge_client.key.clone(),
    };
    let status = lookup(service(edge_client_again, &rogue_ca))
        .await
        .expect_err("untrusted server");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");

    // rotation: new files are served to new connections without a restart
    let peer_certificate = |response: &reqwest::Response| {
        response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate().map(<[u8]>::to_vec))
            .expect("peer certificate")
    };
    let before = peer_certificate(
        &http
            .get(format!("https://localhost:{edge_port}/healthz"))
            .send()
            .await
            .expect("healthz"),
    );
    ca.issue(
        dir.path(),
        "edge-server",
        &["localhost", "127.0.0.1"],
        false,
    );
    let mut rotated = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        // a fresh client: a fresh connection
        let response = https_client(&ca.pem)
            .get(format!("https://localhost:{edge_port}/healthz"))
            .send()
            .await
            .expect("healthz after rotation");
        assert!(response.status().is_success());
        if peer_certificate(&response) != before {
            rotated = true;
            break;
        }
    }
    assert!(
        rotated,
        "the rotated certificate was never served\nedge:\n{}",
        edge.log_tail(40)
    );
    drop(edge);
    drop(core);
}
