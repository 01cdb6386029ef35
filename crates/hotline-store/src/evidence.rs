//! The node's evidence log on disk (`hotline_evidence`): the Merkle tree's
//! hashes, the index of each leaf, the latest signed checkpoint, and what
//! this node holds as a witness of others.
//!
//! | table | key | value |
//! |---|---|---|
//! | `evidence_hashes` | stored-hash index (u64 BE) | 32-byte hash |
//! | `evidence_leaves` | leaf hash (32) | leaf index (u64 BE) |
//! | `evidence` | `size`, `checkpoint`, `epoch` | leaves (u64 BE); latest signed checkpoint (note); the log's epoch (u64 BE, absent: 0) |
//! | `witnessed` | node (32) | latest checkpoint of that node cosigned here (note) |
//! | `witnessed` | node (32) ‖ epoch (u64 BE) | the last cosigned of an epoch that ended (note) |
//! | `equivocations` | node (32) | [`Equivocation`]: the two checkpoints that prove it |
//!
//! A leaf is appended by a batch ([`WriteBatch::append_evidence`]) in the
//! transaction that writes what it records (a message stored, a receipt),
//! so the log holds an event exactly when the store does. Its index is
//! given inside the transaction, at the log's end, so batches coalesced by
//! the group committer, or a batch that failed, leave no gap and no leaf
//! twice.

use crate::WriteBatch;
use crate::batch::Op;
use crate::error::StoreError;
use crate::schema::Table;
use crate::store::{Snapshot, Store};
use hotline_core::NodeId;
use hotline_evidence::{Hash, HashReader, SignedCheckpoint};
use redb::ReadableTable;
use serde::{Deserialize, Serialize};

const SIZE: &[u8] = b"size";
const CHECKPOINT: &[u8] = b"checkpoint";
const EPOCH: &[u8] = b"epoch";

impl WriteBatch {
    /// Appends `leaf` (an event's leaf hash) to the evidence log.
    pub fn append_evidence(&mut self, leaf: Hash) {
        self.ops.push(Op::AppendEvidence { leaf: leaf.0, at: None });
    }

    /// Appends `leaf` at index `at`: the write fails, all of it, unless the
    /// log ends there when it is written (a receipt names that index).
    pub fn append_evidence_at(&mut self, leaf: Hash, at: u64) {
        self.ops.push(Op::AppendEvidence { leaf: leaf.0, at: Some(at) });
    }

    /// The index the first leaf of this batch is to land at, if it names
    /// one ([`WriteBatch::append_evidence_at`]).
    pub fn first_leaf_at(&self) -> Option<u64> {
        self.ops.iter().find_map(|op| match op {
            Op::AppendEvidence { at, .. } => *at,
            _ => None,
        })
    }

    /// Keeps `checkpoint` as the log's latest signed checkpoint.
    pub fn put_checkpoint(&mut self, checkpoint: &SignedCheckpoint) {
        self.ops.push(Op::Put {
            table: Table::Evidence,
            key: CHECKPOINT.to_vec(),
            value: checkpoint.as_bytes().to_vec(),
        });
    }

    /// Keeps `checkpoint` as the latest of `node`'s log cosigned here.
    pub fn put_witnessed(&mut self, node: &NodeId, checkpoint: &SignedCheckpoint) {
        self.ops.push(Op::Put { table: Table::Witnessed, key: node.0.to_vec(), value: checkpoint.as_bytes().to_vec() });
    }

    /// Keeps `checkpoint` as the last of `node`'s log in `epoch` cosigned
    /// here, once a newer epoch replaces it.
    pub fn put_witnessed_final(&mut self, node: &NodeId, epoch: u64, checkpoint: &SignedCheckpoint) {
        let mut key = node.0.to_vec();
        key.extend_from_slice(&epoch.to_be_bytes());
        self.ops.push(Op::Put { table: Table::Witnessed, key, value: checkpoint.as_bytes().to_vec() });
    }

    /// Keeps the proof that `node` rewrote its log.
    pub fn put_equivocation(&mut self, node: &NodeId, proof: &Equivocation) {
        let value = postcard::to_allocvec(proof).unwrap_or_default();
        self.ops.push(Op::Put { table: Table::Equivocations, key: node.0.to_vec(), value });
    }
}

/// Two signed checkpoints of one node's log that contradict each other, as
/// stored (`hotline_evidence::EquivocationProof` checks them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Equivocation {
    /// The earlier checkpoint (note bytes).
    #[serde(with = "serde_bytes")]
    pub first: Vec<u8>,
    /// The later one.
    #[serde(with = "serde_bytes")]
    pub second: Vec<u8>,
    /// When this node learned of it.
    pub seen_at: hotline_core::Timestamp,
}

