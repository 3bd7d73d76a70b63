//! Headers-first sync support: headers stored ahead of their bodies, the best header chain,
//! block locators, and the list of bodies still missing on the best header chain.
//!
//! A header is checked against its parent exactly as a full block's header is (link, height,
//! ASERT bits, proof of work, median time past, future drift), so a peer cannot make the node
//! store a header chain it did not do the work for.
//!
//! A header whose body nobody delivers (withheld, or sent broken) can be set aside
//! ([`Chain::withhold`]) when another branch heavier than the tip is there to follow: it and its
//! header-only descendants stop counting for the best header, so sync follows the best branch
//! whose bodies can be had. A new valid header that extends a branch set aside brings it all
//! back (more work was done on it: someone has the bodies, or pays a block's proof of work for
//! each retry), and so does a body of it.

use ferrite_core::validation::{self, BlockError, HeaderError};
use ferrite_core::{BlockHeader, Hash, Target};

use super::{now_secs, Chain, ChainError};
use crate::store::{BlockMeta, BlockStatus, StoreRead};

/// Most hashes in a block locator: ten recent ones, then exponentially spaced ones back to
/// genesis, which reaches back 2^54 blocks.
pub const MAX_LOCATOR_LEN: usize = 64;

/// Result of a batch of headers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeadersAdded {
    /// Headers that were new.
    pub new: usize,
    /// A block locator from the batch's last header: where to continue after a full answer,
    /// even when the batch did not change the best header (a branch still lighter).
    pub locator_after: Vec<Hash>,
}

impl Chain {
    /// Adds headers (each the child of a known header or of the previous one in the batch)
    /// without their bodies. Headers accepted before an error are kept.
    pub fn submit_headers(&mut self, headers: &[BlockHeader]) -> Result<HeadersAdded, ChainError> {
        self.submit_headers_at(headers, now_secs())
    }

    /// [`Chain::submit_headers`] with `now` as local time.
    pub fn submit_headers_at(
        &mut self,
        headers: &[BlockHeader],
        now: u64,
    ) -> Result<HeadersAdded, ChainError> {
        let mut added = Vec::new();
        let result = self.add_headers(headers, now, &mut added);
        self.store.put_headers(&added)?;
        let new = added.len();
        result?;
        let locator_after = match headers.last() {
            Some(last) => self.locator_from(last.hash())?,
            None => Vec::new(),
        };
        Ok(HeadersAdded { new, locator_after })
    }

    fn add_headers(
        &mut self,
        headers: &[BlockHeader],
        now: u64,
        added: &mut Vec<(Hash, BlockHeader, BlockMeta)>,
    ) -> Result<(), ChainError> {
        for header in headers {
            let hash = header.hash();
            if let Some(m) = self.index.get(&hash) {
                if m.status.is_invalid() {
                    return Err(ChainError::KnownInvalid(hash));
                }
                continue;
            }
            let parent = self
                .index
                .get(&header.prev)
                .copied()
                .ok_or(ChainError::UnknownParent(header.prev))?;
            if parent.status.is_invalid() {
                return Err(ChainError::KnownInvalid(header.prev));
            }
            let info = self.parent_info(&header.prev)?;
            validation::check_header(&self.params, header, &info, now).map_err(BlockError::from)?;
            let work = Target::from_compact(header.bits)
                .ok()
                .and_then(|t| parent.work.checked_add(t.work()))
                .ok_or(BlockError::Header(HeaderError::InsufficientWork))?;
            let meta = BlockMeta {
                parent: header.prev,
                height: header.height,
                timestamp: header.timestamp,
                work,
                status: BlockStatus::HeaderOnly,
                seq: self.next_seq,
            };
            self.next_seq += 1;
            self.index.insert(hash, meta);
            self.headers
                .insert((work, std::cmp::Reverse(meta.seq), hash));
            added.push((hash, *header, meta));
            if self.withheld.contains(&header.prev) {
                // A valid header on a branch set aside: more work was done on it.
                self.restore_withheld();
            }
        }
        Ok(())
    }

    /// Sets aside the header-only block `hash` and its header-only descendants: the best header
    /// is then chosen among the others. Refused (false) when that leaves no header heavier than
    /// the tip (nothing else to sync toward: the branch stays the target), and when `hash` is
    /// not a header-only block that counts (it has its body, is invalid, unknown, or already
    /// set aside).
    pub fn withhold(&mut self, hash: Hash) -> Result<bool, ChainError> {
        let Some(m) = self.index.get(&hash).copied() else {
            return Ok(false);
        };
        let entry = (m.work, std::cmp::Reverse(m.seq), hash);
        if m.status.has_body() || !self.headers.contains(&entry) {
            return Ok(false);
        }
        // The branch: `hash` and its descendants, which have more work than their ancestors,
        // so one pass upwards meets every parent before its children.
        let mut branch = std::collections::HashSet::from([hash]);
        let mut set_aside = vec![entry];
        for e in self
            .headers
            .range((m.work, std::cmp::Reverse(0), Hash::ZERO)..)
        {
            let parent = self.index.get(&e.2).map(|c| c.parent);
            if parent.is_some_and(|p| branch.contains(&p)) {
                branch.insert(e.2);
                set_aside.push(*e);
            }
        }
        let tip_work = self.meta(&self.tip)?.work;
        let heavier_elsewhere = self
            .headers
            .iter()
            .rev()
            .find(|e| !branch.contains(&e.2))
            .is_some_and(|e| e.0 > tip_work);
        if !heavier_elsewhere {
            return Ok(false);
        }
        for e in set_aside {
            self.headers.remove(&e);
            self.withheld.insert(e.2);
        }
        Ok(true)
    }

