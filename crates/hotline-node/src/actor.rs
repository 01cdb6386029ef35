//! The node actor: one task owns the [`Directory`] and serialises every
//! change to it; everything else talks to it through
//! [`NodeHandle`](crate::NodeHandle).
//!
//! The actor's loop first handles the completions of its own tasks that
//! are waiting (sealing, opening, delivering, sync exchanges; up to a
//! bound; see the `tasks` module: a second inbox, and every task tracked
//! and joined at shutdown), then selects fairly over five sources: those
//! completions, commit completions from the store's group committer, the
//! public commands of the node's handles, network events, and timers
//! (periodic sync, redial). Reads of messages do not come here at all: they
//! run on the store (`crate::mailbox`). Handlers never wait on
//! the disk: a change is applied in memory, its write batch is queued on
//! the [`GroupCommitter`], and what depends on durability (answering the
//! user, acknowledging a peer's push, accepting a gossip message, updating
//! the gating, announcing the change) runs when the commit completes.
//! Commits complete in submission order, so those follow-ups do too.
//!
//! **Layout.** This file holds the loop, the dispatch and the stop; each
//! feature has a module: `commits` (the commit queue and what runs once a
//! batch is durable), `directory` (applying, gossip, sync, publishing,
//! membership), `messaging` (sending, delivery, receiving, prekeys),
//! `comcheck`, `peers` (the redial policy, pure, and the ticks that run
//! it), `status` (the views and freshness warnings) and `tasks` (the second
//! inbox and the tracked tasks). They are `impl Actor` blocks over the
//! actor's state; the policies that have been pulled out as pure sub-state
//! machines (`peers::Redial`, `crate::outbox::Schedule`,
//! `crate::liveness::Liveness`, `tasks::Tasks`) are unit-tested alone.
//!
//! Read-only views (status, directory, digests for sync) show the directory
//! in memory, which may include a change whose write is still in flight
//! for a few milliseconds; every *confirmation* waits for the disk.

use crate::api_types::{
    MessageView, NodeEvent, PeerView, RecordEntry, RecordState, SendResponse, StatusView, SubmitOutcome, SubmitResponse,
};
use crate::error::NodeError;
use crate::handle::Command;
use crate::options::Clock;
use crate::sync;
use crate::views;
use hotline_core::directory::Digest;
use hotline_core::time::DAY;
use hotline_core::{
    Applied, Change, Directory, DirectoryObject, NodeId, ObjectKey, Outcome, RecordDraft, Rejection, SecretKey, Source,
    StateCode, Timestamp,
};
use hotline_net::sync::digest_entries;
use hotline_net::{
    DeliverReply, DeliverResponse, DigestSummary, MessageId, Multiaddr, NetEvent, NetworkHandle, PeerId, SyncReply,
    SyncRequest, SyncResponse, Verdict, peer_id_of,
};
use hotline_store::{GroupCommitter, Store, StoreError, WriteBatch};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{Instrument, debug, error, info, info_span, trace, warn};

mod comcheck;
mod commits;
use commits::{After, CommitQueue, Committed};
mod directory;
use directory::DirectoryFeature;
mod evidence;
mod messaging;
mod peers;
mod responder;
mod status;
pub(crate) use responder::Responder;
mod tasks;

pub(crate) use comcheck::Comchecks;

pub(crate) use messaging::{Delivery, Mail, OpenedMessage};
pub(crate) use tasks::{Completion, Tasks};

/// Completions handled ahead of everything else on each turn of the loop.
const COMPLETIONS_FIRST: usize = 64;

/// How often due deliveries are looked for (new messages and connecting
/// peers start theirs at once; this catches retries that come due).
const DELIVERY_TICK: Duration = Duration::from_millis(50);

/// Days before one of its own records expires at which a node warns its
/// operator (CBM 8: contact details are confirmed once a year).
const FRESHNESS_WARNINGS: [i64; 2] = [60, 30];

/// Invalid objects of one sync batch logged at `warn`; the rest at `debug`.
const LOUD_REJECTIONS_PER_BATCH: usize = 3;

