//! Genesis configuration: the JSON file that defines a chain, its validation, and the consensus
//! parameters, genesis block and initial state derived from it.
//!
//! The genesis header's `prev` field carries the hash of the canonical encoding of every
//! consensus parameter, so the genesis hash (the chain id that signatures and the network magic
//! bind) changes whenever any rule of the chain does.

use serde::{Deserialize, Serialize};

use crate::address::{Address, AddressError, AddressPrefix};
use crate::asert;
use crate::block::{Block, BlockHeader};
use crate::encoding::{put_u32, put_u64};
use crate::hash::{self, Domain, Hash};
use crate::merkle;
use crate::state::{Account, State};
use crate::target::{CompactError, Target};
use crate::validation::HEADER_VERSION;

/// Longest chain name: it is shown in UIs and logs, not a place for documents.
pub const MAX_CHAIN_NAME_LEN: usize = 64;
/// Most decimals a coin may have: 10^19 is the largest power of ten that fits in a u64.
pub const MAX_DECIMALS: u8 = 19;
/// Hard cap on the configurable block size. The network's per-message cap is derived from it,
/// and 32 MiB keeps one block's validation and buffering well inside a small node's memory.
pub const MAX_BLOCK_SIZE_CAP: u64 = 32 * 1024 * 1024;
/// Longest block spacing: a week. Longer would make the chain useless, and the bound keeps
/// ASERT's intermediate products far from any overflow.
pub const MAX_TARGET_SPACING: u64 = 7 * 24 * 3600;
/// Longest ASERT half-life: about ten years, for the same reasons.
pub const MAX_HALF_LIFE: u64 = 10 * 365 * 24 * 3600;
/// Most initial allocations: they are all checked at every start.
pub const MAX_ALLOCATIONS: usize = 100_000;

/// The JSON genesis file. Unknown fields are refused so that a misspelt parameter is not
/// silently ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisConfig {
    /// Human-readable chain name, e.g. "ferrite-testnet".
    pub chain_name: String,
    /// bech32m prefix of addresses on this chain.
    pub address_prefix: String,
    /// Digits after the decimal point when amounts are shown in coins.
    pub decimals: u8,
    /// Genesis timestamp, seconds since the Unix epoch.
    pub timestamp: u64,
    /// Target of the genesis block and ASERT anchor target, compact, as "0x1d00ffff".
    pub initial_bits: String,
    /// Easiest allowed target, compact.
    pub pow_limit_bits: String,
    /// Ideal seconds between blocks.
    pub target_spacing_secs: u64,
    /// ASERT half-life in seconds.
    pub asert_half_life_secs: u64,
    /// Reward of block 1, in base units.
    pub initial_reward: u64,
    /// The reward halves every this many blocks.
    pub halving_interval: u64,
    /// Largest encoded block, in bytes.
    pub max_block_size: u64,
    /// How far ahead of local time a block timestamp may be, in seconds.
    pub max_future_drift_secs: u64,
    /// Coins that exist at genesis (optional; none if absent).
    #[serde(default)]
    pub allocations: Vec<Allocation>,
}

/// Coins credited to an address at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allocation {
    /// bech32m address with the chain's prefix.
    pub address: String,
    /// Base units.
    pub amount: u64,
}

