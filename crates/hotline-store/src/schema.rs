//! The database schema: table names, meta keys and row encodings.
//!
//! The schema (version 5; see [`SCHEMA_VERSION`]) has three tables:
//!
//! | table     | key                                      | value                              |
//! |-----------|------------------------------------------|------------------------------------|
//! | `meta`    | name (text)                              | bytes, see [`meta`]                |
//! | `slots`   | `ObjectKey::to_bytes()`                  | [`SlotRow`]: winner + evidence     |
//! | `history` | `ObjectKey bytes ‖ seq (u64 BE) ‖ hash`  | [`HistoryRow`]: object + flags     |
//!
//! The messaging tables, added in the same schema version (a store written
//! before them simply lacks them, and they are created by the first write):
//!
//! | table      | key                          | value                                        |
//! |------------|------------------------------|----------------------------------------------|
//! | `messages` | msg_id (16 bytes)            | [`crate::MessageRow`]: a message sent or received |
//! | `cases`    | case_id ‖ msg_id             | empty: the thread index                      |
//! | `outbox`   | msg_id ‖ recipient node (32) | [`crate::OutboxRow`]: an envelope not yet receipted |
//! | `receipts` | msg_id ‖ recipient node (32) | a verified delivery receipt, in wire form    |
//! | `secrets`  | name (text)                  | secret bytes (the prekey ring)               |
//! | `comchecks`| comcheck id (16 bytes)       | the initiator's state of one check (the node's type, the store's row format) |
//! | `comcheck_schedules` | schedule id (16 bytes) | a periodic check (likewise)                  |
//! | `mailbox`  | direction ‖ at (u64 BE) ‖ msg_id | empty: messages newest first (`crate::mailbox`) |
//! | `unread`   | at (u64 BE) ‖ msg_id         | empty: received messages no person displayed |
//! | `health`   | `probe`                      | the time of the last health probe (u64 BE): `GET /health` writes it |
//! | `replies`  | parent msg_id ‖ replying state (3 bytes) ‖ msg_id | empty: which state answered a message (`crate::mailbox`) |
//! | `cancelled`| msg_id (16 bytes)            | when the sender cancelled the message's queued deliveries (u64 BE) |
//! | `mailbox_role` | role ‖ 0 ‖ direction ‖ at (u64 BE) ‖ msg_id | empty: `mailbox` by the point of contact's role (received: the role written to; sent: the role written from) |
//! | `unread_role`  | role ‖ 0 ‖ at (u64 BE) ‖ msg_id | empty: `unread` by the role written to |
//! | `receipts_issued` | sender node (32) | the last receipt number this node issued to that sender (u64 BE; `crate::receipt_numbers`) |
//! | `receipt_numbers` | recipient node (32) ‖ number (u64 BE) | the message (16 bytes) of the numbered receipt held from that recipient |
//! | `evidence_hashes` | stored-hash index (u64 BE) | a hash of the evidence log's Merkle tree (32 bytes; `crate::evidence`) |
//! | `evidence_leaves` | leaf hash (32) | the leaf's index in the evidence log (u64 BE) |
//! | `evidence` | `size` / `checkpoint` | the evidence log's size (u64 BE) / its latest signed checkpoint (note bytes) |
//! | `witnessed` | node (32) | the latest checkpoint of that node's log this node cosigned, as a witness (note bytes) |
//! | `equivocations` | node (32) | proof that that node rewrote its log: two checkpoints (`crate::evidence`) |
//! | `withdrawn` | msg_id ‖ recipient node (32) | [`crate::Withdrawal`]: a queued delivery taken off a node its state no longer lists (revoked or left out of its record), when (u64 BE), and the nodes the message went to instead (32 bytes each) |
//!
//! Rows are encoded with `hotline_core::encoding` behind a one-byte row
//! format, so a row can change shape without a new schema version, and every
//! decode is bounded. Objects inside rows are kept in their wire form
//! (`DirectoryObject::to_bytes`), so the database holds exactly the bytes
//! the signatures cover.
//!
//! The name `audit` is reserved for the tables that later
//! versions add; a schema change that needs a migration bumps
//! [`SCHEMA_VERSION`].

use hotline_core::directory::Entry;
use hotline_core::encoding::{self, DecodeError};
use hotline_core::limits::{MAX_EVIDENCE, MAX_OBJECT_BYTES};
use hotline_core::{DirectoryObject, ObjectHash, Timestamp};
use redb::TableDefinition;
use serde::{Deserialize, Serialize};

