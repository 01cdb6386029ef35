//! A whole network on one machine: stewards, a charter, and N admitted
//! nodes on loopback, each with its own data directory. The demo and the
//! benchmarks use it; every piece is the real one (real keys, stores and
//! sockets).

use super::node::{commit_objects, open_node};
use anyhow::{Context, Result};
use hotline_core::{
    Admission, Availability, Charter, DirectoryObject, NodeId, RecordDraft, Role, SecretKey, SignedAdmission,
    SignedCharter, StateCode, Timestamp,
};
use hotline_node::{Multiaddr, Node, NodeHandle, NodeOptions, RunningNode};
use hotline_store::{NodeConfig, NodeKeys, Store, keyfile};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::oneshot;

/// The states the demo starts with, in this order; more come from ISO 3166.
pub(super) const DEMO_STATES: [&str; 5] = ["FRA", "DEU", "EST", "FIN", "POL"];

/// `n` distinct states: the demo states first, then the rest of ISO 3166-1.
pub(super) fn states(n: usize) -> Vec<StateCode> {
    let mut out: Vec<StateCode> = DEMO_STATES.iter().filter_map(|s| s.parse().ok()).collect();
    out.extend(StateCode::all().filter(|s| !DEMO_STATES.contains(&s.as_str())));
    out.truncate(n);
    out
}

/// One state's node, created but not started.
pub(super) struct Member {
    /// The state.
    pub state: StateCode,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its node id.
    pub node_id: NodeId,
}

/// A network of admitted states on this machine.
pub(super) struct LocalNetwork {
    /// The steward keys (three; any two sign).
    stewards: Vec<SecretKey>,
    /// The signed charter.
    pub charter: SignedCharter,
    /// The nodes, in creation order.
    pub members: Vec<Member>,
    /// How often started nodes sample their members' reachability (and dial
    /// those not connected): the daemon's default unless changed.
    pub liveness_interval: Duration,
    /// The transport the nodes listen on.
    pub transport: Transport,
    /// The runtime each node runs on.
    pub node_runtime: NodeRuntime,
    /// Whether started nodes keep their evidence log (on, as a daemon does,
    /// unless a benchmark measures what it costs).
    pub evidence_log: bool,
}

/// The tokio runtime of each node of a [`LocalNetwork`] (each has its own,
/// on its own thread; see [`LocalNode`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum NodeRuntime {
    /// One thread per node. Dozens of nodes on two cores get a fair share
    /// each from the OS scheduler; with a multi-threaded runtime each, 50
    /// nodes ran 150 threads on 2 cores and cold syncs took 460–620 ms
    /// instead of 310–490.
    #[default]
    SingleThread,
    /// The daemon's runtime (a worker per core): for a few nodes that
    /// should each be able to use the whole machine, as a daemon can.
    Daemon,
}

impl NodeRuntime {
    fn build(self) -> Result<tokio::runtime::Runtime> {
        match self {
            NodeRuntime::SingleThread => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start a node's runtime"),
            NodeRuntime::Daemon => super::daemon::runtime(),
        }
    }
}

/// The transport a local network's nodes listen on (both are always
/// available to dial).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Transport {
    /// TCP with Noise and Yamux: one socket, so two descriptors in this
    /// process, per connection.
    #[default]
    Tcp,
    /// QUIC: one UDP socket per node, however many connections it has.
    Quic,
}

impl Transport {
    /// A loopback listen address on an ephemeral port.
    fn loopback(self) -> &'static str {
        match self {
            Transport::Tcp => "/ip4/127.0.0.1/tcp/0",
            Transport::Quic => "/ip4/127.0.0.1/udp/0/quic-v1",
        }
    }
}

impl LocalNetwork {
    /// Creates stewards (three, threshold two), a charter and one admitted
    /// node per state under `root`. Each node holds only its own admission:
    /// everything else reaches it through the network.
    pub(super) fn create(root: &Path, states: &[StateCode], now: Timestamp) -> Result<LocalNetwork> {
        let stewards: Vec<SecretKey> = (0..3).map(|_| keyfile::generate()).collect::<Result<_, _>>()?;
        let mut charter = SignedCharter::unsigned(Charter::new(
            "Hotline local network".into(),
            now,
            stewards.iter().map(|k| k.public()).collect(),
            2,
            vec![],
        ));
        charter.sign(&stewards[0])?;
        charter.sign(&stewards[2])?;
        let mut network = LocalNetwork {
            stewards,
            charter,
            members: Vec::with_capacity(states.len()),
            liveness_interval: NodeOptions::default().liveness_interval,
            transport: Transport::default(),
            node_runtime: NodeRuntime::default(),
            evidence_log: true,
        };
        for &state in states {
            network.add_member(root, state, now)?;
        }
        Ok(network)
    }

