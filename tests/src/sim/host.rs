//! One simulated node: the real chain (RocksDB in a temporary dir), the real mempool and the
//! real peer state machine, with a clock the simulator sets. The work the machine asks for
//! (headers, blocks, transfers) runs synchronously here, through the same `Node` calls the
//! tokio driver makes; the answers a connection gives on its own come from `p2p::serve`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ferrite_core::{Address, Genesis, Hash};
use ferrite_node::chain::Chain;
use ferrite_node::mempool::{MempoolConfig, MempoolError};
use ferrite_node::node::{Node, NodeEvent, SubmitTxError};
use ferrite_node::p2p::compact_conn::{answer_block_txs, RecentCompact};
use ferrite_node::p2p::driver::NodeReader;
use ferrite_node::p2p::fsm::{self, Input, Machine, Output, Time};
use ferrite_node::p2p::wire::{Message, Version, PROTOCOL_VERSION};
use ferrite_node::p2p::PeerId;
use ferrite_node::store::{Durability, StoreRead};
use tokio::sync::broadcast;

/// Port every simulated node listens on (each has its own address).
pub const PORT: u16 = 9733;
/// RocksDB block cache per simulated node: small, the chains are short.
const CACHE_BYTES: usize = 1 << 20;

/// The address of host `index` (inside the simulation only): 10.x.y.1, so that hosts fall in
/// network groups (IPv4 /16) of their own, as nodes run by different people do.
pub fn address(index: usize) -> SocketAddr {
    SocketAddr::from(([10, (index % 250) as u8, (index / 250) as u8, 1], PORT))
}

/// The address of squatter `index`: all squatters share one network group (one operator's
/// addresses), 172.16.x.y.
pub fn squatter_address(index: usize) -> SocketAddr {
    SocketAddr::from((
        [172, 16, (index / 250) as u8, (index % 250 + 1) as u8],
        PORT,
    ))
}

/// How a host behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The real node.
    Honest,
    /// Never answers requests for blocks or transfers (its peers must drop it, not ban it).
    Staller,
    /// Announces a thousand unknown transfer ids to every peer every five seconds and never
    /// delivers them.
    Flooder,
    /// Announces blocks whose bodies break a rule (its peers must ban it).
    Forger,
    /// Announces a valid header on each new tip at once and never delivers its body (its
    /// peers must follow the honest block of that height instead).
    Withholder,
    /// Dials everyone it can and then only holds the slot: answers pings and `GetHeaders`
    /// (with nothing), announces nothing, serves nothing (a newcomer must still get in).
    Squatter,
}

/// A simulated node.
pub struct Host {
    /// Index in the simulation.
    pub index: usize,
    /// Its address.
    pub addr: SocketAddr,
    /// Its behaviour.
    pub role: Role,
    /// Its data dir (kept across crashes).
    pub dir: PathBuf,
    /// Restarts so far; events of an older incarnation are dropped.
    pub incarnation: u32,
    /// Seconds its clock is ahead (negative: behind) of the simulation's.
    pub skew: i64,
    /// Addresses it is told to keep connected.
    pub configured: Vec<SocketAddr>,
    /// Pays its mined blocks to this address, if it mines.
    pub miner: Option<Address>,
    clock: Arc<AtomicU64>,
    live: Option<Live>,
    next_peer: PeerId,
    /// Forged blocks it serves.
    pub forged: Vec<ferrite_core::Block>,
    /// The height of the last header a withholder announced.
    pub withheld_height: u64,
    /// Defences its machine used, by name.
    pub defences: std::collections::BTreeMap<&'static str, u64>,
    /// Relays new blocks as compact blocks.
    pub compact_relay: bool,
    /// Blocks it sent as compact blocks lately (to answer `GetBlockTxs`).
    recent_compact: RecentCompact,
}

/// What a running host has (gone when it crashes).
pub struct Live {
    /// The node.
    pub node: Arc<Node>,
    /// The state machine.
    pub machine: Machine,
    events: broadcast::Receiver<NodeEvent>,
    /// This incarnation's handshake nonce.
    pub nonce: u64,
}

