//! What one connection does with compact blocks: rebuilding a received one from the mempool
//! (asking its sender for what is missing), and answering the sender's side of that exchange.
//!
//! The rebuild runs on the connection's own task, like the merkle check of a whole block, so
//! the state machine only ever sees a block whose body matched its header. The one exchange a
//! rebuild may need (`GetBlockTxs` / `BlockTxs`) belongs to the connection: it is a detail of how
//! this peer delivers this block, as the allowance for requested blocks is. Everything here is
//! synchronous and takes the mempool as a value, so its tests need no sockets.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use ferrite_core::{BlockHeader, BodyChecked, Hash, Target};

use super::compact::{rebuild, CompactBlock, Partial, Rebuilt};
use super::fsm::Misbehavior;
use super::wire::Message;
use crate::mempool::Mempool;

/// A rebuild that misses more than this share of the block's transfers, and more than
/// [`MAX_MISSING_ASKED`] of them, fetches the block whole instead: the short ids were mostly
/// wasted, and the whole-block path is the one sync uses. A few missing transfers of a small
/// block are asked for (one round trip either way, fewer bytes).
pub const MAX_MISSING_SHARE: f64 = 0.5;
/// Missing transfers always asked for, whatever their share.
pub const MAX_MISSING_ASKED: usize = 32;
/// Blocks this node sent as compact blocks, kept to answer `GetBlockTxs` (it may ask before the
/// block is stored: high-bandwidth peers get it before it is connected).
pub const RECENT_COMPACT: usize = 8;

/// What the connection does next.
#[derive(Debug)]
pub enum Step {
    /// Hand the rebuilt block to the state machine.
    Deliver {
        /// The block, its body matched to its header.
        block: BodyChecked,
        /// The sender had connected it before sending (it answers for its validity).
        validated: bool,
    },
    /// Send this to the peer (a request for the missing transfers).
    Reply(Message),
    /// Fetch the block whole: hand its header to the state machine as an announcement.
    Announce(BlockHeader),
    /// Nothing to do (an answer nobody waits for).
    Nothing,
}

/// A rebuild waiting for the sender's `BlockTxs`.
#[derive(Debug)]
struct Waiting {
    hash: Hash,
    partial: Partial,
    validated: bool,
}

/// The compact-block state of one connection: at most one rebuild waiting.
#[derive(Debug, Default)]
pub struct CompactReceiver {
    waiting: Option<Waiting>,
}

impl CompactReceiver {
    /// A compact block arrived: its header must carry the work its own target claims (the
    /// chain checks that target later); then its transfers are matched against `pool`.
    pub fn on_compact(
        &mut self,
        compact: &CompactBlock,
        validated: bool,
        pool: &Mempool,
    ) -> Result<Step, Misbehavior> {
        let header = compact.header;
        let hash = header.hash();
        let worked = Target::from_compact(header.bits).is_ok_and(|t| t.is_met_by(&hash));
        if !worked {
            return Err(Misbehavior::CompactWithoutWork(hash));
        }
        let rebuilt =
            rebuild(compact, pool.entries()).map_err(|e| Misbehavior::BadCompact(hash, e))?;
        match rebuilt {
            Rebuilt::Complete { block, from_pool } => {
                Ok(finish(hash, block, from_pool, validated)?)
            }
            Rebuilt::Ambiguous => Ok(Step::Announce(header)),
            Rebuilt::Missing(partial) => {
                let missing = partial.missing();
                let share = missing.len() as f64 / compact.tx_count().max(1) as f64;
                if missing.len() > MAX_MISSING_ASKED && share > MAX_MISSING_SHARE {
                    return Ok(Step::Announce(header));
                }
                self.waiting = Some(Waiting {
                    hash,
                    partial,
                    validated,
                });
                Ok(Step::Reply(Message::GetBlockTxs {
                    block: hash,
                    indexes: missing,
                }))
            }
        }
    }

    /// The sender's answer with the missing transfers.
    pub fn on_block_txs(
        &mut self,
        block: Hash,
        txs: Vec<ferrite_core::SignedTransaction>,
    ) -> Result<Step, Misbehavior> {
        let Some(w) = self.waiting.take_if(|w| w.hash == block) else {
            return Ok(Step::Nothing);
        };
        let from_pool = w.partial.from_pool();
        let rebuilt = w
            .partial
            .fill(txs)
            .map_err(|e| Misbehavior::BadCompact(block, e))?;
        finish(block, rebuilt, from_pool, w.validated)
    }
}

