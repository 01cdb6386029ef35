//! Fuzz-like property tests: every decoder of this crate, fed random bytes
//! and random mutations of valid input, returns an error or a value and never
//! panics; no mutation of a sealed envelope opens. They run in `cargo test`
//! everywhere; the coverage-guided fuzz targets in `fuzz/` go deeper.

use hotline_core::{NetworkId, NodeId, SecretKey, Timestamp};
use hotline_crypto::{DeliveryReceipt, Envelope, PrekeyPolicy, PrekeyRing, SeedRng};
use proptest::prelude::*;
use std::sync::OnceLock;
use zeroize::Zeroizing;

const T0: Timestamp = Timestamp(1_790_000_000);
const NET: NetworkId = NetworkId([0x4e; 32]);

struct Fixture {
    ring: PrekeyRing,
    recipient: NodeId,
    envelope: Vec<u8>,
    receipt: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let sender = SecretKey::from_seed(&[1; 32]);
        let recipient_key = SecretKey::from_seed(&[2; 32]);
        let recipient = recipient_key.node_id();
        let mut rng = SeedRng::from_seed(Zeroizing::new([3; 32]));
        let mut ring = PrekeyRing::new();
        ring.rotate(T0, &mut rng, PrekeyPolicy::default());
        let p = ring.newest().unwrap();
        let env = Envelope::seal(
            b"fuzz me",
            &sender,
            sender.node_id(),
            recipient,
            (p.id(), p.public_bytes()),
            &NET,
            [9; 16],
            T0,
            &mut rng,
        )
        .unwrap();
        let receipt = DeliveryReceipt::sign(&env, &recipient_key, &NET, T0, 1, 0).unwrap().to_bytes();
        Fixture { envelope: env.to_bytes(), ring, recipient, receipt }
    })
}

fn mutate(base: &[u8], edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    let mut out = base.to_vec();
    for &(at, x) in edits {
        let i = at % out.len();
        out[i] ^= x.max(1);
    }
    if let Some(c) = cut {
        out.truncate(c % (out.len() + 1));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let f = fixture();
        if let Ok(env) = Envelope::from_bytes(&bytes) {
            let _ = env.open(&f.ring, f.recipient, &NET, T0);
            let _ = env.hash();
        }
        if let Ok(r) = DeliveryReceipt::from_bytes(&bytes) {
            let _ = r.verify(f.recipient, &NET);
        }
        let _ = PrekeyRing::from_bytes_secret(&bytes);
    }

    #[test]
    fn mutated_envelopes_never_open(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let f = fixture();
        let bytes = mutate(&f.envelope, &edits, cut);
        prop_assume!(bytes != f.envelope);
        let result = Envelope::from_bytes(&bytes).and_then(|e| e.open(&f.ring, f.recipient, &NET, T0));
        prop_assert!(result.is_err());
    }

    #[test]
    fn mutated_receipts_never_verify(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let f = fixture();
        let bytes = mutate(&f.receipt, &edits, cut);
        prop_assume!(bytes != f.receipt);
        let ok = DeliveryReceipt::from_bytes(&bytes).is_ok_and(|r| r.verify(f.recipient, &NET).is_ok());
        prop_assert!(!ok);
    }
}

#[test]
fn the_fixture_itself_opens() {
    let f = fixture();
    let opened = Envelope::from_bytes(&f.envelope).unwrap().open(&f.ring, f.recipient, &NET, T0).unwrap();
    assert_eq!(opened.plaintext, b"fuzz me");
}
