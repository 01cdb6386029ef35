//! The errors this crate returns.

use crate::sync::ProtocolError;
use libp2p::{Multiaddr, PeerId};
use thiserror::Error;

/// Why a network operation failed.
#[derive(Debug, Error)]
pub enum NetError {
    /// [`crate::Network::spawn`] was called outside a tokio runtime.
    #[error("the network must be started from inside a tokio runtime")]
    NoRuntime,
    /// The node's secret seed is not a usable Ed25519 key.
    #[error("the node key is not a valid Ed25519 key: {0}")]
    BadKey(String),
    /// A `NodeId` is not a valid Ed25519 public key, so it has no peer id.
    #[error("node id {0} is not a valid Ed25519 public key")]
    BadNodeId(String),
    /// Building the transports or the behaviours failed.
    #[error("cannot set up the network: {0}")]
    Setup(String),
    /// A listen address is unsupported or could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// What went wrong.
        reason: String,
    },
    /// A dial could not be started.
    #[error("cannot dial {target}: {reason}")]
    Dial {
        /// The address or peer dialled.
        target: String,
        /// What went wrong.
        reason: String,
    },
    /// The peer is on the block list, or is a stranger whose grace window
    /// expired and who is cooling down.
    #[error("peer {0} is blocked")]
    Blocked(PeerId),
    /// A sync request failed: no connection, timeout, protocol error, or the
    /// remote answered with a frame we refused.
    #[error("sync request to {peer} failed: {reason}")]
    Sync {
        /// The peer asked.
        peer: PeerId,
        /// What went wrong.
        reason: String,
    },
    /// A deliver request failed: the peer could not be dialled or found, no
    /// connection, timeout, protocol error, or the remote dropped the request
    /// unanswered (it was busy) or answered with a frame we refused. A
    /// refusal by the receiver is not an error: it is
    /// [`crate::DeliverResponse::Refused`].
    #[error("deliver request to {peer} failed: {reason}")]
    Deliver {
        /// The peer the envelope was for.
        peer: PeerId,
        /// What went wrong.
        reason: String,
    },
    /// A message or frame breaks the sync or deliver protocol's bounds.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// Gossip publishing failed for a reason other than a small mesh.
    #[error("cannot publish on the directory topic: {0}")]
    Publish(String),
    /// The network task has stopped (after `shutdown`, or because it failed).
    #[error("the network task has stopped")]
    Stopped,
}

/// An error and its sources as one line (`outer: inner: …`). libp2p's
/// `TransportError::Other` prints nothing itself and keeps the operating
/// system's reason ("Address already in use") in its source.
pub(crate) fn describe_chain(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && parts.last() != Some(&text) {
            parts.push(text);
        }
        next = e.source();
    }
    if parts.is_empty() { "unknown error".to_string() } else { parts.join(": ") }
}

#[cfg(test)]
mod tests {
    use super::describe_chain;

    #[derive(Debug)]
    struct Silent(std::io::Error);
    impl std::fmt::Display for Silent {
        fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            Ok(())
        }
    }
    impl std::error::Error for Silent {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn an_empty_outer_error_shows_its_cause() {
        let e = Silent(std::io::Error::from(std::io::ErrorKind::AddrInUse));
        assert_eq!(describe_chain(&e), "address in use");
    }
}
