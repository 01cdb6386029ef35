//! The messaging commands: `send`, `inbox`, `show`, `thread`, `ack` and
//! `outbox`. They talk to the running daemon over its control socket (the
//! daemon holds the keys, the store and the connections); every input is
//! checked here first, so a typing mistake is reported on one line before
//! anything is sent.
//!
//! Message and case ids are 32 hexadecimal digits; a unique prefix of at
//! least six digits of an id the node holds is accepted too.

use super::daemon::runtime;
use super::note::{self, clean_line, duration, short_peer, truncate, utc_short};
use super::output::table;
use super::parse::*;
use super::{Out, now};
use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use hotline_core::{Address, CaseId, Fields, Message, MessageId, MessageType, Role, Timestamp, Tlp};
use hotline_node::Client;
use hotline_node::api_types::{
    AckRequest, MessageQuery, MessageSummary, MessageView, NodeEvent, OutboxItem, SendRequest, SendResponse,
};
use hotline_node::api_types::{DeliveryState, DeliveryView, Direction, MessageState};
use hotline_node::endpoints::{
    AckMessage, CancelMessage, FindIds, GetLiveness, GetMessage, GetOutbox, GetRecord, GetThread, ListMessages,
    SendMessage, WaitDelivered,
};
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

/// Longest acknowledgement note, in bytes (the message rule).
const MAX_NOTE_BYTES: usize = 4096;
/// Subject width in the inbox table.
const SUBJECT_WIDTH: usize = 48;

