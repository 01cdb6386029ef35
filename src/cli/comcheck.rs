//! The communication-check commands, `hotline comcheck start|status|list|
//! report|answer`. A check sends a challenge to each targeted point of
//! contact; each target then has an outcome (`pass`, `late`, `fail_key`,
//! `no_response`, `undeliverable`, or before the deadline `pending` and
//! `delivered`), and after the deadline the daemon signs a report and sends
//! each targeted state its copy.
//!
//! Like the messaging commands, they talk to the running daemon over its
//! control socket, and every input is checked here first, so a typing
//! mistake is one line before anything is sent. A check id is 32
//! hexadecimal digits; a unique prefix of at least six digits of a check
//! the node knows is accepted too.

use super::daemon::runtime;
use super::note::{clean_line, duration, relative, truncate, utc, utc_short};
use super::output::table;
use super::parse::*;
use super::{Out, now};
use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use hotline_core::comcheck::{Outcome, SignedComcheckReport};
use hotline_core::{CaseId, ComcheckTask, MessageType, NetworkId, NodeId, Role, StateCode, Timestamp};
use hotline_node::Client;
use hotline_node::api_types::MessageState;
use hotline_node::api_types::{
    ComcheckAnswerRequest, ComcheckReportView, ComcheckStartRequest, ComcheckView, MessageQuery, RecordEntry,
};
use hotline_node::endpoints::{
    AddSchedule, AnswerComcheck, GetComcheck, GetMessage, GetRecord, GetStatus, ListComchecks, ListMessages,
    ListSchedules, MakeReport, RemoveSchedule, StartComcheck,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Longest code of a `nonce` answer, in bytes (the message rule).
const MAX_CODE_BYTES: usize = 64;
/// Note width in the status table.
const NOTE_WIDTH: usize = 60;
/// Outcomes in the order people read them: the good news first.
const OUTCOME_ORDER: [Outcome; 7] = [
    Outcome::Pass,
    Outcome::Late,
    Outcome::FailKey,
    Outcome::NoResponse,
    Outcome::Undeliverable,
    Outcome::Delivered,
    Outcome::Pending,
];

#[derive(Subcommand, Debug)]
pub(crate) enum ComcheckCommand {
    /// Start a communication check: a challenge to each targeted point of contact.
    Start(StartArgs),
    /// Show a check this node started, and where each target stands.
    Status(CheckArgs),
    /// List the checks this node started.
    List,
    /// After the deadline: the signed report (the first time, each targeted
    /// state is also sent its copy).
    Report(CheckArgs),
    /// Answer a check another state sent to this one.
    Answer(AnswerArgs),
    /// Run a check every period, unannounced, at a random time within each
    /// period (kept across restarts).
    Schedule(ScheduleArgs),
    /// List the periodic checks.
    Schedules,
    /// Remove a periodic check (checks it already started are kept).
    Unschedule(UnscheduleArgs),
}

#[derive(Args, Debug)]
pub(crate) struct ScheduleArgs {
    /// The period: 1h, 7d, 30d… (at least 1m, and longer than --deadline).
    #[arg(long, value_name = "DURATION")]
    every: String,
    #[command(flatten)]
    check: StartArgs,
}

#[derive(Args, Debug)]
pub(crate) struct UnscheduleArgs {
    /// The schedule's id (32 hex digits).
    id: String,
}

#[derive(Args, Debug)]
pub(crate) struct StartArgs {
    /// The states to check: `all` (every other admitted state), or a
    /// comma-separated list such as FRA,DEU (the flag may be repeated).
    #[arg(long, value_name = "all|STATE,...", required = true)]
    to: Vec<String>,
    /// The role to check, for example policy or technical (default: both).
    #[arg(long, value_name = "ROLE")]
    role: Option<String>,
    /// How long the targets have to answer: 30s, 10m, 2h, 3d (at most 30d).
    #[arg(long, value_name = "DURATION")]
    deadline: String,
    /// What an answer must do: none (only answer), nonce (echo the code the
    /// challenge carries), confirm-record (confirm the current contact
    /// record), counterpart (the state's other role answers).
    #[arg(long, value_name = "TASK", default_value = "none")]
    task: String,
    /// Say in the challenges that the check was announced beforehand.
    #[arg(long)]
    announced: bool,
    /// Mark the challenges as an exercise.
    #[arg(long)]
    exercise: bool,
    /// Send every targeted state the full report, not only its own lines
    /// and the aggregates.
    #[arg(long)]
    share_full: bool,
    /// The role this state runs the check as.
    #[arg(long, value_name = "ROLE", default_value = "technical")]
    from_role: String,
}

#[derive(Args, Debug)]
pub(crate) struct CheckArgs {
    /// The check's id (or a unique prefix of at least 6 digits).
    #[arg(value_name = "ID")]
    id: String,
}

#[derive(Args, Debug)]
pub(crate) struct AnswerArgs {
    /// The check to answer: its id or the challenge message's id (or a
    /// unique prefix of either).
    #[arg(value_name = "ID")]
    id: String,
    /// The code the challenge asks to echo (task nonce).
    #[arg(long)]
    code: Option<String>,
    /// The role this state answers as (default: the role challenged; for a
    /// counterpart check, the state's other role).
    #[arg(long, value_name = "ROLE")]
    role: Option<String>,
    /// Send an answer that fails the check for sure (a code other than the
    /// challenge's, the wrong role, a second answer); refused otherwise.
    #[arg(long)]
    force: bool,
}

/// Runs one `hotline comcheck` command.
pub(super) fn run(cmd: ComcheckCommand, data_dir: &Path, out: &Out) -> Result<()> {
    match cmd {
        ComcheckCommand::Start(args) => start(args, data_dir, out),
        ComcheckCommand::Status(args) => status(args, data_dir, out),
        ComcheckCommand::List => list(data_dir, out),
        ComcheckCommand::Report(args) => report(args, data_dir, out),
        ComcheckCommand::Answer(args) => answer(args, data_dir, out),
        ComcheckCommand::Schedule(args) => schedule(args, data_dir, out),
        ComcheckCommand::Schedules => schedules(data_dir, out),
        ComcheckCommand::Unschedule(args) => unschedule(args, data_dir, out),
    }
}

/// `hotline comcheck schedule`.
fn schedule(args: ScheduleArgs, data_dir: &Path, out: &Out) -> Result<()> {
    let every_secs = parse_duration(args.every.trim())
        .filter(|s| *s >= 60)
        .ok_or_else(|| anyhow!("--every: give a period of at least 1m, such as 1h, 7d or 30d"))?;
    if args.check.announced {
        bail!("--announced does not apply to a schedule: scheduled checks are unannounced, to test readiness as it is");
    }
    let check = start_request(&args.check)?;
    if check.deadline_secs >= every_secs {
        bail!("--every must be longer than --deadline");
    }
    let request = hotline_node::api_types::ComcheckScheduleRequest { every_secs, check };
    let client = Client::for_data_dir(data_dir);
    let view = runtime()?.block_on(client.call(AddSchedule(request.clone()))).context("cannot schedule the check")?;
    out.emit(&view, || {
        format!(
            "Scheduled {}: an unannounced check every {} s, at a random time in each period.\nNext check: {}.",
            view.schedule_id, view.every_secs, view.next_at
        )
    })
}

/// `hotline comcheck schedules`.
fn schedules(data_dir: &Path, out: &Out) -> Result<()> {
    let client = Client::for_data_dir(data_dir);
    let list = runtime()?.block_on(client.call(ListSchedules))?;
    out.emit_list("schedules", &list, || {
        if list.is_empty() {
            return "No periodic check. Add one with `hotline comcheck schedule --every 30d …`.".to_string();
        }
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|s| {
                vec![
                    s.schedule_id.to_string(),
                    format!("{} s", s.every_secs),
                    format!("{:?}", s.check.task).to_lowercase(),
                    s.next_at.to_string(),
                    s.runs.len().to_string(),
                ]
            })
            .collect();
        super::output::table(&["SCHEDULE", "EVERY", "TASK", "NEXT", "RUNS"], &rows)
    })
}

