//! Connection gating: strangers get a grace window and then are cut off,
//! their gossip never reaches the node, and blocked peers cannot connect.

mod common;

use common::*;
use hotline_net::{NetEvent, PeerId, SyncRequest, SyncResponse};
use std::time::Duration;
use tokio::sync::mpsc::Receiver;

/// Drains whatever events are already queued.
fn drain(events: &mut Receiver<NetEvent>) -> Vec<NetEvent> {
    let mut out = Vec::new();
    while let Ok(e) = events.try_recv() {
        out.push(e);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stranger_is_disconnected_after_grace_and_its_gossip_never_arrives() {
    let net = network(3);
    let mut ca = config(1, net);
    // Long enough for B to see A's subscription and publish while still
    // connected, on a loaded machine too.
    ca.grace = Duration::from_secs(5);
    let mut a = start(ca).await; // A's member set stays empty: B is a stranger.
    let b = start(config(2, net)).await;
    b.handle.set_members(members(&[a.peer])).await.unwrap_or_else(|e| panic!("{e}"));

    b.handle.dial(a.addr.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    wait_for(&mut a.events, "stranger connects", connected_to(b.peer)).await;

    // B (which thinks A is a member) gossips to A during the grace window.
    poll_until("B sees A subscribed", || async {
        b.handle.gossip_peers().await.ok().filter(|p| p.contains(&a.peer)).map(|_| ())
    })
    .await;
    for i in 0..5 {
        b.handle.publish(format!("stranger object {i}").into_bytes()).await.unwrap_or_else(|e| panic!("{e}"));
    }

    // A cuts B off when the window ends; nothing B gossiped reached A's node.
    let mut seen_gossip = Vec::new();
    wait_for(&mut a.events, "stranger disconnected", |e| match e {
        NetEvent::PeerDisconnected { peer } if peer == b.peer => Some(()),
        NetEvent::Gossip { propagation_source, .. } => {
            seen_gossip.push(propagation_source);
            None
        }
        _ => None,
    })
    .await;
    assert!(seen_gossip.is_empty(), "stranger gossip reached the node: {seen_gossip:?}");

    // While it cools down, it can neither reconnect nor sync.
    let result = b.handle.sync_request(a.peer, SyncRequest::Digest(vec![])).await;
    assert!(result.is_err(), "stranger synced after its grace window: {result:?}");
    let peers = a.handle.connected_peers().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(peers.iter().all(|p| p.peer != b.peer), "{peers:?}");
    let late: Vec<_> = drain(&mut a.events)
        .into_iter()
        .filter(|e| {
            matches!(e, NetEvent::PeerConnected { peer, .. } | NetEvent::SyncRequest { peer, .. } if *peer == b.peer)
                || matches!(e, NetEvent::Gossip { .. })
        })
        .collect();
    assert!(late.is_empty(), "{late:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stranger_may_sync_in_its_grace_window_and_stays_once_admitted() {
    let net = network(4);
    let mut ca = config(1, net);
    ca.grace = Duration::from_secs(3);
    let mut a = start(ca).await;
    let b = start(config(2, net)).await;
    let grace_end = tokio::time::Instant::now() + Duration::from_secs(3);
    b.handle.dial(a.addr.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    wait_for(&mut a.events, "stranger connects", connected_to(b.peer)).await;

    // B presents its "admission and record"; A's node accepts them and
    // makes B a member, as hotline-node does after Directory::apply.
    let handle = b.handle.clone();
    let peer_a = a.peer;
    let pushing = tokio::spawn(async move { handle.sync_request(peer_a, SyncRequest::Push(vec![vec![1]])).await });
    let reply = wait_for(&mut a.events, "push from stranger", |e| match e {
        NetEvent::SyncRequest { peer, request: SyncRequest::Push(_), reply, .. } if peer == b.peer => Some(reply),
        _ => None,
    })
    .await;
    a.handle.set_members(members(&[b.peer])).await.unwrap_or_else(|e| panic!("{e}"));
    a.handle.respond_sync(reply, SyncResponse::Ack).await.unwrap_or_else(|e| panic!("{e}"));
    let acked = pushing.await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(acked.ok(), Some(SyncResponse::Ack));

    // Past the original window, B is still connected and still syncs.
    tokio::time::sleep_until(grace_end + Duration::from_millis(500)).await;
    let handle = b.handle.clone();
    let asking = tokio::spawn(async move { handle.sync_request(peer_a, SyncRequest::Digest(vec![])).await });
    let reply = wait_for(&mut a.events, "digest from new member", |e| match e {
        NetEvent::PeerDisconnected { peer } if peer == b.peer => panic!("new member was disconnected"),
        NetEvent::SyncRequest { peer, reply, .. } if peer == b.peer => Some(reply),
        _ => None,
    })
    .await;
    a.handle.respond_sync(reply, SyncResponse::Digest(vec![])).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(asking.await.unwrap_or_else(|e| panic!("{e}")).ok(), Some(SyncResponse::Digest(vec![])));
    let peers = a.handle.connected_peers().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(peers.iter().any(|p| p.peer == b.peer && p.member), "{peers:?}");
}

async fn assert_cannot_reach(from: &Node, to: PeerId) {
    let result = from.handle.sync_request(to, SyncRequest::Digest(vec![])).await;
    assert!(result.is_err(), "blocked peer got through: {result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_peer_cannot_connect() {
    let net = network(5);
    let mut a = start(config(1, net)).await;
    let mut b = start(config(2, net)).await;
    let both = members(&[a.peer, b.peer]);
    a.handle.set_members(both.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    b.handle.set_members(both).await.unwrap_or_else(|e| panic!("{e}"));

    // Blocked before any connection: B's dial is refused by A.
    a.handle.block(b.peer).await.unwrap_or_else(|e| panic!("{e}"));
    b.handle.dial(a.addr.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_cannot_reach(&b, a.peer).await;
    // A refuses to dial B too.
    assert!(a.handle.dial_peer(b.peer).await.is_err());
    assert!(a.handle.connected_peers().await.unwrap_or_else(|e| panic!("{e}")).is_empty());
    let seen: Vec<_> = drain(&mut a.events)
        .into_iter()
        .filter(|e| matches!(e, NetEvent::PeerConnected { .. } | NetEvent::SyncRequest { .. }))
        .collect();
    assert!(seen.is_empty(), "{seen:?}");

    // Unblocked: they connect.
    a.handle.unblock(b.peer).await.unwrap_or_else(|e| panic!("{e}"));
    connect(&mut b, &mut a).await;

    // Blocking a connected member cuts the link at once (partition tests).
    a.handle.block(b.peer).await.unwrap_or_else(|e| panic!("{e}"));
    wait_for(&mut a.events, "blocked member dropped", disconnected_from(b.peer)).await;
    assert_cannot_reach(&b, a.peer).await;
}
