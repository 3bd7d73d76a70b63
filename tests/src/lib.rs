//! ferrite-tests: end-to-end tests that start real `ferrite-node` and `ferrite-wallet`
//! processes and talk to them through their real interfaces, and the whole-network simulator
//! ([`sim`]) that runs many nodes' real state machines and chains in one process.
//!
//! The helpers here find the built binaries (scripts/test builds them before the tests run),
//! start them with captured output, and read what they report.

pub mod bench;
pub mod http;
pub mod netns;
pub mod peer;
pub mod proxy;
pub mod sim;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

/// Path of a workspace binary built in the same profile as this test.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not built: run `cargo build --workspace --bins` first (scripts/test does)",
        path.display()
    );
    path
}

/// `ferrite-node` with `args`, run to completion.
pub fn node_output(args: &[&str]) -> Output {
    Command::new(binary("ferrite-node"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run ferrite-node")
}

/// A running process whose stdout and stderr lines are collected in the background.
pub struct Running {
    /// The process.
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Running {
    /// Starts `ferrite-node` with `args` and `RUST_LOG=info`.
    pub fn node(args: &[&str]) -> Running {
        let mut cmd = Command::new(binary("ferrite-node"));
        cmd.args(args);
        Running::spawn(cmd)
    }

    /// Starts `cmd` with `RUST_LOG=info`, collecting its output.
    pub fn spawn(mut cmd: Command) -> Running {
        let mut child = cmd
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ferrite-node");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            });
        }
        Running { child, lines }
    }

    /// Every line printed so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Kills the process with SIGKILL and waits for it.
    pub fn kill(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Let the reader threads drain what the process wrote before it died.
        std::thread::sleep(std::time::Duration::from_millis(50));
        self.lines()
    }

    /// Sends SIGTERM and waits up to `secs` for a clean exit; returns the exit status.
    pub fn terminate(mut self, secs: u64) -> (Option<std::process::ExitStatus>, Vec<String>) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        let status = loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                break Some(s);
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        (status, self.lines())
    }
}

impl Drop for Running {
    /// A process still running when its handle goes (a test failed, say) is killed, so it
    /// does not load the tests after it.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Value of `key=` in a tracing log line (`key=value` up to the next space).
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("{key}=");
    let start = line.find(&needle)? + needle.len();
    line[start..].split_whitespace().next()
}

/// (height, hash) of every block the output reports as committed: `committed H HASH` lines of
/// `import`, and `mined block` log lines of the miner.
pub fn committed(lines: &[String]) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    for l in lines {
        if let Some(rest) = l.strip_prefix("committed ") {
            let mut it = rest.split_whitespace();
            if let (Some(h), Some(hash)) = (it.next(), it.next()) {
                if let Ok(h) = h.parse() {
                    out.push((h, hash.to_string()));
                }
            }
        } else if l.contains("mined block") {
            if let (Some(h), Some(hash)) = (field(l, "height"), field(l, "hash")) {
                if let Ok(h) = h.parse() {
                    out.push((h, hash.to_string()));
                }
            }
        }
    }
    out
}

impl Running {
    /// Waits up to `secs` for a line containing `needle`.
    pub fn wait_for_line(&self, needle: &str, secs: u64) -> Option<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            if let Some(l) = self.lines().into_iter().find(|l| l.contains(needle)) {
                return Some(l);
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The P2P address the node printed (`p2p listening on ADDR`).
    pub fn p2p_addr(&self) -> std::net::SocketAddr {
        let line = self
            .wait_for_line("p2p listening on ", 60)
            .unwrap_or_else(|| panic!("node did not start listening: {:#?}", self.lines()));
        line.trim_start_matches("p2p listening on ")
            .trim()
            .parse()
            .expect("listen address")
    }

    /// The explorer address the node printed (`explorer: http://ADDR/`).
    pub fn http_addr(&self) -> std::net::SocketAddr {
        let line = self
            .wait_for_line("explorer: http://", 60)
            .unwrap_or_else(|| panic!("no explorer line: {:#?}", self.lines()));
        line.trim_start_matches("explorer: http://")
            .split('/')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("explorer address in {line:?}"))
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// The dev chain address of dev key `i`, for `--miner-address`.
pub fn miner_address(i: u32) -> String {
    let prefix = ferrite_core::AddressPrefix::new(ferrite_core::dev::DEV_PREFIX)
        .expect("the dev prefix is valid");
    ferrite_core::dev::dev_key(i).address().to_bech32(&prefix)
}

/// True when `needle` occurs in `hay` (a capture searched for plaintext).
pub fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The genesis id of a genesis JSON file.
pub fn genesis_hash(path: &Path) -> ferrite_core::Hash {
    let text = std::fs::read_to_string(path).expect("read genesis");
    ferrite_core::GenesisConfig::from_json(&text)
        .expect("genesis json")
        .build()
        .expect("genesis")
        .params
        .genesis_hash
}

/// Writes a fresh dev genesis (10 prefunded dev keys, 5 s spacing, the easiest target: blocks
/// come many per second at first) into `dir`.
pub fn write_dev_genesis(dir: &Path) -> PathBuf {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let cfg = ferrite_core::dev::dev_genesis_config(10, now, 5);
    let path = dir.join("genesis.json");
    std::fs::write(&path, cfg.to_json()).expect("write genesis");
    path
}

/// `ferrite-node check` on a stopped node's data dir: (height, hash, state root); panics if
/// the check fails.
pub fn check_data_dir(data: &Path) -> (u64, String, String) {
    let out = node_output(&["check", "--data-dir", data.to_str().expect("utf-8 path")]);
    assert!(
        out.status.success(),
        "check failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value =
        serde_json::from_str(stdout.lines().next().unwrap_or("")).expect("check output");
    (
        v["height"].as_u64().expect("height"),
        v["hash"].as_str().expect("hash").to_string(),
        v["state_root"].as_str().expect("state_root").to_string(),
    )
}

/// `ferrite-node generate`: a dev chain of `blocks` x `txs_per_block` transfers between
/// `accounts` funded dev keys, written to `out`; panics with the node's message on failure.
pub fn generate_chain(out: &Path, blocks: u64, txs_per_block: u32, accounts: u32) {
    let result = node_output(&[
        "generate",
        "--blocks",
        &blocks.to_string(),
        "--txs-per-block",
        &txs_per_block.to_string(),
        "--accounts",
        &accounts.to_string(),
        "--out",
        out.to_str().expect("utf-8 path"),
    ]);
    assert!(
        result.status.success(),
        "generate failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// `ferrite-node import` of a chain file into `data`; panics with the node's message on failure.
pub fn import_chain(file: &Path, data: &Path) {
    let result = node_output(&[
        "import",
        "--file",
        file.to_str().expect("utf-8 path"),
        "--data-dir",
        data.to_str().expect("utf-8 path"),
    ]);
    assert!(
        result.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
}