/// Most objects a peer that is not a member may send in all while it is
/// connected: a node presents itself with an admission, a few records and a
/// bundle. Past this the rest are refused unread (`stranger_quota`).
const MAX_STRANGER_OBJECTS: usize = 64;

/// The member nodes at `now`, as peer ids, with their states. A node id
/// becomes a peer id by decompressing a curve point, and membership is
/// recomputed after most commits: `peer_ids` keeps the conversions, pruned
/// to the current members.
pub(crate) fn member_peers(
    dir: &Directory,
    now: Timestamp,
    peer_ids: &mut HashMap<NodeId, PeerId>,
) -> BTreeMap<PeerId, StateCode> {
    let nodes = dir.member_nodes(now);
    peer_ids.retain(|node, _| nodes.contains_key(node));
    let mut out = BTreeMap::new();
    for (node, state) in nodes {
        let peer = match peer_ids.get(&node) {
            Some(peer) => *peer,
            None => match peer_id_of(&node) {
                Ok(peer) => *peer_ids.entry(node).or_insert(peer),
                // Records are validated, so this is a node id no libp2p key matches.
                Err(e) => {
                    warn!(node = %node, error = %e, "member node without a peer id");
                    continue;
                }
            },
        };
        out.insert(peer, state);
    }
    out
}

/// What `Node::start` hands the actor.
pub(crate) struct ActorInit {
    /// The member set the network was started with (see [`member_peers`]).
    pub members: BTreeMap<PeerId, StateCode>,
    /// The conversions `members` was built with, so the actor's first
    /// refresh does not redo them.
    pub peer_ids: HashMap<NodeId, PeerId>,
    pub store: Arc<Store>,
    pub committer: GroupCommitter,
    pub dir: Directory,
    /// Signs this state's records, if this node holds it (a node added
    /// with `hotline node add` does not). Never logged.
    pub state_key: Option<SecretKey>,
    pub net: NetworkHandle,
    pub net_events: mpsc::Receiver<NetEvent>,
    pub clock: Clock,
    /// Where the node's randomness comes from.
    pub random: crate::random::Randomness,
    /// The metrics the actor counts into.
    pub metrics: Arc<crate::metrics::Metrics>,
    pub gossip: bool,
    pub events: broadcast::Sender<NodeEvent>,
    pub commands: mpsc::Receiver<Command>,
    /// Receives every listen address as the network reports it.
    pub listen: watch::Sender<Vec<Multiaddr>>,
    /// Set to true when the actor has stopped.
    pub done: watch::Sender<bool>,
    pub bootstrap: Vec<Multiaddr>,
    pub target_peers: usize,
    pub sync_interval: Duration,
    pub redial_interval: Duration,
    /// The messaging state, loaded from the store.
    pub mail: Mail,
    /// Period of the prekey rotation check.
    pub prekey_check: Duration,
    /// The communication checks this node runs, loaded from the store.
    pub comchecks: Comchecks,
    /// Liveness: the sampling period, and how often a member is dialled at most.
    pub liveness: (Duration, Duration),
    /// Whether the evidence log is kept (`NodeOptions::evidence_log`).
    pub evidence_log: bool,
}

