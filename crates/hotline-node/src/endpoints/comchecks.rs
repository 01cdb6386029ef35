//! The endpoints of communication checks: starting, reading, reporting,
//! answering, and the periodic schedules.

use super::*;
use crate::api_types::{
    ComcheckAnswerRequest, ComcheckReportView, ComcheckScheduleRequest, ComcheckScheduleView, ComcheckStartRequest,
    ComcheckView, SendResponse,
};
use crate::error::{AnswerError, ReportError, ScheduleError, StartError};
use hotline_core::CaseId;
use serde::Deserialize;

plain_get!(
    /// `GET /v1/comchecks`: every communication check held.
    ListComchecks, "/v1/comchecks", Vec<ComcheckView>, comcheck_list
);
plain_get!(
    /// `GET /v1/comchecks/schedules`: the periodic checks.
    ListSchedules, "/v1/comchecks/schedules", Vec<ComcheckScheduleView>, comcheck_schedules
);

create_from_body!(
    /// `POST /v1/comchecks`: starts a communication check (201).
    StartComcheck(ComcheckStartRequest), "/v1/comchecks", ComcheckView, StartError, comcheck_start
);

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

create_from_body!(
    /// `POST /v1/comchecks/schedules`: a periodic, unannounced check (201).
    AddSchedule(ComcheckScheduleRequest), "/v1/comchecks/schedules", ComcheckScheduleView, ScheduleError, comcheck_schedule
);

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
