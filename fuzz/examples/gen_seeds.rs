//! Writes a seed corpus for every target into `fuzz/seeds/<target>/`: valid
//! inputs built from the hotline-core test fixtures and the shared envelope
//! fixture. Run from `fuzz/` with `cargo run --example gen_seeds`.

use hotline_core::testkit::{IntoObject, World};
use hotline_core::{DirectoryObject, NetworkId, ObjectHash, SecretKey};
use hotline_evidence::tree::MemoryLog;
use hotline_evidence::{Checkpoint, SignedCheckpoint};
use hotline_crypto::{PrekeyPolicy, PrekeyRing, SeedRng};
use hotline_fuzz::{T0, envelope_fixture};
use hotline_net::deliver::{MAX_DELIVER_FRAME_BYTES, MAX_DELIVER_RESPONSE_FRAME_BYTES, NOT_A_MEMBER};
use hotline_net::frame::frame_bounded;
use hotline_net::sync::{DigestSummary, SyncRequest, SyncResponse, frame};
use hotline_net::{CosignRequest, DeliverRequest, DeliverResponse, EquivocationReport};
use std::fs;
use std::path::Path;
use zeroize::Zeroizing;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds").join(target);
    fs::create_dir_all(&dir).expect("create seed dir");
    fs::write(dir.join(name), bytes).expect("write seed");
}

fn main() {
    let world = World::new("Fuzz network");
    write("signed_charter", "charter", &world.charter.to_bytes());

    let objects: Vec<(&str, DirectoryObject)> = vec![
        ("admission", world.admission("FRA", 1).obj()),
        ("record", world.record("FRA", "policy", 1, 1).obj()),
        ("prekeys", world.prekeys("FRA", 1, 1).obj()),
        ("revoke_admission", world.revoke_admission("DEU", 1).obj()),
        ("revoke_record", world.revoke_record("FRA", "technical", 1, 2).obj()),
        ("revoke_node", world.revoke_node("FRA", 1, 2).obj()),
    ];
    for (name, object) in &objects {
        write("directory_object", name, &object.to_bytes());
    }

    let fixture = envelope_fixture();
    write("envelope", "valid", &fixture.envelope);
    write("delivery_receipt", "valid", &fixture.receipt);

    let mut ring = PrekeyRing::new();
    let mut rng = SeedRng::from_seed(Zeroizing::new([5; 32]));
    ring.rotate(T0, &mut rng, PrekeyPolicy::default());
    ring.rotate(T0.plus(8 * 86_400), &mut rng, PrekeyPolicy::default());
    write("prekey_ring_secret", "two_keys", &ring.to_bytes_secret());
    write("prekey_ring_secret", "empty", &PrekeyRing::new().to_bytes_secret());

    // A checkpoint of a log of three leaves, signed by a node other than
    // the one the target verifies for (so the seed itself is refused).
    let mut log = MemoryLog::default();
    for i in 0..3u8 {
        log.append(hotline_evidence::tree::record_hash(&[i])).expect("append");
    }
    let signer = SecretKey::from_seed(&[2; 32]);
    let checkpoint = Checkpoint {
        node: signer.node_id(),
        epoch: 0,
        size: 3,
        root: hotline_evidence::tree::root(3, &log).expect("root"),
        time: Some(T0),
    };
    let note = SignedCheckpoint::sign(&checkpoint, &signer, &NetworkId([7; 32])).expect("sign");
    let cosigned = note.cosign(&signer.node_id(), &SecretKey::from_seed(&[3; 32]), &NetworkId([7; 32]), T0).expect("cosign");
    write("evidence_checkpoint", "signed", note.as_bytes());
    write("evidence_checkpoint", "cosigned", cosigned.as_bytes());

    // A roster of three states, signed in another network than the
    // target verifies for (so the seed itself is refused).
    let roster = hotline_core::roster::Roster::open(
        hotline_core::CaseId([1; 16]),
        "FRA".parse().expect("state"),
        vec![hotline_core::Role::technical()],
        vec![("DEU".parse().expect("state"), vec![hotline_core::Role::policy()])],
        "Seed consultation".into(),
        hotline_core::Tlp::Amber,
        true,
        T0,
    )
    .expect("roster");
    let signed = hotline_core::roster::SignedRoster::sign(roster, &SecretKey::from_seed(&[2; 32]), &NetworkId([7; 32]));
    write("roster", "opened", &signed.to_bytes());

    let entries: Vec<_> = objects.iter().map(|(_, o)| (o.key(), o.seq(), o.hash(&world.net))).collect();
    let keys: Vec<_> = objects.iter().map(|(_, o)| o.key()).collect();
    let blobs: Vec<Vec<u8>> = objects.iter().map(|(_, o)| o.to_bytes()).collect();
    let requests = [
        ("req_digest", SyncRequest::Digest(entries.clone())),
        ("req_fetch", SyncRequest::Fetch(keys)),
        ("req_push", SyncRequest::Push(blobs.clone())),
        ("req_summary", SyncRequest::Summary(DigestSummary { entries: 654, hash: ObjectHash([9; 32]) })),
        (
            "req_cosign",
            SyncRequest::Cosign(CosignRequest {
                checkpoint: note.as_bytes().to_vec(),
                from_size: 3,
                prefix: note.as_bytes().to_vec(),
                proof: vec![[4; 32], [5; 32]],
            }),
        ),
        (
            "req_equivocation",
            SyncRequest::Equivocation(EquivocationReport {
                node: [2; 32],
                first: note.as_bytes().to_vec(),
                second: note.as_bytes().to_vec(),
            }),
        ),
    ];
    for (name, request) in requests {
        write("sync_frame", name, &frame(&request.to_body().expect("seed body")).expect("seed frame"));
    }
    let responses = [
        ("resp_digest", SyncResponse::Digest(vec![(objects[0].1.key(), 1, ObjectHash([7; 32]))])),
        ("resp_objects", SyncResponse::Objects(blobs)),
        ("resp_ack", SyncResponse::Ack),
        ("resp_refused", SyncResponse::Refused),
        ("resp_summary", SyncResponse::Summary(DigestSummary { entries: 1, hash: ObjectHash([5; 32]) })),
        ("resp_cosigned", SyncResponse::Cosigned(cosigned.as_bytes().to_vec())),
        ("resp_need_proof", SyncResponse::NeedProof(2)),
    ];
    for (name, response) in responses {
        write("sync_frame", name, &frame(&response.to_body().expect("seed body")).expect("seed frame"));
    }

    let request = DeliverRequest { envelope: fixture.envelope.clone() };
    let body = request.to_body().expect("seed body");
    write("deliver_frame", "req_envelope", &frame_bounded(&body, MAX_DELIVER_FRAME_BYTES).expect("seed frame"));
    let responses = [
        ("resp_receipt", DeliverResponse::Receipt(fixture.receipt.clone())),
        ("resp_refused", DeliverResponse::refused(NOT_A_MEMBER, "the sending node is not a member")),
        ("resp_refused_empty", DeliverResponse::refused("decrypt_failed", "")),
    ];
    for (name, response) in responses {
        let body = response.to_body().expect("seed body");
        write("deliver_frame", name, &frame_bounded(&body, MAX_DELIVER_RESPONSE_FRAME_BYTES).expect("seed frame"));
    }
    println!("seeds written under {}/seeds", env!("CARGO_MANIFEST_DIR"));
}
