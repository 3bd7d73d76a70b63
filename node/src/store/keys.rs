//! Column family names, meta keys and the byte layout of stored records.
//!
//! Keys that are read in order (heights, address history) are big-endian so that RocksDB's
//! byte order is numeric order. Values use ferrite-core's canonical encodings where one exists.

use ferrite_core::encoding::{Decode, DecodeError, Reader};
use ferrite_core::{Address, Hash, Work};

/// Block hash -> 160-byte header.
pub const CF_HEADERS: &str = "headers";
/// Block hash -> u32 count and signed transactions.
pub const CF_BODIES: &str = "bodies";
/// Block hash -> [`BlockMeta`].
pub const CF_BLOCK_META: &str = "block_meta";
/// Height (u64 BE) -> block hash, best chain only.
pub const CF_HEIGHTS: &str = "heights";
/// Address -> account (balance u64 LE, nonce u64 LE).
pub const CF_ACCOUNTS: &str = "accounts";
/// Block hash -> undo record of a connected block.
pub const CF_UNDO: &str = "undo";
/// Transaction id -> (block hash, position u32 BE), best chain only.
pub const CF_TX_INDEX: &str = "tx_index";
/// Address ‖ height u64 BE ‖ position u32 BE -> transaction id, best chain only.
pub const CF_ADDR_INDEX: &str = "addr_index";
/// Address -> number of best-chain transfers it sent or received (i64 LE), kept by a merge
/// operator that adds the deltas each connect (+) and disconnect (-) writes.
pub const CF_ADDR_COUNT: &str = "addr_count";
/// Peer address -> peer record (used by the P2P layer).
pub const CF_PEERS: &str = "peers";
/// Named singletons: schema version, genesis, tip, state digest.
pub const CF_META: &str = "meta";

/// Every column family, in creation order.
pub const ALL_CFS: [&str; 11] = [
    CF_HEADERS,
    CF_BODIES,
    CF_BLOCK_META,
    CF_HEIGHTS,
    CF_ACCOUNTS,
    CF_UNDO,
    CF_TX_INDEX,
    CF_ADDR_INDEX,
    CF_ADDR_COUNT,
    CF_PEERS,
    CF_META,
];

/// Meta key: schema version (u32 LE).
pub const META_SCHEMA: &[u8] = b"schema_version";
/// Meta key: genesis hash this data dir belongs to.
pub const META_GENESIS: &[u8] = b"genesis";
/// Meta key: hash of the best connected block.
pub const META_TIP: &[u8] = b"tip";
/// Meta key: LtHash accumulator of the state at the tip (2,048 bytes).
pub const META_DIGEST: &[u8] = b"state_digest";
/// Meta key: next arrival sequence number (u64 LE).
pub const META_NEXT_SEQ: &[u8] = b"next_seq";

/// Version of this layout. Bump on any incompatible change. Version 1 lacked
/// [`CF_ADDR_COUNT`]; opening such a store fills it from the address index (see
/// docs/storage.md).
pub const SCHEMA_VERSION: u32 = 2;

/// Validation status of a stored block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockStatus {
    /// Header and body passed the checks that need no state; not yet connected.
    Stored = 0,
    /// Fully validated: it was connected at least once.
    Valid = 1,
    /// Failed full validation.
    Invalid = 2,
    /// Descends from an invalid block.
    InvalidAncestor = 3,
    /// Only the header is known (headers-first sync): it passed the header checks; the body has
    /// not arrived yet.
    HeaderOnly = 4,
}

impl BlockStatus {
    /// True when the body is stored (every status but [`BlockStatus::HeaderOnly`]; invalid
    /// blocks keep their body only if it arrived before they were marked).
    pub fn has_body(self) -> bool {
        !matches!(self, BlockStatus::HeaderOnly)
    }

    /// True for either invalid status.
    pub fn is_invalid(self) -> bool {
        matches!(self, BlockStatus::Invalid | BlockStatus::InvalidAncestor)
    }

    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => BlockStatus::Stored,
            1 => BlockStatus::Valid,
            2 => BlockStatus::Invalid,
            3 => BlockStatus::InvalidAncestor,
            4 => BlockStatus::HeaderOnly,
            _ => return None,
        })
    }
}

