//! Deterministic randomness. Every value in a dataset comes from a ChaCha8 stream
//! keyed by the dataset's seed and the coordinates of what is being generated
//! (persona, account, day), so any part can be regenerated on its own, lazily, and
//! the same seed gives the same bytes on any machine: ChaCha is portable, and
//! `seed_from_u64` is specified by `rand_core` (PCG32 expansion), unlike `StdRng`.

use rand_chacha09::rand_core::SeedableRng;
pub use rand_chacha09::ChaCha8Rng as Stream;

/// SplitMix64's finaliser: a bijective mix, so distinct inputs give distinct keys.
const fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One 64-bit key for a list of coordinates.
pub fn key(parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(0x6761_7465_686F_7573, |acc, part| mix64(acc ^ mix64(*part)))
}

/// The stream for these coordinates.
pub fn stream(parts: &[u64]) -> Stream {
    Stream::seed_from_u64(key(parts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand09::Rng;

    #[test]
    fn same_coordinates_same_stream_and_different_ones_differ() {
        let a: u64 = stream(&[1, 2, 3]).random();
        let b: u64 = stream(&[1, 2, 3]).random();
        let c: u64 = stream(&[1, 2, 4]).random();
        let d: u64 = stream(&[2, 1, 3]).random();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }
}
