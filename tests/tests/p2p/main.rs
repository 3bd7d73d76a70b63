//! P2P end to end: real `ferrite-node` processes on 127.0.0.1 syncing, relaying, partitioned
//! and healed, and attacked by a peer that speaks the wire protocol badly on purpose.
//!
//! The scenarios run one at a time (they start several mining processes on a small machine).
//! `faults.rs`: partitions, a misbehaving peer and a stalling one. `attacks.rs`: a peer asking
//! for one block over and over, one asking for headers and never reading, a flood of
//! violations from new identities. `transport.rs`: the encrypted transport between real
//! nodes, through a proxy on the link.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use ferrite_core::{Address, Block, BlockHeader, Hash, Transaction};
use ferrite_node::p2p::wire::{self, Message};
use ferrite_tests::peer::{version, TipView, WirePeer};
use ferrite_tests::proxy::Proxy;
use ferrite_tests::{
    check_data_dir, generate_chain, genesis_hash, import_chain, miner_address, node_output,
    write_dev_genesis, Running,
};

mod attacks;
mod faults;
mod transport;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts a node on `genesis` in `data`, listening on a free port, dialling `peers`.
fn start(
    genesis: &Path,
    data: &Path,
    peers: &[SocketAddr],
    mine: Option<u32>,
    extra: &[&str],
) -> Running {
    let mut args: Vec<String> = vec![
        "--genesis".into(),
        genesis.display().to_string(),
        "--data-dir".into(),
        data.display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--http".into(),
        "127.0.0.1:0".into(),
    ];
    for p in peers {
        args.push("--peer".into());
        args.push(p.to_string());
    }
    if let Some(i) = mine {
        args.extend([
            "--mine".into(),
            "--mine-threads".into(),
            "1".into(),
            "--miner-address".into(),
            miner_address(i),
        ]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    Running::node(&refs)
}

/// Observes nodes, reconnecting when a node dropped the (idle) observer.
struct Observer {
    genesis: Hash,
    conns: Vec<(SocketAddr, Option<WirePeer>)>,
}

impl Observer {
    fn new(genesis: Hash, addrs: &[SocketAddr]) -> Self {
        Observer {
            genesis,
            conns: addrs.iter().map(|a| (*a, None)).collect(),
        }
    }

    fn tip_of(&mut self, i: usize) -> Option<TipView> {
        let genesis = self.genesis;
        let (addr, conn) = &mut self.conns[i];
        for _ in 0..3 {
            if conn.is_none() {
                *conn = WirePeer::observe(*addr, genesis).ok();
            }
            if let Some(p) = conn.as_mut() {
                match p.tip() {
                    Ok(t) => return Some(t),
                    Err(_) => *conn = None,
                }
            }
        }
        None
    }

    fn tips(&mut self) -> Vec<Option<TipView>> {
        (0..self.conns.len()).map(|i| self.tip_of(i)).collect()
    }

    /// Waits until every node reports the same tip and state root, at least `min_height`.
    fn converged(&mut self, min_height: u64, secs: u64) -> TipView {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut last = Vec::new();
        while Instant::now() < deadline {
            let tips = self.tips();
            if let Some(Some(first)) = tips.first() {
                let same = tips.iter().all(|t| {
                    t.as_ref()
                        .is_some_and(|t| t.hash == first.hash && t.state_root == first.state_root)
                });
                if same && first.height >= min_height {
                    return first.clone();
                }
            }
            last = tips
                .iter()
                .map(|t| t.as_ref().map(|t| (t.height, t.hash)))
                .collect();
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("nodes did not converge within {secs} s: {last:?}");
    }
}

/// [`Observer::converged`], printing the nodes' output if they do not converge.
fn converge(obs: &mut Observer, min_height: u64, secs: u64, nodes: &[&Running]) -> TipView {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        obs.converged(min_height, secs)
    })) {
        Ok(t) => t,
        Err(e) => {
            for (i, n) in nodes.iter().enumerate() {
                for l in n.lines() {
                    eprintln!("[node {i}] {l}");
                }
            }
            std::panic::resume_unwind(e)
        }
    }
}

