//! Nothing is acknowledged before it is durable, tried with a disk that
//! fails one particular write (`hotline_store::faults`) while everything
//! else runs for real.

use hotline_core::{Address, ComcheckTask, MessageType, NodeId, Role, SecretKey};
use hotline_node::NodeOptions;
use hotline_node::api_types::{ComcheckStartRequest, MessageQuery, SendRequest};
use hotline_node::testkit::*;
use hotline_store::faults::{FaultTable, WriteFaults};
use std::sync::Arc;
use std::time::Duration;

/// A duplicate envelope that arrived while the first copy's write was in
/// flight used to be answered through an empty commit, which succeeds
/// whatever became of that write: when it failed, the sender held a
/// receipt for a message stored nowhere, and dropped it from its outbox.
/// Here DEU's disk fails that write while FRA's retry waits on it: FRA
/// must get no receipt then, and the message must arrive, once, later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_receipt_for_a_message_whose_write_failed_even_to_a_retry_that_waited_on_it() {
    let net = TestNet::new("durability duplicate");
    let faults = Arc::new(WriteFaults::new());
    let na = start(&net.prepare("fra", "FRA", true), options(&[])).await;
    let deu = NodeOptions { write_faults: Some(Arc::clone(&faults)), ..options(&[first_addr(&na)]) };
    let nb = start(&net.prepare("deu", "DEU", true), deu).await;
    let (a, b) = (na.handle(), nb.handle());
    publish(&a, "technical", "CERT-FR").await;
    publish(&b, "technical", "CERT-Bund").await;
    converged(&[a.clone(), b.clone()], 6).await;

    faults.hold_write_to(FaultTable::Messages, 0);
    let to = Address { state: "DEU".parse().unwrap(), role: Role::technical() };
    let sent = a.send(SendRequest::new(to, MessageType::Notification, "Written once, or not receipted")).await.unwrap();
    let held = Arc::clone(&faults);
    let holding = tokio::task::spawn_blocking(move || held.wait_held(DEADLINE)).await.unwrap();
    assert!(holding, "DEU never started writing the message");
    // FRA's first attempt times out and it tries again; the retry reaches
    // DEU while the first copy's write is still held, and waits on it (or,
    // were the bug back, is answered at once and leaves FRA's outbox).
    poll_until("FRA's retry to reach DEU", || async {
        let waiting = b.status().await.ok()?.receipts_waiting >= 2;
        let answered = a.outbox().await.ok()?.is_empty();
        (waiting || answered).then_some(())
    })
    .await;
    faults.release(true);

    // A later attempt is taken in as new, written, and receipted.
    let view = a.wait_delivered(sent.msg_id, Duration::from_secs(60)).await.unwrap();
    assert_eq!(view.status, "delivered", "{view:?}");
    // FRA holds a receipt: DEU must hold the message, once.
    let stored = b.message(sent.msg_id, false).await;
    assert!(stored.is_ok(), "FRA holds a receipt for a message DEU does not store: {stored:?}");
    let inbox = b.messages(MessageQuery::default()).await.unwrap();
    assert_eq!(inbox.iter().filter(|m| m.msg_id == sent.msg_id).count(), 1);
    na.shutdown().await.unwrap();
    nb.shutdown().await.unwrap();
}

/// A comcheck's `receipted_at` used to be written in a batch of its own,
/// after the receipt's: a crash between the two left a stored receipt and
/// a check that, after the restart, reported the target `undeliverable`.
/// Here FRA's disk fails the write that records the challenge's receipt in
/// the check, and FRA restarts: the check must still know the receipt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comcheck_never_loses_a_receipt_its_node_stored() {
    let net = TestNet::new("durability comcheck");
    let faults = Arc::new(WriteFaults::new());
    let fra = net.prepare("fra", "FRA", true);
    let fra_options = |bootstrap: &[hotline_net::Multiaddr], faults: Option<Arc<WriteFaults>>| NodeOptions {
        write_faults: faults,
        ..options(bootstrap)
    };
    let na = start(&fra, fra_options(&[], Some(Arc::clone(&faults)))).await;
    let nb = start(&net.prepare("deu", "DEU", true), options(&[first_addr(&na)])).await;
    let (a, b) = (na.handle(), nb.handle());
    publish(&a, "technical", "CERT-FR").await;
    publish(&b, "technical", "CERT-Bund").await;
    converged(&[a.clone(), b.clone()], 6).await;

    // The check's first write (its start) goes through; the next one, which
    // records the challenge's receipt, fails.
    faults.hold_write_to(FaultTable::Comchecks, 1);
    let started = a
        .comcheck_start(ComcheckStartRequest {
            to: Some(vec!["DEU".parse().unwrap()]),
            role: Some(Role::technical()),
            deadline_secs: 600,
            task: ComcheckTask::None,
            announced: true,
            is_exercise: true,
            share_full: false,
            from_role: None,
        })
        .await
        .unwrap();
    let held = Arc::clone(&faults);
    let holding = tokio::task::spawn_blocking(move || held.wait_held(DEADLINE)).await.unwrap();
    assert!(holding, "FRA never wrote the challenge's receipt");
    faults.release(true);

    // Once FRA's outbox is empty, the receipt is stored for good.
    poll_until("the challenge's receipt to be stored", || async { a.outbox().await.ok()?.is_empty().then_some(()) })
        .await;
    let addr = first_addr(&nb);
    na.shutdown().await.unwrap();
    let data = fra.data.clone();
    let again = Prepared {
        data,
        state: "FRA".parse().unwrap(),
        state_key: SecretKey::from_seed(&[0; 32]),
        node: NodeId([0; 32]),
    };
    let na = start(&again, fra_options(&[addr], None)).await;
    let view = na.handle().comcheck_status(started.comcheck_id).await.unwrap();
    let target = &view.targets[0];
    assert!(target.receipted_at.is_some(), "the receipt is stored, the check forgot it: {target:?}");
    na.shutdown().await.unwrap();
    nb.shutdown().await.unwrap();
}

/// A disk that stalls must make the node unhealthy, not hang the
/// monitoring that asks: `GET /health` answers 503 once its probe write
/// has not completed within 10 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_503_when_the_store_does_not_complete_its_probe_write() {
    let net = TestNet::new("durability health");
    let faults = Arc::new(WriteFaults::new());
    let prepared = net.prepare("fra", "FRA", true);
    let node = start(&prepared, NodeOptions { write_faults: Some(Arc::clone(&faults)), ..options(&[]) }).await;
    let client = hotline_node::Client::for_data_dir(&prepared.data);

    faults.hold_write_to(FaultTable::Health, 0);
    let asked = tokio::time::timeout(DEADLINE, client.health()).await;
    let view = asked.unwrap_or_else(|_| panic!("/health hung on a stalled disk")).unwrap();
    assert!(!view.healthy && !view.store_writable, "{view:?}");
    assert!(view.reasons.iter().any(|r| r.contains("did not complete a write within 10 s")), "{view:?}");
    let held = Arc::clone(&faults);
    assert!(tokio::task::spawn_blocking(move || held.wait_held(DEADLINE)).await.unwrap(), "the probe was held");
    faults.release(false);
    // The disk is back: the next probe is written.
    let view = client.health().await.unwrap();
    assert!(view.store_writable, "{view:?}");
    node.shutdown().await.unwrap();
}
