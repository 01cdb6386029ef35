//! A node put back to an older copy of its store loses nothing: its
//! senders notice from the numbers in the receipts they hold, and deliver
//! again what it lost (`docs/protocol.md` section 12.8). Real daemons, a
//! real backup, a real SIGKILL, a real file copied back.

use crate::common::daemons::{Daemon, all_receipted, fra_and_deu, inbox_counts, json, poll, send_numbered as send};
use crate::common::ok;
use std::path::Path;

/// How many times each subject is in DEU's inbox (DEU is the node put
/// back: restarted, it finds FRA again at the address in its
/// configuration, while a restarted FRA would not know where DEU is).
fn inbox(d: &Path) -> std::collections::HashMap<String, usize> {
    inbox_counts(d, "deu")
}

/// Waits until DEU holds each of the `total` messages exactly once.
fn holds_each_once(d: &Path, total: usize, daemons: &[&Daemon]) {
    let last = poll("DEU to hold every receipted message", daemons, || {
        let seen = inbox(d);
        (seen.len() == total).then_some(seen)
    });
    for i in 0..total {
        assert_eq!(last.get(&format!("Message {i}")), Some(&1), "message {i} is not held exactly once");
    }
    // And it stays so: nothing arrives twice later.
    all_receipted(d, daemons);
    assert_eq!(inbox(d), last);
}

#[test]
fn a_node_restored_from_a_backup_gets_back_every_message_receipted_since() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (fra, deu) = fra_and_deu(d, "Restore net");
    std::fs::write(d.join("pass.txt"), "correct horse battery staple\n").unwrap();
    send(d, 0, 100);
    all_receipted(d, &[&fra, &deu]);
    ok(d, &["--data-dir", "deu", "backup", "--out", "deu.backup", "--passphrase-file", "pass.txt"]);
    send(d, 100, 200);
    all_receipted(d, &[&fra, &deu]);
    assert_eq!(inbox(d).len(), 300);
    // A power cut, and the disk is lost: the backup is all there is.
    deu.kill();
    let restored =
        json(d, &["--data-dir", "deu", "restore", "deu.backup", "--force", "--passphrase-file", "pass.txt", "--json"]);
    // Prekeys made since the backup are lost; no id of theirs is made again.
    assert!(restored["next_prekey_id"].as_u64().is_some_and(|id| id > 1 << 20), "{restored}");
    let deu = Daemon::start(d, "deu");
    holds_each_once(d, 300, &[&fra, &deu]);
    fra.stop();
    deu.stop();
}

#[test]
fn a_store_rolled_back_behind_the_nodes_back_gets_back_every_message_receipted_since() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (fra, deu) = fra_and_deu(d, "Rollback net");
    send(d, 0, 100);
    all_receipted(d, &[&fra, &deu]);
    // The database file copied aside while the daemon is stopped, and
    // copied back later without any command: the node cannot know.
    deu.stop();
    let db = d.join("deu").join(hotline_store::DB_FILE);
    std::fs::copy(&db, d.join("aside.redb")).unwrap();
    let deu = Daemon::start(d, "deu");
    send(d, 100, 200);
    all_receipted(d, &[&fra, &deu]);
    deu.stop();
    std::fs::copy(d.join("aside.redb"), &db).unwrap();
    let deu = Daemon::start(d, "deu");
    holds_each_once(d, 300, &[&fra, &deu]);
    fra.stop();
    deu.stop();
}
