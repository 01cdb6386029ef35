//! Every endpoint of the control API, defined once.
//!
//! An endpoint is a request type that owns its contract: its method and
//! route, how it is written into a URI and a body ([`Endpoint::uri`],
//! [`Endpoint::body`]), how it is read back from one ([`Endpoint::parse`]),
//! what it answers, and how the node answers it ([`Endpoint::answer`],
//! through the [`NodeHandle`]). The server (`crate::api`) serves every
//! endpoint with one generic handler and the client ([`crate::Client::call`])
//! calls every endpoint with one generic method, so both follow this file
//! and cannot drift apart. A new read endpoint is its type here and the
//! handle method it calls.
//!
//! Three routes are not endpoints of this kind, since their answers are not
//! one JSON value: `GET /health` (the same body with 200 or 503), `GET
//! /metrics` (OpenMetrics text) and `GET /v1/events` (server-sent events).

use crate::api_types::{
    AckRequest, ComcheckAnswerRequest, ComcheckReportView, ComcheckScheduleRequest, ComcheckScheduleView,
    ComcheckStartRequest, ComcheckView, DirectoryView, HistoryItem, IdMatches, LivenessView, MessageQuery,
    MessageSummary, MessageView, OutboxItem, PeerView, PublishRequest, RecordEntry, SendRequest, SendResponse,
    StateView, StatusView, SubmitRequest, SubmitResponse,
};
use crate::error::{
    AckError, AnswerError, ApiFailure, NodeError, PublishError, QueryError, ReportError, ScheduleError, SendError,
    StartError, SubmitError,
};
use crate::handle::NodeHandle;
use hotline_core::{CaseId, DirectoryObject, MessageId, Role, StateCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

/// The HTTP method of an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// Reads; no body.
    Get,
    /// Creates or acts; a JSON body.
    Post,
    /// Removes; no body.
    Delete,
}

impl Verb {
    /// The method's name, as HTTP writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Delete => "DELETE",
        }
    }
}

/// One endpoint of the control API: a request that knows its route, its
/// encoding, its answer and how the node answers it.
pub trait Endpoint: Sized + Send + 'static {
    /// The method.
    const VERB: Verb;
    /// The route, with `{name}` for each path parameter.
    const ROUTE: &'static str;
    /// Whether success is 201 Created (else 200 OK).
    const CREATES: bool = false;
    /// What a successful call answers.
    type Answer: Serialize + DeserializeOwned + Send + 'static;
    /// Why a call fails: the operation's own error, with its codes and
    /// the HTTP status each of them calls for.
    type Error: ApiFailure;

    /// The path, with this request's parameters and query string.
    fn uri(&self) -> String;

    /// The JSON body, for endpoints that take one.
    fn body(&self) -> Option<Result<Vec<u8>, serde_json::Error>> {
        None
    }

    /// The request, read from an HTTP request's parts.
    fn parse(parts: &Parts) -> Result<Self, BadRequest>;

    /// The node's answer.
    fn answer(self, node: &NodeHandle) -> impl Future<Output = Result<Self::Answer, Self::Error>> + Send;
}

/// A request the server could not read: its HTTP status, stable code and
/// one-line message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRequest {
    /// 400, or 415 for a body that is not declared JSON.
    pub status: u16,
    /// `bad_state`, `bad_role`, `bad_id`, `bad_query`, `bad_json`,
    /// `bad_object`, `unsupported_media_type`.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

impl BadRequest {
    fn new(code: &'static str, message: impl Into<String>) -> BadRequest {
        BadRequest { status: 400, code, message: message.into() }
    }
}

/// What the server hands [`Endpoint::parse`]: the path parameters by name,
/// the query's `key=value` pairs, and the body if one was sent.
#[derive(Debug, Default)]
pub struct Parts {
    params: Vec<(String, String)>,
    query: Vec<(String, String)>,
    /// The body, and whether it was declared `application/json`.
    body: Option<(bool, Vec<u8>)>,
}

impl Parts {
    /// Parts of a request; the query string is split, not decoded: values
    /// here are ids, numbers and words, and a value that needs decoding is
    /// refused by the parser of its parameter.
    pub(crate) fn new(
        params: Vec<(String, String)>,
        query: Option<&str>,
        body: Option<(bool, Vec<u8>)>,
    ) -> Result<Parts, BadRequest> {
        let query = query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| BadRequest::new("bad_query", format!("{p:?} has no value")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Parts { params, query, body })
    }

