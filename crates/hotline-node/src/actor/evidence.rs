//! The evidence log, the actor's side: each event goes into the batch that
//! writes what it records (`log_event`), and a checkpoint of the log is
//! signed every [`CHECKPOINT_TICK`] while events arrive, and every
//! [`CHECKPOINT_IDLE`] otherwise (`on_checkpoint_tick`), and kept in the
//! store. Reads (`GET /v1/evidence`) go to the store (`crate::evidence`).

use super::*;
use hotline_evidence::{Checkpoint, EvidenceEvent, SignedCheckpoint};

mod witnessing;

/// How often the log is looked at for a new checkpoint.
pub(crate) const CHECKPOINT_TICK: Duration = Duration::from_secs(2);
/// Longest time between two checkpoints while nothing happens.
pub(crate) const CHECKPOINT_IDLE: u64 = 600;

/// The evidence feature's own state.
#[derive(Debug, Default)]
pub(super) struct EvidenceFeature {
    /// Off only in benchmarks (`NodeOptions::evidence_log`).
    off: bool,
    /// The epoch, size and time of the last checkpoint signed.
    last: Option<(u64, u64, Timestamp)>,
    /// Events put into batches since that checkpoint (their writes may
    /// still be in flight).
    logged: bool,
    /// A checkpoint's write is in flight.
    writing: bool,
    /// The index the next leaf will have.
    next_leaf: LeafIndex,
    /// The latest checkpoint with the cosignatures gathered so far (the
    /// store's copy may lag while a write is in flight).
    current: Option<SignedCheckpoint>,
    /// Witnesses asked, whose answer has not come back.
    asking: std::collections::HashSet<PeerId>,
    /// Per witness: the size it last cosigned (as far as this node knows).
    cosigned_size: HashMap<PeerId, u64>,
    /// Per member: the start of its current window of witness requests,
    /// and how many it has had answered in it.
    answered: HashMap<PeerId, (Instant, u32)>,
    /// Nodes whose equivocation this node holds proof of.
    equivocations: std::collections::HashSet<NodeId>,
    /// Per node witnessed: the last checkpoint cosigned, ahead of the
    /// store while its write is in flight (two requests in a row are
    /// judged against the newer).
    witnessed: HashMap<NodeId, SignedCheckpoint>,
}

impl EvidenceFeature {
    /// The feature's state at start: `keep` is `NodeOptions::evidence_log`.
    pub(super) fn new(keep: bool) -> EvidenceFeature {
        EvidenceFeature { off: !keep, ..Default::default() }
    }
}

impl Actor {
    /// Puts `event` into `batch` at the log's next index (the batch fails
    /// unless it lands there): the log holds it once the batch is durable.
    /// Nothing if the index cannot be read (the batch's write fails too).
    pub(in crate::actor) fn log_event(&mut self, batch: &mut WriteBatch, event: EvidenceEvent) {
        if let Some(at) = self.log_position() {
            self.log_event_at(batch, event, at);
        }
    }

    /// Puts `event` into `batch` at index `at`, which [`Actor::log_position`]
    /// gave just before (a receipt names it).
    pub(in crate::actor) fn log_event_at(&mut self, batch: &mut WriteBatch, event: EvidenceEvent, at: u64) {
        if self.evidence.off {
            return;
        }
        batch.append_evidence_at(event.leaf_hash(&self.directory.dir.network_id()), at);
        self.evidence.next_leaf.next = Some(at + 1);
        self.evidence.logged = true;
    }

    /// The index the next leaf logged will have (0 when no log is kept);
    /// `None` if the store cannot say.
    pub(in crate::actor) fn log_position(&mut self) -> Option<u64> {
        if self.evidence.off {
            return Some(0);
        }
        if let Some(next) = self.evidence.next_leaf.next {
            return Some(next);
        }
        match self.store.snapshot().and_then(|s| s.evidence_size()) {
            Ok(size) => {
                self.evidence.next_leaf.next = Some(size);
                Some(size)
            }
            Err(e) => {
                warn!(error = %e, "cannot read the evidence log's size");
                None
            }
        }
    }

    /// The generation of the current guess of the next index.
    pub(in crate::actor) fn evidence_generation(&self) -> u64 {
        self.evidence.next_leaf.generation
    }

    /// A batch whose first leaf was to land at `first` failed. If it was
    /// built on the current guess, the leaves from `first` on never landed:
    /// the next index is `first` again, in a new generation. A batch of an
    /// older generation failed because an earlier one did: nothing more.
    pub(in crate::actor) fn on_leaves_failed(&mut self, first: u64, generation: u64) {
        self.evidence.next_leaf.failed(first, generation);
    }

