//! The peers feature's policy: whom to dial when. Pure: it takes what the
//! network reports and returns what the actor should do, so that the
//! choices are tested without sockets.
//!
//! Two rules. On each redial tick, a bootstrap address that no connection
//! covers is dialled again, and when fewer members are connected than the
//! target, members not connected become candidates, in random order: the
//! actor dials those whose addresses are known, and only if none is, looks
//! one up (a Kademlia query per tick at most). When a member's last
//! connection closes, it is redialled at once (later, up to a minute, when
//! its connections as a member keep closing within seconds: it refuses
//! us) and then on a short, jittered backoff ([`member_redial_waits`]) for
//! [`MEMBER_REDIAL_FOR`],
//! from our side, so a member comes back seconds after a cut heals, and
//! even while strangers hold every inbound handshake slot.

use super::Actor;
use crate::api_types::NodeEvent;
use hotline_net::{Multiaddr, PeerId, PeerInfo};
use libp2p::multiaddr::Protocol;
use std::collections::BTreeMap;
use std::time::Duration;
use tracing::{debug, info};

/// How long a member whose last connection closed is redialled on the
/// short pace of [`member_redial_waits`]; the liveness tick (every dial
/// interval) takes over after that. A cut of up to this length heals within
/// about [`MEMBER_REDIAL_CAP`] of the links coming back.
pub(crate) const MEMBER_REDIAL_FOR: Duration = Duration::from_secs(15 * 60);
/// The longest wait between two dials of a lost member, before jitter.
pub(crate) const MEMBER_REDIAL_CAP: Duration = Duration::from_secs(4);
/// The first wait after the immediate dial; it doubles up to the cap.
const MEMBER_REDIAL_FIRST: Duration = Duration::from_millis(500);
/// The longest first wait for a member whose connections keep closing as
/// soon as they open (it refuses us: say, its state was suspended in our
/// view but not yet in its own, or the other way round).
pub(crate) const MEMBER_FLAP_CAP: Duration = Duration::from_secs(60);

/// The waits before each dial of a member whose last connection closed:
/// none, then [`MEMBER_REDIAL_FIRST`] doubling to [`MEMBER_REDIAL_CAP`],
/// each spread over ±25 % by `jitter` (in [0, 1)) so that the nodes of a
/// healed partition do not all dial in the same instant, until
/// [`MEMBER_REDIAL_FOR`] is spent. A dial to a member already connected or
/// being dialled costs nothing (the network skips it).
///
/// After `short_lived` connections in a row that closed at once, the first
/// dial waits [`MEMBER_REDIAL_FIRST`] × 2^`short_lived` (at most
/// [`MEMBER_FLAP_CAP`]) instead: an immediate dial of a peer that refuses
/// us would loop as fast as the network allows.
pub(crate) fn member_redial_waits(short_lived: u32, mut jitter: impl FnMut() -> f64) -> Vec<Duration> {
    let first = match short_lived {
        0 => Duration::ZERO,
        n => MEMBER_REDIAL_FIRST.saturating_mul(1 << n.min(16)).min(MEMBER_FLAP_CAP),
    };
    let mut waits = vec![first];
    let mut base = MEMBER_REDIAL_FIRST;
    let mut total = Duration::ZERO;
    while total < MEMBER_REDIAL_FOR {
        let wait = base.mul_f64(0.75 + 0.5 * jitter().clamp(0.0, 1.0));
        total += wait;
        waits.push(wait);
        base = (base * 2).min(MEMBER_REDIAL_CAP);
    }
    waits
}

/// How long to wait before the next redial tick. With no member
/// connected (at start-up before the bootstrap peers are up, or after a
/// cut) the wait starts at [`RedialPace::FIRST`] and doubles up to the
/// configured interval, so a node finds the others seconds after they come
/// up rather than a whole interval later; with members connected it is the
/// interval, and the next loss starts short again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RedialPace {
    interval: Duration,
    next: Duration,
}

impl RedialPace {
    /// The first wait with no member connected.
    pub(crate) const FIRST: Duration = Duration::from_millis(500);

    /// The pace for the configured `interval` (the first tick comes after
    /// [`RedialPace::FIRST`]).
    pub(crate) fn new(interval: Duration) -> RedialPace {
        RedialPace { interval, next: RedialPace::FIRST.min(interval) }
    }

    /// The wait before the first tick.
    pub(crate) fn first(&self) -> Duration {
        self.next
    }

    /// The wait after a tick that found `connected_members` members.
    pub(crate) fn after_tick(&mut self, connected_members: usize) -> Duration {
        if connected_members > 0 {
            self.next = RedialPace::FIRST.min(self.interval);
            return self.interval;
        }
        let wait = self.next;
        self.next = (self.next * 2).min(self.interval);
        wait
    }
}

