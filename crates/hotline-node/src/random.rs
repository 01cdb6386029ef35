//! Randomness, in one place: the ids the node makes up, the seeds its
//! cryptography draws from, and the spread of its timers. All of it comes
//! from the operating system's generator.

use crate::error::NodeError;
use hotline_crypto::SeedRng;
use zeroize::Zeroizing;

/// `N` random bytes (message, case and check ids, nonces). A failing
/// generator is a fault of the node: `500 random_failed`.
pub(crate) fn bytes<const N: usize>() -> Result<[u8; N], NodeError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| NodeError::Internal {
        code: "random_failed",
        message: format!("the operating system's random generator failed: {e}"),
    })?;
    Ok(out)
}

/// A generator seeded from the operating system, for one batch of
/// cryptographic work (sealing, prekey generation); its seed is wiped.
pub(crate) fn seeded() -> Result<SeedRng, String> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *seed).map_err(|e| format!("the operating system's random generator failed: {e}"))?;
    Ok(SeedRng::from_seed(seed))
}

/// A uniform value in `[0, 1)`, for spreading timers. A failing generator
/// gives 0, which only makes timers less spread out.
pub(crate) fn jitter() -> f64 {
    f64::from(getrandom::u32().unwrap_or(0)) / (f64::from(u32::MAX) + 1.0)
}

/// Shuffles in place (Fisher-Yates); a failing generator leaves the order
/// less random, never wrong.
pub(crate) fn shuffle<T>(items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = (getrandom::u64().unwrap_or(i as u64) % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn jitter_is_in_range_and_shuffle_keeps_the_items() {
        for _ in 0..100 {
            let j = super::jitter();
            assert!((0.0..1.0).contains(&j));
        }
        let mut v: Vec<u32> = (0..50).collect();
        super::shuffle(&mut v);
        v.sort_unstable();
        assert_eq!(v, (0..50).collect::<Vec<_>>());
        assert_ne!(super::bytes::<16>().expect("random"), [0u8; 16]);
    }
}
