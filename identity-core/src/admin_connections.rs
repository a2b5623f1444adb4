//! `admin_grpc::ConnectionBackend` over the store: provisioning connections, OAuth clients and
//! grants for `admin.v1.ConnectionService`.

use crate::admin_backend::CoreAdminBackend;
use crate::ids::{OrgId, RoleId};
use crate::store::connections::{Connection, ConnectionError};
use crate::store::{connections, oauth, roles};
use crate::time::to_timestamp;
use admin_grpc::ConnectionBackend;
use identity_proto::admin::v1 as pb;
use tonic::Status;
use uuid::Uuid;

fn connection_pb(row: &Connection, errors: &[ConnectionError]) -> pb::Connection {
    pb::Connection {
        id: row.id.to_string(),
        organization_id: row.org_id.to_string(),
        name: row.name.clone(),
        allowed_group_names: row.allowed_groups.clone().unwrap_or_default(),
        create_time: Some(to_timestamp(row.created_at)),
        activity: Some(pb::ConnectionActivity {
            last_request_time: row.last_request_at.map(to_timestamp),
            creates: row.creates,
            updates: row.updates,
            deactivations: row.deactivations,
            deletes: row.deletes,
            recent_errors: errors
                .iter()
                .map(|error| pb::ConnectionError {
                    time: Some(to_timestamp(error.occurred_at)),
                    method: error.method.clone(),
                    path: error.path.clone(),
                    status: error.status,
                    scim_type: error.scim_type.clone(),
                    detail: error.detail.clone(),
                })
                .collect(),
        }),
    }
}

fn client_pb(row: &oauth::OAuthClient) -> pb::OAuthClient {
    pb::OAuthClient {
        client_id: row.client_id.clone(),
        connection_id: row.connection_id.to_string(),
        name: row.name.clone(),
        redirect_uris: row.redirect_uris.clone(),
        create_time: Some(to_timestamp(row.created_at)),
        client_credentials: row.client_credentials,
    }
}

fn grant_pb(row: &oauth::Grant) -> pb::Grant {
    pb::Grant {
        id: row.id.to_string(),
        client_id: row.client_id.clone(),
        kind: i32::from(row.kind),
        scope: row.scope.clone(),
        create_time: Some(to_timestamp(row.created_at)),
        last_refresh_time: row.last_refreshed_at.map(to_timestamp),
        revoke_time: row.revoked_at.map(to_timestamp),
        revoke_reason: row.revoke_reason.clone().unwrap_or_default(),
    }
}

impl CoreAdminBackend {
    /// Groups to sync as the owner gave them, each a role's name or id: an id of one of the
    /// organization's roles becomes that role's name (the edge compares names, as identity
    /// providers push them); anything else is a name, perhaps of a group not pushed yet.
    async fn group_names(
        &self,
        org: OrgId,
        groups: Option<Vec<String>>,
    ) -> crate::error::CoreResult<Option<Vec<String>>> {
        let Some(groups) = groups else {
            return Ok(None);
        };
        let mut names = Vec::with_capacity(groups.len());
        for group in groups {
            let role = match Uuid::try_parse(&group) {
                Ok(id) => roles::find_role(&self.db, org, Some(RoleId(id)), &group).await?,
                Err(_) => None,
            };
            names.push(role.map_or(group, |role| role.data.display_name));
        }
        Ok(Some(names))
    }
}

#[async_trait::async_trait]
impl ConnectionBackend for CoreAdminBackend {
    async fn create_connection(
        &self,
        organization_id: Uuid,
        name: &str,
        allowed_groups: Option<Vec<String>>,
    ) -> Result<pb::Connection, Status> {
        let org = OrgId(organization_id);
        let allowed_groups = self.group_names(org, allowed_groups).await?;
        let row = connections::create(&self.db, org, name, allowed_groups).await?;
        tracing::info!(target: "audit", org_id = %organization_id, connection_id = %row.id, action = "connection.create", "provisioning connection created");
        Ok(connection_pb(&row, &[]))
    }

