//! The daemon and the commands that talk to it over the control socket.

use super::Out;
use super::node::{OpenNode, open_node};
use super::output::table;
use anyhow::{Context, Result};
use clap::Args;
use hotline_node::{Client, ClientError, Node, NodeOptions, init_logging, run_until_signal};
use hotline_store::NodeConfig;
use hotline_store::config::CONFIG_FILE;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct DaemonArgs {
    /// The configuration file (default: DATA_DIR/node.toml).
    #[arg(long)]
    config: Option<PathBuf>,
}

/// Where a command reads and writes: the running daemon, or the store
/// directly when no daemon runs (the store allows one process at a time).
pub enum Source {
    /// The daemon answers on the control socket.
    Daemon(Client),
    /// No daemon: the store, opened by this process.
    Offline(Box<OpenNode>),
}

/// The daemon if one answers on `data_dir`'s socket, else the store.
pub fn source(data_dir: &Path) -> Result<Source> {
    let client = Client::for_data_dir(data_dir);
    if client.socket().exists() {
        match runtime()?.block_on(client.status()) {
            Ok(_) => return Ok(Source::Daemon(client)),
            Err(ClientError::DaemonNotRunning { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Source::Offline(Box::new(open_node(data_dir)?)))
}

/// A multi-threaded tokio runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

/// `hotline daemon`: runs the node until SIGTERM or SIGINT.
pub fn daemon(args: DaemonArgs, data_dir: &Path) -> Result<()> {
    let config_path = args.config.unwrap_or_else(|| data_dir.join(CONFIG_FILE));
    let config = NodeConfig::load(&config_path)?;
    init_logging(&config.log_level, config.log_format)?;
    let options = NodeOptions { config: Some(config), ..Default::default() };
    runtime()?.block_on(async {
        let running = Node::start(data_dir, options).await?;
        run_until_signal(running).await
    })?;
    Ok(())
}

/// `hotline status`.
pub fn status(data_dir: &Path, out: &Out) -> Result<()> {
    let status = runtime()?.block_on(Client::for_data_dir(data_dir).status())?;
    out.emit(&status, || {
        let mut s = format!(
            "State:        {} ({})\nPeer id:      {}\nNetwork:      {} ({})\n",
            status.state,
            if status.admitted { "admitted" } else { "NOT ADMITTED" },
            status.peer_id,
            status.charter_name,
            status.network_id
        );
        s += &format!("Listening:    {}\n", status.listen_addrs.join(", "));
        s += &format!(
            "Peers:        {} connected, {} of them members ({} member nodes known)\n",
            status.connected_peers, status.connected_members, status.member_nodes
        );
        s += &format!(
            "Directory:    {} states, {} records, {} live objects, {} pending, digest {}\n",
            status.admitted_states,
            status.records,
            status.live_objects,
            status.pending,
            &status.digest_hash.to_string()[..16]
        );
        if !status.rejections.is_empty() {
            let list: Vec<String> = status.rejections.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s += &format!("Rejected:     {}\n", list.join(", "));
        }
        s += &format!("Uptime:       {} s, version {}", status.uptime_secs, status.version);
        s
    })
}

/// `hotline peers`.
pub fn peers(data_dir: &Path, out: &Out) -> Result<()> {
    let peers = runtime()?.block_on(Client::for_data_dir(data_dir).peers())?;
    out.emit(&peers, || {
        if peers.is_empty() {
            return "No peers connected.".to_string();
        }
        let rows: Vec<Vec<String>> = peers
            .iter()
            .map(|p| {
                vec![
                    p.state.clone().unwrap_or_else(|| "-".into()),
                    p.peer_id.clone(),
                    if p.member { "member".into() } else { "stranger".into() },
                    p.rtt_ms.map(|r| format!("{r:.1} ms")).unwrap_or_else(|| "-".into()),
                    p.addrs.first().cloned().unwrap_or_default(),
                ]
            })
            .collect();
        table(&["STATE", "PEER", "KIND", "RTT", "ADDRESS"], &rows)
    })
}

/// `hotline watch`: prints live events until interrupted.
pub fn watch(data_dir: &Path, out: &Out) -> Result<()> {
    runtime()?.block_on(async {
        let client = Client::for_data_dir(data_dir);
        let mut events = client.events().await?;
        // On stderr, so scripts reading stdout see only events; it also
        // tells a reader that the subscription is in place.
        eprintln!("Watching the events of {} (interrupt to stop).", client.socket().display());
        while let Some(event) = events.next().await {
            let event = event?;
            if out.json {
                println!("{}", serde_json::to_string(&event)?);
            } else if let Some(line) = super::message::event_line(&event) {
                println!("{line}");
            } else {
                println!("{} {}", event.kind(), serde_json::to_string(&event)?);
            }
        }
        Ok(())
    })
}
