//! The commands that make, list and export wallets: `new`, `import`, `list`, `export`.

use ferrite_core::genesis::{GenesisConfig, TESTNET_GENESIS_JSON};
use ferrite_core::SecretKey;
use serde_json::json;

use super::output::{Out, Secret};
use super::{address_of, node_prefix};
use crate::cli::Cli;
use crate::client::Client;
use crate::config::{Settings, DEFAULT_NAME};
use crate::error::WalletError;
use crate::keystore::{self, KeyFile};
use crate::{prompt, secret};

/// The address prefix for a new wallet: the node's, or the public testnet's when no node
/// answers (said on stderr, since the wallet then shows testnet addresses).
fn prefix_for_new(s: &Settings) -> Result<String, WalletError> {
    match Client::new(&s.node)?.info() {
        Ok(info) => {
            node_prefix(&info)?;
            Ok(info.address_prefix)
        }
        Err(WalletError::Unreachable { .. }) => {
            let testnet = GenesisConfig::from_json(TESTNET_GENESIS_JSON)
                .map_err(|e| WalletError::Internal(format!("embedded testnet genesis: {e}")))?;
            eprintln!(
                "note: no node answers at {}; showing addresses with the public testnet's prefix {:?} \
                 (the key itself works on any chain)",
                s.node, testnet.address_prefix
            );
            Ok(testnet.address_prefix)
        }
        Err(e) => Err(e),
    }
}

fn store_key(
    cli: &Cli,
    s: &Settings,
    name: Option<&str>,
    key: &SecretKey,
) -> Result<(KeyFile, std::path::PathBuf), WalletError> {
    let name = name.unwrap_or(DEFAULT_NAME);
    keystore::check_name(name)?;
    if keystore::names(&s.dir)?.iter().any(|n| n == name) {
        return Err(WalletError::Usage(format!(
            "a wallet named {name:?} already exists; choose another --name"
        )));
    }
    let prefix = prefix_for_new(s)?;
    let pass = prompt::passphrase(cli.password_file.as_deref(), true)?;
    let cost = (
        keystore::DEFAULT_M_COST,
        keystore::DEFAULT_T_COST,
        keystore::DEFAULT_P_COST,
    );
    let file = keystore::seal(name, &prefix, key, pass.as_bytes(), cost)?;
    let path = keystore::save(&s.dir, &file)?;
    Ok((file, path))
}

pub(super) fn new(
    cli: &Cli,
    s: &Settings,
    name: Option<&str>,
    with_phrase: bool,
    out: &Out,
) -> Result<(), WalletError> {
    let key = SecretKey::generate(&mut rand::rngs::OsRng);
    let (file, path) = store_key(cli, s, name, &key)?;
    let address = address_of(&file)?;
    let phrase = if with_phrase {
        Some(secret::phrase_of(&key)?)
    } else {
        None
    };
    let text = format!(
        "wallet {} created: {}\naddress: {address}",
        file.name,
        path.display()
    );
    let v = json!({"wallet": file.name, "address": address, "file": path});
    let secrets: Vec<Secret> = phrase
        .iter()
        .map(|p| Secret {
            key: "recovery_phrase",
            label: "recovery phrase (shown once; anyone who has it owns this wallet's coins):\n",
            value: p.as_str(),
        })
        .collect();
    out.emit_secrets(text, v, &secrets)
}

pub(super) fn import(
    cli: &Cli,
    s: &Settings,
    name: Option<&str>,
    out: &Out,
) -> Result<(), WalletError> {
    let input = prompt::secret_input()?;
    let key = secret::parse_secret(&input)?;
    let (file, path) = store_key(cli, s, name, &key)?;
    let address = address_of(&file)?;
    out.emit(
        format!(
            "wallet {} imported: {}\naddress: {address}",
            file.name,
            path.display()
        ),
        json!({"wallet": file.name, "address": address, "file": path}),
    )?;
    Ok(())
}

pub(super) fn list(s: &Settings, out: &Out) -> Result<(), WalletError> {
    let mut rows = Vec::new();
    let mut text = Vec::new();
    for name in keystore::names(&s.dir)? {
        // One damaged file does not hide the others; it is listed with what is wrong.
        match keystore::load(&s.dir, &name).and_then(|(file, _)| address_of(&file)) {
            Ok(a) => {
                text.push(format!("{name}  {a}"));
                rows.push(json!({"wallet": name, "address": a}));
            }
            Err(e) => {
                text.push(format!("{name}  (unreadable: {e})"));
                rows.push(json!({"wallet": name, "address": null, "error": e.to_string()}));
            }
        }
    }
    if text.is_empty() {
        text.push(format!(
            "no wallets in {}; create one with `ferrite-wallet new`",
            s.dir.display()
        ));
    }
    out.emit(text.join("\n"), json!({"wallets": rows}))?;
    Ok(())
}

pub(super) fn export(cli: &Cli, s: &Settings, out: &Out) -> Result<(), WalletError> {
    let (file, path) = keystore::load(&s.dir, &s.wallet_name()?)?;
    eprintln!(
        "WARNING: the secret key below gives full control of this wallet's coins. Anyone who \
         sees it can spend them. Do not paste it anywhere you do not trust."
    );
    let pass = prompt::passphrase(cli.password_file.as_deref(), false)?;
    let key = file.open(pass.as_bytes(), &path)?;
    // Hex digits written into a fixed buffer (an encoder that grows a String would leave
    // copies behind).
    let mut hexed = zeroize::Zeroizing::new([0u8; 64]);
    hex::encode_to_slice(key.to_bytes().as_slice(), hexed.as_mut())
        .map_err(|e| WalletError::Internal(e.to_string()))?;
    let hexed =
        std::str::from_utf8(hexed.as_ref()).map_err(|e| WalletError::Internal(e.to_string()))?;
    let phrase = secret::phrase_of(&key)?;
    out.emit_secrets(
        format!("wallet {}", file.name),
        json!({"wallet": file.name}),
        &[
            Secret {
                key: "secret_key",
                label: "secret key: ",
                value: hexed,
            },
            Secret {
                key: "recovery_phrase",
                label: "recovery phrase: ",
                value: phrase.as_str(),
            },
        ],
    )
}
