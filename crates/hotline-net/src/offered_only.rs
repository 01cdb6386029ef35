//! A protocol offered only to one side of the member set: on connections
//! with members, or on connections with strangers.
//!
//! The deliver protocol's codec reads a request frame (up to about 1 MiB)
//! before the network layer learns who sent it, so a stranger's envelopes,
//! refused anyway, still cost reading, and drew on the byte budget that
//! members' envelopes need. Wrapped in [`OfferedOnly::to_members`], a
//! connection established with a non-member gets no handler for the
//! protocol: its streams fail at protocol negotiation, before a byte of a
//! frame is read.
//!
//! The sync protocol is spoken with strangers too (a newly admitted node
//! presents itself that way), so it runs as two behaviours under one
//! protocol name: one [`OfferedOnly::to_members`] with the members' byte
//! budget, one [`OfferedOnly::to_strangers`] with a smaller budget of its
//! own. Each connection offers exactly one of them, so what strangers hold
//! never comes out of what members need.
//!
//! Whether a peer is a member is decided when its connection is
//! established. When a peer becomes a member, [`OfferedOnly::set_members`]
//! returns the connections it holds without the members' protocol; the
//! network then opens another connection to it (at once, or when identify
//! brings its address, or the member dials us), which offers it, and closes
//! the old ones a few seconds after that one is up (a sync exchange may be
//! running on them; until then a request routed to one fails and is
//! retried).

use either::Either;
use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::swarm::DialError;
use libp2p::swarm::behaviour::{ConnectionClosed, ConnectionEstablished, DialFailure};
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
    dummy,
};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::task::{Context, Poll};

/// Which connections offer the wrapped protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Audience {
    /// Connections established while the peer was a member.
    Members,
    /// Connections established while the peer was not a member.
    Strangers,
}

/// `inner`, offered only on connections with one [`Audience`].
pub(crate) struct OfferedOnly<B> {
    inner: B,
    audience: Audience,
    members: HashSet<PeerId>,
    /// Connections established without the protocol, by peer.
    without: HashMap<ConnectionId, PeerId>,
    /// How many connections with each peer offer the protocol.
    full: HashMap<PeerId, usize>,
}

/// Why a request to a peer connected only without the protocol failed.
#[derive(Debug)]
struct NotOffered;

impl std::fmt::Display for NotOffered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the connection with this peer does not offer the protocol (it was not a member when made)")
    }
}

impl std::error::Error for NotOffered {}

impl<B> OfferedOnly<B> {
    /// Wraps `inner`, offered on connections with members; nobody is a
    /// member yet.
    pub(crate) fn to_members(inner: B) -> OfferedOnly<B> {
        OfferedOnly::new(inner, Audience::Members)
    }

    /// Wraps `inner`, offered on connections with peers that are not
    /// members.
    pub(crate) fn to_strangers(inner: B) -> OfferedOnly<B> {
        OfferedOnly::new(inner, Audience::Strangers)
    }

    fn new(inner: B, audience: Audience) -> OfferedOnly<B> {
        OfferedOnly { inner, audience, members: HashSet::new(), without: HashMap::new(), full: HashMap::new() }
    }

    /// Whether a connection established with `peer` now offers the protocol.
    fn offers(&self, peer: &PeerId) -> bool {
        self.members.contains(peer) == (self.audience == Audience::Members)
    }

    /// Whether some open connection with `peer` offers the protocol.
    pub(crate) fn reaches(&self, peer: &PeerId) -> bool {
        self.full.get(peer).is_some_and(|n| *n > 0)
    }

    /// The wrapped behaviour.
    pub(crate) fn inner_mut(&mut self) -> &mut B {
        &mut self.inner
    }

    /// Replaces the member set. Returns the connections established
    /// without the protocol with peers whose new connections would offer it.
    pub(crate) fn set_members(&mut self, members: &BTreeSet<PeerId>) -> Vec<(PeerId, ConnectionId)> {
        self.members = members.iter().copied().collect();
        self.without.iter().filter(|(_, peer)| self.offers(peer)).map(|(id, peer)| (*peer, *id)).collect()
    }

