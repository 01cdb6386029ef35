//! The control API's request and response bodies, shared by the server
//! ([`crate::api`]), the client ([`crate::Client`]) and the node's handle.
//!
//! Every type here is plain data with a stable JSON shape: keys such as
//! `rec/FRA/policy` and peer ids (`12D3KooW…`) are strings, hashes are hex.
//! Adding a field is a compatible change; renaming or removing one is a new
//! API version (`/v2/…`).

mod states;
pub use states::{DeliveryState, Direction, MessageState, RecordState};

use hotline_core::comcheck::{ComcheckReport, Outcome};
use hotline_core::{
    Address, CaseId, ComcheckTask, ContactRecord, Fields, Message, MessageId, MessageType, ObjectHash, RecordDraft,
    Role, StateCode, Timestamp, Tlp,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `GET /v1/status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    /// The state this node speaks for (ISO 3166-1 alpha-3).
    pub state: String,
    /// Whether that state has an admission in force in this node's directory.
    pub admitted: bool,
    /// This node's libp2p peer id.
    pub peer_id: String,
    /// The network id (hash of the charter), hex.
    pub network_id: String,
    /// The charter's network name.
    pub charter_name: String,
    /// Addresses the node listens on.
    pub listen_addrs: Vec<String>,
    /// Whether the node takes part in directory gossip (else it relies on sync alone).
    pub gossip: bool,
    /// Peers with an open connection.
    pub connected_peers: usize,
    /// Connected peers that are members (nodes listed in current records).
    pub connected_members: usize,
    /// Member nodes in the directory, this one included.
    pub member_nodes: usize,
    /// States with an admission in force.
    pub admitted_states: usize,
    /// Hash over the live directory's digest: two nodes with the same hash
    /// hold the same live directory.
    pub digest_hash: ObjectHash,
    /// Objects in the live directory.
    pub live_objects: usize,
    /// Contact records held (any status).
    pub records: usize,
    /// Objects waiting for a parent (for example a record whose admission has
    /// not arrived yet).
    pub pending: usize,
    /// Signatures the directory has verified since start: what checking
    /// objects costs, so that an operator (and a test) can see that a flood
    /// of junk costs none.
    #[serde(default)]
    pub signature_checks: u64,
    /// Inbound bytes held now against the node-wide budgets, and how many
    /// requests each budget refused since start (see `docs/threat-model.md`).
    #[serde(default)]
    pub inbound_bytes: InboundBytesView,
    /// Objects refused since start, by rejection code (`bad_signature`,
    /// `stale_seq`, …; `undecodable` for bytes that are no object).
    pub rejections: BTreeMap<String, u64>,
    /// This state's own records held, with their expiry: CBM 8 asks for an
    /// annual update, and the node warns 60 and 30 days ahead.
    #[serde(default)]
    pub own_records: Vec<OwnRecordView>,
    /// Things the operator should act on, one line each (for example a
    /// record of this state that expires in less than 60 days).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Envelopes refused since start, by code (`decrypt_failed`,
    /// `not_a_member`, `forged_sender`, `prekey_expired`, …).
    #[serde(default)]
    pub delivery_rejections: BTreeMap<String, u64>,
    /// Sync exchanges this node started since start, by outcome: `in_sync`
    /// (the digest summaries matched, nothing moved), `compared` (digests
    /// were compared and the differences moved), `refused` (the peer does
    /// not count us as a member), `failed`.
    #[serde(default)]
    pub sync_exchanges: BTreeMap<String, u64>,
    /// Messages stored (sent and received).
    #[serde(default)]
    pub messages: usize,
    /// Envelopes waiting for a receipt.
    #[serde(default)]
    pub outbox: usize,
    /// Durable writes that failed since start (disk full, I/O error). Not
    /// zero means the directory on disk may lag the one in memory.
    pub store_failures: u64,
    /// The node's clock, Unix seconds.
    pub now: Timestamp,
    /// Seconds since the node started.
    pub uptime_secs: u64,
    /// The software version.
    pub version: String,
}

/// One of this state's own records, in [`StatusView`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnRecordView {
    /// The role.
    pub role: Role,
    /// Its version.
    pub seq: u64,
    /// When it expires.
    pub expires: Timestamp,
    /// `current`, `expiring`, `expired` or `revoked`.
    pub status: RecordState,
    /// Whole days until it expires (negative once expired).
    pub days_left: i64,
}

/// One connected peer, in `GET /v1/peers`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerView {
    /// Its libp2p peer id.
    pub peer_id: String,
    /// The state whose current record lists it, if it is a member.
    pub state: Option<String>,
    /// Remote addresses of its open connections.
    pub addrs: Vec<String>,
    /// Last ping round trip, milliseconds.
    pub rtt_ms: Option<f64>,
    /// Whether it is a member node.
    pub member: bool,
    /// Its gossipsub score as this node sees it (`null` with gossip off).
    /// Objects it sent that were rejected drive it below zero.
    pub gossip_score: Option<f64>,
}

/// A contact record as the directory shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordEntry {
    /// The directory slot, for example `rec/FRA/policy`.
    pub key: String,
    /// The record's version.
    pub seq: u64,
    /// The record's hash (hex).
    pub hash: ObjectHash,
    /// Its status now: `current`, `expiring`, `expired` or `revoked`, or
    /// from a daemon `unconfirmed` (in force, but its PoC failed the last two
    /// communication checks this node ran).
    pub status: RecordState,
    /// The signed body.
    pub record: ContactRecord,
}

/// A state's admission, as the directory shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdmissionView {
    /// The state (ISO 3166-1 alpha-3).
    pub state: String,
    /// The country's English short name.
    pub country_name: String,
    /// The admission's version (a new one follows a state key change).
    pub seq: u64,
    /// The admitted state key (hex).
    pub state_key: String,
    /// When the stewards issued it.
    pub issued_at: Timestamp,
    /// When it ends, if ever.
    pub expires: Option<Timestamp>,
    /// Whether it is in force now (not revoked, not expired).
    pub in_force: bool,
}

/// `GET /v1/directory`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DirectoryView {
    /// Admissions held, by state.
    pub admissions: Vec<AdmissionView>,
    /// Records held, by state and role, each with its status.
    pub records: Vec<RecordEntry>,
    /// See [`StatusView::digest_hash`].
    pub digest_hash: ObjectHash,
    /// The node's clock when the view was taken.
    pub now: Timestamp,
}

/// `GET /v1/directory/{state}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateView {
    /// The state's admission, if held.
    pub admission: Option<AdmissionView>,
    /// Its records, by role.
    pub records: Vec<RecordEntry>,
}

/// One version of a record, in `GET /v1/directory/{state}/{role}/history`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryItem {
    /// Local acceptance order (grows across all slots; not the record's seq).
    pub local_seq: u64,
    /// When this node accepted it.
    pub accepted_at: Timestamp,
    /// Whether it became the slot's winner (else it was kept as evidence of
    /// an equivocation).
    pub winner: bool,
    /// The record's version.
    pub seq: u64,
    /// The record's hash.
    pub hash: ObjectHash,
    /// The signed body.
    pub record: ContactRecord,
}

