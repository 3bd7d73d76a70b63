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

use super::compact::{rebuild, CompactBlock, CompactError, Partial, Rebuilt};
use super::fsm::Misbehavior;
use super::wire::Message;
use crate::mempool::Mempool;

/// Blocks this node sent as compact blocks, kept to answer `GetBlockTxs` (it may ask before the
/// block is stored: high-bandwidth peers get it before it is connected).
pub const RECENT_COMPACT: usize = 8;

/// What the chain allows of a block, checked before a compact block costs a mempool scan.
#[derive(Debug, Clone, Copy)]
pub struct CompactLimits {
    /// The most transfers a block can hold.
    pub max_txs: usize,
    /// The easiest target a header may name.
    pub pow_limit: Target,
}

/// What the chain knows of a compact block's parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parent {
    /// Stored and not invalid: the block can be rebuilt.
    Known,
    /// Not known to the published view: still rebuilt (the parent may be a block the state
    /// machine is taking in right now); a header that never connects is the machine's verdict
    /// to make (it drops a peer that keeps sending them).
    Unknown,
    /// Known to be invalid: the block is ignored. Its sender may not know that yet (it may have
    /// forwarded the block in good faith), so nobody is blamed.
    Invalid,
}

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
    /// Send `request` to the peer (it asks for transfers of the block) and tell the state
    /// machine that the block of `header` is on its way from this peer.
    Ask {
        /// The block's header.
        header: BlockHeader,
        /// The request for its missing transfers.
        request: Message,
    },
    /// Nothing to do (an answer nobody waits for, a block of an invalid branch).
    Nothing,
}

/// A rebuild waiting for the sender's `BlockTxs`.
#[derive(Debug)]
struct Waiting {
    compact: CompactBlock,
    partial: Partial,
    validated: bool,
}

/// The compact-block state of one connection: at most one rebuild waiting (a newer compact
/// block replaces it).
#[derive(Debug, Default)]
pub struct CompactReceiver {
    waiting: Option<Waiting>,
}

impl CompactReceiver {
    /// A compact block arrived. Before anything costs more than a hash: at most `max_txs`
    /// transfers, a target no easier than the chain allows and met by the header, and a known
    /// parent. Then its transfers are matched against `pool`; what is missing is asked for.
    pub fn on_compact(
        &mut self,
        compact: CompactBlock,
        validated: bool,
        parent: Parent,
        limits: &CompactLimits,
        pool: &Mempool,
    ) -> Result<Step, Misbehavior> {
        let header = compact.header;
        let hash = header.hash();
        let count = compact.tx_count();
        if count > limits.max_txs {
            let error = CompactError::TooManyTxs {
                count,
                max: limits.max_txs,
            };
            return Err(Misbehavior::BadCompact(hash, error));
        }
        let worked = Target::from_compact(header.bits)
            .is_ok_and(|t| t.as_u256() <= limits.pow_limit.as_u256() && t.is_met_by(&hash));
        if !worked {
            return Err(Misbehavior::CompactWithoutWork(hash));
        }
        if parent == Parent::Invalid {
            return Ok(Step::Nothing);
        }
        let rebuilt =
            rebuild(&compact, pool.entries()).map_err(|e| Misbehavior::BadCompact(hash, e))?;
        match rebuilt {
            Rebuilt::Complete { txs, from_pool } => self.finish(compact, txs, from_pool, validated),
            Rebuilt::Ambiguous => self.ask_sender_for_all(compact, validated),
            Rebuilt::Missing(partial) => Ok(self.ask(compact, partial, validated)),
        }
    }

    /// The sender's answer with the missing transfers.
    pub fn on_block_txs(
        &mut self,
        block: Hash,
        txs: Vec<ferrite_core::SignedTransaction>,
    ) -> Result<Step, Misbehavior> {
        let Some(w) = self.waiting.take_if(|w| w.compact.header.hash() == block) else {
            return Ok(Step::Nothing);
        };
        let from_pool = w.partial.from_pool();
        let rebuilt = w
            .partial
            .fill(txs)
            .map_err(|e| Misbehavior::BadCompact(block, e))?;
        self.finish(w.compact, rebuilt, from_pool, w.validated)
    }

