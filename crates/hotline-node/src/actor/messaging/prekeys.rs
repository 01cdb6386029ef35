//! This node's prekey ring: rotation, expiry, and the signed bundle it
//! publishes, built only from a ring that is durable.

use super::*;

impl Actor {
    /// Rotates the prekey ring when due, deletes expired secrets, and
    /// publishes a new signed bundle when the one in the directory no
    /// longer matches the ring. A changed ring is written first, and the
    /// bundle built only once it is durable, so no bundle is ever published
    /// whose secret could be lost; the bundle itself is served to peers
    /// only once its own write is durable (`Actor::unsaved_own`).
    pub(in crate::actor) fn maintain_prekeys(&mut self) {
        let now = self.now();
        let mut rng = match self.random.seeded_rng() {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "cannot rotate prekeys");
                return;
            }
        };
        let shared = Arc::clone(&self.mail.ring);
        let node = self.mail.node_id;
        let current = match self.directory.dir.entry(&ObjectKey::Prekeys(node)).map(|e| &e.object) {
            Some(DirectoryObject::Prekeys(p)) => Some(p.clone()),
            _ => None,
        };
        // Opening tasks hold the read lock for a fraction of a millisecond.
        let mut ring = shared.write().unwrap_or_else(PoisonError::into_inner);
        // A bundle of ours naming an id this ring never made: the store was
        // put back to an older copy (restored, or rolled back), and peers
        // synced the newer bundle back to us. Ids go on past it, so that no
        // id is ever made twice with two keys.
        let published_max = current.as_ref().and_then(|p| p.bundle.prekeys.iter().map(|k| k.id).max());
        let rolled = published_max.is_some_and(|id| ring.roll_forward(id));
        if rolled {
            warn!(
                next = ring.next_id(),
                "our published prekey bundle names prekeys this ring never made (the store was put back to an \
                 older copy): prekey ids go on past them, and the bundle is published again"
            );
        }
        let rotation = ring.rotate(now, &mut rng, self.mail.prekey_policy);
        if let Some(created) = rotation.created {
            info!(prekey = created.id, expires = %created.expires, "made a new prekey");
        }
        for deleted in &rotation.deleted {
            info!(prekey = deleted.id, "deleted an old prekey secret");
        }
        // Ids and keys: a bundle naming a prekey this ring lost must be
        // replaced, or peers keep sealing to the lost key.
        let wanted: HashSet<(u32, Vec<u8>)> = ring
            .bundle(self.state, node, 0, now)
            .map(|b| b.prekeys.into_iter().map(|k| (k.id, k.public)).collect())
            .unwrap_or_default();
        let published = current
            .as_ref()
            .filter(|p| p.bundle.expires > now)
            .map(|p| p.bundle.prekeys.iter().map(|k| (k.id, k.public.clone())).collect::<HashSet<_>>());
        let ring_changed = rotation.created.is_some() || !rotation.deleted.is_empty() || rolled;
        if ring_changed {
            self.mail.ring_version += 1;
        }
        // Every version of the ring is written; a bundle is built only from
        // a version that is durable (with two writes in flight, the first
        // to complete does not vouch for the second).
        if self.mail.ring_saved < self.mail.ring_version {
            // A write of this very version is in flight: wait for it.
            if !ring_changed && self.mail.ring_writing == self.mail.ring_version {
                return;
            }
            // The ring first, on its own: a bundle naming a prekey is built
            // only once that prekey's secret (and the id it took) is
            // durable, so a crash can never leave peers sealing to a key
            // this node lost, or an id reused with another key. The bundle
            // follows when this write completes (`After::RingWritten`).
            let mut batch = WriteBatch::new();
            batch.put_secret(PREKEY_RING, &ring.to_bytes_secret());
            drop(ring);
            let version = self.mail.ring_version;
            self.mail.ring_writing = version;
            self.persist_with(Vec::new(), batch, After::RingWritten { version }, Vec::new());
            return;
        }
        // Publish only as a member: anyone else's bundle would wait, unsaved.
        let stale = published.as_ref() != Some(&wanted);
        if !stale || !self.directory.dir.is_member_of(self.state, &node, now) {
            return;
        }
        let seq = current.map_or(1, |p| p.bundle.seq + 1).max(now.0);
        let bundle = match ring.bundle(self.state, node, seq, now) {
            Ok(b) => b,
            Err(e) => {
                warn!(error = %e, "cannot build a prekey bundle");
                return;
            }
        };
        let signed = SignedPrekeyBundle::sign(bundle, &self.mail.node_key, &self.directory.dir.network_id());
        drop(ring);
        match self.directory.dir.apply(DirectoryObject::Prekeys(signed.clone()), now) {
            Ok(Outcome::Applied(applied)) => {
                info!(seq, prekeys = wanted.len(), "publishing our prekey bundle");
                let publish = if self.gossip {
                    self.directory.live_winners(std::slice::from_ref(&applied), now)
                } else {
                    Vec::new()
                };
                self.persist_with(vec![applied], WriteBatch::new(), After::Nothing, publish);
            }
            Ok(other) => debug!(outcome = ?other, "our prekey bundle was not applied"),
            Err(r) => warn!(reason = %r, "the directory refused our own prekey bundle"),
        }
    }
}
