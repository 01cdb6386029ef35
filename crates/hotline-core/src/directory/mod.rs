//! The directory: every node's verified copy of the network's objects, and
//! [`Directory::apply`], the single gate through which objects enter.
//!
//! # Merge rules
//! Each object occupies one slot ([`ObjectKey`]). A slot holds one winner:
//! the highest `seq`, and among equal `seq`s with different content (an
//! *equivocation*) the lowest [`ObjectHash`]; the losers are kept as
//! evidence. An object whose parent is missing (a record before its
//! admission) waits in a bounded pending set and is applied when the parent
//! arrives.
//!
//! The *live* part of the directory — winners that are neither revoked nor
//! expired, and prekeys of current member nodes — depends only on the set of
//! objects applied and the clock, never on their order or on duplicates:
//! the rules form a CRDT (see the property test in `tests/crdt.rs`).
//! [`Directory::digest`] summarises that live part for anti-entropy sync.
//! Objects that a revocation later covers stay in their slot as local
//! evidence, shown with status `revoked`, but are no longer live.

mod pending;
mod rejection;
mod signing;
mod status;

use pending::{Full, PendingSet};
pub use rejection::{Rejection, Waiting};
pub use status::{RecordStatus, RecordView};

use crate::admission::SignedAdmission;
use crate::charter::{CharterError, SignedCharter};
use crate::ids::{NetworkId, NodeId, ObjectHash, Role, StateCode};
use crate::keys::{Context, PublicKey};
use crate::limits::MAX_EVIDENCE;
use crate::limits::MAX_LONG_TEXT;
use crate::object::{DirectoryObject, ObjectKey};
use crate::prekey::SignedPrekeyBundle;
use crate::record::SignedRecord;
use crate::revocation::{RevocationAuthority, RevocationTarget, SignedRevocation};
use crate::time::{DAY, Timestamp};
use crate::validate;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};

/// One slot's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The winning object.
    pub object: DirectoryObject,
    /// Its hash.
    pub hash: ObjectHash,
    /// Equivocating siblings (same `seq`, different content), kept as evidence.
    pub evidence: Vec<DirectoryObject>,
}

/// The result of a successful [`Directory::apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The object (and maybe pending ones it unblocked) changed the directory.
    Applied(Applied),
    /// The directory already holds this object.
    Duplicate,
    /// The object waits in the pending set for its parent.
    Pending(Waiting),
}

/// What an apply changed, in order. A store persists exactly this.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// The changes.
    pub changes: Vec<Change>,
}

/// One change to the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// An object was accepted: as the slot's new winner, or as evidence of an
    /// equivocation.
    Accepted {
        /// The slot.
        key: ObjectKey,
        /// The object's hash.
        hash: ObjectHash,
        /// The object.
        object: DirectoryObject,
        /// True if it became the winner; false if it is kept as evidence.
        winner: bool,
    },
    /// A slot was emptied because its object no longer chains to the
    /// admission in force (the state's key changed).
    Removed {
        /// The slot.
        key: ObjectKey,
        /// The removed object's hash.
        hash: ObjectHash,
    },
}

impl Change {
    /// The slot concerned.
    pub fn key(&self) -> &ObjectKey {
        match self {
            Change::Accepted { key, .. } | Change::Removed { key, .. } => key,
        }
    }
}

/// The live part of the directory: slot → (seq, hash).
pub type Digest = BTreeMap<ObjectKey, (u64, ObjectHash)>;

/// What the checks decided for an object.
enum Verdict {
    Winner,
    Evidence,
    Duplicate,
    Wait(Waiting),
}

/// Where an object comes from: that decides whether it may wait for a
/// parent, and which objects are taken at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// This node itself: its operator (control API, `directory import`) or
    /// its own publications. Its objects may wait, within the state's share.
    Local,
    /// A member node, with the state it is a member for. Its objects may
    /// wait, within its own share, its state's share of the object's
    /// state, and the object's state's share.
    Member(NodeId, StateCode),
    /// A node that is not a member (a newcomer presenting itself, or a
    /// stranger). Only its own objects are taken: an admission, a record
    /// that lists the node, the node's own prekey bundle, and only when
    /// they apply at once. Nothing of it ever waits.
    Stranger(NodeId),
}

/// Counts signature verifications, so that tests and metrics can see what
/// an apply costs. Atomic so that a `Directory` stays `Sync`.
#[derive(Debug, Default)]
struct VerifyCounter(AtomicU64);

