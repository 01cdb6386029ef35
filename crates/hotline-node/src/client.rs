//! A small async client of the control API, over the Unix socket. The CLI
//! uses it; every call is one HTTP request on a fresh connection.
//!
//! [`Client::call`] calls any endpoint of [`crate::endpoints`], as the
//! endpoint defines it: `client.call(GetRecord { state, role })`. Only the
//! three routes that do not answer one JSON value have methods of their
//! own: [`Client::health`], [`Client::metrics`] and [`Client::events`].

use crate::api::SOCKET_FILE;
use crate::api_types::{ErrorBody, NodeEvent};
use crate::endpoints::{Endpoint, Verb};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use std::io;
use std::path::{Path, PathBuf};
use thiserror::Error;
use tokio::net::UnixStream;

/// Largest answer the client reads; a directory of 193 states is a few MiB.
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// Largest single server-sent event.
const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// Why a call to the daemon failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// Nothing listens on the socket: the daemon is not running.
    #[error("the hotline daemon is not running (no control socket answers at {}); start it with `hotline daemon`", .socket.display())]
    DaemonNotRunning {
        /// The socket tried.
        socket: PathBuf,
    },
    /// The socket exists but this user may not use it.
    #[error("permission denied on {}: run this command as the user the daemon runs as", .socket.display())]
    PermissionDenied {
        /// The socket.
        socket: PathBuf,
    },
    /// The daemon answered with an error.
    #[error("{message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The stable error code (`invalid_field`, `not_found`, …).
        code: String,
        /// The daemon's one-line message.
        message: String,
    },
    /// The connection failed midway.
    #[error("talking to the daemon on {}: {detail}", .socket.display())]
    Transport {
        /// The socket.
        socket: PathBuf,
        /// What failed.
        detail: String,
    },
    /// The daemon's answer is not what this client expects (version skew?).
    #[error("unexpected answer from the daemon: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The daemon's error code, for [`ClientError::Api`].
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A client of one daemon's control socket.
#[derive(Clone, Debug)]
pub struct Client {
    socket: PathBuf,
}

/// The error a non-success answer carries: the API's code and message,
/// or the bare HTTP status when the body is not an API error.
fn error_answer(status: hyper::StatusCode, bytes: &[u8], path: &str) -> ClientError {
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(body) => ClientError::Api { status: status.as_u16(), code: body.error.code, message: body.error.message },
        Err(_) => ClientError::Api {
            status: status.as_u16(),
            code: "http_error".into(),
            message: format!("HTTP {status} from {path}"),
        },
    }
}

