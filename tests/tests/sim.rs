//! The network simulator in CI: 200 seeds of the 8-node scenario (partitions, crashes, a late
//! joiner, skewed clocks, lossy links, a misbehaving peer), each checked for convergence, lost
//! transfers, honest bans and memory bounds; and one seed run twice for the same trace.
//!
//! A failing seed prints the command that replays it.

use ferrite_tests::sim::{Report, Role, Scenario, Sim};

/// Seeds run in CI, split over [`SHARDS`] tests so both cores work. The misbehaving peer is
/// chosen by `seed % 4`, so shards take runs of four consecutive seeds and each gets every
/// kind of run.
const SEEDS: u64 = 200;
const SHARDS: u64 = 4;

fn run_shard(shard: u64) {
    let mut failed = Vec::new();
    for seed in (0..SEEDS).filter(|s| (s / 4) % SHARDS == shard) {
        let scenario = Scenario::ci(seed);
        let compact = scenario.compact_relay;
        let report = Sim::new(scenario).run();
        // Compact relay is in use exactly in the seeds that turn it on (the miners' blocks reach
        // their neighbours that way), and never in the others.
        let rebuilt = report.blocks_delivered.rebuilt;
        if compact != (rebuilt > 0) {
            eprintln!(
                "seed {seed}: compact relay {compact} but {rebuilt} blocks rebuilt; replay: \
                 scripts/simulate --ci --seed {seed}\n{report}"
            );
            failed.push(seed);
        } else if !report.violations.is_empty() {
            eprintln!("seed {seed} failed; replay: scripts/simulate --ci --seed {seed}\n{report}");
            failed.push(seed);
        }
    }
    assert!(failed.is_empty(), "failing seeds: {failed:?}");
}

#[test]
fn seeds_shard_0() {
    run_shard(0);
}

#[test]
fn seeds_shard_1() {
    run_shard(1);
}

#[test]
fn seeds_shard_2() {
    run_shard(2);
}

#[test]
fn seeds_shard_3() {
    run_shard(3);
}

#[test]
fn one_seed_gives_one_trace() {
    let a = Sim::new(Scenario::ci(7)).run();
    let b = Sim::new(Scenario::ci(7)).run();
    assert_eq!(
        a.trace_hex(),
        b.trace_hex(),
        "seed 7 ran two ways:\n{a}\n{b}"
    );
    let c = Sim::new(Scenario::ci(8)).run();
    assert_ne!(a.trace_hex(), c.trace_hex(), "two seeds gave one trace");
}

/// Runs `role`'s attack scenario over `seeds` seeds (half of them with compact relay);
/// `extra` judges each report.
fn run_attack(role: Role, seeds: u64, extra: impl Fn(&Report) -> Option<String>) {
    let mut failed = Vec::new();
    for seed in 0..seeds {
        let report = Sim::new(Scenario::attack(seed, role)).run();
        let wrong = if !report.violations.is_empty() {
            Some("invariants broken".to_string())
        } else {
            extra(&report)
        };
        if let Some(why) = wrong {
            eprintln!(
                "{role:?} seed {seed}: {why}; replay: scripts/simulate --attack {role:?} \
                 --seed {seed}\n{report}"
            );
            failed.push(seed);
        }
    }
    assert!(failed.is_empty(), "{role:?}: failing seeds {failed:?}");
}

#[test]
fn headers_with_withheld_bodies_do_not_hold_the_honest_network_back() {
    run_attack(Role::Withholder, 8, |r| {
        if r.withheld < 2 {
            Some(format!(
                "only {} headers withheld: the attack did not run",
                r.withheld
            ))
        } else if r.tie_breaks > 0 {
            // One miner: the honest nodes agree without a tie-break unless a withheld header
            // kept some of them off the miner's last block.
            Some("the honest nodes needed a tie-break to agree".into())
        } else {
            None
        }
    });
}

#[test]
fn peers_that_flood_transfer_ids_cannot_keep_real_transfers_from_spreading() {
    // Every transfer accepted more than 10 s before the end reaches every honest node
    // (`spread_within`), with twelve flooders beside them. Two seeds: a flood is slow to
    // simulate (about 25 s a seed in a debug build).
    run_attack(Role::Flooder, 2, |_| None);
}

#[test]
fn peers_that_only_hold_slots_cannot_keep_a_newcomer_out() {
    // Twenty-four squatters of one network group dial every honest node; a node that joins
    // halfway knows only two honest nodes, whose inbound slots the squatters hold. It must get
    // in, sync, and converge with the rest.
    run_attack(Role::Squatter, 4, |r| {
        if r.defences.get("evicted").copied().unwrap_or(0) == 0 {
            Some("no squatter was evicted: the attack did not fill the slots".into())
        } else {
            None
        }
    });
}
