//! The RocksDB chain store: blocks, block metadata, the best-chain indexes, accounts and undo
//! records, with every connect and disconnect written as one atomic, synced WriteBatch.
//!
//! A data dir belongs to one genesis (checked at open) and one process (RocksDB's lock file).
//! The layout is documented in docs/storage.md.

mod history;
pub mod keys;
mod read;
pub mod reads;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ferrite_core::encoding::{Decode, Encode};
use ferrite_core::ledger::BlockUndo;
use ferrite_core::lthash::LtHash;
use ferrite_core::{Account, Address, Block, BlockHeader, Genesis, Hash, SignedTransaction};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, IteratorMode, Options,
    WriteBatch, WriteOptions, DB,
};

pub use history::{BodyStats, StatsCache};
use keys::*;
pub use keys::{BlockMeta, BlockStatus, TxLocation};
pub use read::{MultiGet, Snapshot, StoreRead};
pub use reads::StoreIter;

/// Default RocksDB block cache: enough for the hot accounts and recent blocks of a small node
/// while keeping the whole process well under 100 MiB.
pub const DEFAULT_CACHE_BYTES: usize = 32 * 1024 * 1024;
/// Memtable size per column family before a flush.
const WRITE_BUFFER_BYTES: usize = 4 * 1024 * 1024;
/// Memtables of all column families together: ten families at full size would take 80 MiB,
/// so a shared budget keeps an importing node under its 100 MiB target.
const DB_WRITE_BUFFER_BYTES: usize = 16 * 1024 * 1024;
/// Open files RocksDB may keep; far below common ulimits. The descriptor budget
/// (`crate::fdlimit`) keeps this many for the store before it counts any connection.
pub const MAX_OPEN_FILES: i32 = 256;

/// A record of the peers column family: key and value.
pub type PeerRecord = (Vec<u8>, Vec<u8>);
/// A change to the peers column family: key, and the new value or `None` to delete.
pub type PeerUpdate = (Vec<u8>, Option<Vec<u8>>);

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data dir is open in another process.
    #[error("data dir {0} is in use by another ferrite-node process")]
    Locked(PathBuf),
    /// The data dir cannot be created or written.
    #[error("cannot use data dir {path}: {reason}")]
    Unusable {
        /// The directory.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The data dir belongs to another chain.
    #[error("data dir belongs to genesis {found}, not {expected}; use another --data-dir")]
    WrongGenesis {
        /// Genesis in the store.
        found: Hash,
        /// Genesis of this node.
        expected: Hash,
    },
    /// The data dir was written by an incompatible version.
    #[error("data dir schema version {found} is not {expected}")]
    Schema {
        /// Version in the store.
        found: u32,
        /// Version of this build.
        expected: u32,
    },
    /// A record is missing or does not decode.
    #[error("store is corrupt: {0}")]
    Corrupt(String),
    /// Any other RocksDB failure.
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// Everything one block connect writes, built by the chain and applied atomically.
pub struct ConnectWrite<'a> {
    /// The block.
    pub block: &'a Block,
    /// Its id.
    pub hash: Hash,
    /// Its transaction ids, in order (as validation computed them).
    pub tx_ids: &'a [Hash],
    /// Its metadata with status set to valid.
    pub meta: BlockMeta,
    /// New values of every account the block changed.
    pub accounts: Vec<(Address, Account)>,
    /// The undo record.
    pub undo: &'a BlockUndo,
    /// The state digest after the block.
    pub digest: &'a LtHash,
}

/// Everything one block disconnect writes.
pub struct DisconnectWrite<'a> {
    /// The block being disconnected.
    pub block: &'a Block,
    /// Its id.
    pub hash: Hash,
    /// Restored values of the accounts it had changed.
    pub accounts: Vec<(Address, Account)>,
    /// The new tip (the block's parent).
    pub new_tip: Hash,
    /// The state digest at the new tip.
    pub digest: &'a LtHash,
}

/// The RocksDB store.
pub struct Store {
    db: Arc<DB>,
    path: PathBuf,
    /// Figures of recently summarised bodies (a body never changes for its hash), shared with
    /// every snapshot.
    stats_cache: Arc<Mutex<history::StatsCache>>,
    /// Sync every chain write to disk (always, but in the network simulator).
    sync: bool,
}