/// Appends the leaves of `ops` to the evidence log in the write transaction
/// `txn`: each at the log's end, with the tree hashes it completes.
/// Why leaves could not be appended.
pub(crate) enum AppendError {
    /// The database failed.
    Db(redb::Error),
    /// A leaf named an index that is not the log's end.
    OutOfPlace { expected: u64, size: u64 },
}

impl<E: Into<redb::Error>> From<E> for AppendError {
    fn from(e: E) -> Self {
        AppendError::Db(e.into())
    }
}

pub(crate) fn append_leaves<'a>(
    txn: &redb::WriteTransaction,
    leaves: impl Iterator<Item = (&'a [u8; 32], Option<u64>)>,
) -> Result<(), AppendError> {
    let mut state = txn.open_table(Table::Evidence.definition())?;
    let mut size = match state.get(SIZE)? {
        Some(v) => read_u64(v.value())
            .ok_or_else(|| AppendError::Db(redb::Error::Corrupted("the evidence log's size is malformed".into())))?,
        None => 0,
    };
    let mut hashes = txn.open_table(Table::EvidenceHashes.definition())?;
    let mut index = txn.open_table(Table::EvidenceLeaves.definition())?;
    for (leaf, at) in leaves {
        if let Some(expected) = at.filter(|at| *at != size) {
            return Err(AppendError::OutOfPlace { expected, size });
        }
        let stored = {
            let reader = TableHashes(&hashes);
            hotline_evidence::tree::hashes_to_store(size, Hash(*leaf), &reader)
                .map_err(|e| AppendError::Db(redb::Error::Corrupted(format!("the evidence log's hashes: {e}"))))?
        };
        let first = hotline_evidence::tree::first_index(size);
        for (i, h) in stored.iter().enumerate() {
            hashes.insert((first + i as u64).to_be_bytes().as_slice(), h.0.as_slice())?;
        }
        // The first index of a leaf hash stays: the same event twice is
        // one event (a caller appends each once).
        if index.get(leaf.as_slice())?.is_none() {
            index.insert(leaf.as_slice(), size.to_be_bytes().as_slice())?;
        }
        size += 1;
    }
    state.insert(SIZE, size.to_be_bytes().as_slice())?;
    Ok(())
}

/// Largest equivocation row read: two checkpoints and a time.
const MAX_EQUIVOCATION_BYTES: usize = 2 * hotline_evidence::MAX_CHECKPOINT_BYTES + 64;

fn bounded(bytes: &[u8]) -> Option<&[u8]> {
    (bytes.len() <= MAX_EQUIVOCATION_BYTES).then_some(bytes)
}

fn read_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// The tree's hashes through a table (read or write).
struct TableHashes<'t, T>(&'t T);

impl<T: ReadableTable<&'static [u8], &'static [u8]>> HashReader for TableHashes<'_, T> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, hotline_evidence::tree::TreeError> {
        let mut out = Vec::with_capacity(indexes.len());
        for i in indexes {
            let found = self.0.get(i.to_be_bytes().as_slice()).ok().flatten();
            let hash = found.and_then(|v| <[u8; 32]>::try_from(v.value()).ok());
            out.push(Hash(hash.ok_or(hotline_evidence::tree::TreeError::IndexesNotInTree)?));
        }
        Ok(out)
    }
}

