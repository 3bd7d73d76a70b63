//! The peer protocol as a synchronous state machine (sans I/O), after nakamoto's `p2p/fsm`.
//!
//! [`Machine`] owns everything the network knows about its peers and about sync: the peer set,
//! requests in flight, the download order, relay bookkeeping, the address book and bans. Its
//! inputs are values ([`Input`]: a peer connected, a message, a disconnect, a timer tick, the
//! result of work it asked for) with the time passed in; it owns a seeded RNG; its outputs are
//! values ([`Output`]: send, disconnect, dial, submit headers / blocks / transfers, persist the
//! address book, publish the peer table). It reads the chain and the mempool only through the
//! small [`ChainReader`] trait, so unit tests drive it with an in-memory fake and the network
//! simulator runs many of them in one process. The tokio layer that maps outputs to sockets,
//! threads and the store is [`super::driver`].
//!
//! This file holds the types and the dispatch; taking peers in is in [`admit`] (with the
//! eviction rule in [`evict`]), the peer set in [`peers`], headers-first sync in [`sync`], relay
//! in [`relay`], compact relay in [`compact`], the simulator's inspection in [`audit`].

mod admit;
mod audit;
mod compact;
pub mod evict;
mod misbehavior;
mod peer;
mod peers;
mod relay;
mod sync;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferrite_core::{BlockHeader, BodyChecked, Hash, SignedTransaction, Work};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::addrbook::{AddrBook, AddrKey, BanKey};
use super::identity::NodeId;
use super::wire::{Message, Version};
use super::{PeerId, PeerInfo};
use crate::chain::{ChainError, HeadersAdded, Submitted};
use crate::mempool::MempoolError;
pub use crate::metrics::Defence;
use crate::store::{BlockStatus, PeerRecord, PeerUpdate};

pub use audit::Footprint;
pub use compact::{
    COMPACT_TXS_WAIT, MAX_HIGH_BANDWIDTH, MAX_PENDING_COMPACT, PENDING_COMPACT_TIMEOUT,
};
pub use misbehavior::Misbehavior;
pub use peer::{Known, KNOWN_PER_PEER};
pub use peers::{
    ADDR_SHARE, BAN_SECS, HEADERS_TIMEOUT, MAX_INITIAL_ANNOUNCE, PING_INTERVAL, PING_TIMEOUT,
    SAVE_INTERVAL,
};
pub use relay::{
    MAX_REANNOUNCE, MAX_TX_ANNOUNCERS, MAX_TX_IN_FLIGHT_PER_PEER, MAX_TX_QUEUED_PER_PEER,
    MAX_TX_WANTED, REANNOUNCE_INTERVAL, TX_REQUEST_TIMEOUT,
};
pub use sync::{
    BLOCK_STALL_TIMEOUT, BODY_FAILURES, BODY_WAIT, MAX_IN_FLIGHT_PER_PEER, MAX_UNCONNECTING,
};

/// A point in time: milliseconds since the Unix epoch. The driver passes the wall clock; the
/// simulator passes its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(pub u64);

impl Time {
    /// From Unix seconds.
    pub fn from_secs(s: u64) -> Time {
        Time(s.saturating_mul(1000))
    }

    /// Whole Unix seconds.
    pub fn secs(self) -> u64 {
        self.0 / 1000
    }

    /// Time elapsed since `earlier` (zero if it is later).
    pub fn since(self, earlier: Time) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl std::ops::Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time(
            self.0
                .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        )
    }
}

/// What the machine may read of the chain and the mempool: the node's published view in the
/// driver, an in-memory chain in unit tests.
pub trait ChainReader {
    /// A block locator from the best header (newest first, genesis last).
    fn locator(&self) -> Vec<Hash>;
    /// Height and cumulative work of the best header.
    fn best_header(&self) -> (u64, Work);
    /// The first blocks of the best header chain whose bodies are missing, lowest first.
    fn missing(&self) -> Vec<(Hash, u64)>;
    /// The ids among `ids` that the mempool does not hold, in order.
    fn missing_txs(&self, ids: &[Hash]) -> Vec<Hash>;
    /// Every transfer id in the mempool.
    fn pool_ids(&self) -> Vec<Hash>;
    /// True when the chain holds the header `h` (checked, not invalid).
    fn has_header(&self, h: &Hash) -> bool;
    /// True when the chain holds the body of `h`.
    fn has_block(&self, h: &Hash) -> bool;
    /// True when `header` names the best header as its parent and passes the chain's header
    /// checks against it: taking it, the chain makes it the new best header.
    fn extends_best_header(&self, header: &BlockHeader) -> bool;
}

