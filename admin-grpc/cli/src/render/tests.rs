use super::*;

fn token() -> pb::ScimToken {
    pb::ScimToken {
        id: "t1".into(),
        organization_id: "o1".into(),
        description: "Okta".into(),
        hint: "idscim_AbCd".into(),
        create_time: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
        expire_time: Some(prost_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 0,
        }),
        last_used_time: None,
        revoke_time: None,
        status: pb::ScimTokenStatus::Active as i32,
        rotated_from_token_id: String::new(),
        connection_id: String::new(),
        expires_soon: false,
    }
}

#[test]
fn a_token_expiring_soon_is_flagged_in_every_format() {
    let soon = pb::ScimToken {
        expires_soon: true,
        ..token()
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    Printer::new(OutputFormat::Human, &mut out, &mut err)
        .tokens(&[soon.clone(), token()])
        .unwrap();
    let table = String::from_utf8(out).unwrap();
    assert_eq!(table.matches("(expires soon)").count(), 1, "{table}");
    assert!(
        String::from_utf8(err)
            .unwrap()
            .contains("expires within 30 days")
    );
    let (mut out, mut err) = (Vec::new(), Vec::new());
    Printer::new(OutputFormat::Json, &mut out, &mut err)
        .tokens(&[soon])
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(json["tokens"][0]["expiresSoon"], true);
    assert!(err.is_empty());
}

#[test]
fn an_issued_secret_is_alone_on_stdout_in_human_mode() {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    Printer::new(OutputFormat::Human, &mut out, &mut err)
        .issued_token(&pb::IssueScimTokenResponse {
            token: Some(token()),
            secret: "idscim_secret".into(),
        })
        .unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "idscim_secret\n");
    let err = String::from_utf8(err).unwrap();
    assert!(
        err.contains("idscim_AbCd") && err.contains("active"),
        "{err}"
    );
    assert!(!err.contains("idscim_secret"), "{err}");
}

#[test]
fn json_mode_prints_one_document_with_proto_json_names() {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    Printer::new(OutputFormat::Json, &mut out, &mut err)
        .tokens(&[token()])
        .unwrap();
    let value: Value = serde_json::from_slice(&out).unwrap();
    let first = &value["tokens"][0];
    assert_eq!(first["status"], "SCIM_TOKEN_STATUS_ACTIVE");
    assert_eq!(first["createTime"], "2023-11-14T22:13:20Z");
    assert_eq!(first["lastUsedTime"], Value::Null);
    assert!(err.is_empty());
}

#[test]
fn tables_align_columns() {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    Printer::new(OutputFormat::Human, &mut out, &mut err)
        .organizations(&[
            pb::Organization {
                id: "1".into(),
                slug: "a".into(),
                display_name: "A".into(),
                create_time: None,
            },
            pb::Organization {
                id: "2".into(),
                slug: "longer-slug".into(),
                display_name: "B".into(),
                create_time: None,
            },
        ])
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    let name_column = lines[0].find("NAME").unwrap();
    assert_eq!(lines[1].find('A'), Some(name_column));
    assert_eq!(lines[2].find('B'), Some(name_column));
}

fn roles() -> Vec<pb::Role> {
    vec![
        pb::Role {
            id: "r1".into(),
            organization_id: "o1".into(),
            name: "Engineering".into(),
            description: "Builds things".into(),
            member_count: 12,
            scim_managed: true,
            is_default: false,
            create_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
        },
        pb::Role {
            id: "r2".into(),
            organization_id: "o1".into(),
            name: "members".into(),
            description: String::new(),
            member_count: 3,
            scim_managed: false,
            is_default: true,
            create_time: None,
        },
    ]
}

#[test]
fn a_role_list_is_a_table_marking_who_manages_each_and_the_default() {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    Printer::new(OutputFormat::Human, &mut out, &mut err)
        .roles(&roles())
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        "NAME         ID  MEMBERS  MANAGED BY  DEFAULT\n\
         Engineering  r1  12       scim        -\n\
         members      r2  3        platform    yes\n"
    );
    assert!(err.is_empty());
}

#[test]
fn a_role_list_in_json_has_proto_json_names() {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    Printer::new(OutputFormat::Json, &mut out, &mut err)
        .roles(&roles())
        .unwrap();
    let value: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        value,
        json!({
            "roles": [
                {
                    "id": "r1",
                    "organizationId": "o1",
                    "name": "Engineering",
                    "description": "Builds things",
                    "memberCount": 12,
                    "scimManaged": true,
                    "isDefault": false,
                    "createTime": "2023-11-14T22:13:20Z",
                },
                {
                    "id": "r2",
                    "organizationId": "o1",
                    "name": "members",
                    "description": "",
                    "memberCount": 3,
                    "scimManaged": false,
                    "isDefault": true,
                    "createTime": null,
                },
            ],
        })
    );
    assert!(err.is_empty());
}

#[test]
fn an_empty_role_list_prints_the_header_or_an_empty_array() {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    Printer::new(OutputFormat::Human, &mut out, &mut err)
        .roles(&[])
        .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "NAME  ID  MEMBERS  MANAGED BY  DEFAULT\n"
    );
    let mut out = Vec::new();
    Printer::new(OutputFormat::Json, &mut out, &mut err)
        .roles(&[])
        .unwrap();
    let value: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(value, json!({ "roles": [] }));
}

#[test]
fn one_role_prints_its_fields() {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    Printer::new(OutputFormat::Human, &mut out, &mut err)
        .role(roles().get(1))
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("name          members\n"), "{text}");
    assert!(text.contains("description   -\n"), "{text}");
    assert!(text.contains("managed by    platform\n"), "{text}");
    assert!(text.contains("default       yes\n"), "{text}");
    let mut out = Vec::new();
    Printer::new(OutputFormat::Json, &mut out, &mut err)
        .role(roles().first())
        .unwrap();
    let value: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(value["name"], "Engineering");
    assert_eq!(value["scimManaged"], true);
}

fn settings(default_role_id: &str, default_role_name: &str) -> pb::ScimSettings {
    pb::ScimSettings {
        organization_id: "o1".into(),
        enabled: true,
        default_role_id: default_role_id.into(),
        update_time: None,
        rate_limits: None,
        default_role_name: default_role_name.into(),
        verified_domains: vec!["acme.com".into()],
    }
}

#[test]
fn scim_settings_list_the_verified_domains() {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    Printer::new(OutputFormat::Human, &mut out, &mut err)
        .scim_settings(Some(&settings("r1", "Engineering")))
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("verified domains  acme.com"), "{text}");
}

fn default_role_line(s: &pb::ScimSettings) -> String {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    Printer::new(OutputFormat::Human, &mut out, &mut err)
        .scim_settings(Some(s))
        .unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .find(|line| line.starts_with("default role"))
        .unwrap()
        .to_owned()
}

#[test]
fn scim_settings_name_the_default_role_and_fall_back_to_its_id() {
    assert_eq!(
        default_role_line(&settings("r1", "Engineering")),
        "default role      Engineering (r1)"
    );
    // a server that sends no name
    assert_eq!(
        default_role_line(&settings("r1", "")),
        "default role      r1"
    );
    assert_eq!(default_role_line(&settings("", "")), "default role      -");

    let (mut out, mut err) = (Vec::new(), Vec::new());
    Printer::new(OutputFormat::Json, &mut out, &mut err)
        .scim_settings(Some(&settings("r1", "Engineering")))
        .unwrap();
    let value: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(value["defaultRoleId"], "r1");
    assert_eq!(value["defaultRoleName"], "Engineering");
}
