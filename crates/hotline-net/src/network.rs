//! The network actor: one task owns the `Swarm`; a cloneable
//! [`NetworkHandle`] sends it commands; it sends [`NetEvent`]s to the node.

use crate::behaviour::{
    Behaviour, BehaviourEvent, ReadBudgets, STRANGER_SCORE, build_swarm, directory_topic, identify_version,
};
use crate::budget::{ByteBudget, BytePermit};
use crate::config::NetConfig;
use crate::deliver::{DeliverRequest, DeliverResponse, NOT_A_MEMBER};
use crate::error::NetError;
use crate::links::{BootId, LinkCounts, Links};
use crate::offered_only::Audience;
use crate::strangers::Strangers;
use crate::sync::{SyncRequest, SyncResponse};
use futures::StreamExt;
use hotline_core::NetworkId;
use libp2p::gossipsub::{self, MessageAcceptance, MessageId};
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, DialError, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, kad, ping};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{Instrument, debug, info, trace, warn};

/// Most listen addresses kept per peer from identify; a peer cannot make
/// us store more.
const MAX_ADDRS_PER_PEER: usize = 16;

/// Most events that may wait for the node, beyond the channel itself,
/// before gossip, sync and deliver requests, refusal reports and ping
/// reports are shed. Connection and listen events are never shed.
const MAX_BACKLOG: usize = 1024;
/// How long a new member's connections made while it was a stranger stay
/// open once a new connection (with the deliver protocol) is being made:
/// long enough for a sync exchange running on them to finish.
const RETIRE_AFTER: Duration = Duration::from_secs(3);
/// How long the end of a connection with the higher peer id waits for the
/// other end to make the new connection a new member needs, before it
/// dials itself (the other end may not count it as a member yet).
const REPLACE_FALLBACK: Duration = Duration::from_secs(2);
/// How long after a Kademlia lookup of a peer `dial_peer` starts no new one
/// for the same peer. A lookup asks up to k members; a node that keeps
/// asking for peers that are offline (liveness, redial, an outbox) would
/// otherwise flood the members' routing tables with queries.
const LOOKUP_INTERVAL: Duration = Duration::from_secs(30);

/// What the network reports to the node.
#[derive(Debug)]
pub enum NetEvent {
    /// A listener is bound to this address (port 0 resolved).
    ListeningOn(Multiaddr),
    /// The first connection to `peer` is up. The node starts a sync here:
    /// this is what makes late joiners and healed partitions converge.
    PeerConnected {
        /// The peer.
        peer: PeerId,
        /// Its address on this connection.
        addr: Multiaddr,
    },
    /// Another connection to a peer already connected is up: perhaps the
    /// peer restarted, or a link was cut and a new one made while the old
    /// one is not yet known dead. Whatever waits for the peer should be
    /// tried now (requests go over any of its connections).
    ConnectionAdded {
        /// The peer.
        peer: PeerId,
        /// Its address on the new connection.
        addr: Multiaddr,
    },
    /// The last connection to `peer` closed.
    PeerDisconnected {
        /// The peer.
        peer: PeerId,
    },
    /// A directory gossip message from a member, waiting for the node's
    /// verdict. The node must answer with
    /// [`NetworkHandle::report_gossip`]; until then the message is not
    /// forwarded.
    Gossip {
        /// The message id (SHA-256 of `data`).
        message_id: MessageId,
        /// The member that forwarded it to us (whom a `Reject` penalises).
        propagation_source: PeerId,
        /// The object's wire bytes, unchecked.
        data: Vec<u8>,
    },
    /// A sync request; the node answers with
    /// [`NetworkHandle::respond_sync`], or drops `reply` to refuse silently.
    SyncRequest {
        /// The asking peer (a member, or a stranger in its grace window).
        peer: PeerId,
        /// The request, already checked against the protocol's bounds.
        request: SyncRequest,
        /// Where the answer goes.
        reply: SyncReply,
        /// The request's share of the node-wide budget of queued inbound
        /// bytes: hold it until the request is handled.
        permit: BytePermit,
    },
    /// An envelope from a member; the node opens it and answers with
    /// [`NetworkHandle::respond_deliver`] (a receipt or a refusal), or drops
    /// `reply` to make the request fail on the sender's side (it retries).
    /// Shed when the node falls behind, with the same effect.
    Deliver {
        /// The sending member.
        peer: PeerId,
        /// The request, already checked against the protocol's bounds.
        request: DeliverRequest,
        /// Where the answer goes.
        reply: DeliverReply,
        /// The envelope's share of the node-wide budget of queued inbound
        /// bytes: hold it until the envelope is handled (opened and
        /// stored, or refused), so that what waits in the backlog, the
        /// channel and the opening tasks is bounded by bytes.
        permit: BytePermit,
    },
    /// The network refused an envelope by itself and answered `Refused`
    /// with `code` (today only [`crate::deliver::NOT_A_MEMBER`]: the sender
    /// is not in the member set). For counters; the node need not act.
    DeliverRefused {
        /// The sender.
        peer: PeerId,
        /// The refusal code sent.
        code: &'static str,
    },
    /// A ping round trip.
    PingRtt {
        /// The peer.
        peer: PeerId,
        /// The round-trip time.
        rtt: Duration,
    },
}

/// The answer slot of an inbound sync request. Dropping it without
/// answering makes the request fail on the asker's side.
pub struct SyncReply {
    peer: PeerId,
    channel: ResponseChannel<SyncResponse>,
}

impl SyncReply {
    /// The peer that asked.
    pub fn peer(&self) -> PeerId {
        self.peer
    }
}

impl fmt::Debug for SyncReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SyncReply({})", self.peer)
    }
}

/// The answer slot of an inbound deliver request. Dropping it without
/// answering makes the request fail on the sender's side.
pub struct DeliverReply {
    peer: PeerId,
    channel: ResponseChannel<DeliverResponse>,
}

impl DeliverReply {
    /// The member that sent the envelope.
    pub fn peer(&self) -> PeerId {
        self.peer
    }
}

impl fmt::Debug for DeliverReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeliverReply({})", self.peer)
    }
}

/// The node's verdict on a gossip message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid and new to the directory: forward it to the mesh.
    Accept,
    /// Invalid (bad signature, unadmitted, replayed…): drop it and penalise
    /// the peer that sent it.
    Reject,
    /// Not forwarded, not penalised (a duplicate, or an object waiting for
    /// its parent).
    Ignore,
}

impl From<Verdict> for MessageAcceptance {
    fn from(v: Verdict) -> MessageAcceptance {
        match v {
            Verdict::Accept => MessageAcceptance::Accept,
            Verdict::Reject => MessageAcceptance::Reject,
            Verdict::Ignore => MessageAcceptance::Ignore,
        }
    }
}

