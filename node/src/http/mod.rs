//! The HTTP explorer API (docs/http.md): a read-mostly JSON API over the node, shaped like
//! Esplora's, served by axum on the node's tokio runtime.
//!
//! Every handler reads the chain on tokio's blocking pool under the chain lock for the few
//! store reads it needs, so an answer always describes one tip and never waits on, or holds up,
//! a block connect for longer than those reads.

mod chain_api;
mod error;
mod state_api;

use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tower_http::cors::{Any, CorsLayer};
use tower_http::timeout::TimeoutLayer;

pub use error::ApiError;

use crate::chain::Chain;
use crate::node::Node;

/// Largest request body: a hex transfer is 304 characters; anything far larger is a mistake
/// or an attack and gets 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// A request that takes longer than this gets 408 instead of holding a connection.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What handlers share.
pub struct Api {
    /// The node.
    pub node: Arc<Node>,
    /// Connected peers, kept by the network.
    pub peers: Arc<AtomicUsize>,
}

impl Api {
    /// Runs `f` on the chain on the blocking pool.
    async fn with_chain<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Chain, &Node) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let api = self.clone();
        tokio::task::spawn_blocking(move || {
            let chain = api.node.chain();
            f(&chain, &api.node)
        })
        .await
        .map_err(ApiError::internal)?
    }
}

/// The API's routes.
pub fn router(api: Arc<Api>) -> Router {
    let cors = CorsLayer::new()
        .allow_methods([axum::http::Method::GET])
        .allow_origin(Any);
    Router::new()
        .route("/api/blocks/tip/height", get(chain_api::tip_height))
        .route("/api/blocks/tip/hash", get(chain_api::tip_hash))
        .route(
            "/api/block-height/{height}",
            get(chain_api::block_at_height),
        )
        .route("/api/block/{hash}", get(chain_api::block))
        .route("/api/block/{hash}/status", get(chain_api::block_status))
        .route("/api/block/{hash}/txids", get(chain_api::block_txids))
        .route("/api/block/{hash}/raw", get(chain_api::block_raw))
        .route("/api/tx/{txid}", get(chain_api::tx))
        .route("/api/tx/{txid}/status", get(chain_api::tx_status))
        .route("/api/tx/{txid}/raw", get(chain_api::tx_raw))
        .route("/api/tx", post(state_api::post_tx))
        .route("/api/address/{address}", get(state_api::address))
        .route("/api/mempool", get(state_api::mempool))
        .route("/api/mempool/txids", get(state_api::mempool_txids))
        .route("/api/node/info", get(state_api::node_info))
        .route("/healthy", get(state_api::healthy))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(cors)
        .with_state(api)
}

/// Binds `addr` and serves the API until the node stops. Returns the bound address.
pub async fn start(api: Arc<Api>, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = router(api);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    Ok(local)
}
