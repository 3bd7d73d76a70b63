//! The `ferrite-node` binary: parses the configuration, opens the chain and runs the node or
//! one of the maintenance commands (generate, import, check).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use ferrite_core::dev::dev_key;
use ferrite_core::{Address, BodyChecked, Genesis, GenesisConfig};
use ferrite_node::chain::{Chain, Submitted};
use ferrite_node::chainfile::ChainReader;
use ferrite_node::config::{Cli, Command, ConfigError, LogFormat, Settings, DEV_ACCOUNTS};
use ferrite_node::node::{now_secs, CheckedBlock, Node};
use ferrite_node::p2p::Network;
use ferrite_node::store::StoreRead;
use ferrite_node::{devchain, exit, generate, miner};

/// Blocks an import reads and verifies ahead of the one being connected.
const IMPORT_AHEAD: usize = 4;
/// Worker threads of the async runtime (network and timers); validation runs on its own
/// threads.
const RUNTIME_THREADS: usize = 2;
/// How often the node checks that whoever reads its standard output is still there.
const STDOUT_CHECK: std::time::Duration = std::time::Duration::from_millis(250);
/// How long a node may be without peers before it warns, and how often it warns again.
const ALONE_FIRST_WARNING: std::time::Duration = std::time::Duration::from_secs(10);
const ALONE_WARNING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(120);
/// How often the mempool drops expired transfers.
const MEMPOOL_EXPIRY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

use ferrite_node::store::{record_genesis, StoreError, GENESIS_FILE};

fn main() {
    let (cli, matches) = match ferrite_node::config::parse() {
        Ok(parsed) => parsed,
        Err(e) if e.use_stderr() => {
            // One line: the first line of clap's message, which names the problem.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!("{first} (see ferrite-node --help)");
            std::process::exit(exit::USAGE);
        }
        Err(e) => e.exit(),
    };
    let ignored = ferrite_node::config::ignored_flags(&matches);
    if !ignored.is_empty() {
        eprintln!(
            "error: testnet does not read {} (it starts nodes of its own; see ferrite-node testnet --help)",
            ignored.join(", ")
        );
        std::process::exit(exit::USAGE);
    }
    let settings = match Settings::resolve(&cli.opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(exit::CONFIG);
        }
    };
    init_logging(&settings);
    if let Err(e) = run(cli, &settings, &matches) {
        eprintln!("error: {e:#}");
        std::process::exit(exit::code(e.chain()));
    }
    if ferrite_node::out::gone() {
        std::process::exit(exit::STDOUT_CLOSED);
    }
}

fn init_logging(settings: &Settings) {
    // Checked when the settings were resolved.
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log_filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(ferrite_node::terminal::LogWriter::new);
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    match settings.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => {
            if terminal {
                ferrite_node::terminal::use_bar();
            }
            builder.with_ansi(terminal).init()
        }
    }
}

fn run(cli: Cli, settings: &Settings, matches: &clap::ArgMatches) -> anyhow::Result<()> {
    let settings = settings.clone();
    match cli.command.unwrap_or(Command::Run) {
        Command::Config => {
            let file = ferrite_node::config::file_of(&cli.opts)?;
            let rows = ferrite_node::effective::rows(&cli.opts, &file, &settings, matches);
            let text = ferrite_node::effective::render(&rows, cli.opts.config.as_deref());
            ferrite_node::say!("{}", text.trim_end());
            Ok(())
        }
        Command::Completions(c) => {
            let mut cmd = ferrite_node::config::command();
            let mut out = Vec::new();
            clap_complete::generate(c.shell, &mut cmd, "ferrite-node", &mut out);
            ferrite_node::say!("{}", String::from_utf8_lossy(&out).trim_end());
            Ok(())
        }
        Command::Manpage => {
            let mut out = Vec::new();
            clap_mangen::Man::new(ferrite_node::config::command())
                .render(&mut out)
                .context("rendering the man page")?;
            ferrite_node::say!("{}", String::from_utf8_lossy(&out).trim_end());
            Ok(())
        }
        Command::Run => run_node(&settings),
        Command::Generate(g) => {
            let dir = settings.data_dir.clone().unwrap_or_else(|| {
                std::env::temp_dir().join(format!("ferrite-generate-{}", std::process::id()))
            });
            let started = Instant::now();
            let txs = generate::generate(&dir, &g.out, g.blocks, g.txs_per_block, g.accounts)
                .with_context(|| format!("generate --out {}", g.out.display()))?;
            ferrite_node::say!(
                "generated {} blocks, {txs} transfers in {:.1} s -> {}",
                g.blocks,
                started.elapsed().as_secs_f64(),
                g.out.display()
            );
            if settings.data_dir.is_none() {
                let _ = std::fs::remove_dir_all(&dir);
            }
            Ok(())
        }
        Command::Import(args) => import(&settings, &args.file, args.measure_limit),
        Command::Check(args) => check(&settings, &args.at_height),
        Command::Export(args) => export(&settings, &args.out),
        Command::Testnet(args) => ferrite_node::testnet::run(&args),
    }
}

