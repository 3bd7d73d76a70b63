//! The peer set: handshakes done, refusals (bans, full slots, duplicate connections), the
//! reasons a peer is banned, disconnects and what a departing peer owed us, pings and stalls,
//! address exchange, dialling, the published peer table and the address book's saves.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use ferrite_core::validation::BlockError;
use ferrite_core::Hash;
use rand::Rng;

use super::evict::{self, Candidate, NetGroup};
use super::peer::{Known, Peer};
use super::{ChainReader, Close, Defence, Learnt, Machine, Output, Time};
use crate::mempool::MempoolError;
use crate::p2p::addrbook::{AddrKey, BanKey};
use crate::p2p::identity::NodeId;
use crate::p2p::wire::{Message, Version, WireError};
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

/// Why a peer is banned: each a protocol violation an honest peer never commits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Misbehavior {
    /// A frame or message that does not decode, or breaks its cap.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A message other than the handshake's before the handshake completed.
    #[error("{0} before the handshake completed")]
    BeforeHandshake(&'static str),
    /// A second `Version` or `Verack`.
    #[error("second handshake")]
    SecondHandshake,
    /// A peer of another chain.
    #[error("wrong genesis {theirs} (ours is {ours})")]
    WrongGenesis {
        /// Theirs.
        theirs: Hash,
        /// Ours.
        ours: Hash,
    },
    /// Messages or bytes above the per-peer rate.
    #[error("message rate limit exceeded")]
    RateLimit,
    /// Transport records above the per-peer rate (frames cut into tiny records).
    #[error("record rate limit exceeded")]
    RecordFlood,
    /// A block whose body is not the one its header commits to.
    #[error("block {0} does not match its header's merkle root")]
    MerkleMismatch(Hash),
    /// Headers that do not link to each other.
    #[error("sent headers that are not a chain")]
    HeadersNotChain,
    /// An answer to `GetHeaders` that does not connect to our locator.
    #[error("sent a header chain that does not connect (unknown parent {0})")]
    HeadersDoNotConnect(Hash),
    /// Announcements that never connect.
    #[error("keeps announcing headers that do not connect")]
    KeepsUnconnecting,
    /// A header that breaks a consensus rule.
    #[error("sent an invalid header: {0}")]
    InvalidHeader(BlockError),
    /// Headers of a block known to be invalid.
    #[error("sent headers of invalid block {0}")]
    HeadersOfInvalid(Hash),
    /// A block that breaks a rule checked before connecting it.
    #[error("sent invalid block {hash}: {error}")]
    InvalidBlock {
        /// The block.
        hash: Hash,
        /// The rule.
        error: BlockError,
    },
    /// A block of a branch known to be invalid.
    #[error("sent a block of invalid branch {0}")]
    BlockOfInvalidBranch(Hash),
    /// A block that failed full validation when the chain connected it.
    #[error("sent block {0} that failed validation")]
    BlockFailedValidation(Hash),
    /// A transfer with a bad signature or that breaks a stateless rule.
    #[error("relayed an invalid transfer: {0}")]
    InvalidTransfer(MempoolError),
    /// A compact block whose header does not meet the target it names.
    #[error("sent compact block {0} whose header lacks its proof of work")]
    CompactWithoutWork(Hash),
    /// A compact block that breaks the format's rules.
    #[error("sent a malformed compact block {0}: {1}")]
    BadCompact(Hash, crate::p2p::compact::CompactError),
    /// A `GetBlockTxs` naming positions the block does not have, or out of order.
    #[error("asked for transfers of block {0} at positions it does not have")]
    BadBlockTxsRequest(Hash),
}

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
        if !self.keep_against_duplicate(
            id,
            node_id,
            (dialed.is_some(), target),
            version.nonce,
            now,
            chain,
        ) {
            tracing::debug!(peer = %remote, "duplicate connection; keeping the other one");
            self.out.push(Output::Disconnect(id));
            return;
        }
        if dialed.is_none() && !self.room_for_inbound(remote, now, chain) {
            self.out.push(Output::Disconnect(id));
            return;
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
        self.peers.insert(
            id,
            Peer {
                remote,
                node_id,
                listen,
                dialed,
                local,
                nonce: version.nonce,
                ban_key,
                height: version.height,
                work: version.work,
                last_progress: now,
                not_found: std::collections::HashMap::new(),
                known_blocks: Known::default(),
                known_txs: Known::default(),
                has_txs: Known::default(),
                tx_queue: Default::default(),
                txs_in_flight: 0,
                headers_asked: None,
                headers_in_chain: false,
                headers_queue: Default::default(),
                unconnecting: 0,
                ping: None,
                next_ping: now + PING_INTERVAL,
                user_agent: version.user_agent.clone(),
                since: now.secs(),
                last_rtt: None,
                wants_compact: false,
                asked_compact: false,
                group: NetGroup::of(remote.ip()),
                connected_at: now,
                last_block: None,
                last_tx: None,
            },
        );
        self.publish_peers();
        self.ask_headers(id, chain.locator(), now);
        self.offer_compact(id);
        if self.cfg.discover {
            self.send(id, Message::GetAddr);
        }
        // Let the new peer know our pending transfers.
        let ids = chain.pool_ids();
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
    /// never drop both. False when the new connection is the one to close.
    fn keep_against_duplicate(
        &mut self,
        id: PeerId,
        node_id: NodeId,
        (outbound, target): (bool, SocketAddr),
        their_nonce: u64,
        now: Time,
        chain: &dyn ChainReader,
    ) -> bool {
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
            return true;
        };
        let replaces = outbound == old_outbound;
        if replaces && target != old_target {
            return false;
        }
        let ours = self.cfg.nonce;
        let dialer = |outbound: bool, theirs: u64| if outbound { ours } else { theirs };
        if replaces || dialer(outbound, their_nonce) < dialer(old_outbound, old_nonce) {
            self.drop_peer(old, "duplicate connection", now, chain);
            true
        } else {
            false
        }
    }

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
                if self.cfg.discover {
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
                self.body_failed(h);
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
