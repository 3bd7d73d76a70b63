//! The mempool: valid transfers waiting for a block, ordered for mining and bounded in size.
//!
//! Admission checks every transfer rule against the tip state plus the sender's pending
//! transfers: nonce order, balance including pending spends, minimum fee, signature. A transfer
//! whose nonce is ahead of the sender's next one waits (bounded by [`MAX_NONCE_GAP`] and the
//! per-sender cap) until the gap fills. A pending (sender, nonce) is replaced only by a fee at
//! least [`REPLACEMENT_BUMP_PERCENT`]% higher. When full, the lowest fee goes first (all
//! transfers have the same size, so fee order is fee-rate order); evicting a transfer also
//! evicts the same sender's later nonces, which could no longer be mined. A transfer that
//! leaves without being mined is remembered with the reason for a while ([`dropped`]).

mod dropped;

use dropped::DroppedLog;
pub use dropped::{DropReason, Dropped, PoolLimit, MAX_REMEMBERED};

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};

use ferrite_core::ledger::{self, TxError};
use ferrite_core::transaction::SIGNED_TX_LEN;
use ferrite_core::{Account, Address, Hash, IdentifiedTx, SignedTransaction};

use crate::verified::VerifiedTx;

/// Default most transfers held: about 60 full blocks of the testnet, ~10 MiB with overhead.
pub const DEFAULT_MAX_COUNT: usize = 50_000;
/// Default most bytes of transfers held.
pub const DEFAULT_MAX_BYTES: usize = 32 * 1024 * 1024;
/// Default most pending transfers per sender: one sender cannot fill the pool.
pub const DEFAULT_PER_SENDER: usize = 64;
/// Default smallest fee accepted, in base units: makes spam cost something.
pub const DEFAULT_MIN_FEE: u64 = 1_000;
/// Default time a transfer may wait before it is dropped: 3 hours.
pub const DEFAULT_EXPIRY_SECS: u64 = 3 * 3600;
/// How far ahead of the sender's next nonce a transfer may be and still wait for the gap.
pub const MAX_NONCE_GAP: u64 = 64;
/// A replacement must pay at least this much more fee, in percent (and at least one unit).
pub const REPLACEMENT_BUMP_PERCENT: u64 = 10;

/// Mempool limits.
#[derive(Clone, Debug)]
pub struct MempoolConfig {
    /// Most transfers.
    pub max_count: usize,
    /// Most bytes.
    pub max_bytes: usize,
    /// Most transfers per sender.
    pub per_sender: usize,
    /// Smallest fee.
    pub min_fee: u64,
    /// Seconds before a transfer expires.
    pub expiry_secs: u64,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            max_count: DEFAULT_MAX_COUNT,
            max_bytes: DEFAULT_MAX_BYTES,
            per_sender: DEFAULT_PER_SENDER,
            min_fee: DEFAULT_MIN_FEE,
            expiry_secs: DEFAULT_EXPIRY_SECS,
        }
    }
}

