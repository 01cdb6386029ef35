//! The stewards suspend a state and bring it back: `admission revoke`,
//! `admission sign`, `admission import`, `admission renew`, through the
//! binary and real daemons, with 2 of 3 stewards.

use crate::common::daemons::{ceremony_with, json, poll, send_and_wait, start_fra_and_deu};
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
    poll("FRA to count DEU's record revoked and its node out", &both, || {
        (deu_record("fra")["records"][0]["status"] == "revoked" && connected_members("fra") == 0).then_some(())
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
        let record = deu_record("fra");
        (record["records"][0]["status"] == "current" && connected_members("fra") == 1).then_some(())
    });
    let sent = send_and_wait(d, "fra", "DEU", "After the renewal", "Welcome back.");
    assert_eq!(sent["status"], "delivered", "{sent}");
    fra.stop();
    deu.stop();
}
