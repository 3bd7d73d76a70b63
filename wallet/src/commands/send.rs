//! `send`: check what was typed, read the account from the node, confirm, sign locally,
//! submit, and wait for confirmations.

use std::time::{Duration, Instant};

use ferrite_core::amount::{format_amount, parse_amount};
use ferrite_core::encoding::Encode;
use ferrite_core::{Hash, Transaction};
use serde_json::json;

use super::output::Out;
use super::read::node_units;
use super::{node_prefix, own_address, parse_address};
use crate::cli::Cli;
use crate::client::{Client, TxStatus};
use crate::config::Settings;
use crate::error::{why_dropped, WalletError};
use crate::prompt;

/// How often `send` asks the node whether the transfer is mined: blocks come every few
/// seconds at the fastest (dev), and a status read costs the node microseconds.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Largest fee, in coins, taken from the node's estimate without `--fee`: a hundred times
/// the dev chain's minimum relay fee, and small enough that a lying node cannot drain a
/// wallet through `send --yes`.
const MAX_AUTO_FEE: &str = "0.01";

#[allow(clippy::too_many_arguments)]
pub(super) fn send(
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
    if let Some((height, best)) = crate::client::catching_up(&info) {
        return Err(WalletError::NodeSyncing { height, best });
    }
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
            let est: ferrite_api::FeeEstimates = client.get("/api/fee-estimates")?;
            let fee = est
                .0
                .get("1")
                .ok_or_else(|| WalletError::Node("fee estimate missing".into()))?
                .0;
            // The node chooses this fee, so it is capped: a node that lies cannot make
            // `send --yes` pay more than a cent of a coin without being told so.
            let cap = parse_amount(MAX_AUTO_FEE, d)
                .map_err(|e| WalletError::Internal(format!("automatic fee limit: {e}")))?;
            if fee > cap {
                return Err(WalletError::Usage(format!(
                    "the node's fee estimate {} is above the {MAX_AUTO_FEE} a wallet pays \
                     unasked; pass --fee to pay it",
                    format_amount(fee, d)
                )));
            }
            fee
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
    let spendable = account.balance.0.saturating_sub(pending_spend);
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
    let chain_id: Hash = info.genesis;
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
        out.emit(format!("sent {txid} (not waiting for a block)"), result)?;
        return Ok(());
    };
    if !out.json {
        eprintln!("sent {txid}; waiting for {want} confirmation(s)...");
    }
    let started = Instant::now();
    // The latest departure this node reported that may not be the end of it (evicted,
    // expired, ...): said once, and the answer if the wait runs out.
    let mut left_pool: Option<ferrite_api::Dropped> = None;
    loop {
        // A node that stops answering for a while may come back: until the timeout every
        // failure here is treated as temporary, and the transfer is already signed and sent.
        let left = Duration::from_secs(timeout)
            .saturating_sub(started.elapsed())
            .max(POLL_INTERVAL);
        let seen = match client.tx_within(&txid, Some(left)) {
            Ok(seen) => seen,
            Err(e) => {
                tracing::warn!("while waiting for {txid}: {e}");
                None
            }
        };
        let dropped = match &seen {
            Some((_, TxStatus::Pending(p))) => p.dropped.as_ref(),
            _ => None,
        };
        // Seen pending or confirmed: it is back, or was mined elsewhere.
        if seen.is_some() && dropped.is_none() {
            left_pool = None;
        }
        if let Some(d) = dropped {
            if d.is_final() {
                return Err(WalletError::Dropped {
                    txid,
                    dropped: Box::new(d.clone()),
                });
            }
            if left_pool.is_none() {
                let why = why_dropped(d);
                tracing::warn!("{txid} left the node's mempool: {why}");
                if !out.json {
                    eprintln!("{txid} left this node's mempool: {why}; another node may still mine it, still waiting...");
                }
            }
            left_pool = Some(d.clone());
        }
        let confirmed = seen.as_ref().and_then(|(_, status)| status.confirmed());
        if let Some(c) = confirmed {
            let got = c.confirmations.unwrap_or(0);
            if got >= want {
                result["confirmed"] = json!(true);
                result["confirmations"] = json!(got);
                result["block_height"] = json!(c.block_height);
                result["block_hash"] = json!(c.block_hash);
                out.emit(
                    format!(
                        "{txid} confirmed in block {} ({got} confirmations)",
                        c.block_height
                    ),
                    result,
                )?;
                return Ok(());
            }
        }
        if started.elapsed() >= Duration::from_secs(timeout) {
            return Err(match left_pool {
                Some(d) => WalletError::Dropped {
                    txid,
                    dropped: Box::new(d),
                },
                None => WalletError::NotConfirmed {
                    txid,
                    secs: timeout,
                },
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
        // Held or mined means it arrived; a record of it leaving may be from an earlier
        // sending of the same transfer, so it does not.
        Err(e @ WalletError::Unreachable { .. }) => match client.tx(txid) {
            Ok(Some((_, TxStatus::Pending(p)))) if p.in_mempool => Ok(()),
            Ok(Some((_, status))) if status.confirmed().is_some() => Ok(()),
            _ => Err(e),
        },
        Err(e) => Err(e),
    }
}
