//! The block processor: two threads that take downloaded blocks from the driver, verify their
//! signatures ahead with no lock held (`Node::check_signatures`, which skips transfers already
//! verified on entry to the mempool) and connect them through the node's single block path,
//! reporting each result back.
//!
//! Verifying block N+1 on one thread while block N connects on the other is what lets sync use
//! both cores (the same pipeline as `ferrite-node import`).

use std::sync::Arc;

use ferrite_core::{BodyChecked, Hash};
use tokio::sync::mpsc;

use super::addrbook::BanKey;
use super::PeerId;
use crate::chain::{ChainError, Submitted};
use crate::node::{CheckedBlock, Node};
use crate::store::BlockStatus;

/// Blocks verified ahead of the one being connected.
pub const VERIFY_AHEAD: usize = 4;

/// A block handed to the processor.
pub struct Job {
    /// The peer that sent it.
    pub peer: PeerId,
    /// Its ban key (the verdict may come after it disconnected).
    pub ban_key: BanKey,
    /// The block and its transfer ids.
    pub block: BodyChecked,
}

/// The outcome for one block.
#[derive(Debug)]
pub struct Processed {
    /// The peer that sent it.
    pub peer: PeerId,
    /// Its ban key.
    pub ban_key: BanKey,
    /// Block id.
    pub hash: Hash,
    /// What the chain did.
    pub result: Result<Submitted, ChainError>,
    /// The block's status afterwards. `Invalid` means the block itself failed full validation
    /// when the chain tried to connect it (the chain marks it and settles on the best valid
    /// tip, so `result` is `Ok`); `InvalidAncestor` would blame an earlier block, not this one.
    pub status: Option<BlockStatus>,
}

/// Starts the threads; blocks sent on the returned channel are processed in order.
pub fn spawn(
    node: Arc<Node>,
    results: mpsc::UnboundedSender<Processed>,
) -> std::io::Result<mpsc::UnboundedSender<Job>> {
    let (jobs_tx, mut jobs_rx) = mpsc::unbounded_channel::<Job>();
    let (ready_tx, ready_rx) =
        std::sync::mpsc::sync_channel::<(PeerId, BanKey, CheckedBlock)>(VERIFY_AHEAD);
    let verifier_node = node.clone();
    // A pool of its own, so that verifying ahead never queues behind the connecting thread's
    // work on the global pool.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(rayon::current_num_threads())
        .thread_name(|i| format!("p2p-verify-{i}"))
        .build()
        .map_err(std::io::Error::other)?;
    std::thread::Builder::new()
        .name("p2p-verify".into())
        .spawn(move || {
            while let Some(job) = jobs_rx.blocking_recv() {
                let started = std::time::Instant::now();
                let hash = job.block.hash();
                let checked = pool.install(|| verifier_node.check_signatures(job.block));
                tracing::debug!(block = %hash, us = started.elapsed().as_micros() as u64, "verified ahead");
                if ready_tx.send((job.peer, job.ban_key, checked)).is_err() {
                    break;
                }
            }
        })?;
    std::thread::Builder::new()
        .name("p2p-connect".into())
        .spawn(move || {
            for (peer, ban_key, checked) in ready_rx {
                let block = checked.block();
                let (hash, height, txs) = (checked.id(), block.header.height, block.txs.len());
                let started = std::time::Instant::now();
                let result = node.submit_checked(checked);
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                if let Ok(Submitted::TipChanged(change)) = &result {
                    log_new_tip(&node, hash, height, txs, change.disconnected.len(), ms);
                }
                if let Err(ChainError::Store(e)) = &result {
                    tracing::error!(error = %e, "store failed; stopping the node");
                    node.request_shutdown();
                }
                let status = node
                    .view()
                    .block_meta(&hash)
                    .ok()
                    .flatten()
                    .map(|m| m.status);
                if results
                    .send(Processed {
                        peer,
                        ban_key,
                        hash,
                        result,
                        status,
                    })
                    .is_err()
                {
                    break;
                }
            }
        })?;
    Ok(jobs_tx)
}

/// One line per new tip once in step; while catching up (the `syncing` rule) the blocks are
/// summarised by the progress reports ([`crate::progress`]) and logged at DEBUG only.
fn log_new_tip(node: &Node, hash: Hash, height: u64, txs: usize, reorg: usize, ms: f64) {
    let view = node.view();
    let ms = format!("{ms:.1}");
    if crate::readiness::syncing(view.tip.height, view.best_header_meta.height) {
        tracing::debug!(%hash, height, txs, reorg, ms, "new tip from peers");
    } else {
        tracing::info!(%hash, height, txs, reorg, ms, "new tip from peers");
    }
}
