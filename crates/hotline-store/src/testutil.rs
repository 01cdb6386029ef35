//! A real, signed directory for the tests: a charter of three stewards with
//! threshold two, admitted states and their contact records.

use hotline_core::{
    Admission, Applied, Availability, Charter, ContactRecord, Directory, DirectoryObject, NodeId, Outcome, Role,
    SecretKey, SignedAdmission, SignedCharter, SignedRecord, StateCode, Timestamp,
};

/// State codes for tests that need many distinct slots.
pub const STATES: [&str; 40] = [
    "FRA", "DEU", "EST", "ITA", "ESP", "POL", "NLD", "BEL", "AUT", "SWE", "FIN", "DNK", "PRT", "IRL", "GRC", "CZE",
    "SVK", "SVN", "HRV", "HUN", "ROU", "BGR", "LTU", "LVA", "LUX", "MLT", "CYP", "NOR", "ISL", "CHE", "GBR", "USA",
    "CAN", "MEX", "BRA", "ARG", "CHL", "JPN", "KOR", "AUS",
];

pub struct Fixture {
    pub stewards: Vec<SecretKey>,
    pub charter: SignedCharter,
    pub now: Timestamp,
}

impl Fixture {
    pub fn new() -> Fixture {
        let stewards: Vec<SecretKey> = (1..=3u8).map(|i| SecretKey::from_seed(&[i; 32])).collect();
        let mut charter = SignedCharter::unsigned(Charter::new(
            "Store test network".into(),
            Timestamp(1_790_000_000),
            stewards.iter().map(|k| k.public()).collect(),
            2,
            vec![],
        ));
        charter.sign(&stewards[0]).expect("steward 0 signs");
        charter.sign(&stewards[2]).expect("steward 2 signs");
        Fixture { stewards, charter, now: Timestamp(1_790_100_000) }
    }

    pub fn directory(&self) -> Directory {
        Directory::new(self.charter.clone()).expect("the fixture charter verifies")
    }

    /// The state key of `state` in admission `generation` (a new generation
    /// is a key change).
    pub fn state_key(state: &str, generation: u8) -> SecretKey {
        let mut seed = [0u8; 32];
        seed[..3].copy_from_slice(state.as_bytes());
        seed[3] = generation;
        seed[31] = 0x5a;
        SecretKey::from_seed(&seed)
    }

    pub fn node_id(state: &str, n: u8) -> NodeId {
        let mut seed = [0u8; 32];
        seed[..3].copy_from_slice(state.as_bytes());
        seed[3] = n;
        seed[31] = 0xa5;
        NodeId(SecretKey::from_seed(&seed).public().0)
    }

    pub fn admission(&self, state: &str, seq: u64) -> DirectoryObject {
        let mut a = SignedAdmission::unsigned(Admission {
            state: state.parse().expect("a test state code"),
            state_key: Self::state_key(state, seq as u8).public(),
            seq,
            issued_at: Timestamp(self.now.0 - 1000 + seq),
            expires: None,
        });
        a.sign(&self.charter.charter, &self.stewards[1]).expect("steward 1 signs");
        a.sign(&self.charter.charter, &self.stewards[2]).expect("steward 2 signs");
        DirectoryObject::Admission(a)
    }

    /// A record of `state` for `role`, signed under admission `admission_seq`.
    pub fn record(&self, state: &str, role: Role, admission_seq: u64, seq: u64, organization: &str) -> DirectoryObject {
        let issued_at = Timestamp(self.now.0 - 500 + seq);
        let record = ContactRecord {
            state: state.parse::<StateCode>().expect("a test state code"),
            role,
            admission_seq,
            seq,
            issued_at,
            expires: issued_at.plus(300 * 86_400),
            organization: organization.into(),
            position: "Head of international cooperation".into(),
            emails: vec!["poc@cert.example.org".into()],
            phones: vec!["+33 1 23 45 67 89".into()],
            phone_24x7: Some("+33 6 12 34 56 78".into()),
            timezone: "Europe/Paris".into(),
            availability: Availability::TwentyFourSeven,
            languages: vec!["fr".into(), "en".into()],
            nodes: vec![Self::node_id(state, 1)],
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
        };
        let key = Self::state_key(state, admission_seq as u8);
        DirectoryObject::Record(Box::new(SignedRecord::sign(record, &key, &self.charter.network_id())))
    }

    /// Applies `object`, which must change the directory.
    pub fn apply(&self, dir: &mut Directory, object: DirectoryObject) -> Applied {
        let what = object.describe();
        match dir.apply(object, self.now) {
            Ok(Outcome::Applied(applied)) => applied,
            other => panic!("applying {what}: {other:?}"),
        }
    }
}
