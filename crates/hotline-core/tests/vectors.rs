//! Test vectors of `docs/protocol.md`.
//!
//! Every object here is built field by field from fixed seeds and fixed
//! timestamps (no fixtures), and every expected value is hard-coded, so this
//! test fails if the canonical encoding, the signing input, the network id or
//! the object hash ever changes. Ed25519 signatures are deterministic
//! (RFC 8032), so they are fixed too. The same hex appears in
//! `docs/protocol.md`; change both together, and only with a new format or
//! protocol version.

use hotline_core::charter::RecordPolicy;
use hotline_core::encoding;
use hotline_core::keys::{Context, sha256, signing_input};
use hotline_core::{
    Admission, Availability, Charter, ContactRecord, Directory, DirectoryObject, NetworkId, NodeId, ObjectKey, Outcome,
    PublicKey, Revocation, RevocationTarget, Role, SecretKey, Signature, SignedAdmission, SignedCharter, SignedRecord,
    SignedRevocation, StateCode, Timestamp, Tlp,
};

/// Everything the vectors are made of.
struct Vectors {
    stewards: Vec<SecretKey>,
    state_key: SecretKey,
    node_key: SecretKey,
    node: NodeId,
    charter: SignedCharter,
    net: NetworkId,
    admission: SignedAdmission,
    record: SignedRecord,
    revocation: SignedRevocation,
}

fn fra() -> StateCode {
    "FRA".parse().expect("FRA is an ISO 3166-1 alpha-3 code")
}

fn build() -> Vectors {
    let stewards: Vec<SecretKey> = (1..=3u8).map(|i| SecretKey::from_seed(&[i; 32])).collect();
    let state_key = SecretKey::from_seed(&[4u8; 32]);
    let node_key = SecretKey::from_seed(&[5u8; 32]);
    let node = node_key.node_id();

    let mut charter = SignedCharter::unsigned(Charter {
        protocol_version: 1,
        name: "Hotline test vectors".into(),
        created_at: Timestamp(1_790_000_000),
        stewards: stewards.iter().map(|k| k.public()).collect(),
        threshold: 2,
        roles: vec![Role::policy(), Role::technical()],
        bootstrap: vec!["/ip4/192.0.2.10/tcp/4100".into()],
        policy: RecordPolicy {
            max_record_validity_secs: 365 * 86_400,
            expiring_warning_secs: 30 * 86_400,
            max_clock_skew_secs: 300,
        },
    });
    charter.sign(&stewards[0]).expect("steward 0");
    charter.sign(&stewards[2]).expect("steward 2");
    let net = charter.network_id();

    let mut admission = SignedAdmission::unsigned(Admission {
        state: fra(),
        state_key: state_key.public(),
        seq: 1,
        issued_at: Timestamp(1_790_000_100),
        expires: None,
    });
    admission.sign(&charter.charter, &stewards[0]).expect("steward 0");
    admission.sign(&charter.charter, &stewards[1]).expect("steward 1");

    let record = SignedRecord::sign(
        ContactRecord {
            state: fra(),
            role: Role::technical(),
            admission_seq: 1,
            seq: 1,
            issued_at: Timestamp(1_790_000_200),
            expires: Timestamp(1_790_000_200 + 365 * 86_400),
            organization: "CERT-FR".into(),
            position: "Duty officer".into(),
            emails: vec!["cert@example.fr".into()],
            phones: vec!["+33 1 23 45 67 89".into()],
            phone_24x7: Some("+33 6 12 34 56 78".into()),
            timezone: "Europe/Paris".into(),
            availability: Availability::TwentyFourSeven,
            languages: vec!["fr".into(), "en".into()],
            nodes: vec![node],
            person_name: None,
            other_channels: vec![],
            postal_address: None,
            openpgp_fingerprint: None,
            linked_cert: None,
            memberships: vec!["OSCE".into()],
            alternates: vec![],
            nomination_ref: None,
            accepted_message_types: vec![],
            default_tlp: Some(Tlp::Amber),
        },
        &state_key,
        &net,
    );

    let revocation = SignedRevocation::sign_by_state(
        Revocation {
            target: RevocationTarget::Node { state: fra(), admission_seq: 1, node },
            issued_at: Timestamp(1_790_000_300),
            reason: "key lost".into(),
        },
        &state_key,
        &net,
    );

    Vectors { stewards, state_key, node_key, node, charter, net, admission, record, revocation }
}

