//! The command line: global options and one subcommand per task, with their help texts.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Most confirmations `send` waits for: a thousand blocks is beyond any reorg worth guarding
/// against, and a typo like 10000 is caught.
pub const MAX_CONFIRMATIONS: u64 = 1000;
/// Default seconds `send` waits for its confirmations: ten minutes covers many blocks at
/// testnet spacing without leaving a script hanging for good.
pub const DEFAULT_TIMEOUT_SECS: u64 = 600;
/// Default history length: one screen.
pub const DEFAULT_HISTORY: u64 = 25;
/// Longest history: 10,000 entries are 400 requests of the node's pages, a few seconds.
pub const MAX_HISTORY: u64 = 10_000;

/// Exit codes, shown at the end of `--help`.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  other failure (file system, unexpected answer from the node)
  2  usage: unknown flag, malformed address, address of another chain, bad amount,
     no terminal to confirm on (pass --yes), wallet name taken
  3  wrong passphrase
  4  keystore file corrupt or tampered with
  5  no wallet of that name
  6  node unreachable
  7  transaction rejected by the node
  8  insufficient funds
  9  sent but not confirmed within --timeout
  10 cancelled at the confirmation prompt
  11 the node is still catching up (send refuses; balance warns)
  12 sent, then dropped from the node's mempool while send waited: at once when its nonce
     went to another transfer, else when the wait ran out with it still gone";

/// Ferrite wallet: keys, transfers, history. Keys stay on this machine, encrypted; the wallet
/// talks to a node's HTTP API only to read the chain and submit signed transfers.
#[derive(Parser, Debug)]
#[command(name = "ferrite-wallet", version = crate::VERSION, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// The node's HTTP API (also FERRITE_NODE, or `node` in WALLET_DIR/config.toml).
    #[arg(long, global = true, env = "FERRITE_NODE")]
    pub node: Option<String>,
    /// Where keystore files live [default: ~/.ferrite/wallet].
    #[arg(long, global = true, env = "FERRITE_WALLET_DIR")]
    pub wallet_dir: Option<PathBuf>,
    /// Which wallet to use (also FERRITE_WALLET, or `wallet` in config.toml); by default the
    /// only one, or the one named `default`.
    #[arg(long, global = true, env = "FERRITE_WALLET")]
    pub wallet: Option<String>,
    /// Machine-readable output: one JSON object on stdout with stable keys; errors as
    /// {"error", "message", "exit_code"} on stderr.
    #[arg(long, global = true)]
    pub json: bool,
    /// Read the passphrase from the first line of this file instead of asking.
    #[arg(long, global = true)]
    pub password_file: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The wallet's commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a key, encrypt it with a new passphrase, and print its address.
    New {
        /// The wallet's name [default: `default`].
        #[arg(long)]
        name: Option<String>,
        /// Also print a 24-word recovery phrase, once: write it down; it is the key.
        #[arg(long)]
        phrase: bool,
    },
    /// Import a key from its 64 hex digits or its recovery phrase, asked without echo (or
    /// read from standard input without a terminal), e.g. a dev account printed by
    /// `ferrite-node --dev`.
    Import {
        /// The wallet's name [default: `default`].
        #[arg(long)]
        name: Option<String>,
    },
    /// List the wallets and their addresses.
    List,
    /// Print the wallet's address.
    Address,
    /// Show the balance of the wallet, or of any address.
    Balance {
        /// Another address to look at.
        address: Option<String>,
    },
    /// Send coins: shows a summary and asks before signing.
    Send {
        /// The recipient's address.
        #[arg(long)]
        to: String,
        /// How much, in coins (e.g. 12.5).
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// The fee, in coins [default: the node's estimate for the next block, if at most
        /// 0.01].
        #[arg(long, allow_hyphen_values = true)]
        fee: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Return once the node accepted the transfer, without waiting for a block.
        #[arg(long, conflicts_with = "confirmations")]
        no_wait: bool,
        /// Wait until the transfer has this many confirmations.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=MAX_CONFIRMATIONS))]
        confirmations: u64,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = DEFAULT_TIMEOUT_SECS)]
        timeout: u64,
    },
    /// The wallet's transfers, newest first (pending ones first).
    History {
        /// At most this many.
        #[arg(long, default_value_t = DEFAULT_HISTORY, value_parser = clap::value_parser!(u64).range(1..=MAX_HISTORY))]
        limit: u64,
    },
    /// A transfer's status and confirmations.
    Tx {
        /// The transaction id.
        txid: String,
    },
    /// Print the wallet's secret key and recovery phrase (anyone who sees them owns the coins).
    Export,
}
