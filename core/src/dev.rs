//! A development chain: well-known keys, a genesis with trivial proof of work, and a block
//! assembler. Used by `ferrite-node --dev`, by the chain generator, by tests and by benchmarks.
//!
//! The dev keys are derived from public strings: anyone can spend dev coins. Never use them on a
//! chain that matters.

use crate::address::AddressPrefix;
use crate::block::{Block, BlockHeader};
use crate::genesis::{Allocation, ChainParams, GenesisConfig};
use crate::hash::Hash;
use crate::keys::SecretKey;
use crate::ledger;
use crate::merkle;
use crate::state::State;
use crate::target::Target;
use crate::transaction::SignedTransaction;
use crate::validation::{BlockError, ParentInfo, HEADER_VERSION};

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

/// Builds the unmined child of `parent` on `state` with `txs`: bits from ASERT, merkle root and
/// state root computed; nonce 0. Fails if a transaction breaks a ledger rule.
pub fn assemble_block(
    params: &ChainParams,
    parent: &ParentInfo,
    state: &State,
    txs: Vec<SignedTransaction>,
    miner: crate::address::Address,
    timestamp: u64,
) -> Result<Block, BlockError> {
    let height = parent.height + 1;
    let (update, _fees) = ledger::prepare_block(state, &txs, &miner, params.reward_at(height))?;
    let ids: Vec<Hash> = txs.iter().map(SignedTransaction::id).collect();
    let header = BlockHeader {
        version: HEADER_VERSION,
        height,
        prev: parent.hash,
        merkle_root: merkle::merkle_root(&ids),
        state_root: update.root(),
        miner,
        timestamp,
        bits: params.next_bits(parent.height, parent.timestamp),
        nonce: 0,
    };
    Ok(Block { header, txs })
}

/// Searches nonces from `header.nonce` for at most `max_tries` attempts; true when the header
/// meets its target.
pub fn mine(header: &mut BlockHeader, max_tries: u64) -> bool {
    let Ok(target) = Target::from_compact(header.bits) else {
        return false;
    };
    for _ in 0..max_tries {
        if target.is_met_by(&header.hash()) {
            return true;
        }
        header.nonce = header.nonce.wrapping_add(1);
    }
    false
}
