//! `ferrite-node testnet`: a local network of N node processes on 127.0.0.1 for people who want
//! to watch one. They share a fresh dev genesis, each has its own data dir and port, each dials
//! its two ring neighbours (and learns the rest by address exchange), and the first few mine.
//! Their output is shown prefixed with the node's number; Ctrl-C stops them all.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::config::{TestnetArgs, DEV_SPACING_SECS};
use crate::node::now_secs;
use crate::store::record_genesis;

/// Most nodes one command starts: each is a process with its own RocksDB.
pub const MAX_TESTNET_NODES: usize = 64;
/// Time each node gets to stop cleanly before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

struct Member {
    index: usize,
    child: Child,
}

/// Runs the testnet until Ctrl-C or until a node exits.
pub fn run(args: &TestnetArgs) -> anyhow::Result<()> {
    if !(1..=MAX_TESTNET_NODES).contains(&args.nodes) {
        bail!("--nodes must be 1 to {MAX_TESTNET_NODES}");
    }
    let last_port = args.base_port as usize + args.nodes - 1;
    if args.base_port == 0 || last_port > u16::MAX as usize {
        bail!(
            "--base-port must leave room for {} ports below 65536",
            args.nodes
        );
    }
    let throwaway = args.dir.is_none();
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("ferrite-testnet-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = run_in(args, &dir);
    if throwaway {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn genesis_file(dir: &Path, miners: usize) -> anyhow::Result<PathBuf> {
    let path = dir.join(crate::store::GENESIS_FILE);
    if !path.exists() {
        // The miners run one thread each.
        let rate = crate::devchain::measure_hash_rate(miners, crate::devchain::RATE_PROBE);
        let cfg = crate::devchain::dev_genesis(now_secs(), DEV_SPACING_SECS, rate);
        record_genesis(dir, &cfg)?;
    }
    Ok(path)
}

fn run_in(args: &TestnetArgs, dir: &Path) -> anyhow::Result<()> {
    let genesis = genesis_file(dir, args.miners.clamp(1, args.nodes))?;
    let exe = std::env::current_exe().context("cannot find the ferrite-node executable")?;
    let port = |i: usize| args.base_port as usize + i;
    crate::say!(
        "local testnet: {} nodes, {} mining, genesis {}",
        args.nodes,
        args.miners.min(args.nodes),
        genesis.display()
    );
    let mut members = Vec::new();
    for i in 0..args.nodes {
        let data = dir.join(format!("node-{i}"));
        let mut cmd = Command::new(&exe);
        cmd.arg("--genesis")
            .arg(&genesis)
            .arg("--data-dir")
            .arg(&data)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", port(i)))
            .arg("--http")
            .arg("127.0.0.1:0");
        if args.nodes > 1 {
            let prev = (i + args.nodes - 1) % args.nodes;
            let next = (i + 1) % args.nodes;
            for j in [prev, next] {
                if j != i {
                    cmd.arg("--peer").arg(format!("127.0.0.1:{}", port(j)));
                }
            }
        }
        let mining = i < args.miners;
        if mining {
            let key = ferrite_core::dev::dev_key(i as u32);
            let prefix = ferrite_core::AddressPrefix::new(ferrite_core::dev::DEV_PREFIX)?;
            cmd.arg("--mine")
                .arg("--mine-threads")
                .arg("1")
                .arg("--miner-address")
                .arg(key.address().to_bech32(&prefix));
        }
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        // Its own process group: a Ctrl-C reaches only this command, which then stops each node
        // once (a node that got two signals would skip its clean shutdown).
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start node {i}"))?;
        crate::say!(
            "  node {i}: p2p 127.0.0.1:{}, data {}{}",
            port(i),
            data.display(),
            if mining { ", mining" } else { "" }
        );
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
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    crate::say!("[node {i}] {line}");
                }
            });
        }
        members.push(Member { index: i, child });
    }
    crate::say!("Ctrl-C stops every node");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let exited = rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut poll = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = term.recv() => return Ok::<_, anyhow::Error>(None),
                _ = int.recv() => return Ok(None),
                _ = poll.tick() => {
                    if crate::out::gone() {
                        return Ok(None);
                    }
                    for m in members.iter_mut() {
                        if let Ok(Some(status)) = m.child.try_wait() {
                            return Ok(Some((m.index, status)));
                        }
                    }
                }
            }
        }
    })?;
    if let Some((i, status)) = exited {
        eprintln!("node {i} exited ({status}); stopping the others");
    }
    stop_all(&mut members);
    match exited {
        Some((i, status)) if !status.success() => bail!("node {i} failed ({status})"),
        _ => Ok(()),
    }
}

fn stop_all(members: &mut [Member]) {
    for m in members.iter() {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(m.child.id().to_string())
            .status();
    }
    let deadline = std::time::Instant::now() + STOP_GRACE;
    for m in members.iter_mut() {
        loop {
            match m.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if std::time::Instant::now() > deadline => {
                    let _ = m.child.kill();
                    let _ = m.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}
