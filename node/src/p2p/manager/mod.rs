//! The network manager: the one task that owns the peer set and the sync state.
//!
//! This file keeps the peer set: accepting and dialling connections, the handshake's outcome,
//! bans, pings, stalls and the address book. Headers-first sync and block download are in
//! [`sync`], relay of new blocks and transfers in [`relay`].

mod dial;
mod relay;
mod sync;

pub use dial::{accept_loop, resolve_peers, save_book};

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrite_core::{Block, Hash, Work};
use tokio::sync::{broadcast, mpsc, Notify};

use super::addrbook::BanKey;
use super::processor::{self, Job, Processed};
use super::wire::{Message, Version};
use super::{Close, Event, Frame, NetConfig, PeerId, PeerInfo, Shared, PING_INTERVAL};
use crate::node::now_secs;

/// Time a peer has to answer `GetHeaders`.
pub const HEADERS_TIMEOUT: Duration = Duration::from_secs(20);
/// Time a peer has to answer a ping.
pub const PING_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a ban lasts.
pub const BAN_SECS: u64 = 24 * 60 * 60;
/// Ids remembered per peer as known to it (so that nothing is echoed back or sent twice).
pub const KNOWN_PER_PEER: usize = 8192;
/// How long a dial may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Manager housekeeping period (stalls, pings, dialling).
const HOUSEKEEPING: Duration = Duration::from_secs(1);
/// Transfer announcements are batched for this long.
const TX_FLUSH: Duration = Duration::from_millis(50);
/// Address book save period.
const SAVE_INTERVAL: Duration = Duration::from_secs(60);
/// Addresses shared in one `Addr` answer.
const ADDR_SHARE: usize = 250;

/// A bounded set of ids (oldest forgotten first).
struct Known {
    set: HashSet<Hash>,
    order: VecDeque<Hash>,
}

