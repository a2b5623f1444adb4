//! Translation of `identity.v1.Filter` trees into sea-query expressions (`order_by` paths are
//! `store::sort`'s, over the same attribute mapping).
//!
//! Owns the mapping from the contract's attribute paths to columns, the typing rules (which
//! operator applies to which attribute, which literal it takes) and the case rules: strings
//! compare case-insensitively on a stored `*_lower` column or `LOWER(column)`, except the
//! case-exact `id`, `external_id` and `members.user_id`. Multi-valued attributes and element
//! matches become correlated `EXISTS` subqueries, so nothing is ever loaded to evaluate a filter.
//! Every literal is bound as a parameter; no user text reaches the SQL string.

use crate::error::{CoreError, CoreResult};
use identity_proto::identity::v1::{
    Comparison, ElementMatch, Filter, FilterValue, ManagedBy, Operator, filter, filter_value,
};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, LikeExpr, Query, SelectStatement};
use uuid::Uuid;

/// Deepest filter tree accepted.
pub const MAX_FILTER_DEPTH: usize = 16;
/// Largest number of nodes in a filter tree.
pub const MAX_FILTER_NODES: usize = 256;

/// The resource a filter applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    User,
    Role,
}

impl Resource {
    /// The resource's table.
    pub fn table(self) -> &'static str {
        match self {
            Self::User => "identity_user",
            Self::Role => "identity_role",
        }
    }

    pub(super) fn tag(self) -> &'static [u8] {
        match self {
            Self::User => b"users",
            Self::Role => b"roles",
        }
    }
}

/// The type of an attribute, which decides the operators and literals it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ty {
    Uuid,
    /// `exact`: case-sensitive; `lower`: a stored lowercased copy to compare on.
    Str {
        exact: bool,
        lower: Option<&'static str>,
    },
    Bool,
    Int,
    Time,
    ManagedBy,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Column {
    pub(super) table: &'static str,
    pub(super) name: &'static str,
    pub(super) ty: Ty,
}

/// A multi-valued attribute stored in a child table keyed by the parent's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Child {
    Emails,
    Phones,
    Members,
}

impl Child {
    pub(super) fn table(self) -> &'static str {
        match self {
            Self::Emails => "user_email",
            Self::Phones => "user_phone",
            Self::Members => "role_member",
        }
    }

    fn parent_key(self) -> &'static str {
        match self {
            Self::Emails | Self::Phones => "user_id",
            Self::Members => "role_id",
        }
    }

    fn parent(self) -> Resource {
        match self {
            Self::Emails | Self::Phones => Resource::User,
            Self::Members => Resource::Role,
        }
    }

    fn from_name(resource: Resource, name: &str) -> Option<Self> {
        match (resource, name) {
            (Resource::User, "emails") => Some(Self::Emails),
            (Resource::User, "phone_numbers") => Some(Self::Phones),
            (Resource::Role, "members") => Some(Self::Members),
            _ => None,
        }
    }

    /// A sub-attribute of one element.
    fn sub(self, name: &str) -> Option<Column> {
        let table = self.table();
        let (name, ty) = match (self, name) {
            (Self::Members, "user_id" | "value") => ("user_id", Ty::Uuid),
            (Self::Members, _) => return None,
            (_, "value") => (
                "value",
                Ty::Str {
                    exact: false,
                    lower: Some("value_lower"),
                },
            ),
            (_, "type") => (
                "type",
                Ty::Str {
                    exact: false,
                    lower: None,
                },
            ),
            (_, "primary") => ("is_primary", Ty::Bool),
            (_, "display") => (
                "display",
                Ty::Str {
                    exact: false,
                    lower: None,
                },
            ),
            _ => return None,
        };
        Some(Column { table, name, ty })
    }
}

pub(super) enum Attr {
    Single(Column),
    Multi(Child, Column),
}

const CI: Ty = Ty::Str {
    exact: false,
    lower: None,
};