/// How long the five-node test waits for both miners to have a block on the common chain:
/// three dozen block intervals, so a miner whose blocks do stick is never cut off by chance
/// (each interval is about a fair coin between the two).
const BOTH_MINERS_SECS: u64 = 180;

#[test]
fn five_nodes_two_mining_converge_on_one_tip_and_state() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let genesis = write_dev_genesis(dir.path());
    let gh = genesis_hash(&genesis);
    // A line: 0 - 1 - 2 - 3 - 4, mining at both ends, no address exchange so the line stays.
    let mut nodes: Vec<Running> = Vec::new();
    let mut addrs: Vec<SocketAddr> = Vec::new();
    let mut datas: Vec<PathBuf> = Vec::new();
    for i in 0..5u32 {
        let data = dir.path().join(format!("n{i}"));
        let peers: Vec<SocketAddr> = addrs.last().copied().into_iter().collect();
        let mine = (i == 0 || i == 4).then_some(i);
        let n = start(&genesis, &data, &peers, mine, &["--discover", "false"]);
        addrs.push(n.p2p_addr());
        nodes.push(n);
        datas.push(data);
    }
    std::thread::sleep(Duration::from_secs(15));
    let mut obs = Observer::new(gh, &addrs);
    let refs: Vec<&Running> = nodes.iter().collect();
    // All five agree on one tip, and both miners' blocks are on that common chain. Node 0
    // starts first and can win every early block, so this waits for node 4's first block to
    // stick; at 5-second spacing each block is a fair coin between the two, so the deadline
    // is only reached if node 4's blocks never make it into the chain.
    let m0 = ferrite_core::dev::dev_key(0).address();
    let m4 = ferrite_core::dev::dev_key(4).address();
    let deadline = Instant::now() + Duration::from_secs(BOTH_MINERS_SECS);
    let tip = loop {
        let tip = converge(&mut obs, 20, 90, &refs);
        let miners: Vec<_> = tip.headers.iter().map(|h| h.miner).collect();
        if miners.contains(&m0) && miners.contains(&m4) {
            break tip;
        }
        assert!(
            Instant::now() < deadline,
            "both miners contributed within {BOTH_MINERS_SECS} s"
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    // The blocks crossed the line as compact blocks: the middle node passed some on, and
    // forwarded others before connecting them.
    let metrics = ferrite_tests::http::get(nodes[2].http_addr(), "/metrics").text();
    let compact = ferrite_tests::bench::counter(
        &metrics,
        "ferrite_p2p_sent_bytes_total",
        "message",
        "compactblock",
    );
    assert!(compact > 0, "no compact block relayed:\n{metrics}");
    for n in nodes {
        let (status, lines) = n.terminate(20);
        assert!(status.is_some_and(|s| s.success()), "{lines:#?}");
        assert!(!lines.iter().any(|l| l.contains("panicked")), "{lines:#?}");
    }
    // Each store checks out (digest over all accounts = tip state root) and holds the common
    // tip at its height.
    for d in &datas {
        check_data_dir(d);
        let out = node_output(&[
            "check",
            "--data-dir",
            d.to_str().unwrap(),
            "--at-height",
            &tip.height.to_string(),
        ]);
        assert!(String::from_utf8_lossy(&out.stdout).contains(&tip.hash.to_string()));
    }
}

/// A generated chain of 1,100 blocks with 50 transfers each, made once per test run.
fn generated_chain() -> &'static PathBuf {
    static CHAIN: OnceLock<PathBuf> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ferrite-p2p-chain-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("chain.bin");
        generate_chain(&file, 1100, 50, 200);
        file
    })
}

/// A node holding the generated chain, serving it.
fn seed_node(dir: &Path) -> (Running, SocketAddr, PathBuf) {
    let data = dir.join("seed");
    import_chain(generated_chain(), &data);
    let genesis = data.join("genesis.json");
    let n = start(&genesis, &data, &[], None, &[]);
    let addr = n.p2p_addr();
    (n, addr, genesis)
}

