//! Headers-first sync: asking peers for headers, downloading the bodies of the best header
//! chain from several peers at once, handing them to the processor in chain order, and the
//! verdicts on what peers sent.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ferrite_core::validation::{BlockError, HeaderError};
use ferrite_core::{Block, BlockHeader, Hash, Work};

use super::{Downloaded, Manager};
use crate::chain::{ChainError, Submitted};
use crate::p2p::processor::{Job, Processed};
use crate::p2p::wire::{Message, MAX_BLOCK_REQUEST, MAX_HEADERS};
use crate::p2p::PeerId;
use crate::store::BlockStatus;

/// Blocks of the best header chain considered for download at once, counted from the first
/// missing body. Bounds the memory of blocks downloaded out of order (32 x the 1 MiB cap).
pub const DOWNLOAD_WINDOW: usize = 32;
/// Block requests in flight per peer: keeps a fast peer busy without letting one slow peer hold
/// the whole window.
pub const MAX_IN_FLIGHT_PER_PEER: usize = 16;
/// A peer with requests outstanding that delivers no block for this long is stalling: it is
/// dropped (not banned) and its requests go to other peers.
pub const BLOCK_STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Most headers an announcement carries (the node announces at most this many per tip change);
/// a longer batch is an answer to `GetHeaders`.
pub const MAX_ANNOUNCE: usize = 8;
/// Announcements that do not connect tolerated per peer before it counts as misbehaving.
pub const MAX_UNCONNECTING: u32 = 10;
/// Ids remembered per peer as answered `NotFound` (cleared beyond this).
const MAX_NOT_FOUND: usize = 4096;

impl Manager {
    /// Asks `id` for headers after our best header.
    pub(super) fn ask_headers(&mut self, id: PeerId) {
        let locator = self.shared.node.chain().locator();
        self.ask_headers_with(id, locator);
    }

    fn ask_headers_with(&mut self, id: PeerId, locator: Result<Vec<Hash>, ChainError>) {
        let locator = locator.unwrap_or_else(|_| vec![self.shared.genesis]);
        if let Some(p) = self.peers.get_mut(&id) {
            p.headers_asked = Some(Instant::now());
        }
        self.send(
            id,
            &Message::GetHeaders {
                locator,
                stop: Hash::ZERO,
            },
        );
    }

