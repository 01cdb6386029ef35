//! [`NodeHandle`]: the cloneable way to talk to a running node, and the
//! commands it sends to the actor.

use crate::api_types::{
    AckRequest, DirectoryView, HistoryItem, MessageQuery, MessageSummary, MessageView, NodeEvent, OutboxItem, PeerView,
    RecordEntry, SendRequest, SendResponse, StateView, StatusView, SubmitResponse,
};
use crate::error::{
    AckError, AnswerError, CancelError, NodeError, PublishError, QueryError, ReportError, ScheduleError, SendError,
    StartError, SubmitError, WithdrawError,
};
use crate::mailbox::MailReader;
use crate::metrics::Metrics;
use hotline_core::{CaseId, DirectoryObject, MessageId, ObjectHash, RecordDraft, Role, StateCode};
use hotline_net::{Multiaddr, PeerId};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

/// Requests to the actor.
/// One recipient node and its envelope (`None` until the node publishes a
/// prekey bundle).
pub(crate) type SealedFor = (hotline_core::NodeId, Option<Vec<u8>>);

/// What a group of messages sealed together is written with: a
/// communication check's row, and whom to answer once it is durable.
pub(crate) struct SealedGroup {
    /// Written in the same batch as the messages.
    pub extra: hotline_store::WriteBatch,
    /// The check.
    pub comcheck: CaseId,
    /// Whom to answer, with `view`, once durable.
    pub reply: Option<crate::actor::Responder<crate::api_types::ComcheckView>>,
    pub view: Box<crate::api_types::ComcheckView>,
}

pub(crate) enum Command {
    Status(oneshot::Sender<StatusView>),
    Health(oneshot::Sender<crate::api_types::HealthView>),
    Peers(oneshot::Sender<Result<Vec<PeerView>, NodeError>>),
    Directory(oneshot::Sender<DirectoryView>),
    State {
        state: StateCode,
        reply: oneshot::Sender<Result<StateView, NodeError>>,
    },
    Record {
        state: StateCode,
        role: Role,
        reply: oneshot::Sender<Result<RecordEntry, NodeError>>,
    },
    History {
        state: StateCode,
        role: Role,
        reply: oneshot::Sender<Result<Vec<HistoryItem>, NodeError>>,
    },
    Publish {
        draft: Box<RecordDraft>,
        validity_days: Option<u64>,
        reply: oneshot::Sender<Result<RecordEntry, PublishError>>,
    },
    Withdraw {
        role: Role,
        reason: String,
        reply: oneshot::Sender<Result<RecordEntry, WithdrawError>>,
    },
    RevokeNode {
        node: hotline_core::NodeId,
        reason: String,
        reply: oneshot::Sender<Result<crate::api_types::RevokedNode, crate::error::RevokeError>>,
    },
    Submit {
        object: Box<DirectoryObject>,
        reply: oneshot::Sender<Result<SubmitResponse, SubmitError>>,
    },
    Block {
        peer: PeerId,
        blocked: bool,
        reply: oneshot::Sender<Result<(), NodeError>>,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), NodeError>>,
    },
    DigestHash(oneshot::Sender<ObjectHash>),
    Send {
        request: Box<SendRequest>,
        reply: oneshot::Sender<Result<SendResponse, SendError>>,
    },
    Ack {
        id: MessageId,
        request: AckRequest,
        reply: oneshot::Sender<Result<SendResponse, AckError>>,
    },
    /// Withdraws the queued deliveries of a sent message, durably.
    Cancel {
        id: MessageId,
        reply: oneshot::Sender<Result<(), CancelError>>,
    },
    /// Marks a received message read, durably, and answers with its view.
    MarkRead {
        id: MessageId,
        reply: oneshot::Sender<Result<MessageView, NodeError>>,
    },
    ComcheckStart {
        request: Box<crate::api_types::ComcheckStartRequest>,
        reply: oneshot::Sender<Result<crate::api_types::ComcheckView, StartError>>,
    },
    ComcheckList(oneshot::Sender<Vec<crate::api_types::ComcheckView>>),
    Liveness(oneshot::Sender<Vec<crate::api_types::LivenessView>>),
    ScheduleAdd {
        request: Box<crate::api_types::ComcheckScheduleRequest>,
        reply: oneshot::Sender<Result<crate::api_types::ComcheckScheduleView, ScheduleError>>,
    },
    ScheduleRemove {
        id: CaseId,
        reply: oneshot::Sender<Result<(), ScheduleError>>,
    },
    Schedules(oneshot::Sender<Vec<crate::api_types::ComcheckScheduleView>>),
    ComcheckStatus {
        id: CaseId,
        reply: oneshot::Sender<Result<crate::api_types::ComcheckView, NodeError>>,
    },
    ComcheckReport {
        id: CaseId,
        reply: oneshot::Sender<Result<crate::api_types::ComcheckReportView, ReportError>>,
    },
    ComcheckAnswer {
        id: CaseId,
        request: crate::api_types::ComcheckAnswerRequest,
        reply: oneshot::Sender<Result<SendResponse, AnswerError>>,
    },
    WaitDelivered {
        id: MessageId,
        reply: oneshot::Sender<()>,
    },
    Shutdown(oneshot::Sender<()>),
}

