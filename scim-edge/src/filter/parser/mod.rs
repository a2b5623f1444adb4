//! A recursive-descent parser for the filter grammar of RFC 7644 §3.4.2.2 (Figure 1), also
//! used by the PATCH path parser (RFC 7644 §3.5.2) and for `attributes` lists.
//!
//! Recursion happens only when entering a group (`(…)`, `not (…)`, `[…]`), and the group depth
//! is bounded by [`MAX_FILTER_DEPTH`], so stack use is bounded whatever the input. `and`/`or`
//! chains are folded iteratively to the left.

use crate::error::{ScimError, ScimResult};
use crate::schema;

use super::{AttrPath, CompValue, CompareOp, FilterExpr, MAX_FILTER_DEPTH, MAX_FILTER_LEN};

/// Parses a SCIM filter (RFC 7644 §3.4.2.2). Every failure is `400 invalidFilter` with the
/// byte position in the detail.
pub fn parse_filter(input: &str) -> ScimResult<FilterExpr> {
    if input.len() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_filter(format!(
            "filter is longer than {MAX_FILTER_LEN} bytes"
        )));
    }
    let mut parser = Parser::new(input, ScimError::invalid_filter);
    parser.skip_ws();
    if parser.at_end() {
        return Err(ScimError::invalid_filter("filter is empty"));
    }
    let expr = parser.parse_or(false)?;
    parser.skip_ws();
    if !parser.at_end() {
        return Err(parser.error("unexpected input"));
    }
    Ok(expr)
}

/// Parses a bare attribute path (`attributes` lists, `sortBy`): `[URN ":"] name ["." sub]`.
/// Failures are `400 invalidPath`.
pub fn parse_attr_path(input: &str) -> ScimResult<AttrPath> {
    let trimmed = input.trim();
    let mut parser = Parser::new(trimmed, ScimError::invalid_path);
    let lexeme = parser.path_lexeme();
    if lexeme.is_empty() || !parser.at_end() {
        return Err(ScimError::invalid_path(format!(
            "invalid attribute path {trimmed:?}"
        )));
    }
    path_from_lexeme(lexeme).map_err(ScimError::invalid_path)
}

/// Parser state over one input string.
#[derive(Debug)]
pub(crate) struct Parser<'a> {
    input: &'a str,
    pos: usize,
    depth: usize,
    make_error: fn(String) -> ScimError,
}

impl<'a> Parser<'a> {
    /// A parser whose failures are built with `make_error` (invalidFilter or invalidPath).
    pub(crate) fn new(input: &'a str, make_error: fn(String) -> ScimError) -> Self {
        Self {
            input,
            pos: 0,
            depth: 0,
            make_error,
        }
    }

    pub(crate) fn error(&self, what: &str) -> ScimError {
        (self.make_error)(format!("{what} at position {}", self.pos))
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.input.len()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.input.as_bytes().get(self.pos).copied()
    }

