//! Deliveries queued for a node its state revoked: taken off it and given
//! to the state's other nodes, so that a revocation loses no message.
//!
//! A revoked node can no longer receive (every member blocks it), so its
//! queued deliveries would fail for ever. Each is moved once the record it
//! was addressed through lists another member node: the message is sealed
//! for that node as for any recipient (its outbox row starts unsealed, and
//! the delivery loop seals it), and the revoked node's delivery is marked
//! withdrawn. A node that already holds its own envelope of the message
//! gets nothing more. Checked whenever membership is refreshed (each sync
//! tick, and each change of the roster), so a delivery in flight at the
//! revocation, or one whose state lists no other node yet, moves later.

use super::policy::{Move, plan_move};
use crate::actor::{Actor, After};
use crate::mailbox::decode_message;
use crate::outbox::DeliveryKey;
use hotline_core::{MessageId, NodeId, StateCode, Timestamp};
use hotline_store::{MessageRow, OutboxRow, WriteBatch};
use std::collections::{BTreeMap, HashSet};
use tracing::{info, warn};

impl Actor {
    /// Moves the queued deliveries to revoked nodes that can be moved.
    pub(in crate::actor) fn move_off_revoked(&mut self) {
        let now = self.now();
        let revoked: HashSet<(StateCode, NodeId)> = self.directory.dir.revoked_nodes(now).into_iter().collect();
        if revoked.is_empty() {
            return;
        }
        let nodes: HashSet<NodeId> = revoked.iter().map(|(_, n)| *n).collect();
        let mut by_message: BTreeMap<MessageId, Vec<NodeId>> = BTreeMap::new();
        for (msg, node) in self.mail.schedule.keys_to(&nodes) {
            by_message.entry(msg).or_default().push(node);
        }
        if by_message.is_empty() {
            return;
        }
        let mut batch = WriteBatch::new();
        let mut moved = Vec::new();
        let mut added = Vec::new();
        for (msg, nodes) in by_message {
            let mut row = match self.store.message(&msg) {
                Ok(Some(MessageRow::Sent(row))) => row,
                Ok(_) => continue,
                Err(e) => {
                    warn!(%msg, error = %e, "cannot read a message queued for a revoked node; trying again later");
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
            let Some(Move { off, to: targets }) =
                plan_move(&self.directory.dir, &revoked, &message.to, &row.recipients, &nodes, now)
            else {
                continue;
            };
            for node in &off {
                batch.delete_outbox(msg, node);
                batch.withdraw_delivery(msg, node, now);
                moved.push((msg, *node));
            }
            for node in &targets {
                let unsealed = OutboxRow { envelope: Vec::new(), queued_at: now, attempts: 0, last_error: None };
                batch.put_outbox(msg, node, &unsealed);
                added.push((msg, *node));
            }
            info!(%msg, from = off.len(), to = targets.len(), "deliveries moved off revoked nodes to the state's other nodes");
            row.recipients.extend(targets);
            batch.put_message(msg, &MessageRow::Sent(row));
        }
        if moved.is_empty() {
            return;
        }
        // Off the schedule at once, so that the next refresh does not move
        // them again while this write is in flight; put back if it fails.
        let taken: Vec<(DeliveryKey, Timestamp)> =
            moved.iter().filter_map(|key| self.mail.schedule.remove(key).map(|p| (*key, p.queued_at))).collect();
        self.persist_with(Vec::new(), batch, After::Moved { taken, added, at: now }, Vec::new());
    }

    /// A move is durable (`result`): deliver to the new nodes; or it failed,
    /// and the deliveries taken off the schedule go back on it.
    pub(in crate::actor) fn on_moved(
        &mut self,
        result: Result<(), String>,
        taken: Vec<(DeliveryKey, Timestamp)>,
        added: Vec<DeliveryKey>,
        at: Timestamp,
    ) {
        let now = tokio::time::Instant::now();
        match result {
            Ok(()) => {
                for key in added {
                    self.mail.schedule.insert(key, None, at, now);
                }
                self.dispatch_due();
            }
            Err(e) => {
                warn!(error = %e, "moving deliveries off a revoked node could not be stored; trying again later");
                for (key, queued_at) in taken {
                    self.mail.schedule.insert(key, None, queued_at, now);
                }
            }
        }
    }
}
