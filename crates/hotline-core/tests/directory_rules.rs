//! One test per directory rule: what `Directory::apply` accepts, holds back
//! and rejects, and why.

use hotline_core::testkit::{IntoObject, T0, World, state};
use hotline_core::time::DAY;
use hotline_core::{
    Change, CharterError, Directory, DirectoryObject, ObjectKey, Outcome, RecordStatus, Rejection, SignedRecord,
    Timestamp, Waiting,
};

fn setup() -> (World, Directory) {
    let w = World::default();
    let d = Directory::new(w.charter.clone()).expect("fixture charter is valid");
    (w, d)
}

fn applied(outcome: Result<Outcome, Rejection>) -> Vec<Change> {
    match outcome {
        Ok(Outcome::Applied(a)) => a.changes,
        other => panic!("expected Applied, got {other:?}"),
    }
}

fn now() -> Timestamp {
    T0.plus(60)
}

#[test]
fn accepts_a_chain_and_reports_current_status() {
    let (w, mut d) = setup();
    applied(d.apply(w.admission("FRA", 1).obj(), now()));
    applied(d.apply(w.record("FRA", "policy", 1, 1).obj(), now()));
    let views = d.records(now());
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].status, RecordStatus::Current);
    assert!(d.is_member(&w.node_id("FRA", 0), now()));
}

#[test]
fn record_of_unknown_state_waits_then_applies_with_its_admission() {
    let (w, mut d) = setup();
    let outcome = d.apply(w.record("FRA", "policy", 1, 1).obj(), now());
    assert_eq!(outcome, Ok(Outcome::Pending(Waiting::UnknownState(state("FRA")))));
    assert!(d.records(now()).is_empty());
    let changes = applied(d.apply(w.admission("FRA", 1).obj(), now()));
    assert_eq!(changes.len(), 2, "the admission and the pending record: {changes:?}");
    assert_eq!(d.pending_len(), 0);
    assert_eq!(d.records(now()).len(), 1);
}

#[test]
fn admission_needs_a_steward_quorum() {
    let (w, mut d) = setup();
    let mut a = w.admission("FRA", 1);
    a.signatures.truncate(1);
    assert_eq!(
        d.apply(a.obj(), now()),
        Err(Rejection::Stewards(CharterError::QuorumNotMet { valid: 1, threshold: 2 }))
    );
}

#[test]
fn admission_with_an_altered_body_is_rejected() {
    let (w, mut d) = setup();
    let mut a = w.admission("FRA", 1);
    a.admission.state_key = w.state_key("FRA", 9).public();
    assert!(matches!(d.apply(a.obj(), now()), Err(Rejection::Stewards(CharterError::BadSignature { .. }))));
}

#[test]
fn admission_from_another_network_is_rejected() {
    let (_, mut d) = setup();
    let other = World::new("Another network");
    assert!(matches!(
        d.apply(other.admission("FRA", 1).obj(), now()),
        Err(Rejection::Stewards(CharterError::BadSignature { .. }))
    ));
}

#[test]
fn record_signed_by_a_key_that_is_not_the_state_key_is_rejected() {
    let (w, mut d) = setup();
    d.apply(w.admission("FRA", 1).obj(), now()).unwrap();
    let forged = SignedRecord::sign(w.record_body("FRA", "policy", 1, 1), &w.state_key("DEU", 1), &w.net);
    assert_eq!(d.apply(forged.obj(), now()), Err(Rejection::BadSignature { signer: "admitted state key" }));
    assert!(d.records(now()).is_empty());
}

#[test]
fn replay_and_rollback_are_rejected() {
    let (w, mut d) = setup();
    d.apply(w.admission("FRA", 1).obj(), now()).unwrap();
    applied(d.apply(w.record("FRA", "policy", 1, 5).obj(), now()));
    assert_eq!(d.apply(w.record("FRA", "policy", 1, 5).obj(), now()), Ok(Outcome::Duplicate));
    assert_eq!(d.apply(w.record("FRA", "policy", 1, 4).obj(), now()), Err(Rejection::Stale { got: 4, current: 5 }));
    applied(d.apply(w.record("FRA", "policy", 1, 6).obj(), now()));
    assert_eq!(d.record(state("FRA"), &"policy".parse().unwrap()).unwrap().record.seq, 6);
}

