//! The HTTP explorer end to end: a real node holding a known generated chain, asked over a real
//! socket, with values checked against the chain as the test rebuilds it from the blocks the
//! node serves over P2P.

use std::net::SocketAddr;

use ferrite_core::encoding::Encode;
use ferrite_core::validation::{connect_block, ParentInfo};
use ferrite_core::{Address, AddressPrefix, Block, Genesis, GenesisConfig, State, Transaction};
use ferrite_tests::http::{get, request, EventStream};
use ferrite_tests::peer::WirePeer;
use ferrite_tests::{generate_chain, import_chain, Running};

#[path = "http/browser.rs"]
mod browser;
#[path = "http/document.rs"]
mod document;
#[path = "http/pages.rs"]
mod pages;

struct Fixture {
    node: Running,
    http: SocketAddr,
    genesis: Genesis,
    blocks: Vec<Block>,
    state: State,
    _dir: tempfile::TempDir,
}

/// A node with a generated chain of 30 blocks x 30 transfers, its explorer address, and the
/// chain replayed by the test with ferrite-core alone.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chain.bin");
    let data = dir.path().join("data");
    generate_chain(&file, 30, 30, 30);
    import_chain(&file, &data);
    let gpath = data.join("genesis.json");
    let genesis = GenesisConfig::from_json(&std::fs::read_to_string(&gpath).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let node = Running::node(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
    ]);
    let p2p = node.p2p_addr();
    let http = node.http_addr();
    let mut peer = WirePeer::observe(p2p, genesis.params.genesis_hash).unwrap();
    let view = peer.tip().unwrap();
    let ids: Vec<_> = view.headers.iter().map(|h| h.hash()).collect();
    let blocks = peer.blocks(&ids).unwrap();
    let state = replay(&genesis, &blocks);
    Fixture {
        node,
        http,
        genesis,
        blocks,
        state,
        _dir: dir,
    }
}

fn replay(g: &Genesis, blocks: &[Block]) -> State {
    let mut state = g.state.clone();
    let mut headers = vec![g.block.header];
    for b in blocks {
        let times: Vec<u64> = headers.iter().map(|h| h.timestamp).collect();
        let parent = ParentInfo::new(headers.last().unwrap(), &times);
        connect_block(&g.params, b, &parent, &mut state, u64::MAX / 2).unwrap();
        headers.push(b.header);
    }
    state
}

fn prefix() -> AddressPrefix {
    AddressPrefix::new(ferrite_core::dev::DEV_PREFIX).unwrap()
}

fn assert_error(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
    status: u16,
    code: &str,
) -> serde_json::Value {
    let r = request(addr, method, path, body);
    assert_eq!(r.status, status, "{method} {path}: {}", r.text());
    let v = r.json();
    assert_eq!(v["error"], code, "{method} {path}: {v}");
    v
}

