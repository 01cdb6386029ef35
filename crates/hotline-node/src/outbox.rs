//! The delivery schedule: which envelopes wait for a receipt, and when each
//! is tried next.
//!
//! The durable outbox is the store's `outbox` table; this is the node's
//! in-memory view of it, rebuilt from the table at start. It decides *when*
//! to try, never *whether*: an envelope leaves the schedule only when a
//! receipt that verifies comes back. Failed attempts back off exponentially
//! (`base · 2^attempts`, capped at `max`) with ±25 % jitter, so that many
//! senders retrying one recovering node do not arrive in lockstep. A peer
//! that connects makes every envelope for it due at once: that is when a
//! node that was down or partitioned can take them.

use hotline_core::{MessageId, NodeId, Timestamp};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// Backoff between delivery attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failure.
    pub base: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { base: Duration::from_millis(500), max: Duration::from_secs(60) }
    }
}

impl RetryPolicy {
    /// The wait after `attempts` failures, with `jitter` in `[0, 1)` spread
    /// over ±25 %.
    pub fn delay(&self, attempts: u32, jitter: f64) -> Duration {
        let exp = self.base.saturating_mul(1u32 << attempts.saturating_sub(1).min(20));
        let capped = exp.min(self.max);
        capped.mul_f64(0.75 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// One envelope waiting for its receipt.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    /// The sealed envelope, or `None` when it could not be sealed yet (the
    /// recipient has published no prekey bundle).
    pub envelope: Option<Vec<u8>>,
    pub queued_at: Timestamp,
    /// When this process scheduled it (for the receipt latency metric).
    pub scheduled: Instant,
    /// Attempts since this node started.
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_at: Instant,
    pub in_flight: bool,
    /// The recipient made a new connection while this attempt was in
    /// flight (it restarted, or a cut link was made anew): should the
    /// attempt fail, the next one goes over that connection at once, not
    /// after the back-off.
    pub woken_in_flight: bool,
    /// The `seq` of the recipient's prekey bundle when it last said it
    /// could not decrypt this envelope (it lost the prekey's secret, say in
    /// a crash). The envelope is sealed again only to a newer bundle, so a
    /// recipient that cannot decrypt costs one re-seal per bundle it
    /// publishes, not one per attempt.
    pub decrypt_failed_at_bundle: Option<u64>,
    /// The `seq` of the recipient's bundle the envelope was sealed to, when
    /// known (not for envelopes restored from the outbox at start-up).
    pub sealed_to_bundle: Option<u64>,
}

/// The key of one delivery: a message and one recipient node.
pub(crate) type DeliveryKey = (MessageId, NodeId);

/// How one delivery is going, as the readers off the actor see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Progress {
    pub attempts: u32,
    pub last_error: Option<String>,
    pub in_flight: bool,
    pub next_at: Instant,
}

/// The schedule's progress, shared with the readers that serve `outbox`,
/// `show` and `thread` off the actor. Only the schedule writes it, after
/// each change; the store, not the board, says whether a delivery is still
/// waiting (its outbox row) or done (its receipt).
#[derive(Clone, Debug, Default)]
pub(crate) struct DeliveryBoard(Arc<Mutex<BTreeMap<DeliveryKey, Progress>>>);

impl DeliveryBoard {
    /// The progress of one delivery, if it is scheduled.
    pub(crate) fn get(&self, key: &DeliveryKey) -> Option<Progress> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).get(key).cloned()
    }

    fn set(&self, key: DeliveryKey, pending: Option<&Pending>) {
        let mut board = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match pending {
            Some(p) => {
                let progress = Progress {
                    attempts: p.attempts,
                    last_error: p.last_error.clone(),
                    in_flight: p.in_flight,
                    next_at: p.next_at,
                };
                board.insert(key, progress);
            }
            None => {
                board.remove(&key);
            }
        }
    }
}

/// The schedule.
#[derive(Debug, Default)]
pub(crate) struct Schedule {
    pending: BTreeMap<DeliveryKey, Pending>,
    /// How many entries have `in_flight` set, in all and per recipient node.
    in_flight: usize,
    in_flight_by_node: HashMap<NodeId, usize>,
    board: DeliveryBoard,
}

impl Schedule {
    pub(crate) fn insert(&mut self, key: DeliveryKey, envelope: Option<Vec<u8>>, queued_at: Timestamp, now: Instant) {
        self.remove(&key);
        self.pending.insert(
            key,
            Pending {
                envelope,
                queued_at,
                scheduled: now,
                attempts: 0,
                last_error: None,
                next_at: now,
                in_flight: false,
                woken_in_flight: false,
                decrypt_failed_at_bundle: None,
                sealed_to_bundle: None,
            },
        );
        self.board.set(key, self.pending.get(&key));
    }

    /// The board the readers off the actor see this schedule's progress on.
    pub(crate) fn board(&self) -> DeliveryBoard {
        self.board.clone()
    }

