//! One test per consensus rule: a block or transaction that breaks exactly that rule is rejected
//! with that rule's error, and the state is left exactly as it was.

mod common;

use common::*;
use ferrite_core::dev::{self, mine};
use ferrite_core::ledger::{self, ApplyError, TxError};
use ferrite_core::validation::{BlockError, HeaderError};
use ferrite_core::verify::{is_weak_key, verify, verify_batch};
use ferrite_core::{Account, Address, Block, PublicKey, Signature, State, Target, Transaction};

fn expect_reject(chain: &mut TestChain, block: &Block, expected: BlockError) {
    let before = chain.state.clone();
    let tip = *chain.tip();
    assert_eq!(chain.connect(block).err(), Some(expected));
    assert!(chain.state == before, "state changed by a rejected block");
    assert_eq!(*chain.tip(), tip);
}

fn tx_err(index: usize, error: TxError) -> BlockError {
    BlockError::Tx { index, error }
}

/// A valid block with one ordinary transfer, then `edit` applied and the block re-mined.
fn edited(chain: &TestChain, edit: impl FnOnce(&mut Block)) -> Block {
    let mut b = chain.build(vec![chain.transfer(0, addr(7), 100, 1)], addr(9));
    edit(&mut b);
    TestChain::remine(&mut b);
    b
}

#[test]
fn valid_blocks_connect_and_pay_the_miner() {
    let mut c = TestChain::new(2);
    let b = c.build(vec![c.transfer(0, addr(7), 100, 3)], addr(9));
    let done = c.connect(&b).unwrap();
    assert_eq!(done.fees, 3);
    assert_eq!(
        c.state.account(&addr(7)),
        Account {
            balance: 100,
            nonce: 0
        }
    );
    assert_eq!(
        c.state.account(&dev_addr(0)),
        Account {
            balance: dev::DEV_ACCOUNT_BALANCE - 103,
            nonce: 1
        }
    );
    assert_eq!(c.state.account(&addr(9)).balance, c.params.reward_at(1) + 3);
    assert_eq!(c.state.recompute_digest(), *c.state.digest());
}

#[test]
fn header_version() {
    let mut c = TestChain::new(1);
    let b = edited(&c, |b| b.header.version = 2);
    expect_reject(&mut c, &b, HeaderError::UnsupportedVersion(2).into());
}

#[test]
fn header_height() {
    let mut c = TestChain::new(1);
    let b = edited(&c, |b| b.header.height = 5);
    expect_reject(
        &mut c,
        &b,
        HeaderError::WrongHeight {
            expected: 1,
            got: 5,
        }
        .into(),
    );
}

#[test]
fn header_parent_link() {
    let mut c = TestChain::new(1);
    let expected = c.tip().hash();
    let b = edited(&c, |b| b.header.prev = ferrite_core::Hash([3; 32]));
    expect_reject(
        &mut c,
        &b,
        HeaderError::WrongParent {
            expected,
            got: ferrite_core::Hash([3; 32]),
        }
        .into(),
    );
}

#[test]
fn header_bits_must_be_asert() {
    let mut c = TestChain::new(1);
    let b = edited(&c, |b| b.header.bits = 0x2000_ffff);
    expect_reject(
        &mut c,
        &b,
        HeaderError::WrongBits {
            expected: dev::EASIEST_BITS,
            got: 0x2000_ffff,
        }
        .into(),
    );
}

#[test]
fn header_proof_of_work() {
    let mut c = TestChain::new(1);
    let mut b = c.build(vec![], addr(9));
    let target = Target::from_compact(b.header.bits).unwrap();
    while target.is_met_by(&b.header.hash()) {
        b.header.nonce += 1;
    }
    expect_reject(&mut c, &b, HeaderError::InsufficientWork.into());
}

