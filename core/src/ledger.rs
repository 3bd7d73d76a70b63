//! The ledger's state transition: what a transfer and a block do to the accounts, and undo.
//!
//! Rules, checked per transfer in block order:
//! - the amount is non-zero and the recipient is not the sender (both would only move fees and
//!   bump a nonce; refusing them keeps every transfer a real movement of coins);
//! - the sender key is not of small order (see [`crate::verify::is_weak_key`]);
//! - the nonce equals the sender's current nonce, which then increases by one;
//! - amount + fee fits in a u64 and the sender's balance covers it;
//! - the recipient's balance does not overflow.
//!
//! After the transfers the miner is credited with the block reward plus all fees. All arithmetic
//! is checked; a failure leaves the state exactly as it was.

use std::collections::HashMap;

use crate::address::Address;
use crate::encoding::{Decode, DecodeError, Encode, Reader};
use crate::state::{Account, PreparedUpdate, State};
use crate::transaction::{SignedTransaction, Transaction};
use crate::verify;

/// Why a transfer is invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// Transfers must move at least one base unit.
    #[error("amount is zero")]
    ZeroAmount,
    /// The recipient is the sender.
    #[error("recipient is the sender")]
    SelfTransfer,
    /// The sender key has small order: anybody could sign for it.
    #[error("sender key is of small order")]
    WeakSenderKey,
    /// The signature does not verify (ZIP-215) for this chain.
    #[error("signature does not verify")]
    BadSignature,
    /// The nonce is not the sender's next nonce.
    #[error("nonce {got} is not the sender's next nonce {expected}")]
    BadNonce {
        /// The sender's next nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// amount + fee does not fit in a u64.
    #[error("amount plus fee overflows")]
    AmountOverflow,
    /// The sender cannot pay amount + fee.
    #[error("balance {balance} is less than amount plus fee {needed}")]
    InsufficientBalance {
        /// The sender's balance.
        balance: u64,
        /// amount + fee.
        needed: u64,
    },
    /// The recipient's balance would pass u64::MAX.
    #[error("recipient balance would overflow")]
    RecipientOverflow,
    /// The sender's nonce is already u64::MAX.
    #[error("sender nonce would overflow")]
    NonceOverflow,
}

impl TxError {
    /// A short, stable name of the rule (for metrics labels and logs).
    pub fn rule(&self) -> &'static str {
        match self {
            TxError::ZeroAmount => "zero_amount",
            TxError::SelfTransfer => "self_transfer",
            TxError::WeakSenderKey => "weak_sender_key",
            TxError::BadSignature => "bad_signature",
            TxError::BadNonce { .. } => "bad_nonce",
            TxError::AmountOverflow => "amount_overflow",
            TxError::InsufficientBalance { .. } => "insufficient_balance",
            TxError::RecipientOverflow => "recipient_overflow",
            TxError::NonceOverflow => "nonce_overflow",
        }
    }
}

/// Why a block's transfers and reward cannot be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Transfer `index` breaks a rule.
    #[error("transaction {index}: {error}")]
    Tx {
        /// Position in the block.
        index: usize,
        /// The rule it breaks.
        error: TxError,
    },
    /// The sum of fees overflows.
    #[error("sum of fees overflows")]
    FeeOverflow,
    /// Reward plus fees overflows, or the miner's balance would.
    #[error("miner credit overflows")]
    MinerOverflow,
}

/// The rules of a transfer that need no state: amount, self-transfer, key strength.
pub fn check_stateless(tx: &Transaction) -> Result<(), TxError> {
    if tx.amount == 0 {
        return Err(TxError::ZeroAmount);
    }
    if tx.recipient == tx.sender_address() {
        return Err(TxError::SelfTransfer);
    }
    if verify::is_weak_key(&tx.sender) {
        return Err(TxError::WeakSenderKey);
    }
    Ok(())
}

/// Accounts read from a base state with pending changes on top, in first-touch order.
struct Overlay<'a> {
    base: &'a State,
    changed: HashMap<Address, usize>,
    values: Vec<(Address, Account)>,
}

impl<'a> Overlay<'a> {
    fn new(base: &'a State, capacity: usize) -> Self {
        Overlay {
            base,
            changed: HashMap::with_capacity(capacity),
            values: Vec::with_capacity(capacity),
        }
    }

    fn get(&self, a: &Address) -> Account {
        match self.changed.get(a) {
            Some(&i) => self.values[i].1,
            None => self.base.account(a),
        }
    }

