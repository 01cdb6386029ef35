//! The commit queue: write batches handed to the group committer, and what
//! runs once each is durable (answers, gossip, events), in submission order.

use super::*;

/// What to do once a write batch is durable (or has failed).
pub(super) enum After {
    /// Answer a health check once its probe write has succeeded or failed.
    Health { reply: oneshot::Sender<crate::api_types::HealthView>, admitted: bool, connected_members: usize },
    /// Acknowledge a peer's push.
    PushAck(SyncReply),
    /// Let the sync task ask for its next batch.
    Fetched(oneshot::Sender<()>),
    /// Answer a record publish from the control API.
    Publish { reply: Responder<RecordEntry>, entry: Box<RecordEntry> },
    /// Answer a node revocation from the control API.
    Revoked { reply: Responder<crate::api_types::RevokedNode>, view: Box<crate::api_types::RevokedNode> },
    /// Answer an object submitted through the control API.
    Submit { reply: Responder<SubmitResponse>, response: SubmitResponse },
    /// Nothing waits (prekey ring, read marks, resealed envelopes).
    Nothing,
    /// A message and its envelopes are durable: answer and deliver.
    Queued {
        reply: Responder<SendResponse>,
        response: SendResponse,
        envelopes: Vec<(NodeId, Option<Vec<u8>>)>,
        queued_at: Timestamp,
    },
    /// A message's queued deliveries are withdrawn for good: take them off
    /// the schedule, and answer.
    Cancelled { keys: Vec<crate::outbox::DeliveryKey>, reply: oneshot::Sender<Result<(), crate::error::CancelError>> },
    /// Deliveries to revoked nodes were moved to their states' other nodes
    /// (`actor::messaging::revoked`): schedule the new ones, or on failure
    /// put the old ones back.
    Moved { moved: Vec<crate::outbox::DeliveryKey>, added: Vec<crate::outbox::DeliveryKey>, at: Timestamp },
    /// A receipt is durable and the envelope left the outbox.
    Receipted { key: crate::outbox::DeliveryKey },
    /// A checkpoint of the evidence log was written (`actor::evidence`).
    Checkpointed { epoch: u64, size: u64, at: Timestamp },
    /// What a sync request's answer depends on is durable: answer it
    /// (on failure the reply is dropped, and the peer asks again).
    SyncAnswer { reply: SyncReply, response: SyncResponse },
    /// Messages a peer lost are queued again for it
    /// (`actor::messaging::recovery`): schedule them, and read the next
    /// batch if this one was `full`.
    Redelivering {
        node: hotline_core::NodeId,
        added: Vec<crate::outbox::DeliveryKey>,
        after: u64,
        full: bool,
        at: Timestamp,
    },
    /// A communication check and its challenges are durable: schedule the
    /// deliveries and answer.
    GroupQueued {
        comcheck: hotline_core::CaseId,
        queued: Vec<(hotline_core::MessageId, Vec<crate::handle::SealedFor>)>,
        queued_at: Timestamp,
        reply: Option<Responder<crate::api_types::ComcheckView>>,
        view: Box<crate::api_types::ComcheckView>,
    },
    /// Version `version` of the prekey ring is durable: a bundle naming
    /// its prekeys may now be published.
    RingWritten { version: u64 },
    /// A message is marked read: show it.
    Shown { reply: oneshot::Sender<Result<MessageView, NodeError>>, view: Result<Box<MessageView>, NodeError> },
    /// A received message is durable: return the receipt (to duplicates
    /// that waited too), announce it.
    Received { id: hotline_core::MessageId, reply: DeliverReply, receipt: Vec<u8>, events: Vec<NodeEvent> },
}

/// A write batch queued on the group committer.
pub(super) struct InFlight {
    after: After,
    /// Announced once durable.
    events: Vec<NodeEvent>,
    /// Wire bytes to publish on gossip once durable.
    publish: Vec<Vec<u8>>,
    /// Whether this node's own state changed (then we present ourselves to
    /// the connected peers that gossip does not reach).
    own_change: bool,
    /// Whether membership may have changed: anything but a prekey bundle.
    roster_change: bool,
    /// Slots of our own state this write changes (see `Actor::unsaved_own`).
    own_keys: Vec<ObjectKey>,
    /// Whether this write changes our state's admission or removes our
    /// objects (a new admission: they no longer chain to it); then what it
    /// removed is signed again under it once durable (`renewal`).
    own_epoch: bool,
    /// The index its first evidence leaf was to land at, and the
    /// generation of that guess (`actor::evidence`), if it carries leaves.
    first_leaf: Option<(u64, u64)>,
}

