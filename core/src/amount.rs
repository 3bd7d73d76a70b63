//! Amounts as people type and read them: decimal coins ("12.5") converted exactly to and from
//! the integer base units the ledger stores, given the chain's number of decimals.

use crate::genesis::MAX_DECIMALS;

/// Why a typed amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Nothing was typed.
    #[error("amount is empty")]
    Empty,
    /// A minus sign: amounts are never negative.
    #[error("amount cannot be negative")]
    Negative,
    /// Something other than digits and one decimal point (signs, exponents, spaces, commas).
    #[error("amount {0:?} is not a decimal number like 12.5")]
    Malformed(String),
    /// More fractional digits than the chain's base unit allows.
    #[error("amount has more than {0} decimal places")]
    TooPrecise(u8),
    /// Larger than the ledger can hold.
    #[error("amount is larger than the largest possible balance")]
    Overflow,
    /// The chain's decimals are out of range.
    #[error("decimals must be at most {MAX_DECIMALS}, got {0}")]
    BadDecimals(u8),
}

fn scale(decimals: u8) -> Result<u64, AmountError> {
    if decimals > MAX_DECIMALS {
        return Err(AmountError::BadDecimals(decimals));
    }
    Ok(10u64.pow(u32::from(decimals)))
}

/// Parses decimal coins (`"12"`, `"12.5"`, `"0.00000001"`, `".5"`) into base units.
pub fn parse_amount(s: &str, decimals: u8) -> Result<u64, AmountError> {
    let unit = scale(decimals)?;
    let s = s.trim();
    if s.is_empty() {
        return Err(AmountError::Empty);
    }
    if s.starts_with('-') {
        return Err(AmountError::Negative);
    }
    let malformed = || AmountError::Malformed(s.to_string());
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) {
        return Err(malformed());
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > usize::from(decimals) {
        return Err(AmountError::TooPrecise(decimals));
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        // Only digits: a parse failure means too many of them.
        whole.parse().map_err(|_| AmountError::Overflow)?
    };
    let frac_units: u64 = if frac.is_empty() {
        0
    } else {
        let padded = format!("{frac:0<width$}", width = usize::from(decimals));
        padded.parse().map_err(|_| malformed())?
    };
    whole
        .checked_mul(unit)
        .and_then(|w| w.checked_add(frac_units))
        .ok_or(AmountError::Overflow)
}

/// Formats base units as decimal coins, without trailing zeros (`1250000000` with 8 decimals
/// is `"12.5"`).
pub fn format_amount(units: u64, decimals: u8) -> String {
    let Ok(unit) = scale(decimals) else {
        return units.to_string();
    };
    let (whole, frac) = (units / unit, units % unit);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:0>width$}", width = usize::from(decimals));
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_usual_forms() {
        assert_eq!(parse_amount("12", 8), Ok(1_200_000_000));
        assert_eq!(parse_amount("12.5", 8), Ok(1_250_000_000));
        assert_eq!(parse_amount(" 0.00000001 ", 8), Ok(1));
        assert_eq!(parse_amount(".5", 8), Ok(50_000_000));
        assert_eq!(parse_amount("5.", 8), Ok(500_000_000));
        assert_eq!(parse_amount("1.10000000000", 8), Ok(110_000_000));
        assert_eq!(parse_amount("7", 0), Ok(7));
        assert_eq!(parse_amount("184467440737.09551615", 8), Ok(u64::MAX));
    }

    #[test]
    fn refuses_what_is_not_an_amount() {
        assert_eq!(parse_amount("", 8), Err(AmountError::Empty));
        assert_eq!(parse_amount("-1", 8), Err(AmountError::Negative));
        assert_eq!(
            parse_amount("0.000000001", 8),
            Err(AmountError::TooPrecise(8))
        );
        assert_eq!(parse_amount("1.5", 0), Err(AmountError::TooPrecise(0)));
        assert_eq!(
            parse_amount("184467440737.09551616", 8),
            Err(AmountError::Overflow)
        );
        assert_eq!(
            parse_amount("99999999999999999999999", 8),
            Err(AmountError::Overflow)
        );
        for bad in [
            ".", "1.2.3", "1e5", "+1", "1,5", "1 000", "0x10", "one", "１",
        ] {
            assert!(
                matches!(parse_amount(bad, 8), Err(AmountError::Malformed(_))),
                "{bad:?}"
            );
        }
        assert_eq!(parse_amount("1", 20), Err(AmountError::BadDecimals(20)));
    }

    #[test]
    fn formats_without_trailing_zeros() {
        assert_eq!(format_amount(1_250_000_000, 8), "12.5");
        assert_eq!(format_amount(1_200_000_000, 8), "12");
        assert_eq!(format_amount(1, 8), "0.00000001");
        assert_eq!(format_amount(0, 8), "0");
        assert_eq!(format_amount(u64::MAX, 8), "184467440737.09551615");
        assert_eq!(format_amount(42, 0), "42");
    }

    proptest! {
        #[test]
        fn format_then_parse_is_the_identity(units: u64, decimals in 0u8..=19) {
            prop_assert_eq!(parse_amount(&format_amount(units, decimals), decimals), Ok(units));
        }
    }
}
