//! Addresses: the blake3 hash of an ed25519 public key, written as bech32m with the chain's prefix.
//!
//! The prefix (human-readable part) comes from the genesis configuration, so an address of one
//! chain does not parse on another, and the bech32m checksum catches typos.

use std::fmt;

use bech32::primitives::decode::{CheckedHrpstring, CheckedHrpstringError};
use bech32::{Bech32m, Hrp};

use crate::encoding::{Decode, DecodeError, Encode, Reader};
use crate::hash::{self, Domain};
use crate::keys::PublicKey;

/// Length of an address payload, in bytes.
pub const ADDRESS_LEN: usize = 32;

/// Longest accepted prefix. bech32m strings are at most 90 characters; a 32-byte payload takes 52
/// data characters, the separator 1 and the checksum 6, which leaves 31, and 20 is ample.
pub const MAX_PREFIX_LEN: usize = 20;

/// An account address: blake3 (address domain) of the owner's public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Address(pub [u8; ADDRESS_LEN]);

/// Why a string is not an address of this chain, or a prefix is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The bech32m checksum does not match: a typo, or a bech32 (not bech32m) string.
    #[error("address checksum is wrong (typo?)")]
    BadChecksum,
    /// Not a bech32 string at all (no separator, bad characters, mixed case...).
    #[error("not a bech32m address: {0}")]
    Malformed(String),
    /// A valid address of another chain.
    #[error("address is for prefix `{found}`, this chain uses `{expected}`")]
    WrongPrefix {
        /// This chain's prefix.
        expected: String,
        /// The prefix in the string.
        found: String,
    },
    /// The payload is not 32 bytes.
    #[error("address payload must be {ADDRESS_LEN} bytes, got {0}")]
    WrongLength(usize),
    /// The unused padding bits of the payload are not zero (a second spelling of an address).
    #[error("address has non-zero padding bits")]
    NonZeroPadding,
    /// The configured prefix cannot be used.
    #[error("invalid address prefix `{0}`: 1 to {MAX_PREFIX_LEN} lowercase letters or digits")]
    BadPrefix(String),
}

impl Address {
    /// The address controlled by `key`.
    pub fn from_public_key(key: &PublicKey) -> Self {
        Address(hash::hash(Domain::Address, &key.0).0)
    }

    /// The bech32m string of this address under `prefix`.
    pub fn to_bech32(&self, prefix: &AddressPrefix) -> String {
        // Encoding only fails past the 90-character limit, which MAX_PREFIX_LEN rules out.
        bech32::encode::<Bech32m>(prefix.0, &self.0).unwrap_or_default()
    }

    /// Parses a bech32m address and checks that it belongs to the chain with `prefix`.
    /// All-lowercase and all-uppercase strings are accepted; mixed case is not.
    pub fn parse(s: &str, prefix: &AddressPrefix) -> Result<Self, AddressError> {
        let checked = CheckedHrpstring::new::<Bech32m>(s).map_err(|e| match e {
            CheckedHrpstringError::Checksum(_) => AddressError::BadChecksum,
            other => AddressError::Malformed(other.to_string()),
        })?;
        let found = checked.hrp().to_lowercase();
        if found != prefix.as_str() {
            return Err(AddressError::WrongPrefix {
                expected: prefix.as_str().to_string(),
                found,
            });
        }
        let bytes: Vec<u8> = checked.byte_iter().collect();
        let arr: [u8; ADDRESS_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| AddressError::WrongLength(bytes.len()))?;
        let address = Address(arr);
        // The 4 padding bits must be zero, so that each address has exactly one string.
        if address.to_bech32(prefix) != s.to_lowercase() {
            return Err(AddressError::NonZeroPadding);
        }
        Ok(address)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", hex::encode(self.0))
    }
}

impl Encode for Address {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    fn encoded_len(&self) -> usize {
        ADDRESS_LEN
    }
}

impl Decode for Address {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Address(r.array()?))
    }
}

/// A chain's address prefix: 1 to [`MAX_PREFIX_LEN`] lowercase ASCII letters or digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AddressPrefix(Hrp);

