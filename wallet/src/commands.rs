//! What each command does, and how its result is printed (text for people, one JSON object
//! with stable keys for `--json`).

use std::time::{Duration, Instant};

use ferrite_core::amount::{format_amount, parse_amount};
use ferrite_core::encoding::Encode;
use ferrite_core::genesis::{GenesisConfig, TESTNET_GENESIS_JSON};
use ferrite_core::{Address, AddressPrefix, Hash, SecretKey, Transaction};
use serde_json::{json, Value};

use crate::cli::{Cli, Command};
use crate::client::{Client, NodeInfo};
use crate::config::{self, Settings, DEFAULT_NAME};
use crate::error::WalletError;
use crate::keystore::{self, KeyFile};
use crate::{prompt, secret};

/// How often `send` asks the node whether the transfer is mined: blocks come every few
/// seconds at the fastest (dev), and a status read costs the node microseconds.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Prints results as text or JSON.
struct Out {
    json: bool,
}

impl Out {
    fn emit(&self, text: impl std::fmt::Display, value: Value) {
        if self.json {
            println!("{value}");
        } else {
            println!("{text}");
        }
    }
}

/// Runs the command of `cli`.
pub fn run(cli: &Cli) -> Result<(), WalletError> {
    let s = config::resolve(cli)?;
    let out = Out { json: cli.json };
    match &cli.command {
        Command::New { name, phrase } => new(cli, &s, name.as_deref(), *phrase, &out),
        Command::Import { name } => import(cli, &s, name.as_deref(), &out),
        Command::List => list(&s, &out),
        Command::Address => {
            let (file, _) = keystore::load(&s.dir, &s.wallet_name()?)?;
            let a = address_of(&file)?;
            out.emit(&a, json!({"wallet": file.name, "address": a}));
            Ok(())
        }
        Command::Balance { address } => balance(&s, address.as_deref(), &out),
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
            send(cli, &s, to, amount, fee.as_deref(), *yes, wait, &out)
        }
        Command::History { limit } => history(&s, *limit as usize, &out),
        Command::Tx { txid } => tx(&s, txid, &out),
        Command::Export => export(cli, &s, &out),
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

/// The node's address prefix, checked.
fn node_prefix(info: &NodeInfo) -> Result<AddressPrefix, WalletError> {
    AddressPrefix::new(&info.address_prefix)
        .map_err(|e| WalletError::Node(format!("the node's address prefix: {e}")))
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

fn new(
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
    let mut text = format!(
        "wallet {} created: {}\naddress: {address}",
        file.name,
        path.display()
    );
    if let Some(p) = &phrase {
        text.push_str(&format!(
            "\nrecovery phrase (shown once; anyone who has it owns this wallet's coins):\n{}",
            p.as_str()
        ));
    }
    let mut v = json!({"wallet": file.name, "address": address, "file": path});
    if let Some(p) = &phrase {
        v["recovery_phrase"] = json!(p.as_str());
    }
    out.emit(text, v);
    Ok(())
}

fn import(cli: &Cli, s: &Settings, name: Option<&str>, out: &Out) -> Result<(), WalletError> {
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
    );
    Ok(())
}

fn list(s: &Settings, out: &Out) -> Result<(), WalletError> {
    let mut rows = Vec::new();
    let mut text = Vec::new();
    for name in keystore::names(&s.dir)? {
        let (file, _) = keystore::load(&s.dir, &name)?;
        let a = address_of(&file)?;
        text.push(format!("{name}  {a}"));
        rows.push(json!({"wallet": name, "address": a}));
    }
    if text.is_empty() {
        text.push(format!(
            "no wallets in {}; create one with `ferrite-wallet new`",
            s.dir.display()
        ));
    }
    out.emit(text.join("\n"), json!({"wallets": rows}));
    Ok(())
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

/// A decimal amount of base units the node sent as a string (they may exceed JSON's safe
/// integers), as a signed amount that fits the ledger.
fn node_units(text: &str, what: &str) -> Result<i128, WalletError> {
    text.parse::<i128>()
        .ok()
        .filter(|v| v.unsigned_abs() <= u128::from(u64::MAX))
        .ok_or_else(|| WalletError::Node(format!("{what} {text:?} is not an amount")))
}

/// `units` as signed decimal coins.
fn format_signed(units: i128, decimals: u8) -> String {
    // node_units bounds the magnitude to u64.
    let magnitude = u64::try_from(units.unsigned_abs()).unwrap_or(u64::MAX);
    let sign = if units < 0 { "-" } else { "+" };
    format!("{sign}{}", format_amount(magnitude, decimals))
}

fn balance(s: &Settings, address: Option<&str>, out: &Out) -> Result<(), WalletError> {
    let client = Client::new(&s.node)?;
    let info = client.info()?;
    let a = match address {
        Some(t) => parse_address(&info, t, "address")?.to_bech32(&node_prefix(&info)?),
        None => own_address(s, &info)?.2,
    };
    let v = client.account(&a)?;
    let d = info.decimals;
    let delta = node_units(&v.mempool.pending_delta, "pending_delta")?;
    let delta_text = format_signed(delta, d);
    let text = format!(
        "{a}\nbalance: {}\npending: {delta_text} ({} transfers)\nnonce: {} (next {})",
        format_amount(v.balance, d),
        v.mempool.tx_count,
        v.nonce,
        v.mempool.next_nonce
    );
    out.emit(
        text,
        json!({
            "address": a,
            "balance": format_amount(v.balance, d),
            "balance_units": v.balance,
            "pending_delta_units": v.mempool.pending_delta,
            "pending_txs": v.mempool.tx_count,
            "nonce": v.nonce,
            "next_nonce": v.mempool.next_nonce,
            "tx_count": v.tx_count,
        }),
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn send(
    cli: &Cli,
    s: &Settings,
    to: &str,
    amount: &str,
    fee: Option<&str>,
    yes: bool,
    wait: Option<(u64, u64)>,
    out: &Out,
) -> Result<(), WalletError> {
    let client = Client::new(&s.node)?;
    let info = client.info()?;
    let d = info.decimals;
    // Everything typed is checked before anything is signed.
    let recipient = parse_address(&info, to, "--to")?;
    let amount =
        parse_amount(amount, d).map_err(|e| WalletError::Usage(format!("--amount: {e}")))?;
    if amount == 0 {
        return Err(WalletError::Usage("--amount must be more than zero".into()));
    }
    let fee = match fee {
        Some(f) => parse_amount(f, d).map_err(|e| WalletError::Usage(format!("--fee: {e}")))?,
        None => {
            let est: Value = client.get("/api/fee-estimates")?;
            est["1"]
                .as_u64()
                .ok_or_else(|| WalletError::Node("fee estimate missing".into()))?
        }
    };
    let (file, path, from) = own_address(s, &info)?;
    // The recipient as the chain writes it (lower case, trimmed), shown and reported.
    let to = recipient.to_bech32(&node_prefix(&info)?);
    if to == from {
        return Err(WalletError::Usage(
            "--to is this wallet's own address".into(),
        ));
    }
    let account = client.account(&from)?;
    let pending_spend = node_units(&account.mempool.pending_spend, "pending_spend")?;
    let pending_spend = u64::try_from(pending_spend)
        .map_err(|_| WalletError::Node("pending_spend is negative".into()))?;
    let needed = amount
        .checked_add(fee)
        .ok_or_else(|| WalletError::Usage("amount plus fee overflows".into()))?;
    let spendable = account.balance.saturating_sub(pending_spend);
    if needed > spendable {
        return Err(WalletError::InsufficientFunds(format!(
            "sending {} plus fee {} needs {}, but {from} can spend {} ({} pending)",
            format_amount(amount, d),
            format_amount(fee, d),
            format_amount(needed, d),
            format_amount(spendable, d),
            format_amount(pending_spend, d),
        )));
    }
    let nonce = account.mempool.next_nonce;
    let after = spendable - needed;
    if !out.json || !yes {
        eprintln!(
            "chain:          {} ({})\nfrom:           {from}\nto:             {to}\namount:         {}\nfee:            {}\nnonce:          {nonce}\nbalance after:  {}",
            info.chain,
            info.genesis,
            format_amount(amount, d),
            format_amount(fee, d),
            format_amount(after, d),
        );
    }
    if !yes && !prompt::confirm("Send?")? {
        return Err(WalletError::Aborted);
    }
    let chain_id: Hash = info
        .genesis
        .parse()
        .map_err(|_| WalletError::Node("node's genesis id is not a hash".into()))?;
    let pass = prompt::passphrase(cli.password_file.as_deref(), false)?;
    let key = file.open(pass.as_bytes(), &path)?;
    drop(pass);
    let signed = Transaction {
        sender: key.public_key(),
        recipient,
        amount,
        fee,
        nonce,
    }
    .sign(&key, &chain_id);
    drop(key);
    let txid = signed.id().to_string();
    submit(&client, &txid, &hex::encode(signed.encode()))?;
    let mut result = json!({
        "txid": txid,
        "from": from,
        "to": to,
        "amount": format_amount(amount, d),
        "fee": format_amount(fee, d),
        "nonce": nonce,
        "confirmed": false,
        "confirmations": 0,
    });
    let Some((want, timeout)) = wait else {
        out.emit(format!("sent {txid} (not waiting for a block)"), result);
        return Ok(());
    };
    if !out.json {
        eprintln!("sent {txid}; waiting for {want} confirmation(s)...");
    }
    let started = Instant::now();
    loop {
        // A node that stops answering for a while may come back: until the timeout every
        // failure here is treated as temporary, and the transfer is already signed and sent.
        let seen = match client.tx(&txid) {
            Ok(seen) => seen,
            Err(e) => {
                tracing::warn!("while waiting for {txid}: {e}");
                None
            }
        };
        if let Some((_, status)) = seen {
            let got = status["confirmations"].as_u64().unwrap_or(0);
            if status["confirmed"] == true && got >= want {
                result["confirmed"] = json!(true);
                result["confirmations"] = json!(got);
                result["block_height"] = status["block_height"].clone();
                result["block_hash"] = status["block_hash"].clone();
                out.emit(
                    format!(
                        "{txid} confirmed in block {} ({got} confirmations)",
                        status["block_height"]
                    ),
                    result,
                );
                return Ok(());
            }
        }
        if started.elapsed() >= Duration::from_secs(timeout) {
            return Err(WalletError::NotConfirmed {
                txid,
                secs: timeout,
            });
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Submits a signed transfer. When the answer is lost (the connection broke after sending),
/// the node is asked whether it has the transfer before calling it a failure.
fn submit(client: &Client, txid: &str, hex_tx: &str) -> Result<(), WalletError> {
    match client.post_tx(hex_tx) {
        Ok(answered) if answered == txid => Ok(()),
        Ok(answered) => Err(WalletError::Node(format!(
            "node answered txid {answered}, expected {txid}"
        ))),
        Err(e @ WalletError::Unreachable { .. }) => match client.tx(txid) {
            Ok(Some(_)) => Ok(()),
            _ => Err(e),
        },
        Err(e) => Err(e),
    }
}

fn history(s: &Settings, limit: usize, out: &Out) -> Result<(), WalletError> {
    let client = Client::new(&s.node)?;
    let info = client.info()?;
    let (_, _, me) = own_address(s, &info)?;
    // The first page holds the pending transfers and the newest confirmed ones; later pages
    // continue after the last confirmed txid until the node has no more.
    let mut entries: Vec<Value> = client.get(&format!("/api/address/{me}/txs"))?;
    while entries.len() < limit {
        let Some(last) = entries
            .iter()
            .rev()
            .find(|e| e["status"]["confirmed"] == true)
            .and_then(|e| e["txid"].as_str())
        else {
            break;
        };
        let page: Vec<Value> = client.get(&format!("/api/address/{me}/txs/chain/{last}"))?;
        if page.is_empty() {
            break;
        }
        entries.extend(page);
    }
    entries.truncate(limit);
    let d = info.decimals;
    let mut rows = Vec::new();
    let mut text = vec![format!("history of {me} (newest first):")];
    for e in &entries {
        let outgoing = e["from"] == me.as_str();
        let amount = e["amount"].as_u64().unwrap_or(0);
        let fee = e["fee"].as_u64().unwrap_or(0);
        let other = if outgoing { &e["to"] } else { &e["from"] };
        let where_ = if e["status"]["confirmed"] == true {
            format!("block {}", e["status"]["block_height"])
        } else {
            "pending".to_string()
        };
        let sign = if outgoing { "-" } else { "+" };
        text.push(format!(
            "{sign}{} {} {}  {where_}  {}",
            format_amount(amount, d),
            if outgoing { "to" } else { "from" },
            other.as_str().unwrap_or("?"),
            e["txid"].as_str().unwrap_or("?"),
        ));
        rows.push(json!({
            "txid": e["txid"],
            "direction": if outgoing { "out" } else { "in" },
            "counterparty": other,
            "amount": format_amount(amount, d),
            "fee": format_amount(fee, d),
            "confirmed": e["status"]["confirmed"],
            "block_height": e["status"]["block_height"],
        }));
    }
    if rows.is_empty() {
        text.push("no transfers yet".into());
    }
    out.emit(
        text.join("\n"),
        json!({"address": me, "transactions": rows}),
    );
    Ok(())
}

fn tx(s: &Settings, txid: &str, out: &Out) -> Result<(), WalletError> {
    let id: Hash = txid.trim().parse().map_err(|_| {
        WalletError::Usage(format!("{txid:?} is not a transaction id (64 hex digits)"))
    })?;
    let client = Client::new(&s.node)?;
    let info = client.info()?;
    let Some((t, status)) = client.tx(&id.to_string())? else {
        return Err(WalletError::Node(format!(
            "the node does not know transaction {id}"
        )));
    };
    let d = info.decimals;
    let confirmed = status["confirmed"] == true;
    let state = if confirmed {
        format!(
            "confirmed in block {} ({} confirmations)",
            status["block_height"], status["confirmations"]
        )
    } else {
        "pending in the mempool".to_string()
    };
    let amount = t["amount"].as_u64().unwrap_or(0);
    let fee = t["fee"].as_u64().unwrap_or(0);
    out.emit(
        format!(
            "{id}\nfrom:   {}\nto:     {}\namount: {}\nfee:    {}\nnonce:  {}\nstatus: {state}",
            t["from"].as_str().unwrap_or("?"),
            t["to"].as_str().unwrap_or("?"),
            format_amount(amount, d),
            format_amount(fee, d),
            t["nonce"],
        ),
        json!({
            "txid": id.to_string(),
            "from": t["from"],
            "to": t["to"],
            "amount": format_amount(amount, d),
            "fee": format_amount(fee, d),
            "nonce": t["nonce"],
            "confirmed": confirmed,
            "confirmations": status["confirmations"].as_u64().unwrap_or(0),
            "block_height": status["block_height"],
        }),
    );
    Ok(())
}

fn export(cli: &Cli, s: &Settings, out: &Out) -> Result<(), WalletError> {
    let (file, path) = keystore::load(&s.dir, &s.wallet_name()?)?;
    eprintln!(
        "WARNING: the secret key below gives full control of this wallet's coins. Anyone who \
         sees it can spend them. Do not paste it anywhere you do not trust."
    );
    let pass = prompt::passphrase(cli.password_file.as_deref(), false)?;
    let key = file.open(pass.as_bytes(), &path)?;
    let hexed = zeroize::Zeroizing::new(hex::encode(key.to_bytes().as_slice()));
    let phrase = secret::phrase_of(&key)?;
    out.emit(
        format!(
            "secret key: {}\nrecovery phrase: {}",
            hexed.as_str(),
            phrase.as_str()
        ),
        json!({"wallet": file.name, "secret_key": hexed.as_str(), "recovery_phrase": phrase.as_str()}),
    );
    Ok(())
}
