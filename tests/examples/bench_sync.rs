//! Sync benchmark: a fresh node downloads and imports a generated chain from one peer over
//! loopback. Prints transfers per second and the ratio to the parallel batch-verify limit
//! measured in the same run (by `ferrite-node import --measure-limit` on the seed).
//!
//! Run with `scripts/bench-p2p` (release build). Usage: bench_sync [blocks] [txs-per-block]

use std::time::{Duration, Instant};

use ferrite_node::p2p::wire::Message;
use ferrite_tests::peer::WirePeer;
use ferrite_tests::{genesis_hash, node_output, Running};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let blocks: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(250);
    let per_block: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("chain.bin");
    let seed_data = dir.path().join("seed");
    let out = node_output(&[
        "generate",
        "--blocks",
        &blocks.to_string(),
        "--txs-per-block",
        &per_block.to_string(),
        "--accounts",
        "10000",
        "--out",
        file.to_str().expect("path"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = node_output(&[
        "import",
        "--file",
        file.to_str().expect("path"),
        "--data-dir",
        seed_data.to_str().expect("path"),
        "--measure-limit",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let limit: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("limit: parallel batch verify "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("limit line");
    let genesis = seed_data.join("genesis.json");
    let gh = genesis_hash(&genesis);
    let seed = Running::node(&[
        "--genesis",
        genesis.to_str().expect("path"),
        "--data-dir",
        seed_data.to_str().expect("path"),
        "--listen",
        "127.0.0.1:0",
        "--http",
        "off",
    ]);
    let seed_addr = seed.p2p_addr();
    let tip = WirePeer::observe(seed_addr, gh)
        .expect("observe seed")
        .tip()
        .expect("seed tip");
    assert_eq!(tip.height, blocks);

    let fresh_data = dir.path().join("fresh");
    let started = Instant::now();
    let fresh = Running::node(&[
        "--genesis",
        genesis.to_str().expect("path"),
        "--data-dir",
        fresh_data.to_str().expect("path"),
        "--listen",
        "127.0.0.1:0",
        "--http",
        "off",
        "--peer",
        &seed_addr.to_string(),
    ]);
    let fresh_addr = fresh.p2p_addr();
    let mut obs = WirePeer::observe(fresh_addr, gh).expect("observe fresh node");
    // The node announces each new tip to its peers: wait for the last block's announcement.
    let target = tip.hash;
    let mut done = false;
    while !done && started.elapsed() < Duration::from_secs(900) {
        match obs.recv() {
            Ok(Message::Headers(hs)) => done = hs.iter().any(|h| h.hash() == target),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("observer: {e}"),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    assert!(done, "sync did not finish");
    let rss = peak_rss_kib(fresh.child.id());
    let txs = blocks * per_block;
    let rate = txs as f64 / secs;
    fresh.terminate(30);
    seed.terminate(30);
    println!(
        "sync: {blocks} blocks, {txs} transfers from one peer over loopback in {secs:.2} s (from process start): {rate:.0} tx/s"
    );
    println!(
        "limit: parallel batch verify {limit:.0} sig/s; sync/limit = {:.2}",
        rate / limit
    );
    if let Some(kib) = rss {
        println!("syncing node peak RSS: {:.1} MiB", kib as f64 / 1024.0);
    }
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}
