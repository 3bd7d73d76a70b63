//! Chain scenarios against a real RocksDB store: fork choice, reorgs (including deep ones and
//! onto branches with an invalid block), orphans, reopening, and transactions returning to the
//! mempool.

use std::sync::Arc;

mod common;
use common::*;

use ferrite_core::dev;
use ferrite_core::{Address, Block};
use ferrite_node::chain::{Chain, ChainError, Submitted};
use ferrite_node::mempool::MempoolConfig;
use ferrite_node::node::Node;
use ferrite_node::store::{BlockStatus, StoreRead};

fn submit_all(chain: &mut Chain, blocks: &[Block]) -> Vec<Submitted> {
    blocks
        .iter()
        .map(|b| chain.submit_block(b.clone()).unwrap())
        .collect()
}

#[test]
fn blocks_connect_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let mut a = Branch::new(&g);
    for i in 0..3 {
        a.extend(vec![transfer(&g, 0, Address([9; 32]), 10, i)], 1);
    }
    {
        let mut chain = open(dir.path(), &g);
        submit_all(&mut chain, &a.blocks);
        assert_state_matches(&chain, &a);
    }
    let chain = open(dir.path(), &g);
    assert_state_matches(&chain, &a);
    assert_eq!(chain.tip_info().unwrap().height, 3);
}

#[test]
fn equal_work_fork_keeps_the_first_seen() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let mut a = Branch::new(&g);
    let mut b = Branch::new(&g);
    a.extend(vec![], 1);
    b.extend(vec![], 2);
    let mut chain = open(dir.path(), &g);
    assert!(matches!(
        chain.submit_block(a.blocks[0].clone()).unwrap(),
        Submitted::TipChanged(_)
    ));
    assert_eq!(
        chain.submit_block(b.blocks[0].clone()).unwrap(),
        Submitted::Stored
    );
    assert_state_matches(&chain, &a);
    // Re-submitting is harmless.
    assert_eq!(
        chain.submit_block(b.blocks[0].clone()).unwrap(),
        Submitted::Known
    );
}

#[test]
fn heavier_fork_wins_and_state_follows() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let mut a = Branch::new(&g);
    a.extend(vec![transfer(&g, 0, Address([9; 32]), 10, 0)], 1);
    let mut b = a.clone();
    a.extend(vec![transfer(&g, 1, Address([8; 32]), 10, 0)], 1);
    for n in 0..3 {
        b.extend(vec![transfer(&g, 2, Address([7; 32]), 5, n)], 2);
    }
    let mut chain = open(dir.path(), &g);
    submit_all(&mut chain, &a.blocks);
    assert_state_matches(&chain, &a);
    let results = submit_all(&mut chain, &b.blocks[1..]);
    // B's first new block only ties A (stored); the second outweighs A and switches.
    assert_eq!(results[0], Submitted::Stored);
    let Submitted::TipChanged(change) = &results[1] else {
        panic!("{results:?}")
    };
    assert_eq!(change.disconnected, vec![a.tip()]);
    assert_eq!(
        change.connected,
        vec![b.blocks[1].hash(), b.blocks[2].hash()]
    );
    assert_state_matches(&chain, &b);
    // A's second transfer is no longer in the chain.
    assert_eq!(chain.account(&Address([8; 32])).unwrap().balance, 0);
}

#[test]
fn reorg_deeper_than_ten_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let mut a = Branch::new(&g);
    let mut b = Branch::new(&g);
    for n in 0..12 {
        a.extend(vec![transfer(&g, 0, Address([1; 32]), 1, n)], 1);
    }
    for n in 0..13 {
        b.extend(vec![transfer(&g, 1, Address([2; 32]), 1, n)], 2);
    }
    let mut chain = open(dir.path(), &g);
    submit_all(&mut chain, &a.blocks);
    assert_state_matches(&chain, &a);
    assert_history(&chain, &[(Address([1; 32]), 12), (Address([2; 32]), 0)]);
    submit_all(&mut chain, &b.blocks);
    assert_state_matches(&chain, &b);
    assert_eq!(chain.account(&dev::dev_key(0).address()).unwrap().nonce, 0);
    assert_history(
        &chain,
        &[
            (Address([1; 32]), 0),
            (dev::dev_key(0).address(), 0),
            (Address([2; 32]), 13),
            (dev::dev_key(1).address(), 13),
        ],
    );
    // And back again when A grows heavier.
    for n in 12..14 {
        a.extend(vec![transfer(&g, 0, Address([1; 32]), 1, n)], 1);
    }
    submit_all(&mut chain, &a.blocks[12..]);
    assert_state_matches(&chain, &a);
    assert_history(&chain, &[(Address([1; 32]), 14), (Address([2; 32]), 0)]);
}

/// Each address's transfer count and its history in the address index agree with `expected`.
fn assert_history(chain: &Chain, expected: &[(Address, u64)]) {
    for (a, n) in expected {
        assert_eq!(
            chain.store().address_tx_count(a).unwrap(),
            *n,
            "count of {a:?}"
        );
        let history = chain.store().address_txs(a, None, 1_000).unwrap();
        assert_eq!(history.len() as u64, *n, "history of {a:?}");
    }
}