/// The expected hex, wrapped at 32 bytes a line as in `docs/protocol.md`.
fn hex_of(lines: &[&str]) -> String {
    lines.concat()
}

fn assert_hex(what: &str, got: &[u8], expected: &[&str]) {
    assert_eq!(hex::encode(got), hex_of(expected), "{what} changed: update docs/protocol.md only with a new version");
}

/// Signing input built by hand from the specification:
/// `len(ctx) ‖ ctx ‖ network_id ‖ body`.
fn spec_signing_input(context: &str, net: &NetworkId, body: &[u8]) -> Vec<u8> {
    let mut out = vec![context.len() as u8];
    out.extend_from_slice(context.as_bytes());
    out.extend_from_slice(&net.0);
    out.extend_from_slice(body);
    out
}

fn verifies(key: &PublicKey, context: Context, net: &NetworkId, body: &[u8], signature: &Signature) -> bool {
    key.verify(context, net, body, signature).is_ok()
}

// ----- Expected values -----

const STEWARD_0_PUBLIC: &[&str] = &["8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"];
const STEWARD_1_PUBLIC: &[&str] = &["8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394"];
const STEWARD_2_PUBLIC: &[&str] = &["ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1"];
const STATE_PUBLIC: &[&str] = &["ca93ac1705187071d67b83c7ff0efe8108e8ec4530575d7726879333dbdabe7c"];
const NODE_PUBLIC: &[&str] = &["6e7a1cdd29b0b78fd13af4c5598feff4ef2a97166e3ca6f2e4fbfccd80505bf1"];
const CHARTER_BODY: &[&str] = &[
    "0114486f746c696e65207465737420766563746f727380f7c4d506038a88e3dd",
    "7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c8139770e",
    "a87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394ed4928c6",
    "28d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d102020670",
    "6f6c69637909746563686e6963616c01182f6970342f3139322e302e322e3130",
    "2f7463702f3431303080e7840f809a9e01ac02",
];
const NETWORK_ID: &[&str] = &["a6e1ca5a678491e412b2ef76dc81811e15aac6b38c2de4b95c8d7b455f00e1e5"];
const CHARTER_SIG_STEWARD_0: &[&str] = &[
    "33221595a309aaa7226da4a3d78716a5bacdecfdcb4d68b40484452e77bf6ebf",
    "445a0af0d25fd1b44f9c5dcc61a8baf46005e7e165171b56c5d6ab1ec7303708",
];
const CHARTER_SIG_STEWARD_2: &[&str] = &[
    "0788f61876f8bed7205df24ea265029c310365f6d6a7ec72d3cb8bb6ef604772",
    "46cba01323b3a321b0043193c9ec9285c7b53295ff032527553dd5cb6abc1e04",
];
const CHARTER_FILE: &[&str] = &[
    "010114486f746c696e65207465737420766563746f727380f7c4d506038a88e3",
    "dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c813977",
    "0ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394ed4928",
    "c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1020206",
    "706f6c69637909746563686e6963616c01182f6970342f3139322e302e322e31",
    "302f7463702f3431303080e7840f809a9e01ac02020033221595a309aaa7226d",
    "a4a3d78716a5bacdecfdcb4d68b40484452e77bf6ebf445a0af0d25fd1b44f9c",
    "5dcc61a8baf46005e7e165171b56c5d6ab1ec7303708020788f61876f8bed720",
    "5df24ea265029c310365f6d6a7ec72d3cb8bb6ef60477246cba01323b3a321b0",
    "043193c9ec9285c7b53295ff032527553dd5cb6abc1e04",
];
const ADMISSION_BODY: &[&str] =
    &["03465241ca93ac1705187071d67b83c7ff0efe8108e8ec4530575d7726879333", "dbdabe7c01e4f7c4d50600"];
