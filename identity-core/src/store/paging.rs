//! Page sizes and opaque keyset page tokens shared by every list of the store.
//!
//! A token is base64url (no padding) of a small JSON document: the last row's sort key and id,
//! plus a hash of the query (resource, filter, order) it belongs to, so a token replayed with a
//! different query is refused instead of silently skipping rows. Tokens carry no secrets and are
//! not signed: forging one only changes where the caller's own query resumes.

use crate::error::{CoreError, CoreResult};
use crate::store::sort::{self, SortValue};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
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
    /// Where the list resumes after each id (a page ended early continues from there).
    pub positions: Vec<PageToken>,
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
    Ok(list_page(conn, resource, org, query, |_| {}).await?.0)
}

/// The columns [`list_page`] selects before those the caller adds: the id and the sort key.
pub const PAGE_COLUMNS: usize = 2;

/// [`list_ids`], with the columns that `columns` adds to the page's statement (after the first
/// [`PAGE_COLUMNS`]), so that a page can be read whole in one statement: the page and its rows,
/// in order.
pub async fn list_page<C: sea_orm::ConnectionTrait>(
    conn: &C,
    resource: crate::store::filter::Resource,
    org: crate::ids::OrgId,
    query: &ListQuery,
    columns: impl FnOnce(&mut sea_orm::sea_query::SelectStatement),
) -> CoreResult<(IdPage, Vec<sea_orm::QueryResult>)> {
    use crate::store::filter;
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query};

    let table = Alias::new(resource.table());
    let id_col = (table.clone(), Alias::new("id"));
    let mut condition = Expr::col((table.clone(), Alias::new("org_id"))).eq(org.0);
    if let Some(f) = &query.filter {
        condition = condition.and(filter::translate(resource, f)?);
    }
    let key = sort::sort_key(resource, &query.order_by)?;
    let hash = sort::query_hash(
        resource,
        query.filter.as_ref(),
        &query.order_by,
        query.descending,
    );

    // an offset-paged walk resumes where the previous page of the same query ended
    // (or, when the previous pages are still in flight, as concurrent importers have them, where
    // one of the few pages before them ended: keyset to there, then a short OFFSET)
    let remembered = if query.page_token.is_empty() && query.skip > 0 {
        (0..=WALK_LOOKBACK)
            .map(|back| back * query.page_size)
            .take_while(|&gap| gap < query.skip)
            .find_map(|gap| {
                positions()
                    .get(&(org.0, hash.clone(), query.skip - gap))
                    .map(|position| (position, gap))
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
        .and_where(condition.clone());
    columns(&mut select);
    let condition_for_count = condition;
    let (resume, offset) = if query.page_token.is_empty() {
        match &remembered {
            Some((position, gap)) => (Some(position.clone()), *gap),
            None => (None, query.skip),
        }
    } else {
        (Some(PageToken::decode(&query.page_token, &hash)?), 0)
    };
    if let Some(token) = &resume {
        select.and_where(sort::after_key(
            resource,
            &key,
            &token.key,
            token.id,
            query.descending,
        )?);
    }
    select
        .order_by_expr(key.expr.clone(), order.clone())
        .order_by(id_col, order);
    let mut rows = conn
        .query_all_raw(crate::store::limited(
            conn.get_database_backend(),
            &mut select,
            query.page_size + 1,
            offset,
        ))
        .await?;

    // columns by position: 0 the id, 1 the sort key (as selected above)
    let position = |row: &sea_orm::QueryResult| -> CoreResult<PageToken> {
        let key = match key.kind {
            sort::SortKind::Str => SortValue::Str(
                row.try_get_by_index::<Option<String>>(1)?
                    .unwrap_or_default(),
            ),
            sort::SortKind::Int => SortValue::Int(row.try_get_by_index::<i64>(1)?),
            sort::SortKind::Bool => SortValue::Bool(row.try_get_by_index::<bool>(1)?),
            sort::SortKind::Uuid => SortValue::Uuid(row.try_get_by_index::<Uuid>(1)?),
        };
        Ok(PageToken {
            key,
            id: row.try_get_by_index::<Uuid>(0)?,
            query: hash.clone(),
        })
    };
    let more = rows.len() as u64 > query.page_size;
    rows.truncate(query.page_size as usize);
    let page = &rows[..];
    let mut ids = Vec::with_capacity(page.len());
    let mut resumes = Vec::with_capacity(page.len());
    for row in page {
        ids.push(row.try_get_by_index::<Uuid>(0)?);
        resumes.push(position(row)?);
    }
    let last = resumes.last().cloned();
    let next_page_token = match (&last, more) {
        (Some(last), true) => last.encode(),
        _ => String::new(),
    };
    if query.page_token.is_empty()
        && let Some(last) = last
    {
        positions().insert((org.0, hash.clone(), query.skip + page.len() as u64), last);
    }

    let total_size = if !query.include_total_size {
        None
    } else if query.page_token.is_empty()
        && !more
        && (query.skip == 0 || (!page.is_empty() && remembered.is_none()))
    {
        // the page holds the end of the results at a known offset: nothing left to count
        Some((query.skip + page.len() as u64) as i64)
    } else {
        Some(count(conn, org, &hash, &table, condition_for_count).await?)
    };
    Ok((
        IdPage {
            ids,
            positions: resumes,
            next_page_token,
            total_size,
        },
        rows,
    ))
}

/// Records that an offset-paged walk of `org` continues after `position` at offset
/// `next_offset`, for a page that was ended early (see `IdPage::positions`).
pub fn remember_walk(org: crate::ids::OrgId, position: &PageToken, next_offset: u64) {
    positions().insert(
        (org.0, position.query.clone(), next_offset),
        position.clone(),
    );
}

/// How many pages back an offset-paged page looks for a remembered position (the number of pages
/// a client typically has in flight).
const WALK_LOOKBACK: u64 = 32;

/// Where each page of an offset-paged query ended, keyed by (organization, query hash, offset of
/// the next row): SCIM clients (Okta, Entra ID) import by walking `startIndex` pages in order,
/// and each page resumes from the previous one's last row by keyset instead of skipping every
/// row before it again, so a page costs the same at any offset. Rows deleted behind the walk
/// therefore never make it skip a row; a jump to an offset never reached starts with OFFSET.
fn positions() -> &'static moka::sync::Cache<(Uuid, String, u64), PageToken> {
    static POSITIONS: std::sync::LazyLock<moka::sync::Cache<(Uuid, String, u64), PageToken>> =
        std::sync::LazyLock::new(query_cache);
    &POSITIONS
}

/// Counts of (organization, query hash), with the organization's change sequence they were
/// counted at: a walk through a large collection counts once, not once per page.
fn totals() -> &'static moka::sync::Cache<(Uuid, String), (i64, i64)> {
    static TOTALS: std::sync::LazyLock<moka::sync::Cache<(Uuid, String), (i64, i64)>> =
        std::sync::LazyLock::new(query_cache);
    &TOTALS
}

