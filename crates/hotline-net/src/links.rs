//! Dead-link detection: which open connections still carry anything.
//!
//! On loopback a connection either works or closes; across a WAN cut, a
//! firewall that starts dropping, or a peer that died without a word, it
//! stays open and silent. Two rules close such a connection, whatever the
//! transport:
//!
//! - **Silence.** Both ends ping on every connection every
//!   [`crate::NetConfig::ping_interval`]; a connection on which no ping has
//!   been answered for [`crate::NetConfig::dead_link_after`] (since it
//!   opened, or since the last answer) is dead.
//! - **Restart.** Every node announces a random boot id in identify. A
//!   connection that identifies with a boot id other than the one an older
//!   connection to the same peer carried proves the older one dead: the
//!   process at its other end is gone (a QUIC connection to a restarted
//!   peer would otherwise linger until its idle timeout).
//!
//! `Links` only keeps the books and says which connections to close; the
//! network task closes them. Pure: time comes in as arguments.

use libp2p::PeerId;
use libp2p::swarm::ConnectionId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Longest boot id kept from a peer's identify (ours are 16 hex digits).
const MAX_BOOT_ID_CHARS: usize = 32;

/// The word that precedes the boot id in identify's agent version:
/// `hotline/0.1.0 boot/0123456789abcdef`.
const BOOT_PREFIX: &str = "boot/";

/// One run of a node: random per process start.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BootId(String);

impl BootId {
    /// A fresh boot id from the operating system's randomness. Should that
    /// fail, the time of start serves: it only needs to differ between two
    /// runs of one node.
    pub fn random() -> BootId {
        let mut bytes = [0u8; 8];
        if getrandom::fill(&mut bytes).is_err() {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            bytes = (nanos as u64).to_be_bytes();
        }
        BootId(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The identify agent version announcing this boot id.
    pub fn agent_version(&self) -> String {
        format!("hotline/{} {BOOT_PREFIX}{}", env!("CARGO_PKG_VERSION"), self.0)
    }

    /// The boot id in a peer's agent version, if it announces one (of a
    /// sane length).
    pub fn from_agent_version(agent: &str) -> Option<BootId> {
        agent
            .split_whitespace()
            .find_map(|word| word.strip_prefix(BOOT_PREFIX))
            .filter(|id| !id.is_empty() && id.len() <= MAX_BOOT_ID_CHARS)
            .map(|id| BootId(id.to_owned()))
    }
}

/// Counts of links closed by the rules above, since start.
#[derive(Debug, Default)]
pub struct LinkCounts {
    /// Connections closed because nothing answered for the bound.
    pub dead_links: AtomicU64,
    /// Connections closed because their peer came back with a new boot id.
    pub restarts: AtomicU64,
}

impl LinkCounts {
    fn bump(counter: &AtomicU64, by: usize) {
        counter.fetch_add(by as u64, Ordering::Relaxed);
    }
}

#[derive(Debug)]
struct Link {
    peer: PeerId,
    /// The order connections opened in (to tell older from newer).
    opened: u64,
    /// When the connection opened or last answered a ping.
    heard_at: Instant,
    boot: Option<BootId>,
}

/// The open connections and when each was last heard from.
#[derive(Debug)]
pub(crate) struct Links {
    links: HashMap<ConnectionId, Link>,
    dead_after: Duration,
    opened: u64,
}

/// What a connection's boot id says about the peer's other connections.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Identified {
    /// Older connections of a previous run: dead, to close.
    pub stale: Vec<ConnectionId>,
    /// A newer connection carries another boot id than this older one:
    /// two processes run with the same node key (a restored snapshot, a
    /// copied data directory), or an identify arrived very late. Nothing
    /// is closed for it; worth a warning.
    pub conflict: bool,
}

impl Links {
    /// Books for connections declared dead after `dead_after` of silence.
    pub(crate) fn new(dead_after: Duration) -> Links {
        Links { links: HashMap::new(), dead_after, opened: 0 }
    }

    /// A connection opened.
    pub(crate) fn opened(&mut self, id: ConnectionId, peer: PeerId, now: Instant) {
        self.opened += 1;
        self.links.insert(id, Link { peer, opened: self.opened, heard_at: now, boot: None });
    }

    /// A connection closed (for whatever reason).
    pub(crate) fn closed(&mut self, id: ConnectionId) {
        self.links.remove(&id);
    }

    /// A ping was answered on `id`.
    pub(crate) fn heard(&mut self, id: ConnectionId, now: Instant) {
        if let Some(link) = self.links.get_mut(&id) {
            link.heard_at = now;
        }
    }

    /// `id` identified its end as run `boot`. The peer's connections
    /// opened before `id` that carry another boot id are dead (their
    /// process is gone): returned to close, and forgotten here at once, so
    /// they are reported only once. Newer ones are never closed for an
    /// older one's sake: two live processes with one key would otherwise
    /// close each other's connections at every identify.
    pub(crate) fn identified(&mut self, id: ConnectionId, boot: BootId, counts: &LinkCounts) -> Identified {
        let Some(link) = self.links.get_mut(&id) else { return Identified::default() };
        link.boot = Some(boot.clone());
        let (peer, opened) = (link.peer, link.opened);
        let mut result = Identified::default();
        for (other, l) in &self.links {
            if *other == id || l.peer != peer || l.boot.as_ref().is_none_or(|b| *b == boot) {
                continue;
            }
            if l.opened < opened {
                result.stale.push(*other);
            } else {
                result.conflict = true;
            }
        }
        for other in &result.stale {
            self.links.remove(other);
        }
        LinkCounts::bump(&counts.restarts, result.stale.len());
        result
    }

