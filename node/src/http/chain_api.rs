//! Block endpoints: the tip, lists of recent blocks, blocks by height and id, their status,
//! transactions (paged), transaction ids and raw encodings.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use ferrite_api::{Amount, BlockSummary, ConfirmedStatus, Tx, TxStatus};
use ferrite_core::{Block, BlockHeader, Hash, Target};

use super::doc::{BadRequest, Internal, NotFound, RawBytes};
use super::extract::{self, ApiPath, BlockHashParam, HeightParam, StartHeightParam, StartParam};
use super::{cache_control, tx_api, Api, ApiError, NO_CACHE};
use crate::chain::ChainView;
use crate::store::StoreRead;
use crate::store::{BlockMeta, BlockStatus};

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
    let (header, meta, depth) = stored(chain, hash, None)?;
    Ok((header, meta.height, depth))
}

/// [`stored_block`] with the block's metadata, three store reads; two when the caller read the
/// hash at `best_height` of this view's best chain (it is on the best chain there).
fn stored(
    chain: &ChainView,
    hash: &Hash,
    best_height: Option<u64>,
) -> Result<(BlockHeader, BlockMeta, Option<u64>), ApiError> {
    let unknown = || ApiError::not_found(format!("block {hash} is unknown"));
    let meta = chain
        .block_meta(hash)?
        .filter(|m| m.status.has_body())
        .ok_or_else(unknown)?;
    let header = chain.header(hash)?.ok_or_else(unknown)?;
    let tip = chain.tip_info()?;
    let on_best = match best_height {
        Some(h) => h == meta.height,
        None => chain.hash_at(meta.height)? == Some(*hash),
    };
    let depth = on_best.then(|| tip.height.saturating_sub(meta.height));
    Ok((header, meta, depth))
}

/// The whole stored block, with its height and depth.
fn full_block(chain: &ChainView, hash: &Hash) -> Result<(Block, u64, Option<u64>), ApiError> {
    let (_, height, depth) = stored_block(chain, hash)?;
    let block = chain
        .block(hash)?
        .ok_or_else(|| ApiError::not_found(format!("block {hash} is unknown")))?;
    Ok((block, height, depth))
}

/// The summary of a stored block, with its depth: three or four store reads (the body's
/// figures are cached).
pub(super) fn block_summary(
    chain: &ChainView,
    hash: &Hash,
) -> Result<(BlockSummary, Option<u64>), ApiError> {
    summarize(chain, hash, stored(chain, hash, None)?)
}

/// The summary of the block `hash` read at `height` of this view's best chain: two or three
/// store reads.
fn best_block_summary(
    chain: &ChainView,
    hash: &Hash,
    height: u64,
) -> Result<BlockSummary, ApiError> {
    Ok(summarize(chain, hash, stored(chain, hash, Some(height))?)?.0)
}

fn summarize(
    chain: &ChainView,
    hash: &Hash,
    (header, meta, depth): (BlockHeader, BlockMeta, Option<u64>),
) -> Result<(BlockSummary, Option<u64>), ApiError> {
    let height = meta.height;
    let stats = chain
        .body_stats(hash)?
        .ok_or_else(|| ApiError::internal(format!("body of {hash} missing")))?;
    let params = chain.params();
    let difficulty = Target::from_compact(header.bits)
        .map(|t| params.pow_limit.as_u256() / t.as_u256().max(1.into()))
        .unwrap_or_default();
    let summary = BlockSummary {
        id: *hash,
        height,
        version: header.version,
        previousblockhash: header.prev,
        merkle_root: header.merkle_root,
        state_root: header.state_root,
        timestamp: header.timestamp,
        bits: format!("{:#010x}", header.bits),
        nonce: header.nonce.to_string(),
        difficulty: difficulty.to_string(),
        chainwork: Some(meta.work),
        tx_count: stats.tx_count as u64,
        size: Block::size_with(stats.tx_count) as u64,
        miner: header.miner.to_bech32(&params.prefix),
        reward: Amount(params.reward_at(height)),
        fees: Amount(stats.fees),
        in_best_chain: depth.is_some(),
    };
    Ok((summary, depth))
}

/// The tip's height
///
/// Plain text, from the published view alone (no store read).
#[utoipa::path(get, path = "/api/blocks/tip/height", tag = "blocks", operation_id = "getTipHeight",
    responses((status = 200, description = "The tip's height in decimal.", body = super::doc::DecimalText,
        content_type = "text/plain", headers(("Cache-Control" = String, description = "`no-cache`.")))))]
pub(super) async fn tip_height(State(api): State<Arc<Api>>) -> Result<impl IntoResponse, ApiError> {
    let tip = api.node.tip();
    Ok((NO_CACHE, tip.height.to_string()))
}