/// The genesis for this run: the one recorded in the data dir, else `--genesis`, else (with
/// `--dev`) the genesis of the first `--peer` that hands over a dev genesis, or a fresh one
/// without peers, else the embedded testnet. The choice is recorded in the data
/// dir so that every later command reopens it with the same chain.
fn load_genesis(settings: &Settings, data_dir: &Path) -> anyhow::Result<(GenesisConfig, Genesis)> {
    let recorded = data_dir.join(GENESIS_FILE);
    let cfg = if settings.genesis.is_none() && recorded.exists() {
        read_genesis(&recorded)?
    } else if let Some(p) = &settings.genesis {
        read_genesis(p)?
    } else if settings.dev && !settings.net.peers.is_empty() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (cfg, from) = rt
            .block_on(ferrite_node::p2p::join::fetch_dev_genesis(
                &settings.net.peers,
            ))
            .context("--dev --peer: cannot join the peer's dev chain")?;
        ferrite_node::say!("joining the dev chain of {}", from.addr);
        cfg
    } else if settings.dev {
        let threads = if settings.mine {
            settings.mine_threads
        } else {
            1
        };
        let rate = devchain::measure_hash_rate(threads, devchain::RATE_PROBE);
        devchain::dev_genesis(now_secs(), settings.dev_block_time, rate)
    } else {
        GenesisConfig::from_json(ferrite_core::genesis::TESTNET_GENESIS_JSON)?
    };
    let genesis = cfg.build().context("invalid genesis")?;
    Ok((cfg, genesis))
}

/// Opens the chain and makes sure the data dir records its genesis. A new data dir gets the
/// file before the store is created, so that a crash in between still leaves them matching; an
/// existing store that lacks it gets it only once the store accepted the genesis.
fn open_recording(
    data_dir: &Path,
    cfg: &GenesisConfig,
    genesis: &Genesis,
    cache: usize,
) -> anyhow::Result<Chain> {
    if !data_dir.join("CURRENT").exists() {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Unusable {
            path: data_dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        record_genesis(data_dir, cfg)?;
    }
    let chain = Chain::open(data_dir, genesis, cache)?;
    record_genesis(data_dir, cfg)?;
    Ok(chain)
}

fn read_genesis(path: &Path) -> anyhow::Result<GenesisConfig> {
    Ok(ferrite_node::store::read_genesis(path)?)
}

fn default_data_dir(genesis_name: &str) -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".ferrite").join(genesis_name)
}