/// What carrying out one output produced for the simulator: network actions and bans.
#[derive(Debug)]
pub enum Effect {
    /// Send a message over this host's connection `peer`.
    Send(PeerId, Message),
    /// Close this host's connection `peer`.
    Close(PeerId),
    /// Dial an address.
    Dial(SocketAddr),
    /// Feed this input back to the machine after a short delay (work done).
    Later(Input),
    /// This host banned a key.
    Banned(ferrite_node::p2p::addrbook::AddrKey),
    /// The tip changed, with this reorg depth.
    Tip {
        /// Blocks taken off.
        reorg: usize,
    },
}

impl Host {
    /// A host that has not started yet.
    pub fn new(index: usize, dir: PathBuf, role: Role, skew: i64) -> Host {
        Host {
            index,
            addr: if role == Role::Squatter {
                squatter_address(index)
            } else {
                address(index)
            },
            role,
            dir,
            incarnation: 0,
            skew,
            configured: Vec::new(),
            miner: None,
            clock: Arc::new(AtomicU64::new(0)),
            live: None,
            next_peer: 1,
            forged: Vec::new(),
            withheld_height: 0,
            defences: Default::default(),
            compact_relay: true,
            recent_compact: RecentCompact::default(),
        }
    }

    /// True while running.
    pub fn alive(&self) -> bool {
        self.live.is_some()
    }

    /// The running parts.
    pub fn live(&self) -> Option<&Live> {
        self.live.as_ref()
    }

    /// Sets this host's clock from the simulation's time.
    pub fn set_clock(&self, now: Time) {
        let secs = now.secs() as i64 + self.skew;
        self.clock.store(secs.max(0) as u64, Ordering::Release);
    }

    /// This host's local time as the machine sees it.
    pub fn local(&self, now: Time) -> Time {
        Time((now.0 as i64 + self.skew * 1000).max(0) as u64)
    }

    /// Starts (or restarts) the node from its data dir.
    pub fn start(&mut self, genesis: &Genesis, seed: u64, now: Time) {
        self.set_clock(now);
        let chain = match Chain::open_with(&self.dir, genesis, CACHE_BYTES, Durability::Unsynced) {
            Ok(c) => c,
            Err(e) => panic!("host {} cannot open its store: {e}", self.index),
        };
        let clock = self.clock.clone();
        let node = match Node::with_clock(
            chain,
            MempoolConfig::default(),
            Box::new(move || clock.load(Ordering::Acquire)),
        ) {
            Ok(n) => Arc::new(n),
            Err(e) => panic!("host {} cannot start: {e}", self.index),
        };
        let records = node.peer_store().peers().unwrap_or_default();
        self.incarnation += 1;
        let nonce = seed ^ (self.index as u64) << 32 ^ u64::from(self.incarnation);
        let cfg = fsm::Config {
            genesis: genesis.params.genesis_hash,
            nonce,
            listen_port: PORT,
            discover: true,
            // A flooder dials everyone it can, to hold as many of each node's slots as it can.
            max_outbound: if matches!(self.role, Role::Flooder | Role::Squatter) {
                16
            } else {
                4
            },
            max_inbound: 16,
            compact_relay: self.compact_relay,
            peers: Vec::new(),
        };
        let machine = Machine::new(cfg, &records, nonce, self.local(now));
        let events = node.subscribe();
        self.live = Some(Live {
            node,
            machine,
            events,
            nonce,
        });
        let configured = self.configured.clone();
        let pin = None;
        self.handle(
            Input::Resolved {
                addrs: configured,
                pin,
            },
            now,
        );
    }

    /// Crashes the node: in-memory state is lost, the store stays.
    pub fn crash(&mut self) {
        self.live = None;
    }

    /// A fresh connection id.
    pub fn next_peer(&mut self) -> PeerId {
        self.next_peer += 1;
        self.next_peer
    }

