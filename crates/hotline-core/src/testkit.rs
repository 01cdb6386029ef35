//! Fixtures for tests in this and other crates: a charter with three
//! stewards (threshold two), and builders for correctly signed objects that
//! tests then break on purpose. Only compiled with the `testkit` feature.

use crate::admission::{Admission, SignedAdmission};
use crate::charter::{Charter, SignedCharter};
use crate::ids::{NetworkId, NodeId, Role, StateCode};
use crate::keys::SecretKey;
use crate::limits::XWING_PUBLIC_KEY_BYTES;
use crate::object::DirectoryObject;
use crate::prekey::{Prekey, PrekeyBundle, SignedPrekeyBundle};
use crate::record::{Availability, ContactRecord, SignedRecord};
use crate::revocation::{Revocation, RevocationTarget, SignedRevocation};
use crate::time::{DAY, Timestamp};

/// The fixed clock of the fixtures: 2026-11-01T00:00:00Z.
pub const T0: Timestamp = Timestamp(1_793_491_200);

/// A deterministic key from a label, so fixtures are reproducible.
pub fn key(label: &str) -> SecretKey {
    SecretKey::from_seed(&crate::keys::sha256(label.as_bytes()))
}

/// A state code from text known to be valid.
pub fn state(code: &str) -> StateCode {
    code.parse().expect("fixture state codes are valid ISO 3166-1 alpha-3")
}

/// A test network: stewards, charter and helpers to sign objects.
pub struct World {
    /// Steward keys, in charter order.
    pub stewards: Vec<SecretKey>,
    /// The charter, signed by stewards 0 and 1.
    pub charter: SignedCharter,
    /// Its network id.
    pub net: NetworkId,
}

impl Default for World {
    fn default() -> Self {
        World::new("Fixture network")
    }
}

impl World {
    /// Three stewards, threshold two.
    pub fn new(name: &str) -> World {
        let stewards: Vec<SecretKey> = (0..3).map(|i| key(&format!("{name}/steward/{i}"))).collect();
        let mut charter = SignedCharter::unsigned(Charter::new(
            name.to_string(),
            T0,
            stewards.iter().map(|k| k.public()).collect(),
            2,
            vec![],
        ));
        charter.sign(&stewards[0]).expect("fixture steward");
        charter.sign(&stewards[1]).expect("fixture steward");
        let net = charter.network_id();
        World { stewards, charter, net }
    }

    /// The state key of `code` in admission epoch `epoch`.
    pub fn state_key(&self, code: &str, epoch: u64) -> SecretKey {
        key(&format!("{}/state/{code}/{epoch}", self.charter.charter.name))
    }

    /// The node key `n` of state `code`.
    pub fn node_key(&self, code: &str, n: u8) -> SecretKey {
        key(&format!("{}/node/{code}/{n}", self.charter.charter.name))
    }

    /// The node id `n` of state `code`.
    pub fn node_id(&self, code: &str, n: u8) -> NodeId {
        self.node_key(code, n).node_id()
    }

    /// An admission of `code` at `seq` (key of epoch `seq`), signed by stewards 0 and 1.
    pub fn admission(&self, code: &str, seq: u64) -> SignedAdmission {
        let mut a = SignedAdmission::unsigned(Admission {
            state: state(code),
            state_key: self.state_key(code, seq).public(),
            seq,
            issued_at: T0,
            expires: None,
        });
        a.sign(&self.charter.charter, &self.stewards[0]).expect("steward");
        a.sign(&self.charter.charter, &self.stewards[1]).expect("steward");
        a
    }

    /// A complete, valid contact record body for `(code, role)`.
    pub fn record_body(&self, code: &str, role: &str, admission_seq: u64, seq: u64) -> ContactRecord {
        ContactRecord {
            state: state(code),
            role: role.parse::<Role>().expect("fixture role"),
            admission_seq,
            seq,
            issued_at: T0,
            expires: T0.plus(180 * DAY),
            organization: format!("{code} national CERT"),
            position: "Head of incident response".into(),
            emails: vec![format!("{}@cert.example", role)],
            phones: vec!["+33 1 23 45 67 89".into()],
            phone_24x7: Some("+33 6 00 00 00 00".into()),
            timezone: "Europe/Paris".into(),
            availability: Availability::TwentyFourSeven,
            languages: vec!["en".into(), "fr".into()],
            nodes: vec![self.node_id(code, 0)],
            person_name: None,
            other_channels: vec![],
            postal_address: None,
            openpgp_fingerprint: None,
            linked_cert: None,
            memberships: vec!["OSCE".into()],
            alternates: vec![],
            nomination_ref: None,
            accepted_message_types: vec![],
            default_tlp: None,
        }
    }

