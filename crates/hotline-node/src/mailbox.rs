//! The read side of messaging, off the actor: the inbox a page at a time,
//! one message, a thread, the outbox, and id prefixes.
//!
//! Every query here runs on one of the store's read transactions, on a
//! blocking thread, so that an operator's reads never hold up deliveries,
//! gossip or the control API, and a member cannot slow the node through
//! them. The store says what is stored and whether a delivery still waits
//! (its outbox row) or is done (its receipt); the schedule's
//! [`DeliveryBoard`] adds how the waiting ones are going.
//!
//! Writes stay with the actor: marking a message read goes through it.

use crate::api_types::{
    DeliveryState, DeliveryView, Direction, MessageQuery, MessageState, MessageSummary, MessageView, OutboxItem,
};
use crate::error::{NodeError, QueryError};
use crate::outbox::DeliveryBoard;
use crate::parallel::split_work;
use hotline_core::{CaseId, Message, MessageId, NodeId};
use hotline_crypto::DeliveryReceipt;
use hotline_store::{Cursor, Mailbox, MessageRow, Snapshot, Store};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use tokio::time::Instant;

/// The most messages one page lists, and the default.
pub(crate) const MAX_PAGE: usize = 1000;

/// The handle's way to the read side: it holds the store weakly, so that a
/// handle kept after the node stopped does not keep the database open (a
/// restarted node must be able to open it), and reads then fail with
/// [`NodeError::Stopped`]. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct MailReader {
    store: Weak<Store>,
    /// The node's data directory (a backup reads its key files there).
    data_dir: std::path::PathBuf,
    board: DeliveryBoard,
    /// Reads running at once; more wait their turn (see [`MAX_READS`]).
    slots: Arc<tokio::sync::Semaphore>,
}

/// Most reads running at once. Each holds a blocking thread and a read
/// transaction; clients of the control socket that ask for many large
/// pages at once wait for one another instead of taking every thread.
pub(crate) const MAX_READS: usize = 8;

impl MailReader {
    pub(crate) fn new(store: &Arc<Store>, data_dir: &std::path::Path, board: DeliveryBoard) -> MailReader {
        MailReader {
            store: Arc::downgrade(store),
            data_dir: data_dir.to_path_buf(),
            board,
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_READS)),
        }
    }

    /// The node's data directory.
    pub(crate) fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// Runs `read` on a blocking thread: redb reads are synchronous, and a
    /// long one must not hold a runtime worker. At most [`MAX_READS`] run
    /// at once.
    pub(crate) async fn run<T: Send + 'static, E: From<NodeError> + Send + 'static>(
        &self,
        read: impl FnOnce(&MailReads) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E> {
        // Never closed: acquiring only waits.
        let slot = Arc::clone(&self.slots).acquire_owned().await.map_err(|_| NodeError::Stopped)?;
        let store = self.store.upgrade().ok_or(NodeError::Stopped)?;
        let reads = MailReads::new(store, self.board.clone());
        tokio::task::spawn_blocking(move || {
            let result = read(&reads);
            drop(slot);
            result
        })
        .await
        .map_err(|_| NodeError::Stopped)?
    }
}

/// The read queries, on one store.
pub(crate) struct MailReads {
    store: Arc<Store>,
    board: DeliveryBoard,
    /// Peer ids by node, as text: a thread names the same few nodes
    /// thousands of times, and the text form costs a base58 encoding.
    names: Mutex<HashMap<NodeId, String>>,
}

impl MailReads {
    pub(crate) fn new(store: Arc<Store>, board: DeliveryBoard) -> MailReads {
        MailReads { store, board, names: Mutex::new(HashMap::new()) }
    }

    /// The store read.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The peer id of `node`, as text.
    fn name(&self, node: &NodeId) -> String {
        self.names
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(*node)
            .or_insert_with(|| node.to_string())
            .clone()
    }

