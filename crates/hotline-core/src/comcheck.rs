//! Communication checks ("comchecks", "ping tests"): the outcome rules and
//! the signed report.
//!
//! An initiator sends a `comcheck_challenge` message to each targeted point
//! of contact, through the normal durable delivery, with a deadline and a
//! task. Each target then has one [`Outcome`]: it is decided from facts the
//! initiator's node observed (the delivery receipt, the signed reply and
//! whether the reply satisfied the task), the deadline and the time, by
//! [`evaluate`]. After the deadline the initiator signs a
//! [`ComcheckReport`]; each target state receives a copy holding only its
//! own lines plus the aggregates ([`ComcheckReport::for_state`]), unless the
//! initiator shares the full report.
//!
//! Nothing here removes or changes a contact record: a report is
//! information for people.

use crate::encoding::{self, DecodeError};
use crate::ids::{NetworkId, NodeId, Role, StateCode};
use crate::keys::{BadSignature, Context, SecretKey, Signature};
use crate::message::{Address, CaseId, ComcheckTask};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Format version of an encoded report.
pub const REPORT_FORMAT: u8 = 1;
/// Most targets in one comcheck: every role of every ISO 3166 state.
pub const MAX_TARGETS: usize = 4096;
/// Largest encoded report.
pub const MAX_REPORT_BYTES: usize = 512 * 1024;

/// Where one target stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Before the deadline: the challenge is not yet receipted.
    Pending,
    /// Before the deadline: the target's node returned a delivery receipt;
    /// no reply yet.
    Delivered,
    /// No delivery receipt by the deadline.
    Undeliverable,
    /// Receipted, but no reply by the deadline (and none since).
    NoResponse,
    /// A valid signed reply, in time, that satisfied the task.
    Pass,
    /// A valid signed reply after the deadline.
    Late,
    /// A reply came, but it failed the task (wrong code, wrong role, wrong
    /// record).
    FailKey,
}

impl Outcome {
    /// Whether the outcome can still change without a reply (the deadline
    /// has not passed).
    pub fn is_final(self) -> bool {
        !matches!(self, Outcome::Pending | Outcome::Delivered)
    }

    /// The name used in reports and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pending => "pending",
            Outcome::Delivered => "delivered",
            Outcome::Undeliverable => "undeliverable",
            Outcome::NoResponse => "no_response",
            Outcome::Pass => "pass",
            Outcome::Late => "late",
            Outcome::FailKey => "fail_key",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the initiator's node observed for one target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// When the initiator stored the first verified delivery receipt of
    /// the target's node.
    pub receipted_at: Option<Timestamp>,
    /// The first reply: when it arrived and whether it satisfied the task.
    pub reply: Option<Reply>,
}

/// A signed reply to a challenge, as the initiator judged it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// When the initiator's node stored it.
    pub at: Timestamp,
    /// Whether it satisfied the task.
    pub ok: bool,
}

/// The outcome of one target at `now`, for a check with `deadline`.
pub fn evaluate(observed: &Observed, deadline: Timestamp, now: Timestamp) -> Outcome {
    if let Some(reply) = &observed.reply {
        return match (reply.ok, reply.at <= deadline) {
            (false, _) => Outcome::FailKey,
            (true, true) => Outcome::Pass,
            (true, false) => Outcome::Late,
        };
    }
    let receipted_in_time = observed.receipted_at.is_some_and(|t| t <= deadline);
    // The deadline second itself is still in time.
    match (now <= deadline, observed.receipted_at.is_some()) {
        (true, true) => Outcome::Delivered,
        (true, false) => Outcome::Pending,
        (false, _) if receipted_in_time => Outcome::NoResponse,
        (false, _) => Outcome::Undeliverable,
    }
}

/// Whether a reply satisfies the task.
///
/// - `none`: any reply from the targeted point of contact;
/// - `nonce`: the reply echoes the challenge's code (blanks around it and
///   letter case do not count);
/// - `confirm-record`: the reply names the hash of the target's record in
///   force when the reply arrived (`current_record`), which may be a new
///   version it just published;
/// - `counterpart`: the reply comes from the same state's *other* role.
pub fn task_satisfied(
    task: ComcheckTask,
    target: &Address,
    replier: &Address,
    expected_nonce: Option<&str>,
    code: Option<&str>,
    confirmed: Option<&crate::ids::ObjectHash>,
    current_record: Option<&crate::ids::ObjectHash>,
) -> bool {
    if replier.state != target.state {
        return false;
    }
    let same_role = replier.role == target.role;
    match task {
        ComcheckTask::None => same_role,
        // Codes are read and typed by people: case and surrounding blanks do not count.
        ComcheckTask::Nonce => {
            same_role && matches!((expected_nonce, code), (Some(e), Some(c)) if e.trim().eq_ignore_ascii_case(c.trim()))
        }
        ComcheckTask::ConfirmRecord => same_role && confirmed.is_some() && confirmed == current_record,
        ComcheckTask::Counterpart => !same_role,
    }
}

