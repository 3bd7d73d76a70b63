//! Relay: new tips announced by header to the peers that lack them, transfers announced by id
//! and fetched once, with per-peer bounds on what is requested and a fallback to another
//! announcer when a peer does not deliver.

use std::sync::Arc;
use std::time::Duration;

use ferrite_core::{BlockHeader, BodyChecked, Hash, SignedTransaction};

use super::{ChainReader, Machine, Output, Time};
use crate::p2p::wire::{Message, MAX_TX_BATCH};
use crate::p2p::PeerId;

/// A requested transfer not received in this time is requested from the next peer that
/// announced it.
pub const TX_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Transfers requested from one peer and not yet received: an announcement flood cannot make
/// the node track more than this per peer.
pub const MAX_TX_IN_FLIGHT_PER_PEER: usize = 5_000;
/// Transfers being fetched from all peers together (the default mempool holds 50,000).
pub const MAX_TX_WANTED: usize = 50_000;
/// Other announcers remembered per wanted transfer.
pub const MAX_TX_ANNOUNCERS: usize = 4;

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
        }
        let mut request = Vec::new();
        for h in unknown {
            if let Some(w) = self.tx_wanted.get_mut(&h) {
                if w.asked != id && w.others.len() < MAX_TX_ANNOUNCERS && !w.others.contains(&id) {
                    w.others.push(id);
                }
                continue;
            }
            // Beyond the caps, announcements are ignored: the transfer will come again from
            // a peer with room, or in a block.
            if p.txs_in_flight >= MAX_TX_IN_FLIGHT_PER_PEER || self.tx_wanted.len() >= MAX_TX_WANTED
            {
                break;
            }
            p.txs_in_flight += 1;
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
        for chunk in request.chunks(MAX_TX_BATCH) {
            self.send(id, Message::GetTxs(chunk.to_vec()));
        }
    }

    /// Transfers from `id`: only those requested from it are taken, and go to the mempool.
    pub(super) fn on_txs(&mut self, id: PeerId, txs: Vec<SignedTransaction>) {
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
            }
        }
        if !wanted.is_empty() {
            self.out.push(Output::SubmitTxs {
                peer: id,
                txs: wanted,
            });
        }
    }

    /// Moves timed-out transfer requests to the next announcer still connected.
    pub(super) fn expire_tx_requests(&mut self, now: Time) {
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
        others.retain(|o| {
            self.peers
                .get(o)
                .is_some_and(|p| p.txs_in_flight < MAX_TX_IN_FLIGHT_PER_PEER)
        });
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
