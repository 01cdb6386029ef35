//! `hotline demo`: a whole network on this machine, end to end.
//!
//! N nodes on loopback, each a different admitted state with its own data
//! directory, publish their policy and technical records; the directory
//! converges over the real mesh (gossip and sync), and the demo reports how
//! long that took.

use super::mesh::{LocalNetwork, example_draft, states};
use super::{Out, now};
use anyhow::{Result, bail};
use clap::Args;
use hotline_core::{ObjectHash, Role};
use hotline_node::{NodeHandle, RunningNode};
use serde::Serialize;
use std::io::Write;
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// How many nodes (states) to start.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(2..=193))]
    nodes: u16,
    /// Keep the data directories (printed at the end) instead of deleting them.
    #[arg(long)]
    keep: bool,
}

#[derive(Serialize)]
struct Summary {
    nodes: usize,
    states: Vec<String>,
    records: usize,
    converged: bool,
    digest_hash: String,
    timings_ms: Timings,
    data_dir: Option<String>,
}

#[derive(Serialize)]
struct Timings {
    setup: u128,
    start: u128,
    converge: u128,
    total: u128,
}

/// Prints a progress line: on stdout for people, on stderr with `--json`
/// so that stdout stays one JSON document.
fn progress(out: &Out, line: &str) {
    if out.json {
        eprintln!("{line}");
    } else {
        println!("{line}");
        let _ = std::io::stdout().flush();
    }
}

pub fn demo(args: DemoArgs, out: &Out) -> Result<()> {
    let started = Instant::now();
    let root = tempfile::Builder::new().prefix("hotline-demo-").tempdir()?;
    let states = states(args.nodes as usize);
    progress(out, &format!("Creating a network of {} states: {}", states.len(), join_states(&states)));
    let network = LocalNetwork::create(root.path(), &states, now())?;
    progress(out, &format!("Charter signed by 2 of 3 stewards; network id {}", network.charter.network_id()));
    let setup_ms = started.elapsed().as_millis();

    super::daemon::runtime()?.block_on(async {
        let t = Instant::now();
        let mut nodes: Vec<RunningNode> = Vec::with_capacity(states.len());
        let first = network.start(0, vec![], true).await?;
        let bootstrap = first.listen_addrs();
        nodes.push(first);
        for i in 1..states.len() {
            nodes.push(network.start(i, bootstrap.clone(), true).await?);
        }
        let start_ms = t.elapsed().as_millis();
        progress(out, &format!("Started {} nodes on loopback; each knows only its own admission", nodes.len()));

        let t = Instant::now();
        for (node, member) in nodes.iter().zip(&network.members) {
            for role in [Role::policy(), Role::technical()] {
                node.handle().publish_record(example_draft(member.state, role, member.node_id), None).await?;
            }
        }
        progress(out, &format!("Each state published its policy and technical records ({} records)", 2 * nodes.len()));

        let handles: Vec<NodeHandle> = nodes.iter().map(|n| n.handle()).collect();
        let digest = wait_for_convergence(&handles, 2 * nodes.len(), Duration::from_secs(60), out).await?;
        let converge_ms = t.elapsed().as_millis();
        progress(out, &format!("Converged: all {} nodes hold the same directory in {converge_ms} ms", nodes.len()));

        for node in nodes {
            node.shutdown().await?;
        }
        let kept = if args.keep { Some(root.keep()) } else { None };
        let summary = Summary {
            nodes: states.len(),
            states: states.iter().map(|s| s.to_string()).collect(),
            records: 2 * states.len(),
            converged: true,
            digest_hash: digest.to_string(),
            timings_ms: Timings { setup: setup_ms, start: start_ms, converge: converge_ms, total: started.elapsed().as_millis() },
            data_dir: kept.as_ref().map(|p| p.display().to_string()),
        };
        out.emit(&summary, || {
            let mut s = format!(
                "\nSummary: {} nodes, {} records, identical directories (digest {}).\nTimings: setup {} ms, start {} ms, convergence {} ms, total {} ms.",
                summary.nodes,
                summary.records,
                &summary.digest_hash[..16],
                summary.timings_ms.setup,
                summary.timings_ms.start,
                summary.timings_ms.converge,
                summary.timings_ms.total
            );
            if let Some(dir) = &summary.data_dir {
                s += &format!("\nData directories kept in {dir}");
            }
            s
        })
    })
}

fn join_states(states: &[hotline_core::StateCode]) -> String {
    let names: Vec<&str> = states.iter().take(8).map(|s| s.as_str()).collect();
    if states.len() > 8 { format!("{}, …", names.join(", ")) } else { names.join(", ") }
}

/// Polls every node until all hold `records` records and the same digest.
pub async fn wait_for_convergence(
    nodes: &[NodeHandle],
    records: usize,
    timeout: Duration,
    out: &Out,
) -> Result<ObjectHash> {
    let deadline = Instant::now() + timeout;
    let mut last_line = String::new();
    loop {
        let mut digests = Vec::with_capacity(nodes.len());
        let mut complete = 0;
        for node in nodes {
            let status = node.status().await?;
            if status.records == records {
                complete += 1;
            }
            digests.push(status.digest_hash);
        }
        if complete == nodes.len() && digests.windows(2).all(|w| w[0] == w[1]) {
            return Ok(digests[0]);
        }
        let line = format!("  converging: {complete}/{} nodes hold all {records} records", nodes.len());
        if line != last_line {
            progress(out, &line);
            last_line = line;
        }
        if Instant::now() > deadline {
            bail!(
                "the directory did not converge within {} s ({complete}/{} nodes complete)",
                timeout.as_secs(),
                nodes.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
