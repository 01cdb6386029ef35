//! Periodic, unannounced checks: adding and removing a schedule, and
//! starting the runs that have come due.

use super::*;

impl Actor {
    /// Adds a periodic, unannounced check.
    pub(in crate::actor) fn add_schedule(
        &mut self,
        request: ComcheckScheduleRequest,
    ) -> Result<ComcheckScheduleView, ScheduleError> {
        let every = request.every_secs;
        if every < MIN_PERIOD_SECS {
            return Err(ScheduleError::BadPeriod(format!("the period must be at least {MIN_PERIOD_SECS} s")));
        }
        if request.check.deadline_secs >= every {
            return Err(ScheduleError::BadPeriod("the period must be longer than the check's deadline".into()));
        }
        let mut check = request.check;
        check.announced = false;
        // Refuse now what would fail at every run.
        self.prepare_comcheck(check.clone())?;
        let now = self.now();
        let id = CaseId(self.random.bytes()?);
        let schedule = Schedule::first(id, every, check, now, self.random.u64()?);
        let mut batch = WriteBatch::new();
        batch.put_schedule(schedule.id, &schedule);
        self.persist_with(Vec::new(), batch, After::Nothing, Vec::new());
        info!(schedule = %schedule.id, every_secs = every, "periodic communication check scheduled");
        let view = schedule.view();
        self.comchecks.schedules.insert(schedule.id, schedule);
        Ok(view)
    }

    pub(in crate::actor) fn remove_schedule(&mut self, id: CaseId) -> Result<(), ScheduleError> {
        if self.comchecks.schedules.remove(&id).is_none() {
            return Err(ScheduleError::NoSchedule(id));
        }
        let mut batch = WriteBatch::new();
        batch.delete_schedule(id);
        self.persist_with(Vec::new(), batch, After::Nothing, Vec::new());
        Ok(())
    }

    pub(in crate::actor) fn schedules(&self) -> Vec<ComcheckScheduleView> {
        self.comchecks.schedules.values().map(Schedule::view).collect()
    }

    /// Starts the checks whose time has come, and picks each schedule's
    /// time in its next period. A node that was down past a period runs
    /// one check when it is back, not one per missed period.
    pub(in crate::actor) fn run_due_schedules(&mut self) {
        let now = self.now();
        let due: Vec<CaseId> = self.comchecks.schedules.values().filter(|s| s.next_at <= now).map(|s| s.id).collect();
        for id in due {
            let Some(mut schedule) = self.comchecks.schedules.get(&id).cloned() else { continue };
            if let Err(e) = schedule.advance(now, self.random.u64()) {
                warn!(schedule = %id, error = %e, "cannot pick the next time of a scheduled check");
                continue;
            }
            let mut batch = WriteBatch::new();
            match self.prepare_comcheck(schedule.check.clone()) {
                Ok((check, messages)) => {
                    schedule.record_run(check.id);
                    batch.put_schedule(id, &schedule);
                    self.comchecks.schedules.insert(id, schedule);
                    self.launch(check, messages, batch, None);
                }
                Err(e) => {
                    warn!(schedule = %id, error = %e, "a scheduled communication check could not start");
                    batch.put_schedule(id, &schedule);
                    self.comchecks.schedules.insert(id, schedule);
                    self.persist_with(Vec::new(), batch, After::Nothing, Vec::new());
                }
            }
        }
    }
}
