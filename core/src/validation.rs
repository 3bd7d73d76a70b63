//! The one validation entry point for blocks: every path that accepts a block (mining, gossip,
//! sync, HTTP submission) calls [`connect_block`], and headers-first sync calls [`check_header`].
//!
//! Checks run cheapest first, so a forged block costs its sender more than it costs the node:
//! header fields and proof of work, size, merkle root, the transfers against the state, and only
//! then the signatures (in parallel batches) and the state root.

use crate::block::{Block, BlockHeader};
use crate::body::BodyChecked;
use crate::encoding::Encode;
use crate::genesis::ChainParams;
use crate::hash::Hash;
use crate::ledger::{self, ApplyError, BlockUndo, TxError};
use crate::merkle;
use crate::state::{PreparedUpdate, State};
use crate::target::Target;
use crate::verify;
use rayon::prelude::*;

/// The only valid header version.
pub const HEADER_VERSION: u32 = 1;
/// Number of previous timestamps whose median a new timestamp must exceed (Bitcoin's 11: enough
/// that a minority of miners cannot drag the median, small enough to follow real time).
pub const MEDIAN_TIME_SPAN: usize = 11;
/// Blocks at least this large compute their transaction ids on all threads.
const PARALLEL_TXID_MIN: usize = 512;

/// What a header is checked against: facts about its parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParentInfo {
    /// The parent's id.
    pub hash: Hash,
    /// The parent's height.
    pub height: u64,
    /// The parent's timestamp.
    pub timestamp: u64,
    /// Median of the timestamps of the parent and up to ten of its ancestors.
    pub median_time_past: u64,
}

impl ParentInfo {
    /// Parent facts from its header and the timestamps of the last blocks up to and including it
    /// (at most [`MEDIAN_TIME_SPAN`] are used, the newest last).
    pub fn new(parent: &BlockHeader, recent_timestamps: &[u64]) -> Self {
        ParentInfo {
            hash: parent.hash(),
            height: parent.height,
            timestamp: parent.timestamp,
            median_time_past: median_time_past(recent_timestamps),
        }
    }
}

/// Median of the last [`MEDIAN_TIME_SPAN`] timestamps of `timestamps` (newest last); for an even
/// count, the upper middle, as Bitcoin does. Zero for an empty slice.
pub fn median_time_past(timestamps: &[u64]) -> u64 {
    let start = timestamps.len().saturating_sub(MEDIAN_TIME_SPAN);
    let mut last: Vec<u64> = timestamps[start..].to_vec();
    if last.is_empty() {
        return 0;
    }
    last.sort_unstable();
    last[last.len() / 2]
}

/// Why a header is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Unknown header version.
    #[error("header version {0} is not {HEADER_VERSION}")]
    UnsupportedVersion(u32),
    /// `prev` is not the parent's id.
    #[error("header does not link to its parent {expected}")]
    WrongParent {
        /// The parent's id.
        expected: Hash,
        /// The header's `prev`.
        got: Hash,
    },
    /// The height is not the parent's plus one.
    #[error("height {got} should be {expected}")]
    WrongHeight {
        /// Parent height + 1.
        expected: u64,
        /// The header's height.
        got: u64,
    },
    /// The bits are not the ASERT target for this position.
    #[error("bits {got:#010x} should be {expected:#010x}")]
    WrongBits {
        /// ASERT's result.
        expected: u32,
        /// The header's bits.
        got: u32,
    },
    /// The header hash is above the target.
    #[error("header hash does not meet its target")]
    InsufficientWork,
    /// The timestamp is not after the median of the previous blocks.
    #[error("timestamp {timestamp} is not after the median time past {median}")]
    TimestampTooOld {
        /// The header's timestamp.
        timestamp: u64,
        /// Median time past of the parent.
        median: u64,
    },
    /// The timestamp is further ahead of local time than allowed.
    #[error("timestamp {timestamp} is after the allowed limit {limit}")]
    TimestampTooNew {
        /// The header's timestamp.
        timestamp: u64,
        /// Local time plus allowed drift.
        limit: u64,
    },
}

/// Why a block is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The header breaks a rule.
    #[error("header: {0}")]
    Header(#[from] HeaderError),
    /// The encoded block is larger than the chain allows.
    #[error("block is {size} bytes, limit {limit}")]
    TooLarge {
        /// Encoded size.
        size: u64,
        /// The chain's limit.
        limit: u64,
    },
    /// The header's merkle root does not match the transactions.
    #[error("merkle root does not match the transactions")]
    BadMerkleRoot,
    /// A transaction breaks a rule.
    #[error("transaction {index}: {error}")]
    Tx {
        /// Position in the block.
        index: usize,
        /// The rule.
        error: TxError,
    },
    /// The sum of fees overflows.
    #[error("sum of fees overflows")]
    FeeOverflow,
    /// Reward plus fees, or the miner's balance, overflows.
    #[error("miner credit overflows")]
    MinerOverflow,
    /// The header's state root is not the state after the block.
    #[error("state root {got} should be {expected}")]
    BadStateRoot {
        /// Root of the state after applying the block.
        expected: Hash,
        /// The header's root.
        got: Hash,
    },
}

