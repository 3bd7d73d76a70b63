//! The network manager: the one task that owns the peer set and the sync state.
//!
//! It keeps outbound connections up to target from the address book, runs headers-first sync
//! (ask every new peer for headers after our locator, download the bodies of the best header
//! chain from several peers with a bounded number in flight each, re-request what stalls),
//! feeds downloaded blocks to the processor in chain order, relays new tips by header and new
//! transfers by id to the peers that lack them, and bans peers that break the protocol.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrite_core::{Block, BlockHeader, Hash, Work};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, Notify};

use super::addrbook::BanKey;
use super::processor::{self, Job, Processed};
use super::wire::{Message, MAX_BLOCK_REQUEST, MAX_HEADERS, MAX_TX_BATCH};
use super::{conn, Close, Event, Frame, NetConfig, PeerId, Shared, PING_INTERVAL};
use crate::chain::{ChainError, Submitted};
use crate::mempool::MempoolError;
use crate::node::{now_secs, NodeEvent};

/// Blocks of the best header chain considered for download at once, counted from the first
/// missing body. Bounds the memory of blocks downloaded out of order (32 x the 1 MiB cap).
pub const DOWNLOAD_WINDOW: usize = 32;
/// Block requests in flight per peer: keeps a fast peer busy without letting one slow peer hold
/// the whole window.
pub const MAX_IN_FLIGHT_PER_PEER: usize = 16;
/// A requested block not received in this time marks the peer as stalling: it is dropped (not
/// banned) and its requests go to other peers.
pub const BLOCK_STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a peer has to answer `GetHeaders`.
pub const HEADERS_TIMEOUT: Duration = Duration::from_secs(20);
/// Time a peer has to answer a ping.
pub const PING_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a ban lasts.
pub const BAN_SECS: u64 = 24 * 60 * 60;
/// A requested transfer not received in this time may be requested from another peer.
pub const TX_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Ids remembered per peer as known to it (so that nothing is echoed back or sent twice).
pub const KNOWN_PER_PEER: usize = 8192;
/// Most headers announced for one tip change; a peer missing more asks with a locator.
pub const MAX_ANNOUNCE: usize = 8;
/// Announcements that do not connect tolerated per peer before it counts as misbehaving.
pub const MAX_UNCONNECTING: u32 = 10;
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
    ban_key: BanKey,
    out: mpsc::Sender<Frame>,
    kill: Arc<Notify>,
    height: u64,
    work: Work,
    in_flight: HashMap<Hash, Instant>,
    not_found: HashSet<Hash>,
    known_blocks: Known,
    known_txs: Known,
    headers_asked: Option<Instant>,
    unconnecting: u32,
    ping: Option<(u64, Instant)>,
    next_ping: Instant,
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
    downloaded: HashMap<Hash, (PeerId, Block)>,
    fed: HashSet<Hash>,
    tx_requested: HashMap<Hash, Instant>,
    pending_tx_inv: Vec<Hash>,
    dialing: HashSet<SocketAddr>,
    configured_resolved: bool,
    last_save: Instant,
}

/// Allocates connection ids.
static NEXT_PEER_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> PeerId {
    NEXT_PEER_ID.fetch_add(1, Ordering::Relaxed)
}

/// Accepts inbound connections until the node stops.
pub async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, events: mpsc::Sender<Event>) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if shared.node.shutting_down() {
            return;
        }
        let banned = {
            let book = shared.book.lock().unwrap_or_else(|p| p.into_inner());
            !remote.ip().is_loopback()
                && book.is_banned(&BanKey::new(remote.ip(), remote.port()), now_secs())
        };
        if banned {
            tracing::debug!(%remote, "refusing a banned address");
            continue;
        }
        tokio::spawn(conn::run(
            next_id(),
            stream,
            remote,
            None,
            shared.clone(),
            events.clone(),
        ));
    }
}