    async fn list_connections(&self, organization_id: Uuid) -> Result<Vec<pb::Connection>, Status> {
        let rows = connections::list(&self.db, OrgId(organization_id)).await?;
        Ok(rows.iter().map(|row| connection_pb(row, &[])).collect())
    }

    async fn get_connection(
        &self,
        organization_id: Uuid,
        id: Uuid,
    ) -> Result<pb::Connection, Status> {
        let row = connections::get(&self.db, OrgId(organization_id), id).await?;
        let errors = connections::recent_errors(&self.db, id).await?;
        Ok(connection_pb(&row, &errors))
    }

    async fn update_connection(
        &self,
        organization_id: Uuid,
        id: Uuid,
        name: Option<String>,
        groups: Option<Option<Vec<String>>>,
    ) -> Result<pb::Connection, Status> {
        let org = OrgId(organization_id);
        let groups = match groups {
            Some(groups) => Some(self.group_names(org, groups).await?),
            None => None,
        };
        let row = connections::update(&self.db, org, id, name, groups).await?;
        tracing::info!(target: "audit", org_id = %organization_id, connection_id = %id, action = "connection.update", "provisioning connection updated");
        Ok(connection_pb(&row, &[]))
    }

    async fn delete_connection(&self, organization_id: Uuid, id: Uuid) -> Result<(), Status> {
        connections::delete(&self.db, OrgId(organization_id), id).await?;
        tracing::info!(target: "audit", org_id = %organization_id, connection_id = %id, action = "connection.delete", "provisioning connection deleted");
        Ok(())
    }

    async fn register_oauth_client(
        &self,
        organization_id: Uuid,
        connection_id: Uuid,
        name: &str,
        redirect_uris: &[String],
        client_credentials: bool,
    ) -> Result<pb::RegisterOAuthClientResponse, Status> {
        let (row, secret) = oauth::register_client(
            &self.db,
            OrgId(organization_id),
            connection_id,
            name,
            redirect_uris,
            client_credentials,
        )
        .await?;
        tracing::info!(target: "audit", org_id = %organization_id, connection_id = %connection_id, client_id = %row.client_id, client_credentials, action = "oauth_client.register", "OAuth client registered");
        Ok(pb::RegisterOAuthClientResponse {
            client: Some(client_pb(&row)),
            client_secret: secret,
        })
    }

    async fn list_oauth_clients(
        &self,
        organization_id: Uuid,
        connection_id: Uuid,
    ) -> Result<Vec<pb::OAuthClient>, Status> {
        let rows = oauth::list_clients(&self.db, OrgId(organization_id), connection_id).await?;
        Ok(rows.iter().map(client_pb).collect())
    }

    async fn delete_oauth_client(
        &self,
        organization_id: Uuid,
        client_id: &str,
    ) -> Result<(), Status> {
        oauth::delete_client(&self.db, OrgId(organization_id), client_id).await?;
        tracing::info!(target: "audit", org_id = %organization_id, client_id = %client_id, action = "oauth_client.delete", "OAuth client deleted");
        Ok(())
    }

    async fn list_grants(
        &self,
        organization_id: Uuid,
        connection_id: Uuid,
    ) -> Result<Vec<pb::Grant>, Status> {
        let grants = oauth::list_grants(&self.db, OrgId(organization_id), connection_id).await?;
        Ok(grants.iter().map(grant_pb).collect())
    }

    async fn revoke_grant(
        &self,
        organization_id: Uuid,
        grant_id: Uuid,
    ) -> Result<pb::Grant, Status> {
        let grant = oauth::revoke_grant(&self.db, OrgId(organization_id), grant_id).await?;
        tracing::info!(target: "audit", org_id = %organization_id, grant_id = %grant_id, action = "oauth_grant.revoke", "OAuth grant revoked");
        Ok(grant_pb(&grant))
    }
}
