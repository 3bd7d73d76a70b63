//! Compact relay in the machine (after BIP152's high-bandwidth mode): which peers are asked to
//! send new blocks unannounced, sending the node's new tip as a compact block to the peers that
//! asked for it, and forwarding a received compact block to them as soon as its header is
//! checked, before the block is connected: at once when the header extends the best header
//! and passes the chain's checks against the published view, otherwise once the chain has
//! taken it onto its best header chain. A block forwarded that way carries
//! `validated: false`, and a peer that sends such a block is dropped, not banned, if it then
//! fails validation: it may have passed it on in good faith. The peer that connected a block
//! and sent it (`validated: true`), or that sent it whole, is banned as for any invalid block.

use std::sync::Arc;
use std::time::Duration;

use ferrite_core::{BlockHeader, BodyChecked, Hash};
use rand::Rng;

use super::{ChainReader, Downloaded, Machine, Output, Time};
use crate::p2p::addrbook::BanKey;
use crate::p2p::compact::CompactBlock;
use crate::p2p::wire::Message;
use crate::p2p::PeerId;

/// Peers asked to send new blocks unannounced (BIP152 uses three): enough that a block from any
/// direction arrives at once, few enough that each block arrives only a few times.
pub const MAX_HIGH_BANDWIDTH: usize = 3;
/// Compact blocks held while the chain checks their headers.
pub const MAX_PENDING_COMPACT: usize = 8;
/// A held compact block whose header the chain has not taken in this time is dropped.
pub const PENDING_COMPACT_TIMEOUT: Duration = Duration::from_secs(30);
/// Blocks remembered as having had their wait for a sender's transfers: more than the blocks a
/// node takes in while any one of them waits.
pub const MAX_WAITED: usize = 64;
/// How long a compact block's sender has to send the transfers it was asked for before the
/// block is downloaded whole: one round trip, with room for a loaded peer; waiting longer only
/// delays the block, giving up sooner only costs the bandwidth of the whole block.
pub const COMPACT_TXS_WAIT: Duration = Duration::from_secs(3);

/// A received compact block, rebuilt and matched to its header, waiting for the chain to check
/// that header.
pub(super) struct PendingCompact {
    peer: PeerId,
    ban_key: BanKey,
    block: Arc<BodyChecked>,
    validated: bool,
    at: Time,
    forwarded: bool,
    /// The chain refused its header for an unknown parent, and it has not been handed to the
    /// chain again yet (see [`Machine::resubmit_compact_headers`]).
    orphaned: bool,
}

impl Machine {
    /// A new peer: asked for high-bandwidth compact blocks while fewer than
    /// [`MAX_HIGH_BANDWIDTH`] are.
    pub(super) fn offer_compact(&mut self, id: PeerId) {
        if !self.cfg.compact_relay {
            return;
        }
        let asked = self.peers.values().filter(|p| p.asked_compact).count();
        if asked >= MAX_HIGH_BANDWIDTH {
            return;
        }
        if let Some(p) = self.peers.get_mut(&id) {
            p.asked_compact = true;
        }
        self.send(id, Message::SendCompact(true));
    }

    /// The peer's `SendCompact`.
    pub(super) fn on_send_compact(&mut self, id: PeerId, high_bandwidth: bool) {
        if let Some(p) = self.peers.get_mut(&id) {
            p.wants_compact = high_bandwidth;
        }
    }

    /// True when `id` takes new blocks as compact blocks.
    pub(super) fn takes_compact(&self, id: PeerId) -> bool {
        self.cfg.compact_relay && self.peers.get(&id).is_some_and(|p| p.wants_compact)
    }

    /// Sends `block` to `id` as a compact block under a fresh nonce, with the transfers the peer
    /// is not known to have sent whole.
    pub(super) fn send_compact(&mut self, id: PeerId, block: &Arc<BodyChecked>, validated: bool) {
        let nonce: u64 = self.rng.gen();
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        p.known_blocks.insert(block.hash());
        let ids = block.tx_ids();
        let compact = CompactBlock::new(block, nonce, |i| !p.known_txs.contains(&ids[i]));
        self.out.push(Output::Send(
            id,
            Message::CompactBlock { compact, validated },
        ));
    }

