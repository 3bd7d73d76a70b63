//! Headers-first sync: asking peers for headers, judging their answers once the chain has
//! taken them, downloading the bodies of the best header chain from several peers at once,
//! handing them to the processor in chain order, and the verdicts on what peers sent.

use std::collections::HashMap;
use std::time::Duration;

use ferrite_core::validation::{BlockError, HeaderError};
use ferrite_core::{BlockHeader, BodyChecked, Hash, Work};

use super::peer::{MAX_NOT_FOUND, NOT_FOUND_RETRY};
use super::{ChainReader, Downloaded, Machine, Misbehavior, Output, Time};
use crate::chain::{ChainError, HeadersAdded, Submitted};
use crate::p2p::addrbook::BanKey;
use crate::p2p::wire::{Message, MAX_BLOCK_REQUEST, MAX_HEADERS};
use crate::p2p::PeerId;
use crate::store::BlockStatus;

/// Block requests in flight per peer: keeps a fast peer busy without letting one slow peer hold
/// the whole window.
pub const MAX_IN_FLIGHT_PER_PEER: usize = 16;
/// A peer with requests outstanding that delivers no block for this long is stalling: it is
/// dropped (not banned) and its requests go to other peers.
pub const BLOCK_STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Most headers an announcement carries (the node announces at most this many per tip change);
/// a longer batch is an answer to `GetHeaders`.
pub const MAX_ANNOUNCE: usize = crate::node::MAX_ANNOUNCED;
/// Announcements that do not connect tolerated per peer before it counts as misbehaving.
pub const MAX_UNCONNECTING: u32 = 10;
/// Header batches one peer may have waiting behind the one the chain is checking: an honest
/// peer sends one answer per request and an announcement per block. A peer beyond it sends
/// headers faster than they can be checked and is dropped.
pub const MAX_QUEUED_HEADER_BATCHES: usize = 16;

/// The first missing body of the best header chain that has been wanted this long, that no
/// peer is sending now, and that [`BODY_FAILURES`] distinct peers failed to deliver (a stall,
/// `NotFound`, a body that did not decode or match, the peer leaving with it owed) is not to be
/// had: its header is set aside ([`Output::Withhold`]) and sync follows the best other branch,
/// if the chain has one heavier than the tip (it refuses otherwise, and the machine tries again
/// after another wait). Longer than [`BLOCK_STALL_TIMEOUT`], so the peer that announced it has
/// had its chance.
pub const BODY_WAIT: Duration = Duration::from_secs(20);
/// Distinct peers that failed to deliver one body before it counts as withheld: the one that
/// announced it, and another that does not have it.
pub const BODY_FAILURES: usize = 2;
/// Peers remembered per body as having failed it.
const MAX_FAILED_PEERS: usize = 16;

/// What became of the requests for one missing body.
pub(super) struct BodyWant {
    since: Time,
    failed: std::collections::BTreeSet<PeerId>,
    /// When the machine last asked the chain to set it aside.
    tried: Option<Time>,
}

impl BodyWant {
    fn new(now: Time) -> BodyWant {
        BodyWant {
            since: now,
            failed: Default::default(),
            tried: None,
        }
    }
}

impl Machine {
    /// A request of `peer` for the body `h` ended without it.
    pub(super) fn body_failed(&mut self, h: Hash, peer: PeerId) {
        if let Some(w) = self.body_wants.get_mut(&h) {
            if w.failed.len() < MAX_FAILED_PEERS {
                w.failed.insert(peer);
            }
        }
    }

    /// Sets aside the header of `first` (the first missing body, not held) if nobody sends it
    /// now, it has waited [`BODY_WAIT`], and [`BODY_FAILURES`] peers failed it; once per wait.
    fn withhold_undelivered(&mut self, first: Option<Hash>, now: Time) {
        let Some(h) = first else {
            return;
        };
        if self.requested.contains_key(&h) || self.compact_expected(&h, now) {
            return;
        }
        let Some(w) = self.body_wants.get_mut(&h) else {
            return;
        };
        let waited =
            now.since(w.since) >= BODY_WAIT && w.tried.is_none_or(|t| now.since(t) >= BODY_WAIT);
        if !waited || w.failed.len() < BODY_FAILURES {
            return;
        }
        w.tried = Some(now);
        tracing::info!(block = %h, "no peer delivers this block; following another branch");
        self.out
            .push(Output::Defended(super::Defence::WithheldBody));
        self.out.push(Output::Withhold(h));
    }