/// A cheap, cloneable handle to a running node.
#[derive(Clone, Debug)]
pub struct NodeHandle {
    pub(crate) commands: mpsc::Sender<Command>,
    events: broadcast::Sender<NodeEvent>,
    peer_id: PeerId,
    state: StateCode,
    /// The read side of messaging, which does not go through the actor.
    mail: MailReader,
    metrics: Arc<Metrics>,
}

impl NodeHandle {
    pub(crate) fn new(
        commands: mpsc::Sender<Command>,
        events: broadcast::Sender<NodeEvent>,
        peer_id: PeerId,
        state: StateCode,
        mail: MailReader,
        metrics: Arc<Metrics>,
    ) -> NodeHandle {
        NodeHandle { commands, events, peer_id, state, mail, metrics }
    }

    /// The node's metrics in the OpenMetrics text format
    /// ([`crate::metrics::CONTENT_TYPE`]): the live counters, and the
    /// status and liveness views taken now.
    ///
    /// Scrapes within a second of the last one get its text: one scrape
    /// at a time reaches the actor, however many clients ask.
    pub async fn metrics_text(&self) -> Result<String, NodeError> {
        let mut cache = self.metrics.last_scrape.lock().await;
        if let Some((at, text)) = cache.as_ref()
            && at.elapsed() < crate::metrics::SCRAPE_REUSE
        {
            return Ok(text.clone());
        }
        let status = self.status().await?;
        let liveness = self.liveness().await?;
        // Read from the store; a scrape still answers if it cannot be read.
        let evidence = self.evidence().await.ok();
        let text = self.metrics.encode(status, liveness, evidence);
        *cache = Some((tokio::time::Instant::now(), text.clone()));
        Ok(text)
    }

    pub(crate) async fn ask<T>(&self, command: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(command(tx)).await.map_err(|_| NodeError::Stopped)?;
        rx.await.map_err(|_| NodeError::Stopped)
    }

    /// The node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The state the node speaks for.
    pub fn state(&self) -> StateCode {
        self.state
    }

    /// Live events from now on: directory changes (once durable), peers
    /// connecting and disconnecting, refused objects.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// Whether the node can do its job: its store takes a durable write,
    /// its state is admitted, and a member is connected.
    pub async fn health(&self) -> Result<crate::api_types::HealthView, NodeError> {
        self.ask(Command::Health).await
    }

    /// The node's status.
    pub async fn status(&self) -> Result<StatusView, NodeError> {
        self.ask(Command::Status).await
    }

    /// The hash of the live directory's digest (cheaper than [`NodeHandle::status`]).
    pub async fn digest_hash(&self) -> Result<ObjectHash, NodeError> {
        self.ask(Command::DigestHash).await
    }

