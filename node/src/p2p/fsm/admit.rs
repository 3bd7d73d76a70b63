//! Taking a peer in once its handshakes are done: refusals (bans, a key that is not the pinned
//! one), duplicate connections to one node, room for an inbound peer (evicting one that
//! contributes least, see [`super::evict`]), the new peer's record, and what it is sent first.

use std::net::SocketAddr;

use super::evict::{self, Candidate};
use super::peer::Peer;
use super::peers::MAX_INITIAL_ANNOUNCE;
use super::{ChainReader, Defence, Machine, Output, Time};
use crate::p2p::addrbook::BanKey;
use crate::p2p::identity::NodeId;
use crate::p2p::wire::{Message, Version};
use crate::p2p::PeerId;

impl Machine {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_connected(
        &mut self,
        id: PeerId,
        (remote, local): (SocketAddr, SocketAddr),
        dialed: Option<SocketAddr>,
        version: Version,
        node_id: crate::p2p::identity::NodeId,
        now: Time,
        chain: &dyn ChainReader,
    ) {
        if let Some(d) = dialed {
            self.dialing.remove(&d);
        }
        let port = if version.listen_port != 0 {
            version.listen_port
        } else {
            remote.port()
        };
        let ban_key = BanKey::new(remote.ip(), port, node_id);
        let listen =
            (version.listen_port != 0).then(|| SocketAddr::new(remote.ip(), version.listen_port));
        if self.book.is_banned(&ban_key, now.secs()) {
            tracing::info!(peer = %remote, node = %node_id, "refusing a banned peer");
            self.out.push(Output::Disconnect(id));
            return;
        }
        if let Some(pinned) = self.pin_mismatch(dialed, node_id) {
            tracing::warn!(peer = %remote, node = %node_id, pinned = %pinned,
                "refusing a peer whose key is not the pinned one");
            self.out.push(Output::Disconnect(id));
            return;
        }
        // A claim to listen where another key is pinned is not believed (the peer may be
        // another node behind the same IP): it neither stands for the pinned peer nor keeps us
        // from dialling it.
        let listen = listen.filter(|l| self.pin_mismatch(Some(*l), node_id).is_none());
        if let Some(d) = dialed {
            self.book.met(&d, node_id);
        }
        let target = dialed.unwrap_or(local);
        let Some(replaced) =
            self.duplicate_verdict(id, node_id, (dialed.is_some(), target), version.nonce)
        else {
            tracing::debug!(peer = %remote, "duplicate connection; keeping the other one");
            self.out.push(Output::Disconnect(id));
            return;
        };
        // Room is decided before the connection it replaces goes, so that a newcomer refused
        // for room never costs the link it would have replaced; replacing an inbound one frees
        // its slot.
        let frees_inbound =
            replaced.is_some_and(|old| self.peers.get(&old).is_some_and(|p| p.dialed.is_none()));
        if dialed.is_none() && !frees_inbound && !self.room_for_inbound(remote, now, chain) {
            self.out.push(Output::Disconnect(id));
            return;
        }
        if let Some(old) = replaced {
            self.drop_peer(old, "duplicate connection", now, chain);
        }
        if let Some(d) = dialed {
            self.book.connected(&d, now);
        } else if let (true, Some(l)) = (self.cfg.discover, listen) {
            self.book.add_learned(l, now);
        }
        tracing::info!(
            peer = %remote,
            inbound = dialed.is_none(),
            height = version.height,
            agent = %version.user_agent,
            "peer connected"
        );
        let peer = Peer::new(
            (remote, local),
            (node_id, ban_key),
            listen,
            dialed,
            &version,
            now,
        );
        self.peers.insert(id, peer);
        self.greet(id, now, chain);
    }

    /// What a new peer is sent: a headers request, the compact-relay offer, an address request,
    /// and (a bounded part of) our pending transfers.
    fn greet(&mut self, id: PeerId, now: Time, chain: &dyn ChainReader) {
        self.publish_peers();
        self.ask_headers(id, chain.locator(), now);
        self.offer_compact(id);
        if self.cfg.discover {
            self.send(id, Message::GetAddr);
        }
        // Let the new peer know our pending transfers (a bounded part of them: the rest come
        // round with the announcements made again, so a reconnecting peer costs little).
        let mut ids = chain.pool_ids();
        ids.truncate(MAX_INITIAL_ANNOUNCE);
        self.announce_txs_to(id, &ids);
        self.schedule(now, chain);
    }

