//! Messages a peer lost, delivered again.
//!
//! A node whose store is put back to an older copy (restored from a
//! backup, or rolled back behind its back: a virtual machine's snapshot, a
//! file copied back) has lost every message it stored since, though their
//! senders hold its signed receipts for them. It cannot always know it; its
//! senders can, from the numbers in those receipts
//! (`hotline_crypto::DeliveryReceipt::seq`, numbered per pair of nodes):
//!
//! - **Asked on connection.** Each node asks every member it connects to
//!   for the last receipt number it issued to it (`ReceiptsIssued`, once
//!   per connection, only if it holds numbered receipts from that node).
//!   An answer lower than the highest number held means the peer lost
//!   every message above its answer.
//! - **A number seen twice.** A receipt whose number the sender already
//!   holds for another message means the peer went back behind that
//!   number: it lost that message and every later one (the exchange above
//!   may have raced with the peer's first new receipts).
//!
//! Either way the messages under the lost numbers are queued again for
//! that node from the sent box (their outbox rows start unsealed and the
//! delivery loop seals them to its current prekeys, as for any recipient),
//! and their numbers are forgotten until the new receipts come. The
//! receiving node stores each once: one it still holds is a duplicate,
//! answered with its stored receipt. At most [`REDELIVER_BATCH`] messages
//! are queued per write; the next batch follows when it is durable.
//!
//! A member that lies (says it issued nothing, or signs two receipts with
//! one number) can make this node seal again the messages it sent to that
//! very node, which that node could already read: no secret leaks, and the
//! work is bounded by one round per node per [`RECOVERY_COOLDOWN`]. A round
//! asked for during the cool-down, or while a batch is being written, is
//! kept (the lowest number asked) and started by the sync tick after it.

use crate::actor::{Actor, After, Completion};
use crate::outbox::DeliveryKey;
use hotline_core::{NodeId, Timestamp};
use hotline_crypto::DeliveryReceipt;
use hotline_net::{PeerId, SyncRequest, SyncResponse, node_id_of};
use hotline_store::{MessageRow, OutboxRow, StoreError, WriteBatch};
use std::collections::HashSet;
use tracing::{debug, info, warn};

/// Most messages queued again in one write.
pub(crate) const REDELIVER_BATCH: usize = 1_000;
/// Least time between two rounds of recovery started for one node (the
/// batches of one round follow each other at once).
pub(crate) const RECOVERY_COOLDOWN: std::time::Duration = std::time::Duration::from_secs(60);

impl Actor {
    /// The number of the next receipt this node issues to `sender`: one
    /// more than the last it issued (kept in memory once read, so that
    /// receipts whose writes are in flight never share a number).
    pub(in crate::actor) fn next_receipt_number(&mut self, sender: NodeId) -> Result<u64, StoreError> {
        let last = match self.mail.issued.get(&sender) {
            Some(last) => *last,
            None => self.store.receipts_issued(&sender)?,
        };
        let next = last.saturating_add(1);
        self.mail.issued.insert(sender, next);
        Ok(next)
    }

    /// The answer to a member's `ReceiptsIssued`: the last receipt number
    /// durably issued to it (one whose write is in flight has not left).
    pub(in crate::actor) fn receipts_issued_to(&self, peer: &PeerId) -> SyncResponse {
        let Some(node) = node_id_of(peer) else { return SyncResponse::Refused };
        match self.store.receipts_issued(&node) {
            Ok(n) => SyncResponse::ReceiptsIssued(n),
            Err(e) => {
                warn!(%peer, error = %e, "cannot read the receipt numbers issued");
                SyncResponse::Refused
            }
        }
    }