/// One target's line in a report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportLine {
    /// The targeted point of contact.
    pub target: Address,
    /// Its outcome when the report was signed.
    pub outcome: Outcome,
    /// Seconds from the challenge to the reply, if a reply came.
    pub latency_secs: Option<u64>,
}

/// Aggregates over every target of a check, whoever the report is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aggregates {
    /// How many targets.
    pub targets: u32,
    /// Targets per outcome.
    pub by_outcome: BTreeMap<Outcome, u32>,
    /// Per role: targets that replied validly (pass or late), in thousandths
    /// of the role's targets.
    pub response_permille_by_role: BTreeMap<Role, u32>,
    /// Median reply latency over valid replies, seconds.
    pub median_latency_secs: Option<u64>,
    /// 90th percentile of reply latency over valid replies, seconds.
    pub p90_latency_secs: Option<u64>,
}

impl Aggregates {
    /// The aggregates of `lines`.
    pub fn of(lines: &[ReportLine]) -> Aggregates {
        let mut by_outcome = BTreeMap::new();
        let mut per_role: BTreeMap<Role, (u32, u32)> = BTreeMap::new();
        let mut latencies = Vec::new();
        for line in lines {
            *by_outcome.entry(line.outcome).or_insert(0) += 1;
            let responded = matches!(line.outcome, Outcome::Pass | Outcome::Late);
            let role = per_role.entry(line.target.role.clone()).or_insert((0, 0));
            role.0 += 1;
            if responded {
                role.1 += 1;
                latencies.extend(line.latency_secs);
            }
        }
        latencies.sort_unstable();
        let at = |q: usize| (!latencies.is_empty()).then(|| latencies[(latencies.len() - 1) * q / 100]);
        Aggregates {
            targets: u32::try_from(lines.len()).unwrap_or(u32::MAX),
            by_outcome,
            response_permille_by_role: per_role
                .into_iter()
                .map(|(role, (all, replied))| (role, replied * 1000 / all.max(1)))
                .collect(),
            median_latency_secs: at(50),
            p90_latency_secs: at(90),
        }
    }
}

/// A comcheck report: what the initiator signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComcheckReport {
    /// The check.
    pub comcheck_id: CaseId,
    /// Who ran it.
    pub initiator: Address,
    /// When the challenges were sent.
    pub started_at: Timestamp,
    /// The reply deadline.
    pub deadline: Timestamp,
    /// What the replies had to do.
    pub task: ComcheckTask,
    /// Whether it was announced beforehand.
    pub announced: bool,
    /// When this report was signed.
    pub issued_at: Timestamp,
    /// The lines this copy shows: every target's, or one state's.
    pub lines: Vec<ReportLine>,
    /// Over every target, whatever `lines` shows.
    pub aggregates: Aggregates,
    /// `None` for the full report, or the state whose lines alone it shows.
    pub only_state: Option<StateCode>,
}

impl ComcheckReport {
    /// The copy for `state`: its own lines and the aggregates over all.
    pub fn for_state(&self, state: StateCode) -> ComcheckReport {
        ComcheckReport {
            lines: self.lines.iter().filter(|l| l.target.state == state).cloned().collect(),
            only_state: Some(state),
            ..self.clone()
        }
    }
}

/// A report signed by the initiator's node key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedComcheckReport {
    /// The report.
    pub report: ComcheckReport,
    /// The signing node.
    pub signer: NodeId,
    /// Its signature, context `hotline/v1/comcheck-report`.
    pub signature: Signature,
}

impl SignedComcheckReport {
    /// Signs `report` with the node key of `signer`.
    pub fn sign(report: ComcheckReport, key: &SecretKey, network: &NetworkId) -> SignedComcheckReport {
        let signature = key.sign(Context::COMCHECK_REPORT, network, &encoding::encode(&report));
        SignedComcheckReport { report, signer: key.node_id(), signature }
    }

    /// Checks the signature (whether the signer may speak for the initiator
    /// is the directory's question: its record must list the node).
    pub fn verify(&self, network: &NetworkId) -> Result<(), BadSignature> {
        self.signer.public_key().verify(
            Context::COMCHECK_REPORT,
            network,
            &encoding::encode(&self.report),
            &self.signature,
        )
    }

