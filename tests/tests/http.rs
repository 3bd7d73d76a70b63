//! The HTTP explorer end to end: a real node holding a known generated chain, asked over a real
//! socket, with values checked against the chain as the test rebuilds it from the blocks the
//! node serves over P2P.

use std::net::SocketAddr;

use ferrite_core::encoding::Encode;
use ferrite_core::validation::{connect_block, ParentInfo};
use ferrite_core::{Address, AddressPrefix, Block, Genesis, GenesisConfig, State, Transaction};
use ferrite_tests::http::{get, request};
use ferrite_tests::peer::WirePeer;
use ferrite_tests::{generate_chain, import_chain, Running};

struct Fixture {
    node: Running,
    http: SocketAddr,
    genesis: Genesis,
    blocks: Vec<Block>,
    state: State,
    _dir: tempfile::TempDir,
}

/// A node with a generated chain of 30 blocks x 10 transfers, its explorer address, and the
/// chain replayed by the test with ferrite-core alone.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chain.bin");
    let data = dir.path().join("data");
    generate_chain(&file, 30, 10, 20);
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
    let line = node
        .wait_for_line("explorer: http://", 30)
        .unwrap_or_else(|| panic!("no explorer line: {:#?}", node.lines()));
    let http: SocketAddr = line
        .trim_start_matches("explorer: http://")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
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
    assert_eq!(v["tx_count"], 10);
    assert_eq!(v["size"], b.encoded_len());
    assert_eq!(v["miner"], b.header.miner.to_bech32(&p));
    assert_eq!(v["reward"], f.genesis.params.reward_at(5));
    let fees: u64 = b.txs.iter().map(|t| t.tx.fee).sum();
    assert_eq!(v["fees"], fees);
    assert_eq!(v["in_best_chain"], true);
    assert_eq!(v["confirmations"], 26);
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
    assert_eq!(v["amount"], t.tx.amount);
    assert_eq!(v["fee"], t.tx.fee);
    assert_eq!(v["nonce"], t.tx.nonce);
    assert_eq!(v["size"], 152);
    assert_eq!(v["status"]["confirmed"], true);
    assert_eq!(v["status"]["block_height"], 5);
    assert_eq!(v["status"]["block_hash"], b.hash().to_string());
    assert_eq!(v["status"]["position"], 3);
    assert_eq!(v["status"]["confirmations"], 26);
    assert_eq!(
        get(a, &format!("/api/tx/{}/status", t.id())).json(),
        v["status"]
    );
    assert_eq!(get(a, &format!("/api/tx/{}/raw", t.id())).body, t.encode());
    // Accounts agree with the replayed state.
    for (addr, acct) in f.state.iter().take(25) {
        let v = get(a, &format!("/api/address/{}", addr.to_bech32(&p))).json();
        assert_eq!(v["balance"], acct.balance, "{v}");
        assert_eq!(v["nonce"], acct.nonce, "{v}");
        assert_eq!(v["mempool"]["next_nonce"], acct.nonce);
    }
    let info = get(a, "/api/node/info").json();
    assert_eq!(info["tip"]["height"], 30);
    assert_eq!(info["genesis"], f.genesis.params.genesis_hash.to_string());
    assert_eq!(get(a, "/healthy").status, 200);
    f.node.terminate(20);
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

    let rejected = |body: &[u8], code: &str, needle: &str| {
        let v = assert_error(a, "POST", "/api/tx", body, 400, code);
        assert_eq!(v["field"], "body");
        let msg = v["message"].as_str().unwrap_or("").to_string();
        assert!(msg.contains(needle), "expected {needle:?} in {msg:?}");
    };
    rejected(b"zz-not-hex", "invalid_hex", "hex");
    rejected(b"abcd", "invalid_tx", "signed transfer");
    rejected(
        hexed(&good).as_bytes(),
        "rejected",
        "already in the mempool",
    );
    let mut bad_sig = make(acct.nonce + 1, 1_000, 10_000);
    bad_sig.signature.0[0] ^= 1;
    rejected(hexed(&bad_sig).as_bytes(), "rejected", "signature");
    let other_chain = Transaction {
        sender: key.public_key(),
        recipient: Address([77; 32]),
        amount: 1,
        fee: 10_000,
        nonce: acct.nonce + 1,
    }
    .sign(&key, &ferrite_core::Hash([9; 32]));
    rejected(hexed(&other_chain).as_bytes(), "rejected", "signature");
    if acct.nonce > 0 {
        rejected(
            hexed(&make(acct.nonce - 1, 1, 10_000)).as_bytes(),
            "rejected",
            "already used",
        );
    }
    rejected(
        hexed(&make(acct.nonce + 1_000, 1, 10_000)).as_bytes(),
        "rejected",
        "ahead of the next nonce",
    );
    rejected(
        hexed(&make(acct.nonce + 1, acct.balance, 10_000)).as_bytes(),
        "rejected",
        "cannot cover",
    );
    rejected(
        hexed(&make(acct.nonce + 1, 1, 1)).as_bytes(),
        "rejected",
        "below the minimum",
    );
    // Too large a body.
    let big = vec![b'a'; 100_000];
    assert_eq!(request(a, "POST", "/api/tx", &big).status, 413);
    f.node.terminate(20);
}
