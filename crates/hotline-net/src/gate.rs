//! Connection gating by numbers: how many connections strangers and members
//! may hold, and how many handshakes one address may have in progress.
//!
//! A `NetworkBehaviour` of its own, like rust-libp2p's `connection-limits`,
//! which it replaces, because Hotline's limits depend on who the peer is:
//!
//! - **Pending inbound** connections (before the handshake, when nobody
//!   knows who is calling) are bounded in all and **per source IP**, so a
//!   few hosts that trickle bytes cannot hold every slot.
//! - **Pending outbound** dials are bounded, except dials to members: the
//!   node can always dial a member it lost, over a slot no stranger holds.
//! - **Established** connections: strangers share a global cap, and each
//!   may hold a few; members are exempt from the global cap but not from a
//!   per-peer cap, so one member node cannot open thousands.
//!
//! Who is a member is the node's decision, passed in with
//! [`Gate::set_members`]. Grace windows and cool-downs stay in the network
//! task; this module only counts.

use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{ConnectedPoint, Endpoint, Multiaddr};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::behaviour::{ConnectionEstablished, DialFailure, ListenFailure};
use libp2p::swarm::{
    ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::convert::Infallible;
use std::fmt;
use std::net::IpAddr;
use std::task::{Context, Poll};

/// The numbers the gate enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GateLimits {
    /// Most inbound connections in their handshake at once.
    pub max_pending_incoming: usize,
    /// Most inbound connections in their handshake from one IP address.
    pub max_pending_incoming_per_ip: usize,
    /// Most outbound dials in progress at once; dials to members are not
    /// counted.
    pub max_pending_outgoing: usize,
    /// Most established connections with peers that are not members.
    pub max_stranger_connections: usize,
    /// Most established connections with one peer that is not a member.
    pub max_connections_per_stranger: usize,
    /// Most established connections with peers that are not members from
    /// one IP address: fresh identities from one host share it.
    pub max_stranger_connections_per_ip: usize,
    /// Most established connections with one member node.
    pub max_connections_per_member: usize,
}

impl Default for GateLimits {
    fn default() -> Self {
        GateLimits {
            max_pending_incoming: 64,
            max_pending_incoming_per_ip: 8,
            max_pending_outgoing: 64,
            max_stranger_connections: 512,
            max_connections_per_stranger: 2,
            max_stranger_connections_per_ip: 32,
            max_connections_per_member: 4,
        }
    }
}

/// Which limit refused a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateRefusal {
    /// All pending inbound slots are taken.
    PendingIncoming,
    /// The source IP has its share of pending inbound slots.
    PendingIncomingPerIp,
    /// All pending outbound slots are taken.
    PendingOutgoing,
    /// Strangers hold every slot they may.
    Strangers,
    /// This stranger holds its share.
    PerStranger,
    /// Strangers from this address hold their share.
    StrangersPerIp,
    /// This member holds its share.
    PerMember,
}

impl fmt::Display for GateRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GateRefusal::PendingIncoming => "too many inbound handshakes in progress",
            GateRefusal::PendingIncomingPerIp => "too many inbound handshakes in progress from this address",
            GateRefusal::PendingOutgoing => "too many dials in progress",
            GateRefusal::Strangers => "too many connections with peers that are not members",
            GateRefusal::PerStranger => "too many connections with this peer, which is not a member",
            GateRefusal::StrangersPerIp => "too many connections with peers that are not members from this address",
            GateRefusal::PerMember => "too many connections with this member",
        })
    }
}

impl std::error::Error for GateRefusal {}

/// The connection gate.
#[derive(Debug, Default)]
pub struct Gate {
    limits: GateLimits,
    members: HashSet<PeerId>,
    /// IP addresses members were seen connecting from or at (never what a
    /// member says of itself): inbound handshakes from them are exempt from
    /// the global cap, so strangers on other addresses cannot lock members
    /// out.
    member_ips: HashMap<PeerId, HashSet<IpAddr>>,
    /// Inbound connections in their handshake, with their source IP.
    pending_in: HashMap<ConnectionId, Option<IpAddr>>,
    pending_in_per_ip: HashMap<IpAddr, usize>,
    pending_out: HashSet<ConnectionId>,
    established: HashMap<PeerId, HashSet<ConnectionId>>,
    /// The remote IP of each established connection.
    remote_ip: HashMap<ConnectionId, IpAddr>,
}

