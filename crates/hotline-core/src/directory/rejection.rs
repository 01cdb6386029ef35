//! Why the directory refuses an object, or holds it back.

use crate::charter::CharterError;
use crate::ids::{NodeId, StateCode};
use crate::time::Timestamp;
use crate::validate::FieldError;
use thiserror::Error;

/// A typed reason for refusing an object. Every variant has a stable
/// [`Rejection::code`] for logs, metrics and the control API.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// A field breaks a rule (too long, malformed, undeclared role…).
    #[error("invalid field {0}")]
    Invalid(#[from] FieldError),
    /// `issued_at` is further in the future than the allowed clock skew.
    #[error("issued at {issued_at}, which is in the future (now {now}, allowed skew {skew_secs} s)")]
    FromTheFuture {
        /// The object's issue time.
        issued_at: Timestamp,
        /// The local clock.
        now: Timestamp,
        /// Allowed skew.
        skew_secs: u64,
    },
    /// `expires` is further from `issued_at` than the charter allows.
    #[error("valid for {days} days, the charter allows at most {max_days}")]
    ValidityTooLong {
        /// Requested validity.
        days: u64,
        /// Allowed validity.
        max_days: u64,
    },
    /// The object has expired.
    #[error("expired at {0}")]
    Expired(Timestamp),
    /// The state's admission has expired.
    #[error("the admission of {0} has expired")]
    AdmissionExpired(StateCode),
    /// Not signed by a steward quorum.
    #[error("steward signatures: {0}")]
    Stewards(CharterError),
    /// The signature is not by the key that must sign this object.
    #[error("the signature does not verify with the {signer}: forged, altered, or signed for another network")]
    BadSignature {
        /// Which key should have signed.
        signer: &'static str,
    },
    /// The wrong kind of authority signed a revocation.
    #[error("an admission revocation must be signed by stewards, a record or node revocation by the state key")]
    WrongAuthority,
    /// Signed under an older admission (an older state key).
    #[error("signed under admission {got} of {state}, but admission {current} is in force")]
    SupersededAdmission {
        /// The state.
        state: StateCode,
        /// The admission the object names.
        got: u64,
        /// The admission in force.
        current: u64,
    },
    /// `seq` is lower than the one held: a replay or a rollback.
    #[error("seq {got} is older than the seq {current} already held (replay or rollback)")]
    Stale {
        /// The object's seq.
        got: u64,
        /// The seq held.
        current: u64,
    },
    /// A revocation covers the object.
    #[error("revoked")]
    Revoked,
    /// The pending set is full.
    #[error("the pending set is full; the object will be fetched again by sync")]
    PendingFull,
    /// A node that is not a member sent an object that is not its own (its
    /// state's admission, a record listing it, its own prekey bundle).
    #[error("a node that is not a member may present only its own admission, record and prekey bundle")]
    NotOwnObject,
    /// A node that is not a member sent an object that would have to wait
    /// for a parent: nothing of a non-member waits.
    #[error("from a node that is not a member, only objects that apply at once are taken: {0}")]
    MustApplyAtOnce(Waiting),
    /// A node revocation names a node that no record of the signing state
    /// lists: a state revokes only its own nodes.
    #[error("{state} revokes node {node}, which no record of {state} lists: a state revokes only its own nodes")]
    NodeNotListed {
        /// The state that signed the revocation.
        state: StateCode,
        /// The node it names.
        node: NodeId,
    },
}

impl Rejection {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Invalid(_) => "invalid_field",
            Rejection::FromTheFuture { .. } => "from_the_future",
            Rejection::ValidityTooLong { .. } => "validity_too_long",
            Rejection::Expired(_) => "expired",
            Rejection::AdmissionExpired(_) => "admission_expired",
            Rejection::Stewards(_) => "steward_quorum",
            Rejection::BadSignature { .. } => "bad_signature",
            Rejection::WrongAuthority => "wrong_authority",
            Rejection::SupersededAdmission { .. } => "superseded_admission",
            Rejection::Stale { .. } => "stale_seq",
            Rejection::Revoked => "revoked",
            Rejection::PendingFull => "pending_full",
            Rejection::NodeNotListed { .. } => "node_not_listed",
            Rejection::NotOwnObject => "not_own_object",
            Rejection::MustApplyAtOnce(_) => "must_apply_at_once",
        }
    }

    /// Whether the sender of this object should be penalised: the object is
    /// provably malformed or forged. Objects that are merely old, revoked,
    /// superseded, expired or ahead of our clock can reach an honest peer
    /// through a race or a skewed clock, so they are not held against it.
    pub fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            Rejection::Invalid(_)
                | Rejection::ValidityTooLong { .. }
                | Rejection::Stewards(_)
                | Rejection::BadSignature { .. }
                | Rejection::WrongAuthority
        )
    }
}

/// Why an object waits in the pending set instead of being applied.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// No admission of this state is known (yet).
    #[error("{0} is not an admitted state (or its admission has not arrived yet)")]
    UnknownState(StateCode),
    /// The object names a newer admission than the one held.
    #[error("signed under admission {needed} of {state}, which has not arrived yet (have {have})")]
    AdmissionNotYetSeen {
        /// The state.
        state: StateCode,
        /// Admission seq named by the object.
        needed: u64,
        /// Admission seq held.
        have: u64,
    },
    /// No live record of the state lists this node (yet).
    #[error("node {node} is not listed in a current record of {state}")]
    NodeNotListed {
        /// The state.
        state: StateCode,
        /// The node.
        node: NodeId,
    },
}
