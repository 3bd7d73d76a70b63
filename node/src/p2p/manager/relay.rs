//! Relay: new tips announced by header to the peers that lack them, transfers announced by id
//! and fetched once, with per-peer bounds on what is requested and a fallback to another
//! announcer when a peer does not deliver.

use std::time::{Duration, Instant};

use ferrite_core::{BlockHeader, Hash, SignedTransaction};

use super::{Manager, TxWant};
use crate::mempool::MempoolError;
use crate::node::{NodeEvent, SubmitTxError};
use crate::p2p::wire::{Message, MAX_TX_BATCH};
use crate::p2p::PeerId;

use super::sync::{DOWNLOAD_WINDOW, MAX_ANNOUNCE};

/// A requested transfer not received in this time is requested from the next peer that
/// announced it.
pub const TX_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Transfers requested from one peer and not yet received: an announcement flood cannot make
/// the node track more than this per peer.
pub const MAX_TX_IN_FLIGHT_PER_PEER: usize = 5_000;
/// Transfers being fetched from all peers together (the default mempool holds 50,000).
pub const MAX_TX_WANTED: usize = 50_000;
/// Other announcers remembered per wanted transfer.
const MAX_TX_ANNOUNCERS: usize = 4;

impl Manager {
    pub(super) fn on_node_event(&mut self, ev: NodeEvent) {
        match ev {
            NodeEvent::Tip { connected, .. } => self.announce_blocks(&connected),
            NodeEvent::Tx(id) => self.pending_tx_inv.push(id),
        }
    }

    fn announce_blocks(&mut self, connected: &[Hash]) {
        let headers: Vec<BlockHeader> = {
            let chain = self.shared.node.chain();
            // While catching up, peers have these blocks already (we are fetching them from
            // peers); the tip is announced once sync is done.
            let catching_up = match (chain.best_header(), chain.tip_info()) {
                (Ok((_, best)), Ok(tip)) => best.height > tip.height + DOWNLOAD_WINDOW as u64,
                _ => false,
            };
            if catching_up {
                return;
            }
            let start = connected.len().saturating_sub(MAX_ANNOUNCE);
            connected[start..]
                .iter()
                .filter_map(|h| chain.store().header(h).ok().flatten())
                .collect()
        };
        if headers.is_empty() {
            return;
        }
        let ids: Vec<Hash> = headers.iter().map(|h| h.hash()).collect();
        let mut sends = Vec::new();
        for (pid, p) in self.peers.iter_mut() {
            // Send the suffix after the last header the peer already has.
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
        for (pid, hs) in sends {
            self.send(pid, &Message::Headers(hs));
        }
    }

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
            self.send(id, &Message::InvTx(chunk.to_vec()));
        }
    }

    pub(super) fn flush_tx_inv(&mut self) {
        if self.pending_tx_inv.is_empty() {
            return;
        }
        let ids = std::mem::take(&mut self.pending_tx_inv);
        let peers: Vec<PeerId> = self.peers.keys().copied().collect();
        for pid in peers {
            self.announce_txs_to(pid, &ids);
        }
    }

    pub(super) fn on_inv_tx(&mut self, id: PeerId, ids: Vec<Hash>) {
        let now = Instant::now();
        let unknown: Vec<Hash> = {
            let pool = self.shared.node.mempool();
            ids.iter().filter(|h| !pool.contains(h)).copied().collect()
        };
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
        if !request.is_empty() {
            self.send(id, &Message::GetTxs(request));
        }
    }

    pub(super) async fn on_txs(&mut self, id: PeerId, txs: Vec<SignedTransaction>) {
        // Only transfers requested from this peer are taken.
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
        if wanted.is_empty() {
            return;
        }
        let node = self.shared.node.clone();
        let bad = tokio::task::spawn_blocking(move || {
            let mut bad = None;
            for t in wanted {
                match node.submit_tx(t) {
                    Ok(_) => {}
                    // A signature that does not verify, or a transfer that breaks a rule that
                    // needs no state, is wrong everywhere: the peer should never have relayed
                    // it. Other refusals can be honest differences of state.
                    Err(SubmitTxError::Rejected(e @ MempoolError::BadSignature))
                    | Err(SubmitTxError::Rejected(e @ MempoolError::Rule(_))) => {
                        bad = Some(e.to_string());
                    }
                    Err(e) => tracing::debug!(error = %e, "relayed transfer refused"),
                }
            }
            bad
        })
        .await;
        if let Ok(Some(reason)) = bad {
            self.misbehaved(id, &format!("relayed an invalid transfer: {reason}"));
        }
    }

    /// Moves timed-out transfer requests to the next announcer still connected.
    pub(super) fn expire_tx_requests(&mut self, now: Instant) {
        let expired: Vec<Hash> = self
            .tx_wanted
            .iter()
            .filter(|(_, w)| now.duration_since(w.at) > TX_REQUEST_TIMEOUT)
            .map(|(h, _)| *h)
            .collect();
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
    pub(super) fn forget_tx_requests_of(&mut self, id: PeerId) {
        let owed: Vec<Hash> = self
            .tx_wanted
            .iter()
            .filter(|(_, w)| w.asked == id)
            .map(|(h, _)| *h)
            .collect();
        let now = Instant::now();
        for h in owed {
            if let Some(w) = self.tx_wanted.remove(&h) {
                self.rerequest(h, w.others, now);
            }
        }
    }

    fn rerequest(&mut self, h: Hash, mut others: Vec<PeerId>, now: Instant) {
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
        self.send(next, &Message::GetTxs(vec![h]));
    }
}
