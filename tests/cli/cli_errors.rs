//! Bad input to the offline commands: each gets one clear error line, a
//! non-zero exit, and leaves the node's store unchanged.

use crate::common::{fails, hotline, ok, record_args};
use std::path::Path;

/// Three stewards (threshold two), a valid charter, and a FRA node that is
/// admitted and has a technical record. Returns nothing: files are in `dir`.
fn network(dir: &Path) {
    for s in ["s1", "s2", "s3"] {
        ok(dir, &["keygen", "--out", &format!("{s}.key")]);
    }
    let pk = |f: &str| ok(dir, &["key", "public", f]).trim().to_string();
    let (p1, p2, p3) = (pk("s1.key"), pk("s2.key"), pk("s3.key"));
    ok(
        dir,
        &[
            "charter",
            "new",
            "--name",
            "Errors net",
            "--steward",
            &p1,
            "--steward",
            &p2,
            "--steward",
            &p3,
            "--threshold",
            "2",
            "--out",
            "net.charter",
        ],
    );
    ok(dir, &["charter", "sign", "net.charter", "--key", "s1.key"]);
    ok(dir, &["charter", "sign", "net.charter", "--key", "s2.key"]);
    ok(dir, &["--data-dir", "fra", "init", "--charter", "net.charter", "--state", "FRA"]);
    admit(dir, "net.charter", "FRA", "fra", "fra.admission", &[]);
    ok(dir, &["--data-dir", "fra", "admission", "import", "fra.admission"]);
    ok(dir, &record_args("fra", "CERT-FR", "Europe/Paris", "fr,en"));
}

fn admit(dir: &Path, charter: &str, state: &str, data: &str, out: &str, extra: &[&str]) {
    let key = ok(dir, &["key", "public", &format!("{data}/keys/state.key")]).trim().to_string();
    let mut args = vec!["admission", "new", "--charter", charter, "--state", state, "--state-key", &key, "--out", out];
    args.extend_from_slice(extra);
    ok(dir, &args);
    ok(dir, &["admission", "sign", out, "--key", "s1.key"]);
    ok(dir, &["admission", "sign", out, "--key", "s3.key"]);
}

/// The node's whole visible state: directory listing and the record history.
/// The listing's `now` (the time it was made) is left out: two snapshots a
/// second apart must still compare equal.
fn snapshot(dir: &Path, data: &str) -> (String, String) {
    let list = ok(dir, &["--data-dir", data, "directory", "list", "--json"]);
    let mut list: serde_json::Value = serde_json::from_str(&list).expect("directory list --json is JSON");
    if let Some(map) = list.as_object_mut() {
        map.remove("now");
    }
    let history = hotline(dir, &["--data-dir", data, "directory", "history", "FRA/technical", "--json"]);
    (list.to_string(), String::from_utf8_lossy(&history.stdout).into_owned())
}

#[test]
fn tampered_charter_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    network(d);
    let mut bytes = std::fs::read(d.join("net.charter")).unwrap();
    let pos = bytes.windows(6).position(|w| w == b"Errors").unwrap();
    bytes[pos] = b'T';
    std::fs::write(d.join("bad.charter"), &bytes).unwrap();
    let err = fails(d, &["--data-dir", "other", "init", "--charter", "bad.charter", "--state", "DEU"]);
    assert!(err.contains("charter is not valid") && err.contains("does not verify"), "{err}");
    assert!(!d.join("other").exists(), "nothing is created for a bad charter");
    let shown = ok(d, &["charter", "show", "bad.charter"]);
    assert!(shown.contains("NOT VALID"), "{shown}");
}