    fn set(&mut self, a: Address, acct: Account) {
        match self.changed.get(&a) {
            Some(&i) => self.values[i].1 = acct,
            None => {
                self.changed.insert(a, self.values.len());
                self.values.push((a, acct));
            }
        }
    }
}

/// Applies one transfer's balance and nonce rules to `sender` and `recipient` values.
/// Returns the new (sender, recipient) accounts.
pub fn transfer(
    tx: &Transaction,
    sender: Account,
    recipient: Account,
) -> Result<(Account, Account), TxError> {
    if tx.nonce != sender.nonce {
        return Err(TxError::BadNonce {
            expected: sender.nonce,
            got: tx.nonce,
        });
    }
    let nonce = sender.nonce.checked_add(1).ok_or(TxError::NonceOverflow)?;
    let needed = tx
        .amount
        .checked_add(tx.fee)
        .ok_or(TxError::AmountOverflow)?;
    let balance = sender
        .balance
        .checked_sub(needed)
        .ok_or(TxError::InsufficientBalance {
            balance: sender.balance,
            needed,
        })?;
    let credited = recipient
        .balance
        .checked_add(tx.amount)
        .ok_or(TxError::RecipientOverflow)?;
    Ok((
        Account { balance, nonce },
        Account {
            balance: credited,
            nonce: recipient.nonce,
        },
    ))
}

/// Applies `txs` in order, then credits `miner` with `reward` plus the fees, without changing
/// `state`. Signatures are not checked here. Returns the prepared update and the total fees.
pub fn prepare_block(
    state: &State,
    txs: &[SignedTransaction],
    miner: &Address,
    reward: u64,
) -> Result<(PreparedUpdate, u64), ApplyError> {
    let mut overlay = Overlay::new(state, 2 * txs.len() + 1);
    let mut fees: u64 = 0;
    for (index, stx) in txs.iter().enumerate() {
        let tx = &stx.tx;
        let fail = |error| ApplyError::Tx { index, error };
        check_stateless(tx).map_err(fail)?;
        let from = tx.sender_address();
        let (s, r) = transfer(tx, overlay.get(&from), overlay.get(&tx.recipient)).map_err(fail)?;
        overlay.set(from, s);
        overlay.set(tx.recipient, r);
        fees = fees.checked_add(tx.fee).ok_or(ApplyError::FeeOverflow)?;
    }
    let credit = reward.checked_add(fees).ok_or(ApplyError::MinerOverflow)?;
    let mut m = overlay.get(miner);
    m.balance = m
        .balance
        .checked_add(credit)
        .ok_or(ApplyError::MinerOverflow)?;
    overlay.set(*miner, m);
    Ok((state.prepare(overlay.values), fees))
}

/// What a connected block changed: the previous value of every account it touched.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BlockUndo {
    /// (address, value before the block), in the order the block first touched them.
    pub previous: Vec<(Address, Account)>,
}

impl BlockUndo {
    /// The undo record of a committed update.
    pub fn of(update: &PreparedUpdate) -> Self {
        BlockUndo {
            previous: update
                .changes
                .iter()
                .map(|(a, old, _)| (*a, *old))
                .collect(),
        }
    }
}

/// Puts back every account a block changed; `state` must be the state right after that block.
pub fn undo_block(state: &mut State, undo: &BlockUndo) {
    let update = state.prepare(undo.previous.clone());
    state.commit(update);
}

/// Applies a block's transfers and reward to `state` (no signature or header checks: see
/// [`crate::validation::connect_block`] for the full rules). On error `state` is unchanged.
pub fn apply_block(
    state: &mut State,
    txs: &[SignedTransaction],
    miner: &Address,
    reward: u64,
) -> Result<BlockUndo, ApplyError> {
    let (update, _) = prepare_block(state, txs, miner, reward)?;
    let undo = BlockUndo::of(&update);
    state.commit(update);
    Ok(undo)
}

impl Encode for BlockUndo {
    fn encode_to(&self, out: &mut Vec<u8>) {
        crate::encoding::put_u32(out, self.previous.len() as u32);
        for (a, acct) in &self.previous {
            a.encode_to(out);
            acct.encode_to(out);
        }
    }
    fn encoded_len(&self) -> usize {
        4 + self.previous.len() * 48
    }
}

impl Decode for BlockUndo {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.count(48)?;
        let mut previous = Vec::with_capacity(n as usize);
        for _ in 0..n {
            previous.push((Address::decode_from(r)?, Account::decode_from(r)?));
        }
        Ok(BlockUndo { previous })
    }
}
