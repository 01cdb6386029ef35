//! The deliver protocol: one sealed envelope from one node to another, over
//! libp2p request-response, answered by a delivery receipt or a typed
//! refusal.
//!
//! # Protocol name and version
//! `/hotline/<network-id-hex>/deliver/1`. As for sync, the trailing `1` is
//! the version and multistream-select negotiates it; frames carry no version
//! byte of their own.
//!
//! # Exchange
//! One request and one response per libp2p stream:
//! `DeliverRequest { envelope }` → `Receipt(receipt)` or
//! `Refused { code, detail }`.
//! - `envelope` is one sealed envelope's wire form (`hotline_crypto::Envelope`),
//!   at most [`MAX_ENVELOPE_BYTES`]. This crate does not look inside it.
//! - `Receipt` carries the receiving node's signed delivery receipt's wire
//!   form (`hotline_crypto::DeliveryReceipt`), at most [`MAX_RECEIPT_BYTES`].
//! - `Refused` says why the receiver did not take the envelope. `code` is a
//!   stable machine-readable reason, 1 to [`MAX_REFUSAL_CODE_BYTES`] bytes of
//!   `[a-z0-9_]`; `detail` is free UTF-8 text for logs, at most
//!   [`MAX_REFUSAL_DETAIL_BYTES`] bytes, possibly empty, never parsed.
//!
//! Only members deliver. The receiving network layer answers a request
//! from any other peer (a stranger, even inside its sync grace window) at
//! once with `Refused { code: "not_a_member" }` ([`NOT_A_MEMBER`]), without
//! involving the node. Every other answer comes from the receiving node,
//! which opens the envelope; its refusal codes are the stable codes of its
//! checks (for example `hotline_crypto::OpenError::code`). A request the
//! receiver drops unanswered (for example because it is overloaded) fails
//! on the sender's side, which retries later; the node deduplicates
//! envelopes, so a retry of a delivered envelope gets the same receipt.
//!
//! # Frame
//! ```text
//! frame    = length:u32 big-endian ‖ body
//!            request:  1 ≤ length ≤ MAX_DELIVER_FRAME_BYTES          (MAX_ENVELOPE_BYTES + 1024)
//!            response: 1 ≤ length ≤ MAX_DELIVER_RESPONSE_FRAME_BYTES (2048)
//! body     = postcard(DeliverRequest) | postcard(DeliverResponse)   (canonical)
//! ```
//! The body uses Hotline's canonical encoding (`hotline_core::encoding`):
//! postcard, varint integers, length-prefixed byte strings, enum variants
//! as a varint index in declaration order:
//! ```text
//! DeliverRequest  = envelope:bytes
//! DeliverResponse = 0 Receipt(receipt:bytes)
//!                 | 1 Refused(code:string, detail:string)
//! bytes, string   = varint length ‖ that many bytes (string: UTF-8)
//! ```
//! A reader refuses a length over the limit before reading the body, a body
//! that is not the canonical encoding, trailing bytes, and fields over the
//! limits above or a code outside `[a-z0-9_]`; the stream is then reset and
//! the request fails on both sides. The same checks run before sending.
//!
//! # Test vectors
//! ```text
//! DeliverRequest { envelope: 01 de ad be ef }
//!   body  05 01 de ad be ef
//!   frame 00 00 00 06 05 01 de ad be ef
//! Receipt(aa bb)
//!   frame 00 00 00 04 00 02 aa bb
//! Refused { code: "not_a_member", detail: "not a member" }
//!   body  01 0c 6e 6f 74 5f 61 5f 6d 65 6d 62 65 72 0c 6e 6f 74 20 61 20 6d 65 6d 62 65 72
//!   frame 00 00 00 1b ‖ body
//! ```
//! (Checked by `wire_vectors_are_stable` below.)

use crate::frame::{FramedCodec, FramedProtocol};
use crate::sync::ProtocolError;
use hotline_core::NetworkId;
use hotline_core::encoding;
use libp2p::StreamProtocol;
use serde::{Deserialize, Serialize};

use hotline_crypto::{MAX_ENVELOPE_BYTES, MAX_RECEIPT_BYTES};

