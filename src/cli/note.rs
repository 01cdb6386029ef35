//! Rendering messages for people: the formal note of `hotline show`, the
//! compact notes of `hotline thread`, and the small formatting helpers the
//! messaging commands share (times, durations, peer ids).
//!
//! Everything a remote point of contact wrote is cleaned before it reaches
//! the terminal: the daemon already refuses control characters, and this
//! module also drops bidirectional-override characters, so that no message
//! can rewrite or reorder what the reader sees.

use hotline_core::{Fields, MessageId, MessageType, Timestamp, Tlp};
use hotline_node::api_types::{DeliveryState, Direction, MessageState};
use hotline_node::api_types::{DeliveryView, MessageView};

/// The banner of an exercise message, printed above and below it.
pub(super) const EXERCISE_BANNER: &str = "EXERCISE — EXERCISE — EXERCISE";

/// The TLP banner line, for example `==== TLP:AMBER ====`.
pub(super) fn banner(tlp: Tlp) -> String {
    format!("==== {tlp} ====")
}

/// Whether `c` could rewrite or reorder a terminal line: control
/// characters and the Unicode bidirectional embedding, override and
/// isolate characters.
fn unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// Text for a terminal, newlines kept; anything unsafe becomes U+FFFD.
pub(super) fn clean_text(s: &str) -> String {
    s.chars().map(|c| if c == '\n' || !unsafe_char(c) { c } else { '\u{FFFD}' }).collect()
}

/// Text for one line of a terminal: newlines become spaces.
pub(super) fn clean_line(s: &str) -> String {
    clean_text(s).replace('\n', " ")
}