impl Gate {
    /// A gate enforcing `limits`, with no member yet.
    pub fn new(limits: GateLimits) -> Gate {
        Gate { limits, ..Gate::default() }
    }

    /// Replaces the member set. Connections already open stay; the limits
    /// apply to the next ones.
    pub fn set_members(&mut self, members: &BTreeSet<PeerId>) {
        self.members = members.iter().copied().collect();
        self.member_ips.retain(|peer, _| members.contains(peer));
    }

    /// Notes an address `peer` was seen at, if it is a member.
    pub fn note_member_addr(&mut self, peer: PeerId, addr: &Multiaddr) {
        if self.members.contains(&peer)
            && let Some(ip) = ip_of(addr)
        {
            let ips = self.member_ips.entry(peer).or_default();
            // A member has a handful of addresses; a bound all the same.
            if ips.len() < 16 {
                ips.insert(ip);
            }
        }
    }

    fn is_member_ip(&self, ip: &IpAddr) -> bool {
        self.member_ips.values().any(|ips| ips.contains(ip))
    }

    fn is_member(&self, peer: &PeerId) -> bool {
        self.members.contains(peer)
    }

    /// An inbound connection starts its handshake from `remote`.
    pub fn admit_pending_inbound(&mut self, id: ConnectionId, remote: &Multiaddr) -> Result<(), GateRefusal> {
        let ip = ip_of(remote);
        // Who calls is unknown until the handshake ends; an address a
        // member was seen at is not held to the global cap (only to the
        // per-address one, which a stranger sharing that address shares).
        let member_ip = ip.is_some_and(|ip| self.is_member_ip(&ip));
        if !member_ip && self.pending_in.len() >= self.limits.max_pending_incoming {
            return Err(GateRefusal::PendingIncoming);
        }
        if let Some(ip) = ip
            && self.pending_in_per_ip.get(&ip).copied().unwrap_or(0) >= self.limits.max_pending_incoming_per_ip
        {
            return Err(GateRefusal::PendingIncomingPerIp);
        }
        if let Some(ip) = ip {
            *self.pending_in_per_ip.entry(ip).or_default() += 1;
        }
        self.pending_in.insert(id, ip);
        Ok(())
    }

    /// An inbound handshake ended, either way. Safe to call twice.
    pub fn forget_pending_inbound(&mut self, id: ConnectionId) {
        if let Some(Some(ip)) = self.pending_in.remove(&id)
            && let Some(n) = self.pending_in_per_ip.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                self.pending_in_per_ip.remove(&ip);
            }
        }
    }

    /// An outbound dial starts, to `peer` if known.
    pub fn admit_pending_outbound(&mut self, id: ConnectionId, peer: Option<PeerId>) -> Result<(), GateRefusal> {
        if peer.is_some_and(|p| self.is_member(&p)) {
            return Ok(());
        }
        if self.pending_out.len() >= self.limits.max_pending_outgoing {
            return Err(GateRefusal::PendingOutgoing);
        }
        self.pending_out.insert(id);
        Ok(())
    }

    /// A connection with `peer` from `remote` completed its handshake:
    /// may it stay? See [`Gate::admit_established`].
    fn admit_established_from(&self, peer: &PeerId, remote: &Multiaddr) -> Result<(), GateRefusal> {
        self.admit_established(peer)?;
        if self.is_member(peer) {
            return Ok(());
        }
        if let Some(ip) = ip_of(remote) {
            let from_ip = self
                .established
                .iter()
                .filter(|(p, _)| !self.is_member(p))
                .flat_map(|(_, ids)| ids)
                .filter(|id| self.remote_ip.get(id) == Some(&ip))
                .count();
            if from_ip >= self.limits.max_stranger_connections_per_ip {
                return Err(GateRefusal::StrangersPerIp);
            }
        }
        Ok(())
    }

    /// A connection with `peer` completed its handshake: may it stay?
    pub fn admit_established(&self, peer: &PeerId) -> Result<(), GateRefusal> {
        let held = self.established.get(peer).map_or(0, HashSet::len);
        if self.is_member(peer) {
            if held >= self.limits.max_connections_per_member {
                return Err(GateRefusal::PerMember);
            }
            return Ok(());
        }
        if held >= self.limits.max_connections_per_stranger {
            return Err(GateRefusal::PerStranger);
        }
        if self.stranger_connections() >= self.limits.max_stranger_connections {
            return Err(GateRefusal::Strangers);
        }
        Ok(())
    }

    /// Established connections held by peers that are not members.
    pub fn stranger_connections(&self) -> usize {
        self.established.iter().filter(|(p, _)| !self.is_member(p)).map(|(_, c)| c.len()).sum()
    }

    /// Inbound handshakes in progress.
    pub fn pending_inbound(&self) -> usize {
        self.pending_in.len()
    }

    fn established(&mut self, peer: PeerId, id: ConnectionId) {
        self.established.entry(peer).or_default().insert(id);
    }

    fn closed(&mut self, peer: &PeerId, id: ConnectionId) {
        self.remote_ip.remove(&id);
        if let Some(set) = self.established.get_mut(peer) {
            set.remove(&id);
            if set.is_empty() {
                self.established.remove(peer);
            }
        }
    }
}

