//! A finished check's signed report, and the copy each targeted state
//! receives of it.

use super::*;

impl Actor {
    /// Signs the report of a finished check; the first time, also sends
    /// each targeted state its copy (its own lines and the aggregates, or
    /// the full report when the check shares it).
    pub(in crate::actor) fn comcheck_report(
        &mut self,
        id: CaseId,
        reply: oneshot::Sender<Result<ComcheckReportView, ReportError>>,
    ) {
        let now = self.now();
        let Some(check) = self.comchecks.checks.get(&id).cloned() else {
            let _ = reply.send(Err(ReportError::NoComcheck(id)));
            return;
        };
        if now <= check.deadline {
            let _ = reply.send(Err(ReportError::NotFinished(now.until(check.deadline) + 1)));
            return;
        }
        let lines: Vec<ReportLine> = check
            .targets
            .iter()
            .map(|t| ReportLine {
                target: t.address.clone(),
                outcome: outcome(&check, t, now),
                latency_secs: latency(&check, t),
            })
            .collect();
        let report = ComcheckReport {
            comcheck_id: id,
            initiator: check.initiator.clone(),
            started_at: check.started_at,
            deadline: check.deadline,
            task: check.task,
            announced: check.announced,
            issued_at: now,
            aggregates: Aggregates::of(&lines),
            lines,
            only_state: None,
        };
        let network = self.directory.dir.network_id();
        let signed = SignedComcheckReport::sign(report.clone(), &self.mail.node_key, &network);
        let mut sent_to = Vec::new();
        if !check.report_sent {
            let states: BTreeSet<StateCode> = check.targets.iter().map(|t| t.address.state).collect();
            for state in states {
                let copy = if check.share_full { report.clone() } else { report.for_state(state) };
                let copy = SignedComcheckReport::sign(copy, &self.mail.node_key, &network);
                let to = check
                    .targets
                    .iter()
                    .find(|t| t.address.state == state && t.challenge.is_some())
                    .map(|t| t.address.clone());
                let Some(to) = to else { continue };
                if self.send_report_copy(&check, to, &copy) {
                    sent_to.push(state);
                }
            }
            let marked = self.comchecks.checks.get_mut(&id).map(|c| {
                c.report_sent = true;
                c.clone()
            });
            if let Some(c) = marked {
                let mut batch = WriteBatch::new();
                batch.put_comcheck(id, &c);
                let event = hotline_evidence::EvidenceEvent::ComcheckReport {
                    comcheck_id: id.0,
                    report_hash: hotline_evidence::digest(&signed.to_bytes()),
                };
                self.log_event(&mut batch, event);
                self.persist_with(Vec::new(), batch, After::Nothing, Vec::new());
            }
        }
        let _ = reply.send(Ok(ComcheckReportView {
            signer: signed.signer.to_string(),
            signed_hex: hex::encode(signed.to_bytes()),
            report,
            sent_to,
        }));
    }

    pub(in crate::actor) fn send_report_copy(
        &mut self,
        check: &Comcheck,
        to: Address,
        copy: &SignedComcheckReport,
    ) -> bool {
        let lines: Vec<String> = copy.report.lines.iter().map(|l| format!("{}: {}", l.target, l.outcome)).collect();
        let request = SendRequest {
            to,
            from_role: Some(check.initiator.role.clone()),
            kind: MessageType::StatusUpdate,
            subject: format!("Communication check {} report", &check.id.to_string()[..8]),
            body: format!(
                "Report of communication check {}. {}. The signed report is attached.",
                check.id,
                if lines.is_empty() { "No line for your state".to_string() } else { lines.join("; ") }
            ),
            tlp: Some(Tlp::Green),
            severity: None,
            is_exercise: check.exercise,
            respond_by: None,
            case_id: Some(check.id),
            in_reply_to: None,
            lang: Some("en".into()),
            fields: None,
            force: false,
        };
        match self.prepare(request) {
            Ok((mut message, recipients)) => {
                message.attachments = vec![Attachment {
                    name: "comcheck-report.bin".into(),
                    media_type: REPORT_MEDIA_TYPE.into(),
                    data: copy.to_bytes(),
                }];
                self.seal_and_queue(message, recipients, WriteBatch::new(), Responder::nobody());
                true
            }
            Err(e) => {
                warn!(comcheck = %check.id, error = %e, "cannot send a report copy");
                false
            }
        }
    }
}
