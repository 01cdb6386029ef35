//! Deterministic "randomness" for vector tests: replays fixed bytes.

use hotline_crypto::rand_core::{Infallible, TryCryptoRng, TryRng};

/// Replays fixed bytes as randomness; panics if asked for more than it holds,
/// so a vector test cannot silently consume bytes it did not declare.
pub(crate) struct Replay(pub Vec<u8>);

impl TryRng for Replay {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        assert!(dst.len() <= self.0.len(), "fixed randomness exhausted");
        dst.copy_from_slice(&self.0[..dst.len()]);
        self.0.drain(..dst.len());
        Ok(())
    }
}
impl TryCryptoRng for Replay {}