const ADMISSION_HASH: &[&str] = &["38a2f6d44290305f808ed8053f2273207fa18c7cde2889deeb5a03c92bf84e41"];
const ADMISSION_SIG_STEWARD_0: &[&str] = &[
    "9834a1e7267f854491d1bcc442f9a72d5b94e45667ae044916a82e45c7a3c888",
    "0c253a3ff6a301cb5aae4aa161b59c8b0c8b40132fe4be1fcc3571f62b24a002",
];
const ADMISSION_SIG_STEWARD_1: &[&str] = &[
    "ef81e090f8fbc10f9636a86e196b41d9267931d337de325c22ae3f4b1ab1b79d",
    "37a6e461b61d5fcfb8f62519cd65267ba3a06a035e1aef2b8d0884aee888d700",
];
const ADMISSION_WIRE: &[&str] = &[
    "010003465241ca93ac1705187071d67b83c7ff0efe8108e8ec4530575d772687",
    "9333dbdabe7c01e4f7c4d5060002009834a1e7267f854491d1bcc442f9a72d5b",
    "94e45667ae044916a82e45c7a3c8880c253a3ff6a301cb5aae4aa161b59c8b0c",
    "8b40132fe4be1fcc3571f62b24a00201ef81e090f8fbc10f9636a86e196b41d9",
    "267931d337de325c22ae3f4b1ab1b79d37a6e461b61d5fcfb8f62519cd65267b",
    "a3a06a035e1aef2b8d0884aee888d700",
];
const RECORD_BODY: &[&str] = &[
    "0346524109746563686e6963616c0101c8f8c4d506c8dfc9e40607434552542d",
    "46520c44757479206f666669636572010f63657274406578616d706c652e6672",
    "01112b3333203120323320343520363720383901112b33332036203132203334",
    "2035362037380c4575726f70652f5061726973000202667202656e016e7a1cdd",
    "29b0b78fd13af4c5598feff4ef2a97166e3ca6f2e4fbfccd80505bf100000000",
    "0001044f5343450000000102",
];
const RECORD_HASH: &[&str] = &["f4d12a8e27b22b6821b36535e693d4a01dd4ae8f857ab87486c1ce2b3be83e17"];
const RECORD_SIG: &[&str] = &[
    "cd51eb39609bd761162486a1fa16a630a443bbec0e7480afb3a7d3fea7bc68cc",
    "bb4d8a7ae4b300592b7eec65963c74d82f21270e3c69c1c9bafc95c46b71b804",
];
const RECORD_WIRE: &[&str] = &[
    "01010346524109746563686e6963616c0101c8f8c4d506c8dfc9e40607434552",
    "542d46520c44757479206f666669636572010f63657274406578616d706c652e",
    "667201112b3333203120323320343520363720383901112b3333203620313220",
    "33342035362037380c4575726f70652f5061726973000202667202656e016e7a",
    "1cdd29b0b78fd13af4c5598feff4ef2a97166e3ca6f2e4fbfccd80505bf10000",
    "00000001044f5343450000000102cd51eb39609bd761162486a1fa16a630a443",
    "bbec0e7480afb3a7d3fea7bc68ccbb4d8a7ae4b300592b7eec65963c74d82f21",
    "270e3c69c1c9bafc95c46b71b804",
];
const RECORD_KEY: &[&str] = &["010346524109746563686e6963616c"];
const REVOCATION_BODY: &[&str] =
    &["0203465241016e7a1cdd29b0b78fd13af4c5598feff4ef2a97166e3ca6f2e4fb", "fccd80505bf1acf9c4d506086b6579206c6f7374"];
const REVOCATION_HASH: &[&str] = &["7d0a36624cee1a28b7c7092f69e3924fdc3c887ce434576a3faf86f8d95707a4"];
const REVOCATION_WIRE: &[&str] = &[
    "01030203465241016e7a1cdd29b0b78fd13af4c5598feff4ef2a97166e3ca6f2",
    "e4fbfccd80505bf1acf9c4d506086b6579206c6f737401754b4423f68391eec9",
    "a0c031341eaa3fc1144909186b753bd50c853cfba5af397236c0e2ef8dc94b56",
    "77d9077baa6292a6c3ef029ec87fb89babf8ba961eec0d",
];
const REVOCATION_KEY: &[&str] = &["05034652416e7a1cdd29b0b78fd13af4c5598feff4ef2a97166e3ca6f2e4fbfc", "cd80505bf1"];
const RECORD_SIGNING_PREFIX: &[&str] =
    &["11686f746c696e652f76312f7265636f7264a6e1ca5a678491e412b2ef76dc81", "811e15aac6b38c2de4b95c8d7b455f00e1e5"];
const NODE_PEER_ID: &str = "12D3KooWHFd1gyNYFqxt7ke9FY2VoVVWY2XSPhvL9vg2pB6wQGfa";

