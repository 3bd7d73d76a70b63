//! Node ids in the machine: pins, duplicates told apart by key, bans by key as well as address.

use super::*;
use crate::p2p::addrbook::BanKey;

/// A handshake done by the node `node` on connection `id`, from `remote`, dialled at `dialed`
/// (or inbound), that says it listens on `listen_port`.
fn hello(
    id: PeerId,
    remote: SocketAddr,
    dialed: Option<SocketAddr>,
    listen_port: u16,
    node_id: NodeId,
) -> Input {
    Input::Connected {
        id,
        remote,
        local: local(),
        dialed,
        version: version(0, listen_port, 1_000 + id),
        node_id,
    }
}

fn from(i: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, i], port))
}

fn dials(out: &[Output]) -> Vec<(SocketAddr, Option<NodeId>)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Dial(a, pin) => Some((*a, *pin)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_dial_carries_the_pin_and_a_claim_to_a_pinned_address_by_another_key_is_not_believed() {
    let (mut m, chain) = (machine_with(false, 8), Fake::default());
    let pinned = addr(5);
    let pin = Some(node(5));
    m.handle(
        Input::Resolved {
            addrs: vec![pinned],
            pin,
        },
        T0,
        &chain,
    );
    // Another key from the pinned host claims the pinned listen port (another node behind the
    // same IP, or a liar): kept as a peer, but it does not stand for the pinned node, so the
    // pinned address is still dialled, with its pin.
    m.handle(hello(1, from(5, 40_000), None, 9733, node(66)), T0, &chain);
    assert!(!disconnected(&m.drain(), 1));
    m.handle(Input::Tick, T0, &chain);
    assert_eq!(dials(&m.drain()), vec![(pinned, pin)]);
    // The pinned key itself, inbound, stands for the address: it is not dialled again.
    let failed = Input::DialFailed(pinned);
    m.handle(failed, T0, &chain);
    m.handle(hello(2, from(5, 40_001), None, 9733, node(5)), T0, &chain);
    assert!(!disconnected(&m.drain(), 2));
    settle(&mut m, &chain, 2);
    for s in 1..30 {
        m.handle(Input::Tick, T0 + Duration::from_secs(s), &chain);
        assert!(dials(&m.drain()).is_empty(), "redialled after {s} s");
    }
}

#[test]
fn literal_pins_hold_from_the_first_dial() {
    let cfg = Config {
        genesis: Hash([7; 32]),
        nonce: 1,
        listen_port: 9733,
        discover: false,
        max_outbound: 8,
        max_inbound: 4,
        compact_relay: true,
        peers: vec![(addr(5), Some(node(5))), (addr(6), None)],
    };
    let (mut m, chain) = (Machine::new(cfg, &[], 42, T0), Fake::default());
    m.handle(Input::Tick, T0, &chain);
    let mut got = dials(&m.drain());
    got.sort();
    assert_eq!(got, vec![(addr(5), Some(node(5))), (addr(6), None)]);
}

#[test]
fn a_pin_that_arrives_after_the_connection_drops_a_wrong_key() {
    // A name resolves late: a connection to its address was made before the pin was known.
    let (mut m, chain) = (machine(), Fake::default());
    let a = addr(6);
    m.handle(hello(1, a, Some(a), 9733, node(66)), T0, &chain);
    m.handle(hello(2, addr(7), Some(addr(7)), 9733, node(7)), T0, &chain);
    m.drain();
    assert_eq!(m.peer_count(), 2);
    m.handle(
        Input::Resolved {
            addrs: vec![a],
            pin: Some(node(6)),
        },
        T0,
        &chain,
    );
    let out = m.drain();
    assert!(disconnected(&out, 1), "the wrong key stays connected");
    assert!(!disconnected(&out, 2));
    // Resolving with the right key connected drops nothing.
    let (mut m, chain) = (machine(), Fake::default());
    m.handle(hello(1, a, Some(a), 9733, node(6)), T0, &chain);
    m.drain();
    let pin = Some(node(6));
    m.handle(
        Input::Resolved {
            addrs: vec![a],
            pin,
        },
        T0,
        &chain,
    );
    assert!(!disconnected(&m.drain(), 1));
}

#[test]
fn duplicates_are_the_same_key_not_the_same_claimed_address() {
    let (mut m, chain) = (machine(), Fake::default());
    // Two local nodes cannot share a listen address, but a liar can claim one: two keys that
    // claim the same listen address are two peers.
    m.handle(hello(1, from(1, 40_000), None, 9733, node(1)), T0, &chain);
    m.handle(hello(2, from(1, 40_001), None, 9733, node(2)), T0, &chain);
    let out = m.drain();
    assert!(!disconnected(&out, 1) && !disconnected(&out, 2));
    assert_eq!(m.peer_count(), 2);
    // The same key over a second connection, from another address even, is a duplicate: the
    // newer inbound one replaces the older.
    m.handle(hello(3, from(9, 40_000), None, 7000, node(1)), T0, &chain);
    let out = m.drain();
    assert!(disconnected(&out, 1) && !disconnected(&out, 3));
    assert_eq!(m.peer_count(), 2);
}

#[test]
fn a_ban_covers_the_key_from_another_address_and_the_address_with_another_key() {
    let (mut m, chain) = (machine(), Fake::default());
    connect(&mut m, &chain, 1, 5, T0);
    connect(&mut m, &chain, 2, 0, T0);
    // Peer 1 sends headers that are not a chain: a protocol violation.
    m.handle(
        Input::Message {
            id: 1,
            msg: Message::Headers(vec![block(1).header, block(2).header]),
        },
        T0,
        &chain,
    );
    let out = m.drain();
    assert!(banned(&out) && disconnected(&out, 1));
    let later = T0 + Duration::from_secs(60);
    let key = |ip: u8, n: u64| BanKey::new(from(ip, 1).ip(), 9733, node(n));
    assert!(m.is_banned(&key(1, 77), later), "the address, any key");
    assert!(m.is_banned(&key(200, 1), later), "the key, any address");
    assert!(!m.is_banned(&key(200, 77), later));
    // The banned key is refused when it comes back from a fresh address.
    m.handle(
        hello(3, from(200, 40_000), None, 9733, node(1)),
        later,
        &chain,
    );
    assert!(disconnected(&m.drain(), 3));
    // Peer 2 shares neither and stays.
    assert_eq!(m.peer_count(), 1);
}

#[test]
fn a_node_dialled_at_a_second_address_keeps_the_first_connection_and_is_not_redialled() {
    let (mut m, chain) = (machine_with(false, 8), Fake::default());
    let (first, second) = (addr(8), from(9, 9733));
    let pin = None;
    m.handle(
        Input::Resolved {
            addrs: vec![first, second],
            pin,
        },
        T0,
        &chain,
    );
    m.handle(Input::Tick, T0, &chain);
    assert_eq!(dials(&m.drain()).len(), 2);
    m.handle(hello(1, first, Some(first), 9733, node(8)), T0, &chain);
    settle(&mut m, &chain, 1);
    // The same node answers at the second address: that connection goes, the first stays.
    m.handle(hello(2, second, Some(second), 9733, node(8)), T0, &chain);
    let out = m.drain();
    assert!(disconnected(&out, 2) && !disconnected(&out, 1));
    let learnt = Learnt {
        node_id: Some(node(8)),
        listen_port: Some(9733),
    };
    let close = Close::Dropped("closed by this node".into());
    let (remote, dialed) = (second, Some(second));
    m.handle(
        Input::Closed {
            id: 2,
            remote,
            dialed,
            close,
            learnt,
        },
        T0,
        &chain,
    );
    m.drain();
    // While the node is connected, its second address is not dialled again.
    for s in 1..40 {
        m.handle(Input::Tick, T0 + Duration::from_secs(s), &chain);
        assert!(dials(&m.drain()).is_empty(), "redialled after {s} s");
    }
    assert_eq!(m.peer_count(), 1);
}

#[test]
fn an_outbound_peer_claiming_a_pinned_listen_address_with_another_key_does_not_block_the_dial() {
    let (mut m, chain) = (machine_with(false, 8), Fake::default());
    let pin = Some(node(5));
    let other = from(5, 9999);
    m.handle(
        Input::Resolved {
            addrs: vec![addr(5), other],
            pin: None,
        },
        T0,
        &chain,
    );
    m.handle(
        Input::Resolved {
            addrs: vec![addr(5)],
            pin,
        },
        T0,
        &chain,
    );
    m.handle(Input::Tick, T0, &chain);
    m.drain();
    // Dialled at another port of the pinned host, it says it listens on the pinned port.
    m.handle(hello(1, other, Some(other), 9733, node(66)), T0, &chain);
    assert!(!disconnected(&m.drain(), 1));
    m.handle(Input::DialFailed(addr(5)), T0, &chain);
    let later = T0 + Duration::from_secs(20);
    m.handle(Input::Tick, later, &chain);
    assert_eq!(dials(&m.drain()), vec![(addr(5), pin)]);
}

#[test]
fn inbound_twins_at_two_of_our_addresses_keep_the_first_and_at_one_the_newest() {
    let (mut m, chain) = (machine(), Fake::default());
    let ours_v6: SocketAddr = "[fd00::1]:9733".parse().unwrap_or_else(|_| unreachable!());
    let twin = |id, local| Input::Connected {
        id,
        remote: from(8, 40_000 + id as u16),
        local,
        dialed: None,
        version: version(0, 9733, 77),
        node_id: node(8),
    };
    m.handle(twin(1, local()), T0, &chain);
    // The node dialled us at our second address too (as we keep the first when we dial a node
    // at two addresses, so does it): the first stays on both ends.
    m.handle(twin(2, ours_v6), T0, &chain);
    let out = m.drain();
    assert!(disconnected(&out, 2) && !disconnected(&out, 1));
    // It dials the first address again: a reconnect, the newer replaces the older.
    m.handle(twin(3, local()), T0, &chain);
    let out = m.drain();
    assert!(disconnected(&out, 1) && !disconnected(&out, 3));
    assert_eq!(m.peer_count(), 1);
}
