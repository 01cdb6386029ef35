//! `hotline demo`: a whole network on this machine, end to end.
//!
//! N nodes on loopback, each a different admitted state with its own data
//! directory, publish their policy and technical records; the directory
//! converges over the real mesh (gossip and sync). Then the dialogue: FRA's
//! technical PoC sends DEU a request for information (TLP:AMBER, severity
//! 3) and gets DEU's signed receipt; DEU acknowledges it and answers in the
//! same case; one node is stopped, a message is sent to it, and it is
//! delivered once the node is back. Last, FRA runs a communication check of
//! every other state's technical PoC in which one PoC does not answer, and
//! prints the signed report. The demo reports how long each step took.

use super::mesh::{LocalNetwork, LocalNode, example_draft, states};
use super::{Out, now};
use anyhow::{Result, bail};
use clap::Args;
use hotline_core::{Address, MessageId, MessageType, ObjectHash, Role, Tlp};
use hotline_node::NodeHandle;
use hotline_node::api_types::MessageState;
use hotline_node::api_types::{AckRequest, MessageView, SendRequest};
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
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
    /// Messages that came back with a verified, signed receipt.
    delivered: usize,
    /// Messages a person at the recipient acknowledged (a signed `human_ack`).
    acknowledged: usize,
    /// Whether the message sent to a stopped node was delivered after its restart.
    redelivered_after_restart: bool,
    /// The request for information, DEU's acknowledgement and DEU's answer.
    case_id: String,
    /// Targets of the closing communication check, per outcome.
    comcheck: std::collections::BTreeMap<String, u32>,
    timings_ms: Timings,
    data_dir: Option<String>,
}

#[derive(Serialize)]
struct Timings {
    setup: u128,
    start: u128,
    converge: u128,
    /// From send until FRA held DEU's verified receipt.
    first_delivery: u128,
    /// From DEU's acknowledgement until FRA held it.
    acknowledgement: u128,
    /// From the restarted node's start until the waiting message was delivered.
    redelivery: u128,
    /// The communication check, from start to signed report (its deadline included).
    comcheck: u128,
    total: u128,
}

/// Prints a progress line: on stdout for people, on stderr with `--json`
/// so that stdout stays one JSON document.
fn progress(out: &Out, line: &str) {
    if out.json {
        eprintln!("{line}");
    } else {
        // A reader that went away stops the output, not the demo.
        let _ = super::output::say(line);
    }
}

pub(super) fn demo(args: DemoArgs, out: &Out) -> Result<()> {
    let started = Instant::now();
    let root = tempfile::Builder::new().prefix("hotline-demo-").tempdir()?;
    let states = states(args.nodes as usize);
    progress(out, &format!("Creating a network of {} states: {}", states.len(), join_states(&states)));
    let network = LocalNetwork::create(root.path(), &states, now())?;
    progress(out, &format!("Charter signed by 2 of 3 stewards; network id {}", network.charter.network_id()));
    let setup_ms = started.elapsed().as_millis();

    super::daemon::runtime()?.block_on(async {
        let t = Instant::now();
        let mut nodes: Vec<LocalNode> = Vec::with_capacity(states.len());
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

        let dialogue = dialogue(&network, &mut nodes, bootstrap, out).await?;
        let t = Instant::now();
        let comcheck = comcheck(&network, &nodes, out).await?;
        let comcheck_ms = t.elapsed().as_millis();

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
            delivered: dialogue.delivered,
            acknowledged: dialogue.acknowledged,
            redelivered_after_restart: dialogue.redelivered,
            case_id: dialogue.case_id,
            comcheck,
            timings_ms: Timings {
                setup: setup_ms,
                start: start_ms,
                converge: converge_ms,
                first_delivery: dialogue.first_delivery_ms,
                acknowledgement: dialogue.ack_ms,
                redelivery: dialogue.redelivery_ms,
                comcheck: comcheck_ms,
                total: started.elapsed().as_millis(),
            },
            data_dir: kept.as_ref().map(|p| p.display().to_string()),
        };
        out.emit(&summary, || {
            let mut s = format!(
                "\nSummary: {} nodes, {} records, identical directories (digest {}).\n\
                 Messages: {} delivered with signed receipts, {} acknowledged, redelivered after restart: {}.\n\
                 Communication check: {}.\n\
                 Timings: setup {} ms, start {} ms, convergence {} ms, first delivery {} ms, acknowledgement {} ms, redelivery {} ms, comcheck {} ms, total {} ms.",
                summary.nodes,
                summary.records,
                &summary.digest_hash[..16],
                summary.delivered,
                summary.acknowledged,
                if summary.redelivered_after_restart { "yes" } else { "no" },
                summary.comcheck.iter().map(|(o, n)| format!("{n} {o}")).collect::<Vec<_>>().join(", "),
                summary.timings_ms.setup,
                summary.timings_ms.start,
                summary.timings_ms.converge,
                summary.timings_ms.first_delivery,
                summary.timings_ms.acknowledgement,
                summary.timings_ms.redelivery,
                summary.timings_ms.comcheck,
                summary.timings_ms.total
            );
            if let Some(dir) = &summary.data_dir {
                s += &format!("\nData directories kept in {dir}");
            }
            s
        })
    })
}

