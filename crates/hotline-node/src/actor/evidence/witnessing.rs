//! Witnessing: other states' nodes cosign this node's checkpoints, and
//! this node cosigns theirs, each refusing a checkpoint that does not
//! extend the last it cosigned (`hotline_evidence::witness`).
//!
//! - **Who witnesses whom.** For a node of state S, the member nodes of
//!   the [`WITNESS_STATES`] other states ranked first by
//!   `digest(node ‖ state)`: deterministic from the directory, the same on
//!   every node, and different for each node, so no single state witnesses
//!   everyone.
//! - **Asking.** After each checkpoint is durable, and when a witness
//!   connects, the node sends it `Cosign` with the consistency proof from
//!   the size that witness last cosigned (0 at first; a witness that holds
//!   another size answers `NeedProof` and is asked once more), and its own
//!   checkpoint of the log at that size, signed now. The cosignature is
//!   merged into the stored checkpoint.
//! - **Answering.** A member's checkpoint that extends the last one
//!   cosigned for it is cosigned and kept (durable before the answer). One
//!   that contradicts it (a fork, a rollback), or whose asker's checkpoint
//!   at the size last cosigned has another root, is an equivocation: the
//!   proof is stored, announced (`equivocation` event), answered, and sent
//!   to every connected member, each of which checks it itself and keeps
//!   it. Strangers are refused, and a member is answered at most
//!   [`WITNESS_REQUESTS`] times per [`WITNESS_WINDOW`].

use super::*;
use hotline_evidence::witness::{contradiction, judge};
use hotline_evidence::{EquivocationProof, Hash, SignedCheckpoint, Verdict};
use hotline_net::{CosignRequest, EquivocationReport, SyncReply};
use hotline_store::Equivocation;

/// How far ahead of this node's clock a head's time may be.
const MAX_AHEAD: u64 = 5 * 60;
/// How far behind this node's clock a head's time may be (a node re-signs
/// its head at least every `CHECKPOINT_IDLE`).
const MAX_BEHIND: u64 = 20 * 60;
/// Most nodes whose equivocation proofs one run of the node takes in.
const MAX_EQUIVOCATIONS: usize = 256;

/// How many other states witness each node's log.
pub(crate) const WITNESS_STATES: usize = 2;
/// Most witness requests (cosign, equivocation) answered for one member
/// per [`WITNESS_WINDOW`]: a round with a `NeedProof` takes two.
pub(crate) const WITNESS_REQUESTS: u32 = 4;
/// The window of [`WITNESS_REQUESTS`].
pub(crate) const WITNESS_WINDOW: Duration = Duration::from_secs(1);

impl Actor {
    /// The member peers that witness `node` of `state`.
    pub(in crate::actor) fn witnesses_of(&self, node: &NodeId, state: StateCode) -> Vec<PeerId> {
        let mut states: Vec<StateCode> = self
            .directory
            .members
            .values()
            .copied()
            .filter(|s| *s != state)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        states.sort_by_key(|s| {
            let mut input = node.0.to_vec();
            input.extend_from_slice(s.as_str().as_bytes());
            hotline_evidence::digest(&input)
        });
        states.truncate(WITNESS_STATES);
        self.directory.members.iter().filter(|(_, s)| states.contains(s)).map(|(p, _)| *p).collect()
    }