impl HeaderError {
    /// A short, stable name of the rule (for metrics labels and logs).
    pub fn rule(&self) -> &'static str {
        match self {
            HeaderError::UnsupportedVersion(_) => "unsupported_version",
            HeaderError::WrongParent { .. } => "wrong_parent",
            HeaderError::WrongHeight { .. } => "wrong_height",
            HeaderError::WrongBits { .. } => "wrong_bits",
            HeaderError::InsufficientWork => "insufficient_work",
            HeaderError::TimestampTooOld { .. } => "timestamp_too_old",
            HeaderError::TimestampTooNew { .. } => "timestamp_too_new",
        }
    }
}

impl BlockError {
    /// A short, stable name of the rule (for metrics labels and logs): a header or transfer
    /// rule's own name, or the block rule's.
    pub fn rule(&self) -> &'static str {
        match self {
            BlockError::Header(e) => e.rule(),
            BlockError::TooLarge { .. } => "too_large",
            BlockError::BadMerkleRoot => "bad_merkle_root",
            BlockError::Tx { error, .. } => error.rule(),
            BlockError::FeeOverflow => "fee_overflow",
            BlockError::MinerOverflow => "miner_overflow",
            BlockError::BadStateRoot { .. } => "bad_state_root",
        }
    }
}

impl From<ApplyError> for BlockError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Tx { index, error } => BlockError::Tx { index, error },
            ApplyError::FeeOverflow => BlockError::FeeOverflow,
            ApplyError::MinerOverflow => BlockError::MinerOverflow,
        }
    }
}

/// Checks a header against its parent and local time `now` (Unix seconds). Returns its id.
pub fn check_header(
    params: &ChainParams,
    header: &BlockHeader,
    parent: &ParentInfo,
    now: u64,
) -> Result<Hash, HeaderError> {
    if header.version != HEADER_VERSION {
        return Err(HeaderError::UnsupportedVersion(header.version));
    }
    let expected_height = parent.height.saturating_add(1);
    if header.height != expected_height {
        return Err(HeaderError::WrongHeight {
            expected: expected_height,
            got: header.height,
        });
    }
    if header.prev != parent.hash {
        return Err(HeaderError::WrongParent {
            expected: parent.hash,
            got: header.prev,
        });
    }
    let expected_bits = params.next_bits(parent.height, parent.timestamp);
    if header.bits != expected_bits {
        return Err(HeaderError::WrongBits {
            expected: expected_bits,
            got: header.bits,
        });
    }
    let id = header.hash();
    let target = Target::from_compact(header.bits).map_err(|_| HeaderError::InsufficientWork)?;
    if !target.is_met_by(&id) {
        return Err(HeaderError::InsufficientWork);
    }
    if header.timestamp <= parent.median_time_past {
        return Err(HeaderError::TimestampTooOld {
            timestamp: header.timestamp,
            median: parent.median_time_past,
        });
    }
    let limit = now.saturating_add(params.max_future_drift);
    if header.timestamp > limit {
        return Err(HeaderError::TimestampTooNew {
            timestamp: header.timestamp,
            limit,
        });
    }
    Ok(id)
}

/// A block that passed every rule, with what connecting it will change.
#[derive(Debug)]
pub struct CheckedBlock {
    /// The block id.
    pub hash: Hash,
    /// Transaction ids in block order.
    pub tx_ids: Vec<Hash>,
    /// Sum of the fees.
    pub fees: u64,
    /// The block reward (without fees).
    pub reward: u64,
    /// The account changes and the new digest.
    pub update: PreparedUpdate,
}

/// Ids of `block`'s transactions, on all threads for large blocks.
pub fn tx_ids(block: &Block) -> Vec<Hash> {
    if block.txs.len() >= PARALLEL_TXID_MIN {
        block.txs.par_iter().map(|t| t.id()).collect()
    } else {
        block.tx_ids()
    }
}

/// Whether a block's signatures still need verifying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signatures {
    /// Verify them (the normal case).
    Verify,
    /// [`verify_block_signatures`] already accepted this exact block (same id, which commits to
    /// every signature through the merkle root); used to verify ahead of connecting.
    AlreadyVerified,
}

/// Checks every rule of `block` as the child of `parent` on `state`, without changing `state`.
pub fn check_block(
    params: &ChainParams,
    block: &Block,
    parent: &ParentInfo,
    state: &State,
    now: u64,
) -> Result<CheckedBlock, BlockError> {
    check_block_with(params, block, parent, state, now, Signatures::Verify)
}