impl Client {
    /// A client of the daemon whose socket is `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> Client {
        Client { socket: socket.into() }
    }

    /// A client of the daemon of the node in `data_dir` (`DATA/hotline.sock`).
    pub fn for_data_dir(data_dir: &Path) -> Client {
        Client::new(data_dir.join(SOCKET_FILE))
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn transport(&self, e: impl std::fmt::Display) -> ClientError {
        ClientError::Transport { socket: self.socket.clone(), detail: e.to_string() }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let stream = UnixStream::connect(&self.socket).await.map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                ClientError::DaemonNotRunning { socket: self.socket.clone() }
            }
            io::ErrorKind::PermissionDenied => ClientError::PermissionDenied { socket: self.socket.clone() },
            _ => self.transport(e),
        })?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await.map_err(|e| self.transport(e))?;
        // The connection is driven by its own task; it ends when the
        // request's answer is read and the sender is dropped.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(SendRequest<Full<Bytes>>, Response<Incoming>), ClientError> {
        let mut sender = self.connect().await?;
        let mut request = Request::builder().method(method).uri(path).header(HOST, "localhost");
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::Protocol(format!("cannot build the request: {e}")))?;
        let response = sender.send_request(request).await.map_err(|e| self.transport(e))?;
        Ok((sender, response))
    }

    /// One request; the status and the body, at most [`MAX_RESPONSE_BYTES`].
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(hyper::StatusCode, Bytes), ClientError> {
        let (_sender, response) = self.send(method, path, body).await?;
        let status = response.status();
        let bytes = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| self.transport(e))?
            .to_bytes();
        Ok((status, bytes))
    }

    /// Calls endpoint `request` and reads its answer.
    pub async fn call<E: Endpoint>(&self, request: E) -> Result<E::Answer, ClientError> {
        let method = match E::VERB {
            Verb::Get => Method::GET,
            Verb::Post => Method::POST,
            Verb::Delete => Method::DELETE,
        };
        let body =
            request.body().transpose().map_err(|e| ClientError::Protocol(format!("cannot encode the request: {e}")))?;
        let uri = request.uri();
        let (status, bytes) = self.exchange(method, &uri, body).await?;
        if status.is_success() {
            return E::decode(&bytes).map_err(|e| ClientError::Protocol(format!("{}: {e}", E::ROUTE)));
        }
        Err(error_answer(status, &bytes, &uri))
    }

    /// `GET /health`: the node's health, whether it answered 200 or 503
    /// (the body is the same view either way).
    pub async fn health(&self) -> Result<crate::api_types::HealthView, ClientError> {
        let (status, bytes) = self.exchange(Method::GET, "/health", None).await?;
        if let Ok(view) = serde_json::from_slice::<crate::api_types::HealthView>(&bytes) {
            return Ok(view);
        }
        Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => {
                ClientError::Api { status: status.as_u16(), code: body.error.code, message: body.error.message }
            }
            Err(e) => ClientError::Protocol(format!("/health: {e}")),
        })
    }

    /// `GET /metrics`: the node's Prometheus metrics, as OpenMetrics text.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let (status, bytes) = self.exchange(Method::GET, "/metrics", None).await?;
        if status.is_success() {
            return String::from_utf8(bytes.to_vec()).map_err(|e| ClientError::Protocol(format!("/metrics: {e}")));
        }
        Err(error_answer(status, &bytes, "/metrics"))
    }

    /// `GET /v1/events`: the live event stream. Events are delivered from
    /// the moment this returns.
    pub async fn events(&self) -> Result<EventStream, ClientError> {
        let (sender, response) = self.send(Method::GET, "/v1/events", None).await?;
        if !response.status().is_success() {
            return Err(ClientError::Protocol(format!("/v1/events answered HTTP {}", response.status())));
        }
        let is_sse = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !is_sse {
            return Err(ClientError::Protocol("/v1/events did not answer with an event stream".into()));
        }
        Ok(EventStream { body: response.into_body(), buffer: Vec::new(), _sender: sender, socket: self.socket.clone() })
    }
}

/// Server-sent events from the daemon. Read them with [`EventStream::next`].
pub struct EventStream {
    body: Incoming,
    buffer: Vec<u8>,
    // Kept so the connection stays open while the stream is read.
    _sender: SendRequest<Full<Bytes>>,
    socket: PathBuf,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EventStream({})", self.socket.display())
    }
}

impl EventStream {
    /// The next event; `None` when the daemon closed the stream (it stopped).
    pub async fn next(&mut self) -> Option<Result<NodeEvent, ClientError>> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                match parse_block(&block) {
                    Some(Ok(event)) => return Some(Ok(event)),
                    Some(Err(e)) => return Some(Err(e)),
                    // A comment or keep-alive.
                    None => continue,
                }
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                        if self.buffer.len() > MAX_EVENT_BYTES {
                            return Some(Err(ClientError::Protocol("an event is larger than 1 MiB".into())));
                        }
                    }
                }
                Some(Err(e)) => {
                    return Some(Err(ClientError::Transport { socket: self.socket.clone(), detail: e.to_string() }));
                }
                None => return None,
            }
        }
    }
}

/// One SSE block: `None` if it carries no data (a comment).
fn parse_block(block: &[u8]) -> Option<Result<NodeEvent, ClientError>> {
    let text = String::from_utf8_lossy(block);
    let data: Vec<&str> =
        text.lines().filter_map(|line| line.strip_prefix("data:")).map(|d| d.strip_prefix(' ').unwrap_or(d)).collect();
    if data.is_empty() {
        return None;
    }
    Some(serde_json::from_str(&data.join("\n")).map_err(|e| ClientError::Protocol(format!("an event: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_blocks_parse_and_comments_are_skipped() {
        assert!(parse_block(b": hotline events\n\n").is_none());
        let block = b"event: peer_disconnected\ndata: {\"type\":\"peer_disconnected\",\"peer\":\"x\"}\n\n";
        match parse_block(block) {
            Some(Ok(NodeEvent::PeerDisconnected { peer })) => assert_eq!(peer, "x"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse_block(b"data: {nope\n\n"), Some(Err(ClientError::Protocol(_)))));
    }
}
