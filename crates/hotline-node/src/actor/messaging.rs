//! Messaging, inside the actor: writing and sealing messages, the delivery
//! schedule, taking envelopes in, receipts, acknowledgements, and this
//! node's prekey ring.
//!
//! **Sending.** A message to a point of contact is sealed once for every
//! member node listed in its contact record. The message and its envelopes
//! are written durably (`messages`, `outbox`) before the user hears
//! "queued"; only then do deliveries start. An envelope leaves the outbox
//! only when the recipient node's receipt verifies, in the same write that
//! stores the receipt. When the recipient has no prekey bundle yet, or
//! refuses an envelope as sealed to a prekey it no longer holds, the
//! message is sealed again to its current bundle.
//!
//! **Receiving.** An envelope must come from its sending node itself, a
//! member; it must open (network, recipient, prekey, AEAD, signature); the
//! message inside must be well formed and its `from` must be a point of
//! contact whose record in force lists the sending node. The message is
//! stored durably, and only then is the signed receipt returned. A
//! duplicate (same msg_id from the same node) gets the stored receipt, so
//! it is shown once however often it arrives. Every refusal has a code
//! and is counted.

use super::{Actor, After, Completion, jitter};
use crate::api_types::{AckRequest, MessageState, MessageView, NodeEvent, SendRequest, SendResponse};
use crate::error::NodeError;
use crate::mailbox::{decode_message, queued_view};
use crate::outbox::{DeliveryKey, RetryPolicy, Schedule};
use hotline_core::{
    CaseId, DirectoryObject, Fields, Message, MessageId, MessageType, NodeId, ObjectKey, Outcome, RecordStatus, Role,
    SecretKey, SignedPrekeyBundle, Timestamp,
};
use hotline_crypto::{DeliveryReceipt, Envelope, PrekeyPolicy, PrekeyRing, select_prekey};
use hotline_net::budget::BytePermit;
use hotline_net::{DeliverReply, DeliverRequest, DeliverResponse, PeerId, node_id_of, peer_id_of};
use hotline_store::{MessageRow, OutboxRow, PREKEY_RING, ReceivedRow, SentRow, Store, StoreError, WriteBatch};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};
use tokio::sync::{Semaphore, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Most deliveries running at once, over all recipients.
const MAX_IN_FLIGHT: usize = 1024;
/// Most deliveries running at once to one node: one connection carries
/// them, and Yamux refuses more than 256 streams on a connection.
const MAX_IN_FLIGHT_PER_NODE: usize = 128;

/// What the node remembers of a message it received, to answer duplicates.
#[derive(Clone, Debug)]
pub(crate) struct ReceivedIndex {
    sender: NodeId,
    envelope_hash: [u8; 32],
    receipt: Vec<u8>,
    /// False while the write that stores the message is in flight: until
    /// then no receipt may be given for it, to a duplicate either.
    durable: bool,
}

/// The actor's messaging state.
pub(crate) struct Mail {
    /// Shared with the tasks that seal, open and sign off the actor.
    pub node_key: Arc<SecretKey>,
    pub node_id: NodeId,
    /// Read by the tasks that open envelopes; written only on rotation.
    pub ring: Arc<RwLock<PrekeyRing>>,
    pub prekey_policy: PrekeyPolicy,
    pub schedule: Schedule,
    pub retry: RetryPolicy,
    /// Received messages whose write is in flight. Once durable they are
    /// looked up in the store ([`Actor::received_index`]): nothing here
    /// grows with the number of messages stored.
    pub received: HashMap<MessageId, ReceivedIndex>,
    /// Messages written here whose write is in flight ([`Actor::is_sent`]).
    pub sent: HashSet<MessageId>,
    pub rejections: BTreeMap<String, u64>,
    pub waiters: HashMap<MessageId, Vec<oneshot::Sender<()>>>,
    /// Duplicates of received messages whose first copy's write is still
    /// in flight: answered when it completes.
    pub duplicates: HashMap<MessageId, Vec<DeliverReply>>,
    /// Received messages whose acknowledgement is being sealed and written,
    /// with the acknowledgement's id.
    pub acks_in_flight: HashMap<MessageId, MessageId>,
    /// Acknowledgements received whose write is in flight, with the sent
    /// message each acknowledges: a second one must not count again.
    pub ack_writes: HashMap<MessageId, MessageId>,
    /// Versions of the prekey ring: the one in memory (bumped by every
    /// change), the newest durably written, and the newest whose write was
    /// started. No bundle is built from a ring that is not durable.
    pub ring_version: u64,
    pub ring_saved: u64,
    pub ring_writing: u64,
    /// Envelopes being opened (decrypted and checked) at once.
    pub opening: Arc<Semaphore>,
}

/// Most envelopes opened at once, off the actor. Opening is CPU work (an
/// X-Wing decapsulation and two signatures), so more than a few at a time
/// only queue on the cores; the rest wait, bounded by bytes.
const MAX_OPENING: usize = 4;

impl Mail {
    /// Rebuilds the messaging state from the store: the prekey ring, the
    /// ids of stored messages, and the outbox.
    pub(crate) fn load(
        store: &Store,
        node_key: SecretKey,
        prekey_policy: PrekeyPolicy,
        retry: RetryPolicy,
    ) -> Result<Mail, NodeError> {
        let ring = match store.secret(PREKEY_RING)? {
            Some(bytes) => PrekeyRing::from_bytes_secret(&bytes).map_err(|e| {
                NodeError::Store(StoreError::Corrupt {
                    path: store.path().to_path_buf(),
                    detail: format!("the prekey ring: {e}"),
                })
            })?,
            None => PrekeyRing::new(),
        };
        let mut schedule = Schedule::default();
        let now = Instant::now();
        for entry in store.outbox()? {
            let envelope = (!entry.row.envelope.is_empty()).then_some(entry.row.envelope);
            schedule.insert((entry.msg_id, entry.recipient), envelope, entry.row.queued_at, now);
        }
        if schedule.len() > 0 {
            info!(pending = schedule.len(), "outbox restored; delivering");
        }
        let node_id = node_key.node_id();
        Ok(Mail {
            node_key: Arc::new(node_key),
            node_id,
            ring: Arc::new(RwLock::new(ring)),
            prekey_policy,
            schedule,
            retry,
            received: HashMap::new(),
            sent: HashSet::new(),
            rejections: BTreeMap::new(),
            waiters: HashMap::new(),
            duplicates: HashMap::new(),
            acks_in_flight: HashMap::new(),
            ack_writes: HashMap::new(),
            ring_version: 0,
            ring_saved: 0,
            ring_writing: 0,
            opening: Arc::new(Semaphore::new(MAX_OPENING)),
        })
    }
}

fn bad(code: &'static str, message: impl Into<String>) -> NodeError {
    NodeError::BadRequest { code, message: message.into() }
}

impl Actor {
    // ----- prekeys -----

    /// Rotates the prekey ring when due, deletes expired secrets, and
    /// publishes a new signed bundle when the one in the directory no
    /// longer matches the ring. A changed ring is written first, and the
    /// bundle built only once it is durable, so no bundle is ever published
    /// whose secret could be lost; the bundle itself is served to peers
    /// only once its own write is durable (`Actor::unsaved_own`).
    pub(super) fn maintain_prekeys(&mut self) {
        let now = self.now();
        let mut rng = match crate::random::seeded() {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "cannot rotate prekeys");
                return;
            }
        };
        let shared = Arc::clone(&self.mail.ring);
        // Opening tasks hold the read lock for a fraction of a millisecond.
        let mut ring = shared.write().unwrap_or_else(PoisonError::into_inner);
        let rotation = ring.rotate(now, &mut rng, self.mail.prekey_policy);
        if let Some(created) = rotation.created {
            info!(prekey = created.id, expires = %created.expires, "made a new prekey");
        }
        for deleted in &rotation.deleted {
            info!(prekey = deleted.id, "deleted an old prekey secret");
        }
        let node = self.mail.node_id;
        let current = match self.dir.entry(&ObjectKey::Prekeys(node)).map(|e| &e.object) {
            Some(DirectoryObject::Prekeys(p)) => Some(p.clone()),
            _ => None,
        };
        // Ids and keys: a ring that lost its secrets (rolled back) makes a
        // new key under an id already published, and that must be
        // published too, or peers keep sealing to the lost key.
        let wanted: HashSet<(u32, Vec<u8>)> = ring
            .bundle(self.state, node, 0, now)
            .map(|b| b.prekeys.into_iter().map(|k| (k.id, k.public)).collect())
            .unwrap_or_default();
        let published = current
            .as_ref()
            .filter(|p| p.bundle.expires > now)
            .map(|p| p.bundle.prekeys.iter().map(|k| (k.id, k.public.clone())).collect::<HashSet<_>>());
        let ring_changed = rotation.created.is_some() || !rotation.deleted.is_empty();
        if ring_changed {
            self.mail.ring_version += 1;
        }
        // Every version of the ring is written; a bundle is built only from
        // a version that is durable (with two writes in flight, the first
        // to complete does not vouch for the second).
        if self.mail.ring_saved < self.mail.ring_version {
            // A write of this very version is in flight: wait for it.
            if !ring_changed && self.mail.ring_writing == self.mail.ring_version {
                return;
            }
            // The ring first, on its own: a bundle naming a prekey is built
            // only once that prekey's secret (and the id it took) is
            // durable, so a crash can never leave peers sealing to a key
            // this node lost, or an id reused with another key. The bundle
            // follows when this write completes (`After::RingWritten`).
            let mut batch = WriteBatch::new();
            batch.put_secret(PREKEY_RING, &ring.to_bytes_secret());
            drop(ring);
            let version = self.mail.ring_version;
            self.mail.ring_writing = version;
            self.persist_with(Vec::new(), batch, After::RingWritten { version }, Vec::new());
            return;
        }
        // Publish only as a member: anyone else's bundle would wait, unsaved.
        let stale = published.as_ref() != Some(&wanted);
        if !stale || !self.dir.is_member_of(self.state, &node, now) {
            return;
        }
        let seq = current.map_or(1, |p| p.bundle.seq + 1).max(now.0);
        let bundle = match ring.bundle(self.state, node, seq, now) {
            Ok(b) => b,
            Err(e) => {
                warn!(error = %e, "cannot build a prekey bundle");
                return;
            }
        };
        let signed = SignedPrekeyBundle::sign(bundle, &self.mail.node_key, &self.dir.network_id());
        drop(ring);
        match self.dir.apply(DirectoryObject::Prekeys(signed.clone()), now) {
            Ok(Outcome::Applied(applied)) => {
                info!(seq, prekeys = wanted.len(), "publishing our prekey bundle");
                let publish =
                    if self.gossip { self.live_winners(std::slice::from_ref(&applied), now) } else { Vec::new() };
                self.persist_with(vec![applied], WriteBatch::new(), After::Nothing, publish);
            }
            Ok(other) => debug!(outcome = ?other, "our prekey bundle was not applied"),
            Err(r) => warn!(reason = %r, "the directory refused our own prekey bundle"),
        }
    }

    // ----- sending -----

    /// Writes, seals and queues a message; answers once it is durable.
    pub(super) fn send(&mut self, request: SendRequest, reply: oneshot::Sender<Result<SendResponse, NodeError>>) {
        match self.prepare(request) {
            Ok((message, recipients)) => self.seal_and_queue(message, recipients, WriteBatch::new(), reply),
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Sends a `human_ack` for a received message to its sender.
    pub(super) fn ack(
        &mut self,
        id: MessageId,
        request: AckRequest,
        reply: oneshot::Sender<Result<SendResponse, NodeError>>,
    ) {
        let result = (|| {
            let Some(MessageRow::Received(mut row)) = self.store.message(&id)? else {
                return Err(NodeError::NotFound(format!("no received message {id} is held")));
            };
            let original = decode_message(&id, &row.message)?;
            if original.kind == MessageType::HumanAck {
                return Err(bad("bad_ack", "an acknowledgement is not itself acknowledged"));
            }
            // Two `hotline ack` calls in quick succession send one
            // acknowledgement: the second finds the first in the store, or
            // still being sealed and written.
            if let Some(done) = row.acknowledged_with.or_else(|| self.mail.acks_in_flight.get(&id).copied()) {
                return Err(bad("already_acknowledged", format!("message {id} was already acknowledged by {done}")));
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
            Ok((message, recipients, extra)) => self.seal_and_queue(message, recipients, extra, reply),
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Checks a send request and builds the message and its recipient nodes.
    pub(super) fn prepare(&self, request: SendRequest) -> Result<(Message, Vec<NodeId>), NodeError> {
        let now = self.now();
        let to = request.to;
        let record = self
            .dir
            .record(to.state, &to.role)
            .ok_or_else(|| NodeError::NotFound(format!("no contact record of {to} is held")))?;
        let status = self.dir.record_status(record, now);
        if status == RecordStatus::Revoked {
            return Err(bad("record_not_in_force", format!("the contact record of {to} is revoked")));
        }
        let expired = status == RecordStatus::Expired;
        if expired && !request.force {
            // Forced, the message waits in the outbox until the state
            // renews the record and its nodes are members again.
            let why = format!("expired on {} and its nodes are not members now", record.record.expires);
            return Err(bad("record_expired", stale_warning(&to, &why, &record.record)));
        }
        if !request.force {
            if status == RecordStatus::Expiring {
                let why = format!("expires on {} and may be out of date", record.record.expires);
                return Err(bad("record_expiring", stale_warning(&to, &why, &record.record)));
            }
            if self.unconfirmed(now).contains(&to) {
                let why = "failed its last two communication checks";
                return Err(bad("record_unconfirmed", stale_warning(&to, why, &record.record)));
            }
        }
        // An expired record's nodes are not members; a forced message to
        // them is kept for the record's renewal.
        let recipients: Vec<NodeId> = record
            .record
            .nodes
            .iter()
            .filter(|n| expired || self.dir.is_member_of(to.state, n, now))
            .copied()
            .collect();
        if recipients.is_empty() {
            return Err(bad("no_member_node", format!("the contact record of {to} lists no member node")));
        }
        let default_tlp = record.record.default_tlp;
        let from_role = request.from_role.unwrap_or_else(Role::technical);
        let listed = self.dir.record(self.state, &from_role).is_some_and(|r| {
            self.dir.record_status(r, now).is_in_force() && r.record.nodes.contains(&self.mail.node_id)
        });
        if !listed {
            return Err(bad(
                "not_listed",
                format!(
                    "this node is not listed in a contact record in force of {}/{from_role}: publish that record, with this node, first",
                    self.state
                ),
            ));
        }
        let case_id = match (request.case_id, request.in_reply_to) {
            (Some(case), _) => case,
            (None, Some(parent)) => match self.store.message(&parent)? {
                Some(row) => decode_message(&parent, row.message_bytes())?.case_id,
                None => return Err(NodeError::NotFound(format!("no message {parent} is held to reply to"))),
            },
            (None, None) => CaseId(crate::random::bytes()?),
        };
        let kind = request.kind;
        let fields = request.fields.unwrap_or(Fields::None);
        let message = Message {
            msg_id: MessageId(crate::random::bytes()?),
            case_id,
            in_reply_to: request.in_reply_to,
            kind,
            from: hotline_core::Address { state: self.state, role: from_role },
            to,
            created_at: now,
            lang: request.lang,
            // The sender's label, else the one the recipient asks for, else AMBER.
            tlp: request.tlp.or(default_tlp).unwrap_or_default(),
            severity: request.severity,
            is_exercise: request.is_exercise,
            respond_by: request.respond_by,
            subject: request.subject,
            body: request.body,
            fields,
            attachments: Vec::new(),
        };
        message.validate().map_err(|e| bad("invalid_field", e.to_string()))?;
        Ok((message, recipients))
    }

    /// Seals `message` for each recipient node in a task of its own, so that
    /// the actor goes on meanwhile; the envelopes come back to [`Actor::queue`].
    pub(super) fn seal_and_queue(
        &mut self,
        message: Message,
        recipients: Vec<NodeId>,
        extra: WriteBatch,
        reply: oneshot::Sender<Result<SendResponse, NodeError>>,
    ) {
        let now = self.now();
        let targets: Vec<(NodeId, Option<SealTo>)> =
            recipients.iter().map(|node| (*node, self.prekey_for(node, now))).collect();
        let actor = self.tasks.completions();
        let key = Arc::clone(&self.mail.node_key);
        let (sender, network) = (self.mail.node_id, self.dir.network_id());
        // A plain task: the work is a fraction of a millisecond, and a
        // blocking-pool thread costs more to wake than that.
        self.tasks.spawn(async move {
            let bytes = message.to_bytes();
            let mut sealed = Vec::with_capacity(targets.len());
            for (node, prekey) in targets {
                let envelope = match prekey {
                    Some(prekey) => match seal(&bytes, &key, sender, node, &prekey, &network, message.msg_id, now) {
                        Ok(e) => Some(e),
                        Err(e) => {
                            let command =
                                Completion::SealFailed { msg_id: message.msg_id, error: e.to_string(), reply };
                            let _ = actor.send(command).await;
                            return;
                        }
                    },
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
    pub(super) fn queue(
        &mut self,
        message: Message,
        bytes: Vec<u8>,
        sealed: Vec<(NodeId, Option<Vec<u8>>)>,
        mut batch: WriteBatch,
        reply: oneshot::Sender<Result<SendResponse, NodeError>>,
    ) {
        let now = self.now();
        let response = self.stage_sent(&message, bytes, &sealed, now, &mut batch);
        let after = After::Queued { reply, response, envelopes: sealed, queued_at: now };
        self.persist_with(Vec::new(), batch, after, Vec::new());
    }

    /// Adds a sealed message and its outbox rows to `batch`: what `queue`
    /// writes, for one message or several in one write.
    pub(super) fn stage_sent(
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
        }
        let row = SentRow { message: bytes, queued_at: now, recipients: recipients.clone(), acknowledged_with: None };
        batch.put_message(id, &MessageRow::Sent(row));
        batch.index_case(message.case_id, id);
        self.mail.sent.insert(id);
        info!(msg = %id, to = %message.to, kind = %message.kind, nodes = recipients.len(), "message queued");
        SendResponse {
            msg_id: id,
            case_id: message.case_id,
            state: MessageState::Queued,
            deliveries: recipients.iter().map(|n| queued_view(n.to_string(), 0, None)).collect(),
        }
    }

    /// Seals several messages in one task off the actor, for
    /// `Command::SealedGroup`: a communication check writes its challenges
    /// and the check itself in one batch.
    pub(super) fn seal_group(&mut self, messages: Vec<(Message, Vec<NodeId>)>, group: crate::handle::SealedGroup) {
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
        let (sender, network) = (self.mail.node_id, self.dir.network_id());
        self.tasks.spawn(async move {
            let mut out = Vec::with_capacity(targets.len());
            for (message, to) in targets {
                let bytes = message.to_bytes();
                let mut sealed = Vec::with_capacity(to.len());
                for (node, prekey) in to {
                    let envelope = match prekey {
                        Some(p) => match seal(&bytes, &key, sender, node, &p, &network, message.msg_id, now) {
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
    fn prekey_for(&self, node: &NodeId, now: Timestamp) -> Option<SealTo> {
        let bundle = self.dir.prekeys(node, now)?;
        select_prekey(&bundle.bundle, now).map(|p| (p.id, p.public.clone()))
    }

    /// Called once a queued message is durable: schedules its deliveries.
    pub(super) fn on_queued(&mut self, envelopes: Vec<(NodeId, Option<Vec<u8>>)>, id: MessageId, queued_at: Timestamp) {
        let now = Instant::now();
        let at = self.now();
        for (node, envelope) in envelopes {
            let sealed_to = envelope.as_ref().and_then(|_| self.dir.prekeys(&node, at)).map(|b| b.bundle.seq);
            self.mail.schedule.insert((id, node), envelope, queued_at, now);
            if let Some(p) = self.mail.schedule.get_mut(&(id, node)) {
                p.sealed_to_bundle = sealed_to;
            }
        }
        self.dispatch_due();
    }

    /// Starts the deliveries that are due.
    pub(super) fn dispatch_due(&mut self) {
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
                        self.mail.schedule.failed(&key, error, &self.mail.retry, jitter(), now);
                        continue;
                    }
                    Err(e) => {
                        self.mail.schedule.failed(&key, e, &self.mail.retry, jitter(), now);
                        continue;
                    }
                },
            };
            let peer = match peer_id_of(&key.1) {
                Ok(p) => p,
                Err(e) => {
                    self.mail.schedule.failed(&key, e.to_string(), &self.mail.retry, jitter(), now);
                    continue;
                }
            };
            let actor = self.tasks.completions();
            let net = self.net.clone();
            let (me, network) = (self.mail.node_id, self.dir.network_id());
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
    fn reseal(&mut self, key: &DeliveryKey) -> Result<Option<Vec<u8>>, String> {
        let (id, node) = key;
        let row = match self.store.message(id) {
            Ok(Some(MessageRow::Sent(row))) => row,
            Ok(_) => return Err(format!("message {id} is not stored as sent")),
            Err(e) => return Err(e.to_string()),
        };
        let now = self.now();
        let current = self.dir.prekeys(node, now).map(|b| b.bundle.seq);
        if current.is_some() && self.mail.schedule.get(key).and_then(|p| p.decrypt_failed_at_bundle) == current {
            return Err("the recipient could not decrypt it; waiting for its new prekey bundle".into());
        }
        let Some(prekey) = self.prekey_for(node, now) else { return Ok(None) };
        let network = self.dir.network_id();
        let envelope = seal(&row.message, &self.mail.node_key, self.mail.node_id, *node, &prekey, &network, *id, now)?;
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

    /// A delivery attempt ended.
    pub(super) fn on_delivery_done(&mut self, key: DeliveryKey, result: Delivery) {
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
                batch.put_receipt(key.0, &key.1, bytes);
                self.comcheck_receipted(key.0, &mut batch);
                self.persist_with(Vec::new(), batch, After::Receipted { key }, Vec::new());
                self.dispatch_due();
                return;
            }
            Delivery::BadReceipt(e) => {
                warn!(msg = %key.0, node = %key.1, error = %e, "a receipt did not verify");
                format!("the receipt did not verify: {e}")
            }
            Delivery::Refused { code, detail } => {
                let bundle_seq = self.dir.prekeys(&key.1, self.now()).map(|b| b.bundle.seq);
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
                debug!(msg = %key.0, node = %key.1, error = %e, "delivery failed");
                e
            }
        };
        self.mail.schedule.failed(&key, error, &self.mail.retry, jitter(), now);
    }

    /// Called once a receipt is durable.
    pub(super) fn on_receipted(&mut self, key: DeliveryKey) {
        self.mail.schedule.remove(&key);
        info!(msg = %key.0, node = %key.1, "message delivered");
        self.emit(NodeEvent::MessageDelivered { msg_id: key.0, node: key.1.to_string() });
        if !self.mail.schedule.has_message(&key.0) {
            for waiter in self.mail.waiters.remove(&key.0).unwrap_or_default() {
                let _ = waiter.send(());
            }
        }
    }

    /// Makes the deliveries to `peer` due now (it connected).
    pub(super) fn wake_deliveries(&mut self, peer: &PeerId) {
        if let Some(node) = node_id_of(peer) {
            self.mail.schedule.wake(&node, Instant::now());
            self.dispatch_due();
        }
    }

    /// Answers once `id` has no delivery waiting.
    pub(super) fn wait_delivered(&mut self, id: MessageId, reply: oneshot::Sender<()>) {
        if self.mail.schedule.has_message(&id) {
            self.mail.waiters.entry(id).or_default().push(reply);
        } else {
            let _ = reply.send(());
        }
    }

    // ----- receiving -----

    fn refuse(&mut self, peer: PeerId, reply: DeliverReply, code: &'static str, detail: String) {
        self.count_refusal(peer, code);
        debug!(%peer, code, %detail, "envelope refused");
        let net = self.net.clone();
        self.tasks.spawn(async move {
            let _ = net.respond_deliver(reply, DeliverResponse::Refused { code: code.to_string(), detail }).await;
        });
    }

    /// What this node knows of received message `id`: from the writes in
    /// flight, else from the store.
    fn received_index(&self, id: &MessageId) -> Result<Option<ReceivedIndex>, StoreError> {
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
    fn is_sent(&self, id: &MessageId) -> Result<bool, StoreError> {
        Ok(self.mail.sent.contains(id) || matches!(self.store.message(id)?, Some(MessageRow::Sent(_))))
    }

    /// Counts a refused envelope and announces it.
    pub(super) fn count_refusal(&mut self, peer: PeerId, code: &str) {
        *self.mail.rejections.entry(code.to_string()).or_default() += 1;
        self.emit(NodeEvent::DeliveryRejected { peer: peer.to_string(), code: code.to_string() });
    }

    /// Answers a duplicate of received message `id` with the stored
    /// receipt: at once if the first copy is durable, else when its write
    /// completes, and not at all if that write fails (the sender retries).
    /// Never through a commit of its own, which would succeed whatever
    /// became of the first copy's write.
    fn answer_duplicate(&mut self, id: MessageId, reply: DeliverReply) {
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
    pub(super) async fn on_received_written(&mut self, id: MessageId, durable: bool) {
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
    pub(super) fn on_deliver(
        &mut self,
        peer: PeerId,
        request: DeliverRequest,
        reply: DeliverReply,
        permit: BytePermit,
    ) {
        let now = self.now();
        let network = self.dir.network_id();
        let envelope = match Envelope::from_bytes(&request.envelope) {
            Ok(e) => e,
            Err(e) => return self.refuse(peer, reply, e.code(), e.to_string()),
        };
        if node_id_of(&peer) != Some(envelope.sender()) {
            let detail = "the envelope's sender is not the peer that delivered it".to_string();
            return self.refuse(peer, reply, "sender_not_peer", detail);
        }
        if !self.dir.is_member(&envelope.sender(), now) {
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
        let key = Arc::clone(&self.mail.node_key);
        let me = self.mail.node_id;
        let slots = Arc::clone(&self.mail.opening);
        self.tasks.spawn(async move {
            // A few envelopes are opened at once; the others wait here,
            // their bytes counted by `permit` against the network's budget.
            let Ok(_slot) = slots.acquire_owned().await else { return };
            let outcome = open(&envelope, &ring, &key, me, &network, now);
            drop(permit);
            let command = Completion::Opened { peer, reply, envelope: Box::new(envelope), outcome };
            let _ = actor.send(command).await;
        });
    }

    /// An envelope was opened (or not) off the actor: finish taking it in.
    pub(super) fn on_opened(
        &mut self,
        peer: PeerId,
        reply: DeliverReply,
        envelope: Envelope,
        outcome: Result<Box<OpenedMessage>, (&'static str, String)>,
    ) {
        let now = self.now();
        let id = MessageId(envelope.msg_id());
        let OpenedMessage { sender, plaintext, message, receipt, envelope_hash } = match outcome {
            Ok(o) => *o,
            Err((code, detail)) => return self.refuse(peer, reply, code, detail),
        };
        let from = &message.from;
        let listed = self
            .dir
            .record(from.state, &from.role)
            .is_some_and(|r| self.dir.record_status(r, now).is_in_force() && r.record.nodes.contains(&sender))
            && self.dir.is_member_of(from.state, &sender, now);
        if !listed {
            let detail = format!("the sending node is not listed in the contact record of {from}");
            return self.refuse(peer, reply, "forged_sender", detail);
        }
        let to = &message.to;
        let ours = to.state == self.state
            && self.dir.record(to.state, &to.role).is_some_and(|r| r.record.nodes.contains(&self.mail.node_id));
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
            if known.sender != sender {
                let detail = "another node already delivered a message with this id".to_string();
                return self.refuse(peer, reply, "duplicate_msg_id", detail);
            }
            // The same message again (sealed anew, or two copies opened at
            // once): the stored receipt, once the first copy is durable.
            return self.answer_duplicate(id, reply);
        }
        let mut batch = WriteBatch::new();
        let mut events = vec![NodeEvent::MessageReceived {
            msg_id: id,
            case_id: message.case_id,
            kind: message.kind,
            from: message.from.clone(),
            tlp: message.tlp,
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

    // ----- reading -----

    /// Marks received message `id` read, durably, then answers with its
    /// view. The reads themselves run off the actor (`crate::mailbox`).
    pub(super) fn mark_read(&mut self, id: MessageId, reply: oneshot::Sender<Result<MessageView, NodeError>>) {
        let row = match self.store.message(&id) {
            Ok(Some(row)) => row,
            Ok(None) => {
                let _ = reply.send(Err(NodeError::NotFound(format!("no message {id} is held"))));
                return;
            }
            Err(e) => {
                let _ = reply.send(Err(e.into()));
                return;
            }
        };
        let mut batch = WriteBatch::new();
        let row = match row {
            MessageRow::Received(mut r) if !r.read => {
                r.read = true;
                let row = MessageRow::Received(r);
                batch.put_message(id, &row);
                row
            }
            other => other,
        };
        let view =
            self.store.snapshot().map_err(NodeError::from).and_then(|snap| self.mail_reader.view(&snap, id, row));
        if batch.is_empty() || view.is_err() {
            let _ = reply.send(view);
        } else {
            self.persist_with(Vec::new(), batch, After::Shown { reply, view: view.map(Box::new) }, Vec::new());
        }
    }

    /// The answer to `send` once the message is durable: the first
    /// attempts may already have run.
    pub(super) fn sent_response(&self, mut response: SendResponse, nodes: &[NodeId]) -> SendResponse {
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

/// A recipient's prekey to seal to: its id and X-Wing public key.
type SealTo = (u32, Vec<u8>);

/// A recipient node and the prekey to seal to, if it has published one.
type SealTarget = (NodeId, Option<SealTo>);

/// How a delivery attempt ended, as the delivery task reports it.
#[derive(Debug)]
pub(crate) enum Delivery {
    /// A receipt that verified (signed by the recipient, for this message and sender).
    Receipted(Vec<u8>),
    /// A receipt that did not verify.
    BadReceipt(String),
    /// The recipient refused the envelope.
    Refused { code: String, detail: String },
    /// The attempt failed (connection, timeout).
    Failed(String),
}

/// A message opened and checked off the actor, with the receipt to return
/// once it is stored.
pub(crate) struct OpenedMessage {
    sender: NodeId,
    plaintext: Vec<u8>,
    message: Message,
    receipt: Vec<u8>,
    envelope_hash: [u8; 32],
}

/// Seals `plaintext` from `sender` to `node`'s `prekey`.
#[allow(clippy::too_many_arguments)]
fn seal(
    plaintext: &[u8],
    key: &SecretKey,
    sender: NodeId,
    node: NodeId,
    prekey: &SealTo,
    network: &hotline_core::NetworkId,
    id: MessageId,
    now: Timestamp,
) -> Result<Vec<u8>, String> {
    let mut rng = crate::random::seeded()?;
    let envelope = Envelope::seal(plaintext, key, sender, node, (prekey.0, &prekey.1), network, id.0, now, &mut rng)
        .map_err(|e| e.to_string())?;
    Ok(envelope.to_bytes())
}

/// Opens an envelope addressed to `me`, decodes the message inside and
/// signs the receipt to return once it is stored.
fn open(
    envelope: &Envelope,
    ring: &RwLock<PrekeyRing>,
    key: &SecretKey,
    me: NodeId,
    network: &hotline_core::NetworkId,
    now: Timestamp,
) -> Result<Box<OpenedMessage>, (&'static str, String)> {
    let opened = {
        let ring = ring.read().unwrap_or_else(PoisonError::into_inner);
        envelope.open(&ring, me, network, now).map_err(|e| (e.code(), e.to_string()))?
    };
    let message = Message::from_bytes(&opened.plaintext).map_err(|e| ("malformed_message", e.to_string()))?;
    if message.msg_id.0 != opened.msg_id {
        return Err(("malformed_message", "the message id differs from the envelope's".into()));
    }
    let receipt = DeliveryReceipt::sign(envelope, key, network, now).map_err(|e| ("internal", e.to_string()))?;
    Ok(Box::new(OpenedMessage {
        sender: opened.sender,
        plaintext: opened.plaintext,
        message,
        receipt: receipt.to_bytes(),
        envelope_hash: envelope.hash(),
    }))
}

/// Checks that `bytes` is `key.1`'s signed receipt for message `key.0` from `me`.
fn check_receipt(key: &DeliveryKey, me: NodeId, network: &hotline_core::NetworkId, bytes: &[u8]) -> Result<(), String> {
    let receipt = DeliveryReceipt::from_bytes(bytes).map_err(|e| e.to_string())?;
    receipt.verify(key.1, network).map_err(|e| e.to_string())?;
    if receipt.msg_id() != key.0.0 {
        return Err("it names another message".into());
    }
    if receipt.sender() != me {
        return Err("it names another sender".into());
    }
    Ok(())
}

/// Whether the stored message `bytes` was addressed to `who`.
fn addressed_to(bytes: &[u8], who: &hotline_core::Address) -> bool {
    Message::from_bytes(bytes).is_ok_and(|m| m.to == *who)
}

/// The warning for a recipient whose record may not reach it (`why`),
/// naming the other ways to reach it that the record lists.
fn stale_warning(to: &hotline_core::Address, why: &str, record: &hotline_core::ContactRecord) -> String {
    let mut text = format!("the contact record of {to} {why}; send with --force to send anyway");
    let alternates: Vec<String> = record
        .alternates
        .iter()
        .map(|a| {
            let how: Vec<&str> = [a.email.as_deref(), a.phone.as_deref()].into_iter().flatten().collect();
            if how.is_empty() { a.name.clone() } else { format!("{} ({})", a.name, how.join(", ")) }
        })
        .collect();
    if !alternates.is_empty() {
        text += &format!("; alternates: {}", alternates.join("; "));
    }
    let channels: Vec<String> = record.other_channels.iter().map(|c| format!("{} {}", c.kind, c.address)).collect();
    if !channels.is_empty() {
        text += &format!("; other channels: {}", channels.join("; "));
    }
    text
}

fn ack_subject(subject: &str) -> String {
    let mut out = format!("Acknowledged: {subject}");
    if out.len() > hotline_core::limits::MAX_SHORT_TEXT {
        let mut end = hotline_core::limits::MAX_SHORT_TEXT;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_core::{Address, CaseId, Tlp};

    fn view(id: u8, parent: Option<u8>) -> MessageView {
        let address = Address { state: "FRA".parse().unwrap(), role: Role::technical() };
        MessageView {
            direction: crate::api_types::Direction::In,
            state: MessageState::Received,
            read: false,
            at: Timestamp(1),
            sender_node: None,
            acknowledged_with: None,
            deliveries: Vec::new(),
            message: Message {
                msg_id: MessageId([id; 16]),
                case_id: CaseId([0; 16]),
                in_reply_to: parent.map(|p| MessageId([p; 16])),
                kind: MessageType::Notification,
                from: address.clone(),
                to: address,
                created_at: Timestamp(1),
                lang: None,
                tlp: Tlp::Amber,
                severity: None,
                is_exercise: false,
                respond_by: None,
                subject: "s".into(),
                body: String::new(),
                fields: Fields::None,
                attachments: Vec::new(),
            },
        }
    }

    #[test]
    fn a_thread_never_shows_an_answer_before_its_question() {
        // Same second: sorted by time alone, the answers could come first.
        let order = |views: Vec<MessageView>| -> Vec<u8> {
            hotline_core::thread::causal_order(views, |v| v.message.msg_id, |v| v.message.in_reply_to)
                .iter()
                .map(|v| v.message.msg_id.0[0])
                .collect()
        };
        assert_eq!(order(vec![view(3, Some(2)), view(2, Some(1)), view(1, None)]), vec![1, 2, 3]);
        assert_eq!(order(vec![view(1, None), view(2, Some(1)), view(4, None)]), vec![1, 2, 4]);
        // A reply to a message this node does not hold keeps its place.
        assert_eq!(order(vec![view(5, Some(9)), view(1, None)]), vec![5, 1]);
    }
}
