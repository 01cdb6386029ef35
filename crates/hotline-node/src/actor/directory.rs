//! The directory feature inside the actor: applying objects from the user,
//! gossip and sync, publishing this state's records, the digests shown to
//! peers, and the member set.

use super::*;
use crate::error::{PublishError, SubmitError};

impl Actor {
    /// The live directory's digest, shared and cached: every exchange and
    /// every digest request needs it, and in a quiet network it changes
    /// rarely. Recomputed when a slot changes, and when the node's clock
    /// (whole seconds) moves on, since expiry changes the live set without
    /// a slot changing.
    pub(super) fn digest(&mut self) -> Arc<Digest> {
        self.digest_and_summary().0
    }

    pub(super) fn summary(&mut self) -> DigestSummary {
        self.digest_and_summary().1
    }

    pub(super) fn digest_and_summary(&mut self) -> (Arc<Digest>, DigestSummary) {
        let (generation, now) = (self.dir.generation(), self.now());
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

    pub(super) fn publish_record(
        &mut self,
        draft: RecordDraft,
        validity_days: Option<u64>,
        reply: oneshot::Sender<Result<RecordEntry, PublishError>>,
    ) {
        let now = self.now();
        // The key on disk must be the one the admission in force names;
        // otherwise the directory would refuse whatever we sign.
        if !self.dir.is_admitted(self.state, now)
            || self.dir.admission_of_key(&self.state_key.public()) != Some(self.state)
        {
            let _ = reply.send(Err(PublishError::NotAdmitted(self.state)));
            return;
        }
        let validity_secs = match validity_days {
            None => self.dir.charter().charter.policy.max_record_validity_secs,
            Some(0) => {
                let _ = reply.send(Err(PublishError::BadValidity));
                return;
            }
            Some(days) => days.saturating_mul(DAY),
        };
        let signed = match self.dir.sign_next_record(draft, &self.state_key, now, validity_secs) {
            Ok(s) => s,
            Err(r) => {
                let _ = reply.send(Err(PublishError::Rejected(r)));
                return;
            }
        };
        let object = DirectoryObject::Record(Box::new(signed));
        let key = object.key();
        match self.dir.apply(object.clone(), now) {
            Ok(Outcome::Applied(applied)) => {
                let Some(entry) = views::record_entry(&self.dir, &key, now) else {
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

    pub(super) fn submit_object(
        &mut self,
        object: DirectoryObject,
        reply: oneshot::Sender<Result<SubmitResponse, SubmitError>>,
    ) {
        let now = self.now();
        let network = self.dir.network_id();
        let mut response = SubmitResponse {
            key: object.key().to_string(),
            seq: object.seq(),
            hash: object.hash(&network),
            outcome: SubmitOutcome::Applied,
        };
        match self.dir.apply(object.clone(), now) {
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
            if let Source::Stranger(_) = source {
                // Work per stranger is bounded: a few objects present a
                // node; a stranger sending more is refused the rest
                // without a look (each costs at most one signature check).
                let used = self.stranger_objects.entry(peer).or_default();
                if *used >= MAX_STRANGER_OBJECTS {
                    *self.rejections.entry("stranger_quota".to_string()).or_default() += 1;
                    continue;
                }
                *used += 1;
            }
            match self.dir.apply_from(object.clone(), source, now) {
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
        let publish = if republish && self.gossip { self.live_winners(&applied, now) } else { Vec::new() };
        // Even with nothing new, go through the committer: it answers in
        // order, so an ack never overtakes the commit of an earlier batch.
        self.persist(applied, after, publish);
    }

    /// What the directory is told about a peer's objects: a member's may
    /// wait for their parents; anyone else may present only itself.
    pub(super) fn source_of(&self, peer: &PeerId) -> Option<Source> {
        let node = node_id_of(peer)?;
        Some(match self.members.get(peer) {
            Some(state) => Source::Member(node, *state),
            None => Source::Stranger(node),
        })
    }

    /// The part of our digest a peer may see: all of it for a member; for
    /// anyone else only the part of the states that list it (its own state,
    /// if it is a member whose record lapsed), usually nothing.
    pub(super) fn digest_for(&mut self, peer: &PeerId) -> Arc<Digest> {
        if self.members.contains_key(peer) {
            return self.digest();
        }
        let states = node_id_of(peer).map(|n| self.dir.states_listing(&n)).unwrap_or_default();
        self.durable_part(&states)
    }

    /// The digest of `states`' live objects, without our own that are not
    /// durable yet.
    pub(super) fn durable_part(&self, states: &BTreeSet<StateCode>) -> Arc<Digest> {
        let mut digest = self.dir.digest_of(states, self.now());
        digest.retain(|key, _| !self.unsaved_own.contains_key(key));
        Arc::new(digest)
    }

    /// The wire bytes of the winners `applied` accepted that are live now.
    pub(super) fn live_winners(&self, applied: &[Applied], now: Timestamp) -> Vec<Vec<u8>> {
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

    /// Gives the network the member set, if it changed: the node ids listed
    /// in records in force of admitted states.
    pub(super) async fn refresh_members(&mut self) {
        let members = member_peers(&self.dir, self.now(), &mut self.peer_ids);
        if members == self.members {
            return;
        }
        let set: BTreeSet<PeerId> = members.keys().copied().collect();
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
        let joined: Vec<PeerId> =
            set.iter().filter(|p| !self.members.contains_key(p) && self.connected.contains_key(p)).copied().collect();
        self.members = members;
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
        *self.rejections.entry(code.to_string()).or_default() += 1;
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
        *self.rejections.entry(CODE.to_string()).or_default() += 1;
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
            Ok(object) => match self.dir.apply_from(object.clone(), from, now) {
                Ok(Outcome::Applied(applied)) => {
                    // Forward only what is part of the live directory now: an
                    // accepted but already revoked or expired object is news
                    // to nobody.
                    let key = object.key();
                    let hash = object.hash(&self.dir.network_id());
                    let live = self.dir.live_entry(&key, now).is_some_and(|e| e.hash == hash);
                    let verdict = if live { Verdict::Accept } else { Verdict::Ignore };
                    debug!(peer = %source, object = %object.describe(), live, "gossip applied");
                    // Objects this one released from the pending set were
                    // not forwarded when they arrived (they waited): the
                    // verdict forwards only this message, so publish them.
                    let own = object.to_bytes();
                    let released: Vec<Vec<u8>> = if self.gossip {
                        self.live_winners(std::slice::from_ref(&applied), now)
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
                let summary = if self.members.contains_key(&peer) {
                    self.summary()
                } else {
                    DigestSummary::of(&self.digest_for(&peer))
                };
                SyncResponse::Summary(summary)
            }
            SyncRequest::Fetch(keys) => {
                if self.members.contains_key(&peer) {
                    let objects = keys
                        .iter()
                        .filter(|k| !self.unsaved_own.contains_key(k))
                        .filter_map(|k| self.dir.live_entry(k, now))
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
            .filter(|k| !self.unsaved_own.contains_key(k))
            .filter_map(|k| self.dir.live_entry(k, now))
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
        let member = self.members.contains_key(&peer);
        let (digest, summary) = if member {
            self.digest_and_summary()
        } else {
            let own = BTreeSet::from([self.state]);
            (self.durable_part(&own), self.summary())
        };
        // Summaries first only between members: for a newcomer, or a peer
        // not yet known as a member, the digests surely differ.
        let probe = (member && self.members.contains_key(&self.local_peer)).then_some(summary);
        // A peer that is not a member here is shown only our own state's
        // part of our digest (what we push it, so that it can admit us),
        // and nothing is fetched from it: it presents itself by pushing to
        // us in its own exchange. Once it is a member, `refresh_members`
        // starts a full exchange.
        let ours = sync::Ours { digest, probe, fetch: member };
        self.tasks.spawn(sync::exchange(peer, ours, self.net.clone(), actor));
    }
}
