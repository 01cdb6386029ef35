//! `hotline node`: a state's nodes over their life, through the binary and
//! real daemons.

use crate::common::daemons::{fra_and_deu, json, poll};
use crate::common::{fails, ok};

/// FRA lists a second node (a laptop) in its record, then revokes it: the
/// revocation reaches DEU, FRA is told which record still lists it, and
/// each mistake is refused with its own message.
#[test]
fn a_state_revokes_a_node_it_listed_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (fra, deu) = fra_and_deu(d, "Nodes net");
    let both = [&fra, &deu];
    ok(d, &["keygen", "--out", "laptop.key"]);
    let laptop = json(d, &["key", "public", "laptop.key", "--json"])["peer_id"].as_str().unwrap().to_string();
    let status = |data: &str| json(d, &["--data-dir", data, "status", "--json"]);
    let fra_node = status("fra")["peer_id"].as_str().unwrap().to_string();
    let deu_node = status("deu")["peer_id"].as_str().unwrap().to_string();
    let mut args = crate::common::record_args("fra", "CERT-FR", "Europe/Paris", "fr,en");
    args.extend(["--node", &fra_node, "--node", &laptop]);
    ok(d, &args);
    // DEU counts the nodes of FRA's record as members (listed under
    // `reachability` in directory show).
    let members_seen_by_deu = || {
        let fra_record = json(d, &["--data-dir", "deu", "directory", "show", "FRA/technical", "--json"]);
        let nodes = fra_record["reachability"][0]["nodes"].as_array()?.clone();
        Some(nodes.iter().filter_map(|n| n["node"].as_str().map(String::from)).collect::<Vec<_>>())
    };
    poll("DEU to count the laptop as a member", &both, || members_seen_by_deu()?.contains(&laptop).then_some(()));

    // Mistakes first: a node FRA never listed, FRA's own running node, a
    // malformed id, no reason.
    let err = fails(d, &["--data-dir", "fra", "node", "revoke", &deu_node, "--reason", "not ours"]);
    assert!(err.contains("which no record of FRA lists: a state revokes only its own nodes"), "{err}");
    let err = fails(d, &["--data-dir", "fra", "node", "revoke", &fra_node, "--reason", "x"]);
    assert!(err.contains("is this node"), "{err}");
    let err = fails(d, &["--data-dir", "fra", "node", "revoke", "12D3KooWnot", "--reason", "x"]);
    assert!(err.contains("is not a node's peer id"), "{err}");
    let err = fails(d, &["--data-dir", "fra", "node", "revoke", &laptop, "--reason", " "]);
    assert!(err.contains("--reason must say why"), "{err}");

    let text = ok(d, &["--data-dir", "fra", "node", "revoke", &laptop, "--reason", "Laptop stolen"]);
    assert!(text.starts_with(&format!("Revoked node {laptop} of FRA (Laptop stolen).")), "{text}");
    assert!(text.contains("FRA/technical still lists it: publish it anew without it"), "{text}");
    let err = fails(d, &["--data-dir", "fra", "node", "revoke", &laptop, "--reason", "again"]);
    assert!(err.contains("is revoked already"), "{err}");
    // The revocation reaches DEU: the laptop is no member there.
    poll("DEU to take the revocation", &both, || (members_seen_by_deu()? == vec![fra_node.clone()]).then_some(()));
    fra.stop();
    deu.stop();
}
