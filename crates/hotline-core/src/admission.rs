//! Admission: the stewards' decision that a state belongs to the network,
//! binding the state's ISO code to its state key.

use crate::charter::StewardSignature;
use crate::ids::StateCode;
use crate::keys::PublicKey;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The admission body: what at least `threshold` stewards sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admission {
    /// The admitted state.
    pub state: StateCode,
    /// The state key, which signs the state's contact records.
    pub state_key: PublicKey,
    /// Version: a later admission (for example after a key change) has a higher `seq`.
    pub seq: u64,
    /// When the stewards drew it up.
    pub issued_at: Timestamp,
    /// Optional end of the admission.
    pub expires: Option<Timestamp>,
}

/// An admission with its steward signatures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedAdmission {
    /// The body.
    pub admission: Admission,
    /// Steward signatures, sorted by steward index.
    pub signatures: Vec<StewardSignature>,
}