    /// Signs a checkpoint of the log if it grew since the last one, or if
    /// the last one is [`CHECKPOINT_IDLE`] old.
    pub(in crate::actor) fn on_checkpoint_tick(&mut self) {
        if self.evidence.writing || self.evidence.off {
            return;
        }
        // Witnesses that have not cosigned the latest checkpoint yet (one
        // was away, or its answer was lost) are asked again.
        self.ask_witnesses(None);
        let now = self.now();
        let idle = self.evidence.last.is_none_or(|(_, _, at)| now.0 >= at.0.saturating_add(CHECKPOINT_IDLE));
        if !self.evidence.logged && !idle {
            return;
        }
        let head = self.store.snapshot().and_then(|s| {
            let size = s.evidence_size()?;
            Ok((s.evidence_epoch()?, size, s.evidence_root(size)?, s.checkpoint()?))
        });
        let (epoch, size, root, stored) = match head {
            Ok(h) => h,
            Err(e) => {
                warn!(error = %e, "cannot read the evidence log");
                return;
            }
        };
        if self.evidence.last.is_none()
            && let Some(stored) = stored
            && let Ok((cp, _)) = stored.verify(&self.directory.dir.network_id(), &self.mail.node_id)
        {
            self.evidence.last = Some((cp.epoch, cp.size, cp.time.unwrap_or(Timestamp(0))));
        }
        let unchanged = self.evidence.last.is_some_and(|(e, s, _)| e == epoch && s == size);
        let recent = self.evidence.last.is_some_and(|(_, _, at)| now.0 < at.0.saturating_add(CHECKPOINT_IDLE));
        if unchanged && recent {
            // Events whose writes are still in flight are signed next tick.
            return;
        }
        self.evidence.logged = false;
        // A head's time never goes back, even if the clock does (a clock
        // stepped back by NTP would otherwise look like a rollback).
        let time = self.evidence.last.map_or(now, |(_, _, at)| Timestamp(now.0.max(at.0)));
        let checkpoint = Checkpoint { node: self.mail.node_id, epoch, size, root, time: Some(time) };
        let signed = match SignedCheckpoint::sign(&checkpoint, &self.mail.node_key, &self.directory.dir.network_id()) {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "cannot sign a checkpoint of the evidence log");
                return;
            }
        };
        let mut batch = WriteBatch::new();
        batch.put_checkpoint(&signed);
        self.evidence.current = Some(signed);
        self.evidence.writing = true;
        debug!(epoch, size, "evidence checkpoint signed");
        self.persist_with(Vec::new(), batch, After::Checkpointed { epoch, size, at: time }, Vec::new());
    }

    /// A checkpoint's write ended.
    pub(in crate::actor) fn on_checkpointed(
        &mut self,
        result: Result<(), String>,
        epoch: u64,
        size: u64,
        at: Timestamp,
    ) {
        self.evidence.writing = false;
        match result {
            Ok(()) => {
                self.evidence.last = Some((epoch, size, at));
                self.ask_witnesses(None);
            }
            Err(e) => {
                self.evidence.logged = true;
                warn!(error = %e, "a checkpoint of the evidence log could not be stored; signing again later");
            }
        }
    }
}

/// The index the next leaf will have: read from the store at first use,
/// then followed in memory. A batch whose leaves were built on it and
/// failed puts it back to its first leaf, in a new generation: the batches
/// built before that failure (an older generation) fail after it too,
/// since their leaves would not land where their receipts say, and change
/// nothing more; leafless writes never touch it.
#[derive(Debug, Default)]
pub(super) struct LeafIndex {
    next: Option<u64>,
    generation: u64,
}

impl LeafIndex {
    /// A batch of `generation` whose first leaf was to land at `first`
    /// failed.
    fn failed(&mut self, first: u64, generation: u64) {
        if generation == self.generation {
            self.generation += 1;
            self.next = Some(first);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_failed_write_is_one_step_back_not_a_cascade() {
        let mut index = LeafIndex { next: Some(10), generation: 0 };
        // Three batches in flight, built on generation 0: 10..12, 12, 13.
        index.next = Some(14);
        // The first fails: back to 10, generation 1.
        index.failed(10, 0);
        assert_eq!((index.next, index.generation), (Some(10), 1));
        // The two after it fail because of it: nothing more changes.
        index.failed(12, 0);
        index.failed(13, 0);
        assert_eq!((index.next, index.generation), (Some(10), 1));
        // A batch of the new generation fails in its turn: back to it.
        index.next = Some(11);
        index.failed(10, 1);
        assert_eq!((index.next, index.generation), (Some(10), 2));
    }
}
