//! The daemon and the commands that talk to it over the control socket.

use super::Out;
use super::node::{OpenNode, open_node};
use super::output::say;
use anyhow::{Context, Result, bail};
use clap::Args;
use hotline_node::endpoints::{GetLiveness, GetPeers, GetStatus};
use hotline_node::{Client, ClientError, Node, NodeOptions, init_logging, run_until_signal};
use hotline_store::NodeConfig;
use hotline_store::config::CONFIG_FILE;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub(crate) struct DaemonArgs {
    /// The configuration file (default: DATA_DIR/node.toml).
    #[arg(long)]
    config: Option<PathBuf>,
}

/// Where a command reads and writes: the running daemon, or the store
/// directly when no daemon runs (the store allows one process at a time).
pub(super) enum Source {
    /// The daemon answers on the control socket.
    Daemon(Client),
    /// No daemon: the store, opened by this process.
    Offline(Box<OpenNode>),
}

/// The daemon if one answers on `data_dir`'s socket, else the store.
pub(super) fn source(data_dir: &Path) -> Result<Source> {
    let client = Client::for_data_dir(data_dir);
    if client.socket().exists() {
        match runtime()?.block_on(client.call(GetStatus)) {
            Ok(_) => return Ok(Source::Daemon(client)),
            Err(ClientError::DaemonNotRunning { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Source::Offline(Box::new(open_node(data_dir)?)))
}

/// Fails if a daemon answers on `data_dir`'s socket: the command works on
/// a stopped node only, for the reason `why`.
pub(super) fn refuse_running(data_dir: &Path, why: &str) -> Result<()> {
    let client = Client::for_data_dir(data_dir);
    if client.socket().exists() {
        match runtime()?.block_on(client.call(GetStatus)) {
            Err(ClientError::DaemonNotRunning { .. }) => {}
            _ => anyhow::bail!("the daemon of {} is running: stop it first ({why})", data_dir.display()),
        }
    }
    Ok(())
}

/// A multi-threaded tokio runtime for one command.
pub(super) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

/// `hotline daemon`: runs the node until SIGTERM or SIGINT.
pub(super) fn daemon(args: DaemonArgs, data_dir: &Path) -> Result<()> {
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

/// `hotline health`: the daemon's health; unhealthy is an error (exit 1)
/// naming the reasons, so that a monitoring script needs only the exit code.
pub(super) fn health(data_dir: &Path, out: &Out) -> Result<()> {
    let health = runtime()?.block_on(Client::for_data_dir(data_dir).health())?;
    if out.json {
        // One JSON document either way; the exit code says which.
        out.emit(&health, String::new)?;
        return if health.healthy { Ok(()) } else { Err(super::AlreadyReported.into()) };
    }
    if !health.healthy {
        anyhow::bail!("the node is unhealthy: {}", health.reasons.join("; "));
    }
    out.emit(&health, || {
        format!(
            "Healthy: the store takes writes, the state is admitted, {} member(s) connected.",
            health.connected_members
        )
    })
}

/// `hotline status`.
pub(super) fn status(data_dir: &Path, out: &Out) -> Result<()> {
    let client = Client::for_data_dir(data_dir);
    let (status, desk) = runtime()?.block_on(async {
        let status = client.call(GetStatus).await?;
        // The desk line, for text only (the JSON stays the daemon's view;
        // `hotline desk --json` has these lists).
        let desk = if out.json { None } else { super::message::desk_counts(&client).await.ok() };
        anyhow::Ok((status, desk))
    })?;
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
        if status.links_closed_dead + status.links_closed_restarted > 0 {
            s += &format!(
                "Dead links:   {} closed as silent, {} left behind by a restarted peer\n",
                status.links_closed_dead, status.links_closed_restarted
            );
        }
        if let Some((unread, awaiting, overdue)) = desk {
            s += &format!(
                "Desk:         {unread} unread, {awaiting} awaiting an answer, {overdue} overdue (hotline desk)\n"
            );
        }
        if status.outbox > 0 {
            s += &format!("Outbox:       {} deliveries queued, {} in flight\n", status.outbox, status.outbox_in_flight);
        }
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
        for warning in &status.warnings {
            s += &format!("Warning:      {}\n", super::note::clean_line(warning));
        }
        s += &format!("Uptime:       {} s, version {}", status.uptime_secs, status.version);
        s
    })
}

/// `hotline peers`.
pub(super) fn peers(data_dir: &Path, out: &Out) -> Result<()> {
    let client = Client::for_data_dir(data_dir);
    let (members, connections) = runtime()?
        .block_on(async { Ok::<_, anyhow::Error>((client.call(GetLiveness).await?, client.call(GetPeers).await?)) })?;
    #[derive(serde::Serialize)]
    struct Peers {
        /// Every member node: connected or not, last seen, round trip, reachability over 24 h.
        members: Vec<hotline_node::api_types::LivenessView>,
        /// The open connections, members and strangers.
        connections: Vec<hotline_node::api_types::PeerView>,
    }
    let view = Peers { members, connections };
    out.emit(&view, || {
        let mut text = String::new();
        if view.members.is_empty() {
            text.push_str("No other member node in the directory.\n");
        } else {
            let rows: Vec<Vec<String>> = view
                .members
                .iter()
                .map(|m| {
                    vec![
                        m.state.to_string(),
                        super::note::short_peer(&m.node),
                        match (m.connected, m.unreachable_since) {
                            (true, _) => "connected".into(),
                            (false, Some(since)) => format!("unreachable since {}", super::note::utc_short(since)),
                            (false, None) => "not connected".into(),
                        },
                        m.last_seen.map(super::note::utc_short).unwrap_or_else(|| "never".into()),
                        m.rtt_ms.map(|r| format!("{r:.1} ms")).unwrap_or_else(|| "-".into()),
                        m.reachability_24h
                            .map(|r| format!("{:.0}% of {}", r * 100.0, m.samples))
                            .unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            let headers = ["STATE", "NODE", "NOW", "LAST SEEN (UTC)", "RTT", "REACHABLE (24 H)"];
            text.push_str(&super::output::table_fitted(&headers, &rows, 2, super::output::screen_width()));
        }
        let strangers = view.connections.iter().filter(|p| !p.member).count();
        text.push_str(&format!("{} open connection(s), {strangers} of them to non-members.", view.connections.len()));
        text
    })
}

/// `hotline watch` flags.
#[derive(clap::Args, Debug)]
pub(crate) struct WatchArgs {
    /// Ring the terminal bell for a TLP:RED message or one of severity 4
    /// or 5.
    #[arg(long)]
    bell: bool,
    /// When the daemon stops (or is not running yet), say so and wait for
    /// it, then go on watching, instead of exiting.
    #[arg(long)]
    follow: bool,
}

/// `hotline watch`: prints live events until interrupted, one line each,
/// with the time (UTC).
pub(super) fn watch(args: WatchArgs, data_dir: &Path, out: &Out) -> Result<()> {
    runtime()?.block_on(async {
        let client = Client::for_data_dir(data_dir);
        // Notices go to stderr, so scripts reading stdout see only events.
        let mut lost: Option<String> = None;
        loop {
            let mut events = match (client.events().await, args.follow) {
                (Ok(events), _) => events,
                (Err(e), false) => return Err(e.into()),
                (Err(_), true) => {
                    if lost.is_none() {
                        let at = super::now().to_rfc3339();
                        eprintln!("{} The daemon is not running; waiting for it (interrupt to stop).", hms(&at));
                        lost = Some(at);
                    }
                    tokio::time::sleep(FOLLOW_RETRY).await;
                    continue;
                }
            };
            match lost.take() {
                // It also tells a reader that the subscription is in place.
                None => eprintln!("Watching the events of {} (interrupt to stop).", client.socket().display()),
                Some(since) => eprintln!(
                    "{} The daemon is back; events since {} UTC were not seen here: look at hotline desk and \
                     hotline inbox --unread.",
                    hms(&super::now().to_rfc3339()),
                    hms(&since)
                ),
            }
            loop {
                let event = match events.next().await {
                    Some(Ok(event)) => event,
                    Some(Err(e)) if !args.follow => return Err(e.into()),
                    // The daemon went away, mid-event or between events.
                    _ => break,
                };
                if out.json {
                    say(&serde_json::to_string(&event)?)?;
                } else {
                    let bell = if args.bell && super::message::rings(&event) { "\u{7}" } else { "" };
                    say(&format!("{bell}{} {}", hms(&super::now().to_rfc3339()), super::message::event_line(&event)))?;
                }
            }
            // The stream ends only when the daemon closes it: a duty officer
            // watching must not take silence for calm.
            if !args.follow {
                bail!("the daemon stopped: no more events (start it again, then `hotline watch`, or use --follow)")
            }
            let at = super::now().to_rfc3339();
            eprintln!("{} The daemon stopped; waiting for it to come back (interrupt to stop).", hms(&at));
            lost = Some(at);
        }
    })
}

/// How often `watch --follow` looks for the daemon while it is away.
const FOLLOW_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// `HH:MM:SS` of an RFC 3339 time.
fn hms(rfc3339: &str) -> &str {
    rfc3339.get(11..19).unwrap_or_default()
}
