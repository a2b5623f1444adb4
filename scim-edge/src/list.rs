//! Query parameters of list and search requests (RFC 7644 §3.4.2, §3.4.3, RFC 9865) and the
//! ListResponse message.
//!
//! Parameters arrive either in the query string of `GET /Users` or in a SearchRequest body;
//! both are read into one [`ListParams`] with the contract's rules: `count` clamped to
//! `0..=maxResults`, `startIndex` below 1 treated as 1, `startIndex` and `cursor` together
//! refused. The single-resource projection parameters are [`Projection`].

use identity_proto::identity::v1::SortOrder;
use serde_json::{Value, json};

use crate::error::{ScimError, ScimResult};
use crate::filter::{AttrPath, FilterExpr, parse_filter};
use crate::projection::{parse_attribute_list, project};
use crate::schema::{LIST_RESPONSE_SCHEMA, Limits, ResourceKind, SEARCH_REQUEST_SCHEMA};

/// Query string pairs with their names as sent.
pub(crate) type QueryPairs = Vec<(String, String)>;

/// Parses a raw query string.
pub(crate) fn parse_query(raw: Option<&str>) -> ScimResult<QueryPairs> {
    match raw {
        None | Some("") => Ok(Vec::new()),
        Some(raw) => serde_urlencoded::from_str(raw)
            .map_err(|_| ScimError::invalid_syntax("the query string is malformed")),
    }
}

/// The value of parameter `name` (names compared case-insensitively: IdPs vary).
pub(crate) fn query_param<'a>(pairs: &'a QueryPairs, name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// `attributes` / `excludedAttributes` of a request (RFC 7644 §3.9).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Projection {
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

/// `attributes` / `excludedAttributes` straight from a request's query string, so handlers
/// take a `Projection` argument instead of parsing it each.
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Projection {
    type Rejection = crate::error::ScimError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Projection::from_query(&parse_query(parts.uri.query())?)
    }
}

impl Projection {
    /// From the query string.
    pub(crate) fn from_query(pairs: &QueryPairs) -> ScimResult<Self> {
        Ok(Self {
            attributes: parse_attribute_list(query_param(pairs, "attributes").unwrap_or(""))?,
            excluded: parse_attribute_list(query_param(pairs, "excludedAttributes").unwrap_or(""))?,
        })
    }

    /// Whether the response would contain `name` (so it is worth loading).
    pub(crate) fn wants(&self, kind: ResourceKind, name: &str) -> bool {
        crate::projection::wants_attribute(kind, &self.attributes, &self.excluded, name)
    }

    /// Whether `name` is explicitly listed in `attributes` (for attributes that lists only
    /// return on request, such as group members).
    pub(crate) fn explicitly_requests(&self, name: &str) -> bool {
        self.attributes
            .iter()
            .any(|path| path.attribute.eq_ignore_ascii_case(name))
    }

    /// Applies the projection to a resource.
    pub(crate) fn apply(&self, resource: &mut Value, kind: ResourceKind) {
        project(resource, kind, &self.attributes, &self.excluded);
    }
}

/// How a list is paged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Paging {
    /// 1-based index paging (RFC 7644 §3.4.2.4).
    Index { start_index: i64 },
    /// Cursor paging (RFC 9865); the cursor as sent, empty for the first page.
    Cursor { cursor: String },
}

/// Everything a list or search request asks for.
#[derive(Debug, Clone)]
pub(crate) struct ListParams {
    pub filter: Option<FilterExpr>,
    pub sort_by: Option<String>,
    pub sort_order: SortOrder,
    /// Resources per page, within `0..=maxResults`; 0 asks for the total only.
    pub count: i32,
    pub paging: Paging,
    pub projection: Projection,
}