/// Why a transfer was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// It breaks a stateless ledger rule (zero amount, self transfer, weak key).
    #[error("{0}")]
    Rule(TxError),
    /// The signature does not verify for this chain.
    #[error("signature does not verify for this chain")]
    BadSignature,
    /// Already in the pool.
    #[error("transaction already in the mempool")]
    Duplicate,
    /// Already in the chain (its nonce is used).
    #[error("nonce {got} already used; next nonce is {expected}")]
    NonceTooLow {
        /// The sender's next nonce.
        expected: u64,
        /// The transfer's nonce.
        got: u64,
    },
    /// Too far ahead of the sender's next nonce.
    #[error("nonce {got} is more than {MAX_NONCE_GAP} ahead of the next nonce {expected}")]
    NonceTooFar {
        /// The sender's next nonce.
        expected: u64,
        /// The transfer's nonce.
        got: u64,
    },
    /// Fee below the node's minimum.
    #[error("fee {got} is below the minimum {min}")]
    FeeTooLow {
        /// The minimum.
        min: u64,
        /// The transfer's fee.
        got: u64,
    },
    /// The sender cannot pay this on top of its pending transfers.
    #[error("balance {balance} cannot cover {needed} (this transfer plus pending ones)")]
    InsufficientBalance {
        /// The sender's balance at the tip.
        balance: u64,
        /// Total needed.
        needed: u64,
    },
    /// A pending transfer with the same nonce pays too much for this one to replace it.
    #[error("replacement fee {got} must be at least {min}")]
    ReplacementUnderpriced {
        /// Smallest acceptable fee.
        min: u64,
        /// The transfer's fee.
        got: u64,
    },
    /// The sender has too many pending transfers.
    #[error("sender already has {0} pending transfers")]
    SenderFull(usize),
    /// The pool is full of transfers paying at least as much.
    #[error("mempool full; fee too low to enter")]
    Full,
    /// The pool is full and the transfer it would evict is an earlier nonce of the same
    /// sender, which this one cannot be mined without.
    #[error("mempool full, and the lowest fee in it is this sender's own nonce {nonce}, which this transfer needs: replace that one with a higher fee instead")]
    FullBehindOwnNonce {
        /// The sender's nonce that pays the lowest fee.
        nonce: u64,
    },
}

impl MempoolError {
    /// A short, stable name of the rule (for metrics labels).
    pub fn rule(&self) -> &'static str {
        match self {
            MempoolError::Rule(e) => e.rule(),
            MempoolError::BadSignature => "bad_signature",
            MempoolError::Duplicate => "duplicate",
            MempoolError::NonceTooLow { .. } => "nonce_too_low",
            MempoolError::NonceTooFar { .. } => "nonce_too_far",
            MempoolError::FeeTooLow { .. } => "fee_too_low",
            MempoolError::InsufficientBalance { .. } => "insufficient_balance",
            MempoolError::ReplacementUnderpriced { .. } => "replacement_underpriced",
            MempoolError::SenderFull(_) => "sender_full",
            MempoolError::Full => "mempool_full",
            MempoolError::FullBehindOwnNonce { .. } => "mempool_full_own_nonce",
        }
    }
}

#[derive(Clone, Debug)]
struct Entry {
    known: IdentifiedTx,
    added: u64,
    seq: u64,
}

impl Entry {
    fn tx(&self) -> &SignedTransaction {
        self.known.tx()
    }

    fn id(&self) -> Hash {
        self.known.id()
    }
}

/// The pool.
pub struct Mempool {
    cfg: MempoolConfig,
    by_id: HashMap<Hash, (Address, u64)>,
    senders: HashMap<Address, BTreeMap<u64, Entry>>,
    /// (fee, newest first, id): the first element is the next to evict.
    by_fee: BTreeSet<(u64, Reverse<u64>, Hash)>,
    /// Arrival order: sequence number to id (the newest last).
    by_seq: BTreeMap<u64, Hash>,
    /// Pending transfers by recipient, in arrival order (sequence number to id), so an
    /// account's incoming view needs no scan.
    incoming: HashMap<Address, BTreeMap<u64, Hash>>,
    seq: u64,
    /// Transfers that left without being mined, and why.
    dropped: DroppedLog,
}

/// Summary figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MempoolStats {
    /// Transfers held.
    pub count: usize,
    /// Bytes held.
    pub bytes: usize,
    /// Sum of fees.
    pub total_fee: u128,
}

impl Mempool {
    /// An empty pool.
    pub fn new(cfg: MempoolConfig) -> Self {
        Mempool {
            cfg,
            by_id: HashMap::new(),
            senders: HashMap::new(),
            by_fee: BTreeSet::new(),
            by_seq: BTreeMap::new(),
            incoming: HashMap::new(),
            seq: 0,
            dropped: DroppedLog::default(),
        }
    }