#[test]
fn header_timestamp_after_median() {
    let mut c = TestChain::new(1);
    for _ in 0..5 {
        let b = c.build(vec![], addr(9));
        c.connect(&b).unwrap();
    }
    let median = c.parent_info().median_time_past;
    let b = edited(&c, |b| b.header.timestamp = median);
    expect_reject(
        &mut c,
        &b,
        HeaderError::TimestampTooOld {
            timestamp: median,
            median,
        }
        .into(),
    );
    // One second later is fine (the bits depend on the parent only).
    let ok = edited(&c, |b| b.header.timestamp = median + 1);
    c.connect(&ok).unwrap();
}

#[test]
fn header_timestamp_drift() {
    let mut c = TestChain::new(1);
    let limit = c.now() + c.params.max_future_drift;
    let b = edited(&c, |b| b.header.timestamp = limit + 1);
    expect_reject(
        &mut c,
        &b,
        HeaderError::TimestampTooNew {
            timestamp: limit + 1,
            limit,
        }
        .into(),
    );
}

#[test]
fn block_size_limit() {
    let mut cfg = dev::dev_genesis_config(2, T0, SPACING);
    cfg.max_block_size = Block::size_with(1) as u64;
    let g = cfg.build().unwrap();
    let mut c = TestChain {
        params: g.params,
        state: g.state,
        headers: vec![g.block.header],
    };
    let txs = vec![c.transfer(0, addr(7), 1, 0), c.transfer(1, addr(7), 1, 0)];
    let b = c.build(txs, addr(9));
    let size = Block::size_with(2) as u64;
    expect_reject(
        &mut c,
        &b,
        BlockError::TooLarge {
            size,
            limit: size - 152,
        },
    );
}

#[test]
fn merkle_root_must_match() {
    let mut c = TestChain::new(2);
    let b = edited(&c, |b| b.txs.push(c.transfer(1, addr(8), 5, 0)));
    expect_reject(&mut c, &b, BlockError::BadMerkleRoot);
}

#[test]
fn state_root_must_match() {
    let mut c = TestChain::new(1);
    let good = c.build(vec![c.transfer(0, addr(7), 100, 1)], addr(9));
    let expected = good.header.state_root;
    let b = edited(&c, |b| b.header.state_root = ferrite_core::Hash([1; 32]));
    expect_reject(
        &mut c,
        &b,
        BlockError::BadStateRoot {
            expected,
            got: ferrite_core::Hash([1; 32]),
        },
    );
}

/// A block whose second transaction is `bad`, built around the ledger rules so that only the
/// rule under test can fail.
fn block_with_bad_second_tx(c: &TestChain, bad: ferrite_core::SignedTransaction) -> Block {
    let first = c.transfer(1, addr(7), 10, 0);
    let mut b = c.build(vec![first], addr(9));
    b.txs.push(bad);
    b.header.merkle_root = b.compute_merkle_root();
    TestChain::remine(&mut b);
    b
}

#[test]
fn tx_zero_amount() {
    let mut c = TestChain::new(2);
    let b = block_with_bad_second_tx(&c, c.transfer(0, addr(7), 0, 1));
    expect_reject(&mut c, &b, tx_err(1, TxError::ZeroAmount));
}

#[test]
fn tx_self_transfer() {
    let mut c = TestChain::new(2);
    let b = block_with_bad_second_tx(&c, c.transfer(0, dev_addr(0), 5, 1));
    expect_reject(&mut c, &b, tx_err(1, TxError::SelfTransfer));
}

#[test]
fn tx_nonce_too_low_and_gapped() {
    let mut c = TestChain::new(2);
    let b = c.build(vec![c.transfer(0, addr(7), 1, 0)], addr(9));
    c.connect(&b).unwrap();
    let key = dev::dev_key(0);
    let low = c.transfer_with_nonce(&key, addr(7), 1, 0, 0);
    let b = block_with_bad_second_tx(&c, low);
    expect_reject(
        &mut c,
        &b,
        tx_err(
            1,
            TxError::BadNonce {
                expected: 1,
                got: 0,
            },
        ),
    );
    let gap = c.transfer_with_nonce(&key, addr(7), 1, 0, 2);
    let b = block_with_bad_second_tx(&c, gap);
    expect_reject(
        &mut c,
        &b,
        tx_err(
            1,
            TxError::BadNonce {
                expected: 1,
                got: 2,
            },
        ),
    );
}

