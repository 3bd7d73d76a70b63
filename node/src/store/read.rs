//! Reads of the store's records, the same from the live database (the chain, which is the only
//! writer) and from a [`Snapshot`] pinned to a published tip (every other reader): one trait,
//! [`StoreRead`], whose provided methods decode each record once for both.
//!
//! A snapshot sees exactly the writes committed before it was taken, so a reader that keeps one
//! for a whole answer never mixes two tips, and never sees half of a block (each connect is one
//! atomic batch anyway).

use std::sync::{Arc, Mutex};

use ferrite_core::encoding::Decode;
use ferrite_core::ledger::BlockUndo;
use ferrite_core::lthash::LtHash;
use ferrite_core::transaction::SIGNED_TX_LEN;
use ferrite_core::{Account, Address, Block, BlockHeader, Hash, SignedTransaction};
use rocksdb::{ColumnFamily, DBPinnableSlice, Direction, IteratorMode, DB};

use super::history::{BodyStats, StatsCache};
use super::keys::*;
use super::reads::{self, StoreIter};
use super::{corrupt, decode_body, StoreError};

/// The answers of a multi-get, one per key in order.
pub type MultiGet = Vec<Result<Option<Vec<u8>>, rocksdb::Error>>;

/// The store's reads. Implemented by [`super::Store`] (live) and [`Snapshot`] (pinned); the
/// required methods are the raw RocksDB reads, everything else is provided.
pub trait StoreRead {
    /// A column family's handle.
    fn cf(&self, name: &str) -> Result<&ColumnFamily, StoreError>;
    /// One value.
    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// One value, without copying it out of RocksDB's block cache.
    fn get_pinned(&self, cf: &str, key: &[u8]) -> Result<Option<DBPinnableSlice<'_>>, StoreError>;
    /// Several values of one column family in one call.
    fn multi_get(&self, cf: &str, keys: &[&[u8]]) -> Result<MultiGet, StoreError>;
    /// An iterator over one column family (each record it yields counts as a read).
    fn iter(&self, cf: &str, mode: IteratorMode<'_>) -> Result<StoreIter<'_>, StoreError>;
    /// Figures of recently summarised bodies, shared by the store and its snapshots.
    fn stats_cache(&self) -> &Mutex<StatsCache>;

    /// The best connected block.
    fn tip(&self) -> Result<Hash, StoreError> {
        let v = self
            .get(CF_META, META_TIP)?
            .ok_or_else(|| corrupt("tip missing"))?;
        Ok(Hash(v.try_into().map_err(|_| corrupt("tip record"))?))
    }

    /// The state digest at the tip.
    fn digest(&self) -> Result<LtHash, StoreError> {
        let v = self
            .get(CF_META, META_DIGEST)?
            .ok_or_else(|| corrupt("state digest missing"))?;
        LtHash::from_bytes(&v).map_err(corrupt)
    }

    /// The next arrival sequence number.
    fn next_seq(&self) -> Result<u64, StoreError> {
        self.get(CF_META, META_NEXT_SEQ)?
            .and_then(|v| v.try_into().ok())
            .map(u64::from_le_bytes)
            .ok_or_else(|| corrupt("next sequence record"))
    }

    /// A stored header.
    fn header(&self, hash: &Hash) -> Result<Option<BlockHeader>, StoreError> {
        self.get(CF_HEADERS, &hash.0)?
            .map(|v| BlockHeader::decode(&v).map_err(corrupt))
            .transpose()
    }

    /// A stored block.
    fn block(&self, hash: &Hash) -> Result<Option<Block>, StoreError> {
        let Some(header) = self.header(hash)? else {
            return Ok(None);
        };
        let body = self
            .get(CF_BODIES, &hash.0)?
            .ok_or_else(|| corrupt(format!("body of {hash} missing")))?;
        Ok(Some(Block {
            header,
            txs: decode_body(&body)?,
        }))
    }

    /// A block's metadata.
    fn meta(&self, hash: &Hash) -> Result<Option<BlockMeta>, StoreError> {
        self.get(CF_BLOCK_META, &hash.0)?
            .map(|v| BlockMeta::decode(&v).map_err(corrupt))
            .transpose()
    }

    /// Every stored block's metadata (for rebuilding the in-memory index at start).
    fn all_meta(&self) -> Result<Vec<(Hash, BlockMeta)>, StoreError> {
        let mut out = Vec::new();
        for item in self.iter(CF_BLOCK_META, IteratorMode::Start)? {
            let (k, v) = item?;
            let hash = Hash(k.as_ref().try_into().map_err(|_| corrupt("meta key"))?);
            out.push((hash, BlockMeta::decode(&v).map_err(corrupt)?));
        }
        Ok(out)
    }

    /// The best-chain block at `height`.
    fn hash_at(&self, height: u64) -> Result<Option<Hash>, StoreError> {
        self.get(CF_HEIGHTS, &height_key(height))?
            .map(|v| v.try_into().map(Hash).map_err(|_| corrupt("height record")))
            .transpose()
    }

    /// An account (empty if never used).
    fn account(&self, address: &Address) -> Result<Account, StoreError> {
        Ok(self
            .get(CF_ACCOUNTS, &address.0)?
            .map(|v| decode_account(&v).map_err(corrupt))
            .transpose()?
            .unwrap_or_default())
    }

    /// Several accounts in one read.
    fn accounts(&self, addresses: &[Address]) -> Result<Vec<Account>, StoreError> {
        let keys: Vec<&[u8]> = addresses.iter().map(|a| a.0.as_slice()).collect();
        self.multi_get(CF_ACCOUNTS, &keys)?
            .into_iter()
            .map(|r| {
                r.map_err(StoreError::from)?
                    .map(|v| decode_account(&v).map_err(corrupt))
                    .transpose()
                    .map(Option::unwrap_or_default)
            })
            .collect()
    }

    /// Every stored account (for the full consistency check).
    fn for_each_account(&self, mut f: impl FnMut(Address, Account)) -> Result<(), StoreError> {
        for item in self.iter(CF_ACCOUNTS, IteratorMode::Start)? {
            let (k, v) = item?;
            let a = Address(k.as_ref().try_into().map_err(|_| corrupt("account key"))?);
            f(a, decode_account(&v).map_err(corrupt)?);
        }
        Ok(())
    }

    /// The undo record of a connected block.
    fn undo(&self, hash: &Hash) -> Result<BlockUndo, StoreError> {
        let v = self
            .get(CF_UNDO, &hash.0)?
            .ok_or_else(|| corrupt(format!("undo of {hash} missing")))?;
        BlockUndo::decode(&v).map_err(corrupt)
    }

    /// The transfer at `position` of a stored block, decoded alone from the body bytes.
    fn tx_at(&self, block: &Hash, position: u32) -> Result<Option<SignedTransaction>, StoreError> {
        Ok(self
            .txs_at(block, position as usize, 1)?
            .and_then(|(_, mut txs)| txs.pop()))
    }

    /// Up to `count` transfers of a stored block from index `start`, decoded alone from the
    /// body bytes, with the block's transfer count; `None` if the body is not stored.
    fn txs_at(
        &self,
        block: &Hash,
        start: usize,
        count: usize,
    ) -> Result<Option<(usize, Vec<SignedTransaction>)>, StoreError> {
        let Some(body) = self.get_pinned(CF_BODIES, &block.0)? else {
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
    fn raw_block(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(header) = self.get_pinned(CF_HEADERS, &hash.0)? else {
            return Ok(None);
        };
        let Some(body) = self.get_pinned(CF_BODIES, &hash.0)? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(header.len() + body.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&body);
        Ok(Some(out))
    }

    /// Transfer count and fees of a stored body (remembered for recent bodies).
    fn body_stats(&self, block: &Hash) -> Result<Option<BodyStats>, StoreError> {
        let cache = || self.stats_cache().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = cache().get(block) {
            return Ok(Some(s));
        }
        let stats = self.read_body_stats(block)?;
        if let Some(s) = stats {
            cache().insert(*block, s);
        }
        Ok(stats)
    }

    #[doc(hidden)]
    fn read_body_stats(&self, block: &Hash) -> Result<Option<BodyStats>, StoreError> {
        let Some(body) = self.get_pinned(CF_BODIES, &block.0)? else {
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
    fn tx_location(&self, txid: &Hash) -> Result<Option<TxLocation>, StoreError> {
        self.get(CF_TX_INDEX, &txid.0)?
            .map(|v| TxLocation::decode(&v).map_err(corrupt))
            .transpose()
    }

    /// Up to `limit` transaction ids touching `address`, newest first, strictly before the
    /// `(height, position)` cursor if one is given.
    fn address_txs(
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
        let iter = self.iter(
            CF_ADDR_INDEX,
            IteratorMode::From(&start, Direction::Reverse),
        )?;
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
    fn address_tx_count(&self, address: &Address) -> Result<u64, StoreError> {
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
}

/// A RocksDB snapshot that owns a handle on its database, so it can be published and kept by
/// readers on any thread for as long as they need it.
pub struct Snapshot {
    pinned: PinnedSnapshot,
    stats: Arc<Mutex<StatsCache>>,
}

type DbSnapshot<'a> = rocksdb::SnapshotWithThreadMode<'a, DB>;

self_cell::self_cell!(
    struct PinnedSnapshot {
        owner: Arc<DB>,
        #[covariant]
        dependent: DbSnapshot,
    }
);

impl Snapshot {
    pub(super) fn new(db: Arc<DB>, stats: Arc<Mutex<StatsCache>>) -> Snapshot {
        Snapshot {
            pinned: PinnedSnapshot::new(db, |db| db.snapshot()),
            stats,
        }
    }
}

impl StoreRead for Snapshot {
    fn cf(&self, name: &str) -> Result<&ColumnFamily, StoreError> {
        self.pinned
            .borrow_owner()
            .cf_handle(name)
            .ok_or_else(|| corrupt(format!("column family {name} missing")))
    }

    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        reads::note(1);
        Ok(self.pinned.borrow_dependent().get_cf(self.cf(cf)?, key)?)
    }

    fn get_pinned(&self, cf: &str, key: &[u8]) -> Result<Option<DBPinnableSlice<'_>>, StoreError> {
        reads::note(1);
        Ok(self
            .pinned
            .borrow_dependent()
            .get_pinned_cf(self.cf(cf)?, key)?)
    }

    fn multi_get(&self, cf: &str, keys: &[&[u8]]) -> Result<MultiGet, StoreError> {
        reads::note(keys.len());
        let cf = self.cf(cf)?;
        Ok(self
            .pinned
            .borrow_dependent()
            .multi_get_cf(keys.iter().map(|k| (cf, *k))))
    }

    fn iter(&self, cf: &str, mode: IteratorMode<'_>) -> Result<StoreIter<'_>, StoreError> {
        Ok(StoreIter::new(
            self.pinned
                .borrow_dependent()
                .iterator_cf(self.cf(cf)?, mode),
        ))
    }

    fn stats_cache(&self) -> &Mutex<StatsCache> {
        &self.stats
    }
}
