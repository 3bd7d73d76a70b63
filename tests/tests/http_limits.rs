//! The explorer's limits at the connection level, end to end against real nodes: a request head
//! must arrive within the header-read timeout (a partial request line, an idle keep-alive
//! connection are closed then), a connection beyond the cap is answered 503 and closed while the
//! connections being served go on, and under a low descriptor limit the node's budget keeps it
//! answering and on the network while idle clients flood its explorer.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ferrite_node::fdlimit::{Budget, Wanted};
use ferrite_node::http::HEADER_READ_TIMEOUT;
use ferrite_tests::http::{get, EventStream, KeepAlive};
use ferrite_tests::peer::WirePeer;
use ferrite_tests::{binary, field, Running};

/// How much later than the header-read timeout a connection may be closed (a loaded machine).
const MARGIN: Duration = Duration::from_secs(15);
/// How much earlier than the timeout the test may see a close: its own clock starts after the
/// node's (the answer that started the idle time has to reach it first).
const EARLY: Duration = Duration::from_secs(2);

/// A dev node on free ports in `dir`, with `extra` options.
fn dev_node(dir: &Path, extra: &[&str]) -> Running {
    let data = dir.join("data");
    let mut args = vec![
        "--dev",
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    Running::node(&args)
}

/// Waits until the other end closes or resets `s`; an error if it sends anything or keeps the
/// connection open for `within`.
fn closed_without_answer(s: &mut TcpStream, within: Duration) -> Result<(), String> {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    match s.read(&mut buf) {
        Ok(0) => Ok(()),
        Ok(n) => Err(format!("answered {:?}", String::from_utf8_lossy(&buf[..n]))),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(()),
        Err(e) => Err(format!("still open after {within:?} ({e})")),
    }
}

/// The status of `GET path` on a fresh connection, or `None` if the connection failed (a
/// refused connection may be reset under a request already sent).
fn try_get(a: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&a, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {a}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    String::from_utf8_lossy(&raw)
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// What the node says to a new connection that sends nothing: (status, JSON body). It must
/// answer and close by itself (a connection it serves would instead wait for a request).
fn unasked_answer(a: SocketAddr) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect_timeout(&a, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .expect("the node closes the connection");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no answer before the close: {text:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("{head}"));
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status, json)
}

/// The value of the series `name` in a `/metrics` text.
fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Polls `ok` every 100 ms for up to `limit`.
fn wait_until(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: not within {limit:?}");
}

#[test]
fn a_client_that_does_not_finish_its_request_head_is_closed_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let node = dev_node(dir.path(), &[]);
    let a = node.http_addr();
    let limit = HEADER_READ_TIMEOUT + MARGIN;
    // A keep-alive client served once and then silent: the timeout covers the wait for its
    // next request too.
    let mut idle = KeepAlive::open(a);
    assert_eq!(idle.get("/healthy").unwrap().status, 200);
    let idle_since = Instant::now();
    let idle = std::thread::spawn(move || {
        let closed = idle.closed_within(limit.as_secs());
        (closed, idle_since.elapsed())
    });
    // A client that sends part of a request line and nothing more.
    let started = Instant::now();
    let mut partial = TcpStream::connect_timeout(&a, Duration::from_secs(5)).unwrap();
    partial.write_all(b"GET /api/blo").unwrap();
    // Meanwhile the node answers everyone else.
    for _ in 0..3 {
        assert_eq!(get(a, "/healthy").status, 200);
        std::thread::sleep(Duration::from_secs(1));
    }
    if let Err(e) = closed_without_answer(&mut partial, limit) {
        panic!("a partial request line: {e}");
    }
    let took = started.elapsed();
    // The header-read timeout closed it, not something sooner.
    assert!(took + EARLY >= HEADER_READ_TIMEOUT, "closed after {took:?}");
    let (closed, idle_for) = idle.join().unwrap();
    assert!(
        closed,
        "an idle keep-alive connection was kept open past {limit:?}"
    );
    assert!(
        idle_for + EARLY >= HEADER_READ_TIMEOUT,
        "closed after {idle_for:?}"
    );
    assert_eq!(get(a, "/healthy").status, 200);
    node.terminate(20);
}