    /// Asks this node's witnesses (those connected, or only `only`) to
    /// cosign the latest checkpoint.
    pub(in crate::actor) fn ask_witnesses(&mut self, only: Option<PeerId>) {
        let me = self.mail.node_id;
        let witnesses: Vec<PeerId> = self
            .witnesses_of(&me, self.state)
            .into_iter()
            .filter(|p| self.connected.contains_key(p) && only.is_none_or(|o| o == *p))
            .collect();
        if witnesses.is_empty() {
            return;
        }
        let Ok(snap) = self.store.snapshot() else { return };
        if self.evidence.current.is_none() {
            self.evidence.current = snap.checkpoint().ok().flatten();
        }
        let Some(checkpoint) = self.evidence.current.clone() else { return };
        let network = self.directory.dir.network_id();
        let Ok((cp, cosigs)) = checkpoint.verify(&network, &me) else { return };
        for peer in witnesses {
            let Some(witness) = hotline_net::node_id_of(&peer) else { continue };
            if cosigs.iter().any(|c| c.witness == witness) || !self.evidence.asking.insert(peer) {
                continue;
            }
            let from_size = self.evidence.cosigned_size.get(&peer).copied().filter(|s| *s <= cp.size).unwrap_or(0);
            let proof_and_prefix = snap.evidence_consistency(cp.size, from_size).and_then(|proof| {
                let prefix = if from_size == 0 {
                    Vec::new()
                } else {
                    // A prefix claim: no time, so it can prove a fork, never a rollback.
                    let root = snap.evidence_root(from_size)?;
                    let at = Checkpoint { node: me, epoch: cp.epoch, size: from_size, root, time: None };
                    SignedCheckpoint::sign(&at, &self.mail.node_key, &network)
                        .map(|s| s.as_bytes().to_vec())
                        .unwrap_or_default()
                };
                Ok((proof.into_iter().map(|h| h.0).collect(), prefix))
            });
            let (proof, prefix) = match proof_and_prefix {
                Ok(p) => p,
                Err(e) => {
                    warn!(error = %e, "cannot prove the evidence log's consistency");
                    self.evidence.asking.remove(&peer);
                    continue;
                }
            };
            let request = CosignRequest { checkpoint: checkpoint.as_bytes().to_vec(), from_size, prefix, proof };
            let (net, actor) = (self.net.clone(), self.tasks.completions());
            self.tasks.spawn(async move {
                let response = net.sync_request(peer, SyncRequest::Cosign(request)).await.map_err(|e| e.to_string());
                let _ = actor.send(Completion::Cosign { peer, size: cp.size, from_size, response }).await;
            });
        }
    }

    /// A witness answered a `Cosign`.
    pub(in crate::actor) fn on_cosign_answer(
        &mut self,
        peer: PeerId,
        size: u64,
        from_size: u64,
        response: Result<SyncResponse, String>,
    ) {
        let network = self.directory.dir.network_id();
        let me = self.mail.node_id;
        self.evidence.asking.remove(&peer);
        match response {
            Ok(SyncResponse::Cosigned(note)) => {
                let merged = SignedCheckpoint::from_bytes(&note).and_then(|theirs| match &self.evidence.current {
                    Some(ours) => ours.merge(&theirs, &network, &me),
                    None => Err(hotline_evidence::EvidenceError::Malformed("no checkpoint held".into())),
                });
                match merged {
                    Ok(merged) => {
                        self.evidence.cosigned_size.insert(peer, size);
                        let mut batch = WriteBatch::new();
                        batch.put_checkpoint(&merged);
                        self.evidence.current = Some(merged);
                        debug!(%peer, size, "checkpoint cosigned");
                        self.persist_with(Vec::new(), batch, After::Nothing, Vec::new());
                    }
                    // A newer checkpoint was signed meanwhile: its own round asks again.
                    Err(e) => debug!(%peer, error = %e, "a cosignature does not fit the checkpoint held"),
                }
            }
            Ok(SyncResponse::NeedProof(last)) if last != from_size && last <= size => {
                self.evidence.cosigned_size.insert(peer, last);
                self.ask_witnesses(Some(peer));
            }
            Ok(SyncResponse::Equivocation(report)) => {
                error!(%peer, "a witness says this node's evidence log contradicts a checkpoint it cosigned: was the store put back to an older copy without `hotline restore`?");
                self.keep_equivocation(report, None);
            }
            Ok(other) => debug!(%peer, answer = ?other, "a witness did not cosign"),
            Err(e) => debug!(%peer, error = %e, "cannot ask a witness"),
        }
    }

    /// A member asks this node to cosign its checkpoint.
    pub(in crate::actor) fn on_cosign_request(&mut self, peer: PeerId, request: CosignRequest, reply: SyncReply) {
        match self.judge_cosign(peer, request) {
            Ok(response) => self.answer_sync(reply, response),
            // Answered once what it keeps is durable.
            Err((batch, response)) => {
                self.persist_with(Vec::new(), batch, After::SyncAnswer { reply, response }, Vec::new())
            }
        }
    }

