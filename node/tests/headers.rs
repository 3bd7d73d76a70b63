//! Headers-first sync in the chain: headers stored ahead of bodies, the best header chain,
//! missing bodies, bodies arriving out of order, locators and serving headers.

mod common;
use common::*;

use ferrite_core::validation::{BlockError, HeaderError};
use ferrite_core::{Address, BodyChecked, Hash};
use ferrite_node::chain::{ChainError, Submitted, MAX_LOCATOR_LEN};
use ferrite_node::store::BlockStatus;

fn branch(g: &ferrite_core::Genesis, n: u64) -> Branch {
    let mut b = Branch::new(g);
    for i in 0..n {
        b.extend(vec![transfer(g, 0, Address([9; 32]), 10, i)], 1);
    }
    b
}

#[test]
fn headers_first_then_bodies_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let a = branch(&g, 6);
    let mut chain = open(dir.path(), &g);
    let added = chain.submit_headers(&a.headers[1..]).unwrap();
    assert_eq!(added.new, 6);
    // Submitting them again adds nothing.
    assert_eq!(chain.submit_headers(&a.headers[1..]).unwrap().new, 0);
    let (best, meta) = chain.best_header().unwrap();
    assert_eq!(
        (best, meta.height, meta.status),
        (a.tip(), 6, BlockStatus::HeaderOnly)
    );
    // The tip does not move on headers alone.
    assert_eq!(chain.tip_info().unwrap().height, 0);
    let missing = chain.missing_bodies(4).unwrap();
    let want: Vec<(Hash, u64)> = a.headers[1..5]
        .iter()
        .map(|h| (h.hash(), h.height))
        .collect();
    assert_eq!(missing, want);
    // A header-only block is not served.
    assert!(!chain
        .view()
        .unwrap()
        .can_serve(&a.headers[1].hash())
        .unwrap());
    // Bodies 3 and 2 before 1: they wait, then connect in order.
    assert_eq!(
        chain.submit_block(a.blocks[2].clone()).unwrap(),
        Submitted::Orphan
    );
    assert_eq!(
        chain.submit_block(a.blocks[1].clone()).unwrap(),
        Submitted::Orphan
    );
    match chain.submit_block(a.blocks[0].clone()).unwrap() {
        Submitted::TipChanged(c) => assert_eq!(c.connected.len(), 3),
        other => panic!("expected a tip change, got {other:?}"),
    }
    assert_eq!(chain.missing_bodies(10).unwrap().len(), 3);
    for b in &a.blocks[3..] {
        chain.submit_block(b.clone()).unwrap();
    }
    assert!(chain.missing_bodies(10).unwrap().is_empty());
    drop(chain);
    // Reopened, the state is the branch's and every status is valid.
    let chain = open(dir.path(), &g);
    assert_state_matches(&chain, &a);
    assert_eq!(
        chain.block_meta(&a.tip()).unwrap().status,
        BlockStatus::Valid
    );
}

#[test]
fn header_only_entries_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let a = branch(&g, 3);
    {
        let mut chain = open(dir.path(), &g);
        chain.submit_headers(&a.headers[1..]).unwrap();
    }
    let mut chain = open(dir.path(), &g);
    assert_eq!(chain.best_header().unwrap().0, a.tip());
    assert_eq!(chain.tip_info().unwrap().height, 0);
    assert_eq!(chain.missing_bodies(10).unwrap().len(), 3);
    for b in &a.blocks {
        chain.submit_block(b.clone()).unwrap();
    }
    assert_state_matches(&chain, &a);
}

#[test]
fn bad_header_batches_are_refused_and_what_came_before_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let a = branch(&g, 4);
    let mut chain = open(dir.path(), &g);
    // Not connecting: starts at height 2.
    assert!(matches!(
        chain.submit_headers(&a.headers[2..]),
        Err(ChainError::UnknownParent(p)) if p == a.headers[1].hash()
    ));
    // The third header has a nonce that breaks its proof of work.
    let mut hs = a.headers[1..].to_vec();
    let mut n = 0u64;
    loop {
        hs[2].nonce = n;
        let target = ferrite_core::Target::from_compact(hs[2].bits).unwrap();
        if !target.is_met_by(&hs[2].hash()) {
            break;
        }
        n += 1;
    }
    let err = chain.submit_headers(&hs).unwrap_err();
    assert!(
        matches!(
            err,
            ChainError::Invalid(BlockError::Header(HeaderError::InsufficientWork))
        ),
        "{err}"
    );
    assert_eq!(
        chain.best_header().unwrap().1.height,
        2,
        "the two good headers are kept"
    );
    // A wrong height.
    let mut h = a.headers[3];
    h.height = 7;
    assert!(matches!(
        chain.submit_headers(&[h]),
        Err(ChainError::Invalid(BlockError::Header(
            HeaderError::WrongHeight { .. }
        )))
    ));
}

/// A far-off "now" that no test header's timestamp is ahead of.
const LATER: u64 = 4_000_000_000;

