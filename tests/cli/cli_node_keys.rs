//! A node takes a new node key: on a new server (`hotline node replace`)
//! or in place (`hotline node rotate-key`), on a running network, through
//! the binary and real daemons. Nothing sent meanwhile is lost or held
//! twice.

use crate::common::daemons::{
    Daemon, all_receipted, fra_and_deu, inbox_counts as inbox, json, poll, send_numbered as send,
};
use crate::common::{fails, hotline};
use std::path::Path;

/// Waits until every message FRA sent has a receipt, then checks that the
/// node in `data` holds each of the `total` exactly once.
fn holds_each_once(d: &Path, data: &str, total: usize, daemons: &[&Daemon]) {
    all_receipted(d, daemons);
    let seen = poll("DEU to hold every message", daemons, || {
        let seen = inbox(d, data);
        (seen.len() == total).then_some(seen)
    });
    for i in 0..total {
        assert_eq!(seen.get(&format!("Message {i}")), Some(&1), "message {i} is not held exactly once");
    }
}

/// The nodes FRA's directory counts as reaching DEU/technical.
fn deu_nodes_seen_by_fra(d: &Path) -> Option<Vec<String>> {
    let record = json(d, &["--data-dir", "fra", "directory", "show", "DEU/technical", "--json"]);
    let nodes = record["reachability"][0]["nodes"].as_array()?.clone();
    Some(nodes.iter().filter_map(|n| n["node"].as_str().map(String::from)).collect())
}

#[test]
fn a_node_moved_to_a_new_server_and_rekeyed_in_place_loses_nothing_sent_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let (fra, deu) = fra_and_deu(&d, "Replace net");
    let old_peer = json(&d, &["--data-dir", "deu", "status", "--json"])["peer_id"].as_str().unwrap().to_string();
    send(&d, 0, 20);
    all_receipted(&d, &[&fra, &deu]);

    // FRA keeps sending through the whole move.
    let streaming = {
        let d = d.clone();
        std::thread::spawn(move || {
            for chunk in 0..6 {
                send(&d, 20 + chunk * 10, 10);
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(500));
    // Mistakes are refused: the node is running; the target exists; the
    // source holds no node.
    let err = fails(&d, &["--data-dir", "deu2", "node", "replace", "--from", "deu"]);
    assert!(err.contains("is running: stop it first"), "{err}");
    deu.stop();
    let err = fails(&d, &["--data-dir", "fra", "node", "replace", "--from", "deu"]);
    assert!(err.contains("exists: node replace makes the new node's data directory"), "{err}");
    let err = fails(&d, &["--data-dir", "deu2", "node", "replace", "--from", "nowhere"]);
    assert!(err.contains("holds no node"), "{err}");

    let moved = json(&d, &["--data-dir", "deu2", "node", "replace", "--from", "deu", "--json"]);
    let new_peer = moved["new_peer_id"].as_str().unwrap().to_string();
    assert_eq!(moved["old_peer_id"], old_peer.as_str(), "{moved}");
    assert_ne!(new_peer, old_peer);
    assert_eq!(moved["revoked_now"], true, "{moved}");
    assert_eq!(moved["records_signed"], serde_json::json!(["technical"]), "{moved}");
    // The old directory can never speak as the revoked node again.
    let out = hotline(&d, &["--data-dir", "deu", "daemon"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("this node moved to another data directory"), "{stderr}");

    let deu2 = Daemon::start(&d, "deu2");
    streaming.join().unwrap();
    send(&d, 80, 20);
    holds_each_once(&d, "deu2", 100, &[&fra, &deu2]);
    poll("FRA to list only the new node for DEU", &[&fra, &deu2], || {
        (deu_nodes_seen_by_fra(&d)? == vec![new_peer.clone()]).then_some(())
    });
    let revoked = json(&d, &["--data-dir", "fra", "directory", "show", "DEU/technical", "--json"]);
    assert!(!revoked.to_string().contains(&old_peer), "FRA still counts the old node: {revoked}");

    // In place, with a grace period: both keys listed, the old one revoked
    // and left out by the daemon once it is over.
    let err = fails(&d, &["--data-dir", "deu2", "node", "rotate-key"]);
    assert!(err.contains("is running: stop it first"), "{err}");
    deu2.stop();
    let err = fails(&d, &["--data-dir", "deu2", "node", "rotate-key", "--grace", "ten minutes"]);
    assert!(err.contains("is not a duration"), "{err}");
    let rotated = json(&d, &["--data-dir", "deu2", "node", "rotate-key", "--grace", "3s", "--json"]);
    assert_eq!(rotated["old_peer_id"], new_peer.as_str(), "{rotated}");
    assert_eq!(rotated["revoked_now"], false, "{rotated}");
    assert!(rotated["revoke_at"].as_u64().is_some(), "{rotated}");
    let newest = rotated["new_peer_id"].as_str().unwrap().to_string();
    send(&d, 100, 10);
    let deu3 = Daemon::start(&d, "deu2");
    send(&d, 110, 10);
    holds_each_once(&d, "deu2", 120, &[&fra, &deu3]);
    poll("FRA to list only the newest node for DEU", &[&fra, &deu3], || {
        (deu_nodes_seen_by_fra(&d)? == vec![newest.clone()]).then_some(())
    });
    fra.stop();
    deu3.stop();
}