#[test]
fn blocks_transactions_and_accounts_match_the_chain() {
    let f = fixture();
    let a = f.http;
    let tip = f.blocks.last().unwrap();
    assert_eq!(get(a, "/api/blocks/tip/height").text(), "30");
    let r = get(a, "/api/blocks/tip/hash");
    assert_eq!(r.text(), tip.hash().to_string());
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    // Every height maps to the right block.
    for b in &f.blocks {
        let r = get(a, &format!("/api/block-height/{}", b.header.height));
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), b.hash().to_string());
    }
    // A block's summary.
    let b = &f.blocks[4];
    let v = get(a, &format!("/api/block/{}", b.hash())).json();
    let p = prefix();
    assert_eq!(v["height"], 5);
    assert_eq!(v["previousblockhash"], f.blocks[3].hash().to_string());
    assert_eq!(v["merkle_root"], b.header.merkle_root.to_string());
    assert_eq!(v["state_root"], b.header.state_root.to_string());
    assert_eq!(v["timestamp"], b.header.timestamp);
    assert_eq!(v["tx_count"], 30);
    assert_eq!(v["size"], b.encoded_len());
    assert_eq!(v["miner"], b.header.miner.to_bech32(&p));
    assert_eq!(v["reward"], f.genesis.params.reward_at(5).to_string());
    let fees: u64 = b.txs.iter().map(|t| t.tx.fee).sum();
    assert_eq!(v["fees"], fees.to_string());
    assert_eq!(v["nonce"], b.header.nonce.to_string());
    assert_eq!(v["in_best_chain"], true);
    // Cacheable answers carry no confirmation count (it would go stale in caches).
    assert!(v.get("confirmations").is_none());
    let status = get(a, &format!("/api/block/{}/status", b.hash())).json();
    assert_eq!(status["in_best_chain"], true);
    assert_eq!(status["next_best"], f.blocks[5].hash().to_string());
    let tip_status = get(a, &format!("/api/block/{}/status", tip.hash())).json();
    assert_eq!(tip_status["next_best"], serde_json::Value::Null);
    let ids = get(a, &format!("/api/block/{}/txids", b.hash())).json();
    let want: Vec<String> = b.txs.iter().map(|t| t.id().to_string()).collect();
    assert_eq!(ids, serde_json::json!(want));
    let raw = get(a, &format!("/api/block/{}/raw", b.hash()));
    assert_eq!(raw.body, b.encode());
    // A transaction.
    let t = &b.txs[3];
    let v = get(a, &format!("/api/tx/{}", t.id())).json();
    assert_eq!(v["from"], t.tx.sender_address().to_bech32(&p));
    assert_eq!(v["to"], t.tx.recipient.to_bech32(&p));
    assert_eq!(v["amount"], t.tx.amount.to_string());
    assert_eq!(v["fee"], t.tx.fee.to_string());
    assert_eq!(v["nonce"], t.tx.nonce);
    assert_eq!(v["size"], 152);
    assert_eq!(v["status"]["confirmed"], true);
    assert_eq!(v["status"]["block_height"], 5);
    assert_eq!(v["status"]["block_hash"], b.hash().to_string());
    assert_eq!(v["status"]["position"], 3);
    assert!(v["status"].get("confirmations").is_none());
    let mut status = get(a, &format!("/api/tx/{}/status", t.id())).json();
    assert_eq!(status["confirmations"], 26);
    status.as_object_mut().unwrap().remove("confirmations");
    assert_eq!(status, v["status"]);
    assert_eq!(get(a, &format!("/api/tx/{}/raw", t.id())).body, t.encode());
    // Accounts agree with the replayed state.
    for (addr, acct) in f.state.iter().take(25) {
        let v = get(a, &format!("/api/address/{}", addr.to_bech32(&p))).json();
        assert_eq!(v["balance"], acct.balance.to_string(), "{v}");
        assert_eq!(v["nonce"], acct.nonce, "{v}");
        assert_eq!(v["mempool"]["next_nonce"], acct.nonce);
    }
    let info = get(a, "/api/node/info").json();
    assert_eq!(info["tip"]["height"], 30);
    assert_eq!(info["genesis"], f.genesis.params.genesis_hash.to_string());
    assert_eq!(info["address_prefix"], f.genesis.params.prefix.as_str());
    assert_eq!(info["decimals"], f.genesis.params.decimals);
    assert_eq!(get(a, "/healthy").status, 200);
    lists_pages_and_proofs(&f);
    address_histories(&f);
    node_endpoints(&f);
    document::every_answer_matches_its_schema(&f);
    document::a_wrong_answer_fails_the_check(&f);
    // Last: it adds a pending transfer.
    pages::every_page_shows_the_chain(&f);
    every_answer_kept_its_read_budget(&f);
    f.node.terminate(20);
}

/// After every page and API answer above: no route made more store reads in one answer than
/// its budget, though the chain's address histories and blocks are longer than a page.
fn every_answer_kept_its_read_budget(f: &Fixture) {
    use ferrite_node::http::budget::store_reads;
    let text = get(f.http, "/metrics").text();
    let mut most = std::collections::BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("ferrite_http_store_reads_max{route=\"") else {
            continue;
        };
        let (route, value) = rest.split_once("\"} ").expect("a labelled sample");
        most.insert(route.to_string(), value.parse::<u64>().expect("a count"));
    }
    for (route, reads) in &most {
        assert!(
            *reads <= store_reads(route),
            "{route}: an answer made {reads} store reads, over its budget of {}",
            store_reads(route)
        );
    }
    // The pages that list the most were all asked, and their reads were counted.
    for route in [
        "/",
        "/blocks",
        "/block/{hash}",
        "/tx/{txid}",
        "/address/{address}",
        "/charts",
        "/api/address/{address}/txs",
        "/api/block/{hash}/txs",
    ] {
        assert!(
            most.get(route).is_some_and(|&n| n > 0),
            "{route} not asked, or its reads not counted: {most:?}"
        );
    }
    // Charts over the whole 31-block chain read at least each block once.
    assert!(most["/charts"] >= 31, "{most:?}");
}

