//! A small async client of the control API, over the Unix socket. The CLI
//! uses it; every method is one HTTP request on a fresh connection.

use crate::api::SOCKET_FILE;
use crate::api_types::SendRequest as MessageRequest;
use crate::api_types::{
    AckRequest, DirectoryView, ErrorBody, HistoryItem, MessageQuery, MessageSummary, MessageView, NodeEvent,
    OutboxItem, PeerView, PublishRequest, RecordEntry, SendResponse, StateView, StatusView, SubmitRequest,
    SubmitResponse,
};
use hotline_core::{CaseId, DirectoryObject, MessageId, RecordDraft, Role, StateCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
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

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        let (status, bytes) = self.exchange(method, path, body).await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(format!("{path}: {e}")));
        }
        Err(error_answer(status, &bytes, path))
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

    fn json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ClientError> {
        serde_json::to_vec(value).map_err(|e| ClientError::Protocol(format!("cannot encode the request: {e}")))
    }

    /// `GET /v1/status`.
    pub async fn status(&self) -> Result<StatusView, ClientError> {
        self.call(Method::GET, "/v1/status", None).await
    }

    /// `GET /v1/peers`.
    pub async fn peers(&self) -> Result<Vec<PeerView>, ClientError> {
        self.call(Method::GET, "/v1/peers", None).await
    }

    /// `GET /v1/liveness`: every member node's liveness.
    pub async fn liveness(&self) -> Result<Vec<crate::api_types::LivenessView>, ClientError> {
        self.call(Method::GET, "/v1/liveness", None).await
    }

    /// `GET /v1/directory`.
    pub async fn directory(&self) -> Result<DirectoryView, ClientError> {
        self.call(Method::GET, "/v1/directory", None).await
    }

    /// `GET /v1/directory/{state}`.
    pub async fn state(&self, state: StateCode) -> Result<StateView, ClientError> {
        self.call(Method::GET, &format!("/v1/directory/{state}"), None).await
    }

    /// `GET /v1/directory/{state}/{role}`.
    pub async fn record(&self, state: StateCode, role: &Role) -> Result<RecordEntry, ClientError> {
        self.call(Method::GET, &format!("/v1/directory/{state}/{role}"), None).await
    }

    /// `GET /v1/directory/{state}/{role}/history`.
    pub async fn history(&self, state: StateCode, role: &Role) -> Result<Vec<HistoryItem>, ClientError> {
        self.call(Method::GET, &format!("/v1/directory/{state}/{role}/history"), None).await
    }

    /// `POST /v1/records`: sign, store and publish the next version of this
    /// node's state's record for `draft.role`. `validity_days: None` takes
    /// the longest validity the charter allows.
    pub async fn publish_record(
        &self,
        draft: &RecordDraft,
        validity_days: Option<u64>,
    ) -> Result<RecordEntry, ClientError> {
        let body = Self::json(&PublishRequest { draft: draft.clone(), validity_days })?;
        self.call(Method::POST, "/v1/records", Some(body)).await
    }

    /// `POST /v1/objects`: hand the daemon a signed object (an admission, a
    /// revocation) made elsewhere.
    pub async fn submit_object(&self, object: &DirectoryObject) -> Result<SubmitResponse, ClientError> {
        let object_hex = hex::encode(object.to_bytes());
        let body = Self::json(&SubmitRequest { object_hex })?;
        self.call(Method::POST, "/v1/objects", Some(body)).await
    }

    /// `POST /v1/messages`: writes and queues a message.
    pub async fn send_message(&self, request: &MessageRequest) -> Result<SendResponse, ClientError> {
        self.call(Method::POST, "/v1/messages", Some(Self::json(request)?)).await
    }

    /// `GET /v1/messages`.
    pub async fn messages(&self, query: &MessageQuery) -> Result<Vec<MessageSummary>, ClientError> {
        let mut path = format!("/v1/messages?box={}", query.r#box.as_deref().unwrap_or("inbox"));
        if query.unread {
            path.push_str("&unread=true");
        }
        if let Some(case) = query.case {
            path.push_str(&format!("&case={case}"));
        }
        if let Some(limit) = query.limit {
            path.push_str(&format!("&limit={limit}"));
        }
        if let Some(before) = &query.before {
            path.push_str(&format!("&before={before}"));
        }
        self.call(Method::GET, &path, None).await
    }

    /// `GET /v1/ids?prefix=HEX`. `prefix` must be hex digits.
    pub async fn ids_with_prefix(&self, prefix: &str) -> Result<crate::api_types::IdMatches, ClientError> {
        self.call(Method::GET, &format!("/v1/ids?prefix={prefix}"), None).await
    }

    /// `GET /v1/messages/{id}`; `mark_read` marks a received message read.
    pub async fn message(&self, id: MessageId, mark_read: bool) -> Result<MessageView, ClientError> {
        self.call(Method::GET, &format!("/v1/messages/{id}?mark_read={mark_read}"), None).await
    }

    /// `GET /v1/messages/{id}/wait`: the message once every recipient node
    /// receipted it, or as it stands after `timeout_secs`.
    pub async fn wait_delivered(&self, id: MessageId, timeout_secs: u64) -> Result<MessageView, ClientError> {
        self.call(Method::GET, &format!("/v1/messages/{id}/wait?timeout_secs={timeout_secs}"), None).await
    }

    /// `POST /v1/messages/{id}/ack`.
    pub async fn ack(&self, id: MessageId, request: &AckRequest) -> Result<SendResponse, ClientError> {
        self.call(Method::POST, &format!("/v1/messages/{id}/ack"), Some(Self::json(request)?)).await
    }

    /// `GET /v1/cases/{id}`.
    pub async fn thread(&self, case: CaseId) -> Result<Vec<MessageView>, ClientError> {
        self.call(Method::GET, &format!("/v1/cases/{case}"), None).await
    }

    /// `POST /v1/comchecks`: starts a communication check.
    pub async fn comcheck_start(
        &self,
        request: &crate::api_types::ComcheckStartRequest,
    ) -> Result<crate::api_types::ComcheckView, ClientError> {
        self.call(Method::POST, "/v1/comchecks", Some(Self::json(request)?)).await
    }

    /// `POST /v1/comchecks/schedules`: a periodic, unannounced check.
    pub async fn comcheck_schedule(
        &self,
        request: &crate::api_types::ComcheckScheduleRequest,
    ) -> Result<crate::api_types::ComcheckScheduleView, ClientError> {
        self.call(Method::POST, "/v1/comchecks/schedules", Some(Self::json(request)?)).await
    }

    /// `GET /v1/comchecks/schedules`.
    pub async fn comcheck_schedules(&self) -> Result<Vec<crate::api_types::ComcheckScheduleView>, ClientError> {
        self.call(Method::GET, "/v1/comchecks/schedules", None).await
    }

    /// `DELETE /v1/comchecks/schedules/{id}`.
    pub async fn comcheck_unschedule(&self, id: CaseId) -> Result<(), ClientError> {
        let _: serde_json::Value = self.call(Method::DELETE, &format!("/v1/comchecks/schedules/{id}"), None).await?;
        Ok(())
    }

    /// `GET /v1/comchecks`.
    pub async fn comcheck_list(&self) -> Result<Vec<crate::api_types::ComcheckView>, ClientError> {
        self.call(Method::GET, "/v1/comchecks", None).await
    }

    /// `GET /v1/comchecks/{id}`.
    pub async fn comcheck_status(&self, id: CaseId) -> Result<crate::api_types::ComcheckView, ClientError> {
        self.call(Method::GET, &format!("/v1/comchecks/{id}"), None).await
    }

    /// `POST /v1/comchecks/{id}/report`: the signed report (after the deadline).
    pub async fn comcheck_report(&self, id: CaseId) -> Result<crate::api_types::ComcheckReportView, ClientError> {
        self.call(Method::POST, &format!("/v1/comchecks/{id}/report"), Some(b"{}".to_vec())).await
    }

    /// `POST /v1/comchecks/{id}/answer`: answers a challenge received.
    pub async fn comcheck_answer(
        &self,
        id: CaseId,
        request: &crate::api_types::ComcheckAnswerRequest,
    ) -> Result<SendResponse, ClientError> {
        self.call(Method::POST, &format!("/v1/comchecks/{id}/answer"), Some(Self::json(request)?)).await
    }

    /// `GET /v1/outbox`.
    pub async fn outbox(&self) -> Result<Vec<OutboxItem>, ClientError> {
        self.call(Method::GET, "/v1/outbox", None).await
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