    /// True when a new inbound peer from `remote` may take a slot: one is free, or an inbound
    /// peer that is not protected is evicted for it (see [`super::evict`]).
    fn room_for_inbound(&mut self, remote: SocketAddr, now: Time, chain: &dyn ChainReader) -> bool {
        let inbound: Vec<Candidate> = self
            .peers
            .iter()
            .filter(|(_, p)| p.dialed.is_none())
            .map(|(id, p)| Candidate {
                id: *id,
                group: p.group,
                rtt: p.last_rtt,
                last_block: p.last_block,
                last_tx: p.last_tx,
                since: p.connected_at,
            })
            .collect();
        if inbound.len() < self.cfg.max_inbound {
            return true;
        }
        match evict::select(inbound, &self.group_key) {
            Some(victim) => {
                self.out.push(Output::Defended(Defence::Evicted));
                tracing::info!(peer = %remote, "inbound connections full; evicting one for the new peer");
                self.drop_peer(victim, "evicted to make room for a new peer", now, chain);
                true
            }
            None => {
                self.out.push(Output::Defended(Defence::InboundRefused));
                tracing::info!(peer = %remote, "inbound connections full and all protected; refusing peer");
                false
            }
        }
    }

    /// The pinned id that `node_id` fails to match, when `addr` has a pin.
    fn pin_mismatch(&self, addr: Option<SocketAddr>, node_id: NodeId) -> Option<NodeId> {
        let pinned = self.book.pin_of(&addr?)?;
        (pinned != node_id).then_some(pinned)
    }

    /// Configured addresses were (re)resolved with the pin `pin`: a connection dialled to one
    /// of them before the pin was known, by another key, goes; a peer's claim to listen at one
    /// with another key is no longer believed.
    pub(super) fn on_resolved(&mut self, addrs: Vec<SocketAddr>, pin: Option<NodeId>, now: Time) {
        for a in addrs {
            self.book.add_configured(a, pin, now);
        }
        let book = &self.book;
        let mismatch = |a: Option<SocketAddr>, n: NodeId| {
            a.and_then(|a| book.pin_of(&a)).is_some_and(|p| p != n)
        };
        let mut wrong = Vec::new();
        for (id, p) in self.peers.iter_mut() {
            if mismatch(p.dialed, p.node_id) {
                wrong.push((*id, p.remote, p.node_id));
            } else if mismatch(p.listen, p.node_id) {
                p.listen = None;
            }
        }
        for (id, remote, node) in wrong {
            tracing::warn!(peer = %remote, node = %node,
                "dropping a peer whose key is not the one pinned since");
            self.out.push(Output::Disconnect(id));
        }
    }

    /// Two connections to the same node (the same key: the transport proved it). `target` is
    /// the address the new one was dialled at (ours for an inbound one), with whether we
    /// dialled it. When both sides dialled each other, both ends keep the one dialled by the
    /// side with the lower nonce. When one side dialled both at the same address, the newer
    /// replaces the older (a reconnect before this side saw the close); at two addresses (a
    /// node reachable at two), the older stays. Both ends see the same addresses, so they
    /// never drop both. `None` when the new connection is the one to close, `Some(Some(old))`
    /// when it replaces `old`, `Some(None)` when there is no other.
    fn duplicate_verdict(
        &self,
        id: PeerId,
        node_id: NodeId,
        (outbound, target): (bool, SocketAddr),
        their_nonce: u64,
    ) -> Option<Option<PeerId>> {
        let Some((old, old_outbound, old_target, old_nonce)) = self
            .peers
            .iter()
            .find(|(pid, p)| **pid != id && p.node_id == node_id)
            .map(|(pid, p)| {
                (
                    *pid,
                    p.dialed.is_some(),
                    p.dialed.unwrap_or(p.local),
                    p.nonce,
                )
            })
        else {
            return Some(None);
        };
        let replaces = outbound == old_outbound;
        if replaces && target != old_target {
            return None;
        }
        let ours = self.cfg.nonce;
        let dialer = |outbound: bool, theirs: u64| if outbound { ours } else { theirs };
        (replaces || dialer(outbound, their_nonce) < dialer(old_outbound, old_nonce))
            .then_some(Some(old))
    }
}
