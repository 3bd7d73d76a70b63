//! Relay: new tips announced by header to the peers that lack them, transfers announced by id
//! and fetched once, with per-peer bounds on what is requested (the rest of a peer's
//! announcements wait in its own bounded queue), a fallback to another announcer when a peer
//! does not deliver, and pending transfers announced again in turn.

use std::sync::Arc;
use std::time::Duration;

use ferrite_core::{BlockHeader, BodyChecked, Hash, SignedTransaction};

use super::{ChainReader, Machine, Output, Time};
use crate::p2p::wire::{Message, MAX_TX_BATCH};
use crate::p2p::PeerId;

/// A requested transfer not received in this time is requested from the next peer that
/// announced it.
pub const TX_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Transfers being fetched from all peers together (the default mempool holds 50,000).
pub const MAX_TX_WANTED: usize = 50_000;
/// Most transfers requested from one peer and not yet received. The cap a peer actually gets
/// is [`MAX_TX_WANTED`] shared out over every connection slot (see `Machine::tx_cap_per_peer`),
/// so that peers that announce and never deliver cannot fill the total and starve the rest.
pub const MAX_TX_IN_FLIGHT_PER_PEER: usize = 1_000;
/// Announced transfers waiting per peer for room under its cap; more are ignored (a pending
/// transfer is announced again, see [`REANNOUNCE_INTERVAL`]).
pub const MAX_TX_QUEUED_PER_PEER: usize = 5_000;
/// Other announcers remembered per wanted transfer.
pub const MAX_TX_ANNOUNCERS: usize = 4;
/// How often pending transfers are announced again to the peers not known to have them: one
/// that a flood kept a peer from fetching comes back instead of vanishing from the network.
pub const REANNOUNCE_INTERVAL: Duration = Duration::from_secs(60);
/// Pending transfers announced again per interval (taken in turn through the pool, so each is
/// announced again within `pool size / MAX_REANNOUNCE` intervals).
pub const MAX_REANNOUNCE: usize = 1_000;

/// A transfer requested from one peer, with other peers that announced it (asked next if the
/// first does not deliver).
pub(super) struct TxWant {
    asked: PeerId,
    at: Time,
    others: Vec<PeerId>,
}

impl TxWant {
    /// The peer asked.
    pub(super) fn asked(&self) -> PeerId {
        self.asked
    }
}

impl Machine {
    /// Sends each peer the suffix of `headers` after the last one it already has: as a compact
    /// block when that suffix is the new tip `block` alone and the peer takes compact blocks,
    /// as headers otherwise.
    pub(super) fn announce_blocks(
        &mut self,
        headers: Vec<BlockHeader>,
        block: Option<Arc<BodyChecked>>,
    ) {
        if headers.is_empty() {
            return;
        }
        let ids: Vec<Hash> = headers.iter().map(|h| h.hash()).collect();
        let mut sends = Vec::new();
        for (pid, p) in self.peers.iter_mut() {
            let first_unknown = ids
                .iter()
                .rposition(|h| p.known_blocks.contains(h))
                .map(|i| i + 1)
                .unwrap_or(0);
            if first_unknown == ids.len() {
                continue;
            }
            for h in &ids[first_unknown..] {
                p.known_blocks.insert(*h);
            }
            sends.push((*pid, headers[first_unknown..].to_vec()));
        }
        sends.sort_by_key(|(pid, _)| *pid);
        let mut kept = false;
        for (pid, hs) in sends {
            if self.announce_compact(pid, &hs, block.as_ref()) {
                if let (false, Some(b)) = (kept, &block) {
                    self.out.push(Output::KeepForCompact(b.clone()));
                    kept = true;
                }
                continue;
            }
            self.send(pid, Message::Headers(hs));
        }
    }

    /// Announces the ids among `ids` that `id` does not know yet.
    pub(super) fn announce_txs_to(&mut self, id: PeerId, ids: &[Hash]) {
        let fresh: Vec<Hash> = match self.peers.get_mut(&id) {
            Some(p) => {
                let fresh: Vec<Hash> = ids
                    .iter()
                    .filter(|h| !p.known_txs.contains(h))
                    .copied()
                    .collect();
                for h in &fresh {
                    p.known_txs.insert(*h);
                }
                fresh
            }
            None => return,
        };
        for chunk in fresh.chunks(MAX_TX_BATCH) {
            self.send(id, Message::InvTx(chunk.to_vec()));
        }
    }