/// `hotline comcheck unschedule`.
fn unschedule(args: UnscheduleArgs, data_dir: &Path, out: &Out) -> Result<()> {
    let id: CaseId = args.id.trim().parse().map_err(|_| anyhow!("the schedule id must be 32 hex digits"))?;
    let client = Client::for_data_dir(data_dir);
    runtime()?.block_on(client.call(RemoveSchedule { id }))?;
    out.emit(&serde_json::json!({ "removed": id }), || format!("Removed schedule {id}."))
}

// ----- commands -----

/// `hotline comcheck start`.
fn start(args: StartArgs, data_dir: &Path, out: &Out) -> Result<()> {
    let request = start_request(&args)?;
    let client = Client::for_data_dir(data_dir);
    let view = runtime()?
        .block_on(client.call(StartComcheck(request.clone())))
        .context("cannot start the communication check")?;
    if view.targets.iter().all(|t| t.challenge.is_none()) {
        let why = view.targets.iter().find_map(|t| t.note.as_deref()).unwrap_or("no reason given");
        eprintln!("warning: no challenge could be sent, so every target will be undeliverable: {}", clean_line(why));
    }
    out.emit(&view, || started_text(&view, now()))
}

/// `hotline comcheck status`.
fn status(args: CheckArgs, data_dir: &Path, out: &Out) -> Result<()> {
    let id = id_arg("comcheck id", &args.id)?;
    let client = Client::for_data_dir(data_dir);
    let view = runtime()?.block_on(async {
        let id = resolve_check(&client, id).await?;
        check(&client, id).await
    })?;
    out.emit(&view, || status_text(&view, now()))
}

/// `hotline comcheck list`.
fn list(data_dir: &Path, out: &Out) -> Result<()> {
    let list = runtime()?.block_on(Client::for_data_dir(data_dir).call(ListComchecks))?;
    out.emit_list("comchecks", &list, || {
        if list.is_empty() {
            return "No communication check was started from this node. (Checks received from other states are in \
                    hotline inbox; answer them with hotline comcheck answer.)"
                .into();
        }
        list_text(&list)
    })
}

