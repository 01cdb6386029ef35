//! `hotline bench partition`: how fast real daemons notice a silent cut and
//! recover from it, on the network-namespace test bed (root only).
//!
//! `--nodes` daemons, each in its own namespace behind one router, all
//! connected. Baseline first, in the same run: how long a record update
//! takes to reach every directory, and a message to be receipted, with no
//! cut. Then `--cuts` times: the router drops every packet between two
//! halves (no RST, no ICMP) for `--cut-secs`; during the cut each half
//! publishes a record update and sends messages across; node 0 is watched
//! until it shows every node of the other half unreachable
//! (`dead_link_detect_ms`); after the heal, until every directory is
//! identical (`heal_converge_ms`) and every queued message is receipted
//! (`drain_ms`), and each arrived exactly once. The idle cost is the
//! packets the router forwards while nothing happens, per connection and
//! second: pings, keep-alives and gossip heartbeats together, an upper
//! bound on what dead-link detection costs.

use super::{Percentiles, percentiles, wait_until};
use crate::cli::mesh::{LocalNetwork, example_draft, states};
use crate::cli::{Out, now};
use anyhow::{Context, Result, bail};
use clap::Args;
use hotline_core::{Role, StateCode};
use hotline_node::Client;
use hotline_node::api_types::PublishRequest;
use hotline_node::api_types::{MessageQuery, SendRequest};
use hotline_node::endpoints::{
    GetLiveness, GetOutbox, GetPeers, GetStatus, ListMessages, PublishRecord, SendMessage, WaitDelivered,
};
use hotline_store::NodeConfig;
use hotline_testbed::Bed;
use serde::Serialize;
use std::collections::HashMap;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The port every node listens on, on its own address.
const PORT: u16 = 4100;
/// How long any one wait may take before the bench gives up.
const GIVE_UP: Duration = Duration::from_secs(300);
/// How long the idle cost is measured over.
const IDLE_WINDOW: Duration = Duration::from_secs(20);

#[derive(Args, Debug)]
pub(crate) struct PartitionArgs {
    /// How many nodes (split into two halves).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u16).range(2..=40))]
    nodes: u16,
    /// How long each cut lasts, seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(5..=3600))]
    cut_secs: u64,
    /// How many cuts, one after the other.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=20))]
    cuts: u16,
    /// Messages sent across the cut each way, per cut.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=200))]
    messages: u16,
}

#[derive(Serialize)]
struct Baseline {
    /// A record update until every directory holds it, no cut.
    converge_ms: f64,
    /// A message until its receipt, no cut.
    delivery_ms: f64,
}

#[derive(Serialize)]
struct PartitionReport {
    bench: &'static str,
    nodes: usize,
    cut_secs: u64,
    cuts: usize,
    baseline: Baseline,
    /// From the cut until node 0 shows a node of the other half unreachable.
    dead_link_detect_ms: Percentiles,
    /// From the heal until every directory is identical.
    heal_converge_ms: Percentiles,
    /// From the heal until every message queued across the cut is receipted.
    drain_ms: Percentiles,
    /// Messages sent across cuts, and how many arrived other than once.
    messages_across: usize,
    not_exactly_once: usize,
    /// Packets the router forwarded while idle, per connection and second.
    idle_packets_per_sec_per_connection: f64,
    /// Open connections during the idle measurement.
    idle_connections: usize,
    build: &'static str,
}

/// The daemons on the bed; killed when dropped.
struct Daemons(Vec<Child>);

