//! Running a node: the chain opened on its genesis, the miner, the network and the explorer
//! started in turn, then the main loop (signals, stdout's reader, the no-peer warning,
//! mempool expiry) until a stop, and the shutdown in the order that keeps the store whole.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ferrite_core::dev::dev_key;
use ferrite_core::{Address, ChainParams};
use ferrite_node::chain::TipInfo;
use ferrite_node::config::{ConfigError, Settings, DEV_ACCOUNTS};
use ferrite_node::fdlimit::{Budget, Wanted};
use ferrite_node::http::Api;
use ferrite_node::node::{now_secs, Node};
use ferrite_node::p2p::identity::NodeId;
use ferrite_node::p2p::{NetConfig, Network, PeerTable};
use ferrite_node::progress::{Sample, Tracker};
use ferrite_node::{exit, miner};

use crate::genesis::{default_data_dir, load_genesis, open_recording};

/// Worker threads of the async runtime (network and timers); validation runs on its own
/// threads.
const RUNTIME_THREADS: usize = 2;
/// How often the node checks that whoever reads its standard output is still there.
const STDOUT_CHECK: Duration = Duration::from_millis(250);
/// How long a node may be without peers before it warns, and how often it warns again.
const ALONE_FIRST_WARNING: Duration = Duration::from_secs(10);
const ALONE_WARNING_INTERVAL: Duration = Duration::from_secs(120);
/// How often sync progress is sampled (it is reported every `progress::PROGRESS_INTERVAL`).
const PROGRESS_SAMPLE: Duration = Duration::from_secs(1);
/// How often the mempool drops expired transfers.
const MEMPOOL_EXPIRY_INTERVAL: Duration = Duration::from_secs(60);
/// How long the runtime's tasks get to finish at shutdown.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(2);
/// How long the block processor's threads get to let go of the node at shutdown.
const PROCESSOR_SHUTDOWN: Duration = Duration::from_secs(5);

/// Runs a node in its data dir (a throwaway one for `--dev` without `--data-dir`, removed at
/// the end) until a signal or stdout's reader leaving.
pub(crate) fn run_node(settings: &Settings) -> anyhow::Result<()> {
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
    // Before the store opens its files.
    let budget = descriptor_budget(settings)?;
    let (cfg, genesis) = load_genesis(settings, data_dir)?;
    let params = genesis.params.clone();
    // Before the data dir is created.
    let reward_to = miner_address(settings, &params)?;
    let chain = open_recording(data_dir, &cfg, &genesis, settings.cache_bytes)?;
    let tip = chain.tip_info()?;
    let node = Arc::new(Node::new(chain, settings.mempool.clone())?);
    announce_chain(settings, &node, data_dir, &tip);
    let identity = ferrite_node::p2p::identity::Identity::load_or_create(data_dir)
        .context("cannot load this node's identity key")?;
    let node_id = identity.id();
    let miners = Miners::start(settings, &node, reward_to)?;
    let net = net_config(settings, &params, &budget)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(RUNTIME_THREADS)
        .enable_all()
        .build()?;
    let network = rt
        .block_on(Network::start(
            node.clone(),
            net.clone(),
            identity,
            cfg.to_json(),
        ))
        .map_err(|e| exit::ListenError {
            what: "peers",
            addr: net.listen.map(|b| b.to_string()).unwrap_or_default(),
            source: e,
        })?;
    announce_network(&network, &net, node_id);
    let api = start_http(
        settings,
        &rt,
        &node,
        network.peer_table(),
        node_id,
        budget.http_connections,
    )?;
    let alone = Alone {
        warn: !settings.dev,
        configured: net.peers.len(),
        peers: network.peer_table(),
    };
    let stop = rt.block_on(serve(&node, alone))?;
    shut_down(Parts {
        node,
        miners,
        network,
        api,
        rt,
    });
    match stop {
        Stop::Asked => Ok(()),
        // A non-zero exit, so that a service manager restarts the node.
        Stop::Failed => bail!("the node stopped itself after a failure (see the log above)"),
    }
}

/// Why the main loop ended.
enum Stop {
    /// A signal, or stdout's reader left.
    Asked,
    /// A part of the node (the store) failed and asked the node to stop.
    Failed,
}

