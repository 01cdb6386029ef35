//! Two real `hotline daemon` processes, FRA and DEU, set up offline with
//! the README ceremony: what the CLI tests of messaging and comchecks share.

use super::{hotline, hotline_bin, ok, record_args};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long any one thing may take before the test fails.
pub(crate) const DEADLINE: Duration = Duration::from_secs(90);

/// Runs `hotline ARGS`, asserting success, and parses what it printed as JSON.
pub(crate) fn json(dir: &Path, args: &[&str]) -> Value {
    let text = ok(dir, args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("hotline {args:?} printed no JSON ({e}): {text}"))
}

/// Two stewards (threshold two), and a FRA and a DEU node, each admitted
/// and with a technical record naming its own node, all done offline.
pub(crate) fn ceremony(d: &Path, network: &str) {
    ceremony_with(d, network, 2, 2);
}

/// The ceremony with `stewards` stewards (`s1.key`, `s2.key`, …), of whom
/// `threshold` must sign; the first `threshold` sign the admissions.
pub(crate) fn ceremony_with(d: &Path, network: &str, stewards: usize, threshold: usize) {
    let names: Vec<String> = (1..=stewards).map(|i| format!("s{i}")).collect();
    for s in &names {
        ok(d, &["keygen", "--out", &format!("{s}.key")]);
    }
    let pk = |f: &str| ok(d, &["key", "public", f]).trim().to_string();
    let keys: Vec<String> = names.iter().map(|s| pk(&format!("{s}.key"))).collect();
    let threshold_text = threshold.to_string();
    let mut args = vec!["charter", "new", "--name", network, "--threshold", &threshold_text, "--out", "n.charter"];
    for key in &keys {
        args.extend(["--steward", key.as_str()]);
    }
    ok(d, &args);
    for s in &names {
        ok(d, &["charter", "sign", "n.charter", "--key", &format!("{s}.key")]);
    }
    for (data, state, org, tz) in
        [("fra", "FRA", "CERT-FR", "Europe/Paris"), ("deu", "DEU", "CERT-Bund", "Europe/Berlin")]
    {
        ok(d, &["--data-dir", data, "init", "--charter", "n.charter", "--state", state]);
        let key = pk(&format!("{data}/keys/state.key"));
        let adm = format!("{data}.admission");
        ok(d, &["admission", "new", "--charter", "n.charter", "--state", state, "--state-key", &key, "--out", &adm]);
        for s in names.iter().take(threshold) {
            ok(d, &["admission", "sign", &adm, "--key", &format!("{s}.key")]);
        }
        ok(d, &["--data-dir", data, "admission", "import", &adm]);
        ok(d, &record_args(data, org, tz, "en"));
        configure(d, data, state, &[]);
    }
}

/// `hotline ARGS` as JSON, or `None` if it fails: for polls across a
/// moment when the answer is an error (a record between two admissions).
pub(crate) fn try_json(dir: &Path, args: &[&str]) -> Option<Value> {
    let out = hotline(dir, args);
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// A third state's node (`data`, `state`) made and admitted by the
/// ceremony's first two stewards, with a technical record, bootstrapping
/// from `bootstrap`; not started.
pub(crate) fn add_state(d: &Path, data: &str, state: &str, org: &str, tz: &str, bootstrap: &[String]) {
    ok(d, &["--data-dir", data, "init", "--charter", "n.charter", "--state", state]);
    let key = ok(d, &["key", "public", &format!("{data}/keys/state.key")]).trim().to_string();
    let adm = format!("{data}.admission");
    ok(d, &["admission", "new", "--charter", "n.charter", "--state", state, "--state-key", &key, "--out", &adm]);
    for s in ["s1", "s2"] {
        ok(d, &["admission", "sign", &adm, "--key", &format!("{s}.key")]);
    }
    ok(d, &["--data-dir", data, "admission", "import", &adm]);
    ok(d, &record_args(data, org, tz, "en"));
    configure(d, data, state, bootstrap);
}

/// Loopback only, short sync interval, and the given bootstrap addresses.
pub(crate) fn configure(d: &Path, data: &str, state: &str, bootstrap: &[String]) {
    let list = bootstrap.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", ");
    let text = format!(
        "state = \"{state}\"\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\nbootstrap = [{list}]\nsync_interval_secs = 2\n"
    );
    std::fs::write(d.join(data).join("node.toml"), text).unwrap();
}

