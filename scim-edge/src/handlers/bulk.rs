//! `/Bulk` (RFC 7644 §3.7): many operations in one request, each run by the same code as the
//! plain endpoints.
//!
//! `bulkId:<id>` references are resolved in operation paths and anywhere inside `data` (for
//! example the members of a group created after its users in the same request). Operations run
//! in request order, except that one whose references are not resolved yet waits until the
//! operation defining them has run; a reference to an undefined or failed bulkId, and a cycle
//! of references, are `409 invalidValue` for the operations concerned (§3.7.1 lets the provider
//! refuse cycles). `failOnErrors` stops processing after that many errors. More than
//! `maxOperations` operations is `413` with a SCIM error (§3.7.4); the payload size is bounded
//! by the body limit of the HTTP stack. Results are listed in request order.

use std::collections::{HashMap, HashSet};

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::groups::Groups;
use super::resource::ScimResource;
use super::users::Users;
use super::{Reply, ScimBody};
use crate::error::{ScimError, ScimResult};
use crate::etag::parse_etag;
use crate::list::Projection;
use crate::principal::Principal;
use crate::schema::{BULK_REQUEST_SCHEMA, BULK_RESPONSE_SCHEMA};
use crate::state::AppState;

const BULK_ID_PREFIX: &str = "bulkId:";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// One operation as sent.
#[derive(Debug, Clone)]
struct Operation {
    method_text: String,
    method: Option<Method>,
    bulk_id: Option<String>,
    version: Option<String>,
    path: String,
    data: Option<Value>,
    /// bulkIds referenced by the path and the data.
    references: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Users,
    Groups,
}

pub(crate) async fn bulk(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ScimBody(body): ScimBody,
) -> ScimResult<Reply> {
    run(&state, &principal.organization_id, &body)
        .await
        .map(Reply::ok)
}

fn field<'v>(object: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
        .filter(|value| !value.is_null())
}