    /// One page of a mailbox, oldest first within the page: the newest
    /// `limit` messages older than `before`.
    pub(crate) fn messages(&self, query: &MessageQuery) -> Result<Vec<MessageSummary>, QueryError> {
        let wanted = match query.r#box.as_deref().unwrap_or("inbox") {
            "inbox" => Mailbox::Inbox,
            "sent" => Mailbox::Sent,
            "all" => Mailbox::All,
            other => return Err(QueryError::BadBox(other.to_string())),
        };
        let limit = match query.limit {
            None => MAX_PAGE,
            Some(n) if (1..=MAX_PAGE).contains(&n) => n,
            Some(n) => return Err(QueryError::BadLimit { limit: n, max: MAX_PAGE }),
        };
        let before = match query.before.as_deref() {
            None => None,
            Some(text) => Some(text.parse::<Cursor>().map_err(|e| QueryError::BadCursor(e.to_string()))?),
        };
        // With only unread messages asked for, the box is the inbox.
        let unread = query.unread && wanted != Mailbox::Sent;
        let snap = self.store.snapshot()?;
        let rows = match query.case {
            Some(case) => case_page(&snap, case, wanted, unread, query.role.as_ref(), before, limit)?,
            // Each row becomes its summary as it is read: a page of large
            // messages never holds more than one body at a time.
            None => {
                let role = query.role.as_ref();
                let (mut out, _) = snap.mailbox_page_with(wanted, unread, role, before, limit, |id, row| {
                    Ok::<_, NodeError>(summary(self.view(&snap, id, row)?))
                })?;
                out.reverse();
                return Ok(out);
            }
        };
        let mut out = rows
            .into_iter()
            .map(|(id, row)| Ok(summary(self.view(&snap, id, row)?)))
            .collect::<Result<Vec<_>, NodeError>>()?;
        out.reverse();
        Ok(out)
    }
}

/// A page of one case's messages, from the thread index: a case is read
/// whole, then filtered like the mailbox.
fn case_page(
    snap: &Snapshot<'_>,
    case: CaseId,
    wanted: Mailbox,
    unread: bool,
    role: Option<&hotline_core::Role>,
    before: Option<Cursor>,
    limit: usize,
) -> Result<Vec<(MessageId, MessageRow)>, NodeError> {
    let mut rows = Vec::new();
    for id in snap.case(&case)? {
        let Some(row) = snap.message(&id)? else { continue };
        let mut keep = match &row {
            MessageRow::Received(r) => wanted != Mailbox::Sent && (!unread || !r.read),
            MessageRow::Sent(_) => wanted != Mailbox::Inbox && !unread,
        };
        if let Some(role) = role
            && keep
        {
            let m = decode_message(&id, row.message_bytes())?;
            let own = if matches!(row, MessageRow::Received(_)) { &m.to.role } else { &m.from.role };
            keep = own == role;
        }
        let at = Cursor { at: row.at(), id };
        if keep && before.is_none_or(|b| at < b) {
            rows.push((at, id, row));
        }
    }
    rows.sort_unstable_by_key(|r| std::cmp::Reverse(r.0));
    rows.truncate(limit);
    Ok(rows.into_iter().map(|(_, id, row)| (id, row)).collect())
}

impl MailReads {
    /// One message as stored, or `not_found`.
    pub(crate) fn message(&self, id: MessageId) -> Result<MessageView, NodeError> {
        let snap = self.store.snapshot()?;
        match snap.message(&id)? {
            Some(row) => self.view(&snap, id, row),
            None => Err(NodeError::NotFound(format!("no message {id} is held"))),
        }
    }

    /// Every message of a case, oldest first, no reply before its parent.
    ///
    /// A long case is read on every core at once, from one snapshot: a
    /// case of 5,000 messages is 5,000 lookups scattered over the file.
    pub(crate) fn thread(&self, case: CaseId) -> Result<Vec<MessageView>, NodeError> {
        let snap = self.store.snapshot()?;
        let ids = snap.case(&case)?;
        // `answered` from the row alone for now; replies are known below.
        let mut views = split_work(&ids, |chunk| {
            let mut views = Vec::with_capacity(chunk.len());
            for id in chunk {
                if let Some(row) = snap.message(id)? {
                    let message = decode_message(id, row.message_bytes())?;
                    let acknowledged = row_acknowledged(&row);
                    views.push(self.view_of(&snap, *id, row, message, acknowledged)?);
                }
            }
            Ok::<_, NodeError>(views)
        })?;
        if views.is_empty() {
            return Err(NodeError::NotFound(format!("no message of case {case} is held")));
        }
        // Whether each message was answered, from the case in hand: asking
        // the store per message would read the whole case once for each.
        let addressed_to: HashMap<MessageId, hotline_core::StateCode> =
            views.iter().map(|v| (v.message.msg_id, v.message.to.state)).collect();
        let replied: HashSet<MessageId> = views
            .iter()
            .filter_map(|v| v.message.in_reply_to.filter(|p| addressed_to.get(p) == Some(&v.message.from.state)))
            .collect();
        for v in &mut views {
            v.answered |= v.message.respond_by.is_some() && replied.contains(&v.message.msg_id);
        }
        views.sort_by_key(|v| (v.message.created_at, v.at));
        Ok(hotline_core::thread::causal_order(views, |v| v.message.msg_id, |v| v.message.in_reply_to))
    }