/// Writes the address book and bans to the store if they changed.
pub fn save_book(shared: &Shared) {
    let chain = shared.node.chain();
    let old: Vec<Vec<u8>> = chain
        .store()
        .peers()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let records = shared
        .book
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take_records(&old);
    if let Some(r) = records {
        if let Err(e) = chain.store().update_peers(&r) {
            tracing::warn!(error = %e, "cannot save the address book");
        }
    }
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
            tx_requested: HashMap::new(),
            pending_tx_inv: Vec::new(),
            dialing: HashSet::new(),
            configured_resolved: false,
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
                        tracing::debug!(missed = n, "network fell behind node events");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = tx_flush.tick() => self.flush_tx_inv(),
                _ = housekeeping.tick() => self.housekeeping().await,
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
                // A full queue: the peer does not keep up. Housekeeping will not fix that.
                tracing::debug!(peer = %p.remote, "send queue full; dropping the peer");
                p.kill.notify_one();
            }
        }
    }

    fn locator(&self) -> Vec<Hash> {
        self.shared
            .node
            .chain()
            .locator()
            .unwrap_or_else(|_| vec![self.shared.genesis])
    }

    fn ask_headers(&mut self, id: PeerId) {
        let locator = self.locator();
        if let Some(p) = self.peers.get_mut(&id) {
            p.headers_asked = Some(Instant::now());
        }
        self.send(
            id,
            &Message::GetHeaders {
                locator,
                stop: Hash::ZERO,
            },
        );
    }

    /// Disconnects a peer (no ban) and re-queues what it owed us.
    fn drop_peer(&mut self, id: PeerId, reason: &str) {
        if let Some(p) = self.peers.remove(&id) {
            tracing::info!(peer = %p.remote, reason, "disconnecting peer");
            p.kill.notify_one();
            self.requested.retain(|_, owner| *owner != id);
            if let Some(d) = p.dialed {
                self.shared
                    .book
                    .lock()
                    .unwrap_or_else(|x| x.into_inner())
                    .failed(&d);
            }
        }
        self.schedule();
    }

    /// Bans a peer for a protocol violation and disconnects it.
    fn misbehaved(&mut self, id: PeerId, reason: &str) {
        if let Some(p) = self.peers.get(&id) {
            tracing::warn!(peer = %p.remote, ban = %p.ban_key, reason, "peer misbehaved; banning it");
            self.ban(p.ban_key);
        }
        self.drop_peer(id, reason);
    }

    fn ban(&self, key: BanKey) {
        self.shared
            .book
            .lock()
            .unwrap_or_else(|x| x.into_inner())
            .ban(key, now_secs() + BAN_SECS);
        save_book(&self.shared);
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
            } => self.on_connected(id, remote, dialed, version, out, kill),
            Event::Message { id, msg } => self.on_message(id, msg).await,
            Event::Closed {
                id,
                remote,
                dialed,
                close,
                listen_port,
            } => {
                if let Some(d) = dialed {
                    self.dialing.remove(&d);
                }
                match &close {
                    Close::Misbehaved(reason) => {
                        let key = BanKey::new(remote.ip(), listen_port.unwrap_or(remote.port()));
                        tracing::warn!(peer = %remote, ban = %key, reason, "peer misbehaved; banning it");
                        self.ban(key);
                    }
                    Close::SelfConnection => {
                        if let Some(d) = dialed {
                            self.shared
                                .book
                                .lock()
                                .unwrap_or_else(|x| x.into_inner())
                                .remove(&d);
                        }
                    }
                    Close::Dropped(reason) => {
                        tracing::debug!(peer = %remote, reason, "connection closed");
                    }
                }
                if self.peers.contains_key(&id) {
                    let reason = match &close {
                        Close::Dropped(r) | Close::Misbehaved(r) => r.clone(),
                        Close::SelfConnection => "self connection".into(),
                    };
                    self.drop_peer(id, &reason);
                } else if let Some(d) = dialed {
                    if close != Close::SelfConnection {
                        self.shared
                            .book
                            .lock()
                            .unwrap_or_else(|x| x.into_inner())
                            .failed(&d);
                    }
                }
            }
            Event::DialFailed(addr) => {
                self.dialing.remove(&addr);
                self.shared
                    .book
                    .lock()
                    .unwrap_or_else(|x| x.into_inner())
                    .failed(&addr);
            }
        }
    }

    fn on_connected(
        &mut self,
        id: PeerId,
        remote: SocketAddr,
        dialed: Option<SocketAddr>,
        version: super::wire::Version,
        out: mpsc::Sender<Frame>,
        kill: Arc<Notify>,
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
        let refuse = {
            let book = self.shared.book.lock().unwrap_or_else(|x| x.into_inner());
            if book.is_banned(&ban_key, now) {
                Some("banned")
            } else if dialed.is_none()
                && self.peers.values().filter(|p| p.dialed.is_none()).count()
                    >= self.cfg.max_inbound
            {
                Some("inbound connections full")
            } else if listen.is_some() && self.peers.values().any(|p| p.listen == listen) {
                Some("already connected to this node")
            } else {
                None
            }
        };
        if let Some(reason) = refuse {
            tracing::info!(peer = %remote, reason, "refusing peer");
            kill.notify_one();
            return;
        }
        {
            let mut book = self.shared.book.lock().unwrap_or_else(|x| x.into_inner());
            if let Some(d) = dialed {
                book.connected(&d, now);
            } else if self.cfg.discover && version.listen_port != 0 {
                book.add_learned(SocketAddr::new(remote.ip(), version.listen_port), now);
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
                ban_key,
                out,
                kill,
                height: version.height,
                work: version.work,
                in_flight: HashMap::new(),
                not_found: HashSet::new(),
                known_blocks: Known::new(),
                known_txs: Known::new(),
                headers_asked: None,
                unconnecting: 0,
                ping: None,
                next_ping: Instant::now() + PING_INTERVAL,
            },
        );
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
                    if p.ping.is_some_and(|(sent, _)| sent == n) {
                        p.ping = None;
                    }
                }
            }
            Message::GetAddr => {
                if self.cfg.discover {
                    let addrs = self
                        .shared
                        .book
                        .lock()
                        .unwrap_or_else(|x| x.into_inner())
                        .sample(ADDR_SHARE);
                    self.send(id, &Message::Addr(addrs));
                }
            }
            Message::Addr(addrs) => {
                if self.cfg.discover {
                    let now = now_secs();
                    let mut book = self.shared.book.lock().unwrap_or_else(|x| x.into_inner());
                    for a in addrs {
                        book.add_learned(a, now);
                    }
                }
            }
            Message::Headers(hs) => self.on_headers(id, hs).await,
            Message::Block(b) => self.on_block(id, b),
            Message::NotFound(hs) => {
                if let Some(p) = self.peers.get_mut(&id) {
                    for h in hs {
                        if p.in_flight.remove(&h).is_some() {
                            self.requested.remove(&h);
                        }
                        p.not_found.insert(h);
                    }
                }
                self.schedule();
            }
            Message::InvTx(ids) => self.on_inv_tx(id, ids),
            Message::Txs(txs) => self.on_txs(id, txs).await,
            // Requests are answered by the connection itself; handshake messages never get here.
            other => tracing::debug!(message = other.name(), "unexpected message"),
        }
    }

    async fn on_headers(&mut self, id: PeerId, hs: Vec<BlockHeader>) {
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        let asked = p.headers_asked.is_some();
        for h in &hs {
            p.known_blocks.insert(h.hash());
        }
        if let Some(last) = hs.last() {
            p.height = p.height.max(last.height);
        }
        if hs.is_empty() {
            // The answer to our getheaders: the peer has nothing after our locator.
            p.headers_asked = None;
            return;
        }
        let count = hs.len();
        let first_height = hs.first().map(|h| h.height).unwrap_or(0);
        let full = count == MAX_HEADERS;
        let node = self.shared.node.clone();
        let result = tokio::task::spawn_blocking(move || node.submit_headers(&hs)).await;
        match result {
            Ok(Ok(_)) => {
                // Answers to getheaders always connect, so this may be one.
                if let Some(p) = self.peers.get_mut(&id) {
                    p.unconnecting = 0;
                    p.headers_asked = None;
                }
                if full {
                    self.ask_headers(id);
                }
            }
            Ok(Err(ChainError::UnknownParent(p))) if count > MAX_ANNOUNCE => {
                // Longer than any announcement: an answer to getheaders, which starts at a
                // block of our locator and so must connect.
                return self.misbehaved(
                    id,
                    &format!("sent a header chain that does not connect (unknown parent {p})"),
                );
            }
            Ok(Err(ChainError::UnknownParent(_))) if asked => {
                // We already asked for the headers in between; their answer will connect this.
            }
            Ok(Err(ChainError::UnknownParent(parent))) => {
                tracing::debug!(%parent, count, first_height, "announced headers do not connect");
                // An announcement that does not connect: we are missing blocks in between (or
                // two announcements crossed). Ask with a locator; only a peer that keeps doing
                // it is misbehaving.
                let over = self.peers.get_mut(&id).is_some_and(|p| {
                    p.unconnecting += 1;
                    p.unconnecting > MAX_UNCONNECTING
                });
                if over {
                    return self.misbehaved(id, "keeps announcing headers that do not connect");
                }
                self.ask_headers(id);
            }
            Ok(Err(ChainError::Invalid(ferrite_core::validation::BlockError::Header(
                ferrite_core::validation::HeaderError::TimestampTooNew { .. },
            )))) => {
                // Possibly only our clock: drop, do not ban.
                return self.drop_peer(id, "header timestamp too far in the future");
            }
            Ok(Err(ChainError::Invalid(e))) => {
                return self.misbehaved(id, &format!("sent an invalid header: {e}"));
            }
            Ok(Err(ChainError::KnownInvalid(h))) => {
                return self.misbehaved(id, &format!("sent headers of invalid block {h}"));
            }
            Ok(Err(ChainError::Store(e))) => {
                tracing::error!(error = %e, "store failed; stopping the node");
                self.shared.node.request_shutdown();
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "header task failed");
                return;
            }
        }
        self.schedule();
    }

    fn on_block(&mut self, id: PeerId, block: Block) {
        let hash = block.hash();
        let solicited = self
            .peers
            .get_mut(&id)
            .is_some_and(|p| p.in_flight.remove(&hash).is_some());
        if !solicited {
            tracing::debug!(block = %hash, "ignoring an unrequested block");
            return;
        }
        self.requested.remove(&hash);
        self.downloaded.insert(hash, (id, block));
        self.feed();
        self.schedule();
    }

    /// Hands downloaded blocks to the processor in chain order.
    fn feed(&mut self) {
        let missing = self
            .shared
            .node
            .chain()
            .missing_bodies(DOWNLOAD_WINDOW)
            .unwrap_or_default();
        for (h, _) in missing {
            if self.fed.contains(&h) {
                continue;
            }
            let Some((peer, block)) = self.downloaded.remove(&h) else {
                break;
            };
            if let Some(jobs) = &self.jobs {
                if jobs.send(Job { peer, block }).is_ok() {
                    self.fed.insert(h);
                }
            }
        }
    }

    /// Requests missing bodies of the best header chain from peers with free slots.
    fn schedule(&mut self) {
        let missing = self
            .shared
            .node
            .chain()
            .missing_bodies(DOWNLOAD_WINDOW)
            .unwrap_or_default();
        let mut batches: HashMap<PeerId, Vec<Hash>> = HashMap::new();
        for (h, height) in missing {
            if self.fed.contains(&h)
                || self.downloaded.contains_key(&h)
                || self.requested.contains_key(&h)
            {
                continue;
            }
            let best = self
                .peers
                .iter()
                .filter(|(_, p)| {
                    p.in_flight.len() < MAX_IN_FLIGHT_PER_PEER
                        && !p.not_found.contains(&h)
                        && (p.known_blocks.contains(&h) || p.height >= height)
                })
                .min_by_key(|(_, p)| (!p.known_blocks.contains(&h), p.in_flight.len()))
                .map(|(id, _)| *id);
            let Some(pid) = best else {
                continue;
            };
            if let Some(p) = self.peers.get_mut(&pid) {
                p.in_flight.insert(h, Instant::now());
            }
            self.requested.insert(h, pid);
            batches.entry(pid).or_default().push(h);
        }
        for (pid, hs) in batches {
            for chunk in hs.chunks(MAX_BLOCK_REQUEST) {
                self.send(pid, &Message::GetBlocks(chunk.to_vec()));
            }
        }
    }

    fn on_processed(&mut self, done: Processed) {
        self.fed.remove(&done.hash);
        if done.failed_validation {
            self.misbehaved(
                done.peer,
                &format!("sent block {} that failed validation", done.hash),
            );
        }
        match &done.result {
            Ok(Submitted::TipChanged(_)) | Ok(Submitted::Stored) | Ok(Submitted::Known) => {}
            Ok(Submitted::Orphan) => {
                tracing::debug!(block = %done.hash, "downloaded block is an orphan");
            }
            Err(ChainError::Invalid(e)) => {
                let e = e.to_string();
                self.misbehaved(done.peer, &format!("sent invalid block {}: {e}", done.hash));
            }
            Err(ChainError::KnownInvalid(h)) => {
                self.misbehaved(done.peer, &format!("sent a block of invalid branch {h}"));
            }
            Err(ChainError::UnknownParent(_)) | Err(ChainError::Store(_)) => {}
        }
        self.feed();
        self.schedule();
    }

    fn on_node_event(&mut self, ev: NodeEvent) {
        match ev {
            NodeEvent::Tip { connected, .. } => self.announce_blocks(&connected),
            NodeEvent::Tx(id) => self.pending_tx_inv.push(id),
        }
    }

    fn announce_blocks(&mut self, connected: &[Hash]) {
        let start = connected.len().saturating_sub(MAX_ANNOUNCE);
        let headers: Vec<BlockHeader> = {
            let chain = self.shared.node.chain();
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

    fn announce_txs_to(&mut self, id: PeerId, ids: &[Hash]) {
        let fresh: Vec<Hash> = match self.peers.get_mut(&id) {
            Some(p) => ids
                .iter()
                .filter(|h| !p.known_txs.contains(h))
                .copied()
                .collect(),
            None => return,
        };
        if let Some(p) = self.peers.get_mut(&id) {
            for h in &fresh {
                p.known_txs.insert(*h);
            }
        }
        for chunk in fresh.chunks(MAX_TX_BATCH) {
            self.send(id, &Message::InvTx(chunk.to_vec()));
        }
    }

    fn flush_tx_inv(&mut self) {
        if self.pending_tx_inv.is_empty() {
            return;
        }
        let ids = std::mem::take(&mut self.pending_tx_inv);
        let peers: Vec<PeerId> = self.peers.keys().copied().collect();
        for pid in peers {
            self.announce_txs_to(pid, &ids);
        }
    }

    fn on_inv_tx(&mut self, id: PeerId, ids: Vec<Hash>) {
        let now = Instant::now();
        let wanted: Vec<Hash> = {
            let pool = self.shared.node.mempool();
            ids.iter()
                .filter(|h| {
                    !pool.contains(h)
                        && self
                            .tx_requested
                            .get(*h)
                            .is_none_or(|at| now.duration_since(*at) > TX_REQUEST_TIMEOUT)
                })
                .copied()
                .collect()
        };
        if let Some(p) = self.peers.get_mut(&id) {
            for h in &ids {
                p.known_txs.insert(*h);
            }
        }
        for h in &wanted {
            self.tx_requested.insert(*h, now);
        }
        if !wanted.is_empty() {
            self.send(id, &Message::GetTxs(wanted));
        }
    }

    async fn on_txs(&mut self, id: PeerId, txs: Vec<ferrite_core::SignedTransaction>) {
        if let Some(p) = self.peers.get_mut(&id) {
            for t in &txs {
                let h = t.id();
                p.known_txs.insert(h);
                self.tx_requested.remove(&h);
            }
        }
        let node = self.shared.node.clone();
        let bad = tokio::task::spawn_blocking(move || {
            let mut bad = None;
            for t in txs {
                match node.submit_tx(t) {
                    Ok(_) => {}
                    // A signature that does not verify is wrong everywhere: the peer should
                    // never have relayed it. Other refusals can be honest differences of state.
                    Err(crate::node::SubmitTxError::Rejected(e @ MempoolError::BadSignature))
                    | Err(crate::node::SubmitTxError::Rejected(e @ MempoolError::Rule(_))) => {
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

    async fn housekeeping(&mut self) {
        let now = Instant::now();
        let mut stalled = Vec::new();
        let mut pings = Vec::new();
        for (pid, p) in self.peers.iter_mut() {
            if p.in_flight
                .values()
                .any(|at| now.duration_since(*at) > BLOCK_STALL_TIMEOUT)
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
        self.tx_requested
            .retain(|_, at| now.duration_since(*at) <= TX_REQUEST_TIMEOUT);
        // Bodies downloaded for a branch that is no longer the best header chain.
        if !self.downloaded.is_empty() {
            let window: HashSet<Hash> = self
                .shared
                .node
                .chain()
                .missing_bodies(DOWNLOAD_WINDOW)
                .unwrap_or_default()
                .into_iter()
                .map(|(h, _)| h)
                .collect();
            self.downloaded.retain(|h, _| window.contains(h));
        }
        // Peers ahead of our best header that we are not asking: ask.
        let (best_height, best_work) = self
            .shared
            .node
            .chain()
            .best_header()
            .map(|(_, m)| (m.height, m.work))
            .unwrap_or((0, Work::ZERO));
        let behind: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| {
                (p.height > best_height || p.work > best_work) && p.headers_asked.is_none()
            })
            .map(|(id, _)| *id)
            .collect();
        for pid in behind {
            self.ask_headers(pid);
        }
        self.schedule();
        self.dial().await;
        if now.duration_since(self.last_save) >= SAVE_INTERVAL {
            self.last_save = now;
            self.shared
                .book
                .lock()
                .unwrap_or_else(|x| x.into_inner())
                .expire_bans(now_secs());
            save_book(&self.shared);
        }
    }

    async fn dial(&mut self) {
        if !self.configured_resolved {
            let mut all = true;
            for p in self.cfg.peers.clone() {
                match tokio::net::lookup_host(&p).await {
                    Ok(addrs) => {
                        let mut book = self.shared.book.lock().unwrap_or_else(|x| x.into_inner());
                        for a in addrs {
                            book.add_configured(a);
                        }
                    }
                    Err(e) => {
                        all = false;
                        tracing::warn!(peer = %p, error = %e, "cannot resolve peer address");
                    }
                }
            }
            self.configured_resolved = all;
        }
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
        let own = self.shared.listen_port;
        let candidates = {
            let book = self.shared.book.lock().unwrap_or_else(|x| x.into_inner());
            let configured = book.configured();
            book.candidates(Instant::now(), |a| {
                connected.contains(a)
                    || self.dialing.contains(a)
                    || (a.ip().is_loopback() && a.port() == own)
                    || (!self.cfg.discover && !configured.contains(a))
            })
        };
        for addr in candidates
            .into_iter()
            .take(self.cfg.max_outbound - outbound)
        {
            self.dialing.insert(addr);
            let shared = self.shared.clone();
            let events = self.events_tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
                    Ok(Ok(stream)) => {
                        conn::run(next_id(), stream, addr, Some(addr), shared, events).await
                    }
                    _ => {
                        let _ = events.send(Event::DialFailed(addr)).await;
                    }
                }
            });
        }
    }
}
