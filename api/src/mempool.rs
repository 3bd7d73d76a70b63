//! Mempool answers: its figures and fee histogram, its newest entries, and fee estimates.

use std::collections::BTreeMap;

use ferrite_core::Hash;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::scalar::{Amount, HashHex};

/// The mempool's figures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Mempool)]
pub struct MempoolInfo {
    /// Pending transfers.
    pub count: u64,
    /// Their encoded size in bytes.
    pub bytes: u64,
    /// The sum of their fees, base units, as a decimal string (it can exceed 2^64 - 1).
    #[schema(pattern = "^[0-9]{1,40}$", example = "30000")]
    pub total_fee: String,
    /// Groups of transfers by fee, highest fee first.
    pub fee_histogram: Vec<FeeGroup>,
}

/// One group of the fee histogram: about an equal share of the pool, and every transfer of the
/// fee the group ends on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FeeGroup {
    /// The lowest fee in the group.
    pub fee: Amount,
    /// Transfers in the group.
    #[schema(minimum = 1)]
    pub count: u64,
}

/// A pending transfer, as `/api/mempool/recent` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = MempoolRecentTx)]
pub struct MempoolTx {
    /// The transfer's id.
    #[schema(value_type = HashHex)]
    pub txid: Hash,
    /// The sender's address.
    pub from: String,
    /// The recipient's address.
    pub to: String,
    /// Base units moved.
    pub amount: Amount,
    /// The fee.
    pub fee: Amount,
    /// Encoded size in bytes.
    pub size: u64,
}

/// For each confirmation target in blocks (the keys: 1, 2, 3, 6, 12, 24 and 144), the fee per
/// transfer that would have been confirmed within it, given the pool now and full blocks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct FeeEstimates(pub BTreeMap<String, Amount>);
