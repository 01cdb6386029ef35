//! The envelope: one message, sealed for exactly one recipient node.
//!
//! # Construction (format 1)
//! HPKE (RFC 9180) base mode with KEM X-Wing (`0x647a`), KDF HKDF-SHA256
//! (`0x0001`) and AEAD ChaCha20-Poly1305 (`0x0003`), to the recipient's
//! prekey named in the header.
//! ```text
//! info      = "hotline/v1/envelope-info" ‖ network_id[32] ‖ format:u8 = 1 ‖ sender[32] ‖ recipient[32]
//! header    = network_id[32] ‖ sender[32] ‖ recipient[32] ‖ prekey_id:varint u32 ‖ msg_id[16]
//!             ‖ sent_at:varint u64 ‖ varint(1120) ‖ encapsulated_key[1120]
//! aad       = format:u8 = 1 ‖ header
//! signed    = sender[32] ‖ recipient[32] ‖ msg_id[16] ‖ sent_at:varint u64 ‖ SHA-256(body)[32]
//! signature = Ed25519(sender node key, len(ctx) ‖ "hotline/v1/envelope" ‖ network_id ‖ signed)
//! plaintext = sender[32] ‖ recipient[32] ‖ msg_id[16] ‖ sent_at:varint u64 ‖ varint(len) ‖ body ‖ signature[64]
//! wire      = format:u8 = 1 ‖ header ‖ varint(len) ‖ ciphertext            (= aad ‖ varint(len) ‖ ciphertext)
//! ```
//! Every structure is Hotline's canonical encoding (postcard, see
//! `hotline_core::encoding`); the decoders refuse any other spelling.
//!
//! # What `open` guarantees
//! The envelope is for this network and this node, was sealed to one of the
//! node's live prekeys, was not altered (the header is the AEAD's associated
//! data, and the `info` binds both node ids), and its content was signed by
//! the node key named as sender, for this recipient. The signature covers
//! the recipient, so a member that receives a message cannot re-seal it to a
//! third node as if it had been sent there.
//!
//! # What it does not
//! It does not know who is a member (the node checks the directory), and it
//! does not remember what it opened: a replayed envelope opens again,
//! identically, and the node deduplicates by `msg_id`. `sent_at` is the
//! sender's claim, signed but not checked against any clock.

use crate::prekey::{Missing, PrekeyRing};
use crate::suite::{Aead, Kdf, Kem};
use hotline_core::encoding::{self, DecodeError};
use hotline_core::keys::{Context, sha256};
use hotline_core::limits::XWING_PUBLIC_KEY_BYTES;
use hotline_core::{NetworkId, NodeId, SecretKey, Signature, Timestamp};
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;
use zeroize::Zeroizing;

/// Format version of an envelope: the first wire byte, and part of the
/// HPKE `info` and associated data.
pub const ENVELOPE_FORMAT: u8 = 1;
/// The label that starts the HPKE `info`.
pub const INFO_LABEL: &[u8] = b"hotline/v1/envelope-info";
/// Largest message body, in bytes (1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Size of an X-Wing encapsulated key (ciphertext), in bytes.
pub const XWING_ENCAPSULATED_KEY_BYTES: usize = 1120;
/// Largest envelope on the wire: a maximal body plus the header (about
/// 1.25 KiB), the inner fields and signature (about 160 bytes) and the
/// AEAD tag, rounded up.
pub const MAX_ENVELOPE_BYTES: usize = MAX_BODY_BYTES + 4 * 1024;

/// Size of the ChaCha20-Poly1305 tag.
const AEAD_TAG_BYTES: usize = 16;
/// Largest inner plaintext: the body plus its fixed fields and slack.
const MAX_PLAINTEXT_BYTES: usize = MAX_BODY_BYTES + 1024;

// A maximal plaintext, sealed, with a maximal header fits on the wire.
const _: () =
    assert!(MAX_PLAINTEXT_BYTES + AEAD_TAG_BYTES + 1 + 32 * 3 + 5 + 16 + 10 + 2 + 1120 + 5 <= MAX_ENVELOPE_BYTES);