#[test]
fn tx_insufficient_balance() {
    let mut c = TestChain::new(2);
    let all = dev::DEV_ACCOUNT_BALANCE;
    let b = block_with_bad_second_tx(&c, c.transfer(0, addr(7), all, 1));
    expect_reject(
        &mut c,
        &b,
        tx_err(
            1,
            TxError::InsufficientBalance {
                balance: all,
                needed: all + 1,
            },
        ),
    );
}

#[test]
fn tx_amount_plus_fee_overflow() {
    let mut c = TestChain::new(2);
    let b = block_with_bad_second_tx(&c, c.transfer(0, addr(7), u64::MAX, 1));
    expect_reject(&mut c, &b, tx_err(1, TxError::AmountOverflow));
}

#[test]
fn tx_bad_signature() {
    let mut c = TestChain::new(2);
    let mut bad = c.transfer(0, addr(7), 5, 1);
    bad.signature.0[5] ^= 1;
    let b = block_with_bad_second_tx(&c, bad);
    expect_reject(&mut c, &b, tx_err(1, TxError::BadSignature));
}

#[test]
fn tx_signed_for_another_chain_is_rejected() {
    let mut c = TestChain::new(2);
    let other = dev::dev_genesis_config(2, T0 + 1, SPACING).build().unwrap();
    assert_ne!(other.params.genesis_hash, c.chain_id());
    let key = dev::dev_key(0);
    let replay = Transaction {
        sender: key.public_key(),
        recipient: addr(7),
        amount: 5,
        fee: 1,
        nonce: 0,
    }
    .sign(&key, &other.params.genesis_hash);
    let b = block_with_bad_second_tx(&c, replay);
    expect_reject(&mut c, &b, tx_err(1, TxError::BadSignature));
}

/// The 14 encodings of small-order points that ZIP-215 decoding accepts (as listed by
/// ed25519-zebra's small-order tests).
const SMALL_ORDER: [&str; 14] = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
];

fn small_order_keys() -> Vec<PublicKey> {
    SMALL_ORDER
        .iter()
        .map(|h| PublicKey(hex::decode(h).unwrap().try_into().unwrap()))
        .collect()
}

#[test]
fn zip215_small_order_cases_verify_singly_and_in_batch() {
    // ZIP-215 accepts (A, R small order, s = 0) for every such pair: 196 cases.
    let mut items = vec![];
    for a in small_order_keys() {
        assert!(is_weak_key(&a));
        for r in small_order_keys() {
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&r.0);
            let sig = Signature(sig);
            assert_eq!(verify(&a, b"Zcash", &sig), Ok(()));
            items.push((a, b"Zcash".to_vec(), sig));
        }
    }
    assert_eq!(items.len(), 196);
    assert_eq!(verify_batch(&items), Ok(()));
}

#[test]
fn tx_weak_sender_key_is_refused_even_with_a_valid_forgery() {
    let mut c = TestChain::new(2);
    let weak = small_order_keys()[2];
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&weak.0);
    let forged = ferrite_core::SignedTransaction {
        tx: Transaction {
            sender: weak,
            recipient: addr(7),
            amount: 1,
            fee: 0,
            nonce: 0,
        },
        signature: Signature(sig),
    };
    // The forgery verifies: only the weak-key rule stops it.
    let msg = forged.tx.signing_message(&c.chain_id());
    assert_eq!(verify(&weak, &msg, &forged.signature), Ok(()));
    let b = block_with_bad_second_tx(&c, forged);
    expect_reject(&mut c, &b, tx_err(1, TxError::WeakSenderKey));
}

fn rich_state(entries: &[(Address, Account)]) -> State {
    let mut s = State::new();
    for (a, acct) in entries {
        s.set_account(*a, *acct);
    }
    s
}