/// The highest tip the node logged: per block once in step, and in the progress lines while
/// catching up (per block too with `processor=debug`).
fn tip_height_from_logs(lines: &[String]) -> u64 {
    lines
        .iter()
        .filter(|l| {
            l.contains("new tip from peers") || l.contains("catching up") || l.contains("caught up")
        })
        .filter_map(|l| ferrite_tests::field(l, "height").and_then(|h| h.parse().ok()))
        .max()
        .unwrap_or(0)
}

#[test]
fn a_late_node_syncs_1100_blocks_of_transfers() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let (seed, seed_addr, genesis) = seed_node(dir.path());
    let gh = genesis_hash(&genesis);
    let data = dir.path().join("late");
    let late = start(&genesis, &data, &[seed_addr], None, &[]);
    let late_addr = late.p2p_addr();
    let tip = converge(
        &mut Observer::new(gh, &[seed_addr, late_addr]),
        1100,
        180,
        &[&seed, &late],
    );
    assert_eq!(tip.height, 1100);
    // The late node's blocks carry the transfers: fetch the last one from it.
    let mut p = WirePeer::observe(late_addr, gh).unwrap();
    let last = p.blocks(&[tip.hash]).unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].txs.len(), 50);
    let (_, lines) = late.terminate(20);
    assert!(
        tip_height_from_logs(&lines) == 1100,
        "connected through the P2P path"
    );
    // Catching up is summarised: a progress line at once, one when caught up, and per-block
    // lines only for the last block or two (within READY_LAG of the best header).
    let first = lines.iter().find(|l| l.contains("catching up"));
    let first = first.unwrap_or_else(|| panic!("no progress line: {lines:#?}"));
    assert_eq!(ferrite_tests::field(first, "best"), Some("1100"), "{first}");
    let done = lines.iter().find(|l| l.contains("caught up"));
    let done = done.unwrap_or_else(|| panic!("no caught-up line: {lines:#?}"));
    let height: u64 = ferrite_tests::field(done, "height")
        .and_then(|h| h.parse().ok())
        .unwrap_or(0);
    assert!((1098..=1100).contains(&height), "{done}");
    let per_block = lines
        .iter()
        .filter(|l| l.contains("new tip from peers"))
        .count();
    assert!(
        per_block <= 3,
        "{per_block} per-block lines while catching up"
    );
    seed.terminate(20);
    let (h, hash, root) = check_data_dir(&data);
    assert_eq!(
        (h, hash, root),
        (1100, tip.hash.to_string(), tip.state_root.to_string())
    );
}

