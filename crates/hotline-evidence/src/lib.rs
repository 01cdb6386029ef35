//! # hotline-evidence
//!
//! The evidence log of a Hotline node, as pure functions and types: what
//! a node commits to, how it signs that commitment, how other states'
//! nodes witness it, and how a rewrite is proven.
//!
//! - [`EvidenceEvent`]: an event a node logs (a message sent or received, a
//!   receipt, an acknowledgement), made of ids and hashes only: a leaf never
//!   holds a plaintext. [`EvidenceEvent::leaf_hash`] is the RFC 6962 record
//!   hash of its domain-separated encoding.
//! - [`tree`]: the Merkle tree over the leaves (RFC 6962/9162 as
//!   `tlog_tiles` implements it): the hashes to store per leaf, the root at
//!   any size, inclusion and consistency proofs, and their checks with every
//!   input bounded first.
//! - [`SignedCheckpoint`]: a C2SP `tlog-checkpoint` signed note naming the
//!   node's log (its origin holds the network id and the node id), its size,
//!   root and time, signed by the node key in the
//!   [`hotline_core::keys::Context::EVIDENCE_CHECKPOINT`] context; witness
//!   nodes add cosignature lines ([`Cosignature`]).
//! - [`witness`]: a witness's decision on a new checkpoint given the last
//!   one it cosigned, and the [`EquivocationProof`] that anyone can check
//!   from two checkpoints alone.
//!
//! **Edges.** No I/O, no clock, no async: the store keeps the hashes (it
//! implements [`tlog_tiles::HashReader`]) and the node decides when to sign.

// Input reaches this crate from the network and the disk: no `unwrap`,
// `expect` or `panic!` outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod checkpoint;
mod error;
mod event;
pub mod tree;
pub mod witness;

pub use checkpoint::{
    Checkpoint, Cosignature, MAX_CHECKPOINT_BYTES, MAX_WITNESS_LINES, SignedCheckpoint, log_origin, witness_name,
};
pub use error::EvidenceError;
pub use event::{EvidenceEvent, digest};
pub use tlog_tiles::{Hash, HashReader};
pub use witness::{EquivocationKind, EquivocationProof, Verdict};