/// A connected peer, as [`NetworkHandle::connected_peers`] reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerInfo {
    /// The peer.
    pub peer: PeerId,
    /// Remote addresses of its open connections.
    pub addrs: Vec<Multiaddr>,
    /// The last ping round trip, if any.
    pub rtt: Option<Duration>,
    /// How long since a ping was last answered on any of its connections
    /// (or since the first opened). A connection silent for
    /// [`crate::NetConfig::dead_link_after`] is closed.
    pub silent_for: Duration,
    /// Whether it is in the member set.
    pub member: bool,
    /// Its gossipsub score (`None` when gossip is off). Rejected objects
    /// drive it down.
    pub gossip_score: Option<f64>,
}

enum Command {
    /// Without `reply`, a failure is logged by the network task.
    Publish {
        data: Vec<u8>,
        reply: Option<oneshot::Sender<Result<(), NetError>>>,
    },
    ReportGossip {
        message_id: MessageId,
        source: PeerId,
        verdict: Verdict,
    },
    SyncRequest {
        peer: PeerId,
        request: SyncRequest,
        reply: oneshot::Sender<Result<SyncResponse, NetError>>,
    },
    RespondSync {
        reply: SyncReply,
        response: SyncResponse,
    },
    Deliver {
        peer: PeerId,
        request: DeliverRequest,
        reply: oneshot::Sender<Result<DeliverResponse, NetError>>,
    },
    RespondDeliver {
        reply: DeliverReply,
        response: DeliverResponse,
    },
    SetMembers {
        members: BTreeSet<PeerId>,
        reply: oneshot::Sender<()>,
    },
    Block {
        peer: PeerId,
        reply: oneshot::Sender<()>,
    },
    Unblock {
        peer: PeerId,
        reply: oneshot::Sender<()>,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    DialPeer {
        peer: PeerId,
        reply: oneshot::Sender<Result<(), NetError>>,
    },
    DialKnown {
        peers: Vec<PeerId>,
        max: usize,
        reply: oneshot::Sender<usize>,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    ConnectedPeers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    GossipPeers {
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// Starts the network. See [`Network::spawn`].
pub struct Network;

impl Network {
    /// Builds the swarm, starts listening and dialling the bootstrap
    /// addresses, and spawns the task that owns it. Must be called inside a
    /// tokio runtime. Returns the handle and the event stream; the task
    /// ends on [`NetworkHandle::shutdown`] or when every handle is dropped.
    pub fn spawn(config: NetConfig) -> Result<(NetworkHandle, mpsc::Receiver<NetEvent>), NetError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NetError::NoRuntime)?;
        let keypair = config.keypair()?;
        let local_peer_id = keypair.public().to_peer_id();
        let read = ReadBudgets {
            deliver: ByteBudget::new(config.inbound_read_bytes),
            sync: ByteBudget::new(config.inbound_read_bytes),
            stranger_sync: ByteBudget::new(config.inbound_stranger_sync_bytes),
        };
        let mut swarm = build_swarm(keypair, &config, &read)?;
        for addr in &config.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| NetError::Listen { addr: addr.clone(), reason: crate::error::describe_chain(&e) })?;
        }
        let capacity = config.channel_capacity.max(1);
        let (command_tx, command_rx) = mpsc::channel(capacity);
        let (event_tx, event_rx) = mpsc::channel(capacity);
        let mut event_loop = EventLoop {
            swarm,
            commands: command_rx,
            events: event_tx,
            backlog: VecDeque::new(),
            queued: ByteBudget::new(config.inbound_queued_bytes),
            strangers: Arc::default(),
            replacing: HashMap::new(),
            retiring: HashMap::new(),
            replace_dial_at: HashMap::new(),
            events_closed: false,
            topic: directory_topic(&config.network).hash(),
            identify_version: identify_version(&config.network),
            members: BTreeSet::new(),
            peers: HashMap::new(),
            stranger_time: Strangers::new(config.grace, config.stranger_cooldown),
            pending_sync: HashMap::new(),
            pending_deliver: HashMap::new(),
            wanted: HashSet::new(),
            looked_up: HashMap::new(),
            links: Links::new(config.dead_link_after),
            link_counts: Arc::default(),
            dead_link_after: config.dead_link_after,
        };
        let links = Arc::clone(&event_loop.link_counts);
        event_loop.set_members(config.members.clone());
        for addr in &config.bootstrap {
            // A bad bootstrap address must not stop the node: others may work.
            if let Err(e) = event_loop.swarm.dial(addr.clone()) {
                warn!(%addr, error = %e, "cannot dial bootstrap address");
            }
        }
        info!(peer = %local_peer_id, network = %config.network, gossip = config.gossip, "network starting");
        // The caller's span (the node's, in a multi-node process) follows the loop.
        let budgets = InboundBudgets {
            reading: read.deliver,
            reading_sync: read.sync,
            reading_stranger_sync: read.stranger_sync,
            queued: Arc::clone(&event_loop.queued),
            strangers: Arc::clone(&event_loop.strangers),
        };
        runtime.spawn(event_loop.run().in_current_span());
        let handle = NetworkHandle {
            commands: command_tx,
            local_peer_id,
            network: config.network,
            budgets,
            links,
            dead_link_after: config.dead_link_after,
        };
        Ok((handle, event_rx))
    }
}

/// Where the answer to one of our sync requests goes.
type SyncAnswer = oneshot::Sender<Result<SyncResponse, NetError>>;

/// A cheap, cloneable handle on the network task.
#[derive(Clone, Debug)]
pub struct NetworkHandle {
    commands: mpsc::Sender<Command>,
    local_peer_id: PeerId,
    network: NetworkId,
    budgets: InboundBudgets,
    links: Arc<LinkCounts>,
    dead_link_after: Duration,
}

/// The node-wide budgets of inbound bytes, and what strangers were
/// refused, for status and metrics: counted, not logged one line each,
/// since a stranger decides how many there are.
#[derive(Clone, Debug)]
pub struct InboundBudgets {
    /// Deliver request frames being read (members only: strangers'
    /// connections do not offer the protocol).
    pub reading: Arc<ByteBudget>,
    /// Sync request frames from members being read.
    pub reading_sync: Arc<ByteBudget>,
    /// Sync request frames from strangers (in their grace window) being
    /// read: a budget apart from the members'.
    pub reading_stranger_sync: Arc<ByteBudget>,
    /// Requests read and queued for, or being handled by, the node.
    pub queued: Arc<ByteBudget>,
    /// What was refused to peers that are not members.
    pub strangers: Arc<StrangerCounts>,
}

/// Counts of what peers that are not members were refused since start.
#[derive(Debug, Default)]
pub struct StrangerCounts {
    /// Gossip messages ignored.
    pub gossip_ignored: std::sync::atomic::AtomicU64,
    /// Envelopes refused with `not_a_member`.
    pub envelopes_refused: std::sync::atomic::AtomicU64,
    /// Strangers disconnected at the end of their grace window.
    pub disconnected: std::sync::atomic::AtomicU64,
}