impl VerifyCounter {
    fn bump(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl Clone for VerifyCounter {
    fn clone(&self) -> Self {
        VerifyCounter(AtomicU64::new(self.0.load(Ordering::Relaxed)))
    }
}

/// A verified copy of the directory under one charter.
#[derive(Clone, Debug)]
pub struct Directory {
    charter: SignedCharter,
    network: NetworkId,
    entries: BTreeMap<ObjectKey, Entry>,
    pending: PendingSet,
    /// Bumped by every change to `entries`.
    generation: u64,
    verifications: VerifyCounter,
}

impl Directory {
    /// An empty directory under `charter`, which must be valid.
    pub fn new(charter: SignedCharter) -> Result<Directory, CharterError> {
        let network = charter.verify()?;
        Ok(Directory {
            charter,
            network,
            entries: BTreeMap::new(),
            pending: PendingSet::default(),
            generation: 0,
            verifications: VerifyCounter::default(),
        })
    }

    /// Rebuilds a directory from slot contents a store saved. The store only
    /// ever saved what [`Directory::apply`] accepted, so the objects are not
    /// checked again; the charter is.
    pub fn restore(
        charter: SignedCharter,
        entries: impl IntoIterator<Item = (DirectoryObject, Vec<DirectoryObject>)>,
    ) -> Result<Directory, CharterError> {
        let mut dir = Directory::new(charter)?;
        for (object, evidence) in entries {
            let hash = object.hash(&dir.network);
            dir.entries.insert(object.key(), Entry { object, hash, evidence });
        }
        Ok(dir)
    }

    /// A counter that changes whenever a slot changes, so that callers can
    /// cache what they derive from the slots (a digest, say). Time alone
    /// also changes the live directory (expiry), which it does not track.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The charter.
    pub fn charter(&self) -> &SignedCharter {
        &self.charter
    }

    /// The network id.
    pub fn network_id(&self) -> NetworkId {
        self.network
    }

    /// All slots.
    pub fn entries(&self) -> impl Iterator<Item = (&ObjectKey, &Entry)> {
        self.entries.iter()
    }

    /// One slot.
    pub fn entry(&self, key: &ObjectKey) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// The winner of slot `key` if it is part of the live directory at
    /// `now`: the entry [`Directory::digest`] would list, without building
    /// the whole digest.
    pub fn live_entry(&self, key: &ObjectKey, now: Timestamp) -> Option<&Entry> {
        self.entries.get(key).filter(|e| self.is_live(e, now))
    }

    /// How many objects wait for a parent.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// How many signatures this directory has verified since it was built:
    /// what the checks cost, for tests and metrics.
    pub fn signature_checks(&self) -> u64 {
        self.verifications.0.load(Ordering::Relaxed)
    }

    /// [`Directory::apply_from`] for this node's own objects
    /// ([`Source::Local`]).
    pub fn apply(&mut self, object: DirectoryObject, now: Timestamp) -> Result<Outcome, Rejection> {
        self.apply_from(object, Source::Local, now)
    }

    /// Checks `object` against the charter, the chain of signatures and the
    /// merge rules at time `now`, and applies it if it is acceptable. Pending
    /// objects it unblocks are applied too, and reported in the same
    /// [`Applied`]. `source` decides whether the object may wait for a
    /// parent and, for a stranger, whether it is taken at all.
    pub fn apply_from(
        &mut self,
        object: DirectoryObject,
        source: Source,
        now: Timestamp,
    ) -> Result<Outcome, Rejection> {
        self.pending.expire(now);
        // The cheap screen before any hashing or signature: a stranger
        // presents only itself.
        if let Source::Stranger(node) = &source
            && !is_own_object(&object, node)
        {
            return Err(Rejection::NotOwnObject);
        }
        let hash = object.hash(&self.network);
        // The same bytes as a live winner (sync hands a newcomer the same
        // objects from several peers at once): settled without verifying
        // signatures again. A held object that is no longer live (revoked,
        // expired) goes through the checks, so it is refused as before.
        if self.entries.get(&object.key()).is_some_and(|e| e.hash == hash && self.is_live(e, now)) {
            return Ok(Outcome::Duplicate);
        }
        let verdict = self.check(&object, &hash, now)?;
        let mut applied = Applied::default();
        match verdict {
            Verdict::Duplicate => return Ok(Outcome::Duplicate),
            Verdict::Wait(why) => return self.park(object, hash, why, source, now),
            Verdict::Winner | Verdict::Evidence => {
                self.insert(object, hash, matches!(verdict, Verdict::Winner), &mut applied);
            }
        }
        self.drain_pending(now, &mut applied);
        Ok(Outcome::Applied(applied))
    }

    /// Puts an object that waits for a parent in the pending set, if its
    /// source may and the set's bounds allow.
    fn park(
        &mut self,
        object: DirectoryObject,
        hash: ObjectHash,
        why: Waiting,
        source: Source,
        now: Timestamp,
    ) -> Result<Outcome, Rejection> {
        let from = match source {
            Source::Stranger(_) => return Err(Rejection::MustApplyAtOnce(why)),
            Source::Member(node, state) => Some((node, state)),
            Source::Local => None,
        };
        if self.pending.contains(&hash) {
            return Ok(Outcome::Pending(why));
        }
        // A bundle waits for a record listing its node, but its signature
        // can be checked now: nothing forged is parked.
        if let DirectoryObject::Prekeys(p) = &object {
            self.verify_prekeys_signature(p)?;
        }
        match self.pending.insert(hash, object, from, now) {
            Ok(()) => Ok(Outcome::Pending(why)),
            Err(Full::Total | Full::Source | Full::SourceState | Full::State) => Err(Rejection::PendingFull),
        }
    }

    /// Re-checks the pending objects of every state `applied` changed, until
    /// none makes progress. Every reason to wait names the object's own
    /// state, so objects of other states cannot have been unblocked.
    fn drain_pending(&mut self, now: Timestamp, applied: &mut Applied) {
        let mut states: BTreeSet<StateCode> = BTreeSet::new();
        let mut seen = 0;
        loop {
            for change in &applied.changes[seen..] {
                if let Change::Accepted { object, .. } = change {
                    states.insert(object.state());
                }
            }
            seen = applied.changes.len();
            let Some(state) = states.pop_first() else { return };
            for hash in self.pending.of_state(state) {
                let Some(object) = self.pending.get(&hash).cloned() else { continue };
                match self.check(&object, &hash, now) {
                    Ok(Verdict::Wait(_)) => {}
                    Ok(Verdict::Duplicate) | Err(_) => {
                        self.pending.remove(&hash);
                    }
                    Ok(v @ (Verdict::Winner | Verdict::Evidence)) => {
                        self.pending.remove(&hash);
                        self.insert(object, hash, matches!(v, Verdict::Winner), applied);
                    }
                }
            }
        }
    }

    fn insert(&mut self, object: DirectoryObject, hash: ObjectHash, winner: bool, applied: &mut Applied) {
        self.generation += 1;
        let key = object.key();
        let cascades = matches!(object, DirectoryObject::Admission(_) | DirectoryObject::Revocation(_));
        let state = object.state();
        applied.changes.push(Change::Accepted { key: key.clone(), hash, object: object.clone(), winner });
        match self.entries.get_mut(&key) {
            Some(entry) if !winner => {
                if entry.evidence.len() < MAX_EVIDENCE {
                    entry.evidence.push(object);
                }
            }
            Some(entry) if entry.object.seq() == object.seq() => {
                // An equivocation that the newcomer wins: the old winner becomes evidence.
                let old = std::mem::replace(&mut entry.object, object);
                entry.hash = hash;
                if entry.evidence.len() < MAX_EVIDENCE {
                    entry.evidence.push(old);
                }
            }
            _ => {
                self.entries.insert(key, Entry { object, hash, evidence: Vec::new() });
            }
        }
        if cascades && winner {
            self.prune_state(state, applied);
        }
    }

    /// After a state's admission or a revocation changed, drops the objects
    /// of that state that no longer chain to the admission in force.
    fn prune_state(&mut self, state: StateCode, applied: &mut Applied) {
        let admission = self.admission(state).map(|a| (a.admission.seq, a.admission.state_key));
        let network = self.network;
        let stale: Vec<ObjectKey> = self
            .entries
            .iter()
            .filter(|(_, e)| e.object.state() == state)
            .filter(|(_, e)| match state_signed_by(&e.object) {
                None => false,
                Some(admission_seq) => match admission {
                    None => true,
                    Some((seq, key)) => {
                        admission_seq != seq || {
                            self.verifications.bump();
                            verify_state_signature(&e.object, &key, &network).is_err()
                        }
                    }
                },
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            if let Some(entry) = self.entries.remove(&key) {
                self.generation += 1;
                applied.changes.push(Change::Removed { key, hash: entry.hash });
            }
        }
    }

    fn check(&self, object: &DirectoryObject, hash: &ObjectHash, now: Timestamp) -> Result<Verdict, Rejection> {
        let policy = &self.charter.charter.policy;
        if object.issued_at() > now.plus(policy.max_clock_skew_secs) {
            return Err(Rejection::FromTheFuture {
                issued_at: object.issued_at(),
                now,
                skew_secs: policy.max_clock_skew_secs,
            });
        }
        match object {
            DirectoryObject::Admission(a) => self.check_admission(a, now)?,
            DirectoryObject::Record(r) => {
                if let Some(wait) = self.check_record(r, now)? {
                    return Ok(Verdict::Wait(wait));
                }
            }
            DirectoryObject::Prekeys(p) => {
                if let Some(wait) = self.check_prekeys(p, now)? {
                    return Ok(Verdict::Wait(wait));
                }
            }
            DirectoryObject::Revocation(r) => {
                if let Some(wait) = self.check_revocation(r, now)? {
                    return Ok(Verdict::Wait(wait));
                }
            }
        }
        self.compare_with_slot(object, hash)
    }

    fn compare_with_slot(&self, object: &DirectoryObject, hash: &ObjectHash) -> Result<Verdict, Rejection> {
        let Some(entry) = self.entries.get(&object.key()) else { return Ok(Verdict::Winner) };
        let (got, current) = (object.seq(), entry.object.seq());
        if got < current {
            return Err(Rejection::Stale { got, current });
        }
        if got > current {
            return Ok(Verdict::Winner);
        }
        let known = *hash == entry.hash || entry.evidence.iter().any(|e| e.hash(&self.network) == *hash);
        if known || (entry.evidence.len() >= MAX_EVIDENCE && *hash > entry.hash) {
            return Ok(Verdict::Duplicate);
        }
        Ok(if *hash < entry.hash { Verdict::Winner } else { Verdict::Evidence })
    }

    fn check_admission(&self, a: &SignedAdmission, now: Timestamp) -> Result<(), Rejection> {
        let adm = &a.admission;
        // The cheap check first: an older admission than the one held is
        // refused without verifying its steward signatures.
        if let Some(held) = self.admission(adm.state)
            && adm.seq < held.admission.seq
        {
            return Err(Rejection::Stale { got: adm.seq, current: held.admission.seq });
        }
        if !adm.state_key.is_valid() {
            return Err(validate::field_error("state_key", "is not a valid Ed25519 public key").into());
        }
        if let Some(expires) = adm.expires {
            if expires <= adm.issued_at {
                return Err(validate::field_error("expires", "must be after issued_at").into());
            }
            if expires <= now {
                return Err(Rejection::Expired(expires));
            }
        }
        if self.admission_revoked_up_to(adm.state).is_some_and(|up_to| adm.seq <= up_to) {
            return Err(Rejection::Revoked);
        }
        let body = crate::encoding::encode(adm);
        self.verifications.bump();
        self.charter
            .charter
            .verify_quorum(Context::ADMISSION, &self.network, &body, &a.signatures)
            .map_err(Rejection::Stewards)?;
        Ok(())
    }

    /// Finds the admission in force that must have signed a state-signed
    /// object, or says why there is none.
    fn signing_admission(
        &self,
        state: StateCode,
        admission_seq: u64,
        now: Timestamp,
    ) -> Result<Result<&SignedAdmission, Waiting>, Rejection> {
        let Some(adm) = self.admission(state) else { return Ok(Err(Waiting::UnknownState(state))) };
        let current = adm.admission.seq;
        if admission_seq > current {
            return Ok(Err(Waiting::AdmissionNotYetSeen { state, needed: admission_seq, have: current }));
        }
        if admission_seq < current {
            return Err(Rejection::SupersededAdmission { state, got: admission_seq, current });
        }
        if self.admission_revoked_up_to(state).is_some_and(|up_to| current <= up_to) {
            return Err(Rejection::Revoked);
        }
        if adm.admission.expires.is_some_and(|e| e <= now) {
            return Err(Rejection::AdmissionExpired(state));
        }
        Ok(Ok(adm))
    }

    fn check_record(&self, r: &SignedRecord, now: Timestamp) -> Result<Option<Waiting>, Rejection> {
        let rec = &r.record;
        let policy = &self.charter.charter.policy;
        rec.validate(&self.charter.charter)?;
        let validity = rec.issued_at.until(rec.expires);
        if validity > policy.max_record_validity_secs {
            return Err(Rejection::ValidityTooLong {
                days: validity.div_ceil(DAY),
                max_days: policy.max_record_validity_secs / DAY,
            });
        }
        if rec.expires <= now {
            return Err(Rejection::Expired(rec.expires));
        }
        let adm = match self.signing_admission(rec.state, rec.admission_seq, now)? {
            Ok(adm) => adm,
            Err(wait) => return Ok(Some(wait)),
        };
        let body = crate::encoding::encode(rec);
        self.verifications.bump();
        adm.admission
            .state_key
            .verify(Context::RECORD, &self.network, &body, &r.signature)
            .map_err(|_| Rejection::BadSignature { signer: "admitted state key" })?;
        if self.record_revoked_up_to(rec.state, &rec.role).is_some_and(|up_to| rec.seq <= up_to) {
            return Err(Rejection::Revoked);
        }
        Ok(None)
    }

    fn check_prekeys(&self, p: &SignedPrekeyBundle, now: Timestamp) -> Result<Option<Waiting>, Rejection> {
        let b = &p.bundle;
        b.validate()?;
        if b.expires <= now {
            return Err(Rejection::Expired(b.expires));
        }
        // The cheap check first: a bundle that must wait costs no signature
        // check each time its state changes (`park` checks it once).
        // A revoked node's bundle is not refused but kept out of the live
        // directory (see `prekeys`): node revocations are bound to an
        // admission epoch and vanish with it, and refusing here would make the
        // outcome depend on arrival order.
        if !self.node_listed_by(b.state, &b.node, now) {
            return Ok(Some(Waiting::NodeNotListed { state: b.state, node: b.node }));
        }
        self.verify_prekeys_signature(p)?;
        Ok(None)
    }

    fn verify_prekeys_signature(&self, p: &SignedPrekeyBundle) -> Result<(), Rejection> {
        self.verifications.bump();
        let body = crate::encoding::encode(&p.bundle);
        p.bundle
            .node
            .public_key()
            .verify(Context::PREKEYS, &self.network, &body, &p.signature)
            .map_err(|_| Rejection::BadSignature { signer: "node key" })
    }

    fn check_revocation(&self, r: &SignedRevocation, now: Timestamp) -> Result<Option<Waiting>, Rejection> {
        validate::optional_text("reason", &r.revocation.reason, MAX_LONG_TEXT)?;
        let body = crate::encoding::encode(&r.revocation);
        match (&r.revocation.target, &r.authority) {
            (RevocationTarget::Admission { .. }, RevocationAuthority::Stewards(sigs)) => {
                self.verifications.bump();
                self.charter
                    .charter
                    .verify_quorum(Context::REVOCATION, &self.network, &body, sigs)
                    .map_err(Rejection::Stewards)?;
                Ok(None)
            }
            (RevocationTarget::Record { state, admission_seq, role, .. }, RevocationAuthority::State(signature)) => {
                if !self.charter.charter.has_role(role) {
                    return Err(
                        validate::field_error("role", format!("'{role}' is not declared by the charter")).into()
                    );
                }
                self.check_state_signature(*state, *admission_seq, &body, signature)
            }
            (RevocationTarget::Node { state, admission_seq, node }, RevocationAuthority::State(signature)) => {
                // The cheap check first: a state revokes only nodes its own
                // records in force list, so a revocation of any other node is refused
                // before a signature is verified. A race with the record that
                // lists the node is repaired by sync, which offers the
                // revocation again once the record is here.
                if !self.node_listed_by(*state, node, now) {
                    return Err(Rejection::NodeNotListed { state: *state, node: *node });
                }
                self.check_state_signature(*state, *admission_seq, &body, signature)
            }
            _ => Err(Rejection::WrongAuthority),
        }
    }

    fn check_state_signature(
        &self,
        state: StateCode,
        admission_seq: u64,
        body: &[u8],
        signature: &crate::keys::Signature,
    ) -> Result<Option<Waiting>, Rejection> {
        // Revocations take effect even once the admission has expired, so the
        // expiry check of `signing_admission` is not applied here.
        let adm = match self.signing_admission(state, admission_seq, Timestamp(0))? {
            Ok(adm) => adm,
            Err(wait) => return Ok(Some(wait)),
        };
        self.verifications.bump();
        adm.admission
            .state_key
            .verify(Context::REVOCATION, &self.network, body, signature)
            .map_err(|_| Rejection::BadSignature { signer: "admitted state key" })?;
        Ok(None)
    }

    // ----- Queries -----

    /// The admission held for `state`, if any (it may be revoked or expired).
    pub fn admission(&self, state: StateCode) -> Option<&SignedAdmission> {
        match self.entries.get(&ObjectKey::Admission(state)).map(|e| &e.object) {
            Some(DirectoryObject::Admission(a)) => Some(a),
            _ => None,
        }
    }

    /// Whether `state` has an admission in force at `now`.
    pub fn is_admitted(&self, state: StateCode, now: Timestamp) -> bool {
        self.admission(state).is_some_and(|a| {
            self.admission_revoked_up_to(state).is_none_or(|up| a.admission.seq > up)
                && a.admission.expires.is_none_or(|e| e > now)
        })
    }

    fn admission_revoked_up_to(&self, state: StateCode) -> Option<u64> {
        self.entries.get(&ObjectKey::AdmissionRevocation(state)).map(|e| e.object.seq())
    }

    fn record_revoked_up_to(&self, state: StateCode, role: &Role) -> Option<u64> {
        // A range over the state's revocations instead of a `get`: building
        // the key would copy the role, and this runs for every record each
        // time membership is computed.
        self.entries
            .range(ObjectKey::RecordRevocation(state, Role::range_start())..)
            .map_while(|(key, entry)| match key {
                ObjectKey::RecordRevocation(s, r) if *s == state => Some((r, entry)),
                _ => None,
            })
            .find(|(r, _)| *r == role)
            .map(|(_, entry)| entry.object.seq())
    }

    /// Whether `state` has revoked `node`. Only a state's own revocation
    /// counts, and only while it is live (see [`Directory::is_live`]).
    fn node_revoked_by(&self, state: StateCode, node: &NodeId, now: Timestamp) -> bool {
        self.entries.get(&ObjectKey::NodeRevocation(state, *node)).is_some_and(|e| self.is_live(e, now))
    }

    /// The record held for `(state, role)`, if any.
    pub fn record(&self, state: StateCode, role: &Role) -> Option<&SignedRecord> {
        match self.entries.get(&ObjectKey::Record(state, role.clone())).map(|e| &e.object) {
            Some(DirectoryObject::Record(r)) => Some(r),
            _ => None,
        }
    }

    /// The roles of `state` whose record (not withdrawn) lists `node`.
    pub fn roles_listing(&self, state: StateCode, node: &NodeId, now: Timestamp) -> Vec<Role> {
        self.records(now)
            .into_iter()
            .filter(|r| r.record.record.state == state && r.record.record.nodes.contains(node))
            .filter(|r| r.status != RecordStatus::Revoked)
            .map(|r| r.record.record.role.clone())
            .collect()
    }

    /// The nodes whose own state has revoked them, by a live revocation:
    /// they are members of nothing, whatever a record says.
    pub fn revoked_nodes(&self, now: Timestamp) -> Vec<(StateCode, NodeId)> {
        self.entries
            .iter()
            .filter_map(|(key, entry)| match key {
                ObjectKey::NodeRevocation(state, node) if self.is_live(entry, now) => Some((*state, *node)),
                _ => None,
            })
            .collect()
    }

    /// The state whose admission held here names `key` as its state key.
    pub fn admission_of_key(&self, key: &PublicKey) -> Option<StateCode> {
        self.entries.values().find_map(|e| match &e.object {
            DirectoryObject::Admission(a) if a.admission.state_key == *key => Some(a.admission.state),
            _ => None,
        })
    }

    /// The status of a held record at `now`.
    pub fn record_status(&self, r: &SignedRecord, now: Timestamp) -> RecordStatus {
        let rec = &r.record;
        let admission_revoked = match self.admission(rec.state) {
            None => true,
            Some(a) => self.admission_revoked_up_to(rec.state).is_some_and(|up| a.admission.seq <= up),
        };
        if admission_revoked || self.record_revoked_up_to(rec.state, &rec.role).is_some_and(|up| rec.seq <= up) {
            return RecordStatus::Revoked;
        }
        let admission_expired = self.admission(rec.state).and_then(|a| a.admission.expires).is_some_and(|e| e <= now);
        if rec.expires <= now || admission_expired {
            return RecordStatus::Expired;
        }
        if now.until(rec.expires) < self.charter.charter.policy.expiring_warning_secs {
            return RecordStatus::Expiring;
        }
        RecordStatus::Current
    }

    /// Every record held, with its status, ordered by state and role.
    pub fn records(&self, now: Timestamp) -> Vec<RecordView<'_>> {
        self.entries
            .values()
            .filter_map(|e| match &e.object {
                DirectoryObject::Record(r) => {
                    Some(RecordView { record: r, hash: e.hash, status: self.record_status(r, now) })
                }
                _ => None,
            })
            .collect()
    }

    /// The records held for `state`, every role. A range over the ordered
    /// slots, so that per-node checks stay cheap in a directory of hundreds
    /// of states (they run for every prekey bundle in every digest).
    fn records_of(&self, state: StateCode) -> impl Iterator<Item = &SignedRecord> {
        self.entries.range(ObjectKey::Record(state, Role::range_start())..).map_while(move |(key, entry)| {
            match (key, &entry.object) {
                (ObjectKey::Record(s, _), DirectoryObject::Record(r)) if *s == state => Some(&**r),
                _ => None,
            }
        })
    }

    /// Every record held, in key order, without building views.
    fn records_held(&self) -> impl Iterator<Item = &SignedRecord> {
        // Records sort after admissions and before everything else.
        self.entries.values().skip_while(|e| matches!(e.object, DirectoryObject::Admission(_))).map_while(|e| match &e
            .object
        {
            DirectoryObject::Record(r) => Some(&**r),
            _ => None,
        })
    }

    /// The nodes that the records in force among `records` list, each with
    /// its state (a node listed twice appears twice). Membership is this
    /// minus revoked nodes.
    fn listed_nodes<'a>(
        &'a self,
        records: impl Iterator<Item = &'a SignedRecord> + 'a,
        now: Timestamp,
    ) -> impl Iterator<Item = (&'a NodeId, StateCode)> + 'a {
        records
            .filter(move |r| self.record_status(r, now).is_in_force())
            .flat_map(|r| r.record.nodes.iter().map(move |n| (n, r.record.state)))
    }

    /// The membership rule, in one place: a node is a member for state S
    /// iff a record of S in force lists it and no live revocation signed by
    /// S revokes it. One state's revocation never touches another's nodes.
    fn members(&self, now: Timestamp) -> impl Iterator<Item = (&NodeId, StateCode)> {
        self.listed_nodes(self.records_held(), now).filter(move |(n, s)| !self.node_revoked_by(*s, n, now))
    }

    fn node_listed_by(&self, state: StateCode, node: &NodeId, now: Timestamp) -> bool {
        self.listed_nodes(self.records_of(state), now).any(|(n, _)| n == node)
    }

    /// Every member node at `now`, with the state it is a member for. A node
    /// that several states list (a state may list any node id it likes) is
    /// given the state its own signed prekey bundle names, if that is one
    /// of them, so that no state can claim another's node; otherwise the
    /// first in state order.
    pub fn member_nodes(&self, now: Timestamp) -> BTreeMap<NodeId, StateCode> {
        let mut out = BTreeMap::new();
        for (node, state) in self.members(now) {
            match out.entry(*node) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(state);
                }
                std::collections::btree_map::Entry::Occupied(mut o) => {
                    if self.bundle_state(node) == Some(state) {
                        o.insert(state);
                    }
                }
            }
        }
        out
    }