/// `POST /v1/records`: sign the next version of one of this node's state's
/// records with the state key, and publish it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublishRequest {
    /// The record's content.
    pub draft: RecordDraft,
    /// How long the record is valid, in days. Default: the longest the
    /// charter allows (365 days under the default policy).
    #[serde(default)]
    pub validity_days: Option<u64>,
}

/// `POST /v1/objects`: hand the node a signed directory object made
/// elsewhere (an admission from the stewards, a revocation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubmitRequest {
    /// The object's wire form (`DirectoryObject::to_bytes`), hex.
    pub object_hex: String,
}

/// What the directory did with a submitted object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmitOutcome {
    /// It changed the directory, is durable, and was published.
    Applied,
    /// The directory already held it.
    Duplicate,
    /// It waits for a parent (for example a record before its admission).
    Pending,
}

/// `POST /v1/objects` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubmitResponse {
    /// The object's slot.
    pub key: String,
    /// The object's version.
    pub seq: u64,
    /// The object's hash.
    pub hash: ObjectHash,
    /// What happened.
    pub outcome: SubmitOutcome,
}

/// A live event, from [`crate::NodeHandle::subscribe`] and `GET /v1/events`
/// (server-sent events: the SSE `event` field is [`NodeEvent::kind`], the
/// `data` field this value as JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeEvent {
    /// An object was accepted into the directory and is durable.
    DirectoryChanged {
        /// The slot, for example `rec/FRA/policy`.
        key: String,
        /// The object's version.
        seq: u64,
        /// The object's hash.
        hash: ObjectHash,
        /// Whether it became the slot's winner (else it is kept as evidence).
        winner: bool,
    },
    /// A slot was emptied (its object no longer chains to the state's
    /// admission in force, after a key change or a revocation).
    EntryRemoved {
        /// The slot.
        key: String,
        /// The removed object's hash.
        hash: ObjectHash,
    },
    /// A peer connected.
    PeerConnected {
        /// Its peer id.
        peer: String,
        /// Whether it is a member node.
        member: bool,
    },
    /// A peer's last connection closed.
    PeerDisconnected {
        /// Its peer id.
        peer: String,
    },
    /// An object from a peer was refused.
    ObjectRejected {
        /// The peer that sent it (gossip source or sync peer).
        peer: String,
        /// The rejection code (see [`StatusView::rejections`]).
        code: String,
        /// What the object claimed to be, for example `rec/FRA/policy seq 3`.
        object: String,
    },
    /// A message arrived and is stored.
    MessageReceived {
        /// Its id.
        msg_id: MessageId,
        /// Its case.
        case_id: CaseId,
        /// Its type.
        kind: MessageType,
        /// The sender.
        from: Address,
        /// Its TLP label.
        tlp: Tlp,
    },
    /// A recipient node's signed receipt for a message we sent verified and is stored.
    MessageDelivered {
        /// The message.
        msg_id: MessageId,
        /// The recipient node, peer id.
        node: String,
    },
    /// A person at the recipient acknowledged a message we sent.
    MessageAcknowledged {
        /// The message acknowledged.
        msg_id: MessageId,
        /// The `human_ack` message.
        ack_id: MessageId,
        /// Who acknowledged.
        by: Address,
    },
    /// An envelope was refused.
    DeliveryRejected {
        /// The peer that delivered it.
        peer: String,
        /// The refusal code (see [`StatusView::delivery_rejections`]).
        code: String,
    },
    /// One of this state's own records expires in less than 60 (then 30)
    /// days: publish a new version (`hotline record set`).
    RecordExpiring {
        /// The slot, for example `rec/FRA/policy`.
        key: String,
        /// Whole days left.
        days_left: i64,
    },
    /// The subscriber fell behind and `missed` events were dropped; read
    /// the state again (status, directory) to catch up.
    Lagged {
        /// How many events were lost.
        missed: u64,
    },
}

