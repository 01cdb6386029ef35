//! The messaging tables: messages sent and received, the thread index, the
//! outbox of envelopes waiting for a receipt, the receipts, and the node's
//! secrets (its prekey ring).
//!
//! The store keeps bytes: messages in their canonical wire form
//! (`hotline_core::Message::to_bytes`), envelopes and receipts as sealed or
//! signed by `hotline-crypto`. It never seals, opens or verifies; the node
//! does, before it writes.

use crate::batch::{Op, WriteBatch};
use crate::error::StoreError;
use crate::schema::Table;
use crate::store::{Snapshot, Store};
use hotline_core::encoding::{self, DecodeError};
use hotline_core::{CaseId, MessageId, NodeId, Timestamp};
use redb::ReadableTable;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

const MESSAGE_ROW_FORMAT: u8 = 1;
const OUTBOX_ROW_FORMAT: u8 = 1;
/// The format of the rows whose content the node defines (comchecks and
/// their schedules): a format byte, then the canonical encoding.
const NODE_ROW_FORMAT: u8 = 1;
/// A comcheck row holds one check of at most a few hundred targets.
const MAX_NODE_ROW_BYTES: usize = 4 * 1024 * 1024;

fn encode_row<T: Serialize>(row: &T) -> Vec<u8> {
    encoding::encode_versioned(NODE_ROW_FORMAT, row)
}
/// A message row holds one message (under 1 MiB) or one envelope, plus
/// small fixed fields.
const MAX_ROW_BYTES: usize = 2 * 1024 * 1024;
/// The name of the prekey ring in the `secrets` table.
pub const PREKEY_RING: &str = "prekey_ring";

/// A message this node received, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedRow {
    /// The message, in wire form.
    #[serde(with = "serde_bytes")]
    pub message: Vec<u8>,
    /// The node that sealed it (its signature was verified).
    pub sender: NodeId,
    /// The hash of the envelope that carried it.
    pub envelope_hash: [u8; 32],
    /// When this node stored it.
    pub received_at: Timestamp,
    /// The delivery receipt this node signed, given again to a duplicate.
    #[serde(with = "serde_bytes")]
    pub receipt: Vec<u8>,
    /// Whether a person has displayed it.
    pub read: bool,
    /// The `human_ack` message this node sent for it, if any.
    pub acknowledged_with: Option<MessageId>,
}

/// A message this node wrote and sent, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentRow {
    /// The message, in wire form.
    #[serde(with = "serde_bytes")]
    pub message: Vec<u8>,
    /// When it was queued.
    pub queued_at: Timestamp,
    /// The nodes it was sealed to, one envelope each.
    pub recipients: Vec<NodeId>,
    /// The `human_ack` received for it, if any.
    pub acknowledged_with: Option<MessageId>,
}

/// One row of the `messages` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageRow {
    /// Received from another node.
    Received(ReceivedRow),
    /// Written here.
    Sent(SentRow),
}

impl MessageRow {
    fn encode(&self) -> Vec<u8> {
        encoding::encode_versioned(MESSAGE_ROW_FORMAT, self)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<MessageRow, DecodeError> {
        encoding::decode_versioned("message row", MESSAGE_ROW_FORMAT, bytes, MAX_ROW_BYTES)
    }

    /// The message's wire form.
    pub fn message_bytes(&self) -> &[u8] {
        match self {
            MessageRow::Received(r) => &r.message,
            MessageRow::Sent(s) => &s.message,
        }
    }
}

/// An envelope waiting in the outbox for its receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRow {
    /// The sealed envelope, in wire form.
    #[serde(with = "serde_bytes")]
    pub envelope: Vec<u8>,
    /// When it was queued.
    pub queued_at: Timestamp,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

impl OutboxRow {
    fn encode(&self) -> Vec<u8> {
        encoding::encode_versioned(OUTBOX_ROW_FORMAT, self)
    }

