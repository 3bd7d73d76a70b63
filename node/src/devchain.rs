//! The genesis of a fresh dev chain (`--dev`, `testnet`): the dev allocations, the chosen block
//! time, and a genesis target that this machine's miners meet about once per block time, found
//! by hashing for a moment first. ASERT then only has to follow drift, not climb from the
//! easiest target (which mined some 200 blocks in the first seconds).

use std::time::{Duration, Instant};

use ferrite_core::dev::{bits_for_rate, dev_genesis_config};
use ferrite_core::{Address, BlockHeader, GenesisConfig, Hash};

use crate::config::DEV_ACCOUNTS;

/// How long each mining thread hashes to measure the rate: long enough to average out the
/// start of the thread, short enough not to be noticed at start.
pub const RATE_PROBE: Duration = Duration::from_millis(150);

/// Hashes per second of `threads` threads hashing block headers together for `probe`.
pub fn measure_hash_rate(threads: usize, probe: Duration) -> u64 {
    let threads = threads.max(1);
    let counts: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| s.spawn(move || hash_for(i as u64, probe)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    let total: u64 = counts.iter().sum();
    (total as f64 / probe.as_secs_f64()) as u64
}

fn hash_for(seed: u64, probe: Duration) -> u64 {
    let mut header = BlockHeader {
        version: 1,
        height: 1,
        prev: Hash([0; 32]),
        merkle_root: Hash([0; 32]),
        state_root: Hash([0; 32]),
        miner: Address([0; 32]),
        timestamp: 0,
        bits: 0,
        nonce: seed << 48,
    };
    let started = Instant::now();
    let mut n = 0u64;
    // Check the clock every 4,096 hashes: the clock costs more than a hash.
    while started.elapsed() < probe {
        for _ in 0..4_096 {
            std::hint::black_box(header.hash());
            header.nonce = header.nonce.wrapping_add(1);
        }
        n += 4_096;
    }
    n
}

/// A fresh dev genesis at `timestamp` with blocks every `spacing` seconds, its target set for
/// `hashes_per_sec` of mining.
pub fn dev_genesis(timestamp: u64, spacing: u64, hashes_per_sec: u64) -> GenesisConfig {
    let mut cfg = dev_genesis_config(DEV_ACCOUNTS, timestamp, spacing);
    cfg.initial_bits = format!("{:#010x}", bits_for_rate(hashes_per_sec, spacing));
    cfg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measured_genesis_is_valid_and_harder_than_the_easiest() {
        let rate = measure_hash_rate(1, Duration::from_millis(20));
        assert!(rate > 10_000, "{rate} hashes/s");
        let cfg = dev_genesis(1_800_000_000, 5, rate);
        let g = cfg.build().expect("valid genesis");
        assert!(g.block.header.bits != ferrite_core::dev::EASIEST_BITS);
        assert_eq!(cfg.target_spacing_secs, 5);
    }
}