/// Why a genesis configuration is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// The file is not valid JSON of the expected shape.
    #[error("genesis JSON: {0}")]
    Json(String),
    /// The chain name is empty, too long or has control characters.
    #[error("chain_name must be 1 to {MAX_CHAIN_NAME_LEN} bytes of printable text")]
    BadChainName,
    /// The address prefix is unusable.
    #[error("address_prefix: {0}")]
    BadPrefix(AddressError),
    /// Too many decimals for a u64 amount.
    #[error("decimals must be at most {MAX_DECIMALS}, got {0}")]
    TooManyDecimals(u8),
    /// A compact target field is not "0x" and 8 hex digits.
    #[error("{field} must be written as 0x followed by 8 hex digits, got {value:?}")]
    BitsSyntax {
        /// Which field.
        field: &'static str,
        /// What it held.
        value: String,
    },
    /// A compact target is negative, overflowing or zero.
    #[error("{field}: {error}")]
    BadBits {
        /// Which field.
        field: &'static str,
        /// Why.
        error: CompactError,
    },
    /// A compact target is not in canonical (Bitcoin `GetCompact`) form.
    #[error("{field} {value:#010x} is not canonical; write {canonical:#010x}")]
    NonCanonicalBits {
        /// Which field.
        field: &'static str,
        /// What it held.
        value: u32,
        /// The canonical form of the same target.
        canonical: u32,
    },
    /// The initial target is easier than the pow limit.
    #[error("initial_bits is easier than pow_limit_bits")]
    InitialAbovePowLimit,
    /// target_spacing_secs is 0 or too large.
    #[error("target_spacing_secs must be 1 to {MAX_TARGET_SPACING}")]
    BadSpacing,
    /// asert_half_life_secs is 0 or too large.
    #[error("asert_half_life_secs must be 1 to {MAX_HALF_LIFE}")]
    BadHalfLife,
    /// halving_interval is 0.
    #[error("halving_interval must be at least 1")]
    ZeroHalvingInterval,
    /// max_block_size cannot hold a block with one transaction, or passes the cap.
    #[error("max_block_size must be {min} to {MAX_BLOCK_SIZE_CAP} bytes")]
    BadBlockSize {
        /// Size of a block with one transaction.
        min: u64,
    },
    /// The genesis timestamp is earlier than one spacing after the epoch.
    #[error("timestamp must be at least target_spacing_secs")]
    TimestampTooEarly,
    /// Too many allocations.
    #[error("at most {MAX_ALLOCATIONS} allocations")]
    TooManyAllocations,
    /// An allocation's address does not parse for this chain.
    #[error("allocations[{index}].address: {error}")]
    BadAllocationAddress {
        /// Position in the list.
        index: usize,
        /// Why.
        error: AddressError,
    },
    /// An allocation of zero coins.
    #[error("allocations[{index}].amount is zero")]
    ZeroAllocation {
        /// Position in the list.
        index: usize,
    },
    /// The same address is allocated twice.
    #[error("allocations[{index}] repeats an earlier address")]
    DuplicateAllocation {
        /// Position of the repeat.
        index: usize,
    },
    /// Allocations plus every future reward would pass u64::MAX, so balances could overflow.
    #[error("allocations plus all future rewards exceed the u64 supply limit")]
    SupplyOverflow,
}

/// Validated consensus parameters of a chain.
#[derive(Clone, Debug)]
pub struct ChainParams {
    /// Chain name.
    pub chain_name: String,
    /// Address prefix.
    pub prefix: AddressPrefix,
    /// Coin decimals.
    pub decimals: u8,
    /// The genesis block's hash: the chain id.
    pub genesis_hash: Hash,
    /// Genesis timestamp.
    pub genesis_timestamp: u64,
    /// Compact target of genesis, the ASERT anchor.
    pub genesis_bits: u32,
    /// Easiest target.
    pub pow_limit: Target,
    /// Ideal block interval, seconds.
    pub target_spacing: u64,
    /// ASERT half-life, seconds.
    pub half_life: u64,
    /// Reward of block 1.
    pub initial_reward: u64,
    /// Blocks between reward halvings.
    pub halving_interval: u64,
    /// Largest encoded block.
    pub max_block_size: u64,
    /// Allowed future drift of timestamps, seconds.
    pub max_future_drift: u64,
}

impl ChainParams {
    /// The block reward at `height`: nothing for genesis, then `initial_reward` halved every
    /// `halving_interval` blocks.
    pub fn reward_at(&self, height: u64) -> u64 {
        if height == 0 {
            return 0;
        }
        let halvings = (height - 1) / self.halving_interval;
        if halvings >= 64 {
            0
        } else {
            self.initial_reward >> halvings
        }
    }

