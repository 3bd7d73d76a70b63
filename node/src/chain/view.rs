//! The published view of the chain: what every reader (HTTP, peer requests, the sync
//! scheduler, readiness, metrics, block templates) works from instead of the chain itself.
//!
//! The chain is written by one path (the connect path, under the node's chain lock). After each
//! change the writer builds a [`ChainView`]: the tip and its parent facts, the best header, its
//! locator, the first missing bodies of the best header chain, and a RocksDB snapshot taken
//! right after the last write. The node publishes it atomically; a reader loads the current one
//! and answers from it alone, so it never waits for a block to connect and never mixes two tips.

use std::sync::Arc;

use ferrite_core::lthash::LtHash;
use ferrite_core::validation::{self, HeaderError, ParentInfo};
use ferrite_core::{Account, Address, BlockHeader, ChainParams, Hash, State};
use rocksdb::{ColumnFamily, DBPinnableSlice, IteratorMode};

use super::{ChainError, TipInfo};
use crate::store::{BlockMeta, BlockStatus, MultiGet, Snapshot, StoreError, StoreIter, StoreRead};

/// Missing bodies a view lists, lowest first: the download window of headers-first sync
/// (`p2p`'s scheduler requests only these). Bounds the memory of blocks downloaded out of order
/// (32 x the 1 MiB block cap).
pub const MISSING_LISTED: usize = 32;

/// A consistent, immutable picture of the chain after one commit.
pub struct ChainView {
    /// Views built so far by this chain: a later view has a larger number.
    pub seq: u64,
    /// The tip.
    pub tip: TipInfo,
    /// Parent facts for a child of the tip (what a block template builds on).
    pub tip_parent: ParentInfo,
    /// The best known header (most work, first seen on ties), bodies or not.
    pub best_header: Hash,
    /// Its metadata.
    pub best_header_meta: BlockMeta,
    /// Parent facts for a child of the best header (what a new block's header is checked
    /// against before the chain takes it, see [`ChainView::extends_best_header`]).
    pub best_header_parent: ParentInfo,
    /// A block locator from the best header (newest first, genesis last).
    pub locator: Arc<Vec<Hash>>,
    /// The first [`MISSING_LISTED`] blocks of the best header chain whose bodies are missing,
    /// lowest first, as (id, height).
    pub missing: Arc<Vec<(Hash, u64)>>,
    /// Blocks waiting in the orphan pool.
    pub orphans: usize,
    /// The state digest at the tip.
    pub digest: LtHash,
    /// The chain's parameters.
    pub params: Arc<ChainParams>,
    snapshot: Snapshot,
}

