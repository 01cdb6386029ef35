//! `DeliveryReceipt::from_bytes`, then `verify`.
#![no_main]

use hotline_crypto::DeliveryReceipt;
use hotline_fuzz::{NET, envelope_fixture};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fixture = envelope_fixture();
    if let Ok(receipt) = DeliveryReceipt::from_bytes(data) {
        assert_eq!(receipt.to_bytes(), data);
        let verified = receipt.verify(fixture.recipient, &NET);
        assert_eq!(verified.is_ok(), data == fixture.receipt.as_slice());
    }
});
