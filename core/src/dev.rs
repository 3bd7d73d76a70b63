//! A development chain: well-known keys and a genesis with trivial proof of work. Used by
//! `ferrite-node --dev`, by the chain generator, by tests and by benchmarks.
//!
//! The dev keys are derived from public strings: anyone can spend dev coins. Never use them on a
//! chain that matters.

use crate::address::AddressPrefix;
use crate::genesis::{Allocation, GenesisConfig};
use crate::keys::SecretKey;

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
        chain_name: "ferrite-dev".into(),
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

pub use crate::template::{assemble_block, mine};