    /// Every delivery still waiting for a receipt.
    pub(crate) fn outbox(&self) -> Result<Vec<OutboxItem>, NodeError> {
        let now = Instant::now();
        let mut subjects: HashMap<MessageId, (hotline_core::Address, String)> = HashMap::new();
        let mut out = Vec::new();
        let snap = self.store.snapshot()?;
        for entry in self.store.outbox()? {
            let id = entry.msg_id;
            if !subjects.contains_key(&id)
                && let Some(row) = snap.message(&id)?
            {
                let m = decode_message(&id, row.message_bytes())?;
                subjects.insert(id, (m.to, m.subject));
            }
            let Some((to, subject)) = subjects.get(&id).cloned() else { continue };
            let progress = self.board.get(&(id, entry.recipient));
            out.push(OutboxItem {
                msg_id: id,
                to,
                subject,
                node: entry.recipient.to_string(),
                queued_at: entry.row.queued_at,
                attempts: progress.as_ref().map_or(entry.row.attempts, |p| p.attempts),
                last_error: progress.as_ref().map_or(entry.row.last_error.clone(), |p| p.last_error.clone()),
                in_flight: progress.as_ref().is_some_and(|p| p.in_flight),
                next_attempt_ms: progress
                    .as_ref()
                    .map_or(0, |p| p.next_at.saturating_duration_since(now).as_millis() as u64),
            });
        }
        Ok(out)
    }

    /// Up to two message ids starting with `prefix`: one is the answer, two
    /// say that more digits are needed.
    pub(crate) fn messages_with_prefix(&self, prefix: &str) -> Result<Vec<MessageId>, NodeError> {
        Ok(self.store.snapshot()?.messages_with_prefix(prefix, 2)?)
    }

    /// Up to two cases starting with `prefix`.
    pub(crate) fn cases_with_prefix(&self, prefix: &str) -> Result<Vec<CaseId>, NodeError> {
        Ok(self.store.snapshot()?.cases_with_prefix(prefix, 2)?)
    }

    /// The view of a stored message; for a sent one, each recipient's
    /// delivery as the store records it.
    pub(crate) fn view(&self, snap: &Snapshot<'_>, id: MessageId, row: MessageRow) -> Result<MessageView, NodeError> {
        let message = decode_message(&id, row.message_bytes())?;
        let answered = row_acknowledged(&row) || replied_to(snap, &message)?;
        self.view_of(snap, id, row, message, answered)
    }

    /// The view of a stored message already decoded, whose `answered` is known.
    fn view_of(
        &self,
        snap: &Snapshot<'_>,
        id: MessageId,
        row: MessageRow,
        message: Message,
        answered: bool,
    ) -> Result<MessageView, NodeError> {
        Ok(match row {
            MessageRow::Received(r) => MessageView {
                direction: Direction::In,
                status: MessageState::Received,
                old_state: crate::api_types::old_name(MessageState::Received),
                read: r.read,
                at: r.received_at,
                sender_node: Some(self.name(&r.sender)),
                acknowledged_with: r.acknowledged_with,
                answered,
                deliveries: Vec::new(),
                message,
            },
            MessageRow::Sent(s) => {
                let receipts: HashMap<NodeId, Vec<u8>> = snap.receipts(&id)?.into_iter().collect();
                let waiting: HashMap<NodeId, hotline_store::OutboxRow> =
                    snap.outbox_of(&id)?.into_iter().map(|e| (e.recipient, e.row)).collect();
                let cancelled = snap.cancelled_at(&id)?.is_some();
                let withdrawn = snap.withdrawn(&id)?;
                // The nodes it went to: those sealed for when it was sent,
                // and those a withdrawal moved it to since.
                let mut recipients = s.recipients.clone();
                for node in withdrawn.iter().flat_map(|(_, w)| &w.to) {
                    if !recipients.contains(node) {
                        recipients.push(*node);
                    }
                }
                let withdrawn: HashSet<NodeId> = withdrawn.into_iter().map(|(node, _)| node).collect();
                let deliveries: Vec<DeliveryView> = recipients
                    .iter()
                    .map(|node| match waiting.get(node) {
                        Some(row) => match self.board.get(&(id, *node)) {
                            Some(p) => queued_view(self.name(node), p.attempts, p.last_error),
                            None => queued_view(self.name(node), row.attempts, row.last_error.clone()),
                        },
                        _ if receipts.contains_key(node) => delivered_view(self.name(node), receipts.get(node)),
                        // Taken off the node, or withdrawn by the sender, before its receipt came.
                        None if withdrawn.contains(node) => withdrawn_view(self.name(node)),
                        None if cancelled => cancelled_view(self.name(node)),
                        None => delivered_view(self.name(node), None),
                    })
                    .collect();
                // A delivery taken off a revoked node does not hold the
                // message back: its copy went to the state's other nodes.
                let all = deliveries.iter().any(|d| d.status == DeliveryState::Delivered)
                    && deliveries
                        .iter()
                        .all(|d| matches!(d.status, DeliveryState::Delivered | DeliveryState::Withdrawn));
                let state = match (all, cancelled) {
                    (true, _) => MessageState::Delivered,
                    (false, true) => MessageState::Cancelled,
                    (false, false) => MessageState::Queued,
                };
                MessageView {
                    direction: Direction::Out,
                    status: state,
                    old_state: crate::api_types::old_name(state),
                    read: true,
                    at: s.queued_at,
                    sender_node: None,
                    acknowledged_with: s.acknowledged_with,
                    answered,
                    deliveries,
                    message,
                }
            }
        })
    }
}

