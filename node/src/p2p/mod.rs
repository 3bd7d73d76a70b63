//! Ferrite's peer-to-peer network (docs/protocol.md): TCP connections with a handshake, a
//! manager that keeps the peer set, runs headers-first sync and relays blocks and transfers,
//! and a block processor that verifies downloaded blocks ahead of connecting them.
//!
//! Tasks: one listener, one task per connection ([`conn`]), the manager ([`manager`]) that
//! alone owns the sync and peer state, and two processor threads ([`processor`]).

pub mod addrbook;
pub mod conn;
pub mod manager;
pub mod processor;
pub mod wire;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrite_core::Hash;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::node::Node;
use addrbook::AddrBook;
use wire::Version;

/// Default outbound connections: enough paths that one bad peer cannot isolate the node.
pub const DEFAULT_MAX_OUTBOUND: usize = 8;
/// Default inbound connections: bounds the memory and bandwidth strangers can take.
pub const DEFAULT_MAX_INBOUND: usize = 32;
/// Interval between pings on a quiet connection.
pub const PING_INTERVAL: Duration = Duration::from_secs(30);
/// Events queued from all connections to the manager; a full queue makes readers wait, which
/// slows the peers down instead of growing memory.
pub const EVENT_QUEUE: usize = 1024;

/// A connection's id, unique for the process's life.
pub type PeerId = u64;
/// An encoded frame, shared between the queues of several peers.
pub type Frame = Arc<Vec<u8>>;

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Close {
    /// Protocol violation: disconnect and ban.
    Misbehaved(String),
    /// Gone, slow or useless: disconnect, no ban.
    Dropped(String),
    /// We dialled ourselves.
    SelfConnection,
}

/// What connections tell the manager.
#[derive(Debug)]
pub enum Event {
    /// Handshake done.
    Connected {
        /// Connection id.
        id: PeerId,
        /// Remote socket address.
        remote: SocketAddr,
        /// The address we dialled (outbound only).
        dialed: Option<SocketAddr>,
        /// The peer's `Version`.
        version: Version,
        /// The peer's outgoing queue.
        out: mpsc::Sender<Frame>,
        /// Notified to close the connection.
        kill: Arc<tokio::sync::Notify>,
        /// Blocks requested from the peer and not yet received: the connection forwards a
        /// `Block` only while this is above zero.
        expected_blocks: Arc<std::sync::atomic::AtomicUsize>,
    },
    /// A message for the manager.
    Message {
        /// From.
        id: PeerId,
        /// The message.
        msg: wire::Message,
    },
    /// The connection ended.
    Closed {
        /// Connection id.
        id: PeerId,
        /// Remote socket address.
        remote: SocketAddr,
        /// The address we dialled (outbound only).
        dialed: Option<SocketAddr>,
        /// Why.
        close: Close,
        /// The listen port from the peer's `Version`, if it got that far.
        listen_port: Option<u16>,
    },
    /// A dial failed.
    DialFailed(SocketAddr),
    /// Configured peer names resolved to these addresses.
    Resolved(Vec<SocketAddr>),
}

/// What every connection task needs.
pub struct Shared {
    /// The node.
    pub node: Arc<Node>,
    /// This chain's network magic.
    pub magic: [u8; 4],
    /// Genesis id.
    pub genesis: Hash,
    /// Cap of a `Block` frame.
    pub max_block: usize,
    /// This process's handshake nonce.
    pub nonce: u64,
    /// Port advertised in `Version` (0: not listening).
    pub listen_port: u16,
    /// Addresses and bans.
    pub book: Mutex<AddrBook>,
    /// Peers connected after the handshake, as the HTTP API shows them.
    pub peer_table: Arc<PeerTable>,
}

/// What the HTTP API shows of one connected peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The connection's id in this process.
    pub id: PeerId,
    /// The remote socket address.
    pub addr: SocketAddr,
    /// True if the peer dialled us.
    pub inbound: bool,
    /// The peer's software, from its handshake.
    pub user_agent: String,
    /// The best height the peer has shown (handshake, headers, announcements).
    pub height: u64,
    /// When the handshake completed, Unix seconds.
    pub connected_since: u64,
    /// The last ping round trip, in microseconds.
    pub ping_micros: Option<u64>,
}

/// The connected peers, published by the network's manager whenever they change (and every
/// housekeeping tick, for heights and pings) and read by the HTTP API without touching the
/// manager.
#[derive(Debug, Default)]
pub struct PeerTable {
    peers: std::sync::RwLock<Vec<PeerInfo>>,
}

impl PeerTable {
    /// Replaces the published list.
    pub fn publish(&self, peers: Vec<PeerInfo>) {
        *self.peers.write().unwrap_or_else(|e| e.into_inner()) = peers;
    }

    /// The connected peers, by id.
    pub fn snapshot(&self) -> Vec<PeerInfo> {
        self.peers.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many peers are connected.
    pub fn count(&self) -> usize {
        self.peers.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Network settings.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Address to accept connections on (`None`: outbound only).
    pub listen: Option<SocketAddr>,
    /// Peers to keep connected (`--peer`, bootnodes), as `host:port`.
    pub peers: Vec<String>,
    /// Learn and share addresses and dial learned ones; off: only the configured peers.
    pub discover: bool,
    /// Target outbound connections.
    pub max_outbound: usize,
    /// Most inbound connections.
    pub max_inbound: usize,
}

/// A running network.
pub struct Network {
    /// The bound listen address, if listening.
    pub local_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
}

impl Network {
    /// Binds the listener and starts the manager, listener and processor. Must run inside a
    /// multi-threaded tokio runtime.
    pub async fn start(node: Arc<Node>, cfg: NetConfig) -> std::io::Result<Network> {
        let listener = match cfg.listen {
            Some(a) => Some(TcpListener::bind(a).await?),
            None => None,
        };
        let local_addr = listener.as_ref().map(|l| l.local_addr()).transpose()?;
        let (genesis, max_block) = {
            let chain = node.chain();
            (
                chain.params().genesis_hash,
                chain.params().max_block_size as usize,
            )
        };
        let records = node.chain().store().peers().unwrap_or_default();
        let book = AddrBook::from_records(&records, crate::node::now_secs());
        let shared = Arc::new(Shared {
            node: node.clone(),
            magic: wire::network_magic(&genesis),
            genesis,
            max_block,
            nonce: rand::random(),
            listen_port: local_addr.map(|a| a.port()).unwrap_or(0),
            book: Mutex::new(book),
            peer_table: Arc::default(),
        });
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        let cfg_max_inbound = cfg.max_inbound;
        tokio::spawn(manager::resolve_peers(cfg.peers.clone(), events_tx.clone()));
        let mgr = manager::Manager::new(shared.clone(), cfg, events_tx.clone());
        tokio::spawn(mgr.run(events_rx));
        if let Some(l) = listener {
            let slots = Arc::new(tokio::sync::Semaphore::new(
                cfg_max_inbound.saturating_mul(2).max(1),
            ));
            tokio::spawn(manager::accept_loop(l, shared.clone(), events_tx, slots));
        }
        Ok(Network { local_addr, shared })
    }

    /// The connected peers, kept current by the network.
    pub fn peer_table(&self) -> Arc<PeerTable> {
        self.shared.peer_table.clone()
    }

    /// Persists the address book (call at shutdown).
    pub fn save(&self) {
        manager::save_book(&self.shared);
    }
}
