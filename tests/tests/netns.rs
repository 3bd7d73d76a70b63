//! Five real nodes on five separate hosts (Linux network namespaces, see `ferrite_tests::netns`),
//! two of them mining: they converge; taking the link between the two sides down splits them and
//! both sides mine; the heal converges on the heavier side. A capture of every frame on the
//! links finds no plaintext. A misbehaving host is banned by its own IP while another host gets
//! in, a node pinned to the wrong id refuses to connect, and a byte flipped by a proxy on a host
//! in the path drops that connection without a ban.
//!
//! It needs root (as CI has); elsewhere it skips with one line that says why.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

use ferrite_core::{Address, Encode, Hash, SignedTransaction, Transaction};
use ferrite_node::p2p::wire::{self, Message};
use ferrite_tests::http::{request_over, Response};
use ferrite_tests::netns::{self, Host, Lab, Side};
use ferrite_tests::peer::{closed_within, version, WirePeer};
use ferrite_tests::proxy::Proxy;
use ferrite_tests::{
    binary, contains_bytes, genesis_hash, miner_address, write_dev_genesis, Running,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const P2P_PORT: u16 = 9733;
const HTTP: &str = "127.0.0.1:8080";

/// The lab's nodes: host `n` (1 to 5) runs node `n - 1`; hosts 1 and 2 are side A, 3 to 5 side
/// B; the nodes on hosts 1 and 3 mine.
struct Net {
    /// Before the lab: killed (when a test fails) before the namespaces go.
    nodes: Vec<Running>,
    lab: Lab,
    hosts: Vec<Host>,
    genesis: Hash,
}

fn p2p(host: &Host) -> SocketAddr {
    SocketAddr::from((host.ip, P2P_PORT))
}

/// A request to the explorer of the node running on `host`, made from inside that host.
fn http(host: &Host, method: &str, path: &str, body: &[u8]) -> Option<Response> {
    let addr: SocketAddr = HTTP.parse().unwrap();
    let stream = netns::within(&host.ns, move || {
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
    })
    .ok()?;
    Some(request_over(stream, addr, method, path, body))
}

fn json(host: &Host, path: &str) -> Option<serde_json::Value> {
    let r = http(host, "GET", path, &[])?;
    (r.status == 200).then(|| r.json())
}

/// A node's tip: (height, hash, chainwork as a number).
fn tip(host: &Host) -> Option<(u64, String, primitive_types::U256)> {
    let info = json(host, "/api/node/info")?;
    let t = &info["tip"];
    let work = primitive_types::U256::from_str_radix(t["chainwork"].as_str()?, 16).ok()?;
    Some((t["height"].as_u64()?, t["hash"].as_str()?.to_string(), work))
}

fn in_best_chain(host: &Host, hash: &str) -> bool {
    json(host, &format!("/api/block/{hash}/status"))
        .is_some_and(|s| s["in_best_chain"].as_bool() == Some(true))
}

fn start_node(
    host: &Host,
    genesis: &Path,
    data: &Path,
    peers: &[String],
    mine: Option<u32>,
) -> Running {
    let mut cmd = host.command(&binary("ferrite-node"));
    cmd.arg("--genesis")
        .arg(genesis)
        .arg("--data-dir")
        .arg(data);
    cmd.args(["--listen", &p2p(host).to_string(), "--http", HTTP]);
    for p in peers {
        cmd.args(["--peer", p]);
    }
    if let Some(i) = mine {
        cmd.args(["--mine", "--mine-threads", "1", "--miner-address"]);
        cmd.arg(miner_address(i));
    }
    Running::spawn(cmd)
}

fn node_id(n: &Running) -> String {
    let line = n
        .wait_for_line("node id ", 60)
        .unwrap_or_else(|| panic!("no node id line: {:#?}", n.lines()));
    line.rsplit("node id ").next().unwrap().trim().to_string()
}

impl Net {
    /// Builds the hosts and starts the nodes, every one configured with every other; the node
    /// on host 5 pins the id of the node on host 1.
    fn start(dir: &Path) -> Net {
        let tag = format!("fnt{}", std::process::id() % 100_000);
        let mut lab = Lab::new(&tag).unwrap();
        let hosts: Vec<Host> = (1..=5u8)
            .map(|n| lab.host(n, if n <= 2 { Side::A } else { Side::B }).unwrap())
            .collect();
        let genesis_file = write_dev_genesis(dir);
        let genesis = genesis_hash(&genesis_file);
        let mut nodes = Vec::new();
        let mut first_id = String::new();
        for (i, host) in hosts.iter().enumerate() {
            let mut peers: Vec<String> = hosts
                .iter()
                .filter(|h| h.ip != host.ip)
                .map(|h| p2p(h).to_string())
                .collect();
            if i == 4 {
                peers[0] = format!("{first_id}@{}", p2p(&hosts[0]));
            }
            let mine = (i == 0 || i == 2).then_some(i as u32);
            let data = dir.join(format!("n{i}"));
            let node = start_node(host, &genesis_file, &data, &peers, mine);
            if i == 0 {
                first_id = node_id(&node);
            }
            nodes.push(node);
        }
        Net {
            nodes,
            lab,
            hosts,
            genesis,
        }
    }

    /// Waits until the nodes on `which` agree on a tip of at least `min_height`; returns it.
    fn converged(&self, which: &[usize], min_height: u64, secs: u64) -> (u64, String) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut last = Vec::new();
        while Instant::now() < deadline {
            let tips: Vec<Option<(u64, String)>> = which
                .iter()
                .map(|i| tip(&self.hosts[*i]).map(|(h, hash, _)| (h, hash)))
                .collect();
            if let Some(Some(first)) = tips.first() {
                if first.0 >= min_height && tips.iter().all(|t| t.as_ref() == Some(first)) {
                    return first.clone();
                }
            }
            last = tips;
            std::thread::sleep(Duration::from_millis(250));
        }
        self.dump();
        panic!("nodes {which:?} did not converge within {secs} s: {last:?}");
    }

    fn dump(&self) {
        for (i, n) in self.nodes.iter().enumerate() {
            for l in n.lines() {
                eprintln!("[node {i}] {l}");
            }
        }
    }

    fn signal(&self, i: usize, sig: Signal) {
        kill(Pid::from_raw(self.nodes[i].child.id() as i32), sig).unwrap();
    }
}