impl NodeEvent {
    /// The event's kind, as in the JSON `type` field and the SSE `event` field.
    pub fn kind(&self) -> &'static str {
        match self {
            NodeEvent::DirectoryChanged { .. } => "directory_changed",
            NodeEvent::EntryRemoved { .. } => "entry_removed",
            NodeEvent::PeerConnected { .. } => "peer_connected",
            NodeEvent::PeerDisconnected { .. } => "peer_disconnected",
            NodeEvent::ObjectRejected { .. } => "object_rejected",
            NodeEvent::MessageReceived { .. } => "message_received",
            NodeEvent::MessageDelivered { .. } => "message_delivered",
            NodeEvent::MessageAcknowledged { .. } => "message_acknowledged",
            NodeEvent::DeliveryRejected { .. } => "delivery_rejected",
            NodeEvent::RecordExpiring { .. } => "record_expiring",
            NodeEvent::Lagged { .. } => "lagged",
        }
    }
}

/// The body of every error answer: `{ "error": { "code", "message" } }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// An error's stable code and one-line message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A stable, machine-readable code, for example `invalid_field`,
    /// `not_found`, `not_admitted`.
    pub code: String,
    /// One line for a human.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_with_their_kind() {
        let e = NodeEvent::PeerDisconnected { peer: "12D3KooWabc".into() };
        let json = serde_json::to_value(&e).unwrap_or_default();
        assert_eq!(json["type"], e.kind());
        let back: NodeEvent = serde_json::from_value(json).unwrap_or(NodeEvent::Lagged { missed: 0 });
        assert_eq!(back, e);
    }
}

