//! The directory's endpoints: reading it, publishing a record, taking an
//! object in.

use super::*;
use crate::api_types::{
    DirectoryView, HistoryItem, PublishRequest, RecordEntry, RevokeNodeRequest, RevokedNode, StateView, SubmitRequest,
    SubmitResponse, WithdrawRequest,
};
use crate::error::{PublishError, RevokeError, SubmitError, WithdrawError};
use hotline_core::{DirectoryObject, Role, StateCode};

plain_get!(
    /// `GET /v1/directory`: the admitted states and their records.
    GetDirectory, "/v1/directory", DirectoryView, directory
);

/// `GET /v1/directory/{state}`: one state's admission and records.
#[derive(Clone, Copy, Debug)]
pub struct GetState {
    /// The state.
    pub state: StateCode,
}

impl Endpoint for GetState {
    const VERB: Verb = Verb::Get;
    const ROUTE: &'static str = "/v1/directory/{state}";
    type Answer = StateView;
    type Error = NodeError;

    fn uri(&self) -> String {
        format!("/v1/directory/{}", self.state)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        parts.query(&[])?;
        Ok(GetState { state: parts.state()? })
    }

    async fn answer(self, node: &NodeHandle) -> Result<StateView, NodeError> {
        node.state_view(self.state).await
    }
}

/// `GET /v1/directory/{state}/{role}`: the record in force for a point of
/// contact.
#[derive(Clone, Debug)]
pub struct GetRecord {
    /// The state.
    pub state: StateCode,
    /// The role.
    pub role: Role,
}

impl Endpoint for GetRecord {
    const VERB: Verb = Verb::Get;
    const ROUTE: &'static str = "/v1/directory/{state}/{role}";
    type Answer = RecordEntry;
    type Error = NodeError;

    fn uri(&self) -> String {
        format!("/v1/directory/{}/{}", self.state, self.role)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        parts.query(&[])?;
        Ok(GetRecord { state: parts.state()?, role: parts.role()? })
    }

    async fn answer(self, node: &NodeHandle) -> Result<RecordEntry, NodeError> {
        node.record(self.state, self.role).await
    }
}

/// `GET /v1/directory/{state}/{role}/history`: every version of a record
/// this node accepted.
#[derive(Clone, Debug)]
pub struct GetHistory {
    /// The state.
    pub state: StateCode,
    /// The role.
    pub role: Role,
}

impl Endpoint for GetHistory {
    const VERB: Verb = Verb::Get;
    const ROUTE: &'static str = "/v1/directory/{state}/{role}/history";
    type Answer = Vec<HistoryItem>;
    type Error = NodeError;

    fn uri(&self) -> String {
        format!("/v1/directory/{}/{}/history", self.state, self.role)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        parts.query(&[])?;
        Ok(GetHistory { state: parts.state()?, role: parts.role()? })
    }

    async fn answer(self, node: &NodeHandle) -> Result<Vec<HistoryItem>, NodeError> {
        node.history(self.state, self.role).await
    }
}

/// `POST /v1/records`: sign, store and publish the next version of this
/// node's state's record for a role (201).
#[derive(Clone, Debug)]
pub struct PublishRecord(pub PublishRequest);

impl Endpoint for PublishRecord {
    const VERB: Verb = Verb::Post;
    const ROUTE: &'static str = "/v1/records";
    const CREATES: bool = true;
    type Answer = RecordEntry;
    type Error = PublishError;

    fn uri(&self) -> String {
        Self::ROUTE.to_string()
    }

    fn body(&self) -> Option<Result<Vec<u8>, serde_json::Error>> {
        json(&self.0)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        parts.query(&[])?;
        Ok(PublishRecord(parts.json()?))
    }

    async fn answer(self, node: &NodeHandle) -> Result<RecordEntry, PublishError> {
        node.publish_record(self.0.draft, self.0.validity_days).await
    }
}

/// `POST /v1/objects`: a signed object made elsewhere (an admission, a
/// revocation), for the directory to apply.
#[derive(Clone, Debug)]
pub struct SubmitObject(pub DirectoryObject);

