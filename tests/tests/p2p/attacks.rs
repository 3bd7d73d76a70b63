//! Attacks on the node's answers, its handshake slots and its ban tables: a peer that asks for
//! one block over and over gets it twice, a peer that asks for headers and never reads holds at
//! most one answer beyond the answer room, sockets that hog handshake slots (silent and
//! reopened at once, or dribbling a byte a second) do not keep an honest peer out, and a flood
//! of violations from new identities is banned up to the tables' bound (kept across a restart)
//! while an honest peer still gets in.

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use super::*;

/// Transfers in each block of [`big_block_chain`].
const BIG_TXS: u32 = 1_500;
/// Blocks of [`big_block_chain`].
const BIG_BLOCKS: u64 = 2;
/// Blocks of [`long_chain`]: more than one full `Headers` answer from genesis.
const LONG_BLOCKS: u64 = 2_100;

/// A generated chain of two blocks of 1,500 transfers each (about 320 KB a block), made once
/// per test run.
fn big_block_chain() -> &'static PathBuf {
    static CHAIN: OnceLock<PathBuf> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ferrite-p2p-big-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("chain.bin");
        generate_chain(&file, BIG_BLOCKS, BIG_TXS, BIG_TXS);
        file
    })
}

/// A generated chain of 2,100 blocks of one transfer each, made once per test run.
fn long_chain() -> &'static PathBuf {
    static CHAIN: OnceLock<PathBuf> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ferrite-p2p-long-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("chain.bin");
        generate_chain(&file, LONG_BLOCKS, 1, 2);
        file
    })
}

/// A node holding `chain`, serving it: (node, P2P address, genesis file, data dir).
fn holding(chain: &Path, dir: &Path) -> (Running, SocketAddr, PathBuf, PathBuf) {
    let data = dir.join("node");
    import_chain(chain, &data);
    let genesis = data.join("genesis.json");
    let n = start(&genesis, &data, &[], None, &[]);
    let addr = n.p2p_addr();
    (n, addr, genesis, data)
}

/// The node's `/metrics` text.
fn metrics(http: SocketAddr) -> String {
    ferrite_tests::http::get(http, "/metrics").text()
}

/// The value of `series` (a name, with its labels if it has any) in `text`; `None` if absent.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// The node's lines worth printing when a test fails: warnings, errors, disconnections.
fn notable(n: &Running) -> Vec<String> {
    n.lines()
        .into_iter()
        .filter(|l| {
            l.contains("WARN")
                || l.contains("ERROR")
                || l.contains("panicked")
                || l.contains("disconnect")
        })
        .collect()
}

/// Stops `n` cleanly and checks it neither failed nor panicked.
fn stop(n: Running) {
    let (status, lines) = n.terminate(20);
    assert!(status.is_some_and(|s| s.success()), "{lines:#?}");
    assert!(!lines.iter().any(|l| l.contains("panicked")), "{lines:#?}");
}