fn transfer(genesis: &Hash) -> SignedTransaction {
    let key = ferrite_core::dev::dev_key(7);
    Transaction {
        sender: key.public_key(),
        recipient: Address([9; 32]),
        amount: 4_242,
        fee: 5_000,
        nonce: 0,
    }
    .sign(&key, genesis)
}

/// True when `bytes` hold a frame header in the clear: the magic, a known message type, and a
/// length within that type's cap (a chance match in random bytes is below one in 10^9 per MB).
fn has_plain_frame(bytes: &[u8], magic: [u8; 4]) -> bool {
    bytes.windows(wire::FRAME_HEADER_LEN).any(|w| {
        let len = u32::from_le_bytes([w[5], w[6], w[7], w[8]]) as usize;
        w[..4] == magic && wire::type_info(w[4], 1 << 20).is_some_and(|(_, cap)| len <= cap)
    })
}

#[test]
fn five_hosts_converge_split_heal_on_the_heavier_side_ban_by_ip_and_show_no_plaintext() {
    if let Some(why) = netns::unavailable() {
        eprintln!("skipping the network-namespace test: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut net = Net::start(dir.path());
    let capture = net.lab.capture().unwrap();
    let height = net.converged(&[0, 1, 2, 3, 4], 3, 120).0;
    eprintln!("netns: five hosts converged at height {height}");
    // The node pinned to host 1's id reaches it. Converging does not need that link (the
    // others relay), and two nodes dialling each other at once may both drop the duplicate
    // and dial again after a backoff, so the link is waited for.
    let first_id = json(&net.hosts[0], "/api/node/info").unwrap()["node_id"].clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let peers = json(&net.hosts[4], "/api/peers").unwrap();
        if peers
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["node_id"] == first_id)
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{peers}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let tx = relay_across(&net);
    no_plaintext_on_the_links(&net, &capture, &tx);
    drop(capture);
    split_and_heal(&mut net);
    banned_by_its_own_ip(&mut net);
    wrong_pin_refused(&mut net, dir.path());
    flipped_byte_drops_without_a_ban(&mut net, dir.path());
    for n in net.nodes.drain(..) {
        n.terminate(20);
    }
}

/// A transfer posted on host 1 reaches host 5, across both bridges.
fn relay_across(net: &Net) -> SignedTransaction {
    let tx = transfer(&net.genesis);
    let posted = http(
        &net.hosts[0],
        "POST",
        "/api/tx",
        hex::encode(tx.encode()).as_bytes(),
    )
    .unwrap();
    assert_eq!(posted.status, 200, "{}", posted.text());
    let path = format!("/api/tx/{}", tx.id());
    let deadline = Instant::now() + Duration::from_secs(30);
    while json(&net.hosts[4], &path).is_none() {
        assert!(
            Instant::now() < deadline,
            "the transfer never reached host 5"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    tx
}

/// The capture saw the traffic (a plaintext marker sent across shows up in it), and none of it
/// is a frame, the transfer, or its signature in the clear.
fn no_plaintext_on_the_links(net: &Net, capture: &netns::Capture, tx: &SignedTransaction) {
    use std::io::Write;
    let marker = format!("ferrite-capture-control-{}", std::process::id());
    let mut s = net.hosts[1].connect(p2p(&net.hosts[3])).unwrap();
    s.write_all(marker.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let bytes = capture.bytes();
    eprintln!("netns: captured {} bytes on the links", bytes.len());
    assert!(
        contains_bytes(&bytes, marker.as_bytes()),
        "the capture misses plaintext"
    );
    assert!(bytes.len() > 50_000, "little traffic: {}", bytes.len());
    let magic = wire::network_magic(&net.genesis);
    assert!(!has_plain_frame(&bytes, magic), "a frame in the clear");
    assert!(
        !contains_bytes(&bytes, &tx.encode()),
        "the transfer in the clear"
    );
    assert!(
        !contains_bytes(&bytes, &tx.signature.0),
        "a signature in the clear"
    );
}

/// Partition: both sides mine; then side A's miner is paused so B is heavier at the heal, and
/// every node ends on B's chain.
fn split_and_heal(net: &mut Net) {
    let (start, _) = net.converged(&[0, 1, 2, 3, 4], 0, 60);
    net.lab.partition(true).unwrap();
    // Both sides mine past the split.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (a, b) = (tip(&net.hosts[1]), tip(&net.hosts[4]));
        if let (Some(a), Some(b)) = (&a, &b) {
            if a.0 > start + 1 && b.0 > start + 1 && a.1 != b.1 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the sides did not both mine: {a:?} {b:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // A's miner pauses; B gets clearly ahead.
    net.signal(0, Signal::SIGSTOP);
    let deadline = Instant::now() + Duration::from_secs(120);
    let (a_tip, b_tip) = loop {
        let a = tip(&net.hosts[1]).unwrap();
        let b = net.converged(&[2, 3, 4], 0, 60);
        let b_work = tip(&net.hosts[2]).unwrap().2;
        if b.0 >= a.0 + 3 && b_work > a.2 {
            break (a.1, b.1);
        }
        assert!(Instant::now() < deadline, "side B never got ahead");
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!("netns: split at {start}; healing with A at {a_tip} and B ahead at {b_tip}");
    net.lab.partition(false).unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !in_best_chain(&net.hosts[1], &b_tip) {
        if Instant::now() > deadline {
            net.dump();
            panic!("host 2 never moved to the heavier side");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    net.signal(0, Signal::SIGCONT);
    let (h, _) = net.converged(&[0, 1, 2, 3, 4], 0, 120);
    for host in &net.hosts {
        assert!(in_best_chain(host, &b_tip), "{} left B's chain", host.ns);
        assert!(!in_best_chain(host, &a_tip), "{} kept A's chain", host.ns);
    }
    eprintln!("netns: healed; all five on B's chain at height {h}");
}

/// A host that breaks the protocol is banned by its own IP: it cannot connect again, while
/// another host can, and the node keeps its honest peers.
fn banned_by_its_own_ip(net: &mut Net) {
    let mut lab_hosts = Vec::new();
    for n in [101u8, 102] {
        lab_hosts.push(net.lab.host(n, Side::B).unwrap());
    }
    let (attacker, bystander) = (&lab_hosts[0], &lab_hosts[1]);
    let target = p2p(&net.hosts[2]);
    let ours = version(net.genesis, 0);
    let stream = attacker.connect(target).unwrap();
    let mut bad = WirePeer::over(stream, net.genesis, ours.clone()).unwrap();
    // A frame of another network inside the records: a violation.
    bad.send_raw(&[0xee; 16]).unwrap();
    let line = net.nodes[2]
        .wait_for_line("banning it", 20)
        .unwrap_or_else(|| panic!("no ban: {:#?}", net.nodes[2].lines()));
    assert!(
        line.contains(&format!("ban={} node", attacker.ip)),
        "{line}"
    );
    // Refused before any handshake now, from any port of that host.
    let mut again = attacker.connect(target).unwrap();
    assert!(closed_within(&mut again, 5), "a banned IP was let in");
    // Another host gets in and is served.
    let stream = bystander.connect(target).unwrap();
    let mut ok = WirePeer::over(stream, net.genesis, ours).unwrap();
    ok.send(&Message::Ping(7)).unwrap();
    let pong = ok.wait_for(10, |_, m| matches!(m, Message::Pong(7)).then_some(()));
    assert!(pong.is_ok(), "the bystander was not served");
    let peers = json(&net.hosts[2], "/api/peers").unwrap();
    let honest = peers
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["addr"].as_str().is_some_and(|a| {
                net.hosts
                    .iter()
                    .any(|h| a.starts_with(&format!("{}:", h.ip)))
            })
        })
        .count();
    assert!(honest >= 2, "the ban cost honest peers: {peers}");
}

/// A node on `host` that knows only `peers` (no address exchange), with its data in `dir/name`.
fn start_extra(host: &Host, dir: &Path, name: &str, peers: &[String]) -> Running {
    let mut cmd = host.command(&binary("ferrite-node"));
    cmd.arg("--genesis").arg(dir.join("genesis.json"));
    cmd.arg("--data-dir").arg(dir.join(name));
    cmd.args(["--listen", &p2p(host).to_string(), "--http", HTTP]);
    for p in peers {
        cmd.args(["--peer", p]);
    }
    cmd.args(["--discover", "false"]);
    Running::spawn(cmd)
}

/// A node pinned to an id that is not host 1's refuses host 1 and says why.
fn wrong_pin_refused(net: &mut Net, dir: &Path) {
    let host = net.lab.host(103, Side::A).unwrap();
    let wrong = format!("{}@{}", "11".repeat(32), p2p(&net.hosts[0]));
    let node = start_extra(&host, dir, "pinned-wrong", &[wrong]);
    assert!(node.wait_for_line("explorer: http://", 30).is_some());
    let refused = node.wait_for_line("refusing a peer whose key is not the pinned one", 30);
    assert!(refused.is_some(), "{:#?}", node.lines());
    let peers = json(&host, "/api/peers").unwrap();
    assert_eq!(peers.as_array().map(Vec::len), Some(0), "{peers}");
    node.terminate(20);
}

/// A proxy on a host between two others flips one byte of host 1's stream: the node behind it
/// drops that connection, dials again, catches up, and nobody is banned.
fn flipped_byte_drops_without_a_ban(net: &mut Net, dir: &Path) {
    let relay = net.lab.host(104, Side::B).unwrap();
    let client = net.lab.host(105, Side::A).unwrap();
    let target = p2p(&net.hosts[0]);
    let listen = p2p(&relay);
    let listener = netns::within(&relay.ns, move || TcpListener::bind(listen)).unwrap();
    let onward = relay.clone();
    let connect = Box::new(move || onward.connect(target));
    // Past the handshakes: inside the records of host 1's first answers.
    let proxy = Proxy::start_on(listener, connect, Some(2_000));
    let node = start_extra(&client, dir, "behind-proxy", &[listen.to_string()]);
    let dropped = node.wait_for_line("failed to authenticate", 30);
    assert!(dropped.is_some(), "{:#?}", node.lines());
    let (height, _) = net.converged(&[0, 1, 2, 3, 4], 0, 60);
    let deadline = Instant::now() + Duration::from_secs(60);
    while tip(&client).is_none_or(|t| t.0 < height) {
        assert!(
            Instant::now() < deadline,
            "never caught up: {:#?}",
            node.lines()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(proxy.captured().len() > 2_000);
    let lines = node.terminate(20).1;
    for (who, lines) in [("the node behind", lines), ("host 1", net.nodes[0].lines())] {
        assert!(
            !lines.iter().any(|l| l.contains("banning")),
            "{who} banned someone: {lines:#?}"
        );
    }
}
