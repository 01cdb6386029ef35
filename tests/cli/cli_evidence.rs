//! The evidence log through the binary and real daemons: every exchange is
//! in both sides' logs, and each side signs a checkpoint that verifies
//! offline from the network id alone.

use crate::common::daemons::{Daemon, add_state, fra_and_deu, json, listen_addr, poll, send_and_wait};
use crate::common::ok;
use hotline_core::{NetworkId, NodeId};
use hotline_evidence::SignedCheckpoint;
use serde_json::Value;
use std::path::Path;

fn evidence(d: &Path, data: &str) -> Value {
    json(d, &["--data-dir", data, "evidence", "status", "--json"])
}

/// Waits until the node in `data` has signed a checkpoint of at least
/// `size` events, and checks it offline: its note verifies for that node
/// in that network, and says what the status says.
fn checkpointed(d: &Path, data: &str, size: u64, daemons: &[&Daemon]) -> Value {
    let view = poll(&format!("{data} to sign a checkpoint of {size} events"), daemons, || {
        let view = evidence(d, data);
        (view["checkpoint"]["size"].as_u64()? >= size).then_some(view)
    });
    let status = json(d, &["--data-dir", data, "status", "--json"]);
    let network: NetworkId = status["network_id"].as_str().unwrap().parse().unwrap();
    let node = NodeId::from_peer_id(view["node"].as_str().unwrap()).unwrap();
    let note = view["checkpoint"]["note"].as_str().unwrap();
    let (checkpoint, _) = SignedCheckpoint::from_bytes(note.as_bytes()).unwrap().verify(&network, &node).unwrap();
    assert_eq!(checkpoint.size, view["checkpoint"]["size"].as_u64().unwrap());
    assert_eq!(hotline_core::ids::to_hex(&checkpoint.root.0), view["checkpoint"]["root"].as_str().unwrap());
    // Another network's id, or another node: refused.
    assert!(SignedCheckpoint::from_bytes(note.as_bytes()).unwrap().verify(&NetworkId([0; 32]), &node).is_err());
    view
}

#[test]
fn both_sides_log_every_exchange_and_sign_checkpoints_that_verify_offline() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (fra, deu) = fra_and_deu(d, "Evidence net");
    let both = [&fra, &deu];
    // Each receipt names the leaf of DEU's log that records its message:
    // DEU logs nothing else here, so 0, 1, 2.
    for i in 0..3u64 {
        let sent = send_and_wait(d, "fra", "DEU", &format!("Notice {i}"), "Body.");
        let delivery = &sent["deliveries"][0];
        assert_eq!(delivery["log_position"], i, "{sent}");
        let bytes = hex::decode(delivery["receipt"].as_str().unwrap()).unwrap();
        let receipt = hotline_crypto::DeliveryReceipt::from_bytes(&bytes).unwrap();
        assert_eq!(receipt.log_position(), Some(i));
    }
    // FRA: three messages sent and three receipts held; DEU: three received.
    let fra_view = checkpointed(d, "fra", 6, &both);
    let deu_view = checkpointed(d, "deu", 3, &both);
    assert_eq!(fra_view["size"], 6, "{fra_view}");
    assert_eq!(deu_view["size"], 3, "{deu_view}");
    assert_eq!(fra_view["epoch"], 0);
    let text = ok(d, &["--data-dir", "deu", "evidence", "status"]);
    assert!(text.contains("(epoch 0): 3 events"), "{text}");
    assert!(text.contains("hotline.evidence/v1/"), "{text}");
    fra.stop();
    deu.stop();
}

/// The cosignatures on the latest checkpoint of the node in `data`.
fn cosigned_by(d: &Path, data: &str) -> usize {
    evidence(d, data)["checkpoint"]["cosigned_by"].as_array().map_or(0, Vec::len)
}

/// Three states: DEU's log is witnessed by FRA's and EST's nodes. Its store
/// is then put back to an older copy behind its back; the next checkpoint
/// it signs contradicts what they cosigned, and every member holds the
/// proof, which verifies offline.
#[test]
fn witnesses_cosign_and_catch_a_log_put_back_behind_the_nodes_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (fra, deu) = fra_and_deu(d, "Witness net");
    let fra_addr = listen_addr(d, "fra", &fra);
    add_state(d, "est", "EST", "CERT-EE", "Europe/Tallinn", &[fra_addr]);
    let est = Daemon::start(d, "est");
    let all = [&fra, &deu, &est];
    for data in ["fra", "deu", "est"] {
        poll(&format!("{data} to hold the whole directory"), &all, || {
            (json(d, &["--data-dir", data, "status", "--json"])["live_objects"] == 9).then_some(())
        });
    }
    let send = |from: usize, count: usize| {
        for i in from..from + count {
            let subject = format!("Notice {i}");
            ok(d, &["--data-dir", "fra", "send", "--to", "DEU", "--type", "notification", "--subject", &subject]);
        }
    };
    send(0, 3);
    poll("DEU's checkpoint to be cosigned by FRA and EST", &all, || (cosigned_by(d, "deu") == 2).then_some(()));
    // The database copied aside while the daemon is stopped.
    deu.stop();
    let db = d.join("deu").join(hotline_store::DB_FILE);
    std::fs::copy(&db, d.join("aside.redb")).unwrap();
    let deu = Daemon::start(d, "deu");
    let all = [&fra, &deu, &est];
    send(3, 3);
    poll("DEU's larger checkpoint to be cosigned", &all, || {
        let view = evidence(d, "deu");
        (view["checkpoint"]["size"].as_u64()? >= 6 && cosigned_by(d, "deu") == 2).then_some(())
    });
    // Put back without a word, and started: its log is behind what FRA and
    // EST cosigned, and the next checkpoint says so.
    deu.stop();
    std::fs::copy(d.join("aside.redb"), &db).unwrap();
    let deu = Daemon::start(d, "deu");
    let all = [&fra, &deu, &est];
    send(6, 1);
    let deu_node = json(d, &["--data-dir", "deu", "status", "--json"])["peer_id"].as_str().unwrap().to_string();
    let network: NetworkId =
        json(d, &["--data-dir", "fra", "status", "--json"])["network_id"].as_str().unwrap().parse().unwrap();
    for data in ["fra", "est"] {
        let flagged = poll(&format!("{data} to hold DEU's equivocation"), &all, || {
            let view = evidence(d, data);
            view["equivocations"].as_array()?.iter().find(|e| e["node"] == deu_node.as_str()).cloned()
        });
        let proof = hotline_evidence::EquivocationProof {
            first: SignedCheckpoint::from_bytes(flagged["first"].as_str().unwrap().as_bytes()).unwrap(),
            second: SignedCheckpoint::from_bytes(flagged["second"].as_str().unwrap().as_bytes()).unwrap(),
        };
        let kind = proof.verify(&network, &NodeId::from_peer_id(&deu_node).unwrap()).unwrap();
        assert_eq!(kind.code(), flagged["kind"].as_str().unwrap());
    }
    fra.stop();
    deu.stop();
    est.stop();
}
