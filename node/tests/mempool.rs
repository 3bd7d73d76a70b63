//! Mempool rules, one test each: admission checks, gapped nonces, replacement, bounds and
//! eviction, expiry, tip changes, and template ordering.

use std::collections::{HashMap, HashSet};

use ferrite_core::dev::dev_key;
use ferrite_core::ledger::TxError;
use ferrite_core::{Account, Address, Hash, SignedTransaction, Transaction};
use ferrite_node::mempool::{
    DropReason, Mempool, MempoolConfig, MempoolError, PoolLimit, MAX_NONCE_GAP,
};
use ferrite_node::verified::VerifiedTx;

const CHAIN: Hash = Hash([42; 32]);
const NOW: u64 = 1_000_000;

fn tx(from: u32, nonce: u64, amount: u64, fee: u64) -> SignedTransaction {
    let k = dev_key(from);
    Transaction {
        sender: k.public_key(),
        recipient: Address([200; 32]),
        amount,
        fee,
        nonce,
    }
    .sign(&k, &CHAIN)
}

fn rich() -> Account {
    Account {
        balance: 1_000_000_000,
        nonce: 0,
    }
}

/// Admission as the node does it: the signature first, then the pool's rules.
trait AddTx {
    fn add_tx(&mut self, t: SignedTransaction, a: Account, now: u64) -> Result<Hash, MempoolError>;
}

impl AddTx for Mempool {
    fn add_tx(&mut self, t: SignedTransaction, a: Account, now: u64) -> Result<Hash, MempoolError> {
        self.add(VerifiedTx::verify(t, &CHAIN)?, a, now)
    }
}

fn pool() -> Mempool {
    Mempool::new(MempoolConfig::default())
}

/// What the pool remembers of `t` leaving: (reason, the earlier nonce it went with, when).
fn why(p: &Mempool, t: &SignedTransaction) -> Option<(DropReason, Option<Hash>, u64)> {
    p.dropped(&t.id()).map(|d| {
        assert_eq!(d.tx.tx(), t, "the record keeps the transfer itself");
        (d.reason.clone(), d.after, d.time)
    })
}

#[test]
fn admits_valid_and_refuses_duplicates() {
    let mut p = pool();
    let t = tx(0, 0, 10, 1_000);
    assert_eq!(p.add_tx(t, rich(), NOW), Ok(t.id()));
    assert_eq!(p.add_tx(t, rich(), NOW), Err(MempoolError::Duplicate));
    assert_eq!(p.len(), 1);
}

#[test]
fn stateless_rules() {
    let mut p = pool();
    assert_eq!(
        p.add_tx(tx(0, 0, 0, 1_000), rich(), NOW),
        Err(MempoolError::Rule(TxError::ZeroAmount))
    );
    let k = dev_key(0);
    let selfie = Transaction {
        sender: k.public_key(),
        recipient: k.address(),
        amount: 1,
        fee: 1_000,
        nonce: 0,
    }
    .sign(&k, &CHAIN);
    assert_eq!(
        p.add_tx(selfie, rich(), NOW),
        Err(MempoolError::Rule(TxError::SelfTransfer))
    );
}

#[test]
fn minimum_fee() {
    let mut p = pool();
    assert_eq!(
        p.add_tx(tx(0, 0, 10, 999), rich(), NOW),
        Err(MempoolError::FeeTooLow {
            min: 1_000,
            got: 999
        })
    );
}

#[test]
fn bad_signature_and_other_chain() {
    let mut p = pool();
    let mut t = tx(0, 0, 10, 1_000);
    t.signature.0[3] ^= 1;
    assert_eq!(p.add_tx(t, rich(), NOW), Err(MempoolError::BadSignature));
    let k = dev_key(0);
    let other = Transaction {
        sender: k.public_key(),
        recipient: Address([1; 32]),
        amount: 1,
        fee: 1_000,
        nonce: 0,
    }
    .sign(&k, &Hash([43; 32]));
    assert_eq!(
        p.add_tx(other, rich(), NOW),
        Err(MempoolError::BadSignature)
    );
}

#[test]
fn nonce_too_low_and_too_far() {
    let mut p = pool();
    let acct = Account {
        balance: 1_000_000,
        nonce: 5,
    };
    assert_eq!(
        p.add_tx(tx(0, 4, 10, 1_000), acct, NOW),
        Err(MempoolError::NonceTooLow {
            expected: 5,
            got: 4
        })
    );
    let far = 5 + MAX_NONCE_GAP + 1;
    assert_eq!(
        p.add_tx(tx(0, far, 10, 1_000), acct, NOW),
        Err(MempoolError::NonceTooFar {
            expected: 5,
            got: far
        })
    );
}

