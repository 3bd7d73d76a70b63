//! What the mempool remembers of transfers that left it without being mined: why each left
//! and when, for the [`MAX_REMEMBERED`] latest, so that a client asking about a replaced or
//! evicted transfer learns what happened to it instead of "unknown".
//!
//! A pure record like the pool itself: the time is passed in, nothing is read from the store.

use std::collections::{BTreeMap, HashMap};

use ferrite_core::ledger::TxError;
use ferrite_core::{Hash, IdentifiedTx};

use super::MempoolError;

/// Most departures remembered. Each costs about 300 bytes (the 152-byte transfer, its id, the
/// reason and two index entries), so the record stays near 3 MiB; at the testnet's 50,000-transfer
/// pool that is a fifth of a full pool turning over, hours of ordinary churn.
pub const MAX_REMEMBERED: usize = 10_000;

/// The pool limit an eviction made room under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolLimit {
    /// The most transfers held.
    Count,
    /// The most bytes held.
    Bytes,
    /// The most transfers one sender may have pending: a transfer of that sender back from a
    /// disconnected block, with a lower nonce, took the place of its highest.
    PerSender,
}

/// Why a transfer left the pool without being mined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// A transfer with the same sender and nonce paying enough more took its place.
    Replaced {
        /// The replacement's id.
        by: Hash,
    },
    /// The pool was full and this paid the lowest fee.
    Evicted(PoolLimit),
    /// It waited longer than the pool's expiry.
    Expired,
    /// It was in a block that left the best chain, and the pool refused it back for this rule.
    Reorg(MempoolError),
    /// Another transfer with its sender and nonce was mined.
    NonceUsed,
    /// After a new tip the sender's balance no longer covers it (with its earlier nonces).
    Unpayable,
    /// Building a block template found it no longer applies to the tip's state.
    NoLongerApplies(TxError),
}

/// A transfer that left the pool without being mined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// The transfer.
    pub tx: IdentifiedTx,
    /// Why it left.
    pub reason: DropReason,
    /// When it left it went with an earlier nonce of the same sender that left for `reason`
    /// (a later nonce cannot be mined without it): that transfer's id.
    pub after: Option<Hash>,
    /// When it left (Unix seconds).
    pub time: u64,
}

/// The latest departures, oldest forgotten first.
#[derive(Debug, Default)]
pub(super) struct DroppedLog {
    by_id: HashMap<Hash, (u64, Dropped)>,
    /// Recording order: sequence number to id (the oldest first).
    order: BTreeMap<u64, Hash>,
    seq: u64,
}

impl DroppedLog {
    /// Records `d`, forgetting the oldest record beyond [`MAX_REMEMBERED`].
    pub(super) fn record(&mut self, d: Dropped) {
        let id = d.tx.id();
        self.forget(&id);
        self.seq += 1;
        self.order.insert(self.seq, id);
        self.by_id.insert(id, (self.seq, d));
        while self.by_id.len() > MAX_REMEMBERED {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.by_id.remove(&oldest);
        }
    }

    /// Forgets `id` (it is back in the pool).
    pub(super) fn forget(&mut self, id: &Hash) {
        if let Some((seq, _)) = self.by_id.remove(id) {
            self.order.remove(&seq);
        }
    }

    /// The record of `id`, if remembered.
    pub(super) fn get(&self, id: &Hash) -> Option<&Dropped> {
        self.by_id.get(id).map(|(_, d)| d)
    }

    /// Records held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_core::dev::dev_key;
    use ferrite_core::{Address, Transaction};

    fn known(nonce: u64) -> IdentifiedTx {
        let k = dev_key(0);
        let t = Transaction {
            sender: k.public_key(),
            recipient: Address([9; 32]),
            amount: 1,
            fee: 1_000,
            nonce,
        }
        .sign(&k, &Hash([1; 32]));
        IdentifiedTx::new(t)
    }

    fn expired(nonce: u64) -> Dropped {
        Dropped {
            tx: known(nonce),
            reason: DropReason::Expired,
            after: None,
            time: nonce,
        }
    }

    #[test]
    fn keeps_the_latest_and_forgets_the_oldest_first() {
        let mut log = DroppedLog::default();
        let n = MAX_REMEMBERED as u64 + 5;
        for nonce in 0..n {
            log.record(expired(nonce));
        }
        assert_eq!(log.len(), MAX_REMEMBERED);
        assert!(log.get(&known(4).id()).is_none(), "the oldest go first");
        assert_eq!(log.get(&known(5).id()).map(|d| d.time), Some(5));
        assert_eq!(log.get(&known(n - 1).id()).map(|d| d.time), Some(n - 1));
        assert_eq!(log.order.len(), log.by_id.len(), "the two indexes agree");
    }

    #[test]
    fn a_second_record_replaces_the_first_and_forget_removes_both_indexes() {
        let mut log = DroppedLog::default();
        log.record(expired(1));
        let again = Dropped {
            reason: DropReason::Unpayable,
            time: 99,
            ..expired(1)
        };
        log.record(again.clone());
        assert_eq!(log.len(), 1);
        assert_eq!(log.get(&known(1).id()), Some(&again));
        log.forget(&known(1).id());
        assert_eq!((log.by_id.len(), log.order.len()), (0, 0));
    }
}