/// Block lists, transaction pages, merkle proofs.
fn lists_pages_and_proofs(f: &Fixture) {
    let a = f.http;
    let heights = |v: &serde_json::Value| -> Vec<u64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|b| b["height"].as_u64().unwrap())
            .collect()
    };
    let newest = get(a, "/api/blocks").json();
    assert_eq!(heights(&newest), (21..=30).rev().collect::<Vec<_>>());
    assert_eq!(newest[0]["id"], f.blocks[29].hash().to_string());
    assert_eq!(newest[9]["id"], f.blocks[20].hash().to_string());
    assert_eq!(
        newest[3],
        get(a, &format!("/api/block/{}", f.blocks[26].hash())).json()
    );
    assert_eq!(get(a, "/api/blocks/tip").json(), newest);
    let low = get(a, "/api/blocks/4").json();
    assert_eq!(heights(&low), vec![4, 3, 2, 1, 0]);
    assert_eq!(low[4]["id"], f.genesis.params.genesis_hash.to_string());
    assert_eq!(low[4]["tx_count"], 0);
    assert_error(a, "GET", "/api/blocks/31", &[], 404, "not_found");

    // Pages of a block's transactions, in block order, with their position.
    let b = &f.blocks[7];
    let page = get(a, &format!("/api/block/{}/txs", b.hash())).json();
    let page = page.as_array().unwrap();
    assert_eq!(page.len(), 25);
    for (i, t) in page.iter().enumerate() {
        assert_eq!(t["txid"], b.txs[i].id().to_string());
        assert_eq!(t["status"]["position"], i);
        assert_eq!(t["status"]["block_height"], 8);
    }
    let rest = get(a, &format!("/api/block/{}/txs/25", b.hash())).json();
    assert_eq!(rest.as_array().unwrap().len(), 5);
    assert_eq!(rest[4]["txid"], b.txs[29].id().to_string());
    assert_eq!(rest[4]["status"]["position"], 29);
    let tail = get(a, &format!("/api/block/{}/txs/7", b.hash())).json();
    let ids: Vec<&str> = tail
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["txid"].as_str().unwrap())
        .collect();
    let want: Vec<String> = b.txs[7..].iter().map(|t| t.id().to_string()).collect();
    assert_eq!(ids, want);
    assert_error(
        a,
        "GET",
        &format!("/api/block/{}/txs/30", b.hash()),
        &[],
        404,
        "not_found",
    );

    // A merkle proof the test verifies against the header it got over P2P.
    for (i, t) in b.txs.iter().enumerate() {
        let v = get(a, &format!("/api/tx/{}/merkle-proof", t.id())).json();
        assert_eq!(v["block_hash"], b.hash().to_string());
        assert_eq!(v["merkle_root"], b.header.merkle_root.to_string());
        let proof = ferrite_core::merkle::MerkleProof {
            index: v["pos"].as_u64().unwrap(),
            leaf_count: v["leaf_count"].as_u64().unwrap(),
            path: v["merkle"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_str().unwrap().parse().unwrap())
                .collect(),
        };
        assert_eq!(proof.index, i as u64);
        assert!(proof.verify(&t.id(), &b.header.merkle_root));
        assert!(!proof.verify(&b.txs[(i + 1) % 30].id(), &b.header.merkle_root));
    }
}

