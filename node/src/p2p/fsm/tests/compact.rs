//! The machine's compact relay: who is asked for high-bandwidth mode, what a new tip is sent
//! as, forwarding before connect, who is blamed for an invalid forwarded block, and a block
//! whose sender was asked for missing transfers.

use std::sync::Arc;

use super::*;
use crate::p2p::addrbook::BanKey;
use crate::p2p::fsm::MAX_HIGH_BANDWIDTH;

/// A block at `height` whose body matched its header.
fn checked(height: u64) -> BodyChecked {
    BodyChecked::new(block(height)).unwrap_or_else(|e| panic!("{e}"))
}

fn key(id: PeerId) -> BanKey {
    BanKey::new(addr(id as u8).ip(), 9733, node(id))
}

/// Compact blocks sent to `id`, with their `validated` flag.
fn compacts_to(out: &[Output], id: PeerId) -> Vec<(Hash, bool)> {
    sent_to(out, id)
        .into_iter()
        .filter_map(|m| match m {
            Message::CompactBlock { compact, validated } => {
                Some((compact.header.hash(), *validated))
            }
            _ => None,
        })
        .collect()
}

/// The chain's answer to `peer`'s one-header batch of `b`: taken.
fn header_taken(peer: PeerId, b: &BodyChecked) -> Input {
    Input::HeadersSubmitted {
        peer,
        count: 1,
        last_height: b.block().header.height,
        result: Ok(HeadersAdded {
            new: 1,
            locator_after: vec![b.hash()],
        }),
    }
}

/// Peer `id` connects and asks for high-bandwidth compact blocks.
fn connect_hb(m: &mut Machine, chain: &Fake, id: PeerId) {
    connect(m, chain, id, 0, T0);
    m.handle(
        Input::Message {
            id,
            msg: Message::SendCompact(true),
        },
        T0,
        chain,
    );
    m.drain();
}

#[test]
fn only_the_first_peers_are_asked_for_high_bandwidth_compact_blocks() {
    let (mut m, chain) = (machine(), Fake::default());
    let asked: Vec<bool> = (1..=MAX_HIGH_BANDWIDTH as PeerId + 1)
        .map(|id| {
            let out = connect(&mut m, &chain, id, 0, T0);
            sent_to(&out, id)
                .iter()
                .any(|m| matches!(m, Message::SendCompact(true)))
        })
        .collect();
    let mut want = vec![true; MAX_HIGH_BANDWIDTH];
    want.push(false);
    assert_eq!(asked, want);
}

#[test]
fn a_new_tip_goes_as_a_compact_block_to_peers_that_asked_and_as_headers_to_others() {
    let (mut m, chain) = (machine(), Fake::default());
    connect_hb(&mut m, &chain, 1);
    connect(&mut m, &chain, 2, 0, T0);
    let tip = Arc::new(checked(1));
    m.handle(
        Input::TipChanged {
            announce: vec![tip.block().header],
            catching_up: false,
            block: Some(tip.clone()),
        },
        T0,
        &chain,
    );
    let out = m.drain();
    assert_eq!(compacts_to(&out, 1), vec![(tip.hash(), true)]);
    assert!(sent_to(&out, 1)
        .iter()
        .all(|m| !matches!(m, Message::Headers(_))));
    assert!(compacts_to(&out, 2).is_empty());
    assert!(sent_to(&out, 2)
        .iter()
        .any(|m| matches!(m, Message::Headers(hs) if hs == &vec![tip.block().header])));
    // It is kept to answer requests for missing transfers.
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::KeepForCompact(b) if b.hash() == tip.hash())));
}