#[test]
fn gapped_nonces_wait_until_the_gap_fills() {
    let mut p = pool();
    let a = dev_key(0).address();
    let accounts = |_: &Address| rich();
    p.add_tx(tx(0, 2, 10, 1_000), rich(), NOW).unwrap();
    assert!(
        p.select(100, &accounts).is_empty(),
        "gapped transfer must not be mined"
    );
    p.add_tx(tx(0, 0, 10, 1_000), rich(), NOW).unwrap();
    assert_eq!(p.select(100, &accounts).len(), 1);
    p.add_tx(tx(0, 1, 10, 1_000), rich(), NOW).unwrap();
    let sel: Vec<u64> = p
        .select(100, &accounts)
        .iter()
        .map(|t| t.tx.nonce)
        .collect();
    assert_eq!(sel, vec![0, 1, 2]);
    assert_eq!(p.pending_of(&a).len(), 3);
}

#[test]
fn balance_counts_pending_spends() {
    let mut p = pool();
    let acct = Account {
        balance: 12_000,
        nonce: 0,
    };
    p.add_tx(tx(0, 0, 5_000, 1_000), acct, NOW).unwrap();
    assert_eq!(
        p.add_tx(tx(0, 1, 6_000, 1_000), acct, NOW),
        Err(MempoolError::InsufficientBalance {
            balance: 12_000,
            needed: 13_000
        })
    );
    p.add_tx(tx(0, 1, 5_000, 1_000), acct, NOW).unwrap();
}

#[test]
fn replacement_needs_a_ten_percent_bump() {
    let mut p = pool();
    let old = tx(0, 0, 10, 10_000);
    p.add_tx(old, rich(), NOW).unwrap();
    assert_eq!(
        p.add_tx(tx(0, 0, 11, 10_999), rich(), NOW),
        Err(MempoolError::ReplacementUnderpriced {
            min: 11_000,
            got: 10_999
        })
    );
    assert_eq!(why(&p, &old), None, "a refused replacement drops nothing");
    let new = tx(0, 0, 12, 11_000);
    p.add_tx(new, rich(), NOW + 5).unwrap();
    assert!(!p.contains(&old.id()) && p.contains(&new.id()));
    assert_eq!(p.len(), 1);
    let by = DropReason::Replaced { by: new.id() };
    assert_eq!(why(&p, &old), Some((by, None, NOW + 5)));
    assert_eq!(why(&p, &new), None);
    // Replaced back (a higher fee still): the record of the first is gone, the second's made.
    let old_again = Transaction {
        fee: 20_000,
        ..old.tx
    }
    .sign(&dev_key(0), &CHAIN);
    p.add_tx(old_again, rich(), NOW + 6).unwrap();
    assert_eq!(
        why(&p, &new).map(|w| w.0),
        Some(DropReason::Replaced { by: old_again.id() })
    );
}

#[test]
fn a_transfer_back_in_the_pool_is_no_longer_dropped() {
    let mut p = pool();
    let t = tx(0, 0, 10, 1_000);
    p.add_tx(t, rich(), NOW).unwrap();
    p.expire(NOW + ferrite_node::mempool::DEFAULT_EXPIRY_SECS + 1);
    assert_eq!(why(&p, &t).map(|w| w.0), Some(DropReason::Expired));
    p.add_tx(
        t,
        rich(),
        NOW + 2 * ferrite_node::mempool::DEFAULT_EXPIRY_SECS,
    )
    .unwrap();
    assert_eq!(why(&p, &t), None);
}

#[test]
fn per_sender_cap() {
    let mut p = Mempool::new(MempoolConfig {
        per_sender: 3,
        ..Default::default()
    });
    for n in 0..3 {
        p.add_tx(tx(0, n, 10, 1_000), rich(), NOW).unwrap();
    }
    assert_eq!(
        p.add_tx(tx(0, 3, 10, 1_000), rich(), NOW),
        Err(MempoolError::SenderFull(3))
    );
    p.add_tx(tx(1, 0, 10, 1_000), rich(), NOW).unwrap();
}

