//! Known-answer tests: the HPKE suite Hotline uses (base mode, X-Wing,
//! HKDF-SHA256, ChaCha20-Poly1305), driven through the same `hpke` crate API
//! that `Envelope::seal` and `Envelope::open` call, against published
//! vectors. The `hpke` crate does not ship its vector files in its crates.io
//! package, so the ones we need are embedded under `tests/data/`, each with
//! its source:
//!
//! - `rfc9180-a21.json`: RFC 9180 appendix A.2.1 (DHKEM(X25519), HKDF-SHA256,
//!   ChaCha20Poly1305, base mode). It pins the key schedule and AEAD that our
//!   suite shares with the RFC's own vectors.
//! - `hpke-pq-xwing-base.json`: the HPKE-PQ vector for exactly our suite
//!   (kem 0x647a X-Wing, kdf 0x0001, aead 0x0003, mode 0).
//! - `xwing-kem.json`: the X-Wing KEM vectors of draft-connolly-cfrg-xwing-kem
//!   (as shipped in the x-wing crate package).
//!
//! Encapsulation is made deterministic by handing the crate's public
//! `*_with_rng` functions an RNG that replays the vector's randomness (`ikmE`
//! or `eseed`); the crate's own deterministic encapsulation is private.

mod replay;

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::{X25519HkdfSha256, XWing};
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use replay::Replay;
use serde_json::Value;

fn hex(v: &Value, field: &str) -> Vec<u8> {
    hex::decode(v[field].as_str().unwrap_or_else(|| panic!("missing {field}"))).unwrap()
}

fn load(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn rfc9180_a21_x25519_hkdf_sha256_chacha20poly1305_base() {
    let v = load(include_str!("data/rfc9180-a21.json"));
    assert_eq!((v["mode"].as_u64(), v["kdf_id"].as_u64(), v["aead_id"].as_u64()), (Some(0), Some(1), Some(3)));
    let (sk, pk) = X25519HkdfSha256::derive_keypair(&hex(&v, "ikmR"));
    assert_eq!(pk.to_bytes().as_slice(), hex(&v, "pkRm"));
    // The appendix prints the scalar before X25519 clamping (RFC 7748); the
    // crate serializes it clamped, which is the same X25519 key.
    let mut clamped = hex(&v, "skRm");
    clamped[0] &= 248;
    clamped[31] &= 127;
    clamped[31] |= 64;
    assert_eq!(sk.to_bytes().as_slice(), clamped);
    let published = <X25519HkdfSha256 as Kem>::PrivateKey::from_bytes(&hex(&v, "skRm")).unwrap();
    assert_eq!(X25519HkdfSha256::sk_to_pk(&published).to_bytes().as_slice(), hex(&v, "pkRm"));

    let info = hex(&v, "info");
    let e = &v["encryptions"][0];
    let mut rng = Replay(hex(&v, "ikmE"));
    let (enc, ct) = hpke::single_shot_seal_with_rng::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
        &OpModeS::Base,
        &pk,
        &info,
        &hex(e, "pt"),
        &hex(e, "aad"),
        &mut rng,
    )
    .unwrap();
    assert_eq!(enc.to_bytes().as_slice(), hex(&v, "enc"));
    assert_eq!(ct, hex(e, "ct"));
    let shared = X25519HkdfSha256::decap(&sk, None, &enc).unwrap();
    assert_eq!(shared.0.as_slice(), hex(&v, "shared_secret"));

    let pt = hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
        &OpModeR::Base,
        &sk,
        &enc,
        &info,
        &ct,
        &hex(e, "aad"),
    )
    .unwrap();
    assert_eq!(pt, hex(e, "pt"));
}

#[test]
fn hpke_pq_xwing_hkdf_sha256_chacha20poly1305_base() {
    let v = load(include_str!("data/hpke-pq-xwing-base.json"));
    assert_eq!(v["kem_id"].as_u64(), Some(u64::from(XWing::KEM_ID)));
    assert_eq!((v["mode"].as_u64(), v["kdf_id"].as_u64(), v["aead_id"].as_u64()), (Some(0), Some(1), Some(3)));

    // DeriveKeyPair(ikmR).
    let (sk, pk) = XWing::derive_keypair(&hex(&v, "ikmR"));
    assert_eq!(sk.to_bytes().as_slice(), hex(&v, "skRm"));
    assert_eq!(pk.to_bytes().as_slice(), hex(&v, "pkRm"));
    // The published keys parse and agree.
    let sk2 = <XWing as Kem>::PrivateKey::from_bytes(&hex(&v, "skRm")).unwrap();
    assert_eq!(XWing::sk_to_pk(&sk2).to_bytes().as_slice(), hex(&v, "pkRm"));

    // Sender: encapsulation with ikmE as the randomness, then the sequence of
    // encryptions (each uses the next nonce).
    let info = hex(&v, "info");
    let (enc, mut sender) = hpke::setup_sender_with_rng::<ChaCha20Poly1305, HkdfSha256, XWing>(
        &OpModeS::Base,
        &pk,
        &info,
        &mut Replay(hex(&v, "ikmE")),
    )
    .unwrap();
    assert_eq!(enc.to_bytes().as_slice(), hex(&v, "enc"));
    let shared = XWing::decap(&sk, None, &enc).unwrap();
    assert_eq!(shared.0.as_slice(), hex(&v, "shared_secret"));

    let mut receiver =
        hpke::setup_receiver::<ChaCha20Poly1305, HkdfSha256, XWing>(&OpModeR::Base, &sk, &enc, &info).unwrap();
    let encryptions = v["encryptions"].as_array().unwrap();
    assert!(!encryptions.is_empty());
    for e in encryptions {
        assert_eq!(sender.seal(&hex(e, "pt"), &hex(e, "aad")).unwrap(), hex(e, "ct"));
        assert_eq!(receiver.open(&hex(e, "ct"), &hex(e, "aad")).unwrap(), hex(e, "pt"));
    }
    for x in v["exports"].as_array().unwrap() {
        let mut out = vec![0u8; x["L"].as_u64().unwrap() as usize];
        receiver.export(&hex(x, "exporter_context"), &mut out).unwrap();
        assert_eq!(out, hex(x, "exported_value"));
    }
}

#[test]
fn xwing_kem_vectors() {
    let file = load(include_str!("data/xwing-kem.json"));
    let vectors = file["vectors"].as_array().unwrap();
    assert!(!vectors.is_empty());
    for v in vectors {
        // The decapsulation key is the 32-byte seed.
        assert_eq!(hex(v, "sk"), hex(v, "seed"));
        let sk = <XWing as Kem>::PrivateKey::from_bytes(&hex(v, "sk")).unwrap();
        let pk = XWing::sk_to_pk(&sk);
        assert_eq!(pk.to_bytes().as_slice(), hex(v, "pk"));
        assert_eq!(pk.to_bytes().len(), hotline_core::limits::XWING_PUBLIC_KEY_BYTES);

        let (ss, ct) = XWing::encap_with_rng(&pk, None, &mut Replay(hex(v, "eseed"))).unwrap();
        assert_eq!(ct.to_bytes().as_slice(), hex(v, "ct"));
        assert_eq!(ct.to_bytes().len(), hotline_crypto::XWING_ENCAPSULATED_KEY_BYTES);
        assert_eq!(ss.0.as_slice(), hex(v, "ss"));

        let ct = <XWing as Kem>::EncappedKey::from_bytes(&hex(v, "ct")).unwrap();
        assert_eq!(XWing::decap(&sk, None, &ct).unwrap().0.as_slice(), hex(v, "ss"));
    }
}