    /// Asks `id` for headers after `locator`.
    pub(super) fn ask_headers(&mut self, id: PeerId, locator: Vec<Hash>, now: Time) {
        let locator = if locator.is_empty() {
            vec![self.cfg.genesis]
        } else {
            locator
        };
        if let Some(p) = self.peers.get_mut(&id) {
            p.headers_asked = Some(now);
        }
        self.send(
            id,
            Message::GetHeaders {
                locator,
                stop: Hash::ZERO,
            },
        );
    }

    pub(super) fn on_headers(
        &mut self,
        id: PeerId,
        hs: Vec<BlockHeader>,
        now: Time,
        chain: &dyn ChainReader,
    ) {
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        if hs.is_empty() {
            // The answer to our getheaders: the peer has nothing after our locator, whatever
            // its handshake claimed.
            p.headers_asked = None;
            p.work = Work::ZERO;
            p.height = p.height.min(chain.best_header().0);
            return;
        }
        if hs.windows(2).any(|w| w[1].prev != w[0].hash()) {
            return self.misbehaved(id, Misbehavior::HeadersNotChain, now, chain);
        }
        for h in &hs {
            let hash = h.hash();
            p.known_blocks.insert(hash);
            p.not_found.remove(&hash);
        }
        if p.headers_in_chain {
            if p.headers_queue.len() >= MAX_QUEUED_HEADER_BATCHES {
                return self.drop_peer(
                    id,
                    "sends headers faster than they are checked",
                    now,
                    chain,
                );
            }
            p.headers_queue.push_back(hs);
            return;
        }
        p.headers_in_chain = true;
        self.out.push(Output::SubmitHeaders {
            peer: id,
            headers: hs,
        });
    }

    /// Hands `id`'s next waiting header batch to the chain, if any.
    fn next_header_batch(&mut self, id: PeerId) {
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        if p.headers_in_chain {
            return;
        }
        if let Some(headers) = p.headers_queue.pop_front() {
            p.headers_in_chain = true;
            self.out.push(Output::SubmitHeaders { peer: id, headers });
        }
    }

    /// The chain's answer to headers from `id`: continue, ask again, or judge the peer.
    pub(super) fn on_headers_submitted(
        &mut self,
        id: PeerId,
        count: usize,
        last_height: u64,
        result: Result<HeadersAdded, ChainError>,
        now: Time,
        chain: &dyn ChainReader,
    ) {
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        p.headers_in_chain = false;
        // Batches reach the chain one at a time, so a request of ours outstanding now was
        // outstanding when this batch was checked.
        let asked = p.headers_asked.is_some();
        match result {
            Ok(added) => {
                // Answers to getheaders always connect, so this may be one.
                p.unconnecting = 0;
                p.headers_asked = None;
                if added.new == 0 && count < MAX_HEADERS {
                    // Nothing we did not have (a branch set aside, or one already known): the
                    // peer has nothing more for us, whatever it claimed, so it is not asked again
                    // every second for the same headers.
                    p.height = p.height.min(chain.best_header().0);
                    p.work = Work::ZERO;
                } else {
                    p.height = p.height.max(last_height);
                }
                if count == MAX_HEADERS {
                    // Continue from where this answer ended, even if it did not change our best
                    // header (a branch that is still lighter).
                    self.ask_headers(id, added.locator_after, now);
                }
            }
            Err(ChainError::UnknownParent(parent)) if count > MAX_ANNOUNCE => {
                // Longer than any announcement: an answer to getheaders, which starts at a
                // block of our locator and so must connect.
                return self.misbehaved(id, Misbehavior::HeadersDoNotConnect(parent), now, chain);
            }
            Err(ChainError::UnknownParent(_)) if asked => {
                // We already asked for the headers in between; their answer will connect this.
                if count == 1 {
                    self.compact_orphaned(id, last_height, chain);
                }
            }
            Err(ChainError::UnknownParent(_)) => {
                // An announcement that does not connect: we are missing blocks in between (or
                // two announcements crossed). Ask with a locator; only a peer that keeps doing
                // it is misbehaving.
                p.unconnecting += 1;
                if p.unconnecting > MAX_UNCONNECTING {
                    return self.misbehaved(id, Misbehavior::KeepsUnconnecting, now, chain);
                }
                self.ask_headers(id, chain.locator(), now);
                if count == 1 {
                    self.compact_orphaned(id, last_height, chain);
                }
            }
            Err(ChainError::Invalid(BlockError::Header(HeaderError::TimestampTooNew {
                ..
            }))) => {
                // Possibly only our clock: drop, do not ban.
                return self.drop_peer(id, "header timestamp too far in the future", now, chain);
            }
            Err(ChainError::Invalid(e)) => {
                return self.misbehaved(id, Misbehavior::InvalidHeader(e), now, chain);
            }
            Err(ChainError::KnownInvalid(h)) => {
                return self.misbehaved(id, Misbehavior::HeadersOfInvalid(h), now, chain);
            }
            Err(ChainError::Store(e)) => {
                p.headers_queue.clear();
                self.out.push(Output::Fatal(e.to_string()));
                return;
            }
        }
        // Compact blocks whose headers the chain now has go on before they are connected.
        self.forward_compact(chain);
        // The next batch goes only from a peer that is kept; then held compact blocks that came
        // before their parents go to the chain again, behind it.
        self.next_header_batch(id);
        self.resubmit_compact_headers(now, chain);
        self.schedule(now, chain);
    }

