//! The answers a connection gives on its own, without the state machine: headers after a
//! locator, validated blocks and pending transfers, read from the published chain view and the
//! mempool. The tokio connection ([`super::conn`]) and the network simulator both call these.

use ferrite_core::{Block, BlockHeader, BodyChecked, Hash, SignedTransaction};

use super::fsm::Misbehavior;
use super::wire::MAX_HEADERS;
use crate::chain::{ChainError, ChainView};
use crate::mempool::Mempool;
use crate::store::StoreRead;

/// The answer to `GetHeaders`: best-chain headers after the first locator entry on it.
pub fn headers(
    view: &ChainView,
    locator: &[Hash],
    stop: &Hash,
) -> Result<Vec<BlockHeader>, ChainError> {
    view.headers_after(locator, stop, MAX_HEADERS)
}

/// One block of a `GetBlocks` answer: only fully validated blocks are served (a stored but
/// never connected block may turn out invalid). `None` goes into `NotFound`.
pub fn block(view: &ChainView, h: &Hash) -> Option<Block> {
    if !view.can_serve(h).ok()? {
        return None;
    }
    view.block(h).ok().flatten()
}

/// The answer to `GetTxs`: the requested transfers still pending.
pub fn txs(pool: &Mempool, ids: &[Hash]) -> Vec<SignedTransaction> {
    ids.iter().filter_map(|h| pool.get(h)).collect()
}

/// A received block must be the body its header commits to (its merkle root): checked by the
/// connection before the state machine sees the block. The transfer ids computed for the check
/// go on with the block, so nothing downstream hashes its transfers again.
pub fn check_body(block: Block) -> Result<BodyChecked, Misbehavior> {
    let hash = block.hash();
    BodyChecked::new(block).map_err(|_| Misbehavior::MerkleMismatch(hash))
}
