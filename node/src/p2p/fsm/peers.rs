//! The peer set once peers are in (taking them in is [`super::admit`]): disconnects and what a
//! departing peer owed us, bans, pings and stalls, address exchange, dialling, the published
//! peer table and the address book's saves.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use ferrite_core::Hash;
use rand::Rng;

use super::peer::Peer;
use super::{ChainReader, Close, Learnt, Machine, Misbehavior, Output, Time};
use crate::p2p::addrbook::{AddrKey, BanKey};
use crate::p2p::identity::NodeId;
use crate::p2p::wire::Message;
use crate::p2p::{PeerId, PeerInfo};

/// Time a peer has to answer `GetHeaders`.
pub const HEADERS_TIMEOUT: Duration = Duration::from_secs(20);
/// Interval between pings on a quiet connection.
pub const PING_INTERVAL: Duration = Duration::from_secs(30);
/// Time a peer has to answer a ping.
pub const PING_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a ban lasts.
pub const BAN_SECS: u64 = 24 * 60 * 60;
/// Address book save period.
pub const SAVE_INTERVAL: Duration = Duration::from_secs(60);
/// Addresses shared in one `Addr` answer.
pub const ADDR_SHARE: usize = 250;
/// Pending transfers announced to a new peer at once (160 KB of ids).
pub const MAX_INITIAL_ANNOUNCE: usize = 5_000;

impl Machine {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_closed(
        &mut self,
        id: PeerId,
        remote: SocketAddr,
        dialed: Option<SocketAddr>,
        close: Close,
        learnt: Learnt,
        now: Time,
        chain: &dyn ChainReader,
    ) {
        if let Some(d) = dialed {
            self.dialing.remove(&d);
        }
        let reason = match &close {
            Close::Misbehaved(why) => {
                let port = learnt.listen_port.unwrap_or(remote.port());
                let known = self.peers.get(&id).map(|p| p.ban_key);
                match known.or(learnt.node_id.map(|n| BanKey::new(remote.ip(), port, n))) {
                    Some(key) => self.ban(key, remote, why, now),
                    None => self.ban_addr(AddrKey::new(remote.ip(), port), remote, why, now),
                }
                why.to_string()
            }
            Close::SelfConnection => {
                if let Some(d) = dialed {
                    self.book.remove(&d);
                }
                "self connection".into()
            }
            Close::Dropped(reason) => {
                tracing::debug!(peer = %remote, reason, "connection closed");
                reason.clone()
            }
        };
        if let Some(d) = dialed {
            if close != Close::SelfConnection {
                // One failure per ended connection: a connection that worked had reset the
                // backoff when it was established.
                self.book.failed(&d, now);
            }
        }
        if self.peers.contains_key(&id) {
            self.drop_peer(id, &reason, now, chain);
        }
    }

    pub(super) fn on_message(
        &mut self,
        id: PeerId,
        msg: Message,
        now: Time,
        chain: &dyn ChainReader,
    ) {
        if !self.peers.contains_key(&id) {
            return;
        }
        match msg {
            Message::Pong(n) => {
                if let Some(p) = self.peers.get_mut(&id) {
                    if let Some((sent, at)) = p.ping {
                        if sent == n {
                            p.ping = None;
                            p.last_rtt = Some(now.since(at));
                        }
                    }
                }
            }
            Message::GetAddr => {
                // Answered once per connection: a sample of the book is all a peer needs.
                let first = self
                    .peers
                    .get_mut(&id)
                    .is_some_and(|p| !std::mem::replace(&mut p.addr_answered, true));
                if self.cfg.discover && first {
                    let addrs = self.book.sample(ADDR_SHARE);
                    self.send(id, Message::Addr(addrs));
                }
            }
            Message::Addr(addrs) => {
                if self.cfg.discover {
                    for a in addrs {
                        self.book.add_learned(a, now);
                    }
                }
            }
            Message::Headers(hs) => self.on_headers(id, hs, now, chain),
            Message::NotFound(hs) => self.on_not_found(id, hs, now, chain),
            Message::SendCompact(high_bandwidth) => self.on_send_compact(id, high_bandwidth),
            Message::InvTx(ids) => self.on_inv_tx(id, ids, now, chain),
            Message::Txs(txs) => self.on_txs(id, txs, now, chain),
            // Requests are answered by the connection itself; handshake messages never get here.
            other => tracing::debug!(message = other.name(), "unexpected message"),
        }
    }

    /// Disconnects a peer (no ban) and re-queues what it owed us. Its connection then ends and
    /// reports `Closed`, which updates the address book.
    pub(super) fn drop_peer(
        &mut self,
        id: PeerId,
        reason: &str,
        now: Time,
        chain: &dyn ChainReader,
    ) {
        if let Some(p) = self.peers.remove(&id) {
            tracing::info!(peer = %p.remote, reason, "disconnecting peer");
            self.out.push(Output::Disconnect(id));
            let owed: Vec<Hash> = self
                .requested
                .iter()
                .filter(|(_, (owner, _))| *owner == id)
                .map(|(h, _)| *h)
                .collect();
            for h in owed {
                self.requested.remove(&h);
                self.body_failed(h, id);
            }
            self.forget_tx_requests_of(id, now);
            self.forget_compact_of(id);
            self.publish_peers();
        }
        self.schedule(now, chain);
    }

