//! Block and transaction endpoints: the tip, blocks by height and id, their status and
//! transaction ids, transactions by id, raw encodings.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use ferrite_core::encoding::Encode;
use ferrite_core::{Block, Hash, Target};
use serde_json::{json, Value};

use super::{Api, ApiError};
use crate::chain::Chain;
use crate::store::BlockStatus;

/// Responses about blocks this deep are final enough to cache for a day.
const CACHEABLE_DEPTH: u64 = 100;

/// A hash path parameter.
pub(super) fn parse_hash(field: &'static str, s: &str) -> Result<Hash, ApiError> {
    s.parse().map_err(|_| {
        ApiError::bad_param(
            field,
            "invalid_hash",
            format!("{field} must be 64 hex digits"),
        )
    })
}

fn cache_headers(depth: u64) -> [(header::HeaderName, &'static str); 1] {
    if depth >= CACHEABLE_DEPTH {
        [(header::CACHE_CONTROL, "public, max-age=86400")]
    } else {
        [(header::CACHE_CONTROL, "no-cache")]
    }
}

/// The block, its height and depth below the tip, if it is on the best chain.
fn best_chain_block(chain: &Chain, hash: &Hash) -> Result<(Block, u64, Option<u64>), ApiError> {
    let meta = chain
        .block_meta(hash)
        .filter(|m| m.status.has_body())
        .ok_or_else(|| ApiError::not_found(format!("block {hash} is unknown")))?;
    let block = chain
        .store()
        .block(hash)?
        .ok_or_else(|| ApiError::not_found(format!("block {hash} is unknown")))?;
    let tip = chain.tip_info()?;
    let on_best = chain.store().hash_at(meta.height)? == Some(*hash);
    let depth = on_best.then(|| tip.height.saturating_sub(meta.height));
    Ok((block, meta.height, depth))
}

pub(super) async fn tip_height(State(api): State<Arc<Api>>) -> Result<impl IntoResponse, ApiError> {
    let tip = api.with_chain(|c, _| Ok(c.tip_info()?)).await?;
    Ok((
        [(header::CACHE_CONTROL, "no-cache")],
        tip.height.to_string(),
    ))
}

pub(super) async fn tip_hash(State(api): State<Arc<Api>>) -> Result<impl IntoResponse, ApiError> {
    let tip = api.with_chain(|c, _| Ok(c.tip_info()?)).await?;
    Ok(([(header::CACHE_CONTROL, "no-cache")], tip.hash.to_string()))
}

pub(super) async fn block_at_height(
    State(api): State<Arc<Api>>,
    Path(height): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let height: u64 = height.parse().map_err(|_| {
        ApiError::bad_param(
            "height",
            "invalid_height",
            "height must be a non-negative integer",
        )
    })?;
    let (hash, tip) = api
        .with_chain(move |c, _| Ok((c.store().hash_at(height)?, c.tip_info()?.height)))
        .await?;
    let hash = hash.ok_or_else(|| ApiError::not_found(format!("no block at height {height}")))?;
    Ok((cache_headers(tip.saturating_sub(height)), hash.to_string()))
}

/// The JSON summary of a block.
pub(super) fn block_json(chain: &Chain, block: &Block, height: u64, depth: Option<u64>) -> Value {
    let params = chain.params();
    let hash = block.hash();
    let meta = chain.block_meta(&hash);
    let target = Target::from_compact(block.header.bits).ok();
    let difficulty = target
        .map(|t| (params.pow_limit.as_u256() / t.as_u256().max(1.into())).low_u64())
        .unwrap_or(0);
    let fees: u64 = block
        .txs
        .iter()
        .map(|t| t.tx.fee)
        .fold(0, u64::saturating_add);
    json!({
        "id": hash.to_string(),
        "height": height,
        "version": block.header.version,
        "previousblockhash": block.header.prev.to_string(),
        "merkle_root": block.header.merkle_root.to_string(),
        "state_root": block.header.state_root.to_string(),
        "timestamp": block.header.timestamp,
        "bits": format!("{:#010x}", block.header.bits),
        "nonce": block.header.nonce,
        "difficulty": difficulty,
        "chainwork": meta.map(|m| m.work.to_hex()),
        "tx_count": block.txs.len(),
        "size": block.encoded_len(),
        "miner": block.header.miner.to_bech32(&params.prefix),
        "reward": params.reward_at(height),
        "fees": fees,
        "in_best_chain": depth.is_some(),
        "confirmations": depth.map(|d| d + 1),
    })
}

pub(super) async fn block(
    State(api): State<Arc<Api>>,
    Path(hash): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let hash = parse_hash("hash", &hash)?;
    let (body, depth) = api
        .with_chain(move |c, _| {
            let (block, height, depth) = best_chain_block(c, &hash)?;
            Ok((block_json(c, &block, height, depth), depth))
        })
        .await?;
    Ok((cache_headers(depth.unwrap_or(0)), Json(body)))
}

pub(super) async fn block_status(
    State(api): State<Arc<Api>>,
    Path(hash): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let hash = parse_hash("hash", &hash)?;
    let body = api
        .with_chain(move |c, _| {
            let meta = c
                .block_meta(&hash)
                .filter(|m| m.status != BlockStatus::HeaderOnly)
                .ok_or_else(|| ApiError::not_found(format!("block {hash} is unknown")))?;
            let on_best = c.store().hash_at(meta.height)? == Some(hash);
            let next = if on_best {
                c.store().hash_at(meta.height + 1)?
            } else {
                None
            };
            Ok(json!({
                "in_best_chain": on_best,
                "height": meta.height,
                "next_best": next.map(|h| h.to_string()),
                "valid": !meta.status.is_invalid(),
            }))
        })
        .await?;
    Ok(([(header::CACHE_CONTROL, "no-cache")], Json(body)))
}

pub(super) async fn block_txids(
    State(api): State<Arc<Api>>,
    Path(hash): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let hash = parse_hash("hash", &hash)?;
    let (ids, depth) = api
        .with_chain(move |c, _| {
            let (block, _, depth) = best_chain_block(c, &hash)?;
            let ids: Vec<String> = block.txs.iter().map(|t| t.id().to_string()).collect();
            Ok((ids, depth))
        })
        .await?;
    Ok((cache_headers(depth.unwrap_or(0)), Json(ids)))
}

pub(super) async fn block_raw(
    State(api): State<Arc<Api>>,
    Path(hash): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let hash = parse_hash("hash", &hash)?;
    let (bytes, depth) = api
        .with_chain(move |c, _| {
            let (block, _, depth) = best_chain_block(c, &hash)?;
            Ok((block.encode(), depth))
        })
        .await?;
    let [cache] = cache_headers(depth.unwrap_or(0));
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream"), cache],
        bytes,
    ))
}