/// How durable the store's chain writes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Each connect, disconnect and header batch is synced before it returns: a crash or a
    /// power loss keeps every block the node reported committed. What nodes use.
    Synced,
    /// Writes reach the OS but are not synced: a process crash keeps them, a power loss may
    /// not. Only for the network simulator, whose nodes "crash" inside one process.
    Unsynced,
}

impl Store {
    /// Opens (creating if needed) the store at `path` for `genesis`, with a block cache of
    /// `cache_bytes`.
    pub fn open(path: &Path, genesis: &Genesis, cache_bytes: usize) -> Result<Store, StoreError> {
        Store::open_with(path, genesis, cache_bytes, Durability::Synced)
    }

    /// [`Store::open`] with the given durability.
    pub fn open_with(
        path: &Path,
        genesis: &Genesis,
        cache_bytes: usize,
        durability: Durability,
    ) -> Result<Store, StoreError> {
        std::fs::create_dir_all(path).map_err(|e| StoreError::Unusable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let cache = Cache::new_lru_cache(cache_bytes);
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_bloom_filter(10.0, false);
        table.set_cache_index_and_filter_blocks(true);
        let mut cf_opts = Options::default();
        cf_opts.set_block_based_table_factory(&table);
        cf_opts.set_write_buffer_size(WRITE_BUFFER_BYTES);
        cf_opts.set_max_write_buffer_number(2);
        cf_opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let mut db_opts = cf_opts.clone();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_max_open_files(MAX_OPEN_FILES);
        db_opts.set_keep_log_file_num(2);
        db_opts.set_db_write_buffer_size(DB_WRITE_BUFFER_BYTES);
        let cfs = ALL_CFS.iter().map(|name| {
            let mut opts = cf_opts.clone();
            if *name == CF_ADDR_COUNT {
                opts.set_merge_operator_associative("ferrite_add_i64", add_counts);
            }
            ColumnFamilyDescriptor::new(*name, opts)
        });
        let db = DB::open_cf_descriptors(&db_opts, path, cfs).map_err(|e| {
            let msg = e.to_string();
            if msg.contains("lock") || msg.contains("Resource temporarily unavailable") {
                StoreError::Locked(path.to_path_buf())
            } else if msg.contains("Permission denied") || msg.contains("Read-only") {
                StoreError::Unusable {
                    path: path.to_path_buf(),
                    reason: msg,
                }
            } else {
                StoreError::Rocks(e)
            }
        })?;
        let store = Store {
            db: Arc::new(db),
            path: path.to_path_buf(),
            stats_cache: Default::default(),
            sync: durability == Durability::Synced,
        };
        store.init_or_check(genesis)?;
        Ok(store)
    }

    /// The data dir.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A handle on the peers column family alone, for the P2P layer's address book (which is
    /// not chain data and needs no chain lock).
    pub fn peer_store(&self) -> PeerStore {
        PeerStore {
            db: self.db.clone(),
        }
    }

    /// A snapshot of everything committed so far, for readers.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(self.db.clone(), self.stats_cache.clone())
    }

    fn init_or_check(&self, genesis: &Genesis) -> Result<(), StoreError> {
        let expected = genesis.params.genesis_hash;
        match self.get(CF_META, META_GENESIS)? {
            Some(found) => {
                let found = Hash(found.try_into().map_err(|_| corrupt("genesis record"))?);
                if found != expected {
                    return Err(StoreError::WrongGenesis { found, expected });
                }
                let schema = self
                    .get(CF_META, META_SCHEMA)?
                    .and_then(|v| v.try_into().ok())
                    .map(u32::from_le_bytes)
                    .ok_or_else(|| corrupt("schema version record"))?;
                if schema == 1 {
                    return self.upgrade_from_v1();
                }
                if schema != SCHEMA_VERSION {
                    return Err(StoreError::Schema {
                        found: schema,
                        expected: SCHEMA_VERSION,
                    });
                }
                Ok(())
            }
            None => self.init(genesis),
        }
    }