    /// Number of transfers held.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// True if `id` is held.
    pub fn contains(&self, id: &Hash) -> bool {
        self.by_id.contains_key(id)
    }

    /// A held transfer.
    pub fn get(&self, id: &Hash) -> Option<SignedTransaction> {
        let (a, n) = self.by_id.get(id)?;
        self.senders.get(a)?.get(n).map(|e| *e.tx())
    }

    /// What became of `id` if it left the pool without being mined and is still remembered
    /// (the latest [`MAX_REMEMBERED`] departures are).
    pub fn dropped(&self, id: &Hash) -> Option<&Dropped> {
        self.dropped.get(id)
    }

    /// Count, bytes and fees.
    pub fn stats(&self) -> MempoolStats {
        let total_fee = self.by_fee.iter().map(|(f, _, _)| u128::from(*f)).sum();
        MempoolStats {
            count: self.len(),
            bytes: self.len() * SIGNED_TX_LEN,
            total_fee,
        }
    }

    /// Pending transfers of `sender`, by nonce.
    pub fn pending_of(&self, sender: &Address) -> Vec<SignedTransaction> {
        self.senders
            .get(sender)
            .map(|m| m.values().map(|e| *e.tx()).collect())
            .unwrap_or_default()
    }

    /// Pending transfers paying `recipient`, newest first.
    pub fn incoming_of(&self, recipient: &Address) -> Vec<SignedTransaction> {
        self.incoming
            .get(recipient)
            .map(|ids| ids.values().rev().filter_map(|id| self.get(id)).collect())
            .unwrap_or_default()
    }

    /// The nonce `sender`'s next transfer should carry: the first nonce from its account's
    /// `account_nonce` that no pending transfer holds (a gap is filled before anything after it).
    pub fn next_nonce(&self, sender: &Address, account_nonce: u64) -> u64 {
        let mut next = account_nonce;
        if let Some(m) = self.senders.get(sender) {
            while m.contains_key(&next) {
                next += 1;
            }
        }
        next
    }

    /// The fee a new transfer should pay to be mined within `blocks` blocks of `per_block`
    /// transfers: one unit more than the fee of the last pending transfer that fits in them, if
    /// that many are pending, else the minimum fee. Every pending transfer is counted, also
    /// those waiting behind a nonce gap or a cheaper earlier nonce, so the estimate errs high.
    pub fn fee_estimate(&self, per_block: usize, blocks: usize) -> u64 {
        let rank = per_block.saturating_mul(blocks).max(1);
        match self.fee_at_rank(rank - 1) {
            Some(last_in) => last_in.saturating_add(1).max(self.cfg.min_fee),
            None => self.cfg.min_fee,
        }
    }

    /// The `n` most recently admitted transfers, newest first.
    pub fn recent(&self, n: usize) -> Vec<SignedTransaction> {
        self.by_seq
            .values()
            .rev()
            .take(n)
            .filter_map(|id| self.get(id))
            .collect()
    }

    /// The fee of the transfer ranked `rank` (0-based) from the highest fee, if the pool holds
    /// that many.
    pub fn fee_at_rank(&self, rank: usize) -> Option<u64> {
        self.by_fee.iter().rev().nth(rank).map(|&(fee, _, _)| fee)
    }

    /// The smallest fee the pool admits.
    pub fn min_fee(&self) -> u64 {
        self.cfg.min_fee
    }

    /// Pending transfers grouped by fee, highest first: `(lowest fee in the group, count)`,
    /// at most about `groups` groups of similar size (transfers of one fee stay together).
    pub fn fee_histogram(&self, groups: usize) -> Vec<(u64, usize)> {
        let per_group = self.len().div_ceil(groups.max(1)).max(1);
        let mut out: Vec<(u64, usize)> = Vec::new();
        let mut fees = self.by_fee.iter().rev().map(|&(fee, _, _)| fee).peekable();
        while let Some(fee) = fees.next() {
            let (mut lowest, mut count) = (fee, 1);
            // Fill the group, then finish the run of the fee it ended on.
            while let Some(&next) = fees.peek() {
                if count >= per_group && next != lowest {
                    break;
                }
                lowest = next;
                count += 1;
                fees.next();
            }
            out.push((lowest, count));
        }
        out
    }

