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
pub mod generate;
pub mod http;
pub mod mempool;
pub mod metrics;
pub mod miner;
pub mod node;
pub mod orphans;
pub mod out;
pub mod p2p;
pub mod readiness;
pub mod seeds;
pub mod store;
pub mod testnet;
pub mod verified;

/// The node's version, as printed by `ferrite-node --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