/// The merkle check of a rebuilt body. A body that does not match is the sender's doing only if
/// every transfer in it came from the sender; with mempool transfers in it, a short-id
/// collision may be to blame, and the block is fetched whole.
fn finish(
    hash: Hash,
    block: ferrite_core::Block,
    from_pool: usize,
    validated: bool,
) -> Result<Step, Misbehavior> {
    let header = block.header;
    match BodyChecked::new(block) {
        Ok(block) => Ok(Step::Deliver { block, validated }),
        Err(_) if from_pool > 0 => Ok(Step::Announce(header)),
        Err(_) => Err(Misbehavior::MerkleMismatch(hash)),
    }
}

/// The transfers at `indexes` of `block`, for a peer that could not rebuild it; a request for a
/// position the block does not have, or not in increasing order, breaks the protocol.
pub fn answer_block_txs(block: &BodyChecked, indexes: &[u32]) -> Result<Message, Misbehavior> {
    let txs = &block.block().txs;
    let in_order = indexes.windows(2).all(|w| w[0] < w[1]);
    let inside = indexes.last().is_none_or(|i| (*i as usize) < txs.len());
    if !in_order || !inside {
        return Err(Misbehavior::BadBlockTxsRequest(block.hash()));
    }
    Ok(Message::BlockTxs {
        block: block.hash(),
        txs: indexes.iter().map(|i| txs[*i as usize]).collect(),
    })
}

/// The blocks this node sent as compact blocks lately, shared by its connections.
#[derive(Default)]
pub struct RecentCompact {
    blocks: Mutex<VecDeque<Arc<BodyChecked>>>,
}

impl RecentCompact {
    /// Remembers `block` (the oldest is forgotten beyond [`RECENT_COMPACT`]).
    pub fn keep(&self, block: Arc<BodyChecked>) {
        let mut b = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        if b.iter().any(|x| x.hash() == block.hash()) {
            return;
        }
        b.push_back(block);
        while b.len() > RECENT_COMPACT {
            b.pop_front();
        }
    }

