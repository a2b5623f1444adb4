//! Conversions between identity.v1 messages and the store's domain types, and the parsing of
//! request fields (ids, field masks, list parameters) with the field path named in every error.
//!
//! Empty proto strings mean "unset" and become `None`; nothing here touches the database.

use crate::error::{CoreError, CoreResult, FieldViolation};
use crate::ids::UserId;
use crate::store::paging::{self, ListQuery};
use crate::store::roles::{Member, Role, RoleData};
use crate::store::users::{Contact, Enterprise, NameParts, User, UserData};
use crate::time::to_timestamp;
use identity_proto::identity::v1 as pb;
use identity_proto::json::{struct_from_json, struct_to_json};
use uuid::Uuid;

fn opt(value: &str) -> Option<String> {
    if value.is_empty() {
        None
    } else {
        Some(value.to_owned())
    }
}

fn text(value: &Option<String>) -> String {
    value.clone().unwrap_or_default()
}

fn managed_by(value: i32) -> pb::ManagedBy {
    pb::ManagedBy::try_from(value).unwrap_or(pb::ManagedBy::Unspecified)
}

fn contact_from_proto(c: &pb::ContactValue) -> Contact {
    Contact {
        value: c.value.clone(),
        value_type: opt(&c.r#type),
        primary: c.primary,
        display: opt(&c.display),
    }
}

fn contact_to_proto(c: &Contact) -> pb::ContactValue {
    pb::ContactValue {
        value: c.value.clone(),
        r#type: text(&c.value_type),
        primary: c.primary,
        display: text(&c.display),
    }
}

/// The writable attributes of a request's user (output-only fields are ignored).
pub fn user_data_from_proto(user: &pb::User) -> UserData {
    let name = user.name.clone().unwrap_or_default();
    let ent = user.enterprise.clone().unwrap_or_default();
    UserData {
        user_name: user.user_name.clone(),
        external_id: opt(&user.external_id),
        display_name: opt(&user.display_name),
        name: NameParts {
            formatted: opt(&name.formatted),
            family_name: opt(&name.family_name),
            given_name: opt(&name.given_name),
            middle_name: opt(&name.middle_name),
            honorific_prefix: opt(&name.honorific_prefix),
            honorific_suffix: opt(&name.honorific_suffix),
        },
        nick_name: opt(&user.nick_name),
        title: opt(&user.title),
        user_type: opt(&user.user_type),
        preferred_language: opt(&user.preferred_language),
        locale: opt(&user.locale),
        timezone: opt(&user.timezone),
        active: user.active,
        emails: user.emails.iter().map(contact_from_proto).collect(),
        phone_numbers: user.phone_numbers.iter().map(contact_from_proto).collect(),
        enterprise: Enterprise {
            employee_number: opt(&ent.employee_number),
            cost_center: opt(&ent.cost_center),
            organization: opt(&ent.organization),
            division: opt(&ent.division),
            department: opt(&ent.department),
            manager_id: opt(&ent.manager_id),
            manager_display_name: opt(&ent.manager_display_name),
        },
        extra_attributes: user
            .extra_attributes
            .as_ref()
            .map(struct_to_json)
            .filter(|m| !m.is_empty()),
        managed_by: managed_by(user.managed_by),
    }
}

/// A stored user as the contract presents it.
pub fn user_to_proto(user: &User) -> pb::User {
    let d = &user.data;
    let n = &d.name;
    let e = &d.enterprise;
    let has_name = *n != NameParts::default();
    let has_enterprise = *e != Enterprise::default();
    pb::User {
        id: user.id.to_string(),
        organization_id: user.org.to_string(),
        user_name: d.user_name.clone(),
        external_id: text(&d.external_id),
        display_name: text(&d.display_name),
        name: has_name.then(|| pb::PersonName {
            formatted: text(&n.formatted),
            family_name: text(&n.family_name),
            given_name: text(&n.given_name),
            middle_name: text(&n.middle_name),
            honorific_prefix: text(&n.honorific_prefix),
            honorific_suffix: text(&n.honorific_suffix),
        }),
        nick_name: text(&d.nick_name),
        title: text(&d.title),
        user_type: text(&d.user_type),
        preferred_language: text(&d.preferred_language),
        locale: text(&d.locale),
        timezone: text(&d.timezone),
        emails: d.emails.iter().map(contact_to_proto).collect(),
        phone_numbers: d.phone_numbers.iter().map(contact_to_proto).collect(),
        active: d.active,
        enterprise: has_enterprise.then(|| pb::EnterpriseAttributes {
            employee_number: text(&e.employee_number),
            cost_center: text(&e.cost_center),
            organization: text(&e.organization),
            division: text(&e.division),
            department: text(&e.department),
            manager_id: text(&e.manager_id),
            manager_display_name: text(&e.manager_display_name),
        }),
        extra_attributes: d.extra_attributes.as_ref().map(struct_from_json),
        version: user.version,
        create_time: Some(to_timestamp(user.created_at)),
        update_time: Some(to_timestamp(user.updated_at)),
        managed_by: d.managed_by as i32,
        has_password: user.has_password,
        roles: Vec::new(),
    }
}

/// The roles a user holds, as shown with the user.
pub fn held_roles_to_proto(roles: Vec<crate::store::roles::HeldRole>) -> Vec<pb::UserRole> {
    roles
        .into_iter()
        .map(|role| pb::UserRole {
            role_id: role.role_id.to_string(),
            display_name: role.display_name,
        })
        .collect()
}

/// Copies the fields named by `paths` from `source` into `target`. Returns whether the mask
/// names `password` (which is not part of the user data).
pub fn apply_user_mask(
    target: &mut UserData,
    source: &UserData,
    paths: &[String],
) -> CoreResult<bool> {
    if paths.is_empty() {
        return Err(CoreError::invalid("update_mask", "is required"));
    }
    let mut password = false;
    let mut unknown = Vec::new();
    for path in paths {
        let (n, s) = (&mut target.name, &source.name);
        let (e, se) = (&mut target.enterprise, &source.enterprise);
        match path.as_str() {
            "user_name" => target.user_name = source.user_name.clone(),
            "external_id" => target.external_id = source.external_id.clone(),
            "display_name" => target.display_name = source.display_name.clone(),
            "name" => *n = s.clone(),
            "name.formatted" => n.formatted = s.formatted.clone(),
            "name.family_name" => n.family_name = s.family_name.clone(),
            "name.given_name" => n.given_name = s.given_name.clone(),
            "name.middle_name" => n.middle_name = s.middle_name.clone(),
            "name.honorific_prefix" => n.honorific_prefix = s.honorific_prefix.clone(),
            "name.honorific_suffix" => n.honorific_suffix = s.honorific_suffix.clone(),
            "nick_name" => target.nick_name = source.nick_name.clone(),
            "title" => target.title = source.title.clone(),
            "user_type" => target.user_type = source.user_type.clone(),
            "preferred_language" => target.preferred_language = source.preferred_language.clone(),
            "locale" => target.locale = source.locale.clone(),
            "timezone" => target.timezone = source.timezone.clone(),
            "emails" => target.emails = source.emails.clone(),
            "phone_numbers" => target.phone_numbers = source.phone_numbers.clone(),
            "active" => target.active = source.active,
            "enterprise" => *e = se.clone(),
            "enterprise.employee_number" => e.employee_number = se.employee_number.clone(),
            "enterprise.cost_center" => e.cost_center = se.cost_center.clone(),
            "enterprise.organization" => e.organization = se.organization.clone(),
            "enterprise.division" => e.division = se.division.clone(),
            "enterprise.department" => e.department = se.department.clone(),
            "enterprise.manager_id" => e.manager_id = se.manager_id.clone(),
            "enterprise.manager_display_name" => {
                e.manager_display_name = se.manager_display_name.clone()
            }
            "extra_attributes" => target.extra_attributes = source.extra_attributes.clone(),
            "managed_by" => {
                if source.managed_by != pb::ManagedBy::Unspecified {
                    target.managed_by = source.managed_by;
                }
            }
            "password" => password = true,
            other => unknown.push(FieldViolation::new(
                "update_mask",
                format!("unknown field path {other:?}"),
            )),
        }
    }
    if unknown.is_empty() {
        Ok(password)
    } else {
        Err(CoreError::InvalidArgument(unknown))
    }
}

/// The writable attributes of a request's role.
pub fn role_data_from_proto(role: &pb::Role) -> RoleData {
    RoleData {
        display_name: role.display_name.clone(),
        external_id: opt(&role.external_id),
        description: opt(&role.description),
        extra_attributes: role
            .extra_attributes
            .as_ref()
            .map(struct_to_json)
            .filter(|m| !m.is_empty()),
        managed_by: managed_by(role.managed_by),
    }
}

/// A stored role as the contract presents it.
pub fn role_to_proto(role: &Role) -> pb::Role {
    pb::Role {
        id: role.id.to_string(),
        organization_id: role.org.to_string(),
        display_name: role.data.display_name.clone(),
        external_id: text(&role.data.external_id),
        description: text(&role.data.description),
        extra_attributes: role.data.extra_attributes.as_ref().map(struct_from_json),
        member_count: role.member_count,
        version: role.version,
        create_time: Some(to_timestamp(role.created_at)),
        update_time: Some(to_timestamp(role.updated_at)),
        managed_by: role.data.managed_by as i32,
    }
}

/// Copies the fields named by `paths` (display_name, external_id, description,
/// extra_attributes) from `source` into `target`.
pub fn apply_role_mask(
    target: &mut RoleData,
    source: &RoleData,
    paths: &[String],
) -> CoreResult<()> {
    let mut unknown = Vec::new();
    for path in paths {
        match path.as_str() {
            "display_name" => target.display_name = source.display_name.clone(),
            "external_id" => target.external_id = source.external_id.clone(),
            "description" => target.description = source.description.clone(),
            "extra_attributes" => target.extra_attributes = source.extra_attributes.clone(),
            other => unknown.push(FieldViolation::new(
                "update_mask",
                format!("unknown field path {other:?}"),
            )),
        }
    }
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(CoreError::InvalidArgument(unknown))
    }
}

