//! The node's errors.
//!
//! [`NodeError`] is what can go wrong with the node itself: starting it, its
//! store, its network, a fault of its own, or a name that holds nothing.
//! Each operation of the control API that can refuse a request for reasons
//! of its own has an enum of its own, one file per feature (messaging,
//! comchecks, directory): every variant has its
//! stable code, and the HTTP status follows from the variant's [`Kind`],
//! never chosen call by call. Each also has a `Node` variant for the
//! failures every operation shares.

mod backup;
mod comchecks;
mod directory;
mod messaging;
pub use backup::BackupFailure;
pub use comchecks::{AnswerError, ReportError, ScheduleError, StartError};
pub use directory::{PublishError, RevokeError, SubmitError, WithdrawError};
pub use messaging::{AckError, CancelError, QueryError, SendError};

use hotline_net::NetError;
use hotline_store::StoreError;
use std::io;
use std::path::PathBuf;
use thiserror::Error;

/// Why starting the node, or a request to it, failed. Every message is one
/// line; [`NodeError::code`] gives a stable machine-readable code, which the
/// control API puts in its error bodies.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The store could not be opened, read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The network could not be started, or failed.
    #[error(transparent)]
    Net(#[from] NetError),
    /// A configuration value is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// The config names another state than the store was created for.
    #[error("the configuration is for state {config} but the store in this data directory belongs to {store}")]
    StateMismatch {
        /// State in the config.
        config: String,
        /// State of the store.
        store: String,
    },
    /// Another daemon answers on the control socket.
    #[error("a hotline daemon is already running on {} (stop it first)", .socket.display())]
    AlreadyRunning {
        /// The socket.
        socket: PathBuf,
    },
    /// A node key change (`hotline node rotate-key`, `node replace`) was
    /// cut short: the next key waits beside the node key.
    #[error(
        "{} exists: a change of node key was cut short; run `hotline node rotate-key` again to finish it",
        .path.display()
    )]
    KeyChangeUnfinished {
        /// The waiting next node key.
        path: PathBuf,
    },
    /// The node of this data directory moved elsewhere (`hotline node
    /// replace`); its keys were set aside.
    #[error(
        "this node moved to another data directory (hotline node replace): its keys are set aside in {}; do not start it again, and wipe this disk",
        .path.display()
    )]
    Moved {
        /// Where the keys were set aside.
        path: PathBuf,
    },
    /// A file-system operation failed.
    #[error("cannot {action} {}: {error}", .path.display())]
    Io {
        /// What was being done ("bind the control socket").
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        error: io::Error,
    },
    /// The data directory is open to other users: the daemon will not run
    /// from it, as it will not read a key file with such a mode.
    #[error(
        "the data directory {} is accessible by group or others (mode {mode:03o}); run `chmod 700 {}`",
        .dir.display(),
        .dir.display()
    )]
    DataDirPermissions {
        /// The data directory.
        dir: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// No listener came up, so no peer could ever reach this node.
    #[error("the network did not report any listen address within {secs} s")]
    NoListenAddress {
        /// How long we waited.
        secs: u64,
    },
    /// Logging could not be set up.
    #[error("cannot set up logging: {0}")]
    Logging(String),
    /// The node failed at something that does not depend on the request
    /// (the random generator, sealing): a server fault, answered with 500.
    #[error("{message}")]
    Internal {
        /// A stable code (`random_failed`, `seal_failed`).
        code: &'static str,
        /// What failed.
        message: String,
    },
    /// Nothing is held under that name.
    #[error("{0}")]
    NotFound(String),
    /// A durable write failed, so the change was not confirmed.
    #[error("the change could not be written durably: {0}")]
    StoreFailed(String),
    /// The node is shutting down or has stopped.
    #[error("the node is shutting down")]
    Stopped,
    /// The node stopped without being asked to.
    #[error("the node stopped unexpectedly: {0}")]
    Terminated(String),
}

impl NodeError {
    /// A stable machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            NodeError::Store(_) => "store",
            NodeError::Net(_) => "network",
            NodeError::Config(_) => "config",
            NodeError::StateMismatch { .. } => "state_mismatch",
            NodeError::AlreadyRunning { .. } => "already_running",
            NodeError::KeyChangeUnfinished { .. } => "key_change_unfinished",
            NodeError::Moved { .. } => "node_moved",
            NodeError::Io { .. } => "io",
            NodeError::DataDirPermissions { .. } => "data_dir_permissions",
            NodeError::NoListenAddress { .. } => "no_listen_address",
            NodeError::Logging(_) => "logging",
            NodeError::Internal { code, .. } => code,
            NodeError::NotFound(_) => "not_found",
            NodeError::StoreFailed(_) => "store_failed",
            NodeError::Stopped => "shutting_down",
            NodeError::Terminated(_) => "terminated",
        }
    }

    /// The kind of failure, which decides the control API's status.
    pub fn kind(&self) -> Kind {
        match self {
            NodeError::NotFound(_) => Kind::NotFound,
            NodeError::StoreFailed(_) | NodeError::Stopped | NodeError::Terminated(_) => Kind::Unavailable,
            // Every variant named: a new one must choose its kind.
            NodeError::Internal { .. }
            | NodeError::Store(_)
            | NodeError::Net(_)
            | NodeError::Config(_)
            | NodeError::StateMismatch { .. }
            | NodeError::AlreadyRunning { .. }
            | NodeError::KeyChangeUnfinished { .. }
            | NodeError::Moved { .. }
            | NodeError::Io { .. }
            | NodeError::DataDirPermissions { .. }
            | NodeError::NoListenAddress { .. }
            | NodeError::Logging(_) => Kind::Fault,
        }
    }

    pub(crate) fn io(action: &'static str, path: &std::path::Path, error: io::Error) -> NodeError {
        NodeError::Io { action, path: path.to_path_buf(), error }
    }
}

/// What kind of failure an error of the control API is. The HTTP status
/// follows from it, so a server fault is never answered as bad input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The request cannot be done as asked (400).
    BadInput,
    /// It names something the node does not hold (404).
    NotFound,
    /// The node's state does not allow it now (409).
    Conflict,
    /// The node cannot do it now: stopping, or its store failing (503).
    Unavailable,
    /// The node failed at something that does not depend on the request (500).
    Fault,
}

impl Kind {
    /// The HTTP status of this kind of failure.
    pub fn http_status(self) -> u16 {
        match self {
            Kind::BadInput => 400,
            Kind::NotFound => 404,
            Kind::Conflict => 409,
            Kind::Unavailable => 503,
            Kind::Fault => 500,
        }
    }
}

/// An error the control API answers with: its stable code and its kind.
pub trait ApiFailure: std::error::Error + Send + 'static {
    /// The stable, machine-readable code.
    fn code(&self) -> &'static str;
    /// The kind, which gives the HTTP status.
    fn kind(&self) -> Kind;
}

impl ApiFailure for NodeError {
    fn code(&self) -> &'static str {
        NodeError::code(self)
    }

    fn kind(&self) -> Kind {
        NodeError::kind(self)
    }
}

/// Implements [`ApiFailure`] for an operation's error through its inherent
/// `code` and `kind`.
macro_rules! api_failure {
    ($($name:ty),*) => {
        $(impl $crate::error::ApiFailure for $name {
            fn code(&self) -> &'static str {
                <$name>::code(self)
            }

            fn kind(&self) -> $crate::error::Kind {
                <$name>::kind(self)
            }
        })*
    };
}
pub(crate) use api_failure;
