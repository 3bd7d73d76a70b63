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
/// Largest config file read: it holds two settings; anything bigger is the wrong file.
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
    use std::io::Read;
    let path = dir.join("config.toml");
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileConfig::default()),
        Err(e) => {
            return Err(WalletError::Usage(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| WalletError::Usage(format!("cannot read {}: {e}", path.display())))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(WalletError::Usage(format!(
            "{} is larger than {MAX_CONFIG_BYTES} bytes",
            path.display()
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| WalletError::Usage(format!("{} is not UTF-8 text", path.display())))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(dir: &Path, extra: &[&str]) -> Result<Settings, WalletError> {
        let mut args = vec!["ferrite-wallet", "--wallet-dir", dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push("list");
        resolve(&Cli::try_parse_from(args).unwrap())
    }

    #[test]
    fn flag_beats_config_file_beats_default() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // Nothing set (this test assumes FERRITE_NODE and FERRITE_WALLET are not exported).
        if std::env::var_os("FERRITE_NODE").is_some()
            || std::env::var_os("FERRITE_WALLET").is_some()
        {
            return;
        }
        assert_eq!(settings(d, &[]).unwrap().node, DEFAULT_NODE);
        std::fs::write(
            d.join("config.toml"),
            "node = \"http://10.0.0.2:9734\"\nwallet = \"bob\"\n",
        )
        .unwrap();
        let s = settings(d, &[]).unwrap();
        assert_eq!(s.node, "http://10.0.0.2:9734");
        assert_eq!(s.wallet.as_deref(), Some("bob"));
        assert_eq!(s.wallet_name().unwrap(), "bob");
        let s = settings(d, &["--node", "http://127.0.0.1:1", "--wallet", "carol"]).unwrap();
        assert_eq!(s.node, "http://127.0.0.1:1");
        assert_eq!(s.wallet.as_deref(), Some("carol"));
        // A misspelt key, junk, or a huge file: a usage error naming the file.
        std::fs::write(d.join("config.toml"), "nodes = \"x\"\n").unwrap();
        let e = settings(d, &[]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("config.toml"), "{e}");
        std::fs::write(d.join("config.toml"), b"\xff\xfe").unwrap();
        assert_eq!(settings(d, &[]).unwrap_err().exit_code(), 2);
        std::fs::write(
            d.join("config.toml"),
            vec![b'#'; MAX_CONFIG_BYTES as usize + 1],
        )
        .unwrap();
        assert!(settings(d, &[]).unwrap_err().to_string().contains("larger"));
    }
}
