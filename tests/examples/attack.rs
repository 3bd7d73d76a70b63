//! Attack benchmark: each attack against a fresh release `ferrite-node`, measured the same way.
//!
//! A small chain is generated once (300 blocks: every tenth holds 1,500 transfers, block 150
//! holds 5,000, about 760 KB, the rest 4; about 50,000 transfers in all) and imported into a
//! fresh data dir for every row. For each row the node is started on it, the attack runs from
//! this process (threads) for `ATTACK_SECS` (25 s by default), and meanwhile:
//!
//! - a sampler, every 200 ms, reads the node's RSS from `/proc/<pid>/status`, times
//!   `GET /api/blocks/tip/height` and `GET /healthy` (fresh connections), and reads
//!   `ferrite_p2p_queued_bytes` and `ferrite_peers` from `/metrics`; the node's CPU is its
//!   utime + stime from `/proc/<pid>/stat` over the attack;
//! - 3 s into the attack an honest second node (empty data dir, same genesis, `--peer` the
//!   attacked node) is started; the time from its start to its first peer and to the attacked
//!   node's height is measured by polling its `/api/node/info`. Once synced, a real signed
//!   transfer (a funded dev key the chain never used) is posted to the honest node's
//!   `POST /api/tx` and the time until the attacked node's `GET /api/tx/{txid}` answers 200 is
//!   measured (up to 20 s; the attack goes on meanwhile). It is polled over the attacked
//!   node's HTTP, so under `idle-http` that time includes the explorer's refusals.
//!
//! The attacks (`baseline` is no attack, for comparison):
//!
//! | name | what this process does |
//! |---|---|
//! | `reopen` | 200 sockets that connect, send nothing, and reconnect as soon as the node closes them |
//! | `slow-handshake` | 100 sockets sending the transport handshake's first message at 1 byte/s (reopened when closed) |
//! | `ping-only` | 40 peers that complete both handshakes, answer `Ping` and drop everything else (reconnecting when dropped) |
//! | `unread-headers` | 16 peers with a 64 KiB receive buffer that send 500 `GetHeaders` from genesis, then 50 a second, and never read |
//! | `violations` | up to 20,000 fresh identities on 4 threads, each sending a second `Version` after the handshake |
//! | `inv-flood` | 12 peers announcing 1,000 fresh random transfer ids every 250 ms, never delivering |
//! | `same-block` | 4 peers asking for the largest block 128 times per `GetBlocks`, reading everything; a peer whose request got no copy reconnects with a fresh identity |
//! | `idle-http` | the node under `ulimit -n 1024`; 1,100 idle HTTP connections (reopened when closed) and 5,000 partial request lines (`GET /api/blo`) |
//!
//! The `inv-flood` and `same-block` peers answer `Ping`, and `GetHeaders` with nothing new (so
//! the node keeps them); the `ping-only` ones answer only `Ping`.
//!
//! Prints one table row per attack (the figure column holds each attack's own figure), then
//! each row's details: the attack's own counts, RSS every 5 s, the `/metrics` defences that
//! moved, the node's warnings, and the CPU other processes took meanwhile (other work on the
//! machine skews every figure). Everything runs on 127.0.0.1, so every attacker is in the
//! honest node's network group, and the attack threads share the machine's cores with both
//! nodes. This is a benchmark: nothing here asserts a speed.
//!
//! Run with `scripts/attack-bench` (release build).
//! Usage: attack [SECS] [ATTACK ...] (default: 25 s, every attack)

use std::collections::BTreeMap;
use std::error::Error;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ferrite_core::dev::{dev_genesis_config, dev_key};
use ferrite_core::encoding::Encode;
use ferrite_core::template::{assemble_block, mine};
use ferrite_core::validation::{connect_block, ParentInfo};
use ferrite_core::{BlockHeader, Hash, SignedTransaction, Transaction};
use ferrite_node::p2p::identity::Identity;
use ferrite_node::p2p::secure::{Handshake, Opener, OurChain, Role, Sealer, LEN_PREFIX};
use ferrite_node::p2p::wire::{network_magic, type_info, Message, FRAME_HEADER_LEN};
use ferrite_tests::peer::{secure_dial, version};
use ferrite_tests::Running;

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// How long each attack runs by default.
const ATTACK_SECS: u64 = 25;
/// When the honest node starts, from the start of the attack.
const HONEST_AT: Duration = Duration::from_secs(3);
/// How long the real transfer may take to reach the attacked node.
const TX_WAIT: Duration = Duration::from_secs(20);
/// Sampling period.
const TICK: Duration = Duration::from_millis(200);
/// How often blocked attack threads look at the stop flag.
const POLL: Duration = Duration::from_millis(200);
/// Stack of the many small attack threads.
const SMALL_STACK: usize = 256 * 1024;

/// Blocks of the generated chain.
const BLOCKS: u64 = 300;
/// Every this many blocks, a big one.
const BIG_EVERY: u64 = 10;
/// Transfers in a big block.
const BIG_TXS: u32 = 1_500;
/// Height of the largest block.
const LARGEST_AT: u64 = 150;
/// Transfers in the largest block.
const LARGEST_TXS: u32 = 5_000;
/// Transfers in the other blocks.
const SMALL_TXS: u32 = 4;
/// Dev accounts that send the chain's transfers (each at most once per block).
const SENDERS: u32 = LARGEST_TXS;
/// The funded dev key the chain never uses: it sends the measured transfer.
const FRESH_SENDER: u32 = SENDERS + 1;
/// Block spacing of the generated chain.
const SPACING: u64 = 10;

const REOPEN_SOCKETS: usize = 200;
const SLOW_SOCKETS: usize = 100;
const PING_PEERS: usize = 40;
const UNREAD_PEERS: usize = 16;
const UNREAD_FIRST: usize = 500;
const UNREAD_PER_SEC: usize = 50;
const UNREAD_RCVBUF: usize = 64 * 1024;
const VIOLATORS: usize = 20_000;
const VIOLATOR_THREADS: usize = 4;
/// Violators claim listen ports from here up (below the kernel's ephemeral ports, where the
/// nodes' own listen ports are: on loopback a ban covers the claimed port).
const VIOLATOR_PORT: usize = 1_000;
const INV_PEERS: usize = 12;
const INV_IDS: usize = 1_000;
const INV_EVERY: Duration = Duration::from_millis(250);
const GREEDY_PEERS: usize = 4;
const GREEDY_COPIES: usize = 128;
/// How long a greedy peer waits for its block before it tries a fresh identity.
const GREEDY_WAIT: Duration = Duration::from_secs(10);
const IDLE_HTTP: usize = 1_100;
const PARTIAL_HTTP: usize = 5_000;
const PARTIAL_CHECK: Duration = Duration::from_secs(15);
/// The descriptor limit the `idle-http` node runs under.
const HTTP_FD_LIMIT: u32 = 1_024;

/// Message codes (docs/protocol.md).
const MSG_VERSION: u8 = 0;
const MSG_VERACK: u8 = 1;
const MSG_PING: u8 = 2;
const MSG_GET_HEADERS: u8 = 6;
const MSG_BLOCK: u8 = 9;
const MSG_NOT_FOUND: u8 = 10;
const MSG_GET_TXS: u8 = 12;

const MIB: f64 = 1024.0 * 1024.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attack {
    Baseline,
    Reopen,
    SlowHandshake,
    PingOnly,
    UnreadHeaders,
    Violations,
    InvFlood,
    SameBlock,
    IdleHttp,
}

