//! The orphan pool: blocks whose parent is not known yet, kept until the parent arrives.
//!
//! Bounded by count and bytes; when full, the oldest orphan is dropped (a peer will offer it
//! again once its parent is known).

use std::collections::{HashMap, VecDeque};

use ferrite_core::encoding::Encode;
use ferrite_core::{BodyChecked, Hash};

/// Most orphans kept: enough to bridge a burst of out-of-order blocks during sync, small enough
/// that a peer flooding unconnectable blocks cannot grow the node.
pub const MAX_ORPHANS: usize = 256;
/// Most bytes of orphans kept (a few full blocks' worth).
pub const MAX_ORPHAN_BYTES: usize = 16 * 1024 * 1024;

/// What an orphan costs: its encoding and the transfer ids it carries.
fn held_bytes(b: &BodyChecked) -> usize {
    b.block().encoded_len() + std::mem::size_of_val(b.tx_ids())
}

/// Blocks waiting for their parent (bodies already checked against their merkle roots).
#[derive(Default)]
pub struct OrphanPool {
    by_hash: HashMap<Hash, BodyChecked>,
    by_parent: HashMap<Hash, Vec<Hash>>,
    order: VecDeque<Hash>,
    bytes: usize,
}

impl OrphanPool {
    /// Number of orphans held.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Adds an orphan, evicting the oldest while over a bound.
    pub fn insert(&mut self, block: BodyChecked) {
        let hash = block.hash();
        if self.by_hash.contains_key(&hash) {
            return;
        }
        let size = held_bytes(&block);
        if size > MAX_ORPHAN_BYTES {
            return;
        }
        self.by_parent
            .entry(block.block().header.prev)
            .or_default()
            .push(hash);
        self.by_hash.insert(hash, block);
        self.order.push_back(hash);
        self.bytes += size;
        while self.by_hash.len() > MAX_ORPHANS || self.bytes > MAX_ORPHAN_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            self.remove(&old);
        }
    }

    fn remove(&mut self, hash: &Hash) -> Option<BodyChecked> {
        let block = self.by_hash.remove(hash)?;
        self.bytes -= held_bytes(&block);
        let prev = block.block().header.prev;
        if let Some(v) = self.by_parent.get_mut(&prev) {
            v.retain(|h| h != hash);
            if v.is_empty() {
                self.by_parent.remove(&prev);
            }
        }
        Some(block)
    }

    /// Removes and returns the orphans whose parent is `parent`.
    pub fn take_children(&mut self, parent: &Hash) -> Vec<BodyChecked> {
        let Some(children) = self.by_parent.remove(parent) else {
            return Vec::new();
        };
        let out: Vec<BodyChecked> = children
            .iter()
            .filter_map(|h| self.by_hash.remove(h))
            .collect();
        for b in &out {
            self.bytes -= held_bytes(b);
        }
        self.order.retain(|h| self.by_hash.contains_key(h));
        out
    }
}
