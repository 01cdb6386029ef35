//! Starting and stopping a node: [`Node::start`], [`RunningNode`] and
//! [`run_until_signal`].

use crate::actor::{self, ActorInit, Comchecks, Mail, member_peers};
use crate::api::{self, ApiServer};
use crate::error::NodeError;
use crate::handle::{Command, NodeHandle};
use crate::mailbox::MailReader;
use crate::metrics_server::MetricsServer;
use crate::options::NodeOptions;
use hotline_core::StateCode;
use hotline_net::{Multiaddr, NetConfig, Network, PeerId};
use hotline_store::config::CONFIG_FILE;
use hotline_store::{GroupCommitter, NodeConfig, NodeKeys, Store};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, info_span, warn};

/// Capacity of the command channel (handles and sync tasks → actor).
const COMMAND_CAPACITY: usize = 256;
/// Events a slow subscriber may fall behind before it misses some.
const EVENT_CAPACITY: usize = 1024;
/// Shortest period of the sync and redial timers.
const MIN_TIMER_PERIOD: Duration = Duration::from_millis(50);
/// How long `Node::start` waits for the listeners to come up.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts nodes. See [`Node::start`].
pub struct Node;

impl Node {
    /// Starts the node whose data directory is `data_dir`: opens the store
    /// and keys, starts the network and the control API, and returns once
    /// the node listens.
    ///
    /// Fails if the store is missing or in use (another daemon), if the
    /// config is invalid or names another state than the store, if another
    /// daemon answers on the control socket, or if no listener comes up.
    /// Must be called inside a tokio runtime.
    pub async fn start(data_dir: &Path, options: NodeOptions) -> Result<RunningNode, NodeError> {
        check_private_dir(data_dir)?;
        let store = Arc::new(Store::open(data_dir)?);
        #[cfg(feature = "testkit")]
        if let Some(faults) = &options.write_faults {
            store.inject_faults(Arc::clone(faults));
        }
        let config = resolve_config(data_dir, &options, store.state())?;
        if let Some(path) = NodeKeys::moved_keys(data_dir) {
            return Err(NodeError::Moved { path });
        }
        let next_key = NodeKeys::next_node_key_path(data_dir);
        if next_key.symlink_metadata().is_ok() {
            return Err(NodeError::KeyChangeUnfinished { path: next_key });
        }
        let keys = NodeKeys::load(data_dir)?;
        let dir = store.load_directory()?;
        // The network signs with one copy of the node key, messaging with another.
        let node_key = hotline_core::SecretKey::from_seed(&keys.node.to_seed());
        let mail = Mail::load(&store, node_key, options.prekey_policy, options.retry)?;
        let reader = MailReader::new(&store, data_dir, mail.schedule.board());
        let comchecks = Comchecks::load(&store)?;
        let now = options.clock.now();

        let listen = match &options.listen {
            Some(l) => l.clone(),
            None => parse_addrs("listen", &config.listen)?,
        };
        let mut bootstrap = match &options.bootstrap {
            Some(b) => b.clone(),
            None => parse_addrs("bootstrap", &config.bootstrap)?,
        };
        for text in &dir.charter().charter.bootstrap {
            // The charter is signed by the stewards, but a bad address in it
            // must not keep a node from starting: the others may work.
            match text.parse::<Multiaddr>() {
                Ok(addr) if !bootstrap.contains(&addr) => bootstrap.push(addr),
                Ok(_) => {}
                Err(e) => warn!(addr = %text, error = %e, "ignoring a charter bootstrap address that does not parse"),
            }
        }
        // Timers need a non-zero period.
        let sync_interval =
            options.sync_interval.unwrap_or(Duration::from_secs(config.sync_interval_secs)).max(MIN_TIMER_PERIOD);
        let redial_interval = options.redial_interval.max(MIN_TIMER_PERIOD);
        let grace = options.grace.unwrap_or(Duration::from_secs(config.grace_secs.max(1)));

        // Refuse to start next to a running daemon before touching the network.
        let socket = options.api_socket.clone().unwrap_or_else(|| data_dir.join(api::SOCKET_FILE));
        let listener = if options.serve_api { Some(api::bind(&socket).await?) } else { None };
        let metrics_addr =
            match (options.metrics_listen, &config.metrics_listen) {
                (Some(addr), _) => Some(addr),
                (None, Some(text)) => Some(text.parse::<std::net::SocketAddr>().map_err(|e| {
                    NodeError::Config(format!("metrics_listen: '{text}' is not an address and port: {e}"))
                })?),
                (None, None) => None,
            };
        let metrics_listener = match metrics_addr {
            Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                if options.serve_api {
                    let _ = std::fs::remove_file(&socket);
                }
                NodeError::Config(format!("metrics_listen: cannot listen on {addr}: {e}"))
            })?),
            None => None,
        };
        let cleanup_socket = |e: NodeError| {
            if options.serve_api {
                let _ = std::fs::remove_file(&socket);
            }
            e
        };

        let mut peer_ids = HashMap::new();
        let members = member_peers(&dir, now, &mut peer_ids);
        let mut net_config = NetConfig::new(&keys.node, store.network_id());
        net_config.listen = listen.clone();
        net_config.bootstrap = bootstrap.clone();
        net_config.members = members.keys().copied().collect();
        net_config.gossip = options.gossip;
        net_config.grace = grace;
        if let Some(cooldown) = options.stranger_cooldown {
            net_config.stranger_cooldown = cooldown;
        }
        let committer = GroupCommitter::start(Arc::clone(&store)).map_err(|e| cleanup_socket(e.into()))?;
        let (net, net_events) = match info_span!("node", state = %store.state()).in_scope(|| Network::spawn(net_config))
        {
            Ok(n) => n,
            Err(e) => {
                committer.shutdown();
                return Err(cleanup_socket(e.into()));
            }
        };
        let peer_id = net.local_peer_id();

        let metrics = Arc::new(crate::metrics::Metrics::new());
        let (command_tx, command_rx) = mpsc::channel(COMMAND_CAPACITY);
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let (listen_tx, mut listen_rx) = watch::channel(Vec::new());
        let (done_tx, done_rx) = watch::channel(false);
        let state = store.state();
        info!(
            state = %state,
            peer = %peer_id,
            network = %store.network_id(),
            charter = %dir.charter().charter.name,
            objects = dir.entries().count(),
            gossip = options.gossip,
            "node starting"
        );
        let task = actor::spawn(ActorInit {
            members,
            peer_ids,
            store,
            committer,
            dir,
            state_key: keys.state,
            net,
            net_events,
            clock: options.clock.clone(),
            random: options.randomness.clone(),
            metrics: Arc::clone(&metrics),
            gossip: options.gossip,
            events: events.clone(),
            commands: command_rx,
            listen: listen_tx,
            done: done_tx,
            bootstrap,
            target_peers: options.target_peers,
            sync_interval,
            redial_interval,
            mail,
            prekey_check: options.prekey_check.max(MIN_TIMER_PERIOD),
            comchecks,
            liveness: (
                options.liveness_interval.max(MIN_TIMER_PERIOD),
                options.liveness_dial_every.max(MIN_TIMER_PERIOD),
            ),
            evidence_log: options.evidence_log,
        });
        let handle = NodeHandle::new(command_tx, events, peer_id, state, reader, metrics);
        let mut running = RunningNode {
            handle: handle.clone(),
            listen: listen_rx.clone(),
            done: done_rx,
            actor: Some(task),
            api: None,
            metrics: None,
        };

        // Each listener reports at least one address; wildcard ones report more.
        let expected = listen.len();
        let up = tokio::time::timeout(LISTEN_TIMEOUT, listen_rx.wait_for(|a| a.len() >= expected)).await.is_ok();
        if !up && expected > 0 && listen_rx.borrow().is_empty() {
            let _ = running.shutdown_actor().await;
            return Err(cleanup_socket(NodeError::NoListenAddress { secs: LISTEN_TIMEOUT.as_secs() }));
        }
        if let Some(listener) = metrics_listener {
            match MetricsServer::start(listener, handle.clone()) {
                Ok(server) => running.metrics = Some(server),
                Err(e) => warn!(error = %e, "cannot serve metrics over TCP"),
            }
        }
        if let Some(listener) = listener {
            running.api = Some(ApiServer::start(listener, socket, handle));
        }
        Ok(running)
    }
}