impl Attack {
    const ALL: [Attack; 9] = [
        Attack::Baseline,
        Attack::Reopen,
        Attack::SlowHandshake,
        Attack::PingOnly,
        Attack::UnreadHeaders,
        Attack::Violations,
        Attack::InvFlood,
        Attack::SameBlock,
        Attack::IdleHttp,
    ];

    fn name(self) -> &'static str {
        match self {
            Attack::Baseline => "baseline",
            Attack::Reopen => "reopen",
            Attack::SlowHandshake => "slow-handshake",
            Attack::PingOnly => "ping-only",
            Attack::UnreadHeaders => "unread-headers",
            Attack::Violations => "violations",
            Attack::InvFlood => "inv-flood",
            Attack::SameBlock => "same-block",
            Attack::IdleHttp => "idle-http",
        }
    }

    /// Runs the attack until `stop`.
    fn run(self, t: &Target, stop: &AtomicBool) -> Res<Outcome> {
        match self {
            Attack::Baseline => baseline(stop),
            Attack::Reopen => reopen(t, stop),
            Attack::SlowHandshake => slow_handshake(t, stop),
            Attack::PingOnly => ping_only(t, stop),
            Attack::UnreadHeaders => unread_headers(t, stop),
            Attack::Violations => violations(t, stop),
            Attack::InvFlood => inv_flood(t, stop),
            Attack::SameBlock => same_block(t, stop),
            Attack::IdleHttp => idle_http(t, stop),
        }
    }
}

/// What an attack saw itself.
#[derive(Default)]
struct Outcome {
    /// Its counts, in words.
    detail: String,
    /// Its figure for the table, when the attack itself measures it.
    figure: Option<String>,
    /// How long it was at work, when it ended before the time was up (rates count this).
    busy_secs: Option<f64>,
}

impl Outcome {
    fn detail(detail: String) -> Res<Outcome> {
        Ok(Outcome {
            detail,
            ..Outcome::default()
        })
    }
}

/// The generated chain.
struct ChainFile {
    file: PathBuf,
    genesis: Hash,
    height: u64,
    txs: u64,
    bytes: u64,
    largest: Hash,
    largest_bytes: usize,
}

/// What every row shares.
struct Env {
    bin: PathBuf,
    dir: tempfile::TempDir,
    chain: ChainFile,
    /// The measured transfer (the same in every row: each row's node is fresh).
    tx: SignedTransaction,
    secs: Duration,
    clk_tck: f64,
}

/// The attacked node, as the attacks see it.
struct Target {
    p2p: SocketAddr,
    http: SocketAddr,
    genesis: Hash,
    largest: Hash,
}

fn main() -> Res<()> {
    let mut secs = ATTACK_SECS;
    let mut chosen = Vec::new();
    for a in std::env::args().skip(1) {
        if let Ok(n) = a.parse::<u64>() {
            secs = n.max(5);
        } else if let Some(x) = Attack::ALL.iter().find(|x| x.name() == a) {
            chosen.push(*x);
        } else {
            return Err(format!("unknown attack {a:?}; known: {:?}", names()).into());
        }
    }
    if chosen.is_empty() {
        chosen = Attack::ALL.to_vec();
    }
    let bin = std::env::current_exe()?
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("ferrite-node"))
        .ok_or("no target directory")?;
    if !bin.exists() {
        return Err(format!("{} not built", bin.display()).into());
    }
    let dir = tempfile::tempdir()?;
    let started = Instant::now();
    let chain = generate(&dir.path().join("chain.bin"))?;
    println!(
        "chain: {} blocks, {} transfers, {:.1} MB; largest block {} KB (generated in {:.1} s)",
        chain.height,
        chain.txs,
        chain.bytes as f64 / 1e6,
        chain.largest_bytes / 1000,
        started.elapsed().as_secs_f64()
    );
    let gh = chain.genesis;
    let key = dev_key(FRESH_SENDER);
    let tx = Transaction {
        sender: key.public_key(),
        recipient: dev_key(0).address(),
        amount: 1,
        fee: ferrite_node::mempool::DEFAULT_MIN_FEE,
        nonce: 0,
    }
    .sign(&key, &gh);
    let env = Env {
        bin,
        dir,
        chain,
        tx,
        secs: Duration::from_secs(secs),
        clk_tck: clk_tck(),
    };
    println!(
        "each attack {secs} s; honest node at {} s; {} cores",
        HONEST_AT.as_secs(),
        thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut rows = Vec::new();
    for a in chosen {
        eprintln!("[attack] {} ...", a.name());
        match run_row(&env, a) {
            Ok(row) => {
                eprintln!("[attack] {}: {}", a.name(), row.cells().join(" | "));
                rows.push(row);
            }
            Err(e) => {
                eprintln!("[attack] {} failed: {e}", a.name());
                rows.push(Row::failed(a, e.to_string()));
            }
        }
    }
    print_table(&rows);
    Ok(())
}

fn names() -> Vec<&'static str> {
    Attack::ALL.iter().map(|a| a.name()).collect()
}

// ---------------------------------------------------------------------------------------------
// The chain

/// Transfers in the block at `height`.
fn txs_at(height: u64) -> u32 {
    if height == LARGEST_AT {
        LARGEST_TXS
    } else if height % BIG_EVERY == 0 {
        BIG_TXS
    } else {
        SMALL_TXS
    }
}

/// Builds the chain in memory (ferrite-core's template and validation) and writes it as a
/// chain file for `ferrite-node import`; timestamps end a spacing before now.
fn generate(file: &Path) -> Res<ChainFile> {
    let now = ferrite_node::node::now_secs();
    let cfg = dev_genesis_config(FRESH_SENDER + 1, now - (BLOCKS + 1) * SPACING, SPACING);
    let genesis = cfg.build()?;
    let params = &genesis.params;
    let gh = params.genesis_hash;
    let keys: Vec<_> = (0..SENDERS).map(dev_key).collect();
    let addrs: Vec<_> = keys.iter().map(|k| k.address()).collect();
    let mut nonces = vec![0u64; SENDERS as usize];
    let mut state = genesis.state.clone();
    let mut headers: Vec<BlockHeader> = vec![genesis.block.header];
    let mut writer = ferrite_node::chainfile::ChainWriter::create(file, &cfg)?;
    let mut next = 0usize;
    let (mut txs_total, mut bytes, mut largest, mut largest_bytes) = (0u64, 0u64, Hash::ZERO, 0);
    for height in 1..=BLOCKS {
        let n = txs_at(height) as usize;
        let txs: Vec<SignedTransaction> = (0..n)
            .map(|i| {
                let s = (next + i) % keys.len();
                let tx = Transaction {
                    sender: keys[s].public_key(),
                    recipient: addrs[(s + 1) % addrs.len()],
                    amount: 1 + height % 100,
                    fee: ferrite_node::generate::GENERATED_FEE,
                    nonce: nonces[s],
                };
                nonces[s] += 1;
                tx.sign(&keys[s], &gh)
            })
            .collect();
        next = (next + n) % keys.len();
        let parent_header = headers.last().ok_or("no parent")?;
        let times: Vec<u64> = headers
            .iter()
            .rev()
            .take(11)
            .rev()
            .map(|h| h.timestamp)
            .collect();
        let parent = ParentInfo::new(parent_header, &times);
        let ts = parent.timestamp + SPACING;
        let mut block = assemble_block(params, &parent, &state, txs, addrs[0], ts)?;
        if !mine(&mut block.header, u64::MAX) {
            return Err("no nonce found".into());
        }
        connect_block(params, &block, &parent, &mut state, now)?;
        writer.push(&block)?;
        let size = block.encoded_len();
        bytes += size as u64;
        txs_total += block.txs.len() as u64;
        if size > largest_bytes {
            largest_bytes = size;
            largest = block.hash();
        }
        headers.push(block.header);
    }
    writer.finish()?;
    Ok(ChainFile {
        file: file.to_path_buf(),
        genesis: gh,
        height: BLOCKS,
        txs: txs_total,
        bytes,
        largest,
        largest_bytes,
    })
}

