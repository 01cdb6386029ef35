//! What a state's key signs, made from the directory held: the next
//! version of a record, the withdrawal of a record, the revocation of a
//! node. Each is signed under the admission held for the key's state; the
//! caller still applies it, so the directory's rules judge it like any
//! object from the network.

use super::Directory;
use crate::Rejection;
use crate::ids::{NodeId, Role, StateCode};
use crate::record::SignedRecord;
use crate::revocation::{Revocation, RevocationTarget, SignedRevocation};
use crate::time::Timestamp;
use crate::validate;

impl Directory {
    /// Signs the next version of `(state, role)` from `draft` with the state
    /// key: the `seq` after the one held (1 in a new admission epoch), issued
    /// at `now`, valid for `validity_secs`. The caller still applies it.
    pub fn sign_next_record(
        &self,
        draft: crate::record::RecordDraft,
        state_key: &crate::keys::SecretKey,
        now: Timestamp,
        validity_secs: u64,
    ) -> Result<SignedRecord, Rejection> {
        let (state, admission_seq) = self.admission_signed_by(state_key)?;
        let seq = match self.record(state, &draft.role) {
            Some(r) if r.record.admission_seq == admission_seq => r.record.seq + 1,
            _ => 1,
        };
        let record = draft.into_record(state, admission_seq, seq, now, now.plus(validity_secs));
        Ok(SignedRecord::sign(record, state_key, &self.network))
    }

    /// Signs `state_key`'s state's revocation of its node `node`, issued at
    /// `now`, under the admission held for that state. The caller still
    /// applies it (which refuses a node no record of the state ever listed).
    pub fn sign_node_revocation(
        &self,
        state_key: &crate::keys::SecretKey,
        node: NodeId,
        reason: String,
        now: Timestamp,
    ) -> Result<SignedRevocation, Rejection> {
        let (state, admission_seq) = self.admission_signed_by(state_key)?;
        let target = RevocationTarget::Node { state, admission_seq, node };
        let revocation = Revocation { target, issued_at: now, reason };
        Ok(SignedRevocation::sign_by_state(revocation, state_key, &self.network))
    }

    /// Signs `state_key`'s state's withdrawal of its record for `role`: a
    /// revocation of every version up to the one held, issued at `now`. The
    /// caller still applies it.
    pub fn sign_record_withdrawal(
        &self,
        state_key: &crate::keys::SecretKey,
        role: &Role,
        reason: String,
        now: Timestamp,
    ) -> Result<SignedRevocation, Rejection> {
        let (state, _) = self.admission_signed_by(state_key)?;
        let record = self
            .record(state, role)
            .ok_or_else(|| validate::field_error("role", format!("{state} holds no record for {role}")))?;
        let target = RevocationTarget::Record {
            state,
            role: role.clone(),
            admission_seq: record.record.admission_seq,
            up_to_seq: record.record.seq,
        };
        let revocation = Revocation { target, issued_at: now, reason };
        Ok(SignedRevocation::sign_by_state(revocation, state_key, &self.network))
    }

    /// The state whose admission held here names `state_key`'s public key,
    /// and that admission's `seq`: what an object this key signs is under.
    fn admission_signed_by(&self, state_key: &crate::keys::SecretKey) -> Result<(StateCode, u64), Rejection> {
        let state = self.admission_of_key(&state_key.public()).ok_or_else(|| {
            validate::field_error("state_key", "is not the key of any admitted state in this directory")
        })?;
        Ok((state, self.admission(state).map(|a| a.admission.seq).unwrap_or_default()))
    }
}
