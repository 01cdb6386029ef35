//! hotline-net's deliver protocol: `read_frame_bounded` (the length-prefixed
//! frame reader the deliver codec uses, driven over an in-memory reader)
//! with the request bound and with the response bound, then
//! `DeliverRequest::from_body` and `DeliverResponse::from_body` on the body;
//! and the two body decoders on the raw input as well, so that inputs
//! without a valid length prefix still reach them.
#![no_main]

use futures::executor::block_on;
use futures::io::Cursor;
use hotline_net::deliver::{MAX_DELIVER_FRAME_BYTES, MAX_DELIVER_RESPONSE_FRAME_BYTES};
use hotline_net::frame::read_frame_bounded;
use hotline_net::{DeliverRequest, DeliverResponse};
use libfuzzer_sys::fuzz_target;

/// Decodes `body` both ways; anything decoded must re-encode to `body`.
fn check_body(body: &[u8]) {
    if let Ok(request) = DeliverRequest::from_body(body) {
        assert_eq!(request.to_body().expect("a decoded request re-encodes"), body);
    }
    if let Ok(response) = DeliverResponse::from_body(body) {
        assert_eq!(response.to_body().expect("a decoded response re-encodes"), body);
    }
}

fuzz_target!(|data: &[u8]| {
    check_body(data);
    for max in [MAX_DELIVER_FRAME_BYTES, MAX_DELIVER_RESPONSE_FRAME_BYTES] {
        if let Ok(body) = block_on(read_frame_bounded(&mut Cursor::new(data), max)) {
            assert!(!body.is_empty() && body.len() <= max, "frame body of {} bytes read under {max}", body.len());
            assert_eq!(body.as_slice(), &data[4..4 + body.len()]);
            check_body(&body);
        }
    }
});
