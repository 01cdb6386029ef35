//! `hotline backup` and `hotline restore`, through the binary and real
//! daemons: a backup taken while the daemon runs restores a node that
//! starts and holds what it held; every damaged file is refused.

use crate::common::daemons::{Daemon, fra_and_deu, json, send_and_wait};
use crate::common::{fails, ok};

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn a_backup_taken_while_the_daemon_runs_restores_a_node_that_holds_its_messages() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (fra, deu) = fra_and_deu(d, "Backup net");
    let sent = send_and_wait(d, "deu", "FRA", "Before the backup", "Kept in the backup.");
    assert_eq!(sent["status"], "delivered", "{sent}");
    std::fs::write(d.join("pass.txt"), "correct horse battery staple\n").unwrap();
    std::fs::write(d.join("wrong.txt"), "incorrect horse battery\n").unwrap();
    std::fs::write(d.join("short.txt"), "short\n").unwrap();
    let pass = ["--passphrase-file", "pass.txt"];
    let backup = |out: &str, pass_file: &str| {
        vec!["--data-dir", "fra", "backup", "--out", out, "--passphrase-file", pass_file]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    };

    // Mistakes first.
    let err = fails(d, &args(&backup("x.backup", "short.txt")));
    assert!(err.contains("must be at least 12"), "{err}");
    let err = fails(d, &["--data-dir", "fra", "backup", "--out", "x.backup"]);
    assert!(err.contains("HOTLINE_BACKUP_PASSPHRASE"), "{err}");

    // Through the running daemon.
    let mut with_json = backup("fra.backup", "pass.txt");
    with_json.push("--json".into());
    let written = json(d, &args(&with_json));
    assert_eq!(written["state"], "FRA", "{written}");
    let files: Vec<&str> = written["files"].as_array().unwrap().iter().filter_map(|f| f.as_str()).collect();
    assert_eq!(files, ["keys/state.key", "keys/node.key", "node.toml"], "{written}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(d.join("fra.backup")).unwrap().permissions().mode() & 0o777, 0o600);
    let err = fails(d, &args(&backup("fra.backup", "pass.txt")));
    assert!(err.contains("exists already"), "{err}");
    let text = ok(d, &["backup", "verify", "fra.backup", pass[0], pass[1]]);
    assert!(text.starts_with("Backup verified"), "{text}");
    let err = fails(d, &["backup", "verify", "fra.backup", "--passphrase-file", "wrong.txt"]);
    assert!(err.contains("the passphrase is wrong"), "{err}");

    // Damage: one byte in the middle, the end cut off.
    let good = std::fs::read(d.join("fra.backup")).unwrap();
    let mut changed = good.clone();
    let middle = changed.len() / 2;
    changed[middle] ^= 0x40;
    std::fs::write(d.join("changed.backup"), &changed).unwrap();
    let err = fails(d, &["backup", "verify", "changed.backup", pass[0], pass[1]]);
    assert!(err.contains("was changed") || err.contains("changed, moved or replaced"), "{err}");
    std::fs::write(d.join("cut.backup"), &good[..good.len() - 100]).unwrap();
    let err = fails(d, &["--data-dir", "cut", "restore", "cut.backup", pass[0], pass[1]]);
    assert!(err.contains("truncated"), "{err}");
    assert!(!d.join("cut").exists(), "a bad backup restores nothing");

    // Restore into a new directory; never over one without --force, and
    // never under a running daemon.
    let text = ok(d, &["--data-dir", "restored", "restore", "fra.backup", pass[0], pass[1]]);
    assert!(text.starts_with("Restored into"), "{text}");
    let err = fails(d, &["--data-dir", "restored", "restore", "fra.backup", pass[0], pass[1]]);
    assert!(err.contains("is not empty"), "{err}");
    let err = fails(d, &["--data-dir", "fra", "restore", "fra.backup", "--force", pass[0], pass[1]]);
    assert!(err.contains("a daemon runs on"), "{err}");

    // The restored node starts (FRA's first one stopped: one process per
    // node key) and holds the message received before the backup.
    fra.stop();
    let restored = Daemon::start(d, "restored");
    let inbox = json(d, &["--data-dir", "restored", "inbox", "--json"]);
    let subjects: Vec<&str> =
        inbox["messages"].as_array().unwrap().iter().filter_map(|m| m["subject"].as_str()).collect();
    assert_eq!(subjects, ["Before the backup"], "{inbox}");
    restored.stop();

    // --force moves the old directory aside.
    let moved = json(d, &["--data-dir", "fra", "restore", "fra.backup", "--force", pass[0], pass[1], "--json"]);
    let aside = moved["moved_aside"].as_str().unwrap();
    assert!(d.join(aside).join("hotline.redb").exists(), "{moved}");
    assert!(d.join("fra").join("hotline.redb").exists());
    deu.stop();
}
