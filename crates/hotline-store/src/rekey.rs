//! The store of a node whose node key changes (`hotline node rotate-key`,
//! `hotline node replace`).
//!
//! Three things in a store belong to the node key rather than to the node's
//! state, and are let go in one transaction when the key changes:
//!
//! - the **outbox's sealed envelopes**: each is signed by the old key and
//!   names it as sender, so a member would refuse it from the new one. The
//!   rows stay (nothing queued is lost) and become unsealed; the delivery
//!   loop seals them again with the new key, as for any new recipient.
//! - the **prekey ring**: its prekeys were published under the old key; the
//!   new key publishes its own at start. Senders that sealed to the old
//!   ones move those deliveries to the new node when the old one leaves
//!   the records, and seal them again there.
//! - the **receipt numbers held** (`receipt_numbers`): they count the
//!   receipts other nodes issued to the old key. Each of them numbers its
//!   receipts to the new key from 1 again; kept, the old numbers would look
//!   like a peer that went back (`hotline_node`'s recovery) and set off a
//!   redelivery of everything.
//!
//! What the node received, sent and numbered as a receiver stays: it is
//! the state's record of its exchanges.
//!
//! The **retirement** waiting for the old key (the node revocation a node
//! holding the state key signs once a grace period has passed) is kept in
//! the `meta` table under `retiring_node`: old node (32) ‖ new node (32) ‖
//! revoke at (u64 BE).

use crate::config::CONFIG_FILE;
use crate::error::StoreError;
use crate::messages::PREKEY_RING;
use crate::schema::{META, Table};
use crate::store::Store;
use crate::{DB_FILE, fsutil};
use crate::{OutboxRow, WriteBatch};
use hotline_core::{NodeId, Timestamp};
use redb::{ReadableTable, TableError};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

const RETIRING: &str = "retiring_node";

/// A node key let go, whose revocation waits for its grace period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retirement {
    /// The node key let go.
    pub node: NodeId,
    /// The node key that took its place.
    pub successor: NodeId,
    /// When its revocation is to be signed.
    pub revoke_at: Timestamp,
}

impl Retirement {
    fn encode(&self) -> [u8; 72] {
        let mut out = [0u8; 72];
        out[..32].copy_from_slice(&self.node.0);
        out[32..64].copy_from_slice(&self.successor.0);
        out[64..].copy_from_slice(&self.revoke_at.0.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<Retirement> {
        let bytes: &[u8; 72] = bytes.try_into().ok()?;
        let node = NodeId(bytes[..32].try_into().ok()?);
        let successor = NodeId(bytes[32..64].try_into().ok()?);
        let revoke_at = Timestamp(u64::from_be_bytes(bytes[64..].try_into().ok()?));
        Some(Retirement { node, successor, revoke_at })
    }
}

/// What letting go of a node key changed in the store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyMaterialDropped {
    /// Queued deliveries now unsealed, to be sealed again with the new key.
    pub deliveries_unsealed: usize,
    /// Receipt numbers held from other nodes, forgotten.
    pub receipt_numbers: usize,
}

impl Store {
    /// Lets go of what belongs to the old node key (see the module
    /// documentation) and records `retirement`, if any, in one durable
    /// transaction.
    pub fn drop_node_key_material(&self, retirement: Option<&Retirement>) -> Result<KeyMaterialDropped, StoreError> {
        const ACTION: &str = "letting go of the old node key's material";
        let mut batch = WriteBatch::new();
        let mut dropped = KeyMaterialDropped::default();
        for entry in self.outbox()? {
            let unsealed =
                OutboxRow { envelope: Vec::new(), queued_at: entry.row.queued_at, attempts: 0, last_error: None };
            batch.put_outbox(entry.msg_id, &entry.recipient, &unsealed);
            dropped.deliveries_unsealed += 1;
        }
        batch.delete_secret(PREKEY_RING);
        let numbers: Vec<Vec<u8>> = {
            let txn = self.begin_read(ACTION)?;
            match self.open_read(&txn, Table::ReceiptNumbers.definition(), ACTION)? {
                None => Vec::new(),
                Some(table) => {
                    let mut keys = Vec::new();
                    for row in table.iter().map_err(|e| self.db_error(ACTION, e))? {
                        let (k, _) = row.map_err(|e| self.db_error(ACTION, e))?;
                        keys.push(k.value().to_vec());
                    }
                    keys
                }
            }
        };
        dropped.receipt_numbers = numbers.len();
        for key in numbers {
            batch.delete_raw(Table::ReceiptNumbers, key);
        }
        self.write(batch)?;
        if let Some(r) = retirement {
            self.put_meta(RETIRING, Some(&r.encode()), ACTION)?;
        }
        Ok(dropped)
    }

