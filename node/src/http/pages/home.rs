//! The home page: the tip and its age, difficulty, a hashrate estimate and the average block
//! time, the mempool's figures, the latest blocks and transfers; live on every tip and
//! transfer.

use std::sync::{Arc, Mutex};

use axum::extract::{RawQuery, State};
use ferrite_api::{BlockSummary, MempoolInfo, MempoolTx, Tx};
use ferrite_core::Hash;
use maud::{html, Markup};

use super::layout::{address_link, block_link, card, transfer_table, tx_table, when, TransferRow};
use super::{format, now, Chrome, Page};
use crate::chain::ChainView;
use crate::http::address_api::{mempool_info, recent_answer};
use crate::http::chain_api::{recent_blocks, tx_page};
use crate::http::query::page_params;
use crate::http::{Api, ApiError};
use crate::store::StoreRead;

/// Latest blocks listed.
pub const HOME_BLOCKS: u64 = 10;
/// Latest confirmed and pending transfers listed.
pub const HOME_TXS: usize = 10;
/// Blocks the average block time and the hashrate are taken over.
pub const PACE_WINDOW: u64 = 100;

/// How fast the chain has moved over its last blocks.
pub struct Pace {
    /// Blocks measured.
    pub blocks: u64,
    /// Mean seconds between them.
    pub mean_secs: f64,
    /// Expected hashes per second behind them (the work they add over the time they took).
    pub hashrate: f64,
}

/// The pace of the last `window` blocks below the tip (two store reads); `None` below height
/// 2. The window never reaches back to genesis, whose timestamp is configured rather than
/// mined (a new chain's first block may come long after it).
pub fn pace(c: &ChainView, window: u64) -> Result<Option<Pace>, ApiError> {
    let tip = c.tip_info()?;
    let blocks = window.min(tip.height.saturating_sub(1));
    if blocks == 0 {
        return Ok(None);
    }
    let old = c
        .hash_at(tip.height - blocks)?
        .ok_or_else(|| ApiError::internal("best-chain height missing"))?;
    let old = c
        .block_meta(&old)?
        .ok_or_else(|| ApiError::internal("best-chain block missing"))?;
    let secs = tip.timestamp.saturating_sub(old.timestamp).max(1) as f64;
    let work = tip
        .work
        .checked_sub(old.work)
        .map_or(0.0, |w| crate::http::node_api::u256_to_f64(w.as_u256()));
    Ok(Some(Pace {
        blocks,
        mean_secs: secs / blocks as f64,
        hashrate: work / secs,
    }))
}

/// The newest [`HOME_TXS`] confirmed transfers of `blocks` (newest block first), newest first:
/// at most one read of each listed block.
fn newest_transfers(c: &ChainView, blocks: &[BlockSummary]) -> Result<Vec<Tx>, ApiError> {
    let mut out = Vec::new();
    for b in blocks {
        let need = HOME_TXS.saturating_sub(out.len()) as u64;
        if need == 0 {
            break;
        }
        if b.tx_count == 0 {
            continue;
        }
        let start = b.tx_count.saturating_sub(need);
        let mut txs = tx_page(c, &b.id, start, need as usize)?.txs;
        txs.reverse();
        out.extend(txs);
    }
    Ok(out)
}

/// What the home page shows, read from one view.
struct Home {
    blocks: Vec<BlockSummary>,
    pace: Option<Pace>,
    pool: MempoolInfo,
    pending: Vec<MempoolTx>,
    confirmed: Vec<Tx>,
}

/// What a home page is made from: the tip, the mempool's generation and the second its ages
/// are counted from. The page is a function of these three (and of the node's fixed chrome).
type HomeKey = (Hash, u64, u64);

/// The last home page made, with its key. Made again from the same key it would be the same
/// page, so within one second, one tip and one state of the pool it is served as it is: a hit
/// costs no store read and no rendering.
#[derive(Default)]
pub struct HomeCache(Mutex<Option<(HomeKey, Page)>>);

impl HomeCache {
    fn get(&self, key: &HomeKey) -> Option<Page> {
        let held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        held.as_ref()
            .filter(|(k, _)| k == key)
            .map(|(_, p)| p.clone())
    }

    fn put(&self, key: HomeKey, page: &Page) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((key, page.clone()));
    }
}

