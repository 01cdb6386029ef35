//! The messaging commands of the CLI (`send`, `inbox`, `show`, `ack`,
//! `thread`, `outbox`, `watch`) against two real `hotline daemon` processes,
//! FRA and DEU, set up with the README ceremony; and the input checks that
//! fail before any daemon is asked.

use crate::common::daemons::{DEADLINE, Daemon, fra_and_deu, json, poll};

use crate::common::{fails, hotline, hotline_bin, ok};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

const SUBJECT: &str = "Scanning from AS64500";
const BODY: &str = "We observe scanning of energy-sector hosts. Can you confirm?";

/// `hotline watch` on `data`, its lines (stdout and stderr) sent to a channel.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Watch {
    fn start(d: &Path, data: &str) -> Watch {
        Watch::start_with(d, data, &[])
    }

    fn start_with(d: &Path, data: &str, flags: &[&str]) -> Watch {
        let mut child = Command::new(hotline_bin())
            .args(["--data-dir", data, "watch"])
            .args(flags)
            .current_dir(d)
            .env_remove("HOTLINE_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let tx2 = tx.clone();
        std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).try_for_each(|l| tx.send(l)));
        std::thread::spawn(move || BufReader::new(stderr).lines().map_while(Result::ok).try_for_each(|l| tx2.send(l)));
        Watch { child, lines }
    }

    /// The first line that satisfies `wanted`.
    fn wait_for(&self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + DEADLINE;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if wanted(&line) => return line,
                Ok(line) => seen.push(line),
                Err(e) => panic!("hotline watch printed no {what} ({e}); it printed:\n{}", seen.join("\n")),
            }
        }
    }
}

