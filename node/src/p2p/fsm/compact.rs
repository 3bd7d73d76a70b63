//! Compact relay in the machine (after BIP152's high-bandwidth mode): which peers are asked to
//! send new blocks unannounced, sending the node's new tip as a compact block to the peers that
//! asked for it, and forwarding a received compact block to them as soon as the chain has
//! checked its header, before the block is connected. A block forwarded that way carries
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

/// A received compact block, rebuilt and matched to its header, waiting for the chain to check
/// that header.
pub(super) struct PendingCompact {
    peer: PeerId,
    ban_key: BanKey,
    block: Arc<BodyChecked>,
    validated: bool,
    at: Time,
    forwarded: bool,
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
            },
        );
        self.on_headers(id, vec![header], now, chain);
    }

    /// After the chain took a header batch: held compact blocks whose headers it now has on its
    /// best header chain (a side branch is not passed on) are forwarded to the high-bandwidth
    /// peers that lack them, before being connected.
    pub(super) fn forward_compact(&mut self, chain: &dyn ChainReader) {
        let wanted: std::collections::HashSet<Hash> =
            chain.missing().into_iter().map(|(h, _)| h).collect();
        let mut ready: Vec<(Hash, PeerId, Arc<BodyChecked>)> = self
            .compact_pending
            .iter_mut()
            .filter(|(h, c)| !c.forwarded && chain.has_header(h) && wanted.contains(*h))
            .map(|(h, c)| {
                c.forwarded = true;
                (*h, c.peer, c.block.clone())
            })
            .collect();
        ready.sort_by_key(|(h, _, _)| *h);
        for (hash, from, block) in ready {
            let targets: Vec<PeerId> = self
                .peers
                .iter()
                .filter(|(id, p)| {
                    **id != from && p.wants_compact && !p.known_blocks.contains(&hash)
                })
                .map(|(id, _)| *id)
                .collect();
            if targets.is_empty() || !self.cfg.compact_relay {
                continue;
            }
            self.out.push(Output::KeepForCompact(block.clone()));
            for t in targets {
                self.send_compact(t, &block, false);
            }
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
    /// gone, and with it the reason to trust that they will be).
    pub(super) fn forget_compact_of(&mut self, id: PeerId) {
        self.compact_pending
            .retain(|_, c| c.peer != id || c.forwarded);
    }

    /// Drops held compact blocks the chain has whole, or whose header it never took.
    pub(super) fn expire_compact(&mut self, now: Time, chain: &dyn ChainReader) {
        self.compact_pending
            .retain(|h, c| now.since(c.at) <= PENDING_COMPACT_TIMEOUT && !chain.has_block(h));
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
