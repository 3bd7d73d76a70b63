//! Crash consistency: SIGKILL the node at random moments while it mines and while it imports,
//! restart it, and check each time that the store opens, its state digest matches the tip and
//! every account, and every block it reported as committed is still in the best chain.
//!
//! Rounds: `FERRITE_CRASH_KILLS` (default 20, the CI figure; scripts/crash-test runs more).

use std::time::Duration;

use ferrite_tests::{committed, node_output, Running};
use rand::Rng;

fn check(data_dir: &str, dev: bool, reported: &[(u64, String)]) -> u64 {
    let mut args = vec!["check", "--data-dir", data_dir];
    if dev {
        args.push("--dev");
    }
    let heights: Vec<String> = reported.iter().map(|(h, _)| h.to_string()).collect();
    for h in &heights {
        args.push("--at-height");
        args.push(h);
    }
    let out = node_output(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "check failed after a kill: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        stdout
    );
    let mut lines = stdout.lines();
    let tip: serde_json::Value =
        serde_json::from_str(lines.next().expect("tip line")).expect("tip json");
    assert_eq!(tip["ok"], true);
    for ((h, hash), line) in reported.iter().zip(lines) {
        let v: serde_json::Value = serde_json::from_str(line).expect("height json");
        assert_eq!(v["at_height"], *h);
        assert_eq!(
            v["hash"].as_str(),
            Some(hash.as_str()),
            "committed block at height {h} was lost"
        );
    }
    tip["height"].as_u64().expect("height")
}

#[test]
fn killed_node_reopens_consistent_without_losing_committed_blocks() {
    let kills: usize = std::env::var("FERRITE_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let tmp = tempfile::tempdir().unwrap();
    let chain_file = tmp.path().join("chain.bin");
    let chain_file = chain_file.to_str().unwrap();
    let gen = node_output(&[
        "generate",
        "--blocks",
        "60",
        "--txs-per-block",
        "50",
        "--accounts",
        "200",
        "--out",
        chain_file,
    ]);
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );

    let easy_genesis = ferrite_tests::write_dev_genesis(tmp.path());
    let easy_genesis = easy_genesis.to_str().unwrap();
    let mine_dir = tmp.path().join("mine");
    let import_dir = tmp.path().join("import");
    let (mine_dir, import_dir) = (mine_dir.to_str().unwrap(), import_dir.to_str().unwrap());
    let mut rng = rand::thread_rng();
    let mut reported_mine: Vec<(u64, String)> = Vec::new();
    let mut reported_import: Vec<(u64, String)> = Vec::new();
    let mut mined_any = false;
    for round in 0..kills {
        let mining = round % 2 == 0;
        let proc = if mining {
            // A genesis at the easiest target: blocks come many per second, so every short
            // round has some to lose.
            Running::node(&[
                "--dev",
                "--genesis",
                easy_genesis,
                "--data-dir",
                mine_dir,
                "--mine-threads",
                "1",
            ])
        } else {
            Running::node(&["import", "--file", chain_file, "--data-dir", import_dir])
        };
        std::thread::sleep(Duration::from_millis(rng.gen_range(150..900)));
        let lines = proc.kill();
        let new = committed(&lines);
        if mining {
            mined_any |= !new.is_empty();
            reported_mine.extend(new);
            check(mine_dir, true, &reported_mine);
        } else {
            reported_import.extend(new);
            check(import_dir, false, &reported_import);
        }
    }
    eprintln!(
        "{kills} kills: {} mined and {} imported blocks reported committed, all still present",
        reported_mine.len(),
        reported_import.len()
    );
    assert!(mined_any, "the miner never reported a block");
    // A last uninterrupted import reaches the end of the file.
    let out = node_output(&["import", "--file", chain_file, "--data-dir", import_dir]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(check(import_dir, false, &reported_import), 60);
}
