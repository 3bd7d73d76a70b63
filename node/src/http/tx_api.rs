//! Transaction endpoints: a transfer by id with its status, its raw encoding, its merkle
//! proof, and submitting a new one.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use ferrite_core::encoding::{Decode, Encode};
use ferrite_core::{AddressPrefix, Hash, SignedTransaction};
use serde_json::{json, Value};

use super::extract::{self, ApiPath};
use super::{cache_control, Api, ApiError, NO_CACHE};
use crate::chain::ChainView;
use crate::mempool::Mempool;
use crate::node::SubmitTxError;
use crate::store::StoreRead;
use crate::store::TxLocation;

/// The JSON of a transfer with its `status`.
pub(super) fn tx_json(prefix: &AddressPrefix, tx: &SignedTransaction, status: Value) -> Value {
    json!({
        "txid": tx.id().to_string(),
        "from": tx.tx.sender_address().to_bech32(prefix),
        "to": tx.tx.recipient.to_bech32(prefix),
        "amount": tx.tx.amount,
        "fee": tx.tx.fee,
        "nonce": tx.tx.nonce,
        "size": tx.encoded_len(),
        "status": status,
    })
}

/// A confirmed transfer: the transfer, its status JSON and its depth below the tip.
pub(super) fn confirmed(
    c: &ChainView,
    loc: &TxLocation,
) -> Result<(SignedTransaction, Value, u64), ApiError> {
    let header = c
        .header(&loc.block)?
        .ok_or_else(|| ApiError::internal("indexed block missing"))?;
    let tx = c
        .tx_at(&loc.block, loc.position)?
        .ok_or_else(|| ApiError::internal("indexed position missing"))?;
    let depth = c.tip_info()?.height.saturating_sub(header.height);
    // No confirmation count here: answers about deep transfers are cached, and the count
    // would go stale; `tx/{txid}/status` (never cached) adds it.
    let status = json!({
        "confirmed": true,
        "block_height": header.height,
        "block_hash": loc.block.to_string(),
        "block_time": header.timestamp,
        "position": loc.position,
    });
    Ok((tx, status, depth))
}

/// Where a transaction is: in a best-chain block (with its depth), or in the mempool (`pending`
/// is the mempool's copy, looked up with the same view).
fn lookup(
    c: &ChainView,
    pending: Option<SignedTransaction>,
    txid: &Hash,
) -> Result<(SignedTransaction, Value, Option<u64>), ApiError> {
    if let Some(loc) = c.tx_location(txid)? {
        let (tx, status, depth) = confirmed(c, &loc)?;
        return Ok((tx, status, Some(depth)));
    }
    if let Some(tx) = pending {
        return Ok((tx, json!({"confirmed": false, "in_mempool": true}), None));
    }
    Err(ApiError::not_found(format!(
        "transaction {txid} is unknown"
    )))
}

/// The mempool's copy of `txid`, if any (the pool part of a lookup).
fn pending(pool: &Mempool, txid: Hash) -> Result<Option<SignedTransaction>, ApiError> {
    Ok(pool.get(&txid))
}

pub(super) async fn tx(
    State(api): State<Arc<Api>>,
    ApiPath(txid): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let txid = extract::hash("txid", &txid)?;
    let prefix = api.prefix;
    let (body, depth) = api
        .with_pool(
            move |_, pool| pending(pool, txid),
            move |c, p| {
                let (tx, status, depth) = lookup(c, p, &txid)?;
                Ok((tx_json(&prefix, &tx, status), depth))
            },
        )
        .await?;
    Ok((cache_control(depth), Json(body)))
}

pub(super) async fn tx_status(
    State(api): State<Arc<Api>>,
    ApiPath(txid): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let txid = extract::hash("txid", &txid)?;
    let status = api
        .with_pool(
            move |_, pool| pending(pool, txid),
            move |c, p| {
                let (_, mut status, depth) = lookup(c, p, &txid)?;
                if let (Some(depth), Some(fields)) = (depth, status.as_object_mut()) {
                    fields.insert("confirmations".into(), json!(depth + 1));
                }
                Ok(status)
            },
        )
        .await?;
    Ok((NO_CACHE, Json(status)))
}

pub(super) async fn tx_raw(
    State(api): State<Arc<Api>>,
    ApiPath(txid): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let txid = extract::hash("txid", &txid)?;
    let (tx, depth) = api
        .with_pool(
            move |_, pool| pending(pool, txid),
            move |c, p| {
                let (tx, _, depth) = lookup(c, p, &txid)?;
                Ok((tx, depth))
            },
        )
        .await?;
    let [cache] = cache_control(depth);
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream"), cache],
        tx.encode(),
    ))
}

/// `tx/{txid}/merkle-proof`: the path from the transfer's leaf to its block's merkle root.
pub(super) async fn merkle_proof(
    State(api): State<Arc<Api>>,
    ApiPath(txid): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let txid = extract::hash("txid", &txid)?;
    let (body, depth) = api
        .with_chain(move |c, _| {
            let loc = c.tx_location(&txid)?.ok_or_else(|| {
                ApiError::not_found(format!("transaction {txid} is not in a best-chain block"))
            })?;
            let block = c
                .block(&loc.block)?
                .ok_or_else(|| ApiError::internal("indexed block missing"))?;
            let ids = ferrite_core::validation::tx_ids(&block);
            let proof = ferrite_core::merkle::merkle_proof(&ids, loc.position as usize)
                .ok_or_else(|| ApiError::internal("indexed position missing"))?;
            let depth = c.tip_info()?.height.saturating_sub(block.header.height);
            Ok((
                json!({
                    "block_height": block.header.height,
                    "block_hash": loc.block.to_string(),
                    "merkle_root": block.header.merkle_root.to_string(),
                    "pos": proof.index,
                    "leaf_count": proof.leaf_count,
                    "merkle": proof.path.iter().map(Hash::to_string).collect::<Vec<_>>(),
                }),
                depth,
            ))
        })
        .await?;
    Ok((cache_control(Some(depth)), Json(body)))
}

/// `POST /api/tx`: a hex-encoded signed transfer; answers its id, or 400 naming the rule that
/// refused it.
pub(super) async fn post_tx(
    State(api): State<Arc<Api>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body.map_err(|e| {
        let status = e.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "invalid_body"
        };
        ApiError::status(status, code, e.body_text())
    })?;
    let bytes = hex::decode(body.trim_ascii()).map_err(|e| {
        ApiError::bad_param("body", "invalid_hex", format!("body must be hex: {e}"))
    })?;
    let tx = SignedTransaction::decode(&bytes).map_err(|e| {
        ApiError::bad_param("body", "invalid_tx", format!("not a signed transfer: {e}"))
    })?;
    let result = api.admission.submit(tx).await.map_err(ApiError::internal)?;
    match result {
        Ok(id) => Ok((StatusCode::OK, NO_CACHE, id.to_string())),
        Err(SubmitTxError::Rejected(e)) => Err(ApiError {
            rule: Some(e.rule()),
            ..ApiError::bad_param("body", "rejected", e.to_string())
        }),
        Err(SubmitTxError::Chain(e)) => Err(ApiError::internal(e)),
    }
}
