//! Compact blocks, after BIP152: a block sent as its header plus a 6-byte short id per
//! transfer, so a peer that already holds the transfers in its mempool rebuilds the block from
//! a few kilobytes instead of receiving it whole.
//!
//! Short ids are SipHash-2-4 of the transfer id under a key derived from the block's header and
//! a nonce the sender draws for each block and each connection ([`ShortIdKey`]): nobody knows
//! the key before the block exists, so nobody can grind transfers whose short ids collide
//! across the network, and a collision that happens by chance on one link does not repeat on
//! the next. Transfers the sender expects the receiver to lack travel whole (`prefilled`).
//!
//! The receiver matches its mempool against the short ids ([`rebuild`]): every slot filled
//! gives the block ([`Rebuilt::Complete`]); otherwise it asks for the missing positions and
//! completes the [`Partial`] with the answer. Two transfers of the block with one short id
//! cannot be told apart by position ([`Rebuilt::Ambiguous`]): the sender is asked for all.
//! A mempool transfer that collides with a different transfer of the block shows up as a merkle
//! root that does not match after rebuilding; the caller then asks the sender for every
//! transfer ([`Partial::sender_only`]), and blames the sender only when every transfer of the
//! rebuilt body came from the sender itself.

use std::collections::HashMap;
use std::hash::Hasher;

use ferrite_core::encoding::{put_u32, put_u64, Decode, DecodeError, Encode, Reader};
use ferrite_core::transaction::SIGNED_TX_LEN;
use ferrite_core::{BlockHeader, BodyChecked, Hash, IdentifiedTx, SignedTransaction};
use siphasher::sip::SipHasher24;

/// Bytes of a short id on the wire: 48 bits, so a 5,000-transfer block against a 50,000-entry
/// mempool collides by chance about once in a million blocks.
pub const SHORT_ID_LEN: usize = 6;
/// Domain of the key derivation (the project's convention: name, date, version).
const KEY_CONTEXT: &str = "ferrite 2026-12-02 compact block short id key v1";

/// The SipHash key of one compact block on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShortIdKey {
    k0: u64,
    k1: u64,
}

impl ShortIdKey {
    /// The key for `header` under the sender's `nonce`: the first 16 bytes of a BLAKE3 key
    /// derivation over the encoded header followed by the nonce (little-endian).
    pub fn new(header: &BlockHeader, nonce: u64) -> ShortIdKey {
        let mut material = header.to_bytes().to_vec();
        material.extend_from_slice(&nonce.to_le_bytes());
        let k = blake3::derive_key(KEY_CONTEXT, &material);
        let half = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&k[i..i + 8]);
            u64::from_le_bytes(b)
        };
        ShortIdKey {
            k0: half(0),
            k1: half(8),
        }
    }

    /// The short id of the transfer `id`: SipHash-2-4 of its 32 bytes, low 48 bits.
    pub fn short_id(&self, id: &Hash) -> u64 {
        let mut h = SipHasher24::new_with_keys(self.k0, self.k1);
        h.write(&id.0);
        h.finish() & 0xffff_ffff_ffff
    }
}

/// A block as header, nonce, short ids and prefilled transfers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactBlock {
    /// The block's header.
    pub header: BlockHeader,
    /// The sender's nonce for this block on this connection.
    pub nonce: u64,
    /// Short ids of the transfers not prefilled, in block order.
    pub short_ids: Vec<u64>,
    /// Transfers sent whole, with their position in the block (increasing).
    pub prefilled: Vec<(u32, SignedTransaction)>,
}

impl CompactBlock {
    /// `body` under `nonce`, sending whole the transfers at the positions `prefill` picks.
    pub fn new(body: &BodyChecked, nonce: u64, prefill: impl Fn(usize) -> bool) -> CompactBlock {
        let block = body.block();
        let key = ShortIdKey::new(&block.header, nonce);
        let mut short_ids = Vec::with_capacity(block.txs.len());
        let mut prefilled = Vec::new();
        for (i, (tx, id)) in block.txs.iter().zip(body.tx_ids()).enumerate() {
            if prefill(i) {
                // Positions fit in u32: a block's count is a u32 on the wire.
                prefilled.push((i as u32, *tx));
            } else {
                short_ids.push(key.short_id(id));
            }
        }
        CompactBlock {
            header: block.header,
            nonce,
            short_ids,
            prefilled,
        }
    }

