//! End-to-end messaging between real nodes: sealed envelopes over the
//! deliver protocol, durable outboxes, signed receipts, acknowledgements.

use hotline_core::{Address, MessageType, Role, Tlp};
use hotline_node::api_types::{AckRequest, MessageQuery, NodeEvent, SendRequest};
use hotline_node::testkit::*;
use hotline_node::{NodeHandle, RunningNode};

fn rfi(to: &str) -> SendRequest {
    let to = Address { state: to.parse().unwrap(), role: Role::technical() };
    SendRequest {
        body: "We observe scanning of energy-sector hosts. Can you confirm?".into(),
        tlp: Some(Tlp::Amber),
        severity: Some(3),
        lang: Some("en".into()),
        ..SendRequest::new(to, MessageType::RequestForInformation, "Scanning from AS64500")
    }
}

/// Two admitted nodes, each with a technical record, converged (two
/// admissions, two records, two prekey bundles).
async fn pair(net: &TestNet) -> (RunningNode, RunningNode) {
    let a = net.prepare("fra", "FRA", true);
    let b = net.prepare("deu", "DEU", true);
    let na = start(&a, options(&[])).await;
    let nb = start(&b, options(&[first_addr(&na)])).await;
    publish(&na.handle(), "technical", "CERT-FR").await;
    publish(&nb.handle(), "technical", "CERT-Bund").await;
    converged(&[na.handle(), nb.handle()], 6).await;
    (na, nb)
}

/// A node to start again from its data directory: `start` needs only the
/// directory; the keys are on disk.
fn existing(data: std::path::PathBuf, state: &str) -> Prepared {
    Prepared {
        data,
        state: state.parse().unwrap(),
        state_key: hotline_core::SecretKey::from_seed(&[0; 32]),
        node: hotline_core::NodeId([0; 32]),
    }
}

