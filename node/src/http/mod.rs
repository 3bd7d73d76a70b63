//! The HTTP explorer API (docs/http.md): a read-mostly JSON API over the node, shaped like
//! Esplora's, routed by axum and served on the node's tokio runtime by its own accept loop
//! (`server.rs`: a deadline for each request head, a cap on open connections), with its
//! OpenAPI document, server-sent events, Prometheus metrics and health checks.
//!
//! Every handler answers from the chain's published view (a tip and a RocksDB snapshot taken
//! right after it was committed), read on tokio's blocking pool: an answer always describes one
//! tip, and never waits on, or holds up, a block connect.

mod address_api;
mod chain_api;
mod client_slots;
mod error;
mod events;
mod extract;
mod node_api;
mod server;
mod tx_api;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::handler::Handler;
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;
use tower_http::cors::{Any, CorsLayer};
use tower_http::timeout::TimeoutLayer;

pub use error::ApiError;
pub use server::{DEFAULT_MAX_CONNECTIONS, HEADER_READ_TIMEOUT, MAX_HEADER_BYTES};

use crate::chain::ChainView;
use crate::mempool::Mempool;
use crate::node::Node;
use crate::p2p::PeerTable;

/// Largest request body: a hex transfer is 304 characters; anything far larger is a mistake
/// or an attack and gets 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// A request that takes longer than this gets 408 instead of holding a connection. (An event
/// stream is not held to it once its headers are sent.)
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Most event streams open at once: each holds a connection and an event buffer; beyond this
/// a client gets 503.
pub const MAX_EVENT_STREAMS: usize = 256;
/// Most event streams one client (an IPv4 address or an IPv6 /64) holds at once: far more
/// than a page or a program following the chain needs, and small enough that it takes 16
/// clients to fill [`MAX_EVENT_STREAMS`]. Beyond it the client gets 429. Clients behind one
/// proxy or NAT share this.
pub const MAX_EVENT_STREAMS_PER_CLIENT: usize = 16;
/// Responses about blocks this deep are final enough to cache for a day.
pub const CACHEABLE_DEPTH: u64 = 100;
/// Requests reading the store at once: enough to keep both cores busy with reads that wait on
/// the disk, few enough that they never fill tokio's blocking pool (which the network shares);
/// the rest wait their turn without holding a thread, up to the request timeout.
pub const MAX_CHAIN_READERS: usize = 8;

/// The OpenAPI 3 document of every route below (checked against them by a test).
pub const OPENAPI: &str = include_str!("openapi.json");

/// What handlers share.
pub struct Api {
    /// The node.
    pub node: Arc<Node>,
    /// Connected peers, kept by the network (empty without one).
    pub peers: Arc<PeerTable>,
    /// This node's id on the network.
    pub node_id: crate::p2p::identity::NodeId,
    /// A dev node: ready without peers.
    pub dev: bool,
    /// Slots for event streams.
    streams: Arc<tokio::sync::Semaphore>,
    /// Event streams held by each client.
    client_streams: client_slots::ClientSlots,
    /// Slots for chain reads.
    readers: Arc<tokio::sync::Semaphore>,
    /// The chain's address prefix (fixed for the node's life).
    prefix: ferrite_core::AddressPrefix,
    /// Most transfers in a block (fixed for the node's life).
    per_block: usize,
    /// Set to true when the node stops: event streams end and the server closes.
    stop: tokio::sync::watch::Sender<bool>,
    /// The queue `POST tx` submits through.
    admission: crate::admission::Admission,
}

impl Api {
    /// The API over `node` and its network's peer table (starts the admission thread); `dev`
    /// for a dev node.
    pub fn new(
        node: Arc<Node>,
        peers: Arc<PeerTable>,
        node_id: crate::p2p::identity::NodeId,
        dev: bool,
    ) -> std::io::Result<Arc<Api>> {
        let (prefix, max_block) = (node.params().prefix, node.params().max_block_size as usize);
        let per_block = (max_block.saturating_sub(ferrite_core::Block::size_with(0))
            / ferrite_core::transaction::SIGNED_TX_LEN)
            .max(1);
        let admission = crate::admission::Admission::start(node.clone())?;
        Ok(Arc::new(Api {
            admission,
            node,
            peers,
            node_id,
            dev,
            streams: Arc::new(tokio::sync::Semaphore::new(MAX_EVENT_STREAMS)),
            client_streams: client_slots::ClientSlots::new(MAX_EVENT_STREAMS_PER_CLIENT),
            readers: Arc::new(tokio::sync::Semaphore::new(MAX_CHAIN_READERS)),
            prefix,
            per_block,
            stop: tokio::sync::watch::channel(false).0,
        }))
    }

