//! The directory feature inside the actor: applying objects from the user,
//! gossip and sync, publishing this state's records, the digests shown to
//! peers, and the member set; `renewal` signs this state's records again
//! under a new admission (a renewal or a key rotation).

use super::*;

mod feature;
mod renewal;
mod retirement;
use crate::error::{PublishError, RevokeError, SubmitError, WithdrawError};
pub(super) use feature::DirectoryFeature;
use hotline_core::{RecordStatus, Role, SecretKey};

impl Actor {
    /// The summary of the live digest (see
    /// [`DirectoryFeature::digest_and_summary`]).
    pub(super) fn summary(&mut self) -> DigestSummary {
        self.digest_and_summary().1
    }

    /// The live digest and its summary, now.
    pub(super) fn digest_and_summary(&mut self) -> (Arc<Digest>, DigestSummary) {
        let now = self.now();
        self.directory.digest_and_summary(now)
    }

    pub(super) fn publish_record(
        &mut self,
        draft: RecordDraft,
        validity_days: Option<u64>,
        reply: oneshot::Sender<Result<RecordEntry, PublishError>>,
    ) {
        let now = self.now();
        let state_key = match self.own_state_key(now, PublishError::NoStateKey, PublishError::NotAdmitted) {
            Ok(key) => key,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let validity_secs = match validity_days {
            None => self.directory.dir.charter().charter.policy.max_record_validity_secs,
            Some(0) => {
                let _ = reply.send(Err(PublishError::BadValidity));
                return;
            }
            Some(days) => days.saturating_mul(DAY),
        };
        let signed = match self.directory.dir.sign_next_record(draft, state_key, now, validity_secs) {
            Ok(s) => s,
            Err(r) => {
                let _ = reply.send(Err(PublishError::Rejected(r)));
                return;
            }
        };
        let object = DirectoryObject::Record(Box::new(signed));
        let key = object.key();
        match self.directory.dir.apply(object.clone(), now) {
            Ok(Outcome::Applied(applied)) => {
                let Some(entry) = views::record_entry(&self.directory.dir, &key, now) else {
                    let _ =
                        reply.send(Err(NodeError::StoreFailed(format!("{key} vanished after it was applied")).into()));
                    return;
                };
                info!(record = %object.describe(), "publishing our record");
                let reply = Responder::to(reply);
                self.persist(vec![applied], After::Publish { reply, entry: Box::new(entry) }, Vec::new());
            }
            Ok(other) => {
                // A freshly signed, higher seq cannot be a duplicate or wait
                // for a parent we checked above; say so rather than hang.
                let _ = reply.send(Err(PublishError::NotApplied(format!("{other:?}"))));
            }
            Err(r) => {
                let _ = reply.send(Err(PublishError::Rejected(r)));
            }
        }
    }

    /// Withdraws this state's record for `role`: a revocation of every
    /// version up to the one held, signed with the state key.
    pub(super) fn withdraw_record(
        &mut self,
        role: Role,
        reason: String,
        reply: oneshot::Sender<Result<RecordEntry, WithdrawError>>,
    ) {
        let now = self.now();
        let address = hotline_core::Address { state: self.state, role: role.clone() };
        let state_key = match self.own_state_key(now, WithdrawError::NoStateKey, WithdrawError::NotAdmitted) {
            Ok(key) => key,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let dir = &self.directory.dir;
        let Some(record) = dir.record(self.state, &role) else {
            let _ = reply.send(Err(WithdrawError::NoRecord(address)));
            return;
        };
        if dir.record_status(record, now) == RecordStatus::Revoked {
            let _ = reply.send(Err(WithdrawError::AlreadyWithdrawn(address)));
            return;
        }
        let signed = match dir.sign_record_withdrawal(state_key, &role, reason, now) {
            Ok(signed) => signed,
            Err(r) => {
                let _ = reply.send(Err(WithdrawError::Rejected(r)));
                return;
            }
        };
        let object = DirectoryObject::Revocation(signed);
        let key = ObjectKey::Record(self.state, role);
        let applied = match self.apply_own(&object, now, WithdrawError::Rejected) {
            Ok(applied) => applied,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let Some(entry) = views::record_entry(&self.directory.dir, &key, now) else {
            let _ = reply.send(Err(NodeError::StoreFailed(format!("{key} vanished after it was withdrawn")).into()));
            return;
        };
        info!(object = %object.describe(), "withdrawing our record");
        let reply = Responder::to(reply);
        self.persist(vec![applied], After::Publish { reply, entry: Box::new(entry) }, Vec::new());
    }

    /// Revokes `node`, a node of this state: a revocation signed with the
    /// state key. Membership follows from the directory, so every node that
    /// takes the revocation stops counting `node` as a member, and blocks it.
    pub(super) fn revoke_node(
        &mut self,
        node: NodeId,
        reason: String,
        reply: oneshot::Sender<Result<crate::api_types::RevokedNode, RevokeError>>,
    ) {
        let now = self.now();
        let peer = node.to_peer_id().to_string();
        let state_key = match self.own_state_key(now, RevokeError::NoStateKey, RevokeError::NotAdmitted) {
            Ok(key) => key,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let dir = &self.directory.dir;
        if hotline_net::node_id_of(&self.local_peer) == Some(node) {
            let _ = reply.send(Err(RevokeError::OwnNode(peer)));
            return;
        }
        if dir.revoked_nodes(now).contains(&(self.state, node)) {
            let _ = reply.send(Err(RevokeError::AlreadyRevoked(peer)));
            return;
        }
        let signed = match dir.sign_node_revocation(state_key, node, reason.clone(), now) {
            Ok(signed) => signed,
            Err(r) => {
                let _ = reply.send(Err(RevokeError::Rejected(r)));
                return;
            }
        };
        let object = DirectoryObject::Revocation(signed);
        let hash = object.hash(&self.directory.dir.network_id());
        let applied = match self.apply_own(&object, now, RevokeError::Rejected) {
            Ok(applied) => applied,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let still_listed_by = self.directory.dir.roles_listing(self.state, &node, now);
        let view = crate::api_types::RevokedNode {
            node: peer,
            state: self.state,
            issued_at: now,
            reason,
            still_listed_by,
            hash,
        };
        info!(object = %object.describe(), "revoking a node of ours");
        let reply = Responder::to(reply);
        self.persist(vec![applied], After::Revoked { reply, view: Box::new(view) }, Vec::new());
    }

    /// The state key on disk, if this node's state has an admission in
    /// force naming it: only then can it sign for its state (the directory
    /// would refuse whatever another key signs).
    /// `absent` and `not_admitted` make the operation's error of each case.
    fn own_state_key<E>(
        &self,
        now: Timestamp,
        absent: impl FnOnce(StateCode) -> E,
        not_admitted: impl FnOnce(StateCode) -> E,
    ) -> Result<&SecretKey, E> {
        let key = self.state_key.as_ref().ok_or_else(|| absent(self.state))?;
        let dir = &self.directory.dir;
        if dir.is_admitted(self.state, now) && dir.admission_of_key(&key.public()) == Some(self.state) {
            Ok(key)
        } else {
            Err(not_admitted(self.state))
        }
    }

    /// Applies an object this node's state key just signed. The rules may
    /// refuse it (`rejected` makes the operation's error of that); any
    /// outcome but applied is a fault of this node, `not_applied`.
    fn apply_own<E: From<NodeError>>(
        &mut self,
        object: &DirectoryObject,
        now: Timestamp,
        rejected: impl FnOnce(hotline_core::Rejection) -> E,
    ) -> Result<Applied, E> {
        match self.directory.dir.apply(object.clone(), now) {
            Ok(Outcome::Applied(applied)) => Ok(applied),
            Ok(other) => {
                let message = format!("the directory did not take the object: {other:?}");
                Err(NodeError::Internal { code: "not_applied", message }.into())
            }
            Err(r) => Err(rejected(r)),
        }
    }

    pub(super) fn submit_object(
        &mut self,
        object: DirectoryObject,
        reply: oneshot::Sender<Result<SubmitResponse, SubmitError>>,
    ) {
        let now = self.now();
        let network = self.directory.dir.network_id();
        let mut response = SubmitResponse {
            key: object.key().to_string(),
            seq: object.seq(),
            hash: object.hash(&network),
            outcome: SubmitOutcome::Applied,
        };
        match self.directory.dir.apply(object.clone(), now) {
            Ok(Outcome::Applied(applied)) => {
                info!(object = %object.describe(), "object submitted through the control API");
                self.persist(vec![applied], After::Submit { reply: Responder::to(reply), response }, Vec::new());
            }
            Ok(Outcome::Duplicate) => {
                response.outcome = SubmitOutcome::Duplicate;
                let _ = reply.send(Ok(response));
            }
            Ok(Outcome::Pending(why)) => {
                debug!(object = %object.describe(), reason = %why, "submitted object waits for its parent");
                response.outcome = SubmitOutcome::Pending;
                let _ = reply.send(Ok(response));
            }
            Err(r) => {
                let _ = reply.send(Err(SubmitError::Rejected(r)));
            }
        }
    }

    // ----- applying and persisting -----

    /// Applies objects a peer sent through sync. With `republish`, the
    /// objects that become live are also published on gossip once durable:
    /// a push usually carries news (a newcomer presenting itself, the other
    /// side of a healed partition) that the rest of the mesh wants too.
    pub(super) fn apply_batch(&mut self, peer: PeerId, objects: Vec<Vec<u8>>, after: After, republish: bool) {
        let now = self.now();
        let Some(source) = self.source_of(&peer) else {
            warn!(%peer, "a peer id that is no Ed25519 key sent objects; ignored");
            self.persist(Vec::new(), after, Vec::new());
            return;
        };
        let mut applied = Vec::new();
        // A batch holds up to 256 objects: warn about the first few invalid
        // ones, then sum up, so one peer cannot flood the log.
        let mut invalid = 0usize;
        for bytes in objects {
            let loud = invalid < LOUD_REJECTIONS_PER_BATCH;
            let object = match DirectoryObject::from_bytes(&bytes) {
                Ok(o) => o,
                Err(e) => {
                    invalid += 1;
                    self.note_undecodable(peer, &e.to_string(), loud);
                    continue;
                }
            };
            if let Source::Stranger(_) = source
                && !self.directory.take_stranger_quota(peer)
            {
                continue;
            }
            match self.directory.dir.apply_from(object.clone(), source, now) {
                Ok(Outcome::Applied(a)) => applied.push(a),
                Ok(Outcome::Duplicate) => {}
                Ok(Outcome::Pending(why)) => {
                    debug!(%peer, object = %object.describe(), reason = %why, "object waits for its parent");
                }
                Err(r) => {
                    invalid += usize::from(r.is_misbehaviour());
                    self.note_rejection(peer, &object, &r, loud);
                }
            }
        }
        if invalid > LOUD_REJECTIONS_PER_BATCH {
            warn!(%peer, invalid, "refused invalid objects in one sync batch (only the first were logged)");
        }
        let publish = if republish && self.gossip { self.directory.live_winners(&applied, now) } else { Vec::new() };
        // Even with nothing new, go through the committer: it answers in
        // order, so an ack never overtakes the commit of an earlier batch.
        self.persist(applied, after, publish);
    }

    /// What the directory is told about a peer's objects.
    pub(super) fn source_of(&self, peer: &PeerId) -> Option<Source> {
        self.directory.source_of(peer)
    }

    /// The part of our digest a peer may see.
    pub(super) fn digest_for(&mut self, peer: &PeerId) -> Arc<Digest> {
        let now = self.now();
        self.directory.digest_for(peer, now)
    }

    /// The digest of `states`' live objects, without our own that are not
    /// durable yet.
    pub(super) fn durable_part(&self, states: &BTreeSet<StateCode>) -> Arc<Digest> {
        self.directory.durable_part(states, self.now())
    }

    /// Gives the network the member set, if it changed: the node ids listed
    /// in records in force of admitted states.
    pub(super) async fn refresh_members(&mut self) {
        let now = self.now();
        // A node its state revoked is cut off at once and refused from then
        // on: not a stranger with a grace window, as a node that merely
        // stopped being a member is.
        let (block, unblock) = self.directory.revoked_changes(now);
        for peer in block {
            warn!(%peer, "a node revoked by its state: disconnecting and blocking it");
            if let Err(e) = self.net.block(peer).await {
                warn!(%peer, error = %e, "cannot block a revoked node; trying again at the next tick");
                self.directory.blocked_revoked.remove(&peer);
            }
        }
        for peer in unblock {
            info!(%peer, "a node's revocation is no longer live: no longer blocked");
            if let Err(e) = self.net.unblock(peer).await {
                warn!(%peer, error = %e, "cannot unblock a node");
            }
        }
        self.move_off_unlisted();
        let Some(joined) = self.directory.refresh_members(now) else { return };
        let set: BTreeSet<PeerId> = self.directory.members.keys().copied().collect();
        debug!(members = set.len(), "member set changed");
        // Redials of peers that are no members any more, or whose tries
        // are over, are not wanted.
        // Dropping an abort handle does not stop its task: abort it.
        self.redials.retain(|peer, task| {
            let keep = set.contains(peer) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        // Peers connected before they became members had only the part of
        // an exchange a stranger gets: give them a full one now.
        let joined: Vec<PeerId> = joined.into_iter().filter(|p| self.connected.contains_key(p)).collect();
        if let Err(e) = self.net.set_members(set).await {
            warn!(error = %e, "cannot update the network's member set");
        }
        for peer in joined {
            self.start_sync(peer);
        }
    }

    /// Counts a refused object, logs it with the sender (at `warn` for
    /// provable misbehaviour when `loud`) and announces it.
    pub(super) fn note_rejection(&mut self, peer: PeerId, object: &DirectoryObject, rejection: &Rejection, loud: bool) {
        let code = rejection.code();
        *self.directory.rejections.entry(code.to_string()).or_default() += 1;
        if rejection.is_misbehaviour() && loud {
            warn!(%peer, object = %object.describe(), code, reason = %rejection, "refused an invalid object");
        } else {
            debug!(%peer, object = %object.describe(), code, reason = %rejection, "refused an object");
        }
        self.emit(NodeEvent::ObjectRejected {
            peer: peer.to_string(),
            code: code.to_string(),
            object: object.describe(),
        });
    }

    pub(super) fn note_undecodable(&mut self, peer: PeerId, detail: &str, loud: bool) {
        const CODE: &str = "undecodable";
        *self.directory.rejections.entry(CODE.to_string()).or_default() += 1;
        if loud {
            warn!(%peer, code = CODE, reason = %detail, "refused bytes that are not a directory object");
        } else {
            debug!(%peer, code = CODE, reason = %detail, "refused bytes that are not a directory object");
        }
        self.emit(NodeEvent::ObjectRejected {
            peer: peer.to_string(),
            code: CODE.to_string(),
            object: "undecodable bytes".into(),
        });
    }

    // ----- network events -----

    pub(super) async fn on_gossip(&mut self, message_id: MessageId, source: PeerId, data: &[u8]) {
        let now = self.now();
        let Some(from) = self.source_of(&source) else {
            // Not an Ed25519 peer id, so no member's: nothing to check.
            let _ = self.net.report_gossip(message_id, source, Verdict::Ignore).await;
            return;
        };
        let report = |verdict| (message_id.clone(), verdict);
        let (id, verdict) = match DirectoryObject::from_bytes(data) {
            Err(e) => {
                self.note_undecodable(source, &e.to_string(), true);
                report(Verdict::Reject)
            }
            // Gossip reaches the actor only from members (the net layer
            // drops a non-member's); should membership have changed in
            // between, the directory treats the sender as what it is now.
            Ok(object) => match self.directory.dir.apply_from(object.clone(), from, now) {
                Ok(Outcome::Applied(applied)) => {
                    // Forward only what is part of the live directory now: an
                    // accepted but already revoked or expired object is news
                    // to nobody.
                    let key = object.key();
                    let hash = object.hash(&self.directory.dir.network_id());
                    let live = self.directory.dir.live_entry(&key, now).is_some_and(|e| e.hash == hash);
                    let verdict = if live { Verdict::Accept } else { Verdict::Ignore };
                    debug!(peer = %source, object = %object.describe(), live, "gossip applied");
                    // Objects this one released from the pending set were
                    // not forwarded when they arrived (they waited): the
                    // verdict forwards only this message, so publish them.
                    let own = object.to_bytes();
                    let released: Vec<Vec<u8>> = if self.gossip {
                        self.directory
                            .live_winners(std::slice::from_ref(&applied), now)
                            .into_iter()
                            .filter(|b| *b != own)
                            .collect()
                    } else {
                        Vec::new()
                    };
                    // The verdict goes out now, not once the write is durable:
                    // forwarding depends on validity alone, and an fsync per
                    // hop would sit on every update's path through the mesh.
                    self.persist(vec![applied], After::Nothing, released);
                    report(verdict)
                }
                Ok(Outcome::Duplicate) => report(Verdict::Ignore),
                Ok(Outcome::Pending(why)) => {
                    debug!(peer = %source, object = %object.describe(), reason = %why, "gossip waits for its parent");
                    report(Verdict::Ignore)
                }
                Err(r) => {
                    self.note_rejection(source, &object, &r, true);
                    report(if r.is_misbehaviour() { Verdict::Reject } else { Verdict::Ignore })
                }
            },
        };
        if let Err(e) = self.net.report_gossip(id, source, verdict).await {
            debug!(error = %e, "cannot report a gossip verdict");
        }
    }

    pub(super) async fn on_sync_request(&mut self, peer: PeerId, request: SyncRequest, reply: SyncReply) {
        trace!(%peer, request = request.kind(), "sync request");
        let now = self.now();
        let response = match request {
            // The net layer only lets members and strangers in their grace
            // window get this far. A member sees the whole digest; a stranger
            // only its own state's part (usually nothing), which is all it
            // needs to tell what to push.
            SyncRequest::Digest(_) => SyncResponse::Digest(digest_entries(&self.digest_for(&peer))),
            SyncRequest::Summary(_) => {
                // A stranger's summary covers what it may see, like its digest.
                let summary = if self.directory.members.contains_key(&peer) {
                    self.summary()
                } else {
                    DigestSummary::of(&self.digest_for(&peer))
                };
                SyncResponse::Summary(summary)
            }
            SyncRequest::Fetch(keys) => {
                if self.directory.members.contains_key(&peer) {
                    let objects = keys
                        .iter()
                        .filter(|k| !self.directory.unsaved_own.contains_key(k))
                        .filter_map(|k| self.directory.dir.live_entry(k, now))
                        .map(|e| e.object.to_bytes())
                        .collect();
                    SyncResponse::Objects(objects)
                } else {
                    // The directory is for members: a stranger presents itself
                    // with a push first.
                    debug!(%peer, "fetch from a non-member refused");
                    SyncResponse::Refused
                }
            }
            SyncRequest::Push(objects) => {
                self.apply_batch(peer, objects, After::PushAck(reply), true);
                return;
            }
            // Receipt numbers are for members only, like the directory.
            SyncRequest::ReceiptsIssued if self.directory.members.contains_key(&peer) => self.receipts_issued_to(&peer),
            SyncRequest::ReceiptsIssued => SyncResponse::Refused,
            SyncRequest::Cosign(request) => return self.on_cosign_request(peer, request, reply),
            SyncRequest::Equivocation(report) => return self.on_equivocation_report(peer, report, reply),
        };
        if let Err(e) = self.net.respond_sync(reply, response).await {
            debug!(%peer, error = %e, "cannot answer a sync request");
        }
    }

    /// The live objects among `keys` that sync pushes: only our own state's
    /// (admission, records, prekey bundles), to members and strangers alike.
    /// Everything else the peer fetches itself in its own exchange: pushing
    /// it too would hand a newcomer the whole directory once per connected
    /// peer, all at the same moment.
    pub(super) fn objects_for(&self, keys: &[ObjectKey]) -> Vec<Vec<u8>> {
        let now = self.now();
        keys.iter()
            .filter(|k| !self.directory.unsaved_own.contains_key(k))
            .filter_map(|k| self.directory.dir.live_entry(k, now))
            .filter(|e| e.object.state() == self.state)
            .map(|e| e.object.to_bytes())
            .collect()
    }

    /// Starts an exchange with `peer`, or queues one if an exchange with it
    /// is running.
    pub(super) fn start_sync(&mut self, peer: PeerId) {
        if self.stopping || peer == self.local_peer {
            return;
        }
        if let Some(again) = self.syncing.get_mut(&peer) {
            *again = true;
            return;
        }
        let actor = self.tasks.completions();
        self.syncing.insert(peer, false);
        let member = self.directory.members.contains_key(&peer);
        let (digest, summary) = if member {
            self.digest_and_summary()
        } else {
            let own = BTreeSet::from([self.state]);
            (self.durable_part(&own), self.summary())
        };
        // Summaries first only between members: for a newcomer, or a peer
        // not yet known as a member, the digests surely differ.
        let probe = (member && self.directory.members.contains_key(&self.local_peer)).then_some(summary);
        // A peer that is not a member here is shown only our own state's
        // part of our digest (what we push it, so that it can admit us),
        // and nothing is fetched from it: it presents itself by pushing to
        // us in its own exchange. Once it is a member, `refresh_members`
        // starts a full exchange.
        let ours = sync::Ours { digest, probe, fetch: member };
        self.tasks.spawn(sync::exchange(peer, ours, self.net.clone(), actor));
    }
}
