//! A disk that fills while a node syncs: the store refuses the write, the node says so, shuts
//! down cleanly and exits 1 (a failure a service manager restarts it after, not a silent
//! node answering `/healthy` over a frozen chain), and what it stored reopens consistent once
//! there is room. The small disk is a tmpfs, so the test needs root (as CI has); elsewhere it
//! skips with one line that says why.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ferrite_tests::{check_data_dir, generate_chain, import_chain, Running};

/// A tmpfs mounted for the test's life.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_stops_the_node_with_exit_1_and_its_store_reopens() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping the full-disk test: mounting a small tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // About 11 MB of blocks against a 6 MB disk.
    let file = d.join("chain.bin");
    generate_chain(&file, 30, 1000, 1000);
    let seed_dir = d.join("seed");
    import_chain(&file, &seed_dir);
    let seed = Running::node(&[
        "--data-dir",
        seed_dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--http",
        "off",
    ]);
    let seed_addr = seed.p2p_addr().to_string();
    let Some(small) = Tmpfs::mount(&d.join("small"), "6m") else {
        eprintln!("skipping the full-disk test: mount -t tmpfs failed");
        return;
    };
    let data = small.0.join("late");
    let genesis = seed_dir.join("genesis.json");
    let mut late = Running::node(&[
        "--genesis",
        genesis.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        "off",
        "--http",
        "off",
        "--peer",
        &seed_addr,
    ]);
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Ok(Some(s)) = late.child.try_wait() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the node did not stop on a full disk: {:#?}",
            late.lines()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(100));
    let lines = late.lines();
    assert_eq!(status.code(), Some(1), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("store failed; stopping the node")),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l.contains("No space left on device")));
    assert!(
        lines.iter().any(|l| l.starts_with("stopped at height")),
        "not a clean shutdown: {lines:#?}"
    );
    seed.terminate(20);
    // With room again (a copy on the big disk), the store opens and checks: every account
    // against the digest of a tip that was really stored.
    let roomy = d.join("roomy");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&data)
        .arg(&roomy)
        .status()
        .unwrap();
    assert!(copied.success());
    drop(small);
    let (height, _, _) = check_data_dir(&roomy);
    assert!(
        (1..30).contains(&height),
        "the disk filled at height {height}: nothing or everything was tested"
    );
}
