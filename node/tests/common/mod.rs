//! Helpers shared by the chain test files: a dev genesis and branches built with ferrite-core
//! alone, to feed the node.
#![allow(dead_code)]

use ferrite_core::dev::{self, assemble_block, mine};
use ferrite_core::validation::{connect_block, ParentInfo};
use ferrite_core::{Address, Block, BlockHeader, Genesis, SignedTransaction, State, Transaction};
use ferrite_node::chain::Chain;
use ferrite_node::node::now_secs;
use ferrite_node::store::DEFAULT_CACHE_BYTES;

pub const SPACING: u64 = 5;

pub fn genesis() -> Genesis {
    // Far enough in the past that every test branch stays behind the clock.
    dev::dev_genesis_config(4, now_secs() - 10_000, SPACING)
        .build()
        .unwrap()
}

/// A branch built in memory with ferrite-core alone, to feed the node.
#[derive(Clone)]
pub struct Branch {
    pub genesis: Genesis,
    pub state: State,
    pub headers: Vec<BlockHeader>,
    pub blocks: Vec<Block>,
}

impl Branch {
    pub fn new(g: &Genesis) -> Self {
        Branch {
            genesis: g.clone(),
            state: g.state.clone(),
            headers: vec![g.block.header],
            blocks: vec![],
        }
    }

    pub fn parent(&self) -> ParentInfo {
        let ts: Vec<u64> = self.headers.iter().map(|h| h.timestamp).collect();
        ParentInfo::new(self.headers.last().unwrap(), &ts)
    }

    /// Mines the next block with `txs`, paying `miner`; `extra_secs` shifts its timestamp.
    pub fn extend(&mut self, txs: Vec<SignedTransaction>, miner: u8) -> Block {
        let p = self.parent();
        let ts = p.timestamp + SPACING;
        let mut b = assemble_block(
            &self.genesis.params,
            &p,
            &self.state,
            txs,
            Address([miner; 32]),
            ts,
        )
        .unwrap();
        assert!(mine(&mut b.header, 1_000_000));
        connect_block(&self.genesis.params, &b, &p, &mut self.state, now_secs()).unwrap();
        self.headers.push(b.header);
        self.blocks.push(b.clone());
        b
    }

    /// Like `extend`, but the block carries a transfer whose signature is broken: its header
    /// and merkle root are fine, so only full validation can reject it.
    pub fn extend_invalid(&mut self) -> Block {
        let key = dev::dev_key(3);
        let mut bad = transfer(
            &self.genesis,
            3,
            Address([50; 32]),
            1,
            self.state.account(&key.address()).nonce,
        );
        bad.signature.0[0] ^= 1;
        let p = self.parent();
        let ts = p.timestamp + SPACING;
        let mut b = assemble_block(
            &self.genesis.params,
            &p,
            &self.state,
            vec![bad],
            Address([66; 32]),
            ts,
        )
        .unwrap();
        assert!(mine(&mut b.header, 1_000_000));
        // Advance the in-memory branch without validation, as a dishonest miner would.
        let (upd, _) = ferrite_core::ledger::prepare_block(
            &self.state,
            &b.txs,
            &b.header.miner,
            self.genesis.params.reward_at(b.header.height),
        )
        .unwrap();
        self.state.commit(upd);
        self.headers.push(b.header);
        self.blocks.push(b.clone());
        b
    }

    pub fn tip(&self) -> ferrite_core::Hash {
        self.headers.last().unwrap().hash()
    }
}

pub fn transfer(g: &Genesis, from: u32, to: Address, amount: u64, nonce: u64) -> SignedTransaction {
    let key = dev::dev_key(from);
    Transaction {
        sender: key.public_key(),
        recipient: to,
        amount,
        fee: 2_000,
        nonce,
    }
    .sign(&key, &g.params.genesis_hash)
}

pub fn open(dir: &std::path::Path, g: &Genesis) -> Chain {
    Chain::open(dir, g, DEFAULT_CACHE_BYTES).unwrap()
}

/// The node's accounts must match the branch's in-memory state for every address it touched.
pub fn assert_state_matches(chain: &Chain, branch: &Branch) {
    assert_eq!(chain.tip_info().unwrap().hash, branch.tip());
    assert_eq!(chain.digest(), branch.state.digest());
    for (a, acct) in branch.state.iter() {
        assert_eq!(chain.account(a).unwrap(), *acct);
    }
    chain.check_full().unwrap();
}
