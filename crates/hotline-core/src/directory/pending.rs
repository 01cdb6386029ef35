//! The pending set: objects that wait for a parent (a record for its
//! state's admission, a prekey bundle for a record listing its node).
//!
//! Everything here is bounded, because what waits came from outside: the
//! whole set, each source's share, each state's share, and each entry's
//! lifetime. Entries are indexed by the state they belong to, because every
//! reason to wait names that state (`Waiting`), so an accepted object of
//! state S re-checks only S's waiting objects: the cost of an apply does not
//! grow with the number of unrelated objects that wait.

use crate::DirectoryObject;
use crate::ids::{NodeId, ObjectHash, StateCode};
use crate::limits::{
    MAX_PENDING, MAX_PENDING_PER_SOURCE, MAX_PENDING_PER_SOURCE_STATE, MAX_PENDING_PER_STATE, PENDING_LIFETIME_SECS,
};
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// One waiting object.
#[derive(Clone, Debug)]
struct Parked {
    object: DirectoryObject,
    /// The member node it came from, with that node's state; `None` for
    /// this node's own operator.
    source: Option<(NodeId, StateCode)>,
    since: Timestamp,
}

/// Why an object could not be parked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Full {
    /// The whole set is full.
    Total,
    /// The source has its share waiting already.
    Source,
    /// The source's state has its share of the object's state waiting
    /// already: one state cannot use up another's share.
    SourceState,
    /// The object's state has its share waiting already.
    State,
}

/// The bounded, indexed pending set.
#[derive(Clone, Debug, Default)]
pub(super) struct PendingSet {
    entries: BTreeMap<ObjectHash, Parked>,
    by_state: BTreeMap<StateCode, BTreeSet<ObjectHash>>,
    by_time: BTreeSet<(Timestamp, ObjectHash)>,
    per_source: BTreeMap<NodeId, usize>,
    /// Waiting objects by (the sending node's state, the object's state).
    per_source_state: BTreeMap<(StateCode, StateCode), usize>,
}

impl PendingSet {
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn contains(&self, hash: &ObjectHash) -> bool {
        self.entries.contains_key(hash)
    }

    pub(super) fn get(&self, hash: &ObjectHash) -> Option<&DirectoryObject> {
        self.entries.get(hash).map(|p| &p.object)
    }

    /// Parks `object` unless that would exceed a bound.
    pub(super) fn insert(
        &mut self,
        hash: ObjectHash,
        object: DirectoryObject,
        source: Option<(NodeId, StateCode)>,
        now: Timestamp,
    ) -> Result<(), Full> {
        if self.entries.len() >= MAX_PENDING {
            return Err(Full::Total);
        }
        let state = object.state();
        if let Some((node, from)) = &source {
            if self.per_source.get(node).copied().unwrap_or(0) >= MAX_PENDING_PER_SOURCE {
                return Err(Full::Source);
            }
            if self.per_source_state.get(&(*from, state)).copied().unwrap_or(0) >= MAX_PENDING_PER_SOURCE_STATE {
                return Err(Full::SourceState);
            }
        }
        if self.by_state.get(&state).map_or(0, BTreeSet::len) >= MAX_PENDING_PER_STATE {
            return Err(Full::State);
        }
        if let Some((node, from)) = source {
            *self.per_source.entry(node).or_default() += 1;
            *self.per_source_state.entry((from, state)).or_default() += 1;
        }
        self.by_state.entry(state).or_default().insert(hash);
        self.by_time.insert((now, hash));
        self.entries.insert(hash, Parked { object, source, since: now });
        Ok(())
    }

    /// Removes one entry and its index entries.
    pub(super) fn remove(&mut self, hash: &ObjectHash) -> Option<DirectoryObject> {
        let parked = self.entries.remove(hash)?;
        let state = parked.object.state();
        if let Some(set) = self.by_state.get_mut(&state) {
            set.remove(hash);
            if set.is_empty() {
                self.by_state.remove(&state);
            }
        }
        self.by_time.remove(&(parked.since, *hash));
        if let Some((node, from)) = parked.source {
            if let Some(n) = self.per_source.get_mut(&node) {
                *n -= 1;
                if *n == 0 {
                    self.per_source.remove(&node);
                }
            }
            if let Some(n) = self.per_source_state.get_mut(&(from, state)) {
                *n -= 1;
                if *n == 0 {
                    self.per_source_state.remove(&(from, state));
                }
            }
        }
        Some(parked.object)
    }