    /// Whether `id` was established without the protocol.
    fn is_without(&self, id: &ConnectionId) -> bool {
        self.without.contains_key(id)
    }

    /// How many open connections with `peer` lack the protocol.
    fn hidden(&self, peer: &PeerId) -> usize {
        self.without.values().filter(|p| *p == peer).count()
    }

    /// Fails the inner behaviour's requests waiting for a connection to
    /// `peer`, as a refused dial.
    fn fail_pending(&mut self, peer: PeerId, connection_id: ConnectionId)
    where
        B: NetworkBehaviour,
    {
        let error = DialError::Denied { cause: ConnectionDenied::new(NotOffered) };
        self.inner.on_swarm_event(FromSwarm::DialFailure(DialFailure {
            peer_id: Some(peer),
            error: &error,
            connection_id,
        }));
    }
}

impl<B: NetworkBehaviour> NetworkBehaviour for OfferedOnly<B> {
    type ConnectionHandler = Either<THandler<B>, dummy::ConnectionHandler>;
    type ToSwarm = B::ToSwarm;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner.handle_pending_inbound_connection(id, local, remote)
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if !self.offers(&peer) {
            self.without.insert(id, peer);
            return Ok(Either::Right(dummy::ConnectionHandler));
        }
        self.inner.handle_established_inbound_connection(id, peer, local, remote).map(Either::Left)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: Option<PeerId>,
        addresses: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner.handle_pending_outbound_connection(id, peer, addresses, role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if !self.offers(&peer) {
            self.without.insert(id, peer);
            return Ok(Either::Right(dummy::ConnectionHandler));
        }
        self.inner.handle_established_outbound_connection(id, peer, addr, role, port_use).map(Either::Left)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        // The inner behaviour knows only the connections that offer its
        // protocol: it never routes a request to one that does not, and the
        // counts of other connections it is told leave those out too. Its
        // requests waiting for a connection to a peer it cannot reach that
        // way are failed (the caller retries): it would otherwise wait for
        // ever, since it ignores a dial refused because the peer is
        // connected.
        match event {
            FromSwarm::ConnectionEstablished(e) if self.is_without(&e.connection_id) => {
                if self.full.get(&e.peer_id).copied().unwrap_or(0) == 0 {
                    self.fail_pending(e.peer_id, e.connection_id);
                }
            }
            FromSwarm::DialFailure(e)
                if matches!(e.error, DialError::DialPeerConditionFalse(_))
                    && e.peer_id
                        .is_some_and(|p| self.hidden(&p) > 0 && self.full.get(&p).copied().unwrap_or(0) == 0) =>
            {
                if let Some(peer) = e.peer_id {
                    self.fail_pending(peer, e.connection_id);
                }
            }
            FromSwarm::AddressChange(e) if self.is_without(&e.connection_id) => {}
            FromSwarm::ConnectionClosed(e) if self.is_without(&e.connection_id) => {
                self.without.remove(&e.connection_id);
            }
            FromSwarm::ConnectionEstablished(e) => {
                *self.full.entry(e.peer_id).or_default() += 1;
                let hidden = self.hidden(&e.peer_id);
                let other_established = e.other_established.saturating_sub(hidden);
                self.inner
                    .on_swarm_event(FromSwarm::ConnectionEstablished(ConnectionEstablished { other_established, ..e }));
            }
            FromSwarm::ConnectionClosed(e) => {
                if let Some(n) = self.full.get_mut(&e.peer_id) {
                    *n -= 1;
                    if *n == 0 {
                        self.full.remove(&e.peer_id);
                    }
                }
                let hidden = self.hidden(&e.peer_id);
                let remaining_established = e.remaining_established.saturating_sub(hidden);
                self.inner.on_swarm_event(FromSwarm::ConnectionClosed(ConnectionClosed { remaining_established, ..e }));
            }
            other => self.inner.on_swarm_event(other),
        }
    }

    fn on_connection_handler_event(&mut self, peer: PeerId, id: ConnectionId, event: THandlerOutEvent<Self>) {
        match event {
            Either::Left(event) => self.inner.on_connection_handler_event(peer, id, event),
            Either::Right(never) => match never {},
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.inner.poll(cx).map(|event| event.map_in(Either::Left))
    }
}