/// Why a message could not be sealed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SealError {
    /// The body is larger than [`MAX_BODY_BYTES`].
    #[error("message body is {len} bytes, more than the limit of {max}")]
    TooLarge {
        /// The body length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The sender's secret key is not the key of `sender_id`.
    #[error("the sender's secret key does not belong to the sender node id")]
    WrongSenderKey,
    /// The recipient's prekey is not a valid X-Wing public key, or its id is 0.
    #[error("the recipient's prekey is not a valid X-Wing public key")]
    BadPrekey,
    /// The HPKE library refused to seal (not expected with valid inputs).
    #[error("HPKE sealing failed")]
    Crypto,
}

impl SealError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            SealError::TooLarge { .. } => "too_large",
            SealError::WrongSenderKey => "wrong_sender_key",
            SealError::BadPrekey => "bad_prekey",
            SealError::Crypto => "crypto",
        }
    }
}

/// Why an envelope was refused. Each variant has a stable [`OpenError::code`]
/// for counters, logs and the deliver protocol's error reply.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// The input is larger than [`MAX_ENVELOPE_BYTES`] (checked before decoding).
    #[error("envelope is {len} bytes, more than the limit of {max}")]
    TooLarge {
        /// The input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not a well-formed envelope, or its decrypted content is
    /// not well formed or disagrees with its header.
    #[error("envelope is malformed: {0}")]
    Malformed(String),
    /// The envelope's format version is not one this build reads.
    #[error("envelope has format version {found}, this build reads version {ENVELOPE_FORMAT}")]
    UnsupportedVersion {
        /// The version found.
        found: u8,
    },
    /// The envelope belongs to another network.
    #[error("envelope is for another network")]
    WrongNetwork,
    /// The envelope, or the message inside it, is addressed to another node.
    #[error("envelope is addressed to another node")]
    NotForMe,
    /// The header names a prekey this node never made.
    #[error("envelope is sealed to prekey {id}, which this node never made")]
    UnknownPrekey {
        /// The prekey id in the header.
        id: u32,
    },
    /// The header names a prekey whose secret is past its deletion time.
    #[error("envelope is sealed to prekey {id}, whose secret has been deleted (re-seal to the current bundle)")]
    PrekeyExpired {
        /// The prekey id in the header.
        id: u32,
    },
    /// Decryption failed: the envelope was altered, or sealed to another key.
    #[error("envelope does not decrypt (altered, or sealed to another key)")]
    Decrypt,
    /// The content is not signed by the node named as sender.
    #[error("envelope content is not signed by its sender node")]
    BadSignature,
}

impl OpenError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            OpenError::TooLarge { .. } => "too_large",
            OpenError::Malformed(_) => "malformed",
            OpenError::UnsupportedVersion { .. } => "unsupported_version",
            OpenError::WrongNetwork => "wrong_network",
            OpenError::NotForMe => "not_for_me",
            OpenError::UnknownPrekey { .. } => "unknown_prekey",
            OpenError::PrekeyExpired { .. } => "prekey_expired",
            OpenError::Decrypt => "decrypt_failed",
            OpenError::BadSignature => "bad_signature",
        }
    }
}

impl From<DecodeError> for OpenError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::TooLarge { len, max, .. } => OpenError::TooLarge { len, max },
            DecodeError::UnsupportedVersion { found, .. } => OpenError::UnsupportedVersion { found },
            other => OpenError::Malformed(other.to_string()),
        }
    }
}

/// The envelope header: the HPKE associated data.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Header {
    network: NetworkId,
    sender: NodeId,
    recipient: NodeId,
    prekey_id: u32,
    msg_id: [u8; 16],
    sent_at: Timestamp,
    encapsulated_key: Vec<u8>,
}

/// The wire form after the format byte.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Wire {
    header: Header,
    ciphertext: Vec<u8>,
}

/// What the sender's node key signs.
#[derive(Serialize)]
struct SignedFields<'a> {
    sender: &'a NodeId,
    recipient: &'a NodeId,
    msg_id: &'a [u8; 16],
    sent_at: Timestamp,
    body_sha256: [u8; 32],
}

