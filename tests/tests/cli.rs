//! The node's command line with real processes: bad input gives a one-line error and a non-zero
//! exit; `--dev` mines, prints its accounts, and shuts down cleanly on SIGTERM; a data dir of
//! another genesis, or one in use, is refused.

use std::time::Duration;

use ferrite_tests::{committed, node_output, Running};

fn one_line_error(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "expected failure, got success");
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "error is not one line: {err:?}");
    assert!(err.starts_with("error"), "{err}");
    err
}

#[test]
fn unknown_flag() {
    let out = node_output(&["--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    one_line_error(&out);
}

#[test]
fn corrupt_genesis_file() {
    let dir = tempfile::tempdir().unwrap();
    let g = dir.path().join("g.json");
    std::fs::write(&g, "{\"chain_name\": 5").unwrap();
    let data = dir.path().join("data");
    let out = node_output(&[
        "--genesis",
        g.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let err = one_line_error(&out);
    assert!(err.contains("genesis"), "{err}");
}

#[test]
fn invalid_genesis_values() {
    let dir = tempfile::tempdir().unwrap();
    let g = dir.path().join("g.json");
    let mut v: serde_json::Value =
        serde_json::from_str(ferrite_core::genesis::TESTNET_GENESIS_JSON).unwrap();
    v["target_spacing_secs"] = 0.into();
    std::fs::write(&g, v.to_string()).unwrap();
    let data = dir.path().join("data");
    let err = one_line_error(&node_output(&[
        "--genesis",
        g.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]));
    assert!(err.contains("target_spacing_secs"), "{err}");
}

#[test]
fn unwritable_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let data = file.join("data");
    let err = one_line_error(&node_output(&[
        "--dev",
        "--data-dir",
        data.to_str().unwrap(),
    ]));
    assert!(err.contains("data dir"), "{err}");
}

#[test]
fn bad_config_file_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("node.toml");
    std::fs::write(&cfg, "mine_threadz = 2\n").unwrap();
    let err = one_line_error(&node_output(&["--config", cfg.to_str().unwrap(), "check"]));
    assert!(err.contains("mine_threadz"), "{err}");
    let err = one_line_error(&node_output(&["--mine-threads", "0", "check"]));
    assert!(err.contains("mine_threads"), "{err}");
    let err = one_line_error(&node_output(&["--mine-threads", "lots"]));
    assert!(err.contains("lots"), "{err}");
}

#[test]
fn dev_node_mines_and_stops_cleanly_then_guards_its_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("dev");
    let data = data.to_str().unwrap();
    let node = Running::node(&["--dev", "--dev-block-time", "1", "--data-dir", data]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while committed(&node.lines()).len() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let lines = node.lines();
    assert!(
        lines.iter().any(|l| l.contains("dev accounts")),
        "{lines:?}"
    );
    assert!(lines.iter().filter(|l| l.contains("secret ")).count() >= 10);
    // A second process on the same data dir is refused while the first runs.
    let err = one_line_error(&node_output(&["--dev", "--data-dir", data]));
    assert!(err.contains("in use"), "{err}");
    let (status, lines) = node.terminate(20);
    let status = status.expect("node did not stop after SIGTERM");
    assert!(status.success(), "exit {status:?}: {lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("stopped at height")),
        "{lines:?}"
    );
    let mined = committed(&lines);
    assert!(mined.len() >= 3, "{lines:?}");
    // Reopened with the recorded genesis, the store is consistent and holds what was mined.
    let (h, hash) = mined.last().unwrap();
    let out = node_output(&["check", "--data-dir", data, "--at-height", &h.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(hash.as_str()));
    // The same data dir with another genesis is refused.
    let err = one_line_error(&node_output(&[
        "--data-dir",
        data,
        "--genesis",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../genesis.json"),
    ]));
    assert!(err.contains("genesis"), "{err}");
}

#[test]
fn import_of_a_missing_file_names_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nope.chain");
    let data = dir.path().join("data");
    let out = node_output(&[
        "import",
        "--file",
        file.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let err = one_line_error(&out);
    assert_eq!(err.matches(file.to_str().unwrap()).count(), 1, "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
}

#[test]
fn mine_without_an_address_fails_before_creating_anything() {
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(ferrite_tests::binary("ferrite-node"))
        .arg("--mine")
        .env("HOME", home.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let err = one_line_error(&out);
    assert!(err.contains("--miner-address"), "{err}");
    assert_eq!(out.status.code(), Some(ferrite_node::exit::CONFIG));
    // A reward address that does not parse is refused before anything is created too.
    let out = std::process::Command::new(ferrite_tests::binary("ferrite-node"))
        .args(["--mine", "--miner-address", "garbage", "--http", "off"])
        .env("HOME", home.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let err = one_line_error(&out);
    assert!(err.contains("--miner-address garbage"), "{err}");
    assert_eq!(out.status.code(), Some(ferrite_node::exit::CONFIG));
    let left: Vec<_> = std::fs::read_dir(home.path()).unwrap().collect();
    assert!(left.is_empty(), "created {left:?}");
}

#[test]
fn each_kind_of_failure_has_its_exit_code() {
    use ferrite_node::exit;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let code = |args: &[&str]| node_output(args).status.code();
    assert_eq!(code(&["--no-such-flag"]), Some(exit::USAGE));
    assert_eq!(code(&["--mine-threads", "0", "check"]), Some(exit::CONFIG));
    assert_eq!(code(&["--log-format", "xml", "check"]), Some(exit::CONFIG));
    // A node flag that testnet would ignore is refused, with its name.
    // (Under `timeout`: were the refusal to break, a testnet would run until stopped.)
    let out = std::process::Command::new("timeout")
        .arg("20")
        .arg(ferrite_tests::binary("ferrite-node"))
        .args(["testnet", "--mine", "--nodes", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(exit::USAGE));
    assert!(String::from_utf8_lossy(&out.stderr).contains("testnet does not read --mine"));
    let bad = d.join("bad.json");
    std::fs::write(&bad, "{").unwrap();
    let g = bad.to_str().unwrap();
    let data = d.join("x");
    let x = data.to_str().unwrap();
    assert_eq!(
        code(&["--genesis", g, "--data-dir", x]),
        Some(exit::GENESIS)
    );
    let file = d.join("file");
    std::fs::write(&file, "x").unwrap();
    let under_file = file.join("data");
    let u = under_file.to_str().unwrap();
    assert_eq!(code(&["--dev", "--data-dir", u]), Some(exit::DATA_DIR));
    let chain = d.join("chain.bin");
    let c = chain.to_str().unwrap();
    std::fs::write(&chain, "not a chain file").unwrap();
    assert_eq!(
        code(&["import", "--file", c, "--data-dir", x]),
        Some(exit::CHAIN_FILE)
    );
    // A port already taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    assert_eq!(
        code(&["--dev", "--data-dir", x, "--http", &port]),
        Some(exit::LISTEN)
    );
    // Nobody to hand a dev genesis: the port is closed again.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let y = d.join("y");
    assert_eq!(
        code(&[
            "--dev",
            "--data-dir",
            y.to_str().unwrap(),
            "--peer",
            &closed
        ]),
        Some(exit::JOIN)
    );
}

#[test]
fn a_dev_node_whose_output_closes_stops_cleanly_and_removes_its_data_dir() {
    // `| head -2`: the reader leaves while the node still has startup lines to write.
    dev_node_with_output_closed_after(|n, _| n == 2);
    // `| grep -m1 explorer`: it leaves after the last one, when nothing more is written.
    dev_node_with_output_closed_after(|_, line| line.starts_with("explorer: "));
}

/// Starts `ferrite-node --dev`, reads its output until `last(n, line)`, closes the pipe, and
/// checks that it stops cleanly, exits 141 and leaves no data dir.
fn dev_node_with_output_closed_after(last: impl Fn(usize, &str) -> bool) {
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(ferrite_tests::binary("ferrite-node"))
        .args(["--dev", "--http", "127.0.0.1:0"])
        .env("TMPDIR", tmp.path())
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut n = 0;
    loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            panic!("output ended before the awaited line");
        };
        n += 1;
        if n == 1 {
            assert!(line.starts_with("ferrite-node "), "{line}");
        }
        if last(n, &line) {
            break;
        }
    }
    drop(lines);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running 30 s after its output closed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind {left:?}");
}

#[test]
fn a_node_that_does_not_mine_does_not_say_it_stops_a_miner() {
    let dir = tempfile::tempdir().unwrap();
    let genesis = ferrite_tests::write_dev_genesis(dir.path());
    let data = dir.path().join("data");
    let n = Running::node(&[
        "--genesis",
        genesis.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--http",
        "off",
    ]);
    n.p2p_addr();
    let (status, lines) = n.terminate(20);
    assert!(status.is_some_and(|s| s.success()), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("shutting down: closing the store")),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.contains("miner")), "{lines:#?}");
}

/// The chain id in a node's first line (`ferrite-node V on chain NAME (ID)`).
fn chain_id(node: &Running) -> String {
    let line = node
        .wait_for_line(" on chain ", 30)
        .unwrap_or_else(|| panic!("no chain line: {:#?}", node.lines()));
    line.rsplit('(')
        .next()
        .map(|s| s.trim_end_matches(')').to_string())
        .unwrap_or_default()
}

#[test]
fn a_dev_node_joins_another_dev_nodes_chain_with_one_flag() {
    let dir = tempfile::tempdir().unwrap();
    let a_dir = dir.path().join("a");
    let a = Running::node(&[
        "--dev",
        "--dev-block-time",
        "1",
        "--data-dir",
        a_dir.to_str().unwrap(),
    ]);
    let a_p2p = a.p2p_addr().to_string();
    let b_dir = dir.path().join("b");
    let b = Running::node(&[
        "--dev",
        "--mine",
        "false",
        "--data-dir",
        b_dir.to_str().unwrap(),
        "--peer",
        &a_p2p,
    ]);
    assert_eq!(chain_id(&b), chain_id(&a), "{:#?}", b.lines());
    assert!(
        b.wait_for_line("new tip from peers", 60).is_some(),
        "no block from the peer: {:#?}",
        b.lines()
    );
    // The genesis it took is recorded: a restart without --peer stays on that chain.
    let recorded = std::fs::read_to_string(b_dir.join("genesis.json")).unwrap();
    let mine = std::fs::read_to_string(a_dir.join("genesis.json")).unwrap();
    assert_eq!(recorded, mine);
}

#[test]
fn a_peer_on_another_chain_is_told_in_words_and_not_banned() {
    let dir = tempfile::tempdir().unwrap();
    let dev_dir = dir.path().join("dev");
    let dev = Running::node(&["--dev", "--data-dir", dev_dir.to_str().unwrap()]);
    let dev_p2p = dev.p2p_addr().to_string();
    // A node of the public testnet pointed at the dev node.
    let net_dir = dir.path().join("testnet");
    let net = Running::node(&[
        "--data-dir",
        net_dir.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--http",
        "off",
        "--peer",
        &dev_p2p,
    ]);
    let told = net.wait_for_line("on another chain", 30);
    let told = told.unwrap_or_else(|| panic!("{:#?}", net.lines()));
    assert!(told.contains(&chain_id(&dev)), "{told}");
    let heard = dev.wait_for_line("on another chain", 30);
    let heard = heard.unwrap_or_else(|| panic!("{:#?}", dev.lines()));
    assert!(heard.contains(&chain_id(&net)), "{heard}");
    for l in dev.lines().iter().chain(net.lines().iter()) {
        assert!(!l.contains("banned"), "{l}");
    }
    // A dev node cannot take the testnet's genesis by asking.
    let out = node_output(&[
        "--dev",
        "--data-dir",
        dir.path().join("joiner").to_str().unwrap(),
        "--peer",
        &net.p2p_addr().to_string(),
    ]);
    let err = one_line_error(&out);
    assert!(err.contains("not a dev chain"), "{err}");
}

#[test]
fn export_writes_the_chain_import_reads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (file, a) = (d.join("chain.bin"), d.join("a"));
    ferrite_tests::generate_chain(&file, 12, 5, 20);
    ferrite_tests::import_chain(&file, &a);
    let copy = d.join("copy.bin");
    let out = node_output(&[
        "export",
        "--data-dir",
        a.to_str().unwrap(),
        "--out",
        copy.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("exported 12 blocks, 60 transfers"));
    // The same genesis and blocks, byte for byte, as the file the chain came from.
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&file).unwrap());
    let b = d.join("b");
    ferrite_tests::import_chain(&copy, &b);
    assert_eq!(
        ferrite_tests::check_data_dir(&a),
        ferrite_tests::check_data_dir(&b)
    );
    // Nothing to export, and a destination that cannot be written: errors, no file left.
    let err = one_line_error(&node_output(&[
        "export",
        "--data-dir",
        d.join("none").to_str().unwrap(),
        "--out",
        d.join("x.bin").to_str().unwrap(),
    ]));
    assert!(err.contains("no chain in"), "{err}");
    let bad = d.join("missing-dir").join("x.bin");
    let err = one_line_error(&node_output(&[
        "export",
        "--data-dir",
        a.to_str().unwrap(),
        "--out",
        bad.to_str().unwrap(),
    ]));
    assert!(err.contains("missing-dir"), "{err}");
    assert!(!d.join("none").exists());
}

#[test]
fn config_completions_and_man_page_come_from_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("n.toml");
    std::fs::write(&file, "mine_threads = 2\n").unwrap();
    let out = std::process::Command::new(ferrite_tests::binary("ferrite-node"))
        .args([
            "--config",
            file.to_str().unwrap(),
            "config",
            "--max-inbound",
            "7",
        ])
        .env("FERRITE_MIN_FEE", "5")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("mine_threads = 2  # config file"), "{text}");
    assert!(text.contains("max_inbound = 7  # flag"), "{text}");
    assert!(
        text.contains("min_fee = 5  # environment FERRITE_MIN_FEE"),
        "{text}"
    );
    assert!(text.contains("max_outbound = 8  # default"), "{text}");
    let bash = node_output(&["completions", "bash"]);
    assert!(String::from_utf8_lossy(&bash.stdout).contains("--dev-block-time"));
    let man = node_output(&["manpage"]);
    assert!(String::from_utf8_lossy(&man.stdout).contains(".TH ferrite-node"));
    let help = node_output(&["testnet", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--nodes") && !help.contains("--miner-address"),
        "{help}"
    );
}
