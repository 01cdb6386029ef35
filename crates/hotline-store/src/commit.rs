//! Group commit: many writers, one fsync.
//!
//! An fsync costs milliseconds on real disks, and every write that a peer or
//! a user is told about must be durable first. Committing each batch on its
//! own would cap a node at a few hundred writes per second. Instead, one
//! thread owns the writes: it takes the batch at the head of the queue, adds
//! every batch queued behind it at that moment, commits them all in one
//! transaction, and then answers each caller. Under load the queue fills
//! while an fsync runs, so the cost of one fsync is shared by many batches;
//! with no load, a batch is committed at once.

use crate::batch::WriteBatch;
use crate::error::StoreError;
use crate::store::Store;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

/// Most batches coalesced into one transaction, so that one commit, and the
/// wait of the first caller in it, stays bounded however long the queue is.
const MAX_GROUP: usize = 1024;

type Callback = Box<dyn FnOnce(Result<(), StoreError>) + Send + 'static>;

/// Calls its callback exactly once: with the commit's result, or with
/// [`StoreError::CommitterStopped`] if it is dropped unanswered (the thread
/// stopped, or the batch was queued after it stopped).
struct Responder(Option<Callback>);

impl Responder {
    fn answer(mut self, result: Result<(), StoreError>) {
        if let Some(callback) = self.0.take() {
            call(callback, result);
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(callback) = self.0.take() {
            call(callback, Err(StoreError::CommitterStopped));
        }
    }
}

/// A panicking callback must not take down the thread that serves every
/// other writer.
fn call(callback: Callback, result: Result<(), StoreError>) {
    let _ = panic::catch_unwind(AssertUnwindSafe(move || callback(result)));
}

enum Msg {
    Commit(WriteBatch, Responder),
    Stop,
}

/// A handle to the store's commit thread. Cheap to clone and `Send + Sync`:
/// give one to every task that writes.
///
/// Batches are committed in the order they were submitted, so a caller that
/// submits under its directory lock keeps slots consistent. The thread runs until [`GroupCommitter::shutdown`] is called or every
/// handle is dropped; either way it first commits what is already queued.
#[derive(Clone)]
pub struct GroupCommitter {
    tx: Sender<Msg>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for GroupCommitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommitter").finish_non_exhaustive()
    }
}

impl GroupCommitter {
    /// Starts the commit thread for `store`.
    pub fn start(store: Arc<Store>) -> Result<GroupCommitter, StoreError> {
        let (tx, rx) = mpsc::channel();
        let path = store.path().to_path_buf();
        let handle = thread::Builder::new()
            .name("hotline-store-commit".into())
            .spawn(move || run(&store, &rx))
            .map_err(|e| StoreError::io("start the commit thread for", &path, e))?;
        Ok(GroupCommitter { tx, thread: Arc::new(Mutex::new(Some(handle))) })
    }

    /// Commits `batch`, possibly together with other callers' batches, and
    /// returns once it is durable. Blocks the calling thread: from async code
    /// use [`GroupCommitter::submit_with`] instead.
    pub fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.submit(batch).recv().unwrap_or(Err(StoreError::CommitterStopped))
    }

    /// Queues `batch` and returns at once; the receiver gets exactly one
    /// result, once the batch is durable or has failed.
    pub fn submit(&self, batch: WriteBatch) -> Receiver<Result<(), StoreError>> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.submit_with(batch, move |result| {
            let _ = tx.send(result);
        });
        rx
    }

    /// Queues `batch` and returns at once; `done` is called exactly once with
    /// the result, on the commit thread (or on this thread if the committer
    /// has stopped). `done` must be quick and must not block: it delays every
    /// other writer. Sending on an async oneshot channel is the intended use.
    pub fn submit_with(&self, batch: WriteBatch, done: impl FnOnce(Result<(), StoreError>) + Send + 'static) {
        // If the thread is gone, the message comes back inside the error and
        // is dropped here, which answers `done` with `CommitterStopped`.
        let _ = self.tx.send(Msg::Commit(batch, Responder(Some(Box::new(done)))));
    }

    /// Commits every batch queued so far, then stops the thread and waits for
    /// it, which releases its reference to the store. Batches submitted
    /// afterwards, through any clone, fail with [`StoreError::CommitterStopped`].
    pub fn shutdown(&self) {
        let _ = self.tx.send(Msg::Stop);
        let handle = self.thread.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(handle) = handle {
            // Called from a callback, on the commit thread itself: joining would deadlock.
            if handle.thread().id() != thread::current().id() {
                let _ = handle.join();
            }
        }
    }
}

