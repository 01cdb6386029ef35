//! Byte budgets: node-wide bounds on what peers can make this node hold in
//! memory at once, whoever they are and however many streams they open.
//!
//! Frame sizes are bounded per request (1 MiB for an envelope, 5 MiB for a
//! sync frame), and stream counts per connection, but their product is not:
//! one connection with 256 unfinished deliver streams of about 1 MiB took a
//! node from 20 MB to 300 MB. A [`ByteBudget`] is shared by everything that
//! holds inbound bytes; a [`BytePermit`] holds its share until dropped.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A shared bound on bytes held.
#[derive(Debug)]
pub struct ByteBudget {
    used: AtomicUsize,
    limit: usize,
    /// Reservations refused since start, for metrics and tests.
    refused: AtomicUsize,
}

impl ByteBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<ByteBudget> {
        Arc::new(ByteBudget { used: AtomicUsize::new(0), limit, refused: AtomicUsize::new(0) })
    }

    /// Reserves `bytes`, or `None` if that would exceed the limit.
    pub fn reserve(self: &Arc<Self>, bytes: usize) -> Option<BytePermit> {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let next = used.checked_add(bytes).filter(|n| *n <= self.limit);
            let Some(next) = next else {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return None;
            };
            match self.used.compare_exchange_weak(used, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Some(BytePermit { budget: Arc::clone(self), bytes }),
                Err(now) => used = now,
            }
        }
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Reservations refused since start.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::Relaxed)
    }
}

/// A share of a [`ByteBudget`], given back when dropped.
pub struct BytePermit {
    budget: Arc<ByteBudget>,
    bytes: usize,
}

impl BytePermit {
    /// The bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl fmt::Debug for BytePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BytePermit({} bytes)", self.bytes)
    }
}

impl Drop for BytePermit {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_stay_within_the_limit_and_come_back_on_drop() {
        let budget = ByteBudget::new(100);
        let a = budget.reserve(60).unwrap_or_else(|| panic!("room for 60"));
        assert!(budget.reserve(41).is_none());
        let b = budget.reserve(40).unwrap_or_else(|| panic!("room for 40"));
        assert_eq!((budget.used(), budget.refused()), (100, 1));
        drop(a);
        assert_eq!(budget.used(), 40);
        assert!(budget.reserve(60).is_some(), "the permit was dropped at once, so 60 fit");
        drop(b);
        assert_eq!(budget.used(), 0);
        assert!(budget.reserve(usize::MAX).is_none(), "no overflow");
    }
}
