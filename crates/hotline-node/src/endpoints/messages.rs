//! The messaging endpoints: sending, listing, reading, waiting,
//! acknowledging, and the outbox.

use super::*;
use crate::api_types::{
    AckRequest, IdMatches, MessageQuery, MessageSummary, MessageView, OutboxItem, SendRequest, SendResponse,
};
use crate::error::{AckError, CancelError, QueryError, SendError};
use hotline_core::{CaseId, MessageId};
use std::time::Duration;

plain_get!(
    /// `GET /v1/outbox`: deliveries still waiting for a receipt.
    GetOutbox, "/v1/outbox", Vec<OutboxItem>, outbox
);

create_from_body!(
    /// `POST /v1/messages`: writes and queues a message (201).
    SendMessage(SendRequest), "/v1/messages", SendResponse, SendError, send
);

/// `GET /v1/messages?box=inbox|sent|all&unread=true&case=ID&limit=N&before=CURSOR&role=ROLE`:
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
        if let Some(role) = &q.role {
            uri.push_str(&format!("&role={role}"));
        }
        uri
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        let mut query = MessageQuery::default();
        for (key, value) in parts.query(&["box", "unread", "case", "limit", "before", "role"])? {
            match key.as_str() {
                "box" => query.r#box = Some(value.clone()),
                "unread" => query.unread = parse_bool(key, value)?,
                "case" => {
                    query.case =
                        Some(value.parse().map_err(|_| BadRequest::new("bad_id", "case must be 32 hex digits"))?)
                }
                "limit" => query.limit = Some(value.parse().map_err(|_| bad_query("limit must be a number"))?),
                "role" => {
                    query.role = Some(
                        value
                            .parse()
                            .map_err(|e: hotline_core::ids::IdError| BadRequest::new("bad_role", e.to_string()))?,
                    )
                }
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

    // A long case is megabytes of JSON: encoded and decoded on every core.
    fn encode(answer: &Vec<MessageView>) -> serde_json::Result<Vec<u8>> {
        crate::parallel::encode_list(answer)
    }

    fn decode(bytes: &[u8]) -> serde_json::Result<Vec<MessageView>> {
        crate::parallel::decode_list(bytes)
    }
}

/// `POST /v1/messages/{id}/cancel`: withdraws the deliveries of a sent
/// message that are still queued; the message stays in the sent box,
/// marked cancelled, and is answered as it stands then.
#[derive(Clone, Copy, Debug)]
pub struct CancelMessage {
    /// The sent message.
    pub id: MessageId,
}

impl Endpoint for CancelMessage {
    const VERB: Verb = Verb::Post;
    const ROUTE: &'static str = "/v1/messages/{id}/cancel";
    type Answer = MessageView;
    type Error = CancelError;

    fn uri(&self) -> String {
        format!("/v1/messages/{}/cancel", self.id)
    }

    fn parse(parts: &Parts) -> Result<Self, BadRequest> {
        // The body, if any, carries nothing.
        parts.query(&[])?;
        Ok(CancelMessage { id: parts.id("message id")? })
    }

    async fn answer(self, node: &NodeHandle) -> Result<MessageView, CancelError> {
        node.cancel(self.id).await
    }
}