fn single(resource: Resource, path: &str) -> Option<Column> {
    let table = resource.table();
    let (name, ty) = match (resource, path) {
        (_, "id") => ("id", Ty::Uuid),
        (_, "external_id") => (
            "external_id",
            Ty::Str {
                exact: true,
                lower: None,
            },
        ),
        (_, "managed_by") => ("managed_by", Ty::ManagedBy),
        (_, "version") => ("version", Ty::Int),
        (_, "create_time") => ("created_at", Ty::Time),
        (_, "update_time") => ("updated_at", Ty::Time),
        (Resource::User, "user_name") => (
            "user_name",
            Ty::Str {
                exact: false,
                lower: Some("user_name_lower"),
            },
        ),
        (Resource::User, "display_name") => ("display_name", CI),
        (Resource::User, "name.formatted") => ("name_formatted", CI),
        (Resource::User, "name.family_name") => ("name_family_name", CI),
        (Resource::User, "name.given_name") => ("name_given_name", CI),
        (Resource::User, "name.middle_name") => ("name_middle_name", CI),
        (Resource::User, "name.honorific_prefix") => ("name_honorific_prefix", CI),
        (Resource::User, "name.honorific_suffix") => ("name_honorific_suffix", CI),
        (Resource::User, "nick_name") => ("nick_name", CI),
        (Resource::User, "title") => ("title", CI),
        (Resource::User, "user_type") => ("user_type", CI),
        (Resource::User, "preferred_language") => ("preferred_language", CI),
        (Resource::User, "locale") => ("locale", CI),
        (Resource::User, "timezone") => ("timezone", CI),
        (Resource::User, "active") => ("active", Ty::Bool),
        (Resource::User, "enterprise.employee_number") => ("employee_number", CI),
        (Resource::User, "enterprise.cost_center") => ("cost_center", CI),
        (Resource::User, "enterprise.organization") => ("enterprise_organization", CI),
        (Resource::User, "enterprise.division") => ("division", CI),
        (Resource::User, "enterprise.department") => ("department", CI),
        (Resource::User, "enterprise.manager_id") => ("manager_id", CI),
        (Resource::User, "enterprise.manager_display_name") => ("manager_display_name", CI),
        (Resource::Role, "display_name") => (
            "display_name",
            Ty::Str {
                exact: false,
                lower: Some("display_name_lower"),
            },
        ),
        (Resource::Role, "description") => ("description", CI),
        _ => return None,
    };
    Some(Column { table, name, ty })
}

pub(super) fn resolve(resource: Resource, path: &str) -> CoreResult<Attr> {
    if let Some(column) = single(resource, path) {
        return Ok(Attr::Single(column));
    }
    if let Some((parent, sub)) = path.split_once('.')
        && let Some(child) = Child::from_name(resource, parent)
        && let Some(column) = child.sub(sub)
    {
        return Ok(Attr::Multi(child, column));
    }
    Err(CoreError::InvalidFilter(format!(
        "unknown attribute {path:?}"
    )))
}

pub(super) fn col(column: &Column) -> Expr {
    Expr::col((Alias::new(column.table), Alias::new(column.name)))
}

fn always(value: bool) -> Expr {
    Expr::cust(if value { "1 = 1" } else { "1 = 0" })
}

/// Escapes LIKE wildcards so `co`/`sw`/`ew` match the literal text (used with `ESCAPE '\'`).
pub fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Translates a filter over `resource` into a boolean expression on its table.
pub fn translate(resource: Resource, filter: &Filter) -> CoreResult<Expr> {
    let mut nodes = 0;
    check_shape(filter, 1, &mut nodes)?;
    Translator {
        resource,
        scope: None,
    }
    .filter(filter)
}

fn check_shape(filter: &Filter, depth: usize, nodes: &mut usize) -> CoreResult<()> {
    *nodes += 1;
    if depth > MAX_FILTER_DEPTH {
        return Err(CoreError::InvalidFilter(format!(
            "filter is nested deeper than {MAX_FILTER_DEPTH} levels"
        )));
    }
    if *nodes > MAX_FILTER_NODES {
        return Err(CoreError::InvalidFilter(format!(
            "filter has more than {MAX_FILTER_NODES} nodes"
        )));
    }
    match &filter.kind {
        Some(filter::Kind::And(list) | filter::Kind::Or(list)) => {
            for f in &list.filters {
                check_shape(f, depth + 1, nodes)?;
            }
        }
        Some(filter::Kind::Not(inner)) => check_shape(inner, depth + 1, nodes)?,
        Some(filter::Kind::ElementMatch(m)) => {
            if let Some(inner) = &m.filter {
                check_shape(inner, depth + 1, nodes)?;
            }
        }
        Some(filter::Kind::Comparison(_)) | None => {}
    }
    Ok(())
}

struct Translator {
    resource: Resource,
    /// Inside an element match: the child table whose sub-attributes paths name.
    scope: Option<Child>,
}