/// Decodes a stored message; one that does not decode is a damaged store.
pub(crate) fn decode_message(id: &MessageId, bytes: &[u8]) -> Result<Message, NodeError> {
    Message::from_bytes(bytes).map_err(|e| NodeError::StoreFailed(format!("stored message {id} does not decode: {e}")))
}

/// A delivery still waiting for its receipt.
pub(crate) fn queued_view(node: String, attempts: u32, last_error: Option<String>) -> DeliveryView {
    DeliveryView {
        node,
        status: DeliveryState::Queued,
        old_state: crate::api_types::old_name(DeliveryState::Queued),
        attempts,
        last_error,
        received_at: None,
        receipt: None,
        log_position: None,
    }
}

/// A delivery the sender withdrew before its receipt came.
fn cancelled_view(node: String) -> DeliveryView {
    DeliveryView {
        node,
        status: DeliveryState::Cancelled,
        old_state: crate::api_types::old_name(DeliveryState::Cancelled),
        attempts: 0,
        last_error: None,
        received_at: None,
        receipt: None,
        log_position: None,
    }
}

/// A delivery taken off a node its state no longer lists (revoked, or left
/// out of its record) before a receipt came.
fn withdrawn_view(node: String) -> DeliveryView {
    DeliveryView {
        node,
        status: DeliveryState::Withdrawn,
        old_state: crate::api_types::old_name(DeliveryState::Withdrawn),
        attempts: 0,
        last_error: Some("its state no longer lists this node; the message went to the nodes it lists now".into()),
        received_at: None,
        receipt: None,
        log_position: None,
    }
}

fn delivered_view(node: String, receipt: Option<&Vec<u8>>) -> DeliveryView {
    let decoded = receipt.and_then(|r| DeliveryReceipt::from_bytes(r).ok());
    let received_at = decoded.as_ref().map(DeliveryReceipt::received_at);
    let log_position = decoded.as_ref().and_then(DeliveryReceipt::log_position);
    DeliveryView {
        node,
        status: DeliveryState::Delivered,
        old_state: crate::api_types::old_name(DeliveryState::Delivered),
        attempts: 0,
        last_error: None,
        received_at,
        receipt: receipt.map(|r| hotline_core::ids::to_hex(r)),
        log_position,
    }
}

fn summary(view: MessageView) -> MessageSummary {
    let m = view.message;
    MessageSummary {
        msg_id: m.msg_id,
        case_id: m.case_id,
        direction: view.direction,
        status: view.status,
        old_state: crate::api_types::old_name(view.status),
        read: view.read,
        acknowledged: view.acknowledged_with.is_some(),
        at: view.at,
        kind: m.kind,
        from: m.from,
        to: m.to,
        tlp: m.tlp,
        severity: m.severity,
        is_exercise: m.is_exercise,
        subject: m.subject,
        respond_by: m.respond_by,
        answered: view.answered,
    }
}

/// Whether the message was acknowledged (by the other side, or here).
fn row_acknowledged(row: &MessageRow) -> bool {
    match row {
        MessageRow::Received(r) => r.acknowledged_with.is_some(),
        MessageRow::Sent(s) => s.acknowledged_with.is_some(),
    }
}

/// Whether the other side replied to `message`: a stored message in reply
/// to it from the state it was sent to (one lookup in the store's replies
/// index). Only for messages that ask for an answer by a time, the only
/// ones whose answer anyone shows.
fn replied_to(snap: &Snapshot<'_>, message: &Message) -> Result<bool, NodeError> {
    if message.respond_by.is_none() {
        return Ok(false);
    }
    Ok(snap.replied(&message.msg_id, message.to.state)?)
}