    /// The block `hash`, if it was sent lately.
    pub fn get(&self, hash: &Hash) -> Option<Arc<BodyChecked>> {
        let b = self.blocks.lock().unwrap_or_else(|p| p.into_inner());
        b.iter().find(|x| x.hash() == *hash).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mempool::MempoolConfig;
    use crate::verified::VerifiedTx;
    use ferrite_core::dev::dev_key;
    use ferrite_core::{Account, Address, Block, SignedTransaction, Transaction};

    const CHAIN: Hash = Hash([1; 32]);

    fn tx(i: u32) -> SignedTransaction {
        let k = dev_key(i);
        Transaction {
            sender: k.public_key(),
            recipient: Address([9; 32]),
            amount: 1 + u64::from(i),
            fee: crate::mempool::DEFAULT_MIN_FEE,
            nonce: 0,
        }
        .sign(&k, &CHAIN)
    }

    /// A block of `n` transfers whose header meets its own (easiest) target.
    fn body(n: u32) -> BodyChecked {
        let mut b = Block {
            header: BlockHeader {
                version: 1,
                height: 7,
                prev: Hash([2; 32]),
                merkle_root: Hash::ZERO,
                state_root: Hash([3; 32]),
                miner: Address([4; 32]),
                timestamp: 1_800_000_000,
                bits: ferrite_core::dev::EASIEST_BITS,
                nonce: 0,
            },
            txs: (0..n).map(tx).collect(),
        };
        b.header.merkle_root = b.compute_merkle_root();
        assert!(ferrite_core::template::mine(&mut b.header, 1_000_000));
        BodyChecked::new(b).unwrap_or_else(|e| panic!("{e}"))
    }

    fn pool_with(txs: &[SignedTransaction]) -> Mempool {
        let mut pool = Mempool::new(MempoolConfig::default());
        let rich = Account {
            balance: 1 << 40,
            nonce: 0,
        };
        for t in txs {
            let v = VerifiedTx::verify(*t, &CHAIN).unwrap_or_else(|e| panic!("{e}"));
            pool.add(v, rich, 0).unwrap_or_else(|e| panic!("{e}"));
        }
        pool
    }

    #[test]
    fn a_block_whose_transfers_are_all_pending_is_delivered_at_once() {
        let b = body(12);
        let c = CompactBlock::new(&b, 3, |_| false);
        let pool = pool_with(&b.block().txs);
        let mut rx = CompactReceiver::default();
        match rx.on_compact(&c, true, &pool) {
            Ok(Step::Deliver { block, validated }) => {
                assert_eq!(block, b);
                assert!(validated);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_transfers_are_asked_for_and_complete_the_block() {
        let b = body(10);
        let txs = b.block().txs.clone();
        let c = CompactBlock::new(&b, 4, |_| false);
        let pool = pool_with(&txs[..7]);
        let mut rx = CompactReceiver::default();
        let Ok(Step::Reply(Message::GetBlockTxs { block, indexes })) =
            rx.on_compact(&c, false, &pool)
        else {
            panic!("expected a request for the missing transfers");
        };
        assert_eq!((block, indexes.clone()), (b.hash(), vec![7, 8, 9]));
        // The sender answers from the block it sent.
        let answer = answer_block_txs(&b, &indexes).unwrap_or_else(|e| panic!("{e}"));
        let Message::BlockTxs { block, txs } = answer else {
            panic!("expected BlockTxs");
        };
        match rx.on_block_txs(block, txs) {
            Ok(Step::Deliver { block, validated }) => {
                assert_eq!(block, b);
                assert!(!validated);
            }
            other => panic!("{other:?}"),
        }
        // A second answer is for nothing.
        assert!(matches!(
            rx.on_block_txs(b.hash(), vec![]),
            Ok(Step::Nothing)
        ));
    }

    #[test]
    fn an_empty_mempool_fetches_a_large_block_whole() {
        let b = body(MAX_MISSING_ASKED as u32 + 1);
        let c = CompactBlock::new(&b, 5, |_| false);
        let mut rx = CompactReceiver::default();
        let step = rx.on_compact(&c, true, &pool_with(&[]));
        assert!(matches!(step, Ok(Step::Announce(h)) if h == b.block().header));
    }

    #[test]
    fn a_forced_short_id_collision_fetches_the_block_whole_and_blames_nobody() {
        let b = body(4);
        let mut c = CompactBlock::new(&b, 6, |_| false);
        let stranger = tx(500);
        let key = super::super::compact::ShortIdKey::new(&c.header, c.nonce);
        c.short_ids[2] = key.short_id(&stranger.id());
        let mut pending = b.block().txs.clone();
        pending.push(stranger);
        let mut rx = CompactReceiver::default();
        let step = rx.on_compact(&c, true, &pool_with(&pending));
        assert!(matches!(step, Ok(Step::Announce(h)) if h == b.block().header));
    }

    #[test]
    fn a_body_of_the_senders_own_transfers_that_does_not_match_is_its_fault() {
        let b = body(3);
        // Everything prefilled, one transfer swapped for another: nothing came from the pool.
        let mut c = CompactBlock::new(&b, 7, |_| true);
        c.prefilled[1].1 = tx(700);
        let mut rx = CompactReceiver::default();
        assert_eq!(
            rx.on_compact(&c, true, &pool_with(&[])).err(),
            Some(Misbehavior::MerkleMismatch(b.hash()))
        );
        // The same through `BlockTxs`: the sender answers with the wrong transfer.
        let c = CompactBlock::new(&b, 8, |i| i != 2);
        let Ok(Step::Reply(_)) = rx.on_compact(&c, true, &pool_with(&[])) else {
            panic!("expected a request");
        };
        assert_eq!(
            rx.on_block_txs(b.hash(), vec![tx(701)]).err(),
            Some(Misbehavior::MerkleMismatch(b.hash()))
        );
    }

    #[test]
    fn a_header_without_its_claimed_work_is_refused_before_anything_else() {
        let b = body(2);
        let mut c = CompactBlock::new(&b, 9, |_| true);
        // The hardest target: no nonce found by `mine` above meets it.
        c.header.bits = 0x0300_0001;
        let mut rx = CompactReceiver::default();
        assert!(matches!(
            rx.on_compact(&c, true, &pool_with(&[])),
            Err(Misbehavior::CompactWithoutWork(_))
        ));
    }

    #[test]
    fn block_txs_requests_must_name_positions_of_the_block_in_order() {
        let b = body(3);
        assert!(answer_block_txs(&b, &[0, 2]).is_ok());
        for bad in [&[2, 1][..], &[3], &[1, 1]] {
            assert_eq!(
                answer_block_txs(&b, bad).err(),
                Some(Misbehavior::BadBlockTxsRequest(b.hash()))
            );
        }
    }

    #[test]
    fn recent_blocks_are_bounded() {
        let recent = RecentCompact::default();
        let blocks: Vec<Arc<BodyChecked>> = (0..RECENT_COMPACT as u32 + 1)
            .map(|i| Arc::new(body(i + 1)))
            .collect();
        for b in &blocks {
            recent.keep(b.clone());
        }
        assert!(recent.get(&blocks[0].hash()).is_none());
        assert!(recent.get(&blocks[RECENT_COMPACT].hash()).is_some());
    }
}
