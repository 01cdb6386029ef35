//! The status feature: what `status`, `peers` and the freshness warnings
//! show, built from the actor's state.

use super::*;

impl Actor {
    /// Starts a health check: a probe row written through the commit queue
    /// like any change; the answer goes out once the write has succeeded or
    /// failed.
    pub(super) async fn health(&mut self, reply: oneshot::Sender<crate::api_types::HealthView>) {
        let now = self.now();
        let peers = self.net.connected_peers().await.unwrap_or_default();
        let connected_members = peers.iter().filter(|p| p.member && p.peer != self.local_peer).count();
        let admitted = self.directory.dir.is_admitted(self.state, now);
        let mut batch = WriteBatch::new();
        batch.probe_health(now);
        self.persist_with(Vec::new(), batch, After::Health { reply, admitted, connected_members }, Vec::new());
    }

    pub(super) async fn status(&mut self) -> StatusView {
        let now = self.now();
        let peers = self.net.connected_peers().await.unwrap_or_default();
        let (digest, summary) = self.digest_and_summary();
        StatusView {
            state: self.state.to_string(),
            admitted: self.directory.dir.is_admitted(self.state, now),
            peer_id: self.local_peer.to_string(),
            network_id: self.directory.dir.network_id().to_string(),
            charter_name: self.directory.dir.charter().charter.name.clone(),
            listen_addrs: self.listen.borrow().iter().map(|a| a.to_string()).collect(),
            gossip: self.gossip,
            connected_peers: peers.len(),
            connected_members: peers.iter().filter(|p| p.member).count(),
            member_nodes: self.directory.dir.member_nodes(now).len(),
            admitted_states: views::admitted_states(&self.directory.dir, now),
            digest_hash: summary.hash,
            live_objects: digest.len(),
            records: self.directory.dir.entries().filter(|(k, _)| matches!(k, ObjectKey::Record(..))).count(),
            pending: self.directory.dir.pending_len(),
            signature_checks: self.directory.dir.signature_checks(),
            inbound_bytes: {
                let b = self.net.budgets();
                crate::api_types::InboundBytesView {
                    reading: b.reading.used(),
                    reading_limit: b.reading.limit(),
                    reading_refused: b.reading.refused(),
                    reading_sync: b.reading_sync.used(),
                    reading_sync_refused: b.reading_sync.refused(),
                    reading_stranger_sync: b.reading_stranger_sync.used(),
                    reading_stranger_sync_limit: b.reading_stranger_sync.limit(),
                    reading_stranger_sync_refused: b.reading_stranger_sync.refused(),
                    queued: b.queued.used(),
                    queued_limit: b.queued.limit(),
                    queued_refused: b.queued.refused(),
                    stranger_gossip_ignored: b.strangers.gossip_ignored.load(std::sync::atomic::Ordering::Relaxed),
                    stranger_envelopes_refused: b
                        .strangers
                        .envelopes_refused
                        .load(std::sync::atomic::Ordering::Relaxed),
                    strangers_disconnected: b.strangers.disconnected.load(std::sync::atomic::Ordering::Relaxed),
                }
            },
            rejections: self.directory.rejections.clone(),
            store_failures: self.store_failures,
            own_records: self.own_records(now),
            warnings: self.warnings(now),
            delivery_rejections: self.mail.rejections.clone(),
            sync_exchanges: self.sync_exchanges.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            messages: self.store.message_count().unwrap_or(0) as usize,
            outbox: self.mail.schedule.len(),
            outbox_in_flight: self.mail.schedule.in_flight(),
            receipts_waiting: self.mail.received.len() + self.mail.duplicates.values().map(Vec::len).sum::<usize>(),
            links_closed_dead: self.net.link_counts().dead_links.load(std::sync::atomic::Ordering::Relaxed),
            links_closed_restarted: self.net.link_counts().restarts.load(std::sync::atomic::Ordering::Relaxed),
            now,
            uptime_secs: self.started.elapsed().as_secs(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// Shows as `unconfirmed` the records in force whose PoC failed the last
    /// two checks this node ran.
    pub(super) fn mark_unconfirmed(&self, records: &mut [RecordEntry], now: Timestamp) {
        let unconfirmed = self.unconfirmed(now);
        if unconfirmed.is_empty() {
            return;
        }
        for r in records.iter_mut().filter(|r| matches!(r.status, RecordState::Current | RecordState::Expiring)) {
            let address = hotline_core::Address { state: r.record.state, role: r.record.role.clone() };
            if unconfirmed.contains(&address) {
                r.status = RecordState::Unconfirmed;
            }
        }
    }

    /// This state's own records held, with their expiry.
    pub(super) fn own_records(&self, now: Timestamp) -> Vec<crate::api_types::OwnRecordView> {
        self.directory
            .dir
            .records(now)
            .into_iter()
            .filter(|v| v.record.record.state == self.state)
            .map(|v| {
                let r = &v.record.record;
                let secs = i64::try_from(r.expires.0).unwrap_or(i64::MAX) - i64::try_from(now.0).unwrap_or(0);
                crate::api_types::OwnRecordView {
                    role: r.role.clone(),
                    seq: r.seq,
                    expires: r.expires,
                    status: v.status.into(),
                    days_left: secs.div_euclid(DAY as i64),
                }
            })
            .collect()
    }

    /// One line per thing the operator should act on.
    pub(super) fn warnings(&self, now: Timestamp) -> Vec<String> {
        self.own_records(now)
            .into_iter()
            .filter_map(|r| {
                let key = format!("{}/{}", self.state, r.role);
                match r.days_left {
                    d if d < 0 || r.status == "expired" => {
                        Some(format!("the contact record {key} has expired: publish a new version now"))
                    }
                    d if d < FRESHNESS_WARNINGS[0] => Some(format!(
                        "the contact record {key} expires in {d} days ({}): publish a new version (CBM 8 asks for an annual update)",
                        r.expires
                    )),
                    _ => None,
                }
            })
            .collect()
    }

    /// Warns (log and event) when one of this state's records comes within
    /// 60, then 30 days of its expiry; once per threshold and version.
    pub(super) fn check_freshness(&mut self) {
        let now = self.now();
        for r in self.own_records(now) {
            let key = ObjectKey::Record(self.state, r.role.clone());
            let Some(threshold) = FRESHNESS_WARNINGS.iter().copied().filter(|t| r.days_left < *t).min() else {
                continue;
            };
            let already = self.freshness_warned.get(&key).is_some_and(|(seq, t)| *seq == r.seq && *t <= threshold);
            if already {
                continue;
            }
            self.freshness_warned.insert(key.clone(), (r.seq, threshold));
            warn!(record = %key, days_left = r.days_left, expires = %r.expires, "our contact record expires soon: publish a new version");
            self.emit(NodeEvent::RecordExpiring { key: key.to_string(), days_left: r.days_left });
        }
    }

    pub(super) async fn peers(&self) -> Result<Vec<PeerView>, NodeError> {
        let mut peers: Vec<PeerView> = self
            .net
            .connected_peers()
            .await?
            .into_iter()
            .map(|p| PeerView {
                peer_id: p.peer.to_string(),
                state: self.directory.members.get(&p.peer).map(|s| s.to_string()),
                addrs: p.addrs.iter().map(|a| a.to_string()).collect(),
                rtt_ms: p.rtt.map(|d| d.as_secs_f64() * 1000.0),
                silent_ms: u64::try_from(p.silent_for.as_millis()).unwrap_or(u64::MAX),
                member: p.member,
                gossip_score: p.gossip_score,
            })
            .collect();
        peers.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        Ok(peers)
    }
}
