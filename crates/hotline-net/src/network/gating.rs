//! Who may do what: the member set, strangers' time, replacing the
//! connections new members made as strangers, and the timers of all three.

use super::*;

impl EventLoop {
    pub(super) fn is_member(&self, peer: &PeerId) -> bool {
        self.members.contains(peer)
    }

    /// Which sync behaviour a request to `peer` goes through: the one that
    /// has a connection with it, preferring the members'; with no
    /// connection, the one a new connection will offer.
    pub(super) fn sync_side(&self, peer: &PeerId) -> Audience {
        let behaviour = self.swarm.behaviour();
        if behaviour.sync.reaches(peer) {
            Audience::Members
        } else if behaviour.stranger_sync.reaches(peer) || !self.is_member(peer) {
            Audience::Strangers
        } else {
            Audience::Members
        }
    }

    /// Whether `peer` may use sync now: a member, or a stranger inside its
    /// grace window.
    pub(super) fn may_sync(&self, peer: &PeerId) -> bool {
        self.is_member(peer) || self.stranger_time.in_grace(peer, Instant::now())
    }

    pub(super) fn set_members(&mut self, members: BTreeSet<PeerId>) {
        let old = std::mem::replace(&mut self.members, members);
        let now = Instant::now();
        self.swarm.behaviour_mut().limits.set_members(&self.members);
        // New members' connections made while they were strangers lack the
        // deliver protocol: open another one, which offers it (after the
        // addresses of new members are learnt, below). The old one is left
        // alone: a sync exchange may be running on it.
        let members = &self.members;
        self.replacing.retain(|peer, _| members.contains(peer));
        self.replace_dial_at.retain(|peer, _| members.contains(peer));
        let mut without = BTreeSet::new();
        // Strangers' sync stays on the connections that have it until they
        // close: nothing to open for it.
        let _ = self.swarm.behaviour_mut().stranger_sync.set_members(&self.members);
        let _ = self.swarm.behaviour_mut().sync.set_members(&self.members);
        for (peer, id) in self.swarm.behaviour_mut().deliver.set_members(&self.members) {
            let old = self.replacing.entry(peer).or_default();
            if !self.retiring.contains_key(&id) && !old.contains(&id) {
                old.push(id);
                without.insert(peer);
            }
        }
        for peer in old.difference(&self.members).copied().collect::<Vec<_>>() {
            self.swarm.behaviour_mut().kad.remove_peer(&peer);
            if self.peers.contains_key(&peer) {
                debug!(%peer, "connected peer is no longer a member; grace window starts");
                self.set_gossip_score(&peer, STRANGER_SCORE);
                self.stranger_time.left_members(peer, now);
            }
        }
        for peer in self.members.difference(&old).copied().collect::<Vec<_>>() {
            if self.stranger_time.joined_members(&peer) {
                self.swarm.behaviour_mut().cooling.unblock_peer(peer);
            }
            // Also clears a retained stranger score of a disconnected peer.
            self.set_gossip_score(&peer, 0.0);
            if let Some(state) = self.peers.get(&peer) {
                let addrs = state.listen_addrs.clone();
                self.learn_member_addrs(peer, addrs);
            }
        }
        for peer in without {
            // Both ends usually see each other become members at the same
            // moment, and one new connection serves both: the end with the
            // lower peer id dials at once, the other only if no new
            // connection has come after a moment.
            if *self.swarm.local_peer_id() < peer {
                debug!(%peer, "a new member's connection lacks the deliver protocol: dialling another");
                self.dial_replacement(peer);
            } else {
                self.replace_dial_at.insert(peer, now + REPLACE_FALLBACK);
            }
        }
    }

    /// Dials a new member whose connections lack the deliver protocol. With
    /// no address known yet, identify brings one (`learn_member_addrs`
    /// tries again), or the member dials us. The old connections are closed
    /// only once a new one is up (`on_replacement`).
    pub(super) fn dial_replacement(&mut self, peer: PeerId) {
        let opts = DialOpts::peer_id(peer).condition(PeerCondition::Always).build();
        if let Err(e) = self.swarm.dial(opts) {
            debug!(%peer, error = %e, "cannot dial a new member yet");
        }
    }