/// The decrypted content, as read.
#[derive(Serialize, Deserialize)]
struct Inner {
    sender: NodeId,
    recipient: NodeId,
    msg_id: [u8; 16],
    sent_at: Timestamp,
    body: Vec<u8>,
    signature: Signature,
}

/// The content to encrypt, borrowing the body. Encodes exactly as [`Inner`]:
/// postcard writes a byte slice and a `Vec<u8>` alike (varint length, bytes).
#[derive(Serialize)]
struct InnerRef<'a> {
    sender: &'a NodeId,
    recipient: &'a NodeId,
    msg_id: &'a [u8; 16],
    sent_at: Timestamp,
    #[serde(serialize_with = "as_bytes")]
    body: &'a [u8],
    signature: &'a Signature,
}

fn as_bytes<S: serde::Serializer>(bytes: &&[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(bytes)
}

fn signed_fields(sender: &NodeId, recipient: &NodeId, msg_id: &[u8; 16], sent_at: Timestamp, body: &[u8]) -> Vec<u8> {
    encoding::encode(&SignedFields { sender, recipient, msg_id, sent_at, body_sha256: sha256(body) })
}

fn info(network: &NetworkId, sender: &NodeId, recipient: &NodeId) -> Vec<u8> {
    let mut out = Vec::with_capacity(INFO_LABEL.len() + 1 + 32 * 3);
    out.extend_from_slice(INFO_LABEL);
    out.extend_from_slice(&network.0);
    out.push(ENVELOPE_FORMAT);
    out.extend_from_slice(&sender.0);
    out.extend_from_slice(&recipient.0);
    out
}

fn aad(header: &Header) -> Vec<u8> {
    encoding::encode_versioned(ENVELOPE_FORMAT, header)
}

/// One sealed message for one recipient node. Build it with
/// [`Envelope::seal`] or [`Envelope::from_bytes`]; read it with
/// [`Envelope::open`].
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope(Wire);

/// A successfully opened envelope.
#[derive(Clone, PartialEq, Eq)]
pub struct Opened {
    /// The sending node; its signature on the content was verified.
    pub sender: NodeId,
    /// The message id (deduplicate on it).
    pub msg_id: [u8; 16],
    /// The message body.
    pub plaintext: Vec<u8>,
    /// When the sender says it sealed the message.
    pub sent_at: Timestamp,
}

impl fmt::Debug for Opened {
    /// The body is confidential: only its length is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("sender", &self.sender)
            .field("msg_id", &hex_of(&self.msg_id))
            .field("plaintext", &format_args!("<{} bytes>", self.plaintext.len()))
            .field("sent_at", &self.sent_at)
            .finish()
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Envelope {
    /// Seals `plaintext` (the message body) from `sender_id`, whose node key
    /// is `sender`, to `recipient_id`'s prekey `recipient_prekey` = (id,
    /// X-Wing public key bytes) from its signed bundle (see
    /// [`crate::select_prekey`]). `rng` supplies the 64 bytes of X-Wing
    /// encapsulation randomness; nothing else is random.
    #[allow(clippy::too_many_arguments)]
    pub fn seal(
        plaintext: &[u8],
        sender: &SecretKey,
        sender_id: NodeId,
        recipient_id: NodeId,
        recipient_prekey: (u32, &[u8]),
        network: &NetworkId,
        msg_id: [u8; 16],
        now: Timestamp,
        rng: &mut impl CryptoRng,
    ) -> Result<Envelope, SealError> {
        if plaintext.len() > MAX_BODY_BYTES {
            return Err(SealError::TooLarge { len: plaintext.len(), max: MAX_BODY_BYTES });
        }
        if sender.public() != sender_id.public_key() {
            return Err(SealError::WrongSenderKey);
        }
        let (prekey_id, public) = recipient_prekey;
        if prekey_id == 0 || public.len() != XWING_PUBLIC_KEY_BYTES {
            return Err(SealError::BadPrekey);
        }
        let public = <Kem as hpke::Kem>::PublicKey::from_bytes(public).map_err(|_| SealError::BadPrekey)?;

        let signed = signed_fields(&sender_id, &recipient_id, &msg_id, now, plaintext);
        let signature = sender.sign(Context::ENVELOPE, network, &signed);
        let inner = Zeroizing::new(encoding::encode(&InnerRef {
            sender: &sender_id,
            recipient: &recipient_id,
            msg_id: &msg_id,
            sent_at: now,
            body: plaintext,
            signature: &signature,
        }));
        let header = Header {
            network: *network,
            sender: sender_id,
            recipient: recipient_id,
            prekey_id,
            msg_id,
            sent_at: now,
            encapsulated_key: Vec::new(),
        };
        seal_inner(header, &inner, &public, rng)
    }

    /// Opens the envelope as node `recipient_id`, holding `recipient_ring`,
    /// in `network`, at `now`. Checks, in order: network, recipient, prekey,
    /// decryption (header and ids bound), content encoding, inner recipient,
    /// sender signature, and that the content agrees with the header.
    pub fn open(
        &self,
        recipient_ring: &PrekeyRing,
        recipient_id: NodeId,
        network: &NetworkId,
        now: Timestamp,
    ) -> Result<Opened, OpenError> {
        let h = &self.0.header;
        if h.network != *network {
            return Err(OpenError::WrongNetwork);
        }
        if h.recipient != recipient_id {
            return Err(OpenError::NotForMe);
        }
        let prekey = recipient_ring.secret_for(h.prekey_id, now).map_err(|m| match m {
            Missing::Expired => OpenError::PrekeyExpired { id: h.prekey_id },
            Missing::Unknown => OpenError::UnknownPrekey { id: h.prekey_id },
        })?;
        let encapsulated = <Kem as hpke::Kem>::EncappedKey::from_bytes(&h.encapsulated_key)
            .map_err(|_| OpenError::Malformed("bad X-Wing encapsulated key".into()))?;
        let mut context = hpke::setup_receiver::<Aead, Kdf, Kem>(
            &OpModeR::Base,
            prekey.secret(),
            &encapsulated,
            &info(network, &h.sender, &h.recipient),
        )
        .map_err(|_| OpenError::Decrypt)?;
        let plaintext = Zeroizing::new(context.open(&self.0.ciphertext, &aad(h)).map_err(|_| OpenError::Decrypt)?);
        let inner: Inner = encoding::decode("envelope content", &plaintext, MAX_PLAINTEXT_BYTES)?;
        if inner.recipient != recipient_id {
            return Err(OpenError::NotForMe);
        }
        let signed = signed_fields(&inner.sender, &inner.recipient, &inner.msg_id, inner.sent_at, &inner.body);
        h.sender
            .public_key()
            .verify(Context::ENVELOPE, network, &signed, &inner.signature)
            .map_err(|_| OpenError::BadSignature)?;
        if inner.sender != h.sender {
            return Err(OpenError::BadSignature);
        }
        if inner.msg_id != h.msg_id || inner.sent_at != h.sent_at {
            return Err(OpenError::Malformed("content disagrees with the header".into()));
        }
        Ok(Opened { sender: h.sender, msg_id: h.msg_id, plaintext: inner.body, sent_at: h.sent_at })
    }

    /// The wire form: the format byte, then the canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        encoding::encode_versioned(ENVELOPE_FORMAT, &self.0)
    }

    /// Decodes [`Envelope::to_bytes`]. The length is checked against
    /// [`MAX_ENVELOPE_BYTES`] before anything is decoded or allocated; the
    /// encoding must be canonical, and the encapsulated key and ciphertext
    /// must have possible sizes. Nothing is decrypted.
    pub fn from_bytes(bytes: &[u8]) -> Result<Envelope, OpenError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(OpenError::TooLarge { len: bytes.len(), max: MAX_ENVELOPE_BYTES });
        }
        let wire: Wire = encoding::decode_versioned("envelope", ENVELOPE_FORMAT, bytes, MAX_ENVELOPE_BYTES)?;
        if wire.header.encapsulated_key.len() != XWING_ENCAPSULATED_KEY_BYTES {
            return Err(OpenError::Malformed(format!(
                "encapsulated key is {} bytes, X-Wing's is {XWING_ENCAPSULATED_KEY_BYTES}",
                wire.header.encapsulated_key.len()
            )));
        }
        if wire.ciphertext.len() < AEAD_TAG_BYTES {
            return Err(OpenError::Malformed("ciphertext is shorter than the AEAD tag".into()));
        }
        Ok(Envelope(wire))
    }

    /// SHA-256 of [`Envelope::to_bytes`]: what a delivery receipt names.
    pub fn hash(&self) -> [u8; 32] {
        sha256(&self.to_bytes())
    }

    /// The network named in the header.
    pub fn network(&self) -> NetworkId {
        self.0.header.network
    }

    /// The sending node named in the header (verified only by `open`).
    pub fn sender(&self) -> NodeId {
        self.0.header.sender
    }

    /// The recipient node named in the header.
    pub fn recipient(&self) -> NodeId {
        self.0.header.recipient
    }

    /// The recipient prekey the envelope is sealed to.
    pub fn prekey_id(&self) -> u32 {
        self.0.header.prekey_id
    }

    /// The message id named in the header (verified only by `open`).
    pub fn msg_id(&self) -> [u8; 16] {
        self.0.header.msg_id
    }

    /// The sealing time named in the header (verified only by `open`).
    pub fn sent_at(&self) -> Timestamp {
        self.0.header.sent_at
    }
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = &self.0.header;
        f.debug_struct("Envelope")
            .field("network", &h.network)
            .field("sender", &h.sender)
            .field("recipient", &h.recipient)
            .field("prekey_id", &h.prekey_id)
            .field("msg_id", &hex_of(&h.msg_id))
            .field("sent_at", &h.sent_at)
            .field("ciphertext", &format_args!("<{} bytes>", self.0.ciphertext.len()))
            .finish()
    }
}

