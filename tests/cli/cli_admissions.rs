//! The stewards suspend a state and bring it back: `admission revoke`,
//! `admission sign`, `admission import`, `admission renew`, through the
//! binary and real daemons, with 2 of 3 stewards.

use crate::common::daemons::{ceremony_with, json, poll, send_and_wait, start_fra_and_deu, try_json};
use crate::common::{fails, ok};

#[test]
fn two_of_three_stewards_suspend_a_state_and_renewal_brings_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ceremony_with(d, "Suspension net", 3, 2);
    let (fra, deu) = start_fra_and_deu(d);
    let both = [&fra, &deu];
    let deu_record = |data: &str| json(d, &["--data-dir", data, "directory", "show", "DEU/technical", "--json"]);
    let connected_members =
        |data: &str| json(d, &["--data-dir", data, "status", "--json"])["connected_members"].clone();

    // Mistakes first.
    let err = fails(
        d,
        &[
            "admission",
            "revoke",
            "--charter",
            "n.charter",
            "--state",
            "DEU",
            "--up-to-seq",
            "0",
            "--reason",
            "x",
            "--out",
            "x",
        ],
    );
    assert!(err.contains("at least 1"), "{err}");

    // Before: DEU lists a laptop and revokes it, and publishes a policy
    // record and withdraws it. A renewal must bring back neither.
    ok(d, &["keygen", "--out", "laptop.key"]);
    let laptop = json(d, &["key", "public", "laptop.key", "--json"])["peer_id"].as_str().unwrap().to_string();
    let deu_node = json(d, &["--data-dir", "deu", "status", "--json"])["peer_id"].as_str().unwrap().to_string();
    let mut args = crate::common::record_args("deu", "CERT-Bund", "Europe/Berlin", "de,en");
    args.extend(["--node", &deu_node, "--node", &laptop]);
    ok(d, &args);
    ok(d, &["--data-dir", "deu", "node", "revoke", &laptop, "--reason", "Laptop stolen"]);
    let policy: Vec<&str> = crate::common::record_args("deu", "Auswärtiges Amt", "Europe/Berlin", "de")
        .into_iter()
        .map(|a| if a == "technical" { "policy" } else { a })
        .collect();
    ok(d, &policy);
    ok(d, &["--data-dir", "deu", "record", "withdraw", "--role", "policy", "--reason", "No policy desk"]);
    poll("FRA to take DEU's changes", &both, || {
        let policy = try_json(d, &["--data-dir", "fra", "directory", "show", "DEU/policy", "--json"])?;
        (policy["records"][0]["status"] == "revoked").then_some(())
    });

    // Two of the three stewards sign the suspension; one is not enough.
    let drafted = json(
        d,
        &[
            "admission",
            "revoke",
            "--charter",
            "n.charter",
            "--state",
            "DEU",
            "--up-to-seq",
            "1",
            "--reason",
            "Suspended by the stewards pending review",
            "--out",
            "deu.suspend",
            "--json",
        ],
    );
    assert_eq!(drafted["up_to_seq"], 1, "{drafted}");
    let signed = json(d, &["admission", "sign", "deu.suspend", "--key", "s1.key", "--json"]);
    assert_eq!((signed["object"].as_str(), signed["signatures"].as_u64()), (Some("admission revocation"), Some(1)));
    let err = fails(d, &["--data-dir", "fra", "admission", "import", "deu.suspend"]);
    assert!(err.contains("signature") || err.contains("threshold") || err.contains("quorum"), "{err}");
    ok(d, &["admission", "sign", "deu.suspend", "--key", "s3.key"]);
    ok(d, &["--data-dir", "fra", "admission", "import", "deu.suspend"]);

    // Every member takes it: DEU's record shows revoked, DEU's node is no
    // member, and nothing can be sent to DEU.
    let try_deu_record =
        |data: &str| try_json(d, &["--data-dir", data, "directory", "show", "DEU/technical", "--json"]);
    poll("FRA to count DEU's record revoked and its node out", &both, || {
        (try_deu_record("fra")?["records"][0]["status"] == "revoked" && connected_members("fra") == 0).then_some(())
    });
    let err = fails(d, &["--data-dir", "fra", "send", "--to", "DEU", "--type", "notification", "--subject", "x"]);
    assert!(err.contains("not in force") || err.contains("revoked"), "{err}");

    // The renewal: the next admission, signed by another two stewards and
    // imported where DEU's state key is. DEU's node signs its record again
    // under it, and every member takes both.
    let renewed = json(d, &["admission", "renew", "deu.admission", "--out", "deu2.admission", "--json"]);
    assert_eq!((renewed["seq"].as_u64(), renewed["new_state_key"].as_bool()), (Some(2), Some(false)), "{renewed}");
    ok(d, &["admission", "sign", "deu2.admission", "--key", "s2.key"]);
    ok(d, &["admission", "sign", "deu2.admission", "--key", "s3.key"]);
    ok(d, &["--data-dir", "deu", "admission", "import", "deu2.admission"]);
    poll("FRA to count DEU back", &both, || {
        let record = try_deu_record("fra")?;
        (record["records"][0]["status"] == "current" && connected_members("fra") == 1).then_some(())
    });
    let sent = send_and_wait(d, "fra", "DEU", "After the renewal", "Welcome back.");
    assert_eq!(sent["status"], "delivered", "{sent}");
    // Neither the revoked laptop nor the withdrawn policy record came back.
    let record = deu_record("fra");
    let nodes: Vec<&str> =
        record["records"][0]["record"]["nodes"].as_array().unwrap().iter().filter_map(|n| n.as_str()).collect();
    assert!(!nodes.is_empty() && !nodes.contains(&laptop.as_str()), "{record}");
    let err = fails(d, &["--data-dir", "fra", "directory", "show", "DEU/policy"]);
    assert!(err.contains("no record"), "{err}");
    fra.stop();
    deu.stop();
}

