//! Creating a node, and opening its store for the offline commands.

use super::files;
use super::{Out, now};
use anyhow::{Context, Result, bail};
use clap::Args;
use hotline_core::{Directory, DirectoryObject, Outcome, StateCode};
use hotline_store::config::CONFIG_FILE;
use hotline_store::{DB_FILE, NodeConfig, NodeKeys, Store, WriteBatch};
use serde::Serialize;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub(crate) struct InitArgs {
    /// The signed charter file of the network to join.
    #[arg(long)]
    charter: PathBuf,
    /// The state this node speaks for (ISO 3166-1 alpha-3).
    #[arg(long)]
    state: StateCode,
    /// A libp2p multiaddress to listen on (repeatable), for example
    /// /ip4/0.0.0.0/tcp/4610. Default: TCP and QUIC on port 4610.
    #[arg(long, value_name = "ADDR")]
    listen: Vec<String>,
    /// A node to dial at start-up (repeatable): its multiaddress, with or
    /// without /p2p/PEER_ID, for example /dns4/hotline.example.org/tcp/4610.
    #[arg(long, value_name = "MULTIADDR")]
    bootstrap: Vec<String>,
}

pub(super) fn init(args: InitArgs, data_dir: &Path, out: &Out) -> Result<()> {
    create(args, data_dir, out, Keys::StateAndNode)
}

/// `hotline node add`: a node for a state that already runs one, on a new
/// machine. It gets a node key only; the state key stays where it is.
pub(super) fn add(args: InitArgs, data_dir: &Path, out: &Out) -> Result<()> {
    create(args, data_dir, out, Keys::NodeOnly)
}

/// Which keys a new node is given.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keys {
    /// A new state's first node: its state key and its node key.
    StateAndNode,
    /// Another node of a state: its node key only.
    NodeOnly,
}

fn create(args: InitArgs, data_dir: &Path, out: &Out, keys: Keys) -> Result<()> {
    let charter = files::read_charter(&args.charter)?;
    let network = charter.verify().context("the charter is not valid")?;
    let existing = [
        data_dir.join(DB_FILE),
        NodeKeys::state_key_path(data_dir),
        NodeKeys::node_key_path(data_dir),
        data_dir.join(CONFIG_FILE),
    ];
    if let Some(found) = existing.iter().find(|p| p.exists()) {
        bail!("{} is already a node's data directory ({} exists)", data_dir.display(), found.display());
    }
    // The network settings are checked before anything is created.
    let mut config = NodeConfig::new(args.state);
    if !args.listen.is_empty() {
        config.listen = args.listen.iter().map(|a| a.trim().to_string()).collect();
    }
    config.bootstrap = args.bootstrap.iter().map(|a| a.trim().to_string()).collect();
    config.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    if keys == Keys::NodeOnly && config.bootstrap.is_empty() && charter.charter.bootstrap.is_empty() {
        bail!(
            "--bootstrap is needed: an added node learns the directory from the nodes of its network, and the charter names none"
        );
    }
    let store = Store::create(data_dir, &charter, args.state)?;
    let created = match keys {
        Keys::StateAndNode => NodeKeys::generate_into(data_dir)?,
        Keys::NodeOnly => NodeKeys::generate_node_into(data_dir)?,
    };
    config.save(&data_dir.join(CONFIG_FILE))?;
    drop(store);
    let state_key = created.state.as_ref().map(|k| k.public());
    let node_id = created.node.node_id();
    let peer_id = node_id.to_peer_id();
    let advertise: Vec<String> = config.listen.iter().map(|a| dialable(a, &peer_id)).collect();
    let value = json!({
        "state": args.state,
        "state_public_key": state_key,
        "holds_state_key": state_key.is_some(),
        "peer_id": peer_id,
        "network_id": network,
        "data_dir": data_dir,
        "listen": config.listen,
        "bootstrap": config.bootstrap,
        "advertise": advertise,
    });
    out.emit(&value, || {
        let bootstrap =
            if config.bootstrap.is_empty() { "none (the charter's list only)".to_string() } else { config.bootstrap.join(", ") };
        let head = match &state_key {
            Some(key) => format!("Node created in {}\nState:            {} ({})\nState public key: {key}", data_dir.display(), args.state, args.state.country_name()),
            None => format!(
                "Node added in {}\nState:            {} ({}); this node holds no state key",
                data_dir.display(),
                args.state,
                args.state.country_name()
            ),
        };
        let next = match state_key {
            Some(_) => "Next: send the state public key to the stewards for an admission, then\n  hotline admission import ADMISSION_FILE\n  hotline record set --role technical ...".to_string(),
            None => format!(
                "Next, on the node (or machine) that holds {state}'s state key, list this node in each\nrecord it is to serve, with the nodes already listed:\n  hotline record set --role technical --node <the nodes listed now> --node {peer_id} ...\nthen start this node (hotline daemon). Compare the peer id above out of band\nwith what the record lists.",
                state = args.state
            ),
        };
        format!(
            "{head}\nNode peer id:     {node_id}\nNetwork:          {} ({network})\nListening on:     {}\nBootstrap:        {bootstrap}\n\nFor the other nodes' bootstrap lists, this node's address (a wildcard\naddress such as 0.0.0.0 stands for this host's public address):\n  {}\n\n{next}",
            charter.charter.name,
            config.listen.join(", "),
            advertise.join("\n  "),
        )
    })
}

