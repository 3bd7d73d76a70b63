//! Where settings come from: a flag, else its environment variable (clap reads both), else
//! `config.toml` in the wallet directory, else the default.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::Cli;
use crate::error::WalletError;
use crate::keystore;

/// The node a wallet talks to unless told otherwise: a local node's default explorer address.
pub const DEFAULT_NODE: &str = "http://127.0.0.1:9734";
/// The wallet name used when none is given.
pub const DEFAULT_NAME: &str = "default";
/// Largest config file read.
const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// `WALLET_DIR/config.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    node: Option<String>,
    wallet: Option<String>,
}

/// The resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Keystore directory.
    pub dir: PathBuf,
    /// Node URL.
    pub node: String,
    /// Wallet chosen by flag, environment or config file (not yet checked to exist).
    pub wallet: Option<String>,
}

fn read_config(dir: &Path) -> Result<FileConfig, WalletError> {
    let path = dir.join("config.toml");
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileConfig::default()),
        Err(e) => return Err(e.into()),
    };
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(WalletError::Usage(format!(
            "{} is too large",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(&path)?;
    toml::from_str(&text).map_err(|e| WalletError::Usage(format!("{}: {e}", path.display())))
}

/// Resolves the settings of `cli`.
pub fn resolve(cli: &Cli) -> Result<Settings, WalletError> {
    let dir = match &cli.wallet_dir {
        Some(d) => d.clone(),
        None => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".ferrite").join("wallet"))
            .ok_or_else(|| WalletError::Usage("HOME is not set; pass --wallet-dir".into()))?,
    };
    let file = read_config(&dir)?;
    Ok(Settings {
        node: cli
            .node
            .clone()
            .or(file.node)
            .unwrap_or_else(|| DEFAULT_NODE.to_string()),
        wallet: cli.wallet.clone().or(file.wallet),
        dir,
    })
}

impl Settings {
    /// The wallet to use: the chosen one, else the only one, else `default`.
    pub fn wallet_name(&self) -> Result<String, WalletError> {
        if let Some(w) = &self.wallet {
            return Ok(w.clone());
        }
        let names = keystore::names(&self.dir)?;
        match names.as_slice() {
            [only] => Ok(only.clone()),
            _ if names.iter().any(|n| n == DEFAULT_NAME) => Ok(DEFAULT_NAME.to_string()),
            [] => Err(WalletError::UnknownWallet {
                name: DEFAULT_NAME.into(),
                dir: self.dir.clone(),
            }),
            _ => Err(WalletError::Usage(format!(
                "several wallets ({}); choose one with --wallet NAME",
                names.join(", ")
            ))),
        }
    }
}
