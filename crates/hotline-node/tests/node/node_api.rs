//! The control API over the real Unix socket, through the crate's client
//! and through raw HTTP (as `curl --unix-socket` would).

use hotline_core::{DirectoryObject, Role};
use hotline_node::api_types::NodeEvent;
use hotline_node::api_types::PublishRequest;
use hotline_node::endpoints::{
    GetDirectory, GetHistory, GetPeers, GetRecord, GetState, GetStatus, PublishRecord, SubmitObject,
};
use hotline_node::testkit::*;
use hotline_node::{Client, ClientError, Node, NodeError, NodeOptions, SOCKET_FILE, run_until_signal};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// One raw HTTP/1.1 request; returns the status code and the body.
async fn raw(socket: &Path, request: &str) -> (u16, serde_json::Value) {
    let mut stream = UnixStream::connect(socket).await.unwrap_or_else(|e| panic!("connect: {e}"));
    stream.write_all(request.as_bytes()).await.unwrap_or_else(|e| panic!("write: {e}"));
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap_or_else(|e| panic!("read: {e}"));
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status: {answer}"));
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {answer}")))
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
}

fn post(path: &str, content_type: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn assert_api_error(result: Result<impl std::fmt::Debug, ClientError>, status: u16, code: &str) {
    match result {
        Err(ClientError::Api { status: s, code: c, message }) => {
            assert_eq!((s, c.as_str()), (status, code), "{message}");
            assert!(!message.is_empty() && !message.contains('\n'), "{message:?}");
        }
        other => panic!("expected {status} {code}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_api_over_the_unix_socket() {
    let net = TestNet::new("api");
    let p = net.prepare("node", "FRA", true);
    let socket = p.data.join(SOCKET_FILE);
    // A socket left behind by a daemon that died is replaced.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap_or_else(|e| panic!("{e}")));
    assert!(socket.exists());

    let node = start(&p, options(&[])).await;
    assert_eq!(node.api_socket(), Some(socket.as_path()));
    let meta = std::fs::metadata(&socket).unwrap_or_else(|e| panic!("{e}"));
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "the socket is owner-only");

    // A second daemon on the same socket is refused.
    let other = net.prepare("other", "DEU", true);
    let clash = NodeOptions { api_socket: Some(socket.clone()), ..options(&[]) };
    match Node::start(&other.data, clash).await {
        Err(e @ NodeError::AlreadyRunning { .. }) => assert_eq!(e.code(), "already_running"),
        Err(e) => panic!("expected AlreadyRunning, got {e}"),
        Ok(_) => panic!("a second daemon started on a socket in use"),
    }

    let client = Client::for_data_dir(&p.data);
    let status = client.call(GetStatus).await.unwrap_or_else(|e| panic!("status: {e}"));
    assert_eq!(status.state, "FRA");
    assert!(status.admitted);
    assert_eq!(status.peer_id, node.peer_id().to_string());
    assert_eq!(status.charter_name, "api");
    assert_eq!((status.records, status.admitted_states, status.live_objects), (0, 1, 1));
    assert!(!status.listen_addrs.is_empty());

    let mut events = client.events().await.unwrap_or_else(|e| panic!("events: {e}"));

    // Publish through the API: signed with the state key, stored, announced.
    let draft = draft("policy", node_of(node.peer_id()), "ANSSI");
    let entry = client
        .call(PublishRecord(PublishRequest { draft: draft.clone(), validity_days: Some(200) }))
        .await
        .unwrap_or_else(|e| panic!("publish: {e}"));
    assert_eq!((entry.key.as_str(), entry.seq, entry.status.as_str()), ("rec/FRA/policy", 1, "current"));
    assert_eq!(entry.record.organization, "ANSSI");
    loop {
        match events.next().await {
            Some(Ok(NodeEvent::DirectoryChanged { key, seq, hash, winner })) => {
                assert_eq!((key.as_str(), seq, hash, winner), ("rec/FRA/policy", 1, entry.hash, true));
                break;
            }
            Some(Ok(_)) => {}
            other => panic!("event stream: {other:?}"),
        }
    }

    let directory = client.call(GetDirectory).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(directory.admissions.len(), 1);
    assert_eq!(directory.records, vec![entry.clone()]);
    let fra = "FRA".parse().unwrap_or_else(|e| panic!("{e}"));
    let state = client.call(GetState { state: fra }).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(state.admission.map(|a| a.in_force), Some(true));
    assert_eq!(
        client.call(GetRecord { state: fra, role: Role::policy() }).await.unwrap_or_else(|e| panic!("{e}")),
        entry
    );
    let second = client
        .call(PublishRecord(PublishRequest { draft: draft.clone(), validity_days: None }))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(second.seq, 2);
    let history = client.call(GetHistory { state: fra, role: Role::policy() }).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(history.iter().map(|h| h.seq).collect::<Vec<_>>(), [1, 2]);
    assert!(client.call(GetPeers).await.unwrap_or_else(|e| panic!("{e}")).is_empty());

    // Submitting a known object is a duplicate, not an error.
    let held = node.handle().directory().await.unwrap_or_else(|e| panic!("{e}"));
    let admission = net.admission(fra, &p.state_key);
    let outcome =
        client.call(SubmitObject(DirectoryObject::Admission(admission))).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outcome.outcome, hotline_node::api_types::SubmitOutcome::Duplicate);
    assert_eq!(held.admissions.len(), 1);

    // Errors: a stable code and one line, as JSON.
    let mut bad = draft.clone();
    bad.emails.clear();
    assert_api_error(
        client.call(PublishRecord(PublishRequest { draft: bad.clone(), validity_days: None })).await,
        400,
        "invalid_field",
    );
    assert_api_error(
        client.call(PublishRecord(PublishRequest { draft: draft.clone(), validity_days: Some(0) })).await,
        400,
        "bad_validity",
    );
    assert_api_error(
        client.call(PublishRecord(PublishRequest { draft: draft.clone(), validity_days: Some(400) })).await,
        400,
        "validity_too_long",
    );
    assert_api_error(client.call(GetRecord { state: fra, role: Role::technical() }).await, 404, "not_found");
    assert_api_error(
        client.call(GetState { state: "DEU".parse().unwrap_or_else(|e| panic!("{e}")) }).await,
        404,
        "not_found",
    );
    let (status, body) = raw(&socket, &get("/v1/directory/XYZ")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_state")));
    let (status, body) = raw(&socket, &get("/v1/nowhere")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
    let (status, body) = raw(&socket, &post("/v1/status", "application/json", "{}")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (405, Some("method_not_allowed")));
    let (status, body) = raw(&socket, &post("/v1/records", "application/json", "{nope")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_json")));
    let (status, body) = raw(&socket, &post("/v1/records", "text/plain", "{}")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (415, Some("unsupported_media_type")));
    let (status, body) = raw(&socket, &post("/v1/objects", "application/json", r#"{"object_hex":"zz"}"#)).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_object")));
    // In JSON, nodes are named by their peer ids, as operators know them.
    let by_peer_id = serde_json::json!({
        "draft": {
            "role": "technical", "organization": "CERT-FR", "position": "Duty officer",
            "emails": ["cert@example.fr"], "phones": ["+33 1 00 00 00 00"],
            "phone_24x7": "+33 6 00 00 00 00", "timezone": "Europe/Paris",
            "availability": "24x7", "languages": ["fr", "en"],
            "nodes": [node.peer_id().to_string()]
        },
        "validity_days": 200
    });
    let (status, body) = raw(&socket, &post("/v1/records", "application/json", &by_peer_id.to_string())).await;
    assert_eq!((status, body["key"].as_str()), (201, Some("rec/FRA/technical")), "{body}");
    assert_eq!(body["record"]["nodes"][0].as_str(), Some(node.peer_id().to_string().as_str()));
    let (status, body) = raw(&socket, &get("/v1/status")).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("FRA")));

    // A clean stop ends the event stream and removes the socket; then the
    // client says plainly that no daemon runs.
    node.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    loop {
        match events.next().await {
            None => break,
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("{e}"),
        }
    }
    assert!(!socket.exists(), "the socket is removed on shutdown");
    match client.call(GetStatus).await {
        Err(e @ ClientError::DaemonNotRunning { .. }) => assert!(e.to_string().contains("not running"), "{e}"),
        other => panic!("expected DaemonNotRunning, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_daemon_cleanly() {
    use tokio::signal::unix::{SignalKind, signal};
    // Once a tokio listener for SIGTERM exists, the signal no longer kills
    // the process: install one first, so a signal sent before
    // `run_until_signal` listens is harmless (it is simply sent again).
    let _keep_alive = signal(SignalKind::terminate()).unwrap_or_else(|e| panic!("{e}"));
    let net = TestNet::new("api signal");
    let p = net.prepare("node", "FRA", true);
    let node = start(&p, options(&[])).await;
    let socket = node.api_socket().map(Path::to_path_buf).unwrap_or_else(|| panic!("no socket"));
    let daemon = tokio::spawn(run_until_signal(node));
    let pid = std::process::id().to_string();
    poll_until("the daemon to stop on SIGTERM", || {
        let finished = daemon.is_finished();
        let pid = pid.clone();
        async move {
            if finished {
                return Some(());
            }
            let sent = std::process::Command::new("kill").args(["-TERM", &pid]).status();
            assert!(sent.as_ref().is_ok_and(|s| s.success()), "kill -TERM failed: {sent:?}");
            None
        }
    })
    .await;
    daemon.await.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("run_until_signal: {e}"));
    assert!(!socket.exists(), "the socket is removed");
    // The store was closed: it opens again at once.
    hotline_store::Store::open(&p.data).unwrap_or_else(|e| panic!("the store is still held: {e}"));
}

/// `GET /health` over the socket: 503 with the reasons while the node is
/// alone and not admitted, 200 once it is admitted and a member is
/// connected. Each check writes a probe row durably, as any change would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_what_is_wrong_until_the_node_can_do_its_job() {
    let net = TestNet::new("health");
    let lonely = net.prepare("est", "EST", false);
    let est = start(&lonely, options(&[])).await;
    let (status, body) = raw(&lonely.data.join(SOCKET_FILE), &get("/health")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["healthy"], false);
    assert_eq!(body["store_writable"], true, "{body}");
    let reasons: Vec<&str> = body["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert!(reasons.iter().any(|r| r.contains("no admission")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("no member node is connected")), "{reasons:?}");
    est.shutdown().await.unwrap();

    let (a, b) = (net.prepare("fra", "FRA", true), net.prepare("deu", "DEU", true));
    let fra = start(&a, options(&[])).await;
    let deu = start(&b, options(&[first_addr(&fra)])).await;
    // A member is a node listed in a record in force: both publish one.
    publish(&fra.handle(), "technical", "CERT-FR").await;
    publish(&deu.handle(), "technical", "CERT-Bund").await;
    converged(&[fra.handle(), deu.handle()], 6).await;
    let socket = a.data.join(SOCKET_FILE);
    let healthy = poll_until("FRA to be healthy", || async {
        let (status, body) = raw(&socket, &get("/health")).await;
        (status == 200).then_some(body)
    })
    .await;
    assert_eq!(healthy["reasons"], serde_json::json!([]));
    assert_eq!(healthy["connected_members"], 1);
    let store = fra.handle();
    assert!(store.health().await.unwrap().healthy);
    for node in [fra, deu] {
        node.shutdown().await.unwrap();
    }
}
