//! Node endpoints: information about this node, its peers, its OpenAPI document, Prometheus
//! metrics, and the health and readiness checks.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use super::{Api, ApiError, NO_CACHE, OPENAPI};
use crate::metrics::Snapshot;

use crate::readiness::{judge, syncing, Facts};

pub(super) async fn node_info(State(api): State<Arc<Api>>) -> Result<impl IntoResponse, ApiError> {
    let peers = api.peers.count();
    let node_id = api.node_id.to_string();
    let body = api
        .with_chain(move |c, _| {
            let tip = c.tip_info()?;
            let (best_header, best) = c.best_header()?;
            Ok(json!({
                "version": crate::VERSION,
                "commit": crate::COMMIT,
                "node_id": node_id,
                "chain": c.params().chain_name,
                "address_prefix": c.params().prefix.as_str(),
                "decimals": c.params().decimals,
                "genesis": c.params().genesis_hash.to_string(),
                "tip": {"height": tip.height, "hash": tip.hash.to_string(), "chainwork": tip.work.to_hex()},
                "best_header": {"height": best.height, "hash": best_header.to_string()},
                // The rule `/ready` answers by: a header or two ahead is a block on its way.
                "syncing": syncing(tip.height, best.height),
                "peers": peers,
            }))
        })
        .await?;
    Ok((NO_CACHE, Json(body)))
}

pub(super) async fn peers(State(api): State<Arc<Api>>) -> impl IntoResponse {
    let list: Vec<Value> = api
        .peers
        .snapshot()
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "node_id": p.node_id.to_string(),
                "addr": p.addr.to_string(),
                "inbound": p.inbound,
                "user_agent": p.user_agent,
                "height": p.height,
                "connected_since": p.connected_since,
                "ping_ms": p.ping_micros.map(|us| us as f64 / 1000.0),
            })
        })
        .collect();
    (NO_CACHE, Json(list))
}

pub(super) async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

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
fn u256_to_f64(v: primitive_types::U256) -> f64 {
    v.0.iter().rev().fold(0.0, |acc, limb| {
        acc * 18_446_744_073_709_551_616.0 + *limb as f64
    })
}

pub(super) async fn healthy() -> impl IntoResponse {
    (NO_CACHE, "ok")
}

/// `/ready`: 200 when no readiness rule ([`crate::readiness`]) is broken, else 503 with the
/// reasons. Only headers count as "best", not the heights peers claim: headers carry proof of
/// work, a claimed height does not (any peer could claim 2^64 and keep the node out of a load
/// balancer), and sync fetches every better chain's headers first.
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
        Json(json!({
            "ready": ready,
            "reasons": reasons,
            "tip_height": facts.tip_height,
            "best_height": facts.best_height,
            "peers": facts.peers,
            "tip_age_secs": facts.now.saturating_sub(facts.tip_time),
        })),
    ))
}
