//! The misbehaving roles' own actions (their answers to requests are in [`super::host`]):
//! floods of transfer ids, forged blocks, and headers whose bodies are withheld.

use std::time::Duration;

use ferrite_core::{Address, Hash};
use ferrite_node::p2p::wire::Message;
use rand::Rng;

use super::{Ev, Sim};

/// True for what a squatter never sends: anything that would make it useful to its peers
/// (announcements, blocks, transfers, addresses).
pub(super) fn offers_something(msg: &Message) -> bool {
    match msg {
        Message::Headers(hs) => !hs.is_empty(),
        Message::InvTx(_)
        | Message::Txs(_)
        | Message::Block(_)
        | Message::CompactBlock { .. }
        | Message::BlockTxs { .. }
        | Message::Addr(_)
        | Message::SendCompact(_) => true,
        _ => false,
    }
}

impl Sim {
    /// A flooder announces a thousand unknown transfer ids to each peer, every flood interval.
    pub(super) fn flood(&mut self, host: usize, incarnation: u32) {
        if !self.live(host, incarnation) {
            return;
        }
        self.after(self.sc.flood_interval, Ev::Flood { host, incarnation });
        let peers = self.net.peers_of(host);
        for p in peers {
            // Flooders spare each other (it only costs the simulation time).
            let other = self
                .net
                .find(host, p)
                .map(|(n, side)| self.net.conns[n].ends[1 - side].host);
            if other.is_some_and(|o| self.hosts[o].role == super::Role::Flooder) {
                continue;
            }
            let ids: Vec<Hash> = (0..1000).map(|_| Hash(self.rng.gen())).collect();
            self.send(host, p, Message::InvTx(ids));
        }
    }

    /// A forger announces a block whose state root is wrong (its proof of work is real).
    pub(super) fn forge(&mut self, host: usize, incarnation: u32) {
        if !self.live(host, incarnation) || self.settling {
            return;
        }
        self.after(Duration::from_secs(30), Ev::Forge { host, incarnation });
        let Some(live) = self.hosts[host].live() else {
            return;
        };
        let node = live.node.clone();
        let Ok(mut block) = node.block_template(Address([99; 32])) else {
            return;
        };
        block.header.state_root = Hash([0xEE; 32]);
        if !ferrite_core::template::mine(&mut block.header, u64::MAX) {
            return;
        }
        let header = block.header;
        self.hosts[host].forged.push(block);
        let peers = self.net.peers_of(host);
        for p in peers {
            self.send(host, p, Message::Headers(vec![header]));
        }
    }

    /// A withholder mines a valid block on a new tip it sees and announces its header at once,
    /// ahead of the honest miner's next block, but never stores or serves its body. It skips
    /// the tip right after one it withheld a child of: building on the honest block that
    /// competes with its own would bring that block to its peers (a heavier header on top of
    /// it), ending the attack; every other honest block waits behind a withheld header.
    pub(super) fn withhold(&mut self, host: usize, incarnation: u32) {
        if !self.live(host, incarnation) {
            return;
        }
        self.after(Duration::from_secs(1), Ev::Withhold { host, incarnation });
        let Some(live) = self.hosts[host].live() else {
            return;
        };
        let node = live.node.clone();
        let Ok(mut block) = node.block_template(Address([98; 32])) else {
            return;
        };
        if block.header.height <= self.hosts[host].withheld_height + 1 {
            return;
        }
        if !ferrite_core::template::mine(&mut block.header, u64::MAX) {
            return;
        }
        self.hosts[host].withheld_height = block.header.height;
        self.report.withheld += 1;
        let header = block.header;
        let peers = self.net.peers_of(host);
        for p in peers {
            self.send(host, p, Message::Headers(vec![header]));
        }
    }
}
