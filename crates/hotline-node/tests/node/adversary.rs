//! Misbehaving peers, driven by hand with a raw `hotline_net::Network`:
//! a member that injects forged, replayed and unadmitted objects, and a
//! stranger with valid keys that was never admitted.

use hotline_core::testkit::T0;
use hotline_core::time::DAY;
use hotline_core::{
    Admission, ContactRecord, DirectoryObject, NetworkId, NodeId, ObjectKey, Role, SecretKey, SignedAdmission,
    SignedRecord, StateCode, StewardSignature,
};
use hotline_net::sync::digest_entries;
use hotline_net::{
    DigestSummary, Multiaddr, NetConfig, NetEvent, Network, NetworkHandle, PeerId, SyncRequest, SyncResponse, Verdict,
};
use hotline_node::api_types::NodeEvent;
use hotline_node::testkit::*;
use hotline_node::{NodeHandle, NodeOptions, RunningNode};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::task::JoinHandle;

/// A hand-driven peer. Its task answers sync requests as a node holding
/// `objects` would (digest, fetch, push), and ignores gossip.
struct RawPeer {
    handle: NetworkHandle,
    peer: PeerId,
    task: JoinHandle<()>,
}

impl RawPeer {
    async fn start(key: &SecretKey, net: NetworkId, members: &[PeerId], objects: Vec<DirectoryObject>) -> RawPeer {
        let mut config = NetConfig::new(key, net);
        config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap_or_else(|e| panic!("{e}"))];
        config.members = members.iter().copied().collect();
        let (handle, mut events) = Network::spawn(config).unwrap_or_else(|e| panic!("spawn: {e}"));
        let held: BTreeMap<ObjectKey, DirectoryObject> = objects.into_iter().map(|o| (o.key(), o)).collect();
        let digest = held.iter().map(|(k, o)| (k.clone(), (o.seq(), o.hash(&net)))).collect();
        let entries = digest_entries(&digest);
        let summary = DigestSummary::of(&digest);
        let h = handle.clone();
        let task = tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                match event {
                    NetEvent::SyncRequest { request, reply, .. } => {
                        let response = match request {
                            SyncRequest::Digest(_) => SyncResponse::Digest(entries.clone()),
                            SyncRequest::Fetch(keys) => SyncResponse::Objects(
                                keys.iter().filter_map(|k| held.get(k)).map(|o| o.to_bytes()).collect(),
                            ),
                            SyncRequest::Push(_) => SyncResponse::Ack,
                            SyncRequest::Summary(_) => SyncResponse::Summary(summary),
                            SyncRequest::ReceiptsIssued => SyncResponse::ReceiptsIssued(0),
                            SyncRequest::Cosign(_) | SyncRequest::Equivocation(_) => SyncResponse::Refused,
                        };
                        let _ = h.respond_sync(reply, response).await;
                    }
                    NetEvent::Gossip { message_id, propagation_source, .. } => {
                        let _ = h.report_gossip(message_id, propagation_source, Verdict::Ignore).await;
                    }
                    _ => {}
                }
            }
        });
        RawPeer { peer: handle.local_peer_id(), handle, task }
    }

    async fn dial(&self, addr: Multiaddr) {
        self.handle.dial(addr).await.unwrap_or_else(|e| panic!("dial: {e}"));
    }

    async fn gossip(&self, object: &DirectoryObject) {
        self.handle.publish(object.to_bytes()).await.unwrap_or_else(|e| panic!("publish: {e}"));
    }

    async fn push(&self, to: PeerId, objects: &[DirectoryObject]) -> SyncResponse {
        let bytes = objects.iter().map(|o| o.to_bytes()).collect();
        self.handle.sync_request(to, SyncRequest::Push(bytes)).await.unwrap_or_else(|e| panic!("push: {e}"))
    }

    async fn stop(self) {
        let _ = self.handle.shutdown().await;
        let _ = self.task.await;
    }
}

