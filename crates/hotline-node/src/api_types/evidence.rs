//! The evidence log as the control API shows it (`GET /v1/evidence`).

use hotline_core::Timestamp;
use serde::{Deserialize, Serialize};

/// This node's evidence log: its head, its latest checkpoint, and the
/// rewritten logs of other nodes it holds proof of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceView {
    /// This node's peer id.
    pub node: String,
    /// The log's epoch (one more at each restore from a backup).
    pub epoch: u64,
    /// Leaves in the log.
    pub size: u64,
    /// The root at that size (hex).
    pub root: String,
    /// The latest signed checkpoint, if any.
    pub checkpoint: Option<CheckpointView>,
    /// Proofs held that nodes rewrote their logs.
    pub equivocations: Vec<EquivocationView>,
}

/// A signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointView {
    /// Its size.
    pub size: u64,
    /// Its root (hex).
    pub root: String,
    /// When it was signed.
    pub signed_at: Timestamp,
    /// The witnesses that cosigned it (peer ids), with when.
    pub cosigned_by: Vec<(String, Timestamp)>,
    /// The signed note, as text (C2SP tlog-checkpoint).
    pub note: String,
}

/// Proof that a node rewrote its log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EquivocationView {
    /// The node (peer id).
    pub node: String,
    /// `fork` or `rollback`.
    pub kind: String,
    /// When this node learned of it.
    pub seen_at: Timestamp,
    /// The two signed checkpoints, as text.
    pub first: String,
    /// The later one.
    pub second: String,
}
