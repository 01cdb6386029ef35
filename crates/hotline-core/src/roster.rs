//! The roster of a consultation (OSCE CBM 3): which states, and which of
//! their roles, take part in a multi-state case; a signed, versioned object
//! that only the convening state changes.
//!
//! Version 1 opens the consultation; each change (an invitation, a
//! removal, a participant's leaving, the close) is the next version, signed
//! by a node of the convener ([`SignedRoster`]), and carried in the
//! consultation's posts so that every participant holds the same one.
//! [`Roster::check_successor`] is the one rule for what a version may
//! change. Who may sign for the convener (a node its records list) is the
//! directory's question, as for comcheck reports.
//!
//! **Not wired yet**: no node sends or takes consultations (issue 17).

use crate::CaseId;
use crate::encoding::{self, DecodeError};
use crate::ids::{NetworkId, NodeId, Role, StateCode};
use crate::keys::{BadSignature, Context, SecretKey, Signature};
use crate::labels::Tlp;
use crate::limits::MAX_SHORT_TEXT;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The wire format of a signed roster.
pub const ROSTER_FORMAT: u8 = 1;
/// Most states on a roster at once (the OSCE has 57 participating states).
pub const MAX_PARTICIPANTS: usize = 64;
/// Most roles of one state on a roster.
pub const MAX_ROLES_PER_STATE: usize = 4;
/// Most states ever removed from one consultation.
pub const MAX_REMOVED: usize = 256;
/// Largest signed roster read.
pub const MAX_ROSTER_BYTES: usize = 16 * 1024;

/// A state taking part, and the roles of its that receive the posts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// The state.
    pub state: StateCode,
    /// Its roles that receive posts (at least one).
    pub roles: Vec<Role>,
    /// The roster version that added it (1 for those invited at opening).
    pub joined_in: u64,
    /// It receives the posts made under this roster version and later: the
    /// convener chooses, when inviting, how much of the history to share
    /// (by default none before the invitation: `joined_in`).
    pub sees_from: u64,
}

/// A state no longer on the roster, and since which version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Departure {
    /// The state.
    pub state: StateCode,
    /// The version that took it off: it receives nothing posted under it or later.
    pub in_version: u64,
    /// It left of its own accord (else the convener removed it).
    pub left: bool,
}

/// One version of a consultation's roster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    /// The consultation (a case id).
    pub case_id: CaseId,
    /// The convening state: only it changes the roster, and it stays on it.
    pub convener: StateCode,
    /// 1 at opening, one more at each change.
    pub version: u64,
    /// What the consultation is about (bounded like a message subject).
    pub subject: String,
    /// The label of the consultation as a whole; no post may be less
    /// strict (`TLP:RED` posts go to the named roles only).
    pub tlp: Tlp,
    /// An exercise, not a real incident.
    pub is_exercise: bool,
    /// The states on it now, sorted by state, each once.
    pub participants: Vec<Participant>,
    /// The states taken off it, in the order they went.
    pub departed: Vec<Departure>,
    /// Closed: no post and no further change.
    pub closed: bool,
    /// When this version was made.
    pub issued_at: Timestamp,
}

/// Why a roster, or a change to one, is refused. Each has a stable code.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RosterError {
    /// A structural rule is broken (bounds, order, the convener missing).
    #[error("the roster is malformed: {0}")]
    Malformed(String),
    /// The change is not the next version of the same consultation.
    #[error("not the next version of this roster: {0}")]
    NotSuccessor(String),
    /// The consultation is closed.
    #[error("the consultation is closed")]
    Closed,
    /// The state named is not on the roster.
    #[error("{0} is not on the roster")]
    NotOnRoster(StateCode),
    /// The state named is on the roster already.
    #[error("{0} is on the roster already")]
    AlreadyOnRoster(StateCode),
    /// The convener cannot be removed, nor leave (it closes instead).
    #[error("the convener cannot leave its own consultation; it closes it instead")]
    ConvenerStays,
}

