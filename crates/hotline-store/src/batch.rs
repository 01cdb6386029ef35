//! Write batches: what one or more directory changes do to the database.

use crate::schema::{HistoryRow, SlotRow, Table};
use hotline_core::{Applied, Change, Directory, ObjectHash, ObjectKey, Timestamp};

/// One database operation.
#[derive(Debug)]
pub(crate) enum Op {
    /// Write a slot's current content.
    PutSlot { key: Vec<u8>, row: Vec<u8> },
    /// The slot is empty now.
    DeleteSlot { key: Vec<u8> },
    /// Append an accepted object to the history. Its sequence number is
    /// assigned inside the transaction, so that concurrent batches coalesced
    /// by the group committer still get increasing, unique numbers.
    AppendHistory { key: Vec<u8>, hash: ObjectHash, row: Vec<u8> },
    /// Write a row of one of the messaging tables.
    Put { table: Table, key: Vec<u8>, value: Vec<u8> },
    /// Delete a row of one of the messaging tables (absent is fine).
    Delete { table: Table, key: Vec<u8> },
    /// Write a secret (the prekey ring): like `Put` in the `secrets`
    /// table, but the batch's copy is wiped when the batch is dropped and
    /// never shown by `Debug`.
    PutSecret { key: Vec<u8>, value: SecretBytes },
    /// Append a leaf to the evidence log. Its index is the log's end inside
    /// the transaction, as history numbers are (`crate::evidence`); with
    /// `at`, the transaction fails unless that is `at` (the node signed a
    /// receipt naming it).
    AppendEvidence { leaf: [u8; 32], at: Option<u64> },
}

/// A copy of secret bytes held by a batch until it is written.
pub(crate) struct SecretBytes(pub zeroize::Zeroizing<Vec<u8>>);

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{} secret bytes]", self.0.len())
    }
}

/// Directory changes to write in one durable transaction.
///
/// Build it from what [`Directory::apply`] returned, then hand it to
/// [`crate::Store::write`] or [`crate::GroupCommitter::commit`]. The batch is
/// encoded when it is built, so the commit itself does no encoding and holds
/// the database's write lock for as short a time as possible.
///
/// Batches that touch the same slot must be written in the order of the
/// applies they record, since each carries the slot's content as of its
/// apply: build and submit them under the same lock that guards the
/// directory. [`crate::GroupCommitter`] keeps submission order.
#[derive(Debug, Default)]
pub struct WriteBatch {
    pub(crate) ops: Vec<Op>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// Whether the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// How many database operations the batch holds.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Records the effect of one [`Directory::apply`]: a history row for each
    /// accepted object, and for each slot it touched, the slot as it is now in
    /// `directory` (or its deletion if `directory` no longer has it).
    ///
    /// `directory` must be the directory `applied` came from, in a state at
    /// least as recent as that apply. Slots are copied from the directory,
    /// not replayed from the changes, so recording several applies against
    /// later states of the same directory is still exact: the last write of
    /// each slot wins. `accepted_at` is the caller's clock, kept in the
    /// history for audit.
    pub fn record_applied(&mut self, applied: &Applied, directory: &Directory, accepted_at: Timestamp) {
        let mut touched: Vec<&ObjectKey> = Vec::new();
        for change in &applied.changes {
            if let Change::Accepted { key, hash, object, winner } = change {
                let row = HistoryRow { accepted_at, winner: *winner, object: object.to_bytes() };
                self.ops.push(Op::AppendHistory { key: key.to_bytes(), hash: *hash, row: row.encode() });
            }
            let key = change.key();
            if !touched.contains(&key) {
                touched.push(key);
            }
        }
        for key in touched {
            let key_bytes = key.to_bytes();
            match directory.entry(key) {
                Some(entry) => self.ops.push(Op::PutSlot { key: key_bytes, row: SlotRow::from_entry(entry).encode() }),
                None => self.ops.push(Op::DeleteSlot { key: key_bytes }),
            }
        }
    }

    /// Appends every operation of `other`, in order.
    pub fn extend(&mut self, other: WriteBatch) {
        self.ops.extend(other.ops);
    }
}
