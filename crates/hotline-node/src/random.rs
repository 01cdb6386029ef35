//! Randomness, in one place and injectable next to the clock
//! ([`crate::NodeOptions::randomness`]): the ids the node makes up, the
//! seeds its cryptography draws from, and the spread of its timers. A node
//! draws from the operating system's generator; a test may give it a
//! seeded one, so that what depends on chance repeats.

use crate::error::NodeError;
use hotline_crypto::SeedRng;
use rand_core::TryRng;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use zeroize::Zeroizing;

/// Where a node's randomness comes from.
#[derive(Clone, Default)]
pub struct Randomness(Source);

#[derive(Clone, Default)]
enum Source {
    /// The operating system's generator.
    #[default]
    Os,
    /// A generator from a fixed seed: for tests only, never for a node in
    /// service (its ids and prekeys would be predictable).
    Seeded(Arc<Mutex<SeedRng>>),
}

impl fmt::Debug for Randomness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Source::Os => "Randomness::os",
            Source::Seeded(_) => "Randomness::seeded",
        })
    }
}

impl Randomness {
    /// The operating system's generator (the default).
    pub fn os() -> Randomness {
        Randomness(Source::Os)
    }

    /// A generator from `seed`, for tests: the same seed gives the same
    /// draws. Never for a node in service.
    pub fn seeded(seed: [u8; 32]) -> Randomness {
        Randomness(Source::Seeded(Arc::new(Mutex::new(SeedRng::from_seed(Zeroizing::new(seed))))))
    }

    fn fill(&self, out: &mut [u8]) -> Result<(), String> {
        match &self.0 {
            Source::Os => {
                getrandom::fill(out).map_err(|e| format!("the operating system's random generator failed: {e}"))
            }
            Source::Seeded(rng) => {
                let mut rng = rng.lock().unwrap_or_else(PoisonError::into_inner);
                match rng.try_fill_bytes(out) {
                    Ok(()) => Ok(()),
                    Err(never) => match never {},
                }
            }
        }
    }

    /// `N` random bytes (message, case and check ids, nonces). A failing
    /// generator is a fault of the node: `500 random_failed`.
    pub(crate) fn bytes<const N: usize>(&self) -> Result<[u8; N], NodeError> {
        let mut out = [0u8; N];
        self.fill(&mut out).map_err(|message| NodeError::Internal { code: "random_failed", message })?;
        Ok(out)
    }

    /// A uniform `u64`, or the generator's failure.
    pub(crate) fn u64(&self) -> Result<u64, NodeError> {
        self.bytes::<8>().map(u64::from_be_bytes)
    }

    /// A generator seeded from this one, for one batch of cryptographic
    /// work (sealing, prekey generation); its seed is wiped.
    pub(crate) fn seeded_rng(&self) -> Result<SeedRng, String> {
        let mut seed = Zeroizing::new([0u8; 32]);
        self.fill(&mut *seed)?;
        Ok(SeedRng::from_seed(seed))
    }

    /// A uniform value in `[0, 1)`, for spreading timers. A failing
    /// generator gives 0, which only makes timers less spread out.
    pub(crate) fn jitter(&self) -> f64 {
        let draw = self.bytes::<4>().map(u32::from_be_bytes).unwrap_or(0);
        f64::from(draw) / (f64::from(u32::MAX) + 1.0)
    }

    /// Shuffles in place (Fisher-Yates); a failing generator leaves the
    /// order less random, never wrong.
    pub(crate) fn shuffle<T>(&self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let draw = self.u64().unwrap_or(i as u64);
            items.swap(i, (draw % (i as u64 + 1)) as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_in_range_and_shuffle_keeps_the_items() {
        let random = Randomness::os();
        for _ in 0..100 {
            assert!((0.0..1.0).contains(&random.jitter()));
        }
        let mut v: Vec<u32> = (0..50).collect();
        random.shuffle(&mut v);
        v.sort_unstable();
        assert_eq!(v, (0..50).collect::<Vec<_>>());
        assert_ne!(random.bytes::<16>().expect("random"), [0u8; 16]);
    }

    #[test]
    fn a_seeded_source_repeats_and_clones_share_one_stream() {
        let (a, b) = (Randomness::seeded([9; 32]), Randomness::seeded([9; 32]));
        assert_eq!(a.bytes::<16>().expect("draw"), b.bytes::<16>().expect("draw"));
        let clone = a.clone();
        assert_ne!(clone.bytes::<16>().expect("draw"), a.bytes::<16>().expect("draw"), "one stream, not two copies");
        assert_ne!(Randomness::seeded([1; 32]).u64().expect("draw"), Randomness::seeded([2; 32]).u64().expect("draw"));
    }
}