/// A timeout of a read (the socket's read timeout), not a broken connection.
fn timed_out(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Times the node may serve one block to one connection (`MAX_SERVES_PER_BLOCK`).
const MAX_SERVES: usize = 2;
/// `GetBlocks` requests the greedy peer sends, each naming the block 128 times.
const GREEDY_REQUESTS: usize = 10;

#[test]
fn a_peer_that_asks_for_one_block_over_and_over_gets_it_twice() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let (node, addr, genesis, _) = holding(big_block_chain(), dir.path());
    let http = node.http_addr();
    let gh = genesis_hash(&genesis);
    let mut greedy = WirePeer::observe(addr, gh).unwrap();
    let view = greedy.tip().unwrap();
    assert_eq!(
        view.height, BIG_BLOCKS,
        "the node holds the generated chain"
    );
    let big = view.headers[0].hash();

    // Ten requests, each naming the block as often as a request may (128 times), then one for a
    // block nobody has: requests are answered in order (pings are not: they are answered at
    // once), so that `NotFound` comes after every answer to the ten.
    let ids = vec![big; wire::MAX_BLOCK_REQUEST];
    for _ in 0..GREEDY_REQUESTS {
        greedy.send(&Message::GetBlocks(ids.clone())).unwrap();
    }
    let marker = Hash([0xEE; 32]);
    greedy.send(&Message::GetBlocks(vec![marker])).unwrap();
    let mut seen: Vec<String> = Vec::new();
    let mut copies = 0usize;
    let mut not_found_after = 0usize;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "no answer to the last request within 60 s; {copies} copies; answers: {seen:?}"
        );
        match greedy.recv() {
            Ok(Message::Block(b)) => {
                assert_eq!(b.hash(), big, "a block nobody asked for: {seen:?}");
                assert_eq!(b.txs.len(), BIG_TXS as usize, "not the big block");
                assert!(
                    not_found_after == 0,
                    "a copy after NotFound; answers: {seen:?}"
                );
                copies += 1;
                seen.push("block".into());
            }
            Ok(Message::NotFound(hs)) if hs == [marker] => break,
            Ok(Message::NotFound(hs)) => {
                seen.push(format!("notfound({})", hs.len()));
                if hs.contains(&big) && copies >= MAX_SERVES {
                    not_found_after += 1;
                }
            }
            Ok(m) => seen.push(m.name().to_string()),
            Err(e) if timed_out(&e) => {}
            Err(e) => panic!(
                "greedy peer dropped ({e}) after {seen:?}: {:#?}",
                notable(&node)
            ),
        }
    }
    eprintln!("greedy peer: {copies} copies, then {not_found_after} NotFound; answers: {seen:?}");
    assert_eq!(
        copies, MAX_SERVES,
        "copies of the block served to one connection; answers: {seen:?}"
    );
    // Every request after the second was answered NotFound.
    assert!(
        not_found_after >= GREEDY_REQUESTS - MAX_SERVES,
        "{not_found_after} NotFound after the second copy; answers: {seen:?}"
    );
    let text = metrics(http);
    let refused = ferrite_tests::bench::counter(
        &text,
        "ferrite_p2p_defences_total",
        "action",
        "block_served_too_often",
    );
    eprintln!("block_served_too_often = {refused}");
    assert!(refused > 0, "the refusals were not counted:\n{text}");

    // The limit is per connection: a fresh peer gets the block, while the greedy one (still
    // connected) still gets NotFound.
    let mut fresh = WirePeer::observe(addr, gh).unwrap();
    let got = fresh.blocks(&[big]).unwrap();
    assert_eq!(got.len(), 1, "a fresh peer was refused the block");
    assert_eq!(got[0].hash(), big);
    greedy.send(&Message::GetBlocks(vec![big])).unwrap();
    let again = greedy.wait_for(20, |_, m| match m {
        Message::Block(b) if b.hash() == big => Some(false),
        Message::NotFound(hs) if hs.contains(&big) => Some(true),
        _ => None,
    });
    assert!(
        again.as_ref().is_ok_and(|nf| *nf),
        "the greedy peer, asking once more: {again:?} (true is NotFound)"
    );
    drop((greedy, fresh));
    stop(node);
}

/// Bytes the node lets wait for one peer before it queues another answer (`ANSWER_ROOM` in
/// node/src/p2p/send_queue.rs).
const ANSWER_ROOM: usize = 2 * 1024 * 1024;
/// One full `Headers` answer as queued: the frame header, the count, 2,000 headers.
const HEADERS_ANSWER: usize =
    wire::FRAME_HEADER_LEN + 4 + wire::MAX_HEADERS * ferrite_core::block::HEADER_LEN;
/// Room for what else is queued meanwhile (the node's own messages, the honest peer's answer).
const QUEUE_SLACK: usize = 1024 * 1024;
/// `GetHeaders` the peer that never reads sends: 300 answers are about 92 MiB.
const UNREAD_REQUESTS: usize = 300;

