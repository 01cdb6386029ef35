//! The order in which a case's messages are read: [`causal_order`].
//!
//! Timestamps are whole seconds, so a quick answer can carry the same time
//! as its question, and two nodes' clocks differ by a little. A thread is
//! therefore shown in the order its caller sorted it (oldest first), except
//! that no message comes before the one it answers. This is the one
//! definition, used by the node for `thread` and by the CLI alike.

use crate::message::MessageId;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

/// Reorders `items`, already sorted oldest first, so that no message comes
/// before the one it answers, while otherwise keeping the order given: at
/// each step the first remaining item (in the given order) whose parent is
/// absent from the thread or already placed comes next.
///
/// `id` gives an item's message id and `parent` the id it answers, if any.
/// A cycle cannot be built from honest ids (an id is chosen before the
/// message that names it as a parent exists); should one appear, its
/// first item in the given order is placed next, and the rest follow.
/// Runs in O(n log n).
pub fn causal_order<T>(
    items: Vec<T>,
    id: impl Fn(&T) -> MessageId,
    parent: impl Fn(&T) -> Option<MessageId>,
) -> Vec<T> {
    causal_order_dag(items, id, |item| parent(item).into_iter().collect())
}

/// [`causal_order`] for messages that name several parents (a
/// consultation's posts name the latest posts their sender had seen): an
/// item comes next once every parent present in the thread is placed.
/// Given the same items in the same order, every node places them the same
/// way: callers sort by the sender's time, then the message id, both in the
/// message itself. Runs in O((n + edges) log n).
pub fn causal_order_dag<T>(
    items: Vec<T>,
    id: impl Fn(&T) -> MessageId,
    parents: impl Fn(&T) -> Vec<MessageId>,
) -> Vec<T> {
    let n = items.len();
    // The first position of each id: a child waits for that one.
    let mut position: HashMap<MessageId, usize> = HashMap::with_capacity(n);
    for (i, item) in items.iter().enumerate() {
        position.entry(id(item)).or_insert(i);
    }
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    // Per item: how many of its parents present here are not placed yet.
    let mut unplaced = vec![0usize; n];
    let mut ready: BinaryHeap<Reverse<usize>> = BinaryHeap::new();
    for (i, item) in items.iter().enumerate() {
        let mut present: Vec<usize> =
            parents(item).iter().filter_map(|p| position.get(p)).copied().filter(|&p| p != i).collect();
        present.sort_unstable();
        present.dedup();
        unplaced[i] = present.len();
        if present.is_empty() {
            ready.push(Reverse(i));
        }
        for p in present {
            children.entry(p).or_default().push(i);
        }
    }
    let mut waiting: BTreeSet<usize> = (0..n).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(next) = ready.pop().map(|Reverse(i)| i).or_else(|| waiting.first().copied()) {
        if !waiting.remove(&next) {
            continue;
        }
        order.push(next);
        for child in children.remove(&next).unwrap_or_default() {
            if let Some(count) = unplaced.get_mut(child) {
                *count = count.saturating_sub(1);
                if *count == 0 && waiting.contains(&child) {
                    ready.push(Reverse(child));
                }
            }
        }
    }
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots.get_mut(i).and_then(Option::take)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(n: u8) -> MessageId {
        MessageId([n; 16])
    }

    fn ordered(items: &[(u8, Option<u8>)]) -> Vec<u8> {
        causal_order(items.to_vec(), |m| id(m.0), |m| m.1.map(id)).into_iter().map(|m| m.0).collect()
    }

    #[test]
    fn a_reply_given_first_moves_after_its_parent() {
        assert_eq!(ordered(&[(2, Some(1)), (1, None), (3, None)]), vec![1, 2, 3]);
    }

    #[test]
    fn the_given_order_is_kept_otherwise() {
        assert_eq!(ordered(&[(3, None), (1, None), (2, Some(3))]), vec![3, 1, 2]);
    }

    #[test]
    fn a_parent_outside_the_thread_does_not_hold_a_reply() {
        assert_eq!(ordered(&[(2, Some(9)), (1, None)]), vec![2, 1]);
    }

    #[test]
    fn a_chain_given_backwards_comes_out_forwards() {
        let items: Vec<(u8, Option<u8>)> = (1..=50).rev().map(|n| (n, (n > 1).then(|| n - 1))).collect();
        assert_eq!(ordered(&items), (1..=50).collect::<Vec<_>>());
    }

    #[test]
    fn a_cycle_is_placed_whole_from_its_first_item() {
        assert_eq!(ordered(&[(1, Some(2)), (2, Some(1)), (3, None)]), vec![3, 1, 2]);
    }

    /// The rule as first written, quadratic and more: the reference the
    /// fast version must agree with.
    fn reference(mut items: Vec<(u8, Option<u8>)>) -> Vec<u8> {
        let mut out: Vec<(u8, Option<u8>)> = Vec::new();
        while !items.is_empty() {
            let ready = items
                .iter()
                .position(|v| v.1.is_none_or(|p| out.iter().any(|o| o.0 == p) || !items.iter().any(|w| w.0 == p)))
                .unwrap_or(0);
            out.push(items.remove(ready));
        }
        out.into_iter().map(|m| m.0).collect()
    }

    fn ordered_dag(items: &[(u8, Vec<u8>)]) -> Vec<u8> {
        causal_order_dag(items.to_vec(), |m| id(m.0), |m| m.1.iter().map(|p| id(*p)).collect())
            .into_iter()
            .map(|m| m.0)
            .collect()
    }

    #[test]
    fn a_post_waits_for_every_parent_present() {
        // 3 names 1 and 2; given before both, it comes after both.
        assert_eq!(ordered_dag(&[(3, vec![1, 2]), (2, vec![]), (1, vec![])]), vec![2, 1, 3]);
        // A parent outside the thread holds nothing.
        assert_eq!(ordered_dag(&[(3, vec![1, 9]), (1, vec![])]), vec![1, 3]);
    }

    proptest! {
        /// Every node holding the same posts, sorted the same way, places
        /// them the same way, and no post before a parent it holds.
        #[test]
        fn a_dag_of_posts_is_ordered_parents_first(links in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..4), 0..40)) {
            let items: Vec<(u8, Vec<u8>)> = links
                .iter()
                .enumerate()
                .map(|(k, ps)| (k as u8, ps.iter().filter(|_| k > 0).map(|p| p % (k.max(1) as u8)).collect()))
                .collect();
            let got = ordered_dag(&items);
            prop_assert_eq!(got.len(), items.len());
            for (pos, k) in got.iter().enumerate() {
                for p in &items[*k as usize].1 {
                    let parent_pos = got.iter().position(|x| x == p).unwrap();
                    prop_assert!(parent_pos < pos, "post {} placed before its parent {}", k, p);
                }
            }
            prop_assert_eq!(got, ordered_dag(&items));
        }

        #[test]
        fn agrees_with_the_reference_on_acyclic_threads(parents in proptest::collection::vec(any::<Option<u8>>(), 0..40),
                                                        seed in any::<u64>()) {
            // Message k answers an earlier one (or none): acyclic, like
            // honest ids. Then shuffle the given order.
            let mut items: Vec<(u8, Option<u8>)> = parents
                .iter()
                .enumerate()
                .map(|(k, p)| (k as u8, p.filter(|_| k > 0).map(|p| p % (k.max(1) as u8))))
                .collect();
            let mut state = seed;
            for i in (1..items.len()).rev() {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                items.swap(i, (state >> 33) as usize % (i + 1));
            }
            let ids: Vec<u8> = items.iter().map(|m| m.0).collect();
            let got = ordered(&items);
            prop_assert_eq!(&got, &reference(items));
            let mut sorted = got.clone();
            sorted.sort_unstable();
            let mut want = ids;
            want.sort_unstable();
            prop_assert_eq!(sorted, want);
        }
    }
}
