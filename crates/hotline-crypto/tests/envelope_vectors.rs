//! Hotline's own test vectors: an envelope and its delivery receipt from
//! fixed inputs, byte for byte. `VECTORS.md` (beside Cargo.toml) lists the
//! same values, and a test here checks it still does.
//!
//! Besides pinning the bytes, `envelope_matches_the_written_spec` rebuilds
//! the envelope from the format in the crate docs, using the `hpke` crate and
//! Ed25519 directly, so the documented layout and the code cannot drift.
//!
//! Regenerate after a deliberate format change with
//! `cargo test -p hotline-crypto --test envelope_vectors -- --nocapture print_vectors`
//! and paste the output into `VECTORS.md` and the constants below.

mod replay;

use hotline_core::keys::{Context, sha256};
use hotline_core::{NetworkId, NodeId, SecretKey, Signature, Timestamp};
use hotline_crypto::{DeliveryReceipt, Envelope, PrekeyPolicy, PrekeyRing};
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::XWing;
use hpke::{Deserializable, Kem, OpModeR};
use replay::Replay;

// ---- Inputs ----
const SENDER_SEED: [u8; 32] = [0x01; 32];
const RECIPIENT_SEED: [u8; 32] = [0x02; 32];
const NETWORK: NetworkId = NetworkId([0x4e; 32]);
/// Input keying material of the recipient's prekey 1: its X-Wing secret key
/// is HPKE-PQ `DeriveKeyPair(PREKEY_IKM)`.
const PREKEY_IKM: [u8; 32] = [0x03; 32];
const SENT_AT: Timestamp = Timestamp(1_790_000_000);
const RECEIVED_AT: Timestamp = Timestamp(1_790_000_002);
/// The receipt's number among those the recipient issued to the sender.
const RECEIPT_SEQ: u64 = 300;
/// The index of the recipient's evidence log leaf for the message.
const RECEIPT_LOG_POSITION: u64 = 41;
const BODY: &[u8] = b"Request for information: please confirm receipt.";

fn msg_id() -> [u8; 16] {
    std::array::from_fn(|i| i as u8)
}

/// The 64 bytes of X-Wing encapsulation randomness: 0x00, 0x01, … 0x3f.
fn encapsulation_randomness() -> Vec<u8> {
    (0u8..64).collect()
}

