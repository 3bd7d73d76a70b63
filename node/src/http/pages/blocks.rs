//! Block pages: the list of best-chain blocks (paged by height), a block by height, and a
//! block's page (every header field, where it stands, its transfers 25 at a time).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use ferrite_api::BlockSummary;
use maud::{html, Markup};

use super::home::blocks_table;
use super::layout::{address_link, short_status, tx_table, when_long};
use super::{format, now, Chrome, Page};
use crate::http::chain_api::{block_summary, recent_blocks, tx_page, TxPage, TXS_PER_PAGE};
use crate::http::extract;
use crate::http::extract::ApiPath;
use crate::http::query::page_params;
use crate::http::CACHEABLE_DEPTH;
use crate::http::{Api, ApiError};
use crate::store::StoreRead;

/// Blocks per page of the list.
pub const LIST_PAGE: u64 = 25;

/// `GET /blocks`: the newest blocks.
pub(super) async fn list_from_tip(
    State(api): State<Arc<Api>>,
    RawQuery(q): RawQuery,
) -> Result<Page, ApiError> {
    page_params(q.as_deref(), &[])?;
    list_page(api, None).await
}

/// `GET /blocks/{start_height}`: blocks from a height down.
pub(super) async fn list(
    State(api): State<Arc<Api>>,
    ApiPath(start): ApiPath<String>,
    RawQuery(q): RawQuery,
) -> Result<Page, ApiError> {
    page_params(q.as_deref(), &[])?;
    let start = extract::number("start_height", "invalid_height", &start)?;
    list_page(api, Some(start)).await
}

async fn list_page(api: Arc<Api>, start: Option<u64>) -> Result<Page, ApiError> {
    let (blocks, tip) = api
        .with_chain(move |c, _| Ok((recent_blocks(c, start, LIST_PAGE)?, c.tip_info()?.height)))
        .await?;
    let (newest, oldest) = match (blocks.first(), blocks.last()) {
        (Some(n), Some(o)) => (n.height, o.height),
        _ => return Err(ApiError::internal("an empty list of blocks")),
    };
    let main = html! {
        h1 { "Blocks " (oldest) " to " (newest) }
        div data-part="blocks" { (blocks_table(&api.chrome, &blocks, now())) }
        (pager(newest, oldest, tip))
    };
    let page = Page::new(format!("Blocks {oldest} to {newest}"), main);
    // The newest page follows the tip; older pages stay as they are.
    Ok(if start.is_none() {
        page.live("tip")
    } else {
        page
    })
}

fn pager(newest: u64, oldest: u64, tip: u64) -> Markup {
    html! {
        div.pager {
            @if newest < tip {
                a href={ "/blocks/" (tip.min(newest + LIST_PAGE)) } rel="prev" { "\u{2190} Newer" }
            }
            @if oldest > 0 {
                a href={ "/blocks/" (oldest - 1) } rel="next" { "Older \u{2192}" }
            }
        }
    }
}

/// `GET /height/{height}`: redirects to the best-chain block at that height.
pub(super) async fn at_height(
    State(api): State<Arc<Api>>,
    ApiPath(height): ApiPath<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    page_params(q.as_deref(), &[])?;
    let height = extract::number("height", "invalid_height", &height)?;
    let hash = api
        .with_chain(move |c, _| Ok(c.hash_at(height)?))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no block at height {height}")))?;
    Ok(Redirect::to(&format!("/block/{hash}")).into_response())
}

/// What a block's page shows.
struct BlockView {
    block: BlockSummary,
    depth: Option<u64>,
    next: Option<ferrite_core::Hash>,
    page: TxPage,
    start: u64,
}

