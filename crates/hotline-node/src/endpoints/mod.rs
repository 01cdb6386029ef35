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

use crate::api_types::{LivenessView, PeerView, StatusView};
use crate::error::{ApiFailure, NodeError};
use crate::handle::NodeHandle;
use hotline_core::{Role, StateCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::str::FromStr;

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

    /// The answer as the server writes it: JSON. An endpoint whose answers
    /// run to megabytes may spread the work (the same bytes either way).
    fn encode(answer: &Self::Answer) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(answer)
    }

    /// The answer as the client reads it back.
    fn decode(bytes: &[u8]) -> serde_json::Result<Self::Answer> {
        serde_json::from_slice(bytes)
    }
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

    /// The `{name}` parameter, a node's peer id.
    fn node(&self, name: &str) -> Result<hotline_core::NodeId, BadRequest> {
        hotline_core::NodeId::from_peer_id(self.param(name)?)
            .map_err(|e| BadRequest::new("bad_node", format!("{name} is not a node's peer id: {e}")))
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

/// An endpoint that creates something from a JSON body at a fixed route:
/// its type wraps the body, and the node answers through `$call` (201).
macro_rules! create_from_body {
    ($(#[$doc:meta])* $name:ident($body:ty), $route:literal, $answer:ty, $error:ty, $call:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name(pub $body);

        impl Endpoint for $name {
            const VERB: Verb = Verb::Post;
            const ROUTE: &'static str = $route;
            const CREATES: bool = true;
            type Answer = $answer;
            type Error = $error;

            fn uri(&self) -> String {
                $route.to_string()
            }

            fn body(&self) -> Option<Result<Vec<u8>, serde_json::Error>> {
                json(&self.0)
            }

            fn parse(parts: &Parts) -> Result<Self, BadRequest> {
                parts.query(&[])?;
                Ok($name(parts.json()?))
            }

            async fn answer(self, node: &NodeHandle) -> Result<$answer, $error> {
                node.$call(self.0).await
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
    /// `GET /v1/evidence`: the evidence log's head and latest checkpoint.
    GetEvidence, "/v1/evidence", crate::api_types::EvidenceView, evidence
);

mod comchecks;
mod directory;
mod messages;
pub use comchecks::*;
pub use directory::*;
pub use messages::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_types::{AckRequest, MessageQuery};
    use hotline_core::{CaseId, MessageId};

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
            role: Some(Role::policy()),
        };
        let back = round_trip(&ListMessages(query.clone())).0;
        assert_eq!(
            (back.r#box, back.unread, back.case, back.limit, back.before, back.role),
            (query.r#box, true, Some(case), Some(50), query.before, Some(Role::policy()))
        );
        assert_eq!(round_trip(&FindIds { prefix: "abc1".into() }).prefix, "abc1");
        let m = round_trip(&GetMessage { id, mark_read: true });
        assert_eq!((m.id, m.mark_read), (id, true));
        assert_eq!(round_trip(&WaitDelivered { id, timeout_secs: 5 }).timeout_secs, 5);
        let ack = round_trip(&AckMessage { id, request: AckRequest { note: Some("seen".into()) } });
        assert_eq!((ack.id, ack.request.note.as_deref()), (id, Some("seen")));
        assert_eq!(round_trip(&GetThread { case }).case, case);
        assert_eq!(round_trip(&CancelMessage { id }).id, id);
        let withdraw = WithdrawRecord {
            role: Role::policy(),
            request: crate::api_types::WithdrawRequest { reason: "staff change".into() },
        };
        let back = round_trip(&withdraw);
        assert_eq!((back.role, back.request.reason.as_str()), (Role::policy(), "staff change"));
        let node = hotline_core::SecretKey::from_seed(&[7; 32]).node_id();
        let revoke = RevokeNode { node, request: crate::api_types::RevokeNodeRequest { reason: "stolen".into() } };
        let back = round_trip(&revoke);
        assert_eq!((back.node, back.request.reason.as_str()), (node, "stolen"));
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