// ---- Expected outputs ----
const EXPECTED_PREKEY_SECRET: &str = "45e648d2569e754e4942a0339388ac8072a0f5a394dfa371b87f457044ae95d7";
const EXPECTED_PREKEY_PUBLIC_SHA256: &str = "84f4de150b8495f357f30b058a3ade132c5cc35096da5bad03ce3aefca5e094b";
const EXPECTED_INFO: &str = concat!(
    "686f746c696e652f76312f656e76656c6f70652d696e666f4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e",
    "4e4e4e4e4e4e4e4e018a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c8139770ea87d17",
    "5f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394",
);
const EXPECTED_PLAINTEXT: &str = concat!(
    "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c8139770ea87d175f56a35466c34c7ecc",
    "cb8d8a91b4ee37a25df60f5b8fc9b394000102030405060708090a0b0c0d0e0f80f7c4d506305265717565737420666f",
    "7220696e666f726d6174696f6e3a20706c6561736520636f6e6669726d20726563656970742ef97a8ed119fcfa559d83",
    "cfe45b63c6fc3b100351a105d25a7f005ec0ecad63ac7e0a96c382b213bbac21cc61a806d182ff0a3289b73eeeb27b71",
    "23bf1bebc00b",
);
const EXPECTED_ENVELOPE: &str = concat!(
    "014e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e8a88e3dd7409f195fd52db2d3cba5d",
    "72ca6709bf1d94121bf3748801b40f6f5c8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b3",
    "9401000102030405060708090a0b0c0d0e0f80f7c4d506e008e77a9b4e09ac6602368419167b3a62b3d37fa390683069",
    "ba4b4efee87d1837fe49d80eae2d5da265ab412abe3e0c1baa08cd043f98f66615e8ed9c1c7bf70ce6684a345b57b918",
    "8489ddb115c1edf0971f2c08eb7d62052d0ede6c969f92dfa67b6e52e8bd08ba4481135849b7b7d4a4337b2493de9723",
    "b887acb0285cda11cc123a1496f4ee78500101b764903ca98c27d617299fedf2c1eb6b20af515eb51b0f8d590bdd4cf5",
    "341098b1beb231da72268c72989ca51840336caba88f4f18bf9713b34794a95dc8250f72b9b5b2db629c43fdf7676782",
    "fe3cc9d5f9a713c44b343c596bc81bc201121aa03f2912bbe381448fa4e1ffa019c8d9add25d6218b575c46a7ebc1b5b",
    "a464e5323954f740db81688ecdb00fce97082ee05ef8985c025e392062dd65260031975e50a6c035fa95c3f7e28350f9",
    "c6a11758efc9aa97c93cd94cc6dd34d3b36b5388bf2b290f8ed139061fb9ea152eefd847a4f9e0ba89045c6542e8f268",
    "af74992e1e8584f42c35171a95430978bfb47dcf5d8d19c052d053afda582e965e3435a30a7063069719a70542719838",
    "e84e41de62066c5f0cdad7b74cbb0a6cff6b991f8c45fad433f36289162a207c3a1b545354e6bf96f151d2771cfb82bf",
    "894ece738348c6e78fde430b504d93d6d4d5230a1990c069165fbdca9c7f0ebd6dfdb6770a54f9b97ba916880f036d40",
    "3105efdef1a5090613b5a458f01a23fcfc65dad35591ee7acf298945f276c2d4d4d98b95f8c22f227fdf1a8733069d42",
    "ec528489e15a3331af96af830a56aee9dcaa3ff2e599755bf220aee7b5be526387f8c633d43e30f8bdeb2f95189ffbf2",
    "0515920cacbfd7a15c2594b4e84e94edef878f01dc32cefb96c64468602826f009e6f3b544c36616d37c8597664e6722",
    "06a426038b445ec962ac01dd8393f2be62444111a51dc1865233cdd12af3e4d43470937a298825b8af76eddecb006253",
    "eed6d95d2440564bdea9157547592f09f2652b9f6538e20f8e07857b0fac7ff94f460b76f80658a418018fd91e01e33f",
    "0f331cd92e45142cad3d6ddff65febbf1c10d0ff66f077532a91133aacb118402306f768a75800793ae90442bd71b82e",
    "91aac80eea4cb0f72f13ca452d36f377a22b67719201a396d2d1bc19bfd4ca44106e595913cc182ea5b7df5bcdb837c7",
    "77b8e993935ce8c014e212e311ba543c1f518ffc4d86f77188aea8641cf0c1afbae070ee19f8203e80158abef592e1d3",
    "6c2c5f44df958efcd6bdc317ba3ba2e933015fc4940b2b439ee26b34c3f2f8ff108e5c52c0094b3dc22e018d50cac0cc",
    "216a213d4f3964f66ba23b78fabe9431fd2ee9f67fddea8d03b667688e3576b5bfeb6706d643f6861058d36d3201412a",
    "f9ecec0ef0876f9dc091bc79e8519cae7e6f6843c6d811fec549a64ed625ebcf96260442e0208a306272f07360590359",
    "7e012c6ff430673caf2c8d4e4166923f811eec63142e40b9a45026853298344ce98dcb8fc22bd16190f8f64dec1fc361",
    "51f1b91983079fc021358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254d60171c7f25804",
    "832872ffe272c6f10aa0b0b9c21633c2792530bd9e5f4ff074b605a0f6ebca89d86d76387a12690291bcb33362aec710",
    "693ab03d74251563921e1ae96e477a6620be1e845db316d60908e54f94708e084c474bc2b57bcb212204d9b51e7c8560",
    "235cf6a4d71f7972fa480f073a27b7208c6ccaa512373a274307e3dc86b70014e152bf3c821116f574b41a8991af1559",
    "7faac22a4ac034a49784ab1434fdc879af31506a0d7d0470b3db2cb485a28f2f0d3e2169ea99720322e6fbc72e31fcc2",
    "211751ddfe4450ef7e94f30dd492175e67",
);
const EXPECTED_ENVELOPE_HASH: &str = "7b2fd6e2490f98e15324eb391c0c1a598850b39b0e6a60dd1dd4f1773a86ec7c";
/// The same receipt as a node of the previous release signed it (format
/// 2, no log position): still read and verified.
const EXPECTED_RECEIPT_V2: &str = concat!(
    "02000102030405060708090a0b0c0d0e0f7b2fd6e2490f98e15324eb391c0c1a598850b39b0e6a60dd1dd4f1773a86ec",
    "7c8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b39482f7c4d5068a88e3dd7409f195fd52",
    "db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5cac0235e01dc6e2d620ae61e35a6db98abf43e930c5fd466adb90",
    "bee0b8a0bea7bed8c33a36dd39b3bd4284f7518dc998cf85d065ed0a5f9d5a2807be4ef0fac7950e",
);
const EXPECTED_RECEIPT: &str = concat!(
    "03000102030405060708090a0b0c0d0e0f7b2fd6e2490f98e15324eb391c0c1a598850b39b0e6a60dd1dd4f1773a86ec",
    "7c8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b39482f7c4d5068a88e3dd7409f195fd52",
    "db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5cac02298b2550e5e02e47d66d3ee99ea9d28f032d1c276a9b13d2",
    "5b0087a0ac382b619aed02c4cf7b47819578af0398fec5f91f2df5c62015c6ba3670946b998f36370a",
);