#[test]
fn the_view_checks_a_child_of_the_best_header_as_the_chain_does() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let a = branch(&g, 5);
    let mut chain = open(dir.path(), &g);
    // The best header is the tip (genesis): its child extends it.
    let view = chain.view().unwrap();
    assert_eq!(view.extends_best_header(&a.headers[1], LATER), Ok(true));
    // Headers ahead of the tip: the best header is at height 3, the tip at genesis.
    chain.submit_headers(&a.headers[1..4]).unwrap();
    let view = chain.view().unwrap();
    assert_eq!(view.best_header, a.headers[3].hash());
    // The next header extends it; one further on names another parent.
    assert_eq!(view.extends_best_header(&a.headers[4], LATER), Ok(true));
    assert_eq!(view.extends_best_header(&a.headers[5], LATER), Ok(false));
    // A child of the best header that breaks a rule is refused with the chain's own reason.
    let mut wrong_bits = a.headers[4];
    wrong_bits.bits = ferrite_core::dev::EASIEST_BITS - 1;
    let worked = |mut h: ferrite_core::BlockHeader| {
        let target = ferrite_core::Target::from_compact(h.bits).unwrap();
        while !target.is_met_by(&h.hash()) {
            h.nonce += 1;
        }
        h
    };
    let mut too_new = a.headers[4];
    too_new.timestamp = LATER + 10 * 3600;
    let mut too_old = a.headers[4];
    too_old.timestamp = a.headers[1].timestamp;
    for h in [wrong_bits, worked(too_new), worked(too_old)] {
        let seen = view.extends_best_header(&h, LATER).unwrap_err();
        assert!(
            matches!(
                seen,
                HeaderError::WrongBits { .. }
                    | HeaderError::TimestampTooNew { .. }
                    | HeaderError::TimestampTooOld { .. }
            ),
            "{seen}"
        );
        match chain.submit_headers_at(&[h], LATER) {
            Err(ChainError::Invalid(BlockError::Header(e))) if e == seen => {}
            other => panic!("the chain said {other:?}, the view {seen}"),
        }
    }
    // Once the chain has taken the next header, the view of that commit moves on with it.
    chain.submit_headers(&a.headers[4..5]).unwrap();
    let view = chain.view().unwrap();
    assert_eq!(view.extends_best_header(&a.headers[4], LATER), Ok(false));
    assert_eq!(view.extends_best_header(&a.headers[5], LATER), Ok(true));
}

#[test]
fn a_body_that_does_not_match_its_header_is_refused_and_the_header_stays_wanted() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let a = branch(&g, 1);
    let mut chain = open(dir.path(), &g);
    chain.submit_headers(&a.headers[1..]).unwrap();
    let mut wrong = a.blocks[0].clone();
    wrong.txs.clear();
    assert!(matches!(
        chain.submit_block(wrong),
        Err(ChainError::Invalid(BlockError::BadMerkleRoot))
    ));
    assert_eq!(chain.missing_bodies(10).unwrap(), vec![(a.tip(), 1)]);
    chain.submit_block(a.blocks[0].clone()).unwrap();
    assert_eq!(chain.tip_info().unwrap().hash, a.tip());
}

#[test]
fn locators_and_served_headers() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let a = branch(&g, 40);
    let mut chain = open(dir.path(), &g);
    for b in &a.blocks {
        chain.submit_block(b.clone()).unwrap();
    }
    let loc = chain.locator().unwrap();
    assert!(loc.len() <= MAX_LOCATOR_LEN);
    assert_eq!(loc[0], a.tip());
    assert_eq!(*loc.last().unwrap(), g.params.genesis_hash);
    // The first ten are consecutive, then the steps double.
    let heights: Vec<u64> = loc
        .iter()
        .map(|h| chain.block_meta(h).unwrap().height)
        .collect();
    assert_eq!(
        &heights[..11],
        &[40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 29]
    );
    assert!(heights.windows(2).all(|w| w[0] > w[1]));
    // A peer at height 10 gets 11..=40; a stop hash ends early; an unknown locator starts at 1.
    let served = chain
        .view()
        .unwrap()
        .headers_after(&[a.headers[10].hash()], &Hash::ZERO, 2000)
        .unwrap();
    assert_eq!(served, a.headers[11..].to_vec());
    let served = chain
        .view()
        .unwrap()
        .headers_after(&[a.headers[10].hash()], &a.headers[12].hash(), 2000)
        .unwrap();
    assert_eq!(served.len(), 2);
    let served = chain
        .view()
        .unwrap()
        .headers_after(&[Hash([5; 32])], &Hash::ZERO, 5)
        .unwrap();
    assert_eq!(served, a.headers[1..6].to_vec());
    // A fresh chain that takes those headers has the same best header.
    let dir2 = tempfile::tempdir().unwrap();
    let mut other = open(dir2.path(), &g);
    let all = chain
        .view()
        .unwrap()
        .headers_after(&other.locator().unwrap(), &Hash::ZERO, 2000)
        .unwrap();
    other.submit_headers(&all).unwrap();
    assert_eq!(other.best_header().unwrap().0, a.tip());
}

