//! `hotline bench`: performance harnesses that print one JSON object.
//! Benchmarks report numbers; the tests assert behaviour.

mod hardening;
mod partition;
mod raw;
mod store;

use super::demo::wait_for_convergence;
use super::mesh::{LocalNetwork, LocalNode, NodeRuntime, Transport, example_draft, states};
use super::{Out, now};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use futures::StreamExt;
use hotline_core::{ObjectHash, Role, StateCode};
use hotline_node::NodeHandle;
use hotline_node::api_types::MessageState;
use hotline_node::api_types::NodeEvent;
use serde::Serialize;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

#[derive(Subcommand, Debug)]
pub(crate) enum BenchCommand {
    /// Directory convergence and cold sync of N nodes on loopback.
    Mesh(MeshArgs),
    /// Sealed, durable, receipted messages between two nodes on loopback,
    /// against a bare libp2p request-response echo.
    Messages(MessagesArgs),
    /// What a stranger's attacks cost two nodes (a flood of objects,
    /// stalled deliver streams, slow handshakes), each against a baseline
    /// of the same run.
    Hardening(hardening::HardeningArgs),
    /// A node with many stored messages: its start, memory, an inbox page
    /// and a long thread, against the same node with few.
    Store(store::StoreArgs),
    /// Silent cuts between two halves of real daemons on the
    /// network-namespace test bed (root only): dead-link detection, heal
    /// convergence and drain, against a baseline without a cut.
    Partition(partition::PartitionArgs),
    /// The attacker of `bench hardening`, in a process of its own so that
    /// its buffers do not count in the nodes' memory: holds stalled deliver
    /// streams open until killed.
    #[command(hide = true)]
    StallStreams(hardening::StallArgs),
}

#[derive(Args, Debug)]
pub(crate) struct MessagesArgs {
    /// Messages per measurement (latency, throughput and the baseline each).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(10..=1_000_000))]
    count: u32,
    /// Body size in bytes.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(0..=262_144))]
    size: u32,
    /// Messages in flight during the throughput run (the node delivers at
    /// most 128 at once to one node; the bare echo is held to the same).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=4096))]
    in_flight: u32,
}

#[derive(Args, Debug)]
pub(crate) struct MeshArgs {
    /// How many nodes.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(2..=240))]
    nodes: u16,
    /// Records in the directory a fresh node must fetch (cold sync).
    #[arg(long, default_value_t = 400)]
    records: usize,
    /// How many record updates to time for `converge_ms`.
    #[arg(long, default_value_t = 30)]
    updates: usize,
    /// How many fresh nodes to time for `cold_sync_ms`, one after the other.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=20))]
    cold_syncs: u16,
    /// The transport the nodes listen on. With TCP both ends of every
    /// connection hold a descriptor in this one process; QUIC needs one
    /// socket per node, which is what lets ~200 nodes fit in one process.
    #[arg(long, value_enum, default_value_t = Transport::Tcp)]
    transport: Transport,
}

pub(super) fn run(cmd: BenchCommand, out: &Out) -> Result<()> {
    // The nodes log nothing unless asked: `HOTLINE_LOG=debug hotline bench …`.
    if let Ok(level) = std::env::var("HOTLINE_LOG") {
        hotline_node::init_logging(&level, hotline_store::LogFormat::Text)?;
    }
    match cmd {
        BenchCommand::Mesh(args) => mesh(args, out),
        BenchCommand::Messages(args) => messages(args, out),
        BenchCommand::Hardening(args) => hardening::hardening(args, out),
        BenchCommand::Store(args) => store::store(args, out),
        BenchCommand::Partition(args) => partition::partition(args, out),
        BenchCommand::StallStreams(args) => hardening::stall_streams(args),
    }
}

/// Percentiles of a sample, in the sample's unit.
#[derive(Serialize)]
struct Percentiles {
    p50: f64,
    p99: f64,
    max: f64,
    samples: usize,
}

fn percentiles(mut values: Vec<f64>) -> Percentiles {
    values.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| {
        if values.is_empty() {
            return 0.0;
        }
        let i = ((values.len() as f64 - 1.0) * q).round() as usize;
        values[i]
    };
    Percentiles { p50: at(0.50), p99: at(0.99), max: at(1.0), samples: values.len() }
}

