//! Bodies of the fuzz targets (core/fuzz), kept here so that ordinary tests run them too.
//!
//! Each takes arbitrary bytes and panics only if a decoding invariant is broken: a value that
//! decodes must re-encode to exactly the input, and every check that can run on it without
//! state must return instead of panicking.

use crate::block::{Block, BlockHeader};
use crate::encoding::{Decode, Encode};
use crate::hash::Hash;
use crate::ledger;
use crate::merkle;
use crate::transaction::SignedTransaction;
use crate::verify;

/// Decodes `data` as a block and exercises it.
pub fn check_block_bytes(data: &[u8]) {
    if let Ok(block) = Block::decode(data) {
        assert_eq!(block.encode(), data, "block decoding is not canonical");
        let ids = block.tx_ids();
        let _ = merkle::merkle_root(&ids);
        let _ = block.header.hash();
        for tx in &block.txs {
            let _ = ledger::check_stateless(&tx.tx);
        }
    }
    if let Ok(header) = BlockHeader::decode(data) {
        assert_eq!(header.encode(), data, "header decoding is not canonical");
    }
}

/// Decodes `data` as a signed transaction and exercises it.
pub fn check_tx_bytes(data: &[u8]) {
    if let Ok(tx) = SignedTransaction::decode(data) {
        assert_eq!(tx.encode(), data, "transaction decoding is not canonical");
        let _ = tx.id();
        let _ = ledger::check_stateless(&tx.tx);
        let msg = tx.tx.signing_message(&Hash::ZERO);
        let single = verify::verify(&tx.tx.sender, &msg, &tx.signature).is_ok();
        let batch = verify::verify_batch(&[(tx.tx.sender, msg, tx.signature)]).is_ok();
        assert_eq!(single, batch, "batch and single verification disagree");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dev;
    use crate::transaction::Transaction;
    use crate::Address;

    #[test]
    fn fuzz_bodies_accept_valid_and_mutated_inputs() {
        let key = dev::dev_key(0);
        let tx = Transaction {
            sender: key.public_key(),
            recipient: Address([1; 32]),
            amount: 5,
            fee: 1,
            nonce: 0,
        }
        .sign(&key, &Hash::ZERO);
        let bytes = tx.encode();
        check_tx_bytes(&bytes);
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0xff;
            check_tx_bytes(&b);
            check_tx_bytes(&b[..i]);
        }
        let block = Block {
            header: BlockHeader {
                version: 1,
                height: 1,
                prev: Hash::ZERO,
                merkle_root: Hash::ZERO,
                state_root: Hash::ZERO,
                miner: Address::default(),
                timestamp: 0,
                bits: 0,
                nonce: 0,
            },
            txs: vec![tx, tx],
        };
        let bytes = block.encode();
        for i in (0..bytes.len()).step_by(7) {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            check_block_bytes(&b);
            check_block_bytes(&b[..i]);
        }
    }
}
