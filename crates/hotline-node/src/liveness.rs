//! Liveness of the member nodes: whether each is connected now, when it was
//! last seen, its ping round trip, and how reachable it was over the last
//! 24 hours. This measures machines, not people (that is what comchecks
//! are for).
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

#[derive(Debug, Default)]
struct NodeLiveness {
    connected: bool,
    last_seen: Option<Timestamp>,
    rtt_ms: Option<f64>,
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
    pub(crate) fn connected(&mut self, peer: PeerId, now: Timestamp) {
        let n = self.nodes.entry(peer).or_default();
        n.connected = true;
        n.last_seen = Some(now);
    }

    pub(crate) fn disconnected(&mut self, peer: PeerId, now: Timestamp) {
        let n = self.nodes.entry(peer).or_default();
        n.connected = false;
        n.last_seen = Some(now);
    }

    pub(crate) fn rtt(&mut self, peer: PeerId, rtt: Duration, now: Timestamp) {
        let n = self.nodes.entry(peer).or_default();
        n.rtt_ms = Some(rtt.as_secs_f64() * 1000.0);
        n.last_seen = Some(now);
    }

    /// Takes one sample of every member (`self_peer` excluded) and returns
    /// the members to dial: not connected, and not dialled within
    /// `dial_every`. Nodes that are no longer members are forgotten.
    pub(crate) fn sample(
        &mut self,
        members: &BTreeMap<PeerId, StateCode>,
        self_peer: PeerId,
        now: Timestamp,
        clock: Instant,
        dial_every: Duration,
    ) -> Vec<PeerId> {
        self.nodes.retain(|p, _| members.contains_key(p));
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

    /// One line per member node (`self_peer` excluded), by state.
    pub(crate) fn view(&self, members: &BTreeMap<PeerId, StateCode>, self_peer: PeerId) -> Vec<LivenessView> {
        let mut out: Vec<LivenessView> = members
            .iter()
            .filter(|(p, _)| **p != self_peer)
            .map(|(peer, state)| {
                let n = self.nodes.get(peer);
                let samples = n.map_or(0, |n| n.samples.len());
                let up = n.map_or(0, |n| n.samples.iter().filter(|(_, c)| *c).count());
                LivenessView {
                    state: *state,
                    node: peer.to_string(),
                    connected: n.is_some_and(|n| n.connected),
                    last_seen: n.and_then(|n| n.last_seen),
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

    #[test]
    fn samples_reachability_and_bounded_dialling() {
        let (me, a, b) = (peer(1), peer(2), peer(3));
        let members: BTreeMap<PeerId, StateCode> =
            [(me, "FRA".parse().unwrap()), (a, "DEU".parse().unwrap()), (b, "EST".parse().unwrap())].into();
        let mut l = Liveness::default();
        let t0 = Instant::now();
        let every = Duration::from_secs(300);
        l.connected(a, Timestamp(100));
        assert_eq!(l.sample(&members, me, Timestamp(100), t0, every), vec![b], "b is dialled");
        assert!(
            l.sample(&members, me, Timestamp(160), t0 + Duration::from_secs(60), every).is_empty(),
            "not again yet"
        );
        l.disconnected(a, Timestamp(200));
        let dial = l.sample(&members, me, Timestamp(220), t0 + Duration::from_secs(301), every);
        assert_eq!(dial.len(), 2);
        l.rtt(a, Duration::from_millis(3), Timestamp(230));
        let view = l.view(&members, me);
        assert_eq!(view.len(), 2, "the node itself is not listed");
        let va = view.iter().find(|v| v.node == a.to_string()).unwrap();
        assert_eq!((va.connected, va.samples, va.last_seen), (false, 3, Some(Timestamp(230))));
        assert!((va.reachability_24h.unwrap() - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(va.rtt_ms, Some(3.0));
        // A day later the old samples are out of the window.
        l.sample(&members, me, Timestamp(220 + WINDOW_SECS + 1), t0 + Duration::from_secs(900), every);
        let va = l.view(&members, me).into_iter().find(|v| v.node == a.to_string()).unwrap();
        assert_eq!(va.samples, 1);
        assert_eq!(va.reachability_24h, Some(0.0));
    }
}
