//! ferrite-node: storage, chain, mempool, miner, peer-to-peer and HTTP for a Ferrite node.
//!
//! For now only the command-line entry point exists; the node's components arrive with their
//! issues (see docs/architecture.md).

/// The node's version, as printed by `ferrite-node --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