impl ListParams {
    /// From a list request's query string.
    pub(crate) fn from_query(pairs: &QueryPairs, limits: &Limits) -> ScimResult<Self> {
        let get = |name| query_param(pairs, name);
        let count = match get("count") {
            None | Some("") => None,
            Some(value) => Some(value.trim().parse::<i64>().map_err(|_| {
                ScimError::invalid_value(format!("count {value:?} is not an integer"))
            })?),
        };
        let start_index = match get("startIndex") {
            None | Some("") => None,
            Some(value) => Some(value.trim().parse::<i64>().map_err(|_| {
                ScimError::invalid_value(format!("startIndex {value:?} is not an integer"))
            })?),
        };
        Self::build(
            get("filter").map(str::to_owned),
            get("sortBy").map(str::to_owned),
            get("sortOrder").map(str::to_owned),
            start_index,
            count,
            get("cursor").map(str::to_owned),
            Projection::from_query(pairs)?,
            limits,
        )
    }

    /// From a SearchRequest body (RFC 7644 §3.4.3).
    pub(crate) fn from_search_body(body: &Value, limits: &Limits) -> ScimResult<Self> {
        let Some(object) = body.as_object() else {
            return Err(ScimError::invalid_syntax(
                "search request must be a json object",
            ));
        };
        let field = |name: &str| {
            object
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value)
                .filter(|value| !value.is_null())
        };
        if let Some(schemas) = field("schemas") {
            let ok = schemas.as_array().is_some_and(|list| {
                list.iter().any(|s| {
                    s.as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(SEARCH_REQUEST_SCHEMA))
                })
            });
            if !ok {
                return Err(ScimError::invalid_syntax(format!(
                    "search request schemas must contain {SEARCH_REQUEST_SCHEMA}"
                )));
            }
        }
        let string = |name: &str| -> ScimResult<Option<String>> {
            match field(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ScimError::invalid_value(format!("{name} must be a string"))),
            }
        };
        let list = |name: &str| -> ScimResult<Vec<AttrPath>> {
            match field(name) {
                None => Ok(Vec::new()),
                Some(Value::String(s)) => parse_attribute_list(s),
                Some(Value::Array(items)) => {
                    let mut joined = Vec::new();
                    for item in items {
                        let Some(item) = item.as_str() else {
                            return Err(ScimError::invalid_value(format!(
                                "{name} must be an array of strings"
                            )));
                        };
                        joined.extend(parse_attribute_list(item)?);
                    }
                    Ok(joined)
                }
                Some(_) => Err(ScimError::invalid_value(format!(
                    "{name} must be an array of strings"
                ))),
            }
        };
        let integer = |name: &str| -> ScimResult<Option<i64>> {
            match field(name) {
                None => Ok(None),
                Some(Value::Number(n)) => n
                    .as_i64()
                    .or_else(|| n.as_f64().map(|f| f as i64))
                    .map(Some)
                    .ok_or_else(|| ScimError::invalid_value(format!("{name} must be an integer"))),
                Some(Value::String(s)) => s
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| ScimError::invalid_value(format!("{name} must be an integer"))),
                Some(_) => Err(ScimError::invalid_value(format!(
                    "{name} must be an integer"
                ))),
            }
        };
        let projection = Projection {
            attributes: list("attributes")?,
            excluded: list("excludedAttributes")?,
        };
        Self::build(
            string("filter")?,
            string("sortBy")?,
            string("sortOrder")?,
            integer("startIndex")?,
            integer("count")?,
            string("cursor")?,
            projection,
            limits,
        )
    }

    // one argument per SCIM parameter, shared by the query-string and SearchRequest readers
    #[allow(clippy::too_many_arguments)]
    fn build(
        filter: Option<String>,
        sort_by: Option<String>,
        sort_order: Option<String>,
        start_index: Option<i64>,
        count: Option<i64>,
        cursor: Option<String>,
        projection: Projection,
        limits: &Limits,
    ) -> ScimResult<Self> {
        let filter = match filter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(parse_filter(text)?),
        };
        let sort_order = match sort_order.as_deref().map(str::trim) {
            None | Some("") => SortOrder::Ascending,
            Some(order) if order.eq_ignore_ascii_case("ascending") => SortOrder::Ascending,
            Some(order) if order.eq_ignore_ascii_case("descending") => SortOrder::Descending,
            Some(order) => {
                return Err(ScimError::invalid_value(format!(
                    "sortOrder {order:?} is neither ascending nor descending"
                )));
            }
        };
        let max = i64::try_from(limits.filter_max_results).unwrap_or(1000);
        let default = i64::try_from(limits.default_page_size).unwrap_or(100);
        let count = count.unwrap_or(default).clamp(0, max) as i32;
        let paging = match (cursor, start_index) {
            (Some(_), Some(_)) => {
                return Err(ScimError::invalid_value(
                    "startIndex and cursor cannot be used together",
                ));
            }
            (Some(cursor), None) => Paging::Cursor { cursor },
            (None, start_index) => Paging::Index {
                start_index: start_index.unwrap_or(1).max(1),
            },
        };
        Ok(Self {
            filter,
            sort_by: sort_by.filter(|s| !s.trim().is_empty()),
            sort_order,
            count,
            paging,
            projection,
        })
    }
}

