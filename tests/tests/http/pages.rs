//! The explorer's HTML pages over a real socket, against the same node and replayed chain as the
//! API tests: each page shows what the API answers, links lead to the right pages, search
//! resolves every kind of query, the CSV export equals the history, bad parameters get the API's
//! error codes, and assets and pages carry their cache and compression headers.

use std::net::SocketAddr;

use ferrite_core::encoding::Encode;
use ferrite_core::{Address, Transaction};
use ferrite_tests::http::{get, request_over, Response};

use super::{prefix, Fixture};

/// The node's decimals for the dev chain, as the page footer states.
const DECIMALS: u32 = 8;

/// A page, checked to be a 200 HTML answer.
fn page(a: SocketAddr, path: &str) -> String {
    let r = get(a, path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{path}: {:?}",
        r.header("content-type")
    );
    r.text()
}

/// The text of the element carrying `id="{id}"` (up to its first child tag or its end).
fn by_id(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the page"));
    let start = at + html[at..].find('>').expect("end of tag") + 1;
    let end = start + html[start..].find('<').expect("next tag");
    html[start..end].to_string()
}

/// An attribute of the element carrying `id="{id}"`.
fn attr_of(html: &str, id: &str, name: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the page"));
    let tag_start = html[..at].rfind('<').expect("tag start");
    let tag = &html[tag_start..at + html[at..].find('>').expect("end of tag")];
    let key = format!("{name}=\"");
    let v = tag
        .find(&key)
        .unwrap_or_else(|| panic!("#{id} has no {name}: {tag}"));
    let rest = &tag[v + key.len()..];
    rest[..rest.find('"').expect("closing quote")].to_string()
}