/// [`check_block`], with the signature step skippable for a block verified ahead of time.
pub fn check_block_with(
    params: &ChainParams,
    block: &Block,
    parent: &ParentInfo,
    state: &State,
    now: u64,
    signatures: Signatures,
) -> Result<CheckedBlock, BlockError> {
    check_any(params, block, None, parent, state, now, signatures)
}

/// [`check_block_with`] for a block whose transfer ids and merkle root were checked already:
/// they are not computed again.
pub fn check_body_checked(
    params: &ChainParams,
    body: &BodyChecked,
    parent: &ParentInfo,
    state: &State,
    now: u64,
    signatures: Signatures,
) -> Result<CheckedBlock, BlockError> {
    let ids = Some(body.tx_ids());
    check_any(params, body.block(), ids, parent, state, now, signatures)
}

/// Every rule, cheapest first. `checked_ids` are the block's transfer ids when a
/// [`BodyChecked`] already matched them to the merkle root.
fn check_any(
    params: &ChainParams,
    block: &Block,
    checked_ids: Option<&[Hash]>,
    parent: &ParentInfo,
    state: &State,
    now: u64,
    signatures: Signatures,
) -> Result<CheckedBlock, BlockError> {
    let hash = check_header(params, &block.header, parent, now)?;
    let size = block.encoded_len() as u64;
    if size > params.max_block_size {
        return Err(BlockError::TooLarge {
            size,
            limit: params.max_block_size,
        });
    }
    let tx_ids = match checked_ids {
        Some(ids) => ids.to_vec(),
        None => {
            let ids = tx_ids(block);
            if merkle::merkle_root(&ids) != block.header.merkle_root {
                return Err(BlockError::BadMerkleRoot);
            }
            ids
        }
    };
    let reward = params.reward_at(block.header.height);
    let (update, fees) = ledger::prepare_block(state, &block.txs, &block.header.miner, reward)?;
    if signatures == Signatures::Verify {
        verify_block_signatures(params, block)?;
    }
    let expected = update.root();
    if expected != block.header.state_root {
        return Err(BlockError::BadStateRoot {
            expected,
            got: block.header.state_root,
        });
    }
    Ok(CheckedBlock {
        hash,
        tx_ids,
        fees,
        reward,
        update,
    })
}

/// Verifies every signature of `block` for this chain (on all threads), naming the first bad one.
pub fn verify_block_signatures(params: &ChainParams, block: &Block) -> Result<(), BlockError> {
    verify_signatures(params, &block.txs).map_err(|index| BlockError::Tx {
        index,
        error: TxError::BadSignature,
    })
}

/// Verifies the signatures of `txs` for this chain on all threads; the lowest bad index on error.
pub fn verify_signatures(
    params: &ChainParams,
    txs: &[crate::transaction::SignedTransaction],
) -> Result<(), usize> {
    let chain = params.genesis_hash;
    verify::verify_parallel(txs.len(), |i| {
        let t = &txs[i];
        (t.tx.sender, t.tx.signing_message(&chain), t.signature)
    })
}

/// What connecting a block did.
#[derive(Debug)]
pub struct ConnectedBlock {
    /// The block id.
    pub hash: Hash,
    /// Transaction ids in block order.
    pub tx_ids: Vec<Hash>,
    /// Sum of the fees.
    pub fees: u64,
    /// The block reward (without fees).
    pub reward: u64,
    /// The previous value of every account the block changed.
    pub undo: BlockUndo,
}

/// Validates `block` as the child of `parent` and applies it to `state`. On any error `state` is
/// unchanged.
pub fn connect_block(
    params: &ChainParams,
    block: &Block,
    parent: &ParentInfo,
    state: &mut State,
    now: u64,
) -> Result<ConnectedBlock, BlockError> {
    connect_block_with(params, block, parent, state, now, Signatures::Verify)
}

/// [`connect_block`], with the signature step skippable for a block verified ahead of time.
pub fn connect_block_with(
    params: &ChainParams,
    block: &Block,
    parent: &ParentInfo,
    state: &mut State,
    now: u64,
    signatures: Signatures,
) -> Result<ConnectedBlock, BlockError> {
    let checked = check_block_with(params, block, parent, state, now, signatures)?;
    Ok(apply(checked, state))
}

/// [`connect_block_with`] for a block whose body was checked already (its ids are reused).
pub fn connect_body_checked(
    params: &ChainParams,
    body: &BodyChecked,
    parent: &ParentInfo,
    state: &mut State,
    now: u64,
    signatures: Signatures,
) -> Result<ConnectedBlock, BlockError> {
    let checked = check_body_checked(params, body, parent, state, now, signatures)?;
    Ok(apply(checked, state))
}

fn apply(checked: CheckedBlock, state: &mut State) -> ConnectedBlock {
    let undo = BlockUndo::of(&checked.update);
    state.commit(checked.update);
    ConnectedBlock {
        hash: checked.hash,
        tx_ids: checked.tx_ids,
        fees: checked.fees,
        reward: checked.reward,
        undo,
    }
}
