//! Receipt numbers: how a node finds out that a peer lost messages.
//!
//! Each receipt a node signs carries its number among those it issued to
//! that sender (`hotline_crypto::DeliveryReceipt::seq`). Two tables keep
//! the two sides of it:
//!
//! | table | key | value |
//! |---|---|---|
//! | `receipts_issued` | sender node (32) | the last number issued to it (u64 BE) |
//! | `receipt_numbers` | recipient node (32) ‖ number (u64 BE) | the message that receipt is for (16 bytes) |
//!
//! The receiving side writes `receipts_issued` in the batch that stores the
//! message, so a store put back to an older copy also goes back to the
//! number it had then. The sending side keeps, per recipient node, which
//! message each numbered receipt it holds was for: the messages a peer
//! lost are those under numbers above the one it now says it reached.

use crate::WriteBatch;
use crate::batch::Op;
use crate::error::StoreError;
use crate::schema::Table;
use crate::store::{Snapshot, Store};
use hotline_core::{MessageId, NodeId};

fn number_key(node: &NodeId, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(40);
    key.extend_from_slice(&node.0);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

impl WriteBatch {
    /// Records that this node has issued receipts up to number `seq` to
    /// `sender` (write it with the message the receipt is for).
    pub fn put_receipts_issued(&mut self, sender: &NodeId, seq: u64) {
        self.ops.push(Op::Put {
            table: Table::ReceiptsIssued,
            key: sender.0.to_vec(),
            value: seq.to_be_bytes().to_vec(),
        });
    }

    /// Records that `recipient`'s receipt number `seq` is for `msg`.
    pub fn put_receipt_number(&mut self, recipient: &NodeId, seq: u64, msg: MessageId) {
        self.ops.push(Op::Put { table: Table::ReceiptNumbers, key: number_key(recipient, seq), value: msg.0.to_vec() });
    }

    /// Forgets `recipient`'s receipt number `seq` (the recipient lost it).
    pub fn delete_receipt_number(&mut self, recipient: &NodeId, seq: u64) {
        self.ops.push(Op::Delete { table: Table::ReceiptNumbers, key: number_key(recipient, seq) });
    }
}

impl Snapshot<'_> {
    /// The last receipt number this node issued to `sender` (0: none).
    pub fn receipts_issued(&self, sender: &NodeId) -> Result<u64, StoreError> {
        const ACTION: &str = "reading receipt numbers issued";
        let Some(table) = self.table(Table::ReceiptsIssued, ACTION)? else { return Ok(0) };
        let Some(v) = table.get(sender.0.as_slice()).map_err(|e| self.store.db_error(ACTION, e))? else {
            return Ok(0);
        };
        let bytes: [u8; 8] = v
            .value()
            .try_into()
            .map_err(|_| self.store.corrupt(format!("the receipt number issued to {sender} is malformed")))?;
        Ok(u64::from_be_bytes(bytes))
    }

    /// The message `recipient`'s receipt number `seq` is for, if held.
    pub fn receipt_number(&self, recipient: &NodeId, seq: u64) -> Result<Option<MessageId>, StoreError> {
        const ACTION: &str = "reading a receipt number";
        let Some(table) = self.table(Table::ReceiptNumbers, ACTION)? else { return Ok(None) };
        match table.get(number_key(recipient, seq).as_slice()).map_err(|e| self.store.db_error(ACTION, e))? {
            None => Ok(None),
            Some(v) => {
                let id: [u8; 16] = v
                    .value()
                    .try_into()
                    .map_err(|_| self.store.corrupt("a receipt number's message id is malformed"))?;
                Ok(Some(MessageId(id)))
            }
        }
    }

    /// The highest receipt number held from `recipient` (0: none).
    pub fn last_receipt_number(&self, recipient: &NodeId) -> Result<u64, StoreError> {
        const ACTION: &str = "reading receipt numbers";
        let Some(table) = self.table(Table::ReceiptNumbers, ACTION)? else { return Ok(0) };
        let range = number_key(recipient, 0)..=number_key(recipient, u64::MAX);
        let mut rows = table
            .range::<&[u8]>(range.start().as_slice()..=range.end().as_slice())
            .map_err(|e| self.store.db_error(ACTION, e))?;
        match rows.next_back() {
            None => Ok(0),
            Some(row) => {
                let (k, _) = row.map_err(|e| self.store.db_error(ACTION, e))?;
                seq_of(k.value()).ok_or_else(|| self.store.corrupt("a key of the receipt_numbers table is malformed"))
            }
        }
    }

    /// Up to `limit` receipt numbers held from `recipient` above `after`,
    /// lowest first, with their messages.
    pub fn receipt_numbers_after(
        &self,
        recipient: &NodeId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, MessageId)>, StoreError> {
        const ACTION: &str = "reading receipt numbers";
        let Some(table) = self.table(Table::ReceiptNumbers, ACTION)? else { return Ok(Vec::new()) };
        let Some(first) = after.checked_add(1) else { return Ok(Vec::new()) };
        let (from, to) = (number_key(recipient, first), number_key(recipient, u64::MAX));
        let mut out = Vec::new();
        for row in table.range::<&[u8]>(from.as_slice()..=to.as_slice()).map_err(|e| self.store.db_error(ACTION, e))? {
            if out.len() >= limit {
                break;
            }
            let (k, v) = row.map_err(|e| self.store.db_error(ACTION, e))?;
            let seq = seq_of(k.value())
                .ok_or_else(|| self.store.corrupt("a key of the receipt_numbers table is malformed"))?;
            let id: [u8; 16] =
                v.value().try_into().map_err(|_| self.store.corrupt("a receipt number's message id is malformed"))?;
            out.push((seq, MessageId(id)));
        }
        Ok(out)
    }
}

