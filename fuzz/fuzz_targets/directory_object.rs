//! `DirectoryObject::from_bytes`: the gossip and sync payload.
#![no_main]

use hotline_core::DirectoryObject;
use hotline_fuzz::NET;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(object) = DirectoryObject::from_bytes(data) {
        // Decoding accepts only the canonical encoding.
        assert_eq!(object.to_bytes(), data);
        let _ = (object.key(), object.hash(&NET), object.describe());
    }
});
