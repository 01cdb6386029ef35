//! The node's Prometheus metrics (`GET /metrics`, OpenMetrics text).
//!
//! Two kinds. **Live** instruments are counted where things happen, in the
//! actor: redials, deliveries receipted or failed by reason, receipt
//! latency. **Snapshot** values (connections, directory size, the outbox,
//! what the network refused) already live in the status and liveness
//! views; a scrape takes one of each and `Metrics::encode` writes them out
//! through a collector, so there is one home for each number. Label values
//! come from fixed sets of our own codes, never from what a peer sent, so a
//! peer cannot grow the series.

use crate::api_types::{LivenessView, StatusView};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How long a scrape's text is reused for the next ones.
pub(crate) const SCRAPE_REUSE: Duration = Duration::from_secs(1);

/// The content type of the metrics text (OpenMetrics 1.0).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Why a delivery attempt failed, as a metric label.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct FailureLabel {
    /// One of [`FailureReason`]'s words.
    pub reason: FailureReason,
}

/// The reasons a delivery attempt fails, a fixed set.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub(crate) enum FailureReason {
    /// The network could not carry it (no connection, timeout, closed).
    transport,
    /// The recipient node refused the envelope.
    refused,
    /// The receipt did not verify.
    bad_receipt,
    /// It could not be sealed (no prekey bundle yet, or sealing failed).
    not_sealed,
}

/// The instruments the actor counts into.
#[derive(Clone, Debug)]
pub(crate) struct LiveMetrics {
    /// Dials of a member whose last connection closed.
    pub member_redials: Counter,
    /// Deliveries whose receipt is durable.
    pub delivered: Counter,
    /// Failed delivery attempts, by reason.
    pub delivery_failures: Family<FailureLabel, Counter>,
    /// From a message being queued for a node to its receipt being durable.
    pub receipt_latency: Histogram,
}

impl LiveMetrics {
    fn new() -> LiveMetrics {
        LiveMetrics {
            member_redials: Counter::default(),
            delivered: Counter::default(),
            delivery_failures: Family::default(),
            // 10 ms to about 5 minutes (a recipient node that was down).
            receipt_latency: Histogram::new(exponential_buckets(0.01, 2.0, 15)),
        }
    }

    /// A delivery attempt failed for `reason`.
    pub(crate) fn delivery_failed(&self, reason: FailureReason) {
        self.delivery_failures.get_or_create(&FailureLabel { reason }).inc();
    }

    /// A delivery was receipted `latency` after it was queued.
    pub(crate) fn receipted(&self, latency: Duration) {
        self.delivered.inc();
        self.receipt_latency.observe(latency.as_secs_f64());
    }
}

/// What a scrape reads from the status and liveness views.
#[derive(Clone, Debug, Default)]
struct Snapshot {
    status: Option<StatusView>,
    liveness: Vec<LivenessView>,
    evidence: Option<crate::api_types::EvidenceView>,
}

/// Writes the snapshot values out at each scrape.
#[derive(Debug, Default)]
struct SnapshotCollector {
    latest: Mutex<Snapshot>,
}

/// The node's metrics: the registry, the live instruments and the latest
/// snapshot. Shared between the actor and the API.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    snapshot: Arc<SnapshotCollector>,
    pub(crate) live: LiveMetrics,
    /// The last scrape's text and when it was made (see
    /// `NodeHandle::metrics_text`); the lock also makes scrapes one at a time.
    pub(crate) last_scrape: tokio::sync::Mutex<Option<(tokio::time::Instant, String)>>,
}

