//! The deliver protocol between two real swarms on loopback: receipts and
//! refusals round-trip through the node-side answer path, strangers are
//! refused by the network itself, bounds are checked before sending, and
//! many envelopes can be in flight at once.

mod common;

use common::*;
use hotline_crypto::{MAX_ENVELOPE_BYTES, MAX_RECEIPT_BYTES};
use hotline_net::sync::ProtocolError;
use hotline_net::{DeliverRequest, DeliverResponse, Multiaddr, NetError, NetEvent, NetworkHandle, PeerId};
use std::time::Duration;
use tokio::sync::mpsc::Receiver;
use tokio::task::JoinHandle;

/// Two nodes that list each other as members, connected over `listen`'s
/// transport.
async fn members_pair_on(net: u8, listen: Multiaddr) -> (Node, Node) {
    let (mut ca, mut cb) = (config(1, network(net)), config(2, network(net)));
    ca.listen = vec![listen.clone()];
    cb.listen = vec![listen];
    let mut a = start(ca).await;
    let mut b = start(cb).await;
    let both = members(&[a.peer, b.peer]);
    a.handle.set_members(both.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    b.handle.set_members(both).await.unwrap_or_else(|e| panic!("{e}"));
    connect(&mut a, &mut b).await;
    (a, b)
}

async fn members_pair(net: u8) -> (Node, Node) {
    members_pair_on(net, tcp()).await
}

fn envelope(bytes: &[u8]) -> DeliverRequest {
    DeliverRequest { envelope: bytes.to_vec() }
}

/// Starts a delivery from `from` to `to` in its own task.
fn deliver(from: &NetworkHandle, to: PeerId, request: DeliverRequest) -> JoinHandle<Result<DeliverResponse, NetError>> {
    let handle = from.clone();
    tokio::spawn(async move { handle.deliver(to, request).await })
}

async fn outcome(task: JoinHandle<Result<DeliverResponse, NetError>>) -> Result<DeliverResponse, NetError> {
    task.await.unwrap_or_else(|e| panic!("delivery task: {e}"))
}

/// The receiving node: waits for one envelope from `from`, checks it is
/// `expected`, and answers with `answer`.
async fn answer_one(node: &mut Node, from: PeerId, expected: &DeliverRequest, answer: DeliverResponse) {
    let (request, reply) = wait_for(&mut node.events, "deliver", |e| match e {
        NetEvent::Deliver { peer, request, reply, .. } if peer == from => Some((request, reply)),
        _ => None,
    })
    .await;
    assert_eq!(&request, expected);
    assert_eq!(reply.peer(), from);
    node.handle.respond_deliver(reply, answer).await.unwrap_or_else(|e| panic!("respond: {e}"));
}

fn drain(events: &mut Receiver<NetEvent>) -> Vec<NetEvent> {
    let mut out = Vec::new();
    while let Ok(e) = events.try_recv() {
        out.push(e);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_gets_the_receipt_or_the_refusal() {
    let (a, mut b) = members_pair(11).await;

    // Receipt.
    let request = envelope(&[1, 0xde, 0xad, 0xbe, 0xef]);
    let sending = deliver(&a.handle, b.peer, request.clone());
    let receipt = DeliverResponse::Receipt(vec![0x5a; 200]);
    answer_one(&mut b, a.peer, &request, receipt.clone()).await;
    assert_eq!(outcome(sending).await.ok(), Some(receipt));

    // The largest envelope and receipt cross too.
    let request = DeliverRequest { envelope: vec![0xe7; MAX_ENVELOPE_BYTES] };
    let sending = deliver(&a.handle, b.peer, request.clone());
    let receipt = DeliverResponse::Receipt(vec![0x3c; MAX_RECEIPT_BYTES]);
    answer_one(&mut b, a.peer, &request, receipt.clone()).await;
    assert_eq!(outcome(sending).await.ok(), Some(receipt));

    // A typed refusal comes back as a value, not an error.
    let request = envelope(&[2; 64]);
    let sending = deliver(&a.handle, b.peer, request.clone());
    let refusal = DeliverResponse::refused("not_for_me", "sealed to another node");
    answer_one(&mut b, a.peer, &request, refusal.clone()).await;
    assert_eq!(outcome(sending).await.ok(), Some(refusal));

    // An envelope the node drops unanswered fails on the sender's side.
    let sending = deliver(&a.handle, b.peer, envelope(&[3]));
    wait_for(&mut b.events, "dropped deliver", |e| matches!(e, NetEvent::Deliver { .. }).then_some(())).await;
    let result = outcome(sending).await;
    assert!(matches!(result, Err(NetError::Deliver { peer, .. }) if peer == b.peer), "{result:?}");

    // An answer out of bounds is refused before sending; the request fails.
    let sending = deliver(&a.handle, b.peer, envelope(&[4]));
    let reply = wait_for(&mut b.events, "deliver", |e| match e {
        NetEvent::Deliver { reply, .. } => Some(reply),
        _ => None,
    })
    .await;
    let bad = DeliverResponse::Refused { code: "Bad Code".into(), detail: String::new() };
    let sent = b.handle.respond_deliver(reply, bad).await;
    assert!(matches!(sent, Err(NetError::Protocol(ProtocolError::BadRefusalCode { .. }))), "{sent:?}");
    assert!(matches!(outcome(sending).await, Err(NetError::Deliver { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stranger_is_refused_by_the_network_without_reaching_the_node() {
    let net = network(12);
    // A's member set stays empty: B is a stranger, inside its grace window
    // (10 s by default) for the whole test.
    let mut a = start(config(1, net)).await;
    let b = start(config(2, net)).await;
    b.handle.set_members(members(&[a.peer])).await.unwrap_or_else(|e| panic!("{e}"));
    b.handle.dial(a.addr.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    wait_for(&mut a.events, "stranger connects", connected_to(b.peer)).await;

    // A connection with a non-member does not offer the deliver protocol:
    // the stream fails at negotiation, before any byte of the envelope is
    // read by A.
    let result = b.handle.deliver(a.peer, envelope(&[7; 32])).await;
    match result {
        Err(NetError::Deliver { reason, .. }) => assert!(reason.contains("protocols"), "{reason}"),
        other => panic!("stranger's envelope not refused: {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let late: Vec<_> = drain(&mut a.events).into_iter().filter(|e| matches!(e, NetEvent::Deliver { .. })).collect();
    assert!(late.is_empty(), "{late:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_envelopes_and_refused_peers_fail_before_sending() {
    let (a, mut b) = members_pair(13).await;

    let too_big = DeliverRequest { envelope: vec![0; MAX_ENVELOPE_BYTES + 1] };
    let result = a.handle.deliver(b.peer, too_big).await;
    assert!(
        matches!(result, Err(NetError::Protocol(ProtocolError::FieldTooLarge { what: "envelope", .. }))),
        "{result:?}"
    );

    // A peer with no known address: the lookup starts and this attempt
    // fails at once rather than hanging.
    let unknown = PeerId::random();
    let result = tokio::time::timeout(DEADLINE, a.handle.deliver(unknown, envelope(&[1]))).await;
    assert!(matches!(result, Ok(Err(NetError::Deliver { peer, .. })) if peer == unknown), "{result:?}");

    // Delivering to oneself is refused, not attempted.
    let result = a.handle.deliver(a.peer, envelope(&[1])).await;
    assert!(matches!(result, Err(NetError::Deliver { .. })), "{result:?}");

    // A blocked peer is refused locally.
    a.handle.block(b.peer).await.unwrap_or_else(|e| panic!("{e}"));
    let result = a.handle.deliver(b.peer, envelope(&[1])).await;
    assert!(matches!(result, Err(NetError::Blocked(p)) if p == b.peer), "{result:?}");

    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen: Vec<_> = drain(&mut b.events).into_iter().filter(|e| matches!(e, NetEvent::Deliver { .. })).collect();
    assert!(seen.is_empty(), "{seen:?}");
}

/// Runs B's node: answers every envelope with a receipt derived from it,
/// until `count` were answered. Returns B's event stream.
fn answer_all(node: Node, count: usize) -> JoinHandle<Receiver<NetEvent>> {
    let Node { handle, mut events, .. } = node;
    tokio::spawn(async move {
        let mut answered = 0;
        while answered < count {
            let event = tokio::time::timeout(DEADLINE, events.recv()).await;
            match event {
                Ok(Some(NetEvent::Deliver { request, reply, .. })) => {
                    let mut receipt = b"receipt:".to_vec();
                    receipt.extend_from_slice(&request.envelope);
                    handle
                        .respond_deliver(reply, DeliverResponse::Receipt(receipt))
                        .await
                        .unwrap_or_else(|e| panic!("respond: {e}"));
                    answered += 1;
                }
                Ok(Some(_)) => {}
                Ok(None) => panic!("event stream ended after {answered} envelopes"),
                Err(_) => panic!("timed out after {answered} of {count} envelopes"),
            }
        }
        events
    })
}

async fn deliver_many(from: &NetworkHandle, to: PeerId, count: u32) {
    let tasks: Vec<_> = (0..count).map(|i| deliver(from, to, envelope(&i.to_be_bytes()))).collect();
    for (i, task) in (0..count).zip(tasks) {
        let mut expected = b"receipt:".to_vec();
        expected.extend_from_slice(&i.to_be_bytes());
        let result = outcome(task).await;
        assert_eq!(result.ok(), Some(DeliverResponse::Receipt(expected)), "delivery {i}");
    }
}

async fn many_concurrent_deliveries(net: u8, listen: Multiaddr) {
    const N: u32 = 200;
    let (mut a, b) = members_pair_on(net, listen).await;
    let (b_handle, b_peer) = (b.handle.clone(), b.peer);

    // Connected: 200 streams at once on one connection.
    let answering = answer_all(b, 2 * N as usize);
    deliver_many(&a.handle, b_peer, N).await;

    // Disconnected, with B's address known: the first delivery dials, the
    // others wait for that connection instead of failing.
    b_handle.block(a.peer).await.unwrap_or_else(|e| panic!("{e}"));
    wait_for(&mut a.events, "B drops A", disconnected_from(b_peer)).await;
    b_handle.unblock(a.peer).await.unwrap_or_else(|e| panic!("{e}"));
    deliver_many(&a.handle, b_peer, N).await;

    let _events = answering.await.unwrap_or_else(|e| panic!("answering task: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_deliveries_all_complete_over_tcp() {
    many_concurrent_deliveries(14, tcp()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_deliveries_all_complete_over_quic() {
    many_concurrent_deliveries(15, quic()).await;
}