/// The committer's word that write `id` is durable, or failed.
pub(super) struct Committed {
    id: u64,
    result: Result<(), StoreError>,
}

/// The commit queue's own state: the writes handed to the group committer,
/// oldest first, each with what to do once it is durable. The committer
/// answers in submission order, so a completion is always the oldest write.
pub(super) struct CommitQueue {
    /// Where the committer's thread reports completions.
    tx: mpsc::UnboundedSender<Committed>,
    in_flight: VecDeque<(u64, InFlight)>,
    next_id: u64,
}

impl CommitQueue {
    pub(super) fn new(tx: mpsc::UnboundedSender<Committed>) -> CommitQueue {
        CommitQueue { tx, in_flight: VecDeque::new(), next_id: 0 }
    }

    /// Remembers `job` and hands `batch` to `committer`; its completion
    /// comes back on the queue's channel.
    pub(super) fn submit(&mut self, committer: &GroupCommitter, batch: WriteBatch, job: InFlight) {
        let id = self.enqueue(job);
        let tx = self.tx.clone();
        committer.submit_with(batch, move |result| {
            // The actor may be gone at shutdown; nothing waits then.
            let _ = tx.send(Committed { id, result });
        });
    }

    fn enqueue(&mut self, job: InFlight) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.in_flight.push_back((id, job));
        id
    }

    /// The write `committed` completes, with its result; `None` for a
    /// completion of nothing queued.
    pub(super) fn complete(&mut self, committed: Committed) -> Option<(InFlight, Result<(), StoreError>)> {
        let Some((id, job)) = self.in_flight.pop_front() else {
            error!(id = committed.id, "a commit completed that was never queued");
            return None;
        };
        if id != committed.id {
            // Were that order ever broken, the follow-ups would be attached
            // to the wrong write.
            error!(expected = id, got = committed.id, "commits completed out of order");
        }
        Some((job, committed.result))
    }

    /// Whether a write is still waiting for the committer.
    pub(super) fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }
}

impl Actor {
    /// Queues the write of `applied` and remembers what to do once durable.
    pub(super) fn persist(&mut self, applied: Vec<Applied>, after: After, publish: Vec<Vec<u8>>) {
        self.persist_with(applied, WriteBatch::new(), after, publish);
    }

    /// Like [`Actor::persist`], with more operations (`extra`) written in
    /// the same transaction after the directory's.
    pub(super) fn persist_with(
        &mut self,
        applied: Vec<Applied>,
        extra: WriteBatch,
        after: After,
        mut publish: Vec<Vec<u8>>,
    ) {
        let now = self.now();
        let mut batch = WriteBatch::new();
        let mut events = Vec::new();
        let (mut own_change, mut roster_change) = (false, false);
        for a in &applied {
            batch.record_applied(a, &self.directory.dir, now);
            for change in &a.changes {
                events.push(views::change_event(change));
                roster_change |= !matches!(change.key(), ObjectKey::Prekeys(_));
                if let Change::Accepted { object, .. } = change {
                    own_change |= object.state() == self.state;
                }
            }
        }
        if matches!(after, After::Publish { .. } | After::Submit { .. } | After::Revoked { .. }) && self.gossip {
            // Our own objects (and those handed to us by an operator) are news.
            publish.extend(self.directory.live_winners(&applied, now));
        }
        batch.extend(extra);
        // Our own objects are served to peers only once durable: a record
        // or bundle a peer took, then lost here in a crash, would come back
        // as an equivocation or a prekey this node cannot open.
        let own_keys: Vec<ObjectKey> = applied
            .iter()
            .flat_map(|a| &a.changes)
            .filter(|c| matches!(c, Change::Accepted { object, .. } if object.state() == self.state))
            .map(|c| c.key().clone())
            .collect();
        for key in &own_keys {
            *self.directory.unsaved_own.entry(key.clone()).or_default() += 1;
        }
        let own_epoch = applied.iter().flat_map(|a| &a.changes).any(|c| match c {
            Change::Removed { key, .. } => removed_state(key) == Some(self.state),
            Change::Accepted { key: ObjectKey::Admission(state), .. } => *state == self.state,
            _ => false,
        });
        let first_leaf = batch.first_leaf_at().map(|at| (at, self.evidence_generation()));
        let job = InFlight { after, events, publish, own_change, roster_change, own_keys, own_epoch, first_leaf };
        self.commits.submit(&self.committer, batch, job);
    }

