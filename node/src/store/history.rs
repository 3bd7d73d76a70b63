//! The best-chain indexes the explorer reads: where each transaction sits, every address's
//! history and its length, single transactions and block figures read without decoding whole
//! blocks; and the upgrade that fills the history counts of a schema-1 store.

use ferrite_core::encoding::Decode;
use ferrite_core::transaction::SIGNED_TX_LEN;
use ferrite_core::{Address, Block, Hash, SignedTransaction};
use rocksdb::{Direction, IteratorMode, WriteBatch};

use super::keys::*;
use super::{corrupt, Store, StoreError};

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
pub(super) struct StatsCache {
    map: std::collections::HashMap<Hash, BodyStats>,
    order: std::collections::VecDeque<Hash>,
}

impl StatsCache {
    fn get(&self, h: &Hash) -> Option<BodyStats> {
        self.map.get(h).copied()
    }

    fn insert(&mut self, h: Hash, stats: BodyStats) {
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
    /// The transfer at `position` of a stored block, decoded alone from the body bytes.
    pub fn tx_at(
        &self,
        block: &Hash,
        position: u32,
    ) -> Result<Option<SignedTransaction>, StoreError> {
        Ok(self
            .txs_at(block, position as usize, 1)?
            .and_then(|(_, mut txs)| txs.pop()))
    }

    /// Up to `count` transfers of a stored block from index `start`, decoded alone from the
    /// body bytes, with the block's transfer count; `None` if the body is not stored.
    pub fn txs_at(
        &self,
        block: &Hash,
        start: usize,
        count: usize,
    ) -> Result<Option<(usize, Vec<SignedTransaction>)>, StoreError> {
        let Some(body) = self.db.get_pinned_cf(self.cf(CF_BODIES)?, block.0)? else {
            return Ok(None);
        };
        let txs = body.get(4..).ok_or_else(|| corrupt("body too short"))?;
        if txs.len() % SIGNED_TX_LEN != 0 {
            return Err(corrupt("body length"));
        }
        let total = txs.len() / SIGNED_TX_LEN;
        let out = txs
            .chunks_exact(SIGNED_TX_LEN)
            .skip(start)
            .take(count)
            .map(|c| SignedTransaction::decode(c).map_err(corrupt))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some((total, out)))
    }

    /// A stored block's canonical encoding (header bytes, then the stored body as it is),
    /// without decoding it.
    pub fn raw_block(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(header) = self.db.get_pinned_cf(self.cf(CF_HEADERS)?, hash.0)? else {
            return Ok(None);
        };
        let Some(body) = self.db.get_pinned_cf(self.cf(CF_BODIES)?, hash.0)? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(header.len() + body.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&body);
        Ok(Some(out))
    }

    /// Transfer count and fees of a stored body (remembered for recent bodies).
    pub fn body_stats(&self, block: &Hash) -> Result<Option<BodyStats>, StoreError> {
        let cache = || self.stats_cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = cache().get(block) {
            return Ok(Some(s));
        }
        let stats = self.read_body_stats(block)?;
        if let Some(s) = stats {
            cache().insert(*block, s);
        }
        Ok(stats)
    }

    fn read_body_stats(&self, block: &Hash) -> Result<Option<BodyStats>, StoreError> {
        let Some(body) = self.db.get_pinned_cf(self.cf(CF_BODIES)?, block.0)? else {
            return Ok(None);
        };
        let txs = body.get(4..).ok_or_else(|| corrupt("body too short"))?;
        if txs.len() % SIGNED_TX_LEN != 0 {
            return Err(corrupt("body length"));
        }
        let mut fees: u64 = 0;
        for chunk in txs.chunks_exact(SIGNED_TX_LEN) {
            let tx = SignedTransaction::decode(chunk).map_err(corrupt)?;
            fees = fees.saturating_add(tx.tx.fee);
        }
        Ok(Some(BodyStats {
            tx_count: txs.len() / SIGNED_TX_LEN,
            fees,
        }))
    }

    /// Where a transaction sits in the best chain.
    pub fn tx_location(&self, txid: &Hash) -> Result<Option<TxLocation>, StoreError> {
        self.get(CF_TX_INDEX, &txid.0)?
            .map(|v| TxLocation::decode(&v).map_err(corrupt))
            .transpose()
    }

    /// Up to `limit` transaction ids touching `address`, newest first, strictly before the
    /// `(height, position)` cursor if one is given.
    pub fn address_txs(
        &self,
        address: &Address,
        before: Option<(u64, u32)>,
        limit: usize,
    ) -> Result<Vec<(u64, u32, Hash)>, StoreError> {
        let start = match before {
            Some((h, p)) if p > 0 => addr_index_key(address, h, p - 1),
            Some((h, _)) if h > 0 => addr_index_key(address, h - 1, u32::MAX),
            Some(_) => return Ok(Vec::new()),
            None => addr_index_key(address, u64::MAX, u32::MAX),
        };
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(CF_ADDR_INDEX)?,
            IteratorMode::From(&start, Direction::Reverse),
        );
        for item in iter {
            let (k, v) = item?;
            if k.len() != 44 || k[..32] != address.0 || out.len() >= limit {
                break;
            }
            let height = u64::from_be_bytes(k[32..40].try_into().map_err(|_| corrupt("key"))?);
            let pos = u32::from_be_bytes(k[40..44].try_into().map_err(|_| corrupt("key"))?);
            let txid = Hash(v.as_ref().try_into().map_err(|_| corrupt("addr index"))?);
            out.push((height, pos, txid));
        }
        Ok(out)
    }

    /// How many best-chain transfers `address` sent or received.
    pub fn address_tx_count(&self, address: &Address) -> Result<u64, StoreError> {
        let n = match self.get(CF_ADDR_COUNT, &address.0)? {
            Some(v) => i64::from_le_bytes(
                v.as_slice()
                    .try_into()
                    .map_err(|_| corrupt("address count"))?,
            ),
            None => 0,
        };
        u64::try_from(n).map_err(|_| corrupt(format!("negative address count {n}")))
    }

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