    /// The retirement waiting for its grace period, if any.
    pub fn retirement(&self) -> Result<Option<Retirement>, StoreError> {
        const ACTION: &str = "reading the node key's retirement";
        let txn = self.begin_read(ACTION)?;
        let table = match txn.open_table(META) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.db_error(ACTION, e)),
        };
        match table.get(RETIRING).map_err(|e| self.db_error(ACTION, e))? {
            None => Ok(None),
            Some(v) => Retirement::decode(v.value())
                .map(Some)
                .ok_or_else(|| self.corrupt("the node key's retirement (meta retiring_node) is malformed")),
        }
    }

    /// Forgets the retirement: its revocation is signed and durable.
    pub fn clear_retirement(&self) -> Result<(), StoreError> {
        self.put_meta(RETIRING, None, "clearing the node key's retirement")
    }

    fn put_meta(&self, key: &str, value: Option<&[u8]>, action: &'static str) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(|e| self.db_error(action, e))?;
        txn.set_durability(redb::Durability::Immediate).map_err(|e| self.db_error(action, e))?;
        {
            let mut table = txn.open_table(META).map_err(|e| self.db_error(action, e))?;
            match value {
                Some(v) => table.insert(key, v).map(drop),
                None => table.remove(key).map(drop),
            }
            .map_err(|e| self.db_error(action, e))?;
        }
        txn.commit().map_err(|e| self.db_error(action, e))
    }
}

/// Copies the data directory of a stopped node, `from`, into `to`, a
/// directory that must not exist: the store (opened first, so that a
/// daemon running there is refused with [`StoreError::Locked`] and none
/// starts during the copy), every key file and the configuration. The
/// copy is owner-only and durable when this returns. Returns the files
/// copied, by name.
pub fn copy_data_dir(from: &Path, to: &Path) -> Result<Vec<String>, StoreError> {
    let store = Store::open(from)?;
    if to.symlink_metadata().is_ok() {
        return Err(StoreError::AlreadyExists { path: to.into() });
    }
    fsutil::create_private_dir(&to.join("keys"))?;
    let mut copied = Vec::new();
    let db_from = from.join(DB_FILE);
    let db_to = to.join(DB_FILE);
    copy_private(&db_from, &db_to)?;
    copied.push(DB_FILE.to_string());
    let config = from.join(CONFIG_FILE);
    if config.symlink_metadata().is_ok() {
        copy_private(&config, &to.join(CONFIG_FILE))?;
        copied.push(CONFIG_FILE.to_string());
    }
    let keys = from.join("keys");
    let entries = fs::read_dir(&keys).map_err(|e| StoreError::io("list", &keys, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("list", &keys, e))?;
        let kind = entry.file_type().map_err(|e| StoreError::io("read", &entry.path(), e))?;
        // Key files only: a link or a directory there is not ours to follow.
        if !kind.is_file() {
            continue;
        }
        let name = entry.file_name();
        copy_private(&entry.path(), &to.join("keys").join(&name))?;
        copied.push(format!("keys/{}", name.to_string_lossy()));
    }
    drop(store);
    fsutil::sync_dir(&to.join("keys"))?;
    fsutil::sync_dir(to)?;
    Ok(copied)
}