/// What the actor should dial on a redial tick.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct RedialPlan {
    /// Bootstrap addresses no open connection covers.
    pub bootstrap: Vec<Multiaddr>,
    /// Members not connected, in the order to try them (shuffled by the
    /// caller's `shuffle`).
    pub members: Vec<PeerId>,
    /// How many more members should be connected.
    pub deficit: usize,
}

/// The redial rules, with what they need to know.
#[derive(Debug)]
pub(crate) struct Redial<'a> {
    /// This node.
    pub local: PeerId,
    /// The addresses this node listens on (a bootstrap list may name them).
    pub listening: &'a [Multiaddr],
    /// The configured bootstrap addresses.
    pub bootstrap: &'a [Multiaddr],
    /// The member nodes, by peer id.
    pub members: &'a BTreeMap<PeerId, hotline_core::StateCode>,
    /// How many members to keep connected.
    pub target: usize,
}

impl Redial<'_> {
    /// What to dial, given the connections open now. `shuffle` orders the
    /// member candidates (randomly in the node; as given in tests).
    pub(crate) fn plan(&self, connected: &[PeerInfo], shuffle: impl FnOnce(&mut [PeerId])) -> RedialPlan {
        let mut plan = RedialPlan::default();
        for addr in self.bootstrap {
            let target = peer_in(addr);
            if target == Some(self.local) || self.listening.contains(addr) {
                continue;
            }
            let bare = without_peer(addr);
            let covered = match target {
                Some(t) => connected.iter().any(|p| p.peer == t),
                None => connected.iter().any(|p| p.addrs.iter().any(|a| without_peer(a) == bare)),
            };
            if !covered {
                plan.bootstrap.push(addr.clone());
            }
        }
        let connected_members = connected.iter().filter(|p| p.member && p.peer != self.local).count();
        if connected_members >= self.target {
            return plan;
        }
        plan.members = self
            .members
            .keys()
            .filter(|p| **p != self.local && !connected.iter().any(|c| c.peer == **p))
            .copied()
            .collect();
        shuffle(&mut plan.members);
        plan.deficit = self.target - connected_members;
        plan
    }
}

