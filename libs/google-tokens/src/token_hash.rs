//! Hashing a whole token for a cache lookup costs more than the lookup is worth: SipHash over
//! an 850-byte Google ID token was 7 % of the IAP hop's instructions (callgrind), and a hop
//! hashes two tokens per request. [`SignatureTailHash`] hashes only the last bytes of the
//! token, which are its signature's, with the length; the map still compares whole tokens for
//! equality, so a lookup answers exactly as with a full hash.
//!
//! Why the tail is enough: a signature's bytes are unpredictable without the signing key, so
//! two distinct tokens a cache holds (both verified before they were inserted) share a tail
//! only by chance. An attacker can make lookups collide by copying a held token's tail, but a
//! miss costs one bucket's comparisons, not a verification; inserts need valid signatures. The
//! hasher stays keyed per map (foldhash's `RandomState`; std's SipHash cost ~350 instructions
//! a lookup even over the tail, foldhash a tenth of that).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// How many trailing bytes of each written slice are hashed: 24 bytes of base64url are 144
/// bits of signature.
const TAIL: usize = 24;

/// A map keyed by tokens, hashed by [`SignatureTailHash`].
pub type TokenMap<V> = HashMap<String, V, SignatureTailHash>;

/// Builds [`TailHasher`]s: keyed foldhash over the tail of what is hashed.
#[derive(Debug, Clone, Default)]
pub struct SignatureTailHash(foldhash::fast::RandomState);

impl BuildHasher for SignatureTailHash {
    type Hasher = TailHasher;

    fn build_hasher(&self) -> TailHasher {
        TailHasher(self.0.build_hasher())
    }
}

/// Feeds each written slice's last [`TAIL`] bytes and its length to foldhash.
pub struct TailHasher(foldhash::fast::FoldHasher<'static>);

impl Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.write_usize(bytes.len());
        self.0.write(&bytes[bytes.len().saturating_sub(TAIL)..]);
    }

    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_that_share_a_tail_are_still_different_keys() {
        let mut map: TokenMap<u8> = TokenMap::default();
        let tail = "x".repeat(40);
        map.insert(format!("a.b.{tail}"), 1);
        map.insert(format!("c.d.{tail}"), 2);
        assert_eq!(map.get(&format!("a.b.{tail}")), Some(&1));
        assert_eq!(map.get(&format!("c.d.{tail}")), Some(&2));
        assert_eq!(map.get(&format!("e.f.{tail}")), None);
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn only_the_tail_and_the_length_are_hashed() {
        let build = SignatureTailHash::default();
        let tail = "s".repeat(TAIL);
        assert_eq!(
            build.hash_one(format!("head-one.{tail}")),
            build.hash_one(format!("head-two.{tail}")),
            "same length and tail: same hash"
        );
        assert_ne!(
            build.hash_one(format!("head.{tail}")),
            build.hash_one(format!("longer-head.{tail}")),
            "the length counts"
        );
        assert_ne!(build.hash_one("abc"), build.hash_one("abd"));
    }
}