    fn param(&self, name: &str) -> Result<&str, BadRequest> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| BadRequest::new("bad_path", format!("the path lacks {name}")))
    }

    fn state(&self) -> Result<StateCode, BadRequest> {
        self.param("state")?
            .parse()
            .map_err(|e: hotline_core::ids::IdError| BadRequest::new("bad_state", e.to_string()))
    }

    fn role(&self) -> Result<Role, BadRequest> {
        self.param("role")?.parse().map_err(|e: hotline_core::ids::IdError| BadRequest::new("bad_role", e.to_string()))
    }

    /// The `{id}` parameter, a 32-hex-digit id; `what` names it in errors.
    fn id<T: FromStr>(&self, what: &str) -> Result<T, BadRequest> {
        self.param("id")?.parse().map_err(|_| BadRequest::new("bad_id", format!("{what} must be 32 hex digits")))
    }

    /// The query's pairs, refusing any key not in `known`.
    fn query(&self, known: &[&str]) -> Result<&[(String, String)], BadRequest> {
        match self.query.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            Some((other, _)) => Err(BadRequest::new("bad_query", format!("unknown parameter {other:?}"))),
            None => Ok(&self.query),
        }
    }

    fn json<T: DeserializeOwned>(&self) -> Result<T, BadRequest> {
        match &self.body {
            Some((true, bytes)) => serde_json::from_slice(bytes)
                .map_err(|e| BadRequest::new("bad_json", format!("the JSON body does not fit: {e}"))),
            _ => Err(BadRequest {
                status: 415,
                code: "unsupported_media_type",
                message: "send the body as JSON with the header Content-Type: application/json".into(),
            }),
        }
    }
}

fn bad_query(message: impl Into<String>) -> BadRequest {
    BadRequest::new("bad_query", message)
}

fn parse_bool(key: &str, value: &str) -> Result<bool, BadRequest> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(bad_query(format!("{key} must be true or false"))),
    }
}

fn json<T: Serialize>(value: &T) -> Option<Result<Vec<u8>, serde_json::Error>> {
    Some(serde_json::to_vec(value))
}

