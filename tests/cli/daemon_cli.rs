//! The CLI against a real `hotline daemon` process: status, record publish
//! and directory reads go through the control socket, and SIGTERM stops the
//! daemon cleanly with everything on disk.

use crate::common::{fails, hotline, hotline_bin, ok};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A one-state network whose node is admitted and configured for loopback.
fn admitted_node(dir: &Path) {
    for s in ["s1", "s2"] {
        ok(dir, &["keygen", "--out", &format!("{s}.key")]);
    }
    let pk = |f: &str| ok(dir, &["key", "public", f]).trim().to_string();
    let (p1, p2) = (pk("s1.key"), pk("s2.key"));
    ok(
        dir,
        &[
            "charter",
            "new",
            "--name",
            "Daemon net",
            "--steward",
            &p1,
            "--steward",
            &p2,
            "--threshold",
            "2",
            "--out",
            "n.charter",
        ],
    );
    ok(dir, &["charter", "sign", "n.charter", "--key", "s1.key"]);
    ok(dir, &["charter", "sign", "n.charter", "--key", "s2.key"]);
    ok(dir, &["--data-dir", "est", "init", "--charter", "n.charter", "--state", "EST"]);
    let key = pk("est/keys/state.key");
    ok(dir, &["admission", "new", "--charter", "n.charter", "--state", "EST", "--state-key", &key, "--out", "est.adm"]);
    ok(dir, &["admission", "sign", "est.adm", "--key", "s1.key"]);
    ok(dir, &["admission", "sign", "est.adm", "--key", "s2.key"]);
    let config = dir.join("est/node.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replace("/ip4/0.0.0.0/tcp/4610", "/ip4/127.0.0.1/tcp/0")
        .replace("/ip4/0.0.0.0/udp/4610/quic-v1", "/ip4/127.0.0.1/udp/0/quic-v1");
    std::fs::write(&config, text).unwrap();
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_daemon(dir: &Path) -> Daemon {
    let child = Command::new(hotline_bin())
        .args(["--data-dir", "est", "daemon"])
        .current_dir(dir)
        .env_remove("HOTLINE_DATA_DIR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let daemon = Daemon(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Command::new(hotline_bin())
        .args(["--data-dir", "est", "status", "--json"])
        .current_dir(dir)
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "the daemon did not answer on its socket within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    daemon
}

#[test]
fn cli_talks_to_the_daemon_and_sigterm_stops_it_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    admitted_node(d);
    let mut daemon = start_daemon(d);

    let socket = d.join("est/hotline.sock");
    assert_eq!(std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777, 0o600);

    // Not admitted and alone: unhealthy, with the reasons, exit 1; with
    // --json, one document on stdout and the same exit code.
    let line = fails(d, &["--data-dir", "est", "health"]);
    assert!(line.contains("unhealthy") && line.contains("no admission") && line.contains("no member"), "{line}");
    let out = hotline(d, &["--data-dir", "est", "health", "--json"]);
    assert!(!out.status.success());
    let health: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((health["healthy"].as_bool(), health["store_writable"].as_bool()), (Some(false), Some(true)));

    // The admission goes in through the daemon, which holds the store.
    ok(d, &["--data-dir", "est", "admission", "import", "est.adm"]);
    let status: serde_json::Value = serde_json::from_str(&ok(d, &["--data-dir", "est", "status", "--json"])).unwrap();
    assert_eq!(status["state"], "EST");
    assert_eq!(status["admitted"], true);

    ok(
        d,
        &[
            "--data-dir",
            "est",
            "record",
            "set",
            "--role",
            "policy",
            "--organization",
            "MFA of Estonia (example)",
            "--position",
            "Cyber diplomacy",
            "--email",
            "cyber@mfa.ee.example",
            "--phone",
            "+372 600 0000",
            "--availability",
            "business-hours",
            "--timezone",
            "Europe/Tallinn",
            "--languages",
            "et,en",
        ],
    );
    // A second version through the daemon merges over the first.
    let entry: serde_json::Value = serde_json::from_str(&ok(
        d,
        &["--data-dir", "est", "record", "set", "--role", "policy", "--phone", "+372 600 1111", "--json"],
    ))
    .unwrap();
    assert_eq!(entry["seq"], 2);
    assert_eq!(entry["record"]["organization"], "MFA of Estonia (example)");

    let listed: serde_json::Value =
        serde_json::from_str(&ok(d, &["--data-dir", "est", "directory", "list", "--json"])).unwrap();
    assert_eq!(listed["records"][0]["record"]["phones"][0], "+372 600 1111");
    let history: serde_json::Value =
        serde_json::from_str(&ok(d, &["--data-dir", "est", "directory", "history", "EST/policy", "--json"])).unwrap();
    assert_eq!(history["history"].as_array().unwrap().len(), 2);

    // SIGTERM: a clean stop (exit status 0) that removes the socket.
    let pid = daemon.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(status) = daemon.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the daemon did not stop within 30 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "daemon exit status {exit:?}");
    assert!(!socket.exists(), "the socket is removed on a clean stop");

    // Offline, the store holds both versions.
    let listed: serde_json::Value =
        serde_json::from_str(&ok(d, &["--data-dir", "est", "directory", "list", "--json"])).unwrap();
    assert_eq!(listed["records"][0]["seq"], 2);
    let err = Command::new(hotline_bin()).args(["--data-dir", "est", "status"]).current_dir(d).output().unwrap();
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("daemon is not running"));
}

/// The daemon refuses to run from a data directory other users may enter
/// (it holds the keys and every message), and when a listen address is
/// taken it says why, instead of an empty reason.
#[test]
fn the_daemon_refuses_an_open_data_directory_and_names_why_it_cannot_listen() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    admitted_node(d);
    let daemon = |d: &Path| {
        Command::new(hotline_bin())
            .args(["--data-dir", "est", "daemon"])
            .current_dir(d)
            .env_remove("HOTLINE_DATA_DIR")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };

    let data = d.join("est");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = daemon(d);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("accessible by group or others (mode 755)"), "{stderr}");
    assert!(stderr.contains("chmod 700"), "{stderr}");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();

    // A port another program holds.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = data.join("node.toml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("/ip4/127.0.0.1/tcp/0", &format!("/ip4/127.0.0.1/tcp/{port}"));
    std::fs::write(&config, text).unwrap();
    let out = daemon(d);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(&format!("cannot listen on /ip4/127.0.0.1/tcp/{port}: ")), "{stderr}");
    assert!(stderr.to_lowercase().contains("in use"), "the cause is named: {stderr}");
    drop(taken);
}
