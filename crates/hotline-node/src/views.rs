//! Read-only views of the directory, as the control API shows them. Pure
//! functions of a `Directory` and a time, public so that the CLI renders
//! the same shapes when it reads a store directly (no daemon running).

use crate::api_types::{AdmissionView, DirectoryView, HistoryItem, NodeEvent, RecordEntry, StateView};
use hotline_core::{Change, Directory, DirectoryObject, ObjectKey, SignedAdmission, StateCode, Timestamp};
use hotline_store::HistoryEntry;

/// The record held in slot `key`, with its status at `now`; `None` if the
/// slot is empty or holds no record.
pub fn record_entry(dir: &Directory, key: &ObjectKey, now: Timestamp) -> Option<RecordEntry> {
    let entry = dir.entry(key)?;
    let DirectoryObject::Record(r) = &entry.object else { return None };
    Some(RecordEntry {
        key: key.to_string(),
        seq: r.record.seq,
        hash: entry.hash,
        status: dir.record_status(r, now).into(),
        record: r.record.clone(),
    })
}

fn admission_view(dir: &Directory, a: &SignedAdmission, now: Timestamp) -> AdmissionView {
    let adm = &a.admission;
    AdmissionView {
        state: adm.state.to_string(),
        country_name: adm.state.country_name().to_string(),
        seq: adm.seq,
        state_key: adm.state_key.to_string(),
        issued_at: adm.issued_at,
        expires: adm.expires,
        in_force: dir.is_admitted(adm.state, now),
    }
}

fn admissions(dir: &Directory) -> impl Iterator<Item = &SignedAdmission> {
    dir.entries().filter_map(|(_, e)| match &e.object {
        DirectoryObject::Admission(a) => Some(a),
        _ => None,
    })
}

/// How many states have an admission in force.
pub fn admitted_states(dir: &Directory, now: Timestamp) -> usize {
    admissions(dir).filter(|a| dir.is_admitted(a.admission.state, now)).count()
}

/// Every record key held, in key order.
fn record_keys(dir: &Directory) -> impl Iterator<Item = &ObjectKey> {
    dir.entries().filter(|(k, _)| matches!(k, ObjectKey::Record(..))).map(|(k, _)| k)
}

/// The whole directory.
pub fn directory(dir: &Directory, now: Timestamp) -> DirectoryView {
    DirectoryView {
        admissions: admissions(dir).map(|a| admission_view(dir, a, now)).collect(),
        records: record_keys(dir).filter_map(|k| record_entry(dir, k, now)).collect(),
        digest_hash: dir.digest_hash(now),
        now,
    }
}

/// One state's admission and records; `None` if nothing of it is held.
pub fn state(dir: &Directory, state: StateCode, now: Timestamp) -> Option<StateView> {
    let admission = dir.admission(state).map(|a| admission_view(dir, a, now));
    let records: Vec<RecordEntry> = record_keys(dir)
        .filter(|k| matches!(k, ObjectKey::Record(s, _) if *s == state))
        .filter_map(|k| record_entry(dir, k, now))
        .collect();
    if admission.is_none() && records.is_empty() {
        return None;
    }
    Some(StateView { admission, records })
}

/// A record slot's history from the store, oldest first.
pub fn history(entries: Vec<HistoryEntry>) -> Vec<HistoryItem> {
    entries
        .into_iter()
        .filter_map(|h| match h.object {
            DirectoryObject::Record(r) => Some(HistoryItem {
                local_seq: h.seq,
                accepted_at: h.accepted_at,
                winner: h.winner,
                seq: r.record.seq,
                hash: h.hash,
                record: r.record,
            }),
            _ => None,
        })
        .collect()
}

/// The event announcing one directory change.
pub fn change_event(change: &Change) -> NodeEvent {
    match change {
        Change::Accepted { key, hash, object, winner } => {
            NodeEvent::DirectoryChanged { key: key.to_string(), seq: object.seq(), hash: *hash, winner: *winner }
        }
        Change::Removed { key, hash } => NodeEvent::EntryRemoved { key: key.to_string(), hash: *hash },
    }
}