impl Known {
    fn new() -> Self {
        Known {
            set: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    fn insert(&mut self, h: Hash) {
        if self.set.insert(h) {
            self.order.push_back(h);
            if self.order.len() > KNOWN_PER_PEER {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }

    fn contains(&self, h: &Hash) -> bool {
        self.set.contains(h)
    }
}

struct Peer {
    remote: SocketAddr,
    /// Where the peer accepts connections, if it does.
    listen: Option<SocketAddr>,
    dialed: Option<SocketAddr>,
    /// The peer's handshake nonce (tie-break between two connections to the same node).
    nonce: u64,
    ban_key: BanKey,
    out: mpsc::Sender<Frame>,
    kill: Arc<Notify>,
    /// Blocks requested and not yet received, shared with the connection.
    expected_blocks: Arc<AtomicUsize>,
    height: u64,
    work: Work,
    in_flight: HashMap<Hash, Instant>,
    /// When the peer last delivered a block (or got its first request after being idle).
    last_progress: Instant,
    not_found: HashSet<Hash>,
    known_blocks: Known,
    known_txs: Known,
    /// Transfers requested from this peer and not yet received.
    txs_in_flight: usize,
    headers_asked: Option<Instant>,
    unconnecting: u32,
    ping: Option<(u64, Instant)>,
    next_ping: Instant,
    user_agent: String,
    /// Unix seconds at the handshake.
    since: u64,
    last_rtt: Option<Duration>,
}

/// A block downloaded ahead of the ones before it.
struct Downloaded {
    peer: PeerId,
    ban_key: BanKey,
    block: Block,
}

/// A transfer requested from one peer, with other peers that announced it (asked next if the
/// first does not deliver).
struct TxWant {
    asked: PeerId,
    at: Instant,
    others: Vec<PeerId>,
}

/// The manager's state.
pub struct Manager {
    shared: Arc<Shared>,
    cfg: NetConfig,
    events_tx: mpsc::Sender<Event>,
    peers: HashMap<PeerId, Peer>,
    jobs: Option<mpsc::UnboundedSender<Job>>,
    results_tx: mpsc::UnboundedSender<Processed>,
    results_rx: Option<mpsc::UnboundedReceiver<Processed>>,
    requested: HashMap<Hash, PeerId>,
    downloaded: HashMap<Hash, Downloaded>,
    fed: HashSet<Hash>,
    tx_wanted: HashMap<Hash, TxWant>,
    pending_tx_inv: Vec<Hash>,
    dialing: HashSet<SocketAddr>,
    last_save: Instant,
}

impl Manager {
    /// A manager for `shared`'s node.
    pub fn new(shared: Arc<Shared>, cfg: NetConfig, events_tx: mpsc::Sender<Event>) -> Self {
        let (results_tx, results_rx) = mpsc::unbounded_channel();
        Manager {
            shared,
            cfg,
            events_tx,
            peers: HashMap::new(),
            jobs: None,
            results_tx,
            results_rx: Some(results_rx),
            requested: HashMap::new(),
            downloaded: HashMap::new(),
            fed: HashSet::new(),
            tx_wanted: HashMap::new(),
            pending_tx_inv: Vec::new(),
            dialing: HashSet::new(),
            last_save: Instant::now(),
        }
    }

    /// Runs until the node stops.
    pub async fn run(mut self, mut events: mpsc::Receiver<Event>) {
        match processor::spawn(self.shared.node.clone(), self.results_tx.clone()) {
            Ok(jobs) => self.jobs = Some(jobs),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the block processor; P2P is off");
                return;
            }
        }
        let Some(mut results) = self.results_rx.take() else {
            return;
        };
        let mut node_events = self.shared.node.subscribe();
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
        let mut tx_flush = tokio::time::interval(TX_FLUSH);
        loop {
            if self.shared.node.shutting_down() {
                break;
            }
            tokio::select! {
                Some(ev) = events.recv() => self.on_event(ev).await,
                Some(done) = results.recv() => self.on_processed(done),
                ev = node_events.recv() => match ev {
                    Ok(ev) => self.on_node_event(ev),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        // Missed transfer events: offer the whole pool (peers' known-sets
                        // filter what they already have).
                        tracing::debug!(missed = n, "network fell behind node events");
                        let ids = self.shared.node.mempool().ids();
                        self.pending_tx_inv.extend(ids);
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = tx_flush.tick() => self.flush_tx_inv(),
                _ = housekeeping.tick() => self.housekeeping(),
            }
        }
        for p in self.peers.values() {
            p.kill.notify_one();
        }
        save_book(&self.shared);
    }

    fn send(&self, id: PeerId, msg: &Message) {
        if let Some(p) = self.peers.get(&id) {
            let frame = Arc::new(msg.to_frame(self.shared.magic));
            if p.out.try_send(frame).is_err() {
                // A full queue: the peer does not keep up.
                tracing::debug!(peer = %p.remote, "send queue full; dropping the peer");
                p.kill.notify_one();
            }
        }
    }

    /// Disconnects a peer (no ban) and re-queues what it owed us. Its connection then ends and
    /// reports `Closed`, which updates the address book.
    fn drop_peer(&mut self, id: PeerId, reason: &str) {
        if let Some(p) = self.peers.remove(&id) {
            tracing::info!(peer = %p.remote, reason, "disconnecting peer");
            p.kill.notify_one();
            self.requested.retain(|_, owner| *owner != id);
            self.forget_tx_requests_of(id);
            self.publish_peers();
        }
        self.schedule();
    }

    /// Bans a connected peer for a protocol violation and disconnects it.
    fn misbehaved(&mut self, id: PeerId, reason: &str) {
        if let Some(p) = self.peers.get(&id) {
            let (remote, key) = (p.remote, p.ban_key);
            self.ban(key, remote, reason);
        }
        self.drop_peer(id, reason);
    }

    /// Bans `key` (the peer may already be gone) and saves the ban at once.
    fn ban(&self, key: BanKey, remote: SocketAddr, reason: &str) {
        tracing::warn!(peer = %remote, ban = %key, reason, "peer misbehaved; banning it");
        self.shared
            .book
            .lock()
            .unwrap_or_else(|x| x.into_inner())
            .ban(key, now_secs() + BAN_SECS);
        save_book(&self.shared);
        // Any other connection under the same key goes too.
        for p in self.peers.values().filter(|p| p.ban_key == key) {
            p.kill.notify_one();
        }
    }

    async fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Connected {
                id,
                remote,
                dialed,
                version,
                out,
                kill,
                expected_blocks,
            } => self.on_connected(id, remote, dialed, version, out, kill, expected_blocks),
            Event::Message { id, msg } => self.on_message(id, msg).await,
            Event::Closed {
                id,
                remote,
                dialed,
                close,
                listen_port,
            } => self.on_closed(id, remote, dialed, close, listen_port),
            Event::DialFailed(addr) => {
                self.dialing.remove(&addr);
                self.book().failed(&addr);
            }
            Event::Resolved(addrs) => {
                let mut book = self.book();
                for a in addrs {
                    book.add_configured(a);
                }
            }
        }
    }

    fn book(&self) -> std::sync::MutexGuard<'_, super::addrbook::AddrBook> {
        self.shared.book.lock().unwrap_or_else(|x| x.into_inner())
    }

    fn on_closed(
        &mut self,
        id: PeerId,
        remote: SocketAddr,
        dialed: Option<SocketAddr>,
        close: Close,
        listen_port: Option<u16>,
    ) {
        if let Some(d) = dialed {
            self.dialing.remove(&d);
        }
        let reason = match &close {
            Close::Misbehaved(reason) => {
                let key = BanKey::new(remote.ip(), listen_port.unwrap_or(remote.port()));
                self.ban(key, remote, reason);
                reason.clone()
            }
            Close::SelfConnection => {
                if let Some(d) = dialed {
                    self.book().remove(&d);
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
                self.book().failed(&d);
            }
        }
        if self.peers.contains_key(&id) {
            self.drop_peer(id, &reason);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_connected(
        &mut self,
        id: PeerId,
        remote: SocketAddr,
        dialed: Option<SocketAddr>,
        version: Version,
        out: mpsc::Sender<Frame>,
        kill: Arc<Notify>,
        expected_blocks: Arc<AtomicUsize>,
    ) {
        if let Some(d) = dialed {
            self.dialing.remove(&d);
        }
        let port = if version.listen_port != 0 {
            version.listen_port
        } else {
            remote.port()
        };
        let ban_key = BanKey::new(remote.ip(), port);
        let listen =
            (version.listen_port != 0).then(|| SocketAddr::new(remote.ip(), version.listen_port));
        let now = now_secs();
        if self.book().is_banned(&ban_key, now) {
            tracing::info!(peer = %remote, "refusing a banned peer");
            kill.notify_one();
            return;
        }
        if dialed.is_none()
            && self.peers.values().filter(|p| p.dialed.is_none()).count() >= self.cfg.max_inbound
        {
            tracing::info!(peer = %remote, "inbound connections full; refusing peer");
            kill.notify_one();
            return;
        }
        // Two connections to the same node (both dialled each other): both ends keep the one
        // dialled by the side with the lower nonce, so they never drop both.
        let duplicate = listen.and_then(|l| {
            self.peers
                .iter()
                .find(|(_, p)| p.listen == Some(l))
                .map(|(pid, p)| (*pid, p.dialed.is_some(), p.nonce))
        });
        if let Some((old, old_outbound, old_nonce)) = duplicate {
            let ours = self.shared.nonce;
            let dialer = |outbound: bool, theirs: u64| if outbound { ours } else { theirs };
            let new_dialer = dialer(dialed.is_some(), version.nonce);
            let old_dialer = dialer(old_outbound, old_nonce);
            if new_dialer < old_dialer {
                self.drop_peer(old, "duplicate connection");
            } else {
                tracing::debug!(peer = %remote, "duplicate connection; keeping the other one");
                kill.notify_one();
                return;
            }
        }
        {
            let mut book = self.book();
            if let Some(d) = dialed {
                book.connected(&d, now);
            } else if let (true, Some(l)) = (self.cfg.discover, listen) {
                book.add_learned(l, now);
            }
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
                listen,
                dialed,
                nonce: version.nonce,
                ban_key,
                out,
                kill,
                expected_blocks,
                height: version.height,
                work: version.work,
                in_flight: HashMap::new(),
                last_progress: Instant::now(),
                not_found: HashSet::new(),
                known_blocks: Known::new(),
                known_txs: Known::new(),
                txs_in_flight: 0,
                headers_asked: None,
                unconnecting: 0,
                ping: None,
                next_ping: Instant::now() + PING_INTERVAL,
                user_agent: version.user_agent.clone(),
                since: now,
                last_rtt: None,
            },
        );
        self.publish_peers();
        self.ask_headers(id);
        if self.cfg.discover {
            self.send(id, &Message::GetAddr);
        }
        // Let the new peer know our pending transfers.
        let ids = self.shared.node.mempool().ids();
        self.announce_txs_to(id, &ids);
    }

    async fn on_message(&mut self, id: PeerId, msg: Message) {
        if !self.peers.contains_key(&id) {
            return;
        }
        match msg {
            Message::Pong(n) => {
                if let Some(p) = self.peers.get_mut(&id) {
                    if let Some((sent, at)) = p.ping {
                        if sent == n {
                            p.ping = None;
                            p.last_rtt = Some(at.elapsed());
                        }
                    }
                }
            }
            Message::GetAddr => {
                if self.cfg.discover {
                    let addrs = self.book().sample(ADDR_SHARE);
                    self.send(id, &Message::Addr(addrs));
                }
            }
            Message::Addr(addrs) => {
                if self.cfg.discover {
                    let now = now_secs();
                    let mut book = self.book();
                    for a in addrs {
                        book.add_learned(a, now);
                    }
                }
            }
            Message::Headers(hs) => self.on_headers(id, hs).await,
            Message::Block(b) => self.on_block(id, b),
            Message::NotFound(hs) => self.on_not_found(id, hs),
            Message::InvTx(ids) => self.on_inv_tx(id, ids),
            Message::Txs(txs) => self.on_txs(id, txs).await,
            // Requests are answered by the connection itself; handshake messages never get here.
            other => tracing::debug!(message = other.name(), "unexpected message"),
        }
    }

    /// Publishes the connected peers for the HTTP API.
    fn publish_peers(&self) {
        let mut list: Vec<PeerInfo> = self
            .peers
            .iter()
            .map(|(id, p)| PeerInfo {
                id: *id,
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
        self.shared.peer_table.publish(list);
    }

    fn housekeeping(&mut self) {
        let now = Instant::now();
        let mut stalled = Vec::new();
        let mut pings = Vec::new();
        for (pid, p) in self.peers.iter_mut() {
            if !p.in_flight.is_empty()
                && now.duration_since(p.last_progress) > sync::BLOCK_STALL_TIMEOUT
            {
                stalled.push((*pid, "block download stalled"));
            } else if p
                .headers_asked
                .is_some_and(|at| now.duration_since(at) > HEADERS_TIMEOUT)
            {
                stalled.push((*pid, "no answer to getheaders"));
            } else if p
                .ping
                .is_some_and(|(_, at)| now.duration_since(at) > PING_TIMEOUT)
            {
                stalled.push((*pid, "no answer to ping"));
            } else if p.ping.is_none() && now >= p.next_ping {
                let n: u64 = rand::random();
                p.ping = Some((n, now));
                p.next_ping = now + PING_INTERVAL;
                pings.push((*pid, n));
            }
        }
        for (pid, n) in pings {
            self.send(pid, &Message::Ping(n));
        }
        for (pid, reason) in stalled {
            self.drop_peer(pid, reason);
        }
        self.expire_tx_requests(now);
        self.publish_peers();
        self.sync_housekeeping();
        self.dial();
        if now.duration_since(self.last_save) >= SAVE_INTERVAL {
            self.last_save = now;
            self.book().expire_bans(now_secs());
            save_book(&self.shared);
        }
    }
}