#[test]
fn a_node_killed_mid_sync_finishes_after_restart() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let (seed, seed_addr, genesis) = seed_node(dir.path());
    let gh = genesis_hash(&genesis);
    let data = dir.path().join("victim");
    // Per-block lines, to see where it is between progress reports.
    let debug = ["--log-level", "info,ferrite_node::p2p::processor=debug"];
    let victim = start(&genesis, &data, &[seed_addr], None, &debug);
    // Kill it once it has connected some blocks but not all.
    let deadline = Instant::now() + Duration::from_secs(120);
    while tip_height_from_logs(&victim.lines()) < 100 {
        assert!(Instant::now() < deadline, "sync did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    let lines = victim.kill();
    let at_kill = tip_height_from_logs(&lines);
    assert!(
        at_kill < 1100,
        "sync finished before the kill ({at_kill}); nothing was tested"
    );
    let again = start(&genesis, &data, &[seed_addr], None, &[]);
    let again_addr = again.p2p_addr();
    let tip = converge(
        &mut Observer::new(gh, &[seed_addr, again_addr]),
        1100,
        180,
        &[&seed, &again],
    );
    assert_eq!(tip.height, 1100);
    again.terminate(20);
    seed.terminate(20);
    let (h, hash, _) = check_data_dir(&data);
    assert_eq!((h, hash), (1100, tip.hash.to_string()));
}

#[test]
fn transfers_are_relayed_across_hops_and_never_echoed() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let genesis = write_dev_genesis(dir.path());
    let gh = genesis_hash(&genesis);
    let a = start(&genesis, &dir.path().join("a"), &[], None, &[]);
    let aa = a.p2p_addr();
    let b = start(&genesis, &dir.path().join("b"), &[aa], None, &[]);
    let ba = b.p2p_addr();
    let c = start(&genesis, &dir.path().join("c"), &[ba], None, &[]);
    let ca = c.p2p_addr();
    std::thread::sleep(Duration::from_secs(2));
    let key = ferrite_core::dev::dev_key(3);
    let tx = Transaction {
        sender: key.public_key(),
        recipient: Address([5; 32]),
        amount: 777,
        fee: 5_000,
        nonce: 0,
    }
    .sign(&key, &gh);
    let id = tx.id();
    let mut source = WirePeer::observe(aa, gh).unwrap();
    source.relay_tx(&tx).unwrap();
    // It reaches the far end of the line.
    let mut far = WirePeer::observe(ca, gh).unwrap();
    far.set_read_timeout(Duration::from_millis(500)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        far.send(&Message::GetTxs(vec![id])).unwrap();
        let got = far.wait_for(1, |_, m| match m {
            Message::Txs(t) => Some(t),
            _ => None,
        });
        if got.is_ok_and(|t| t.iter().any(|x| x.id() == id)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the transfer did not reach node c"
        );
    }
    // The peer it came from is never offered it back.
    source.set_read_timeout(Duration::from_millis(200)).unwrap();
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        match source.recv() {
            Ok(Message::InvTx(ids)) => assert!(!ids.contains(&id), "echoed back to its source"),
            Ok(_) => {}
            Err(_) => {}
        }
    }
    for n in [a, b, c] {
        n.terminate(20);
    }
}

#[test]
fn nodes_learn_addresses_from_their_peers_and_dial_them() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let genesis = write_dev_genesis(dir.path());
    let a = start(&genesis, &dir.path().join("a"), &[], None, &[]);
    let aa = a.p2p_addr();
    let b = start(&genesis, &dir.path().join("b"), &[aa], None, &[]);
    let ba = b.p2p_addr();
    // c knows only b; it learns a from b and dials it.
    let c_data = dir.path().join("c");
    let c = start(&genesis, &c_data, &[ba], None, &[]);
    let needle = format!("peer connected peer={aa} inbound=false");
    assert!(
        c.wait_for_line(&needle, 30).is_some(),
        "c never dialled a: {:#?}",
        c.lines()
    );
    // The address book is persisted: restarted without any --peer, c finds both again.
    c.terminate(20);
    let c = start(&genesis, &c_data, &[], None, &[]);
    assert!(
        c.wait_for_line(&needle, 30).is_some(),
        "the address book was not kept: {:#?}",
        c.lines()
    );
    for n in [a, b, c] {
        n.terminate(20);
    }
}

#[test]
fn the_testnet_command_runs_a_local_network_and_stops_it_cleanly() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    // A free block of ports: bind three ephemeral listeners, then free them.
    let base = loop {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        if p < 60_000 && (1..3).all(|i| TcpListener::bind(("127.0.0.1", p + i)).is_ok()) {
            break p;
        }
    };
    let net = Running::node(&[
        "testnet",
        "--nodes",
        "3",
        "--miners",
        "1",
        "--base-port",
        &base.to_string(),
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    // The two nodes that do not mine follow the one that does.
    for i in [1, 2] {
        let needle = format!("[node {i}]");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !net
            .lines()
            .iter()
            .any(|l| l.starts_with(&needle) && l.contains("new tip from peers"))
        {
            assert!(
                Instant::now() < deadline,
                "node {i} never followed: {:#?}",
                net.lines()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let (status, lines) = net.terminate(30);
    assert!(status.is_some_and(|s| s.success()), "{lines:#?}");
    let stopped = lines
        .iter()
        .filter(|l| l.contains("stopped at height"))
        .count();
    assert_eq!(stopped, 3, "every node stops cleanly: {lines:#?}");
    // Each data dir is consistent afterwards.
    for i in 0..3 {
        check_data_dir(&dir.path().join(format!("node-{i}")));
    }
}
