//! A state revokes one of its nodes (a stolen laptop, a compromised
//! server): every member stops counting it, cuts it off and refuses it,
//! through the real network. Another state cannot revoke it.

use hotline_core::{Address, MessageType, Role};
use hotline_node::api_types::SendRequest;
use hotline_node::error::RevokeError;
use hotline_node::testkit::*;
use hotline_store::NodeKeys;
use std::time::Duration;

/// FRA's admitted node, a second node of FRA (its own node key, FRA's
/// state key), and DEU's admitted node, prepared.
fn two_fra_nodes_and_deu(net: &TestNet) -> (Prepared, Prepared, Prepared) {
    let fra = net.prepare("fra", "FRA", true);
    let fra2 = net.prepare("fra2", "FRA", false);
    std::fs::copy(NodeKeys::state_key_path(&fra.data), NodeKeys::state_key_path(&fra2.data))
        .unwrap_or_else(|e| panic!("{e}"));
    (fra, fra2, net.prepare("deu", "DEU", true))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_node_is_cut_off_by_every_member_and_only_its_state_can_revoke_it() {
    let net = TestNet::new("node revocation");
    let (fra, fra2, deu) = two_fra_nodes_and_deu(&net);
    // A node that merely stops being a member keeps a stranger's grace
    // window (here longer than the test's waits); a revoked one must not.
    let opts = |bootstrap: &[hotline_node::Multiaddr]| {
        let mut o = options(bootstrap);
        o.grace = Some(Duration::from_secs(600));
        o
    };
    let n_fra = start(&fra, opts(&[])).await;
    let n_deu = start(&deu, opts(&[first_addr(&n_fra)])).await;
    let n_fra2 = start(&fra2, opts(&[first_addr(&n_fra)])).await;
    let (a, b, a2) = (n_fra.handle(), n_deu.handle(), n_fra2.handle());
    // FRA's technical record lists both of its nodes.
    let mut both = draft("technical", fra.node, "CERT-FR");
    both.nodes.push(fra2.node);
    a.publish_record(both, None).await.unwrap_or_else(|e| panic!("{e}"));
    publish(&b, "technical", "CERT-Bund").await;
    converged(&[a.clone(), b.clone(), a2.clone()], 7).await;
    let second = a2.peer_id();
    poll_until("DEU to count FRA's second node as a member, connected", || async {
        b.peers().await.ok()?.iter().any(|p| p.peer_id == second.to_string() && p.member).then_some(())
    })
    .await;

    // DEU cannot revoke FRA's node: the revocation it could sign with its
    // own key names a node DEU never listed, and is refused.
    let refused = b.revoke_node(fra2.node, "not ours to revoke".into()).await;
    assert!(matches!(refused, Err(RevokeError::Rejected(_))), "{refused:?}");
    // A node cannot revoke itself.
    let refused = a2.revoke_node(fra2.node, "myself".into()).await;
    assert!(matches!(refused, Err(RevokeError::OwnNode(_))), "{refused:?}");

    let revoked = a.revoke_node(fra2.node, "laptop stolen".into()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(revoked.still_listed_by, vec![Role::technical()], "{revoked:?}");
    assert_eq!(revoked.node, second.to_string());
    // Every member cuts it off and keeps it out.
    for (who, h) in [("FRA", &a), ("DEU", &b)] {
        poll_until(&format!("{who} to drop the revoked node"), || async {
            let peers = h.peers().await.ok()?;
            (!peers.iter().any(|p| p.peer_id == second.to_string())).then_some(())
        })
        .await;
    }
    // Revoking it again is refused with its own code.
    let again = a.revoke_node(fra2.node, "laptop stolen".into()).await;
    assert!(matches!(again, Err(RevokeError::AlreadyRevoked(_))), "{again:?}");
    // It stays out: after its redials, DEU still holds no connection to it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!b.peers().await.unwrap_or_default().iter().any(|p| p.peer_id == second.to_string()));

    // A message to FRA's technical PoC now goes to its first node only.
    let to = Address { state: "FRA".parse().unwrap_or_else(|e| panic!("{e}")), role: Role::technical() };
    let sent = b.send(SendRequest::new(to, MessageType::Notification, "After the revocation")).await;
    let sent = sent.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sent.deliveries.len(), 1, "only FRA's first node: {sent:?}");
    assert_eq!(sent.deliveries[0].node, a.peer_id().to_string());
    for node in [n_fra, n_deu, n_fra2] {
        node.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    }
}

/// A message DEU queued for FRA's only listed node, which is down, is not
/// lost when FRA lists its other node and revokes the lost one: DEU takes
/// the delivery off the revoked node and seals the message for the other,
/// which stores it once. (Without the move, it would wait for ever.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_queued_for_a_revoked_node_goes_to_the_states_other_node_once() {
    queued_delivery_moves(Leave::Revoke).await;
}