#[derive(Serialize)]
struct MeshReport {
    bench: &'static str,
    nodes: usize,
    transport: Transport,
    records: usize,
    initial_converge_ms: u128,
    converge_ms: Percentiles,
    /// One sample per newcomer (`--cold-syncs`).
    cold_sync_ms: Percentiles,
    /// Objects the last newcomer held once complete.
    cold_sync_objects: usize,
    /// CPU the converged network uses while nothing changes (5 s sample):
    /// periodic sync, gossip heartbeats, pings. The cold-sync node competes
    /// with it for the same cores.
    idle_cpu_cores: f64,
    /// CPU the whole process used during the cold syncs, in cores (mean):
    /// near 2 on the reference machine means the newcomer waited for CPU,
    /// not for the network.
    cold_sync_cpu_cores: f64,
    /// Open connections per node once the count stopped changing (mean over
    /// nodes; each connection counts at both ends).
    connected_peers_per_node: f64,
    rss_mb_per_node: f64,
    rss_mb_total: f64,
    build: &'static str,
}

/// CPU time (user and system) this process has used, in seconds (Linux;
/// 0 elsewhere).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 here;
    // Linux counts them in USER_HZ, which is 100 on every supported platform.
    (ticks(11) + ticks(12)) / 100.0
}

/// Resident set size of this process, in MiB (Linux).
fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Nodes started (and publishing) at once during the benchmark's start-up.
const START_WAVE: usize = 16;

