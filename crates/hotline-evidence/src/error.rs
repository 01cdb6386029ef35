//! Why evidence does not verify.

use thiserror::Error;

/// Why a checkpoint, a cosignature or a proof is refused. Each variant has
/// a stable code ([`EvidenceError::code`]).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EvidenceError {
    /// Larger than any checkpoint or proof this crate reads.
    #[error("{what} of {len} bytes is larger than the {max} allowed")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Not a well-formed signed note or checkpoint.
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    /// The checkpoint names another log (network or node) than expected.
    #[error("the checkpoint is of log '{found}', not '{expected}'")]
    WrongLog {
        /// The origin expected.
        expected: String,
        /// The origin found.
        found: String,
    },
    /// The log's signature is missing or does not verify.
    #[error("the checkpoint does not carry a valid signature of its node")]
    BadSignature,
    /// A cosignature does not verify.
    #[error("the cosignature of {witness} does not verify")]
    BadCosignature {
        /// The witness named.
        witness: String,
    },
    /// A proof does not check against the roots given.
    #[error("the {what} proof does not verify")]
    BadProof {
        /// `inclusion` or `consistency`.
        what: &'static str,
    },
    /// The arguments of a proof are out of range (an index past the size).
    #[error("{0}")]
    OutOfRange(String),
    /// Two checkpoints that are not an equivocation.
    #[error("not an equivocation: {0}")]
    NotEquivocation(String),
}

impl EvidenceError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            EvidenceError::TooLarge { .. } => "evidence_too_large",
            EvidenceError::Malformed(_) => "malformed_checkpoint",
            EvidenceError::WrongLog { .. } => "wrong_log",
            EvidenceError::BadSignature => "bad_checkpoint_signature",
            EvidenceError::BadCosignature { .. } => "bad_cosignature",
            EvidenceError::BadProof { .. } => "bad_proof",
            EvidenceError::OutOfRange(_) => "proof_out_of_range",
            EvidenceError::NotEquivocation(_) => "not_equivocation",
        }
    }
}
