//! # hotline-crypto
//!
//! Hotline's message cryptography: the X-Wing **prekeys** a node publishes,
//! the **envelope** that carries one message to one node, and the signed
//! **delivery receipt** that proves it arrived.
//!
//! ## The job
//! - [`PrekeyRing`] holds a node's X-Wing (X25519 + ML-KEM-768) prekey
//!   secrets. [`PrekeyRing::rotate`] makes a new prekey every
//!   [`PrekeyPolicy::rotate_every`] (7 days by default) and deletes each
//!   secret once it is older than `rotate_every + grace` (21 days by
//!   default). [`PrekeyRing::bundle`] gives the public
//!   [`hotline_core::PrekeyBundle`] to sign with
//!   [`hotline_core::SignedPrekeyBundle::sign`] and publish.
//! - [`Envelope::seal`] encrypts one message for one recipient node with HPKE
//!   (RFC 9180) in base mode: KEM X-Wing, KDF HKDF-SHA256, AEAD
//!   ChaCha20-Poly1305. The HPKE `info` binds the network id, the format
//!   version and both node ids; the envelope header is the associated data;
//!   the plaintext inside carries the sender node key's Ed25519 signature,
//!   which covers the recipient. [`Envelope::open`] checks all of it.
//! - [`DeliveryReceipt`] is the receiving node's signature over the message
//!   id, the envelope hash, both node ids and the time of receipt.
//! - [`backup`] encrypts backup files: a passphrase stretched with argon2id
//!   keys XChaCha20-Poly1305 in the STREAM construction, chunk by chunk.
//!
//! ## The edges
//! This crate is pure: no I/O, no async, no clock, no global RNG. Time comes
//! in as a [`hotline_core::Timestamp`]; randomness comes in as a caller's
//! [`rand_core::CryptoRng`] (re-exported as [`rand_core`], the version the
//! `hpke` crate uses), or as 32 seed bytes through [`SeedRng`].
//!
//! What this crate does **not** do, and the node must:
//! - decide whether the sender is a member of the network (check the
//!   directory before or after [`Envelope::open`]);
//! - recognise duplicates: a replayed envelope opens again, identically, and
//!   the node deduplicates by `msg_id` (answering with the stored receipt);
//! - store secrets: [`PrekeyRing::to_bytes_secret`] hands out the bytes for
//!   an owner-only file, in a buffer that zeroizes on drop.
//!
//! ## Hard to misuse
//! One-shot functions with typed errors (each with a stable `code()`),
//! secret types that zeroize on drop and whose `Debug` prints no secret, and
//! every input size checked before anything is allocated.

// Input reaches these pure crates from the network and the disk: no
// `unwrap`, `expect` or `panic!` outside tests (see the root Cargo.toml).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod backup;
mod envelope;
mod prekey;
mod receipt;
mod rng;

pub use envelope::{
    ENVELOPE_FORMAT, Envelope, INFO_LABEL, MAX_BODY_BYTES, MAX_ENVELOPE_BYTES, OpenError, Opened, SealError,
    XWING_ENCAPSULATED_KEY_BYTES,
};
pub use prekey::{
    MAX_RING_KEYS, PrekeyError, PrekeyInfo, PrekeyPolicy, PrekeyRing, PrekeySecret, Rotation, select_prekey,
};
pub use rand_core;
pub use receipt::{DeliveryReceipt, MAX_RECEIPT_BYTES, RECEIPT_FORMAT, ReceiptError};
pub use rng::SeedRng;

/// The HPKE suite: X-Wing, HKDF-SHA256, ChaCha20-Poly1305.
pub(crate) mod suite {
    pub(crate) type Kem = hpke::kem::XWing;
    pub(crate) type Kdf = hpke::kdf::HkdfSha256;
    pub(crate) type Aead = hpke::aead::ChaCha20Poly1305;
}