#[test]
fn truncated_admission_file_is_refused_and_store_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    network(d);
    ok(d, &["--data-dir", "deu", "init", "--charter", "net.charter", "--state", "DEU"]);
    admit(d, "net.charter", "DEU", "deu", "deu.admission", &[]);
    let bytes = std::fs::read(d.join("deu.admission")).unwrap();
    std::fs::write(d.join("cut.admission"), &bytes[..bytes.len() / 2]).unwrap();
    let before = snapshot(d, "fra");
    let err = fails(d, &["--data-dir", "fra", "admission", "import", "cut.admission"]);
    assert!(err.contains("not a Hotline admission file") && err.contains("malformed or truncated"), "{err}");
    assert_eq!(snapshot(d, "fra"), before);
}

#[test]
fn wrong_key_cannot_sign() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    network(d);
    ok(d, &["keygen", "--out", "outsider.key"]);
    let err = fails(d, &["charter", "sign", "net.charter", "--key", "outsider.key"]);
    assert!(err.contains("is not a steward of this charter"), "{err}");
    let err = fails(d, &["admission", "sign", "fra.admission", "--key", "fra/keys/state.key"]);
    assert!(err.contains("is not a steward of this charter"), "{err}");
    // An admission signed by only one steward is refused on import.
    ok(d, &["--data-dir", "deu", "init", "--charter", "net.charter", "--state", "DEU"]);
    let key = ok(d, &["key", "public", "deu/keys/state.key"]).trim().to_string();
    ok(
        d,
        &[
            "admission",
            "new",
            "--charter",
            "net.charter",
            "--state",
            "DEU",
            "--state-key",
            &key,
            "--out",
            "half.admission",
        ],
    );
    ok(d, &["admission", "sign", "half.admission", "--key", "s2.key"]);
    let before = snapshot(d, "fra");
    let err = fails(d, &["--data-dir", "fra", "admission", "import", "half.admission"]);
    assert!(err.contains("steward_quorum") && err.contains("threshold is 2"), "{err}");
    assert_eq!(snapshot(d, "fra"), before);
}

#[test]
fn object_of_another_network_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    network(d);
    let pk = |f: &str| ok(d, &["key", "public", f]).trim().to_string();
    let (p1, p3) = (pk("s1.key"), pk("s3.key"));
    ok(
        d,
        &[
            "charter",
            "new",
            "--name",
            "Other net",
            "--steward",
            &p1,
            "--steward",
            &p3,
            "--threshold",
            "2",
            "--out",
            "other.charter",
        ],
    );
    ok(d, &["charter", "sign", "other.charter", "--key", "s1.key"]);
    ok(d, &["charter", "sign", "other.charter", "--key", "s3.key"]);
    ok(d, &["--data-dir", "deu", "init", "--charter", "net.charter", "--state", "DEU"]);
    admit(d, "other.charter", "DEU", "deu", "foreign.admission", &[]);
    let before = snapshot(d, "fra");
    let err = fails(d, &["--data-dir", "fra", "admission", "import", "foreign.admission"]);
    assert!(err.contains("belongs to network") && err.contains("Other net"), "{err}");
    assert_eq!(snapshot(d, "fra"), before);
}

#[test]
fn record_of_a_state_that_was_not_admitted_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    network(d);
    ok(d, &["--data-dir", "deu", "init", "--charter", "net.charter", "--state", "DEU"]);
    let err = fails(d, &record_args("deu", "CERT-Bund", "Europe/Paris", "fr,en"));
    assert!(err.contains("DEU is not admitted"), "{err}");
    // Neither does an export carry it into another node.
    ok(d, &["--data-dir", "fra", "directory", "export", "--out", "fra.export"]);
    ok(d, &["--data-dir", "deu", "directory", "import", "fra.export"]);
    let listed: serde_json::Value =
        serde_json::from_str(&ok(d, &["--data-dir", "deu", "directory", "list", "--json"])).unwrap();
    assert_eq!(listed["records"].as_array().unwrap().len(), 1, "only FRA's record, which is admitted");
}

