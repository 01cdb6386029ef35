//! Running communication checks in the actor: starting them, sealing
//! their challenges, taking replies in, closing them at the deadline, and
//! what a view of them shows. The checks' own state and rules are the
//! parent module's; schedules, reports and answers have modules of their
//! own.

use super::*;

impl Actor {
    /// Starts a check: one challenge per targeted point of contact.
    pub(in crate::actor) fn start_comcheck(
        &mut self,
        request: ComcheckStartRequest,
        reply: oneshot::Sender<Result<ComcheckView, StartError>>,
    ) {
        match self.prepare_comcheck(request) {
            Ok((check, messages)) => self.launch(check, messages, WriteBatch::new(), Some(Responder::to(reply))),
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Seals a prepared check's challenges, then writes the check, the
    /// challenges and their outbox rows (with `batch`) in one durable batch
    /// (`Command::SealedGroup`): a crash can never leave a check whose
    /// challenges were not queued, which its signed report would blame on
    /// the targets as `undeliverable`.
    pub(in crate::actor) fn launch(
        &mut self,
        check: Comcheck,
        messages: Vec<(Message, Vec<hotline_core::NodeId>)>,
        mut batch: WriteBatch,
        reply: Option<Responder<ComcheckView>>,
    ) {
        let now = self.now();
        batch.put_comcheck(check.id, &check);
        info!(comcheck = %check.id, targets = check.targets.len(), task = ?check.task, "communication check started");
        let group = SealedGroup { extra: batch, comcheck: check.id, reply, view: Box::new(view(&check, now)) };
        self.comchecks.insert(check);
        self.seal_group(messages, group);
    }

    /// A check's challenges are sealed: write them with the check.
    pub(in crate::actor) fn queue_group(
        &mut self,
        group: SealedGroup,
        sealed: Vec<(Message, Vec<u8>, Vec<SealedFor>)>,
    ) {
        let now = self.now();
        let SealedGroup { mut extra, comcheck, reply, view } = group;
        let mut queued = Vec::with_capacity(sealed.len());
        for (message, bytes, envelopes) in sealed {
            self.stage_sent(&message, bytes, &envelopes, now, &mut extra);
            queued.push((message.msg_id, envelopes));
        }
        self.persist_with(
            Vec::new(),
            extra,
            After::GroupQueued { comcheck, queued, queued_at: now, reply, view },
            Vec::new(),
        );
    }

    /// Sealing a check's challenges failed: nothing was written.
    pub(in crate::actor) fn group_seal_failed(&mut self, group: SealedGroup, error: String) {
        warn!(comcheck = %group.comcheck, %error, "a communication check's challenges could not be sealed");
        self.comchecks.forget(group.comcheck);
        if let Some(reply) = group.reply {
            reply.send(Err(NodeError::Internal { code: "seal_failed", message: error }));
        }
    }

    /// The check and its challenges are durable (or not).
    pub(in crate::actor) fn on_group_queued(
        &mut self,
        result: Result<(), String>,
        comcheck: CaseId,
        queued: Vec<(MessageId, Vec<SealedFor>)>,
        queued_at: hotline_core::Timestamp,
        reply: Option<Responder<ComcheckView>>,
        view: ComcheckView,
    ) {
        match result {
            Ok(()) => {
                for (id, envelopes) in queued {
                    self.mail.sent.remove(&id);
                    self.on_queued(envelopes, id, queued_at);
                }
                if let Some(reply) = reply {
                    reply.send(Ok(view));
                }
            }
            Err(e) => {
                for (id, _) in &queued {
                    self.mail.sent.remove(id);
                }
                self.comchecks.forget(comcheck);
                if let Some(reply) = reply {
                    reply.send(Err(NodeError::StoreFailed(e)));
                }
            }
        }
    }

    #[allow(clippy::type_complexity)]
    pub(in crate::actor) fn prepare_comcheck(
        &self,
        request: ComcheckStartRequest,
    ) -> Result<(Comcheck, Vec<(Message, Vec<hotline_core::NodeId>)>), StartError> {
        let now = self.now();
        if request.deadline_secs == 0 || request.deadline_secs > MAX_DEADLINE_SECS {
            return Err(StartError::BadDeadline { max_secs: MAX_DEADLINE_SECS });
        }
        let deadline = now.plus(request.deadline_secs);
        let roles = match &request.role {
            Some(r) => vec![r.clone()],
            None => vec![Role::policy(), Role::technical()],
        };
        let states: BTreeSet<StateCode> = match &request.to {
            Some(list) if list.is_empty() => return Err(StartError::NoTarget("name at least one state")),
            Some(list) => list.iter().copied().collect(),
            None => self
                .directory
                .dir
                .records(now)
                .iter()
                .map(|v| v.record.record.state)
                .filter(|s| *s != self.state && self.directory.dir.is_admitted(*s, now))
                .collect(),
        };
        let id = CaseId(self.random.bytes()?);
        let initiator = Address { state: self.state, role: request.from_role.unwrap_or_else(Role::technical) };
        // The challenges are signed as this PoC: its record must list this node.
        let listed = self.directory.dir.record(self.state, &initiator.role).is_some_and(|r| {
            self.directory.dir.record_status(r, now).is_in_force() && r.record.nodes.contains(&self.mail.node_id)
        });
        if !listed {
            return Err(StartError::NotListed(initiator));
        }
        if request.to.as_ref().is_some_and(|l| l.contains(&self.state)) {
            return Err(StartError::OwnState(self.state));
        }
        let mut targets = Vec::new();
        let mut messages = Vec::new();
        for state in states {
            if !self.directory.dir.is_admitted(state, now) {
                // 400, not this node's own `not_admitted` (409): the request
                // names a state that cannot be checked.
                return Err(StartError::TargetNotAdmitted(state));
            }
            for role in &roles {
                if request.to.is_none() && self.directory.dir.record(state, role).is_none() {
                    continue;
                }
                let address = Address { state, role: role.clone() };
                let nonce = match request.task {
                    ComcheckTask::Nonce => Some(hex::encode(self.random.bytes::<4>()?)),
                    _ => None,
                };
                let send = SendRequest {
                    to: address.clone(),
                    from_role: Some(initiator.role.clone()),
                    kind: MessageType::ComcheckChallenge,
                    subject: format!("Communication check {}", &id.to_string()[..8]),
                    body: challenge_text(id, &address, request.task, nonce.as_deref(), deadline),
                    tlp: Some(Tlp::Green),
                    severity: None,
                    is_exercise: request.is_exercise,
                    respond_by: Some(deadline),
                    case_id: Some(id),
                    in_reply_to: None,
                    lang: Some("en".into()),
                    fields: Some(Fields::ComcheckChallenge {
                        comcheck_id: id,
                        deadline,
                        task: request.task,
                        nonce: nonce.clone(),
                        announced: request.announced,
                    }),
                    force: false,
                };
                let (challenge, note) = match self.prepare(send) {
                    Ok((message, recipients)) => {
                        let id = message.msg_id;
                        messages.push((message, recipients));
                        (Some(id), None)
                    }
                    Err(SendError::Node(e)) => return Err(e.into()),
                    // The target still counts: it is undeliverable, and why is noted.
                    Err(refused) => (None, Some(refused.to_string())),
                };
                targets.push(Target { address, challenge, nonce, observed: Observed::default(), note });
            }
        }
        if targets.is_empty() {
            return Err(StartError::NoTarget(
                "no point of contact matches: no record of those states and roles is held",
            ));
        }
        if targets.len() > MAX_TARGETS {
            return Err(StartError::TooManyTargets(MAX_TARGETS));
        }
        let check = Comcheck {
            id,
            initiator,
            started_at: now,
            deadline,
            task: request.task,
            announced: request.announced,
            exercise: request.is_exercise,
            share_full: request.share_full,
            targets,
            report_sent: false,
        };
        Ok((check, messages))
    }

    /// A challenge's receipt came back: the target's node has it. The
    /// check's row goes into `batch`, the receipt's own write, so that the
    /// report can never say `undeliverable` for a receipt that is stored.
    pub(in crate::actor) fn comcheck_receipted(&mut self, msg: MessageId, batch: &mut WriteBatch) {
        let Some((id, i)) = self.comchecks.challenges.get(&msg).copied() else { return };
        let now = self.now();
        let Some(check) = self.comchecks.checks.get_mut(&id) else { return };
        let Some(target) = check.targets.get_mut(i) else { return };
        if target.observed.receipted_at.is_none() {
            target.observed.receipted_at = Some(now);
        }
        // Written with every receipt of it, even when the time was already
        // set in memory: a first write that failed must not be the only one.
        batch.put_comcheck(id, &check);
    }

    /// A reply to one of our checks arrived (its sender is verified):
    /// judge it, and write the check with the reply message (`batch`).
    pub(in crate::actor) fn comcheck_reply(&mut self, message: &Message, batch: &mut WriteBatch) {
        let Fields::ComcheckReply { comcheck_id, code, confirmed_record } = &message.fields else { return };
        let now = self.now();
        let from = &message.from;
        let Some(check) = self.comchecks.checks.get(comcheck_id) else { return };
        let wanted_role = |t: &Target| {
            if check.task == ComcheckTask::Counterpart {
                t.address.role != from.role
            } else {
                t.address.role == from.role
            }
        };
        let open = |t: &Target| t.address.state == from.state && t.observed.reply.is_none();
        // The target this reply answers; a reply from the wrong role still
        // counts against the state's open target (and fails its task).
        let Some(i) = check
            .targets
            .iter()
            .position(|t| open(t) && wanted_role(t))
            .or_else(|| check.targets.iter().position(open))
        else {
            return;
        };
        let target = &check.targets[i];
        let current = self
            .directory
            .dir
            .entry(&ObjectKey::Record(target.address.state, target.address.role.clone()))
            .map(|e| e.hash);
        let ok = task_satisfied(
            check.task,
            &target.address,
            from,
            target.nonce.as_deref(),
            code.as_deref(),
            confirmed_record.as_ref(),
            current.as_ref(),
        );
        let Some(check) = self.comchecks.checks.get_mut(comcheck_id) else { return };
        let target = &mut check.targets[i];
        target.observed.reply = Some(Reply { at: now, ok });
        if !ok {
            target.note = Some(format!("the reply from {from} did not satisfy the task"));
        }
        info!(comcheck = %comcheck_id, target = %target.address, from = %from, ok, "comcheck reply");
        batch.put_comcheck(*comcheck_id, &check);
    }

    /// The points of contact whose last two finished checks (run by this
    /// node) both failed: no receipt, no answer, or a failed task. Their
    /// records show as `unconfirmed` here; nothing changes in the records.
    pub(in crate::actor) fn unconfirmed(&self, now: Timestamp) -> BTreeSet<Address> {
        let mut history: BTreeMap<&Address, Vec<(Timestamp, hotline_core::comcheck::Outcome)>> = BTreeMap::new();
        for check in self.comchecks.checks.values().filter(|c| now > c.deadline) {
            for t in &check.targets {
                history.entry(&t.address).or_default().push((check.deadline, outcome(check, t, now)));
            }
        }
        history
            .into_iter()
            .filter_map(|(address, mut outcomes)| {
                outcomes.sort_by_key(|(deadline, _)| *deadline);
                let last_two = outcomes.iter().rev().take(2);
                let failed = |o: &hotline_core::comcheck::Outcome| {
                    use hotline_core::comcheck::Outcome::*;
                    matches!(o, Undeliverable | NoResponse | FailKey)
                };
                (outcomes.len() >= 2 && last_two.clone().all(|(_, o)| failed(o))).then(|| address.clone())
            })
            .collect()
    }

    pub(in crate::actor) fn comcheck_view(&self, id: CaseId) -> Result<ComcheckView, NodeError> {
        let check =
            self.comchecks.checks.get(&id).ok_or_else(|| NodeError::NotFound(format!("no comcheck {id} is held")))?;
        Ok(view(check, self.now()))
    }

    pub(in crate::actor) fn comcheck_list(&self) -> Vec<ComcheckView> {
        let now = self.now();
        let mut out: Vec<ComcheckView> = self.comchecks.checks.values().map(|c| view(c, now)).collect();
        out.sort_by_key(|v| (v.started_at, v.comcheck_id));
        out
    }
}