    pub(crate) fn get(&self, key: &DeliveryKey) -> Option<&Pending> {
        self.pending.get(key)
    }

    pub(crate) fn get_mut(&mut self, key: &DeliveryKey) -> Option<&mut Pending> {
        self.pending.get_mut(key)
    }

    pub(crate) fn remove(&mut self, key: &DeliveryKey) -> Option<Pending> {
        let removed = self.pending.remove(key);
        if removed.as_ref().is_some_and(|p| p.in_flight) {
            self.landed(&key.1);
        }
        self.board.set(*key, None);
        removed
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Whether `msg` still has a delivery waiting.
    pub(crate) fn has_message(&self, msg: &MessageId) -> bool {
        self.pending.range((*msg, NodeId([0; 32]))..=(*msg, NodeId([0xff; 32]))).next().is_some()
    }

    /// The deliveries waiting, not in flight.
    pub(crate) fn keys_idle(&self) -> Vec<DeliveryKey> {
        self.pending.iter().filter(|(_, p)| !p.in_flight).map(|(k, _)| *k).collect()
    }

    /// The deliveries of `msg` still waiting.
    pub(crate) fn keys_of(&self, msg: &MessageId) -> Vec<DeliveryKey> {
        self.pending.range((*msg, NodeId([0; 32]))..=(*msg, NodeId([0xff; 32]))).map(|(k, _)| *k).collect()
    }

    fn landed(&mut self, node: &NodeId) {
        self.in_flight -= 1;
        if let Some(n) = self.in_flight_by_node.get_mut(node) {
            *n -= 1;
            if *n == 0 {
                self.in_flight_by_node.remove(node);
            }
        }
    }

    /// The deliveries due at `now` and not in flight, at most `limit` in
    /// all and with at most `per_node` in flight to any one node (a
    /// connection carries a bounded number of streams); each is marked in
    /// flight. Oldest message id first within a node.
    pub(crate) fn take_due(&mut self, now: Instant, limit: usize, per_node: usize) -> Vec<DeliveryKey> {
        let mut out = Vec::new();
        for (key, p) in self.pending.iter_mut() {
            if out.len() >= limit {
                break;
            }
            let busy = self.in_flight_by_node.get(&key.1).copied().unwrap_or(0);
            if !p.in_flight && p.next_at <= now && busy < per_node {
                p.in_flight = true;
                p.woken_in_flight = false;
                p.attempts = p.attempts.saturating_add(1);
                out.push(*key);
                self.in_flight += 1;
                *self.in_flight_by_node.entry(key.1).or_default() += 1;
                self.board.set(*key, Some(p));
            }
        }
        out
    }

    /// Records a failed attempt and schedules the next one.
    pub(crate) fn failed(&mut self, key: &DeliveryKey, error: String, policy: &RetryPolicy, jitter: f64, now: Instant) {
        let Some(p) = self.pending.get_mut(key) else { return };
        let was_in_flight = std::mem::replace(&mut p.in_flight, false);
        p.last_error = Some(error);
        p.next_at = if std::mem::take(&mut p.woken_in_flight) { now } else { now + policy.delay(p.attempts, jitter) };
        self.board.set(*key, Some(p));
        if was_in_flight {
            self.landed(&key.1);
        }
    }

    /// Makes every delivery to `node` due now (it just connected); one in
    /// flight, perhaps over a connection now dead, is retried at once if it
    /// fails.
    pub(crate) fn wake(&mut self, node: &NodeId, now: Instant) {
        for ((msg, n), p) in self.pending.iter_mut() {
            if n != node {
                continue;
            }
            if p.in_flight {
                p.woken_in_flight = true;
            } else {
                p.next_at = now;
                self.board.set((*msg, *n), Some(p));
            }
        }
    }

    /// Makes every delivery still waiting to be sealed due now (a prekey
    /// bundle may have arrived).
    pub(crate) fn wake_unsealed(&mut self, now: Instant) {
        for (key, p) in self.pending.iter_mut() {
            if p.envelope.is_none() && !p.in_flight {
                p.next_at = now;
                self.board.set(*key, Some(p));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_is_bounded_per_node() {
        let t0 = Instant::now();
        let mut s = Schedule::default();
        for i in 0..5u8 {
            s.insert((MessageId([i; 16]), NodeId([1; 32])), Some(vec![1]), Timestamp(0), t0);
            s.insert((MessageId([i; 16]), NodeId([2; 32])), Some(vec![1]), Timestamp(0), t0);
        }
        let taken = s.take_due(t0, 100, 2);
        assert_eq!(taken.len(), 4, "two per node");
        assert_eq!(s.in_flight(), 4);
        s.remove(&taken[0]);
        assert_eq!(s.take_due(t0, 100, 2).len(), 1, "one slot freed");
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = RetryPolicy { base: Duration::from_millis(100), max: Duration::from_secs(1) };
        assert_eq!(p.delay(1, 0.5), Duration::from_millis(100));
        assert_eq!(p.delay(2, 0.5), Duration::from_millis(200));
        assert_eq!(p.delay(3, 0.5), Duration::from_millis(400));
        assert_eq!(p.delay(10, 0.5), Duration::from_secs(1));
        assert_eq!(p.delay(u32::MAX, 0.5), Duration::from_secs(1));
        assert_eq!(p.delay(1, 0.0), Duration::from_millis(75));
        assert_eq!(p.delay(1, 1.0), Duration::from_millis(125));
    }

    #[test]
    fn due_failed_and_wake() {
        let t0 = Instant::now();
        let policy = RetryPolicy { base: Duration::from_secs(10), max: Duration::from_secs(60) };
        let mut s = Schedule::default();
        let a = (MessageId([1; 16]), NodeId([1; 32]));
        let b = (MessageId([2; 16]), NodeId([2; 32]));
        s.insert(a, Some(vec![1]), Timestamp(0), t0);
        s.insert(b, None, Timestamp(0), t0);
        assert_eq!(s.take_due(t0, 1, 10), vec![a]);
        assert_eq!(s.take_due(t0, 10, 10), vec![b]);
        assert!(s.take_due(t0, 10, 10).is_empty(), "in flight is never taken twice");
        s.failed(&a, "offline".into(), &policy, 0.5, t0);
        assert!(s.take_due(t0 + Duration::from_secs(9), 10, 10).is_empty());
        assert_eq!(s.take_due(t0 + Duration::from_secs(10), 10, 10), vec![a]);
        s.failed(&a, "offline".into(), &policy, 0.5, t0);
        s.wake(&a.1, t0);
        assert_eq!(s.take_due(t0, 10, 10), vec![a]);
        assert_eq!(s.get(&a).map(|p| p.attempts), Some(3));
        assert!(s.has_message(&a.0));
        assert_eq!(s.in_flight(), 2, "a and b");
        s.remove(&a);
        assert_eq!(s.in_flight(), 1);
        assert!(!s.has_message(&a.0));
        assert_eq!(s.len(), 1);
    }

    /// A recipient that makes a new connection while an attempt is in
    /// flight (it restarted; the attempt is on its dead connection) gets
    /// the retry at once when that attempt fails, not after the back-off;
    /// the next failure backs off as usual.
    #[test]
    fn a_failure_after_a_new_connection_is_retried_at_once() {
        let t0 = Instant::now();
        let policy = RetryPolicy { base: Duration::from_secs(10), max: Duration::from_secs(60) };
        let mut s = Schedule::default();
        let a = (MessageId([1; 16]), NodeId([1; 32]));
        s.insert(a, Some(vec![1]), Timestamp(0), t0);
        assert_eq!(s.take_due(t0, 10, 10), vec![a]);
        s.wake(&a.1, t0);
        assert!(s.take_due(t0, 10, 10).is_empty(), "still in flight");
        s.failed(&a, "connection closed".into(), &policy, 0.5, t0);
        assert_eq!(s.take_due(t0, 10, 10), vec![a], "due at once");
        s.failed(&a, "offline".into(), &policy, 0.5, t0);
        assert!(s.take_due(t0 + Duration::from_secs(9), 10, 10).is_empty(), "backs off again");
    }

    /// Under paused time, as the node's clock runs: a failed delivery is
    /// not due until its backoff has passed, the wait doubles with each
    /// failure, and the board the readers see follows every change.
    #[tokio::test(start_paused = true)]
    async fn retries_come_due_on_the_clock_and_the_board_follows() {
        let policy = RetryPolicy { base: Duration::from_secs(2), max: Duration::from_secs(60) };
        let mut s = Schedule::default();
        let board = s.board();
        let key = (MessageId([7; 16]), NodeId([7; 32]));
        s.insert(key, Some(vec![1]), Timestamp(0), Instant::now());
        assert_eq!(board.get(&key).map(|p| (p.attempts, p.in_flight)), Some((0, false)));
        let mut waits = Vec::new();
        for attempt in 1..=4u32 {
            assert_eq!(s.take_due(Instant::now(), 10, 10), vec![key]);
            assert_eq!(board.get(&key).map(|p| (p.attempts, p.in_flight)), Some((attempt, true)));
            s.failed(&key, format!("offline {attempt}"), &policy, 0.5, Instant::now());
            let progress = board.get(&key).expect("on the board");
            assert_eq!(progress.last_error.as_deref(), Some(format!("offline {attempt}").as_str()));
            assert!(!progress.in_flight);
            let wait = progress.next_at - Instant::now();
            waits.push(wait.as_secs());
            tokio::time::advance(wait - Duration::from_millis(1)).await;
            assert!(s.take_due(Instant::now(), 10, 10).is_empty(), "not due a millisecond early");
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        assert_eq!(waits, vec![2, 4, 8, 16]);
        s.remove(&key);
        assert_eq!(board.get(&key), None, "a receipted delivery leaves the board");
    }
}