    /// The wire form: format byte, then the canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        encoding::encode_versioned(REPORT_FORMAT, self)
    }

    /// Decodes [`SignedComcheckReport::to_bytes`], bounded.
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedComcheckReport, DecodeError> {
        let r: SignedComcheckReport =
            encoding::decode_versioned("comcheck report", REPORT_FORMAT, bytes, MAX_REPORT_BYTES)?;
        if r.report.lines.len() > MAX_TARGETS {
            return Err(DecodeError::Invalid { what: "comcheck report", detail: "too many lines".into() });
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEADLINE: Timestamp = Timestamp(1000);

    fn addr(state: &str, role: Role) -> Address {
        Address { state: state.parse().unwrap(), role }
    }

    fn observed(receipted: Option<u64>, reply: Option<(u64, bool)>) -> Observed {
        Observed {
            receipted_at: receipted.map(Timestamp),
            reply: reply.map(|(at, ok)| Reply { at: Timestamp(at), ok }),
        }
    }

    #[test]
    fn every_outcome() {
        let before = Timestamp(500);
        let after = Timestamp(2000);
        assert_eq!(evaluate(&observed(None, None), DEADLINE, before), Outcome::Pending);
        assert_eq!(evaluate(&observed(None, None), DEADLINE, DEADLINE), Outcome::Pending, "the deadline is in time");
        assert_eq!(evaluate(&observed(Some(10), None), DEADLINE, before), Outcome::Delivered);
        assert_eq!(evaluate(&observed(None, None), DEADLINE, after), Outcome::Undeliverable);
        assert_eq!(evaluate(&observed(Some(1500), None), DEADLINE, after), Outcome::Undeliverable, "receipt too late");
        assert_eq!(evaluate(&observed(Some(10), None), DEADLINE, after), Outcome::NoResponse);
        assert_eq!(evaluate(&observed(Some(10), Some((900, true))), DEADLINE, after), Outcome::Pass);
        assert_eq!(evaluate(&observed(Some(10), Some((1001, true))), DEADLINE, after), Outcome::Late);
        assert_eq!(evaluate(&observed(Some(10), Some((900, false))), DEADLINE, after), Outcome::FailKey);
        assert!(!Outcome::Delivered.is_final() && Outcome::NoResponse.is_final());
    }

    #[test]
    fn tasks() {
        let tech = addr("DEU", Role::technical());
        let policy = addr("DEU", Role::policy());
        let other = addr("FRA", Role::technical());
        let h = crate::ids::ObjectHash([1; 32]);
        let g = crate::ids::ObjectHash([2; 32]);
        use ComcheckTask::*;
        assert!(task_satisfied(None, &tech, &tech, Option::None, Option::None, Option::None, Option::None));
        assert!(!task_satisfied(None, &tech, &other, Option::None, Option::None, Option::None, Option::None));
        assert!(task_satisfied(Nonce, &tech, &tech, Some("abc"), Some("abc"), Option::None, Option::None));
        assert!(!task_satisfied(Nonce, &tech, &tech, Some("abc"), Some("abd"), Option::None, Option::None));
        assert!(task_satisfied(Nonce, &tech, &tech, Some("abc"), Some(" ABC "), Option::None, Option::None));
        assert!(!task_satisfied(Nonce, &tech, &tech, Some("abc"), Option::None, Option::None, Option::None));
        assert!(task_satisfied(ConfirmRecord, &tech, &tech, Option::None, Option::None, Some(&h), Some(&h)));
        assert!(!task_satisfied(ConfirmRecord, &tech, &tech, Option::None, Option::None, Some(&g), Some(&h)));
        assert!(task_satisfied(Counterpart, &tech, &policy, Option::None, Option::None, Option::None, Option::None));
        assert!(!task_satisfied(Counterpart, &tech, &tech, Option::None, Option::None, Option::None, Option::None));
    }

    #[test]
    fn aggregates_and_the_copy_for_one_state() {
        let line = |s: &str, role: Role, outcome, latency| ReportLine {
            target: addr(s, role),
            outcome,
            latency_secs: latency,
        };
        let lines = vec![
            line("DEU", Role::technical(), Outcome::Pass, Some(10)),
            line("EST", Role::technical(), Outcome::Late, Some(100)),
            line("FIN", Role::technical(), Outcome::NoResponse, None),
            line("POL", Role::policy(), Outcome::Undeliverable, None),
        ];
        let agg = Aggregates::of(&lines);
        assert_eq!(agg.targets, 4);
        assert_eq!(agg.by_outcome[&Outcome::Pass], 1);
        assert_eq!(agg.response_permille_by_role[&Role::technical()], 666);
        assert_eq!(agg.response_permille_by_role[&Role::policy()], 0);
        assert_eq!((agg.median_latency_secs, agg.p90_latency_secs), (Some(10), Some(10)));
        let report = ComcheckReport {
            comcheck_id: CaseId([7; 16]),
            initiator: addr("FRA", Role::technical()),
            started_at: Timestamp(1),
            deadline: DEADLINE,
            task: ComcheckTask::Nonce,
            announced: false,
            issued_at: Timestamp(2000),
            aggregates: agg,
            lines,
            only_state: None,
        };
        let copy = report.for_state("EST".parse().unwrap());
        assert_eq!(copy.lines.len(), 1);
        assert_eq!(copy.aggregates, report.aggregates);
        let key = SecretKey::from_seed(&[3; 32]);
        let net = NetworkId([9; 32]);
        let signed = SignedComcheckReport::sign(copy, &key, &net);
        let decoded = SignedComcheckReport::from_bytes(&signed.to_bytes()).unwrap();
        assert_eq!(decoded, signed);
        decoded.verify(&net).unwrap();
        let mut tampered = decoded.clone();
        tampered.report.lines[0].outcome = Outcome::Pass;
        assert!(tampered.verify(&net).is_err());
        assert!(decoded.verify(&NetworkId([8; 32])).is_err());
    }
}