fn mesh(args: MeshArgs, out: &Out) -> Result<()> {
    let n = args.nodes as usize;
    // The node states, then states that publish records but run no node
    // here, then one more state per cold-sync node.
    let offline_states = (args.records / 2).saturating_sub(n);
    let wanted = n + offline_states + args.cold_syncs as usize;
    let all = states(wanted);
    if all.len() < wanted {
        bail!("--nodes plus --records/2 plus --cold-syncs exceeds the {} ISO 3166 codes", all.len());
    }
    let (node_states, rest) = all.split_at(n);
    let (offline, fresh) = rest.split_at(offline_states);
    let root = tempfile::Builder::new().prefix("hotline-bench-").tempdir()?;
    let at = now();
    let mut network = LocalNetwork::create(root.path(), node_states, at)?;
    network.transport = args.transport;
    // Liveness checks dial every member that is not connected. Sampling once
    // a day stops these dials, but Kademlia's bootstrap and the redials still
    // connect every node to every other over a run, and gossipsub's streams
    // keep those connections open. Over TCP both ends of each count against
    // this process's descriptor limit (20 000 here): ~200 nodes need
    // `--transport quic`, one socket per node.
    network.liveness_interval = Duration::from_secs(86_400);

    // States that run no node here are already in the first node's
    // directory when the benchmark starts: the others get them by sync when
    // they connect, as they would join a network that already exists.
    // Submitting them one by one through the running first node would time
    // hundreds of mesh-wide gossip rounds instead.
    let mut preloaded = Vec::new();
    for &state in offline {
        preloaded.extend(network.offline_state(state, at)?);
    }
    network.preload(0, preloaded)?;

    super::daemon::runtime()?.block_on(async {
        let rss_before = rss_mb();
        let t = Instant::now();
        let mut nodes: Vec<LocalNode> = Vec::with_capacity(n);
        let first = network.start(0, vec![], true).await?;
        let bootstrap = first.listen_addrs();
        nodes.push(first);
        let mut handles: Vec<NodeHandle> = vec![nodes[0].handle()];
        // Nodes start and publish in waves; each wave waits until its nodes
        // hold every record published so far. Starting a few hundred nodes
        // at once on two cores would mostly measure the machine's run queue.
        let mut published = 2 * offline.len();
        for wave in (0..n).collect::<Vec<_>>().chunks(START_WAVE) {
            for &i in wave {
                if i > 0 {
                    nodes.push(network.start(i, bootstrap.clone(), true).await?);
                    handles.push(nodes[i].handle());
                }
            }
            for &i in wave {
                let m = &network.members[i];
                for role in [Role::policy(), Role::technical()] {
                    handles[i].publish_record(example_draft(m.state, role, m.node_id), None).await?;
                }
            }
            published += 2 * wave.len();
            for &i in wave {
                wait_for_records(&handles[i], published, Duration::from_secs(600)).await?;
            }
            // Progress on stderr: a few hundred nodes take minutes to start.
            eprintln!("  started {}/{n} nodes; the newest hold all {published} records", handles.len());
        }
        let total_records = published;
        let quiet = Out { json: true };
        wait_for_convergence(&handles, total_records, Duration::from_secs(600), &quiet).await?;
        let initial_converge_ms = t.elapsed().as_millis();
        // One line per phase from here on: the convergence line above is
        // the last one printed while it waits, and the later phases can
        // take minutes at N=193 (a silent run looked stuck at "converging").
        eprintln!("  converged: {n}/{n} nodes hold all {total_records} records after {initial_converge_ms} ms");
        // Nodes keep connecting to members for a while after convergence
        // (Kademlia, redials); measure idle CPU, updates and cold syncs once
        // the connection count has settled.
        let connections =
            wait_for_stable_connections(&handles, Duration::from_secs(3), Duration::from_secs(180)).await?;
        eprintln!("  connections settled: {:.1} per node", connections as f64 / n as f64);
        let rss_total = rss_mb() - rss_before;
        let (cpu, wall) = (cpu_secs(), Instant::now());
        tokio::time::sleep(Duration::from_secs(5)).await;
        let idle_cpu_cores = (cpu_secs() - cpu) / wall.elapsed().as_secs_f64();

        // converge_ms: one node updates its record; time until every node has it.
        let mut samples = Vec::with_capacity(args.updates);
        for u in 0..args.updates {
            let i = u % n;
            let member = &network.members[i];
            let mut receivers: Vec<broadcast::Receiver<NodeEvent>> = handles.iter().map(|h| h.subscribe()).collect();
            let mut draft = example_draft(member.state, Role::technical(), member.node_id);
            draft.position = format!("Duty officer, shift {u}");
            let t = Instant::now();
            let entry = handles[i].publish_record(draft, None).await?;
            let key = entry.key.clone();
            for (j, rx) in receivers.iter_mut().enumerate() {
                if j != i {
                    wait_for_change(rx, &key, entry.hash, Duration::from_secs(30)).await?;
                }
            }
            samples.push(t.elapsed().as_secs_f64() * 1000.0);
            eprintln!("  update {}/{}: every node has it after {:.0} ms", u + 1, args.updates, samples[u]);
        }

        // cold_sync_ms: a fresh node, gossip off, fetches everything by sync.
        // Several newcomers, one after the other (each stays in the
        // directory, so the next one has two more records to fetch).
        let mut cold = Vec::with_capacity(args.cold_syncs as usize);
        let (mut cold_objects, mut cold_cpu) = (0, Vec::with_capacity(args.cold_syncs as usize));
        for (k, &fresh_state) in fresh.iter().enumerate() {
            let index = network.add_member(root.path(), fresh_state, at)?;
            tracing::info!(state = %fresh_state, "cold sync starts");
            let cpu_before = cpu_secs();
            let t = Instant::now();
            let newcomer = network.start(index, bootstrap.clone(), false).await?;
            let h = newcomer.handle();
            // A new state presents its admission and records through sync;
            // until it is a member, peers refuse to hand it the directory.
            let member = &network.members[index];
            for role in [Role::policy(), Role::technical()] {
                h.publish_record(example_draft(member.state, role, member.node_id), None).await?;
            }
            cold_objects = wait_for_records(&h, total_records + 2 * (k + 1), Duration::from_secs(120)).await?;
            cold.push(t.elapsed().as_secs_f64() * 1000.0);
            eprintln!("  cold sync {}/{}: {cold_objects} objects in {:.0} ms", k + 1, fresh.len(), cold[k]);
            cold_cpu.push((cpu_secs() - cpu_before) / t.elapsed().as_secs_f64());
            // Its records reach the others only from it (its gossip is off):
            // the next newcomer counts on them.
            for h in &handles {
                wait_for_records(h, total_records + 2 * (k + 1), Duration::from_secs(60)).await?;
            }
            newcomer.shutdown().await?;
            // Let the network settle (its members notice the departure).
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let cold_sync_cpu_cores = cold_cpu.iter().sum::<f64>() / cold_cpu.len().max(1) as f64;

        for node in nodes {
            node.shutdown().await?;
        }
        let report = MeshReport {
            bench: "mesh",
            nodes: n,
            transport: args.transport,
            records: total_records,
            initial_converge_ms,
            converge_ms: percentiles(samples),
            cold_sync_ms: percentiles(cold),
            cold_sync_objects: cold_objects,
            idle_cpu_cores,
            cold_sync_cpu_cores,
            connected_peers_per_node: connections as f64 / n as f64,
            rss_mb_per_node: rss_total / n as f64,
            rss_mb_total: rss_total,
            build: if cfg!(debug_assertions) { "debug" } else { "release" },
        };
        out.report(&report)?;
        Ok(())
    })
}

#[derive(Serialize)]
struct MessagesReport {
    bench: &'static str,
    count: u32,
    size_bytes: u32,
    /// From `send` until the sender holds the recipient's verified receipt,
    /// with the message durable on both sides; one message at a time.
    latency_ms: Percentiles,
    /// Sustained, with `in_flight` messages outstanding.
    throughput_msgs_per_s: f64,
    /// Process CPU time per message during the throughput run (both nodes,
    /// sender and recipient), and the cores busy on average.
    throughput_cpu_ms_per_msg: f64,
    throughput_cores_busy: f64,
    in_flight: u32,
    /// A bare libp2p request-response echo of the same size, same run.
    raw_baseline_ms: Percentiles,
    /// `latency_ms.p50 / raw_baseline_ms.p50`.
    latency_ratio_vs_raw: f64,
    /// The bare echo's throughput with the same number in flight.
    raw_throughput_msgs_per_s: f64,
    /// What the evidence log costs: the same throughput run without it.
    evidence_log: EvidenceCost,
    build: &'static str,
}

/// The evidence log's cost in `bench messages` (the figures above are with
/// it, as a daemon runs).
#[derive(Serialize)]
struct EvidenceCost {
    /// Throughput runs with it and without it, alternately.
    rounds: u32,
    throughput_without_msgs_per_s: f64,
    cpu_ms_per_msg_without: f64,
    /// `(with - without) / without`, of the CPU time per message.
    cpu_overhead_percent: f64,
    /// Leaves both nodes' logs gain per message (queued, received, receipt held).
    leaves_per_msg: f64,
    /// Store bytes (keys and values) per leaf.
    bytes_per_leaf: u64,
}

fn bench_message(to: StateCode, size: usize, i: u64) -> hotline_node::api_types::SendRequest {
    let to = hotline_core::Address { state: to, role: Role::technical() };
    hotline_node::api_types::SendRequest {
        from_role: Some(Role::technical()),
        body: "x".repeat(size),
        tlp: Some(hotline_core::Tlp::Green),
        is_exercise: true,
        ..hotline_node::api_types::SendRequest::new(
            to,
            hotline_core::MessageType::StatusUpdate,
            format!("Benchmark message {i}"),
        )
    }
}

/// Waits until `h` holds `objects` live objects.
/// Starts the two nodes of `network`, the second bootstrapping from the
/// first; each publishes a technical record; returns once both hold the
/// two admissions, the two records and the two prekey bundles.
async fn start_pair(network: &LocalNetwork) -> Result<(LocalNode, LocalNode)> {
    let a = network.start(0, vec![], true).await?;
    let b = network.start(1, a.listen_addrs(), true).await?;
    for (node, m) in [(&a, &network.members[0]), (&b, &network.members[1])] {
        node.handle().publish_record(example_draft(m.state, Role::technical(), m.node_id), None).await?;
    }
    for node in [&a, &b] {
        wait_for_objects(&node.handle(), 6, Duration::from_secs(60)).await?;
    }
    Ok((a, b))
}

async fn wait_for_objects(h: &NodeHandle, objects: usize, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while h.status().await?.live_objects < objects {
        if Instant::now() > deadline {
            bail!("the directory did not reach {objects} objects within {} s", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

fn messages(args: MessagesArgs, out: &Out) -> Result<()> {
    let (count, size) = (args.count as usize, args.size as usize);
    let root = tempfile::Builder::new().prefix("hotline-bench-").tempdir()?;
    let pair = states(2);
    let network = |dir: &str, evidence_log: bool| -> Result<LocalNetwork> {
        let mut network = LocalNetwork::create(&root.path().join(dir), &pair, now())?;
        // Two nodes: each may use the whole machine, as a daemon would.
        network.node_runtime = NodeRuntime::Daemon;
        network.evidence_log = evidence_log;
        Ok(network)
    };
    let in_flight = args.in_flight as usize;
    super::daemon::runtime()?.block_on(async {
        let (a, b) = start_pair(&network("latency", true)?).await?;
        let ha = a.handle();
        let to = pair[1];
        let timeout = Duration::from_secs(30);

        // Latency: one message at a time, after a warm-up.
        let mut latencies = Vec::with_capacity(count);
        for i in 0..(count as u64 + 10) {
            let t = Instant::now();
            let sent = ha.send(bench_message(to, size, i)).await?;
            let view = ha.wait_delivered(sent.msg_id, timeout).await?;
            if view.status != MessageState::Delivered {
                bail!("message {} was not delivered within {} s", sent.msg_id, timeout.as_secs());
            }
            if i >= 10 {
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        a.shutdown().await?;
        b.shutdown().await?;

        // Throughput, with the evidence log and without it (the cost of the
        // log), in alternate rounds on fresh pairs so that drift on the
        // machine falls on both alike.
        let mut with_log = Vec::new();
        let mut without_log = Vec::new();
        for round in 0..EVIDENCE_ROUNDS {
            for evidence_log in [true, false] {
                let net = network(&format!("throughput-{round}-{evidence_log}"), evidence_log)?;
                let run = throughput_run(&net, to, count, size, in_flight).await?;
                if evidence_log { with_log.push(run) } else { without_log.push(run) }
            }
        }
        let raw = raw::round_trips(count, size).await?;
        // Yamux allows 256 streams per connection; beyond that the bare echo fails.
        let raw_throughput = raw::throughput(count, size, in_flight.min(128)).await?;
        let latency = percentiles(latencies);
        let raw = percentiles(raw);
        let mean =
            |runs: &[ThroughputRun], f: fn(&ThroughputRun) -> f64| runs.iter().map(f).sum::<f64>() / runs.len() as f64;
        let cpu_on = mean(&with_log, |r| r.cpu_ms_per_msg);
        let cpu_off = mean(&without_log, |r| r.cpu_ms_per_msg);
        let report = MessagesReport {
            bench: "messages",
            count: args.count,
            size_bytes: args.size,
            latency_ratio_vs_raw: if raw.p50 > 0.0 { latency.p50 / raw.p50 } else { 0.0 },
            latency_ms: latency,
            throughput_msgs_per_s: mean(&with_log, |r| r.msgs_per_s),
            throughput_cpu_ms_per_msg: cpu_on,
            throughput_cores_busy: mean(&with_log, |r| r.cores_busy),
            in_flight: args.in_flight,
            raw_baseline_ms: raw,
            raw_throughput_msgs_per_s: raw_throughput,
            evidence_log: EvidenceCost {
                rounds: EVIDENCE_ROUNDS,
                throughput_without_msgs_per_s: mean(&without_log, |r| r.msgs_per_s),
                cpu_ms_per_msg_without: cpu_off,
                cpu_overhead_percent: if cpu_off > 0.0 { (cpu_on - cpu_off) * 100.0 / cpu_off } else { 0.0 },
                leaves_per_msg: mean(&with_log, |r| r.leaves_per_msg),
                bytes_per_leaf: LEAF_BYTES,
            },
            build: if cfg!(debug_assertions) { "debug" } else { "release" },
        };
        out.report(&report)?;
        Ok(())
    })
}

/// Rounds of the throughput run with and without the evidence log.
const EVIDENCE_ROUNDS: u32 = 2;
/// What one leaf of the evidence log adds to the store, keys and values
/// (before the database's own overhead): on average two stored hashes (an
/// 8-byte index and 32 bytes each) and the leaf index (32 + 8 bytes).
const LEAF_BYTES: u64 = 2 * (8 + 32) + (32 + 8);

/// One throughput run of [`messages`].
struct ThroughputRun {
    msgs_per_s: f64,
    cpu_ms_per_msg: f64,
    cores_busy: f64,
    /// Leaves both nodes' evidence logs gained, per message.
    leaves_per_msg: f64,
}

/// Starts a pair of `network`, sends `count` messages with `in_flight`
/// outstanding, and measures until the outbox is empty.
async fn throughput_run(
    network: &LocalNetwork,
    to: StateCode,
    count: usize,
    size: usize,
    in_flight: usize,
) -> Result<ThroughputRun> {
    let (a, b) = start_pair(network).await?;
    let ha = a.handle();
    let leaves_before = ha.evidence().await?.size + b.handle().evidence().await?.size;
    let cpu_before = cpu_secs();
    let t = Instant::now();
    let sends = futures::stream::iter(0..count as u64)
        .map(|i| {
            let ha = ha.clone();
            async move { ha.send(bench_message(to, size, 1_000_000 + i)).await }
        })
        .buffer_unordered(in_flight);
    let results: Vec<_> = sends.collect().await;
    for r in results {
        r?;
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    // The status carries the outbox's size; listing it would cost more.
    while ha.status().await?.outbox > 0 {
        if Instant::now() > deadline {
            bail!("the throughput run did not drain within 600 s");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = t.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu_before;
    let leaves = ha.evidence().await?.size + b.handle().evidence().await?.size - leaves_before;
    a.shutdown().await?;
    b.shutdown().await?;
    Ok(ThroughputRun {
        msgs_per_s: count as f64 / elapsed,
        cpu_ms_per_msg: cpu * 1000.0 / count as f64,
        cores_busy: cpu / elapsed,
        leaves_per_msg: leaves as f64 / count as f64,
    })
}

/// Waits for a `DirectoryChanged` of `key` with `hash` on one node.
async fn wait_for_change(
    rx: &mut broadcast::Receiver<NodeEvent>,
    key: &str,
    hash: ObjectHash,
    timeout: Duration,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let event = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .with_context(|| format!("an update of {key} did not reach every node within {} s", timeout.as_secs()))?;
        match event {
            Ok(NodeEvent::DirectoryChanged { key: k, hash: h, .. }) if k == key && h == hash => return Ok(()),
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => bail!("a node stopped during the benchmark"),
        }
    }
}

/// Waits until the total number of connections over `nodes` has not changed
/// for `stable_for` (or `max` has passed: then the benchmark goes on).
async fn wait_for_stable_connections(nodes: &[NodeHandle], stable_for: Duration, max: Duration) -> Result<usize> {
    let deadline = Instant::now() + max;
    let (mut last, mut since) = (0, Instant::now());
    while Instant::now() < deadline {
        let mut total = 0;
        for node in nodes {
            total += node.status().await?.connected_peers;
        }
        if total != last {
            (last, since) = (total, Instant::now());
        } else if since.elapsed() >= stable_for {
            return Ok(total);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(last)
}

/// Polls one node until it holds `records` records; returns its live object count.
async fn wait_for_records(h: &NodeHandle, records: usize, timeout: Duration) -> Result<usize> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = h.status().await?;
        if status.records >= records {
            return Ok(status.live_objects);
        }
        if Instant::now() > deadline {
            bail!(
                "a node did not reach {records} records within {} s (it holds {})",
                timeout.as_secs(),
                status.records
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Polls `check` every 20 ms until it returns a value, for at most `within`.
async fn wait_until<T, F, Fut>(within: Duration, what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let end = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if Instant::now() > end {
            bail!("timed out after {} s waiting for {what}", within.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
