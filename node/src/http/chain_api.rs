//! Block endpoints: the tip, lists of recent blocks, blocks by height and id, their status,
//! transactions (paged), transaction ids and raw encodings.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use ferrite_core::{Block, BlockHeader, Hash, Target};
use serde_json::{json, Value};

use super::extract::{self, ApiPath};
use super::{cache_control, tx_api, Api, ApiError, NO_CACHE};
use crate::chain::ChainView;
use crate::store::BlockStatus;
use crate::store::StoreRead;

/// Block summaries per `blocks` page.
pub const BLOCKS_PER_PAGE: u64 = 10;
/// Transactions per `block/{hash}/txs` page.
pub const TXS_PER_PAGE: usize = 25;

/// A block on the best chain or a side branch: its header, height and depth below the tip
/// (`None` off the best chain). 404 unless its body is stored.
fn stored_block(
    chain: &ChainView,
    hash: &Hash,
) -> Result<(BlockHeader, u64, Option<u64>), ApiError> {
    let unknown = || ApiError::not_found(format!("block {hash} is unknown"));
    let meta = chain
        .block_meta(hash)?
        .filter(|m| m.status.has_body())
        .ok_or_else(unknown)?;
    let header = chain.header(hash)?.ok_or_else(unknown)?;
    let tip = chain.tip_info()?;
    let on_best = chain.hash_at(meta.height)? == Some(*hash);
    let depth = on_best.then(|| tip.height.saturating_sub(meta.height));
    Ok((header, meta.height, depth))
}

/// The whole stored block, with its height and depth.
fn full_block(chain: &ChainView, hash: &Hash) -> Result<(Block, u64, Option<u64>), ApiError> {
    let (_, height, depth) = stored_block(chain, hash)?;
    let block = chain
        .block(hash)?
        .ok_or_else(|| ApiError::not_found(format!("block {hash} is unknown")))?;
    Ok((block, height, depth))
}

/// The JSON summary of a stored block.
pub(super) fn block_json(chain: &ChainView, hash: &Hash) -> Result<(Value, Option<u64>), ApiError> {
    let (header, height, depth) = stored_block(chain, hash)?;
    let stats = chain
        .body_stats(hash)?
        .ok_or_else(|| ApiError::internal(format!("body of {hash} missing")))?;
    let params = chain.params();
    let difficulty = Target::from_compact(header.bits)
        .map(|t| (params.pow_limit.as_u256() / t.as_u256().max(1.into())).low_u64())
        .unwrap_or(0);
    let body = json!({
        "id": hash.to_string(),
        "height": height,
        "version": header.version,
        "previousblockhash": header.prev.to_string(),
        "merkle_root": header.merkle_root.to_string(),
        "state_root": header.state_root.to_string(),
        "timestamp": header.timestamp,
        "bits": format!("{:#010x}", header.bits),
        "nonce": header.nonce,
        "difficulty": difficulty,
        "chainwork": chain.block_meta(hash)?.map(|m| m.work.to_hex()),
        "tx_count": stats.tx_count,
        "size": Block::size_with(stats.tx_count),
        "miner": header.miner.to_bech32(&params.prefix),
        "reward": params.reward_at(height),
        "fees": stats.fees,
        "in_best_chain": depth.is_some(),
    });
    Ok((body, depth))
}

pub(super) async fn tip_height(State(api): State<Arc<Api>>) -> Result<impl IntoResponse, ApiError> {
    // The view alone, no store read: answered on the async worker.
    let tip = api.node.tip();
    Ok((NO_CACHE, tip.height.to_string()))
}

pub(super) async fn tip_hash(State(api): State<Arc<Api>>) -> Result<impl IntoResponse, ApiError> {
    // The view alone, no store read: answered on the async worker.
    let tip = api.node.tip();
    Ok((NO_CACHE, tip.hash.to_string()))
}

/// `blocks`: the newest summaries.
pub(super) async fn blocks_from_tip(
    State(api): State<Arc<Api>>,
) -> Result<impl IntoResponse, ApiError> {
    block_list(api, None).await
}

/// `blocks/{start_height}`: summaries from that height down; `blocks/tip` is `blocks` (next to
/// `blocks/tip/height` and `blocks/tip/hash`, it is what people try).
pub(super) async fn blocks(
    State(api): State<Arc<Api>>,
    ApiPath(start): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    if start == "tip" {
        return block_list(api, None).await;
    }
    let start = extract::number("start_height", "invalid_height", &start)?;
    block_list(api, Some(start)).await
}

