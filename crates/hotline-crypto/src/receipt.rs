//! Delivery receipts: the receiving node's signed statement that it holds an
//! envelope.
//!
//! ```text
//! body      = msg_id[16] ‖ envelope_hash[32] ‖ recipient[32] ‖ received_at:varint u64 ‖ sender[32]
//!             ‖ seq:varint u64 ‖ log_position:varint u64
//! signature = Ed25519(recipient node key, len(ctx) ‖ "hotline/v3/receipt" ‖ network_id ‖ body)
//! wire      = format:u8 = 3 ‖ body ‖ signature[64]
//! ```
//! The envelope hash is SHA-256 of the envelope's wire bytes
//! ([`Envelope::hash`]). The receiver signs only after it has opened the
//! envelope and stored the message durably; for a duplicate it answers with
//! the receipt it stored the first time.
//!
//! `seq` numbers the receipts one receiving node has issued to one sending
//! node: 1, 2, 3… in the order it stored their messages, never reused. A
//! sender that holds receipt 57 from a node that now issues 31 again, or
//! says it has issued only 30, knows that node lost what it stored after
//! 30 (it was restored from a backup, or its disk put back behind its
//! back), and delivers those messages again.
//!
//! `log_position` is the index, in the receiving node's evidence log, of
//! the leaf that records this message's storing (and commits to this
//! receipt's hash): the receipt and the receiver's log commit to each other
//! (`docs/protocol.md` section 15). A node that keeps no log signs 0.
//!
//! Format 2 (the same body without `log_position`, under
//! `hotline/v2/receipt`) and format 1 (without `seq` either, under
//! `hotline/v1/receipt`) are what nodes wrote before; such receipts still
//! decode and verify, without a position (and, format 1, a number).

use crate::envelope::Envelope;
use hotline_core::encoding::{self, DecodeError};
use hotline_core::keys::Context;
use hotline_core::{NetworkId, NodeId, SecretKey, Signature, Timestamp};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Format version of the receipts this build signs.
pub const RECEIPT_FORMAT: u8 = 3;
/// The format of receipts without a log position, still read.
const RECEIPT_FORMAT_V2: u8 = 2;
/// The format of receipts without a sequence number, still read.
const RECEIPT_FORMAT_V1: u8 = 1;
/// Largest receipt on the wire, in bytes (a receipt is about 200).
pub const MAX_RECEIPT_BYTES: usize = 512;
/// Why a receipt was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ReceiptError {
    /// The input is larger than [`MAX_RECEIPT_BYTES`].
    #[error("receipt is {len} bytes, more than the limit of {max}")]
    TooLarge {
        /// The input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not a well-formed receipt.
    #[error("receipt is malformed: {0}")]
    Malformed(String),
    /// The signing key is not the key of the envelope's recipient.
    #[error("only the envelope's recipient node can sign its receipt")]
    NotRecipient,
    /// The receipt is signed by (or names) another node than the one expected.
    #[error("receipt is from another node than the recipient")]
    WrongRecipient,
    /// The receipt names another message, envelope or sender than expected.
    #[error("receipt does not match the envelope: {0}")]
    Mismatch(&'static str),
    /// The signature does not verify.
    #[error("receipt signature does not verify")]
    BadSignature,
}

impl ReceiptError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ReceiptError::TooLarge { .. } => "receipt_too_large",
            ReceiptError::Malformed(_) => "receipt_malformed",
            ReceiptError::NotRecipient => "receipt_not_recipient",
            ReceiptError::WrongRecipient => "receipt_wrong_recipient",
            ReceiptError::Mismatch(_) => "receipt_mismatch",
            ReceiptError::BadSignature => "receipt_bad_signature",
        }
    }
}

impl From<DecodeError> for ReceiptError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::TooLarge { len, max, .. } => ReceiptError::TooLarge { len, max },
            other => ReceiptError::Malformed(other.to_string()),
        }
    }
}

/// What the recipient signs (format 1: no sequence number).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct BodyV1 {
    msg_id: [u8; 16],
    envelope_hash: [u8; 32],
    recipient: NodeId,
    received_at: Timestamp,
    sender: NodeId,
}

/// What the recipient signed in format 2 (no log position).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct BodyV2 {
    msg_id: [u8; 16],
    envelope_hash: [u8; 32],
    recipient: NodeId,
    received_at: Timestamp,
    sender: NodeId,
    seq: u64,
}

