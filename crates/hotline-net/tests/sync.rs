//! Two real swarms connect and sync requests round-trip through the
//! node-side answer path, over TCP and over QUIC.

mod common;

use common::*;
use hotline_core::{ObjectHash, ObjectKey, Role, StateCode};
use hotline_net::{Multiaddr, NetError, NetEvent, SyncRequest, SyncResponse};

fn fra() -> StateCode {
    "FRA".parse().unwrap_or_else(|e| panic!("{e}"))
}

/// B's "node": waits for one sync request from `from` and answers it with
/// `answer(request)`.
async fn answer_one(node: &mut Node, from: hotline_net::PeerId, answer: impl FnOnce(SyncRequest) -> SyncResponse) {
    let (request, reply) = wait_for(&mut node.events, "sync request", |e| match e {
        NetEvent::SyncRequest { peer, request, reply, .. } if peer == from => Some((request, reply)),
        _ => None,
    })
    .await;
    assert_eq!(reply.peer(), from);
    node.handle.respond_sync(reply, answer(request)).await.unwrap_or_else(|e| panic!("respond: {e}"));
}

async fn round_trips(listen: Multiaddr) {
    let net = network(1);
    let (mut ca, mut cb) = (config(1, net), config(2, net));
    ca.listen = vec![listen.clone()];
    cb.listen = vec![listen];
    let mut a = start(ca).await;
    let mut b = start(cb).await;
    // The libp2p identity is the node key: PeerId == NodeId::to_peer_id().
    assert_eq!(a.peer.to_base58(), key(1).node_id().to_peer_id());
    assert_eq!(b.peer.to_string(), key(2).node_id().to_peer_id());
    a.handle.set_members(members(&[b.peer])).await.unwrap_or_else(|e| panic!("{e}"));
    b.handle.set_members(members(&[a.peer])).await.unwrap_or_else(|e| panic!("{e}"));
    connect(&mut a, &mut b).await;

    // Digest → Digest.
    let ours = vec![(ObjectKey::Admission(fra()), 1, ObjectHash([1; 32]))];
    let theirs = vec![
        (ObjectKey::Admission(fra()), 2, ObjectHash([2; 32])),
        (ObjectKey::Record(fra(), Role::policy()), 3, ObjectHash([3; 32])),
    ];
    let handle = a.handle.clone();
    let (peer_b, sent) = (b.peer, ours.clone());
    let asking = tokio::spawn(async move { handle.sync_request(peer_b, SyncRequest::Digest(sent)).await });
    let reply_digest = theirs.clone();
    answer_one(&mut b, a.peer, |request| {
        assert_eq!(request, SyncRequest::Digest(ours));
        SyncResponse::Digest(reply_digest)
    })
    .await;
    let response = asking.await.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("sync: {e}"));
    assert_eq!(response, SyncResponse::Digest(theirs));

    // Fetch → Objects, the other way round.
    let handle = b.handle.clone();
    let peer_a = a.peer;
    let asking = tokio::spawn(async move {
        handle.sync_request(peer_a, SyncRequest::Fetch(vec![ObjectKey::Admission(fra())])).await
    });
    answer_one(&mut a, b.peer, |request| {
        assert!(matches!(request, SyncRequest::Fetch(ref k) if k.len() == 1));
        SyncResponse::Objects(vec![vec![1, 2, 3]])
    })
    .await;
    let response = asking.await.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("sync: {e}"));
    assert_eq!(response, SyncResponse::Objects(vec![vec![1, 2, 3]]));

    // A request the node drops unanswered fails on the asker's side.
    let handle = a.handle.clone();
    let asking = tokio::spawn(async move { handle.sync_request(peer_b, SyncRequest::Push(vec![vec![9]])).await });
    wait_for(&mut b.events, "push request", |e| matches!(e, NetEvent::SyncRequest { .. }).then_some(())).await;
    let result = asking.await.unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(result, Err(NetError::Sync { .. })), "{result:?}");

    // An out-of-bounds request never leaves the node.
    let too_many = SyncRequest::Fetch(vec![ObjectKey::Admission(fra()); 10_000]);
    assert!(matches!(a.handle.sync_request(b.peer, too_many).await, Err(NetError::Protocol(_))));

    // Peers see each other, with addresses and membership.
    let peers = a.handle.connected_peers().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(peers.iter().any(|p| p.peer == b.peer && p.member && !p.addrs.is_empty()), "{peers:?}");

    // Shutdown stops the task and ends the event stream.
    a.handle.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(a.handle.listen_addrs().await, Err(NetError::Stopped)));
    wait_for(&mut b.events, "B sees A leave", disconnected_from(a.peer)).await;
    let ended = tokio::time::timeout(DEADLINE, async { while a.events.recv().await.is_some() {} }).await;
    assert!(ended.is_ok(), "A's event stream did not end");
    b.handle.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_round_trips_over_tcp() {
    round_trips(tcp()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_round_trips_over_quic() {
    round_trips(quic()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_of_another_network_are_dropped() {
    let mut a = start(config(1, network(1))).await;
    let b = start(config(2, network(2))).await;
    // Even as "members", peers of different networks share no protocol:
    // identify shows the other network id and the connection is closed.
    a.handle.set_members(members(&[b.peer])).await.unwrap_or_else(|e| panic!("{e}"));
    b.handle.set_members(members(&[a.peer])).await.unwrap_or_else(|e| panic!("{e}"));
    a.handle.dial(b.addr.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    wait_for(&mut a.events, "connection", connected_to(b.peer)).await;
    wait_for(&mut a.events, "disconnection", disconnected_from(b.peer)).await;
    let result = a.handle.sync_request(b.peer, SyncRequest::Digest(vec![])).await;
    assert!(result.is_err(), "{result:?}");
}

#[test]
fn spawn_outside_a_runtime_fails_cleanly() {
    let result = hotline_net::Network::spawn(config(1, network(1))).map(|_| ());
    assert!(matches!(result, Err(NetError::NoRuntime)));
}