/// How a connection ended, as its connection task saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Close {
    /// The peer broke the protocol on the wire (framing, handshake, rate): disconnect and ban.
    Misbehaved(Misbehavior),
    /// Gone, slow or useless: disconnect, no ban.
    Dropped(String),
    /// We dialled ourselves.
    SelfConnection,
}

/// What a connection's handshakes learnt of the peer before it ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Learnt {
    /// The node id the transport's handshake proved.
    pub node_id: Option<NodeId>,
    /// The listen port from the peer's `Version`.
    pub listen_port: Option<u16>,
}

/// An input to the machine.
#[derive(Debug)]
pub enum Input {
    /// A handshake completed.
    Connected {
        /// Connection id.
        id: PeerId,
        /// Remote socket address.
        remote: SocketAddr,
        /// Our end's address (for an inbound connection: the address the peer dialled).
        local: SocketAddr,
        /// The address we dialled (outbound only).
        dialed: Option<SocketAddr>,
        /// The peer's `Version`.
        version: Version,
        /// The node id it proved in the transport's handshake.
        node_id: NodeId,
    },
    /// A message from a connected peer (requests the connection answers itself never come,
    /// and blocks come as [`Input::Block`]).
    Message {
        /// From.
        id: PeerId,
        /// The message.
        msg: Message,
    },
    /// A block from a connected peer, its body already checked against its header by the
    /// connection (off the machine's task); its transfer ids travel with it to the chain.
    Block {
        /// From.
        id: PeerId,
        /// The block and its transfer ids.
        block: BodyChecked,
    },
    /// A compact block from a connected peer, rebuilt and matched to its header by the
    /// connection.
    CompactBlock {
        /// From.
        id: PeerId,
        /// The rebuilt block.
        block: BodyChecked,
        /// The sender connected it before sending (it answers for its validity).
        validated: bool,
    },
    /// A connected peer's compact block could not be rebuilt from the mempool alone: the
    /// connection asked the peer for the missing transfers, and the block follows as
    /// [`Input::CompactBlock`] if the peer answers.
    CompactAwaited {
        /// From.
        id: PeerId,
        /// The block's header.
        header: BlockHeader,
    },
    /// A connection ended (before or after its handshake).
    Closed {
        /// Connection id.
        id: PeerId,
        /// Remote socket address.
        remote: SocketAddr,
        /// The address we dialled (outbound only).
        dialed: Option<SocketAddr>,
        /// Why.
        close: Close,
        /// What the handshakes learnt before the connection ended.
        learnt: Learnt,
    },
    /// A dial failed.
    DialFailed(SocketAddr),
    /// A configured peer resolved to these addresses.
    Resolved {
        /// Its addresses.
        addrs: Vec<SocketAddr>,
        /// The node id pinned for it (`--peer id@host:port`).
        pin: Option<NodeId>,
    },
    /// Housekeeping: stalls, pings, dialling, saving (the driver sends one a second).
    Tick,
    /// Time to announce the transfers that arrived since the last flush (every 50 ms).
    FlushTxs,
    /// The tip changed: announce these headers unless the node is catching up.
    TipChanged {
        /// Headers of the last connected blocks.
        announce: Vec<BlockHeader>,
        /// True while the node is far behind its best header.
        catching_up: bool,
        /// The new tip block, for peers that take compact blocks.
        block: Option<Arc<BodyChecked>>,
    },
    /// A transfer entered the mempool.
    TxAdmitted(Hash),
    /// Node events were missed: offer the whole mempool again.
    EventsLagged,
    /// The chain's answer to [`Output::SubmitHeaders`].
    HeadersSubmitted {
        /// The peer that sent them.
        peer: PeerId,
        /// How many there were.
        count: usize,
        /// The last one's height.
        last_height: u64,
        /// What the chain did.
        result: Result<HeadersAdded, ChainError>,
    },
    /// The chain's answer to [`Output::SubmitBlock`].
    BlockProcessed {
        /// The peer that sent it.
        peer: PeerId,
        /// Its ban key (it may have disconnected since).
        ban_key: BanKey,
        /// Block id.
        hash: Hash,
        /// What the chain did.
        result: Result<Submitted, ChainError>,
        /// The block's status afterwards: `Invalid` means this block itself failed full
        /// validation (the chain then settles on the best valid tip and reports `Ok`).
        status: Option<BlockStatus>,
    },
    /// The mempool's verdict on transfers of [`Output::SubmitTxs`]: the first refusal that
    /// proves the peer relayed something invalid everywhere, if any.
    TxsSubmitted {
        /// The peer that sent them.
        peer: PeerId,
        /// How many of them the mempool took.
        accepted: usize,
        /// Bad signature or a stateless rule broken.
        invalid: Option<MempoolError>,
    },
}

