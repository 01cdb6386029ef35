//! # hotline-store
//!
//! Durable storage for one Hotline node, on [redb]: the directory objects the
//! node has accepted (each slot's winner and evidence, plus the history of
//! every object ever accepted), the node's secret key files, and its
//! `node.toml` configuration, and the node's messages: those it sent and
//! received, its outbox of envelopes waiting for a receipt, the receipts,
//! and its prekey secrets.
//!
//! **Promise.** A write this crate reports as `Ok` is on disk: every write
//! transaction commits with an fsync before the call returns, so a node never
//! tells a peer or a user about something a crash could take back. To keep
//! throughput without skipping the fsync, [`GroupCommitter`] coalesces the
//! batches that arrive while a commit is running into one transaction.
//!
//! **Edges.** The directory *rules* live in `hotline-core`: this crate
//! persists what [`hotline_core::Directory::apply`] accepted and rebuilds the
//! directory with [`hotline_core::Directory::restore`]; it never decides
//! what is valid. It knows nothing of the network or of message sealing; it
//! uses `hotline-crypto` only to encrypt backups ([`backup`]). No
//! redb type appears in its API: every failure is a [`StoreError`] whose
//! message is one line a human can act on.
//!
//! **Layout of a data directory** (created with mode 0700):
//! ```text
//! DATA/hotline.redb     the database (see the `schema` module)
//! DATA/node.toml        the node configuration ([`NodeConfig`])
//! DATA/keys/state.key   the state's Ed25519 secret key, mode 0600 ([`NodeKeys`])
//! DATA/keys/node.key    the node's Ed25519 secret key (its libp2p identity), mode 0600
//! ```
//!
//! [redb]: https://docs.rs/redb

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backup;
mod batch;
mod commit;
pub mod config;
mod error;
mod evidence;
#[cfg(feature = "fault-injection")]
pub mod faults;
mod fsutil;
pub mod keyfile;
mod mailbox;
mod messages;
mod migrate;
mod receipt_numbers;
mod rekey;
mod schema;
mod store;

pub use batch::WriteBatch;
pub use commit::GroupCommitter;
pub use config::{LogFormat, NodeConfig};
pub use error::StoreError;
pub use evidence::Equivocation;
pub use keyfile::NodeKeys;
pub use mailbox::{BadCursor, Cursor, Mailbox, Page};
pub use messages::{MessageRow, OutboxEntry, OutboxRow, PREKEY_RING, ReceivedRow, SentRow, Withdrawal};
pub use rekey::{KeyMaterialDropped, Retirement, copy_data_dir};
pub use schema::SCHEMA_VERSION;
pub use store::{DB_FILE, HistoryEntry, Snapshot, Store};
