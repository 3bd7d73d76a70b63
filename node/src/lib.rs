//! ferrite-node: storage, chain, mempool, miner, peer-to-peer and HTTP for a Ferrite node.
//!
//! The chain ([`chain::Chain`]) owns the RocksDB store ([`store::Store`]) and is the only way
//! blocks enter; the mempool and the miner sit beside it under [`node::Node`].

pub mod admission;
pub mod bench;
pub mod bind;
pub mod chain;
pub mod chainfile;
pub mod config;
pub mod devchain;
pub mod effective;
pub mod exit;
pub mod export;
pub mod fdlimit;
pub mod generate;
pub mod http;
pub mod mempool;
pub mod metrics;
pub mod miner;
pub mod node;
pub mod orphans;
pub mod out;
pub mod p2p;
pub mod progress;
pub mod readiness;
pub mod seeds;
pub mod store;
pub mod terminal;
pub mod testnet;
pub mod verified;

/// The node's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit the node was built from ("unknown" outside a git checkout).
pub const COMMIT: &str = env!("FERRITE_COMMIT");
/// What `ferrite-node --version` prints after the name: the version and the commit.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("FERRITE_COMMIT"),
    ")"
);
