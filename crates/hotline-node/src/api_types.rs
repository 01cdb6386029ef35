//! The control API's request and response bodies, shared by the server
//! ([`crate::api`]), the client ([`crate::Client`]) and the node's handle.
//!
//! Every type here is plain data with a stable JSON shape: keys such as
//! `rec/FRA/policy` and peer ids (`12D3KooW…`) are strings, hashes are hex.
//! Adding a field is a compatible change; renaming or removing one is a new
//! API version (`/v2/…`).

mod comchecks;
mod evidence;
mod messages;
mod states;
pub use comchecks::*;
pub use evidence::*;
pub use messages::*;
pub use states::{DeliveryState, Direction, MessageState, RecordState};

use hotline_core::comcheck::{ComcheckReport, Outcome};
use hotline_core::{
    Address, CaseId, ComcheckTask, ContactRecord, Fields, Message, MessageId, MessageType, NetworkId, ObjectHash,
    RecordDraft, Role, StateCode, Timestamp, Tlp,
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
    /// Of those, the deliveries being attempted now.
    #[serde(default)]
    pub outbox_in_flight: usize,
    /// Received envelopes being written now, and retries of them waiting
    /// for that write: no receipt leaves before it is durable.
    #[serde(default)]
    pub receipts_waiting: usize,
    /// Connections closed since start because nothing answered for the
    /// dead-link bound (12 s by default).
    #[serde(default)]
    pub links_closed_dead: u64,
    /// Connections closed since start because their peer came back with a
    /// new boot id (it restarted; the old connection was dead).
    #[serde(default)]
    pub links_closed_restarted: u64,
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
    /// Milliseconds since it last answered a ping on any connection (or
    /// since it connected). A connection silent for the dead-link bound
    /// (12 s by default) is closed.
    pub silent_ms: u64,
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

/// `POST /v1/records/{role}/withdraw`: why this state withdraws its record
/// for a role (kept in the signed revocation, for the audit trail).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawRequest {
    /// Why, in a line (1 to 256 bytes).
    pub reason: String,
}

/// `POST /v1/backup`: a backup of this node, written by the daemon.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRequest {
    /// Where to write it: an absolute path to a file that does not exist.
    pub out: std::path::PathBuf,
    /// The passphrase it is encrypted under (at least
    /// [`MIN_PASSPHRASE_BYTES`] bytes). Never logged.
    pub passphrase: String,
}

/// The shortest passphrase a backup is written under.
pub const MIN_PASSPHRASE_BYTES: usize = 12;

impl std::fmt::Debug for BackupRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupRequest").field("out", &self.out).field("passphrase", &"<redacted>").finish()
    }
}

/// A backup written or checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupView {
    /// The backup file.
    pub file: std::path::PathBuf,
    /// Its size.
    pub bytes: u64,
    /// The network of the node backed up.
    pub network: NetworkId,
    /// Its state.
    pub state: StateCode,
    /// When the backup was taken.
    pub taken_at: Timestamp,
    /// Rows of the store it holds.
    pub rows: u64,
    /// The files of the data directory it holds (`keys/node.key`, …).
    pub files: Vec<String>,
}

impl BackupView {
    /// The view of what `hotline_store::backup` wrote or read.
    pub fn of(file: std::path::PathBuf, summary: hotline_store::backup::BackupSummary) -> BackupView {
        BackupView {
            file,
            bytes: summary.bytes,
            network: summary.info.network,
            state: summary.info.state,
            taken_at: summary.info.taken_at,
            rows: summary.rows,
            files: summary.files,
        }
    }
}

/// `POST /v1/nodes/{peer}/revoke`: this state revokes one of its nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeNodeRequest {
    /// Why, in a line (1 to 256 bytes): kept in the signed revocation.
    pub reason: String,
}

/// The answer to `POST /v1/nodes/{peer}/revoke`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedNode {
    /// The revoked node, as a peer id.
    pub node: String,
    /// The state that revoked it (this node's).
    pub state: StateCode,
    /// When the revocation was signed.
    pub issued_at: Timestamp,
    /// Why.
    pub reason: String,
    /// The roles whose records of this state still list it: publish them
    /// anew without it (`hotline record set --role R --node …`).
    pub still_listed_by: Vec<Role>,
    /// The signed revocation's hash.
    pub hash: ObjectHash,
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
        /// Its subject line.
        #[serde(default)]
        subject: String,
        /// Its severity, 0 to 5, if given.
        #[serde(default)]
        severity: Option<u8>,
        /// Whether it is marked as an exercise.
        #[serde(default)]
        is_exercise: bool,
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
    /// A recipient node lost messages it had receipted (its store was put
    /// back to an older copy): `messages` sent messages are queued for it
    /// again.
    Redelivering {
        /// The node, peer id.
        node: String,
        /// How many messages were queued again (in this batch).
        messages: usize,
    },
    /// A node rewrote its evidence log (a fork or a rollback): this node
    /// holds the proof (`GET /v1/evidence`).
    Equivocation {
        /// The node, peer id.
        node: String,
        /// `fork` or `rollback`.
        kind: String,
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
            NodeEvent::Redelivering { .. } => "redelivering",
            NodeEvent::Equivocation { .. } => "equivocation",
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

/// `GET /health`: whether the node can do its job, for monitoring. The
/// answer is 200 when healthy, 503 otherwise, with the reasons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthView {
    /// Store writable, state admitted, at least one member connected.
    pub healthy: bool,
    /// What is wrong, one line each (empty when healthy).
    pub reasons: Vec<String>,
    /// A probe row was just written durably.
    pub store_writable: bool,
    /// This node's state has an admission in force.
    pub admitted: bool,
    /// Member nodes connected now.
    pub connected_members: usize,
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
    /// Bytes of members' sync request frames being read now.
    #[serde(default)]
    pub reading_sync: usize,
    /// Members' sync requests refused because reading them would exceed
    /// the limit (the same as `reading_limit`).
    #[serde(default)]
    pub reading_sync_refused: usize,
    /// Bytes of strangers' sync request frames being read now: a budget
    /// apart from the members'.
    #[serde(default)]
    pub reading_stranger_sync: usize,
    /// Its limit.
    #[serde(default)]
    pub reading_stranger_sync_limit: usize,
    /// Strangers' sync requests refused because reading them would exceed
    /// that limit.
    #[serde(default)]
    pub reading_stranger_sync_refused: usize,
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
