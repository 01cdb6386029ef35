//! Directory objects: the four kinds of signed object that make up the
//! directory, their keys, hashes and wire form, and how each is signed.

use crate::admission::{Admission, SignedAdmission};
use crate::charter::{Charter, CharterError, StewardSignature};
use crate::encoding::{self, DecodeError};
use crate::ids::{NetworkId, NodeId, ObjectHash, Role, StateCode};
use crate::keys::{Context, SecretKey, sha256, signing_input};
use crate::limits::MAX_OBJECT_BYTES;
use crate::prekey::{PrekeyBundle, SignedPrekeyBundle};
use crate::record::{ContactRecord, SignedRecord};
use crate::revocation::{Revocation, RevocationAuthority, RevocationTarget, SignedRevocation};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Format version of a directory object on the wire and in files.
pub const OBJECT_FORMAT: u8 = 1;

/// One signed directory object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DirectoryObject {
    /// A state's admission, signed by a steward quorum.
    Admission(SignedAdmission),
    /// A contact record, signed by the state key. Boxed because records are
    /// several times larger than the other objects.
    Record(Box<SignedRecord>),
    /// A node's prekey bundle, signed by the node key.
    Prekeys(SignedPrekeyBundle),
    /// A revocation.
    Revocation(SignedRevocation),
}

/// The slot an object occupies in the directory: at most one winning object
/// per key.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ObjectKey {
    /// `adm/STATE`
    Admission(StateCode),
    /// `rec/STATE/ROLE`
    Record(StateCode, Role),
    /// `pk/PEERID`
    Prekeys(NodeId),
    /// `rev-adm/STATE`
    AdmissionRevocation(StateCode),
    /// `rev-rec/STATE/ROLE`
    RecordRevocation(StateCode, Role),
    /// `rev-node/STATE/PEERID`: the revocation of a node by the state that
    /// listed it. The state is part of the slot so that one state's
    /// revocations never compete with, or get pruned along with, another's.
    NodeRevocation(StateCode, NodeId),
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectKey::Admission(s) => write!(f, "adm/{s}"),
            ObjectKey::Record(s, r) => write!(f, "rec/{s}/{r}"),
            ObjectKey::Prekeys(n) => write!(f, "pk/{n}"),
            ObjectKey::AdmissionRevocation(s) => write!(f, "rev-adm/{s}"),
            ObjectKey::RecordRevocation(s, r) => write!(f, "rev-rec/{s}/{r}"),
            ObjectKey::NodeRevocation(s, n) => write!(f, "rev-node/{s}/{n}"),
        }
    }
}

impl fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl ObjectKey {
    /// The canonical bytes of the key (used as a database key).
    pub fn to_bytes(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    /// Decodes [`ObjectKey::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<ObjectKey, DecodeError> {
        encoding::decode("object key", bytes, 256)
    }
}

impl DirectoryObject {
    /// The slot this object occupies.
    pub fn key(&self) -> ObjectKey {
        match self {
            DirectoryObject::Admission(a) => ObjectKey::Admission(a.admission.state),
            DirectoryObject::Record(r) => ObjectKey::Record(r.record.state, r.record.role.clone()),
            DirectoryObject::Prekeys(p) => ObjectKey::Prekeys(p.bundle.node),
            DirectoryObject::Revocation(r) => match &r.revocation.target {
                RevocationTarget::Admission { state, .. } => ObjectKey::AdmissionRevocation(*state),
                RevocationTarget::Record { state, role, .. } => ObjectKey::RecordRevocation(*state, role.clone()),
                RevocationTarget::Node { state, node, .. } => ObjectKey::NodeRevocation(*state, *node),
            },
        }
    }

    /// The version number that orders objects in the same slot.
    pub fn seq(&self) -> u64 {
        match self {
            DirectoryObject::Admission(a) => a.admission.seq,
            DirectoryObject::Record(r) => r.record.seq,
            DirectoryObject::Prekeys(p) => p.bundle.seq,
            DirectoryObject::Revocation(r) => match &r.revocation.target {
                RevocationTarget::Admission { up_to_seq, .. } | RevocationTarget::Record { up_to_seq, .. } => {
                    *up_to_seq
                }
                RevocationTarget::Node { .. } => 0,
            },
        }
    }

    /// The state the object belongs to.
    pub fn state(&self) -> StateCode {
        match self {
            DirectoryObject::Admission(a) => a.admission.state,
            DirectoryObject::Record(r) => r.record.state,
            DirectoryObject::Prekeys(p) => p.bundle.state,
            DirectoryObject::Revocation(r) => r.revocation.target.state(),
        }
    }