// ----- messages -----

/// `POST /v1/messages`: a message to write, seal and deliver.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendRequest {
    /// The receiving point of contact.
    pub to: Address,
    /// The sending role (default: technical).
    #[serde(default)]
    pub from_role: Option<Role>,
    /// The message type.
    pub kind: MessageType,
    /// Subject line.
    pub subject: String,
    /// Free text.
    #[serde(default)]
    pub body: String,
    /// TLP label (default AMBER).
    #[serde(default)]
    pub tlp: Option<Tlp>,
    /// Severity 0–5.
    #[serde(default)]
    pub severity: Option<u8>,
    /// An exercise, not a real incident.
    #[serde(default)]
    pub is_exercise: bool,
    /// When an answer is expected.
    #[serde(default)]
    pub respond_by: Option<Timestamp>,
    /// The case to file it under (default: the case of `in_reply_to`, else a new case).
    #[serde(default)]
    pub case_id: Option<CaseId>,
    /// The message it answers.
    #[serde(default)]
    pub in_reply_to: Option<MessageId>,
    /// BCP 47 language of subject and body.
    #[serde(default)]
    pub lang: Option<String>,
    /// Structured fields (default none).
    #[serde(default)]
    pub fields: Option<Fields>,
    /// Send even though the recipient's record is `expiring` (its details
    /// may be out of date).
    #[serde(default)]
    pub force: bool,
}

impl SendRequest {
    /// A message with an empty body and every optional field at the API's
    /// default (what a JSON request that leaves them out gets); set the rest
    /// with struct update syntax.
    pub fn new(to: Address, kind: MessageType, subject: impl Into<String>) -> SendRequest {
        SendRequest {
            to,
            from_role: None,
            kind,
            subject: subject.into(),
            body: String::new(),
            tlp: None,
            severity: None,
            is_exercise: false,
            respond_by: None,
            case_id: None,
            in_reply_to: None,
            lang: None,
            fields: None,
            force: false,
        }
    }
}

/// Where a message stands with one recipient node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    /// The recipient node's peer id.
    pub node: String,
    /// `queued` (no receipt yet) or `delivered` (a signed receipt verified).
    pub state: DeliveryState,
    /// Attempts since the node started (queued only).
    pub attempts: u32,
    /// Why the last attempt failed (queued only).
    pub last_error: Option<String>,
    /// When the recipient node says it stored the message (delivered only).
    pub received_at: Option<Timestamp>,
    /// The signed receipt, hex (delivered only).
    pub receipt: Option<String>,
}

/// The answer to a send or an acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendResponse {
    /// The new message's id.
    pub msg_id: MessageId,
    /// Its case.
    pub case_id: CaseId,
    /// `queued` until every recipient node has receipted, then `delivered`.
    pub state: MessageState,
    /// Per recipient node.
    pub deliveries: Vec<DeliveryView>,
}

/// `GET /v1/messages/{id}` and the items of `GET /v1/cases/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    /// `in` (received) or `out` (sent by this node).
    pub direction: Direction,
    /// `received`, or for sent messages `queued` / `delivered`.
    pub state: MessageState,
    /// Whether a person has displayed it (received messages).
    pub read: bool,
    /// When it was received, or queued for sending.
    pub at: Timestamp,
    /// The sending node (received messages), peer id.
    pub sender_node: Option<String>,
    /// The `human_ack` that acknowledged it, if any.
    pub acknowledged_with: Option<MessageId>,
    /// Delivery per recipient node (sent messages).
    pub deliveries: Vec<DeliveryView>,
    /// The message itself.
    pub message: Message,
}

