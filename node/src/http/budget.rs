//! How many store reads one answer may make, by route: every page and API answer reads a
//! bounded part of the store, whatever the chain's length or an address's history. The request
//! layer counts each answer's reads (`crate::store::reads`), publishes them
//! (`ferrite_http_store_reads`) and warns when an answer goes over its budget; the end-to-end
//! tests hold every route they visit to it.
//!
//! A read is one key looked up or one record an iterator stepped over. Each budget is the
//! page's own listing limits times the reads an item costs, plus a fixed part for the tip, the
//! item itself and its neighbours.

use super::address_api::HISTORY_PAGE;
use super::chain_api::BLOCKS_PER_PAGE;
use super::pages::{CHART_BLOCKS, HOME_BLOCKS, HOME_TXS, LIST_PAGE};

/// The reads every answer may make besides its listings: the tip, the item asked for, its
/// parent or child, a cached summary missed.
pub const FIXED_READS: u64 = 16;
/// Reads a listed block may cost: its hash at a height, its metadata, its header, its body's
/// figures (cached after the first summary).
pub const READS_PER_BLOCK: u64 = 4;
/// Reads a listed transfer may cost: the history index record that names it, its location,
/// its block's metadata and its body.
pub const READS_PER_TX: u64 = 4;

/// The most store reads an answer on `route` (a route pattern, as in the metrics) may make.
pub fn store_reads(route: &str) -> u64 {
    let blocks = |n: u64| n * READS_PER_BLOCK;
    let txs = |n: usize| n as u64 * READS_PER_TX;
    FIXED_READS
        + match route {
            "/" => blocks(HOME_BLOCKS) + txs(HOME_TXS),
            "/blocks" | "/blocks/{start_height}" => blocks(LIST_PAGE),
            "/charts" => blocks(CHART_BLOCKS),
            "/address/{address}"
            | "/api/address/{address}/txs"
            | "/api/address/{address}/txs/chain/{last_seen_txid}" => txs(HISTORY_PAGE),
            "/api/blocks" | "/api/blocks/{start_height}" => blocks(BLOCKS_PER_PAGE),
            // One item and what is around it: a transfer, an account, a search, a block (whose
            // page of transfers comes from its one body, whatever its size).
            _ => 0,
        }
}
