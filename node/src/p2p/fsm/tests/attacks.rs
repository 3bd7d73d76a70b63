//! The machine under the attacks of docs/protocol.md's "Defences": each test plays the attacker
//! and an honest peer beside it, and checks that the honest one is still served.

use super::*;

fn withheld(out: &[Output]) -> Vec<Hash> {
    out.iter()
        .filter_map(|o| match o {
            Output::Withhold(h) => Some(*h),
            _ => None,
        })
        .collect()
}

/// Peer `id` answers our ping `n` at `now`.
fn pong(m: &mut Machine, chain: &Fake, id: PeerId, n: u64, now: Time) {
    m.handle(
        Input::Message {
            id,
            msg: Message::Pong(n),
        },
        now,
        chain,
    );
}

fn not_found(m: &mut Machine, chain: &Fake, id: PeerId, h: Hash, now: Time) -> Vec<Output> {
    m.handle(
        Input::Message {
            id,
            msg: Message::NotFound(vec![h]),
        },
        now,
        chain,
    );
    m.drain()
}

#[test]
fn a_header_whose_body_never_comes_is_set_aside_for_the_branch_that_can_be_had() {
    // Peer 1 announced block 1 and stalls on it; honest peer 2 has another block at height 1
    // and answers `NotFound` for the withheld one.
    let withheld_block = block(1);
    let h = withheld_block.hash();
    let chain = chain_missing(std::slice::from_ref(&withheld_block));
    let mut m = machine();
    let out = connect(&mut m, &chain, 1, 1, T0);
    assert_eq!(requested(&out, 1), vec![h]);
    connect(&mut m, &chain, 2, 1, T0);
    settle(&mut m, &chain, 1);
    settle(&mut m, &chain, 2);
    let mut now = T0;
    let mut seen = Vec::new();
    while now < T0 + BODY_WAIT + Duration::from_secs(10) && seen.is_empty() {
        now = now + Duration::from_secs(1);
        m.handle(Input::Tick, now, &chain);
        let out = m.drain();
        seen.extend(withheld(&out));
        if requested(&out, 2).contains(&h) {
            seen.extend(withheld(&not_found(&mut m, &chain, 2, h, now)));
        }
    }
    assert_eq!(seen, vec![h], "the undelivered header is set aside once");
    assert!(
        now >= T0 + BODY_WAIT,
        "set aside only after {BODY_WAIT:?}, at {:?}",
        now.since(T0)
    );
    assert!(now <= T0 + BODY_WAIT + Duration::from_secs(3));
    // The chain now has the honest block as best header: it is fetched from peer 2.
    let honest = block(2);
    *chain.missing.borrow_mut() = vec![(honest.hash(), 1)];
    m.handle(Input::Tick, now + Duration::from_secs(1), &chain);
    assert_eq!(requested(&m.drain(), 2), vec![honest.hash()]);
}

#[test]
fn a_slow_delivery_in_progress_is_not_a_withheld_body() {
    // One peer takes its time over a block, within its stall timeout each time it delivers.
    let blocks: Vec<Block> = (1..=3).map(block).collect();
    let chain = chain_missing(&blocks);
    let mut m = machine();
    connect(&mut m, &chain, 1, 3, T0);
    settle(&mut m, &chain, 1);
    let mut now = T0;
    for b in &blocks {
        now = now + (BLOCK_STALL_TIMEOUT - Duration::from_secs(1));
        m.handle(Input::Tick, now, &chain);
        m.handle(arrived(1, b), now, &chain);
        let out = m.drain();
        assert!(withheld(&out).is_empty(), "a slow block is not withheld");
        assert!(!disconnected(&out, 1));
    }
    assert!(now.since(T0) > BODY_WAIT, "the test ran past the wait");
}

