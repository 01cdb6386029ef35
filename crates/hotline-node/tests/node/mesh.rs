//! Real nodes converging: five states, a record update, a late joiner that
//! relies on sync alone, a restart on the same data dir, and a partition
//! that heals.

use hotline_core::{ObjectKey, Role};
use hotline_node::RunningNode;
use hotline_node::api_types::NodeEvent;
use hotline_node::testkit::*;
use std::time::Duration;

const STATES: [&str; 5] = ["FRA", "DEU", "EST", "ITA", "ESP"];

/// Starts one node per state, each admitted, all bootstrapping from the
/// first, and has each publish its policy record through its own API.
async fn start_mesh(net: &TestNet, states: &[&str]) -> (Vec<Prepared>, Vec<RunningNode>) {
    let prepared: Vec<Prepared> =
        states.iter().enumerate().map(|(i, s)| net.prepare(&format!("node{i}"), s, true)).collect();
    let mut running = Vec::new();
    for p in &prepared {
        let bootstrap: Vec<_> = running.first().map(first_addr).into_iter().collect();
        running.push(start(p, options(&bootstrap)).await);
    }
    for (node, state) in running.iter().zip(states) {
        publish(&node.handle(), "policy", &format!("{state} CERT")).await;
    }
    (prepared, running)
}

