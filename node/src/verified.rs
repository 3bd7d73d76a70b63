//! "Already verified", as one type per thing whose signatures the node checks: a transfer
//! ([`VerifiedTx`]) and a block ([`VerifiedBlock`]). Each is tied to the exact id it was checked
//! for and only the constructors here make one, so holding one is the proof. Verification runs
//! before any lock is taken; the mempool admits only `VerifiedTx`, and the chain skips the
//! signature pass at connect only for a `VerifiedBlock` whose body matched its header.

use ferrite_core::validation::{self, BlockError};
use ferrite_core::{
    verify, Block, BodyChecked, ChainParams, Hash, IdentifiedTx, SignedTransaction,
};

use crate::mempool::MempoolError;

/// A transfer whose signature verified for this chain.
#[derive(Debug, Clone)]
pub struct VerifiedTx {
    tx: IdentifiedTx,
}

impl VerifiedTx {
    /// Verifies `tx`'s signature for the chain `chain_id` (ZIP-215, as consensus does).
    pub fn verify(tx: SignedTransaction, chain_id: &Hash) -> Result<VerifiedTx, MempoolError> {
        let msg = tx.tx.signing_message(chain_id);
        verify::verify(&tx.tx.sender, &msg, &tx.signature)
            .map_err(|_| MempoolError::BadSignature)?;
        Ok(VerifiedTx {
            tx: IdentifiedTx::new(tx),
        })
    }

    /// Verifies many transfers together (ZIP-215 batches on all cores, which accept a set
    /// exactly when each member verifies alone); one result per transfer, in order.
    pub fn verify_all(
        txs: Vec<SignedTransaction>,
        chain_id: &Hash,
    ) -> Vec<Result<VerifiedTx, MempoolError>> {
        let mut bad = vec![false; txs.len()];
        let mut from = 0;
        let params_free = |slice: &[SignedTransaction]| {
            verify::verify_parallel(slice.len(), |i| {
                let t = &slice[i];
                (t.tx.sender, t.tx.signing_message(chain_id), t.signature)
            })
        };
        // Each failure names the lowest bad index; the rest after it is checked again.
        while from < txs.len() {
            match params_free(&txs[from..]) {
                Ok(()) => break,
                Err(i) => {
                    bad[from + i] = true;
                    from += i + 1;
                }
            }
        }
        txs.into_iter()
            .zip(bad)
            .map(|(tx, bad)| {
                if bad {
                    Err(MempoolError::BadSignature)
                } else {
                    Ok(VerifiedTx {
                        tx: IdentifiedTx::new(tx),
                    })
                }
            })
            .collect()
    }

    /// A transfer of a block this node connected: its signature passed then. (Used to return
    /// the transfers of disconnected blocks to the mempool.)
    pub(crate) fn from_connected_block(tx: SignedTransaction) -> VerifiedTx {
        VerifiedTx {
            tx: IdentifiedTx::new(tx),
        }
    }

    /// The transfer.
    pub fn tx(&self) -> &SignedTransaction {
        self.tx.tx()
    }

    /// Its id.
    pub fn id(&self) -> Hash {
        self.tx.id()
    }

    /// The transfer and its id.
    pub fn identified(&self) -> &IdentifiedTx {
        &self.tx
    }

    /// The transfer and its id, giving up the proof of the signature.
    pub fn into_identified(self) -> IdentifiedTx {
        self.tx
    }

    /// The transfer, giving up the proof.
    pub fn into_tx(self) -> SignedTransaction {
        *self.tx.tx()
    }
}

/// A block every signature of which verified, or was verified before by this node (a transfer
/// with the same id admitted to the mempool). Its body matched its header ([`BodyChecked`]), so
/// the block id covers every signature.
#[derive(Debug, Clone)]
pub struct VerifiedBlock {
    body: BodyChecked,
}

impl VerifiedBlock {
    /// Verifies the signatures of `body`'s transfers on all cores, skipping those at the
    /// positions for which `verified_before(i)` is true. The error names the first bad transfer.
    pub fn verify(
        params: &ChainParams,
        body: BodyChecked,
        verified_before: impl Fn(usize) -> bool,
    ) -> Result<VerifiedBlock, BlockError> {
        check_block_signatures(params, body.block(), verified_before)?;
        Ok(VerifiedBlock { body })
    }

    /// The block.
    pub fn block(&self) -> &Block {
        self.body.block()
    }

    /// Its id.
    pub fn id(&self) -> Hash {
        self.body.hash()
    }

    /// The block and its transfer ids, giving up the signature proof.
    pub fn into_body(self) -> BodyChecked {
        self.body
    }
}

/// A block whose signatures were checked ahead of the chain lock, or that failed the check and
/// goes down the chain's full path (which names the bad transfer and marks the block invalid).
#[derive(Debug, Clone)]
pub enum CheckedBlock {
    /// Every signature verified.
    Verified(VerifiedBlock),
    /// A signature failed: the chain checks again and refuses it.
    Unverified(BodyChecked),
}