async fn inbox(h: &NodeHandle) -> Vec<hotline_node::api_types::MessageSummary> {
    h.messages(MessageQuery::default()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_delivered_receipted_and_acknowledged() {
    let net = TestNet::new("messaging");
    let (na, nb) = pair(&net).await;
    let (a, b) = (na.handle(), nb.handle());
    let mut a_events = a.subscribe();

    let sent = a.send(rfi("DEU")).await.unwrap();
    assert_eq!(sent.deliveries.len(), 1);
    let view = a.wait_delivered(sent.msg_id, DEADLINE).await.unwrap();
    assert_eq!(view.status, "delivered", "{view:?}");
    assert!(view.deliveries[0].receipt.is_some());

    let inbox_b = inbox(&b).await;
    assert_eq!(inbox_b.len(), 1);
    assert_eq!(inbox_b[0].msg_id, sent.msg_id);
    assert!(!inbox_b[0].read);
    let shown = b.message(sent.msg_id, true).await.unwrap();
    assert_eq!(shown.message.subject, "Scanning from AS64500");
    assert_eq!(shown.message.severity, Some(3));
    assert!(b.messages(MessageQuery { unread: true, ..Default::default() }).await.unwrap().is_empty());

    let ack = b.ack(sent.msg_id, AckRequest { note: Some("Looking into it".into()) }).await.unwrap();
    assert_eq!(ack.case_id, sent.case_id);
    wait_event(&mut a_events, "the acknowledgement", |e| match e {
        NodeEvent::MessageAcknowledged { msg_id, .. } if *msg_id == sent.msg_id => Some(()),
        _ => None,
    })
    .await;
    let thread = a.thread(sent.case_id).await.unwrap();
    assert_eq!(thread.len(), 2);
    assert_eq!(a.message(sent.msg_id, false).await.unwrap().acknowledged_with, Some(ack.msg_id));
    na.shutdown().await.unwrap();
    nb.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_recipient_gets_the_message_exactly_once_when_it_starts() {
    let net = TestNet::new("messaging-offline");
    let (na, nb) = pair(&net).await;
    let a = na.handle();
    let b_data = net.root.path().join("deu");
    nb.shutdown().await.unwrap();

    let sent = a.send(rfi("DEU")).await.unwrap();
    assert_eq!(sent.status, "queued");
    let outbox = poll_until("a first attempt to fail", || async {
        let outbox = a.outbox().await.ok()?;
        outbox.first().is_some_and(|o| o.attempts >= 1 && o.last_error.is_some()).then_some(outbox)
    })
    .await;
    assert_eq!(outbox.len(), 1, "{outbox:?}");

    let prepared = existing(b_data, "DEU");
    let nb = start(&prepared, options(&[first_addr(&na)])).await;
    let view = a.wait_delivered(sent.msg_id, DEADLINE).await.unwrap();
    assert_eq!(view.status, "delivered");
    assert!(a.outbox().await.unwrap().is_empty());
    let got = inbox(&nb.handle()).await;
    assert_eq!(got.iter().filter(|m| m.msg_id == sent.msg_id).count(), 1);
    na.shutdown().await.unwrap();
    nb.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_restarted_with_a_full_outbox_still_delivers() {
    let net = TestNet::new("messaging-sender-restart");
    let (na, nb) = pair(&net).await;
    let b_peer = nb.handle().peer_id();
    nb.shutdown().await.unwrap();

    let sent = na.handle().send(rfi("DEU")).await.unwrap();
    assert_eq!(sent.status, "queued");
    na.shutdown().await.unwrap();

    // The message survives the sender's restart in its outbox...
    let fra = existing(net.root.path().join("fra"), "FRA");
    let na = start(&fra, options(&[])).await;
    let a = na.handle();
    let outbox = a.outbox().await.unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].msg_id, sent.msg_id);
    assert_eq!(outbox[0].node, b_peer.to_string());

    // ...and is delivered once the recipient is back.
    let deu = existing(net.root.path().join("deu"), "DEU");
    let nb = start(&deu, options(&[first_addr(&na)])).await;
    assert_eq!(a.wait_delivered(sent.msg_id, DEADLINE).await.unwrap().status, "delivered");
    assert_eq!(inbox(&nb.handle()).await.len(), 1);
    na.shutdown().await.unwrap();
    nb.shutdown().await.unwrap();
}

/// Two acknowledgements of one message at once (a double click, two
/// terminals): one `human_ack` is sent, the other call is refused, and the
/// sender raises one `message_acknowledged` event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledging_twice_at_once_sends_one_acknowledgement() {
    let net = TestNet::new("messaging ack twice");
    let (na, nb) = pair(&net).await;
    let (a, b) = (na.handle(), nb.handle());
    let sent = a.send(rfi("DEU")).await.unwrap();
    a.wait_delivered(sent.msg_id, DEADLINE).await.unwrap();
    let mut a_events = a.subscribe();

    let request = || AckRequest { note: Some("On it".into()) };
    let (first, second) = tokio::join!(b.ack(sent.msg_id, request()), b.ack(sent.msg_id, request()));
    let (ok, refused): (Vec<_>, Vec<_>) = [first, second].into_iter().partition(Result::is_ok);
    assert_eq!(ok.len(), 1, "exactly one acknowledgement is sent");
    let refused = refused.into_iter().next().and_then(Result::err).expect("the other is refused");
    assert_eq!(refused.code(), "already_acknowledged", "{refused}");
    let ack_id = ok.into_iter().next().and_then(Result::ok).expect("one ack").msg_id;

    let by = wait_event(&mut a_events, "the acknowledgement", |e| match e {
        NodeEvent::MessageAcknowledged { msg_id, ack_id: got, .. } if *msg_id == sent.msg_id => Some(*got),
        _ => None,
    })
    .await;
    assert_eq!(by, ack_id);
    // A third call, once the first is durable, is refused the same way.
    let third = b.ack(sent.msg_id, request()).await.expect_err("already acknowledged");
    assert_eq!(third.code(), "already_acknowledged");
    // The sender's inbox holds one human_ack.
    let acks = inbox(&a).await.into_iter().filter(|m| m.kind == MessageType::HumanAck).count();
    assert_eq!(acks, 1);
    na.shutdown().await.unwrap();
    nb.shutdown().await.unwrap();
}

/// A recipient that lost its prekey secrets (its ring rolled back, as after
/// a crash before version 2's ring-first write, or a restored backup) sees
/// its own bundle in the directory name a prekey it never made, and makes
/// its next prekey under a new id (ids roll forward; never the same id
/// with another key). An envelope sealed to the lost key is refused as
/// `prekey_expired`; the sender seals it again to the recipient's new
/// bundle, and the message arrives exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_the_recipient_cannot_decrypt_is_sealed_again_to_its_new_bundle() {
    let net = TestNet::new("messaging-lost-prekey");
    let (na, nb) = pair(&net).await;
    let a = na.handle();
    let b_data = net.root.path().join("deu");
    nb.shutdown().await.unwrap();

    // Sealed now, to the prekey the recipient is about to lose.
    let sent = a.send(rfi("DEU")).await.unwrap();
    assert_eq!(sent.status, "queued");
    {
        let store = hotline_store::Store::open(&b_data).unwrap();
        let mut batch = hotline_store::WriteBatch::new();
        batch.put_secret(hotline_store::PREKEY_RING, &hotline_crypto::PrekeyRing::new().to_bytes_secret());
        store.write(batch).unwrap();
    }
    let prepared = existing(b_data, "DEU");
    let nb = start(&prepared, options(&[first_addr(&na)])).await;
    let view = a.wait_delivered(sent.msg_id, DEADLINE).await.unwrap();
    assert_eq!(view.status, "delivered");
    let got = inbox(&nb.handle()).await;
    assert_eq!(got.iter().filter(|m| m.msg_id == sent.msg_id).count(), 1);
    // It did go through the refusal this test is about, and no prekey id
    // was made again with another key (which would fail to decrypt).
    let refused = nb.handle().status().await.unwrap();
    assert!(
        refused.delivery_rejections.get("prekey_expired").copied().unwrap_or(0) >= 1,
        "the first envelope was refused as sealed to a prekey the ring no longer holds: {refused:?}"
    );
    assert_eq!(refused.delivery_rejections.get("decrypt_failed"), None, "{refused:?}");
    na.shutdown().await.unwrap();
    nb.shutdown().await.unwrap();
}