    /// A compact block from `id`, rebuilt and matched to its header by the connection: its
    /// header goes to the chain through the peer's header queue, and the body waits here.
    pub(super) fn on_compact_block(
        &mut self,
        id: PeerId,
        block: BodyChecked,
        validated: bool,
        now: Time,
        chain: &dyn ChainReader,
    ) {
        let hash = block.hash();
        let header = block.block().header;
        self.compact_awaited.remove(&hash);
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        p.known_blocks.insert(hash);
        for t in block.tx_ids() {
            p.known_txs.insert(*t);
        }
        let ban_key = p.ban_key;
        // Only a peer asked for high-bandwidth blocks may pass one on before validation; from
        // anyone else a block answers for itself.
        let validated = validated || !p.asked_compact;
        let held = self.compact_pending.contains_key(&hash)
            || self.downloaded.contains_key(&hash)
            || self.fed.contains_key(&hash);
        if held || chain.has_block(&hash) {
            return;
        }
        if self.compact_pending.len() >= MAX_PENDING_COMPACT {
            let oldest = self
                .compact_pending
                .iter()
                .min_by_key(|(h, c)| (c.at, **h))
                .map(|(h, _)| *h);
            if let Some(h) = oldest {
                self.compact_pending.remove(&h);
            }
        }
        self.compact_pending.insert(
            hash,
            PendingCompact {
                peer: id,
                ban_key,
                block: Arc::new(block),
                validated,
                at: now,
                forwarded: false,
                orphaned: false,
            },
        );
        // A block on top of the best header, whose header passes the chain's checks, is the
        // next best block: it is passed on now, while the chain takes its header. Only the
        // first at its height: a sibling may arrive before the chain has taken the first.
        if header.height > self.fast_forwarded && chain.extends_best_header(&header) {
            self.fast_forwarded = header.height;
            self.forward_held(hash);
        }
        self.on_headers(id, vec![header], now, chain);
    }

    /// A compact block from `id` waits for transfers asked of it: its header goes to the chain,
    /// and the body is not requested elsewhere for [`COMPACT_TXS_WAIT`]. One wait per peer (its
    /// connection completes one rebuild at a time, a newer one replacing it), once per block,
    /// and none for a body already requested.
    pub(super) fn on_compact_awaited(
        &mut self,
        id: PeerId,
        header: BlockHeader,
        now: Time,
        chain: &dyn ChainReader,
    ) {
        let hash = header.hash();
        if !self.peers.contains_key(&id) {
            return;
        }
        self.compact_awaited.retain(|_, (peer, _)| *peer != id);
        let held = self.compact_pending.contains_key(&hash)
            || self.downloaded.contains_key(&hash)
            || self.fed.contains_key(&hash)
            || self.requested.contains_key(&hash);
        let waited = self.compact_waited.iter().any(|(h, _)| *h == hash);
        if !held && !chain.has_block(&hash) && !waited {
            if self.compact_awaited.len() >= MAX_PENDING_COMPACT {
                let oldest = self
                    .compact_awaited
                    .iter()
                    .min_by_key(|(h, (_, at))| (*at, **h))
                    .map(|(h, _)| *h);
                if let Some(h) = oldest {
                    self.compact_awaited.remove(&h);
                }
            }
            self.compact_awaited.insert(hash, (id, now));
            self.compact_waited.push_back((hash, id));
            while self.compact_waited.len() > MAX_WAITED {
                self.compact_waited.pop_front();
            }
        }
        self.on_headers(id, vec![header], now, chain);
    }

    /// True when `id` was waited for to complete a compact block of `h` (the scheduler asks it
    /// for the whole block only when no other peer can be asked).
    pub(super) fn waited_for(&self, h: &Hash, id: PeerId) -> bool {
        self.compact_waited.contains(&(*h, id))
    }

    /// True while the body of `h` is expected from a compact block's sender (the scheduler
    /// does not request it).
    pub(super) fn compact_expected(&self, h: &Hash, now: Time) -> bool {
        self.compact_awaited
            .get(h)
            .is_some_and(|(_, at)| now.since(*at) <= COMPACT_TXS_WAIT)
    }

    /// After the chain took a header batch: held compact blocks whose headers it now has on its
    /// best header chain (a side branch is not passed on) are forwarded to the high-bandwidth
    /// peers that lack them, before being connected.
    pub(super) fn forward_compact(&mut self, chain: &dyn ChainReader) {
        let wanted: std::collections::HashSet<Hash> =
            chain.missing().into_iter().map(|(h, _)| h).collect();
        let mut ready: Vec<(u64, Hash)> = self
            .compact_pending
            .iter()
            .filter(|(h, c)| !c.forwarded && chain.has_header(h) && wanted.contains(*h))
            .map(|(h, c)| (c.block.block().header.height, *h))
            .collect();
        // Parents first: a peer given a child before its parent cannot place it.
        ready.sort();
        for (_, hash) in ready {
            self.forward_held(hash);
        }
    }