#[test]
fn connections_beyond_the_cap_get_503_while_open_ones_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let node = dev_node(dir.path(), &["--max-http-connections", "4"]);
    let a = node.http_addr();
    let budget = node
        .wait_for_line("descriptor budget", 10)
        .unwrap_or_else(|| panic!("no budget line: {:#?}", node.lines()));
    assert_eq!(field(&budget, "http_connections"), Some("4"), "{budget}");
    // A keep-alive client and three event streams hold the four slots.
    let mut client = KeepAlive::open(a);
    assert_eq!(client.get("/healthy").unwrap().status, 200);
    let mut streams: Vec<EventStream> = (0..3)
        .map(|_| EventStream::open(a, "/api/events"))
        .collect();
    assert!(streams.iter().all(|s| s.status == 200));
    // Each further connection is told 503 and closed, and the keep-alive client goes on.
    for refused in 1..=3 {
        let (status, v) = unasked_answer(a);
        assert_eq!(status, 503, "{v}");
        assert_eq!(v["error"], "too_many_connections", "{v}");
        let r = client.get("/api/blocks/tip/height").unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        let text = client.get("/metrics").unwrap().text();
        assert_eq!(metric(&text, "ferrite_http_connections_open"), Some(4));
        assert_eq!(
            metric(&text, "ferrite_http_connections_refused_total"),
            Some(refused)
        );
    }
    // A closed stream gives its slot back.
    drop(streams.pop());
    wait_until(Duration::from_secs(30), "a slot freed", || {
        try_get(a, "/healthy") == Some(200)
    });
    // Stopping the node ends the streams still open, and it exits cleanly.
    let (status, lines) = node.terminate(30);
    assert!(status.is_some_and(|s| s.success()), "{status:?} {lines:#?}");
    drop(streams);
}

#[test]
fn under_a_low_descriptor_limit_idle_clients_cannot_cut_the_node_off() {
    const LIMIT: u64 = 512;
    // More idle connections than the node has descriptors.
    const FLOOD: usize = 600;
    // This process holds the flood.
    ferrite_node::fdlimit::raise_soft_limit().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n {LIMIT} || exit 97; exec \"$0\" \"$@\""))
        .arg(binary("ferrite-node"))
        .args(["--dev", "--data-dir", data.to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0", "--http", "127.0.0.1:0"]);
    let mut node = Running::spawn(cmd);
    let Some(line) = node.wait_for_line("descriptor budget", 60) else {
        if let Ok(Some(s)) = node.child.try_wait() {
            if s.code() == Some(97) {
                eprintln!("skipped: the hard descriptor limit here is below {LIMIT}");
                return;
            }
        }
        panic!("no budget line: {:#?}", node.lines());
    };
    // The budget is the one for this limit and the default configuration.
    let want = Budget::from_limit(
        LIMIT,
        Wanted {
            p2p_outbound: ferrite_node::p2p::DEFAULT_MAX_OUTBOUND,
            p2p_inbound: ferrite_node::p2p::DEFAULT_MAX_INBOUND,
            handshakes: ferrite_node::p2p::handshake_slots(ferrite_node::p2p::DEFAULT_MAX_INBOUND),
            http_connections: ferrite_node::http::DEFAULT_MAX_CONNECTIONS,
        },
    )
    .unwrap();
    assert_eq!(field(&line, "limit"), Some("512"), "{line}");
    let shown = |key| field(&line, key).and_then(|v| v.parse::<usize>().ok());
    assert_eq!(shown("p2p_inbound"), Some(want.p2p_inbound), "{line}");
    assert_eq!(shown("handshakes"), Some(want.handshakes), "{line}");
    assert_eq!(
        shown("http_connections"),
        Some(want.http_connections),
        "{line}"
    );
    assert!(want.http_connections < FLOOD);
    let (http, p2p) = (node.http_addr(), node.p2p_addr());
    let info = get(http, "/api/node/info").json();
    let genesis: ferrite_core::Hash = info["genesis"].as_str().unwrap().parse().unwrap();
    let mut watcher = KeepAlive::open(http);
    // Alone once the node info's connection is given back.
    wait_until(Duration::from_secs(10), "one connection open", || {
        let text = watcher.get("/metrics").unwrap().text();
        metric(&text, "ferrite_http_connections_open") == Some(1)
    });
    let flood: Vec<TcpStream> = (0..FLOOD)
        .map(|i| {
            TcpStream::connect_timeout(&http, Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("flood connection {i}: {e}"))
        })
        .collect();
    // The watcher's slot and the flood's share the cap: the rest of the flood is refused.
    let refused = (FLOOD - (want.http_connections - 1)) as u64;
    wait_until(Duration::from_secs(30), "the flood refused", || {
        let text = watcher.get("/metrics").unwrap().text();
        let open = metric(&text, "ferrite_http_connections_open").unwrap();
        assert!(open <= want.http_connections as u64, "{open} open");
        metric(&text, "ferrite_http_connections_refused_total") == Some(refused)
    });
    // The peer-to-peer side still has its descriptors: a new peer completes its handshake
    // and reads the chain.
    let mut peer = WirePeer::observe(p2p, genesis).expect("a peer connects during the flood");
    peer.tip().expect("and reads the chain");
    // The idle ones are closed by the header-read timeout, and new clients are served again.
    wait_until(HEADER_READ_TIMEOUT + MARGIN, "/healthy answered", || {
        try_get(http, "/healthy") == Some(200)
    });
    let lines = node.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("descriptor limit is too low")),
        "{lines:#?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("accept failed")),
        "ran out of descriptors: {lines:#?}"
    );
    assert!(node.alive());
    drop(flood);
}