impl Metrics {
    /// A fresh set of metrics, every series under the `hotline_` prefix.
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("hotline");
        let live = LiveMetrics::new();
        registry.register(
            "member_redials",
            "Dials of a member node whose last connection closed",
            live.member_redials.clone(),
        );
        registry.register("deliveries_receipted", "Deliveries whose receipt is durable", live.delivered.clone());
        registry.register(
            "delivery_failures",
            "Failed delivery attempts, by reason (transport, refused, bad_receipt, not_sealed)",
            live.delivery_failures.clone(),
        );
        registry.register(
            "receipt_latency_seconds",
            "From a message being queued for a node to its receipt being durable",
            live.receipt_latency.clone(),
        );
        let snapshot = Arc::new(SnapshotCollector::default());
        registry.register_collector(Box::new(Arc::clone(&snapshot)));
        Metrics { registry, snapshot, live, last_scrape: tokio::sync::Mutex::new(None) }
    }

    /// The metrics as OpenMetrics text, with `status` and `liveness` as the
    /// snapshot values.
    pub(crate) fn encode(
        &self,
        status: StatusView,
        liveness: Vec<LivenessView>,
        evidence: Option<crate::api_types::EvidenceView>,
    ) -> String {
        // Concurrent scrapes write whole snapshots, one after the other.
        let mut latest = self.snapshot.latest.lock().unwrap_or_else(PoisonError::into_inner);
        *latest = Snapshot { status: Some(status), liveness, evidence };
        drop(latest);
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// A const metric with labels, one series per `(label value, number)`.
fn labelled<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    label: &'static str,
    series: impl IntoIterator<Item = (String, M)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (value, m) in series {
        let labels = [(label, value.as_str())];
        m.encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn single<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    m: M,
) -> Result<(), std::fmt::Error> {
    let kind = m.metric_type();
    m.encode(encoder.encode_descriptor(name, help, None, kind)?)
}

fn counter(v: u64) -> ConstCounter<u64> {
    ConstCounter::new(v)
}

fn gauge_u64(v: u64) -> ConstGauge<i64> {
    ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX))
}