impl RosterError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            RosterError::Malformed(_) => "roster_malformed",
            RosterError::NotSuccessor(_) => "roster_not_successor",
            RosterError::Closed => "consultation_closed",
            RosterError::NotOnRoster(_) => "not_on_roster",
            RosterError::AlreadyOnRoster(_) => "already_on_roster",
            RosterError::ConvenerStays => "convener_stays",
        }
    }
}

impl Roster {
    /// Version 1: `convener` opens consultation `case_id` with the
    /// `invited` states (and itself, on its `convener_roles`).
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        case_id: CaseId,
        convener: StateCode,
        convener_roles: Vec<Role>,
        invited: Vec<(StateCode, Vec<Role>)>,
        subject: String,
        tlp: Tlp,
        is_exercise: bool,
        at: Timestamp,
    ) -> Result<Roster, RosterError> {
        let mut participants = vec![Participant { state: convener, roles: convener_roles, joined_in: 1, sees_from: 1 }];
        for (state, roles) in invited {
            if participants.iter().any(|p| p.state == state) {
                return Err(RosterError::AlreadyOnRoster(state));
            }
            participants.push(Participant { state, roles, joined_in: 1, sees_from: 1 });
        }
        participants.sort_by_key(|p| p.state);
        let roster = Roster {
            case_id,
            convener,
            version: 1,
            subject,
            tlp,
            is_exercise,
            participants,
            departed: Vec::new(),
            closed: false,
            issued_at: at,
        };
        roster.check()?;
        Ok(roster)
    }

    /// The participant `state`, if it is on the roster.
    pub fn participant(&self, state: StateCode) -> Option<&Participant> {
        self.participants.iter().find(|p| p.state == state)
    }

    /// Whether `state`'s `role` receives the posts of this version.
    pub fn receives(&self, state: StateCode, role: &Role) -> bool {
        self.participant(state).is_some_and(|p| p.roles.contains(role))
    }

    fn next(&self, at: Timestamp) -> Result<Roster, RosterError> {
        if self.closed {
            return Err(RosterError::Closed);
        }
        Ok(Roster { version: self.version + 1, issued_at: Timestamp(at.0.max(self.issued_at.0)), ..self.clone() })
    }

    /// The next version, with `state` invited on `roles`; it receives the
    /// posts of version `sees_from` on (at most the new version; `None`:
    /// none before its invitation).
    pub fn invite(
        &self,
        state: StateCode,
        roles: Vec<Role>,
        sees_from: Option<u64>,
        at: Timestamp,
    ) -> Result<Roster, RosterError> {
        let mut next = self.next(at)?;
        if next.participant(state).is_some() {
            return Err(RosterError::AlreadyOnRoster(state));
        }
        let sees_from = sees_from.unwrap_or(next.version).clamp(1, next.version);
        next.participants.push(Participant { state, roles, joined_in: next.version, sees_from });
        next.participants.sort_by_key(|p| p.state);
        next.check()?;
        Ok(next)
    }

    /// The next version, without `state` (removed by the convener, or
    /// `left` of its own accord): it receives nothing from it on.
    pub fn remove(&self, state: StateCode, left: bool, at: Timestamp) -> Result<Roster, RosterError> {
        if state == self.convener {
            return Err(RosterError::ConvenerStays);
        }
        let mut next = self.next(at)?;
        if next.participant(state).is_none() {
            return Err(RosterError::NotOnRoster(state));
        }
        next.participants.retain(|p| p.state != state);
        next.departed.push(Departure { state, in_version: next.version, left });
        next.check()?;
        Ok(next)
    }

    /// The next version, closed.
    pub fn close(&self, at: Timestamp) -> Result<Roster, RosterError> {
        let mut next = self.next(at)?;
        next.closed = true;
        Ok(next)
    }

    /// The structural rules of one version.
    pub fn check(&self) -> Result<(), RosterError> {
        let bad = |why: &str| Err(RosterError::Malformed(why.to_string()));
        if self.version == 0 {
            return bad("versions start at 1");
        }
        if self.subject.trim().is_empty() || self.subject.len() > MAX_SHORT_TEXT {
            return bad("the subject must be 1 to 256 bytes");
        }
        if self.participants.len() > MAX_PARTICIPANTS || self.departed.len() > MAX_REMOVED {
            return bad("too many states");
        }
        if !self.participants.windows(2).all(|w| w[0].state < w[1].state) {
            return bad("participants must be sorted by state, each once");
        }
        if self.participant(self.convener).is_none() {
            return bad("the convener must be on its roster");
        }
        for p in &self.participants {
            if p.roles.is_empty() || p.roles.len() > MAX_ROLES_PER_STATE {
                return bad("each participant has 1 to 4 roles");
            }
            if p.joined_in == 0 || p.joined_in > self.version || p.sees_from == 0 || p.sees_from > p.joined_in {
                return bad("a participant's versions are out of range");
            }
        }
        if self.departed.iter().any(|d| d.in_version == 0 || d.in_version > self.version) {
            return bad("a departure's version is out of range");
        }
        Ok(())
    }

    /// Whether `next` may follow this version: the same consultation and
    /// convener, the next number, not after the close, not earlier, and
    /// every change one of the kinds above (a state added joins in
    /// `next`'s version; one gone is recorded as departed in it).
    pub fn check_successor(&self, next: &Roster) -> Result<(), RosterError> {
        next.check()?;
        let not = |why: &str| Err(RosterError::NotSuccessor(why.to_string()));
        if self.closed {
            return Err(RosterError::Closed);
        }
        if next.case_id != self.case_id || next.convener != self.convener {
            return not("another consultation or convener");
        }
        if next.version != self.version + 1 {
            return not("not the next version number");
        }
        if next.issued_at < self.issued_at {
            return not("issued before the version it follows");
        }
        if next.subject != self.subject || next.tlp != self.tlp || next.is_exercise != self.is_exercise {
            return not("the subject, label and exercise mark do not change");
        }
        if !next.departed.starts_with(&self.departed) {
            return not("a departure was rewritten");
        }
        for p in &next.participants {
            match self.participant(p.state) {
                Some(old) if old == p => {}
                Some(_) => return not("a participant's roles or versions changed"),
                None if p.joined_in == next.version => {}
                None => return not("a state added must join in the new version"),
            }
        }
        for old in &self.participants {
            if next.participant(old.state).is_none()
                && !next.departed[self.departed.len()..]
                    .iter()
                    .any(|d| d.state == old.state && d.in_version == next.version)
            {
                return not("a state taken off is not recorded as departed");
            }
        }
        Ok(())
    }
}