/// What the recipient signs (format 3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct BodyV3 {
    msg_id: [u8; 16],
    envelope_hash: [u8; 32],
    recipient: NodeId,
    received_at: Timestamp,
    sender: NodeId,
    seq: u64,
    log_position: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Wire<B> {
    body: B,
    signature: Signature,
}

/// A receipt of either format.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Signed {
    V1(Wire<BodyV1>),
    V2(Wire<BodyV2>),
    V3(Wire<BodyV3>),
}

/// A receiving node's signed proof that it holds one envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryReceipt(Signed);

impl DeliveryReceipt {
    /// Signs receipt number `seq` (of those this node issued to the
    /// envelope's sender) for `envelope` with the recipient's node key, at
    /// `received_at`, naming `log_position`, the index of the leaf of its
    /// evidence log that records the message. Sign only after
    /// [`Envelope::open`] succeeded, and store the message, `seq` and that
    /// leaf durably before the receipt leaves. Refuses a key that is not
    /// the envelope's recipient.
    pub fn sign(
        envelope: &Envelope,
        recipient_key: &SecretKey,
        network: &NetworkId,
        received_at: Timestamp,
        seq: u64,
        log_position: u64,
    ) -> Result<DeliveryReceipt, ReceiptError> {
        if recipient_key.public() != envelope.recipient().public_key() {
            return Err(ReceiptError::NotRecipient);
        }
        let body = BodyV3 {
            msg_id: envelope.msg_id(),
            envelope_hash: envelope.hash(),
            recipient: envelope.recipient(),
            received_at,
            sender: envelope.sender(),
            seq,
            log_position,
        };
        let signature = recipient_key.sign(Context::RECEIPT_V3, network, &encoding::encode(&body));
        Ok(DeliveryReceipt(Signed::V3(Wire { body, signature })))
    }

    /// Checks that the receipt is signed by `expected_recipient` in `network`.
    pub fn verify(&self, expected_recipient: NodeId, network: &NetworkId) -> Result<(), ReceiptError> {
        if self.recipient() != expected_recipient {
            return Err(ReceiptError::WrongRecipient);
        }
        let (context, body, signature) = match &self.0 {
            Signed::V1(w) => (Context::RECEIPT, encoding::encode(&w.body), &w.signature),
            Signed::V2(w) => (Context::RECEIPT_V2, encoding::encode(&w.body), &w.signature),
            Signed::V3(w) => (Context::RECEIPT_V3, encoding::encode(&w.body), &w.signature),
        };
        self.recipient().public_key().verify(context, network, &body, signature).map_err(|_| ReceiptError::BadSignature)
    }

    /// Checks that the receipt is the recipient's signed receipt for exactly
    /// `envelope` (what a sender's outbox holds): same message id, envelope
    /// hash, sender and recipient, and a valid signature.
    pub fn verify_for(&self, envelope: &Envelope, network: &NetworkId) -> Result<(), ReceiptError> {
        if self.msg_id() != envelope.msg_id() {
            return Err(ReceiptError::Mismatch("msg_id"));
        }
        if self.sender() != envelope.sender() {
            return Err(ReceiptError::Mismatch("sender"));
        }
        if self.envelope_hash() != envelope.hash() {
            return Err(ReceiptError::Mismatch("envelope hash"));
        }
        self.verify(envelope.recipient(), network)
    }

    /// The message id.
    pub fn msg_id(&self) -> [u8; 16] {
        match &self.0 {
            Signed::V1(w) => w.body.msg_id,
            Signed::V2(w) => w.body.msg_id,
            Signed::V3(w) => w.body.msg_id,
        }
    }

    /// SHA-256 of the envelope received.
    pub fn envelope_hash(&self) -> [u8; 32] {
        match &self.0 {
            Signed::V1(w) => w.body.envelope_hash,
            Signed::V2(w) => w.body.envelope_hash,
            Signed::V3(w) => w.body.envelope_hash,
        }
    }

    /// The receiving (signing) node.
    pub fn recipient(&self) -> NodeId {
        match &self.0 {
            Signed::V1(w) => w.body.recipient,
            Signed::V2(w) => w.body.recipient,
            Signed::V3(w) => w.body.recipient,
        }
    }

    /// The sending node named in the envelope.
    pub fn sender(&self) -> NodeId {
        match &self.0 {
            Signed::V1(w) => w.body.sender,
            Signed::V2(w) => w.body.sender,
            Signed::V3(w) => w.body.sender,
        }
    }

