//! The explorer in a real browser: headless Chromium driven over WebDriver (chromedriver)
//! against a mining dev node. Every page loads and shows what the API answers, links and search
//! lead where they should, the home page takes a new block without a reload, a transfer pasted
//! into the broadcast page appears and then confirms while its page is open, the CSV export
//! equals the history, and the home page fits a phone's width. Screenshots of each page go to
//! `target/browser-screenshots/`.
//!
//! Needs `chromium` and `chromium-driver`: scripts/test has scripts/setup install them
//! (`FERRITE_SETUP_BROWSER=1`) and sets `FERRITE_BROWSER_REQUIRED=1`, so that CI cannot skip
//! this test; run alone by cargo on a machine without chromedriver, it is skipped with a message.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use ferrite_core::encoding::Encode;
use ferrite_core::{Address, Hash, Transaction};
use ferrite_tests::http::get;
use ferrite_tests::Running;
use serde_json::Value;

use super::pages::coins;

/// How long a browser-side condition may take (a block comes every second on this node).
const PATIENCE: Duration = Duration::from_secs(30);

fn chromedriver() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("chromedriver"))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn screenshots() -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    // target/<profile>/deps/<test> -> target/browser-screenshots
    let target = exe
        .parent()
        .and_then(|p| p.parent())
        .and_then(|p| p.parent())
        .expect("target dir");
    let dir = target.join("browser-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

struct Browser {
    c: Client,
    http: SocketAddr,
    shots: PathBuf,
}

impl Browser {
    async fn open(&self, path: &str) {
        self.c
            .goto(&format!("http://{}{path}", self.http))
            .await
            .unwrap_or_else(|e| panic!("goto {path}: {e}"));
    }

    async fn shot(&self, name: &str) {
        let png = self.c.screenshot().await.expect("screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("write screenshot");
    }

    async fn text(&self, css: &str) -> String {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .expect("text")
    }

    async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .attr(name)
            .await
            .expect("attr")
    }

    async fn path(&self) -> String {
        let u = self.c.current_url().await.expect("url");
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    }

    /// Types `q` into the search box of the home page and submits it; the path the browser
    /// lands on.
    async fn search(&self, q: &str) -> String {
        self.open("/").await;
        let input = self
            .c
            .find(Locator::Css("form.search input[name=q]"))
            .await
            .expect("search box");
        input.clear().await.expect("clear");
        input.send_keys(q).await.expect("type");
        self.c
            .find(Locator::Css("form.search button"))
            .await
            .expect("search button")
            .click()
            .await
            .expect("submit");
        self.left("/").await
    }

    /// Waits until the browser has left `from` and the new page has loaded; its path.
    async fn left(&self, from: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let p = self.path().await;
            let ready = self
                .c
                .execute("return document.readyState;", vec![])
                .await
                .expect("readyState");
            if p != from && ready == "complete" {
                return p;
            }
            assert!(Instant::now() < deadline, "still at {from}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn api(a: SocketAddr, path: &str) -> Value {
    let r = get(a, path);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.json()
}

fn tip_height(a: SocketAddr) -> u64 {
    get(a, "/api/blocks/tip/height")
        .text()
        .parse()
        .expect("height")
}

#[test]
fn the_explorer_works_in_a_real_browser() {
    let Some(driver) = chromedriver() else {
        assert!(
            std::env::var_os("FERRITE_BROWSER_REQUIRED").is_none(),
            "FERRITE_BROWSER_REQUIRED is set but chromedriver is not on PATH"
        );
        eprintln!("skipped: no chromedriver on PATH (apt-get install chromium chromium-driver)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let node = Running::node(&[
        "--dev",
        "--dev-block-time",
        "1",
        // Leaves a core to the browser.
        "--mine-threads",
        "1",
        "--data-dir",
        data.to_str().expect("utf-8"),
        "--listen",
        "off",
        "--http",
        "127.0.0.1:0",
    ]);
    let http = node.http_addr();
    let port = free_port();
    let mut cmd = Command::new(driver);
    cmd.arg(format!("--port={port}"));
    let _driver = Running::spawn(cmd);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    while tip_height(http) < 3 {
        assert!(Instant::now() < deadline, "the dev node did not mine");
        std::thread::sleep(Duration::from_millis(100));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1000"],
            }),
        );
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("WebDriver session");
        let b = Browser {
            c,
            http,
            shots: screenshots(),
        };
        let t = Instant::now();
        home_takes_a_new_block_live(&b).await;
        eprintln!("live home: {:?}", t.elapsed());
        pages_show_what_the_api_answers(&b).await;
        eprintln!("pages: {:?}", t.elapsed());
        search_and_links(&b).await;
        eprintln!("search: {:?}", t.elapsed());
        broadcast_then_confirm(&b).await;
        eprintln!("broadcast: {:?}", t.elapsed());
        phone_width(&b).await;
        eprintln!("phone: {:?}", t.elapsed());
        b.c.clone().close().await.expect("close session");
    });
    node.terminate(20);
}