    /// Transfers in the block.
    pub fn tx_count(&self) -> usize {
        self.short_ids.len() + self.prefilled.len()
    }

    /// Encoded size of a compact block with `short` short ids and `prefilled` whole transfers.
    pub fn size_with(short: usize, prefilled: usize) -> usize {
        ferrite_core::block::HEADER_LEN
            + 8
            + 4
            + short * SHORT_ID_LEN
            + 4
            + prefilled * (4 + SIGNED_TX_LEN)
    }
}

impl Encode for CompactBlock {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.header.encode_to(out);
        put_u64(out, self.nonce);
        // Counts beyond u32 cannot occur: the block size limit bounds them far below.
        put_u32(out, u32::try_from(self.short_ids.len()).unwrap_or(u32::MAX));
        for s in &self.short_ids {
            out.extend_from_slice(&s.to_le_bytes()[..SHORT_ID_LEN]);
        }
        put_u32(out, u32::try_from(self.prefilled.len()).unwrap_or(u32::MAX));
        for (i, tx) in &self.prefilled {
            put_u32(out, *i);
            tx.encode_to(out);
        }
    }

    fn encoded_len(&self) -> usize {
        CompactBlock::size_with(self.short_ids.len(), self.prefilled.len())
    }
}

impl Decode for CompactBlock {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let header = BlockHeader::decode_from(r)?;
        let nonce = r.u64()?;
        let n = r.count(SHORT_ID_LEN)? as usize;
        let mut short_ids = Vec::with_capacity(n);
        for _ in 0..n {
            let b: [u8; SHORT_ID_LEN] = r.array()?;
            let mut full = [0u8; 8];
            full[..SHORT_ID_LEN].copy_from_slice(&b);
            short_ids.push(u64::from_le_bytes(full));
        }
        let n = r.count(4 + SIGNED_TX_LEN)? as usize;
        let mut prefilled = Vec::with_capacity(n);
        for _ in 0..n {
            let i = r.u32()?;
            prefilled.push((i, SignedTransaction::decode_from(r)?));
        }
        Ok(CompactBlock {
            header,
            nonce,
            short_ids,
            prefilled,
        })
    }
}

/// Why a compact block cannot be rebuilt at all (its sender broke the format's rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CompactError {
    /// A prefilled position is not above the one before it, or not inside the block.
    #[error("prefilled position {index} is out of order or beyond the block's {total} transfers")]
    BadPrefilledPosition {
        /// The position.
        index: u32,
        /// Transfers in the block.
        total: usize,
    },
    /// More transfers than a block of this chain can hold.
    #[error("{count} transfers, more than a block holds ({max})")]
    TooManyTxs {
        /// Transfers the compact block names.
        count: usize,
        /// The most a block can hold.
        max: usize,
    },
    /// The answer to a request for missing transfers has another count than was asked.
    #[error("{got} transfers sent for {expected} missing")]
    WrongCount {
        /// Transfers asked for.
        expected: usize,
        /// Transfers sent.
        got: usize,
    },
}

/// A block whose transfers are partly known.
#[derive(Debug, Clone)]
pub struct Partial {
    header: BlockHeader,
    slots: Vec<Option<IdentifiedTx>>,
    from_pool: usize,
}

impl Partial {
    /// The block's header.
    pub fn header(&self) -> &BlockHeader {
        &self.header
    }

    /// Positions still missing, increasing.
    pub fn missing(&self) -> Vec<u32> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_none())
            .map(|(i, _)| i as u32)
            .collect()
    }

    /// Transfers that came from the local mempool.
    pub fn from_pool(&self) -> usize {
        self.from_pool
    }

    /// `compact` with only its prefilled transfers: everything else is to be asked of the
    /// sender (when the mempool cannot be trusted for this block: a short id shared by two of
    /// its transfers, or a body rebuilt with mempool transfers that did not match).
    pub fn sender_only(compact: &CompactBlock) -> Result<Partial, CompactError> {
        rebuild_slots(compact).map(|slots| Partial {
            header: compact.header,
            slots,
            from_pool: 0,
        })
    }

    /// Completes the block with `txs`, the missing transfers in position order: every
    /// transfer of the block, in order (the merkle root not checked yet).
    pub fn fill(mut self, txs: Vec<SignedTransaction>) -> Result<Vec<IdentifiedTx>, CompactError> {
        let missing = self.slots.iter().filter(|s| s.is_none()).count();
        if txs.len() != missing {
            return Err(CompactError::WrongCount {
                expected: missing,
                got: txs.len(),
            });
        }
        let mut txs = txs.into_iter().map(IdentifiedTx::new);
        for slot in self.slots.iter_mut().filter(|s| s.is_none()) {
            *slot = txs.next();
        }
        Ok(self.into_txs())
    }

    fn into_txs(self) -> Vec<IdentifiedTx> {
        self.slots.into_iter().flatten().collect()
    }
}