/// A role member as the contract presents it.
pub fn member_to_proto(member: &Member) -> pb::RoleMember {
    pb::RoleMember {
        user_id: member.user_id.to_string(),
        user_name: member.user_name.clone(),
        display_name: text(&member.display_name),
        create_time: Some(to_timestamp(member.created_at)),
    }
}

/// A change-feed row as the contract presents it.
pub fn change_to_proto(change: &crate::store::changes::Change) -> pb::Change {
    pb::Change {
        sequence: change.sequence,
        organization_id: change.org.to_string(),
        resource_type: i32::from(change.resource_type),
        resource_id: change.resource_id.to_string(),
        kind: i32::from(change.kind),
        resource_version: change.resource_version,
        member_user_ids: change.member_user_ids.clone(),
        create_time: Some(to_timestamp(change.created_at)),
        connection_id: change
            .connection_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
    }
}

/// Parses a list of user ids, naming each bad one as `field[i]`.
pub fn parse_user_ids(field: &str, ids: &[String]) -> CoreResult<Vec<Uuid>> {
    let mut out = Vec::with_capacity(ids.len());
    let mut errors = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        match UserId::parse(&format!("{field}[{i}]"), id) {
            Ok(id) => out.push(id.0),
            Err(CoreError::InvalidArgument(mut v)) => errors.append(&mut v),
            Err(other) => return Err(other),
        }
        if errors.len() >= 100 {
            break;
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(CoreError::InvalidArgument(errors))
    }
}