#[test]
fn expired_admission_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    network(d);
    ok(d, &["--data-dir", "deu", "init", "--charter", "net.charter", "--state", "DEU"]);
    admit(d, "net.charter", "DEU", "deu", "short.admission", &["--valid-days", "1"]);
    let before = snapshot(d, "fra");
    let out = std::process::Command::new(crate::common::hotline_bin())
        .args(["--data-dir", "fra", "admission", "import", "short.admission"])
        .current_dir(d)
        .env("HOTLINE_UNSAFE_TEST_CLOCK_OFFSET_SECS", (2 * 86_400).to_string())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("(expired)") && err.contains("nothing was stored"), "{err}");
    assert_eq!(snapshot(d, "fra"), before);
}

#[test]
fn too_long_field_is_refused_and_store_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    network(d);
    let before = snapshot(d, "fra");
    let long = "x".repeat(300);
    let err = fails(d, &record_args("fra", &long, "Europe/Paris", "fr,en"));
    assert!(err.contains("organization") && err.contains("the limit is 256"), "{err}");
    let err = fails(d, &["--data-dir", "fra", "record", "set", "--role", "technical", "--timezone", "Mars/Olympus"]);
    assert!(err.contains("not an IANA time zone"), "{err}");
    let err = fails(d, &["--data-dir", "fra", "record", "set", "--role", "policy", "--organization", "x"]);
    assert!(err.contains("required") && err.contains("--email"), "{err}");
    assert_eq!(snapshot(d, "fra"), before);
}

#[test]
fn bad_state_code_and_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    network(d);
    let out = hotline(d, &["--data-dir", "x", "init", "--charter", "net.charter", "--state", "XYZ"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not an ISO 3166-1 alpha-3"), "{err}");
    let out = hotline(d, &["--json", "--data-dir", "nowhere", "directory", "list"]);
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("nowhere"), "{v}");
    // A usage mistake fails like any other: exit 1, and JSON with --json.
    let out = hotline(d, &["--json", "inbox", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "usage", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("--no-such-flag"), "{v}");
    let out = hotline(d, &["--version"]);
    assert!(out.status.success(), "--version is not an error");
}

#[test]
fn example_config_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.toml");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/config/node.example.toml"), &path).unwrap();
    let config = hotline_store::NodeConfig::load(&path).expect("config/node.example.toml loads");
    config.validate().expect("config/node.example.toml is valid");
    assert_eq!(config.state.as_str(), "FRA");
}

/// The file layout of `hotline directory export`, rebuilt here because an
/// attacker writes such a file by hand.
#[derive(serde::Serialize, serde::Deserialize)]
struct ExportFile {
    magic: String,
    network: hotline_core::NetworkId,
    objects: Vec<hotline_core::DirectoryObject>,
}

