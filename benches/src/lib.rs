//! Shared fixtures for Sesame's benchmarks (see `benches/README.md`).
#![forbid(unsafe_code)]

use sesame_domain::{RightSet, Scope, ScopedRight};

/// A deterministic spread of right sets, like real links and entitlements.
pub fn right_sets(n: usize) -> Vec<RightSet> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            // SplitMix64: cheap, deterministic, good enough to vary the bits.
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            RightSet::from_bits(z ^ (z >> 31))
        })
        .collect()
}

/// Whether a parcel is visible to a caller: the check the gateway runs per parcel.
pub fn visible(rights: RightSet, owner_matches: bool, tag_matches: bool) -> bool {
    let s: Scope = rights
        .scope(ScopedRight::TrackingTool)
        .union(rights.scope(ScopedRight::TrackingToolCs));
    s.allows(owner_matches, tag_matches)
}
