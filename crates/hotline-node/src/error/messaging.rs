//! Why a message could not be sent, acknowledged or listed.

use super::{Kind, NodeError, api_failure};
use hotline_core::{Address, MessageId, Tlp};
use thiserror::Error;

/// Why `POST /v1/messages` (a message or a reply) was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SendError {
    /// The recipient is this node's own state: its nodes refuse a message
    /// from their own state, for ever.
    #[error("{0} is this node's own state: Hotline carries messages between states, not within one")]
    OwnState(Address),
    /// The recipient's role is not one the network's charter declares.
    #[error("{} is not a role of this network: its charter declares {}", to.role, list(roles))]
    UnknownRole {
        /// The recipient.
        to: Address,
        /// The roles the charter declares.
        roles: Vec<hotline_core::Role>,
    },
    /// No contact record of the recipient is held; `others` are its
    /// state's points of contact whose records are in force.
    #[error("no contact record of {to} is held{}", others_of(&to.state, others))]
    NoRecord {
        /// The recipient.
        to: Address,
        /// Its state's roles with a record in force.
        others: Vec<hotline_core::Role>,
    },
    /// The recipient's record is withdrawn (revoked by its state) or
    /// revoked with its state's admission; `others` are the state's points
    /// of contact whose records are in force.
    #[error("the contact record of {to} is withdrawn or revoked{}", others_of(&to.state, others))]
    RecordRevoked {
        /// The recipient.
        to: Address,
        /// Its state's other roles with a record in force.
        others: Vec<hotline_core::Role>,
    },
    /// The recipient's record expired (send with `force` to queue anyway).
    #[error("{0}")]
    RecordExpired(String),
    /// The recipient's record is about to expire (send with `force`).
    #[error("{0}")]
    RecordExpiring(String),
    /// The recipient failed its last two communication checks (send with
    /// `force`).
    #[error("{0}")]
    RecordUnconfirmed(String),
    /// No node the recipient's record lists is a member.
    #[error("the contact record of {0} lists no member node")]
    NoMemberNode(Address),
    /// This node is not listed in a record in force of the sending role.
    #[error("this node is not listed in a contact record in force of {0}: publish that record, with this node, first")]
    NotListed(Address),
    /// The message answered is not held.
    #[error("no message {0} is held to reply to")]
    NoParent(MessageId),
    /// A reply would lower the label of the message it answers.
    #[error("a reply to a {parent} message cannot be {tlp}: keep its label, or set force to lower it on purpose")]
    TlpLowered {
        /// The label of the message answered.
        parent: Tlp,
        /// The label asked for.
        tlp: Tlp,
    },
    /// A reply to an exercise is not marked as one.
    #[error("a reply to an exercise must be marked as one too (is_exercise), or set force to answer it as real")]
    ExerciseDropped,
    /// The message breaks a rule of the message format.
    #[error("{0}")]
    InvalidField(String),
    /// The node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl SendError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            SendError::OwnState(_) => "own_state",
            SendError::UnknownRole { .. } => "unknown_role",
            SendError::NoRecord { .. } | SendError::NoParent(_) => "not_found",
            SendError::RecordRevoked { .. } => "record_not_in_force",
            SendError::RecordExpired(_) => "record_expired",
            SendError::RecordExpiring(_) => "record_expiring",
            SendError::RecordUnconfirmed(_) => "record_unconfirmed",
            SendError::NoMemberNode(_) => "no_member_node",
            SendError::NotListed(_) => "not_listed",
            SendError::TlpLowered { .. } => "tlp_lowered",
            SendError::ExerciseDropped => "exercise_dropped",
            SendError::InvalidField(_) => "invalid_field",
            SendError::Node(e) => e.code(),
        }
    }

    /// The kind, which gives the HTTP status.
    pub fn kind(&self) -> Kind {
        match self {
            SendError::NoRecord { .. } | SendError::NoParent(_) => Kind::NotFound,
            SendError::Node(e) => e.kind(),
            SendError::OwnState(_)
            | SendError::UnknownRole { .. }
            | SendError::RecordRevoked { .. }
            | SendError::RecordExpired(_)
            | SendError::RecordExpiring(_)
            | SendError::RecordUnconfirmed(_)
            | SendError::NoMemberNode(_)
            | SendError::NotListed(_)
            | SendError::TlpLowered { .. }
            | SendError::ExerciseDropped
            | SendError::InvalidField(_) => Kind::BadInput,
        }
    }
}