#[test]
fn issued_in_the_future_beyond_skew_is_rejected() {
    let (w, mut d) = setup();
    d.apply(w.admission("FRA", 1).obj(), now()).unwrap();
    let mut body = w.record_body("FRA", "policy", 1, 1);
    body.issued_at = now().plus(301);
    body.expires = body.issued_at.plus(DAY);
    let r = SignedRecord::sign(body.clone(), &w.state_key("FRA", 1), &w.net);
    assert!(matches!(d.apply(r.obj(), now()), Err(Rejection::FromTheFuture { .. })));
    // Within the skew it is fine.
    body.issued_at = now().plus(299);
    let r = SignedRecord::sign(body, &w.state_key("FRA", 1), &w.net);
    applied(d.apply(r.obj(), now()));
}

#[test]
fn validity_over_365_days_is_rejected() {
    let (w, mut d) = setup();
    d.apply(w.admission("FRA", 1).obj(), now()).unwrap();
    let mut body = w.record_body("FRA", "policy", 1, 1);
    body.expires = body.issued_at.plus(366 * DAY);
    let r = SignedRecord::sign(body, &w.state_key("FRA", 1), &w.net);
    assert_eq!(d.apply(r.obj(), now()), Err(Rejection::ValidityTooLong { days: 366, max_days: 365 }));
}

#[test]
fn expired_record_and_expired_admission_are_rejected() {
    let (w, mut d) = setup();
    d.apply(w.admission("FRA", 1).obj(), now()).unwrap();
    let later = T0.plus(181 * DAY);
    assert!(matches!(d.apply(w.record("FRA", "policy", 1, 1).obj(), later), Err(Rejection::Expired(_))));

    let mut a = hotline_core::SignedAdmission::unsigned(hotline_core::Admission {
        expires: Some(T0.plus(DAY)),
        ..w.admission("DEU", 1).admission
    });
    a.sign(&w.charter.charter, &w.stewards[0]).unwrap();
    a.sign(&w.charter.charter, &w.stewards[2]).unwrap();
    assert!(matches!(d.apply(a.clone().obj(), T0.plus(2 * DAY)), Err(Rejection::Expired(_))));
    // Accepted while valid, its records then show as expired.
    applied(d.apply(a.obj(), now()));
    applied(d.apply(w.record("DEU", "policy", 1, 1).obj(), now()));
    let r = d.record(state("DEU"), &"policy".parse().unwrap()).unwrap();
    assert_eq!(d.record_status(r, T0.plus(2 * DAY)), RecordStatus::Expired);
    assert!(!d.is_admitted(state("DEU"), T0.plus(2 * DAY)));
    assert_eq!(
        d.apply(w.record("DEU", "policy", 1, 2).obj(), T0.plus(2 * DAY)),
        Err(Rejection::AdmissionExpired(state("DEU")))
    );
}

#[test]
fn status_turns_expiring_thirty_days_before_expiry() {
    let (w, mut d) = setup();
    d.apply(w.admission("FRA", 1).obj(), now()).unwrap();
    d.apply(w.record("FRA", "policy", 1, 1).obj(), now()).unwrap();
    let r = d.record(state("FRA"), &"policy".parse().unwrap()).unwrap().clone();
    assert_eq!(d.record_status(&r, T0.plus(149 * DAY)), RecordStatus::Current);
    assert_eq!(d.record_status(&r, T0.plus(151 * DAY)), RecordStatus::Expiring);
    assert_eq!(d.record_status(&r, T0.plus(180 * DAY)), RecordStatus::Expired);
}

#[test]
fn oversized_and_malformed_fields_are_rejected() {
    let (w, mut d) = setup();
    d.apply(w.admission("FRA", 1).obj(), now()).unwrap();
    let mut body = w.record_body("FRA", "policy", 1, 1);
    body.organization = "x".repeat(257);
    let r = SignedRecord::sign(body, &w.state_key("FRA", 1), &w.net);
    assert!(matches!(d.apply(r.obj(), now()), Err(Rejection::Invalid(f)) if f.field == "organization"));

    let mut body = w.record_body("FRA", "policy", 1, 1);
    body.role = "liaison".parse().unwrap();
    let r = SignedRecord::sign(body, &w.state_key("FRA", 1), &w.net);
    assert!(matches!(d.apply(r.obj(), now()), Err(Rejection::Invalid(f)) if f.field == "role"));

    let mut body = w.record_body("FRA", "policy", 1, 1);
    body.phone_24x7 = None;
    let r = SignedRecord::sign(body, &w.state_key("FRA", 1), &w.net);
    assert!(matches!(d.apply(r.obj(), now()), Err(Rejection::Invalid(f)) if f.field == "phone_24x7"));
}