/// One line of `GET /v1/messages`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageSummary {
    /// The id.
    pub msg_id: MessageId,
    /// The case.
    pub case_id: CaseId,
    /// `in` or `out`.
    pub direction: Direction,
    /// `received`, `queued` or `delivered`.
    pub state: MessageState,
    /// Read by a person (received messages).
    pub read: bool,
    /// Acknowledged by a person.
    pub acknowledged: bool,
    /// When received or queued.
    pub at: Timestamp,
    /// The type.
    pub kind: MessageType,
    /// Sender.
    pub from: Address,
    /// Recipient.
    pub to: Address,
    /// TLP label.
    pub tlp: Tlp,
    /// Severity.
    pub severity: Option<u8>,
    /// Exercise flag.
    pub is_exercise: bool,
    /// Subject line.
    pub subject: String,
}

/// Query of `GET /v1/messages`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageQuery {
    /// `inbox` (default), `sent` or `all`.
    #[serde(default)]
    pub r#box: Option<String>,
    /// Only messages no person has displayed.
    #[serde(default)]
    pub unread: bool,
    /// Only this case, hex.
    #[serde(default)]
    pub case: Option<CaseId>,
    /// The most messages to list: 1 to 1000, 1000 if absent. The newest
    /// come first into the page; the page lists them oldest first.
    #[serde(default)]
    pub limit: Option<usize>,
    /// Only messages older than this cursor (`AT-MSGID`). The cursor of the
    /// next page is the oldest message of this one: its `at`, a dash, and
    /// its `msg_id`.
    #[serde(default)]
    pub before: Option<String>,
}

/// `GET /v1/ids?prefix=HEX`: the messages and cases held whose id starts
/// with the prefix, up to two of each (two say: give more digits).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMatches {
    /// Message ids, in id order.
    pub messages: Vec<MessageId>,
    /// Case ids, in id order.
    pub cases: Vec<CaseId>,
}

/// `POST /v1/messages/{id}/ack`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckRequest {
    /// A note for the sender.
    #[serde(default)]
    pub note: Option<String>,
}

/// One line of `GET /v1/outbox`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// The message.
    pub msg_id: MessageId,
    /// Its recipient point of contact.
    pub to: Address,
    /// Its subject.
    pub subject: String,
    /// The recipient node, peer id.
    pub node: String,
    /// When it was queued.
    pub queued_at: Timestamp,
    /// Attempts since the node started.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Whether an attempt is running now.
    pub in_flight: bool,
    /// Milliseconds until the next attempt (0: due now).
    pub next_attempt_ms: u64,
}

// ----- communication checks -----

/// `POST /v1/comchecks`: start a communication check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComcheckStartRequest {
    /// The states to check; `None` for every other admitted state.
    #[serde(default)]
    pub to: Option<Vec<StateCode>>,
    /// The role to check; `None` for both `policy` and `technical`.
    #[serde(default)]
    pub role: Option<Role>,
    /// Seconds from now until the reply deadline.
    pub deadline_secs: u64,
    /// What a reply must do.
    pub task: ComcheckTask,
    /// Whether the check was announced beforehand.
    #[serde(default)]
    pub announced: bool,
    /// Mark the challenges as an exercise.
    #[serde(default)]
    pub exercise: bool,
    /// Send every target the full report instead of its own lines.
    #[serde(default)]
    pub share_full: bool,
    /// The initiating role (default technical).
    #[serde(default)]
    pub from_role: Option<Role>,
}

/// One target of a check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComcheckTargetView {
    /// The point of contact checked.
    pub target: Address,
    /// Its outcome now.
    pub outcome: Outcome,
    /// The challenge message sent to it.
    pub challenge: Option<MessageId>,
    /// When its node's delivery receipt was stored here.
    pub receipted_at: Option<Timestamp>,
    /// When its reply was stored here.
    pub replied_at: Option<Timestamp>,
    /// Seconds from the challenge to the reply.
    pub latency_secs: Option<u64>,
    /// Why no challenge could be sent, or what was wrong with the reply.
    pub note: Option<String>,
}