/// A state acting in bad faith signs, with its own state key, revocations
/// of another state's node and imports them through the real CLI: each is
/// refused with a typed reason, and nothing is stored.
#[test]
fn a_revocation_of_another_states_node_is_refused_on_import() {
    use hotline_core::{Revocation, RevocationTarget, SignedRevocation, Timestamp};
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    crate::common::daemons::ceremony(d, "Revocation net");
    // Each node takes the other's objects, as sync would give them.
    ok(d, &["--data-dir", "fra", "directory", "export", "--out", "fra.export"]);
    ok(d, &["--data-dir", "deu", "directory", "export", "--out", "deu.export"]);
    ok(d, &["--data-dir", "deu", "directory", "import", "fra.export"]);
    ok(d, &["--data-dir", "fra", "directory", "import", "deu.export"]);
    let export: ExportFile =
        hotline_core::encoding::decode("export", &std::fs::read(d.join("fra.export")).unwrap(), 1 << 20).unwrap();
    let fra_key = hotline_store::keyfile::read(&d.join("fra/keys/state.key")).unwrap();
    let deu_node = hotline_store::keyfile::read(&d.join("deu/keys/node.key")).unwrap().node_id();
    let revoke = |state: &str| {
        let revocation = Revocation {
            target: RevocationTarget::Node { state: state.parse().unwrap(), admission_seq: 1, node: deu_node },
            issued_at: Timestamp(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()),
            reason: "bad faith".into(),
        };
        hotline_core::DirectoryObject::Revocation(SignedRevocation::sign_by_state(
            revocation,
            &fra_key,
            &export.network,
        ))
    };
    let file = ExportFile {
        magic: export.magic.clone(),
        network: export.network,
        objects: vec![revoke("FRA"), revoke("DEU")],
    };
    std::fs::write(d.join("evil.export"), hotline_core::encoding::encode(&file)).unwrap();

    for data in ["deu", "fra"] {
        let before = snapshot(d, data);
        let out = ok(d, &["--data-dir", data, "directory", "import", "evil.export", "--json"]);
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(report["accepted"], 0, "{out}");
        let codes: Vec<&str> =
            report["rejected"].as_array().unwrap().iter().map(|p| p["code"].as_str().unwrap()).collect();
        // In FRA's name: FRA never listed that node. In DEU's name: not DEU's key.
        assert_eq!(codes, ["node_not_listed", "bad_signature"], "{out}");
        // Unchanged; the listing's clock (`now`, whole seconds) may have
        // moved on, which compared as a change under load.
        assert_eq!(snapshot(d, data), before);
        let shown = ok(d, &["--data-dir", data, "directory", "show", "DEU/technical", "--json"]);
        assert!(shown.contains("\"current\""), "{shown}");
    }
}

/// A reader that stops early (`hotline … | head -1`) closes the pipe: the
/// command stops quietly and succeeds, with no panic on stderr.
#[test]
fn a_closed_stdout_is_not_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    ok(tmp.path(), &["keygen", "--out", "k.key"]);
    for args in [&["key", "public", "k.key"][..], &["--json", "key", "public", "k.key"][..]] {
        // The read end is closed before the command starts: every write fails.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = std::process::Command::new(crate::common::hotline_bin())
            .args(args)
            .current_dir(tmp.path())
            .env_remove("HOTLINE_DATA_DIR")
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "hotline {args:?}: {:?}, stderr: {stderr}", out.status);
        assert!(stderr.is_empty(), "hotline {args:?} wrote to stderr: {stderr}");
    }
}

/// `init --listen/--bootstrap` writes the network settings into node.toml
/// and prints the address the other nodes put in their bootstrap lists; a
/// value that is not a multiaddress is refused before anything is created.
#[test]
fn init_takes_the_network_settings_and_refuses_bad_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    network(d);
    let out = ok(
        d,
        &[
            "--data-dir",
            "deu",
            "init",
            "--charter",
            "net.charter",
            "--state",
            "DEU",
            "--listen",
            "/ip4/127.0.0.1/tcp/4999",
            "--listen",
            "/ip4/0.0.0.0/udp/4999/quic-v1",
            "--bootstrap",
            "/ip4/192.0.2.1/tcp/4610",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let peer = v["peer_id"].as_str().unwrap();
    assert_eq!(v["advertise"][0], format!("/ip4/127.0.0.1/tcp/4999/p2p/{peer}"), "{out}");
    assert_eq!(v["advertise"][1], format!("/ip4/<this host's address>/udp/4999/quic-v1/p2p/{peer}"), "{out}");
    let config = hotline_store::NodeConfig::load(&d.join("deu/node.toml")).unwrap();
    assert_eq!(config.listen, ["/ip4/127.0.0.1/tcp/4999", "/ip4/0.0.0.0/udp/4999/quic-v1"]);
    assert_eq!(config.bootstrap, ["/ip4/192.0.2.1/tcp/4610"]);

    let line = fails(
        d,
        &["--data-dir", "est", "init", "--charter", "net.charter", "--state", "EST", "--bootstrap", "192.0.2.1:4610"],
    );
    assert!(line.contains("bootstrap") && line.contains("multiaddress"), "{line}");
    assert!(!d.join("est").join(hotline_store::DB_FILE).exists(), "nothing is created");
}