/// The tip's id
///
/// Plain text, from the published view alone (no store read).
#[utoipa::path(get, path = "/api/blocks/tip/hash", tag = "blocks", operation_id = "getTipHash",
    responses((status = 200, description = "The tip's id, 64 hex digits.", body = String,
        content_type = "text/plain", headers(("Cache-Control" = String, description = "`no-cache`.")))))]
pub(super) async fn tip_hash(State(api): State<Arc<Api>>) -> Result<impl IntoResponse, ApiError> {
    let tip = api.node.tip();
    Ok((NO_CACHE, tip.hash.to_string()))
}

/// The newest blocks
///
/// The 10 newest block summaries, newest first (fewer near genesis).
#[utoipa::path(get, path = "/api/blocks", tag = "blocks", operation_id = "getBlocks",
    responses(
        (status = 200, description = "Newest first.", body = Vec<BlockSummary>,
            headers(("Cache-Control" = String, description = "`no-cache`."))),
        (status = 500, response = Internal),
    ))]
pub(super) async fn blocks_from_tip(
    State(api): State<Arc<Api>>,
) -> Result<impl IntoResponse, ApiError> {
    block_list(api, None).await
}

/// Blocks from a height down
///
/// 10 summaries from `start_height` down (fewer near genesis); `blocks/tip` is `blocks`, as
/// people try next to `blocks/tip/height`.
#[utoipa::path(get, path = "/api/blocks/{start_height}", tag = "blocks",
    operation_id = "getBlocksFrom", params(StartHeightParam),
    responses(
        (status = 200, description = "Newest first.", body = Vec<BlockSummary>,
            headers(("Cache-Control" = String, description = "`no-cache`."))),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    ))]
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
        .with_chain(move |c, _| recent_blocks(c, start, BLOCKS_PER_PAGE))
        .await?;
    Ok((NO_CACHE, Json(list)))
}

/// Summaries of `count` best-chain blocks from `start` (the tip if `None`) down, newest first
/// (fewer near genesis); 404 above the tip.
pub(super) fn recent_blocks(
    c: &ChainView,
    start: Option<u64>,
    count: u64,
) -> Result<Vec<BlockSummary>, ApiError> {
    let tip = c.tip_info()?.height;
    let start = start.unwrap_or(tip);
    if start > tip {
        return Err(ApiError::not_found(format!(
            "height {start} is above the tip {tip}"
        )));
    }
    let lowest = start.saturating_sub(count.max(1) - 1);
    let mut out = Vec::new();
    for h in (lowest..=start).rev() {
        let hash = c
            .hash_at(h)?
            .ok_or_else(|| ApiError::internal(format!("height {h} missing")))?;
        out.push(best_block_summary(c, &hash, h)?);
    }
    Ok(out)
}

/// The block at a height
///
/// The id of the best-chain block at `height`, plain text.
#[utoipa::path(get, path = "/api/block-height/{height}", tag = "blocks",
    operation_id = "getBlockAtHeight", params(HeightParam),
    responses(
        (status = 200, description = "The block's id, 64 hex digits.", body = String,
            content_type = "text/plain", headers(("Cache-Control" = String,
            description = "`public, max-age=86400` at least 100 blocks deep, else `no-cache`."))),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    ))]
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

/// A block
///
/// Its summary: every header field, where it stands, and what its body holds. A block on a
/// side branch is answered too (`in_best_chain` false); one whose body is not stored is 404.
#[utoipa::path(get, path = "/api/block/{hash}", tag = "blocks", operation_id = "getBlock",
    params(BlockHashParam),
    responses(
        (status = 200, description = "The summary.", body = BlockSummary,
            headers(("Cache-Control" = String,
            description = "`public, max-age=86400` at least 100 blocks deep, else `no-cache`."))),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    ))]
pub(super) async fn block(
    State(api): State<Arc<Api>>,
    ApiPath(hash): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let hash = extract::hash("hash", &hash)?;
    let (body, depth) = api.with_chain(move |c, _| block_summary(c, &hash)).await?;
    Ok((cache_control(depth), Json(body)))
}

/// A block's place in the chain
///
/// Whether it is on the best chain, its height, the next best-chain block, and whether it is
/// valid (a stored block that failed as the chain connected it is not).
#[utoipa::path(get, path = "/api/block/{hash}/status", tag = "blocks",
    operation_id = "getBlockStatus", params(BlockHashParam),
    responses(
        (status = 200, description = "Where it stands.", body = ferrite_api::BlockStatus,
            headers(("Cache-Control" = String, description = "`no-cache`."))),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    ))]
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
            let next_best = if on_best {
                c.hash_at(meta.height + 1)?
            } else {
                None
            };
            Ok(ferrite_api::BlockStatus {
                in_best_chain: on_best,
                height: meta.height,
                next_best,
                valid: !meta.status.is_invalid(),
            })
        })
        .await?;
    Ok((NO_CACHE, Json(body)))
}