#[test]
fn record_revocation_revokes_and_blocks_older_versions() {
    let (w, mut d) = setup();
    d.apply(w.admission("FRA", 1).obj(), now()).unwrap();
    d.apply(w.record("FRA", "policy", 1, 2).obj(), now()).unwrap();
    applied(d.apply(w.revoke_record("FRA", "policy", 1, 2).obj(), now()));
    let r = d.record(state("FRA"), &"policy".parse().unwrap()).unwrap();
    assert_eq!(d.record_status(r, now()), RecordStatus::Revoked);
    assert!(!d.is_member(&w.node_id("FRA", 0), now()));
    // A fresh version above the revoked range is accepted again.
    applied(d.apply(w.record("FRA", "policy", 1, 3).obj(), now()));
    assert!(d.is_member(&w.node_id("FRA", 0), now()));
}

#[test]
fn revoked_objects_are_rejected() {
    let (w, mut d) = setup();
    d.apply(w.admission("FRA", 1).obj(), now()).unwrap();
    d.apply(w.revoke_record("FRA", "policy", 1, 2).obj(), now()).unwrap();
    assert_eq!(d.apply(w.record("FRA", "policy", 1, 2).obj(), now()), Err(Rejection::Revoked));

    applied(d.apply(w.revoke_admission("FRA", 1).obj(), now()));
    assert_eq!(d.apply(w.admission("FRA", 1).obj(), now()), Err(Rejection::Revoked));
    let (_, mut fresh) = setup();
    fresh.apply(w.revoke_admission("FRA", 1).obj(), now()).unwrap();
    assert_eq!(fresh.apply(w.admission("FRA", 1).obj(), now()), Err(Rejection::Revoked));
}

#[test]
fn admission_revocation_and_readmission_with_a_new_key() {
    let (w, mut d) = setup();
    d.apply(w.admission("FRA", 1).obj(), now()).unwrap();
    d.apply(w.record("FRA", "policy", 1, 1).obj(), now()).unwrap();
    d.apply(w.revoke_admission("FRA", 1).obj(), now()).unwrap();
    assert!(!d.is_admitted(state("FRA"), now()));
    assert_eq!(d.records(now())[0].status, RecordStatus::Revoked);
    assert!(d.member_nodes(now()).is_empty());

    let changes = applied(d.apply(w.admission("FRA", 2).obj(), now()));
    assert!(
        changes.iter().any(|c| matches!(c, Change::Removed { key: ObjectKey::Record(..), .. })),
        "records under the old key are dropped: {changes:?}"
    );
    assert_eq!(
        d.apply(w.record("FRA", "policy", 1, 9).obj(), now()),
        Err(Rejection::SupersededAdmission { state: state("FRA"), got: 1, current: 2 })
    );
    applied(d.apply(w.record("FRA", "policy", 2, 1).obj(), now()));
    assert!(d.is_admitted(state("FRA"), now()));
}

#[test]
fn equivocation_lower_hash_wins_in_either_order_and_evidence_is_kept() {
    let w = World::default();
    let a = w.record("FRA", "policy", 1, 3);
    let mut body = w.record_body("FRA", "policy", 1, 3);
    body.position = "Someone else".into();
    let b = SignedRecord::sign(body, &w.state_key("FRA", 1), &w.net);
    let ha = a.clone().obj().hash(&w.net);
    let hb = b.clone().obj().hash(&w.net);
    let expected = if ha < hb { ha } else { hb };
    for order in [[a.clone(), b.clone()], [b.clone(), a.clone()]] {
        let mut d = Directory::new(w.charter.clone()).unwrap();
        d.apply(w.admission("FRA", 1).obj(), now()).unwrap();
        for r in order {
            applied(d.apply(r.obj(), now()));
        }
        let entry = d.entry(&ObjectKey::Record(state("FRA"), "policy".parse().unwrap())).unwrap();
        assert_eq!(entry.hash, expected);
        assert_eq!(entry.evidence.len(), 1);
    }
}