struct Vectors {
    prekey_secret: Vec<u8>,
    prekey_public: Vec<u8>,
    sender: NodeId,
    recipient: NodeId,
    envelope: Vec<u8>,
    envelope_hash: [u8; 32],
    receipt: Vec<u8>,
}

fn node(seed: &[u8; 32]) -> (SecretKey, NodeId) {
    let key = SecretKey::from_seed(seed);
    let id = key.node_id();
    (key, id)
}

fn recipient_ring() -> PrekeyRing {
    let mut ring = PrekeyRing::new();
    ring.rotate(SENT_AT, &mut Replay(PREKEY_IKM.to_vec()), PrekeyPolicy::default());
    ring
}

fn build() -> Vectors {
    let (sender_key, sender) = node(&SENDER_SEED);
    let (recipient_key, recipient) = node(&RECIPIENT_SEED);
    let ring = recipient_ring();
    let prekey = ring.newest().unwrap();
    assert_eq!(prekey.id(), 1);
    let envelope = Envelope::seal(
        BODY,
        &sender_key,
        sender,
        recipient,
        (prekey.id(), prekey.public_bytes()),
        &NETWORK,
        msg_id(),
        SENT_AT,
        &mut Replay(encapsulation_randomness()),
    )
    .unwrap();
    let receipt =
        DeliveryReceipt::sign(&envelope, &recipient_key, &NETWORK, RECEIVED_AT, RECEIPT_SEQ, RECEIPT_LOG_POSITION)
            .unwrap();
    let stored = prekey.to_bytes_secret();
    Vectors {
        prekey_secret: stored[28..].to_vec(),
        prekey_public: prekey.public_bytes().to_vec(),
        sender,
        recipient,
        envelope: envelope.to_bytes(),
        envelope_hash: envelope.hash(),
        receipt: receipt.to_bytes(),
    }
}

fn info(v: &Vectors) -> Vec<u8> {
    let mut info = b"hotline/v1/envelope-info".to_vec();
    info.extend_from_slice(&NETWORK.0);
    info.push(1);
    info.extend_from_slice(&v.sender.0);
    info.extend_from_slice(&v.recipient.0);
    info
}