    pub(crate) fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, what: &str) -> ScimResult<()> {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected {what}")))
        }
    }

    fn enter(&mut self) -> ScimResult<()> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err((self.make_error)(format!(
                "filter nests deeper than {MAX_FILTER_DEPTH} levels"
            )));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// The longest run of characters that can form an attribute path (URN included).
    pub(crate) fn path_lexeme(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(is_path_byte) {
            self.pos += 1;
        }
        &self.input[start..self.pos]
    }

    /// Consumes `byte` if it is next.
    pub(crate) fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// At `[`: parses `[valFilter]` (RFC 7644 §3.5.2 valuePath) and returns the inner filter.
    pub(crate) fn parse_bracketed(&mut self) -> ScimResult<FilterExpr> {
        self.expect(b'[', "'['")?;
        self.enter()?;
        let inner = self.parse_or(true)?;
        self.expect(b']', "']'")?;
        self.leave();
        Ok(inner)
    }

    /// Whether the keyword `word` (case-insensitive) starts here and ends at a boundary.
    fn at_keyword(&self, word: &str) -> bool {
        let rest = &self.input.as_bytes()[self.pos..];
        rest.len() >= word.len()
            && rest[..word.len()].eq_ignore_ascii_case(word.as_bytes())
            && rest.get(word.len()).is_none_or(|b| !is_name_byte(*b))
    }

    /// `filter = or-chain of and-chains`; `in_value_path` forbids nested valuePaths.
    pub(crate) fn parse_or(&mut self, in_value_path: bool) -> ScimResult<FilterExpr> {
        let mut left = self.parse_and(in_value_path)?;
        loop {
            self.skip_ws();
            if !self.at_keyword("or") {
                return Ok(left);
            }
            self.pos += 2;
            let right = self.parse_and(in_value_path)?;
            left = FilterExpr::or(left, right);
        }
    }

    fn parse_and(&mut self, in_value_path: bool) -> ScimResult<FilterExpr> {
        let mut left = self.parse_atom(in_value_path)?;
        loop {
            self.skip_ws();
            if !self.at_keyword("and") {
                return Ok(left);
            }
            self.pos += 3;
            let right = self.parse_atom(in_value_path)?;
            left = FilterExpr::and(left, right);
        }
    }

    fn parse_group(&mut self, in_value_path: bool) -> ScimResult<FilterExpr> {
        self.enter()?;
        let inner = self.parse_or(in_value_path)?;
        self.expect(b')', "')'")?;
        self.leave();
        Ok(inner)
    }

    fn parse_atom(&mut self, in_value_path: bool) -> ScimResult<FilterExpr> {
        self.skip_ws();
        if self.peek() == Some(b'(') {
            self.pos += 1;
            return self.parse_group(in_value_path);
        }
        if self.at_keyword("not") {
            let save = self.pos;
            self.pos += 3;
            self.skip_ws();
            if self.peek() == Some(b'(') {
                self.pos += 1;
                let inner = self.parse_group(in_value_path)?;
                return Ok(FilterExpr::Not(Box::new(inner)));
            }
            // An attribute that happens to be called "not".
            self.pos = save;
        }
        let start = self.pos;
        let lexeme = self.path_lexeme();
        if lexeme.is_empty() {
            return Err(self.error("expected an attribute path"));
        }
        let path = path_from_lexeme(lexeme)
            .map_err(|detail| (self.make_error)(format!("{detail} at position {start}")))?;
        if self.peek() == Some(b'[') {
            if in_value_path {
                return Err(self.error("nested value filters are not allowed"));
            }
            if path.sub_attribute.is_some() {
                return Err(
                    self.error("a value filter applies to an attribute, not a sub-attribute")
                );
            }
            self.pos += 1;
            self.enter()?;
            let inner = self.parse_or(true)?;
            self.expect(b']', "']'")?;
            self.leave();
            let mut filter = inner;
            if self.eat(b'.') {
                // Entra: `emails[type eq "work"].value eq "x"` means
                // `emails[type eq "work" and value eq "x"]`
                let start = self.pos;
                let sub = self.path_lexeme();
                if !is_attr_name(sub) {
                    self.pos = start;
                    return Err(self.error("expected a sub-attribute after ']. '"));
                }
                let sub_path = AttrPath {
                    schema: None,
                    attribute: sub.to_owned(),
                    sub_attribute: None,
                };
                let condition = self.parse_attr_exp(sub_path)?;
                crate::quirks::Quirk::SubAttributeAfterValueFilter.seen();
                filter = FilterExpr::And(Box::new(filter), Box::new(condition));
            }
            return Ok(FilterExpr::ValuePath {
                path,
                filter: Box::new(filter),
            });
        }
        self.parse_attr_exp(path)
    }

    fn parse_attr_exp(&mut self, path: AttrPath) -> ScimResult<FilterExpr> {
        let before = self.pos;
        self.skip_ws();
        if self.pos == before {
            return Err(self.error("expected a space and an operator"));
        }
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        let word = &self.input[start..self.pos];
        if word.eq_ignore_ascii_case("pr") {
            return Ok(FilterExpr::Present(path));
        }
        let Some(op) = CompareOp::from_keyword(word) else {
            self.pos = start;
            return Err(self.error("expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)"));
        };
        self.skip_ws();
        let value = self.parse_value()?;
        Ok(FilterExpr::Compare { path, op, value })
    }

    fn parse_value(&mut self) -> ScimResult<CompValue> {
        match self.peek() {
            Some(b'"') => self.parse_string().map(CompValue::String),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                while self.peek().is_some_and(|b| {
                    b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E')
                }) {
                    self.pos += 1;
                }
                parse_number(&self.input[start..self.pos])
                    .map(CompValue::Number)
                    .ok_or_else(|| {
                        self.pos = start;
                        self.error("invalid number")
                    })
            }
            _ => {
                // ABNF literals are case-insensitive (RFC 5234 §2.3).
                for (word, value) in [
                    ("true", CompValue::Bool(true)),
                    ("false", CompValue::Bool(false)),
                    ("null", CompValue::Null),
                ] {
                    if self.at_keyword(word) {
                        self.pos += word.len();
                        return Ok(value);
                    }
                }
                Err(self.error("expected a value (string, number, true, false or null)"))
            }
        }
    }

    /// A JSON string literal, escapes decoded by serde_json.
    fn parse_string(&mut self) -> ScimResult<String> {
        let start = self.pos;
        let bytes = self.input.as_bytes();
        let mut index = start + 1;
        loop {
            match bytes.get(index) {
                None => {
                    self.pos = start;
                    return Err(self.error("unterminated string"));
                }
                Some(b'\\') => index += 2,
                Some(b'"') => break,
                Some(_) => index += 1,
            }
        }
        let literal = &self.input[start..=index];
        match serde_json::from_str::<String>(literal) {
            Ok(value) => {
                self.pos = index + 1;
                Ok(value)
            }
            Err(_) => Err(self.error("invalid string literal")),
        }
    }
}