#[test]
fn full_pool_evicts_the_lowest_fee_and_its_successors() {
    let mut p = Mempool::new(MempoolConfig {
        max_count: 3,
        ..Default::default()
    });
    let low0 = tx(0, 0, 10, 1_000);
    let low1 = tx(0, 1, 10, 5_000);
    p.add_tx(low0, rich(), NOW).unwrap();
    p.add_tx(low1, rich(), NOW).unwrap();
    p.add_tx(tx(1, 0, 10, 3_000), rich(), NOW).unwrap();
    // Better than the lowest: it enters, the lowest leaves, and so does its later nonce.
    let better = tx(2, 0, 10, 1_500);
    p.add_tx(better, rich(), NOW).unwrap();
    assert!(!p.contains(&low0.id()) && !p.contains(&low1.id()));
    assert!(p.contains(&better.id()));
    let evicted = DropReason::Evicted(PoolLimit::Count);
    assert_eq!(why(&p, &low0), Some((evicted.clone(), None, NOW)));
    assert_eq!(why(&p, &low1), Some((evicted, Some(low0.id()), NOW)));
    // Not better than the lowest: refused.
    p.add_tx(tx(3, 0, 10, 1_200), rich(), NOW).unwrap();
    assert_eq!(p.len(), 3);
    assert_eq!(
        p.add_tx(tx(4, 0, 10, 1_000), rich(), NOW),
        Err(MempoolError::Full)
    );
}

#[test]
fn a_full_pool_refuses_a_transfer_its_own_earlier_nonce_would_take_with_it() {
    let mut p = Mempool::new(MempoolConfig {
        max_count: 2,
        ..Default::default()
    });
    let (low0, other) = (tx(0, 0, 10, 1_000), tx(1, 0, 10, 3_000));
    p.add_tx(low0, rich(), NOW).unwrap();
    p.add_tx(other, rich(), NOW).unwrap();
    // It pays more than the lowest, but the lowest is its own nonce 0: evicting it would
    // evict this one too, so the pool refuses it and keeps what it had.
    let high1 = tx(0, 1, 10, 9_000);
    assert_eq!(
        p.add_tx(high1, rich(), NOW),
        Err(MempoolError::FullBehindOwnNonce { nonce: 0 })
    );
    assert!(p.contains(&low0.id()) && p.contains(&other.id()));
    assert_eq!(why(&p, &low0), None, "nothing was evicted");
    assert_eq!(why(&p, &high1), None);
    // Another sender paying as much still gets in, in place of the lowest.
    let third = tx(2, 0, 10, 9_000);
    assert_eq!(p.add_tx(third, rich(), NOW), Ok(third.id()));
    assert!(!p.contains(&low0.id()));
}

#[test]
fn byte_limit_eviction_names_the_byte_limit() {
    let size = ferrite_core::transaction::SIGNED_TX_LEN;
    let mut p = Mempool::new(MempoolConfig {
        max_bytes: 2 * size,
        ..Default::default()
    });
    let low = tx(0, 0, 10, 1_000);
    p.add_tx(low, rich(), NOW).unwrap();
    p.add_tx(tx(1, 0, 10, 2_000), rich(), NOW).unwrap();
    p.add_tx(tx(2, 0, 10, 3_000), rich(), NOW).unwrap();
    assert_eq!(p.len(), 2);
    let evicted = DropReason::Evicted(PoolLimit::Bytes);
    assert_eq!(why(&p, &low), Some((evicted, None, NOW)));
}

#[test]
fn expiry() {
    let mut p = pool();
    let (old, old_next, young) = (
        tx(0, 0, 10, 1_000),
        tx(0, 1, 10, 1_000),
        tx(1, 0, 10, 1_000),
    );
    p.add_tx(old, rich(), NOW).unwrap();
    p.add_tx(young, rich(), NOW + 100).unwrap();
    p.add_tx(old_next, rich(), NOW + 100).unwrap();
    let later = NOW + ferrite_node::mempool::DEFAULT_EXPIRY_SECS + 1;
    assert_eq!(p.expire(later), 2, "the old one and its later nonce");
    assert_eq!(p.len(), 1);
    assert_eq!(why(&p, &old), Some((DropReason::Expired, None, later)));
    let after_old = Some(old.id());
    assert_eq!(
        why(&p, &old_next),
        Some((DropReason::Expired, after_old, later))
    );
    assert_eq!(why(&p, &young), None);
}

