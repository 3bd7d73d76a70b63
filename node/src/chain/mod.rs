//! The chain: the in-memory block index over the store, heaviest-chain fork choice, reorgs,
//! invalid-branch marking and the orphan pool.
//!
//! Every block, from the miner, a peer or an import, enters through one private path, `submit`,
//! as a `BodyChecked` (its transfer ids matched to its merkle root): [`Chain::submit_verified`]
//! for a block whose signatures were verified ahead, [`Chain::submit_body`] otherwise, and
//! [`Chain::submit_block`] for a plain block (which checks the body first). A block whose header
//! and stateless checks pass is stored with its cumulative work; whenever a stored branch has
//! more work than the tip, the chain disconnects to the fork point and connects the branch
//! through ferrite-core's `connect_body_checked`, one atomic store write per block. A block
//! that fails is marked invalid with its descendants and the chain settles on the best valid tip.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use ferrite_core::encoding::Encode;
use ferrite_core::ledger::{self, BlockUndo};
use ferrite_core::lthash::LtHash;
use ferrite_core::validation::{self, BlockError, HeaderError, ParentInfo, MEDIAN_TIME_SPAN};
use ferrite_core::{
    Account, Address, Block, BodyChecked, ChainParams, Genesis, Hash, SignedTransaction, State,
    Target, Work,
};

mod changelog;
mod headers;
mod view;

use changelog::ChangeLog;
pub use headers::{HeadersAdded, MAX_LOCATOR_LEN};
pub use view::{ChainView, MISSING_LISTED};

use crate::orphans::OrphanPool;
use crate::store::{
    BlockMeta, BlockStatus, ConnectWrite, DisconnectWrite, Durability, Store, StoreError, StoreRead,
};
use crate::verified::VerifiedBlock;

/// Why a block was refused or the chain failed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The block breaks a consensus rule.
    #[error("invalid block: {0}")]
    Invalid(#[from] BlockError),
    /// The block is already known to be invalid, or descends from one that is.
    #[error("block {0} is known to be invalid")]
    KnownInvalid(Hash),
    /// A header's parent is unknown (a header batch that does not connect).
    #[error("header {0} does not connect to a known block")]
    UnknownParent(Hash),
    /// The store failed; the node must stop.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What happened to a submitted block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Already stored.
    Known,
    /// Parent unknown: kept in the orphan pool.
    Orphan,
    /// Stored; the tip did not change (a side branch, or equal work).
    Stored,
    /// The tip changed.
    TipChanged(TipChange),
}

/// A change of tip, for the mempool, the miner and subscribers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TipChange {
    /// Blocks taken off the best chain, tip first.
    pub disconnected: Vec<Hash>,
    /// Blocks added to the best chain, in order.
    pub connected: Vec<Hash>,
    /// Transactions of disconnected blocks (candidates to return to the mempool).
    pub returned_txs: Vec<SignedTransaction>,
    /// Ids of transactions in connected blocks.
    pub mined_txs: Vec<Hash>,
    /// Every account changed by a disconnected block (their pending transfers need a re-check).
    pub touched_by_disconnect: Vec<Address>,
    /// Senders of transfers in connected blocks (their pending transfers need a re-check).
    pub senders_of_connected: Vec<Address>,
    /// The new tip block, when the change ends with a block it connected.
    pub tip_block: Option<std::sync::Arc<BodyChecked>>,
}

/// A summary of the tip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TipInfo {
    /// Tip id.
    pub hash: Hash,
    /// Tip height.
    pub height: u64,
    /// Cumulative work.
    pub work: Work,
    /// Tip timestamp.
    pub timestamp: u64,
    /// State root at the tip.
    pub state_root: Hash,
}

