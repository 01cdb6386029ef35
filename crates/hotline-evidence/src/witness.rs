//! A witness's rule, and the proof of a log rewritten.
//!
//! A witness keeps, per node it witnesses, the last checkpoint it
//! cosigned, and cosigns a new one only if it extends it: a larger tree
//! with a consistency proof from the one cosigned. Two of a node's own
//! signed checkpoints can prove on their own that its log was rewritten:
//!
//! - **Fork**: the same size, different roots (two heads, or a head and a
//!   prefix claim);
//! - **Rollback**: two heads, the smaller signed at a later time (a log
//!   only grows, and a node signs heads of its log as it is, with times
//!   that never go back). A prefix claim has no time, so it never proves
//!   a rollback.
//!
//! Such a pair is an [`EquivocationProof`]: anyone holding the network id
//! checks it without trusting the witness. A larger tree without a valid
//! consistency proof is refused ([`Verdict::Inconsistent`]) but proves
//! nothing by itself: the node may only have sent a bad proof.

use crate::tree::check_consistency;
use crate::{Checkpoint, EvidenceError, SignedCheckpoint};
use hotline_core::{NetworkId, NodeId};
use tlog_tiles::Hash;

/// How a log was rewritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EquivocationKind {
    /// Two roots for one size.
    Fork,
    /// The log shrank: a smaller size signed later.
    Rollback,
}

impl EquivocationKind {
    /// A stable code.
    pub fn code(self) -> &'static str {
        match self {
            EquivocationKind::Fork => "fork",
            EquivocationKind::Rollback => "rollback",
        }
    }
}

/// Two checkpoints of one node's log that cannot both be honest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EquivocationProof {
    /// The earlier one (the one the witness had cosigned).
    pub first: SignedCheckpoint,
    /// The later one.
    pub second: SignedCheckpoint,
}

impl EquivocationProof {
    /// Checks the proof against `node`'s log in `network`: both signed by
    /// the node, and a fork or a rollback.
    pub fn verify(&self, network: &NetworkId, node: &NodeId) -> Result<EquivocationKind, EvidenceError> {
        let (a, _) = self.first.verify(network, node)?;
        let (b, _) = self.second.verify(network, node)?;
        contradiction(&a, &b).ok_or_else(|| {
            let at = |c: &Checkpoint| c.time.map_or("an earlier time".to_string(), |t| t.0.to_string());
            EvidenceError::NotEquivocation(format!(
                "size {} at {} and size {} at {} can both be true",
                a.size,
                at(&a),
                b.size,
                at(&b)
            ))
        })
    }
}

/// The contradiction between two checkpoints of one log, if any (two
/// epochs are two logs).
pub fn contradiction(a: &Checkpoint, b: &Checkpoint) -> Option<EquivocationKind> {
    if a.epoch != b.epoch {
        return None;
    }
    if a.size == b.size && a.root != b.root {
        return Some(EquivocationKind::Fork);
    }
    let (Some(ta), Some(tb)) = (a.time, b.time) else { return None };
    let (earlier, later) = if ta <= tb { ((a, ta), (b, tb)) } else { ((b, tb), (a, ta)) };
    (later.1 > earlier.1 && later.0.size < earlier.0.size).then_some(EquivocationKind::Rollback)
}

/// What a witness does with a node's new checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It extends the last one cosigned (or is the first): cosign it, and
    /// keep it as the last.
    Extends,
    /// Nothing new (the same tree again, or an older checkpoint arriving
    /// late): not cosigned again, nothing wrong.
    Stale,
    /// Larger, but the proof does not show it extends the last one: refused.
    Inconsistent,
    /// The log was rewritten: the proof, for every member to see.
    Equivocation(EquivocationProof),
}