#[test]
fn schema_1_store_gets_its_address_counts_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let mut a = Branch::new(&g);
    for n in 0..4 {
        a.extend(vec![transfer(&g, 0, Address([1; 32]), 1, n)], 1);
    }
    a.extend(vec![transfer(&g, 1, Address([1; 32]), 1, 0)], 1);
    {
        let mut chain = open(dir.path(), &g);
        submit_all(&mut chain, &a.blocks);
    }
    // Turn the data dir into what version 1 wrote: no count column entries, schema 1.
    {
        use ferrite_node::store::keys::{add_counts, ALL_CFS, CF_ADDR_COUNT};
        let cfs = ALL_CFS.iter().map(|name| {
            let mut opts = rocksdb::Options::default();
            if *name == CF_ADDR_COUNT {
                opts.set_merge_operator_associative("ferrite_add_i64", add_counts);
            }
            rocksdb::ColumnFamilyDescriptor::new(*name, opts)
        });
        let db = rocksdb::DB::open_cf_descriptors(&rocksdb::Options::default(), dir.path(), cfs)
            .unwrap();
        let counts = db
            .cf_handle(ferrite_node::store::keys::CF_ADDR_COUNT)
            .unwrap();
        let keys: Vec<Box<[u8]>> = db
            .iterator_cf(counts, rocksdb::IteratorMode::Start)
            .map(|kv| kv.unwrap().0)
            .collect();
        assert!(!keys.is_empty());
        for k in keys {
            db.delete_cf(counts, k).unwrap();
        }
        let meta = db.cf_handle(ferrite_node::store::keys::CF_META).unwrap();
        db.put_cf(
            meta,
            ferrite_node::store::keys::META_SCHEMA,
            1u32.to_le_bytes(),
        )
        .unwrap();
    }
    let chain = open(dir.path(), &g);
    assert_history(
        &chain,
        &[
            (Address([1; 32]), 5),
            (dev::dev_key(0).address(), 4),
            (dev::dev_key(1).address(), 1),
            (Address([2; 32]), 0),
        ],
    );
    drop(chain);
    // The upgrade is recorded with the counts.
    {
        let db = rocksdb::DB::open_cf_for_read_only(
            &rocksdb::Options::default(),
            dir.path(),
            ferrite_node::store::keys::ALL_CFS,
            false,
        )
        .unwrap();
        let meta = db.cf_handle(ferrite_node::store::keys::CF_META).unwrap();
        let v = db
            .get_cf(meta, ferrite_node::store::keys::META_SCHEMA)
            .unwrap()
            .unwrap();
        assert_eq!(v, ferrite_node::store::keys::SCHEMA_VERSION.to_le_bytes());
        assert_eq!(ferrite_node::store::keys::SCHEMA_VERSION, 2);
    }
    let chain = open(dir.path(), &g);
    assert_history(&chain, &[(Address([1; 32]), 5)]);
}

#[test]
fn reorg_onto_a_branch_with_an_invalid_block_returns_to_the_valid_chain() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let mut a = Branch::new(&g);
    for n in 0..3 {
        a.extend(vec![transfer(&g, 0, Address([1; 32]), 1, n)], 1);
    }
    let mut b = Branch::new(&g);
    b.extend(vec![], 2);
    let bad = b.extend_invalid();
    b.extend(vec![], 2);
    b.extend(vec![], 2);
    let mut chain = open(dir.path(), &g);
    submit_all(&mut chain, &a.blocks);
    for blk in &b.blocks {
        let _ = chain.submit_block(blk.clone()).unwrap();
    }
    assert_state_matches(&chain, &a);
    assert_eq!(
        chain.block_meta(&bad.hash()).unwrap().status,
        BlockStatus::Invalid
    );
    assert_eq!(
        chain.block_meta(&b.tip()).unwrap().status,
        BlockStatus::InvalidAncestor
    );
    assert_eq!(
        chain.block_meta(&b.blocks[0].hash()).unwrap().status,
        BlockStatus::Valid
    );
    // Children of the invalid branch are refused outright, and statuses persist.
    let child = b.extend(vec![], 2);
    assert!(matches!(
        chain.submit_block(child),
        Err(ChainError::KnownInvalid(_))
    ));
    drop(chain);
    let chain = open(dir.path(), &g);
    assert_eq!(
        chain.block_meta(&bad.hash()).unwrap().status,
        BlockStatus::Invalid
    );
    assert_state_matches(&chain, &a);
}

#[test]
fn orphans_connect_when_the_parent_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let mut a = Branch::new(&g);
    for _ in 0..4 {
        a.extend(vec![], 1);
    }
    let mut chain = open(dir.path(), &g);
    for blk in a.blocks[1..].iter().rev() {
        assert_eq!(chain.submit_block(blk.clone()).unwrap(), Submitted::Orphan);
    }
    assert_eq!(chain.orphan_count(), 3);
    assert!(matches!(
        chain.submit_block(a.blocks[0].clone()).unwrap(),
        Submitted::TipChanged(_)
    ));
    assert_eq!(chain.orphan_count(), 0);
    assert_state_matches(&chain, &a);
}