/// An endpoint without parameters: its type is a unit struct, its URI its
/// route, and the node answers through `$call`.
macro_rules! plain_get {
    ($(#[$doc:meta])* $name:ident, $route:literal, $answer:ty, $call:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name;

        impl Endpoint for $name {
            const VERB: Verb = Verb::Get;
            const ROUTE: &'static str = $route;
            type Answer = $answer;
            type Error = NodeError;

            fn uri(&self) -> String {
                $route.to_string()
            }

            fn parse(parts: &Parts) -> Result<Self, BadRequest> {
                parts.query(&[])?;
                Ok($name)
            }

            async fn answer(self, node: &NodeHandle) -> Result<$answer, NodeError> {
                node.$call().await
            }
        }
    };
}

plain_get!(
    /// `GET /v1/status`: the node's state, peers, directory and messaging counts.
    GetStatus, "/v1/status", StatusView, status
);
plain_get!(
    /// `GET /v1/peers`: connected peers.
    GetPeers, "/v1/peers", Vec<PeerView>, peers
);
plain_get!(
    /// `GET /v1/liveness`: every member node's reachability.
    GetLiveness, "/v1/liveness", Vec<LivenessView>, liveness
);
plain_get!(
    /// `GET /v1/directory`: the admitted states and their records.
    GetDirectory, "/v1/directory", DirectoryView, directory
);
plain_get!(
    /// `GET /v1/outbox`: deliveries still waiting for a receipt.
    GetOutbox, "/v1/outbox", Vec<OutboxItem>, outbox
);
plain_get!(
    /// `GET /v1/comchecks`: every communication check held.
    ListComchecks, "/v1/comchecks", Vec<ComcheckView>, comcheck_list
);
plain_get!(
    /// `GET /v1/comchecks/schedules`: the periodic checks.
    ListSchedules, "/v1/comchecks/schedules", Vec<ComcheckScheduleView>, comcheck_schedules
);

/// `GET /v1/directory/{state}`: one state's admission and records.
#[derive(Clone, Copy, Debug)]
pub struct GetState {
    /// The state.
    pub state: StateCode,
}

impl Endpoint for GetState {
    const VERB: Verb = Verb::Get;
    const ROUTE: &'static str = "/v1/directory/{state}";
    type Answer = StateView;
    type Error = NodeError;

    fn uri(&self) -> String {
        format!("/v1/directory/{}", self.state)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        parts.query(&[])?;
        Ok(GetState { state: parts.state()? })
    }

    async fn answer(self, node: &NodeHandle) -> Result<StateView, NodeError> {
        node.state_view(self.state).await
    }
}

/// `GET /v1/directory/{state}/{role}`: the record in force for a point of
/// contact.
#[derive(Clone, Debug)]
pub struct GetRecord {
    /// The state.
    pub state: StateCode,
    /// The role.
    pub role: Role,
}

impl Endpoint for GetRecord {
    const VERB: Verb = Verb::Get;
    const ROUTE: &'static str = "/v1/directory/{state}/{role}";
    type Answer = RecordEntry;
    type Error = NodeError;

    fn uri(&self) -> String {
        format!("/v1/directory/{}/{}", self.state, self.role)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        parts.query(&[])?;
        Ok(GetRecord { state: parts.state()?, role: parts.role()? })
    }

    async fn answer(self, node: &NodeHandle) -> Result<RecordEntry, NodeError> {
        node.record(self.state, self.role).await
    }
}

/// `GET /v1/directory/{state}/{role}/history`: every version of a record
/// this node accepted.
#[derive(Clone, Debug)]
pub struct GetHistory {
    /// The state.
    pub state: StateCode,
    /// The role.
    pub role: Role,
}

impl Endpoint for GetHistory {
    const VERB: Verb = Verb::Get;
    const ROUTE: &'static str = "/v1/directory/{state}/{role}/history";
    type Answer = Vec<HistoryItem>;
    type Error = NodeError;

    fn uri(&self) -> String {
        format!("/v1/directory/{}/{}/history", self.state, self.role)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        parts.query(&[])?;
        Ok(GetHistory { state: parts.state()?, role: parts.role()? })
    }

    async fn answer(self, node: &NodeHandle) -> Result<Vec<HistoryItem>, NodeError> {
        node.history(self.state, self.role).await
    }
}

/// `POST /v1/records`: sign, store and publish the next version of this
/// node's state's record for a role (201).
#[derive(Clone, Debug)]
pub struct PublishRecord(pub PublishRequest);

impl Endpoint for PublishRecord {
    const VERB: Verb = Verb::Post;
    const ROUTE: &'static str = "/v1/records";
    const CREATES: bool = true;
    type Answer = RecordEntry;
    type Error = PublishError;

    fn uri(&self) -> String {
        Self::ROUTE.to_string()
    }

    fn body(&self) -> Option<Result<Vec<u8>, serde_json::Error>> {
        json(&self.0)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        parts.query(&[])?;
        Ok(PublishRecord(parts.json()?))
    }

    async fn answer(self, node: &NodeHandle) -> Result<RecordEntry, PublishError> {
        node.publish_record(self.0.draft, self.0.validity_days).await
    }
}

/// `POST /v1/objects`: a signed object made elsewhere (an admission, a
/// revocation), for the directory to apply.
#[derive(Clone, Debug)]
pub struct SubmitObject(pub DirectoryObject);

impl Endpoint for SubmitObject {
    const VERB: Verb = Verb::Post;
    const ROUTE: &'static str = "/v1/objects";
    type Answer = SubmitResponse;
    type Error = SubmitError;

    fn uri(&self) -> String {
        Self::ROUTE.to_string()
    }

    fn body(&self) -> Option<Result<Vec<u8>, serde_json::Error>> {
        json(&SubmitRequest { object_hex: hex::encode(self.0.to_bytes()) })
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        parts.query(&[])?;
        let request: SubmitRequest = parts.json()?;
        let bad = |e: &dyn std::fmt::Display| BadRequest::new("bad_object", format!("object_hex: {e}"));
        let bytes = hex::decode(request.object_hex.trim()).map_err(|e| bad(&e))?;
        Ok(SubmitObject(DirectoryObject::from_bytes(&bytes).map_err(|e| bad(&e))?))
    }

    async fn answer(self, node: &NodeHandle) -> Result<SubmitResponse, SubmitError> {
        node.submit_object(self.0).await
    }
}

/// `POST /v1/messages`: writes and queues a message (201).
#[derive(Clone, Debug)]
pub struct SendMessage(pub SendRequest);

impl Endpoint for SendMessage {
    const VERB: Verb = Verb::Post;
    const ROUTE: &'static str = "/v1/messages";
    const CREATES: bool = true;
    type Answer = SendResponse;
    type Error = SendError;

    fn uri(&self) -> String {
        Self::ROUTE.to_string()
    }

    fn body(&self) -> Option<Result<Vec<u8>, serde_json::Error>> {
        json(&self.0)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        parts.query(&[])?;
        Ok(SendMessage(parts.json()?))
    }

    async fn answer(self, node: &NodeHandle) -> Result<SendResponse, SendError> {
        node.send(self.0).await
    }
}

/// `GET /v1/messages?box=inbox|sent|all&unread=true&case=ID&limit=N&before=CURSOR`:
/// one page of messages.
#[derive(Clone, Debug, Default)]
pub struct ListMessages(pub MessageQuery);

impl Endpoint for ListMessages {
    const VERB: Verb = Verb::Get;
    const ROUTE: &'static str = "/v1/messages";
    type Answer = Vec<MessageSummary>;
    type Error = QueryError;

    fn uri(&self) -> String {
        let q = &self.0;
        let mut uri = format!("/v1/messages?box={}", q.r#box.as_deref().unwrap_or("inbox"));
        if q.unread {
            uri.push_str("&unread=true");
        }
        if let Some(case) = q.case {
            uri.push_str(&format!("&case={case}"));
        }
        if let Some(limit) = q.limit {
            uri.push_str(&format!("&limit={limit}"));
        }
        if let Some(before) = &q.before {
            uri.push_str(&format!("&before={before}"));
        }
        uri
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        let mut query = MessageQuery::default();
        for (key, value) in parts.query(&["box", "unread", "case", "limit", "before"])? {
            match key.as_str() {
                "box" => query.r#box = Some(value.clone()),
                "unread" => query.unread = parse_bool(key, value)?,
                "case" => {
                    query.case =
                        Some(value.parse().map_err(|_| BadRequest::new("bad_id", "case must be 32 hex digits"))?)
                }
                "limit" => query.limit = Some(value.parse().map_err(|_| bad_query("limit must be a number"))?),
                _ => query.before = Some(value.clone()),
            }
        }
        Ok(ListMessages(query))
    }

    async fn answer(self, node: &NodeHandle) -> Result<Vec<MessageSummary>, QueryError> {
        node.messages(self.0).await
    }
}

/// `GET /v1/ids?prefix=HEX`: the messages and cases whose id starts so.
#[derive(Clone, Debug)]
pub struct FindIds {
    /// 1 to 32 hex digits.
    pub prefix: String,
}

impl Endpoint for FindIds {
    const VERB: Verb = Verb::Get;
    const ROUTE: &'static str = "/v1/ids";
    type Answer = IdMatches;
    type Error = NodeError;

    fn uri(&self) -> String {
        format!("/v1/ids?prefix={}", self.prefix)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        let prefix = parts.query(&["prefix"])?.iter().map(|(_, v)| v.clone()).next_back();
        let prefix = prefix.ok_or_else(|| bad_query("prefix is required"))?;
        if prefix.is_empty() || prefix.len() > 32 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad_query("prefix must be 1 to 32 hex digits"));
        }
        Ok(FindIds { prefix })
    }

    async fn answer(self, node: &NodeHandle) -> Result<IdMatches, NodeError> {
        node.ids_with_prefix(self.prefix).await
    }
}

