//! Tiny deterministic pseudo-random tools.
//!
//! The simulator's synthetic data must be identical from one run to the next for a given seed
//! (tests build reference models from it, benchmarks compare runs), so nothing here touches the
//! OS entropy source: everything is SplitMix64 seeded from a hash of (seed, labels…).

/// SplitMix64: small, fast, good enough statistical quality for fake data and fault draws.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A value in `0..n` (0 when `n == 0`, so callers never divide by zero). The modulo bias is
    /// irrelevant for fake data.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        let v = self.next_u64();
        if n == 0 {
            0
        } else {
            v % n
        }
    }

    /// A float uniformly drawn in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        // 53 high bits → exactly representable in an f64 mantissa.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Picks one element of a non-empty constant table.
    pub(crate) fn pick<'a, T>(&mut self, table: &'a [T]) -> &'a T {
        // `below(len)` is < len whenever len > 0; every table passed here is a non-empty
        // constant, and `first()` keeps this total anyway.
        let i = self.below(table.len() as u64) as usize;
        table.get(i).unwrap_or(&table[0])
    }

    /// `n` decimal digits, leading zeros allowed.
    pub(crate) fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
}

/// SplitMix64's finaliser: a bijective avalanche of a 64-bit word.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hashes a seed and a list of labels into a 64-bit stream seed (FNV-1a, then mixed). A separator
/// byte between parts keeps ("ab","c") and ("a","bc") apart.
pub(crate) fn hash(seed: u64, parts: &[&str]) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325 ^ mix(seed);
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0xFF)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
    mix(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = SplitMix64::new(hash(7, &["x", "1"]));
        let mut b = SplitMix64::new(hash(7, &["x", "1"]));
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(hash(7, &["ab", "c"]), hash(7, &["a", "bc"]));
        assert_ne!(hash(7, &["x"]), hash(8, &["x"]));
    }

    #[test]
    fn ranges_hold() {
        let mut r = SplitMix64::new(1);
        for _ in 0..1000 {
            assert!(r.below(7) < 7);
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
        }
        assert_eq!(r.below(0), 0);
        assert_eq!(r.digits(11).len(), 11);
    }
}