/// The peer id at the end of a `/p2p/…` address, if any.
pub(crate) fn peer_in(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

/// `addr` without its `/p2p/…` part.
pub(crate) fn without_peer(addr: &Multiaddr) -> Multiaddr {
    addr.iter().filter(|p| !matches!(p, Protocol::P2p(_))).collect()
}

/// The peers feature in the actor: it runs the plans above.
impl Actor {
    /// A first connection to `peer` opened.
    pub(super) fn on_peer_connected(&mut self, peer: PeerId, addr: Multiaddr) {
        let member = self.directory.members.contains_key(&peer);
        info!(%peer, %addr, member, "peer connected");
        self.connected.insert(peer, addr);
        self.emit(NodeEvent::PeerConnected { peer: peer.to_string(), member });
        let now = self.now();
        self.liveness.connected(peer, now, member);
        if let Some(task) = self.redials.remove(&peer) {
            task.abort();
        }
        // Every new connection syncs: late joiners and healed
        // partitions converge through this, gossip or not.
        self.start_sync(peer);
        // A node that was down takes what waits for it now, and
        // says whether it lost what it had taken before.
        self.wake_deliveries(&peer);
        if member {
            self.ask_receipts_issued(peer);
            self.ask_witnesses(Some(peer));
        }
    }

    /// Another connection to a connected peer opened.
    pub(super) fn on_connection_added(&mut self, peer: PeerId, addr: Multiaddr) {
        debug!(%peer, %addr, "another connection to a connected peer");
        // Perhaps it restarted or a link was cut: the new connection
        // is the one known to work, so sync over it and try what
        // waits for the peer now rather than at its next retry.
        if self.directory.members.contains_key(&peer) {
            self.start_sync(peer);
            self.wake_deliveries(&peer);
            self.ask_receipts_issued(peer);
        }
    }

    /// The last connection to `peer` closed.
    pub(super) fn on_peer_disconnected(&mut self, peer: PeerId) {
        info!(%peer, "peer disconnected");
        self.connected.remove(&peer);
        self.directory.stranger_objects.remove(&peer);
        self.emit(NodeEvent::PeerDisconnected { peer: peer.to_string() });
        let now = self.now();
        let short_lived = self.liveness.disconnected(peer, now);
        if self.directory.members.contains_key(&peer) && !self.stopping {
            self.redial_member(peer, short_lived);
        }
    }

    /// Dials a member whose last connection closed, at once (after `short_lived` connections in a row
    /// refused at once, later) and then on
    /// the short backoff of [`member_redial_waits`], from our side: an
    /// outbound dial to a member takes no slot a stranger can hold
    /// (`hotline_net::gate`), so a member comes back even while strangers
    /// hold every inbound handshake slot. The task ends when the member
    /// connects (the actor aborts it) or after [`MEMBER_REDIAL_FOR`].
    pub(super) fn redial_member(&mut self, peer: PeerId, short_lived: u32) {
        if self.redials.get(&peer).is_some_and(|task| !task.is_finished()) {
            return;
        }
        let net = self.net.clone();
        let waits = member_redial_waits(short_lived, || self.random.jitter());
        let redials = self.metrics.live.member_redials.clone();
        let task = self.tasks.spawn(async move {
            for delay in waits {
                tokio::time::sleep(delay).await;
                redials.inc();
                if let Err(e) = net.dial_peer(peer).await {
                    debug!(%peer, error = %e, "cannot redial a member");
                }
            }
        });
        self.redials.insert(peer, task);
    }

    // ----- timers -----

    pub(super) async fn on_sync_tick(&mut self) {
        // Records expire with time, not only with changes.
        self.refresh_members().await;
        // Messages a peer lost whose round waited, and questions unanswered.
        self.recovery_tick();
        self.retire_old_node_key();
        let mut candidates: Vec<PeerId> = self
            .connected
            .keys()
            .filter(|p| self.directory.members.contains_key(p) && !self.syncing.contains_key(p))
            .copied()
            .collect();
        self.random.shuffle(&mut candidates);
        if let Some(&peer) = candidates.first() {
            debug!(%peer, "periodic sync");
            self.start_sync(peer);
        }
    }

    /// Samples every member's reachability and dials those not connected
    /// (each at most once per dial interval).
    pub(super) async fn on_liveness_tick(&mut self) {
        let now = self.now();
        let dial = self.liveness.sample(
            &self.directory.members,
            self.local_peer,
            now,
            tokio::time::Instant::now(),
            self.liveness_every.1,
        );
        for peer in dial {
            if let Err(e) = self.net.dial_peer(peer).await {
                debug!(%peer, error = %e, "cannot dial member for liveness");
            }
        }
    }

    /// Redials bootstrap addresses we are not connected to, and members
    /// while we have fewer member connections than the target.
    /// Runs the redial plan; returns how many members are connected, for
    /// the pace of the next tick.
    pub(super) async fn on_redial_tick(&mut self) -> usize {
        let peers = match self.net.connected_peers().await {
            Ok(p) => p,
            Err(_) => return 0,
        };
        let connected_members = peers.iter().filter(|p| p.member && p.peer != self.local_peer).count();
        let listening = self.listen.borrow().clone();
        let plan = Redial {
            local: self.local_peer,
            listening: &listening,
            bootstrap: &self.bootstrap,
            members: &self.directory.members,
            target: self.target_peers,
        }
        .plan(&peers, |members| self.random.shuffle(members));
        for addr in plan.bootstrap {
            debug!(%addr, "redialling bootstrap address");
            if let Err(e) = self.net.dial(addr.clone()).await {
                debug!(%addr, error = %e, "cannot redial");
            }
        }
        if plan.deficit == 0 {
            return connected_members;
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
        connected_members
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_core::StateCode;

    fn peer(n: u8) -> PeerId {
        let key = libp2p::identity::ed25519::SecretKey::try_from_bytes([n; 32]).expect("key");
        libp2p::identity::Keypair::from(libp2p::identity::ed25519::Keypair::from(key)).public().to_peer_id()
    }

    fn addr(port: u16, who: Option<PeerId>) -> Multiaddr {
        let mut a: Multiaddr = format!("/ip4/10.0.0.1/tcp/{port}").parse().expect("addr");
        if let Some(p) = who {
            a.push(Protocol::P2p(p));
        }
        a
    }

    fn info(p: PeerId, at: Multiaddr, member: bool) -> PeerInfo {
        PeerInfo { peer: p, addrs: vec![at], rtt: None, silent_for: Duration::ZERO, member, gossip_score: None }
    }

    fn members(ps: &[PeerId]) -> BTreeMap<PeerId, StateCode> {
        ps.iter().map(|p| (*p, "FRA".parse().expect("state"))).collect()
    }

    #[test]
    fn a_bootstrap_address_is_redialled_until_a_connection_covers_it() {
        let (me, a, b) = (peer(1), peer(2), peer(3));
        let listening = [addr(4000, None)];
        let bootstrap = [addr(4001, Some(a)), addr(4002, None), addr(4000, None), addr(4003, Some(me))];
        let members = members(&[]);
        let redial = Redial { local: me, listening: &listening, bootstrap: &bootstrap, members: &members, target: 0 };
        // Nothing connected: both foreign addresses, never our own.
        let plan = redial.plan(&[], |_| {});
        assert_eq!(plan.bootstrap, vec![addr(4001, Some(a)), addr(4002, None)]);
        // A connection to the named peer (from anywhere) covers the first;
        // one to the bare address, whoever answers there, the second.
        let plan = redial.plan(&[info(a, addr(9999, None), false), info(b, addr(4002, None), false)], |_| {});
        assert!(plan.bootstrap.is_empty(), "{plan:?}");
    }

    #[test]
    fn members_are_candidates_only_below_the_target() {
        let (me, a, b, c) = (peer(1), peer(2), peer(3), peer(4));
        let all = members(&[me, a, b, c]);
        let redial = Redial { local: me, listening: &[], bootstrap: &[], members: &all, target: 2 };
        let connected = [info(a, addr(1, None), true)];
        let plan = redial.plan(&connected, |_| {});
        let mut want = vec![b, c];
        want.sort();
        let mut got = plan.members.clone();
        got.sort();
        assert_eq!(got, want, "never ourselves nor a connected member");
        assert_eq!(plan.deficit, 1);
        let enough = [info(a, addr(1, None), true), info(b, addr(2, None), true)];
        assert_eq!(redial.plan(&enough, |_| {}), RedialPlan::default());
    }

    #[test]
    fn the_candidates_are_shuffled_by_the_caller() {
        let (me, a, b) = (peer(1), peer(2), peer(3));
        let all = members(&[me, a, b]);
        let redial = Redial { local: me, listening: &[], bootstrap: &[], members: &all, target: 5 };
        let plain = redial.plan(&[], |_| {}).members;
        let reversed = redial.plan(&[], |m| m.reverse()).members;
        assert_eq!(reversed, plain.iter().rev().copied().collect::<Vec<_>>());
    }

    #[test]
    fn with_no_member_the_redial_pace_starts_short_and_doubles_to_the_interval() {
        let secs = |d: Duration| d.as_secs_f64();
        let mut pace = RedialPace::new(Duration::from_secs(15));
        assert_eq!(secs(pace.first()), 0.5);
        let alone: Vec<f64> = (0..7).map(|_| secs(pace.after_tick(0))).collect();
        assert_eq!(alone, vec![0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]);
        assert_eq!(secs(pace.after_tick(2)), 15.0, "connected: the interval");
        assert_eq!(secs(pace.after_tick(0)), 0.5, "a new loss starts short again");
        let mut short = RedialPace::new(Duration::from_millis(200));
        assert_eq!(short.first(), Duration::from_millis(200), "never longer than the interval");
        assert_eq!(short.after_tick(0), Duration::from_millis(200));
    }

    #[test]
    fn a_lost_member_is_redialled_at_once_then_doubling_to_the_cap_for_the_whole_period() {
        let middle = member_redial_waits(0, || 0.5);
        let ms: Vec<u128> = middle.iter().take(6).map(Duration::as_millis).collect();
        assert_eq!(ms, vec![0, 500, 1000, 2000, 4000, 4000], "the first retry comes within about 1 s");
        let total: Duration = middle.iter().sum();
        assert!(total >= MEMBER_REDIAL_FOR && total < MEMBER_REDIAL_FOR + MEMBER_REDIAL_CAP, "{total:?}");
        // Jitter spreads each wait over ±25 %, never beyond.
        let low = member_redial_waits(0, || 0.0);
        let high = member_redial_waits(0, || 0.999);
        assert_eq!(low[1], Duration::from_millis(375));
        assert!(high[1] < Duration::from_millis(625) && high[1] > Duration::from_millis(620));
        assert!(high.iter().skip(1).all(|w| *w < MEMBER_REDIAL_CAP.mul_f64(1.25)));
        assert!(low.iter().skip(1).all(|w| *w >= MEMBER_REDIAL_FIRST.mul_f64(0.75)));
    }

    #[test]
    fn a_member_whose_connections_close_at_once_is_redialled_later_each_time() {
        let first = |n| member_redial_waits(n, || 0.5)[0].as_millis();
        assert_eq!([first(0), first(1), first(2), first(3)], [0, 1_000, 2_000, 4_000]);
        assert_eq!(first(7), MEMBER_FLAP_CAP.as_millis(), "at most a minute");
        assert_eq!(first(u32::MAX), MEMBER_FLAP_CAP.as_millis());
    }
}