    /// Announces the transfers admitted since the last flush to every peer.
    pub(super) fn flush_tx_inv(&mut self) {
        if self.pending_tx_inv.is_empty() {
            return;
        }
        let ids = std::mem::take(&mut self.pending_tx_inv);
        let mut peers: Vec<PeerId> = self.peers.keys().copied().collect();
        peers.sort_unstable();
        for pid in peers {
            self.announce_txs_to(pid, &ids);
        }
    }

    /// The most transfers one peer may have requested of it: the total shared out over every
    /// connection slot, at most [`MAX_TX_IN_FLIGHT_PER_PEER`].
    pub(super) fn tx_cap_per_peer(&self) -> usize {
        let slots = (self.cfg.max_inbound + self.cfg.max_outbound).max(1);
        (MAX_TX_WANTED / slots).clamp(1, MAX_TX_IN_FLIGHT_PER_PEER)
    }

    pub(super) fn on_inv_tx(
        &mut self,
        id: PeerId,
        ids: Vec<Hash>,
        now: Time,
        chain: &dyn ChainReader,
    ) {
        let unknown = chain.missing_txs(&ids);
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        for h in &ids {
            p.known_txs.insert(*h);
            p.has_txs.insert(*h);
        }
        let room = MAX_TX_QUEUED_PER_PEER.saturating_sub(p.tx_queue.len());
        if unknown.len() > room {
            self.out
                .push(Output::Defended(super::Defence::TxAnnouncementsIgnored));
        }
        p.tx_queue.extend(unknown.into_iter().take(room));
        self.request_queued_txs(id, now, chain);
    }

    /// Requests what `id` announced, as far as its cap and the total allow; a transfer already
    /// being fetched from another peer notes `id` as a fallback instead.
    fn request_queued_txs(&mut self, id: PeerId, now: Time, chain: &dyn ChainReader) {
        let cap = self.tx_cap_per_peer();
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        let mut request = Vec::new();
        let mut fresh = Vec::new();
        while p.txs_in_flight + request.len() < cap && self.tx_wanted.len() < MAX_TX_WANTED {
            let Some(h) = p.tx_queue.pop_front() else {
                break;
            };
            if let Some(w) = self.tx_wanted.get_mut(&h) {
                if w.asked != id && w.others.len() < MAX_TX_ANNOUNCERS && !w.others.contains(&id) {
                    w.others.push(id);
                }
                continue;
            }
            fresh.push(h);
            self.tx_wanted.insert(
                h,
                TxWant {
                    asked: id,
                    at: now,
                    others: Vec::new(),
                },
            );
            request.push(h);
        }
        p.txs_in_flight += request.len();
        // Ids queued a while ago may have arrived from elsewhere since: they are not asked for.
        let arrived: std::collections::HashSet<Hash> = if fresh.is_empty() {
            Default::default()
        } else {
            let missing: std::collections::HashSet<Hash> =
                chain.missing_txs(&fresh).into_iter().collect();
            fresh.into_iter().filter(|h| !missing.contains(h)).collect()
        };
        if !arrived.is_empty() {
            request.retain(|h| !arrived.contains(h));
            for h in &arrived {
                self.tx_wanted.remove(h);
            }
            p.txs_in_flight = p.txs_in_flight.saturating_sub(arrived.len());
        }
        for chunk in request.chunks(MAX_TX_BATCH) {
            self.send(id, Message::GetTxs(chunk.to_vec()));
        }
    }