/// Largest refusal code, in bytes.
pub const MAX_REFUSAL_CODE_BYTES: usize = 64;
/// Largest refusal detail, in bytes of UTF-8.
pub const MAX_REFUSAL_DETAIL_BYTES: usize = 512;
/// Largest request frame body: a maximal envelope and its length prefix,
/// with room to spare.
pub const MAX_DELIVER_FRAME_BYTES: usize = MAX_ENVELOPE_BYTES + 1024;
/// Largest response frame body. Responses are small, so a peer cannot make
/// a sender read an envelope-sized answer.
pub const MAX_DELIVER_RESPONSE_FRAME_BYTES: usize = 2048;

/// The refusal code the network layer answers to a peer that is not a
/// member.
pub const NOT_A_MEMBER: &str = "not_a_member";

// A varint length prefix is at most 10 bytes, a variant index 1 byte.
const _: () = assert!(MAX_ENVELOPE_BYTES + 10 <= MAX_DELIVER_FRAME_BYTES);
const _: () = assert!(MAX_DELIVER_FRAME_BYTES <= u32::MAX as usize);
const _: () = assert!(1 + 10 + MAX_RECEIPT_BYTES <= MAX_DELIVER_RESPONSE_FRAME_BYTES);
const _: () =
    assert!(1 + 10 + MAX_REFUSAL_CODE_BYTES + 10 + MAX_REFUSAL_DETAIL_BYTES <= MAX_DELIVER_RESPONSE_FRAME_BYTES);

/// The deliver protocol name for `network`: `/hotline/<netid>/deliver/1`.
pub fn deliver_protocol(network: &NetworkId) -> StreamProtocol {
    // The network id is 64 hex digits, so the name always starts with '/'
    // and is valid; `try_from_owned` only fails on a missing leading slash.
    StreamProtocol::try_from_owned(format!("/hotline/{network}/deliver/1"))
        .unwrap_or_else(|_| StreamProtocol::new("/hotline/invalid/deliver/1"))
}

/// One sealed envelope for the receiving node. See the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverRequest {
    /// The envelope's wire bytes, at most [`MAX_ENVELOPE_BYTES`]; opaque here.
    pub envelope: Vec<u8>,
}

/// The receiver's answer to a [`DeliverRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliverResponse {
    /// The envelope was taken: the receipt's wire bytes, at most
    /// [`MAX_RECEIPT_BYTES`]; opaque here.
    Receipt(Vec<u8>),
    /// The envelope was not taken.
    Refused {
        /// Stable reason: 1 to [`MAX_REFUSAL_CODE_BYTES`] bytes of `[a-z0-9_]`.
        code: String,
        /// Text for logs, at most [`MAX_REFUSAL_DETAIL_BYTES`] bytes.
        detail: String,
    },
}

fn check_len(what: &'static str, len: usize, max: usize) -> Result<(), ProtocolError> {
    if len > max { Err(ProtocolError::FieldTooLarge { what, len, max }) } else { Ok(()) }
}

fn check_code(code: &str) -> Result<(), ProtocolError> {
    check_len("refusal code", code.len(), MAX_REFUSAL_CODE_BYTES)?;
    if code.is_empty() {
        return Err(ProtocolError::BadRefusalCode { reason: "empty" });
    }
    if !code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        return Err(ProtocolError::BadRefusalCode { reason: "not made of a-z, 0-9 and _" });
    }
    Ok(())
}

/// The body, checked against the frame limit too: the field checks bound
/// it already, so this only guards against a future change of layout.
fn checked_body(body: Vec<u8>, max: usize) -> Result<Vec<u8>, ProtocolError> {
    if body.is_empty() || body.len() > max {
        return Err(ProtocolError::FrameLength { len: body.len(), max });
    }
    Ok(body)
}

impl DeliverRequest {
    /// Checks the envelope size.
    pub fn check(&self) -> Result<(), ProtocolError> {
        check_len("envelope", self.envelope.len(), MAX_ENVELOPE_BYTES)
    }

    /// The body bytes (no length prefix), after checking the bounds.
    pub fn to_body(&self) -> Result<Vec<u8>, ProtocolError> {
        self.check()?;
        checked_body(encoding::encode(self), MAX_DELIVER_FRAME_BYTES)
    }

    /// Decodes and checks a request body.
    pub fn from_body(body: &[u8]) -> Result<DeliverRequest, ProtocolError> {
        let request: DeliverRequest = encoding::decode("deliver request", body, MAX_DELIVER_FRAME_BYTES)?;
        request.check()?;
        Ok(request)
    }
}