/// A roster version signed by a node of its convener.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRoster {
    /// The roster.
    pub roster: Roster,
    /// The signing node (the directory decides whether it speaks for the convener).
    pub signer: NodeId,
    /// Its signature, context `hotline/v1/roster`.
    pub signature: Signature,
}

impl SignedRoster {
    /// Signs `roster` with node key `key`.
    pub fn sign(roster: Roster, key: &SecretKey, network: &NetworkId) -> SignedRoster {
        let signature = key.sign(Context::ROSTER, network, &encoding::encode(&roster));
        SignedRoster { roster, signer: key.node_id(), signature }
    }

    /// Checks the signature and the roster's structure.
    pub fn verify(&self, network: &NetworkId) -> Result<(), RosterError> {
        self.signer
            .public_key()
            .verify(Context::ROSTER, network, &encoding::encode(&self.roster), &self.signature)
            .map_err(|BadSignature| RosterError::Malformed("the signature does not verify".into()))?;
        self.roster.check()
    }

    /// The wire form: format byte, then the canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        encoding::encode_versioned(ROSTER_FORMAT, self)
    }

    /// Decodes [`SignedRoster::to_bytes`], bounded (nothing verified yet).
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedRoster, DecodeError> {
        encoding::decode_versioned("roster", ROSTER_FORMAT, bytes, MAX_ROSTER_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(s: &str) -> StateCode {
        s.parse().unwrap()
    }

    fn opened() -> Roster {
        Roster::open(
            CaseId([1; 16]),
            state("FRA"),
            vec![Role::technical(), Role::policy()],
            vec![(state("DEU"), vec![Role::technical()]), (state("EST"), vec![Role::policy()])],
            "Outage of a shared exchange point".into(),
            Tlp::Amber,
            false,
            Timestamp(100),
        )
        .unwrap()
    }

    #[test]
    fn each_change_is_the_next_version_and_only_a_successor_is_taken() {
        let v1 = opened();
        assert_eq!(v1.participants.iter().map(|p| p.state.as_str()).collect::<Vec<_>>(), ["DEU", "EST", "FRA"]);
        let v2 = v1.invite(state("POL"), vec![Role::technical()], None, Timestamp(200)).unwrap();
        assert_eq!(v2.participant(state("POL")).map(|p| (p.joined_in, p.sees_from)), Some((2, 2)));
        v1.check_successor(&v2).unwrap();
        let v3 = v2.remove(state("EST"), true, Timestamp(300)).unwrap();
        v2.check_successor(&v3).unwrap();
        assert!(!v3.receives(state("EST"), &Role::policy()));
        assert_eq!(v3.departed, vec![Departure { state: state("EST"), in_version: 3, left: true }]);
        let v4 = v3.close(Timestamp(400)).unwrap();
        v3.check_successor(&v4).unwrap();
        assert_eq!(v4.invite(state("ITA"), vec![Role::technical()], None, Timestamp(500)), Err(RosterError::Closed));
        assert_eq!(v4.check_successor(&v4.clone()), Err(RosterError::Closed));
        // Skipping a version, going back, or rewriting history: refused.
        assert!(v1.check_successor(&v3).is_err());
        assert!(v2.check_successor(&v1).is_err());
        let mut sneaky = v3.clone();
        sneaky.participants.iter_mut().for_each(|p| p.sees_from = 1);
        assert!(v2.check_successor(&sneaky).is_err(), "a later participant may not see the past by stealth");
        let mut silent = v2.clone();
        silent.version = 3;
        silent.participants.retain(|p| p.state != state("EST"));
        assert!(v2.check_successor(&silent).is_err(), "a removal must be recorded");
    }

    #[test]
    fn bad_changes_are_refused_with_their_codes() {
        let v1 = opened();
        assert_eq!(v1.remove(state("FRA"), false, Timestamp(1)).unwrap_err().code(), "convener_stays");
        assert_eq!(v1.remove(state("ITA"), false, Timestamp(1)).unwrap_err().code(), "not_on_roster");
        assert_eq!(
            v1.invite(state("DEU"), vec![Role::technical()], None, Timestamp(1)).unwrap_err().code(),
            "already_on_roster"
        );
        assert_eq!(v1.invite(state("ITA"), vec![], None, Timestamp(1)).unwrap_err().code(), "roster_malformed");
        // History shared from an earlier version, never a later one.
        let v2 = v1.invite(state("ITA"), vec![Role::technical()], Some(1), Timestamp(1)).unwrap();
        assert_eq!(v2.participant(state("ITA")).map(|p| p.sees_from), Some(1));
        let v3 = v2.invite(state("LVA"), vec![Role::technical()], Some(9), Timestamp(1)).unwrap();
        assert_eq!(v3.participant(state("LVA")).map(|p| p.sees_from), Some(3));
    }

    #[test]
    fn a_signed_roster_verifies_in_its_network_only_and_round_trips() {
        let key = SecretKey::from_seed(&[4; 32]);
        let net = NetworkId([5; 32]);
        let signed = SignedRoster::sign(opened(), &key, &net);
        signed.verify(&net).unwrap();
        assert!(signed.verify(&NetworkId([6; 32])).is_err());
        let bytes = signed.to_bytes();
        assert_eq!(bytes[0], ROSTER_FORMAT);
        assert_eq!(SignedRoster::from_bytes(&bytes).unwrap(), signed);
        let mut forged = signed.clone();
        forged.roster.participants.retain(|p| p.state != state("EST"));
        assert!(forged.verify(&net).is_err());
        assert!(SignedRoster::from_bytes(&vec![ROSTER_FORMAT; MAX_ROSTER_BYTES + 1]).is_err());
    }
}
