//! Reading the evidence log from the store (off the actor): the view of
//! `GET /v1/evidence`.

use crate::api_types::{CheckpointView, EquivocationView, EvidenceView};
use crate::error::NodeError;
use crate::mailbox::MailReads;
use hotline_core::NodeId;
use hotline_evidence::{EquivocationProof, SignedCheckpoint};

impl MailReads {
    /// The evidence log of node `me`, as stored.
    pub(crate) fn evidence(&self, me: &NodeId) -> Result<EvidenceView, NodeError> {
        let network = &self.store().network_id();
        let snap = self.store().snapshot()?;
        let size = snap.evidence_size()?;
        let root = snap.evidence_root(size)?;
        let checkpoint = match snap.checkpoint()? {
            Some(signed) => match signed.verify(network, me) {
                Ok((cp, cosigs)) => Some(CheckpointView {
                    size: cp.size,
                    root: hex::encode(cp.root.0),
                    signed_at: cp.time.unwrap_or(hotline_core::Timestamp(0)),
                    cosigned_by: cosigs.iter().map(|c| (c.witness.to_peer_id(), c.time)).collect(),
                    note: String::from_utf8_lossy(signed.as_bytes()).into_owned(),
                }),
                // Signed by a key this node no longer has (a rotation):
                // the next tick signs anew.
                Err(_) => None,
            },
            None => None,
        };
        let mut equivocations = Vec::new();
        for (node, row) in snap.equivocations()? {
            let (Ok(first), Ok(second)) =
                (SignedCheckpoint::from_bytes(&row.first), SignedCheckpoint::from_bytes(&row.second))
            else {
                continue;
            };
            let proof = EquivocationProof { first, second };
            let kind = match proof.verify(network, &node) {
                Ok(kind) => kind.code().to_string(),
                Err(_) => continue,
            };
            equivocations.push(EquivocationView {
                node: node.to_peer_id(),
                kind,
                seen_at: row.seen_at,
                first: String::from_utf8_lossy(&row.first).into_owned(),
                second: String::from_utf8_lossy(&row.second).into_owned(),
            });
        }
        Ok(EvidenceView {
            node: me.to_peer_id(),
            epoch: snap.evidence_epoch()?,
            size,
            root: hex::encode(root.0),
            checkpoint,
            equivocations,
        })
    }
}
