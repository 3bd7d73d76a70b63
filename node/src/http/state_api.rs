//! State and node endpoints: accounts with their mempool view, the mempool, submitting a
//! transfer, node information and health.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use ferrite_core::encoding::Decode;
use ferrite_core::{Address, SignedTransaction};
use serde_json::json;

use super::{Api, ApiError};
use crate::node::SubmitTxError;

const NO_CACHE: [(header::HeaderName, &str); 1] = [(header::CACHE_CONTROL, "no-cache")];

pub(super) async fn address(
    State(api): State<Arc<Api>>,
    Path(address): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let body = api
        .with_chain(move |c, node| {
            let prefix = &c.params().prefix;
            let a = Address::parse(&address, prefix).map_err(|e| {
                ApiError::bad_param("address", "invalid_address", format!("address: {e}"))
            })?;
            let acct = c.account(&a)?;
            let pool = node.mempool();
            let outgoing = pool.pending_of(&a);
            let spent: i128 = outgoing
                .iter()
                .map(|t| i128::from(t.tx.amount) + i128::from(t.tx.fee))
                .sum();
            let received: i128 = pool
                .ids()
                .iter()
                .filter_map(|id| pool.get(id))
                .filter(|t| t.tx.recipient == a)
                .map(|t| i128::from(t.tx.amount))
                .sum();
            let next_nonce = outgoing
                .iter()
                .map(|t| t.tx.nonce + 1)
                .max()
                .unwrap_or(acct.nonce)
                .max(acct.nonce);
            Ok(json!({
                "address": a.to_bech32(prefix),
                "balance": acct.balance,
                "nonce": acct.nonce,
                "mempool": {
                    "tx_count": outgoing.len(),
                    "pending_delta": (received - spent).to_string(),
                    "next_nonce": next_nonce,
                },
            }))
        })
        .await?;
    Ok((NO_CACHE, Json(body)))
}

pub(super) async fn mempool(State(api): State<Arc<Api>>) -> Result<impl IntoResponse, ApiError> {
    let s = api.node.mempool().stats();
    Ok((
        NO_CACHE,
        Json(json!({
            "count": s.count,
            "bytes": s.bytes,
            "total_fee": s.total_fee.to_string(),
        })),
    ))
}

pub(super) async fn mempool_txids(
    State(api): State<Arc<Api>>,
) -> Result<impl IntoResponse, ApiError> {
    let ids: Vec<String> = api
        .node
        .mempool()
        .ids()
        .iter()
        .map(|h| h.to_string())
        .collect();
    Ok((NO_CACHE, Json(ids)))
}

/// `POST /api/tx`: a hex-encoded signed transfer; answers its id, or 400 naming the rule that
/// refused it.
pub(super) async fn post_tx(
    State(api): State<Arc<Api>>,
    body: String,
) -> Result<impl IntoResponse, ApiError> {
    let bytes = hex::decode(body.trim()).map_err(|e| {
        ApiError::bad_param("body", "invalid_hex", format!("body must be hex: {e}"))
    })?;
    let tx = SignedTransaction::decode(&bytes).map_err(|e| {
        ApiError::bad_param("body", "invalid_tx", format!("not a signed transfer: {e}"))
    })?;
    let node = api.node.clone();
    let result = tokio::task::spawn_blocking(move || node.submit_tx(tx))
        .await
        .map_err(ApiError::internal)?;
    match result {
        Ok(id) => Ok((StatusCode::OK, NO_CACHE, id.to_string())),
        Err(SubmitTxError::Rejected(e)) => Err(ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "rejected",
            field: Some("body"),
            message: e.to_string(),
        }),
        Err(SubmitTxError::Chain(e)) => Err(ApiError::internal(e)),
    }
}

pub(super) async fn node_info(State(api): State<Arc<Api>>) -> Result<impl IntoResponse, ApiError> {
    let peers = api.peers.load(Ordering::Relaxed);
    let body = api
        .with_chain(move |c, _| {
            let tip = c.tip_info()?;
            let (best_header, best) = c.best_header()?;
            Ok(json!({
                "version": crate::VERSION,
                "chain": c.params().chain_name,
                "genesis": c.params().genesis_hash.to_string(),
                "tip": {"height": tip.height, "hash": tip.hash.to_string(), "chainwork": tip.work.to_hex()},
                "best_header": {"height": best.height, "hash": best_header.to_string()},
                "syncing": best.height > tip.height,
                "peers": peers,
            }))
        })
        .await?;
    Ok((NO_CACHE, Json(body)))
}

pub(super) async fn healthy() -> impl IntoResponse {
    (NO_CACHE, "ok")
}
