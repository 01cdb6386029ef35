//! The node's error type.

use hotline_core::Rejection;
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
    /// The directory refused an object this request made or carried.
    #[error("{0}")]
    Rejected(Rejection),
    /// The request itself is malformed.
    #[error("{message}")]
    BadRequest {
        /// A stable code (`bad_state`, `bad_role`, `bad_object`, …).
        code: &'static str,
        /// What is wrong.
        message: String,
    },
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
    /// This node's state has no admission in force, so it cannot sign records.
    #[error("state {state} has no admission in force in this node's directory: import its admission first")]
    NotAdmitted {
        /// The node's state.
        state: String,
    },
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
            NodeError::Io { .. } => "io",
            NodeError::DataDirPermissions { .. } => "data_dir_permissions",
            NodeError::NoListenAddress { .. } => "no_listen_address",
            NodeError::Logging(_) => "logging",
            NodeError::Rejected(r) => r.code(),
            NodeError::BadRequest { code, .. } | NodeError::Internal { code, .. } => code,
            NodeError::NotFound(_) => "not_found",
            NodeError::NotAdmitted { .. } => "not_admitted",
            NodeError::StoreFailed(_) => "store_failed",
            NodeError::Stopped => "shutting_down",
            NodeError::Terminated(_) => "terminated",
        }
    }

    pub(crate) fn io(action: &'static str, path: &std::path::Path, error: io::Error) -> NodeError {
        NodeError::Io { action, path: path.to_path_buf(), error }
    }
}
