//! Receiving: taking envelopes in, opening them off the actor, storing the
//! message durably before the receipt, and answering duplicates.

use super::*;
use hotline_evidence::{EvidenceEvent, digest};

impl Actor {
    pub(in crate::actor) fn refuse(&mut self, peer: PeerId, reply: DeliverReply, code: &'static str, detail: String) {
        self.count_refusal(peer, code);
        debug!(%peer, code, %detail, "envelope refused");
        let net = self.net.clone();
        self.tasks.spawn(async move {
            let _ = net.respond_deliver(reply, DeliverResponse::Refused { code: code.to_string(), detail }).await;
        });
    }

    /// What this node knows of received message `id`: from the writes in
    /// flight, else from the store.
    pub(in crate::actor) fn received_index(&self, id: &MessageId) -> Result<Option<ReceivedIndex>, StoreError> {
        if let Some(known) = self.mail.received.get(id) {
            return Ok(Some(known.clone()));
        }
        Ok(match self.store.message(id)? {
            Some(MessageRow::Received(r)) => Some(ReceivedIndex {
                sender: r.sender,
                envelope_hash: r.envelope_hash,
                receipt: r.receipt,
                durable: true,
            }),
            _ => None,
        })
    }

    /// Whether message `id` was written here (stored, or being written).
    pub(in crate::actor) fn is_sent(&self, id: &MessageId) -> Result<bool, StoreError> {
        Ok(self.mail.sent.contains(id) || matches!(self.store.message(id)?, Some(MessageRow::Sent(_))))
    }

    /// Counts a refused envelope and announces it.
    pub(in crate::actor) fn count_refusal(&mut self, peer: PeerId, code: &str) {
        *self.mail.rejections.entry(code.to_string()).or_default() += 1;
        self.emit(NodeEvent::DeliveryRejected { peer: peer.to_string(), code: code.to_string() });
    }

    /// Answers a duplicate of received message `id` with the stored
    /// receipt: at once if the first copy is durable, else when its write
    /// completes, and not at all if that write fails (the sender retries).
    /// Never through a commit of its own, which would succeed whatever
    /// became of the first copy's write.
    pub(in crate::actor) fn answer_duplicate(&mut self, id: MessageId, reply: DeliverReply) {
        // Unreadable: no answer, and the sender tries again.
        let Ok(Some(known)) = self.received_index(&id) else { return };
        if !known.durable {
            self.mail.duplicates.entry(id).or_default().push(reply);
            return;
        }
        let receipt = known.receipt.clone();
        let net = self.net.clone();
        self.tasks.spawn(async move {
            if let Err(e) = net.respond_deliver(reply, DeliverResponse::Receipt(receipt)).await {
                debug!(error = %e, "cannot return a receipt");
            }
        });
    }

    /// The write of received message `id` finished: mark it durable and
    /// answer the duplicates that waited for it, or forget it.
    pub(in crate::actor) async fn on_received_written(&mut self, id: MessageId, durable: bool) {
        let waiting = self.mail.duplicates.remove(&id).unwrap_or_default();
        self.mail.ack_writes.remove(&id);
        if !durable {
            // Not stored: the sender gets no receipt and retries, and the
            // retry is taken in as new. The waiting replies are dropped.
            self.mail.received.remove(&id);
            return;
        }
        // Durable: from now on the store answers for it.
        let Some(known) = self.mail.received.remove(&id) else { return };
        let receipt = known.receipt;
        for reply in waiting {
            if let Err(e) = self.net.respond_deliver(reply, DeliverResponse::Receipt(receipt.clone())).await {
                debug!(error = %e, "cannot return a receipt");
            }
        }
    }

    /// An envelope arrived.
    pub(in crate::actor) fn on_deliver(
        &mut self,
        peer: PeerId,
        request: DeliverRequest,
        reply: DeliverReply,
        permit: BytePermit,
    ) {
        let now = self.now();
        let network = self.directory.dir.network_id();
        let envelope = match Envelope::from_bytes(&request.envelope) {
            Ok(e) => e,
            Err(e) => return self.refuse(peer, reply, e.code(), e.to_string()),
        };
        if node_id_of(&peer) != Some(envelope.sender()) {
            let detail = "the envelope's sender is not the peer that delivered it".to_string();
            return self.refuse(peer, reply, "sender_not_peer", detail);
        }
        if !self.directory.dir.is_member(&envelope.sender(), now) {
            return self.refuse(peer, reply, "not_a_member", "the sending node is not a member".into());
        }
        let id = MessageId(envelope.msg_id());
        // The same bytes again (a retry whose receipt was lost): answer with
        // the stored receipt, after every earlier write is durable.
        let known = match self.received_index(&id) {
            Ok(known) => known,
            Err(e) => {
                return self.refuse(peer, reply, "internal", format!("the receiving node cannot read its store: {e}"));
            }
        };
        if let Some(known) = known
            && known.sender == envelope.sender()
            && known.envelope_hash == envelope.hash()
        {
            debug!(msg = %id, %peer, "duplicate envelope; answering with the stored receipt");
            return self.answer_duplicate(id, reply);
        }
        // Decrypting and signing run in a task of their own; the remaining
        // checks come back to the actor with the result.
        let actor = self.tasks.completions();
        let ring = Arc::clone(&self.mail.ring);
        let me = self.mail.node_id;
        let slots = Arc::clone(&self.mail.opening);
        self.tasks.spawn(async move {
            // A few envelopes are opened at once; the others wait here,
            // their bytes counted by `permit` against the network's budget.
            let Ok(_slot) = slots.acquire_owned().await else { return };
            let outcome = open(&envelope, &ring, me, &network, now);
            drop(permit);
            let command = Completion::Opened { peer, reply, envelope: Box::new(envelope), outcome };
            let _ = actor.send(command).await;
        });
    }

