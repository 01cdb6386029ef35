//! The one error type of this crate.

use std::io;
use std::path::{Path, PathBuf};

/// Why a storage operation failed. Every message is one line that names the
/// file concerned and, where there is one, what the operator can do about it.
///
/// Underlying errors are rendered into the message rather than exposed as a
/// `source()`, so that printing the error chain does not repeat them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The data directory holds no store.
    #[error("no Hotline store in {}: run `hotline init` first", .dir.display())]
    NotInitialized {
        /// The data directory.
        dir: PathBuf,
    },
    /// [`crate::Store::create`] found a store already there.
    #[error("a Hotline store already exists at {}; refusing to overwrite it", .path.display())]
    AlreadyExists {
        /// The database file.
        path: PathBuf,
    },
    /// The file is a redb database, but not one this program wrote.
    #[error("{} is a database of some other program, not a Hotline store", .path.display())]
    Foreign {
        /// The database file.
        path: PathBuf,
    },
    /// The file is not a database at all, or it is damaged.
    #[error("{} is corrupt or not a database: {detail}", .path.display())]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The store was written by a newer version of Hotline.
    #[error(
        "{} has store schema version {found}, but this build reads only up to version {supported}: upgrade hotline",
        .path.display()
    )]
    UnsupportedSchema {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A backup file that cannot be read, or written.
    #[error("backup {}: {detail}", .path.display())]
    Backup {
        /// The backup file.
        path: PathBuf,
        /// The stable code of what is wrong (`wrong_passphrase`,
        /// `tampered`, `truncated`, `malformed`, …).
        code: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The state key file is missing from a node that was created with one.
    #[error(
        "{} is missing: this node was created with a state key (`hotline init`); put the key file back (from a backup), or, if this node is to hold none, run it as an added node (`hotline node add`)",
        .path.display()
    )]
    KeyFileMissing {
        /// Where the state key should be.
        path: PathBuf,
    },
    /// The node holds no state key: it was added with `hotline node add`.
    #[error(
        "this node holds no state key ({} is absent: it was added with `hotline node add`); sign for the state on the node or machine that holds the state key",
        .path.display()
    )]
    NoStateKey {
        /// Where the state key would be.
        path: PathBuf,
    },
    /// Another process holds the database open.
    #[error("{} is in use by another process (is a hotline daemon already running?)", .path.display())]
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// The charter given to [`crate::Store::create`] does not verify.
    #[error("the charter does not verify: {0}")]
    InvalidCharter(hotline_core::CharterError),
    /// A file-system operation failed.
    #[error("cannot {action} {}: {error}", .path.display())]
    Io {
        /// What was being done, as a verb phrase ("create directory", "read").
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        error: io::Error,
    },
    /// The database engine failed in a way that is neither corruption nor a
    /// foreign file (an I/O error mid-commit, a full disk…).
    #[error("database {} failed while {action}: {detail}", .path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// What was being done, as a gerund phrase ("writing a batch").
        action: &'static str,
        /// The engine's description.
        detail: String,
    },
    /// A secret key file is readable or writable by group or others.
    #[error(
        "key file {} is accessible by group or others (mode {mode:03o}); run `chmod 600 {}`",
        .path.display(), .path.display()
    )]
    KeyFilePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A secret key file does not have the expected format. The reason never
    /// quotes the file's content, which may be secret.
    #[error("key file {} is malformed: {reason}", .path.display())]
    KeyFileMalformed {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// A key file already exists where a new key was to be written.
    #[error("key file {} already exists; refusing to overwrite a key", .path.display())]
    KeyFileExists {
        /// The key file.
        path: PathBuf,
    },
    /// A write named an evidence leaf's index in advance (a receipt names
    /// it), and the log ends elsewhere: an earlier write failed. Nothing of
    /// this write was stored; the node guesses again and its sender retries.
    #[error("an evidence leaf expected at index {expected} would land at {size}: an earlier write failed")]
    EvidenceOutOfPlace {
        /// The index the write named.
        expected: u64,
        /// Where the log ends.
        size: u64,
    },
    /// The operating system's random number generator failed.
    #[error("cannot generate a key: the system random number generator failed: {0}")]
    Random(String),
    /// A configuration file is unreadable or invalid.
    #[error("config file {}: {detail}", .path.display())]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong, with a line and column where there is one.
        detail: String,
    },
    /// The [`crate::GroupCommitter`] thread has stopped, so the batch was not
    /// written.
    #[error("the store's commit thread has stopped; the batch was not written")]
    CommitterStopped,
}

impl StoreError {
    /// Shorthand for [`StoreError::Io`].
    pub(crate) fn io(action: &'static str, path: &Path, error: io::Error) -> StoreError {
        StoreError::Io { action, path: path.to_path_buf(), error }
    }
}

/// Classifies a redb failure. Errors that mean "this file is not ours" or
/// "this file is damaged" get their own variants so that callers and
/// operators can tell them apart; the rest keep the engine's wording.
pub(crate) fn from_redb(path: &Path, action: &'static str, error: impl Into<redb::Error>) -> StoreError {
    let path = path.to_path_buf();
    match error.into() {
        redb::Error::DatabaseAlreadyOpen => StoreError::Locked { path },
        redb::Error::Corrupted(detail) => StoreError::Corrupt { path, detail },
        redb::Error::UpgradeRequired(version) => StoreError::Corrupt {
            path,
            detail: format!("redb file format version {version} is not one this build reads"),
        },
        redb::Error::TableTypeMismatch { .. }
        | redb::Error::TableIsMultimap(_)
        | redb::Error::TableIsNotMultimap(_) => StoreError::Foreign { path },
        other => StoreError::Database { path, action, detail: other.to_string() },
    }
}