#[test]
fn tip_change_drops_mined_used_and_unaffordable() {
    let mut p = pool();
    let (a0, a1, b0) = (
        tx(0, 0, 10, 1_000),
        tx(0, 1, 10, 1_000),
        tx(1, 0, 500, 1_000),
    );
    for t in [a0, a1, b0] {
        p.add_tx(t, rich(), NOW).unwrap();
    }
    let mut state: HashMap<Address, Account> = HashMap::new();
    // a0 mined (nonce now 1); sender 1 spent its coins elsewhere.
    state.insert(
        dev_key(0).address(),
        Account {
            balance: 1_000_000,
            nonce: 1,
        },
    );
    state.insert(
        dev_key(1).address(),
        Account {
            balance: 100,
            nonce: 0,
        },
    );
    let touched: HashSet<Address> = state.keys().copied().collect();
    let account = |a: &Address| state.get(a).copied().unwrap_or_default();
    p.on_tip_change(&[a0.id()], vec![], &touched, &account, NOW + 9);
    assert!(!p.contains(&a0.id()) && p.contains(&a1.id()) && !p.contains(&b0.id()));
    assert_eq!(why(&p, &a0), None, "mined is not dropped");
    assert_eq!(why(&p, &b0), Some((DropReason::Unpayable, None, NOW + 9)));
}

#[test]
fn tip_change_names_a_nonce_used_by_another_transfer() {
    let mut p = pool();
    let (a0, a1) = (tx(0, 0, 10, 1_000), tx(0, 1, 10, 1_000));
    p.add_tx(a0, rich(), NOW).unwrap();
    p.add_tx(a1, rich(), NOW).unwrap();
    // A different transfer with nonce 0 was mined: a0 can never be; a1 still can.
    let moved = Account {
        balance: 1_000_000,
        nonce: 1,
    };
    let touched: HashSet<Address> = [dev_key(0).address()].into();
    p.on_tip_change(&[Hash([5; 32])], vec![], &touched, &|_| moved, NOW);
    assert_eq!(why(&p, &a0), Some((DropReason::NonceUsed, None, NOW)));
    assert!(p.contains(&a1.id()));
}

#[test]
fn reorg_remembers_returned_transfers_the_pool_refuses() {
    let mut p = pool();
    // x0 was mined in a block now disconnected; the new branch mined a conflicting y0 (same
    // sender and nonce) and, on both branches, z0.
    let (x0, z0) = (tx(0, 0, 10, 1_000), tx(1, 0, 10, 1_000));
    let y0 = tx(0, 0, 99, 1_000);
    let after = Account {
        balance: 1_000_000,
        nonce: 1,
    };
    let touched: HashSet<Address> = [dev_key(0).address(), dev_key(1).address()].into();
    p.on_tip_change(&[y0.id(), z0.id()], vec![x0, z0], &touched, &|_| after, NOW);
    let refused = DropReason::Reorg(MempoolError::NonceTooLow {
        expected: 1,
        got: 0,
    });
    assert_eq!(why(&p, &x0), Some((refused, None, NOW)));
    assert_eq!(why(&p, &z0), None, "mined again on the new branch");
    assert!(p.is_empty());
}

#[test]
fn a_refused_returned_transfer_takes_its_later_nonces_with_it() {
    let mut p = pool();
    // x0 was mined in a disconnected block; x1 and x2 arrived after it. On the new branch the
    // sender's nonce is still 0 but its balance cannot pay x0: x1 and x2 can never be mined.
    let (x0, x1, x2) = (
        tx(0, 0, 500, 1_000),
        tx(0, 1, 10, 1_000),
        tx(0, 2, 10, 1_000),
    );
    let before = Account {
        balance: 1_000_000,
        nonce: 1,
    };
    p.add_tx(x1, before, NOW).unwrap();
    p.add_tx(x2, before, NOW).unwrap();
    let poor = Account {
        balance: 2_500,
        nonce: 0,
    };
    let touched: HashSet<Address> = [dev_key(0).address()].into();
    // x3 came back from the same blocks, listed first: it is not taken back either.
    let x3 = tx(0, 3, 10, 1_000);
    p.on_tip_change(&[], vec![x3, x0], &touched, &|_| poor, NOW + 1);
    assert!(p.is_empty(), "nothing of that sender can be mined");
    let Some((DropReason::Reorg(e), None, _)) = why(&p, &x0) else {
        panic!("x0 refused back: {:?}", why(&p, &x0));
    };
    assert_eq!(e.rule(), "insufficient_balance");
    for later in [x1, x2, x3] {
        let (reason, after, time) = why(&p, &later).expect("remembered");
        assert_eq!(
            (reason, after, time),
            (DropReason::Reorg(e.clone()), Some(x0.id()), NOW + 1)
        );
    }
}