#[test]
fn prekeys_wait_for_a_listing_record_and_revoked_nodes_lose_membership() {
    let (w, mut d) = setup();
    d.apply(w.admission("FRA", 1).obj(), now()).unwrap();
    assert_eq!(
        d.apply(w.prekeys("FRA", 0, 1).obj(), now()),
        Ok(Outcome::Pending(Waiting::NodeNotListed { state: state("FRA"), node: w.node_id("FRA", 0) }))
    );
    applied(d.apply(w.record("FRA", "technical", 1, 1).obj(), now()));
    assert!(d.prekeys(&w.node_id("FRA", 0), now()).is_some());

    applied(d.apply(w.revoke_node("FRA", 1, 0).obj(), now()));
    assert!(!d.is_member(&w.node_id("FRA", 0), now()));
    assert!(d.prekeys(&w.node_id("FRA", 0), now()).is_none());
    // A newer bundle from the revoked node is held but never becomes live.
    applied(d.apply(w.prekeys("FRA", 0, 2).obj(), now()));
    assert!(d.prekeys(&w.node_id("FRA", 0), now()).is_none());
    assert!(!d.digest(now()).contains_key(&ObjectKey::Prekeys(w.node_id("FRA", 0))));
}

#[test]
fn prekeys_signed_by_another_key_are_rejected() {
    let (w, mut d) = setup();
    d.apply(w.admission("FRA", 1).obj(), now()).unwrap();
    d.apply(w.record("FRA", "technical", 1, 1).obj(), now()).unwrap();
    let mut p = w.prekeys("FRA", 0, 1);
    p.bundle.seq = 2;
    assert_eq!(d.apply(p.obj(), now()), Err(Rejection::BadSignature { signer: "node key" }));
}

#[test]
fn a_state_cannot_revoke_an_admission() {
    let (w, mut d) = setup();
    d.apply(w.admission("FRA", 1).obj(), now()).unwrap();
    let mut r = w.revoke_admission("FRA", 1);
    r.authority = w.revoke_record("FRA", "policy", 1, 1).authority;
    assert_eq!(d.apply(r.obj(), now()), Err(Rejection::WrongAuthority));
}

#[test]
fn pending_set_is_bounded() {
    let (w, mut d) = setup();
    let mut last = None;
    for seq in 1..=(hotline_core::limits::MAX_PENDING as u64 + 1) {
        last = Some(d.apply(w.record("FRA", "policy", 1, seq).obj(), now()));
    }
    assert_eq!(last, Some(Err(Rejection::PendingFull)));
    assert_eq!(d.pending_len(), hotline_core::limits::MAX_PENDING);
}

#[test]
fn decoding_rejects_tampered_and_truncated_bytes() {
    let w = World::default();
    let bytes = w.record("FRA", "policy", 1, 1).obj().to_bytes();
    assert!(DirectoryObject::from_bytes(&bytes).is_ok());
    assert!(DirectoryObject::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    assert!(DirectoryObject::from_bytes(&[]).is_err());
    let mut bad = bytes.clone();
    bad[0] = 9;
    assert!(DirectoryObject::from_bytes(&bad).is_err());
    // A flipped bit in a signed field decodes but fails the signature check.
    let (_, mut d) = setup();
    d.apply(w.admission("FRA", 1).obj(), now()).unwrap();
    let pos = bytes.windows(8).position(|win| win == b"national").unwrap();
    let mut tampered = bytes;
    tampered[pos] ^= 0x20;
    let obj = DirectoryObject::from_bytes(&tampered).unwrap();
    assert_eq!(d.apply(obj, now()), Err(Rejection::BadSignature { signer: "admitted state key" }));
}

#[test]
fn sign_next_record_continues_the_sequence() {
    let (w, mut d) = setup();
    d.apply(w.admission("FRA", 1).obj(), now()).unwrap();
    let draft = hotline_core::RecordDraft::from_record(&w.record_body("FRA", "policy", 1, 1));
    let first = d.sign_next_record(draft.clone(), &w.state_key("FRA", 1), now(), 30 * DAY).unwrap();
    assert_eq!((first.record.seq, first.record.admission_seq), (1, 1));
    applied(d.apply(first.obj(), now()));
    let second = d.sign_next_record(draft.clone(), &w.state_key("FRA", 1), now(), 30 * DAY).unwrap();
    assert_eq!(second.record.seq, 2);
    assert!(d.sign_next_record(draft, &w.state_key("DEU", 1), now(), 30 * DAY).is_err());
}