fn run(store: &Store, rx: &Receiver<Msg>) {
    let mut stopping = false;
    while !stopping {
        let mut group = match rx.recv() {
            Ok(Msg::Commit(batch, responder)) => vec![(batch, responder)],
            Ok(Msg::Stop) | Err(_) => return,
        };
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(Msg::Commit(batch, responder)) => group.push((batch, responder)),
                Ok(Msg::Stop) => {
                    stopping = true;
                    break;
                }
                Err(_) => break,
            }
        }
        commit_group(store, group);
    }
    // Returning drops the receiver, and with it every batch still queued,
    // whose responders then answer `CommitterStopped`.
}

fn commit_group(store: &Store, group: Vec<(WriteBatch, Responder)>) {
    let (batches, responders): (Vec<WriteBatch>, Vec<Responder>) = group.into_iter().unzip();
    match store.write_group(&batches) {
        Ok(()) => responders.into_iter().for_each(|r| r.answer(Ok(()))),
        Err(e) if batches.len() == 1 => {
            if let Some(responder) = responders.into_iter().next() {
                responder.answer(Err(e));
            }
        }
        // The transaction was rolled back as a whole. Retry each batch on its
        // own, so that one batch's problem is not reported to the others.
        Err(_) => {
            for (batch, responder) in batches.into_iter().zip(responders) {
                responder.answer(store.write(batch));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_core::testkit::{IntoObject, T0, World};
    use hotline_core::{Directory, ObjectKey, Outcome, StateCode};
    use std::path::Path;

    /// State codes for tests that need many distinct slots.
    const STATES: [&str; 40] = [
        "FRA", "DEU", "EST", "ITA", "ESP", "POL", "NLD", "BEL", "AUT", "SWE", "FIN", "DNK", "PRT", "IRL", "GRC", "CZE",
        "SVK", "SVN", "HRV", "HUN", "ROU", "BGR", "LTU", "LVA", "LUX", "MLT", "CYP", "NOR", "ISL", "CHE", "GBR", "USA",
        "CAN", "MEX", "BRA", "ARG", "CHL", "JPN", "KOR", "AUS",
    ];

    /// One batch per admitted state, each touching its own slot.
    fn admission_batches(w: &World, states: &[&str]) -> (Directory, Vec<WriteBatch>) {
        let mut dir = Directory::new(w.charter.clone()).unwrap();
        let batches = states
            .iter()
            .map(|s| {
                let applied = match dir.apply(w.admission(s, 1).obj(), T0) {
                    Ok(Outcome::Applied(applied)) => applied,
                    other => panic!("admitting {s}: {other:?}"),
                };
                let mut batch = WriteBatch::new();
                batch.record_applied(&applied, &dir, T0);
                batch
            })
            .collect();
        (dir, batches)
    }

    fn new_store(w: &World, dir: &Path) -> Arc<Store> {
        Arc::new(Store::create(dir, &w.charter, "FRA".parse().unwrap()).unwrap())
    }

    fn assert_durable(dir: &Path, expected: &Directory) {
        let store = Store::open(dir).expect("the committer released the store");
        let loaded = store.load_directory().unwrap();
        assert_eq!(loaded.digest(T0), expected.digest(T0));
        for (key, _) in expected.entries() {
            assert_eq!(store.history(key).unwrap().len(), 1, "history of {key}");
        }
    }

    #[test]
    fn queued_batches_are_coalesced_into_one_transaction() {
        let w = World::default();
        let tmp = tempfile::tempdir().unwrap();
        let store = new_store(&w, tmp.path());
        let committer = GroupCommitter::start(Arc::clone(&store)).unwrap();
        let (dir, batches) = admission_batches(&w, &STATES[..16]);
        let n = batches.len();

        // While something else holds the write lock, every batch queues up.
        let blocker = store.block_writes();
        let tickets: Vec<_> = batches.into_iter().map(|b| committer.submit(b)).collect();
        drop(blocker);
        for ticket in tickets {
            ticket.recv().unwrap().unwrap();
        }
        // The thread may have taken the first batch before the others were
        // queued; everything else went in together.
        let transactions = store.write_transactions();
        assert!(transactions <= 2, "{n} batches took {transactions} transactions");

        committer.shutdown();
        drop(store);
        assert_durable(tmp.path(), &dir);
    }

    #[test]
    fn concurrent_committers_all_become_durable() {
        let w = World::default();
        let tmp = tempfile::tempdir().unwrap();
        let store = new_store(&w, tmp.path());
        let committer = GroupCommitter::start(Arc::clone(&store)).unwrap();
        let (dir, batches) = admission_batches(&w, &STATES);
        let n = batches.len() as u64;

        let mut per_thread: Vec<Vec<WriteBatch>> = (0..4).map(|_| Vec::new()).collect();
        for (i, batch) in batches.into_iter().enumerate() {
            per_thread[i % 4].push(batch);
        }
        let threads: Vec<_> = per_thread
            .into_iter()
            .map(|batches| {
                let committer = committer.clone();
                thread::spawn(move || batches.into_iter().map(|b| committer.commit(b)).collect::<Vec<_>>())
            })
            .collect();
        for t in threads {
            for result in t.join().unwrap() {
                result.unwrap();
            }
        }
        let transactions = store.write_transactions();
        assert!((1..=n).contains(&transactions), "{transactions} transactions for {n} batches");

        committer.shutdown();
        drop(store);
        assert_durable(tmp.path(), &dir);
    }

    #[test]
    fn callbacks_are_answered_once_even_when_one_panics() {
        let w = World::default();
        let tmp = tempfile::tempdir().unwrap();
        let store = new_store(&w, tmp.path());
        let committer = GroupCommitter::start(Arc::clone(&store)).unwrap();
        let (_, mut batches) = admission_batches(&w, &STATES[..2]);

        committer.submit_with(batches.remove(0), |_| panic!("a careless callback"));
        let (tx, rx) = mpsc::channel();
        committer.submit_with(batches.remove(0), move |result| tx.send(result.is_ok()).unwrap());
        assert!(rx.recv().unwrap());
        assert!(rx.recv().is_err(), "answered exactly once");
        committer.shutdown();
    }

    #[test]
    fn after_shutdown_commits_fail_clearly() {
        let w = World::default();
        let tmp = tempfile::tempdir().unwrap();
        let store = new_store(&w, tmp.path());
        let committer = GroupCommitter::start(Arc::clone(&store)).unwrap();
        let (_, mut batches) = admission_batches(&w, &STATES[..2]);
        let other = committer.clone();
        committer.commit(batches.remove(0)).unwrap();
        committer.shutdown();
        committer.shutdown();
        let err = other.commit(batches.remove(0)).unwrap_err();
        assert!(matches!(err, StoreError::CommitterStopped), "{err}");
        // The thread let go of the store: this handle is the last one.
        assert_eq!(Arc::strong_count(&store), 1);
        let fra: StateCode = "FRA".parse().unwrap();
        assert_eq!(store.history(&ObjectKey::Admission(fra)).unwrap().len(), 1);
    }
}