/// An output of the machine, for the driver to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Queue a message to a peer.
    Send(PeerId, Message),
    /// Close a connection.
    Disconnect(PeerId),
    /// Open a connection to an address, refusing any key but the one pinned for it.
    Dial(SocketAddr, Option<NodeId>),
    /// Hand headers to the chain; answer with [`Input::HeadersSubmitted`].
    SubmitHeaders {
        /// From.
        peer: PeerId,
        /// The headers, a chain.
        headers: Vec<BlockHeader>,
    },
    /// Hand a downloaded block to the processor (in chain order); answer with
    /// [`Input::BlockProcessed`].
    SubmitBlock {
        /// From.
        peer: PeerId,
        /// Its ban key.
        ban_key: BanKey,
        /// The block and its transfer ids.
        block: BodyChecked,
    },
    /// Hand relayed transfers to the mempool; answer with [`Input::TxsSubmitted`].
    SubmitTxs {
        /// From.
        peer: PeerId,
        /// Transfers this peer was asked for.
        txs: Vec<SignedTransaction>,
    },
    /// Set aside this header-only block of the best header chain and its descendants: peers
    /// did not deliver its body (see [`BODY_WAIT`]).
    Withhold(Hash),
    /// Keep this block to answer `GetBlockTxs` for it: it was just sent as a compact block.
    KeepForCompact(Arc<BodyChecked>),
    /// An address ban (until Unix seconds), for the accept loop's early refusal.
    Banned(AddrKey, u64),
    /// Write these address-book records.
    SaveBook(Vec<PeerUpdate>),
    /// The connected peers, for the HTTP API.
    PublishPeers(Vec<PeerInfo>),
    /// A defence was used (for `/metrics`).
    Defended(Defence),
    /// The store failed: the node must stop.
    Fatal(String),
}

/// Network settings the machine needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Genesis id (the locator of last resort).
    pub genesis: Hash,
    /// This process's handshake nonce.
    pub nonce: u64,
    /// Port we listen on (0: none), so that we never dial ourselves.
    pub listen_port: u16,
    /// Learn and share addresses and dial learned ones.
    pub discover: bool,
    /// Target outbound connections.
    pub max_outbound: usize,
    /// Most inbound connections.
    pub max_inbound: usize,
    /// Relay new blocks as compact blocks to peers that ask (and ask peers for them).
    pub compact_relay: bool,
    /// Configured peers given as literal addresses, with their pins: in the book, pins and all,
    /// before the first dial (names come later, as [`Input::Resolved`]).
    pub peers: Vec<(SocketAddr, Option<NodeId>)>,
}

/// A block downloaded ahead of the ones before it.
struct Downloaded {
    peer: PeerId,
    ban_key: BanKey,
    block: BodyChecked,
    /// The sender answers for the block's validity (false: forwarded before validation).
    ban_if_invalid: bool,
}

/// The machine.
pub struct Machine {
    cfg: Config,
    rng: ChaCha20Rng,
    /// Ordered by id, so that every walk over the peers (and so the outputs) depends on the
    /// inputs alone.
    peers: BTreeMap<PeerId, peer::Peer>,
    book: AddrBook,
    last_save: Time,
    /// Addresses being dialled.
    dialing: HashSet<SocketAddr>,
    /// Blocks requested and not yet received: who was asked, and when. The one record of what
    /// is in flight (a peer's count is derived from it).
    requested: HashMap<Hash, (PeerId, Time)>,
    downloaded: HashMap<Hash, Downloaded>,
    /// Blocks handed to the processor and not yet processed, and whether their sender answers
    /// for their validity.
    fed: HashMap<Hash, bool>,
    /// Compact blocks waiting for the chain to check their headers.
    compact_pending: BTreeMap<Hash, compact::PendingCompact>,
    /// Compact blocks whose senders were asked for missing transfers, and since when: their
    /// bodies are not requested elsewhere for [`COMPACT_TXS_WAIT`].
    compact_awaited: HashMap<Hash, (PeerId, Time)>,
    /// Blocks that have had their wait, with the sender waited for, oldest first (at most
    /// [`compact::MAX_WAITED`]): a block waits for a sender's transfers once, however often
    /// compact blocks of it come, and its whole body is asked of that sender last.
    compact_waited: std::collections::VecDeque<(Hash, PeerId)>,
    /// The highest block forwarded on its header's check against the view: a sibling at that
    /// height or below waits for the chain, which alone knows which of them it took first.
    fast_forwarded: u64,
    /// Bodies of the missing window that peers failed to deliver: since when each was wanted,
    /// and how often a request for it ended without it.
    body_wants: HashMap<Hash, sync::BodyWant>,
    /// Transfers requested, with other peers that announced them.
    tx_wanted: HashMap<Hash, relay::TxWant>,
    /// Transfers admitted since the last flush, to announce.
    pending_tx_inv: Vec<Hash>,
    /// This node's secret for ranking network groups in eviction (not predictable by peers).
    group_key: [u8; 32],
    /// When pending transfers were last announced again, and where in the pool the next turn
    /// starts.
    reannounced_at: Time,
    reannounce_cursor: usize,
    out: Vec<Output>,
}

