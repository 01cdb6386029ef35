//! The node actor: one task owns the [`Directory`] and serialises every
//! change to it; everything else talks to it through
//! [`NodeHandle`](crate::NodeHandle).
//!
//! The actor's loop selects over five sources, in this order of priority:
//! the completions of its own tasks (sealing, opening, delivering, sync
//! exchanges; see the `tasks` module: a second inbox, polled first, and
//! every task tracked and joined at shutdown), commit completions from the
//! store's group committer, the public commands of the node's handles,
//! network events, and timers (periodic sync, redial). Reads of messages do
//! not come here at all: they run on the store (`crate::mailbox`). Handlers never wait on
//! the disk: a change is applied in memory, its write batch is queued on
//! the [`GroupCommitter`], and what depends on durability (answering the
//! user, acknowledging a peer's push, accepting a gossip message, updating
//! the gating, announcing the change) runs when the commit completes.
//! Commits complete in submission order, so those follow-ups do too.
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
pub(crate) use crate::random::{jitter, shuffle};
use crate::sync;
use crate::views;
use hotline_core::directory::Digest;
use hotline_core::time::DAY;
use hotline_core::{
    Applied, Change, Directory, DirectoryObject, NodeId, ObjectKey, Outcome, RecordDraft, Rejection, SecretKey, Source,
    StateCode, Timestamp,
};
use hotline_net::protocol::digest_entries;
use hotline_net::{
    DeliverReply, DeliverResponse, DigestSummary, MessageId, Multiaddr, NetEvent, NetworkHandle, PeerId, SyncReply,
    SyncRequest, SyncResponse, Verdict, node_id_of, peer_id_of,
};
use hotline_store::{GroupCommitter, Store, StoreError, WriteBatch};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{Instrument, debug, error, info, info_span, trace, warn};

mod comcheck;
mod messaging;
mod peers;
mod tasks;

pub(crate) use comcheck::Comchecks;

pub(crate) use messaging::{Delivery, Mail, OpenedMessage};
pub(crate) use tasks::{Completion, Tasks};

/// How often due deliveries are looked for (new messages and connecting
/// peers start theirs at once; this catches retries that come due).
const DELIVERY_TICK: Duration = Duration::from_millis(50);

/// Days before one of its own records expires at which a node warns its
/// operator (CBM 8: contact details are confirmed once a year).
const FRESHNESS_WARNINGS: [i64; 2] = [60, 30];

/// Invalid objects of one sync batch logged at `warn`; the rest at `debug`.
const LOUD_REJECTIONS_PER_BATCH: usize = 3;

/// What to do once a write batch is durable (or has failed).
enum After {
    /// Acknowledge a peer's push.
    PushAck(SyncReply),
    /// Let the sync task ask for its next batch.
    Fetched(oneshot::Sender<()>),
    /// Answer a record publish from the control API.
    Publish { reply: oneshot::Sender<Result<RecordEntry, NodeError>>, entry: Box<RecordEntry> },
    /// Answer an object submitted through the control API.
    Submit { reply: oneshot::Sender<Result<SubmitResponse, NodeError>>, response: SubmitResponse },
    /// Nothing waits (prekey ring, read marks, resealed envelopes).
    Nothing,
    /// A message and its envelopes are durable: answer and deliver.
    Queued {
        reply: oneshot::Sender<Result<SendResponse, NodeError>>,
        response: SendResponse,
        envelopes: Vec<(NodeId, Option<Vec<u8>>)>,
        queued_at: Timestamp,
    },
    /// A receipt is durable and the envelope left the outbox.
    Receipted { key: crate::outbox::DeliveryKey },
    /// A communication check and its challenges are durable: schedule the
    /// deliveries and answer.
    GroupQueued {
        comcheck: hotline_core::CaseId,
        queued: Vec<(hotline_core::MessageId, Vec<crate::handle::SealedFor>)>,
        queued_at: Timestamp,
        reply: Option<oneshot::Sender<Result<crate::api_types::ComcheckView, NodeError>>>,
        view: Box<crate::api_types::ComcheckView>,
    },
    /// Version `version` of the prekey ring is durable: a bundle naming
    /// its prekeys may now be published.
    RingWritten { version: u64 },
    /// A message is marked read: show it.
    Shown { reply: oneshot::Sender<Result<MessageView, NodeError>>, view: Result<Box<MessageView>, NodeError> },
    /// A received message is durable: return the receipt (to duplicates
    /// that waited too), announce it.
    Received { id: hotline_core::MessageId, reply: DeliverReply, receipt: Vec<u8>, events: Vec<NodeEvent> },
}

