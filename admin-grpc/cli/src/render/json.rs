//! The JSON shapes of the admin API's messages (the proto3 JSON mapping: lowerCamelCase
//! names, RFC 3339 times, enum names), and the small text helpers both outputs share.

use identity_proto::admin::v1 as pb;
use serde_json::{Value, json};
use std::io;

pub(super) fn time(ts: Option<&prost_types::Timestamp>) -> Option<String> {
    let ts = ts?;
    let nanos = u32::try_from(ts.nanos).ok()?;
    chrono::DateTime::from_timestamp(ts.seconds, nanos)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

pub(super) fn time_or_dash(ts: Option<&prost_types::Timestamp>) -> String {
    time(ts).unwrap_or_else(|| "-".into())
}

pub(super) fn or_dash(value: &str) -> &str {
    if value.is_empty() { "-" } else { value }
}

pub(super) fn status_name(status: i32) -> &'static str {
    match pb::ScimTokenStatus::try_from(status) {
        Ok(pb::ScimTokenStatus::Active) => "active",
        Ok(pb::ScimTokenStatus::Expired) => "expired",
        Ok(pb::ScimTokenStatus::Revoked) => "revoked",
        _ => "unknown",
    }
}

pub(super) fn status_json(status: i32) -> Value {
    pb::ScimTokenStatus::try_from(status)
        .map_or(Value::Null, |s| Value::String(s.as_str_name().to_owned()))
}

pub(super) fn organization_json(o: &pb::Organization) -> Value {
    json!({
        "id": o.id,
        "slug": o.slug,
        "displayName": o.display_name,
        "createTime": time(o.create_time.as_ref()),
    })
}

pub(super) fn owner_credential_json(c: &pb::OwnerCredential) -> Value {
    json!({
        "id": c.id,
        "organizationId": c.organization_id,
        "description": c.description,
        "createTime": time(c.create_time.as_ref()),
        "revokeTime": time(c.revoke_time.as_ref()),
    })
}

pub(super) fn settings_json(s: &pb::ScimSettings) -> Value {
    json!({
        "organizationId": s.organization_id,
        "enabled": s.enabled,
        "defaultRoleId": s.default_role_id,
        "defaultRoleName": s.default_role_name,
        "updateTime": time(s.update_time.as_ref()),
        "rateLimits": s.rate_limits.map(|l| json!({
            "requestsPerSecond": l.requests_per_second,
            "burst": l.burst,
            "maxConcurrentRequests": l.max_concurrent_requests,
        })),
        "verifiedDomains": s.verified_domains,
    })
}

/// The default role for people: "Engineering (uuid)", the id alone from a server that does not
/// send names, "-" for none.
pub(super) fn default_role_text(s: &pb::ScimSettings) -> String {
    if s.default_role_name.is_empty() {
        or_dash(&s.default_role_id).to_owned()
    } else if s.default_role_id.is_empty() {
        s.default_role_name.clone()
    } else {
        format!("{} ({})", s.default_role_name, s.default_role_id)
    }
}

/// A rate-limit override for people: 0 is the edge's default.
pub(super) fn limit_or_default(value: u32) -> String {
    if value == 0 {
        "edge default".to_owned()
    } else {
        value.to_string()
    }
}

pub(super) fn token_json(t: &pb::ScimToken) -> Value {
    json!({
        "id": t.id,
        "organizationId": t.organization_id,
        "description": t.description,
        "hint": t.hint,
        "createTime": time(t.create_time.as_ref()),
        "expireTime": time(t.expire_time.as_ref()),
        "expiresSoon": t.expires_soon,
        "lastUsedTime": time(t.last_used_time.as_ref()),
        "revokeTime": time(t.revoke_time.as_ref()),
        "status": status_json(t.status),
        "rotatedFromTokenId": t.rotated_from_token_id,
        "connectionId": t.connection_id,
    })
}

pub(super) fn connection_json(c: &pb::Connection) -> Value {
    let activity = c.activity.clone().unwrap_or_default();
    json!({
        "id": c.id,
        "organizationId": c.organization_id,
        "name": c.name,
        "allowedGroupNames": c.allowed_group_names,
        "createTime": time(c.create_time.as_ref()),
        "activity": {
            "lastRequestTime": time(activity.last_request_time.as_ref()),
            "creates": activity.creates,
            "updates": activity.updates,
            "deactivations": activity.deactivations,
            "deletes": activity.deletes,
            "recentErrors": activity.recent_errors.iter().map(|e| json!({
                "time": time(e.time.as_ref()),
                "method": e.method,
                "path": e.path,
                "status": e.status,
                "scimType": e.scim_type,
                "detail": e.detail,
            })).collect::<Vec<_>>(),
        },
    })
}

pub(super) fn client_json(c: &pb::OAuthClient) -> Value {
    json!({
        "clientId": c.client_id,
        "connectionId": c.connection_id,
        "name": c.name,
        "redirectUris": c.redirect_uris,
        "clientCredentials": c.client_credentials,
        "createTime": time(c.create_time.as_ref()),
    })
}

/// Who renames and deletes a role: the identity provider or the platform (this CLI).
pub(super) fn managed_by(r: &pb::Role) -> &'static str {
    if r.scim_managed { "scim" } else { "platform" }
}

pub(super) fn role_json(r: &pb::Role) -> Value {
    json!({
        "id": r.id,
        "organizationId": r.organization_id,
        "name": r.name,
        "description": r.description,
        "memberCount": r.member_count,
        "scimManaged": r.scim_managed,
        "isDefault": r.is_default,
        "createTime": time(r.create_time.as_ref()),
    })
}

pub(super) fn grant_kind(kind: i32) -> &'static str {
    match pb::GrantKind::try_from(kind) {
        Ok(pb::GrantKind::AuthorizationCode) => "authorization_code",
        Ok(pb::GrantKind::ClientCredentials) => "client_credentials",
        _ => "unspecified",
    }
}

pub(super) fn grant_json(g: &pb::Grant) -> Value {
    json!({
        "id": g.id,
        "clientId": g.client_id,
        "kind": grant_kind(g.kind),
        "scope": g.scope,
        "createTime": time(g.create_time.as_ref()),
        "lastRefreshTime": time(g.last_refresh_time.as_ref()),
        "revokeTime": time(g.revoke_time.as_ref()),
        "revokeReason": g.revoke_reason,
    })
}

pub(super) fn access_name(access: i32) -> &'static str {
    match pb::ServiceAccess::try_from(access) {
        Ok(pb::ServiceAccess::Read) => "read",
        Ok(pb::ServiceAccess::ReadWrite) => "read-write",
        _ => "unspecified",
    }
}

pub(super) fn scope_text(c: &pb::ServiceCredential) -> String {
    if c.all_organizations {
        "all organizations".to_owned()
    } else {
        c.organization_ids.join(",")
    }
}

pub(super) fn service_credential_json(c: &pb::ServiceCredential) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "organizationIds": c.organization_ids,
        "allOrganizations": c.all_organizations,
        "access": access_name(c.access),
        "hint": c.hint,
        "createTime": time(c.create_time.as_ref()),
        "revokeTime": time(c.revoke_time.as_ref()),
    })
}

pub(super) fn missing() -> io::Error {
    io::Error::other("the server sent an empty response")
}