fn seq_of(key: &[u8]) -> Option<u64> {
    let (_, seq) = key.split_first_chunk::<32>()?;
    Some(u64::from_be_bytes(seq.try_into().ok()?))
}

impl Store {
    /// The last receipt number this node issued to `sender` (0: none).
    pub fn receipts_issued(&self, sender: &NodeId) -> Result<u64, StoreError> {
        self.snapshot()?.receipts_issued(sender)
    }

    /// The highest receipt number held from `recipient` (0: none).
    pub fn last_receipt_number(&self, recipient: &NodeId) -> Result<u64, StoreError> {
        self.snapshot()?.last_receipt_number(recipient)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_kept_per_node_and_read_in_order() {
        let w = hotline_core::testkit::World::default();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(dir.path(), &w.charter, "FRA".parse().unwrap()).unwrap();
        let (a, b) = (NodeId([1; 32]), NodeId([2; 32]));
        assert_eq!(store.receipts_issued(&a).unwrap(), 0);
        assert_eq!(store.last_receipt_number(&a).unwrap(), 0);
        let mut batch = WriteBatch::new();
        batch.put_receipts_issued(&a, 7);
        for seq in [1u64, 2, 3, 300] {
            batch.put_receipt_number(&a, seq, MessageId([seq as u8; 16]));
        }
        batch.put_receipt_number(&b, 9, MessageId([9; 16]));
        store.write(batch).unwrap();
        assert_eq!(store.receipts_issued(&a).unwrap(), 7);
        assert_eq!(store.receipts_issued(&b).unwrap(), 0);
        assert_eq!(store.last_receipt_number(&a).unwrap(), 300);
        assert_eq!(store.last_receipt_number(&b).unwrap(), 9);
        let snap = store.snapshot().unwrap();
        assert_eq!(snap.receipt_number(&a, 2).unwrap(), Some(MessageId([2; 16])));
        assert_eq!(snap.receipt_number(&a, 4).unwrap(), None);
        let after = snap.receipt_numbers_after(&a, 1, 10).unwrap();
        assert_eq!(after, vec![(2, MessageId([2; 16])), (3, MessageId([3; 16])), (300, MessageId([44; 16]))]);
        assert_eq!(snap.receipt_numbers_after(&a, 1, 1).unwrap().len(), 1);
        assert!(snap.receipt_numbers_after(&a, u64::MAX, 10).unwrap().is_empty());
        drop(snap);
        let mut batch = WriteBatch::new();
        batch.delete_receipt_number(&a, 300);
        store.write(batch).unwrap();
        assert_eq!(store.last_receipt_number(&a).unwrap(), 3);
    }
}
