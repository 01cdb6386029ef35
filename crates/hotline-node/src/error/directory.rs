//! Why a record could not be published, or an object taken in.

use super::{Kind, NodeError, api_failure};
use hotline_core::{Address, Rejection, StateCode};
use thiserror::Error;

/// Why `POST /v1/records` was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PublishError {
    /// This node's state has no admission in force naming the key on disk,
    /// so whatever it signs would be refused.
    #[error("state {0} has no admission in force in this node's directory: import its admission first")]
    NotAdmitted(StateCode),
    /// This node holds no state key (it was added with `hotline node
    /// add`): the node that holds it signs for the state.
    #[error(
        "this node holds no state key of {0} (it was added with `hotline node add`): sign on the node that holds it"
    )]
    NoStateKey(StateCode),
    /// `validity_days` is 0.
    #[error("validity_days: must be at least 1")]
    BadValidity,
    /// The directory refused the record (a field, a rule of the charter).
    #[error("{0}")]
    Rejected(Rejection),
    /// The directory did not take a record it should have.
    #[error("the directory did not take the new record: {0}")]
    NotApplied(String),
    /// The node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl PublishError {
    /// The stable code: the directory's rejection code when it refused.
    pub fn code(&self) -> &'static str {
        match self {
            PublishError::NoStateKey(_) => "no_state_key",
            PublishError::NotAdmitted(_) => "not_admitted",
            PublishError::BadValidity => "bad_validity",
            PublishError::Rejected(r) => r.code(),
            PublishError::NotApplied(_) => "not_applied",
            PublishError::Node(e) => e.code(),
        }
    }

    /// The kind, which gives the HTTP status.
    pub fn kind(&self) -> Kind {
        match self {
            PublishError::NoStateKey(_) => Kind::Conflict,
            PublishError::NotAdmitted(_) => Kind::Conflict,
            PublishError::BadValidity | PublishError::Rejected(_) => Kind::BadInput,
            PublishError::NotApplied(_) => Kind::Fault,
            PublishError::Node(e) => e.kind(),
        }
    }
}

/// Why `POST /v1/objects` was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The directory refused the object.
    #[error("{0}")]
    Rejected(Rejection),
    /// The node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl SubmitError {
    /// The stable code: the directory's rejection code when it refused.
    pub fn code(&self) -> &'static str {
        match self {
            SubmitError::Rejected(r) => r.code(),
            SubmitError::Node(e) => e.code(),
        }
    }

    /// The kind, which gives the HTTP status.
    pub fn kind(&self) -> Kind {
        match self {
            SubmitError::Rejected(_) => Kind::BadInput,
            SubmitError::Node(e) => e.kind(),
        }
    }
}

/// Why `POST /v1/records/{role}/withdraw` was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WithdrawError {
    /// This node's state has no admission in force naming the key on disk.
    #[error("state {0} has no admission in force in this node's directory: import its admission first")]
    NotAdmitted(StateCode),
    /// This node holds no state key (it was added with `hotline node
    /// add`): the node that holds it signs for the state.
    #[error(
        "this node holds no state key of {0} (it was added with `hotline node add`): sign on the node that holds it"
    )]
    NoStateKey(StateCode),
    /// This state holds no record for that role.
    #[error("no contact record of {0} is held")]
    NoRecord(Address),
    /// The record is withdrawn (or revoked) already.
    #[error("the contact record of {0} is withdrawn already")]
    AlreadyWithdrawn(Address),
    /// The directory refused the revocation (a reason too long, …).
    #[error("{0}")]
    Rejected(Rejection),
    /// The node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl WithdrawError {
    /// The stable code: the directory's rejection code when it refused.
    pub fn code(&self) -> &'static str {
        match self {
            WithdrawError::NoStateKey(_) => "no_state_key",
            WithdrawError::NotAdmitted(_) => "not_admitted",
            WithdrawError::NoRecord(_) => "not_found",
            WithdrawError::AlreadyWithdrawn(_) => "already_withdrawn",
            WithdrawError::Rejected(r) => r.code(),
            WithdrawError::Node(e) => e.code(),
        }
    }

    /// The kind, which gives the HTTP status.
    pub fn kind(&self) -> Kind {
        match self {
            WithdrawError::NoStateKey(_) => Kind::Conflict,
            WithdrawError::NotAdmitted(_) => Kind::Conflict,
            WithdrawError::NoRecord(_) => Kind::NotFound,
            WithdrawError::AlreadyWithdrawn(_) | WithdrawError::Rejected(_) => Kind::BadInput,
            WithdrawError::Node(e) => e.kind(),
        }
    }
}

/// Why `POST /v1/nodes/{peer}/revoke` was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RevokeError {
    /// This node's state has no admission in force naming the key on disk.
    #[error("state {0} has no admission in force in this node's directory: import its admission first")]
    NotAdmitted(StateCode),
    /// This node holds no state key (it was added with `hotline node
    /// add`): the node that holds it signs for the state.
    #[error(
        "this node holds no state key of {0} (it was added with `hotline node add`): sign on the node that holds it"
    )]
    NoStateKey(StateCode),
    /// The node named is the one answering: it would cut itself off.
    #[error("{0} is this node: revoke it from another node of this state (or run hotline node revoke offline there)")]
    OwnNode(String),
    /// The node is revoked already.
    #[error("node {0} is revoked already")]
    AlreadyRevoked(String),
    /// The directory refused the revocation: the node was never listed by
    /// this state, the reason is too long, ….
    #[error("{0}")]
    Rejected(Rejection),
    /// The node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl RevokeError {
    /// The stable code: the directory's rejection code when it refused.
    pub fn code(&self) -> &'static str {
        match self {
            RevokeError::NoStateKey(_) => "no_state_key",
            RevokeError::NotAdmitted(_) => "not_admitted",
            RevokeError::OwnNode(_) => "own_node",
            RevokeError::AlreadyRevoked(_) => "already_revoked",
            RevokeError::Rejected(r) => r.code(),
            RevokeError::Node(e) => e.code(),
        }
    }

    /// The kind, which gives the HTTP status.
    pub fn kind(&self) -> Kind {
        match self {
            RevokeError::NoStateKey(_) => Kind::Conflict,
            RevokeError::NotAdmitted(_) => Kind::Conflict,
            RevokeError::OwnNode(_) | RevokeError::AlreadyRevoked(_) | RevokeError::Rejected(_) => Kind::BadInput,
            RevokeError::Node(e) => e.kind(),
        }
    }
}

api_failure!(PublishError, SubmitError, WithdrawError, RevokeError);