/// A daemon process; killed if the test ends without stopping it.
pub(crate) struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    pub(crate) fn start(d: &Path, data: &str) -> Daemon {
        let log = d.join(format!("{data}.log"));
        let child = Command::new(hotline_bin())
            .args(["--data-dir", data, "daemon"])
            .current_dir(d)
            .env_remove("HOTLINE_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let daemon = Daemon { child, log };
        poll(&format!("the {data} daemon to answer on its socket"), &[&daemon], || {
            hotline(d, &["--data-dir", data, "status", "--json"]).status.success().then_some(())
        });
        daemon
    }

    /// SIGKILL: the process dies at once, as in a power cut.
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, and a clean exit.
    pub(crate) fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + DEADLINE;
        let exit = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the daemon did not stop after SIGTERM\n{}", logs(&[&self]));
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(exit.success(), "daemon exit status {exit:?}\n{}", logs(&[&self]));
    }
}

pub(crate) fn logs(daemons: &[&Daemon]) -> String {
    daemons
        .iter()
        .map(|d| format!("--- {} ---\n{}", d.log.display(), std::fs::read_to_string(&d.log).unwrap_or_default()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Calls `f` every 50 ms until it returns a value; fails after [`DEADLINE`].
pub(crate) fn poll<T>(what: &str, daemons: &[&Daemon], mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}\n{}", logs(daemons));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The ceremony of `network`, then FRA's and DEU's daemons started (DEU
/// bootstrapping from FRA) and converged: two admissions, two records and
/// two prekey bundles on each side.
pub(crate) fn fra_and_deu(d: &Path, network: &str) -> (Daemon, Daemon) {
    ceremony(d, network);
    start_fra_and_deu(d)
}

/// FRA's and DEU's daemons, on the ceremony already made, started (DEU
/// bootstrapping from FRA) and converged.
pub(crate) fn start_fra_and_deu(d: &Path) -> (Daemon, Daemon) {
    let fra = Daemon::start(d, "fra");
    let fra_addr = listen_addr(d, "fra", &fra);
    configure(d, "deu", "DEU", &[fra_addr]);
    let deu = Daemon::start(d, "deu");
    for data in ["fra", "deu"] {
        poll(&format!("{data} to hold the whole directory"), &[&fra, &deu], || {
            (json(d, &["--data-dir", data, "status", "--json"])["live_objects"] == 6).then_some(())
        });
    }
    (fra, deu)
}

/// The node's TCP listen address, with its peer id.
pub(crate) fn listen_addr(d: &Path, data: &str, daemon: &Daemon) -> String {
    poll("a listen address", &[daemon], || {
        let status = json(d, &["--data-dir", data, "status", "--json"]);
        let peer = status["peer_id"].as_str()?.to_string();
        let addr = status["listen_addrs"].as_array()?.iter().filter_map(Value::as_str).find(|a| a.contains("/tcp/"))?;
        Some(if addr.contains("/p2p/") { addr.to_string() } else { format!("{addr}/p2p/{peer}") })
    })
}

/// Sends a notification from the node in `from` to `to`'s technical role
/// and waits for every receipt; the JSON view of the message sent.
pub(crate) fn send_and_wait(d: &Path, from: &str, to: &str, subject: &str, body: &str) -> Value {
    json(
        d,
        &[
            "--data-dir",
            from,
            "send",
            "--to",
            to,
            "--type",
            "notification",
            "--subject",
            subject,
            "--body",
            body,
            "--wait",
            "--timeout",
            "60s",
            "--json",
        ],
    )
}

/// FRA sends `count` notifications to DEU, subjects `Message N` numbered
/// from `first`.
pub(crate) fn send_numbered(d: &Path, first: usize, count: usize) {
    for i in first..first + count {
        let subject = format!("Message {i}");
        let args = ["--data-dir", "fra", "send", "--to", "DEU", "--type", "notification", "--subject", &subject];
        ok(d, &args);
    }
}

/// Waits until every message FRA sent has its receipts (its outbox is empty).
pub(crate) fn all_receipted(d: &Path, daemons: &[&Daemon]) {
    poll("FRA's outbox to empty", daemons, || {
        let outbox = json(d, &["--data-dir", "fra", "outbox", "--json"]);
        outbox["outbox"].as_array().is_some_and(Vec::is_empty).then_some(())
    });
}

/// How many times each subject is in the inbox of the node in `data`.
pub(crate) fn inbox_counts(d: &Path, data: &str) -> std::collections::HashMap<String, usize> {
    let inbox = json(d, &["--data-dir", data, "inbox", "--limit", "1000", "--json"]);
    let mut seen = std::collections::HashMap::new();
    for m in inbox["messages"].as_array().into_iter().flatten() {
        *seen.entry(m["subject"].as_str().unwrap_or_default().to_string()).or_default() += 1;
    }
    seen
}
