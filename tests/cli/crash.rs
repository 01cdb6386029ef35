//! Crash safety of delivery, with real daemon processes: the recipient's
//! daemon is killed with SIGKILL while the sender streams 500 messages to
//! it, then restarted. Every message the sender holds a receipt for must be
//! in the recipient's store, every message must arrive, and none twice.

use crate::common::hotline_bin;
use hotline_core::{Address, MessageType, Role, Tlp};
use hotline_node::Client;
use hotline_node::api_types::PublishRequest;
use hotline_node::api_types::SendRequest;
use hotline_node::endpoints::{GetOutbox, GetStatus, ListMessages, PublishRecord, SendMessage};
use hotline_node::testkit::{DEADLINE, TestNet, draft};
use hotline_store::config::CONFIG_FILE;
use hotline_store::{MessageRow, NodeConfig, Store};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MESSAGES: usize = 500;
/// The recipient is killed once this many sends have been accepted.
const KILL_AFTER: usize = 150;

/// A daemon process, killed if the test ends early.
struct Daemon {
    child: Child,
    data: PathBuf,
}

impl Daemon {
    fn start(data: &Path, log: &str) -> Daemon {
        // Logs go to a file: a pipe nobody reads would block the daemon.
        let log = File::create(data.with_file_name(log)).unwrap();
        let child = Command::new(hotline_bin())
            .args(["--data-dir", data.to_str().unwrap(), "daemon"])
            .env_remove("HOTLINE_DATA_DIR")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Daemon { child, data: data.to_path_buf() }
    }

    fn client(&self) -> Client {
        Client::for_data_dir(&self.data)
    }

    fn sigkill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn sigterm(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "the daemon exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "the daemon did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(t) = check().await {
            return t;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn message(i: usize) -> SendRequest {
    let to = Address { state: "DEU".parse().unwrap(), role: Role::technical() };
    SendRequest {
        body: format!("Update number {i} of {MESSAGES}."),
        tlp: Some(Tlp::Green),
        is_exercise: true,
        ..SendRequest::new(to, MessageType::StatusUpdate, format!("Status update {i:03}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_killed_mid_stream_loses_nothing_and_shows_nothing_twice() {
    let net = TestNet::new("crash");
    let fra = net.prepare("fra", "FRA", true);
    let deu = net.prepare("deu", "DEU", true);

    let a = Daemon::start(&fra.data, "fra.log");
    let ca = a.client();
    let a_addr =
        wait_for("FRA's daemon", || async { ca.call(GetStatus).await.ok()?.listen_addrs.first().cloned() }).await;
    let mut config = NodeConfig::load(&deu.data.join(CONFIG_FILE)).unwrap();
    config.bootstrap = vec![format!("{a_addr}/p2p/{}", ca.call(GetStatus).await.unwrap().peer_id)];
    config.save(&deu.data.join(CONFIG_FILE)).unwrap();
    let b = Daemon::start(&deu.data, "deu.log");
    let cb = b.client();
    wait_for("DEU's daemon", || async { cb.call(GetStatus).await.ok() }).await;

    ca.call(PublishRecord(PublishRequest { draft: draft("technical", fra.node, "CERT-FR"), validity_days: None }))
        .await
        .unwrap();
    cb.call(PublishRecord(PublishRequest { draft: draft("technical", deu.node, "CERT-Bund"), validity_days: None }))
        .await
        .unwrap();
    for c in [&ca, &cb] {
        // Two admissions, two records, two prekey bundles.
        wait_for("the directory to converge", || async {
            (c.call(GetStatus).await.ok()?.live_objects == 6).then_some(())
        })
        .await;
    }

    // Stream the messages; kill DEU's daemon part-way through.
    let mut sent = Vec::with_capacity(MESSAGES);
    let mut b = Some(b);
    for i in 0..MESSAGES {
        let response = ca.call(SendMessage(message(i))).await.unwrap();
        assert_eq!(response.deliveries.len(), 1);
        sent.push(response.msg_id);
        if i + 1 == KILL_AFTER
            && let Some(b) = b.take()
        {
            // Kill it while it is taking messages in: some are receipted, others in flight.
            wait_for("the first receipts", || async {
                (ca.call(GetOutbox).await.ok()?.len() < KILL_AFTER).then_some(())
            })
            .await;
            b.sigkill();
        }
    }
    assert!(!ca.call(GetOutbox).await.unwrap().is_empty(), "messages wait in the outbox while DEU is down");
    drop(Store::open(&deu.data).expect("the killed daemon's store opens cleanly"));

    let b = Daemon::start(&deu.data, "deu-restarted.log");
    let cb = b.client();
    wait_for("every message to be receipted", || async { ca.call(GetOutbox).await.ok()?.is_empty().then_some(()) })
        .await;
    let inbox = cb.call(ListMessages(Default::default())).await.unwrap();
    b.sigterm();
    a.sigterm();

    // FRA holds a verified receipt for every message...
    let fra_store = Store::open(&fra.data).unwrap();
    for id in &sent {
        assert_eq!(fra_store.receipts(id).unwrap().len(), 1, "no receipt for {id}");
    }
    assert!(fra_store.outbox().unwrap().is_empty());
    // ...and DEU holds every one of them exactly once.
    let deu_store = Store::open(&deu.data).unwrap();
    let received: HashMap<_, _> = deu_store
        .messages()
        .unwrap()
        .into_iter()
        .filter_map(|(id, row)| match row {
            MessageRow::Received(r) => Some((id, r)),
            MessageRow::Sent(_) => None,
        })
        .collect();
    for id in &sent {
        assert!(received.contains_key(id), "message {id} has a receipt but is not in DEU's store");
    }
    assert_eq!(received.len(), MESSAGES);
    let subjects: HashSet<String> = inbox.iter().map(|m| m.subject.clone()).collect();
    assert_eq!(inbox.len(), MESSAGES, "the inbox shows every message once");
    assert_eq!(subjects.len(), MESSAGES, "no message is shown twice");
}
