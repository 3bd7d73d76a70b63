//! A bounded table of bans: who is banned until when, which bans changed since the last save,
//! and room kept by dropping the ban that ends first when a new one arrives at the bound.
//!
//! The address book keeps one table for addresses and one for node ids; the accept loop keeps
//! an address table of its own for refusing banned addresses before their handshake. Every
//! operation is O(log n), so a flood of violations from new identities costs the same per ban
//! however many are banned already, and a save writes only the bans that changed.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::Hash;

/// Most bans kept per table (addresses, node ids). Each costs about 150 bytes in memory and 60
/// on disk, so a full pair of tables is about 6 MB and 2.4 MB. An attacker with more identities
/// than this pushes its own oldest bans out, never an honest peer's standing: a ban that is
/// dropped only lets a misbehaving peer try again.
pub const MAX_BANS: usize = 20_000;

/// Bans of keys `K`, each until a Unix second.
#[derive(Debug, Clone)]
pub struct BanTable<K> {
    until: HashMap<K, u64>,
    /// The same bans by end, soonest first: the one dropped at the bound.
    by_end: BTreeSet<(u64, K)>,
    /// Keys banned, re-banned, expired or dropped since [`BanTable::take_changed`].
    changed: HashSet<K>,
    max: usize,
}

impl<K: Copy + Eq + Hash + Ord> Default for BanTable<K> {
    fn default() -> Self {
        BanTable::with_max(MAX_BANS)
    }
}

impl<K: Copy + Eq + Hash + Ord> BanTable<K> {
    /// An empty table holding at most `max` bans (at least one).
    pub fn with_max(max: usize) -> Self {
        BanTable {
            until: HashMap::new(),
            by_end: BTreeSet::new(),
            changed: HashSet::new(),
            max: max.max(1),
        }
    }

    /// Bans `key` until `until` (a later end replaces an earlier one, never the reverse).
    /// Returns the key dropped to make room, if one was.
    pub fn ban(&mut self, key: K, until: u64) -> Option<K> {
        if let Some(old) = self.until.get(&key).copied() {
            if old >= until {
                return None;
            }
            self.by_end.remove(&(old, key));
        }
        let mut dropped = None;
        if !self.until.contains_key(&key) && self.until.len() >= self.max {
            if let Some((_, first)) = self.by_end.pop_first() {
                self.until.remove(&first);
                self.changed.insert(first);
                dropped = Some(first);
            }
        }
        self.until.insert(key, until);
        self.by_end.insert((until, key));
        self.changed.insert(key);
        dropped
    }

    /// Loads a ban read back from the store (not a change to save).
    pub fn load(&mut self, key: K, until: u64) {
        self.ban(key, until);
        self.changed.remove(&key);
    }

    /// True when `key` is banned at Unix second `now`.
    pub fn is_banned(&self, key: &K, now: u64) -> bool {
        self.until.get(key).is_some_and(|u| *u > now)
    }

    /// The end of `key`'s ban, if it has one.
    pub fn end(&self, key: &K) -> Option<u64> {
        self.until.get(key).copied()
    }

    /// Drops the bans that have ended by `now`.
    pub fn expire(&mut self, now: u64) {
        while let Some(&(end, key)) = self.by_end.first() {
            if end > now {
                break;
            }
            self.by_end.pop_first();
            self.until.remove(&key);
            self.changed.insert(key);
        }
    }

    /// The keys changed since the last call, with their ban's end (`None`: no longer banned).
    pub fn take_changed(&mut self) -> Vec<(K, Option<u64>)> {
        let mut out: Vec<(K, Option<u64>)> = self
            .changed
            .drain()
            .map(|k| (k, self.until.get(&k).copied()))
            .collect();
        out.sort_unstable();
        out
    }

    /// True when bans changed since the last [`BanTable::take_changed`].
    pub fn has_changes(&self) -> bool {
        !self.changed.is_empty()
    }

    /// Bans held.
    pub fn len(&self) -> usize {
        self.until.len()
    }

    /// True when nobody is banned.
    pub fn is_empty(&self) -> bool {
        self.until.is_empty()
    }

    /// Every ban with its end, in key order.
    pub fn all(&self) -> Vec<(K, u64)> {
        let mut all: Vec<(K, u64)> = self.until.iter().map(|(k, u)| (*k, *u)).collect();
        all.sort_unstable();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_bound_the_ban_that_ends_first_makes_room() {
        let mut t: BanTable<u32> = BanTable::with_max(3);
        assert_eq!(t.ban(1, 100), None);
        assert_eq!(t.ban(2, 300), None);
        assert_eq!(t.ban(3, 200), None);
        assert_eq!(t.ban(4, 400), Some(1), "1 ends first");
        assert_eq!(t.len(), 3);
        assert!(!t.is_banned(&1, 0));
        // Re-banning a held key makes no room and moves its end only later.
        assert_eq!(t.ban(3, 500), None);
        assert_eq!(t.ban(3, 50), None);
        assert_eq!(t.end(&3), Some(500));
        assert_eq!(t.ban(5, 450), Some(2));
        assert_eq!(t.all(), vec![(3, 500), (4, 400), (5, 450)]);
    }

    #[test]
    fn only_what_changed_is_saved_and_expiry_counts_as_a_change() {
        let mut t: BanTable<u32> = BanTable::with_max(10);
        t.load(7, 1_000);
        assert!(!t.has_changes(), "a ban read back is not a change");
        t.ban(1, 100);
        t.ban(2, 200);
        assert_eq!(t.take_changed(), vec![(1, Some(100)), (2, Some(200))]);
        assert!(t.take_changed().is_empty());
        t.expire(150);
        assert!(!t.is_banned(&1, 0));
        assert!(t.is_banned(&2, 150));
        assert!(!t.is_banned(&2, 200), "a ban ends at its end");
        assert_eq!(t.take_changed(), vec![(1, None)]);
        // A key dropped at the bound is a change too.
        let mut small: BanTable<u32> = BanTable::with_max(1);
        small.ban(1, 10);
        small.take_changed();
        small.ban(2, 20);
        assert_eq!(small.take_changed(), vec![(1, None), (2, Some(20))]);
    }

    #[test]
    fn a_flood_of_bans_stays_at_the_bound() {
        let mut t: BanTable<u64> = BanTable::with_max(MAX_BANS);
        for i in 0..(3 * MAX_BANS as u64) {
            t.ban(i, 1_000 + i);
        }
        assert_eq!(t.len(), MAX_BANS);
        assert_eq!(t.by_end.len(), MAX_BANS);
        // The newest are the ones kept.
        assert!(t.is_banned(&(3 * MAX_BANS as u64 - 1), 0));
        assert!(!t.is_banned(&0, 0));
    }
}
