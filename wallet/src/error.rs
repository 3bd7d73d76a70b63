//! The wallet's failures, one variant per thing that can go wrong for a user, each with its own
//! exit code (the table is in docs/wallet.md and `ferrite-wallet --help`).

use std::path::PathBuf;

/// Why a wallet command failed.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// A flag, argument or typed value is unusable (malformed address, other chain's address,
    /// bad amount, no terminal to confirm on, wallet name taken).
    #[error("{0}")]
    Usage(String),
    /// The passphrase does not open the keystore.
    #[error("wrong passphrase for wallet {0:?}")]
    WrongPassphrase(String),
    /// The keystore file is unreadable, malformed or was tampered with.
    #[error("keystore {path} is corrupt or was tampered with: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No keystore of that name.
    #[error("no wallet named {name:?} in {dir}; `ferrite-wallet list` shows the wallets")]
    UnknownWallet {
        /// The name asked for.
        name: String,
        /// The wallet directory.
        dir: PathBuf,
    },
    /// The node does not answer.
    #[error("cannot reach the node at {url}: {reason}")]
    Unreachable {
        /// The node's URL.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// The node refused the transfer.
    #[error("the node rejected the transaction: {0}")]
    Rejected(String),
    /// The account cannot pay.
    #[error("insufficient funds: {0}")]
    InsufficientFunds(String),
    /// The transfer was sent but not confirmed in time.
    #[error("transaction {txid} not confirmed after {secs} s (it may still be mined; check with `ferrite-wallet tx {txid}`)")]
    NotConfirmed {
        /// The transfer.
        txid: String,
        /// Seconds waited.
        secs: u64,
    },
    /// The transfer was sent, then left the node's mempool without being mined.
    #[error("transaction {txid} was dropped from the node's mempool: {}", why_dropped(.dropped))]
    Dropped {
        /// The transfer.
        txid: String,
        /// What the node says happened.
        dropped: Box<ferrite_api::Dropped>,
    },
    /// The user said no.
    #[error("cancelled; nothing was sent")]
    Aborted,
    /// The node is catching up: what it says of balances and nonces may be out of date.
    #[error("the node is still catching up (height {height} of {best} known): its balances and nonces may be out of date; nothing was sent, try again once it has caught up")]
    NodeSyncing {
        /// Its tip.
        height: u64,
        /// The best header it knows.
        best: u64,
    },
    /// The node answered something unexpected (an error status, or JSON of the wrong shape).
    #[error("node error: {0}")]
    Node(String),
    /// A local file or terminal failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A cryptographic operation failed that should not (key generation, encryption).
    #[error("internal error: {0}")]
    Internal(String),
}

impl WalletError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            WalletError::Usage(_) => 2,
            WalletError::WrongPassphrase(_) => 3,
            WalletError::Corrupt { .. } => 4,
            WalletError::UnknownWallet { .. } => 5,
            WalletError::Unreachable { .. } => 6,
            WalletError::Rejected(_) => 7,
            WalletError::InsufficientFunds(_) => 8,
            WalletError::NotConfirmed { .. } => 9,
            WalletError::Aborted => 10,
            WalletError::NodeSyncing { .. } => 11,
            WalletError::Dropped { .. } => 12,
            WalletError::Node(_) | WalletError::Io(_) | WalletError::Internal(_) => 1,
        }
    }

    /// A stable short name of the failure (the `error` key of `--json` output).
    pub fn code(&self) -> &'static str {
        match self {
            WalletError::Usage(_) => "usage",
            WalletError::WrongPassphrase(_) => "wrong_passphrase",
            WalletError::Corrupt { .. } => "corrupt_keystore",
            WalletError::UnknownWallet { .. } => "unknown_wallet",
            WalletError::Unreachable { .. } => "node_unreachable",
            WalletError::Rejected(_) => "rejected",
            WalletError::InsufficientFunds(_) => "insufficient_funds",
            WalletError::NotConfirmed { .. } => "not_confirmed",
            WalletError::Aborted => "aborted",
            WalletError::NodeSyncing { .. } => "node_syncing",
            WalletError::Dropped { .. } => "dropped",
            WalletError::Node(_) => "node_error",
            WalletError::Io(_) => "io",
            WalletError::Internal(_) => "internal",
        }
    }
}

/// A departure from the mempool in words: the reason, and what it names.
pub fn why_dropped(d: &ferrite_api::Dropped) -> String {
    use ferrite_api::DropReason;
    let mut out = match d.reason {
        DropReason::Replaced => "replaced".to_string(),
        DropReason::Evicted => match d.limit {
            Some(ferrite_api::PoolLimit::PerSender) => {
                "evicted (an earlier nonce of the same sender came back after a reorg and took its place)"
                    .to_string()
            }
            _ => "evicted (the pool was full)".to_string(),
        },
        DropReason::Expired => "expired (waited too long)".to_string(),
        DropReason::Reorg => "its block left the best chain and it was refused back".to_string(),
        DropReason::NonceUsed => "another transfer with its nonce was mined".to_string(),
        DropReason::Unpayable => "the balance no longer covers it".to_string(),
        DropReason::NoLongerApplies => "it no longer applies".to_string(),
    };
    if let Some(by) = &d.replaced_by {
        out.push_str(&format!(" by {by}"));
    }
    if let Some(rule) = &d.rule {
        out.push_str(&format!(" ({})", crate::client::one_line(rule)));
    }
    match &d.after {
        Some(first) => format!("it went with the earlier transfer {first} of the same sender (a later nonce cannot be mined without it), which left: {out}"),
        None => out,
    }
}