/// The IP address a multiaddr starts with, if any.
fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    match addr.iter().next()? {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    }
}

fn denied(refusal: GateRefusal) -> ConnectionDenied {
    ConnectionDenied::new(refusal)
}

impl NetworkBehaviour for Gate {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.admit_pending_inbound(id, remote).map_err(denied)
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.forget_pending_inbound(id);
        self.admit_established_from(&peer, remote).map_err(denied)?;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: Option<PeerId>,
        _addresses: &[Multiaddr],
        _role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.admit_pending_outbound(id, peer).map_err(denied)?;
        Ok(Vec::new())
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        _addr: &Multiaddr,
        _role: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.pending_out.remove(&id);
        self.admit_established(&peer).map_err(denied)?;
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(ConnectionEstablished { peer_id, connection_id, endpoint, .. }) => {
                // Counted here, not when admitted: another behaviour may
                // still have refused the connection after we admitted it.
                self.established(peer_id, connection_id);
                let remote = match endpoint {
                    ConnectedPoint::Listener { send_back_addr, .. } => send_back_addr,
                    ConnectedPoint::Dialer { address, .. } => address,
                };
                self.note_member_addr(peer_id, remote);
                if let Some(ip) = ip_of(remote) {
                    self.remote_ip.insert(connection_id, ip);
                }
            }
            FromSwarm::ConnectionClosed(ConnectionClosed { peer_id, connection_id, .. }) => {
                self.closed(&peer_id, connection_id);
            }
            FromSwarm::DialFailure(DialFailure { connection_id, .. }) => {
                self.pending_out.remove(&connection_id);
            }
            FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => {
                self.forget_pending_inbound(connection_id);
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(&mut self, _peer: PeerId, _id: ConnectionId, event: THandlerOutEvent<Self>) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: usize) -> ConnectionId {
        ConnectionId::new_unchecked(n)
    }