    /// The connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerView>, NodeError> {
        self.ask(Command::Peers).await?
    }

    /// The whole directory.
    pub async fn directory(&self) -> Result<DirectoryView, NodeError> {
        self.ask(Command::Directory).await
    }

    /// One state's admission and records ([`NodeError::NotFound`] if none is held).
    pub async fn state_view(&self, state: StateCode) -> Result<StateView, NodeError> {
        self.ask(|reply| Command::State { state, reply }).await?
    }

    /// One record ([`NodeError::NotFound`] if not held).
    pub async fn record(&self, state: StateCode, role: Role) -> Result<RecordEntry, NodeError> {
        self.ask(|reply| Command::Record { state, role, reply }).await?
    }

    /// Every version of a record this node accepted, oldest first.
    pub async fn history(&self, state: StateCode, role: Role) -> Result<Vec<HistoryItem>, NodeError> {
        self.ask(|reply| Command::History { state, role, reply }).await?
    }

    /// Signs the next version of this node's state's record for
    /// `draft.role` with the state key, valid for `validity_days` (default:
    /// the longest the charter allows), applies it, writes it durably and
    /// publishes it. Returns the record as now held.
    pub async fn publish_record(
        &self,
        draft: RecordDraft,
        validity_days: Option<u64>,
    ) -> Result<RecordEntry, PublishError> {
        self.ask(|reply| Command::Publish { draft: Box::new(draft), validity_days, reply }).await?
    }

    /// Withdraws this state's record for `role`: a revocation signed with
    /// the state key, applied, written durably and published before this
    /// returns. Returns the record as now held (status `revoked`).
    pub async fn withdraw_record(&self, role: Role, reason: String) -> Result<RecordEntry, WithdrawError> {
        self.ask(|reply| Command::Withdraw { role, reason, reply }).await?
    }

    /// Revokes `node`, a node of this state: a revocation signed with the
    /// state key, applied, written durably and published before this
    /// returns. Every member stops counting it as a member.
    pub async fn revoke_node(
        &self,
        node: hotline_core::NodeId,
        reason: String,
    ) -> Result<crate::api_types::RevokedNode, crate::error::RevokeError> {
        self.ask(|reply| Command::RevokeNode { node, reason, reply }).await?
    }

    /// Writes an encrypted backup of this node (store, keys, configuration)
    /// to `request.out`, from one read transaction, off the actor: the node
    /// goes on meanwhile.
    pub async fn backup(
        &self,
        request: crate::api_types::BackupRequest,
    ) -> Result<crate::api_types::BackupView, crate::error::BackupFailure> {
        use crate::error::BackupFailure;
        if !request.out.is_absolute() {
            return Err(BackupFailure::RelativePath(request.out.display().to_string()));
        }
        if request.passphrase.len() < crate::api_types::MIN_PASSPHRASE_BYTES {
            return Err(BackupFailure::WeakPassphrase(request.passphrase.len()));
        }
        let data_dir = self.mail.data_dir().to_path_buf();
        let now = crate::Clock::system().now();
        self.mail
            .run(move |reads| {
                let params = hotline_crypto::backup::KdfParams::DEFAULT;
                let passphrase = zeroize::Zeroizing::new(request.passphrase.into_bytes());
                hotline_store::backup::write_backup(reads.store(), &data_dir, &request.out, &passphrase, params, now)
                    .map(|summary| crate::api_types::BackupView::of(request.out, summary))
                    .map_err(BackupFailure::Write)
            })
            .await
    }

    /// Hands the node a signed object made elsewhere (an admission signed by
    /// the stewards, a revocation). If it changes the directory it is
    /// written durably and published before this returns.
    pub async fn submit_object(&self, object: DirectoryObject) -> Result<SubmitResponse, SubmitError> {
        self.ask(|reply| Command::Submit { object: Box::new(object), reply }).await?
    }

    /// Closes every connection to `peer` and refuses new ones, member or
    /// not (partition tests, an operator cutting off an abusive peer).
    pub async fn block_peer(&self, peer: PeerId) -> Result<(), NodeError> {
        self.ask(|reply| Command::Block { peer, blocked: true, reply }).await?
    }

    /// Lifts [`NodeHandle::block_peer`]. The node reconnects at its next
    /// redial if `peer` is a member.
    pub async fn unblock_peer(&self, peer: PeerId) -> Result<(), NodeError> {
        self.ask(|reply| Command::Block { peer, blocked: false, reply }).await?
    }

    /// Dials `addr` now.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NodeError> {
        self.ask(|reply| Command::Dial { addr, reply }).await?
    }

    /// Writes a message, seals it for every member node of the recipient's
    /// contact record, and stores it durably in the outbox; returns then
    /// (`queued`) and delivers in the background, retrying until each node
    /// returns a signed receipt that verifies.
    pub async fn send(&self, request: SendRequest) -> Result<SendResponse, SendError> {
        self.ask(|reply| Command::Send { request: Box::new(request), reply }).await?
    }

    /// Sends a signed `human_ack` for the received message `id` to its sender.
    pub async fn ack(&self, id: MessageId, request: AckRequest) -> Result<SendResponse, AckError> {
        self.ask(|reply| Command::Ack { id, request, reply }).await?
    }

    /// Withdraws the deliveries of sent message `id` that are still queued
    /// (a delivery already under way may still arrive); the message stays
    /// in the sent box, marked cancelled. Returns it as it stands then.
    pub async fn cancel(&self, id: MessageId) -> Result<MessageView, CancelError> {
        self.ask(|reply| Command::Cancel { id, reply }).await??;
        Ok(self.message(id, false).await?)
    }

    /// One page of messages (see [`MessageQuery`]), newest last. Read from
    /// the store, not through the actor.
    pub async fn messages(&self, query: MessageQuery) -> Result<Vec<MessageSummary>, QueryError> {
        self.mail.run(move |r| r.messages(&query)).await
    }

    /// One message; `mark_read` marks a received message as read, durably,
    /// before the answer.
    pub async fn message(&self, id: MessageId, mark_read: bool) -> Result<MessageView, NodeError> {
        let view = self.mail.run(move |r| r.message(id)).await?;
        if mark_read && view.direction == "in" && !view.read {
            return self.ask(|reply| Command::MarkRead { id, reply }).await?;
        }
        Ok(view)
    }

    /// Every message of a case, oldest first, no reply before its parent.
    pub async fn thread(&self, case: CaseId) -> Result<Vec<MessageView>, NodeError> {
        self.mail.run(move |r| r.thread(case)).await
    }

    /// The evidence log: its head, latest checkpoint and the proofs of
    /// rewritten logs held (read from the store).
    pub async fn evidence(&self) -> Result<crate::api_types::EvidenceView, NodeError> {
        let me = hotline_net::node_id_of(&self.peer_id).ok_or_else(|| NodeError::Internal {
            code: "bad_peer_id",
            message: "this node's peer id is not a node id".into(),
        })?;
        self.mail.run(move |r| r.evidence(&me)).await
    }

    /// The envelopes still waiting for a receipt.
    pub async fn outbox(&self) -> Result<Vec<OutboxItem>, NodeError> {
        self.mail.run(|r| r.outbox()).await
    }

    /// The messages and cases whose id starts with `prefix` (hex digits),
    /// up to two of each.
    pub async fn ids_with_prefix(&self, prefix: String) -> Result<crate::api_types::IdMatches, NodeError> {
        self.mail
            .run(move |r| {
                Ok(crate::api_types::IdMatches {
                    messages: r.messages_with_prefix(&prefix)?,
                    cases: r.cases_with_prefix(&prefix)?,
                })
            })
            .await
    }

    /// Waits until every envelope of `id` has a receipt, or `timeout`;
    /// returns the message as it stands then.
    pub async fn wait_delivered(&self, id: MessageId, timeout: Duration) -> Result<MessageView, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::WaitDelivered { id, reply: tx }).await.map_err(|_| NodeError::Stopped)?;
        let _ = tokio::time::timeout(timeout, rx).await;
        self.message(id, false).await
    }

    /// Starts a communication check: a challenge to every targeted point
    /// of contact, through the normal durable delivery.
    pub async fn comcheck_start(
        &self,
        request: crate::api_types::ComcheckStartRequest,
    ) -> Result<crate::api_types::ComcheckView, StartError> {
        self.ask(|reply| Command::ComcheckStart { request: Box::new(request), reply }).await?
    }

    /// Every member node's liveness as this node sees it: connected, last
    /// seen, round trip, reachability over 24 hours.
    pub async fn liveness(&self) -> Result<Vec<crate::api_types::LivenessView>, NodeError> {
        self.ask(Command::Liveness).await
    }

    /// Runs a check every period, unannounced, at a random time within each
    /// period. The schedule is stored and survives restarts.
    pub async fn comcheck_schedule(
        &self,
        request: crate::api_types::ComcheckScheduleRequest,
    ) -> Result<crate::api_types::ComcheckScheduleView, ScheduleError> {
        self.ask(|reply| Command::ScheduleAdd { request: Box::new(request), reply }).await?
    }

    /// Removes a schedule (checks it already started are kept).
    pub async fn comcheck_unschedule(&self, id: CaseId) -> Result<(), ScheduleError> {
        self.ask(|reply| Command::ScheduleRemove { id, reply }).await?
    }

    /// The periodic checks.
    pub async fn comcheck_schedules(&self) -> Result<Vec<crate::api_types::ComcheckScheduleView>, NodeError> {
        self.ask(Command::Schedules).await
    }

    /// The checks this node runs, oldest first.
    pub async fn comcheck_list(&self) -> Result<Vec<crate::api_types::ComcheckView>, NodeError> {
        self.ask(Command::ComcheckList).await
    }

    /// One check, with each target's outcome now.
    pub async fn comcheck_status(&self, id: CaseId) -> Result<crate::api_types::ComcheckView, NodeError> {
        self.ask(|reply| Command::ComcheckStatus { id, reply }).await?
    }

    /// The signed report of a finished check (sent to the targets the first time).
    pub async fn comcheck_report(&self, id: CaseId) -> Result<crate::api_types::ComcheckReportView, ReportError> {
        self.ask(|reply| Command::ComcheckReport { id, reply }).await?
    }

    /// Answers a challenge this node received (by comcheck id or challenge message id).
    pub async fn comcheck_answer(
        &self,
        id: CaseId,
        request: crate::api_types::ComcheckAnswerRequest,
    ) -> Result<SendResponse, AnswerError> {
        self.ask(|reply| Command::ComcheckAnswer { id, request, reply }).await?
    }
}
