//! A development chain: well-known keys and a genesis with trivial proof of work. Used by
//! `ferrite-node --dev`, by the chain generator, by tests and by benchmarks.
//!
//! The dev keys are derived from public strings: anyone can spend dev coins. Never use them on a
//! chain that matters.

use crate::address::AddressPrefix;
use crate::genesis::{Allocation, GenesisConfig};
use crate::keys::SecretKey;
use crate::target::Target;
use primitive_types::U256;

/// Chain name of dev chains.
pub const DEV_CHAIN_NAME: &str = "ferrite-dev";
/// Address prefix of the dev chain.
pub const DEV_PREFIX: &str = "dfe";
/// Easiest canonical compact target: about every second hash meets it.
pub const EASIEST_BITS: u32 = 0x207f_ffff;
/// Balance of each prefunded dev account: one million coins of 10^8 base units.
pub const DEV_ACCOUNT_BALANCE: u64 = 1_000_000 * 100_000_000;

/// The `i`th well-known dev key.
pub fn dev_key(i: u32) -> SecretKey {
    let seed = blake3::derive_key("ferrite 2026-11-26 public dev account", &i.to_le_bytes());
    SecretKey::from_bytes(&seed)
}

/// A dev genesis with `accounts` prefunded dev keys, trivial proof of work and `spacing`-second
/// blocks, starting at `timestamp`.
pub fn dev_genesis_config(accounts: u32, timestamp: u64, spacing: u64) -> GenesisConfig {
    let prefix = AddressPrefix::new(DEV_PREFIX).ok();
    let allocations = prefix
        .map(|p| {
            (0..accounts)
                .map(|i| Allocation {
                    address: dev_key(i).address().to_bech32(&p),
                    amount: DEV_ACCOUNT_BALANCE,
                })
                .collect()
        })
        .unwrap_or_default();
    GenesisConfig {
        chain_name: DEV_CHAIN_NAME.into(),
        address_prefix: DEV_PREFIX.into(),
        decimals: 8,
        timestamp,
        initial_bits: format!("{EASIEST_BITS:#010x}"),
        pow_limit_bits: format!("{EASIEST_BITS:#010x}"),
        target_spacing_secs: spacing,
        asert_half_life_secs: spacing.saturating_mul(10),
        initial_reward: 50 * 100_000_000,
        halving_interval: 210_000,
        max_block_size: 4 * 1024 * 1024,
        max_future_drift_secs: 600,
        allocations,
    }
}

/// Compact bits of a target that `hashes_per_sec` hashes meet about once every `spacing`
/// seconds, never easier than [`EASIEST_BITS`]: the genesis target of a dev chain whose miner
/// measured its own rate, so that block spacing holds from block 1 instead of after a burst at
/// the easiest target while ASERT catches up.
pub fn bits_for_rate(hashes_per_sec: u64, spacing: u64) -> u32 {
    let easiest = Target::from_compact(EASIEST_BITS).map(|t| t.as_u256());
    let Ok(easiest) = easiest else {
        return EASIEST_BITS;
    };
    let expected = U256::from(hashes_per_sec.max(1)) * U256::from(spacing.max(1));
    // A hash meets target t with probability (t + 1) / 2^256, about MAX / expected.
    let target = U256::MAX / expected;
    if target >= easiest {
        return EASIEST_BITS;
    }
    Target::from_u256(target).map_or(EASIEST_BITS, |t| t.to_compact())
}

pub use crate::template::{assemble_block, mine};

#[cfg(test)]
mod tests {
    use super::*;

    fn value(bits: u32) -> U256 {
        Target::from_compact(bits).unwrap().as_u256()
    }

    #[test]
    fn the_rate_target_gives_one_block_per_spacing() {
        // 8 M hashes/s for 5 s: 40 M expected hashes, so the target is 2^256 / 40 M.
        let bits = bits_for_rate(8_000_000, 5);
        let expected = U256::MAX / U256::from(40_000_000u64);
        let got = value(bits);
        // Compact form keeps 3 bytes of mantissa: within 2^-15 of the exact value, never above.
        assert!(
            got <= expected && got > expected - (expected >> 15),
            "{bits:#x}"
        );
        // Twice the rate, half the target (to the compact rounding).
        let half = value(bits_for_rate(16_000_000, 5));
        assert!(half < got && half > (got >> 1) - (got >> 14));
    }

    #[test]
    fn the_rate_target_is_never_easier_than_the_pow_limit() {
        assert_eq!(bits_for_rate(0, 0), EASIEST_BITS);
        assert_eq!(bits_for_rate(1, 1), EASIEST_BITS);
        assert_ne!(bits_for_rate(1_000, 1), EASIEST_BITS);
        assert!(value(bits_for_rate(u64::MAX, u64::MAX)) >= U256::one());
    }
}