async fn stop_all(nodes: Vec<RunningNode>) {
    for node in nodes {
        node.shutdown().await.unwrap_or_else(|e| panic!("shutdown: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_states_converge_to_identical_digests() {
    let net = TestNet::new("mesh five");
    let (_prepared, nodes) = start_mesh(&net, &STATES).await;
    let handles: Vec<_> = nodes.iter().map(|n| n.handle()).collect();
    // Five admissions, five records and five prekey bundles.
    converged(&handles, 15).await;
    for h in &handles {
        let status = h.status().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status.admitted_states, 5);
        assert_eq!(status.member_nodes, 5, "{status:?}");
        assert_eq!(status.pending, 0);
        assert!(status.rejections.is_empty(), "{:?}", status.rejections);
        assert!(status.sync_exchanges.get("compared").copied().unwrap_or(0) >= 1, "{:?}", status.sync_exchanges);
    }
    // Converged nodes keep syncing (every 2 s here), and those exchanges
    // stop at matching digest summaries.
    for h in &handles {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let status = h.status().await.unwrap_or_else(|e| panic!("{e}"));
            if status.sync_exchanges.get("in_sync").copied().unwrap_or(0) >= 1 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "no exchange found the summaries equal: {status:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    stop_all(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_update_reaches_every_node() {
    let net = TestNet::new("mesh update");
    let (prepared, nodes) = start_mesh(&net, &STATES).await;
    let handles: Vec<_> = nodes.iter().map(|n| n.handle()).collect();
    converged(&handles, 15).await;

    let mut watchers: Vec<_> = handles.iter().map(|h| h.subscribe()).collect();
    let updated = publish(&handles[3], "policy", "ITA CERT, new desk").await;
    assert_eq!(updated.seq, 2);
    let key = ObjectKey::Record(prepared[3].state, Role::policy()).to_string();
    for (h, events) in handles.iter().zip(watchers.iter_mut()) {
        wait_event(events, "the update", |e| match e {
            NodeEvent::DirectoryChanged { key: k, seq: 2, hash, winner: true } if *k == key => Some(*hash),
            _ => None,
        })
        .await;
        let held = h.record(prepared[3].state, Role::policy()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((held.seq, held.hash, held.record.organization.as_str()), (2, updated.hash, "ITA CERT, new desk"));
    }
    converged(&handles, 15).await;
    stop_all(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_node_without_gossip_gets_the_directory_by_sync_alone() {
    let net = TestNet::new("mesh late");
    let (_prepared, mut nodes) = start_mesh(&net, &STATES[..3]).await;
    for n in &nodes {
        publish(&n.handle(), "technical", "CERT technical desk").await;
    }
    let handles: Vec<_> = nodes.iter().map(|n| n.handle()).collect();
    // Three admissions, six records, three prekey bundles.
    converged(&handles, 12).await;

    let late = net.prepare("late", "POL", true);
    let mut opts = options(&[first_addr(&nodes[0])]);
    opts.gossip = false;
    let late_node = start(&late, opts).await;
    let late_handle = late_node.handle();
    assert!(!late_handle.status().await.unwrap_or_else(|e| panic!("{e}")).gossip);
    publish(&late_handle, "policy", "POL CERT").await;
    nodes.push(late_node);

    let all: Vec<_> = nodes.iter().map(|n| n.handle()).collect();
    converged(&all, 15).await;
    stop_all(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_keeps_its_directory_and_rejoins() {
    let net = TestNet::new("mesh restart");
    let (prepared, mut nodes) = start_mesh(&net, &STATES[..3]).await;
    let handles: Vec<_> = nodes.iter().map(|n| n.handle()).collect();
    let before = converged(&handles, 9).await;

    let stopped = nodes.remove(2);
    stopped.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    // While it is down, another state updates its record.
    publish(&nodes[0].handle(), "policy", "FRA CERT, while EST was down").await;

    let restarted = start(&prepared[2], options(&[first_addr(&nodes[0])])).await;
    let h = restarted.handle();
    // What it held before the stop is there at once, before any sync.
    let status = h.status().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(status.live_objects >= 9, "{status:?}");
    let _ = before;
    nodes.push(restarted);

    let all: Vec<_> = nodes.iter().map(|n| n.handle()).collect();
    converged(&all, 9).await;
    holds(&h, prepared[0].state, "policy", 2).await;
    // And it takes part again: its own update reaches the others.
    publish(&h, "policy", "EST CERT, back").await;
    for other in &all[..2] {
        holds(other, prepared[2].state, "policy", 2).await;
    }
    stop_all(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_heals_and_both_sides_converge() {
    let net = TestNet::new("mesh partition");
    let (prepared, nodes) = start_mesh(&net, &STATES[..4]).await;
    let handles: Vec<_> = nodes.iter().map(|n| n.handle()).collect();
    converged(&handles, 12).await;
    full_mesh(&handles).await;

    // {0, 1} | {2, 3}
    let (left, right) = handles.split_at(2);
    for a in left {
        for b in right {
            a.block_peer(b.peer_id()).await.unwrap_or_else(|e| panic!("{e}"));
            b.block_peer(a.peer_id()).await.unwrap_or_else(|e| panic!("{e}"));
        }
    }
    poll_until("the partition", || async {
        for a in left {
            let peers = a.peers().await.ok()?;
            if right.iter().any(|b| peers.iter().any(|p| p.peer_id == b.peer_id().to_string())) {
                return None;
            }
        }
        Some(())
    })
    .await;

    // Each side updates a record; each update spreads on its own side only.
    publish(&left[0], "policy", "FRA CERT, partitioned").await;
    publish(&right[0], "policy", "EST CERT, partitioned").await;
    holds(&left[1], prepared[0].state, "policy", 2).await;
    holds(&right[1], prepared[2].state, "policy", 2).await;
    for b in right {
        let held = b.record(prepared[0].state, Role::policy()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(held.seq, 1, "the update crossed the partition");
    }

    // Heal: the nodes redial each other and sync on connect.
    for a in left {
        for b in right {
            a.unblock_peer(b.peer_id()).await.unwrap_or_else(|e| panic!("{e}"));
            b.unblock_peer(a.peer_id()).await.unwrap_or_else(|e| panic!("{e}"));
        }
    }
    converged(&handles, 12).await;
    for h in &handles {
        holds(h, prepared[0].state, "policy", 2).await;
        holds(h, prepared[2].state, "policy", 2).await;
    }
    stop_all(nodes).await;
}

/// A node whose bootstrap peer is not up yet finds it soon after it comes
/// up, not a redial interval later: while no member is connected the redial
/// pace starts at half a second and doubles. The interval here (ten
/// minutes) is far longer than the wait's deadline, and the late node has
/// no bootstrap entry of its own, so only the short pace can connect them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_finds_its_bootstrap_peer_soon_after_it_comes_up() {
    let net = TestNet::new("late-bootstrap");
    let (a, b) = (net.prepare("fra", "FRA", true), net.prepare("deu", "DEU", true));
    // FRA's address before FRA runs: a port free now.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let fra_addr: hotline_node::Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
    let slow = |bootstrap: &[hotline_node::Multiaddr]| {
        let mut o = options(bootstrap);
        o.redial_interval = Duration::from_secs(600);
        o
    };
    let deu = start(&b, slow(std::slice::from_ref(&fra_addr))).await;
    // DEU's first dial, made at start, finds nobody there.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut fra_options = slow(&[]);
    fra_options.listen = Some(vec![fra_addr]);
    let fra = start(&a, fra_options).await;
    converged(&[fra.handle(), deu.handle()], 2).await;
    stop_all(vec![fra, deu]).await;
}