    pub(super) async fn on_committed(&mut self, committed: Committed) {
        let Some((job, result)) = self.commits.complete(committed) else { return };
        if result.is_err()
            && let Some((first, generation)) = job.first_leaf
        {
            self.on_leaves_failed(first, generation);
        }
        // Only a durable write makes our own objects servable: after a
        // failed one they stay unserved until a restart reloads the store
        // (what a peer took and we then lost would come back as an
        // equivocation).
        if result.is_ok() {
            for key in &job.own_keys {
                if let Some(n) = self.directory.unsaved_own.get_mut(key) {
                    *n -= 1;
                    if *n == 0 {
                        self.directory.unsaved_own.remove(key);
                    }
                }
            }
        }
        let result = match result {
            Ok(()) => {
                let was_member = self.directory.members.contains_key(&self.local_peer);
                if !job.events.is_empty() {
                    // Recomputing membership walks every record: skip it for
                    // prekey bundles, the most frequent change.
                    if job.roster_change {
                        self.refresh_members().await;
                    }
                    for event in job.events {
                        self.emit(event);
                    }
                    // A recipient may have published its first prekey bundle.
                    self.mail.schedule.wake_unsealed(tokio::time::Instant::now());
                }
                for bytes in job.publish {
                    // Queued, not awaited: a round trip per object would hold
                    // up the actor (and the sync requests waiting on it).
                    if let Err(e) = self.net.queue_publish(bytes).await {
                        warn!(error = %e, "cannot publish on gossip; sync will carry the object");
                    }
                }
                if job.own_epoch && !self.stopping {
                    self.renew_own_objects();
                }
                if job.own_change && !self.stopping {
                    // Our node may just have been listed: publish its prekeys.
                    self.maintain_prekeys();
                    // Present our new state to connected peers that gossip
                    // does not reach: strangers (one still deciding whether
                    // we are a member needs our record); everyone when gossip
                    // is off, or when this change made our node a member
                    // (until then peers ignored our gossip). Otherwise gossip
                    // carries the change to members, and a full exchange with
                    // each of them on every update would cost two whole
                    // digests per connection.
                    let newly_member = !was_member && self.directory.members.contains_key(&self.local_peer);
                    let everyone = !self.gossip || newly_member;
                    let peers: Vec<PeerId> = self
                        .connected
                        .keys()
                        .filter(|p| everyone || !self.directory.members.contains_key(p))
                        .copied()
                        .collect();
                    for peer in peers {
                        self.start_sync(peer);
                    }
                }
                Ok(())
            }
            Err(e) => {
                self.store_failures += 1;
                error!(error = %e, "a durable write failed; the change stays unconfirmed");
                Err(e.to_string())
            }
        };
        self.finish(job.after, result).await;
    }