    /// The chain refused a one-header batch of `id` at `height` for its unknown parent: a held
    /// compact block of `id` at that height whose header the chain lacks came before its
    /// parent.
    pub(super) fn compact_orphaned(&mut self, id: PeerId, height: u64, chain: &dyn ChainReader) {
        let Some(p) = self.peers.get(&id) else {
            return;
        };
        for (h, c) in self.compact_pending.iter_mut() {
            let header = c.block.block().header;
            // Not a sibling of that height whose own batch still waits in the peer's queue.
            let queued = p.headers_queue.iter().any(|b| b.contains(&header));
            if c.peer == id && header.height == height && !queued && !chain.has_header(h) {
                c.orphaned = true;
            }
        }
    }

    /// After the chain took a header batch: a held compact block whose header came before its
    /// parent, and whose parent the chain now has, goes to the chain again, once, through its
    /// sender's header queue. Without this its body would wait until a later block's headers
    /// brought its header.
    pub(super) fn resubmit_compact_headers(&mut self, now: Time, chain: &dyn ChainReader) {
        let mut due: Vec<(u64, Hash, PeerId, BlockHeader)> = self
            .compact_pending
            .iter()
            .filter(|(h, c)| c.orphaned && !chain.has_header(h))
            .map(|(h, c)| (c.block.block().header, *h, c.peer))
            .filter(|(header, _, _)| chain.has_header(&header.prev))
            .map(|(header, h, peer)| (header.height, h, peer, header))
            .collect();
        due.sort_by_key(|(height, h, _, _)| (*height, *h));
        for (_, h, peer, header) in due {
            // Our own resubmission never overflows the sender's queue (which drops a peer): it
            // waits for room, still marked.
            let room = self
                .peers
                .get(&peer)
                .is_some_and(|p| p.headers_queue.len() < super::sync::MAX_QUEUED_HEADER_BATCHES);
            if !room {
                continue;
            }
            if let Some(c) = self.compact_pending.get_mut(&h) {
                c.orphaned = false;
            }
            self.on_headers(peer, vec![header], now, chain);
        }
    }

    /// Forwards the held compact block `hash` to the high-bandwidth peers that lack it, once.
    fn forward_held(&mut self, hash: Hash) {
        let Some(c) = self.compact_pending.get_mut(&hash) else {
            return;
        };
        if c.forwarded {
            return;
        }
        c.forwarded = true;
        let (from, block) = (c.peer, c.block.clone());
        let targets: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(id, p)| **id != from && p.wants_compact && !p.known_blocks.contains(&hash))
            .map(|(id, _)| *id)
            .collect();
        if targets.is_empty() || !self.cfg.compact_relay {
            return;
        }
        self.out.push(Output::KeepForCompact(block.clone()));
        for t in targets {
            self.send_compact(t, &block, false);
        }
    }

    /// Moves the held body of `h` (now in the download window) to the downloaded blocks, once
    /// the chain has its header.
    pub(super) fn take_compact(&mut self, h: &Hash, chain: &dyn ChainReader) -> bool {
        if !self.compact_pending.contains_key(h) || !chain.has_header(h) {
            return false;
        }
        let Some(c) = self.compact_pending.remove(h) else {
            return false;
        };
        let block = Arc::try_unwrap(c.block).unwrap_or_else(|shared| (*shared).clone());
        self.downloaded.insert(
            *h,
            Downloaded {
                peer: c.peer,
                ban_key: c.ban_key,
                block,
                ban_if_invalid: c.validated,
            },
        );
        true
    }

    /// Forgets the compact blocks `id` sent whose headers the chain has not taken (the peer is
    /// gone, and with it the reason to trust that they will be), and those it was to complete:
    /// their bodies are requested elsewhere at once.
    pub(super) fn forget_compact_of(&mut self, id: PeerId) {
        self.compact_pending
            .retain(|_, c| c.peer != id || c.forwarded);
        self.compact_awaited.retain(|_, (peer, _)| *peer != id);
    }

    /// Drops held compact blocks the chain has whole, or whose header it never took, and
    /// forgets transfers awaited too long.
    pub(super) fn expire_compact(&mut self, now: Time, chain: &dyn ChainReader) {
        self.compact_pending
            .retain(|h, c| now.since(c.at) <= PENDING_COMPACT_TIMEOUT && !chain.has_block(h));
        self.compact_awaited
            .retain(|_, (_, at)| now.since(*at) <= COMPACT_TXS_WAIT);
    }

    /// Sends the new tip to `id` as a compact block when it takes them and lacks exactly that
    /// block; false when it should get the headers instead.
    pub(super) fn announce_compact(
        &mut self,
        id: PeerId,
        unknown: &[BlockHeader],
        tip: Option<&Arc<BodyChecked>>,
    ) -> bool {
        let Some(block) = tip else {
            return false;
        };
        let only_tip = matches!(unknown, [h] if h.hash() == block.hash());
        if !only_tip || !self.takes_compact(id) {
            return false;
        }
        self.send_compact(id, block, true);
        true
    }
}
