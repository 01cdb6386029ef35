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
//!
//! This file holds the messaging state ([`Mail`]) and the pure helpers
//! (sealing, opening, checking receipts); the actor's handlers are in
//! `sending`, `receiving`, `prekeys`, `reading` (marking read), `revoked`
//! (deliveries moved off nodes their state no longer lists) and `recovery`
//! (messages a peer lost, found from the receipt numbers, sent again).

mod policy;
mod prekeys;
mod reading;
mod receiving;
mod recovery;
mod revoked;
mod sending;

use super::{Actor, After, Completion, Responder};
use crate::api_types::{AckRequest, MessageState, MessageView, NodeEvent, SendRequest, SendResponse};
use crate::error::{AckError, CancelError, NodeError, SendError};
use crate::mailbox::{decode_message, queued_view};
use crate::outbox::{DeliveryKey, RetryPolicy, Schedule};
use hotline_core::{
    CaseId, DirectoryObject, Fields, Message, MessageId, MessageType, NodeId, ObjectKey, Outcome, SecretKey,
    SignedPrekeyBundle, Timestamp,
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
    /// Messages whose deliveries are being moved off a node its state no
    /// longer lists, until that write is durable (`messaging::revoked`).
    pub moving: HashSet<MessageId>,
    /// Messages whose queued deliveries are being cancelled, until that
    /// write is durable: a move leaves them alone.
    pub cancelling: HashSet<MessageId>,
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
    /// The last receipt number issued to each sender node, once read from
    /// the store (`messaging::recovery`): one entry per member node.
    pub issued: HashMap<NodeId, u64>,
    /// Messages peers lost, being queued for them again
    /// (`messaging::recovery`).
    pub recovery: recovery::Recovery,
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
            moving: HashSet::new(),
            cancelling: HashSet::new(),
            rejections: BTreeMap::new(),
            waiters: HashMap::new(),
            duplicates: HashMap::new(),
            acks_in_flight: HashMap::new(),
            ack_writes: HashMap::new(),
            ring_version: 0,
            ring_saved: 0,
            ring_writing: 0,
            opening: Arc::new(Semaphore::new(MAX_OPENING)),
            issued: HashMap::new(),
            recovery: recovery::Recovery::default(),
        })
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

/// A message opened and checked off the actor. Its receipt is signed by
/// the actor, which numbers it (`messaging::recovery`).
pub(crate) struct OpenedMessage {
    sender: NodeId,
    plaintext: Vec<u8>,
    message: Message,
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
    random: &crate::random::Randomness,
) -> Result<Vec<u8>, String> {
    let mut rng = random.seeded_rng()?;
    let envelope = Envelope::seal(plaintext, key, sender, node, (prekey.0, &prekey.1), network, id.0, now, &mut rng)
        .map_err(|e| e.to_string())?;
    Ok(envelope.to_bytes())
}

/// Opens an envelope addressed to `me` and decodes the message inside.
fn open(
    envelope: &Envelope,
    ring: &RwLock<PrekeyRing>,
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
    Ok(Box::new(OpenedMessage {
        sender: opened.sender,
        plaintext: opened.plaintext,
        message,
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
    // Numbers start at 1 (`messaging::recovery`).
    if receipt.seq() == Some(0) {
        return Err("it is numbered 0".into());
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
    use hotline_core::{Address, CaseId, Role, Tlp};

    fn view(id: u8, parent: Option<u8>) -> MessageView {
        let address = Address { state: "FRA".parse().unwrap(), role: Role::technical() };
        MessageView {
            direction: crate::api_types::Direction::In,
            status: MessageState::Received,
            old_state: crate::api_types::old_name(MessageState::Received),
            read: false,
            at: Timestamp(1),
            sender_node: None,
            acknowledged_with: None,
            answered: false,
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