    pub(super) fn on_block(
        &mut self,
        id: PeerId,
        block: BodyChecked,
        now: Time,
        chain: &dyn ChainReader,
    ) {
        let hash = block.hash();
        if self.requested.get(&hash).map(|(p, _)| *p) != Some(id) {
            tracing::debug!(block = %hash, "ignoring a block not requested from this peer");
            return;
        }
        self.requested.remove(&hash);
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        p.last_progress = now;
        p.known_blocks.insert(hash);
        let ban_key = p.ban_key;
        self.downloaded.insert(
            hash,
            Downloaded {
                peer: id,
                ban_key,
                block,
                ban_if_invalid: true,
            },
        );
        self.feed(chain);
        self.schedule(now, chain);
    }

    pub(super) fn on_not_found(
        &mut self,
        id: PeerId,
        hs: Vec<Hash>,
        now: Time,
        chain: &dyn ChainReader,
    ) {
        for h in hs {
            // Only answers to our requests count; anything else is noise.
            if self.requested.get(&h).map(|(p, _)| *p) == Some(id) {
                self.requested.remove(&h);
                self.body_failed(h, id);
                if let Some(p) = self.peers.get_mut(&id) {
                    if p.not_found.len() > MAX_NOT_FOUND {
                        p.not_found.clear();
                    }
                    p.not_found.insert(h, now);
                }
            }
        }
        self.schedule(now, chain);
    }

    /// Hands downloaded blocks to the processor in chain order.
    fn feed(&mut self, chain: &dyn ChainReader) {
        for (h, _) in chain.missing() {
            if self.fed.contains_key(&h) {
                continue;
            }
            let Some(d) = self.downloaded.remove(&h) else {
                break;
            };
            self.fed.insert(h, d.ban_if_invalid);
            self.out.push(Output::SubmitBlock {
                peer: d.peer,
                ban_key: d.ban_key,
                block: d.block,
            });
        }
    }

