//! Randomness: every random byte comes from the operating system through one fallible call.

use rand_core::{TryCryptoRng, TryRng};
use zeroize::Zeroizing;

use crate::Error;

/// `N` bytes from the operating system's random number generator.
pub(crate) fn random_array<const N: usize>() -> Result<Zeroizing<[u8; N]>, Error> {
    let mut out = Zeroizing::new([0u8; N]);
    getrandom::fill(out.as_mut()).map_err(|e| Error::Randomness(e.to_string()))?;
    Ok(out)
}

/// Hands bytes that were drawn beforehand to an API that wants a generator, so that the
/// only place randomness can fail is [`random_array`], which reports the failure.
pub(crate) struct PresetRng<'a> {
    bytes: &'a [u8],
}

impl<'a> PresetRng<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }
}

/// The preset bytes ran out: the caller asked for more randomness than it drew.
#[derive(Debug)]
pub(crate) struct PresetExhausted;

impl std::fmt::Display for PresetExhausted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("preset randomness exhausted")
    }
}

impl std::error::Error for PresetExhausted {}

impl TryRng for PresetRng<'_> {
    type Error = PresetExhausted;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        if dst.len() > self.bytes.len() {
            return Err(PresetExhausted);
        }
        let (now, rest) = self.bytes.split_at(dst.len());
        dst.copy_from_slice(now);
        self.bytes = rest;
        Ok(())
    }
}

impl TryCryptoRng for PresetRng<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_rng_hands_out_its_bytes_then_fails() {
        let bytes = [1u8, 2, 3, 4, 5];
        let mut rng = PresetRng::new(&bytes);
        let mut a = [0u8; 3];
        rng.try_fill_bytes(&mut a).unwrap();
        assert_eq!(a, [1, 2, 3]);
        assert!(rng.try_next_u32().is_err());
        let mut b = [0u8; 2];
        rng.try_fill_bytes(&mut b).unwrap();
        assert_eq!(b, [4, 5]);
    }

    #[test]
    fn system_randomness_differs_between_draws() {
        let a = random_array::<32>().unwrap();
        let b = random_array::<32>().unwrap();
        assert_ne!(*a, *b);
    }
}