#[test]
fn a_peer_that_asks_for_headers_and_never_reads_cannot_grow_the_queue() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let (node, addr, genesis, _) = holding(long_chain(), dir.path());
    let http = node.http_addr();
    let gh = genesis_hash(&genesis);
    let text = metrics(http);
    let idle = sample(&text, "ferrite_p2p_queued_bytes")
        .unwrap_or_else(|| panic!("no ferrite_p2p_queued_bytes:\n{text}"));

    // A small receive buffer (it also turns off the kernel's autotuning, which could take tens
    // of MiB), so the node's queue, not the kernel, is where the answers wait.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(64 * 1024).unwrap();
    sock.connect_timeout(&addr.into(), Duration::from_secs(5))
        .unwrap();
    let stream: TcpStream = sock.into();
    let mut unread = WirePeer::over(stream, gh, version(gh, 0)).unwrap();
    let ask = Message::GetHeaders {
        locator: vec![gh],
        stop: Hash::ZERO,
    };
    let sent = Instant::now();
    for _ in 0..UNREAD_REQUESTS {
        unread.send(&ask).unwrap();
    }

    // The gauge, every 100 ms, while the answers pile up.
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop_sampling = stop_sampling.clone();
        std::thread::spawn(move || {
            let mut samples: Vec<(u128, f64)> = Vec::new();
            while !stop_sampling.load(Ordering::Acquire) {
                if let Some(v) = sample(&metrics(http), "ferrite_p2p_queued_bytes") {
                    samples.push((sent.elapsed().as_millis(), v));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            samples
        })
    };

    // Meanwhile an honest peer is served, and so is the explorer.
    std::thread::sleep(Duration::from_secs(1));
    let t = Instant::now();
    let honest = WirePeer::observe(addr, gh).and_then(|mut p| {
        p.send(&ask)?;
        p.wait_for(10, |_, m| match m {
            Message::Headers(hs) => Some(hs),
            _ => None,
        })
    });
    let honest_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let height = ferrite_tests::http::get(http, "/api/blocks/tip/height");
    let http_secs = t.elapsed().as_secs_f64();

    let until = sent + Duration::from_secs(5);
    std::thread::sleep(until.saturating_duration_since(Instant::now()));
    let text = metrics(http);
    stop_sampling.store(true, Ordering::Release);
    let samples = sampler.join().unwrap();
    let at_5s = sample(&text, "ferrite_p2p_queued_bytes").unwrap();
    let most = samples.iter().map(|s| s.1).fold(at_5s, f64::max);
    let bound = (ANSWER_ROOM + HEADERS_ANSWER + QUEUE_SLACK) as f64;
    eprintln!(
        "queued bytes: idle {idle}, at 5 s {at_5s}, most {most} (bound {bound}; \
         {UNREAD_REQUESTS} answers would be {}); honest peer served in {honest_secs:.2} s, \
         tip height in {http_secs:.3} s; samples (ms, bytes): {samples:?}",
        UNREAD_REQUESTS * HEADERS_ANSWER
    );
    assert!(
        at_5s <= bound && most <= bound,
        "queued bytes over {bound}: at 5 s {at_5s}, most {most}; samples: {samples:?}"
    );
    // Not vacuous: the answers really waited in the node's queue (up to the room), rather than
    // in the kernel's buffers or not at all.
    assert!(
        most >= ANSWER_ROOM as f64,
        "the unread answers never filled the room ({most} bytes at most): samples {samples:?}; \
         node: {:#?}",
        notable(&node)
    );
    let headers = honest.unwrap_or_else(|e| {
        panic!(
            "the honest peer was not served ({e}) after {honest_secs:.2} s: {:#?}",
            notable(&node)
        )
    });
    assert_eq!(
        headers.len(),
        wire::MAX_HEADERS,
        "a full answer from genesis"
    );
    assert_eq!(headers[0].height, 1);
    assert!(
        honest_secs < 10.0,
        "honest handshake and answer took {honest_secs:.2} s"
    );
    assert_eq!(height.status, 200, "{}", height.text());
    assert_eq!(height.text().trim(), LONG_BLOCKS.to_string());
    assert!(http_secs < 2.0, "the tip height took {http_secs:.3} s");
    drop(unread);
    stop(node);
}

/// New identities in the flood, each claiming its own listen port from [`FLOOD_PORT`] (below
/// the kernel's ephemeral ports, 32768 and up, so no honest peer's source port is among them):
/// a thousand more than a ban table holds, so the tables must stop growing.
const FLOOD: u16 = MAX_BANS as u16 + 1_000;
/// The first listen port the flood claims.
const FLOOD_PORT: u16 = 10_000;
/// Bans a table holds.
const MAX_BANS: usize = ferrite_node::p2p::bans::MAX_BANS;
/// Threads the flood runs on (well under the node's 32 inbound slots).
const FLOOD_THREADS: u16 = 4;