    /// The state a node's own prekey bundle (signed by the node) names.
    fn bundle_state(&self, node: &NodeId) -> Option<StateCode> {
        match self.entries.get(&ObjectKey::Prekeys(*node)).map(|e| &e.object) {
            Some(DirectoryObject::Prekeys(p)) => Some(p.bundle.state),
            _ => None,
        }
    }

    /// Whether `node` is a member for some state at `now`. Same rule as
    /// [`Directory::member_nodes`], without building the map.
    pub fn is_member(&self, node: &NodeId, now: Timestamp) -> bool {
        self.members(now).any(|(n, _)| n == node)
    }

    /// Whether `node` is a member for `state` at `now`: what delivery asks
    /// before it seals to a state's node or accepts a message from it.
    pub fn is_member_of(&self, state: StateCode, node: &NodeId, now: Timestamp) -> bool {
        self.node_listed_by(state, node, now) && !self.node_revoked_by(state, node, now)
    }

    /// The prekey bundle of a member node, if it has a valid one at `now`.
    pub fn prekeys(&self, node: &NodeId, now: Timestamp) -> Option<&SignedPrekeyBundle> {
        match self.entries.get(&ObjectKey::Prekeys(*node)).map(|e| &e.object) {
            Some(DirectoryObject::Prekeys(p))
                if p.bundle.expires > now && self.is_member_of(p.bundle.state, node, now) =>
            {
                Some(p)
            }
            _ => None,
        }
    }

