//! What the machine holds and whether its books agree, for the simulator's bounds and audits.

use std::collections::BTreeMap;

use super::Machine;
use crate::p2p::PeerId;

/// Sizes of what the machine holds (see [`Machine::footprint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Connected peers.
    pub peers: usize,
    /// Blocks requested and not received.
    pub blocks_requested: usize,
    /// Blocks held downloaded or handed to the processor.
    pub blocks_downloaded: usize,
    /// Transfers being fetched.
    pub txs_wanted: usize,
    /// The most transfers requested from one peer.
    pub most_txs_in_flight_per_peer: usize,
    /// Addresses in the book.
    pub addresses: usize,
    /// Address bans and node-id bans held.
    pub bans: (usize, usize),
}

impl Machine {
    /// What the machine holds, for the simulator's memory bounds.
    pub fn footprint(&self) -> Footprint {
        Footprint {
            peers: self.peers.len(),
            blocks_requested: self.requested.len(),
            blocks_downloaded: self.downloaded.len() + self.fed.len() + self.compact_pending.len(),
            txs_wanted: self.tx_wanted.len(),
            most_txs_in_flight_per_peer: self
                .peers
                .values()
                .map(|p| p.txs_in_flight)
                .max()
                .unwrap_or(0),
            addresses: self.book.len(),
            bans: self.book.ban_count(),
        }
    }

    /// Checks the machine's own bookkeeping (for the simulator, after any input): every
    /// request (and awaited compact block) belongs to a connected peer, and each peer's count of transfers in flight is
    /// the number of transfer requests made of it. Returns what is wrong.
    pub fn audit(&self) -> Vec<String> {
        let mut wrong = Vec::new();
        for (h, (owner, _)) in &self.requested {
            if !self.peers.contains_key(owner) {
                wrong.push(format!("block {h} requested of gone peer {owner}"));
            }
        }
        for (h, (owner, _)) in &self.compact_awaited {
            if !self.peers.contains_key(owner) {
                wrong.push(format!("compact block {h} awaited from gone peer {owner}"));
            }
        }
        let mut asked_of: BTreeMap<PeerId, usize> = BTreeMap::new();
        for (h, w) in &self.tx_wanted {
            if !self.peers.contains_key(&w.asked()) {
                wrong.push(format!("transfer {h} requested of gone peer {}", w.asked()));
            }
            *asked_of.entry(w.asked()).or_default() += 1;
        }
        for (id, p) in &self.peers {
            let asked = asked_of.get(id).copied().unwrap_or(0);
            if asked != p.txs_in_flight {
                wrong.push(format!(
                    "peer {id}: {} transfers counted in flight, {asked} requested",
                    p.txs_in_flight
                ));
            }
        }
        wrong
    }
}