    fn decode(bytes: &[u8]) -> Result<OutboxRow, DecodeError> {
        encoding::decode_versioned("outbox row", OUTBOX_ROW_FORMAT, bytes, MAX_ROW_BYTES)
    }
}

/// One outbox row with its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The message.
    pub msg_id: MessageId,
    /// The recipient node.
    pub recipient: NodeId,
    /// The row.
    pub row: OutboxRow,
}

/// A queued delivery taken off a node its state no longer lists: when, and
/// the nodes the message went to instead. Stored as `at (u64 BE) ‖ node
/// ids (32 bytes each)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Withdrawal {
    /// When.
    pub at: Timestamp,
    /// The nodes the message was sealed for instead.
    pub to: Vec<NodeId>,
}

impl Withdrawal {
    /// The most nodes one withdrawal names: a record lists at most this many.
    pub const MAX_NODES: usize = hotline_core::limits::MAX_NODES_PER_RECORD;

    fn encode(&self) -> Vec<u8> {
        let mut out = self.at.0.to_be_bytes().to_vec();
        for node in self.to.iter().take(Self::MAX_NODES) {
            out.extend_from_slice(&node.0);
        }
        out
    }

    fn decode(bytes: &[u8]) -> Result<Withdrawal, String> {
        let (at, nodes) = bytes.split_first_chunk::<8>().ok_or("shorter than a time")?;
        if nodes.len() % 32 != 0 || nodes.len() / 32 > Self::MAX_NODES {
            return Err(format!("{} bytes of node ids", nodes.len()));
        }
        let to = nodes.chunks_exact(32).filter_map(|c| c.try_into().ok().map(NodeId)).collect();
        Ok(Withdrawal { at: Timestamp(u64::from_be_bytes(*at)), to })
    }
}

fn pair_key(first: &[u8; 16], node: &NodeId) -> Vec<u8> {
    let mut key = Vec::with_capacity(48);
    key.extend_from_slice(first);
    key.extend_from_slice(&node.0);
    key
}

fn split_pair_key(key: &[u8]) -> Option<([u8; 16], NodeId)> {
    let (first, node) = key.split_first_chunk::<16>()?;
    let node: [u8; 32] = node.try_into().ok()?;
    Some((*first, NodeId(node)))
}

