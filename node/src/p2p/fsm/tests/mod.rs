//! The state machine against an in-memory chain: each test feeds inputs with the time it
//! chooses and checks the outputs, in microseconds, without sockets, threads or a store.

use std::cell::RefCell;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use ferrite_core::{
    Address, Block, BlockHeader, BodyChecked, Hash, SignedTransaction, Transaction, Work,
};

use super::*;
use crate::chain::{ChainError, HeadersAdded, Submitted};
use crate::p2p::wire::{Message, Version, MAX_HEADERS, PROTOCOL_VERSION};

const T0: Time = Time(1_800_000_000_000);
const OUR_NONCE: u64 = 1_000;

/// A chain that only remembers what the machine reads.
#[derive(Default)]
struct Fake {
    best: (u64, u64),
    missing: RefCell<Vec<(Hash, u64)>>,
    pool: RefCell<HashSet<Hash>>,
    /// Headers the chain has (checked).
    headers: RefCell<HashSet<Hash>>,
    /// Blocks the chain has whole.
    blocks: RefCell<HashSet<Hash>>,
    /// Headers that pass the checks as children of the best header.
    extend_best: RefCell<HashSet<Hash>>,
}

impl ChainReader for Fake {
    fn locator(&self) -> Vec<Hash> {
        vec![Hash([1; 32])]
    }
    fn best_header(&self) -> (u64, Work) {
        (self.best.0, Work::from_be_bytes(&[0; 32]))
    }
    fn missing(&self) -> Vec<(Hash, u64)> {
        self.missing.borrow().clone()
    }
    fn missing_txs(&self, ids: &[Hash]) -> Vec<Hash> {
        let pool = self.pool.borrow();
        ids.iter().filter(|h| !pool.contains(h)).copied().collect()
    }
    fn pool_ids(&self) -> Vec<Hash> {
        let mut ids: Vec<Hash> = self.pool.borrow().iter().copied().collect();
        ids.sort();
        ids
    }
    fn has_header(&self, h: &Hash) -> bool {
        self.headers.borrow().contains(h)
    }
    fn has_block(&self, h: &Hash) -> bool {
        self.blocks.borrow().contains(h)
    }
    fn extends_best_header(&self, header: &ferrite_core::BlockHeader) -> bool {
        self.extend_best.borrow().contains(&header.hash())
    }
}

fn machine() -> Machine {
    machine_with(true, 8)
}

fn machine_with(discover: bool, max_outbound: usize) -> Machine {
    let cfg = Config {
        genesis: Hash([7; 32]),
        nonce: OUR_NONCE,
        listen_port: 9733,
        discover,
        max_outbound,
        max_inbound: 4,
        compact_relay: true,
        peers: Vec::new(),
    };
    Machine::new(cfg, &[], 42, T0)
}

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, i], 9733))
}

fn version(height: u64, listen_port: u16, nonce: u64) -> Version {
    Version {
        protocol: PROTOCOL_VERSION,
        genesis: Hash([7; 32]),
        height,
        work: Work::ZERO,
        listen_port,
        nonce,
        user_agent: "test".into(),
    }
}

/// Our end of every test connection.
fn local() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 254], 9733))
}

/// The node id of the peer numbered `n` in a test.
fn node(n: u64) -> NodeId {
    NodeId([n as u8; 32])
}

/// Connects peer `id` (inbound) from 10.0.0.id claiming `height`; returns the outputs.
fn connect(m: &mut Machine, chain: &Fake, id: PeerId, height: u64, now: Time) -> Vec<Output> {
    m.handle(
        Input::Connected {
            id,
            remote: SocketAddr::from(([10, 0, 0, id as u8], 40_000)),
            local: local(),
            dialed: None,
            version: version(height, 9733, id),
            node_id: node(id),
        },
        now,
        chain,
    );
    m.drain()
}

/// Answers the handshake's getheaders with nothing new, as a peer at our height does.
fn settle(m: &mut Machine, chain: &Fake, id: PeerId) {
    m.handle(
        Input::Message {
            id,
            msg: Message::Headers(vec![]),
        },
        T0,
        chain,
    );
    m.drain();
}