async fn run(state: &AppState, org: &str, body: &Value) -> ScimResult<Value> {
    let Some(object) = body.as_object() else {
        return Err(ScimError::invalid_syntax(
            "bulk request must be a json object",
        ));
    };
    let has_schema = field(object, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|schemas| {
            schemas.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(BULK_REQUEST_SCHEMA))
            })
        });
    if !has_schema {
        return Err(ScimError::invalid_syntax(format!(
            "bulk request schemas must contain {BULK_REQUEST_SCHEMA}"
        )));
    }
    let fail_on_errors = match field(object, "failOnErrors") {
        None => None,
        Some(value) => match value.as_u64() {
            Some(0) => None,
            Some(n) => Some(n),
            None => {
                return Err(ScimError::invalid_value(
                    "failOnErrors must be a positive integer",
                ));
            }
        },
    };
    let Some(Value::Array(raw_operations)) = field(object, "Operations") else {
        return Err(ScimError::invalid_syntax(
            "bulk request needs an Operations array",
        ));
    };
    let max = state.settings.limits.bulk_max_operations;
    if raw_operations.len() > max {
        return Err(ScimError::payload_too_large(format!(
            "the bulk request has {} operations, more than maxOperations {max}",
            raw_operations.len()
        )));
    }

    let mut results: Vec<Option<Value>> = vec![None; raw_operations.len()];
    let mut operations = Vec::with_capacity(raw_operations.len());
    // bulkId -> index of the POST that defines it
    let mut defined: HashMap<String, usize> = HashMap::new();
    let mut errors: u64 = 0;
    for (index, raw) in raw_operations.iter().enumerate() {
        match parse_operation(raw) {
            Ok(operation) => {
                if let Some(bulk_id) = &operation.bulk_id {
                    if defined.contains_key(bulk_id) {
                        results[index] = Some(error_result(
                            &operation,
                            None,
                            &ScimError::invalid_value(format!("bulkId {bulk_id} is used twice")),
                        ));
                        errors += 1;
                        operations.push(None);
                        continue;
                    }
                    if operation.method == Some(Method::Post) {
                        defined.insert(bulk_id.clone(), index);
                    }
                }
                operations.push(Some(operation));
            }
            Err(failure) => {
                let (operation, error) = *failure;
                results[index] = Some(error_result(&operation, None, &error));
                errors += 1;
                operations.push(None);
            }
        }
    }

    let mut resolved: HashMap<String, String> = HashMap::new();
    let mut failed: HashSet<String> = HashSet::new();
    let mut pending: Vec<usize> = (0..operations.len())
        .filter(|index| operations[*index].is_some())
        .collect();
    let limit_reached = |errors: u64| fail_on_errors.is_some_and(|limit| errors >= limit);
    'rounds: while !pending.is_empty() && !limit_reached(errors) {
        let mut progress = false;
        let mut still_pending = Vec::new();
        for index in pending {
            if limit_reached(errors) {
                break 'rounds;
            }
            let Some(operation) = &operations[index] else {
                continue;
            };
            let blocking = operation
                .references
                .iter()
                .find(|reference| !defined.contains_key(*reference) || failed.contains(*reference));
            if let Some(reference) = blocking {
                let detail = if failed.contains(reference) {
                    format!("bulkId {reference} refers to an operation that failed")
                } else {
                    format!("bulkId {reference} is not defined by any POST of the request")
                };
                results[index] = Some(error_result(operation, None, &conflict(detail)));
                errors += 1;
                if let Some(own) = &operation.bulk_id {
                    failed.insert(own.clone());
                }
                progress = true;
                continue;
            }
            if !operation
                .references
                .iter()
                .all(|r| resolved.contains_key(r))
            {
                still_pending.push(index);
                continue;
            }
            progress = true;
            let outcome = execute(state, org, operation, &resolved).await;
            match outcome {
                Ok((reply, location)) => {
                    if let (Some(bulk_id), Some(id)) = (
                        &operation.bulk_id,
                        reply
                            .body
                            .as_ref()
                            .and_then(|body| body["id"].as_str())
                            .map(str::to_owned),
                    ) {
                        resolved.insert(bulk_id.clone(), id);
                    }
                    results[index] = Some(success_result(operation, &reply, location));
                }
                Err((error, location)) => {
                    errors += 1;
                    if let Some(own) = &operation.bulk_id {
                        failed.insert(own.clone());
                    }
                    results[index] = Some(error_result(operation, location, &error));
                }
            }
        }
        pending = still_pending;
        if !progress {
            // every remaining operation waits on another remaining one: a cycle
            for index in &pending {
                if let Some(operation) = &operations[*index] {
                    results[*index] = Some(error_result(
                        operation,
                        None,
                        &conflict("circular bulkId references cannot be resolved".to_owned()),
                    ));
                }
            }
            break;
        }
    }

    Ok(json!({
        "schemas": [BULK_RESPONSE_SCHEMA],
        "Operations": results.into_iter().flatten().collect::<Vec<_>>(),
    }))
}

fn conflict(detail: String) -> ScimError {
    ScimError::new(
        StatusCode::CONFLICT,
        Some(crate::error::ScimType::InvalidValue),
        detail,
    )
}

