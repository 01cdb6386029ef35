//! `GET /metrics` on a TCP address (`metrics_listen`), and nothing else,
//! for a Prometheus server that cannot reach the control socket.
//!
//! Unlike the control socket (owner-only), a TCP port can be reached by
//! whoever is on its network, so it is bounded: at most
//! [`MAX_CONNECTIONS`] at once (the next wait to be accepted), each closed
//! after [`CONNECTION_LIFETIME`] whatever it is doing (a client that
//! trickles its headers holds a slot that long, no longer), and scrapes
//! are answered from a copy at most a second old (see
//! `NodeHandle::metrics_text`), so no rate of requests reaches the node's
//! actor more than once a second.

use crate::api::{ApiError, STOP_GRACE, method_not_allowed, metrics_response, not_found};
use crate::handle::NodeHandle;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// Most connections to the metrics address at once.
pub(crate) const MAX_CONNECTIONS: usize = 16;
/// How long one connection may live.
pub(crate) const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);

/// The running metrics endpoint.
pub(crate) struct MetricsServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl MetricsServer {
    /// Serves `GET /metrics` for `node` on `listener` until stopped.
    pub(crate) fn start(listener: TcpListener, node: NodeHandle) -> io::Result<MetricsServer> {
        let addr = listener.local_addr()?;
        let (stop, mut stop_rx) = watch::channel(false);
        let app = Router::new()
            .route("/metrics", get(metrics))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .with_state(node);
        let capped = CappedListener { inner: listener, slots: Arc::new(Semaphore::new(MAX_CONNECTIONS)) };
        let task = tokio::spawn(async move {
            info!(%addr, "metrics listening");
            let serving = axum::serve(capped, app).with_graceful_shutdown(async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            });
            if let Err(e) = serving.await {
                warn!(error = %e, "metrics endpoint stopped with an error");
            }
        });
        Ok(MetricsServer { addr, stop, task })
    }

    /// The address it listens on (port 0 resolved).
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Asks the server to stop without waiting.
    pub(crate) fn signal_stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops taking requests and lets open ones finish (at most a grace
    /// period).
    pub(crate) async fn stop(self) {
        self.signal_stop();
        let MetricsServer { mut task, .. } = self;
        if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
            task.abort();
        }
    }
}

async fn metrics(State(node): State<NodeHandle>) -> Result<Response, ApiError> {
    Ok(metrics_response(&node).await?)
}

/// A TCP listener that accepts a connection only when one of its slots is
/// free; the slot goes with the connection.
struct CappedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
}

impl axum::serve::Listener for CappedListener {
    type Io = CappedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (CappedStream, SocketAddr) {
        // The semaphore is never closed, so acquiring only waits.
        let slot = Arc::clone(&self.slots).acquire_owned().await;
        let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        let deadline = Box::pin(tokio::time::sleep(CONNECTION_LIFETIME));
        (CappedStream { stream, deadline, _slot: slot.ok() }, addr)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection holding its slot, closed at its deadline.
struct CappedStream {
    stream: TcpStream,
    deadline: Pin<Box<tokio::time::Sleep>>,
    _slot: Option<OwnedSemaphorePermit>,
}

impl CappedStream {
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn lifetime_over() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "metrics connection open too long")
}

impl AsyncRead for CappedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.expired(cx) {
            return Poll::Ready(Err(lifetime_over()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for CappedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.expired(cx) {
            return Poll::Ready(Err(lifetime_over()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