/// `GET /v1/messages/{id}?mark_read=true`: one message; `mark_read` marks
/// a received message read.
#[derive(Clone, Copy, Debug)]
pub struct GetMessage {
    /// The message.
    pub id: MessageId,
    /// Mark it read (a person is shown it).
    pub mark_read: bool,
}

impl Endpoint for GetMessage {
    const VERB: Verb = Verb::Get;
    const ROUTE: &'static str = "/v1/messages/{id}";
    type Answer = MessageView;
    type Error = NodeError;

    fn uri(&self) -> String {
        format!("/v1/messages/{}?mark_read={}", self.id, self.mark_read)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        let id = parts.id("message id")?;
        let mut mark_read = false;
        for (key, value) in parts.query(&["mark_read"])? {
            mark_read = parse_bool(key, value)?;
        }
        Ok(GetMessage { id, mark_read })
    }

    async fn answer(self, node: &NodeHandle) -> Result<MessageView, NodeError> {
        node.message(self.id, self.mark_read).await
    }
}

/// Longest wait a client may ask [`WaitDelivered`] for.
pub const MAX_WAIT_SECS: u64 = 3600;

/// `GET /v1/messages/{id}/wait?timeout_secs=N`: the message once every
/// recipient node receipted it, or as it stands at the timeout.
#[derive(Clone, Copy, Debug)]
pub struct WaitDelivered {
    /// The message.
    pub id: MessageId,
    /// 0 to [`MAX_WAIT_SECS`]; 30 if not given.
    pub timeout_secs: u64,
}