impl Snapshot<'_> {
    /// The message with id `id`, if stored.
    pub fn message(&self, id: &MessageId) -> Result<Option<MessageRow>, StoreError> {
        const ACTION: &str = "reading a message";
        let Some(table) = self.table(Table::Messages, ACTION)? else { return Ok(None) };
        match table.get(id.0.as_slice()).map_err(|e| self.store.db_error(ACTION, e))? {
            None => Ok(None),
            Some(v) => {
                MessageRow::decode(v.value()).map(Some).map_err(|e| self.store.corrupt(format!("message {id}: {e}")))
            }
        }
    }

    /// When the sender cancelled message `id`'s queued deliveries, if it did.
    pub fn cancelled_at(&self, id: &MessageId) -> Result<Option<Timestamp>, StoreError> {
        const ACTION: &str = "reading a cancellation";
        let Some(table) = self.table(Table::Cancelled, ACTION)? else { return Ok(None) };
        let Some(v) = table.get(id.0.as_slice()).map_err(|e| self.store.db_error(ACTION, e))? else { return Ok(None) };
        let bytes: [u8; 8] =
            v.value().try_into().map_err(|_| self.store.corrupt(format!("the cancellation of {id} is malformed")))?;
        Ok(Some(Timestamp(u64::from_be_bytes(bytes))))
    }

    /// The ids of the messages of case `case`, in id order.
    pub fn case(&self, case: &CaseId) -> Result<Vec<MessageId>, StoreError> {
        const ACTION: &str = "reading a thread";
        let Some(table) = self.table(Table::Cases, ACTION)? else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for row in table.range::<&[u8]>(case.0.as_slice()..).map_err(|e| self.store.db_error(ACTION, e))? {
            let (k, _) = row.map_err(|e| self.store.db_error(ACTION, e))?;
            let Some(rest) = k.value().strip_prefix(case.0.as_slice()) else { break };
            let id: [u8; 16] =
                rest.try_into().map_err(|_| self.store.corrupt("a key of the cases table is malformed"))?;
            out.push(MessageId(id));
        }
        Ok(out)
    }

    /// The rows of `table` keyed `msg ‖ recipient node`, for `msg`, each
    /// decoded with `decode`: a message's outbox rows, receipts and
    /// withdrawn deliveries all sit so.
    fn by_recipient<T>(
        &self,
        which: Table,
        msg: &MessageId,
        action: &'static str,
        decode: impl Fn(&[u8]) -> Result<T, String>,
    ) -> Result<Vec<(NodeId, T)>, StoreError> {
        let Some(table) = self.table(which, action)? else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for row in table.range::<&[u8]>(msg.0.as_slice()..).map_err(|e| self.store.db_error(action, e))? {
            let (k, v) = row.map_err(|e| self.store.db_error(action, e))?;
            let Some((id, node)) = split_pair_key(k.value()) else {
                return Err(self.store.corrupt(format!("a key of the {} table is malformed", which.name())));
            };
            if id != msg.0 {
                break;
            }
            let value =
                decode(v.value()).map_err(|e| self.store.corrupt(format!("{} row of {msg}: {e}", which.name())))?;
            out.push((node, value));
        }
        Ok(out)
    }

    /// The envelopes of `msg` still waiting for a receipt, by recipient.
    pub fn outbox_of(&self, msg: &MessageId) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = self.by_recipient(Table::Outbox, msg, "reading the outbox", |v| {
            OutboxRow::decode(v).map_err(|e| e.to_string())
        })?;
        Ok(rows.into_iter().map(|(recipient, row)| OutboxEntry { msg_id: *msg, recipient, row }).collect())
    }

    /// The recipient nodes of sent message `msg` whose queued delivery was
    /// withdrawn (their state no longer lists them), with when and where
    /// the message went instead.
    pub fn withdrawn(&self, msg: &MessageId) -> Result<Vec<(NodeId, Withdrawal)>, StoreError> {
        self.by_recipient(Table::Withdrawn, msg, "reading withdrawn deliveries", Withdrawal::decode)
    }

    /// The receipts held for `msg`, by recipient node.
    pub fn receipts(&self, msg: &MessageId) -> Result<Vec<(NodeId, Vec<u8>)>, StoreError> {
        self.by_recipient(Table::Receipts, msg, "reading receipts", |v| Ok(v.to_vec()))
    }
}

impl WriteBatch {
    /// Writes (or replaces) a message row, and its place in the mailbox
    /// indexes (see `crate::mailbox`).
    pub fn put_message(&mut self, id: MessageId, row: &MessageRow) {
        self.ops.push(Op::Put { table: Table::Messages, key: id.0.to_vec(), value: row.encode() });
        self.index_message(id, row);
    }

    /// Adds `msg` to the thread index of `case`.
    pub fn index_case(&mut self, case: CaseId, msg: MessageId) {
        let mut key = case.0.to_vec();
        key.extend_from_slice(&msg.0);
        self.ops.push(Op::Put { table: Table::Cases, key, value: Vec::new() });
    }

    /// Writes (or replaces) the outbox row of `msg` for `recipient`.
    pub fn put_outbox(&mut self, msg: MessageId, recipient: &NodeId, row: &OutboxRow) {
        self.ops.push(Op::Put { table: Table::Outbox, key: pair_key(&msg.0, recipient), value: row.encode() });
    }

    /// Removes the outbox row of `msg` for `recipient`.
    pub fn delete_outbox(&mut self, msg: MessageId, recipient: &NodeId) {
        self.ops.push(Op::Delete { table: Table::Outbox, key: pair_key(&msg.0, recipient) });
    }

    /// Marks sent message `msg` cancelled at `at`: its deliveries still
    /// queued were withdrawn (delete their outbox rows in the same batch).
    pub fn cancel_message(&mut self, msg: MessageId, at: Timestamp) {
        self.ops.push(Op::Put { table: Table::Cancelled, key: msg.0.to_vec(), value: at.0.to_be_bytes().to_vec() });
    }