#[test]
fn a_compact_block_is_forwarded_once_its_header_is_checked_before_it_is_connected() {
    let b = checked(1);
    let chain = chain_missing(&[block(1)]);
    let mut m = machine();
    connect(&mut m, &chain, 1, 1, T0);
    connect_hb(&mut m, &chain, 2);
    m.handle(
        Input::CompactBlock {
            id: 1,
            block: b.clone(),
            validated: true,
        },
        T0,
        &chain,
    );
    let out = m.drain();
    // The header goes to the chain first; nothing is forwarded yet.
    assert!(out.iter().any(|o| matches!(
        o,
        Output::SubmitHeaders { peer: 1, headers } if headers == &vec![b.block().header]
    )));
    assert!(compacts_to(&out, 2).is_empty());
    // An answer for the batch before the chain has the header (here: it does not yet) sends
    // nothing on.
    m.handle(header_taken(1, &b), T0, &chain);
    assert!(compacts_to(&m.drain(), 2).is_empty());
    // The chain took the header: forwarded to peer 2 (not back to 1), flagged as not
    // validated, and handed to the processor; no block was requested of anyone.
    chain.headers.borrow_mut().insert(b.hash());
    m.handle(header_taken(1, &b), T0, &chain);
    let out = m.drain();
    assert_eq!(compacts_to(&out, 2), vec![(b.hash(), false)]);
    assert!(compacts_to(&out, 1).is_empty());
    let forwarded_at = out
        .iter()
        .position(|o| matches!(o, Output::Send(2, Message::CompactBlock { .. })));
    let submitted_at = out
        .iter()
        .position(|o| matches!(o, Output::SubmitBlock { block, .. } if block.hash() == b.hash()));
    assert!(
        forwarded_at < submitted_at && submitted_at.is_some(),
        "{out:?}"
    );
    assert!(requested(&out, 1).is_empty() && requested(&out, 2).is_empty());
}

#[test]
fn a_compact_block_on_the_best_header_is_forwarded_at_once_and_only_once() {
    let b = checked(1);
    let chain = chain_missing(&[block(1)]);
    // Its header names the best header as parent and passes the checks against it.
    chain.extend_best.borrow_mut().insert(b.hash());
    let mut m = machine();
    connect(&mut m, &chain, 1, 1, T0);
    connect_hb(&mut m, &chain, 2);
    m.handle(
        Input::CompactBlock {
            id: 1,
            block: b.clone(),
            validated: true,
        },
        T0,
        &chain,
    );
    let out = m.drain();
    // Passed on in the same step, while its header goes to the chain.
    assert_eq!(compacts_to(&out, 2), vec![(b.hash(), false)]);
    assert!(compacts_to(&out, 1).is_empty());
    assert!(out.iter().any(|o| matches!(
        o,
        Output::SubmitHeaders { peer: 1, headers } if headers == &vec![b.block().header]
    )));
    // The chain's answer does not send it again.
    chain.headers.borrow_mut().insert(b.hash());
    m.handle(header_taken(1, &b), T0, &chain);
    let out = m.drain();
    assert!(compacts_to(&out, 2).is_empty(), "{out:?}");
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::SubmitBlock { block, .. } if block.hash() == b.hash())));
}

#[test]
fn a_sibling_of_a_block_forwarded_at_once_waits_for_the_chain() {
    let (first, sibling) = (checked(1), {
        let mut b = block(1);
        b.header.timestamp += 1;
        BodyChecked::new(b).unwrap_or_else(|e| panic!("{e}"))
    });
    let chain = chain_missing(&[block(1)]);
    // Both name the best header as parent and pass the checks against the view, which the
    // chain has not updated yet.
    chain.extend_best.borrow_mut().insert(first.hash());
    chain.extend_best.borrow_mut().insert(sibling.hash());
    let mut m = machine();
    connect(&mut m, &chain, 1, 1, T0);
    connect(&mut m, &chain, 3, 1, T0);
    connect_hb(&mut m, &chain, 2);
    for (id, b) in [(1, &first), (3, &sibling)] {
        m.handle(
            Input::CompactBlock {
                id,
                block: b.clone(),
                validated: true,
            },
            T0,
            &chain,
        );
    }
    // Only the first is passed on; the chain, taking the first, does not put the sibling on
    // its best header chain, so it never is.
    assert_eq!(compacts_to(&m.drain(), 2), vec![(first.hash(), false)]);
    chain.headers.borrow_mut().insert(first.hash());
    chain.headers.borrow_mut().insert(sibling.hash());
    m.handle(header_taken(1, &first), T0, &chain);
    m.handle(header_taken(3, &sibling), T0, &chain);
    assert!(compacts_to(&m.drain(), 2).is_empty());
}