#[test]
fn recipient_balance_overflow() {
    let key = dev::dev_key(0);
    let s = rich_state(&[
        (
            key.address(),
            Account {
                balance: 10,
                nonce: 0,
            },
        ),
        (
            addr(7),
            Account {
                balance: u64::MAX,
                nonce: 0,
            },
        ),
    ]);
    let tx = Transaction {
        sender: key.public_key(),
        recipient: addr(7),
        amount: 1,
        fee: 0,
        nonce: 0,
    };
    let stx = tx.sign(&key, &ferrite_core::Hash::ZERO);
    let err = ledger::prepare_block(&s, &[stx], &addr(9), 0).err();
    assert_eq!(
        err,
        Some(ApplyError::Tx {
            index: 0,
            error: TxError::RecipientOverflow
        })
    );
}

#[test]
fn sender_nonce_overflow() {
    let key = dev::dev_key(0);
    let sender = Account {
        balance: 10,
        nonce: u64::MAX,
    };
    let tx = Transaction {
        sender: key.public_key(),
        recipient: addr(7),
        amount: 1,
        fee: 0,
        nonce: u64::MAX,
    };
    assert_eq!(
        ledger::transfer(&tx, sender, Account::default()),
        Err(TxError::NonceOverflow)
    );
}

#[test]
fn fee_sum_overflow() {
    let (k0, k1) = (dev::dev_key(0), dev::dev_key(1));
    let half = u64::MAX / 2 + 1;
    let s = rich_state(&[
        (
            k0.address(),
            Account {
                balance: half + 1,
                nonce: 0,
            },
        ),
        (
            k1.address(),
            Account {
                balance: half + 1,
                nonce: 0,
            },
        ),
    ]);
    let mk = |k: &ferrite_core::SecretKey| {
        Transaction {
            sender: k.public_key(),
            recipient: addr(7),
            amount: 1,
            fee: half,
            nonce: 0,
        }
        .sign(k, &ferrite_core::Hash::ZERO)
    };
    let err = ledger::prepare_block(&s, &[mk(&k0), mk(&k1)], &addr(9), 0).err();
    assert_eq!(err, Some(ApplyError::FeeOverflow));
}

#[test]
fn miner_credit_overflow() {
    let s = rich_state(&[(
        addr(9),
        Account {
            balance: u64::MAX - 5,
            nonce: 0,
        },
    )]);
    assert_eq!(
        ledger::prepare_block(&s, &[], &addr(9), 6).err(),
        Some(ApplyError::MinerOverflow)
    );
    assert!(ledger::prepare_block(&s, &[], &addr(9), 5).is_ok());
    assert_eq!(
        ledger::prepare_block(&s, &[], &addr(9), u64::MAX).err(),
        Some(ApplyError::MinerOverflow)
    );
}

#[test]
fn nonces_are_sequential_within_a_block() {
    let mut c = TestChain::new(1);
    let key = dev::dev_key(0);
    let txs: Vec<_> = (0..5)
        .map(|n| c.transfer_with_nonce(&key, addr(7), 1, 0, n))
        .collect();
    let b = c.build(txs, addr(9));
    c.connect(&b).unwrap();
    assert_eq!(c.state.account(&key.address()).nonce, 5);
}

#[test]
fn undo_restores_the_state_exactly() {
    let mut c = TestChain::new(4);
    let genesis_state = c.state.clone();
    let mut undos = vec![];
    for round in 0..6u64 {
        let txs = (0..4)
            .map(|i| c.transfer(i, dev_addr((i + 1) % 4), 1 + round, round))
            .collect();
        let b = c.build(txs, addr(9));
        undos.push(c.connect(&b).unwrap().undo);
    }
    assert!(c.state != genesis_state);
    for undo in undos.iter().rev() {
        ledger::undo_block(&mut c.state, undo);
    }
    assert!(c.state == genesis_state);
    assert_eq!(c.state.root(), genesis_state.root());
}

#[test]
fn mining_finds_a_nonce_at_the_easiest_target() {
    let c = TestChain::new(1);
    let mut b = c.build(vec![], addr(1));
    b.header.nonce = 0;
    assert!(mine(&mut b.header, 1_000));
}