#[test]
fn a_state_rotates_its_key_and_the_old_key_signs_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ceremony_with(d, "Rotation net", 3, 2);
    let (fra, deu) = start_fra_and_deu(d);
    let both = [&fra, &deu];
    let public = |file: &str| ok(d, &["key", "public", file]).trim().to_string();
    let old_key = public("deu/keys/state.key");

    // DEU makes its next key and the admission that carries it.
    let drafted = json(
        d,
        &["--data-dir", "deu", "state", "rotate-key", "--charter", "n.charter", "--out", "deu2.admission", "--json"],
    );
    let new_key = drafted["new_state_key"].as_str().unwrap().to_string();
    assert_eq!((drafted["seq"].as_u64(), drafted["old_state_key"].as_str()), (Some(2), Some(old_key.as_str())));
    assert_ne!(new_key, old_key);
    let err = fails(d, &["--data-dir", "deu", "state", "rotate-key", "--charter", "n.charter", "--out", "again"]);
    assert!(err.contains("a rotation is under way"), "{err}");
    let err =
        fails(d, &["--data-dir", "fra", "state", "rotate-key", "--charter", "n.charter", "--out", "deu2.admission"]);
    assert!(err.contains("exists already"), "{err}");

    // Until the stewards sign, the old key is the state key.
    assert_eq!(public("deu/keys/state.key"), old_key);
    ok(d, &["admission", "sign", "deu2.admission", "--key", "s1.key"]);
    ok(d, &["admission", "sign", "deu2.admission", "--key", "s3.key"]);
    ok(d, &["--data-dir", "deu", "admission", "import", "deu2.admission"]);

    // Everywhere: DEU's admission 2 under the new key, and its record
    // signed again under it; DEU's node took the new key up.
    poll("FRA to hold DEU's record under the new admission", &both, || {
        // Between the new admission and the record signed again under it,
        // FRA holds no record of DEU: asked again, not a failure.
        let view = try_json(d, &["--data-dir", "fra", "directory", "show", "DEU/technical", "--json"])?;
        let record = &view["records"][0];
        (record["status"] == "current" && record["record"]["admission_seq"] == 2).then_some(())
    });
    assert_eq!(public("deu/keys/state.key"), new_key);
    let retired: Vec<_> = std::fs::read_dir(d.join("deu/keys"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("state.key.retired-"))
        .collect();
    assert_eq!(retired.len(), 1, "{retired:?}");
    assert_eq!(public(&format!("deu/keys/{}", retired[0])), old_key);
    let sent = send_and_wait(d, "fra", "DEU", "After the rotation", "Still there?");
    assert_eq!(sent["status"], "delivered", "{sent}");
    // DEU's next record is signed with the new key.
    ok(d, &crate::common::record_args("deu", "CERT-Bund after the rotation", "Europe/Berlin", "de,en"));

    // The old key, in a thief's hands after the rotation: its record, under
    // the old admission, is refused.
    ok(d, &["--data-dir", "thief", "init", "--charter", "n.charter", "--state", "DEU"]);
    std::fs::remove_file(d.join("thief/keys/state.key")).unwrap();
    std::fs::copy(d.join("deu/keys").join(&retired[0]), d.join("thief/keys/state.key")).unwrap();
    ok(d, &["--data-dir", "thief", "admission", "import", "deu.admission"]);
    ok(d, &crate::common::record_args("thief", "Not CERT-Bund", "Europe/Berlin", "de"));
    ok(d, &["--data-dir", "thief", "directory", "export", "--out", "forged.export"]);
    fra.stop();
    let report = json(d, &["--data-dir", "fra", "directory", "import", "forged.export", "--json"]);
    let refused: Vec<&str> = report["rejected"].as_array().unwrap().iter().filter_map(|r| r["code"].as_str()).collect();
    assert!(refused.contains(&"superseded_admission"), "{report}");
    let held = json(d, &["--data-dir", "fra", "directory", "show", "DEU/technical", "--json"]);
    assert_eq!(held["records"][0]["record"]["organization"], "CERT-Bund after the rotation", "{held}");
    // The old key's earlier records stay in the history, beside the new ones.
    let history = json(d, &["--data-dir", "fra", "directory", "history", "DEU/technical", "--json"]);
    let epochs: Vec<u64> =
        history["history"].as_array().unwrap().iter().filter_map(|h| h["record"]["admission_seq"].as_u64()).collect();
    assert!(epochs.contains(&1) && epochs.contains(&2), "{history}");
    deu.stop();
}