#[test]
fn two_daemons_exchange_a_message_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (fra, deu) = fra_and_deu(d, "Messaging net");
    let both = [&fra, &deu];

    // FRA sends, and waits for DEU's signed receipt.
    let sent = json(
        d,
        &[
            "--data-dir",
            "fra",
            "send",
            "--to",
            "DEU",
            "--type",
            "request_for_information",
            "--subject",
            SUBJECT,
            "--body",
            BODY,
            "--severity",
            "3",
            "--respond-by",
            "2h",
            "--wait",
            "--timeout",
            "60s",
            "--json",
        ],
    );
    assert_eq!(sent["status"], "delivered", "{sent}");
    // Under its old name too, for one release.
    assert_eq!(sent["state"], sent["status"], "{sent}");
    assert_eq!(sent["deliveries"][0]["state"], sent["deliveries"][0]["status"], "{sent}");
    assert_eq!(sent["from"], serde_json::json!({"state": "FRA", "role": "technical"}), "{sent}");
    assert_eq!(sent["tlp"], "AMBER", "{sent}");
    assert_eq!(sent["deliveries"].as_array().unwrap().len(), 1, "{sent}");
    assert!(sent["deliveries"][0]["receipt"].is_string(), "{sent}");
    let id = sent["msg_id"].as_str().unwrap().to_string();
    let case = sent["case_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);

    // DEU's inbox lists it, unread.
    let inbox = json(d, &["--data-dir", "deu", "inbox", "--json"]);
    let items = inbox["messages"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{inbox}");
    assert_eq!(items[0]["msg_id"], id.as_str());
    assert_eq!(items[0]["read"], false);
    assert_eq!(items[0]["from"]["state"], "FRA");
    let text = ok(d, &["--data-dir", "deu", "inbox"]);
    let row = text.lines().find(|l| l.contains(&id)).unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains("FRA/technical") && row.contains("AMBER") && row.contains(SUBJECT), "{text}");
    assert!(row.ends_with("unread"), "{text}");
    assert_eq!(json(d, &["--data-dir", "deu", "inbox", "--unread", "--json"])["messages"].as_array().unwrap().len(), 1);

    // `show` prints the formal note and marks the message read.
    let note = ok(d, &["--data-dir", "deu", "show", &id]);
    let lines: Vec<&str> = note.lines().collect();
    assert_eq!(lines.first(), Some(&"==== TLP:AMBER ===="), "{note}");
    assert_eq!(lines.last(), Some(&"==== TLP:AMBER ===="), "{note}");
    assert!(!note.contains("EXERCISE"), "{note}");
    // On a terminal (here a pseudo-terminal made by script(1)) the banners
    // take the label's colour, unless NO_COLOR is set.
    let on_terminal = |no_color: bool| {
        let command = format!("{} --data-dir deu show {id}", hotline_bin().display());
        let mut script = Command::new("script");
        script.args(["-qec", &command, "/dev/null"]).current_dir(d).env_remove("HOTLINE_DATA_DIR");
        if no_color {
            script.env("NO_COLOR", "1");
        } else {
            script.env_remove("NO_COLOR");
        }
        // util-linux's script(1) is on every Linux this runs on; without
        // it there is no terminal to try, and this part is skipped.
        let out = script.output().ok()?;
        assert!(out.status.success(), "{out:?}");
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let amber = "\x1b[1;38;2;255;192;0;48;2;0;0;0m==== TLP:AMBER ====\x1b[0m";
    if let (Some(coloured), Some(plain)) = (on_terminal(false), on_terminal(true)) {
        assert!(coloured.starts_with(amber), "{coloured:?}");
        assert!(plain.starts_with("==== TLP:AMBER ===="), "{plain:?}");
    }
    for want in [
        format!("Message:      {id}"),
        format!("Case:         {case}"),
        "Type:         request_for_information".into(),
        "From:         FRA/technical, CERT-FR, Duty officer (node 12D3KooW".into(),
        "To:           DEU/technical".into(),
        "Severity:     3 of 5".into(),
        "Respond by:   ".into(),
        format!("Subject: {SUBJECT}"),
        BODY.into(),
    ] {
        assert!(note.contains(&want), "{want:?} missing from:\n{note}");
    }
    assert!(json(d, &["--data-dir", "deu", "inbox", "--unread", "--json"])["messages"].as_array().unwrap().is_empty());
    assert!(ok(d, &["--data-dir", "deu", "inbox", "--unread"]).contains("No unread messages."));

    // DEU acknowledges; FRA's `watch` and `show` see it.
    let watch = Watch::start(d, "fra");
    watch.wait_for("subscription notice", |l| l.starts_with("Watching the events of"));
    let ack = json(d, &["--data-dir", "deu", "ack", &id, "--note", "Looking into it", "--json"]);
    let ack_id = ack["msg_id"].as_str().unwrap().to_string();
    assert_eq!(ack["case_id"], case.as_str());
    assert!(ack["status"] == "queued" || ack["status"] == "delivered", "{ack}");
    poll("FRA to record the acknowledgement", &both, || {
        let view = json(d, &["--data-dir", "fra", "show", &id, "--json"]);
        (view["acknowledged_with"] == ack_id.as_str()).then_some(())
    });
    let line = watch.wait_for("acknowledgement event", |l| l.contains(" message_acknowledged "));
    // The time (UTC), then the event, with short ids.
    let (time, event) = line.split_once(' ').unwrap();
    assert!(time.len() == 8 && time.chars().filter(|c| *c == ':').count() == 2, "{line}");
    assert_eq!(
        event,
        format!(
            "message_acknowledged {} was acknowledged by DEU/technical (acknowledgement {})",
            &id[..8],
            &ack_id[..8]
        )
    );
    drop(watch);
    let fra_note = ok(d, &["--data-dir", "fra", "show", &id]);
    assert!(fra_note.contains("Delivery (delivered):") && fra_note.contains("signed receipt held"), "{fra_note}");
    // When, and with what note, the recipient acknowledged it.
    let acknowledged = "Acknowledged:  yes, by DEU/technical at 20";
    assert!(fra_note.contains(acknowledged) && fra_note.contains(&format!("(acknowledgement {ack_id})")), "{fra_note}");
    assert!(fra_note.contains("Their note:    Looking into it"), "{fra_note}");
    // A second acknowledgement is refused.
    let err = fails(d, &["--data-dir", "deu", "ack", &id]);
    assert!(err.contains("already acknowledged"), "{err}");

    // FRA has not displayed the acknowledgement yet; reading the thread
    // does, as `show` would.
    let unread = |data: &str| json(d, &["--data-dir", data, "inbox", "--unread", "--json"]);
    poll("the acknowledgement to reach FRA", &both, || {
        unread("fra")["messages"].as_array()?.iter().any(|m| m["msg_id"] == ack_id.as_str()).then_some(())
    });
    // Both sides hold the case: the request and its acknowledgement.
    for data in ["fra", "deu"] {
        let thread = json(d, &["--data-dir", data, "thread", &case, "--json"]);
        let views = thread["messages"].as_array().unwrap();
        assert_eq!(views.len(), 2, "{data}: {thread}");
        assert_eq!(views[0]["message"]["msg_id"], id.as_str());
        assert_eq!(views[1]["message"]["msg_id"], ack_id.as_str());
        assert_eq!(views[1]["message"]["kind"], "human_ack");
    }
    assert_eq!(unread("fra")["messages"], serde_json::json!([]), "the thread marked what it showed as read");
    let text = ok(d, &["--data-dir", "fra", "thread", &case]);
    assert!(text.starts_with("==== TLP:AMBER ====\n"), "{text}");
    assert!(text.contains(&format!("Case {case}: 2 messages, oldest first")), "{text}");
    assert!(text.contains("Note:          Looking into it"), "{text}");
    assert!(text.contains("\n    From CERT-Bund, Duty officer\n"), "each sender's organisation and position: {text}");

    // Nothing waits for a receipt on either side.
    assert_eq!(json(d, &["--data-dir", "fra", "outbox", "--json"]), serde_json::json!({"outbox": []}));
    poll("DEU's outbox to empty", &both, || {
        (json(d, &["--data-dir", "deu", "outbox", "--json"]) == serde_json::json!({"outbox": []})).then_some(())
    });
    assert!(ok(d, &["--data-dir", "deu", "outbox"]).contains("The outbox is empty"));

    // DEU answers by id prefix, the body on standard input.
    let mut child = Command::new(hotline_bin())
        .args([
            "--data-dir",
            "deu",
            "send",
            "--to",
            "FRA/technical",
            "--type",
            "response",
            "--subject",
            "Re: scanning",
            "--reply-to",
            &id[..10],
            "--tlp",
            "red",
            "--wait",
            "--json",
        ])
        .current_dir(d)
        .env_remove("HOTLINE_DATA_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"Confirmed.\r\nWe are\tblocking it.\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["status"], "delivered", "{reply}");
    assert_eq!(reply["case_id"], case.as_str(), "a reply stays in its case");
    let reply_id = reply["msg_id"].as_str().unwrap();
    let shown = json(d, &["--data-dir", "fra", "show", reply_id, "--json"]);
    assert_eq!(shown["message"]["body"], "Confirmed.\nWe are  blocking it.\n");
    assert_eq!(shown["message"]["in_reply_to"], id.as_str());
    assert_eq!(shown["message"]["tlp"], "RED", "a reply may raise the label (lowering takes --force)");
    assert_eq!(json(d, &["--data-dir", "fra", "thread", &id[..8], "--json"])["messages"].as_array().unwrap().len(), 3);
    let all = json(d, &["--data-dir", "fra", "inbox", "--all", "--json"]);
    assert_eq!(all["messages"].as_array().unwrap().len(), 3, "{all}");
    assert_eq!(all["next_before"], Value::Null, "one page holds them all: {all}");
    // The bare array of earlier releases, for one more release.
    let out = Command::new(hotline_bin())
        .args(["--data-dir", "fra", "inbox", "--all", "--json"])
        .current_dir(d)
        .env_remove("HOTLINE_DATA_DIR")
        .env("HOTLINE_JSON_LISTS", "array")
        .output()
        .unwrap();
    let old: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(old, all["messages"], "the same messages, as a bare array");
    let sent_box = ok(d, &["--data-dir", "fra", "inbox", "--sent"]);
    assert!(sent_box.lines().any(|l| l.contains(&id) && l.ends_with("delivered acked")), "{sent_box}");

    // A reply keeps the handling marks of what it answers: FRA's TLP:RED
    // exercise, answered with `hotline reply`, goes back RED and marked as
    // an exercise, to FRA, in the same case.
    let red = json(
        d,
        &[
            "--data-dir",
            "fra",
            "send",
            "--to",
            "DEU",
            "--type",
            "request_for_information",
            "--subject",
            "Drill: beacon",
            "--body",
            "x",
            "--tlp",
            "red",
            "--exercise",
            "--respond-by",
            "1h",
            "--wait",
            "--timeout",
            "60s",
            "--json",
        ],
    );
    let red_id = red["msg_id"].as_str().unwrap().to_string();
    // It awaits DEU's PoC on the desk; the RFI, acknowledged, does not.
    let awaiting = |data: &str| -> Vec<String> {
        let desk = json(d, &["--data-dir", data, "desk", "--json"]);
        desk["awaiting"].as_array().unwrap().iter().map(|m| m["msg_id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(awaiting("deu"), vec![red_id.clone()]);
    let desk_text = ok(d, &["--data-dir", "deu", "desk"]);
    assert!(desk_text.contains(&red_id[..8]) && desk_text.contains("1 awaiting, 0 overdue"), "{desk_text}");
    let status = ok(d, &["--data-dir", "deu", "status"]);
    assert!(status.contains("1 awaiting an answer, 0 overdue"), "{status}");
    let answer = json(d, &["--data-dir", "deu", "reply", &red_id[..12], "--body", "Seen.", "--json"]);
    assert_eq!(answer["tlp"], "RED", "{answer}");
    assert_eq!(answer["is_exercise"], true, "{answer}");
    assert_eq!(answer["to"], serde_json::json!({"state": "FRA", "role": "technical"}), "{answer}");
    assert_eq!(answer["case_id"], red["case_id"], "{answer}");
    let shown = json(d, &["--data-dir", "deu", "show", answer["msg_id"].as_str().unwrap(), "--json"]);
    assert_eq!(shown["message"]["subject"], "Re: Drill: beacon", "{shown}");
    assert_eq!(shown["message"]["kind"], "response", "{shown}");
    // The reply closes the respond-by, on both sides.
    assert!(awaiting("deu").is_empty(), "answered, it leaves the desk");
    poll("FRA to see its drill answered", &both, || {
        (json(d, &["--data-dir", "fra", "show", &red_id, "--json"])["answered"] == true).then_some(())
    });
    let fra_note = ok(d, &["--data-dir", "fra", "show", &red_id]);
    assert!(fra_note.contains("(answered)") && !fra_note.contains("OVERDUE"), "{fra_note}");
    // The thread says so too (worked out from the case in hand).
    let thread = json(d, &["--data-dir", "fra", "thread", red["case_id"].as_str().unwrap(), "--json"]);
    let drill =
        thread["messages"].as_array().unwrap().iter().find(|m| m["message"]["msg_id"] == red_id.as_str()).cloned();
    assert_eq!(drill.map(|m| m["answered"].clone()), Some(serde_json::json!(true)), "{thread}");
    // Lowering the label or dropping the exercise mark takes --force.
    let lower = ["--data-dir", "deu", "send", "--reply-to", &red_id, "--to", "FRA", "--type", "response"];
    let err = fails(d, &[&lower[..], &["--subject", "x", "--tlp", "clear", "--exercise"]].concat());
    assert!(err.contains("a reply to a TLP:RED message cannot be TLP:CLEAR"), "{err}");
    let err = fails(d, &[&lower[..], &["--subject", "x", "--tlp", "red"]].concat());
    assert!(err.contains("a reply to an exercise must be marked as one"), "{err}");
    ok(d, &[&lower[..], &["--subject", "x", "--tlp", "clear", "--exercise", "--force"]].concat());
    // The thread shows that the sender lowered the label on purpose.
    let text = ok(d, &["--data-dir", "deu", "thread", red["case_id"].as_str().unwrap()]);
    assert!(text.contains("! Label lowered by its sender: TLP:CLEAR answers a TLP:RED message"), "{text}");

    // Mistakes: one line each, non-zero exit.
    let err = fails(d, &["--data-dir", "fra", "send", "--to", "XXX", "--type", "notification", "--subject", "x"]);
    assert!(err.contains("'XXX' is not an ISO 3166-1 alpha-3"), "{err}");
    let err = fails(d, &["--data-dir", "fra", "send", "--to", "ITA", "--type", "notification", "--subject", "x"]);
    assert!(err.contains("no contact record of ITA/technical"), "{err}");
    // A role the charter does not declare is named as such, with the roles
    // it does; a role without a record, with where to write instead.
    let err = fails(d, &["--data-dir", "fra", "send", "--to", "DEU/legal", "--type", "notification", "--subject", "x"]);
    assert!(err.contains("legal is not a role of this network: its charter declares policy and technical"), "{err}");
    let err =
        fails(d, &["--data-dir", "fra", "send", "--to", "DEU/policy", "--type", "notification", "--subject", "x"]);
    assert!(err.contains("no contact record of DEU/policy is held; write to DEU/technical instead"), "{err}");
    // Every send opens with who sends to whom, under which label; the role
    // comes from HOTLINE_ROLE (a diplomat's profile) when --from-role is not
    // given, and FRA holds no policy record listing its node.
    let text = ok(d, &["--data-dir", "fra", "send", "--to", "DEU", "--type", "notification", "--subject", "Plain"]);
    let first = text.lines().next().unwrap_or_default();
    assert_eq!(first, "From FRA/technical → DEU/technical · TLP:AMBER", "{text}");
    let out = Command::new(hotline_bin())
        .args(["--data-dir", "fra", "send", "--to", "DEU/technical", "--type", "notification", "--subject", "x"])
        .current_dir(d)
        .env_remove("HOTLINE_DATA_DIR")
        .env("HOTLINE_ROLE", "policy")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("policy"), "HOTLINE_ROLE sets the sending role: {err}");
    // To its own state: refused at once, never queued to be retried for ever.
    let outbox_before = ok(d, &["--data-dir", "fra", "outbox", "--json"]);
    let err = fails(d, &["--data-dir", "fra", "send", "--to", "FRA", "--type", "notification", "--subject", "x"]);
    assert!(err.contains("FRA/technical is this node's own state"), "{err}");
    // With --json the error carries the daemon's stable code.
    let out =
        hotline(d, &["--json", "--data-dir", "fra", "send", "--to", "FRA", "--type", "notification", "--subject", "x"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "own_state", "{v}");
    assert_eq!(ok(d, &["--data-dir", "fra", "outbox", "--json"]), outbox_before, "nothing was queued");
    let unknown = "0".repeat(32);
    let err = fails(d, &["--data-dir", "fra", "show", &unknown]);
    assert!(err.contains(&format!("no message {unknown} is held")), "{err}");
    let err = fails(d, &["--data-dir", "fra", "ack", &id]);
    assert!(err.contains("cannot acknowledge") && err.contains("no received message"), "{err}");
    // A case id given to `show` points to `thread`, whole or as a prefix.
    for given in [&case[..], &case[..10]] {
        let err = fails(d, &["--data-dir", "fra", "show", given]);
        assert!(
            err.contains(&format!("{given} is a case, not a message: show the case with hotline thread {given}")),
            "{err}"
        );
    }
    let err = fails(d, &["--data-dir", "fra", "show", "ffffffffff"]);
    assert!(err.contains("no message held has an id starting with ffffffffff"), "{err}");

    // On an 80-column screen the lists fit it.
    for args in [
        &["--data-dir", "fra", "inbox", "--all"][..],
        &["--data-dir", "deu", "inbox"],
        &["--data-dir", "deu", "desk"],
        &["--data-dir", "fra", "peers"],
        &["--data-dir", "fra", "directory", "list"],
    ] {
        let out = Command::new(hotline_bin())
            .args(args)
            .current_dir(d)
            .env_remove("HOTLINE_DATA_DIR")
            .env("COLUMNS", "80")
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        let wide: Vec<&str> = text.lines().filter(|l| l.chars().count() > 80).collect();
        assert!(wide.is_empty(), "{args:?} at COLUMNS=80:\n{}", wide.join("\n"));
        assert!(text.lines().count() > 1, "{text}");
    }

    // Whether DEU's point of contact can be reached now, and its local time.
    let text = ok(d, &["--data-dir", "fra", "directory", "show", "DEU/technical"]);
    for want in ["  Issued ", ": connected", "  Last check     no check run from here has passed", "  Local time "] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }
    let shown = json(d, &["--data-dir", "fra", "directory", "show", "DEU/technical", "--json"]);
    assert_eq!(shown["reachability"][0]["nodes"][0]["connected"], true, "{shown}");

    // Stopped, the daemons are said to be not running; a `watch` running
    // then says so and fails, rather than falling silent.
    // With --follow, it waits for the daemon instead, says when it is back
    // and what it may have missed, and goes on.
    let mut watching = Watch::start(d, "fra");
    let following = Watch::start_with(d, "fra", &["--follow"]);
    watching.wait_for("subscription notice", |l| l.starts_with("Watching the events of"));
    following.wait_for("subscription notice", |l| l.starts_with("Watching the events of"));
    fra.stop();
    watching.wait_for("the end of the events", |l| l.contains("error: the daemon stopped"));
    let status = watching.child.wait().unwrap();
    assert!(!status.success(), "watch exits non-zero when the daemon stops");
    following.wait_for("the daemon's stop", |l| {
        l.ends_with("The daemon stopped; waiting for it to come back (interrupt to stop).")
    });
    let fra = Daemon::start(d, "fra");
    following.wait_for("the daemon's return", |l| l.contains("The daemon is back; events since "));
    // (A change made on FRA itself: the restarted FRA has no address of DEU.)
    ok(d, &crate::common::record_args("fra", "CERT-FR after the restart", "Europe/Paris", "fr,en"));
    following.wait_for("an event after the return", |l| l.contains("directory_changed rec/FRA/technical seq 2"));
    drop(following);
    fra.stop();
    deu.stop();
    let err = fails(d, &["--data-dir", "fra", "send", "--to", "DEU", "--type", "notification", "--subject", "x"]);
    assert!(err.contains("daemon is not running"), "{err}");
    let err = fails(d, &["--data-dir", "fra", "inbox"]);
    assert!(err.contains("daemon is not running"), "{err}");
}

#[test]
fn bad_input_fails_before_any_daemon_is_asked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("body.txt"), "body").unwrap();
    // The flags under test, then whichever of --to, --type and --subject they do not give.
    let send = |extra: &[&str]| {
        let mut args = vec!["--data-dir", "nowhere", "send"];
        args.extend_from_slice(extra);
        for (flag, value) in [("--to", "DEU"), ("--type", "notification"), ("--subject", "Subject")] {
            if !extra.contains(&flag) {
                args.extend_from_slice(&[flag, value]);
            }
        }
        fails(d, &args)
    };
    let cases: &[(&[&str], &str)] = &[
        (&["--to", "XXX"], "--to: 'XXX' is not an ISO 3166-1 alpha-3 country code"),
        (&["--to", "GER"], "--to: 'GER' is not an ISO 3166-1 alpha-3 country code: did you mean DEU (Germany)?"),
        (&["--to", "DEU/Tech nical"], "--to: 'Tech nical' is not a valid role name"),
        (&["--from-role", "POLICY"], "--from-role: 'POLICY' is not a valid role name"),
        (&["--type", "chat"], "--type: 'chat' is not a message type send accepts; use one of:"),
        (&["--severity", "9"], "--severity must be a whole number from 0 (none) to 5 (critical), not '9'"),
        (&["--subject", ""], "--subject must not be empty"),
        (&["--tlp", "purple"], "--tlp: 'purple' is not a TLP 2.0 label"),
        (&["--respond-by", "yesterday"], "--respond-by 'yesterday' is not a duration"),
        (&["--body-file", "missing.txt"], "cannot read the body file missing.txt"),
        (&["--body", "x", "--body-file", "body.txt"], "give the body with --body or --body-file, not both"),
        (&["--timeout", "10s"], "--timeout applies only with --wait"),
        (&["--wait", "--timeout", "2h"], "--timeout is at most 1h"),
        (&["--reply-to", "xyz"], "'xyz' is not a --reply-to message id"),
    ];
    for (extra, want) in cases {
        let err = send(extra);
        assert!(err.contains(want), "{extra:?}: {err}");
        assert!(!err.contains("daemon"), "{extra:?} must fail before the daemon is asked: {err}");
    }
    let err = fails(d, &["--data-dir", "nowhere", "show", "not-an-id"]);
    assert!(err.contains("'not-an-id' is not a message id"), "{err}");
    let err = fails(d, &["--data-dir", "nowhere", "inbox", "--sent", "--all"]);
    assert!(err.contains("not both"), "{err}");
    // With --json the error is also one JSON document on stdout.
    let out = hotline(d, &["--json", "--data-dir", "nowhere", "send", "--to", "XXX", "--type", "x", "--subject", "s"]);
    assert!(!out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("'XXX'"), "{v}");
    // Good input with no node there: says that, not "start the daemon"
    // (which would have a diplomat report the node down).
    let err = send(&["--body", "text"]);
    assert!(err.contains("there is no Hotline node at nowhere"), "{err}");
    let err = fails(d, &["--data-dir", "nowhere", "outbox"]);
    assert!(err.contains("there is no Hotline node at nowhere") && err.contains("--data-dir"), "{err}");
}

/// Runs `hotline ARGS` with no --data-dir, HOME in `d`, and the system-wide
/// CLI file `cli_file`; returns the one-line error.
fn without_data_dir(d: &Path, cli_file: &Path, args: &[&str]) -> String {
    let out = Command::new(hotline_bin())
        .args(args)
        .current_dir(d)
        .env_remove("HOTLINE_DATA_DIR")
        .env_remove("XDG_DATA_HOME")
        .env("HOME", d)
        .env("HOTLINE_CLI_CONFIG", cli_file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).trim_end().to_string()
}

#[test]
fn with_no_data_dir_the_cli_says_where_it_looked_and_how_to_point_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let absent = d.join("no-such-cli.toml");
    // Neither "start the daemon" nor "run init": there is no node here.
    for args in [&["inbox"][..], &["directory", "list"], &["status"]] {
        let err = without_data_dir(d, &absent, args);
        assert!(err.contains("there is no Hotline node at the default location"), "{args:?}: {err}");
        assert!(err.contains("--data-dir") && err.contains("/etc/hotline/cli.toml"), "{err}");
        assert!(!err.contains("hotline daemon") && !err.contains("hotline init"), "{err}");
    }
    // The system-wide file points every user at the node.
    let cli_file = d.join("cli.toml");
    std::fs::write(&cli_file, format!("data_dir = {:?}\n", d.join("srv").display().to_string())).unwrap();
    let err = without_data_dir(d, &cli_file, &["inbox"]);
    assert!(err.contains(&format!("there is no Hotline node at {}", d.join("srv").display())), "{err}");
    assert!(err.contains("cli.toml"), "{err}");
    std::fs::write(&cli_file, "datadir = 1\n").unwrap();
    let err = without_data_dir(d, &cli_file, &["inbox"]);
    assert!(err.contains("unknown field") && err.contains("cli.toml"), "{err}");
}

