//! The directory merge rules form a CRDT: applying the same objects in any
//! order, with any duplicates, yields the same live directory at a fixed
//! clock.

use hotline_core::testkit::{IntoObject, T0, World};
use hotline_core::{Directory, DirectoryObject, SignedRecord, Timestamp};
use proptest::prelude::*;
use std::sync::OnceLock;

/// Every kind of object and every interaction between them: two admission
/// epochs, an admission revocation, records across both epochs with rising
/// seqs and same-seq equivocations, prekeys, record and node revocations.
fn pool() -> &'static (World, Vec<DirectoryObject>) {
    static POOL: OnceLock<(World, Vec<DirectoryObject>)> = OnceLock::new();
    POOL.get_or_init(|| {
        let w = World::default();
        let mut objects = Vec::new();
        for code in ["FRA", "DEU", "EST"] {
            for epoch in 1..=2 {
                objects.push(w.admission(code, epoch).obj());
                for role in ["policy", "technical"] {
                    for seq in 1..=3 {
                        objects.push(w.record(code, role, epoch, seq).obj());
                    }
                    let mut body = w.record_body(code, role, epoch, 2);
                    body.position = "Equivocating position".into();
                    objects.push(SignedRecord::sign(body, &w.state_key(code, epoch), &w.net).obj());
                }
                objects.push(w.revoke_record(code, "policy", epoch, 1).obj());
                objects.push(w.revoke_node(code, epoch, 0).obj());
            }
            objects.push(w.prekeys(code, 0, 1).obj());
            objects.push(w.prekeys(code, 0, 2).obj());
        }
        // Two states revoking the same node id: FRA lists DEU's node in a
        // record of its own and revokes it; DEU's own revocation of it is
        // in the pool above. Neither may change the other's membership.
        let mut body = w.record_body("FRA", "technical", 1, 4);
        body.nodes.push(w.node_id("DEU", 0));
        objects.push(SignedRecord::sign(body, &w.state_key("FRA", 1), &w.net).obj());
        objects.push(w.revoke_node_id("FRA", 1, w.node_id("DEU", 0), "bad faith").obj());
        objects.push(w.revoke_admission("EST", 1).obj());
        objects.push(w.revoke_admission("DEU", 2).obj());
        (w, objects)
    })
}

/// Applies the objects in `order`, then offers them once more in the same
/// order, as anti-entropy sync does: a node revocation that arrives before
/// the record listing its node is refused (a state revokes only nodes its
/// records list), and is taken when sync offers it again.
fn build(order: &[usize], now: Timestamp) -> Directory {
    let (w, objects) = pool();
    let mut d = Directory::new(w.charter.clone()).expect("fixture charter");
    for _pass in 0..2 {
        for &i in order {
            // Rejections are part of the rules under test; only the end state matters.
            let _ = d.apply(objects[i].clone(), now);
        }
    }
    d
}

fn two_orders() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    let n = pool().1.len();
    prop::collection::vec(0..n, 0..60).prop_flat_map(|picked| {
        // The second order holds every picked object at least once, plus duplicates.
        let extra = prop::collection::vec(
            prop::sample::select(if picked.is_empty() { vec![0] } else { picked.clone() }),
            0..10,
        );
        (Just(picked.clone()).prop_shuffle(), extra, Just(picked)).prop_flat_map(|(a, extra, picked)| {
            let mut b = picked;
            if !a.is_empty() {
                b.extend(extra);
            }
            (Just(a), Just(b).prop_shuffle())
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn order_and_duplicates_do_not_change_the_live_directory((a, b) in two_orders()) {
        let now = T0.plus(60);
        let da = build(&a, now);
        let db = build(&b, now);
        prop_assert_eq!(da.digest(now), db.digest(now));
        prop_assert_eq!(da.member_nodes(now), db.member_nodes(now));
    }

    #[test]
    fn applying_twice_changes_nothing(a in prop::collection::vec(0..pool().1.len(), 0..60)) {
        let now = T0.plus(60);
        let once = build(&a, now);
        let mut twice = a.clone();
        twice.extend(a.iter().copied());
        prop_assert_eq!(once.digest(now), build(&twice, now).digest(now));
    }
}
