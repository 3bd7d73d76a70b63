//! Node answers: what the node is and where it stands (`/api/node/info`), its peers, and its
//! readiness (`/ready`).

use ferrite_core::{Hash, Work};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::scalar::{HashHex, WorkHex};

/// The node, its chain and its tip.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NodeInfo {
    /// The node's version.
    pub version: String,
    /// The git commit it was built from ("unknown" outside a git checkout).
    pub commit: String,
    /// The node's id on the network (its static key).
    pub node_id: String,
    /// The chain's name, e.g. `ferrite-testnet` or `ferrite-dev`.
    pub chain: String,
    /// The human-readable part of the chain's addresses.
    pub address_prefix: String,
    /// Decimal places of one coin: an amount of `10^decimals` base units is one coin.
    #[schema(maximum = 18)]
    pub decimals: u8,
    /// The genesis block's id: the chain id transfers are signed for.
    #[schema(value_type = HashHex)]
    pub genesis: Hash,
    /// The tip.
    pub tip: TipInfo,
    /// The best header known (at or above the tip).
    pub best_header: BestHeader,
    /// True while the tip is more than 2 blocks below the best header (the rule `/ready`
    /// answers by): balances and nonces may be out of date.
    pub syncing: bool,
    /// Connected peers.
    pub peers: u64,
}

/// The node's tip.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TipInfo {
    /// Its height.
    pub height: u64,
    /// Its id.
    #[schema(value_type = HashHex)]
    pub hash: Hash,
    /// The chain's total work up to it.
    #[schema(value_type = WorkHex)]
    pub chainwork: Work,
}

/// The best header the node knows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BestHeader {
    /// Its height.
    pub height: u64,
    /// Its id.
    #[schema(value_type = HashHex)]
    pub hash: Hash,
}

/// A connected peer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Peer {
    /// The connection's id in this process.
    pub id: u64,
    /// The node id the peer proved in the transport's handshake.
    pub node_id: String,
    /// The remote socket address.
    pub addr: String,
    /// True if the peer dialled this node.
    pub inbound: bool,
    /// The peer's software, from its handshake.
    pub user_agent: String,
    /// The best height the peer has shown.
    pub height: u64,
    /// When the handshake completed, Unix seconds.
    pub connected_since: u64,
    /// The last ping round trip in milliseconds; null before the first.
    pub ping_ms: Option<f64>,
}

/// Why a node is not ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotReady {
    /// No peer is connected (never for a dev node).
    NoPeers,
    /// The tip is more than 2 blocks below the best header.
    Behind,
    /// The tip is older than 20 block spacings.
    StaleTip,
}

/// The answer of `/ready`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Ready {
    /// True when no rule is broken (the status is then 200, else 503).
    pub ready: bool,
    /// Every rule the node breaks; empty when ready.
    pub reasons: Vec<NotReady>,
    /// The node's tip height.
    pub tip_height: u64,
    /// Height of the best chain the node knows of.
    pub best_height: u64,
    /// Connected peers.
    pub peers: u64,
    /// Seconds since the tip's timestamp (0 for a tip from the future).
    pub tip_age_secs: u64,
}
