//! Transfer answers: a transfer with its status (`/api/tx/{txid}`, block and address pages),
//! its status alone, and its merkle proof.

use ferrite_core::Hash;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::scalar::{Amount, HashHex};

/// A transfer and where it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Tx {
    /// The transfer's id.
    #[schema(value_type = HashHex)]
    pub txid: Hash,
    /// The sender's address.
    pub from: String,
    /// The recipient's address.
    pub to: String,
    /// Base units moved.
    pub amount: Amount,
    /// The fee, paid to the block's miner.
    pub fee: Amount,
    /// The sender's nonce (its count of earlier transfers).
    pub nonce: u64,
    /// Encoded size in bytes.
    pub size: u64,
    /// Where the transfer is.
    pub status: TxStatus,
}

/// Confirmed in a best-chain block, or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum TxStatus {
    /// In a best-chain block.
    Confirmed(ConfirmedStatus),
    /// Not in a best-chain block.
    Pending(PendingStatus),
}

impl TxStatus {
    /// The confirmed status, if it is one.
    pub fn confirmed(&self) -> Option<&ConfirmedStatus> {
        match self {
            TxStatus::Confirmed(c) => Some(c),
            TxStatus::Pending(_) => None,
        }
    }
}

/// In a best-chain block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = ConfirmedTxStatus)]
pub struct ConfirmedStatus {
    /// Always true.
    pub confirmed: bool,
    /// Height of the best-chain block holding it.
    pub block_height: u64,
    /// That block's id.
    #[schema(value_type = HashHex)]
    pub block_hash: Hash,
    /// That block's timestamp.
    pub block_time: u64,
    /// The transfer's index in the block.
    pub position: u32,
    /// Tip height minus block height plus 1. Only in answers of `/api/tx/{txid}/status`,
    /// which are never cached: cacheable answers leave it out, so no cache serves a stale
    /// count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub confirmations: Option<u64>,
}

/// Not in a best-chain block: pending in the mempool, or (`in_mempool` false) listed from a
/// block off the best chain, or dropped from the mempool (`dropped` says why).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = PendingTxStatus)]
pub struct PendingStatus {
    /// Always false.
    pub confirmed: bool,
    /// True while in the mempool; false for a transfer listed from a side-branch block or
    /// dropped from the mempool.
    pub in_mempool: bool,
    /// Why and when the transfer left the mempool without being mined, while the node
    /// remembers it (a bounded number of the latest departures). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<Dropped>,
}

/// Why and when a transfer left the mempool without being mined. The fields after `time`
/// appear with the reasons that have them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = DroppedTx)]
pub struct Dropped {
    /// Why it left.
    pub reason: DropReason,
    /// When it left (Unix seconds).
    pub time: u64,
    /// `replaced`: the replacement's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<HashHex>)]
    pub replaced_by: Option<Hash>,
    /// `evicted`: the limit the pool was over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<PoolLimit>,
    /// `reorg` and `no_longer_applies`: the rule that refused it (as in a `rejected` error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The earlier nonce of the same sender that left first for `reason`, taking this one
    /// with it (a later nonce cannot be mined without it). Absent when this one left itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<HashHex>)]
    pub after: Option<Hash>,
}

impl Dropped {
    /// Whether the transfer can no longer be mined on the chain as it is: its nonce went to
    /// another transfer (mined, or a replacement signed by the same key), or it came back from
    /// a reorg with its nonce already used. A transfer evicted, expired, unpayable or refused
    /// for another rule left only this node's pool: another node may still hold and mine it,
    /// or the sender's balance may grow again.
    pub fn is_final(&self) -> bool {
        if self.after.is_some() {
            // It went with an earlier nonce; that one may come back or be replaced.
            return false;
        }
        match self.reason {
            DropReason::Replaced | DropReason::NonceUsed => true,
            DropReason::Reorg => self.rule.as_deref() == Some("nonce_too_low"),
            DropReason::Evicted
            | DropReason::Expired
            | DropReason::Unpayable
            | DropReason::NoLongerApplies => false,
        }
    }
}

/// Why a transfer left the mempool without being mined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// A transfer with the same sender and nonce paying enough more took its place.
    Replaced,
    /// The pool was full and this paid the lowest fee.
    Evicted,
    /// It waited longer than the pool's expiry.
    Expired,
    /// It was in a block that left the best chain and the pool refused it back.
    Reorg,
    /// Another transfer with the same sender and nonce was mined.
    NonceUsed,
    /// After a new tip the sender's balance no longer covers it.
    Unpayable,
    /// A block template found it no longer applies to the tip's state.
    NoLongerApplies,
}

/// A mempool size limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PoolLimit {
    /// The most transfers held.
    MaxCount,
    /// The most bytes held.
    MaxBytes,
    /// The most transfers one sender may have pending.
    PerSender,
}

impl ConfirmedStatus {
    /// In `block_hash` at `block_height`, index `position`, without a confirmation count.
    pub fn new(block_height: u64, block_hash: Hash, block_time: u64, position: u32) -> Self {
        ConfirmedStatus {
            confirmed: true,
            block_height,
            block_hash,
            block_time,
            position,
            confirmations: None,
        }
    }
}

impl TxStatus {
    /// Pending in the mempool.
    pub const IN_MEMPOOL: TxStatus = TxStatus::Pending(PendingStatus {
        confirmed: false,
        in_mempool: true,
        dropped: None,
    });
    /// In a block off the best chain, and not in the mempool.
    pub const OFF_BEST_CHAIN: TxStatus = TxStatus::Pending(PendingStatus {
        confirmed: false,
        in_mempool: false,
        dropped: None,
    });

    /// Dropped from the mempool.
    pub fn dropped(d: Dropped) -> TxStatus {
        TxStatus::Pending(PendingStatus {
            confirmed: false,
            in_mempool: false,
            dropped: Some(d),
        })
    }
}

/// The path from a transfer's leaf to its block's merkle root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MerkleProof {
    /// Height of the best-chain block holding the transfer.
    pub block_height: u64,
    /// That block's id.
    #[schema(value_type = HashHex)]
    pub block_hash: Hash,
    /// That block's merkle root.
    #[schema(value_type = HashHex)]
    pub merkle_root: Hash,
    /// The transfer's index in the block (its leaf).
    pub pos: u64,
    /// Number of leaves (transfers) in the tree.
    #[schema(minimum = 1)]
    pub leaf_count: u64,
    /// Sibling hashes from the leaf up to the root.
    #[schema(value_type = Vec<HashHex>)]
    pub merkle: Vec<Hash>,
}
