//! Anti-entropy sync: the outbound exchange with one peer, and the digest
//! comparison it is built on.
//!
//! # One exchange (this node → peer)
//! 0. Between members: `Summary(ours)` → `Summary(theirs)`. Equal summaries
//!    end the exchange: nothing to move. A newcomer, or a peer we do not
//!    count as a member, skips this step (the digests surely differ).
//! 1. `Digest(ours)` → `Digest(theirs)`.
//! 2. Compare slot by slot: a side's entry is *newer* when its `seq` is
//!    higher, or the `seq` is equal and its hash is lower (the directory's
//!    own tie-break for equivocations), or the other side lacks the slot.
//! 3. `Push` the objects of our own state (admission, records, prekey
//!    bundles) that we have newer, in batches of at most
//!    [`MAX_BATCH_OBJECTS`]. That presents our admission and record to a
//!    peer that does not know us yet (this is how a newly admitted state
//!    joins) without handing the directory to a stranger. Everything else
//!    the peer pulls in its own exchange: both sides start one on every new
//!    connection, and every node starts one with a random member at each
//!    sync interval, so pulling alone converges. Pushing it as well would
//!    send a newcomer the whole directory once per peer it connects to.
//! 4. `Fetch` the slots the peer has newer, in batches of at most
//!    [`MAX_BATCH_OBJECTS`], with up to two requests in flight, and hand each
//!    batch to the actor, which applies and persists it before the next
//!    response is taken.
//!
//! Push comes before fetch on purpose: a peer serves `Fetch` only to its
//! members, and a newcomer becomes one only once its pushed admission and
//! record are applied and durable on that peer (it acknowledges the push
//! after that). In the other order, a newcomer's first fetch would always be
//! refused. For the same reason an exchange that pushed something asks for
//! the peer's digest again before fetching: a peer shows a node that is
//! not its member only that node's own state's part of its digest.
//!
//! Every object is checked by `Directory::apply` in the actor; this module
//! never decides what is valid. The exchange runs in its own task and talks
//! to the actor through its command channel, so a slow peer never blocks
//! the actor. Sync does not use gossip at all.

use crate::actor::Completion;
use futures::StreamExt;
use hotline_core::directory::Digest;
use hotline_core::{ObjectHash, ObjectKey};
use hotline_net::sync::{MAX_BATCH_OBJECTS, digest_entries};
use hotline_net::{DigestEntry, DigestSummary, NetworkHandle, PeerId, SyncRequest, SyncResponse};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Fetch requests in flight at once within one exchange.
const FETCH_WINDOW: usize = 2;

/// What one side should move.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Slots the peer has newer: fetch them.
    pub fetch: Vec<ObjectKey>,
    /// Slots we have newer: push them.
    pub push: Vec<ObjectKey>,
}

/// Whether entry `a` beats entry `b` in the same slot.
fn newer(a: (u64, ObjectHash), b: (u64, ObjectHash)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
}

/// Compares our digest with the peer's entries.
pub(crate) fn plan(ours: &Digest, theirs: &[DigestEntry]) -> Plan {
    // A peer may repeat a key (it is untrusted input): keep its best entry.
    let mut peer: BTreeMap<&ObjectKey, (u64, ObjectHash)> = BTreeMap::new();
    for (key, seq, hash) in theirs {
        let entry = (*seq, *hash);
        match peer.get(key) {
            Some(held) if !newer(entry, *held) => {}
            _ => {
                peer.insert(key, entry);
            }
        }
    }
    let fetch = peer
        .iter()
        .filter(|(key, entry)| ours.get(**key).is_none_or(|held| newer(**entry, *held)))
        .map(|(key, _)| (*key).clone())
        .collect();
    let push = ours
        .iter()
        .filter(|(key, entry)| peer.get(key).is_none_or(|theirs| newer(**entry, *theirs)))
        .map(|(key, _)| key.clone())
        .collect();
    Plan { fetch, push }
}

/// How an exchange went, for the logs.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Objects pushed and acknowledged.
    pub pushed: usize,
    /// Objects received from the peer.
    pub fetched: usize,
    /// Whether the peer refused a request (we are not a member there).
    pub refused: bool,
    /// Whether the summaries matched, so no digest was exchanged.
    pub in_sync: bool,
    /// Milliseconds spent on each phase: digest, push, fetch (with apply).
    pub phase_ms: [u64; 3],
}

