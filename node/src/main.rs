//! The `ferrite-node` binary.

use clap::Parser;

/// A Ferrite proof-of-work node.
#[derive(Parser, Debug)]
#[command(name = "ferrite-node", version = ferrite_node::VERSION, about)]
struct Cli {
    /// Run a local development chain (not implemented yet: prints what would run).
    #[arg(long)]
    dev: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let genesis = ferrite_core::genesis::testnet()?;
    println!(
        "ferrite-node {} (testnet genesis {})",
        ferrite_node::VERSION,
        genesis.params.genesis_hash
    );
    if cli.dev {
        println!("--dev: the node itself is not implemented yet");
    }
    Ok(())
}
