//! The old node key's revocation, once its grace period has passed.
//!
//! `hotline node rotate-key` (or `node replace` with a grace period), run
//! where the state key is, lists the new key beside the old one and
//! records a retirement in the store (`hotline_store::Retirement`): until
//! `revoke_at`, deliveries already sealed to the old key may still finish
//! (another node holding it, a copy of the old data directory, may still
//! take them). Then this node revokes the old key (a state revokes only a
//! node its records list, so first) and signs its records again without
//! it: every member refuses it for good and moves what it still queued for
//! it to the new key. Checked at start and at every sync tick; the
//! retirement is forgotten only once the revocation is in the store's
//! history (durable), so a failed write or a crash signs it again.

use super::*;

impl Actor {
    /// Signs the revocation of a retired node key whose grace period is
    /// over, or forgets the retirement once the revocation is durable.
    pub(in crate::actor) fn retire_old_node_key(&mut self) {
        let retirement = match self.store.retirement() {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                warn!(error = %e, "cannot read the retirement of the old node key");
                return;
            }
        };
        let now = self.now();
        if now < retirement.revoke_at {
            return;
        }
        let slot = ObjectKey::NodeRevocation(self.state, retirement.node);
        if self.newest_in_history(&slot).is_some() {
            // Revoked and durable; a crash may have come before the records
            // were signed again without it.
            self.list_without(retirement.node, now);
            if let Err(e) = self.store.clear_retirement() {
                warn!(error = %e, "cannot forget the retirement of the old node key; trying again later");
            }
            return;
        }
        if self.directory.dir.revoked_nodes(now).contains(&(self.state, retirement.node)) {
            // Signed, its write not durable yet (or it failed: the
            // directory is reloaded from the store at the next start).
            return;
        }
        let key = match self.own_state_key(now, |_| "this node holds no state key", |_| "no admission in force") {
            Ok(key) => key,
            Err(why) => {
                warn!(node = %retirement.node.to_peer_id(), why, "the old node key's grace period is over but its revocation cannot be signed here");
                return;
            }
        };
        let reason = format!("its node key was rotated: replaced by {}", retirement.successor.to_peer_id());
        match self.directory.dir.sign_node_revocation(key, retirement.node, reason, now) {
            Ok(signed) => {
                info!(node = %retirement.node.to_peer_id(), "the old node key's grace period is over: revoked");
                self.publish_own(DirectoryObject::Revocation(signed), now);
            }
            Err(r) => {
                warn!(reason = %r, "cannot sign the revocation of the old node key");
                return;
            }
        }
        self.list_without(retirement.node, now);
    }

    /// Signs again, without `node`, each record of our state in force that
    /// lists it beside another node.
    fn list_without(&mut self, node: NodeId, now: Timestamp) {
        let roles = self.directory.dir.charter().charter.roles.clone();
        for role in roles {
            let Some(current) = self.directory.dir.record(self.state, &role) else { continue };
            if !current.record.nodes.contains(&node) || current.record.expires <= now {
                continue;
            }
            let mut draft = RecordDraft::from_record(&current.record);
            draft.nodes.retain(|n| *n != node);
            if draft.nodes.is_empty() {
                warn!(%role, "our record lists only the revoked old node key: not signed again");
                continue;
            }
            let validity = now.until(current.record.expires);
            let Some(key) = self.state_key.as_ref() else { return };
            match self.directory.dir.sign_next_record(draft, key, now, validity) {
                Ok(signed) => self.publish_own(DirectoryObject::Record(Box::new(signed)), now),
                Err(r) => warn!(%role, reason = %r, "cannot sign our record again without the old node key"),
            }
        }
    }
}