/// The same when FRA simply replaces the lost node in its record, without
/// revoking it (or republishes after revoking it, as `node revoke` advises,
/// which makes the revocation no longer count).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_queued_for_a_node_its_state_no_longer_lists_goes_to_the_node_listed_now() {
    queued_delivery_moves(Leave::Replace).await;
}

/// How FRA leaves its lost node.
enum Leave {
    /// Lists its other node too, and revokes the lost one.
    Revoke,
    /// Lists its other node instead of the lost one.
    Replace,
}

async fn queued_delivery_moves(leave: Leave) {
    use hotline_node::api_types::{DeliveryState, MessageQuery, MessageState};
    let net = TestNet::new("moved deliveries");
    let (fra, fra2, deu) = two_fra_nodes_and_deu(&net);
    let n_fra = start(&fra, options(&[])).await;
    let n_deu = start(&deu, options(&[first_addr(&n_fra)])).await;
    let n_fra2 = start(&fra2, options(&[first_addr(&n_fra)])).await;
    let (a, b, a2) = (n_fra.handle(), n_deu.handle(), n_fra2.handle());
    // FRA's technical record lists its second node only; its first node
    // is a member through FRA's policy record.
    a.publish_record(draft("technical", fra2.node, "CERT-FR"), None).await.unwrap_or_else(|e| panic!("{e}"));
    a.publish_record(draft("policy", fra.node, "MFA"), None).await.unwrap_or_else(|e| panic!("{e}"));
    publish(&b, "technical", "CERT-Bund").await;
    converged(&[a.clone(), b.clone(), a2.clone()], 8).await;
    let (first, second) = (a.peer_id().to_string(), a2.peer_id().to_string());

    // The second node's server is lost: DEU's message waits for it.
    n_fra2.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    let to = Address { state: "FRA".parse().unwrap_or_else(|e| panic!("{e}")), role: Role::technical() };
    let sent = b.send(SendRequest::new(to, MessageType::Notification, "Queued for a lost node")).await;
    let sent = sent.unwrap_or_else(|e| panic!("{e}"));
    let queued_for: Vec<&str> = sent.deliveries.iter().map(|d| d.node.as_str()).collect();
    assert_eq!(queued_for, [second.as_str()]);

    match leave {
        Leave::Revoke => {
            let mut both = draft("technical", fra.node, "CERT-FR");
            both.nodes.push(fra2.node);
            a.publish_record(both, None).await.unwrap_or_else(|e| panic!("{e}"));
            a.revoke_node(fra2.node, "server lost".into()).await.unwrap_or_else(|e| panic!("{e}"));
        }
        Leave::Replace => {
            let first_only = draft("technical", fra.node, "CERT-FR");
            a.publish_record(first_only, None).await.unwrap_or_else(|e| panic!("{e}"));
        }
    }

    let view = poll_until("DEU's message to reach FRA's first node", || async {
        let view = b.message(sent.msg_id, false).await.ok()?;
        (view.status == MessageState::Delivered).then_some(view)
    })
    .await;
    let by_node: Vec<(String, DeliveryState)> = view.deliveries.iter().map(|d| (d.node.clone(), d.status)).collect();
    assert!(by_node.contains(&(second.clone(), DeliveryState::Withdrawn)), "{by_node:?}");
    assert!(by_node.contains(&(first.clone(), DeliveryState::Delivered)), "{by_node:?}");
    assert_eq!(by_node.len(), 2, "{by_node:?}");
    let inbox = a.messages(MessageQuery::default()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inbox.iter().filter(|m| m.msg_id == sent.msg_id).count(), 1, "stored once: {inbox:?}");
    // Nothing is left queued at DEU.
    assert!(b.outbox().await.unwrap_or_else(|e| panic!("{e}")).is_empty());
    for node in [n_fra, n_deu] {
        node.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    }
}