impl DeliverResponse {
    /// A refusal with `code`, and `detail` cut at a character boundary to
    /// fit [`MAX_REFUSAL_DETAIL_BYTES`], so error text of any length can be
    /// passed. `code` is not checked here; [`DeliverResponse::check`] does.
    pub fn refused(code: &str, detail: &str) -> DeliverResponse {
        let mut end = detail.len().min(MAX_REFUSAL_DETAIL_BYTES);
        while !detail.is_char_boundary(end) {
            end -= 1;
        }
        DeliverResponse::Refused { code: code.to_owned(), detail: detail[..end].to_owned() }
    }

    /// Checks the receipt size, or the refusal code and detail.
    pub fn check(&self) -> Result<(), ProtocolError> {
        match self {
            DeliverResponse::Receipt(receipt) => check_len("receipt", receipt.len(), MAX_RECEIPT_BYTES),
            DeliverResponse::Refused { code, detail } => {
                check_code(code)?;
                check_len("refusal detail", detail.len(), MAX_REFUSAL_DETAIL_BYTES)
            }
        }
    }

    /// The body bytes (no length prefix), after checking the bounds.
    pub fn to_body(&self) -> Result<Vec<u8>, ProtocolError> {
        self.check()?;
        checked_body(encoding::encode(self), MAX_DELIVER_RESPONSE_FRAME_BYTES)
    }

    /// Decodes and checks a response body.
    pub fn from_body(body: &[u8]) -> Result<DeliverResponse, ProtocolError> {
        let response: DeliverResponse = encoding::decode("deliver response", body, MAX_DELIVER_RESPONSE_FRAME_BYTES)?;
        response.check()?;
        Ok(response)
    }
}

/// The deliver protocol's messages and bounds, for [`FramedCodec`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DeliverFrames;

impl FramedProtocol for DeliverFrames {
    type Request = DeliverRequest;
    type Response = DeliverResponse;
    const MAX_REQUEST_BYTES: usize = MAX_DELIVER_FRAME_BYTES;
    const MAX_RESPONSE_BYTES: usize = MAX_DELIVER_RESPONSE_FRAME_BYTES;

    fn request_to_body(request: &DeliverRequest) -> Result<Vec<u8>, ProtocolError> {
        request.to_body()
    }
    fn request_from_body(body: &[u8]) -> Result<DeliverRequest, ProtocolError> {
        DeliverRequest::from_body(body)
    }
    fn response_to_body(response: &DeliverResponse) -> Result<Vec<u8>, ProtocolError> {
        response.to_body()
    }
    fn response_from_body(body: &[u8]) -> Result<DeliverResponse, ProtocolError> {
        DeliverResponse::from_body(body)
    }
}

