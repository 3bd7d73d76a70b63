//! Merkle trees over transaction ids, with inclusion proofs (RFC 6962 / RFC 9162 shape).
//!
//! Leaves and inner nodes hash in different domains and an odd node is never paired with a copy
//! of itself, so no two different lists of ids share a root (Bitcoin's duplicate-last-leaf flaw).
//! A tree of `n` leaves splits at the largest power of two below `n`.

use serde::{Deserialize, Serialize};

use crate::hash::{self, Domain, Hash};

/// Hash of one leaf (a transaction id).
pub fn leaf_hash(id: &Hash) -> Hash {
    hash::hash(Domain::MerkleLeaf, &id.0)
}

/// Hash of an inner node from its two children.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(&left.0);
    buf[32..].copy_from_slice(&right.0);
    hash::hash(Domain::MerkleNode, &buf)
}

/// Root of a tree without leaves.
pub fn empty_root() -> Hash {
    hash::hash(Domain::MerkleEmpty, &[])
}

/// Largest power of two strictly below `n` (`n >= 2`).
fn split_point(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// Root over already-hashed leaves.
fn subtree_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n);
            node_hash(&subtree_root(&leaves[..k]), &subtree_root(&leaves[k..]))
        }
    }
}

/// The merkle root of a list of transaction ids.
pub fn merkle_root(ids: &[Hash]) -> Hash {
    let leaves: Vec<Hash> = ids.iter().map(leaf_hash).collect();
    subtree_root(&leaves)
}

/// Proof that the id at `index` is in a tree of `leaf_count` ids: sibling hashes, leaf first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerkleProof {
    /// Position of the proven id.
    pub index: u64,
    /// Number of ids in the tree.
    pub leaf_count: u64,
    /// Sibling hashes from the leaf up to the root.
    pub path: Vec<Hash>,
}

/// Builds the inclusion proof for `ids[index]`, or `None` if `index` is out of range.
pub fn merkle_proof(ids: &[Hash], index: usize) -> Option<MerkleProof> {
    if index >= ids.len() {
        return None;
    }
    let leaves: Vec<Hash> = ids.iter().map(leaf_hash).collect();
    let mut path = Vec::new();
    collect_path(&leaves, index, &mut path);
    Some(MerkleProof {
        index: index as u64,
        leaf_count: ids.len() as u64,
        path,
    })
}

fn collect_path(leaves: &[Hash], index: usize, path: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split_point(n);
    if index < k {
        collect_path(&leaves[..k], index, path);
        path.push(subtree_root(&leaves[k..]));
    } else {
        collect_path(&leaves[k..], index - k, path);
        path.push(subtree_root(&leaves[..k]));
    }
}

impl MerkleProof {
    /// True if this proof shows that `id` is in the tree whose root is `root`
    /// (the verification algorithm of RFC 9162, section 2.1.3.2).
    pub fn verify(&self, id: &Hash, root: &Hash) -> bool {
        if self.index >= self.leaf_count {
            return false;
        }
        let mut f = self.index;
        let mut s = self.leaf_count - 1;
        let mut r = leaf_hash(id);
        for p in &self.path {
            if s == 0 {
                return false;
            }
            if f & 1 == 1 || f == s {
                r = node_hash(p, &r);
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            } else {
                r = node_hash(&r, p);
            }
            f >>= 1;
            s >>= 1;
        }
        s == 0 && r == *root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| hash::hash(Domain::Transaction, &(i as u64).to_le_bytes()))
            .collect()
    }

    #[test]
    fn small_trees_have_the_rfc6962_shape() {
        let v = ids(3);
        let l: Vec<Hash> = v.iter().map(leaf_hash).collect();
        assert_eq!(merkle_root(&[]), empty_root());
        assert_eq!(merkle_root(&v[..1]), l[0]);
        assert_eq!(merkle_root(&v[..2]), node_hash(&l[0], &l[1]));
        assert_eq!(merkle_root(&v), node_hash(&node_hash(&l[0], &l[1]), &l[2]));
    }

    #[test]
    fn duplicating_the_last_id_changes_the_root() {
        let v = ids(3);
        let mut dup = v.clone();
        dup.push(v[2]);
        assert_ne!(merkle_root(&v), merkle_root(&dup));
    }

    #[test]
    fn leaf_cannot_pose_as_node() {
        // A "leaf" equal to an inner node's preimage hashes differently from that node.
        let v = ids(2);
        let inner = node_hash(&leaf_hash(&v[0]), &leaf_hash(&v[1]));
        assert_ne!(merkle_root(&[inner]), merkle_root(&v));
    }

    #[test]
    fn every_proof_verifies_for_sizes_up_to_40() {
        for n in 1..=40 {
            let v = ids(n);
            let root = merkle_root(&v);
            for i in 0..n {
                let p = merkle_proof(&v, i).unwrap();
                assert!(p.verify(&v[i], &root), "n={n} i={i}");
                let other = (i + 1) % n;
                if other != i {
                    assert!(!p.verify(&v[other], &root), "n={n} i={i}");
                }
            }
            assert!(merkle_proof(&v, n).is_none());
        }
    }
}
