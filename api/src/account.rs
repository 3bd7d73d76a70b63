//! The account answer (`/api/address/{address}`): confirmed state and the mempool's view.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::scalar::Amount;

/// An address's confirmed state and its pending transfers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Address)]
pub struct AddressInfo {
    /// The address, bech32m in lower case.
    pub address: String,
    /// Confirmed balance.
    pub balance: Amount,
    /// Confirmed nonce: transfers sent.
    pub nonce: u64,
    /// Confirmed transfers sent or received.
    pub tx_count: u64,
    /// The mempool's view.
    pub mempool: PendingView,
}

/// The pending part of an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PendingView {
    /// Pending transfers sent or received.
    pub tx_count: u64,
    /// Pending received minus pending sent (amounts and fees), base units, as a signed
    /// decimal string.
    #[schema(pattern = "^-?[0-9]{1,40}$", example = "-1000100")]
    pub pending_delta: String,
    /// Amounts plus fees of pending outgoing transfers, base units, as a decimal string (it
    /// can exceed 2^64 - 1: many pending transfers may each spend nearly all).
    #[schema(pattern = "^[0-9]{1,40}$", example = "1000100")]
    pub pending_spend: String,
    /// The nonce the next transfer from this address should use.
    pub next_nonce: u64,
}
