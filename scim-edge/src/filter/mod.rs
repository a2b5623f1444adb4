//! SCIM filters (RFC 7644 §3.4.2.2): the AST, its parser, its in-memory evaluator and its
//! translation to the core's structured `Filter`.
//!
//! - [`parse_filter`] implements the ABNF of RFC 7644 Figure 1 with case-insensitive operators
//!   and names, `and` binding tighter than `or`, `not (…)`, valuePaths and URN-qualified paths.
//!   Input is bounded: at most [`MAX_FILTER_LEN`] bytes and [`MAX_FILTER_DEPTH`] nested groups
//!   (parentheses, `not (…)` and `[…]` each count one); beyond that the filter is refused with
//!   `invalidFilter` so a hostile filter cannot exhaust the stack.
//! - `Display` prints a canonical form (lowercase operators, minimal parentheses, JSON literals)
//!   that parses back to the same AST.
//! - [`matches`] evaluates a filter against a resource or one element of a multi-valued
//!   attribute (PATCH valuePaths need it); [`matches_resource`] and [`matches_element`] take
//!   `caseExact` from the schema.
//! - [`to_core_filter`] and [`core_sort_path`] map SCIM names to the core's attribute paths and
//!   refuse what the core cannot evaluate, so the core never sees a SCIM name.

mod eval;
mod parser;
mod to_core;

use std::fmt;

pub use eval::{matches, matches_element, matches_resource};
pub(crate) use parser::{Parser, is_attr_name, path_from_lexeme};
pub use parser::{parse_attr_path, parse_filter};
pub use to_core::{core_sort_path, to_core_filter};

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest nesting of groups (parentheses, `not (…)`, valuePath brackets) accepted.
pub const MAX_FILTER_DEPTH: usize = 16;

/// An attribute path: `[URN ":"] attribute ["." subAttribute]` (RFC 7644 §3.10).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN prefix, as written.
    pub schema: Option<String>,
    /// The attribute name, as written (compare case-insensitively).
    pub attribute: String,
    /// The sub-attribute name, as written.
    pub sub_attribute: Option<String>,
}

impl AttrPath {
    /// A path without schema prefix or sub-attribute.
    pub fn simple(attribute: impl Into<String>) -> Self {
        Self {
            schema: None,
            attribute: attribute.into(),
            sub_attribute: None,
        }
    }

    /// A path `attribute.sub_attribute`.
    pub fn sub(attribute: impl Into<String>, sub_attribute: impl Into<String>) -> Self {
        Self {
            schema: None,
            attribute: attribute.into(),
            sub_attribute: Some(sub_attribute.into()),
        }
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(schema) = &self.schema {
            write!(f, "{schema}:")?;
        }
        f.write_str(&self.attribute)?;
        if let Some(sub) = &self.sub_attribute {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// Comparison operators (RFC 7644 Table 3), `pr` excluded (see [`FilterExpr::Present`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Contains.
    Co,
    /// Starts with.
    Sw,
    /// Ends with.
    Ew,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Ge,
    /// Less than.
    Lt,
    /// Less than or equal.
    Le,
}

impl CompareOp {
    /// Every operator, for tests and generators.
    pub const ALL: [CompareOp; 9] = [
        Self::Eq,
        Self::Ne,
        Self::Co,
        Self::Sw,
        Self::Ew,
        Self::Gt,
        Self::Ge,
        Self::Lt,
        Self::Le,
    ];

    /// The lowercase keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }

    /// Parses a keyword case-insensitively.
    pub fn from_keyword(word: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(word))
    }

    /// Whether the operator orders values (`gt`, `ge`, `lt`, `le`).
    pub fn is_ordering(self) -> bool {
        matches!(self, Self::Gt | Self::Ge | Self::Lt | Self::Le)
    }

    /// Whether the operator is a substring operator (`co`, `sw`, `ew`).
    pub fn is_substring(self) -> bool {
        matches!(self, Self::Co | Self::Sw | Self::Ew)
    }
}

/// A comparison literal (`compValue` of RFC 7644 Figure 1). DateTimes are strings.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A JSON number.
    Number(serde_json::Number),
    /// A JSON string (escapes decoded).
    String(String),
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Number(n) => write!(f, "{n}"),
            Self::String(s) => {
                let quoted = serde_json::to_string(s).map_err(|_| fmt::Error)?;
                f.write_str(&quoted)
            }
        }
    }
}

/// A parsed SCIM filter.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterExpr {
    /// `path op value`.
    Compare {
        /// The attribute compared.
        path: AttrPath,
        /// The operator.
        op: CompareOp,
        /// The literal.
        value: CompValue,
    },
    /// `path pr`.
    Present(AttrPath),
    /// `left and right`.
    And(Box<FilterExpr>, Box<FilterExpr>),
    /// `left or right`.
    Or(Box<FilterExpr>, Box<FilterExpr>),
    /// `not (inner)`.
    Not(Box<FilterExpr>),
    /// `path[filter]`: an element of the multi-valued (or complex) attribute `path` matches
    /// `filter`, whose paths are relative to the element.
    ValuePath {
        /// The attribute whose elements are tested (no sub-attribute).
        path: AttrPath,
        /// The condition on one element.
        filter: Box<FilterExpr>,
    },
}

impl FilterExpr {
    /// `left and right`.
    pub fn and(left: FilterExpr, right: FilterExpr) -> Self {
        Self::And(Box::new(left), Box::new(right))
    }

    /// `left or right`.
    pub fn or(left: FilterExpr, right: FilterExpr) -> Self {
        Self::Or(Box::new(left), Box::new(right))
    }

    /// Binding strength when printing: or < and < everything else.
    fn precedence(&self) -> u8 {
        match self {
            Self::Or(..) => 0,
            Self::And(..) => 1,
            _ => 2,
        }
    }

    /// Writes `child`, parenthesised when it binds weaker than `min` requires.
    fn write_child(f: &mut fmt::Formatter<'_>, child: &FilterExpr, min: u8) -> fmt::Result {
        if child.precedence() < min {
            write!(f, "({child})")
        } else {
            write!(f, "{child}")
        }
    }
}

/// The canonical form: lowercase keywords, single spaces, JSON literals and the fewest
/// parentheses that keep the tree's shape (the parser folds `a and b and c` to the left, so a
/// right operand of the same operator is parenthesised).
impl fmt::Display for FilterExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Compare { path, op, value } => write!(f, "{path} {} {value}", op.as_str()),
            Self::Present(path) => write!(f, "{path} pr"),
            Self::And(left, right) => {
                Self::write_child(f, left, 1)?;
                f.write_str(" and ")?;
                Self::write_child(f, right, 2)
            }
            Self::Or(left, right) => {
                Self::write_child(f, left, 0)?;
                f.write_str(" or ")?;
                Self::write_child(f, right, 1)
            }
            Self::Not(inner) => write!(f, "not ({inner})"),
            Self::ValuePath { path, filter } => write!(f, "{path}[{filter}]"),
        }
    }
}