/// A JSON number (RFC 8259 §6). Decimals go through Rust's correctly rounded `f64` parser so
/// that printing and re-parsing gives the same value.
fn parse_number(text: &str) -> Option<serde_json::Number> {
    // Validate the JSON grammar (no leading `+`, no `.5`, no `1.`) before converting.
    serde_json::from_str::<serde_json::Number>(text).ok()?;
    if let Ok(n) = text.parse::<i64>() {
        return Some(n.into());
    }
    if let Ok(n) = text.parse::<u64>() {
        return Some(n.into());
    }
    text.parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'$')
}

fn is_path_byte(b: u8) -> bool {
    is_name_byte(b) || matches!(b, b'.' | b':' | b'+' | b'%')
}

/// `ATTRNAME = ALPHA *(nameChar)` (RFC 7643 §2.1), plus the reserved `$ref`.
pub(crate) fn is_attr_name(name: &str) -> bool {
    if name == "$ref" {
        return true;
    }
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Splits `[URN ":"] name ["." sub]`. A known schema URN prefix is matched whole (its version
/// contains dots); an unknown URN ends at its last colon. A lexeme that is exactly a known URN
/// becomes an attribute named by the URN: that is the key of an extension object in a
/// resource, which PATCH may target as a whole.
pub(crate) fn path_from_lexeme(lexeme: &str) -> Result<AttrPath, String> {
    let invalid = || format!("invalid attribute path {lexeme:?}");
    let (schema, rest) = if crate::resource::is_urn(lexeme) {
        if schema::is_known_schema(lexeme) {
            return Ok(AttrPath::simple(lexeme));
        }
        let known = schema::ALL_SCHEMAS.iter().find(|s| {
            lexeme.len() > s.id.len() + 1
                && lexeme.as_bytes()[..s.id.len()].eq_ignore_ascii_case(s.id.as_bytes())
                && lexeme.as_bytes()[s.id.len()] == b':'
        });
        let split = match known {
            Some(s) => s.id.len(),
            None => lexeme.rfind(':').ok_or_else(invalid)?,
        };
        (Some(lexeme[..split].to_owned()), &lexeme[split + 1..])
    } else {
        (None, lexeme)
    };
    let mut parts = rest.split('.');
    let attribute = parts.next().unwrap_or_default();
    let sub_attribute = parts.next();
    if parts.next().is_some()
        || !is_attr_name(attribute)
        || sub_attribute.is_some_and(|sub| !is_attr_name(sub))
    {
        return Err(invalid());
    }
    Ok(AttrPath {
        schema,
        attribute: attribute.to_owned(),
        sub_attribute: sub_attribute.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests;