    /// Bans a connected peer for a protocol violation and disconnects it.
    pub(super) fn misbehaved(
        &mut self,
        id: PeerId,
        why: Misbehavior,
        now: Time,
        chain: &dyn ChainReader,
    ) {
        if let Some(p) = self.peers.get(&id) {
            let (remote, key) = (p.remote, p.ban_key);
            self.ban(key, remote, &why, now);
        }
        self.drop_peer(id, &why.to_string(), now, chain);
    }

    /// Bans `key` (the peer may already be gone) and saves the ban at once.
    pub(super) fn ban(&mut self, key: BanKey, remote: SocketAddr, why: &Misbehavior, now: Time) {
        tracing::warn!(peer = %remote, ban = %key, reason = %why, "peer misbehaved; banning it");
        let until = now.secs() + BAN_SECS;
        self.book.ban(key, until);
        self.banned(until, |p| key.overlaps(&p.ban_key), key.addr);
    }

    /// Bans the address `key` alone (the peer failed before its node id was known).
    fn ban_addr(&mut self, key: AddrKey, remote: SocketAddr, why: &Misbehavior, now: Time) {
        tracing::warn!(peer = %remote, ban = %key, reason = %why, "peer misbehaved; banning it");
        let until = now.secs() + BAN_SECS;
        self.book.ban_addr(key, until);
        self.banned(until, |p| p.ban_key.addr == key, key);
    }

    /// After a ban: reports the address, saves the book, and closes every other connection the
    /// ban covers.
    fn banned(&mut self, until: u64, covered: impl Fn(&Peer) -> bool, addr: AddrKey) {
        self.out.push(Output::Banned(addr, until));
        self.save_book();
        let others: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| covered(p))
            .map(|(id, _)| *id)
            .collect();
        for id in others {
            self.out.push(Output::Disconnect(id));
        }
    }

    /// Writes the address book if it changed since the last save.
    pub(super) fn save_book(&mut self) {
        if let Some(records) = self.book.take_records() {
            self.out.push(Output::SaveBook(records));
        }
    }

    /// Publishes the connected peers for the HTTP API.
    pub(super) fn publish_peers(&mut self) {
        let mut list: Vec<PeerInfo> = self
            .peers
            .iter()
            .map(|(id, p)| PeerInfo {
                id: *id,
                node_id: p.node_id,
                addr: p.remote,
                inbound: p.dialed.is_none(),
                user_agent: p.user_agent.clone(),
                height: p.height,
                connected_since: p.since,
                ping_micros: p
                    .last_rtt
                    .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
            })
            .collect();
        list.sort_by_key(|p| p.id);
        self.out.push(Output::PublishPeers(list));
    }

    pub(super) fn housekeeping(&mut self, now: Time, chain: &dyn ChainReader) {
        let mut stalled = Vec::new();
        let mut pings = Vec::new();
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for pid in ids {
            let in_flight = self.in_flight(pid);
            let Some(p) = self.peers.get_mut(&pid) else {
                continue;
            };
            if in_flight > 0 && now.since(p.last_progress) > super::BLOCK_STALL_TIMEOUT {
                stalled.push((pid, "block download stalled"));
            } else if !p.headers_in_chain
                && p.headers_asked
                    .is_some_and(|at| now.since(at) > HEADERS_TIMEOUT)
            {
                // An answer that came in time but waits behind earlier batches is not late.
                stalled.push((pid, "no answer to getheaders"));
            } else if p.ping.is_some_and(|(_, at)| now.since(at) > PING_TIMEOUT) {
                stalled.push((pid, "no answer to ping"));
            } else if p.ping.is_none() && now >= p.next_ping {
                let n: u64 = self.rng.gen();
                p.ping = Some((n, now));
                p.next_ping = now + PING_INTERVAL;
                pings.push((pid, n));
            }
        }
        for (pid, n) in pings {
            self.send(pid, Message::Ping(n));
        }
        for (pid, reason) in stalled {
            self.drop_peer(pid, reason, now, chain);
        }
        self.expire_tx_requests(now, chain);
        self.reannounce(now, chain);
        self.publish_peers();
        self.sync_housekeeping(now, chain);
        self.dial(now);
        if now.since(self.last_save) >= SAVE_INTERVAL {
            self.last_save = now;
            self.book.expire_bans(now.secs());
            self.save_book();
        }
    }

    /// Dials address-book candidates up to the outbound target.
    fn dial(&mut self, now: Time) {
        let outbound =
            self.peers.values().filter(|p| p.dialed.is_some()).count() + self.dialing.len();
        if outbound >= self.cfg.max_outbound {
            return;
        }
        let connected: HashSet<SocketAddr> = self
            .peers
            .values()
            .flat_map(|p| [p.dialed, p.listen])
            .flatten()
            .collect();
        // A node already connected is not dialled at another of its addresses.
        let nodes: HashSet<NodeId> = self.peers.values().map(|p| p.node_id).collect();
        let own = self.cfg.listen_port;
        let discover = self.cfg.discover;
        let configured = self.book.configured();
        let dialing = &self.dialing;
        let book = &self.book;
        let candidates = self.book.candidates(now, &mut self.rng, |a| {
            connected.contains(a)
                || book.node_at(a).is_some_and(|n| nodes.contains(&n))
                || dialing.contains(a)
                || (a.ip().is_loopback() && a.port() == own)
                || (!discover && !configured.contains(a))
        });
        for addr in candidates
            .into_iter()
            .take(self.cfg.max_outbound - outbound)
        {
            self.dialing.insert(addr);
            let expect = self.book.pin_of(&addr);
            self.out.push(Output::Dial(addr, expect));
        }
    }
}