/// `GET /v1/comchecks/{id}`: a check and where each target stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComcheckView {
    /// The check's id (also the case id of its challenges and replies).
    pub comcheck_id: CaseId,
    /// Who runs it.
    pub initiator: Address,
    /// When the challenges were sent.
    pub started_at: Timestamp,
    /// The reply deadline.
    pub deadline: Timestamp,
    /// What a reply must do.
    pub task: ComcheckTask,
    /// Announced beforehand.
    pub announced: bool,
    /// An exercise.
    pub exercise: bool,
    /// Every target gets the full report.
    pub share_full: bool,
    /// Whether the deadline has passed.
    pub finished: bool,
    /// Targets per outcome.
    pub counts: BTreeMap<Outcome, u32>,
    /// Per target.
    pub targets: Vec<ComcheckTargetView>,
    /// Whether the report was sent to the targets.
    pub report_sent: bool,
}

/// `POST /v1/comchecks/{id}/report`: the signed report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComcheckReportView {
    /// The full report, as signed.
    pub report: ComcheckReport,
    /// The signing node, peer id.
    pub signer: String,
    /// The signed report's wire form, hex (verify it with the signer's key).
    pub signed_hex: String,
    /// The states a copy was sent to by this call (empty once sent).
    pub sent_to: Vec<StateCode>,
}

/// `POST /v1/comchecks/{id}/answer`: reply to a challenge received.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComcheckAnswerRequest {
    /// The code the challenge asked to echo (task `nonce`).
    #[serde(default)]
    pub code: Option<String>,
    /// The answering role (default: the role challenged, or for a
    /// `counterpart` check the state's other role).
    #[serde(default)]
    pub role: Option<Role>,
}

/// `GET /v1/liveness`: one member node, as this node sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LivenessView {
    /// The state whose record lists it.
    pub state: StateCode,
    /// Its peer id.
    pub node: String,
    /// Whether a connection to it is open now.
    pub connected: bool,
    /// When it was last connected, disconnected or answered a ping.
    pub last_seen: Option<Timestamp>,
    /// The last ping round trip, milliseconds.
    pub rtt_ms: Option<f64>,
    /// Share of the samples over the last 24 h in which it was connected
    /// (`null` before the first sample).
    pub reachability_24h: Option<f64>,
    /// How many samples that share is over.
    pub samples: usize,
}

/// `POST /v1/comchecks/schedules`: run a check periodically, unannounced,
/// at a random time within each period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComcheckScheduleRequest {
    /// The period, seconds (at least 60, and longer than the check's deadline).
    pub every_secs: u64,
    /// The check to run each period (`announced` is ignored: scheduled checks are unannounced).
    pub check: ComcheckStartRequest,
}

/// A periodic check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComcheckScheduleView {
    /// The schedule's id.
    pub schedule_id: CaseId,
    /// The period, seconds.
    pub every_secs: u64,
    /// The check run each period.
    pub check: ComcheckStartRequest,
    /// When the next check starts (a random time in the current period).
    pub next_at: Timestamp,
    /// The checks it started, oldest first (the last 16).
    pub runs: Vec<CaseId>,
}

/// The node-wide budgets of inbound bytes, as `status` shows them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundBytesView {
    /// Bytes of deliver request frames being read now (members only).
    pub reading: usize,
    /// Their limit.
    pub reading_limit: usize,
    /// Deliver requests refused because reading them would exceed the limit.
    pub reading_refused: usize,
    /// Bytes of sync request frames being read now.
    #[serde(default)]
    pub reading_sync: usize,
    /// Sync requests refused because reading them would exceed the limit
    /// (the same as `reading_limit`).
    #[serde(default)]
    pub reading_sync_refused: usize,
    /// Bytes of requests read and queued for, or being handled by, the node.
    pub queued: usize,
    /// Their limit.
    pub queued_limit: usize,
    /// Requests dropped because queueing them would exceed the limit.
    pub queued_refused: usize,
    /// Gossip messages from peers that are not members, ignored.
    pub stranger_gossip_ignored: u64,
    /// Envelopes from peers that are not members, refused.
    pub stranger_envelopes_refused: u64,
    /// Peers disconnected at the end of their grace window.
    pub strangers_disconnected: u64,
}
