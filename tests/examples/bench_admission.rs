//! Mempool admission over HTTP: a compiled client posts pre-signed transfers (one per funded
//! account) to `POST /api/tx` over keep-alive connections from several threads, while the node
//! mines on one thread. Prints accepted transfers per second and the ratio to the single-verify
//! limit of both cores, measured in the same run before the node starts.
//!
//! Run with `scripts/bench-reads` (release build).
//! Usage: bench_admission [transfers] [connections] [idle]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrite_core::dev::dev_key;
use ferrite_core::encoding::Encode;
use ferrite_core::Transaction;
use ferrite_tests::{genesis_hash, Running};

/// Block spacing of the benchmark's chain.
const SPACING_SECS: u64 = 10;

/// Header hashes per second on this thread (the miner's hot loop).
fn hash_rate(for_how_long: Duration) -> f64 {
    let mut header = [7u8; ferrite_core::block::HEADER_LEN];
    let never = ferrite_core::Target::from_compact(0x0300_0001).expect("target");
    let started = Instant::now();
    let mut tried = 0u64;
    while started.elapsed() < for_how_long {
        let _ = ferrite_node::miner::search(&mut header, &never, tried, 100_000);
        tried += 100_000;
    }
    tried as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: u32 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let conns: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(8);
    // `idle` as the third argument: no miner (the HTTP path alone, for comparison).
    let mine = args.get(3).map(String::as_str) != Some("idle");
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("node");
    // A genesis funding every sender, whose first target matches this machine's hash rate on
    // one thread at the chain's spacing, so the miner finds blocks at the pace of a settled
    // chain (a dev genesis starts at the easiest target and would connect dozens of blocks a
    // second while ASERT catches up).
    let hashes = hash_rate(Duration::from_secs(1));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let mut cfg = ferrite_core::dev::dev_genesis_config(count + 2, now, SPACING_SECS);
    let per_block = primitive_types::U256::from((hashes * SPACING_SECS as f64).max(1.0) as u64);
    let bits = ferrite_core::target::encode_compact(primitive_types::U256::MAX / per_block);
    cfg.initial_bits = format!("{bits:#010x}");
    let genesis = dir.path().join("genesis.json");
    std::fs::write(&genesis, cfg.to_json()).expect("write genesis");
    let gh = genesis_hash(&genesis);
    let bodies: Vec<String> = (2..count + 2)
        .map(|i| {
            let k = dev_key(i);
            let tx = Transaction {
                sender: k.public_key(),
                recipient: dev_key(0).address(),
                amount: 1,
                fee: ferrite_node::mempool::DEFAULT_MIN_FEE,
                nonce: 0,
            }
            .sign(&k, &gh);
            hex::encode(tx.encode())
        })
        .collect();
    let limit = ferrite_node::bench::single_verify_rate(2, Duration::from_secs(3));
    let miner = dev_key(0).address().to_bech32(
        &ferrite_core::AddressPrefix::new(ferrite_core::dev::DEV_PREFIX).expect("prefix"),
    );
    let mut node_args = vec![
        "--genesis",
        genesis.to_str().expect("path"),
        "--data-dir",
        data.to_str().expect("path"),
        "--listen",
        "off",
        "--http",
        "127.0.0.1:0",
    ];
    if mine {
        node_args.extend(["--mine", "--miner-address", &miner, "--mine-threads", "1"]);
    }
    let node = Running::node(&node_args);
    let http = node.http_addr();
    let height = |http| {
        ferrite_tests::http::get(http, "/api/blocks/tip/height")
            .text()
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
    };
    let height_before = height(http);
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..conns)
        .map(|_| {
            let (bodies, next, accepted, refused) = (
                bodies.clone(),
                next.clone(),
                accepted.clone(),
                refused.clone(),
            );
            std::thread::spawn(move || {
                let mut c = Client::connect(http);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    match c.post("/api/tx", body.as_bytes()) {
                        200 => accepted.fetch_add(1, Ordering::Relaxed),
                        _ => refused.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("client thread");
    }
    let secs = started.elapsed().as_secs_f64();
    let mined = height(http).saturating_sub(height_before);
    node.terminate(30);
    let ok = accepted.load(Ordering::Relaxed);
    let rate = ok as f64 / secs;
    println!(
        "admission: {ok} of {count} transfers accepted ({} refused) over {conns} keep-alive \
         connections in {secs:.2} s, {}: {rate:.0} tx/s",
        refused.load(Ordering::Relaxed),
        if mine { "miner running" } else { "no miner" }
    );
    println!(
        "blocks connected during the run: {mined} (first target set for one every \
         {SPACING_SECS} s at {:.1} M hashes/s)",
        hashes / 1e6
    );
    println!(
        "limit: single verify on 2 threads {limit:.0} sig/s; admission/limit = {:.2}",
        rate / limit
    );
}

/// A keep-alive HTTP/1.1 client, just enough to post a body and read the status.
struct Client {
    addr: SocketAddr,
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).expect("connect");
        let _ = s.set_nodelay(true);
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        Client {
            addr,
            r: BufReader::new(s.try_clone().expect("clone")),
            w: s,
        }
    }

    fn post(&mut self, path: &str, body: &[u8]) -> u16 {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        self.w.write_all(head.as_bytes()).expect("write");
        self.w.write_all(body).expect("write");
        let mut line = String::new();
        self.r.read_line(&mut line).expect("status line");
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut len = 0usize;
        loop {
            line.clear();
            self.r.read_line(&mut line).expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut rest = vec![0; len];
        self.r.read_exact(&mut rest).expect("body");
        status
    }
}
