//! Our records after a new admission of our state: the stewards renewed
//! it (`hotline admission renew`), or our state key was rotated, and the
//! records signed under the old admission no longer chain to it
//! (`docs/protocol.md` section 6.4). A node holding the state key the new
//! admission names signs them again at once, so the state stays reachable.
//!
//! A key rotation (`hotline state rotate-key`) leaves the next state key
//! waiting beside the state key; when the admission in force names it, the
//! node takes it up here (the old key is retired and signs nothing more)
//! before signing again.

use super::*;

impl Actor {
    /// Signs again, under our state's admission now in force, our records
    /// that a new admission removed (`removed`, their slots): the stewards
    /// renewed our admission (`hotline admission renew`), and without this
    /// the state would have no record, and no one could write to it, until
    /// its operator published each again. Same content, same expiry; a
    /// record already expired is left out. Needs the state key the new
    /// admission names (after a key rotation, the new key).
    pub(in crate::actor) fn resign_own_records(&mut self, removed: Vec<ObjectKey>) {
        let now = self.now();
        self.take_up_rotated_state_key(now);
        match self.own_state_key(now, |_| "this node holds no state key", |_| "no admission in force") {
            Ok(_) => {}
            Err(why) => {
                warn!(
                    records = removed.len(),
                    why,
                    "our records no longer chain to our admission and cannot be signed again here: publish them where the state key of the admission in force is"
                );
                return;
            }
        };
        for slot in removed {
            // The version removed is the newest winner in our history.
            let last = match self.store.history(&slot) {
                Ok(history) => history.into_iter().rev().find(|h| h.winner).map(|h| h.object),
                Err(e) => {
                    warn!(%slot, error = %e, "cannot read the history of our record to sign it again");
                    continue;
                }
            };
            let Some(DirectoryObject::Record(old)) = last else { continue };
            if old.record.expires <= now || self.directory.dir.record(self.state, &old.record.role).is_some() {
                continue;
            }
            let validity = now.until(old.record.expires);
            let draft = RecordDraft::from_record(&old.record);
            let Some(key) = self.state_key.as_ref() else { return };
            let signed = match self.directory.dir.sign_next_record(draft, key, now, validity) {
                Ok(s) => s,
                Err(r) => {
                    warn!(%slot, reason = %r, "cannot sign our record again under our new admission");
                    continue;
                }
            };
            let object = DirectoryObject::Record(Box::new(signed));
            let record_key = object.key();
            match self.directory.dir.apply(object.clone(), now) {
                Ok(Outcome::Applied(applied)) => {
                    let Some(entry) = views::record_entry(&self.directory.dir, &record_key, now) else { continue };
                    info!(record = %object.describe(), "our admission was renewed: our record is signed again under it");
                    let after = After::Publish { reply: Responder::nobody(), entry: Box::new(entry) };
                    self.persist(vec![applied], after, Vec::new());
                }
                Ok(other) => warn!(%slot, outcome = ?other, "our record signed again was not applied"),
                Err(r) => warn!(%slot, reason = %r, "the directory refused our record signed again"),
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