/// The store schema version this build writes, and the newest it reads.
///
/// Version 2 keys node revocation slots by state and node
/// (`rev-node/STATE/NODE`); `crate::migrate` upgrades a version 1 store
/// when it is opened. Version 3 adds the mailbox indexes (`mailbox`,
/// `unread`), built from the messages by the upgrade; version 4 the
/// replies index (`replies`), likewise; version 5 the mailbox indexes by
/// role (`mailbox_role`, `unread_role`), likewise.
pub const SCHEMA_VERSION: u32 = 5;

/// Identifies a Hotline store among redb files.
pub(crate) const MAGIC: &[u8] = b"hotline-store";

/// Store-wide facts, written once at creation (and the history counter).
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// One row per occupied directory slot: its current content.
pub(crate) const SLOTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("slots");
/// One row per object ever accepted, never deleted.
pub(crate) const HISTORY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("history");

/// Keys of the `meta` table.
pub(crate) mod meta {
    /// [`super::MAGIC`].
    pub(crate) const MAGIC: &str = "magic";
    /// [`super::SCHEMA_VERSION`] as a big-endian u32.
    pub(crate) const SCHEMA: &str = "schema_version";
    /// The 32-byte network id.
    pub(crate) const NETWORK: &str = "network_id";
    /// The node's state, as its three ASCII letters.
    pub(crate) const STATE: &str = "state";
    /// `SignedCharter::to_bytes`.
    pub(crate) const CHARTER: &str = "charter";
    /// The next history sequence number, a big-endian u64. Kept in the
    /// database rather than derived from the history table, so that it stays
    /// monotonic however the table's keys sort.
    pub(crate) const HISTORY_NEXT: &str = "history_next";
}

/// The messaging tables, which all map bytes to bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    Messages,
    Cases,
    Outbox,
    Receipts,
    Secrets,
    Comchecks,
    Schedules,
    Mailbox,
    Unread,
    Health,
    Replies,
    Cancelled,
    MailboxRole,
    UnreadRole,
    Withdrawn,
    ReceiptsIssued,
    ReceiptNumbers,
    EvidenceHashes,
    EvidenceLeaves,
    Evidence,
    Witnessed,
    Equivocations,
}

impl Table {
    /// How many messaging tables there are.
    pub(crate) const COUNT: usize = 22;
    /// Every messaging table.
    pub(crate) const ALL: [Table; Table::COUNT] = [
        Table::Messages,
        Table::Cases,
        Table::Outbox,
        Table::Receipts,
        Table::Secrets,
        Table::Comchecks,
        Table::Schedules,
        Table::Mailbox,
        Table::Unread,
        Table::Health,
        Table::Replies,
        Table::Cancelled,
        Table::MailboxRole,
        Table::UnreadRole,
        Table::Withdrawn,
        Table::ReceiptsIssued,
        Table::ReceiptNumbers,
        Table::EvidenceHashes,
        Table::EvidenceLeaves,
        Table::Evidence,
        Table::Witnessed,
        Table::Equivocations,
    ];

    pub(crate) fn definition(self) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
        TableDefinition::new(self.name())
    }

    /// The table's name in the database.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::Messages => "messages",
            Table::Cases => "cases",
            Table::Outbox => "outbox",
            Table::Receipts => "receipts",
            Table::Secrets => "secrets",
            Table::Comchecks => "comchecks",
            Table::Schedules => "comcheck_schedules",
            Table::Mailbox => "mailbox",
            Table::Unread => "unread",
            Table::Health => "health",
            Table::Replies => "replies",
            Table::Cancelled => "cancelled",
            Table::MailboxRole => "mailbox_role",
            Table::UnreadRole => "unread_role",
            Table::Withdrawn => "withdrawn",
            Table::ReceiptsIssued => "receipts_issued",
            Table::ReceiptNumbers => "receipt_numbers",
            Table::EvidenceHashes => "evidence_hashes",
            Table::EvidenceLeaves => "evidence_leaves",
            Table::Evidence => "evidence",
            Table::Witnessed => "witnessed",
            Table::Equivocations => "equivocations",
        }
    }
}

const SLOT_FORMAT: u8 = 1;
const HISTORY_FORMAT: u8 = 1;

