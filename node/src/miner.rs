//! The miner: builds a template on the tip, searches nonces on several threads, restarts at once
//! when the tip changes (or, at most once per [`TEMPLATE_REFRESH`], when the mempool gained or
//! dropped transfers), and submits what it finds through the same path as any other block.
//!
//! One coordinator thread, at normal priority, builds each template (under the mempool lock)
//! and submits each block found (under the chain lock), and hands the header to the search
//! threads. Only those run in the idle scheduling class (`SCHED_IDLE` on Linux): a node's first
//! duties are validating, relaying and answering, so hashing gets only the CPU time nothing else
//! wants, and no thread that could be starved that way ever holds one of the node's locks. On an
//! idle machine the hash rate is unchanged.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
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
/// How often the coordinator looks for a new tip, a pool change or shutdown while the search
/// threads hash (they stop stale work themselves within [`NONCES_PER_CHECK`]).
const COORDINATOR_POLL: Duration = Duration::from_millis(5);

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

/// What the search threads work on: a header and its target, numbered so that a thread sees
/// when it was replaced. `None` while there is nothing to search (no template yet, a block
/// being submitted) or after shutdown.
#[derive(Clone)]
struct Work {
    number: u64,
    header: [u8; HEADER_LEN],
    target: Target,
    tip_generation: u64,
}

#[derive(Default)]
struct Board {
    work: Mutex<(Option<Work>, bool)>,
    changed: Condvar,
}

impl Board {
    fn post(&self, work: Option<Work>) {
        let mut w = self.work.lock().unwrap_or_else(|p| p.into_inner());
        w.0 = work;
        self.changed.notify_all();
    }

    fn stop(&self) {
        let mut w = self.work.lock().unwrap_or_else(|p| p.into_inner());
        w.1 = true;
        self.changed.notify_all();
    }

    /// The work numbered above `seen`, waiting for it; `None` once stopped.
    fn next(&self, seen: u64) -> Option<Work> {
        let mut w = self.work.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if w.1 {
                return None;
            }
            if let Some(work) = w.0.as_ref().filter(|work| work.number > seen) {
                return Some(work.clone());
            }
            w = self.changed.wait(w).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// True when the work numbered `number` is no longer the current one.
    fn replaced(&self, number: u64) -> bool {
        let w = self.work.lock().unwrap_or_else(|p| p.into_inner());
        w.1 || w.0.as_ref().map(|x| x.number) != Some(number)
    }
}

/// Starts the coordinator and `threads` search threads paying `miner`.
pub fn spawn(
    node: Arc<Node>,
    miner: Address,
    threads: usize,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    let threads = threads.max(1) as u64;
    let board = Arc::new(Board::default());
    let (found_tx, found_rx) = mpsc::channel::<(u64, u64)>();
    let mut handles = Vec::new();
    for i in 0..threads {
        let (node, shared, found) = (node.clone(), board.clone(), found_tx.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("miner-{i}"))
            .spawn(move || {
                set_idle_class();
                search_loop(&node, &shared, &found, i, threads)
            });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => return Err(abandon(&board, handles, e)),
        }
    }
    let coordinator_board = board.clone();
    let spawned = std::thread::Builder::new()
        .name("miner".into())
        .spawn(move || {
            coordinate(&node, miner, &coordinator_board, &found_rx);
            coordinator_board.stop();
        });
    match spawned {
        Ok(h) => handles.push(h),
        Err(e) => return Err(abandon(&board, handles, e)),
    }
    Ok(handles)
}

/// A spawn failed part way: the search threads already started would wait for a coordinator
/// that never comes, so they are stopped and joined before the error is returned.
fn abandon(board: &Board, started: Vec<JoinHandle<()>>, e: std::io::Error) -> std::io::Error {
    board.stop();
    for h in started {
        let _ = h.join();
    }
    e
}

/// Puts the calling thread in the idle scheduling class (the lowest priority where there is
/// none). Failing only costs responsiveness under load, so it is logged, not fatal.
fn set_idle_class() {
    use thread_priority::{ThreadPriority, ThreadSchedulePolicy};
    #[cfg(target_os = "linux")]
    let policy = thread_priority::NormalThreadSchedulePolicy::Idle;
    #[cfg(not(target_os = "linux"))]
    let policy = thread_priority::NormalThreadSchedulePolicy::Other;
    let policy = ThreadSchedulePolicy::Normal(policy);
    let id = thread_priority::thread_native_id();
    if let Err(e) = thread_priority::set_thread_priority_and_policy(id, ThreadPriority::Min, policy)
    {
        // The crate also resets the nice value, which fails for a niced process even though
        // the class itself changed: only a class that did not change is worth a warning.
        if thread_priority::thread_schedule_policy().ok() != Some(policy) {
            tracing::warn!(error = ?e, "cannot lower the mining threads' priority");
        }
    }
}

/// The coordinator: a template per tip (refreshed for new transfers), handed to the search
/// threads; each nonce found is submitted here.
fn coordinate(node: &Node, miner: Address, board: &Board, found: &mpsc::Receiver<(u64, u64)>) {
    let mut number = 0u64;
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
        number += 1;
        board.post(Some(Work {
            number,
            header: block.header.to_bytes(),
            target,
            tip_generation: tip_gen,
        }));
        let nonce = loop {
            match found.recv_timeout(COORDINATOR_POLL) {
                Ok((n, nonce)) if n == number => break Some(nonce),
                Ok(_) => {}
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {}
            }
            if node.shutting_down() || node.tip_generation() != tip_gen {
                break None;
            }
            if node.pool_generation() != pool_gen && started.elapsed() >= TEMPLATE_REFRESH {
                break None;
            }
        };
        let Some(nonce) = nonce else { continue };
        board.post(None);
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

/// One search thread: interleaved slices of the nonce space from a random start, until the
/// work is replaced, the tip moves or a nonce is found.
fn search_loop(
    node: &Node,
    board: &Board,
    found: &mpsc::Sender<(u64, u64)>,
    index: u64,
    threads: u64,
) {
    let mut seen = 0;
    while let Some(work) = board.next(seen) {
        seen = work.number;
        let mut bytes = work.header;
        let mut next = rand::random::<u64>() / threads * threads + index * NONCES_PER_CHECK;
        loop {
            if node.tip_generation() != work.tip_generation || board.replaced(work.number) {
                break;
            }
            if let Some(n) = search(&mut bytes, &work.target, next, NONCES_PER_CHECK) {
                if found.send((work.number, n)).is_err() {
                    return;
                }
                break;
            }
            next = next.wrapping_add(threads * NONCES_PER_CHECK);
        }
    }
}
