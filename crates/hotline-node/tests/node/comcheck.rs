//! Communication checks between real nodes: every outcome, the counterpart
//! task, and the signed report with each state's own copy.

use hotline_core::comcheck::{Outcome, SignedComcheckReport};
use hotline_core::{CaseId, ComcheckTask, Fields, MessageType, Role, StateCode};
use hotline_node::api_types::{ComcheckAnswerRequest, ComcheckStartRequest, ComcheckView, MessageQuery};
use hotline_node::testkit::*;
use hotline_node::{NodeHandle, RunningNode};
use std::time::Duration;

fn state(code: &str) -> StateCode {
    code.parse().unwrap()
}

/// Starts one node per state; each publishes records for `roles`.
async fn network(net: &TestNet, nodes: &[(&str, &[&str])]) -> Vec<RunningNode> {
    network_on(net, nodes, None).await
}

/// [`network`], every node reading `clock` when one is given.
async fn network_on(net: &TestNet, nodes: &[(&str, &[&str])], clock: Option<hotline_node::Clock>) -> Vec<RunningNode> {
    let mut running: Vec<RunningNode> = Vec::new();
    for (code, roles) in nodes {
        let prepared = net.prepare(&code.to_lowercase(), code, true);
        let bootstrap: Vec<_> = running.first().map(first_addr).into_iter().collect();
        let mut opts = options(&bootstrap);
        if let Some(clock) = &clock {
            opts.clock = clock.clone();
        }
        let node = start(&prepared, opts).await;
        for role in *roles {
            publish(&node.handle(), role, &format!("{code} {role}")).await;
        }
        running.push(node);
    }
    let handles: Vec<NodeHandle> = running.iter().map(|n| n.handle()).collect();
    // Admissions, records and one prekey bundle per node.
    let objects = nodes.len() * 2 + nodes.iter().map(|(_, r)| r.len()).sum::<usize>();
    converged(&handles, objects).await;
    running
}

/// The challenge of `id` that `node` received for `role`, with its nonce.
async fn challenge(node: &NodeHandle, id: CaseId, role: &Role) -> Option<String> {
    poll_until("the challenge to arrive", || async {
        let inbox = node.messages(MessageQuery { case: Some(id), ..Default::default() }).await.ok()?;
        for m in inbox.iter().filter(|m| m.kind == MessageType::ComcheckChallenge && m.to.role == *role) {
            let full = node.message(m.msg_id, false).await.ok()?;
            if let Fields::ComcheckChallenge { nonce, .. } = full.message.fields {
                return Some(nonce);
            }
        }
        None
    })
    .await
}

async fn answer(node: &NodeHandle, id: CaseId, code: Option<String>, role: Role) {
    node.comcheck_answer(id, ComcheckAnswerRequest { code, role: Some(role), force: false }).await.unwrap();
}

/// An answer that fails the check for sure: refused with `refusal`, then
/// sent with `force`.
async fn answer_forced(node: &NodeHandle, id: CaseId, code: Option<String>, role: Role, refusal: &str) {
    let request = ComcheckAnswerRequest { code, role: Some(role), force: false };
    match node.comcheck_answer(id, request.clone()).await {
        Err(e) => assert_eq!(e.code(), refusal, "{e}"),
        Ok(sent) => panic!("an answer that fails the check was sent without force: {sent:?}"),
    }
    node.comcheck_answer(id, ComcheckAnswerRequest { force: true, ..request }).await.unwrap();
}

async fn wait_outcome(initiator: &NodeHandle, id: CaseId, target: &str, role: &Role, outcome: Outcome) -> ComcheckView {
    poll_until(&format!("{target}/{role} to be {outcome}"), || async {
        let view = initiator.comcheck_status(id).await.ok()?;
        let t = view.targets.iter().find(|t| t.target.state == state(target) && t.target.role == *role)?;
        (t.outcome == outcome).then_some(view.clone())
    })
    .await
}

