//! One test per directory rule: what `Directory::apply` accepts, holds back
//! and rejects, and why.

use hotline_core::testkit::{IntoObject, T0, World, state};
use hotline_core::time::DAY;
use hotline_core::{
    Change, CharterError, Directory, DirectoryObject, ObjectKey, Outcome, RecordStatus, Rejection, SignedRecord,
    Source, Timestamp, Waiting,
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
    use hotline_core::limits::{MAX_PENDING, MAX_PENDING_PER_SOURCE, MAX_PENDING_PER_STATE};
    let (w, mut d) = setup();
    // The operator's own objects: bounded by the state's share.
    let mut last = None;
    for seq in 1..=(MAX_PENDING_PER_STATE as u64 + 1) {
        last = Some(d.apply(w.record("FRA", "policy", 1, seq).obj(), now()));
    }
    assert_eq!(last, Some(Err(Rejection::PendingFull)));
    assert_eq!(d.pending_len(), MAX_PENDING_PER_STATE);
    // A member's: bounded by its own share, whatever the states.
    let member = Source::Member(w.node_id("EST", 0), state("EST"));
    let codes = ["DEU", "POL", "EST", "FIN", "NOR", "SWE", "ITA", "ESP"];
    let mut taken = 0;
    for (i, code) in codes.iter().cycle().take(MAX_PENDING_PER_SOURCE + 1).enumerate() {
        match d.apply_from(w.record(code, "policy", 1, i as u64 + 1).obj(), member, now()) {
            Ok(Outcome::Pending(_)) => taken += 1,
            other => assert_eq!(other, Err(Rejection::PendingFull)),
        }
    }
    assert_eq!(taken, MAX_PENDING_PER_SOURCE);
    // And the whole set: many members, many states.
    let mut n = 0u64;
    'fill: for s in 1..=64u8 {
        let source = Source::Member(w.node_id("LVA", s), state(["LVA", "LTU", "SVN", "HRV"][usize::from(s) % 4]));
        let codes = ["BEL", "NLD", "LUX", "DNK", "AUT", "CHE", "CZE", "SVK", "HUN", "ROU", "BGR", "GRC"];
        for code in codes.iter().cycle().take(MAX_PENDING_PER_SOURCE) {
            n += 1;
            if d.pending_len() == MAX_PENDING {
                break 'fill;
            }
            let _ = d.apply_from(w.record(code, "technical", 1, n).obj(), source, now());
        }
    }
    assert_eq!(d.pending_len(), MAX_PENDING);
    let one_more =
        d.apply_from(w.record("PRT", "policy", 1, 1).obj(), Source::Member(w.node_id("PRT", 9), state("PRT")), now());
    assert_eq!(one_more, Err(Rejection::PendingFull));
}

#[test]
fn pending_objects_expire() {
    let (w, mut d) = setup();
    let member = Source::Member(w.node_id("DEU", 0), state("DEU"));
    d.apply_from(w.record("FRA", "policy", 1, 1).obj(), member, now()).unwrap();
    assert_eq!(d.pending_len(), 1);
    let later = now().plus(hotline_core::limits::PENDING_LIFETIME_SECS);
    // The admission arrives too late: the record has been dropped, and only
    // sync fetching it again would bring it in.
    applied(d.apply(w.admission("FRA", 1).obj(), later));
    assert_eq!(d.pending_len(), 0);
    assert!(d.record(state("FRA"), &"policy".parse().unwrap()).is_none());
}

