//! The directory's own state inside the actor, and the rules that need
//! nothing else: which digest a peer may see, what a peer's objects count
//! as, who the members are, what gossip forwards, what a stranger may
//! still send. Time is given, and nothing here touches the network or the
//! store, so the rules are unit-tested below without a socket.

use super::super::{MAX_STRANGER_OBJECTS, member_peers};
use hotline_core::directory::{Digest, Source};
use hotline_core::{Applied, Change, Directory, NodeId, ObjectKey, StateCode, Timestamp};
use hotline_net::{DigestSummary, PeerId, node_id_of};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// The directory and what the node keeps about it.
pub(crate) struct DirectoryFeature {
    /// The verified copy of the directory.
    pub dir: Directory,
    /// The member set last given to the network.
    pub members: BTreeMap<PeerId, StateCode>,
    /// Peer ids of member nodes, converted once (see [`member_peers`]).
    pub peer_ids: HashMap<NodeId, PeerId>,
    /// See [`DirectoryFeature::digest_and_summary`]: directory generation,
    /// clock reading, the live digest and its summary.
    pub digest_cache: Option<(u64, Timestamp, Arc<Digest>, DigestSummary)>,
    /// Slots of our own state with a change applied in memory whose write
    /// is not yet durable, with how many such writes are in flight. Sync
    /// leaves them out of what it serves until they are durable.
    pub unsaved_own: HashMap<ObjectKey, usize>,
    /// Objects each connected stranger has sent (see `MAX_STRANGER_OBJECTS`).
    pub stranger_objects: HashMap<PeerId, usize>,
    /// Objects refused since start, by rejection code.
    pub rejections: BTreeMap<String, u64>,
    /// Nodes their state revoked that the network was told to block (see
    /// [`DirectoryFeature::revoked_changes`]).
    pub blocked_revoked: std::collections::HashSet<PeerId>,
}

impl DirectoryFeature {
    /// The directory loaded from the store, with the member set and peer
    /// ids computed at start.
    pub(crate) fn new(
        dir: Directory,
        members: BTreeMap<PeerId, StateCode>,
        peer_ids: HashMap<NodeId, PeerId>,
    ) -> DirectoryFeature {
        DirectoryFeature {
            dir,
            members,
            peer_ids,
            digest_cache: None,
            unsaved_own: HashMap::new(),
            stranger_objects: HashMap::new(),
            rejections: BTreeMap::new(),
            blocked_revoked: std::collections::HashSet::new(),
        }
    }

    /// How the nodes revoked by their state (live revocations) changed
    /// since last asked: those to block now, and those whose revocation is
    /// no longer live (their state's admission was revoked, say) to let in
    /// again. Remembers the blocked set.
    ///
    /// A node still a member for some state is never blocked: a state may
    /// list any node id in its records, so another state could otherwise
    /// list a node of yours, revoke it, and have every member cut it off.
    pub(crate) fn revoked_changes(&mut self, now: Timestamp) -> (Vec<PeerId>, Vec<PeerId>) {
        let revoked: std::collections::HashSet<PeerId> = self
            .dir
            .revoked_nodes(now)
            .into_iter()
            .filter(|(_, node)| !self.dir.is_member(node, now))
            .filter_map(|(_, node)| hotline_net::peer_id_of(&node).ok())
            .collect();
        let block: Vec<PeerId> = revoked.difference(&self.blocked_revoked).copied().collect();
        let unblock: Vec<PeerId> = self.blocked_revoked.difference(&revoked).copied().collect();
        self.blocked_revoked = revoked;
        (block, unblock)
    }

    /// The live directory's digest and its summary, shared and cached:
    /// every exchange and every digest request needs it, and in a quiet
    /// network it changes rarely. Recomputed when a slot changes, and when
    /// the clock (whole seconds) moves on, since expiry changes the live
    /// set without a slot changing. Our own objects whose write is not
    /// durable yet are left out.
    pub(crate) fn digest_and_summary(&mut self, now: Timestamp) -> (Arc<Digest>, DigestSummary) {
        let generation = self.dir.generation();
        if !self.unsaved_own.is_empty() {
            // Rare (our own record or bundle is being written) and brief:
            // not cached, since the commit changes it without a new generation.
            let mut digest = self.dir.digest(now);
            digest.retain(|key, _| !self.unsaved_own.contains_key(key));
            let summary = DigestSummary::of(&digest);
            return (Arc::new(digest), summary);
        }
        if let Some((g, at, digest, summary)) = &self.digest_cache
            && *g == generation
            && *at == now
        {
            return (Arc::clone(digest), *summary);
        }
        let digest = Arc::new(self.dir.digest(now));
        let summary = DigestSummary::of(&digest);
        self.digest_cache = Some((generation, now, Arc::clone(&digest), summary));
        (digest, summary)
    }

