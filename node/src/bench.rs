//! Limits measured inside the node's own benchmarks, so each figure comes with its ratio.

use std::time::{Duration, Instant};

use ferrite_core::dev::dev_key;
use ferrite_core::verify::verify_parallel;

/// Signatures per parallel batch round: one 5,000-transfer block's worth.
const SIGS: usize = 5_000;

/// Parallel ZIP-215 batch verification rate (signatures per second) on all rayon threads,
/// measured for about `duration`.
pub fn parallel_verify_rate(duration: Duration) -> f64 {
    let items: Vec<_> = (0..SIGS)
        .map(|i| {
            let k = dev_key(i as u32);
            let m = (i as u64).to_le_bytes().repeat(17);
            let s = k.sign(&m);
            (k.public_key(), m, s)
        })
        .collect();
    let started = Instant::now();
    let mut rounds = 0u64;
    while rounds == 0 || started.elapsed() < duration {
        let ok = verify_parallel(items.len(), |i| items[i].clone()).is_ok();
        debug_assert!(ok);
        rounds += 1;
    }
    (rounds as f64 * SIGS as f64) / started.elapsed().as_secs_f64()
}

/// Single-signature ZIP-215 verification rate (signatures per second) on `threads` threads
/// at once, measured for about `duration`: the limit of admission, which verifies one transfer
/// per request.
pub fn single_verify_rate(threads: usize, duration: Duration) -> f64 {
    let items: Vec<_> = (0..256u32)
        .map(|i| {
            let k = dev_key(i);
            let m = u64::from(i).to_le_bytes().repeat(17);
            let s = k.sign(&m);
            (k.public_key(), m, s)
        })
        .collect();
    let started = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0u64;
                    while n == 0 || started.elapsed() < duration {
                        for (pk, m, sig) in &items {
                            let ok = ferrite_core::verify::verify(pk, m, sig).is_ok();
                            debug_assert!(ok);
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    total as f64 / started.elapsed().as_secs_f64()
}
