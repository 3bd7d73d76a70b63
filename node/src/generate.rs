//! The chain generator: a dev chain of real signed transfers between many accounts, mined at a
//! trivial target and submitted through the chain's normal block path, written to a chain file.

use std::path::Path;

use ferrite_core::dev::{self, dev_genesis_config};
use ferrite_core::template;
use ferrite_core::{Address, SecretKey, Transaction};
use rayon::prelude::*;

use crate::chain::{Chain, ChainError, Submitted};
use crate::chainfile::{ChainFileError, ChainWriter};
use crate::node::now_secs;

/// Spacing of generated chains, in seconds.
pub const GENERATED_SPACING: u64 = 10;
/// Fee of generated transfers (above the default mempool minimum).
pub const GENERATED_FEE: u64 = 1_000;

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The chain refused a generated block (a bug) or the store failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The output file failed.
    #[error(transparent)]
    File(#[from] ChainFileError),
    /// Bad parameters.
    #[error("{0}")]
    Params(String),
    /// The genesis is invalid (a bug).
    #[error("genesis: {0}")]
    Genesis(#[from] ferrite_core::genesis::GenesisError),
}

/// Generates `blocks` blocks of `txs_per_block` transfers from `accounts` funded dev accounts,
/// storing them in a chain at `data_dir` and writing them to `out`. Returns the transfer count.
pub fn generate(
    data_dir: &Path,
    out: &Path,
    blocks: u64,
    txs_per_block: u32,
    accounts: u32,
) -> Result<u64, GenerateError> {
    if accounts < 2 || txs_per_block > accounts {
        return Err(GenerateError::Params(
            "need at least 2 accounts and no more transfers per block than accounts".into(),
        ));
    }
    // Timestamps end near now, so the whole chain is valid under the future-drift rule.
    let start =
        now_secs().saturating_sub(blocks.saturating_add(1).saturating_mul(GENERATED_SPACING));
    let cfg = dev_genesis_config(accounts, start, GENERATED_SPACING);
    let genesis = cfg.build()?;
    let chain_id = genesis.params.genesis_hash;
    let mut chain = Chain::open(data_dir, &genesis, crate::store::DEFAULT_CACHE_BYTES)?;
    crate::store::record_genesis(data_dir, &cfg).map_err(ChainError::from)?;
    let mut writer = ChainWriter::create(out, &cfg)?;
    let keys: Vec<SecretKey> = (0..accounts).map(dev::dev_key).collect();
    let addrs: Vec<Address> = keys.iter().map(SecretKey::address).collect();
    let mut nonces = vec![0u64; accounts as usize];
    let mut next_sender = 0usize;
    let mut total = 0u64;
    for b in 0..blocks {
        let senders: Vec<usize> = (0..txs_per_block as usize)
            .map(|i| (next_sender + i) % accounts as usize)
            .collect();
        next_sender = (next_sender + txs_per_block as usize) % accounts as usize;
        let txs: Vec<_> = senders
            .par_iter()
            .enumerate()
            .map(|(i, &s)| {
                // Pay another dev account, or (every third transfer) a fresh address.
                let recipient = if i % 3 == 2 {
                    let mut a = [0u8; 32];
                    a[..8].copy_from_slice(&b.to_le_bytes());
                    a[8..12].copy_from_slice(&(i as u32).to_le_bytes());
                    a[31] = 0xfe;
                    Address(a)
                } else {
                    let r = (s + 1 + i % 7) % accounts as usize;
                    addrs[if r == s {
                        (s + 1) % accounts as usize
                    } else {
                        r
                    }]
                };
                Transaction {
                    sender: keys[s].public_key(),
                    recipient,
                    amount: 1 + (b + i as u64) % 1_000,
                    fee: GENERATED_FEE,
                    nonce: nonces[s],
                }
                .sign(&keys[s], &chain_id)
            })
            .collect();
        for &s in &senders {
            nonces[s] += 1;
        }
        let tip = chain.tip_info()?;
        let parent = chain.parent_info(&tip.hash)?;
        let mut touched: Vec<Address> = txs
            .iter()
            .flat_map(|t| [t.tx.sender_address(), t.tx.recipient])
            .collect();
        touched.push(addrs[0]);
        touched.sort_unstable();
        touched.dedup();
        let state = chain.state_view(&touched)?;
        let mut block = template::assemble_block(
            chain.params(),
            &parent,
            &state,
            txs,
            addrs[0],
            tip.timestamp + GENERATED_SPACING,
        )
        .map_err(ChainError::from)?;
        if !template::mine(&mut block.header, u64::MAX) {
            return Err(GenerateError::Params("no nonce found".into()));
        }
        total += block.txs.len() as u64;
        writer.push(&block)?;
        match chain.submit_block(block)? {
            Submitted::TipChanged(_) => {}
            other => {
                return Err(GenerateError::Params(format!(
                    "generated block not connected: {other:?}"
                )))
            }
        }
    }
    writer.finish()?;
    Ok(total)
}
