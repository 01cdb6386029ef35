//! Envelopes that must be refused, delivered by hand from a raw
//! `hotline_net::Network`: a member (Mallory, of an admitted state) that
//! tampers, replays and forges, and a stranger that was never admitted.
//! Also prekey rotation: an envelope sealed to the previous prekey opens
//! during the grace period and is refused after it.

use hotline_core::testkit::T0;
use hotline_core::time::DAY;
use hotline_core::{
    Address, DirectoryObject, Fields, Message, MessageId, MessageType, NetworkId, NodeId, ObjectKey, Role, SecretKey,
    SignedRecord, StateCode, Timestamp, Tlp,
};
use hotline_crypto::{Envelope, OpenError, PrekeyRing, SeedRng, select_prekey};
use hotline_net::{
    DeliverRequest, DeliverResponse, DigestSummary, NetConfig, NetError, NetEvent, Network, NetworkHandle, PeerId,
    SyncRequest, SyncResponse,
};
use hotline_node::api_types::MessageQuery;
use hotline_node::testkit::*;
use hotline_node::{NodeHandle, RunningNode};
use std::sync::atomic::Ordering;
use std::time::Duration;
use zeroize::Zeroizing;

/// A hand-driven member: it presents its state's admission and record,
/// fetches prekey bundles, and delivers whatever bytes the test gives it.
struct Mallory {
    key: SecretKey,
    node: NodeId,
    net: NetworkId,
    handle: NetworkHandle,
    task: tokio::task::JoinHandle<()>,
}

impl Mallory {
    async fn start(key: SecretKey, net: NetworkId, members: &[PeerId]) -> Mallory {
        let mut config = NetConfig::new(&key, net);
        config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
        config.members = members.iter().copied().collect();
        let (handle, mut events) = Network::spawn(config).unwrap_or_else(|e| panic!("spawn: {e}"));
        let h = handle.clone();
        // Answers sync with "nothing here" and ignores the rest.
        let task = tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let NetEvent::SyncRequest { request, reply, .. } = event {
                    let response = match request {
                        SyncRequest::Digest(_) => SyncResponse::Digest(Vec::new()),
                        SyncRequest::Fetch(_) => SyncResponse::Objects(Vec::new()),
                        SyncRequest::Push(_) => SyncResponse::Ack,
                        SyncRequest::Summary(_) => {
                            SyncResponse::Summary(DigestSummary::of(&hotline_core::directory::Digest::new()))
                        }
                        SyncRequest::ReceiptsIssued => SyncResponse::ReceiptsIssued(0),
                        SyncRequest::Cosign(_) | SyncRequest::Equivocation(_) => SyncResponse::Refused,
                    };
                    let _ = h.respond_sync(reply, response).await;
                }
            }
        });
        Mallory { node: key.node_id(), key, net, handle, task }
    }

    /// Pushes `objects` to `to`, retrying until the connection is up.
    async fn push(&self, to: PeerId, objects: &[DirectoryObject]) {
        let bytes: Vec<Vec<u8>> = objects.iter().map(|o| o.to_bytes()).collect();
        let answer = poll_until("a push to be answered", || async {
            self.handle.sync_request(to, SyncRequest::Push(bytes.clone())).await.ok()
        })
        .await;
        assert_eq!(answer, SyncResponse::Ack);
    }

    /// The live prekey bundle `node` publishes, fetched from `from` by sync.
    async fn try_bundle_of(&self, from: PeerId, node: NodeId) -> Option<hotline_core::SignedPrekeyBundle> {
        let answer = self.handle.sync_request(from, SyncRequest::Fetch(vec![ObjectKey::Prekeys(node)])).await.ok()?;
        let SyncResponse::Objects(objects) = answer else { panic!("fetch answered {answer:?}") };
        match objects.first().map(|b| DirectoryObject::from_bytes(b)) {
            Some(Ok(DirectoryObject::Prekeys(p))) => Some(p),
            _ => None,
        }
    }

    async fn bundle_of(&self, from: PeerId, node: NodeId) -> hotline_core::SignedPrekeyBundle {
        poll_until("a prekey bundle", || self.try_bundle_of(from, node)).await
    }

    fn seal(
        &self,
        message: &Message,
        to: NodeId,
        bundle: &hotline_core::SignedPrekeyBundle,
        now: Timestamp,
    ) -> Vec<u8> {
        let prekey = select_prekey(&bundle.bundle, now).expect("a usable prekey");
        let mut rng = SeedRng::from_seed(Zeroizing::new([message.msg_id.0[0]; 32]));
        Envelope::seal(
            &message.to_bytes(),
            &self.key,
            self.node,
            to,
            (prekey.id, &prekey.public),
            &self.net,
            message.msg_id.0,
            now,
            &mut rng,
        )
        .unwrap()
        .to_bytes()
    }

    /// Delivers, retrying (as a node's outbox does) while the request
    /// lands on a connection made before Mallory was a member, which does
    /// not offer the deliver protocol and is closed within seconds.
    async fn deliver(&self, to: PeerId, envelope: Vec<u8>) -> DeliverResponse {
        let mut tries = 0;
        loop {
            match self.handle.deliver(to, DeliverRequest { envelope: envelope.clone() }).await {
                Ok(response) => return response,
                Err(e) if e.to_string().contains("supports none of the requested protocols") && tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("deliver: {e}"),
            }
        }
    }

    async fn stop(self) {
        let _ = self.handle.shutdown().await;
        let _ = self.task.await;
    }
}