/// Room for the length prefixes and format byte around the objects of a row.
const ROW_OVERHEAD: usize = 64;
/// A slot holds a winner and at most [`MAX_EVIDENCE`] siblings.
const MAX_SLOT_ROW_BYTES: usize = (1 + MAX_EVIDENCE) * (MAX_OBJECT_BYTES + 8) + ROW_OVERHEAD;
const MAX_HISTORY_ROW_BYTES: usize = MAX_OBJECT_BYTES + ROW_OVERHEAD;

/// A slot's content: the winner and the evidence, in wire form.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SlotRow {
    pub winner: Vec<u8>,
    pub evidence: Vec<Vec<u8>>,
}

impl SlotRow {
    pub(crate) fn from_entry(entry: &Entry) -> SlotRow {
        SlotRow { winner: entry.object.to_bytes(), evidence: entry.evidence.iter().map(|o| o.to_bytes()).collect() }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        encoding::encode_versioned(SLOT_FORMAT, self)
    }

    /// Decodes a row and the objects in it.
    pub(crate) fn decode_objects(bytes: &[u8]) -> Result<(DirectoryObject, Vec<DirectoryObject>), DecodeError> {
        let row: SlotRow = encoding::decode_versioned("slot row", SLOT_FORMAT, bytes, MAX_SLOT_ROW_BYTES)?;
        if row.evidence.len() > MAX_EVIDENCE {
            return Err(DecodeError::Invalid {
                what: "slot row",
                detail: format!("{} evidence objects, the limit is {MAX_EVIDENCE}", row.evidence.len()),
            });
        }
        let winner = DirectoryObject::from_bytes(&row.winner)?;
        let evidence = row.evidence.iter().map(|b| DirectoryObject::from_bytes(b)).collect::<Result<Vec<_>, _>>()?;
        Ok((winner, evidence))
    }
}

/// One accepted object, as the history keeps it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct HistoryRow {
    /// When this node accepted it (the caller's clock).
    pub accepted_at: Timestamp,
    /// Whether it became the slot's winner (else it was kept as evidence).
    pub winner: bool,
    /// The object, in wire form.
    pub object: Vec<u8>,
}

impl HistoryRow {
    pub(crate) fn encode(&self) -> Vec<u8> {
        encoding::encode_versioned(HISTORY_FORMAT, self)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<HistoryRow, DecodeError> {
        encoding::decode_versioned("history row", HISTORY_FORMAT, bytes, MAX_HISTORY_ROW_BYTES)
    }
}

/// The history key of an object. The canonical `ObjectKey` encoding is
/// self-delimiting, so no slot's encoding is a prefix of another's, and a
/// prefix scan over one slot's bytes finds exactly that slot's history,
/// ordered by `seq`.
pub(crate) fn history_key(object_key: &[u8], seq: u64, hash: &ObjectHash) -> Vec<u8> {
    let mut key = Vec::with_capacity(object_key.len() + 8 + 32);
    key.extend_from_slice(object_key);
    key.extend_from_slice(&seq.to_be_bytes());
    key.extend_from_slice(&hash.0);
    key
}

/// Splits the suffix of a history key (after the object key) into its
/// sequence number and hash.
pub(crate) fn history_key_suffix(suffix: &[u8]) -> Option<(u64, ObjectHash)> {
    let (seq, hash) = suffix.split_first_chunk::<8>()?;
    let hash: [u8; 32] = hash.try_into().ok()?;
    Some((u64::from_be_bytes(*seq), ObjectHash(hash)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_key_round_trip() {
        let hash = ObjectHash([7; 32]);
        let key = history_key(b"abc", 0x0102_0304_0506_0708, &hash);
        assert_eq!(history_key_suffix(&key[3..]), Some((0x0102_0304_0506_0708, hash)));
        assert_eq!(history_key_suffix(&key[2..]), None);
        assert_eq!(history_key_suffix(&key[4..]), None);
    }

    #[test]
    fn garbage_rows_are_errors_not_panics() {
        assert!(SlotRow::decode_objects(&[]).is_err());
        assert!(SlotRow::decode_objects(&[1, 0xff, 0xff, 0xff]).is_err());
        assert!(SlotRow::decode_objects(&vec![1; MAX_SLOT_ROW_BYTES + 1]).is_err());
        assert!(HistoryRow::decode(&[9, 0, 0]).is_err());
        assert!(HistoryRow::decode(&[1, 0, 2, 0]).is_err());
    }
}