    /// Creates one more admitted node, holding only its own admission.
    pub(super) fn add_member(&mut self, root: &Path, state: StateCode, now: Timestamp) -> Result<usize> {
        let data_dir = root.join(state.as_str().to_ascii_lowercase());
        Store::create(&data_dir, &self.charter, state)?;
        let keys = NodeKeys::generate_into(&data_dir)?;
        NodeConfig::new(state).save(&data_dir.join(hotline_store::config::CONFIG_FILE))?;
        let admission = self.admission(state, keys.state_key(&data_dir)?, now)?;
        let node = open_node(&data_dir)?;
        commit_objects(&node, vec![admission])?.require_all_accepted()?;
        self.members.push(Member { state, data_dir, node_id: keys.node.node_id() });
        Ok(self.members.len() - 1)
    }

    /// An admission of `state` with `state_key`, signed by two stewards.
    pub(super) fn admission(&self, state: StateCode, state_key: &SecretKey, now: Timestamp) -> Result<DirectoryObject> {
        let mut admission = SignedAdmission::unsigned(Admission {
            state,
            state_key: state_key.public(),
            seq: 1,
            issued_at: now,
            expires: None,
        });
        admission.sign(&self.charter.charter, &self.stewards[0])?;
        admission.sign(&self.charter.charter, &self.stewards[1])?;
        Ok(DirectoryObject::Admission(admission))
    }

    /// The admission and both records of a state that runs no node here
    /// (its records list a node id that never connects): directory content
    /// for benchmarks that need many records.
    pub(super) fn offline_state(&self, state: StateCode, now: Timestamp) -> Result<Vec<DirectoryObject>> {
        let state_key = keyfile::generate()?;
        let node = keyfile::generate()?.node_id();
        let mut objects = vec![self.admission(state, &state_key, now)?];
        for role in [Role::policy(), Role::technical()] {
            let draft = example_draft(state, role, node);
            let record = draft.into_record(state, 1, 1, now, now.plus(365 * hotline_core::time::DAY));
            let signed = hotline_core::SignedRecord::sign(record, &state_key, &self.charter.network_id());
            objects.push(DirectoryObject::Record(Box::new(signed)));
        }
        Ok(objects)
    }

    /// Writes `objects` into member `i`'s store before it starts, as if it
    /// had held them for a while (the directory of a network that already
    /// exists).
    pub(super) fn preload(&self, i: usize, objects: Vec<DirectoryObject>) -> Result<()> {
        let node = open_node(&self.members[i].data_dir)?;
        commit_objects(&node, objects)?.require_all_accepted()?;
        Ok(())
    }

    /// Starts member `i` on an ephemeral loopback port of the network's
    /// transport, dialling `bootstrap`, on a thread of its own (see
    /// [`LocalNode`]).
    pub(super) async fn start(&self, i: usize, bootstrap: Vec<Multiaddr>, gossip: bool) -> Result<LocalNode> {
        let loopback: Multiaddr = self.transport.loopback().parse().context("loopback address")?;
        self.start_on(i, loopback, bootstrap, gossip).await
    }

    /// [`LocalNetwork::start`] on the address `listen`: a node restarted
    /// where it listened before, as a deployed node comes back.
    pub(super) async fn start_on(
        &self,
        i: usize,
        listen: Multiaddr,
        bootstrap: Vec<Multiaddr>,
        gossip: bool,
    ) -> Result<LocalNode> {
        let member = &self.members[i];
        let options = NodeOptions {
            listen: Some(vec![listen]),
            bootstrap: Some(bootstrap),
            gossip,
            // Generous: on a loaded 2-core machine a new state's first sync
            // can take a while, and the demo must not cut it off.
            grace: Some(Duration::from_secs(60)),
            sync_interval: Some(Duration::from_secs(5)),
            redial_interval: Duration::from_secs(2),
            serve_api: false,
            liveness_interval: self.liveness_interval,
            evidence_log: self.evidence_log,
            ..NodeOptions::default()
        };
        LocalNode::start(member.state, member.data_dir.clone(), options, self.node_runtime).await
    }
}

/// A started node of a [`LocalNetwork`], on an OS thread of its own with a
/// runtime of its own ([`NodeRuntime`]).
///
/// Each state runs its daemon in its own process; here the nodes share one
/// process, but not one scheduler. In a runtime shared by 50 nodes, a
/// node's reply waited behind every task the others had made ready (the
/// thousands of connection tasks a burst of gossip wakes), so a newcomer's
/// first fetch took 200–300 ms to reach its peer's actor: the benchmark
/// measured the shared run queue. With a runtime each, the nodes share the
/// cores through the OS scheduler, as separate daemons would.
pub(super) struct LocalNode {
    // Dropped first: dropping a node asks it to stop.
    running: RunningNode,
    thread: NodeThread,
}