fn block(height: u64) -> Block {
    let mut b = Block {
        header: BlockHeader {
            version: 1,
            height,
            prev: Hash([height as u8; 32]),
            merkle_root: Hash::ZERO,
            state_root: Hash::ZERO,
            miner: Address([0; 32]),
            timestamp: height,
            bits: 0x207f_ffff,
            nonce: height,
        },
        txs: Vec::new(),
    };
    b.header.merkle_root = b.compute_merkle_root();
    b
}

/// `b` as a connection delivers it: body checked.
fn arrived(id: PeerId, b: &Block) -> Input {
    let block = BodyChecked::new(b.clone()).unwrap_or_else(|e| panic!("{e}"));
    Input::Block { id, block }
}

fn chain_missing(blocks: &[Block]) -> Fake {
    let fake = Fake {
        best: (blocks.len() as u64, 0),
        ..Fake::default()
    };
    *fake.missing.borrow_mut() = blocks.iter().map(|b| (b.hash(), b.header.height)).collect();
    fake
}

fn requested(out: &[Output], id: PeerId) -> Vec<Hash> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(p, Message::GetBlocks(hs)) if *p == id => Some(hs.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn sent_to(out: &[Output], id: PeerId) -> Vec<&Message> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(p, m) if *p == id => Some(m),
            _ => None,
        })
        .collect()
}

fn banned(out: &[Output]) -> bool {
    out.iter().any(|o| matches!(o, Output::Banned(..)))
}

fn disconnected(out: &[Output], id: PeerId) -> bool {
    out.contains(&Output::Disconnect(id))
}

fn signed_tx(n: u64) -> SignedTransaction {
    let k = ferrite_core::dev::dev_key(0);
    Transaction {
        sender: k.public_key(),
        recipient: Address([9; 32]),
        amount: 1,
        fee: 1_000,
        nonce: n,
    }
    .sign(&k, &Hash([7; 32]))
}

#[test]
fn a_connected_peer_is_asked_for_headers_and_addresses() {
    let (mut m, chain) = (machine(), Fake::default());
    let out = connect(&mut m, &chain, 1, 0, T0);
    let msgs = sent_to(&out, 1);
    assert!(msgs.iter().any(
        |m| matches!(m, Message::GetHeaders { locator, .. } if locator == &vec![Hash([1; 32])])
    ));
    assert!(msgs.contains(&&Message::GetAddr));
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::PublishPeers(p) if p.len() == 1)));
}

#[test]
fn downloads_are_spread_over_peers_within_their_limits() {
    let blocks: Vec<Block> = (1..=30).map(block).collect();
    let (mut m, chain) = (machine(), chain_missing(&blocks));
    let out1 = connect(&mut m, &chain, 1, 30, T0);
    let out2 = connect(&mut m, &chain, 2, 30, T0);
    // The first peer is asked on its connect up to its limit; the second gets the rest.
    let first = requested(&out1, 1);
    let second = requested(&out2, 2);
    assert_eq!(first.len(), MAX_IN_FLIGHT_PER_PEER);
    let mut all: Vec<Hash> = first.iter().chain(&second).copied().collect();
    let before = m.requested.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), first.len() + second.len(), "a block asked twice");
    assert_eq!(before, 30, "every missing body is requested");
    assert!(m.in_flight(1) <= MAX_IN_FLIGHT_PER_PEER);
    assert!(m.in_flight(2) <= MAX_IN_FLIGHT_PER_PEER);
    assert_eq!(m.in_flight(1) + m.in_flight(2), 30);
}

#[test]
fn a_peer_that_never_had_a_height_is_not_asked_for_it() {
    let blocks: Vec<Block> = (1..=4).map(block).collect();
    let (mut m, chain) = (machine(), chain_missing(&blocks));
    let out = connect(&mut m, &chain, 1, 2, T0);
    assert_eq!(requested(&out, 1), vec![blocks[0].hash(), blocks[1].hash()]);
}

