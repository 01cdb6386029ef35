//! A CSPRNG from 32 seed bytes, for callers that take their entropy from the
//! operating system themselves (this crate does no I/O).

use chacha20::ChaCha20Rng;
use rand_core::{Infallible, SeedableRng, TryCryptoRng, TryRng};
use std::fmt;
use zeroize::Zeroizing;

/// ChaCha20 keyed with 32 seed bytes. Seed it from the operating system's
/// CSPRNG (for example `getrandom::fill`) and use it for one batch of work;
/// never reuse a seed. Its state zeroizes on drop and never prints.
pub struct SeedRng(ChaCha20Rng);

impl SeedRng {
    /// The generator for `seed`. The caller's copy of the seed is its own to
    /// wipe; this takes it in a zeroizing buffer so that ours is wiped.
    pub fn from_seed(seed: Zeroizing<[u8; 32]>) -> SeedRng {
        SeedRng(ChaCha20Rng::from_seed(*seed))
    }
}

impl TryRng for SeedRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        self.0.try_next_u32()
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0.try_next_u64()
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.0.try_fill_bytes(dst)
    }
}

impl TryCryptoRng for SeedRng {}

impl fmt::Debug for SeedRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SeedRng(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::Rng;

    #[test]
    fn same_seed_same_stream_and_no_secret_in_debug() {
        let mut a = SeedRng::from_seed(Zeroizing::new([7u8; 32]));
        let mut b = SeedRng::from_seed(Zeroizing::new([7u8; 32]));
        assert_eq!(a.next_u64(), b.next_u64());
        assert_eq!(format!("{a:?}"), "SeedRng(<redacted>)");
    }
}