    /// The compact target required of the child of a block at `parent_height` with timestamp
    /// `parent_timestamp`: ASERT anchored at genesis, whose parent time is taken as one spacing
    /// before the genesis timestamp.
    pub fn next_bits(&self, parent_height: u64, parent_timestamp: u64) -> u32 {
        let anchor_parent_time =
            i128::from(self.genesis_timestamp) - i128::from(self.target_spacing);
        let diff = i128::from(parent_timestamp) - anchor_parent_time;
        let time_diff = i64::try_from(diff).unwrap_or(if diff < 0 { i64::MIN } else { i64::MAX });
        // Genesis bits were validated when the params were built.
        let anchor = Target::from_compact(self.genesis_bits).unwrap_or(self.pow_limit);
        asert::next_target(
            anchor,
            time_diff,
            parent_height,
            self.target_spacing,
            self.half_life,
            self.pow_limit,
        )
        .to_compact()
    }

    /// The canonical encoding of the consensus parameters (everything but the allocations, which
    /// the genesis state root commits to).
    fn encode_consensus(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for text in [self.chain_name.as_str(), self.prefix.as_str()] {
            put_u32(&mut out, text.len() as u32);
            out.extend_from_slice(text.as_bytes());
        }
        out.push(self.decimals);
        put_u64(&mut out, self.genesis_timestamp);
        put_u32(&mut out, self.genesis_bits);
        put_u32(&mut out, self.pow_limit.to_compact());
        for v in [
            self.target_spacing,
            self.half_life,
            self.initial_reward,
            self.halving_interval,
            self.max_block_size,
            self.max_future_drift,
        ] {
            put_u64(&mut out, v);
        }
        out
    }
}

/// Everything derived from a genesis configuration.
#[derive(Clone, Debug)]
pub struct Genesis {
    /// The consensus parameters, including the chain id.
    pub params: ChainParams,
    /// The genesis block.
    pub block: Block,
    /// The state after genesis: the allocations.
    pub state: State,
}

fn parse_bits(field: &'static str, value: &str) -> Result<(u32, Target), GenesisError> {
    let syntax = || GenesisError::BitsSyntax {
        field,
        value: value.to_string(),
    };
    let digits = value.strip_prefix("0x").ok_or_else(syntax)?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(syntax());
    }
    let bits = u32::from_str_radix(digits, 16).map_err(|_| syntax())?;
    let target =
        Target::from_compact(bits).map_err(|error| GenesisError::BadBits { field, error })?;
    if target.to_compact() != bits {
        return Err(GenesisError::NonCanonicalBits {
            field,
            value: bits,
            canonical: target.to_compact(),
        });
    }
    Ok((bits, target))
}

/// Sum of every reward the schedule will ever pay, or `None` if it passes u128 (and so u64).
fn total_rewards(initial: u64, interval: u64) -> Option<u128> {
    (0..64).try_fold(0u128, |sum, k| {
        u128::from(initial >> k)
            .checked_mul(u128::from(interval))
            .and_then(|r| sum.checked_add(r))
    })
}

impl GenesisConfig {
    /// Parses a genesis JSON document (shape only; see [`GenesisConfig::build`]).
    pub fn from_json(text: &str) -> Result<Self, GenesisError> {
        serde_json::from_str(text).map_err(|e| GenesisError::Json(e.to_string()))
    }