/// The chain over its store.
pub struct Chain {
    store: Store,
    params: std::sync::Arc<ChainParams>,
    index: HashMap<Hash, BlockMeta>,
    /// Non-invalid blocks with their body, ordered by (work, first seen): the last element is
    /// the best candidate tip.
    candidates: BTreeSet<(Work, std::cmp::Reverse<u64>, Hash)>,
    /// Every non-invalid header, bodies or not, in the same order: the last is the best header,
    /// the branch headers-first sync downloads.
    headers: BTreeSet<(Work, std::cmp::Reverse<u64>, Hash)>,
    tip: Hash,
    digest: LtHash,
    next_seq: u64,
    orphans: OrphanPool,
    /// Ids of blocks whose signatures were verified ahead of connecting (bounded).
    sigs_verified: std::collections::HashSet<Hash>,
    /// The block stored last, usually connected right after: saves reading it back and hashing
    /// its transfers again.
    last_stored: Option<BodyChecked>,
    /// Missing bodies on the best header chain (headers-first sync).
    missing: headers::MissingBodies,
    /// Header-only blocks set aside from `headers` because their bodies could not be had
    /// (see [`Chain::withhold`]), with their header-only descendants.
    withheld: std::collections::HashSet<Hash>,
    /// Blocks that failed validation when the last fork-choice run connected them, with the
    /// rule (the run itself ends `Ok`, on the best valid tip).
    last_failures: Vec<(Hash, BlockError)>,
    /// The locator of the best header, kept until the best header changes.
    locator: Option<(Hash, std::sync::Arc<Vec<Hash>>)>,
    /// Views built so far.
    views: u64,
}