/// A ListResponse (RFC 7644 §3.4.2, RFC 9865 §4).
pub(crate) fn list_response(
    total_results: i64,
    paging: &Paging,
    resources: Vec<Value>,
    next_cursor: Option<String>,
) -> Value {
    let mut body = json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total_results,
        "itemsPerPage": resources.len(),
    });
    if let Paging::Index { start_index } = paging {
        body["startIndex"] = json!(start_index);
    }
    if let Some(next) = next_cursor {
        body["nextCursor"] = json!(next);
    }
    body["Resources"] = Value::Array(resources);
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;

    fn pairs(items: &[(&str, &str)]) -> QueryPairs {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn query_parameters_follow_the_contract() {
        let limits = Limits::default();
        let params = ListParams::from_query(
            &pairs(&[
                ("startIndex", "0"),
                ("count", "5000"),
                ("sortOrder", "Descending"),
            ]),
            &limits,
        )
        .unwrap();
        assert_eq!(params.paging, Paging::Index { start_index: 1 });
        assert_eq!(params.count, 1000);
        assert_eq!(params.sort_order, SortOrder::Descending);

        let params =
            ListParams::from_query(&pairs(&[("count", "-3"), ("cursor", "")]), &limits).unwrap();
        assert_eq!(params.count, 0);
        assert_eq!(
            params.paging,
            Paging::Cursor {
                cursor: String::new()
            }
        );

        let error = ListParams::from_query(&pairs(&[("startIndex", "2"), ("cursor", "")]), &limits)
            .unwrap_err();
        assert_eq!(error.scim_type, Some(ScimType::InvalidValue));
        let error =
            ListParams::from_query(&pairs(&[("filter", "userName eq")]), &limits).unwrap_err();
        assert_eq!(error.scim_type, Some(ScimType::InvalidFilter));
    }

    #[test]
    fn search_body_is_read_like_the_query() {
        let body = json!({
            "schemas": [SEARCH_REQUEST_SCHEMA],
            "attributes": ["userName", "emails"],
            "filter": "userName sw \"a\"",
            "startIndex": 3,
            "count": 10
        });
        let params = ListParams::from_search_body(&body, &Limits::default()).unwrap();
        assert_eq!(params.paging, Paging::Index { start_index: 3 });
        assert_eq!(params.count, 10);
        assert_eq!(params.projection.attributes.len(), 2);
        assert!(params.filter.is_some());
        let error = ListParams::from_search_body(&json!({ "count": "many" }), &Limits::default())
            .unwrap_err();
        assert_eq!(error.scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn list_response_shape() {
        let body = list_response(3, &Paging::Index { start_index: 1 }, vec![json!({})], None);
        assert_eq!(body["totalResults"], 3);
        assert_eq!(body["itemsPerPage"], 1);
        assert_eq!(body["startIndex"], 1);
        let body = list_response(
            3,
            &Paging::Cursor {
                cursor: String::new(),
            },
            vec![],
            Some("n".to_owned()),
        );
        assert!(body.get("startIndex").is_none());
        assert_eq!(body["nextCursor"], "n");
    }
}
