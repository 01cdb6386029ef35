//! Why a backup could not be written.

use super::{Kind, NodeError, api_failure};
use hotline_store::StoreError;
use thiserror::Error;

/// Why `POST /v1/backup` failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BackupFailure {
    /// `out` is not an absolute path.
    #[error("out: {0} is not an absolute path (the daemon writes the file, from its own working directory)")]
    RelativePath(String),
    /// The passphrase is shorter than the minimum.
    #[error("the passphrase is {0} bytes; a backup's must be at least {min}", min = crate::api_types::MIN_PASSPHRASE_BYTES)]
    WeakPassphrase(usize),
    /// The file could not be written: it exists, or its directory is
    /// missing or not writable.
    #[error("{0}")]
    Write(StoreError),
    /// The node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl BackupFailure {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            BackupFailure::RelativePath(_) => "bad_path",
            BackupFailure::WeakPassphrase(_) => "weak_passphrase",
            BackupFailure::Write(StoreError::Backup { code, .. }) => code,
            BackupFailure::Write(_) => "io",
            BackupFailure::Node(e) => e.code(),
        }
    }

    /// The kind, which gives the HTTP status.
    pub fn kind(&self) -> Kind {
        match self {
            BackupFailure::RelativePath(_) | BackupFailure::WeakPassphrase(_) => Kind::BadInput,
            BackupFailure::Write(StoreError::Backup { .. }) => Kind::Conflict,
            BackupFailure::Write(_) => Kind::Fault,
            BackupFailure::Node(e) => e.kind(),
        }
    }
}

api_failure!(BackupFailure);