fn run_node(settings: &Settings) -> anyhow::Result<()> {
    // Before anything is created on disk.
    if settings.mine && !settings.dev && settings.miner_address.is_none() {
        return Err(ConfigError::Invalid("--mine needs --miner-address".into()).into());
    }
    let throwaway = settings.dev && settings.data_dir.is_none();
    let data_dir = match &settings.data_dir {
        Some(d) => d.clone(),
        None if settings.dev => {
            std::env::temp_dir().join(format!("ferrite-dev-{}", std::process::id()))
        }
        None => default_data_dir("testnet"),
    };
    let result = run_node_in(settings, &data_dir);
    if throwaway {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    result
}

fn run_node_in(settings: &Settings, data_dir: &Path) -> anyhow::Result<()> {
    let (cfg, genesis) = load_genesis(settings, data_dir)?;
    let params = genesis.params.clone();
    // Before the data dir is created.
    let miner_address = match &settings.miner_address {
        Some(s) => {
            Address::parse(s, &params.prefix).with_context(|| format!("--miner-address {s}"))?
        }
        // Without --dev, --mine came with an address (checked in `run_node`).
        None if settings.dev => dev_key(0).address(),
        None => Address::default(),
    };
    let chain = open_recording(data_dir, &cfg, &genesis, settings.cache_bytes)?;
    let tip = chain.tip_info()?;
    let node = Arc::new(Node::new(chain, settings.mempool.clone())?);
    ferrite_node::say!(
        "ferrite-node {} on chain {} ({})",
        ferrite_node::LONG_VERSION,
        params.chain_name,
        params.genesis_hash
    );
    ferrite_node::say!("data dir: {}", data_dir.display());
    ferrite_node::say!("tip: height {} {}", tip.height, tip.hash);
    if settings.dev {
        ferrite_node::say!("dev accounts (public keys to anyone: never use them on a real chain):");
        let view = node.view();
        for i in 0..DEV_ACCOUNTS {
            let k = dev_key(i);
            let balance = view
                .account_at_tip(&k.address())
                .map(|a| ferrite_core::amount::format_amount(a.balance, params.decimals))
                .unwrap_or_else(|e| format!("unknown ({e})"));
            ferrite_node::say!(
                "  {}  balance {balance}  secret {}",
                k.address().to_bech32(&params.prefix),
                hex::encode(*k.to_bytes())
            );
        }
    }
    let identity = ferrite_node::p2p::identity::Identity::load_or_create(data_dir)
        .context("cannot load this node's identity key")?;
    let node_id = identity.id();
    let miners = if settings.mine {
        ferrite_node::say!(
            "mining on {} thread(s), rewards to {}",
            settings.mine_threads,
            miner_address.to_bech32(&params.prefix)
        );
        miner::spawn(node.clone(), miner_address, settings.mine_threads)
            .context("cannot start mining threads")?
    } else {
        Vec::new()
    };

    let mut net = settings.net.clone();
    if params.genesis_hash == ferrite_core::genesis::testnet()?.params.genesis_hash {
        let seeds = ferrite_node::seeds::parse(ferrite_node::seeds::TESTNET_SEEDS)
            .context("the built-in testnet seed list")?;
        net.peers.extend(seeds);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(RUNTIME_THREADS)
        .enable_all()
        .build()?;
    let network = match rt.block_on(Network::start(
        node.clone(),
        net.clone(),
        identity,
        cfg.to_json(),
    )) {
        Ok(n) => n,
        Err(e) => {
            node.request_shutdown();
            for m in miners {
                let _ = m.join();
            }
            let listen = net.listen.map(|b| b.to_string()).unwrap_or_default();
            return Err(exit::ListenError {
                what: "peers",
                addr: listen,
                source: e,
            }
            .into());
        }
    };
    ferrite_node::say!("node id {node_id}");
    match network.local_addr {
        Some(a) => ferrite_node::say!("p2p listening on {a}"),
        None => ferrite_node::say!("p2p: not listening (outbound connections only)"),
    }
    for p in &net.peers {
        ferrite_node::say!("p2p peer: {p}");
    }
    let mut http_api = None;
    if let Some(addr) = settings.http {
        let api = match ferrite_node::http::Api::new(
            node.clone(),
            network.peer_table(),
            node_id,
            settings.dev,
        ) {
            Ok(api) => api,
            Err(e) => {
                node.request_shutdown();
                for m in miners {
                    let _ = m.join();
                }
                bail!("cannot start the HTTP admission thread: {e}");
            }
        };
        http_api = Some(api.clone());
        match rt.block_on(ferrite_node::http::start(api, addr)) {
            Ok(a) => ferrite_node::say!("explorer: http://{a}/api/node/info"),
            Err(e) => {
                node.request_shutdown();
                for m in miners {
                    let _ = m.join();
                }
                return Err(exit::ListenError {
                    what: "HTTP",
                    addr: addr.to_string(),
                    source: e,
                }
                .into());
            }
        }
    }
    let peers = network.peer_table();
    rt.block_on(async {
        if ferrite_node::out::gone() {
            tracing::warn!("standard output closed; stopping");
            return Ok(());
        }
        let mut expiry = tokio::time::interval(MEMPOOL_EXPIRY_INTERVAL);
        let mut alone = tokio::time::interval_at(
            tokio::time::Instant::now() + ALONE_FIRST_WARNING,
            ALONE_WARNING_INTERVAL,
        );
        // Nothing is written to stdout while the node runs, so its reader leaving is watched.
        let mut watch_stdout = tokio::time::interval(STDOUT_CHECK);
        let signal = wait_for_signal();
        tokio::pin!(signal);
        loop {
            tokio::select! {
                r = &mut signal => return r,
                _ = watch_stdout.tick() => {
                    if ferrite_node::out::reader_left() {
                        tracing::warn!("standard output closed; stopping");
                        return Ok(());
                    }
                }
                _ = alone.tick() => {
                    if !settings.dev && peers.count() == 0 {
                        warn_alone(net.peers.len());
                    }
                }
                _ = expiry.tick() => {
                    let dropped = node.mempool().expire(now_secs());
                    if dropped > 0 {
                        tracing::info!(dropped, "expired mempool transfers");
                    }
                }
            }
        }
    })?;
    if miners.is_empty() {
        tracing::info!("shutting down: closing the store (signal again to exit at once)");
    } else {
        tracing::info!(
            "shutting down: stopping the miner, closing the store (signal again to exit at once)"
        );
    }
    std::thread::spawn(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        if let Ok(rt) = rt {
            let _ = rt.block_on(wait_for_signal());
            eprintln!("second signal: exiting now");
            std::process::exit(exit::INTERRUPTED);
        }
    });
    ferrite_node::terminal::clear();
    node.request_shutdown();
    if let Some(api) = &http_api {
        api.stop();
    }
    for m in miners {
        let _ = m.join();
    }
    network.save();
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    let tip = node.tip();
    drop(http_api);
    drop(network);
    // The block processor's threads end once the runtime is gone and let go of the node; the
    // store must close before the process exits (RocksDB aborts if it is closed after its own
    // statics are destroyed), so wait for them.
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    while Arc::strong_count(&node) > 1 && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(node);
    ferrite_node::say!("stopped at height {} {}", tip.height, tip.hash);
    Ok(())
}

/// The operator's warning while a node that is meant to be on a network has no peer.
fn warn_alone(configured: usize) {
    if configured == 0 {
        tracing::warn!(
            "no peers connected and none to dial: give --bootnode HOST:PORT or --peer HOST:PORT \
             (see docs/operating.md); /ready answers 503 meanwhile"
        );
    } else {
        tracing::warn!(
            configured,
            "no peers connected yet; still dialling the configured peers and bootnodes"
        );
    }
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

fn import(settings: &Settings, file: &Path, measure_limit: bool) -> anyhow::Result<()> {
    let mut reader =
        ChainReader::open(file).with_context(|| format!("import --file {}", file.display()))?;
    let data_dir = settings
        .data_dir
        .clone()
        .context("import needs --data-dir")?;
    let genesis = reader.genesis.build()?;
    let mut chain = open_recording(&data_dir, &reader.genesis, &genesis, settings.cache_bytes)?;
    let started = Instant::now();
    let (mut blocks, mut txs) = (0u64, 0u64);
    // Read and verify signatures a few blocks ahead on a second thread while this one connects.
    let (send, recv) = std::sync::mpsc::sync_channel::<anyhow::Result<CheckedBlock>>(IMPORT_AHEAD);
    let params = genesis.params.clone();
    // A pool of its own, so that verification ahead never queues behind (or blocks) the
    // connecting thread's parallel work on the global pool.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(rayon::current_num_threads())
        .build()?;
    let producer = std::thread::spawn(move || loop {
        let item = match reader.next_block() {
            Ok(Some(b)) => {
                let (height, hash) = (b.header.height, b.hash());
                pool.install(|| {
                    BodyChecked::new(b).map(|body| CheckedBlock::check(&params, body, |_| false))
                })
                .map_err(|e| anyhow::anyhow!("block {height} {hash}: {e}"))
            }
            Ok(None) => break,
            Err(e) => Err(e.into()),
        };
        let stop = item.is_err();
        if send.send(item).is_err() || stop {
            break;
        }
    });
    for item in recv {
        let checked = item?;
        let block = checked.block();
        let n = block.txs.len() as u64;
        let height = block.header.height;
        let hash = block.hash();
        let result = match checked {
            CheckedBlock::Verified(v) => chain.submit_verified(v),
            CheckedBlock::Unverified(b) => chain.submit_body(b),
        };
        match result {
            Ok(Submitted::TipChanged(_)) => {
                ferrite_node::say!("committed {height} {hash}");
                blocks += 1;
                txs += n;
            }
            Ok(other) => ferrite_node::say!("block {height} {hash}: {other:?}"),
            Err(e) => bail!("block {height} {hash}: {e}"),
        }
    }
    let _ = producer.join();
    let secs = started.elapsed().as_secs_f64();
    let tip = chain.tip_info()?;
    let disk = chain.store().disk_bytes();
    drop(chain);
    let rate = txs as f64 / secs.max(1e-9);
    ferrite_node::say!(
        "imported {blocks} blocks, {txs} transfers in {secs:.2} s: {rate:.0} tx/s; tip {} {}",
        tip.height,
        tip.hash
    );
    if txs > 0 {
        ferrite_node::say!(
            "disk: {} bytes, {:.0} bytes per transfer",
            disk,
            disk as f64 / txs as f64
        );
    }
    if let Some(hwm) = peak_rss_kib() {
        ferrite_node::say!("peak RSS: {:.1} MiB", hwm as f64 / 1024.0);
    }
    if measure_limit {
        let limit = ferrite_node::bench::parallel_verify_rate(std::time::Duration::from_secs(3));
        ferrite_node::say!(
            "limit: parallel batch verify {limit:.0} sig/s on {} threads; import/limit = {:.2}",
            rayon::current_num_threads(),
            rate / limit
        );
    }
    Ok(())
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn export(settings: &Settings, out: &Path) -> anyhow::Result<()> {
    let data_dir = settings
        .data_dir
        .clone()
        .unwrap_or_else(|| default_data_dir("testnet"));
    if !data_dir.join("CURRENT").exists() {
        return Err(StoreError::Unusable {
            path: data_dir,
            reason: "no chain in it to export".into(),
        }
        .into());
    }
    let (cfg, genesis) = load_genesis(settings, &data_dir)?;
    let chain = Chain::open(&data_dir, &genesis, settings.cache_bytes)?;
    let started = Instant::now();
    let done = ferrite_node::export::export(&chain, &cfg, out)
        .with_context(|| format!("export --out {}", out.display()))?;
    let tip = chain.tip_info()?;
    ferrite_node::say!(
        "exported {} blocks, {} transfers in {:.2} s to {}; tip {} {}",
        done.blocks,
        done.txs,
        started.elapsed().as_secs_f64(),
        out.display(),
        tip.height,
        tip.hash
    );
    Ok(())
}

fn check(settings: &Settings, heights: &[u64]) -> anyhow::Result<()> {
    let data_dir = settings
        .data_dir
        .clone()
        .context("check needs --data-dir")?;
    let (_, genesis) = load_genesis(settings, &data_dir)?;
    let chain = Chain::open(&data_dir, &genesis, settings.cache_bytes)?;
    let tip = chain.check_full()?;
    ferrite_node::say!(
        "{}",
        serde_json::json!({
            "height": tip.height,
            "hash": tip.hash.to_string(),
            "state_root": tip.state_root.to_string(),
            "ok": true,
        })
    );
    for h in heights {
        let hash = chain.store().hash_at(*h)?;
        ferrite_node::say!(
            "{}",
            serde_json::json!({"at_height": h, "hash": hash.map(|x| x.to_string())})
        );
    }
    Ok(())
}