/// Most objects a peer that is not a member may send in all while it is
/// connected: a node presents itself with an admission, a few records and a
/// bundle. Past this the rest are refused unread (`stranger_quota`).
const MAX_STRANGER_OBJECTS: usize = 64;

/// A write batch queued on the group committer.
struct InFlight {
    id: u64,
    after: After,
    /// Announced once durable.
    events: Vec<NodeEvent>,
    /// Wire bytes to publish on gossip once durable.
    publish: Vec<Vec<u8>>,
    /// Whether this node's own state changed (then we present ourselves to
    /// the connected peers that gossip does not reach).
    own_change: bool,
    /// Whether membership may have changed: anything but a prekey bundle.
    roster_change: bool,
    /// Slots of our own state this write changes (see `Actor::unsaved_own`).
    own_keys: Vec<ObjectKey>,
}

struct Committed {
    id: u64,
    result: Result<(), StoreError>,
}

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
    /// Signs this state's records. Never logged (`SecretKey` does not print).
    pub state_key: SecretKey,
    pub net: NetworkHandle,
    pub net_events: mpsc::Receiver<NetEvent>,
    pub clock: Clock,
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
}

/// Spawns the actor task. It runs until a `Shutdown` command, until every
/// handle is gone, or until the network task stops.
pub(crate) fn spawn(init: ActorInit) -> tokio::task::JoinHandle<()> {
    let (commit_tx, commits) = mpsc::unbounded_channel();
    let (tasks, completions) = Tasks::new();
    let actor = Actor {
        mail_reader: crate::mailbox::MailReads::new(Arc::clone(&init.store), init.mail.schedule.board()),
        members: init.members,
        state: init.store.state(),
        local_peer: init.net.local_peer_id(),
        store: init.store,
        committer: init.committer,
        dir: init.dir,
        state_key: init.state_key,
        net: init.net,
        clock: init.clock,
        started: Instant::now(),
        gossip: init.gossip,
        events: init.events,
        tasks,
        commit_tx,
        in_flight: VecDeque::new(),
        next_commit: 0,
        connected: HashMap::new(),
        listen: init.listen,
        syncing: HashMap::new(),
        peer_ids: init.peer_ids,
        digest_cache: None,
        unsaved_own: HashMap::new(),
        redials: HashMap::new(),
        stranger_objects: HashMap::new(),
        rejections: BTreeMap::new(),
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
    dir: Directory,
    state: StateCode,
    /// Signs this state's records. Never logged (`SecretKey` does not print).
    state_key: SecretKey,
    net: NetworkHandle,
    local_peer: PeerId,
    clock: Clock,
    started: Instant,
    gossip: bool,
    events: broadcast::Sender<NodeEvent>,
    /// For sync tasks. Weak, so that the actor stops once every handle is gone.
    /// The tasks the actor spawned, and the inbox where they report.
    tasks: Tasks,
    commit_tx: mpsc::UnboundedSender<Committed>,
    in_flight: VecDeque<InFlight>,
    next_commit: u64,
    /// The member set last given to the network.
    members: BTreeMap<PeerId, StateCode>,
    /// Connected peers and the address of their first connection.
    connected: HashMap<PeerId, Multiaddr>,
    listen: watch::Sender<Vec<Multiaddr>>,
    /// Peers with an exchange running; `true` if another one is wanted after it.
    syncing: HashMap<PeerId, bool>,
    /// Peer ids of member nodes, converted once (see [`member_peers`]).
    peer_ids: HashMap<NodeId, PeerId>,
    /// See [`Actor::digest`]: directory generation, clock reading, the live
    /// digest and its summary.
    digest_cache: Option<(u64, Timestamp, Arc<Digest>, DigestSummary)>,
    /// Slots of our own state with a change applied in memory whose write
    /// is not yet durable, with how many such writes are in flight. Sync
    /// leaves them out of what it serves until they are durable.
    unsaved_own: HashMap<ObjectKey, usize>,
    /// Redial tasks of members whose last connection closed.
    redials: HashMap<PeerId, tokio::task::AbortHandle>,
    /// Objects each connected stranger has sent (see [`MAX_STRANGER_OBJECTS`]).
    stranger_objects: HashMap<PeerId, usize>,
    rejections: BTreeMap<String, u64>,
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
        let sync_timer = tokio::time::sleep(spread(sync_interval));
        tokio::pin!(sync_timer);
        // The network dials the bootstrap addresses at start; redial later.
        let mut redial_tick = tokio::time::interval_at(Instant::now() + redial_interval, redial_interval);
        redial_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut delivery_tick = tokio::time::interval(DELIVERY_TICK);
        delivery_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The first tick fires at once: rotate or publish prekeys at start.
        let mut prekey_tick = tokio::time::interval(self.prekey_check);
        let mut liveness_tick = tokio::time::interval(self.liveness_every.0);
        liveness_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        prekey_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let shutdown_reply = loop {
            tokio::select! {
                // Work the node already took on first: its own tasks'
                // completions and durable writes, then new requests.
                biased;
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
                    sync_timer.as_mut().reset(Instant::now() + spread(sync_interval));
                    self.on_sync_tick().await;
                }
                _ = redial_tick.tick() => self.on_redial_tick().await,
                _ = delivery_tick.tick() => self.dispatch_due(),
                _ = liveness_tick.tick() => {
                    self.on_liveness_tick().await;
                    self.run_due_schedules();
                }
                _ = prekey_tick.tick() => {
                    self.maintain_prekeys();
                    self.check_freshness();
                }
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
        while !self.in_flight.is_empty() {
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

    /// The live directory's digest, shared and cached: every exchange and
    /// every digest request needs it, and in a quiet network it changes
    /// rarely. Recomputed when a slot changes, and when the node's clock
    /// (whole seconds) moves on, since expiry changes the live set without
    /// a slot changing.
    fn digest(&mut self) -> Arc<Digest> {
        self.digest_and_summary().0
    }

    fn summary(&mut self) -> DigestSummary {
        self.digest_and_summary().1
    }

    fn digest_and_summary(&mut self) -> (Arc<Digest>, DigestSummary) {
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
                let _ = reply.send(Err(NodeError::Internal { code: "seal_failed", message: error }));
            }
            Completion::Sealed { message, bytes, sealed, extra, reply } => {
                self.queue(*message, bytes, sealed, extra, reply)
            }
            Completion::DeliveryDone { key, result } => self.on_delivery_done(key, result),
            Completion::Opened { peer, reply, envelope, outcome } => self.on_opened(peer, reply, *envelope, outcome),
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
            Command::DigestHash(reply) => {
                let _ = reply.send(self.summary().hash);
            }
            Command::Peers(reply) => {
                let peers = self.peers().await;
                let _ = reply.send(peers);
            }
            Command::Directory(reply) => {
                let mut view = views::directory(&self.dir, now);
                self.mark_unconfirmed(&mut view.records, now);
                let _ = reply.send(view);
            }
            Command::State { state, reply } => {
                let mut view = views::state(&self.dir, state, now)
                    .ok_or_else(|| NodeError::NotFound(format!("no admission or record of {state} is held")));
                if let Ok(v) = &mut view {
                    self.mark_unconfirmed(&mut v.records, now);
                }
                let _ = reply.send(view);
            }
            Command::Record { state, role, reply } => {
                let key = ObjectKey::Record(state, role);
                let mut entry = views::record_entry(&self.dir, &key, now)
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
                let _ = reply.send(self.liveness.view(&self.members, self.local_peer));
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

    async fn status(&mut self) -> StatusView {
        let now = self.now();
        let peers = self.net.connected_peers().await.unwrap_or_default();
        let (digest, summary) = self.digest_and_summary();
        StatusView {
            state: self.state.to_string(),
            admitted: self.dir.is_admitted(self.state, now),
            peer_id: self.local_peer.to_string(),
            network_id: self.dir.network_id().to_string(),
            charter_name: self.dir.charter().charter.name.clone(),
            listen_addrs: self.listen.borrow().iter().map(|a| a.to_string()).collect(),
            gossip: self.gossip,
            connected_peers: peers.len(),
            connected_members: peers.iter().filter(|p| p.member).count(),
            member_nodes: self.dir.member_nodes(now).len(),
            admitted_states: views::admitted_states(&self.dir, now),
            digest_hash: summary.hash,
            live_objects: digest.len(),
            records: self.dir.entries().filter(|(k, _)| matches!(k, ObjectKey::Record(..))).count(),
            pending: self.dir.pending_len(),
            signature_checks: self.dir.signature_checks(),
            inbound_bytes: {
                let b = self.net.budgets();
                crate::api_types::InboundBytesView {
                    reading: b.reading.used(),
                    reading_limit: b.reading.limit(),
                    reading_refused: b.reading.refused(),
                    reading_sync: b.reading_sync.used(),
                    reading_sync_refused: b.reading_sync.refused(),
                    queued: b.queued.used(),
                    queued_limit: b.queued.limit(),
                    queued_refused: b.queued.refused(),
                    stranger_gossip_ignored: b.strangers.gossip_ignored.load(std::sync::atomic::Ordering::Relaxed),
                    stranger_envelopes_refused: b
                        .strangers
                        .envelopes_refused
                        .load(std::sync::atomic::Ordering::Relaxed),
                    strangers_disconnected: b.strangers.disconnected.load(std::sync::atomic::Ordering::Relaxed),
                }
            },
            rejections: self.rejections.clone(),
            store_failures: self.store_failures,
            own_records: self.own_records(now),
            warnings: self.warnings(now),
            delivery_rejections: self.mail.rejections.clone(),
            sync_exchanges: self.sync_exchanges.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            messages: self.store.message_count().unwrap_or(0) as usize,
            outbox: self.mail.schedule.len(),
            now,
            uptime_secs: self.started.elapsed().as_secs(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// Shows as `unconfirmed` the records in force whose PoC failed the last
    /// two checks this node ran.
    fn mark_unconfirmed(&self, records: &mut [RecordEntry], now: Timestamp) {
        let unconfirmed = self.unconfirmed(now);
        if unconfirmed.is_empty() {
            return;
        }
        for r in records.iter_mut().filter(|r| matches!(r.status, RecordState::Current | RecordState::Expiring)) {
            let address = hotline_core::Address { state: r.record.state, role: r.record.role.clone() };
            if unconfirmed.contains(&address) {
                r.status = RecordState::Unconfirmed;
            }
        }
    }

    /// This state's own records held, with their expiry.
    fn own_records(&self, now: Timestamp) -> Vec<crate::api_types::OwnRecordView> {
        self.dir
            .records(now)
            .into_iter()
            .filter(|v| v.record.record.state == self.state)
            .map(|v| {
                let r = &v.record.record;
                let secs = i64::try_from(r.expires.0).unwrap_or(i64::MAX) - i64::try_from(now.0).unwrap_or(0);
                crate::api_types::OwnRecordView {
                    role: r.role.clone(),
                    seq: r.seq,
                    expires: r.expires,
                    status: v.status.into(),
                    days_left: secs.div_euclid(DAY as i64),
                }
            })
            .collect()
    }

    /// One line per thing the operator should act on.
    fn warnings(&self, now: Timestamp) -> Vec<String> {
        self.own_records(now)
            .into_iter()
            .filter_map(|r| {
                let key = format!("{}/{}", self.state, r.role);
                match r.days_left {
                    d if d < 0 || r.status == "expired" => {
                        Some(format!("the contact record {key} has expired: publish a new version now"))
                    }
                    d if d < FRESHNESS_WARNINGS[0] => Some(format!(
                        "the contact record {key} expires in {d} days ({}): publish a new version (CBM 8 asks for an annual update)",
                        r.expires
                    )),
                    _ => None,
                }
            })
            .collect()
    }

    /// Warns (log and event) when one of this state's records comes within
    /// 60, then 30 days of its expiry; once per threshold and version.
    fn check_freshness(&mut self) {
        let now = self.now();
        for r in self.own_records(now) {
            let key = ObjectKey::Record(self.state, r.role.clone());
            let Some(threshold) = FRESHNESS_WARNINGS.iter().copied().filter(|t| r.days_left < *t).min() else {
                continue;
            };
            let already = self.freshness_warned.get(&key).is_some_and(|(seq, t)| *seq == r.seq && *t <= threshold);
            if already {
                continue;
            }
            self.freshness_warned.insert(key.clone(), (r.seq, threshold));
            warn!(record = %key, days_left = r.days_left, expires = %r.expires, "our contact record expires soon: publish a new version");
            self.emit(NodeEvent::RecordExpiring { key: key.to_string(), days_left: r.days_left });
        }
    }

    async fn peers(&self) -> Result<Vec<PeerView>, NodeError> {
        let mut peers: Vec<PeerView> = self
            .net
            .connected_peers()
            .await?
            .into_iter()
            .map(|p| PeerView {
                peer_id: p.peer.to_string(),
                state: self.members.get(&p.peer).map(|s| s.to_string()),
                addrs: p.addrs.iter().map(|a| a.to_string()).collect(),
                rtt_ms: p.rtt.map(|d| d.as_secs_f64() * 1000.0),
                member: p.member,
                gossip_score: p.gossip_score,
            })
            .collect();
        peers.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        Ok(peers)
    }

    fn publish_record(
        &mut self,
        draft: RecordDraft,
        validity_days: Option<u64>,
        reply: oneshot::Sender<Result<RecordEntry, NodeError>>,
    ) {
        let now = self.now();
        let not_admitted = || NodeError::NotAdmitted { state: self.state.to_string() };
        // The key on disk must be the one the admission in force names;
        // otherwise the directory would refuse whatever we sign.
        if !self.dir.is_admitted(self.state, now)
            || self.dir.admission_of_key(&self.state_key.public()) != Some(self.state)
        {
            let _ = reply.send(Err(not_admitted()));
            return;
        }
        let validity_secs = match validity_days {
            None => self.dir.charter().charter.policy.max_record_validity_secs,
            Some(0) => {
                let message = "validity_days: must be at least 1".to_string();
                let _ = reply.send(Err(NodeError::BadRequest { code: "bad_validity", message }));
                return;
            }
            Some(days) => days.saturating_mul(DAY),
        };
        let signed = match self.dir.sign_next_record(draft, &self.state_key, now, validity_secs) {
            Ok(s) => s,
            Err(r) => {
                let _ = reply.send(Err(NodeError::Rejected(r)));
                return;
            }
        };
        let object = DirectoryObject::Record(Box::new(signed));
        let key = object.key();
        match self.dir.apply(object.clone(), now) {
            Ok(Outcome::Applied(applied)) => {
                let Some(entry) = views::record_entry(&self.dir, &key, now) else {
                    let _ = reply.send(Err(NodeError::StoreFailed(format!("{key} vanished after it was applied"))));
                    return;
                };
                info!(record = %object.describe(), "publishing our record");
                self.persist(vec![applied], After::Publish { reply, entry: Box::new(entry) }, Vec::new());
            }
            Ok(other) => {
                // A freshly signed, higher seq cannot be a duplicate or wait
                // for a parent we checked above; say so rather than hang.
                let message = format!("the directory did not take the new record: {other:?}");
                let _ = reply.send(Err(NodeError::BadRequest { code: "not_applied", message }));
            }
            Err(r) => {
                let _ = reply.send(Err(NodeError::Rejected(r)));
            }
        }
    }

    fn submit_object(&mut self, object: DirectoryObject, reply: oneshot::Sender<Result<SubmitResponse, NodeError>>) {
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
                self.persist(vec![applied], After::Submit { reply, response }, Vec::new());
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
                let _ = reply.send(Err(NodeError::Rejected(r)));
            }
        }
    }

    // ----- applying and persisting -----

    /// Applies objects a peer sent through sync. With `republish`, the
    /// objects that become live are also published on gossip once durable:
    /// a push usually carries news (a newcomer presenting itself, the other
    /// side of a healed partition) that the rest of the mesh wants too.
    fn apply_batch(&mut self, peer: PeerId, objects: Vec<Vec<u8>>, after: After, republish: bool) {
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
    fn source_of(&self, peer: &PeerId) -> Option<Source> {
        let node = node_id_of(peer)?;
        Some(match self.members.get(peer) {
            Some(state) => Source::Member(node, *state),
            None => Source::Stranger(node),
        })
    }

    /// The part of our digest a peer may see: all of it for a member; for
    /// anyone else only the part of the states that list it (its own state,
    /// if it is a member whose record lapsed), usually nothing.
    fn digest_for(&mut self, peer: &PeerId) -> Arc<Digest> {
        if self.members.contains_key(peer) {
            return self.digest();
        }
        let states = node_id_of(peer).map(|n| self.dir.states_listing(&n)).unwrap_or_default();
        self.durable_part(&states)
    }

    /// The digest of `states`' live objects, without our own that are not
    /// durable yet.
    fn durable_part(&self, states: &BTreeSet<StateCode>) -> Arc<Digest> {
        let mut digest = self.dir.digest_of(states, self.now());
        digest.retain(|key, _| !self.unsaved_own.contains_key(key));
        Arc::new(digest)
    }

    /// The wire bytes of the winners `applied` accepted that are live now.
    fn live_winners(&self, applied: &[Applied], now: Timestamp) -> Vec<Vec<u8>> {
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

    /// Queues the write of `applied` and remembers what to do once durable.
    fn persist(&mut self, applied: Vec<Applied>, after: After, publish: Vec<Vec<u8>>) {
        self.persist_with(applied, WriteBatch::new(), after, publish);
    }

    /// Like [`Actor::persist`], with more operations (`extra`) written in
    /// the same transaction after the directory's.
    fn persist_with(&mut self, applied: Vec<Applied>, extra: WriteBatch, after: After, mut publish: Vec<Vec<u8>>) {
        let now = self.now();
        let mut batch = WriteBatch::new();
        let mut events = Vec::new();
        let (mut own_change, mut roster_change) = (false, false);
        for a in &applied {
            batch.record_applied(a, &self.dir, now);
            for change in &a.changes {
                events.push(views::change_event(change));
                roster_change |= !matches!(change.key(), ObjectKey::Prekeys(_));
                if let Change::Accepted { object, .. } = change {
                    own_change |= object.state() == self.state;
                }
            }
        }
        if matches!(after, After::Publish { .. } | After::Submit { .. }) && self.gossip {
            // Our own objects (and those handed to us by an operator) are news.
            publish.extend(self.live_winners(&applied, now));
        }
        batch.extend(extra);
        let id = self.next_commit;
        self.next_commit += 1;
        // Our own objects are served to peers only once durable: a record
        // or bundle a peer took, then lost here in a crash, would come back
        // as an equivocation or a prekey this node cannot open.
        let own_keys: Vec<ObjectKey> = applied
            .iter()
            .flat_map(|a| &a.changes)
            .filter(|c| matches!(c, Change::Accepted { object, .. } if object.state() == self.state))
            .map(|c| c.key().clone())
            .collect();
        for key in &own_keys {
            *self.unsaved_own.entry(key.clone()).or_default() += 1;
        }
        self.in_flight.push_back(InFlight { id, after, events, publish, own_change, roster_change, own_keys });
        let tx = self.commit_tx.clone();
        self.committer.submit_with(batch, move |result| {
            // The actor may be gone at shutdown; nothing waits then.
            let _ = tx.send(Committed { id, result });
        });
    }

    async fn on_committed(&mut self, committed: Committed) {
        let Some(job) = self.in_flight.pop_front() else {
            error!(id = committed.id, "a commit completed that was never queued");
            return;
        };
        if job.id != committed.id {
            // The committer answers in submission order; if that ever broke,
            // the follow-ups below would be attached to the wrong write.
            error!(expected = job.id, got = committed.id, "commits completed out of order");
        }
        // Only a durable write makes our own objects servable: after a
        // failed one they stay unserved until a restart reloads the store
        // (what a peer took and we then lost would come back as an
        // equivocation).
        if committed.result.is_ok() {
            for key in &job.own_keys {
                if let Some(n) = self.unsaved_own.get_mut(key) {
                    *n -= 1;
                    if *n == 0 {
                        self.unsaved_own.remove(key);
                    }
                }
            }
        }
        let result = match committed.result {
            Ok(()) => {
                let was_member = self.members.contains_key(&self.local_peer);
                if !job.events.is_empty() {
                    // Recomputing membership walks every record: skip it for
                    // prekey bundles, the most frequent change.
                    if job.roster_change {
                        self.refresh_members().await;
                    }
                    for event in job.events {
                        self.emit(event);
                    }
                    // A recipient may have published its first prekey bundle.
                    self.mail.schedule.wake_unsealed(tokio::time::Instant::now());
                }
                for bytes in job.publish {
                    // Queued, not awaited: a round trip per object would hold
                    // up the actor (and the sync requests waiting on it).
                    if let Err(e) = self.net.queue_publish(bytes).await {
                        warn!(error = %e, "cannot publish on gossip; sync will carry the object");
                    }
                }
                if job.own_change && !self.stopping {
                    // Our node may just have been listed: publish its prekeys.
                    self.maintain_prekeys();
                    // Present our new state to connected peers that gossip
                    // does not reach: strangers (one still deciding whether
                    // we are a member needs our record); everyone when gossip
                    // is off, or when this change made our node a member
                    // (until then peers ignored our gossip). Otherwise gossip
                    // carries the change to members, and a full exchange with
                    // each of them on every update would cost two whole
                    // digests per connection.
                    let newly_member = !was_member && self.members.contains_key(&self.local_peer);
                    let everyone = !self.gossip || newly_member;
                    let peers: Vec<PeerId> =
                        self.connected.keys().filter(|p| everyone || !self.members.contains_key(p)).copied().collect();
                    for peer in peers {
                        self.start_sync(peer);
                    }
                }
                Ok(())
            }
            Err(e) => {
                self.store_failures += 1;
                error!(error = %e, "a durable write failed; the change stays unconfirmed");
                Err(e.to_string())
            }
        };
        self.finish(job.after, result).await;
    }

    async fn finish(&mut self, after: After, result: Result<(), String>) {
        match after {
            After::PushAck(reply) => {
                if result.is_ok()
                    && let Err(e) = self.net.respond_sync(reply, SyncResponse::Ack).await
                {
                    debug!(error = %e, "cannot acknowledge a push");
                }
                // On failure the reply is dropped: the push fails on the
                // peer's side, and it will try again at its next sync.
            }
            After::Fetched(reply) => {
                let _ = reply.send(());
            }
            After::Publish { reply, entry } => {
                let _ = reply.send(result.map(|()| *entry).map_err(NodeError::StoreFailed));
            }
            After::Submit { reply, response } => {
                let _ = reply.send(result.map(|()| response).map_err(NodeError::StoreFailed));
            }
            After::Nothing => {}
            After::Shown { reply, view } => {
                let view = match result {
                    Ok(()) => view.map(|v| *v),
                    Err(e) => Err(NodeError::StoreFailed(e)),
                };
                let _ = reply.send(view);
            }
            After::Queued { reply, response, envelopes, queued_at } => {
                // An acknowledgement now stands in the store, or failed and
                // may be tried again: either way it is no longer in flight.
                self.mail.acks_in_flight.retain(|_, ack| *ack != response.msg_id);
                match result {
                    Ok(()) => {
                        let id = response.msg_id;
                        self.mail.sent.remove(&id);
                        let nodes: Vec<NodeId> = envelopes.iter().map(|(n, _)| *n).collect();
                        self.on_queued(envelopes, id, queued_at);
                        let _ = reply.send(Ok(self.sent_response(response, &nodes)));
                    }
                    Err(e) => {
                        self.mail.sent.remove(&response.msg_id);
                        let _ = reply.send(Err(NodeError::StoreFailed(e)));
                    }
                }
            }
            After::GroupQueued { comcheck, queued, queued_at, reply, view } => {
                self.on_group_queued(result, comcheck, queued, queued_at, reply, *view);
            }
            After::RingWritten { version } => match result {
                Ok(()) => {
                    self.mail.ring_saved = self.mail.ring_saved.max(version);
                    self.maintain_prekeys();
                }
                // Still unsaved: the next maintenance tick writes it again.
                Err(e) => {
                    warn!(error = %e, "the prekey ring could not be written; trying again later");
                    if self.mail.ring_writing == version {
                        self.mail.ring_writing = self.mail.ring_saved;
                    }
                }
            },
            After::Receipted { key } => match result {
                Ok(()) => self.on_receipted(key),
                Err(e) => {
                    warn!(msg = %key.0, error = %e, "a receipt could not be stored; it will be asked for again");
                    let error = format!("the receipt could not be stored: {e}");
                    self.mail.schedule.failed(&key, error, &self.mail.retry, jitter(), tokio::time::Instant::now());
                }
            },
            After::Received { id, reply, receipt, events } => {
                if result.is_ok() {
                    if let Err(e) = self.net.respond_deliver(reply, DeliverResponse::Receipt(receipt)).await {
                        debug!(error = %e, "cannot return a receipt");
                    }
                    for event in events {
                        self.emit(event);
                    }
                }
                // A failed write: the message is not stored, the sender
                // gets no receipt and retries; `on_received_written` forgets
                // it so that the retry is taken in as new.
                self.on_received_written(id, result.is_ok()).await;
            }
        }
    }

    /// Gives the network the member set, if it changed: the node ids listed
    /// in records in force of admitted states.
    async fn refresh_members(&mut self) {
        let members = member_peers(&self.dir, self.now(), &mut self.peer_ids);
        if members == self.members {
            return;
        }
        let set: BTreeSet<PeerId> = members.keys().copied().collect();
        debug!(members = set.len(), "member set changed");
        // Redials of peers that are no members any more, or whose tries
        // are over, are not wanted.
        self.redials.retain(|peer, task| set.contains(peer) && !task.is_finished());
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
    fn note_rejection(&mut self, peer: PeerId, object: &DirectoryObject, rejection: &Rejection, loud: bool) {
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

    fn note_undecodable(&mut self, peer: PeerId, detail: &str, loud: bool) {
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
            NetEvent::PeerConnected { peer, addr } => {
                let member = self.members.contains_key(&peer);
                info!(%peer, %addr, member, "peer connected");
                self.connected.insert(peer, addr);
                self.emit(NodeEvent::PeerConnected { peer: peer.to_string(), member });
                let now = self.now();
                self.liveness.connected(peer, now);
                if let Some(task) = self.redials.remove(&peer) {
                    task.abort();
                }
                // Every new connection syncs: late joiners and healed
                // partitions converge through this, gossip or not.
                self.start_sync(peer);
                // A node that was down takes what waits for it now.
                self.wake_deliveries(&peer);
            }
            NetEvent::PeerDisconnected { peer } => {
                info!(%peer, "peer disconnected");
                self.connected.remove(&peer);
                self.stranger_objects.remove(&peer);
                self.emit(NodeEvent::PeerDisconnected { peer: peer.to_string() });
                let now = self.now();
                self.liveness.disconnected(peer, now);
                if self.members.contains_key(&peer) && !self.stopping {
                    self.redial_member(peer);
                }
            }
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

    async fn on_gossip(&mut self, message_id: MessageId, source: PeerId, data: &[u8]) {
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

    async fn on_sync_request(&mut self, peer: PeerId, request: SyncRequest, reply: SyncReply) {
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
    fn objects_for(&self, keys: &[ObjectKey]) -> Vec<Vec<u8>> {
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
    fn start_sync(&mut self, peer: PeerId) {
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

    /// Dials a member whose last connection closed, at once and then with a
    /// short backoff, from our side: an outbound dial to a member takes no
    /// slot a stranger can hold (`hotline_net::gate`), so a member comes
    /// back even while strangers hold every inbound handshake slot. The
    /// periodic redial and liveness ticks take over after the last try.
    fn redial_member(&mut self, peer: PeerId) {
        if self.redials.get(&peer).is_some_and(|task| !task.is_finished()) {
            return;
        }
        let net = self.net.clone();
        let task = self.tasks.spawn(async move {
            for delay in peers::MEMBER_REDIAL_BACKOFF {
                tokio::time::sleep(delay).await;
                if let Err(e) = net.dial_peer(peer).await {
                    debug!(%peer, error = %e, "cannot redial a member");
                }
            }
        });
        self.redials.insert(peer, task);
    }

    // ----- timers -----

    async fn on_sync_tick(&mut self) {
        // Records expire with time, not only with changes.
        self.refresh_members().await;
        let mut candidates: Vec<PeerId> = self
            .connected
            .keys()
            .filter(|p| self.members.contains_key(p) && !self.syncing.contains_key(p))
            .copied()
            .collect();
        shuffle(&mut candidates);
        if let Some(&peer) = candidates.first() {
            debug!(%peer, "periodic sync");
            self.start_sync(peer);
        }
    }

    /// Samples every member's reachability and dials those not connected
    /// (each at most once per dial interval).
    async fn on_liveness_tick(&mut self) {
        let now = self.now();
        let dial = self.liveness.sample(&self.members, self.local_peer, now, Instant::now(), self.liveness_every.1);
        for peer in dial {
            if let Err(e) = self.net.dial_peer(peer).await {
                debug!(%peer, error = %e, "cannot dial member for liveness");
            }
        }
    }

    /// Redials bootstrap addresses we are not connected to, and members
    /// while we have fewer member connections than the target.
    async fn on_redial_tick(&mut self) {
        let peers = match self.net.connected_peers().await {
            Ok(p) => p,
            Err(_) => return,
        };
        let listening = self.listen.borrow().clone();
        let plan = peers::Redial {
            local: self.local_peer,
            listening: &listening,
            bootstrap: &self.bootstrap,
            members: &self.members,
            target: self.target_peers,
        }
        .plan(&peers, shuffle);
        for addr in plan.bootstrap {
            debug!(%addr, "redialling bootstrap address");
            if let Err(e) = self.net.dial(addr.clone()).await {
                debug!(%addr, error = %e, "cannot redial");
            }
        }
        if plan.deficit == 0 {
            return;
        }
        // Members whose addresses are known first: a dial is cheap. Only when
        // none is known, one Kademlia lookup per tick: in a directory where
        // many listed nodes are offline, looking each of them up every tick
        // would keep every member busy answering queries.
        let started = self.net.dial_known(plan.members.clone(), plan.deficit).await.unwrap_or(0);
        if started == 0
            && let Some(&peer) = plan.members.first()
            && let Err(e) = self.net.dial_peer(peer).await
        {
            debug!(%peer, error = %e, "cannot dial member");
        }
    }
}

/// `period` spread over ±25 %: nodes started together (a restarted network,
/// or many nodes in one process) must not all sync in the same instant.
fn spread(period: Duration) -> Duration {
    period.mul_f64(0.75 + 0.5 * jitter())
}