#[test]
fn a_stalling_peer_is_dropped_not_banned_and_its_blocks_go_to_another() {
    let blocks: Vec<Block> = (1..=4).map(block).collect();
    let (mut m, chain) = (machine(), chain_missing(&blocks));
    let out = connect(&mut m, &chain, 1, 4, T0);
    assert_eq!(requested(&out, 1).len(), 4);
    connect(&mut m, &chain, 2, 4, T0);
    // Peer 2 is idle (everything went to 1); peer 1 never delivers.
    m.handle(Input::Tick, T0 + Duration::from_secs(5), &chain);
    let out = m.drain();
    assert!(!disconnected(&out, 1), "dropped before the stall timeout");
    m.handle(
        Input::Tick,
        T0 + BLOCK_STALL_TIMEOUT + Duration::from_secs(1),
        &chain,
    );
    let out = m.drain();
    assert!(disconnected(&out, 1));
    assert!(!banned(&out), "a slow peer is not banned");
    let mut again = requested(&out, 2);
    again.sort();
    let mut want: Vec<Hash> = blocks.iter().map(|b| b.hash()).collect();
    want.sort();
    assert_eq!(again, want, "the stalled requests went to the other peer");
}

#[test]
fn delivered_blocks_go_to_the_processor_in_chain_order() {
    let blocks: Vec<Block> = (1..=3).map(block).collect();
    let (mut m, chain) = (machine(), chain_missing(&blocks));
    connect(&mut m, &chain, 1, 3, T0);
    let submitted = |out: &[Output]| -> Vec<u64> {
        out.iter()
            .filter_map(|o| match o {
                Output::SubmitBlock { block, .. } => Some(block.block().header.height),
                _ => None,
            })
            .collect()
    };
    // Out of order: 3 and 2 wait for 1.
    for b in [&blocks[2], &blocks[1]] {
        m.handle(arrived(1, b), T0, &chain);
        assert!(submitted(&m.drain()).is_empty());
    }
    m.handle(arrived(1, &blocks[0]), T0, &chain);
    assert_eq!(submitted(&m.drain()), vec![1, 2, 3]);
}

#[test]
fn a_block_nobody_asked_for_is_ignored() {
    let blocks: Vec<Block> = (1..=2).map(block).collect();
    let (mut m, chain) = (machine(), chain_missing(&blocks));
    connect(&mut m, &chain, 1, 2, T0);
    connect(&mut m, &chain, 2, 0, T0);
    m.handle(arrived(2, &blocks[0]), T0, &chain);
    let out = m.drain();
    assert!(!out.iter().any(|o| matches!(o, Output::SubmitBlock { .. })));
}

#[test]
fn an_invalid_blocks_sender_is_banned_even_after_it_left() {
    let blocks: Vec<Block> = (1..=1).map(block).collect();
    let (mut m, chain) = (machine(), chain_missing(&blocks));
    connect(&mut m, &chain, 1, 1, T0);
    connect(&mut m, &chain, 2, 1, T0);
    let key = crate::p2p::addrbook::BanKey::new(addr(1).ip(), 9733, node(1));
    m.handle(
        Input::BlockProcessed {
            peer: 1,
            ban_key: key,
            hash: blocks[0].hash(),
            result: Ok(Submitted::Stored),
            status: Some(BlockStatus::Invalid),
        },
        T0,
        &chain,
    );
    let out = m.drain();
    assert!(out.contains(&Output::Banned(key.addr, T0.secs() + BAN_SECS)));
    assert!(disconnected(&out, 1));
    assert!(!disconnected(&out, 2));
    assert!(m.is_banned(&key, T0));
    // A block whose ancestor was invalid does not blame its sender.
    m.handle(
        Input::BlockProcessed {
            peer: 2,
            ban_key: crate::p2p::addrbook::BanKey::new(addr(2).ip(), 9733, node(2)),
            hash: Hash([3; 32]),
            result: Ok(Submitted::Stored),
            status: Some(BlockStatus::InvalidAncestor),
        },
        T0,
        &chain,
    );
    assert!(!banned(&m.drain()));
    // The banned node cannot come back.
    let out = connect(&mut m, &chain, 1, 1, T0 + Duration::from_secs(60));
    assert!(disconnected(&out, 1));
}

