//! The identity-provider deviations from RFC 7643/7644 that the edge accepts, named in one place.
//!
//! Okta and Microsoft Entra ID do not always send what the RFC says. Each deviation we accept is
//! a [`Quirk`]: the code that tolerates it calls [`Quirk::seen`], which logs at debug level and
//! counts it in the `scim.normalizations` metric (attribute `normalization`), so operators can
//! see which provider sent what. Anything not listed here that the edge does not understand is
//! still an error.

use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;
use std::sync::LazyLock;

/// One accepted deviation from the RFC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Quirk {
    /// `Authorization: <token>` without the `Bearer` scheme: Okta's header-auth apps send the
    /// configured header value as is, and admins often paste only the token.
    BareAuthorizationToken,
    /// `"op": "Replace"`: Entra capitalises PATCH operation names (RFC 7644 uses lowercase).
    CapitalisedPatchOp,
    /// `"True"` / `"False"` strings for booleans: Entra, and Okta for custom attributes.
    StringBoolean,
    /// A number where the schema says string (employee numbers from HR-driven profiles).
    NumberForString,
    /// A path-less PATCH value keyed by attribute paths (`name.givenName`, extension
    /// `urn:…:User:department`) rather than by top-level attributes: Entra.
    AttributePathKeysInValue,
    /// A bare string where a complex value is expected (`manager: "id"`, `members: ["id"]`):
    /// Entra.
    BareStringForComplexValue,
    /// `Remove` on `members` with a `value` array naming the members to drop (RFC 7644 removes
    /// the whole attribute when no filter is given): Entra's default.
    RemoveListedValues,
    /// `Add` on `emails[type eq "work"].value` when no element matches: Entra expects the
    /// element the filter describes to be created.
    AddCreatesFilteredElement,
    /// A read-only attribute echoed unchanged (`id` inside Okta's group rename value).
    ReadOnlyEchoed,
    /// `emails[type eq "work"].value eq "x"`: Entra puts the compared sub-attribute after the
    /// value filter, which RFC 7644's grammar does not allow; it means
    /// `emails[type eq "work" and value eq "x"]`.
    SubAttributeAfterValueFilter,
    /// A `schemas` key inside an extension object (`"urn:…:enterprise:2.0:User": {"schemas":
    /// […], "department": …}`): some clients and conformance checkers send the extension as if
    /// it were a resource; RFC 7643 puts `schemas` at the top level only. Ignored.
    SchemasInsideExtension,
}

impl Quirk {
    /// Every quirk, for the tests that keep names unique.
    #[cfg(test)]
    pub(crate) const ALL: [Quirk; 11] = [
        Quirk::BareAuthorizationToken,
        Quirk::CapitalisedPatchOp,
        Quirk::StringBoolean,
        Quirk::NumberForString,
        Quirk::AttributePathKeysInValue,
        Quirk::BareStringForComplexValue,
        Quirk::RemoveListedValues,
        Quirk::AddCreatesFilteredElement,
        Quirk::ReadOnlyEchoed,
        Quirk::SubAttributeAfterValueFilter,
        Quirk::SchemasInsideExtension,
    ];

    /// The stable name used in logs and as the metric attribute.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Quirk::BareAuthorizationToken => "bare_authorization_token",
            Quirk::CapitalisedPatchOp => "capitalised_patch_op",
            Quirk::StringBoolean => "string_boolean",
            Quirk::NumberForString => "number_for_string",
            Quirk::AttributePathKeysInValue => "attribute_path_keys_in_value",
            Quirk::BareStringForComplexValue => "bare_string_for_complex_value",
            Quirk::RemoveListedValues => "remove_listed_values",
            Quirk::AddCreatesFilteredElement => "add_creates_filtered_element",
            Quirk::ReadOnlyEchoed => "read_only_echoed",
            Quirk::SubAttributeAfterValueFilter => "sub_attribute_after_value_filter",
            Quirk::SchemasInsideExtension => "schemas_inside_extension",
        }
    }

    /// Records that a request relied on this quirk.
    pub(crate) fn seen(self) {
        tracing::debug!(
            normalization = self.name(),
            "accepted a provider deviation from the RFC"
        );
        NORMALIZATIONS.add(1, &[KeyValue::new("normalization", self.name())]);
    }
}

/// A no-op until a meter provider is installed, so the patch engine stays a pure function in
/// unit tests.
static NORMALIZATIONS: LazyLock<Counter<u64>> = LazyLock::new(|| {
    opentelemetry::global::meter("scim-edge")
        .u64_counter("scim.normalizations")
        .with_description("SCIM requests that relied on an accepted identity-provider deviation")
        .build()
});

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_snake_case() {
        let names: HashSet<_> = Quirk::ALL.iter().map(|quirk| quirk.name()).collect();
        assert_eq!(names.len(), Quirk::ALL.len());
        assert!(
            names
                .iter()
                .all(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        );
    }
}
