//! The scalar encodings the answers share: amounts as decimal strings, hashes and work as hex,
//! each with the one schema every field of its kind refers to.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// Longest decimal u64: 20 digits.
const MAX_DIGITS: usize = 20;

/// An amount in base units (the chain's `decimals` say how many make a coin), written as a
/// decimal string because a supply may exceed 2^53.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(pub u64);

/// A string that is not a decimal u64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected 1 to 20 decimal digits, at most 2^64 - 1")]
pub struct DecimalError;

impl std::str::FromStr for Amount {
    type Err = DecimalError;

    fn from_str(s: &str) -> Result<Self, DecimalError> {
        if s.is_empty() || s.len() > MAX_DIGITS || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DecimalError);
        }
        s.parse().map(Amount).map_err(|_| DecimalError)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A string schema with a pattern, a description and an example.
fn string_schema(pattern: &str, description: &str, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
        .examples([example])
        .into()
}

/// The pattern of a decimal u64 (at most 20 digits; the node refuses the few 20-digit values
/// above 2^64 - 1, which no pattern can tell apart).
pub const DECIMAL_PATTERN: &str = "^[0-9]{1,20}$";

impl PartialSchema for Amount {
    fn schema() -> RefOr<Schema> {
        string_schema(
            DECIMAL_PATTERN,
            "An amount in base units, as a decimal string (amounts may exceed 2^53).",
            "5000000000",
        )
    }
}

impl ToSchema for Amount {}

/// The schema of every hash field: a block id, transaction id, merkle or state root. A type
/// for the document only; the fields themselves are [`ferrite_core::Hash`].
pub struct HashHex;

impl PartialSchema for HashHex {
    fn schema() -> RefOr<Schema> {
        string_schema(
            "^[0-9a-f]{64}$",
            "A block id, transaction id, merkle or state root: 64 lower-case hex digits, the \
             hash's 32 bytes in order (no byte reversal).",
            "000005b4599ef962ef82343238e240ecc9d34634a0f2cc2d545995356aa679e2",
        )
    }
}

impl ToSchema for HashHex {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Hash")
    }
}

/// The schema of cumulative work ([`ferrite_core::target::Work`]): `0x` and lower-case hex.
pub struct WorkHex;

impl PartialSchema for WorkHex {
    fn schema() -> RefOr<Schema> {
        string_schema(
            "^0x[0-9a-f]{1,64}$",
            "Cumulative proof of work (expected hashes), 0x-prefixed hex without leading zeros.",
            "0x2a0b",
        )
    }
}

impl ToSchema for WorkHex {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Work")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_amount_is_a_decimal_string_both_ways() {
        let big = Amount(u64::MAX);
        let text = serde_json::to_string(&big).unwrap();
        assert_eq!(text, "\"18446744073709551615\"");
        assert_eq!(serde_json::from_str::<Amount>(&text).unwrap(), big);
        for bad in [
            "\"\"",
            "\"-1\"",
            "\"+1\"",
            "\"1.0\"",
            "\"18446744073709551616\"",
            "1",
        ] {
            assert!(serde_json::from_str::<Amount>(bad).is_err(), "{bad}");
        }
    }
}
