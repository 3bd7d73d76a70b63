//! The wallet CLI end to end: a real dev node, real `ferrite-wallet` processes, keys imported
//! and created, coins sent and mined, balances and histories read back, and every refusal
//! with its exit code.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use ferrite_tests::{binary, Running};
use serde_json::Value;

/// The wallet's command line for `dir` and `node`, then `args`.
fn wallet_args(dir: &Path, node: &str, args: &[&str]) -> Vec<String> {
    let path = |p: std::path::PathBuf| p.to_str().unwrap().to_string();
    let mut line = vec![
        "--wallet-dir".to_string(),
        path(dir.join("wallets")),
        "--node".into(),
        node.into(),
        "--password-file".into(),
        path(dir.join("pass.txt")),
    ];
    line.extend(args.iter().map(|a| a.to_string()));
    line
}

/// Runs `program` with `args` in an environment free of the wallet's variables, feeding
/// `stdin`.
fn run(program: &str, args: &[String], stdin: &str) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .env_remove("FERRITE_WALLET")
        .env_remove("FERRITE_WALLET_DIR")
        .env_remove("FERRITE_NODE")
        .env_remove("FERRITE_WALLET_PASSPHRASE_UNSAFE")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// Runs `ferrite-wallet` with `args` against `node`, feeding `stdin`.
fn wallet(dir: &Path, node: &str, args: &[&str], stdin: &str) -> Output {
    let program = binary("ferrite-wallet");
    run(
        program.to_str().unwrap(),
        &wallet_args(dir, node, args),
        stdin,
    )
}

/// Runs `ferrite-wallet` with `args` at a terminal (a pseudo-terminal made by util-linux
/// `script`, which Debian always has) and types `typed` into it.
fn at_terminal(dir: &Path, node: &str, args: &[&str], typed: &str) -> Output {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut line = vec![quote(binary("ferrite-wallet").to_str().unwrap())];
    line.extend(wallet_args(dir, node, args).iter().map(|a| quote(a)));
    let script = ["-q", "-e", "-c", &line.join(" "), "/dev/null"].map(String::from);
    run("script", &script, typed)
}

fn ok_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Asserts exit `code` and a one-line message containing `needle` on stderr.
fn fails(out: &Output, code: i32, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains(needle), "expected {needle:?} in {err:?}");
}

