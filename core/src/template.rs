//! Block templates: assembling the child of a block from transfers (ASERT bits, merkle root,
//! state root) and a plain nonce search. The node's miner and the chain generator build blocks
//! with it; they still enter the chain through `validation::connect_block` like any other.

use crate::address::Address;
use crate::block::{Block, BlockHeader};
use crate::genesis::ChainParams;
use crate::hash::Hash;
use crate::ledger;
use crate::merkle;
use crate::state::State;
use crate::target::Target;
use crate::transaction::SignedTransaction;
use crate::validation::{BlockError, ParentInfo, HEADER_VERSION};

/// Builds the unmined child of `parent` on `state` with `txs`: bits from ASERT, merkle root and
/// state root computed; nonce 0. Fails if a transaction breaks a ledger rule.
pub fn assemble_block(
    params: &ChainParams,
    parent: &ParentInfo,
    state: &State,
    txs: Vec<SignedTransaction>,
    miner: Address,
    timestamp: u64,
) -> Result<Block, BlockError> {
    let height = parent.height + 1;
    let (update, _fees) = ledger::prepare_block(state, &txs, &miner, params.reward_at(height))?;
    let ids: Vec<Hash> = txs.iter().map(SignedTransaction::id).collect();
    let header = BlockHeader {
        version: HEADER_VERSION,
        height,
        prev: parent.hash,
        merkle_root: merkle::merkle_root(&ids),
        state_root: update.root(),
        miner,
        timestamp,
        bits: params.next_bits(parent.height, parent.timestamp),
        nonce: 0,
    };
    Ok(Block { header, txs })
}

/// Searches nonces from `header.nonce` for at most `max_tries` attempts; true when the header
/// meets its target.
pub fn mine(header: &mut BlockHeader, max_tries: u64) -> bool {
    let Ok(target) = Target::from_compact(header.bits) else {
        return false;
    };
    for _ in 0..max_tries {
        if target.is_met_by(&header.hash()) {
            return true;
        }
        header.nonce = header.nonce.wrapping_add(1);
    }
    false
}