    /// The answer to a `Cosign`: now, or once a batch is written.
    fn judge_cosign(
        &mut self,
        peer: PeerId,
        request: CosignRequest,
    ) -> Result<SyncResponse, (WriteBatch, SyncResponse)> {
        if !self.directory.members.contains_key(&peer) || !self.witness_budget(peer) {
            return Ok(SyncResponse::Refused);
        }
        let Some(node) = hotline_net::node_id_of(&peer) else { return Ok(SyncResponse::Refused) };
        let network = self.directory.dir.network_id();
        let Ok(new) = SignedCheckpoint::from_bytes(&request.checkpoint) else { return Ok(SyncResponse::Refused) };
        let Ok((new_cp, _)) = new.verify(&network, &node) else { return Ok(SyncResponse::Refused) };
        // A head must be signed about now: a back-dated one could not be
        // told from a late one, and a node could rewrite unnoticed.
        let now = self.now();
        match new_cp.time {
            Some(t) if t.0 <= now.0.saturating_add(MAX_AHEAD) && t.0.saturating_add(MAX_BEHIND) >= now.0 => {}
            _ => return Ok(SyncResponse::Refused),
        }
        let held = match self.evidence.witnessed.get(&node) {
            Some(l) => Ok(Some(l.clone())),
            None => self.store.snapshot().and_then(|s| s.witnessed(&node)),
        };
        let last = match held {
            Ok(last) => last.and_then(|l| l.verify(&network, &node).ok().map(|(cp, _)| (l, cp))),
            Err(e) => {
                warn!(error = %e, "cannot read the checkpoints witnessed");
                return Ok(SyncResponse::Refused);
            }
        };
        if let Some((signed, cp)) = &last
            && *cp == new_cp
        {
            // Cosigned already (the answer was lost): the same again.
            return Ok(SyncResponse::Cosigned(signed.as_bytes().to_vec()));
        }
        // The asker's own word on its log at the size last cosigned: another
        // root for it is a fork, proven by the two signed checkpoints.
        if let Some((last_signed, cp)) = &last
            && request.from_size == cp.size
            && let Ok(prefix) = SignedCheckpoint::from_bytes(&request.prefix)
            && let Ok((prefix_cp, _)) = prefix.verify(&network, &node)
            && contradiction(cp, &prefix_cp).is_some()
        {
            let proof = EquivocationProof { first: last_signed.clone(), second: prefix };
            return Ok(self.equivocation_found(node, proof, peer));
        }
        let proof: Vec<Hash> = request.proof.iter().map(|h| Hash(*h)).collect();
        let last_ref = last.as_ref().map(|(s, c)| (s, c));
        match judge(last_ref, &new, &new_cp, &proof) {
            Verdict::Extends => {
                let cosigned = match new.cosign(&node, &self.mail.node_key, &network, now) {
                    Ok(c) => c,
                    Err(e) => {
                        warn!(error = %e, "cannot cosign a checkpoint");
                        return Ok(SyncResponse::Refused);
                    }
                };
                let mut batch = WriteBatch::new();
                batch.put_witnessed(&node, &cosigned);
                // A new epoch: the old one's last checkpoint is kept apart.
                if let Some((old, cp)) = &last
                    && cp.epoch < new_cp.epoch
                {
                    batch.put_witnessed_final(&node, cp.epoch, old);
                }
                self.evidence.witnessed.insert(node, cosigned.clone());
                let response = SyncResponse::Cosigned(cosigned.as_bytes().to_vec());
                debug!(%peer, size = new_cp.size, "cosigning a checkpoint");
                Err((batch, response))
            }
            Verdict::Inconsistent => match &last {
                Some((_, cp)) if request.from_size != cp.size => Ok(SyncResponse::NeedProof(cp.size)),
                _ => Ok(SyncResponse::Refused),
            },
            Verdict::Stale => Ok(SyncResponse::Refused),
            Verdict::Equivocation(proof) => Ok(self.equivocation_found(node, proof, peer)),
        }
    }

