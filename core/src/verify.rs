//! Consensus signature verification: ZIP-215 Ed25519, one at a time or in batches.
//!
//! ZIP-215 fixes exactly which (key, message, signature) triples are valid, and its batch equation
//! accepts a set exactly when every member verifies on its own. Every path that accepts a block
//! therefore reaches the same verdict whether it verifies singly, in batches or on several threads.
//! On top of ZIP-215, consensus refuses sender keys of small order (see [`is_weak_key`]).

use std::sync::OnceLock;

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::CompressedEdwardsY;
use rayon::prelude::*;

use crate::keys::{PublicKey, Signature};

/// Fewest items a parallel batch chunk holds: smaller batches lose most of the batch speed-up,
/// and each chunk pays a fixed cost for its random coefficients and thread hand-off.
pub const MIN_PARALLEL_CHUNK: usize = 64;

/// Why one signature does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The public key bytes are not the encoding of a curve point.
    #[error("public key is not a valid curve point")]
    MalformedKey,
    /// The signature's `s` is not reduced, or its `R` is not a point, or the equation fails.
    #[error("signature does not verify")]
    Invalid,
}

/// Verifies one signature under ZIP-215 rules.
pub fn verify(key: &PublicKey, message: &[u8], sig: &Signature) -> Result<(), SignatureError> {
    let vk = ed25519_zebra::VerificationKey::try_from(key.0)
        .map_err(|_| SignatureError::MalformedKey)?;
    let sig = ed25519_zebra::Signature::from_bytes(&sig.0);
    vk.verify(&sig, message)
        .map_err(|_| SignatureError::Invalid)
}

/// Verifies a set of signatures with one ZIP-215 batch equation; on failure, finds the lowest
/// index that fails on its own. `Ok` iff every item verifies singly.
pub fn verify_batch<M: AsRef<[u8]>>(items: &[(PublicKey, M, Signature)]) -> Result<(), usize> {
    verify_batch_with(items.len(), |i| {
        let (k, m, s) = &items[i];
        (*k, m.as_ref().to_vec(), *s)
    })
}

/// Batch-verifies `n` items produced by `item(i)` (key, message, signature), returning the lowest
/// failing index. Items are built on demand so that callers need not keep every message alive.
pub fn verify_batch_with<F>(n: usize, item: F) -> Result<(), usize>
where
    F: Fn(usize) -> (PublicKey, Vec<u8>, Signature),
{
    if n == 0 {
        return Ok(());
    }
    if n == 1 {
        let (k, m, s) = item(0);
        return verify(&k, &m, &s).map_err(|_| 0);
    }
    let mut batch = ed25519_zebra::batch::Verifier::new();
    for i in 0..n {
        let (k, m, s) = item(i);
        let vkb = ed25519_zebra::VerificationKeyBytes::from(k.0);
        let sig = ed25519_zebra::Signature::from_bytes(&s.0);
        batch.queue((vkb, sig, &m));
    }
    if batch.verify(rand::thread_rng()).is_ok() {
        return Ok(());
    }
    // The batch failed: find the first culprit the slow way.
    for i in 0..n {
        let (k, m, s) = item(i);
        if verify(&k, &m, &s).is_err() {
            return Err(i);
        }
    }
    // ZIP-215 batch and single verification accept the same sets except with negligible
    // probability (a failed random-coefficient check); every item verified alone, so accept.
    Ok(())
}

/// Verifies `n` items on all rayon threads, each thread running a batch over one contiguous
/// chunk. Returns the lowest failing index over all chunks.
pub fn verify_parallel<F>(n: usize, item: F) -> Result<(), usize>
where
    F: Fn(usize) -> (PublicKey, Vec<u8>, Signature) + Sync,
{
    let threads = rayon::current_num_threads().max(1);
    let chunk = n.div_ceil(threads).max(MIN_PARALLEL_CHUNK);
    if chunk >= n {
        return verify_batch_with(n, item);
    }
    let starts: Vec<usize> = (0..n).step_by(chunk).collect();
    let failures: Vec<usize> = starts
        .par_iter()
        .filter_map(|&start| {
            let len = chunk.min(n - start);
            verify_batch_with(len, |i| item(start + i))
                .err()
                .map(|i| start + i)
        })
        .collect();
    match failures.into_iter().min() {
        Some(i) => Err(i),
        None => Ok(()),
    }
}