/// One new identity claiming `port`: handshake, then a second `Version` (a violation the node
/// bans for); Ok once the node has closed the connection.
fn violate(addr: SocketAddr, gh: Hash, port: u16) -> Result<(), String> {
    let mut last = String::new();
    // A connection refused before its handshake (all handshake slots taken) is tried again; it
    // never reached the node's peer set, so it was not banned.
    for attempt in 0..5u64 {
        match WirePeer::connect(addr, gh, version(gh, port)) {
            Ok(mut p) => {
                p.send(&Message::Version(version(gh, port)))
                    .map_err(|e| format!("second Version: {e}"))?;
                return if p.closed_within(10) {
                    Ok(())
                } else {
                    Err("still connected 10 s after a second Version".into())
                };
            }
            Err(e) => {
                last = e.to_string();
                std::thread::sleep(Duration::from_millis(50 * (attempt + 1)));
            }
        }
    }
    Err(format!("no handshake: {last}"))
}

/// True when a new identity claiming `port` is refused right after the handshake.
fn refused(addr: SocketAddr, gh: Hash, port: u16) -> bool {
    match WirePeer::connect(addr, gh, version(gh, port)) {
        Err(_) => true,
        Ok(mut p) => p.closed_within(5),
    }
}

/// Waits up to `secs` for `series` to reach `at_least`; the last value seen.
fn wait_for_metric(http: SocketAddr, series: &str, at_least: f64, secs: u64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = sample(&metrics(http), series).unwrap_or(0.0);
        if v >= at_least || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_flood_of_violations_from_new_identities_fills_the_ban_tables_to_their_bound_and_an_honest_peer_still_gets_in(
) {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let (node, addr, genesis, data) = holding(big_block_chain(), dir.path());
    let http = node.http_addr();
    let gh = genesis_hash(&genesis);

    let done = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let began = Instant::now();
    let workers: Vec<_> = (0..FLOOD_THREADS)
        .map(|t| {
            let (done, failures) = (done.clone(), failures.clone());
            std::thread::spawn(move || {
                for i in (t..FLOOD).step_by(FLOOD_THREADS as usize) {
                    let port = FLOOD_PORT + i;
                    if let Err(e) = violate(addr, gh, port) {
                        failures.lock().unwrap().push(format!("port {port}: {e}"));
                    }
                    done.fetch_add(1, Ordering::AcqRel);
                }
            })
        })
        .collect();
    // An honest peer, once a quarter of the flood is through.
    let honest = {
        let done = done.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(300);
            while done.load(Ordering::Acquire) < usize::from(FLOOD / 4) && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            let at = done.load(Ordering::Acquire);
            let t = Instant::now();
            let r = WirePeer::observe(addr, gh).and_then(|mut p| {
                p.send(&Message::GetHeaders {
                    locator: vec![gh],
                    stop: Hash::ZERO,
                })?;
                p.wait_for(10, |_, m| match m {
                    Message::Headers(hs) => Some(hs.len()),
                    _ => None,
                })
            });
            (r, t.elapsed(), at, done.load(Ordering::Acquire))
        })
    };
    for w in workers {
        w.join().unwrap();
    }
    let flood_secs = began.elapsed().as_secs_f64();
    let (answer, honest_took, from, to) = honest.join().unwrap();

    let node_bans = wait_for_metric(http, "ferrite_p2p_bans{kind=\"node\"}", MAX_BANS as f64, 5);
    let text = metrics(http);
    let addr_bans = sample(&text, "ferrite_p2p_bans{kind=\"address\"}").unwrap_or(0.0);
    let banned =
        ferrite_tests::bench::counter(&text, "ferrite_p2p_defences_total", "action", "ban");
    let failures = failures.lock().unwrap().clone();
    eprintln!(
        "flood: {FLOOD} identities in {flood_secs:.2} s on {FLOOD_THREADS} threads, {banned} bans \
         ({:.0} bans/s); gauges: node {node_bans}, address {addr_bans}; honest peer served in \
         {:.3} s while the flood went from {from} to {to} identities; {} failures",
        banned as f64 / flood_secs,
        honest_took.as_secs_f64(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} identities did not get their violation in: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    let headers = answer.unwrap_or_else(|e| {
        panic!(
            "the honest peer was not served during the flood ({e}, {:.2} s): {:#?}",
            honest_took.as_secs_f64(),
            notable(&node)
        )
    });
    assert_eq!(
        headers as u64, BIG_BLOCKS,
        "the honest peer's headers answer"
    );
    // Every identity was banned, and each table stopped at its bound.
    assert!(banned >= u64::from(FLOOD), "bans counted: {banned}");
    assert_eq!(
        node_bans, MAX_BANS as f64,
        "node-id bans within 5 s of {FLOOD} violations:\n{text}"
    );
    // On loopback each claimed listen port is its own address ban.
    assert_eq!(
        addr_bans, MAX_BANS as f64,
        "address bans after {FLOOD} violations:\n{text}"
    );

    stop(node);
    check_data_dir(&data);
    // The bans were saved, and only those kept: after a restart the table is as full as it was
    // (not more), and a new identity claiming the last banned port is refused.
    let node = start(&genesis, &data, &[], None, &[]);
    let addr = node.p2p_addr();
    let http = node.http_addr();
    let back = wait_for_metric(http, "ferrite_p2p_bans{kind=\"node\"}", MAX_BANS as f64, 10);
    assert_eq!(back, MAX_BANS as f64, "node-id bans after a restart");
    let last = FLOOD_PORT + FLOOD - 1;
    assert!(
        refused(addr, gh, last),
        "the ban of port {last} was lost at restart"
    );
    stop(node);
    check_data_dir(&data);
}

