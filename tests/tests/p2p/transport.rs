//! The encrypted transport between real nodes: ids proved and pinned, the bytes on the link
//! (captured by a proxy in the path) carrying no plaintext, and a byte flipped on the path
//! ending the connection without a ban.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferrite_core::{Address, Encode, Transaction};
use ferrite_node::p2p::wire;
use ferrite_tests::http::get;
use ferrite_tests::peer::WirePeer;
use ferrite_tests::proxy::Proxy;
use ferrite_tests::{contains_bytes, genesis_hash, write_dev_genesis, Running};

use super::{converge, serial, start, Observer};

fn json(addr: SocketAddr, path: &str) -> serde_json::Value {
    serde_json::from_slice(&get(addr, path).body).unwrap()
}

fn node_id(n: &Running) -> String {
    json(n.http_addr(), "/api/node/info")["node_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn peer_ids(n: &Running) -> Vec<String> {
    json(n.http_addr(), "/api/peers")
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["node_id"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn nodes_prove_their_ids_a_pin_is_enforced_and_the_link_carries_no_plaintext() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let genesis = write_dev_genesis(dir.path());
    let gh = genesis_hash(&genesis);
    let quiet = ["--discover", "false"];
    let a = start(&genesis, &dir.path().join("a"), &[], Some(0), &quiet);
    let a_id = node_id(&a);
    assert!(a
        .lines()
        .iter()
        .any(|l| l.contains(&format!("node id {a_id}"))));
    // B reaches A only through the proxy, pinned to A's id.
    let proxy = Proxy::start(a.p2p_addr(), None);
    let pinned = format!("{a_id}@{}", proxy.addr);
    let mut b_args = vec!["--peer", pinned.as_str()];
    b_args.extend(quiet);
    let b = start(&genesis, &dir.path().join("b"), &[], None, &b_args);
    converge(
        &mut Observer::new(gh, &[a.p2p_addr(), b.p2p_addr()]),
        2,
        60,
        &[&a, &b],
    );
    // Each names the other by the id it proved.
    let b_id = node_id(&b);
    assert!(peer_ids(&b).contains(&a_id), "{:?}", peer_ids(&b));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !peer_ids(&a).contains(&b_id) {
        assert!(
            Instant::now() < deadline,
            "A does not list B: {:?}",
            peer_ids(&a)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // A transfer handed to A reaches B over the proxied link.
    let key = ferrite_core::dev::dev_key(3);
    let tx = Transaction {
        sender: key.public_key(),
        recipient: Address([5; 32]),
        amount: 777,
        fee: 5_000,
        nonce: 0,
    }
    .sign(&key, &gh);
    WirePeer::observe(a.p2p_addr(), gh)
        .unwrap()
        .relay_tx(&tx)
        .unwrap();
    let path = format!("/api/tx/{}", tx.id());
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(b.http_addr(), &path).status != 200 {
        assert!(Instant::now() < deadline, "the transfer never reached B");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Neither the network magic, nor the transfer, nor its signature crossed in the clear.
    let wire_bytes = proxy.captured();
    assert!(
        wire_bytes.len() > 10_000,
        "little traffic: {}",
        wire_bytes.len()
    );
    assert!(
        !contains_bytes(&wire_bytes, &wire::network_magic(&gh)),
        "magic on the link"
    );
    assert!(
        !contains_bytes(&wire_bytes, &tx.encode()),
        "the transfer on the link"
    );
    assert!(
        !contains_bytes(&wire_bytes, &tx.signature.0),
        "a signature on the link"
    );
    // C pins A's address to the wrong id: it refuses A, says why, and has no peer.
    let wrong = format!("{}@{}", "11".repeat(32), a.p2p_addr());
    let mut c_args = vec!["--peer", wrong.as_str()];
    c_args.extend(quiet);
    let c = start(&genesis, &dir.path().join("c"), &[], None, &c_args);
    assert!(
        c.wait_for_line("refusing a peer whose key is not the pinned one", 20)
            .is_some(),
        "{:#?}",
        c.lines()
    );
    assert!(peer_ids(&c).is_empty());
    for n in [a, b, c] {
        n.terminate(20);
    }
}

#[test]
fn a_byte_flipped_on_the_path_drops_the_connection_and_nobody_is_banned() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let genesis = write_dev_genesis(dir.path());
    let gh = genesis_hash(&genesis);
    let quiet = ["--discover", "false"];
    let a = start(&genesis, &dir.path().join("a"), &[], Some(0), &quiet);
    // Past the handshakes: inside the records of A's first blocks to B.
    let proxy = Proxy::start(a.p2p_addr(), Some(2_000));
    let peer = proxy.addr.to_string();
    let mut b_args = vec!["--peer", peer.as_str()];
    b_args.extend(quiet);
    let b = start(&genesis, &dir.path().join("b"), &[], None, &b_args);
    assert!(
        b.wait_for_line("failed to authenticate", 30).is_some(),
        "{:#?}",
        b.lines()
    );
    // B dials again (the proxy flips only once) and catches up.
    converge(
        &mut Observer::new(gh, &[a.p2p_addr(), b.p2p_addr()]),
        3,
        60,
        &[&a, &b],
    );
    for (name, n) in [("A", &a), ("B", &b)] {
        assert!(
            !n.lines().iter().any(|l| l.contains("banning")),
            "{name} banned someone: {:#?}",
            n.lines()
        );
    }
    a.terminate(20);
    b.terminate(20);
}
