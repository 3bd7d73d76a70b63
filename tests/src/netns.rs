//! A network of separate hosts made of Linux network namespaces, for tests and for
//! `scripts/netns-testnet`: each host is a namespace with one address on a veth pair whose other
//! end sits on one of two bridges in a hub namespace; a veth "trunk" joins the bridges, so taking
//! the trunk down partitions the network into the hosts of each bridge.
//!
//! Every address lives inside the lab's own namespaces (10.77.0.0/24); nothing is configured in
//! the namespace the caller runs in. Building one needs root and the `ip` tool (iproute2);
//! [`unavailable`] says why it cannot be built here. The namespaces go when the [`Lab`] drops.

use std::fs::File;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sched::CloneFlags;

/// Why a lab cannot be built on this machine, or `None` when it can.
pub fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("it needs root (network namespaces)".into());
    }
    if let Err(e) = Command::new("ip").arg("-V").output() {
        return Some(format!("the `ip` tool (iproute2) is missing: {e}"));
    }
    // Root without the right to make namespaces (a default container) fails here.
    let probe = format!("fprobe-{}", std::process::id());
    let made = ip(&["netns", "add", &probe]);
    let _ = ip(&["netns", "del", &probe]);
    made.err()
        .map(|e| format!("network namespaces cannot be made here: {e}"))
}

/// One side of the lab: the hosts of one bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Bridge `a`.
    A,
    /// Bridge `b`.
    B,
}

impl Side {
    fn bridge(self) -> &'static str {
        match self {
            Side::A => "bra",
            Side::B => "brb",
        }
    }
}

/// A host: a namespace with one address.
#[derive(Debug, Clone)]
pub struct Host {
    /// The namespace's name.
    pub ns: String,
    /// Its address.
    pub ip: Ipv4Addr,
}

/// The namespaces, bridges and links of one lab.
pub struct Lab {
    prefix: String,
    hub: String,
    hosts: Vec<String>,
}

/// Runs `ip args`, failing with its message.
fn ip(args: &[&str]) -> std::io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl Lab {
    /// Builds the hub (two bridges and the trunk between them), naming every namespace after
    /// `prefix` (at most 8 characters). Namespaces left by an earlier lab of that name go first.
    pub fn new(prefix: &str) -> std::io::Result<Lab> {
        let prefix = prefix.chars().take(8).collect::<String>();
        remove_namespaces(&prefix);
        let hub = format!("{prefix}-hub");
        ip(&["netns", "add", &hub])?;
        let lab = Lab {
            prefix,
            hub: hub.clone(),
            hosts: Vec::new(),
        };
        for br in [Side::A.bridge(), Side::B.bridge()] {
            ip(&["-n", &hub, "link", "add", br, "type", "bridge"])?;
            ip(&["-n", &hub, "link", "set", br, "up"])?;
        }
        ip(&[
            "-n", &hub, "link", "add", "trunka", "type", "veth", "peer", "name", "trunkb",
        ])?;
        ip(&["-n", &hub, "link", "set", "trunka", "master", "bra", "up"])?;
        ip(&["-n", &hub, "link", "set", "trunkb", "master", "brb", "up"])?;
        Ok(lab)
    }

    /// Adds host number `n` (1 to 250) on `side`, at 10.77.0.`n`.
    pub fn host(&mut self, n: u8, side: Side) -> std::io::Result<Host> {
        let ns = format!("{}-{n}", self.prefix);
        ip(&["netns", "add", &ns])?;
        self.hosts.push(ns.clone());
        let port = format!("h{n}");
        ip(&[
            "-n", &self.hub, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
            &ns,
        ])?;
        ip(&[
            "-n",
            &self.hub,
            "link",
            "set",
            &port,
            "master",
            side.bridge(),
            "up",
        ])?;
        let addr = Ipv4Addr::new(10, 77, 0, n);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        Ok(Host { ns, ip: addr })
    }

    /// Takes the trunk down (`true`: the sides cannot reach each other) or up again.
    pub fn partition(&self, split: bool) -> std::io::Result<()> {
        let state = if split { "down" } else { "up" };
        for end in ["trunka", "trunkb"] {
            ip(&["-n", &self.hub, "link", "set", end, state])?;
        }
        Ok(())
    }

    /// Starts capturing every frame that crosses the hub (both bridges and the trunk).
    pub fn capture(&self) -> std::io::Result<Capture> {
        Capture::start(&self.hub)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        remove_namespaces(&self.prefix);
    }
}

/// Deletes the namespaces named `prefix-*` (their veth ends go with them).
fn remove_namespaces(prefix: &str) {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    let list = String::from_utf8_lossy(&out.stdout).into_owned();
    let ours = format!("{prefix}-");
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        if name.starts_with(&ours) {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// Runs `f` on a thread that has entered the namespace `ns`: sockets it makes belong to that
/// namespace (and keep working from any thread afterwards).
pub fn within<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let path = Path::new("/run/netns").join(ns);
    std::thread::spawn(move || {
        let file = File::open(&path)?;
        nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)?;
        f()
    })
    .join()
    .map_err(|_| std::io::Error::other("the namespace thread panicked"))?
}

impl Host {
    /// A command that runs `program` inside this host.
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).arg(program);
        c
    }

    /// A TCP connection from this host to `addr`.
    pub fn connect(&self, addr: SocketAddr) -> std::io::Result<TcpStream> {
        within(&self.ns, move || {
            TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        })
    }
}

/// Frames seen on every interface of one namespace, kept whole (headers too).
pub struct Capture {
    bytes: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
}

impl Capture {
    fn start(ns: &str) -> std::io::Result<Capture> {
        use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};
        let fd = within(ns, || {
            socket(
                AddressFamily::Packet,
                SockType::Raw,
                SockFlag::empty(),
                SockProtocol::EthAll,
            )
            .map_err(std::io::Error::from)
        })?;
        let timeout = nix::sys::time::TimeVal::new(0, 200_000);
        nix::sys::socket::setsockopt(&fd, nix::sys::socket::sockopt::ReceiveTimeout, &timeout)
            .map_err(std::io::Error::from)?;
        let mut file = File::from(fd);
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, s) = (bytes.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 256 * 1024];
            while !s.load(Ordering::SeqCst) {
                match file.read(&mut buf) {
                    Ok(n) => b
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .extend_from_slice(&buf[..n]),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => return,
                }
            }
        });
        Ok(Capture { bytes, stop })
    }

    /// Everything captured so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.bytes.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
