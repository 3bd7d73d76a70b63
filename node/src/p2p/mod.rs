//! Ferrite's peer-to-peer network (docs/protocol.md): TCP connections with a handshake, a
//! state machine that keeps the peer set, runs headers-first sync and relays blocks and
//! transfers, and a block processor that verifies downloaded blocks ahead of connecting them.
//!
//! Tasks: one listener and the dialler ([`dial`]), one task per connection ([`conn`]), the
//! driver ([`driver`]) that feeds the state machine ([`fsm`], which alone owns the sync and
//! peer state) and carries out what it asks, and two processor threads ([`processor`]).

pub mod addrbook;
pub mod answer;
pub mod bans;
pub mod bucket;
pub mod compact;
pub mod compact_conn;
pub mod conn;
pub mod dial;
pub mod driver;
pub mod fsm;
pub mod handshakes;
pub mod identity;
pub mod join;
pub mod processor;
pub mod secure;
pub mod send_queue;
pub mod serve;
pub mod wire;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use tokio::sync::mpsc;

use crate::node::Node;
use addrbook::AddrKey;
pub use fsm::Close;
use wire::Version;

/// Default outbound connections: enough paths that one bad peer cannot isolate the node.
pub const DEFAULT_MAX_OUTBOUND: usize = 8;
/// Default inbound connections: bounds the memory and bandwidth strangers can take.
pub const DEFAULT_MAX_INBOUND: usize = 32;
/// Inbound connections that may be in their handshake at once, per inbound peer allowed: room
/// for peers that connect while others are still proving themselves, few enough that
/// half-open connections cannot take the descriptors the node needs elsewhere.
pub const HANDSHAKES_PER_INBOUND: usize = 2;
/// Events queued from all connections to the driver; a full queue makes readers wait, which
/// slows the peers down instead of growing memory.
pub const EVENT_QUEUE: usize = 1024;

/// A connection's id, unique for the process's life.
pub type PeerId = u64;
/// An encoded frame, shared between the queues of several peers.
pub type Frame = Arc<Vec<u8>>;

/// What connection tasks tell the driver: a completed handshake, with the handles the driver
/// keeps for the connection, or an input for the state machine as it is.
#[derive(Debug)]
pub enum Event {
    /// Handshake done.
    Connected {
        /// Connection id.
        id: PeerId,
        /// Remote socket address.
        remote: SocketAddr,
        /// Our end's address.
        local: SocketAddr,
        /// The address we dialled (outbound only).
        dialed: Option<SocketAddr>,
        /// The peer's `Version`.
        version: Version,
        /// The node id the peer proved in the transport's handshake.
        node_id: identity::NodeId,
        /// The peer's outgoing queue.
        out: send_queue::SendQueue,
        /// Notified to close the connection.
        kill: Arc<tokio::sync::Notify>,
        /// Blocks the connection may still take from the peer: raised by the driver for each
        /// block it requests, lowered by the connection for each block or `NotFound` entry.
        blocks_allowed: Arc<std::sync::atomic::AtomicUsize>,
        /// The inbound handshake slot, freed once the state machine has taken the connection.
        slot: Option<handshakes::Slot>,
    },
    /// A message, a close, a failed dial or resolved names: fed to the machine unchanged.
    Input(fsm::Input),
}

/// What every connection task needs.
pub struct Shared {
    /// The node.
    pub node: Arc<Node>,
    /// This chain's network magic.
    pub magic: [u8; 4],
    /// This chain's id and genesis document, as the transport's handshake binds and hands it.
    pub chain: secure::OurChain,
    /// Cap of a `Block` frame.
    pub max_block: usize,
    /// This process's handshake nonce.
    pub nonce: u64,
    /// Port advertised in `Version` (0: not listening).
    pub listen_port: u16,
    /// Address bans in force, as the state machine reported them: the accept loop refuses a
    /// banned address before its handshake. Bounded like the machine's own table.
    pub bans: RwLock<bans::BanTable<AddrKey>>,
    /// Peers connected after the handshake, as the HTTP API shows them.
    pub peer_table: Arc<PeerTable>,
    /// Blocks lately sent as compact blocks, to answer `GetBlockTxs`.
    pub recent_compact: compact_conn::RecentCompact,
    /// This node's identity key (the transport's static key).
    pub identity: identity::Identity,
    /// The upload limit all connections' answers share.
    pub uploads: Arc<send_queue::TotalUploads>,
}

/// What the HTTP API shows of one connected peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The connection's id in this process.
    pub id: PeerId,
    /// The node id it proved in the transport's handshake.
    pub node_id: identity::NodeId,
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