/// What the node keeps about every stored block, in memory and in [`CF_BLOCK_META`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockMeta {
    /// Parent id.
    pub parent: Hash,
    /// Height.
    pub height: u64,
    /// Header timestamp.
    pub timestamp: u64,
    /// Cumulative work from genesis up to and including this block.
    pub work: Work,
    /// Validation status.
    pub status: BlockStatus,
    /// Arrival order (ties in work go to the lower sequence: first seen).
    pub seq: u64,
}

/// Encoded size of a [`BlockMeta`].
pub const BLOCK_META_LEN: usize = 32 + 8 + 8 + 32 + 1 + 8;

impl BlockMeta {
    /// Fixed-size encoding.
    pub fn encode(&self) -> [u8; BLOCK_META_LEN] {
        let mut b = [0u8; BLOCK_META_LEN];
        b[..32].copy_from_slice(&self.parent.0);
        b[32..40].copy_from_slice(&self.height.to_le_bytes());
        b[40..48].copy_from_slice(&self.timestamp.to_le_bytes());
        b[48..80].copy_from_slice(&self.work.to_be_bytes());
        b[80] = self.status as u8;
        b[81..].copy_from_slice(&self.seq.to_le_bytes());
        b
    }

    /// Decodes [`BlockMeta::encode`] output.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let parent = Hash(r.array()?);
        let height = r.u64()?;
        let timestamp = r.u64()?;
        let work = Work::from_be_bytes(&r.array()?);
        let status_byte = r.array::<1>()?[0];
        let seq = r.u64()?;
        r.finish()?;
        let status = BlockStatus::from_u8(status_byte).ok_or(DecodeError::TrailingBytes(0))?;
        Ok(BlockMeta {
            parent,
            height,
            timestamp,
            work,
            status,
            seq,
        })
    }
}

/// Key of a height in [`CF_HEIGHTS`].
pub fn height_key(height: u64) -> [u8; 8] {
    height.to_be_bytes()
}

/// Value of [`CF_TX_INDEX`]: where a transaction sits in the best chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxLocation {
    /// The block.
    pub block: Hash,
    /// Position in the block.
    pub position: u32,
}

impl TxLocation {
    /// 36-byte encoding.
    pub fn encode(&self) -> [u8; 36] {
        let mut b = [0u8; 36];
        b[..32].copy_from_slice(&self.block.0);
        b[32..].copy_from_slice(&self.position.to_be_bytes());
        b
    }

    /// Decodes [`TxLocation::encode`] output.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let block = Hash(r.array()?);
        let position = u32::from_be_bytes(r.array()?);
        r.finish()?;
        Ok(TxLocation { block, position })
    }
}

/// Key of one history entry in [`CF_ADDR_INDEX`].
pub fn addr_index_key(address: &Address, height: u64, position: u32) -> [u8; 44] {
    let mut k = [0u8; 44];
    k[..32].copy_from_slice(&address.0);
    k[32..40].copy_from_slice(&height.to_be_bytes());
    k[40..].copy_from_slice(&position.to_be_bytes());
    k
}

/// The merge operator of [`CF_ADDR_COUNT`]: adds every operand (i64 LE) to the stored value.
/// A malformed operand counts as zero rather than failing every later read.
pub fn add_counts(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &rocksdb::MergeOperands,
) -> Option<Vec<u8>> {
    let read = |b: &[u8]| b.try_into().map(i64::from_le_bytes).unwrap_or(0);
    let mut total = existing.map(read).unwrap_or(0);
    for op in operands {
        total = total.saturating_add(read(op));
    }
    Some(total.to_le_bytes().to_vec())
}

/// Decodes a stored account.
pub fn decode_account(bytes: &[u8]) -> Result<ferrite_core::Account, DecodeError> {
    ferrite_core::Account::decode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trips_and_rejects_bad_status() {
        let m = BlockMeta {
            parent: Hash([1; 32]),
            height: 9,
            timestamp: 77,
            work: Work::ZERO,
            status: BlockStatus::InvalidAncestor,
            seq: 4,
        };
        let mut b = m.encode();
        assert_eq!(BlockMeta::decode(&b), Ok(m));
        b[80] = 9;
        assert!(BlockMeta::decode(&b).is_err());
        assert!(BlockMeta::decode(&b[..10]).is_err());
    }

    #[test]
    fn height_keys_sort_numerically() {
        assert!(height_key(255) < height_key(256));
        assert!(addr_index_key(&Address([1; 32]), 2, 0) < addr_index_key(&Address([1; 32]), 10, 0));
    }
}