#[derive(Args, Debug)]
pub(crate) struct SendArgs {
    /// The recipient point of contact: a state, optionally with a role
    /// (default role: technical), for example DEU or DEU/policy. With
    /// --reply-to and no --to: the other end of the message answered.
    #[arg(long, value_name = "STATE[/ROLE]", required_unless_present = "reply_to")]
    to: Option<String>,
    /// The message type: notification, request_for_information,
    /// request_for_assistance, consultation_request, response,
    /// status_update, case_close, vulnerability_notice, referral
    /// (with --reply-to and no --to: response).
    #[arg(long = "type", value_name = "TYPE", required_unless_present = "reply_to")]
    kind: Option<String>,
    /// The subject line (with --reply-to and no --to: "Re: " and the
    /// subject answered).
    #[arg(long, required_unless_present = "reply_to")]
    subject: Option<String>,
    /// The body text. Without --body or --body-file, the body is read from
    /// standard input when it is not a terminal (pass --body '' for none).
    #[arg(long)]
    body: Option<String>,
    /// Read the body from this file (`-`: standard input).
    #[arg(long, value_name = "FILE")]
    body_file: Option<PathBuf>,
    /// The role this state sends as: policy or technical (or another the
    /// charter declares). Default: $HOTLINE_ROLE, else technical (with
    /// --reply-to and no --to: the role the message answered was for); a
    /// diplomat's profile sets HOTLINE_ROLE=policy once.
    #[arg(long, value_name = "ROLE", env = "HOTLINE_ROLE")]
    from_role: Option<String>,
    /// TLP 2.0 label: CLEAR, GREEN, AMBER, AMBER+STRICT or RED (default: AMBER).
    #[arg(long)]
    tlp: Option<String>,
    /// Severity, 0 (none) to 5 (critical).
    #[arg(long, value_name = "0-5", allow_negative_numbers = true)]
    severity: Option<String>,
    /// Mark the message as an exercise, not a real incident (a reply to an
    /// exercise is one by default).
    #[arg(long)]
    exercise: bool,
    /// When an answer is expected: a duration from now (30m, 2h, 3d), a
    /// clock time today (16:00, in $HOTLINE_TZ or $TZ, else UTC), a UTC
    /// time (2026-11-22T18:00Z) or Unix seconds.
    #[arg(long, value_name = "WHEN", allow_hyphen_values = true)]
    respond_by: Option<String>,
    /// The case to file the message under (default: the case of
    /// --reply-to, else a new case).
    #[arg(long, value_name = "CASEID")]
    case: Option<String>,
    /// The message this one answers.
    #[arg(long, value_name = "MSGID")]
    reply_to: Option<String>,
    /// BCP 47 language of subject and body, for example en or fr.
    #[arg(long, value_name = "LANG")]
    lang: Option<String>,
    /// Wait until every recipient node has returned a signed receipt; fail
    /// if that takes longer than --timeout.
    #[arg(long)]
    wait: bool,
    /// Send even though the recipient's contact record is about to expire
    /// (the daemon refuses otherwise, naming its alternates and channels),
    /// or with a lower TLP than the message answered, or as real when it
    /// was an exercise.
    #[arg(long)]
    force: bool,
    /// How long --wait waits (at most 1h; default 30s).
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct InboxArgs {
    /// Only messages no one has displayed yet.
    #[arg(long)]
    unread: bool,
    /// Only the messages of this case.
    #[arg(long, value_name = "CASEID")]
    case: Option<String>,
    /// List the messages sent from this node instead.
    #[arg(long)]
    sent: bool,
    /// List received and sent messages.
    #[arg(long)]
    all: bool,
    /// The most messages to list: the newest ones (1 to 1000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
    limit: u16,
    /// List the messages older than this cursor, as a page ends with.
    #[arg(long, value_name = "CURSOR")]
    before: Option<String>,
    /// Only this point of contact's messages: received ones written to the
    /// role, sent ones written from it (a node shared by a state's PoCs).
    #[arg(long)]
    role: Option<Role>,
}

#[derive(Args, Debug)]
pub(crate) struct ShowArgs {
    /// The message id (or a unique prefix of at least 6 digits).
    #[arg(value_name = "MSGID")]
    id: String,
}

#[derive(Args, Debug)]
pub(crate) struct ThreadArgs {
    /// The case id, or the id of one of its messages (or a unique prefix).
    #[arg(value_name = "CASEID")]
    case: String,
}

#[derive(Args, Debug)]
pub(crate) struct AckArgs {
    /// The received message to acknowledge (or a unique prefix of its id).
    #[arg(value_name = "MSGID")]
    id: String,
    /// A note for the sender.
    #[arg(long)]
    note: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct OutboxArgs {
    #[command(subcommand)]
    action: Option<OutboxAction>,
}

#[derive(clap::Subcommand, Debug)]
pub(crate) enum OutboxAction {
    /// Withdraw the deliveries of a sent message that are still waiting
    /// (the message stays in the sent box, marked cancelled).
    Cancel {
        /// The sent message (or a unique prefix of its id).
        #[arg(value_name = "MSGID")]
        id: String,
    },
}

// ----- commands -----

#[derive(Args, Debug)]
pub(crate) struct ReplyArgs {
    /// The message answered (or a unique prefix of its id).
    #[arg(value_name = "MSGID")]
    id: String,
    #[command(flatten)]
    send: ReplyFlags,
}

/// The flags of `send` that a reply may set; the rest comes from the
/// message answered.
#[derive(Args, Debug)]
pub(crate) struct ReplyFlags {
    /// The subject line (default: "Re: " and the subject answered).
    #[arg(long)]
    subject: Option<String>,
    /// The message type (default: response).
    #[arg(long = "type", value_name = "TYPE")]
    kind: Option<String>,
    /// The body text; without it or --body-file, read from standard input
    /// when it is not a terminal.
    #[arg(long)]
    body: Option<String>,
    /// Read the body from this file (`-`: standard input).
    #[arg(long, value_name = "FILE")]
    body_file: Option<PathBuf>,
    /// TLP 2.0 label (default: the label of the message answered; lower
    /// only with --force).
    #[arg(long)]
    tlp: Option<String>,
    /// Severity, 0 (none) to 5 (critical).
    #[arg(long, value_name = "0-5", allow_negative_numbers = true)]
    severity: Option<String>,
    /// When an answer is expected (30m, 2h, 16:00, 2026-11-22T18:00Z).
    #[arg(long, value_name = "WHEN", allow_hyphen_values = true)]
    respond_by: Option<String>,
    /// Wait for the signed receipts.
    #[arg(long)]
    wait: bool,
    /// How long --wait waits (at most 1h; default 30s).
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
    /// Lower the TLP, or answer an exercise as real, on purpose.
    #[arg(long)]
    force: bool,
}

/// `hotline reply MSGID`: a `send --reply-to MSGID` whose recipient, role,
/// case, type, TLP and exercise mark come from the message answered.
pub(super) fn reply(args: ReplyArgs, data_dir: &Path, out: &Out) -> Result<()> {
    let f = args.send;
    let send_args = SendArgs {
        to: None,
        kind: f.kind,
        subject: f.subject,
        body: f.body,
        body_file: f.body_file,
        from_role: None,
        tlp: f.tlp,
        severity: f.severity,
        exercise: false,
        respond_by: f.respond_by,
        case: None,
        reply_to: Some(args.id),
        lang: None,
        wait: f.wait,
        force: f.force,
        timeout: f.timeout,
    };
    send(send_args, data_dir, out)
}

/// Fills what a reply leaves out from the message it answers: the other
/// end as recipient, this end's role, `response`, "Re: subject", and the
/// exercise mark (the daemon keeps the TLP). Only when --to is not given.
fn fill_from_parent(mut args: SendArgs, data_dir: &Path) -> Result<SendArgs> {
    let (Some(parent), None) = (args.reply_to.clone(), &args.to) else { return Ok(args) };
    let client = Client::for_data_dir(data_dir);
    let id = id_arg("--reply-to message id", &parent)?;
    let view = runtime()?.block_on(async {
        let id = resolve_message(&client, id).await?;
        client.call(GetMessage { id, mark_read: false }).await.context("cannot read the message answered")
    })?;
    let m = &view.message;
    let (other, mine) = match view.direction {
        Direction::In => (&m.from, &m.to),
        Direction::Out => (&m.to, &m.from),
    };
    args.to = Some(other.to_string());
    args.from_role = args.from_role.or_else(|| Some(mine.role.to_string()));
    args.kind = args.kind.or_else(|| Some(MessageType::Response.to_string()));
    args.subject = args.subject.or_else(|| {
        let s = m.subject.as_str();
        Some(if s.starts_with("Re: ") { s.to_string() } else { format!("Re: {s}") })
    });
    args.exercise = args.exercise || m.is_exercise;
    Ok(args)
}

/// `hotline send`.
pub(super) fn send(args: SendArgs, data_dir: &Path, out: &Out) -> Result<()> {
    let args = fill_from_parent(args, data_dir)?;
    let timeout = match (&args.timeout, args.wait) {
        (Some(_), false) => bail!("--timeout applies only with --wait"),
        (Some(t), true) => parse_timeout(t)?,
        (None, _) => 30,
    };
    let body = read_body(args.body.as_deref(), args.body_file.as_deref())?;
    let draft = draft(&args, body, now())?;
    let client = Client::for_data_dir(data_dir);
    let (sent, waited, zone, down) = runtime()?.block_on(async {
        let mut request = draft.request;
        if let Some(parent) = draft.reply_to {
            request.in_reply_to = Some(resolve_message(&client, parent).await?);
        }
        if let Some(case) = draft.case {
            request.case_id = Some(resolve_case(&client, case).await?);
        }
        let sent = client.call(SendMessage(request.clone())).await.context("cannot send the message")?;
        let waited = if args.wait {
            let failed = || format!("message {} is queued, but waiting for its delivery failed", sent.msg_id);
            let mut view =
                client.call(WaitDelivered { id: sent.msg_id, timeout_secs: timeout }).await.with_context(failed)?;
            // The daemon can call a delivery done a moment before its receipt
            // is on disk (and shown); ask again briefly rather than print a
            // delivery without its receipt.
            let settle = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while view.status == MessageState::Delivered
                && view.deliveries.iter().any(|d| d.receipt.is_none())
                && std::time::Instant::now() < settle
            {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                view = client.call(GetMessage { id: sent.msg_id, mark_read: false }).await.with_context(failed)?;
            }
            Some(view)
        } else {
            None
        };
        // The sender's own time zone, for the respond-by line.
        let zone = match &sent.from {
            Some(from) => client
                .call(GetRecord { state: from.state, role: from.role.clone() })
                .await
                .ok()
                .map(|r| r.record.timezone),
            None => None,
        };
        let down = match (&waited, &sent.to) {
            (Some(view), _) if view.status == MessageState::Delivered => None,
            (_, Some(to)) => unreachable_note(&client, to, &sent.deliveries).await,
            (_, None) => None,
        };
        anyhow::Ok((sent, waited, zone, down))
    })?;
    let to = draft.to;
    let handling = handling_line(&sent, zone.as_deref());
    match waited {
        None => out.emit(&sent, || {
            let nodes =
                if sent.deliveries.len() == 1 { "1 node".into() } else { format!("{} nodes", sent.deliveries.len()) };
            let mut text = format!(
                "{handling}Message: {}\nCase:    {}\nState:   {} for {to} ({nodes}); the daemon delivers it in the background",
                sent.msg_id, sent.case_id, sent.status
            );
            if let Some(down) = &down {
                text.push_str(&format!("\n{down}"));
            }
            text
        }),
        Some(view) => {
            if view.status != MessageState::Delivered {
                match &down {
                    Some(down) => bail!("{}; {down}", not_delivered(&view, timeout)),
                    None => bail!(not_delivered(&view, timeout)),
                }
            }
            let m = &view.message;
            let response = SendResponse {
                msg_id: m.msg_id,
                case_id: m.case_id,
                status: view.status, old_state: hotline_node::api_types::old_name(view.status),
                deliveries: view.deliveries.clone(),
                from: Some(m.from.clone()),
                to: Some(m.to.clone()),
                tlp: Some(m.tlp),
                is_exercise: m.is_exercise,
                respond_by: m.respond_by,
            };
            out.emit(&response, || {
                let mut s = format!(
                    "{handling}Message: {}\nCase:    {}\nState:   {} to {to}\n",
                    response.msg_id, response.case_id, response.status
                );
                for d in &response.deliveries {
                    s.push_str(&format!("  {}\n", note::delivery_line(d)));
                }
                s
            })
        }
    }
}

/// The line that opens `send`'s answer, so that a wrong role or label
/// shows before anything else: `From FRA/policy → DEU/policy · TLP:AMBER ·
/// respond by 17:52 UTC (18:52 Europe/Paris)`, with a newline; empty if the
/// daemon did not say (an older one).
fn handling_line(sent: &SendResponse, zone: Option<&str>) -> String {
    let (Some(from), Some(to), Some(tlp)) = (&sent.from, &sent.to, sent.tlp) else { return String::new() };
    let mut line = format!("From {from} → {to} · {tlp}");
    if sent.is_exercise {
        line.push_str(" · EXERCISE");
    }
    if let Some(at) = sent.respond_by {
        line.push_str(&format!(" · respond by {}", when_with_zone(at, zone)));
    }
    line.push('\n');
    line
}

/// `17:52 UTC (18:52 Europe/Paris)`, or with the date when not today
/// (UTC); without the zone part when the zone is unknown or UTC.
fn when_with_zone(at: Timestamp, zone: Option<&str>) -> String {
    let utc = utc_short(at);
    let today = utc_short(now()).get(..10).map(str::to_owned);
    let shown = |full: &str| -> String {
        match (today.as_deref(), full.get(..10), full.get(11..16)) {
            (Some(t), Some(d), Some(hm)) if t == d => hm.to_owned(),
            _ => full.get(..16).unwrap_or(full).to_owned(),
        }
    };
    let mut text = format!("{} UTC", shown(&utc));
    let tz = zone.and_then(|z| z.parse::<chrono_tz::Tz>().ok()).filter(|tz| *tz != chrono_tz::UTC);
    if let (Some(tz), Some(secs)) = (tz, i64::try_from(at.0).ok())
        && let Some(t) = chrono::DateTime::from_timestamp(secs, 0)
    {
        let local = t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
        text.push_str(&format!(" ({} {tz})", shown(&local)));
    }
    text
}

/// When none of the recipient's nodes is reachable now: since when, and how
/// else to reach the point of contact (its record's phones and alternates).
/// `None` while one is connected, or when the node cannot say.
async fn unreachable_note(client: &Client, to: &Address, deliveries: &[DeliveryView]) -> Option<String> {
    let liveness = client.call(GetLiveness).await.ok()?;
    let mut since = Vec::new();
    for d in deliveries {
        let seen = liveness.iter().find(|l| l.node == d.node)?;
        if seen.connected {
            return None;
        }
        since.push(match seen.unreachable_since.or(seen.last_seen) {
            Some(at) => format!("node {} unreachable since {}", note::short_peer(&d.node), note::utc(at)),
            None => format!("node {} not reached since this node started", note::short_peer(&d.node)),
        });
    }
    if since.is_empty() {
        return None;
    }
    let mut text = format!("{to} cannot be reached now ({}); the message waits in the outbox", since.join(", "));
    if let Ok(entry) = client.call(GetRecord { state: to.state, role: to.role.clone() }).await {
        let r = entry.record;
        let mut other: Vec<String> = Vec::new();
        if let Some(phone) = r.phone_24x7.filter(|p| !p.is_empty()) {
            other.push(format!("24/7 phone {phone}"));
        }
        if !r.phones.is_empty() {
            other.push(format!("phone {}", r.phones.join(", ")));
        }
        for a in &r.alternates {
            let how: Vec<&str> = [a.phone.as_deref(), a.email.as_deref()].into_iter().flatten().collect();
            other.push(format!("alternate {} {}", clean_line(&a.name), how.join(" ")).trim_end().to_string());
        }
        if !other.is_empty() {
            text.push_str(&format!(". Reach {to} otherwise: {}", clean_line(&other.join("; "))));
        }
    }
    Some(text)
}

/// The one-line error of a `--wait` that timed out.
fn not_delivered(view: &MessageView, timeout: u64) -> String {
    let pending: Vec<String> =
        view.deliveries.iter().filter(|d| d.status != DeliveryState::Delivered).map(note::delivery_line).collect();
    format!(
        "message {} was not delivered within {}: {}; it stays queued and the daemon keeps trying (see hotline outbox)",
        view.message.msg_id,
        duration(timeout),
        pending.join("; ")
    )
}

/// `hotline inbox`.
pub(super) fn inbox(args: InboxArgs, data_dir: &Path, out: &Out) -> Result<()> {
    if args.sent && args.all {
        bail!("give --sent or --all, not both (--all lists sent messages too)");
    }
    if args.unread && args.sent {
        bail!("--unread lists received messages; it cannot be combined with --sent");
    }
    let r#box = if args.sent {
        "sent"
    } else if args.all {
        "all"
    } else {
        "inbox"
    };
    let case = args.case.as_deref().map(|c| id_arg("case id", c)).transpose()?;
    let client = Client::for_data_dir(data_dir);
    let list = runtime()?.block_on(async {
        let case = match case {
            Some(c) => Some(resolve_case(&client, c).await?),
            None => None,
        };
        let query = MessageQuery {
            r#box: Some(r#box.into()),
            unread: args.unread,
            case,
            limit: Some(usize::from(args.limit)),
            before: args.before.clone(),
            role: args.role.clone(),
        };
        anyhow::Ok(client.call(ListMessages(query.clone())).await?)
    })?;
    // A full page may have older messages behind it: the oldest of the
    // page is where the next one starts.
    let more = (list.len() == usize::from(args.limit))
        .then(|| list.first().map(|m| hotline_store::Cursor { at: m.at, id: m.msg_id }))
        .flatten();
    let mut next = serde_json::Map::new();
    next.insert("next_before".into(), more.map_or(serde_json::Value::Null, |c| c.to_string().into()));
    out.emit_list_with("messages", &list, next, || {
        if list.is_empty() {
            return match (r#box, args.unread, args.case.is_some()) {
                (_, _, true) => "No messages of that case.".into(),
                ("inbox", true, _) => "No unread messages.".into(),
                ("inbox", false, _) => "The inbox is empty.".into(),
                ("sent", _, _) => "No messages sent.".into(),
                _ => "No messages.".into(),
            };
        }
        let width = super::output::screen_width();
        let mut text = match width {
            Some(w) => inbox_table_narrow(&list, w),
            None => inbox_table(&list),
        };
        if let Some(cursor) = more {
            text += &format!("\nOlder messages may follow:\nhotline inbox --before {cursor}");
        }
        text
    })
}

/// Whether a received message awaits this PoC: neither acknowledged nor
/// answered, and of a kind that wants an answer.
fn awaits_answer(m: &MessageSummary) -> bool {
    m.direction == Direction::In
        && !m.acknowledged
        && !m.answered
        && !matches!(m.kind, MessageType::HumanAck | MessageType::ComcheckReply)
}

/// Unread, awaiting an answer, and overdue received messages, among the
/// newest 1000, for `status`.
pub(super) async fn desk_counts(client: &Client) -> Result<(usize, usize, usize)> {
    let query = MessageQuery { r#box: Some("inbox".into()), limit: Some(1000), ..MessageQuery::default() };
    let list = client.call(ListMessages(query.clone())).await?;
    let now = now();
    let unread = list.iter().filter(|m| !m.read).count();
    let awaiting: Vec<&MessageSummary> = list.iter().filter(|m| awaits_answer(m)).collect();
    let overdue = awaiting.iter().filter(|m| m.respond_by.is_some_and(|by| by <= now)).count();
    Ok((unread, awaiting.len(), overdue))
}

/// `hotline desk`: what awaits this point of contact, newest first.
pub(super) fn desk(args: DeskArgs, data_dir: &Path, out: &Out) -> Result<()> {
    let client = Client::for_data_dir(data_dir);
    let query = MessageQuery { r#box: Some("inbox".into()), limit: Some(1000), ..MessageQuery::default() };
    let mut list = runtime()?.block_on(client.call(ListMessages(query.clone())))?;
    list.retain(awaits_answer);
    list.reverse();
    #[derive(serde::Serialize)]
    struct Desk {
        /// The point of contact whose desk this is; `null` for every role.
        role: Option<Role>,
        /// Received messages neither acknowledged nor answered, newest first.
        awaiting: Vec<MessageSummary>,
        /// Of those, how many are past their respond-by time.
        overdue: usize,
        /// Messages awaiting the node's other points of contact.
        other_roles_awaiting: usize,
    }
    let (mine, others): (Vec<MessageSummary>, Vec<MessageSummary>) =
        list.into_iter().partition(|m| args.role.as_ref().is_none_or(|r| *r == m.to.role));
    let now = now();
    let overdue = mine.iter().filter(|m| m.respond_by.is_some_and(|by| by <= now)).count();
    let view = Desk { role: args.role, awaiting: mine, overdue, other_roles_awaiting: others.len() };
    // Never hidden: what awaits the node's other points of contact.
    let other_roles: std::collections::BTreeSet<String> = others.iter().map(|m| m.to.role.to_string()).collect();
    let elsewhere = match other_roles.len() {
        0 => String::new(),
        _ => format!(
            "\n{} more await{} {} (hotline desk --role {}).",
            others.len(),
            if others.len() == 1 { "s" } else { "" },
            other_roles.iter().cloned().collect::<Vec<_>>().join(", "),
            other_roles.iter().next().map(String::as_str).unwrap_or_default()
        ),
    };
    out.emit(&view, || {
        if view.awaiting.is_empty() {
            let whose = view.role.as_ref().map(|r| format!(" of the {r} point of contact")).unwrap_or_default();
            return format!(
                "Nothing awaits an answer: every received message{whose} is acknowledged or answered.{elsewhere}"
            );
        }
        let rows: Vec<Vec<String>> = view
            .awaiting
            .iter()
            .map(|m| {
                let respond_by = match m.respond_by {
                    Some(by) if by <= now => format!("OVERDUE by {}", duration(by.until(now))),
                    Some(by) => utc_short(by),
                    None => "-".into(),
                };
                vec![
                    utc_short(m.at).get(5..16).unwrap_or_default().to_string(),
                    m.msg_id.to_string()[..8].to_string(),
                    m.from.to_string(),
                    m.tlp.as_str().to_string(),
                    m.subject.clone(),
                    respond_by,
                ]
            })
            .collect();
        let headers = ["UTC", "ID", "FROM", "TLP", "SUBJECT", "RESPOND BY (UTC)"];
        let mut text = super::output::table_fitted(&headers, &rows, 4, super::output::screen_width());
        text += &format!(
            "\n{} awaiting, {} overdue.\nAnswer with hotline reply ID, or acknowledge with hotline ack ID.{elsewhere}",
            view.awaiting.len(),
            view.overdue
        );
        text
    })
}

#[derive(Args, Debug)]
pub(crate) struct DeskArgs {
    /// Only what awaits this point of contact (a node shared by a state's
    /// PoCs); the others' count is still shown. Default: $HOTLINE_ROLE,
    /// else every role.
    #[arg(long, value_name = "ROLE", env = "HOTLINE_ROLE")]
    role: Option<Role>,
}

/// The inbox fitted to a screen of `width` columns: short times and ids,
/// no recipient or type, the subject cut to fit.
fn inbox_table_narrow(list: &[MessageSummary], width: usize) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|m| {
            vec![
                utc_short(m.at).get(5..16).unwrap_or_default().to_string(),
                m.msg_id.to_string()[..8].to_string(),
                m.from.to_string(),
                m.tlp.as_str().to_string(),
                m.severity.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
                m.subject.clone(),
                flags(m),
            ]
        })
        .collect();
    super::output::table_fitted(&["UTC", "ID", "FROM", "TLP", "SEV", "SUBJECT", "FLAGS"], &rows, 5, Some(width))
}

/// The inbox as a table, oldest first.
fn inbox_table(list: &[MessageSummary]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|m| {
            vec![
                utc_short(m.at),
                m.msg_id.to_string(),
                m.from.to_string(),
                m.to.to_string(),
                m.kind.to_string(),
                m.tlp.as_str().to_string(),
                m.severity.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
                truncate(&m.subject, SUBJECT_WIDTH),
                flags(m),
            ]
        })
        .collect();
    table(&["TIME (UTC)", "ID", "FROM", "TO", "TYPE", "TLP", "SEV", "SUBJECT", "FLAGS"], &rows)
}