    /// When the signer issued the object.
    pub fn issued_at(&self) -> Timestamp {
        match self {
            DirectoryObject::Admission(a) => a.admission.issued_at,
            DirectoryObject::Record(r) => r.record.issued_at,
            DirectoryObject::Prekeys(p) => p.bundle.issued_at,
            DirectoryObject::Revocation(r) => r.revocation.issued_at,
        }
    }

    /// The signing context of this kind of object.
    pub fn context(&self) -> Context {
        match self {
            DirectoryObject::Admission(_) => Context::ADMISSION,
            DirectoryObject::Record(_) => Context::RECORD,
            DirectoryObject::Prekeys(_) => Context::PREKEYS,
            DirectoryObject::Revocation(_) => Context::REVOCATION,
        }
    }

    /// The canonical encoding of the signed body (without signatures).
    pub fn body_bytes(&self) -> Vec<u8> {
        match self {
            DirectoryObject::Admission(a) => encoding::encode(&a.admission),
            DirectoryObject::Record(r) => encoding::encode(&r.record),
            DirectoryObject::Prekeys(p) => encoding::encode(&p.bundle),
            DirectoryObject::Revocation(r) => encoding::encode(&r.revocation),
        }
    }

    /// The object's identity: SHA-256 of its signing input. Signatures are
    /// left out on purpose, so the same admission with a different set of
    /// steward signatures is the same object, not an equivocation.
    pub fn hash(&self, network: &NetworkId) -> ObjectHash {
        ObjectHash(sha256(&signing_input(self.context(), network, &self.body_bytes())))
    }

    /// Wire and file form: a format byte, then the canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        encoding::encode_versioned(OBJECT_FORMAT, self)
    }

    /// Decodes [`DirectoryObject::to_bytes`], refusing more than
    /// [`MAX_OBJECT_BYTES`]. Signatures are checked by the directory.
    pub fn from_bytes(bytes: &[u8]) -> Result<DirectoryObject, DecodeError> {
        encoding::decode_versioned("directory object", OBJECT_FORMAT, bytes, MAX_OBJECT_BYTES)
    }

    /// A short human description, for logs and errors.
    pub fn describe(&self) -> String {
        format!("{} seq {}", self.key(), self.seq())
    }
}

impl SignedAdmission {
    /// An admission with no signatures yet.
    pub fn unsigned(admission: Admission) -> SignedAdmission {
        SignedAdmission { admission, signatures: Vec::new() }
    }

    /// Adds (or replaces) steward `key`'s signature.
    pub fn sign(&mut self, charter: &Charter, key: &SecretKey) -> Result<(), CharterError> {
        let body = encoding::encode(&self.admission);
        charter.add_steward_signature(Context::ADMISSION, &charter.network_id(), &body, key, &mut self.signatures)
    }
}

impl SignedRecord {
    /// Signs `record` with the state key.
    pub fn sign(record: ContactRecord, state_key: &SecretKey, network: &NetworkId) -> SignedRecord {
        let signature = state_key.sign(Context::RECORD, network, &encoding::encode(&record));
        SignedRecord { record, signature }
    }
}

impl SignedPrekeyBundle {
    /// Signs `bundle` with the node key.
    pub fn sign(bundle: PrekeyBundle, node_key: &SecretKey, network: &NetworkId) -> SignedPrekeyBundle {
        let signature = node_key.sign(Context::PREKEYS, network, &encoding::encode(&bundle));
        SignedPrekeyBundle { bundle, signature }
    }
}

impl SignedRevocation {
    /// A record or node revocation signed by the state key.
    pub fn sign_by_state(revocation: Revocation, state_key: &SecretKey, network: &NetworkId) -> SignedRevocation {
        let signature = state_key.sign(Context::REVOCATION, network, &encoding::encode(&revocation));
        SignedRevocation { revocation, authority: RevocationAuthority::State(signature) }
    }

    /// An admission revocation awaiting steward signatures.
    pub fn unsigned_by_stewards(revocation: Revocation) -> SignedRevocation {
        SignedRevocation { revocation, authority: RevocationAuthority::Stewards(Vec::new()) }
    }

    /// Adds steward `key`'s signature to an admission revocation.
    pub fn sign_as_steward(&mut self, charter: &Charter, key: &SecretKey) -> Result<(), CharterError> {
        let body = encoding::encode(&self.revocation);
        let mut sigs: Vec<StewardSignature> = match &self.authority {
            RevocationAuthority::Stewards(s) => s.clone(),
            RevocationAuthority::State(_) => Vec::new(),
        };
        charter.add_steward_signature(Context::REVOCATION, &charter.network_id(), &body, key, &mut sigs)?;
        self.authority = RevocationAuthority::Stewards(sigs);
        Ok(())
    }
}