    /// A connection with `peer` was established: if it replaces ones made
    /// before `peer` was a member, those close a little later (a sync
    /// exchange may still be running on them).
    pub(super) fn on_replacement(&mut self, peer: PeerId, id: ConnectionId) {
        let Some(old) = self.replacing.get(&peer) else { return };
        if old.contains(&id) || !self.is_member(&peer) {
            return;
        }
        self.replace_dial_at.remove(&peer);
        let deadline = Instant::now() + RETIRE_AFTER;
        for old in self.replacing.remove(&peer).unwrap_or_default() {
            self.retiring.insert(old, deadline);
        }
    }

    pub(super) fn set_gossip_score(&mut self, peer: &PeerId, score: f64) {
        if let Some(gossipsub) = self.swarm.behaviour_mut().gossipsub.as_mut() {
            gossipsub.set_application_score(peer, score);
        }
    }

    /// Members' addresses go into Kademlia (peer routing) and the swarm's
    /// address book (used by sync and `dial_peer`).
    pub(super) fn learn_member_addrs(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let any = !addrs.is_empty();
        for addr in addrs {
            self.swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
            self.swarm.add_peer_address(peer, addr);
        }
        if any && self.replacing.contains_key(&peer) && !self.replace_dial_at.contains_key(&peer) {
            self.dial_replacement(peer);
        }
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.retiring
            .values()
            .chain(self.replace_dial_at.values())
            .copied()
            .chain(self.stranger_time.next_deadline())
            .chain(self.links.next_deadline())
            .min()
    }

    /// Ends expired grace windows (disconnect and cool down) and expired
    /// cool-downs (the stranger may try again).
    pub(super) fn on_deadline(&mut self) {
        let now = Instant::now();
        for (id, peer) in self.links.dead(now, &self.link_counts) {
            info!(%peer, connection = %id, after = ?self.dead_link_after, "no answer on a connection: closing it as dead");
            self.swarm.close_connection(id);
        }
        let members = &self.members;
        for peer in self.stranger_time.expire(now, |p| members.contains(p)) {
            if self.peers.contains_key(&peer) {
                debug!(%peer, "grace window over and not a member: disconnecting");
                StrangerCounts::bump(&self.strangers.disconnected);
            }
            // Blocking closes its connections and refuses new ones in both
            // directions until the cool-down ends.
            self.swarm.behaviour_mut().cooling.block_peer(peer);
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        let fallback: Vec<PeerId> =
            self.replace_dial_at.iter().filter(|(_, at)| **at <= now).map(|(p, _)| *p).collect();
        for peer in fallback {
            self.replace_dial_at.remove(&peer);
            if self.replacing.contains_key(&peer) {
                debug!(%peer, "no new connection from a new member: dialling it");
                self.dial_replacement(peer);
            }
        }
        let retired: Vec<ConnectionId> =
            self.retiring.iter().filter(|(_, end)| **end <= now).map(|(id, _)| *id).collect();
        for id in retired {
            // Never the last connection that is not itself being retired:
            // the other end retires on its own clock, and the two must not
            // leave the peer with none.
            let owner = self.peers.iter().find(|(_, p)| p.conns.contains_key(&id));
            let keeps_another = owner
                .is_some_and(|(_, p)| p.conns.keys().any(|other| *other != id && !self.retiring.contains_key(other)));
            if !keeps_another {
                // Later, and meanwhile try (again) for a connection that
                // offers the protocol.
                let peer = owner.map(|(peer, _)| *peer);
                self.retiring.insert(id, now + RETIRE_AFTER);
                if let Some(peer) = peer {
                    self.dial_replacement(peer);
                }
                continue;
            }
            self.retiring.remove(&id);
            debug!(connection = %id, "closing a member's connection made before it was a member");
            self.swarm.close_connection(id);
        }
        for peer in self.stranger_time.cooled(now) {
            self.swarm.behaviour_mut().cooling.unblock_peer(peer);
        }
    }

    pub(super) fn is_refused(&self, peer: &PeerId) -> bool {
        self.swarm.behaviour().blocked.blocked_peers().contains(peer) || self.stranger_time.is_cooling(peer)
    }
}
