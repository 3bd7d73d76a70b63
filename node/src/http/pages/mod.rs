//! The web explorer: HTML pages at `/` on the HTTP listener, next to the API (docs/http.md,
//! "Explorer pages"). Each page reads what it shows through the same functions as the API
//! answers, from one published view of the chain, rendered on the server with maud; a page is
//! complete without JavaScript, and one small script (assets/live.js) keeps ages current and
//! swaps in the live parts of a page when `/api/events` reports a new tip or transfer.
//!
//! A handler returns a [`Page`] (its title and main content) or an [`ApiError`]; [`render`]
//! wraps either in the layout (header, chain name, search box), so the error a page answers is
//! the API's error with the same status, written for a person.

mod address;
mod apidoc;
pub mod assets;
mod blocks;
mod broadcast;
mod charts;
pub mod format;
mod home;
mod layout;
mod mempool;
mod search;
mod tx;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::Markup;

use super::{Api, ApiError};

pub use address::MAX_EXPORTS;
pub use apidoc::render as apidoc_render;
pub use blocks::LIST_PAGE;
pub use charts::CHART_BLOCKS;
pub use home::{HomeCache, HOME_BLOCKS, HOME_TXS};

/// What a page handler answers: the layout is added by [`render`].
#[derive(Clone)]
pub struct Page {
    /// The document's title (after the chain name).
    pub title: String,
    /// The content of `<main>`.
    pub main: Markup,
    /// The `/api/events` events that refresh the page's live parts: `""`, `"tip"` or
    /// `"tip tx"`.
    pub live: &'static str,
    /// The answer's status (200 but for the search's not-found page).
    pub status: StatusCode,
    /// What the search box shows.
    pub query: String,
    /// `Cache-Control`.
    pub cache: &'static str,
}

impl Page {
    /// A page that is not live, answered with 200 and `no-cache`.
    pub fn new(title: impl Into<String>, main: Markup) -> Page {
        Page {
            title: title.into(),
            main,
            live: "",
            status: StatusCode::OK,
            query: String::new(),
            cache: "no-cache",
        }
    }

    /// The same page, refreshed on `events`.
    pub fn live(self, events: &'static str) -> Page {
        Page {
            live: events,
            ..self
        }
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = StatusCode::OK.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// What the layout shows of the node, fixed for its life.
pub struct Chrome {
    /// The chain's name.
    pub chain: String,
    /// A dev chain (shown in red, so nobody takes it for the testnet).
    pub dev: bool,
    /// The chain's coin decimals.
    pub decimals: u8,
    /// The address prefix.
    pub prefix: ferrite_core::AddressPrefix,
    /// The node's version.
    pub version: &'static str,
}

impl Chrome {
    /// The chrome of a node of `params`' chain; `dev` for a dev node.
    pub fn new(params: &ferrite_core::ChainParams, dev: bool) -> Chrome {
        Chrome {
            chain: params.chain_name.clone(),
            dev: dev || params.chain_name.contains("dev"),
            decimals: params.decimals,
            prefix: params.prefix,
            version: crate::VERSION,
        }
    }

    /// `units` as coins of this chain.
    pub fn coins(&self, units: impl Into<u128>) -> String {
        format::coins(units.into(), self.decimals)
    }
}

/// Seconds since the Unix epoch now (for ages; 0 if the clock is before 1970).
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The explorer's routes.
pub fn routes(api: Arc<Api>) -> Router<Arc<Api>> {
    Router::new()
        .route("/", get(home::home))
        .route("/blocks", get(blocks::list_from_tip))
        .route("/blocks/{start_height}", get(blocks::list))
        .route("/block/{hash}", get(blocks::block))
        .route("/height/{height}", get(blocks::at_height))
        .route("/tx/{txid}", get(tx::tx))
        .route("/address/{address}", get(address::address))
        .route("/address/{address}/history.csv", get(address::csv))
        .route("/mempool", get(mempool::mempool))
        .route("/charts", get(charts::charts))
        .route("/broadcast", get(broadcast::form).post(broadcast::submit))
        .route("/api", get(apidoc::page))
        .route("/search", get(search::search))
        .route("/assets/{name}", get(assets::asset))
        .method_not_allowed_fallback(crate::http::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(api, render))
}

/// Puts a handler's [`Page`], or the [`ApiError`] it answered, in the layout.
async fn render(State(api): State<Arc<Api>>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    if let Some(page) = response.extensions_mut().remove::<Page>() {
        finish(&api, &page)
    } else if let Some(error) = response.extensions_mut().remove::<ApiError>() {
        finish(&api, &layout::error_page(&error))
    } else {
        response
    }
}

/// The whole HTML answer for `page`.
fn finish(api: &Api, page: &Page) -> Response {
    let html = layout::document(&api.chrome, page).into_string();
    let mut out = (page.status, html).into_response();
    let headers = out.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(page.cache));
    out
}

/// The answer for a path no route takes: the API's JSON 404 under `/api/` (and for the
/// operations routes' neighbours), a page for anything else.
pub async fn fallback(State(api): State<Arc<Api>>, uri: axum::http::Uri) -> Response {
    let error = ApiError::not_found("no such route");
    let path = uri.path();
    if path.starts_with("/api/") || ["/metrics", "/healthy", "/ready"].contains(&path) {
        return error.into_response();
    }
    let error = ApiError::not_found(format!("There is no page at {path}."));
    finish(&api, &layout::error_page(&error))
}