async fn block_list(api: Arc<Api>, start: Option<u64>) -> Result<impl IntoResponse, ApiError> {
    let list = api
        .with_chain(move |c, _| {
            let tip = c.tip_info()?.height;
            let start = start.unwrap_or(tip);
            if start > tip {
                return Err(ApiError::not_found(format!(
                    "height {start} is above the tip {tip}"
                )));
            }
            let lowest = start.saturating_sub(BLOCKS_PER_PAGE - 1);
            let mut out = Vec::new();
            for h in (lowest..=start).rev() {
                let hash = c
                    .hash_at(h)?
                    .ok_or_else(|| ApiError::internal(format!("height {h} missing")))?;
                out.push(block_json(c, &hash)?.0);
            }
            Ok(out)
        })
        .await?;
    Ok((NO_CACHE, Json(list)))
}

pub(super) async fn block_at_height(
    State(api): State<Arc<Api>>,
    ApiPath(height): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let height = extract::number("height", "invalid_height", &height)?;
    let (hash, tip) = api
        .with_chain(move |c, _| Ok((c.hash_at(height)?, c.tip_info()?.height)))
        .await?;
    let hash = hash.ok_or_else(|| ApiError::not_found(format!("no block at height {height}")))?;
    Ok((
        cache_control(Some(tip.saturating_sub(height))),
        hash.to_string(),
    ))
}

pub(super) async fn block(
    State(api): State<Arc<Api>>,
    ApiPath(hash): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let hash = extract::hash("hash", &hash)?;
    let (body, depth) = api.with_chain(move |c, _| block_json(c, &hash)).await?;
    Ok((cache_control(depth), Json(body)))
}

pub(super) async fn block_status(
    State(api): State<Arc<Api>>,
    ApiPath(hash): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let hash = extract::hash("hash", &hash)?;
    let body = api
        .with_chain(move |c, _| {
            let meta = c
                .block_meta(&hash)?
                .filter(|m| m.status != BlockStatus::HeaderOnly)
                .ok_or_else(|| ApiError::not_found(format!("block {hash} is unknown")))?;
            let on_best = c.hash_at(meta.height)? == Some(hash);
            let next = if on_best {
                c.hash_at(meta.height + 1)?
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
    Ok((NO_CACHE, Json(body)))
}

/// `block/{hash}/txs`: the first page.
pub(super) async fn block_txs_first(
    State(api): State<Arc<Api>>,
    ApiPath(hash): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    block_tx_page(api, hash, 0).await
}

/// `block/{hash}/txs/{start}`: the page from index `start`.
pub(super) async fn block_txs(
    State(api): State<Arc<Api>>,
    ApiPath((hash, start)): ApiPath<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let start = extract::number("start", "invalid_index", &start)?;
    block_tx_page(api, hash, start).await
}

async fn block_tx_page(
    api: Arc<Api>,
    hash: String,
    start: u64,
) -> Result<impl IntoResponse, ApiError> {
    let hash = extract::hash("hash", &hash)?;
    let prefix = api.prefix;
    let (page, depth) = api
        .with_chain(move |c, _| {
            let (header, height, depth) = stored_block(c, &hash)?;
            let start = usize::try_from(start).unwrap_or(usize::MAX);
            let (count, txs) = c
                .txs_at(&hash, start, TXS_PER_PAGE)?
                .ok_or_else(|| ApiError::internal(format!("body of {hash} missing")))?;
            if start > 0 && start >= count {
                return Err(ApiError::not_found(format!(
                    "block {hash} has {count} transactions"
                )));
            }
            let page: Vec<Value> = txs
                .iter()
                .enumerate()
                .map(|(i, tx)| {
                    // A side branch's transfers are not confirmed (they may be pending again).
                    let status = match depth {
                        Some(_) => json!({
                            "confirmed": true,
                            "block_height": height,
                            "block_hash": hash.to_string(),
                            "block_time": header.timestamp,
                            "position": start + i,
                        }),
                        None => json!({"confirmed": false, "in_mempool": false}),
                    };
                    tx_api::tx_json(&prefix, tx, status)
                })
                .collect();
            Ok((page, depth))
        })
        .await?;
    Ok((cache_control(depth), Json(page)))
}

pub(super) async fn block_txids(
    State(api): State<Arc<Api>>,
    ApiPath(hash): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let hash = extract::hash("hash", &hash)?;
    let (ids, depth) = api
        .with_chain(move |c, _| {
            let (block, _, depth) = full_block(c, &hash)?;
            let ids: Vec<String> = block.txs.iter().map(|t| t.id().to_string()).collect();
            Ok((ids, depth))
        })
        .await?;
    Ok((cache_control(depth), Json(ids)))
}

pub(super) async fn block_raw(
    State(api): State<Arc<Api>>,
    ApiPath(hash): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let hash = extract::hash("hash", &hash)?;
    let (bytes, depth) = api
        .with_chain(move |c, _| {
            let (_, _, depth) = stored_block(c, &hash)?;
            let raw = c
                .raw_block(&hash)?
                .ok_or_else(|| ApiError::internal(format!("body of {hash} missing")))?;
            Ok((raw, depth))
        })
        .await?;
    let [cache] = cache_control(depth);
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream"), cache],
        bytes,
    ))
}