impl AddressPrefix {
    /// Checks and wraps a prefix.
    pub fn new(s: &str) -> Result<Self, AddressError> {
        let ok = !s.is_empty()
            && s.len() <= MAX_PREFIX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !ok {
            return Err(AddressError::BadPrefix(s.to_string()));
        }
        Hrp::parse(s)
            .map(AddressPrefix)
            .map_err(|_| AddressError::BadPrefix(s.to_string()))
    }

    /// The prefix text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for AddressPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AddressPrefix({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix() -> AddressPrefix {
        AddressPrefix::new("tfe").unwrap()
    }

    fn sample() -> Address {
        Address([0x5a; 32])
    }

    #[test]
    fn round_trips_and_upper_case_parses() {
        let s = sample().to_bech32(&prefix());
        assert!(s.starts_with("tfe1"));
        assert_eq!(Address::parse(&s, &prefix()), Ok(sample()));
        assert_eq!(Address::parse(&s.to_uppercase(), &prefix()), Ok(sample()));
    }

    #[test]
    fn typo_is_caught_by_checksum() {
        let s = sample().to_bech32(&prefix());
        let mut chars: Vec<char> = s.chars().collect();
        let i = 10;
        chars[i] = if chars[i] == 'q' { 'p' } else { 'q' };
        let typo: String = chars.into_iter().collect();
        assert_eq!(
            Address::parse(&typo, &prefix()),
            Err(AddressError::BadChecksum)
        );
    }

    #[test]
    fn mixed_case_is_malformed() {
        let s = sample().to_bech32(&prefix());
        let mixed = format!("{}{}", &s[..5], s[5..].to_uppercase());
        assert!(matches!(
            Address::parse(&mixed, &prefix()),
            Err(AddressError::Malformed(_))
        ));
    }

    #[test]
    fn wrong_prefix_is_named() {
        let other = AddressPrefix::new("fe").unwrap();
        let s = sample().to_bech32(&other);
        assert_eq!(
            Address::parse(&s, &prefix()),
            Err(AddressError::WrongPrefix {
                expected: "tfe".into(),
                found: "fe".into()
            })
        );
    }

    #[test]
    fn wrong_length_is_rejected() {
        let s = bech32::encode::<Bech32m>(Hrp::parse("tfe").unwrap(), &[1u8; 20]).unwrap();
        assert_eq!(
            Address::parse(&s, &prefix()),
            Err(AddressError::WrongLength(20))
        );
    }

    #[test]
    fn bech32_not_bech32m_is_rejected() {
        let s = bech32::encode::<bech32::Bech32>(Hrp::parse("tfe").unwrap(), &[1u8; 32]).unwrap();
        assert_eq!(
            Address::parse(&s, &prefix()),
            Err(AddressError::BadChecksum)
        );
    }

    #[test]
    fn non_zero_padding_is_refused() {
        // Flip the lowest padding bit of the last data character and fix up the checksum.
        let hrp = Hrp::parse("tfe").unwrap();
        let good = sample().to_bech32(&prefix());
        let data: Vec<bech32::Fe32> = good[4..good.len() - 6]
            .chars()
            .map(|c| bech32::Fe32::from_char(c).unwrap())
            .collect();
        let mut tweaked = data.clone();
        let last = tweaked.len() - 1;
        tweaked[last] = bech32::Fe32::try_from(tweaked[last].to_u8() ^ 1).unwrap();
        let s: String = bech32::primitives::iter::Fe32IterExt::with_checksum::<Bech32m>(
            tweaked.into_iter(),
            &hrp,
        )
        .chars()
        .collect();
        assert_ne!(s, good);
        assert_eq!(
            Address::parse(&s, &prefix()),
            Err(AddressError::NonZeroPadding)
        );
    }

    #[test]
    fn bad_prefixes_are_refused() {
        for p in ["", "TFE", "t-e", "abcdefghijklmnopqrstu"] {
            assert!(AddressPrefix::new(p).is_err(), "{p:?}");
        }
    }
}
