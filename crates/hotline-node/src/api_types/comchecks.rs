//! The communication checks' types: starting a check, its view and
//! report, answers, schedules, and liveness.

use super::*;

/// `POST /v1/comchecks`: start a communication check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComcheckStartRequest {
    /// The states to check; `None` for every other admitted state.
    #[serde(default)]
    pub to: Option<Vec<StateCode>>,
    /// The role to check; `None` for both `policy` and `technical`.
    #[serde(default)]
    pub role: Option<Role>,
    /// Seconds from now until the reply deadline.
    pub deadline_secs: u64,
    /// What a reply must do.
    pub task: ComcheckTask,
    /// Whether the check was announced beforehand.
    #[serde(default)]
    pub announced: bool,
    /// Mark the challenges as an exercise (`exercise`, its name in earlier
    /// releases, is accepted until the next one).
    #[serde(default, alias = "exercise")]
    pub is_exercise: bool,
    /// Send every target the full report instead of its own lines.
    #[serde(default)]
    pub share_full: bool,
    /// The initiating role (default technical).
    #[serde(default)]
    pub from_role: Option<Role>,
}

/// One target of a check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComcheckTargetView {
    /// The point of contact checked.
    pub target: Address,
    /// Its outcome now.
    pub outcome: Outcome,
    /// The challenge message sent to it.
    pub challenge: Option<MessageId>,
    /// When its node's delivery receipt was stored here.
    pub receipted_at: Option<Timestamp>,
    /// When its reply was stored here.
    pub replied_at: Option<Timestamp>,
    /// Seconds from the challenge to the reply.
    pub latency_secs: Option<u64>,
    /// Why no challenge could be sent, or what was wrong with the reply.
    pub note: Option<String>,
}

/// `GET /v1/comchecks/{id}`: a check and where each target stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComcheckView {
    /// The check's id (also the case id of its challenges and replies).
    pub comcheck_id: CaseId,
    /// Who runs it.
    pub initiator: Address,
    /// When the challenges were sent.
    pub started_at: Timestamp,
    /// The reply deadline.
    pub deadline: Timestamp,
    /// What a reply must do.
    pub task: ComcheckTask,
    /// Announced beforehand.
    pub announced: bool,
    /// An exercise.
    pub is_exercise: bool,
    /// `is_exercise` under its name of earlier releases; see
    /// [`super::OldName`].
    #[serde(rename = "exercise", default, skip_serializing_if = "Option::is_none")]
    pub old_exercise: super::OldName<bool>,
    /// Every target gets the full report.
    pub share_full: bool,
    /// Whether the deadline has passed.
    pub finished: bool,
    /// Targets per outcome.
    pub counts: BTreeMap<Outcome, u32>,
    /// Per target.
    pub targets: Vec<ComcheckTargetView>,
    /// Whether the report was sent to the targets.
    pub report_sent: bool,
}

/// `POST /v1/comchecks/{id}/report`: the signed report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComcheckReportView {
    /// The full report, as signed.
    pub report: ComcheckReport,
    /// The signing node, peer id.
    pub signer: String,
    /// The signed report's wire form, hex (verify it with the signer's key).
    pub signed_hex: String,
    /// The states a copy was sent to by this call (empty once sent).
    pub sent_to: Vec<StateCode>,
}

/// `POST /v1/comchecks/{id}/answer`: reply to a challenge received.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComcheckAnswerRequest {
    /// The code the challenge asked to echo (task `nonce`).
    #[serde(default)]
    pub code: Option<String>,
    /// The answering role (default: the role challenged, or for a
    /// `counterpart` check the state's other role).
    #[serde(default)]
    pub role: Option<Role>,
    /// Send even an answer that fails the check for sure: a code other
    /// than the challenge's, the wrong role, or a second answer.
    #[serde(default)]
    pub force: bool,
}

/// `GET /v1/liveness`: one member node, as this node sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LivenessView {
    /// The state whose record lists it.
    pub state: StateCode,
    /// Its peer id.
    pub node: String,
    /// Whether a connection to it is open now and it answered within the
    /// dead-link bound (12 s by default).
    pub connected: bool,
    /// Since when it has been unreachable: the last time it was heard
    /// from before its connections died or closed (`null` while connected,
    /// and for a node never connected since start).
    pub unreachable_since: Option<Timestamp>,
    /// When it was last heard from: connected, or answered a ping.
    pub last_seen: Option<Timestamp>,
    /// The last ping round trip, milliseconds.
    pub rtt_ms: Option<f64>,
    /// Share of the samples over the last 24 h in which it was connected
    /// (`null` before the first sample).
    pub reachability_24h: Option<f64>,
    /// How many samples that share is over.
    pub samples: usize,
}

/// `POST /v1/comchecks/schedules`: run a check periodically, unannounced,
/// at a random time within each period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComcheckScheduleRequest {
    /// The period, seconds (at least 60, and longer than the check's deadline).
    pub every_secs: u64,
    /// The check to run each period (`announced` is ignored: scheduled checks are unannounced).
    pub check: ComcheckStartRequest,
}

/// A periodic check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComcheckScheduleView {
    /// The schedule's id.
    pub schedule_id: CaseId,
    /// The period, seconds.
    pub every_secs: u64,
    /// The check run each period.
    pub check: ComcheckStartRequest,
    /// When the next check starts (a random time in the current period).
    pub next_at: Timestamp,
    /// The checks it started, oldest first (the last 16).
    pub runs: Vec<CaseId>,
}
