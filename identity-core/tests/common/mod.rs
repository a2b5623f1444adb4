//! Shared helpers of identity-core's integration tests: a real server on 127.0.0.1:0 over a
//! fresh store, typed clients, request builders and error-detail readers.
#![allow(dead_code, unreachable_pub)]

use identity_core::testing::TestDb;
use identity_proto::client::{AuthenticatedChannel, IdentityClient};
use identity_proto::identity::v1 as pb;
use identity_proto::identity::v1::access_token_service_client::AccessTokenServiceClient;
use identity_proto::identity::v1::change_service_client::ChangeServiceClient;
use identity_proto::identity::v1::role_service_client::RoleServiceClient;
use identity_proto::identity::v1::user_service_client::UserServiceClient;
use std::sync::Arc;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Channel;

/// The credential the test server accepts as the SCIM edge's (full access).
pub const EDGE_CREDENTIAL: &str = "edge-credential-for-core-tests";
use tonic_types::StatusExt;

/// A running identity.v1 server with clients; the server stops when this is dropped.
pub struct Server {
    pub store: TestDb,
    pub users: UserServiceClient<AuthenticatedChannel>,
    pub roles: RoleServiceClient<AuthenticatedChannel>,
    pub changes: ChangeServiceClient<AuthenticatedChannel>,
    pub access_tokens: AccessTokenServiceClient<AuthenticatedChannel>,
    /// The unauthenticated channel, for clients with other credentials.
    pub channel: Channel,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Creates `user` in `org` as the edge would (full access) and returns it; panics on error.
    pub async fn create_user(&mut self, org: &str, user: pb::User) -> pb::User {
        self.users
            .create_user(pb::CreateUserRequest {
                organization_id: org.to_owned(),
                user: Some(user),
                ..Default::default()
            })
            .await
            .expect("CreateUser")
            .into_inner()
            .user
            .expect("user in response")
    }
}

pub async fn start_server() -> Server {
    let store = TestDb::new().await;
    let auth = identity_runtime::grpc_auth::AuthLayer::new(Arc::new(
        identity_core::service::caller::CallerAuthenticator::new(
            store.db.clone(),
            Some(EDGE_CREDENTIAL),
        ),
    ));
    // never draining: the sender is dropped at once
    let (_, draining) = tokio::sync::watch::channel(false);
    let routes = identity_core::service::identity_routes(
        store.db.clone(),
        &auth,
        draining,
        identity_core::store::oauth::OAuthSettings::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_routes(routes)
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let client = IdentityClient::with_channel(channel.clone(), EDGE_CREDENTIAL).unwrap();
    Server {
        store,
        users: client.users,
        roles: client.roles,
        changes: client.changes,
        access_tokens: client.access_tokens,
        channel,
        task,
    }
}

/// The ErrorInfo reason of a status ("" when absent).
pub fn reason(status: &tonic::Status) -> String {
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default()
}

/// The BadRequest field names of a status.
pub fn bad_fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|br| {
            br.field_violations
                .iter()
                .map(|v| v.field.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts code and reason of an error result.
#[track_caller]
pub fn assert_err<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    code: tonic::Code,
    expected_reason: &str,
) -> tonic::Status {
    let status = result.expect_err("expected an error");
    assert_eq!(status.code(), code, "unexpected code: {status:?}");
    assert_eq!(
        reason(&status),
        expected_reason,
        "unexpected reason: {status:?}"
    );
    status
}

pub fn email(value: &str, primary: bool) -> pb::ContactValue {
    pb::ContactValue {
        value: value.into(),
        r#type: "work".into(),
        primary,
        display: String::new(),
    }
}

/// A minimal valid user.
pub fn user(user_name: &str) -> pb::User {
    pb::User {
        user_name: user_name.into(),
        active: true,
        ..Default::default()
    }
}

pub fn role(display_name: &str) -> pb::Role {
    pb::Role {
        display_name: display_name.into(),
        ..Default::default()
    }
}

// filter builders

pub fn cmp(attribute: &str, op: pb::Operator, value: Option<pb::filter_value::Kind>) -> pb::Filter {
    pb::Filter {
        kind: Some(pb::filter::Kind::Comparison(pb::Comparison {
            attribute: attribute.into(),
            operator: op as i32,
            value: value.map(|kind| pb::FilterValue { kind: Some(kind) }),
        })),
    }
}

pub fn s(value: &str) -> Option<pb::filter_value::Kind> {
    Some(pb::filter_value::Kind::StringValue(value.into()))
}

pub fn b(value: bool) -> Option<pb::filter_value::Kind> {
    Some(pb::filter_value::Kind::BoolValue(value))
}

pub fn i(value: i64) -> Option<pb::filter_value::Kind> {
    Some(pb::filter_value::Kind::IntValue(value))
}

pub fn null() -> Option<pb::filter_value::Kind> {
    Some(pb::filter_value::Kind::NullValue(true))
}

pub fn ts(micros: i64) -> Option<pb::filter_value::Kind> {
    Some(pb::filter_value::Kind::TimestampValue(
        identity_core::time::to_timestamp(micros),
    ))
}

pub fn and(filters: Vec<pb::Filter>) -> pb::Filter {
    pb::Filter {
        kind: Some(pb::filter::Kind::And(pb::FilterList { filters })),
    }
}

pub fn or(filters: Vec<pb::Filter>) -> pb::Filter {
    pb::Filter {
        kind: Some(pb::filter::Kind::Or(pb::FilterList { filters })),
    }
}

pub fn not(filter: pb::Filter) -> pb::Filter {
    pb::Filter {
        kind: Some(pb::filter::Kind::Not(Box::new(filter))),
    }
}

pub fn element(attribute: &str, filter: pb::Filter) -> pb::Filter {
    pb::Filter {
        kind: Some(pb::filter::Kind::ElementMatch(Box::new(pb::ElementMatch {
            attribute: attribute.into(),
            filter: Some(Box::new(filter)),
        }))),
    }
}