#[test]
fn blocks_breaking_stateless_rules_are_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let mut a = Branch::new(&g);
    let mut blk = a.extend(vec![], 1);
    blk.header.merkle_root = ferrite_core::Hash([1; 32]);
    let mut chain = open(dir.path(), &g);
    assert!(matches!(
        chain.submit_block(blk.clone()),
        Err(ChainError::Invalid(_))
    ));
    assert!(chain.block_meta(&blk.hash()).is_none());
}

#[test]
fn transactions_of_disconnected_blocks_return_to_the_mempool() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let mut a = Branch::new(&g);
    let tx = transfer(&g, 0, Address([5; 32]), 100, 0);
    let mut b = a.clone();
    a.extend(vec![tx], 1);
    b.extend(vec![], 2);
    b.extend(vec![], 2);
    let node = Arc::new(Node::new(open(dir.path(), &g), MempoolConfig::default()).unwrap());
    node.submit_block(a.blocks[0].clone()).unwrap();
    assert!(node.mempool().is_empty());
    for blk in &b.blocks {
        node.submit_block(blk.clone()).unwrap();
    }
    assert_eq!(node.tip().hash, b.tip());
    assert!(
        node.mempool().contains(&tx.id()),
        "transfer did not return to the mempool"
    );
    // The next template mines it again.
    let template = node.block_template(Address([3; 32])).unwrap();
    assert_eq!(template.txs, vec![tx]);
}

#[test]
fn failed_switch_to_an_equal_work_branch_returns_to_the_first_seen_tip() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let mut a = Branch::new(&g);
    a.extend(vec![], 1);
    let mut x = Branch::new(&g);
    x.extend(vec![], 2);
    x.extend_invalid();
    let mut chain = open(dir.path(), &g);
    submit_all(&mut chain, &a.blocks);
    assert_eq!(
        chain.submit_block(x.blocks[0].clone()).unwrap(),
        Submitted::Stored
    );
    // X2 makes X heavier; connecting it fails, and the chain must go back to A1, not stay on X1.
    let _ = chain.submit_block(x.blocks[1].clone()).unwrap();
    assert_state_matches(&chain, &a);
}

#[test]
fn failed_reorg_leaves_the_mempool_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let mut a = Branch::new(&g);
    let t = transfer(&g, 0, Address([5; 32]), 100, 0);
    a.extend(vec![t], 1);
    a.extend(vec![], 1);
    let u = transfer(&g, 1, Address([6; 32]), 100, 0);
    let mut x = Branch::new(&g);
    x.extend(vec![u], 2);
    x.extend_invalid();
    x.extend(vec![], 2);
    let node = Arc::new(Node::new(open(dir.path(), &g), MempoolConfig::default()).unwrap());
    for blk in &a.blocks {
        node.submit_block(blk.clone()).unwrap();
    }
    node.submit_tx(u).unwrap();
    for blk in &x.blocks {
        let _ = node.submit_block(blk.clone());
    }
    assert_eq!(node.tip().hash, a.tip());
    // u was connected in X1 and disconnected again: it is still pending, and t is still mined.
    assert!(
        node.mempool().contains(&u.id()),
        "a transfer of a failed branch was dropped"
    );
    assert!(!node.mempool().contains(&t.id()));
}

#[test]
fn a_block_that_fails_while_connecting_counts_as_rejected_by_its_rule_not_as_stored() {
    let dir = tempfile::tempdir().unwrap();
    let g = genesis();
    let mut a = Branch::new(&g);
    a.extend(vec![], 1);
    let mut x = Branch::new(&g);
    x.extend(vec![], 2);
    x.extend(vec![], 2);
    let bad = x.extend_invalid();
    let node = Arc::new(Node::new(open(dir.path(), &g), MempoolConfig::default()).unwrap());
    node.submit_block(a.blocks[0].clone()).unwrap();
    node.submit_block(x.blocks[0].clone()).unwrap();
    node.submit_block(x.blocks[1].clone()).unwrap();
    // X2 connected; X3 is stored, then fails its signature check as the chain connects it.
    let before = node.tip().hash;
    assert!(node.submit_block(bad.clone()).is_ok());
    assert_eq!(node.tip().hash, before);
    let text = node
        .metrics()
        .render(ferrite_node::metrics::Snapshot::default());
    let count = |series: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(series))
            .map(|v| v.trim().to_string())
    };
    assert_eq!(
        count(r#"ferrite_blocks_total{result="rejected",reason="bad_signature"} "#).as_deref(),
        Some("1"),
        "{text}"
    );
    assert_eq!(
        count(r#"ferrite_blocks_total{result="stored",reason=""} "#).as_deref(),
        Some("1"),
        "only X1 was stored without connecting: {text}"
    );
}
