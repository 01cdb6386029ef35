//! Deliveries queued for a node its state no longer lists (it revoked the
//! node, or left it out of its records): taken off it and given to the
//! nodes the record lists now, so that neither loses a message.
//!
//! Such a node will never take the message (every member blocks a revoked
//! node; a node no record lists is a stranger), so its queued deliveries
//! would fail for ever. Each is moved once the record the message was
//! addressed through lists another member node: the message is sealed for
//! that node as for any recipient (its outbox row starts unsealed, and the
//! delivery loop seals it), and the old node's delivery is marked
//! withdrawn, naming the new nodes. A node that already holds its own
//! envelope of the message gets nothing more (if every node listed does,
//! the old delivery is only withdrawn). Checked whenever membership
//! is refreshed (each sync tick, and each change of the roster), so a
//! delivery in flight at that moment, or one whose state lists no other
//! node yet, moves later.
//!
//! The sent message's row is never rewritten here (acknowledgements
//! rewrite it concurrently): the nodes a message went to are its row's
//! recipients plus the nodes its withdrawals name. A message being moved,
//! or being cancelled, is left alone until that write is durable.

use super::policy::{Move, plan_move};
use crate::actor::{Actor, After};
use crate::mailbox::decode_message;
use crate::outbox::DeliveryKey;
use hotline_core::{MessageId, NodeId, Timestamp};
use hotline_store::{MessageRow, OutboxRow, Withdrawal, WriteBatch};
use std::collections::{BTreeMap, HashSet};
use tracing::{info, warn};

impl Actor {
    /// Moves the queued deliveries to nodes their state no longer lists.
    pub(in crate::actor) fn move_off_unlisted(&mut self) {
        // Each sync tick comes here: with nothing queued, it costs nothing.
        let queued = self.mail.schedule.keys_idle();
        if queued.is_empty() {
            return;
        }
        let now = self.now();
        // A first cut that reads no message: nodes that are members for no
        // state, and nodes revoked by some state (a node another state also
        // lists stays a member, yet its own state's revocation must move
        // its deliveries). `plan_move` then decides for the addressee's
        // state alone.
        let members: HashSet<NodeId> = self.directory.members.keys().filter_map(hotline_net::node_id_of).collect();
        let revoked: HashSet<NodeId> = self.directory.dir.revoked_nodes(now).into_iter().map(|(_, n)| n).collect();
        let mut by_message: BTreeMap<MessageId, Vec<NodeId>> = BTreeMap::new();
        for (msg, node) in queued {
            let unlisted = !members.contains(&node) || revoked.contains(&node);
            if unlisted && !self.mail.moving.contains(&msg) && !self.mail.cancelling.contains(&msg) {
                by_message.entry(msg).or_default().push(node);
            }
        }
        if by_message.is_empty() {
            return;
        }
        let mut batch = WriteBatch::new();
        let mut moved = Vec::new();
        let mut added = Vec::new();
        for (msg, nodes) in by_message {
            let read = self.store.snapshot().and_then(|s| Ok((s.message(&msg)?, s.receipts(&msg)?)));
            let (row, receipted) = match read {
                Ok((Some(MessageRow::Sent(row)), receipts)) => (row, receipts),
                Ok(_) => continue,
                Err(e) => {
                    warn!(%msg, error = %e, "cannot read a message queued for an unlisted node; trying again later");
                    continue;
                }
            };
            let message = match decode_message(&msg, &row.message) {
                Ok(m) => m,
                Err(e) => {
                    warn!(%msg, error = %e, "a stored message does not decode; its deliveries stay where they are");
                    continue;
                }
            };
            // The nodes that hold the message or will: a receipt from them,
            // or a delivery still queued (not one being moved off). A node
            // whose own delivery was withdrawn earlier holds nothing.
            let mut holding: Vec<NodeId> = receipted.into_iter().map(|(node, _)| node).collect();
            holding.extend(
                self.mail.schedule.keys_of(&msg).into_iter().map(|(_, node)| node).filter(|n| !nodes.contains(n)),
            );
            let Some(Move { off, to: targets }) = plan_move(&self.directory.dir, &message.to, &holding, &nodes, now)
            else {
                continue;
            };
            let withdrawal = Withdrawal { at: now, to: targets.clone() };
            for node in &off {
                batch.delete_outbox(msg, node);
                batch.withdraw_delivery(msg, node, &withdrawal);
                moved.push((msg, *node));
            }
            for node in &targets {
                let unsealed = OutboxRow { envelope: Vec::new(), queued_at: now, attempts: 0, last_error: None };
                batch.put_outbox(msg, node, &unsealed);
                self.log_event(&mut batch, hotline_evidence::EvidenceEvent::MessageSent { msg_id: msg.0, to: *node });
                added.push((msg, *node));
            }
            info!(%msg, from = off.len(), to = targets.len(), "deliveries moved off nodes their state no longer lists");
            self.mail.moving.insert(msg);
        }
        if moved.is_empty() {
            return;
        }
        self.persist_with(Vec::new(), batch, After::Moved { moved, added, at: now }, Vec::new());
    }

    /// A move's write ended (`result`): once durable, the old deliveries
    /// leave the schedule and the new ones join it; if it failed, nothing
    /// changed and the next refresh tries again.
    pub(in crate::actor) fn on_moved(
        &mut self,
        result: Result<(), String>,
        moved: Vec<DeliveryKey>,
        added: Vec<DeliveryKey>,
        at: Timestamp,
    ) {
        for (msg, _) in moved.iter().chain(&added) {
            self.mail.moving.remove(msg);
        }
        match result {
            Ok(()) => {
                let now = tokio::time::Instant::now();
                for key in &moved {
                    self.mail.schedule.remove(key);
                }
                for key in added {
                    self.mail.schedule.insert(key, None, at, now);
                }
                self.dispatch_due();
            }
            Err(e) => {
                warn!(error = %e, "moving deliveries off an unlisted node could not be stored; trying again later")
            }
        }
    }
}
