//! PATCH paths (RFC 7644 §3.5.2, Figure 1): `PATH = attrPath / valuePath [subAttr]`, e.g.
//! `name.givenName`, `emails[type eq "work"].value`, `members[value eq "id"]`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`. Every failure is
//! `400 invalidPath`.

use std::fmt;

use crate::error::{ScimError, ScimResult};
use crate::filter::{AttrPath, FilterExpr, Parser, is_attr_name, path_from_lexeme};

/// A parsed PATCH path.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute, with the trailing sub-attribute (`name.givenName`, or `value` in
    /// `emails[…].value`).
    pub path: AttrPath,
    /// The valuePath filter selecting elements of a multi-valued attribute.
    pub filter: Option<FilterExpr>,
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(filter) = &self.filter else {
            return write!(f, "{}", self.path);
        };
        if let Some(schema) = &self.path.schema {
            write!(f, "{schema}:")?;
        }
        write!(f, "{}[{filter}]", self.path.attribute)?;
        if let Some(sub) = &self.path.sub_attribute {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

/// Parses a PATCH `path`.
pub fn parse_patch_path(input: &str) -> ScimResult<PatchPath> {
    let trimmed = input.trim();
    let invalid = |why: &str| ScimError::invalid_path(format!("invalid path {trimmed:?}: {why}"));
    if trimmed.len() > crate::filter::MAX_FILTER_LEN {
        return Err(invalid("too long"));
    }
    let mut parser = Parser::new(trimmed, ScimError::invalid_path);
    let lexeme = parser.path_lexeme();
    if lexeme.is_empty() {
        return Err(invalid("expected an attribute name"));
    }
    let mut path = path_from_lexeme(lexeme).map_err(ScimError::invalid_path)?;
    let mut filter = None;
    if parser.peek() == Some(b'[') {
        if path.sub_attribute.is_some() {
            return Err(invalid(
                "a value filter applies to an attribute, not a sub-attribute",
            ));
        }
        filter = Some(parser.parse_bracketed()?);
        if parser.eat(b'.') {
            let sub = parser.path_lexeme();
            if !is_attr_name(sub) {
                return Err(invalid("expected a sub-attribute name after ']'"));
            }
            path.sub_attribute = Some(sub.to_owned());
        }
    }
    if !parser.at_end() {
        return Err(invalid("unexpected trailing input"));
    }
    Ok(PatchPath { path, filter })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;
    use crate::schema::ENTERPRISE_USER_SCHEMA;

    // RFC 7644 §3.5.2 path examples.
    #[test]
    fn parses_every_path_form() {
        let p = parse_patch_path("name.givenName").unwrap();
        assert_eq!(p.path, AttrPath::sub("name", "givenName"));
        assert!(p.filter.is_none());

        let p = parse_patch_path(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(p.path, AttrPath::sub("emails", "value"));
        assert_eq!(p.filter.unwrap().to_string(), r#"type eq "work""#);

        let p = parse_patch_path(r#"members[value eq "2819c223"]"#).unwrap();
        assert_eq!(p.path, AttrPath::simple("members"));
        assert!(p.filter.is_some());

        let p = parse_patch_path(&format!("{ENTERPRISE_USER_SCHEMA}:manager")).unwrap();
        assert_eq!(p.path.schema.as_deref(), Some(ENTERPRISE_USER_SCHEMA));
        assert_eq!(p.path.attribute, "manager");

        let p = parse_patch_path(ENTERPRISE_USER_SCHEMA).unwrap();
        assert_eq!(p.path, AttrPath::simple(ENTERPRISE_USER_SCHEMA));

        let p = parse_patch_path(r#"addresses[type eq "work" and primary eq true].streetAddress"#)
            .unwrap();
        assert_eq!(
            p.to_string(),
            r#"addresses[type eq "work" and primary eq true].streetAddress"#
        );
    }

    #[test]
    fn rejects_bad_paths() {
        for bad in [
            "",
            "emails[",
            "emails[type eq \"work\"",
            "emails[type eq]",
            "emails.value[type eq \"work\"]",
            "emails[type eq \"work\"].",
            "emails[type eq \"work\"].value.x",
            "emails[type eq \"work\"]x",
            "a.b.c",
            "name givenName",
            "1name",
        ] {
            let error = parse_patch_path(bad).expect_err(bad);
            assert_eq!(error.scim_type, Some(ScimType::InvalidPath), "{bad}");
        }
    }
}
