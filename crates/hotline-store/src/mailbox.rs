//! The mailbox indexes: messages listed newest first, a page at a time,
//! without reading any message that is not on the page.
//!
//! Two index tables are kept in step with the `messages` table by
//! [`WriteBatch::put_message`], from the row alone (the time a message was
//! received or queued never changes, so re-writing a row re-writes the same
//! keys):
//!
//! | table     | key                                   | value |
//! |-----------|---------------------------------------|-------|
//! | `mailbox` | direction (0 in, 1 out) ‖ at (u64 BE) ‖ msg_id | empty |
//! | `unread`  | at (u64 BE) ‖ msg_id                  | empty: a received message no person displayed |
//!
//! and the same two again by the point of contact's role (`mailbox_role`,
//! `unread_role`, keys prefixed with the role and a 0 byte), so that a
//! node shared by a state's policy and technical PoCs pages each one's
//! messages as cheaply.

use crate::batch::{Op, WriteBatch};
use crate::error::StoreError;
use crate::messages::MessageRow;
use crate::schema::Table;
use crate::store::{Snapshot, Store};
use hotline_core::{CaseId, Message, MessageId, Role, StateCode, Timestamp};
use redb::ReadableTableMetadata;
use std::fmt;
use std::str::FromStr;

const INBOX: u8 = 0;
const SENT: u8 = 1;

/// Which messages a page lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mailbox {
    /// Messages received.
    Inbox,
    /// Messages written here.
    Sent,
    /// Both.
    All,
}

/// A position in a mailbox: the next page lists what is older. Its text
/// form, `AT-MSGID` (seconds since the epoch, then the id in hex), is what
/// the control API and the CLI pass around.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    /// When the message was received or queued.
    pub at: Timestamp,
    /// Its id, which orders messages of the same second.
    pub id: MessageId,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.at.0, self.id)
    }
}

/// A cursor that is not `AT-MSGID`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a cursor is AT-MSGID (seconds, then 32 hex digits), as a page gives it: {0:?} is not")]
pub struct BadCursor(pub String);

impl FromStr for Cursor {
    type Err = BadCursor;

    fn from_str(s: &str) -> Result<Cursor, BadCursor> {
        let bad = || BadCursor(s.chars().take(80).collect());
        let (at, id) = s.split_once('-').ok_or_else(bad)?;
        let at = at.parse::<u64>().map_err(|_| bad())?;
        let id: [u8; 16] = hex::decode(id).ok().and_then(|b| b.try_into().ok()).ok_or_else(bad)?;
        Ok(Cursor { at: Timestamp(at), id: MessageId(id) })
    }
}

/// One page of a mailbox, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The messages, newest first.
    pub messages: Vec<(MessageId, MessageRow)>,
    /// Where the next (older) page starts, if there is one.
    pub next: Option<Cursor>,
}

impl MessageRow {
    /// When the message was received (in) or queued (out): its place in
    /// the mailbox.
    pub fn at(&self) -> Timestamp {
        match self {
            MessageRow::Received(r) => r.received_at,
            MessageRow::Sent(s) => s.queued_at,
        }
    }
}

fn cursor_bytes(at: Timestamp, id: &MessageId) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&at.0.to_be_bytes());
    key[8..].copy_from_slice(&id.0);
    key
}

fn mailbox_key(direction: u8, at: Timestamp, id: &MessageId) -> Vec<u8> {
    let mut key = Vec::with_capacity(25);
    key.push(direction);
    key.extend_from_slice(&cursor_bytes(at, id));
    key
}

fn parse_cursor(key: &[u8]) -> Option<Cursor> {
    let (at, id) = key.split_first_chunk::<8>()?;
    Some(Cursor { at: Timestamp(u64::from_be_bytes(*at)), id: MessageId(id.try_into().ok()?) })
}

