//! The messaging endpoints' types: sending, the mailbox, one message,
//! threads, acknowledgements and the outbox.

use super::*;

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

/// A field also written under its name of earlier releases, for one
/// release: a message's or a delivery's `status` was called `state`, a name
/// that also means a country. What the node writes always holds
/// `Some(status)` ([`old_name`]); to be removed in the next release.
pub type OldName<T> = Option<T>;

/// The old name's value for `status`.
pub fn old_name<T: Copy>(status: T) -> OldName<T> {
    Some(status)
}

/// Where a message stands with one recipient node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    /// The recipient node's peer id.
    pub node: String,
    /// `queued` (no receipt yet), `delivered` (a signed receipt verified)
    /// or `cancelled`.
    pub status: DeliveryState,
    /// `status` under its name of earlier releases; see [`OldName`].
    #[serde(rename = "state", default, skip_serializing_if = "Option::is_none")]
    pub old_state: OldName<DeliveryState>,
    /// Attempts since the node started (queued only).
    pub attempts: u32,
    /// Why the last attempt failed (queued only).
    pub last_error: Option<String>,
    /// When the recipient node says it stored the message (delivered only).
    pub received_at: Option<Timestamp>,
    /// The signed receipt, hex (delivered only).
    pub receipt: Option<String>,
    /// The index of the recipient's evidence log leaf for the message, as
    /// its receipt names it (delivered, receipt format 3 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_position: Option<u64>,
}

/// The answer to a send or an acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendResponse {
    /// The new message's id.
    pub msg_id: MessageId,
    /// Its case.
    pub case_id: CaseId,
    /// `queued` until every recipient node has receipted, then `delivered`.
    pub status: MessageState,
    /// `status` under its name of earlier releases; see [`OldName`].
    #[serde(rename = "state", default, skip_serializing_if = "Option::is_none")]
    pub old_state: OldName<MessageState>,
    /// Per recipient node.
    pub deliveries: Vec<DeliveryView>,
    /// Who it is from, as sent (this state and the role it sent as), so
    /// that a wrong role shows at once.
    #[serde(default)]
    pub from: Option<Address>,
    /// To whom.
    #[serde(default)]
    pub to: Option<Address>,
    /// Its TLP label.
    #[serde(default)]
    pub tlp: Option<Tlp>,
    /// Whether it is marked as an exercise.
    #[serde(default)]
    pub is_exercise: bool,
    /// When an answer is expected, if said.
    #[serde(default)]
    pub respond_by: Option<Timestamp>,
}

/// `GET /v1/messages/{id}` and the items of `GET /v1/cases/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    /// `in` (received) or `out` (sent by this node).
    pub direction: Direction,
    /// `received`, or for sent messages `queued`, `delivered` or
    /// `cancelled`.
    pub status: MessageState,
    /// `status` under its name of earlier releases; see [`OldName`].
    #[serde(rename = "state", default, skip_serializing_if = "Option::is_none")]
    pub old_state: OldName<MessageState>,
    /// Whether a person has displayed it (received messages).
    pub read: bool,
    /// When it was received, or queued for sending.
    pub at: Timestamp,
    /// The sending node (received messages), peer id.
    pub sender_node: Option<String>,
    /// The `human_ack` that acknowledged it, if any.
    pub acknowledged_with: Option<MessageId>,
    /// Whether the other side answered it: acknowledged it, or sent a
    /// message in reply to it (for a received one, this node replied).
    /// An answered message's `respond_by` is closed, never overdue.
    #[serde(default)]
    pub answered: bool,
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
    /// `received`, `queued`, `delivered` or `cancelled`.
    pub status: MessageState,
    /// `status` under its name of earlier releases; see [`OldName`].
    #[serde(rename = "state", default, skip_serializing_if = "Option::is_none")]
    pub old_state: OldName<MessageState>,
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
    /// When an answer is expected, if said.
    #[serde(default)]
    pub respond_by: Option<Timestamp>,
    /// Whether it was answered (acknowledged, or replied to), which closes
    /// `respond_by`.
    #[serde(default)]
    pub answered: bool,
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
    /// Only the messages of this point of contact's role: received ones
    /// written to it, sent ones written from it (a node shared by a state's
    /// policy and technical PoCs).
    #[serde(default)]
    pub role: Option<hotline_core::Role>,
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
