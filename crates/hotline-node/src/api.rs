//! The control API: HTTP/JSON on a Unix socket in the data directory.
//!
//! The socket (`DATA/hotline.sock`) is made owner-only (mode 0600) right
//! after it is bound, and the data directory itself is 0700, so only the
//! daemon's user can talk to it. Paths are versioned (`/v1/…`):
//!
//! | method | path                                      | answer |
//! |--------|-------------------------------------------|--------|
//! | GET    | `/v1/status`                              | [`StatusView`](crate::api_types::StatusView) |
//! | GET    | `/health`                                 | [`HealthView`](crate::api_types::HealthView): 200 healthy, 503 not |
//! | GET    | `/v1/peers`                               | `[PeerView]` |
//! | GET    | `/v1/liveness`                            | `[LivenessView]`, one per member node |
//! | GET    | `/v1/directory`                           | [`crate::api_types::DirectoryView`] |
//! | GET    | `/v1/directory/{state}`                   | [`crate::api_types::StateView`] |
//! | GET    | `/v1/directory/{state}/{role}`            | [`RecordEntry`](crate::api_types::RecordEntry) |
//! | GET    | `/v1/directory/{state}/{role}/history`    | `[HistoryItem]` |
//! | POST   | `/v1/records`                             | [`PublishRequest`] → 201 [`RecordEntry`](crate::api_types::RecordEntry) |
//! | POST   | `/v1/objects`                             | [`SubmitRequest`] → [`crate::api_types::SubmitResponse`] |
//! | POST   | `/v1/messages`                            | [`SendRequest`] → 201 [`crate::api_types::SendResponse`] |
//! | GET    | `/v1/messages?box=inbox\|sent\|all&unread=true&case=ID&limit=N&before=CURSOR` | `[MessageSummary]`, one page |
//! | GET    | `/v1/ids?prefix=HEX`                      | [`crate::api_types::IdMatches`] |
//! | GET    | `/v1/messages/{id}?mark_read=true`        | [`crate::api_types::MessageView`] |
//! | GET    | `/v1/messages/{id}/wait?timeout_secs=N`   | the view once delivered, or at the timeout |
//! | POST   | `/v1/messages/{id}/ack`                   | [`AckRequest`] → 201 [`crate::api_types::SendResponse`] |
//! | GET    | `/v1/cases/{id}`                          | `[MessageView]`, oldest first |
//! | GET    | `/v1/outbox`                              | `[OutboxItem]` |
//! | POST   | `/v1/comchecks`                           | [`ComcheckStartRequest`] → 201 [`crate::api_types::ComcheckView`] |
//! | GET    | `/v1/comchecks`                           | `[ComcheckView]` |
//! | GET    | `/v1/comchecks/{id}`                      | [`crate::api_types::ComcheckView`] |
//! | POST   | `/v1/comchecks/schedules`                 | [`crate::api_types::ComcheckScheduleRequest`] → 201 [`crate::api_types::ComcheckScheduleView`] |
//! | GET    | `/v1/comchecks/schedules`                 | `[ComcheckScheduleView]` |
//! | DELETE | `/v1/comchecks/schedules/{id}`            | `{"removed": "<id>"}` |
//! | POST   | `/v1/comchecks/{id}/report`               | [`crate::api_types::ComcheckReportView`] (after the deadline) |
//! | POST   | `/v1/comchecks/{id}/answer`               | [`ComcheckAnswerRequest`] → 201 [`crate::api_types::SendResponse`] |
//! | GET    | `/v1/events`                              | server-sent [`crate::api_types::NodeEvent`]s |
//!
//! Every error is `{"error": {"code": "...", "message": "..."}}` with a
//! stable code and a one-line message: 400 for bad input (the code is the
//! directory's rejection code when the directory refused the record, e.g.
//! `invalid_field`), 404 `not_found`, 405 `method_not_allowed`, 409
//! `not_admitted`, 415 `unsupported_media_type`, 503 `store_failed` or
//! `shutting_down`.