/// `addr` with this node's `/p2p/PEER_ID` appended: what the others put in
/// their bootstrap lists. A wildcard host (`0.0.0.0`, `::`) is shown as a
/// placeholder for the host's public address, which only the operator knows.
fn dialable(addr: &str, peer_id: &str) -> String {
    let addr = addr.replacen("/ip4/0.0.0.0/", "/ip4/<this host's address>/", 1).replacen(
        "/ip6/::/",
        "/ip6/<this host's address>/",
        1,
    );
    format!("{addr}/p2p/{peer_id}")
}

/// A node's store and keys, opened for an offline command.
pub(super) struct OpenNode {
    pub store: Store,
    pub directory: Directory,
    pub data_dir: PathBuf,
}

impl OpenNode {
    /// The node's keys.
    pub(super) fn keys(&self) -> Result<NodeKeys> {
        Ok(NodeKeys::load(&self.data_dir)?)
    }
}

/// Opens the node in `data_dir` directly (no daemon).
pub(super) fn open_node(data_dir: &Path) -> Result<OpenNode> {
    let store = Store::open(data_dir)?;
    let directory = store.load_directory()?;
    Ok(OpenNode { store, directory, data_dir: data_dir.to_path_buf() })
}

/// What happened to each object of an import.
#[derive(Serialize, Default)]
pub(super) struct ImportReport {
    pub accepted: usize,
    pub duplicate: usize,
    pub pending: Vec<Problem>,
    pub rejected: Vec<Problem>,
}

/// One object that was not accepted, and why.
#[derive(Serialize)]
pub(super) struct Problem {
    pub object: String,
    pub code: &'static str,
    pub reason: String,
}

impl ImportReport {
    /// Fails with the first problem's reason, for single-object imports.
    pub(super) fn require_all_accepted(&self) -> Result<()> {
        if let Some(p) = self.rejected.first().or(self.pending.first()) {
            bail!("{} was not accepted ({}): {}; nothing was stored", p.object, p.code, p.reason);
        }
        Ok(())
    }
}

/// Applies `objects` to the node's directory and persists every change in
/// one durable transaction. Objects that are refused change nothing.
pub(super) fn commit_objects(node: &OpenNode, objects: Vec<DirectoryObject>) -> Result<ImportReport> {
    let mut directory = node.directory.clone();
    let mut batch = WriteBatch::new();
    let mut report = ImportReport::default();
    let at = now();
    for object in objects {
        let object_name = object.describe();
        match directory.apply(object, at) {
            Ok(Outcome::Applied(applied)) => {
                report.accepted += 1;
                batch.record_applied(&applied, &directory, at);
            }
            Ok(Outcome::Duplicate) => report.duplicate += 1,
            Ok(Outcome::Pending(why)) => {
                report.pending.push(Problem { object: object_name, code: "pending", reason: why.to_string() })
            }
            Err(rejection) => report.rejected.push(Problem {
                object: object_name,
                code: rejection.code(),
                reason: rejection.to_string(),
            }),
        }
    }
    if !batch.is_empty() {
        node.store.write(batch)?;
    }
    Ok(report)
}
