//! hotline-crypto's backup files: `BackupHeader::from_bytes` on the start of
//! the input (a file handed to `hotline backup verify` or `restore`), and,
//! with cheap key-derivation parameters, `BackupOpener::open_next` and
//! `open_last` on the rest, which must never open a chunk nobody sealed.
#![no_main]

use hotline_crypto::backup::{BackupHeader, BackupOpener, HEADER_BYTES, KdfParams, NONCE_BYTES, SALT_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = BackupHeader::from_bytes(data) {
        assert_eq!(&header.to_bytes()[..], &data[..HEADER_BYTES], "a header re-encodes to itself");
    }
    // The chunk opener, under a fixed cheap key: no forgery opens.
    let header = BackupHeader {
        params: KdfParams { memory_kib: 8, passes: 1, lanes: 1 },
        salt: [1; SALT_BYTES],
        nonce: [2; NONCE_BYTES],
    };
    if let Ok(mut opener) = BackupOpener::new(b"fuzz passphrase", &header) {
        assert!(opener.open_next(data).is_err(), "a chunk nobody sealed opened");
    }
    if let Ok(opener) = BackupOpener::new(b"fuzz passphrase", &header) {
        assert!(opener.open_last(data).is_err(), "a last chunk nobody sealed opened");
    }
});