    pub(super) async fn finish(&mut self, after: After, result: Result<(), String>) {
        match after {
            After::PushAck(reply) => {
                if result.is_ok()
                    && let Err(e) = self.net.respond_sync(reply, SyncResponse::Ack).await
                {
                    debug!(error = %e, "cannot acknowledge a push");
                }
                // On failure the reply is dropped: the push fails on the
                // peer's side, and it will try again at its next sync.
            }
            After::Fetched(reply) => {
                let _ = reply.send(());
            }
            After::Publish { reply, entry } => {
                reply.send(result.map(|()| *entry).map_err(NodeError::StoreFailed));
            }
            After::Submit { reply, response } => {
                reply.send(result.map(|()| response).map_err(NodeError::StoreFailed));
            }
            After::Revoked { reply, view } => {
                reply.send(result.map(|()| *view).map_err(NodeError::StoreFailed));
            }
            After::Nothing => {}
            After::Health { reply, admitted, connected_members } => {
                let store_writable = result.is_ok();
                let mut reasons = Vec::new();
                if let Err(e) = &result {
                    reasons.push(format!("the store cannot be written: {e}"));
                }
                if !admitted {
                    reasons.push(format!("{} has no admission in force in this node's directory", self.state));
                }
                if connected_members == 0 {
                    reasons.push("no member node is connected".to_string());
                }
                let view = crate::api_types::HealthView {
                    healthy: reasons.is_empty(),
                    reasons,
                    store_writable,
                    admitted,
                    connected_members,
                };
                let _ = reply.send(view);
            }
            After::Shown { reply, view } => {
                let view = match result {
                    Ok(()) => view.map(|v| *v),
                    Err(e) => Err(NodeError::StoreFailed(e)),
                };
                let _ = reply.send(view);
            }
            After::Queued { reply, response, envelopes, queued_at } => {
                // An acknowledgement now stands in the store, or failed and
                // may be tried again: either way it is no longer in flight.
                self.mail.acks_in_flight.retain(|_, ack| *ack != response.msg_id);
                match result {
                    Ok(()) => {
                        let id = response.msg_id;
                        self.mail.sent.remove(&id);
                        let nodes: Vec<NodeId> = envelopes.iter().map(|(n, _)| *n).collect();
                        self.on_queued(envelopes, id, queued_at);
                        reply.send(Ok(self.sent_response(response, &nodes)));
                    }
                    Err(e) => {
                        self.mail.sent.remove(&response.msg_id);
                        reply.send(Err(NodeError::StoreFailed(e)));
                    }
                }
            }
            After::GroupQueued { comcheck, queued, queued_at, reply, view } => {
                self.on_group_queued(result, comcheck, queued, queued_at, reply, *view);
            }
            After::RingWritten { version } => match result {
                Ok(()) => {
                    self.mail.ring_saved = self.mail.ring_saved.max(version);
                    self.maintain_prekeys();
                }
                // Still unsaved: the next maintenance tick writes it again.
                Err(e) => {
                    warn!(error = %e, "the prekey ring could not be written; trying again later");
                    if self.mail.ring_writing == version {
                        self.mail.ring_writing = self.mail.ring_saved;
                    }
                }
            },
            After::Cancelled { keys, reply } => {
                for (msg, _) in &keys {
                    self.mail.cancelling.remove(msg);
                }
                match result {
                    Ok(()) => {
                        for key in &keys {
                            self.mail.schedule.remove(key);
                        }
                        let _ = reply.send(Ok(()));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(NodeError::StoreFailed(e).into()));
                    }
                }
            }
            After::Moved { moved, added, at } => self.on_moved(result, moved, added, at),
            After::Checkpointed { epoch, size, at } => self.on_checkpointed(result, epoch, size, at),
            After::SyncAnswer { reply, response } => {
                if result.is_ok()
                    && let Err(e) = self.net.respond_sync(reply, response).await
                {
                    debug!(error = %e, "cannot answer a sync request");
                }
            }
            After::Redelivering { node, added, after, full, at } => {
                self.on_redelivering(result, node, added, after, full, at)
            }
            After::Receipted { key } => match result {
                Ok(()) => self.on_receipted(key),
                Err(e) => {
                    warn!(msg = %key.0, error = %e, "a receipt could not be stored; it will be asked for again");
                    let error = format!("the receipt could not be stored: {e}");
                    self.mail.schedule.failed(
                        &key,
                        error,
                        &self.mail.retry,
                        self.random.jitter(),
                        tokio::time::Instant::now(),
                    );
                }
            },
            After::Received { id, reply, receipt, events } => {
                if result.is_ok() {
                    if let Err(e) = self.net.respond_deliver(reply, DeliverResponse::Receipt(receipt)).await {
                        debug!(error = %e, "cannot return a receipt");
                    }
                    for event in events {
                        self.emit(event);
                    }
                }
                // A failed write: the message is not stored, the sender
                // gets no receipt and retries; `on_received_written` forgets
                // it so that the retry is taken in as new.
                self.on_received_written(id, result.is_ok()).await;
            }
        }
    }
}

/// The state whose object a removed slot held (prekey bundles name a node,
/// not a state, and are never pruned with an admission).
fn removed_state(key: &ObjectKey) -> Option<hotline_core::StateCode> {
    match key {
        ObjectKey::Admission(s)
        | ObjectKey::Record(s, _)
        | ObjectKey::AdmissionRevocation(s)
        | ObjectKey::RecordRevocation(s, _)
        | ObjectKey::NodeRevocation(s, _) => Some(*s),
        ObjectKey::Prekeys(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(own_change: bool) -> InFlight {
        let after = After::Nothing;
        InFlight {
            after,
            events: Vec::new(),
            publish: Vec::new(),
            own_change,
            roster_change: false,
            own_keys: Vec::new(),
            own_epoch: false,
            first_leaf: None,
        }
    }

    #[test]
    fn each_completion_is_matched_with_the_oldest_write() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut queue = CommitQueue::new(tx);
        let first = queue.enqueue(job(true));
        let second = queue.enqueue(job(false));
        assert_ne!(first, second);
        let failed = StoreError::Corrupt { path: "db".into(), detail: "test".into() };
        let (job, result) = queue.complete(Committed { id: first, result: Err(failed) }).unwrap();
        assert!(job.own_change && result.is_err(), "the first write's follow-ups, with its failure");
        let (job, result) = queue.complete(Committed { id: second, result: Ok(()) }).unwrap();
        assert!(!job.own_change && result.is_ok());
        assert!(queue.is_empty());
        assert!(queue.complete(Committed { id: second + 1, result: Ok(()) }).is_none(), "nothing was queued");
    }
}