#[test]
fn a_compact_block_whose_header_the_chain_refuses_is_never_forwarded() {
    let b = checked(1);
    let chain = chain_missing(&[block(1)]);
    let mut m = machine();
    connect(&mut m, &chain, 1, 1, T0);
    connect_hb(&mut m, &chain, 2);
    m.handle(
        Input::CompactBlock {
            id: 1,
            block: b,
            validated: true,
        },
        T0,
        &chain,
    );
    m.drain();
    m.handle(
        Input::HeadersSubmitted {
            peer: 1,
            count: 1,
            last_height: 1,
            result: Err(ChainError::Invalid(
                ferrite_core::validation::BlockError::Header(
                    ferrite_core::validation::HeaderError::InsufficientWork,
                ),
            )),
        },
        T0,
        &chain,
    );
    let out = m.drain();
    assert!(compacts_to(&out, 2).is_empty());
    assert!(banned(&out) && disconnected(&out, 1));
    assert!(!out.iter().any(|o| matches!(o, Output::SubmitBlock { .. })));
}

/// Feeds peer 1's compact block through to the processor and reports it invalid.
fn invalid_after_compact(validated: bool) -> Vec<Output> {
    invalid_after_compact_from(1, validated)
}

/// Peers 1 to `sender` connect in order (the first three are asked for high-bandwidth blocks);
/// `sender`'s compact block goes through to the processor and is reported invalid.
fn invalid_after_compact_from(sender: PeerId, validated: bool) -> Vec<Output> {
    let b = checked(1);
    let chain = chain_missing(&[block(1)]);
    let mut m = machine();
    for id in 1..=sender {
        connect(&mut m, &chain, id, 1, T0);
    }
    m.drain();
    m.handle(
        Input::CompactBlock {
            id: sender,
            block: b.clone(),
            validated,
        },
        T0,
        &chain,
    );
    chain.headers.borrow_mut().insert(b.hash());
    m.handle(header_taken(sender, &b), T0, &chain);
    m.drain();
    m.handle(
        Input::BlockProcessed {
            peer: sender,
            ban_key: key(sender),
            hash: b.hash(),
            result: Ok(Submitted::Stored),
            status: Some(BlockStatus::Invalid),
        },
        T0,
        &chain,
    );
    m.drain()
}

#[test]
fn a_block_forwarded_before_validation_that_fails_drops_its_sender_without_a_ban() {
    let out = invalid_after_compact(false);
    assert!(disconnected(&out, 1));
    assert!(!banned(&out), "{out:?}");
}

#[test]
fn a_block_its_sender_connected_that_fails_bans_the_sender() {
    let out = invalid_after_compact(true);
    assert!(disconnected(&out, 1));
    assert!(out.contains(&Output::Banned(key(1).addr, T0.secs() + BAN_SECS)));
}

#[test]
fn a_peer_never_asked_for_high_bandwidth_blocks_answers_for_what_it_forwards() {
    let sender = MAX_HIGH_BANDWIDTH as PeerId + 1;
    let out = invalid_after_compact_from(sender, false);
    assert!(disconnected(&out, sender));
    assert!(out.contains(&Output::Banned(key(sender).addr, T0.secs() + BAN_SECS)));
}

#[test]
fn compact_relay_off_sends_headers_and_asks_nobody() {
    let cfg = Config {
        genesis: Hash([7; 32]),
        nonce: OUR_NONCE,
        listen_port: 9733,
        discover: true,
        max_outbound: 8,
        max_inbound: 4,
        compact_relay: false,
        peers: Vec::new(),
    };
    let (mut m, chain) = (Machine::new(cfg, &[], 42, T0), Fake::default());
    let out = connect(&mut m, &chain, 1, 0, T0);
    assert!(!sent_to(&out, 1)
        .iter()
        .any(|m| matches!(m, Message::SendCompact(_))));
    m.handle(
        Input::Message {
            id: 1,
            msg: Message::SendCompact(true),
        },
        T0,
        &chain,
    );
    let tip = Arc::new(checked(1));
    m.handle(
        Input::TipChanged {
            announce: vec![tip.block().header],
            catching_up: false,
            block: Some(tip),
        },
        T0,
        &chain,
    );
    let out = m.drain();
    assert!(compacts_to(&out, 1).is_empty());
    assert!(sent_to(&out, 1)
        .iter()
        .any(|m| matches!(m, Message::Headers(_))));
}