/// The text of a field table's cell labelled `label`, tags removed.
fn row(html: &str, label: &str) -> String {
    let key = format!("<th>{label}</th><td");
    let at = html
        .find(&key)
        .unwrap_or_else(|| panic!("no row {label:?} in the page"));
    let start = at + html[at..].find('>').expect("th end") + 1;
    let cell_start = start + html[start..].find('>').expect("td end") + 1;
    let end = cell_start + html[cell_start..].find("</td>").expect("td close");
    strip_tags(&html[cell_start..end])
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in s.chars() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

/// Base units as the pages write coins: grouped whole part, fraction without trailing zeros.
pub(super) fn coins(units: u128) -> String {
    let scale = 10u128.pow(DECIMALS);
    let whole = grouped(units / scale);
    let frac = units % scale;
    if frac == 0 {
        return whole;
    }
    let f = format!("{frac:08}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

/// `n` with a comma between groups of three digits.
fn grouped(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Where a 303 answer sends the browser.
fn redirect(a: SocketAddr, path: &str) -> String {
    let r = get(a, path);
    assert_eq!(r.status, 303, "{path}: {}", r.text());
    r.header("location").expect("location").to_string()
}

fn with_headers(a: SocketAddr, path: &str, headers: &str) -> Response {
    // The helper writes its own head; extra headers ride in a raw request here.
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(a).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    let head = format!("GET {path} HTTP/1.1\r\nHost: {a}\r\n{headers}Connection: close\r\n\r\n");
    s.write_all(head.as_bytes()).expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("head");
    let text = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status");
    Response {
        status,
        headers: lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect(),
        body: raw[split + 4..].to_vec(),
    }
}

/// Every page against the chain the test replayed.
pub(super) fn every_page_shows_the_chain(f: &Fixture) {
    home_and_assets(f);
    block_pages(f);
    transfer_and_address_pages(f);
    search_and_errors(f);
    other_pages(f);
}

fn home_and_assets(f: &Fixture) {
    let a = f.http;
    let home = page(a, "/");
    let tip = f.blocks.last().expect("blocks");
    assert_eq!(by_id(&home, "tip-height"), "30");
    assert_eq!(
        attr_of(&home, "tip-height", "href"),
        format!("/block/{}", tip.hash())
    );
    assert_eq!(by_id(&home, "mempool-count"), "0");
    assert!(home.contains("data-live=\"tip tx\""), "home is not live");
    assert!(
        home.contains("ferrite-dev"),
        "the chain's name is not shown"
    );
    // The ten newest blocks, newest first.
    let mut at = 0;
    for b in f.blocks.iter().rev().take(10) {
        let link = format!("href=\"/block/{}\"", b.hash());
        let found = home[at..]
            .find(&link)
            .unwrap_or_else(|| panic!("block {} missing or out of order", b.header.height));
        at += found + link.len();
    }
    assert!(!home.contains(&format!("/block/{}", f.blocks[18].hash())));
    // The ten newest confirmed transfers: the tip block's last ten, newest first.
    let mut at = 0;
    for t in tip.txs.iter().rev().take(10) {
        let link = format!("href=\"/tx/{}\"", t.id());
        let found = home[at..]
            .find(&link)
            .unwrap_or_else(|| panic!("transfer {} missing or out of order", t.id()));
        at += found + link.len();
    }
    assert!(!home.contains(&format!("/tx/{}", tip.txs[19].id())));
    // Compressed when asked, and never cached.
    let gz = with_headers(a, "/", "Accept-Encoding: gzip\r\n");
    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.header("cache-control"), Some("no-cache"));
    // Assets named by their digest, cached for a year; an unknown one is a 404.
    let css = home
        .split("href=\"")
        .filter_map(|s| s.split('"').next())
        .find(|h| h.starts_with("/assets/") && h.ends_with(".css"))
        .expect("a stylesheet link");
    let r = get(a, css);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(get(a, "/assets/style.00000000.css").status, 404);
}

fn block_pages(f: &Fixture) {
    let a = f.http;
    let b = &f.blocks[4];
    let html = page(a, &format!("/block/{}", b.hash()));
    assert_eq!(row(&html, "Height"), "5");
    assert_eq!(row(&html, "Id"), b.hash().to_string());
    assert_eq!(row(&html, "Nonce"), b.header.nonce.to_string());
    assert_eq!(row(&html, "Merkle root"), b.header.merkle_root.to_string());
    assert_eq!(row(&html, "State digest"), b.header.state_root.to_string());
    assert_eq!(row(&html, "Transfers"), "30");
    assert_eq!(
        row(&html, "Reward"),
        coins(f.genesis.params.reward_at(5).into())
    );
    let fees: u64 = b.txs.iter().map(|t| t.tx.fee).sum();
    assert_eq!(row(&html, "Fees"), coins(fees.into()));
    assert!(row(&html, "Parent").contains(&f.blocks[3].hash().to_string()));
    assert!(row(&html, "Next").contains(&f.blocks[5].hash().to_string()));
    assert!(row(&html, "Size").contains(&format!("({} bytes)", grouped(b.encoded_len() as u128))));
    // Transfers 25 per page: the first page holds the first 25, the second the rest.
    for t in &b.txs[..25] {
        assert!(html.contains(&format!("/tx/{}", t.id())), "tx on page 1");
    }
    assert!(!html.contains(&format!("/tx/{}", b.txs[25].id())));
    let second = page(a, &format!("/block/{}?start=25", b.hash()));
    for t in &b.txs[25..] {
        assert!(second.contains(&format!("/tx/{}", t.id())), "tx on page 2");
    }
    assert!(!second.contains(&format!("/tx/{}", b.txs[0].id())));
    // Heights redirect to their block; the lists page back from any height.
    assert_eq!(
        redirect(a, "/height/3"),
        format!("/block/{}", f.blocks[2].hash())
    );
    let low = page(a, "/blocks/4");
    for h in &f.blocks[..4] {
        assert!(low.contains(&format!("/block/{}", h.hash())));
    }
    assert!(!low.contains(&format!("/block/{}", f.blocks[4].hash())));
    let list = page(a, "/blocks");
    for h in f.blocks.iter().rev().take(25) {
        assert!(list.contains(&format!("/block/{}", h.hash())));
    }
    assert!(!list.contains(&format!("/block/{}", f.blocks[4].hash())));
}

fn transfer_and_address_pages(f: &Fixture) {
    let a = f.http;
    let p = prefix();
    let b = &f.blocks[4];
    let t = &b.txs[3];
    let html = page(a, &format!("/tx/{}", t.id()));
    assert_eq!(attr_of(&html, "tx-status", "data-state"), "confirmed");
    assert_eq!(by_id(&html, "confirmations"), "26");
    assert_eq!(by_id(&html, "amount"), coins(t.tx.amount.into()));
    assert_eq!(row(&html, "Nonce"), t.tx.nonce.to_string());
    assert!(row(&html, "From").contains(&short(&t.tx.sender_address().to_bech32(&p))));
    assert!(html.contains(&format!("href=\"/block/{}\"", b.hash())));
    // The proof's root is the block's.
    assert_eq!(row(&html, "Merkle root"), b.header.merkle_root.to_string());
    // An address: balance and count as the replayed state and chain have them, CSV = history.
    let who = t.tx.sender_address();
    let acct = f.state.account(&who);
    let bech = who.to_bech32(&p);
    let html = page(a, &format!("/address/{bech}"));
    assert_eq!(by_id(&html, "balance"), coins(acct.balance.into()));
    let mut history: Vec<String> = Vec::new();
    for blk in f.blocks.iter().rev() {
        for tx in blk.txs.iter().rev() {
            if tx.tx.sender_address() == who || tx.tx.recipient == who {
                history.push(tx.id().to_string());
            }
        }
    }
    assert_eq!(by_id(&html, "tx-count"), history.len().to_string());
    let csv = get(a, &attr_of(&html, "csv", "href"));
    assert_eq!(csv.status, 200);
    assert!(csv
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/csv")));
    // Compressed, the stream still ends properly (a chunked body's last chunk).
    let gz = with_headers(
        a,
        &attr_of(&html, "csv", "href"),
        "Accept-Encoding: gzip\r\n",
    );
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert!(gz.body.ends_with(b"0\r\n\r\n"), "compressed CSV cut short");
    let text = csv.text();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("txid,block_height,block_hash,block_time,position,direction,from,to,amount,fee,nonce")
    );
    let rows: Vec<&str> = lines.collect();
    let ids: Vec<String> = rows
        .iter()
        .map(|l| l.split(',').next().unwrap_or("").to_string())
        .collect();
    assert_eq!(ids, history, "CSV rows are the history, newest first");
    let mine = rows
        .iter()
        .find(|l| l.starts_with(&t.id().to_string()))
        .expect("the transfer's row");
    let cols: Vec<&str> = mine.split(',').collect();
    assert_eq!(cols[1], "5");
    assert_eq!(cols[2], b.hash().to_string());
    assert_eq!(cols[4], "3");
    assert_eq!(cols[5], "out");
    assert_eq!(cols[8], coins(t.tx.amount.into()).replace(',', ""));
    assert_eq!(cols[10], t.tx.nonce.to_string());
}

fn short(s: &str) -> String {
    format!("{}…{}", &s[..8], &s[s.len() - 8..])
}

fn search_and_errors(f: &Fixture) {
    let a = f.http;
    let p = prefix();
    let b = &f.blocks[6];
    let t = &b.txs[0];
    assert_eq!(redirect(a, "/search?q=7"), format!("/block/{}", b.hash()));
    assert_eq!(
        redirect(a, &format!("/search?q={}", b.hash())),
        format!("/block/{}", b.hash())
    );
    assert_eq!(
        redirect(a, &format!("/search?q=%20{}%20", t.id())),
        format!("/tx/{}", t.id())
    );
    let who = t.tx.recipient.to_bech32(&p);
    assert_eq!(
        redirect(a, &format!("/search?q={who}")),
        format!("/address/{who}")
    );
    // A typo in an address: not found, the query kept, the checksum named.
    let mut typo = who.clone().into_bytes();
    let last = typo.len() - 1;
    typo[last] = if typo[last] == b'q' { b'p' } else { b'q' };
    let typo = String::from_utf8(typo).expect("ascii");
    let r = get(a, &format!("/search?q={typo}"));
    assert_eq!(r.status, 404);
    let html = r.text();
    assert!(html.contains("id=\"not-found\""));
    assert!(
        html.contains(&format!("value=\"{typo}\"")),
        "query not kept"
    );
    assert!(html.to_lowercase().contains("checksum"), "{html}");
    let r = get(a, "/search?q=31");
    assert_eq!(r.status, 404, "a height above the tip");
    // Bad parameters: the API's codes, in a page.
    let r = get(a, "/blocks?limit=2");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("unknown_parameter") && r.text().contains("limit"));
    let r = get(a, &format!("/block/{}?start=x", b.hash()));
    assert_eq!(r.status, 400);
    let r = get(a, "/tx/12");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("invalid_hash"));
    // A path segment that is not UTF-8: the API's code, in a page.
    let r = get(a, "/block/%FF");
    assert_eq!(r.status, 400);
    assert!(r
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/html")));
    // A method a page does not take: 405, as a page.
    let r = ferrite_tests::http::request(a, "POST", "/blocks", b"");
    assert_eq!(r.status, 405);
    assert!(r
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/html")));
    assert!(r.text().contains("method_not_allowed"));
    let r = get(a, "/nowhere");
    assert_eq!(r.status, 404);
    assert!(r
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/html")));
    let r = get(a, "/api/nowhere");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "not_found");
}

fn other_pages(f: &Fixture) {
    let a = f.http;
    let html = page(a, "/mempool");
    assert!(html.contains("id=\"fee-histogram\""));
    let html = page(a, "/charts");
    for id in ["block-time", "difficulty", "transfers"] {
        // One point per block, genesis included.
        assert_eq!(attr_of(&html, id, "data-points"), "31", "{id}");
    }
    let html = page(a, "/api");
    let doc = get(a, "/api/openapi.json").json();
    for path in doc["paths"].as_object().expect("paths").keys() {
        assert!(html.contains(path.as_str()), "{path} missing");
    }
    // Broadcast: a broken transfer names its error; a good one is accepted with its id.
    let body = b"tx=00ff".to_vec();
    let s = std::net::TcpStream::connect(a).expect("connect");
    let r = request_over(s, a, "POST", "/broadcast", &body);
    assert_eq!(r.status, 400, "{}", r.text());
    let html = r.text();
    assert!(!by_id(&html, "error-code").is_empty());
    assert_eq!(attr_of(&html, "outcome", "data-state"), "refused");
    let (i, acct) = (0..20u32)
        .map(|i| (i, f.state.account(&ferrite_core::dev::dev_key(i).address())))
        .find(|(_, acct)| acct.balance > 1_000_000)
        .expect("a funded dev account");
    let key = ferrite_core::dev::dev_key(i);
    let tx = Transaction {
        sender: key.public_key(),
        recipient: Address([91; 32]),
        amount: 1_000,
        fee: 10_000,
        nonce: acct.nonce,
    }
    .sign(&key, &f.genesis.params.genesis_hash);
    let hex: String = tx.encode().iter().map(|b| format!("{b:02x}")).collect();
    let s = std::net::TcpStream::connect(a).expect("connect");
    let r = request_over(s, a, "POST", "/broadcast", format!("tx={hex}").as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let html = r.text();
    assert_eq!(attr_of(&html, "outcome", "data-state"), "accepted");
    assert_eq!(by_id(&html, "txid"), tx.id().to_string());
    let html = page(a, &format!("/tx/{}", tx.id()));
    assert_eq!(attr_of(&html, "tx-status", "data-state"), "pending");
    let home = page(a, "/");
    assert_eq!(by_id(&home, "mempool-count"), "1");
    // The same transfer again is refused with the rule that refused it.
    let s = std::net::TcpStream::connect(a).expect("connect");
    let r = request_over(s, a, "POST", "/broadcast", format!("tx={hex}").as_bytes());
    assert_ne!(r.status, 200);
    assert!(!by_id(&r.text(), "rule").is_empty());
    a_replaced_transfer_says_by_which(f, tx);
}

/// A pending transfer replaced by a higher fee is not "unknown": the API and its page say it
/// was replaced, by which transfer, and the API's answer fits the document.
fn a_replaced_transfer_says_by_which(f: &Fixture, old: ferrite_core::SignedTransaction) {
    let a = f.http;
    let key = (0..20u32)
        .map(ferrite_core::dev::dev_key)
        .find(|k| k.public_key() == old.tx.sender)
        .expect("the sender is a dev key");
    let better = Transaction {
        fee: old.tx.fee * 2,
        ..old.tx
    }
    .sign(&key, &f.genesis.params.genesis_hash);
    let hex: String = better.encode().iter().map(|b| format!("{b:02x}")).collect();
    let r = ferrite_tests::http::request(a, "POST", "/api/tx", hex.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    let v = get(a, &format!("/api/tx/{}", old.id())).json();
    super::document::check_answer(f, "/api/tx/{txid}", &v);
    assert_eq!(v["txid"], old.id().to_string());
    assert_eq!(v["status"]["in_mempool"], false, "{v}");
    let dropped = &v["status"]["dropped"];
    assert_eq!(dropped["reason"], "replaced", "{v}");
    assert_eq!(dropped["replaced_by"], better.id().to_string(), "{v}");
    assert!(dropped.get("after").is_none(), "{v}");
    let status = get(a, &format!("/api/tx/{}/status", old.id())).json();
    super::document::check_answer(f, "/api/tx/{txid}/status", &status);
    assert_eq!(&status, &v["status"]);
    let html = page(a, &format!("/tx/{}", old.id()));
    assert_eq!(attr_of(&html, "tx-status", "data-state"), "dropped");
    assert_eq!(attr_of(&html, "tx-status", "data-reason"), "replaced");
    assert!(
        html.contains(&format!("/tx/{}", better.id())),
        "no link to the replacement"
    );
    let html = page(a, &format!("/tx/{}", better.id()));
    assert_eq!(attr_of(&html, "tx-status", "data-state"), "pending");
    // Search finds the dropped transfer too.
    assert_eq!(
        redirect(a, &format!("/search?q={}", old.id())),
        format!("/tx/{}", old.id())
    );
}