    /// `record_body` signed by the state key of epoch `admission_seq`.
    pub fn record(&self, code: &str, role: &str, admission_seq: u64, seq: u64) -> SignedRecord {
        SignedRecord::sign(
            self.record_body(code, role, admission_seq, seq),
            &self.state_key(code, admission_seq),
            &self.net,
        )
    }

    /// A prekey bundle for node `n` of `code`, with one dummy X-Wing-sized key.
    pub fn prekeys(&self, code: &str, n: u8, seq: u64) -> SignedPrekeyBundle {
        let bundle = PrekeyBundle {
            state: state(code),
            node: self.node_id(code, n),
            seq,
            issued_at: T0,
            expires: T0.plus(14 * DAY),
            prekeys: vec![Prekey {
                id: seq as u32,
                public: vec![seq as u8; XWING_PUBLIC_KEY_BYTES],
                expires: T0.plus(7 * DAY),
            }],
        };
        SignedPrekeyBundle::sign(bundle, &self.node_key(code, n), &self.net)
    }

    /// A steward-signed revocation of `code`'s admissions up to `up_to_seq`.
    pub fn revoke_admission(&self, code: &str, up_to_seq: u64) -> SignedRevocation {
        let mut r = SignedRevocation::unsigned_by_stewards(Revocation {
            target: RevocationTarget::Admission { state: state(code), up_to_seq },
            issued_at: T0,
            reason: "fixture".into(),
        });
        r.sign_as_steward(&self.charter.charter, &self.stewards[1]).expect("steward");
        r.sign_as_steward(&self.charter.charter, &self.stewards[2]).expect("steward");
        r
    }

    /// A state-signed revocation of `(code, role)` records up to `up_to_seq`.
    pub fn revoke_record(&self, code: &str, role: &str, admission_seq: u64, up_to_seq: u64) -> SignedRevocation {
        SignedRevocation::sign_by_state(
            Revocation {
                target: RevocationTarget::Record {
                    state: state(code),
                    role: role.parse().expect("fixture role"),
                    admission_seq,
                    up_to_seq,
                },
                issued_at: T0,
                reason: "fixture".into(),
            },
            &self.state_key(code, admission_seq),
            &self.net,
        )
    }

    /// A state-signed revocation of node `n` of `code`.
    pub fn revoke_node(&self, code: &str, admission_seq: u64, n: u8) -> SignedRevocation {
        self.revoke_node_id(code, admission_seq, self.node_id(code, n), "fixture")
    }

    /// A revocation of any node id, signed by `code`'s state key of epoch
    /// `admission_seq`: what a state acting in bad faith would sign.
    pub fn revoke_node_id(&self, code: &str, admission_seq: u64, node: NodeId, reason: &str) -> SignedRevocation {
        SignedRevocation::sign_by_state(
            Revocation {
                target: RevocationTarget::Node { state: state(code), admission_seq, node },
                issued_at: T0,
                reason: reason.into(),
            },
            &self.state_key(code, admission_seq),
            &self.net,
        )
    }
}

/// Wraps any signed object as a [`DirectoryObject`].
pub trait IntoObject {
    /// The wrapped object.
    fn obj(self) -> DirectoryObject;
}

impl IntoObject for SignedAdmission {
    fn obj(self) -> DirectoryObject {
        DirectoryObject::Admission(self)
    }
}
impl IntoObject for SignedRecord {
    fn obj(self) -> DirectoryObject {
        DirectoryObject::Record(Box::new(self))
    }
}
impl IntoObject for SignedPrekeyBundle {
    fn obj(self) -> DirectoryObject {
        DirectoryObject::Prekeys(self)
    }
}
impl IntoObject for SignedRevocation {
    fn obj(self) -> DirectoryObject {
        DirectoryObject::Revocation(self)
    }
}