    /// Writes genesis, its state and the meta records in one synced batch.
    fn init(&self, genesis: &Genesis) -> Result<(), StoreError> {
        let hash = genesis.params.genesis_hash;
        let header = &genesis.block.header;
        let meta = BlockMeta {
            parent: header.prev,
            height: 0,
            timestamp: header.timestamp,
            work: ferrite_core::Target::from_compact(header.bits)
                .map(|t| t.work())
                .unwrap_or(ferrite_core::Work::ZERO),
            status: BlockStatus::Valid,
            seq: 0,
        };
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(CF_HEADERS)?, hash.0, header.encode());
        b.put_cf(self.cf(CF_BODIES)?, hash.0, encode_body(&genesis.block.txs));
        b.put_cf(self.cf(CF_BLOCK_META)?, hash.0, meta.encode());
        b.put_cf(self.cf(CF_HEIGHTS)?, height_key(0), hash.0);
        for (a, acct) in genesis.state.iter() {
            b.put_cf(self.cf(CF_ACCOUNTS)?, a.0, acct.encode());
        }
        let meta_cf = self.cf(CF_META)?;
        b.put_cf(meta_cf, META_SCHEMA, SCHEMA_VERSION.to_le_bytes());
        b.put_cf(meta_cf, META_GENESIS, hash.0);
        b.put_cf(meta_cf, META_TIP, hash.0);
        b.put_cf(meta_cf, META_DIGEST, genesis.state.digest().to_bytes());
        b.put_cf(meta_cf, META_NEXT_SEQ, 1u64.to_le_bytes());
        self.write(b)
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut opts = WriteOptions::default();
        opts.set_sync(self.sync);
        Ok(self.db.write_opt(batch, &opts)?)
    }

    /// Stores a block that passed the stateless checks, with its metadata, and advances the
    /// arrival sequence, in one batch.
    pub fn put_block(
        &self,
        hash: &Hash,
        block: &Block,
        meta: &BlockMeta,
    ) -> Result<(), StoreError> {
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(CF_HEADERS)?, hash.0, block.header.encode());
        b.put_cf(self.cf(CF_BODIES)?, hash.0, encode_body(&block.txs));
        b.put_cf(self.cf(CF_BLOCK_META)?, hash.0, meta.encode());
        b.put_cf(
            self.cf(CF_META)?,
            META_NEXT_SEQ,
            (meta.seq + 1).to_le_bytes(),
        );
        self.write(b)
    }

    /// Stores headers that passed the header checks (headers-first sync), with their metadata,
    /// and advances the arrival sequence, in one batch. Not synced, like [`Store::put_body`]:
    /// a crash may lose the batch as a whole (headers are asked for again), and the next synced
    /// write (a connect) makes the log durable up to and including it.
    pub fn put_headers(
        &self,
        headers: &[(Hash, BlockHeader, BlockMeta)],
    ) -> Result<(), StoreError> {
        let Some(last) = headers.last() else {
            return Ok(());
        };
        let mut b = WriteBatch::default();
        for (hash, header, meta) in headers {
            b.put_cf(self.cf(CF_HEADERS)?, hash.0, header.encode());
            b.put_cf(self.cf(CF_BLOCK_META)?, hash.0, meta.encode());
        }
        b.put_cf(
            self.cf(CF_META)?,
            META_NEXT_SEQ,
            (last.2.seq + 1).to_le_bytes(),
        );
        Ok(self.db.write(b)?)
    }

    /// Adds the body of a block whose header is stored, with its new metadata, in one batch.
    /// Not synced: a crash may lose it (the header stays and the body is downloaded again), and
    /// the connect that usually follows syncs the log up to and including it.
    pub fn put_body(&self, hash: &Hash, block: &Block, meta: &BlockMeta) -> Result<(), StoreError> {
        let mut b = WriteBatch::default();
        b.put_cf(self.cf(CF_BODIES)?, hash.0, encode_body(&block.txs));
        b.put_cf(self.cf(CF_BLOCK_META)?, hash.0, meta.encode());
        Ok(self.db.write(b)?)
    }

    /// Updates the status of stored blocks.
    pub fn set_meta(&self, metas: &[(Hash, BlockMeta)]) -> Result<(), StoreError> {
        let mut b = WriteBatch::default();
        for (h, m) in metas {
            b.put_cf(self.cf(CF_BLOCK_META)?, h.0, m.encode());
        }
        self.write(b)
    }

    /// Adds account writes to a batch: empty accounts are deleted, others stored.
    fn put_accounts(
        &self,
        b: &mut WriteBatch,
        accounts: &[(Address, Account)],
    ) -> Result<(), StoreError> {
        let cf = self.cf(CF_ACCOUNTS)?;
        for (a, acct) in accounts {
            if acct.is_empty() {
                b.delete_cf(cf, a.0);
            } else {
                b.put_cf(cf, a.0, acct.encode());
            }
        }
        Ok(())
    }

    /// Connects a block: accounts, undo, indexes, status, tip and digest in one synced batch.
    pub fn connect(&self, w: ConnectWrite<'_>) -> Result<(), StoreError> {
        let mut b = WriteBatch::default();
        self.put_accounts(&mut b, &w.accounts)?;
        b.put_cf(self.cf(CF_UNDO)?, w.hash.0, w.undo.encode());
        let height = w.block.header.height;
        let tx_index = self.cf(CF_TX_INDEX)?;
        let addr_index = self.cf(CF_ADDR_INDEX)?;
        for (pos, (tx, id)) in w.block.txs.iter().zip(w.tx_ids).enumerate() {
            let pos = pos as u32;
            let loc = TxLocation {
                block: w.hash,
                position: pos,
            };
            b.put_cf(tx_index, id.0, loc.encode());
            b.put_cf(
                addr_index,
                addr_index_key(&tx.tx.sender_address(), height, pos),
                id.0,
            );
            b.put_cf(
                addr_index,
                addr_index_key(&tx.tx.recipient, height, pos),
                id.0,
            );
        }
        self.merge_counts(&mut b, w.block, 1)?;
        b.put_cf(self.cf(CF_HEIGHTS)?, height_key(height), w.hash.0);
        b.put_cf(self.cf(CF_BLOCK_META)?, w.hash.0, w.meta.encode());
        let meta = self.cf(CF_META)?;
        b.put_cf(meta, META_TIP, w.hash.0);
        b.put_cf(meta, META_DIGEST, w.digest.to_bytes());
        self.write(b)
    }

    /// Disconnects the tip block: restores accounts, removes its index entries, moves the tip
    /// to its parent, in one synced batch. The undo record stays (the block may come back).
    pub fn disconnect(&self, w: DisconnectWrite<'_>) -> Result<(), StoreError> {
        let mut b = WriteBatch::default();
        self.put_accounts(&mut b, &w.accounts)?;
        let height = w.block.header.height;
        let tx_index = self.cf(CF_TX_INDEX)?;
        let addr_index = self.cf(CF_ADDR_INDEX)?;
        let ids = ferrite_core::validation::tx_ids(w.block);
        for (pos, (tx, id)) in w.block.txs.iter().zip(&ids).enumerate() {
            let pos = pos as u32;
            b.delete_cf(tx_index, id.0);
            b.delete_cf(
                addr_index,
                addr_index_key(&tx.tx.sender_address(), height, pos),
            );
            b.delete_cf(addr_index, addr_index_key(&tx.tx.recipient, height, pos));
        }
        self.merge_counts(&mut b, w.block, -1)?;
        b.delete_cf(self.cf(CF_HEIGHTS)?, height_key(height));
        let meta = self.cf(CF_META)?;
        b.put_cf(meta, META_TIP, w.new_tip.0);
        b.put_cf(meta, META_DIGEST, w.digest.to_bytes());
        self.write(b)
    }

    /// Bytes the store occupies on disk (live SST and WAL files).
    pub fn disk_bytes(&self) -> u64 {
        dir_size(&self.path)
    }
}

