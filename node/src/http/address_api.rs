//! Account and mempool endpoints: an address with its mempool view and its history (cursor
//! paging), the mempool's figures, ids and newest entries, and fee estimates.

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use ferrite_core::transaction::SIGNED_TX_LEN;
use ferrite_core::{Address, SignedTransaction};
use serde_json::{json, Map, Value};

use super::extract::{self, ApiPath};
use super::{tx_api, Api, ApiError, NO_CACHE};
use crate::chain::ChainView;
use crate::mempool::Mempool;
use crate::store::StoreRead;
use crate::store::TxLocation;

/// Confirmed transfers per page of an address's history.
pub const HISTORY_PAGE: usize = 25;
/// Pending transfers listed ahead of the first history page (an address can be paid by any
/// number of pending transfers; `address/{address}` counts them all). Keeps the page small.
pub const HISTORY_PENDING: usize = 50;
/// Entries of `mempool/recent`.
pub const RECENT_TXS: usize = 10;
/// Groups of the mempool's fee histogram.
pub const FEE_HISTOGRAM_GROUPS: usize = 20;
/// Confirmation targets of `fee-estimates`, in blocks.
pub const FEE_TARGETS: [usize; 7] = [1, 2, 3, 6, 12, 24, 144];

/// Up to `limit` pending transfers sent by `a` (newest nonce first), then those paying it
/// (newest first).
fn pending_touching(pool: &Mempool, a: &Address, limit: usize) -> Vec<SignedTransaction> {
    let mut out = pool.pending_of(a);
    out.reverse();
    out.truncate(limit);
    let room = limit - out.len();
    out.extend(pool.incoming_of(a).into_iter().take(room));
    out
}

pub(super) async fn address(
    State(api): State<Arc<Api>>,
    ApiPath(address): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let prefix = api.prefix;
    let body = api
        .with_pool(
            move |c, pool| {
                let a = extract::address(&address, &prefix)?;
                let acct = c.account(&a)?;
                let next_nonce = pool.next_nonce(&a, acct.nonce);
                Ok((
                    a,
                    acct,
                    pool.pending_of(&a),
                    pool.incoming_of(&a),
                    next_nonce,
                ))
            },
            move |c, (a, acct, outgoing, incoming, next_nonce)| {
                let prefix = &prefix;
                let tx_count = c.address_tx_count(&a)?;
                let spent: i128 = outgoing
                    .iter()
                    .map(|t| i128::from(t.tx.amount) + i128::from(t.tx.fee))
                    .sum();
                let received: i128 = incoming.iter().map(|t| i128::from(t.tx.amount)).sum();
                Ok(json!({
                    "address": a.to_bech32(prefix),
                    "balance": acct.balance,
                    "nonce": acct.nonce,
                    "tx_count": tx_count,
                    "mempool": {
                        "tx_count": outgoing.len() + incoming.len(),
                        "pending_delta": (received - spent).to_string(),
                        "pending_spend": spent.to_string(),
                        "next_nonce": next_nonce,
                    },
                }))
            },
        )
        .await?;
    Ok((NO_CACHE, Json(body)))
}

/// Confirmed history entries of `a` before `cursor` (newest first), as JSON.
fn history_page(
    c: &ChainView,
    a: &Address,
    cursor: Option<(u64, u32)>,
) -> Result<Vec<Value>, ApiError> {
    let prefix = &c.params().prefix;
    let mut out = Vec::new();
    for (height, position, _) in c.address_txs(a, cursor, HISTORY_PAGE)? {
        let block = c
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
    let prefix = api.prefix;
    let list = api
        .with_pool(
            move |_, pool| {
                let a = extract::address(&address, &prefix)?;
                Ok((a, pending_touching(pool, &a, HISTORY_PENDING)))
            },
            move |c, (a, pending)| {
                let status = json!({"confirmed": false, "in_mempool": true});
                let mut out: Vec<Value> = pending
                    .iter()
                    .map(|t| tx_api::tx_json(&prefix, t, status.clone()))
                    .collect();
                out.extend(history_page(c, &a, None)?);
                Ok(out)
            },
        )
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
    let prefix = api.prefix;
    let list = api
        .with_chain(move |c, _| {
            let a = extract::address(&address, &prefix)?;
            let not_in_history = || {
                ApiError::not_found(format!(
                    "transaction {last_seen} is not a confirmed transfer of this address"
                ))
            };
            let loc = c.tx_location(&last_seen)?.ok_or_else(not_in_history)?;
            let tx = c
                .tx_at(&loc.block, loc.position)?
                .ok_or_else(|| ApiError::internal("indexed position missing"))?;
            if tx.tx.sender_address() != a && tx.tx.recipient != a {
                return Err(not_in_history());
            }
            let height = c
                .header(&loc.block)?
                .ok_or_else(|| ApiError::internal("indexed block missing"))?
                .height;
            history_page(c, &a, Some((height, loc.position)))
        })
        .await?;
    Ok((NO_CACHE, Json(list)))
}

pub(super) async fn mempool(State(api): State<Arc<Api>>) -> Result<impl IntoResponse, ApiError> {
    let body = api
        .with_chain(|_, node| {
            let pool = node.mempool();
            let s = pool.stats();
            Ok(json!({
                "count": s.count,
                "bytes": s.bytes,
                "total_fee": s.total_fee.to_string(),
                "fee_histogram": pool.fee_histogram(FEE_HISTOGRAM_GROUPS),
            }))
        })
        .await?;
    Ok((NO_CACHE, Json(body)))
}

pub(super) async fn mempool_txids(
    State(api): State<Arc<Api>>,
) -> Result<impl IntoResponse, ApiError> {
    let ids = api
        .with_chain(|_, node| {
            let ids: Vec<String> = node.mempool().ids().iter().map(|h| h.to_string()).collect();
            Ok(ids)
        })
        .await?;
    Ok((NO_CACHE, Json(ids)))
}

pub(super) async fn mempool_recent(
    State(api): State<Arc<Api>>,
) -> Result<impl IntoResponse, ApiError> {
    let prefix = api.prefix;
    let recent = api
        .with_chain(|_, node| Ok(node.mempool().recent(RECENT_TXS)))
        .await?;
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

/// `fee-estimates`: for each target of n blocks, [`Mempool::fee_estimate`] with full blocks.
pub(super) async fn fee_estimates(
    State(api): State<Arc<Api>>,
) -> Result<impl IntoResponse, ApiError> {
    let per_block = api.per_block;
    let out = api
        .with_chain(move |_, node| {
            let pool = node.mempool();
            let mut out = Map::new();
            for n in FEE_TARGETS {
                out.insert(n.to_string(), json!(pool.fee_estimate(per_block, n)));
            }
            Ok(out)
        })
        .await?;
    Ok((NO_CACHE, Json(Value::Object(out))))
}
