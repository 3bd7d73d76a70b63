//! 256-bit proof-of-work targets in Bitcoin's compact `nBits` form, and chain work.
//!
//! A header hash, read as a big-endian 256-bit integer, meets a target when it is `<=` the target.
//! Compact decoding follows Bitcoin's `SetCompact` exactly; negative, overflowing and zero forms
//! are refused as targets, as Bitcoin's proof-of-work check refuses them.

use std::fmt;

use primitive_types::U256;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::hash::Hash;

/// Sign bit of the compact mantissa.
const COMPACT_SIGN_BIT: u32 = 0x0080_0000;
/// Mantissa bits of a compact value.
const COMPACT_MANTISSA: u32 = 0x007f_ffff;

/// Why a compact value is not a usable target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CompactError {
    /// The sign bit is set on a non-zero mantissa.
    #[error("compact target {0:#010x} is negative")]
    Negative(u32),
    /// The value does not fit in 256 bits.
    #[error("compact target {0:#010x} overflows 256 bits")]
    Overflow(u32),
    /// The value is zero, which no hash can meet except all zeros.
    #[error("compact target {0:#010x} is zero")]
    Zero(u32),
}

/// Bitcoin's `SetCompact`, bit for bit: the value and its negative and overflow flags.
pub fn decode_compact(bits: u32) -> (U256, bool, bool) {
    let size = bits >> 24;
    let mut word = bits & COMPACT_MANTISSA;
    let value = if size <= 3 {
        word >>= 8 * (3 - size);
        U256::from(word)
    } else {
        let shift = 8 * (size - 3);
        // Shifts of 256 or more are overflow (flagged below); avoid shifting out of range.
        if shift >= 256 {
            U256::zero()
        } else {
            U256::from(word) << shift
        }
    };
    let negative = word != 0 && (bits & COMPACT_SIGN_BIT) != 0;
    let overflow =
        word != 0 && (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32));
    (value, negative, overflow)
}

/// Bitcoin's `GetCompact` for a non-negative value.
pub fn encode_compact(value: U256) -> u32 {
    let mut size = value.bits().div_ceil(8) as u32;
    let mut compact = if size <= 3 {
        (value.low_u64() << (8 * (3 - size))) as u32
    } else {
        (value >> (8 * (size - 3))).low_u64() as u32
    };
    if compact & COMPACT_SIGN_BIT != 0 {
        compact >>= 8;
        size += 1;
    }
    compact | (size << 24)
}

/// A proof-of-work target: the largest header hash that meets it. Never zero.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target(U256);

impl Target {
    /// The easiest possible target.
    pub const MAX: Target = Target(U256::MAX);

    /// Decodes compact `bits` with Bitcoin's semantics, refusing negative, overflowing and zero.
    pub fn from_compact(bits: u32) -> Result<Target, CompactError> {
        let (value, negative, overflow) = decode_compact(bits);
        if negative {
            return Err(CompactError::Negative(bits));
        }
        if overflow {
            return Err(CompactError::Overflow(bits));
        }
        if value.is_zero() {
            return Err(CompactError::Zero(bits));
        }
        Ok(Target(value))
    }

    /// The compact form (which may round the target down).
    pub fn to_compact(&self) -> u32 {
        encode_compact(self.0)
    }

    /// A target from a 256-bit value; `None` for zero.
    pub fn from_u256(value: U256) -> Option<Target> {
        (!value.is_zero()).then_some(Target(value))
    }

    /// The 256-bit value.
    pub fn as_u256(&self) -> U256 {
        self.0
    }

    /// True if `hash`, read as a big-endian integer, is at most this target.
    pub fn is_met_by(&self, hash: &Hash) -> bool {
        U256::from_big_endian(&hash.0) <= self.0
    }