    fn from(ip: &str) -> Multiaddr {
        format!("/ip4/{ip}/tcp/40000").parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn one_address_cannot_hold_every_pending_slot() {
        let mut gate = Gate::new(GateLimits::default());
        for n in 0..8 {
            assert_eq!(gate.admit_pending_inbound(id(n), &from("192.0.2.1")), Ok(()));
        }
        assert_eq!(gate.admit_pending_inbound(id(8), &from("192.0.2.1")), Err(GateRefusal::PendingIncomingPerIp));
        // Another address still gets in.
        assert_eq!(gate.admit_pending_inbound(id(9), &from("198.51.100.7")), Ok(()));
        // A handshake that ends (either way) gives the slot back, once.
        gate.forget_pending_inbound(id(0));
        gate.forget_pending_inbound(id(0));
        assert_eq!(gate.admit_pending_inbound(id(10), &from("192.0.2.1")), Ok(()));
        assert_eq!(gate.admit_pending_inbound(id(11), &from("192.0.2.1")), Err(GateRefusal::PendingIncomingPerIp));
        assert_eq!(gate.pending_inbound(), 9);
    }

    #[test]
    fn the_pending_total_is_bounded_across_addresses() {
        let limits = GateLimits { max_pending_incoming: 4, ..GateLimits::default() };
        let mut gate = Gate::new(limits);
        for n in 0..4 {
            assert_eq!(gate.admit_pending_inbound(id(n), &from(&format!("192.0.2.{n}"))), Ok(()));
        }
        assert_eq!(gate.admit_pending_inbound(id(4), &from("192.0.2.99")), Err(GateRefusal::PendingIncoming));
    }

    #[test]
    fn fresh_identities_from_one_address_share_its_connection_slots() {
        let limits = GateLimits { max_stranger_connections_per_ip: 2, ..GateLimits::default() };
        let mut gate = Gate::new(limits);
        let host = from("192.0.2.9");
        for n in 0..2 {
            let stranger = PeerId::random();
            assert_eq!(gate.admit_established_from(&stranger, &host), Ok(()));
            gate.established(stranger, id(n));
            gate.remote_ip.insert(id(n), "192.0.2.9".parse().unwrap_or_else(|e| panic!("{e}")));
        }
        assert_eq!(gate.admit_established_from(&PeerId::random(), &host), Err(GateRefusal::StrangersPerIp));
        assert_eq!(gate.admit_established_from(&PeerId::random(), &from("192.0.2.10")), Ok(()));
        // A member on that address is not counted against it, nor held to it.
        let member = PeerId::random();
        gate.set_members(&BTreeSet::from([member]));
        assert_eq!(gate.admit_established_from(&member, &host), Ok(()));
    }

    #[test]
    fn strangers_on_other_addresses_cannot_lock_members_out() {
        let limits = GateLimits { max_pending_incoming: 2, ..GateLimits::default() };
        let mut gate = Gate::new(limits);
        let member = PeerId::random();
        gate.set_members(&BTreeSet::from([member]));
        gate.note_member_addr(member, &from("198.51.100.7"));
        gate.note_member_addr(PeerId::random(), &from("192.0.2.200"));
        assert_eq!(gate.admit_pending_inbound(id(1), &from("192.0.2.1")), Ok(()));
        assert_eq!(gate.admit_pending_inbound(id(2), &from("192.0.2.2")), Ok(()));
        assert_eq!(gate.admit_pending_inbound(id(3), &from("192.0.2.200")), Err(GateRefusal::PendingIncoming));
        // The member's address still gets a handshake slot.
        assert_eq!(gate.admit_pending_inbound(id(4), &from("198.51.100.7")), Ok(()));
        // Until it is no member any more.
        gate.set_members(&BTreeSet::new());
        assert_eq!(gate.admit_pending_inbound(id(5), &from("198.51.100.7")), Err(GateRefusal::PendingIncoming));
    }

    #[test]
    fn dials_to_members_take_no_slot_a_stranger_can_fill() {
        let limits = GateLimits { max_pending_outgoing: 1, ..GateLimits::default() };
        let mut gate = Gate::new(limits);
        let member = PeerId::random();
        gate.set_members(&BTreeSet::from([member]));
        assert_eq!(gate.admit_pending_outbound(id(1), None), Ok(()));
        assert_eq!(gate.admit_pending_outbound(id(2), Some(PeerId::random())), Err(GateRefusal::PendingOutgoing));
        assert_eq!(gate.admit_pending_outbound(id(3), Some(member)), Ok(()));
    }

    #[test]
    fn members_have_a_per_peer_cap_and_strangers_a_global_one() {
        let limits = GateLimits { max_stranger_connections: 3, ..GateLimits::default() };
        let mut gate = Gate::new(limits);
        let member = PeerId::random();
        gate.set_members(&BTreeSet::from([member]));
        for n in 0..4 {
            assert_eq!(gate.admit_established(&member), Ok(()));
            gate.established(member, id(n));
        }
        assert_eq!(gate.admit_established(&member), Err(GateRefusal::PerMember));
        // A stranger holds two at most, and strangers three in all; the
        // member's four do not count against them.
        let (a, b) = (PeerId::random(), PeerId::random());
        for n in 10..12 {
            assert_eq!(gate.admit_established(&a), Ok(()));
            gate.established(a, id(n));
        }
        assert_eq!(gate.admit_established(&a), Err(GateRefusal::PerStranger));
        gate.established(b, id(20));
        assert_eq!(gate.admit_established(&b), Err(GateRefusal::Strangers));
        assert_eq!(gate.stranger_connections(), 3);
        // Closing one frees its slot.
        gate.closed(&a, id(10));
        assert_eq!(gate.admit_established(&b), Ok(()));
        // A stranger that becomes a member leaves the strangers' count.
        gate.set_members(&BTreeSet::from([member, a]));
        assert_eq!(gate.stranger_connections(), 1);
    }
}