impl Drop for Daemons {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub(super) fn partition(args: PartitionArgs, out: &Out) -> Result<()> {
    let n = usize::from(args.nodes);
    let mut bed = Bed::new(n).context("bench partition needs the network-namespace test bed (run as root)")?;
    let root = tempfile::tempdir()?;
    let states = states(n);
    let network = LocalNetwork::create(root.path(), &states, now())?;
    let peers: Vec<String> = network
        .members
        .iter()
        .map(|m| hotline_net::peer_id_of(&m.node_id).map(|p| p.to_string()))
        .collect::<Result<_, _>>()?;
    for (i, member) in network.members.iter().enumerate() {
        let ip = bed.node(i)?.ip;
        let mut config = NodeConfig::new(member.state);
        config.listen = vec![format!("/ip4/{ip}/tcp/{PORT}"), format!("/ip4/{ip}/udp/{PORT}/quic-v1")];
        config.bootstrap = (0..n)
            .filter(|j| *j != i)
            .map(|j| Ok(format!("/ip4/{}/tcp/{PORT}/p2p/{}", bed.node(j)?.ip, peers[j])))
            .collect::<Result<_, hotline_testbed::BedError>>()?;
        config.log_level = "warn".into();
        config.save(&member.data_dir.join(hotline_store::config::CONFIG_FILE))?;
    }
    let exe = std::env::current_exe()?;
    let mut daemons = Daemons(Vec::new());
    for (i, member) in network.members.iter().enumerate() {
        let log = std::fs::File::create(root.path().join(format!("{}.log", member.state)))?;
        let child = bed
            .command(i, &exe)?
            .args(["--data-dir", &member.data_dir.to_string_lossy(), "daemon"])
            .env_remove("HOTLINE_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        daemons.0.push(child);
    }
    let clients: Vec<Client> = network.members.iter().map(|m| Client::for_data_dir(&m.data_dir)).collect();
    let (left, right): (Vec<usize>, Vec<usize>) = (0..n).partition(|i| *i < n / 2);

    crate::cli::daemon::runtime()?.block_on(async {
        for (i, c) in clients.iter().enumerate() {
            wait_until(GIVE_UP, "a daemon's control socket", || async { c.call(GetStatus).await.ok() }).await?;
            let m = &network.members[i];
            c.call(PublishRecord(PublishRequest {
                draft: example_draft(m.state, Role::technical(), m.node_id),
                validity_days: None,
            }))
            .await?;
        }
        for c in &clients {
            wait_until(GIVE_UP, "the directories and connections", || async {
                let status = c.call(GetStatus).await.ok()?;
                let all = c.call(GetLiveness).await.ok()?.iter().all(|l| l.connected);
                (status.live_objects == 3 * n && all).then_some(())
            })
            .await?;
        }

        let idle_connections = connections(&clients).await?;
        let before = forwarded(&bed)?;
        tokio::time::sleep(IDLE_WINDOW).await;
        let idle_packets = forwarded(&bed)?.saturating_sub(before);
        let idle = idle_packets as f64 / IDLE_WINDOW.as_secs_f64() / idle_connections.max(1) as f64;

        // The baseline: the same work, no cut.
        let started = Instant::now();
        publish_update(&clients, &network, 0, "baseline").await?;
        wait_until(GIVE_UP, "the baseline update everywhere", || converged(&clients)).await?;
        let converge_ms = ms(started.elapsed());
        let started = Instant::now();
        let sent = clients[left[0]].call(SendMessage(message(states[right[0]], "baseline".into()))).await?;
        clients[left[0]].call(WaitDelivered { id: sent.msg_id, timeout_secs: 60 }).await?;
        let baseline = Baseline { converge_ms, delivery_ms: ms(started.elapsed()) };

        let (mut detect, mut heal, mut drain) = (Vec::new(), Vec::new(), Vec::new());
        let mut expected: HashMap<(usize, String), usize> = HashMap::new();
        for cut in 0..args.cuts {
            bed.partition(&left, &right)?;
            let cut_at = Instant::now();
            publish_update(&clients, &network, left[0], &format!("cut {cut} left")).await?;
            publish_update(&clients, &network, right[0], &format!("cut {cut} right")).await?;
            for k in 0..args.messages {
                for (from, to) in [(left[0], right[right.len() - 1]), (right[0], left[left.len() - 1])] {
                    let subject = format!("cut {cut} from {} message {k}", states[from]);
                    clients[from].call(SendMessage(message(states[to], subject.clone()))).await?;
                    *expected.entry((to, subject)).or_default() += 1;
                }
            }
            let other_half: Vec<String> = right.iter().map(|j| peers[*j].clone()).collect();
            let watching = &clients[left[0]];
            let mut unseen = other_half.clone();
            while !unseen.is_empty() && cut_at.elapsed() < Duration::from_secs(args.cut_secs) {
                let views = watching.call(GetLiveness).await?;
                unseen.retain(|peer| {
                    let gone = views.iter().any(|v| v.node == *peer && !v.connected);
                    if gone {
                        detect.push(ms(cut_at.elapsed()));
                    }
                    !gone
                });
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if !unseen.is_empty() {
                bail!("{} node(s) of the other half still showed as connected at the end of the cut", unseen.len());
            }
            tokio::time::sleep(Duration::from_secs(args.cut_secs).saturating_sub(cut_at.elapsed())).await;
            bed.heal_all()?;
            let healed = Instant::now();
            wait_until(GIVE_UP, "every directory to match after the heal", || converged(&clients)).await?;
            heal.push(ms(healed.elapsed()));
            wait_until(GIVE_UP, "every queued message to be receipted", || async {
                for c in &clients {
                    if !c.call(GetOutbox).await.ok()?.is_empty() {
                        return None;
                    }
                }
                Some(())
            })
            .await?;
            drain.push(ms(healed.elapsed()));
            // Let the mesh settle before the next cut.
            for c in &clients {
                wait_until(GIVE_UP, "every connection back", || async {
                    c.call(GetLiveness).await.ok()?.iter().all(|l| l.connected).then_some(())
                })
                .await?;
            }
        }
        let not_exactly_once = counts(&clients, &expected).await?.values().sum();
        let report = PartitionReport {
            bench: "partition",
            nodes: n,
            cut_secs: args.cut_secs,
            cuts: usize::from(args.cuts),
            baseline,
            dead_link_detect_ms: percentiles(detect),
            heal_converge_ms: percentiles(heal),
            drain_ms: percentiles(drain),
            messages_across: expected.len(),
            not_exactly_once,
            idle_packets_per_sec_per_connection: idle,
            idle_connections,
            build: if cfg!(debug_assertions) { "debug" } else { "release" },
        };
        out.report(&report)
    })?;
    drop(daemons);
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn message(to: StateCode, subject: String) -> SendRequest {
    let mut m = super::bench_message(to, 200, 0);
    m.subject = subject;
    m
}

async fn publish_update(clients: &[Client], network: &LocalNetwork, i: usize, note: &str) -> Result<()> {
    let m = &network.members[i];
    let mut draft = example_draft(m.state, Role::technical(), m.node_id);
    draft.organization = format!("{} ({note})", draft.organization);
    clients[i].call(PublishRecord(PublishRequest { draft: draft.clone(), validity_days: None })).await?;
    Ok(())
}

async fn converged(clients: &[Client]) -> Option<()> {
    let mut digests = Vec::with_capacity(clients.len());
    for c in clients {
        let s = c.call(GetStatus).await.ok()?;
        digests.push((s.digest_hash, s.pending));
    }
    (digests.windows(2).all(|w| w[0] == w[1]) && digests[0].1 == 0).then_some(())
}

/// Open connections in the whole network (each counted once).
async fn connections(clients: &[Client]) -> Result<usize> {
    let mut ends = 0;
    for c in clients {
        ends += c.call(GetPeers).await?.iter().map(|p| p.addrs.len()).sum::<usize>();
    }
    Ok(ends / 2)
}

/// Packets the router has received from every node, so far.
fn forwarded(bed: &Bed) -> Result<u64> {
    let mut total = 0;
    for i in 0..bed.nodes().len() {
        total += bed.router_rx_packets(i)?;
    }
    Ok(total)
}

/// For each recipient, how many expected messages arrived other than once.
async fn counts(clients: &[Client], expected: &HashMap<(usize, String), usize>) -> Result<HashMap<usize, usize>> {
    let mut wrong: HashMap<usize, usize> = HashMap::new();
    let recipients: std::collections::BTreeSet<usize> = expected.keys().map(|(to, _)| *to).collect();
    for to in recipients {
        let inbox = clients[to].call(ListMessages(MessageQuery { limit: Some(1000), ..Default::default() })).await?;
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for m in &inbox {
            *seen.entry(m.subject.as_str()).or_default() += 1;
        }
        for ((t, subject), want) in expected {
            if *t == to && seen.get(subject.as_str()).copied().unwrap_or(0) != *want {
                *wrong.entry(to).or_default() += 1;
            }
        }
    }
    Ok(wrong)
}
