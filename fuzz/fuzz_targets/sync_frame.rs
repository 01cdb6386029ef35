//! hotline-net's sync protocol: `read_frame` (the length-prefixed frame
//! reader the libp2p codec uses, driven over an in-memory reader), then
//! `SyncRequest::from_body` and `SyncResponse::from_body` on the body.
#![no_main]

use futures::executor::block_on;
use futures::io::Cursor;
use hotline_net::sync::{SyncRequest, SyncResponse, read_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = Cursor::new(data);
    if let Ok(body) = block_on(read_frame(&mut reader)) {
        if let Ok(request) = SyncRequest::from_body(&body) {
            assert_eq!(request.to_body().expect("a decoded request re-encodes"), body);
        }
        if let Ok(response) = SyncResponse::from_body(&body) {
            assert_eq!(response.to_body().expect("a decoded response re-encodes"), body);
        }
    }
});