#[test]
fn send_between_two_wallets_and_read_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("pass.txt"), "correct horse battery\n").unwrap();
    let node = Running::node(&[
        "--dev",
        "--dev-block-time",
        "1",
        "--data-dir",
        d.join("data").to_str().unwrap(),
    ]);
    let url = format!("http://{}", node.http_addr());
    let url = url.as_str();
    let w = |args: &[&str], stdin: &str| wallet(d, url, args, stdin);

    // Alice is dev account 1, imported from the secret the node printed.
    let alice_key = ferrite_core::dev::dev_key(1);
    let secret = hex::encode(*alice_key.to_bytes());
    let v = ok_json(&w(&["--json", "import", "--name", "alice"], &secret));
    let alice = v["address"].as_str().unwrap().to_string();
    assert!(alice.starts_with("dfe1"), "{v}");
    let file = d.join("wallets").join("alice.json");
    assert!(!std::fs::read_to_string(&file).unwrap().contains(&secret));
    // Bob is new, with a recovery phrase that imports to the same address.
    let v = ok_json(&w(&["--json", "new", "--name", "bob", "--phrase"], ""));
    let bob = v["address"].as_str().unwrap().to_string();
    let phrase = v["recovery_phrase"].as_str().unwrap().to_string();
    assert_eq!(phrase.split(' ').count(), 24);
    let v = ok_json(&w(&["--json", "import", "--name", "bob2"], &phrase));
    assert_eq!(v["address"], bob.as_str());
    let v = ok_json(&w(&["--json", "list"], ""));
    let names: Vec<&str> = v["wallets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["wallet"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob", "bob2"]);
    let v = ok_json(&w(&["--json", "--wallet", "alice", "address"], ""));
    assert_eq!(v["address"], alice.as_str());

    let before = ok_json(&w(&["--json", "--wallet", "alice", "balance"], ""));
    let alice_before: u64 = before["balance_units"].as_u64().unwrap();
    assert!(alice_before > 0, "{before}");
    let v = ok_json(&w(&["--json", "balance", &bob], ""));
    assert_eq!(v["balance_units"], 0);

    // Send 12.5 coins with a fee of 0.0001 and wait for a block.
    let sent = ok_json(&w(
        &[
            "--json", "--wallet", "alice", "send", "--to", &bob, "--amount", "12.5", "--fee",
            "0.0001", "--yes",
        ],
        "",
    ));
    assert_eq!(sent["confirmed"], true, "{sent}");
    assert!(sent["confirmations"].as_u64().unwrap() >= 1);
    let txid = sent["txid"].as_str().unwrap().to_string();
    let v = ok_json(&w(&["--json", "balance", &bob], ""));
    assert_eq!(v["balance"], "12.5");
    assert_eq!(v["balance_units"], 1_250_000_000u64);
    // Alice paid amount and fee; she also mines nothing (dev rewards go to account 0).
    let after = ok_json(&w(&["--json", "--wallet", "alice", "balance"], ""));
    assert_eq!(
        after["balance_units"].as_u64().unwrap(),
        alice_before - 1_250_000_000 - 10_000
    );
    // Both histories show the transfer, from each side.
    let h = ok_json(&w(&["--json", "--wallet", "bob", "history"], ""));
    let t = &h["transactions"][0];
    assert_eq!(t["txid"], txid.as_str());
    assert_eq!(t["direction"], "in");
    assert_eq!(t["counterparty"], alice.as_str());
    assert_eq!(t["amount"], "12.5");
    assert_eq!(t["confirmed"], true);
    let h = ok_json(&w(&["--json", "--wallet", "alice", "history"], ""));
    assert_eq!(h["transactions"][0]["txid"], txid.as_str());
    assert_eq!(h["transactions"][0]["direction"], "out");
    assert_eq!(h["transactions"][0]["fee"], "0.0001");
    let v = ok_json(&w(&["--json", "tx", &txid], ""));
    assert_eq!(v["from"], alice.as_str());
    assert_eq!(v["to"], bob.as_str());
    assert_eq!(v["confirmed"], true);
    assert!(v["confirmations"].as_u64().unwrap() >= 1);
    // Text output for people.
    let out = w(&["--wallet", "bob", "balance"], "");
    assert!(String::from_utf8_lossy(&out.stdout).contains("balance: 12.5"));
    // Export gives back the imported secret, with a warning.
    let out = w(&["--json", "--wallet", "alice", "export"], "");
    assert_eq!(ok_json(&out)["secret_key"], secret.as_str());
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARNING"));

    // A second send without waiting, then a nonce that follows it.
    let quick = |to: &str| {
        let args = [
            "--json", "--wallet", "alice", "send", "--to", to, "--amount", "1",
        ];
        ok_json(&w(&[&args[..], &["--yes", "--no-wait"]].concat(), ""))
    };
    let v = quick(&bob);
    assert_eq!(v["confirmed"], false);
    let n1 = v["nonce"].as_u64().unwrap();
    let v = quick(&bob.to_uppercase());
    assert_eq!(v["nonce"].as_u64().unwrap(), n1 + 1);
    // An address typed in upper case is the same address, reported as the chain writes it.
    assert_eq!(v["to"], bob.as_str());

    // At a terminal, send asks; "n" sends nothing (the next nonce is unchanged), "y" sends.
    let next = |w: &dyn Fn(&[&str], &str) -> Output| {
        ok_json(&w(&["--json", "--wallet", "alice", "balance"], ""))["next_nonce"]
            .as_u64()
            .unwrap()
    };
    let before = next(&w);
    let ask = [
        "--wallet",
        "alice",
        "send",
        "--to",
        &bob,
        "--amount",
        "1",
        "--no-wait",
    ];
    let out = at_terminal(d, url, &ask, "n\n");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(10), "{text}");
    assert!(
        text.contains("Send? [y/N]") && text.contains("cancelled"),
        "{text}"
    );
    assert!(
        text.contains(&format!("nonce:          {before}")),
        "{text}"
    );
    assert_eq!(next(&w), before);
    let out = at_terminal(d, url, &ask, "y\n");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("not waiting for a block"), "{text}");
    assert_eq!(next(&w), before + 1);

    refusals(d, url, &bob);
    node.terminate(20);
}

