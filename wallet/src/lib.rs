//! ferrite-wallet: keystore, signing and the HTTP node client behind the `ferrite-wallet` CLI.
//!
//! Only the entry point exists so far; the wallet arrives with its issue.

/// The wallet's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
