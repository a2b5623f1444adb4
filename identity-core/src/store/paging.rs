//! Page sizes and opaque keyset page tokens shared by every list of the store.
//!
//! A token is base64url (no padding) of a small JSON document: the last row's sort key and id,
//! plus a hash of the query (resource, filter, order) it belongs to, so a token replayed with a
//! different query is refused instead of silently skipping rows. Tokens carry no secrets and are
//! not signed: forging one only changes where the caller's own query resumes.

use crate::error::{CoreError, CoreResult};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Default page size of user and role lists.
pub const DEFAULT_PAGE_SIZE: u64 = 100;
/// Largest page of user and role lists.
pub const MAX_PAGE_SIZE: u64 = 1000;

/// Validates a requested page size: 0 means `default`, negative or above `max` is refused with
/// the field named.
pub fn page_size(field: &str, requested: i32, default: u64, max: u64) -> CoreResult<u64> {
    match requested {
        0 => Ok(default),
        n if n < 0 => Err(CoreError::invalid(field, "must not be negative")),
        n if n as u64 > max => Err(CoreError::invalid(field, format!("must be at most {max}"))),
        n => Ok(n as u64),
    }
}

/// The value of the sort key of the last row of a page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v")]
pub enum SortValue {
    #[serde(rename = "s")]
    Str(String),
    #[serde(rename = "i")]
    Int(i64),
    #[serde(rename = "b")]
    Bool(bool),
    #[serde(rename = "u")]
    Uuid(Uuid),
}

/// The decoded content of a page token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageToken {
    /// Sort key of the last row returned.
    #[serde(rename = "k")]
    pub key: SortValue,
    /// Id of the last row returned (the tie breaker).
    #[serde(rename = "id")]
    pub id: Uuid,
    /// Hash of the query the token belongs to.
    #[serde(rename = "q")]
    pub query: String,
}

impl PageToken {
    pub fn encode(&self) -> String {
        // serialising these plain types cannot fail
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Decodes `token` and checks it belongs to `query_hash`.
    pub fn decode(token: &str, query_hash: &str) -> CoreResult<Self> {
        if token.len() > 4096 {
            return Err(CoreError::InvalidPageToken);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| CoreError::InvalidPageToken)?;
        let decoded: Self =
            serde_json::from_slice(&bytes).map_err(|_| CoreError::InvalidPageToken)?;
        if decoded.query != query_hash {
            return Err(CoreError::InvalidPageToken);
        }
        Ok(decoded)
    }
}

/// A short, stable hash of the parts that define a query.
pub fn query_hash(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    URL_SAFE_NO_PAD.encode(&hasher.finalize()[..12])
}

/// A list request over users or roles, already validated by the caller.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filter: Option<identity_proto::identity::v1::Filter>,
    /// Attribute path to sort by; empty sorts by creation time.
    pub order_by: String,
    pub descending: bool,
    pub page_size: u64,
    /// Opaque token of a previous page; empty for the first page.
    pub page_token: String,
    /// Rows to skip, honoured only without a page token.
    pub skip: u64,
    pub include_total_size: bool,
}

/// One page of a list, as ids in order; the caller loads the rows.
#[derive(Debug, Clone, Default)]
pub struct IdPage {
    pub ids: Vec<Uuid>,
    /// Empty on the last page.
    pub next_page_token: String,
    pub total_size: Option<i64>,
}

/// Runs a filtered, sorted, keyset-paged query over `resource` in `org` and returns the ids of
/// one page (one extra row is read to know whether another page follows).
pub async fn list_ids<C: sea_orm::ConnectionTrait>(
    conn: &C,
    resource: crate::store::filter::Resource,
    org: crate::ids::OrgId,
    query: &ListQuery,
) -> CoreResult<IdPage> {
    use crate::store::filter;
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query};

    let table = Alias::new(resource.table());
    let id_col = (table.clone(), Alias::new("id"));
    let mut condition = Expr::col((table.clone(), Alias::new("org_id"))).eq(org.0);
    if let Some(f) = &query.filter {
        condition = condition.and(filter::translate(resource, f)?);
    }
    let key = filter::sort_key(resource, &query.order_by)?;
    let hash = filter::query_hash(
        resource,
        query.filter.as_ref(),
        &query.order_by,
        query.descending,
    );

    let total_size = if query.include_total_size {
        let count = Query::select()
            .expr_as(Expr::col(id_col.clone()).count(), Alias::new("n"))
            .from(table.clone())
            .and_where(condition.clone())
            .to_owned();
        let row = conn.query_one(&count).await?;
        Some(match row {
            Some(row) => row.try_get::<i64>("", "n")?,
            None => 0,
        })
    } else {
        None
    };

    let order = if query.descending {
        Order::Desc
    } else {
        Order::Asc
    };
    let mut select = Query::select();
    select
        .column(id_col.clone())
        .expr_as(key.expr.clone(), Alias::new("sort_key"))
        .from(table.clone())
        .and_where(condition);
    if !query.page_token.is_empty() {
        let token = PageToken::decode(&query.page_token, &hash)?;
        select.and_where(filter::after_key(
            resource,
            &key,
            &token.key,
            token.id,
            query.descending,
        )?);
    } else if query.skip > 0 {
        select.offset(query.skip);
    }
    select
        .order_by_expr(key.expr.clone(), order.clone())
        .order_by(id_col, order)
        .limit(query.page_size + 1);
    let rows = conn.query_all(&select).await?;

    let mut ids = Vec::with_capacity(rows.len());
    let mut next_page_token = String::new();
    for (index, row) in rows.iter().enumerate() {
        if index as u64 == query.page_size {
            // the extra row exists: the page ends at the previous one
            let last = &rows[index - 1];
            let key_value = match key.kind {
                filter::SortKind::Str => SortValue::Str(
                    last.try_get::<Option<String>>("", "sort_key")?
                        .unwrap_or_default(),
                ),
                filter::SortKind::Int => SortValue::Int(last.try_get::<i64>("", "sort_key")?),
                filter::SortKind::Bool => SortValue::Bool(last.try_get::<bool>("", "sort_key")?),
                filter::SortKind::Uuid => SortValue::Uuid(last.try_get::<Uuid>("", "sort_key")?),
            };
            next_page_token = PageToken {
                key: key_value,
                id: last.try_get::<Uuid>("", "id")?,
                query: hash.clone(),
            }
            .encode();
            break;
        }
        ids.push(row.try_get::<Uuid>("", "id")?);
    }
    Ok(IdPage {
        ids,
        next_page_token,
        total_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trips_and_is_bound_to_its_query() {
        let token = PageToken {
            key: SortValue::Str("alice".into()),
            id: Uuid::now_v7(),
            query: query_hash(&[b"users", b"filter"]),
        };
        let text = token.encode();
        assert_eq!(PageToken::decode(&text, &token.query).unwrap(), token);
        let other = query_hash(&[b"users", b"other filter"]);
        assert!(matches!(
            PageToken::decode(&text, &other),
            Err(CoreError::InvalidPageToken)
        ));
        assert!(matches!(
            PageToken::decode("not a token!", &token.query),
            Err(CoreError::InvalidPageToken)
        ));
    }

    #[test]
    fn page_size_bounds() {
        assert_eq!(page_size("page_size", 0, 100, 1000).unwrap(), 100);
        assert_eq!(page_size("page_size", 1000, 100, 1000).unwrap(), 1000);
        assert!(page_size("page_size", 1001, 100, 1000).is_err());
        assert!(page_size("page_size", -1, 100, 1000).is_err());
    }
}