impl WriteBatch {
    /// The index rows that go with writing message `id` as `row`.
    pub(crate) fn index_message(&mut self, id: MessageId, row: &MessageRow) {
        let at = row.at();
        let received = matches!(row, MessageRow::Received(_));
        let direction = if received { INBOX } else { SENT };
        let unread_now = matches!(row, MessageRow::Received(r) if !r.read);
        self.ops.push(Op::Put { table: Table::Mailbox, key: mailbox_key(direction, at, &id), value: Vec::new() });
        let unread = cursor_bytes(at, &id).to_vec();
        if unread_now {
            self.ops.push(Op::Put { table: Table::Unread, key: unread, value: Vec::new() });
        } else {
            self.ops.push(Op::Delete { table: Table::Unread, key: unread });
        }
        // The indexes that need the message itself. A row whose message
        // does not decode has nothing more to index.
        let Ok(message) = Message::from_bytes(row.message_bytes()) else { return };
        // By role: the role written to (received) or from (sent).
        let role = if received { &message.to.role } else { &message.from.role };
        let mut key = role_prefix(role);
        key.extend_from_slice(&mailbox_key(direction, at, &id));
        self.ops.push(Op::Put { table: Table::MailboxRole, key, value: Vec::new() });
        let mut key = role_prefix(role);
        key.extend_from_slice(&cursor_bytes(at, &id));
        if unread_now {
            self.ops.push(Op::Put { table: Table::UnreadRole, key, value: Vec::new() });
        } else {
            self.ops.push(Op::Delete { table: Table::UnreadRole, key });
        }
        // Which state answered which message: whether a message was
        // answered is then one lookup, however long its case.
        if let Some(parent) = message.in_reply_to {
            self.ops.push(Op::Put {
                table: Table::Replies,
                key: reply_key(&parent, message.from.state, &id),
                value: Vec::new(),
            });
        }
    }
}

/// A role's key prefix in the by-role indexes: its name and a 0 byte (no
/// role name holds one), so that no role's keys run into another's.
fn role_prefix(role: &Role) -> Vec<u8> {
    let mut prefix = role.as_str().as_bytes().to_vec();
    prefix.push(0);
    prefix
}

fn reply_key(parent: &MessageId, by: StateCode, id: &MessageId) -> Vec<u8> {
    let mut key = Vec::with_capacity(35);
    key.extend_from_slice(&parent.0);
    key.extend_from_slice(by.as_str().as_bytes());
    key.extend_from_slice(&id.0);
    key
}