// ----- Tests -----

#[test]
fn keys_from_fixed_seeds() {
    let v = build();
    assert_hex("steward 0 key", &v.stewards[0].public().0, STEWARD_0_PUBLIC);
    assert_hex("steward 1 key", &v.stewards[1].public().0, STEWARD_1_PUBLIC);
    assert_hex("steward 2 key", &v.stewards[2].public().0, STEWARD_2_PUBLIC);
    assert_hex("state key", &v.state_key.public().0, STATE_PUBLIC);
    assert_hex("node key", &v.node_key.public().0, NODE_PUBLIC);
    assert_eq!(v.node.to_peer_id(), NODE_PEER_ID);
    assert_eq!(NodeId::from_peer_id(NODE_PEER_ID), Ok(v.node));
}

#[test]
fn context_strings() {
    let expected = [
        (Context::CHARTER, "hotline/v1/charter"),
        (Context::ADMISSION, "hotline/v1/admission"),
        (Context::RECORD, "hotline/v1/record"),
        (Context::PREKEYS, "hotline/v1/prekeys"),
        (Context::REVOCATION, "hotline/v1/revocation"),
        (Context::ENVELOPE, "hotline/v1/envelope"),
        (Context::RECEIPT, "hotline/v1/receipt"),
        (Context::RECEIPT_V2, "hotline/v2/receipt"),
        (Context::HELLO, "hotline/v1/hello"),
        (Context::COMCHECK_REPORT, "hotline/v1/comcheck-report"),
    ];
    let net = build().net;
    for (context, text) in expected {
        assert_eq!(context.as_str(), text);
        assert_eq!(signing_input(context, &net, b"body"), spec_signing_input(text, &net, b"body"));
    }
    assert_hex("record signing prefix", &signing_input(Context::RECORD, &net, &[]), RECORD_SIGNING_PREFIX);
}

#[test]
fn charter_and_network_id() {
    let v = build();
    let body = encoding::encode(&v.charter.charter);
    assert_hex("charter body", &body, CHARTER_BODY);
    assert_hex("network id", &v.net.0, NETWORK_ID);
    // The network id, from the specification: SHA-256("hotline/v1/network-id" ‖ 0x00 ‖ body).
    let mut input = b"hotline/v1/network-id\0".to_vec();
    input.extend_from_slice(&body);
    assert_eq!(sha256(&input), v.net.0);

    let sigs: Vec<u8> = v.charter.signatures.iter().map(|s| s.steward).collect();
    assert_eq!(sigs, [0, 2]);
    assert_hex("charter signature of steward 0", &v.charter.signatures[0].signature.0, CHARTER_SIG_STEWARD_0);
    assert_hex("charter signature of steward 2", &v.charter.signatures[1].signature.0, CHARTER_SIG_STEWARD_2);
    for s in &v.charter.signatures {
        let key = v.charter.charter.stewards[s.steward as usize];
        assert!(verifies(&key, Context::CHARTER, &v.net, &body, &s.signature));
    }

    let file = v.charter.to_bytes();
    assert_hex("charter file", &file, CHARTER_FILE);
    let back = SignedCharter::from_bytes(&file).expect("the charter vector decodes");
    assert_eq!(back, v.charter);
    assert_eq!(back.verify(), Ok(v.net));
}

#[test]
fn admission() {
    let v = build();
    let object = DirectoryObject::Admission(v.admission.clone());
    let body = object.body_bytes();
    assert_hex("admission body", &body, ADMISSION_BODY);
    assert_eq!(object.hash(&v.net).0, sha256(&spec_signing_input("hotline/v1/admission", &v.net, &body)));
    assert_hex("admission hash", &object.hash(&v.net).0, ADMISSION_HASH);
    let sigs: Vec<u8> = v.admission.signatures.iter().map(|s| s.steward).collect();
    assert_eq!(sigs, [0, 1]);
    assert_hex("admission signature of steward 0", &v.admission.signatures[0].signature.0, ADMISSION_SIG_STEWARD_0);
    assert_hex("admission signature of steward 1", &v.admission.signatures[1].signature.0, ADMISSION_SIG_STEWARD_1);
    for s in &v.admission.signatures {
        let key = v.charter.charter.stewards[s.steward as usize];
        assert!(verifies(&key, Context::ADMISSION, &v.net, &body, &s.signature));
    }
    let wire = object.to_bytes();
    assert_hex("admission wire form", &wire, ADMISSION_WIRE);
    assert_eq!(DirectoryObject::from_bytes(&wire), Ok(object.clone()));
    assert_eq!(object.key(), ObjectKey::Admission(fra()));
}

