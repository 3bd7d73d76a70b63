//! The running node: the chain (one writer, behind a lock), the published [`ChainView`] every
//! reader works from, the mempool, and the generation counters that tell the miner when the tip
//! or the pool changed.
//!
//! Lock order is always chain, then mempool. A block commit takes the mempool lock before it
//! publishes the new view and releases the chain lock: the mempool's clean-up then runs after
//! the chain lock is free but in commit order, and whoever holds the mempool lock sees a pool
//! and a view of the same tip (readers that need both lock the pool first). The view is
//! published before the tip is announced, so peers asking for the new block get it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use ferrite_core::template::assemble_block;
use ferrite_core::validation::BlockError;
use ferrite_core::{
    Address, Block, BlockHeader, BodyChecked, ChainParams, Hash, SignedTransaction,
};

use tokio::sync::broadcast;

use crate::chain::{Chain, ChainError, ChainView, Submitted, TipInfo};
use crate::mempool::{DropReason, Mempool, MempoolConfig, MempoolError};
use crate::store::{PeerStore, StoreRead};
pub use crate::verified::CheckedBlock;
use crate::verified::VerifiedTx;

/// Why a transaction submission failed.
#[derive(Debug, thiserror::Error)]
pub enum SubmitTxError {
    /// The mempool refused it (or its signature does not verify).
    #[error(transparent)]
    Rejected(#[from] MempoolError),
    /// The chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// Events other parts of the node (the network, later the HTTP API) subscribe to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// The tip changed.
    Tip {
        /// Blocks added to the best chain, in order.
        connected: Vec<Hash>,
        /// Headers of the last few connected blocks (at most [`MAX_ANNOUNCED`]), for relay.
        announce: Vec<BlockHeader>,
        /// True while the node is far behind its best header (peers have these blocks).
        catching_up: bool,
        /// How many blocks were taken off (the reorg depth; 0 for a plain extension).
        disconnected: usize,
        /// The new tip's height.
        height: u64,
    },
    /// A transfer entered the mempool.
    Tx(Hash),
}

/// Headers a tip event carries: relay announces at most this many per tip change (a peer
/// that lacks more asks with a locator).
pub const MAX_ANNOUNCED: usize = 8;

/// Events buffered per subscriber; a subscriber that falls this far behind misses events and
/// is told so (it then re-reads the state it needs).
const EVENT_BUFFER: usize = 4096;

/// A node's shared state.
pub struct Node {
    events: broadcast::Sender<NodeEvent>,
    chain: Mutex<Chain>,
    mempool: Mutex<Mempool>,
    view: ArcSwap<ChainView>,
    /// The block of the last tip change that ended by connecting one (compact relay sends it
    /// on). One slot, not part of the tip event: a subscriber that lags must not hold blocks.
    tip_block: arc_swap::ArcSwapOption<BodyChecked>,
    params: Arc<ChainParams>,
    peer_store: PeerStore,
    tip_generation: AtomicU64,
    pool_generation: AtomicU64,
    shutdown: AtomicBool,
    metrics: crate::metrics::Metrics,
    /// Local time, Unix seconds: the system clock, or the simulator's.
    clock: Clock,
}

/// A source of local time in Unix seconds.
pub type Clock = Box<dyn Fn() -> u64 + Send + Sync>;

/// Unix seconds now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock is a bug; keep serving rather than poisoning everything.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Node {
    /// A node over an open chain, on the system clock.
    pub fn new(chain: Chain, mempool_cfg: MempoolConfig) -> Result<Self, ChainError> {
        Node::with_clock(chain, mempool_cfg, Box::new(now_secs))
    }

    /// A node over an open chain whose local time comes from `clock` (the network simulator
    /// gives each node its own, skewed).
    pub fn with_clock(
        mut chain: Chain,
        mempool_cfg: MempoolConfig,
        clock: Clock,
    ) -> Result<Self, ChainError> {
        let view = chain.view()?;
        Ok(Node {
            events: broadcast::channel(EVENT_BUFFER).0,
            params: view.params.clone(),
            peer_store: chain.store().peer_store(),
            view: ArcSwap::new(view),
            tip_block: arc_swap::ArcSwapOption::empty(),
            chain: Mutex::new(chain),
            mempool: Mutex::new(Mempool::new(mempool_cfg)),
            tip_generation: AtomicU64::new(0),
            pool_generation: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
            metrics: crate::metrics::Metrics::new(),
            clock,
        })
    }

    /// Local time, Unix seconds.
    pub fn now(&self) -> u64 {
        (self.clock)()
    }

