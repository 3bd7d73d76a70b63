//! The node client: the few HTTP explorer calls the wallet makes (docs/http.md), with their
//! answers checked for shape. The node is never given a key; it only sees signed transfers.

use std::time::Duration;

use serde::de::DeserializeOwned;

use ferrite_core::genesis::MAX_DECIMALS;

use crate::error::WalletError;

/// Time to connect to the node.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for a whole request: the explorer answers in milliseconds, so this only cuts off a
/// node that hangs.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read: history pages are tens of KiB.
const MAX_ANSWER_BYTES: u64 = 8 * 1024 * 1024;
/// Longest piece of a node's error text shown: one line on a terminal, whatever the node sent.
const MAX_MESSAGE_CHARS: usize = 300;

pub use ferrite_api::{AddressInfo, NodeInfo, Tx, TxStatus};

/// `Some((tip height, best header height))` while the node says it is catching up.
pub fn catching_up(info: &NodeInfo) -> Option<(u64, u64)> {
    info.syncing
        .then_some((info.tip.height, info.best_header.height))
}

/// A node at a base URL.
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client for the node at `url` (e.g. `http://127.0.0.1:9734`).
    pub fn new(url: &str) -> Result<Client, WalletError> {
        let base = url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(WalletError::Usage(format!(
                "--node {url}: expected an http:// or https:// URL such as http://127.0.0.1:9734"
            )));
        }
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build();
        Ok(Client { base, agent })
    }

    /// The node's URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> WalletError {
        WalletError::Unreachable {
            url: self.base.clone(),
            reason: e.to_string(),
        }
    }

    /// Turns a ureq result into the body text, or the wallet error for the failure.
    fn finish(&self, r: Result<ureq::Response, ureq::Error>) -> Result<String, WalletError> {
        match r {
            Ok(resp) => self.read(resp),
            Err(ureq::Error::Status(status, resp)) => {
                let body = self.read(resp).unwrap_or_default();
                Err(node_error(status, &body))
            }
            Err(ureq::Error::Transport(t)) => Err(self.unreachable(t)),
        }
    }

    fn read(&self, resp: ureq::Response) -> Result<String, WalletError> {
        use std::io::Read;
        let mut body = Vec::new();
        resp.into_reader()
            .take(MAX_ANSWER_BYTES)
            .read_to_end(&mut body)
            .map_err(|e| self.unreachable(e))?;
        // The connection worked; what came over it is the node's fault, not the network's.
        String::from_utf8(body).map_err(|_| WalletError::Node("the answer is not UTF-8".into()))
    }

    /// `GET path` as text, within `limit` if given; `None` on 404.
    fn fetch(&self, path: &str, limit: Option<Duration>) -> Result<Option<String>, WalletError> {
        let mut request = self.agent.get(&format!("{}{path}", self.base));
        if let Some(limit) = limit {
            request = request.timeout(limit.min(REQUEST_TIMEOUT));
        }
        match request.call() {
            Err(ureq::Error::Status(404, _)) => Ok(None),
            r => self.finish(r).map(Some),
        }
    }

    /// `GET path` as JSON of type `T`; `None` if the node answers 404 (it does not know it).
    pub fn get_opt<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, WalletError> {
        self.get_within(path, None)
    }

    /// [`Client::get_opt`] within `limit`.
    fn get_within<T: DeserializeOwned>(
        &self,
        path: &str,
        limit: Option<Duration>,
    ) -> Result<Option<T>, WalletError> {
        let Some(body) = self.fetch(path, limit)? else {
            return Ok(None);
        };
        serde_json::from_str(&body)
            .map(Some)
            .map_err(|e| WalletError::Node(format!("unexpected answer to {path}: {e}")))
    }

    /// `GET path` as JSON of type `T`.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, WalletError> {
        self.get_opt(path)?
            .ok_or_else(|| WalletError::Node(format!("{path}: not found")))
    }

    /// `POST /api/tx` with the hex transfer; the node's txid.
    pub fn post_tx(&self, hex_tx: &str) -> Result<String, WalletError> {
        let r = self
            .agent
            .post(&format!("{}/api/tx", self.base))
            .set("Content-Type", "text/plain")
            .send_string(hex_tx);
        Ok(self.finish(r)?.trim().to_string())
    }

    /// The chain this node follows, with its figures checked.
    pub fn info(&self) -> Result<NodeInfo, WalletError> {
        let mut info: NodeInfo = self.get("/api/node/info")?;
        if info.decimals > MAX_DECIMALS {
            return Err(WalletError::Node(format!(
                "the node says coins have {} decimals; at most {MAX_DECIMALS} are possible",
                info.decimals
            )));
        }
        // The chain name is shown in summaries and messages: made inert like any node text.
        info.chain = one_line(&info.chain);
        Ok(info)
    }

    /// An account's confirmed and pending view.
    pub fn account(&self, address: &str) -> Result<AddressInfo, WalletError> {
        self.get(&format!("/api/address/{address}"))
    }

    /// A transfer and its status (with confirmations), or `None` if the node does not know it.
    pub fn tx(&self, txid: &str) -> Result<Option<(Tx, TxStatus)>, WalletError> {
        self.tx_within(txid, None)
    }

    /// [`Client::tx`], each request within `limit` if given (so a wait ends on time even
    /// when the node hangs).
    pub fn tx_within(
        &self,
        txid: &str,
        limit: Option<Duration>,
    ) -> Result<Option<(Tx, TxStatus)>, WalletError> {
        let Some(tx) = self.get_within(&format!("/api/tx/{txid}"), limit)? else {
            return Ok(None);
        };
        let Some(status) = self.get_within(&format!("/api/tx/{txid}/status"), limit)? else {
            return Ok(None);
        };
        Ok(Some((tx, status)))
    }
}

