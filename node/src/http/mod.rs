//! The HTTP explorer API (docs/http.md): a read-mostly JSON API over the node, shaped like
//! Esplora's, routed by axum and served on the node's tokio runtime by its own accept loop
//! (`server.rs`: a deadline for each request head, a cap on open connections), with its
//! OpenAPI document, server-sent events, Prometheus metrics and health checks.
//!
//! The explorer's pages (`pages/`) are served by the same router at `/`, read through the same
//! functions as the API's answers.
//!
//! Every handler answers from the chain's published view (a tip and a RocksDB snapshot taken
//! right after it was committed), read on tokio's blocking pool: an answer always describes one
//! tip, and never waits on, or holds up, a block connect.

mod address_api;
pub mod budget;
mod chain_api;
mod client_slots;
mod doc;
mod error;
mod events;
mod extract;
mod node_api;
mod pages;
mod query;
mod server;
mod tx_api;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use tower_http::cors::{Any, CorsLayer};
use tower_http::timeout::TimeoutLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use doc::{address_pattern, BEYOND_SCHEMA};
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
    /// The OpenAPI document, serialised once.
    document: Bytes,
    /// The query parameters each route declares (none today): any other is refused.
    queries: query::Declared,
    /// What the explorer's pages show of the node.
    chrome: pages::Chrome,
    /// The API page's content, rendered once from the document.
    api_page: String,
    /// Slots for CSV exports.
    exports: Arc<tokio::sync::Semaphore>,
    /// The last home page made.
    home_cache: pages::HomeCache,
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
        let doc = document(prefix.as_str());
        let queries = query::Declared::from_document(&doc);
        let chrome = pages::Chrome::new(node.params(), dev);
        Ok(Arc::new(Api {
            chrome,
            api_page: pages::apidoc_render(&doc),
            exports: Arc::new(tokio::sync::Semaphore::new(pages::MAX_EXPORTS)),
            home_cache: pages::HomeCache::default(),
            document: Bytes::from(doc.to_string()),
            queries,
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
        // The answer being made, when the request layer counts its store reads.
        let reads = ANSWER_READS.try_with(Arc::clone).ok();
        tokio::task::spawn_blocking(move || {
            let (out, made) = crate::store::reads::counted(|| f(&api));
            if let Some(reads) = reads {
                reads.fetch_add(made, Ordering::Relaxed);
            }
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

/// Every route of the API with its OpenAPI operation: the router and the document both come
/// from the handlers' `#[utoipa::path]` annotations, so they cannot disagree.
pub fn api_routes() -> OpenApiRouter<Arc<Api>> {
    OpenApiRouter::new()
        .routes(routes!(chain_api::tip_height))
        .routes(routes!(chain_api::tip_hash))
        .routes(routes!(chain_api::blocks_from_tip))
        .routes(routes!(chain_api::blocks))
        .routes(routes!(chain_api::block_at_height))
        .routes(routes!(chain_api::block))
        .routes(routes!(chain_api::block_status))
        .routes(routes!(chain_api::block_txs_first))
        .routes(routes!(chain_api::block_txs))
        .routes(routes!(chain_api::block_txids))
        .routes(routes!(chain_api::block_raw))
        .routes(routes!(tx_api::tx))
        .routes(routes!(tx_api::tx_status))
        .routes(routes!(tx_api::tx_raw))
        .routes(routes!(tx_api::merkle_proof))
        .routes(routes!(tx_api::post_tx))
        .routes(routes!(address_api::address))
        .routes(routes!(address_api::txs))
        .routes(routes!(address_api::txs_chain))
        .routes(routes!(address_api::mempool))
        .routes(routes!(address_api::mempool_txids))
        .routes(routes!(address_api::mempool_recent))
        .routes(routes!(address_api::fee_estimates))
        .routes(routes!(node_api::node_info))
        .routes(routes!(node_api::peers))
        .routes(routes!(events::events))
        .routes(routes!(node_api::openapi))
        .routes(routes!(node_api::metrics))
        .routes(routes!(node_api::healthy))
        .routes(routes!(node_api::ready))
}

/// The OpenAPI 3.1 document of a node whose chain's addresses start with `prefix`.
pub fn document(prefix: &str) -> serde_json::Value {
    doc::document(api_routes().into_openapi(), prefix)
}

tokio::task_local! {
    /// The store reads of the answer being made: set by [`count_requests`] around each
    /// request, added to by every reader the request runs on the blocking pool.
    static ANSWER_READS: Arc<AtomicU64>;
}

/// Counts every answer by route pattern and status, with the store reads it made, and warns
/// when an answer read more than its route's budget ([`budget::store_reads`]).
async fn count_requests(State(api): State<Arc<Api>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let reads = Arc::new(AtomicU64::new(0));
    let response = ANSWER_READS.scope(reads.clone(), next.run(req)).await;
    let made = reads.load(Ordering::Relaxed);
    api.node
        .metrics()
        .http(&route, response.status().as_u16(), made);
    if made > budget::store_reads(&route) {
        tracing::warn!(%route, reads = made, budget = budget::store_reads(&route), "an answer read more of the store than its budget");
    }
    response
}

/// 405 for a route that exists without the request's method (JSON, or a page on the
/// explorer's routes, whose layer draws the error).
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::status(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

/// The API's router.
pub fn router(api: Arc<Api>) -> Router {
    let cors = CorsLayer::new()
        .allow_methods([Method::GET])
        .allow_origin(Any);
    let (router, _) = api_routes().split_for_parts();
    router
        .route_layer(axum::middleware::from_fn_with_state(
            api.clone(),
            query::refuse_undeclared,
        ))
        .merge(pages::routes(api.clone()))
        .fallback(pages::fallback)
        .method_not_allowed_fallback(method_not_allowed)
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
        // Answers larger than a few hundred bytes are compressed for clients that ask (event
        // streams never: they must flush as they go).
        .layer(tower_http::compression::CompressionLayer::new())
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
