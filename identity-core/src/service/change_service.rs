//! identity.v1.ChangeService: pages of the per-organization change feed.

use crate::ids::OrgId;
use crate::service::convert;
use crate::store::changes;
use crate::store::paging;
use identity_proto::identity::v1 as pb;
use identity_proto::identity::v1::change_service_server::ChangeService;
use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

/// The ChangeService handlers.
#[derive(Debug, Clone)]
pub struct ChangeServiceImpl {
    db: DatabaseConnection,
}

impl ChangeServiceImpl {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[tonic::async_trait]
impl ChangeService for ChangeServiceImpl {
    async fn list_changes(
        &self,
        request: Request<pb::ListChangesRequest>,
    ) -> Result<Response<pb::ListChangesResponse>, Status> {
        let req = request.into_inner();
        let org = OrgId::parse("organization_id", &req.organization_id)?;
        if req.after_sequence < 0 {
            return Err(
                crate::error::CoreError::invalid("after_sequence", "must not be negative").into(),
            );
        }
        let page_size = paging::page_size(
            "page_size",
            req.page_size,
            changes::DEFAULT_CHANGES_PAGE_SIZE,
            changes::MAX_CHANGES_PAGE_SIZE,
        )?;
        let page = changes::list_changes(&self.db, org, req.after_sequence, page_size).await?;
        Ok(Response::new(pb::ListChangesResponse {
            changes: page.changes.iter().map(convert::change_to_proto).collect(),
            latest_sequence: page.latest_sequence,
        }))
    }
}
