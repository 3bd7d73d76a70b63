//! The miner: builds a template on the tip, searches nonces on several threads, restarts at once
//! when the tip changes (or, at most once per [`TEMPLATE_REFRESH`], when the mempool gained
//! transfers), and submits what it finds through the same path as any other block.
//!
//! Mining threads run at the lowest scheduling class the OS offers (`SCHED_IDLE` on Linux): a
//! node's first duties are validating, relaying and answering, and hashing only uses the CPU time
//! nothing else wants. On an idle machine the hash rate is unchanged.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferrite_core::block::{HEADER_LEN, HEADER_NONCE_OFFSET};
use ferrite_core::hash::Domain;
use ferrite_core::{Address, Target};

use crate::chain::Submitted;
use crate::node::Node;

/// Nonces tried between checks for a new tip or shutdown: ~5 ms of hashing, so a new tip
/// stops stale work almost at once while the checks cost nothing measurable.
pub const NONCES_PER_CHECK: u64 = 16_384;
/// Longest a template is mined when only the mempool changed.
pub const TEMPLATE_REFRESH: Duration = Duration::from_secs(2);
/// Pause after a failure to build a template (store error), so a broken node does not spin.
const RETRY_DELAY: Duration = Duration::from_millis(500);

/// Searches `header_bytes`' nonce from `start` for at most `count` tries; returns the nonce that
/// meets `target`. This is the hot loop whose rate the benchmarks compare to raw blake3.
pub fn search(
    header_bytes: &mut [u8; HEADER_LEN],
    target: &Target,
    start: u64,
    count: u64,
) -> Option<u64> {
    let key = Domain::Header.key();
    for nonce in start..start.saturating_add(count) {
        header_bytes[HEADER_NONCE_OFFSET..].copy_from_slice(&nonce.to_le_bytes());
        let h = blake3::keyed_hash(key, header_bytes);
        if target.is_met_by(&ferrite_core::Hash(*h.as_bytes())) {
            return Some(nonce);
        }
    }
    None
}

/// Starts `threads` mining threads paying `miner`.
pub fn spawn(
    node: Arc<Node>,
    miner: Address,
    threads: usize,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    (0..threads.max(1))
        .map(|i| {
            let node = node.clone();
            std::thread::Builder::new()
                .name(format!("miner-{i}"))
                .spawn(move || {
                    yield_to_other_work();
                    mine_loop(&node, miner, i as u64, threads.max(1) as u64)
                })
        })
        .collect()
}

/// Puts the calling thread in the idle scheduling class (or at the lowest priority where there is
/// none). Failing to do so only costs responsiveness under load, so it is logged, not fatal.
fn yield_to_other_work() {
    use thread_priority::{ThreadPriority, ThreadSchedulePolicy};
    #[cfg(target_os = "linux")]
    let policy = ThreadSchedulePolicy::Normal(thread_priority::NormalThreadSchedulePolicy::Idle);
    #[cfg(not(target_os = "linux"))]
    let policy = ThreadSchedulePolicy::Normal(thread_priority::NormalThreadSchedulePolicy::Other);
    let id = thread_priority::thread_native_id();
    if let Err(e) = thread_priority::set_thread_priority_and_policy(id, ThreadPriority::Min, policy)
    {
        tracing::warn!(error = ?e, "cannot lower the mining thread's priority");
    }
}

fn mine_loop(node: &Node, miner: Address, index: u64, threads: u64) {
    while !node.shutting_down() {
        let tip_gen = node.tip_generation();
        let pool_gen = node.pool_generation();
        let started = Instant::now();
        let mut block = match node.block_template(miner) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot build a block template");
                std::thread::sleep(RETRY_DELAY);
                continue;
            }
        };
        let Ok(target) = Target::from_compact(block.header.bits) else {
            std::thread::sleep(RETRY_DELAY);
            continue;
        };
        let mut bytes = block.header.to_bytes();
        // Threads take interleaved slices of the nonce space, from a random start.
        let mut next = rand::random::<u64>() / threads * threads + index * NONCES_PER_CHECK;
        let found = loop {
            if node.shutting_down() || node.tip_generation() != tip_gen {
                break None;
            }
            if node.pool_generation() != pool_gen && started.elapsed() >= TEMPLATE_REFRESH {
                break None;
            }
            if let Some(n) = search(&mut bytes, &target, next, NONCES_PER_CHECK) {
                break Some(n);
            }
            next = next.wrapping_add(threads * NONCES_PER_CHECK);
        };
        let Some(nonce) = found else { continue };
        block.header.nonce = nonce;
        let hash = block.hash();
        let height = block.header.height;
        let txs = block.txs.len();
        match node.submit_block(block) {
            Ok(Submitted::TipChanged(_)) => {
                tracing::info!(%hash, height, txs, "mined block");
            }
            Ok(other) => tracing::debug!(%hash, ?other, "mined block did not extend the tip"),
            Err(e) => tracing::warn!(%hash, error = %e, "mined block refused"),
        }
    }
}