impl LocalNode {
    async fn start(
        state: StateCode,
        data_dir: PathBuf,
        options: NodeOptions,
        runtime: NodeRuntime,
    ) -> Result<LocalNode> {
        let (started_tx, started) = oneshot::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("node-{}", state.as_str().to_ascii_lowercase()))
            .spawn(move || {
                let runtime = match runtime.build() {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = started_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let result = Node::start(&data_dir, options).await.map_err(anyhow::Error::from);
                    let ok = result.is_ok();
                    // Nobody waiting: the node is dropped, which stops it.
                    if started_tx.send(result).is_ok() && ok {
                        // Run the node's tasks until the sender is dropped.
                        let _ = stopped.await;
                    }
                });
            })
            .context("cannot start a node's thread")?;
        let thread = NodeThread { stop, thread };
        let running = started.await.context("a node's thread ended before the node started")??;
        Ok(LocalNode { running, thread })
    }

    /// A handle to talk to the node.
    pub(super) fn handle(&self) -> NodeHandle {
        self.running.handle()
    }

    /// The addresses the node listens on.
    pub(super) fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.running.listen_addrs()
    }

    /// Stops the node cleanly (see [`RunningNode::shutdown`]), then its
    /// thread.
    pub(super) async fn shutdown(self) -> Result<()> {
        let LocalNode { running, thread } = self;
        running.shutdown().await?;
        thread.join().await
    }
}

/// The thread a [`LocalNode`] runs on. Dropped without [`NodeThread::join`]
/// (an error path), its `stop` sender goes too, which ends the runtime and
/// lets the thread finish alone: the runtime cancels what is left of the
/// node, and the store is crash-safe.
struct NodeThread {
    /// Dropping it ends the thread's runtime.
    stop: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl NodeThread {
    async fn join(self) -> Result<()> {
        let NodeThread { stop, thread } = self;
        drop(stop);
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .context("cannot join a node's thread")?
            .map_err(|_| anyhow::anyhow!("a node's thread panicked"))
    }
}

/// A complete example record for `state` and `role`, listing `node`.
pub(super) fn example_draft(state: StateCode, role: Role, node: NodeId) -> RecordDraft {
    let code = state.as_str().to_ascii_lowercase();
    let (organization, position) = if role == Role::policy() {
        (format!("Ministry of Foreign Affairs of {} (example)", state.country_name()), "Cyber diplomacy desk")
    } else {
        (format!("National CERT of {} (example)", state.country_name()), "Duty officer")
    };
    let timezone = match state.as_str() {
        "FRA" => "Europe/Paris",
        "DEU" => "Europe/Berlin",
        "EST" => "Europe/Tallinn",
        "FIN" => "Europe/Helsinki",
        "POL" => "Europe/Warsaw",
        _ => "UTC",
    };
    RecordDraft {
        role: role.clone(),
        organization,
        position: position.into(),
        emails: vec![format!("{role}@{code}.example")],
        phones: vec!["+1 555 0100 000".into()],
        phone_24x7: Some("+1 555 0199 000".into()),
        timezone: timezone.into(),
        availability: Availability::TwentyFourSeven,
        languages: vec!["en".into()],
        nodes: vec![node],
        person_name: None,
        other_channels: vec![],
        postal_address: None,
        openpgp_fingerprint: None,
        linked_cert: None,
        memberships: vec!["OSCE".into()],
        alternates: vec![],
        nomination_ref: None,
        accepted_message_types: vec![],
        default_tlp: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::demo::wait_for_convergence;
    use crate::cli::output::Out;

    /// Two nodes on threads of their own converge; a stopped node has
    /// released its store (its thread is gone), so it starts again on the
    /// same data directory with what it held.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn local_nodes_converge_stop_and_restart_on_their_own_threads() -> Result<()> {
        let root = tempfile::tempdir()?;
        let network = LocalNetwork::create(root.path(), &states(2), crate::cli::now())?;
        let first = network.start(0, vec![], true).await?;
        let second = network.start(1, first.listen_addrs(), true).await?;
        for (node, member) in [(&first, &network.members[0]), (&second, &network.members[1])] {
            node.handle().publish_record(example_draft(member.state, Role::technical(), member.node_id), None).await?;
        }
        let quiet = Out { json: true };
        let handles = [first.handle(), second.handle()];
        let digest = wait_for_convergence(&handles, 2, Duration::from_secs(60), &quiet).await?;

        second.shutdown().await?;
        let again = network.start(1, first.listen_addrs(), true).await?;
        let status = again.handle().status().await?;
        assert_eq!(status.records, 2, "the restarted node lost records it held");
        assert_eq!(
            wait_for_convergence(&[first.handle(), again.handle()], 2, Duration::from_secs(60), &quiet).await?,
            digest
        );
        again.shutdown().await?;
        first.shutdown().await?;
        Ok(())
    }
}
