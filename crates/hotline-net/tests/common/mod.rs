//! Helpers for the network tests: real swarms on 127.0.0.1, port 0, and
//! waits that always have a deadline.

#![allow(dead_code)]

use hotline_core::{NetworkId, SecretKey};
use hotline_net::{Multiaddr, NetConfig, NetEvent, Network, NetworkHandle, PeerId};
use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

/// How long any single wait may take before the test fails. Generous, so
/// a loaded CI machine does not make the tests flaky; a passing test
/// returns as soon as the awaited event arrives.
pub(crate) const DEADLINE: Duration = Duration::from_secs(20);

pub(crate) fn network(n: u8) -> NetworkId {
    NetworkId([n; 32])
}

pub(crate) fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

pub(crate) fn tcp() -> Multiaddr {
    "/ip4/127.0.0.1/tcp/0".parse().unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) fn quic() -> Multiaddr {
    "/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap_or_else(|e| panic!("{e}"))
}

/// A config listening on loopback TCP.
pub(crate) fn config(n: u8, net: NetworkId) -> NetConfig {
    let mut c = NetConfig::new(&key(n), net);
    c.listen = vec![tcp()];
    c
}

pub(crate) struct Node {
    pub handle: NetworkHandle,
    pub events: mpsc::Receiver<NetEvent>,
    pub peer: PeerId,
    /// The first address the node reported listening on.
    pub addr: Multiaddr,
}

/// Starts a node and waits until it listens.
pub(crate) async fn start(config: NetConfig) -> Node {
    let (handle, mut events) = Network::spawn(config).unwrap_or_else(|e| panic!("spawn: {e}"));
    let addr = wait_for(&mut events, "ListeningOn", |e| match e {
        NetEvent::ListeningOn(a) => Some(a),
        _ => None,
    })
    .await;
    Node { peer: handle.local_peer_id(), handle, events, addr }
}

pub(crate) fn members(peers: &[PeerId]) -> BTreeSet<PeerId> {
    peers.iter().copied().collect()
}

/// Waits (with [`DEADLINE`]) for the first event `pick` accepts, dropping
/// the others.
pub(crate) async fn wait_for<T>(
    events: &mut mpsc::Receiver<NetEvent>,
    what: &str,
    mut pick: impl FnMut(NetEvent) -> Option<T>,
) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match timeout(left, events.recv()).await {
            Ok(Some(event)) => {
                if let Some(t) = pick(event) {
                    return t;
                }
            }
            Ok(None) => panic!("event stream ended while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

/// Polls `check` until it returns `Some`, with [`DEADLINE`].
pub(crate) async fn poll_until<T, F, Fut>(what: &str, mut check: F) -> T
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

pub(crate) fn connected_to(peer: PeerId) -> impl FnMut(NetEvent) -> Option<()> {
    move |e| matches!(e, NetEvent::PeerConnected { peer: p, .. } if p == peer).then_some(())
}

pub(crate) fn disconnected_from(peer: PeerId) -> impl FnMut(NetEvent) -> Option<()> {
    move |e| matches!(e, NetEvent::PeerDisconnected { peer: p } if p == peer).then_some(())
}

/// Connects `a` to `b` (both listening) and waits until both see it.
pub(crate) async fn connect(a: &mut Node, b: &mut Node) {
    a.handle.dial(b.addr.clone()).await.unwrap_or_else(|e| panic!("dial: {e}"));
    wait_for(&mut a.events, "outbound connection", connected_to(b.peer)).await;
    wait_for(&mut b.events, "inbound connection", connected_to(a.peer)).await;
}
