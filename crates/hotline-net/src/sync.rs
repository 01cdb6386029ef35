//! The sync protocol: anti-entropy between two nodes, over libp2p
//! request-response.
//!
//! # Protocol name and version
//! `/hotline/<network-id-hex>/sync/4`. The trailing `4` is the protocol
//! version; a new wire layout gets a new name, and multistream-select
//! negotiates it, so frames carry no version byte of their own. Version 2
//! added `Summary`, version 3 `ReceiptsIssued`, version 4 the evidence
//! log's `Cosign` and `Equivocation`.
//!
//! # Exchange
//! One request and one response per libp2p stream:
//! 0. `Summary(s)` → `Summary(s)` (optional): the number of live slots and
//!    the digest hash. Equal summaries mean equal directories, and the
//!    exchange ends there; a quiet network's periodic syncs cost one small
//!    round trip instead of two whole digests.
//! 1. `Digest(entries)` → `Digest(entries)`: each side sends the live part of
//!    its directory as `(object key, seq, object hash)` triples, sorted by key.
//!    Each side then knows which slots the other has newer or different.
//! 2. `Fetch(keys)` → `Objects(objects)`: pull the winning objects of at most
//!    [`MAX_BATCH_OBJECTS`] slots; slots the responder no longer has are left
//!    out.
//! 3. `Push(objects)` → `Ack`: hand over at most [`MAX_BATCH_OBJECTS`]
//!    objects the peer lacks (a node that is not yet a member uses this to
//!    present its admission and record).
//!
//! 4. `ReceiptsIssued` → `ReceiptsIssued(n)`: "the last receipt number you
//!    issued to me" (a delivery receipt's `seq`). A node asks each member
//!    it connects to from which it holds numbered receipts; one that
//!    answers lower than the highest it holds lost messages (restored from
//!    a backup, or its store put back), and the asker delivers them again.
//! 5. `Cosign(c)` → `Cosigned(note)` | `NeedProof(size)` | `Equivocation(r)`
//!    | `Refused`: "witness my evidence log's checkpoint; here is the
//!    consistency proof from the size you last cosigned". A witness that
//!    last cosigned another size asks for the proof from it; one that finds
//!    the checkpoint contradicting the last it cosigned answers with the
//!    proof of it (`hotline_evidence::witness`).
//! 6. `Equivocation(r)` → `Ack` | `Refused`: "this node rewrote its log:
//!    here are two of its checkpoints that prove it"; the receiver checks
//!    the proof itself.
//!
//! A responder may answer any request with `Refused` (for example a stranger
//! asking for the directory). This crate does not interpret requests: the
//! node answers them, and checks every object with `Directory::apply`.
//!
//! # Frame
//! ```text
//! frame   = length:u32 big-endian ‖ body            (1 ≤ length ≤ MAX_FRAME_BYTES)
//! body    = postcard(SyncRequest) | postcard(SyncResponse)   (canonical)
//! ```
//! The body uses Hotline's canonical encoding (`hotline_core::encoding`):
//! postcard, varint integers, length-prefixed sequences, enum variants as a
//! varint index in declaration order:
//! ```text
//! SyncRequest  = 0 Digest(seq<DigestEntry>) | 1 Fetch(seq<ObjectKey>) | 2 Push(seq<bytes>)
//!              | 3 Summary(DigestSummary) | 4 ReceiptsIssued
//!              | 5 Cosign(CosignRequest) | 6 Equivocation(EquivocationReport)
//! SyncResponse = 0 Digest(seq<DigestEntry>) | 1 Objects(seq<bytes>)   | 2 Ack | 3 Refused
//!              | 4 Summary(DigestSummary) | 5 ReceiptsIssued(varint u64)
//!              | 6 Cosigned(bytes) | 7 NeedProof(varint u64) | 8 Equivocation(EquivocationReport)
//! CosignRequest = checkpoint:bytes ‖ from_size:varint u64 ‖ prefix:bytes ‖ proof:seq<[u8; 32]>
//! EquivocationReport = node:[u8; 32] ‖ first:bytes ‖ second:bytes   (checkpoint notes)
//! DigestEntry  = ObjectKey ‖ seq:varint u64 ‖ hash:[u8; 32]
//! DigestSummary = entries:varint u64 ‖ hash:[u8; 32]      (hash = Directory::digest_hash)
//! bytes        = varint length ‖ a directory object's wire form (format byte ‖ postcard)
//! ```
//! `ObjectKey` is encoded as in `hotline_core::object`. A reader refuses a
//! length over the limit before reading the body, a body that is not the
//! canonical encoding, trailing bytes, and item counts over the limits below;
//! the stream is then reset and the request fails on both sides.

