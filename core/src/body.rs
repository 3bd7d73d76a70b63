//! A block whose body is known to be the one its header commits to.
//!
//! Checking the body means hashing every transfer for its id and the ids into the merkle root.
//! A received block needs those ids again and again (to find which transfers the mempool
//! already verified, to connect it, to index its transfers), so [`BodyChecked`] computes them
//! once, when the root is checked, and carries them with the block. Holding one is the proof:
//! it can only be made by [`BodyChecked::new`] or, from transfers whose ids are already known
//! ([`IdentifiedTx`], a block rebuilt from the mempool), by [`BodyChecked::from_identified`];
//! both refuse a body that does not match.

use crate::block::{Block, BlockHeader};
use crate::hash::Hash;
use crate::merkle;
use crate::transaction::IdentifiedTx;
use crate::validation::{tx_ids, BlockError};

/// A block, its id, and the ids of its transfers, which hash to the header's merkle root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyChecked {
    block: Block,
    hash: Hash,
    tx_ids: Vec<Hash>,
}

impl BodyChecked {
    /// Computes the transfer ids (on all threads for large blocks) and checks them against the
    /// merkle root; [`BlockError::BadMerkleRoot`] if the body is not the one the header names.
    pub fn new(block: Block) -> Result<BodyChecked, BlockError> {
        let ids = tx_ids(&block);
        if merkle::merkle_root(&ids) != block.header.merkle_root {
            return Err(BlockError::BadMerkleRoot);
        }
        Ok(BodyChecked {
            hash: block.hash(),
            block,
            tx_ids: ids,
        })
    }

    /// The block of `header` and `txs`, whose ids are known: only the merkle root is computed.
    /// [`BlockError::BadMerkleRoot`] if they are not the transfers the header names.
    pub fn from_identified(
        header: BlockHeader,
        txs: impl IntoIterator<Item = IdentifiedTx>,
    ) -> Result<BodyChecked, BlockError> {
        let (txs, ids): (Vec<_>, Vec<_>) = txs.into_iter().map(|t| (*t.tx(), t.id())).unzip();
        if merkle::merkle_root(&ids) != header.merkle_root {
            return Err(BlockError::BadMerkleRoot);
        }
        let block = Block { header, txs };
        Ok(BodyChecked {
            hash: block.hash(),
            block,
            tx_ids: ids,
        })
    }

    /// The block.
    pub fn block(&self) -> &Block {
        &self.block
    }

    /// The block id.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// Transfer ids in block order.
    pub fn tx_ids(&self) -> &[Hash] {
        &self.tx_ids
    }

    /// The block, giving up the ids.
    pub fn into_block(self) -> Block {
        self.block
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev::dev_key;
    use crate::{Address, Transaction};

    fn block(n: u64) -> Block {
        let txs: Vec<_> = (0..n)
            .map(|i| {
                let k = dev_key(i as u32);
                Transaction {
                    sender: k.public_key(),
                    recipient: Address([9; 32]),
                    amount: 5,
                    fee: 1,
                    nonce: i,
                }
                .sign(&k, &Hash([1; 32]))
            })
            .collect();
        let mut b = Block {
            header: BlockHeader {
                version: 1,
                height: 3,
                prev: Hash([2; 32]),
                merkle_root: Hash::ZERO,
                state_root: Hash::ZERO,
                timestamp: 10,
                bits: 0x2100_ffff,
                miner: Address([3; 32]),
                nonce: 0,
            },
            txs,
        };
        b.header.merkle_root = b.compute_merkle_root();
        b
    }

    #[test]
    fn carries_the_ids_the_root_was_checked_against() {
        let b = block(4);
        let checked = BodyChecked::new(b.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(checked.tx_ids(), &b.tx_ids()[..]);
        assert_eq!(checked.hash(), b.hash());
        assert_eq!(checked.into_block(), b);
    }

    #[test]
    fn known_ids_make_the_same_body_as_hashing() {
        let b = block(5);
        let known = b.txs.iter().map(|t| IdentifiedTx::new(*t));
        let from_known = BodyChecked::from_identified(b.header, known);
        assert_eq!(from_known, BodyChecked::new(b.clone()));
        let mut swapped: Vec<_> = b.txs.iter().map(|t| IdentifiedTx::new(*t)).collect();
        swapped.swap(1, 2);
        assert_eq!(
            BodyChecked::from_identified(b.header, swapped),
            Err(BlockError::BadMerkleRoot)
        );
    }

    #[test]
    fn refuses_a_body_its_header_does_not_commit_to() {
        let mut swapped = block(4);
        swapped.txs.swap(0, 1);
        assert_eq!(BodyChecked::new(swapped), Err(BlockError::BadMerkleRoot));
        let mut dropped = block(4);
        dropped.txs.pop();
        assert_eq!(BodyChecked::new(dropped), Err(BlockError::BadMerkleRoot));
    }
}