    /// What the directory is told about a peer's objects: a member's may
    /// wait for their parents; anyone else may present only itself.
    /// `None` for a peer id that is no Ed25519 key (no node's).
    pub(crate) fn source_of(&self, peer: &PeerId) -> Option<Source> {
        let node = node_id_of(peer)?;
        Some(match self.members.get(peer) {
            Some(state) => Source::Member(node, *state),
            None => Source::Stranger(node),
        })
    }

    /// The part of our digest a peer may see: all of it for a member; for
    /// anyone else only the part of the states that list it (its own state,
    /// if it is a member whose record lapsed), usually nothing.
    pub(crate) fn digest_for(&mut self, peer: &PeerId, now: Timestamp) -> Arc<Digest> {
        if self.members.contains_key(peer) {
            return self.digest_and_summary(now).0;
        }
        let states = node_id_of(peer).map(|n| self.dir.states_listing(&n)).unwrap_or_default();
        self.durable_part(&states, now)
    }

    /// The digest of `states`' live objects, without our own that are not
    /// durable yet.
    pub(crate) fn durable_part(&self, states: &BTreeSet<StateCode>, now: Timestamp) -> Arc<Digest> {
        let mut digest = self.dir.digest_of(states, now);
        digest.retain(|key, _| !self.unsaved_own.contains_key(key));
        Arc::new(digest)
    }

    /// The wire bytes of the winners `applied` accepted that are live now:
    /// what gossip forwards (an accepted but already revoked or expired
    /// object is news to nobody).
    pub(crate) fn live_winners(&self, applied: &[Applied], now: Timestamp) -> Vec<Vec<u8>> {
        applied
            .iter()
            .flat_map(|a| &a.changes)
            .filter_map(|c| match c {
                Change::Accepted { key, hash, object, winner: true }
                    if self.dir.live_entry(key, now).is_some_and(|e| e.hash == *hash) =>
                {
                    Some(object.to_bytes())
                }
                _ => None,
            })
            .collect()
    }

    /// Recomputes the member set: the node ids listed in records in force
    /// of admitted states. If it changed, keeps it and returns the peers
    /// that joined it.
    pub(crate) fn refresh_members(&mut self, now: Timestamp) -> Option<Vec<PeerId>> {
        let members = member_peers(&self.dir, now, &mut self.peer_ids);
        if members == self.members {
            return None;
        }
        let joined = members.keys().filter(|p| !self.members.contains_key(p)).copied().collect();
        self.members = members;
        Some(joined)
    }