/// The wallet error for an error answer: a refused transfer names its rule.
fn node_error(status: u16, body: &str) -> WalletError {
    let parsed: Option<ferrite_api::ErrorBody> = serde_json::from_str(body).ok();
    let message = one_line(parsed.as_ref().map_or(body, |e| e.message.as_str()));
    let error = parsed.as_ref().map(|e| e.error.as_str());
    match (error, parsed.as_ref().and_then(|e| e.rule.as_deref())) {
        (Some("rejected"), Some("insufficient_balance")) => WalletError::InsufficientFunds(message),
        (Some("rejected"), Some(rule)) => WalletError::Rejected(format!("{message} (rule {rule})")),
        (Some("rejected"), None) => WalletError::Rejected(message),
        _ => WalletError::Node(format!("{status} {message}")),
    }
}

/// Text from the node made safe to print as part of one line: its first line, control
/// characters (terminal escapes) replaced, at most [`MAX_MESSAGE_CHARS`] characters.
pub fn one_line(text: &str) -> String {
    let first = text.trim().lines().next().unwrap_or("");
    let mut out: String = first
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if first.chars().count() > MAX_MESSAGE_CHARS {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_map_to_their_exit_codes() {
        let rejected = r#"{"error":"rejected","field":"body","message":"fee 1 is below the minimum 1000","rule":"fee_too_low"}"#;
        let e = node_error(400, rejected);
        assert_eq!(e.exit_code(), 7);
        assert!(e.to_string().contains("(rule fee_too_low)"), "{e}");
        let poor = r#"{"error":"rejected","field":"body","message":"balance 5 cannot cover 9","rule":"insufficient_balance"}"#;
        assert_eq!(node_error(400, poor).exit_code(), 8);
        let broken = r#"{"error":"internal","field":null,"message":"the node failed"}"#;
        let e = node_error(500, broken);
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains("500 the node failed"));
        assert_eq!(node_error(502, "<html>bad gateway</html>").exit_code(), 1);
        // Whatever the node sends is shown as one short, inert line.
        let hostile = format!(
            "{{\"message\":\"evil\\u001b[2J{}\\nsecond line\"}}",
            "x".repeat(5000)
        );
        let shown = node_error(500, &hostile).to_string();
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\n'),
            "{shown:?}"
        );
        assert!(shown.len() < MAX_MESSAGE_CHARS + 50, "{}", shown.len());
        assert!(!node_error(502, "a\nb").to_string().contains('\n'));
    }

    #[test]
    fn only_http_urls() {
        assert!(Client::new("https://node.example").is_ok());
        assert!(Client::new("ftp://node.example").is_err());
        assert!(Client::new("127.0.0.1:9734").is_err());
        assert_eq!(
            Client::new("http://127.0.0.1:9734/").unwrap().url(),
            "http://127.0.0.1:9734"
        );
    }

    /// A one-request node on a local port that answers `body` as JSON; returns its URL.
    fn node_answering(body: String) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = [0u8; 4096];
            let _ = conn.read(&mut request);
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(answer.as_bytes());
        });
        url
    }

    fn info_with(chain: &str, genesis: &str) -> String {
        let hash = "cd".repeat(32);
        serde_json::json!({
            "version": "0.1.0",
            "commit": "unknown",
            "node_id": hash,
            "chain": chain,
            "address_prefix": "fdev",
            "decimals": 8,
            "genesis": genesis,
            "tip": {"height": 0, "hash": hash, "chainwork": "0x1"},
            "best_header": {"height": 0, "hash": hash},
            "syncing": false,
            "peers": 0,
        })
        .to_string()
    }

    #[test]
    fn node_info_is_checked_and_made_inert() {
        let good = "ab".repeat(32);
        let c = Client::new(&node_answering(info_with("dev\u{1b}[2J\nfake", &good))).unwrap();
        let info = c.info().unwrap();
        assert_eq!(info.chain, "dev?[2J");
        assert_eq!(info.genesis.to_string(), good);
        let c = Client::new(&node_answering(info_with("dev", "not-a-hash"))).unwrap();
        let e = c.info().unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(
            e.to_string()
                .contains("unexpected answer to /api/node/info"),
            "{e}"
        );
    }

    #[test]
    fn a_closed_port_is_unreachable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = Client::new(&format!("http://127.0.0.1:{port}")).unwrap();
        assert_eq!(c.info().unwrap_err().exit_code(), 6);
    }
}