use crate::frame::{FramedCodec, FramedProtocol, frame_bounded, read_frame_bounded};
use futures::AsyncRead;
use hotline_core::directory::{Digest, hash_of_digest};
use hotline_core::encoding::{self, DecodeError};
use hotline_core::limits::MAX_OBJECT_BYTES;
use hotline_core::{NetworkId, ObjectHash, ObjectKey};
use libp2p::StreamProtocol;
use serde::{Deserialize, Serialize};
use std::io;
use thiserror::Error;

/// Most entries in one digest. A directory of 193 states holds a few
/// thousand live objects; this leaves a wide margin.
pub const MAX_DIGEST_ITEMS: usize = 65_536;
/// Most keys in one `Fetch`, and most objects in one `Objects` or `Push`.
pub const MAX_BATCH_OBJECTS: usize = 256;
/// Largest object in a batch: the directory's own bound.
pub const MAX_BATCH_OBJECT_BYTES: usize = MAX_OBJECT_BYTES;
/// Largest frame body, in bytes. A full batch of the largest objects fits.
pub const MAX_FRAME_BYTES: usize = 5 * 1024 * 1024;

// A full batch of maximal objects, with its length prefixes, must fit in a frame.
const _: () = assert!(MAX_BATCH_OBJECTS * (MAX_BATCH_OBJECT_BYTES + 8) + 16 <= MAX_FRAME_BYTES);

/// The sync protocol name for `network`: `/hotline/<netid>/sync/4`.
pub fn sync_protocol(network: &NetworkId) -> StreamProtocol {
    // The network id is 64 hex digits, so the name always starts with '/'
    // and is valid; `try_from_owned` only fails on a missing leading slash.
    StreamProtocol::try_from_owned(format!("/hotline/{network}/sync/4"))
        .unwrap_or_else(|_| StreamProtocol::new("/hotline/invalid/sync/4"))
}

/// One digest entry: a slot, the seq of its winner and the winner's hash.
pub type DigestEntry = (ObjectKey, u64, ObjectHash);

/// The digest entries of `digest`, in key order, ready to send.
pub fn digest_entries(digest: &Digest) -> Vec<DigestEntry> {
    digest.iter().map(|(k, (seq, hash))| (k.clone(), *seq, *hash)).collect()
}

/// A digest in brief: its number of live slots and its hash
/// (`Directory::digest_hash`). Two nodes with equal summaries hold the same
/// live directory (up to a SHA-256 collision).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestSummary {
    /// Live slots in the digest.
    pub entries: u64,
    /// SHA-256 over the digest in key order.
    pub hash: ObjectHash,
}

impl DigestSummary {
    /// The summary of `digest`.
    pub fn of(digest: &Digest) -> DigestSummary {
        DigestSummary { entries: digest.len() as u64, hash: hash_of_digest(digest) }
    }
}