/// The configuration from the options, the config file, or the defaults.
fn resolve_config(data_dir: &Path, options: &NodeOptions, state: StateCode) -> Result<NodeConfig, NodeError> {
    let config = match (&options.config, &options.config_file) {
        (Some(c), _) => {
            c.validate().map_err(NodeError::Config)?;
            c.clone()
        }
        (None, Some(path)) => NodeConfig::load(path)?,
        (None, None) => {
            let path = data_dir.join(CONFIG_FILE);
            if path.exists() {
                NodeConfig::load(&path)?
            } else {
                info!(path = %path.display(), "no config file: using the defaults");
                NodeConfig::new(state)
            }
        }
    };
    if config.state != state {
        return Err(NodeError::StateMismatch { config: config.state.to_string(), store: state.to_string() });
    }
    Ok(config)
}

fn parse_addrs(key: &str, texts: &[String]) -> Result<Vec<Multiaddr>, NodeError> {
    texts
        .iter()
        .map(|t| {
            t.parse::<Multiaddr>().map_err(|e| NodeError::Config(format!("{key}: '{t}' is not a multiaddress: {e}")))
        })
        .collect()
}

/// A running node. Stop it with [`RunningNode::shutdown`]; dropping it
/// asks the node to stop but cannot wait for it.
pub struct RunningNode {
    handle: NodeHandle,
    listen: watch::Receiver<Vec<Multiaddr>>,
    done: watch::Receiver<bool>,
    actor: Option<JoinHandle<()>>,
    api: Option<ApiServer>,
    metrics: Option<MetricsServer>,
}