/// `hotline comcheck report`: the signed report, checked here.
fn report(args: CheckArgs, data_dir: &Path, out: &Out) -> Result<()> {
    let id = id_arg("comcheck id", &args.id)?;
    let client = Client::for_data_dir(data_dir);
    let (view, before, signature) = runtime()?.block_on(async {
        let id = resolve_check(&client, id).await?;
        // Where it stood before: whether its copies went out already, and
        // its deadline, to say when a report can be made.
        let before = check(&client, id).await?;
        if !before.finished {
            bail!(not_finished(&before, now()));
        }
        let view = match client.call(MakeReport { id }).await {
            Err(e) if e.code() == Some("not_finished") => bail!(not_finished(&before, now())),
            r => r.with_context(|| format!("cannot make the report of comcheck {id}"))?,
        };
        let status =
            client.call(GetStatus).await.context("cannot read the network id to check the report's signature")?;
        let network: NetworkId =
            status.network_id.parse().map_err(|e| anyhow!("the daemon's network id {}: {e}", status.network_id))?;
        let initiator = &view.report.initiator;
        // Only to tell whether the signing node speaks for the initiator.
        let record = client.call(GetRecord { state: initiator.state, role: initiator.role.clone() }).await.ok();
        let signature = verify(&view, &network, record.as_ref())?;
        anyhow::Ok((view, before, signature))
    })?;
    out.emit(&view, || report_text(&view, &before, &signature))
}

/// `hotline comcheck answer`: this state's reply to a challenge received.
fn answer(args: AnswerArgs, data_dir: &Path, out: &Out) -> Result<()> {
    let id = id_arg("comcheck id", &args.id)?;
    let request = answer_request(&args)?;
    let client = Client::for_data_dir(data_dir);
    let sent = runtime()?.block_on(async {
        let id = resolve_challenge(&client, id).await?;
        let sent = client
            .call(AnswerComcheck { id, request: request.clone() })
            .await
            .with_context(|| format!("cannot answer communication check {id}"))?;
        anyhow::Ok(sent)
    })?;
    out.emit(&sent, || {
        let background =
            if sent.status == MessageState::Delivered { "" } else { "; the daemon delivers it in the background" };
        format!(
            "Answered communication check {}.\nReply:  {}\nState:  {}{background}",
            sent.case_id, sent.msg_id, sent.status
        )
    })
}

/// A check this node started; a clear line when it holds none by that id.
async fn check(client: &Client, id: CaseId) -> Result<ComcheckView> {
    match client.call(GetComcheck { id }).await {
        Err(e) if e.code() == Some("not_found") => bail!(
            "{e} (hotline comcheck list shows the checks this node started; a check received from another state \
             is answered with hotline comcheck answer)"
        ),
        r => Ok(r?),
    }
}

fn not_finished(view: &ComcheckView, now: Timestamp) -> String {
    format!(
        "comcheck {} is not finished: its deadline is {} ({}); the report can be made after it \
         (hotline comcheck status {0} shows where it stands)",
        view.comcheck_id,
        utc(view.deadline),
        relative(view.deadline, now)
    )
}

// ----- input -----

/// Checks every flag of `start` and builds the request.
fn start_request(args: &StartArgs) -> Result<ComcheckStartRequest> {
    let to = parse_targets(&args.to)?;
    let role =
        args.role.as_deref().map(|r| r.trim().parse::<Role>().map_err(|e| anyhow!("--role: {e}"))).transpose()?;
    let deadline_secs = parse_deadline(&args.deadline)?;
    let task = parse_task(&args.task)?;
    let from_role: Role = args.from_role.trim().parse().map_err(|e| anyhow!("--from-role: {e}"))?;
    Ok(ComcheckStartRequest {
        to,
        role,
        deadline_secs,
        task,
        announced: args.announced,
        is_exercise: args.exercise,
        share_full: args.share_full,
        from_role: Some(from_role),
    })
}

fn task_name(task: ComcheckTask) -> &'static str {
    TASKS.iter().find(|(_, t)| *t == task).map_or("?", |(name, _)| name)
}

/// Checks `--code` and `--role` of `answer`.
fn answer_request(args: &AnswerArgs) -> Result<ComcheckAnswerRequest> {
    let code = match args.code.as_deref().map(str::trim) {
        None => None,
        Some("") => bail!("--code must not be empty: give the code the challenge carries"),
        Some(c) if c.len() > MAX_CODE_BYTES => bail!("--code is {} bytes, the limit is {MAX_CODE_BYTES}", c.len()),
        Some(c) if c.chars().any(char::is_control) => bail!("--code contains control characters"),
        Some(c) => Some(c.to_string()),
    };
    let role =
        args.role.as_deref().map(|r| r.trim().parse::<Role>().map_err(|e| anyhow!("--role: {e}"))).transpose()?;
    Ok(ComcheckAnswerRequest { code, role, force: args.force })
}

// ----- ids -----

/// A check this node started, by id or unique prefix.
async fn resolve_check(client: &Client, id: IdArg) -> Result<CaseId> {
    let prefix = match id {
        IdArg::Full(b) => return Ok(CaseId(b)),
        IdArg::Prefix(p) => p,
    };
    let list = client.call(ListComchecks).await.context("cannot list the checks to look up an id prefix")?;
    let ids: BTreeSet<CaseId> =
        list.iter().map(|c| c.comcheck_id).filter(|id| id.to_string().starts_with(&prefix)).collect();
    unique(ids, &prefix, "check this node started")
}