/// Every refusal, with its exit code, and nothing sent.
fn refusals(d: &Path, url: &str, bob: &str) {
    let w = |args: &[&str]| wallet(d, url, args, "");
    let send = |extra: &[&str]| {
        let mut args = vec!["--wallet", "alice", "send", "--yes"];
        args.extend_from_slice(extra);
        w(&args)
    };
    // Addresses: broken checksum, another chain's prefix, garbage.
    let mut broken = bob.to_string();
    let last = broken.pop().unwrap();
    broken.push(if last == 'q' { 'p' } else { 'q' });
    fails(&send(&["--to", &broken, "--amount", "1"]), 2, "checksum");
    let testnet = ferrite_core::dev::dev_key(5)
        .address()
        .to_bech32(&ferrite_core::AddressPrefix::new("tfe").unwrap());
    fails(
        &send(&["--to", &testnet, "--amount", "1"]),
        2,
        "is for prefix `tfe`, this chain uses `dfe`",
    );
    fails(
        &send(&["--to", "hello", "--amount", "1"]),
        2,
        "not an address",
    );
    // Amounts.
    fails(&send(&["--to", bob, "--amount=-1"]), 2, "negative");
    fails(&send(&["--to", bob, "--amount", "-1"]), 2, "negative");
    fails(
        &send(&["--to", bob, "--amount", "0.000000001"]),
        2,
        "decimal places",
    );
    fails(
        &send(&["--to", bob, "--amount", "184467440737.09551616"]),
        2,
        "larger",
    );
    fails(
        &send(&["--to", bob, "--amount", "1e3"]),
        2,
        "not a decimal number",
    );
    fails(&send(&["--to", bob, "--amount", "0"]), 2, "more than zero");
    // Flags.
    fails(&w(&["--frobnicate", "list"]), 2, "unexpected argument");
    fails(&w(&["send", "--to", bob]), 2, "--amount");
    // No terminal and no --yes: refuses before signing, and nothing is sent.
    let next = || ok_json(&w(&["--json", "--wallet", "alice", "balance"]))["next_nonce"].clone();
    let before = next();
    fails(
        &w(&["--wallet", "alice", "send", "--to", bob, "--amount", "1"]),
        2,
        "--yes",
    );
    assert_eq!(next(), before);
    // Help on every command.
    for cmd in [
        "new", "import", "list", "address", "balance", "send", "history", "tx", "export",
    ] {
        let out = w(&[cmd, "--help"]);
        assert!(out.status.success(), "{cmd}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: ferrite-wallet"));
    }
    let out = w(&["--help"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("10 cancelled at the confirmation prompt")
    );
    // Funds and node rules.
    // The wallet's own check, before signing (the node's refusal maps to the same code).
    fails(
        &send(&["--to", bob, "--amount", "100000000", "--no-wait"]),
        8,
        "can spend",
    );
    fails(
        &send(&[
            "--to",
            bob,
            "--amount",
            "1",
            "--fee",
            "0.00000001",
            "--no-wait",
        ]),
        7,
        "below the minimum",
    );
    // Sent, but the confirmations asked for cannot come within the timeout; scripts get
    // the txid to follow up.
    let out = send(&[
        "--json",
        "--to",
        bob,
        "--amount",
        "1",
        "--confirmations",
        "1000",
        "--timeout",
        "1",
    ]);
    fails(&out, 9, "not confirmed after 1 s");
    let last = String::from_utf8_lossy(&out.stderr);
    let e: Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    assert_eq!(e["error"], "not_confirmed");
    let txid = e["txid"].as_str().unwrap();
    assert_eq!(ok_json(&w(&["--json", "tx", txid]))["txid"], txid);
    // Wallets and passphrases.
    fails(&w(&["--wallet", "nobody", "address"]), 5, "no wallet named");
    std::fs::write(d.join("pass.txt"), "wrong\n").unwrap();
    fails(
        &send(&["--to", bob, "--amount", "1", "--no-wait"]),
        3,
        "wrong passphrase",
    );
    std::fs::write(d.join("pass.txt"), "correct horse battery\n").unwrap();
    let file = d.join("wallets").join("bob2.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let ct = v["ciphertext"].as_str().unwrap().to_string();
    let flipped = format!("{}{}", if &ct[..1] == "0" { "1" } else { "0" }, &ct[1..]);
    v["ciphertext"] = Value::String(flipped);
    std::fs::write(&file, v.to_string()).unwrap();
    fails(
        &w(&["--wallet", "bob2", "export"]),
        4,
        "corrupt or was tampered",
    );
    // One damaged file does not hide the other wallets.
    let v = ok_json(&w(&["--json", "list"]));
    let rows = v["wallets"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{v}");
    assert!(rows[0]["address"].is_string() && rows[1]["address"].is_string());
    assert!(
        rows[2]["address"].is_null() && rows[2]["error"].is_string(),
        "{v}"
    );
    // The node gone.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    fails(
        &wallet(d, &gone, &["--wallet", "alice", "balance"], ""),
        6,
        "cannot reach the node",
    );
    // JSON errors for scripts.
    let out = wallet(d, &gone, &["--json", "--wallet", "alice", "balance"], "");
    let e: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(e["error"], "node_unreachable");
    assert_eq!(e["exit_code"], 6);
    // A wallet can be made with no node running: it shows the public testnet's addresses.
    let offline = tempfile::tempdir().unwrap();
    std::fs::write(offline.path().join("pass.txt"), "pw\n").unwrap();
    let out = wallet(
        offline.path(),
        &gone,
        &["--json", "new", "--name", "carol"],
        "",
    );
    assert!(ok_json(&out)["address"]
        .as_str()
        .unwrap()
        .starts_with("tfe1"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no node answers"));
    let out = w(&["--json", "--frobnicate", "list"]);
    assert_eq!(out.status.code(), Some(2));
    let e: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(e["error"], "usage");
    assert!(
        e["message"].as_str().unwrap().contains("--frobnicate"),
        "{e}"
    );
}

/// A node that answers `GET` requests from `answers` (path, JSON body) and 404 otherwise, for
/// as long as the test runs; returns its URL.
fn fake_node(answers: Vec<(String, String)>) -> String {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_string();
            // Headers end at an empty line.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let (status, body) = match answers.iter().find(|(p, _)| *p == path) {
                Some((_, b)) => ("200 OK", b.clone()),
                None => (
                    "404 Not Found",
                    r#"{"error":"not_found","message":"no"}"#.into(),
                ),
            };
            let answer = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let mut conn = conn;
            let _ = conn.write_all(answer.as_bytes());
        }
    });
    url
}

