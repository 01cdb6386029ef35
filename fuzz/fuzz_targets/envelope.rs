//! `Envelope::from_bytes`, then `open` with a fixed recipient ring.
#![no_main]

use hotline_crypto::Envelope;
use hotline_fuzz::{NET, T0, envelope_fixture};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fixture = envelope_fixture();
    if let Ok(envelope) = Envelope::from_bytes(data) {
        assert_eq!(envelope.to_bytes(), data);
        let opened = envelope.open(&fixture.ring, fixture.recipient, &NET, T0);
        // Only the one genuine envelope opens.
        assert_eq!(opened.is_ok(), data == fixture.envelope.as_slice());
    }
});
