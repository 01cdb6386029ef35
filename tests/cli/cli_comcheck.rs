//! The communication-check commands of the CLI (`hotline comcheck start`,
//! `status`, `list`, `report`, `answer`) against two real `hotline daemon`
//! processes, FRA and DEU, set up with the README ceremony; and the input
//! checks that fail before any daemon is asked.

use crate::common::daemons::{Daemon, fra_and_deu, json, logs, poll, send_and_wait};

use crate::common::{fails, hotline, ok};
use hotline_core::NetworkId;
use hotline_core::comcheck::SignedComcheckReport;
use serde_json::{Value, json};
use std::path::Path;

/// The media type of a report copy attached to a message.
const REPORT_MEDIA_TYPE: &str = "application/vnd.hotline.comcheck-report";

/// The first message in `data`'s inbox of `kind` in the case `case`.
fn received(d: &Path, data: &str, kind: &str, case: &str) -> Option<String> {
    let inbox = json(d, &["--data-dir", data, "inbox", "--json"]);
    inbox["messages"]
        .as_array()?
        .iter()
        .find(|m| m["kind"] == kind && m["case_id"] == case)
        .and_then(|m| m["msg_id"].as_str())
        .map(String::from)
}

/// The outcome of the check's only target, as `comcheck status` shows it.
fn outcome(d: &Path, id: &str) -> String {
    let view = json(d, &["--data-dir", "fra", "comcheck", "status", id, "--json"]);
    assert_eq!(view["targets"].as_array().map(Vec::len), Some(1), "{view}");
    view["targets"][0]["outcome"].as_str().unwrap_or_default().to_string()
}

/// Waits until the only target's outcome is final (a reply was judged, or
/// the deadline passed), and returns it.
fn final_outcome(d: &Path, id: &str, daemons: &[&Daemon]) -> String {
    poll(&format!("comcheck {id} to have a final outcome"), daemons, || {
        let o = outcome(d, id);
        (o != "pending" && o != "delivered").then_some(o)
    })
}