/// `unread`, `queued`/`delivered` (sent), `acked`, `EXERCISE`.
fn flags(m: &MessageSummary) -> String {
    let mut f: Vec<&str> = Vec::new();
    if m.direction == Direction::In {
        if !m.read {
            f.push("unread");
        }
    } else {
        f.push(m.status.as_str());
    }
    if m.acknowledged {
        f.push("acked");
    }
    if m.is_exercise {
        f.push("EXERCISE");
    }
    f.join(" ")
}

/// `hotline show`: the message as a formal note; marks it read.
pub(super) fn show(args: ShowArgs, data_dir: &Path, out: &Out) -> Result<()> {
    let id = id_arg("message id", &args.id)?;
    let client = Client::for_data_dir(data_dir);
    let (view, sender, ack) = runtime()?.block_on(async {
        let msg = match resolve_message(&client, id.clone()).await {
            Ok(msg) => msg,
            Err(e) => return Err(case_instead(&client, id).await.unwrap_or(e)),
        };
        let view = match client.call(GetMessage { id: msg, mark_read: true }).await {
            Ok(view) => view,
            Err(e) => return Err(case_instead(&client, id).await.unwrap_or_else(|| e.into())),
        };
        // Who the sender is, from its record: "CERT-FR, Duty officer".
        let from = &view.message.from;
        let sender = client.call(GetRecord { state: from.state, role: from.role.clone() }).await.ok().map(|r| {
            let r = r.record;
            if r.position.is_empty() { r.organization } else { format!("{}, {}", r.organization, r.position) }
        });
        // The recipient's acknowledgement of a sent message: when, and its
        // note. (Only `show` of the acknowledgement itself marks it read.)
        let ack = match (view.direction, view.acknowledged_with) {
            (Direction::Out, Some(ack)) => {
                client.call(GetMessage { id: ack, mark_read: false }).await.ok().map(|a| note::AckSeen {
                    at: a.at,
                    note: match a.message.fields {
                        hotline_core::Fields::HumanAck { note, .. } => note,
                        _ => None,
                    },
                })
            }
            _ => None,
        };
        anyhow::Ok((view, sender, ack))
    })?;
    out.emit(&view, || note::formal_from(&view, now(), sender.as_deref(), ack.as_ref()))
}