    /// When the recipient says it received the envelope.
    pub fn received_at(&self) -> Timestamp {
        match &self.0 {
            Signed::V1(w) => w.body.received_at,
            Signed::V2(w) => w.body.received_at,
            Signed::V3(w) => w.body.received_at,
        }
    }

    /// The receipt's number among those its recipient issued to its
    /// sender; `None` for a format 1 receipt, which has none.
    pub fn seq(&self) -> Option<u64> {
        match &self.0 {
            Signed::V1(_) => None,
            Signed::V2(w) => Some(w.body.seq),
            Signed::V3(w) => Some(w.body.seq),
        }
    }

    /// The index of the leaf of the receiver's evidence log that records
    /// the message; `None` for a receipt of format 1 or 2, which has none.
    pub fn log_position(&self) -> Option<u64> {
        match &self.0 {
            Signed::V1(_) | Signed::V2(_) => None,
            Signed::V3(w) => Some(w.body.log_position),
        }
    }

    /// The wire form: the format byte, then the canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        match &self.0 {
            Signed::V1(w) => encoding::encode_versioned(RECEIPT_FORMAT_V1, w),
            Signed::V2(w) => encoding::encode_versioned(RECEIPT_FORMAT_V2, w),
            Signed::V3(w) => encoding::encode_versioned(RECEIPT_FORMAT, w),
        }
    }

    /// Decodes [`DeliveryReceipt::to_bytes`], refusing more than
    /// [`MAX_RECEIPT_BYTES`] before decoding. The signature is checked by
    /// [`DeliveryReceipt::verify`].
    pub fn from_bytes(bytes: &[u8]) -> Result<DeliveryReceipt, ReceiptError> {
        if bytes.len() > MAX_RECEIPT_BYTES {
            return Err(ReceiptError::TooLarge { len: bytes.len(), max: MAX_RECEIPT_BYTES });
        }
        Ok(DeliveryReceipt(match bytes.first() {
            Some(&RECEIPT_FORMAT_V1) => {
                Signed::V1(encoding::decode_versioned("receipt", RECEIPT_FORMAT_V1, bytes, MAX_RECEIPT_BYTES)?)
            }
            Some(&RECEIPT_FORMAT_V2) => {
                Signed::V2(encoding::decode_versioned("receipt", RECEIPT_FORMAT_V2, bytes, MAX_RECEIPT_BYTES)?)
            }
            _ => Signed::V3(encoding::decode_versioned("receipt", RECEIPT_FORMAT, bytes, MAX_RECEIPT_BYTES)?),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PrekeyPolicy, PrekeyRing, SeedRng};
    use zeroize::Zeroizing;

    const T0: Timestamp = Timestamp(1_790_000_000);
    const NET: NetworkId = NetworkId([0x4e; 32]);

    fn setup() -> (SecretKey, SecretKey, Envelope) {
        let a = SecretKey::from_seed(&[1; 32]);
        let b = SecretKey::from_seed(&[2; 32]);
        let env = seal_hello(&a, &b, 3);
        (a, b, env)
    }

    /// "hello" from `a` to `b` (msg_id 7…7), sealed to a prekey made from `seed`.
    fn seal_hello(a: &SecretKey, b: &SecretKey, seed: u8) -> Envelope {
        let mut ring = PrekeyRing::new();
        let mut rng = SeedRng::from_seed(Zeroizing::new([seed; 32]));
        ring.rotate(T0, &mut rng, PrekeyPolicy::default());
        let p = ring.newest().unwrap();
        Envelope::seal(b"hello", a, a.node_id(), b.node_id(), (p.id(), p.public_bytes()), &NET, [7; 16], T0, &mut rng)
            .unwrap()
    }

    #[test]
    fn sign_verify_round_trip() {
        let (a, b, env) = setup();
        let r = DeliveryReceipt::sign(&env, &b, &NET, T0.plus(1), 57, 41).unwrap();
        let bytes = r.to_bytes();
        assert!(bytes.len() <= MAX_RECEIPT_BYTES);
        let back = DeliveryReceipt::from_bytes(&bytes).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.verify(b.node_id(), &NET), Ok(()));
        assert_eq!(back.verify_for(&env, &NET), Ok(()));
        assert_eq!((back.msg_id(), back.envelope_hash(), back.received_at()), ([7; 16], env.hash(), T0.plus(1)));
        assert_eq!((back.sender(), back.recipient()), (a.node_id(), b.node_id()));
        assert_eq!(back.seq(), Some(57));
        assert_eq!(back.log_position(), Some(41));
    }

    #[test]
    fn format_1_receipts_still_decode_and_verify_without_a_number() {
        let (a, b, env) = setup();
        let body = BodyV1 {
            msg_id: env.msg_id(),
            envelope_hash: env.hash(),
            recipient: b.node_id(),
            received_at: T0,
            sender: a.node_id(),
        };
        let signature = b.sign(Context::RECEIPT, &NET, &encoding::encode(&body));
        let bytes = encoding::encode_versioned(1, &Wire { body, signature });
        let old = DeliveryReceipt::from_bytes(&bytes).unwrap();
        assert_eq!(old.verify_for(&env, &NET), Ok(()));
        assert_eq!(old.seq(), None);
        assert_eq!(old.to_bytes(), bytes);
        // The same bytes called format 2 are not a receipt; an unknown
        // format is refused as such.
        let mut as_v2 = bytes.clone();
        as_v2[0] = 2;
        assert!(DeliveryReceipt::from_bytes(&as_v2).is_err());
        as_v2[0] = 4;
        assert!(matches!(DeliveryReceipt::from_bytes(&as_v2), Err(ReceiptError::Malformed(_))));
    }

    #[test]
    fn format_2_receipts_still_decode_and_verify_without_a_position() {
        let (a, b, env) = setup();
        let body = BodyV2 {
            msg_id: env.msg_id(),
            envelope_hash: env.hash(),
            recipient: b.node_id(),
            received_at: T0,
            sender: a.node_id(),
            seq: 9,
        };
        let signature = b.sign(Context::RECEIPT_V2, &NET, &encoding::encode(&body));
        let bytes = encoding::encode_versioned(2, &Wire { body, signature });
        let old = DeliveryReceipt::from_bytes(&bytes).unwrap();
        assert_eq!(old.verify_for(&env, &NET), Ok(()));
        assert_eq!((old.seq(), old.log_position()), (Some(9), None));
        assert_eq!(old.to_bytes(), bytes);
        // Called format 3, the same bytes are not a receipt.
        let mut as_v3 = bytes.clone();
        as_v3[0] = 3;
        assert!(DeliveryReceipt::from_bytes(&as_v3).is_err());
    }

    #[test]
    fn only_the_recipient_signs_and_verifies() {
        let (a, b, env) = setup();
        assert_eq!(DeliveryReceipt::sign(&env, &a, &NET, T0, 1, 0).unwrap_err(), ReceiptError::NotRecipient);
        let r = DeliveryReceipt::sign(&env, &b, &NET, T0, 1, 0).unwrap();
        assert_eq!(r.verify(a.node_id(), &NET), Err(ReceiptError::WrongRecipient));
        assert_eq!(r.verify(b.node_id(), &NetworkId([0; 32])), Err(ReceiptError::BadSignature));
    }

    #[test]
    fn tampered_receipts_fail() {
        let (_, b, env) = setup();
        let bytes = DeliveryReceipt::sign(&env, &b, &NET, T0, 1, 0).unwrap().to_bytes();
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 0x01;
            let ok = DeliveryReceipt::from_bytes(&t).is_ok_and(|r| r.verify_for(&env, &NET).is_ok());
            assert!(!ok, "byte {i} flipped still verifies");
        }
    }

    #[test]
    fn a_receipt_for_another_envelope_does_not_match() {
        let (a, b, env) = setup();
        let r = DeliveryReceipt::sign(&env, &b, &NET, T0, 1, 0).unwrap();
        // Same msg_id and parties, different envelope bytes.
        let other = seal_hello(&a, &b, 4);
        assert_eq!(r.verify_for(&other, &NET), Err(ReceiptError::Mismatch("envelope hash")));
    }

    #[test]
    fn oversized_and_garbage_receipts_are_refused() {
        assert!(matches!(
            DeliveryReceipt::from_bytes(&[1u8; MAX_RECEIPT_BYTES + 1]),
            Err(ReceiptError::TooLarge { .. })
        ));
        assert!(matches!(DeliveryReceipt::from_bytes(&[]), Err(ReceiptError::Malformed(_))));
        assert!(matches!(DeliveryReceipt::from_bytes(&[1, 2, 3]), Err(ReceiptError::Malformed(_))));
    }
}