impl StoreRead for Store {
    fn cf(&self, name: &str) -> Result<&ColumnFamily, StoreError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| corrupt(format!("column family {name} missing")))
    }

    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        reads::note(1);
        Ok(self.db.get_cf(self.cf(cf)?, key)?)
    }

    fn get_pinned(
        &self,
        cf: &str,
        key: &[u8],
    ) -> Result<Option<rocksdb::DBPinnableSlice<'_>>, StoreError> {
        reads::note(1);
        Ok(self.db.get_pinned_cf(self.cf(cf)?, key)?)
    }

    fn multi_get(&self, cf: &str, keys: &[&[u8]]) -> Result<MultiGet, StoreError> {
        reads::note(keys.len());
        let cf = self.cf(cf)?;
        Ok(self.db.multi_get_cf(keys.iter().map(|k| (cf, *k))))
    }

    fn iter(&self, cf: &str, mode: IteratorMode<'_>) -> Result<StoreIter<'_>, StoreError> {
        Ok(StoreIter::new(self.db.iterator_cf(self.cf(cf)?, mode)))
    }

    fn stats_cache(&self) -> &Mutex<history::StatsCache> {
        &self.stats_cache
    }
}

/// The peers column family: the P2P layer's address book and bans (docs/storage.md).
#[derive(Clone)]
pub struct PeerStore {
    db: Arc<DB>,
}