    /// Drops the entries that have waited [`PENDING_LIFETIME_SECS`] or
    /// longer at `now`: sync fetches them again if their parent ever comes.
    pub(super) fn expire(&mut self, now: Timestamp) {
        while let Some(&(since, hash)) = self.by_time.first() {
            if since.plus(PENDING_LIFETIME_SECS) > now {
                return;
            }
            self.remove(&hash);
        }
    }

    /// The hashes of the entries of `state`, in hash order.
    pub(super) fn of_state(&self, state: StateCode) -> Vec<ObjectHash> {
        self.by_state.get(&state).map(|s| s.iter().copied().collect()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{IntoObject, T0, World};

    fn record(w: &World, code: &str, seq: u64) -> (ObjectHash, DirectoryObject) {
        let o = w.record(code, "policy", 1, seq).obj();
        (o.hash(&w.net), o)
    }

    #[test]
    fn bounds_per_source_and_per_state_and_indexes_by_state() {
        let w = World::default();
        let mut p = PendingSet::default();
        let nor: StateCode = "NOR".parse().unwrap_or_else(|e| panic!("{e}"));
        let mallory = (w.node_id("NOR", 0), nor);
        // One state's nodes share one share of each other state.
        for seq in 0..MAX_PENDING_PER_SOURCE_STATE as u64 {
            let (h, o) = record(&w, "FRA", seq);
            assert_eq!(p.insert(h, o, Some(mallory), T0), Ok(()));
        }
        let (h, o) = record(&w, "FRA", 9999);
        assert_eq!(p.insert(h, o, Some((w.node_id("NOR", 1), nor)), T0), Err(Full::SourceState));
        for seq in 0..(MAX_PENDING_PER_SOURCE - MAX_PENDING_PER_SOURCE_STATE) as u64 {
            let (h, o) = record(&w, "SWE", seq);
            assert_eq!(p.insert(h, o, Some(mallory), T0), Ok(()));
        }
        let (h, o) = record(&w, "DEU", 1);
        assert_eq!(p.insert(h, o.clone(), Some(mallory), T0), Err(Full::Source));
        // Another source still has room, for another state.
        let est = "EST".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.insert(h, o, Some((w.node_id("EST", 0), est)), T0), Ok(()));
        assert_eq!(p.of_state("DEU".parse().unwrap()), vec![h]);
        // The operator's own objects count against the state's share only.
        let mut seq = 10_000;
        while p.of_state("FRA".parse().unwrap()).len() < MAX_PENDING_PER_STATE {
            let (h, o) = record(&w, "FRA", seq);
            assert_eq!(p.insert(h, o, None, T0), Ok(()));
            seq += 1;
        }
        let (h, o) = record(&w, "FRA", seq);
        assert_eq!(p.insert(h, o, None, T0), Err(Full::State));
        // Removing gives the share back.
        let first = p.of_state("FRA".parse().unwrap())[0];
        assert!(p.remove(&first).is_some());
        assert_eq!(p.insert(h, record(&w, "FRA", seq).1, None, T0), Ok(()));
    }

    #[test]
    fn entries_expire_after_their_lifetime() {
        let w = World::default();
        let mut p = PendingSet::default();
        let (old, o) = record(&w, "FRA", 1);
        let deu = "DEU".parse().unwrap_or_else(|e| panic!("{e}"));
        p.insert(old, o, Some((w.node_id("DEU", 0), deu)), T0).unwrap_or_else(|e| panic!("{e:?}"));
        let (young, o) = record(&w, "FRA", 2);
        p.insert(young, o, None, T0.plus(60)).unwrap();
        p.expire(T0.plus(PENDING_LIFETIME_SECS - 1));
        assert_eq!(p.len(), 2);
        p.expire(T0.plus(PENDING_LIFETIME_SECS));
        assert!(!p.contains(&old) && p.contains(&young));
        assert!(p.per_source.is_empty() && p.per_source_state.is_empty(), "the source's share is given back");
        p.expire(T0.plus(PENDING_LIFETIME_SECS + 60));
        assert_eq!(p.len(), 0);
        assert!(p.by_state.is_empty() && p.by_time.is_empty());
    }
}
