//! "Already verified", as one type per thing whose signatures the node checks: a transfer
//! ([`VerifiedTx`]) and a block ([`VerifiedBlock`]). Each is tied to the exact id it was checked
//! for and only the constructors here make one, so holding one is the proof. Verification runs
//! before any lock is taken; the mempool admits only `VerifiedTx`, and the chain skips the
//! signature pass at connect only for a `VerifiedBlock` whose body matched its header.

use ferrite_core::validation::{self, BlockError};
use ferrite_core::{verify, Block, ChainParams, Hash, SignedTransaction};

use crate::mempool::MempoolError;

/// A transfer whose signature verified for this chain.
#[derive(Debug, Clone)]
pub struct VerifiedTx {
    tx: SignedTransaction,
    id: Hash,
}

impl VerifiedTx {
    /// Verifies `tx`'s signature for the chain `chain_id` (ZIP-215, as consensus does).
    pub fn verify(tx: SignedTransaction, chain_id: &Hash) -> Result<VerifiedTx, MempoolError> {
        let msg = tx.tx.signing_message(chain_id);
        verify::verify(&tx.tx.sender, &msg, &tx.signature)
            .map_err(|_| MempoolError::BadSignature)?;
        let id = tx.id();
        Ok(VerifiedTx { tx, id })
    }

    /// A transfer of a block this node connected: its signature passed then. (Used to return
    /// the transfers of disconnected blocks to the mempool.)
    pub(crate) fn from_connected_block(tx: SignedTransaction) -> VerifiedTx {
        let id = tx.id();
        VerifiedTx { tx, id }
    }

    /// The transfer.
    pub fn tx(&self) -> &SignedTransaction {
        &self.tx
    }

    /// Its id.
    pub fn id(&self) -> Hash {
        self.id
    }

    /// The transfer, giving up the proof.
    pub fn into_tx(self) -> SignedTransaction {
        self.tx
    }
}

/// A block every signature of which verified, or was verified before by this node (a transfer
/// with the same id admitted to the mempool).
#[derive(Debug, Clone)]
pub struct VerifiedBlock {
    block: Block,
    id: Hash,
}

impl VerifiedBlock {
    /// Verifies the signatures of `block`'s transfers on all cores, skipping those for which
    /// `verified_before(id)` is true. The error names the first bad transfer.
    pub fn verify(
        params: &ChainParams,
        block: Block,
        verified_before: impl Fn(&Hash) -> bool,
    ) -> Result<VerifiedBlock, BlockError> {
        check_block_signatures(params, &block, verified_before)?;
        let id = block.hash();
        Ok(VerifiedBlock { block, id })
    }

    /// The block.
    pub fn block(&self) -> &Block {
        &self.block
    }

    /// Its id.
    pub fn id(&self) -> Hash {
        self.id
    }

    /// The block, giving up the proof.
    pub fn into_block(self) -> Block {
        self.block
    }
}

/// A block whose signatures were checked ahead of the chain lock, or that failed the check and
/// goes down the chain's full path (which names the bad transfer and marks the block invalid).
#[derive(Debug, Clone)]
pub enum CheckedBlock {
    /// Every signature verified.
    Verified(VerifiedBlock),
    /// A signature failed: the chain checks again and refuses it.
    Unverified(Block),
}

impl CheckedBlock {
    /// Checks `block` as [`VerifiedBlock::verify`] does, keeping the block either way.
    pub fn check(
        params: &ChainParams,
        block: Block,
        verified_before: impl Fn(&Hash) -> bool,
    ) -> CheckedBlock {
        match check_block_signatures(params, &block, verified_before) {
            Ok(()) => {
                let id = block.hash();
                CheckedBlock::Verified(VerifiedBlock { block, id })
            }
            Err(_) => CheckedBlock::Unverified(block),
        }
    }

    /// The block.
    pub fn block(&self) -> &Block {
        match self {
            CheckedBlock::Verified(v) => v.block(),
            CheckedBlock::Unverified(b) => b,
        }
    }
}

fn check_block_signatures(
    params: &ChainParams,
    block: &Block,
    verified_before: impl Fn(&Hash) -> bool,
) -> Result<(), BlockError> {
    let unverified: Vec<(usize, SignedTransaction)> = block
        .txs
        .iter()
        .enumerate()
        .filter(|(_, t)| !verified_before(&t.id()))
        .map(|(i, t)| (i, *t))
        .collect();
    let txs: Vec<SignedTransaction> = unverified.iter().map(|(_, t)| *t).collect();
    validation::verify_signatures(params, &txs).map_err(|bad| BlockError::Tx {
        index: unverified.get(bad).map_or(bad, |(i, _)| *i),
        error: ferrite_core::ledger::TxError::BadSignature,
    })
}
