//! Communication checks, inside the actor: starting one (a challenge
//! message to every targeted point of contact, through the normal durable
//! delivery), taking in the receipts and replies, answering a challenge
//! received, and signing the report.
//!
//! A check's state lives in the store's `comchecks` table, rewritten in the
//! same durable batch as whatever changed it (a reply is written with the
//! reply message). Outcomes are not stored: they follow from what was
//! observed, the deadline and the time ([`hotline_core::comcheck::evaluate`]).
//! Nothing here changes a contact record.

use super::{Actor, After};
use crate::api_types::{
    ComcheckAnswerRequest, ComcheckReportView, ComcheckScheduleRequest, ComcheckScheduleView, ComcheckStartRequest,
    ComcheckTargetView, ComcheckView, SendRequest, SendResponse,
};
use crate::error::NodeError;
use crate::handle::{SealedFor, SealedGroup};
use hotline_core::comcheck::{
    Aggregates, ComcheckReport, MAX_TARGETS, Observed, Reply, ReportLine, SignedComcheckReport, evaluate,
    task_satisfied,
};
use hotline_core::encoding;
use hotline_core::{
    Address, Attachment, CaseId, ComcheckTask, Fields, Message, MessageId, MessageType, ObjectKey, Role, StateCode,
    Timestamp, Tlp,
};
use hotline_store::{MessageRow, Store, WriteBatch};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tokio::sync::oneshot;
use tracing::{info, warn};

const ROW_FORMAT: u8 = 1;
const MAX_ROW_BYTES: usize = 4 * 1024 * 1024;
/// Longest deadline: a check is a test of reachability, not a case.
const MAX_DEADLINE_SECS: u64 = 30 * 24 * 3600;
/// The media type of a signed report attached to a message.
pub(super) const REPORT_MEDIA_TYPE: &str = "application/vnd.hotline.comcheck-report";

/// One target, as the initiator keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Target {
    address: Address,
    challenge: Option<MessageId>,
    nonce: Option<String>,
    observed: Observed,
    note: Option<String>,
}

/// A check this node runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Comcheck {
    id: CaseId,
    initiator: Address,
    started_at: Timestamp,
    deadline: Timestamp,
    task: ComcheckTask,
    announced: bool,
    exercise: bool,
    share_full: bool,
    targets: Vec<Target>,
    report_sent: bool,
}

impl Comcheck {
    fn encode(&self) -> Vec<u8> {
        encoding::encode_versioned(ROW_FORMAT, self)
    }
}

/// A check run every period, at a random time within it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Schedule {
    id: CaseId,
    every_secs: u64,
    check: ComcheckStartRequest,
    /// The start of the current period.
    period_start: Timestamp,
    /// When this period's check starts.
    next_at: Timestamp,
    /// The checks started, oldest first (the last [`MAX_RUNS_KEPT`]).
    runs: Vec<CaseId>,
}

/// Checks a schedule remembers.
const MAX_RUNS_KEPT: usize = 16;
/// Shortest period of a schedule.
const MIN_PERIOD_SECS: u64 = 60;

impl Schedule {
    fn encode(&self) -> Vec<u8> {
        encoding::encode_versioned(ROW_FORMAT, self)
    }

    fn view(&self) -> ComcheckScheduleView {
        ComcheckScheduleView {
            schedule_id: self.id,
            every_secs: self.every_secs,
            check: self.check.clone(),
            next_at: self.next_at,
            runs: self.runs.clone(),
        }
    }
}

/// A random time in the period starting at `start`, leaving room for the
/// deadline before the period ends.
fn random_time_in(start: Timestamp, every_secs: u64, deadline_secs: u64) -> Result<Timestamp, NodeError> {
    let room = every_secs.saturating_sub(deadline_secs).max(1);
    let r = u64::from_be_bytes(crate::random::bytes::<8>()?);
    Ok(start.plus(r % room))
}