#[test]
fn a_returned_transfer_takes_its_senders_highest_place_under_the_per_sender_limit() {
    let mut p = Mempool::new(MempoolConfig {
        per_sender: 3,
        ..Default::default()
    });
    // x0 was mined; x1..x3 fill the sender's places. A reorg brings x0 back: without it
    // none of them can be mined, so it goes in and the highest, x3, makes room.
    let (x0, x1, x2, x3) = (
        tx(0, 0, 10, 1_000),
        tx(0, 1, 10, 1_000),
        tx(0, 2, 10, 1_000),
        tx(0, 3, 10, 1_000),
    );
    let mined = Account {
        balance: 1_000_000,
        nonce: 1,
    };
    for t in [x1, x2, x3] {
        p.add_tx(t, mined, NOW).unwrap();
    }
    let back = Account {
        balance: 1_000_000,
        nonce: 0,
    };
    let touched: HashSet<Address> = [dev_key(0).address()].into();
    p.on_tip_change(&[], vec![x0], &touched, &|_| back, NOW + 1);
    assert!(p.contains(&x0.id()) && p.contains(&x1.id()) && p.contains(&x2.id()));
    let per_sender = DropReason::Evicted(PoolLimit::PerSender);
    assert_eq!(why(&p, &x3), Some((per_sender, None, NOW + 1)));
}

#[test]
fn a_returned_transfer_whose_nonce_was_used_leaves_later_nonces_pending() {
    let mut p = pool();
    // The new branch used nonce 0 with another transfer; x1 follows it there and stays.
    let (x0, x1) = (tx(0, 0, 10, 1_000), tx(0, 1, 10, 1_000));
    let moved = Account {
        balance: 1_000_000,
        nonce: 1,
    };
    p.add_tx(x1, moved, NOW).unwrap();
    let touched: HashSet<Address> = [dev_key(0).address()].into();
    p.on_tip_change(&[Hash([5; 32])], vec![x0], &touched, &|_| moved, NOW);
    assert!(matches!(
        why(&p, &x0),
        Some((DropReason::Reorg(_), None, _))
    ));
    assert!(p.contains(&x1.id()));
}

#[test]
fn a_dropped_transfer_mined_elsewhere_is_forgotten() {
    let mut p = Mempool::new(MempoolConfig {
        max_count: 1,
        ..Default::default()
    });
    let (low, high) = (tx(0, 0, 10, 1_000), tx(1, 0, 10, 2_000));
    p.add_tx(low, rich(), NOW).unwrap();
    p.add_tx(high, rich(), NOW).unwrap();
    assert!(why(&p, &low).is_some(), "evicted");
    // Another node kept it and mined it.
    p.on_tip_change(&[low.id()], vec![], &HashSet::new(), &|_| rich(), NOW);
    assert_eq!(why(&p, &low), None, "mined, not dropped");
}

#[test]
fn removing_by_id_leaves_a_replacement_alone() {
    let mut p = pool();
    let (old, later) = (tx(0, 0, 10, 1_000), tx(0, 1, 10, 1_000));
    p.add_tx(old, rich(), NOW).unwrap();
    p.add_tx(later, rich(), NOW).unwrap();
    let new = tx(0, 0, 10, 2_000);
    p.add_tx(new, rich(), NOW).unwrap();
    // A template built from `old` found it no longer applies; it is gone already.
    let stale = DropReason::NoLongerApplies(TxError::ZeroAmount);
    assert_eq!(
        p.remove_with_successors_of(&old.id(), stale.clone(), NOW),
        0
    );
    assert!(p.contains(&new.id()) && p.contains(&later.id()));
    assert_eq!(
        p.remove_with_successors_of(&new.id(), stale.clone(), NOW),
        2
    );
    assert_eq!(why(&p, &later), Some((stale, Some(new.id()), NOW)));
}

#[test]
fn template_orders_by_fee_within_nonce_order() {
    let mut p = pool();
    let a0 = tx(0, 0, 10, 1_000);
    let a1 = tx(0, 1, 10, 9_000);
    let b0 = tx(1, 0, 10, 5_000);
    for t in [a0, a1, b0] {
        p.add_tx(t, rich(), NOW).unwrap();
    }
    let sel = p.select(10, &|_: &Address| rich());
    assert_eq!(sel, vec![b0, a0, a1]);
    assert_eq!(p.select(2, &|_: &Address| rich()), vec![b0, a0]);
}