impl Translator {
    fn filter(&self, filter: &Filter) -> CoreResult<Expr> {
        match &filter.kind {
            None => Err(CoreError::InvalidFilter("empty filter node".into())),
            Some(filter::Kind::Comparison(c)) => self.comparison(c),
            Some(filter::Kind::And(list)) => self.list(&list.filters, true),
            Some(filter::Kind::Or(list)) => self.list(&list.filters, false),
            // SQL's NULL would make `not (title eq "x")` false for a user without a title;
            // RFC 7644 treats an absent attribute as simply not matching, so NOT must see false.
            Some(filter::Kind::Not(inner)) => {
                Ok(Expr::from(Func::coalesce([self.filter(inner)?, Expr::val(false)])).not())
            }
            Some(filter::Kind::ElementMatch(m)) => self.element_match(m),
        }
    }

    fn list(&self, filters: &[Filter], all: bool) -> CoreResult<Expr> {
        let mut iter = filters.iter();
        let Some(first) = iter.next() else {
            return Err(CoreError::InvalidFilter("empty and/or list".into()));
        };
        let mut expr = self.filter(first)?;
        for f in iter {
            let next = self.filter(f)?;
            expr = if all { expr.and(next) } else { expr.or(next) };
        }
        Ok(expr)
    }

    fn element_match(&self, m: &ElementMatch) -> CoreResult<Expr> {
        if self.scope.is_some() {
            return Err(CoreError::InvalidFilter(
                "element matches cannot be nested".into(),
            ));
        }
        let name = m.attribute.to_ascii_lowercase();
        let child = Child::from_name(self.resource, &name).ok_or_else(|| {
            CoreError::InvalidFilter(format!("{:?} is not a multi-valued attribute", m.attribute))
        })?;
        let inner = m
            .filter
            .as_ref()
            .ok_or_else(|| CoreError::InvalidFilter("element match without a filter".into()))?;
        let condition = Translator {
            resource: self.resource,
            scope: Some(child),
        }
        .filter(inner)?;
        Ok(Expr::exists(element_query(child, condition)))
    }

    fn comparison(&self, c: &Comparison) -> CoreResult<Expr> {
        let path = c.attribute.to_ascii_lowercase();
        let op = Operator::try_from(c.operator)
            .ok()
            .filter(|op| *op != Operator::Unspecified)
            .ok_or_else(|| CoreError::InvalidFilter(format!("missing operator on {path:?}")))?;
        if let Some(child) = self.scope {
            let column = child.sub(&path).ok_or_else(|| {
                CoreError::InvalidFilter(format!("unknown sub-attribute {path:?}"))
            })?;
            return compare(&column, &path, op, c.value.as_ref());
        }
        match resolve(self.resource, &path)? {
            Attr::Single(column) => compare(&column, &path, op, c.value.as_ref()),
            Attr::Multi(child, column) => multi(child, &column, &path, op, c.value.as_ref()),
        }
    }
}

/// `SELECT 1 FROM child WHERE child.parent_key = parent.id AND condition`.
fn element_query(child: Child, condition: Expr) -> SelectStatement {
    let parent = child.parent().table();
    Query::select()
        .expr(Expr::val(1))
        .from(Alias::new(child.table()))
        .and_where(
            Expr::col((Alias::new(child.table()), Alias::new(child.parent_key())))
                .equals((Alias::new(parent), Alias::new("id"))),
        )
        .and_where(condition)
        .to_owned()
}

/// A comparison on a multi-valued attribute: "some element satisfies it", except `ne` and
/// `eq null`, which mean "no element equals" / "no element has a value".
fn multi(
    child: Child,
    column: &Column,
    path: &str,
    op: Operator,
    value: Option<&FilterValue>,
) -> CoreResult<Expr> {
    let is_null = matches!(
        value.and_then(|v| v.kind.as_ref()),
        Some(filter_value::Kind::NullValue(_))
    );
    Ok(match op {
        Operator::Eq if is_null => Expr::not_exists(element_query(child, present(column))),
        Operator::Ne if is_null => Expr::exists(element_query(child, present(column))),
        Operator::Ne => {
            let eq = compare(column, path, Operator::Eq, value)?;
            Expr::not_exists(element_query(child, eq))
        }
        _ => Expr::exists(element_query(child, compare(column, path, op, value)?)),
    })
}

