//! Prekey bundles: a node's current X-Wing public keys, signed by its node
//! key. Senders seal envelopes to one of these (see `hotline-crypto`).

use crate::ids::{NodeId, StateCode};
use crate::keys::Signature;
use crate::limits::{MAX_PREKEYS, XWING_PUBLIC_KEY_BYTES};
use crate::time::Timestamp;
use crate::validate::{FieldError, field_error};
use serde::{Deserialize, Serialize};

/// One X-Wing (X25519 + ML-KEM-768) public key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prekey {
    /// Identifier, unique per node, named in envelope headers.
    pub id: u32,
    /// The X-Wing encapsulation key ([`XWING_PUBLIC_KEY_BYTES`] bytes).
    pub public: Vec<u8>,
    /// Senders stop using this prekey after this time.
    pub expires: Timestamp,
}

/// The prekey bundle body: what the node key signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrekeyBundle {
    /// The state whose record lists the node.
    pub state: StateCode,
    /// The node.
    pub node: NodeId,
    /// Version; only grows.
    pub seq: u64,
    /// When the node signed it.
    pub issued_at: Timestamp,
    /// When the bundle stops being valid.
    pub expires: Timestamp,
    /// Current prekeys, newest first.
    pub prekeys: Vec<Prekey>,
}

/// A prekey bundle with the node key's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedPrekeyBundle {
    /// The body.
    pub bundle: PrekeyBundle,
    /// Signature by the node key.
    pub signature: Signature,
}

impl PrekeyBundle {
    /// Checks the field rules that need no clock.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.expires <= self.issued_at {
            return Err(field_error("expires", "must be after issued_at"));
        }
        if self.prekeys.is_empty() || self.prekeys.len() > MAX_PREKEYS {
            return Err(field_error("prekeys", format!("needs 1 to {MAX_PREKEYS} prekeys")));
        }
        for (i, p) in self.prekeys.iter().enumerate() {
            if p.public.len() != XWING_PUBLIC_KEY_BYTES {
                return Err(field_error(
                    format!("prekeys[{i}].public"),
                    format!("is {} bytes, an X-Wing key is {XWING_PUBLIC_KEY_BYTES}", p.public.len()),
                ));
            }
            if self.prekeys[..i].iter().any(|q| q.id == p.id) {
                return Err(field_error(format!("prekeys[{i}].id"), "is used twice"));
            }
        }
        Ok(())
    }
}
