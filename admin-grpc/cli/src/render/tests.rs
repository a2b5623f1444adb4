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
    }
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