fn gauge(v: usize) -> ConstGauge<i64> {
    ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX))
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snapshot = self.latest.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let Some(s) = snapshot.status else { return Ok(()) };
        if let Some(ev) = &snapshot.evidence {
            single(&mut e, "evidence_log_leaves", "Leaves in this node's evidence log", gauge_u64(ev.size))?;
            let checkpoint = ev.checkpoint.as_ref();
            single(
                &mut e,
                "evidence_checkpoint_leaves",
                "Leaves covered by the latest signed checkpoint (0: none signed yet)",
                gauge_u64(checkpoint.map_or(0, |c| c.size)),
            )?;
            single(
                &mut e,
                "evidence_checkpoint_signed_at_seconds",
                "When the latest checkpoint was signed (Unix seconds; 0: none)",
                gauge_u64(checkpoint.map_or(0, |c| c.signed_at.0)),
            )?;
            single(
                &mut e,
                "evidence_checkpoint_cosignatures",
                "Witnesses that cosigned the latest checkpoint",
                gauge(checkpoint.map_or(0, |c| c.cosigned_by.len())),
            )?;
            single(
                &mut e,
                "evidence_equivocations",
                "Nodes this node holds proof of having rewritten their evidence log",
                gauge(ev.equivocations.len()),
            )?;
        }
        let members = &snapshot.liveness;
        let connected = members.iter().filter(|m| m.connected).count();
        let unreachable = members.iter().filter(|m| !m.connected && m.unreachable_since.is_some()).count();
        let never = members.len() - connected - unreachable;
        labelled(
            &mut e,
            "member_nodes",
            "Other member nodes by state: connected and heard from, unreachable (connected before), never connected since start",
            MetricType::Gauge,
            "state",
            [("connected", connected), ("unreachable", unreachable), ("never_connected", never)]
                .map(|(k, v)| (k.to_string(), gauge(v))),
        )?;
        let strangers = s.connected_peers.saturating_sub(s.connected_members);
        labelled(
            &mut e,
            "connected_peers",
            "Connected peers, members and strangers",
            MetricType::Gauge,
            "kind",
            [("member", s.connected_members), ("stranger", strangers)].map(|(k, v)| (k.to_string(), gauge(v))),
        )?;
        single(
            &mut e,
            "dead_links_closed",
            "Connections closed because nothing answered for the dead-link bound",
            counter(s.links_closed_dead),
        )?;
        single(
            &mut e,
            "restart_links_closed",
            "Connections closed because their peer came back with a new boot id",
            counter(s.links_closed_restarted),
        )?;
        labelled(
            &mut e,
            "deliveries",
            "Deliveries in the outbox: queued (all) and in flight now",
            MetricType::Gauge,
            "state",
            [("queued", s.outbox), ("in_flight", s.outbox_in_flight)].map(|(k, v)| (k.to_string(), gauge(v))),
        )?;
        single(&mut e, "directory_objects", "Live objects in the directory", gauge(s.live_objects))?;
        single(&mut e, "directory_pending", "Objects waiting for their parent", gauge(s.pending))?;
        single(&mut e, "directory_records", "Contact records in force", gauge(s.records))?;
        single(&mut e, "admitted_states", "States admitted to the network", gauge(s.admitted_states))?;
        labelled(
            &mut e,
            "sync_exchanges",
            "Sync exchanges this node started, by outcome",
            MetricType::Counter,
            "outcome",
            s.sync_exchanges.iter().map(|(k, v)| (k.clone(), counter(*v))),
        )?;
        labelled(
            &mut e,
            "rejected_objects",
            "Directory objects refused, by reason code",
            MetricType::Counter,
            "reason",
            s.rejections.iter().map(|(k, v)| (k.clone(), counter(*v))),
        )?;
        labelled(
            &mut e,
            "rejected_envelopes",
            "Envelopes this node refused, by reason code",
            MetricType::Counter,
            "reason",
            s.delivery_rejections.iter().map(|(k, v)| (k.clone(), counter(*v))),
        )?;
        let b = &s.inbound_bytes;
        single(
            &mut e,
            "strangers_disconnected",
            "Strangers disconnected at the end of their grace window",
            counter(b.strangers_disconnected),
        )?;
        single(
            &mut e,
            "stranger_envelopes_refused",
            "Envelopes from strangers refused (not_a_member)",
            counter(b.stranger_envelopes_refused),
        )?;
        single(
            &mut e,
            "stranger_gossip_ignored",
            "Gossip messages from strangers ignored",
            counter(b.stranger_gossip_ignored),
        )?;
        labelled(
            &mut e,
            "inbound_bytes",
            "Inbound request bytes held now, by budget",
            MetricType::Gauge,
            "budget",
            [
                ("reading", b.reading),
                ("reading_sync", b.reading_sync),
                ("reading_stranger_sync", b.reading_stranger_sync),
                ("queued", b.queued),
            ]
            .map(|(k, v)| (k.to_string(), gauge(v))),
        )?;
        labelled(
            &mut e,
            "inbound_refused",
            "Inbound requests refused because their budget was spent, by budget",
            MetricType::Counter,
            "budget",
            [
                ("reading", b.reading_refused),
                ("reading_sync", b.reading_sync_refused),
                ("reading_stranger_sync", b.reading_stranger_sync_refused),
                ("queued", b.queued_refused),
            ]
            .map(|(k, v)| (k.to_string(), counter(u64::try_from(v).unwrap_or(u64::MAX)))),
        )?;
        single(&mut e, "store_failures", "Writes to the store that failed", counter(s.store_failures))?;
        single(&mut e, "messages", "Messages in the store", gauge(s.messages))?;
        single(&mut e, "uptime_seconds", "Seconds since the node started", counter(s.uptime_secs))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_counters_and_labels_come_out_in_the_text_format() {
        let metrics = Metrics::new();
        metrics.live.member_redials.inc();
        metrics.live.delivery_failed(FailureReason::transport);
        metrics.live.delivery_failed(FailureReason::transport);
        metrics.live.receipted(Duration::from_millis(30));
        // No status yet: the live series only.
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &metrics.registry).unwrap();
        assert!(text.contains("hotline_member_redials_total 1"), "{text}");
        assert!(text.contains("hotline_delivery_failures_total{reason=\"transport\"} 2"), "{text}");
        assert!(text.contains("hotline_deliveries_receipted_total 1"), "{text}");
        assert!(text.contains("hotline_receipt_latency_seconds_bucket{le=\"0.04\"} 1"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
