//! The discovery documents (RFC 7644 §4): `/Schemas`, `/ResourceTypes` and
//! `/ServiceProviderConfig`, built from the attribute table.

use super::*;
use serde_json::{Value, json};

fn location(base_url: &str, path: &str) -> String {
    format!("{}{}", base_url.trim_end_matches('/'), path)
}

/// `/Schemas` (RFC 7643 §7, RFC 7644 §4): every schema with `meta.location`.
pub fn schemas_json(base_url: &str) -> Vec<Value> {
    ALL_SCHEMAS
        .iter()
        .map(|schema| schema.to_json(base_url))
        .collect()
}

/// `/Schemas/{urn}`; `None` when the URN (compared case-insensitively) is unknown.
pub fn schema_json(urn: &str, base_url: &str) -> Option<Value> {
    ALL_SCHEMAS
        .iter()
        .find(|schema| schema.id.eq_ignore_ascii_case(urn))
        .map(|schema| schema.to_json(base_url))
}

/// The `/ResourceTypes/{name}` document of one resource type (RFC 7643 §6).
pub fn resource_type_json(kind: ResourceKind, base_url: &str) -> Value {
    let extensions: Vec<Value> = kind
        .extensions()
        .iter()
        .map(|schema| json!({ "schema": schema.id, "required": false }))
        .collect();
    let mut document = json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": kind.name(),
        "name": kind.name(),
        "endpoint": kind.endpoint(),
        "description": match kind {
            ResourceKind::User => "User Account",
            ResourceKind::Group => "Group",
        },
        "schema": kind.core_schema(),
        "meta": {
            "resourceType": "ResourceType",
            "location": location(base_url, &format!("/ResourceTypes/{}", kind.name())),
        },
    });
    if !extensions.is_empty() {
        document["schemaExtensions"] = Value::Array(extensions);
    }
    document
}

/// `/ResourceTypes` (RFC 7643 §6): User and Group.
pub fn resource_types_json(base_url: &str) -> Vec<Value> {
    [ResourceKind::User, ResourceKind::Group]
        .into_iter()
        .map(|kind| resource_type_json(kind, base_url))
        .collect()
}

/// The limits advertised by `/ServiceProviderConfig`; they must be the ones the HTTP layer
/// enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most operations in one bulk request.
    pub bulk_max_operations: usize,
    /// Largest request body in bytes (bulk included).
    pub max_payload_size: usize,
    /// Most resources one list or search response returns.
    pub filter_max_results: usize,
    /// Page size when the client sends no `count`.
    pub default_page_size: usize,
    /// Seconds a pagination cursor stays usable (RFC 9865).
    pub cursor_timeout_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            bulk_max_operations: 1000,
            max_payload_size: 4_194_304,
            filter_max_results: 1000,
            default_page_size: 100,
            cursor_timeout_secs: 3600,
        }
    }
}

/// `/ServiceProviderConfig` (RFC 7643 §5) with the RFC 9865 `pagination` block.
pub fn service_provider_config_json(base_url: &str, limits: &Limits) -> Value {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "patch": { "supported": true },
        "bulk": {
            "supported": true,
            "maxOperations": limits.bulk_max_operations,
            "maxPayloadSize": limits.max_payload_size,
        },
        "filter": { "supported": true, "maxResults": limits.filter_max_results },
        "changePassword": { "supported": true },
        "sort": { "supported": true },
        "etag": { "supported": true },
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": limits.default_page_size,
            "maxPageSize": limits.filter_max_results,
            "cursorTimeout": limits.cursor_timeout_secs,
        },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a bearer token issued to the organization's provisioning client",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": location(base_url, "/ServiceProviderConfig"),
        },
    })
}
