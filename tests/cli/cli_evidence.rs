//! The evidence log through the binary and real daemons: every exchange is
//! in both sides' logs, and each side signs a checkpoint that verifies
//! offline from the network id alone.

use crate::common::daemons::{Daemon, fra_and_deu, json, poll};
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
    assert_eq!(hex_of(&checkpoint.root.0), view["checkpoint"]["root"].as_str().unwrap());
    // Another network's id, or another node: refused.
    assert!(SignedCheckpoint::from_bytes(note.as_bytes()).unwrap().verify(&NetworkId([0; 32]), &node).is_err());
    view
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn both_sides_log_every_exchange_and_sign_checkpoints_that_verify_offline() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (fra, deu) = fra_and_deu(d, "Evidence net");
    let both = [&fra, &deu];
    for i in 0..3 {
        let subject = format!("Notice {i}");
        ok(d, &["--data-dir", "fra", "send", "--to", "DEU", "--type", "notification", "--subject", &subject]);
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