/// Judges `new` (verified: `new_checkpoint`) against the last checkpoint
/// cosigned for the same node, `last`, with the node's consistency
/// `proof` from the last size to the new one.
pub fn judge(
    last: Option<(&SignedCheckpoint, &Checkpoint)>,
    new: &SignedCheckpoint,
    new_checkpoint: &Checkpoint,
    proof: &[Hash],
) -> Verdict {
    if new_checkpoint.time.is_none() {
        // A prefix claim is evidence, never a head to cosign.
        return Verdict::Stale;
    }
    let Some((last_signed, last)) = last else { return Verdict::Extends };
    // A new epoch is a new log (a declared restore); an older one is over.
    if new_checkpoint.epoch != last.epoch {
        return if new_checkpoint.epoch > last.epoch { Verdict::Extends } else { Verdict::Stale };
    }
    if contradiction(last, new_checkpoint).is_some() {
        return Verdict::Equivocation(EquivocationProof { first: last_signed.clone(), second: new.clone() });
    }
    // The same tree signed again later (a node that stays idle re-signs
    // its head): nothing to prove.
    if new_checkpoint.size == last.size && new_checkpoint.root == last.root && new_checkpoint.time > last.time {
        return Verdict::Extends;
    }
    if new_checkpoint.size <= last.size {
        return Verdict::Stale;
    }
    match check_consistency(proof, new_checkpoint.size, new_checkpoint.root, last.size, last.root) {
        Ok(()) => Verdict::Extends,
        Err(_) => Verdict::Inconsistent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{MemoryLog, consistency_proof, root};
    use hotline_core::{SecretKey, Timestamp};

    struct Node {
        key: SecretKey,
        log: MemoryLog,
        net: NetworkId,
    }

    impl Node {
        fn new() -> Node {
            Node { key: SecretKey::from_seed(&[1; 32]), log: MemoryLog::default(), net: NetworkId([3; 32]) }
        }

        fn grow(&mut self, n: u64, salt: u8) {
            for i in 0..n {
                let mut data = i.to_be_bytes().to_vec();
                data.push(salt);
                self.log.append(tlog_tiles::record_hash(&data)).unwrap();
            }
        }

        fn checkpoint(&self, time: u64) -> (SignedCheckpoint, Checkpoint) {
            let size = self.log.size();
            let cp = Checkpoint {
                node: self.key.node_id(),
                epoch: 0,
                size,
                root: root(size, &self.log).unwrap(),
                time: Some(Timestamp(time)),
            };
            (SignedCheckpoint::sign(&cp, &self.key, &self.net).unwrap(), cp)
        }
    }

    #[test]
    fn a_witness_cosigns_extensions_and_catches_a_rollback_and_a_fork() {
        let mut node = Node::new();
        node.grow(100, 0);
        let (first, first_cp) = node.checkpoint(10);
        assert_eq!(judge(None, &first, &first_cp, &[]), Verdict::Extends);
        node.grow(20, 1);
        let (second, second_cp) = node.checkpoint(20);
        let proof = consistency_proof(120, 100, &node.log).unwrap();
        assert_eq!(judge(Some((&first, &first_cp)), &second, &second_cp, &proof), Verdict::Extends);
        assert_eq!(judge(Some((&second, &second_cp)), &first, &first_cp, &[]), Verdict::Stale, "late, not a rollback");
        assert_eq!(judge(Some((&first, &first_cp)), &second, &second_cp, &[]), Verdict::Inconsistent);

        // The store put back to 60 leaves: a checkpoint of 60 signed later.
        let mut rolled = Node::new();
        rolled.grow(60, 0);
        let (back, back_cp) = rolled.checkpoint(30);
        let Verdict::Equivocation(proof) = judge(Some((&second, &second_cp)), &back, &back_cp, &[]) else {
            panic!("a rollback must be caught")
        };
        assert_eq!(proof.verify(&node.net, &node.key.node_id()), Ok(EquivocationKind::Rollback));
        // Then it grows again, other leaves, to 120: a fork.
        rolled.grow(60, 9);
        let (fork, fork_cp) = rolled.checkpoint(40);
        let Verdict::Equivocation(proof) = judge(Some((&second, &second_cp)), &fork, &fork_cp, &[]) else {
            panic!("a fork must be caught")
        };
        assert_eq!(proof.verify(&node.net, &node.key.node_id()), Ok(EquivocationKind::Fork));
        // Two honest checkpoints are no proof; nor are another node's.
        let honest = EquivocationProof { first: first.clone(), second: second.clone() };
        assert!(matches!(honest.verify(&node.net, &node.key.node_id()), Err(EvidenceError::NotEquivocation(_))));
        assert!(proof.verify(&node.net, &SecretKey::from_seed(&[2; 32]).node_id()).is_err());
    }

    #[test]
    fn a_prefix_claim_proves_a_fork_but_never_a_rollback() {
        let mut node = Node::new();
        node.grow(100, 0);
        let (head, head_cp) = node.checkpoint(10);
        // The honest node's own word on its log at 60, given later: no proof.
        let claim_cp = Checkpoint { size: 60, root: root(60, &node.log).unwrap(), time: None, ..head_cp };
        let claim = SignedCheckpoint::sign(&claim_cp, &node.key, &node.net).unwrap();
        let pair = EquivocationProof { first: head.clone(), second: claim };
        assert!(matches!(pair.verify(&node.net, &node.key.node_id()), Err(EvidenceError::NotEquivocation(_))));
        assert_eq!(judge(Some((&head, &head_cp)), &pair.second, &claim_cp, &[]), Verdict::Stale);
        // A claim of another root at the size cosigned: a fork.
        let forged_cp = Checkpoint { root: root(99, &node.log).unwrap(), size: 100, time: None, ..head_cp };
        let forged = SignedCheckpoint::sign(&forged_cp, &node.key, &node.net).unwrap();
        let pair = EquivocationProof { first: head.clone(), second: forged };
        assert_eq!(pair.verify(&node.net, &node.key.node_id()), Ok(EquivocationKind::Fork));
        // The same head signed again later: cosigned, no proof needed.
        let (later, later_cp) = node.checkpoint(20);
        assert_eq!(judge(Some((&head, &head_cp)), &later, &later_cp, &[]), Verdict::Extends);
    }

    #[test]
    fn a_declared_restore_starts_a_new_log_not_a_rollback() {
        let mut node = Node::new();
        node.grow(100, 0);
        let (first, first_cp) = node.checkpoint(10);
        let mut restored = Node::new();
        restored.grow(60, 0);
        let size = restored.log.size();
        let cp = Checkpoint {
            node: restored.key.node_id(),
            epoch: 1,
            size,
            root: root(size, &restored.log).unwrap(),
            time: Some(Timestamp(20)),
        };
        let signed = SignedCheckpoint::sign(&cp, &restored.key, &restored.net).unwrap();
        assert_eq!(judge(Some((&first, &first_cp)), &signed, &cp, &[]), Verdict::Extends);
        // And the old epoch's checkpoints are over, not a contradiction.
        assert_eq!(judge(Some((&signed, &cp)), &first, &first_cp, &[]), Verdict::Stale);
        let pair = EquivocationProof { first, second: signed };
        assert!(pair.verify(&node.net, &node.key.node_id()).is_err());
    }
}