/// Our side of an exchange: the digest, and its summary when the exchange
/// should start by comparing summaries.
pub(crate) struct Ours {
    /// Our live digest.
    pub digest: Arc<Digest>,
    /// Compare summaries first (step 0).
    pub probe: Option<DigestSummary>,
    /// Fetch what the peer has newer (step 4). Only from members: what a
    /// stranger claims to hold is not asked for.
    pub fetch: bool,
}

/// Runs one exchange with `peer` and tells the actor when it is over.
pub(crate) async fn exchange(peer: PeerId, ours: Ours, net: NetworkHandle, actor: mpsc::Sender<Completion>) {
    let result = run(peer, ours, &net, &actor).await;
    // The actor may be stopping; then nobody needs the report.
    let _ = actor.send(Completion::ExchangeDone { peer, result }).await;
}

async fn run(
    peer: PeerId,
    ours: Ours,
    net: &NetworkHandle,
    actor: &mpsc::Sender<Completion>,
) -> Result<Report, String> {
    let mut report = Report::default();
    let mut clock = PhaseClock::new();
    if let Some(summary) = ours.probe {
        match net.sync_request(peer, SyncRequest::Summary(summary)).await {
            Ok(SyncResponse::Summary(theirs)) if theirs == summary => {
                report.in_sync = true;
                report.phase_ms[0] = clock.lap();
                return Ok(report);
            }
            Ok(SyncResponse::Summary(_)) => {}
            Ok(SyncResponse::Refused) => {
                report.refused = true;
                return Ok(report);
            }
            Ok(other) => return Err(format!("answered a summary with {}", describe(&other))),
            Err(e) => return Err(e.to_string()),
        }
    }
    let fetch = ours.fetch;
    let ours = &*ours.digest;
    let theirs = match net.sync_request(peer, SyncRequest::Digest(digest_entries(ours))).await {
        Ok(SyncResponse::Digest(entries)) => entries,
        Ok(SyncResponse::Refused) => {
            report.refused = true;
            return Ok(report);
        }
        Ok(other) => return Err(format!("answered a digest with {}", describe(&other))),
        Err(e) => return Err(e.to_string()),
    };
    let mut plan = plan(ours, &theirs);
    if !fetch {
        plan.fetch.clear();
    }
    report.phase_ms[0] = clock.lap();

    for keys in plan.push.chunks(MAX_BATCH_OBJECTS) {
        let (reply, objects) = oneshot::channel();
        send(actor, Completion::ObjectsFor { keys: keys.to_vec(), reply }).await?;
        let objects = objects.await.map_err(|_| "the node is stopping".to_string())?;
        if objects.is_empty() {
            continue;
        }
        let count = objects.len();
        match net.sync_request(peer, SyncRequest::Push(objects)).await {
            Ok(SyncResponse::Ack) => report.pushed += count,
            Ok(SyncResponse::Refused) => {
                report.refused = true;
                break;
            }
            Ok(other) => return Err(format!("answered a push with {}", describe(&other))),
            Err(e) => return Err(e.to_string()),
        }
    }

    report.phase_ms[1] = clock.lap();

    // A peer shows a node that is not (yet) its member only the part of its
    // digest that belongs to that node's own state: a newcomer's push may
    // just have made it a member there, so it asks again before fetching.
    if fetch && report.pushed > 0 {
        match net.sync_request(peer, SyncRequest::Digest(digest_entries(ours))).await {
            Ok(SyncResponse::Digest(entries)) => plan.fetch = self::plan(ours, &entries).fetch,
            Ok(SyncResponse::Refused) => {
                report.refused = true;
                return Ok(report);
            }
            Ok(other) => return Err(format!("answered a digest with {}", describe(&other))),
            Err(e) => return Err(e.to_string()),
        }
    }

    // The next batch is already asked for while one is being applied: under
    // load, each round trip to a busy peer costs more than applying a batch.
    let batches: Vec<Vec<ObjectKey>> = plan.fetch.chunks(MAX_BATCH_OBJECTS).map(<[ObjectKey]>::to_vec).collect();
    let mut responses = futures::stream::iter(batches)
        .map(|keys| {
            let net = net.clone();
            async move { net.sync_request(peer, SyncRequest::Fetch(keys)).await }
        })
        .buffered(FETCH_WINDOW);
    while let Some(response) = responses.next().await {
        match response {
            Ok(SyncResponse::Objects(objects)) => {
                let count = objects.len();
                tracing::trace!(%peer, objects = count, ms = clock.peek(), "batch arrived");
                report.fetched += count;
                let (reply, applied) = oneshot::channel();
                send(actor, Completion::Fetched { peer, objects, reply }).await?;
                // Wait until the batch is applied and durable before taking
                // the next response: it may depend on this one (records
                // after their admissions), and it bounds how much a fast
                // peer can queue up in the actor.
                applied.await.map_err(|_| "the node is stopping".to_string())?;
                tracing::trace!(%peer, objects = count, ms = clock.peek(), "applied a batch");
            }
            Ok(SyncResponse::Refused) => {
                report.refused = true;
                break;
            }
            Ok(other) => return Err(format!("answered a fetch with {}", describe(&other))),
            Err(e) => return Err(e.to_string()),
        }
    }
    report.phase_ms[2] = clock.lap();
    Ok(report)
}

