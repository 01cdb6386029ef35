//! A stranger's time: the grace window a peer that is not a member gets to
//! present itself over sync, and the cool-down that follows when it did
//! not become one.
//!
//! Pure state: the network loop tells it what happened (a stranger
//! connected, a peer joined or left the member set) and asks what is due
//! (whom to disconnect and refuse, whom to let in again). Time is given,
//! so the rules are tested under paused time without a socket.

use libp2p::PeerId;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// Grace windows and cool-downs of peers that are not members.
#[derive(Debug)]
pub(crate) struct Strangers {
    /// When each stranger's grace window ends. Kept after a disconnect, so
    /// reconnecting does not restart the window.
    grace: HashMap<PeerId, Instant>,
    /// Strangers refused until the given time.
    cooling: HashMap<PeerId, Instant>,
    window: Duration,
    cooldown: Duration,
}

impl Strangers {
    /// Grace windows of `window`, cool-downs of `cooldown`.
    pub(crate) fn new(window: Duration, cooldown: Duration) -> Strangers {
        Strangers { grace: HashMap::new(), cooling: HashMap::new(), window, cooldown }
    }

    /// A stranger connected: its window starts, unless one is running.
    pub(crate) fn connected(&mut self, peer: PeerId, now: Instant) {
        self.grace.entry(peer).or_insert(now + self.window);
    }

    /// A connected peer is no longer a member: a new window starts.
    pub(crate) fn left_members(&mut self, peer: PeerId, now: Instant) {
        self.grace.insert(peer, now + self.window);
    }

    /// A peer became a member: no window, no cool-down. Returns whether it
    /// was cooling down (it must then be let in again).
    pub(crate) fn joined_members(&mut self, peer: &PeerId) -> bool {
        self.grace.remove(peer);
        self.cooling.remove(peer).is_some()
    }

    /// Whether `peer`'s grace window is running.
    pub(crate) fn in_grace(&self, peer: &PeerId, now: Instant) -> bool {
        self.grace.get(peer).is_some_and(|end| *end > now)
    }

    /// Whether `peer` is refused for now.
    pub(crate) fn is_cooling(&self, peer: &PeerId) -> bool {
        self.cooling.contains_key(peer)
    }

    /// Ends the windows that are over. Those of peers that are not members
    /// (`is_member` says) turn into cool-downs: the peers returned are to
    /// be disconnected and refused.
    pub(crate) fn expire(&mut self, now: Instant, is_member: impl Fn(&PeerId) -> bool) -> Vec<PeerId> {
        let over: Vec<PeerId> = self.grace.iter().filter(|(_, end)| **end <= now).map(|(p, _)| *p).collect();
        let mut refused = Vec::new();
        for peer in over {
            self.grace.remove(&peer);
            if !is_member(&peer) {
                self.cooling.insert(peer, now + self.cooldown);
                refused.push(peer);
            }
        }
        refused
    }

    /// Ends the cool-downs that are over: the peers returned may connect
    /// again (and get a new window).
    pub(crate) fn cooled(&mut self, now: Instant) -> Vec<PeerId> {
        let over: Vec<PeerId> = self.cooling.iter().filter(|(_, end)| **end <= now).map(|(p, _)| *p).collect();
        for peer in &over {
            self.cooling.remove(peer);
        }
        over
    }

    /// The next time something is due.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.grace.values().chain(self.cooling.values()).copied().min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(10);
    const COOLDOWN: Duration = Duration::from_secs(60);

    fn peer() -> PeerId {
        PeerId::random()
    }

    #[tokio::test(start_paused = true)]
    async fn a_stranger_that_stays_one_is_refused_after_its_window_then_let_in_again() {
        let mut s = Strangers::new(WINDOW, COOLDOWN);
        let p = peer();
        s.connected(p, Instant::now());
        assert!(s.in_grace(&p, Instant::now()));
        assert_eq!(s.next_deadline(), Some(Instant::now() + WINDOW));

        tokio::time::advance(WINDOW - Duration::from_millis(1)).await;
        assert!(s.expire(Instant::now(), |_| false).is_empty(), "not before the end of its window");
        assert!(s.in_grace(&p, Instant::now()));

        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(!s.in_grace(&p, Instant::now()));
        assert_eq!(s.expire(Instant::now(), |_| false), vec![p]);
        assert!(s.is_cooling(&p));
        assert_eq!(s.next_deadline(), Some(Instant::now() + COOLDOWN));

        tokio::time::advance(COOLDOWN - Duration::from_millis(1)).await;
        assert!(s.cooled(Instant::now()).is_empty());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(s.cooled(Instant::now()), vec![p]);
        assert!(!s.is_cooling(&p));
        assert_eq!(s.next_deadline(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn reconnecting_does_not_restart_a_window() {
        let mut s = Strangers::new(WINDOW, COOLDOWN);
        let p = peer();
        s.connected(p, Instant::now());
        tokio::time::advance(WINDOW / 2).await;
        s.connected(p, Instant::now());
        tokio::time::advance(WINDOW / 2).await;
        assert_eq!(s.expire(Instant::now(), |_| false), vec![p], "the first window counts");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stranger_that_becomes_a_member_is_never_refused() {
        let mut s = Strangers::new(WINDOW, COOLDOWN);
        let (joins, member_at_the_end) = (peer(), peer());
        s.connected(joins, Instant::now());
        s.connected(member_at_the_end, Instant::now());
        assert!(!s.joined_members(&joins), "it was not cooling");
        tokio::time::advance(WINDOW).await;
        // The member set says so when the window ends.
        assert!(s.expire(Instant::now(), |p| *p == member_at_the_end).is_empty());
        assert!(!s.is_cooling(&joins) && !s.is_cooling(&member_at_the_end));
    }

    #[tokio::test(start_paused = true)]
    async fn a_member_that_leaves_gets_a_fresh_window_and_a_refused_one_that_joins_is_let_in() {
        let mut s = Strangers::new(WINDOW, COOLDOWN);
        let (left, refused) = (peer(), peer());
        s.connected(refused, Instant::now());
        tokio::time::advance(WINDOW).await;
        assert_eq!(s.expire(Instant::now(), |_| false), vec![refused]);

        s.left_members(left, Instant::now());
        tokio::time::advance(WINDOW - Duration::from_millis(1)).await;
        assert!(s.in_grace(&left, Instant::now()));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(s.expire(Instant::now(), |_| false), vec![left]);

        // Admitted while cooling down: let in at once.
        assert!(s.joined_members(&refused));
        assert!(!s.is_cooling(&refused));
    }
}
