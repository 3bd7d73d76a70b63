//! The maintenance commands over a stopped node's data dir: `import` a chain file through the
//! normal block path, `export` the best chain to one, and `check` the store.

use std::path::Path;
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::{bail, Context};
use ferrite_core::{BodyChecked, ChainParams};
use ferrite_node::chain::{Chain, Submitted, TipInfo};
use ferrite_node::chainfile::ChainReader;
use ferrite_node::config::Settings;
use ferrite_node::node::CheckedBlock;
use ferrite_node::store::{StoreError, StoreRead};

use crate::genesis::{default_data_dir, load_genesis, open_recording};

/// Blocks an import reads and verifies ahead of the one being connected.
const IMPORT_AHEAD: usize = 4;

pub(crate) fn import(settings: &Settings, file: &Path, measure_limit: bool) -> anyhow::Result<()> {
    let reader =
        ChainReader::open(file).with_context(|| format!("import --file {}", file.display()))?;
    let data_dir = settings
        .data_dir
        .clone()
        .context("import needs --data-dir")?;
    let genesis = reader.genesis.build()?;
    let mut chain = open_recording(&data_dir, &reader.genesis, &genesis, settings.cache_bytes)?;
    let started = Instant::now();
    let (mut blocks, mut txs) = (0u64, 0u64);
    let (recv, producer) = verify_ahead(reader, genesis.params.clone())?;
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
    report_import(blocks, txs, secs, &tip, disk, measure_limit);
    Ok(())
}

/// Reads the chain file and verifies the signatures of the next [`IMPORT_AHEAD`] blocks on a
/// thread of its own while the caller connects: the pipeline that lets an import use both
/// cores.
fn verify_ahead(
    mut reader: ChainReader,
    params: ChainParams,
) -> anyhow::Result<(Receiver<anyhow::Result<CheckedBlock>>, JoinHandle<()>)> {
    let (send, recv) = std::sync::mpsc::sync_channel::<anyhow::Result<CheckedBlock>>(IMPORT_AHEAD);
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
    Ok((recv, producer))
}

/// The import's figures: rate, disk per transfer, peak memory, and with `measure_limit` the
/// ratio to the parallel batch-verify rate measured now.
fn report_import(blocks: u64, txs: u64, secs: f64, tip: &TipInfo, disk: u64, measure_limit: bool) {
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
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

pub(crate) fn export(settings: &Settings, out: &Path) -> anyhow::Result<()> {
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

pub(crate) fn check(settings: &Settings, heights: &[u64]) -> anyhow::Result<()> {
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