/// A check received: the prefix of its id or of its challenge's id.
async fn resolve_challenge(client: &Client, id: IdArg) -> Result<CaseId> {
    let prefix = match id {
        IdArg::Full(b) => return Ok(CaseId(b)),
        IdArg::Prefix(p) => p,
    };
    // The prefix names the check (the challenges' case) or a challenge.
    let found = super::message::ids_with_prefix(client, &prefix).await?;
    let mut candidates: BTreeSet<CaseId> = found.cases.into_iter().collect();
    for id in found.messages {
        let view = client
            .call(GetMessage { id, mark_read: false })
            .await
            .context("cannot read a message to look up an id prefix")?;
        candidates.insert(view.message.case_id);
    }
    let mut ids = BTreeSet::new();
    for case in candidates {
        let query = MessageQuery { r#box: Some("inbox".into()), case: Some(case), ..Default::default() };
        let inbox =
            client.call(ListMessages(query.clone())).await.context("cannot list messages to look up an id prefix")?;
        if inbox.iter().any(|m| m.kind == MessageType::ComcheckChallenge) {
            ids.insert(case);
        }
    }
    unique(ids, &prefix, "check received")
}

fn unique(ids: BTreeSet<CaseId>, prefix: &str, what: &str) -> Result<CaseId> {
    match ids.len() {
        1 => Ok(ids.into_iter().next().unwrap_or(CaseId([0; 16]))),
        0 => bail!("no {what} has an id starting with {prefix}"),
        n => bail!("{n} checks have an id starting with {prefix}: give more digits"),
    }
}

// ----- the report's signature -----

/// What was checked of a report's signature.
#[derive(Debug)]
struct SignatureCheck {
    signer: NodeId,
    network: NetworkId,
    /// Whether the initiator's record lists the signing node; `None` when
    /// no record of the initiator is held.
    listed: Option<bool>,
}

/// Decodes the signed report, checks its signature under `network`, and
/// that it is the report the daemon showed.
fn verify(view: &ComcheckReportView, network: &NetworkId, record: Option<&RecordEntry>) -> Result<SignatureCheck> {
    let id = view.report.comcheck_id;
    let bytes = hex::decode(view.signed_hex.trim())
        .map_err(|e| anyhow!("the signed report of comcheck {id} from the daemon is not hexadecimal: {e}"))?;
    let signed = SignedComcheckReport::from_bytes(&bytes)
        .map_err(|e| anyhow!("the signed report of comcheck {id} from the daemon does not decode: {e}"))?;
    signed.verify(network).map_err(|e| anyhow!("the signed report of comcheck {id}: the {e} for network {network}"))?;
    if signed.report != view.report {
        bail!("the signed report of comcheck {id} is not the report the daemon shows");
    }
    if signed.signer.to_string() != view.signer {
        bail!(
            "the report of comcheck {id} is signed by node {}, not {} as the daemon says",
            signed.signer,
            view.signer
        );
    }
    let listed = record.map(|r| r.record.nodes.contains(&signed.signer));
    Ok(SignatureCheck { signer: signed.signer, network: *network, listed })
}

// ----- output -----

/// `pass 3, no_response 1`; `none` when empty.
fn counts_summary(counts: &BTreeMap<Outcome, u32>) -> String {
    let parts: Vec<String> =
        OUTCOME_ORDER.iter().filter_map(|o| counts.get(o).filter(|n| **n > 0).map(|n| format!("{o} {n}"))).collect();
    if parts.is_empty() { "none".into() } else { parts.join(", ") }
}

/// Thousandths as a percentage: `100%`, `66.6%`, `0%`.
fn percent(permille: u32) -> String {
    if permille.is_multiple_of(10) {
        format!("{}%", permille / 10)
    } else {
        format!("{}.{}%", permille / 10, permille % 10)
    }
}

fn latency(secs: Option<u64>) -> String {
    secs.map(duration).unwrap_or_else(|| "-".into())
}

fn time(t: Option<Timestamp>) -> String {
    t.map(utc_short).unwrap_or_else(|| "-".into())
}

/// `nonce; announced; EXERCISE; full report shared`.
fn task_line(view: &ComcheckView) -> String {
    let mut parts = vec![task_name(view.task).to_string()];
    parts.push(if view.announced { "announced" } else { "unannounced" }.into());
    if view.is_exercise {
        parts.push("EXERCISE".into());
    }
    if view.share_full {
        parts.push("every target gets the full report".into());
    }
    parts.join("; ")
}

/// What `start` prints.
fn started_text(view: &ComcheckView, now: Timestamp) -> String {
    let id = view.comcheck_id;
    let mut s = format!("Started communication check {id}.\n");
    s += &format!("Deadline:   {} ({})\n", utc(view.deadline), relative(view.deadline, now));
    s += &format!("Task:       {}\n", task_line(view));
    s += &format!("Targets:    {}\n\n", view.targets.len());
    let rows: Vec<Vec<String>> = view
        .targets
        .iter()
        .map(|t| {
            vec![
                t.target.to_string(),
                t.challenge.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
                t.note.as_deref().map(|n| truncate(n, NOTE_WIDTH * 2)).unwrap_or_else(|| "challenge queued".into()),
            ]
        })
        .collect();
    s += &fitted(&["TARGET", "CHALLENGE", "NOTE"], &rows, 2);
    s += &format!(
        "\nFollow it with hotline comcheck status {id}; after the deadline, hotline comcheck report {id} signs the \
         report and sends each targeted state its copy."
    );
    s
}

/// What `status` prints.
fn status_text(view: &ComcheckView, now: Timestamp) -> String {
    let id = view.comcheck_id;
    let mut s = format!("Comcheck:   {id}\n");
    s += &format!("Initiator:  {}\n", view.initiator);
    s += &format!("Task:       {}\n", task_line(view));
    s += &format!("Started:    {}\n", utc(view.started_at));
    s += &format!("Deadline:   {}\n", utc(view.deadline));
    if view.finished {
        s += &format!("Finished:   yes, the deadline passed {}\n", relative(view.deadline, now));
        if view.report_sent {
            s += "Report:     made, and the copies sent to the targeted states\n";
        } else {
            s += &format!("Report:     not made yet (hotline comcheck report {id})\n");
        }
    } else {
        let left = now.until(view.deadline);
        s += &format!("Time left:  {}\n", if left == 0 { "under 1s".into() } else { duration(left) });
    }
    s.push('\n');
    s += &targets_table(view);
    s += &format!("\nOutcomes:   {}", counts_summary(&view.counts));
    s
}

/// A table fitted to the screen, column `flexible` giving way first.
fn fitted(headers: &[&str], rows: &[Vec<String>], flexible: usize) -> String {
    super::output::table_fitted(headers, rows, flexible, super::output::screen_width())
}

fn targets_table(view: &ComcheckView) -> String {
    let rows: Vec<Vec<String>> = view
        .targets
        .iter()
        .map(|t| {
            vec![
                t.target.to_string(),
                t.outcome.to_string(),
                time(t.receipted_at),
                time(t.replied_at),
                latency(t.latency_secs),
                t.note.as_deref().map(|n| truncate(n, NOTE_WIDTH)).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    fitted(&["TARGET", "OUTCOME", "RECEIPTED (UTC)", "REPLIED (UTC)", "LATENCY", "NOTE"], &rows, 5)
}

/// What `list` prints: one line per check, oldest first.
fn list_text(list: &[ComcheckView]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            let state = match (c.finished, c.report_sent) {
                (false, _) => "running",
                (true, false) => "finished",
                (true, true) => "reported",
            };
            vec![
                c.comcheck_id.to_string(),
                utc_short(c.started_at),
                utc_short(c.deadline),
                task_name(c.task).to_string(),
                state.to_string(),
                c.targets.len().to_string(),
                counts_summary(&c.counts),
            ]
        })
        .collect();
    fitted(&["ID", "STARTED (UTC)", "DEADLINE (UTC)", "TASK", "STATE", "TARGETS", "OUTCOMES"], &rows, 6)
}

/// What `report` prints. `before` is the check as it stood before this
/// report was made.
fn report_text(view: &ComcheckReportView, before: &ComcheckView, signature: &SignatureCheck) -> String {
    let r = &view.report;
    let mut s = format!("Report of communication check {}\n", r.comcheck_id);
    s += &format!("Initiator:      {}\n", r.initiator);
    s += &format!("Task:           {}; {}\n", task_name(r.task), if r.announced { "announced" } else { "unannounced" });
    s += &format!("Started:        {}\n", utc(r.started_at));
    s += &format!("Deadline:       {}\n", utc(r.deadline));
    s += &format!("Issued:         {}\n", utc(r.issued_at));
    if let Some(state) = r.only_state {
        s += &format!("This copy shows only the lines of {state}.\n");
    }
    s.push('\n');
    let rows: Vec<Vec<String>> =
        r.lines.iter().map(|l| vec![l.target.to_string(), l.outcome.to_string(), latency(l.latency_secs)]).collect();
    s += &table(&["TARGET", "OUTCOME", "LATENCY"], &rows);
    s.push('\n');
    let a = &r.aggregates;
    s += &format!("Targets:        {}\n", a.targets);
    s += &format!("Outcomes:       {}\n", counts_summary(&a.by_outcome));
    let rates: Vec<String> =
        a.response_permille_by_role.iter().map(|(role, p)| format!("{role} {}", percent(*p))).collect();
    s += &format!("Response rate:  {}\n", if rates.is_empty() { "-".into() } else { rates.join(", ") });
    s += &match (a.median_latency_secs, a.p90_latency_secs) {
        (None, None) => "Latency:        no valid reply\n".to_string(),
        (m, p) => format!("Latency:        median {}, p90 {}\n", latency(m), latency(p)),
    };
    let speaks = match signature.listed {
        Some(true) => format!("{}'s record lists that node", r.initiator),
        Some(false) => format!("WARNING: {}'s record held does not list that node", r.initiator),
        None => format!("no record of {} is held to check the node against", r.initiator),
    };
    s += &format!("Signed by:      node {}\n", signature.signer);
    s += &format!("Signature:      verifies (network {}); {speaks}\n", &signature.network.to_string()[..16]);
    s += &copies_line(view, before);
    s
}

/// Where the copies of the report went.
fn copies_line(view: &ComcheckReportView, before: &ComcheckView) -> String {
    if before.report_sent {
        return "Copies:         sent to the targeted states by an earlier hotline comcheck report".into();
    }
    if view.sent_to.is_empty() {
        return "Copies:         none could be sent (see the daemon's log)".into();
    }
    let what = if before.share_full { "the full report" } else { "its own lines and the aggregates" };
    let sent: Vec<String> = view.sent_to.iter().map(StateCode::to_string).collect();
    let mut line = format!("Copies sent to: {} (each: {what})", sent.join(", "));
    let missed: BTreeSet<StateCode> =
        before.targets.iter().map(|t| t.target.state).filter(|s| !view.sent_to.contains(s)).collect();
    if !missed.is_empty() {
        let missed: Vec<String> = missed.iter().map(StateCode::to_string).collect();
        line += &format!("; not sent to {} (no challenge reached it)", missed.join(", "));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use hotline_core::comcheck::{Aggregates, ComcheckReport, ReportLine};
    use hotline_core::{Address, MessageId, SecretKey};
    use hotline_node::api_types::ComcheckTargetView;

    #[derive(Parser)]
    #[command(args_override_self = true)]
    struct Wrap {
        #[command(subcommand)]
        cmd: ComcheckCommand,
    }

    fn parse(argv: &[&str]) -> Result<ComcheckCommand, clap::Error> {
        Wrap::try_parse_from(std::iter::once("comcheck").chain(argv.iter().copied())).map(|w| w.cmd)
    }

    /// `start` with `--to DEU --deadline 2h` unless `extra` gives them.
    fn start_args(extra: &[&str]) -> StartArgs {
        let mut argv = vec!["start"];
        for (flag, value) in [("--to", "DEU"), ("--deadline", "2h")] {
            if !extra.contains(&flag) {
                argv.extend_from_slice(&[flag, value]);
            }
        }
        argv.extend_from_slice(extra);
        match parse(&argv) {
            Ok(ComcheckCommand::Start(args)) => args,
            other => panic!("{argv:?}: {other:?}"),
        }
    }

    fn start_error(extra: &[&str]) -> String {
        match start_request(&start_args(extra)) {
            Ok(r) => panic!("{extra:?} should fail, gave {r:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn state(s: &str) -> StateCode {
        s.parse().unwrap()
    }

    fn addr(s: &str, role: Role) -> Address {
        Address { state: state(s), role }
    }

    #[test]
    fn start_defaults_and_a_full_request() {
        let r = start_request(&start_args(&[])).unwrap();
        assert_eq!(r.to, Some(vec![state("DEU")]));
        assert_eq!(r.role, None);
        assert_eq!(r.deadline_secs, 7200);
        assert_eq!(r.task, ComcheckTask::None);
        assert!(!r.announced && !r.is_exercise && !r.share_full);
        assert_eq!(r.from_role, Some(Role::technical()));
        let r = start_request(&start_args(&[
            "--to",
            "fra, DEU,EST",
            "--role",
            "policy",
            "--deadline",
            "1h30m",
            "--task",
            "confirm-record",
            "--announced",
            "--exercise",
            "--share-full",
            "--from-role",
            "policy",
        ]))
        .unwrap();
        assert_eq!(r.to, Some(vec![state("FRA"), state("DEU"), state("EST")]));
        assert_eq!(r.role, Some(Role::policy()));
        assert_eq!(r.deadline_secs, 5400);
        assert_eq!(r.task, ComcheckTask::ConfirmRecord);
        assert!(r.announced && r.is_exercise && r.share_full);
        assert_eq!(r.from_role, Some(Role::policy()));
        // The JSON the daemon reads: kebab-case tasks, `to: null` for all.
        let r = start_request(&start_args(&["--to", "ALL", "--task", "Nonce"])).unwrap();
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["to"], serde_json::Value::Null);
        assert_eq!(json["task"], "nonce");
        let json = serde_json::to_value(start_request(&start_args(&["--task", "confirm-record"])).unwrap()).unwrap();
        assert_eq!(json["task"], "confirm-record");
    }

    #[test]
    fn to_lists() {
        let t = |v: &[&str]| parse_targets(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(t(&["all"]).unwrap(), None);
        assert_eq!(t(&[" All "]).unwrap(), None);
        assert_eq!(t(&["DEU"]).unwrap(), Some(vec![state("DEU")]));
        assert_eq!(t(&["DEU,FRA", "est"]).unwrap(), Some(vec![state("DEU"), state("FRA"), state("EST")]));
        assert_eq!(t(&["DEU,deu, DEU"]).unwrap(), Some(vec![state("DEU")]), "duplicates are dropped");
        assert!(t(&["DEU,"]).unwrap_err().to_string().contains("an empty entry"));
        assert!(t(&[""]).unwrap_err().to_string().contains("an empty entry"));
        assert!(t(&["all,DEU"]).unwrap_err().to_string().contains("not both"));
        assert!(t(&["DEU", "all"]).unwrap_err().to_string().contains("not both"));
        let e = t(&["DEU,XXX"]).unwrap_err().to_string();
        assert_eq!(e, "--to: 'XXX' is not an ISO 3166-1 alpha-3 country code (for example FRA, DEU, EST)");
        // Repeated flags are kept, not overridden.
        assert_eq!(start_request(&start_args(&["--to", "FRA", "--to", "EST"])).unwrap().to.unwrap().len(), 2);
    }

    #[test]
    fn deadlines() {
        assert_eq!(parse_deadline("30s").unwrap(), 30);
        assert_eq!(parse_deadline("4s").unwrap(), 4);
        assert_eq!(parse_deadline("10m").unwrap(), 600);
        assert_eq!(parse_deadline("2h").unwrap(), 7200);
        assert_eq!(parse_deadline(" 3d ").unwrap(), 259_200);
        assert_eq!(parse_deadline("30d").unwrap(), MAX_DEADLINE_SECS);
        assert!(parse_deadline("0s").unwrap_err().to_string().contains("at least 1s"));
        assert!(parse_deadline("31d").unwrap_err().to_string().contains("at most 30d"));
        assert!(parse_deadline("99999999999999999999s").unwrap_err().to_string().contains("not a duration"));
        for bad in ["", "2", "soon", "2x", "h", "-1h"] {
            let e = parse_deadline(bad).unwrap_err().to_string();
            assert_eq!(e, format!("--deadline '{bad}' is not a duration (for example 30s, 10m, 2h, 3d)"));
        }
    }

    #[test]
    fn tasks() {
        for (name, task) in TASKS {
            assert_eq!(parse_task(name).unwrap(), task);
            assert_eq!(task_name(task), name);
            // The names are the API's.
            assert_eq!(serde_json::to_value(task).unwrap(), name);
        }
        let e = parse_task("bogus").unwrap_err().to_string();
        assert_eq!(e, "--task: 'bogus' is not a comcheck task; use one of: none, nonce, confirm-record, counterpart");
        assert!(parse_task("confirm_record").is_err());
    }

    #[test]
    fn bad_inputs_are_one_clear_line() {
        let cases: &[(&[&str], &str)] = &[
            (&["--to", "XXX"], "--to: 'XXX' is not an ISO 3166-1 alpha-3"),
            (&["--to", "DEU,,FRA"], "--to: an empty entry"),
            (&["--role", "Policy"], "--role: 'Policy' is not a valid role name"),
            (&["--from-role", "a b"], "--from-role: 'a b' is not a valid role name"),
            (&["--deadline", "tomorrow"], "--deadline 'tomorrow' is not a duration"),
            (&["--deadline", "0m"], "--deadline must be at least 1s"),
            (&["--task", "ping"], "--task: 'ping' is not a comcheck task"),
        ];
        for (extra, want) in cases {
            let e = start_error(extra);
            assert!(e.contains(want), "{extra:?}: {e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
        // Clap's own checks: --to and --deadline are required.
        assert!(parse(&["start", "--deadline", "2h"]).is_err());
        assert!(parse(&["start", "--to", "DEU"]).is_err());
    }

    #[test]
    fn ids_and_answers() {
        let full = "AB".repeat(16);
        assert!(matches!(parse(&["status", &full]), Ok(ComcheckCommand::Status(_))));
        assert!(matches!(parse(&["list"]), Ok(ComcheckCommand::List)));
        assert_eq!(id_arg("comcheck id", &full).unwrap(), IdArg::Full([0xab; 16]));
        assert_eq!(id_arg("comcheck id", "abcdef").unwrap(), IdArg::Prefix("abcdef".into()));
        let e = id_arg("comcheck id", "xyz").unwrap_err().to_string();
        assert!(e.starts_with("'xyz' is not a comcheck id"), "{e}");
        let answer = |extra: &[&str]| {
            let mut argv = vec!["answer", full.as_str()];
            argv.extend_from_slice(extra);
            match parse(&argv) {
                Ok(ComcheckCommand::Answer(args)) => answer_request(&args),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(answer(&[]).unwrap(), ComcheckAnswerRequest { code: None, role: None, force: false });
        let r = answer(&["--code", " 1a2b3c4d ", "--role", "policy"]).unwrap();
        assert_eq!(
            r,
            ComcheckAnswerRequest { code: Some("1a2b3c4d".into()), role: Some(Role::policy()), force: false }
        );
        assert!(answer(&["--code", " "]).unwrap_err().to_string().contains("--code must not be empty"));
        assert!(answer(&["--code", &"x".repeat(65)]).unwrap_err().to_string().contains("the limit is 64"));
        assert!(answer(&["--code", "a\u{1b}b"]).unwrap_err().to_string().contains("control characters"));
        assert!(answer(&["--role", "TECH"]).unwrap_err().to_string().starts_with("--role: 'TECH'"));
    }

    #[test]
    fn counts_and_percentages() {
        let counts: BTreeMap<Outcome, u32> =
            [(Outcome::NoResponse, 1), (Outcome::Pass, 3), (Outcome::Late, 0)].into_iter().collect();
        assert_eq!(counts_summary(&counts), "pass 3, no_response 1");
        assert_eq!(counts_summary(&BTreeMap::new()), "none");
        assert_eq!(percent(1000), "100%");
        assert_eq!(percent(666), "66.6%");
        assert_eq!(percent(500), "50%");
        assert_eq!(percent(5), "0.5%");
        assert_eq!(percent(0), "0%");
    }

    const T0: Timestamp = Timestamp(1_800_000_000);

    fn view() -> ComcheckView {
        let target = |s: &str, outcome, replied: Option<u64>, note: Option<&str>| ComcheckTargetView {
            target: addr(s, Role::technical()),
            outcome,
            challenge: note.is_none().then_some(MessageId([1; 16])),
            receipted_at: note.is_none().then_some(Timestamp(T0.0 + 1)),
            replied_at: replied.map(|r| Timestamp(T0.0 + r)),
            latency_secs: replied,
            note: note.map(String::from),
        };
        ComcheckView {
            comcheck_id: CaseId([0xcd; 16]),
            initiator: addr("FRA", Role::technical()),
            started_at: T0,
            deadline: T0.plus(7200),
            task: ComcheckTask::Nonce,
            announced: false,
            is_exercise: true,
            old_exercise: None,
            share_full: false,
            finished: false,
            counts: [(Outcome::Pass, 1), (Outcome::Pending, 1)].into_iter().collect(),
            targets: vec![
                target("DEU", Outcome::Pass, Some(95), None),
                target("EST", Outcome::Pending, None, Some("no contact record of EST/technical is held")),
            ],
            report_sent: false,
        }
    }

    #[test]
    fn status_and_list_text() {
        let v = view();
        let text = status_text(&v, T0.plus(600));
        for want in [
            format!("Comcheck:   {}", "cd".repeat(16)),
            "Initiator:  FRA/technical".into(),
            "Task:       nonce; unannounced; EXERCISE".into(),
            "Time left:  1h50m".into(),
            "DEU/technical  pass".into(),
            "1m35s".into(),
            "no contact record of EST/technical is held".into(),
            "Outcomes:   pass 1, pending 1".into(),
        ] {
            assert!(text.contains(&want), "{want:?} missing from:\n{text}");
        }
        assert!(
            text.contains("TARGET         OUTCOME  RECEIPTED (UTC)      REPLIED (UTC)        LATENCY  NOTE"),
            "{text}"
        );
        let mut done = v.clone();
        done.finished = true;
        let text = status_text(&done, T0.plus(7500));
        assert!(text.contains("Finished:   yes, the deadline passed 5m ago"), "{text}");
        assert!(text.contains(&format!("Report:     not made yet (hotline comcheck report {})", "cd".repeat(16))));
        let text = list_text(&[v, done]);
        assert!(text.starts_with("ID "), "{text}");
        assert!(text.contains("nonce  running   2        pass 1, pending 1"), "{text}");
        assert!(text.contains("finished"), "{text}");
        let text = started_text(&view(), T0);
        assert!(text.starts_with(&format!("Started communication check {}.\n", "cd".repeat(16))), "{text}");
        assert!(text.contains("(in 2h)") && text.contains("challenge queued"), "{text}");
    }

    #[test]
    fn the_report_is_verified_and_shown() {
        let lines = vec![
            ReportLine { target: addr("DEU", Role::technical()), outcome: Outcome::Pass, latency_secs: Some(3) },
            ReportLine { target: addr("EST", Role::technical()), outcome: Outcome::NoResponse, latency_secs: None },
            ReportLine { target: addr("EST", Role::policy()), outcome: Outcome::Undeliverable, latency_secs: None },
        ];
        let report = ComcheckReport {
            comcheck_id: CaseId([0xcd; 16]),
            initiator: addr("FRA", Role::technical()),
            started_at: T0,
            deadline: T0.plus(60),
            task: ComcheckTask::Nonce,
            announced: true,
            issued_at: T0.plus(61),
            aggregates: Aggregates::of(&lines),
            lines,
            only_state: None,
        };
        let key = SecretKey::from_seed(&[5; 32]);
        let network = NetworkId([7; 32]);
        let signed = SignedComcheckReport::sign(report.clone(), &key, &network);
        let good = ComcheckReportView {
            report,
            signer: signed.signer.to_string(),
            signed_hex: hex::encode(signed.to_bytes()),
            sent_to: vec![state("DEU")],
        };
        let check = verify(&good, &network, None).unwrap();
        assert_eq!(check.signer, signed.signer);
        assert_eq!(check.listed, None);
        let mut before = view();
        before.finished = true;
        let text = report_text(&good, &before, &check);
        for want in [
            "Task:           nonce; announced",
            "DEU/technical  pass           3s",
            "EST/policy     undeliverable  -",
            "Targets:        3",
            "Outcomes:       pass 1, no_response 1, undeliverable 1",
            "Response rate:  policy 0%, technical 50%",
            "Latency:        median 3s, p90 3s",
            "Signature:      verifies (network 0707070707070707); no record of FRA/technical is held",
            "Copies sent to: DEU (each: its own lines and the aggregates); not sent to EST (no challenge reached it)",
        ] {
            assert!(text.contains(want), "{want:?} missing from:\n{text}");
        }
        before.report_sent = true;
        assert!(report_text(&good, &before, &check).contains("by an earlier hotline comcheck report"));

        // Another network, another report, another signer: each refused.
        let e = verify(&good, &NetworkId([8; 32]), None).unwrap_err().to_string();
        assert!(e.contains("signature does not verify"), "{e}");
        let mut changed = good.clone();
        changed.report.lines[1].outcome = Outcome::Pass;
        assert!(verify(&changed, &network, None).unwrap_err().to_string().contains("not the report the daemon shows"));
        let mut other = good.clone();
        other.signer = NodeId([9; 32]).to_string();
        assert!(verify(&other, &network, None).unwrap_err().to_string().contains("as the daemon says"));
        let mut garbled = good.clone();
        garbled.signed_hex = "zz".into();
        assert!(verify(&garbled, &network, None).unwrap_err().to_string().contains("not hexadecimal"));
        garbled.signed_hex = "00".into();
        assert!(verify(&garbled, &network, None).unwrap_err().to_string().contains("does not decode"));
    }
}
