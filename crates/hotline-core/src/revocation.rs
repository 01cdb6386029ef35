//! Revocations: signed objects that withdraw an admission (by a steward
//! quorum), or a node or record versions (by the state key). They spread like
//! every other object and take effect as soon as they are applied.

use crate::charter::StewardSignature;
use crate::ids::{NodeId, Role, StateCode};
use crate::keys::Signature;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// What is revoked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RevocationTarget {
    /// Every admission of `state` with `seq ≤ up_to_seq`, and with it the
    /// state's records. Signed by a steward quorum. A later admission with a
    /// higher `seq` re-admits the state.
    Admission {
        /// The state.
        state: StateCode,
        /// Highest admission `seq` revoked.
        up_to_seq: u64,
    },
    /// Every version of the `(state, role)` record with `seq ≤ up_to_seq`.
    /// Signed by the state key of admission `admission_seq`.
    Record {
        /// The state.
        state: StateCode,
        /// The role.
        role: Role,
        /// The admission whose key signs this revocation.
        admission_seq: u64,
        /// Highest record `seq` revoked.
        up_to_seq: u64,
    },
    /// A node key (lost or compromised). Signed by the state key of admission
    /// `admission_seq`. The node stops being a member even if a record lists it.
    Node {
        /// The state.
        state: StateCode,
        /// The admission whose key signs this revocation.
        admission_seq: u64,
        /// The node.
        node: NodeId,
    },
}

/// The revocation body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// What is revoked.
    pub target: RevocationTarget,
    /// When it was signed.
    pub issued_at: Timestamp,
    /// Free-text reason, for the audit log.
    pub reason: String,
}

/// Who signed a revocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RevocationAuthority {
    /// A steward quorum (admission revocations).
    Stewards(Vec<StewardSignature>),
    /// The state key (record and node revocations).
    State(Signature),
}

/// A revocation with its signatures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRevocation {
    /// The body.
    pub revocation: Revocation,
    /// The signatures.
    pub authority: RevocationAuthority,
}

impl RevocationTarget {
    /// The state concerned.
    pub fn state(&self) -> StateCode {
        match self {
            RevocationTarget::Admission { state, .. }
            | RevocationTarget::Record { state, .. }
            | RevocationTarget::Node { state, .. } => *state,
        }
    }
}
