//! Prometheus metrics of one node: what happened to submitted blocks and transfers, reorgs,
//! block validation time and HTTP requests (counted where they happen), plus the chain, peer
//! and mempool figures read when `/metrics` is scraped. docs/http.md lists every series.

use std::sync::atomic::Ordering;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::chain::{ChainError, Submitted};
use crate::node::SubmitTxError;

/// Validation-time buckets: 0.5 ms doubling 14 times to ~4 s, from an empty block on a fast
/// machine to a full block on a slow one.
const VALIDATION_BUCKETS: (f64, f64, u16) = (0.0005, 2.0, 14);
/// Reorg-depth buckets: 1, 2, 4 ... 512 blocks.
const REORG_BUCKETS: (f64, f64, u16) = (1.0, 2.0, 10);
/// Ping-to-pong buckets: 10 us doubling 16 times to ~0.3 s, from an idle connection task to
/// one stuck behind a full queue.
const PONG_BUCKETS: (f64, f64, u16) = (0.00001, 2.0, 16);

/// What happened to a block or transfer, and why when it was refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// `connected`, `stored`, `known`, `orphan`, `accepted` or `rejected`.
    pub result: &'static str,
    /// The rule that refused it (empty unless rejected).
    pub reason: &'static str,
}

/// One HTTP answer: the route's pattern (not the raw path, which would let clients create
/// unbounded series) and the status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// Route pattern, e.g. `/api/block/{hash}`, or `unmatched`.
    pub route: String,
    /// Status code.
    pub status: u16,
}

/// One HTTP route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// Route pattern, e.g. `/block/{hash}`, or `unmatched`.
    pub route: String,
}

/// Store reads per HTTP answer: 1, 2, 4 ... 1,024 (the heaviest page budgets a few hundred).
const READ_BUCKETS: (f64, f64, u16) = (1.0, 2.0, 11);

/// One kind of peer message.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageLabels {
    /// The message's name, e.g. `compactblock`.
    pub message: &'static str,
}

/// One kind of action the network took to defend the node (see docs/protocol.md).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DefenceLabels {
    /// The action, e.g. `withheld_body`.
    pub action: &'static str,
}

/// A defence used against a peer that abuses the node: the `action` of
/// `ferrite_p2p_defences_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defence {
    /// An inbound peer was evicted to make room for a new one.
    Evicted,
    /// A new inbound peer was refused: every inbound peer is protected.
    InboundRefused,
    /// A handshake in progress was cut for a newer one.
    HandshakeCut,
    /// A peer was banned.
    Ban,
    /// Transfer announcements beyond a peer's queue were ignored.
    TxAnnouncementsIgnored,
    /// A header whose body nobody delivers was set aside.
    WithheldBody,
    /// A block asked of one connection too often was answered `NotFound`.
    BlockServedTooOften,
    /// A peer that did not make room for its answers was dropped.
    AnswerStalled,
    /// A peer whose send queue was full was dropped.
    SendQueueFull,
}

impl Defence {
    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            Defence::Evicted => "evicted",
            Defence::InboundRefused => "inbound_refused",
            Defence::HandshakeCut => "handshake_cut",
            Defence::Ban => "ban",
            Defence::TxAnnouncementsIgnored => "tx_announcements_ignored",
            Defence::WithheldBody => "withheld_body",
            Defence::BlockServedTooOften => "block_served_too_often",
            Defence::AnswerStalled => "answer_stalled",
            Defence::SendQueueFull => "send_queue_full",
        }
    }
}

/// What a ban covers.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BanLabels {
    /// `address` or `node`.
    pub kind: &'static str,
}

/// The node's metrics.
pub struct Metrics {
    registry: Registry,
    blocks: Family<Outcome, Counter>,
    txs: Family<Outcome, Counter>,
    reorgs: Counter,
    connected_txs: Counter,
    reorg_depth: Histogram,
    validation: Histogram,
    pong: Histogram,
    sent_bytes: Family<MessageLabels, Counter>,
    defences: Family<DefenceLabels, Counter>,
    http: Family<HttpLabels, Counter>,
    http_refused: Counter,
    http_open: Gauge,
    http_reads: Family<RouteLabels, Histogram, fn() -> Histogram>,
    http_reads_max: Family<RouteLabels, Gauge>,
    queued_bytes: Gauge,
    bans: Family<BanLabels, Gauge>,
    txs_wanted: Gauge,
    height: Gauge,
    header_height: Gauge,
    work: Gauge<f64, std::sync::atomic::AtomicU64>,
    peers: Gauge,
    mempool_txs: Gauge,
    mempool_bytes: Gauge,
}

