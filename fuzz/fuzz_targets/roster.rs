//! hotline-core's consultation rosters: `SignedRoster::from_bytes` on bytes
//! from a post, then `verify` and `check`: nothing panics, a decoded roster
//! re-encodes to its input (the encoding is canonical), and no roster
//! nobody signed verifies.
#![no_main]

use hotline_core::NetworkId;
use hotline_core::roster::SignedRoster;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(signed) = SignedRoster::from_bytes(data) {
        assert_eq!(signed.to_bytes(), data, "a roster re-encodes to itself");
        assert!(signed.verify(&NetworkId([9; 32])).is_err(), "a roster nobody signed verified");
        let _ = signed.roster.check();
    }
});
