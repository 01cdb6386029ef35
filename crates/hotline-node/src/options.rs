//! What a caller may set when starting a node, on top of its config file.

use crate::outbox::RetryPolicy;
use hotline_core::Timestamp;
use hotline_crypto::PrekeyPolicy;
use hotline_net::Multiaddr;
use hotline_store::NodeConfig;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where the node reads the time for the directory rules (expiry, clock
/// skew, `issued_at` of the records it signs).
///
/// The network's own timers (grace windows, timeouts, sync intervals) always
/// use tokio's monotonic clock; only the directory's notion of "now" comes
/// from here, so tests can run the rules at a chosen date.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Timestamp + Send + Sync>);

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Clock {
        Clock(Arc::new(|| {
            // A clock before 1970 is a misconfigured host; 0 makes every
            // object look "from the future" and so fails safe.
            Timestamp(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0))
        }))
    }

    /// Always `at`.
    pub fn fixed(at: Timestamp) -> Clock {
        Clock(Arc::new(move || at))
    }

    /// `start` now, then advancing with the monotonic clock.
    pub fn starting_at(start: Timestamp) -> Clock {
        let origin = Instant::now();
        Clock(Arc::new(move || start.plus(origin.elapsed().as_secs())))
    }

    /// A clock that reads `f`; tests use it to move time forward without
    /// sleeping.
    pub fn from_fn(f: impl Fn() -> Timestamp + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(f))
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clock(now={})", self.now())
    }
}

/// How to start a node. `NodeOptions::default()` runs it as the config
/// file says; every `Some` field overrides the config.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// The configuration to use. `None`: read `config_file`, or
    /// `DATA/node.toml` if that is `None` too.
    pub config: Option<NodeConfig>,
    /// The config file to read when `config` is `None`.
    pub config_file: Option<PathBuf>,
    /// Listen addresses, instead of the config's `listen`.
    pub listen: Option<Vec<Multiaddr>>,
    /// Bootstrap addresses, instead of the config's `bootstrap`. The
    /// charter's bootstrap addresses are always dialled too.
    pub bootstrap: Option<Vec<Multiaddr>>,
    /// Interval between periodic syncs, instead of `sync_interval_secs`.
    pub sync_interval: Option<Duration>,
    /// A stranger's grace window, instead of `grace_secs`.
    pub grace: Option<Duration>,
    /// How long a stranger whose grace window expired is refused. Default:
    /// the network layer's (60 s).
    pub stranger_cooldown: Option<Duration>,
    /// How often the node redials bootstrap addresses it is not connected
    /// to, and dials members while it has fewer than `target_peers`.
    pub redial_interval: Duration,
    /// How many member connections the node tries to keep.
    pub target_peers: usize,
    /// Whether to take part in directory gossip. Off, the node converges by
    /// sync alone.
    pub gossip: bool,
    /// The directory's clock.
    pub clock: Clock,
    /// Where ids, seeds and timer jitter come from: the operating system
    /// (the default), or a seeded generator in tests.
    pub randomness: crate::random::Randomness,
    /// Serve the control API. Default: true.
    pub serve_api: bool,
    /// The control socket, instead of `DATA/hotline.sock`.
    pub api_socket: Option<PathBuf>,
    /// Where to serve `GET /metrics` over TCP, instead of the config's
    /// `metrics_listen` (port 0 picks a free port; see
    /// [`crate::RunningNode::metrics_addr`]).
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Backoff between delivery attempts of one envelope.
    pub retry: RetryPolicy,
    /// How often prekeys rotate and how long their secrets are kept.
    pub prekey_policy: PrekeyPolicy,
    /// How often the node checks whether its prekeys are due for rotation.
    pub prekey_check: Duration,
    /// How often each member node's reachability is sampled (see `hotline peers`).
    pub liveness_interval: Duration,
    /// How often, at most, a member node that is not connected is dialled.
    pub liveness_dial_every: Duration,
    /// Whether the node keeps its evidence log (`docs/protocol.md` section
    /// 15). Always on in a daemon; off only for `hotline bench messages`,
    /// which measures what the log costs against a node without it.
    pub evidence_log: bool,
    /// Write faults to inject into the node's store (tests of what the
    /// node does when its disk fails).
    #[cfg(feature = "testkit")]
    pub write_faults: Option<Arc<hotline_store::faults::WriteFaults>>,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            config: None,
            config_file: None,
            listen: None,
            bootstrap: None,
            sync_interval: None,
            grace: None,
            stranger_cooldown: None,
            redial_interval: Duration::from_secs(15),
            target_peers: 8,
            gossip: true,
            clock: Clock::system(),
            randomness: crate::random::Randomness::os(),
            serve_api: true,
            api_socket: None,
            metrics_listen: None,
            retry: RetryPolicy::default(),
            prekey_policy: PrekeyPolicy::default(),
            prekey_check: Duration::from_secs(600),
            liveness_interval: Duration::from_secs(60),
            liveness_dial_every: Duration::from_secs(300),
            evidence_log: true,
            #[cfg(feature = "testkit")]
            write_faults: None,
        }
    }
}
