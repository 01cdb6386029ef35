//! The Merkle tree over a log's leaves (RFC 6962/9162), through
//! `tlog_tiles`: each leaf stores the hashes [`hashes_to_store`] returns, at
//! consecutive stored-hash indexes from `tlog_tiles::stored_hash_index(0,
//! n)`; roots and proofs read them back through a [`HashReader`].
//!
//! The checks bound their inputs before `tlog_tiles` sees them (its
//! functions may panic on arguments out of range), so a proof from the
//! network can only be refused, never crash the node.

use crate::EvidenceError;
use tlog_tiles::{Hash, HashReader};

/// Most hashes a proof may hold: a tree of 2^63 leaves needs 126.
pub const MAX_PROOF_HASHES: usize = 128;

/// The root of the empty tree (RFC 6962: the hash of the empty string).
pub const EMPTY_ROOT: Hash = tlog_tiles::EMPTY_HASH;

/// What a [`HashReader`] returns when it cannot give a hash.
pub use tlog_tiles::Error as TreeError;

/// The RFC 6962 hash of a leaf's data.
pub fn record_hash(data: &[u8]) -> Hash {
    tlog_tiles::record_hash(data)
}

fn reading(e: tlog_tiles::Error) -> EvidenceError {
    EvidenceError::OutOfRange(format!("the log's hashes cannot be read: {e}"))
}

/// The hashes to store when appending leaf number `n` (counted from 0)
/// whose hash is `leaf`, reading earlier ones from `reader`.
pub fn hashes_to_store<R: HashReader>(n: u64, leaf: Hash, reader: &R) -> Result<Vec<Hash>, EvidenceError> {
    tlog_tiles::stored_hashes_for_record_hash(n, leaf, reader).map_err(reading)
}

/// Where the first hash of leaf `n` is stored.
pub fn first_index(n: u64) -> u64 {
    tlog_tiles::stored_hash_index(0, n)
}

/// The root of the tree of the first `size` leaves.
pub fn root<R: HashReader>(size: u64, reader: &R) -> Result<Hash, EvidenceError> {
    tlog_tiles::tree_hash(size, reader).map_err(reading)
}

/// The proof that leaf `index` is in the tree of size `size`.
pub fn inclusion_proof<R: HashReader>(size: u64, index: u64, reader: &R) -> Result<Vec<Hash>, EvidenceError> {
    if index >= size {
        return Err(EvidenceError::OutOfRange(format!("leaf {index} is not in a tree of {size}")));
    }
    tlog_tiles::prove_record(size, index, reader).map_err(reading)
}

/// The proof that the tree of size `new_size` extends the one of size
/// `old_size`.
pub fn consistency_proof<R: HashReader>(new_size: u64, old_size: u64, reader: &R) -> Result<Vec<Hash>, EvidenceError> {
    if old_size > new_size {
        return Err(EvidenceError::OutOfRange(format!("a tree of {old_size} is not a prefix of one of {new_size}")));
    }
    if old_size == 0 {
        // The empty tree is a prefix of every tree: nothing to prove.
        return Ok(Vec::new());
    }
    tlog_tiles::prove_tree(new_size, old_size, reader).map_err(reading)
}

/// Checks that `leaf` is leaf `index` of the tree of size `size` and root
/// `root`.
pub fn check_inclusion(proof: &[Hash], size: u64, root: Hash, index: u64, leaf: Hash) -> Result<(), EvidenceError> {
    if index >= size {
        return Err(EvidenceError::OutOfRange(format!("leaf {index} is not in a tree of {size}")));
    }
    if proof.len() > MAX_PROOF_HASHES {
        return Err(EvidenceError::TooLarge { what: "an inclusion proof", len: proof.len(), max: MAX_PROOF_HASHES });
    }
    tlog_tiles::check_record(&proof.to_vec(), size, root, index, leaf)
        .map_err(|_| EvidenceError::BadProof { what: "inclusion" })
}