fn present(column: &Column) -> Expr {
    match column.ty {
        Ty::Str { .. } => col(column).is_not_null().and(col(column).ne("")),
        _ => col(column).is_not_null(),
    }
}

fn mismatch(path: &str, op: Operator, what: &str) -> CoreError {
    CoreError::InvalidFilter(format!(
        "operator {} on {path:?} needs {what}",
        op.as_str_name()
            .trim_start_matches("OPERATOR_")
            .to_ascii_lowercase()
    ))
}

fn unsupported(path: &str, op: Operator) -> CoreError {
    CoreError::InvalidFilter(format!(
        "operator {} is not supported on {path:?}",
        op.as_str_name()
            .trim_start_matches("OPERATOR_")
            .to_ascii_lowercase()
    ))
}

/// `lhs op rhs` for the ordering and equality operators.
fn ordered(lhs: Expr, op: Operator, rhs: Expr) -> Option<Expr> {
    Some(match op {
        Operator::Eq => lhs.eq(rhs),
        Operator::Ne => lhs.ne(rhs),
        Operator::Gt => lhs.gt(rhs),
        Operator::Ge => lhs.gte(rhs),
        Operator::Lt => lhs.lt(rhs),
        Operator::Le => lhs.lte(rhs),
        _ => return None,
    })
}