/// Figures read at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    /// Tip height.
    pub height: u64,
    /// Height of the best header (ahead of the tip while syncing).
    pub header_height: u64,
    /// Cumulative work of the tip.
    pub work: f64,
    /// Connected peers.
    pub peers: usize,
    /// Pending transfers.
    pub mempool_txs: usize,
    /// Their bytes.
    pub mempool_bytes: usize,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every series.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ferrite");
        let m = Metrics {
            blocks: Family::default(),
            txs: Family::default(),
            reorgs: Counter::default(),
            connected_txs: Counter::default(),
            reorg_depth: Histogram::new(exponential_buckets(
                REORG_BUCKETS.0,
                REORG_BUCKETS.1,
                REORG_BUCKETS.2,
            )),
            validation: Histogram::new(exponential_buckets(
                VALIDATION_BUCKETS.0,
                VALIDATION_BUCKETS.1,
                VALIDATION_BUCKETS.2,
            )),
            pong: Histogram::new(exponential_buckets(
                PONG_BUCKETS.0,
                PONG_BUCKETS.1,
                PONG_BUCKETS.2,
            )),
            sent_bytes: Family::default(),
            defences: Family::default(),
            http: Family::default(),
            http_refused: Counter::default(),
            http_open: Gauge::default(),
            http_reads: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(
                    READ_BUCKETS.0,
                    READ_BUCKETS.1,
                    READ_BUCKETS.2,
                ))
            }),
            http_reads_max: Family::default(),
            queued_bytes: Gauge::default(),
            bans: Family::default(),
            txs_wanted: Gauge::default(),
            height: Gauge::default(),
            header_height: Gauge::default(),
            work: Gauge::default(),
            peers: Gauge::default(),
            mempool_txs: Gauge::default(),
            mempool_bytes: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "blocks",
            "Submitted blocks by outcome and, when rejected, the rule",
            m.blocks.clone(),
        );
        registry.register(
            "txs",
            "Submitted transfers by outcome and, when rejected, the rule",
            m.txs.clone(),
        );
        registry.register(
            "reorgs",
            "Tip changes that disconnected blocks",
            m.reorgs.clone(),
        );
        registry.register(
            "connected_txs",
            "Transfers in blocks connected to the best chain (a reorg's new branch counts again)",
            m.connected_txs.clone(),
        );
        registry.register(
            "reorg_depth_blocks",
            "Blocks disconnected per reorg",
            m.reorg_depth.clone(),
        );
        registry.register(
            "block_validation_seconds",
            "Time to validate a submitted block and store or connect it",
            m.validation.clone(),
        );
        registry.register(
            "p2p_pong_seconds",
            "Time from a peer's ping frame read to its pong queued",
            m.pong.clone(),
        );
        registry.register(
            "p2p_sent_bytes",
            "Bytes of frames queued for peers, by message",
            m.sent_bytes.clone(),
        );
        registry.register(
            "p2p_queued_bytes",
            "Bytes queued for peers and not yet written, over every connection",
            m.queued_bytes.clone(),
        );
        registry.register(
            "p2p_bans",
            "Bans held, by what they cover (each table is bounded)",
            m.bans.clone(),
        );
        registry.register(
            "p2p_txs_wanted",
            "Transfers requested from peers and not yet received",
            m.txs_wanted.clone(),
        );
        registry.register(
            "p2p_defences",
            "Actions taken against peers that abuse the node, by action",
            m.defences.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            m.http.clone(),
        );
        registry.register(
            "http_store_reads",
            "Store reads made by one HTTP answer, by route",
            m.http_reads.clone(),
        );
        registry.register(
            "http_store_reads_max",
            "The most store reads one HTTP answer has made since start, by route",
            m.http_reads_max.clone(),
        );
        registry.register(
            "http_connections_refused",
            "HTTP connections answered 503 and closed because as many as allowed were open",
            m.http_refused.clone(),
        );
        registry.register(
            "http_connections_open",
            "HTTP connections open",
            m.http_open.clone(),
        );
        registry.register("chain_height", "Height of the tip", m.height.clone());
        registry.register(
            "header_height",
            "Height of the best known header",
            m.header_height.clone(),
        );
        registry.register("chain_work", "Cumulative work of the tip", m.work.clone());
        registry.register("peers", "Connected peers", m.peers.clone());
        registry.register("mempool_txs", "Pending transfers", m.mempool_txs.clone());
        registry.register(
            "mempool_bytes",
            "Bytes of pending transfers",
            m.mempool_bytes.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Records a block submission and the time it took. `failed` is the rule the block broke
    /// while the chain connected it (the submission itself then ends `Ok`): it counts as
    /// rejected by that rule, not as stored.
    pub fn block(
        &self,
        result: &Result<Submitted, ChainError>,
        failed: Option<ferrite_core::validation::BlockError>,
        took: Duration,
    ) {
        if let Ok(Submitted::TipChanged(change)) = result {
            self.connected_txs.inc_by(change.mined_txs.len() as u64);
            if !change.disconnected.is_empty() {
                self.reorgs.inc();
                self.reorg_depth.observe(change.disconnected.len() as f64);
            }
        }
        let (result, reason) = match result {
            _ if failed.is_some() => ("rejected", failed.map_or("", |e| e.rule())),
            Ok(Submitted::TipChanged(_)) => ("connected", ""),
            Ok(Submitted::Stored) => ("stored", ""),
            Ok(Submitted::Known) => ("known", ""),
            Ok(Submitted::Orphan) => ("orphan", ""),
            Err(ChainError::Invalid(e)) => ("rejected", e.rule()),
            Err(ChainError::KnownInvalid(_)) => ("rejected", "known_invalid"),
            Err(ChainError::UnknownParent(_)) => ("rejected", "unknown_parent"),
            Err(ChainError::Store(_)) => ("rejected", "store_failed"),
        };
        if !matches!(result, "known" | "orphan") {
            self.validation.observe(took.as_secs_f64());
        }
        self.blocks.get_or_create(&Outcome { result, reason }).inc();
    }

    /// Transfers connected to the best chain since the node started (what sync progress
    /// counts its transfer rate by).
    pub fn connected_txs(&self) -> u64 {
        self.connected_txs.get()
    }

    /// Records a frame of `bytes` (header included) queued for a peer.
    pub fn sent(&self, message: &'static str, bytes: usize) {
        self.sent_bytes
            .get_or_create(&MessageLabels { message })
            .inc_by(bytes as u64);
    }

    /// The gauge of bytes queued for peers (each connection's queue adds and takes its own).
    pub fn queued_bytes(&self) -> Gauge {
        self.queued_bytes.clone()
    }

    /// Sets the network's table sizes (the driver, once a second).
    pub fn network(&self, bans: (usize, usize), txs_wanted: usize) {
        let int = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        self.bans
            .get_or_create(&BanLabels { kind: "address" })
            .set(int(bans.0));
        self.bans
            .get_or_create(&BanLabels { kind: "node" })
            .set(int(bans.1));
        self.txs_wanted.set(int(txs_wanted));
    }

    /// Counts one defensive action (docs/http.md lists them).
    pub fn defence(&self, d: Defence) {
        self.defences
            .get_or_create(&DefenceLabels { action: d.name() })
            .inc();
    }

    /// Records how long a pong took to be queued after its ping was read.
    pub fn pong(&self, took: Duration) {
        self.pong.observe(took.as_secs_f64());
    }

    /// Records a transfer submission.
    pub fn tx(&self, result: &Result<ferrite_core::Hash, SubmitTxError>) {
        let (result, reason) = match result {
            Ok(_) => ("accepted", ""),
            Err(SubmitTxError::Rejected(e)) => ("rejected", e.rule()),
            Err(SubmitTxError::Chain(_)) => ("rejected", "store_failed"),
        };
        self.txs.get_or_create(&Outcome { result, reason }).inc();
    }

    /// Counts one HTTP answer and the store reads it made.
    pub fn http(&self, route: &str, status: u16, reads: u64) {
        self.http
            .get_or_create(&HttpLabels {
                route: route.to_string(),
                status,
            })
            .inc();
        let route = RouteLabels {
            route: route.to_string(),
        };
        self.http_reads.get_or_create(&route).observe(reads as f64);
        let max = self.http_reads_max.get_or_create(&route);
        max.inner()
            .fetch_max(i64::try_from(reads).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// Counts an HTTP connection refused at the server's cap.
    pub fn http_connection_refused(&self) {
        self.http_refused.inc();
    }

    /// Counts an HTTP connection opened (served under the cap).
    pub fn http_connection_opened(&self) {
        self.http_open.inc();
    }

    /// Counts an HTTP connection closed.
    pub fn http_connection_closed(&self) {
        self.http_open.dec();
    }

    /// The text exposition of every series, with `now`'s figures.
    pub fn render(&self, now: Snapshot) -> String {
        let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.height.set(int(now.height));
        self.header_height.set(int(now.header_height));
        self.work.set(now.work);
        self.peers.set(int(now.peers as u64));
        self.mempool_txs.set(int(now.mempool_txs as u64));
        self.mempool_bytes.set(int(now.mempool_bytes as u64));
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