/// A message queued for a node that is down can be withdrawn: `hotline
/// outbox cancel` empties the outbox of it, the sent box shows it
/// cancelled, and it does not arrive once the node is back (a later
/// message does). Cancelling again, or cancelling a received message, is
/// refused with its code.
#[test]
fn a_queued_message_is_cancelled_and_never_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (fra, deu) = fra_and_deu(d, "Cancel net");
    deu.stop();
    poll("FRA to see DEU's node gone", &[&fra], || {
        let peers = json(d, &["--data-dir", "fra", "peers", "--json"]);
        peers["members"].as_array()?.iter().all(|m| m["connected"] == false).then_some(())
    });

    let send = |subject: &str| {
        let args =
            ["--data-dir", "fra", "send", "--to", "DEU", "--type", "notification", "--subject", subject, "--json"];
        json(d, &args)["msg_id"].as_str().unwrap().to_string()
    };
    // Sent to a node that is down, the message waits, and the sender is
    // told since when, and how else to reach the point of contact.
    let text =
        ok(d, &["--data-dir", "fra", "send", "--to", "DEU", "--type", "notification", "--subject", "Sent by mistake"]);
    let mistake = text.lines().find_map(|l| l.strip_prefix("Message: ")).unwrap_or_default().trim().to_string();
    assert_eq!(mistake.len(), 32, "{text}");
    assert!(text.contains("DEU/technical cannot be reached now (node 12D3KooW"), "{text}");
    assert!(text.contains("unreachable since 20"), "{text}");
    assert!(
        text.contains("Reach DEU/technical otherwise: 24/7 phone +33 6 00 00 00 00; phone +33 1 00 00 00 00"),
        "{text}"
    );
    let outbox = json(d, &["--data-dir", "fra", "outbox", "--json"]);
    assert_eq!(outbox["outbox"].as_array().map(Vec::len), Some(1), "{outbox}");

    let text = ok(d, &["--data-dir", "fra", "outbox", "cancel", &mistake[..10]]);
    assert!(text.contains("1 delivery withdrawn") && text.contains("marked cancelled"), "{text}");
    assert_eq!(json(d, &["--data-dir", "fra", "outbox", "--json"]), serde_json::json!({"outbox": []}));
    let shown = json(d, &["--data-dir", "fra", "show", &mistake, "--json"]);
    assert_eq!(
        (shown["status"].as_str(), shown["deliveries"][0]["status"].as_str()),
        (Some("cancelled"), Some("cancelled"))
    );
    let refusal = |args: &[&str]| {
        let out = hotline(d, args);
        assert!(!out.status.success(), "{args:?} should fail");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["error"]["code"].as_str().unwrap_or_default().to_string()
    };
    assert_eq!(refusal(&["--json", "--data-dir", "fra", "outbox", "cancel", &mistake]), "nothing_queued");

    // DEU comes back: the next message arrives, the cancelled one never.
    let deu = Daemon::start(d, "deu");
    let after = send("After the mistake");
    poll("the next message to arrive", &[&fra, &deu], || {
        let inbox = json(d, &["--data-dir", "deu", "inbox", "--json"]);
        inbox["messages"].as_array()?.iter().any(|m| m["msg_id"] == after.as_str()).then_some(inbox)
    });
    let inbox = json(d, &["--data-dir", "deu", "inbox", "--json"]);
    assert!(!inbox["messages"].as_array().unwrap().iter().any(|m| m["msg_id"] == mistake.as_str()), "{inbox}");
    assert_eq!(
        refusal(&["--json", "--data-dir", "deu", "outbox", "cancel", &after]),
        "not_found",
        "a received message"
    );
    fra.stop();
    deu.stop();
}