impl ChainView {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        seq: u64,
        tip: TipInfo,
        tip_parent: ParentInfo,
        best: (Hash, BlockMeta, ParentInfo),
        locator: Arc<Vec<Hash>>,
        missing: Arc<Vec<(Hash, u64)>>,
        orphans: usize,
        digest: LtHash,
        params: Arc<ChainParams>,
        snapshot: Snapshot,
    ) -> ChainView {
        ChainView {
            seq,
            tip,
            tip_parent,
            best_header: best.0,
            best_header_meta: best.1,
            best_header_parent: best.2,
            locator,
            missing,
            orphans,
            digest,
            params,
            snapshot,
        }
    }

    /// The tip.
    pub fn tip_info(&self) -> Result<TipInfo, ChainError> {
        Ok(self.tip)
    }

    /// The chain's parameters.
    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    /// The best header and its metadata.
    pub fn best_header(&self) -> Result<(Hash, BlockMeta), ChainError> {
        Ok((self.best_header, self.best_header_meta))
    }

    /// Checks `header` as the next block on the best header chain, with core's header rules and
    /// the same parent facts the chain would use, at `now` (seconds): `Ok(true)` when it names
    /// the best header as its parent and passes, so that the chain, taking it, makes it the new
    /// best header; `Ok(false)` when it names another parent, which only the chain can judge.
    /// Lets a compact block be passed on without waiting for the writer (the chain still takes
    /// the header afterwards, by the same rules).
    pub fn extends_best_header(&self, header: &BlockHeader, now: u64) -> Result<bool, HeaderError> {
        if header.prev != self.best_header {
            return Ok(false);
        }
        validation::check_header(&self.params, header, &self.best_header_parent, now)?;
        Ok(true)
    }

    /// True when the node is far enough behind its best header that it is catching up (peers
    /// have the blocks it is fetching; new tips are not announced).
    pub fn catching_up(&self) -> bool {
        self.best_header_meta.height > self.tip.height + MISSING_LISTED as u64
    }

    /// Metadata of a known block (header only, stored or connected).
    pub fn block_meta(&self, h: &Hash) -> Result<Option<BlockMeta>, ChainError> {
        Ok(self.meta(h)?)
    }

    /// True when `hash` is on the best chain of this view.
    pub fn on_best_chain(&self, hash: &Hash, height: u64) -> Result<bool, ChainError> {
        Ok(height <= self.tip.height && self.hash_at(height)? == Some(*hash))
    }

    /// True when `hash` is a fully validated block (the only kind the node serves to peers: a
    /// stored but never connected block may turn out invalid).
    pub fn can_serve(&self, hash: &Hash) -> Result<bool, ChainError> {
        Ok(self
            .meta(hash)?
            .is_some_and(|m| m.status == BlockStatus::Valid))
    }

    /// An account at the tip.
    pub fn account_at_tip(&self, a: &Address) -> Result<Account, ChainError> {
        Ok(self.account(a)?)
    }

    /// A partial state at the tip holding `addresses`.
    pub fn state_view(&self, addresses: &[Address]) -> Result<State, ChainError> {
        let accts = self.accounts(addresses)?;
        Ok(State::partial(
            self.digest.clone(),
            addresses.iter().copied().zip(accts),
        ))
    }

    /// Headers of the best chain after the first `locator` entry on it (genesis if none is),
    /// up to `stop` or `max` headers.
    pub fn headers_after(
        &self,
        locator: &[Hash],
        stop: &Hash,
        max: usize,
    ) -> Result<Vec<BlockHeader>, ChainError> {
        // Every peer of this chain has genesis: with no common block, start after it.
        let mut start = 1;
        for h in locator {
            if let Some(m) = self.meta(h)? {
                if self.on_best_chain(h, m.height)? {
                    start = m.height + 1;
                    break;
                }
            }
        }
        let mut out = Vec::new();
        let mut height = start;
        while out.len() < max && height <= self.tip.height {
            let Some(hash) = self.hash_at(height)? else {
                break;
            };
            let header = self
                .header(&hash)?
                .ok_or_else(|| StoreError::Corrupt(format!("header {hash}")))?;
            out.push(header);
            if hash == *stop {
                break;
            }
            height += 1;
        }
        Ok(out)
    }
}

impl StoreRead for ChainView {
    fn cf(&self, name: &str) -> Result<&ColumnFamily, StoreError> {
        self.snapshot.cf(name)
    }

    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.snapshot.get(cf, key)
    }

    fn get_pinned(&self, cf: &str, key: &[u8]) -> Result<Option<DBPinnableSlice<'_>>, StoreError> {
        self.snapshot.get_pinned(cf, key)
    }

    fn multi_get(&self, cf: &str, keys: &[&[u8]]) -> Result<MultiGet, StoreError> {
        self.snapshot.multi_get(cf, keys)
    }

    fn iter(&self, cf: &str, mode: IteratorMode<'_>) -> Result<StoreIter<'_>, StoreError> {
        self.snapshot.iter(cf, mode)
    }

    fn stats_cache(&self) -> &std::sync::Mutex<crate::store::StatsCache> {
        self.snapshot.stats_cache()
    }
}