/// Checks that the tree of size `new_size` and root `new_root` extends the
/// one of size `old_size` and root `old_root`.
pub fn check_consistency(
    proof: &[Hash],
    new_size: u64,
    new_root: Hash,
    old_size: u64,
    old_root: Hash,
) -> Result<(), EvidenceError> {
    if old_size > new_size {
        return Err(EvidenceError::OutOfRange(format!("a tree of {old_size} is not a prefix of one of {new_size}")));
    }
    if proof.len() > MAX_PROOF_HASHES {
        return Err(EvidenceError::TooLarge { what: "a consistency proof", len: proof.len(), max: MAX_PROOF_HASHES });
    }
    if old_size == 0 {
        // The empty tree is a prefix of every tree.
        return Ok(());
    }
    tlog_tiles::check_tree(&proof.to_vec(), new_size, new_root, old_size, old_root)
        .map_err(|_| EvidenceError::BadProof { what: "consistency" })
}

/// A log held in memory: for tests, and for a verifier rebuilding a tree.
#[derive(Clone, Debug, Default)]
pub struct MemoryLog {
    hashes: Vec<Hash>,
    size: u64,
}

impl MemoryLog {
    /// Appends a leaf; returns its index.
    pub fn append(&mut self, leaf: Hash) -> Result<u64, EvidenceError> {
        let n = self.size;
        let new = hashes_to_store(n, leaf, self)?;
        self.hashes.extend(new);
        self.size += 1;
        Ok(n)
    }

    /// Leaves appended.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl HashReader for MemoryLog {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|i| usize::try_from(*i).ok().and_then(|i| self.hashes.get(i)).copied())
            .collect::<Option<Vec<Hash>>>()
            .ok_or(tlog_tiles::Error::IndexesNotInTree)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaf(i: u64) -> Hash {
        tlog_tiles::record_hash(&i.to_be_bytes())
    }

    fn log_of(n: u64) -> MemoryLog {
        let mut log = MemoryLog::default();
        for i in 0..n {
            log.append(leaf(i)).unwrap();
        }
        log
    }

    proptest! {
        #[test]
        fn every_leaf_is_proven_in_and_every_prefix_extends(n in 1u64..200, i in 0u64..200, m in 0u64..200) {
            let log = log_of(n);
            let root_n = root(n, &log).unwrap();
            let i = i % n;
            let proof = inclusion_proof(n, i, &log).unwrap();
            prop_assert!(check_inclusion(&proof, n, root_n, i, leaf(i)).is_ok());
            prop_assert!(check_inclusion(&proof, n, root_n, i, leaf(i + 1)).is_err());
            let m = m % (n + 1);
            let root_m = root(m, &log).unwrap();
            let proof = consistency_proof(n, m, &log).unwrap();
            prop_assert!(check_consistency(&proof, n, root_n, m, root_m).is_ok());
            if m > 0 && m < n {
                // Another log's prefix of the same size does not extend to this one.
                let mut other = log_of(m - 1);
                other.append(leaf(1_000)).unwrap();
                let other_root = root(m, &other).unwrap();
                prop_assert!(check_consistency(&proof, n, root_n, m, other_root).is_err());
            }
        }

        #[test]
        fn hostile_proofs_are_refused_never_a_panic(
            size in 0u64..u64::MAX, index in 0u64..u64::MAX, old in 0u64..u64::MAX, len in 0usize..140
        ) {
            let proof = vec![leaf(7); len];
            let _ = check_inclusion(&proof, size, leaf(1), index, leaf(2));
            let _ = check_consistency(&proof, size, leaf(1), old, leaf(2));
        }
    }

    #[test]
    fn the_root_matches_rfc_6962() {
        assert_eq!(root(0, &MemoryLog::default()).unwrap(), tlog_tiles::EMPTY_HASH);
        let log = log_of(3);
        // RFC 6962 2.1: MTH(D[3]) = H(1 ‖ MTH(D[0:2]) ‖ MTH(D[2:3])).
        let left = tlog_tiles::node_hash(leaf(0), leaf(1));
        assert_eq!(root(3, &log).unwrap(), tlog_tiles::node_hash(left, leaf(2)));
    }
}