impl StrangerCounts {
    fn bump(counter: &std::sync::atomic::AtomicU64) {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl NetworkHandle {
    /// The node-wide budgets of inbound bytes (read without a round trip).
    pub fn budgets(&self) -> &InboundBudgets {
        &self.budgets
    }

    /// How many connections were closed as dead, or as left behind by a
    /// peer's restart (read without a round trip).
    pub fn link_counts(&self) -> &LinkCounts {
        &self.links
    }

    /// How long a connection may stay silent before it is closed as dead
    /// ([`NetConfig::dead_link_after`]).
    pub fn dead_link_after(&self) -> Duration {
        self.dead_link_after
    }

    /// This node's peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// The network id.
    pub fn network_id(&self) -> NetworkId {
        self.network
    }

    async fn send(&self, command: Command) -> Result<(), NetError> {
        self.commands.send(command).await.map_err(|_| NetError::Stopped)
    }

    async fn ask<T>(&self, command: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, NetError> {
        let (tx, rx) = oneshot::channel();
        self.send(command(tx)).await?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    /// Publishes an object's wire bytes on the directory topic. Succeeds
    /// when no peer is subscribed yet, when the same bytes were published
    /// recently, and when gossip is off: sync delivers the object anyway.
    pub async fn publish(&self, data: Vec<u8>) -> Result<(), NetError> {
        self.ask(|reply| Command::Publish { data, reply: Some(reply) }).await?
    }

    /// Like [`NetworkHandle::publish`], without waiting for the network task
    /// to act on it (a failure is logged there). For a caller that must not
    /// spend a round trip per object, such as the node's actor; the order
    /// of commands is kept.
    pub async fn queue_publish(&self, data: Vec<u8>) -> Result<(), NetError> {
        self.send(Command::Publish { data, reply: None }).await
    }

    /// Gives the node's verdict on a [`NetEvent::Gossip`] message: `Accept`
    /// forwards it, `Reject` drops it and penalises `propagation_source`,
    /// `Ignore` drops it. Call it exactly once per message.
    pub async fn report_gossip(
        &self,
        message_id: MessageId,
        propagation_source: PeerId,
        verdict: Verdict,
    ) -> Result<(), NetError> {
        self.send(Command::ReportGossip { message_id, source: propagation_source, verdict }).await
    }

    /// Sends a sync request to `peer` (dialling it if needed and its
    /// address is known) and waits for the response.
    pub async fn sync_request(&self, peer: PeerId, request: SyncRequest) -> Result<SyncResponse, NetError> {
        request.check()?;
        self.ask(|reply| Command::SyncRequest { peer, request, reply }).await?
    }

    /// Answers an inbound [`NetEvent::SyncRequest`]. An answer over the
    /// protocol's bounds is refused here, and the request then fails on the
    /// asker's side.
    pub async fn respond_sync(&self, reply: SyncReply, response: SyncResponse) -> Result<(), NetError> {
        response.check()?;
        self.send(Command::RespondSync { reply, response }).await
    }

    /// Sends one sealed envelope to `peer` and waits for its receipt or
    /// refusal (at most [`NetConfig::deliver_timeout`] once a connection is
    /// up; many deliveries may be in flight at once).
    ///
    /// An envelope over the protocol's bounds is refused here
    /// ([`NetError::Protocol`]) and a blocked or cooling peer with
    /// [`NetError::Blocked`], before anything is sent. A peer that is not
    /// connected is dialled at its known addresses; when none is known, a
    /// Kademlia lookup starts and this delivery fails at once with
    /// [`NetError::Deliver`]: retry after a moment. Transport failures, a
    /// timeout or a request the receiver dropped are [`NetError::Deliver`];
    /// the receiver's refusal is `Ok(DeliverResponse::Refused { .. })`.
    pub async fn deliver(&self, peer: PeerId, request: DeliverRequest) -> Result<DeliverResponse, NetError> {
        request.check()?;
        self.ask(|reply| Command::Deliver { peer, request, reply }).await?
    }

    /// Answers an inbound [`NetEvent::Deliver`]. An answer over the
    /// protocol's bounds (or with a malformed refusal code) is refused here,
    /// and the request then fails on the sender's side.
    pub async fn respond_deliver(&self, reply: DeliverReply, response: DeliverResponse) -> Result<(), NetError> {
        response.check()?;
        self.send(Command::RespondDeliver { reply, response }).await
    }

    /// Replaces the member set: the node ids listed in current records of
    /// admitted states, as peer ids. Members are exempt from gating and
    /// from the strangers' connection cap (not from the per-peer one), and
    /// are routed by Kademlia; connected peers that
    /// are no longer members get a grace window, then are disconnected.
    /// Returns once the network applied the set.
    pub async fn set_members(&self, members: BTreeSet<PeerId>) -> Result<(), NetError> {
        self.ask(|reply| Command::SetMembers { members, reply }).await
    }

    /// Closes every connection to `peer` and refuses new ones, member or not.
    pub async fn block(&self, peer: PeerId) -> Result<(), NetError> {
        self.ask(|reply| Command::Block { peer, reply }).await
    }

    /// Lifts [`NetworkHandle::block`].
    pub async fn unblock(&self, peer: PeerId) -> Result<(), NetError> {
        self.ask(|reply| Command::Unblock { peer, reply }).await
    }

    /// Starts dialling `addr`. The connection is reported as
    /// [`NetEvent::PeerConnected`].
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetError> {
        self.ask(|reply| Command::Dial { addr, reply }).await?
    }

    /// Starts connecting to `peer` by id: dials its known addresses, or asks
    /// Kademlia to find it among the members and dials it when found. A peer
    /// looked up in the last 30 s is not looked up again (the call still
    /// succeeds; the caller retries later anyway).
    pub async fn dial_peer(&self, peer: PeerId) -> Result<(), NetError> {
        self.ask(|reply| Command::DialPeer { peer, reply }).await?
    }

    /// Dials up to `max` of `peers`, in order, skipping those connected,
    /// refused, or with no known address; never starts a lookup. Returns how
    /// many dials started: the cheap way to fill up connections.
    pub async fn dial_known(&self, peers: Vec<PeerId>, max: usize) -> Result<usize, NetError> {
        self.ask(|reply| Command::DialKnown { peers, max, reply }).await
    }

    /// The addresses the node listens on.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        self.ask(|reply| Command::ListenAddrs { reply }).await
    }

    /// The connected peers.
    pub async fn connected_peers(&self) -> Result<Vec<PeerInfo>, NetError> {
        self.ask(|reply| Command::ConnectedPeers { reply }).await
    }

    /// Peers known to be subscribed to the directory topic (empty when
    /// gossip is off). A publish reaches at least these.
    pub async fn gossip_peers(&self) -> Result<Vec<PeerId>, NetError> {
        self.ask(|reply| Command::GossipPeers { reply }).await
    }

    /// Stops the network task: every connection and listener is closed and
    /// the event stream ends. Returns once the swarm is gone.
    pub async fn shutdown(&self) -> Result<(), NetError> {
        self.ask(|reply| Command::Shutdown { reply }).await
    }
}

/// What we know about one connected peer.
#[derive(Default)]
struct PeerState {
    conns: HashMap<ConnectionId, Multiaddr>,
    rtt: Option<Duration>,
    /// Listen addresses from identify, kept so they can go into Kademlia
    /// when the peer becomes a member later.
    listen_addrs: Vec<Multiaddr>,
}

struct EventLoop {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    /// Events waiting for room in the channel. Buffering here (instead of
    /// awaiting the channel) keeps the swarm and the commands moving while
    /// the node is busy, so a node that awaits a handle call in the same
    /// task that reads events cannot deadlock the network.
    backlog: VecDeque<NetEvent>,
    /// Bytes of inbound requests queued for the node or being handled by
    /// it (see [`NetEvent::Deliver`]'s permit).
    queued: Arc<ByteBudget>,
    strangers: Arc<StrangerCounts>,
    /// Connections of new members made while they were strangers (without
    /// the deliver protocol), waiting for a connection that replaces them.
    replacing: HashMap<PeerId, Vec<ConnectionId>>,
    /// Such connections once replaced, with when to close them.
    retiring: HashMap<ConnectionId, Instant>,
    /// When to dial a new member whose end is to dial first, if it has not.
    replace_dial_at: HashMap<PeerId, Instant>,
    events_closed: bool,
    topic: gossipsub::TopicHash,
    identify_version: String,
    members: BTreeSet<PeerId>,
    peers: HashMap<PeerId, PeerState>,
    /// Strangers' grace windows and cool-downs.
    stranger_time: Strangers,
    /// Sync requests in flight, by the behaviour that sent them (each
    /// numbers its requests on its own).
    pending_sync: HashMap<(Audience, OutboundRequestId), (PeerId, SyncAnswer)>,
    pending_deliver: HashMap<OutboundRequestId, PendingDeliver>,
    /// Peers `dial_peer` is looking up through Kademlia.
    wanted: HashSet<PeerId>,
    /// When `dial_peer` last started a lookup of a peer (pruned after
    /// [`LOOKUP_INTERVAL`], so bounded by the lookups of that interval).
    looked_up: HashMap<PeerId, Instant>,
    /// When each connection was last heard from (dead-link detection).
    links: Links,
    link_counts: Arc<LinkCounts>,
    dead_link_after: Duration,
}

/// A delivery waiting for its answer. The request is kept so that it can
/// move to another connection once, should the one it went out on close
/// while the peer still has another (a restarted peer's old connection, a
/// link closed as dead while a new one came up).
struct PendingDeliver {
    request: DeliverRequest,
    moved: bool,
    reply: oneshot::Sender<Result<DeliverResponse, NetError>>,
}

impl EventLoop {
    async fn run(mut self) {
        let mut shutdown_reply = None;
        // A second sender for the `reserve` branch, so the permit it yields
        // does not borrow `self` while a handler runs.
        let events = self.events.clone();
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown { reply }) => {
                        shutdown_reply = Some(reply);
                        break;
                    }
                    Some(command) => self.on_command(command),
                    // Every handle is gone: nobody can use the network any more.
                    None => break,
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                permit = events.reserve(), if !self.backlog.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(event) = self.backlog.pop_front() {
                            permit.send(event);
                        }
                        self.flush_backlog();
                    }
                    Err(_) => self.close_events(),
                },
                () = sleep_until(deadline) => self.on_deadline(),
            }
        }
        info!(peer = %self.swarm.local_peer_id(), "network stopping");
        // Fail pending requests before the swarm goes, then drop it: that
        // closes listeners and connections.
        self.pending_sync.clear();
        self.pending_deliver.clear();
        drop(self);
        drop(events);
        if let Some(reply) = shutdown_reply {
            let _ = reply.send(());
        }
    }

    // ----- events to the node -----

    /// Queues an event that must reach the node (connections, listeners).
    fn emit(&mut self, event: NetEvent) {
        if self.events_closed {
            return;
        }
        self.backlog.push_back(event);
        self.flush_backlog();
    }

    /// Queues an event that may be shed under load. Returns false if it
    /// was shed (dropped: a shed sync reply fails the request remotely).
    fn emit_sheddable(&mut self, event: NetEvent) -> bool {
        if self.events_closed || self.backlog.len() >= MAX_BACKLOG {
            return false;
        }
        self.emit(event);
        true
    }

    fn flush_backlog(&mut self) {
        while let Some(event) = self.backlog.pop_front() {
            match self.events.try_send(event) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(event)) => {
                    self.backlog.push_front(event);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.close_events();
                    return;
                }
            }
        }
    }

    /// The node dropped its receiver. Keep serving commands (it may still
    /// shut down cleanly) but stop queuing events.
    fn close_events(&mut self) {
        debug!("event receiver dropped; events are discarded from now on");
        self.events_closed = true;
        self.backlog.clear();
    }

    // ----- gating -----

    fn is_member(&self, peer: &PeerId) -> bool {
        self.members.contains(peer)
    }

    /// Which sync behaviour a request to `peer` goes through: the one that
    /// has a connection with it, preferring the members'; with no
    /// connection, the one a new connection will offer.
    fn sync_side(&self, peer: &PeerId) -> Audience {
        let behaviour = self.swarm.behaviour();
        if behaviour.sync.reaches(peer) {
            Audience::Members
        } else if behaviour.stranger_sync.reaches(peer) || !self.is_member(peer) {
            Audience::Strangers
        } else {
            Audience::Members
        }
    }

    /// Whether `peer` may use sync now: a member, or a stranger inside its
    /// grace window.
    fn may_sync(&self, peer: &PeerId) -> bool {
        self.is_member(peer) || self.stranger_time.in_grace(peer, Instant::now())
    }

    fn set_members(&mut self, members: BTreeSet<PeerId>) {
        let old = std::mem::replace(&mut self.members, members);
        let now = Instant::now();
        self.swarm.behaviour_mut().limits.set_members(&self.members);
        // New members' connections made while they were strangers lack the
        // deliver protocol: open another one, which offers it (after the
        // addresses of new members are learnt, below). The old one is left
        // alone: a sync exchange may be running on it.
        let members = &self.members;
        self.replacing.retain(|peer, _| members.contains(peer));
        self.replace_dial_at.retain(|peer, _| members.contains(peer));
        let mut without = BTreeSet::new();
        // Strangers' sync stays on the connections that have it until they
        // close: nothing to open for it.
        let _ = self.swarm.behaviour_mut().stranger_sync.set_members(&self.members);
        let _ = self.swarm.behaviour_mut().sync.set_members(&self.members);
        for (peer, id) in self.swarm.behaviour_mut().deliver.set_members(&self.members) {
            let old = self.replacing.entry(peer).or_default();
            if !self.retiring.contains_key(&id) && !old.contains(&id) {
                old.push(id);
                without.insert(peer);
            }
        }
        for peer in old.difference(&self.members).copied().collect::<Vec<_>>() {
            self.swarm.behaviour_mut().kad.remove_peer(&peer);
            if self.peers.contains_key(&peer) {
                debug!(%peer, "connected peer is no longer a member; grace window starts");
                self.set_gossip_score(&peer, STRANGER_SCORE);
                self.stranger_time.left_members(peer, now);
            }
        }
        for peer in self.members.difference(&old).copied().collect::<Vec<_>>() {
            if self.stranger_time.joined_members(&peer) {
                self.swarm.behaviour_mut().cooling.unblock_peer(peer);
            }
            // Also clears a retained stranger score of a disconnected peer.
            self.set_gossip_score(&peer, 0.0);
            if let Some(state) = self.peers.get(&peer) {
                let addrs = state.listen_addrs.clone();
                self.learn_member_addrs(peer, addrs);
            }
        }
        for peer in without {
            // Both ends usually see each other become members at the same
            // moment, and one new connection serves both: the end with the
            // lower peer id dials at once, the other only if no new
            // connection has come after a moment.
            if *self.swarm.local_peer_id() < peer {
                debug!(%peer, "a new member's connection lacks the deliver protocol: dialling another");
                self.dial_replacement(peer);
            } else {
                self.replace_dial_at.insert(peer, now + REPLACE_FALLBACK);
            }
        }
    }

    /// Dials a new member whose connections lack the deliver protocol. With
    /// no address known yet, identify brings one (`learn_member_addrs`
    /// tries again), or the member dials us. The old connections are closed
    /// only once a new one is up (`on_replacement`).
    fn dial_replacement(&mut self, peer: PeerId) {
        let opts = DialOpts::peer_id(peer).condition(PeerCondition::Always).build();
        if let Err(e) = self.swarm.dial(opts) {
            debug!(%peer, error = %e, "cannot dial a new member yet");
        }
    }

    /// A connection with `peer` was established: if it replaces ones made
    /// before `peer` was a member, those close a little later (a sync
    /// exchange may still be running on them).
    fn on_replacement(&mut self, peer: PeerId, id: ConnectionId) {
        let Some(old) = self.replacing.get(&peer) else { return };
        if old.contains(&id) || !self.is_member(&peer) {
            return;
        }
        self.replace_dial_at.remove(&peer);
        let deadline = Instant::now() + RETIRE_AFTER;
        for old in self.replacing.remove(&peer).unwrap_or_default() {
            self.retiring.insert(old, deadline);
        }
    }

    fn set_gossip_score(&mut self, peer: &PeerId, score: f64) {
        if let Some(gossipsub) = self.swarm.behaviour_mut().gossipsub.as_mut() {
            gossipsub.set_application_score(peer, score);
        }
    }

    /// Members' addresses go into Kademlia (peer routing) and the swarm's
    /// address book (used by sync and `dial_peer`).
    fn learn_member_addrs(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let any = !addrs.is_empty();
        for addr in addrs {
            self.swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
            self.swarm.add_peer_address(peer, addr);
        }
        if any && self.replacing.contains_key(&peer) && !self.replace_dial_at.contains_key(&peer) {
            self.dial_replacement(peer);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.retiring
            .values()
            .chain(self.replace_dial_at.values())
            .copied()
            .chain(self.stranger_time.next_deadline())
            .chain(self.links.next_deadline())
            .min()
    }

    /// Ends expired grace windows (disconnect and cool down) and expired
    /// cool-downs (the stranger may try again).
    fn on_deadline(&mut self) {
        let now = Instant::now();
        for (id, peer) in self.links.dead(now, &self.link_counts) {
            info!(%peer, connection = %id, after = ?self.dead_link_after, "no answer on a connection: closing it as dead");
            self.swarm.close_connection(id);
        }
        let members = &self.members;
        for peer in self.stranger_time.expire(now, |p| members.contains(p)) {
            if self.peers.contains_key(&peer) {
                debug!(%peer, "grace window over and not a member: disconnecting");
                StrangerCounts::bump(&self.strangers.disconnected);
            }
            // Blocking closes its connections and refuses new ones in both
            // directions until the cool-down ends.
            self.swarm.behaviour_mut().cooling.block_peer(peer);
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        let fallback: Vec<PeerId> =
            self.replace_dial_at.iter().filter(|(_, at)| **at <= now).map(|(p, _)| *p).collect();
        for peer in fallback {
            self.replace_dial_at.remove(&peer);
            if self.replacing.contains_key(&peer) {
                debug!(%peer, "no new connection from a new member: dialling it");
                self.dial_replacement(peer);
            }
        }
        let retired: Vec<ConnectionId> =
            self.retiring.iter().filter(|(_, end)| **end <= now).map(|(id, _)| *id).collect();
        for id in retired {
            // Never the last connection that is not itself being retired:
            // the other end retires on its own clock, and the two must not
            // leave the peer with none.
            let owner = self.peers.iter().find(|(_, p)| p.conns.contains_key(&id));
            let keeps_another = owner
                .is_some_and(|(_, p)| p.conns.keys().any(|other| *other != id && !self.retiring.contains_key(other)));
            if !keeps_another {
                // Later, and meanwhile try (again) for a connection that
                // offers the protocol.
                let peer = owner.map(|(peer, _)| *peer);
                self.retiring.insert(id, now + RETIRE_AFTER);
                if let Some(peer) = peer {
                    self.dial_replacement(peer);
                }
                continue;
            }
            self.retiring.remove(&id);
            debug!(connection = %id, "closing a member's connection made before it was a member");
            self.swarm.close_connection(id);
        }
        for peer in self.stranger_time.cooled(now) {
            self.swarm.behaviour_mut().cooling.unblock_peer(peer);
        }
    }

    fn is_refused(&self, peer: &PeerId) -> bool {
        self.swarm.behaviour().blocked.blocked_peers().contains(peer) || self.stranger_time.is_cooling(peer)
    }

    // ----- commands -----

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { data, reply } => {
                let result = self.publish(data);
                match reply {
                    Some(reply) => {
                        let _ = reply.send(result);
                    }
                    None => {
                        if let Err(e) = result {
                            warn!(error = %e, "cannot publish on gossip; sync will carry the object");
                        }
                    }
                }
            }
            Command::ReportGossip { message_id, source, verdict } => {
                if let Some(gossipsub) = self.swarm.behaviour_mut().gossipsub.as_mut()
                    && !gossipsub.report_message_validation_result(&message_id, &source, verdict.into())
                {
                    // Already expired from the cache: nothing left to forward.
                    debug!(%message_id, "gossip verdict for a message no longer cached");
                }
            }
            Command::SyncRequest { peer, request, reply } => {
                if self.is_refused(&peer) {
                    let _ = reply.send(Err(NetError::Blocked(peer)));
                    return;
                }
                let side = self.sync_side(&peer);
                let behaviour = self.swarm.behaviour_mut();
                let id = match side {
                    Audience::Members => behaviour.sync.inner_mut().send_request(&peer, request),
                    Audience::Strangers => behaviour.stranger_sync.inner_mut().send_request(&peer, request),
                };
                self.pending_sync.insert((side, id), (peer, reply));
            }
            Command::RespondSync { reply, response } => {
                let peer = reply.peer;
                // The channel answers on the stream it came from, whichever
                // of the two sync behaviours read it.
                if self.swarm.behaviour_mut().sync.inner_mut().send_response(reply.channel, response).is_err() {
                    debug!(%peer, "sync response not sent: the request timed out or the connection closed");
                }
            }
            Command::Deliver { peer, request, reply } => self.deliver(peer, request, reply),
            Command::RespondDeliver { reply, response } => {
                let peer = reply.peer;
                if self.swarm.behaviour_mut().deliver.inner_mut().send_response(reply.channel, response).is_err() {
                    debug!(%peer, "deliver response not sent: the request timed out or the connection closed");
                }
            }
            Command::SetMembers { members, reply } => {
                self.set_members(members);
                let _ = reply.send(());
            }
            Command::Block { peer, reply } => {
                self.swarm.behaviour_mut().blocked.block_peer(peer);
                let _ = reply.send(());
            }
            Command::Unblock { peer, reply } => {
                self.swarm.behaviour_mut().blocked.unblock_peer(peer);
                let _ = reply.send(());
            }
            Command::Dial { addr, reply } => {
                let result = self
                    .swarm
                    .dial(addr.clone())
                    .map_err(|e| NetError::Dial { target: addr.to_string(), reason: e.to_string() });
                let _ = reply.send(result);
            }
            Command::DialPeer { peer, reply } => {
                let _ = reply.send(self.dial_peer(peer));
            }
            Command::DialKnown { peers, max, reply } => {
                let _ = reply.send(self.dial_known(peers, max));
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::ConnectedPeers { reply } => {
                let _ = reply.send(self.connected_peers());
            }
            Command::GossipPeers { reply } => {
                let topic = self.topic.clone();
                let peers = match self.swarm.behaviour().gossipsub.as_ref() {
                    Some(g) => g.all_peers().filter(|(_, topics)| topics.contains(&&topic)).map(|(p, _)| *p).collect(),
                    None => Vec::new(),
                };
                let _ = reply.send(peers);
            }
            // Handled in `run`, which owns the loop.
            Command::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
    }

    fn publish(&mut self, data: Vec<u8>) -> Result<(), NetError> {
        let topic = self.topic.clone();
        let Some(gossipsub) = self.swarm.behaviour_mut().gossipsub.as_mut() else {
            debug!("gossip is off; not publishing");
            return Ok(());
        };
        match gossipsub.publish(topic, data) {
            Ok(id) => {
                trace!(message_id = %id, "published");
                Ok(())
            }
            // A small or empty mesh is normal (first node, partitions): sync
            // will carry the object, so the publish is not a failure.
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                debug!("published with no subscribed peer; sync will catch up");
                Ok(())
            }
            Err(gossipsub::PublishError::AllQueuesFull(n)) => {
                debug!(peers = n, "publish queues full; sync will catch up");
                Ok(())
            }
            // Content-addressed ids: the same bytes were published or
            // received recently, so the network already has them.
            Err(gossipsub::PublishError::Duplicate) => {
                debug!("object already gossiped recently");
                Ok(())
            }
            Err(e) => Err(NetError::Publish(e.to_string())),
        }
    }

    fn deliver(
        &mut self,
        peer: PeerId,
        request: DeliverRequest,
        reply: oneshot::Sender<Result<DeliverResponse, NetError>>,
    ) {
        // request-response dials known addresses by itself, but fails at
        // once when there are none; `dial_peer` also starts a Kademlia
        // lookup then, so a retry finds the peer. When `dial_peer` does
        // dial, request-response's own dial yields to it and the request
        // waits for that connection.
        match self.dial_peer(peer) {
            Ok(()) => {}
            Err(NetError::Dial { reason, .. }) => {
                let _ = reply.send(Err(NetError::Deliver { peer, reason: format!("cannot dial: {reason}") }));
                return;
            }
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        }
        let id = self.swarm.behaviour_mut().deliver.inner_mut().send_request(&peer, request.clone());
        self.pending_deliver.insert(id, PendingDeliver { request, moved: false, reply });
    }

    fn dial_peer(&mut self, peer: PeerId) -> Result<(), NetError> {
        if self.is_refused(&peer) {
            return Err(NetError::Blocked(peer));
        }
        if self.swarm.is_connected(&peer) {
            return Ok(());
        }
        match self.swarm.dial(DialOpts::peer_id(peer).build()) {
            // A dial to it is already under way.
            Ok(()) | Err(DialError::DialPeerConditionFalse(_)) => Ok(()),
            Err(DialError::NoAddresses) => {
                // Ask the members' routing tables; dialled when found.
                let now = Instant::now();
                self.looked_up.retain(|_, at| now.duration_since(*at) < LOOKUP_INTERVAL);
                if !self.wanted.contains(&peer) && !self.looked_up.contains_key(&peer) {
                    self.looked_up.insert(peer, now);
                    self.wanted.insert(peer);
                    self.swarm.behaviour_mut().kad.get_closest_peers(peer);
                }
                Ok(())
            }
            Err(e) => Err(NetError::Dial { target: peer.to_string(), reason: e.to_string() }),
        }
    }

    fn dial_known(&mut self, peers: Vec<PeerId>, max: usize) -> usize {
        let mut started = 0;
        for peer in peers {
            if started >= max {
                break;
            }
            if self.is_refused(&peer) || self.swarm.is_connected(&peer) {
                continue;
            }
            match self.swarm.dial(DialOpts::peer_id(peer).build()) {
                Ok(()) => started += 1,
                Err(DialError::NoAddresses | DialError::DialPeerConditionFalse(_)) => {}
                Err(e) => debug!(%peer, error = %e, "cannot dial member"),
            }
        }
        started
    }

    fn connected_peers(&self) -> Vec<PeerInfo> {
        let gossipsub = self.swarm.behaviour().gossipsub.as_ref();
        let now = Instant::now();
        self.peers
            .iter()
            .map(|(peer, state)| PeerInfo {
                peer: *peer,
                addrs: state.conns.values().cloned().collect(),
                rtt: state.rtt,
                silent_for: self.links.last_heard(peer).map_or(Duration::ZERO, |at| now.duration_since(at)),
                member: self.is_member(peer),
                gossip_score: gossipsub.and_then(|g| g.peer_score(peer)),
            })
            .collect()
    }

    // ----- swarm events -----

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(%address, "listening");
                self.emit(NetEvent::ListeningOn(address));
            }
            SwarmEvent::ConnectionEstablished { peer_id, connection_id, endpoint, num_established, .. } => {
                let addr = endpoint.get_remote_address().clone();
                self.peers.entry(peer_id).or_default().conns.insert(connection_id, addr.clone());
                self.links.opened(connection_id, peer_id, Instant::now());
                self.on_replacement(peer_id, connection_id);
                if num_established.get() > 1 {
                    self.emit(NetEvent::ConnectionAdded { peer: peer_id, addr });
                    return;
                }
                // Gossipsub has registered the peer by now, so the score
                // sticks. Set it both ways: gossipsub retains scores of
                // disconnected peers for an hour, so a stranger admitted
                // since its last visit must lose its old mark.
                if self.is_member(&peer_id) {
                    debug!(peer = %peer_id, %addr, "member connected");
                    self.set_gossip_score(&peer_id, 0.0);
                } else {
                    debug!(peer = %peer_id, %addr, "stranger connected; grace window");
                    self.set_gossip_score(&peer_id, STRANGER_SCORE);
                    self.stranger_time.connected(peer_id, Instant::now());
                }
                self.emit(NetEvent::PeerConnected { peer: peer_id, addr });
            }
            SwarmEvent::ConnectionClosed { peer_id, connection_id, num_established, cause, .. } => {
                if let Some(state) = self.peers.get_mut(&peer_id) {
                    state.conns.remove(&connection_id);
                }
                self.links.closed(connection_id);
                self.retiring.remove(&connection_id);
                if let Some(old) = self.replacing.get_mut(&peer_id) {
                    old.retain(|id| *id != connection_id);
                    if old.is_empty() {
                        self.replacing.remove(&peer_id);
                    }
                }
                if num_established == 0 {
                    debug!(peer = %peer_id, cause = ?cause, "disconnected");
                    self.peers.remove(&peer_id);
                    self.emit(NetEvent::PeerDisconnected { peer: peer_id });
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(peer = ?peer_id, %error, "outgoing connection failed");
            }
            SwarmEvent::IncomingConnectionError { send_back_addr, error, .. } => {
                debug!(addr = %send_back_addr, %error, "incoming connection failed");
            }
            SwarmEvent::ListenerError { error, .. } => warn!(%error, "listener error"),
            SwarmEvent::ListenerClosed { addresses, reason, .. } => {
                debug!(?addresses, ?reason, "listener closed");
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            other => trace!(event = ?other, "swarm event"),
        }
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Gossipsub(event) => self.on_gossip(event),
            BehaviourEvent::Sync(event) => self.on_sync(Audience::Members, event),
            BehaviourEvent::StrangerSync(event) => self.on_sync(Audience::Strangers, event),
            BehaviourEvent::Deliver(event) => self.on_deliver(event),
            BehaviourEvent::Identify(event) => self.on_identify(event),
            BehaviourEvent::Ping(ping::Event { peer, connection, result }) => match result {
                Ok(rtt) => {
                    self.links.heard(connection, Instant::now());
                    if let Some(state) = self.peers.get_mut(&peer) {
                        state.rtt = Some(rtt);
                    }
                    self.emit_sheddable(NetEvent::PingRtt { peer, rtt });
                }
                Err(e) => debug!(%peer, error = %e, "ping failed"),
            },
            BehaviourEvent::Kad(event) => self.on_kad(event),
            BehaviourEvent::Blocked(never) | BehaviourEvent::Cooling(never) | BehaviourEvent::Limits(never) => {
                match never {}
            }
        }
    }

    fn on_gossip(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message { propagation_source, message_id, message } => {
                let refuse = if !self.is_member(&propagation_source) {
                    trace!(peer = %propagation_source, "gossip from a non-member ignored");
                    StrangerCounts::bump(&self.strangers.gossip_ignored);
                    true
                } else if message.topic != self.topic {
                    debug!(peer = %propagation_source, topic = %message.topic, "gossip on a foreign topic ignored");
                    true
                } else {
                    let event =
                        NetEvent::Gossip { message_id: message_id.clone(), propagation_source, data: message.data };
                    let queued = self.emit_sheddable(event);
                    if !queued {
                        warn!(%message_id, "node busy: gossip message shed (sync will catch up)");
                    }
                    !queued
                };
                if refuse && let Some(gossipsub) = self.swarm.behaviour_mut().gossipsub.as_mut() {
                    gossipsub.report_message_validation_result(
                        &message_id,
                        &propagation_source,
                        MessageAcceptance::Ignore,
                    );
                }
            }
            gossipsub::Event::Subscribed { peer_id, topic } => debug!(peer = %peer_id, %topic, "peer subscribed"),
            gossipsub::Event::Unsubscribed { peer_id, topic } => debug!(peer = %peer_id, %topic, "peer unsubscribed"),
            gossipsub::Event::GossipsubNotSupported { peer_id } => debug!(peer = %peer_id, "peer does not gossip"),
            gossipsub::Event::SlowPeer { peer_id, .. } => debug!(peer = %peer_id, "slow gossip peer"),
        }
    }

    fn on_sync(&mut self, side: Audience, event: request_response::Event<SyncRequest, SyncResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    if !self.may_sync(&peer) {
                        // Dropping the channel fails the request on the asker's side.
                        debug!(%peer, "sync request from a stranger past its grace window dropped");
                        return;
                    }
                    let Some(permit) = self.queued.reserve(sync_request_bytes(&request)) else {
                        debug!(%peer, "node busy (queued bytes): sync request dropped");
                        return;
                    };
                    let reply = SyncReply { peer, channel };
                    if !self.emit_sheddable(NetEvent::SyncRequest { peer, request, reply, permit }) {
                        warn!(%peer, "node busy: sync request dropped");
                    }
                }
                request_response::Message::Response { request_id, response } => {
                    if let Some((_, reply)) = self.pending_sync.remove(&(side, request_id)) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure { peer, request_id, error, .. } => {
                debug!(%peer, %error, "sync request failed");
                if let Some((_, reply)) = self.pending_sync.remove(&(side, request_id)) {
                    let _ = reply.send(Err(NetError::Sync { peer, reason: error.to_string() }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                debug!(%peer, %error, "inbound sync request failed");
            }
            request_response::Event::ResponseSent { peer, .. } => trace!(%peer, "sync response sent"),
        }
    }

    fn on_deliver(&mut self, event: request_response::Event<DeliverRequest, DeliverResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    if !self.is_member(&peer) {
                        // Answered here rather than by the node: a stranger
                        // learns why at once, and the node never handles
                        // envelopes it would refuse anyway.
                        let refusal = DeliverResponse::Refused {
                            code: NOT_A_MEMBER.to_owned(),
                            detail: "the receiving node's member set does not list the sender".to_owned(),
                        };
                        if self.swarm.behaviour_mut().deliver.inner_mut().send_response(channel, refusal).is_err() {
                            debug!(%peer, "deliver refusal not sent: the connection closed");
                        }
                        trace!(%peer, "envelope from a non-member refused");
                        StrangerCounts::bump(&self.strangers.envelopes_refused);
                        self.emit_sheddable(NetEvent::DeliverRefused { peer, code: NOT_A_MEMBER });
                        return;
                    }
                    // Dropping the channel fails the request on the
                    // sender's side, which retries later.
                    let Some(permit) = self.queued.reserve(request.envelope.len()) else {
                        debug!(%peer, "node busy (queued bytes): envelope dropped");
                        return;
                    };
                    let reply = DeliverReply { peer, channel };
                    if !self.emit_sheddable(NetEvent::Deliver { peer, request, reply, permit }) {
                        // Dropping the channel fails the request on the
                        // sender's side, which retries later.
                        debug!(%peer, "node busy: envelope dropped");
                    }
                }
                request_response::Message::Response { request_id, response } => {
                    if let Some(pending) = self.pending_deliver.remove(&request_id) {
                        let _ = pending.reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure { peer, connection_id, request_id, error } => {
                debug!(%peer, %error, "deliver request failed");
                // A member we are connected to that cannot take a delivery
                // over any connection we hold (made before one of us counted
                // the other as a member, so one end does not offer the
                // protocol): drop them, and both ends redial a lost member at
                // once with connections that offer it. The failed request is
                // retried by the sender's outbox.
                let stale = matches!(
                    error,
                    request_response::OutboundFailure::UnsupportedProtocols
                        | request_response::OutboundFailure::DialFailure
                );
                if stale && self.is_member(&peer) && self.swarm.is_connected(&peer) {
                    debug!(%peer, "a member's connections do not carry deliveries: reconnecting");
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
                let Some(pending) = self.pending_deliver.remove(&request_id) else { return };
                // Only a closed connection proves the request never got an
                // answer there; after a timeout it may still be processed,
                // and request-response could pick the same stuck connection
                // again (it chooses by request id).
                let closed = matches!(error, request_response::OutboundFailure::ConnectionClosed);
                let others = self.peers.get(&peer).is_some_and(|p| p.conns.keys().any(|c| *c != connection_id));
                if closed && others && !pending.moved {
                    debug!(%peer, %error, "delivery failed on one connection: moving it to another");
                    let PendingDeliver { request, reply, .. } = pending;
                    let id = self.swarm.behaviour_mut().deliver.inner_mut().send_request(&peer, request.clone());
                    self.pending_deliver.insert(id, PendingDeliver { request, moved: true, reply });
                    return;
                }
                let mut reason = error.to_string();
                if self.wanted.contains(&peer) {
                    reason.push_str("; no address known, looking the peer up: retry shortly");
                }
                let _ = pending.reply.send(Err(NetError::Deliver { peer, reason }));
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                debug!(%peer, %error, "inbound deliver request failed");
            }
            request_response::Event::ResponseSent { peer, .. } => trace!(%peer, "deliver response sent"),
        }
    }

    fn on_identify(&mut self, event: identify::Event) {
        let identify::Event::Received { peer_id, info, connection_id } = event else {
            return;
        };
        if info.protocol_version != self.identify_version {
            // Another network (or another program): nothing to talk about.
            info!(peer = %peer_id, version = %info.protocol_version, "peer of another network: disconnecting");
            let _ = self.swarm.disconnect_peer_id(peer_id);
            return;
        }
        if let Some(boot) = BootId::from_agent_version(&info.agent_version) {
            let found = self.links.identified(connection_id, boot, &self.link_counts);
            for stale in found.stale {
                info!(peer = %peer_id, connection = %stale, "peer restarted: closing its connection from before");
                self.swarm.close_connection(stale);
            }
            if found.conflict {
                warn!(peer = %peer_id, "two runs of one node key are connected at once: is this node's data directory copied, or a snapshot restored next to the original?");
            }
        }
        let addrs: Vec<Multiaddr> = info.listen_addrs.into_iter().take(MAX_ADDRS_PER_PEER).collect();
        if let Some(state) = self.peers.get_mut(&peer_id) {
            state.listen_addrs = addrs.clone();
        }
        if self.is_member(&peer_id) {
            self.learn_member_addrs(peer_id, addrs);
        }
    }

    fn on_kad(&mut self, event: kad::Event) {
        let kad::Event::OutboundQueryProgressed { result: kad::QueryResult::GetClosestPeers(result), .. } = event
        else {
            trace!(event = ?event, "kademlia event");
            return;
        };
        let (key, peers) = match result {
            Ok(ok) => (ok.key, ok.peers),
            Err(kad::GetClosestPeersError::Timeout { key, peers }) => (key, peers),
        };
        // The lookup is over: whatever it did not find stays unwanted, so
        // the set cannot grow without bound.
        let target = PeerId::from_bytes(&key).ok();
        for found in peers {
            if !self.is_member(&found.peer_id) {
                continue;
            }
            let addrs: Vec<Multiaddr> = found.addrs.into_iter().take(MAX_ADDRS_PER_PEER).collect();
            self.learn_member_addrs(found.peer_id, addrs);
            if self.wanted.remove(&found.peer_id)
                && let Err(e) = self.swarm.dial(DialOpts::peer_id(found.peer_id).build())
            {
                debug!(peer = %found.peer_id, %e, "cannot dial peer found through kademlia");
            }
        }
        if let Some(target) = target {
            self.wanted.remove(&target);
        }
    }
}

/// Sleeps until `deadline`, or forever when there is none.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// About how many bytes a sync request holds once decoded, for the queued
/// bytes budget.
fn sync_request_bytes(request: &SyncRequest) -> usize {
    const OVERHEAD: usize = 64;
    OVERHEAD
        + match request {
            SyncRequest::Push(objects) => objects.iter().map(Vec::len).sum(),
            SyncRequest::Digest(entries) => entries.len() * 96,
            SyncRequest::Fetch(keys) => keys.len() * 64,
            SyncRequest::Summary(_) => 0,
        }
}