/// The inbox is read a page at a time, newest first into the page, and the
/// cursor of each page (its oldest message) leads to the next without a gap
/// or a repeat; unread paging follows what a person displayed; id prefixes
/// are found in the node's indexes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_pages_by_cursor_and_prefixes_resolve() {
    let net = TestNet::new("messaging");
    let (na, nb) = pair(&net).await;
    let (a, b) = (na.handle(), nb.handle());
    let mut sent = Vec::new();
    for _ in 0..7 {
        let s = a.send(rfi("DEU")).await.unwrap();
        sent.push(s.msg_id);
    }
    for id in &sent {
        a.wait_delivered(*id, DEADLINE).await.unwrap();
    }
    let all = inbox(&b).await;
    assert_eq!(all.len(), 7);

    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let query = MessageQuery { limit: Some(3), before: before.clone(), ..Default::default() };
        let page = b.messages(query).await.unwrap();
        assert!(page.len() <= 3);
        // Oldest first within a page; the page before it is newer.
        assert!(page.windows(2).all(|w| (w[0].at, w[0].msg_id) < (w[1].at, w[1].msg_id)), "{page:?}");
        if let (Some(last_seen), Some(newest)) = (seen.first(), page.last()) {
            let last_seen: &hotline_node::api_types::MessageSummary = last_seen;
            assert!((newest.at, newest.msg_id) < (last_seen.at, last_seen.msg_id));
        }
        let Some(oldest) = page.first() else { break };
        before = Some(format!("{}-{}", oldest.at.0, oldest.msg_id));
        let full = page.len() == 3;
        seen.splice(0..0, page);
        if !full {
            break;
        }
    }
    assert_eq!(seen, all, "the pages together are the inbox, in order");

    // Displaying one takes it off the unread pages only.
    b.message(all[6].msg_id, true).await.unwrap();
    let unread = b.messages(MessageQuery { unread: true, limit: Some(10), ..Default::default() }).await.unwrap();
    assert_eq!(unread.len(), 6);
    assert!(unread.iter().all(|m| m.msg_id != all[6].msg_id));

    // Bad paging input is refused with its own code, not ignored.
    for (query, code) in [
        (MessageQuery { limit: Some(0), ..Default::default() }, "bad_limit"),
        (MessageQuery { limit: Some(1001), ..Default::default() }, "bad_limit"),
        (MessageQuery { before: Some("yesterday".into()), ..Default::default() }, "bad_cursor"),
    ] {
        let err = b.messages(query).await.unwrap_err();
        assert_eq!(err.code(), code, "{err}");
    }

    // Prefixes: a full id's first 12 digits find it alone; the case too.
    let id = all[0].msg_id.to_string();
    let found = b.ids_with_prefix(id[..12].to_string()).await.unwrap();
    assert_eq!(found.messages, vec![all[0].msg_id]);
    let case = all[0].case_id.to_string();
    let found = b.ids_with_prefix(case[..12].to_string()).await.unwrap();
    assert_eq!(found.cases, vec![all[0].case_id]);
    // One hex digit matches more than one of seven random ids, or none.
    let found = b.ids_with_prefix("0".into()).await.unwrap();
    assert!(found.messages.len() <= 2 && found.cases.len() <= 2);
    drop((na, nb));
}
