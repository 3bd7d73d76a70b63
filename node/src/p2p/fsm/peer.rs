//! What the machine keeps about one connected peer.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use ferrite_core::{Hash, Work};

use super::Time;
use crate::p2p::addrbook::BanKey;

/// Ids remembered per peer as known to it (so that nothing is echoed back or sent twice).
pub const KNOWN_PER_PEER: usize = 8192;
/// How long a peer's `NotFound` for a block keeps the block from being asked of it again.
pub const NOT_FOUND_RETRY: Duration = Duration::from_secs(2);
/// Ids remembered per peer as answered `NotFound` (cleared beyond this).
pub(super) const MAX_NOT_FOUND: usize = 4096;

/// A bounded set of ids (oldest forgotten first).
#[derive(Debug, Default)]
pub struct Known {
    set: HashSet<Hash>,
    order: VecDeque<Hash>,
}

impl Known {
    /// Remembers `h`, forgetting the oldest beyond [`KNOWN_PER_PEER`].
    pub fn insert(&mut self, h: Hash) {
        if self.set.insert(h) {
            self.order.push_back(h);
            if self.order.len() > KNOWN_PER_PEER {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }

    /// True when `h` is remembered.
    pub fn contains(&self, h: &Hash) -> bool {
        self.set.contains(h)
    }
}

/// One connected peer.
pub(super) struct Peer {
    pub remote: SocketAddr,
    /// The node id it proved in the transport's handshake.
    pub node_id: crate::p2p::identity::NodeId,
    /// Where the peer accepts connections, if it does.
    pub listen: Option<SocketAddr>,
    pub dialed: Option<SocketAddr>,
    /// Our end's address (for an inbound connection: the address the peer dialled).
    pub local: SocketAddr,
    /// The peer's handshake nonce (tie-break between two connections to the same node).
    pub nonce: u64,
    pub ban_key: BanKey,
    pub height: u64,
    pub work: Work,
    /// When the peer last delivered a block (or got its first request after being idle).
    pub last_progress: Time,
    /// Blocks the peer answered `NotFound` for, and when: not asked of it again until
    /// [`NOT_FOUND_RETRY`] has passed (it may not have had the block yet: a block forwarded
    /// before connect is served once connected).
    pub not_found: HashMap<Hash, Time>,
    pub known_blocks: Known,
    pub known_txs: Known,
    /// Transfers the peer announced or sent: it has them (not announced to it again).
    pub has_txs: Known,
    /// Transfers it announced that wait for room under its request cap, oldest first.
    pub tx_queue: VecDeque<Hash>,
    /// Transfers requested from this peer and not yet received.
    pub txs_in_flight: usize,
    pub headers_asked: Option<Time>,
    /// A header batch of this peer's is with the chain and not answered yet. One at a time per
    /// peer, so that batches reach the chain in the order the peer sent them.
    pub headers_in_chain: bool,
    /// Batches that arrived meanwhile, oldest first.
    pub headers_queue: std::collections::VecDeque<Vec<ferrite_core::BlockHeader>>,
    pub unconnecting: u32,
    pub ping: Option<(u64, Time)>,
    pub next_ping: Time,
    pub user_agent: String,
    /// Unix seconds at the handshake.
    pub since: u64,
    pub last_rtt: Option<Duration>,
    /// The peer asked for new blocks as compact blocks, unannounced (`SendCompact(true)`).
    pub wants_compact: bool,
    /// We asked the peer for that.
    pub asked_compact: bool,
    /// Its network group (eviction counts connections per group).
    pub group: super::evict::NetGroup,
    /// When it connected.
    pub connected_at: Time,
    /// When it last delivered a block we did not have.
    pub last_block: Option<Time>,
    /// When we last accepted a transfer it sent.
    pub last_tx: Option<Time>,
    /// Its `GetAddr` was answered (once per connection).
    pub addr_answered: bool,
}

impl Peer {
    /// A peer whose handshakes just completed at `now`.
    pub(super) fn new(
        (remote, local): (SocketAddr, SocketAddr),
        (node_id, ban_key): (crate::p2p::identity::NodeId, BanKey),
        listen: Option<SocketAddr>,
        dialed: Option<SocketAddr>,
        version: &crate::p2p::wire::Version,
        now: Time,
    ) -> Peer {
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
            not_found: HashMap::new(),
            known_blocks: Known::default(),
            known_txs: Known::default(),
            has_txs: Known::default(),
            tx_queue: VecDeque::new(),
            txs_in_flight: 0,
            headers_asked: None,
            headers_in_chain: false,
            headers_queue: VecDeque::new(),
            unconnecting: 0,
            ping: None,
            next_ping: now + super::PING_INTERVAL,
            user_agent: version.user_agent.clone(),
            since: now.secs(),
            last_rtt: None,
            wants_compact: false,
            asked_compact: false,
            group: super::evict::NetGroup::of(remote.ip()),
            connected_at: now,
            last_block: None,
            last_tx: None,
            addr_answered: false,
        }
    }
}
