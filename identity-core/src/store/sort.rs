//! Sort keys over the same attribute paths as filters (`store::filter`), and what keyset
//! paging binds them to: the last row's value ([`SortValue`]) and the hash of the query a page
//! token belongs to.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use identity_proto::identity::v1::Filter;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order, Query};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{CoreError, CoreResult};
use crate::store::filter::{Attr, Child, Resource, Ty, col, resolve};

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

/// How a sort key is read back from a row and bound in a keyset condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKind {
    Str,
    Int,
    Bool,
    Uuid,
}

/// A sort key: the expression rows are ordered by and its type.
#[derive(Debug, Clone)]
pub struct SortKey {
    pub expr: Expr,
    pub kind: SortKind,
}

/// The sort key of `order_by` (empty: creation time). Strings sort case-insensitively (except
/// case-exact ones) with absent values as the empty string, so NULL ordering, which differs
/// between backends, never matters. `emails.value` / `phone_numbers.value` sort by the primary
/// value (else the first one).
pub fn sort_key(resource: Resource, order_by: &str) -> CoreResult<SortKey> {
    let path = order_by.to_ascii_lowercase();
    let path = if path.is_empty() {
        "create_time"
    } else {
        &path
    };
    let unsortable = || CoreError::invalid("order_by", format!("cannot sort by {order_by:?}"));
    let attr = resolve(resource, path).map_err(|_| unsortable())?;
    Ok(match attr {
        Attr::Single(column) => match column.ty {
            Ty::Str { exact, lower } => SortKey {
                expr: match (exact, lower) {
                    (false, Some(lower)) => {
                        Expr::col((Alias::new(column.table), Alias::new(lower)))
                    }
                    (true, _) => Func::coalesce([col(&column), Expr::val("")]).into(),
                    (false, None) => {
                        Func::coalesce([Func::lower(col(&column)).into(), Expr::val("")]).into()
                    }
                },
                kind: SortKind::Str,
            },
            Ty::Uuid => SortKey {
                expr: col(&column),
                kind: SortKind::Uuid,
            },
            Ty::Bool => SortKey {
                expr: col(&column),
                kind: SortKind::Bool,
            },
            Ty::Int | Ty::Time | Ty::ManagedBy => SortKey {
                expr: col(&column),
                kind: SortKind::Int,
            },
        },
        Attr::Multi(child, column) if column.name == "value" && child != Child::Members => {
            let table = Alias::new(child.table());
            let first = Query::select()
                .column((table.clone(), Alias::new("value_lower")))
                .from(table.clone())
                .and_where(
                    Expr::col((table.clone(), Alias::new("user_id")))
                        .equals((Alias::new(resource.table()), Alias::new("id"))),
                )
                .order_by((table.clone(), Alias::new("is_primary")), Order::Desc)
                .order_by((table, Alias::new("position")), Order::Asc)
                .limit(1)
                .to_owned();
            SortKey {
                expr: Func::coalesce([Expr::SubQuery(None, Box::new(first.into())), Expr::val("")])
                    .into(),
                kind: SortKind::Str,
            }
        }
        Attr::Multi(..) => return Err(unsortable()),
    })
}

/// Rows after (`descending`: before) the given key and id, ties broken by id.
pub fn after_key(
    resource: Resource,
    key: &SortKey,
    value: &SortValue,
    id: Uuid,
    descending: bool,
) -> CoreResult<Expr> {
    let bound: Expr = match (key.kind, value) {
        (SortKind::Str, SortValue::Str(s)) => Expr::val(s.clone()),
        (SortKind::Int, SortValue::Int(n)) => Expr::val(*n),
        (SortKind::Bool, SortValue::Bool(b)) => Expr::val(*b),
        (SortKind::Uuid, SortValue::Uuid(u)) => Expr::val(*u),
        _ => return Err(CoreError::InvalidPageToken),
    };
    let id_col = Expr::col((Alias::new(resource.table()), Alias::new("id")));
    // the leading `>=` (or `<=`) is implied by the rest but is what lets the database start the
    // index range at the bound: with the `OR` alone PostgreSQL walks the index from the first row
    // and filters, so a page cost grew with its position
    Ok(if descending {
        key.expr.clone().lte(bound.clone()).and(
            key.expr
                .clone()
                .lt(bound.clone())
                .or(key.expr.clone().eq(bound).and(id_col.lt(id))),
        )
    } else {
        key.expr.clone().gte(bound.clone()).and(
            key.expr
                .clone()
                .gt(bound.clone())
                .or(key.expr.clone().eq(bound).and(id_col.gt(id))),
        )
    })
}

/// The hash a page token is bound to: resource, filter, order and direction.
pub fn query_hash(
    resource: Resource,
    filter: Option<&Filter>,
    order_by: &str,
    descending: bool,
) -> String {
    use prost::Message;
    let filter_bytes = filter.map(Message::encode_to_vec).unwrap_or_default();
    let order = order_by.to_ascii_lowercase();
    hash_parts(&[
        resource.tag(),
        &filter_bytes,
        order.as_bytes(),
        if descending { b"desc" } else { b"asc" },
    ])
}

/// A short, stable hash of the parts that define a query.
pub fn hash_parts(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    URL_SAFE_NO_PAD.encode(&hasher.finalize()[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_refuse_multi_valued_sub_attributes() {
        assert!(sort_key(Resource::User, "emails.value").is_ok());
        assert!(sort_key(Resource::User, "emails.type").is_err());
        assert!(sort_key(Resource::Role, "members.user_id").is_err());
        assert!(sort_key(Resource::Role, "user_name").is_err());
        assert_eq!(sort_key(Resource::User, "").unwrap().kind, SortKind::Int);
    }
}