impl Endpoint for WaitDelivered {
    const VERB: Verb = Verb::Get;
    const ROUTE: &'static str = "/v1/messages/{id}/wait";
    type Answer = MessageView;
    type Error = NodeError;

    fn uri(&self) -> String {
        format!("/v1/messages/{}/wait?timeout_secs={}", self.id, self.timeout_secs)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        let id = parts.id("message id")?;
        let mut timeout_secs = 30;
        for (_, value) in parts.query(&["timeout_secs"])? {
            timeout_secs = value
                .parse::<u64>()
                .ok()
                .filter(|s| *s <= MAX_WAIT_SECS)
                .ok_or_else(|| bad_query(format!("timeout_secs must be 0 to {MAX_WAIT_SECS}")))?;
        }
        Ok(WaitDelivered { id, timeout_secs })
    }

    async fn answer(self, node: &NodeHandle) -> Result<MessageView, NodeError> {
        // An unknown id is `not_found` at once, not after the wait.
        node.message(self.id, false).await?;
        node.wait_delivered(self.id, Duration::from_secs(self.timeout_secs)).await
    }
}

/// `POST /v1/messages/{id}/ack`: acknowledges a received message (201).
#[derive(Clone, Debug)]
pub struct AckMessage {
    /// The message acknowledged.
    pub id: MessageId,
    /// The acknowledgement's note.
    pub request: AckRequest,
}

impl Endpoint for AckMessage {
    const VERB: Verb = Verb::Post;
    const ROUTE: &'static str = "/v1/messages/{id}/ack";
    const CREATES: bool = true;
    type Answer = SendResponse;
    type Error = AckError;

    fn uri(&self) -> String {
        format!("/v1/messages/{}/ack", self.id)
    }

    fn body(&self) -> Option<Result<Vec<u8>, serde_json::Error>> {
        json(&self.request)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        parts.query(&[])?;
        Ok(AckMessage { id: parts.id("message id")?, request: parts.json()? })
    }

    async fn answer(self, node: &NodeHandle) -> Result<SendResponse, AckError> {
        node.ack(self.id, self.request).await
    }
}

/// `GET /v1/cases/{id}`: every message of a case, in thread order.
#[derive(Clone, Copy, Debug)]
pub struct GetThread {
    /// The case.
    pub case: CaseId,
}

impl Endpoint for GetThread {
    const VERB: Verb = Verb::Get;
    const ROUTE: &'static str = "/v1/cases/{id}";
    type Answer = Vec<MessageView>;
    type Error = NodeError;

    fn uri(&self) -> String {
        format!("/v1/cases/{}", self.case)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        parts.query(&[])?;
        Ok(GetThread { case: parts.id("case id")? })
    }

    async fn answer(self, node: &NodeHandle) -> Result<Vec<MessageView>, NodeError> {
        node.thread(self.case).await
    }
}

/// `POST /v1/comchecks`: starts a communication check (201).
#[derive(Clone, Debug)]
pub struct StartComcheck(pub ComcheckStartRequest);

impl Endpoint for StartComcheck {
    const VERB: Verb = Verb::Post;
    const ROUTE: &'static str = "/v1/comchecks";
    const CREATES: bool = true;
    type Answer = ComcheckView;
    type Error = StartError;

    fn uri(&self) -> String {
        Self::ROUTE.to_string()
    }

    fn body(&self) -> Option<Result<Vec<u8>, serde_json::Error>> {
        json(&self.0)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        parts.query(&[])?;
        Ok(StartComcheck(parts.json()?))
    }

    async fn answer(self, node: &NodeHandle) -> Result<ComcheckView, StartError> {
        node.comcheck_start(self.0).await
    }
}

/// `GET /v1/comchecks/{id}`: a check and where each target stands.
#[derive(Clone, Copy, Debug)]
pub struct GetComcheck {
    /// The check.
    pub id: CaseId,
}