    /// Admits `tx` given the sender's account at the tip and the time `now` (Unix seconds).
    ///
    /// The signature was verified before (the argument is a [`VerifiedTx`]), with no lock held.
    pub fn add(
        &mut self,
        tx: VerifiedTx,
        sender_account: Account,
        now: u64,
    ) -> Result<Hash, MempoolError> {
        let known = tx.into_identified();
        let (id, tx) = (known.id(), *known.tx());
        if self.by_id.contains_key(&id) {
            return Err(MempoolError::Duplicate);
        }
        let t = &tx.tx;
        ledger::check_stateless(t).map_err(MempoolError::Rule)?;
        if t.fee < self.cfg.min_fee {
            return Err(MempoolError::FeeTooLow {
                min: self.cfg.min_fee,
                got: t.fee,
            });
        }
        let next = sender_account.nonce;
        if t.nonce < next {
            return Err(MempoolError::NonceTooLow {
                expected: next,
                got: t.nonce,
            });
        }
        if t.nonce - next > MAX_NONCE_GAP {
            return Err(MempoolError::NonceTooFar {
                expected: next,
                got: t.nonce,
            });
        }
        let sender = t.sender_address();
        let pending = self.senders.get(&sender);
        let replaced = pending.and_then(|m| m.get(&t.nonce)).cloned();
        if let Some(old) = &replaced {
            // Rounded up, so the bump is never below the stated percentage.
            let bump =
                (u128::from(old.tx().tx.fee) * u128::from(REPLACEMENT_BUMP_PERCENT)).div_ceil(100);
            let bump = u64::try_from(bump).unwrap_or(u64::MAX).max(1);
            let min = old.tx().tx.fee.saturating_add(bump);
            if t.fee < min {
                return Err(MempoolError::ReplacementUnderpriced { min, got: t.fee });
            }
        } else if pending.map_or(0, BTreeMap::len) >= self.cfg.per_sender {
            return Err(MempoolError::SenderFull(self.cfg.per_sender));
        }
        let mut needed: u64 = t.amount.saturating_add(t.fee);
        if let Some(m) = pending {
            for (n, e) in m {
                if *n != t.nonce {
                    needed = needed.saturating_add(e.tx().tx.amount.saturating_add(e.tx().tx.fee));
                }
            }
        }
        if needed > sender_account.balance {
            return Err(MempoolError::InsufficientBalance {
                balance: sender_account.balance,
                needed,
            });
        }
        let full = self.len() >= self.cfg.max_count
            || (self.len() + 1) * SIGNED_TX_LEN > self.cfg.max_bytes;
        if full && replaced.is_none() {
            // One eviction makes room (every transfer has the same size). The lowest fee goes,
            // with its sender's later nonces: when that is an earlier nonce of this sender, this
            // transfer would go with it, so it is refused and the pool left as it was.
            let lowest = self
                .by_fee
                .first()
                .map(|&(fee, _, id)| (fee, self.by_id.get(&id)));
            match lowest {
                Some((fee, _)) if fee >= t.fee => return Err(MempoolError::Full),
                None => return Err(MempoolError::Full),
                Some((_, Some(&(a, nonce)))) if a == sender && nonce < t.nonce => {
                    return Err(MempoolError::FullBehindOwnNonce { nonce });
                }
                Some(_) => {}
            }
        }
        if let Some(old) = replaced {
            let reason = DropReason::Replaced { by: id };
            self.drop_one(&sender, old.tx().tx.nonce, reason, None, now);
        }
        self.dropped.forget(&id);
        self.seq += 1;
        let entry = Entry {
            known,
            added: now,
            seq: self.seq,
        };
        self.by_fee.insert((t.fee, Reverse(entry.seq), id));
        self.by_seq.insert(entry.seq, id);
        self.incoming
            .entry(t.recipient)
            .or_default()
            .insert(entry.seq, id);
        self.by_id.insert(id, (sender, t.nonce));
        self.senders
            .entry(sender)
            .or_default()
            .insert(t.nonce, entry);
        self.enforce_bounds(now);
        debug_assert!(
            self.by_id.contains_key(&id),
            "an admitted transfer was evicted"
        );
        Ok(id)
    }