/// Fails unless `count` ids are at most `max`.
/// How many of `items`, in order, fit in one list response: their encoded size is summed until
/// it would pass `LIST_RESPONSE_BUDGET` (at least one item is always kept; one item is at most a
/// request body, far below the budget). The caller ends its page there.
pub fn fitting<M: prost::Message>(items: &[M]) -> usize {
    let mut total = 0;
    for (index, item) in items.iter().enumerate() {
        let len = item.encoded_len();
        // the field's tag and length prefix
        total += 1 + prost::length_delimiter_len(len) + len;
        if total > identity_proto::LIST_RESPONSE_BUDGET && index > 0 {
            return index;
        }
    }
    items.len()
}

pub fn at_most(field: &str, count: usize, max: usize) -> CoreResult<()> {
    if count > max {
        Err(CoreError::invalid(
            field,
            format!("must have at most {max} ids"),
        ))
    } else {
        Ok(())
    }
}

/// The list parameters shared by ListUsers and ListRoles.
#[allow(clippy::too_many_arguments)]
pub fn list_query(
    filter: Option<pb::Filter>,
    order_by: &str,
    sort_order: i32,
    page_size: i32,
    page_token: &str,
    skip: i32,
    include_total_size: bool,
) -> CoreResult<ListQuery> {
    if skip < 0 {
        return Err(CoreError::invalid("skip", "must not be negative"));
    }
    let descending = match pb::SortOrder::try_from(sort_order) {
        Ok(pb::SortOrder::Descending) => true,
        Ok(pb::SortOrder::Ascending | pb::SortOrder::Unspecified) => false,
        Err(_) => {
            return Err(CoreError::invalid(
                "sort_order",
                "is not a known sort order",
            ));
        }
    };
    Ok(ListQuery {
        filter,
        order_by: order_by.to_owned(),
        descending,
        page_size: paging::page_size(
            "page_size",
            page_size,
            paging::DEFAULT_PAGE_SIZE,
            paging::MAX_PAGE_SIZE,
        )?,
        page_token: page_token.to_owned(),
        skip: skip as u64,
        include_total_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_cut_where_it_would_pass_the_response_budget() {
        let user = |bytes: usize| pb::User {
            display_name: "x".repeat(bytes),
            ..Default::default()
        };
        // 1 MiB each: the eighth would pass 8 MiB with its framing
        let big: Vec<pb::User> = (0..10).map(|_| user(1 << 20)).collect();
        assert_eq!(identity_proto::LIST_RESPONSE_BUDGET, 8 << 20);
        assert_eq!(fitting(&big), 7);
        // small items are never cut, and one item is always kept
        let small: Vec<pb::User> = (0..1000).map(|_| user(100)).collect();
        assert_eq!(fitting(&small), 1000);
        assert_eq!(fitting(&[user(9 << 20)]), 1);
        assert_eq!(fitting::<pb::User>(&[]), 0);
    }
}
