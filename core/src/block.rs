//! Block headers and blocks, with their canonical encodings and ids.
//!
//! The header is fixed-size; the nonce comes last so that a miner can hash the unchanging prefix
//! once and only the final 64-byte block per attempt.

use crate::address::Address;
use crate::encoding::{put_u32, Decode, DecodeError, Encode, Reader};
use crate::hash::{self, Domain, Hash};
use crate::merkle;
use crate::transaction::{SignedTransaction, SIGNED_TX_LEN};

/// Encoded length of a header: version 4, height 8, prev 32, merkle root 32, state root 32,
/// miner 32, timestamp 8, bits 4, nonce 8.
pub const HEADER_LEN: usize = 160;
/// Offset of the nonce in the header encoding (the last 8 bytes).
pub const HEADER_NONCE_OFFSET: usize = HEADER_LEN - 8;

/// A block header. Its blake3 hash (header domain) is the block id and the proof-of-work hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct BlockHeader {
    /// Header format version; only 1 is valid.
    pub version: u32,
    /// Distance from genesis (genesis is 0).
    pub height: u64,
    /// Id of the parent block (for genesis: the hash of the genesis configuration).
    pub prev: Hash,
    /// Merkle root of the block's transaction ids.
    pub merkle_root: Hash,
    /// Root of the ledger state after this block.
    pub state_root: Hash,
    /// Who receives the block reward and the fees.
    pub miner: Address,
    /// Seconds since the Unix epoch.
    pub timestamp: u64,
    /// Target in compact form.
    pub bits: u32,
    /// Varied by miners to meet the target.
    pub nonce: u64,
}

impl BlockHeader {
    /// The fixed-size encoding.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&self.version.to_le_bytes());
        b[4..12].copy_from_slice(&self.height.to_le_bytes());
        b[12..44].copy_from_slice(&self.prev.0);
        b[44..76].copy_from_slice(&self.merkle_root.0);
        b[76..108].copy_from_slice(&self.state_root.0);
        b[108..140].copy_from_slice(&self.miner.0);
        b[140..148].copy_from_slice(&self.timestamp.to_le_bytes());
        b[148..152].copy_from_slice(&self.bits.to_le_bytes());
        b[HEADER_NONCE_OFFSET..].copy_from_slice(&self.nonce.to_le_bytes());
        b
    }

    /// The block id.
    pub fn hash(&self) -> Hash {
        hash::hash(Domain::Header, &self.to_bytes())
    }
}

impl Encode for BlockHeader {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }
    fn encoded_len(&self) -> usize {
        HEADER_LEN
    }
}

impl Decode for BlockHeader {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BlockHeader {
            version: r.u32()?,
            height: r.u64()?,
            prev: Hash(r.array()?),
            merkle_root: Hash(r.array()?),
            state_root: Hash(r.array()?),
            miner: Address(r.array()?),
            timestamp: r.u64()?,
            bits: r.u32()?,
            nonce: r.u64()?,
        })
    }
}

/// A header and its transactions, applied in order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions.
    pub txs: Vec<SignedTransaction>,
}

impl Block {
    /// The block id (its header's hash).
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// Ids of the transactions, in order.
    pub fn tx_ids(&self) -> Vec<Hash> {
        self.txs.iter().map(SignedTransaction::id).collect()
    }

    /// The merkle root the header should carry.
    pub fn compute_merkle_root(&self) -> Hash {
        merkle::merkle_root(&self.tx_ids())
    }

    /// Encoded size of a block with `tx_count` transactions.
    pub fn size_with(tx_count: usize) -> usize {
        HEADER_LEN + 4 + tx_count * SIGNED_TX_LEN
    }
}

impl Encode for Block {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.header.encode_to(out);
        // Counts beyond u32 cannot be valid: the block size limit is far below 4 G transactions.
        put_u32(out, u32::try_from(self.txs.len()).unwrap_or(u32::MAX));
        for tx in &self.txs {
            tx.encode_to(out);
        }
    }
    fn encoded_len(&self) -> usize {
        Block::size_with(self.txs.len())
    }
}

impl Decode for Block {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let header = BlockHeader::decode_from(r)?;
        let count = r.count(SIGNED_TX_LEN)?;
        let mut txs = Vec::with_capacity(count as usize);
        for _ in 0..count {
            txs.push(SignedTransaction::decode_from(r)?);
        }
        Ok(Block { header, txs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> BlockHeader {
        BlockHeader {
            version: 1,
            height: 7,
            prev: Hash([1; 32]),
            merkle_root: Hash([2; 32]),
            state_root: Hash([3; 32]),
            miner: Address([4; 32]),
            timestamp: 1_800_000_000,
            bits: 0x207f_ffff,
            nonce: 0x0102_0304_0506_0708,
        }
    }

    #[test]
    fn header_round_trips_and_nonce_is_last() {
        let h = header();
        let b = h.encode();
        assert_eq!(b.len(), HEADER_LEN);
        assert_eq!(BlockHeader::decode(&b), Ok(h));
        assert_eq!(&b[HEADER_NONCE_OFFSET..], &h.nonce.to_le_bytes());
    }

    #[test]
    fn every_header_byte_changes_the_id() {
        let b = header().encode();
        let id = header().hash();
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x80;
            assert_ne!(BlockHeader::decode(&c).unwrap().hash(), id, "byte {i}");
        }
    }

    #[test]
    fn block_with_forged_count_is_rejected_without_allocating() {
        let mut b = header().encode();
        put_u32(&mut b, u32::MAX);
        assert!(matches!(
            Block::decode(&b),
            Err(DecodeError::CountTooLarge { .. })
        ));
    }
}