    /// The `Version` this host sends.
    pub fn version(&self) -> Option<Version> {
        let live = self.live.as_ref()?;
        let tip = live.node.tip();
        Some(Version {
            protocol: PROTOCOL_VERSION,
            genesis: live.node.params().genesis_hash,
            height: tip.height,
            work: tip.work,
            listen_port: PORT,
            nonce: live.nonce,
            user_agent: format!("sim/{:?}", self.role),
        })
    }

    /// Feeds one input and carries out what the machine asks, returning what the simulator
    /// must do.
    pub fn handle(&mut self, input: Input, now: Time) -> Vec<Effect> {
        let local = self.local(now);
        self.set_clock(now);
        let Some(live) = self.live.as_mut() else {
            return Vec::new();
        };
        live.machine
            .handle(input, local, &NodeReader::new(&live.node));
        self.run_outputs(now)
    }

    /// Carries out the machine's outputs, then feeds it the node's events, until quiet.
    fn run_outputs(&mut self, now: Time) -> Vec<Effect> {
        let local = self.local(now);
        let mut effects = Vec::new();
        loop {
            let Some(live) = self.live.as_mut() else {
                return effects;
            };
            let outs = live.machine.drain();
            let mut events = Vec::new();
            while let Ok(ev) = live.events.try_recv() {
                events.push(ev);
            }
            if outs.is_empty() && events.is_empty() {
                return effects;
            }
            for out in outs {
                self.carry_out(out, &mut effects);
            }
            let Some(live) = self.live.as_mut() else {
                return effects;
            };
            for ev in events {
                let input = match ev {
                    NodeEvent::Tip {
                        announce,
                        catching_up,
                        disconnected,
                        ..
                    } => {
                        let block = ferrite_node::p2p::driver::tip_block(
                            &live.node,
                            &announce,
                            catching_up,
                        );
                        effects.push(Effect::Tip {
                            reorg: disconnected,
                        });
                        Input::TipChanged {
                            announce,
                            catching_up,
                            block,
                        }
                    }
                    NodeEvent::Tx(id) => Input::TxAdmitted(id),
                };
                live.machine
                    .handle(input, local, &NodeReader::new(&live.node));
            }
        }
    }

    fn carry_out(&mut self, out: Output, effects: &mut Vec<Effect>) {
        let Some(live) = self.live.as_ref() else {
            return;
        };
        let node = &live.node;
        match out {
            Output::Send(id, msg) => effects.push(Effect::Send(id, msg)),
            Output::Disconnect(id) => effects.push(Effect::Close(id)),
            Output::Dial(addr, _) => effects.push(Effect::Dial(addr)),
            Output::SubmitHeaders { peer, headers } => {
                let count = headers.len();
                let last_height = headers.last().map_or(0, |h| h.height);
                let result = node.submit_headers(&headers);
                effects.push(Effect::Later(Input::HeadersSubmitted {
                    peer,
                    count,
                    last_height,
                    result,
                }));
            }
            Output::SubmitBlock {
                peer,
                ban_key,
                block,
            } => {
                let hash = block.hash();
                let checked = node.check_signatures(block);
                let result = node.submit_checked(checked);
                if let Err(ferrite_node::chain::ChainError::Store(e)) = &result {
                    panic!("host {}: store failed: {e}", self.index);
                }
                let status = node
                    .view()
                    .block_meta(&hash)
                    .ok()
                    .flatten()
                    .map(|m| m.status);
                effects.push(Effect::Later(Input::BlockProcessed {
                    peer,
                    ban_key,
                    hash,
                    result,
                    status,
                }));
            }
            Output::SubmitTxs { peer, txs } => {
                let (mut invalid, mut accepted) = (None, 0);
                for t in txs {
                    match node.submit_tx(t) {
                        Ok(_) => accepted += 1,
                        Err(SubmitTxError::Rejected(
                            e @ (MempoolError::BadSignature | MempoolError::Rule(_)),
                        )) => invalid = Some(e),
                        Err(_) => {}
                    }
                }
                effects.push(Effect::Later(Input::TxsSubmitted {
                    peer,
                    accepted,
                    invalid,
                }));
            }
            Output::Withhold(hash) => {
                if let Err(e) = node.withhold(hash) {
                    panic!("host {}: cannot set block {hash} aside: {e}", self.index);
                }
            }
            Output::Banned(key, _) => effects.push(Effect::Banned(key)),
            Output::KeepForCompact(block) => self.recent_compact.keep(block),
            Output::SaveBook(records) => {
                if let Err(e) = node.peer_store().update_peers(&records) {
                    panic!("host {}: cannot save peers: {e}", self.index);
                }
            }
            Output::PublishPeers(_) => {}
            Output::Defended(d) => *self.defences.entry(d.name()).or_default() += 1,
            Output::Fatal(e) => panic!("host {}: fatal: {e}", self.index),
        }
    }