/// Spawns the actor task. It runs until a `Shutdown` command, until every
/// handle is gone, or until the network task stops.
pub(crate) fn spawn(init: ActorInit) -> tokio::task::JoinHandle<()> {
    let (commit_tx, commits) = mpsc::unbounded_channel();
    let (tasks, completions) = Tasks::new();
    let actor = Actor {
        mail_reader: crate::mailbox::MailReads::new(Arc::clone(&init.store), init.mail.schedule.board()),
        state: init.store.state(),
        local_peer: init.net.local_peer_id(),
        store: init.store,
        committer: init.committer,
        directory: DirectoryFeature::new(init.dir, init.members, init.peer_ids),
        state_key: init.state_key,
        net: init.net,
        clock: init.clock,
        random: init.random,
        metrics: init.metrics,
        started: Instant::now(),
        gossip: init.gossip,
        events: init.events,
        tasks,
        commits: CommitQueue::new(commit_tx),
        connected: HashMap::new(),
        listen: init.listen,
        syncing: HashMap::new(),
        redials: HashMap::new(),
        sync_exchanges: BTreeMap::new(),
        store_failures: 0,
        bootstrap: init.bootstrap,
        target_peers: init.target_peers,
        stopping: false,
        mail: init.mail,
        prekey_check: init.prekey_check,
        comchecks: init.comchecks,
        freshness_warned: HashMap::new(),
        liveness: crate::liveness::Liveness::default(),
        liveness_every: init.liveness,
        evidence: evidence::EvidenceFeature::new(init.evidence_log),
    };
    let timers = (init.sync_interval, init.redial_interval);
    // Several nodes share one process in the demo, the benchmarks and the
    // tests: every log line carries the state of the node that wrote it.
    let span = info_span!("node", state = %actor.state);
    tokio::spawn(actor.run(init.commands, completions, init.net_events, commits, timers, init.done).instrument(span))
}

/// The actor's state, owned by its task.
struct Actor {
    store: Arc<Store>,
    committer: GroupCommitter,
    /// The directory and what the node keeps about it (its own state).
    directory: DirectoryFeature,
    state: StateCode,
    /// Signs this state's records, if this node holds it. Never logged
    /// (`SecretKey` does not print).
    state_key: Option<SecretKey>,
    net: NetworkHandle,
    local_peer: PeerId,
    clock: Clock,
    /// Ids, seeds and jitter (see `crate::random`).
    random: crate::random::Randomness,
    metrics: Arc<crate::metrics::Metrics>,
    started: Instant,
    gossip: bool,
    events: broadcast::Sender<NodeEvent>,
    /// For sync tasks. Weak, so that the actor stops once every handle is gone.
    /// The tasks the actor spawned, and the inbox where they report.
    tasks: Tasks,
    /// Writes handed to the committer, and what follows each.
    commits: CommitQueue,
    /// Connected peers and the address of their first connection.
    connected: HashMap<PeerId, Multiaddr>,
    listen: watch::Sender<Vec<Multiaddr>>,
    /// Peers with an exchange running; `true` if another one is wanted after it.
    syncing: HashMap<PeerId, bool>,
    /// Redial tasks of members whose last connection closed.
    redials: HashMap<PeerId, tokio::task::AbortHandle>,
    /// Exchanges this node started, by outcome (see `StatusView::sync_exchanges`).
    sync_exchanges: BTreeMap<&'static str, u64>,
    store_failures: u64,
    bootstrap: Vec<Multiaddr>,
    target_peers: usize,
    stopping: bool,
    mail: Mail,
    /// Builds message views from the store, as the readers off the actor do.
    mail_reader: crate::mailbox::MailReads,
    prekey_check: Duration,
    comchecks: Comchecks,
    /// Per own record: the warning threshold (days) last announced, so each
    /// is announced once per version.
    freshness_warned: HashMap<ObjectKey, (u64, i64)>,
    liveness: crate::liveness::Liveness,
    /// Sampling period and dial interval of the liveness checks.
    liveness_every: (Duration, Duration),
    /// The evidence log's checkpoints (`actor::evidence`).
    evidence: evidence::EvidenceFeature,
}

