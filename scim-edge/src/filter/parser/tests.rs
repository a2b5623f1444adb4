use super::*;
use crate::error::ScimType;
use crate::schema::ENTERPRISE_USER_SCHEMA;
use proptest::prelude::*;

fn cmp(path: AttrPath, op: CompareOp, value: CompValue) -> FilterExpr {
    FilterExpr::Compare { path, op, value }
}
fn s(value: &str) -> CompValue {
    CompValue::String(value.to_owned())
}
fn assert_invalid(input: &str) {
    let error = parse_filter(input).expect_err(input);
    assert_eq!(error.scim_type, Some(ScimType::InvalidFilter), "{input}");
    assert_eq!(error.status.as_u16(), 400);
}

// RFC 7644 §3.4.2.2: attribute operators, case-insensitive names and operators.
#[test]
fn parses_comparisons_case_insensitively() {
    let expr = parse_filter(r#"userName Eq "bjensen""#).unwrap();
    assert_eq!(
        expr,
        cmp(AttrPath::simple("userName"), CompareOp::Eq, s("bjensen"))
    );
    for op in CompareOp::ALL {
        let upper = op.as_str().to_uppercase();
        let expr = parse_filter(&format!(r#"title {upper} "x""#)).unwrap();
        assert_eq!(expr, cmp(AttrPath::simple("title"), op, s("x")));
    }
    assert_eq!(
        parse_filter("title PR").unwrap(),
        FilterExpr::Present(AttrPath::simple("title"))
    );
    assert_eq!(
        parse_filter(r#"name.familyName co "O'Malley""#).unwrap(),
        cmp(
            AttrPath::sub("name", "familyName"),
            CompareOp::Co,
            s("O'Malley")
        )
    );
}

// RFC 7644 Figure 1: compValue = false / null / true / number / string.
#[test]
fn parses_every_literal() {
    assert_eq!(
        parse_filter("active eq TRUE").unwrap(),
        cmp(
            AttrPath::simple("active"),
            CompareOp::Eq,
            CompValue::Bool(true)
        )
    );
    assert_eq!(
        parse_filter("active ne false").unwrap(),
        cmp(
            AttrPath::simple("active"),
            CompareOp::Ne,
            CompValue::Bool(false)
        )
    );
    assert_eq!(
        parse_filter("title eq null").unwrap(),
        cmp(AttrPath::simple("title"), CompareOp::Eq, CompValue::Null)
    );
    let expr = parse_filter("x gt -12.5e3").unwrap();
    let FilterExpr::Compare {
        value: CompValue::Number(n),
        ..
    } = expr
    else {
        panic!("not a number")
    };
    assert_eq!(n.as_f64(), Some(-12500.0));
    assert_eq!(
        parse_filter(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#).unwrap(),
        cmp(
            AttrPath::sub("meta", "lastModified"),
            CompareOp::Gt,
            s("2011-05-13T04:42:34Z")
        )
    );
    // JSON escapes, including unicode.
    assert_eq!(
        parse_filter(r#"displayName eq "a\"b\\c\u00e9\n""#).unwrap(),
        cmp(
            AttrPath::simple("displayName"),
            CompareOp::Eq,
            s("a\"b\\c\u{e9}\n")
        )
    );
}

// RFC 7644 §3.4.2.2: "and" binds tighter than "or"; parentheses and "not".
#[test]
fn precedence_and_grouping() {
    let a = FilterExpr::Present(AttrPath::simple("a"));
    let b = FilterExpr::Present(AttrPath::simple("b"));
    let c = FilterExpr::Present(AttrPath::simple("c"));
    assert_eq!(
        parse_filter("a pr or b pr and c pr").unwrap(),
        FilterExpr::or(a.clone(), FilterExpr::and(b.clone(), c.clone()))
    );
    assert_eq!(
        parse_filter("(a pr or b pr) AND c pr").unwrap(),
        FilterExpr::and(FilterExpr::or(a.clone(), b.clone()), c.clone())
    );
    assert_eq!(
        parse_filter("a pr and not (b pr or c pr)").unwrap(),
        FilterExpr::and(
            a.clone(),
            FilterExpr::Not(Box::new(FilterExpr::or(b.clone(), c.clone())))
        )
    );
    assert_eq!(
        parse_filter("NOT(a pr)").unwrap(),
        FilterExpr::Not(Box::new(a.clone()))
    );
    // Chains fold to the left.
    assert_eq!(
        parse_filter("a pr and b pr and c pr").unwrap(),
        FilterExpr::and(FilterExpr::and(a, b), c)
    );
}

// RFC 7644 §3.4.2.2 valuePath, e.g. emails[type eq "work" and value co "@example.com"].
#[test]
fn parses_value_paths() {
    let expr = parse_filter(
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp"]"#,
    )
    .unwrap();
    let FilterExpr::Or(left, right) = expr else {
        panic!("not an or")
    };
    assert_eq!(
        *left,
        FilterExpr::ValuePath {
            path: AttrPath::simple("emails"),
            filter: Box::new(FilterExpr::and(
                cmp(AttrPath::simple("type"), CompareOp::Eq, s("work")),
                cmp(AttrPath::simple("value"), CompareOp::Co, s("@example.com"))
            )),
        }
    );
    assert!(matches!(*right, FilterExpr::ValuePath { .. }));
    assert_invalid(r#"emails[type[value eq "x"]]"#);
    assert_invalid(r#"emails.value[type eq "x"]"#);
    assert_invalid(r#"emails[type eq "x""#);
}

// RFC 7644 §3.10: URN-qualified attribute paths.
#[test]
fn sub_attribute_after_a_value_filter_joins_the_filter() {
    let parsed = parse_filter(r#"emails[type eq "work"].value eq "a@b.c""#).unwrap();
    let expected = parse_filter(r#"emails[type eq "work" and value eq "a@b.c"]"#).unwrap();
    assert_eq!(parsed, expected);
    assert_invalid(r#"emails[type eq "work"]. eq "x""#);
    assert_invalid(r#"emails[type eq "work"].value"#);
}

#[test]
fn parses_urn_paths() {
    let expr = parse_filter(&format!(
        r#"{ENTERPRISE_USER_SCHEMA}:employeeNumber eq "1""#
    ))
    .unwrap();
    assert_eq!(
        expr,
        cmp(
            AttrPath {
                schema: Some(ENTERPRISE_USER_SCHEMA.to_owned()),
                attribute: "employeeNumber".into(),
                sub_attribute: None,
            },
            CompareOp::Eq,
            s("1")
        )
    );
    let expr = parse_filter(&format!("{ENTERPRISE_USER_SCHEMA}:manager.value pr")).unwrap();
    assert_eq!(
        expr,
        FilterExpr::Present(AttrPath {
            schema: Some(ENTERPRISE_USER_SCHEMA.to_owned()),
            attribute: "manager".into(),
            sub_attribute: Some("value".into()),
        })
    );
    // Unknown extensions split at the last colon.
    let expr = parse_filter("urn:example:ext:1.0:User:badge pr").unwrap();
    assert_eq!(
        expr,
        FilterExpr::Present(AttrPath {
            schema: Some("urn:example:ext:1.0:User".into()),
            attribute: "badge".into(),
            sub_attribute: None,
        })
    );
}

#[test]
fn rejects_malformed_filters() {
    for input in [
        "",
        "   ",
        "userName",
        "userName eq",
        r#"userName eq "x" and"#,
        r#"userName xx "x""#,
        r#"userName eq "unterminated"#,
        "userName eq bare",
        "(userName pr",
        "userName pr)",
        "a.b.c pr",
        "1abc pr",
        r#"userName eq "x" garbage"#,
        "not userName pr",
        "x eq 1.2.3",
        r#"userName eq "bad \q escape""#,
    ] {
        assert_invalid(input);
    }
}

// Resource bounds: 4096 bytes, 16 nested groups.
#[test]
fn enforces_length_and_depth_bounds() {
    let long = format!(r#"userName eq "{}""#, "x".repeat(MAX_FILTER_LEN));
    assert_invalid(&long);
    let nested = |depth: usize| format!("{}a pr{}", "(".repeat(depth), ")".repeat(depth));
    assert!(parse_filter(&nested(MAX_FILTER_DEPTH)).is_ok());
    assert_invalid(&nested(MAX_FILTER_DEPTH + 1));
    let nots = format!(
        "{}a pr{}",
        "not (".repeat(MAX_FILTER_DEPTH + 1),
        ")".repeat(MAX_FILTER_DEPTH + 1)
    );
    assert_invalid(&nots);
    // A long flat chain is fine: it does not nest.
    let chain = vec!["a pr"; 400].join(" or ");
    assert!(parse_filter(&chain).is_ok());
}

#[test]
fn attribute_named_like_a_keyword() {
    assert_eq!(
        parse_filter(r#"not eq "x""#).unwrap(),
        cmp(AttrPath::simple("not"), CompareOp::Eq, s("x"))
    );
    assert_eq!(
        parse_filter("android pr and order pr").unwrap(),
        FilterExpr::and(
            FilterExpr::Present(AttrPath::simple("android")),
            FilterExpr::Present(AttrPath::simple("order"))
        )
    );
}

#[test]
fn attr_path_parsing() {
    assert_eq!(
        parse_attr_path(" name.givenName ").unwrap(),
        AttrPath::sub("name", "givenName")
    );
    assert_eq!(
        parse_attr_path(ENTERPRISE_USER_SCHEMA).unwrap(),
        AttrPath::simple(ENTERPRISE_USER_SCHEMA)
    );
    assert_eq!(
        parse_attr_path("manager.$ref").unwrap(),
        AttrPath::sub("manager", "$ref")
    );
    let error = parse_attr_path("emails[type eq \"x\"]").unwrap_err();
    assert_eq!(error.scim_type, Some(ScimType::InvalidPath));
}

// === property tests: parse → print → parse is stable ===

fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("userName".to_owned()),
        Just("Title".to_owned()),
        Just("not".to_owned()),
        Just("or".to_owned()),
        "[a-zA-Z][a-zA-Z0-9_-]{0,8}",
    ]
}

fn arb_path() -> impl Strategy<Value = AttrPath> {
    (
        prop::option::of(prop_oneof![
            Just(ENTERPRISE_USER_SCHEMA.to_owned()),
            Just("urn:example:ext:1.0:User".to_owned()),
        ]),
        arb_name(),
        prop::option::of(prop_oneof![arb_name(), Just("$ref".to_owned())]),
    )
        .prop_map(|(schema, attribute, sub_attribute)| AttrPath {
            schema,
            attribute,
            sub_attribute,
        })
}

fn arb_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(|n| CompValue::Number(n.into())),
        (-1.0e9f64..1.0e9).prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(CompValue::Number)),
        any::<String>().prop_map(CompValue::String),
    ]
}

fn arb_leaf(allow_value_path: bool) -> BoxedStrategy<FilterExpr> {
    let compare = (
        arb_path(),
        prop::sample::select(CompareOp::ALL.to_vec()),
        arb_value(),
    )
        .prop_map(|(path, op, value)| FilterExpr::Compare { path, op, value });
    let present = arb_path().prop_map(FilterExpr::Present);
    if !allow_value_path {
        return prop_oneof![compare, present].boxed();
    }
    let inner = arb_tree(arb_leaf(false), 2);
    let value_path = (arb_path(), inner).prop_map(|(mut path, filter)| {
        path.sub_attribute = None;
        FilterExpr::ValuePath {
            path,
            filter: Box::new(filter),
        }
    });
    prop_oneof![3 => compare, 1 => present, 1 => value_path].boxed()
}

fn arb_tree(leaf: BoxedStrategy<FilterExpr>, depth: u32) -> BoxedStrategy<FilterExpr> {
    leaf.prop_recursive(depth, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(l, r)| FilterExpr::and(l, r)),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| FilterExpr::or(l, r)),
            inner.prop_map(|e| FilterExpr::Not(Box::new(e))),
        ]
    })
    .boxed()
}

proptest! {
    #[test]
    fn print_then_parse_round_trips(expr in arb_tree(arb_leaf(true), 4)) {
        let printed = expr.to_string();
        prop_assume!(printed.len() <= MAX_FILTER_LEN);
        let parsed = parse_filter(&printed).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
        prop_assert_eq!(&parsed, &expr, "printed: {}", printed);
        prop_assert_eq!(parsed.to_string(), printed);
    }

    #[test]
    fn parser_never_panics(input in "\\PC{0,80}") {
        let _ = parse_filter(&input);
    }

    #[test]
    fn parser_never_panics_on_unicode_around_urns(
        input in r#"(urn:|urn:ietf:params:scim:schemas:core:2.0:User|名前|é|𝒳|[a-z:.]| |eq |pr|"x")*"#
    ) {
        let _ = parse_filter(&input);
        let _ = parse_attr_path(&input);
    }

    #[test]
    fn parser_never_panics_on_filter_like_input(
        input in r#"(\(|\)|not |and |or |\[|\]|userName|emails|"[a-z\\]*"|eq |pr| |true|1\.5|urn:x:y)*"#
    ) {
        let _ = parse_filter(&input);
    }
}