// ---------------------------------------------------------------------------------------------
// One row

/// What one row measured.
struct Row {
    attack: Attack,
    error: Option<String>,
    connected: Option<f64>,
    synced: Option<f64>,
    rss_peak: f64,
    rss_end: f64,
    cpu: f64,
    tip: Latency,
    tx: TxOutcome,
    figure: String,
    notes: Vec<String>,
}

impl Row {
    fn failed(attack: Attack, error: String) -> Row {
        Row {
            attack,
            error: Some(error),
            connected: None,
            synced: None,
            rss_peak: 0.0,
            rss_end: 0.0,
            cpu: 0.0,
            tip: Latency::default(),
            tx: TxOutcome::NotSent,
            figure: String::new(),
            notes: Vec::new(),
        }
    }

    fn cells(&self) -> Vec<String> {
        if let Some(e) = &self.error {
            return vec![self.attack.name().into(), format!("failed: {e}")];
        }
        let secs = |v: Option<f64>| v.map_or("no".to_string(), |s| format!("{s:.2}"));
        vec![
            self.attack.name().into(),
            format!("{} / {}", secs(self.connected), secs(self.synced)),
            format!("{:.0} / {:.0}", self.rss_peak, self.rss_end),
            format!("{:.0}", self.cpu),
            self.tip.cell(),
            self.tx.cell(),
            self.figure.clone(),
        ]
    }
}

/// Latencies of one probe, in milliseconds, and how many failed.
#[derive(Default)]
struct Latency {
    ok: Vec<f64>,
    failed: usize,
}

impl Latency {
    fn record(&mut self, ms: Option<f64>) {
        match ms {
            Some(ms) => self.ok.push(ms),
            None => self.failed += 1,
        }
    }

    fn percentile(&self, p: f64) -> Option<f64> {
        let mut v = self.ok.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let i = ((v.len() - 1) as f64 * p / 100.0).round() as usize;
        v.get(i).copied()
    }

    fn cell(&self) -> String {
        let mut s = match (self.percentile(50.0), self.percentile(99.0)) {
            (Some(a), Some(b)) => format!("{a:.1} / {b:.1}"),
            _ => "-".into(),
        };
        if self.failed > 0 {
            s.push_str(&format!(
                " ({} of {} failed)",
                self.failed,
                self.failed + self.ok.len()
            ));
        }
        s
    }
}

/// What became of the measured transfer.
enum TxOutcome {
    /// The honest node never synced, so it was not sent.
    NotSent,
    /// The honest node refused it.
    Refused(String),
    /// It reached the attacked node's mempool after this many seconds.
    Arrived(f64),
    /// It had not arrived after this many seconds.
    Missing(f64),
}

impl TxOutcome {
    fn cell(&self) -> String {
        match self {
            TxOutcome::NotSent => "-".into(),
            TxOutcome::Refused(e) => format!("refused: {e}"),
            TxOutcome::Arrived(s) => format!("{s:.2}"),
            TxOutcome::Missing(s) => format!("no ({s:.0} s)"),
        }
    }
}

/// What the honest node saw.
struct Honest {
    connected: Option<f64>,
    synced: Option<f64>,
    tx: TxOutcome,
}

