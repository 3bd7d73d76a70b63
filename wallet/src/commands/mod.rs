//! What each command does: `keys` makes, lists and exports wallets, `send` signs and submits
//! transfers, `read` shows balances, histories and transfers; `output` prints results as text
//! for people or one JSON object with stable keys for `--json`. Helpers shared by several
//! commands live here.

mod keys;
mod output;
mod read;
mod send;

use ferrite_core::{Address, AddressPrefix};
use serde_json::json;

use crate::cli::{Cli, Command};
use crate::client::NodeInfo;
use crate::config::{self, Settings};
use crate::error::WalletError;
use crate::keystore::{self, KeyFile};
use output::Out;

/// Runs the command of `cli`.
pub fn run(cli: &Cli) -> Result<(), WalletError> {
    let s = config::resolve(cli)?;
    let out = Out { json: cli.json };
    match &cli.command {
        Command::New { name, phrase } => keys::new(cli, &s, name.as_deref(), *phrase, &out),
        Command::Import { name } => keys::import(cli, &s, name.as_deref(), &out),
        Command::List => keys::list(&s, &out),
        Command::Address => {
            let (file, _) = keystore::load(&s.dir, &s.wallet_name()?)?;
            let a = address_of(&file)?;
            out.emit(&a, json!({"wallet": file.name, "address": a}))?;
            Ok(())
        }
        Command::Balance { address } => read::balance(&s, address.as_deref(), &out),
        Command::Send {
            to,
            amount,
            fee,
            yes,
            no_wait,
            confirmations,
            timeout,
        } => {
            let wait = (!no_wait).then_some((*confirmations, *timeout));
            send::send(cli, &s, to, amount, fee.as_deref(), *yes, wait, &out)
        }
        Command::History { limit } => read::history(&s, *limit as usize, &out),
        Command::Tx { txid } => read::tx(&s, txid, &out),
        Command::Export => keys::export(cli, &s, &out),
    }
}

fn corrupt(path: &std::path::Path, reason: impl std::fmt::Display) -> WalletError {
    WalletError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// The wallet's address with the prefix it was made for.
fn address_of(file: &KeyFile) -> Result<String, WalletError> {
    let bad = |e: String| corrupt(std::path::Path::new(&file.name), e);
    let pk = file.public_key().map_err(bad)?;
    let prefix = AddressPrefix::new(&file.prefix).map_err(|e| bad(e.to_string()))?;
    Ok(pk.address().to_bech32(&prefix))
}

/// The node's address prefix, checked.
fn node_prefix(info: &NodeInfo) -> Result<AddressPrefix, WalletError> {
    AddressPrefix::new(&info.address_prefix)
        .map_err(|e| WalletError::Node(format!("the node's address prefix: {e}")))
}

/// The node, its chain, and `text` parsed as an address of that chain (checksum and prefix
/// checked).
fn parse_address(info: &NodeInfo, text: &str, what: &str) -> Result<Address, WalletError> {
    let prefix = node_prefix(info)?;
    Address::parse(text.trim(), &prefix).map_err(|e| {
        WalletError::Usage(format!(
            "{what} {text:?} is not an address of chain {} (prefix {}): {e}",
            info.chain, info.address_prefix
        ))
    })
}

/// The wallet's key file and its address on the node's chain.
fn own_address(
    s: &Settings,
    info: &NodeInfo,
) -> Result<(KeyFile, std::path::PathBuf, String), WalletError> {
    let (file, path) = keystore::load(&s.dir, &s.wallet_name()?)?;
    let pk = file.public_key().map_err(|e| corrupt(&path, e))?;
    let a = pk.address().to_bech32(&node_prefix(info)?);
    Ok((file, path, a))
}