#[test]
fn a_swapped_body_is_refused_and_the_real_bodys_signatures_are_still_checked() {
    // Regression: the "signatures already verified" mark is keyed by block id, which does not
    // cover the body. A body that does not match the header must not leave the mark behind
    // for the real (here forged) body that comes next: such a body cannot even become a
    // `VerifiedBlock` (which is made only from a `BodyChecked`), and the chain refuses it.
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let mut a = Branch::new(&g);
    let forged = a.extend_invalid();
    let mut chain = open(dir.path(), &g);
    let mut swapped = forged.clone();
    swapped.txs.clear();
    assert_eq!(
        BodyChecked::new(swapped.clone()).err(),
        Some(BlockError::BadMerkleRoot)
    );
    assert!(matches!(
        chain.submit_block(swapped),
        Err(ChainError::Invalid(BlockError::BadMerkleRoot))
    ));
    let before = chain.tip_info().unwrap();
    chain.submit_block(forged.clone()).unwrap();
    assert_eq!(
        chain.tip_info().unwrap(),
        before,
        "a forged signature was connected"
    );
    assert_eq!(
        chain.block_meta(&forged.hash()).unwrap().status,
        BlockStatus::Invalid
    );
}

#[test]
fn a_header_branch_set_aside_gives_way_to_the_next_best_and_comes_back_when_extended() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let mut a = Branch::new(&g);
    let mut b = Branch::new(&g);
    for _ in 0..2 {
        a.extend(vec![], 1);
    }
    b.extend(vec![], 2);
    let mut chain = open(dir.path(), &g);
    // A's two headers come first; B's single one is lighter.
    chain.submit_headers(&a.headers[1..]).unwrap();
    chain.submit_headers(&b.headers[1..]).unwrap();
    assert_eq!(chain.best_header().unwrap().0, a.tip());
    // A's first body never comes: A is set aside with its descendant, B is the best header.
    assert!(chain.withhold(a.headers[1].hash()).unwrap());
    assert_eq!(chain.withheld_count(), 2);
    assert_eq!(chain.best_header().unwrap().0, b.tip());
    assert_eq!(
        chain.missing_bodies(10).unwrap(),
        vec![(b.tip(), 1)],
        "sync now downloads B"
    );
    // Setting aside again, or a block with its body, changes nothing.
    assert!(!chain.withhold(a.headers[1].hash()).unwrap());
    assert!(!chain.withhold(g.block.header.hash()).unwrap());
    // B's body arrives and connects.
    assert!(matches!(
        chain.submit_block(b.blocks[0].clone()).unwrap(),
        Submitted::TipChanged(_)
    ));
    // A header on top of A (more work was spent on it) brings A back as the best header.
    a.extend(vec![], 1);
    chain.submit_headers(&a.headers[3..]).unwrap();
    assert_eq!(chain.withheld_count(), 0);
    assert_eq!(chain.best_header().unwrap().0, a.tip());
    assert_eq!(chain.missing_bodies(10).unwrap().len(), 3);
}

#[test]
fn the_body_of_a_header_set_aside_brings_its_branch_back() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let a = branch(&g, 3);
    let mut chain = open(dir.path(), &g);
    chain.submit_headers(&a.headers[1..]).unwrap();
    assert!(chain.withhold(a.headers[2].hash()).unwrap());
    assert_eq!(chain.best_header().unwrap().0, a.headers[1].hash());
    // Block 1 was not set aside and connects; block 2's body arriving late restores 2 and 3.
    chain.submit_block(a.blocks[0].clone()).unwrap();
    chain.submit_block(a.blocks[1].clone()).unwrap();
    assert_eq!(chain.withheld_count(), 0);
    assert_eq!(chain.best_header().unwrap().0, a.tip());
    assert_eq!(chain.missing_bodies(10).unwrap(), vec![(a.tip(), 3)]);
}

#[test]
fn the_only_branch_is_never_set_aside_and_only_a_valid_header_brings_one_back() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let a = branch(&g, 3);
    let mut chain = open(dir.path(), &g);
    chain.submit_headers(&a.headers[1..]).unwrap();
    // Setting aside the whole header chain would leave nothing heavier than the tip to sync
    // toward (a slow sync, or an attacker answering `NotFound`): refused.
    assert!(!chain.withhold(a.headers[1].hash()).unwrap());
    assert_eq!(chain.best_header().unwrap().0, a.tip());
    // Above block 1 it is allowed (block 1 is heavier than the tip), and a header on top of the
    // branch that breaks a rule does not bring it back.
    assert!(chain.withhold(a.headers[2].hash()).unwrap());
    // (its height is not its parent's plus one, a rule checked whatever the proof of work)
    let mut forged = a.headers[3];
    forged.prev = a.headers[3].hash();
    forged.height += 5;
    assert!(chain.submit_headers(&[forged]).is_err());
    assert_eq!(chain.withheld_count(), 2);
    assert_eq!(chain.best_header().unwrap().0, a.headers[1].hash());
}