fn state(code: &str) -> StateCode {
    code.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// A record body of `code` listing `node`, with `organization`.
fn record_body(net: &TestNet, code: &str, seq: u64, node: NodeId, organization: &str) -> ContactRecord {
    let mut body = net.world.record_body(code, "policy", 1, seq);
    body.nodes = vec![node];
    body.organization = organization.into();
    body.issued_at = T0;
    body.expires = T0.plus(200 * DAY);
    body
}

fn signed(body: ContactRecord, key: &SecretKey, net: NetworkId) -> DirectoryObject {
    DirectoryObject::Record(Box::new(SignedRecord::sign(body, key, &net)))
}

/// An admission "signed" by keys that are not the charter's stewards.
fn forged_admission(code: &str, net: NetworkId) -> DirectoryObject {
    let impostors: Vec<SecretKey> = (0..2u8).map(|i| SecretKey::from_seed(&[0xe0 + i; 32])).collect();
    let admission = Admission {
        state: state(code),
        state_key: SecretKey::from_seed(&[0xee; 32]).public(),
        seq: 1,
        issued_at: T0,
        expires: None,
    };
    let body = hotline_core::encoding::encode(&admission);
    let signatures = impostors
        .iter()
        .enumerate()
        .map(|(i, k)| StewardSignature {
            steward: i as u8,
            signature: k.sign(hotline_core::keys::Context::ADMISSION, &net, &body),
        })
        .collect();
    DirectoryObject::Admission(SignedAdmission { admission, signatures })
}

async fn rejections(h: &NodeHandle, code: &str) -> u64 {
    h.status().await.ok().and_then(|s| s.rejections.get(code).copied()).unwrap_or(0)
}

async fn wait_rejections(handles: &[NodeHandle], code: &str, at_least: u64) {
    for h in handles {
        poll_until(&format!("{at_least} '{code}' rejections at {}", h.peer_id()), || async {
            (rejections(h, code).await >= at_least).then_some(())
        })
        .await;
    }
}

async fn stop_all(nodes: Vec<RunningNode>) {
    for node in nodes {
        node.shutdown().await.unwrap_or_else(|e| panic!("shutdown: {e}"));
    }
}

/// FRA and DEU, admitted, each with a record for `role`, converged; with
/// `grace` (and `cooldown`, if given) for strangers.
async fn honest_pair(
    net: &TestNet,
    role: &str,
    grace: Duration,
    cooldown: Option<Duration>,
) -> (Vec<Prepared>, Vec<RunningNode>, Vec<NodeHandle>) {
    let prepared: Vec<Prepared> =
        ["FRA", "DEU"].iter().enumerate().map(|(i, s)| net.prepare(&format!("node{i}"), s, true)).collect();
    let mut nodes: Vec<RunningNode> = Vec::new();
    for p in &prepared {
        let bootstrap: Vec<_> = nodes.first().map(first_addr).into_iter().collect();
        let mut opts = options(&bootstrap);
        opts.grace = Some(grace);
        if let Some(cooldown) = cooldown {
            opts.stranger_cooldown = Some(cooldown);
        }
        nodes.push(start(p, opts).await);
    }
    let handles: Vec<NodeHandle> = nodes.iter().map(|n| n.handle()).collect();
    for h in &handles {
        publish(h, role, "CERT").await;
    }
    converged(&handles, 6).await;
    (prepared, nodes, handles)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replayed_and_unadmitted_objects_are_rejected_everywhere() {
    let net = TestNet::new("adversary member");
    let network = net.world.net;
    let states = ["FRA", "DEU", "EST"];
    let prepared: Vec<Prepared> =
        states.iter().enumerate().map(|(i, s)| net.prepare(&format!("node{i}"), s, true)).collect();
    let mut nodes: Vec<RunningNode> = Vec::new();
    for p in &prepared {
        let bootstrap: Vec<_> = nodes.first().map(first_addr).into_iter().collect();
        nodes.push(start(p, options(&bootstrap)).await);
    }
    let handles: Vec<NodeHandle> = nodes.iter().map(|n| n.handle()).collect();
    for h in &handles {
        publish(h, "policy", "CERT").await;
    }
    // FRA's record is at seq 2 everywhere before the attack.
    let fra_v2 = publish(&handles[0], "policy", "FRA CERT v2").await;
    converged(&handles, 9).await;

    // Mallory is a properly admitted state (NOR) whose record lists its node,
    // so honest nodes take its gossip and sync; then it misbehaves.
    let mallory_key = SecretKey::from_seed(&[0x4d; 32]);
    let mallory_node = mallory_key.node_id();
    let nor_key = net.world.state_key("NOR", 1);
    let nor_admission = DirectoryObject::Admission(net.admission(state("NOR"), &nor_key));
    let nor_record = signed(record_body(&net, "NOR", 1, mallory_node, "NOR CERT"), &nor_key, network);
    let honest: Vec<PeerId> = handles.iter().map(|h| h.peer_id()).collect();
    let presented = vec![nor_admission, nor_record];
    let mallory = RawPeer::start(&mallory_key, network, &honest, presented.clone()).await;
    for node in &nodes {
        mallory.dial(first_addr(node)).await;
    }
    // A newcomer presents itself by pushing: nobody fetches from a peer
    // that is not a member.
    for h in &handles {
        poll_until("Mallory to connect", || async {
            let peers = h.peers().await.ok()?;
            peers.iter().any(|p| p.peer_id == mallory.peer.to_string()).then_some(())
        })
        .await;
        assert_eq!(mallory.push(h.peer_id(), &presented).await, SyncResponse::Ack);
    }
    // Each honest node syncs with the newcomer on connect and admits it.
    for h in &handles {
        poll_until("Mallory to become a member", || async {
            let peers = h.peers().await.ok()?;
            peers.iter().any(|p| p.peer_id == mallory.peer.to_string() && p.member).then_some(())
        })
        .await;
    }
    converged(&handles, 11).await;
    poll_until("Mallory to see every honest node on the topic", || async {
        let peers = mallory.handle.gossip_peers().await.ok()?;
        honest.iter().all(|p| peers.contains(p)).then_some(())
    })
    .await;
    let mut watchers: Vec<_> = handles.iter().map(|h| h.subscribe()).collect();

    // Replayed: an older FRA record, validly signed by FRA's own key, on
    // gossip (first: once its score drops, gossipsub ignores Mallory) and,
    // below, through sync.
    let fra_key = &prepared[0].state_key;
    let replay = signed(record_body(&net, "FRA", 1, prepared[0].node, "FRA (replayed)"), fra_key, network);
    mallory.gossip(&replay).await;
    wait_rejections(&handles, "stale_seq", 1).await;
    // Forged: FRA records signed by NOR's key, on gossip.
    for seq in 10..13 {
        let forged = signed(record_body(&net, "FRA", seq, mallory_node, "FRA (forged)"), &nor_key, network);
        mallory.gossip(&forged).await;
    }
    wait_rejections(&handles, "bad_signature", 3).await;
    for events in &mut watchers {
        let who = wait_event(events, "the rejection event", |e| match e {
            NodeEvent::ObjectRejected { peer, code, .. } if code == "bad_signature" => Some(peer.clone()),
            _ => None,
        })
        .await;
        assert_eq!(who, mallory.peer.to_string(), "the sender is named");
    }
    // The sender's gossip score drops below zero on every node.
    for h in &handles {
        poll_until("Mallory's score to drop", || async {
            let peers = h.peers().await.ok()?;
            let score = peers.iter().find(|p| p.peer_id == mallory.peer.to_string())?.gossip_score?;
            (score < 0.0).then_some(())
        })
        .await;
    }

    // The replay again, through sync (not subject to gossip scoring).
    let replay_push = signed(record_body(&net, "FRA", 1, prepared[0].node, "FRA (replayed again)"), fra_key, network);
    for h in &handles {
        assert_eq!(mallory.push(h.peer_id(), std::slice::from_ref(&replay_push)).await, SyncResponse::Ack);
    }
    wait_rejections(&handles, "stale_seq", 2).await;

    // Unadmitted: an admission of CHE signed by impostors, and a CHE record
    // that has no admission to chain to. Plus a forged record through sync.
    let che_key = SecretKey::from_seed(&[0xc7; 32]);
    let che_record = signed(record_body(&net, "CHE", 1, mallory_node, "CHE (unadmitted)"), &che_key, network);
    let forged_push = signed(record_body(&net, "DEU", 9, mallory_node, "DEU (forged)"), &nor_key, network);
    let injected = [forged_admission("CHE", network), che_record, forged_push];
    for h in &handles {
        assert_eq!(mallory.push(h.peer_id(), &injected).await, SyncResponse::Ack);
    }
    wait_rejections(&handles, "steward_quorum", 1).await;
    wait_rejections(&handles, "bad_signature", 4).await;
    for h in &handles {
        let status = h.status().await.unwrap_or_else(|e| panic!("{e}"));
        assert!(status.pending >= 1, "the unadmitted record waits, it is not applied: {status:?}");
        let fra = h.record(state("FRA"), Role::policy()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((fra.seq, fra.hash), (2, fra_v2.hash), "FRA's record is untouched");
        assert!(h.state_view(state("CHE")).await.is_err(), "nothing of CHE is held");
    }
    // The honest nodes still agree.
    converged(&handles, 11).await;

    mallory.stop().await;
    stop_all(nodes).await;
    // None of it ever reached a store.
    for p in &prepared {
        let fra = stored_history(&p.data, &ObjectKey::Record(state("FRA"), Role::policy()));
        // Only FRA's own versions: seq 2, and seq 1 if it arrived first.
        assert_eq!(fra.last().map(|h| h.hash), Some(fra_v2.hash), "{}", p.data.display());
        assert!(fra.iter().all(|h| h.object.seq() <= 2), "{}", p.data.display());
        assert!(
            fra.iter().all(|h| matches!(&h.object, DirectoryObject::Record(r) if !r.record.organization.contains('(')))
        );
        assert_eq!(stored_history(&p.data, &ObjectKey::Record(state("DEU"), Role::policy())).len(), 1);
        assert!(stored_history(&p.data, &ObjectKey::Admission(state("CHE"))).is_empty());
        assert!(stored_history(&p.data, &ObjectKey::Record(state("CHE"), Role::policy())).is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_is_cut_off_after_its_grace_window_and_nothing_of_it_is_stored() {
    let net = TestNet::new("adversary stranger");
    let network = net.world.net;
    // Honest nodes take a few round trips to admit each other, and the
    // stranger's steps below must fit in its window: 8 s leaves room on a
    // loaded machine. The cool-down only has to outlast the check that the
    // stranger cannot come back at once.
    let (prepared, nodes, handles) =
        honest_pair(&net, "policy", Duration::from_secs(8), Some(Duration::from_secs(15))).await;

    // Valid keys, never admitted: it presents a self-made admission and record.
    let stranger_key = SecretKey::from_seed(&[0x5e; 32]);
    let stranger_node = stranger_key.node_id();
    let che_key = SecretKey::from_seed(&[0xc8; 32]);
    let che_record = signed(record_body(&net, "CHE", 1, stranger_node, "CHE"), &che_key, network);
    let objects = vec![forged_admission("CHE", network), che_record];
    let honest: Vec<PeerId> = handles.iter().map(|h| h.peer_id()).collect();
    let stranger = RawPeer::start(&stranger_key, network, &honest, objects.clone()).await;
    let mut events = handles[0].subscribe();
    stranger.dial(first_addr(&nodes[0])).await;
    wait_event(&mut events, "the stranger to connect", |e| match e {
        NodeEvent::PeerConnected { peer, member: false } if *peer == stranger.peer.to_string() => Some(()),
        _ => None,
    })
    .await;

    // In its grace window it may present itself, but not read the directory.
    assert_eq!(stranger.push(honest[0], &objects).await, SyncResponse::Ack);
    let fetch =
        stranger.handle.sync_request(honest[0], SyncRequest::Fetch(vec![ObjectKey::Admission(state("FRA"))])).await;
    assert_eq!(fetch.ok(), Some(SyncResponse::Refused));
    for object in &objects {
        stranger.gossip(object).await;
    }

    wait_event(&mut events, "the stranger to be disconnected", |e| match e {
        NodeEvent::PeerDisconnected { peer } if *peer == stranger.peer.to_string() => Some(()),
        _ => None,
    })
    .await;
    let status = handles[0].status().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(status.rejections.get("steward_quorum").copied().unwrap_or(0) >= 1, "{status:?}");
    assert!(status.inbound_bytes.strangers_disconnected >= 1, "counted, not logged: {status:?}");
    assert_eq!(status.member_nodes, 2);
    let peers = handles[0].peers().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(peers.iter().all(|p| p.peer_id != stranger.peer.to_string()), "{peers:?}");
    // While it cools down it cannot come back.
    let again = stranger.handle.sync_request(honest[0], SyncRequest::Digest(vec![])).await;
    assert!(again.is_err(), "{again:?}");
    converged(&handles, 6).await;

    stranger.stop().await;
    stop_all(nodes).await;
    for p in &prepared {
        assert!(stored_history(&p.data, &ObjectKey::Admission(state("CHE"))).is_empty());
        assert!(stored_history(&p.data, &ObjectKey::Record(state("CHE"), Role::policy())).is_empty());
    }
}

/// The attack of the review that made a node 2,000 times slower: a stranger,
/// inside its grace window, pushes 4,096 prekey bundles signed by throwaway
/// keys. Nothing of it is parked or costs a signature check, and while it
/// runs a member's record update still applies and a member's message still
/// gets its receipt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_flood_of_objects_costs_no_signature_check_and_members_go_on() {
    use hotline_core::{Address, MessageType};
    use hotline_node::api_types::SendRequest;
    let net = TestNet::new("adversary flood");
    let network = net.world.net;
    // Long enough for the whole flood to arrive inside the window.
    let (_, nodes, handles) = honest_pair(&net, "technical", Duration::from_secs(60), None).await;

    let stranger_key = SecretKey::from_seed(&[0x5f; 32]);
    let honest: Vec<PeerId> = handles.iter().map(|h| h.peer_id()).collect();
    let stranger = RawPeer::start(&stranger_key, network, &honest, Vec::new()).await;
    stranger.dial(first_addr(&nodes[0])).await;
    poll_until("the stranger to connect", || async {
        let peers = handles[0].peers().await.ok()?;
        peers.iter().any(|p| p.peer_id == stranger.peer.to_string()).then_some(())
    })
    .await;
    let before = handles[0].status().await.unwrap_or_else(|e| panic!("{e}"));

    // 4,096 validly signed bundles of nodes nobody lists, in DEU's name.
    let flood = hotline_net::attack::foreign_bundles(&network, state("DEU"), 4096, T0);
    for batch in flood.chunks(hotline_net::sync::MAX_BATCH_OBJECTS) {
        assert_eq!(stranger.push(honest[0], batch).await, SyncResponse::Ack);
    }
    let after = handles[0].status().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(after.pending, 0, "nothing of a stranger waits: {after:?}");
    assert_eq!(after.signature_checks, before.signature_checks, "the flood cost no signature check");
    let count = |s: &hotline_node::api_types::StatusView, code: &str| s.rejections.get(code).copied().unwrap_or(0);
    let screened = count(&after, "not_own_object") - count(&before, "not_own_object");
    let over_quota = count(&after, "stranger_quota") - count(&before, "stranger_quota");
    assert_eq!(screened + over_quota, 4096, "{after:?}");
    assert!(over_quota >= 4000, "past a few objects a stranger's are refused unread: {after:?}");

    // A member's update still applies, for a bounded number of checks.
    let update = publish(&handles[1], "technical", "CERT-Bund v2").await;
    holds(&handles[0], state("DEU"), "technical", update.seq).await;
    let updated = handles[0].status().await.unwrap_or_else(|e| panic!("{e}"));
    let cost = updated.signature_checks - after.signature_checks;
    assert!((1..=4).contains(&cost), "one record costs a handful of checks, not thousands: {cost}");
    // And a member's message still gets its receipt.
    let to = Address { state: state("DEU"), role: Role::technical() };
    let sent = handles[0]
        .send(SendRequest::new(to, MessageType::Notification, "Still here"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let view = handles[0].wait_delivered(sent.msg_id, Duration::from_secs(30)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(view.status, "delivered", "{view:?}");

    stranger.stop().await;
    stop_all(nodes).await;
}

/// One stranger connection with 256 unfinished deliver streams of about
/// 1 MB each took a node from 20 MB to about 300 MB. Now a stranger's
/// connection does not offer the deliver protocol at all, so such streams
/// fail before a byte is read; on the sync protocol, which a stranger may
/// use in its grace window, the bytes held for its unfinished frames come
/// out of a budget of strangers' own (they came out of the members' sync
/// budget before), so members' sync exchanges and messages go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_unfinished_streams_hold_a_bounded_number_of_bytes() {
    use hotline_core::{Address, MessageType};
    use hotline_net::attack::{Stalled, stalled_streams};
    use hotline_node::api_types::SendRequest;
    let net = TestNet::new("adversary streams");
    let network = net.world.net;
    let (_, nodes, handles) = honest_pair(&net, "technical", Duration::from_secs(60), None).await;
    let target = handles[1].peer_id();
    let connected = |who: PeerId| {
        let h = handles[1].clone();
        async move {
            let peers = h.peers().await.ok()?;
            peers.iter().any(|p| p.peer_id == who.to_string()).then_some(())
        }
    };

    // Deliver: refused at negotiation, nothing read.
    let (deliverer, deliver_attack) =
        stalled_streams(&network, Stalled::Deliver, target, first_addr(&nodes[1]), 256, 1_000_000)
            .unwrap_or_else(|e| panic!("{e}"));
    poll_until("the deliver attacker to connect", || connected(deliverer)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = handles[1].status().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((status.inbound_bytes.reading, status.inbound_bytes.reading_refused), (0, 0), "{status:?}");

    // Sync: strangers' frames are read within a budget of their own. Two
    // identities announcing more than it holds (8 streams each on a
    // connection with a stranger) see the rest refused, and the members'
    // sync budget holds none of it.
    let attackers: Vec<(PeerId, tokio::task::JoinHandle<()>)> = (0..2)
        .map(|_| {
            stalled_streams(&network, Stalled::Sync, target, first_addr(&nodes[1]), 256, 1_000_000)
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    for (syncer, _) in &attackers {
        poll_until("the sync attacker to connect", || connected(*syncer)).await;
    }
    let status = poll_until("the strangers' sync budget to refuse the attackers' streams", || async {
        let s = handles[1].status().await.ok()?;
        (s.inbound_bytes.reading_stranger_sync_refused >= 4).then_some(s)
    })
    .await;
    let bytes = &status.inbound_bytes;
    assert!(bytes.reading_stranger_sync <= bytes.reading_stranger_sync_limit, "{bytes:?}");
    assert!(bytes.reading_stranger_sync > 0, "the attackers' frames are being read: {bytes:?}");
    // The members exchange digests every 2 s: one of their own small frames
    // may be in the members' budget at this instant, never an attacker's.
    assert!(bytes.reading_sync < 1_000_000, "members' sync budget is theirs: {bytes:?}");
    assert_eq!(bytes.reading_sync_refused, 0, "members' sync budget is theirs: {bytes:?}");
    assert_eq!(bytes.reading, 0, "members' envelopes have a budget of their own");
    // Members' sync exchanges go on.
    let in_sync = |s: &hotline_node::api_types::StatusView| s.sync_exchanges.get("in_sync").copied().unwrap_or(0);
    let before = in_sync(&handles[0].status().await.unwrap_or_else(|e| panic!("{e}")));
    poll_until("two more sync exchanges between the members", || async {
        let s = handles[0].status().await.ok()?;
        (in_sync(&s) >= before + 2).then_some(())
    })
    .await;
    // A member's message, even a large one, still arrives.
    let to = Address { state: state("DEU"), role: Role::technical() };
    let mut request = SendRequest::new(to, MessageType::Notification, "Through the flood");
    request.body = "x".repeat(200_000);
    let sent = handles[0].send(request).await.unwrap_or_else(|e| panic!("{e}"));
    let view = handles[0].wait_delivered(sent.msg_id, Duration::from_secs(30)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(view.status, "delivered", "{view:?}");

    deliver_attack.abort();
    for (_, attack) in attackers {
        attack.abort();
    }
    stop_all(nodes).await;
}

/// About 70 sockets that trickle bytes and never finish a handshake held
/// every pending slot, and a restarted member could not reconnect for as
/// long as it lasted. Now one address holds at most a few handshake slots,
/// and a node dials a member it lost itself, at once, over a slot no
/// stranger can hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_member_reconnects_while_slow_sockets_hold_the_handshake_slots() {
    let net = TestNet::new("adversary slowloris");
    let prepared: Vec<Prepared> =
        ["FRA", "DEU"].iter().enumerate().map(|(i, s)| net.prepare(&format!("node{i}"), s, true)).collect();
    // No periodic redial within the test: only the prompt redial of a lost
    // member can bring the two back together in time.
    let slow =
        |bootstrap: &[Multiaddr]| NodeOptions { redial_interval: Duration::from_secs(300), ..options(bootstrap) };
    let a = start(&prepared[0], slow(&[])).await;
    let b = start(&prepared[1], slow(&[first_addr(&a)])).await;
    let (ha, hb) = (a.handle(), b.handle());
    for h in [&ha, &hb] {
        publish(h, "technical", "CERT").await;
    }
    converged(&[ha.clone(), hb.clone()], 6).await;
    let b_addr = first_addr(&b);

    // From 127.0.0.2: another host than the members'. (An attacker on a
    // member's own address shares that address's handshake slots.)
    let from = Some(std::net::IpAddr::from([127, 0, 0, 2]));
    let attack = hotline_net::attack::slow_sockets(&first_addr(&a), 70, from).unwrap_or_else(|e| panic!("{e}"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    b.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    poll_until("FRA to notice DEU is gone", || async {
        let peers = ha.peers().await.ok()?;
        peers.iter().all(|p| p.peer_id != hb.peer_id().to_string()).then_some(())
    })
    .await;
    // DEU comes back on the same address, as a deployed node does.
    let listen = vec![b_addr.iter().filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_))).collect()];
    let b = start(&prepared[1], NodeOptions { listen: Some(listen), ..slow(&[first_addr(&a)]) }).await;
    let hb = b.handle();
    poll_until("FRA and DEU to be connected again", || async {
        let peers = ha.peers().await.ok()?;
        peers.iter().any(|p| p.peer_id == hb.peer_id().to_string() && p.member).then_some(())
    })
    .await;
    let status = ha.status().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(status.connected_members >= 1, "{status:?}");

    for task in attack {
        task.abort();
    }
    a.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    b.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}