#[test]
fn a_comcheck_between_two_daemons_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (fra, deu) = fra_and_deu(d, "Comcheck net");
    let both = [&fra, &deu];
    // A message each way first, so the short check below measures a
    // working path, not the first connection.
    for (from, to) in [("fra", "DEU"), ("deu", "FRA")] {
        let sent = send_and_wait(d, from, to, "Comcheck next", "");
        assert_eq!(sent["status"], "delivered", "{sent}");
    }

    // Before any check: nothing to list, unknown ids refused.
    assert!(ok(d, &["--data-dir", "fra", "comcheck", "list"]).contains("No communication check was started"));
    assert_eq!(json(d, &["--data-dir", "fra", "comcheck", "list", "--json"]), json!({"comchecks": []}));
    let unknown = "0".repeat(32);
    let err = fails(d, &["--data-dir", "fra", "comcheck", "status", &unknown]);
    assert!(err.contains(&format!("no comcheck {unknown} is held")), "{err}");
    let err = fails(d, &["--data-dir", "fra", "comcheck", "report", &unknown]);
    assert!(err.contains(&format!("no comcheck {unknown} is held")), "{err}");
    let err = fails(d, &["--data-dir", "fra", "comcheck", "status", "abcdef12"]);
    assert!(err.contains("no check this node started has an id starting with abcdef12"), "{err}");
    let err = fails(d, &["--data-dir", "deu", "comcheck", "answer", &unknown]);
    assert!(err.contains(&format!("no comcheck challenge {unknown} was received")), "{err}");
    let err =
        fails(d, &["--data-dir", "fra", "comcheck", "start", "--to", "DEU", "--deadline", "4s", "--task", "bogus"]);
    assert!(err.contains("--task: 'bogus' is not a comcheck task; use one of: none, nonce"), "{err}");
    let err = fails(
        d,
        &[
            "--data-dir",
            "fra",
            "comcheck",
            "schedule",
            "--every",
            "7d",
            "--deadline",
            "1h",
            "--to",
            "deu",
            "--announced",
        ],
    );
    assert!(err.contains("--announced does not apply to a schedule"), "{err}");

    // A long check: its report is refused before the deadline.
    let long = json(
        d,
        &["--data-dir", "fra", "comcheck", "start", "--to", "deu", "--role", "technical", "--deadline", "1h", "--json"],
    );
    let long_id = long["comcheck_id"].as_str().unwrap().to_string();
    assert_eq!(long["task"], "none", "{long}");
    assert_eq!(long["finished"], false, "{long}");
    assert_eq!(long["targets"].as_array().map(Vec::len), Some(1), "{long}");
    let text = ok(d, &["--data-dir", "fra", "comcheck", "status", &long_id]);
    assert!(text.contains("Time left:  59m") || text.contains("Time left:  1h"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("DEU/technical  pending ") || l.starts_with("DEU/technical  delivered "))
    );
    let err = fails(d, &["--data-dir", "fra", "comcheck", "report", &long_id]);
    assert!(err.contains(&format!("comcheck {long_id} is not finished: its deadline is ")), "{err}");

    // The short check, with a code to echo.
    let started = json(
        d,
        &[
            "--data-dir",
            "fra",
            "comcheck",
            "start",
            "--to",
            "DEU",
            "--role",
            "technical",
            // Room for the steps below on a loaded machine: the answer must
            // be in before it, or the check fails as late.
            "--deadline",
            "20s",
            "--task",
            "nonce",
            "--json",
        ],
    );
    let id = started["comcheck_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    assert_eq!(started["task"], "nonce", "{started}");
    assert_eq!(started["initiator"], json!({"state": "FRA", "role": "technical"}), "{started}");
    assert_eq!(started["targets"].as_array().unwrap().len(), 1, "{started}");
    assert_eq!(started["targets"][0]["target"], json!({"state": "DEU", "role": "technical"}), "{started}");
    assert!(started["targets"][0]["challenge"].is_string(), "{started}");

    // DEU reads the code off its challenge and answers with it.
    let challenge = poll("DEU to receive the challenge", &both, || received(d, "deu", "comcheck_challenge", &id));
    let shown = json(d, &["--data-dir", "deu", "show", &challenge, "--json"]);
    let fields = &shown["message"]["fields"]["ComcheckChallenge"];
    assert_eq!(fields["comcheck_id"], id.as_str(), "{shown}");
    assert_eq!(fields["task"], "nonce", "{shown}");
    let nonce = fields["nonce"].as_str().unwrap_or_else(|| panic!("no nonce in {shown}")).to_string();
    // The challenge names who must answer and the exact command; it does
    // not offer `hotline ack`, which would not answer it.
    let note = ok(d, &["--data-dir", "deu", "show", &challenge]);
    assert!(note.contains("The technical point of contact of DEU must answer it"), "{note}");
    assert!(note.contains(&format!("hotline comcheck answer {id} --code {nonce}")), "{note}");
    assert!(!note.contains("(hotline ack"), "{note}");
    // Answers that would fail the check for good are refused before
    // anything is sent: another code, the wrong role.
    let err = fails(d, &["--data-dir", "deu", "comcheck", "answer", &id, "--code", "00000000"]);
    assert!(err.contains("the code is not the one the challenge carries"), "{err}");
    let err = fails(d, &["--data-dir", "deu", "comcheck", "answer", &id, "--code", &nonce, "--role", "policy"]);
    assert!(err.contains("must be answered as technical, not policy"), "{err}");
    let answered = json(d, &["--data-dir", "deu", "comcheck", "answer", &id, "--code", &nonce, "--json"]);
    assert_eq!(answered["case_id"], id.as_str(), "{answered}");
    // And a second answer: only the first counts.
    let err = fails(d, &["--data-dir", "deu", "comcheck", "answer", &id, "--code", &nonce]);
    assert!(err.contains("already answered"), "{err}");
    assert!(answered["status"] == "queued" || answered["status"] == "delivered", "{answered}");
    let reply_id = answered["msg_id"].as_str().unwrap().to_string();
    assert_ne!(reply_id, challenge);

    let result = final_outcome(d, &id, &both);
    assert_eq!(result, "pass", "the answer with the right code, in time, passes\n{}", logs(&both));
    let view = json(d, &["--data-dir", "fra", "comcheck", "status", &id, "--json"]);
    let target = &view["targets"][0];
    assert!(target["receipted_at"].is_u64() && target["replied_at"].is_u64(), "{view}");
    assert!(target["latency_secs"].as_u64().is_some_and(|l| l <= 20), "{view}");
    // By a prefix of its id, as text.
    let text = ok(d, &["--data-dir", "fra", "comcheck", "status", &id[..8]]);
    assert!(text.starts_with(&format!("Comcheck:   {id}\n")), "{text}");
    assert!(text.contains("Initiator:  FRA/technical") && text.contains("Task:       nonce; unannounced"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("DEU/technical  pass ")), "{text}");
    assert!(text.contains("Outcomes:   pass 1"), "{text}");

    // After the deadline: the report, signed, with DEU's copy sent.
    poll("the check to finish", &both, || {
        let view = json(d, &["--data-dir", "fra", "comcheck", "status", &id, "--json"]);
        (view["finished"] == true).then_some(())
    });
    let report = json(d, &["--data-dir", "fra", "comcheck", "report", &id, "--json"]);
    let lines = report["report"]["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{report}");
    assert_eq!(lines[0]["target"], json!({"state": "DEU", "role": "technical"}), "{report}");
    assert_eq!(lines[0]["outcome"], "pass", "{report}");
    assert_eq!(report["sent_to"], json!(["DEU"]), "{report}");
    let aggregates = &report["report"]["aggregates"];
    assert_eq!(aggregates["targets"], 1, "{report}");
    assert_eq!(aggregates["by_outcome"], json!({"pass": 1}), "{report}");
    assert_eq!(aggregates["response_permille_by_role"], json!({"technical": 1000}), "{report}");
    let fra_status = json(d, &["--data-dir", "fra", "status", "--json"]);
    assert_eq!(report["signer"], fra_status["peer_id"], "{report}");
    // A second report: the same lines, no second copy; as text.
    let text = ok(d, &["--data-dir", "fra", "comcheck", "report", &id[..10]]);
    for want in [
        format!("Report of communication check {id}"),
        "Initiator:      FRA/technical".into(),
        "Task:           nonce; unannounced".into(),
        "Targets:        1".into(),
        "Outcomes:       pass 1".into(),
        "Response rate:  technical 100%".into(),
        "Latency:        median ".into(),
        format!("Signed by:      node {}\n", fra_status["peer_id"].as_str().unwrap()),
        "Signature:      verifies (network ".into(),
        "FRA/technical's record lists that node".into(),
        "Copies:         sent to the targeted states by an earlier hotline comcheck report".into(),
    ] {
        assert!(text.contains(&want), "{want:?} missing from:\n{text}");
    }
    assert!(text.lines().any(|l| l.starts_with("DEU/technical  pass ")), "{text}");
    let again = json(d, &["--data-dir", "fra", "comcheck", "report", &id, "--json"]);
    assert_eq!(again["sent_to"], json!([]), "{again}");
    assert_eq!(again["report"]["lines"], report["report"]["lines"]);

    // DEU's copy arrives, signed by FRA's node, with DEU's line alone.
    let copy_id = poll("DEU to receive its copy of the report", &both, || received(d, "deu", "status_update", &id));
    let copy = json(d, &["--data-dir", "deu", "show", &copy_id, "--json"]);
    let attachment = &copy["message"]["attachments"][0];
    assert_eq!(attachment["media_type"], REPORT_MEDIA_TYPE, "{copy}");
    let bytes: Vec<u8> = serde_json::from_value(attachment["data"].clone()).unwrap();
    let signed = SignedComcheckReport::from_bytes(&bytes).unwrap();
    let network: NetworkId = fra_status["network_id"].as_str().unwrap().parse().unwrap();
    signed.verify(&network).unwrap();
    assert_eq!(signed.signer.to_string(), fra_status["peer_id"].as_str().unwrap());
    assert_eq!(signed.report.only_state, Some("DEU".parse().unwrap()));
    assert_eq!(signed.report.lines.len(), 1);
    assert_eq!(signed.report.comcheck_id.to_string(), id);

    // After the deadline, a nonce check still asks for the code.
    let err = fails(d, &["--data-dir", "deu", "comcheck", "answer", &id]);
    assert!(err.contains("answer with --code"), "{err}");

    // The long check, answered by a prefix of its challenge's id.
    let long_challenge =
        poll("DEU to receive the long check", &both, || received(d, "deu", "comcheck_challenge", &long_id));
    let answered = json(d, &["--data-dir", "deu", "comcheck", "answer", &long_challenge[..12], "--json"]);
    assert_eq!(answered["case_id"], long_id.as_str(), "{answered}");
    poll("the long check's technical target to pass", &both, || {
        let view = json(d, &["--data-dir", "fra", "comcheck", "status", &long_id, "--json"]);
        let targets = view["targets"].as_array()?;
        let t = targets.iter().find(|t| t["target"]["role"] == "technical")?;
        (t["outcome"] == "pass").then_some(())
    });

    // The list: both checks (in the order they started, but both may have
    // started within the same second, so the order is not checked).
    let list = json(d, &["--data-dir", "fra", "comcheck", "list", "--json"]);
    let mut ids: Vec<&str> =
        list["comchecks"].as_array().unwrap().iter().filter_map(|c| c["comcheck_id"].as_str()).collect();
    ids.sort_unstable();
    let mut want = [long_id.as_str(), id.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want, "{list}");
    let text = ok(d, &["--data-dir", "fra", "comcheck", "list"]);
    assert!(text.starts_with("ID "), "{text}");
    let row = text.lines().find(|l| l.starts_with(&id)).unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains(" nonce ") && row.contains(" reported ") && row.ends_with("pass 1"), "{row}");
    let row = text.lines().find(|l| l.starts_with(&long_id)).unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains(" none ") && row.contains(" running ") && row.ends_with("pass 1"), "{row}");
    let err = fails(d, &["--data-dir", "fra", "comcheck", "status", "ffffffffffffff"]);
    assert!(err.contains("no check this node started has an id starting with ffffffffffffff"), "{err}");
    // DEU started no check.
    assert!(ok(d, &["--data-dir", "deu", "comcheck", "list"]).contains("No communication check was started"));
}

