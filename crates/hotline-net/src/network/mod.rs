//! The network actor: one task owns the `Swarm`; a cloneable
//! [`NetworkHandle`] sends it commands; it sends [`NetEvent`]s to the node.
//!
//! This file holds the types, the start and the loop; the loop's work is
//! split by what it answers: `commands` (the node's requests), `events`
//! (what the swarm reports), `gating` (the member set, strangers' time and
//! the timers), and `handle` (the node's side).

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

mod commands;
mod events;
mod gating;
mod handle;
pub use handle::{InboundBudgets, NetworkHandle, StrangerCounts};

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
            SyncRequest::Summary(_) | SyncRequest::ReceiptsIssued => 0,
            SyncRequest::Cosign(c) => c.checkpoint.len() + c.prefix.len() + c.proof.len() * 32,
            SyncRequest::Equivocation(r) => r.first.len() + r.second.len(),
        }
}