    /// Requests missing bodies of the best header chain from peers with free slots: the peer
    /// that announced the block first, then the least busy one that claims the height (a peer
    /// that left a compact block of it incomplete comes last).
    pub(super) fn schedule(&mut self, now: Time, chain: &dyn ChainReader) {
        let missing = chain.missing();
        // What left the window (another branch won, or the body came) is forgotten, so the
        // requests and downloads held never exceed it.
        let window: std::collections::HashSet<Hash> = missing.iter().map(|(h, _)| *h).collect();
        self.requested.retain(|h, _| window.contains(h));
        self.downloaded.retain(|h, _| window.contains(h));
        self.body_wants.retain(|h, _| window.contains(h));
        for h in &window {
            self.body_wants
                .entry(*h)
                .or_insert_with(|| BodyWant::new(now));
        }
        let first = missing
            .iter()
            .map(|(h, _)| *h)
            .find(|h| !self.fed.contains_key(h) && !self.downloaded.contains_key(h));
        let mut load: HashMap<PeerId, usize> = self.peers.keys().map(|id| (*id, 0)).collect();
        for (owner, _) in self.requested.values() {
            if let Some(n) = load.get_mut(owner) {
                *n += 1;
            }
        }
        let mut batches: Vec<(PeerId, Vec<Hash>)> = Vec::new();
        let mut took_compact = false;
        for (h, height) in missing {
            if self.fed.contains_key(&h) || self.downloaded.contains_key(&h) {
                continue;
            }
            // A compact block already brought this body: a request for it is no longer needed
            // (the whole block, if it still comes, is ignored).
            if self.take_compact(&h, chain) {
                self.requested.remove(&h);
                took_compact = true;
                continue;
            }
            if self.requested.contains_key(&h) || self.compact_expected(&h, now) {
                continue;
            }
            let best = self
                .peers
                .iter()
                .filter(|(id, p)| {
                    load.get(id).copied().unwrap_or(0) < MAX_IN_FLIGHT_PER_PEER
                        && p.not_found
                            .get(&h)
                            .is_none_or(|at| now.since(*at) > NOT_FOUND_RETRY)
                        && (p.known_blocks.contains(&h) || p.height >= height)
                })
                .min_by_key(|(id, p)| {
                    (
                        self.waited_for(&h, **id),
                        !p.known_blocks.contains(&h),
                        load.get(id).copied().unwrap_or(0),
                        **id,
                    )
                })
                .map(|(id, _)| *id);
            let Some(pid) = best else {
                continue;
            };
            if load.get(&pid).copied().unwrap_or(0) == 0 {
                // The stall clock starts with the first request after being idle.
                if let Some(p) = self.peers.get_mut(&pid) {
                    p.last_progress = now;
                }
            }
            *load.entry(pid).or_default() += 1;
            self.requested.insert(h, (pid, now));
            match batches.iter_mut().find(|(p, _)| *p == pid) {
                Some((_, hs)) => hs.push(h),
                None => batches.push((pid, vec![h])),
            }
        }
        for (pid, hs) in batches {
            for chunk in hs.chunks(MAX_BLOCK_REQUEST) {
                self.send(pid, Message::GetBlocks(chunk.to_vec()));
            }
        }
        if took_compact {
            self.feed(chain);
        }
        self.withhold_undelivered(first, now);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_processed(
        &mut self,
        peer: PeerId,
        ban_key: BanKey,
        hash: Hash,
        result: Result<Submitted, ChainError>,
        status: Option<BlockStatus>,
        now: Time,
        chain: &dyn ChainReader,
    ) {
        let answers_for_it = self.fed.remove(&hash).unwrap_or(true);
        let new_and_valid = matches!(result, Ok(Submitted::TipChanged(_) | Submitted::Stored))
            && status != Some(BlockStatus::Invalid);
        if let (true, Some(p)) = (new_and_valid, self.peers.get_mut(&peer)) {
            // A block we lacked, taken by the chain: what protects the peer from eviction.
            p.last_block = Some(now);
        }
        let verdict = match &result {
            _ if status == Some(BlockStatus::Invalid) => {
                Some(Misbehavior::BlockFailedValidation(hash))
            }
            Err(ChainError::Invalid(error)) => Some(Misbehavior::InvalidBlock {
                hash,
                error: *error,
            }),
            Err(ChainError::KnownInvalid(h)) => Some(Misbehavior::BlockOfInvalidBranch(*h)),
            Err(ChainError::Store(e)) => {
                self.out.push(Output::Fatal(e.to_string()));
                None
            }
            Ok(Submitted::Orphan) => {
                tracing::debug!(block = %hash, "downloaded block is an orphan");
                None
            }
            _ => None,
        };
        let forwarded_in_good_faith = matches!(
            verdict,
            Some(Misbehavior::BlockFailedValidation(_) | Misbehavior::InvalidBlock { .. })
        ) && !answers_for_it;
        if let (true, Some(why)) = (forwarded_in_good_faith, &verdict) {
            // Forwarded before validation, with its header's proof of work checked: the peer
            // may have passed it on in good faith. Dropped, not banned.
            if self.peers.contains_key(&peer) {
                self.drop_peer(peer, &format!("forwarded {why}"), now, chain);
            }
        } else if let Some(why) = verdict {
            // Banned by key even if the peer has disconnected since it sent the block.
            let remote = self
                .peers
                .get(&peer)
                .map(|p| p.remote)
                .unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
            self.ban(ban_key, remote, &why, now);
            if self.peers.contains_key(&peer) {
                self.drop_peer(peer, &why.to_string(), now, chain);
            }
        }
        self.feed(chain);
        self.schedule(now, chain);
    }

    /// Periodic sync upkeep: ask peers that claim more than we have for headers, and schedule.
    pub(super) fn sync_housekeeping(&mut self, now: Time, chain: &dyn ChainReader) {
        self.expire_compact(now, chain);
        let (best_height, best_work) = chain.best_header();
        let mut behind: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                (p.height > best_height || p.work > best_work)
                    && p.headers_asked.is_none()
                    && !p.headers_in_chain
            })
            .map(|(id, _)| *id)
            .collect();
        behind.sort_unstable();
        if !behind.is_empty() {
            let locator = chain.locator();
            for pid in behind {
                self.ask_headers(pid, locator.clone(), now);
            }
        }
        self.schedule(now, chain);
    }
}
