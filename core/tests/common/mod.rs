//! Shared fixture for ferrite-core's integration tests: a dev chain that mines real blocks.

#![allow(dead_code)]

use ferrite_core::block::Block;
use ferrite_core::dev::{self, assemble_block, mine};
use ferrite_core::validation::{
    connect_block, connect_body_checked, BlockError, ConnectedBlock, ParentInfo, Signatures,
};
use ferrite_core::BodyChecked;
use ferrite_core::{
    Address, BlockHeader, ChainParams, Hash, SecretKey, SignedTransaction, State, Transaction,
};

/// Genesis time of test chains.
pub const T0: u64 = 1_800_000_000;
/// Block spacing of test chains.
pub const SPACING: u64 = 10;

/// A dev chain held in memory.
pub struct TestChain {
    pub params: ChainParams,
    pub state: State,
    pub headers: Vec<BlockHeader>,
}

impl TestChain {
    pub fn new(accounts: u32) -> Self {
        let g = dev::dev_genesis_config(accounts, T0, SPACING)
            .build()
            .unwrap();
        TestChain {
            params: g.params,
            state: g.state,
            headers: vec![g.block.header],
        }
    }

    pub fn tip(&self) -> &BlockHeader {
        self.headers.last().unwrap()
    }

    pub fn parent_info(&self) -> ParentInfo {
        let ts: Vec<u64> = self.headers.iter().map(|h| h.timestamp).collect();
        ParentInfo::new(self.tip(), &ts)
    }

    /// A time well after the tip, so timestamp rules never get in the way of tests.
    pub fn now(&self) -> u64 {
        self.tip().timestamp + 1_000
    }

    /// A valid, mined child of the tip with `txs`, paying `miner`.
    pub fn build(&self, txs: Vec<SignedTransaction>, miner: Address) -> Block {
        let ts = self.tip().timestamp + SPACING;
        let mut b = assemble_block(
            &self.params,
            &self.parent_info(),
            &self.state,
            txs,
            miner,
            ts,
        )
        .expect("txs valid");
        assert!(mine(&mut b.header, 1_000_000));
        b
    }

    /// Re-mines a block after its header was edited.
    pub fn remine(block: &mut Block) {
        block.header.nonce = 0;
        assert!(mine(&mut block.header, 1_000_000));
    }

    /// Connects `block` through `connect_block`, and checks that the path for a block whose
    /// body was checked ahead (`connect_body_checked`) reaches the same verdict and state.
    pub fn connect(&mut self, block: &Block) -> Result<ConnectedBlock, BlockError> {
        let parent = self.parent_info();
        let now = self.now();
        let mut other = self.state.clone();
        let result = connect_block(&self.params, block, &parent, &mut self.state, now);
        match BodyChecked::new(block.clone()) {
            Ok(body) => {
                let again = connect_body_checked(
                    &self.params,
                    &body,
                    &parent,
                    &mut other,
                    now,
                    Signatures::Verify,
                );
                let facts = |r: &Result<ConnectedBlock, BlockError>| {
                    r.as_ref()
                        .map(|c| (c.hash, c.tx_ids.clone(), c.fees, c.reward))
                        .map_err(|e| *e)
                };
                assert_eq!(
                    facts(&again),
                    facts(&result),
                    "the two connect paths disagree"
                );
                assert!(
                    other == self.state,
                    "the two connect paths left different states"
                );
            }
            Err(e) => assert!(result.is_err(), "a body refused with {e} was connected"),
        }
        let c = result?;
        self.headers.push(block.header);
        Ok(c)
    }

    pub fn chain_id(&self) -> Hash {
        self.params.genesis_hash
    }

    /// A signed transfer from dev key `from` with the sender's current nonce.
    pub fn transfer(&self, from: u32, to: Address, amount: u64, fee: u64) -> SignedTransaction {
        let key = dev::dev_key(from);
        let nonce = self.state.account(&key.address()).nonce;
        self.transfer_with_nonce(&key, to, amount, fee, nonce)
    }

    pub fn transfer_with_nonce(
        &self,
        key: &SecretKey,
        to: Address,
        amount: u64,
        fee: u64,
        nonce: u64,
    ) -> SignedTransaction {
        Transaction {
            sender: key.public_key(),
            recipient: to,
            amount,
            fee,
            nonce,
        }
        .sign(key, &self.chain_id())
    }
}

pub fn addr(i: u8) -> Address {
    Address([i; 32])
}

pub fn dev_addr(i: u32) -> Address {
    dev::dev_key(i).address()
}