    fn remove_one(&mut self, sender: &Address, nonce: u64) -> Option<Entry> {
        let m = self.senders.get_mut(sender)?;
        let e = m.remove(&nonce)?;
        if m.is_empty() {
            self.senders.remove(sender);
        }
        self.by_id.remove(&e.id());
        self.by_fee.remove(&(e.tx().tx.fee, Reverse(e.seq), e.id()));
        self.by_seq.remove(&e.seq);
        let recipient = e.tx().tx.recipient;
        if let Some(ids) = self.incoming.get_mut(&recipient) {
            ids.remove(&e.seq);
            if ids.is_empty() {
                self.incoming.remove(&recipient);
            }
        }
        Some(e)
    }

    /// Removes one transfer and remembers why it left.
    fn drop_one(
        &mut self,
        sender: &Address,
        nonce: u64,
        reason: DropReason,
        after: Option<Hash>,
        now: u64,
    ) -> Option<Hash> {
        let e = self.remove_one(sender, nonce)?;
        let id = e.id();
        self.dropped.record(Dropped {
            tx: e.known,
            reason,
            after,
            time: now,
        });
        Some(id)
    }

    /// Removes the sender's transfers from `nonce` on (they cannot be mined without it),
    /// remembering `reason` for the first and that they went after it for the rest.
    pub fn remove_with_successors(
        &mut self,
        sender: &Address,
        nonce: u64,
        reason: DropReason,
        now: u64,
    ) -> usize {
        self.drop_from(sender, nonce, reason, None, now)
    }

    /// Removes the pending transfer `id` and its sender's later nonces, as
    /// [`Mempool::remove_with_successors`]; nothing when `id` is no longer pending (it may have
    /// been replaced at its nonce since the caller saw it, and the replacement stays).
    pub fn remove_with_successors_of(&mut self, id: &Hash, reason: DropReason, now: u64) -> usize {
        match self.by_id.get(id) {
            Some(&(sender, nonce)) => self.remove_with_successors(&sender, nonce, reason, now),
            None => 0,
        }
    }

    /// Removes the sender's transfers from `nonce` on, each remembered as leaving for `reason`
    /// after `after` (or, when `after` is `None`, after the first of them).
    fn drop_from(
        &mut self,
        sender: &Address,
        nonce: u64,
        reason: DropReason,
        after: Option<Hash>,
        now: u64,
    ) -> usize {
        let nonces: Vec<u64> = self
            .senders
            .get(sender)
            .map(|m| m.range(nonce..).map(|(n, _)| *n).collect())
            .unwrap_or_default();
        let mut first = after;
        for n in &nonces {
            let dropped = self.drop_one(sender, *n, reason.clone(), first, now);
            first = first.or(dropped);
        }
        nonces.len()
    }

    fn enforce_bounds(&mut self, now: u64) {
        loop {
            let limit = if self.len() > self.cfg.max_count {
                PoolLimit::Count
            } else if self.len() * SIGNED_TX_LEN > self.cfg.max_bytes {
                PoolLimit::Bytes
            } else {
                break;
            };
            let Some(&(_, _, id)) = self.by_fee.first() else {
                break;
            };
            let Some(&(sender, nonce)) = self.by_id.get(&id) else {
                break;
            };
            self.remove_with_successors(&sender, nonce, DropReason::Evicted(limit), now);
        }
    }

