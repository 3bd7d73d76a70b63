//! `scripts/netns-testnet N`: N real nodes on N separate hosts (network namespaces, see
//! `ferrite_tests::netns`), the first one mining, every one configured with every other, left
//! running for people to watch until Ctrl-C. Needs root.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferrite_core::AddressPrefix;
use ferrite_tests::netns::{self, Lab, Side};
use ferrite_tests::{binary, write_dev_genesis, Running};

const PREFIX: &str = "fnet";

fn main() -> std::process::ExitCode {
    let n: u8 = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 5,
        Some(Ok(n)) if (2..=50).contains(&n) => n,
        Some(_) => {
            eprintln!("usage: netns-testnet [N]   (2 to 50 nodes, default 5)");
            return std::process::ExitCode::from(2);
        }
    };
    if let Some(why) = netns::unavailable() {
        eprintln!("netns-testnet cannot run here: {why}");
        return std::process::ExitCode::from(1);
    }
    match run(n) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netns-testnet: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

fn run(n: u8) -> std::io::Result<()> {
    // Ctrl-C and SIGTERM only raise a flag (before any thread or node starts), so the nodes
    // are stopped and the namespaces removed however the run ends.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let dir = tempfile::Builder::new()
        .prefix("ferrite-netns-")
        .tempdir()?;
    let genesis = write_dev_genesis(dir.path());
    let mut lab = Lab::new(PREFIX)?;
    let mut hosts = Vec::new();
    for i in 1..=n {
        let side = if i <= n / 2 { Side::A } else { Side::B };
        hosts.push(lab.host(i, side)?);
    }
    let addrs: Vec<SocketAddr> = hosts
        .iter()
        .map(|h| SocketAddr::from((h.ip, 9733)))
        .collect();
    let prefix =
        AddressPrefix::new(ferrite_core::dev::DEV_PREFIX).map_err(std::io::Error::other)?;
    let mut nodes = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        let mut cmd = host.command(&binary("ferrite-node"));
        cmd.arg("--genesis").arg(&genesis);
        cmd.arg("--data-dir")
            .arg(dir.path().join(format!("n{}", i + 1)));
        cmd.args([
            "--listen",
            &addrs[i].to_string(),
            "--http",
            "127.0.0.1:8080",
        ]);
        for (j, a) in addrs.iter().enumerate() {
            if j != i {
                cmd.args(["--peer", &a.to_string()]);
            }
        }
        if i == 0 {
            let miner = ferrite_core::dev::dev_key(0).address().to_bech32(&prefix);
            cmd.args(["--mine", "--mine-threads", "1", "--miner-address", &miner]);
        }
        nodes.push(Running::spawn(cmd));
    }
    println!("{n} nodes on hosts 10.77.0.1 to 10.77.0.{n} (namespaces {PREFIX}-1 to {PREFIX}-{n}); node 1 mines.");
    println!("data and genesis: {}", dir.path().display());
    println!("watch a node:     ip netns exec {PREFIX}-2 curl -s 127.0.0.1:8080/api/node/info");
    println!("its peers:        ip netns exec {PREFIX}-2 curl -s 127.0.0.1:8080/api/peers");
    println!(
        "partition:        ip -n {PREFIX}-hub link set trunka down   (hosts 1-{} | {}-{n}); `up` heals",
        n / 2,
        n / 2 + 1
    );
    println!("Ctrl-C stops the nodes and removes the namespaces.");
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("stopping");
    for node in nodes {
        node.terminate(20);
    }
    drop(lab);
    Ok(())
}
