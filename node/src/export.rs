//! `ferrite-node export`: the best chain of a (stopped) data dir written to a chain file that
//! `import` reads, so that a node can be seeded from a file instead of the network.
//!
//! The file is written beside its destination and renamed into place once complete and
//! synced: an export that fails leaves no partial file under the name asked for.

use std::path::{Path, PathBuf};

use ferrite_core::{GenesisConfig, Hash};

use crate::chain::Chain;
use crate::chainfile::{ChainFileError, ChainWriter};
use crate::store::{StoreError, StoreRead};

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The chain's tip could not be read.
    #[error(transparent)]
    Chain(#[from] crate::chain::ChainError),
    /// Writing the file failed.
    #[error("{path}: {source}")]
    File {
        /// The file being written.
        path: PathBuf,
        /// Why.
        source: ChainFileError,
    },
    /// The height index names a block the store does not hold (the store is damaged: run
    /// `check`).
    #[error("best-chain block {hash} at height {height} is missing from the store")]
    Missing {
        /// Height.
        height: u64,
        /// The id the index names.
        hash: Hash,
    },
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exported {
    /// Blocks after genesis.
    pub blocks: u64,
    /// Transfers in them.
    pub txs: u64,
}

/// Writes `genesis` and the best chain's blocks 1 to the tip to `out`.
pub fn export(chain: &Chain, genesis: &GenesisConfig, out: &Path) -> Result<Exported, ExportError> {
    let tmp = out.with_file_name(format!(
        ".{}.partial",
        out.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let file = |source| ExportError::File {
        path: out.to_path_buf(),
        source,
    };
    let result = write(chain, genesis, &tmp).and_then(|done| {
        std::fs::rename(&tmp, out).map_err(|e| file(e.into()))?;
        Ok(done)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write(chain: &Chain, genesis: &GenesisConfig, tmp: &Path) -> Result<Exported, ExportError> {
    let file = |source| ExportError::File {
        path: tmp.to_path_buf(),
        source,
    };
    let store = chain.store();
    let tip = chain.tip_info()?;
    let mut writer = ChainWriter::create(tmp, genesis).map_err(file)?;
    let mut done = Exported { blocks: 0, txs: 0 };
    for height in 1..=tip.height {
        let missing = |hash| ExportError::Missing { height, hash };
        let hash = store
            .hash_at(height)?
            .ok_or_else(|| missing(Hash([0; 32])))?;
        let block = store.block(&hash)?.ok_or_else(|| missing(hash))?;
        writer.push(&block).map_err(file)?;
        done.blocks += 1;
        done.txs += block.txs.len() as u64;
    }
    writer.finish().map_err(file)?;
    Ok(done)
}