    /// Drops transfers older than the expiry (and the same senders' later nonces).
    pub fn expire(&mut self, now: u64) -> usize {
        let old: Vec<(Address, u64)> = self
            .senders
            .iter()
            .flat_map(|(a, m)| {
                m.values()
                    .filter(|e| now.saturating_sub(e.added) > self.cfg.expiry_secs)
                    .map(|e| (*a, e.tx().tx.nonce))
            })
            .collect();
        old.into_iter()
            .map(|(a, n)| self.remove_with_successors(&a, n, DropReason::Expired, now))
            .sum()
    }

    /// Brings the pool in line with a new tip: drops `mined` ids, re-admits `returned`
    /// transfers (from disconnected blocks) that are still valid, and re-checks every sender in
    /// `touched` (nonces used, balances spent). `account` reads the new tip's state.
    pub fn on_tip_change(
        &mut self,
        mined: &[Hash],
        returned: Vec<SignedTransaction>,
        touched: &HashSet<Address>,
        account: &dyn Fn(&Address) -> Account,
        now: u64,
    ) {
        for id in mined {
            if let Some(&(a, n)) = self.by_id.get(id) {
                self.remove_one(&a, n);
            }
            // Dropped here but mined by another node: its record would only mislead.
            self.dropped.forget(id);
        }
        // Transfers mined on both branches would be refused back (their nonce is used) but are
        // not dropped. The node's caller already leaves them out of `returned`; this keeps the
        // pool right for a caller that does not.
        let mined_again: HashSet<Hash> = match returned.is_empty() {
            true => HashSet::new(),
            false => mined.iter().copied().collect(),
        };
        let mut check: HashSet<Address> = touched.clone();
        for tx in &returned {
            check.insert(tx.tx.sender_address());
        }
        // Only senders with transfers still pending need their account (a store read).
        check.retain(|a| self.senders.contains_key(a));
        for a in &check {
            self.revalidate_sender(a, account(a), now);
        }
        // Each sender's in nonce order, so an earlier nonce is back before a later one is tried.
        let mut returned: Vec<(Address, SignedTransaction)> = returned
            .into_iter()
            .map(|t| (t.tx.sender_address(), t))
            .collect();
        returned.sort_by_key(|(a, t)| (*a, t.tx.nonce));
        // Senders whose returned nonce was refused, so that their later ones cannot be mined:
        // that transfer's id and the refusal.
        let mut blocked: HashMap<Address, (Hash, MempoolError)> = HashMap::new();
        for (a, tx) in returned {
            let tx = VerifiedTx::from_connected_block(tx);
            let known = *tx.identified();
            if let Some((first, e)) = blocked.get(&a) {
                let (after, reason) = (Some(*first), DropReason::Reorg(e.clone()));
                self.dropped.record(Dropped {
                    tx: known,
                    reason,
                    after,
                    time: now,
                });
                continue;
            }
            let mut added = self.add(tx.clone(), account(&a), now);
            if matches!(added, Err(MempoolError::SenderFull(_))) && self.make_room_for(&known, now)
            {
                added = self.add(tx, account(&a), now);
            }
            match added {
                Ok(_) | Err(MempoolError::Duplicate) => {}
                Err(_) if mined_again.contains(&known.id()) => {}
                Err(e) => {
                    let id = known.id();
                    if self.refused_back(known, e.clone(), now) {
                        blocked.insert(a, (id, e));
                    }
                }
            }
        }
    }

    /// A transfer back from a disconnected block found its sender at the per-sender limit: its
    /// later nonces cannot be mined without it, so the sender's highest pending nonce, if above
    /// it, gives up its place. Whether one did.
    fn make_room_for(&mut self, back: &IdentifiedTx, now: u64) -> bool {
        let sender = back.tx().tx.sender_address();
        let highest = self
            .senders
            .get(&sender)
            .and_then(|m| m.last_key_value())
            .map(|(n, _)| *n);
        match highest {
            Some(n) if n > back.tx().tx.nonce => {
                let reason = DropReason::Evicted(PoolLimit::PerSender);
                self.drop_one(&sender, n, reason, None, now).is_some()
            }
            _ => false,
        }
    }