    /// The connections silent for the bound at `now`: dead, to close. They
    /// are forgotten here, so they are reported only once.
    pub(crate) fn dead(&mut self, now: Instant, counts: &LinkCounts) -> Vec<(ConnectionId, PeerId)> {
        let dead_after = self.dead_after;
        let dead: Vec<(ConnectionId, PeerId)> = self
            .links
            .iter()
            .filter(|(_, l)| now.duration_since(l.heard_at) >= dead_after)
            .map(|(id, l)| (*id, l.peer))
            .collect();
        for (id, _) in &dead {
            self.links.remove(id);
        }
        LinkCounts::bump(&counts.dead_links, dead.len());
        dead
    }

    /// When the next connection falls silent for the bound, if nothing is
    /// heard from it before.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.links.values().map(|l| l.heard_at + self.dead_after).min()
    }

    /// When `peer` was last heard on any of its connections.
    pub(crate) fn last_heard(&self, peer: &PeerId) -> Option<Instant> {
        self.links.values().filter(|l| l.peer == *peer).map(|l| l.heard_at).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u8) -> PeerId {
        let key = libp2p::identity::ed25519::SecretKey::try_from_bytes([n; 32]).expect("key");
        libp2p::identity::Keypair::from(libp2p::identity::ed25519::Keypair::from(key)).public().to_peer_id()
    }

    fn conn(n: usize) -> ConnectionId {
        ConnectionId::new_unchecked(n)
    }

    #[test]
    fn a_connection_silent_for_the_bound_is_dead_once() {
        let counts = LinkCounts::default();
        let t0 = Instant::now();
        let mut links = Links::new(Duration::from_secs(12));
        links.opened(conn(1), peer(1), t0);
        links.opened(conn(2), peer(2), t0);
        assert_eq!(links.next_deadline(), Some(t0 + Duration::from_secs(12)));
        links.heard(conn(2), t0 + Duration::from_secs(8));
        assert!(links.dead(t0 + Duration::from_millis(11_999), &counts).is_empty());
        assert_eq!(links.dead(t0 + Duration::from_secs(12), &counts), vec![(conn(1), peer(1))]);
        assert!(links.dead(t0 + Duration::from_secs(13), &counts).is_empty(), "reported once");
        assert_eq!(links.next_deadline(), Some(t0 + Duration::from_secs(20)));
        assert_eq!(links.last_heard(&peer(2)), Some(t0 + Duration::from_secs(8)));
        assert_eq!(counts.dead_links.load(Ordering::Relaxed), 1);
        links.closed(conn(2));
        assert_eq!(links.next_deadline(), None);
    }

    #[test]
    fn a_new_boot_id_retires_the_peers_older_connections_only() {
        let counts = LinkCounts::default();
        let t0 = Instant::now();
        let mut links = Links::new(Duration::from_secs(12));
        let (old, new) = (BootId("aa".into()), BootId("bb".into()));
        links.opened(conn(1), peer(1), t0);
        links.opened(conn(2), peer(1), t0);
        links.opened(conn(3), peer(2), t0);
        links.opened(conn(4), peer(1), t0);
        let none = Identified::default();
        assert_eq!(links.identified(conn(1), old.clone(), &counts), none);
        assert_eq!(links.identified(conn(3), old.clone(), &counts), none, "another peer");
        // Two connections of one run (a simultaneous dial) live side by side.
        assert_eq!(links.identified(conn(2), old.clone(), &counts), none);
        let mut found = links.identified(conn(4), new.clone(), &counts);
        found.stale.sort_by_key(|c| format!("{c}"));
        assert_eq!(found, Identified { stale: vec![conn(1), conn(2)], conflict: false });
        assert_eq!(counts.restarts.load(Ordering::Relaxed), 2);
        assert_eq!(links.identified(conn(3), old.clone(), &counts), none, "the other peer's link stays");
    }

    #[test]
    fn an_older_connection_of_another_run_never_closes_a_newer_one() {
        // Two live processes with one key: the one whose connection is
        // newer is not closed when the older connection identifies late.
        let counts = LinkCounts::default();
        let t0 = Instant::now();
        let mut links = Links::new(Duration::from_secs(12));
        links.opened(conn(1), peer(1), t0);
        links.opened(conn(2), peer(1), t0);
        assert_eq!(links.identified(conn(2), BootId("bb".into()), &counts), Identified::default());
        let late = links.identified(conn(1), BootId("aa".into()), &counts);
        assert_eq!(late, Identified { stale: vec![], conflict: true });
        assert_eq!(counts.restarts.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn boot_ids_round_trip_through_the_agent_version() {
        let boot = BootId::random();
        assert_eq!(boot.0.len(), 16);
        assert_ne!(boot, BootId::random());
        assert_eq!(BootId::from_agent_version(&boot.agent_version()), Some(boot));
        assert_eq!(BootId::from_agent_version("hotline/0.0.9"), None, "older nodes announce none");
        assert_eq!(BootId::from_agent_version("x boot/"), None);
        assert_eq!(BootId::from_agent_version(&format!("x boot/{}", "a".repeat(33))), None);
    }
}