async fn home_takes_a_new_block_live(b: &Browser) {
    b.open("/").await;
    let first: u64 = b.text("#tip-height").await.parse().expect("height");
    // A mark that a reload would wipe.
    b.c.execute("window.ferriteMark = 1; return null;", vec![])
        .await
        .expect("mark");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now: u64 = b.text("#tip-height").await.parse().expect("height");
        if now > first {
            break;
        }
        assert!(Instant::now() < deadline, "the home page stayed at {first}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mark =
        b.c.execute("return window.ferriteMark === 1;", vec![])
            .await
            .expect("mark");
    assert_eq!(
        mark,
        Value::Bool(true),
        "the page reloaded instead of updating"
    );
    assert!(b.attr("body", "data-refreshed").await.is_some());
    b.shot("home").await;
}

async fn pages_show_what_the_api_answers(b: &Browser) {
    let a = b.http;
    // A block: its page shows the API's fields.
    let hash = get(a, "/api/block-height/2").text();
    let v = api(a, &format!("/api/block/{hash}"));
    b.open(&format!("/block/{hash}")).await;
    assert_eq!(b.text("h1").await, "Block 2");
    let body = b.text("main").await;
    for field in [
        "id",
        "merkle_root",
        "state_root",
        "nonce",
        "previousblockhash",
    ] {
        let want = v[field].as_str().expect("string field");
        assert!(body.contains(want), "block page lacks {field} {want}");
    }
    assert!(body.contains(&coins(
        v["reward"].as_str().expect("reward").parse().expect("u128")
    )));
    b.shot("block").await;
    // The blocks list starts at the tip of the moment it was loaded.
    let before = tip_height(a);
    b.open("/blocks").await;
    let after = tip_height(a);
    let rows =
        b.c.find_all(Locator::Css("main table tbody tr"))
            .await
            .expect("rows");
    let top: u64 = b
        .text("main table tbody tr td a")
        .await
        .parse()
        .expect("height");
    assert!((before..=after).contains(&top), "list starts at {top}");
    assert_eq!(rows.len() as u64, (top + 1).min(25));
    b.shot("blocks").await;
    // An address: the miner's balance as the API has it (read both at one tip).
    let miner = v["miner"].as_str().expect("miner").to_string();
    let mut tries = 0;
    let info = loop {
        tries += 1;
        assert!(tries < 20, "the tip moved on every try");
        let before = tip_height(a);
        b.open(&format!("/address/{miner}")).await;
        let shown = b.text("#balance").await;
        let info = api(a, &format!("/api/address/{miner}"));
        if tip_height(a) == before {
            break (shown, info);
        }
    };
    let want = coins(
        info.1["balance"]
            .as_str()
            .expect("balance")
            .parse()
            .expect("u128"),
    );
    assert_eq!(info.0, want);
    b.shot("address").await;
    for (path, name) in [
        ("/mempool", "mempool"),
        ("/charts", "charts"),
        ("/api", "api"),
    ] {
        b.open(path).await;
        assert!(!b.text("h1").await.is_empty(), "{path}");
        b.shot(name).await;
    }
    b.open("/charts").await;
    let points: u64 = b
        .attr("#block-time", "data-points")
        .await
        .and_then(|p| p.parse().ok())
        .expect("points");
    assert!(points >= 4, "charts drew {points} blocks");
}

async fn search_and_links(b: &Browser) {
    let a = b.http;
    let hash = get(a, "/api/block-height/1").text();
    assert_eq!(b.search("1").await, format!("/block/{hash}"));
    assert_eq!(b.search(&hash).await, format!("/block/{hash}"));
    // The parent link of block 1 leads to genesis.
    let genesis = get(a, "/api/block-height/0").text();
    b.c.find(Locator::Css(&format!("a[href='/block/{genesis}']")))
        .await
        .expect("parent link")
        .click()
        .await
        .expect("click");
    assert_eq!(
        b.left(&format!("/block/{hash}")).await,
        format!("/block/{genesis}")
    );
    let miner = api(a, &format!("/api/block/{hash}"))["miner"]
        .as_str()
        .expect("miner")
        .to_string();
    assert_eq!(b.search(&miner).await, format!("/address/{miner}"));
    // A typo: the not-found page keeps the query and names the checksum.
    let mut typo = miner.clone().into_bytes();
    let last = typo.len() - 1;
    typo[last] = if typo[last] == b'q' { b'p' } else { b'q' };
    let typo = String::from_utf8(typo).expect("ascii");
    b.search(&typo).await;
    assert!(b.text("#not-found").await.contains("checksum"));
    assert_eq!(
        b.attr("form.search input[name=q]", "value")
            .await
            .as_deref(),
        Some(typo.as_str())
    );
    b.shot("not-found").await;
}

async fn broadcast_then_confirm(b: &Browser) {
    let a = b.http;
    let key = ferrite_core::dev::dev_key(0);
    let info = api(a, "/api/node/info");
    let genesis: Hash = info["genesis"]
        .as_str()
        .expect("genesis")
        .parse()
        .expect("hash");
    let prefix = ferrite_core::AddressPrefix::new(info["address_prefix"].as_str().expect("prefix"))
        .expect("prefix");
    let me = key.address().to_bech32(&prefix);
    let acct = api(a, &format!("/api/address/{me}"));
    let nonce = acct["mempool"]["next_nonce"].as_u64().expect("nonce");
    let tx = Transaction {
        sender: key.public_key(),
        recipient: Address([42; 32]),
        amount: 12_345,
        fee: 10_000,
        nonce,
    }
    .sign(&key, &genesis);
    let hex: String = tx.encode().iter().map(|x| format!("{x:02x}")).collect();
    b.open("/broadcast").await;
    b.c.find(Locator::Css("#tx"))
        .await
        .expect("textarea")
        .send_keys(&hex)
        .await
        .expect("type");
    b.c.find(Locator::Css("form[action='/broadcast'] button"))
        .await
        .expect("button")
        .click()
        .await
        .expect("submit");
    let outcome =
        b.c.wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("#outcome"))
            .await
            .expect("outcome");
    assert_eq!(
        outcome.attr("data-state").await.expect("state").as_deref(),
        Some("accepted")
    );
    assert_eq!(b.text("#txid").await, tx.id().to_string());
    b.shot("broadcast").await;
    // Its page, left open, turns from pending to confirmed by itself.
    b.c.find(Locator::Css("#txid"))
        .await
        .expect("link")
        .click()
        .await
        .expect("click");
    b.left("/broadcast").await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let state = b.attr("#tx-status", "data-state").await;
        if state.as_deref() == Some("confirmed") {
            break;
        }
        assert!(
            matches!(state.as_deref(), Some("pending") | Some("confirmed")),
            "state {state:?}"
        );
        assert!(Instant::now() < deadline, "never confirmed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.shot("transfer").await;
    // The CSV export, fetched by the page itself, equals the API's history.
    b.open(&format!("/address/{me}")).await;
    let href = b.attr("#csv", "href").await.expect("csv link");
    let csv =
        b.c.execute_async(
            "const done = arguments[1]; \
             fetch(arguments[0]).then(r => r.text()).then(done, e => done('failed: ' + e));",
            vec![Value::String(href)],
        )
        .await
        .expect("fetch csv");
    let csv = csv.as_str().expect("text").to_string();
    assert!(csv.starts_with("txid,"), "{csv}");
    let ids: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap_or(""))
        .collect();
    let history = api(a, &format!("/api/address/{me}/txs"));
    let want: Vec<&str> = history
        .as_array()
        .expect("array")
        .iter()
        .filter(|e| e["status"]["confirmed"] == true)
        .map(|e| e["txid"].as_str().expect("txid"))
        .collect();
    assert_eq!(ids, want, "CSV export against the API's history");
    assert!(ids.contains(&tx.id().to_string().as_str()));
}

async fn phone_width(b: &Browser) {
    b.c.set_window_size(390, 844).await.expect("resize");
    for (path, name) in [("/", "home-phone"), ("/blocks", "blocks-phone")] {
        b.open(path).await;
        let wide =
            b.c.execute(
                "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
                vec![],
            )
            .await
            .expect("width");
        assert_eq!(
            wide,
            Value::Bool(true),
            "{path} scrolls sideways at phone width"
        );
        b.shot(name).await;
    }
}