/// The checks this node runs, its schedules, and which challenge belongs
/// to which target.
#[derive(Debug, Default)]
pub(crate) struct Comchecks {
    checks: BTreeMap<CaseId, Comcheck>,
    challenges: HashMap<MessageId, (CaseId, usize)>,
    schedules: BTreeMap<CaseId, Schedule>,
}

impl Comchecks {
    /// Loads the checks from the store.
    pub(crate) fn load(store: &Store) -> Result<Comchecks, NodeError> {
        let mut out = Comchecks::default();
        for (id, bytes) in store.comchecks()? {
            let check: Comcheck = encoding::decode_versioned("comcheck row", ROW_FORMAT, &bytes, MAX_ROW_BYTES)
                .map_err(|e| NodeError::StoreFailed(format!("comcheck {id} does not decode: {e}")))?;
            out.insert(check);
        }
        for (id, bytes) in store.schedules()? {
            let schedule: Schedule = encoding::decode_versioned("schedule row", ROW_FORMAT, &bytes, MAX_ROW_BYTES)
                .map_err(|e| NodeError::StoreFailed(format!("comcheck schedule {id} does not decode: {e}")))?;
            out.schedules.insert(id, schedule);
        }
        Ok(out)
    }

    fn insert(&mut self, check: Comcheck) {
        for (i, t) in check.targets.iter().enumerate() {
            if let Some(challenge) = t.challenge {
                self.challenges.insert(challenge, (check.id, i));
            }
        }
        self.checks.insert(check.id, check);
    }

    /// Forgets a check that could not be written (with its challenges).
    pub(super) fn forget(&mut self, id: CaseId) {
        if let Some(check) = self.checks.remove(&id) {
            for t in &check.targets {
                if let Some(challenge) = t.challenge {
                    self.challenges.remove(&challenge);
                }
            }
        }
    }
}

fn bad(code: &'static str, message: impl Into<String>) -> NodeError {
    NodeError::BadRequest { code, message: message.into() }
}

/// The state's other standard role, for `counterpart` checks.
fn other_role(role: &Role) -> Role {
    if *role == Role::policy() { Role::technical() } else { Role::policy() }
}

fn view(check: &Comcheck, now: Timestamp) -> ComcheckView {
    let mut counts = BTreeMap::new();
    let targets: Vec<ComcheckTargetView> = check
        .targets
        .iter()
        .map(|t| {
            let outcome = outcome(check, t, now);
            *counts.entry(outcome).or_insert(0) += 1;
            ComcheckTargetView {
                target: t.address.clone(),
                outcome,
                challenge: t.challenge,
                receipted_at: t.observed.receipted_at,
                replied_at: t.observed.reply.as_ref().map(|r| r.at),
                latency_secs: latency(check, t),
                note: t.note.clone(),
            }
        })
        .collect();
    ComcheckView {
        comcheck_id: check.id,
        initiator: check.initiator.clone(),
        started_at: check.started_at,
        deadline: check.deadline,
        task: check.task,
        announced: check.announced,
        exercise: check.exercise,
        share_full: check.share_full,
        finished: now > check.deadline,
        counts,
        targets,
        report_sent: check.report_sent,
    }
}

/// A target no challenge could be sent to is undeliverable at once.
fn outcome(check: &Comcheck, t: &Target, now: Timestamp) -> hotline_core::comcheck::Outcome {
    if t.challenge.is_none() {
        return hotline_core::comcheck::Outcome::Undeliverable;
    }
    evaluate(&t.observed, check.deadline, now)
}

fn latency(check: &Comcheck, t: &Target) -> Option<u64> {
    t.observed.reply.as_ref().map(|r| check.started_at.until(r.at))
}