    /// The JSON document, pretty-printed.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Validates the configuration and derives the parameters, genesis block and initial state.
    pub fn build(&self) -> Result<Genesis, GenesisError> {
        let name_ok = !self.chain_name.is_empty()
            && self.chain_name.len() <= MAX_CHAIN_NAME_LEN
            && !self.chain_name.chars().any(char::is_control);
        if !name_ok {
            return Err(GenesisError::BadChainName);
        }
        let prefix = AddressPrefix::new(&self.address_prefix).map_err(GenesisError::BadPrefix)?;
        if self.decimals > MAX_DECIMALS {
            return Err(GenesisError::TooManyDecimals(self.decimals));
        }
        let (genesis_bits, initial) = parse_bits("initial_bits", &self.initial_bits)?;
        let (_, pow_limit) = parse_bits("pow_limit_bits", &self.pow_limit_bits)?;
        if initial > pow_limit {
            return Err(GenesisError::InitialAbovePowLimit);
        }
        if !(1..=MAX_TARGET_SPACING).contains(&self.target_spacing_secs) {
            return Err(GenesisError::BadSpacing);
        }
        if !(1..=MAX_HALF_LIFE).contains(&self.asert_half_life_secs) {
            return Err(GenesisError::BadHalfLife);
        }
        if self.halving_interval == 0 {
            return Err(GenesisError::ZeroHalvingInterval);
        }
        let min_size = Block::size_with(1) as u64;
        if !(min_size..=MAX_BLOCK_SIZE_CAP).contains(&self.max_block_size) {
            return Err(GenesisError::BadBlockSize { min: min_size });
        }
        if self.timestamp < self.target_spacing_secs {
            return Err(GenesisError::TimestampTooEarly);
        }
        if self.allocations.len() > MAX_ALLOCATIONS {
            return Err(GenesisError::TooManyAllocations);
        }

        let mut state = State::new();
        let mut supply: u128 = total_rewards(self.initial_reward, self.halving_interval)
            .filter(|&t| t <= u128::from(u64::MAX))
            .ok_or(GenesisError::SupplyOverflow)?;
        for (index, alloc) in self.allocations.iter().enumerate() {
            let address = Address::parse(&alloc.address, &prefix)
                .map_err(|error| GenesisError::BadAllocationAddress { index, error })?;
            if alloc.amount == 0 {
                return Err(GenesisError::ZeroAllocation { index });
            }
            if !state.account(&address).is_empty() {
                return Err(GenesisError::DuplicateAllocation { index });
            }
            supply = supply
                .checked_add(u128::from(alloc.amount))
                .filter(|&t| t <= u128::from(u64::MAX))
                .ok_or(GenesisError::SupplyOverflow)?;
            state.set_account(
                address,
                Account {
                    balance: alloc.amount,
                    nonce: 0,
                },
            );
        }
        if supply > u128::from(u64::MAX) {
            return Err(GenesisError::SupplyOverflow);
        }

        let mut params = ChainParams {
            chain_name: self.chain_name.clone(),
            prefix,
            decimals: self.decimals,
            genesis_hash: Hash::ZERO,
            genesis_timestamp: self.timestamp,
            genesis_bits,
            pow_limit,
            target_spacing: self.target_spacing_secs,
            half_life: self.asert_half_life_secs,
            initial_reward: self.initial_reward,
            halving_interval: self.halving_interval,
            max_block_size: self.max_block_size,
            max_future_drift: self.max_future_drift_secs,
        };
        let header = BlockHeader {
            version: HEADER_VERSION,
            height: 0,
            prev: hash::hash(Domain::GenesisConfig, &params.encode_consensus()),
            merkle_root: merkle::empty_root(),
            state_root: state.root(),
            miner: Address::default(),
            timestamp: self.timestamp,
            bits: genesis_bits,
            nonce: 0,
        };
        params.genesis_hash = header.hash();
        Ok(Genesis {
            params,
            block: Block {
                header,
                txs: Vec::new(),
            },
            state,
        })
    }
}

/// The public testnet's genesis file, as shipped at the repository root.
pub const TESTNET_GENESIS_JSON: &str = include_str!("../../genesis.json");

/// The public testnet's genesis, derived from [`TESTNET_GENESIS_JSON`].
pub fn testnet() -> Result<Genesis, GenesisError> {
    GenesisConfig::from_json(TESTNET_GENESIS_JSON)?.build()
}
