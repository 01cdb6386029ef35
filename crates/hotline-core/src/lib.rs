//! # hotline-core
//!
//! The pure protocol core of Hotline: the trust-chain types (charter,
//! admission, contact record, prekey bundle, revocation), their canonical
//! binary encoding, domain-separated Ed25519 signatures, and
//! [`Directory::apply`], the single gate through which every directory object
//! enters a node.
//!
//! **Edges.** This crate performs no I/O, spawns nothing and reads no clock:
//! every time-dependent rule takes `now` as an argument, and key generation
//! takes its seed from the caller. Storage (`hotline-store`), networking
//! (`hotline-net`) and message sealing (`hotline-crypto`) build on it.

// Input reaches these pure crates from the network and the disk: no
// `unwrap`, `expect` or `panic!` outside tests (see the root Cargo.toml).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod admission;
pub mod charter;
pub mod comcheck;
pub mod directory;
pub mod encoding;
pub mod ids;
mod iso3166;
pub mod keys;
pub mod labels;
pub mod limits;
pub mod message;
pub mod object;
pub mod prekey;
pub mod record;
pub mod revocation;
pub mod roster;
/// Fixtures for other crates' tests: they may panic.
#[cfg(feature = "testkit")]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub mod testkit;
pub mod thread;
pub mod time;
pub mod validate;

pub use admission::{Admission, SignedAdmission};
pub use charter::{Charter, CharterError, RecordPolicy, SignedCharter, StewardSignature};
pub use directory::{
    Applied, Change, Digest, Directory, Entry, Outcome, RecordStatus, RecordView, Rejection, Source, Waiting,
};
pub use encoding::DecodeError;
pub use ids::{NetworkId, NodeId, ObjectHash, Role, StateCode};
pub use keys::{PublicKey, SecretKey, Signature};
pub use labels::{MessageType, Tlp};
pub use message::{Address, Attachment, CaseId, ComcheckTask, Fields, Message, MessageId};
pub use object::{DirectoryObject, ObjectKey};
pub use prekey::{Prekey, PrekeyBundle, SignedPrekeyBundle};
pub use record::{Alternate, Availability, Channel, ContactRecord, RecordDraft, SignedRecord};
pub use revocation::{Revocation, RevocationAuthority, RevocationTarget, SignedRevocation};
pub use time::Timestamp;