    /// The answer this host's connection layer gives to a request, or `None` when the message
    /// is for the state machine. A staller answers nothing.
    pub fn serve(&self, msg: &Message) -> Option<Vec<Message>> {
        let live = self.live.as_ref()?;
        let node = &live.node;
        let stall = self.role == Role::Staller || self.role == Role::Flooder;
        match msg {
            Message::Ping(n) => Some(vec![Message::Pong(*n)]),
            Message::GetHeaders { .. } if self.role == Role::Squatter => {
                Some(vec![Message::Headers(Vec::new())])
            }
            Message::GetBlocks(ids) if self.role == Role::Squatter => {
                Some(vec![Message::NotFound(ids.clone())])
            }
            Message::GetTxs(_) | Message::GetBlockTxs { .. } if self.role == Role::Squatter => {
                Some(Vec::new())
            }
            Message::GetHeaders { locator, stop } => {
                let view = node.view();
                let hs =
                    ferrite_node::p2p::serve::headers(&view, locator, stop).unwrap_or_default();
                Some(vec![Message::Headers(hs)])
            }
            Message::GetBlocks(ids) if stall => {
                let _ = ids;
                Some(Vec::new())
            }
            Message::GetBlocks(ids) => {
                let view = node.view();
                let mut out = Vec::new();
                let mut missing = Vec::new();
                for h in ids {
                    match ferrite_node::p2p::serve::block(&view, h)
                        .or_else(|| self.forged.iter().find(|b| b.hash() == *h).cloned())
                    {
                        Some(b) => out.push(Message::Block(b)),
                        None => missing.push(*h),
                    }
                }
                if !missing.is_empty() {
                    out.push(Message::NotFound(missing));
                }
                Some(out)
            }
            Message::GetTxs(_) if stall => Some(Vec::new()),
            Message::GetTxs(ids) => {
                let txs = ferrite_node::p2p::serve::txs(&node.mempool(), ids);
                Some(if txs.is_empty() {
                    Vec::new()
                } else {
                    vec![Message::Txs(txs)]
                })
            }
            Message::GetBlockTxs { .. } if stall => Some(Vec::new()),
            Message::GetBlockTxs { block, indexes } => {
                let found = self.recent_compact.get(block);
                // A bad request is the requester's violation; the simulator's honest hosts
                // never make one, so it is only answered when well formed.
                Some(
                    found
                        .and_then(|b| answer_block_txs(&b, indexes).ok())
                        .into_iter()
                        .collect(),
                )
            }
            _ => None,
        }
    }

    /// True when this host's tip has transfer `id` confirmed.
    pub fn has_confirmed(&self, id: &Hash) -> bool {
        self.live
            .as_ref()
            .and_then(|l| l.node.view().tx_location(id).ok().flatten())
            .is_some()
    }

    /// True when this host's mempool holds `id`.
    pub fn has_pending(&self, id: &Hash) -> bool {
        self.live
            .as_ref()
            .is_some_and(|l| l.node.mempool().contains(id))
    }
}