/// Every address's transfer count and its whole history, walked page by page with the
/// cursor, against the blocks.
fn address_histories(f: &Fixture) {
    let a = f.http;
    let p = prefix();
    let mut history: std::collections::HashMap<Address, Vec<String>> = Default::default();
    for b in &f.blocks {
        for t in &b.txs {
            for who in [t.tx.sender_address(), t.tx.recipient] {
                history.entry(who).or_default().push(t.id().to_string());
            }
        }
    }
    let mut walked_long = false;
    for (who, ids) in &history {
        let want: Vec<String> = ids.iter().rev().cloned().collect();
        let who = who.to_bech32(&p);
        let v = get(a, &format!("/api/address/{who}")).json();
        assert_eq!(v["tx_count"], want.len(), "{who}");
        let mut got: Vec<String> = Vec::new();
        let mut page = get(a, &format!("/api/address/{who}/txs")).json();
        for _ in 0..=want.len() / 25 {
            let entries = page.as_array().unwrap().clone();
            assert!(entries.len() <= 25);
            for e in &entries {
                assert_eq!(e["status"]["confirmed"], true);
                assert!(e["from"] == who.as_str() || e["to"] == who.as_str());
            }
            got.extend(
                entries
                    .iter()
                    .map(|e| e["txid"].as_str().unwrap().to_string()),
            );
            if entries.len() < 25 {
                break;
            }
            walked_long = true;
            let last = got.last().unwrap();
            page = get(a, &format!("/api/address/{who}/txs/chain/{last}")).json();
        }
        assert_eq!(got, want, "history of {who}");
    }
    assert!(walked_long, "no address needed a second page");
    // A cursor that is not this address's transfer.
    let (someone, ids) = history.iter().next().unwrap();
    let other = history
        .values()
        .flatten()
        .find(|id| !ids.contains(id))
        .unwrap();
    assert_error(
        a,
        "GET",
        &format!("/api/address/{}/txs/chain/{other}", someone.to_bech32(&p)),
        &[],
        404,
        "not_found",
    );
}