#[test]
fn bad_comcheck_input_fails_before_any_daemon_is_asked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The flags under test, then whichever of --to and --deadline they do not give.
    let start = |extra: &[&str]| {
        let mut args = vec!["--data-dir", "nowhere", "comcheck", "start"];
        args.extend_from_slice(extra);
        for (flag, value) in [("--to", "DEU"), ("--deadline", "2h")] {
            if !extra.contains(&flag) {
                args.extend_from_slice(&[flag, value]);
            }
        }
        fails(d, &args)
    };
    let cases: &[(&[&str], &str)] = &[
        (
            &["--task", "bogus"],
            "--task: 'bogus' is not a comcheck task; use one of: none, nonce, confirm-record, counterpart",
        ),
        (&["--to", "XXX"], "--to: 'XXX' is not an ISO 3166-1 alpha-3 country code"),
        (&["--to", "FRA,,DEU"], "--to: an empty entry"),
        (&["--to", "all,DEU"], "give all, or a list of states, not both"),
        (&["--role", "Policy"], "--role: 'Policy' is not a valid role name"),
        (&["--from-role", "a b"], "--from-role: 'a b' is not a valid role name"),
        (&["--deadline", "soon"], "--deadline 'soon' is not a duration (for example 30s, 10m, 2h, 3d)"),
        (&["--deadline", "0s"], "--deadline must be at least 1s"),
        (&["--deadline", "31d"], "--deadline is at most 30d"),
    ];
    for (extra, want) in cases {
        let err = start(extra);
        assert!(err.contains(want), "{extra:?}: {err}");
        assert!(!err.contains("daemon"), "{extra:?} must fail before the daemon is asked: {err}");
    }
    let full = "ab".repeat(16);
    let more: &[(&[&str], &str)] = &[
        (&["status", "not-an-id"], "'not-an-id' is not a comcheck id"),
        (&["report", "abc"], "'abc' is not a comcheck id"),
        (&["answer", "xyz"], "'xyz' is not a comcheck id"),
        (&["answer", &full, "--code", " "], "--code must not be empty"),
        (&["answer", &full, "--role", "TECH"], "--role: 'TECH' is not a valid role name"),
    ];
    for (args, want) in more {
        let mut argv = vec!["--data-dir", "nowhere", "comcheck"];
        argv.extend_from_slice(args);
        let err = fails(d, &argv);
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("daemon"), "{args:?} must fail before the daemon is asked: {err}");
    }
    // Clap's own: --to and --deadline are required.
    let out = hotline(d, &["--data-dir", "nowhere", "comcheck", "start", "--to", "DEU"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--deadline"));
    // With --json the error is also one JSON document on stdout.
    let out = hotline(d, &["--json", "--data-dir", "nowhere", "comcheck", "start", "--to", "DEU", "--deadline", "x"]);
    assert!(!out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("--deadline 'x'"), "{v}");
    // Good input with no node there: says so (not "start the daemon").
    for args in [
        &["start", "--to", "all", "--deadline", "2h"][..],
        &["list"],
        &["status", &full],
        &["report", &full],
        &["answer", &full, "--code", "1a2b3c4d"],
    ] {
        let mut argv = vec!["--data-dir", "nowhere", "comcheck"];
        argv.extend_from_slice(args);
        let err = fails(d, &argv);
        assert!(err.contains("there is no Hotline node at nowhere"), "{args:?}: {err}");
    }
}
