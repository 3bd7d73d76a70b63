//! Block answers: a block's summary (`/api/block/{hash}`, the lists of `/api/blocks`) and its
//! place in the chain (`/api/block/{hash}/status`).

use ferrite_core::{Hash, Work};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::scalar::{Amount, HashHex, WorkHex};

/// A stored block: every header field, where it stands, and what its body holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Block)]
pub struct BlockSummary {
    /// The block id (the header's hash).
    #[schema(value_type = HashHex)]
    pub id: Hash,
    /// Distance from genesis.
    pub height: u64,
    /// Header version.
    pub version: u32,
    /// The parent's id (for genesis: the hash of the genesis configuration).
    #[schema(value_type = HashHex)]
    pub previousblockhash: Hash,
    /// Merkle root of the block's transfer ids.
    #[schema(value_type = HashHex)]
    pub merkle_root: Hash,
    /// Root of the ledger state after the block.
    #[schema(value_type = HashHex)]
    pub state_root: Hash,
    /// Seconds since the Unix epoch.
    pub timestamp: u64,
    /// The compact target, `0x` and 8 hex digits.
    #[schema(pattern = "^0x[0-9a-f]{8}$", example = "0x207fffff")]
    pub bits: String,
    /// The proof-of-work nonce, a decimal string (any u64).
    #[schema(pattern = "^[0-9]{1,20}$", example = "11400714819323198485")]
    pub nonce: String,
    /// The proof-of-work limit divided by the block's target (rounded down), a decimal string:
    /// 1 at the easiest target.
    #[schema(pattern = "^[0-9]{1,78}$", example = "1")]
    pub difficulty: String,
    /// Total work of the chain up to this block; null if unknown.
    #[schema(value_type = Option<WorkHex>)]
    pub chainwork: Option<Work>,
    /// Number of transfers.
    pub tx_count: u64,
    /// Encoded size in bytes.
    pub size: u64,
    /// The address paid the reward and the fees.
    pub miner: String,
    /// The block reward at this height.
    pub reward: Amount,
    /// The sum of the transfers' fees.
    pub fees: Amount,
    /// True if the block is on the node's best chain.
    pub in_best_chain: bool,
}

/// Where a block stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BlockStatus {
    /// True if the block is on the best chain.
    pub in_best_chain: bool,
    /// The block's height.
    pub height: u64,
    /// The best-chain block after this one; null at the tip or off the best chain.
    #[schema(value_type = Option<HashHex>)]
    pub next_best: Option<Hash>,
    /// False once the block failed validation.
    pub valid: bool,
}