fn challenge_text(task: ComcheckTask, nonce: Option<&str>, deadline: Timestamp) -> String {
    let what = match task {
        ComcheckTask::None => "Please answer this check.".to_string(),
        ComcheckTask::Nonce => {
            format!("Please answer with the code {}.", nonce.unwrap_or_default())
        }
        ComcheckTask::ConfirmRecord => {
            "Please confirm your contact record (or publish a new version first), then answer.".to_string()
        }
        ComcheckTask::Counterpart => "Your state's other point of contact must answer this check.".to_string(),
    };
    format!(
        "Communication check. {what} Answer with `hotline comcheck answer <id>` before {deadline}. \
         This tests that the point of contact is reachable; nothing changes in the directory."
    )
}

impl Actor {
    /// Starts a check: one challenge per targeted point of contact.
    pub(super) fn start_comcheck(
        &mut self,
        request: ComcheckStartRequest,
        reply: oneshot::Sender<Result<ComcheckView, NodeError>>,
    ) {
        match self.prepare_comcheck(request) {
            Ok((check, messages)) => self.launch(check, messages, WriteBatch::new(), Some(reply)),
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Seals a prepared check's challenges, then writes the check, the
    /// challenges and their outbox rows (with `batch`) in one durable batch
    /// (`Command::SealedGroup`): a crash can never leave a check whose
    /// challenges were not queued, which its signed report would blame on
    /// the targets as `undeliverable`.
    fn launch(
        &mut self,
        check: Comcheck,
        messages: Vec<(Message, Vec<hotline_core::NodeId>)>,
        mut batch: WriteBatch,
        reply: Option<oneshot::Sender<Result<ComcheckView, NodeError>>>,
    ) {
        let now = self.now();
        batch.put_comcheck(check.id, check.encode());
        info!(comcheck = %check.id, targets = check.targets.len(), task = ?check.task, "communication check started");
        let group = SealedGroup { extra: batch, comcheck: check.id, reply, view: Box::new(view(&check, now)) };
        self.comchecks.insert(check);
        self.seal_group(messages, group);
    }

    /// A check's challenges are sealed: write them with the check.
    pub(super) fn queue_group(&mut self, group: SealedGroup, sealed: Vec<(Message, Vec<u8>, Vec<SealedFor>)>) {
        let now = self.now();
        let SealedGroup { mut extra, comcheck, reply, view } = group;
        let mut queued = Vec::with_capacity(sealed.len());
        for (message, bytes, envelopes) in sealed {
            self.stage_sent(&message, bytes, &envelopes, now, &mut extra);
            queued.push((message.msg_id, envelopes));
        }
        self.persist_with(
            Vec::new(),
            extra,
            After::GroupQueued { comcheck, queued, queued_at: now, reply, view },
            Vec::new(),
        );
    }

    /// Sealing a check's challenges failed: nothing was written.
    pub(super) fn group_seal_failed(&mut self, group: SealedGroup, error: String) {
        warn!(comcheck = %group.comcheck, %error, "a communication check's challenges could not be sealed");
        self.comchecks.forget(group.comcheck);
        if let Some(reply) = group.reply {
            let _ = reply.send(Err(NodeError::Internal { code: "seal_failed", message: error }));
        }
    }

    /// The check and its challenges are durable (or not).
    pub(super) fn on_group_queued(
        &mut self,
        result: Result<(), String>,
        comcheck: CaseId,
        queued: Vec<(MessageId, Vec<SealedFor>)>,
        queued_at: hotline_core::Timestamp,
        reply: Option<oneshot::Sender<Result<ComcheckView, NodeError>>>,
        view: ComcheckView,
    ) {
        match result {
            Ok(()) => {
                for (id, envelopes) in queued {
                    self.mail.sent.remove(&id);
                    self.on_queued(envelopes, id, queued_at);
                }
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(view));
                }
            }
            Err(e) => {
                for (id, _) in &queued {
                    self.mail.sent.remove(id);
                }
                self.comchecks.forget(comcheck);
                if let Some(reply) = reply {
                    let _ = reply.send(Err(NodeError::StoreFailed(e)));
                }
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn prepare_comcheck(
        &self,
        request: ComcheckStartRequest,
    ) -> Result<(Comcheck, Vec<(Message, Vec<hotline_core::NodeId>)>), NodeError> {
        let now = self.now();
        if request.deadline_secs == 0 || request.deadline_secs > MAX_DEADLINE_SECS {
            return Err(bad("bad_deadline", format!("the deadline must be 1 s to {MAX_DEADLINE_SECS} s away")));
        }
        let deadline = now.plus(request.deadline_secs);
        let roles = match &request.role {
            Some(r) => vec![r.clone()],
            None => vec![Role::policy(), Role::technical()],
        };
        let states: BTreeSet<StateCode> = match &request.to {
            Some(list) if list.is_empty() => return Err(bad("no_target", "name at least one state")),
            Some(list) => list.iter().copied().collect(),
            None => self
                .dir
                .records(now)
                .iter()
                .map(|v| v.record.record.state)
                .filter(|s| *s != self.state && self.dir.is_admitted(*s, now))
                .collect(),
        };
        let id = CaseId(crate::random::bytes()?);
        let initiator = Address { state: self.state, role: request.from_role.unwrap_or_else(Role::technical) };
        // The challenges are signed as this PoC: its record must list this node.
        let listed = self.dir.record(self.state, &initiator.role).is_some_and(|r| {
            self.dir.record_status(r, now).is_in_force() && r.record.nodes.contains(&self.mail.node_id)
        });
        if !listed {
            return Err(bad(
                "not_listed",
                format!("this node is not listed in a contact record in force of {initiator}: publish it first"),
            ));
        }
        if request.to.as_ref().is_some_and(|l| l.contains(&self.state)) {
            return Err(bad("own_state", format!("{} cannot check itself", self.state)));
        }
        let mut targets = Vec::new();
        let mut messages = Vec::new();
        for state in states {
            if !self.dir.is_admitted(state, now) {
                // 400, not this node's own `not_admitted` (409): the request
                // names a state that cannot be checked.
                return Err(bad("target_not_admitted", format!("{state} has no admission in force")));
            }
            for role in &roles {
                if request.to.is_none() && self.dir.record(state, role).is_none() {
                    continue;
                }
                let address = Address { state, role: role.clone() };
                let nonce = match request.task {
                    ComcheckTask::Nonce => Some(hex::encode(crate::random::bytes::<4>()?)),
                    _ => None,
                };
                let send = SendRequest {
                    to: address.clone(),
                    from_role: Some(initiator.role.clone()),
                    kind: MessageType::ComcheckChallenge,
                    subject: format!("Communication check {}", &id.to_string()[..8]),
                    body: challenge_text(request.task, nonce.as_deref(), deadline),
                    tlp: Some(Tlp::Green),
                    severity: None,
                    is_exercise: request.exercise,
                    respond_by: Some(deadline),
                    case_id: Some(id),
                    in_reply_to: None,
                    lang: Some("en".into()),
                    fields: Some(Fields::ComcheckChallenge {
                        comcheck_id: id,
                        deadline,
                        task: request.task,
                        nonce: nonce.clone(),
                        announced: request.announced,
                    }),
                    force: false,
                };
                let (challenge, note) = match self.prepare(send) {
                    Ok((message, recipients)) => {
                        let id = message.msg_id;
                        messages.push((message, recipients));
                        (Some(id), None)
                    }
                    // The target still counts: it is undeliverable, and why is noted.
                    Err(e) if matches!(e, NodeError::NotFound(_) | NodeError::BadRequest { .. }) => {
                        (None, Some(e.to_string()))
                    }
                    Err(e) => return Err(e),
                };
                targets.push(Target { address, challenge, nonce, observed: Observed::default(), note });
            }
        }
        if targets.is_empty() {
            return Err(bad("no_target", "no point of contact matches: no record of those states and roles is held"));
        }
        if targets.len() > MAX_TARGETS {
            return Err(bad("too_many_targets", format!("at most {MAX_TARGETS} targets")));
        }
        let check = Comcheck {
            id,
            initiator,
            started_at: now,
            deadline,
            task: request.task,
            announced: request.announced,
            exercise: request.exercise,
            share_full: request.share_full,
            targets,
            report_sent: false,
        };
        Ok((check, messages))
    }

    /// A challenge's receipt came back: the target's node has it. The
    /// check's row goes into `batch`, the receipt's own write, so that the
    /// report can never say `undeliverable` for a receipt that is stored.
    pub(super) fn comcheck_receipted(&mut self, msg: MessageId, batch: &mut WriteBatch) {
        let Some((id, i)) = self.comchecks.challenges.get(&msg).copied() else { return };
        let now = self.now();
        let Some(check) = self.comchecks.checks.get_mut(&id) else { return };
        let Some(target) = check.targets.get_mut(i) else { return };
        if target.observed.receipted_at.is_none() {
            target.observed.receipted_at = Some(now);
        }
        // Written with every receipt of it, even when the time was already
        // set in memory: a first write that failed must not be the only one.
        batch.put_comcheck(id, check.encode());
    }

    /// A reply to one of our checks arrived (its sender is verified):
    /// judge it, and write the check with the reply message (`batch`).
    pub(super) fn comcheck_reply(&mut self, message: &Message, batch: &mut WriteBatch) {
        let Fields::ComcheckReply { comcheck_id, code, confirmed_record } = &message.fields else { return };
        let now = self.now();
        let from = &message.from;
        let Some(check) = self.comchecks.checks.get(comcheck_id) else { return };
        let wanted_role = |t: &Target| {
            if check.task == ComcheckTask::Counterpart {
                t.address.role != from.role
            } else {
                t.address.role == from.role
            }
        };
        let open = |t: &Target| t.address.state == from.state && t.observed.reply.is_none();
        // The target this reply answers; a reply from the wrong role still
        // counts against the state's open target (and fails its task).
        let Some(i) = check
            .targets
            .iter()
            .position(|t| open(t) && wanted_role(t))
            .or_else(|| check.targets.iter().position(open))
        else {
            return;
        };
        let target = &check.targets[i];
        let current =
            self.dir.entry(&ObjectKey::Record(target.address.state, target.address.role.clone())).map(|e| e.hash);
        let ok = task_satisfied(
            check.task,
            &target.address,
            from,
            target.nonce.as_deref(),
            code.as_deref(),
            confirmed_record.as_ref(),
            current.as_ref(),
        );
        let Some(check) = self.comchecks.checks.get_mut(comcheck_id) else { return };
        let target = &mut check.targets[i];
        target.observed.reply = Some(Reply { at: now, ok });
        if !ok {
            target.note = Some(format!("the reply from {from} did not satisfy the task"));
        }
        info!(comcheck = %comcheck_id, target = %target.address, from = %from, ok, "comcheck reply");
        batch.put_comcheck(*comcheck_id, check.encode());
    }

    /// Adds a periodic, unannounced check.
    pub(super) fn add_schedule(&mut self, request: ComcheckScheduleRequest) -> Result<ComcheckScheduleView, NodeError> {
        let every = request.every_secs;
        if every < MIN_PERIOD_SECS {
            return Err(bad("bad_period", format!("the period must be at least {MIN_PERIOD_SECS} s")));
        }
        if request.check.deadline_secs >= every {
            return Err(bad("bad_period", "the period must be longer than the check's deadline"));
        }
        let mut check = request.check;
        check.announced = false;
        // Refuse now what would fail at every run.
        self.prepare_comcheck(check.clone())?;
        let now = self.now();
        let schedule = Schedule {
            id: CaseId(crate::random::bytes()?),
            every_secs: every,
            next_at: random_time_in(now, every, check.deadline_secs)?,
            check,
            period_start: now,
            runs: Vec::new(),
        };
        let mut batch = WriteBatch::new();
        batch.put_schedule(schedule.id, schedule.encode());
        self.persist_with(Vec::new(), batch, After::Nothing, Vec::new());
        info!(schedule = %schedule.id, every_secs = every, "periodic communication check scheduled");
        let view = schedule.view();
        self.comchecks.schedules.insert(schedule.id, schedule);
        Ok(view)
    }

    pub(super) fn remove_schedule(&mut self, id: CaseId) -> Result<(), NodeError> {
        if self.comchecks.schedules.remove(&id).is_none() {
            return Err(NodeError::NotFound(format!("no comcheck schedule {id} is held")));
        }
        let mut batch = WriteBatch::new();
        batch.delete_schedule(id);
        self.persist_with(Vec::new(), batch, After::Nothing, Vec::new());
        Ok(())
    }

    pub(super) fn schedules(&self) -> Vec<ComcheckScheduleView> {
        self.comchecks.schedules.values().map(Schedule::view).collect()
    }

    /// Starts the checks whose time has come, and picks each schedule's
    /// time in its next period. A node that was down past a period runs
    /// one check when it is back, not one per missed period.
    pub(super) fn run_due_schedules(&mut self) {
        let now = self.now();
        let due: Vec<CaseId> = self.comchecks.schedules.values().filter(|s| s.next_at <= now).map(|s| s.id).collect();
        for id in due {
            let Some(mut schedule) = self.comchecks.schedules.get(&id).cloned() else { continue };
            // The check run now stands for the period holding `now`; the
            // next one falls in the period after it.
            while schedule.period_start.plus(schedule.every_secs) <= now {
                schedule.period_start = schedule.period_start.plus(schedule.every_secs);
            }
            schedule.period_start = schedule.period_start.plus(schedule.every_secs);
            match random_time_in(schedule.period_start, schedule.every_secs, schedule.check.deadline_secs) {
                Ok(t) => schedule.next_at = t,
                Err(e) => {
                    warn!(schedule = %id, error = %e, "cannot pick the next time of a scheduled check");
                    continue;
                }
            }
            let mut batch = WriteBatch::new();
            match self.prepare_comcheck(schedule.check.clone()) {
                Ok((check, messages)) => {
                    schedule.runs.push(check.id);
                    if schedule.runs.len() > MAX_RUNS_KEPT {
                        schedule.runs.remove(0);
                    }
                    batch.put_schedule(id, schedule.encode());
                    self.comchecks.schedules.insert(id, schedule);
                    self.launch(check, messages, batch, None);
                }
                Err(e) => {
                    warn!(schedule = %id, error = %e, "a scheduled communication check could not start");
                    batch.put_schedule(id, schedule.encode());
                    self.comchecks.schedules.insert(id, schedule);
                    self.persist_with(Vec::new(), batch, After::Nothing, Vec::new());
                }
            }
        }
    }

    /// The points of contact whose last two finished checks (run by this
    /// node) both failed: no receipt, no answer, or a failed task. Their
    /// records show as `unconfirmed` here; nothing changes in the records.
    pub(super) fn unconfirmed(&self, now: Timestamp) -> BTreeSet<Address> {
        let mut history: BTreeMap<&Address, Vec<(Timestamp, hotline_core::comcheck::Outcome)>> = BTreeMap::new();
        for check in self.comchecks.checks.values().filter(|c| now > c.deadline) {
            for t in &check.targets {
                history.entry(&t.address).or_default().push((check.deadline, outcome(check, t, now)));
            }
        }
        history
            .into_iter()
            .filter_map(|(address, mut outcomes)| {
                outcomes.sort_by_key(|(deadline, _)| *deadline);
                let last_two = outcomes.iter().rev().take(2);
                let failed = |o: &hotline_core::comcheck::Outcome| {
                    use hotline_core::comcheck::Outcome::*;
                    matches!(o, Undeliverable | NoResponse | FailKey)
                };
                (outcomes.len() >= 2 && last_two.clone().all(|(_, o)| failed(o))).then(|| address.clone())
            })
            .collect()
    }

    pub(super) fn comcheck_view(&self, id: CaseId) -> Result<ComcheckView, NodeError> {
        let check =
            self.comchecks.checks.get(&id).ok_or_else(|| NodeError::NotFound(format!("no comcheck {id} is held")))?;
        Ok(view(check, self.now()))
    }

    pub(super) fn comcheck_list(&self) -> Vec<ComcheckView> {
        let now = self.now();
        let mut out: Vec<ComcheckView> = self.comchecks.checks.values().map(|c| view(c, now)).collect();
        out.sort_by_key(|v| (v.started_at, v.comcheck_id));
        out
    }

    /// Signs the report of a finished check; the first time, also sends
    /// each targeted state its copy (its own lines and the aggregates, or
    /// the full report when the check shares it).
    pub(super) fn comcheck_report(
        &mut self,
        id: CaseId,
        reply: oneshot::Sender<Result<ComcheckReportView, NodeError>>,
    ) {
        let now = self.now();
        let Some(check) = self.comchecks.checks.get(&id).cloned() else {
            let _ = reply.send(Err(NodeError::NotFound(format!("no comcheck {id} is held"))));
            return;
        };
        if now <= check.deadline {
            let left = now.until(check.deadline) + 1;
            let _ =
                reply.send(Err(bad("not_finished", format!("the deadline is {left} s away; the report follows it"))));
            return;
        }
        let lines: Vec<ReportLine> = check
            .targets
            .iter()
            .map(|t| ReportLine {
                target: t.address.clone(),
                outcome: outcome(&check, t, now),
                latency_secs: latency(&check, t),
            })
            .collect();
        let report = ComcheckReport {
            comcheck_id: id,
            initiator: check.initiator.clone(),
            started_at: check.started_at,
            deadline: check.deadline,
            task: check.task,
            announced: check.announced,
            issued_at: now,
            aggregates: Aggregates::of(&lines),
            lines,
            only_state: None,
        };
        let network = self.dir.network_id();
        let signed = SignedComcheckReport::sign(report.clone(), &self.mail.node_key, &network);
        let mut sent_to = Vec::new();
        if !check.report_sent {
            let states: BTreeSet<StateCode> = check.targets.iter().map(|t| t.address.state).collect();
            for state in states {
                let copy = if check.share_full { report.clone() } else { report.for_state(state) };
                let copy = SignedComcheckReport::sign(copy, &self.mail.node_key, &network);
                let to = check
                    .targets
                    .iter()
                    .find(|t| t.address.state == state && t.challenge.is_some())
                    .map(|t| t.address.clone());
                let Some(to) = to else { continue };
                if self.send_report_copy(&check, to, &copy) {
                    sent_to.push(state);
                }
            }
            if let Some(c) = self.comchecks.checks.get_mut(&id) {
                c.report_sent = true;
                let mut batch = WriteBatch::new();
                batch.put_comcheck(id, c.encode());
                self.persist_with(Vec::new(), batch, After::Nothing, Vec::new());
            }
        }
        let _ = reply.send(Ok(ComcheckReportView {
            signer: signed.signer.to_string(),
            signed_hex: hex::encode(signed.to_bytes()),
            report,
            sent_to,
        }));
    }

    fn send_report_copy(&mut self, check: &Comcheck, to: Address, copy: &SignedComcheckReport) -> bool {
        let lines: Vec<String> = copy.report.lines.iter().map(|l| format!("{}: {}", l.target, l.outcome)).collect();
        let request = SendRequest {
            to,
            from_role: Some(check.initiator.role.clone()),
            kind: MessageType::StatusUpdate,
            subject: format!("Communication check {} report", &check.id.to_string()[..8]),
            body: format!(
                "Report of communication check {}. {}. The signed report is attached.",
                check.id,
                if lines.is_empty() { "No line for your state".to_string() } else { lines.join("; ") }
            ),
            tlp: Some(Tlp::Green),
            severity: None,
            is_exercise: check.exercise,
            respond_by: None,
            case_id: Some(check.id),
            in_reply_to: None,
            lang: Some("en".into()),
            fields: None,
            force: false,
        };
        match self.prepare(request) {
            Ok((mut message, recipients)) => {
                message.attachments = vec![Attachment {
                    name: "comcheck-report.bin".into(),
                    media_type: REPORT_MEDIA_TYPE.into(),
                    data: copy.to_bytes(),
                }];
                let (tx, _rx) = oneshot::channel();
                self.seal_and_queue(message, recipients, WriteBatch::new(), tx);
                true
            }
            Err(e) => {
                warn!(comcheck = %check.id, error = %e, "cannot send a report copy");
                false
            }
        }
    }

    /// Answers a challenge this node received.
    pub(super) fn comcheck_answer(
        &mut self,
        id: CaseId,
        request: ComcheckAnswerRequest,
        reply: oneshot::Sender<Result<SendResponse, NodeError>>,
    ) {
        let result = (|| {
            let mut found = Vec::new();
            // The challenges of check `id` are in its case; `id` may also be
            // a challenge's own message id.
            let mut ids = self.store.case(&id)?;
            if !ids.contains(&MessageId(id.0)) {
                ids.push(MessageId(id.0));
            }
            for msg_id in ids {
                let Some(MessageRow::Received(r)) = self.store.message(&msg_id)? else { continue };
                let Ok(m) = Message::from_bytes(&r.message) else { continue };
                if let Fields::ComcheckChallenge { comcheck_id, task, .. } = &m.fields
                    && (*comcheck_id == id || msg_id.0 == id.0)
                {
                    found.push((*task, m));
                }
            }
            let pick = |(task, m): &(ComcheckTask, Message)| {
                let role = request.role.clone().unwrap_or_else(|| {
                    if *task == ComcheckTask::Counterpart { other_role(&m.to.role) } else { m.to.role.clone() }
                });
                (*task, m.clone(), role)
            };
            let chosen = match &request.role {
                // The challenge to that role, else (counterpart) to the other.
                Some(role) => found
                    .iter()
                    .find(|(t, m)| {
                        (*t != ComcheckTask::Counterpart && m.to.role == *role)
                            || (*t == ComcheckTask::Counterpart && m.to.role != *role)
                    })
                    .or(found.first()),
                None => found.first(),
            };
            let Some(chosen) = chosen else {
                return Err(NodeError::NotFound(format!("no comcheck challenge {id} was received")));
            };
            let (task, challenge, role) = pick(chosen);
            let Fields::ComcheckChallenge { comcheck_id, .. } = challenge.fields else {
                return Err(NodeError::NotFound(format!("no comcheck challenge {id} was received")));
            };
            if task == ComcheckTask::Nonce && request.code.as_deref().is_none_or(str::is_empty) {
                return Err(bad("code_required", "this check asks for the code it carries: answer with --code"));
            }
            let confirmed_record = (task == ComcheckTask::ConfirmRecord)
                .then(|| self.dir.entry(&ObjectKey::Record(self.state, role.clone())).map(|e| e.hash))
                .flatten();
            let send = SendRequest {
                to: challenge.from.clone(),
                from_role: Some(role),
                kind: MessageType::ComcheckReply,
                subject: format!("Re: {}", challenge.subject),
                body: String::new(),
                tlp: Some(challenge.tlp),
                severity: None,
                is_exercise: challenge.is_exercise,
                respond_by: None,
                case_id: Some(challenge.case_id),
                in_reply_to: Some(challenge.msg_id),
                lang: challenge.lang.clone(),
                fields: Some(Fields::ComcheckReply { comcheck_id, code: request.code.clone(), confirmed_record }),
                force: false,
            };
            self.prepare(send)
        })();
        match result {
            Ok((message, recipients)) => self.seal_and_queue(message, recipients, WriteBatch::new(), reply),
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }
}