/// One line of at most `max` characters, with `…` when cut.
pub(super) fn truncate(s: &str, max: usize) -> String {
    let line = clean_line(s);
    if line.chars().count() <= max {
        return line;
    }
    let mut out: String = line.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `2026-11-22 19:45:01 UTC`.
pub(super) fn utc(t: Timestamp) -> String {
    let text = t.to_rfc3339();
    format!("{} UTC", text.trim_end_matches('Z').replacen('T', " ", 1))
}

/// `2026-11-22 19:45:01` (UTC), for tables whose header says UTC.
pub(super) fn utc_short(t: Timestamp) -> String {
    t.to_rfc3339().trim_end_matches('Z').replacen('T', " ", 1)
}

/// A duration for people: `45s`, `30m`, `2h`, `1h30m`, `3d4h`.
pub(super) fn duration(secs: u64) -> String {
    if secs < 60 {
        return format!("{secs}s");
    }
    let (d, h, m, s) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    let parts = [(d, "d"), (h, "h"), (m, "m"), (s, "s")];
    let first = parts.iter().position(|(v, _)| *v > 0).unwrap_or(3);
    // Two units are precise enough for a person.
    parts[first..].iter().take(2).filter(|(v, _)| *v > 0).map(|(v, u)| format!("{v}{u}")).collect()
}

/// `in 2h`, `5m ago`, `now`: `t` against `now`.
pub(super) fn relative(t: Timestamp, now: Timestamp) -> String {
    if t.0 > now.0 {
        format!("in {}", duration(now.until(t)))
    } else if t.0 < now.0 {
        format!("{} ago", duration(t.until(now)))
    } else {
        "now".into()
    }
}

/// A peer id short enough for a table: `12D3KooWAbCd…x7Yz9q`.
pub(super) fn short_peer(peer: &str) -> String {
    let chars: Vec<char> = peer.chars().collect();
    if chars.len() <= 20 {
        return peer.to_string();
    }
    let head: String = chars[..12].iter().collect();
    let tail: String = chars[chars.len() - 6..].iter().collect();
    format!("{head}…{tail}")
}

/// `3 of 5`, or `None` when the sender did not grade it.
fn severity(s: Option<u8>) -> Option<String> {
    s.map(|s| format!("{s} of {}", hotline_core::message::MAX_SEVERITY))
}

/// One header line: the label padded so the values line up.
fn header(out: &mut String, label: &str, value: impl AsRef<str>) {
    out.push_str(&format!("{:<14}{}\n", format!("{label}:"), value.as_ref()));
}

/// Where a message stands, in words.
fn status(view: &MessageView) -> String {
    if view.direction == Direction::In {
        let mut s = String::from("received");
        s.push_str(if view.read { ", read" } else { ", unread" });
        match (&view.acknowledged_with, view.message.kind) {
            (Some(ack), _) => s.push_str(&format!(", acknowledged (acknowledgement {ack})")),
            (None, MessageType::HumanAck) => {}
            // A challenge is answered, not acknowledged: its body says how.
            (None, MessageType::ComcheckChallenge) => {
                s.push_str(&format!(", answer it with: hotline comcheck answer {}", view.message.case_id));
            }
            (None, _) => s.push_str(&format!(", not acknowledged yet (hotline ack {})", view.message.msg_id)),
        }
        s
    } else {
        let mut s = format!("sent, {}", view.status);
        if let Some(ack) = &view.acknowledged_with {
            s.push_str(&format!(", acknowledged by the recipient (acknowledgement {ack})"));
        } else if view.message.kind != MessageType::HumanAck {
            s.push_str(", not acknowledged yet");
        }
        s
    }
}

/// The typed fields, as indented lines (none for `Fields::None`).
fn field_lines(fields: &Fields) -> Vec<String> {
    let list = |items: &[String]| {
        if items.is_empty() {
            "-".to_string()
        } else {
            items.iter().map(|i| clean_line(i)).collect::<Vec<_>>().join(", ")
        }
    };
    match fields {
        Fields::None => vec![],
        Fields::Incident { observed_at, affected, indicators, references } => vec![
            "Incident details:".into(),
            format!("  Observed at:  {}", observed_at.map(utc).unwrap_or_else(|| "-".into())),
            format!("  Affected:     {}", list(affected)),
            format!("  Indicators:   {}", list(indicators)),
            format!("  References:   {}", list(references)),
        ],
        Fields::HumanAck { acknowledged, note } => {
            let mut v = vec![format!("Acknowledges:  {acknowledged}")];
            if let Some(n) = note {
                v.push(format!("Note:          {}", clean_line(n)));
            }
            v
        }
        Fields::CaseClose { resolution } => vec![format!("Resolution:    {}", clean_line(resolution))],
        Fields::Referral { referred_to } => vec![format!("Referred to:   {referred_to}")],
        Fields::ComcheckChallenge { comcheck_id, deadline, task, nonce, announced } => {
            let mut v = vec![
                "Communication check:".into(),
                format!("  Check:        {comcheck_id}"),
                format!("  Deadline:     {}", utc(*deadline)),
                format!(
                    "  Task:         {}",
                    serde_json::to_value(task).ok().and_then(|t| t.as_str().map(String::from)).unwrap_or_default()
                ),
                format!("  Announced:    {}", if *announced { "yes" } else { "no" }),
            ];
            if let Some(n) = nonce {
                v.push(format!("  Code to echo: {}", clean_line(n)));
            }
            v
        }
        Fields::ComcheckReply { comcheck_id, code, confirmed_record } => {
            let mut v = vec!["Communication check reply:".into(), format!("  Check:        {comcheck_id}")];
            if let Some(c) = code {
                v.push(format!("  Code:         {}", clean_line(c)));
            }
            if let Some(h) = confirmed_record {
                v.push(format!("  Confirmed record: {h}"));
            }
            v
        }
    }
}

/// One delivery, in words.
pub(super) fn delivery_line(d: &DeliveryView) -> String {
    if d.status == DeliveryState::Delivered {
        let at = d.received_at.map(|t| format!(", stored by the recipient at {}", utc(t))).unwrap_or_default();
        let receipt = if d.receipt.is_some() { "signed receipt held" } else { "NO RECEIPT HELD" };
        format!("node {}: delivered{at}, {receipt}", d.node)
    } else if d.status == DeliveryState::Cancelled {
        format!("node {}: cancelled by the sender before a receipt came", d.node)
    } else if d.status == DeliveryState::Withdrawn {
        format!("node {}: withdrawn, its state no longer lists it; the message went to the nodes it lists now", d.node)
    } else {
        let attempts = match d.attempts {
            0 => "no attempt yet".to_string(),
            1 => "1 attempt".to_string(),
            n => format!("{n} attempts"),
        };
        let error = d.last_error.as_deref().map(|e| format!(", last error: {}", clean_line(e))).unwrap_or_default();
        format!("node {}: {} ({attempts}{error})", d.node, d.status)
    }
}

/// The body, cleaned, or a placeholder when there is none.
fn body(text: &str) -> String {
    if text.trim().is_empty() { "(no body)".to_string() } else { clean_text(text.trim_end()) }
}

/// A message as a formal note: TLP banner, exercise banner, header lines,
/// subject, body, typed fields, delivery and acknowledgement, banners again.
#[cfg(test)]
pub(super) fn formal(view: &MessageView, now: Timestamp) -> String {
    formal_from(view, now, None, None)
}

/// The recipient's acknowledgement of a sent message, as its sender holds it.
pub(super) struct AckSeen {
    /// When the acknowledgement reached this node.
    pub at: Timestamp,
    /// The note it carries, if any.
    pub note: Option<String>,
}

/// The message as a formal note, with the sender's organisation and position from its
/// contact record beside its address (a diplomat reads who, not a slot), and for a sent
/// message the recipient's acknowledgement when it is held.
pub(super) fn formal_from(view: &MessageView, now: Timestamp, sender: Option<&str>, ack: Option<&AckSeen>) -> String {
    let m = &view.message;
    let mut s = String::new();
    s.push_str(&banner(m.tlp));
    s.push('\n');
    if m.is_exercise {
        s.push_str(EXERCISE_BANNER);
        s.push('\n');
    }
    s.push('\n');
    header(&mut s, "Message", m.msg_id.to_string());
    header(&mut s, "Case", m.case_id.to_string());
    header(&mut s, "Type", m.kind.as_str());
    let from = match sender {
        Some(who) => format!("{}, {}", m.from, clean_line(who)),
        None => m.from.to_string(),
    };
    match &view.sender_node {
        Some(node) => header(&mut s, "From", format!("{from} (node {node})")),
        None => header(&mut s, "From", from),
    }
    header(&mut s, "To", m.to.to_string());
    header(&mut s, "Sent", utc(m.created_at));
    if view.direction == Direction::In {
        header(&mut s, "Received", utc(view.at));
    }
    if let Some(sev) = severity(m.severity) {
        header(&mut s, "Severity", sev);
    }
    if let Some(by) = m.respond_by {
        let when = if view.answered {
            "answered".to_string()
        } else if by > now {
            relative(by, now)
        } else {
            format!("OVERDUE by {}", duration(by.until(now)))
        };
        header(&mut s, "Respond by", format!("{} ({when})", utc(by)));
    }
    if let Some(lang) = &m.lang {
        header(&mut s, "Language", clean_line(lang));
    }
    if let Some(parent) = &m.in_reply_to {
        header(&mut s, "In reply to", parent.to_string());
    }
    header(&mut s, "Status", status(view));
    s.push('\n');
    s.push_str(&format!("Subject: {}\n\n", clean_line(&m.subject)));
    s.push_str(&body(&m.body));
    s.push('\n');
    let fields = field_lines(&m.fields);
    if !fields.is_empty() {
        s.push('\n');
        for line in fields {
            s.push_str(&line);
            s.push('\n');
        }
    }
    if !m.attachments.is_empty() {
        s.push('\n');
        s.push_str("Attachments:\n");
        for a in &m.attachments {
            s.push_str(&format!("  {} ({}, {} bytes)\n", clean_line(&a.name), clean_line(&a.media_type), a.data.len()));
        }
    }
    if view.direction == Direction::Out {
        s.push('\n');
        s.push_str(&format!("Delivery ({}):\n", view.status));
        for d in &view.deliveries {
            s.push_str(&format!("  {}\n", delivery_line(d)));
        }
        match &view.acknowledged_with {
            Some(id) => {
                match ack {
                    Some(seen) => s.push_str(&format!(
                        "Acknowledged:  yes, by {} at {} (acknowledgement {id})\n",
                        m.to,
                        utc(seen.at)
                    )),
                    None => s.push_str(&format!("Acknowledged:  yes, by {} (acknowledgement {id})\n", m.to)),
                }
                if let Some(note) = ack.and_then(|a| a.note.as_deref()).filter(|n| !n.trim().is_empty()) {
                    s.push_str(&format!("Their note:    {}\n", clean_line(note)));
                }
            }
            None if m.kind == MessageType::HumanAck => {}
            None => s.push_str("Acknowledged:  not yet\n"),
        }
    }
    s.push('\n');
    if m.is_exercise {
        s.push_str(EXERCISE_BANNER);
        s.push('\n');
    }
    s.push_str(&banner(m.tlp));
    s.push('\n');
    s
}

/// The most restrictive label of a set of messages (TLP:CLEAR if none).
pub(super) fn strictest(views: &[MessageView]) -> Tlp {
    views.iter().map(|v| v.message.tlp).max().unwrap_or(Tlp::Clear)
}

/// What a reply dropped of the handling marks of the message it answers
/// (`parent`): a lower label, or the exercise mark. Sending either takes
/// `--force`; the thread shows it, so no reader takes the answer for more
/// shareable, or more real, than its question.
fn dropped_marks(m: &hotline_core::Message, parent: &hotline_core::Message) -> Vec<String> {
    let mut marks = Vec::new();
    if m.tlp < parent.tlp {
        marks.push(format!("! Label lowered by its sender: {} answers a {} message", m.tlp, parent.tlp));
    }
    if parent.is_exercise && !m.is_exercise {
        marks.push("! Marked as real by its sender: it answers an EXERCISE".to_string());
    }
    marks
}

/// One message of a thread, numbered, indented under its header line;
/// `parent` is the message it answers, when the thread holds it.
pub(super) fn compact(
    view: &MessageView,
    number: usize,
    names: &Names,
    parent: Option<&hotline_core::Message>,
) -> String {
    let m = &view.message;
    let mut s = format!("[{number}] {}  {} → {}  {}\n", utc(m.created_at), m.from, m.to, m.tlp);
    for mark in parent.map(|p| dropped_marks(m, p)).unwrap_or_default() {
        s.push_str(&format!("    {mark}\n"));
    }
    if let Some(name) = names.get(&m.from) {
        s.push_str(&format!("    From {name}\n"));
    }
    let mut facts = vec![m.kind.as_str().to_string()];
    if let Some(sev) = m.severity {
        facts.push(format!("severity {sev}"));
    }
    if m.is_exercise {
        facts.push("EXERCISE".into());
    }
    facts.push(status(view));
    s.push_str(&format!("    {}\n", facts.join(" · ")));
    s.push_str(&format!("    Message {}\n", m.msg_id));
    if let Some(parent) = &m.in_reply_to {
        s.push_str(&format!("    In reply to {parent}\n"));
    }
    if let Some(by) = m.respond_by {
        s.push_str(&format!("    Respond by {}\n", utc(by)));
    }
    s.push_str(&format!("    Subject: {}\n", clean_line(&m.subject)));
    if !m.body.trim().is_empty() {
        s.push('\n');
        for line in body(&m.body).lines() {
            s.push_str(format!("    {line}").trim_end());
            s.push('\n');
        }
    }
    let fields = field_lines(&m.fields);
    if !fields.is_empty() {
        s.push('\n');
        for line in fields {
            s.push_str(&format!("    {line}\n"));
        }
    }
    if view.direction == Direction::Out && view.status != MessageState::Delivered {
        for d in &view.deliveries {
            s.push_str(&format!("    {}\n", delivery_line(d)));
        }
    }
    s
}

/// A whole case, oldest first, between banners of its strictest label.
/// Who holds each point of contact, as its record says ("organisation,
/// position"): the names a thread shows beside the addresses.
pub(super) type Names = std::collections::BTreeMap<hotline_core::Address, String>;

pub(super) fn thread(views: &[MessageView], names: &Names) -> String {
    let Some(first) = views.first() else { return "No messages.\n".into() };
    let label = strictest(views);
    let exercise = views.iter().all(|v| v.message.is_exercise);
    let mut s = banner(label);
    s.push('\n');
    if exercise {
        s.push_str(EXERCISE_BANNER);
        s.push('\n');
    }
    let count = if views.len() == 1 { "1 message".to_string() } else { format!("{} messages", views.len()) };
    s.push_str(&format!("\nCase {}: {count}, oldest first\n", first.message.case_id));
    let by_id: std::collections::HashMap<MessageId, &hotline_core::Message> =
        views.iter().map(|v| (v.message.msg_id, &v.message)).collect();
    for (i, view) in views.iter().enumerate() {
        s.push('\n');
        let parent = view.message.in_reply_to.and_then(|p| by_id.get(&p).copied());
        s.push_str(&compact(view, i + 1, names, parent));
    }
    s.push('\n');
    if exercise {
        s.push_str(EXERCISE_BANNER);
        s.push('\n');
    }
    s.push_str(&banner(label));
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_core::{Address, CaseId, Message, MessageId, Role};

    fn view(direction: &str, tlp: Tlp, exercise: bool) -> MessageView {
        let message = Message {
            msg_id: MessageId([0xab; 16]),
            case_id: CaseId([0xcd; 16]),
            in_reply_to: None,
            kind: MessageType::RequestForInformation,
            from: Address { state: "FRA".parse().unwrap(), role: Role::technical() },
            to: Address { state: "DEU".parse().unwrap(), role: Role::technical() },
            created_at: Timestamp(1_800_000_000),
            lang: Some("en".into()),
            tlp,
            severity: Some(3),
            is_exercise: exercise,
            respond_by: Some(Timestamp(1_800_007_200)),
            subject: "Scanning from AS64500".into(),
            body: "We observe scanning.\nCan you confirm?".into(),
            fields: Fields::None,
            attachments: vec![],
        };
        MessageView {
            direction: if direction == "in" { Direction::In } else { Direction::Out },
            status: if direction == "in" { MessageState::Received } else { MessageState::Delivered },
            old_state: None,
            read: direction == "out",
            at: Timestamp(1_800_000_001),
            sender_node: (direction == "in").then(|| "12D3KooWsender".into()),
            acknowledged_with: None,
            answered: false,
            deliveries: if direction == "out" {
                vec![DeliveryView {
                    node: "12D3KooWrecipientnodeid".into(),
                    status: DeliveryState::Delivered,
                    old_state: hotline_node::api_types::old_name(DeliveryState::Delivered),
                    attempts: 0,
                    last_error: None,
                    received_at: Some(Timestamp(1_800_000_002)),
                    receipt: Some("00".into()),
                    log_position: Some(0),
                }]
            } else {
                vec![]
            },
            message,
        }
    }

    #[test]
    fn banners() {
        assert_eq!(banner(Tlp::Amber), "==== TLP:AMBER ====");
        assert_eq!(banner(Tlp::AmberStrict), "==== TLP:AMBER+STRICT ====");
        assert_eq!(banner(Tlp::Red), "==== TLP:RED ====");
    }

    #[test]
    fn formal_note_has_banners_top_and_bottom_and_the_header() {
        let note = formal(&view("in", Tlp::Red, true), Timestamp(1_800_000_100));
        let lines: Vec<&str> = note.lines().collect();
        assert_eq!(lines[0], "==== TLP:RED ====");
        assert_eq!(lines[1], EXERCISE_BANNER);
        assert_eq!(lines[lines.len() - 1], "==== TLP:RED ====");
        assert_eq!(lines[lines.len() - 2], EXERCISE_BANNER);
        assert!(note.contains(&format!("Message:      {}\n", "ab".repeat(16))), "{note}");
        assert!(note.contains("Case:         cdcd"), "{note}");
        assert!(note.contains("Type:         request_for_information\n"), "{note}");
        assert!(note.contains("From:         FRA/technical (node 12D3KooWsender)\n"), "{note}");
        assert!(note.contains("To:           DEU/technical\n"), "{note}");
        assert!(note.contains("Sent:         2027-01-15 08:00:00 UTC\n"), "{note}");
        assert!(note.contains("Severity:     3 of 5\n"), "{note}");
        assert!(note.contains("Respond by:   2027-01-15 10:00:00 UTC (in 1h58m)\n"), "{note}");
        assert!(note.contains("Language:     en\n"), "{note}");
        assert!(note.contains("Subject: Scanning from AS64500\n\nWe observe scanning.\nCan you confirm?\n"), "{note}");
        assert!(note.contains("not acknowledged yet (hotline ack abab"), "{note}");
        assert!(!note.contains("Delivery"), "{note}");
    }

    #[test]
    fn formal_note_of_a_sent_message_shows_delivery_and_no_exercise_banner() {
        let mut v = view("out", Tlp::Amber, false);
        v.message.respond_by = None;
        let note = formal(&v, Timestamp(1_800_000_100));
        assert!(note.starts_with("==== TLP:AMBER ====\n\nMessage:"), "{note}");
        assert!(note.ends_with("\n==== TLP:AMBER ====\n"), "{note}");
        assert!(!note.contains("EXERCISE"), "{note}");
        assert!(!note.contains("Respond by"), "{note}");
        assert!(note.contains("Delivery (delivered):\n  node 12D3KooWrecipientnodeid: delivered, stored by"), "{note}");
        assert!(note.contains("signed receipt held"), "{note}");
        assert!(note.contains("Acknowledged:  not yet"), "{note}");
    }

    #[test]
    fn overdue_answers_are_flagged() {
        let note = formal(&view("in", Tlp::Green, false), Timestamp(1_800_010_800));
        assert!(note.contains("(OVERDUE by 1h)"), "{note}");
    }

    #[test]
    fn a_thread_shows_a_reply_that_dropped_its_questions_marks() {
        let question = view("in", Tlp::Red, true);
        let mut forced = view("out", Tlp::Clear, false);
        forced.message.msg_id = MessageId([0xef; 16]);
        forced.message.in_reply_to = Some(question.message.msg_id);
        let mut kept = view("out", Tlp::Red, true);
        kept.message.msg_id = MessageId([0x12; 16]);
        kept.message.in_reply_to = Some(question.message.msg_id);
        let text = thread(&[question, forced, kept], &Names::new());
        let marks: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with('!')).collect();
        assert_eq!(
            marks,
            [
                "    ! Label lowered by its sender: TLP:CLEAR answers a TLP:RED message",
                "    ! Marked as real by its sender: it answers an EXERCISE"
            ],
            "only the forced reply is marked:\n{text}"
        );
    }

    #[test]
    fn thread_uses_the_strictest_label() {
        let mut second = view("out", Tlp::Red, false);
        second.message.created_at = Timestamp(1_800_000_500);
        let mut names = Names::new();
        names.insert(second.message.from.clone(), "CERT-FR, Head of incident response".into());
        let text = thread(&[view("in", Tlp::Green, false), second], &names);
        assert!(text.starts_with("==== TLP:RED ====\n\nCase cdcd"), "{text}");
        assert!(text.contains("\n    From CERT-FR, Head of incident response\n"), "{text}");
        assert!(text.ends_with("==== TLP:RED ====\n"), "{text}");
        assert!(text.contains("[1] 2027-01-15 08:00:00 UTC  FRA/technical → DEU/technical  TLP:GREEN"), "{text}");
        assert!(text.contains("[2] "), "{text}");
        assert!(text.contains("    We observe scanning.\n    Can you confirm?\n"), "{text}");
    }

    #[test]
    fn remote_text_cannot_rewrite_the_terminal() {
        assert_eq!(clean_line("a\u{1b}[2Jb\nc\u{202e}d"), "a\u{FFFD}[2Jb c\u{FFFD}d");
        assert_eq!(clean_text("a\nb\r"), "a\nb\u{FFFD}");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }

    #[test]
    fn durations_and_times() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(59), "59s");
        assert_eq!(duration(60), "1m");
        assert_eq!(duration(5400), "1h30m");
        assert_eq!(duration(7200), "2h");
        assert_eq!(duration(3 * 86_400 + 3600 + 5), "3d1h");
        assert_eq!(relative(Timestamp(100), Timestamp(40)), "in 1m");
        assert_eq!(relative(Timestamp(40), Timestamp(100)), "1m ago");
        assert_eq!(utc(Timestamp(1_795_376_701)), "2026-11-22 19:45:01 UTC");
        assert_eq!(utc_short(Timestamp(1_795_376_701)), "2026-11-22 19:45:01");
        assert_eq!(short_peer("12D3KooWAbCdEfGhIjKlMnOpQrStUv"), "12D3KooWAbCd…QrStUv");
    }
}
