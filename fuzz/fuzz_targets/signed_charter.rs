//! `SignedCharter::from_bytes`: the charter file.
#![no_main]

use hotline_core::SignedCharter;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(charter) = SignedCharter::from_bytes(data) {
        assert_eq!(charter.to_bytes(), data);
        let _ = charter.verify();
    }
});