    /// Exclusive access to the chain: the writer's lock. Readers use [`Node::view`].
    pub fn chain(&self) -> MutexGuard<'_, Chain> {
        lock(&self.chain)
    }

    /// The mempool.
    pub fn mempool(&self) -> MutexGuard<'_, Mempool> {
        lock(&self.mempool)
    }

    /// The current published view of the chain. Never waits for the writer.
    pub fn view(&self) -> Arc<ChainView> {
        self.view.load_full()
    }

    /// The block the last tip change connected last, if it ended with one.
    pub fn tip_block(&self) -> Option<Arc<BodyChecked>> {
        self.tip_block.load_full()
    }

    /// The mempool and the view of the same tip (the view is published under the mempool lock).
    pub fn pool_and_view(&self) -> (MutexGuard<'_, Mempool>, Arc<ChainView>) {
        let pool = self.mempool();
        let view = self.view();
        (pool, view)
    }

    /// The consensus parameters.
    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    /// The address book's column family.
    pub fn peer_store(&self) -> &PeerStore {
        &self.peer_store
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// Subscribes to tip and mempool events.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// Changes whenever the tip changes.
    pub fn tip_generation(&self) -> u64 {
        self.tip_generation.load(Ordering::Acquire)
    }

    /// Changes whenever the mempool gains transfers, or loses them other than by a tip change
    /// (which changes the tip): the pool's contents are a function of the tip and this.
    pub fn pool_generation(&self) -> u64 {
        self.pool_generation.load(Ordering::Acquire)
    }

    /// Counts a change to the pool's contents. Taking the guard means it is counted before
    /// the lock is released, so whoever sees the change (they lock the pool after) also reads
    /// the new generation.
    fn pool_changed(&self, _held: &mut MutexGuard<'_, Mempool>) {
        self.pool_generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Drops the transfers that waited longer than the pool's expiry; how many.
    pub fn expire_mempool(&self, now: u64) -> usize {
        let mut pool = self.mempool();
        let dropped = pool.expire(now);
        if dropped > 0 {
            self.pool_changed(&mut pool);
        }
        dropped
    }

    /// Asks every worker to stop.
    pub fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
    }

    /// True once shutdown was requested.
    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// The tip, from the published view.
    pub fn tip(&self) -> TipInfo {
        self.view().tip
    }

    /// Checks `body`'s signatures with no lock held, skipping transfers the mempool admitted
    /// (their signatures were verified on entry, and the id binds the signature). The ids
    /// come with the body: nothing is hashed again here.
    pub fn check_signatures(&self, body: BodyChecked) -> CheckedBlock {
        let known: Vec<bool> = {
            let pool = self.mempool();
            if pool.is_empty() {
                Vec::new()
            } else {
                body.tx_ids().iter().map(|id| pool.contains(id)).collect()
            }
        };
        CheckedBlock::check(&self.params, body, |i| {
            known.get(i).copied().unwrap_or(false)
        })
    }

    /// Submits a block from any source: its body against its merkle root, its signatures (no
    /// lock), then the chain.
    pub fn submit_block(&self, block: Block) -> Result<Submitted, ChainError> {
        let started = std::time::Instant::now();
        let body = match BodyChecked::new(block) {
            Ok(body) => body,
            Err(e) => {
                let refused = Err(ChainError::Invalid(e));
                self.metrics.block(&refused, None, started.elapsed());
                return refused;
            }
        };
        let checked = self.check_signatures(body);
        self.submit_checked(checked)
    }

    /// Submits a block whose signatures [`Node::check_signatures`] checked.
    pub fn submit_checked(&self, block: CheckedBlock) -> Result<Submitted, ChainError> {
        let now = self.now();
        let write = |chain: &mut Chain| {
            let started = std::time::Instant::now();
            let hash = block.block().header.hash();
            let result = match block {
                CheckedBlock::Verified(v) => chain.submit_verified_at(v, now),
                CheckedBlock::Unverified(b) => chain.submit_body_at(b, now),
            };
            let failed = result
                .is_ok()
                .then(|| chain.failed_in_last_run(&hash))
                .flatten();
            self.metrics.block(&result, failed, started.elapsed());
            result
        };
        self.commit(
            write,
            |r| !matches!(r, Ok(Submitted::Known)),
            |s| match s {
                Submitted::TipChanged(change) => Some(change),
                _ => None,
            },
        )
    }

    /// Submits headers ahead of their blocks (headers-first sync).
    pub fn submit_headers(
        &self,
        headers: &[BlockHeader],
    ) -> Result<crate::chain::HeadersAdded, ChainError> {
        let now = self.now();
        self.commit(
            |chain| chain.submit_headers_at(headers, now),
            // Headers accepted before an error are kept, so only a clean "nothing new" is no
            // change.
            |r| !matches!(r, Ok(added) if added.new == 0),
            |_| None,
        )
    }

    /// Sets aside the header-only block `hash` whose body peers did not deliver, with its
    /// descendants (see [`Chain::withhold`]): sync then follows the best branch it can get.
    pub fn withhold(&self, hash: Hash) -> Result<bool, ChainError> {
        self.commit(
            |chain| chain.withhold(hash),
            |r| matches!(r, Ok(true)),
            |_| None,
        )
    }

    /// The write path: runs `write` under the chain lock; unless `changed` says the result
    /// changed nothing, publishes the new view and then (chain lock released, mempool lock
    /// held) brings the mempool in line with the tip change `change_of` finds in the result.
    fn commit<T>(
        &self,
        write: impl FnOnce(&mut Chain) -> Result<T, ChainError>,
        changed: impl Fn(&Result<T, ChainError>) -> bool,
        change_of: impl Fn(&T) -> Option<&crate::chain::TipChange>,
    ) -> Result<T, ChainError> {
        let mut chain = self.chain();
        let result = write(&mut chain);
        if !changed(&result) {
            return result;
        }
        let view = chain.view();
        let change = result.as_ref().ok().and_then(&change_of);
        let announce: Vec<BlockHeader> = change
            .map(|change| {
                let start = change.connected.len().saturating_sub(MAX_ANNOUNCED);
                change.connected[start..]
                    .iter()
                    .filter_map(|h| chain.store().header(h).ok().flatten())
                    .collect()
            })
            .unwrap_or_default();
        let view = view?;
        // The pool lock is taken before the view is published: whoever holds the pool sees a
        // pool and a view of the same tip. The view is published before the tip is announced,
        // so a peer that asks for the new block right away is served it.
        let mut pool = self.mempool();
        self.view.store(view.clone());
        drop(chain);
        if let Some(change) = change {
            // Announce first: relaying the block does not wait for the mempool's clean-up.
            // No subscriber is not an error.
            self.tip_block.store(change.tip_block.clone());
            let _ = self.events.send(NodeEvent::Tip {
                connected: change.connected.clone(),
                announce,
                catching_up: view.catching_up(),
                disconnected: change.disconnected.len(),
                height: view.tip.height,
            });
            self.clean_pool(&mut pool, change, &view);
        }
        drop(pool);
        if change.is_some() {
            self.tip_generation.fetch_add(1, Ordering::AcqRel);
        }
        result
    }

    /// Drops mined transfers, re-checks the senders the change touched against `view` (the new
    /// tip) and returns the transfers of disconnected blocks.
    fn clean_pool(&self, pool: &mut Mempool, change: &crate::chain::TipChange, view: &ChainView) {
        let mut touched: HashSet<Address> = change.touched_by_disconnect.iter().copied().collect();
        // Senders of connected blocks need a re-check of their pending transfers; with an empty
        // pool (catching up) there is nothing to re-check.
        if !pool.is_empty() {
            touched.extend(change.senders_of_connected.iter().copied());
        }
        let account = |a: &Address| view.account(a).unwrap_or_default();
        pool.on_tip_change(
            &change.mined_txs,
            change.returned_txs.clone(),
            &touched,
            &account,
            self.now(),
        );
        // Transfers back from disconnected blocks are relayed again: peers that followed the
        // other branch may never have seen them.
        for t in &change.returned_txs {
            let id = t.id();
            if pool.contains(&id) {
                let _ = self.events.send(NodeEvent::Tx(id));
            }
        }
    }

    /// Submits a transfer to the mempool.
    pub fn submit_tx(&self, tx: SignedTransaction) -> Result<Hash, SubmitTxError> {
        let result = self.admit_tx(tx);
        self.metrics.tx(&result);
        result
    }

    /// Submits many transfers at once, in order: duplicates are refused under one look at the
    /// pool, the signatures of the rest are verified together with no lock held (ZIP-215
    /// batches), and the good ones are admitted under one hold of the pool lock. One result per
    /// transfer.
    pub fn submit_txs(&self, txs: Vec<SignedTransaction>) -> Vec<Result<Hash, SubmitTxError>> {
        let mut results: Vec<Option<Result<Hash, SubmitTxError>>> = Vec::with_capacity(txs.len());
        let mut fresh = Vec::with_capacity(txs.len());
        {
            let pool = self.mempool();
            for tx in txs {
                if pool.contains(&tx.id()) {
                    results.push(Some(Err(MempoolError::Duplicate.into())));
                } else {
                    results.push(None);
                    fresh.push(tx);
                }
            }
        }
        let verified = VerifiedTx::verify_all(fresh, &self.params.genesis_hash);
        // The senders' accounts in one read before the pool lock, from the published view;
        // read again under the lock only if a new tip was published meanwhile (the pool always
        // matches the view published while it is held).
        let senders: Vec<Address> = verified
            .iter()
            .flatten()
            .map(|t| t.tx().tx.sender_address())
            .collect();
        let read_at = self.view();
        let mut accounts = read_at.accounts(&senders).ok();
        let mut admitted = Vec::new();
        {
            let (mut pool, view) = self.pool_and_view();
            if !Arc::ptr_eq(&read_at, &view) {
                accounts = view.accounts(&senders).ok();
            }
            let mut accounts = accounts.map(Vec::into_iter);
            let now = self.now();
            let mut verified = verified.into_iter();
            for slot in results.iter_mut().filter(|r| r.is_none()) {
                let Some(v) = verified.next() else { break };
                let r = v.map_err(SubmitTxError::from).and_then(|tx| {
                    let read = accounts.as_mut().and_then(Iterator::next);
                    let acct = match read {
                        Some(a) => a,
                        // The batched read failed: this read names the error.
                        None => view.account_at_tip(&tx.tx().tx.sender_address())?,
                    };
                    Ok(pool.add(tx, acct, now)?)
                });
                if let Ok(id) = &r {
                    admitted.push(*id);
                }
                *slot = Some(r);
            }
            if !admitted.is_empty() {
                self.pool_changed(&mut pool);
            }
        }
        for id in admitted {
            let _ = self.events.send(NodeEvent::Tx(id));
        }
        // Every slot is filled: each fresh transfer has exactly one verification result.
        let results: Vec<Result<Hash, SubmitTxError>> = results.into_iter().flatten().collect();
        for r in &results {
            self.metrics.tx(r);
        }
        results
    }

    fn admit_tx(&self, tx: SignedTransaction) -> Result<Hash, SubmitTxError> {
        // A copy already pending costs no signature check.
        if self.mempool().contains(&tx.id()) {
            return Err(MempoolError::Duplicate.into());
        }
        // The expensive check with no lock held: admissions verify in parallel.
        let tx = VerifiedTx::verify(tx, &self.params.genesis_hash)?;
        let (mut pool, view) = self.pool_and_view();
        let acct = view.account_at_tip(&tx.tx().tx.sender_address())?;
        let id = pool.add(tx, acct, self.now())?;
        self.pool_changed(&mut pool);
        drop(pool);
        let _ = self.events.send(NodeEvent::Tx(id));
        Ok(id)
    }

    /// An unmined block on the tip paying `miner`, with the best transfers from the mempool.
    ///
    /// The chain lock is never taken, and the mempool's only briefly: the pending senders'
    /// accounts are read with no lock held (a pool of tens of thousands of senders means that
    /// many store reads), the selection is made under the lock from the pool and the view of one
    /// tip, and the block is assembled after it is released.
    pub fn block_template(&self, miner: Address) -> Result<Block, ChainError> {
        let (senders, before) = {
            let (pool, view) = self.pool_and_view();
            (pool.senders(), view)
        };
        let known: std::collections::HashMap<Address, ferrite_core::Account> = senders
            .iter()
            .copied()
            .zip(before.accounts(&senders)?)
            .collect();
        let (mut txs, view) = {
            let (pool, view) = self.pool_and_view();
            // The accounts read above hold only if the tip has not moved since; senders that
            // arrived meanwhile are read here.
            let same_tip = view.tip.hash == before.tip.hash;
            let account = |a: &Address| match known.get(a).filter(|_| same_tip) {
                Some(acct) => *acct,
                None => view.account(a).unwrap_or_default(),
            };
            let max_txs = (view.params.max_block_size as usize).saturating_sub(Block::size_with(0))
                / ferrite_core::transaction::SIGNED_TX_LEN;
            (pool.select(max_txs, &account), view)
        };
        let parent = view.tip_parent;
        let params = &view.params;
        let timestamp = self.now().max(parent.median_time_past + 1);
        loop {
            let mut addrs: Vec<Address> = txs
                .iter()
                .flat_map(|t| [t.tx.sender_address(), t.tx.recipient])
                .chain([miner])
                .collect();
            addrs.sort_unstable();
            addrs.dedup();
            let state = view.state_view(&addrs)?;
            match assemble_block(params, &parent, &state, txs.clone(), miner, timestamp) {
                Ok(b) => return Ok(b),
                // A pending transfer no longer applies: drop it (and the sender's later nonces)
                // from the pool, and leave it and everything after it out of this template.
                Err(BlockError::Tx { index, error }) => {
                    if let Some(bad) = txs.get(index) {
                        tracing::debug!(tx = %bad.id(), %error, "dropping a pending transfer that no longer applies");
                        let reason = DropReason::NoLongerApplies(error);
                        // By id: a replacement that arrived since the selection stays.
                        let mut pool = self.mempool();
                        if pool.remove_with_successors_of(&bad.id(), reason, self.now()) > 0 {
                            self.pool_changed(&mut pool);
                        }
                    }
                    txs.truncate(index);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