#[test]
fn a_block_a_peer_did_not_have_yet_is_asked_of_it_again_after_a_moment() {
    // A peer that forwarded a compact block before connecting it answers `NotFound` for the
    // whole block until it has connected it: the request comes back after `NOT_FOUND_RETRY`.
    let blocks = vec![block(1)];
    let (mut m, chain) = (machine(), chain_missing(&blocks));
    let out = connect(&mut m, &chain, 1, 1, T0);
    assert_eq!(requested(&out, 1), vec![blocks[0].hash()]);
    m.handle(
        Input::Message {
            id: 1,
            msg: Message::NotFound(vec![blocks[0].hash()]),
        },
        T0,
        &chain,
    );
    assert!(requested(&m.drain(), 1).is_empty(), "asked again at once");
    let later = T0 + crate::p2p::fsm::peer::NOT_FOUND_RETRY + Duration::from_millis(1);
    m.handle(Input::Tick, later, &chain);
    assert_eq!(requested(&m.drain(), 1), vec![blocks[0].hash()]);
}

/// Peers 1 and 2 (both at height 1) connected to a chain that has nothing missing yet; peer 1
/// sends a compact block of `b` that could not be rebuilt alone, and the chain takes its header.
fn awaiting(b: &BodyChecked) -> (Machine, Fake) {
    let (mut m, chain) = (machine(), Fake::default());
    connect(&mut m, &chain, 1, 1, T0);
    connect(&mut m, &chain, 2, 1, T0);
    let header = b.block().header;
    m.handle(Input::CompactAwaited { id: 1, header }, T0, &chain);
    let out = m.drain();
    assert!(out.iter().any(|o| matches!(
        o,
        Output::SubmitHeaders { peer: 1, headers } if headers == &vec![header]
    )));
    chain.headers.borrow_mut().insert(b.hash());
    *chain.missing.borrow_mut() = vec![(b.hash(), 1)];
    m.handle(header_taken(1, b), T0, &chain);
    let out = m.drain();
    assert!(
        requested(&out, 1).is_empty() && requested(&out, 2).is_empty(),
        "the body is on its way from peer 1: {out:?}"
    );
    (m, chain)
}

#[test]
fn a_compact_block_awaiting_transfers_is_downloaded_whole_once_the_wait_runs_out() {
    let b = checked(1);
    let (mut m, chain) = awaiting(&b);
    m.handle(Input::Tick, T0 + COMPACT_TXS_WAIT, &chain);
    let out = m.drain();
    assert!(requested(&out, 1).is_empty() && requested(&out, 2).is_empty());
    m.handle(
        Input::Tick,
        T0 + COMPACT_TXS_WAIT + Duration::from_secs(1),
        &chain,
    );
    // The whole block, asked of the other peer first: the silent sender comes last.
    let out = m.drain();
    assert_eq!(requested(&out, 2), vec![b.hash()]);
    assert!(requested(&out, 1).is_empty());
    assert!(m.audit().is_empty(), "{:?}", m.audit());
}

#[test]
fn a_block_waits_for_a_senders_transfers_only_once() {
    let b = checked(1);
    let header = b.block().header;
    let chain = chain_missing(&[block(1)]);
    chain.headers.borrow_mut().insert(b.hash());
    let mut m = machine();
    connect(&mut m, &chain, 1, 0, T0);
    let awaited = |m: &mut Machine, at: Time| {
        m.handle(Input::CompactAwaited { id: 1, header }, at, &chain);
        m.handle(header_taken(1, &b), at, &chain);
        m.drain()
    };
    assert!(requested(&awaited(&mut m, T0), 1).is_empty());
    let after_wait = T0 + COMPACT_TXS_WAIT + Duration::from_secs(1);
    m.handle(Input::Tick, after_wait, &chain);
    assert_eq!(requested(&m.drain(), 1), vec![b.hash()]);
    // The peer says it does not have it after all, then sends another compact block of it
    // that again needs transfers (its header clears the not-found mark): the block does not
    // wait a second time, it is asked for whole at once.
    let msg = Message::NotFound(vec![b.hash()]);
    m.handle(Input::Message { id: 1, msg }, after_wait, &chain);
    assert!(requested(&m.drain(), 1).is_empty());
    assert_eq!(requested(&awaited(&mut m, after_wait), 1), vec![b.hash()]);
}

