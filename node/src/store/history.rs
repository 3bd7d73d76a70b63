//! The best-chain indexes the explorer reads: where each transaction sits, every address's
//! history and its length, single transactions and block figures read without decoding whole
//! blocks; and the upgrade that fills the history counts of a schema-1 store.

use ferrite_core::{Address, Block, Hash};
use rocksdb::{IteratorMode, WriteBatch};

use super::keys::*;
use super::{corrupt, Store, StoreError, StoreRead};

/// Figures of a stored block body, read without decoding the whole block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyStats {
    /// Transfers in the block.
    pub tx_count: usize,
    /// Sum of their fees (saturating).
    pub fees: u64,
}

/// Bodies whose figures are remembered: the explorer's block lists and summaries keep asking
/// about the same recent blocks, and summarising a full block means decoding thousands of
/// transfers. 4,096 entries of ~50 bytes.
pub const STATS_CACHE_ENTRIES: usize = 4096;

/// Addresses counted per batch when upgrading a schema-1 store: bounds the batch's memory.
const UPGRADE_BATCH: u64 = 100_000;

/// A bounded map of body figures, oldest entry evicted first.
#[derive(Default)]
pub struct StatsCache {
    map: std::collections::HashMap<Hash, BodyStats>,
    order: std::collections::VecDeque<Hash>,
}

impl StatsCache {
    pub(super) fn get(&self, h: &Hash) -> Option<BodyStats> {
        self.map.get(h).copied()
    }

    pub(super) fn insert(&mut self, h: Hash, stats: BodyStats) {
        if self.map.insert(h, stats).is_none() {
            self.order.push_back(h);
            while self.order.len() > STATS_CACHE_ENTRIES {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }
}

impl Store {
    /// Adds the history-count deltas of `block` (+1 or -1 per transfer for its sender and its
    /// recipient) to a batch.
    pub(super) fn merge_counts(
        &self,
        b: &mut WriteBatch,
        block: &Block,
        sign: i64,
    ) -> Result<(), StoreError> {
        let mut deltas: std::collections::HashMap<Address, i64> = Default::default();
        for tx in &block.txs {
            *deltas.entry(tx.tx.sender_address()).or_default() += sign;
            *deltas.entry(tx.tx.recipient).or_default() += sign;
        }
        let cf = self.cf(CF_ADDR_COUNT)?;
        for (a, d) in deltas {
            b.merge_cf(cf, a.0, d.to_le_bytes());
        }
        Ok(())
    }

    /// Schema 1 -> 2: counts each address's entries in the address index into
    /// [`CF_ADDR_COUNT`], and records the new version in the same batch.
    pub(super) fn upgrade_from_v1(&self) -> Result<(), StoreError> {
        tracing::info!("upgrading the store from schema 1: counting address histories");
        let mut b = WriteBatch::default();
        let counts = self.cf(CF_ADDR_COUNT)?;
        let mut current: Option<([u8; 32], i64)> = None;
        let mut written: u64 = 0;
        for item in self
            .db
            .iterator_cf(self.cf(CF_ADDR_INDEX)?, IteratorMode::Start)
        {
            let (k, _) = item?;
            let addr: [u8; 32] = k
                .get(..32)
                .and_then(|a| a.try_into().ok())
                .ok_or_else(|| corrupt("address index key"))?;
            match &mut current {
                Some((a, n)) if *a == addr => *n += 1,
                _ => {
                    if let Some((a, n)) = current.replace((addr, 1)) {
                        b.put_cf(counts, a, n.to_le_bytes());
                        written += 1;
                        // Bounded batches; the version is written last, so a crash midway
                        // leaves a version-1 store that is counted again from the start.
                        if written % UPGRADE_BATCH == 0 {
                            self.write(std::mem::take(&mut b))?;
                            tracing::info!(addresses = written, "counting address histories");
                        }
                    }
                }
            }
        }
        if let Some((a, n)) = current {
            b.put_cf(counts, a, n.to_le_bytes());
        }
        b.put_cf(self.cf(CF_META)?, META_SCHEMA, SCHEMA_VERSION.to_le_bytes());
        self.write(b)
    }
}