/// The connected peers, published by the state machine whenever they change (and every
/// housekeeping tick, for heights and pings) and read by the HTTP API without touching it.
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
    pub listen: Option<crate::bind::Bind>,
    /// Peers to keep connected (`--peer`, bootnodes), each with the node id pinned for it.
    pub peers: Vec<PeerSpec>,
    /// Learn and share addresses and dial learned ones; off: only the configured peers.
    pub discover: bool,
    /// Relay new blocks as compact blocks (see [`fsm::MAX_HIGH_BANDWIDTH`]).
    pub compact_relay: bool,
    /// Target outbound connections.
    pub max_outbound: usize,
    /// Most inbound connections.
    pub max_inbound: usize,
    /// Inbound connections in their handshake at once (each holds a descriptor before the
    /// state machine counts it): [`handshake_slots`] of `max_inbound`, or fewer when the
    /// descriptor budget (`crate::fdlimit`) says so.
    pub handshake_slots: usize,
}

/// The handshake slots for `max_inbound` inbound connections (at least one).
pub fn handshake_slots(max_inbound: usize) -> usize {
    max_inbound.saturating_mul(HANDSHAKES_PER_INBOUND).max(1)
}

/// A configured peer: `host:port`, or `id@host:port` to accept only the node whose key is `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    /// The node id pinned for it.
    pub id: Option<identity::NodeId>,
    /// `host:port`, resolved when the network starts (and again until it resolves).
    pub addr: String,
}

/// Why a configured peer did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerSpecError {
    /// Not `host:port` with a port from 1 to 65535.
    #[error("peer must be host:port or id@host:port, got {0:?}")]
    NotHostPort(String),
    /// The part before `@` is not a node id.
    #[error(transparent)]
    BadId(#[from] identity::BadNodeId),
}

impl std::str::FromStr for PeerSpec {
    type Err = PeerSpecError;

    fn from_str(s: &str) -> Result<PeerSpec, PeerSpecError> {
        let (id, addr) = match s.split_once('@') {
            Some((id, addr)) => (Some(id.parse()?), addr),
            None => (None, s),
        };
        let ok = addr.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|n| n != 0)
        });
        if !ok {
            return Err(PeerSpecError::NotHostPort(s.to_string()));
        }
        Ok(PeerSpec {
            id,
            addr: addr.to_string(),
        })
    }
}

impl std::fmt::Display for PeerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.id {
            Some(id) => write!(f, "{id}@{}", self.addr),
            None => f.write_str(&self.addr),
        }
    }
}

/// A running network.
pub struct Network {
    /// The bound listen address, if listening.
    pub local_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    stopped: Arc<driver::Stopped>,
}

impl Network {
    /// Binds the listener and starts the driver, listener and processor. Must run inside a
    /// multi-threaded tokio runtime.
    pub async fn start(
        node: Arc<Node>,
        cfg: NetConfig,
        identity: identity::Identity,
        genesis_doc: String,
    ) -> std::io::Result<Network> {
        let listener = match cfg.listen {
            Some(b) => Some(b.listen().await?),
            None => None,
        };
        let local_addr = listener.as_ref().map(|l| l.local_addr()).transpose()?;
        let (genesis, max_block) = (
            node.params().genesis_hash,
            node.params().max_block_size as usize,
        );
        let records = node.peer_store().peers().unwrap_or_default();
        let shared = Arc::new(Shared {
            node: node.clone(),
            magic: wire::network_magic(&genesis),
            chain: secure::OurChain::new(genesis, genesis_doc.into_bytes()),
            max_block,
            nonce: rand::random(),
            listen_port: local_addr.map(|a| a.port()).unwrap_or(0),
            bans: RwLock::default(),
            peer_table: Arc::default(),
            recent_compact: compact_conn::RecentCompact::default(),
            identity,
            uploads: Arc::default(),
        });
        let machine_cfg = fsm::Config {
            genesis,
            nonce: shared.nonce,
            listen_port: shared.listen_port,
            discover: cfg.discover,
            max_outbound: cfg.max_outbound,
            max_inbound: cfg.max_inbound,
            compact_relay: cfg.compact_relay,
            peers: cfg
                .peers
                .iter()
                .filter_map(|s| s.addr.parse().ok().map(|a| (a, s.id)))
                .collect(),
        };
        let machine = fsm::Machine::new(machine_cfg, &records, rand::random(), driver::now());
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        tokio::spawn(dial::resolve_peers(cfg.peers.clone(), events_tx.clone()));
        let stopped = Arc::new(driver::Stopped::default());
        let drv = driver::Driver::new(shared.clone(), machine, events_tx.clone(), stopped.clone())?;
        tokio::spawn(drv.run(events_rx));
        if let Some(l) = listener {
            let slots = handshakes::HandshakeSlots::new(cfg.handshake_slots);
            tokio::spawn(dial::accept_loop(l, shared.clone(), events_tx, slots));
        }
        Ok(Network {
            local_addr,
            shared,
            stopped,
        })
    }

    /// This node's id.
    pub fn node_id(&self) -> identity::NodeId {
        self.shared.identity.id()
    }

    /// The connected peers, kept current by the network.
    pub fn peer_table(&self) -> Arc<PeerTable> {
        self.shared.peer_table.clone()
    }

    /// Waits (up to a few seconds) for the driver to stop and save the address book; call
    /// after the node was asked to shut down.
    pub fn save(&self) {
        self.stopped.wait(std::time::Duration::from_secs(3));
    }
}