/// "; write to DEU/technical instead", or nothing when there is none.
/// `a`, `a and b`, `a, b and c`.
fn list(roles: &[hotline_core::Role]) -> String {
    let names: Vec<String> = roles.iter().map(ToString::to_string).collect();
    match names.split_last() {
        None => "no role".into(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

fn others_of(state: &hotline_core::StateCode, others: &[hotline_core::Role]) -> String {
    if others.is_empty() {
        return format!("; {state} has no other point of contact in force");
    }
    let list: Vec<String> = others.iter().map(|r| format!("{state}/{r}")).collect();
    format!("; write to {} instead", list.join(" or "))
}

/// Why `POST /v1/messages/{id}/ack` was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AckError {
    /// No received message has that id.
    #[error("no received message {0} is held")]
    NotReceived(MessageId),
    /// The message is itself an acknowledgement.
    #[error("an acknowledgement is not itself acknowledged")]
    AckOfAck,
    /// The message was acknowledged already.
    #[error("message {id} was already acknowledged by {by}")]
    AlreadyAcknowledged {
        /// The message.
        id: MessageId,
        /// The acknowledgement sent for it.
        by: MessageId,
    },
    /// The acknowledgement itself could not be sent.
    #[error(transparent)]
    Send(#[from] SendError),
    /// The node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl AckError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            AckError::NotReceived(_) => "not_found",
            AckError::AckOfAck => "bad_ack",
            AckError::AlreadyAcknowledged { .. } => "already_acknowledged",
            AckError::Send(e) => e.code(),
            AckError::Node(e) => e.code(),
        }
    }

    /// The kind, which gives the HTTP status.
    pub fn kind(&self) -> Kind {
        match self {
            AckError::NotReceived(_) => Kind::NotFound,
            AckError::AckOfAck | AckError::AlreadyAcknowledged { .. } => Kind::BadInput,
            AckError::Send(e) => e.kind(),
            AckError::Node(e) => e.kind(),
        }
    }
}

/// Why `POST /v1/messages/{id}/cancel` was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CancelError {
    /// No message this node sent has that id.
    #[error("no sent message {0} is held")]
    NotSent(MessageId),
    /// Every delivery of the message was receipted (or cancelled) already.
    #[error("message {0} has no delivery waiting: every recipient node receipted it, or it was cancelled before")]
    NothingQueued(MessageId),
    /// A delivery of the message is moving to another node of the
    /// recipient's state right now (a write of a moment); ask again.
    #[error(
        "a delivery of message {0} is moving to another node of its recipient's state right now; try again in a moment"
    )]
    Moving(MessageId),
    /// The node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl CancelError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            CancelError::NotSent(_) => "not_found",
            CancelError::NothingQueued(_) => "nothing_queued",
            CancelError::Moving(_) => "moving",
            CancelError::Node(e) => e.code(),
        }
    }

    /// The kind, which gives the HTTP status.
    pub fn kind(&self) -> Kind {
        match self {
            CancelError::NotSent(_) => Kind::NotFound,
            CancelError::NothingQueued(_) => Kind::BadInput,
            CancelError::Moving(_) => Kind::Conflict,
            CancelError::Node(e) => e.kind(),
        }
    }
}

impl From<hotline_store::StoreError> for CancelError {
    fn from(e: hotline_store::StoreError) -> CancelError {
        CancelError::Node(e.into())
    }
}

/// Why `GET /v1/messages` was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum QueryError {
    /// `box` is not `inbox`, `sent` or `all`.
    #[error("box must be inbox, sent or all, not {0:?}")]
    BadBox(String),
    /// `limit` is out of range.
    #[error("limit must be 1 to {max}, not {limit}")]
    BadLimit {
        /// The limit asked for.
        limit: usize,
        /// The largest page.
        max: usize,
    },
    /// `before` is not a cursor this node gave.
    #[error("{0}")]
    BadCursor(String),
    /// The node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl QueryError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::BadBox(_) => "bad_box",
            QueryError::BadLimit { .. } => "bad_limit",
            QueryError::BadCursor(_) => "bad_cursor",
            QueryError::Node(e) => e.code(),
        }
    }

    /// The kind, which gives the HTTP status.
    pub fn kind(&self) -> Kind {
        match self {
            QueryError::BadBox(_) | QueryError::BadLimit { .. } | QueryError::BadCursor(_) => Kind::BadInput,
            QueryError::Node(e) => e.kind(),
        }
    }
}

api_failure!(SendError, AckError, QueryError, CancelError);

impl From<hotline_store::StoreError> for SendError {
    fn from(e: hotline_store::StoreError) -> SendError {
        SendError::Node(e.into())
    }
}

impl From<hotline_store::StoreError> for AckError {
    fn from(e: hotline_store::StoreError) -> AckError {
        AckError::Node(e.into())
    }
}

impl From<hotline_store::StoreError> for QueryError {
    fn from(e: hotline_store::StoreError) -> QueryError {
        QueryError::Node(e.into())
    }
}