/// A sync request. See the module documentation for the exchange.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRequest {
    /// "This is what I have": the sender's live digest.
    Digest(Vec<DigestEntry>),
    /// "Send me the winners of these slots" (at most [`MAX_BATCH_OBJECTS`]).
    Fetch(Vec<ObjectKey>),
    /// "Here are objects you lack" (object wire bytes, at most
    /// [`MAX_BATCH_OBJECTS`]).
    Push(Vec<Vec<u8>>),
    /// "This is my digest in brief": answered with the responder's summary.
    Summary(DigestSummary),
    /// "Which is the last receipt number you issued to me?"
    ReceiptsIssued,
    /// "Witness this checkpoint of my evidence log."
    Cosign(CosignRequest),
    /// "This node rewrote its evidence log: the proof."
    Equivocation(EquivocationReport),
}

/// A node's request that a witness cosign its checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CosignRequest {
    /// The signed checkpoint (note bytes, at most
    /// [`hotline_evidence::MAX_CHECKPOINT_BYTES`]).
    pub checkpoint: Vec<u8>,
    /// The size the proof starts from: the last the asker believes the
    /// witness cosigned (0: none).
    pub from_size: u64,
    /// The asker's checkpoint of its log at `from_size`, signed now (empty
    /// when `from_size` is 0): the root it claims the log had then, which a
    /// witness holding another root for that size proves a fork with.
    pub prefix: Vec<u8>,
    /// The consistency proof from `from_size` to the checkpoint's size (at
    /// most [`hotline_evidence::tree::MAX_PROOF_HASHES`] hashes).
    pub proof: Vec<[u8; 32]>,
}

/// Two checkpoints of one node's evidence log that contradict each other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EquivocationReport {
    /// The node whose log it is.
    pub node: [u8; 32],
    /// The earlier checkpoint (note bytes).
    pub first: Vec<u8>,
    /// The later one.
    pub second: Vec<u8>,
}

impl EquivocationReport {
    fn check(&self) -> Result<(), ProtocolError> {
        check_note("equivocation", &self.first)?;
        check_note("equivocation", &self.second)
    }
}

fn check_note(what: &'static str, note: &[u8]) -> Result<(), ProtocolError> {
    let max = hotline_evidence::MAX_CHECKPOINT_BYTES;
    if note.len() > max { Err(ProtocolError::FieldTooLarge { what, len: note.len(), max }) } else { Ok(()) }
}

/// A sync response. See the module documentation for the exchange.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    /// The responder's live digest, answering [`SyncRequest::Digest`].
    Digest(Vec<DigestEntry>),
    /// Object wire bytes, answering [`SyncRequest::Fetch`].
    Objects(Vec<Vec<u8>>),
    /// Answers [`SyncRequest::Push`]: the objects were received (not
    /// necessarily accepted).
    Ack,
    /// The responder will not serve this request (for example, the asker
    /// is not a member).
    Refused,
    /// The responder's digest in brief, answering [`SyncRequest::Summary`].
    Summary(DigestSummary),
    /// The last receipt number the responder issued to the asker (0: none),
    /// answering [`SyncRequest::ReceiptsIssued`].
    ReceiptsIssued(u64),
    /// The checkpoint with the witness's cosignature, answering
    /// [`SyncRequest::Cosign`].
    Cosigned(Vec<u8>),
    /// "The last I cosigned is of this size: prove from there."
    NeedProof(u64),
    /// "Your checkpoint contradicts the last I cosigned: the proof."
    Equivocation(EquivocationReport),
}

