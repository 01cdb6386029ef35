//! The fixture builder of the node's tests and the CLI's (feature
//! `testkit`): real stores in temp dirs, real nodes on 127.0.0.1 port 0,
//! and waits that always have a deadline. It may panic: it is for tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::api_types::NodeEvent;
use crate::{Clock, Multiaddr, Node, NodeHandle, NodeOptions, PeerId, RunningNode};
use hotline_core::testkit::{T0, World};
use hotline_core::time::DAY;
use hotline_core::{
    Admission, Availability, DirectoryObject, NodeId, ObjectKey, Outcome, RecordDraft, SecretKey, SignedAdmission,
    StateCode,
};
use hotline_net::node_id_of;
use hotline_store::config::CONFIG_FILE;
use hotline_store::{HistoryEntry, NodeConfig, NodeKeys, Store, WriteBatch};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;

/// How long any single wait may take before the test fails. Generous so a
/// loaded machine does not make the tests flaky; a passing wait returns as
/// soon as its condition holds.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The directory clock of every test node: a day after the fixtures'
/// objects were issued, whatever the machine's date.
pub fn clock() -> Clock {
    Clock::starting_at(T0.plus(DAY))
}

/// A test network: its stewards and charter, and a temp dir for data dirs.
pub struct TestNet {
    /// The stewards, the charter and the fixtures' clock.
    pub world: World,
    /// Where the nodes' data directories go; removed when dropped.
    pub root: tempfile::TempDir,
}

/// A node's data dir, prepared but not started.
pub struct Prepared {
    /// The data directory.
    pub data: PathBuf,
    /// The state the node speaks for.
    pub state: StateCode,
    /// The state's signing key.
    pub state_key: SecretKey,
    /// The node's id.
    pub node: NodeId,
}

impl TestNet {
    /// A network named `name`, with a fresh temp dir.
    pub fn new(name: &str) -> TestNet {
        TestNet { world: World::new(name), root: tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}")) }
    }

    /// Creates a node's store and keys; with `admitted`, imports its
    /// admission (signed by two stewards) as `hotline init` would.
    pub fn prepare(&self, name: &str, state: &str, admitted: bool) -> Prepared {
        let data = self.root.path().join(name);
        let state: StateCode = state.parse().unwrap_or_else(|e| panic!("{e}"));
        let store = Store::create(&data, &self.world.charter, state).unwrap_or_else(|e| panic!("create: {e}"));
        let keys = NodeKeys::generate_into(&data).unwrap_or_else(|e| panic!("keys: {e}"));
        if admitted {
            let admission = self.admission(state, keys.state.as_ref().unwrap_or_else(|| panic!("no state key")));
            let mut dir = store.load_directory().unwrap_or_else(|e| panic!("{e}"));
            let now = clock().now();
            let applied = match dir.apply(DirectoryObject::Admission(admission), now) {
                Ok(Outcome::Applied(a)) => a,
                other => panic!("admission not applied: {other:?}"),
            };
            let mut batch = WriteBatch::new();
            batch.record_applied(&applied, &dir, now);
            store.write(batch).unwrap_or_else(|e| panic!("{e}"));
        }
        let mut config = NodeConfig::new(state);
        config.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
        config.save(&data.join(CONFIG_FILE)).unwrap_or_else(|e| panic!("{e}"));
        let state_key = keys.state.unwrap_or_else(|| panic!("generate_into gives a state key"));
        Prepared { data, state, state_key, node: keys.node.node_id() }
    }

    /// An admission of `state` with `key`, signed by stewards 0 and 1.
    pub fn admission(&self, state: StateCode, key: &SecretKey) -> SignedAdmission {
        let mut a = SignedAdmission::unsigned(Admission {
            state,
            state_key: key.public(),
            seq: 1,
            issued_at: T0,
            expires: None,
        });
        for steward in &self.world.stewards[..2] {
            a.sign(&self.world.charter.charter, steward).unwrap_or_else(|e| panic!("{e}"));
        }
        a
    }
}

/// A clock the nodes of one test share, and the offset (seconds) that moves
/// it forward: time rules are tested by setting the offset, never by sleeping.
pub fn adjustable_clock() -> (Clock, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    let offset = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let base = clock();
    let read = std::sync::Arc::clone(&offset);
    (Clock::from_fn(move || base.now().plus(read.load(std::sync::atomic::Ordering::SeqCst))), offset)
}

/// Test timings: quick syncs and redials, a grace window long enough for a
/// loaded machine.
pub fn options(bootstrap: &[Multiaddr]) -> NodeOptions {
    NodeOptions {
        bootstrap: Some(bootstrap.to_vec()),
        sync_interval: Some(Duration::from_secs(2)),
        grace: Some(Duration::from_secs(8)),
        stranger_cooldown: Some(Duration::from_secs(2)),
        redial_interval: Duration::from_millis(300),
        clock: clock(),
        ..NodeOptions::default()
    }
}

