//! ferrite-wallet: the keystore, secrets and recovery phrases, the HTTP node client and the
//! commands behind the `ferrite-wallet` CLI (docs/wallet.md).
//!
//! Keys never leave this process unencrypted except when the user asks (`export`): transfers
//! are signed here and only the signed transfer goes to the node.

pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod error;
pub mod keystore;
pub mod prompt;
pub mod secret;

pub use error::WalletError;

/// The wallet's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