impl Machine {
    /// A machine with `cfg`, the persisted address book `records`, and an RNG seeded with
    /// `seed`, starting at `now`.
    pub fn new(cfg: Config, records: &[PeerRecord], seed: u64, now: Time) -> Machine {
        let mut book = AddrBook::from_records(records, now);
        for (addr, pin) in &cfg.peers {
            book.add_configured(*addr, *pin, now);
        }
        let out = book
            .addr_bans()
            .map(|(key, until)| Output::Banned(key, until))
            .collect();
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let group_key = rand::Rng::gen(&mut rng);
        Machine {
            cfg,
            rng,
            group_key,
            peers: BTreeMap::new(),
            book,
            last_save: now,
            dialing: HashSet::new(),
            requested: HashMap::new(),
            downloaded: HashMap::new(),
            fed: HashMap::new(),
            compact_pending: BTreeMap::new(),
            compact_awaited: HashMap::new(),
            compact_waited: std::collections::VecDeque::new(),
            fast_forwarded: 0,
            body_wants: HashMap::new(),
            tx_wanted: HashMap::new(),
            pending_tx_inv: Vec::new(),
            reannounced_at: now,
            reannounce_cursor: 0,
            out,
        }
    }

    /// Saves the address book if it changed (at shutdown), returning the outputs.
    pub fn final_save(&mut self) -> Vec<Output> {
        self.save_book();
        self.drain()
    }

    /// Takes the outputs produced so far, in order.
    pub fn drain(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    /// Feeds one input at `now`.
    pub fn handle(&mut self, input: Input, now: Time, chain: &dyn ChainReader) {
        match input {
            Input::Connected {
                id,
                remote,
                local,
                dialed,
                version,
                node_id,
            } => self.on_connected(id, (remote, local), dialed, version, node_id, now, chain),
            Input::Message { id, msg } => self.on_message(id, msg, now, chain),
            Input::Block { id, block } => self.on_block(id, block, now, chain),
            Input::CompactBlock {
                id,
                block,
                validated,
            } => self.on_compact_block(id, block, validated, now, chain),
            Input::CompactAwaited { id, header } => self.on_compact_awaited(id, header, now, chain),
            Input::Closed {
                id,
                remote,
                dialed,
                close,
                learnt,
            } => self.on_closed(id, remote, dialed, close, learnt, now, chain),
            Input::DialFailed(addr) => {
                self.dialing.remove(&addr);
                self.book.failed(&addr, now);
            }
            Input::Resolved { addrs, pin } => self.on_resolved(addrs, pin, now),
            Input::Tick => self.housekeeping(now, chain),
            Input::FlushTxs => self.flush_tx_inv(),
            Input::TipChanged {
                announce,
                catching_up,
                block,
            } => {
                // While catching up, peers have these blocks already (we are fetching them
                // from peers); the tip is announced once sync is done.
                if !catching_up {
                    self.announce_blocks(announce, block);
                }
                self.schedule(now, chain);
            }
            Input::TxAdmitted(id) => self.pending_tx_inv.push(id),
            Input::EventsLagged => self.pending_tx_inv.extend(chain.pool_ids()),
            Input::HeadersSubmitted {
                peer,
                count,
                last_height,
                result,
            } => self.on_headers_submitted(peer, count, last_height, result, now, chain),
            Input::BlockProcessed {
                peer,
                ban_key,
                hash,
                result,
                status,
            } => self.on_processed(peer, ban_key, hash, result, status, now, chain),
            Input::TxsSubmitted {
                peer,
                accepted,
                invalid,
            } => {
                if let (true, Some(p)) = (accepted > 0, self.peers.get_mut(&peer)) {
                    p.last_tx = Some(now);
                }
                if let Some(e) = invalid {
                    self.misbehaved(peer, Misbehavior::InvalidTransfer(e), now, chain);
                }
            }
        }
    }

    fn send(&mut self, id: PeerId, msg: Message) {
        if self.peers.contains_key(&id) {
            self.out.push(Output::Send(id, msg));
        }
    }

    /// Blocks requested from `id` and not yet received.
    fn in_flight(&self, id: PeerId) -> usize {
        self.requested.values().filter(|(p, _)| *p == id).count()
    }

    /// The connected peers (for tests and the simulator).
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// True when `key` is banned at `now`.
    pub fn is_banned(&self, key: &BanKey, now: Time) -> bool {
        self.book.is_banned(key, now.secs())
    }
}