/// The block's positions with its prefilled transfers in place, the rest empty.
fn rebuild_slots(compact: &CompactBlock) -> Result<Vec<Option<IdentifiedTx>>, CompactError> {
    let total = compact.tx_count();
    let mut slots: Vec<Option<IdentifiedTx>> = vec![None; total];
    let mut last: Option<u32> = None;
    for (index, tx) in &compact.prefilled {
        let in_order = last.is_none_or(|l| *index > l);
        let Some(slot) = slots.get_mut(*index as usize).filter(|_| in_order) else {
            return Err(CompactError::BadPrefilledPosition {
                index: *index,
                total,
            });
        };
        *slot = Some(IdentifiedTx::new(*tx));
        last = Some(*index);
    }
    Ok(slots)
}

/// What matching a compact block against the mempool gave.
#[derive(Debug, Clone)]
pub enum Rebuilt {
    /// Every transfer is known: the block (`from_pool` of its transfers came from the mempool).
    Complete {
        /// The block's transfers in order, with their ids (the merkle root not checked yet).
        txs: Vec<IdentifiedTx>,
        /// Transfers taken from the mempool.
        from_pool: usize,
    },
    /// Some transfers are missing: ask for [`Partial::missing`].
    Missing(Partial),
    /// Two transfers of the block share a short id: ask the sender for every transfer.
    Ambiguous,
}

/// Matches `compact` against `pool` (each pending transfer with its id). A pending transfer
/// whose short id two pending transfers share fills nothing (it is asked for instead).
pub fn rebuild<'a>(
    compact: &CompactBlock,
    pool: impl IntoIterator<Item = &'a IdentifiedTx>,
) -> Result<Rebuilt, CompactError> {
    let key = ShortIdKey::new(&compact.header, compact.nonce);
    rebuild_with(compact, pool, |id| key.short_id(id))
}