/// A sync or deliver message breaks its protocol's bounds or encoding.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// The frame's length prefix is zero or over the protocol's limit
    /// ([`MAX_FRAME_BYTES`] for sync, [`crate::deliver::MAX_DELIVER_FRAME_BYTES`]
    /// and [`crate::deliver::MAX_DELIVER_RESPONSE_FRAME_BYTES`] for deliver).
    #[error("frame length {len} is outside 1..={max}")]
    FrameLength {
        /// The announced or encoded length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Too many entries in a list.
    #[error("sync {what} has {count} items, more than the limit of {max}")]
    TooManyItems {
        /// Which list.
        what: &'static str,
        /// How many items it has.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An object in a batch is larger than any directory object may be.
    #[error("an object in a sync batch is {len} bytes, more than the limit of {max}")]
    ObjectTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A deliver field (envelope, receipt, refusal code or detail) is longer
    /// than its limit.
    #[error("deliver {what} is {len} bytes, more than the limit of {max}")]
    FieldTooLarge {
        /// Which field.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A deliver refusal code is empty or has a character outside `[a-z0-9_]`.
    #[error("deliver refusal code is {reason}")]
    BadRefusalCode {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The body does not decode, or is not canonically encoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

fn check_count(what: &'static str, count: usize, max: usize) -> Result<(), ProtocolError> {
    if count > max { Err(ProtocolError::TooManyItems { what, count, max }) } else { Ok(()) }
}

fn check_objects(what: &'static str, objects: &[Vec<u8>]) -> Result<(), ProtocolError> {
    check_count(what, objects.len(), MAX_BATCH_OBJECTS)?;
    match objects.iter().find(|o| o.len() > MAX_BATCH_OBJECT_BYTES) {
        Some(o) => Err(ProtocolError::ObjectTooLarge { len: o.len(), max: MAX_BATCH_OBJECT_BYTES }),
        None => Ok(()),
    }
}

impl SyncRequest {
    /// The request's name, for logs: `digest`, `fetch`, `push`, `summary`
    /// or `receipts_issued`.
    pub fn kind(&self) -> &'static str {
        match self {
            SyncRequest::Digest(_) => "digest",
            SyncRequest::Fetch(_) => "fetch",
            SyncRequest::Push(_) => "push",
            SyncRequest::Summary(_) => "summary",
            SyncRequest::ReceiptsIssued => "receipts_issued",
            SyncRequest::Cosign(_) => "cosign",
            SyncRequest::Equivocation(_) => "equivocation",
        }
    }

    /// Checks the item-count and object-size bounds.
    pub fn check(&self) -> Result<(), ProtocolError> {
        match self {
            SyncRequest::Digest(d) => check_count("digest", d.len(), MAX_DIGEST_ITEMS),
            SyncRequest::Fetch(k) => check_count("fetch", k.len(), MAX_BATCH_OBJECTS),
            SyncRequest::Push(o) => check_objects("push", o),
            SyncRequest::Summary(_) | SyncRequest::ReceiptsIssued => Ok(()),
            SyncRequest::Cosign(c) => {
                check_note("checkpoint", &c.checkpoint)?;
                check_note("prefix", &c.prefix)?;
                check_count("proof", c.proof.len(), hotline_evidence::tree::MAX_PROOF_HASHES)
            }
            SyncRequest::Equivocation(r) => r.check(),
        }
    }

    /// The body bytes (no length prefix), after checking the bounds.
    pub fn to_body(&self) -> Result<Vec<u8>, ProtocolError> {
        self.check()?;
        checked_body(encoding::encode(self))
    }

    /// Decodes and checks a request body.
    pub fn from_body(body: &[u8]) -> Result<SyncRequest, ProtocolError> {
        let request: SyncRequest = encoding::decode("sync request", body, MAX_FRAME_BYTES)?;
        request.check()?;
        Ok(request)
    }
}

impl SyncResponse {
    /// Checks the item-count and object-size bounds.
    pub fn check(&self) -> Result<(), ProtocolError> {
        match self {
            SyncResponse::Digest(d) => check_count("digest", d.len(), MAX_DIGEST_ITEMS),
            SyncResponse::Objects(o) => check_objects("objects", o),
            SyncResponse::Ack
            | SyncResponse::Refused
            | SyncResponse::Summary(_)
            | SyncResponse::ReceiptsIssued(_)
            | SyncResponse::NeedProof(_) => Ok(()),
            SyncResponse::Cosigned(note) => check_note("checkpoint", note),
            SyncResponse::Equivocation(r) => r.check(),
        }
    }

    /// The body bytes (no length prefix), after checking the bounds.
    pub fn to_body(&self) -> Result<Vec<u8>, ProtocolError> {
        self.check()?;
        checked_body(encoding::encode(self))
    }

    /// Decodes and checks a response body.
    pub fn from_body(body: &[u8]) -> Result<SyncResponse, ProtocolError> {
        let response: SyncResponse = encoding::decode("sync response", body, MAX_FRAME_BYTES)?;
        response.check()?;
        Ok(response)
    }
}

/// A digest at the item limit can still exceed the byte limit (long role
/// names), so the encoded size is checked too.
fn checked_body(body: Vec<u8>) -> Result<Vec<u8>, ProtocolError> {
    if body.is_empty() || body.len() > MAX_FRAME_BYTES {
        return Err(ProtocolError::FrameLength { len: body.len(), max: MAX_FRAME_BYTES });
    }
    Ok(body)
}

/// Prefixes `body` with its length (a sync frame, at most [`MAX_FRAME_BYTES`]).
pub fn frame(body: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    frame_bounded(body, MAX_FRAME_BYTES)
}

/// Reads one sync frame body (at most [`MAX_FRAME_BYTES`]). See
/// [`read_frame_bounded`].
pub async fn read_frame<R: AsyncRead + Unpin>(io: &mut R) -> io::Result<Vec<u8>> {
    read_frame_bounded(io, MAX_FRAME_BYTES).await
}

/// The sync protocol's messages and bounds, for [`FramedCodec`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncFrames;

impl FramedProtocol for SyncFrames {
    type Request = SyncRequest;
    type Response = SyncResponse;
    const MAX_REQUEST_BYTES: usize = MAX_FRAME_BYTES;
    const MAX_RESPONSE_BYTES: usize = MAX_FRAME_BYTES;

    fn request_to_body(request: &SyncRequest) -> Result<Vec<u8>, ProtocolError> {
        request.to_body()
    }
    fn request_from_body(body: &[u8]) -> Result<SyncRequest, ProtocolError> {
        SyncRequest::from_body(body)
    }
    fn response_to_body(response: &SyncResponse) -> Result<Vec<u8>, ProtocolError> {
        response.to_body()
    }
    fn response_from_body(body: &[u8]) -> Result<SyncResponse, ProtocolError> {
        SyncResponse::from_body(body)
    }
}

/// The request-response codec of the sync protocol: length-prefixed,
/// canonically encoded frames with every bound checked on both sides.
pub type SyncCodec = FramedCodec<SyncFrames>;

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::io::Cursor;
    use hotline_core::{Role, StateCode};
    use libp2p::request_response::Codec;

    fn state(s: &str) -> StateCode {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn digest() -> Vec<DigestEntry> {
        vec![
            (ObjectKey::Admission(state("FRA")), 1, ObjectHash([1; 32])),
            (ObjectKey::Record(state("FRA"), Role::policy()), 7, ObjectHash([2; 32])),
        ]
    }

    fn proto() -> StreamProtocol {
        sync_protocol(&NetworkId([9; 32]))
    }

    fn write_req(req: SyncRequest) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        block_on(SyncCodec::default().write_request(&proto(), &mut out, req)).unwrap_or_else(|e| panic!("{e}"));
        out.into_inner()
    }

    #[test]
    fn protocol_name_carries_the_network_id() {
        let name = proto();
        assert_eq!(name.as_ref(), format!("/hotline/{}/sync/4", "09".repeat(32)));
    }

    #[test]
    fn requests_and_responses_round_trip() {
        for req in [
            SyncRequest::Digest(digest()),
            SyncRequest::Fetch(vec![ObjectKey::Admission(state("DEU"))]),
            SyncRequest::Push(vec![vec![1, 2, 3], vec![]]),
            SyncRequest::Digest(vec![]),
            SyncRequest::Summary(DigestSummary { entries: 654, hash: ObjectHash([3; 32]) }),
            SyncRequest::ReceiptsIssued,
            SyncRequest::Cosign(CosignRequest {
                checkpoint: b"note\n".to_vec(),
                from_size: 7,
                prefix: b"prefix\n".to_vec(),
                proof: vec![[1; 32]],
            }),
            SyncRequest::Equivocation(EquivocationReport { node: [2; 32], first: vec![3], second: vec![4] }),
        ] {
            let bytes = write_req(req.clone());
            let got = block_on(SyncCodec::default().read_request(&proto(), &mut Cursor::new(bytes)));
            assert_eq!(got.ok(), Some(req));
        }
        for resp in [
            SyncResponse::Digest(digest()),
            SyncResponse::Objects(vec![vec![7; 100]]),
            SyncResponse::Ack,
            SyncResponse::Refused,
            SyncResponse::Summary(DigestSummary { entries: 0, hash: ObjectHash([0; 32]) }),
            SyncResponse::ReceiptsIssued(u64::MAX),
            SyncResponse::Cosigned(b"note\n".to_vec()),
            SyncResponse::NeedProof(9),
            SyncResponse::Equivocation(EquivocationReport { node: [2; 32], first: vec![3], second: vec![4] }),
        ] {
            let mut out = Cursor::new(Vec::new());
            block_on(SyncCodec::default().write_response(&proto(), &mut out, resp.clone()))
                .unwrap_or_else(|e| panic!("{e}"));
            let got = block_on(SyncCodec::default().read_response(&proto(), &mut Cursor::new(out.into_inner())));
            assert_eq!(got.ok(), Some(resp));
        }
    }

    #[test]
    fn oversized_length_prefix_is_refused_before_reading() {
        // Announce 4 GiB - 1 and send nothing more: refused at once, no allocation.
        let bytes = vec![0xff, 0xff, 0xff, 0xff];
        let err = block_on(SyncCodec::default().read_request(&proto(), &mut Cursor::new(bytes))).err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidData));
        // Just over the limit.
        let mut bytes = ((MAX_FRAME_BYTES + 1) as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0; 16]);
        let err = block_on(SyncCodec::default().read_request(&proto(), &mut Cursor::new(bytes))).err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidData));
        // Zero length.
        let err = block_on(SyncCodec::default().read_request(&proto(), &mut Cursor::new(vec![0, 0, 0, 0]))).err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidData));
    }

    #[test]
    fn truncated_frames_are_refused() {
        let bytes = write_req(SyncRequest::Digest(digest()));
        for cut in [0, 2, 4, 5, bytes.len() - 1] {
            let got = block_on(SyncCodec::default().read_request(&proto(), &mut Cursor::new(bytes[..cut].to_vec())));
            assert!(got.is_err(), "cut at {cut} accepted");
        }
    }

    #[test]
    fn malformed_and_non_canonical_bodies_are_refused() {
        // Unknown variant index.
        assert!(matches!(SyncRequest::from_body(&[9]), Err(ProtocolError::Decode(_))));
        // Trailing bytes after a valid body.
        let mut body = SyncRequest::Fetch(vec![]).to_body().unwrap_or_default();
        body.push(0);
        assert!(matches!(SyncRequest::from_body(&body), Err(ProtocolError::Decode(_))));
        // An overlong varint for the vector length (0 spelled as 0x80 0x00).
        assert!(matches!(SyncRequest::from_body(&[1, 0x80, 0x00]), Err(ProtocolError::Decode(_))));
        // A vector announcing far more elements than the frame holds.
        assert!(matches!(SyncRequest::from_body(&[2, 0xff, 0xff, 0xff, 0xff, 0x0f]), Err(ProtocolError::Decode(_))));
        // Random garbage through the codec: an error, never a panic.
        let mut seed = 0x1234_5678u32;
        for len in 1..200usize {
            let body: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (seed >> 16) as u8
                })
                .collect();
            let framed = frame(&body).unwrap_or_default();
            let _ = block_on(SyncCodec::default().read_request(&proto(), &mut Cursor::new(framed.clone())));
            let _ = block_on(SyncCodec::default().read_response(&proto(), &mut Cursor::new(framed)));
        }
    }

    #[test]
    fn item_bounds_are_enforced_on_both_sides() {
        let keys = vec![ObjectKey::Admission(state("FRA")); MAX_BATCH_OBJECTS + 1];
        let req = SyncRequest::Fetch(keys);
        assert!(matches!(req.to_body(), Err(ProtocolError::TooManyItems { what: "fetch", .. })));
        // A peer that skips the sender-side check is still refused on reading.
        let body = encoding::encode(&req);
        assert!(matches!(SyncRequest::from_body(&body), Err(ProtocolError::TooManyItems { .. })));

        let big = SyncResponse::Objects(vec![vec![0; MAX_BATCH_OBJECT_BYTES + 1]]);
        assert!(matches!(big.to_body(), Err(ProtocolError::ObjectTooLarge { .. })));
        let body = encoding::encode(&big);
        assert!(matches!(SyncResponse::from_body(&body), Err(ProtocolError::ObjectTooLarge { .. })));

        let push = SyncRequest::Push(vec![vec![1]; MAX_BATCH_OBJECTS + 1]);
        assert!(matches!(push.check(), Err(ProtocolError::TooManyItems { what: "push", .. })));
    }

    #[test]
    fn a_full_batch_of_maximal_objects_fits_in_a_frame() {
        let resp = SyncResponse::Objects(vec![vec![0xab; MAX_BATCH_OBJECT_BYTES]; MAX_BATCH_OBJECTS]);
        let body = resp.to_body().unwrap_or_default();
        assert!(!body.is_empty() && body.len() <= MAX_FRAME_BYTES);
        assert_eq!(SyncResponse::from_body(&body).ok(), Some(resp));
    }

    #[test]
    fn wire_layout_is_stable() {
        // Fetch([adm/FRA]) = variant 1, one element, ObjectKey variant 0, "FRA".
        let body = SyncRequest::Fetch(vec![ObjectKey::Admission(state("FRA"))]).to_body().unwrap_or_default();
        assert_eq!(body, vec![1, 1, 0, 3, b'F', b'R', b'A']);
        assert_eq!(frame(&body).unwrap_or_default()[..4], [0, 0, 0, 7]);
        assert_eq!(SyncResponse::Ack.to_body().unwrap_or_default(), vec![2]);
        assert_eq!(SyncResponse::Refused.to_body().unwrap_or_default(), vec![3]);
        // Summary{entries: 300, hash: 32 × 0xab} = variant 3, varint 300, the hash.
        let summary = DigestSummary { entries: 300, hash: ObjectHash([0xab; 32]) };
        let mut expect = vec![3, 0xac, 0x02];
        expect.extend_from_slice(&[0xab; 32]);
        assert_eq!(SyncRequest::Summary(summary).to_body().unwrap_or_default(), expect);
        expect[0] = 4;
        assert_eq!(SyncResponse::Summary(summary).to_body().unwrap_or_default(), expect);
        // ReceiptsIssued = variant 4; its answer variant 5, varint 300.
        assert_eq!(SyncRequest::ReceiptsIssued.to_body().unwrap_or_default(), vec![4]);
        assert_eq!(SyncResponse::ReceiptsIssued(300).to_body().unwrap_or_default(), vec![5, 0xac, 0x02]);
    }

    #[test]
    fn a_summary_is_the_count_and_the_digest_hash() {
        let digest: Digest = digest().into_iter().map(|(k, seq, h)| (k, (seq, h))).collect();
        let summary = DigestSummary::of(&digest);
        assert_eq!(summary.entries, digest.len() as u64);
        assert_eq!(summary.hash, hash_of_digest(&digest));
        let mut changed = digest.clone();
        if let Some(entry) = changed.values_mut().next() {
            entry.0 += 1;
        }
        assert_ne!(DigestSummary::of(&changed), summary);
    }
}
