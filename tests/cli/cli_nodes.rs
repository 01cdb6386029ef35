//! `hotline node`: a state's nodes over their life, through the binary and
//! real daemons.

use crate::common::daemons::{Daemon, configure, fra_and_deu, json, listen_addr, poll, send_and_wait};
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

/// FRA adds a standby node on a "new machine" (`node add`: no state key
/// there), lists it next to its first node, and starts it: it learns the
/// directory, receives its own envelope of every message to FRA/technical,
/// and cannot sign for FRA. Once FRA revokes it, the next message goes to
/// the first node only.
#[test]
fn a_node_added_without_the_state_key_receives_for_its_role_and_signs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (fra, deu) = fra_and_deu(d, "Standby net");
    let fra_addr = listen_addr(d, "fra", &fra);
    let add = |data: &'static str, bootstrap: Option<&'static str>| {
        let mut args = vec!["--data-dir", data, "node", "add", "--charter", "n.charter", "--state", "FRA"];
        args.extend(["--listen", "/ip4/127.0.0.1/tcp/0"]);
        if let Some(addr) = bootstrap {
            args.extend(["--bootstrap", addr]);
        }
        args
    };
    let with_json = |mut args: Vec<&'static str>| {
        args.push("--json");
        args
    };
    let fra_addr: &'static str = Box::leak(fra_addr.into_boxed_str());

    let err = fails(d, &add("lost", None));
    assert!(err.contains("--bootstrap is needed"), "{err}");
    assert!(!d.join("lost").join("hotline.redb").exists(), "nothing is created on an error");
    let added = json(d, &with_json(add("fra2", Some(fra_addr))));
    assert_eq!(added["holds_state_key"], false, "{added}");
    assert_eq!(added["state_public_key"], serde_json::Value::Null, "{added}");
    let standby = added["peer_id"].as_str().unwrap().to_string();
    assert!(d.join("fra2/keys/node.key").exists());
    assert!(!d.join("fra2/keys/state.key").exists(), "the state key stays on the first node");
    assert!(d.join("fra2/keys/no-state-key").exists(), "and the node says it holds none on purpose");
    let err = fails(d, &add("fra2", Some(fra_addr)));
    assert!(err.contains("is already a node's data directory"), "{err}");
    let text = ok(d, &add("fra3", Some(fra_addr)));
    assert!(
        text.contains("this node holds no state key") && text.contains("hotline record set --role technical"),
        "{text}"
    );

    // FRA lists the standby next to its first node, where the state key is.
    let status = |data: &str| json(d, &["--data-dir", data, "status", "--json"]);
    let first = status("fra")["peer_id"].as_str().unwrap().to_string();
    let mut args = crate::common::record_args("fra", "CERT-FR", "Europe/Paris", "fr,en");
    args.extend(["--node", &first, "--node", &standby]);
    ok(d, &args);
    configure(d, "fra2", "FRA", &[fra_addr.to_string()]);
    let fra2 = Daemon::start(d, "fra2");
    let all = [&fra, &deu, &fra2];
    // Two admissions, two records and three prekey bundles, everywhere.
    for data in ["fra", "deu", "fra2"] {
        poll(&format!("{data} to hold the directory with the standby"), &all, || {
            (status(data)["live_objects"] == 7).then_some(())
        });
    }

    // DEU's message to FRA/technical reaches both of FRA's nodes.
    let sent = send_and_wait(d, "deu", "FRA", "To both nodes", "Standby test.");
    let nodes: Vec<&str> = sent["deliveries"].as_array().unwrap().iter().map(|x| x["node"].as_str().unwrap()).collect();
    assert_eq!(nodes.len(), 2, "{sent}");
    assert!(nodes.contains(&first.as_str()) && nodes.contains(&standby.as_str()), "{sent}");
    assert!(sent["deliveries"].as_array().unwrap().iter().all(|x| x["status"] == "delivered"), "{sent}");
    for data in ["fra", "fra2"] {
        let inbox = json(d, &["--data-dir", data, "inbox", "--json"]);
        let subjects: Vec<&str> =
            inbox["messages"].as_array().unwrap().iter().filter_map(|m| m["subject"].as_str()).collect();
        assert_eq!(subjects, ["To both nodes"], "{data}: {inbox}");
    }

    // The standby signs nothing for FRA, through its daemon or offline.
    let mut args = crate::common::record_args("fra2", "CERT-FR", "Europe/Paris", "fr");
    args.extend(["--node", &standby]);
    let err = fails(d, &args);
    assert!(err.contains("holds no state key of FRA"), "{err}");
    let err = fails(d, &["--data-dir", "fra2", "node", "revoke", &first, "--reason", "takeover"]);
    assert!(err.contains("holds no state key of FRA"), "{err}");
    fra2.stop();
    let err = fails(d, &["--data-dir", "fra2", "node", "revoke", &first, "--reason", "takeover"]);
    assert!(err.contains("holds no state key"), "{err}");

    // FRA revokes the standby: the next message goes to the first node only.
    ok(d, &["--data-dir", "fra", "node", "revoke", &standby, "--reason", "Standby retired"]);
    poll("DEU to take the revocation", &[&fra, &deu], || {
        let record = json(d, &["--data-dir", "deu", "directory", "show", "FRA/technical", "--json"]);
        (record["reachability"][0]["nodes"].as_array()?.len() == 1).then_some(())
    });
    let sent = send_and_wait(d, "deu", "FRA", "To the first node only", "Standby test.");
    let nodes: Vec<&str> = sent["deliveries"].as_array().unwrap().iter().map(|x| x["node"].as_str().unwrap()).collect();
    assert_eq!(nodes, [first.as_str()], "{sent}");
    fra.stop();
    deu.stop();
}
