//! What an operator installs from `contrib/`: the example config is a config the node reads and
//! covers every key the node has; the systemd unit is one systemd accepts, sandboxed (checked
//! with `systemd-analyze` where it is installed).

use std::path::{Path, PathBuf};
use std::process::Command;

use ferrite_tests::binary;

fn contrib(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("contrib")
        .join(name)
}

/// The keys `ferrite-node config` prints: every key the node reads.
fn node_keys() -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(binary("ferrite-node"))
        .arg("config")
        .env("HOME", dir.path())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let keys: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let l = l.strip_prefix("# ").unwrap_or(l);
            let key = l.split([' ', '=']).next()?;
            (!key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
                .then(|| key.to_string())
        })
        .collect();
    assert!(keys.len() > 15, "{text}");
    keys
}

#[test]
fn the_example_config_is_valid_and_covers_every_key() {
    let example = contrib("ferrite.toml");
    let text = std::fs::read_to_string(&example).unwrap();
    let present: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            let l = l.strip_prefix("# ").unwrap_or(l);
            l.split_once(" = ").map(|(k, _)| k)
        })
        .collect();
    for key in node_keys() {
        assert!(
            present.contains(&key.as_str()),
            "{key} is not in {example:?}"
        );
    }
    // The node reads it, and the keys set in it come from it (RUST_LOG would beat log_level).
    let out = Command::new(binary("ferrite-node"))
        .args(["--config", example.to_str().unwrap(), "config"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_file = shown
        .lines()
        .filter(|l| l.contains("# config file"))
        .count();
    let set = text
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(" = "))
        .count();
    assert_eq!(from_file, set, "{shown}");
}

fn systemd_analyze() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("systemd-analyze"))
            .find(|p| p.exists())
    });
    if found.is_none() {
        eprintln!(
            "systemd-analyze is not installed: the unit is not checked (apt-get install systemd)"
        );
    }
    found
}

#[test]
fn the_systemd_unit_verifies_and_is_sandboxed() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(contrib("ferrite-node.service")).unwrap();
    // verify checks that ExecStart exists: point it at the binary under test.
    let node = binary("ferrite-node");
    let unit = unit.replace("/usr/local/bin/ferrite-node", node.to_str().unwrap());
    assert!(unit.contains(node.to_str().unwrap()), "ExecStart moved");
    let path = dir.path().join("ferrite-node.service");
    std::fs::write(&path, &unit).unwrap();
    let out = Command::new(&analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    // Misspelt keys and values only warn: any output is a failure.
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
    // The check catches a broken line (so that the assertion above means something).
    let broken = dir.path().join("broken.service");
    std::fs::write(
        &broken,
        unit.replace("KillSignal=SIGTERM", "KillSignal=SIGTERN"),
    )
    .unwrap();
    let out = Command::new(&analyze)
        .arg("verify")
        .arg(&broken)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("SIGTERN"));
    // Exposure 2.0 or less out of 10 ("OK"); the unit scores 1.4. `--offline` came in
    // systemd 250.
    let version = Command::new(&analyze).arg("--version").output().unwrap();
    let version: u32 = String::from_utf8_lossy(&version.stdout)
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if version < 250 {
        eprintln!("systemd {version} has no offline security check: the exposure is not checked");
        return;
    }
    let out = Command::new(&analyze)
        .args(["security", "--offline=true", "--threshold=20"])
        .arg(&path)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    let overall = said.lines().find(|l| l.contains("Overall exposure"));
    assert!(out.status.success(), "{}", overall.unwrap_or(&said));
}