/// HPKE-seals an encoded content under `header`, filling in its
/// encapsulated key. Shared by `seal` and by tests that build hostile
/// envelopes.
fn seal_inner(
    mut header: Header,
    inner: &[u8],
    public: &<Kem as hpke::Kem>::PublicKey,
    rng: &mut impl CryptoRng,
) -> Result<Envelope, SealError> {
    let (encapsulated, mut context) = hpke::setup_sender_with_rng::<Aead, Kdf, Kem>(
        &OpModeS::Base,
        public,
        &info(&header.network, &header.sender, &header.recipient),
        rng,
    )
    .map_err(|_| SealError::Crypto)?;
    header.encapsulated_key = encapsulated.to_bytes().to_vec();
    let ciphertext = context.seal(inner, &aad(&header)).map_err(|_| SealError::Crypto)?;
    Ok(Envelope(Wire { header, ciphertext }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PrekeyPolicy, SeedRng};
    use hotline_core::time::DAY;

    const T0: Timestamp = Timestamp(1_790_000_000);
    const NET: NetworkId = NetworkId([0x4e; 32]);
    const MSG: [u8; 16] = [0x5a; 16];

    struct Node {
        key: SecretKey,
        id: NodeId,
        ring: PrekeyRing,
    }

    fn node(n: u8) -> Node {
        let key = SecretKey::from_seed(&[n; 32]);
        let id = key.node_id();
        let mut ring = PrekeyRing::new();
        ring.rotate(T0, &mut rng(n), PrekeyPolicy::default());
        Node { key, id, ring }
    }

    fn rng(n: u8) -> SeedRng {
        SeedRng::from_seed(Zeroizing::new([n.wrapping_add(100); 32]))
    }

    fn prekey(to: &Node) -> (u32, &[u8]) {
        let p = to.ring.newest().unwrap();
        (p.id(), p.public_bytes())
    }

    fn seal(from: &Node, to: &Node, body: &[u8]) -> Envelope {
        Envelope::seal(body, &from.key, from.id, to.id, prekey(to), &NET, MSG, T0, &mut rng(9)).unwrap()
    }

    fn open(env: &Envelope, at: &Node) -> Result<Opened, OpenError> {
        env.open(&at.ring, at.id, &NET, T0)
    }

    /// Seals an arbitrary content under a header naming `sender` and
    /// `recipient`, to `to`'s prekey: what a hostile member can build.
    fn seal_raw(sender: NodeId, recipient: NodeId, to: &Node, inner: &Inner) -> Envelope {
        let p = to.ring.newest().unwrap();
        let public = <Kem as hpke::Kem>::PublicKey::from_bytes(p.public_bytes()).unwrap();
        let header = Header {
            network: NET,
            sender,
            recipient,
            prekey_id: p.id(),
            msg_id: MSG,
            sent_at: T0,
            encapsulated_key: Vec::new(),
        };
        seal_inner(header, &encoding::encode(inner), &public, &mut rng(11)).unwrap()
    }

    fn signed_inner(signer: &Node, sender: NodeId, recipient: NodeId, body: &[u8]) -> Inner {
        let signature = signer.key.sign(Context::ENVELOPE, &NET, &signed_fields(&sender, &recipient, &MSG, T0, body));
        Inner { sender, recipient, msg_id: MSG, sent_at: T0, body: body.to_vec(), signature }
    }

    #[test]
    fn round_trip() {
        let (a, b) = (node(1), node(2));
        let env = seal(&a, &b, b"request for information");
        let bytes = env.to_bytes();
        let back = Envelope::from_bytes(&bytes).unwrap();
        assert_eq!(back, env);
        assert_eq!(back.sender(), a.id);
        assert_eq!(back.recipient(), b.id);
        assert_eq!(back.msg_id(), MSG);
        let opened = open(&back, &b).unwrap();
        assert_eq!(opened.plaintext, b"request for information");
        assert_eq!((opened.sender, opened.msg_id, opened.sent_at), (a.id, MSG, T0));
        // Associated data is a prefix of the wire form.
        assert!(bytes.starts_with(&aad(&env.0.header)));
        // An empty body is fine too.
        assert_eq!(open(&seal(&a, &b, b""), &b).unwrap().plaintext, b"");
    }

    #[test]
    fn borrowed_and_owned_content_encode_alike() {
        let a = node(1);
        let inner = signed_inner(&a, a.id, NodeId([2; 32]), b"xyz");
        let borrowed = InnerRef {
            sender: &inner.sender,
            recipient: &inner.recipient,
            msg_id: &inner.msg_id,
            sent_at: inner.sent_at,
            body: &inner.body,
            signature: &inner.signature,
        };
        assert_eq!(encoding::encode(&borrowed), encoding::encode(&inner));
    }

    #[test]
    fn a_third_node_cannot_open() {
        let (a, b, c) = (node(1), node(2), node(3));
        let env = seal(&a, &b, b"for B only");
        assert_eq!(open(&env, &c), Err(OpenError::NotForMe));
        // Rewriting the header to name C does not help: the header is the
        // associated data, the ids are in the info, and C lacks B's prekey.
        let mut stolen = env.clone();
        stolen.0.header.recipient = c.id;
        assert_eq!(open(&stolen, &c), Err(OpenError::Decrypt));
        // Nor does B's own ring open it under another name.
        assert_eq!(open(&stolen, &b), Err(OpenError::NotForMe));
    }

    #[test]
    fn a_received_message_cannot_be_reforwarded_as_if_sent_to_a_third_node() {
        let (a, b, c) = (node(1), node(2), node(3));
        // A writes to C; C opens it and re-seals A's signed content to B.
        let to_c = signed_inner(&a, a.id, c.id, b"for C");
        let forwarded = seal_raw(a.id, b.id, &b, &to_c);
        assert_eq!(open(&forwarded, &b), Err(OpenError::NotForMe));
        // C rewriting the inner recipient breaks A's signature.
        let mut rewritten = signed_inner(&a, a.id, c.id, b"for C");
        rewritten.recipient = b.id;
        assert_eq!(open(&seal_raw(a.id, b.id, &b, &rewritten), &b), Err(OpenError::BadSignature));
    }

    #[test]
    fn forged_sender_fails() {
        let (a, b, c) = (node(1), node(2), node(3));
        // The public API refuses a key that is not the sender's.
        assert_eq!(
            Envelope::seal(b"x", &c.key, a.id, b.id, prekey(&b), &NET, MSG, T0, &mut rng(1)),
            Err(SealError::WrongSenderKey)
        );
        // C signs content claiming to be A: the signature is checked against A's key.
        let forged = signed_inner(&c, a.id, b.id, b"I am A");
        assert_eq!(open(&seal_raw(a.id, b.id, &b, &forged), &b), Err(OpenError::BadSignature));
        // C's own valid content under a header naming A.
        let own = signed_inner(&c, c.id, b.id, b"hello");
        assert_eq!(open(&seal_raw(a.id, b.id, &b, &own), &b), Err(OpenError::BadSignature));
        // A's genuine content with a header naming C as sender.
        let genuine = signed_inner(&a, a.id, b.id, b"hello");
        assert_eq!(open(&seal_raw(c.id, b.id, &b, &genuine), &b), Err(OpenError::BadSignature));
    }

    #[test]
    fn content_must_agree_with_header() {
        let (a, b) = (node(1), node(2));
        let mut inner = signed_inner(&a, a.id, b.id, b"hello");
        inner.msg_id = [0x11; 16];
        let signature = a.key.sign(
            Context::ENVELOPE,
            &NET,
            &signed_fields(&a.id, &b.id, &inner.msg_id, inner.sent_at, &inner.body),
        );
        inner.signature = signature;
        assert!(matches!(open(&seal_raw(a.id, b.id, &b, &inner), &b), Err(OpenError::Malformed(_))));
    }

    #[test]
    fn tampering_with_any_byte_fails() {
        let (a, b) = (node(1), node(2));
        let bytes = seal(&a, &b, b"tamper with me").to_bytes();
        for i in 0..bytes.len() {
            for flip in [0x01u8, 0x80] {
                let mut t = bytes.clone();
                t[i] ^= flip;
                let result = Envelope::from_bytes(&t).and_then(|e| open(&e, &b));
                assert!(result.is_err(), "byte {i} ^ {flip:#x} still opened");
            }
        }
        // Truncation and extension too.
        assert!(Envelope::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Envelope::from_bytes(&longer).is_err());
    }

    #[test]
    fn replay_opens_identically() {
        let (a, b) = (node(1), node(2));
        let bytes = seal(&a, &b, b"once").to_bytes();
        let first = open(&Envelope::from_bytes(&bytes).unwrap(), &b).unwrap();
        let again = open(&Envelope::from_bytes(&bytes).unwrap(), &b).unwrap();
        // This crate keeps no state: deduplication by msg_id is the node's job.
        assert_eq!(first, again);
    }

    #[test]
    fn wrong_network_is_refused() {
        let (a, b) = (node(1), node(2));
        let env = seal(&a, &b, b"x");
        assert_eq!(env.open(&b.ring, b.id, &NetworkId([1; 32]), T0), Err(OpenError::WrongNetwork));
    }

    #[test]
    fn previous_prekey_opens_during_grace_and_not_after() {
        let policy = PrekeyPolicy::default();
        let (a, mut b) = (node(1), node(2));
        let env = seal(&a, &b, b"sealed to prekey 1");
        assert_eq!(env.prekey_id(), 1);
        b.ring.rotate(T0.plus(7 * DAY), &mut rng(20), policy);
        b.ring.rotate(T0.plus(14 * DAY), &mut rng(21), policy);
        // In the grace period: still opens.
        assert!(env.open(&b.ring, b.id, &NET, T0.plus(21 * DAY - 1)).is_ok());
        // Past the deletion time, even before rotate has dropped the secret.
        assert_eq!(env.open(&b.ring, b.id, &NET, T0.plus(21 * DAY)), Err(OpenError::PrekeyExpired { id: 1 }));
        let rotation = b.ring.rotate(T0.plus(21 * DAY), &mut rng(22), policy);
        assert_eq!(rotation.deleted.iter().map(|p| p.id).collect::<Vec<_>>(), vec![1]);
        assert_eq!(env.open(&b.ring, b.id, &NET, T0.plus(21 * DAY)), Err(OpenError::PrekeyExpired { id: 1 }));
        // A prekey id the node never made.
        let mut unknown = env.clone();
        unknown.0.header.prekey_id = 99;
        assert_eq!(unknown.open(&b.ring, b.id, &NET, T0), Err(OpenError::UnknownPrekey { id: 99 }));
        // The newest prekey still works.
        let fresh =
            Envelope::seal(b"new", &a.key, a.id, b.id, prekey(&b), &NET, MSG, T0.plus(21 * DAY), &mut rng(23)).unwrap();
        assert_eq!(fresh.prekey_id(), 4);
        assert!(fresh.open(&b.ring, b.id, &NET, T0.plus(21 * DAY)).is_ok());
    }

    #[test]
    fn oversized_input_is_refused_before_decoding() {
        let (a, b) = (node(1), node(2));
        let big = vec![0u8; MAX_BODY_BYTES + 1];
        assert_eq!(
            Envelope::seal(&big, &a.key, a.id, b.id, prekey(&b), &NET, MSG, T0, &mut rng(1)),
            Err(SealError::TooLarge { len: MAX_BODY_BYTES + 1, max: MAX_BODY_BYTES })
        );
        let wire = vec![ENVELOPE_FORMAT; MAX_ENVELOPE_BYTES + 1];
        assert_eq!(
            Envelope::from_bytes(&wire),
            Err(OpenError::TooLarge { len: MAX_ENVELOPE_BYTES + 1, max: MAX_ENVELOPE_BYTES })
        );
        // A maximal body fits, and the wire form stays under the bound.
        let max = vec![7u8; MAX_BODY_BYTES];
        let env = Envelope::seal(&max, &a.key, a.id, b.id, prekey(&b), &NET, MSG, T0, &mut rng(1)).unwrap();
        let bytes = env.to_bytes();
        assert!(bytes.len() <= MAX_ENVELOPE_BYTES, "{}", bytes.len());
        assert_eq!(open(&Envelope::from_bytes(&bytes).unwrap(), &b).unwrap().plaintext.len(), MAX_BODY_BYTES);
    }

    #[test]
    fn a_huge_length_prefix_is_malformed() {
        // Format byte, then a 96-byte header prefix, then a claimed
        // encapsulated-key length of 2^32 in a short input.
        let mut bytes = vec![ENVELOPE_FORMAT];
        bytes.extend_from_slice(&[0u8; 96]);
        bytes.extend_from_slice(&[1, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(matches!(Envelope::from_bytes(&bytes), Err(OpenError::Malformed(_))));
        assert_eq!(Envelope::from_bytes(&[2, 0, 0]), Err(OpenError::UnsupportedVersion { found: 2 }));
        assert!(matches!(Envelope::from_bytes(&[]), Err(OpenError::Malformed(_))));
    }

    #[test]
    fn bad_prekeys_are_refused_when_sealing() {
        let (a, b) = (node(1), node(2));
        let seal_to = |p: (u32, &[u8])| Envelope::seal(b"x", &a.key, a.id, b.id, p, &NET, MSG, T0, &mut rng(1));
        assert_eq!(seal_to((1, &[0u8; 32])), Err(SealError::BadPrekey));
        assert_eq!(seal_to((0, prekey(&b).1)), Err(SealError::BadPrekey));
    }

    #[test]
    fn debug_shows_no_plaintext() {
        let (a, b) = (node(1), node(2));
        let env = seal(&a, &b, b"TOP-SECRET-BODY");
        let opened = open(&env, &b).unwrap();
        for shown in [format!("{opened:?}"), format!("{env:?}")] {
            assert!(!shown.contains("TOP-SECRET-BODY"), "{shown}");
            assert!(shown.contains("bytes>"), "{shown}");
        }
    }

    #[test]
    fn error_codes_are_stable_and_distinct() {
        let errors = [
            OpenError::TooLarge { len: 0, max: 0 },
            OpenError::Malformed(String::new()),
            OpenError::UnsupportedVersion { found: 0 },
            OpenError::WrongNetwork,
            OpenError::NotForMe,
            OpenError::UnknownPrekey { id: 0 },
            OpenError::PrekeyExpired { id: 0 },
            OpenError::Decrypt,
            OpenError::BadSignature,
        ];
        let codes: std::collections::BTreeSet<_> = errors.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), errors.len());
        assert_eq!(OpenError::NotForMe.code(), "not_for_me");
        assert_eq!(OpenError::PrekeyExpired { id: 1 }.code(), "prekey_expired");
    }
}
