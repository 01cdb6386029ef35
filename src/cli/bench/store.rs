//! `hotline bench store`: what a node with many stored messages costs to
//! start and to read, measured on a real daemon process.
//!
//! Two nodes exchange `--sealed` messages for real (sealed, delivered,
//! receipted), so the store holds rows as real use writes them. The
//! receiving node's daemon is then started alone, as a process of its own,
//! for the baseline; its store is filled with the rest of the `--messages`
//! through the store's own API (received and sent, in cases of ten, plus
//! one case of 5,000 answers in a chain), and the daemon is started again.
//! Each time: how long until its control socket answers, its resident
//! memory, the newest inbox page of 50, and the long thread.

use super::{Percentiles, percentiles};
use crate::cli::mesh::{LocalNetwork, NodeRuntime, states};
use crate::cli::{Out, now};
use anyhow::{Context, Result, bail};
use clap::Args;
use hotline_core::{Address, CaseId, Fields, Message, MessageId, MessageType, Role, Timestamp, Tlp};
use hotline_node::Client;
use hotline_node::api_types::MessageQuery;
use hotline_node::api_types::MessageState;
use hotline_node::endpoints::{GetStatus, GetThread, ListMessages};
use hotline_store::{MessageRow, NodeConfig, ReceivedRow, SentRow, Store, WriteBatch};
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

/// Messages in the long thread.
const THREAD: usize = 5_000;
/// How many times the long thread is read after its first read.
const THREAD_READS: usize = 20;
/// Messages per write transaction while filling.
const FILL_BATCH: usize = 10_000;

#[derive(Args, Debug)]
pub(crate) struct StoreArgs {
    /// Messages in the store, in all.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(6_000..=5_000_000))]
    messages: u32,
    /// Of those, how many are sealed, delivered and receipted for real
    /// (the rest go through the store's API).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(2..=5_000))]
    sealed: u32,
    /// Keep the filled node's data directory and print where it is.
    #[arg(long)]
    keep: bool,
}

#[derive(Serialize)]
struct Reads {
    /// From starting the daemon until its control socket answers.
    start_ms: f64,
    /// The daemon's resident memory once it answers.
    rss_mb: f64,
    /// The newest 50 messages of the inbox, over the control socket.
    inbox_page_ms: Percentiles,
    /// The daemon's resident memory after the reads.
    rss_after_reads_mb: f64,
}

#[derive(Serialize)]
struct StoreReport {
    bench: &'static str,
    messages: u32,
    sealed: u32,
    /// The daemon on the store holding only the sealed messages.
    baseline: Reads,
    /// The daemon on the full store.
    full: Reads,
    /// A case of 5,000 messages, read whole: the first read after start
    /// (its pages come from the file)...
    thread_first_ms: f64,
    /// ...and the next [`THREAD_READS`].
    thread_ms: Percentiles,
    fill_secs: f64,
    db_bytes_per_message: f64,
    build: &'static str,
}

pub(super) fn store(args: StoreArgs, out: &Out) -> Result<()> {
    let root = tempfile::Builder::new().prefix("hotline-bench-store-").tempdir()?;
    let pair = states(2);
    let mut network = LocalNetwork::create(root.path(), &pair, now())?;
    network.node_runtime = NodeRuntime::Daemon;
    let sealed = args.sealed as usize;
    crate::cli::daemon::runtime()?.block_on(async {
        let (a, b) = super::start_pair(&network).await?;
        let (ha, hb) = (a.handle(), b.handle());
        // Most sealed messages go to the node measured; a tenth come from it.
        for i in 0..sealed as u64 {
            let (from, to) = if i % 10 == 9 { (&hb, pair[0]) } else { (&ha, pair[1]) };
            let sent = from.send(super::bench_message(to, 300, i)).await?;
            let view = from.wait_delivered(sent.msg_id, Duration::from_secs(30)).await?;
            if view.status != MessageState::Delivered {
                bail!("sealed message {} was not delivered", sent.msg_id);
            }
        }
        a.shutdown().await?;
        b.shutdown().await?;
        anyhow::Ok(())
    })?;

    let dir = network.members[1].data_dir.clone();
    let mut config = NodeConfig::new(pair[1]);
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    config.log_level = "warn".into();
    config.save(&dir.join(hotline_store::config::CONFIG_FILE))?;

    let baseline = measure(&dir, None)?.0;

    let fill = Instant::now();
    let thread_case = fill_store(&dir, &network, pair, args.messages as usize - sealed)?;
    let fill_secs = fill.elapsed().as_secs_f64();
    let db_bytes = std::fs::metadata(dir.join(hotline_store::DB_FILE))?.len();

    let (full, thread) = measure(&dir, Some(thread_case))?;
    let (thread_first_ms, thread_ms) = thread.context("no thread timings")?;
    let report = StoreReport {
        bench: "store",
        messages: args.messages,
        sealed: args.sealed,
        baseline,
        full,
        thread_first_ms,
        thread_ms,
        fill_secs,
        db_bytes_per_message: db_bytes as f64 / f64::from(args.messages),
        build: if cfg!(debug_assertions) { "debug" } else { "release" },
    };
    out.report(&report)?;
    if args.keep {
        eprintln!("The filled node's data directory: {}", dir.display());
        std::mem::forget(root);
    }
    Ok(())
}

