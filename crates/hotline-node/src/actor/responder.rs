//! [`Responder`]: where an operation's answer goes once the node knows it.

use crate::error::NodeError;
use tokio::sync::oneshot;

/// The caller waiting for an operation that outlives its checks (a message
/// sealed off the actor and written, a record written). The checks answer
/// with the operation's own error at once; what can still fail afterwards
/// (sealing, the durable write) is a [`NodeError`], which the reply turns
/// into that error. So one write path serves every operation, and each
/// caller still gets its operation's error type.
pub(crate) struct Responder<T>(Box<dyn FnOnce(Result<T, NodeError>) + Send + Sync>);

impl<T: Send + 'static> Responder<T> {
    /// Answers on `channel`, a node failure as the operation's error `E`.
    pub(crate) fn to<E: From<NodeError> + Send + 'static>(channel: oneshot::Sender<Result<T, E>>) -> Responder<T> {
        Responder(Box::new(move |result| {
            // The caller may have gone (a client that hung up): nothing to do.
            let _ = channel.send(result.map_err(E::from));
        }))
    }

    /// Nobody waits (a report copy sent by the node itself).
    pub(crate) fn nobody() -> Responder<T> {
        Responder(Box::new(|_| {}))
    }

    /// Gives the answer.
    pub(crate) fn send(self, result: Result<T, NodeError>) {
        (self.0)(result)
    }
}