    fn ask(&mut self, compact: CompactBlock, partial: Partial, validated: bool) -> Step {
        let header = compact.header;
        let request = Message::GetBlockTxs {
            block: header.hash(),
            indexes: partial.missing(),
        };
        self.waiting = Some(Waiting {
            compact,
            partial,
            validated,
        });
        Step::Ask { header, request }
    }

    /// Asks the sender for every transfer it did not prefill: the mempool cannot be trusted for
    /// this block.
    fn ask_sender_for_all(
        &mut self,
        compact: CompactBlock,
        validated: bool,
    ) -> Result<Step, Misbehavior> {
        let hash = compact.header.hash();
        let partial =
            Partial::sender_only(&compact).map_err(|e| Misbehavior::BadCompact(hash, e))?;
        Ok(self.ask(compact, partial, validated))
    }

    /// The merkle check of a rebuilt body. A body that does not match is the sender's doing only
    /// if every transfer in it came from the sender; with mempool transfers in it, a short-id
    /// collision may be to blame, and the sender is asked for all of them instead.
    fn finish(
        &mut self,
        compact: CompactBlock,
        txs: Vec<ferrite_core::IdentifiedTx>,
        from_pool: usize,
        validated: bool,
    ) -> Result<Step, Misbehavior> {
        let hash = compact.header.hash();
        match BodyChecked::from_identified(compact.header, txs) {
            Ok(block) => Ok(Step::Deliver { block, validated }),
            Err(_) if from_pool > 0 => self.ask_sender_for_all(compact, validated),
            Err(_) => Err(Misbehavior::MerkleMismatch(hash)),
        }
    }
}