impl Endpoint for SubmitObject {
    const VERB: Verb = Verb::Post;
    const ROUTE: &'static str = "/v1/objects";
    type Answer = SubmitResponse;
    type Error = SubmitError;

    fn uri(&self) -> String {
        Self::ROUTE.to_string()
    }

    fn body(&self) -> Option<Result<Vec<u8>, serde_json::Error>> {
        json(&SubmitRequest { object_hex: hex::encode(self.0.to_bytes()) })
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        parts.query(&[])?;
        let request: SubmitRequest = parts.json()?;
        let bad = |e: &dyn std::fmt::Display| BadRequest::new("bad_object", format!("object_hex: {e}"));
        let bytes = hex::decode(request.object_hex.trim()).map_err(|e| bad(&e))?;
        Ok(SubmitObject(DirectoryObject::from_bytes(&bytes).map_err(|e| bad(&e))?))
    }

    async fn answer(self, node: &NodeHandle) -> Result<SubmitResponse, SubmitError> {
        node.submit_object(self.0).await
    }
}

/// `POST /v1/records/{role}/withdraw`: this state withdraws its record for
/// a role (a revocation signed with the state key, published).
#[derive(Clone, Debug)]
pub struct WithdrawRecord {
    /// The role withdrawn.
    pub role: Role,
    /// Why.
    pub request: WithdrawRequest,
}

impl Endpoint for WithdrawRecord {
    const VERB: Verb = Verb::Post;
    const ROUTE: &'static str = "/v1/records/{role}/withdraw";
    type Answer = RecordEntry;
    type Error = WithdrawError;

    fn uri(&self) -> String {
        format!("/v1/records/{}/withdraw", self.role)
    }

    fn body(&self) -> Option<Result<Vec<u8>, serde_json::Error>> {
        json(&self.request)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        parts.query(&[])?;
        Ok(WithdrawRecord { role: parts.role()?, request: parts.json()? })
    }

    async fn answer(self, node: &NodeHandle) -> Result<RecordEntry, WithdrawError> {
        node.withdraw_record(self.role, self.request.reason).await
    }
}

/// `POST /v1/backup`: the daemon writes an encrypted backup of its node
/// (store, keys, configuration) from one read transaction.
#[derive(Clone, Debug)]
pub struct MakeBackup(pub crate::api_types::BackupRequest);

impl Endpoint for MakeBackup {
    const VERB: Verb = Verb::Post;
    const ROUTE: &'static str = "/v1/backup";
    const CREATES: bool = true;
    type Answer = crate::api_types::BackupView;
    type Error = crate::error::BackupFailure;

    fn uri(&self) -> String {
        Self::ROUTE.into()
    }

    fn body(&self) -> Option<Result<Vec<u8>, serde_json::Error>> {
        json(&self.0)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        parts.query(&[])?;
        Ok(MakeBackup(parts.json()?))
    }

    async fn answer(self, node: &NodeHandle) -> Result<crate::api_types::BackupView, crate::error::BackupFailure> {
        node.backup(self.0).await
    }
}

/// `POST /v1/nodes/{peer}/revoke`: this state revokes one of its nodes (a
/// revocation signed with the state key, published).
#[derive(Clone, Debug)]
pub struct RevokeNode {
    /// The node revoked.
    pub node: hotline_core::NodeId,
    /// Why.
    pub request: RevokeNodeRequest,
}

impl Endpoint for RevokeNode {
    const VERB: Verb = Verb::Post;
    const ROUTE: &'static str = "/v1/nodes/{peer}/revoke";
    type Answer = RevokedNode;
    type Error = RevokeError;

    fn uri(&self) -> String {
        format!("/v1/nodes/{}/revoke", self.node.to_peer_id())
    }

    fn body(&self) -> Option<Result<Vec<u8>, serde_json::Error>> {
        json(&self.request)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        parts.query(&[])?;
        Ok(RevokeNode { node: parts.node("peer")?, request: parts.json()? })
    }

    async fn answer(self, node: &NodeHandle) -> Result<RevokedNode, RevokeError> {
        node.revoke_node(self.node, self.request.reason).await
    }
}