fn copy_private(from: &Path, to: &Path) -> Result<(), StoreError> {
    let mut source = File::open(from).map_err(|e| StoreError::io("read", from, e))?;
    let mut target = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .map_err(|e| StoreError::io("create", to, e))?;
    io::copy(&mut source, &mut target).map_err(|e| StoreError::io("copy to", to, e))?;
    target.sync_all().map_err(|e| StoreError::io("sync", to, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_core::MessageId;
    use hotline_core::testkit::World;

    #[test]
    fn a_new_node_key_unseals_the_outbox_and_forgets_the_ring_and_the_numbers_held() {
        let dir = tempfile::tempdir().unwrap();
        let w = World::default();
        let store = Store::create(dir.path(), &w.charter, "FRA".parse().unwrap()).unwrap();
        let (msg, peer) = (MessageId([1; 16]), NodeId([7; 32]));
        let mut batch = WriteBatch::new();
        let sealed =
            OutboxRow { envelope: vec![1, 2, 3], queued_at: Timestamp(10), attempts: 4, last_error: Some("x".into()) };
        batch.put_outbox(msg, &peer, &sealed);
        batch.put_secret(PREKEY_RING, b"ring");
        batch.put_receipt_number(&peer, 1, msg);
        batch.put_receipts_issued(&peer, 9);
        store.write(batch).unwrap();
        assert_eq!(store.retirement().unwrap(), None);
        let retiring = Retirement { node: NodeId([2; 32]), successor: NodeId([3; 32]), revoke_at: Timestamp(99) };
        let dropped = store.drop_node_key_material(Some(&retiring)).unwrap();
        assert_eq!(dropped, KeyMaterialDropped { deliveries_unsealed: 1, receipt_numbers: 1 });
        let outbox = store.outbox().unwrap();
        assert_eq!(outbox.len(), 1);
        assert!(outbox[0].row.envelope.is_empty());
        assert_eq!((outbox[0].row.queued_at, outbox[0].row.attempts), (Timestamp(10), 0));
        assert!(store.secret(PREKEY_RING).unwrap().is_none());
        let snap = store.snapshot().unwrap();
        assert_eq!(snap.receipt_number(&peer, 1).unwrap(), None);
        // What it numbered as a receiver stays.
        assert_eq!(snap.receipts_issued(&peer).unwrap(), 9);
        drop(snap);
        assert_eq!(store.retirement().unwrap(), Some(retiring));
        store.clear_retirement().unwrap();
        assert_eq!(store.retirement().unwrap(), None);
    }

    #[test]
    fn a_data_directory_is_copied_whole_and_never_from_a_running_node_nor_over_one() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("old"), dir.path().join("new"));
        let w = World::default();
        let store = Store::create(&from, &w.charter, "FRA".parse().unwrap()).unwrap();
        crate::NodeKeys::generate_into(&from).unwrap();
        fs::write(from.join(CONFIG_FILE), "state = \"FRA\"\n").unwrap();
        let mut batch = WriteBatch::new();
        batch.cancel_message(MessageId([9; 16]), Timestamp(5));
        store.write(batch).unwrap();
        // Open elsewhere (a daemon): refused.
        assert!(matches!(copy_data_dir(&from, &to), Err(StoreError::Locked { .. })));
        assert!(to.symlink_metadata().is_err());
        drop(store);
        let mut copied = copy_data_dir(&from, &to).unwrap();
        copied.sort();
        assert_eq!(copied, [DB_FILE, "keys/node.key", "keys/state.key", CONFIG_FILE]);
        let copy = Store::open(&to).unwrap();
        assert_eq!(copy.snapshot().unwrap().cancelled_at(&MessageId([9; 16])).unwrap(), Some(Timestamp(5)));
        drop(copy);
        assert!(matches!(copy_data_dir(&from, &to), Err(StoreError::AlreadyExists { .. })));
    }
}