impl Snapshot<'_> {
    /// The evidence log's size (leaves).
    pub fn evidence_size(&self) -> Result<u64, StoreError> {
        let Some(table) = self.table(Table::Evidence, "reading the evidence log")? else { return Ok(0) };
        match table.get(SIZE).map_err(|e| self.store.db_error("reading the evidence log", e))? {
            Some(v) => read_u64(v.value()).ok_or_else(|| self.store.corrupt("the evidence log's size is malformed")),
            None => Ok(0),
        }
    }

    fn hashes<R>(
        &self,
        f: impl FnOnce(&Reader<'_>) -> Result<R, hotline_evidence::EvidenceError>,
    ) -> Result<R, StoreError> {
        let reader = match self.table(Table::EvidenceHashes, "reading the evidence log")? {
            Some(table) => Reader::Table(table),
            None => Reader::Empty,
        };
        f(&reader).map_err(|e| self.store.corrupt(format!("the evidence log: {e}")))
    }

    /// The root of the log's first `size` leaves.
    pub fn evidence_root(&self, size: u64) -> Result<Hash, StoreError> {
        self.hashes(|r| hotline_evidence::tree::root(size, r))
    }

    /// The proof that leaf `index` is in the log's first `size` leaves.
    pub fn evidence_inclusion(&self, size: u64, index: u64) -> Result<Vec<Hash>, StoreError> {
        self.hashes(|r| hotline_evidence::tree::inclusion_proof(size, index, r))
    }

    /// The proof that the log's first `new_size` leaves extend its first `old_size`.
    pub fn evidence_consistency(&self, new_size: u64, old_size: u64) -> Result<Vec<Hash>, StoreError> {
        self.hashes(|r| hotline_evidence::tree::consistency_proof(new_size, old_size, r))
    }

    /// The index of the leaf `leaf`, if the log holds it.
    pub fn evidence_leaf_index(&self, leaf: &Hash) -> Result<Option<u64>, StoreError> {
        let Some(table) = self.table(Table::EvidenceLeaves, "reading the evidence log")? else { return Ok(None) };
        match table.get(leaf.0.as_slice()).map_err(|e| self.store.db_error("reading the evidence log", e))? {
            Some(v) => {
                Ok(Some(read_u64(v.value()).ok_or_else(|| self.store.corrupt("an evidence leaf index is malformed"))?))
            }
            None => Ok(None),
        }
    }

    /// The log's epoch: 0, then one more at each restore from a backup.
    pub fn evidence_epoch(&self) -> Result<u64, StoreError> {
        let Some(table) = self.table(Table::Evidence, "reading the evidence log")? else { return Ok(0) };
        match table.get(EPOCH).map_err(|e| self.store.db_error("reading the evidence log", e))? {
            Some(v) => read_u64(v.value()).ok_or_else(|| self.store.corrupt("the evidence log's epoch is malformed")),
            None => Ok(0),
        }
    }

    /// The log's latest signed checkpoint.
    pub fn checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError> {
        self.note(Table::Evidence, CHECKPOINT)
    }

    /// The latest checkpoint of `node`'s log cosigned here.
    pub fn witnessed(&self, node: &NodeId) -> Result<Option<SignedCheckpoint>, StoreError> {
        self.note(Table::Witnessed, &node.0)
    }

    /// The proof that `node` rewrote its log, if one is held.
    pub fn equivocation(&self, node: &NodeId) -> Result<Option<Equivocation>, StoreError> {
        let Some(table) = self.table(Table::Equivocations, "reading equivocations")? else { return Ok(None) };
        match table.get(node.0.as_slice()).map_err(|e| self.store.db_error("reading equivocations", e))? {
            Some(v) => bounded(v.value())
                .and_then(|b| postcard::from_bytes(b).ok())
                .map(Some)
                .ok_or_else(|| self.store.corrupt("an equivocation row is malformed")),
            None => Ok(None),
        }
    }

    /// Every proof of a rewritten log held, by node.
    pub fn equivocations(&self) -> Result<Vec<(NodeId, Equivocation)>, StoreError> {
        const ACTION: &str = "reading equivocations";
        let Some(table) = self.table(Table::Equivocations, ACTION)? else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| self.store.db_error(ACTION, e))? {
            let (k, v) = row.map_err(|e| self.store.db_error(ACTION, e))?;
            let node =
                <[u8; 32]>::try_from(k.value()).map(NodeId).map_err(|_| self.store.corrupt("an equivocation key"))?;
            let proof = bounded(v.value())
                .and_then(|b| postcard::from_bytes(b).ok())
                .ok_or_else(|| self.store.corrupt("an equivocation row is malformed"))?;
            out.push((node, proof));
        }
        Ok(out)
    }

    fn note(&self, which: Table, key: &[u8]) -> Result<Option<SignedCheckpoint>, StoreError> {
        let Some(table) = self.table(which, "reading a checkpoint")? else { return Ok(None) };
        match table.get(key).map_err(|e| self.store.db_error("reading a checkpoint", e))? {
            Some(v) => SignedCheckpoint::from_bytes(v.value())
                .map(Some)
                .map_err(|e| self.store.corrupt(format!("a stored checkpoint: {e}"))),
            None => Ok(None),
        }
    }
}

/// The tree's hashes as a snapshot reads them (no table yet: an empty log).
enum Reader<'t> {
    Table(&'t redb::ReadOnlyTable<&'static [u8], &'static [u8]>),
    Empty,
}

impl HashReader for Reader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, hotline_evidence::tree::TreeError> {
        match self {
            Reader::Table(t) => TableHashes(*t).read_hashes(indexes),
            Reader::Empty if indexes.is_empty() => Ok(Vec::new()),
            Reader::Empty => Err(hotline_evidence::tree::TreeError::IndexesNotInTree),
        }
    }
}