impl Snapshot<'_> {
    /// Whether a stored message of state `by` answers message `parent`.
    pub fn replied(&self, parent: &MessageId, by: StateCode) -> Result<bool, StoreError> {
        const ACTION: &str = "reading the replies index";
        let Some(table) = self.table(Table::Replies, ACTION)? else { return Ok(false) };
        let mut prefix = parent.0.to_vec();
        prefix.extend_from_slice(by.as_str().as_bytes());
        let mut rows = table.range::<&[u8]>(prefix.as_slice()..).map_err(|e| self.store.db_error(ACTION, e))?;
        Ok(match rows.next() {
            Some(row) => row.map_err(|e| self.store.db_error(ACTION, e))?.0.value().starts_with(&prefix),
            None => false,
        })
    }

    /// At most `limit` messages of `mailbox` older than `before` (all if
    /// `None`), newest first; with `unread`, only received messages no
    /// person displayed. Reads the index and the rows on the page only.
    pub fn mailbox_page(
        &self,
        mailbox: Mailbox,
        unread: bool,
        before: Option<Cursor>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let (messages, next) = self.mailbox_page_with(mailbox, unread, None, before, limit, |id, row| Ok((id, row)))?;
        Ok(Page { messages, next })
    }

    /// Like [`Snapshot::mailbox_page`], handing each row to `each` as it is
    /// read and keeping only what `each` returns: a page of large messages
    /// never holds more than one of them at a time.
    pub fn mailbox_page_with<T, E: From<StoreError>>(
        &self,
        mailbox: Mailbox,
        unread: bool,
        role: Option<&Role>,
        before: Option<Cursor>,
        limit: usize,
        mut each: impl FnMut(MessageId, MessageRow) -> Result<T, E>,
    ) -> Result<(Vec<T>, Option<Cursor>), E> {
        const ACTION: &str = "listing a mailbox";
        let upper = before.map(|c| cursor_bytes(c.at, &c.id));
        // Up to limit + 1 positions per source, newest first; the extra one
        // says whether another page follows.
        let mut positions: Vec<Cursor> = Vec::new();
        let mut scan = |table: Table, prefix: &[u8]| -> Result<(), StoreError> {
            let Some(t) = self.table(table, ACTION)? else { return Ok(()) };
            let lower = prefix.to_vec();
            let mut high = prefix.to_vec();
            match &upper {
                Some(u) => high.extend_from_slice(u),
                None => high.extend_from_slice(&[0xff; 25]),
            }
            let range =
                t.range::<&[u8]>(lower.as_slice()..high.as_slice()).map_err(|e| self.store.db_error(ACTION, e))?;
            for row in range.rev().take(limit.saturating_add(1)) {
                let (k, _) = row.map_err(|e| self.store.db_error(ACTION, e))?;
                let key = k.value();
                let cursor = key
                    .strip_prefix(prefix)
                    .and_then(parse_cursor)
                    .ok_or_else(|| self.store.corrupt(format!("a key of the {} table is malformed", table.name())))?;
                positions.push(cursor);
            }
            Ok(())
        };
        // Keys of the by-role tables are those of the others behind the
        // role's prefix.
        let (mailbox_table, unread_table, base) = match role {
            Some(role) => (Table::MailboxRole, Table::UnreadRole, role_prefix(role)),
            None => (Table::Mailbox, Table::Unread, Vec::new()),
        };
        let with = |direction: u8| [base.as_slice(), &[direction]].concat();
        match (unread, mailbox) {
            (true, _) => scan(unread_table, &base)?,
            (false, Mailbox::Inbox) => scan(mailbox_table, &with(INBOX))?,
            (false, Mailbox::Sent) => scan(mailbox_table, &with(SENT))?,
            (false, Mailbox::All) => {
                scan(mailbox_table, &with(INBOX))?;
                scan(mailbox_table, &with(SENT))?;
            }
        }
        positions.sort_unstable_by_key(|c| std::cmp::Reverse(*c));
        let more = positions.len() > limit;
        positions.truncate(limit);
        let messages = self.table(Table::Messages, ACTION)?;
        let mut out = Vec::with_capacity(positions.len());
        for cursor in &positions {
            let row = match &messages {
                Some(t) => t.get(cursor.id.0.as_slice()).map_err(|e| self.store.db_error(ACTION, e))?,
                None => None,
            };
            let Some(row_bytes) = row else {
                return Err(self
                    .store
                    .corrupt(format!("the mailbox lists message {}, which is not stored", cursor.id))
                    .into());
            };
            let row = MessageRow::decode(row_bytes.value())
                .map_err(|e| self.store.corrupt(format!("message {}: {e}", cursor.id)))?;
            drop(row_bytes);
            out.push(each(cursor.id, row)?);
        }
        let next = if more { positions.last().copied() } else { None };
        Ok((out, next))
    }

    /// Up to `max` stored message ids whose hex form starts with `prefix`
    /// (hex digits, at most 32), in id order.
    pub fn messages_with_prefix(&self, prefix: &str, max: usize) -> Result<Vec<MessageId>, StoreError> {
        const ACTION: &str = "finding a message by prefix";
        let Some((low, high)) = prefix_bounds(prefix) else { return Ok(Vec::new()) };
        let Some(t) = self.table(Table::Messages, ACTION)? else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for row in
            t.range::<&[u8]>(low.as_slice()..=high.as_slice()).map_err(|e| self.store.db_error(ACTION, e))?.take(max)
        {
            let (k, _) = row.map_err(|e| self.store.db_error(ACTION, e))?;
            let id: [u8; 16] =
                k.value().try_into().map_err(|_| self.store.corrupt("a key of the messages table is not 16 bytes"))?;
            out.push(MessageId(id));
        }
        Ok(out)
    }

    /// Up to `max` cases held whose id's hex form starts with `prefix`, in
    /// id order; each case is found in one lookup however long its thread.
    pub fn cases_with_prefix(&self, prefix: &str, max: usize) -> Result<Vec<CaseId>, StoreError> {
        const ACTION: &str = "finding a case by prefix";
        let Some((low, high)) = prefix_bounds(prefix) else { return Ok(Vec::new()) };
        let Some(t) = self.table(Table::Cases, ACTION)? else { return Ok(Vec::new()) };
        let mut out: Vec<CaseId> = Vec::new();
        let mut from = low.to_vec();
        let mut high = high.to_vec();
        high.extend_from_slice(&[0xff; 16]);
        while out.len() < max {
            let mut range =
                t.range::<&[u8]>(from.as_slice()..=high.as_slice()).map_err(|e| self.store.db_error(ACTION, e))?;
            let Some(row) = range.next() else { break };
            let (k, _) = row.map_err(|e| self.store.db_error(ACTION, e))?;
            let case: [u8; 16] = k
                .value()
                .get(..16)
                .and_then(|c| c.try_into().ok())
                .ok_or_else(|| self.store.corrupt("a key of the cases table is malformed"))?;
            out.push(CaseId(case));
            // The next case: past every key of this one.
            from = case.to_vec();
            from.extend_from_slice(&[0xff; 16]);
            from.push(0);
        }
        Ok(out)
    }
}

