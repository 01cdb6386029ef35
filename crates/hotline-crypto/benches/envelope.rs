//! What one message costs in cryptography: sealing and opening an envelope
//! (X-Wing HPKE with ChaCha20-Poly1305 and the inner Ed25519 signature),
//! and signing and verifying its delivery receipt. `cargo bench -p
//! hotline-crypto`; the figures are in `docs/performance.md`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hotline_core::{NetworkId, SecretKey, Timestamp};
use hotline_crypto::{DeliveryReceipt, Envelope, PrekeyRing, SeedRng, select_prekey};
use std::hint::black_box;
use zeroize::Zeroizing;

const NOW: Timestamp = Timestamp(1_800_000_000);

fn rng(seed: u8) -> SeedRng {
    SeedRng::from_seed(Zeroizing::new([seed; 32]))
}

fn bench(c: &mut Criterion) {
    let network = NetworkId([7; 32]);
    let sender = SecretKey::from_seed(&[1; 32]);
    let recipient = SecretKey::from_seed(&[2; 32]);
    let (sender_id, recipient_id) = (sender.node_id(), recipient.node_id());
    let mut ring = PrekeyRing::new();
    ring.rotate(NOW, &mut rng(3), Default::default());
    let bundle = ring.bundle("DEU".parse().unwrap(), recipient_id, 1, NOW).unwrap();
    let prekey = select_prekey(&bundle, NOW).unwrap().clone();
    let body = vec![b'x'; 1024];
    let seal = |r: &mut SeedRng| {
        Envelope::seal(&body, &sender, sender_id, recipient_id, (prekey.id, &prekey.public), &network, [9; 16], NOW, r)
            .unwrap()
    };
    let envelope = seal(&mut rng(4));
    let receipt = DeliveryReceipt::sign(&envelope, &recipient, &network, NOW, 1, 0).unwrap();

    let mut group = c.benchmark_group("message_crypto_1KiB");
    group.throughput(Throughput::Elements(1));
    let mut r = rng(5);
    group.bench_function("seal", |b| b.iter(|| black_box(seal(&mut r))));
    group.bench_function("open", |b| b.iter(|| black_box(envelope.open(&ring, recipient_id, &network, NOW).unwrap())));
    group.bench_function("receipt_sign", |b| {
        b.iter(|| black_box(DeliveryReceipt::sign(&envelope, &recipient, &network, NOW, 1, 0).unwrap()))
    });
    group.bench_function("receipt_verify", |b| b.iter(|| receipt.verify(recipient_id, &network).unwrap()));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
