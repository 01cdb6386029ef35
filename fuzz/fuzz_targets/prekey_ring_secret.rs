//! `PrekeyRing::from_bytes_secret`: the node's stored prekey secrets.
#![no_main]

use hotline_crypto::PrekeyRing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ring) = PrekeyRing::from_bytes_secret(data) {
        assert_eq!(&ring.to_bytes_secret()[..], data);
    }
});