    /// Whether the slot's winner is part of the live, replicated directory.
    fn is_live(&self, entry: &Entry, now: Timestamp) -> bool {
        match &entry.object {
            DirectoryObject::Admission(a) => self.is_admitted(a.admission.state, now),
            DirectoryObject::Record(r) => self.record_status(r, now).is_in_force(),
            DirectoryObject::Prekeys(p) => self.prekeys(&p.bundle.node, now).is_some(),
            DirectoryObject::Revocation(r) => match r.revocation.target {
                RevocationTarget::Admission { .. } => true,
                // A state's own revocations stand only while its admission does.
                RevocationTarget::Record { state, .. } => self.is_admitted(state, now),
                // A node revocation also only while a record of its state
                // in force lists the node: the same test `check_revocation`
                // applies, so a node that refused it (the record came
                // later) and one that took it hold the same live directory.
                // Only live objects decide it: which revoked or expired
                // records a node still holds depends on arrival order.
                RevocationTarget::Node { state, ref node, .. } => {
                    self.is_admitted(state, now) && self.node_listed_by(state, node, now)
                }
            },
        }
    }

    /// The live objects at `now`: what sync replicates.
    pub fn live_objects(&self, now: Timestamp) -> impl Iterator<Item = (&ObjectKey, &Entry)> {
        self.entries.iter().filter(move |(_, e)| self.is_live(e, now))
    }

