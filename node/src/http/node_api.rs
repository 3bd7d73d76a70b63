//! Node endpoints: information about this node, its peers, its OpenAPI document, Prometheus
//! metrics, and the health and readiness checks.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use ferrite_api::{BestHeader, NodeInfo, Peer, Ready, TipInfo};

use super::doc::Internal;
use super::{Api, ApiError, NO_CACHE};
use crate::metrics::Snapshot;

use crate::readiness::{judge, syncing, Facts};

/// The node and its chain
///
/// The node's version and id, the chain's name, address prefix, decimals and genesis id (a
/// wallet learns the chain from it), the tip, the best header and whether the node is still
/// catching up.
#[utoipa::path(get, path = "/api/node/info", tag = "node", operation_id = "getNodeInfo",
    responses(
        (status = 200, description = "The node.", body = NodeInfo,
            headers(("Cache-Control" = String, description = "`no-cache`."))),
        (status = 500, response = Internal),
    ))]
pub(super) async fn node_info(State(api): State<Arc<Api>>) -> Result<impl IntoResponse, ApiError> {
    let peers = api.peers.count();
    let node_id = api.node_id.to_string();
    let body = api
        .with_chain(move |c, _| {
            let tip = c.tip_info()?;
            let (best_header, best) = c.best_header()?;
            let params = c.params();
            Ok(NodeInfo {
                version: crate::VERSION.to_owned(),
                commit: crate::COMMIT.to_owned(),
                node_id,
                chain: params.chain_name.clone(),
                address_prefix: params.prefix.as_str().to_owned(),
                decimals: params.decimals,
                genesis: params.genesis_hash,
                tip: TipInfo {
                    height: tip.height,
                    hash: tip.hash,
                    chainwork: tip.work,
                },
                best_header: BestHeader {
                    height: best.height,
                    hash: best_header,
                },
                // The rule `/ready` answers by: a header or two ahead is a block on its way.
                syncing: syncing(tip.height, best.height),
                peers: peers as u64,
            })
        })
        .await?;
    Ok((NO_CACHE, Json(body)))
}

/// The connected peers
///
/// Each connected peer: its connection's number, the node id it proved, its address, whether
/// it dialled in, its software, the best height it has shown, and its last ping.
#[utoipa::path(get, path = "/api/peers", tag = "node", operation_id = "getPeers",
    responses((status = 200, description = "The peers.", body = Vec<Peer>,
        headers(("Cache-Control" = String, description = "`no-cache`.")))))]
pub(super) async fn peers(State(api): State<Arc<Api>>) -> impl IntoResponse {
    let list: Vec<Peer> = api
        .peers
        .snapshot()
        .iter()
        .map(|p| Peer {
            id: p.id,
            node_id: p.node_id.to_string(),
            addr: p.addr.to_string(),
            inbound: p.inbound,
            user_agent: p.user_agent.clone(),
            height: p.height,
            connected_since: p.connected_since,
            ping_ms: p.ping_micros.map(|us| us as f64 / 1000.0),
        })
        .collect();
    (NO_CACHE, Json(list))
}

/// This document
///
/// The OpenAPI 3.1 document of every operation, generated from the node's code.
#[utoipa::path(get, path = "/api/openapi.json", tag = "node", operation_id = "getOpenApi",
    responses((status = 200, description = "The document.", body = Object,
        content_type = "application/json")))]
pub(super) async fn openapi(State(api): State<Arc<Api>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        api.document.clone(),
    )
}

/// Prometheus metrics
///
/// OpenMetrics text (docs/http.md lists the series).
#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "getMetrics",
    responses(
        (status = 200, description = "The metrics.", body = String,
            content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        (status = 500, response = Internal),
    ))]
pub(super) async fn metrics(State(api): State<Arc<Api>>) -> Result<impl IntoResponse, ApiError> {
    let peers = api.peers.count();
    let now = api
        .with_chain(move |c, node| {
            let tip = c.tip_info()?;
            let (_, best) = c.best_header()?;
            let pool = node.mempool().stats();
            Ok(Snapshot {
                height: tip.height,
                header_height: best.height,
                work: u256_to_f64(tip.work.as_u256()),
                peers,
                mempool_txs: pool.count,
                mempool_bytes: pool.bytes,
            })
        })
        .await?;
    let text = api.node.metrics().render(now);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
            NO_CACHE[0].clone(),
        ],
        text,
    ))
}

/// A 256-bit number as the nearest double (cumulative work for a gauge).
pub(super) fn u256_to_f64(v: primitive_types::U256) -> f64 {
    v.0.iter().rev().fold(0.0, |acc, limb| {
        acc * 18_446_744_073_709_551_616.0 + *limb as f64
    })
}

/// Liveness
///
/// `ok` while the process serves requests.
#[utoipa::path(get, path = "/healthy", tag = "operations", operation_id = "getHealthy",
    responses((status = 200, description = "`ok`.", body = String, content_type = "text/plain")))]
pub(super) async fn healthy() -> impl IntoResponse {
    (NO_CACHE, "ok")
}

/// Readiness
///
/// 200 when the node should take users' traffic, else 503 with every rule it breaks:
/// `no_peers` (never for a dev node), `behind` (the tip more than 2 blocks below the best
/// header), `stale_tip` (the tip older than 20 block spacings).
#[utoipa::path(get, path = "/ready", tag = "operations", operation_id = "getReady",
    responses(
        (status = 200, description = "Ready.", body = Ready),
        (status = 503, description = "Not ready; `reasons` says why.", body = Ready),
    ))]
// Only headers count as "best", not the heights peers claim: headers carry proof of work, a
// claimed height does not (any peer could claim 2^64 and keep the node out of a load
// balancer), and sync fetches every better chain's headers first.
pub(super) async fn ready(State(api): State<Arc<Api>>) -> Result<impl IntoResponse, ApiError> {
    let view = api.node.view();
    let (tip, header) = (view.tip.height, view.best_header_meta.height);
    let facts = Facts {
        peers: api.peers.count(),
        dev: api.dev,
        tip_height: tip,
        best_height: header.max(tip),
        tip_time: view.tip.timestamp,
        now: api.node.now(),
        spacing: api.node.params().target_spacing,
    };
    let reasons = judge(&facts);
    let ready = reasons.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((
        status,
        NO_CACHE,
        Json(Ready {
            ready,
            reasons,
            tip_height: facts.tip_height,
            best_height: facts.best_height,
            peers: facts.peers as u64,
            tip_age_secs: facts.now.saturating_sub(facts.tip_time),
        }),
    ))
}
