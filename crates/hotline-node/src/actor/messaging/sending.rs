//! Sending: writing and sealing messages, the delivery schedule, receipts
//! and acknowledgements of what this node sent.

use super::policy::{Decision, Parent, SendContext, check_send};
use super::*;
use crate::metrics::FailureReason;
use hotline_evidence::{EvidenceEvent, digest};

impl Actor {
    /// Writes, seals and queues a message; answers once it is durable.
    pub(in crate::actor) fn send(
        &mut self,
        request: SendRequest,
        reply: oneshot::Sender<Result<SendResponse, SendError>>,
    ) {
        match self.prepare(request) {
            Ok((message, recipients)) => {
                self.seal_and_queue(message, recipients, WriteBatch::new(), Responder::to(reply))
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Sends a `human_ack` for a received message to its sender.
    pub(in crate::actor) fn ack(
        &mut self,
        id: MessageId,
        request: AckRequest,
        reply: oneshot::Sender<Result<SendResponse, AckError>>,
    ) {
        let result = (|| {
            let Some(MessageRow::Received(mut row)) = self.store.message(&id)? else {
                return Err(AckError::NotReceived(id));
            };
            let original = decode_message(&id, &row.message)?;
            if original.kind == MessageType::HumanAck {
                return Err(AckError::AckOfAck);
            }
            // Two `hotline ack` calls in quick succession send one
            // acknowledgement: the second finds the first in the store, or
            // still being sealed and written.
            if let Some(done) = row.acknowledged_with.or_else(|| self.mail.acks_in_flight.get(&id).copied()) {
                return Err(AckError::AlreadyAcknowledged { id, by: done });
            }
            let request = SendRequest {
                to: original.from.clone(),
                from_role: Some(original.to.role.clone()),
                kind: MessageType::HumanAck,
                subject: ack_subject(&original.subject),
                body: String::new(),
                tlp: Some(original.tlp),
                severity: None,
                is_exercise: original.is_exercise,
                respond_by: None,
                case_id: Some(original.case_id),
                in_reply_to: Some(id),
                lang: original.lang.clone(),
                fields: Some(Fields::HumanAck { acknowledged: id, note: request.note }),
                force: false,
            };
            let (message, recipients) = self.prepare(request)?;
            self.mail.acks_in_flight.insert(id, message.msg_id);
            row.acknowledged_with = Some(message.msg_id);
            row.read = true;
            let mut extra = WriteBatch::new();
            extra.put_message(id, &MessageRow::Received(row));
            Ok((message, recipients, extra))
        })();
        match result {
            Ok((message, recipients, extra)) => self.seal_and_queue(message, recipients, extra, Responder::to(reply)),
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Checks a send request (see [`policy::check_send`]) and builds the
    /// message and its recipient nodes.
    pub(in crate::actor) fn prepare(&self, request: SendRequest) -> Result<(Message, Vec<NodeId>), SendError> {
        let now = self.now();
        let parent = match request.in_reply_to {
            None => Parent::None,
            Some(id) => match self.store.message(&id)? {
                Some(row) => Parent::Found(Box::new(decode_message(&id, row.message_bytes())?)),
                None => Parent::Missing(id),
            },
        };
        // Worked out only if a check asks (most sends stop before).
        let unconfirmed = |to: &hotline_core::Address| self.unconfirmed(now).contains(to);
        let ctx = SendContext {
            dir: &self.directory.dir,
            state: self.state,
            node: self.mail.node_id,
            now,
            unconfirmed: &unconfirmed,
        };
        let Decision { recipients, from_role, tlp } = check_send(&ctx, &request, &parent)?;
        let case_id = match (request.case_id, &parent) {
            (Some(case), _) => case,
            (None, Parent::Found(parent)) => parent.case_id,
            (None, _) => CaseId(self.random.bytes()?),
        };
        let to = request.to;
        let kind = request.kind;
        let fields = request.fields.unwrap_or(Fields::None);
        let message = Message {
            msg_id: MessageId(self.random.bytes()?),
            case_id,
            in_reply_to: request.in_reply_to,
            kind,
            from: hotline_core::Address { state: self.state, role: from_role },
            to,
            created_at: now,
            lang: request.lang,
            tlp,
            severity: request.severity,
            is_exercise: request.is_exercise,
            respond_by: request.respond_by,
            subject: request.subject,
            body: request.body,
            fields,
            attachments: Vec::new(),
        };
        message.validate().map_err(|e| SendError::InvalidField(e.to_string()))?;
        Ok((message, recipients))
    }

    /// Seals `message` for each recipient node in a task of its own, so that
    /// the actor goes on meanwhile; the envelopes come back to [`Actor::queue`].
    pub(in crate::actor) fn seal_and_queue(
        &mut self,
        message: Message,
        recipients: Vec<NodeId>,
        extra: WriteBatch,
        reply: Responder<SendResponse>,
    ) {
        let now = self.now();
        let targets: Vec<(NodeId, Option<SealTo>)> =
            recipients.iter().map(|node| (*node, self.prekey_for(node, now))).collect();
        let actor = self.tasks.completions();
        let key = Arc::clone(&self.mail.node_key);
        let random = self.random.clone();
        let (sender, network) = (self.mail.node_id, self.directory.dir.network_id());
        // A plain task: the work is a fraction of a millisecond, and a
        // blocking-pool thread costs more to wake than that.
        self.tasks.spawn(async move {
            let bytes = message.to_bytes();
            let mut sealed = Vec::with_capacity(targets.len());
            for (node, prekey) in targets {
                let envelope = match prekey {
                    Some(prekey) => {
                        match seal(&bytes, &key, sender, node, &prekey, &network, message.msg_id, now, &random) {
                            Ok(e) => Some(e),
                            Err(e) => {
                                let command =
                                    Completion::SealFailed { msg_id: message.msg_id, error: e.to_string(), reply };
                                let _ = actor.send(command).await;
                                return;
                            }
                        }
                    }
                    None => None,
                };
                sealed.push((node, envelope));
            }
            let command = Completion::Sealed { message: Box::new(message), bytes, sealed, extra, reply };
            // The actor is gone only at shutdown; the caller then sees its reply dropped.
            let _ = actor.send(command).await;
        });
    }

    /// Writes a sealed message and its envelopes durably, then answers and
    /// starts delivering.
    pub(in crate::actor) fn queue(
        &mut self,
        message: Message,
        bytes: Vec<u8>,
        sealed: Vec<(NodeId, Option<Vec<u8>>)>,
        mut batch: WriteBatch,
        reply: Responder<SendResponse>,
    ) {
        let now = self.now();
        let response = self.stage_sent(&message, bytes, &sealed, now, &mut batch);
        let after = After::Queued { reply, response, envelopes: sealed, queued_at: now };
        self.persist_with(Vec::new(), batch, after, Vec::new());
    }

    /// Adds a sealed message and its outbox rows to `batch`: what `queue`
    /// writes, for one message or several in one write.
    pub(in crate::actor) fn stage_sent(
        &mut self,
        message: &Message,
        bytes: Vec<u8>,
        sealed: &[(NodeId, Option<Vec<u8>>)],
        now: Timestamp,
        batch: &mut WriteBatch,
    ) -> SendResponse {
        let id = message.msg_id;
        let recipients: Vec<NodeId> = sealed.iter().map(|(n, _)| *n).collect();
        for (node, envelope) in sealed {
            if envelope.is_none() {
                debug!(msg = %id, %node, "no prekey bundle from the recipient yet; sealing later");
            }
            let row = OutboxRow {
                envelope: envelope.clone().unwrap_or_default(),
                queued_at: now,
                attempts: 0,
                last_error: None,
            };
            batch.put_outbox(id, node, &row);
            self.log_event(batch, EvidenceEvent::MessageSent { msg_id: id.0, to: *node });
        }
        if let Fields::HumanAck { acknowledged, .. } = &message.fields {
            self.log_event(batch, EvidenceEvent::Acknowledged { msg_id: acknowledged.0, ack_id: id.0 });
        }
        let row = SentRow { message: bytes, queued_at: now, recipients: recipients.clone(), acknowledged_with: None };
        batch.put_message(id, &MessageRow::Sent(row));
        batch.index_case(message.case_id, id);
        self.mail.sent.insert(id);
        info!(msg = %id, to = %message.to, kind = %message.kind, nodes = recipients.len(), "message queued");
        SendResponse {
            msg_id: id,
            case_id: message.case_id,
            status: MessageState::Queued,
            old_state: crate::api_types::old_name(MessageState::Queued),
            deliveries: recipients.iter().map(|n| queued_view(n.to_string(), 0, None)).collect(),
            from: Some(message.from.clone()),
            to: Some(message.to.clone()),
            tlp: Some(message.tlp),
            is_exercise: message.is_exercise,
            respond_by: message.respond_by,
        }
    }

    /// Seals several messages in one task off the actor, for
    /// `Command::SealedGroup`: a communication check writes its challenges
    /// and the check itself in one batch.
    pub(in crate::actor) fn seal_group(
        &mut self,
        messages: Vec<(Message, Vec<NodeId>)>,
        group: crate::handle::SealedGroup,
    ) {
        let now = self.now();
        let targets: Vec<(Message, Vec<SealTarget>)> = messages
            .into_iter()
            .map(|(m, nodes)| {
                let to = nodes.iter().map(|n| (*n, self.prekey_for(n, now))).collect();
                (m, to)
            })
            .collect();
        let actor = self.tasks.completions();
        let key = Arc::clone(&self.mail.node_key);
        let random = self.random.clone();
        let (sender, network) = (self.mail.node_id, self.directory.dir.network_id());
        self.tasks.spawn(async move {
            let mut out = Vec::with_capacity(targets.len());
            for (message, to) in targets {
                let bytes = message.to_bytes();
                let mut sealed = Vec::with_capacity(to.len());
                for (node, prekey) in to {
                    let envelope = match prekey {
                        Some(p) => match seal(&bytes, &key, sender, node, &p, &network, message.msg_id, now, &random) {
                            Ok(e) => Some(e),
                            Err(e) => {
                                let _ = actor.send(Completion::GroupSealFailed { group, error: e }).await;
                                return;
                            }
                        },
                        None => None,
                    };
                    sealed.push((node, envelope));
                }
                out.push((message, bytes, sealed));
            }
            let _ = actor.send(Completion::SealedGroup { group, sealed: out }).await;
        });
    }

    /// The prekey to seal to for `node`: (id, X-Wing public key) from its
    /// bundle; `None` if it has published no usable one.
    pub(in crate::actor) fn prekey_for(&self, node: &NodeId, now: Timestamp) -> Option<SealTo> {
        let bundle = self.directory.dir.prekeys(node, now)?;
        select_prekey(&bundle.bundle, now).map(|p| (p.id, p.public.clone()))
    }

    /// Called once a queued message is durable: schedules its deliveries.
    pub(in crate::actor) fn on_queued(
        &mut self,
        envelopes: Vec<(NodeId, Option<Vec<u8>>)>,
        id: MessageId,
        queued_at: Timestamp,
    ) {
        let now = Instant::now();
        let at = self.now();
        for (node, envelope) in envelopes {
            let sealed_to = envelope.as_ref().and_then(|_| self.directory.dir.prekeys(&node, at)).map(|b| b.bundle.seq);
            self.mail.schedule.insert((id, node), envelope, queued_at, now);
            if let Some(p) = self.mail.schedule.get_mut(&(id, node)) {
                p.sealed_to_bundle = sealed_to;
            }
        }
        self.dispatch_due();
    }

    /// Starts the deliveries that are due.
    pub(in crate::actor) fn dispatch_due(&mut self) {
        if self.stopping {
            return;
        }
        let limit = MAX_IN_FLIGHT.saturating_sub(self.mail.schedule.in_flight());
        if limit == 0 {
            return;
        }
        let now = Instant::now();
        for key in self.mail.schedule.take_due(now, limit, MAX_IN_FLIGHT_PER_NODE) {
            let envelope = match self.mail.schedule.get(&key).and_then(|p| p.envelope.clone()) {
                Some(e) => e,
                None => match self.reseal(&key) {
                    Ok(Some(e)) => e,
                    Ok(None) => {
                        let error = "the recipient node has published no prekey bundle yet".to_string();
                        self.metrics.live.delivery_failed(FailureReason::not_sealed);
                        self.mail.schedule.failed(&key, error, &self.mail.retry, self.random.jitter(), now);
                        continue;
                    }
                    Err(e) => {
                        self.metrics.live.delivery_failed(FailureReason::not_sealed);
                        self.mail.schedule.failed(&key, e, &self.mail.retry, self.random.jitter(), now);
                        continue;
                    }
                },
            };
            let peer = match peer_id_of(&key.1) {
                Ok(p) => p,
                Err(e) => {
                    self.metrics.live.delivery_failed(FailureReason::not_sealed);
                    self.mail.schedule.failed(&key, e.to_string(), &self.mail.retry, self.random.jitter(), now);
                    continue;
                }
            };
            let actor = self.tasks.completions();
            let net = self.net.clone();
            let (me, network) = (self.mail.node_id, self.directory.dir.network_id());
            self.tasks.spawn(async move {
                let result = match net.deliver(peer, DeliverRequest { envelope }).await {
                    // Verified here, off the actor.
                    Ok(DeliverResponse::Receipt(bytes)) => match check_receipt(&key, me, &network, &bytes) {
                        Ok(()) => Delivery::Receipted(bytes),
                        Err(e) => Delivery::BadReceipt(e),
                    },
                    Ok(DeliverResponse::Refused { code, detail }) => Delivery::Refused { code, detail },
                    Err(e) => Delivery::Failed(e.to_string()),
                };
                let _ = actor.send(Completion::DeliveryDone { key, result }).await;
            });
        }
    }

    /// Seals a queued message again to the recipient's current bundle and
    /// saves the new envelope in the outbox.
    pub(in crate::actor) fn reseal(&mut self, key: &DeliveryKey) -> Result<Option<Vec<u8>>, String> {
        let (id, node) = key;
        let row = match self.store.message(id) {
            Ok(Some(MessageRow::Sent(row))) => row,
            Ok(_) => return Err(format!("message {id} is not stored as sent")),
            Err(e) => return Err(e.to_string()),
        };
        let now = self.now();
        let current = self.directory.dir.prekeys(node, now).map(|b| b.bundle.seq);
        if current.is_some() && self.mail.schedule.get(key).and_then(|p| p.decrypt_failed_at_bundle) == current {
            return Err("the recipient could not decrypt it; waiting for its new prekey bundle".into());
        }
        let Some(prekey) = self.prekey_for(node, now) else { return Ok(None) };
        let network = self.directory.dir.network_id();
        let envelope = seal(
            &row.message,
            &self.mail.node_key,
            self.mail.node_id,
            *node,
            &prekey,
            &network,
            *id,
            now,
            &self.random,
        )?;
        let queued_at = self.mail.schedule.get(key).map_or(now, |p| p.queued_at);
        if let Some(p) = self.mail.schedule.get_mut(key) {
            p.envelope = Some(envelope.clone());
            p.sealed_to_bundle = current;
        }
        let mut batch = WriteBatch::new();
        batch.put_outbox(
            *id,
            node,
            &OutboxRow { envelope: envelope.clone(), queued_at, attempts: 0, last_error: None },
        );
        self.persist_with(Vec::new(), batch, After::Nothing, Vec::new());
        Ok(Some(envelope))
    }

    /// Withdraws the deliveries of sent message `id` still queued: their
    /// outbox rows go, the message is marked cancelled, in one batch; the
    /// schedule lets them go once that is durable.
    pub(in crate::actor) fn cancel(&mut self, id: MessageId, reply: oneshot::Sender<Result<(), CancelError>>) {
        let sent = match self.store.message(&id) {
            Ok(row) => matches!(row, Some(MessageRow::Sent(_))),
            Err(e) => {
                let _ = reply.send(Err(e.into()));
                return;
            }
        };
        if !sent {
            let _ = reply.send(Err(CancelError::NotSent(id)));
            return;
        }
        if self.mail.moving.contains(&id) {
            let _ = reply.send(Err(CancelError::Moving(id)));
            return;
        }
        let keys = self.mail.schedule.keys_of(&id);
        if keys.is_empty() {
            let _ = reply.send(Err(CancelError::NothingQueued(id)));
            return;
        }
        self.mail.cancelling.insert(id);
        let mut batch = WriteBatch::new();
        for (msg, node) in &keys {
            batch.delete_outbox(*msg, node);
        }
        batch.cancel_message(id, self.now());
        info!(msg = %id, deliveries = keys.len(), "queued deliveries cancelled by the sender");
        self.persist_with(Vec::new(), batch, After::Cancelled { keys, reply }, Vec::new());
    }

    /// A delivery attempt ended.
    pub(in crate::actor) fn on_delivery_done(&mut self, key: DeliveryKey, result: Delivery) {
        let now = Instant::now();
        if self.mail.schedule.get(&key).is_none() {
            return;
        }
        let error = match result {
            Delivery::Receipted(bytes) => {
                // The entry stays, in flight, until the receipt is durable:
                // until then the message is not "delivered".
                let mut batch = WriteBatch::new();
                batch.delete_outbox(key.0, &key.1);
                self.number_receipt(&key, &bytes, &mut batch);
                let held = EvidenceEvent::ReceiptHeld { msg_id: key.0.0, by: key.1, receipt_hash: digest(&bytes) };
                self.log_event(&mut batch, held);
                batch.put_receipt(key.0, &key.1, bytes);
                self.comcheck_receipted(key.0, &mut batch);
                self.persist_with(Vec::new(), batch, After::Receipted { key }, Vec::new());
                self.dispatch_due();
                return;
            }
            Delivery::BadReceipt(e) => {
                self.metrics.live.delivery_failed(FailureReason::bad_receipt);
                warn!(msg = %key.0, node = %key.1, error = %e, "a receipt did not verify");
                format!("the receipt did not verify: {e}")
            }
            Delivery::Refused { code, detail } => {
                self.metrics.live.delivery_failed(FailureReason::refused);
                let bundle_seq = self.directory.dir.prekeys(&key.1, self.now()).map(|b| b.bundle.seq);
                if let Some(p) = self.mail.schedule.get_mut(&key) {
                    // Seal again to the recipient's current bundle next time:
                    // when the prekey is gone, and when the recipient could
                    // not decrypt (it may have lost the prekey's secret in a
                    // crash): then to a newer bundle than the one held now.
                    if code == "prekey_expired" || code == "unknown_prekey" {
                        p.envelope = None;
                    } else if code == "decrypt_failed" {
                        // Wait for a bundle newer than the one it was sealed
                        // to (a newer one may have arrived before the refusal).
                        p.envelope = None;
                        p.decrypt_failed_at_bundle = p.sealed_to_bundle.or(bundle_seq);
                    }
                }
                debug!(msg = %key.0, node = %key.1, %code, %detail, "delivery refused");
                format!("refused: {code}: {detail}")
            }
            Delivery::Failed(e) => {
                self.metrics.live.delivery_failed(FailureReason::transport);
                debug!(msg = %key.0, node = %key.1, error = %e, "delivery failed");
                e
            }
        };
        self.mail.schedule.failed(&key, error, &self.mail.retry, self.random.jitter(), now);
    }

    /// Called once a receipt is durable.
    pub(in crate::actor) fn on_receipted(&mut self, key: DeliveryKey) {
        if let Some(p) = self.mail.schedule.remove(&key) {
            self.metrics.live.receipted(p.scheduled.elapsed());
        }
        info!(msg = %key.0, node = %key.1, "message delivered");
        self.emit(NodeEvent::MessageDelivered { msg_id: key.0, node: key.1.to_string() });
        if !self.mail.schedule.has_message(&key.0) {
            for waiter in self.mail.waiters.remove(&key.0).unwrap_or_default() {
                let _ = waiter.send(());
            }
        }
    }

    /// Makes the deliveries to `peer` due now (it connected).
    pub(in crate::actor) fn wake_deliveries(&mut self, peer: &PeerId) {
        if let Some(node) = node_id_of(peer) {
            self.mail.schedule.wake(&node, Instant::now());
            self.dispatch_due();
        }
    }

    /// Answers once `id` has no delivery waiting.
    pub(in crate::actor) fn wait_delivered(&mut self, id: MessageId, reply: oneshot::Sender<()>) {
        if self.mail.schedule.has_message(&id) {
            self.mail.waiters.entry(id).or_default().push(reply);
        } else {
            let _ = reply.send(());
        }
    }

    /// The answer to `send` once the message is durable: the first
    /// attempts may already have run.
    pub(in crate::actor) fn sent_response(&self, mut response: SendResponse, nodes: &[NodeId]) -> SendResponse {
        let id = response.msg_id;
        for (d, node) in response.deliveries.iter_mut().zip(nodes) {
            if let Some(p) = self.mail.schedule.get(&(id, *node)) {
                d.attempts = p.attempts;
                d.last_error = p.last_error.clone();
            }
        }
        response
    }
}