    /// Transfers from `id`: only those requested from it are taken, and go to the mempool.
    pub(super) fn on_txs(
        &mut self,
        id: PeerId,
        txs: Vec<SignedTransaction>,
        now: Time,
        chain: &dyn ChainReader,
    ) {
        let mut wanted = Vec::new();
        for t in txs {
            let h = t.id();
            if self.tx_wanted.get(&h).is_some_and(|w| w.asked == id) {
                self.tx_wanted.remove(&h);
                wanted.push(t);
            }
        }
        if let Some(p) = self.peers.get_mut(&id) {
            p.txs_in_flight = p.txs_in_flight.saturating_sub(wanted.len());
            for t in &wanted {
                p.known_txs.insert(t.id());
                p.has_txs.insert(t.id());
            }
        }
        if !wanted.is_empty() {
            self.out.push(Output::SubmitTxs {
                peer: id,
                txs: wanted,
            });
        }
        self.request_queued_txs(id, now, chain);
    }

    /// Every [`REANNOUNCE_INTERVAL`]: the next [`MAX_REANNOUNCE`] pending transfers, in turn
    /// through the pool, announced again to each peer not known to have them.
    pub(super) fn reannounce(&mut self, now: Time, chain: &dyn ChainReader) {
        if now.since(self.reannounced_at) < REANNOUNCE_INTERVAL {
            return;
        }
        self.reannounced_at = now;
        let pool = chain.pool_ids();
        if pool.is_empty() {
            return;
        }
        let start = self.reannounce_cursor % pool.len();
        let ids: Vec<Hash> = pool
            .iter()
            .cycle()
            .skip(start)
            .take(MAX_REANNOUNCE.min(pool.len()))
            .copied()
            .collect();
        self.reannounce_cursor = start + ids.len();
        let mut sends = Vec::new();
        for (pid, p) in self.peers.iter_mut() {
            let lacking: Vec<Hash> = ids
                .iter()
                .filter(|h| !p.has_txs.contains(h))
                .copied()
                .collect();
            for h in &lacking {
                p.known_txs.insert(*h);
            }
            if !lacking.is_empty() {
                sends.push((*pid, lacking));
            }
        }
        for (pid, lacking) in sends {
            for chunk in lacking.chunks(MAX_TX_BATCH) {
                self.send(pid, Message::InvTx(chunk.to_vec()));
            }
        }
    }

    /// Moves timed-out transfer requests to the next announcer still connected, and fills the
    /// room they leave from what peers announced meanwhile.
    pub(super) fn expire_tx_requests(&mut self, now: Time, chain: &dyn ChainReader) {
        let mut expired: Vec<Hash> = self
            .tx_wanted
            .iter()
            .filter(|(_, w)| now.since(w.at) > TX_REQUEST_TIMEOUT)
            .map(|(h, _)| *h)
            .collect();
        expired.sort_unstable();
        for h in expired {
            if let Some(w) = self.tx_wanted.remove(&h) {
                if let Some(p) = self.peers.get_mut(&w.asked) {
                    p.txs_in_flight = p.txs_in_flight.saturating_sub(1);
                }
                self.rerequest(h, w.others, now);
            }
        }
        let waiting: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| !p.tx_queue.is_empty())
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            self.request_queued_txs(id, now, chain);
        }
    }

    /// Forgets the transfer requests made to a departing peer, moving each to another
    /// announcer if there is one.
    pub(super) fn forget_tx_requests_of(&mut self, id: PeerId, now: Time) {
        let mut owed: Vec<Hash> = self
            .tx_wanted
            .iter()
            .filter(|(_, w)| w.asked == id)
            .map(|(h, _)| *h)
            .collect();
        owed.sort_unstable();
        for h in owed {
            if let Some(w) = self.tx_wanted.remove(&h) {
                self.rerequest(h, w.others, now);
            }
        }
    }

    fn rerequest(&mut self, h: Hash, mut others: Vec<PeerId>, now: Time) {
        let cap = self.tx_cap_per_peer();
        others.retain(|o| self.peers.get(o).is_some_and(|p| p.txs_in_flight < cap));
        if others.is_empty() {
            return;
        }
        let next = others.remove(0);
        if let Some(p) = self.peers.get_mut(&next) {
            p.txs_in_flight += 1;
        }
        self.tx_wanted.insert(
            h,
            TxWant {
                asked: next,
                at: now,
                others,
            },
        );
        self.send(next, Message::GetTxs(vec![h]));
    }
}
