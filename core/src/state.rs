//! The ledger state: a balance and a nonce per address, with an incrementally maintained digest.
//!
//! An account that has never received or sent anything is "empty" (balance 0, nonce 0); empty
//! accounts are not stored and contribute nothing to the digest. The digest is an [`LtHash`] over
//! the records of the non-empty accounts, so each account change updates it in O(1) and equal
//! states have equal digests whatever order they were built in.
//!
//! A `State` may also be a *partial view*: the digest of the whole ledger plus only the accounts a
//! block touches (a node loads those from its store). Everything here works on such a view as long
//! as it holds every account that is read or changed.

use std::collections::HashMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::encoding::{put_u64, Decode, DecodeError, Encode, Reader};
use crate::hash::{Domain, Hash};
use crate::lthash::LtHash;

/// Change sets at least this large compute their digest update on all threads; below it the
/// thread hand-off costs more than the few XOF expansions it would share.
pub const PARALLEL_DIGEST_MIN_CHANGES: usize = 256;

/// One account's record.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct Account {
    /// Spendable base units.
    pub balance: u64,
    /// Number of transfers sent; the next transfer must carry this nonce.
    pub nonce: u64,
}

impl Account {
    /// True for the never-used account, which is not stored.
    pub fn is_empty(&self) -> bool {
        self.balance == 0 && self.nonce == 0
    }

    /// This account's contribution to the state digest.
    pub fn leaf(&self, address: &Address) -> LtHash {
        let mut record = [0u8; 48];
        record[..32].copy_from_slice(&address.0);
        record[32..40].copy_from_slice(&self.balance.to_le_bytes());
        record[40..].copy_from_slice(&self.nonce.to_le_bytes());
        LtHash::of(Domain::StateLeaf, &record)
    }
}

impl Encode for Account {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u64(out, self.balance);
        put_u64(out, self.nonce);
    }
    fn encoded_len(&self) -> usize {
        16
    }
}

impl Decode for Account {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Account {
            balance: r.u64()?,
            nonce: r.u64()?,
        })
    }
}

/// A set of account changes whose effect on the digest is already computed, ready to commit.
#[derive(Clone, Debug)]
pub struct PreparedUpdate {
    /// (address, value before, value after) for every changed account, in first-touch order.
    pub changes: Vec<(Address, Account, Account)>,
    /// The digest after the changes.
    pub digest: LtHash,
}

impl PreparedUpdate {
    /// The state root after the changes.
    pub fn root(&self) -> Hash {
        self.digest.root()
    }
}

/// Accounts and the digest over all of them.
#[derive(Clone, Debug)]
pub struct State {
    accounts: HashMap<Address, Account>,
    digest: LtHash,
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

impl PartialEq for State {
    fn eq(&self, other: &Self) -> bool {
        self.digest == other.digest && self.accounts == other.accounts
    }
}

impl State {
    /// The empty ledger.
    pub fn new() -> Self {
        State {
            accounts: HashMap::new(),
            digest: LtHash::zero(),
        }
    }

    /// A partial view: the whole ledger's `digest` and some of its accounts.
    pub fn partial(digest: LtHash, accounts: impl IntoIterator<Item = (Address, Account)>) -> Self {
        State {
            accounts: accounts
                .into_iter()
                .filter(|(_, a)| !a.is_empty())
                .collect(),
            digest,
        }
    }

    /// The account at `address` (empty if none is stored).
    pub fn account(&self, address: &Address) -> Account {
        self.accounts.get(address).copied().unwrap_or_default()
    }

    /// Sets one account, updating the digest; returns the previous value.
    pub fn set_account(&mut self, address: Address, account: Account) -> Account {
        let old = self.account(&address);
        if old == account {
            return old;
        }
        if !old.is_empty() {
            self.digest.sub(&old.leaf(&address));
        }
        if account.is_empty() {
            self.accounts.remove(&address);
        } else {
            self.digest.add(&account.leaf(&address));
            self.accounts.insert(address, account);
        }
        old
    }