/// Starts the daemon on `dir` as a process of its own, times its start,
/// reads through its control socket, and stops it.
fn measure(dir: &Path, thread: Option<CaseId>) -> Result<(Reads, Option<(f64, Percentiles)>)> {
    let exe = std::env::current_exe()?;
    let started = Instant::now();
    let child = std::process::Command::new(exe)
        .arg("--data-dir")
        .arg(dir)
        .arg("daemon")
        .stdin(std::process::Stdio::null())
        .spawn()
        .context("cannot start the daemon")?;
    let mut child = super::hardening::KillOnDrop(child);
    let pid = child.0.id();
    let client = Client::for_data_dir(dir);
    let result = crate::cli::daemon::runtime()?.block_on(async {
        let deadline = started + Duration::from_secs(600);
        while client.call(GetStatus).await.is_err() {
            if Instant::now() > deadline {
                bail!("the daemon did not answer within 600 s");
            }
            if let Ok(Some(status)) = child.0.try_wait() {
                bail!("the daemon exited: {status}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let start_ms = started.elapsed().as_secs_f64() * 1000.0;
        let rss_mb = rss_of(pid);
        let mut page = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let list = client.call(ListMessages(MessageQuery { limit: Some(50), ..Default::default() })).await?;
            page.push(t.elapsed().as_secs_f64() * 1000.0);
            if list.is_empty() {
                bail!("the inbox is empty");
            }
        }
        let thread_ms = match thread {
            None => None,
            Some(case) => {
                let mut times = Vec::new();
                for _ in 0..=THREAD_READS {
                    let t = Instant::now();
                    let views = client.call(GetThread { case }).await?;
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                    if views.len() != THREAD {
                        bail!("the long thread has {} messages, not {THREAD}", views.len());
                    }
                }
                let first = times.remove(0);
                Some((first, percentiles(times)))
            }
        };
        let reads = Reads { start_ms, rss_mb, inbox_page_ms: percentiles(page), rss_after_reads_mb: rss_of(pid) };
        anyhow::Ok((reads, thread_ms))
    });
    // SIGTERM and a clean stop: the store must be closed for the fill.
    let _ = std::process::Command::new("kill").arg(pid.to_string()).status();
    let _ = child.0.wait();
    result
}

/// Resident memory of process `pid`, in MiB (Linux).
fn rss_of(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Writes `count` messages into the store in `dir` through its API: one
/// case of [`THREAD`] answers in a chain, the rest in cases of ten, seven
/// in ten received (three of those read), the others sent and receipted.
/// Returns the long thread's case.
fn fill_store(dir: &Path, network: &LocalNetwork, pair: Vec<hotline_core::StateCode>, count: usize) -> Result<CaseId> {
    let store = Store::open(dir)?;
    let peer = network.members[0].node_id;
    let here = Address { state: pair[1], role: Role::technical() };
    let there = Address { state: pair[0], role: Role::technical() };
    let thread_case = CaseId(id_of(u64::MAX, 0xc));
    let base = now().0.saturating_sub(count as u64 + 86_400);
    let mut batch = WriteBatch::new();
    let mut previous: Option<MessageId> = None;
    for i in 0..count as u64 {
        let id = MessageId(id_of(i, 0xa));
        let in_thread = (i as usize) < THREAD;
        let case = if in_thread { thread_case } else { CaseId(id_of(i / 10, 0xb)) };
        let received = i % 10 < 7;
        let (from, to) = if received { (there.clone(), here.clone()) } else { (here.clone(), there.clone()) };
        let at = Timestamp(base + i);
        let message = Message {
            msg_id: id,
            case_id: case,
            in_reply_to: if in_thread { previous } else { None },
            kind: MessageType::Notification,
            from,
            to,
            created_at: at,
            lang: Some("en".into()),
            tlp: Tlp::Amber,
            severity: Some((i % 6) as u8),
            is_exercise: false,
            respond_by: None,
            subject: format!("Stored message {i}"),
            body: "x".repeat(300),
            fields: Fields::None,
            attachments: Vec::new(),
        };
        previous = Some(id);
        let row = if received {
            MessageRow::Received(ReceivedRow {
                message: message.to_bytes(),
                sender: peer,
                envelope_hash: {
                    let mut hash = [0u8; 32];
                    hash[..16].copy_from_slice(&id_of(i, 0xe));
                    hash[16..].copy_from_slice(&id_of(i, 0xf));
                    hash
                },
                received_at: at,
                // The size of a signed receipt; never verified on read.
                receipt: vec![0x5a; 180],
                read: i % 10 < 3,
                acknowledged_with: None,
            })
        } else {
            batch.put_receipt(id, &peer, vec![0x5a; 180]);
            MessageRow::Sent(SentRow {
                message: message.to_bytes(),
                queued_at: at,
                recipients: vec![peer],
                acknowledged_with: None,
            })
        };
        batch.put_message(id, &row);
        batch.index_case(case, id);
        if (i as usize + 1).is_multiple_of(FILL_BATCH) {
            store.write(std::mem::take(&mut batch))?;
        }
    }
    store.write(batch)?;
    Ok(thread_case)
}

/// A 16-byte id from a counter and a tag, spread over the key space like
/// random ids (splitmix64 of each half).
fn id_of(n: u64, tag: u8) -> [u8; 16] {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let seed = n ^ (u64::from(tag) << 56);
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&mix(seed).to_be_bytes());
    id[8..].copy_from_slice(&mix(seed ^ 0x5555_5555_5555_5555).to_be_bytes());
    id
}
