//! Liveness of member nodes: connected or not, last seen, and reachability
//! sampled over the last 24 hours, as `hotline peers` shows it.

use hotline_node::NodeHandle;
use hotline_node::api_types::LivenessView;
use hotline_node::testkit::*;
use std::time::Duration;

async fn seen_by(h: &NodeHandle, state: &str) -> LivenessView {
    let all = h.liveness().await.unwrap();
    all.into_iter().find(|v| v.state.as_str() == state).unwrap_or_else(|| panic!("{state} is not listed"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_shows_as_unreachable_and_reconnects_when_back() {
    let net = TestNet::new("liveness");
    let opts = |bootstrap: &[hotline_node::Multiaddr]| {
        let mut o = options(bootstrap);
        o.liveness_interval = Duration::from_millis(100);
        o.liveness_dial_every = Duration::from_millis(300);
        o
    };
    let prepared: Vec<_> = ["FRA", "DEU", "EST"].iter().map(|s| net.prepare(&s.to_lowercase(), s, true)).collect();
    let mut nodes = Vec::new();
    for p in &prepared {
        let bootstrap: Vec<_> = nodes.first().map(first_addr).into_iter().collect();
        nodes.push(start(p, opts(&bootstrap)).await);
    }
    for n in &nodes {
        publish(&n.handle(), "technical", "CERT").await;
    }
    let handles: Vec<NodeHandle> = nodes.iter().map(|n| n.handle()).collect();
    converged(&handles, 9).await;
    let fra = handles[0].clone();

    // Both others are listed, connected, and sampled. (A sample taken in
    // the moment between a record's arrival and its node's connection may
    // have counted it unreachable: what follows compares with the share
    // just before EST stops, not with 100 %.)
    poll_until("FRA to see DEU and EST connected", || async {
        let all = fra.liveness().await.ok()?;
        (all.len() == 2 && all.iter().all(|v| v.connected && v.reachability_24h.is_some_and(|r| r > 0.0))).then_some(())
    })
    .await;
    let before = seen_by(&fra, "EST").await.reachability_24h.unwrap_or(0.0);

    // EST stops: FRA sees it go, and its reachability drop.
    let est = nodes.remove(2);
    est.shutdown().await.unwrap();
    poll_until("EST to show as unreachable", || async {
        let v = seen_by(&fra, "EST").await;
        (!v.connected && v.reachability_24h.is_some_and(|r| r < before) && v.last_seen.is_some()).then_some(())
    })
    .await;
    assert!(seen_by(&fra, "DEU").await.connected);

    // EST comes back (it knows only the bootstrap address): connected again.
    let est = start(&prepared[2], opts(&[first_addr(&nodes[0])])).await;
    poll_until("EST to be connected again", || async { seen_by(&fra, "EST").await.connected.then_some(()) }).await;
    nodes.push(est);
    for n in nodes {
        n.shutdown().await.unwrap();
    }
}