/// What `view` knows of the parent `prev` of a compact block.
pub fn parent_of(view: &crate::chain::ChainView, prev: &Hash) -> Parent {
    match view.block_meta(prev) {
        Ok(Some(m)) if m.status.is_invalid() => Parent::Invalid,
        Ok(Some(_)) => Parent::Known,
        _ => Parent::Unknown,
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
    use ferrite_core::{Account, Address, Block, BlockHeader, SignedTransaction, Transaction};

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

    fn limits() -> CompactLimits {
        CompactLimits {
            max_txs: 100,
            pow_limit: Target::from_compact(ferrite_core::dev::EASIEST_BITS)
                .unwrap_or_else(|e| panic!("{e}")),
        }
    }

    fn receive(rx: &mut CompactReceiver, c: &CompactBlock, pool: &Mempool) -> Step {
        rx.on_compact(c.clone(), true, Parent::Known, &limits(), pool)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Answers `step`'s request from `b`, as the sender does, and feeds the answer back.
    fn answered(rx: &mut CompactReceiver, step: Step, b: &BodyChecked) -> Step {
        let Step::Ask {
            header,
            request: Message::GetBlockTxs { block, indexes },
        } = step
        else {
            panic!("expected a request, got {step:?}");
        };
        assert_eq!((block, header), (b.hash(), b.block().header));
        let Ok(Message::BlockTxs { block, txs }) = answer_block_txs(b, &indexes) else {
            panic!("the sender cannot answer {indexes:?}");
        };
        rx.on_block_txs(block, txs)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_block_whose_transfers_are_all_pending_is_delivered_at_once() {
        let b = body(12);
        let c = CompactBlock::new(&b, 3, |_| false);
        let pool = pool_with(&b.block().txs);
        let mut rx = CompactReceiver::default();
        match receive(&mut rx, &c, &pool) {
            Step::Deliver { block, validated } => {
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
        let step = receive(&mut rx, &c, &pool);
        assert!(matches!(
            &step,
            Step::Ask { request: Message::GetBlockTxs { indexes, .. }, .. } if indexes == &vec![7, 8, 9]
        ));
        match answered(&mut rx, step, &b) {
            Step::Deliver { block, .. } => assert_eq!(block, b),
            other => panic!("{other:?}"),
        }
        // A second answer is for nothing.
        assert!(matches!(
            rx.on_block_txs(b.hash(), vec![]),
            Ok(Step::Nothing)
        ));
    }

    #[test]
    fn an_empty_mempool_asks_the_sender_for_everything() {
        let b = body(40);
        let c = CompactBlock::new(&b, 5, |i| i == 0);
        let mut rx = CompactReceiver::default();
        let step = receive(&mut rx, &c, &pool_with(&[]));
        assert!(matches!(
            &step,
            Step::Ask { request: Message::GetBlockTxs { indexes, .. }, .. } if indexes.len() == 39
        ));
        assert!(matches!(answered(&mut rx, step, &b), Step::Deliver { block, .. } if block == b));
    }

    #[test]
    fn a_forced_short_id_collision_asks_the_sender_for_everything_and_blames_nobody() {
        let b = body(4);
        let mut c = CompactBlock::new(&b, 6, |_| false);
        let stranger = tx(500);
        let key = super::super::compact::ShortIdKey::new(&c.header, c.nonce);
        c.short_ids[2] = key.short_id(&stranger.id());
        let mut pending = b.block().txs.clone();
        pending.push(stranger);
        let mut rx = CompactReceiver::default();
        // The rebuilt body does not match: every transfer is asked of the sender instead.
        let step = receive(&mut rx, &c, &pool_with(&pending));
        assert!(matches!(
            &step,
            Step::Ask { request: Message::GetBlockTxs { indexes, .. }, .. } if indexes == &vec![0, 1, 2, 3]
        ));
        assert!(matches!(answered(&mut rx, step, &b), Step::Deliver { block, .. } if block == b));
    }

    #[test]
    fn two_transfers_of_the_block_on_one_short_id_ask_the_sender_for_everything() {
        let b = body(3);
        let mut c = CompactBlock::new(&b, 16, |_| false);
        c.short_ids[2] = c.short_ids[0];
        let mut rx = CompactReceiver::default();
        let step = receive(&mut rx, &c, &pool_with(&b.block().txs));
        assert!(matches!(answered(&mut rx, step, &b), Step::Deliver { block, .. } if block == b));
    }

    #[test]
    fn a_body_of_the_senders_own_transfers_that_does_not_match_is_its_fault() {
        let b = body(3);
        // Everything prefilled, one transfer swapped for another: nothing came from the pool.
        let mut c = CompactBlock::new(&b, 7, |_| true);
        c.prefilled[1].1 = tx(700);
        let mut rx = CompactReceiver::default();
        assert_eq!(
            rx.on_compact(c, true, Parent::Known, &limits(), &pool_with(&[]))
                .err(),
            Some(Misbehavior::MerkleMismatch(b.hash()))
        );
        // The same through `BlockTxs`: the sender answers with the wrong transfer.
        let c = CompactBlock::new(&b, 8, |i| i != 2);
        let Step::Ask { .. } = receive(&mut rx, &c, &pool_with(&[])) else {
            panic!("expected a request");
        };
        assert_eq!(
            rx.on_block_txs(b.hash(), vec![tx(701)]).err(),
            Some(Misbehavior::MerkleMismatch(b.hash()))
        );
    }

    #[test]
    fn cheap_checks_come_before_the_mempool() {
        let b = body(2);
        let pool = pool_with(&[]);
        let mut rx = CompactReceiver::default();
        // A target the header does not meet.
        let mut c = CompactBlock::new(&b, 9, |_| true);
        c.header.bits = 0x0300_0001;
        assert!(matches!(
            rx.on_compact(c, true, Parent::Known, &limits(), &pool),
            Err(Misbehavior::CompactWithoutWork(_))
        ));
        // A target easier than the chain allows (met by the header, so not a proof of work).
        let c = CompactBlock::new(&b, 9, |_| true);
        let strict = CompactLimits {
            pow_limit: Target::from_compact(0x1d00_ffff).unwrap_or_else(|e| panic!("{e}")),
            ..limits()
        };
        assert!(matches!(
            rx.on_compact(c.clone(), true, Parent::Known, &strict, &pool),
            Err(Misbehavior::CompactWithoutWork(_))
        ));
        // More transfers than a block holds.
        let tight = CompactLimits {
            max_txs: 1,
            ..limits()
        };
        assert!(matches!(
            rx.on_compact(c.clone(), true, Parent::Known, &tight, &pool),
            Err(Misbehavior::BadCompact(
                _,
                CompactError::TooManyTxs { count: 2, max: 1 }
            ))
        ));
        // A parent the view does not know yet is no reason to wait; an invalid one makes the
        // block ignored, blaming nobody.
        assert!(matches!(
            rx.on_compact(c.clone(), false, Parent::Unknown, &limits(), &pool),
            Ok(Step::Deliver { .. })
        ));
        assert!(matches!(
            rx.on_compact(c, false, Parent::Invalid, &limits(), &pool),
            Ok(Step::Nothing)
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