    /// Computes the digest after setting each `(address, new value)`, without changing anything.
    /// Each address must appear once.
    pub fn prepare(&self, new_values: Vec<(Address, Account)>) -> PreparedUpdate {
        let changes: Vec<(Address, Account, Account)> = new_values
            .into_iter()
            .map(|(a, new)| (a, self.account(&a), new))
            .filter(|(_, old, new)| old != new)
            .collect();
        let delta_of = |acc: &mut (LtHash, LtHash), (a, old, new): &(Address, Account, Account)| {
            if !old.is_empty() {
                acc.1.add(&old.leaf(a));
            }
            if !new.is_empty() {
                acc.0.add(&new.leaf(a));
            }
        };
        let (added, removed) = if changes.len() >= PARALLEL_DIGEST_MIN_CHANGES {
            changes
                .par_iter()
                .fold(
                    || (LtHash::zero(), LtHash::zero()),
                    |mut acc, c| {
                        delta_of(&mut acc, c);
                        acc
                    },
                )
                .reduce(
                    || (LtHash::zero(), LtHash::zero()),
                    |mut x, y| {
                        x.0.add(&y.0);
                        x.1.add(&y.1);
                        x
                    },
                )
        } else {
            let mut acc = (LtHash::zero(), LtHash::zero());
            changes.iter().for_each(|c| delta_of(&mut acc, c));
            acc
        };
        let mut digest = self.digest.clone();
        digest.add(&added);
        digest.sub(&removed);
        PreparedUpdate { changes, digest }
    }

    /// Applies a prepared update. It must have been prepared from this state as it is now.
    pub fn commit(&mut self, update: PreparedUpdate) {
        for (a, _, new) in &update.changes {
            if new.is_empty() {
                self.accounts.remove(a);
            } else {
                self.accounts.insert(*a, *new);
            }
        }
        self.digest = update.digest;
    }

    /// The digest accumulator.
    pub fn digest(&self) -> &LtHash {
        &self.digest
    }

    /// The state root headers commit to.
    pub fn root(&self) -> Hash {
        self.digest.root()
    }

    /// Number of stored (non-empty) accounts.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// True if no account is stored.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// The stored accounts, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&Address, &Account)> {
        self.accounts.iter()
    }

    /// Recomputes the digest from the stored accounts: equal to [`State::digest`] for a full
    /// state that was never corrupted.
    pub fn recompute_digest(&self) -> LtHash {
        let mut d = LtHash::zero();
        for (a, acct) in &self.accounts {
            d.add(&acct.leaf(a));
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u8) -> Address {
        Address([i; 32])
    }

    #[test]
    fn empty_accounts_are_not_stored_and_leave_no_trace() {
        let mut s = State::new();
        let root0 = s.root();
        s.set_account(
            addr(1),
            Account {
                balance: 5,
                nonce: 0,
            },
        );
        assert_ne!(s.root(), root0);
        s.set_account(addr(1), Account::default());
        assert_eq!(s.root(), root0);
        assert!(s.is_empty());
    }

    #[test]
    fn prepare_matches_set_account() {
        let mut a = State::new();
        a.set_account(
            addr(1),
            Account {
                balance: 5,
                nonce: 1,
            },
        );
        a.set_account(
            addr(2),
            Account {
                balance: 7,
                nonce: 0,
            },
        );
        let mut b = a.clone();
        let upd = a.prepare(vec![
            (
                addr(1),
                Account {
                    balance: 1,
                    nonce: 2,
                },
            ),
            (
                addr(3),
                Account {
                    balance: 9,
                    nonce: 0,
                },
            ),
            (
                addr(2),
                Account {
                    balance: 7,
                    nonce: 0,
                },
            ),
        ]);
        assert_eq!(upd.changes.len(), 2, "unchanged accounts are dropped");
        a.commit(upd);
        b.set_account(
            addr(1),
            Account {
                balance: 1,
                nonce: 2,
            },
        );
        b.set_account(
            addr(3),
            Account {
                balance: 9,
                nonce: 0,
            },
        );
        assert_eq!(a, b);
        assert_eq!(a.recompute_digest(), *a.digest());
    }

    #[test]
    fn parallel_prepare_agrees_with_sequential() {
        let base = State::new();
        let values: Vec<_> = (0..600u32)
            .map(|i| {
                let mut a = [0u8; 32];
                a[..4].copy_from_slice(&i.to_le_bytes());
                (
                    Address(a),
                    Account {
                        balance: i as u64 + 1,
                        nonce: 0,
                    },
                )
            })
            .collect();
        let upd = base.prepare(values.clone());
        let mut seq = State::new();
        for (a, v) in values {
            seq.set_account(a, v);
        }
        assert_eq!(upd.digest, *seq.digest());
    }
}