fn compare(
    column: &Column,
    path: &str,
    op: Operator,
    value: Option<&FilterValue>,
) -> CoreResult<Expr> {
    let kind = value.and_then(|v| v.kind.as_ref());
    if op == Operator::Pr {
        if kind.is_some() {
            return Err(CoreError::InvalidFilter(format!(
                "operator pr on {path:?} takes no value"
            )));
        }
        return Ok(present(column));
    }
    let Some(kind) = kind else {
        return Err(mismatch(path, op, "a value"));
    };
    if let filter_value::Kind::NullValue(_) = kind {
        return match op {
            Operator::Eq => Ok(present(column).not()),
            Operator::Ne => Ok(present(column)),
            _ => Err(unsupported(path, op)),
        };
    }
    let c = col(column);
    match column.ty {
        Ty::Str { exact, lower } => {
            let filter_value::Kind::StringValue(text) = kind else {
                return Err(mismatch(path, op, "a string"));
            };
            let (lhs, rhs) = match (exact, lower) {
                (true, _) => (c.clone(), text.clone()),
                (false, Some(lower)) => (
                    Expr::col((Alias::new(column.table), Alias::new(lower))),
                    text.to_lowercase(),
                ),
                (false, None) => (Func::lower(c.clone()).into(), text.to_lowercase()),
            };
            let like = |pattern: String| lhs.clone().like(LikeExpr::new(pattern).escape('\\'));
            // SQLite's LIKE ignores ASCII case, so case-exact attributes add a check built from
            // functions that compare exactly on every backend (replace, substr, length)
            let exact_check = |op: Operator| -> Option<Expr> {
                if !exact {
                    return None;
                }
                let length = |e: Expr| -> Expr { Func::cust("length").arg(e).into() };
                let value = Expr::val(rhs.clone());
                Some(match op {
                    Operator::Co => Expr::from(Func::cust("replace").args([
                        c.clone(),
                        value.clone(),
                        Expr::val(""),
                    ]))
                    .ne(c.clone())
                    .or(value.clone().eq("")),
                    Operator::Sw => Expr::from(Func::cust("substr").args([
                        c.clone(),
                        Expr::val(1),
                        length(value.clone()),
                    ]))
                    .eq(value),
                    _ => Expr::from(Func::cust("substr").args([
                        c.clone(),
                        length(c.clone()).sub(length(value.clone())).add(1),
                    ]))
                    .eq(value),
                })
            };
            let with_exact = |like: Expr, op: Operator| match exact_check(op) {
                Some(check) => like.and(check),
                None => like,
            };
            Ok(match op {
                Operator::Co => with_exact(like(format!("%{}%", escape_like(&rhs))), op),
                Operator::Sw => with_exact(like(format!("{}%", escape_like(&rhs))), op),
                Operator::Ew => with_exact(like(format!("%{}", escape_like(&rhs))), op),
                // an absent value is "not equal" to anything (SCIM: ne matches missing values)
                Operator::Ne => c.is_null().or(lhs.ne(rhs)),
                _ => ordered(lhs, op, Expr::val(rhs)).ok_or_else(|| unsupported(path, op))?,
            })
        }
        Ty::Uuid => {
            let filter_value::Kind::StringValue(text) = kind else {
                return Err(mismatch(path, op, "a string"));
            };
            match (Uuid::try_parse(text), op) {
                (Ok(id), _) => ordered(c, op, Expr::val(id)).ok_or_else(|| unsupported(path, op)),
                // no id is spelled that way: nothing equals it, everything differs from it
                (Err(_), Operator::Eq) => Ok(always(false)),
                (Err(_), Operator::Ne) => Ok(always(true)),
                (Err(_), Operator::Co | Operator::Sw | Operator::Ew) => Err(unsupported(path, op)),
                (Err(_), _) => Err(mismatch(path, op, "a UUID")),
            }
        }
        Ty::Bool => {
            let filter_value::Kind::BoolValue(b) = kind else {
                return Err(mismatch(path, op, "a boolean"));
            };
            match op {
                Operator::Eq => Ok(c.eq(*b)),
                Operator::Ne => Ok(c.ne(*b)),
                _ => Err(unsupported(path, op)),
            }
        }
        Ty::Int => {
            let n = match kind {
                filter_value::Kind::IntValue(n) => *n,
                filter_value::Kind::DoubleValue(d) if d.fract() == 0.0 && d.abs() < 9.0e15 => {
                    *d as i64
                }
                _ => return Err(mismatch(path, op, "an integer")),
            };
            ordered(c, op, Expr::val(n)).ok_or_else(|| unsupported(path, op))
        }
        Ty::Time => {
            let micros = match kind {
                filter_value::Kind::TimestampValue(ts) => crate::time::from_timestamp(ts),
                filter_value::Kind::StringValue(text) => chrono::DateTime::parse_from_rfc3339(text)
                    .map_err(|_| mismatch(path, op, "an RFC 3339 timestamp"))?
                    .timestamp_micros(),
                _ => return Err(mismatch(path, op, "a timestamp")),
            };
            ordered(c, op, Expr::val(micros)).ok_or_else(|| unsupported(path, op))
        }
        Ty::ManagedBy => {
            let value = match kind {
                filter_value::Kind::IntValue(n) => *n,
                filter_value::Kind::StringValue(text) => {
                    let upper = text.to_ascii_uppercase();
                    let name = if upper.starts_with("MANAGED_BY_") {
                        upper
                    } else {
                        format!("MANAGED_BY_{upper}")
                    };
                    ManagedBy::from_str_name(&name)
                        .ok_or_else(|| mismatch(path, op, "PLATFORM or SCIM"))?
                        as i64
                }
                _ => return Err(mismatch(path, op, "PLATFORM or SCIM")),
            };
            match op {
                Operator::Eq => Ok(c.eq(value)),
                Operator::Ne => Ok(c.ne(value)),
                _ => Err(unsupported(path, op)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(escape_like("plain"), "plain");
    }

    fn sql(filter: &Filter) -> String {
        Query::select()
            .expr(Expr::val(1))
            .from(Alias::new("identity_user"))
            .and_where(translate(Resource::User, filter).unwrap())
            .to_string(sea_orm::sea_query::SqliteQueryBuilder)
    }

    fn comparison(attribute: &str, operator: Operator, value: &str) -> Filter {
        Filter {
            kind: Some(filter::Kind::Comparison(Comparison {
                attribute: attribute.into(),
                operator: operator as i32,
                value: Some(FilterValue {
                    kind: Some(filter_value::Kind::StringValue(value.into())),
                }),
            })),
        }
    }

    #[test]
    fn or_inside_and_keeps_its_parentheses() {
        use identity_proto::identity::v1::FilterList;
        let both = Filter {
            kind: Some(filter::Kind::And(FilterList {
                filters: vec![
                    comparison("title", Operator::Ne, "x"),
                    comparison("user_name", Operator::Eq, "y"),
                ],
            })),
        };
        let text = sql(&both);
        assert!(
            text.contains(
                r#"("identity_user"."title" IS NULL OR LOWER("identity_user"."title") <> 'x') AND"#
            ),
            "{text}"
        );
        let negated = Filter {
            kind: Some(filter::Kind::Not(Box::new(both))),
        };
        // the whole conjunction is negated, and an unknown (NULL) result counts as no match
        assert!(
            sql(&negated).contains(r#"NOT COALESCE(("identity_user"."title" IS NULL"#)
                && sql(&negated).ends_with(r#"= 'y', FALSE)"#),
            "{}",
            sql(&negated)
        );
    }
}