#[test]
fn explorer_views_follow_admission_and_removal() {
    let mut p = pool();
    let fees = [1_000, 5_000, 3_000, 5_000, 2_000];
    let txs: Vec<SignedTransaction> = fees
        .iter()
        .enumerate()
        .map(|(i, &fee)| tx(i as u32, 0, 10, fee))
        .collect();
    for t in &txs {
        p.add_tx(*t, rich(), NOW).unwrap();
    }
    // Newest first.
    let recent: Vec<Hash> = p.recent(3).iter().map(|t| t.id()).collect();
    assert_eq!(recent, vec![txs[4].id(), txs[3].id(), txs[2].id()]);
    // All five pay the same recipient.
    let mut incoming: Vec<Hash> = p
        .incoming_of(&Address([200; 32]))
        .iter()
        .map(|t| t.id())
        .collect();
    incoming.sort();
    let mut all: Vec<Hash> = txs.iter().map(|t| t.id()).collect();
    all.sort();
    assert_eq!(incoming, all);
    assert!(p.incoming_of(&dev_key(0).address()).is_empty());
    // Ranks from the highest fee: 5000, 5000, 3000, 2000, 1000.
    assert_eq!(p.fee_at_rank(0), Some(5_000));
    assert_eq!(p.fee_at_rank(2), Some(3_000));
    assert_eq!(p.fee_at_rank(4), Some(1_000));
    assert_eq!(p.fee_at_rank(5), None);
    // Groups of about two, a fee never split across groups.
    assert_eq!(p.fee_histogram(3), vec![(5_000, 2), (2_000, 2), (1_000, 1)]);
    assert_eq!(p.fee_histogram(1), vec![(1_000, 5)]);
    // Mined transfers leave every view.
    let mined = [txs[3].id(), txs[4].id()];
    p.on_tip_change(&mined, Vec::new(), &HashSet::new(), &|_| rich(), NOW);
    assert_eq!(p.recent(1)[0].id(), txs[2].id());
    assert_eq!(p.incoming_of(&Address([200; 32])).len(), 3);
    assert_eq!(p.fee_at_rank(0), Some(5_000));
    assert_eq!(p.fee_at_rank(1), Some(3_000));
    assert_eq!(p.fee_histogram(3), vec![(5_000, 1), (3_000, 1), (1_000, 1)]);
    p.on_tip_change(
        &txs.iter().map(|t| t.id()).collect::<Vec<_>>(),
        Vec::new(),
        &HashSet::new(),
        &|_| rich(),
        NOW,
    );
    assert!(p.recent(10).is_empty());
    assert!(p.incoming_of(&Address([200; 32])).is_empty());
    assert!(p.fee_histogram(4).is_empty());
}

#[test]
fn next_nonce_fills_gaps_first() {
    let mut p = pool();
    let me = dev_key(0).address();
    assert_eq!(p.next_nonce(&me, 5), 5);
    p.add_tx(tx(0, 7, 10, 1_000), Account { nonce: 5, ..rich() }, NOW)
        .unwrap();
    // Nonce 7 waits for 5 and 6: the next transfer must be 5.
    assert_eq!(p.next_nonce(&me, 5), 5);
    p.add_tx(tx(0, 5, 10, 1_000), Account { nonce: 5, ..rich() }, NOW)
        .unwrap();
    assert_eq!(p.next_nonce(&me, 5), 6);
    p.add_tx(tx(0, 6, 10, 1_000), Account { nonce: 5, ..rich() }, NOW)
        .unwrap();
    assert_eq!(p.next_nonce(&me, 5), 8);
}

#[test]
fn fee_estimates_outbid_the_last_transfer_that_fits() {
    let mut p = pool();
    assert_eq!(p.fee_estimate(2, 1), 1_000);
    // Fees 9000, 8000, ... 1000 from nine senders.
    for i in 0..9u32 {
        p.add_tx(tx(i, 0, 10, 1_000 * (9 - u64::from(i))), rich(), NOW)
            .unwrap();
    }
    // Blocks of 2: within one block beat the second best (8000), within two the fourth (6000).
    assert_eq!(p.fee_estimate(2, 1), 8_001);
    assert_eq!(p.fee_estimate(2, 2), 6_001);
    assert_eq!(p.fee_estimate(2, 4), 2_001);
    // Five blocks hold more than is pending: the minimum will do.
    assert_eq!(p.fee_estimate(2, 5), 1_000);
    assert_eq!(p.fee_estimate(3, 3), 1_001);
}