#[test]
fn headers_go_to_the_chain_and_a_full_answer_is_continued() {
    let (mut m, chain) = (machine(), Fake::default());
    connect(&mut m, &chain, 1, 5_000, T0);
    let mut hs = Vec::new();
    let mut prev = Hash::ZERO;
    for height in 1..=MAX_HEADERS as u64 {
        let mut h = block(height).header;
        h.prev = prev;
        prev = h.hash();
        hs.push(h);
    }
    m.handle(
        Input::Message {
            id: 1,
            msg: Message::Headers(hs.clone()),
        },
        T0,
        &chain,
    );
    let out = m.drain();
    assert!(matches!(&out[..], [Output::SubmitHeaders { peer: 1, headers }] if *headers == hs));
    let after = vec![Hash([4; 32]), Hash([7; 32])];
    m.handle(
        Input::HeadersSubmitted {
            peer: 1,
            count: MAX_HEADERS,
            last_height: MAX_HEADERS as u64,
            result: Ok(HeadersAdded {
                new: MAX_HEADERS,
                locator_after: after.clone(),
            }),
        },
        T0,
        &chain,
    );
    let out = m.drain();
    assert!(sent_to(&out, 1)
        .iter()
        .any(|msg| matches!(msg, Message::GetHeaders { locator, .. } if *locator == after)));
}

#[test]
fn headers_that_are_not_a_chain_get_the_peer_banned() {
    let (mut m, chain) = (machine(), Fake::default());
    connect(&mut m, &chain, 1, 5, T0);
    let hs = vec![block(1).header, block(2).header];
    m.handle(
        Input::Message {
            id: 1,
            msg: Message::Headers(hs),
        },
        T0,
        &chain,
    );
    let out = m.drain();
    assert!(banned(&out) && disconnected(&out, 1));
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::SubmitHeaders { .. })));
}

#[test]
fn announcements_that_never_connect_end_in_a_ban() {
    let (mut m, chain) = (machine(), Fake::default());
    connect(&mut m, &chain, 1, 5, T0);
    // The handshake's getheaders is answered (empty), then announcements that do not connect.
    m.handle(
        Input::Message {
            id: 1,
            msg: Message::Headers(vec![]),
        },
        T0,
        &chain,
    );
    m.drain();
    for i in 0..=MAX_UNCONNECTING {
        m.handle(
            Input::HeadersSubmitted {
                peer: 1,
                count: 1,
                last_height: 9,
                result: Err(ChainError::UnknownParent(Hash([9; 32]))),
            },
            T0,
            &chain,
        );
        let out = m.drain();
        // Asking again puts a getheaders in flight, which excuses the next one: answer it.
        if i < MAX_UNCONNECTING {
            assert!(!banned(&out), "banned after {} announcements", i + 1);
            m.handle(
                Input::Message {
                    id: 1,
                    msg: Message::Headers(vec![]),
                },
                T0,
                &chain,
            );
            m.drain();
        } else {
            assert!(banned(&out));
        }
    }
}

#[test]
fn relayed_transfers_are_fetched_once_and_never_echoed() {
    let (mut m, chain) = (machine(), Fake::default());
    connect(&mut m, &chain, 1, 0, T0);
    connect(&mut m, &chain, 2, 0, T0);
    connect(&mut m, &chain, 3, 0, T0);
    let t = signed_tx(0);
    let id = t.id();
    m.handle(
        Input::Message {
            id: 1,
            msg: Message::InvTx(vec![id]),
        },
        T0,
        &chain,
    );
    let out = m.drain();
    assert_eq!(sent_to(&out, 1), vec![&Message::GetTxs(vec![id])]);
    // Peer 2 announces it too: not fetched twice.
    m.handle(
        Input::Message {
            id: 2,
            msg: Message::InvTx(vec![id]),
        },
        T0,
        &chain,
    );
    assert!(m.drain().is_empty());
    m.handle(
        Input::Message {
            id: 1,
            msg: Message::Txs(vec![t]),
        },
        T0,
        &chain,
    );
    let out = m.drain();
    assert_eq!(
        out,
        vec![Output::SubmitTxs {
            peer: 1,
            txs: vec![t]
        }]
    );
    // Admitted: announced to peer 3 alone (1 sent it, 2 announced it).
    chain.pool.borrow_mut().insert(id);
    m.handle(Input::TxAdmitted(id), T0, &chain);
    m.handle(Input::FlushTxs, T0, &chain);
    let out = m.drain();
    assert_eq!(out, vec![Output::Send(3, Message::InvTx(vec![id]))]);
}