#[test]
fn record() {
    let v = build();
    let object = DirectoryObject::Record(Box::new(v.record.clone()));
    let body = object.body_bytes();
    assert_hex("record body", &body, RECORD_BODY);
    assert_eq!(object.hash(&v.net).0, sha256(&spec_signing_input("hotline/v1/record", &v.net, &body)));
    assert_hex("record hash", &object.hash(&v.net).0, RECORD_HASH);
    assert_hex("record signature", &v.record.signature.0, RECORD_SIG);
    assert!(verifies(&v.state_key.public(), Context::RECORD, &v.net, &body, &v.record.signature));
    let wire = object.to_bytes();
    assert_hex("record wire form", &wire, RECORD_WIRE);
    assert_eq!(DirectoryObject::from_bytes(&wire), Ok(object.clone()));
    assert_hex("record object key", &object.key().to_bytes(), RECORD_KEY);
    assert_eq!(ObjectKey::from_bytes(&hex::decode(hex_of(RECORD_KEY)).expect("hex")), Ok(object.key()));
    assert_eq!(object.key().to_string(), "rec/FRA/technical");
}

#[test]
fn revocation() {
    let v = build();
    let object = DirectoryObject::Revocation(v.revocation.clone());
    let body = object.body_bytes();
    assert_hex("revocation body", &body, REVOCATION_BODY);
    assert_eq!(object.hash(&v.net).0, sha256(&spec_signing_input("hotline/v1/revocation", &v.net, &body)));
    assert_hex("revocation hash", &object.hash(&v.net).0, REVOCATION_HASH);
    let wire = object.to_bytes();
    assert_hex("revocation wire form", &wire, REVOCATION_WIRE);
    // The wire form ends with the state key's signature.
    let signature = Signature(wire[wire.len() - 64..].try_into().expect("64 bytes"));
    assert!(verifies(&v.state_key.public(), Context::REVOCATION, &v.net, &body, &signature));
    assert_eq!(DirectoryObject::from_bytes(&wire), Ok(object.clone()));
    assert_hex("revocation object key", &object.key().to_bytes(), REVOCATION_KEY);
}

#[test]
fn the_directory_accepts_the_vectors_in_order() {
    let v = build();
    let now = Timestamp(1_790_000_400);
    let mut dir = Directory::new(v.charter.clone()).expect("the charter vector verifies");
    fn apply(dir: &mut Directory, object: DirectoryObject, now: Timestamp) {
        match dir.apply(object, now) {
            Ok(Outcome::Applied(_)) => {}
            other => panic!("vector refused: {other:?}"),
        }
    }
    apply(&mut dir, DirectoryObject::Admission(v.admission.clone()), now);
    apply(&mut dir, DirectoryObject::Record(Box::new(v.record.clone())), now);
    assert!(dir.is_member(&v.node, now));
    apply(&mut dir, DirectoryObject::Revocation(v.revocation.clone()), now);
    assert!(!dir.is_member(&v.node, now));
}

#[test]
fn decoding_the_vectors_is_strict() {
    let wire = hex::decode(hex_of(RECORD_WIRE)).expect("hex");
    // A trailing byte.
    let mut longer = wire.clone();
    longer.push(0);
    assert!(matches!(DirectoryObject::from_bytes(&longer), Err(encoding::DecodeError::Malformed { .. })));
    // Another format version.
    let mut other_version = wire.clone();
    other_version[0] = 2;
    assert!(matches!(
        DirectoryObject::from_bytes(&other_version),
        Err(encoding::DecodeError::UnsupportedVersion { found: 2, expected: 1, .. })
    ));
    // The variant index 1 (record) spelled as the overlong varint 0x81 0x00.
    let mut overlong = vec![wire[0], 0x81, 0x00];
    overlong.extend_from_slice(&wire[2..]);
    assert!(matches!(DirectoryObject::from_bytes(&overlong), Err(encoding::DecodeError::NotCanonical { .. })));
    // Truncated.
    assert!(DirectoryObject::from_bytes(&wire[..wire.len() - 1]).is_err());
}