/// `hotline thread`: every message of a case, oldest first.
pub(super) fn thread(args: ThreadArgs, data_dir: &Path, out: &Out) -> Result<()> {
    let id = id_arg("case id", &args.case)?;
    let client = Client::for_data_dir(data_dir);
    let views = runtime()?.block_on(async {
        let case = resolve_case(&client, id).await?;
        match client.call(GetThread { case }).await {
            Ok(views) => anyhow::Ok(views),
            // A full message id given for the case: the case of that message.
            Err(e) if e.code() == Some("not_found") => {
                match client.call(GetMessage { id: MessageId(case.0), mark_read: false }).await {
                    Ok(view) => Ok(client.call(GetThread { case: view.message.case_id }).await?),
                    Err(_) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    })?;
    let views = causal_order(views);
    // What a thread shows is read, as with `show`: mark the received
    // messages no one displayed yet (each durably, by the daemon).
    runtime()?.block_on(async {
        for v in views.iter().filter(|v| v.direction == Direction::In && !v.read) {
            client
                .call(GetMessage { id: v.message.msg_id, mark_read: true })
                .await
                .with_context(|| format!("cannot mark message {} read", v.message.msg_id))?;
        }
        anyhow::Ok(())
    })?;
    if out.json {
        return out.emit_list("messages", &views, String::new);
    }
    // The organisation and position of each sender, from its record (one
    // lookup per point of contact; one that cannot be read shows none).
    let names = runtime()?.block_on(async {
        let mut names = note::Names::new();
        let senders: std::collections::BTreeSet<hotline_core::Address> =
            views.iter().map(|v| v.message.from.clone()).collect();
        for from in senders {
            if let Ok(r) = client.call(GetRecord { state: from.state, role: from.role.clone() }).await {
                let r = r.record;
                let mut name =
                    if r.position.is_empty() { r.organization } else { format!("{}, {}", r.organization, r.position) };
                if let Some(person) = r.person_name.filter(|p| !p.trim().is_empty()) {
                    name = format!("{person} ({name})");
                }
                names.insert(from, name);
            }
        }
        names
    });
    out.emit(&views, || note::thread(&views, &names))
}

/// Oldest first, and a reply always after the message it answers: times
/// are whole seconds, so a quick answer can carry the same `created_at` as
/// its question. The rule is core's, the one the daemon applies.
fn causal_order(mut views: Vec<MessageView>) -> Vec<MessageView> {
    views.sort_by_key(|v| (v.message.created_at, v.at));
    hotline_core::thread::causal_order(views, |v| v.message.msg_id, |v| v.message.in_reply_to)
}

/// `hotline ack`: a person's acknowledgement of a received message.
pub(super) fn ack(args: AckArgs, data_dir: &Path, out: &Out) -> Result<()> {
    let id = id_arg("message id", &args.id)?;
    let note = args.note.filter(|n| !n.trim().is_empty());
    if let Some(n) = &note {
        hotline_core::validate::optional_text("--note", n, MAX_NOTE_BYTES).map_err(|e| anyhow!("{e}"))?;
    }
    let client = Client::for_data_dir(data_dir);
    let (id, sent) = runtime()?.block_on(async {
        let id = resolve_message(&client, id).await?;
        let sent = client
            .call(AckMessage { id, request: AckRequest { note } })
            .await
            .with_context(|| format!("cannot acknowledge message {id}"))?;
        anyhow::Ok((id, sent))
    })?;
    out.emit(&sent, || {
        format!(
            "Acknowledged message {id}.\nAcknowledgement: {}\nCase:            {}\nState:           {}",
            sent.msg_id, sent.case_id, sent.status
        )
    })
}

/// `hotline outbox`: the deliveries still waiting for a receipt; `hotline
/// outbox cancel MSGID` withdraws those of one message.
pub(super) fn outbox(args: OutboxArgs, data_dir: &Path, out: &Out) -> Result<()> {
    if let Some(OutboxAction::Cancel { id }) = args.action {
        return cancel(&id, data_dir, out);
    }
    let items = runtime()?.block_on(Client::for_data_dir(data_dir).call(GetOutbox))?;
    out.emit_list("outbox", &items, || {
        if items.is_empty() {
            return "The outbox is empty: every message sent has a signed receipt.".into();
        }
        let rows: Vec<Vec<String>> = items
            .iter()
            .map(|i| {
                vec![
                    i.msg_id.to_string()[..8].to_string(),
                    i.to.to_string(),
                    short_peer(&i.node),
                    utc_short(i.queued_at),
                    i.attempts.to_string(),
                    next_attempt(i),
                    i.last_error.as_deref().map(|e| truncate(e, 100)).unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        let headers = ["MESSAGE", "TO", "NODE", "QUEUED (UTC)", "ATTEMPTS", "NEXT ATTEMPT", "LAST ERROR"];
        super::output::table_fitted(&headers, &rows, 6, super::output::screen_width())
    })
}

/// `hotline outbox cancel MSGID`.
fn cancel(id: &str, data_dir: &Path, out: &Out) -> Result<()> {
    let id = id_arg("message id", id)?;
    let client = Client::for_data_dir(data_dir);
    let view = runtime()?.block_on(async {
        let id = resolve_message(&client, id).await?;
        anyhow::Ok(client.call(CancelMessage { id }).await.with_context(|| format!("cannot cancel message {id}"))?)
    })?;
    out.emit(&view, || {
        let withdrawn = view.deliveries.iter().filter(|d| d.status == DeliveryState::Cancelled).count();
        let receipted = view.deliveries.iter().filter(|d| d.status == DeliveryState::Delivered).count();
        let mut text = format!(
            "Cancelled message {} to {}: {withdrawn} delivery withdrawn{}.\nIt stays in the sent box, marked cancelled.",
            view.message.msg_id,
            view.message.to,
            if receipted > 0 { format!(", {receipted} already receipted") } else { String::new() },
        );
        text.push_str("\nA delivery that was under way at this moment may still arrive.");
        text
    })
}

fn next_attempt(i: &OutboxItem) -> String {
    if i.in_flight {
        "in flight".into()
    } else if i.next_attempt_ms == 0 {
        "now".into()
    } else {
        format!("in {}", duration(i.next_attempt_ms.div_ceil(1000)))
    }
}

/// `hotline watch`'s line for a messaging event; `None` for other events.
pub(super) fn event_line(event: &NodeEvent) -> String {
    let short = |id: &str| id.get(..8).unwrap_or(id).to_string();
    match event {
        NodeEvent::MessageReceived { msg_id, kind, from, tlp, subject, severity, is_exercise, .. } => {
            let mut marks = vec![tlp.to_string()];
            if *is_exercise {
                marks.push("EXERCISE".into());
            }
            if let Some(sev) = severity {
                marks.push(format!("sev {sev}"));
            }
            let id = short(&msg_id.to_string());
            format!(
                "message_received {} {kind} from {from}: \"{}\" (hotline show {id})",
                marks.join(" "),
                truncate(&clean_line(subject), SUBJECT_WIDTH)
            )
        }
        NodeEvent::MessageDelivered { msg_id, node } => {
            format!("message_delivered {}: signed receipt from node {}", short(&msg_id.to_string()), clean_line(node))
        }
        NodeEvent::MessageAcknowledged { msg_id, ack_id, by } => format!(
            "message_acknowledged {} was acknowledged by {by} (acknowledgement {})",
            short(&msg_id.to_string()),
            short(&ack_id.to_string())
        ),
        NodeEvent::DeliveryRejected { peer, code } => {
            format!("delivery_rejected an envelope from peer {} was refused: {}", clean_line(peer), clean_line(code))
        }
        NodeEvent::DirectoryChanged { key, seq, winner, .. } => format!(
            "directory_changed {} seq {seq}{}",
            clean_line(key),
            if *winner { "" } else { " (a competing version; the other one stays current)" }
        ),
        NodeEvent::EntryRemoved { key, .. } => format!("entry_removed {}", clean_line(key)),
        NodeEvent::PeerConnected { peer, member } => {
            format!("peer_connected {} ({})", clean_line(peer), if *member { "a member node" } else { "not a member" })
        }
        NodeEvent::PeerDisconnected { peer } => format!("peer_disconnected {}", clean_line(peer)),
        NodeEvent::ObjectRejected { peer, code, object } => {
            format!("object_rejected {} from peer {}: {}", clean_line(object), clean_line(peer), clean_line(code))
        }
        NodeEvent::RecordExpiring { key, days_left } => {
            format!("record_expiring {} expires in {days_left} days: publish a new version", clean_line(key))
        }
        NodeEvent::Redelivering { node, messages } => format!(
            "redelivering node {} lost {messages} message(s) it had receipted (its store was put back); \
             sending them again",
            clean_line(node)
        ),
        NodeEvent::Equivocation { node, kind } => format!(
            "EQUIVOCATION node {} rewrote its evidence log ({}); the proof is kept (hotline evidence status)",
            clean_line(node),
            clean_line(kind)
        ),
        NodeEvent::Lagged { missed } => {
            format!("lagged {missed} events were missed: check hotline status and hotline inbox")
        }
    }
}

/// Whether an event deserves the terminal bell (`watch --bell`): a
/// TLP:RED message, or one of severity 4 or 5.
pub(super) fn rings(event: &NodeEvent) -> bool {
    matches!(event, NodeEvent::MessageReceived { tlp, severity, .. } if *tlp == Tlp::Red || severity.is_some_and(|s| s >= 4))
}

// ----- input -----

/// A send request checked offline, with the ids that still need the daemon
/// to resolve (prefixes).
struct Draft {
    request: SendRequest,
    to: Address,
    reply_to: Option<IdArg>,
    case: Option<IdArg>,
}

/// Checks every flag of `send` and builds the request. Ids given in full
/// go into the request; prefixes are left for the daemon's list.
fn draft(args: &SendArgs, body: String, now: Timestamp) -> Result<Draft> {
    let to = parse_address(args.to.as_deref().context("--to is required")?)?;
    let typed = args.kind.as_deref().context("--type is required")?.trim();
    // Only the types a person sends: acknowledgements and comcheck
    // messages have commands of their own.
    let sendable = |k: &MessageType| {
        !matches!(k, MessageType::HumanAck | MessageType::ComcheckChallenge | MessageType::ComcheckReply)
    };
    let kind: MessageType = match typed.parse::<MessageType>() {
        Ok(k) if sendable(&k) || k == MessageType::HumanAck => k,
        _ => {
            let names: Vec<&str> = MessageType::ALL.iter().filter(|k| sendable(k)).map(MessageType::as_str).collect();
            bail!("--type: '{typed}' is not a message type send accepts; use one of: {}", names.join(", "))
        }
    };
    if kind == MessageType::HumanAck {
        bail!("--type human_ack: acknowledge a message with `hotline ack MSGID` instead");
    }
    let from_role: Role =
        args.from_role.as_deref().unwrap_or("technical").parse().map_err(|e| anyhow!("--from-role: {e}"))?;
    let tlp = args.tlp.as_deref().map(|t| t.parse::<Tlp>().map_err(|e| anyhow!("--tlp: {e}"))).transpose()?;
    let severity = args.severity.as_deref().map(parse_severity).transpose()?;
    let respond_by = args.respond_by.as_deref().map(|w| parse_when(w, now)).transpose()?;
    let reply_to = args.reply_to.as_deref().map(|r| id_arg("--reply-to message id", r)).transpose()?;
    let case = args.case.as_deref().map(|c| id_arg("--case id", c)).transpose()?;
    let lang = args.lang.as_ref().map(|l| l.trim().to_string());
    let subject = args.subject.as_deref().context("--subject is required")?;
    if subject.trim().is_empty() {
        bail!("--subject must not be empty");
    }
    let request = SendRequest {
        to: to.clone(),
        from_role: Some(from_role.clone()),
        kind,
        subject: subject.trim().to_string(),
        body,
        tlp,
        severity,
        is_exercise: args.exercise,
        respond_by,
        case_id: match case {
            Some(IdArg::Full(b)) => Some(CaseId(b)),
            _ => None,
        },
        in_reply_to: match reply_to {
            Some(IdArg::Full(b)) => Some(MessageId(b)),
            _ => None,
        },
        lang,
        fields: None,
        force: args.force,
    };
    check_message(&request, now)?;
    let keep = |a: Option<IdArg>| a.filter(|a| matches!(a, IdArg::Prefix(_)));
    Ok(Draft { request, to, reply_to: keep(reply_to), case: keep(case) })
}

/// Checks the request against the message rules the daemon applies, so a
/// mistake is reported before anything is sent.
fn check_message(r: &SendRequest, now: Timestamp) -> Result<()> {
    let probe = Message {
        msg_id: MessageId([0; 16]),
        case_id: CaseId([0; 16]),
        in_reply_to: r.in_reply_to,
        kind: r.kind,
        from: Address { state: r.to.state, role: r.from_role.clone().unwrap_or_else(Role::technical) },
        to: r.to.clone(),
        created_at: now,
        lang: r.lang.clone(),
        tlp: r.tlp.unwrap_or_default(),
        severity: r.severity,
        is_exercise: r.is_exercise,
        respond_by: r.respond_by,
        subject: r.subject.clone(),
        body: r.body.clone(),
        fields: Fields::None,
        attachments: Vec::new(),
    };
    probe.validate().map_err(|e| {
        let what = match e.field.as_str() {
            "subject" => "--subject".to_string(),
            "body" => "the body".to_string(),
            "lang" => "--lang".to_string(),
            "severity" => "--severity".to_string(),
            "respond_by" => "--respond-by".to_string(),
            other => other.to_string(),
        };
        anyhow!("{what} {}", e.reason)
    })
}

/// The body: `--body`, `--body-file` (`-` for standard input), or standard
/// input when neither is given and it is not a terminal.
fn read_body(body: Option<&str>, file: Option<&Path>) -> Result<String> {
    let limit = hotline_core::message::MAX_BODY_BYTES;
    let text = match (body, file) {
        (Some(_), Some(_)) => bail!("give the body with --body or --body-file, not both"),
        (Some(b), None) => b.to_string(),
        (None, Some(path)) if path == Path::new("-") => read_stdin(limit)?,
        (None, Some(path)) => {
            let meta =
                std::fs::metadata(path).with_context(|| format!("cannot read the body file {}", path.display()))?;
            if meta.len() > limit as u64 {
                bail!("the body file {} is {} bytes, the limit is {limit}", path.display(), meta.len());
            }
            let bytes = std::fs::read(path).with_context(|| format!("cannot read the body file {}", path.display()))?;
            String::from_utf8(bytes).map_err(|_| anyhow!("the body file {} is not UTF-8 text", path.display()))?
        }
        (None, None) if std::io::stdin().is_terminal() => String::new(),
        (None, None) => read_stdin(limit)?,
    };
    Ok(normalize_body(&text))
}

fn read_stdin(limit: usize) -> Result<String> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .context("cannot read the body from standard input")?;
    if bytes.len() > limit {
        bail!("the body on standard input is more than {limit} bytes, the limit");
    }
    String::from_utf8(bytes).map_err(|_| anyhow!("the body on standard input is not UTF-8 text"))
}

/// Windows line ends become `\n` and tabs become spaces (to 8-column
/// stops): messages carry no other control characters.
fn normalize_body(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let mut out = String::with_capacity(text.len());
    let mut column = 0;
    for c in text.chars() {
        match c {
            '\t' => {
                let n = 8 - column % 8;
                out.extend(std::iter::repeat_n(' ', n));
                column += n;
            }
            '\n' => {
                out.push(c);
                column = 0;
            }
            _ => {
                out.push(c);
                column += 1;
            }
        }
    }
    out
}

// ----- ids -----

/// The messages and cases whose id starts with `prefix`, as the node finds
/// them in its indexes (up to two of each).
pub(super) async fn ids_with_prefix(client: &Client, prefix: &str) -> Result<hotline_node::api_types::IdMatches> {
    client.call(FindIds { prefix: prefix.to_string() }).await.context("cannot look up an id prefix")
}

async fn resolve_message(client: &Client, id: IdArg) -> Result<MessageId> {
    let prefix = match id {
        IdArg::Full(b) => return Ok(MessageId(b)),
        IdArg::Prefix(p) => p,
    };
    let found = ids_with_prefix(client, &prefix).await?.messages;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => bail!("no message held has an id starting with {prefix}"),
        _ => bail!("several messages have an id starting with {prefix}: give more digits"),
    }
}

/// When the id given to `show` is no message's but a case's, the error
/// that says so and names the command to use.
async fn case_instead(client: &Client, id: IdArg) -> Option<anyhow::Error> {
    let (text, is_case) = match &id {
        IdArg::Full(b) => {
            let case = CaseId(*b);
            (case.to_string(), client.call(GetThread { case }).await.is_ok_and(|t| !t.is_empty()))
        }
        IdArg::Prefix(p) => (p.clone(), ids_with_prefix(client, p).await.ok()?.cases.len() == 1),
    };
    is_case.then(|| anyhow!("{text} is a case, not a message: show the case with hotline thread {text}"))
}

/// A case id, or the case of a message whose id has the prefix given.
async fn resolve_case(client: &Client, id: IdArg) -> Result<CaseId> {
    let prefix = match id {
        IdArg::Full(b) => return Ok(CaseId(b)),
        IdArg::Prefix(p) => p,
    };
    let found = ids_with_prefix(client, &prefix).await?;
    let cases: Vec<CaseId> = if found.cases.is_empty() {
        let mut cases = Vec::new();
        for id in &found.messages {
            cases.push(client.call(GetMessage { id: *id, mark_read: false }).await?.message.case_id);
        }
        cases.dedup();
        cases
    } else {
        found.cases
    };
    match cases.as_slice() {
        [one] => Ok(*one),
        [] => bail!("no case or message held has an id starting with {prefix}"),
        _ => bail!("several cases match {prefix}: give more digits"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn response(respond_by: Option<Timestamp>, is_exercise: bool) -> SendResponse {
        SendResponse {
            msg_id: MessageId([1; 16]),
            case_id: CaseId([2; 16]),
            status: MessageState::Queued,
            old_state: hotline_node::api_types::old_name(MessageState::Queued),
            deliveries: Vec::new(),
            from: Some(Address { state: "FRA".parse().unwrap(), role: Role::policy() }),
            to: Some(Address { state: "DEU".parse().unwrap(), role: Role::policy() }),
            tlp: Some(Tlp::Amber),
            is_exercise,
            respond_by,
        }
    }

    #[test]
    fn a_send_opens_with_sender_recipient_label_and_deadline_in_the_senders_zone() {
        assert_eq!(handling_line(&response(None, false), None), "From FRA/policy → DEU/policy · TLP:AMBER\n");
        assert!(handling_line(&response(None, true), None).contains(" · EXERCISE"));
        // 2026-06-01 15:52 UTC is 17:52 in Paris (summer time); not today, so dated.
        let at = Timestamp::parse_utc("2026-06-01T15:52:00Z").unwrap();
        let line = handling_line(&response(Some(at), false), Some("Europe/Paris"));
        assert!(line.ends_with("respond by 2026-06-01 15:52 UTC (2026-06-01 17:52 Europe/Paris)\n"), "{line}");
        // Today: the time alone (a minute past midnight may add the date);
        // a UTC or unknown zone adds nothing.
        let soon = now();
        let line = handling_line(&response(Some(soon), false), Some("UTC"));
        assert!(line.contains(&format!("{} UTC\n", &utc_short(soon)[11..16])) && !line.contains('('), "{line}");
        let line = handling_line(&response(Some(soon), false), Some("Not/AZone"));
        assert!(!line.contains('('), "{line}");
        assert_eq!(handling_line(&SendResponse { from: None, ..response(None, false) }, None), "");
    }

    #[derive(Parser)]
    #[command(args_override_self = true)]
    struct Wrap {
        #[command(flatten)]
        send: SendArgs,
    }

    fn args(extra: &[&str]) -> SendArgs {
        let mut argv = vec!["send", "--to", "DEU", "--type", "request_for_information", "--subject", "Scanning"];
        argv.extend_from_slice(extra);
        Wrap::parse_from(argv).send
    }

    const NOW: Timestamp = Timestamp(1_800_000_000);

    fn error(extra: &[&str]) -> String {
        match draft(&args(extra), String::new(), NOW) {
            Ok(_) => panic!("{extra:?} should fail"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_full_request() {
        let d = draft(
            &args(&[
                "--to",
                "deu/policy",
                "--from-role",
                "policy",
                "--tlp",
                "amber+strict",
                "--severity",
                "3",
                "--exercise",
                "--respond-by",
                "2h",
                "--lang",
                "en",
                "--reply-to",
                &"ab".repeat(16),
                "--case",
                "cdcdcd",
            ]),
            "Body".into(),
            NOW,
        )
        .unwrap();
        let r = d.request;
        assert_eq!(r.to.to_string(), "DEU/policy");
        assert_eq!(r.from_role, Some("policy".parse().unwrap()));
        assert_eq!(r.kind, MessageType::RequestForInformation);
        assert_eq!(r.tlp, Some(Tlp::AmberStrict));
        assert_eq!(r.severity, Some(3));
        assert!(r.is_exercise);
        assert_eq!(r.respond_by, Some(Timestamp(NOW.0 + 7200)));
        assert_eq!(r.lang.as_deref(), Some("en"));
        assert_eq!(r.in_reply_to, Some(MessageId([0xab; 16])));
        assert_eq!(r.case_id, None);
        assert_eq!(d.case, Some(IdArg::Prefix("cdcdcd".into())));
        assert_eq!(d.reply_to, None);
        let defaults = draft(&args(&[]), String::new(), NOW).unwrap().request;
        assert_eq!(defaults.to.role, Role::technical());
        assert_eq!(defaults.from_role, Some(Role::technical()));
        assert_eq!(defaults.tlp, None);
    }

    #[test]
    fn bad_inputs_are_one_clear_line() {
        let cases: &[(&[&str], &str)] = &[
            (&["--to", "XXX"], "--to: 'XXX' is not an ISO 3166-1 alpha-3"),
            (&["--to", "DEU/Policy"], "--to: 'Policy' is not a valid role name"),
            (&["--from-role", "a b"], "--from-role: 'a b' is not a valid role name"),
            (&["--type", "chat"], "--type: 'chat' is not a message type send accepts; use one of: notification"),
            (&["--type", "comcheck_reply"], "is not a message type send accepts"),
            (&["--type", "human_ack"], "hotline ack"),
            (&["--severity", "9"], "--severity must be a whole number from 0 (none) to 5"),
            (&["--severity", "-1"], "--severity must be"),
            (&["--tlp", "BLUE"], "--tlp: 'BLUE' is not a TLP 2.0 label"),
            (&["--subject", "  "], "--subject must not be empty"),
            (&["--respond-by", "soon"], "--respond-by 'soon' is not a duration"),
            (&["--respond-by", "1700000000"], "is in the past"),
            (&["--lang", "English"], "--lang 'English' is not a BCP 47 language tag"),
            (&["--case", "xyz"], "'xyz' is not a --case id"),
            (&["--reply-to", "abc"], "'abc' is not a --reply-to message id"),
        ];
        for (extra, want) in cases {
            let e = error(extra);
            assert!(e.contains(want), "{extra:?}: {e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
        let long = "x".repeat(300);
        assert!(error(&["--subject", &long]).contains("--subject is 300 bytes, the limit is 256"));
        let e = draft(&args(&[]), "bell\u{7}".into(), NOW).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(e, "the body contains control characters");
    }

    #[test]
    fn body_sources() {
        assert!(read_body(Some("a"), Some(Path::new("f"))).unwrap_err().to_string().contains("not both"));
        let e = read_body(None, Some(Path::new("/nonexistent/body.txt"))).unwrap_err();
        assert!(format!("{e:#}").starts_with("cannot read the body file /nonexistent/body.txt: "), "{e:#}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("body.txt");
        std::fs::write(&path, "line\tone\r\nline two\n").unwrap();
        assert_eq!(read_body(None, Some(&path)).unwrap(), "line    one\nline two\n");
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(read_body(None, Some(&path)).unwrap_err().to_string().contains("not UTF-8"));
        assert_eq!(read_body(Some("x\ty"), None).unwrap(), "x       y");
    }

    #[test]
    fn times_and_durations() {
        assert_eq!(parse_duration("90s"), Some(90));
        assert_eq!(parse_duration("30m"), Some(1800));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("3d"), Some(259_200));
        assert_eq!(parse_duration("2"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("2x"), None);
        assert_eq!(parse_timeout("30s").unwrap(), 30);
        assert_eq!(parse_timeout("45").unwrap(), 45);
        assert!(parse_timeout("2h").is_err());
        assert!(parse_timeout("soon").is_err());
        assert_eq!(parse_when("2h", NOW).unwrap(), Timestamp(NOW.0 + 7200));
        assert_eq!(parse_when("1800000600", NOW).unwrap(), Timestamp(1_800_000_600));
        assert_eq!(parse_when("2027-01-15T10:00Z", NOW).unwrap(), Timestamp(1_800_007_200));
        assert_eq!(Timestamp::parse_utc("2026-11-22T19:45:01Z").map(|t| t.0), Some(1_795_376_701));
        assert_eq!(Timestamp::parse_utc("2000-02-29T00:00:00Z").map(|t| t.0), Some(951_782_400));
        assert_eq!(Timestamp::parse_utc("2026-02-30T00:00Z").map(|t| t.0), None);
        assert_eq!(Timestamp::parse_utc("2026-11-22T19:45").map(|t| t.0), None);
        assert!(parse_when("0s", NOW).is_err());
        // A clock time today, in the PoC's zone; NOW is 08:00 UTC in January.
        let at = |t: &str| Timestamp::parse_utc(t).unwrap();
        assert_eq!(parse_when_in("16:00", NOW, chrono_tz::UTC).unwrap(), at("2027-01-15T16:00:00Z"));
        assert_eq!(parse_when_in("16:00", NOW, chrono_tz::Europe::Paris).unwrap(), at("2027-01-15T15:00:00Z"));
        let err = parse_when_in("07:30", NOW, chrono_tz::UTC).unwrap_err().to_string();
        assert!(err.contains("has already passed today"), "{err}");
        let err = parse_when_in("-2h", NOW, chrono_tz::UTC).unwrap_err().to_string();
        assert!(err.contains("is negative"), "{err}");
        assert!(parse_when_in("25:00", NOW, chrono_tz::UTC).is_err());
    }

    #[test]
    fn replies_come_after_what_they_answer_within_a_second() {
        let view = |id: u8, parent: Option<u8>, at: u64| {
            let mut m = draft(&args(&[]), String::new(), NOW).unwrap().request;
            m.in_reply_to = parent.map(|p| MessageId([p; 16]));
            MessageView {
                direction: Direction::In,
                status: MessageState::Received,
                old_state: hotline_node::api_types::old_name(MessageState::Received),
                read: false,
                at: Timestamp(at),
                sender_node: None,
                acknowledged_with: None,
                answered: false,
                deliveries: vec![],
                message: Message {
                    msg_id: MessageId([id; 16]),
                    case_id: CaseId([9; 16]),
                    in_reply_to: m.in_reply_to,
                    kind: m.kind,
                    from: m.to.clone(),
                    to: m.to,
                    created_at: Timestamp(at),
                    lang: None,
                    tlp: Tlp::Amber,
                    severity: None,
                    is_exercise: false,
                    respond_by: None,
                    subject: m.subject,
                    body: m.body,
                    fields: Fields::None,
                    attachments: vec![],
                },
            }
        };
        // 3 answers 2, which answers 1, all in one second; 4 is later.
        let order =
            causal_order(vec![view(4, None, 11), view(3, Some(2), 10), view(2, Some(1), 10), view(1, None, 10)]);
        let ids: Vec<u8> = order.iter().map(|v| v.message.msg_id.0[0]).collect();
        assert_eq!(ids, [1, 2, 3, 4]);
    }

    #[test]
    fn ids_and_prefixes() {
        assert_eq!(id_arg("message id", &"AB".repeat(16)).unwrap(), IdArg::Full([0xab; 16]));
        assert_eq!(id_arg("message id", "abcdef").unwrap(), IdArg::Prefix("abcdef".into()));
        assert!(id_arg("message id", "abc").is_err());
        assert!(id_arg("message id", &"g".repeat(32)).is_err());
        assert!(id_arg("message id", &"a".repeat(33)).is_err());
    }

    #[test]
    fn watch_lines_for_message_events() {
        let received = NodeEvent::MessageReceived {
            msg_id: MessageId([1; 16]),
            case_id: CaseId([2; 16]),
            kind: MessageType::Notification,
            from: Address { state: "FRA".parse().unwrap(), role: Role::technical() },
            tlp: Tlp::Red,
            subject: "Beacon\u{1b}[0m seen".into(),
            severity: Some(4),
            is_exercise: true,
        };
        let line = event_line(&received);
        assert_eq!(
            line,
            "message_received TLP:RED EXERCISE sev 4 notification from FRA/technical: \"Beacon\u{FFFD}[0m seen\" (hotline show 01010101)"
        );
        assert!(rings(&received));
        assert!(!rings(&NodeEvent::PeerDisconnected { peer: "x".into() }));
        // Every event has a line of its own: none prints raw JSON.
        assert_eq!(event_line(&NodeEvent::PeerDisconnected { peer: "x".into() }), "peer_disconnected x");
        let line = event_line(&NodeEvent::DeliveryRejected { peer: "p".into(), code: "forged\u{1b}[0m".into() });
        assert_eq!(line, "delivery_rejected an envelope from peer p was refused: forged\u{FFFD}[0m");
    }
}