/// Where a transaction is: in a best-chain block (with its height and confirmations), or in
/// the mempool.
fn tx_lookup(
    c: &Chain,
    node: &crate::node::Node,
    txid: &Hash,
) -> Result<(ferrite_core::SignedTransaction, Value, u64), ApiError> {
    if let Some(loc) = c.store().tx_location(txid)? {
        let block = c
            .store()
            .block(&loc.block)?
            .ok_or_else(|| ApiError::internal("indexed block missing"))?;
        let tx = *block
            .txs
            .get(loc.position as usize)
            .ok_or_else(|| ApiError::internal("indexed position missing"))?;
        let tip = c.tip_info()?.height;
        let height = block.header.height;
        let confirmations = tip.saturating_sub(height) + 1;
        let status = json!({
            "confirmed": true,
            "block_height": height,
            "block_hash": loc.block.to_string(),
            "block_time": block.header.timestamp,
            "position": loc.position,
            "confirmations": confirmations,
        });
        return Ok((tx, status, confirmations));
    }
    if let Some(tx) = node.mempool().get(txid) {
        return Ok((tx, json!({"confirmed": false, "in_mempool": true}), 0));
    }
    Err(ApiError::not_found(format!(
        "transaction {txid} is unknown"
    )))
}

pub(super) async fn tx(
    State(api): State<Arc<Api>>,
    Path(txid): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let txid = parse_hash("txid", &txid)?;
    let (body, confirmations) = api
        .with_chain(move |c, node| {
            let (tx, status, confirmations) = tx_lookup(c, node, &txid)?;
            let prefix = &c.params().prefix;
            Ok((
                json!({
                    "txid": txid.to_string(),
                    "from": tx.tx.sender_address().to_bech32(prefix),
                    "to": tx.tx.recipient.to_bech32(prefix),
                    "amount": tx.tx.amount,
                    "fee": tx.tx.fee,
                    "nonce": tx.tx.nonce,
                    "size": tx.encoded_len(),
                    "status": status,
                }),
                confirmations,
            ))
        })
        .await?;
    Ok((cache_headers(confirmations.saturating_sub(1)), Json(body)))
}

pub(super) async fn tx_status(
    State(api): State<Arc<Api>>,
    Path(txid): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let txid = parse_hash("txid", &txid)?;
    let status = api
        .with_chain(move |c, node| Ok(tx_lookup(c, node, &txid)?.1))
        .await?;
    Ok(([(header::CACHE_CONTROL, "no-cache")], Json(status)))
}

pub(super) async fn tx_raw(
    State(api): State<Arc<Api>>,
    Path(txid): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let txid = parse_hash("txid", &txid)?;
    let tx = api
        .with_chain(move |c, node| Ok(tx_lookup(c, node, &txid)?.0))
        .await?;
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        tx.encode(),
    ))
}