/// The node's arguments: a free P2P port and explorer port on 127.0.0.1.
fn node_args(genesis: &Path, data: &Path, peer: Option<SocketAddr>) -> Vec<String> {
    let mut args: Vec<String> = [
        "--genesis",
        &genesis.display().to_string(),
        "--data-dir",
        &data.display().to_string(),
        "--listen",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(p) = peer {
        args.extend(["--peer".to_string(), p.to_string()]);
    }
    args
}

/// Starts `ferrite-node` with `args`, under `ulimit -n fd_limit` if given.
fn start_node(bin: &Path, args: &[String], fd_limit: Option<u32>) -> Running {
    let cmd = match fd_limit {
        None => {
            let mut c = Command::new(bin);
            c.args(args);
            c
        }
        Some(n) => {
            // `exec` keeps the pid: the one sampled is the node's.
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                .arg(bin)
                .args(args);
            c
        }
    };
    Running::spawn(cmd)
}

/// The address printed after `prefix` (`p2p listening on `, `explorer: http://`).
fn printed_addr(n: &Running, prefix: &str) -> Res<SocketAddr> {
    let line = n
        .wait_for_line(prefix, 60)
        .ok_or_else(|| format!("the node never printed {prefix:?}: {:?}", n.lines()))?;
    let at = line.find(prefix).ok_or("prefix vanished")? + prefix.len();
    let addr = line[at..]
        .split(|c: char| c == '/' || c.is_whitespace())
        .next()
        .unwrap_or("");
    Ok(addr.parse()?)
}

fn import(env: &Env, data: &Path) -> Res<()> {
    let out = Command::new(&env.bin)
        .arg("import")
        .arg("--file")
        .arg(&env.chain.file)
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "warn")
        .output()?;
    if !out.status.success() {
        return Err(format!("import failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(())
}

/// Waits until the node at `http` reports `height`.
fn wait_height(http: SocketAddr, height: u64, secs: u64) -> Res<()> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if let Ok((200, body)) = http_request(http, "GET", "/api/blocks/tip/height", b"") {
            if String::from_utf8_lossy(&body).trim().parse::<u64>().ok() == Some(height) {
                return Ok(());
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
    Err(format!("the node did not reach height {height} within {secs} s").into())
}

fn run_row(env: &Env, attack: Attack) -> Res<Row> {
    let dir = env.dir.path().join(attack.name());
    let data = dir.join("attacked");
    import(env, &data)?;
    let genesis = data.join("genesis.json");
    let fd_limit = (attack == Attack::IdleHttp).then_some(HTTP_FD_LIMIT);
    let mut node = start_node(&env.bin, &node_args(&genesis, &data, None), fd_limit);
    let target = Target {
        p2p: printed_addr(&node, "p2p listening on ")?,
        http: printed_addr(&node, "explorer: http://")?,
        genesis: env.chain.genesis,
        largest: env.chain.largest,
    };
    wait_height(target.http, env.chain.height, 60)?;
    let pid = node.child.id();
    let before = metrics(target.http)?;
    let rss_start = rss_kib(pid).unwrap_or(0) as f64 / 1024.0;
    let ticks0 = cpu_ticks(pid).unwrap_or(0);
    let machine0 = MachineTicks::now();
    let t0 = Instant::now();
    let end = t0 + env.secs;
    let stop_attack = AtomicBool::new(false);
    let stop_sampler = AtomicBool::new(false);
    let (own, honest, samples, ticks1, machine1, secs) = thread::scope(|s| {
        let sampler = s.spawn(|| sample(pid, target.http, &stop_sampler));
        let attacker = s.spawn(|| attack.run(&target, &stop_attack));
        let honest = s.spawn(|| honest(env, &genesis, &dir, &target, t0, end));
        let honest = joined(honest.join());
        if let Some(left) = end.checked_duration_since(Instant::now()) {
            thread::sleep(left);
        }
        stop_attack.store(true, Ordering::Release);
        let own = joined(attacker.join());
        let ticks1 = cpu_ticks(pid).unwrap_or(ticks0);
        let machine1 = MachineTicks::now();
        let secs = t0.elapsed().as_secs_f64();
        stop_sampler.store(true, Ordering::Release);
        let samples = sampler.join().unwrap_or_default();
        (own, honest, samples, ticks1, machine1, secs)
    });
    // The gauges (bans) are set once a second.
    thread::sleep(Duration::from_millis(1_500));
    let after = metrics(target.http).unwrap_or_default();
    let alive = node.alive();
    let budget = node
        .lines()
        .into_iter()
        .find(|l| l.contains("descriptor budget"))
        .and_then(|l| ferrite_tests::field(&l, "http_connections").map(str::to_string));
    let (status, lines) = node.terminate(20);

    let own = own?;
    let honest = honest?;
    let delta = Delta { before, after };
    let mut notes = Vec::new();
    if !own.detail.is_empty() {
        notes.push(format!("attack: {}", own.detail));
    }
    let series: Vec<String> = samples
        .rss_series_kib
        .iter()
        .map(|k| format!("{:.0}", *k as f64 / 1024.0))
        .collect();
    notes.push(format!(
        "node: RSS at start {rss_start:.0} MiB, every {} s {}; /healthy {} ms",
        RSS_EVERY.as_secs(),
        series.join(" "),
        samples.healthy.cell()
    ));
    notes.push(if samples.scrapes > 0 {
        format!(
            "metrics ({} scrapes): peers max {:.0}, queued bytes peak {:.2} MiB",
            samples.scrapes,
            samples.peers_max,
            samples.queued_peak / MIB
        )
    } else {
        "metrics: no scrape answered during the attack".into()
    });
    let defences = delta.defences();
    if !defences.is_empty() {
        notes.push(format!("defences: {defences}"));
    }
    if let Some(b) = budget.filter(|_| attack == Attack::IdleHttp) {
        notes.push(format!("descriptor budget: http_connections={b}"));
    }
    if !alive {
        notes.push("THE NODE EXITED DURING THE ATTACK".into());
    }
    if !status.is_some_and(|s| s.success()) {
        notes.push(format!("node stop: {status:?} (not a clean exit)"));
    }
    notes.extend(warnings(&lines));
    if let (Some(m0), Some(m1)) = (machine0, machine1) {
        // Busy time of the whole machine, less the node's and this process's (the honest node
        // included: it was waited for): what other work took meanwhile.
        let node = ticks1.saturating_sub(ticks0);
        let others = (m1.busy.saturating_sub(m0.busy))
            .saturating_sub(node)
            .saturating_sub(m1.this.saturating_sub(m0.this));
        notes.push(format!(
            "CPU of this process and the honest node {:.0}%, of other processes {:.0}%",
            m1.this.saturating_sub(m0.this) as f64 / env.clk_tck / secs * 100.0,
            others as f64 / env.clk_tck / secs * 100.0
        ));
    }
    let figure = figure(attack, &own, &delta, &samples, &honest, secs);
    Ok(Row {
        attack,
        error: None,
        connected: honest.connected,
        synced: honest.synced,
        rss_peak: samples.rss_peak_kib as f64 / 1024.0,
        rss_end: samples.rss_last_kib as f64 / 1024.0,
        cpu: ticks1.saturating_sub(ticks0) as f64 / env.clk_tck / secs * 100.0,
        tip: samples.tip,
        tx: honest.tx,
        figure,
        notes,
    })
}

/// A scoped thread's result, a panic made an error.
fn joined<T>(r: thread::Result<Res<T>>) -> Res<T> {
    r.unwrap_or_else(|_| Err("a measuring thread panicked".into()))
}

/// The attack-specific figure of the table.
fn figure(attack: Attack, own: &Outcome, d: &Delta, s: &Samples, h: &Honest, secs: f64) -> String {
    let defence = |a: &str| d.delta(&format!("ferrite_p2p_defences_total{{action=\"{a}\"}}"));
    match attack {
        Attack::Baseline => format!("transfer in {}", h.tx.cell()),
        Attack::Reopen | Attack::SlowHandshake | Attack::PingOnly => format!(
            "evicted {:.0}, handshakes cut {:.0}",
            defence("evicted"),
            defence("handshake_cut")
        ),
        Attack::UnreadHeaders => format!("queued bytes peak {:.1} MiB", s.queued_peak / MIB),
        Attack::Violations => format!(
            "{:.0} bans/s; table {:.0} addr / {:.0} node",
            defence("ban") / own.busy_secs.unwrap_or(secs),
            d.after("ferrite_p2p_bans{kind=\"address\"}"),
            d.after("ferrite_p2p_bans{kind=\"node\"}")
        ),
        Attack::InvFlood => format!(
            "transfer in {} (announcements ignored {:.0})",
            h.tx.cell(),
            defence("tx_announcements_ignored")
        ),
        Attack::SameBlock => format!(
            "{:.2} MB/s uploaded as blocks",
            d.delta("ferrite_p2p_sent_bytes_total{message=\"block\"}") / secs / 1e6
        ),
        Attack::IdleHttp => format!(
            "{}; /healthy {} ms",
            own.figure.as_deref().unwrap_or("-"),
            s.healthy.cell()
        ),
    }
}

/// Distinct warning and error messages of the node's output, with counts (at most 6).
fn warnings(lines: &[String]) -> Vec<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for l in lines {
        let Some(level) = ["WARN", "ERROR", "panicked"]
            .iter()
            .find(|w| l.contains(*w))
        else {
            continue;
        };
        let from = l.find(level).map_or(0, |i| i + level.len());
        let rest = &l[from..];
        // After the level comes the module and `: `, then the message, then `key=value` fields.
        let msg = rest.split_once(": ").map_or(rest, |(_, m)| m);
        let words: Vec<&str> = msg
            .split_whitespace()
            .take_while(|w| !w.contains('='))
            .collect();
        *counts
            .entry(format!("{level} {}", words.join(" ")))
            .or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by_key(|e| std::cmp::Reverse(e.1));
    v.into_iter()
        .take(6)
        .map(|(m, n)| format!("log: {n} x {m}"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Measuring

/// What the sampler saw.
#[derive(Default)]
struct Samples {
    rss_peak_kib: u64,
    rss_last_kib: u64,
    tip: Latency,
    healthy: Latency,
    /// RSS every [`RSS_EVERY`] (whether it settles or grows).
    rss_series_kib: Vec<u64>,
    queued_peak: f64,
    peers_max: f64,
    /// Scrapes of `/metrics` that answered.
    scrapes: usize,
}

/// How often the sampler keeps an RSS sample for the series.
const RSS_EVERY: Duration = Duration::from_secs(5);

/// Every [`TICK`] until `stop`: RSS, tip and `/healthy` latencies, queued bytes, peers.
fn sample(pid: u32, http: SocketAddr, stop: &AtomicBool) -> Samples {
    let mut s = Samples::default();
    let started = Instant::now();
    while !stop.load(Ordering::Acquire) {
        let tick = Instant::now();
        if let Some(kib) = rss_kib(pid) {
            s.rss_peak_kib = s.rss_peak_kib.max(kib);
            s.rss_last_kib = kib;
            let due = started.elapsed().as_millis() / RSS_EVERY.as_millis();
            if s.rss_series_kib.len() as u128 <= due {
                s.rss_series_kib.push(kib);
            }
        }
        s.tip.record(timed_get(http, "/api/blocks/tip/height"));
        s.healthy.record(timed_get(http, "/healthy"));
        if let Ok(text) = metrics(http) {
            s.scrapes += 1;
            s.queued_peak = s
                .queued_peak
                .max(metric(&text, "ferrite_p2p_queued_bytes").unwrap_or(0.0));
            s.peers_max = s
                .peers_max
                .max(metric(&text, "ferrite_peers").unwrap_or(0.0));
        }
        if let Some(left) = TICK.checked_sub(tick.elapsed()) {
            thread::sleep(left);
        }
    }
    s
}

/// The honest node: started at `t0 + HONEST_AT`, polled until connected and synced or `end`;
/// then the measured transfer.
fn honest(
    env: &Env,
    genesis: &Path,
    dir: &Path,
    t: &Target,
    t0: Instant,
    end: Instant,
) -> Res<Honest> {
    if let Some(left) = (t0 + HONEST_AT).checked_duration_since(Instant::now()) {
        thread::sleep(left);
    }
    let started = Instant::now();
    let node = start_node(
        &env.bin,
        &node_args(genesis, &dir.join("honest"), Some(t.p2p)),
        None,
    );
    let http = printed_addr(&node, "explorer: http://")?;
    let (mut connected, mut synced) = (None, None);
    while synced.is_none() && Instant::now() < end {
        if let Ok((200, body)) = http_request(http, "GET", "/api/node/info", b"") {
            if let Ok(info) = serde_json::from_slice::<serde_json::Value>(&body) {
                let at = started.elapsed().as_secs_f64();
                if connected.is_none() && info["peers"].as_u64().unwrap_or(0) > 0 {
                    connected = Some(at);
                }
                if info["tip"]["height"].as_u64().unwrap_or(0) >= env.chain.height {
                    synced = Some(at);
                }
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
    let tx = if synced.is_some() {
        relay_transfer(&env.tx, http, t.http, end)
    } else {
        TxOutcome::NotSent
    };
    let _ = node.terminate(20);
    Ok(Honest {
        connected,
        synced,
        tx,
    })
}

/// Posts `tx` to the honest node and waits for the attacked node's mempool to hold it.
fn relay_transfer(
    tx: &SignedTransaction,
    honest: SocketAddr,
    attacked: SocketAddr,
    end: Instant,
) -> TxOutcome {
    let body = hex::encode(tx.encode());
    let sent = Instant::now();
    match http_request(honest, "POST", "/api/tx", body.as_bytes()) {
        Ok((200, _)) => {}
        Ok((status, answer)) => {
            return TxOutcome::Refused(format!("{status} {}", String::from_utf8_lossy(&answer)))
        }
        Err(e) => return TxOutcome::Refused(e.to_string()),
    }
    let path = format!("/api/tx/{}", tx.id());
    let deadline = end.max(sent + TX_WAIT);
    while Instant::now() < deadline {
        if let Ok((200, _)) = http_request(attacked, "GET", &path, b"") {
            return TxOutcome::Arrived(sent.elapsed().as_secs_f64());
        }
        thread::sleep(Duration::from_millis(50));
    }
    TxOutcome::Missing(sent.elapsed().as_secs_f64())
}

/// Metrics before and after an attack.
struct Delta {
    before: String,
    after: String,
}

impl Delta {
    fn delta(&self, series: &str) -> f64 {
        metric(&self.after, series).unwrap_or(0.0) - metric(&self.before, series).unwrap_or(0.0)
    }

    fn after(&self, series: &str) -> f64 {
        metric(&self.after, series).unwrap_or(0.0)
    }

    /// Every `ferrite_p2p_defences_total` action that moved, `action=count`.
    fn defences(&self) -> String {
        let prefix = "ferrite_p2p_defences_total{action=\"";
        let mut out = Vec::new();
        for l in self.after.lines() {
            if let Some(rest) = l.strip_prefix(prefix) {
                if let Some((action, _)) = rest.split_once('"') {
                    let n = self.delta(&format!("{prefix}{action}\"}}"));
                    if n > 0.0 {
                        out.push(format!("{action}={n:.0}"));
                    }
                }
            }
        }
        out.join(", ")
    }
}

/// The value of `series` (name and labels exactly) in a Prometheus text.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

fn metrics(http: SocketAddr) -> Res<String> {
    match http_request(http, "GET", "/metrics", b"")? {
        (200, body) => Ok(String::from_utf8_lossy(&body).into_owned()),
        (status, _) => Err(format!("/metrics answered {status}").into()),
    }
}

/// Milliseconds a GET of `path` took, if it answered 200.
fn timed_get(http: SocketAddr, path: &str) -> Option<f64> {
    let t = Instant::now();
    match http_request(http, "GET", path, b"") {
        Ok((200, _)) => Some(t.elapsed().as_secs_f64() * 1000.0),
        _ => None,
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`); the status and body.
fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> io::Result<(u16, Vec<u8>)> {
    let timeout = Duration::from_secs(5);
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::other("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::other("no status"))?;
    let mut body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Ok((status, body))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..end]).trim(), 16).unwrap_or(0);
        let start = end + 2;
        if size == 0 || start + size > b.len() {
            break;
        }
        out.extend_from_slice(&b[start..start + size]);
        b = &b[(start + size + 2).min(b.len())..];
    }
    out
}

/// Resident set of `pid`, KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces; fields 14 and 15
    // are the 12th and 13th after it.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// CPU time of the whole machine and of this process, in clock ticks (other work on the
/// machine skews every figure).
#[derive(Clone, Copy)]
struct MachineTicks {
    /// Every core's busy time (`/proc/stat`: user, nice, system, irq, softirq, steal).
    busy: u64,
    /// This process's, with its children that were waited for (the honest nodes, imports).
    this: u64,
}

impl MachineTicks {
    fn now() -> Option<MachineTicks> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal
        let busy = [0, 1, 2, 5, 6, 7].iter().filter_map(|i| cpu.get(*i)).sum();
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        let fields: Vec<&str> = own.rsplit_once(')')?.1.split_whitespace().collect();
        // utime, stime, cutime, cstime: fields 14 to 17.
        let this = (11..15)
            .filter_map(|i| fields.get(i)?.parse::<u64>().ok())
            .sum();
        Some(MachineTicks { busy, this })
    }
}

/// Clock ticks per second (`getconf CLK_TCK`; Linux's USER_HZ is 100 everywhere else).
fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

// ---------------------------------------------------------------------------------------------
// A wire peer for attacks: blocking I/O with read timeouts that lose nothing (bytes read are
// kept until a whole record, then a whole frame, is there), so one thread can both read and
// write, and blocks are counted without being decoded.

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

struct Conn {
    stream: TcpStream,
    magic: [u8; 4],
    sealer: Sealer,
    opener: Opener,
    /// Bytes read and not yet opened as records.
    raw: Vec<u8>,
    /// Opened bytes; frames start at `pos`.
    plain: Vec<u8>,
    pos: usize,
    record: Vec<u8>,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects with a fresh identity and completes both handshakes, claiming `listen_port`;
    /// with `rcvbuf`, the socket's receive buffer is set (and the kernel's autotuning off).
    fn dial(t: &Target, listen_port: u16, rcvbuf: Option<usize>) -> io::Result<Conn> {
        let timeout = Duration::from_secs(5);
        let mut stream = match rcvbuf {
            None => TcpStream::connect_timeout(&t.p2p, timeout)?,
            Some(n) => {
                let sock =
                    socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
                sock.set_recv_buffer_size(n)?;
                sock.connect_timeout(&t.p2p.into(), timeout)?;
                sock.into()
            }
        };
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_write_timeout(Some(timeout))?;
        let (opener, sealer) = secure_dial(&mut stream, t.genesis, None)?.codecs();
        let mut c = Conn {
            stream,
            magic: network_magic(&t.genesis),
            sealer,
            opener,
            raw: Vec::new(),
            plain: Vec::new(),
            pos: 0,
            record: Vec::new(),
            buf: vec![0; 64 * 1024],
        };
        c.set_read_timeout(POLL)?;
        c.send(&Message::Version(version(t.genesis, listen_port)))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let (mut theirs, mut acked) = (false, false);
        while !(theirs && acked) {
            if Instant::now() > deadline {
                return Err(io::ErrorKind::TimedOut.into());
            }
            match c.frame()? {
                Some((MSG_VERSION, _)) => {
                    c.send(&Message::Verack)?;
                    theirs = true;
                }
                Some((MSG_VERACK, _)) => acked = true,
                _ => {}
            }
        }
        Ok(c)
    }

    fn set_read_timeout(&self, d: Duration) -> io::Result<()> {
        self.stream.set_read_timeout(Some(d))
    }

    fn send(&mut self, m: &Message) -> io::Result<()> {
        self.send_raw(&m.to_frame(self.magic))
    }

    /// Sends frames (as few records as fit).
    fn send_raw(&mut self, frames: &[u8]) -> io::Result<()> {
        let mut out = Vec::new();
        self.sealer.seal(frames, &mut out).map_err(other)?;
        self.stream.write_all(&out)
    }

    /// The next frame's type and payload; `None` if nothing whole came within the timeout.
    fn frame(&mut self) -> io::Result<Option<(u8, Vec<u8>)>> {
        loop {
            if let Some(f) = self.take_frame()? {
                return Ok(Some(f));
            }
            if self.open_record()? {
                continue;
            }
            match self.stream.read(&mut self.buf) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.raw.extend_from_slice(&self.buf[..n]),
                Err(e) if timed_out(&e) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn take_frame(&mut self) -> io::Result<Option<(u8, Vec<u8>)>> {
        let avail = &self.plain[self.pos..];
        if avail.len() < FRAME_HEADER_LEN {
            return Ok(None);
        }
        let len = u32::from_le_bytes([avail[5], avail[6], avail[7], avail[8]]) as usize;
        let cap = type_info(avail[4], 64 << 20).map_or(0, |t| t.1);
        if len > cap {
            return Err(other(format!("frame of type {} over its cap", avail[4])));
        }
        if avail.len() < FRAME_HEADER_LEN + len {
            return Ok(None);
        }
        let frame = (
            avail[4],
            avail[FRAME_HEADER_LEN..FRAME_HEADER_LEN + len].to_vec(),
        );
        self.pos += FRAME_HEADER_LEN + len;
        Ok(Some(frame))
    }

    /// Opens one whole record from `raw` into `plain`; false if none is whole yet.
    fn open_record(&mut self) -> io::Result<bool> {
        if self.raw.len() < LEN_PREFIX {
            return Ok(false);
        }
        let len = Opener::record_len([self.raw[0], self.raw[1]]).map_err(other)?;
        if self.raw.len() < LEN_PREFIX + len {
            return Ok(false);
        }
        self.opener
            .open(&self.raw[LEN_PREFIX..LEN_PREFIX + len], &mut self.record)
            .map_err(other)?;
        self.raw.drain(..LEN_PREFIX + len);
        self.plain.drain(..self.pos);
        self.pos = 0;
        self.plain.extend_from_slice(&self.record);
        Ok(true)
    }

    /// Answers a `Ping`, and with `headers` a `GetHeaders` (with nothing new, as a peer at
    /// genesis would); other frames are left to the caller.
    fn answer(&mut self, code: u8, payload: &[u8], headers: bool) -> io::Result<()> {
        match code {
            MSG_PING => {
                if let Ok(Message::Ping(n)) = Message::decode(code, payload) {
                    self.send(&Message::Pong(n))?;
                }
            }
            MSG_GET_HEADERS if headers => self.send(&Message::Headers(Vec::new()))?,
            _ => {}
        }
        Ok(())
    }

    /// True if the node closes the connection within `d`.
    fn closed_within(&mut self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        while Instant::now() < deadline {
            if self.frame().is_err() {
                return true;
            }
        }
        false
    }
}

/// Sleeps `d` in steps, false as soon as `stop` is set.
fn nap(stop: &AtomicBool, d: Duration) -> bool {
    let until = Instant::now() + d;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        if stop.load(Ordering::Acquire) {
            return false;
        }
        thread::sleep(left.min(Duration::from_millis(50)));
    }
    !stop.load(Ordering::Acquire)
}

fn stopped(stop: &AtomicBool) -> bool {
    stop.load(Ordering::Acquire)
}

fn count(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Runs `n` copies of `f` (given their index) on small threads until they return.
fn threads(n: usize, f: impl Fn(usize) + Sync) -> Res<()> {
    thread::scope(|s| {
        let f = &f;
        for i in 0..n {
            thread::Builder::new()
                .stack_size(SMALL_STACK)
                .spawn_scoped(s, move || f(i))?;
        }
        Ok(())
    })
}

/// True if a nonblocking socket was closed by the other end (what it sent is read and dropped).
fn peer_closed(s: &mut TcpStream, buf: &mut [u8]) -> bool {
    loop {
        match s.read(buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if timed_out(&e) => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return true,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The attacks

fn baseline(stop: &AtomicBool) -> Res<Outcome> {
    while nap(stop, POLL) {}
    Ok(Outcome::default())
}

/// Sockets that connect, send nothing, and reconnect as soon as they are closed.
fn reopen(t: &Target, stop: &AtomicBool) -> Res<Outcome> {
    let (opened, failed) = (AtomicU64::new(0), AtomicU64::new(0));
    let started = Instant::now();
    threads(REOPEN_SOCKETS, |_| {
        let mut buf = [0u8; 512];
        while !stopped(stop) {
            let Ok(mut s) = TcpStream::connect_timeout(&t.p2p, Duration::from_secs(1)) else {
                count(&failed);
                nap(stop, Duration::from_millis(50));
                continue;
            };
            count(&opened);
            let _ = s.set_read_timeout(Some(POLL));
            while !stopped(stop) {
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if timed_out(&e) => {}
                    Err(_) => break,
                }
            }
        }
    })?;
    let secs = started.elapsed().as_secs_f64();
    Outcome::detail(format!(
        "{} connections ({:.0}/s), {} connects failed",
        get(&opened),
        get(&opened) as f64 / secs,
        get(&failed)
    ))
}

/// Sockets sending the transport handshake's first message a byte a second, reopened when
/// the node closes them.
fn slow_handshake(t: &Target, stop: &AtomicBool) -> Res<Outcome> {
    let me = Identity::generate();
    let role = Role::Dialer { expect: None };
    let hello = Handshake::new(&me, &OurChain::bare(t.genesis), role)?.write()?;
    let mut socks: Vec<Option<(TcpStream, usize)>> = (0..SLOW_SOCKETS).map(|_| None).collect();
    let (mut opened, mut closed, mut failed) = (0u64, 0u64, 0u64);
    let mut buf = [0u8; 512];
    while !stopped(stop) {
        let tick = Instant::now();
        for slot in socks.iter_mut() {
            if let Some((s, _)) = slot {
                if peer_closed(s, &mut buf) {
                    *slot = None;
                    closed += 1;
                }
            }
            if slot.is_none() {
                match TcpStream::connect_timeout(&t.p2p, Duration::from_millis(500)) {
                    Ok(s) if s.set_nonblocking(true).is_ok() => {
                        opened += 1;
                        *slot = Some((s, 0));
                    }
                    _ => failed += 1,
                }
            }
            if let Some((s, sent)) = slot {
                if *sent < hello.len() {
                    match s.write(&hello[*sent..*sent + 1]) {
                        Ok(n) => *sent += n,
                        Err(e) if timed_out(&e) => {}
                        Err(_) => {
                            *slot = None;
                            closed += 1;
                        }
                    }
                }
            }
        }
        if let Some(left) = Duration::from_secs(1).checked_sub(tick.elapsed()) {
            nap(stop, left);
        }
    }
    Outcome::detail(format!(
        "{opened} sockets opened, {closed} closed by the node, {failed} connects failed"
    ))
}

/// Peers that complete the handshake and then only answer pings, reconnecting when dropped.
fn ping_only(t: &Target, stop: &AtomicBool) -> Res<Outcome> {
    let (sessions, dropped, failed) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let held_ms = AtomicU64::new(0);
    threads(PING_PEERS, |_| {
        while !stopped(stop) {
            let Ok(mut c) = Conn::dial(t, 0, None) else {
                count(&failed);
                nap(stop, POLL);
                continue;
            };
            count(&sessions);
            let since = Instant::now();
            while !stopped(stop) {
                let alive = match c.frame() {
                    Ok(Some((code, p))) if code == MSG_PING => c.answer(code, &p, false).is_ok(),
                    Ok(_) => true,
                    Err(_) => false,
                };
                if !alive {
                    count(&dropped);
                    held_ms.fetch_add(since.elapsed().as_millis() as u64, Ordering::Relaxed);
                    break;
                }
            }
        }
    })?;
    let drops = get(&dropped);
    Outcome::detail(format!(
        "{} sessions, {drops} dropped by the node (held {:.1} s on average), {} handshakes \
         failed",
        get(&sessions),
        get(&held_ms) as f64 / 1000.0 / drops.max(1) as f64,
        get(&failed)
    ))
}

/// Peers with a small receive buffer that ask for headers from genesis and never read.
fn unread_headers(t: &Target, stop: &AtomicBool) -> Res<Outcome> {
    let ask = Message::GetHeaders {
        locator: vec![t.genesis],
        stop: Hash::ZERO,
    }
    .to_frame(network_magic(&t.genesis));
    let (first, more) = (ask.repeat(UNREAD_FIRST), ask.repeat(UNREAD_PER_SEC));
    let (sessions, dropped, failed, asked) = (
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
    );
    threads(UNREAD_PEERS, |_| {
        while !stopped(stop) {
            let Ok(mut c) = Conn::dial(t, 0, Some(UNREAD_RCVBUF)) else {
                count(&failed);
                nap(stop, POLL);
                continue;
            };
            count(&sessions);
            let mut batch = &first;
            loop {
                if c.send_raw(batch).is_err() {
                    count(&dropped);
                    break;
                }
                asked.fetch_add((batch.len() / ask.len()) as u64, Ordering::Relaxed);
                batch = &more;
                if !nap(stop, Duration::from_secs(1)) {
                    break;
                }
            }
        }
    })?;
    Outcome::detail(format!(
        "{} sessions, {} GetHeaders sent, {} sessions ended by a failed write, {} handshakes \
         failed",
        get(&sessions),
        get(&asked),
        get(&dropped),
        get(&failed)
    ))
}

/// Fresh identities, each sending a second `Version` after the handshake.
fn violations(t: &Target, stop: &AtomicBool) -> Res<Outcome> {
    let next = AtomicUsize::new(0);
    let (closed, open, failed) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let started = Instant::now();
    threads(VIOLATOR_THREADS, |_| {
        while !stopped(stop) {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= VIOLATORS {
                break;
            }
            let port = (VIOLATOR_PORT + i % 30_000) as u16;
            match Conn::dial(t, port, None) {
                Ok(mut c) => {
                    let sent = c.send(&Message::Version(version(t.genesis, port))).is_ok();
                    if sent && c.closed_within(Duration::from_secs(5)) {
                        count(&closed);
                    } else {
                        count(&open);
                    }
                }
                Err(_) => count(&failed),
            }
        }
    })?;
    let secs = started.elapsed().as_secs_f64();
    Ok(Outcome {
        detail: format!(
            "{} identities closed after their violation ({:.0}/s), {} still open after 5 s, {} \
             handshakes failed, in {secs:.1} s",
            get(&closed),
            get(&closed) as f64 / secs,
            get(&open),
            get(&failed)
        ),
        figure: None,
        busy_secs: Some(secs),
    })
}

/// Peers announcing fresh random transfer ids and never delivering them.
fn inv_flood(t: &Target, stop: &AtomicBool) -> Res<Outcome> {
    let (sessions, dropped, announced, requested) = (
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
    );
    threads(INV_PEERS, |_| {
        while !stopped(stop) {
            let Ok(mut c) = Conn::dial(t, 0, None) else {
                nap(stop, POLL);
                continue;
            };
            count(&sessions);
            if c.set_read_timeout(Duration::from_millis(20)).is_err() {
                continue;
            }
            let mut next = Instant::now();
            let alive = loop {
                if stopped(stop) {
                    break true;
                }
                if Instant::now() >= next {
                    let ids: Vec<Hash> = (0..INV_IDS).map(|_| Hash(rand::random())).collect();
                    if c.send(&Message::InvTx(ids)).is_err() {
                        break false;
                    }
                    announced.fetch_add(INV_IDS as u64, Ordering::Relaxed);
                    next += INV_EVERY;
                }
                match c.frame() {
                    Ok(Some((MSG_GET_TXS, p))) => {
                        if let Ok(Message::GetTxs(ids)) = Message::decode(MSG_GET_TXS, &p) {
                            requested.fetch_add(ids.len() as u64, Ordering::Relaxed);
                        }
                    }
                    Ok(Some((code, p))) => {
                        if c.answer(code, &p, true).is_err() {
                            break false;
                        }
                    }
                    Ok(None) => {}
                    Err(_) => break false,
                }
            };
            if !alive {
                count(&dropped);
            }
        }
    })?;
    Outcome::detail(format!(
        "{} sessions, {} dropped; {} ids announced, {} requested by the node",
        get(&sessions),
        get(&dropped),
        get(&announced),
        get(&requested)
    ))
}

/// Peers asking for the largest block 128 times per request, reading everything; a request is
/// answered when its block or a `NotFound` naming it comes (a node sends a block named many
/// times in one request once; any further copy is counted as it comes). A peer whose request
/// got `NotFound`, or nothing within [`GREEDY_WAIT`], reconnects with a fresh identity.
fn same_block(t: &Target, stop: &AtomicBool) -> Res<Outcome> {
    let ask = Message::GetBlocks(vec![t.largest; GREEDY_COPIES]);
    let (sessions, copies, not_found, bytes, dropped, unanswered) = (
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
    );
    let started = Instant::now();
    threads(GREEDY_PEERS, |_| {
        while !stopped(stop) {
            let Ok(mut c) = Conn::dial(t, 0, None) else {
                nap(stop, POLL);
                continue;
            };
            count(&sessions);
            'session: while !stopped(stop) {
                if c.send(&ask).is_err() {
                    count(&dropped);
                    break;
                }
                let asked = Instant::now();
                let served = loop {
                    match c.frame() {
                        _ if stopped(stop) => break 'session,
                        Ok(Some((MSG_BLOCK, p))) => {
                            count(&copies);
                            bytes.fetch_add((FRAME_HEADER_LEN + p.len()) as u64, Ordering::Relaxed);
                            break true;
                        }
                        Ok(Some((MSG_NOT_FOUND, p))) => {
                            if let Ok(Message::NotFound(ids)) = Message::decode(MSG_NOT_FOUND, &p) {
                                not_found.fetch_add(ids.len() as u64, Ordering::Relaxed);
                                if ids.contains(&t.largest) {
                                    break false;
                                }
                            }
                        }
                        Ok(Some((code, p))) => {
                            if c.answer(code, &p, true).is_err() {
                                count(&dropped);
                                break 'session;
                            }
                        }
                        Ok(None) if asked.elapsed() > GREEDY_WAIT => {
                            count(&unanswered);
                            break false;
                        }
                        Ok(None) => {}
                        Err(_) => {
                            count(&dropped);
                            break 'session;
                        }
                    }
                };
                // Nothing more for this identity: a fresh one.
                if !served {
                    break;
                }
            }
        }
    })?;
    let secs = started.elapsed().as_secs_f64();
    Outcome::detail(format!(
        "{} sessions, {} copies received ({:.2} MB/s), {} NotFound, {} requests unanswered \
         after {} s, {} dropped by the node",
        get(&sessions),
        get(&copies),
        get(&bytes) as f64 / secs / 1e6,
        get(&not_found),
        get(&unanswered),
        GREEDY_WAIT.as_secs(),
        get(&dropped)
    ))
}

/// Idle HTTP connections (reopened when closed) and partial request lines, against a node
/// under a descriptor limit of 1,024.
fn idle_http(t: &Target, stop: &AtomicBool) -> Res<Outcome> {
    let (idle, partial) = thread::scope(|s| {
        let idle = s.spawn(|| hold_idle(t.http, stop));
        let partial = s.spawn(|| partial_requests(t.http, stop));
        (joined(idle.join()), joined(partial.join()))
    });
    let ((partial, figure), idle) = (partial?, idle?);
    Ok(Outcome {
        detail: format!("{partial}; {idle}"),
        figure: Some(figure),
        busy_secs: None,
    })
}

/// Keeps [`IDLE_HTTP`] connections open that send nothing.
fn hold_idle(http: SocketAddr, stop: &AtomicBool) -> Res<String> {
    let mut socks: Vec<Option<TcpStream>> = (0..IDLE_HTTP).map(|_| None).collect();
    let (mut opened, mut closed, mut failed) = (0u64, 0u64, 0u64);
    let mut buf = [0u8; 4096];
    while !stopped(stop) {
        let tick = Instant::now();
        // A connect that fails (the backlog is full) ends this round of reopening.
        let mut may_connect = true;
        for slot in socks.iter_mut() {
            if let Some(s) = slot {
                if peer_closed(s, &mut buf) {
                    *slot = None;
                    closed += 1;
                }
            }
            if slot.is_none() && may_connect {
                match TcpStream::connect_timeout(&http, Duration::from_millis(300)) {
                    Ok(s) if s.set_nonblocking(true).is_ok() => {
                        opened += 1;
                        *slot = Some(s);
                    }
                    _ => {
                        failed += 1;
                        may_connect = false;
                    }
                }
            }
        }
        if let Some(left) = Duration::from_millis(500).checked_sub(tick.elapsed()) {
            nap(stop, left);
        }
    }
    Ok(format!(
        "idle: {opened} opened, {closed} closed by the node, {failed} connects failed"
    ))
}

/// Opens [`PARTIAL_HTTP`] connections that send `GET /api/blo` and nothing more; counts how
/// many are still open [`PARTIAL_CHECK`] after the last was opened, then holds them until
/// `stop`.
/// Returns the counts in words and the table's figure.
fn partial_requests(http: SocketAddr, stop: &AtomicBool) -> Res<(String, String)> {
    // After the idle connections are in.
    nap(stop, Duration::from_secs(1));
    let started = Instant::now();
    let mut socks = Vec::new();
    let mut failed = 0u64;
    for _ in 0..PARTIAL_HTTP {
        if started.elapsed() > Duration::from_secs(8) || failed > 50 {
            break;
        }
        match TcpStream::connect_timeout(&http, Duration::from_millis(300)) {
            Ok(mut s) => {
                if s.write_all(b"GET /api/blo").is_ok() && s.set_nonblocking(true).is_ok() {
                    socks.push(s);
                } else {
                    failed += 1;
                }
            }
            Err(_) => failed += 1,
        }
    }
    let took = started.elapsed().as_secs_f64();
    // Measured even when the attack is over: this is the figure.
    thread::sleep(PARTIAL_CHECK);
    let mut buf = [0u8; 4096];
    let open = socks
        .iter_mut()
        .map(|s| !peer_closed(s, &mut buf))
        .filter(|open| *open)
        .count();
    while nap(stop, POLL) {}
    Ok((
        format!(
            "partial: {} opened in {took:.1} s ({failed} failed), {open} open 15 s later",
            socks.len()
        ),
        format!("{open} of {} partial open after 15 s", socks.len()),
    ))
}

// ---------------------------------------------------------------------------------------------
// The table

const COLUMNS: [&str; 7] = [
    "attack",
    "honest connected / synced (s)",
    "RSS peak / end (MiB)",
    "CPU mean (%)",
    "tip p50 / p99 (ms)",
    "transfer relayed (s)",
    "figure",
];

/// The table (markdown, padded), then each row's notes.
fn print_table(rows: &[Row]) {
    let cells: Vec<Vec<String>> = rows.iter().map(Row::cells).collect();
    let mut widths: Vec<usize> = COLUMNS.iter().map(|c| c.len()).collect();
    for r in &cells {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |r: &[String]| {
        let padded: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(i, w)| format!("{:<w$}", r.get(i).map_or("", String::as_str)))
            .collect();
        format!("| {} |", padded.join(" | "))
    };
    println!();
    println!("{}", line(&COLUMNS.map(String::from)));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    println!("|-{}-|", rule.join("-|-"));
    for r in &cells {
        println!("{}", line(r));
    }
    println!();
    for r in rows {
        if r.notes.is_empty() {
            continue;
        }
        println!("{}:", r.attack.name());
        for n in &r.notes {
            println!("  {n}");
        }
    }
}