    /// Ends the event streams and stops accepting requests (call when the node stops).
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Runs `f` on the blocking pool over the current published view of the chain (it never
    /// waits for a block to connect, and everything it reads belongs to one tip).
    async fn with_chain<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&ChainView, &Node) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.on_blocking_pool(move |api| f(&api.node.view(), &api.node))
            .await
    }

    /// Like [`Api::with_chain`], with the mempool too: the pool is locked first and the view
    /// loaded under it, so both describe the same tip (a new view is published under the
    /// mempool lock). `pool_part` runs under the lock and copies out what it needs; the lock is
    /// released before `chain_part` reads the store, so a slow read never holds up a commit.
    async fn with_pool<P: Send + 'static, T: Send + 'static>(
        self: &Arc<Self>,
        pool_part: impl FnOnce(&ChainView, &Mempool) -> Result<P, ApiError> + Send + 'static,
        chain_part: impl FnOnce(&ChainView, P) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.on_blocking_pool(move |api| {
            let (pool, view) = api.node.pool_and_view();
            let part = pool_part(&view, &pool);
            drop(pool);
            chain_part(&view, part?)
        })
        .await
    }

    async fn on_blocking_pool<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Api) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = self
            .readers
            .clone()
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        let api = self.clone();
        tokio::task::spawn_blocking(move || {
            let out = f(&api);
            drop(permit);
            out
        })
        .await
        .map_err(ApiError::internal)?
    }
}

/// `Cache-Control` for an answer about something `depth` blocks below the tip.
fn cache_control(depth: Option<u64>) -> [(header::HeaderName, &'static str); 1] {
    if depth.is_some_and(|d| d >= CACHEABLE_DEPTH) {
        [(header::CACHE_CONTROL, "public, max-age=86400")]
    } else {
        NO_CACHE
    }
}

/// `Cache-Control` for answers about the tip, the mempool and the node.
const NO_CACHE: [(header::HeaderName, &str); 1] = [(header::CACHE_CONTROL, "no-cache")];

/// One route: its method and path (as the OpenAPI document names them) and its handler.
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path pattern, e.g. `/api/block/{hash}`.
    pub path: &'static str,
    handler: MethodRouter<Arc<Api>>,
}

fn route<H, T>(method: Method, path: &'static str, handler: H) -> Route
where
    H: Handler<T, Arc<Api>>,
    T: 'static,
{
    let filter = if method == Method::POST {
        MethodFilter::POST
    } else {
        MethodFilter::GET
    };
    Route {
        method,
        path,
        handler: on(filter, handler),
    }
}

/// Every route of the API.
pub fn routes() -> Vec<Route> {
    use Method as M;
    vec![
        route(M::GET, "/api/blocks/tip/height", chain_api::tip_height),
        route(M::GET, "/api/blocks/tip/hash", chain_api::tip_hash),
        route(M::GET, "/api/blocks", chain_api::blocks_from_tip),
        route(M::GET, "/api/blocks/{start_height}", chain_api::blocks),
        route(
            M::GET,
            "/api/block-height/{height}",
            chain_api::block_at_height,
        ),
        route(M::GET, "/api/block/{hash}", chain_api::block),
        route(M::GET, "/api/block/{hash}/status", chain_api::block_status),
        route(M::GET, "/api/block/{hash}/txs", chain_api::block_txs_first),
        route(
            M::GET,
            "/api/block/{hash}/txs/{start}",
            chain_api::block_txs,
        ),
        route(M::GET, "/api/block/{hash}/txids", chain_api::block_txids),
        route(M::GET, "/api/block/{hash}/raw", chain_api::block_raw),
        route(M::GET, "/api/tx/{txid}", tx_api::tx),
        route(M::GET, "/api/tx/{txid}/status", tx_api::tx_status),
        route(M::GET, "/api/tx/{txid}/raw", tx_api::tx_raw),
        route(M::GET, "/api/tx/{txid}/merkle-proof", tx_api::merkle_proof),
        route(M::POST, "/api/tx", tx_api::post_tx),
        route(M::GET, "/api/address/{address}", address_api::address),
        route(M::GET, "/api/address/{address}/txs", address_api::txs),
        route(
            M::GET,
            "/api/address/{address}/txs/chain/{last_seen_txid}",
            address_api::txs_chain,
        ),
        route(M::GET, "/api/mempool", address_api::mempool),
        route(M::GET, "/api/mempool/txids", address_api::mempool_txids),
        route(M::GET, "/api/mempool/recent", address_api::mempool_recent),
        route(M::GET, "/api/fee-estimates", address_api::fee_estimates),
        route(M::GET, "/api/node/info", node_api::node_info),
        route(M::GET, "/api/peers", node_api::peers),
        route(M::GET, "/api/events", events::events),
        route(M::GET, "/api/openapi.json", node_api::openapi),
        route(M::GET, "/metrics", node_api::metrics),
        route(M::GET, "/healthy", node_api::healthy),
        route(M::GET, "/ready", node_api::ready),
    ]
}

/// Counts every answer by route pattern and status.
async fn count_requests(State(api): State<Arc<Api>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(req).await;
    api.node.metrics().http(&route, response.status().as_u16());
    response
}

/// The API's router.
pub fn router(api: Arc<Api>) -> Router {
    let cors = CorsLayer::new()
        .allow_methods([Method::GET])
        .allow_origin(Any);
    let mut router = Router::new();
    for r in routes() {
        router = router.route(r.path, r.handler);
    }
    router
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::status(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            count_requests,
        ))
        .layer(cors)
        .with_state(api)
}

/// Binds `addr` and serves the API until the node stops, with at most `max_connections`
/// connections open at once (see `server.rs`). Returns the bound address.
pub async fn start(
    api: Arc<Api>,
    bind: crate::bind::Bind,
    max_connections: usize,
) -> std::io::Result<SocketAddr> {
    let listener = bind.listen().await?;
    let local = listener.local_addr()?;
    let app = router(api.clone());
    tokio::spawn(server::serve(listener, app, api, max_connections));
    Ok(local)
}
