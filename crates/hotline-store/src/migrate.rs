//! Upgrades of an older store to [`SCHEMA_VERSION`], run when the store is
//! opened, in one durable transaction: a crash leaves the old version whole.

use crate::batch::{Op, WriteBatch};
use crate::error::{StoreError, from_redb};
use crate::messages::MessageRow;
use crate::schema::{HISTORY, HistoryRow, META, SCHEMA_VERSION, SLOTS, SlotRow, Table, meta};
use hotline_core::directory::Entry;
use hotline_core::limits::MAX_EVIDENCE;
use hotline_core::{DirectoryObject, MessageId, NetworkId};
use redb::{Database, Durability, ReadableTable};
use std::collections::BTreeMap;
use std::path::Path;

/// The first byte of a version 1 `rev-node/NODE` key: the postcard variant
/// index of `ObjectKey::NodeRevocation`, which was followed by the node id
/// alone. Version 2 puts the revoking state before the node id.
const V1_NODE_REVOCATION_TAG: u8 = 5;

/// Length of a history key's suffix after the object key: seq and hash.
const HISTORY_SUFFIX: usize = 8 + 32;

/// Brings a store of schema version `found` up to [`SCHEMA_VERSION`].
pub(crate) fn upgrade(db: &Database, path: &Path, found: u32, network: &NetworkId) -> Result<(), StoreError> {
    if found >= SCHEMA_VERSION {
        return Ok(());
    }
    const ACTION: &str = "upgrading the store's schema";
    let err = |e: redb::Error| from_redb(path, ACTION, e);
    let corrupt = |detail: String| StoreError::Corrupt { path: path.into(), detail };
    let mut txn = db.begin_write().map_err(|e| err(e.into()))?;
    txn.set_durability(Durability::Immediate).map_err(|e| err(e.into()))?;
    if found < 2 {
        // Version 1 → 2: node revocations are keyed by state and node. A
        // version 1 slot held every state's revocation of one node, the
        // winner and the others as evidence: each goes to its own state's
        // slot, where the lowest hash wins (they all have seq 0), so a
        // revocation that lost the shared slot to another state's is the
        // winner of its own again.
        let mut slots = txn.open_table(SLOTS).map_err(|e| err(e.into()))?;
        let mut split: BTreeMap<Vec<u8>, Vec<DirectoryObject>> = BTreeMap::new();
        for (_, value) in take_tagged(&mut slots).map_err(err)? {
            let (winner, evidence) =
                SlotRow::decode_objects(&value).map_err(|e| corrupt(format!("a version 1 slot row: {e}")))?;
            for object in std::iter::once(winner).chain(evidence) {
                check_kind(&object).map_err(corrupt)?;
                split.entry(object.key().to_bytes()).or_default().push(object);
            }
        }
        for (key, mut objects) in split {
            objects.sort_by_key(|o| o.hash(network));
            objects.dedup_by_key(|o| o.hash(network));
            let mut objects = objects.into_iter();
            let Some(object) = objects.next() else { continue };
            let evidence: Vec<DirectoryObject> = objects.take(MAX_EVIDENCE).collect();
            let hash = object.hash(network);
            let row = SlotRow::from_entry(&Entry { object, hash, evidence }).encode();
            slots.insert(key.as_slice(), row.as_slice()).map_err(|e| err(e.into()))?;
        }
        let mut history = txn.open_table(HISTORY).map_err(|e| err(e.into()))?;
        for (old, value) in take_tagged(&mut history).map_err(err)? {
            let row = HistoryRow::decode(&value).map_err(|e| corrupt(format!("a version 1 history row: {e}")))?;
            let object = DirectoryObject::from_bytes(&row.object)
                .map_err(|e| corrupt(format!("a version 1 history row: {e}")))?;
            check_kind(&object).map_err(corrupt)?;
            let suffix = old
                .len()
                .checked_sub(HISTORY_SUFFIX)
                .map(|at| &old[at..])
                .ok_or_else(|| corrupt("a version 1 history key is too short".into()))?;
            let mut key = object.key().to_bytes();
            key.extend_from_slice(suffix);
            history.insert(key.as_slice(), value.as_slice()).map_err(|e| err(e.into()))?;
        }
    }
    if found < 5 {
        // The message indexes, from every stored message: version 2 → 3
        // adds the mailbox's (`mailbox`, `unread`), version 3 → 4 the
        // replies index, version 4 → 5 the mailbox's by role.
        let messages = txn.open_table(Table::Messages.definition()).map_err(|e| err(e.into()))?;
        let mut batch = WriteBatch::new();
        for row in messages.iter().map_err(|e| err(e.into()))? {
            let (k, v) = row.map_err(|e| err(e.into()))?;
            let id: [u8; 16] =
                k.value().try_into().map_err(|_| corrupt("a key of the messages table is not 16 bytes".into()))?;
            let id = MessageId(id);
            let row = MessageRow::decode(v.value()).map_err(|e| corrupt(format!("message {id}: {e}")))?;
            batch.index_message(id, &row);
        }
        drop(messages);
        let mut wanted = vec![Table::MailboxRole, Table::UnreadRole];
        if found < 4 {
            wanted.push(Table::Replies);
        }
        if found < 3 {
            wanted.extend([Table::Mailbox, Table::Unread]);
        }
        for table in wanted {
            let mut open = txn.open_table(table.definition()).map_err(|e| err(e.into()))?;
            for op in &batch.ops {
                // Only puts: a message read before the upgrade has no
                // unread row to remove.
                if let Op::Put { table: t, key, value } = op
                    && *t == table
                {
                    open.insert(key.as_slice(), value.as_slice()).map_err(|e| err(e.into()))?;
                }
            }
        }
    }
    {
        let mut meta_table = txn.open_table(META).map_err(|e| err(e.into()))?;
        meta_table.insert(meta::SCHEMA, SCHEMA_VERSION.to_be_bytes().as_slice()).map_err(|e| err(e.into()))?;
    }
    txn.commit().map_err(|e| err(e.into()))?;
    Ok(())
}

/// A row as owned key and value bytes.
type Row = (Vec<u8>, Vec<u8>);

/// Removes and returns every row whose key starts with the version 1 node
/// revocation tag.
fn take_tagged(table: &mut redb::Table<'_, &'static [u8], &'static [u8]>) -> Result<Vec<Row>, redb::Error> {
    let start = [V1_NODE_REVOCATION_TAG];
    let end = [V1_NODE_REVOCATION_TAG + 1];
    let mut rows = Vec::new();
    for row in table.range::<&[u8]>(start.as_slice()..end.as_slice())? {
        let (k, v) = row?;
        rows.push((k.value().to_vec(), v.value().to_vec()));
    }
    for (k, _) in &rows {
        table.remove(k.as_slice())?;
    }
    Ok(rows)
}

fn check_kind(object: &DirectoryObject) -> Result<(), String> {
    match object.key() {
        hotline_core::ObjectKey::NodeRevocation(..) => Ok(()),
        other => Err(format!("a version 1 node revocation row holds {other}")),
    }
}

/// The version 1 key bytes of a node revocation slot, for the migration's
/// tests.
#[cfg(test)]
pub(crate) fn v1_node_revocation_key(node: &hotline_core::NodeId) -> Vec<u8> {
    let mut key = vec![V1_NODE_REVOCATION_TAG];
    key.extend_from_slice(&node.0);
    key
}
