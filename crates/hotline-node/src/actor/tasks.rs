//! The actor's second inbox and the work it spawns.
//!
//! The actor reads two inboxes: the public [`crate::handle::Command`]s of
//! the node's handles, and the [`Completion`]s of the tasks it spawned
//! itself (sealing, opening, delivering, sync exchanges). Completions
//! waiting are handled first on each turn of the loop (up to a bound, then
//! a fair select over every source): they finish work the node already
//! accepted, and a burst of requests must not starve them.
//!
//! Every task is spawned through [`Tasks`], which tracks it under one
//! cancellation token: at shutdown the actor cancels them and waits until
//! each has ended, so none outlives the node (nor keeps its network handle
//! or a reply to a peer open).

use crate::api_types::SendResponse;
use crate::handle::{SealedFor, SealedGroup};
use crate::outbox::DeliveryKey;
use crate::sync::Report;
use hotline_core::{Message, MessageId, ObjectKey};
use hotline_net::PeerId;
use std::future::Future;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// Completions that may wait in the second inbox. A task that finds it full
/// waits: the actor drains it before anything else.
const COMPLETIONS: usize = 1024;

/// What the actor's own tasks report back.
pub(crate) enum Completion {
    /// A message was sealed to each recipient node, off the actor.
    Sealed {
        message: Box<Message>,
        bytes: Vec<u8>,
        sealed: Vec<SealedFor>,
        extra: hotline_store::WriteBatch,
        reply: super::Responder<SendResponse>,
    },
    /// A group of messages sealed together (a communication check's
    /// challenges), to be written with the group's batch.
    SealedGroup { group: SealedGroup, sealed: Vec<(Message, Vec<u8>, Vec<SealedFor>)> },
    /// Sealing a group failed: nothing is written.
    GroupSealFailed { group: SealedGroup, error: String },
    /// Sealing a message failed.
    SealFailed { msg_id: MessageId, error: String, reply: super::Responder<SendResponse> },
    /// A delivery attempt ended.
    DeliveryDone { key: DeliveryKey, result: super::Delivery },
    /// An envelope was opened and checked (or refused), off the actor.
    Opened {
        peer: PeerId,
        reply: hotline_net::DeliverReply,
        envelope: Box<hotline_crypto::Envelope>,
        outcome: Result<Box<super::OpenedMessage>, (&'static str, String)>,
    },
    /// A sync exchange asks for the objects of `keys`, encoded.
    ObjectsFor { keys: Vec<ObjectKey>, reply: oneshot::Sender<Vec<Vec<u8>>> },
    /// A sync exchange fetched objects from `peer`.
    Fetched { peer: PeerId, objects: Vec<Vec<u8>>, reply: oneshot::Sender<()> },
    /// A sync exchange with `peer` ended.
    ExchangeDone { peer: PeerId, result: Result<Report, String> },
    /// Member `node` says the last receipt number it issued to this node
    /// is `last` (`messaging::recovery`).
    ReceiptsIssued { peer: PeerId, node: hotline_core::NodeId, last: Option<u64> },
    /// Witness `peer` answered a request to cosign the checkpoint of
    /// `size`, proven from `from_size` (`actor::evidence`).
    Cosign { peer: PeerId, size: u64, from_size: u64, response: Result<hotline_net::SyncResponse, String> },
}

/// The actor's spawned work, tracked and cancellable.
pub(crate) struct Tasks {
    tracker: TaskTracker,
    cancel: CancellationToken,
    completions: mpsc::Sender<Completion>,
}

impl Tasks {
    /// The tracker and the receiving end of the completions inbox.
    pub(crate) fn new() -> (Tasks, mpsc::Receiver<Completion>) {
        let (tx, rx) = mpsc::channel(COMPLETIONS);
        (Tasks { tracker: TaskTracker::new(), cancel: CancellationToken::new(), completions: tx }, rx)
    }

    /// Where a task reports its completion.
    pub(crate) fn completions(&self) -> mpsc::Sender<Completion> {
        self.completions.clone()
    }

    /// Spawns `work` in the current span, tracked; it is dropped where it
    /// stands when the node stops.
    pub(crate) fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) -> AbortHandle {
        let cancel = self.cancel.clone();
        let task = async move {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = work => {}
            }
        };
        self.tracker.spawn(task.in_current_span()).abort_handle()
    }

    /// How many spawned tasks are still running.
    #[cfg(test)]
    pub(crate) fn running(&self) -> usize {
        self.tracker.len()
    }

    /// Cancels every task and waits until all have ended.
    pub(crate) async fn stop(&self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    /// A task still waiting when the node stops is cancelled, and `stop`
    /// returns only once it has ended: nothing it holds outlives the node.
    #[tokio::test(start_paused = true)]
    async fn stop_cancels_and_joins_every_task() {
        let (tasks, _inbox) = Tasks::new();
        let finished = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicBool::new(false));
        struct OnDrop(Arc<AtomicBool>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let (f, d) = (Arc::clone(&finished), OnDrop(Arc::clone(&dropped)));
        tasks.spawn(async move {
            let _held = d;
            tokio::time::sleep(Duration::from_secs(3600)).await;
            f.store(true, Ordering::SeqCst);
        });
        tasks.spawn(async {});
        tokio::task::yield_now().await;
        assert_eq!(tasks.running(), 1, "the short task ended, the long one runs");
        tasks.stop().await;
        assert_eq!(tasks.running(), 0);
        assert!(dropped.load(Ordering::SeqCst), "the cancelled task dropped what it held");
        assert!(!finished.load(Ordering::SeqCst), "it did not run to its end");
    }
}
