//! Which chain a run is on: the genesis recorded in the data dir, a file, a dev chain made
//! here or fetched from a peer, or the embedded testnet; and opening the store with it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ferrite_core::{Genesis, GenesisConfig};
use ferrite_node::chain::Chain;
use ferrite_node::config::Settings;
use ferrite_node::devchain;
use ferrite_node::node::now_secs;
use ferrite_node::store::{record_genesis, StoreError, GENESIS_FILE};

/// The genesis for this run: the one recorded in the data dir, else `--genesis`, else (with
/// `--dev`) the genesis of the first `--peer` that hands over a dev genesis, or a fresh one
/// without peers, else the embedded testnet. The choice is recorded in the data
/// dir so that every later command reopens it with the same chain.
pub(crate) fn load_genesis(
    settings: &Settings,
    data_dir: &Path,
) -> anyhow::Result<(GenesisConfig, Genesis)> {
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
pub(crate) fn open_recording(
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

pub(crate) fn default_data_dir(genesis_name: &str) -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".ferrite").join(genesis_name)
}
