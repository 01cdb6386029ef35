//! Record status, computed from time and policy, never stored.

use crate::ids::ObjectHash;
use crate::record::SignedRecord;
use serde::Serialize;
use std::fmt;

/// A record's status at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// Valid, and more than the warning period from expiry.
    Current,
    /// Valid, but expiring within the charter's warning period (30 days by default).
    Expiring,
    /// Past its expiry (or its admission's).
    Expired,
    /// Covered by a revocation of the record or of the state's admission.
    Revoked,
}

impl RecordStatus {
    /// Whether a record with this status is still in force.
    pub fn is_in_force(&self) -> bool {
        matches!(self, RecordStatus::Current | RecordStatus::Expiring)
    }
}

impl fmt::Display for RecordStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordStatus::Current => "current",
            RecordStatus::Expiring => "expiring",
            RecordStatus::Expired => "expired",
            RecordStatus::Revoked => "revoked",
        })
    }
}

/// A record as the directory shows it.
#[derive(Clone, Debug, Serialize)]
pub struct RecordView<'a> {
    /// The signed record.
    pub record: &'a SignedRecord,
    /// Its hash.
    pub hash: ObjectHash,
    /// Its status now.
    pub status: RecordStatus,
}
