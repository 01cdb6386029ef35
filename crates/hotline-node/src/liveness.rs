//! Liveness of the member nodes: whether each is connected now, when it was
//! last seen, its ping round trip, and how reachable it was over the last
//! 24 hours. This measures machines, not people (that is what comchecks
//! are for).
//!
//! A node shows as connected only while it is heard from: a connection
//! that answered no ping for the dead-link bound is closed by the network
//! (`hotline_net::links`), and until that close arrives the view already
//! says `unreachable_since` the last answer.
//!
//! Reachability is sampled: at every tick, each member node counts as
//! reachable if a connection to it is open. Members that are not connected
//! are dialled, at most once per dial interval each, so that a node that
//! came back is found without waiting for it to dial us.

use crate::api_types::LivenessView;
use hotline_core::{StateCode, Timestamp};
use hotline_net::PeerId;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

/// The window reachability is measured over.
pub(crate) const WINDOW_SECS: u64 = 24 * 3600;
/// A connection that closes sooner than this after opening counts as
/// refused, not lost: redialling it at once would loop.
pub(crate) const SHORT_LIVED_SECS: u64 = 10;

#[derive(Debug, Default)]
struct NodeLiveness {
    connected: bool,
    last_seen: Option<Timestamp>,
    /// Since when it has been unreachable (connected before, not now).
    unreachable_since: Option<Timestamp>,
    rtt_ms: Option<f64>,
    /// When its current connection opened, and whether it was a member
    /// then (only those count as refused when they close at once: a
    /// stranger's connection that we drop and redial once it becomes a
    /// member must not slow that redial).
    connected_at: Option<(Timestamp, bool)>,
    /// How many of its connections in a row closed within
    /// [`SHORT_LIVED_SECS`] of opening (it, or we, keep refusing).
    short_lived: u32,
    /// (time, connected) samples within the window, oldest first.
    samples: VecDeque<(Timestamp, bool)>,
    last_dial: Option<Instant>,
}

/// What the node knows of its peers' liveness.
#[derive(Debug, Default)]
pub(crate) struct Liveness {
    nodes: HashMap<PeerId, NodeLiveness>,
}

impl Liveness {
    pub(crate) fn connected(&mut self, peer: PeerId, now: Timestamp, member: bool) {
        let n = self.nodes.entry(peer).or_default();
        if !n.connected {
            n.connected_at = Some((now, member));
        }
        n.connected = true;
        n.last_seen = Some(now);
        n.unreachable_since = None;
    }

    /// Its last connection closed at `now`: it has been unreachable since it
    /// was last heard from (a dead link closes a bound after its last
    /// answer), or since now if nothing was ever heard. Returns how many of
    /// its connections in a row were short-lived, this one included (0: it
    /// lived, and a redial may start at once).
    pub(crate) fn disconnected(&mut self, peer: PeerId, now: Timestamp) -> u32 {
        let n = self.nodes.entry(peer).or_default();
        if n.connected {
            n.unreachable_since = Some(n.last_seen.unwrap_or(now));
            n.short_lived = match n.connected_at {
                Some((at, true)) if now.0.saturating_sub(at.0) < SHORT_LIVED_SECS => n.short_lived.saturating_add(1),
                _ => 0,
            };
        }
        n.connected = false;
        n.connected_at = None;
        n.short_lived
    }

    pub(crate) fn rtt(&mut self, peer: PeerId, rtt: Duration, now: Timestamp) {
        let n = self.nodes.entry(peer).or_default();
        n.rtt_ms = Some(rtt.as_secs_f64() * 1000.0);
        n.last_seen = Some(now);
    }