/// The reward address, parsed before anything is written: the dev account 0 for `--dev`.
fn miner_address(settings: &Settings, params: &ChainParams) -> anyhow::Result<Address> {
    Ok(match &settings.miner_address {
        Some(s) => {
            Address::parse(s, &params.prefix).with_context(|| format!("--miner-address {s}"))?
        }
        // Without --dev, --mine came with an address (checked in `run_node`).
        None if settings.dev => dev_key(0).address(),
        None => Address::default(),
    })
}

/// What a person starting the node reads first: the chain, the data dir, the tip, and on a
/// dev chain its funded accounts.
fn announce_chain(settings: &Settings, node: &Node, data_dir: &Path, tip: &TipInfo) {
    let params = node.params();
    ferrite_node::say!(
        "ferrite-node {} on chain {} ({})",
        ferrite_node::LONG_VERSION,
        params.chain_name,
        params.genesis_hash
    );
    ferrite_node::say!("data dir: {}", data_dir.display());
    ferrite_node::say!("tip: height {} {}", tip.height, tip.hash);
    if !settings.dev {
        return;
    }
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

/// The soft descriptor limit raised and shared out for what the configuration asks
/// (docs/operating.md); logged as `descriptor budget`. A part that is off asks for nothing.
fn descriptor_budget(settings: &Settings) -> anyhow::Result<Budget> {
    let net = &settings.net;
    let listening = net.listen.is_some();
    let wanted = Wanted {
        p2p_outbound: net.max_outbound,
        p2p_inbound: if listening { net.max_inbound } else { 0 },
        handshakes: if listening { net.handshake_slots } else { 0 },
        http_connections: if settings.http.is_some() {
            settings.max_http_connections
        } else {
            0
        },
    };
    Ok(ferrite_node::fdlimit::plan(wanted)?)
}

/// The network settings, with the built-in seeds added on the testnet, and connection caps no
/// higher than the descriptor budget allows.
fn net_config(
    settings: &Settings,
    params: &ChainParams,
    budget: &Budget,
) -> anyhow::Result<NetConfig> {
    let mut net = settings.net.clone();
    net.max_outbound = net.max_outbound.min(budget.p2p_outbound);
    net.max_inbound = net.max_inbound.min(budget.p2p_inbound);
    net.handshake_slots = net.handshake_slots.min(budget.handshakes);
    if params.genesis_hash == ferrite_core::genesis::testnet()?.params.genesis_hash {
        let seeds = ferrite_node::seeds::parse(ferrite_node::seeds::TESTNET_SEEDS)
            .context("the built-in testnet seed list")?;
        net.peers.extend(seeds);
    }
    Ok(net)
}

fn announce_network(network: &Network, net: &NetConfig, node_id: NodeId) {
    ferrite_node::say!("node id {node_id}");
    match network.local_addr {
        Some(a) => ferrite_node::say!("p2p listening on {a}"),
        None => ferrite_node::say!("p2p: not listening (outbound connections only)"),
    }
    for p in &net.peers {
        ferrite_node::say!("p2p peer: {p}");
    }
}

/// The explorer, unless `--http off`, with at most `max_connections` connections open.
fn start_http(
    settings: &Settings,
    rt: &tokio::runtime::Runtime,
    node: &Arc<Node>,
    peers: Arc<PeerTable>,
    node_id: NodeId,
    max_connections: usize,
) -> anyhow::Result<Option<Arc<Api>>> {
    let Some(addr) = settings.http else {
        return Ok(None);
    };
    let api = Api::new(node.clone(), peers, node_id, settings.dev)
        .context("cannot start the HTTP admission thread")?;
    match rt.block_on(ferrite_node::http::start(
        api.clone(),
        addr,
        max_connections,
    )) {
        Ok(a) => ferrite_node::say!("explorer: http://{a}/"),
        Err(e) => {
            api.stop();
            return Err(exit::ListenError {
                what: "HTTP",
                addr: addr.to_string(),
                source: e,
            }
            .into());
        }
    }
    Ok(Some(api))
}

/// The miner's threads; dropping them stops and joins them, so that every early return after
/// they started leaves no thread behind.
struct Miners {
    node: Arc<Node>,
    threads: Vec<JoinHandle<()>>,
}

impl Miners {
    fn start(settings: &Settings, node: &Arc<Node>, reward_to: Address) -> anyhow::Result<Self> {
        let mut miners = Miners {
            node: node.clone(),
            threads: Vec::new(),
        };
        if settings.mine {
            ferrite_node::say!(
                "mining on {} thread(s), rewards to {}",
                settings.mine_threads,
                reward_to.to_bech32(&node.params().prefix)
            );
            miners.threads = miner::spawn(node.clone(), reward_to, settings.mine_threads)
                .context("cannot start mining threads")?;
        }
        Ok(miners)
    }
}

impl Drop for Miners {
    fn drop(&mut self) {
        self.node.request_shutdown();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Whether and how to warn while a node meant to be on a network has no peer.
struct Alone {
    warn: bool,
    configured: usize,
    peers: Arc<PeerTable>,
}

/// The main loop: runs until a signal, whoever reads stdout leaving, or a part of the node
/// asking it to stop (the store failed). Samples sync progress on the way.
async fn serve(node: &Node, alone: Alone) -> anyhow::Result<Stop> {
    if ferrite_node::out::gone() {
        tracing::warn!("standard output closed; stopping");
        return Ok(Stop::Asked);
    }
    let mut expiry = tokio::time::interval(MEMPOOL_EXPIRY_INTERVAL);
    let mut alone_tick = tokio::time::interval_at(
        tokio::time::Instant::now() + ALONE_FIRST_WARNING,
        ALONE_WARNING_INTERVAL,
    );
    // Nothing is written to stdout while the node runs, so its reader leaving is watched.
    let mut watch = tokio::time::interval(STDOUT_CHECK);
    let mut sample = tokio::time::interval(PROGRESS_SAMPLE);
    let (mut progress, clock) = (Tracker::new(), Instant::now());
    let signal = wait_for_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            r = &mut signal => return r.map(|()| Stop::Asked),
            _ = watch.tick() => {
                if node.shutting_down() {
                    return Ok(Stop::Failed);
                }
                if ferrite_node::out::reader_left() {
                    tracing::warn!("standard output closed; stopping");
                    return Ok(Stop::Asked);
                }
            }
            _ = sample.tick() => {
                let view = node.view();
                let report = progress.observe(Sample {
                    at: clock.elapsed(),
                    height: view.tip.height,
                    best: view.best_header_meta.height,
                    txs: node.metrics().connected_txs(),
                });
                if let Some(report) = report {
                    ferrite_node::terminal::show(&report);
                }
            }
            _ = alone_tick.tick() => {
                if alone.warn && alone.peers.count() == 0 {
                    warn_alone(alone.configured);
                }
            }
            _ = expiry.tick() => {
                let dropped = node.expire_mempool(now_secs());
                if dropped > 0 {
                    tracing::info!(dropped, "expired mempool transfers");
                }
            }
        }
    }
}

/// Everything a running node holds, for [`shut_down`].
struct Parts {
    node: Arc<Node>,
    miners: Miners,
    network: Network,
    api: Option<Arc<Api>>,
    rt: tokio::runtime::Runtime,
}

/// Stops the node: the miner and the explorer first, then the network (its address book
/// saved), then the store, closed once nothing else holds the node. A second signal exits at
/// once.
fn shut_down(p: Parts) {
    if p.miners.threads.is_empty() {
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
    let Parts {
        node,
        miners,
        network,
        api,
        rt,
    } = p;
    node.request_shutdown();
    if let Some(api) = &api {
        api.stop();
    }
    drop(miners);
    network.save();
    rt.shutdown_timeout(RUNTIME_SHUTDOWN);
    let tip = node.tip();
    drop(api);
    drop(network);
    // The block processor's threads end once the runtime is gone and let go of the node; the
    // store must close before the process exits (RocksDB aborts if it is closed after its own
    // statics are destroyed), so wait for them.
    let deadline = Instant::now() + PROCESSOR_SHUTDOWN;
    while Arc::strong_count(&node) > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(node);
    ferrite_node::say!("stopped at height {} {}", tip.height, tip.hash);
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