/// LEB128, as postcard writes unsigned integers.
fn varint(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// The inner plaintext as the spec writes it, given the signature.
fn spec_plaintext(v: &Vectors, signature: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&v.sender.0);
    p.extend_from_slice(&v.recipient.0);
    p.extend_from_slice(&msg_id());
    p.extend_from_slice(&varint(SENT_AT.0));
    p.extend_from_slice(&varint(BODY.len() as u64));
    p.extend_from_slice(BODY);
    p.extend_from_slice(signature);
    p
}

/// Opens the envelope from the written spec alone: fixed offsets, `hpke`
/// directly, Ed25519 directly. Returns the plaintext.
fn open_by_spec(v: &Vectors) -> Vec<u8> {
    let b = &v.envelope;
    assert_eq!(b[0], 1, "format byte");
    assert_eq!(&b[1..33], &NETWORK.0);
    assert_eq!(&b[33..65], &v.sender.0);
    assert_eq!(&b[65..97], &v.recipient.0);
    let mut at = 97;
    assert_eq!(&b[at..at + 1], &varint(1)[..], "prekey id");
    at += 1;
    assert_eq!(&b[at..at + 16], &msg_id());
    at += 16;
    let sent = varint(SENT_AT.0);
    assert_eq!(&b[at..at + sent.len()], &sent[..]);
    at += sent.len();
    assert_eq!(&b[at..at + 2], &varint(1120)[..]);
    at += 2;
    let enc = &b[at..at + 1120];
    at += 1120;
    let aad = &b[..at];
    let rest = &b[at..];
    // The ciphertext length is a varint of at most 3 bytes here.
    let (ct_len, skip) = if rest[0] < 0x80 {
        (rest[0] as usize, 1)
    } else {
        assert!(rest[1] < 0x80);
        ((rest[0] & 0x7f) as usize | (rest[1] as usize) << 7, 2)
    };
    let ct = &rest[skip..];
    assert_eq!(ct.len(), ct_len);

    let sk = <XWing as Kem>::PrivateKey::from_bytes(&v.prekey_secret).unwrap();
    let enc = <XWing as Kem>::EncappedKey::from_bytes(enc).unwrap();
    hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, XWing>(&OpModeR::Base, &sk, &enc, &info(v), ct, aad).unwrap()
}

#[test]
fn envelope_matches_the_written_spec() {
    let v = build();
    let plaintext = open_by_spec(&v);
    let signature = &plaintext[plaintext.len() - 64..];
    assert_eq!(plaintext, spec_plaintext(&v, signature));

    let mut signed = Vec::new();
    signed.extend_from_slice(&v.sender.0);
    signed.extend_from_slice(&v.recipient.0);
    signed.extend_from_slice(&msg_id());
    signed.extend_from_slice(&varint(SENT_AT.0));
    signed.extend_from_slice(&sha256(BODY));
    let sig = Signature(signature.try_into().unwrap());
    assert_eq!(v.sender.public_key().verify(Context::ENVELOPE, &NETWORK, &signed, &sig), Ok(()));

    // The prekey secret is DeriveKeyPair(PREKEY_IKM).
    let (sk, pk) = XWing::derive_keypair(&PREKEY_IKM);
    assert_eq!(hpke::Serializable::to_bytes(&sk).as_slice(), &v.prekey_secret[..]);
    assert_eq!(hpke::Serializable::to_bytes(&pk).as_slice(), &v.prekey_public[..]);

    // The receipt.
    let r = &v.receipt;
    let mut body = Vec::new();
    body.extend_from_slice(&msg_id());
    body.extend_from_slice(&v.envelope_hash);
    body.extend_from_slice(&v.recipient.0);
    body.extend_from_slice(&varint(RECEIVED_AT.0));
    body.extend_from_slice(&v.sender.0);
    body.extend_from_slice(&varint(RECEIPT_SEQ));
    body.extend_from_slice(&varint(RECEIPT_LOG_POSITION));
    assert_eq!(r[0], 3);
    assert_eq!(&r[1..1 + body.len()], &body[..]);
    assert_eq!(r.len(), 1 + body.len() + 64);
    let rsig = Signature(r[1 + body.len()..].try_into().unwrap());
    assert_eq!(v.recipient.public_key().verify(Context::RECEIPT_V3, &NETWORK, &body, &rsig), Ok(()));
    assert_eq!(v.envelope_hash, sha256(&v.envelope));
}