fn outcome_of(view: &ComcheckView, target: &str, role: &Role) -> Outcome {
    view.targets.iter().find(|t| t.target.state == state(target) && t.target.role == *role).unwrap().outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_outcome_and_a_signed_report_each_state_sees_its_own_line_of() {
    let net = TestNet::new("comcheck outcomes");
    let tech = Role::technical();
    let policy = Role::policy();
    // The deadline passes when the shared clock is moved past it, not after
    // a real wait: the steps before it take what a loaded machine needs.
    let (clock, offset) = adjustable_clock();
    let nodes = network_on(
        &net,
        &[
            ("FRA", &["technical"]),
            ("DEU", &["technical", "policy"]),
            ("EST", &["technical"]),
            ("FIN", &["technical"]),
            ("POL", &["technical"]),
        ],
        Some(clock),
    )
    .await;
    let (fra, deu, est, fin) = (nodes[0].handle(), nodes[1].handle(), nodes[2].handle(), nodes[3].handle());
    let mut nodes = nodes;
    // POL is offline for the whole check.
    nodes.remove(4).shutdown().await.unwrap();

    let started = fra
        .comcheck_start(ComcheckStartRequest {
            to: None,
            role: None,
            deadline_secs: 600,
            task: ComcheckTask::Nonce,
            announced: false,
            is_exercise: true,
            share_full: false,
            from_role: None,
        })
        .await
        .unwrap();
    let id = started.comcheck_id;
    // Every record held of another state: DEU twice, EST, FIN, POL.
    assert_eq!(started.targets.len(), 5, "{started:?}");

    // DEU technical answers correctly and in time; DEU policy with a wrong code.
    let nonce = challenge(&deu, id, &tech).await;
    answer(&deu, id, nonce.clone(), tech.clone()).await;
    // A second answer, even a right one, is refused: the first one counts.
    answer_forced(&deu, id, nonce, tech.clone(), "already_answered").await;
    challenge(&deu, id, &policy).await;
    answer_forced(&deu, id, Some("wrong".into()), policy.clone(), "code_mismatch").await;
    // EST and FIN receive the challenge (a machine receipt), nobody answers yet.
    challenge(&est, id, &tech).await;
    challenge(&fin, id, &tech).await;
    wait_outcome(&fra, id, "DEU", &tech, Outcome::Pass).await;
    wait_outcome(&fra, id, "DEU", &policy, Outcome::FailKey).await;
    let during = wait_outcome(&fra, id, "FIN", &tech, Outcome::Delivered).await;
    assert!(!during.finished, "the deadline is ten minutes away on the shared clock");
    assert_eq!(outcome_of(&during, "POL", &tech), Outcome::Pending);
    assert!(fra.comcheck_report(id).await.is_err(), "no report before the deadline");

    // After the deadline: EST answers late; FIN never answers; POL never got it.
    offset.store(601, std::sync::atomic::Ordering::SeqCst);
    poll_until("the deadline", || async { fra.comcheck_status(id).await.ok()?.finished.then_some(()) }).await;
    let est_nonce = challenge(&est, id, &tech).await;
    answer(&est, id, est_nonce, tech.clone()).await;
    let after = wait_outcome(&fra, id, "EST", &tech, Outcome::Late).await;
    assert_eq!(outcome_of(&after, "FIN", &tech), Outcome::NoResponse);
    assert_eq!(outcome_of(&after, "POL", &tech), Outcome::Undeliverable);
    assert_eq!(outcome_of(&after, "DEU", &tech), Outcome::Pass);
    assert_eq!(outcome_of(&after, "DEU", &policy), Outcome::FailKey);

    // The signed report: every line for the initiator, verified.
    let report = fra.comcheck_report(id).await.unwrap();
    let signed = SignedComcheckReport::from_bytes(&hex::decode(&report.signed_hex).unwrap()).unwrap();
    signed.verify(&net.world.net).unwrap();
    assert_eq!(signed.signer, node_of(fra.peer_id()));
    assert_eq!(report.report.lines.len(), 5);
    assert_eq!(report.report.aggregates.by_outcome.get(&Outcome::Pass), Some(&1));
    assert_eq!(report.report.aggregates.response_permille_by_role.get(&tech), Some(&500));
    assert_eq!(report.sent_to, vec![state("DEU"), state("EST"), state("FIN"), state("POL")]);

    // EST's copy arrives as a message with the signed report attached,
    // holding EST's line only, plus the aggregates over all.
    let copy = poll_until("EST's copy of the report", || async {
        let inbox = est.messages(MessageQuery { case: Some(id), ..Default::default() }).await.ok()?;
        let m = inbox.iter().find(|m| m.kind == MessageType::StatusUpdate)?;
        let full = est.message(m.msg_id, false).await.ok()?;
        let attachment = full.message.attachments.first()?;
        SignedComcheckReport::from_bytes(&attachment.data).ok()
    })
    .await;
    copy.verify(&net.world.net).unwrap();
    assert_eq!(copy.report.only_state, Some(state("EST")));
    assert_eq!(copy.report.lines.len(), 1);
    assert_eq!(copy.report.lines[0].outcome, Outcome::Late);
    assert_eq!(copy.report.aggregates, report.report.aggregates);

    for node in nodes {
        node.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counterpart_check_passes_only_when_the_other_role_answers() {
    let net = TestNet::new("comcheck counterpart");
    let tech = Role::technical();
    let policy = Role::policy();
    let nodes =
        network(&net, &[("FRA", &["technical"]), ("DEU", &["technical", "policy"]), ("EST", &["technical", "policy"])])
            .await;
    let (fra, deu, est) = (nodes[0].handle(), nodes[1].handle(), nodes[2].handle());
    let started = fra
        .comcheck_start(ComcheckStartRequest {
            to: Some(vec![state("DEU"), state("EST")]),
            role: Some(tech.clone()),
            deadline_secs: 30,
            task: ComcheckTask::Counterpart,
            announced: true,
            is_exercise: true,
            share_full: false,
            from_role: None,
        })
        .await
        .unwrap();
    let id = started.comcheck_id;
    // DEU's policy PoC answers the challenge sent to its technical PoC: pass.
    challenge(&deu, id, &tech).await;
    answer(&deu, id, None, policy.clone()).await;
    // EST's technical PoC answers itself: that is not national coordination.
    challenge(&est, id, &tech).await;
    answer_forced(&est, id, None, tech.clone(), "wrong_role").await;
    wait_outcome(&fra, id, "DEU", &tech, Outcome::Pass).await;
    wait_outcome(&fra, id, "EST", &tech, Outcome::FailKey).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    for node in nodes {
        node.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_survives_a_restart_of_the_initiator_and_runs_unannounced() {
    use hotline_core::time::DAY;
    use hotline_node::api_types::ComcheckScheduleRequest;
    use std::sync::atomic::Ordering;

    let net = TestNet::new("comcheck schedule");
    let (shared, offset) = adjustable_clock();
    let opts = |bootstrap: &[hotline_node::Multiaddr]| {
        let mut o = options(bootstrap);
        o.clock = shared.clone();
        // Schedules are looked at with the liveness samples.
        o.liveness_interval = Duration::from_millis(100);
        o
    };
    let fra_data = net.prepare("fra", "FRA", true);
    let deu_data = net.prepare("deu", "DEU", true);
    let fra = start(&fra_data, opts(&[])).await;
    let deu = start(&deu_data, opts(&[first_addr(&fra)])).await;
    publish(&fra.handle(), "technical", "CERT-FR").await;
    publish(&deu.handle(), "technical", "CERT-Bund").await;
    converged(&[fra.handle(), deu.handle()], 6).await;

    let check = ComcheckStartRequest {
        to: Some(vec![state("DEU")]),
        role: Some(Role::technical()),
        deadline_secs: 3600,
        task: ComcheckTask::None,
        announced: true,
        is_exercise: true,
        share_full: false,
        from_role: None,
    };
    let scheduled = fra.handle().comcheck_schedule(ComcheckScheduleRequest { every_secs: DAY, check }).await.unwrap();
    assert!(!scheduled.check.announced, "scheduled checks are unannounced");
    assert!(fra.handle().comcheck_list().await.unwrap().is_empty());

    // The initiator restarts: the schedule is still there, unchanged.
    fra.shutdown().await.unwrap();
    let fra = start(&fra_data, opts(&[first_addr(&deu)])).await;
    let held = fra.handle().comcheck_schedules().await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!((held[0].schedule_id, held[0].next_at), (scheduled.schedule_id, scheduled.next_at));

    // A day later the period's check has run, and the next is in the next period.
    offset.store(DAY, Ordering::SeqCst);
    let ran = poll_until("the scheduled check to run", || async {
        let list = fra.handle().comcheck_list().await.ok()?;
        (list.len() == 1).then(|| list[0].clone())
    })
    .await;
    assert!(!ran.announced);
    assert_eq!(ran.targets.len(), 1);
    let after = &fra.handle().comcheck_schedules().await.unwrap()[0];
    assert_eq!(after.runs, vec![ran.comcheck_id]);
    assert!(after.next_at > scheduled.next_at, "{after:?}");
    // The challenge reaches DEU like any other.
    challenge(&deu.handle(), ran.comcheck_id, &Role::technical()).await;
    fra.shutdown().await.unwrap();
    deu.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poc_that_failed_its_last_two_checks_shows_as_unconfirmed_and_sending_to_it_needs_force() {
    use hotline_core::{Address, Tlp};
    use hotline_node::api_types::SendRequest;
    use std::sync::atomic::Ordering;

    let net = TestNet::new("comcheck unconfirmed");
    let (shared, offset) = adjustable_clock();
    let opts = |bootstrap: &[hotline_node::Multiaddr]| {
        let mut o = options(bootstrap);
        o.clock = shared.clone();
        o
    };
    let fra_data = net.prepare("fra", "FRA", true);
    let deu_data = net.prepare("deu", "DEU", true);
    let fra_node = start(&fra_data, opts(&[])).await;
    let deu_node = start(&deu_data, opts(&[first_addr(&fra_node)])).await;
    let (fra, deu) = (fra_node.handle(), deu_node.handle());
    publish(&fra, "technical", "CERT-FR").await;
    publish(&deu, "technical", "CERT-Bund").await;
    converged(&[fra.clone(), deu.clone()], 6).await;
    let tech = Role::technical();
    let deu_tech = Address { state: state("DEU"), role: tech.clone() };
    let status_of_deu = || async { fra.record(state("DEU"), tech.clone()).await.unwrap().status };

    // Two checks DEU receives and never answers; the clock, not a sleep, passes each deadline.
    for round in 1..=2u64 {
        let started = fra
            .comcheck_start(ComcheckStartRequest {
                to: Some(vec![state("DEU")]),
                role: Some(tech.clone()),
                deadline_secs: 60,
                task: ComcheckTask::None,
                announced: false,
                is_exercise: true,
                share_full: false,
                from_role: None,
            })
            .await
            .unwrap();
        wait_outcome(&fra, started.comcheck_id, "DEU", &tech, Outcome::Delivered).await;
        assert_eq!(status_of_deu().await, "current", "one failed check is not enough (round {round})");
        offset.store(round * 120, Ordering::SeqCst);
        wait_outcome(&fra, started.comcheck_id, "DEU", &tech, Outcome::NoResponse).await;
    }
    assert_eq!(status_of_deu().await, "unconfirmed");
    let listed = fra.directory().await.unwrap();
    assert!(listed.records.iter().any(|r| r.key == "rec/DEU/technical" && r.status == "unconfirmed"));
    // DEU's own view of its record is unchanged: nothing is changed in the record.
    assert_eq!(deu.record(state("DEU"), tech.clone()).await.unwrap().status, "current");

    let message = |force| SendRequest {
        tlp: Some(Tlp::Green),
        is_exercise: true,
        force,
        ..SendRequest::new(deu_tech.clone(), MessageType::Notification, "Are you there?")
    };
    let refused = fra.send(message(false)).await.unwrap_err().to_string();
    assert!(refused.contains("last two communication checks") && refused.contains("--force"), "{refused}");
    let sent = fra.send(message(true)).await.unwrap();
    assert_eq!(fra.wait_delivered(sent.msg_id, DEADLINE).await.unwrap().status, "delivered");
    fra_node.shutdown().await.unwrap();
    deu_node.shutdown().await.unwrap();
}
