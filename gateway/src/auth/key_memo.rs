//! Connection key → key hash, remembered (issue 17).
//!
//! Every request with a connection key needs the key's HMAC-SHA-256 (what the database stores
//! and the principal cache is keyed by). The HMAC is a pure function of the key, so a table of
//! recent results is never stale: nothing here is evicted by changes, and a key revoked a
//! second ago still maps to its hash, which the principal cache then refuses as before.
//!
//! The table is direct-mapped (a slot per tag's low bits, the newer key wins a slot), so it is
//! bounded ([`SLOTS`] entries, about 1 MiB) whatever a stranger sends. Its tag is SipHash-2-4 with
//! a 128-bit output under a key drawn at start-up and never stored: a tag match stands for the
//! key itself, and finding two keys with one tag without that key is a 2^-128 affair. The raw
//! key is not kept. A hit costs one SipHash of 32 bytes and one uncontended lock, instead of
//! HMAC's two SHA-256 compressions plus padding.

use std::hash::Hasher;
use std::sync::Mutex;

use rand::RngCore;
use sesame_domain::secrets::KeyHasher;
use sesame_domain::{ConnectionKey, KeyHash};
use siphasher::sip128::{Hasher128, SipHasher24};

/// Slots in the table (a power of two): 16,384 × 64 bytes.
const SLOTS: usize = 1 << 14;

/// A remembered hash: `tag` is the key's SipHash under [`KeyHashes::sip`].
#[derive(Clone, Copy)]
struct Slot {
    tag: u128,
    hash: KeyHash,
}

pub(crate) struct KeyHashes {
    hasher: KeyHasher,
    sip: (u64, u64),
    slots: Box<[Mutex<Option<Slot>>]>,
}

impl KeyHashes {
    pub fn new(hasher: KeyHasher) -> KeyHashes {
        let mut rng = rand::rngs::OsRng;
        KeyHashes {
            hasher,
            sip: (rng.next_u64(), rng.next_u64()),
            slots: (0..SLOTS).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// The key's HMAC, from the table when this key was hashed recently.
    pub fn hash_key(&self, key: &ConnectionKey) -> KeyHash {
        let mut sip = SipHasher24::new_with_keys(self.sip.0, self.sip.1);
        sip.write(key.as_bytes());
        let tag = sip.finish128().as_u128();
        // Low bits pick the slot (SipHash output is uniform); the whole tag confirms the key.
        let slot = &self.slots[(tag as usize) & (SLOTS - 1)];
        if let Ok(s) = slot.lock() {
            if let Some(s) = *s {
                if s.tag == tag {
                    return s.hash;
                }
            }
        }
        let hash = self.hasher.hash_key(key);
        // A poisoned slot (a panic while holding it: there is no code that can) is skipped.
        if let Ok(mut s) = slot.lock() {
            *s = Some(Slot { tag, hash });
        }
        hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> ConnectionKey {
        ConnectionKey::parse(&format!("{i:032X}")).expect("32 hex characters")
    }

    #[test]
    fn remembered_hashes_are_the_hmac_whatever_the_table_holds() {
        let hasher = KeyHasher::new(&[7u8; 32]).expect("a 32-byte secret");
        let memo = KeyHashes::new(hasher.clone());
        // More keys than slots: slots are shared and overwritten; every answer stays exact.
        for round in 0..2 {
            for i in 0..(SLOTS as u32 + 1000) {
                let k = key(i.wrapping_mul(2_654_435_761));
                assert_eq!(
                    memo.hash_key(&k),
                    hasher.hash_key(&k),
                    "key {i} round {round}"
                );
            }
        }
    }

    #[test]
    fn the_tag_key_is_drawn_per_table() {
        let hasher = KeyHasher::new(&[7u8; 32]).expect("a 32-byte secret");
        let (a, b) = (KeyHashes::new(hasher.clone()), KeyHashes::new(hasher));
        assert_ne!(a.sip, b.sip);
    }
}