/// A block's first transfers
///
/// Its first 25 transfers, in block order.
#[utoipa::path(get, path = "/api/block/{hash}/txs", tag = "blocks",
    operation_id = "getBlockTxs", params(BlockHashParam),
    responses(
        (status = 200, description = "Up to 25 transfers.", body = Vec<Tx>,
            headers(("Cache-Control" = String,
            description = "`public, max-age=86400` at least 100 blocks deep, else `no-cache`."))),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    ))]
pub(super) async fn block_txs_first(
    State(api): State<Arc<Api>>,
    ApiPath(hash): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    block_tx_page(api, hash, 0).await
}

/// A page of a block's transfers
///
/// 25 transfers from index `start`, in block order; 404 at or past the last.
#[utoipa::path(get, path = "/api/block/{hash}/txs/{start}", tag = "blocks",
    operation_id = "getBlockTxsFrom", params(BlockHashParam, StartParam),
    responses(
        (status = 200, description = "Up to 25 transfers.", body = Vec<Tx>,
            headers(("Cache-Control" = String,
            description = "`public, max-age=86400` at least 100 blocks deep, else `no-cache`."))),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    ))]
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
    let (page, depth) = api
        .with_chain(move |c, _| {
            let page = tx_page(c, &hash, start, TXS_PER_PAGE)?;
            Ok((page.txs, page.depth))
        })
        .await?;
    Ok((cache_control(depth), Json(page)))
}

/// A page of a block's transfers.
pub(super) struct TxPage {
    /// The transfers, in block order.
    pub txs: Vec<Tx>,
    /// How many the block holds.
    pub count: usize,
    /// The block's depth below the tip (`None` off the best chain).
    pub depth: Option<u64>,
}

/// Up to `limit` transfers of stored block `hash` from index `start`; 404 at or past the last
/// (index 0 of an empty block is an empty page).
pub(super) fn tx_page(
    c: &ChainView,
    hash: &Hash,
    start: u64,
    limit: usize,
) -> Result<TxPage, ApiError> {
    let prefix = c.params().prefix;
    let (header, height, depth) = stored_block(c, hash)?;
    let start = usize::try_from(start).unwrap_or(usize::MAX);
    let (count, txs) = c
        .txs_at(hash, start, limit)?
        .ok_or_else(|| ApiError::internal(format!("body of {hash} missing")))?;
    if start > 0 && start >= count {
        return Err(ApiError::not_found(format!(
            "block {hash} has {count} transactions"
        )));
    }
    let txs = txs
        .iter()
        .enumerate()
        .map(|(i, tx)| {
            // A side branch's transfers are not confirmed (they may be pending again).
            let status = match depth {
                Some(_) => TxStatus::Confirmed(ConfirmedStatus::new(
                    height,
                    *hash,
                    header.timestamp,
                    u32::try_from(start + i).unwrap_or(u32::MAX),
                )),
                None => TxStatus::OFF_BEST_CHAIN,
            };
            tx_api::tx_answer(&prefix, tx, status)
        })
        .collect();
    Ok(TxPage { txs, count, depth })
}

/// A block's transfer ids
///
/// Every transfer id of the block, in block order.
#[utoipa::path(get, path = "/api/block/{hash}/txids", tag = "blocks",
    operation_id = "getBlockTxids", params(BlockHashParam),
    responses(
        (status = 200, description = "The ids.", body = Vec<ferrite_api::HashHex>,
            headers(("Cache-Control" = String,
            description = "`public, max-age=86400` at least 100 blocks deep, else `no-cache`."))),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    ))]
pub(super) async fn block_txids(
    State(api): State<Arc<Api>>,
    ApiPath(hash): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let hash = extract::hash("hash", &hash)?;
    let (ids, depth) = api
        .with_chain(move |c, _| {
            let (block, _, depth) = full_block(c, &hash)?;
            let ids: Vec<Hash> = block.txs.iter().map(|t| t.id()).collect();
            Ok((ids, depth))
        })
        .await?;
    Ok((cache_control(depth), Json(ids)))
}

/// A block's canonical encoding
///
/// The block's consensus encoding as bytes (docs/consensus.md).
#[utoipa::path(get, path = "/api/block/{hash}/raw", tag = "blocks",
    operation_id = "getBlockRaw", params(BlockHashParam),
    responses(
        (status = 200, description = "The encoded block.", body = RawBytes,
            content_type = "application/octet-stream", headers(("Cache-Control" = String,
            description = "`public, max-age=86400` at least 100 blocks deep, else `no-cache`."))),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    ))]
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