    /// The expected number of hashes to meet this target: 2^256 / (target + 1).
    pub fn work(&self) -> Work {
        if self.0 == U256::MAX {
            return Work(U256::one());
        }
        // 2^256 / (t + 1) == (2^256 - t - 1) / (t + 1) + 1 == !t / (t + 1) + 1, all in 256 bits.
        Work((!self.0) / (self.0 + 1) + 1)
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({:#066x})", self.0)
    }
}

/// Cumulative proof of work: a sum of per-block work, compared to pick the best chain.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Work(U256);

impl Work {
    /// No work.
    pub const ZERO: Work = Work(U256::zero());

    /// The sum, or `None` if it would pass 2^256 - 1.
    pub fn checked_add(self, other: Work) -> Option<Work> {
        self.0.checked_add(other.0).map(Work)
    }

    /// The difference, or `None` if `other` is larger.
    pub fn checked_sub(self, other: Work) -> Option<Work> {
        self.0.checked_sub(other.0).map(Work)
    }

    /// The 256-bit value.
    pub fn as_u256(&self) -> U256 {
        self.0
    }

    /// Big-endian bytes, for storage keys and wire messages.
    pub fn to_be_bytes(&self) -> [u8; 32] {
        self.0.to_big_endian()
    }

    /// From big-endian bytes.
    pub fn from_be_bytes(bytes: &[u8; 32]) -> Work {
        Work(U256::from_big_endian(bytes))
    }

    /// Lowercase hex without leading zeros (`0x`-prefixed), as JSON shows work.
    pub fn to_hex(&self) -> String {
        format!("{:#x}", self.0)
    }
}

impl fmt::Debug for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Work({:#x})", self.0)
    }
}

impl fmt::Display for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Work {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Work {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let digits = s
            .strip_prefix("0x")
            .ok_or_else(|| serde::de::Error::custom("work is 0x-prefixed hex"))?;
        U256::from_str_radix(digits, 16)
            .map(Work)
            .map_err(|_| serde::de::Error::custom("work is 0x-prefixed hex"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex256(s: &str) -> U256 {
        U256::from_str_radix(s, 16).unwrap()
    }

    /// Bitcoin Core's `SetCompact`/`GetCompact` unit cases (arith_uint256_tests.cpp):
    /// (compact, value in hex, negative, overflow, GetCompact of the value with its sign).
    const BITCOIN_CASES: &[(u32, &str, bool, bool, u32)] = &[
        (0x0000_0000, "0", false, false, 0),
        (0x0012_3456, "0", false, false, 0),
        (0x0100_3456, "0", false, false, 0),
        (0x0200_0056, "0", false, false, 0),
        (0x0300_0000, "0", false, false, 0),
        (0x0400_0000, "0", false, false, 0),
        (0x0092_3456, "0", false, false, 0),
        (0x0180_3456, "0", false, false, 0),
        (0x0280_0056, "0", false, false, 0),
        (0x0380_0000, "0", false, false, 0),
        (0x0480_0000, "0", false, false, 0),
        (0x0112_3456, "12", false, false, 0x0112_0000),
        (0x01fe_dcba, "7e", true, false, 0x01fe_0000),
        (0x0212_3456, "1234", false, false, 0x0212_3400),
        (0x0312_3456, "123456", false, false, 0x0312_3456),
        (0x0412_3456, "12345600", false, false, 0x0412_3456),
        (0x0492_3456, "12345600", true, false, 0x0492_3456),
        (0x0500_9234, "92340000", false, false, 0x0500_9234),
        (
            0x2012_3456,
            "1234560000000000000000000000000000000000000000000000000000000000",
            false,
            false,
            0x2012_3456,
        ),
    ];

    #[test]
    fn bitcoin_set_compact_vectors() {
        for &(bits, value, neg, ovf, compact) in BITCOIN_CASES {
            let (v, n, o) = decode_compact(bits);
            assert_eq!((v, n, o), (hex256(value), neg, ovf), "{bits:#x}");
            // GetCompact(fNegative) sets the sign bit again for negative non-zero values.
            let mut c = encode_compact(v);
            if n && c & COMPACT_MANTISSA != 0 {
                c |= COMPACT_SIGN_BIT;
            }
            assert_eq!(c, compact, "{bits:#x}");
        }
        let (_, _, overflow) = decode_compact(0xff12_3456);
        assert!(overflow);
    }

    #[test]
    fn bitcoin_mainnet_targets() {
        // Genesis difficulty 1.
        let t = Target::from_compact(0x1d00_ffff).unwrap();
        assert_eq!(t.as_u256(), U256::from(0xffffu64) << 208);
        assert_eq!(t.to_compact(), 0x1d00_ffff);
        // Difficulty-1 work is 2^256 / (0xffff * 2^208 + 1) = 0x100010001.
        assert_eq!(t.work().as_u256(), U256::from(0x1_0001_0001u64));
        // Block 32256 (first retarget) used 0x1d00d86a.
        let t = Target::from_compact(0x1d00_d86a).unwrap();
        assert_eq!(t.as_u256(), U256::from(0xd86au64) << 208);
        // The bitcoin wiki example 0x1b0404cb.
        let t = Target::from_compact(0x1b04_04cb).unwrap();
        assert_eq!(
            t.as_u256(),
            hex256("00000000000404CB000000000000000000000000000000000000000000000000")
        );
    }

    #[test]
    fn unusable_compact_forms_are_refused() {
        assert_eq!(
            Target::from_compact(0x0492_3456),
            Err(CompactError::Negative(0x0492_3456))
        );
        assert_eq!(
            Target::from_compact(0xff12_3456),
            Err(CompactError::Overflow(0xff12_3456))
        );
        assert_eq!(
            Target::from_compact(0x2112_3456),
            Err(CompactError::Overflow(0x2112_3456))
        );
        assert_eq!(
            Target::from_compact(0x0100_3456),
            Err(CompactError::Zero(0x0100_3456))
        );
        // 0x21 with a one-byte mantissa still fits in 256 bits.
        assert!(Target::from_compact(0x2100_00ff).is_ok());
    }

    #[test]
    fn hash_meets_target_at_the_boundary() {
        let t = Target::from_u256(U256::from(1000u64)).unwrap();
        let mut h = [0u8; 32];
        h[30..].copy_from_slice(&1000u16.to_be_bytes());
        assert!(t.is_met_by(&Hash(h)));
        h[31] += 1;
        assert!(!t.is_met_by(&Hash(h)));
    }

    #[test]
    fn work_of_extremes() {
        assert_eq!(Target::MAX.work().as_u256(), U256::one());
        let one = Target::from_u256(U256::one()).unwrap();
        assert_eq!(one.work().as_u256(), U256::one() << 255);
        let half = Target::from_u256(U256::MAX >> 1).unwrap();
        assert_eq!(half.work().as_u256(), U256::from(2u64));
        assert_eq!(Work(U256::MAX).checked_add(Work(U256::one())), None);
    }

    #[test]
    fn work_json_round_trip() {
        let w = Target::from_compact(0x1d00_ffff).unwrap().work();
        let s = serde_json::to_string(&w).unwrap();
        assert_eq!(s, "\"0x100010001\"");
        assert_eq!(serde_json::from_str::<Work>(&s).unwrap(), w);
        assert!(serde_json::from_str::<Work>("\"12\"").is_err());
    }
}