#[test]
fn one_failed_request_alone_does_not_set_a_header_aside() {
    let b = block(1);
    let chain = chain_missing(std::slice::from_ref(&b));
    let mut m = machine();
    connect(&mut m, &chain, 1, 1, T0);
    settle(&mut m, &chain, 1);
    // The only peer answers `NotFound` once (it has not connected the block yet) and is then
    // asked again and delivers late.
    not_found(&mut m, &chain, 1, b.hash(), T0);
    let mut now = T0;
    for s in 1..=30 {
        now = now + Duration::from_secs(1);
        m.handle(Input::Tick, now, &chain);
        if s == 8 {
            m.handle(arrived(1, &b), now, &chain);
            assert!(m
                .drain()
                .iter()
                .any(|o| matches!(o, Output::SubmitBlock { .. })));
            // The chain is now connecting it, and it stays in the window meanwhile.
        }
        let out = m.drain();
        assert!(withheld(&out).is_empty());
        assert!(!disconnected(&out, 1));
    }
}

fn asked_txs(out: &[Output], id: PeerId) -> Vec<Hash> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(p, Message::GetTxs(hs)) if *p == id => Some(hs.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn inv(m: &mut Machine, chain: &Fake, id: PeerId, ids: Vec<Hash>, now: Time) -> Vec<Output> {
    m.handle(
        Input::Message {
            id,
            msg: Message::InvTx(ids),
        },
        now,
        chain,
    );
    m.drain()
}

fn junk(peer: u64, n: usize) -> Vec<Hash> {
    (0..n)
        .map(|i| {
            let mut b = [0u8; 32];
            b[..8].copy_from_slice(&peer.to_le_bytes());
            b[8..16].copy_from_slice(&(i as u64).to_le_bytes());
            Hash(b)
        })
        .collect()
}

#[test]
fn peers_that_announce_and_never_deliver_cannot_starve_an_honest_announcer() {
    let chain = Fake::default();
    // Twelve slots: eleven flooders and the honest peer.
    let cfg = Config {
        genesis: Hash([7; 32]),
        nonce: OUR_NONCE,
        listen_port: 9733,
        discover: false,
        max_outbound: 0,
        max_inbound: 12,
        compact_relay: true,
        peers: Vec::new(),
    };
    let mut m = Machine::new(cfg, &[], 42, T0);
    let cap = m.tx_cap_per_peer();
    let flooders: Vec<PeerId> = (1..=11).collect();
    for &f in &flooders {
        connect(&mut m, &chain, f, 0, T0);
        settle(&mut m, &chain, f);
    }
    connect(&mut m, &chain, 20, 0, T0);
    settle(&mut m, &chain, 20);
    // Each flooder announces far more than its cap, many times over.
    for round in 0..3u64 {
        for &f in &flooders {
            let out = inv(&mut m, &chain, f, junk(f * 100 + round, 5_000), T0);
            assert!(asked_txs(&out, f).len() <= cap);
        }
    }
    let f = m.footprint();
    assert!(f.most_txs_in_flight_per_peer <= cap, "{f:?}");
    assert!(f.txs_wanted <= flooders.len() * cap, "{f:?}");
    assert!(f.txs_wanted < MAX_TX_WANTED);
    // The honest peer's transfer is asked for at once.
    let real = signed_tx(1).id();
    let out = inv(&mut m, &chain, 20, vec![real], T0);
    assert_eq!(asked_txs(&out, 20), vec![real]);
}

#[test]
fn announcements_beyond_a_peers_cap_wait_their_turn_and_are_asked_for_after_deliveries() {
    let chain = Fake::default();
    let mut m = machine();
    let cap = m.tx_cap_per_peer();
    connect(&mut m, &chain, 1, 0, T0);
    settle(&mut m, &chain, 1);
    let txs: Vec<SignedTransaction> = (0..(cap as u64 + 10)).map(signed_tx).collect();
    let ids: Vec<Hash> = txs.iter().map(|t| t.id()).collect();
    let out = inv(&mut m, &chain, 1, ids.clone(), T0);
    assert_eq!(asked_txs(&out, 1), ids[..cap].to_vec());
    // Ten delivered: the ten that waited are asked for.
    m.handle(
        Input::Message {
            id: 1,
            msg: Message::Txs(txs[..10].to_vec()),
        },
        T0,
        &chain,
    );
    assert_eq!(asked_txs(&m.drain(), 1), ids[cap..].to_vec());
    assert_eq!(m.footprint().most_txs_in_flight_per_peer, cap);
}

#[test]
fn a_pending_transfer_is_announced_again_to_the_peers_that_do_not_have_it() {
    let chain = Fake::default();
    let t = signed_tx(3).id();
    chain.pool.borrow_mut().insert(t);
    let mut m = machine();
    // Peer 1 is told at connect; peer 2 announced it to us, so it has it.
    let out = connect(&mut m, &chain, 1, 0, T0);
    assert!(sent_to(&out, 1).contains(&&Message::InvTx(vec![t])));
    settle(&mut m, &chain, 1);
    connect(&mut m, &chain, 2, 0, T0);
    settle(&mut m, &chain, 2);
    inv(&mut m, &chain, 2, vec![t], T0);
    // Pings answered, so that both stay connected through the interval.
    let mut now = T0;
    let mut again = Vec::new();
    while now < T0 + REANNOUNCE_INTERVAL + Duration::from_secs(2) {
        now = now + Duration::from_secs(1);
        m.handle(Input::Tick, now, &chain);
        let out = m.drain();
        for o in &out {
            match o {
                Output::Send(p, Message::Ping(n)) => pong(&mut m, &chain, *p, *n, now),
                Output::Send(p, Message::InvTx(ids)) if ids.contains(&t) => {
                    again.push((*p, now.since(T0)))
                }
                _ => {}
            }
        }
    }
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(
        again[0].0, 1,
        "announced again only to the peer that lacks it"
    );
    assert!(again[0].1 >= REANNOUNCE_INTERVAL);
}

fn slots_machine(max_inbound: usize) -> Machine {
    let cfg = Config {
        genesis: Hash([7; 32]),
        nonce: OUR_NONCE,
        listen_port: 9733,
        discover: false,
        max_outbound: 0,
        max_inbound,
        compact_relay: false,
        peers: Vec::new(),
    };
    Machine::new(cfg, &[], 42, T0)
}

fn evicted(out: &[Output]) -> bool {
    out.contains(&Output::Defended(Defence::Evicted))
}

#[test]
fn peers_that_only_hold_slots_make_room_for_a_newcomer_and_a_useful_peer_keeps_its_own() {
    let chain = Fake::default();
    let mut m = slots_machine(32);
    // Thirty-two peers take every inbound slot and answer nothing but pings.
    for id in 1..=32 {
        connect(&mut m, &chain, id, 0, T0 + Duration::from_secs(id));
        settle(&mut m, &chain, id);
    }
    assert_eq!(m.peer_count(), 32);
    // An honest peer arrives: one of the holders gives way, and the newcomer is in.
    let t1 = T0 + Duration::from_secs(60);
    let out = connect(&mut m, &chain, 100, 1, t1);
    assert!(evicted(&out), "{out:?}");
    let gone: Vec<PeerId> = (1..=32).filter(|id| disconnected(&out, *id)).collect();
    assert_eq!(gone.len(), 1);
    assert!(!disconnected(&out, 100));
    assert_eq!(m.peer_count(), 32);
    // It brings a block we lacked: from then on it is protected, and the holders that come
    // back take one another's slots, not its.
    let b = block(1);
    *chain.missing.borrow_mut() = vec![(b.hash(), 1)];
    m.handle(Input::Tick, t1, &chain);
    assert_eq!(requested(&m.drain(), 100), vec![b.hash()]);
    m.handle(arrived(100, &b), t1, &chain);
    let ban_key = m
        .drain()
        .iter()
        .find_map(|o| match o {
            Output::SubmitBlock { ban_key, .. } => Some(*ban_key),
            _ => None,
        })
        .unwrap_or_else(|| panic!("the block did not go to the chain"));
    chain.missing.borrow_mut().clear();
    // Only once the chain took it does the block count for the peer.
    m.handle(
        Input::BlockProcessed {
            peer: 100,
            ban_key,
            hash: b.hash(),
            result: Ok(Submitted::Stored),
            status: Some(crate::store::BlockStatus::Stored),
        },
        t1,
        &chain,
    );
    m.drain();
    for (n, id) in (200..240).enumerate() {
        let out = connect(
            &mut m,
            &chain,
            id,
            0,
            t1 + Duration::from_secs(n as u64 + 1),
        );
        assert!(
            !disconnected(&out, 100),
            "the useful peer was evicted for {id}"
        );
    }
    assert_eq!(m.peer_count(), 32);
}

/// Four inbound peers, each with a measured ping: with four slots, every one is protected (a
/// group's oldest, the eight lowest pings). Returns the time after their pongs.
fn protected_slots(m: &mut Machine, chain: &Fake) -> Time {
    for id in 1..=4 {
        connect(m, chain, id, 0, T0);
        settle(m, chain, id);
    }
    let t1 = T0 + PING_INTERVAL + Duration::from_secs(1);
    m.handle(Input::Tick, t1, chain);
    for o in m.drain() {
        if let Output::Send(p, Message::Ping(n)) = o {
            pong(m, chain, p, n, t1);
        }
    }
    m.drain();
    t1
}

#[test]
fn when_every_inbound_peer_is_protected_the_newcomer_is_refused() {
    let chain = Fake::default();
    let mut m = slots_machine(4);
    let t1 = protected_slots(&mut m, &chain);
    let out = connect(&mut m, &chain, 9, 0, t1 + Duration::from_secs(1));
    assert!(out.contains(&Output::Defended(Defence::InboundRefused)));
    assert!(disconnected(&out, 9));
    assert!((1..=4).all(|id| !disconnected(&out, id)));
}

#[test]
fn a_duplicate_refused_for_room_does_not_cost_the_link_it_would_replace() {
    let chain = Fake::default();
    let mut m = slots_machine(4);
    let t1 = protected_slots(&mut m, &chain);
    // We dialled node 50.
    let dialed = SocketAddr::from(([10, 0, 1, 50], 9733));
    m.handle(
        Input::Connected {
            id: 50,
            remote: dialed,
            local: local(),
            dialed: Some(dialed),
            version: version(0, 9733, OUR_NONCE + 1),
            node_id: node(50),
        },
        t1,
        &chain,
    );
    m.drain();
    // Node 50 dials us too, with the lower nonce, so its connection would win; but there is
    // no inbound room for it. It is refused, and ours to it stays.
    m.handle(
        Input::Connected {
            id: 51,
            remote: SocketAddr::from(([10, 0, 1, 50], 40_000)),
            local: local(),
            dialed: None,
            version: version(0, 9733, OUR_NONCE - 1),
            node_id: node(50),
        },
        t1 + Duration::from_secs(1),
        &chain,
    );
    let out = m.drain();
    assert!(disconnected(&out, 51), "{out:?}");
    assert!(!disconnected(&out, 50), "{out:?}");
    assert_eq!(m.peer_count(), 5);
}

#[test]
fn a_peer_answering_not_found_to_everything_does_not_get_a_slow_sync_set_aside() {
    // An honest peer delivers a block every 8 s; another claims a great height and answers
    // `NotFound` to every request.
    let blocks: Vec<Block> = (1..=32).map(block).collect();
    let chain = chain_missing(&blocks);
    let mut m = machine();
    connect(&mut m, &chain, 1, 32, T0);
    settle(&mut m, &chain, 1);
    connect(&mut m, &chain, 2, 1_000, T0);
    m.drain();
    let mut now = T0;
    let mut next = 0;
    for s in 1..=90u64 {
        now = now + Duration::from_secs(1);
        m.handle(Input::Tick, now, &chain);
        let mut out = m.drain();
        if s % 8 == 0 && next < blocks.len() {
            m.handle(arrived(1, &blocks[next]), now, &chain);
            next += 1;
            out.extend(m.drain());
        }
        let asked = requested(&out, 2);
        if !asked.is_empty() {
            m.handle(
                Input::Message {
                    id: 2,
                    msg: Message::NotFound(asked),
                },
                now,
                &chain,
            );
            out.extend(m.drain());
        }
        for o in &out {
            if let Output::Send(1, Message::Ping(n)) = o {
                pong(&mut m, &chain, 1, *n, now);
            }
        }
        out.extend(m.drain());
        assert!(withheld(&out).is_empty(), "at {s} s: {:?}", withheld(&out));
    }
    assert!(next >= 10, "the honest peer delivered {next} blocks");
}
