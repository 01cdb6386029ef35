//! Our records after a new admission of our state: the stewards renewed
//! it (`hotline admission renew`), or our state key was rotated, and the
//! objects signed under the old admission no longer chain to it
//! (`docs/protocol.md` section 6.4). A node holding the state key the new
//! admission names signs them again, so the state stays reachable: each
//! record missing from the directory whose newest version (in the store's
//! history) is of an older admission, unless it was withdrawn then; and
//! each node revocation of the old admission for a node such a record
//! listed, the node left out of the record. Run at start and after every
//! durable write that changed our state's admission or removed our
//! objects, so a crash or an import made while the daemon was stopped
//! changes nothing.
//!
//! A key rotation (`hotline state rotate-key`) leaves the next state key
//! waiting beside the state key; when the admission in force names it, the
//! node takes it up here (the old key is retired and signs nothing more)
//! before signing again.

use super::*;
use hotline_core::{RevocationTarget, SignedRecord, SignedRevocation};

impl Actor {
    /// Takes up a rotated state key if our admission names it, then signs
    /// again what a new admission of our state removed.
    pub(in crate::actor) fn renew_own_objects(&mut self) {
        let now = self.now();
        self.take_up_rotated_state_key(now);
        let Some(admission_seq) = self.directory.dir.admission(self.state).map(|a| a.admission.seq) else { return };
        let roles = self.directory.dir.charter().charter.roles.clone();
        let mut stale = Vec::new();
        for role in roles {
            if self.directory.dir.record(self.state, &role).is_some() {
                continue;
            }
            let slot = ObjectKey::Record(self.state, role.clone());
            match self.newest_in_history(&slot) {
                Some(DirectoryObject::Record(old)) if old.record.admission_seq < admission_seq => stale.push(old),
                _ => {}
            }
        }
        if stale.is_empty() {
            return;
        }
        if let Err(why) = self.own_state_key(now, |_| "this node holds no state key", |_| "no admission in force") {
            warn!(
                records = stale.len(),
                why,
                "our records no longer chain to our admission and cannot be signed again here: publish them where \
                 the state key of the admission in force is"
            );
            return;
        }
        for old in stale {
            self.renew_record(*old, now);
        }
    }

    /// Signs `old` (a record of an older admission) again under ours:
    /// same content and expiry, without the nodes revoked under its
    /// admission (whose revocations are signed again too). Left out if it
    /// was withdrawn or has expired.
    fn renew_record(&mut self, old: SignedRecord, now: Timestamp) {
        let rec = &old.record;
        if rec.expires <= now || self.withdrawn_under(rec.state, &rec.role, rec.admission_seq, rec.seq) {
            info!(record = %ObjectKey::Record(rec.state, rec.role.clone()), "not signed again under our new admission: withdrawn or expired");
            return;
        }
        let mut draft = RecordDraft::from_record(rec);
        let mut revoked = Vec::new();
        for node in &draft.nodes {
            if let Some(DirectoryObject::Revocation(r)) =
                self.newest_in_history(&ObjectKey::NodeRevocation(rec.state, *node))
                && matches!(r.revocation.target, RevocationTarget::Node { admission_seq, .. } if admission_seq == rec.admission_seq)
            {
                revoked.push((*node, r.revocation.reason.clone()));
            }
        }
        draft.nodes.retain(|n| !revoked.iter().any(|(r, _)| r == n));
        for (node, reason) in revoked {
            let signed = match (self.state_key.as_ref(), self.directory.dir.admission(self.state)) {
                (Some(key), Some(_)) => self.directory.dir.sign_node_revocation(key, node, reason, now),
                _ => return,
            };
            if let Ok(signed) = signed {
                self.publish_own(DirectoryObject::Revocation(signed), now);
            }
        }
        if draft.nodes.is_empty() {
            warn!(role = %rec.role, "our record lists only revoked nodes: not signed again under our new admission");
            return;
        }
        let validity = now.until(rec.expires);
        let Some(key) = self.state_key.as_ref() else { return };
        match self.directory.dir.sign_next_record(draft, key, now, validity) {
            Ok(signed) => {
                info!(role = %rec.role, "our admission is new: our record is signed again under it");
                self.publish_own(DirectoryObject::Record(Box::new(signed)), now);
            }
            Err(r) => warn!(role = %rec.role, reason = %r, "cannot sign our record again under our new admission"),
        }
    }

    /// Applies and publishes an object our state key just signed.
    pub(super) fn publish_own(&mut self, object: DirectoryObject, now: Timestamp) {
        let key = object.key();
        match self.directory.dir.apply(object, now) {
            Ok(Outcome::Applied(applied)) => {
                // Published on gossip as an operator's publish is (a record
                // through `After::Publish`, a revocation here).
                match views::record_entry(&self.directory.dir, &key, now) {
                    Some(entry) => {
                        let after = After::Publish { reply: Responder::nobody(), entry: Box::new(entry) };
                        self.persist(vec![applied], after, Vec::new());
                    }
                    None => {
                        let publish = if self.gossip {
                            self.directory.live_winners(std::slice::from_ref(&applied), now)
                        } else {
                            Vec::new()
                        };
                        self.persist(vec![applied], After::Nothing, publish);
                    }
                }
            }
            Ok(other) => warn!(%key, outcome = ?other, "our object signed again was not applied"),
            Err(r) => warn!(%key, reason = %r, "the directory refused our object signed again"),
        }
    }

    /// Whether the record `(state, role)` version `seq` of admission
    /// `admission_seq` was withdrawn then (a record revocation of that
    /// admission covering it, in the history).
    fn withdrawn_under(&self, state: StateCode, role: &Role, admission_seq: u64, seq: u64) -> bool {
        match self.newest_in_history(&ObjectKey::RecordRevocation(state, role.clone())) {
            Some(DirectoryObject::Revocation(SignedRevocation { revocation, .. })) => matches!(
                revocation.target,
                RevocationTarget::Record { admission_seq: a, up_to_seq, .. } if a == admission_seq && up_to_seq >= seq
            ),
            _ => false,
        }
    }

    /// The newest winner of `slot` in the store's history.
    pub(super) fn newest_in_history(&self, slot: &ObjectKey) -> Option<DirectoryObject> {
        match self.store.history(slot) {
            Ok(history) => history.into_iter().rev().find(|h| h.winner).map(|h| h.object),
            Err(e) => {
                warn!(%slot, error = %e, "cannot read the history of our own objects");
                None
            }
        }
    }

    /// Takes up the next state key waiting from `hotline state rotate-key`
    /// if the admission in force names it (and not the key held).
    fn take_up_rotated_state_key(&mut self, now: Timestamp) {
        let Some(expected) = self.directory.dir.admission(self.state).map(|a| a.admission.state_key) else { return };
        if self.state_key.as_ref().is_some_and(|k| k.public() == expected) {
            return;
        }
        let Some(data_dir) = self.store.path().parent() else { return };
        match hotline_store::NodeKeys::take_up_next_state_key(data_dir, &expected, now) {
            Ok(Some(key)) => {
                warn!(
                    state_key = %expected,
                    "our admission in force names our next state key: taken up; the old state key is retired \
                     (keys/state.key.retired-*) and signs nothing more"
                );
                self.state_key = Some(key);
            }
            Ok(None) => {}
            Err(e) => warn!(error = %e, "cannot take up the next state key"),
        }
    }
}
