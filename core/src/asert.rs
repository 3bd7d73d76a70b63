//! Difficulty adjustment: ASERT, the integer `aserti3-2d` algorithm of Bitcoin Cash.
//!
//! The target of the next block is the anchor's target scaled by 2^((actual - ideal) / half_life),
//! where `actual` is the time elapsed since the anchor's parent and `ideal` is the spacing times
//! the blocks since then. The fractional power of two uses the specification's cubic
//! approximation in 16-bit fixed point; everything is integer arithmetic, so every node computes
//! the same bits. Ferrite anchors at genesis (see [`crate::genesis::ChainParams::next_bits`]).
//!
//! The division of the exponent truncates toward zero, as Bitcoin Cash Node's C++ does; the
//! published test vectors (core/tests/data/asert) tell truncation from flooring apart.

use primitive_types::{U256, U512};

use crate::target::Target;

/// Fixed-point radix of the exponent: 16 fractional bits.
const RADIX_BITS: u32 = 16;

/// `2^frac` for `frac` in [0, 65536) as a 16.16 fixed-point factor in [65536, 131072), using the
/// specification's cubic polynomial (error under 0.013%).
fn pow2_frac(frac: u64) -> u64 {
    let f = u128::from(frac);
    let poly = 195_766_423_245_049u128 * f
        + 971_821_376u128 * f * f
        + 5_127u128 * f * f * f
        + (1u128 << 47);
    65_536 + (poly >> 48) as u64
}

/// The aserti3-2d target for the block after one that is `height_diff` blocks after the anchor
/// and whose timestamp is `time_diff` seconds after the anchor's parent's timestamp.
///
/// `spacing` is the ideal block interval and `half_life` the time over which a schedule deviation
/// halves or doubles the target, both in seconds (a zero half-life counts as one). The result is
/// clamped to `[1, pow_limit]`. Total over every input: an ideal time too large for the
/// arithmetic (far beyond what a genesis allows) puts the block so far ahead of schedule that the
/// answer is the smallest target, 1.
pub fn next_target(
    anchor_target: Target,
    time_diff: i64,
    height_diff: u64,
    spacing: u64,
    half_life: u64,
    pow_limit: Target,
) -> Target {
    let num = i128::from(spacing)
        .checked_mul(i128::from(height_diff) + 1)
        .and_then(|ideal| i128::from(time_diff).checked_sub(ideal))
        .and_then(|ahead| ahead.checked_mul(1i128 << RADIX_BITS));
    // Only a huge ideal time overflows (the time difference is an i64): far ahead of schedule.
    let Some(num) = num else {
        return smallest(pow_limit);
    };
    // i128 division truncates toward zero, like the reference C++ (not Python's floor).
    let exponent = num / i128::from(half_life.max(1));
    // Arithmetic shift floors, so frac is always the non-negative low 16 bits.
    let shifts = exponent >> RADIX_BITS;
    let frac = (exponent & 0xffff) as u64;

    let product: U512 = anchor_target
        .as_u256()
        .full_mul(U256::from(pow2_frac(frac)));
    let shifts = shifts - i128::from(RADIX_BITS);
    let scaled: U512 = if shifts <= 0 {
        let right = shifts.unsigned_abs();
        if right >= 512 {
            U512::zero()
        } else {
            product >> right as usize
        }
    } else {
        // Any result at or beyond 2^256 is far above every pow limit.
        let left = shifts as u128;
        if u128::from(product.bits() as u64) + left > 256 {
            return pow_limit;
        }
        product << left as usize
    };
    let next = U256::try_from(scaled).unwrap_or(U256::MAX);
    if next.is_zero() {
        return smallest(pow_limit);
    }
    if next > pow_limit.as_u256() {
        return pow_limit;
    }
    Target::from_u256(next).unwrap_or(pow_limit)
}

/// The lower clamp: a target of 1 (a pow limit is at least that).
fn smallest(pow_limit: Target) -> Target {
    Target::from_u256(U256::one()).unwrap_or(pow_limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(bits: u32) -> Target {
        Target::from_compact(bits).unwrap()
    }

    #[test]
    fn on_schedule_keeps_the_anchor_target() {
        let a = t(0x1c0f_ffff);
        for h in [0u64, 1, 10, 1000] {
            let time = 600 * (h as i64 + 1);
            assert_eq!(next_target(a, time, h, 600, 172_800, t(0x1d00_ffff)), a);
        }
    }

    #[test]
    fn one_half_life_late_doubles_and_early_halves() {
        let a = t(0x1c0f_ffff);
        let late = next_target(a, 600 + 172_800, 0, 600, 172_800, t(0x1d00_ffff));
        assert_eq!(late.as_u256(), a.as_u256() * 2);
        let early = next_target(a, 600 - 172_800, 0, 600, 172_800, t(0x1d00_ffff));
        assert_eq!(early.as_u256(), a.as_u256() / 2);
    }

    #[test]
    fn clamps_to_pow_limit_and_to_one() {
        let limit = t(0x1d00_ffff);
        let a = t(0x1c0f_ffff);
        assert_eq!(next_target(a, i64::MAX, 0, 600, 172_800, limit), limit);
        let one = next_target(a, i64::MIN, 0, 600, 172_800, limit);
        assert_eq!(one.as_u256(), U256::one());
        // A pow limit near 2^256 overflows a 256-bit product; the result must still clamp.
        let max = Target::MAX;
        assert_eq!(next_target(max, 10_000_000, 0, 1, 100, max), max);
    }

    #[test]
    fn inputs_beyond_any_genesis_do_not_overflow() {
        // The case from the issue: an ideal time of about 2^128 s, far past i128 once scaled.
        let one = Target::from_u256(U256::one()).unwrap();
        let got = next_target(one, 0, u64::MAX, u64::MAX, 1, Target::MAX);
        assert_eq!(got, one);
        // Extremes the other way: the pow limit.
        let limit = t(0x1d00_ffff);
        assert_eq!(next_target(limit, i64::MAX, 0, 0, 0, limit), limit);
        assert_eq!(
            next_target(limit, i64::MIN, u64::MAX, u64::MAX, u64::MAX, limit).as_u256(),
            U256::one()
        );
    }

    #[test]
    fn polynomial_endpoints() {
        assert_eq!(pow2_frac(0), 65_536);
        // 2^(65535/65536) * 65536 = 131070.6...; the approximation stays within 0.013%.
        let top = pow2_frac(65_535) as f64;
        assert!((top - 131_070.6).abs() / 131_070.6 < 0.000_13, "{top}");
    }
}