    /// Counts one more object from stranger `peer`. Work per stranger is
    /// bounded: a few objects present a node; past
    /// [`MAX_STRANGER_OBJECTS`] the rest are refused without a look (each
    /// costs at most one signature check) and counted as `stranger_quota`.
    pub(crate) fn take_stranger_quota(&mut self, peer: PeerId) -> bool {
        let used = self.stranger_objects.entry(peer).or_default();
        if *used >= MAX_STRANGER_OBJECTS {
            *self.rejections.entry("stranger_quota".to_string()).or_default() += 1;
            return false;
        }
        *used += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_core::Outcome;
    use hotline_core::testkit::{IntoObject, T0, World};
    use hotline_net::peer_id_of;

    /// FRA and DEU admitted, each with a technical record listing its node 0.
    fn feature() -> (World, DirectoryFeature, Vec<Applied>) {
        let w = World::default();
        let mut dir = Directory::new(w.charter.clone()).unwrap_or_else(|e| panic!("{e}"));
        let mut applied = Vec::new();
        for s in ["FRA", "DEU"] {
            for object in [w.admission(s, 1).obj(), w.record(s, "technical", 1, 1).obj()] {
                match dir.apply(object, T0) {
                    Ok(Outcome::Applied(a)) => applied.push(a),
                    other => panic!("{other:?}"),
                }
            }
        }
        (w, DirectoryFeature::new(dir, BTreeMap::new(), HashMap::new()), applied)
    }

    fn peer(w: &World, state: &str, n: u8) -> PeerId {
        peer_id_of(&w.node_id(state, n)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_revoked_node_is_blocked_once_and_let_in_again_when_its_revocation_ends() {
        let (w, mut d, _) = feature();
        assert_eq!(d.revoked_changes(T0), (vec![], vec![]));
        assert!(matches!(d.dir.apply(w.revoke_node("DEU", 1, 0).obj(), T0), Ok(Outcome::Applied(_))));
        assert_eq!(d.revoked_changes(T0), (vec![peer(&w, "DEU", 0)], vec![]));
        assert_eq!(d.revoked_changes(T0), (vec![], vec![]), "blocked once");
        // The stewards revoke DEU's admission: its own revocations stop
        // being live, and the node is no longer blocked for them (it is no
        // member either way).
        assert!(matches!(d.dir.apply(w.revoke_admission("DEU", 1).obj(), T0), Ok(Outcome::Applied(_))));
        assert_eq!(d.revoked_changes(T0), (vec![], vec![peer(&w, "DEU", 0)]));
    }

    /// The attack a review found: DEU lists FRA's node in its own record,
    /// then revokes it. The revocation is DEU's to make, but FRA's node is
    /// still FRA's member, so nobody blocks it.
    #[test]
    fn a_node_another_state_listed_and_revoked_is_not_blocked_while_its_own_state_lists_it() {
        let (w, mut d, _) = feature();
        let mut body = w.record_body("DEU", "technical", 1, 2);
        body.nodes.push(w.node_id("FRA", 0));
        let record = hotline_core::SignedRecord::sign(body, &w.state_key("DEU", 1), &w.net);
        assert!(matches!(d.dir.apply(record.obj(), T0), Ok(Outcome::Applied(_))));
        let revocation = w.revoke_node_id("DEU", 1, w.node_id("FRA", 0), "not ours");
        assert!(matches!(d.dir.apply(revocation.obj(), T0), Ok(Outcome::Applied(_))));
        assert_eq!(d.dir.revoked_nodes(T0).len(), 1, "DEU's revocation is live");
        assert_eq!(d.revoked_changes(T0), (vec![], vec![]), "FRA's node stays in");
    }

    #[test]
    fn the_member_set_is_the_nodes_of_records_in_force_and_says_who_joined() {
        let (w, mut d, _) = feature();
        let mut joined = d.refresh_members(T0).unwrap_or_default();
        joined.sort();
        let mut expected = vec![peer(&w, "FRA", 0), peer(&w, "DEU", 0)];
        expected.sort();
        assert_eq!(joined, expected);
        assert_eq!(d.refresh_members(T0), None, "unchanged: nothing to tell the network");
        // After the records expire, nobody is a member.
        assert_eq!(d.refresh_members(T0.plus(181 * hotline_core::time::DAY)), Some(Vec::new()));
        assert!(d.members.is_empty());
    }

    #[test]
    fn a_stranger_sees_only_the_states_that_list_it_and_a_member_everything() {
        let (w, mut d, _) = feature();
        d.refresh_members(T0);
        let all = d.digest_and_summary(T0).0;
        assert_eq!(d.digest_for(&peer(&w, "FRA", 0), T0), all, "a member sees the whole digest");
        // Node 1 of FRA is listed by no record: a stranger that sees nothing.
        assert!(d.digest_for(&peer(&w, "FRA", 1), T0).is_empty());
        assert!(matches!(d.source_of(&peer(&w, "FRA", 1)), Some(Source::Stranger(_))));
        assert!(
            matches!(d.source_of(&peer(&w, "DEU", 0)), Some(Source::Member(_, s)) if s == "DEU".parse().unwrap_or_else(|e| panic!("{e}")))
        );
    }

    #[test]
    fn our_own_objects_being_written_are_left_out_of_every_digest() {
        let (_, mut d, _) = feature();
        let key = ObjectKey::Record(
            "FRA".parse().unwrap_or_else(|e| panic!("{e}")),
            "technical".parse().unwrap_or_else(|e| panic!("{e}")),
        );
        let before = d.digest_and_summary(T0);
        assert!(before.0.contains_key(&key));
        d.unsaved_own.insert(key.clone(), 1);
        let (digest, summary) = d.digest_and_summary(T0);
        assert!(!digest.contains_key(&key));
        assert_ne!(summary, before.1);
        d.unsaved_own.clear();
        assert_eq!(d.digest_and_summary(T0).1, before.1, "back once durable");
    }

    #[test]
    fn gossip_forwards_only_winners_live_now() {
        let (_, d, applied) = feature();
        assert_eq!(d.live_winners(&applied, T0).len(), 4, "two admissions, two records");
        let expired = T0.plus(181 * hotline_core::time::DAY);
        assert_eq!(d.live_winners(&applied, expired).len(), 2, "expired records are news to nobody");
    }

    #[test]
    fn a_stranger_presents_itself_with_a_bounded_number_of_objects() {
        let (w, mut d, _) = feature();
        let stranger = peer(&w, "FRA", 1);
        for _ in 0..MAX_STRANGER_OBJECTS {
            assert!(d.take_stranger_quota(stranger));
        }
        assert!(!d.take_stranger_quota(stranger));
        assert_eq!(d.rejections.get("stranger_quota"), Some(&1));
        assert!(d.take_stranger_quota(peer(&w, "DEU", 1)), "the quota is per peer");
    }
}