impl PeerStore {
    fn cf(&self) -> Result<&ColumnFamily, StoreError> {
        self.db
            .cf_handle(CF_PEERS)
            .ok_or_else(|| corrupt(format!("column family {CF_PEERS} missing")))
    }

    /// Every record.
    pub fn peers(&self) -> Result<Vec<PeerRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf()?, IteratorMode::Start) {
            let (k, v) = item?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// Replaces peer records: `None` deletes. One batch, not synced (losing the last minute of
    /// address-book changes in a crash is harmless).
    pub fn update_peers(&self, records: &[PeerUpdate]) -> Result<(), StoreError> {
        let mut b = WriteBatch::default();
        let cf = self.cf()?;
        for (k, v) in records {
            match v {
                Some(v) => b.put_cf(cf, k, v),
                None => b.delete_cf(cf, k),
            }
        }
        Ok(self.db.write(b)?)
    }
}

/// Name of the file in a data dir that records its genesis configuration.
pub const GENESIS_FILE: &str = "genesis.json";

/// Records `cfg` as the genesis of `data_dir` (if not yet recorded), atomically: written to a
/// temporary file, synced, then renamed.
pub fn record_genesis(
    data_dir: &Path,
    cfg: &ferrite_core::GenesisConfig,
) -> Result<(), StoreError> {
    let path = data_dir.join(GENESIS_FILE);
    if path.exists() {
        return Ok(());
    }
    let unusable = |e: std::io::Error| StoreError::Unusable {
        path: data_dir.to_path_buf(),
        reason: e.to_string(),
    };
    let tmp = data_dir.join(format!("{GENESIS_FILE}.tmp"));
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp).map_err(unusable)?;
        f.write_all(cfg.to_json().as_bytes()).map_err(unusable)?;
        f.sync_all().map_err(unusable)?;
    }
    std::fs::rename(&tmp, &path).map_err(unusable)
}

/// Why a genesis file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GenesisFileError {
    /// It cannot be read.
    #[error("cannot read genesis file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is not a valid genesis.
    #[error("genesis file {path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        source: ferrite_core::genesis::GenesisError,
    },
}

/// Reads the genesis document at `path` (a data dir's record, or `--genesis`).
pub fn read_genesis(path: &Path) -> Result<ferrite_core::GenesisConfig, GenesisFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| GenesisFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    ferrite_core::GenesisConfig::from_json(&text).map_err(|source| GenesisFileError::Invalid {
        path: path.to_path_buf(),
        source,
    })
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Body encoding: u32 count ‖ signed transactions (as in a block, without the header).
pub fn encode_body(txs: &[SignedTransaction]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + txs.len() * ferrite_core::transaction::SIGNED_TX_LEN);
    out.extend_from_slice(&(txs.len() as u32).to_le_bytes());
    for t in txs {
        t.encode_to(&mut out);
    }
    out
}

fn decode_body(bytes: &[u8]) -> Result<Vec<SignedTransaction>, StoreError> {
    let mut r = ferrite_core::encoding::Reader::new(bytes);
    let n = r
        .count(ferrite_core::transaction::SIGNED_TX_LEN)
        .map_err(corrupt)?;
    let mut txs = Vec::with_capacity(n as usize);
    for _ in 0..n {
        txs.push(SignedTransaction::decode_from(&mut r).map_err(corrupt)?);
    }
    r.finish().map_err(corrupt)?;
    Ok(txs)
}