#[test]
fn a_transfer_that_does_not_come_is_asked_of_the_next_announcer() {
    let (mut m, chain) = (machine(), Fake::default());
    connect(&mut m, &chain, 1, 0, T0);
    connect(&mut m, &chain, 2, 0, T0);
    settle(&mut m, &chain, 1);
    settle(&mut m, &chain, 2);
    let id = signed_tx(0).id();
    m.handle(
        Input::Message {
            id: 1,
            msg: Message::InvTx(vec![id]),
        },
        T0,
        &chain,
    );
    m.handle(
        Input::Message {
            id: 2,
            msg: Message::InvTx(vec![id]),
        },
        T0,
        &chain,
    );
    m.drain();
    m.handle(Input::Tick, T0 + TX_REQUEST_TIMEOUT, &chain);
    assert!(
        !sent_to(&m.drain(), 2).contains(&&Message::GetTxs(vec![id])),
        "asked again too early"
    );
    m.handle(
        Input::Tick,
        T0 + TX_REQUEST_TIMEOUT + Duration::from_secs(1),
        &chain,
    );
    let out = m.drain();
    assert!(sent_to(&out, 2).contains(&&Message::GetTxs(vec![id])));
    // The first one's late answer is not taken.
    m.handle(
        Input::Message {
            id: 1,
            msg: Message::Txs(vec![signed_tx(0)]),
        },
        T0,
        &chain,
    );
    assert!(m.drain().is_empty());
}

#[test]
fn an_invalid_relayed_transfer_bans_its_sender() {
    let (mut m, chain) = (machine(), Fake::default());
    connect(&mut m, &chain, 1, 0, T0);
    m.handle(
        Input::TxsSubmitted {
            peer: 1,
            accepted: 0,
            invalid: Some(crate::mempool::MempoolError::BadSignature),
        },
        T0,
        &chain,
    );
    let out = m.drain();
    assert!(banned(&out) && disconnected(&out, 1));
}

#[test]
fn of_two_connections_to_one_node_both_ends_keep_the_same_one() {
    // Node B (nonce 50) and we (nonce 1,000) dialled each other. The connection dialled by the
    // lower nonce (B's, inbound here) is kept, whichever handshake finishes first.
    for inbound_first in [true, false] {
        let (mut m, chain) = (machine(), Fake::default());
        let b_listen = addr(9);
        let inbound = Input::Connected {
            id: 1,
            remote: SocketAddr::new(b_listen.ip(), 50_000),
            local: local(),
            dialed: None,
            version: version(0, b_listen.port(), 50),
            node_id: node(50),
        };
        let outbound = Input::Connected {
            id: 2,
            remote: b_listen,
            local: local(),
            dialed: Some(b_listen),
            version: version(0, b_listen.port(), 50),
            node_id: node(50),
        };
        let (first, second) = if inbound_first {
            (inbound, outbound)
        } else {
            (outbound, inbound)
        };
        m.handle(first, T0, &chain);
        m.handle(second, T0, &chain);
        let out = m.drain();
        assert!(disconnected(&out, 2), "inbound first: {inbound_first}");
        assert!(!disconnected(&out, 1), "inbound first: {inbound_first}");
        assert_eq!(m.peer_count(), 1);
    }
}