    /// Takes the queued delivery of `msg` off `recipient`, which its state
    /// no longer lists, at `withdrawal.at`, for the nodes `withdrawal.to`
    /// (delete its outbox row and add theirs in the same batch).
    pub fn withdraw_delivery(&mut self, msg: MessageId, recipient: &NodeId, withdrawal: &Withdrawal) {
        self.ops.push(Op::Put {
            table: Table::Withdrawn,
            key: pair_key(&msg.0, recipient),
            value: withdrawal.encode(),
        });
    }

    /// Records the receipt `recipient` signed for `msg`.
    pub fn put_receipt(&mut self, msg: MessageId, recipient: &NodeId, receipt: Vec<u8>) {
        self.ops.push(Op::Put { table: Table::Receipts, key: pair_key(&msg.0, recipient), value: receipt });
    }

    /// Writes (or replaces) the state of a communication check this node
    /// runs. The node defines the state; the store owns the row's format
    /// (a format byte, then the canonical encoding, at most 4 MiB).
    pub fn put_comcheck<T: Serialize>(&mut self, id: CaseId, check: &T) {
        self.ops.push(Op::Put { table: Table::Comchecks, key: id.0.to_vec(), value: encode_row(check) });
    }

    /// Writes (or replaces) a periodic communication check, in the same
    /// row format as [`WriteBatch::put_comcheck`].
    pub fn put_schedule<T: Serialize>(&mut self, id: CaseId, schedule: &T) {
        self.ops.push(Op::Put { table: Table::Schedules, key: id.0.to_vec(), value: encode_row(schedule) });
    }

    /// Records a health probe at `at`: a write of one small row, durable
    /// like any other, that tells whether the store can still be written.
    pub fn probe_health(&mut self, at: Timestamp) {
        self.ops.push(Op::Put { table: Table::Health, key: b"probe".to_vec(), value: at.0.to_be_bytes().to_vec() });
    }

    /// Removes a periodic communication check.
    pub fn delete_schedule(&mut self, id: CaseId) {
        self.ops.push(Op::Delete { table: Table::Schedules, key: id.0.to_vec() });
    }

    /// Writes a secret (for example [`PREKEY_RING`]). The bytes end up in
    /// the owner-only database file; the batch's own copy is zeroized when
    /// the batch is dropped, and the caller's buffer should zeroize too.
    pub fn put_secret(&mut self, name: &str, secret: &[u8]) {
        let value = crate::batch::SecretBytes(zeroize::Zeroizing::new(secret.to_vec()));
        self.ops.push(Op::PutSecret { key: name.as_bytes().to_vec(), value });
    }

    /// Deletes a secret (absent is fine).
    pub fn delete_secret(&mut self, name: &str) {
        self.ops.push(Op::Delete { table: Table::Secrets, key: name.as_bytes().to_vec() });
    }

    /// Deletes the row `key` of messaging table `table` (absent is fine).
    pub(crate) fn delete_raw(&mut self, table: Table, key: Vec<u8>) {
        self.ops.push(Op::Delete { table, key });
    }
}

impl Store {
    /// The message with id `id`, if stored (one read of its own; see
    /// [`Store::snapshot`] for several reads at once).
    pub fn message(&self, id: &MessageId) -> Result<Option<MessageRow>, StoreError> {
        self.snapshot()?.message(id)
    }

    /// The ids of the messages of case `case`, in id order.
    pub fn case(&self, case: &CaseId) -> Result<Vec<MessageId>, StoreError> {
        self.snapshot()?.case(case)
    }

    /// The receipts held for `msg`, by recipient node.
    pub fn receipts(&self, msg: &MessageId) -> Result<Vec<(NodeId, Vec<u8>)>, StoreError> {
        self.snapshot()?.receipts(msg)
    }