#[test]
fn a_node_that_is_catching_up_gets_no_transfer_and_a_balance_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("pass.txt"), "correct horse battery staple\n").unwrap();
    let prefix = ferrite_core::AddressPrefix::new(ferrite_core::dev::DEV_PREFIX).unwrap();
    let address = ferrite_core::dev::dev_key(1).address().to_bech32(&prefix);
    // A node far behind its best header, answering in the API's own types.
    let info = ferrite_api::NodeInfo {
        version: "0.1.0".into(),
        commit: "unknown".into(),
        node_id: "12".repeat(32),
        chain: "ferrite-dev".into(),
        address_prefix: ferrite_core::dev::DEV_PREFIX.into(),
        decimals: 8,
        genesis: ferrite_core::Hash([0xab; 32]),
        tip: ferrite_api::TipInfo {
            height: 100,
            hash: ferrite_core::Hash([0xcd; 32]),
            chainwork: ferrite_core::Work::from_be_bytes(&[0; 32]),
        },
        best_header: ferrite_api::BestHeader {
            height: 5000,
            hash: ferrite_core::Hash([0xef; 32]),
        },
        syncing: true,
        peers: 3,
    };
    let account = ferrite_api::AddressInfo {
        address: address.clone(),
        balance: ferrite_api::Amount(1_000_000),
        nonce: 0,
        tx_count: 0,
        mempool: ferrite_api::PendingView {
            tx_count: 0,
            pending_delta: "0".into(),
            pending_spend: "0".into(),
            next_nonce: 0,
        },
    };
    let node = fake_node(vec![
        (
            "/api/node/info".into(),
            serde_json::to_string(&info).unwrap(),
        ),
        (
            format!("/api/address/{address}"),
            serde_json::to_string(&account).unwrap(),
        ),
    ]);
    // Send refuses before anything is signed (no wallet even exists here).
    let out = wallet(
        d,
        &node,
        &["send", "--to", &address, "--amount", "1", "--yes"],
        "",
    );
    fails(&out, 11, "still catching up (height 100 of 5000 known)");
    // Balance answers, says so on stderr, and marks its JSON.
    let out = wallet(d, &node, &["--json", "balance", &address], "");
    let v = ok_json(&out);
    assert_eq!(v["syncing"], true);
    assert_eq!(v["balance_units"], 1_000_000u64);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: the node is still catching up"),
        "{err}"
    );
    // A node with a block on its way (a header ahead, which it does not count as syncing):
    // no warning, `syncing` false.
    let mut synced = info.clone();
    synced.syncing = false;
    synced.best_header.height = 101;
    let node = fake_node(vec![
        (
            "/api/node/info".into(),
            serde_json::to_string(&synced).unwrap(),
        ),
        (
            format!("/api/address/{address}"),
            serde_json::to_string(&account).unwrap(),
        ),
    ]);
    let out = wallet(d, &node, &["--json", "balance", &address], "");
    assert_eq!(ok_json(&out)["syncing"], false);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("catching up"));
}

