//! Propagation benchmark: five nodes in a line, a block of 1,000 transfers that are already in
//! every mempool (or all but a share of them). The block enters at node 0; the time measured is
//! from node 0 announcing it (it has connected it, as after mining it) to node 4 announcing it
//! (node 4 has connected it), and, with compact relay, to node 4 passing it on as a compact
//! block to a high-bandwidth observer (it has rebuilt it and the chain has checked its header:
//! four hops of relay before connect). Prints the medians of several runs, the bytes node 1
//! sent node 2 for the block against the whole block's frame, and, as this machine's floor, the
//! median round trip of a ping to node 4.
//!
//! Run with `scripts/bench-p2p` (release build).
//! Usage: bench_propagation [runs] [percent of transfers missing from every mempool] [whole]
//! (`whole`: the nodes relay whole blocks only, `--compact-relay false`, for comparison)

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ferrite_core::dev::{dev_genesis_config, dev_key};
use ferrite_core::encoding::Encode;
use ferrite_core::template::{assemble_block, mine};
use ferrite_core::validation::{connect_block, ParentInfo};
use ferrite_core::{Address, BlockHeader, Hash, SignedTransaction, Transaction};
use ferrite_node::p2p::wire::{Message, MAX_TX_BATCH};
use ferrite_tests::peer::WirePeer;
use ferrite_tests::Running;

const NODES: usize = 5;
const TXS: u32 = 1000;

