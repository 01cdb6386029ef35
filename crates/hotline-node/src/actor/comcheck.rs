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

mod answering;
mod reports;
mod running;
mod schedules;

use super::{Actor, After, Responder};
use crate::api_types::{
    ComcheckAnswerRequest, ComcheckReportView, ComcheckScheduleRequest, ComcheckScheduleView, ComcheckStartRequest,
    ComcheckTargetView, ComcheckView, SendRequest, SendResponse,
};
use crate::error::{AnswerError, NodeError, ReportError, ScheduleError, SendError, StartError};
use crate::handle::{SealedFor, SealedGroup};
use hotline_core::comcheck::{
    Aggregates, ComcheckReport, MAX_TARGETS, Observed, Reply, ReportLine, SignedComcheckReport, evaluate,
    task_satisfied,
};
use hotline_core::{
    Address, Attachment, CaseId, ComcheckTask, Fields, Message, MessageId, MessageType, ObjectKey, Role, StateCode,
    Timestamp, Tlp,
};
use hotline_store::{MessageRow, Store, WriteBatch};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tokio::sync::oneshot;
use tracing::{info, warn};

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
    /// After the check of the period holding `now` has run: moves to the
    /// next period (a node that was down for several periods runs once,
    /// not once per period missed) and picks its time from `random`, a
    /// uniform draw, leaving room for the deadline before the period ends.
    fn advance(&mut self, now: Timestamp, random: Result<u64, NodeError>) -> Result<(), NodeError> {
        while self.period_start.plus(self.every_secs) <= now {
            self.period_start = self.period_start.plus(self.every_secs);
        }
        self.period_start = self.period_start.plus(self.every_secs);
        self.next_at = self.time_in_period(random?);
        Ok(())
    }

    /// A schedule whose first period starts `now`.
    fn first(id: CaseId, every_secs: u64, check: ComcheckStartRequest, now: Timestamp, random: u64) -> Schedule {
        let mut schedule = Schedule { id, every_secs, check, period_start: now, next_at: now, runs: Vec::new() };
        schedule.next_at = schedule.time_in_period(random);
        schedule
    }

    /// A time in the current period from a uniform draw, leaving room for
    /// the check's deadline before the period ends.
    fn time_in_period(&self, random: u64) -> Timestamp {
        let room = self.every_secs.saturating_sub(self.check.deadline_secs).max(1);
        self.period_start.plus(random % room)
    }

    /// Remembers a check it started, the last [`MAX_RUNS_KEPT`].
    fn record_run(&mut self, check: CaseId) {
        self.runs.push(check);
        if self.runs.len() > MAX_RUNS_KEPT {
            self.runs.remove(0);
        }
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
        for (_, check) in store.comchecks::<Comcheck>()? {
            out.insert(check);
        }
        for (id, schedule) in store.schedules::<Schedule>()? {
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
        is_exercise: check.exercise,
        old_exercise: crate::api_types::old_name(check.exercise),
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

/// The challenge's body: what to do, who must answer, and the exact
/// command, so a tired PoC neither guesses the role nor acknowledges the
/// challenge instead of answering it.
fn challenge_text(id: CaseId, to: &Address, task: ComcheckTask, nonce: Option<&str>, deadline: Timestamp) -> String {
    let (what, command) = match task {
        ComcheckTask::None => (
            format!("The {} point of contact of {} must answer it.", to.role, to.state),
            format!("hotline comcheck answer {id}"),
        ),
        ComcheckTask::Nonce => {
            let code = nonce.unwrap_or_default();
            (
                format!("The {} point of contact of {} must answer it with the code {code}.", to.role, to.state),
                format!("hotline comcheck answer {id} --code {code}"),
            )
        }
        ComcheckTask::ConfirmRecord => (
            format!(
                "The {} point of contact of {} must confirm their contact record (or publish a new version first), then answer.",
                to.role, to.state
            ),
            format!("hotline comcheck answer {id}"),
        ),
        ComcheckTask::Counterpart => {
            let other = other_role(&to.role);
            (
                format!("{}'s other point of contact ({other}, not {}) must answer it.", to.state, to.role),
                format!("hotline comcheck answer {id} --role {other}"),
            )
        }
    };
    format!(
        "Communication check. {what} Answer before {deadline} with: {command} \
         (not `hotline ack`: an acknowledgement does not answer a check). \
         This tests that the point of contact is reachable; nothing changes in the directory."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(deadline_secs: u64) -> ComcheckStartRequest {
        ComcheckStartRequest {
            to: None,
            role: None,
            deadline_secs,
            task: ComcheckTask::None,
            announced: false,
            is_exercise: true,
            share_full: false,
            from_role: None,
        }
    }

    const HOUR: u64 = 3600;

    #[test]
    fn each_run_falls_in_its_period_with_room_for_the_deadline() {
        let t0 = Timestamp(1_800_000_000);
        for draw in [0, 1, 1234, u64::MAX] {
            let s = Schedule::first(CaseId([1; 16]), 24 * HOUR, check(HOUR), t0, draw);
            assert!(s.next_at >= t0 && s.next_at.plus(HOUR) <= t0.plus(24 * HOUR), "{draw}: {:?}", s.next_at);
        }
    }

    #[test]
    fn a_node_down_for_several_periods_runs_once_then_keeps_its_rhythm() {
        let t0 = Timestamp(1_800_000_000);
        let mut s = Schedule::first(CaseId([1; 16]), 24 * HOUR, check(HOUR), t0, 0);
        // Back after three days: the run now stands for the current period,
        // and the next falls in the one after it, not in a missed one.
        let now = t0.plus(3 * 24 * HOUR + 5);
        s.advance(now, Ok(7)).unwrap();
        assert_eq!(s.period_start, t0.plus(4 * 24 * HOUR));
        assert_eq!(s.next_at, t0.plus(4 * 24 * HOUR + 7));
        // On time: exactly one period further.
        s.advance(s.next_at, Ok(7)).unwrap();
        assert_eq!(s.period_start, t0.plus(5 * 24 * HOUR));
    }

    #[test]
    fn a_failed_draw_leaves_no_time_and_runs_are_capped() {
        let t0 = Timestamp(1_800_000_000);
        let mut s = Schedule::first(CaseId([1; 16]), 24 * HOUR, check(HOUR), t0, 0);
        let failed = NodeError::Internal { code: "random_failed", message: "no entropy".into() };
        assert!(s.advance(t0, Err(failed)).is_err());
        for n in 0..(MAX_RUNS_KEPT as u8 + 5) {
            s.record_run(CaseId([n; 16]));
        }
        assert_eq!(s.runs.len(), MAX_RUNS_KEPT);
        assert_eq!(s.runs[0], CaseId([5; 16]), "the oldest go first");
    }
}