    /// Takes one sample of every member (`self_peer` excluded) and returns
    /// the members to dial: not connected, and not dialled within
    /// `dial_every`. Nodes that are neither members nor connected are
    /// forgotten.
    pub(crate) fn sample(
        &mut self,
        members: &BTreeMap<PeerId, StateCode>,
        self_peer: PeerId,
        now: Timestamp,
        clock: Instant,
        dial_every: Duration,
    ) -> Vec<PeerId> {
        // A connected node stays: it may be a member whose record has not
        // arrived yet, and forgetting it would show it disconnected until
        // it reconnects.
        self.nodes.retain(|p, n| n.connected || members.contains_key(p));
        let mut dial = Vec::new();
        for peer in members.keys().filter(|p| **p != self_peer) {
            let n = self.nodes.entry(*peer).or_default();
            n.samples.push_back((now, n.connected));
            while n.samples.front().is_some_and(|(t, _)| t.plus(WINDOW_SECS) < now) {
                n.samples.pop_front();
            }
            if !n.connected && n.last_dial.is_none_or(|d| clock.duration_since(d) >= dial_every) {
                n.last_dial = Some(clock);
                dial.push(*peer);
            }
        }
        dial
    }

    /// One line per member node (`self_peer` excluded), by state, at `now`:
    /// a node not heard from for `bound` shows as unreachable, even while
    /// its silent connection is still being closed. `silent` is how long
    /// each connected peer has been silent as the network measures it (from
    /// its ping answers); it is what decides, and the last time heard is
    /// taken from it, so ping reports shed under load change nothing.
    pub(crate) fn view(
        &self,
        members: &BTreeMap<PeerId, StateCode>,
        self_peer: PeerId,
        now: Timestamp,
        bound: Duration,
        silent: &HashMap<PeerId, Duration>,
    ) -> Vec<LivenessView> {
        let mut out: Vec<LivenessView> = members
            .iter()
            .filter(|(p, _)| **p != self_peer)
            .map(|(peer, state)| {
                let n = self.nodes.get(peer);
                let samples = n.map_or(0, |n| n.samples.len());
                let up = n.map_or(0, |n| n.samples.iter().filter(|(_, c)| *c).count());
                // Heard within the bound: by the network's measure when it
                // has one, else by the last event seen here.
                let heard = silent.get(peer).map(|s| Timestamp(now.0.saturating_sub(s.as_secs())));
                let last_seen = match (n.and_then(|n| n.last_seen), heard) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                let heard_lately = match silent.get(peer) {
                    Some(s) => *s < bound,
                    None => last_seen.is_some_and(|t| t.plus(bound.as_secs()) >= now),
                };
                let connected = n.is_some_and(|n| n.connected) && heard_lately;
                let unreachable_since = n.and_then(|n| match n.connected {
                    true if !connected => last_seen,
                    true => None,
                    false => n.unreachable_since,
                });
                LivenessView {
                    state: *state,
                    node: peer.to_string(),
                    connected,
                    unreachable_since,
                    last_seen,
                    rtt_ms: n.and_then(|n| n.rtt_ms),
                    reachability_24h: (samples > 0).then(|| up as f64 / samples as f64),
                    samples,
                }
            })
            .collect();
        out.sort_by(|a, b| (a.state, &a.node).cmp(&(b.state, &b.node)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u8) -> PeerId {
        let key = hotline_core::SecretKey::from_seed(&[n; 32]);
        hotline_net::peer_id_of(&key.node_id()).unwrap()
    }

    const BOUND: Duration = Duration::from_secs(12);

    #[test]
    fn a_connected_node_not_heard_from_for_the_bound_shows_unreachable() {
        let (me, a) = (peer(1), peer(2));
        let members: BTreeMap<PeerId, StateCode> = [(me, "FRA".parse().unwrap()), (a, "DEU".parse().unwrap())].into();
        let mut l = Liveness::default();
        // Connected before its record arrived: a sample taken while it is
        // not yet a member must not forget that it is connected.
        l.connected(a, Timestamp(100), true);
        l.sample(&BTreeMap::new(), me, Timestamp(101), Instant::now(), Duration::from_secs(300));
        l.rtt(a, Duration::from_millis(2), Timestamp(104));
        let at = |t: u64| l.view(&members, me, Timestamp(t), BOUND, &HashMap::new()).remove(0);
        assert!(at(116).connected, "heard 12 s ago: still within the bound");
        let silent = at(117);
        assert_eq!((silent.connected, silent.unreachable_since), (false, Some(Timestamp(104))));
        l.rtt(a, Duration::from_millis(2), Timestamp(118));
        let back = l.view(&members, me, Timestamp(118), BOUND, &HashMap::new()).remove(0);
        assert_eq!((back.connected, back.unreachable_since), (true, None));
    }

    #[test]
    fn the_networks_measure_of_silence_decides_over_shed_ping_reports() {
        let (me, a) = (peer(1), peer(2));
        let members: BTreeMap<PeerId, StateCode> = [(me, "FRA".parse().unwrap()), (a, "DEU".parse().unwrap())].into();
        let mut l = Liveness::default();
        l.connected(a, Timestamp(100), true);
        // No ping report reached the actor for a minute (shed under load),
        // but the network heard it 3 s ago: connected.
        let busy: HashMap<PeerId, Duration> = [(a, Duration::from_secs(3))].into();
        let v = l.view(&members, me, Timestamp(160), BOUND, &busy).remove(0);
        assert_eq!((v.connected, v.last_seen), (true, Some(Timestamp(157))));
        // The network heard nothing for the bound: unreachable since then,
        // whatever reports came in.
        l.rtt(a, Duration::from_millis(2), Timestamp(159));
        let silent: HashMap<PeerId, Duration> = [(a, BOUND)].into();
        let v = l.view(&members, me, Timestamp(160), BOUND, &silent).remove(0);
        assert!(!v.connected, "{v:?}");
    }

    #[test]
    fn connections_that_close_at_once_are_counted_in_a_row() {
        let a = peer(2);
        let mut l = Liveness::default();
        l.connected(a, Timestamp(100), true);
        assert_eq!(l.disconnected(a, Timestamp(101)), 1, "closed within a second");
        l.connected(a, Timestamp(102), true);
        assert_eq!(l.disconnected(a, Timestamp(102)), 2);
        assert_eq!(l.disconnected(a, Timestamp(103)), 2, "a second close without a connection counts nothing");
        l.connected(a, Timestamp(200), true);
        assert_eq!(l.disconnected(a, Timestamp(200 + SHORT_LIVED_SECS)), 0, "a connection that lived resets it");
        l.connected(a, Timestamp(300), false);
        assert_eq!(l.disconnected(a, Timestamp(300)), 0, "a stranger's connection dropped at once counts nothing");
    }

    #[test]
    fn samples_reachability_and_bounded_dialling() {
        let (me, a, b) = (peer(1), peer(2), peer(3));
        let members: BTreeMap<PeerId, StateCode> =
            [(me, "FRA".parse().unwrap()), (a, "DEU".parse().unwrap()), (b, "EST".parse().unwrap())].into();
        let mut l = Liveness::default();
        let t0 = Instant::now();
        let every = Duration::from_secs(300);
        l.connected(a, Timestamp(100), true);
        assert_eq!(l.sample(&members, me, Timestamp(100), t0, every), vec![b], "b is dialled");
        assert!(
            l.sample(&members, me, Timestamp(160), t0 + Duration::from_secs(60), every).is_empty(),
            "not again yet"
        );
        l.rtt(a, Duration::from_millis(3), Timestamp(190));
        l.disconnected(a, Timestamp(200));
        let dial = l.sample(&members, me, Timestamp(220), t0 + Duration::from_secs(301), every);
        assert_eq!(dial.len(), 2);
        let view = l.view(&members, me, Timestamp(230), BOUND, &HashMap::new());
        assert_eq!(view.len(), 2, "the node itself is not listed");
        let va = view.iter().find(|v| v.node == a.to_string()).unwrap();
        assert_eq!((va.connected, va.samples, va.last_seen), (false, 3, Some(Timestamp(190))));
        assert_eq!(va.unreachable_since, Some(Timestamp(190)), "since it was last heard");
        assert!((va.reachability_24h.unwrap() - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(va.rtt_ms, Some(3.0));
        let vb = view.iter().find(|v| v.node == b.to_string()).unwrap();
        assert_eq!((vb.connected, vb.unreachable_since), (false, None), "never connected");
        // A day later the old samples are out of the window.
        l.sample(&members, me, Timestamp(220 + WINDOW_SECS + 1), t0 + Duration::from_secs(900), every);
        let va = l
            .view(&members, me, Timestamp(230), BOUND, &HashMap::new())
            .into_iter()
            .find(|v| v.node == a.to_string())
            .unwrap();
        assert_eq!(va.samples, 1);
        assert_eq!(va.reachability_24h, Some(0.0));
    }
}