/// A node shared by DEU's policy and technical PoCs: `inbox --role` lists
/// each one's messages. Then DEU withdraws its policy record: the
/// revocation reaches FRA, whose sends to that role are refused with DEU's
/// other point of contact named; withdrawing it again is refused.
#[test]
fn a_shared_node_lists_each_role_and_a_withdrawn_record_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (fra, deu) = fra_and_deu(d, "Withdraw net");
    let both = [&fra, &deu];
    let policy: Vec<&str> = crate::common::record_args("deu", "Federal Foreign Office", "Europe/Berlin", "en")
        .into_iter()
        .map(|a| if a == "technical" { "policy" } else { a })
        .collect();
    ok(d, &policy);
    for data in ["fra", "deu"] {
        poll(&format!("{data} to hold DEU's policy record"), &both, || {
            (json(d, &["--data-dir", data, "status", "--json"])["live_objects"] == 7).then_some(())
        });
    }

    // One node, two points of contact: each lists its own messages.
    for (to, subject) in [("DEU/policy", "For the ministry"), ("DEU/technical", "For the CERT")] {
        ok(d, &["--data-dir", "fra", "send", "--to", to, "--type", "notification", "--subject", subject]);
    }
    let subjects = |role: &str| {
        let inbox = json(d, &["--data-dir", "deu", "inbox", "--role", role, "--json"]);
        inbox["messages"]
            .as_array()?
            .iter()
            .map(|m| m["subject"].as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
    };
    poll("both messages to arrive", &both, || {
        (subjects("policy")?.len() + subjects("technical")?.len() == 2).then_some(())
    });
    assert_eq!(subjects("policy"), Some(vec!["For the ministry".to_string()]));
    assert_eq!(subjects("technical"), Some(vec!["For the CERT".to_string()]));
    // Each PoC's desk (the role from --role, or a profile's HOTLINE_ROLE)
    // holds its own message, and counts the other's.
    let desk = json(d, &["--data-dir", "deu", "desk", "--role", "policy", "--json"]);
    let awaiting: Vec<&str> =
        desk["awaiting"].as_array().unwrap().iter().filter_map(|m| m["subject"].as_str()).collect();
    assert_eq!((awaiting, &desk["other_roles_awaiting"]), (vec!["For the ministry"], &serde_json::json!(1)), "{desk}");
    let out = Command::new(hotline_bin())
        .args(["--data-dir", "deu", "desk"])
        .current_dir(d)
        .env_remove("HOTLINE_DATA_DIR")
        .env("HOTLINE_ROLE", "technical")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("For the CERT") && !text.contains("For the ministry"), "{text}");
    assert!(text.contains("1 more awaits policy (hotline desk --role policy)."), "{text}");

    let text = ok(d, &["--data-dir", "deu", "record", "withdraw", "--role", "policy", "--reason", "Staff change"]);
    assert!(text.starts_with("Withdrew DEU/policy"), "{text}");
    let send =
        ["--json", "--data-dir", "fra", "send", "--to", "DEU/policy", "--type", "notification", "--subject", "x"];
    let refused = poll("FRA to refuse sends to the withdrawn record", &both, || {
        let out = hotline(d, &send);
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        (!out.status.success() && v["error"]["code"] == "record_not_in_force").then_some(v)
    });
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("write to DEU/technical instead"), "{message}");
    let again = hotline(d, &["--json", "--data-dir", "deu", "record", "withdraw", "--role", "policy", "--reason", "x"]);
    let v: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(v["error"]["code"], "already_withdrawn", "{v}");
    fra.stop();
    deu.stop();
}