    /// Digest of the live directory at `now`: slot → (seq, hash). Two nodes
    /// with equal digests hold the same live directory.
    pub fn digest(&self, now: Timestamp) -> Digest {
        self.live_objects(now).map(|(k, e)| (k.clone(), (e.object.seq(), e.hash))).collect()
    }

    /// The part of [`Directory::digest`] that belongs to `states`: what sync
    /// shows a node that is not a member, which may learn no more than its
    /// own state's part.
    pub fn digest_of(&self, states: &BTreeSet<StateCode>, now: Timestamp) -> Digest {
        if states.is_empty() {
            return Digest::new();
        }
        self.live_objects(now)
            .filter(|(_, e)| states.contains(&e.object.state()))
            .map(|(k, e)| (k.clone(), (e.object.seq(), e.hash)))
            .collect()
    }

    /// The states whose records held here, whatever their status, list
    /// `node`: the states a node that is not a member (yet, or any more)
    /// can claim as its own.
    pub fn states_listing(&self, node: &NodeId) -> BTreeSet<StateCode> {
        self.records_held().filter(|r| r.record.nodes.contains(node)).map(|r| r.record.state).collect()
    }

    /// A single hash over [`Directory::digest`], for quick comparison.
    pub fn digest_hash(&self, now: Timestamp) -> ObjectHash {
        hash_of_digest(&self.digest(now))
    }
}