#[test]
fn a_stranger_presents_only_itself_and_nothing_of_it_waits() {
    let (w, mut d) = two_states();
    let stranger = w.node_id("NOR", 0);
    let from = Source::Stranger(stranger);
    let before = d.signature_checks();
    // Someone else's objects: refused before any signature check.
    assert_eq!(d.apply_from(w.prekeys("FRA", 1, 1).obj(), from, now()), Err(Rejection::NotOwnObject));
    assert_eq!(d.apply_from(w.record("FRA", "policy", 1, 2).obj(), from, now()), Err(Rejection::NotOwnObject));
    assert_eq!(d.apply_from(w.revoke_node("DEU", 1, 0).obj(), from, now()), Err(Rejection::NotOwnObject));
    // Its own, but needing a parent it does not bring: refused, not parked.
    let own_record = w.record("NOR", "technical", 1, 1);
    assert!(matches!(
        d.apply_from(own_record.clone().obj(), from, now()),
        Err(Rejection::MustApplyAtOnce(Waiting::UnknownState(_)))
    ));
    assert!(matches!(
        d.apply_from(w.prekeys("NOR", 0, 1).obj(), from, now()),
        Err(Rejection::MustApplyAtOnce(Waiting::NodeNotListed { .. }))
    ));
    assert_eq!(d.signature_checks(), before, "none of it cost a signature check");
    assert_eq!(d.pending_len(), 0);
    // Presented in order, its admission, record and bundle apply at once.
    applied(d.apply_from(w.admission("NOR", 1).obj(), from, now()));
    applied(d.apply_from(own_record.obj(), from, now()));
    applied(d.apply_from(w.prekeys("NOR", 0, 1).obj(), from, now()));
    assert!(d.is_member(&stranger, now()));
}