    /// Asks member `peer`, just connected, for the last receipt number it
    /// issued to this node, if this node holds numbered receipts from it.
    /// A question that fails, or that the peer refuses (its directory may
    /// not count this node as a member yet), is asked again at the next
    /// sync tick.
    pub(in crate::actor) fn ask_receipts_issued(&mut self, peer: PeerId) {
        let Some(node) = node_id_of(&peer) else { return };
        match self.store.last_receipt_number(&node) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => return warn!(%peer, error = %e, "cannot read the receipt numbers held"),
        }
        let (net, actor) = (self.net.clone(), self.tasks.completions());
        self.tasks.spawn(async move {
            let last = match net.sync_request(peer, SyncRequest::ReceiptsIssued).await {
                Ok(SyncResponse::ReceiptsIssued(n)) => Some(n),
                Ok(_) => None,
                Err(e) => {
                    debug!(%peer, error = %e, "cannot ask for the receipt numbers issued");
                    None
                }
            };
            let _ = actor.send(Completion::ReceiptsIssued { peer, node, last }).await;
        });
    }

    /// `node` says the last receipt it issued to this node is `last`
    /// (`None`: it did not answer).
    pub(in crate::actor) fn on_receipts_issued(&mut self, peer: PeerId, node: NodeId, last: Option<u64>) {
        let Some(last) = last else {
            self.mail.recovery.unanswered.insert(peer);
            return;
        };
        self.mail.recovery.unanswered.remove(&peer);
        let held = match self.store.last_receipt_number(&node) {
            Ok(held) => held,
            Err(e) => return warn!(%node, error = %e, "cannot read the receipt numbers held"),
        };
        if last < held {
            warn!(%node, said = last, held, "a peer issued fewer receipts than this node holds: it lost messages");
            self.redeliver_lost(node, last);
        }
    }

    /// Receipt `bytes` from `key.1` for `key.0` is about to be stored in
    /// `batch`: record its number, and if another message holds that
    /// number, the recipient went back behind it.
    pub(in crate::actor) fn number_receipt(&mut self, key: &DeliveryKey, bytes: &[u8], batch: &mut WriteBatch) {
        let (msg, node) = *key;
        let Some(seq) = DeliveryReceipt::from_bytes(bytes).ok().and_then(|r| r.seq()) else { return };
        // Numbers grow: only one at or below the highest held can be held
        // already, so the common case reads nothing (the highest is read
        // once per node, then followed in memory).
        let highest = match self.mail.recovery.highest.get(&node) {
            Some(h) => Some(*h),
            None => self.store.last_receipt_number(&node).ok(),
        };
        let holder = if highest.is_some_and(|h| seq > h) {
            None
        } else {
            match self.store.snapshot().and_then(|s| s.receipt_number(&node, seq)) {
                Ok(holder) => holder,
                Err(e) => {
                    warn!(%node, error = %e, "cannot read the receipt numbers held");
                    None
                }
            }
        };
        if let Some(h) = highest {
            self.mail.recovery.highest.insert(node, h.max(seq));
        }
        if holder.is_some_and(|other| other != msg) {
            warn!(%node, seq, "a peer issued a receipt number twice: it lost the messages from that number on");
            // Read now, before this batch gives the number to `msg`: the
            // message that held it is queued again with the later ones.
            // (`msg` itself may be queued again if the round waits; the
            // peer answers that copy as a duplicate.)
            self.redeliver_lost(node, seq.saturating_sub(1));
        }
        batch.put_receipt_number(&node, seq, msg);
    }

    /// Asks for the messages under the receipt numbers held from `node`
    /// above `after` to be queued again for it, and starts the round unless
    /// a batch is being written or the cool-down runs.
    pub(in crate::actor) fn redeliver_lost(&mut self, node: NodeId, after: u64) {
        let round = self.mail.recovery.nodes.entry(node).or_default();
        round.asked = Some(round.asked.map_or(after, |asked| asked.min(after)));
        self.start_recovery(node, false);
    }

    /// Starts the round asked for `node`, if any, unless a batch is being
    /// written or (`continuing` aside) the cool-down runs.
    fn start_recovery(&mut self, node: NodeId, continuing: bool) {
        let now = tokio::time::Instant::now();
        let Some(round) = self.mail.recovery.nodes.get_mut(&node) else { return };
        let cooling = round.started.is_some_and(|at| now.duration_since(at) < RECOVERY_COOLDOWN);
        if round.writing || (cooling && !continuing) {
            return;
        }
        let Some(after) = round.asked.take() else { return };
        if !continuing {
            round.started = Some(now);
        }
        self.redeliver_batch(node, after);
    }

    /// Starts the rounds the cool-down held back, and asks again the
    /// members that did not answer (each sync tick).
    pub(in crate::actor) fn recovery_tick(&mut self) {
        let waiting: Vec<NodeId> =
            self.mail.recovery.nodes.iter().filter(|(_, r)| r.asked.is_some()).map(|(n, _)| *n).collect();
        for node in waiting {
            self.start_recovery(node, false);
        }
        let unanswered: Vec<PeerId> = self.mail.recovery.unanswered.drain().collect();
        let connected: Vec<PeerId> = unanswered
            .into_iter()
            .filter(|p| self.directory.members.contains_key(p) && self.connected.contains_key(p))
            .collect();
        for peer in connected {
            self.ask_receipts_issued(peer);
        }
    }

    /// One batch: queues again for `node` the messages under its receipt
    /// numbers above `after`, at most [`REDELIVER_BATCH`] of them, and
    /// forgets those numbers.
    fn redeliver_batch(&mut self, node: NodeId, after: u64) {
        let now = self.now();
        // A node no longer a member gets nothing; its numbers stay.
        if !self.directory.dir.is_member(&node, now) {
            return;
        }
        let lost = match self.store.snapshot().and_then(|s| s.receipt_numbers_after(&node, after, REDELIVER_BATCH)) {
            Ok(lost) => lost,
            Err(e) => return warn!(%node, error = %e, "cannot read the receipt numbers held"),
        };
        let full = lost.len() == REDELIVER_BATCH;
        let last_read = lost.last().map_or(after, |(seq, _)| *seq);
        let mut batch = WriteBatch::new();
        let mut added = Vec::new();
        let mut queued: HashSet<hotline_core::MessageId> = HashSet::new();
        for (seq, msg) in lost {
            let key = (msg, node);
            // Already on its way (its receipt being written, or queued):
            // the number stays until the new receipt replaces it.
            if self.mail.schedule.get(&key).is_some() || queued.contains(&msg) {
                continue;
            }
            match self.store.message(&msg) {
                Ok(Some(MessageRow::Sent(_))) => {}
                // Not a message sent from here: nothing to deliver, and the
                // number means nothing.
                Ok(_) => {
                    batch.delete_receipt_number(&node, seq);
                    continue;
                }
                Err(e) => {
                    warn!(%msg, error = %e, "cannot read a message to deliver again; its number stays");
                    continue;
                }
            }
            batch.delete_receipt_number(&node, seq);
            let unsealed = OutboxRow { envelope: Vec::new(), queued_at: now, attempts: 0, last_error: None };
            batch.put_outbox(msg, &node, &unsealed);
            self.log_event(&mut batch, hotline_evidence::EvidenceEvent::MessageSent { msg_id: msg.0, to: node });
            queued.insert(msg);
            added.push(key);
        }
        if batch.is_empty() {
            return;
        }
        info!(%node, messages = added.len(), "delivering again what a peer lost");
        self.mail.recovery.nodes.entry(node).or_default().writing = true;
        let after = if full { last_read } else { after };
        self.persist_with(Vec::new(), batch, After::Redelivering { node, added, after, full, at: now }, Vec::new());
    }

    /// A batch of messages to deliver again is durable (or not): schedule
    /// them, and go on with the next batch if this one was `full` (from
    /// `after`, the last number it read) or with a round asked for
    /// meanwhile.
    pub(in crate::actor) fn on_redelivering(
        &mut self,
        result: Result<(), String>,
        node: NodeId,
        added: Vec<DeliveryKey>,
        after: u64,
        full: bool,
        at: Timestamp,
    ) {
        let round = self.mail.recovery.nodes.entry(node).or_default();
        round.writing = false;
        match result {
            Ok(()) => {
                let now = tokio::time::Instant::now();
                let count = added.len();
                for key in added {
                    self.mail.schedule.insert(key, None, at, now);
                }
                self.emit(crate::api_types::NodeEvent::Redelivering { node: node.to_string(), messages: count });
                self.dispatch_due();
                if full {
                    let round = self.mail.recovery.nodes.entry(node).or_default();
                    round.asked = Some(round.asked.map_or(after, |asked| asked.min(after)));
                    self.start_recovery(node, true);
                }
            }
            Err(e) => {
                // Nothing changed: the same round again at a later tick.
                let round = self.mail.recovery.nodes.entry(node).or_default();
                round.asked = Some(round.asked.map_or(after, |asked| asked.min(after)));
                warn!(%node, error = %e, "messages to deliver again could not be queued; trying again later")
            }
        }
    }
}

/// The recovery state of each node this node delivers to again.
#[derive(Default)]
pub(crate) struct Recovery {
    /// By member node: one entry per node that lost messages.
    pub(crate) nodes: std::collections::HashMap<NodeId, Round>,
    /// Members that did not answer `ReceiptsIssued`: asked again each tick.
    pub(crate) unanswered: HashSet<PeerId>,
    /// The highest receipt number held from each node, once read (an upper
    /// bound: a redelivery that forgets numbers leaves it as it was).
    pub(crate) highest: std::collections::HashMap<NodeId, u64>,
}

/// Recovery for one node.
#[derive(Default)]
pub(crate) struct Round {
    /// The lowest number above which messages are to be queued again,
    /// once the batch being written and the cool-down allow.
    pub(crate) asked: Option<u64>,
    /// A batch is being written.
    pub(crate) writing: bool,
    /// When the last round started (the cool-down runs from it).
    pub(crate) started: Option<tokio::time::Instant>,
}
