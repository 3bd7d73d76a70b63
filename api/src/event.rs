//! The data of the server-sent events of `/api/events`, one type per event name.

use ferrite_core::Hash;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::scalar::HashHex;

/// Event `tip`: the best chain changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TipEvent {
    /// The new tip height.
    pub height: u64,
    /// The new tip's id (null only if nothing was connected).
    #[schema(value_type = Option<HashHex>)]
    pub hash: Option<Hash>,
    /// Blocks connected, oldest first.
    #[schema(value_type = Vec<HashHex>)]
    pub connected: Vec<Hash>,
    /// Blocks disconnected first (0 without a reorg).
    pub reorg_depth: u64,
}

/// Event `tx`: a transfer entered the mempool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TxEvent {
    /// Its id.
    #[schema(value_type = HashHex)]
    pub txid: Hash,
}

/// Event `lagged`: the stream fell behind and skipped events; re-read what it shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LaggedEvent {
    /// Events skipped.
    pub missed: u64,
}
