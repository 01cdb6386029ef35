//! Ed25519 keys and domain-separated signatures.
//!
//! Every signature in Hotline is over
//! `len(context) ‖ context ‖ network_id ‖ body`, where `context` is one of
//! the [`Context`] constants below. Binding the context and the network id
//! means a signature made for one purpose, or one network, is never valid
//! for another. Verification uses `verify_strict`, which refuses
//! malleable signatures and small-order keys.

use crate::ids::{NetworkId, bytes_newtype_serde};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;
use zeroize::Zeroizing;

/// A signature failed to verify.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[error("signature does not verify")]
pub struct BadSignature;

/// A domain-separation context. Only the constants below exist, so no caller
/// can sign with an ad-hoc context string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context(&'static str);

impl Context {
    /// A steward's signature on the charter.
    pub const CHARTER: Context = Context("hotline/v1/charter");
    /// A steward's signature admitting a state.
    pub const ADMISSION: Context = Context("hotline/v1/admission");
    /// A state key's signature on a contact record.
    pub const RECORD: Context = Context("hotline/v1/record");
    /// A node key's signature on its prekey bundle.
    pub const PREKEYS: Context = Context("hotline/v1/prekeys");
    /// A revocation, by stewards or by a state key.
    pub const REVOCATION: Context = Context("hotline/v1/revocation");
    /// A sending node's signature on the plaintext of an envelope.
    pub const ENVELOPE: Context = Context("hotline/v1/envelope");
    /// A receiving node's signature on a delivery receipt.
    pub const RECEIPT: Context = Context("hotline/v1/receipt");
    /// A receiving node's signature on a delivery receipt that numbers it
    /// (format 2: the per-pair sequence number).
    pub const RECEIPT_V2: Context = Context("hotline/v2/receipt");
    /// A receiving node's signature on a delivery receipt that also names
    /// its evidence log's leaf for the message (format 3).
    pub const RECEIPT_V3: Context = Context("hotline/v3/receipt");
    /// A node's signature in the connection hello.
    pub const HELLO: Context = Context("hotline/v1/hello");
    /// An initiator's signature on a comcheck report.
    pub const COMCHECK_REPORT: Context = Context("hotline/v1/comcheck-report");
    /// A node's signature on a checkpoint of its evidence log (the note's text).
    pub const EVIDENCE_CHECKPOINT: Context = Context("hotline/v1/evidence-checkpoint");
    /// A witness node's cosignature on another node's checkpoint.
    pub const EVIDENCE_COSIGNATURE: Context = Context("hotline/v1/evidence-cosignature");
    /// A convening node's signature on a consultation's roster.
    pub const ROSTER: Context = Context("hotline/v1/roster");

    /// The context string.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

/// The exact bytes that are signed: `len(context) ‖ context ‖ network_id ‖ body`.
pub fn signing_input(context: Context, network: &NetworkId, body: &[u8]) -> Vec<u8> {
    let ctx = context.0.as_bytes();
    let mut out = Vec::with_capacity(1 + ctx.len() + 32 + body.len());
    out.push(ctx.len() as u8);
    out.extend_from_slice(ctx);
    out.extend_from_slice(&network.0);
    out.extend_from_slice(body);
    out
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// An Ed25519 public key (32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey(pub [u8; 32]);
bytes_newtype_serde!(PublicKey, 32);

impl PublicKey {
    /// Verifies `signature` over `body` in `context` and `network`.
    pub fn verify(
        &self,
        context: Context,
        network: &NetworkId,
        body: &[u8],
        signature: &Signature,
    ) -> Result<(), BadSignature> {
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| BadSignature)?;
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        key.verify_strict(&signing_input(context, network, body), &sig).map_err(|_| BadSignature)
    }

    /// Whether this is a valid, non-weak Ed25519 point.
    pub fn is_valid(&self) -> bool {
        VerifyingKey::from_bytes(&self.0).is_ok_and(|k| !k.is_weak())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(&self.0[..8]))
    }
}

impl FromStr for PublicKey {
    type Err = crate::ids::IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut out).map_err(|_| crate::ids::IdError::BadHex(s.to_string()))?;
        Ok(PublicKey(out))
    }
}

/// An Ed25519 signature (64 bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Signature(pub [u8; 64]);
bytes_newtype_serde!(Signature, 64);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}…)", hex::encode(&self.0[..8]))
    }
}

/// An Ed25519 secret key. It zeroizes on drop, never prints, and is not
/// serializable: it leaves memory only through [`SecretKey::to_seed`], for the
/// key store to write to an owner-only file.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// The key for a 32-byte seed. Callers take the seed from the operating
    /// system's CSPRNG; this crate does no I/O.
    pub fn from_seed(seed: &[u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(seed))
    }

    /// The 32-byte seed, in a buffer that zeroizes on drop.
    pub fn to_seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// The id of the node whose key this is: a node is named by its
    /// Ed25519 public key.
    pub fn node_id(&self) -> crate::NodeId {
        crate::NodeId(self.public().0)
    }

    /// Signs `body` in `context` and `network`.
    pub fn sign(&self, context: Context, network: &NetworkId, body: &[u8]) -> Signature {
        Signature(self.0.sign(&signing_input(context, network, body)).to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public={}, secret=<redacted>)", self.public())
    }
}

impl Serialize for Context {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

// Contexts are never read from input; this impl exists only so that types
// holding a `Context` for display can derive `Deserialize` if needed.
impl<'de> Deserialize<'de> for Context {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("signing contexts are not deserializable"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_binds_context_and_network() {
        let key = SecretKey::from_seed(&[1u8; 32]);
        let net = NetworkId([2u8; 32]);
        let sig = key.sign(Context::RECORD, &net, b"body");
        assert_eq!(key.public().verify(Context::RECORD, &net, b"body", &sig), Ok(()));
        assert!(key.public().verify(Context::ADMISSION, &net, b"body", &sig).is_err());
        assert!(key.public().verify(Context::RECORD, &NetworkId([3u8; 32]), b"body", &sig).is_err());
        assert!(key.public().verify(Context::RECORD, &net, b"bodz", &sig).is_err());
    }

    #[test]
    fn secret_key_never_prints() {
        let key = SecretKey::from_seed(&[9u8; 32]);
        let shown = format!("{key:?}");
        assert!(!shown.contains(&hex::encode([9u8; 32])));
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn small_order_key_is_invalid() {
        // The identity point encodes as 0x01 followed by zeros: a weak key.
        let mut weak = [0u8; 32];
        weak[0] = 1;
        assert!(!PublicKey(weak).is_valid());
        assert!(SecretKey::from_seed(&[4u8; 32]).public().is_valid());
    }
}