/// The attack of the review: thousands of objects waiting in the pending
/// set made every later apply re-verify all of them. Now an apply re-checks
/// only the waiting objects of the states it changed.
#[test]
fn an_apply_costs_the_same_whatever_waits() {
    use hotline_core::limits::MAX_PENDING_PER_SOURCE;
    let (w, mut d) = two_states();
    let fresh = |d: &mut Directory, seq| {
        let before = d.signature_checks();
        applied(d.apply(w.record("FRA", "technical", 1, seq).obj(), now()));
        d.signature_checks() - before
    };
    let alone = fresh(&mut d, 2);
    assert_eq!(alone, 1, "one record, one signature");
    // Members fill the pending set with validly signed bundles of nodes no
    // record lists, and records of a state not admitted.
    for m in 0..8u8 {
        let source = Source::Member(w.node_id("EST", m), state(["EST", "LVA", "LTU", "FIN"][usize::from(m) % 4]));
        for n in 0..(MAX_PENDING_PER_SOURCE / 2) as u8 {
            let _ = d.apply_from(w.prekeys("POL", n.wrapping_add(m.wrapping_mul(32)), 1).obj(), source, now());
            let _ = d.apply_from(w.record("NOR", "policy", 1, u64::from(m) * 1000 + u64::from(n)).obj(), source, now());
        }
    }
    assert!(d.pending_len() >= 700, "{}", d.pending_len());
    assert_eq!(fresh(&mut d, 3), alone, "unrelated waiting objects cost nothing");
    // A change to the waiting objects' own state re-checks them without
    // verifying a signature for those still waiting.
    let before = d.signature_checks();
    applied(d.apply(w.admission("POL", 1).obj(), now()));
    assert_eq!(d.signature_checks() - before, 1, "only the admission's quorum");
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

/// FRA and DEU admitted, each with a technical record listing its node 0,
/// and DEU's node with a prekey bundle.
fn two_states() -> (World, Directory) {
    let (w, mut d) = setup();
    for code in ["FRA", "DEU"] {
        applied(d.apply(w.admission(code, 1).obj(), now()));
        applied(d.apply(w.record(code, "technical", 1, 1).obj(), now()));
    }
    applied(d.apply(w.prekeys("DEU", 0, 1).obj(), now()));
    (w, d)
}

#[test]
fn a_state_cannot_revoke_another_states_node() {
    let (w, mut d) = two_states();
    let victim = w.node_id("DEU", 0);
    // FRA signs, with its own key, a revocation of DEU's node in FRA's name.
    assert_eq!(
        d.apply(w.revoke_node_id("FRA", 1, victim, "bad faith").obj(), now()),
        Err(Rejection::NodeNotListed { state: state("FRA"), node: victim })
    );
    assert!(d.is_member(&victim, now()));
    assert!(d.is_member_of(state("DEU"), &victim, now()));
    assert!(d.prekeys(&victim, now()).is_some());

    // FRA may list any node id in its own record, and then revoke it: that
    // revocation is FRA's and touches only FRA's claim to the node.
    let mut body = w.record_body("FRA", "technical", 1, 2);
    body.nodes.push(victim);
    applied(d.apply(SignedRecord::sign(body, &w.state_key("FRA", 1), &w.net).obj(), now()));
    applied(d.apply(w.revoke_node_id("FRA", 1, victim, "bad faith").obj(), now()));
    assert!(d.is_member_of(state("DEU"), &victim, now()));
    assert!(!d.is_member_of(state("FRA"), &victim, now()));
    assert_eq!(d.member_nodes(now()).get(&victim), Some(&state("DEU")), "the node's own bundle names DEU");
    assert!(d.prekeys(&victim, now()).is_some());
    // Signed with FRA's key in DEU's name: a bad signature.
    let mut forged = w.revoke_node_id("FRA", 1, victim, "bad faith");
    forged.revocation.target =
        hotline_core::RevocationTarget::Node { state: state("DEU"), admission_seq: 1, node: victim };
    assert!(matches!(d.apply(forged.obj(), now()), Err(Rejection::BadSignature { .. })));
    assert!(d.is_member(&victim, now()));
}

#[test]
fn another_states_epoch_change_does_not_undo_a_revocation() {
    let (w, mut d) = two_states();
    let node = w.node_id("DEU", 0);
    applied(d.apply(w.revoke_node("DEU", 1, 0).obj(), now()));
    assert!(!d.is_member(&node, now()));
    // FRA lists DEU's node and revokes it too, varying the reason until
    // its revocation's hash is lower than DEU's: under the old single slot
    // it would win, and vanish with FRA's next admission epoch.
    let deu_hash = w.revoke_node("DEU", 1, 0).obj().hash(&w.net);
    let mut body = w.record_body("FRA", "technical", 1, 2);
    body.nodes.push(node);
    applied(d.apply(SignedRecord::sign(body, &w.state_key("FRA", 1), &w.net).obj(), now()));
    let fra_rev = (0..64)
        .map(|i| w.revoke_node_id("FRA", 1, node, &format!("attempt {i}")))
        .find(|r| r.clone().obj().hash(&w.net) < deu_hash)
        .expect("one of 64 hashes is lower");
    applied(d.apply(fra_rev.obj(), now()));
    let changes = applied(d.apply(w.admission("FRA", 2).obj(), now()));
    assert!(
        changes
            .iter()
            .any(|c| matches!(c, Change::Removed { key: ObjectKey::NodeRevocation(s, _), .. } if *s == state("FRA")))
    );
    assert!(d.entry(&ObjectKey::NodeRevocation(state("DEU"), node)).is_some(), "DEU's revocation stays");
    assert!(!d.is_member(&node, now()), "the compromised node stays revoked");
    assert!(d.prekeys(&node, now()).is_none());
}

#[test]
fn a_node_revocation_counts_only_while_live() {
    let (w, mut d) = two_states();
    let node = w.node_id("DEU", 0);
    applied(d.apply(w.revoke_node("DEU", 1, 0).obj(), now()));
    assert!(d.digest(now()).contains_key(&ObjectKey::NodeRevocation(state("DEU"), node)));
    // The stewards revoke DEU's admission: its revocation stops being live,
    // and so do its records; the node is no member either way.
    applied(d.apply(w.revoke_admission("DEU", 1).obj(), now()));
    assert!(!d.digest(now()).contains_key(&ObjectKey::NodeRevocation(state("DEU"), node)));
    assert!(!d.is_member(&node, now()));
}

#[test]
fn a_state_signs_the_revocation_of_its_own_node_and_only_of_its_own() {
    let (w, mut d) = two_states();
    let node = w.node_id("DEU", 0);
    assert!(d.is_member(&node, now()));
    let signed = d.sign_node_revocation(&w.state_key("DEU", 1), node, "stolen laptop".into(), now()).unwrap();
    applied(d.apply(DirectoryObject::Revocation(signed), now()));
    assert_eq!(d.revoked_nodes(now()), vec![(state("DEU"), node)]);
    assert!(!d.is_member(&node, now()), "a revoked node is a member of nothing");
    // FRA's key signs a revocation of a node FRA never listed: refused.
    let fra_node = w.node_id("FRA", 0);
    let forged = d.sign_node_revocation(&w.state_key("FRA", 1), node, "not ours".into(), now()).unwrap();
    assert!(d.apply(DirectoryObject::Revocation(forged), now()).is_err());
    assert!(d.is_member(&fra_node, now()));
    // A key of no admitted state signs nothing.
    assert!(d.sign_node_revocation(&w.state_key("ITA", 1), node, "x".into(), now()).is_err());
}