impl CheckedBlock {
    /// Checks `body` as [`VerifiedBlock::verify`] does, keeping the block either way.
    pub fn check(
        params: &ChainParams,
        body: BodyChecked,
        verified_before: impl Fn(usize) -> bool,
    ) -> CheckedBlock {
        match check_block_signatures(params, body.block(), verified_before) {
            Ok(()) => CheckedBlock::Verified(VerifiedBlock { body }),
            Err(_) => CheckedBlock::Unverified(body),
        }
    }

    /// The block.
    pub fn block(&self) -> &Block {
        match self {
            CheckedBlock::Verified(v) => v.block(),
            CheckedBlock::Unverified(b) => b.block(),
        }
    }

    /// Its id.
    pub fn id(&self) -> Hash {
        match self {
            CheckedBlock::Verified(v) => v.id(),
            CheckedBlock::Unverified(b) => b.hash(),
        }
    }
}

fn check_block_signatures(
    params: &ChainParams,
    block: &Block,
    verified_before: impl Fn(usize) -> bool,
) -> Result<(), BlockError> {
    let unverified: Vec<(usize, SignedTransaction)> = block
        .txs
        .iter()
        .enumerate()
        .filter(|(i, _)| !verified_before(*i))
        .map(|(i, t)| (i, *t))
        .collect();
    let txs: Vec<SignedTransaction> = unverified.iter().map(|(_, t)| *t).collect();
    validation::verify_signatures(params, &txs).map_err(|bad| BlockError::Tx {
        index: unverified.get(bad).map_or(bad, |(i, _)| *i),
        error: ferrite_core::ledger::TxError::BadSignature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_core::dev::{dev_genesis_config, dev_key};
    use ferrite_core::{Address, BlockHeader, Transaction};

    fn params() -> ChainParams {
        dev_genesis_config(4, 1_000, 5)
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
            .params
    }

    fn block(p: &ChainParams, bad: usize) -> BodyChecked {
        let txs = (0..3u64)
            .map(|n| {
                let k = dev_key(n as u32);
                let mut t = Transaction {
                    sender: k.public_key(),
                    recipient: Address([7; 32]),
                    amount: 1,
                    fee: 1,
                    nonce: n,
                }
                .sign(&k, &p.genesis_hash);
                if n as usize == bad {
                    t.signature.0[0] ^= 1;
                }
                t
            })
            .collect();
        let mut b = Block {
            header: BlockHeader {
                version: 1,
                height: 1,
                prev: p.genesis_hash,
                merkle_root: Hash::ZERO,
                state_root: Hash::ZERO,
                miner: Address([1; 32]),
                timestamp: 1_001,
                bits: p.genesis_bits,
                nonce: 0,
            },
            txs,
        };
        b.header.merkle_root = b.compute_merkle_root();
        BodyChecked::new(b).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_bad_signature_is_named_by_its_position_in_the_block() {
        let p = params();
        // Transfer 0 was verified before (skipped); the bad one at 2 is found and named.
        let err = VerifiedBlock::verify(&p, block(&p, 2), |i| i == 0);
        assert!(
            matches!(err, Err(BlockError::Tx { index: 2, .. })),
            "{err:?}"
        );
        assert!(matches!(
            CheckedBlock::check(&p, block(&p, 2), |_| false),
            CheckedBlock::Unverified(_)
        ));
    }

    #[test]
    fn only_transfers_not_verified_before_are_checked() {
        let p = params();
        // The bad transfer is one the caller vouches for: it is skipped (which is why only the
        // mempool's exact ids may vouch).
        assert!(VerifiedBlock::verify(&p, block(&p, 1), |i| i == 1).is_ok());
        let good = VerifiedBlock::verify(&p, block(&p, 9), |_| false);
        let id = block(&p, 9).hash();
        assert_eq!(good.map(|v| v.id()).ok(), Some(id));
    }

    #[test]
    fn verifying_together_names_each_bad_transfer() {
        let p = params();
        let mut txs = block(&p, 1).into_block().txs;
        txs.extend(block(&p, 0).into_block().txs);
        // Bad at 1 and 3 (the second block's first transfer).
        let results = VerifiedTx::verify_all(txs.clone(), &p.genesis_hash);
        let bad: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_err())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(bad, vec![1, 3]);
        for (i, t) in txs.into_iter().enumerate() {
            let alone = VerifiedTx::verify(t, &p.genesis_hash).is_ok();
            assert_eq!(
                alone,
                results[i].is_ok(),
                "transfer {i}: batch and single disagree"
            );
        }
    }

    #[test]
    fn a_transfer_signed_for_another_chain_does_not_verify() {
        let p = params();
        let k = dev_key(0);
        let t = Transaction {
            sender: k.public_key(),
            recipient: Address([7; 32]),
            amount: 1,
            fee: 1,
            nonce: 0,
        };
        assert!(VerifiedTx::verify(t.sign(&k, &p.genesis_hash), &p.genesis_hash).is_ok());
        assert_eq!(
            VerifiedTx::verify(t.sign(&k, &Hash([9; 32])), &p.genesis_hash).err(),
            Some(MempoolError::BadSignature)
        );
    }
}
