//! The handle the node holds on the network task, and the counts it reads
//! without a round trip.

use super::*;

/// A cheap, cloneable handle on the network task.
#[derive(Clone, Debug)]
pub struct NetworkHandle {
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) local_peer_id: PeerId,
    pub(super) network: NetworkId,
    pub(super) budgets: InboundBudgets,
    pub(super) links: Arc<LinkCounts>,
    pub(super) dead_link_after: Duration,
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
    pub(super) fn bump(counter: &std::sync::atomic::AtomicU64) {
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