    /// An envelope was opened (or not) off the actor: finish taking it in.
    pub(in crate::actor) fn on_opened(
        &mut self,
        peer: PeerId,
        reply: DeliverReply,
        envelope: Envelope,
        outcome: Result<Box<OpenedMessage>, (&'static str, String)>,
    ) {
        let now = self.now();
        let id = MessageId(envelope.msg_id());
        let OpenedMessage { sender, plaintext, message, envelope_hash } = match outcome {
            Ok(o) => *o,
            Err((code, detail)) => return self.refuse(peer, reply, code, detail),
        };
        let from = &message.from;
        let listed = self.directory.dir.record(from.state, &from.role).is_some_and(|r| {
            self.directory.dir.record_status(r, now).is_in_force() && r.record.nodes.contains(&sender)
        }) && self.directory.dir.is_member_of(from.state, &sender, now);
        if !listed {
            let detail = format!("the sending node is not listed in the contact record of {from}");
            return self.refuse(peer, reply, "forged_sender", detail);
        }
        let to = &message.to;
        let ours = to.state == self.state
            && self
                .directory
                .dir
                .record(to.state, &to.role)
                .is_some_and(|r| r.record.nodes.contains(&self.mail.node_id));
        if !ours {
            let detail = format!("the message is for {to}, whose contact record does not list this node");
            return self.refuse(peer, reply, "not_for_me", detail);
        }
        let (sent_here, known) = match self.is_sent(&id).and_then(|sent| Ok((sent, self.received_index(&id)?))) {
            Ok(found) => found,
            Err(e) => {
                return self.refuse(peer, reply, "internal", format!("the receiving node cannot read its store: {e}"));
            }
        };
        if sent_here {
            return self.refuse(peer, reply, "duplicate_msg_id", "a message with this id was sent from here".into());
        }
        if let Some(known) = known {
            let stored = DeliveryReceipt::from_bytes(&known.receipt).ok();
            let my_key_changed = stored.as_ref().is_some_and(|r| r.recipient() != self.mail.node_id);
            if known.sender == sender && !my_key_changed {
                // The same message again (sealed anew, or two copies opened
                // at once): the stored receipt, once the first is durable.
                return self.answer_duplicate(id, reply);
            }
            // A node key changed since the message was stored (this node's,
            // or its sender's, whose old key its state no longer counts:
            // `hotline node rotate-key`, `node replace`): the stored receipt
            // names the old key, which the sender cannot take. The very same
            // message, from a node its state lists now, gets a receipt of its
            // own, once no other write of that row is in flight (the sender
            // retries meanwhile); anything else under this id is refused.
            let sender_key_changed =
                known.sender != sender && !self.directory.dir.is_member_of(message.from.state, &known.sender, now);
            if (my_key_changed || sender_key_changed) && known.durable && self.stored_message_is(&id, &plaintext) {
                if self.mail.acks_in_flight.contains_key(&id) || self.mail.received.contains_key(&id) {
                    let detail = "the message is being written; try again".to_string();
                    return self.refuse(peer, reply, "busy", detail);
                }
                return self.receipt_again(id, peer, reply, &envelope, sender, now);
            }
            let detail = "another node already delivered a message with this id".to_string();
            return self.refuse(peer, reply, "duplicate_msg_id", detail);
        }
        // Numbered among this sender's receipts, in the batch that stores
        // the message: a store put back to an older copy goes back to the
        // number it had then, and the sender notices (`recovery`).
        // The receipt names the log's leaf for this message, appended first
        // in the batch, at that very index.
        let Some(position) = self.log_position() else {
            return self.refuse(peer, reply, "internal", "the receiving node cannot read its evidence log".into());
        };
        let receipt = match self.next_receipt_number(sender).map_err(|e| e.to_string()).and_then(|seq| {
            DeliveryReceipt::sign(&envelope, &self.mail.node_key, &self.directory.dir.network_id(), now, seq, position)
                .map(|r| (seq, r.to_bytes()))
                .map_err(|e| e.to_string())
        }) {
            Ok(r) => r,
            Err(e) => return self.refuse(peer, reply, "internal", format!("the receiving node cannot sign: {e}")),
        };
        let (seq, receipt) = receipt;
        let mut batch = WriteBatch::new();
        batch.put_receipts_issued(&sender, seq);
        let event = EvidenceEvent::MessageReceived {
            msg_id: id.0,
            from: sender,
            envelope_hash,
            receipt_hash: digest(&receipt),
        };
        self.log_event_at(&mut batch, event, position);
        let mut events = vec![NodeEvent::MessageReceived {
            msg_id: id,
            case_id: message.case_id,
            kind: message.kind,
            from: message.from.clone(),
            tlp: message.tlp,
            subject: message.subject.clone(),
            severity: message.severity,
            is_exercise: message.is_exercise,
        }];
        // An acknowledgement whose predecessor's write is still in flight
        // finds the store unchanged: the map says it is taken.
        let ack_in_flight = |acknowledged: &MessageId| self.mail.ack_writes.values().any(|a| a == acknowledged);
        if let Fields::HumanAck { acknowledged, .. } = &message.fields
            && self.is_sent(acknowledged).unwrap_or(false)
            && !ack_in_flight(acknowledged)
        {
            match self.store.message(acknowledged) {
                // Only the point of contact it was sent to acknowledges it.
                Ok(Some(MessageRow::Sent(mut row)))
                    if row.acknowledged_with.is_none() && addressed_to(&row.message, &message.from) =>
                {
                    self.mail.ack_writes.insert(id, *acknowledged);
                    row.acknowledged_with = Some(id);
                    batch.put_message(*acknowledged, &MessageRow::Sent(row));
                    let event = EvidenceEvent::Acknowledged { msg_id: acknowledged.0, ack_id: id.0 };
                    self.log_event(&mut batch, event);
                    events.push(NodeEvent::MessageAcknowledged {
                        msg_id: *acknowledged,
                        ack_id: id,
                        by: message.from.clone(),
                    });
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "cannot read the acknowledged message"),
            }
        }
        if matches!(message.fields, Fields::ComcheckReply { .. }) {
            self.comcheck_reply(&message, &mut batch);
        }
        let row = ReceivedRow {
            message: plaintext,
            sender,
            envelope_hash,
            received_at: now,
            receipt: receipt.clone(),
            read: false,
            acknowledged_with: None,
        };
        batch.put_message(id, &MessageRow::Received(row));
        batch.index_case(message.case_id, id);
        self.mail
            .received
            .insert(id, ReceivedIndex { sender, envelope_hash, receipt: receipt.clone(), durable: false });
        info!(msg = %id, from = %message.from, kind = %message.kind, tlp = %message.tlp, "message received");
        self.persist_with(Vec::new(), batch, After::Received { id, reply, receipt, events }, Vec::new());
    }

    /// Whether the received message stored under `id` is `plaintext`.
    fn stored_message_is(&self, id: &MessageId, plaintext: &[u8]) -> bool {
        matches!(self.store.message(id), Ok(Some(MessageRow::Received(row))) if row.message == plaintext)
    }

    /// Signs a new receipt for a message stored already, delivered again
    /// after a node key changed (see `on_opened`): the row keeps the
    /// message, when it came and whether it was read, and takes the new
    /// sender, envelope and receipt; the receipt is numbered as any other.
    fn receipt_again(
        &mut self,
        id: MessageId,
        peer: PeerId,
        reply: DeliverReply,
        envelope: &Envelope,
        sender: NodeId,
        now: Timestamp,
    ) {
        let mut row = match self.store.message(&id) {
            Ok(Some(MessageRow::Received(row))) => row,
            Ok(_) => return self.refuse(peer, reply, "internal", "the stored message is gone".into()),
            Err(e) => {
                return self.refuse(peer, reply, "internal", format!("the receiving node cannot read its store: {e}"));
            }
        };
        let Some(position) = self.log_position() else {
            return self.refuse(peer, reply, "internal", "the receiving node cannot read its evidence log".into());
        };
        let signed = self.next_receipt_number(sender).map_err(|e| e.to_string()).and_then(|seq| {
            DeliveryReceipt::sign(envelope, &self.mail.node_key, &self.directory.dir.network_id(), now, seq, position)
                .map(|r| (seq, r.to_bytes()))
                .map_err(|e| e.to_string())
        });
        let (seq, receipt) = match signed {
            Ok(r) => r,
            Err(e) => return self.refuse(peer, reply, "internal", format!("the receiving node cannot sign: {e}")),
        };
        info!(msg = %id, %peer, "a message held already, delivered again under a new node key: receipted anew");
        row.sender = sender;
        row.envelope_hash = envelope.hash();
        row.receipt = receipt.clone();
        let mut batch = WriteBatch::new();
        let event = EvidenceEvent::MessageReceived {
            msg_id: id.0,
            from: sender,
            envelope_hash: envelope.hash(),
            receipt_hash: digest(&receipt),
        };
        self.log_event_at(&mut batch, event, position);
        batch.put_receipts_issued(&sender, seq);
        batch.put_message(id, &MessageRow::Received(row));
        let index = ReceivedIndex { sender, envelope_hash: envelope.hash(), receipt: receipt.clone(), durable: false };
        self.mail.received.insert(id, index);
        self.persist_with(Vec::new(), batch, After::Received { id, reply, receipt, events: Vec::new() }, Vec::new());
    }
}