/// Polls `ok` for up to 10 s.
fn wait_until(ok: impl Fn() -> bool) {
    for _ in 0..100 {
        if ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("condition not met within 10 s");
}

/// Peers, readiness, fee estimates, metrics, the OpenAPI document.
fn node_endpoints(f: &Fixture) {
    let a = f.http;
    // The fixture's own peer connection is gone (or about to be).
    wait_until(|| get(a, "/api/peers").json() == serde_json::json!([]));
    let _peer = WirePeer::observe(f.node.p2p_addr(), f.genesis.params.genesis_hash).unwrap();
    let mut peers = serde_json::Value::Null;
    for _ in 0..50 {
        peers = get(a, "/api/peers").json();
        if peers.as_array().is_some_and(|p| !p.is_empty()) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(peers[0]["inbound"], true, "{peers}");
    assert!(peers[0]["addr"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(peers[0]["user_agent"].as_str().is_some());
    assert_eq!(get(a, "/api/node/info").json()["peers"], 1);

    let r = get(a, "/ready");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["tip_height"], 30);
    let fees = get(a, "/api/fee-estimates").json();
    for target in ["1", "2", "3", "6", "12", "24", "144"] {
        // Nothing pending: the mempool's minimum.
        assert_eq!(fees[target], "1000", "{fees}");
    }
    let doc = get(a, "/api/openapi.json").json();
    assert!(doc["paths"]["/api/block/{hash}"]["get"].is_object());

    let metrics = get(a, "/metrics");
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    let has = |line: &str| text.lines().any(|l| l == line);
    assert!(has("ferrite_chain_height 30"), "{text}");
    assert!(has("ferrite_peers 1"), "{text}");
    assert!(has("ferrite_mempool_txs 0"), "{text}");
    // Thirty blocks connected by the import (another process) do not count here; the
    // requests above do, by route pattern.
    assert!(
        text.lines().any(|l| l.starts_with(
            r#"ferrite_http_requests_total{route="/api/block-height/{height}",status="200"}"#
        )),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/api/blocks/{start_height}",status="404""#),
        "{text}"
    );
}

#[test]
fn bad_inputs_get_precise_errors_and_posted_transfers_enter_the_mempool() {
    let f = fixture();
    let a = f.http;
    let p = prefix();
    // Path parameters.
    let v = assert_error(a, "GET", "/api/block/xyz", &[], 400, "invalid_hash");
    assert_eq!(v["field"], "hash");
    let v = assert_error(a, "GET", "/api/tx/12", &[], 400, "invalid_hash");
    assert_eq!(v["field"], "txid");
    let v = assert_error(
        a,
        "GET",
        "/api/block-height/minus1",
        &[],
        400,
        "invalid_height",
    );
    assert_eq!(v["field"], "height");
    let v = assert_error(
        a,
        "GET",
        "/api/address/tfe1notanaddress",
        &[],
        400,
        "invalid_address",
    );
    assert_eq!(v["field"], "address");
    let zero = "0".repeat(64);
    assert_error(
        a,
        "GET",
        &format!("/api/block/{zero}"),
        &[],
        404,
        "not_found",
    );
    assert_error(a, "GET", &format!("/api/tx/{zero}"), &[], 404, "not_found");
    assert_error(a, "GET", "/api/block-height/31", &[], 404, "not_found");
    assert_error(a, "GET", "/api/nothing/here", &[], 404, "not_found");

    // POST tx: a valid transfer from a funded account, then every way to get it wrong.
    let (sender_i, acct) = (0..20u32)
        .map(|i| {
            let k = ferrite_core::dev::dev_key(i);
            (i, f.state.account(&k.address()))
        })
        .find(|(_, acct)| acct.balance > 1_000_000)
        .expect("a funded dev account");
    let key = ferrite_core::dev::dev_key(sender_i);
    let gh = f.genesis.params.genesis_hash;
    let make = |nonce: u64, amount: u64, fee: u64| {
        Transaction {
            sender: key.public_key(),
            recipient: Address([77; 32]),
            amount,
            fee,
            nonce,
        }
        .sign(&key, &gh)
    };
    let good = make(acct.nonce, 1_000, 10_000);
    let hexed = |t: &ferrite_core::SignedTransaction| hex::encode(t.encode());
    let r = request(a, "POST", "/api/tx", hexed(&good).as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), good.id().to_string());
    let v = get(a, &format!("/api/tx/{}", good.id())).json();
    assert_eq!(v["status"]["in_mempool"], true);
    let mp = get(a, "/api/mempool").json();
    assert_eq!(mp["count"], 1);
    assert_eq!(
        get(a, "/api/mempool/txids").json(),
        serde_json::json!([good.id().to_string()])
    );
    let me = get(a, &format!("/api/address/{}", key.address().to_bech32(&p))).json();
    assert_eq!(me["mempool"]["next_nonce"], acct.nonce + 1);
    assert_eq!(me["mempool"]["pending_delta"], "-11000");

    assert_eq!(me["mempool"]["pending_spend"], "11000");

    // Refused by a consensus or mempool rule: the message, and the rule by its stable name.
    let refused = |body: &[u8], rule: &str, needle: &str| {
        let v = assert_error(a, "POST", "/api/tx", body, 400, "rejected");
        assert_eq!(v["field"], "body");
        assert_eq!(v["rule"], rule, "{v}");
        let msg = v["message"].as_str().unwrap_or("").to_string();
        assert!(msg.contains(needle), "expected {needle:?} in {msg:?}");
    };
    // Refused before any rule (not hex, not a transfer): no rule named.
    let rejected = |body: &[u8], code: &str, needle: &str| {
        let v = assert_error(a, "POST", "/api/tx", body, 400, code);
        assert_eq!(v["field"], "body");
        assert!(v.get("rule").is_none(), "{v}");
        let msg = v["message"].as_str().unwrap_or("").to_string();
        assert!(msg.contains(needle), "expected {needle:?} in {msg:?}");
    };
    rejected(b"zz-not-hex", "invalid_hex", "hex");
    rejected(b"abcd", "invalid_tx", "signed transfer");
    refused(
        hexed(&good).as_bytes(),
        "duplicate",
        "already in the mempool",
    );
    let mut bad_sig = make(acct.nonce + 1, 1_000, 10_000);
    bad_sig.signature.0[0] ^= 1;
    refused(hexed(&bad_sig).as_bytes(), "bad_signature", "signature");
    let other_chain = Transaction {
        sender: key.public_key(),
        recipient: Address([77; 32]),
        amount: 1,
        fee: 10_000,
        nonce: acct.nonce + 1,
    }
    .sign(&key, &ferrite_core::Hash([9; 32]));
    refused(hexed(&other_chain).as_bytes(), "bad_signature", "signature");
    if acct.nonce > 0 {
        refused(
            hexed(&make(acct.nonce - 1, 1, 10_000)).as_bytes(),
            "nonce_too_low",
            "already used",
        );
    }
    refused(
        hexed(&make(acct.nonce + 1_000, 1, 10_000)).as_bytes(),
        "nonce_too_far",
        "ahead of the next nonce",
    );
    refused(
        hexed(&make(acct.nonce + 1, acct.balance, 10_000)).as_bytes(),
        "insufficient_balance",
        "cannot cover",
    );
    refused(
        hexed(&make(acct.nonce + 1, 1, 1)).as_bytes(),
        "fee_too_low",
        "below the minimum",
    );
    // Too large a body.
    let big = vec![b'a'; 100_000];
    assert_error(a, "POST", "/api/tx", &big, 413, "too_large");

    // The pending transfer in every view.
    let recent = get(a, "/api/mempool/recent").json();
    assert_eq!(recent[0]["txid"], good.id().to_string());
    assert_eq!(recent[0]["fee"], "10000");
    assert_eq!(
        get(a, "/api/mempool").json()["fee_histogram"],
        serde_json::json!([{"fee": "10000", "count": 1}])
    );
    let mine = get(
        a,
        &format!("/api/address/{}/txs", key.address().to_bech32(&p)),
    )
    .json();
    assert_eq!(mine[0]["txid"], good.id().to_string());
    assert_eq!(mine[0]["status"]["in_mempool"], true);
    assert_eq!(mine[1]["status"]["confirmed"], true);
    let payee = Address([77; 32]).to_bech32(&p);
    let theirs = get(a, &format!("/api/address/{payee}")).json();
    assert_eq!(theirs["mempool"]["tx_count"], 1);
    assert_eq!(theirs["mempool"]["pending_delta"], "1000");
    assert_eq!(theirs["mempool"]["pending_spend"], "0");
    assert_eq!(theirs["tx_count"], 0);
    let theirs = get(a, &format!("/api/address/{payee}/txs")).json();
    assert_eq!(theirs[0]["txid"], good.id().to_string());
    assert_error(
        a,
        "GET",
        &format!("/api/tx/{}/merkle-proof", good.id()),
        &[],
        404,
        "not_found",
    );
    let text = get(a, "/metrics").text();
    for line in [
        r#"ferrite_txs_total{result="accepted",reason=""} 1"#,
        r#"ferrite_txs_total{result="rejected",reason="duplicate"} 1"#,
        r#"ferrite_txs_total{result="rejected",reason="bad_signature"} 2"#,
        r#"ferrite_txs_total{result="rejected",reason="fee_too_low"} 1"#,
        "ferrite_mempool_txs 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in {text}");
    }
    // A transfer waiting behind a nonce gap: the next nonce to use is still the gap's.
    let gapped = make(acct.nonce + 2, 1_000, 10_000);
    let r = request(a, "POST", "/api/tx", hexed(&gapped).as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let me = get(a, &format!("/api/address/{}", key.address().to_bech32(&p))).json();
    assert_eq!(me["mempool"]["next_nonce"], acct.nonce + 1, "{me}");
    assert_eq!(me["mempool"]["tx_count"], 2, "{me}");
    every_path_parameter_is_checked(&f);
    f.node.terminate(20);
}

/// Malformed values of every path parameter, and other malformed requests.
fn every_path_parameter_is_checked(f: &Fixture) {
    let a = f.http;
    let p = prefix();
    let hash = f.blocks[0].hash();
    let txid = f.blocks[0].txs[0].id();
    let who = f.blocks[0].txs[0].tx.recipient.to_bech32(&p);
    let other_chain = f.blocks[0].txs[0]
        .tx
        .recipient
        .to_bech32(&AddressPrefix::new("xyz").unwrap());
    // A query parameter no operation declares is refused, named, not ignored.
    for path in [
        "/api/blocks?limit=2",
        &format!("/api/tx/{txid}?verbose&limit=1"),
    ] {
        let v = assert_error(a, "GET", path, &[], 400, "unknown_parameter");
        assert_eq!(v["field"], "query", "{v}");
        assert!(v["message"].as_str().unwrap().contains("\"limit\""), "{v}");
    }
    assert_eq!(get(a, "/api/blocks?").status, 200);
    let cases: Vec<(String, &str, &str)> = vec![
        ("/api/blocks/x".into(), "start_height", "invalid_height"),
        ("/api/blocks/+5".into(), "start_height", "invalid_height"),
        (
            "/api/blocks/99999999999999999999999".into(),
            "start_height",
            "invalid_height",
        ),
        ("/api/block-height/-1".into(), "height", "invalid_height"),
        ("/api/block-height/1.5".into(), "height", "invalid_height"),
        (
            format!("/api/block/{}", &hash.to_string()[1..]),
            "hash",
            "invalid_hash",
        ),
        ("/api/block/zz/status".into(), "hash", "invalid_hash"),
        ("/api/block/zz/txs".into(), "hash", "invalid_hash"),
        ("/api/block/zz/txs/0".into(), "hash", "invalid_hash"),
        (
            format!("/api/block/{hash}/txs/-1"),
            "start",
            "invalid_index",
        ),
        (
            format!("/api/block/{hash}/txs/abc"),
            "start",
            "invalid_index",
        ),
        ("/api/block/zz/txids".into(), "hash", "invalid_hash"),
        ("/api/block/zz/raw".into(), "hash", "invalid_hash"),
        ("/api/tx/zz/status".into(), "txid", "invalid_hash"),
        ("/api/tx/zz/raw".into(), "txid", "invalid_hash"),
        ("/api/tx/zz/merkle-proof".into(), "txid", "invalid_hash"),
        (
            format!("/api/address/{other_chain}"),
            "address",
            "invalid_address",
        ),
        ("/api/address/nope/txs".into(), "address", "invalid_address"),
        (
            format!("/api/address/{who}/txs/chain/zz"),
            "last_seen_txid",
            "invalid_hash",
        ),
        (
            format!("/api/address/nope/txs/chain/{txid}"),
            "address",
            "invalid_address",
        ),
        ("/api/block/%FF".into(), "path", "invalid_path"),
    ];
    for (path, field, code) in cases {
        let v = assert_error(a, "GET", &path, &[], 400, code);
        assert_eq!(v["field"], field, "{path}: {v}");
    }
    let zero = "0".repeat(64);
    for path in [
        format!("/api/block/{zero}/status"),
        format!("/api/block/{zero}/txs"),
        format!("/api/block/{zero}/txids"),
        format!("/api/block/{zero}/raw"),
        format!("/api/tx/{zero}/status"),
        format!("/api/tx/{zero}/raw"),
        format!("/api/tx/{zero}/merkle-proof"),
        format!("/api/address/{who}/txs/chain/{zero}"),
    ] {
        assert_error(a, "GET", &path, &[], 404, "not_found");
    }
    assert_error(a, "DELETE", "/api/tx", &[], 405, "method_not_allowed");
    assert_error(a, "POST", "/api/blocks", &[], 405, "method_not_allowed");
    assert_error(a, "POST", "/api/tx", &[0xff, 0xfe], 400, "invalid_hex");
}

#[test]
fn event_stream_reports_new_tips_and_transfers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let node = Running::node(&[
        "--dev",
        "--dev-block-time",
        "1",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let a = node.http_addr();
    let mut events = EventStream::open(a, "/api/events");
    assert_eq!(events.status, 200);
    // Tips as the dev node mines: each one block higher, its hash the block at that height.
    let mut last: Option<u64> = None;
    let mut tips = 0;
    while tips < 3 {
        let e = events.next(60).expect("a tip within a minute");
        if e.name != "tip" {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&e.data).unwrap();
        let height = v["height"].as_u64().unwrap();
        assert_eq!(v["reorg_depth"], 0, "{v}");
        assert_eq!(v["connected"].as_array().unwrap().len(), 1, "{v}");
        if let Some(prev) = last {
            assert_eq!(height, prev + 1, "{v}");
        }
        let at = get(a, &format!("/api/block-height/{height}"));
        assert_eq!(at.text(), v["hash"].as_str().unwrap(), "{v}");
        last = Some(height);
        tips += 1;
    }
    // A transfer posted over HTTP comes back as a `tx` event.
    let info = get(a, "/api/node/info").json();
    let chain_id: ferrite_core::Hash = info["genesis"].as_str().unwrap().parse().unwrap();
    let key = ferrite_core::dev::dev_key(1);
    let p = prefix();
    let me = get(a, &format!("/api/address/{}", key.address().to_bech32(&p))).json();
    let tx = Transaction {
        sender: key.public_key(),
        recipient: Address([5; 32]),
        amount: 1_000,
        fee: 5_000,
        nonce: me["mempool"]["next_nonce"].as_u64().unwrap(),
    }
    .sign(&key, &chain_id);
    let r = request(a, "POST", "/api/tx", hex::encode(tx.encode()).as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let want = serde_json::json!({"txid": tx.id().to_string()});
    let mut seen = false;
    while let Some(e) = events.next(30) {
        if e.name == "tx" {
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&e.data).unwrap(),
                want
            );
            seen = true;
            break;
        }
    }
    assert!(seen, "no tx event");
    assert_eq!(get(a, "/ready").status, 200);
    // Event streams are bounded per client: this one (127.0.0.1, already holding `events`)
    // gets 16 and then 429, while other clients still get theirs.
    let per_client = ferrite_node::http::MAX_EVENT_STREAMS_PER_CLIENT;
    let total = ferrite_node::http::MAX_EVENT_STREAMS;
    let here: Vec<EventStream> = (1..per_client)
        .map(|_| EventStream::open(a, "/api/events"))
        .collect();
    assert!(here.iter().all(|e| e.status == 200));
    let refused = EventStream::open(a, "/api/events");
    assert_eq!(refused.status, 429);
    let v = refused.body();
    assert_eq!(v["error"], "too_many_streams", "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{per_client} event streams")),
        "{v}"
    );
    // ... and bounded in all: clients 127.0.0.2, .3, ... fill the remaining slots (the
    // per-client limit does not stop them), and the next client gets 503.
    let client = |i: usize| {
        let i = u8::try_from(i).expect("few enough clients for one /24");
        std::net::IpAddr::from([127, 0, 0, i])
    };
    let clients = total / per_client;
    let mut others = Vec::new();
    for i in 2..=clients {
        for _ in 0..per_client {
            others.push(EventStream::open_from(a, "/api/events", client(i)));
        }
    }
    assert!(others.iter().all(|e| e.status == 200));
    assert_eq!(here.len() + 1 + others.len(), total);
    let full = EventStream::open_from(a, "/api/events", client(clients + 1));
    assert_eq!(full.status, 503);
    let v = full.body();
    assert_eq!(v["error"], "too_many_streams", "{v}");
    assert!(v["message"].as_str().unwrap().contains("too many"), "{v}");
    // Closed streams give their slots back, the client's and the shared ones.
    drop(others);
    drop(here);
    wait_until(|| {
        // The node notices closed connections shortly after; until then some are still held.
        let again: Vec<EventStream> = (1..per_client)
            .map(|_| EventStream::open(a, "/api/events"))
            .collect();
        again.iter().all(|e| e.status == 200)
    });
    let text = get(a, "/metrics").text();
    let connected = text
        .lines()
        .find_map(|l| l.strip_prefix(r#"ferrite_blocks_total{result="connected",reason=""} "#))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(connected.parse::<u64>().unwrap() >= 3, "{text}");
    let validated = text
        .lines()
        .find_map(|l| l.strip_prefix("ferrite_block_validation_seconds_count "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(validated.parse::<u64>().unwrap() >= 3, "{text}");
    node.terminate(20);
}

#[test]
fn a_node_alone_at_an_old_tip_is_not_ready_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    // A node of the public testnet with nobody to dial: at genesis, which is days old.
    let node = Running::node(&[
        "--data-dir",
        dir.path().join("testnet").to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
    ]);
    let r = get(node.http_addr(), "/ready");
    assert_eq!(r.status, 503);
    let v = r.json();
    assert_eq!(v["ready"], false);
    assert_eq!(
        v["reasons"],
        serde_json::json!(["no_peers", "stale_tip"]),
        "{v}"
    );
    assert_eq!(v["peers"], 0);
    assert!(v["tip_age_secs"].as_u64().unwrap() > 20 * 60, "{v}");
    let warned = node.wait_for_line("no peers connected and none to dial", 40);
    assert!(warned.is_some(), "{:#?}", node.lines());
    // A dev node is alone by design and mines a fresh chain: ready.
    let dev = Running::node(&[
        "--dev",
        "--data-dir",
        dir.path().join("dev").to_str().unwrap(),
    ]);
    let r = get(dev.http_addr(), "/ready");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["reasons"], serde_json::json!([]));
}