use crate::api_types::{
    AckRequest, ComcheckAnswerRequest, ComcheckStartRequest, ErrorBody, ErrorDetail, MessageQuery, PublishRequest,
    SendRequest, SubmitRequest,
};
use crate::error::NodeError;
use crate::handle::NodeHandle;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use hotline_core::{CaseId, DirectoryObject, MessageId, Role, StateCode};
use std::convert::Infallible;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// The control socket's file name inside the data directory.
pub const SOCKET_FILE: &str = "hotline.sock";

/// How long a stop waits for open requests (and event streams) to end.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(5);

/// Binds the control socket at `socket`, mode 0600.
///
/// A socket file left by a daemon that died is removed, but only after
/// checking that nothing answers on it: a running daemon's socket is never
/// taken over, and a file that is not a socket is never deleted.
pub(crate) async fn bind(socket: &Path) -> Result<UnixListener, NodeError> {
    match fs::symlink_metadata(socket) {
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(NodeError::io(
                "use as the control socket (it exists and is not a socket; remove it)",
                socket,
                io::Error::from(io::ErrorKind::AlreadyExists),
            ));
        }
        Ok(_) => match UnixStream::connect(socket).await {
            Ok(_) => return Err(NodeError::AlreadyRunning { socket: socket.to_path_buf() }),
            Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound) => {
                info!(socket = %socket.display(), "removing the stale control socket of a daemon that is gone");
                fs::remove_file(socket).map_err(|e| NodeError::io("remove the stale control socket", socket, e))?;
            }
            Err(e) => return Err(NodeError::io("probe the control socket", socket, e)),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(NodeError::io("inspect the control socket", socket, e)),
    }
    // The socket is created owner-only: a umask of 077 around `bind`, so it
    // never exists with a wider mode, even for an instant. The umask is
    // process-wide, and 077 only ever takes group and other bits away, so a
    // file another thread creates meanwhile is at worst more private.
    let umask = rustix::process::umask(rustix::fs::Mode::from_bits_truncate(0o077));
    let bound = UnixListener::bind(socket);
    rustix::process::umask(umask);
    let listener = bound.map_err(|e| NodeError::io("bind the control socket", socket, e))?;
    // And 0600 for good measure (a socket needs no execute bit).
    if let Err(e) = fs::set_permissions(socket, fs::Permissions::from_mode(0o600)) {
        let _ = fs::remove_file(socket);
        return Err(NodeError::io("restrict the control socket to its owner", socket, e));
    }
    Ok(listener)
}

/// The running API server.
pub(crate) struct ApiServer {
    socket: PathBuf,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

#[derive(Clone)]
struct ApiState {
    node: NodeHandle,
    stop: watch::Receiver<bool>,
}

impl ApiServer {
    /// Serves the API for `node` on `listener` until stopped.
    pub(crate) fn start(listener: UnixListener, socket: PathBuf, node: NodeHandle) -> ApiServer {
        let (stop, stop_rx) = watch::channel(false);
        let app = router(ApiState { node, stop: stop_rx.clone() });
        let mut shutdown = stop_rx;
        let path = socket.clone();
        let task = tokio::spawn(async move {
            info!(socket = %path.display(), "control API listening");
            let serving = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|s| *s).await;
            });
            if let Err(e) = serving.await {
                warn!(error = %e, "control API stopped with an error");
            }
        });
        ApiServer { socket, stop, task }
    }

    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }

    /// Asks the server to stop without waiting.
    pub(crate) fn signal_stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops taking requests, lets open ones finish (event streams end at
    /// once), and removes the socket.
    pub(crate) async fn stop(self) {
        self.signal_stop();
        let ApiServer { socket, stop: _stop, mut task } = self;
        if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
            warn!("control API requests still open after {} s; closing them", STOP_GRACE.as_secs());
            task.abort();
        }
        if let Err(e) = fs::remove_file(&socket)
            && e.kind() != io::ErrorKind::NotFound
        {
            warn!(socket = %socket.display(), error = %e, "cannot remove the control socket");
        }
    }
}

fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/peers", get(peers))
        .route("/v1/liveness", get(liveness))
        .route("/v1/directory", get(directory))
        .route("/v1/directory/{state}", get(state_view))
        .route("/v1/directory/{state}/{role}", get(record))
        .route("/v1/directory/{state}/{role}/history", get(history))
        .route("/v1/records", post(publish))
        .route("/v1/objects", post(submit))
        .route("/v1/messages", post(send).get(messages))
        .route("/v1/messages/{id}", get(message))
        .route("/v1/ids", get(ids))
        .route("/v1/messages/{id}/wait", get(wait))
        .route("/v1/messages/{id}/ack", post(ack))
        .route("/v1/cases/{id}", get(thread))
        .route("/v1/outbox", get(outbox))
        .route("/v1/comchecks", post(comcheck_start).get(comcheck_list))
        .route("/v1/comchecks/schedules", post(schedule_add).get(schedule_list))
        .route("/v1/comchecks/schedules/{id}", axum::routing::delete(schedule_remove))
        .route("/v1/comchecks/{id}", get(comcheck_status))
        .route("/v1/comchecks/{id}/report", post(comcheck_report))
        .route("/v1/comchecks/{id}/answer", post(comcheck_answer))
        .route("/v1/events", get(events))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// An error answer.
