//! The running node: the chain and the mempool behind one lock each, and the generation
//! counters that tell the miner (and later the network) when the tip or the pool changed.
//!
//! Lock order is always chain, then mempool.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use ferrite_core::template::assemble_block;
use ferrite_core::validation::BlockError;
use ferrite_core::{Address, Block, Hash, SignedTransaction};

use tokio::sync::broadcast;

use crate::chain::{Chain, ChainError, Submitted, TipInfo};
use crate::mempool::{Mempool, MempoolConfig, MempoolError};

/// Why a transaction submission failed.
#[derive(Debug, thiserror::Error)]
pub enum SubmitTxError {
    /// The mempool refused it.
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
        /// How many blocks were taken off (the reorg depth; 0 for a plain extension).
        disconnected: usize,
        /// The new tip's height.
        height: u64,
    },
    /// A transfer entered the mempool.
    Tx(Hash),
}

/// Events buffered per subscriber; a subscriber that falls this far behind misses events and
/// is told so (it then re-reads the state it needs).
const EVENT_BUFFER: usize = 4096;

/// A node's shared state.
pub struct Node {
    events: broadcast::Sender<NodeEvent>,
    chain: Mutex<Chain>,
    mempool: Mutex<Mempool>,
    tip_generation: AtomicU64,
    pool_generation: AtomicU64,
    shutdown: AtomicBool,
    metrics: crate::metrics::Metrics,
}

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
    /// A node over an open chain.
    pub fn new(chain: Chain, mempool_cfg: MempoolConfig) -> Self {
        let chain_id = chain.params().genesis_hash;
        Node {
            events: broadcast::channel(EVENT_BUFFER).0,
            chain: Mutex::new(chain),
            mempool: Mutex::new(Mempool::new(mempool_cfg, chain_id)),
            tip_generation: AtomicU64::new(0),
            pool_generation: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
            metrics: crate::metrics::Metrics::new(),
        }
    }

    /// Exclusive access to the chain.
    pub fn chain(&self) -> MutexGuard<'_, Chain> {
        lock(&self.chain)
    }

    /// Exclusive access to the mempool.
    pub fn mempool(&self) -> MutexGuard<'_, Mempool> {
        lock(&self.mempool)
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

    /// Changes whenever the mempool gains transfers.
    pub fn pool_generation(&self) -> u64 {
        self.pool_generation.load(Ordering::Acquire)
    }

    /// Asks every worker to stop.
    pub fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
    }

    /// True once shutdown was requested.
    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// The tip.
    pub fn tip(&self) -> Result<TipInfo, ChainError> {
        self.chain().tip_info()
    }

    /// Submits a block from any source and updates the mempool on a tip change.
    pub fn submit_block(&self, block: Block) -> Result<Submitted, ChainError> {
        self.submit_block_with(block, false)
    }

    /// Submits headers ahead of their blocks (headers-first sync).
    pub fn submit_headers(
        &self,
        headers: &[ferrite_core::BlockHeader],
    ) -> Result<crate::chain::HeadersAdded, ChainError> {
        self.chain().submit_headers(headers)
    }

    /// Submits a block; `preverified` when its signatures were already checked (every
    /// transfer was in the mempool, or the caller verified them ahead).
    pub fn submit_block_with(
        &self,
        block: Block,
        preverified: bool,
    ) -> Result<Submitted, ChainError> {
        let mut chain = self.chain();
        let started = std::time::Instant::now();
        let result = if preverified {
            chain.submit_block_preverified(block)
        } else {
            chain.submit_block(block)
        };
        self.metrics.block(&result, started.elapsed());
        let result = result?;
        if let Submitted::TipChanged(change) = &result {
            // Announce first: relaying the block does not wait for the mempool's clean-up.
            // No subscriber is not an error.
            let height = chain.tip_info()?.height;
            let _ = self.events.send(NodeEvent::Tip {
                connected: change.connected.clone(),
                disconnected: change.disconnected.len(),
                height,
            });
            let mut touched: HashSet<Address> =
                change.touched_by_disconnect.iter().copied().collect();
            // Senders of connected blocks need a re-check of their pending transfers; with an
            // empty pool (catching up) there is nothing to re-check.
            let pool_empty = self.mempool().is_empty();
            for h in change.connected.iter().filter(|_| !pool_empty) {
                if let Some(b) = chain.store().block(h)? {
                    for t in &b.txs {
                        touched.insert(t.tx.sender_address());
                    }
                }
            }
            let account = |a: &Address| chain.account(a).unwrap_or_default();
            let mut pool = self.mempool();
            pool.on_tip_change(
                &change.mined_txs,
                change.returned_txs.clone(),
                &touched,
                &account,
                now_secs(),
            );
            // Transfers back from disconnected blocks are relayed again: peers that followed
            // the other branch may never have seen them.
            for t in &change.returned_txs {
                let id = t.id();
                if pool.contains(&id) {
                    let _ = self.events.send(NodeEvent::Tx(id));
                }
            }
            drop(pool);
            self.tip_generation.fetch_add(1, Ordering::AcqRel);
        }
        Ok(result)
    }

    /// Submits a transfer to the mempool.
    pub fn submit_tx(&self, tx: SignedTransaction) -> Result<Hash, SubmitTxError> {
        let result = self.admit_tx(tx);
        self.metrics.tx(&result);
        result
    }

    fn admit_tx(&self, tx: SignedTransaction) -> Result<Hash, SubmitTxError> {
        let chain = self.chain();
        let acct = chain.account(&tx.tx.sender_address())?;
        let id = self.mempool().add(tx, acct, now_secs())?;
        self.pool_generation.fetch_add(1, Ordering::AcqRel);
        let _ = self.events.send(NodeEvent::Tx(id));
        Ok(id)
    }

    /// An unmined block on the tip paying `miner`, with the best transfers from the mempool.
    pub fn block_template(&self, miner: Address) -> Result<Block, ChainError> {
        let chain = self.chain();
        let tip = chain.tip_info()?;
        let parent = chain.parent_info(&tip.hash)?;
        let params = chain.params().clone();
        let max_txs = (params.max_block_size as usize).saturating_sub(Block::size_with(0))
            / ferrite_core::transaction::SIGNED_TX_LEN;
        let account = |a: &Address| chain.account(a).unwrap_or_default();
        let mut txs = self.mempool().select(max_txs, &account);
        let timestamp = now_secs().max(parent.median_time_past + 1);
        loop {
            let mut addrs: Vec<Address> = txs
                .iter()
                .flat_map(|t| [t.tx.sender_address(), t.tx.recipient])
                .chain([miner])
                .collect();
            addrs.sort_unstable();
            addrs.dedup();
            let state = chain.state_view(&addrs)?;
            match assemble_block(&params, &parent, &state, txs.clone(), miner, timestamp) {
                Ok(b) => return Ok(b),
                // A pending transfer no longer applies: drop it (and the sender's later nonces)
                // from the pool, and leave it and everything after it out of this template.
                Err(BlockError::Tx { index, error }) => {
                    if let Some(bad) = txs.get(index) {
                        tracing::debug!(tx = %bad.id(), %error, "dropping a pending transfer that no longer applies");
                        self.mempool()
                            .remove_with_successors(&bad.tx.sender_address(), bad.tx.nonce);
                    }
                    txs.truncate(index);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
