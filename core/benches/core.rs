//! ferrite-core benchmarks: the signature-verification limit and what consensus does against it.
//!
//! Every figure that matters is a ratio to a limit measured in the same run:
//! - `verify/*`: raw ZIP-215 verification, single and batched (64, 1,024), and a 5,000-signature
//!   set split over all cores (`verify/parallel_batch_5000`, the limit for block validation).
//! - `block/validate_5000_transfers`: the whole of `check_block` on a 5,000-transfer block.
//! - `hash/*`: header hashing (the mining inner loop) and transaction ids.
//!
//! `python3 scripts/bench-report.py` turns criterion's output into the table of rates and ratios.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ed25519_dalek::Verifier as _;
use ferrite_core::dev::{self, assemble_block, mine};
use ferrite_core::hash::{self, Domain};
use ferrite_core::validation::{check_block, ParentInfo};
use ferrite_core::verify::{verify, verify_batch, verify_parallel};
use ferrite_core::{Address, Block, PublicKey, SecretKey, Signature, Transaction};

/// Transfers in the benchmark block (the figure).
const BLOCK_TXS: usize = 5_000;

fn signed_items(n: usize) -> Vec<(PublicKey, Vec<u8>, Signature)> {
    (0..n)
        .map(|i| {
            let k = dev::dev_key(i as u32);
            let msg = format!("ferrite bench message {i} of a typical transfer's length, padded to about 130 bytes of text......").into_bytes();
            (k.public_key(), msg.clone(), k.sign(&msg))
        })
        .collect()
}

fn bench_verify(c: &mut Criterion) {
    let items = signed_items(BLOCK_TXS);
    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Elements(1));
    g.bench_function("single_zip215", |b| {
        let (k, m, s) = &items[0];
        b.iter(|| verify(k, m, s).is_ok())
    });
    g.bench_function("single_dalek_reference", |b| {
        let (k, m, s) = &items[0];
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&k.0).unwrap();
        let sig = ed25519_dalek::Signature::from_bytes(&s.0);
        b.iter(|| vk.verify(m, &sig).is_ok())
    });
    for n in [64usize, 1024] {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("batch_{n}"), |b| {
            b.iter(|| verify_batch(&items[..n]).is_ok())
        });
    }
    g.sample_size(20);
    g.throughput(Throughput::Elements(BLOCK_TXS as u64));
    g.bench_function("parallel_batch_5000", |b| {
        b.iter(|| verify_parallel(items.len(), |i| items[i].clone()).is_ok())
    });
    g.finish();
}

/// A dev chain whose genesis funds `BLOCK_TXS` senders, and a block in which each sends once.
fn big_block() -> (ferrite_core::Genesis, Block, ParentInfo) {
    let g = dev::dev_genesis_config(BLOCK_TXS as u32, 1_800_000_000, 10)
        .build()
        .unwrap();
    let keys: Vec<SecretKey> = (0..BLOCK_TXS as u32).map(dev::dev_key).collect();
    let txs = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let mut to = [0u8; 32];
            to[..8].copy_from_slice(&(i as u64).to_le_bytes());
            Transaction {
                sender: k.public_key(),
                recipient: Address(to),
                amount: 1_000 + i as u64,
                fee: 10,
                nonce: 0,
            }
            .sign(k, &g.params.genesis_hash)
        })
        .collect();
    let parent = ParentInfo::new(&g.block.header, &[g.block.header.timestamp]);
    let mut block = assemble_block(
        &g.params,
        &parent,
        &g.state,
        txs,
        Address([7; 32]),
        g.block.header.timestamp + 10,
    )
    .unwrap();
    assert!(mine(&mut block.header, 1_000_000));
    (g, block, parent)
}

fn bench_block(c: &mut Criterion) {
    let (g, block, parent) = big_block();
    let now = block.header.timestamp;
    assert!(check_block(&g.params, &block, &parent, &g.state, now).is_ok());
    let mut grp = c.benchmark_group("block");
    grp.sample_size(20);
    grp.throughput(Throughput::Elements(BLOCK_TXS as u64));
    grp.bench_function("validate_5000_transfers", |b| {
        b.iter(|| check_block(&g.params, &block, &parent, &g.state, now).is_ok())
    });
    grp.bench_function("apply_and_undo_5000_transfers_no_sigs", |b| {
        b.iter_batched_ref(
            || g.state.clone(),
            |s| {
                let undo = ferrite_core::ledger::apply_block(s, &block.txs, &block.header.miner, 1)
                    .unwrap();
                ferrite_core::ledger::undo_block(s, &undo);
            },
            BatchSize::LargeInput,
        )
    });
    grp.finish();
}

fn bench_hash(c: &mut Criterion) {
    let (_, block, _) = big_block();
    let mut header = block.header;
    let mut g = c.benchmark_group("hash");
    g.throughput(Throughput::Elements(1));
    g.bench_function("header", |b| {
        b.iter(|| {
            header.nonce = header.nonce.wrapping_add(1);
            header.hash()
        })
    });
    g.bench_function("raw_blake3_160_bytes", |b| {
        let mut bytes = header.to_bytes();
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            bytes[152..].copy_from_slice(&n.to_le_bytes());
            hash::hash(Domain::Header, &bytes)
        })
    });
    g.bench_function("tx_id", |b| b.iter(|| block.txs[0].id()));
    g.finish();
}

criterion_group!(benches, bench_verify, bench_block, bench_hash);
criterion_main!(benches);
