//! How provisioning connections, their OAuth clients and grants are printed.

use super::Printer;
use super::json::*;
use crate::OutputFormat;
use identity_proto::admin::v1 as pb;
use serde_json::json;
use std::io::{self, Write};

impl<O: Write, E: Write> Printer<'_, O, E> {
    fn connection_fields(c: &pb::Connection) -> Vec<(&'static str, String)> {
        let activity = c.activity.clone().unwrap_or_default();
        let groups = if c.allowed_group_names.is_empty() {
            "(every group)".to_owned()
        } else {
            c.allowed_group_names.join(", ")
        };
        vec![
            ("connection id", c.id.clone()),
            ("name", c.name.clone()),
            ("groups", groups),
            ("created", time_or_dash(c.create_time.as_ref())),
            (
                "last request",
                time_or_dash(activity.last_request_time.as_ref()),
            ),
            ("creates", activity.creates.to_string()),
            ("updates", activity.updates.to_string()),
            ("deactivations", activity.deactivations.to_string()),
            ("deletes", activity.deletes.to_string()),
        ]
    }

    /// A new connection: its id alone on stdout (the Connection ID), the rest on stderr.
    pub(crate) fn created_connection(&mut self, c: Option<&pb::Connection>) -> io::Result<()> {
        let c = c.ok_or_else(missing)?;
        match self.format {
            OutputFormat::Json => self.json(&connection_json(c)),
            OutputFormat::Human => {
                Self::fields(self.stderr, &Self::connection_fields(c))?;
                writeln!(self.stdout, "{}", c.id)
            }
        }
    }

    /// One connection with its recent errors.
    pub(crate) fn connection(&mut self, c: Option<&pb::Connection>) -> io::Result<()> {
        let c = c.ok_or_else(missing)?;
        match self.format {
            OutputFormat::Json => self.json(&connection_json(c)),
            OutputFormat::Human => {
                Self::fields(self.stdout, &Self::connection_fields(c))?;
                let errors = c
                    .activity
                    .as_ref()
                    .map(|a| a.recent_errors.as_slice())
                    .unwrap_or_default();
                if errors.is_empty() {
                    return writeln!(self.stdout, "no recent errors");
                }
                writeln!(self.stdout)?;
                let rows: Vec<Vec<String>> = errors
                    .iter()
                    .map(|e| {
                        vec![
                            time_or_dash(e.time.as_ref()),
                            e.status.to_string(),
                            format!("{} {}", e.method, e.path),
                            or_dash(&e.scim_type).to_owned(),
                            e.detail.clone(),
                        ]
                    })
                    .collect();
                self.table(&["TIME", "STATUS", "REQUEST", "SCIM TYPE", "DETAIL"], &rows)
            }
        }
    }

    pub(crate) fn connections(&mut self, list: &[pb::Connection]) -> io::Result<()> {
        match self.format {
            OutputFormat::Json => self.json(&json!({
                "connections": list.iter().map(connection_json).collect::<Vec<_>>(),
            })),
            OutputFormat::Human => {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|c| {
                        let a = c.activity.clone().unwrap_or_default();
                        vec![
                            c.id.clone(),
                            c.name.clone(),
                            time_or_dash(a.last_request_time.as_ref()),
                            format!(
                                "{}/{}/{}/{}",
                                a.creates, a.updates, a.deactivations, a.deletes
                            ),
                        ]
                    })
                    .collect();
                self.table(
                    &[
                        "ID",
                        "NAME",
                        "LAST REQUEST",
                        "CREATES/UPDATES/DEACTIVATIONS/DELETES",
                    ],
                    &rows,
                )
            }
        }
    }

    /// A registered client: its secret alone on stdout, the rest on stderr.
    pub(crate) fn registered_client(
        &mut self,
        r: &pb::RegisterOAuthClientResponse,
    ) -> io::Result<()> {
        let client = r.client.as_ref().ok_or_else(missing)?;
        match self.format {
            OutputFormat::Json => self.json(&json!({
                "client": client_json(client),
                "clientSecret": r.client_secret,
            })),
            OutputFormat::Human => {
                Self::fields(
                    self.stderr,
                    &[
                        ("client id", client.client_id.clone()),
                        ("name", client.name.clone()),
                        ("redirect uris", client.redirect_uris.join(" ")),
                        (
                            "client credentials",
                            if client.client_credentials {
                                "allowed"
                            } else {
                                "no"
                            }
                            .to_owned(),
                        ),
                    ],
                )?;
                writeln!(
                    self.stderr,
                    "the client secret below is shown once: store it now"
                )?;
                writeln!(self.stdout, "{}", r.client_secret)
            }
        }
    }

    pub(crate) fn oauth_clients(&mut self, list: &[pb::OAuthClient]) -> io::Result<()> {
        match self.format {
            OutputFormat::Json => self.json(&json!({
                "clients": list.iter().map(client_json).collect::<Vec<_>>(),
            })),
            OutputFormat::Human => {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|c| {
                        vec![
                            c.client_id.clone(),
                            c.name.clone(),
                            time_or_dash(c.create_time.as_ref()),
                            c.redirect_uris.join(" "),
                        ]
                    })
                    .collect();
                self.table(&["CLIENT ID", "NAME", "CREATED", "REDIRECT URIS"], &rows)
            }
        }
    }

    pub(crate) fn grants(&mut self, list: &[pb::Grant]) -> io::Result<()> {
        match self.format {
            OutputFormat::Json => self.json(&json!({
                "grants": list.iter().map(grant_json).collect::<Vec<_>>(),
            })),
            OutputFormat::Human => {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|g| {
                        let status = if g.revoke_time.is_some() {
                            format!("revoked ({})", g.revoke_reason)
                        } else {
                            "active".to_owned()
                        };
                        vec![
                            g.id.clone(),
                            g.client_id.clone(),
                            grant_kind(g.kind).to_owned(),
                            time_or_dash(g.create_time.as_ref()),
                            time_or_dash(g.last_refresh_time.as_ref()),
                            status,
                        ]
                    })
                    .collect();
                self.table(
                    &["ID", "CLIENT", "KIND", "CREATED", "LAST REFRESH", "STATUS"],
                    &rows,
                )
            }
        }
    }
}