#[test]
fn envelope_and_receipt_bytes_are_pinned() {
    let v = build();
    assert_eq!(hex::encode(&v.prekey_secret), EXPECTED_PREKEY_SECRET);
    assert_eq!(hex::encode(sha256(&v.prekey_public)), EXPECTED_PREKEY_PUBLIC_SHA256);
    assert_eq!(hex::encode(info(&v)), EXPECTED_INFO);
    let plaintext = open_by_spec(&v);
    assert_eq!(hex::encode(&plaintext), EXPECTED_PLAINTEXT);
    assert_eq!(hex::encode(&v.envelope), EXPECTED_ENVELOPE);
    assert_eq!(hex::encode(v.envelope_hash), EXPECTED_ENVELOPE_HASH);
    assert_eq!(hex::encode(&v.receipt), EXPECTED_RECEIPT);

    // And the library opens its own vector.
    let (_, recipient) = node(&RECIPIENT_SEED);
    let opened =
        Envelope::from_bytes(&v.envelope).unwrap().open(&recipient_ring(), recipient, &NETWORK, SENT_AT).unwrap();
    assert_eq!(opened.plaintext, BODY);
    let receipt = DeliveryReceipt::from_bytes(&v.receipt).unwrap();
    assert_eq!(receipt.verify_for(&Envelope::from_bytes(&v.envelope).unwrap(), &NETWORK), Ok(()));
    assert_eq!(receipt.log_position(), Some(RECEIPT_LOG_POSITION));
    // A receipt of the previous format still verifies, without a position.
    let old = DeliveryReceipt::from_bytes(&hex::decode(EXPECTED_RECEIPT_V2).unwrap()).unwrap();
    assert_eq!(old.verify_for(&Envelope::from_bytes(&v.envelope).unwrap(), &NETWORK), Ok(()));
    assert_eq!((old.seq(), old.log_position()), (Some(RECEIPT_SEQ), None));
}

#[test]
fn vectors_md_lists_the_current_values() {
    // Long values are wrapped over several lines there.
    let flat: String = include_str!("../VECTORS.md").split_whitespace().collect();
    let v = build();
    for value in [
        EXPECTED_PREKEY_SECRET,
        EXPECTED_PREKEY_PUBLIC_SHA256,
        EXPECTED_INFO,
        EXPECTED_PLAINTEXT,
        EXPECTED_ENVELOPE,
        EXPECTED_ENVELOPE_HASH,
        EXPECTED_RECEIPT,
        &hex::encode(&v.prekey_public),
        &hex::encode(v.sender.0),
        &hex::encode(v.recipient.0),
    ] {
        assert!(flat.contains(value), "VECTORS.md lacks {value}");
    }
}

#[test]
fn print_vectors() {
    let v = build();
    println!("sender node id      {}", hex::encode(v.sender.0));
    println!("recipient node id   {}", hex::encode(v.recipient.0));
    println!("prekey secret       {}", hex::encode(&v.prekey_secret));
    println!("prekey public       {}", hex::encode(&v.prekey_public));
    println!("prekey public sha256 {}", hex::encode(sha256(&v.prekey_public)));
    println!("info                {}", hex::encode(info(&v)));
    println!("plaintext           {}", hex::encode(open_by_spec(&v)));
    println!("envelope ({} bytes) {}", v.envelope.len(), hex::encode(&v.envelope));
    println!("envelope hash       {}", hex::encode(v.envelope_hash));
    println!("receipt ({} bytes)  {}", v.receipt.len(), hex::encode(&v.receipt));
}