/// Parses one operation; on failure returns what is known of it (for the result) and the error.
fn parse_operation(raw: &Value) -> Result<Operation, Box<(Operation, ScimError)>> {
    let mut operation = Operation {
        method_text: String::new(),
        method: None,
        bulk_id: None,
        version: None,
        path: String::new(),
        data: None,
        references: Vec::new(),
    };
    let Some(object) = raw.as_object() else {
        return Err(Box::new((
            operation,
            ScimError::invalid_syntax("a bulk operation must be a json object"),
        )));
    };
    let text = |name: &str| {
        field(object, name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    operation.method_text = text("method").unwrap_or_default();
    operation.bulk_id = text("bulkId");
    operation.version = text("version");
    operation.path = text("path").unwrap_or_default();
    operation.data = field(object, "data").cloned();
    operation.method = match operation.method_text.to_ascii_uppercase().as_str() {
        "POST" => Some(Method::Post),
        "PUT" => Some(Method::Put),
        "PATCH" => Some(Method::Patch),
        "DELETE" => Some(Method::Delete),
        _ => None,
    };
    let Some(method) = operation.method else {
        let detail = format!("unsupported bulk method {:?}", operation.method_text);
        return Err(Box::new((operation, ScimError::invalid_value(detail))));
    };
    if method == Method::Post && operation.bulk_id.as_deref().is_none_or(str::is_empty) {
        return Err(Box::new((
            operation,
            ScimError::invalid_value("a POST operation needs a bulkId"),
        )));
    }
    if operation.path.is_empty() {
        return Err(Box::new((
            operation,
            ScimError::invalid_value("a bulk operation needs a path"),
        )));
    }
    if method != Method::Delete && operation.data.is_none() {
        let detail = format!("a {} operation needs data", method.as_str());
        return Err(Box::new((operation, ScimError::invalid_value(detail))));
    }
    let path = Value::String(operation.path.clone());
    let mut references = Vec::new();
    let mut seen = std::collections::HashSet::new();
    collect_references(&path, &mut references, &mut seen);
    if let Some(data) = &operation.data {
        collect_references(data, &mut references, &mut seen);
    }
    drop(seen);
    operation.references = references;
    Ok(operation)
}

/// The bulkIds `value` refers to, each once, in the order found (`seen` keeps that linear).
fn collect_references<'v>(
    value: &'v Value,
    out: &mut Vec<String>,
    seen: &mut std::collections::HashSet<&'v str>,
) {
    match value {
        Value::String(text) => {
            // in a path the reference is the last segment: /Groups/bulkId:qwerty
            let candidate = text.rsplit('/').next().unwrap_or(text);
            if let Some(id) = candidate.strip_prefix(BULK_ID_PREFIX)
                && !id.is_empty()
                && seen.insert(id)
            {
                out.push(id.to_owned());
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_references(item, out, seen)),
        Value::Object(object) => object
            .values()
            .for_each(|item| collect_references(item, out, seen)),
        _ => {}
    }
}

fn substitute(value: &mut Value, resolved: &HashMap<String, String>) {
    match value {
        Value::String(text) => {
            if let Some(id) = text
                .strip_prefix(BULK_ID_PREFIX)
                .and_then(|id| resolved.get(id))
            {
                *text = id.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| substitute(item, resolved)),
        Value::Object(object) => object
            .values_mut()
            .for_each(|item| substitute(item, resolved)),
        _ => {}
    }
}

fn parse_path(
    path: &str,
    resolved: &HashMap<String, String>,
) -> ScimResult<(Endpoint, Option<String>)> {
    let trimmed = path.trim().trim_start_matches('/');
    let (collection, id) = match trimmed.split_once('/') {
        Some((collection, id)) => (collection, Some(id)),
        None => (trimmed, None),
    };
    let endpoint = if collection.eq_ignore_ascii_case("Users") {
        Endpoint::Users
    } else if collection.eq_ignore_ascii_case("Groups") {
        Endpoint::Groups
    } else {
        return Err(ScimError::invalid_value(format!(
            "unsupported bulk path {path:?}"
        )));
    };
    let id = id.map(|id| {
        id.strip_prefix(BULK_ID_PREFIX)
            .and_then(|bulk_id| resolved.get(bulk_id))
            .cloned()
            .unwrap_or_else(|| id.to_owned())
    });
    if id
        .as_deref()
        .is_some_and(|id| id.is_empty() || id.contains('/'))
    {
        return Err(ScimError::invalid_value(format!(
            "unsupported bulk path {path:?}"
        )));
    }
    Ok((endpoint, id))
}

type Outcome = Result<(Reply, Option<String>), (ScimError, Option<String>)>;

async fn execute(
    state: &AppState,
    org: &str,
    operation: &Operation,
    resolved: &HashMap<String, String>,
) -> Outcome {
    let (endpoint, id) = parse_path(&operation.path, resolved).map_err(|error| (error, None))?;
    let Some(method) = operation.method else {
        return Err((ScimError::invalid_value("unsupported bulk method"), None));
    };
    let location = id.as_deref().map(|id| {
        let collection = match endpoint {
            Endpoint::Users => "/Users",
            Endpoint::Groups => "/Groups",
        };
        state.settings.location(collection, id)
    });
    let mut data = operation.data.clone().unwrap_or(Value::Null);
    substitute(&mut data, resolved);
    let expected = match operation.version.as_deref() {
        None | Some("*") => None,
        Some(tag) => match parse_etag(tag) {
            Some(version) => Some(version),
            None => {
                return Err((
                    ScimError::precondition_failed("version does not match the resource version"),
                    location,
                ));
            }
        },
    };
    let result = match endpoint {
        Endpoint::Users => {
            run_on::<Users>(state, org, method, id.as_deref(), &data, expected).await
        }
        Endpoint::Groups => {
            run_on::<Groups>(state, org, method, id.as_deref(), &data, expected).await
        }
    };
    match result {
        Ok(reply) => {
            let location = reply.location.clone().or(location);
            Ok((reply, location))
        }
        Err(error) => Err((error, location)),
    }
}

/// One operation on resource type `R`, as its HTTP request would run it.
async fn run_on<R: ScimResource>(
    state: &AppState,
    org: &str,
    method: Method,
    id: Option<&str>,
    data: &Value,
    expected: Option<i64>,
) -> ScimResult<Reply> {
    let projection = Projection::default();
    match (method, id) {
        (Method::Post, None) => R::create(state, org, data, &projection).await,
        (Method::Put, Some(id)) => R::replace(state, org, id, data, expected, &projection).await,
        (Method::Patch, Some(id)) => R::patch(state, org, id, data, expected, &projection).await,
        (Method::Delete, Some(id)) => R::delete(state, org, id, expected).await,
        (Method::Post, Some(_)) => Err(ScimError::invalid_value(
            "POST must address a collection such as /Users",
        )),
        (_, None) => Err(ScimError::invalid_value(format!(
            "{} must address a resource such as /Users/{{id}}",
            method.as_str()
        ))),
    }
}

fn base_result(operation: &Operation) -> Map<String, Value> {
    let mut result = Map::new();
    let method = operation
        .method
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| operation.method_text.clone());
    result.insert("method".into(), json!(method));
    if let Some(bulk_id) = &operation.bulk_id {
        result.insert("bulkId".into(), json!(bulk_id));
    }
    result
}

fn success_result(operation: &Operation, reply: &Reply, location: Option<String>) -> Value {
    let mut result = base_result(operation);
    if let Some(location) = location {
        result.insert("location".into(), json!(location));
    }
    if let Some(version) = &reply.etag {
        result.insert("version".into(), json!(version));
    }
    result.insert("status".into(), json!(reply.status.as_u16().to_string()));
    Value::Object(result)
}

fn error_result(operation: &Operation, location: Option<String>, error: &ScimError) -> Value {
    let mut result = base_result(operation);
    if let Some(location) = location {
        result.insert("location".into(), json!(location));
    }
    result.insert("status".into(), json!(error.status.as_u16().to_string()));
    result.insert("response".into(), error.to_json());
    Value::Object(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_in_paths_and_data() {
        let operation = parse_operation(&json!({
            "method": "patch",
            "path": "/Groups/bulkId:g1",
            "data": { "Operations": [{ "op": "add", "path": "members", "value": [
                { "value": "bulkId:u1" }, { "value": "bulkId:u2" }, { "value": "bulkId:u1" }
            ]}]}
        }))
        .unwrap();
        assert_eq!(operation.method, Some(Method::Patch));
        assert_eq!(operation.references, vec!["g1", "u1", "u2"]);
    }

    #[test]
    fn substitution_and_paths() {
        let resolved: HashMap<String, String> = [("u1".to_owned(), "id-1".to_owned())].into();
        let mut data = json!({ "members": [{ "value": "bulkId:u1" }, { "value": "bulkId:zz" }] });
        substitute(&mut data, &resolved);
        assert_eq!(data["members"][0]["value"], "id-1");
        assert_eq!(data["members"][1]["value"], "bulkId:zz");
        assert_eq!(
            parse_path("/Users/bulkId:u1", &resolved).unwrap(),
            (Endpoint::Users, Some("id-1".to_owned()))
        );
        assert_eq!(
            parse_path("/Groups", &resolved).unwrap(),
            (Endpoint::Groups, None)
        );
        assert!(parse_path("/Things", &resolved).is_err());
    }

    #[test]
    fn malformed_operations_are_refused() {
        for raw in [
            json!({ "method": "GET", "path": "/Users" }),
            json!({ "method": "POST", "path": "/Users", "data": {} }),
            json!({ "method": "PUT", "path": "/Users/x" }),
            json!({ "method": "DELETE" }),
        ] {
            assert!(parse_operation(&raw).is_err(), "{raw}");
        }
    }
}