/// `GET /`.
pub(super) async fn home(
    State(api): State<Arc<Api>>,
    RawQuery(q): RawQuery,
) -> Result<Page, ApiError> {
    page_params(q.as_deref(), &[])?;
    // The pool's generation changes under its lock, with the change: a key read here names
    // the pool and tip a fresh render would see now.
    let now = now();
    let key = (api.node.tip().hash, api.node.pool_generation(), now);
    if let Some(page) = api.home_cache.get(&key) {
        return Ok(page);
    }
    let node = api.node.clone();
    let (made_from, home) = api
        .with_pool(
            move |c, pool| {
                // What this page is made from, read under the pool's lock.
                let made_from = (c.tip_info()?.hash, node.pool_generation(), now);
                Ok((made_from, mempool_info(pool), pool.recent(HOME_TXS)))
            },
            |c, (made_from, pool, recent)| {
                let blocks = recent_blocks(c, None, HOME_BLOCKS)?;
                let confirmed = newest_transfers(c, &blocks)?;
                let home = Home {
                    pace: pace(c, PACE_WINDOW)?,
                    pending: recent_answer(&c.params().prefix, &recent),
                    blocks,
                    pool,
                    confirmed,
                };
                Ok((made_from, home))
            },
        )
        .await?;
    let page = Page::new("Latest blocks", view(&api.chrome, &home, now)).live("tip tx");
    api.home_cache.put(made_from, &page);
    Ok(page)
}

fn view(chrome: &Chrome, home: &Home, now: u64) -> Markup {
    html! {
        h1 { "Latest blocks on " (chrome.chain) }
        div data-part="summary" { (summary(chrome, home, now)) }
        h2 { "Latest blocks" }
        div data-part="blocks" { (blocks_table(chrome, &home.blocks, now)) }
        p { a href="/blocks" { "All blocks \u{2192}" } }
        h2 { "Latest confirmed transfers" }
        div data-part="confirmed" {
            (tx_table(chrome, &home.confirmed, super::layout::short_status))
        }
        h2 { "Newest pending transfers" }
        div data-part="pending" { (pending_table(chrome, &home.pending)) }
        p { a href="/mempool" { "The mempool \u{2192}" } }
    }
}

fn summary(chrome: &Chrome, home: &Home, now: u64) -> Markup {
    let tip = home.blocks.first();
    html! {
        div.cards {
            @if let Some(tip) = tip {
                (card("Tip height", html! { a #tip-height href={ "/block/" (tip.id) } { (tip.height) } }))
                (card("Tip age", when(now, tip.timestamp)))
                (card("Difficulty", html! { (tip.difficulty) }))
            }
            @if let Some(p) = &home.pace {
                (card(&format!("Mean block time ({} blocks)", p.blocks), html! { (format::seconds(p.mean_secs)) }))
                (card("Hashrate (estimate)", html! { (format::hashrate(p.hashrate)) }))
            }
            (card("Pending transfers", html! { span #mempool-count { (home.pool.count) } }))
            (card("Mempool size", html! { (format::bytes(home.pool.bytes)) }))
            (card("Pending fees", html! {
                (chrome.coins(home.pool.total_fee.parse::<u128>().unwrap_or(0)))
            }))
        }
    }
}

/// A table of block summaries (the home page and the blocks list).
pub fn blocks_table(chrome: &Chrome, blocks: &[BlockSummary], now: u64) -> Markup {
    html! {
        div.scroll { table #blocks {
            thead { tr { th { "Height" } th { "Block" } th { "Time" } th.num { "Transfers" }
                th.num { "Size" } th.num { "Fees" } th { "Miner" } } }
            tbody {
                @for b in blocks {
                    tr {
                        td { a href={ "/block/" (b.id) } { (b.height) } }
                        td { (block_link(&b.id)) }
                        td { (when(now, b.timestamp)) }
                        td.num { (b.tx_count) }
                        td.num { (format::bytes(b.size)) }
                        td.num { (chrome.coins(b.fees.0)) }
                        td { (address_link(&b.miner)) }
                    }
                }
            }
        } }
    }
}

/// A table of pending transfers (home and mempool pages).
pub fn pending_table(chrome: &Chrome, txs: &[MempoolTx]) -> Markup {
    let rows = txs.iter().map(|t| TransferRow {
        txid: &t.txid,
        from: &t.from,
        to: &t.to,
        amount: t.amount.0,
        fee: t.fee.0,
        status: None,
    });
    transfer_table(chrome, rows, false, "None pending.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_serves_only_the_same_tip_pool_and_second() {
        let cache = HomeCache::default();
        let key = (Hash([1; 32]), 7, 1_000);
        assert!(cache.get(&key).is_none());
        cache.put(key, &Page::new("home", html! { "made" }));
        let hit = cache.get(&key).expect("the same key");
        assert_eq!(hit.main.into_string(), "made");
        for other in [
            (Hash([2; 32]), 7, 1_000),
            (Hash([1; 32]), 8, 1_000),
            (Hash([1; 32]), 7, 1_001),
        ] {
            assert!(cache.get(&other).is_none(), "{other:?}");
        }
    }
}
