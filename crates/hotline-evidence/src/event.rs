//! The events a node's evidence log commits to.

use hotline_core::{NetworkId, NodeId};
use serde::{Deserialize, Serialize};
use tlog_tiles::Hash;

/// Prefix of every leaf's data: the leaf format, then the network id, so
/// that no leaf of one network or format is a leaf of another.
const LEAF_CONTEXT: &[u8] = b"hotline/v1/evidence-leaf";

/// One event of a node's exchanges. Ids and hashes only: the log shows
/// that something happened and commits to what it was, never what a
/// message said (its envelope's hash stands for it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EvidenceEvent {
    /// This node queued message `msg_id` for node `to` (the decision to
    /// send; the envelopes are sealed later, and the receipt names the one
    /// delivered).
    MessageSent {
        /// The message.
        msg_id: [u8; 16],
        /// The receiving node.
        to: NodeId,
    },
    /// This node stored message `msg_id`, delivered by `from` in the
    /// envelope with hash `envelope_hash`, and receipted it.
    MessageReceived {
        /// The message.
        msg_id: [u8; 16],
        /// The sending node.
        from: NodeId,
        /// The envelope that carried it.
        envelope_hash: [u8; 32],
        /// The receipt this node signed, by hash.
        receipt_hash: [u8; 32],
    },
    /// This node holds `by`'s receipt for message `msg_id`.
    ReceiptHeld {
        /// The message.
        msg_id: [u8; 16],
        /// The node that signed the receipt.
        by: NodeId,
        /// The receipt, by hash.
        receipt_hash: [u8; 32],
    },
    /// Message `ack_id` acknowledges message `msg_id` (sent or received
    /// here).
    Acknowledged {
        /// The message acknowledged.
        msg_id: [u8; 16],
        /// The acknowledgement.
        ack_id: [u8; 16],
    },
    /// This node, the initiator of communication check `comcheck_id`,
    /// issued its signed report (the full one, by hash) and sent the
    /// targets their copies (each copy is a message, logged as sent).
    ComcheckReport {
        /// The check.
        comcheck_id: [u8; 16],
        /// The signed report's wire bytes, by [`digest`].
        report_hash: [u8; 32],
    },
}

/// The digest by which an event names a receipt or other bytes: SHA-256
/// over `0x00 ‖ bytes`, as a leaf is hashed (RFC 6962).
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    tlog_tiles::record_hash(bytes).0
}

impl EvidenceEvent {
    /// The leaf data: `LEAF_CONTEXT ‖ network ‖ postcard(event)`.
    pub fn leaf_data(&self, network: &NetworkId) -> Vec<u8> {
        let mut out = Vec::with_capacity(LEAF_CONTEXT.len() + 32 + 96);
        out.extend_from_slice(LEAF_CONTEXT);
        out.extend_from_slice(&network.0);
        // Fixed-size fields only: the encoding cannot fail.
        out.extend_from_slice(&postcard::to_allocvec(self).unwrap_or_default());
        out
    }

    /// The leaf's hash: the RFC 6962 record hash of [`Self::leaf_data`].
    pub fn leaf_hash(&self, network: &NetworkId) -> Hash {
        tlog_tiles::record_hash(&self.leaf_data(network))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leaf_binds_its_network_and_every_field() {
        let net = NetworkId([1; 32]);
        let event = EvidenceEvent::ReceiptHeld { msg_id: [2; 16], by: NodeId([3; 32]), receipt_hash: [4; 32] };
        let leaf = event.leaf_hash(&net);
        assert_ne!(leaf, event.leaf_hash(&NetworkId([9; 32])));
        let other = EvidenceEvent::ReceiptHeld { msg_id: [2; 16], by: NodeId([3; 32]), receipt_hash: [5; 32] };
        assert_ne!(leaf, other.leaf_hash(&net));
        // A vector: the leaf hash is part of the wire contract (docs/protocol.md).
        assert_eq!(hex::encode(leaf.0), "e2a113b93ab66f1aa5ddc67fb8fc9f664a7959f5dd795a11dee48a410bf8979b");
    }
}
