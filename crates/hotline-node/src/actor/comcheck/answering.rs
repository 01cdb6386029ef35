//! Answering a challenge received: the answer goes out as a reply,
//! unless it would fail the check for certain.

use super::*;

impl Actor {
    /// Refuses an answer that would fail the check for certain, and for
    /// good (the initiator keeps the first reply): a code other than the
    /// one the challenge carries, a role that cannot satisfy the task, or
    /// a second answer to the same challenge.
    fn answer_would_fail(
        &self,
        task: ComcheckTask,
        challenge: &Message,
        role: &Role,
        code: Option<&str>,
    ) -> Result<(), AnswerError> {
        let challenged = &challenge.to.role;
        if let Fields::ComcheckChallenge { nonce: Some(nonce), .. } = &challenge.fields
            && task == ComcheckTask::Nonce
            && !code.is_some_and(|c| c.trim().eq_ignore_ascii_case(nonce.trim()))
        {
            return Err(AnswerError::CodeMismatch(nonce.clone()));
        }
        let role_fails = match task {
            ComcheckTask::Counterpart => role == challenged,
            _ => role != challenged,
        };
        if role_fails {
            let must = match task {
                ComcheckTask::Counterpart => format!("a role other than {challenged}"),
                _ => challenged.to_string(),
            };
            return Err(AnswerError::WrongRole { must, role: role.to_string() });
        }
        for id in self.store.case(&challenge.case_id)? {
            let Some(MessageRow::Sent(row)) = self.store.message(&id)? else { continue };
            let Ok(m) = Message::from_bytes(&row.message) else { continue };
            if m.kind == MessageType::ComcheckReply && m.in_reply_to == Some(challenge.msg_id) {
                return Err(AnswerError::AlreadyAnswered(id));
            }
        }
        Ok(())
    }

    /// Answers a challenge this node received.
    pub(in crate::actor) fn comcheck_answer(
        &mut self,
        id: CaseId,
        request: ComcheckAnswerRequest,
        reply: oneshot::Sender<Result<SendResponse, AnswerError>>,
    ) {
        let result = (|| {
            let mut found = Vec::new();
            // The challenges of check `id` are in its case; `id` may also be
            // a challenge's own message id.
            let mut ids = self.store.case(&id)?;
            if !ids.contains(&MessageId(id.0)) {
                ids.push(MessageId(id.0));
            }
            for msg_id in ids {
                let Some(MessageRow::Received(r)) = self.store.message(&msg_id)? else { continue };
                let Ok(m) = Message::from_bytes(&r.message) else { continue };
                if let Fields::ComcheckChallenge { comcheck_id, task, .. } = &m.fields
                    && (*comcheck_id == id || msg_id.0 == id.0)
                {
                    found.push((*task, m));
                }
            }
            let pick = |(task, m): &(ComcheckTask, Message)| {
                let role = request.role.clone().unwrap_or_else(|| {
                    if *task == ComcheckTask::Counterpart { other_role(&m.to.role) } else { m.to.role.clone() }
                });
                (*task, m.clone(), role)
            };
            let chosen = match &request.role {
                // The challenge to that role, else (counterpart) to the other.
                Some(role) => found
                    .iter()
                    .find(|(t, m)| {
                        (*t != ComcheckTask::Counterpart && m.to.role == *role)
                            || (*t == ComcheckTask::Counterpart && m.to.role != *role)
                    })
                    .or(found.first()),
                None => found.first(),
            };
            let Some(chosen) = chosen else {
                return Err(AnswerError::NoChallenge(id));
            };
            let (task, challenge, role) = pick(chosen);
            let Fields::ComcheckChallenge { comcheck_id, .. } = challenge.fields else {
                return Err(AnswerError::NoChallenge(id));
            };
            if task == ComcheckTask::Nonce && request.code.as_deref().is_none_or(str::is_empty) {
                return Err(AnswerError::CodeRequired);
            }
            if !request.force {
                self.answer_would_fail(task, &challenge, &role, request.code.as_deref())?;
            }
            let confirmed_record = (task == ComcheckTask::ConfirmRecord)
                .then(|| self.directory.dir.entry(&ObjectKey::Record(self.state, role.clone())).map(|e| e.hash))
                .flatten();
            let send = SendRequest {
                to: challenge.from.clone(),
                from_role: Some(role),
                kind: MessageType::ComcheckReply,
                subject: format!("Re: {}", challenge.subject),
                body: String::new(),
                tlp: Some(challenge.tlp),
                severity: None,
                is_exercise: challenge.is_exercise,
                respond_by: None,
                case_id: Some(challenge.case_id),
                in_reply_to: Some(challenge.msg_id),
                lang: challenge.lang.clone(),
                fields: Some(Fields::ComcheckReply { comcheck_id, code: request.code.clone(), confirmed_record }),
                force: false,
            };
            Ok(self.prepare(send)?)
        })();
        match result {
            Ok((message, recipients)) => {
                self.seal_and_queue(message, recipients, WriteBatch::new(), Responder::to(reply))
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }
}