/// Sockets that connect, send nothing and reconnect as soon as the node closes them.
const REOPENERS: usize = 70;
/// Sockets that send a byte a second of a handshake that never completes.
const DRIBBLERS: usize = 100;

/// Until `stop`: connect to `addr`, send `drip` bytes a second (none: just wait), and reconnect
/// as soon as the node closes the socket. Counts the connections made.
fn hog(addr: SocketAddr, drip: bool, stop: Arc<AtomicBool>, made: Arc<AtomicUsize>) {
    while !stop.load(Ordering::Acquire) {
        let Ok(mut s) = TcpStream::connect(addr) else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        made.fetch_add(1, Ordering::AcqRel);
        let _ = s.set_read_timeout(Some(Duration::from_millis(if drip { 1_000 } else { 200 })));
        let mut buf = [0u8; 64];
        while !stop.load(Ordering::Acquire) {
            if drip && s.write_all(&[0x42]).is_err() {
                break;
            }
            match std::io::Read::read(&mut s, &mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if timed_out(&e) => {}
                Err(_) => break,
            }
        }
    }
}

#[test]
fn sockets_that_hog_handshake_slots_cannot_keep_an_honest_peer_out() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let (node, addr, genesis, _data) = holding(big_block_chain(), dir.path());
    let http = node.http_addr();
    let gh = genesis_hash(&genesis);
    let quit = Arc::new(AtomicBool::new(false));
    let made = Arc::new(AtomicUsize::new(0));
    let hogs: Vec<_> = (0..REOPENERS + DRIBBLERS)
        .map(|i| {
            let (quit, made) = (quit.clone(), made.clone());
            std::thread::spawn(move || hog(addr, i >= REOPENERS, quit, made))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    // An honest peer: its handshake and a headers answer, retried if the node closes it.
    let began = Instant::now();
    let mut tries = Vec::new();
    let served = loop {
        let r = WirePeer::observe(addr, gh).and_then(|mut p| {
            p.send(&Message::GetHeaders {
                locator: vec![gh],
                stop: Hash::ZERO,
            })?;
            p.wait_for(5, |_, m| match m {
                Message::Headers(hs) => Some(hs.len()),
                _ => None,
            })
        });
        match r {
            Ok(n) => break Some(n),
            Err(e) => tries.push(e.to_string()),
        }
        if began.elapsed() > Duration::from_secs(20) {
            break None;
        }
    };
    let took = began.elapsed();
    let text = metrics(http);
    quit.store(true, Ordering::Release);
    for h in hogs {
        h.join().unwrap();
    }
    let cut = ferrite_tests::bench::counter(
        &text,
        "ferrite_p2p_defences_total",
        "action",
        "handshake_cut",
    );
    eprintln!(
        "hogs made {} connections; honest peer served after {:.2} s and {} failed tries {:?}; \
         handshakes cut {cut}",
        made.load(Ordering::Acquire),
        took.as_secs_f64(),
        tries.len(),
        &tries[..tries.len().min(5)]
    );
    assert_eq!(
        served,
        Some(BIG_BLOCKS as usize),
        "the honest peer was not served within 20 s: {tries:?}\n{:#?}",
        notable(&node)
    );
    assert!(
        took < Duration::from_secs(10),
        "the honest peer needed {took:?}: {tries:?}"
    );
    assert!(
        cut > 0,
        "no handshake was cut: the hogs did not fill the slots:\n{text}"
    );
    stop(node);
}