/// Every 32-byte string that decodes (under the lenient ZIP-215 decoding) to a point of small
/// order, canonical and non-canonical encodings alike.
fn small_order_encodings() -> &'static [[u8; 32]] {
    static LIST: OnceLock<Vec<[u8; 32]>> = OnceLock::new();
    LIST.get_or_init(|| {
        // p = 2^255 - 19, little-endian; p and p + 1 are non-canonical encodings of y = 0 and 1.
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        let mut p_plus_1 = p;
        p_plus_1[0] = 0xee;
        let mut candidates: Vec<[u8; 32]> = EIGHT_TORSION
            .iter()
            .map(|t| t.compress().to_bytes())
            .chain([p, p_plus_1])
            .collect();
        let flipped: Vec<[u8; 32]> = candidates
            .iter()
            .map(|c| {
                let mut f = *c;
                f[31] ^= 0x80;
                f
            })
            .collect();
        candidates.extend(flipped);
        let mut list: Vec<[u8; 32]> = candidates
            .into_iter()
            .filter(|c| {
                CompressedEdwardsY(*c)
                    .decompress()
                    .is_some_and(|pt| pt.is_small_order())
            })
            .collect();
        list.sort_unstable();
        list.dedup();
        list
    })
}

/// True if `key` is a point of small order. Anyone can forge ZIP-215 signatures for such keys,
/// so coins at their addresses could be taken by anybody; consensus refuses them as senders.
pub fn is_weak_key(key: &PublicKey) -> bool {
    small_order_encodings().contains(&key.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;
    use rand::SeedableRng;

    fn key(i: u8) -> SecretKey {
        SecretKey::from_bytes(&[i; 32])
    }

    #[test]
    fn good_signature_verifies_and_tampering_fails() {
        let k = key(1);
        let sig = k.sign(b"hello");
        assert_eq!(verify(&k.public_key(), b"hello", &sig), Ok(()));
        assert_eq!(
            verify(&k.public_key(), b"hellO", &sig),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            verify(&key(2).public_key(), b"hello", &sig),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn non_reduced_s_is_rejected() {
        let k = key(3);
        let mut sig = k.sign(b"m");
        // Add the group order l to s: same value mod l, but not canonical, so ZIP-215 rejects it.
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for (s_byte, l_byte) in sig.0[32..].iter_mut().zip(l) {
            let v = *s_byte as u16 + l_byte as u16 + carry;
            *s_byte = v as u8;
            carry = v >> 8;
        }
        assert_eq!(carry, 0);
        assert_eq!(
            verify(&k.public_key(), b"m", &sig),
            Err(SignatureError::Invalid)
        );
        assert_eq!(verify_batch(&[(k.public_key(), b"m", sig)]), Err(0));
    }

    #[test]
    fn batch_reports_first_bad_index() {
        let mut items = vec![];
        for i in 0..10u8 {
            let k = key(i);
            let msg = vec![i; 3];
            items.push((k.public_key(), msg.clone(), k.sign(&msg)));
        }
        assert_eq!(verify_batch(&items), Ok(()));
        items[7].2 .0[0] ^= 1;
        items[4].1[0] ^= 1;
        assert_eq!(verify_batch(&items), Err(4));
    }

    #[test]
    fn parallel_agrees_with_single() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut items = vec![];
        for i in 0..300usize {
            let k = SecretKey::generate(&mut rng);
            let msg = i.to_le_bytes().to_vec();
            items.push((k.public_key(), msg.clone(), k.sign(&msg)));
        }
        let get = |i: usize| items[i].clone();
        assert_eq!(verify_parallel(items.len(), get), Ok(()));
        items[250].2 .0[40] ^= 4;
        items[130].2 .0[1] ^= 4;
        let get = |i: usize| items[i].clone();
        assert_eq!(verify_parallel(items.len(), get), Err(130));
    }

    #[test]
    fn small_order_keys_are_weak_and_real_keys_are_not() {
        let list = small_order_encodings();
        // 8 torsion points, the sign-flipped encodings of the two with x = 0, and the
        // non-canonical y = p and y = p + 1 encodings with both sign bits.
        assert_eq!(list.len(), 14);
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(is_weak_key(&PublicKey(identity)));
        assert!(!is_weak_key(&key(9).public_key()));
        // A weak key with a forged signature: R = identity, s = 0 verifies for any message.
        let mut forged = [0u8; 64];
        forged[..32].copy_from_slice(&identity);
        assert_eq!(
            verify(&PublicKey(identity), b"anything", &Signature(forged)),
            Ok(())
        );
    }
}