/// A transfer replaced by a higher fee while `send` waits for it: `send` stops waiting at once
/// with exit 12 naming the replacement, and `tx` says the same.
#[test]
fn send_stops_waiting_when_its_transfer_is_replaced() {
    use ferrite_core::encoding::{Decode, Encode};
    use ferrite_tests::http::{get, request};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    std::fs::write(d.join("pass.txt"), "correct horse battery\n").unwrap();
    // Not mining: the transfer stays pending until it is replaced.
    let node = Running::node(&[
        "--dev",
        "--mine",
        "false",
        "--data-dir",
        d.join("data").to_str().unwrap(),
    ]);
    let http = node.http_addr();
    let url = format!("http://{http}");
    let alice_key = ferrite_core::dev::dev_key(1);
    let secret = hex::encode(*alice_key.to_bytes());
    ok_json(&wallet(
        &d,
        &url,
        &["--json", "import", "--name", "alice"],
        &secret,
    ));
    let bob = ferrite_core::dev::dev_key(7)
        .address()
        .to_bech32(&ferrite_core::AddressPrefix::new("dfe").unwrap());
    let waiting = {
        let (d, url, bob) = (d.clone(), url.clone(), bob.clone());
        std::thread::spawn(move || {
            let args = [
                "--json",
                "--wallet",
                "alice",
                "send",
                "--to",
                &bob,
                "--amount",
                "2",
                "--yes",
                "--timeout",
                "120",
            ];
            wallet(&d, &url, &args, "")
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let sent = loop {
        let recent = get(http, "/api/mempool/recent").json();
        if let Some(txid) = recent[0]["txid"].as_str() {
            break txid.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the send never arrived"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let raw = get(http, &format!("/api/tx/{sent}/raw")).body;
    let old = ferrite_core::SignedTransaction::decode(&raw).expect("a signed transfer");
    let genesis: ferrite_core::Hash = get(http, "/api/node/info").json()["genesis"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let better = ferrite_core::Transaction {
        fee: old.tx.fee * 2,
        ..old.tx
    }
    .sign(&alice_key, &genesis);
    let r = request(
        http,
        "POST",
        "/api/tx",
        hex::encode(better.encode()).as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let out = waiting.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(12), "stderr: {err}");
    let v: Value = serde_json::from_slice(&out.stderr).unwrap_or_else(|e| panic!("{e}: {err}"));
    assert_eq!(v["error"], "dropped", "{v}");
    assert_eq!(v["txid"], sent.as_str(), "{v}");
    let message = v["message"].as_str().unwrap_or("");
    assert!(
        message.contains(&format!("replaced by {}", better.id())),
        "{v}"
    );
    let v = ok_json(&wallet(&d, &url, &["--json", "tx", &sent], ""));
    assert_eq!(v["dropped"]["reason"], "replaced", "{v}");
    assert_eq!(v["dropped"]["replaced_by"], better.id().to_string(), "{v}");
    let out = wallet(&d, &url, &["tx", &sent], "");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("status: dropped from the node's mempool: replaced by"),
        "{text}"
    );
    node.terminate(20);
}