/// Milliseconds between laps, for the exchange's log line.
struct PhaseClock(std::time::Instant);

impl PhaseClock {
    fn new() -> Self {
        PhaseClock(std::time::Instant::now())
    }

    fn peek(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn lap(&mut self) -> u64 {
        let now = std::time::Instant::now();
        let ms = now.duration_since(self.0).as_millis();
        self.0 = now;
        u64::try_from(ms).unwrap_or(u64::MAX)
    }
}

async fn send(actor: &mpsc::Sender<Completion>, command: Completion) -> Result<(), String> {
    actor.send(command).await.map_err(|_| "the node is stopping".to_string())
}

fn describe(response: &SyncResponse) -> &'static str {
    match response {
        SyncResponse::Digest(_) => "a digest",
        SyncResponse::Objects(_) => "objects",
        SyncResponse::Ack => "an ack",
        SyncResponse::Refused => "a refusal",
        SyncResponse::Summary(_) => "a summary",
        SyncResponse::ReceiptsIssued(_) => "a receipt number",
        SyncResponse::Cosigned(_) => "a cosignature",
        SyncResponse::NeedProof(_) => "a request for a proof",
        SyncResponse::Equivocation(_) => "an equivocation report",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_core::testkit::state;

    fn h(b: u8) -> ObjectHash {
        ObjectHash([b; 32])
    }

    fn adm(code: &str) -> ObjectKey {
        ObjectKey::Admission(state(code))
    }

    #[test]
    fn plan_moves_each_slot_towards_the_newer_side() {
        let ours: Digest = [
            (adm("FRA"), (1, h(5))), // same on both sides
            (adm("DEU"), (2, h(5))), // ours has the higher seq
            (adm("EST"), (1, h(5))), // theirs has the higher seq
            (adm("ITA"), (1, h(3))), // equal seq, ours has the lower hash
            (adm("ESP"), (1, h(7))), // equal seq, theirs has the lower hash
            (adm("POL"), (1, h(1))), // only ours
        ]
        .into_iter()
        .collect();
        let theirs = vec![
            (adm("FRA"), 1, h(5)),
            (adm("DEU"), 1, h(5)),
            (adm("EST"), 2, h(9)),
            (adm("ITA"), 1, h(4)),
            (adm("ESP"), 1, h(6)),
            (adm("NLD"), 1, h(1)), // only theirs
        ];
        let plan = plan(&ours, &theirs);
        let mut fetch = plan.fetch.clone();
        fetch.sort();
        let mut expect_fetch = vec![adm("EST"), adm("ESP"), adm("NLD")];
        expect_fetch.sort();
        assert_eq!(fetch, expect_fetch);
        let mut push = plan.push.clone();
        push.sort();
        let mut expect_push = vec![adm("DEU"), adm("ITA"), adm("POL")];
        expect_push.sort();
        assert_eq!(push, expect_push);
    }

    #[test]
    fn a_repeated_key_from_the_peer_counts_once_with_its_best_entry() {
        let ours: Digest = [(adm("FRA"), (2, h(5)))].into_iter().collect();
        let theirs = vec![(adm("FRA"), 1, h(1)), (adm("FRA"), 3, h(9)), (adm("FRA"), 1, h(0))];
        let plan = plan(&ours, &theirs);
        assert_eq!(plan, Plan { fetch: vec![adm("FRA")], push: vec![] });
    }

    #[test]
    fn equal_digests_move_nothing() {
        let ours: Digest = [(adm("FRA"), (1, h(5)))].into_iter().collect();
        assert_eq!(plan(&ours, &digest_entries(&ours)), Plan::default());
    }
}