fn main() {
    let runs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(9);
    let missing_pct: u32 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
        .min(100);
    let whole = std::env::args().nth(3).as_deref() == Some("whole");
    // Transfers 0..relayed reach every mempool; the rest only travel in the block.
    let relayed = TXS - TXS * missing_pct / 100;
    let dir = tempfile::tempdir().expect("temp dir");
    let now = ferrite_node::node::now_secs();
    let cfg = dev_genesis_config(TXS, now, 5);
    let genesis = cfg.build().expect("genesis");
    let gh = genesis.params.genesis_hash;
    let gfile = dir.path().join("genesis.json");
    std::fs::write(&gfile, cfg.to_json()).expect("write genesis");

    let mut nodes: Vec<Running> = Vec::new();
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for i in 0..NODES {
        let data = dir.path().join(format!("n{i}"));
        let mut args = vec![
            "--genesis".to_string(),
            gfile.display().to_string(),
            "--data-dir".into(),
            data.display().to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--http".into(),
            "127.0.0.1:0".into(),
            "--discover".into(),
            "false".into(),
        ];
        if whole {
            args.push("--compact-relay".into());
            args.push("false".into());
        }
        if let Some(prev) = addrs.last() {
            args.push("--peer".into());
            args.push(prev.to_string());
        }
        let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let n = Running::node(&refs);
        addrs.push(n.p2p_addr());
        nodes.push(n);
    }
    // Let the line form.
    std::thread::sleep(Duration::from_secs(3));

    let mut injector = WirePeer::observe(addrs[0], gh).expect("connect to node 0");
    let (first_tx, first_rx) = mpsc::channel::<(Hash, Instant)>();
    let (last_tx, last_rx) = mpsc::channel::<(Hash, Instant)>();
    for (addr, out) in [(addrs[0], first_tx), (addrs[NODES - 1], last_tx)] {
        let mut p = WirePeer::observe(addr, gh).expect("observer");
        std::thread::spawn(move || {
            loop {
                let m = match p.recv() {
                    Ok(m) => m,
                    Err(e) => {
                        eprintln!("observer of {addr} stopped: {e}");
                        break;
                    }
                };
                match m {
                    Message::Headers(hs) => {
                        let at = Instant::now();
                        for h in hs {
                            let _ = out.send((h.hash(), at));
                        }
                    }
                    // Answered as a peer with nothing new does, or the node drops the observer
                    // when its headers request times out.
                    Message::GetHeaders { .. } => {
                        let _ = p.send(&Message::Headers(Vec::new()));
                    }
                    _ => {}
                }
            }
        });
    }
    // A high-bandwidth observer at node 4: it gets the block as soon as node 4 passes it on.
    let (relayed_tx, relayed_rx) = mpsc::channel::<(Hash, Instant)>();
    let mut hb = WirePeer::observe(addrs[NODES - 1], gh).expect("observer");
    hb.send(&Message::SendCompact(true)).expect("sendcompact");
    std::thread::spawn(move || {
        while let Ok(m) = hb.recv() {
            match m {
                Message::CompactBlock { compact, .. } => {
                    let _ = relayed_tx.send((compact.header.hash(), Instant::now()));
                }
                Message::GetHeaders { .. } => {
                    let _ = hb.send(&Message::Headers(Vec::new()));
                }
                _ => {}
            }
        }
    });
    let rtt = ping_rtt(addrs[NODES - 1], gh);
    let http1 = nodes[1].http_addr();
    let http2 = nodes[2].http_addr();

    let mut state = genesis.state.clone();
    let mut headers: Vec<BlockHeader> = vec![genesis.block.header];
    let mut hops = Vec::new();
    let mut totals = Vec::new();
    let mut relays = Vec::new();
    let mut hop_bytes = Vec::new();
    let mut block_frame = 0usize;
    for run in 0..runs {
        let txs: Vec<SignedTransaction> = (0..TXS)
            .map(|i| {
                let k = dev_key(i);
                Transaction {
                    sender: k.public_key(),
                    recipient: Address([7; 32]),
                    amount: 1,
                    fee: 2_000,
                    nonce: run,
                }
                .sign(&k, &gh)
            })
            .collect();
        relay(&mut injector, &txs[..relayed as usize]);
        wait_in_every_mempool(&addrs, gh, &txs[..relayed as usize]);
        let bytes_before = hop_bytes_sent(http1, http2);

        let times: Vec<u64> = headers.iter().map(|h| h.timestamp).collect();
        let parent = ParentInfo::new(headers.last().expect("parent"), &times);
        let ts = ferrite_node::node::now_secs().max(parent.median_time_past + 1);
        let mut block = assemble_block(&genesis.params, &parent, &state, txs, Address([9; 32]), ts)
            .expect("assemble");
        assert!(mine(&mut block.header, u64::MAX));
        connect_block(&genesis.params, &block, &parent, &mut state, ts).expect("connect");
        let id = block.hash();
        headers.push(block.header);

        let sent = Instant::now();
        injector
            .send(&Message::Headers(vec![block.header]))
            .expect("announce");
        injector
            .wait_for(30, |p, m| match m {
                Message::GetBlocks(ids) if ids.contains(&id) => {
                    Some(p.send(&Message::Block(block.clone())))
                }
                _ => None,
            })
            .expect("node 0 asks for the block")
            .expect("send block");
        let at_first = wait_for(&first_rx, id);
        let at_last = wait_for(&last_rx, id);
        let hop4 = at_last.duration_since(at_first);
        let total = at_last.duration_since(sent);
        let relayed_at = wait_for_quietly(&relayed_rx, id);
        let relay4 = relayed_at.map(|at| at.saturating_duration_since(at_first));
        // Node 1's answers settle once node 2 has the block.
        std::thread::sleep(Duration::from_millis(200));
        let bytes = hop_bytes_sent(http1, http2).saturating_sub(bytes_before);
        block_frame = ferrite_node::p2p::wire::FRAME_HEADER_LEN + block.encoded_len();
        println!(
            "run {run}: node 0 -> node 4 connected {:.1} ms, relayed {} (from injection {:.1} \
             ms); node 1 -> node 2 {bytes} bytes",
            ms(hop4),
            relay4.map_or("-".into(), |d| format!("{:.1} ms", ms(d))),
            ms(total)
        );
        hops.push(hop4);
        totals.push(total);
        relays.extend(relay4);
        hop_bytes.push(bytes);
    }
    hops.sort();
    totals.sort();
    let median = hops[hops.len() / 2];
    println!(
        "propagation of a 1,000-transfer block over 4 hops: median {:.1} ms (min {:.1}, max {:.1}) over {runs} runs; from injection at node 0: median {:.1} ms",
        ms(median),
        ms(hops[0]),
        ms(hops[hops.len() - 1]),
        ms(totals[totals.len() / 2])
    );
    relays.sort();
    hop_bytes.sort();
    if let Some(r) = relays.get(relays.len() / 2) {
        println!(
            "relay (compact, before connect) over 4 hops: median {:.1} ms (min {:.1}, max {:.1}) \
             over {} runs",
            ms(*r),
            ms(relays[0]),
            ms(relays[relays.len() - 1]),
            relays.len()
        );
    }
    let b = hop_bytes[hop_bytes.len() / 2];
    println!(
        "bytes per hop (node 1 to node 2, median): {b} against the whole block's {block_frame} \
         ({:.1}%), {missing_pct}% of the transfers missing from every mempool",
        100.0 * b as f64 / block_frame.max(1) as f64
    );
    println!(
        "floor: ping round trip to node 4 {:.3} ms; 4-hop time = {:.0} round trips",
        ms(rtt),
        median.as_secs_f64() / rtt.as_secs_f64().max(1e-9)
    );
    for (i, n) in nodes.into_iter().enumerate() {
        let (_, lines) = n.terminate(20);
        if std::env::var_os("BENCH_VERBOSE").is_some() {
            for l in lines.iter().filter(|l| l.contains("new tip")) {
                println!("[node {i}] {l}");
            }
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// When `id` arrived on `rx`, if it does within a few seconds (compact relay may be off).
fn wait_for_quietly(rx: &mpsc::Receiver<(Hash, Instant)>, id: Hash) -> Option<Instant> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok((h, at)) if h == id => return Some(at),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

/// Bytes of block messages node 1 sent (compact blocks, whole blocks, missing transfers) plus
/// node 2's requests for them, from their metrics: one hop's traffic for a block.
fn hop_bytes_sent(node1: SocketAddr, node2: SocketAddr) -> u64 {
    let sent = |addr, message: &str| {
        let text = ferrite_tests::http::get(addr, "/metrics").text();
        ferrite_tests::bench::counter(&text, "ferrite_p2p_sent_bytes_total", "message", message)
    };
    ["compactblock", "blocktxs", "block"]
        .iter()
        .map(|m| sent(node1, m))
        .sum::<u64>()
        + ["getblocktxs", "getblocks"]
            .iter()
            .map(|m| sent(node2, m))
            .sum::<u64>()
}

fn wait_for(rx: &mpsc::Receiver<(Hash, Instant)>, id: Hash) -> Instant {
    loop {
        let (h, at) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("block was not announced");
        if h == id {
            return at;
        }
    }
}

/// Announces `txs` and answers the node's requests for them.
fn relay(p: &mut WirePeer, txs: &[SignedTransaction]) {
    let ids: Vec<Hash> = txs.iter().map(|t| t.id()).collect();
    for chunk in ids.chunks(MAX_TX_BATCH) {
        p.send(&Message::InvTx(chunk.to_vec())).expect("inv");
    }
    let mut served = 0;
    while served < txs.len() {
        if let Ok(Message::GetTxs(want)) = p.recv() {
            let batch: Vec<SignedTransaction> = txs
                .iter()
                .filter(|t| want.contains(&t.id()))
                .copied()
                .collect();
            served += batch.len();
            p.send(&Message::Txs(batch)).expect("txs");
        }
    }
}

/// Waits until every node's mempool answers for every transfer.
fn wait_in_every_mempool(addrs: &[SocketAddr], gh: Hash, txs: &[SignedTransaction]) {
    let ids: Vec<Hash> = txs.iter().map(|t| t.id()).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    for addr in addrs {
        let mut p = WirePeer::observe(*addr, gh).expect("observer");
        p.set_read_timeout(Duration::from_millis(500))
            .expect("timeout");
        loop {
            assert!(
                Instant::now() < deadline,
                "transfers did not reach every mempool"
            );
            p.send(&Message::GetTxs(ids.clone())).expect("gettxs");
            let got = p
                .wait_for(2, |_, m| match m {
                    Message::Txs(t) => Some(t.len()),
                    _ => None,
                })
                .unwrap_or(0);
            if got == ids.len() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Median round trip of a ping to the node at `addr`.
fn ping_rtt(addr: SocketAddr, gh: Hash) -> Duration {
    let mut p = WirePeer::observe(addr, gh).expect("observer");
    let mut rtts = Vec::new();
    for n in 0..21u64 {
        let sent = Instant::now();
        p.send(&Message::Ping(n)).expect("ping");
        let ok = p
            .wait_for(5, |_, m| {
                matches!(m, Message::Pong(x) if x == n).then_some(())
            })
            .is_ok();
        if ok {
            rtts.push(sent.elapsed());
        }
    }
    rtts.sort();
    rtts.get(rtts.len() / 2).copied().unwrap_or_default()
}
