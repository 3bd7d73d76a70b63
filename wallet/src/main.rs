//! The `ferrite-wallet` binary.

use clap::Parser;

/// Ferrite wallet: keys, transfers, history.
#[derive(Parser, Debug)]
#[command(name = "ferrite-wallet", version = ferrite_wallet::VERSION, about)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
    println!(
        "ferrite-wallet {}: no commands yet",
        ferrite_wallet::VERSION
    );
}