#[test]
fn addresses_learned_from_one_peer_are_shared_with_another() {
    let (mut m, chain) = (machine(), Fake::default());
    connect(&mut m, &chain, 1, 0, T0);
    connect(&mut m, &chain, 2, 0, T0);
    let learned = vec![addr(50), addr(51)];
    m.handle(
        Input::Message {
            id: 1,
            msg: Message::Addr(learned.clone()),
        },
        T0,
        &chain,
    );
    m.handle(
        Input::Message {
            id: 2,
            msg: Message::GetAddr,
        },
        T0,
        &chain,
    );
    let out = m.drain();
    let shared = sent_to(&out, 2)
        .into_iter()
        .find_map(|msg| match msg {
            Message::Addr(a) => Some(a.clone()),
            _ => None,
        })
        .unwrap_or_default();
    for a in learned {
        assert!(shared.contains(&a), "{a} not shared");
    }
    // Learned addresses are dialled.
    m.handle(Input::Tick, T0, &chain);
    let dials: Vec<SocketAddr> = m
        .drain()
        .into_iter()
        .filter_map(|o| match o {
            Output::Dial(a, _) => Some(a),
            _ => None,
        })
        .collect();
    assert!(dials.contains(&addr(50)) && dials.contains(&addr(51)));
}

#[test]
fn a_failed_dial_backs_off_before_the_next() {
    let (mut m, chain) = (machine_with(false, 8), Fake::default());
    let a = addr(20);
    let pin = None;
    m.handle(
        Input::Resolved {
            addrs: vec![a],
            pin,
        },
        T0,
        &chain,
    );
    let dials = |m: &mut Machine, now: Time| {
        m.handle(Input::Tick, now, &chain);
        m.drain()
            .iter()
            .filter(|o| **o == Output::Dial(a, None))
            .count()
    };
    assert_eq!(dials(&mut m, T0), 1);
    assert_eq!(dials(&mut m, T0), 0, "dialled twice at once");
    m.handle(Input::DialFailed(a), T0, &chain);
    let min = crate::p2p::addrbook::RECONNECT_MIN_BACKOFF;
    assert_eq!(dials(&mut m, T0 + min / 2), 0, "no backoff");
    assert_eq!(dials(&mut m, T0 + min), 1);
    m.handle(Input::DialFailed(a), T0 + min, &chain);
    // The second failure doubles the delay.
    assert_eq!(dials(&mut m, T0 + min + min), 0);
    assert_eq!(dials(&mut m, T0 + min + min * 2), 1);
}

#[test]
fn a_silent_peer_is_pinged_then_dropped_without_a_ban() {
    let (mut m, chain) = (machine(), Fake::default());
    connect(&mut m, &chain, 1, 0, T0);
    settle(&mut m, &chain, 1);
    let t1 = T0 + PING_INTERVAL;
    m.handle(Input::Tick, t1, &chain);
    let out = m.drain();
    let nonce = sent_to(&out, 1).into_iter().find_map(|msg| match msg {
        Message::Ping(n) => Some(*n),
        _ => None,
    });
    assert!(nonce.is_some(), "no ping after {PING_INTERVAL:?}");
    m.handle(
        Input::Tick,
        t1 + PING_TIMEOUT + Duration::from_secs(1),
        &chain,
    );
    let out = m.drain();
    assert!(disconnected(&out, 1) && !banned(&out));
}

#[test]
fn the_same_seed_and_inputs_give_the_same_outputs() {
    let run = || {
        let (mut m, chain) = (machine(), Fake::default());
        let mut all = Vec::new();
        for id in 1..=3 {
            all.extend(connect(&mut m, &chain, id, 0, T0));
        }
        m.handle(
            Input::Message {
                id: 1,
                msg: Message::Addr((30..60).map(addr).collect()),
            },
            T0,
            &chain,
        );
        for s in 0..40 {
            m.handle(Input::Tick, T0 + Duration::from_secs(s), &chain);
            all.extend(m.drain());
        }
        format!("{all:?}")
    };
    assert_eq!(run(), run());
}