impl Store {
    /// How many messages are stored, sent and received.
    pub fn message_count(&self) -> Result<u64, StoreError> {
        const ACTION: &str = "counting messages";
        let txn = self.begin_read(ACTION)?;
        match self.open_read(&txn, Table::Messages.definition(), ACTION)? {
            Some(t) => t.len().map_err(|e| self.db_error(ACTION, e)),
            None => Ok(0),
        }
    }
}

/// The lowest and highest 16-byte ids whose hex form starts with `prefix`,
/// or `None` if `prefix` is not 1 to 32 hex digits.
fn prefix_bounds(prefix: &str) -> Option<([u8; 16], [u8; 16])> {
    if prefix.is_empty() || prefix.len() > 32 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let pad = |fill: char| {
        let mut s = prefix.to_ascii_lowercase();
        while s.len() < 32 {
            s.push(fill);
        }
        hex::decode(s).ok().and_then(|b| <[u8; 16]>::try_from(b).ok())
    };
    Some((pad('0')?, pad('f')?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{ReceivedRow, SentRow};
    use hotline_core::NodeId;

    fn store() -> (tempfile::TempDir, Store) {
        let w = hotline_core::testkit::World::default();
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::create(dir.path(), &w.charter, "FRA".parse().expect("state")).expect("create");
        (dir, store)
    }

    fn received(at: u64, read: bool) -> MessageRow {
        MessageRow::Received(ReceivedRow {
            message: vec![at as u8],
            sender: NodeId([1; 32]),
            envelope_hash: [2; 32],
            received_at: Timestamp(at),
            receipt: vec![3],
            read,
            acknowledged_with: None,
        })
    }

    fn sent(at: u64) -> MessageRow {
        MessageRow::Sent(SentRow {
            message: vec![at as u8],
            queued_at: Timestamp(at),
            recipients: vec![NodeId([4; 32])],
            acknowledged_with: None,
        })
    }

    fn ids(page: &Page) -> Vec<u8> {
        page.messages.iter().map(|(id, _)| id.0[0]).collect()
    }

    /// Messages 1..=9: odd ones received (7 and 9 read), even ones sent,
    /// each at time 100 + id, and 10 at the same second as 9.
    fn filled() -> (tempfile::TempDir, Store) {
        let (dir, store) = store();
        let mut batch = WriteBatch::new();
        for n in 1u8..=10 {
            let at = 100 + u64::from(n.min(9));
            let row = if n % 2 == 1 { received(at, n >= 7) } else { sent(at) };
            batch.put_message(MessageId([n; 16]), &row);
        }
        store.write(batch).expect("write");
        (dir, store)
    }

    #[test]
    fn pages_run_newest_first_and_meet_without_gaps() {
        let (_dir, store) = filled();
        let first = store.snapshot().expect("snapshot").mailbox_page(Mailbox::All, false, None, 4).expect("page");
        assert_eq!(ids(&first), vec![10, 9, 8, 7]);
        let second =
            store.snapshot().expect("snapshot").mailbox_page(Mailbox::All, false, first.next, 4).expect("page");
        assert_eq!(ids(&second), vec![6, 5, 4, 3]);
        let third =
            store.snapshot().expect("snapshot").mailbox_page(Mailbox::All, false, second.next, 4).expect("page");
        assert_eq!(ids(&third), vec![2, 1]);
        assert_eq!(third.next, None);
        assert_eq!(store.message_count().expect("count"), 10);
    }

    #[test]
    fn the_boxes_and_the_unread_list_are_apart() {
        let (_dir, store) = filled();
        assert_eq!(
            ids(&store.snapshot().expect("snapshot").mailbox_page(Mailbox::Inbox, false, None, 50).expect("page")),
            vec![9, 7, 5, 3, 1]
        );
        assert_eq!(
            ids(&store.snapshot().expect("snapshot").mailbox_page(Mailbox::Sent, false, None, 50).expect("page")),
            vec![10, 8, 6, 4, 2]
        );
        assert_eq!(
            ids(&store.snapshot().expect("snapshot").mailbox_page(Mailbox::Inbox, true, None, 50).expect("page")),
            vec![5, 3, 1]
        );
        // Reading 3 takes it off the unread list, and only off it.
        let mut batch = WriteBatch::new();
        batch.put_message(MessageId([3; 16]), &received(103, true));
        store.write(batch).expect("write");
        assert_eq!(
            ids(&store.snapshot().expect("snapshot").mailbox_page(Mailbox::Inbox, true, None, 50).expect("page")),
            vec![5, 1]
        );
        assert_eq!(
            ids(&store.snapshot().expect("snapshot").mailbox_page(Mailbox::Inbox, false, None, 50).expect("page")),
            vec![9, 7, 5, 3, 1]
        );
    }

    /// A version 2 store has messages but no indexes: opening it builds them.
    #[test]
    fn a_version_2_store_gets_its_indexes_on_open() {
        let (dir, store) = filled();
        drop(store);
        {
            let db = redb::Database::open(dir.path().join(crate::DB_FILE)).expect("open");
            let txn = db.begin_write().expect("write");
            txn.delete_table(Table::Mailbox.definition()).expect("drop mailbox");
            txn.delete_table(Table::Unread.definition()).expect("drop unread");
            txn.open_table(crate::schema::META)
                .expect("meta")
                .insert(crate::schema::meta::SCHEMA, 2u32.to_be_bytes().as_slice())
                .expect("schema");
            txn.commit().expect("commit");
        }
        let store = Store::open(dir.path()).expect("reopen");
        assert_eq!(
            ids(&store.snapshot().expect("snapshot").mailbox_page(Mailbox::All, false, None, 3).expect("page")),
            vec![10, 9, 8]
        );
        assert_eq!(
            ids(&store.snapshot().expect("snapshot").mailbox_page(Mailbox::Inbox, true, None, 50).expect("page")),
            vec![5, 3, 1]
        );
    }

    /// A message from `from` to `to`, answering `parent`, as stored bytes.
    fn message(n: u8, from: &str, to: &str, parent: Option<u8>) -> Vec<u8> {
        let address =
            |s: &str| hotline_core::Address { state: s.parse().expect("state"), role: hotline_core::Role::technical() };
        hotline_core::Message {
            msg_id: MessageId([n; 16]),
            case_id: CaseId([0xca; 16]),
            in_reply_to: parent.map(|p| MessageId([p; 16])),
            kind: hotline_core::MessageType::Notification,
            from: address(from),
            to: address(to),
            created_at: Timestamp(100),
            lang: None,
            tlp: hotline_core::Tlp::Amber,
            severity: None,
            is_exercise: false,
            respond_by: None,
            subject: format!("message {n}"),
            body: String::new(),
            fields: hotline_core::Fields::None,
            attachments: Vec::new(),
        }
        .to_bytes()
    }

    /// FRA's question 1 to DEU, answered by DEU (2), and FRA's own
    /// follow-up to it (3), which is no answer from DEU.
    fn conversation() -> (tempfile::TempDir, Store) {
        let (dir, store) = store();
        let mut batch = WriteBatch::new();
        for (n, from, to, parent) in [(1, "FRA", "DEU", None), (2, "DEU", "FRA", Some(1)), (3, "FRA", "DEU", Some(2))] {
            let mut row = sent(100 + u64::from(n));
            if let MessageRow::Sent(s) = &mut row {
                s.message = message(n, from, to, parent);
            }
            batch.put_message(MessageId([n; 16]), &row);
        }
        store.write(batch).expect("write");
        (dir, store)
    }

    fn replied(store: &Store, parent: u8, by: &str) -> bool {
        store.snapshot().expect("snapshot").replied(&MessageId([parent; 16]), by.parse().expect("state")).expect("read")
    }

    #[test]
    fn whether_a_state_answered_a_message_is_one_lookup() {
        let (_dir, store) = conversation();
        assert!(replied(&store, 1, "DEU"));
        assert!(!replied(&store, 1, "FRA"), "FRA answering its own message is no answer from DEU");
        assert!(replied(&store, 2, "FRA"));
        assert!(!replied(&store, 3, "DEU"), "nothing answers 3");
    }

    /// A version 3 store has no replies index: opening it builds it.
    #[test]
    fn a_version_3_store_gets_its_replies_index_on_open() {
        let (dir, store) = conversation();
        drop(store);
        {
            let db = redb::Database::open(dir.path().join(crate::DB_FILE)).expect("open");
            let txn = db.begin_write().expect("write");
            txn.delete_table(Table::Replies.definition()).expect("drop replies");
            txn.open_table(crate::schema::META)
                .expect("meta")
                .insert(crate::schema::meta::SCHEMA, 3u32.to_be_bytes().as_slice())
                .expect("schema");
            txn.commit().expect("commit");
        }
        let store = Store::open(dir.path()).expect("reopen");
        assert!(replied(&store, 1, "DEU") && replied(&store, 2, "FRA") && !replied(&store, 3, "DEU"));
    }

    /// Received messages 1 (policy, unread), 2 (technical, unread) and 3
    /// (policy, read), and sent message 4 from policy.
    fn by_roles() -> (tempfile::TempDir, Store) {
        let (dir, store) = store();
        let mut batch = WriteBatch::new();
        let with = |role: &str, mut row: MessageRow, n: u8| {
            let mut bytes = message(n, "FRA", "DEU", None);
            let mut m = hotline_core::Message::from_bytes(&bytes).expect("decode");
            let role: hotline_core::Role = role.parse().expect("role");
            match &mut row {
                MessageRow::Received(_) => m.to.role = role,
                MessageRow::Sent(_) => m.from.role = role,
            }
            bytes = m.to_bytes();
            match &mut row {
                MessageRow::Received(r) => r.message = bytes,
                MessageRow::Sent(s) => s.message = bytes,
            }
            row
        };
        batch.put_message(MessageId([1; 16]), &with("policy", received(101, false), 1));
        batch.put_message(MessageId([2; 16]), &with("technical", received(102, false), 2));
        batch.put_message(MessageId([3; 16]), &with("policy", received(103, true), 3));
        batch.put_message(MessageId([4; 16]), &with("policy", sent(104), 4));
        store.write(batch).expect("write");
        (dir, store)
    }

    fn role_page(store: &Store, mailbox: Mailbox, unread: bool, role: &str) -> Vec<u8> {
        let role: hotline_core::Role = role.parse().expect("role");
        let snap = store.snapshot().expect("snapshot");
        let (ids, _) = snap
            .mailbox_page_with(mailbox, unread, Some(&role), None, 50, |id, _| Ok::<_, StoreError>(id.0[0]))
            .expect("page");
        ids
    }

    #[test]
    fn each_role_pages_its_own_messages() {
        let (_dir, store) = by_roles();
        assert_eq!(role_page(&store, Mailbox::Inbox, false, "policy"), vec![3, 1]);
        assert_eq!(role_page(&store, Mailbox::Inbox, false, "technical"), vec![2]);
        assert_eq!(role_page(&store, Mailbox::Inbox, true, "policy"), vec![1], "3 was read");
        assert_eq!(role_page(&store, Mailbox::All, false, "policy"), vec![4, 3, 1]);
        assert_eq!(role_page(&store, Mailbox::Sent, false, "technical"), Vec::<u8>::new());
        // Reading 1 takes it off the policy's unread list.
        let mut batch = WriteBatch::new();
        let Some(MessageRow::Received(mut r)) = store.message(&MessageId([1; 16])).expect("read") else { panic!() };
        r.read = true;
        batch.put_message(MessageId([1; 16]), &MessageRow::Received(r));
        store.write(batch).expect("write");
        assert_eq!(role_page(&store, Mailbox::Inbox, true, "policy"), Vec::<u8>::new());
    }

    /// A version 4 store has no by-role indexes: opening it builds them.
    #[test]
    fn a_version_4_store_gets_its_role_indexes_on_open() {
        let (dir, store) = by_roles();
        drop(store);
        {
            let db = redb::Database::open(dir.path().join(crate::DB_FILE)).expect("open");
            let txn = db.begin_write().expect("write");
            txn.delete_table(Table::MailboxRole.definition()).expect("drop");
            txn.delete_table(Table::UnreadRole.definition()).expect("drop");
            txn.open_table(crate::schema::META)
                .expect("meta")
                .insert(crate::schema::meta::SCHEMA, 4u32.to_be_bytes().as_slice())
                .expect("schema");
            txn.commit().expect("commit");
        }
        let store = Store::open(dir.path()).expect("reopen");
        assert_eq!(role_page(&store, Mailbox::All, false, "policy"), vec![4, 3, 1]);
        assert_eq!(role_page(&store, Mailbox::Inbox, true, "technical"), vec![2]);
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = Cursor { at: Timestamp(1_700_000_000), id: MessageId([0xab; 16]) };
        assert_eq!(c.to_string().parse::<Cursor>(), Ok(c));
        for bad in ["", "12", "x-abab", "12-abab", "-ababababababababababababababab"] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes_find_messages_and_cases() {
        let (_dir, store) = filled();
        let mut batch = WriteBatch::new();
        for (case, msg) in [(0x11u8, 1u8), (0x11, 2), (0x11, 3), (0x12, 4), (0x21, 5)] {
            batch.index_case(CaseId([case; 16]), MessageId([msg; 16]));
        }
        store.write(batch).expect("write");
        assert_eq!(
            store.snapshot().expect("snapshot").messages_with_prefix("0a", 2).expect("ids"),
            vec![MessageId([10; 16])]
        );
        assert_eq!(store.snapshot().expect("snapshot").messages_with_prefix("0", 2).expect("ids").len(), 2);
        assert!(store.snapshot().expect("snapshot").messages_with_prefix("zz", 2).expect("ids").is_empty());
        assert_eq!(
            store.snapshot().expect("snapshot").cases_with_prefix("1", 5).expect("cases"),
            vec![CaseId([0x11; 16]), CaseId([0x12; 16])]
        );
        assert_eq!(
            store.snapshot().expect("snapshot").cases_with_prefix("2", 5).expect("cases"),
            vec![CaseId([0x21; 16])]
        );
        assert!(store.snapshot().expect("snapshot").cases_with_prefix("3", 5).expect("cases").is_empty());
    }
}
