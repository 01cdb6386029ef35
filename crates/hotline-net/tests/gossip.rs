//! Directory gossip between members: publish, validation verdicts,
//! forwarding after `Accept`, and the penalty after `Reject`.

mod common;

use common::*;
use hotline_core::keys::sha256;
use hotline_net::{MessageId, NetEvent, PeerId, Verdict};
use std::time::Duration;
use tokio::time::timeout;

struct Gossip {
    id: MessageId,
    from: PeerId,
    data: Vec<u8>,
}

fn gossip(e: NetEvent) -> Option<Gossip> {
    match e {
        NetEvent::Gossip { message_id, propagation_source, data } => {
            Some(Gossip { id: message_id, from: propagation_source, data })
        }
        _ => None,
    }
}

/// Waits until `node` knows `peer` subscribes to the directory topic.
async fn wait_subscribed(node: &Node, peer: PeerId) {
    poll_until("topic subscription", || async {
        node.handle.gossip_peers().await.ok().filter(|p| p.contains(&peer)).map(|_| ())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_reaches_members_and_accept_forwards_it() {
    let net = network(7);
    let mut a = start(config(1, net)).await;
    let mut b = start(config(2, net)).await;
    let mut c = start(config(3, net)).await;
    let all = members(&[a.peer, b.peer, c.peer]);
    for n in [&a, &b, &c] {
        n.handle.set_members(all.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    }
    // A chain: A — B — C. C hears A's objects only if B accepts and forwards.
    connect(&mut a, &mut b).await;
    connect(&mut c, &mut b).await;
    wait_subscribed(&a, b.peer).await;
    wait_subscribed(&b, c.peer).await;

    // B joins C into its mesh at a heartbeat; until then a forwarded message
    // may not reach C. Each round publishes a new object, so the loop ends
    // as soon as the mesh is up (normally the first or second round).
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut round = 0u32;
    let at_c = loop {
        assert!(tokio::time::Instant::now() < deadline, "C never received a forwarded object");
        round += 1;
        let data = format!("object {round}").into_bytes();
        a.handle.publish(data.clone()).await.unwrap_or_else(|e| panic!("publish: {e}"));

        let at_b = wait_for(&mut b.events, "gossip at B", gossip).await;
        assert_eq!(at_b.data, data);
        assert_eq!(at_b.from, a.peer);
        // Content-addressed message id.
        assert_eq!(at_b.id, MessageId::new(&sha256(&data)));
        b.handle.report_gossip(at_b.id, at_b.from, Verdict::Accept).await.unwrap_or_else(|e| panic!("{e}"));

        let waited = timeout(Duration::from_secs(2), async {
            loop {
                match c.events.recv().await {
                    Some(e) => {
                        if let Some(g) = gossip(e) {
                            return g;
                        }
                    }
                    None => panic!("C's event stream ended"),
                }
            }
        })
        .await;
        if let Ok(g) = waited {
            break g;
        }
    };
    assert_eq!(at_c.from, b.peer, "C got the object from B, its only neighbour");
    assert!(at_c.data.starts_with(b"object "));

    // Publishing the same bytes again is not an error (content-addressed
    // duplicate), and neither is publishing with nobody listening.
    a.handle.publish(at_c.data.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    for n in [&a, &b, &c] {
        n.handle.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_gossip_penalises_the_sender() {
    let net = network(8);
    let mut a = start(config(1, net)).await;
    let mut b = start(config(2, net)).await;
    let all = members(&[a.peer, b.peer]);
    a.handle.set_members(all.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    b.handle.set_members(all).await.unwrap_or_else(|e| panic!("{e}"));
    connect(&mut a, &mut b).await;
    wait_subscribed(&a, b.peer).await;

    a.handle.publish(b"forged object".to_vec()).await.unwrap_or_else(|e| panic!("{e}"));
    let g = wait_for(&mut b.events, "gossip at B", gossip).await;
    b.handle.report_gossip(g.id, g.from, Verdict::Reject).await.unwrap_or_else(|e| panic!("{e}"));

    let score = poll_until("A's score at B drops", || async {
        let peers = b.handle.connected_peers().await.ok()?;
        let score = peers.iter().find(|p| p.peer == a.peer)?.gossip_score?;
        (score < 0.0).then_some(score)
    })
    .await;
    assert!(score <= -10.0, "one rejected object should cost at least the gossip threshold, got {score}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_succeeds_alone_and_with_gossip_off() {
    let alone = start(config(1, network(9))).await;
    alone.handle.publish(b"nobody listens".to_vec()).await.unwrap_or_else(|e| panic!("{e}"));

    let mut cfg = config(2, network(9));
    cfg.gossip = false;
    let mut quiet = start(cfg).await;
    quiet.handle.publish(b"gossip is off".to_vec()).await.unwrap_or_else(|e| panic!("{e}"));
    let mut alone = alone;
    let both = members(&[alone.peer, quiet.peer]);
    alone.handle.set_members(both.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    quiet.handle.set_members(both).await.unwrap_or_else(|e| panic!("{e}"));
    connect(&mut alone, &mut quiet).await;
    assert!(quiet.handle.gossip_peers().await.unwrap_or_else(|e| panic!("{e}")).is_empty());
    // Oversized objects are refused, not silently dropped.
    let big = vec![0u8; hotline_net::MAX_GOSSIP_BYTES + 1];
    assert!(alone.handle.publish(big).await.is_err());
}