/// The request-response codec of the deliver protocol: length-prefixed,
/// canonically encoded frames with every bound checked on both sides.
pub type DeliverCodec = FramedCodec<DeliverFrames>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::frame_bounded;
    use futures::executor::block_on;
    use futures::io::Cursor;
    use libp2p::request_response::Codec;
    use std::io;

    fn proto() -> StreamProtocol {
        deliver_protocol(&NetworkId([9; 32]))
    }

    fn write_req(req: DeliverRequest) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        block_on(DeliverCodec::default().write_request(&proto(), &mut out, req)).unwrap_or_else(|e| panic!("{e}"));
        out.into_inner()
    }

    fn write_resp(resp: DeliverResponse) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        block_on(DeliverCodec::default().write_response(&proto(), &mut out, resp)).unwrap_or_else(|e| panic!("{e}"));
        out.into_inner()
    }

    fn read_req(bytes: Vec<u8>) -> io::Result<DeliverRequest> {
        block_on(DeliverCodec::default().read_request(&proto(), &mut Cursor::new(bytes)))
    }

    fn read_resp(bytes: Vec<u8>) -> io::Result<DeliverResponse> {
        block_on(DeliverCodec::default().read_response(&proto(), &mut Cursor::new(bytes)))
    }

    fn refused(code: &str, detail: &str) -> DeliverResponse {
        DeliverResponse::Refused { code: code.into(), detail: detail.into() }
    }

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap_or_else(|e| panic!("{b}: {e}"))).collect()
    }

    #[test]
    fn protocol_name_carries_the_network_id() {
        assert_eq!(proto().as_ref(), format!("/hotline/{}/deliver/1", "09".repeat(32)));
    }

    #[test]
    fn requests_and_responses_round_trip() {
        for envelope in [vec![], vec![1, 2, 3], vec![0xab; MAX_ENVELOPE_BYTES]] {
            let req = DeliverRequest { envelope };
            assert_eq!(read_req(write_req(req.clone())).ok(), Some(req));
        }
        for resp in [
            DeliverResponse::Receipt(vec![7; 100]),
            DeliverResponse::Receipt(vec![0xcd; MAX_RECEIPT_BYTES]),
            refused(NOT_A_MEMBER, "not a member"),
            refused("decrypt_failed", ""),
            refused(&"z".repeat(MAX_REFUSAL_CODE_BYTES), &"é".repeat(MAX_REFUSAL_DETAIL_BYTES / 2)),
        ] {
            assert_eq!(read_resp(write_resp(resp.clone())).ok(), Some(resp));
        }
    }

    #[test]
    fn oversized_length_prefix_is_refused_before_reading() {
        // Each prefix is followed by nothing: InvalidData (not UnexpectedEof)
        // shows the length was refused before any body byte was awaited.
        let over_request = ((MAX_DELIVER_FRAME_BYTES + 1) as u32).to_be_bytes().to_vec();
        let over_response = ((MAX_DELIVER_RESPONSE_FRAME_BYTES + 1) as u32).to_be_bytes().to_vec();
        for bytes in [vec![0xff; 4], over_request, vec![0; 4]] {
            assert_eq!(read_req(bytes).err().map(|e| e.kind()), Some(io::ErrorKind::InvalidData));
        }
        for bytes in [vec![0xff; 4], over_response, vec![0; 4]] {
            assert_eq!(read_resp(bytes).err().map(|e| e.kind()), Some(io::ErrorKind::InvalidData));
        }
        // A response is refused at a length a request may have.
        let request_sized = ((MAX_DELIVER_FRAME_BYTES) as u32).to_be_bytes().to_vec();
        assert_eq!(read_resp(request_sized).err().map(|e| e.kind()), Some(io::ErrorKind::InvalidData));
    }

    #[test]
    fn truncated_frames_are_refused() {
        let bytes = write_req(DeliverRequest { envelope: vec![5; 40] });
        for cut in [0, 2, 4, 5, bytes.len() - 1] {
            assert!(read_req(bytes[..cut].to_vec()).is_err(), "request cut at {cut} accepted");
        }
        let bytes = write_resp(refused("malformed", "bad header"));
        for cut in [0, 3, 4, 6, bytes.len() - 1] {
            assert!(read_resp(bytes[..cut].to_vec()).is_err(), "response cut at {cut} accepted");
        }
        // A body whose inner length says more than the frame holds.
        assert!(matches!(DeliverRequest::from_body(&[5, 1, 2]), Err(ProtocolError::Decode(_))));
    }

    #[test]
    fn malformed_and_non_canonical_bodies_are_refused() {
        // An overlong varint for the envelope length (0 spelled 0x80 0x00).
        assert!(matches!(DeliverRequest::from_body(&[0x80, 0x00]), Err(ProtocolError::Decode(_))));
        // Trailing bytes after a valid body.
        assert!(matches!(DeliverRequest::from_body(&[1, 9, 0]), Err(ProtocolError::Decode(_))));
        assert!(matches!(DeliverResponse::from_body(&[0, 1, 9, 0]), Err(ProtocolError::Decode(_))));
        // Unknown response variant, and an overlong variant index.
        assert!(matches!(DeliverResponse::from_body(&[2, 0]), Err(ProtocolError::Decode(_))));
        assert!(matches!(DeliverResponse::from_body(&[0x80, 0x00, 0]), Err(ProtocolError::Decode(_))));
        // A detail that is not UTF-8.
        assert!(matches!(DeliverResponse::from_body(&[1, 1, b'x', 2, 0xc3, 0x28]), Err(ProtocolError::Decode(_))));
        // Random garbage through the codec: an error or a value, never a panic.
        let mut seed = 0x8765_4321u32;
        for len in 1..200usize {
            let body: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (seed >> 16) as u8
                })
                .collect();
            let framed = frame_bounded(&body, MAX_DELIVER_FRAME_BYTES).unwrap_or_default();
            let _ = read_req(framed.clone());
            let _ = read_resp(framed);
        }
    }

    #[test]
    fn bad_refusal_codes_are_refused_on_both_sides() {
        for code in ["", "Not_A_Member", "not-a-member", "not a member", "é", "code\n"] {
            let resp = refused(code, "");
            assert!(matches!(resp.to_body(), Err(ProtocolError::BadRefusalCode { .. })), "{code:?} sent");
            // A peer that skips the sender-side check is still refused on reading.
            let body = encoding::encode(&resp);
            assert!(matches!(DeliverResponse::from_body(&body), Err(ProtocolError::BadRefusalCode { .. })));
        }
        let long = refused(&"a".repeat(MAX_REFUSAL_CODE_BYTES + 1), "");
        assert!(matches!(long.check(), Err(ProtocolError::FieldTooLarge { what: "refusal code", .. })));
        let body = encoding::encode(&long);
        assert!(matches!(DeliverResponse::from_body(&body), Err(ProtocolError::FieldTooLarge { .. })));
    }

    #[test]
    fn field_bounds_are_enforced_on_both_sides() {
        let big = DeliverRequest { envelope: vec![0; MAX_ENVELOPE_BYTES + 1] };
        assert!(matches!(big.to_body(), Err(ProtocolError::FieldTooLarge { what: "envelope", .. })));
        let body = encoding::encode(&big);
        assert!(matches!(DeliverRequest::from_body(&body), Err(ProtocolError::FieldTooLarge { .. })));

        let big = DeliverResponse::Receipt(vec![0; MAX_RECEIPT_BYTES + 1]);
        assert!(matches!(big.to_body(), Err(ProtocolError::FieldTooLarge { what: "receipt", .. })));
        let body = encoding::encode(&big);
        assert!(matches!(DeliverResponse::from_body(&body), Err(ProtocolError::FieldTooLarge { .. })));

        let long = refused("x", &"d".repeat(MAX_REFUSAL_DETAIL_BYTES + 1));
        assert!(matches!(long.check(), Err(ProtocolError::FieldTooLarge { what: "refusal detail", .. })));
        let body = encoding::encode(&long);
        assert!(matches!(DeliverResponse::from_body(&body), Err(ProtocolError::FieldTooLarge { .. })));
    }

    #[test]
    fn refused_helper_cuts_the_detail_at_a_character_boundary() {
        // 'é' is two bytes: 511 of them would end mid-character at 512.
        let resp = DeliverResponse::refused("too_large", &"é".repeat(511));
        let DeliverResponse::Refused { detail, .. } = &resp else { panic!("{resp:?}") };
        assert_eq!(detail.len(), MAX_REFUSAL_DETAIL_BYTES);
        assert!(resp.check().is_ok());
        let resp = DeliverResponse::refused("x", &format!("a{}", "é".repeat(300)));
        let DeliverResponse::Refused { detail, .. } = &resp else { panic!("{resp:?}") };
        assert_eq!(detail.len(), MAX_REFUSAL_DETAIL_BYTES - 1);
        assert_eq!(DeliverResponse::refused("x", "short"), refused("x", "short"));
    }

    #[test]
    fn wire_vectors_are_stable() {
        // The vectors of the module documentation and docs/protocol.md.
        let req = DeliverRequest { envelope: vec![0x01, 0xde, 0xad, 0xbe, 0xef] };
        assert_eq!(req.to_body().unwrap_or_default(), hex("05 01 de ad be ef"));
        assert_eq!(write_req(req), hex("00 00 00 06 05 01 de ad be ef"));

        assert_eq!(write_resp(DeliverResponse::Receipt(vec![0xaa, 0xbb])), hex("00 00 00 04 00 02 aa bb"));

        let resp = refused(NOT_A_MEMBER, "not a member");
        let body = hex("01 0c 6e 6f 74 5f 61 5f 6d 65 6d 62 65 72 0c 6e 6f 74 20 61 20 6d 65 6d 62 65 72");
        assert_eq!(resp.to_body().unwrap_or_default(), body);
        let mut frame = hex("00 00 00 1b");
        frame.extend_from_slice(&body);
        assert_eq!(write_resp(resp), frame);
    }
}