pub(crate) struct ApiError {
    status: StatusCode,
    code: String,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        // One line, whatever the source wrote.
        let message = message.into().replace(['\r', '\n'], " ");
        ApiError { status, code: code.to_string(), message }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: self.message } };
        (self.status, Json(body)).into_response()
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> ApiError {
        let status = match &e {
            NodeError::Rejected(_) | NodeError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            NodeError::NotFound(_) => StatusCode::NOT_FOUND,
            NodeError::NotAdmitted { .. } => StatusCode::CONFLICT,
            NodeError::StoreFailed(_) | NodeError::Stopped | NodeError::Terminated(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            // Every variant named: a new one must choose its status.
            NodeError::Internal { .. }
            | NodeError::Store(_)
            | NodeError::Net(_)
            | NodeError::Config(_)
            | NodeError::StateMismatch { .. }
            | NodeError::AlreadyRunning { .. }
            | NodeError::Io { .. }
            | NodeError::DataDirPermissions { .. }
            | NodeError::NoListenAddress { .. }
            | NodeError::Logging(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> ApiError {
        match r {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with the header Content-Type: application/json",
            ),
            other => ApiError::new(StatusCode::BAD_REQUEST, "bad_json", other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_path", r.body_text())
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

fn parse_state(text: &str) -> Result<StateCode, ApiError> {
    text.parse()
        .map_err(|e: hotline_core::ids::IdError| ApiError::new(StatusCode::BAD_REQUEST, "bad_state", e.to_string()))
}

fn parse_role(text: &str) -> Result<Role, ApiError> {
    text.parse()
        .map_err(|e: hotline_core::ids::IdError| ApiError::new(StatusCode::BAD_REQUEST, "bad_role", e.to_string()))
}

async fn status(State(s): State<ApiState>) -> ApiResult<crate::api_types::StatusView> {
    Ok(Json(s.node.status().await?))
}

/// 200 when healthy, 503 with the reasons otherwise: monitoring reads the
/// status code alone.
/// How long `/health` waits for its probe write: a stalled disk must make
/// the node unhealthy, not hang the monitoring that asks.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(10);

async fn health(State(s): State<ApiState>) -> Result<(StatusCode, Json<crate::api_types::HealthView>), ApiError> {
    let Ok(view) = tokio::time::timeout(HEALTH_TIMEOUT, s.node.health()).await else {
        let view = crate::api_types::HealthView {
            healthy: false,
            reasons: vec![format!("the store did not complete a write within {} s", HEALTH_TIMEOUT.as_secs())],
            store_writable: false,
            admitted: false,
            connected_members: 0,
        };
        return Ok((StatusCode::SERVICE_UNAVAILABLE, Json(view)));
    };
    let view = view?;
    let status = if view.healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    Ok((status, Json(view)))
}

async fn metrics(State(s): State<ApiState>) -> Result<Response, ApiError> {
    Ok(metrics_response(&s.node).await?)
}

/// `GET /metrics`, on the control socket and on `metrics_listen`.
pub(crate) async fn metrics_response(node: &NodeHandle) -> Result<Response, NodeError> {
    let text = node.metrics_text().await?;
    Ok(([(axum::http::header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response())
}

async fn peers(State(s): State<ApiState>) -> ApiResult<Vec<crate::api_types::PeerView>> {
    Ok(Json(s.node.peers().await?))
}

async fn liveness(State(s): State<ApiState>) -> ApiResult<Vec<crate::api_types::LivenessView>> {
    Ok(Json(s.node.liveness().await?))
}

async fn directory(State(s): State<ApiState>) -> ApiResult<crate::api_types::DirectoryView> {
    Ok(Json(s.node.directory().await?))
}

async fn state_view(
    State(s): State<ApiState>,
    path: Result<UrlPath<String>, PathRejection>,
) -> ApiResult<crate::api_types::StateView> {
    let UrlPath(state) = path?;
    Ok(Json(s.node.state_view(parse_state(&state)?).await?))
}

async fn record(
    State(s): State<ApiState>,
    path: Result<UrlPath<(String, String)>, PathRejection>,
) -> ApiResult<crate::api_types::RecordEntry> {
    let UrlPath((state, role)) = path?;
    Ok(Json(s.node.record(parse_state(&state)?, parse_role(&role)?).await?))
}

async fn history(
    State(s): State<ApiState>,
    path: Result<UrlPath<(String, String)>, PathRejection>,
) -> ApiResult<Vec<crate::api_types::HistoryItem>> {
    let UrlPath((state, role)) = path?;
    Ok(Json(s.node.history(parse_state(&state)?, parse_role(&role)?).await?))
}

async fn publish(
    State(s): State<ApiState>,
    body: Result<Json<PublishRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<crate::api_types::RecordEntry>), ApiError> {
    let Json(request) = body?;
    let entry = s.node.publish_record(request.draft, request.validity_days).await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

async fn submit(
    State(s): State<ApiState>,
    body: Result<Json<SubmitRequest>, JsonRejection>,
) -> ApiResult<crate::api_types::SubmitResponse> {
    let Json(request) = body?;
    let bytes = hex::decode(request.object_hex.trim())
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_object", format!("object_hex: {e}")))?;
    let object = DirectoryObject::from_bytes(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_object", format!("object_hex: {e}")))?;
    Ok(Json(s.node.submit_object(object).await?))
}

/// Longest `wait` a client may ask for.
const MAX_WAIT_SECS: u64 = 3600;

/// The `key=value` pairs of a query string. Values here are ids, numbers
/// and words, so no percent-decoding is needed; a value that needs it is
/// refused by the parser of that parameter.
fn query_pairs(raw: &Option<String>) -> Result<Vec<(&str, &str)>, ApiError> {
    let Some(raw) = raw.as_deref() else { return Ok(Vec::new()) };
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.split_once('=')
                .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", format!("{p:?} has no value")))
        })
        .collect()
}

fn query_error(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_query", message)
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(query_error(format!("{key} must be true or false"))),
    }
}

fn parse_id<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, ApiError> {
    text.parse().map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "bad_id", format!("{what} must be 32 hex digits")))
}

async fn send(
    State(s): State<ApiState>,
    body: Result<Json<SendRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<crate::api_types::SendResponse>), ApiError> {
    let Json(request) = body?;
    Ok((StatusCode::CREATED, Json(s.node.send(request).await?)))
}

async fn messages(
    State(s): State<ApiState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Vec<crate::api_types::MessageSummary>> {
    let mut query = MessageQuery::default();
    for (key, value) in query_pairs(&raw)? {
        match key {
            "box" => query.r#box = Some(value.to_string()),
            "unread" => query.unread = parse_bool(key, value)?,
            "case" => query.case = Some(parse_id::<CaseId>("case", value)?),
            "limit" => {
                query.limit = Some(value.parse::<usize>().map_err(|_| query_error("limit must be a number".into()))?);
            }
            "before" => query.before = Some(value.to_string()),
            other => return Err(query_error(format!("unknown parameter {other:?}"))),
        }
    }
    Ok(Json(s.node.messages(query).await?))
}

async fn ids(State(s): State<ApiState>, RawQuery(raw): RawQuery) -> ApiResult<crate::api_types::IdMatches> {
    let mut prefix = None;
    for (key, value) in query_pairs(&raw)? {
        match key {
            "prefix" => prefix = Some(value.to_string()),
            other => return Err(query_error(format!("unknown parameter {other:?}"))),
        }
    }
    let prefix = prefix.ok_or_else(|| query_error("prefix is required".into()))?;
    if prefix.is_empty() || prefix.len() > 32 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(query_error("prefix must be 1 to 32 hex digits".into()));
    }
    Ok(Json(s.node.ids_with_prefix(prefix).await?))
}

async fn message(
    State(s): State<ApiState>,
    path: Result<UrlPath<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult<crate::api_types::MessageView> {
    let UrlPath(id) = path?;
    let id: MessageId = parse_id("message id", &id)?;
    let mut mark_read = false;
    for (key, value) in query_pairs(&raw)? {
        match key {
            "mark_read" => mark_read = parse_bool(key, value)?,
            other => return Err(query_error(format!("unknown parameter {other:?}"))),
        }
    }
    Ok(Json(s.node.message(id, mark_read).await?))
}

async fn wait(
    State(s): State<ApiState>,
    path: Result<UrlPath<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult<crate::api_types::MessageView> {
    let UrlPath(id) = path?;
    let id: MessageId = parse_id("message id", &id)?;
    let mut secs = 30;
    for (key, value) in query_pairs(&raw)? {
        match key {
            "timeout_secs" => {
                secs = value
                    .parse::<u64>()
                    .ok()
                    .filter(|s| *s <= MAX_WAIT_SECS)
                    .ok_or_else(|| query_error(format!("timeout_secs must be 0 to {MAX_WAIT_SECS}")))?;
            }
            other => return Err(query_error(format!("unknown parameter {other:?}"))),
        }
    }
    // Make sure the message exists before waiting on it.
    s.node.message(id, false).await?;
    Ok(Json(s.node.wait_delivered(id, Duration::from_secs(secs)).await?))
}

async fn ack(
    State(s): State<ApiState>,
    path: Result<UrlPath<String>, PathRejection>,
    body: Result<Json<AckRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<crate::api_types::SendResponse>), ApiError> {
    let UrlPath(id) = path?;
    let id: MessageId = parse_id("message id", &id)?;
    let Json(request) = body?;
    Ok((StatusCode::CREATED, Json(s.node.ack(id, request).await?)))
}

async fn thread(
    State(s): State<ApiState>,
    path: Result<UrlPath<String>, PathRejection>,
) -> ApiResult<Vec<crate::api_types::MessageView>> {
    let UrlPath(id) = path?;
    Ok(Json(s.node.thread(parse_id("case id", &id)?).await?))
}

async fn outbox(State(s): State<ApiState>) -> ApiResult<Vec<crate::api_types::OutboxItem>> {
    Ok(Json(s.node.outbox().await?))
}

async fn comcheck_start(
    State(s): State<ApiState>,
    body: Result<Json<ComcheckStartRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<crate::api_types::ComcheckView>), ApiError> {
    let Json(request) = body?;
    Ok((StatusCode::CREATED, Json(s.node.comcheck_start(request).await?)))
}

async fn schedule_add(
    State(s): State<ApiState>,
    body: Result<Json<crate::api_types::ComcheckScheduleRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<crate::api_types::ComcheckScheduleView>), ApiError> {
    let Json(request) = body?;
    Ok((StatusCode::CREATED, Json(s.node.comcheck_schedule(request).await?)))
}

async fn schedule_list(State(s): State<ApiState>) -> ApiResult<Vec<crate::api_types::ComcheckScheduleView>> {
    Ok(Json(s.node.comcheck_schedules().await?))
}

async fn schedule_remove(
    State(s): State<ApiState>,
    path: Result<UrlPath<String>, PathRejection>,
) -> ApiResult<serde_json::Value> {
    let UrlPath(id) = path?;
    let id: CaseId = parse_id("schedule id", &id)?;
    s.node.comcheck_unschedule(id).await?;
    Ok(Json(serde_json::json!({ "removed": id })))
}

async fn comcheck_list(State(s): State<ApiState>) -> ApiResult<Vec<crate::api_types::ComcheckView>> {
    Ok(Json(s.node.comcheck_list().await?))
}

async fn comcheck_status(
    State(s): State<ApiState>,
    path: Result<UrlPath<String>, PathRejection>,
) -> ApiResult<crate::api_types::ComcheckView> {
    let UrlPath(id) = path?;
    Ok(Json(s.node.comcheck_status(parse_id("comcheck id", &id)?).await?))
}

async fn comcheck_report(
    State(s): State<ApiState>,
    path: Result<UrlPath<String>, PathRejection>,
) -> ApiResult<crate::api_types::ComcheckReportView> {
    let UrlPath(id) = path?;
    Ok(Json(s.node.comcheck_report(parse_id("comcheck id", &id)?).await?))
}

async fn comcheck_answer(
    State(s): State<ApiState>,
    path: Result<UrlPath<String>, PathRejection>,
    body: Result<Json<ComcheckAnswerRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<crate::api_types::SendResponse>), ApiError> {
    let UrlPath(id) = path?;
    let Json(request) = body?;
    Ok((StatusCode::CREATED, Json(s.node.comcheck_answer(parse_id("comcheck id", &id)?, request).await?)))
}

/// Server-sent events: one SSE event per [`crate::api_types::NodeEvent`],
/// named by its kind, with the JSON value as data. The stream ends when the
/// node stops.
async fn events(State(s): State<ApiState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = s.node.subscribe();
    // A first comment flushes the response head at once, so a client knows
    // its subscription is in place before it triggers anything.
    let hello = futures::stream::once(async { Ok(Event::default().comment("hotline events")) });
    let stream = futures::stream::unfold((events, s.stop), |(mut events, mut stop)| async move {
        loop {
            let next = tokio::select! {
                _ = stop.wait_for(|s| *s) => return None,
                next = events.recv() => next,
            };
            let event = match next {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(missed)) => crate::api_types::NodeEvent::Lagged { missed },
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            match Event::default().event(event.kind()).json_data(&event) {
                Ok(sse) => return Some((Ok(sse), (events, stop))),
                Err(e) => warn!(error = %e, "cannot encode an event"),
            }
        }
    });
    Sse::new(futures::StreamExt::chain(hello, stream)).keep_alive(KeepAlive::default())
}

pub(crate) async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no such endpoint: {method} {}", uri.path()))
}

pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The status comes from the kind of error: a fault of the node is a
    /// 5xx, whatever its code, and bad input a 4xx.
    #[test]
    fn server_faults_are_5xx_and_bad_input_4xx() {
        let status = |e: NodeError| ApiError::from(e).status;
        let internal = NodeError::Internal { code: "random_failed", message: "no entropy".into() };
        assert_eq!(status(internal), StatusCode::INTERNAL_SERVER_ERROR);
        let seal = NodeError::Internal { code: "seal_failed", message: "x".into() };
        assert_eq!(status(seal), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status(NodeError::BadRequest { code: "bad_limit", message: "x".into() }), StatusCode::BAD_REQUEST);
        assert_eq!(status(NodeError::NotAdmitted { state: "FRA".into() }), StatusCode::CONFLICT);
        assert_eq!(status(NodeError::StoreFailed("disk".into())), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            ApiError::from(NodeError::Internal { code: "seal_failed", message: "x".into() }).code,
            "seal_failed"
        );
    }
}
