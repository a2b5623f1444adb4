//! Printing results: aligned text for people, JSON for scripts, secrets alone on stdout.
//!
//! The generated proto types have no serde support, so the JSON shape is written out here; it
//! follows the proto3 JSON mapping (lowerCamelCase names, RFC 3339 times, enum names).

use super::OutputFormat;
use identity_proto::admin::v1 as pb;
use serde_json::{Value, json};
use std::io::{self, Write};

mod connections;
mod json;
#[cfg(test)]
mod tests;

use json::*;

pub(super) struct Printer<'a, O: Write, E: Write> {
    format: OutputFormat,
    stdout: &'a mut O,
    stderr: &'a mut E,
}

impl<'a, O: Write, E: Write> Printer<'a, O, E> {
    pub(super) fn new(format: OutputFormat, stdout: &'a mut O, stderr: &'a mut E) -> Self {
        Self {
            format,
            stdout,
            stderr,
        }
    }

    fn json(&mut self, value: &Value) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *self.stdout, value)?;
        writeln!(self.stdout)
    }

    /// Key/value lines, aligned.
    fn fields(out: &mut impl Write, fields: &[(&str, String)]) -> io::Result<()> {
        let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (key, value) in fields {
            writeln!(out, "{key:width$}  {value}")?;
        }
        Ok(())
    }

    /// A table with a header row, columns padded to their widest cell.
    fn table(&mut self, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
        let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
        for row in rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let mut line = String::new();
            for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
                if i + 1 == cells.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:width$}  "));
                }
            }
            line
        };
        writeln!(self.stdout, "{}", line(header.to_vec()))?;
        for row in rows {
            writeln!(
                self.stdout,
                "{}",
                line(row.iter().map(String::as_str).collect())
            )?;
        }
        Ok(())
    }

    fn organization_fields(o: &pb::Organization) -> Vec<(&'static str, String)> {
        vec![
            ("id", o.id.clone()),
            ("slug", o.slug.clone()),
            ("name", o.display_name.clone()),
            ("created", time_or_dash(o.create_time.as_ref())),
        ]
    }

    fn owner_credential_fields(c: &pb::OwnerCredential) -> Vec<(&'static str, String)> {
        vec![
            ("credential id", c.id.clone()),
            ("organization", c.organization_id.clone()),
            ("description", or_dash(&c.description).to_owned()),
            ("created", time_or_dash(c.create_time.as_ref())),
            ("revoked", time_or_dash(c.revoke_time.as_ref())),
        ]
    }

    fn token_fields(t: &pb::ScimToken) -> Vec<(&'static str, String)> {
        vec![
            ("token id", t.id.clone()),
            ("organization", t.organization_id.clone()),
            ("status", status_name(t.status).to_owned()),
            ("hint", t.hint.clone()),
            ("description", or_dash(&t.description).to_owned()),
            ("created", time_or_dash(t.create_time.as_ref())),
            ("expires", expiry(t)),
            ("last used", time_or_dash(t.last_used_time.as_ref())),
            ("revoked", time_or_dash(t.revoke_time.as_ref())),
            ("rotated from", or_dash(&t.rotated_from_token_id).to_owned()),
        ]
    }

    pub(super) fn created_organization(
        &mut self,
        r: &pb::CreateOrganizationResponse,
    ) -> io::Result<()> {
        let organization = r.organization.as_ref().ok_or_else(missing)?;
        let credential = r.owner_credential.as_ref().ok_or_else(missing)?;
        match self.format {
            OutputFormat::Json => self.json(&json!({
                "organization": organization_json(organization),
                "ownerCredential": owner_credential_json(credential),
                "ownerSecret": r.owner_secret,
            })),
            OutputFormat::Human => {
                let mut fields = Self::organization_fields(organization);
                fields.push(("owner credential id", credential.id.clone()));
                Self::fields(self.stderr, &fields)?;
                writeln!(
                    self.stderr,
                    "the owner secret below is shown once: store it now"
                )?;
                writeln!(self.stdout, "{}", r.owner_secret)
            }
        }
    }

    pub(super) fn organization(&mut self, o: Option<&pb::Organization>) -> io::Result<()> {
        let o = o.ok_or_else(missing)?;
        match self.format {
            OutputFormat::Json => self.json(&organization_json(o)),
            OutputFormat::Human => Self::fields(self.stdout, &Self::organization_fields(o)),
        }
    }

    pub(super) fn organizations(&mut self, list: &[pb::Organization]) -> io::Result<()> {
        match self.format {
            OutputFormat::Json => self.json(&json!({
                "organizations": list.iter().map(organization_json).collect::<Vec<_>>(),
            })),
            OutputFormat::Human => {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|o| {
                        vec![
                            o.id.clone(),
                            o.slug.clone(),
                            o.display_name.clone(),
                            time_or_dash(o.create_time.as_ref()),
                        ]
                    })
                    .collect();
                self.table(&["ID", "SLUG", "NAME", "CREATED"], &rows)
            }
        }
    }

    pub(super) fn created_owner_credential(
        &mut self,
        r: &pb::CreateOwnerCredentialResponse,
    ) -> io::Result<()> {
        let credential = r.owner_credential.as_ref().ok_or_else(missing)?;
        match self.format {
            OutputFormat::Json => self.json(&json!({
                "ownerCredential": owner_credential_json(credential),
                "ownerSecret": r.owner_secret,
            })),
            OutputFormat::Human => {
                Self::fields(self.stderr, &Self::owner_credential_fields(credential))?;
                writeln!(self.stderr, "the secret below is shown once: store it now")?;
                writeln!(self.stdout, "{}", r.owner_secret)
            }
        }
    }

    pub(super) fn removed_member(&mut self, user_id: &str) -> io::Result<()> {
        match self.format {
            OutputFormat::Json => self.json(&serde_json::json!({ "removedUserId": user_id })),
            OutputFormat::Human => writeln!(self.stdout, "removed {user_id}"),
        }
    }

    /// A minted portal link: the URL alone on stdout (it is a secret, as tokens are).
    pub(super) fn portal_link(
        &mut self,
        url: &str,
        link: &pb::CreatePortalLinkResponse,
    ) -> io::Result<()> {
        let expires = json::time_or_dash(link.expire_time.as_ref());
        match self.format {
            OutputFormat::Json => self.json(&serde_json::json!({
                "id": link.id,
                "url": url,
                "expireTime": expires,
            })),
            OutputFormat::Human => {
                writeln!(self.stdout, "{url}")?;
                writeln!(
                    self.stderr,
                    "opens once, until {expires}; its session lasts one hour"
                )
            }
        }
    }

    pub(super) fn owner_credential(&mut self, c: Option<&pb::OwnerCredential>) -> io::Result<()> {
        let c = c.ok_or_else(missing)?;
        match self.format {
            OutputFormat::Json => self.json(&owner_credential_json(c)),
            OutputFormat::Human => Self::fields(self.stdout, &Self::owner_credential_fields(c)),
        }
    }

    pub(super) fn scim_settings(&mut self, s: Option<&pb::ScimSettings>) -> io::Result<()> {
        let s = s.ok_or_else(missing)?;
        match self.format {
            OutputFormat::Json => self.json(&settings_json(s)),
            OutputFormat::Human => Self::fields(
                self.stdout,
                &[
                    ("organization", s.organization_id.clone()),
                    (
                        "scim",
                        if s.enabled { "enabled" } else { "disabled" }.to_owned(),
                    ),
                    ("default role", default_role_text(s)),
                    ("updated", time_or_dash(s.update_time.as_ref())),
                    (
                        "requests/s",
                        limit_or_default(s.rate_limits.unwrap_or_default().requests_per_second),
                    ),
                    (
                        "burst",
                        limit_or_default(s.rate_limits.unwrap_or_default().burst),
                    ),
                    (
                        "concurrent",
                        limit_or_default(s.rate_limits.unwrap_or_default().max_concurrent_requests),
                    ),
                    (
                        "verified domains",
                        if s.verified_domains.is_empty() {
                            "-".to_owned()
                        } else {
                            s.verified_domains.join(", ")
                        },
                    ),
                ],
            ),
        }
    }

    pub(super) fn issued_token(&mut self, r: &pb::IssueScimTokenResponse) -> io::Result<()> {
        let token = r.token.as_ref().ok_or_else(missing)?;
        match self.format {
            OutputFormat::Json => self.json(&json!({
                "token": token_json(token),
                "secret": r.secret,
            })),
            OutputFormat::Human => {
                Self::fields(self.stderr, &Self::token_fields(token))?;
                writeln!(self.stderr, "the secret below is shown once: store it now")?;
                writeln!(self.stdout, "{}", r.secret)
            }
        }
    }

    pub(super) fn rotated_token(&mut self, r: &pb::RotateScimTokenResponse) -> io::Result<()> {
        let token = r.token.as_ref().ok_or_else(missing)?;
        let previous = r.previous_token.as_ref().ok_or_else(missing)?;
        match self.format {
            OutputFormat::Json => self.json(&json!({
                "token": token_json(token),
                "secret": r.secret,
                "previousToken": token_json(previous),
            })),
            OutputFormat::Human => {
                Self::fields(self.stderr, &Self::token_fields(token))?;
                writeln!(
                    self.stderr,
                    "previous token {} is {} and stops working at {}",
                    previous.id,
                    status_name(previous.status),
                    time(previous.revoke_time.as_ref())
                        .or_else(|| time(previous.expire_time.as_ref()))
                        .unwrap_or_else(|| "-".into()),
                )?;
                writeln!(self.stderr, "the secret below is shown once: store it now")?;
                writeln!(self.stdout, "{}", r.secret)
            }
        }
    }

    pub(super) fn token(&mut self, t: Option<&pb::ScimToken>) -> io::Result<()> {
        let t = t.ok_or_else(missing)?;
        match self.format {
            OutputFormat::Json => self.json(&token_json(t)),
            OutputFormat::Human => Self::fields(self.stdout, &Self::token_fields(t)),
        }
    }

    fn service_credential_fields(c: &pb::ServiceCredential) -> Vec<(&'static str, String)> {
        vec![
            ("credential id", c.id.clone()),
            ("name", c.name.clone()),
            ("scope", scope_text(c)),
            ("access", access_name(c.access).to_owned()),
            ("hint", c.hint.clone()),
            ("created", time_or_dash(c.create_time.as_ref())),
            ("revoked", time_or_dash(c.revoke_time.as_ref())),
        ]
    }

    pub(super) fn created_service_credential(
        &mut self,
        r: &pb::CreateServiceCredentialResponse,
    ) -> io::Result<()> {
        let credential = r.credential.as_ref().ok_or_else(missing)?;
        match self.format {
            OutputFormat::Json => self.json(&json!({
                "credential": service_credential_json(credential),
                "secret": r.secret,
            })),
            OutputFormat::Human => {
                Self::fields(self.stderr, &Self::service_credential_fields(credential))?;
                writeln!(self.stderr, "the secret below is shown once: store it now")?;
                writeln!(self.stdout, "{}", r.secret)
            }
        }
    }

    pub(super) fn service_credential(
        &mut self,
        c: Option<&pb::ServiceCredential>,
    ) -> io::Result<()> {
        let c = c.ok_or_else(missing)?;
        match self.format {
            OutputFormat::Json => self.json(&service_credential_json(c)),
            OutputFormat::Human => Self::fields(self.stdout, &Self::service_credential_fields(c)),
        }
    }

    pub(super) fn done(&mut self, message: &str) -> io::Result<()> {
        match self.format {
            OutputFormat::Json => self.json(&json!({ "result": message })),
            OutputFormat::Human => writeln!(self.stderr, "{message}"),
        }
    }

    pub(super) fn service_credentials(&mut self, list: &[pb::ServiceCredential]) -> io::Result<()> {
        match self.format {
            OutputFormat::Json => self.json(&json!({
                "credentials": list.iter().map(service_credential_json).collect::<Vec<_>>(),
            })),
            OutputFormat::Human => {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|c| {
                        vec![
                            c.id.clone(),
                            c.name.clone(),
                            access_name(c.access).to_owned(),
                            if c.revoke_time.is_some() {
                                "revoked"
                            } else {
                                "active"
                            }
                            .to_owned(),
                            c.hint.clone(),
                            scope_text(c),
                        ]
                    })
                    .collect();
                self.table(&["ID", "NAME", "ACCESS", "STATUS", "HINT", "SCOPE"], &rows)
            }
        }
    }

    fn role_fields(r: &pb::Role) -> Vec<(&'static str, String)> {
        vec![
            ("role id", r.id.clone()),
            ("organization", r.organization_id.clone()),
            ("name", r.name.clone()),
            ("description", or_dash(&r.description).to_owned()),
            ("members", r.member_count.to_string()),
            ("managed by", managed_by(r).to_owned()),
            (
                "default",
                if r.is_default { "yes" } else { "no" }.to_owned(),
            ),
            ("created", time_or_dash(r.create_time.as_ref())),
        ]
    }

    pub(super) fn role(&mut self, r: Option<&pb::Role>) -> io::Result<()> {
        let r = r.ok_or_else(missing)?;
        match self.format {
            OutputFormat::Json => self.json(&role_json(r)),
            OutputFormat::Human => Self::fields(self.stdout, &Self::role_fields(r)),
        }
    }

    pub(super) fn roles(&mut self, list: &[pb::Role]) -> io::Result<()> {
        match self.format {
            OutputFormat::Json => self.json(&json!({
                "roles": list.iter().map(role_json).collect::<Vec<_>>(),
            })),
            OutputFormat::Human => {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|r| {
                        vec![
                            r.name.clone(),
                            r.id.clone(),
                            r.member_count.to_string(),
                            managed_by(r).to_owned(),
                            // only the default is marked, so it stands out
                            if r.is_default { "yes" } else { "-" }.to_owned(),
                        ]
                    })
                    .collect();
                self.table(&["NAME", "ID", "MEMBERS", "MANAGED BY", "DEFAULT"], &rows)
            }
        }
    }

    /// Portal links, one row each (never a token: only its metadata is kept).
    pub(super) fn portal_links(&mut self, list: &[pb::PortalLink]) -> io::Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| {
                i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
            });
        let state = |link: &pb::PortalLink| {
            let live = |at: Option<&prost_types::Timestamp>| at.is_some_and(|at| at.seconds > now);
            match (&link.open_time, live(link.session_expire_time.as_ref())) {
                (Some(_), true) => "session open",
                (Some(_), false) => "used",
                (None, _) if live(link.expire_time.as_ref()) => "unopened",
                (None, _) => "expired",
            }
        };
        match self.format {
            OutputFormat::Json => self.json(&json!({
                "links": list.iter().map(|link| json!({
                    "id": link.id,
                    "label": link.label,
                    "state": state(link),
                    "createTime": time(link.create_time.as_ref()),
                    "expireTime": time(link.expire_time.as_ref()),
                    "openTime": time(link.open_time.as_ref()),
                    "sessionExpireTime": time(link.session_expire_time.as_ref()),
                })).collect::<Vec<_>>(),
            })),
            OutputFormat::Human => {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|link| {
                        vec![
                            link.id.clone(),
                            state(link).to_owned(),
                            time_or_dash(link.create_time.as_ref()),
                            time_or_dash(link.open_time.as_ref()),
                            link.label.clone(),
                        ]
                    })
                    .collect();
                self.table(&["ID", "STATE", "CREATED", "OPENED", "LABEL"], &rows)
            }
        }
    }

    pub(super) fn tokens(&mut self, list: &[pb::ScimToken]) -> io::Result<()> {
        if self.format == OutputFormat::Human && list.iter().any(|t| t.expires_soon) {
            // on stderr, so a script reading the table is not disturbed
            writeln!(
                self.stderr,
                "warning: a token expires within 30 days: rotate it (identity-admin token rotate) \
                 and paste the new one into the identity provider"
            )?;
        }
        match self.format {
            OutputFormat::Json => self.json(&json!({
                "tokens": list.iter().map(token_json).collect::<Vec<_>>(),
            })),
            OutputFormat::Human => {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|t| {
                        vec![
                            t.id.clone(),
                            status_name(t.status).to_owned(),
                            t.hint.clone(),
                            time_or_dash(t.create_time.as_ref()),
                            expiry(t),
                            time_or_dash(t.last_used_time.as_ref()),
                            or_dash(&t.description).to_owned(),
                        ]
                    })
                    .collect();
                self.table(
                    &[
                        "ID",
                        "STATUS",
                        "HINT",
                        "CREATED",
                        "EXPIRES",
                        "LAST USED",
                        "DESCRIPTION",
                    ],
                    &rows,
                )
            }
        }
    }
}

/// A token's expiry, flagged when the server says it is within 30 days.
fn expiry(t: &pb::ScimToken) -> String {
    let time = time_or_dash(t.expire_time.as_ref());
    if t.expires_soon {
        format!("{time} (expires soon)")
    } else {
        time
    }
}