    /// Every stored message, by id.
    pub fn messages(&self) -> Result<Vec<(MessageId, MessageRow)>, StoreError> {
        const ACTION: &str = "listing messages";
        let txn = self.begin_read(ACTION)?;
        let Some(table) = self.open_read(&txn, Table::Messages.definition(), ACTION)? else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| self.db_error(ACTION, e))? {
            let (k, v) = row.map_err(|e| self.db_error(ACTION, e))?;
            let id: [u8; 16] =
                k.value().try_into().map_err(|_| self.corrupt("a key of the messages table is not 16 bytes"))?;
            let id = MessageId(id);
            let row = MessageRow::decode(v.value()).map_err(|e| self.corrupt(format!("message {id}: {e}")))?;
            out.push((id, row));
        }
        Ok(out)
    }

    /// Every envelope waiting for a receipt.
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        const ACTION: &str = "reading the outbox";
        let txn = self.begin_read(ACTION)?;
        let Some(table) = self.open_read(&txn, Table::Outbox.definition(), ACTION)? else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| self.db_error(ACTION, e))? {
            let (k, v) = row.map_err(|e| self.db_error(ACTION, e))?;
            let (msg, recipient) =
                split_pair_key(k.value()).ok_or_else(|| self.corrupt("a key of the outbox table is malformed"))?;
            let row = OutboxRow::decode(v.value())
                .map_err(|e| self.corrupt(format!("outbox row of {}: {e}", MessageId(msg))))?;
            out.push(OutboxEntry { msg_id: MessageId(msg), recipient, row });
        }
        Ok(out)
    }

    /// Every communication check this node runs, decoded as `T`; a row
    /// that does not decode is a damaged store.
    pub fn comchecks<T: Serialize + DeserializeOwned>(&self) -> Result<Vec<(CaseId, T)>, StoreError> {
        self.decoded_rows(Table::Comchecks, "reading comchecks", "comcheck")
    }

    /// Every periodic communication check, decoded as `T`.
    pub fn schedules<T: Serialize + DeserializeOwned>(&self) -> Result<Vec<(CaseId, T)>, StoreError> {
        self.decoded_rows(Table::Schedules, "reading comcheck schedules", "comcheck schedule")
    }

    fn decoded_rows<T: Serialize + DeserializeOwned>(
        &self,
        which: Table,
        action: &'static str,
        what: &'static str,
    ) -> Result<Vec<(CaseId, T)>, StoreError> {
        self.id_rows(which, action)?
            .into_iter()
            .map(|(id, bytes)| {
                encoding::decode_versioned(what, NODE_ROW_FORMAT, &bytes, MAX_NODE_ROW_BYTES)
                    .map(|row| (id, row))
                    .map_err(|e| self.corrupt(format!("{what} {id}: {e}")))
            })
            .collect()
    }

    /// The rows of a table keyed by 16-byte ids.
    fn id_rows(&self, which: Table, action: &'static str) -> Result<Vec<(CaseId, Vec<u8>)>, StoreError> {
        let txn = self.begin_read(action)?;
        let Some(table) = self.open_read(&txn, which.definition(), action)? else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| self.db_error(action, e))? {
            let (k, v) = row.map_err(|e| self.db_error(action, e))?;
            let id: [u8; 16] =
                k.value().try_into().map_err(|_| self.corrupt(format!("a key is not 16 bytes ({action})")))?;
            out.push((CaseId(id), v.value().to_vec()));
        }
        Ok(out)
    }

    /// The secret stored under `name`, in a buffer that zeroizes on drop.
    pub fn secret(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        const ACTION: &str = "reading a secret";
        let txn = self.begin_read(ACTION)?;
        let Some(table) = self.open_read(&txn, Table::Secrets.definition(), ACTION)? else { return Ok(None) };
        let value = table.get(name.as_bytes()).map_err(|e| self.db_error(ACTION, e))?;
        Ok(value.map(|v| Zeroizing::new(v.value().to_vec())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_core::testkit::World;

    fn store() -> (tempfile::TempDir, Store) {
        let world = World::default();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path(), &world.charter, "FRA".parse().unwrap()).unwrap();
        (dir, store)
    }

    /// Rows written before the byte fields were marked `serde_bytes` (as
    /// sequences of u8) are the same postcard bytes: stores keep reading.
    #[test]
    fn byte_fields_encode_as_before() {
        #[derive(Serialize)]
        struct Before {
            message: Vec<u8>,
            sender: NodeId,
            envelope_hash: [u8; 32],
            received_at: Timestamp,
            receipt: Vec<u8>,
            read: bool,
            acknowledged_with: Option<MessageId>,
        }
        let row = ReceivedRow {
            message: (0..=255u8).cycle().take(700).collect(),
            sender: NodeId([7; 32]),
            envelope_hash: [8; 32],
            received_at: Timestamp(1_700_000_000),
            receipt: vec![9; 180],
            read: true,
            acknowledged_with: Some(MessageId([1; 16])),
        };
        let before = Before {
            message: row.message.clone(),
            sender: row.sender,
            envelope_hash: row.envelope_hash,
            received_at: row.received_at,
            receipt: row.receipt.clone(),
            read: row.read,
            acknowledged_with: row.acknowledged_with,
        };
        let old = encoding::encode_versioned(MESSAGE_ROW_FORMAT, &(0u32, before));
        assert_eq!(old, MessageRow::Received(row.clone()).encode());
        assert_eq!(MessageRow::decode(&old).unwrap(), MessageRow::Received(row));
    }

    #[test]
    fn messaging_tables_round_trip_and_survive_reopen() {
        let (dir, store) = store();
        let id = MessageId([1; 16]);
        let other = MessageId([2; 16]);
        let case = CaseId([9; 16]);
        let node = NodeId([7; 32]);
        let sent = MessageRow::Sent(SentRow {
            message: vec![1, 2, 3],
            queued_at: Timestamp(5),
            recipients: vec![node],
            acknowledged_with: None,
        });
        let outbox = OutboxRow { envelope: vec![4; 100], queued_at: Timestamp(5), attempts: 0, last_error: None };
        let mut batch = WriteBatch::new();
        batch.put_message(id, &sent);
        batch.index_case(case, id);
        batch.index_case(CaseId([10; 16]), other);
        batch.put_outbox(id, &node, &outbox);
        batch.put_secret(PREKEY_RING, b"secret");
        batch.put_comcheck(case, &(7u32, "seven".to_string()));
        store.write(batch).unwrap();
        drop(store);

        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.message(&id).unwrap(), Some(sent));
        assert_eq!(store.message(&other).unwrap(), None);
        assert_eq!(store.case(&case).unwrap(), vec![id]);
        assert_eq!(store.comchecks::<(u32, String)>().unwrap(), vec![(case, (7, "seven".to_string()))]);
        // A row of another shape is a damaged store, not a panic.
        assert!(matches!(store.comchecks::<Vec<MessageId>>(), Err(StoreError::Corrupt { .. })));
        assert_eq!(store.outbox().unwrap(), vec![OutboxEntry { msg_id: id, recipient: node, row: outbox }]);
        assert_eq!(store.secret(PREKEY_RING).unwrap().as_deref().map(|v| v.as_slice()), Some(&b"secret"[..]));

        let mut batch = WriteBatch::new();
        batch.delete_outbox(id, &node);
        batch.put_receipt(id, &node, vec![8; 10]);
        batch.put_receipt(other, &node, vec![9; 10]);
        store.write(batch).unwrap();
        assert!(store.outbox().unwrap().is_empty());
        assert_eq!(store.receipts(&id).unwrap(), vec![(node, vec![8; 10])]);
    }

    #[test]
    fn a_store_without_messaging_tables_reads_as_empty() {
        let (_dir, store) = store();
        assert!(store.messages().unwrap().is_empty());
        assert!(store.outbox().unwrap().is_empty());
        assert!(store.receipts(&MessageId([0; 16])).unwrap().is_empty());
        assert!(store.secret(PREKEY_RING).unwrap().is_none());
    }
}