impl Actor {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut completions: mpsc::Receiver<Completion>,
        mut net_events: mpsc::Receiver<NetEvent>,
        mut commits: mpsc::UnboundedReceiver<Committed>,
        (sync_interval, redial_interval): (Duration, Duration),
        done: watch::Sender<bool>,
    ) {
        let sync_timer = tokio::time::sleep(spread(sync_interval, &self.random));
        tokio::pin!(sync_timer);
        // The network dials the bootstrap addresses at start; redial soon
        // while no member is connected, then every `redial_interval`.
        let mut pace = peers::RedialPace::new(redial_interval);
        let redial_timer = tokio::time::sleep(pace.first());
        tokio::pin!(redial_timer);
        let mut delivery_tick = tokio::time::interval(DELIVERY_TICK);
        delivery_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The first tick fires at once: rotate or publish prekeys at start.
        let mut prekey_tick = tokio::time::interval(self.prekey_check);
        let mut liveness_tick = tokio::time::interval(self.liveness_every.0);
        liveness_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        prekey_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The first tick fires at once: a checkpoint of the log at start.
        let mut checkpoint_tick = tokio::time::interval(evidence::CHECKPOINT_TICK);
        checkpoint_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // A new admission imported while the daemon was stopped, or a crash
        // between its write and the records signed again: finish it now.
        self.renew_own_objects();
        // A node key rotated while the daemon was stopped: its old key's
        // revocation may be due.
        self.retire_old_node_key();
        let shutdown_reply = loop {
            // Work the node already took on first: the completions of its
            // own tasks waiting now, a bounded number of them, before the
            // select. The select itself stays fair: a fully biased one let
            // a busy source starve the ones after it (the timers that
            // drive periodic sync and delivery retries).
            for _ in 0..COMPLETIONS_FIRST {
                match completions.try_recv() {
                    Ok(completion) => self.on_completion(completion).await,
                    Err(_) => break,
                }
            }
            tokio::select! {
                Some(completion) = completions.recv() => self.on_completion(completion).await,
                Some(committed) = commits.recv() => self.on_committed(committed).await,
                command = commands.recv() => match command {
                    Some(Command::Shutdown(reply)) => break Some(reply),
                    Some(command) => self.on_command(command).await,
                    // Every handle is gone: nobody can use the node any more.
                    None => break None,
                },
                event = net_events.recv() => match event {
                    Some(event) => self.on_net_event(event).await,
                    None => {
                        error!("the network task stopped; stopping the node");
                        break None;
                    }
                },
                () = &mut sync_timer => {
                    sync_timer.as_mut().reset(Instant::now() + spread(sync_interval, &self.random));
                    self.on_sync_tick().await;
                }
                () = &mut redial_timer => {
                    let members = self.on_redial_tick().await;
                    redial_timer.as_mut().reset(Instant::now() + pace.after_tick(members));
                }
                _ = delivery_tick.tick() => self.dispatch_due(),
                _ = liveness_tick.tick() => {
                    self.on_liveness_tick().await;
                    self.run_due_schedules();
                }
                _ = prekey_tick.tick() => {
                    self.maintain_prekeys();
                    self.check_freshness();
                }
                _ = checkpoint_tick.tick() => self.on_checkpoint_tick(),
            }
        };
        self.stop(&mut commits).await;
        drop(self);
        let _ = done.send(true);
        if let Some(reply) = shutdown_reply {
            let _ = reply.send(());
        }
    }

    /// Answers every write still in flight, then stops the network and the
    /// committer. Dropping `self` afterwards closes the store.
    async fn stop(&mut self, commits: &mut mpsc::UnboundedReceiver<Committed>) {
        self.stopping = true;
        for (_, task) in self.redials.drain() {
            task.abort();
        }
        while !self.commits.is_empty() {
            match commits.recv().await {
                Some(committed) => self.on_committed(committed).await,
                None => break,
            }
        }
        // No task outlives the node: deliveries, openings and exchanges
        // still running are cancelled and joined before the network stops.
        self.tasks.stop().await;
        if let Err(e) = self.net.shutdown().await {
            debug!(error = %e, "network already stopped");
        }
        let committer = self.committer.clone();
        // `shutdown` joins the commit thread: keep it off the async workers.
        if tokio::task::spawn_blocking(move || committer.shutdown()).await.is_err() {
            warn!("the store's commit thread did not stop cleanly");
        }
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn emit(&self, event: NodeEvent) {
        // No subscriber is not an error.
        let _ = self.events.send(event);
    }

    // ----- commands -----

    /// A task the actor spawned has finished its part.
    async fn on_completion(&mut self, completion: Completion) {
        match completion {
            Completion::ObjectsFor { keys, reply } => {
                let _ = reply.send(self.objects_for(&keys));
            }
            Completion::Fetched { peer, objects, reply } => {
                self.apply_batch(peer, objects, After::Fetched(reply), false);
            }
            Completion::SealedGroup { group, sealed } => self.queue_group(group, sealed),
            Completion::GroupSealFailed { group, error } => self.group_seal_failed(group, error),
            Completion::SealFailed { msg_id, error, reply } => {
                self.mail.acks_in_flight.retain(|_, ack| *ack != msg_id);
                reply.send(Err(NodeError::Internal { code: "seal_failed", message: error }));
            }
            Completion::Sealed { message, bytes, sealed, extra, reply } => {
                self.queue(*message, bytes, sealed, extra, reply)
            }
            Completion::DeliveryDone { key, result } => self.on_delivery_done(key, result),
            Completion::Opened { peer, reply, envelope, outcome } => self.on_opened(peer, reply, *envelope, outcome),
            Completion::ReceiptsIssued { peer, node, last } => self.on_receipts_issued(peer, node, last),
            Completion::Cosign { peer, size, from_size, response } => {
                self.on_cosign_answer(peer, size, from_size, response)
            }
            Completion::ExchangeDone { peer, result } => {
                let outcome = match &result {
                    Ok(r) if r.refused => "refused",
                    Ok(r) if r.in_sync => "in_sync",
                    Ok(_) => "compared",
                    Err(_) => "failed",
                };
                *self.sync_exchanges.entry(outcome).or_default() += 1;
                match result {
                    Ok(r) => debug!(
                        %peer,
                        pushed = r.pushed,
                        fetched = r.fetched,
                        refused = r.refused,
                        in_sync = r.in_sync,
                        digest_ms = r.phase_ms[0],
                        push_ms = r.phase_ms[1],
                        fetch_ms = r.phase_ms[2],
                        "sync done"
                    ),
                    Err(e) => debug!(%peer, error = %e, "sync failed"),
                }
                if self.syncing.remove(&peer) == Some(true) && self.connected.contains_key(&peer) {
                    self.start_sync(peer);
                }
            }
        }
    }

    async fn on_command(&mut self, command: Command) {
        let now = self.now();
        match command {
            Command::Status(reply) => {
                let status = self.status().await;
                let _ = reply.send(status);
            }
            Command::Health(reply) => self.health(reply).await,
            Command::DigestHash(reply) => {
                let _ = reply.send(self.summary().hash);
            }
            Command::Peers(reply) => {
                let peers = self.peers().await;
                let _ = reply.send(peers);
            }
            Command::Directory(reply) => {
                let mut view = views::directory(&self.directory.dir, now);
                self.mark_unconfirmed(&mut view.records, now);
                let _ = reply.send(view);
            }
            Command::State { state, reply } => {
                let mut view = views::state(&self.directory.dir, state, now)
                    .ok_or_else(|| NodeError::NotFound(format!("no admission or record of {state} is held")));
                if let Ok(v) = &mut view {
                    self.mark_unconfirmed(&mut v.records, now);
                }
                let _ = reply.send(view);
            }
            Command::Record { state, role, reply } => {
                let key = ObjectKey::Record(state, role);
                let mut entry = views::record_entry(&self.directory.dir, &key, now)
                    .ok_or_else(|| NodeError::NotFound(format!("no record {key} is held")));
                if let Ok(e) = &mut entry {
                    self.mark_unconfirmed(std::slice::from_mut(e), now);
                }
                let _ = reply.send(entry);
            }
            Command::History { state, role, reply } => {
                let key = ObjectKey::Record(state, role);
                // One slot's history: a short read transaction, safe to run
                // here while the committer writes.
                let history = match self.store.history(&key) {
                    Ok(h) if h.is_empty() => Err(NodeError::NotFound(format!("no version of {key} was ever accepted"))),
                    Ok(h) => Ok(views::history(h)),
                    Err(e) => Err(e.into()),
                };
                let _ = reply.send(history);
            }
            Command::Publish { draft, validity_days, reply } => self.publish_record(*draft, validity_days, reply),
            Command::Submit { object, reply } => self.submit_object(*object, reply),
            Command::Withdraw { role, reason, reply } => self.withdraw_record(role, reason, reply),
            Command::RevokeNode { node, reason, reply } => self.revoke_node(node, reason, reply),
            Command::Block { peer, blocked, reply } => {
                let result = if blocked { self.net.block(peer).await } else { self.net.unblock(peer).await };
                info!(%peer, blocked, "peer block list changed");
                let _ = reply.send(result.map_err(NodeError::from));
            }
            Command::Dial { addr, reply } => {
                let _ = reply.send(self.net.dial(addr).await.map_err(NodeError::from));
            }
            // Handled in `run`.
            Command::Shutdown(reply) => {
                let _ = reply.send(());
            }
            Command::Send { request, reply } => self.send(*request, reply),
            Command::Ack { id, request, reply } => self.ack(id, request, reply),
            Command::MarkRead { id, reply } => self.mark_read(id, reply),
            Command::Cancel { id, reply } => self.cancel(id, reply),
            Command::ComcheckStart { request, reply } => self.start_comcheck(*request, reply),
            Command::ScheduleAdd { request, reply } => {
                let _ = reply.send(self.add_schedule(*request));
            }
            Command::ScheduleRemove { id, reply } => {
                let _ = reply.send(self.remove_schedule(id));
            }
            Command::Schedules(reply) => {
                let _ = reply.send(self.schedules());
            }
            Command::Liveness(reply) => {
                let now = self.now();
                let bound = self.net.dead_link_after();
                // Silence as the network measures it, per connection: ping
                // reports reach the actor through a queue that sheds them
                // under load, and a busy node must not show every member
                // unreachable.
                let silent: HashMap<PeerId, Duration> = match self.net.connected_peers().await {
                    Ok(peers) => peers.into_iter().map(|p| (p.peer, p.silent_for)).collect(),
                    Err(_) => HashMap::new(),
                };
                let _ = reply.send(self.liveness.view(&self.directory.members, self.local_peer, now, bound, &silent));
            }
            Command::ComcheckList(reply) => {
                let _ = reply.send(self.comcheck_list());
            }
            Command::ComcheckStatus { id, reply } => {
                let _ = reply.send(self.comcheck_view(id));
            }
            Command::ComcheckReport { id, reply } => self.comcheck_report(id, reply),
            Command::ComcheckAnswer { id, request, reply } => self.comcheck_answer(id, request, reply),
            Command::WaitDelivered { id, reply } => self.wait_delivered(id, reply),
        }
    }

    async fn on_net_event(&mut self, event: NetEvent) {
        match event {
            NetEvent::ListeningOn(addr) => {
                info!(%addr, "listening");
                self.listen.send_modify(|addrs| {
                    if !addrs.contains(&addr) {
                        addrs.push(addr);
                    }
                });
            }
            NetEvent::PeerConnected { peer, addr } => self.on_peer_connected(peer, addr),
            NetEvent::ConnectionAdded { peer, addr } => self.on_connection_added(peer, addr),
            NetEvent::PeerDisconnected { peer } => self.on_peer_disconnected(peer),
            NetEvent::Gossip { message_id, propagation_source, data } => {
                self.on_gossip(message_id, propagation_source, &data).await;
            }
            // The permit (queued inbound bytes) is held until the request is handled.
            NetEvent::SyncRequest { peer, request, reply, permit } => {
                self.on_sync_request(peer, request, reply).await;
                drop(permit);
            }
            NetEvent::PingRtt { peer, rtt } => {
                let now = self.now();
                self.liveness.rtt(peer, rtt, now);
            }
            NetEvent::Deliver { peer, request, reply, permit } => self.on_deliver(peer, request, reply, permit),
            NetEvent::DeliverRefused { peer, code } => self.count_refusal(peer, code),
        }
    }
}

/// `period` spread over ±25 %: nodes started together (a restarted network,
/// or many nodes in one process) must not all sync in the same instant.
fn spread(period: Duration, random: &crate::random::Randomness) -> Duration {
    period.mul_f64(0.75 + 0.5 * random.jitter())
}
