//! Why a communication check could not be started, scheduled, reported
//! or answered.

use super::{Kind, NodeError, SendError, api_failure};
use hotline_core::{Address, CaseId, MessageId, StateCode};
use thiserror::Error;

/// Why `POST /v1/comchecks` was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StartError {
    /// The deadline is out of range.
    #[error("the deadline must be 1 s to {max_secs} s away")]
    BadDeadline {
        /// The longest deadline.
        max_secs: u64,
    },
    /// No target: none named, or no record matches.
    #[error("{0}")]
    NoTarget(&'static str),
    /// This node is not listed in a record in force of the initiating role.
    #[error("this node is not listed in a contact record in force of {0}: publish it first")]
    NotListed(Address),
    /// The check names this node's own state.
    #[error("{0} cannot check itself")]
    OwnState(StateCode),
    /// A target state has no admission in force.
    #[error("{0} has no admission in force")]
    TargetNotAdmitted(StateCode),
    /// Too many targets.
    #[error("at most {0} targets")]
    TooManyTargets(usize),
    /// The node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl StartError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            StartError::BadDeadline { .. } => "bad_deadline",
            StartError::NoTarget(_) => "no_target",
            StartError::NotListed(_) => "not_listed",
            StartError::OwnState(_) => "own_state",
            StartError::TargetNotAdmitted(_) => "target_not_admitted",
            StartError::TooManyTargets(_) => "too_many_targets",
            StartError::Node(e) => e.code(),
        }
    }

    /// The kind, which gives the HTTP status.
    pub fn kind(&self) -> Kind {
        match self {
            StartError::Node(e) => e.kind(),
            StartError::BadDeadline { .. }
            | StartError::NoTarget(_)
            | StartError::NotListed(_)
            | StartError::OwnState(_)
            | StartError::TargetNotAdmitted(_)
            | StartError::TooManyTargets(_) => Kind::BadInput,
        }
    }
}

/// Why `POST /v1/comchecks/schedules` or `DELETE
/// /v1/comchecks/schedules/{id}` was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// The period is too short, or not longer than the check's deadline.
    #[error("{0}")]
    BadPeriod(String),
    /// The check itself would be refused at every run.
    #[error(transparent)]
    Check(#[from] StartError),
    /// No schedule has that id.
    #[error("no comcheck schedule {0} is held")]
    NoSchedule(CaseId),
    /// The node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl ScheduleError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ScheduleError::BadPeriod(_) => "bad_period",
            ScheduleError::Check(e) => e.code(),
            ScheduleError::NoSchedule(_) => "not_found",
            ScheduleError::Node(e) => e.code(),
        }
    }

    /// The kind, which gives the HTTP status.
    pub fn kind(&self) -> Kind {
        match self {
            ScheduleError::BadPeriod(_) => Kind::BadInput,
            ScheduleError::Check(e) => e.kind(),
            ScheduleError::NoSchedule(_) => Kind::NotFound,
            ScheduleError::Node(e) => e.kind(),
        }
    }
}

/// Why `POST /v1/comchecks/{id}/report` was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReportError {
    /// No check has that id.
    #[error("no comcheck {0} is held")]
    NoComcheck(CaseId),
    /// The deadline has not passed.
    #[error("the deadline is {0} s away; the report follows it")]
    NotFinished(u64),
    /// The node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl ReportError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ReportError::NoComcheck(_) => "not_found",
            ReportError::NotFinished(_) => "not_finished",
            ReportError::Node(e) => e.code(),
        }
    }

    /// The kind, which gives the HTTP status.
    pub fn kind(&self) -> Kind {
        match self {
            ReportError::NoComcheck(_) => Kind::NotFound,
            ReportError::NotFinished(_) => Kind::BadInput,
            ReportError::Node(e) => e.kind(),
        }
    }
}

/// Why `POST /v1/comchecks/{id}/answer` was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// No challenge of that check (or with that id) was received.
    #[error("no comcheck challenge {0} was received")]
    NoChallenge(CaseId),
    /// The check asks for its code and none was given.
    #[error("this check asks for the code it carries: answer with --code")]
    CodeRequired,
    /// The code is not the challenge's (answer with `force` to send it).
    #[error("the code is not the one the challenge carries ({0}): check it, or use --force to send it anyway")]
    CodeMismatch(String),
    /// The role cannot satisfy the task (answer with `force`: it fails).
    #[error("this check must be answered as {must}, not {role}; use --force to answer anyway (it fails)")]
    WrongRole {
        /// The role, or roles, that can.
        must: String,
        /// The role answering.
        role: String,
    },
    /// The challenge was answered already; only the first answer counts.
    #[error("this challenge was already answered (message {0}); only the first answer counts")]
    AlreadyAnswered(MessageId),
    /// The answer itself could not be sent.
    #[error(transparent)]
    Send(#[from] SendError),
    /// The node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl AnswerError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            AnswerError::NoChallenge(_) => "not_found",
            AnswerError::CodeRequired => "code_required",
            AnswerError::CodeMismatch(_) => "code_mismatch",
            AnswerError::WrongRole { .. } => "wrong_role",
            AnswerError::AlreadyAnswered(_) => "already_answered",
            AnswerError::Send(e) => e.code(),
            AnswerError::Node(e) => e.code(),
        }
    }

    /// The kind, which gives the HTTP status.
    pub fn kind(&self) -> Kind {
        match self {
            AnswerError::NoChallenge(_) => Kind::NotFound,
            AnswerError::CodeRequired
            | AnswerError::CodeMismatch(_)
            | AnswerError::WrongRole { .. }
            | AnswerError::AlreadyAnswered(_) => Kind::BadInput,
            AnswerError::Send(e) => e.kind(),
            AnswerError::Node(e) => e.kind(),
        }
    }
}

api_failure!(StartError, ScheduleError, ReportError, AnswerError);

impl From<hotline_store::StoreError> for StartError {
    fn from(e: hotline_store::StoreError) -> StartError {
        StartError::Node(e.into())
    }
}

impl From<hotline_store::StoreError> for AnswerError {
    fn from(e: hotline_store::StoreError) -> AnswerError {
        AnswerError::Node(e.into())
    }
}
