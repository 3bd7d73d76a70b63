//! The commands that only read the chain: `balance`, `history`, `tx`.

use ferrite_core::amount::format_amount;
use ferrite_core::Hash;
use serde_json::json;

use super::output::Out;
use super::{node_prefix, own_address, parse_address};
use crate::client::{catching_up, one_line, Client, Tx, TxStatus};
use crate::config::Settings;
use crate::error::{why_dropped, WalletError};

/// A decimal amount of base units the node sent as a string (they may exceed JSON's safe
/// integers), as a signed amount that fits the ledger.
pub(super) fn node_units(text: &str, what: &str) -> Result<i128, WalletError> {
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

pub(super) fn balance(s: &Settings, address: Option<&str>, out: &Out) -> Result<(), WalletError> {
    let client = Client::new(&s.node)?;
    let info = client.info()?;
    let a = match address {
        Some(t) => parse_address(&info, t, "address")?.to_bech32(&node_prefix(&info)?),
        None => own_address(s, &info)?.2,
    };
    let v = client.account(&a)?;
    let syncing = catching_up(&info);
    if let Some((height, best)) = syncing {
        eprintln!(
            "warning: the node is still catching up (height {height} of {best} known): this balance may be out of date"
        );
    }
    let d = info.decimals;
    let delta = node_units(&v.mempool.pending_delta, "pending_delta")?;
    let delta_text = format_signed(delta, d);
    let text = format!(
        "{a}\nbalance: {}\npending: {delta_text} ({} transfers)\nnonce: {} (next {})",
        format_amount(v.balance.0, d),
        v.mempool.tx_count,
        v.nonce,
        v.mempool.next_nonce
    );
    out.emit(
        text,
        json!({
            "address": a,
            "balance": format_amount(v.balance.0, d),
            "balance_units": v.balance.0,
            "pending_delta_units": v.mempool.pending_delta,
            "pending_txs": v.mempool.tx_count,
            "nonce": v.nonce,
            "next_nonce": v.mempool.next_nonce,
            "tx_count": v.tx_count,
            "syncing": syncing.is_some(),
        }),
    )?;
    Ok(())
}

pub(super) fn history(s: &Settings, limit: usize, out: &Out) -> Result<(), WalletError> {
    let client = Client::new(&s.node)?;
    let info = client.info()?;
    let (_, _, me) = own_address(s, &info)?;
    // The first page holds the pending transfers and the newest confirmed ones; later pages
    // continue after the last confirmed txid until the node has no more.
    let mut entries: Vec<Tx> = client.get(&format!("/api/address/{me}/txs"))?;
    while entries.len() < limit {
        let Some(last) = entries
            .iter()
            .rev()
            .find(|e| e.status.confirmed().is_some())
        else {
            break;
        };
        let page: Vec<Tx> = client.get(&format!("/api/address/{me}/txs/chain/{}", last.txid))?;
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
        let outgoing = e.from == me;
        let other = if outgoing { &e.to } else { &e.from };
        let height = e.status.confirmed().map(|c| c.block_height);
        let where_ = match height {
            Some(h) => format!("block {h}"),
            None => "pending".to_string(),
        };
        let sign = if outgoing { "-" } else { "+" };
        text.push(format!(
            "{sign}{} {} {}  {where_}  {}",
            format_amount(e.amount.0, d),
            if outgoing { "to" } else { "from" },
            one_line(other),
            e.txid,
        ));
        rows.push(json!({
            "txid": e.txid,
            "direction": if outgoing { "out" } else { "in" },
            "counterparty": other,
            "amount": format_amount(e.amount.0, d),
            "fee": format_amount(e.fee.0, d),
            "confirmed": height.is_some(),
            "block_height": height,
        }));
    }
    if rows.is_empty() {
        text.push("no transfers yet".into());
    }
    out.emit(
        text.join("\n"),
        json!({"address": me, "transactions": rows}),
    )?;
    Ok(())
}

pub(super) fn tx(s: &Settings, txid: &str, out: &Out) -> Result<(), WalletError> {
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
    let confirmed = match &status {
        TxStatus::Confirmed(c) => Some(c),
        TxStatus::Pending(_) => None,
    };
    let dropped = match &status {
        TxStatus::Pending(p) => p.dropped.as_ref(),
        TxStatus::Confirmed(_) => None,
    };
    let state = match (confirmed, dropped) {
        (Some(c), _) => format!(
            "confirmed in block {} ({} confirmations)",
            c.block_height,
            c.confirmations.unwrap_or(0)
        ),
        (None, Some(d)) => format!("dropped from the node's mempool: {}", why_dropped(d)),
        (None, None) => "pending in the mempool".to_string(),
    };
    out.emit(
        format!(
            "{id}\nfrom:   {}\nto:     {}\namount: {}\nfee:    {}\nnonce:  {}\nstatus: {state}",
            one_line(&t.from),
            one_line(&t.to),
            format_amount(t.amount.0, d),
            format_amount(t.fee.0, d),
            t.nonce,
        ),
        json!({
            "txid": id.to_string(),
            "from": t.from,
            "to": t.to,
            "amount": format_amount(t.amount.0, d),
            "fee": format_amount(t.fee.0, d),
            "nonce": t.nonce,
            "confirmed": confirmed.is_some(),
            "dropped": dropped,
            "confirmations": confirmed.and_then(|c| c.confirmations).unwrap_or(0),
            "block_height": confirmed.map(|c| c.block_height),
        }),
    )?;
    Ok(())
}