impl RunningNode {
    /// A handle to talk to the node.
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    /// The node's libp2p peer id (its node key).
    pub fn peer_id(&self) -> PeerId {
        self.handle.peer_id()
    }

    /// The addresses the node listens on (port 0 resolved).
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.listen.borrow().clone()
    }

    /// The TCP address `GET /metrics` is served on, if any
    /// (`metrics_listen`).
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics.as_ref().map(MetricsServer::addr)
    }

    /// The control socket, if the API is served.
    pub fn api_socket(&self) -> Option<&Path> {
        self.api.as_ref().map(|a| a.socket())
    }

    /// Resolves when the node stopped on its own (its network task failed),
    /// without [`RunningNode::shutdown`].
    pub async fn stopped(&mut self) {
        let _ = self.done.wait_for(|d| *d).await;
    }

    async fn shutdown_actor(&mut self) -> Result<(), NodeError> {
        let result = self.handle.ask(Command::Shutdown).await;
        if let Some(actor) = self.actor.take() {
            // Joining the task is what guarantees the store is closed (its
            // file lock released) when `shutdown` returns.
            let _ = actor.await;
        }
        result
    }

    /// Stops the node cleanly: the control API stops taking requests and
    /// removes its socket, pending writes are committed and answered, the
    /// network closes every connection, and the store is flushed and closed.
    pub async fn shutdown(mut self) -> Result<(), NodeError> {
        info!(peer = %self.handle.peer_id(), "node stopping");
        if let Some(api) = self.api.take() {
            api.stop().await;
        }
        if let Some(metrics) = self.metrics.take() {
            metrics.stop().await;
        }
        match self.shutdown_actor().await {
            // Already stopped on its own: nothing left to stop.
            Ok(()) | Err(NodeError::Stopped) => {}
            Err(e) => return Err(e),
        }
        info!(peer = %self.handle.peer_id(), "node stopped");
        Ok(())
    }
}

impl Drop for RunningNode {
    fn drop(&mut self) {
        if let Some(api) = &self.api {
            api.signal_stop();
        }
        if let Some(metrics) = &self.metrics {
            metrics.signal_stop();
        }
        if self.actor.is_some() {
            let (reply, _) = oneshot::channel();
            let _ = self.handle.commands.try_send(Command::Shutdown(reply));
        }
    }
}

/// Waits for SIGTERM or SIGINT, then stops the node cleanly. Returns an
/// error if the node stopped on its own first (so a daemon exits non-zero
/// and its supervisor restarts it).
pub async fn run_until_signal(mut running: RunningNode) -> Result<(), NodeError> {
    use tokio::signal::unix::{SignalKind, signal};
    let here = Path::new("signal handler");
    let mut term = signal(SignalKind::terminate()).map_err(|e| NodeError::io("install the SIGTERM", here, e))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| NodeError::io("install the SIGINT", here, e))?;
    let died = tokio::select! {
        _ = term.recv() => { info!("SIGTERM received"); false }
        _ = int.recv() => { info!("SIGINT received"); false }
        () = running.stopped() => { error!("the node stopped on its own"); true }
    };
    running.shutdown().await?;
    if died { Err(NodeError::Terminated("the network task stopped".into())) } else { Ok(()) }
}

/// Refuses a data directory that group or others may enter: it holds the
/// keys, the prekey secrets and every message. A missing directory is left
/// to `Store::open`, which says to run `hotline init`.
fn check_private_dir(data_dir: &Path) -> Result<(), NodeError> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(data_dir) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                return Err(NodeError::DataDirPermissions { dir: data_dir.to_path_buf(), mode });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NodeError::io("inspect the data directory", data_dir, e)),
    }
}
