//! LtHash, the lattice-based homomorphic multiset hash behind the state digest.
//!
//! Each account's record expands (blake3 XOF) to a vector of 1,024 16-bit words; the digest of a
//! set of records is their component-wise sum modulo 2^16. Adding, removing or changing a record
//! costs one or two expansions whatever the size of the state, any insertion order gives the same
//! sum, and removal is exact subtraction, so undo restores the digest bit for bit. Bellare and
//! Micciancio's LtHash with these parameters is estimated at 200+ bits of collision security
//! (Lewi et al., "Securing Update Propagation with Homomorphic Hashing", 2019).

use crate::hash::{self, Domain, Hash};

/// Number of 16-bit words in an LtHash.
pub const LTHASH_WORDS: usize = 1024;
/// Encoded size of an LtHash, in bytes.
pub const LTHASH_BYTES: usize = 2 * LTHASH_WORDS;

/// Why bytes are not an LtHash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an LtHash is {LTHASH_BYTES} bytes, got {0}")]
pub struct LtHashLengthError(pub usize);

/// A sum of expanded records modulo 2^16 per word.
#[derive(Clone, PartialEq, Eq)]
pub struct LtHash(Box<[u16; LTHASH_WORDS]>);

impl LtHash {
    /// The digest of the empty set.
    pub fn zero() -> Self {
        LtHash(Box::new([0; LTHASH_WORDS]))
    }

    /// Expands `record` (hashed in `domain`) to its vector.
    pub fn of(domain: Domain, record: &[u8]) -> Self {
        let mut bytes = [0u8; LTHASH_BYTES];
        let mut h = hash::hasher(domain);
        h.update(record);
        h.finalize_xof().fill(&mut bytes);
        let mut words = Box::new([0u16; LTHASH_WORDS]);
        for (w, pair) in words.iter_mut().zip(bytes.chunks_exact(2)) {
            *w = u16::from_le_bytes([pair[0], pair[1]]);
        }
        LtHash(words)
    }

    /// Adds `other` to this sum.
    pub fn add(&mut self, other: &LtHash) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = a.wrapping_add(*b);
        }
    }

    /// Subtracts `other` from this sum.
    pub fn sub(&mut self, other: &LtHash) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = a.wrapping_sub(*b);
        }
    }

    /// Little-endian words, for storage.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// From [`LtHash::to_bytes`] output.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LtHashLengthError> {
        if bytes.len() != LTHASH_BYTES {
            return Err(LtHashLengthError(bytes.len()));
        }
        let mut words = Box::new([0u16; LTHASH_WORDS]);
        for (w, pair) in words.iter_mut().zip(bytes.chunks_exact(2)) {
            *w = u16::from_le_bytes([pair[0], pair[1]]);
        }
        Ok(LtHash(words))
    }

    /// The 32-byte commitment to this sum, as headers carry it.
    pub fn root(&self) -> Hash {
        hash::hash(Domain::StateRoot, &self.to_bytes())
    }
}

impl std::fmt::Debug for LtHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LtHash(root {})", self.root())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_then_sub_is_identity_and_order_free() {
        let a = LtHash::of(Domain::StateLeaf, b"a");
        let b = LtHash::of(Domain::StateLeaf, b"b");
        let mut x = LtHash::zero();
        x.add(&a);
        x.add(&b);
        let mut y = LtHash::zero();
        y.add(&b);
        y.add(&a);
        assert_eq!(x, y);
        x.sub(&a);
        x.sub(&b);
        assert_eq!(x, LtHash::zero());
    }

    #[test]
    fn bytes_round_trip_and_length_checked() {
        let a = LtHash::of(Domain::StateLeaf, b"a");
        assert_eq!(LtHash::from_bytes(&a.to_bytes()), Ok(a));
        assert_eq!(LtHash::from_bytes(&[0; 3]), Err(LtHashLengthError(3)));
    }

    #[test]
    fn duplicate_records_count_twice() {
        // A multiset: adding the same record twice differs from adding it once.
        let a = LtHash::of(Domain::StateLeaf, b"a");
        let mut once = LtHash::zero();
        once.add(&a);
        let mut twice = once.clone();
        twice.add(&a);
        assert_ne!(once.root(), twice.root());
    }
}