impl Store {
    /// Starts a new epoch of the evidence log (a restore from a backup: the
    /// log it holds is older than the one the node had signed), numbered by
    /// the time `at` (so restoring one backup twice gives two epochs).
    /// Returns it.
    pub fn start_evidence_epoch(&self, at: hotline_core::Timestamp) -> Result<u64, StoreError> {
        let epoch = (self.snapshot()?.evidence_epoch()? + 1).max(at.0);
        let mut batch = WriteBatch::new();
        batch.ops.push(Op::Put { table: Table::Evidence, key: EPOCH.to_vec(), value: epoch.to_be_bytes().to_vec() });
        batch.ops.push(Op::Delete { table: Table::Evidence, key: CHECKPOINT.to_vec() });
        self.write(batch)?;
        Ok(epoch)
    }

    /// The evidence log's size, root and latest checkpoint, in one read.
    pub fn evidence_head(&self) -> Result<(u64, Hash, Option<SignedCheckpoint>), StoreError> {
        let snap = self.snapshot()?;
        let size = snap.evidence_size()?;
        Ok((size, snap.evidence_root(size)?, snap.checkpoint()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_core::testkit::World;
    use hotline_evidence::tree::{MemoryLog, check_consistency, check_inclusion};

    fn leaf(i: u64) -> Hash {
        hotline_evidence::tree::record_hash(&i.to_be_bytes())
    }

    #[test]
    fn leaves_appended_by_batches_make_the_same_tree_as_in_memory_and_prove() {
        let dir = tempfile::tempdir().unwrap();
        let w = World::default();
        let store = Store::create(dir.path(), &w.charter, "FRA".parse().unwrap()).unwrap();
        let mut memory = MemoryLog::default();
        // Batches of several sizes, some coalesced in one transaction.
        let mut n = 0;
        for chunk in [1u64, 3, 7, 1, 20] {
            let mut batch = WriteBatch::new();
            for _ in 0..chunk {
                batch.append_evidence(leaf(n));
                memory.append(leaf(n)).unwrap();
                n += 1;
            }
            store.write(batch).unwrap();
        }
        let two = [WriteBatch::new(), WriteBatch::new()].map(|mut b| {
            b.append_evidence(leaf(n));
            n += 1;
            b
        });
        memory.append(leaf(n - 2)).unwrap();
        memory.append(leaf(n - 1)).unwrap();
        store.write_group(&two).unwrap();
        let snap = store.snapshot().unwrap();
        let size = snap.evidence_size().unwrap();
        assert_eq!(size, n);
        let root = snap.evidence_root(size).unwrap();
        assert_eq!(root, hotline_evidence::tree::root(size, &memory).unwrap());
        for i in [0, 5, n - 1] {
            assert_eq!(snap.evidence_leaf_index(&leaf(i)).unwrap(), Some(i));
            let proof = snap.evidence_inclusion(size, i).unwrap();
            check_inclusion(&proof, size, root, i, leaf(i)).unwrap();
        }
        let old_root = snap.evidence_root(11).unwrap();
        let proof = snap.evidence_consistency(size, 11).unwrap();
        check_consistency(&proof, size, root, 11, old_root).unwrap();
        assert_eq!(snap.evidence_leaf_index(&leaf(999)).unwrap(), None);
    }

    #[test]
    fn a_leaf_expected_elsewhere_fails_its_whole_write() {
        let dir = tempfile::tempdir().unwrap();
        let w = World::default();
        let store = Store::create(dir.path(), &w.charter, "FRA".parse().unwrap()).unwrap();
        let mut batch = WriteBatch::new();
        batch.append_evidence_at(leaf(0), 0);
        batch.append_evidence_at(leaf(1), 1);
        store.write(batch).unwrap();
        // A batch built before an earlier one failed: it expected index 5.
        let mut stale = WriteBatch::new();
        stale.cancel_message(hotline_core::MessageId([3; 16]), hotline_core::Timestamp(1));
        stale.append_evidence_at(leaf(2), 5);
        assert!(matches!(store.write(stale), Err(StoreError::EvidenceOutOfPlace { expected: 5, size: 2 })));
        let snap = store.snapshot().unwrap();
        assert_eq!(snap.evidence_size().unwrap(), 2);
        assert_eq!(snap.cancelled_at(&hotline_core::MessageId([3; 16])).unwrap(), None, "nothing of it is written");
    }

    #[test]
    fn an_empty_log_has_the_empty_root() {
        let dir = tempfile::tempdir().unwrap();
        let w = World::default();
        let store = Store::create(dir.path(), &w.charter, "FRA".parse().unwrap()).unwrap();
        let (size, root, checkpoint) = store.evidence_head().unwrap();
        assert_eq!((size, root, checkpoint), (0, hotline_evidence::tree::EMPTY_ROOT, None));
    }
}
