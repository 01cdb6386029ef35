//! The control API: HTTP/JSON on a Unix socket in the data directory.
//!
//! The socket (`DATA/hotline.sock`) is made owner-only (mode 0600) right
//! after it is bound, and the data directory itself is 0700, so only the
//! daemon's user can talk to it. Paths are versioned (`/v1/…`).
//!
//! Every endpoint that answers one JSON value is defined once in
//! [`crate::endpoints`] and served here by one generic handler
//! (`serve`); `docs/api.md` lists them all. Three routes are served by
//! hand: `GET /health` (200 healthy, 503 not, the same [`HealthView`](crate::api_types::HealthView)
//! either way), `GET /metrics` (OpenMetrics text) and `GET /v1/events`
//! (server-sent [`NodeEvent`](crate::api_types::NodeEvent)s).
//!
//! Every error is `{"error": {"code": "...", "message": "..."}}` with a
//! stable code and a one-line message: 400 for bad input (the code is the
//! directory's rejection code when the directory refused the record, e.g.
//! `invalid_field`), 404 `not_found`, 405 `method_not_allowed`, 409
//! `not_admitted`, 415 `unsupported_media_type`, 503 `store_failed` or
//! `shutting_down`.

use crate::api_types::{ErrorBody, ErrorDetail};
use crate::endpoints::{self, BadRequest, Endpoint, Parts, Verb};
use crate::error::{ApiFailure, NodeError};
use crate::handle::NodeHandle;
use axum::body::Bytes;
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{RawPathParams, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use axum::{Json, Router};
use futures::Stream;
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
    use endpoints::*;
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/events", get(events))
        .route(GetStatus::ROUTE, on::<GetStatus>())
        .route(GetPeers::ROUTE, on::<GetPeers>())
        .route(GetLiveness::ROUTE, on::<GetLiveness>())
        .route(GetEvidence::ROUTE, on::<GetEvidence>())
        .route(GetDirectory::ROUTE, on::<GetDirectory>())
        .route(GetState::ROUTE, on::<GetState>())
        .route(GetRecord::ROUTE, on::<GetRecord>())
        .route(GetHistory::ROUTE, on::<GetHistory>())
        .route(PublishRecord::ROUTE, on::<PublishRecord>())
        .route(WithdrawRecord::ROUTE, on::<WithdrawRecord>())
        .route(RevokeNode::ROUTE, on::<RevokeNode>())
        .route(MakeBackup::ROUTE, on::<MakeBackup>())
        .route(SubmitObject::ROUTE, on::<SubmitObject>())
        .route(SendMessage::ROUTE, on::<SendMessage>().merge(on::<ListMessages>()))
        .route(GetMessage::ROUTE, on::<GetMessage>())
        .route(FindIds::ROUTE, on::<FindIds>())
        .route(WaitDelivered::ROUTE, on::<WaitDelivered>())
        .route(AckMessage::ROUTE, on::<AckMessage>())
        .route(CancelMessage::ROUTE, on::<CancelMessage>())
        .route(GetThread::ROUTE, on::<GetThread>())
        .route(GetOutbox::ROUTE, on::<GetOutbox>())
        .route(StartComcheck::ROUTE, on::<StartComcheck>().merge(on::<ListComchecks>()))
        .route(AddSchedule::ROUTE, on::<AddSchedule>().merge(on::<ListSchedules>()))
        .route(RemoveSchedule::ROUTE, on::<RemoveSchedule>())
        .route(GetComcheck::ROUTE, on::<GetComcheck>())
        .route(MakeReport::ROUTE, on::<MakeReport>())
        .route(AnswerComcheck::ROUTE, on::<AnswerComcheck>())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// The method router serving endpoint `E`.
fn on<E: Endpoint>() -> MethodRouter<ApiState> {
    match E::VERB {
        Verb::Get => get(serve::<E>),
        Verb::Post => post(serve::<E>),
        Verb::Delete => delete(serve::<E>),
    }
}

/// Serves any endpoint: reads the request as `E` defines it, asks the
/// node, answers 200 or 201 with the JSON value, or the error.
async fn serve<E: Endpoint>(
    State(s): State<ApiState>,
    params: Result<RawPathParams, RawPathParamsRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = match params {
        Ok(params) => params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        // A route without parameters.
        Err(RawPathParamsRejection::MissingPathParams(_)) => Vec::new(),
        Err(e) => return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_path", e.body_text())),
    };
    let is_json = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(is_json_type);
    let body = (!body.is_empty() || headers.contains_key(header::CONTENT_TYPE)).then(|| (is_json, body.to_vec()));
    let request = Parts::new(params, query.as_deref(), body).and_then(|parts| E::parse(&parts))?;
    let answer = request.answer(&s.node).await.map_err(|e| ApiError::failure(&e))?;
    let status = if E::CREATES { StatusCode::CREATED } else { StatusCode::OK };
    let body = E::encode(&answer)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "encode_failed", e.to_string()))?;
    Ok((status, [(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Whether a Content-Type names JSON: `application/json`, or an
/// `application/…+json` type, parameters (`; charset=utf-8`) aside.
fn is_json_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
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

impl ApiError {
    /// The answer to an operation's error: its code, and the status its
    /// kind calls for.
    fn failure(e: &impl ApiFailure) -> ApiError {
        let status = StatusCode::from_u16(e.kind().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> ApiError {
        ApiError::failure(&e)
    }
}

impl From<BadRequest> for ApiError {
    fn from(e: BadRequest) -> ApiError {
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
        ApiError::new(status, e.code, e.message)
    }
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

/// Server-sent events: one SSE event per [`crate::api_types::NodeEvent`],
/// named by its kind, with the JSON value as data. The stream ends when the
/// node stops.
///
/// A node already stopping refuses (503 `shutting_down`): a subscription
/// it would end at once would tell `hotline watch --follow` that the
/// daemon is back while it is going away.
async fn events(State(s): State<ApiState>) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if *s.stop.borrow() {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "the node is stopping"));
    }
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
    Ok(Sse::new(futures::StreamExt::chain(hello, stream)).keep_alive(KeepAlive::default()))
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
        use crate::error::{PublishError, QueryError, SendError};
        let status = |e: &dyn Fn() -> ApiError| e().status;
        let internal = || ApiError::from(NodeError::Internal { code: "random_failed", message: "no entropy".into() });
        assert_eq!(status(&internal), StatusCode::INTERNAL_SERVER_ERROR);
        let seal =
            || ApiError::failure(&SendError::Node(NodeError::Internal { code: "seal_failed", message: "x".into() }));
        assert_eq!((seal().status, seal().code.as_str()), (StatusCode::INTERNAL_SERVER_ERROR, "seal_failed"));
        let limit = || ApiError::failure(&QueryError::BadLimit { limit: 0, max: 1000 });
        assert_eq!((limit().status, limit().code.as_str()), (StatusCode::BAD_REQUEST, "bad_limit"));
        let admitted =
            || ApiError::failure(&PublishError::NotAdmitted("FRA".parse().unwrap_or_else(|e| panic!("{e}"))));
        assert_eq!(status(&admitted), StatusCode::CONFLICT);
        let disk = || ApiError::failure(&SendError::Node(NodeError::StoreFailed("disk".into())));
        assert_eq!(status(&disk), StatusCode::SERVICE_UNAVAILABLE);
        let unknown = || ApiError::failure(&SendError::NoParent(hotline_core::MessageId([1; 16])));
        assert_eq!((unknown().status, unknown().code.as_str()), (StatusCode::NOT_FOUND, "not_found"));
    }
}