fn state(code: &str) -> StateCode {
    code.parse().unwrap()
}

fn message(id: u8, from: &str, from_role: Role, to: &str) -> Message {
    Message {
        msg_id: MessageId([id; 16]),
        case_id: hotline_core::CaseId([id; 16]),
        in_reply_to: None,
        kind: MessageType::Notification,
        from: Address { state: state(from), role: from_role },
        to: Address { state: state(to), role: Role::technical() },
        created_at: T0.plus(DAY),
        lang: None,
        tlp: Tlp::Amber,
        severity: None,
        is_exercise: true,
        respond_by: None,
        subject: format!("Test {id}"),
        body: "Body".into(),
        fields: Fields::None,
        attachments: vec![],
    }
}

fn refused(answer: &DeliverResponse) -> &str {
    match answer {
        DeliverResponse::Refused { code, .. } => code,
        DeliverResponse::Receipt(_) => panic!("delivered, expected a refusal"),
    }
}

async fn delivery_rejections(h: &NodeHandle, code: &str) -> u64 {
    h.status().await.unwrap().delivery_rejections.get(code).copied().unwrap_or(0)
}

async fn inbox_len(h: &NodeHandle) -> usize {
    h.messages(MessageQuery::default()).await.unwrap().len()
}

/// FRA and DEU nodes with technical records, and Mallory of NOR, a member.
async fn setup(
    net: &TestNet,
    options_for: impl Fn(&[hotline_node::Multiaddr]) -> hotline_node::NodeOptions,
) -> (RunningNode, RunningNode, Mallory) {
    let a = net.prepare("fra", "FRA", true);
    let b = net.prepare("deu", "DEU", true);
    let na = start(&a, options_for(&[])).await;
    let nb = start(&b, options_for(&[first_addr(&na)])).await;
    publish(&na.handle(), "technical", "CERT-FR").await;
    publish(&nb.handle(), "technical", "CERT-Bund").await;
    converged(&[na.handle(), nb.handle()], 6).await;

    let network = net.world.net;
    let mallory_key = SecretKey::from_seed(&[0x4d; 32]);
    let nor_key = net.world.state_key("NOR", 1);
    let mut body = net.world.record_body("NOR", "policy", 1, 1);
    body.nodes = vec![mallory_key.node_id()];
    body.expires = T0.plus(300 * DAY);
    let objects = [
        DirectoryObject::Admission(net.admission(state("NOR"), &nor_key)),
        DirectoryObject::Record(Box::new(SignedRecord::sign(body, &nor_key, &network))),
    ];
    let honest = [na.handle().peer_id(), nb.handle().peer_id()];
    let mallory = Mallory::start(mallory_key, network, &honest).await;
    mallory.handle.dial(first_addr(&nb)).await.unwrap();
    mallory.push(nb.handle().peer_id(), &objects).await;
    let b_handle = nb.handle();
    poll_until("Mallory to become a member at DEU", || async {
        let peers = b_handle.peers().await.ok()?;
        peers.iter().any(|p| p.peer_id == mallory.handle.local_peer_id().to_string() && p.member).then_some(())
    })
    .await;
    (na, nb, mallory)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_replayed_forged_stranger_and_misaddressed_envelopes_are_refused() {
    let net = TestNet::new("delivery adversary");
    let (na, nb, mallory) = setup(&net, options).await;
    let (a, b) = (na.handle(), nb.handle());
    let b_node = node_of(b.peer_id());
    let now = T0.plus(DAY);
    let bundle = mallory.bundle_of(b.peer_id(), b_node).await;

    // A valid message from Mallory's own state is delivered, once, however
    // often its envelope is replayed.
    let valid = mallory.seal(&message(1, "NOR", Role::policy(), "DEU"), b_node, &bundle, now);
    let first = mallory.deliver(b.peer_id(), valid.clone()).await;
    let DeliverResponse::Receipt(receipt) = &first else { panic!("{first:?}") };
    let receipt = hotline_crypto::DeliveryReceipt::from_bytes(receipt).unwrap();
    receipt.verify(b_node, &net.world.net).unwrap();
    assert_eq!(mallory.deliver(b.peer_id(), valid.clone()).await, first, "a replay gets the same receipt");
    assert_eq!(inbox_len(&b).await, 1, "a replayed envelope is shown once");

    // Only DEU can open it: another member holding the bytes cannot.
    let envelope = Envelope::from_bytes(&valid).unwrap();
    let mut ring = PrekeyRing::new();
    ring.rotate(now, &mut SeedRng::from_seed(Zeroizing::new([9; 32])), Default::default());
    assert_eq!(envelope.open(&ring, mallory.node, &net.world.net, now), Err(OpenError::NotForMe));
    assert!(envelope.open(&ring, b_node, &net.world.net, now).is_err(), "a third node's prekeys open nothing");

    // Tampered: one bit of the ciphertext flipped.
    let mut tampered = mallory.seal(&message(2, "NOR", Role::policy(), "DEU"), b_node, &bundle, now);
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert_eq!(refused(&mallory.deliver(b.peer_id(), tampered).await), "decrypt_failed");

    // Forged sender: Mallory's node claims to write for FRA.
    let forged = mallory.seal(&message(3, "FRA", Role::technical(), "DEU"), b_node, &bundle, now);
    assert_eq!(refused(&mallory.deliver(b.peer_id(), forged).await), "forged_sender");

    // Misaddressed: an envelope for DEU handed to FRA's node.
    let for_deu = mallory.seal(&message(4, "NOR", Role::policy(), "DEU"), b_node, &bundle, now);
    mallory.handle.dial(first_addr(&na)).await.unwrap();
    mallory.push(a.peer_id(), &[]).await;
    poll_until("Mallory to become a member at FRA", || async {
        let peers = a.peers().await.ok()?;
        peers.iter().any(|p| p.peer_id == mallory.handle.local_peer_id().to_string() && p.member).then_some(())
    })
    .await;
    assert_eq!(refused(&mallory.deliver(a.peer_id(), for_deu).await), "not_for_me");

    // Garbage and oversized: refused by the receiver's decoder, and by the
    // sender's own bounds before anything is sent.
    assert_eq!(refused(&mallory.deliver(b.peer_id(), vec![1, 2, 3]).await), "malformed");
    let huge = vec![0u8; hotline_crypto::MAX_ENVELOPE_BYTES + 1];
    assert!(matches!(
        mallory.handle.deliver(b.peer_id(), DeliverRequest { envelope: huge }).await,
        Err(NetError::Protocol(_))
    ));

    // A stranger with valid keys, never admitted.
    let stranger_key = SecretKey::from_seed(&[0x5e; 32]);
    let stranger = Mallory::start(stranger_key, net.world.net, &[b.peer_id()]).await;
    stranger.handle.dial(first_addr(&nb)).await.unwrap();
    let sealed = stranger.seal(&message(5, "NOR", Role::policy(), "DEU"), b_node, &bundle, now);
    poll_until("the stranger's connection", || async {
        let peers = b.peers().await.ok()?;
        peers.iter().any(|p| p.peer_id == stranger.handle.local_peer_id().to_string()).then_some(())
    })
    .await;
    // Its connection does not offer the deliver protocol: refused at
    // negotiation, before a byte of the envelope is read.
    let answer = stranger.handle.deliver(b.peer_id(), DeliverRequest { envelope: sealed.clone() }).await;
    assert!(matches!(&answer, Err(NetError::Deliver { reason, .. }) if reason.contains("protocols")), "{answer:?}");

    for (code, count) in [("decrypt_failed", 1), ("forged_sender", 1), ("malformed", 1)] {
        assert!(delivery_rejections(&b, code).await >= count, "{code} counted");
    }
    assert_eq!(delivery_rejections(&a, "not_for_me").await, 1);
    assert_eq!(inbox_len(&b).await, 1, "nothing refused was stored");
    assert_eq!(inbox_len(&a).await, 0);

    stranger.stop().await;
    mallory.stop().await;
    na.shutdown().await.unwrap();
    nb.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_for_the_previous_prekey_opens_during_the_grace_period_only() {
    let net = TestNet::new("delivery rotation");
    // Every node reads one clock the test moves forward.
    let (shared, offset) = adjustable_clock();
    let options_for = |bootstrap: &[hotline_node::Multiaddr]| {
        let mut o = options(bootstrap);
        o.clock = shared.clone();
        o.prekey_check = Duration::from_millis(100);
        o
    };
    let (na, nb, mallory) = setup(&net, options_for).await;
    let b = nb.handle();
    let b_node = node_of(b.peer_id());
    let old = mallory.bundle_of(b.peer_id(), b_node).await;
    let now = T0.plus(DAY);
    let during = mallory.seal(&message(1, "NOR", Role::policy(), "DEU"), b_node, &old, now);
    let after = mallory.seal(&message(2, "NOR", Role::policy(), "DEU"), b_node, &old, now);

    // Eight days on: DEU has rotated (every 7 days) and publishes a new bundle.
    offset.store(8 * DAY, Ordering::SeqCst);
    let rotated = poll_until("DEU to rotate its prekeys", || async {
        let bundle = mallory.try_bundle_of(b.peer_id(), b_node).await?;
        (bundle.bundle.seq > old.bundle.seq).then_some(bundle)
    })
    .await;
    let newest = select_prekey(&rotated.bundle, now.plus(8 * DAY)).unwrap();
    assert_ne!(newest.id, old.bundle.prekeys[0].id);
    assert!(matches!(mallory.deliver(b.peer_id(), during).await, DeliverResponse::Receipt(_)));

    // Twenty-two days on: the old secret (7 + 14 days) is gone.
    offset.store(22 * DAY, Ordering::SeqCst);
    poll_until("DEU to delete the old prekey", || async {
        let bundle = mallory.try_bundle_of(b.peer_id(), b_node).await?;
        bundle.bundle.prekeys.iter().all(|p| p.id != old.bundle.prekeys[0].id).then_some(())
    })
    .await;
    assert_eq!(refused(&mallory.deliver(b.peer_id(), after).await), "prekey_expired");
    assert_eq!(inbox_len(&b).await, 1);

    mallory.stop().await;
    na.shutdown().await.unwrap();
    nb.shutdown().await.unwrap();
}