    /// This node, as a witness, caught `node` equivocating: keep, spread
    /// and answer the proof.
    fn equivocation_found(&mut self, node: NodeId, proof: EquivocationProof, peer: PeerId) -> SyncResponse {
        let report = EquivocationReport {
            node: node.0,
            first: proof.first.as_bytes().to_vec(),
            second: proof.second.as_bytes().to_vec(),
        };
        self.keep_equivocation(report.clone(), Some(peer));
        SyncResponse::Equivocation(report)
    }

    /// A member reports a node's equivocation.
    pub(in crate::actor) fn on_equivocation_report(
        &mut self,
        peer: PeerId,
        report: EquivocationReport,
        reply: SyncReply,
    ) {
        let response = if self.directory.members.contains_key(&peer) && self.witness_budget(peer) {
            if self.keep_equivocation(report, Some(peer)) { SyncResponse::Ack } else { SyncResponse::Refused }
        } else {
            SyncResponse::Refused
        };
        self.answer_sync(reply, response);
    }

    /// Checks `report` and, if it proves an equivocation not held yet,
    /// stores it, announces it, and sends it on to every connected member
    /// but `from`. Whether it holds.
    pub(in crate::actor) fn keep_equivocation(&mut self, report: EquivocationReport, from: Option<PeerId>) -> bool {
        let network = self.directory.dir.network_id();
        let node = NodeId(report.node);
        // Only a node of the directory (a member, or one its state
        // revoked), and a bounded number: made-up keys cost nothing to make.
        let now = self.now();
        let known = self.directory.dir.is_member(&node, now)
            || self.directory.dir.revoked_nodes(now).iter().any(|(_, n)| *n == node);
        if !known || self.evidence.equivocations.len() >= MAX_EQUIVOCATIONS {
            return false;
        }
        let proof = match (SignedCheckpoint::from_bytes(&report.first), SignedCheckpoint::from_bytes(&report.second)) {
            (Ok(first), Ok(second)) => EquivocationProof { first, second },
            _ => return false,
        };
        let kind = match proof.verify(&network, &node) {
            Ok(kind) => kind,
            Err(e) => {
                debug!(error = %e, "an equivocation report does not prove anything");
                return false;
            }
        };
        if self.evidence.equivocations.contains(&node)
            || matches!(self.store.snapshot().and_then(|s| s.equivocation(&node)), Ok(Some(_)))
        {
            return true;
        }
        self.evidence.equivocations.insert(node);
        error!(node = %node.to_peer_id(), kind = kind.code(), "a node rewrote its evidence log: the proof is kept and sent to every member");
        let row = Equivocation { first: report.first.clone(), second: report.second.clone(), seen_at: self.now() };
        let mut batch = WriteBatch::new();
        batch.put_equivocation(&node, &row);
        self.persist_with(Vec::new(), batch, After::Nothing, Vec::new());
        self.emit(NodeEvent::Equivocation { node: node.to_peer_id(), kind: kind.code().to_string() });
        let members: Vec<PeerId> = self
            .directory
            .members
            .keys()
            .filter(|p| self.connected.contains_key(p) && Some(**p) != from && **p != self.local_peer)
            .copied()
            .collect();
        for peer in members {
            let net = self.net.clone();
            let request = SyncRequest::Equivocation(report.clone());
            self.tasks.spawn(async move {
                if let Err(e) = net.sync_request(peer, request).await {
                    debug!(%peer, error = %e, "cannot send an equivocation report");
                }
            });
        }
        true
    }

    /// Whether `peer` may have one more witness request answered now.
    fn witness_budget(&mut self, peer: PeerId) -> bool {
        let now = Instant::now();
        let (since, count) = self.evidence.answered.entry(peer).or_insert((now, 0));
        if now.duration_since(*since) >= WITNESS_WINDOW {
            (*since, *count) = (now, 0);
        }
        *count += 1;
        *count <= WITNESS_REQUESTS
    }

    fn answer_sync(&mut self, reply: SyncReply, response: SyncResponse) {
        let net = self.net.clone();
        self.tasks.spawn(async move {
            if let Err(e) = net.respond_sync(reply, response).await {
                debug!(error = %e, "cannot answer a sync request");
            }
        });
    }
}
