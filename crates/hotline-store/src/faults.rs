//! Write faults injected into a real store, for tests of what a node does
//! when its disk fails (feature `fault-injection`; never in a release
//! build of the daemon).
//!
//! A node promises that nothing is acknowledged before it is durable.
//! Proving it means making one particular write fail while everything
//! else runs for real: the network, the actor, the commit thread and the
//! database. [`WriteFaults`] does that at one point, the start of a
//! group commit: armed, it stops the next group that writes to a table,
//! tells the test it holds it, and on [`WriteFaults::release`] lets it
//! go on or fails it as an I/O error would.

use crate::batch::{Op, WriteBatch};
use crate::schema::Table;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Where a test stops and fails a store's writes.
#[derive(Debug, Default)]
pub struct WriteFaults {
    state: Mutex<State>,
    changed: Condvar,
}

/// The table whose next write is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultTable {
    /// Messages, sent and received.
    Messages,
    /// Communication checks.
    Comchecks,
    /// The health probe (`GET /health` writes one row).
    Health,
}

impl FaultTable {
    fn table(self) -> Table {
        match self {
            FaultTable::Messages => Table::Messages,
            FaultTable::Comchecks => Table::Comchecks,
            FaultTable::Health => Table::Health,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// Hold a group that writes to this table, after letting this many
    /// such groups go.
    armed: Option<(FaultTable, usize)>,
    /// A group is held now.
    holding: bool,
    /// What the held group is told: `Some(true)` fail, `Some(false)` go on.
    verdict: Option<bool>,
}

impl WriteFaults {
    /// No fault armed.
    pub fn new() -> WriteFaults {
        WriteFaults::default()
    }

    /// Lets `skip` groups of batches that write a row of `table` go, and
    /// holds the next one until [`WriteFaults::release`].
    pub fn hold_write_to(&self, table: FaultTable, skip: usize) {
        let mut state = self.lock();
        *state = State { armed: Some((table, skip)), holding: false, verdict: None };
    }

    /// Waits until a group is held, at most `timeout`. Returns whether one is.
    pub fn wait_held(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        let mut state = self.lock();
        while !state.holding {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self.changed.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        true
    }

    /// Lets the held group (or the next one, if none is held yet) go on,
    /// or fail with an I/O error when `fail`.
    pub fn release(&self, fail: bool) {
        let mut state = self.lock();
        state.verdict = Some(fail);
        self.changed.notify_all();
    }

    /// Called by the store before it writes `batches`: holds them if they
    /// write to the armed table. Returns whether the write must fail.
    pub(crate) fn before_write(&self, batches: &[WriteBatch]) -> bool {
        let mut state = self.lock();
        let Some((armed, skip)) = state.armed else { return false };
        let writes = |op: &Op| matches!(op, Op::Put { table, .. } if *table == armed.table());
        if !batches.iter().flat_map(|b| &b.ops).any(writes) {
            return false;
        }
        if skip > 0 {
            state.armed = Some((armed, skip - 1));
            return false;
        }
        state.armed = None;
        state.holding = true;
        self.changed.notify_all();
        while state.verdict.is_none() {
            state = self.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        let fail = state.verdict.take().unwrap_or(false);
        state.holding = false;
        fail
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
