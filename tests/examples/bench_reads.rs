//! Reads under sync: a fresh node syncs a generated chain from one peer while wrk (1 thread,
//! 8 connections) asks its explorer for `/api/blocks/tip/height` and `/api/tx/{txid}`, and a
//! wire peer pings it every 10 ms; then the same once the node is idle. Prints req/s and
//! latencies for both, the ratios during sync to idle, and the ping round trips (client side:
//! frame sent to pong read, so the loopback round trip is included, and the idle figure is the
//! floor).
//!
//! Run with `scripts/bench-reads` (release build). Usage: bench_reads [blocks] [txs-per-block] [wrk-secs]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrite_node::p2p::wire::Message;
use ferrite_tests::bench::{percentile, wrk, Wrk};
use ferrite_tests::http::get;
use ferrite_tests::peer::WirePeer;
use ferrite_tests::{generate_chain, genesis_hash, import_chain, Running};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let blocks: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(500);
    let per_block: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let secs: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("chain.bin");
    let seed_data = dir.path().join("seed");
    generate_chain(&file, blocks, per_block, 10_000);
    import_chain(&file, &seed_data);
    let genesis = seed_data.join("genesis.json");
    let gh = genesis_hash(&genesis);
    let g = genesis.to_str().expect("path");
    let seed = Running::node(&[
        "--genesis",
        g,
        "--data-dir",
        seed_data.to_str().expect("path"),
        "--listen",
        "127.0.0.1:0",
        "--http",
        "off",
    ]);
    let seed_addr = seed.p2p_addr();
    let target = WirePeer::observe(seed_addr, gh)
        .expect("observe seed")
        .tip()
        .expect("tip");

    let fresh_data = dir.path().join("fresh");
    let fresh = Running::node(&[
        "--genesis",
        g,
        "--data-dir",
        fresh_data.to_str().expect("path"),
        "--listen",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--peer",
        &seed_addr.to_string(),
    ]);
    let http = fresh.http_addr();
    let p2p = fresh.p2p_addr();
    // A transfer of block 1, once the node has it.
    let started = Instant::now();
    let txid = loop {
        let r = get(http, "/api/block-height/1");
        if r.status == 200 {
            let ids = get(http, &format!("/api/block/{}/txids", r.text().trim())).json();
            break ids[0].as_str().expect("txid").to_string();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no block 1");
        std::thread::sleep(Duration::from_millis(5));
    };
    let tip_url = format!("http://{http}/api/blocks/tip/height");
    let tx_url = format!("http://{http}/api/tx/{txid}");
    let height = || -> u64 {
        get(http, "/api/blocks/tip/height")
            .text()
            .trim()
            .parse()
            .unwrap_or(0)
    };

    let stop = Arc::new(AtomicBool::new(false));
    let pinger = {
        let stop = stop.clone();
        std::thread::spawn(move || ping_until(p2p, gh, &stop))
    };
    let h0 = height();
    let sync_tip = wrk(&tip_url, 8, secs).expect("wrk (install it: apt-get install wrk)");
    let sync_tx = wrk(&tx_url, 8, secs).expect("wrk");
    let h1 = height();
    stop.store(true, Ordering::Release);
    let mut sync_pings = pinger.join().expect("pinger");
    // The node's own figure: ping frame read to pong queued, over the pings so far (all but a
    // handful are this sync's).
    let pong = ferrite_tests::bench::histogram_quantile(
        &get(http, "/metrics").text(),
        "ferrite_p2p_pong_seconds",
        0.99,
    );
    let still_syncing = h1 < target.height;
    // Wait for the end of sync, then measure the idle node.
    while height() < target.height {
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "sync did not finish"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let sync_secs = started.elapsed().as_secs_f64();
    let stop = Arc::new(AtomicBool::new(false));
    let pinger = {
        let stop = stop.clone();
        std::thread::spawn(move || ping_until(p2p, gh, &stop))
    };
    let idle_tip = wrk(&tip_url, 8, secs).expect("wrk");
    let idle_tx = wrk(&tx_url, 8, secs).expect("wrk");
    stop.store(true, Ordering::Release);
    let mut idle_pings = pinger.join().expect("pinger");
    fresh.terminate(30);
    seed.terminate(30);

    println!(
        "chain: {blocks} blocks x {per_block} transfers; sync took {sync_secs:.1} s; \
         during the sync runs the tip went {h0} -> {h1} of {}{}",
        target.height,
        if still_syncing {
            ""
        } else {
            " (sync ended during the runs: figures mix both)"
        }
    );
    println!("| endpoint | during sync req/s | p50 | p99 | idle req/s | p50 | p99 | req/s ratio | p99 ratio |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    row("/api/blocks/tip/height", sync_tip, idle_tip);
    row("/api/tx/{txid}", sync_tx, idle_tx);
    let (sp50, sp99) = (
        percentile(&mut sync_pings, 50.0),
        percentile(&mut sync_pings, 99.0),
    );
    let (ip50, ip99) = (
        percentile(&mut idle_pings, 50.0),
        percentile(&mut idle_pings, 99.0),
    );
    println!(
        "ping round trip: during sync p50 {:.2} ms, p99 {:.2} ms ({} pings); idle p50 {:.2} ms, \
         p99 {:.2} ms ({} pings)",
        ms(sp50),
        ms(sp99),
        sync_pings.len(),
        ms(ip50),
        ms(ip99),
        idle_pings.len()
    );
    match pong {
        Some((le, n)) => println!(
            "node side during sync: p99 from ping read to pong queued <= {:.3} ms ({n} pongs, \
             histogram bucket bound)",
            le * 1000.0
        ),
        None => println!("node side: no pong histogram in /metrics"),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn row(name: &str, sync: Wrk, idle: Wrk) {
    println!(
        "| {name} | {:.0} | {:.2} ms | {:.2} ms | {:.0} | {:.2} ms | {:.2} ms | {:.2} | {:.2} |",
        sync.rps,
        sync.p50_ms,
        sync.p99_ms,
        idle.rps,
        idle.p50_ms,
        idle.p99_ms,
        sync.rps / idle.rps,
        sync.p99_ms / idle.p99_ms
    );
}

/// Pings the node every 10 ms until `stop`, answering its header requests so that it keeps
/// the connection; returns the round trips.
fn ping_until(
    addr: std::net::SocketAddr,
    gh: ferrite_core::Hash,
    stop: &AtomicBool,
) -> Vec<Duration> {
    let mut peer = WirePeer::observe(addr, gh).expect("connect pinger");
    let _ = peer.set_read_timeout(Duration::from_millis(500));
    let mut out = Vec::new();
    let mut n = 0u64;
    while !stop.load(Ordering::Acquire) {
        n += 1;
        let sent = Instant::now();
        if peer.send(&Message::Ping(n)).is_err() {
            break;
        }
        loop {
            match peer.recv() {
                Ok(Message::Pong(m)) if m == n => {
                    out.push(sent.elapsed());
                    break;
                }
                Ok(Message::GetHeaders { .. }) => {
                    let _ = peer.send(&Message::Headers(Vec::new()));
                }
                Ok(_) => {}
                Err(_) if sent.elapsed() < Duration::from_secs(10) => {}
                Err(_) => return out,
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    out
}