    /// Puts every header set aside by [`Chain::withhold`] back (unless it became invalid or got
    /// its body meanwhile, when it is already where it belongs).
    pub fn restore_withheld(&mut self) {
        for h in std::mem::take(&mut self.withheld) {
            if let Some(m) = self.index.get(&h) {
                if !m.status.is_invalid() {
                    self.headers.insert((m.work, std::cmp::Reverse(m.seq), h));
                }
            }
        }
    }

    /// Header-only blocks set aside now.
    pub fn withheld_count(&self) -> usize {
        self.withheld.len()
    }

    /// The best known header (most work, first seen on ties) and its metadata.
    pub fn best_header(&self) -> Result<(Hash, BlockMeta), ChainError> {
        let best = self.headers.last().map(|e| e.2).unwrap_or(self.tip);
        Ok((best, self.meta(&best)?))
    }

    /// True when the node has `hash`'s header (or the whole block).
    pub fn has_header(&self, hash: &Hash) -> bool {
        self.index.contains_key(hash)
    }

    /// A block locator from the best header: the last ten ids, then ids at doubling distances,
    /// and genesis last.
    pub fn locator(&self) -> Result<Vec<Hash>, ChainError> {
        let (best, _) = self.best_header()?;
        self.locator_from(best)
    }

    /// A block locator starting at `start` (a known header): used to continue after a full
    /// headers answer even when it did not change the best header (a branch still lighter).
    ///
    /// Off the best connected chain (headers ahead of the tip, or a side branch) it walks parent
    /// links; once on it, it jumps by the height index, so a long chain costs a few dozen reads.
    pub fn locator_from(&self, start: Hash) -> Result<Vec<Hash>, ChainError> {
        let tip_height = self.meta(&self.tip)?.height;
        let mut h = start;
        let mut meta = self.meta(&h)?;
        let mut on_best = false;
        let mut out = Vec::new();
        let mut step = 1u64;
        loop {
            out.push(h);
            if meta.height == 0 || out.len() == MAX_LOCATOR_LEN - 1 {
                break;
            }
            if out.len() >= 10 {
                step = step.saturating_mul(2);
            }
            let target = meta.height.saturating_sub(step);
            while meta.height > target {
                if !on_best && meta.height <= tip_height {
                    on_best = self.store.hash_at(meta.height)? == Some(h);
                }
                if on_best {
                    h = self.store.hash_at(target)?.ok_or_else(|| {
                        crate::store::StoreError::Corrupt(format!("height index at {target}"))
                    })?;
                    meta = self.meta(&h)?;
                    break;
                }
                h = meta.parent;
                meta = self.meta(&h)?;
            }
        }
        if meta.height != 0 {
            out.push(self.params.genesis_hash);
        }
        Ok(out)
    }

    /// The first `max` blocks on the best header chain whose bodies are missing, lowest first,
    /// as (id, height).
    ///
    /// The full list is cached per best header and extended (not rebuilt) when the best header
    /// chain grows, so a long backlog of headers costs one walk, not one per call.
    pub fn missing_bodies(&mut self, max: usize) -> Result<Vec<(Hash, u64)>, ChainError> {
        let (best, _) = self.best_header()?;
        if self.missing.best != best {
            self.rebuild_missing(best)?;
        }
        // Drop the front entries whose bodies have arrived since.
        while let Some((h, _)) = self.missing.list.front() {
            if self.index.get(h).is_some_and(|m| m.status.has_body()) {
                self.missing.list.pop_front();
            } else {
                break;
            }
        }
        Ok(self.missing.list.iter().take(max).copied().collect())
    }

    fn rebuild_missing(&mut self, best: Hash) -> Result<(), ChainError> {
        let mut walked = Vec::new();
        let mut h = best;
        let mut meta = self.meta(&h)?;
        let extends = loop {
            if meta.status.has_body() {
                break false;
            }
            if h == self.missing.best {
                break true;
            }
            walked.push((h, meta.height));
            h = meta.parent;
            meta = self.meta(&h)?;
        };
        if !extends {
            self.missing.list.clear();
        }
        self.missing.list.extend(walked.into_iter().rev());
        self.missing.best = best;
        Ok(())
    }
}

/// The cached list of missing bodies on the best header chain.
#[derive(Default)]
pub(super) struct MissingBodies {
    best: Hash,
    list: std::collections::VecDeque<(Hash, u64)>,
}
