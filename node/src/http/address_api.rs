//! Account and mempool endpoints: an address with its mempool view and its history (cursor
//! paging), the mempool's figures, ids and newest entries, and fee estimates.

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use ferrite_core::transaction::SIGNED_TX_LEN;
use ferrite_core::{Address, Block, SignedTransaction};
use serde_json::{json, Map, Value};

use super::extract::{self, ApiPath};
use super::{tx_api, Api, ApiError, NO_CACHE};
use crate::chain::Chain;
use crate::mempool::Mempool;
use crate::store::TxLocation;

/// Confirmed transfers per page of an address's history.
pub const HISTORY_PAGE: usize = 25;
/// Pending transfers listed ahead of the first history page: a sender has at most 64 pending
/// (the mempool's per-sender cap), and the page stays small.
pub const HISTORY_PENDING: usize = 50;
/// Entries of `mempool/recent`.
pub const RECENT_TXS: usize = 10;
/// Groups of the mempool's fee histogram.
pub const FEE_HISTOGRAM_GROUPS: usize = 20;
/// Confirmation targets of `fee-estimates`, in blocks.
pub const FEE_TARGETS: [u64; 7] = [1, 2, 3, 6, 12, 24, 144];

/// Pending transfers sent by `a` (newest nonce first), then those paying it.
fn pending_touching(pool: &Mempool, a: &Address) -> Vec<SignedTransaction> {
    let mut out = pool.pending_of(a);
    out.reverse();
    let mut incoming = pool.incoming_of(a);
    incoming.sort_by_key(|t| std::cmp::Reverse(t.tx.nonce));
    out.extend(incoming);
    out
}

pub(super) async fn address(
    State(api): State<Arc<Api>>,
    ApiPath(address): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let body = api
        .with_chain(move |c, node| {
            let prefix = &c.params().prefix;
            let a = extract::address(&address, prefix)?;
            let acct = c.account(&a)?;
            let tx_count = c.store().address_tx_count(&a)?;
            let pool = node.mempool();
            let outgoing = pool.pending_of(&a);
            let incoming = pool.incoming_of(&a);
            drop(pool);
            let spent: i128 = outgoing
                .iter()
                .map(|t| i128::from(t.tx.amount) + i128::from(t.tx.fee))
                .sum();
            let received: i128 = incoming.iter().map(|t| i128::from(t.tx.amount)).sum();
            let next_nonce = outgoing
                .iter()
                .map(|t| t.tx.nonce + 1)
                .max()
                .unwrap_or(acct.nonce)
                .max(acct.nonce);
            Ok(json!({
                "address": a.to_bech32(prefix),
                "balance": acct.balance,
                "nonce": acct.nonce,
                "tx_count": tx_count,
                "mempool": {
                    "tx_count": outgoing.len() + incoming.len(),
                    "pending_delta": (received - spent).to_string(),
                    "next_nonce": next_nonce,
                },
            }))
        })
        .await?;
    Ok((NO_CACHE, Json(body)))
}

/// Confirmed history entries of `a` before `cursor` (newest first), as JSON.
fn history_page(
    c: &Chain,
    a: &Address,
    cursor: Option<(u64, u32)>,
) -> Result<Vec<Value>, ApiError> {
    let prefix = &c.params().prefix;
    let mut out = Vec::new();
    for (height, position, _) in c.store().address_txs(a, cursor, HISTORY_PAGE)? {
        let block = c
            .store()
            .hash_at(height)?
            .ok_or_else(|| ApiError::internal(format!("height {height} missing")))?;
        let (tx, status, _) = tx_api::confirmed(c, &TxLocation { block, position })?;
        out.push(tx_api::tx_json(prefix, &tx, status));
    }
    Ok(out)
}

/// `address/{address}/txs`: pending transfers touching the address, then the newest page of
/// its confirmed history.
pub(super) async fn txs(
    State(api): State<Arc<Api>>,
    ApiPath(address): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let list = api
        .with_chain(move |c, node| {
            let prefix = &c.params().prefix;
            let a = extract::address(&address, prefix)?;
            let pending = pending_touching(&node.mempool(), &a);
            let status = json!({"confirmed": false, "in_mempool": true});
            let mut out: Vec<Value> = pending
                .iter()
                .take(HISTORY_PENDING)
                .map(|t| tx_api::tx_json(prefix, t, status.clone()))
                .collect();
            out.extend(history_page(c, &a, None)?);
            Ok(out)
        })
        .await?;
    Ok((NO_CACHE, Json(list)))
}