/// Starts the prepared node with `options` (logs with `HOTLINE_TEST_LOG`).
pub async fn start(prepared: &Prepared, options: NodeOptions) -> RunningNode {
    // `HOTLINE_TEST_LOG=debug cargo test …` shows the nodes' logs.
    if let Ok(level) = std::env::var("HOTLINE_TEST_LOG") {
        let _ = crate::init_logging(&level, hotline_store::LogFormat::Text);
    }
    Node::start(&prepared.data, options).await.unwrap_or_else(|e| panic!("start {}: {e}", prepared.data.display()))
}

/// A valid draft for `role`, naming `node` as the node that speaks for it.
pub fn draft(role: &str, node: NodeId, organization: &str) -> RecordDraft {
    RecordDraft {
        role: role.parse().unwrap_or_else(|e| panic!("{e}")),
        organization: organization.into(),
        position: "Head of incident response".into(),
        emails: vec![format!("{role}@cert.example")],
        phones: vec!["+33 1 23 45 67 89".into()],
        phone_24x7: Some("+33 6 00 00 00 00".into()),
        timezone: "Europe/Paris".into(),
        availability: Availability::TwentyFourSeven,
        languages: vec!["en".into()],
        nodes: vec![node],
        person_name: None,
        other_channels: vec![],
        postal_address: None,
        openpgp_fingerprint: None,
        linked_cert: None,
        memberships: vec![],
        alternates: vec![],
        nomination_ref: None,
        accepted_message_types: vec![],
        default_tlp: None,
    }
}

/// The node id of an Ed25519 peer id.
pub fn node_of(peer: PeerId) -> NodeId {
    node_id_of(&peer).unwrap_or_else(|| panic!("{peer} is not an Ed25519 peer id"))
}

/// Publishes this node's record for `role`.
pub async fn publish(handle: &NodeHandle, role: &str, organization: &str) -> crate::api_types::RecordEntry {
    handle
        .publish_record(draft(role, node_of(handle.peer_id()), organization), None)
        .await
        .unwrap_or_else(|e| panic!("publish {role}: {e}"))
}

/// Polls `check` until it returns `Some`, failing after [`DEADLINE`].
pub async fn poll_until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(t) = check().await {
            return t;
        }
        if Instant::now() >= end {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for the first event `pick` accepts.
pub async fn wait_event<T>(
    events: &mut broadcast::Receiver<NodeEvent>,
    what: &str,
    mut pick: impl FnMut(&NodeEvent) -> Option<T>,
) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Ok(event)) => {
                if let Some(t) = pick(&event) {
                    return t;
                }
            }
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(broadcast::error::RecvError::Closed)) => panic!("event stream closed while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

/// Waits until every node holds the same live directory of `objects`
/// objects, and returns its digest hash.
pub async fn converged(handles: &[NodeHandle], objects: usize) -> hotline_core::ObjectHash {
    poll_until(&format!("{} nodes to converge on {objects} objects", handles.len()), || async {
        let mut first = None;
        for h in handles {
            let status = h.status().await.ok()?;
            if status.live_objects != objects {
                return None;
            }
            match first {
                None => first = Some(status.digest_hash),
                Some(d) if d == status.digest_hash => {}
                Some(_) => return None,
            }
        }
        first
    })
    .await
}

/// Waits until `handle` holds `key` at `seq`.
pub async fn holds(handle: &NodeHandle, state: StateCode, role: &str, seq: u64) {
    let role: hotline_core::Role = role.parse().unwrap_or_else(|e| panic!("{e}"));
    poll_until(&format!("{} to hold {state}/{role} seq {seq}", handle.peer_id()), || async {
        handle.record(state, role.clone()).await.ok().filter(|r| r.seq == seq).map(|_| ())
    })
    .await
}

/// Waits until each node has an open connection to every other.
pub async fn full_mesh(handles: &[NodeHandle]) {
    for h in handles {
        let others: Vec<String> =
            handles.iter().filter(|o| o.peer_id() != h.peer_id()).map(|o| o.peer_id().to_string()).collect();
        poll_until("a full mesh", || async {
            let peers = h.peers().await.ok()?;
            others.iter().all(|o| peers.iter().any(|p| &p.peer_id == o && p.member)).then_some(())
        })
        .await;
    }
}

/// Every object a stopped node's store ever accepted into `key`.
pub fn stored_history(data: &Path, key: &ObjectKey) -> Vec<HistoryEntry> {
    let store = Store::open(data).unwrap_or_else(|e| panic!("reopen {}: {e}", data.display()));
    store.history(key).unwrap_or_else(|e| panic!("{e}"))
}

/// The first address `node` listens on.
pub fn first_addr(node: &RunningNode) -> Multiaddr {
    node.listen_addrs().first().cloned().unwrap_or_else(|| panic!("node listens nowhere"))
}