/// Most block ids remembered as signature-verified: a pipeline verifies only a few blocks ahead.
const MAX_SIGS_VERIFIED: usize = 64;

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Chain {
    /// Opens the chain in `data_dir` for `genesis`, checks the store, and finishes any branch
    /// switch a crash interrupted.
    pub fn open(
        data_dir: &Path,
        genesis: &Genesis,
        cache_bytes: usize,
    ) -> Result<Chain, ChainError> {
        Chain::open_with(data_dir, genesis, cache_bytes, Durability::Synced)
    }

    /// [`Chain::open`] with the store's durability given (the simulator's nodes do not sync).
    pub fn open_with(
        data_dir: &Path,
        genesis: &Genesis,
        cache_bytes: usize,
        durability: Durability,
    ) -> Result<Chain, ChainError> {
        let store = Store::open_with(data_dir, genesis, cache_bytes, durability)?;
        let mut index = HashMap::new();
        let mut candidates = BTreeSet::new();
        let mut headers = BTreeSet::new();
        for (h, m) in store.all_meta()? {
            if !m.status.is_invalid() {
                headers.insert((m.work, std::cmp::Reverse(m.seq), h));
            }
            if !m.status.is_invalid() && m.status.has_body() {
                candidates.insert((m.work, std::cmp::Reverse(m.seq), h));
            }
            index.insert(h, m);
        }
        let tip = store.tip()?;
        let digest = store.digest()?;
        let next_seq = store.next_seq()?;
        let mut chain = Chain {
            store,
            params: std::sync::Arc::new(genesis.params.clone()),
            index,
            candidates,
            headers,
            tip,
            digest,
            next_seq,
            orphans: OrphanPool::default(),
            sigs_verified: std::collections::HashSet::new(),
            last_stored: None,
            missing: headers::MissingBodies::default(),
            withheld: std::collections::HashSet::new(),
            last_failures: Vec::new(),
            locator: None,
            views: 0,
        };
        chain.check_tip()?;
        chain.activate_best(now_secs())?;
        Ok(chain)
    }

    /// The rule `hash` broke if it failed validation in the last fork-choice run (a submission
    /// that ends `Ok` may still have had its own block refused while connecting).
    pub fn failed_in_last_run(&self, hash: &Hash) -> Option<BlockError> {
        self.last_failures
            .iter()
            .find(|(h, _)| h == hash)
            .map(|(_, e)| *e)
    }

    /// The consensus parameters.
    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    /// The store (read access for queries).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A consistent view of the chain as it is now, for readers (see [`ChainView`]).
    pub fn view(&mut self) -> Result<std::sync::Arc<ChainView>, ChainError> {
        let tip = self.tip_info()?;
        let tip_parent = self.parent_info(&tip.hash)?;
        let (best_hash, best_meta) = self.best_header()?;
        let best_parent = if best_hash == tip.hash {
            tip_parent
        } else {
            self.parent_info(&best_hash)?
        };
        let best = (best_hash, best_meta, best_parent);
        let locator = match &self.locator {
            Some((h, l)) if *h == best.0 => l.clone(),
            _ => {
                let l = std::sync::Arc::new(self.locator_from(best.0)?);
                self.locator = Some((best.0, l.clone()));
                l
            }
        };
        let missing = std::sync::Arc::new(self.missing_bodies(MISSING_LISTED)?);
        self.views += 1;
        Ok(std::sync::Arc::new(ChainView::new(
            self.views,
            tip,
            tip_parent,
            best,
            locator,
            missing,
            self.orphans.len(),
            self.digest.clone(),
            self.params.clone(),
            self.store.snapshot(),
        )))
    }

    /// Verifies that the tip is consistent: indexed at its height, valid, and its header's state
    /// root equals the stored digest.
    pub fn check_tip(&self) -> Result<TipInfo, ChainError> {
        let info = self.tip_info()?;
        let meta = self.meta(&self.tip)?;
        if meta.status != BlockStatus::Valid {
            return Err(StoreError::Corrupt(format!("tip {} is not valid", self.tip)).into());
        }
        if self.store.hash_at(meta.height)? != Some(self.tip) {
            return Err(StoreError::Corrupt(format!(
                "tip {} not at height {}",
                self.tip, meta.height
            ))
            .into());
        }
        if info.state_root != self.digest.root() {
            return Err(StoreError::Corrupt(format!(
                "state digest {} does not match the tip header's state root {}",
                self.digest.root(),
                info.state_root
            ))
            .into());
        }
        Ok(info)
    }

    /// Full consistency check: every account re-hashed into a fresh digest, which must equal the
    /// stored one, and the height index must link from the tip down to genesis.
    pub fn check_full(&self) -> Result<TipInfo, ChainError> {
        let info = self.check_tip()?;
        let mut d = LtHash::zero();
        self.store
            .for_each_account(|a, acct| d.add(&acct.leaf(&a)))?;
        if d != self.digest {
            return Err(StoreError::Corrupt(
                "accounts do not match the stored state digest".into(),
            )
            .into());
        }
        let mut h = self.tip;
        for height in (0..=info.height).rev() {
            if self.store.hash_at(height)? != Some(h) {
                return Err(StoreError::Corrupt(format!("height index broken at {height}")).into());
            }
            h = self.meta(&h)?.parent;
        }
        Ok(info)
    }

    fn meta(&self, h: &Hash) -> Result<BlockMeta, ChainError> {
        self.index
            .get(h)
            .copied()
            .ok_or_else(|| StoreError::Corrupt(format!("block {h} missing from index")).into())
    }

    /// The tip.
    pub fn tip_info(&self) -> Result<TipInfo, ChainError> {
        let meta = self.meta(&self.tip)?;
        let header = self
            .store
            .header(&self.tip)?
            .ok_or_else(|| StoreError::Corrupt("tip header missing".into()))?;
        Ok(TipInfo {
            hash: self.tip,
            height: meta.height,
            work: meta.work,
            timestamp: meta.timestamp,
            state_root: header.state_root,
        })
    }

    /// The state digest at the tip.
    pub fn digest(&self) -> &LtHash {
        &self.digest
    }

    /// Metadata of a known block.
    pub fn block_meta(&self, h: &Hash) -> Option<BlockMeta> {
        self.index.get(h).copied()
    }

    /// Number of blocks in the orphan pool.
    pub fn orphan_count(&self) -> usize {
        self.orphans.len()
    }

    /// Parent facts for a child of `parent`: walks up to [`MEDIAN_TIME_SPAN`] ancestors.
    pub fn parent_info(&self, parent: &Hash) -> Result<ParentInfo, ChainError> {
        let meta = self.meta(parent)?;
        let mut times = Vec::with_capacity(MEDIAN_TIME_SPAN);
        let mut m = meta;
        loop {
            times.push(m.timestamp);
            if times.len() == MEDIAN_TIME_SPAN || m.height == 0 {
                break;
            }
            m = self.meta(&m.parent)?;
        }
        times.reverse();
        Ok(ParentInfo {
            hash: *parent,
            height: meta.height,
            timestamp: meta.timestamp,
            median_time_past: validation::median_time_past(&times),
        })
    }

    /// A partial state at the tip holding `addresses`.
    pub fn state_view(&self, addresses: &[Address]) -> Result<State, ChainError> {
        let accts = self.store.accounts(addresses)?;
        Ok(State::partial(
            self.digest.clone(),
            addresses.iter().copied().zip(accts),
        ))
    }

    /// An account at the tip.
    pub fn account(&self, a: &Address) -> Result<Account, ChainError> {
        Ok(self.store.account(a)?)
    }

    /// Submits a block whose signatures were verified ahead, off the writer's lock (import and
    /// sync verify the next block while this one connects; a mined block's transfers all came
    /// through the mempool).
    pub fn submit_verified(&mut self, block: VerifiedBlock) -> Result<Submitted, ChainError> {
        self.submit_verified_at(block, now_secs())
    }

    /// [`Chain::submit_verified`] with `now` as local time.
    pub fn submit_verified_at(
        &mut self,
        block: VerifiedBlock,
        now: u64,
    ) -> Result<Submitted, ChainError> {
        self.submit(block.into_body(), now, true)
    }

    /// Submits a block from any source, using the local clock.
    pub fn submit_block(&mut self, block: Block) -> Result<Submitted, ChainError> {
        self.submit_block_at(block, now_secs())
    }

    /// Submits a block with `now` as local time.
    pub fn submit_block_at(&mut self, block: Block, now: u64) -> Result<Submitted, ChainError> {
        self.submit_body_at(BodyChecked::new(block)?, now)
    }

    /// [`Chain::submit_body_at`] with the local clock.
    pub fn submit_body(&mut self, body: BodyChecked) -> Result<Submitted, ChainError> {
        self.submit_body_at(body, now_secs())
    }

    /// Submits a block whose body was checked against its merkle root (its transfer ids are
    /// reused), with `now` as local time; its signatures are verified at connect.
    pub fn submit_body_at(&mut self, body: BodyChecked, now: u64) -> Result<Submitted, ChainError> {
        self.submit(body, now, false)
    }

    fn submit(
        &mut self,
        block: BodyChecked,
        now: u64,
        preverified: bool,
    ) -> Result<Submitted, ChainError> {
        match self.store_block(block, now, preverified)? {
            Submitted::Stored => self.activate_best(now),
            other => Ok(other),
        }
    }

    /// Stores a block (and any orphans it adopts) without running fork choice.
    ///
    /// `preverified` (the block came as a [`VerifiedBlock`]) marks the block's signatures as
    /// checked. The body matched its header's merkle root ([`BodyChecked`]), so the mark, keyed
    /// by the block id, covers exactly these signatures.
    fn store_block(
        &mut self,
        body: BodyChecked,
        now: u64,
        preverified: bool,
    ) -> Result<Submitted, ChainError> {
        let hash = body.hash();
        let block = body.block();
        let known = self.index.get(&hash).copied();
        if let Some(m) = known {
            if m.status.is_invalid() {
                return Err(ChainError::KnownInvalid(hash));
            }
            if m.status.has_body() {
                return Ok(Submitted::Known);
            }
        }
        let parent = block.header.prev;
        let parent_meta = match self.index.get(&parent).copied() {
            Some(p) if p.status.is_invalid() => return Err(ChainError::KnownInvalid(parent)),
            Some(p) if p.status.has_body() => p,
            // Unknown parent, or only its header: wait in the orphan pool for its body.
            _ => {
                self.orphans.insert(body);
                return Ok(Submitted::Orphan);
            }
        };
        if known.is_none() {
            let info = self.parent_info(&parent)?;
            validation::check_header(&self.params, &block.header, &info, now)
                .map_err(BlockError::from)?;
        }
        let size = block.encoded_len() as u64;
        if size > self.params.max_block_size {
            return Err(BlockError::TooLarge {
                size,
                limit: self.params.max_block_size,
            }
            .into());
        }
        if preverified {
            if self.sigs_verified.len() >= MAX_SIGS_VERIFIED {
                self.sigs_verified.clear();
            }
            self.sigs_verified.insert(hash);
        }
        let block_work = Target::from_compact(block.header.bits)
            .map_err(|_| BlockError::Header(HeaderError::InsufficientWork))?
            .work();
        let work = parent_meta
            .work
            .checked_add(block_work)
            .ok_or(BlockError::Header(HeaderError::InsufficientWork))?;
        let meta = match known {
            // The header arrived first: keep its arrival order, add the body.
            Some(m) => {
                if self.withheld.contains(&hash) {
                    // Its body came after all: the branch set aside counts again.
                    self.restore_withheld();
                }
                let meta = BlockMeta {
                    status: BlockStatus::Stored,
                    ..m
                };
                self.store.put_body(&hash, block, &meta)?;
                meta
            }
            None => {
                let meta = BlockMeta {
                    parent,
                    height: block.header.height,
                    timestamp: block.header.timestamp,
                    work,
                    status: BlockStatus::Stored,
                    seq: self.next_seq,
                };
                self.store.put_block(&hash, block, &meta)?;
                self.next_seq += 1;
                self.headers
                    .insert((work, std::cmp::Reverse(meta.seq), hash));
                meta
            }
        };
        self.index.insert(hash, meta);
        self.candidates
            .insert((work, std::cmp::Reverse(meta.seq), hash));
        self.last_stored = Some(body);
        // Adopt orphans that were waiting for this block (their errors only concern them).
        for child in self.orphans.take_children(&hash) {
            let child_hash = child.hash();
            match self.store_block(child, now, false) {
                Err(ChainError::Store(e)) => return Err(e.into()),
                Err(e) => tracing::debug!(block = %child_hash, error = %e, "orphan rejected"),
                Ok(_) => {}
            }
        }
        Ok(Submitted::Stored)
    }

    /// Moves the tip to the best valid candidate (most work, first seen on ties), marking
    /// blocks that fail as invalid, and reports the net change.
    fn activate_best(&mut self, now: u64) -> Result<Submitted, ChainError> {
        let mut log = ChangeLog::default();
        self.last_failures.clear();
        // The tip is always a candidate, so this stops exactly when the tip is the best.
        while let Some(&(_, _, best)) = self.candidates.last() {
            if best == self.tip {
                break;
            }
            let (down, up) = self.path_to(&best)?;
            for _ in down {
                self.disconnect_tip(&mut log)?;
            }
            for h in up {
                match self.connect(&h, &mut log, now) {
                    Ok(()) => {}
                    Err(ChainError::Invalid(err)) => {
                        tracing::warn!(block = %h, error = %err, "block failed validation; marking its branch invalid");
                        self.mark_invalid(&h)?;
                        self.last_failures.push((h, err));
                        break;
                    }
                    Err(other) => return Err(other),
                }
            }
        }
        match log.finish() {
            Some(change) => Ok(Submitted::TipChanged(change)),
            None => Ok(Submitted::Stored),
        }
    }

    /// Blocks to disconnect (tip first) and to connect (in order) to reach `target`.
    fn path_to(&self, target: &Hash) -> Result<(Vec<Hash>, Vec<Hash>), ChainError> {
        let mut a = self.tip;
        let mut b = *target;
        let mut down = Vec::new();
        let mut up = Vec::new();
        let mut ma = self.meta(&a)?;
        let mut mb = self.meta(&b)?;
        while ma.height > mb.height {
            down.push(a);
            a = ma.parent;
            ma = self.meta(&a)?;
        }
        while mb.height > ma.height {
            up.push(b);
            b = mb.parent;
            mb = self.meta(&b)?;
        }
        while a != b {
            down.push(a);
            up.push(b);
            a = ma.parent;
            b = mb.parent;
            ma = self.meta(&a)?;
            mb = self.meta(&b)?;
        }
        up.reverse();
        Ok((down, up))
    }

    fn connect(&mut self, h: &Hash, log: &mut ChangeLog, now: u64) -> Result<(), ChainError> {
        let body = match self.last_stored.take() {
            Some(cached) if cached.hash() == *h => cached,
            _ => {
                let block = self
                    .store
                    .block(h)?
                    .ok_or_else(|| StoreError::Corrupt(format!("block {h} missing")))?;
                // Only bodies that matched their header were stored.
                BodyChecked::new(block).map_err(|_| {
                    StoreError::Corrupt(format!("stored body of {h} does not match its header"))
                })?
            }
        };
        let block = body.block();
        let mut addrs: Vec<Address> = Vec::with_capacity(block.txs.len() * 2 + 1);
        for t in &block.txs {
            addrs.push(t.tx.sender_address());
            addrs.push(t.tx.recipient);
        }
        addrs.push(block.header.miner);
        addrs.sort_unstable();
        addrs.dedup();
        let mut state = self.state_view(&addrs)?;
        let parent = self.parent_info(&block.header.prev)?;
        let signatures = if self.sigs_verified.remove(h) {
            validation::Signatures::AlreadyVerified
        } else {
            validation::Signatures::Verify
        };
        let done = validation::connect_body_checked(
            &self.params,
            &body,
            &parent,
            &mut state,
            now.max(block.header.timestamp),
            signatures,
        )?;
        let accounts: Vec<(Address, Account)> = done
            .undo
            .previous
            .iter()
            .map(|(a, _)| (*a, state.account(a)))
            .collect();
        let mut meta = self.meta(h)?;
        meta.status = BlockStatus::Valid;
        self.store.connect(ConnectWrite {
            block,
            hash: *h,
            tx_ids: &done.tx_ids,
            meta,
            accounts,
            undo: &done.undo,
            digest: state.digest(),
        })?;
        self.index.insert(*h, meta);
        self.tip = *h;
        self.digest = state.digest().clone();
        let senders = block.txs.iter().map(|t| t.tx.sender_address()).collect();
        log.connected(std::sync::Arc::new(body), done.tx_ids, senders);
        Ok(())
    }

    fn disconnect_tip(&mut self, log: &mut ChangeLog) -> Result<(), ChainError> {
        let h = self.tip;
        let meta = self.meta(&h)?;
        if meta.height == 0 {
            return Err(StoreError::Corrupt("asked to disconnect genesis".into()).into());
        }
        let block = self
            .store
            .block(&h)?
            .ok_or_else(|| StoreError::Corrupt(format!("block {h} missing")))?;
        let undo: BlockUndo = self.store.undo(&h)?;
        let addrs: Vec<Address> = undo.previous.iter().map(|(a, _)| *a).collect();
        let mut state = self.state_view(&addrs)?;
        ledger::undo_block(&mut state, &undo);
        let parent_header = self
            .store
            .header(&meta.parent)?
            .ok_or_else(|| StoreError::Corrupt("parent header missing".into()))?;
        if state.root() != parent_header.state_root {
            return Err(StoreError::Corrupt(format!(
                "undo of {h} does not restore the parent's state root"
            ))
            .into());
        }
        self.store.disconnect(DisconnectWrite {
            block: &block,
            hash: h,
            accounts: undo.previous.clone(),
            new_tip: meta.parent,
            digest: state.digest(),
        })?;
        self.tip = meta.parent;
        self.digest = state.digest().clone();
        let mut touched: Vec<Address> = undo.previous.iter().map(|(a, _)| *a).collect();
        touched.sort_unstable();
        log.disconnected(h, block.txs, touched);
        Ok(())
    }

    /// Marks `bad` invalid and every stored descendant invalid-ancestor.
    fn mark_invalid(&mut self, bad: &Hash) -> Result<(), ChainError> {
        let mut changed = Vec::new();
        let mut frontier = vec![*bad];
        let mut first = true;
        while let Some(h) = frontier.pop() {
            if let Some(m) = self.index.get_mut(&h) {
                self.candidates
                    .remove(&(m.work, std::cmp::Reverse(m.seq), h));
                self.headers.remove(&(m.work, std::cmp::Reverse(m.seq), h));
                m.status = if first {
                    BlockStatus::Invalid
                } else {
                    BlockStatus::InvalidAncestor
                };
                changed.push((h, *m));
            }
            first = false;
            // Descendants: blocks whose parent is h (a scan; invalid branches are rare).
            frontier.extend(
                self.index
                    .iter()
                    .filter(|(_, m)| m.parent == h)
                    .map(|(c, _)| *c),
            );
        }
        self.store.set_meta(&changed)?;
        Ok(())
    }
}