/// `GET /block/{hash}?start=N`: a block and its transfers from index `start` (a multiple of
/// 25 in the page's own links).
pub(super) async fn block(
    State(api): State<Arc<Api>>,
    ApiPath(hash): ApiPath<String>,
    RawQuery(q): RawQuery,
) -> Result<Page, ApiError> {
    let params = page_params(q.as_deref(), &["start"])?;
    let hash = extract::hash("hash", &hash)?;
    let start = match params.first() {
        Some((_, v)) => extract::number("start", "invalid_index", v)?,
        None => 0,
    };
    let view = api
        .with_chain(move |c, _| {
            let (block, depth) = block_summary(c, &hash)?;
            let next = match depth {
                Some(_) => c.hash_at(block.height + 1)?,
                None => None,
            };
            let page = tx_page(c, &hash, start, TXS_PER_PAGE)?;
            Ok(BlockView {
                block,
                depth,
                next,
                page,
                start,
            })
        })
        .await?;
    let title = format!("Block {}", view.block.height);
    let main = block_view(&api.chrome, &view, now());
    let page = Page::new(title, main).live("tip");
    // A block 100 deep is final enough to cache, as the API does.
    Ok(match view.depth {
        Some(d) if d >= CACHEABLE_DEPTH => Page {
            cache: "public, max-age=86400",
            live: "",
            ..page
        },
        _ => page,
    })
}

fn block_view(chrome: &Chrome, v: &BlockView, now: u64) -> Markup {
    let b = &v.block;
    html! {
        h1 { "Block " (b.height) }
        div data-part="standing" {
            @match v.depth {
                // A deep page is cached for a day: no count that would go stale in caches.
                Some(d) if d >= CACHEABLE_DEPTH => p.ok { "On the best chain, with more than "
                    (CACHEABLE_DEPTH) " confirmations." },
                Some(d) => p.ok { "On the best chain, " (d + 1) " confirmation" @if d > 0 { "s" } "." },
                None => p.notice { "Not on this node's best chain: a side branch." },
            }
        }
        div.scroll { table.fields {
            tr { th { "Id" } td.mono { (b.id) } }
            tr { th { "Height" } td { (b.height) } }
            tr { th { "Parent" } td.mono {
                @if b.height > 0 { a href={ "/block/" (b.previousblockhash) } { (b.previousblockhash) } }
                @else { (b.previousblockhash) " (the genesis configuration's hash)" }
            } }
            tr { th { "Next" } td.mono data-part="next" {
                @if let Some(n) = v.next { a href={ "/block/" (n) } { (n) } }
                @else { span.muted { "none yet" } }
            } }
            tr { th { "Time" } td { (when_long(now, b.timestamp)) } }
            tr { th { "Miner" } td { (address_link(&b.miner)) } }
            tr { th { "Reward" } td { (chrome.coins(b.reward.0)) } }
            tr { th { "Fees" } td { (chrome.coins(b.fees.0)) } }
            tr { th { "Transfers" } td { (b.tx_count) } }
            tr { th { "Size" } td { (format::bytes(b.size)) " (" (format::grouped(b.size.into())) " bytes)" } }
            tr { th { "Version" } td { (b.version) } }
            tr { th { "Bits" } td.mono { (b.bits) } }
            tr { th { "Difficulty" } td { (b.difficulty) } }
            tr { th { "Nonce" } td.mono { (b.nonce) } }
            tr { th { "Merkle root" } td.mono { (b.merkle_root) } }
            tr { th { "State digest" } td.mono { (b.state_root) } }
            tr { th { "Chain work" } td.mono {
                @if let Some(w) = &b.chainwork { (w.to_hex()) } @else { "unknown" }
            } }
            tr { th { "Raw" } td { a href={ "/api/block/" (b.id) "/raw" } { "encoded block" } } }
        } }
        h2 { "Transfers " (tx_range(v)) }
        (tx_table(chrome, &v.page.txs, short_status))
        (tx_pager(v))
    }
}

fn tx_range(v: &BlockView) -> String {
    if v.page.txs.is_empty() {
        return String::new();
    }
    let first = v.start + 1;
    let last = v.start + v.page.txs.len() as u64;
    format!("{first}\u{2013}{last} of {}", v.page.count)
}

fn tx_pager(v: &BlockView) -> Markup {
    let per = TXS_PER_PAGE as u64;
    let next = v.start + v.page.txs.len() as u64;
    html! {
        div.pager {
            @if v.start > 0 {
                a href={ "/block/" (v.block.id) "?start=" (v.start.saturating_sub(per)) } rel="prev" { "\u{2190} Previous transfers" }
            }
            @if next < v.page.count as u64 {
                a href={ "/block/" (v.block.id) "?start=" (next) } rel="next" { "Next transfers \u{2192}" }
            }
        }
    }
}