impl Endpoint for GetComcheck {
    const VERB: Verb = Verb::Get;
    const ROUTE: &'static str = "/v1/comchecks/{id}";
    type Answer = ComcheckView;
    type Error = NodeError;

    fn uri(&self) -> String {
        format!("/v1/comchecks/{}", self.id)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        parts.query(&[])?;
        Ok(GetComcheck { id: parts.id("comcheck id")? })
    }

    async fn answer(self, node: &NodeHandle) -> Result<ComcheckView, NodeError> {
        node.comcheck_status(self.id).await
    }
}

/// `POST /v1/comchecks/{id}/report`: the signed report, after the deadline.
#[derive(Clone, Copy, Debug)]
pub struct MakeReport {
    /// The check.
    pub id: CaseId,
}

impl Endpoint for MakeReport {
    const VERB: Verb = Verb::Post;
    const ROUTE: &'static str = "/v1/comchecks/{id}/report";
    type Answer = ComcheckReportView;
    type Error = ReportError;

    fn uri(&self) -> String {
        format!("/v1/comchecks/{}/report", self.id)
    }

    fn body(&self) -> Option<Result<Vec<u8>, serde_json::Error>> {
        Some(Ok(b"{}".to_vec()))
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        // The body, if any, carries nothing.
        parts.query(&[])?;
        Ok(MakeReport { id: parts.id("comcheck id")? })
    }

    async fn answer(self, node: &NodeHandle) -> Result<ComcheckReportView, ReportError> {
        node.comcheck_report(self.id).await
    }
}

/// `POST /v1/comchecks/{id}/answer`: answers a challenge received (201).
#[derive(Clone, Debug)]
pub struct AnswerComcheck {
    /// The check.
    pub id: CaseId,
    /// The answer.
    pub request: ComcheckAnswerRequest,
}

impl Endpoint for AnswerComcheck {
    const VERB: Verb = Verb::Post;
    const ROUTE: &'static str = "/v1/comchecks/{id}/answer";
    const CREATES: bool = true;
    type Answer = SendResponse;
    type Error = AnswerError;

    fn uri(&self) -> String {
        format!("/v1/comchecks/{}/answer", self.id)
    }

    fn body(&self) -> Option<Result<Vec<u8>, serde_json::Error>> {
        json(&self.request)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        parts.query(&[])?;
        Ok(AnswerComcheck { id: parts.id("comcheck id")?, request: parts.json()? })
    }

    async fn answer(self, node: &NodeHandle) -> Result<SendResponse, AnswerError> {
        node.comcheck_answer(self.id, self.request).await
    }
}

/// `POST /v1/comchecks/schedules`: a periodic, unannounced check (201).
#[derive(Clone, Debug)]
pub struct AddSchedule(pub ComcheckScheduleRequest);

impl Endpoint for AddSchedule {
    const VERB: Verb = Verb::Post;
    const ROUTE: &'static str = "/v1/comchecks/schedules";
    const CREATES: bool = true;
    type Answer = ComcheckScheduleView;
    type Error = ScheduleError;

    fn uri(&self) -> String {
        Self::ROUTE.to_string()
    }

    fn body(&self) -> Option<Result<Vec<u8>, serde_json::Error>> {
        json(&self.0)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        parts.query(&[])?;
        Ok(AddSchedule(parts.json()?))
    }

    async fn answer(self, node: &NodeHandle) -> Result<ComcheckScheduleView, ScheduleError> {
        node.comcheck_schedule(self.0).await
    }
}

/// What [`RemoveSchedule`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    /// The schedule removed.
    pub removed: CaseId,
}

/// `DELETE /v1/comchecks/schedules/{id}`: stops a periodic check.
#[derive(Clone, Copy, Debug)]
pub struct RemoveSchedule {
    /// The schedule.
    pub id: CaseId,
}

impl Endpoint for RemoveSchedule {
    const VERB: Verb = Verb::Delete;
    const ROUTE: &'static str = "/v1/comchecks/schedules/{id}";
    type Answer = Removed;
    type Error = ScheduleError;

    fn uri(&self) -> String {
        format!("/v1/comchecks/schedules/{}", self.id)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        parts.query(&[])?;
        Ok(RemoveSchedule { id: parts.id("schedule id")? })
    }