/// `address/{address}/txs/chain/{last_seen_txid}`: the confirmed history page after the
/// given transfer. The cursor is a position in the chain, so blocks arriving on top do not
/// shift later pages.
pub(super) async fn txs_chain(
    State(api): State<Arc<Api>>,
    ApiPath((address, last_seen)): ApiPath<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let last_seen = extract::hash("last_seen_txid", &last_seen)?;
    let list = api
        .with_chain(move |c, _| {
            let a = extract::address(&address, &c.params().prefix)?;
            let not_in_history = || {
                ApiError::not_found(format!(
                    "transaction {last_seen} is not a confirmed transfer of this address"
                ))
            };
            let loc = c
                .store()
                .tx_location(&last_seen)?
                .ok_or_else(not_in_history)?;
            let tx = c
                .store()
                .tx_at(&loc.block, loc.position)?
                .ok_or_else(|| ApiError::internal("indexed position missing"))?;
            if tx.tx.sender_address() != a && tx.tx.recipient != a {
                return Err(not_in_history());
            }
            let height = c
                .store()
                .header(&loc.block)?
                .ok_or_else(|| ApiError::internal("indexed block missing"))?
                .height;
            history_page(c, &a, Some((height, loc.position)))
        })
        .await?;
    Ok((NO_CACHE, Json(list)))
}

pub(super) async fn mempool(State(api): State<Arc<Api>>) -> Result<impl IntoResponse, ApiError> {
    let pool = api.node.mempool();
    let s = pool.stats();
    let histogram = pool.fee_histogram(FEE_HISTOGRAM_GROUPS);
    drop(pool);
    Ok((
        NO_CACHE,
        Json(json!({
            "count": s.count,
            "bytes": s.bytes,
            "total_fee": s.total_fee.to_string(),
            "fee_histogram": histogram,
        })),
    ))
}

pub(super) async fn mempool_txids(
    State(api): State<Arc<Api>>,
) -> Result<impl IntoResponse, ApiError> {
    let ids: Vec<String> = api
        .node
        .mempool()
        .ids()
        .iter()
        .map(|h| h.to_string())
        .collect();
    Ok((NO_CACHE, Json(ids)))
}

pub(super) async fn mempool_recent(
    State(api): State<Arc<Api>>,
) -> Result<impl IntoResponse, ApiError> {
    let prefix = api.node.chain().params().prefix;
    let recent = api.node.mempool().recent(RECENT_TXS);
    let list: Vec<Value> = recent
        .iter()
        .map(|t| {
            json!({
                "txid": t.id().to_string(),
                "from": t.tx.sender_address().to_bech32(&prefix),
                "to": t.tx.recipient.to_bech32(&prefix),
                "amount": t.tx.amount,
                "fee": t.tx.fee,
                "size": SIGNED_TX_LEN,
            })
        })
        .collect();
    Ok((NO_CACHE, Json(list)))
}

/// `fee-estimates`: for each target of n blocks, one unit more than the fee of the last
/// transfer that fits in n full blocks when at least that many are pending (a new transfer
/// paying it is mined within n blocks if nothing better arrives), else the mempool's minimum.
pub(super) async fn fee_estimates(
    State(api): State<Arc<Api>>,
) -> Result<impl IntoResponse, ApiError> {
    let max_block = api.node.chain().params().max_block_size as usize;
    let per_block = (max_block.saturating_sub(Block::size_with(0)) / SIGNED_TX_LEN).max(1);
    let pool = api.node.mempool();
    let mut out = Map::new();
    for n in FEE_TARGETS {
        let rank = per_block.saturating_mul(n as usize);
        // The last transfer that fits in n blocks, if that many are pending: beat it.
        let fee = match pool.fee_at_rank(rank.saturating_sub(1)) {
            Some(last_in) => last_in.saturating_add(1),
            None => pool.min_fee(),
        };
        out.insert(n.to_string(), json!(fee.max(pool.min_fee())));
    }
    drop(pool);
    Ok((NO_CACHE, Json(Value::Object(out))))
}