/// [`rebuild`] with the short-id function given (tests force collisions with it).
fn rebuild_with<'a>(
    compact: &CompactBlock,
    pool: impl IntoIterator<Item = &'a IdentifiedTx>,
    short_id: impl Fn(&Hash) -> u64,
) -> Result<Rebuilt, CompactError> {
    let total = compact.tx_count();
    let mut slots = rebuild_slots(compact)?;
    // Short ids fill the positions not prefilled, in order.
    let mut wanted: HashMap<u64, usize> = HashMap::with_capacity(compact.short_ids.len());
    let open: Vec<usize> = (0..total).filter(|i| slots[*i].is_none()).collect();
    let open = open.into_iter();
    for (sid, pos) in compact.short_ids.iter().zip(open) {
        if wanted.insert(*sid, pos).is_some() {
            return Ok(Rebuilt::Ambiguous);
        }
    }
    // Positions two pending transfers matched: neither can be trusted.
    let mut contested = vec![false; total];
    let mut from_pool = 0usize;
    for tx in pool {
        let Some(&pos) = wanted.get(&short_id(&tx.id())) else {
            continue;
        };
        if contested[pos] {
            continue;
        }
        if slots[pos].is_some() {
            slots[pos] = None;
            contested[pos] = true;
            from_pool -= 1;
        } else {
            slots[pos] = Some(*tx);
            from_pool += 1;
        }
    }
    let partial = Partial {
        header: compact.header,
        slots,
        from_pool,
    };
    if partial.slots.iter().all(Option::is_some) {
        Ok(Rebuilt::Complete {
            txs: partial.into_txs(),
            from_pool,
        })
    } else {
        Ok(Rebuilt::Missing(partial))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_core::dev::dev_key;
    use ferrite_core::{Address, Block, Transaction};

    fn tx(i: u32) -> SignedTransaction {
        let k = dev_key(i);
        Transaction {
            sender: k.public_key(),
            recipient: Address([9; 32]),
            amount: 1 + u64::from(i),
            fee: 1,
            nonce: 0,
        }
        .sign(&k, &Hash([1; 32]))
    }

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
                bits: 0x2100_ffff,
                nonce: 5,
            },
            txs: (0..n).map(tx).collect(),
        };
        b.header.merkle_root = b.compute_merkle_root();
        BodyChecked::new(b).unwrap_or_else(|e| panic!("{e}"))
    }

    fn pool_of(txs: &[SignedTransaction]) -> Vec<IdentifiedTx> {
        txs.iter().map(|t| IdentifiedTx::new(*t)).collect()
    }

    fn rebuild_from(c: &CompactBlock, pool: &[IdentifiedTx]) -> Rebuilt {
        rebuild(c, pool).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The body the transfers make with `header`.
    fn checked(header: BlockHeader, txs: Vec<IdentifiedTx>) -> BodyChecked {
        BodyChecked::from_identified(header, txs).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn everything_in_the_mempool_rebuilds_the_block() {
        let b = body(20);
        let c = CompactBlock::new(&b, 11, |i| i == 0);
        assert_eq!(c.prefilled.len(), 1);
        // The pool holds the other 19 and unrelated transfers.
        let mut pool = pool_of(&b.block().txs[1..]);
        pool.extend(pool_of(&(100..140).map(tx).collect::<Vec<_>>()));
        match rebuild_from(&c, &pool) {
            Rebuilt::Complete { txs, from_pool } => {
                assert_eq!(checked(c.header, txs), b);
                assert_eq!(from_pool, 19);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn some_missing_are_named_and_filled_in_order() {
        let b = body(10);
        let c = CompactBlock::new(&b, 12, |_| false);
        let txs = &b.block().txs;
        let pool: Vec<_> = pool_of(txs)
            .into_iter()
            .enumerate()
            .filter(|(i, _)| ![2, 7].contains(i))
            .map(|(_, p)| p)
            .collect();
        let Rebuilt::Missing(partial) = rebuild_from(&c, &pool) else {
            panic!("expected missing transfers");
        };
        assert_eq!(partial.missing(), vec![2, 7]);
        assert_eq!(partial.from_pool(), 8);
        assert_eq!(
            partial.clone().fill(vec![txs[2]]).err(),
            Some(CompactError::WrongCount {
                expected: 2,
                got: 1
            })
        );
        let filled = partial
            .fill(vec![txs[2], txs[7]])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(checked(c.header, filled), b);
    }

    #[test]
    fn nothing_in_the_mempool_asks_for_everything() {
        let b = body(5);
        let c = CompactBlock::new(&b, 13, |_| false);
        let Rebuilt::Missing(partial) = rebuild_from(&c, &[]) else {
            panic!("expected missing transfers");
        };
        assert_eq!(partial.missing(), vec![0, 1, 2, 3, 4]);
        let filled = partial
            .fill(b.block().txs.clone())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(checked(c.header, filled), b);
    }

    #[test]
    fn a_pending_transfer_with_a_colliding_short_id_gives_a_body_that_does_not_match() {
        let b = body(4);
        let mut c = CompactBlock::new(&b, 14, |_| false);
        // Forge the collision: the short id of position 1 becomes that of an unrelated pending
        // transfer, which the block does not hold.
        let stranger = tx(500);
        let key = ShortIdKey::new(&c.header, c.nonce);
        c.short_ids[1] = key.short_id(&stranger.id());
        let mut pool = pool_of(&b.block().txs);
        pool.push(IdentifiedTx::new(stranger));
        let Rebuilt::Complete { txs, from_pool } = rebuild_from(&c, &pool) else {
            panic!("expected a complete (wrong) body");
        };
        assert_eq!(from_pool, 4);
        assert_eq!(
            BodyChecked::from_identified(c.header, txs).err(),
            Some(ferrite_core::validation::BlockError::BadMerkleRoot)
        );
    }

    #[test]
    fn two_pending_candidates_for_one_short_id_fill_nothing() {
        let b = body(3);
        let c = CompactBlock::new(&b, 15, |_| false);
        let txs = &b.block().txs;
        // Two pending transfers answering to position 0's short id: a 48-bit collision between
        // them, forced by a short-id function that gives the strangers position 0's id.
        let key = ShortIdKey::new(&c.header, c.nonce);
        let (first, second) = (tx(600), tx(601));
        let strangers = [first.id(), second.id()];
        let colliding = |h: &Hash| {
            let h = if strangers.contains(h) {
                txs[0].id()
            } else {
                *h
            };
            key.short_id(&h)
        };
        let mut pool = pool_of(txs);
        pool.push(IdentifiedTx::new(first));
        let rebuilt = rebuild_with(&c, &pool, colliding).unwrap_or_else(|e| panic!("{e}"));
        let Rebuilt::Missing(partial) = rebuilt else {
            panic!("a contested position is asked for");
        };
        assert_eq!(partial.missing(), vec![0]);
        assert_eq!(partial.from_pool(), 2);
        // A third candidate does not un-contest it.
        pool.push(IdentifiedTx::new(second));
        let rebuilt = rebuild_with(&c, &pool, colliding).unwrap_or_else(|e| panic!("{e}"));
        let Rebuilt::Missing(partial) = rebuilt else {
            panic!("still contested");
        };
        assert_eq!(partial.missing(), vec![0]);
    }

    #[test]
    fn two_transfers_of_the_block_on_one_short_id_are_ambiguous() {
        let b = body(3);
        let mut c = CompactBlock::new(&b, 16, |_| false);
        c.short_ids[2] = c.short_ids[0];
        assert!(matches!(
            rebuild_from(&c, &pool_of(&b.block().txs)),
            Rebuilt::Ambiguous
        ));
    }

    #[test]
    fn prefilled_positions_must_increase_and_stay_inside() {
        let b = body(3);
        let mut c = CompactBlock::new(&b, 17, |i| i < 2);
        c.prefilled.swap(0, 1);
        assert_eq!(
            rebuild(&c, std::iter::empty()).err(),
            Some(CompactError::BadPrefilledPosition { index: 0, total: 3 })
        );
        let mut c = CompactBlock::new(&b, 17, |i| i == 1);
        c.prefilled[0].0 = 3;
        assert_eq!(
            rebuild(&c, std::iter::empty()).err(),
            Some(CompactError::BadPrefilledPosition { index: 3, total: 3 })
        );
    }

    #[test]
    fn the_salt_changes_every_short_id() {
        let b = body(50);
        let a = CompactBlock::new(&b, 1, |_| false);
        let c = CompactBlock::new(&b, 2, |_| false);
        assert!(a.short_ids.iter().zip(&c.short_ids).all(|(x, y)| x != y));
        assert!(a.short_ids.iter().all(|s| *s < 1 << 48));
    }

    #[test]
    fn the_encoding_round_trips_and_is_pinned() {
        let b = body(2);
        let c = CompactBlock::new(&b, 0x0102_0304_0506_0708, |i| i == 1);
        let bytes = c.encode();
        assert_eq!(bytes.len(), c.encoded_len());
        assert_eq!(
            CompactBlock::decode(&bytes).unwrap_or_else(|e| panic!("{e}")),
            c
        );
        // Header, then the nonce, the short id count and the first short id, then the prefilled
        // count and position: a change to any of these fails here.
        let h = ferrite_core::block::HEADER_LEN;
        assert_eq!(&bytes[h..h + 8], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(&bytes[h + 8..h + 12], &[1, 0, 0, 0]);
        let key = ShortIdKey::new(&c.header, c.nonce);
        let first = key.short_id(&b.tx_ids()[0]).to_le_bytes();
        assert_eq!(&bytes[h + 12..h + 18], &first[..6]);
        assert_eq!(&bytes[h + 18..h + 26], &[1, 0, 0, 0, 1, 0, 0, 0]);
        // The short id function itself, pinned on fixed input.
        let k = ShortIdKey::new(&c.header, 0);
        assert_eq!(
            format!("{:012x}", k.short_id(&Hash([0xab; 32]))),
            PINNED_SHORT_ID
        );
    }

    /// Short id of `[0xab; 32]` under the test header with nonce 0 (computed once, kept).
    const PINNED_SHORT_ID: &str = "4cab127fff2b";
}