    async fn answer(self, node: &NodeHandle) -> Result<Removed, ScheduleError> {
        node.comcheck_unschedule(self.id).await?;
        Ok(Removed { removed: self.id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the client writes, the server reads back as the same request.
    fn round_trip<E: Endpoint>(request: &E) -> E {
        let uri = request.uri();
        let (path, query) = match uri.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (uri.clone(), None),
        };
        // Match the route's `{name}` segments against the path's.
        let route: Vec<&str> = E::ROUTE.split('/').collect();
        let segments: Vec<&str> = path.split('/').collect();
        assert_eq!(route.len(), segments.len(), "{uri} does not fit {}", E::ROUTE);
        let mut params = Vec::new();
        for (r, s) in route.iter().zip(&segments) {
            match r.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
                Some(name) => params.push((name.to_string(), s.to_string())),
                None => assert_eq!(r, s, "{uri} does not fit {}", E::ROUTE),
            }
        }
        let body = request.body().map(|b| (true, b.unwrap_or_else(|e| panic!("{e}"))));
        let parts = Parts::new(params, query.as_deref(), body).unwrap_or_else(|e| panic!("{e:?}"));
        E::parse(&parts).unwrap_or_else(|e| panic!("{uri}: {e:?}"))
    }

    #[test]
    fn every_request_reads_back_as_written() {
        let id = MessageId([7; 16]);
        let case = CaseId([9; 16]);
        let fra: StateCode = "FRA".parse().unwrap_or_else(|e| panic!("{e}"));
        round_trip(&GetStatus);
        round_trip(&ListSchedules);
        assert_eq!(round_trip(&GetState { state: fra }).state, fra);
        let record = round_trip(&GetRecord { state: fra, role: Role::policy() });
        assert_eq!((record.state, record.role), (fra, Role::policy()));
        assert_eq!(round_trip(&GetHistory { state: fra, role: Role::technical() }).role, Role::technical());
        let query = MessageQuery {
            r#box: Some("sent".into()),
            unread: true,
            case: Some(case),
            limit: Some(50),
            before: Some("100-abc".into()),
        };
        let back = round_trip(&ListMessages(query.clone())).0;
        assert_eq!(
            (back.r#box, back.unread, back.case, back.limit, back.before),
            (query.r#box, true, Some(case), Some(50), query.before)
        );
        assert_eq!(round_trip(&FindIds { prefix: "abc1".into() }).prefix, "abc1");
        let m = round_trip(&GetMessage { id, mark_read: true });
        assert_eq!((m.id, m.mark_read), (id, true));
        assert_eq!(round_trip(&WaitDelivered { id, timeout_secs: 5 }).timeout_secs, 5);
        let ack = round_trip(&AckMessage { id, request: AckRequest { note: Some("seen".into()) } });
        assert_eq!((ack.id, ack.request.note.as_deref()), (id, Some("seen")));
        assert_eq!(round_trip(&GetThread { case }).case, case);
        assert_eq!(round_trip(&GetComcheck { id: case }).id, case);
        assert_eq!(round_trip(&MakeReport { id: case }).id, case);
        assert_eq!(round_trip(&RemoveSchedule { id: case }).id, case);
    }

    #[test]
    fn bad_parts_are_refused_with_their_codes() {
        let code = |params: Vec<(&str, &str)>, query: Option<&str>| {
            let params = params.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            match Parts::new(params, query, None) {
                Err(e) => e.code,
                Ok(parts) => GetMessage::parse(&parts).err().map(|e| e.code).unwrap_or("accepted"),
            }
        };
        let id = "07".repeat(16);
        assert_eq!(code(vec![("id", "nope")], None), "bad_id");
        assert_eq!(code(vec![("id", &id)], Some("mark_read=maybe")), "bad_query");
        assert_eq!(code(vec![("id", &id)], Some("colour=red")), "bad_query");
        assert_eq!(code(vec![("id", &id)], Some("mark_read")), "bad_query");
        assert_eq!(code(vec![("id", &id)], Some("mark_read=1")), "accepted");
        let no_json = Parts::new(Vec::new(), None, Some((false, b"{}".to_vec()))).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            SendMessage::parse(&no_json).map(|_| ()).map_err(|e| (e.status, e.code)),
            Err((415, "unsupported_media_type"))
        );
        let bad_json = Parts::new(Vec::new(), None, Some((true, b"{".to_vec()))).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(SendMessage::parse(&bad_json).map(|_| ()).map_err(|e| e.code), Err("bad_json"));
    }
}