/// A bounded cache of per-query facts, forgotten after ten idle minutes.
fn query_cache<K, V>() -> moka::sync::Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    moka::sync::Cache::builder()
        .max_capacity(10_000)
        .time_to_idle(std::time::Duration::from_secs(600))
        .build()
}

/// The number of rows matching `condition`, reused while the organization has not changed.
async fn count<C: sea_orm::ConnectionTrait>(
    conn: &C,
    org: crate::ids::OrgId,
    hash: &str,
    table: &sea_orm::sea_query::Alias,
    condition: sea_orm::sea_query::SimpleExpr,
) -> CoreResult<i64> {
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
    // the sequence is read before counting: a commit in between makes the next read count again
    let seq = crate::store::org_row::change_seq(conn, org).await?;
    let key = (org.0, hash.to_owned());
    if let Some((counted_at, total)) = totals().get(&key)
        && counted_at == seq
    {
        return Ok(total);
    }
    let statement = Query::select()
        .expr_as(
            Expr::col((table.clone(), Alias::new("id"))).count(),
            Alias::new("n"),
        )
        .from(table.clone())
        .and_where(condition)
        .to_owned();
    let total = match conn.query_one(&statement).await? {
        Some(row) => row.try_get::<i64>("", "n")?,
        None => 0,
    };
    totals().insert(key, (seq, total));
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sort::hash_parts;

    #[test]
    fn token_round_trips_and_is_bound_to_its_query() {
        let token = PageToken {
            key: SortValue::Str("alice".into()),
            id: Uuid::now_v7(),
            query: hash_parts(&[b"users", b"filter"]),
        };
        let text = token.encode();
        assert_eq!(PageToken::decode(&text, &token.query).unwrap(), token);
        let other = hash_parts(&[b"users", b"other filter"]);
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