    pub(super) async fn on_headers(&mut self, id: PeerId, hs: Vec<BlockHeader>) {
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        let asked = p.headers_asked.is_some();
        if hs.is_empty() {
            // The answer to our getheaders: the peer has nothing after our locator, whatever
            // its handshake claimed.
            p.headers_asked = None;
            p.work = Work::ZERO;
            let best = self
                .shared
                .node
                .chain()
                .best_header()
                .map(|(_, m)| m.height);
            if let (Some(p), Ok(best)) = (self.peers.get_mut(&id), best) {
                p.height = p.height.min(best);
            }
            return;
        }
        if hs.windows(2).any(|w| w[1].prev != w[0].hash()) {
            return self.misbehaved(id, "sent headers that are not a chain");
        }
        for h in &hs {
            let hash = h.hash();
            p.known_blocks.insert(hash);
            p.not_found.remove(&hash);
        }
        let count = hs.len();
        let last = hs[count - 1];
        let node = self.shared.node.clone();
        let result = tokio::task::spawn_blocking(move || node.submit_headers(&hs)).await;
        match result {
            Ok(Ok(_)) => {
                if let Some(p) = self.peers.get_mut(&id) {
                    // Answers to getheaders always connect, so this may be one.
                    p.unconnecting = 0;
                    p.headers_asked = None;
                    p.height = p.height.max(last.height);
                }
                if count == MAX_HEADERS {
                    // Continue from where this answer ended, even if it did not change our best
                    // header (a branch that is still lighter).
                    let locator = self.shared.node.chain().locator_from(last.hash());
                    self.ask_headers_with(id, locator);
                }
            }
            Ok(Err(ChainError::UnknownParent(p))) if count > MAX_ANNOUNCE => {
                // Longer than any announcement: an answer to getheaders, which starts at a
                // block of our locator and so must connect.
                return self.misbehaved(
                    id,
                    &format!("sent a header chain that does not connect (unknown parent {p})"),
                );
            }
            Ok(Err(ChainError::UnknownParent(_))) if asked => {
                // We already asked for the headers in between; their answer will connect this.
            }
            Ok(Err(ChainError::UnknownParent(_))) => {
                // An announcement that does not connect: we are missing blocks in between (or
                // two announcements crossed). Ask with a locator; only a peer that keeps doing
                // it is misbehaving.
                let over = self.peers.get_mut(&id).is_some_and(|p| {
                    p.unconnecting += 1;
                    p.unconnecting > MAX_UNCONNECTING
                });
                if over {
                    return self.misbehaved(id, "keeps announcing headers that do not connect");
                }
                self.ask_headers(id);
            }
            Ok(Err(ChainError::Invalid(BlockError::Header(HeaderError::TimestampTooNew {
                ..
            })))) => {
                // Possibly only our clock: drop, do not ban.
                return self.drop_peer(id, "header timestamp too far in the future");
            }
            Ok(Err(ChainError::Invalid(e))) => {
                return self.misbehaved(id, &format!("sent an invalid header: {e}"));
            }
            Ok(Err(ChainError::KnownInvalid(h))) => {
                return self.misbehaved(id, &format!("sent headers of invalid block {h}"));
            }
            Ok(Err(ChainError::Store(e))) => {
                tracing::error!(error = %e, "store failed; stopping the node");
                self.shared.node.request_shutdown();
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "header task failed");
                return;
            }
        }
        self.schedule();
    }

    pub(super) fn on_block(&mut self, id: PeerId, block: Block) {
        let hash = block.hash();
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        if p.in_flight.remove(&hash).is_none() {
            tracing::debug!(block = %hash, "ignoring a block not requested from this peer");
            return;
        }
        p.last_progress = Instant::now();
        p.known_blocks.insert(hash);
        let ban_key = p.ban_key;
        self.requested.remove(&hash);
        self.downloaded.insert(
            hash,
            Downloaded {
                peer: id,
                ban_key,
                block,
            },
        );
        self.feed();
        self.schedule();
    }

    pub(super) fn on_not_found(&mut self, id: PeerId, hs: Vec<Hash>) {
        if let Some(p) = self.peers.get_mut(&id) {
            if p.not_found.len() > MAX_NOT_FOUND {
                p.not_found.clear();
            }
            for h in hs {
                // Only answers to our requests count; anything else is noise.
                if p.in_flight.remove(&h).is_some() {
                    self.requested.remove(&h);
                    p.not_found.insert(h);
                }
            }
        }
        self.schedule();
    }

    /// The download window: the first [`DOWNLOAD_WINDOW`] missing bodies of the best header
    /// chain, lowest first.
    fn window(&self) -> Vec<(Hash, u64)> {
        self.shared
            .node
            .chain()
            .missing_bodies(DOWNLOAD_WINDOW)
            .unwrap_or_default()
    }

    /// Hands downloaded blocks to the processor in chain order.
    fn feed(&mut self) {
        for (h, _) in self.window() {
            if self.fed.contains(&h) {
                continue;
            }
            let Some(d) = self.downloaded.remove(&h) else {
                break;
            };
            if let Some(jobs) = &self.jobs {
                let job = Job {
                    peer: d.peer,
                    ban_key: d.ban_key,
                    block: d.block,
                };
                if jobs.send(job).is_ok() {
                    self.fed.insert(h);
                }
            }
        }
    }

    /// Requests missing bodies of the best header chain from peers with free slots.
    pub(super) fn schedule(&mut self) {
        let missing = self.window();
        let mut batches: HashMap<PeerId, Vec<Hash>> = HashMap::new();
        let now = Instant::now();
        for (h, height) in missing {
            if self.fed.contains(&h)
                || self.downloaded.contains_key(&h)
                || self.requested.contains_key(&h)
            {
                continue;
            }
            let best = self
                .peers
                .iter()
                .filter(|(_, p)| {
                    p.in_flight.len() < MAX_IN_FLIGHT_PER_PEER
                        && !p.not_found.contains(&h)
                        && (p.known_blocks.contains(&h) || p.height >= height)
                })
                .min_by_key(|(_, p)| (!p.known_blocks.contains(&h), p.in_flight.len()))
                .map(|(id, _)| *id);
            let Some(pid) = best else {
                continue;
            };
            if let Some(p) = self.peers.get_mut(&pid) {
                if p.in_flight.is_empty() {
                    // The stall clock starts with the first request after being idle.
                    p.last_progress = now;
                }
                p.in_flight.insert(h, now);
            }
            self.requested.insert(h, pid);
            batches.entry(pid).or_default().push(h);
        }
        for (pid, hs) in batches {
            if let Some(p) = self.peers.get(&pid) {
                p.expected_blocks.fetch_add(hs.len(), Ordering::AcqRel);
            }
            for chunk in hs.chunks(MAX_BLOCK_REQUEST) {
                self.send(pid, &Message::GetBlocks(chunk.to_vec()));
            }
        }
    }

    pub(super) fn on_processed(&mut self, done: Processed) {
        self.fed.remove(&done.hash);
        let remote = self
            .peers
            .get(&done.peer)
            .map(|p| p.remote)
            .unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
        let verdict = match &done.result {
            _ if done.status == Some(BlockStatus::Invalid) => {
                Some(format!("sent block {} that failed validation", done.hash))
            }
            Err(ChainError::Invalid(e)) => Some(format!("sent invalid block {}: {e}", done.hash)),
            Err(ChainError::KnownInvalid(h)) => Some(format!("sent a block of invalid branch {h}")),
            Ok(Submitted::Orphan) => {
                tracing::debug!(block = %done.hash, "downloaded block is an orphan");
                None
            }
            _ => None,
        };
        if let Some(reason) = verdict {
            // Banned by key even if the peer has disconnected since it sent the block.
            self.ban(done.ban_key, remote, &reason);
            if self.peers.contains_key(&done.peer) {
                self.drop_peer(done.peer, &reason);
            }
        }
        self.feed();
        self.schedule();
    }

    /// Periodic sync upkeep: forget bodies downloaded for a branch that is no longer the best
    /// header chain, and ask peers that claim more than we have for headers.
    pub(super) fn sync_housekeeping(&mut self) {
        if !self.downloaded.is_empty() {
            let window: std::collections::HashSet<Hash> =
                self.window().into_iter().map(|(h, _)| h).collect();
            self.downloaded.retain(|h, _| window.contains(h));
        }
        let (best_height, best_work) = self
            .shared
            .node
            .chain()
            .best_header()
            .map(|(_, m)| (m.height, m.work))
            .unwrap_or((0, Work::ZERO));
        let behind: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                (p.height > best_height || p.work > best_work) && p.headers_asked.is_none()
            })
            .map(|(id, _)| *id)
            .collect();
        for pid in behind {
            self.ask_headers(pid);
        }
        self.schedule();
    }
}
