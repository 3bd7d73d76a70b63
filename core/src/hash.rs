//! The 32-byte hash type and Ferrite's domain-separated blake3 hashing.
//!
//! Every use of a hash (block header, transaction id, merkle leaf, merkle node, address, state...)
//! has its own [`Domain`]. Each domain hashes with a distinct blake3 key derived from a context
//! string, so bytes hashed for one purpose can never collide with bytes hashed for another.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length of every Ferrite hash, in bytes.
pub const HASH_LEN: usize = 32;

/// A 32-byte blake3 digest. Shown and parsed as 64 lowercase hex characters, first byte first.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; HASH_LEN]);

impl Hash {
    /// The all-zero hash: the parent of the genesis block's parent, and a placeholder.
    pub const ZERO: Hash = Hash([0; HASH_LEN]);

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// Why a string is not a hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashParseError {
    /// A hash is exactly 64 hex characters.
    #[error("a hash is 64 hex characters, got {0}")]
    WrongLength(usize),
    /// Only 0-9, a-f and A-F may appear.
    #[error("a hash contains only hex digits")]
    NotHex,
}

impl FromStr for Hash {
    type Err = HashParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 2 * HASH_LEN {
            return Err(HashParseError::WrongLength(s.len()));
        }
        let mut out = [0u8; HASH_LEN];
        hex::decode_to_slice(s, &mut out).map_err(|_| HashParseError::NotHex)?;
        Ok(Hash(out))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a hash is for. Each domain hashes under its own derived key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// Block header: the block id and the proof-of-work hash.
    Header,
    /// Transaction id: the full signed encoding.
    Transaction,
    /// Merkle tree leaf (a transaction id).
    MerkleLeaf,
    /// Merkle tree inner node (two child hashes).
    MerkleNode,
    /// Merkle root of a block without transactions.
    MerkleEmpty,
    /// Address: hash of an ed25519 public key.
    Address,
    /// One account's contribution to the state digest (expanded to an LtHash vector).
    StateLeaf,
    /// The state root committed in headers: hash of the LtHash accumulator.
    StateRoot,
    /// The signed message of a transaction.
    TxSignature,
    /// The consensus parameters of a genesis configuration.
    GenesisConfig,
}

/// Number of domains; keys are cached in an array indexed by the domain.
const DOMAIN_COUNT: usize = 10;

impl Domain {
    fn context(self) -> &'static str {
        match self {
            Domain::Header => "ferrite 2026-11-26 block header v1",
            Domain::Transaction => "ferrite 2026-11-26 transaction id v1",
            Domain::MerkleLeaf => "ferrite 2026-11-26 merkle leaf v1",
            Domain::MerkleNode => "ferrite 2026-11-26 merkle node v1",
            Domain::MerkleEmpty => "ferrite 2026-11-26 merkle empty v1",
            Domain::Address => "ferrite 2026-11-26 address v1",
            Domain::StateLeaf => "ferrite 2026-11-26 state leaf v1",
            Domain::StateRoot => "ferrite 2026-11-26 state root v1",
            Domain::TxSignature => "ferrite 2026-11-26 transaction signature v1",
            Domain::GenesisConfig => "ferrite 2026-11-26 genesis config v1",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    const ALL: [Domain; DOMAIN_COUNT] = [
        Domain::Header,
        Domain::Transaction,
        Domain::MerkleLeaf,
        Domain::MerkleNode,
        Domain::MerkleEmpty,
        Domain::Address,
        Domain::StateLeaf,
        Domain::StateRoot,
        Domain::TxSignature,
        Domain::GenesisConfig,
    ];

    /// The 32-byte blake3 key of this domain, derived once from its context string.
    pub fn key(self) -> &'static [u8; 32] {
        static KEYS: OnceLock<[[u8; 32]; DOMAIN_COUNT]> = OnceLock::new();
        let keys = KEYS.get_or_init(|| Domain::ALL.map(|d| blake3::derive_key(d.context(), &[])));
        &keys[self.index()]
    }

    /// The signing-message prefix for transaction signatures (the context string's bytes).
    pub fn tag(self) -> &'static [u8] {
        self.context().as_bytes()
    }
}

/// Hashes `data` in `domain`.
pub fn hash(domain: Domain, data: &[u8]) -> Hash {
    Hash(*blake3::keyed_hash(domain.key(), data).as_bytes())
}

/// A streaming hasher for `domain`, for inputs built from several pieces.
pub fn hasher(domain: Domain) -> blake3::Hasher {
    blake3::Hasher::new_keyed(domain.key())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_separate_equal_inputs() {
        let data = [7u8; 64];
        let mut seen = std::collections::HashSet::new();
        for d in Domain::ALL {
            assert!(
                seen.insert(hash(d, &data)),
                "{d:?} collides with another domain"
            );
        }
    }

    #[test]
    fn domain_keys_are_indexed_consistently() {
        for d in Domain::ALL {
            assert_eq!(*d.key(), blake3::derive_key(d.context(), &[]));
        }
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let h = hash(Domain::Header, b"x");
        assert_eq!(h.to_string().parse::<Hash>(), Ok(h));
        assert_eq!("ab".parse::<Hash>(), Err(HashParseError::WrongLength(2)));
        let bad = "g".repeat(64);
        assert_eq!(bad.parse::<Hash>(), Err(HashParseError::NotHex));
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<Hash>(&json).unwrap(), h);
    }
}
