//! Property tests: encodings round-trip and reject junk, apply/undo are inverse, the state digest
//! is order independent, merkle proofs verify and catch tampering, compact targets round-trip,
//! and batch and single signature verification agree.

mod common;

use common::*;
use ferrite_core::dev;
use ferrite_core::encoding::{Decode, Encode};
use ferrite_core::ledger;
use ferrite_core::merkle::{merkle_proof, merkle_root};
use ferrite_core::target::{decode_compact, encode_compact};
use ferrite_core::verify::{verify, verify_batch, verify_parallel};
use ferrite_core::{
    Account, Address, Block, BlockHeader, Hash, PublicKey, SecretKey, Signature, SignedTransaction,
    State, Target, Transaction,
};
use primitive_types::U256;
use proptest::prelude::*;

fn arb_hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

fn arb_tx() -> impl Strategy<Value = SignedTransaction> {
    (
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        prop::collection::vec(any::<u8>(), 64),
    )
        .prop_map(|(s, r, amount, fee, nonce, sig)| SignedTransaction {
            tx: Transaction {
                sender: PublicKey(s),
                recipient: Address(r),
                amount,
                fee,
                nonce,
            },
            signature: Signature(sig.try_into().unwrap()),
        })
}

fn arb_header() -> impl Strategy<Value = BlockHeader> {
    (
        any::<u32>(),
        any::<u64>(),
        arb_hash(),
        arb_hash(),
        arb_hash(),
        any::<[u8; 32]>(),
        any::<u64>(),
        any::<u32>(),
        any::<u64>(),
    )
        .prop_map(
            |(version, height, prev, merkle_root, state_root, miner, timestamp, bits, nonce)| {
                BlockHeader {
                    version,
                    height,
                    prev,
                    merkle_root,
                    state_root,
                    miner: Address(miner),
                    timestamp,
                    bits,
                    nonce,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn tx_round_trip(tx in arb_tx()) {
        prop_assert_eq!(SignedTransaction::decode(&tx.encode()), Ok(tx));
    }

    #[test]
    fn block_round_trip(header in arb_header(), txs in prop::collection::vec(arb_tx(), 0..8)) {
        let b = Block { header, txs };
        let bytes = b.encode();
        prop_assert_eq!(bytes.len(), b.encoded_len());
        prop_assert_eq!(Block::decode(&bytes), Ok(b));
    }

    #[test]
    fn decoding_junk_never_panics_and_accepts_only_canonical(bytes in prop::collection::vec(any::<u8>(), 0..700)) {
        // Whatever decodes must re-encode to exactly the input: one encoding per value.
        if let Ok(b) = Block::decode(&bytes) {
            prop_assert_eq!(b.encode(), bytes.clone());
        }
        if let Ok(t) = SignedTransaction::decode(&bytes) {
            prop_assert_eq!(t.encode(), bytes.clone());
        }
        if let Ok(h) = BlockHeader::decode(&bytes) {
            prop_assert_eq!(h.encode(), bytes);
        }
    }

    #[test]
    fn trailing_bytes_are_rejected(tx in arb_tx(), extra in prop::collection::vec(any::<u8>(), 1..10)) {
        let mut bytes = tx.encode();
        bytes.extend(extra);
        prop_assert!(SignedTransaction::decode(&bytes).is_err());
    }

    #[test]
    fn compact_round_trips(bits in any::<u32>()) {
        let (value, negative, overflow) = decode_compact(bits);
        if !negative && !overflow {
            // Re-encoding gives the canonical form of the same value...
            let canonical = encode_compact(value);
            prop_assert_eq!(decode_compact(canonical), (value, false, false));
            // ...which is a fixed point.
            prop_assert_eq!(encode_compact(decode_compact(canonical).0), canonical);
        }
    }

    #[test]
    fn compact_of_any_target_rounds_down_by_less_than_one_part_in_2_15(words in any::<[u64; 4]>()) {
        let v = U256(words);
        prop_assume!(!v.is_zero());
        let (back, neg, ovf) = decode_compact(encode_compact(v));
        prop_assert!(!neg && !ovf);
        prop_assert!(back <= v);
        prop_assert!(v - back <= v >> 15);
        if let Some(t) = Target::from_u256(v) {
            prop_assert!(t.work().as_u256() >= U256::one());
        }
    }

    #[test]
    fn merkle_proofs_verify_and_catch_tampering(n in 1usize..70, pick in any::<prop::sample::Index>(), flip in 0usize..32) {
        let ids: Vec<Hash> = (0..n).map(|i| ferrite_core::hash::hash(ferrite_core::hash::Domain::Transaction, &i.to_le_bytes())).collect();
        let root = merkle_root(&ids);
        let i = pick.index(n);
        let proof = merkle_proof(&ids, i).unwrap();
        prop_assert!(proof.verify(&ids[i], &root));
        // A changed id, a changed path element, or a wrong index fails.
        let mut id = ids[i];
        id.0[flip] ^= 1;
        prop_assert!(!proof.verify(&id, &root));
        if !proof.path.is_empty() {
            let mut p = proof.clone();
            let k = flip % p.path.len();
            p.path[k].0[flip] ^= 1;
            prop_assert!(!p.verify(&ids[i], &root));
        }
        if n > 1 {
            let mut p = proof.clone();
            p.index = ((i + 1) % n) as u64;
            prop_assert!(!p.verify(&ids[i], &root));
        }
    }

    #[test]
    fn digest_is_order_independent(entries in prop::collection::vec((any::<u8>(), 1u64..1000, 0u64..5), 1..40), seed in any::<u64>()) {
        let mut a = State::new();
        for (k, bal, n) in &entries {
            a.set_account(Address([*k; 32]), Account { balance: *bal, nonce: *n });
        }
        // Same final contents built in another order (later writes to a key still win).
        let mut last = std::collections::BTreeMap::new();
        for (k, bal, n) in &entries {
            last.insert(*k, Account { balance: *bal, nonce: *n });
        }
        let mut order: Vec<_> = last.into_iter().collect();
        let len = order.len();
        order.rotate_left((seed as usize) % len);
        order.reverse();
        let mut b = State::new();
        for (k, acct) in order {
            b.set_account(Address([k; 32]), acct);
        }
        prop_assert_eq!(a.root(), b.root());
        prop_assert_eq!(a.recompute_digest(), a.digest().clone());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Random sequences of transfers: apply then undo gives back the exact state and digest.
    #[test]
    fn apply_undo_inverse(moves in prop::collection::vec((0u32..5, 0u8..8, 1u64..1_000_000, 0u64..100), 0..30)) {
        let c = TestChain::new(5);
        let mut state = c.state.clone();
        let original = state.clone();
        let mut nonces = [0u64; 5];
        let mut txs = vec![];
        for (from, to, amount, fee) in moves {
            let key = dev::dev_key(from);
            let to = if to < 5 { dev_addr(u32::from(to)) } else { addr(to) };
            if to == key.address() { continue; }
            txs.push(c.transfer_with_nonce(&key, to, amount, fee, nonces[from as usize]));
            nonces[from as usize] += 1;
        }
        let undo = ledger::apply_block(&mut state, &txs, &addr(200), 77).unwrap();
        prop_assert!(txs.is_empty() || state != original);
        ledger::undo_block(&mut state, &undo);
        prop_assert!(state == original);
        prop_assert_eq!(state.root(), original.root());
    }

    /// Batch, parallel and single verification agree on sets with invalid members.
    #[test]
    fn batch_agrees_with_single(n in 1usize..150, bad in prop::collection::vec(any::<prop::sample::Index>(), 0..4), seed in any::<[u8; 32]>()) {
        let mut items: Vec<(PublicKey, Vec<u8>, Signature)> = (0..n)
            .map(|i| {
                let mut s = seed;
                s[..8].copy_from_slice(&(i as u64).to_le_bytes());
                let k = SecretKey::from_bytes(&s);
                let m = s.to_vec();
                (k.public_key(), m.clone(), k.sign(&m))
            })
            .collect();
        for (j, b) in bad.iter().enumerate() {
            let i = b.index(n);
            match j % 3 {
                0 => items[i].2 .0[j] ^= 1,           // corrupt R
                1 => items[i].1.push(1),              // change the message
                _ => items[i].2 .0[63] |= 0x20,       // s no longer reduced
            }
        }
        let first_bad = (0..n).find(|&i| verify(&items[i].0, &items[i].1, &items[i].2).is_err());
        prop_assert_eq!(verify_batch(&items).err(), first_bad);
        let get = |i: usize| items[i].clone();
        prop_assert_eq!(verify_parallel(n, get).err(), first_bad);
    }
}

proptest! {
    /// ASERT is total: over the whole input space it never panics (overflow checks are on in
    /// tests), stays within [1, pow_limit], and a later block never gets a smaller target.
    #[test]
    fn asert_is_total_bounded_and_monotonic_in_time(
        anchor in any::<[u64; 4]>(),
        limit in any::<[u64; 4]>(),
        time_diff in any::<i64>(),
        later in any::<u64>(),
        height_diff in any::<u64>(),
        spacing in any::<u64>(),
        half_life in any::<u64>(),
    ) {
        let (Some(anchor), Some(limit)) = (Target::from_u256(U256(anchor)), Target::from_u256(U256(limit))) else {
            return Ok(());
        };
        let next = ferrite_core::asert::next_target(anchor, time_diff, height_diff, spacing, half_life, limit);
        prop_assert!(next.as_u256() >= U256::one());
        prop_assert!(next.as_u256() <= limit.as_u256());
        let t2 = time_diff.saturating_add_unsigned(later);
        let after = ferrite_core::asert::next_target(anchor, t2, height_diff, spacing, half_life, limit);
        prop_assert!(after.as_u256() >= next.as_u256(), "{t2} gave a smaller target than {time_diff}");
    }

    /// The same over small values, where the interesting cases (near the schedule) are.
    #[test]
    fn asert_near_the_schedule_is_bounded_and_monotonic(
        bits in 0x1800_0000u32..0x1d00_ffff,
        time_diff in -10_000_000i64..10_000_000,
        later in 0u64..100_000,
        height_diff in 0u64..100_000,
        spacing in 1u64..1_000,
        half_life in 1u64..1_000_000,
    ) {
        let Ok(anchor) = Target::from_compact(bits) else { return Ok(()); };
        let limit = Target::from_compact(0x1d00_ffff).unwrap_or(Target::MAX);
        let next = ferrite_core::asert::next_target(anchor, time_diff, height_diff, spacing, half_life, limit);
        prop_assert!(next.as_u256() >= U256::one() && next.as_u256() <= limit.as_u256());
        let after = ferrite_core::asert::next_target(anchor, time_diff + later as i64, height_diff, spacing, half_life, limit);
        prop_assert!(after.as_u256() >= next.as_u256());
    }
}