/// The hash [`Directory::digest_hash`] gives for `digest`.
pub fn hash_of_digest(digest: &Digest) -> ObjectHash {
    let entries: Vec<(&ObjectKey, &(u64, ObjectHash))> = digest.iter().collect();
    ObjectHash(crate::keys::sha256(&crate::encoding::encode(&entries)))
}

/// Whether `object` is one a non-member node `node` may present about
/// itself: an admission (its state's, checked by the steward quorum), a
/// record listing it, or its own prekey bundle.
fn is_own_object(object: &DirectoryObject, node: &NodeId) -> bool {
    match object {
        DirectoryObject::Admission(_) => true,
        DirectoryObject::Record(r) => r.record.nodes.contains(node),
        DirectoryObject::Prekeys(p) => p.bundle.node == *node,
        DirectoryObject::Revocation(_) => false,
    }
}

/// The admission seq under which a state-signed object was signed, or `None`
/// for objects the state key does not sign.
fn state_signed_by(object: &DirectoryObject) -> Option<u64> {
    match object {
        DirectoryObject::Record(r) => Some(r.record.admission_seq),
        DirectoryObject::Revocation(r) => match r.revocation.target {
            RevocationTarget::Record { admission_seq, .. } | RevocationTarget::Node { admission_seq, .. } => {
                Some(admission_seq)
            }
            RevocationTarget::Admission { .. } => None,
        },
        _ => None,
    }
}

fn verify_state_signature(object: &DirectoryObject, key: &PublicKey, network: &NetworkId) -> Result<(), Rejection> {
    let signature = match object {
        DirectoryObject::Record(r) => &r.signature,
        DirectoryObject::Revocation(SignedRevocation { authority: RevocationAuthority::State(s), .. }) => s,
        _ => return Ok(()),
    };
    key.verify(object.context(), network, &object.body_bytes(), signature)
        .map_err(|_| Rejection::BadSignature { signer: "admitted state key" })
}