#[test]
fn a_newer_compact_block_from_the_same_peer_ends_the_wait_for_the_older() {
    let (older, newer) = (checked(1), checked(2));
    let (mut m, chain) = awaiting(&older);
    // The connection replaced the older rebuild with the newer: the older is fetched whole.
    m.handle(
        Input::CompactAwaited {
            id: 1,
            header: newer.block().header,
        },
        T0,
        &chain,
    );
    m.drain();
    m.handle(header_taken(1, &newer), T0, &chain);
    let out = m.drain();
    assert_eq!(requested(&out, 2), vec![older.hash()], "{out:?}");
}

#[test]
fn a_compact_block_whose_sender_leaves_before_completing_it_is_fetched_elsewhere_at_once() {
    let b = checked(1);
    let (mut m, chain) = awaiting(&b);
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
    assert_eq!(requested(&m.drain(), 2), vec![b.hash()]);
    assert!(m.audit().is_empty(), "{:?}", m.audit());
}

#[test]
fn a_compact_block_completed_in_time_is_not_downloaded_again() {
    let b = checked(1);
    let (mut m, chain) = awaiting(&b);
    m.handle(
        Input::CompactBlock {
            id: 1,
            block: b.clone(),
            validated: true,
        },
        T0 + Duration::from_secs(1),
        &chain,
    );
    m.handle(header_taken(1, &b), T0 + Duration::from_secs(1), &chain);
    let out = m.drain();
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::SubmitBlock { block, .. } if block.hash() == b.hash())));
    m.handle(Input::Tick, T0 + Duration::from_secs(10), &chain);
    let out = m.drain();
    assert!(
        requested(&out, 1).is_empty() && requested(&out, 2).is_empty(),
        "{out:?}"
    );
}

#[test]
fn a_compact_block_that_came_before_its_parent_is_taken_once_the_parent_is_known() {
    let b1 = checked(1);
    let mut child = block(2);
    child.header.prev = b1.hash();
    child.header.merkle_root = child.compute_merkle_root();
    let b2 = BodyChecked::new(child).unwrap_or_else(|e| panic!("{e}"));
    let chain = Fake::default();
    let mut m = machine();
    connect_hb(&mut m, &chain, 1);
    settle(&mut m, &chain, 1);
    let compact = |b: &BodyChecked| Input::CompactBlock {
        id: 1,
        block: b.clone(),
        validated: true,
    };
    let submitted = |out: &[Output], b: &BodyChecked| {
        out.iter().any(|o| {
            matches!(o, Output::SubmitHeaders { peer: 1, headers }
                if headers == &vec![b.block().header])
        })
    };
    // The child arrives first: the chain refuses its header for the unknown parent.
    m.handle(compact(&b2), T0, &chain);
    assert!(submitted(&m.drain(), &b2));
    m.handle(
        Input::HeadersSubmitted {
            peer: 1,
            count: 1,
            last_height: 2,
            result: Err(ChainError::UnknownParent(b1.hash())),
        },
        T0,
        &chain,
    );
    m.drain();
    // The parent arrives and the chain takes its header: the child's header goes to the chain
    // again, with no tick in between.
    m.handle(compact(&b1), T0, &chain);
    assert!(submitted(&m.drain(), &b1));
    chain.headers.borrow_mut().insert(b1.hash());
    *chain.missing.borrow_mut() = vec![(b1.hash(), 1)];
    m.handle(header_taken(1, &b1), T0, &chain);
    let out = m.drain();
    assert!(submitted(&out, &b2), "{out:?}");
    // Only once: another batch taken before the chain has the child's header does not send it
    // again.
    m.handle(header_taken(1, &b1), T0, &chain);
    assert!(!submitted(&m.drain(), &b2));
    // Both bodies go to the processor from the compact blocks, none is requested.
    chain.headers.borrow_mut().insert(b2.hash());
    *chain.missing.borrow_mut() = vec![(b1.hash(), 1), (b2.hash(), 2)];
    m.handle(header_taken(1, &b2), T0, &chain);
    let out2 = m.drain();
    let fed: Vec<Hash> = out
        .iter()
        .chain(&out2)
        .filter_map(|o| match o {
            Output::SubmitBlock { block, .. } => Some(block.hash()),
            _ => None,
        })
        .collect();
    assert_eq!(fed, vec![b1.hash(), b2.hash()], "{out:?} {out2:?}");
    assert!(requested(&out, 1).is_empty() && requested(&out2, 1).is_empty());
}
