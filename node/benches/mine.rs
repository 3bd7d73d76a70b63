//! Mining benchmark: the miner's nonce search against raw blake3 hashing of the same 160-byte
//! header in the same run (goal: at least 90% of the raw rate per thread).
//!
//! `python3 scripts/bench-report.py` prints the ratio.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrite_core::block::HEADER_NONCE_OFFSET;
use ferrite_core::hash::Domain;
use ferrite_core::{Address, BlockHeader, Hash, Target};
use ferrite_node::miner::search;
use primitive_types::U256;

const NONCES: u64 = 16_384;

fn bench(c: &mut Criterion) {
    let header = BlockHeader {
        version: 1,
        height: 1,
        prev: Hash([1; 32]),
        merkle_root: Hash([2; 32]),
        state_root: Hash([3; 32]),
        miner: Address([4; 32]),
        timestamp: 1_800_000_000,
        bits: 0x1d00_ffff,
        nonce: 0,
    };
    // A target no hash meets, so every call tries all nonces.
    let target = Target::from_u256(U256::one()).unwrap();
    let mut g = c.benchmark_group("mine");
    g.throughput(Throughput::Elements(NONCES));
    g.bench_function("miner_search", |b| {
        let mut bytes = header.to_bytes();
        let mut start = 0u64;
        b.iter(|| {
            start += NONCES;
            search(&mut bytes, &target, start, NONCES)
        })
    });
    g.bench_function("raw_blake3_header", |b| {
        let mut bytes = header.to_bytes();
        let key = Domain::Header.key();
        let mut start = 0u64;
        b.iter(|| {
            let mut acc = 0u8;
            for n in start..start + NONCES {
                bytes[HEADER_NONCE_OFFSET..].copy_from_slice(&n.to_le_bytes());
                acc ^= blake3::keyed_hash(key, &bytes).as_bytes()[0];
            }
            start += NONCES;
            acc
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