/// What the dialogue part of the demo did.
struct Dialogue {
    delivered: usize,
    acknowledged: usize,
    redelivered: bool,
    case_id: String,
    first_delivery_ms: u128,
    ack_ms: u128,
    redelivery_ms: u128,
}

/// How long the demo waits for any one message.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);

fn technical(state: hotline_core::StateCode) -> Address {
    Address { state, role: Role::technical() }
}

fn request(to: Address, kind: MessageType, subject: &str, body: &str) -> SendRequest {
    SendRequest {
        from_role: Some(Role::technical()),
        body: body.into(),
        tlp: Some(Tlp::Amber),
        is_exercise: true,
        lang: Some("en".into()),
        ..SendRequest::new(to, kind, subject)
    }
}

/// Sends and waits for every recipient node's receipt.
async fn deliver(from: &NodeHandle, request: SendRequest) -> Result<MessageView> {
    let sent = from.send(request).await?;
    let view = from.wait_delivered(sent.msg_id, MESSAGE_TIMEOUT).await?;
    if view.status != MessageState::Delivered {
        bail!("message {} was not delivered within {} s", sent.msg_id, MESSAGE_TIMEOUT.as_secs());
    }
    Ok(view)
}

/// Waits until `node` holds message `id` (received).
async fn wait_received(node: &NodeHandle, id: MessageId) -> Result<MessageView> {
    let deadline = Instant::now() + MESSAGE_TIMEOUT;
    loop {
        if let Ok(view) = node.message(id, false).await {
            return Ok(view);
        }
        if Instant::now() > deadline {
            bail!("message {id} did not arrive within {} s", MESSAGE_TIMEOUT.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn short(id: impl std::fmt::Display) -> String {
    id.to_string()[..12].to_string()
}

/// FRA asks DEU for information; DEU acknowledges and answers; the last
/// node is stopped, sent a message, restarted, and receives it.
async fn dialogue(
    network: &LocalNetwork,
    nodes: &mut Vec<LocalNode>,
    bootstrap: Vec<hotline_node::Multiaddr>,
    out: &Out,
) -> Result<Dialogue> {
    let (fra, deu) = (nodes[0].handle(), nodes[1].handle());
    let (fra_state, deu_state) = (network.members[0].state, network.members[1].state);
    let mut delivered = 0;

    let t = Instant::now();
    let mut rfi = request(
        technical(deu_state),
        MessageType::RequestForInformation,
        "Scanning of energy-sector hosts from AS64500",
        "We observe scanning of energy-sector hosts from addresses announced by AS64500. \
         Can you confirm whether these addresses are under your jurisdiction?",
    );
    rfi.severity = Some(3);
    rfi.respond_by = Some(now().plus(2 * 3600));
    let sent = deliver(&fra, rfi).await?;
    delivered += 1;
    let first_delivery_ms = t.elapsed().as_millis();
    let receipt_at = sent.deliveries.first().and_then(|d| d.received_at).map(|t| t.to_string()).unwrap_or_default();
    progress(
        out,
        &format!(
            "{fra_state}/technical sent {deu_state}/technical a request for information (TLP:AMBER, severity 3), \
             message {}: sealed with X-Wing, signed receipt from {deu_state}'s node verified ({receipt_at}) in {first_delivery_ms} ms",
            short(sent.message.msg_id)
        ),
    );

    let id = sent.message.msg_id;
    let shown = wait_received(&deu, id).await?;
    progress(out, &format!("{deu_state} holds it once, unread: \"{}\"", shown.message.subject));
    let t = Instant::now();
    let ack = deu.ack(id, AckRequest { note: Some("Received; our duty officer is on it.".into()) }).await?;
    let deadline = Instant::now() + MESSAGE_TIMEOUT;
    let acknowledged = loop {
        let view = fra.message(id, false).await?;
        if view.acknowledged_with == Some(ack.msg_id) {
            break 1;
        }
        if Instant::now() > deadline {
            bail!("{fra_state} did not receive {deu_state}'s acknowledgement within {} s", MESSAGE_TIMEOUT.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    delivered += 1;
    let ack_ms = t.elapsed().as_millis();
    progress(
        out,
        &format!(
            "{deu_state}'s PoC acknowledged it (signed human_ack {}); {fra_state} holds the acknowledgement in {ack_ms} ms",
            short(ack.msg_id)
        ),
    );

    let mut answer = request(
        technical(fra_state),
        MessageType::Response,
        "Re: Scanning of energy-sector hosts from AS64500",
        "Confirmed: two of the addresses belong to a hosting provider here. We have asked it to act.",
    );
    answer.in_reply_to = Some(id);
    let answered = deliver(&deu, answer).await?;
    delivered += 1;
    wait_received(&fra, answered.message.msg_id).await?;
    let thread = fra.thread(sent.message.case_id).await?;
    progress(
        out,
        &format!(
            "{deu_state} answered in the same case; {fra_state}'s thread {} holds {} messages",
            short(sent.message.case_id),
            thread.len()
        ),
    );

    // Stop the last node, write to it, start it again.
    let last = nodes.len() - 1;
    let (last_state, last_name) = (network.members[last].state, network.members[last].state.country_name());
    nodes.remove(last).shutdown().await?;
    progress(out, &format!("Stopped {last_state}'s node ({last_name})"));
    let mut notice = request(
        technical(last_state),
        MessageType::Notification,
        "Phishing campaign impersonating ministries",
        "Heads-up: a phishing campaign impersonating foreign ministries is active in the region.",
    );
    notice.tlp = Some(Tlp::Green);
    let queued = fra.send(notice).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pending = fra.outbox().await?;
    let attempts = pending.iter().filter(|p| p.msg_id == queued.msg_id).map(|p| p.attempts).sum::<u32>();
    progress(
        out,
        &format!(
            "{fra_state} sent {last_state} a notification while it is down: {}, {attempts} attempt(s) so far",
            queued.status
        ),
    );
    let t = Instant::now();
    nodes.push(network.start(last, bootstrap, true).await?);
    let view = fra.wait_delivered(queued.msg_id, MESSAGE_TIMEOUT).await?;
    let redelivered = view.status == MessageState::Delivered;
    if !redelivered {
        bail!("the message to {last_state} was not delivered after its restart");
    }
    delivered += 1;
    let redelivery_ms = t.elapsed().as_millis();
    let held = nodes[last].handle().messages(Default::default()).await?;
    let copies = held.iter().filter(|m| m.msg_id == queued.msg_id).count();
    progress(
        out,
        &format!(
            "Restarted {last_state}'s node: the waiting message was delivered {redelivery_ms} ms after restart, and it holds {copies} copy"
        ),
    );
    Ok(Dialogue {
        delivered,
        acknowledged,
        redelivered,
        case_id: sent.message.case_id.to_string(),
        first_delivery_ms,
        ack_ms,
        redelivery_ms,
    })
}

/// How long the closing communication check gives the PoCs to answer.
const COMCHECK_DEADLINE_SECS: u64 = 3;

/// FRA checks every other state's technical PoC (task: echo a code). All
/// answer but the last, which receives the challenge and stays silent.
async fn comcheck(
    network: &LocalNetwork,
    nodes: &[LocalNode],
    out: &Out,
) -> Result<std::collections::BTreeMap<String, u32>> {
    use hotline_core::comcheck::Outcome;
    use hotline_core::{ComcheckTask, Fields};
    use hotline_node::api_types::{ComcheckAnswerRequest, ComcheckStartRequest, MessageQuery};
    let fra = nodes[0].handle();
    let started = fra
        .comcheck_start(ComcheckStartRequest {
            to: None,
            role: Some(Role::technical()),
            deadline_secs: COMCHECK_DEADLINE_SECS,
            task: ComcheckTask::Nonce,
            announced: false,
            is_exercise: true,
            share_full: false,
            from_role: Some(Role::technical()),
        })
        .await?;
    let id = started.comcheck_id;
    progress(
        out,
        &format!(
            "{}/technical started communication check {} of {} PoCs: echo the code within {COMCHECK_DEADLINE_SECS} s",
            network.members[0].state,
            short(id),
            started.targets.len()
        ),
    );
    let silent = network.members[nodes.len() - 1].state;
    for (node, member) in nodes.iter().zip(&network.members).skip(1) {
        let h = node.handle();
        // The PoC reads the code in the challenge and answers with it.
        let deadline = Instant::now() + MESSAGE_TIMEOUT;
        let nonce = loop {
            let inbox = h.messages(MessageQuery { case: Some(id), ..Default::default() }).await?;
            if let Some(m) = inbox.first() {
                let full = h.message(m.msg_id, true).await?;
                if let Fields::ComcheckChallenge { nonce, .. } = full.message.fields {
                    break nonce;
                }
            }
            if Instant::now() > deadline {
                bail!("{}'s node did not receive the challenge", member.state);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        if member.state == silent {
            progress(out, &format!("  {} received the challenge and does not answer", member.state));
            continue;
        }
        h.comcheck_answer(id, ComcheckAnswerRequest { code: nonce, role: None, force: false }).await?;
        progress(out, &format!("  {} answered", member.state));
    }
    // The report follows the deadline.
    let deadline = Instant::now() + Duration::from_secs(COMCHECK_DEADLINE_SECS + 30);
    let report = loop {
        match fra.comcheck_report(id).await {
            Ok(r) => break r,
            Err(e) if e.code() == "not_finished" && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    progress(out, &format!("Communication check report (signed by {}):", short(&report.signer)));
    for line in &report.report.lines {
        let latency = line.latency_secs.map(|s| format!(", answered in {s} s")).unwrap_or_default();
        progress(out, &format!("  {:<14} {}{latency}", line.target.to_string(), line.outcome));
    }
    let counts: std::collections::BTreeMap<String, u32> =
        report.report.aggregates.by_outcome.iter().map(|(o, n)| (o.to_string(), *n)).collect();
    let passed = counts.get(Outcome::Pass.as_str()).copied().unwrap_or(0);
    progress(
        out,
        &format!(
            "  {passed} of {} passed; each state was sent its own line of the signed report",
            report.report.aggregates.targets
        ),
    );
    Ok(counts)
}

fn join_states(states: &[hotline_core::StateCode]) -> String {
    let names: Vec<&str> = states.iter().take(8).map(|s| s.as_str()).collect();
    if states.len() > 8 { format!("{}, …", names.join(", ")) } else { names.join(", ") }
}

/// Polls every node until all hold `records` records and the same digest.
pub(super) async fn wait_for_convergence(
    nodes: &[NodeHandle],
    records: usize,
    timeout: Duration,
    out: &Out,
) -> Result<ObjectHash> {
    let deadline = Instant::now() + timeout;
    let mut last_line = String::new();
    loop {
        let mut digests = Vec::with_capacity(nodes.len());
        let (mut complete, mut fewest) = (0, records);
        // What the lagging nodes say of themselves, for the timeout's error.
        let mut lagging = Vec::new();
        for node in nodes {
            let status = node.status().await?;
            fewest = fewest.min(status.records);
            digests.push(status.digest_hash);
            if status.records == records {
                complete += 1;
            } else if lagging.len() < 3 {
                lagging.push(status);
            }
        }
        if complete == nodes.len() && digests.windows(2).all(|w| w[0] == w[1]) {
            return Ok(digests[0]);
        }
        let line =
            format!("  converging: {complete}/{} nodes hold all {records} records (fewest: {fewest})", nodes.len());
        if line != last_line {
            progress(out, &line);
            last_line = line;
        }
        if Instant::now() > deadline {
            bail!(
                "the directory did not converge within {} s ({complete}/{} nodes complete; {})",
                timeout.as_secs(),
                nodes.len(),
                if lagging.is_empty() {
                    "their digests differ".to_string()
                } else {
                    lagging
                        .iter()
                        .map(|s| {
                            format!(
                                "{}: {} records, {} waiting, {} member connections, sync exchanges {:?}",
                                s.state, s.records, s.pending, s.connected_members, s.sync_exchanges
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                }
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