    /// Remembers a transfer from a disconnected block that the pool refused back for `e`. Unless
    /// its nonce is used on the new branch, the sender's later nonces can no longer be mined
    /// without it: the pending ones go too, after it, and the answer is `true` (later returned
    /// ones must not be taken back either).
    fn refused_back(&mut self, known: IdentifiedTx, e: MempoolError, now: u64) -> bool {
        tracing::debug!(error = %e, "transaction from a disconnected block not re-added");
        let nonce_used = matches!(e, MempoolError::NonceTooLow { .. });
        let (sender, nonce, id) = (
            known.tx().tx.sender_address(),
            known.tx().tx.nonce,
            known.id(),
        );
        self.dropped.record(Dropped {
            tx: known,
            reason: DropReason::Reorg(e.clone()),
            after: None,
            time: now,
        });
        if !nonce_used {
            let next = nonce.saturating_add(1);
            self.drop_from(&sender, next, DropReason::Reorg(e), Some(id), now);
        }
        !nonce_used
    }

    fn revalidate_sender(&mut self, sender: &Address, acct: Account, now: u64) {
        // Nonces already used are gone.
        let used: Vec<u64> = self
            .senders
            .get(sender)
            .map(|m| m.range(..acct.nonce).map(|(n, _)| *n).collect())
            .unwrap_or_default();
        for n in used {
            self.drop_one(sender, n, DropReason::NonceUsed, None, now);
        }
        // Walk the rest in nonce order; from the first that cannot be paid, drop it and later ones.
        let mut spent: u64 = 0;
        let mut cut = None;
        if let Some(m) = self.senders.get(sender) {
            for (n, e) in m {
                spent = spent.saturating_add(e.tx().tx.amount.saturating_add(e.tx().tx.fee));
                if spent > acct.balance {
                    cut = Some(*n);
                    break;
                }
            }
        }
        if let Some(n) = cut {
            self.remove_with_successors(sender, n, DropReason::Unpayable, now);
        }
    }

    /// Transfers for a block template: highest fee first while keeping each sender's nonces in
    /// order and contiguous from its account nonce; at most `max_txs`.
    pub fn select(
        &self,
        max_txs: usize,
        account: &dyn Fn(&Address) -> Account,
    ) -> Vec<SignedTransaction> {
        let mut heap: BinaryHeap<(u64, Reverse<u64>, Address, u64)> = BinaryHeap::new();
        for (a, m) in &self.senders {
            let next = account(a).nonce;
            if let Some(e) = m.get(&next) {
                heap.push((e.tx().tx.fee, Reverse(e.seq), *a, next));
            }
        }
        let mut out = Vec::new();
        while let Some((_, _, a, n)) = heap.pop() {
            if out.len() >= max_txs {
                break;
            }
            let Some(m) = self.senders.get(&a) else {
                continue;
            };
            let Some(e) = m.get(&n) else { continue };
            out.push(*e.tx());
            if let Some(next) = m.get(&(n + 1)) {
                heap.push((next.tx().tx.fee, Reverse(next.seq), a, n + 1));
            }
        }
        out
    }

    /// Every sender with a transfer pending.
    pub fn senders(&self) -> Vec<Address> {
        self.senders.keys().copied().collect()
    }

    /// Every pending transfer with its id, in no particular order (a compact block's rebuild
    /// matches them against its short ids).
    pub fn entries(&self) -> impl Iterator<Item = &IdentifiedTx> {
        self.senders
            .values()
            .flat_map(|m| m.values().map(|e| &e.known))
    }

    /// Every pending id, in arrival order (so that announcements do not depend on a hash map's
    /// order).
    pub fn ids(&self) -> Vec<Hash> {
        self.by_seq.values().copied().collect()
    }
}
