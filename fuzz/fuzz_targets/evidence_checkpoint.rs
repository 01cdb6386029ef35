//! hotline-evidence's checkpoint notes: `SignedCheckpoint::from_bytes` and
//! `verify` on a note from the network (a `Cosign` request, an
//! equivocation report) or a file, and, on the same bytes, a consistency
//! and an inclusion check with hashes taken from the input: nothing may
//! panic, and no note nobody signed verifies.
#![no_main]

use hotline_core::{NetworkId, SecretKey};
use hotline_evidence::tree::{check_consistency, check_inclusion};
use hotline_evidence::{Hash, SignedCheckpoint};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let network = NetworkId([7; 32]);
    let node = SecretKey::from_seed(&[1; 32]).node_id();
    if let Ok(note) = SignedCheckpoint::from_bytes(data) {
        assert!(note.verify(&network, &node).is_err(), "a note nobody signed verified");
    }
    let hashes: Vec<Hash> = data.chunks_exact(32).filter_map(|c| c.try_into().ok()).map(Hash).collect();
    let n = |i: usize| data.get(i).map_or(0, |b| u64::from(*b) << (b % 56));
    let (a, b) = (hashes.first().copied().unwrap_or(Hash([0; 32])), hashes.last().copied().unwrap_or(Hash([0; 32])));
    let _ = check_consistency(&hashes, n(0), a, n(1), b);
    let _ = check_inclusion(&hashes, n(2), a, n(3), b);
});