#[test]
fn header_batches_reach_the_chain_one_at_a_time_in_order() {
    let (mut m, chain) = (machine(), Fake::default());
    connect(&mut m, &chain, 1, 10, T0);
    let batch = |h: u64| vec![block(h).header];
    let submitted = |out: &[Output]| -> Vec<u64> {
        out.iter()
            .filter_map(|o| match o {
                Output::SubmitHeaders { headers, .. } => Some(headers[0].height),
                _ => None,
            })
            .collect()
    };
    for h in [1, 2, 3] {
        m.handle(
            Input::Message {
                id: 1,
                msg: Message::Headers(batch(h)),
            },
            T0,
            &chain,
        );
    }
    assert_eq!(
        submitted(&m.drain()),
        vec![1],
        "a second batch went out before the first came back"
    );
    for next in [2, 3] {
        m.handle(
            Input::HeadersSubmitted {
                peer: 1,
                count: 1,
                last_height: next - 1,
                result: Ok(HeadersAdded::default()),
            },
            T0,
            &chain,
        );
        assert_eq!(submitted(&m.drain()), vec![next]);
    }
}

#[test]
fn a_peer_that_floods_headers_faster_than_they_are_checked_is_dropped() {
    let (mut m, chain) = (machine(), Fake::default());
    connect(&mut m, &chain, 1, 10, T0);
    for h in 0..=(sync::MAX_QUEUED_HEADER_BATCHES as u64 + 1) {
        m.handle(
            Input::Message {
                id: 1,
                msg: Message::Headers(vec![block(h + 1).header]),
            },
            T0,
            &chain,
        );
    }
    let out = m.drain();
    assert!(disconnected(&out, 1) && !banned(&out));
}

#[test]
fn a_second_connection_dialled_the_same_way_replaces_the_first() {
    let (mut m, chain) = (machine(), Fake::default());
    let b = addr(9);
    for id in [1, 2] {
        m.handle(
            Input::Connected {
                id,
                remote: b,
                local: local(),
                dialed: Some(b),
                version: version(0, b.port(), 50),
                node_id: node(50),
            },
            T0,
            &chain,
        );
    }
    let out = m.drain();
    assert!(disconnected(&out, 1) && !disconnected(&out, 2));
    assert_eq!(m.peer_count(), 1);
}

#[test]
fn the_machines_bookkeeping_agrees_with_itself_after_a_departure() {
    let (mut m, chain) = (
        machine(),
        chain_missing(&(1..=4).map(block).collect::<Vec<_>>()),
    );
    connect(&mut m, &chain, 1, 4, T0);
    connect(&mut m, &chain, 2, 4, T0);
    let id = signed_tx(0).id();
    m.handle(
        Input::Message {
            id: 1,
            msg: Message::InvTx(vec![id]),
        },
        T0,
        &chain,
    );
    m.handle(
        Input::Message {
            id: 2,
            msg: Message::InvTx(vec![id]),
        },
        T0,
        &chain,
    );
    assert!(m.audit().is_empty(), "{:?}", m.audit());
    m.handle(
        Input::Closed {
            id: 1,
            remote: SocketAddr::from(([10, 0, 0, 1], 40_000)),
            dialed: None,
            close: Close::Dropped("gone".into()),
            learnt: Learnt {
                node_id: Some(node(1)),
                listen_port: Some(9733),
            },
        },
        T0,
        &chain,
    );
    m.drain();
    assert!(m.audit().is_empty(), "{:?}", m.audit());
    assert_eq!(m.in_flight(2), 4, "the blocks peer 1 owed went to peer 2");
}

#[test]
fn a_banned_peers_waiting_header_batches_never_reach_the_chain() {
    let (mut m, chain) = (machine(), Fake::default());
    connect(&mut m, &chain, 1, 10, T0);
    for h in [1, 2] {
        m.handle(
            Input::Message {
                id: 1,
                msg: Message::Headers(vec![block(h).header]),
            },
            T0,
            &chain,
        );
    }
    m.drain();
    m.handle(
        Input::HeadersSubmitted {
            peer: 1,
            count: 1,
            last_height: 1,
            result: Err(ChainError::Invalid(
                ferrite_core::validation::BlockError::BadMerkleRoot,
            )),
        },
        T0,
        &chain,
    );
    let out = m.drain();
    assert!(banned(&out));
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::SubmitHeaders { .. })));
}

mod attacks;
mod compact;
mod identity;
