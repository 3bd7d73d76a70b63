//! Transaction endpoints: a transfer by id with its status, its raw encoding, its merkle
//! proof, and submitting a new one.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use ferrite_api::{
    Amount, ConfirmedStatus, DropReason, Dropped, MerkleProof, PoolLimit, Tx, TxStatus,
};
use ferrite_core::encoding::{Decode, Encode};
use ferrite_core::{AddressPrefix, Hash, SignedTransaction};

use super::doc::{BadRequest, Internal, NotFound, PayloadTooLarge, RawBytes};
use super::extract::{self, ApiPath, TxidParam};
use super::{cache_control, Api, ApiError, NO_CACHE};
use crate::chain::ChainView;
use crate::mempool::{self, Mempool};
use crate::node::SubmitTxError;
use crate::store::StoreRead;
use crate::store::TxLocation;

/// The answer for a transfer with its `status`.
pub(super) fn tx_answer(prefix: &AddressPrefix, tx: &SignedTransaction, status: TxStatus) -> Tx {
    Tx {
        txid: tx.id(),
        from: tx.tx.sender_address().to_bech32(prefix),
        to: tx.tx.recipient.to_bech32(prefix),
        amount: Amount(tx.tx.amount),
        fee: Amount(tx.tx.fee),
        nonce: tx.tx.nonce,
        size: tx.encoded_len() as u64,
        status,
    }
}

/// A confirmed transfer: the transfer, its status and its depth below the tip.
pub(super) fn confirmed(
    c: &ChainView,
    loc: &TxLocation,
) -> Result<(SignedTransaction, ConfirmedStatus, u64), ApiError> {
    let header = c
        .header(&loc.block)?
        .ok_or_else(|| ApiError::internal("indexed block missing"))?;
    let tx = c
        .tx_at(&loc.block, loc.position)?
        .ok_or_else(|| ApiError::internal("indexed position missing"))?;
    let depth = c.tip_info()?.height.saturating_sub(header.height);
    // No confirmation count here: answers about deep transfers are cached, and the count
    // would go stale; `tx/{txid}/status` (never cached) adds it.
    let status = ConfirmedStatus::new(header.height, loc.block, header.timestamp, loc.position);
    Ok((tx, status, depth))
}

/// What the mempool knows of a transfer: it holds it, or remembers why it left.
pub(crate) enum InPool {
    /// Pending.
    Pending(SignedTransaction),
    /// Left without being mined.
    Dropped(SignedTransaction, Dropped),
}

/// Where a transaction is: in a best-chain block (with its depth), in the mempool, or dropped
/// from it (`pending` is what the mempool knows, looked up with the same view).
pub(super) fn lookup(
    c: &ChainView,
    pending: Option<InPool>,
    txid: &Hash,
) -> Result<(SignedTransaction, TxStatus, Option<u64>), ApiError> {
    if let Some(loc) = c.tx_location(txid)? {
        let (tx, status, depth) = confirmed(c, &loc)?;
        return Ok((tx, TxStatus::Confirmed(status), Some(depth)));
    }
    match pending {
        Some(InPool::Pending(tx)) => Ok((tx, TxStatus::IN_MEMPOOL, None)),
        Some(InPool::Dropped(tx, d)) => Ok((tx, TxStatus::dropped(d), None)),
        None => Err(ApiError::not_found(format!(
            "transaction {txid} is unknown"
        ))),
    }
}

/// Like [`lookup`], with the confirmation count in a confirmed status (for answers that are
/// never cached).
pub(super) fn counted(
    c: &ChainView,
    pending: Option<InPool>,
    txid: &Hash,
) -> Result<(SignedTransaction, TxStatus), ApiError> {
    let (tx, mut status, depth) = lookup(c, pending, txid)?;
    if let (Some(depth), TxStatus::Confirmed(c)) = (depth, &mut status) {
        c.confirmations = Some(depth + 1);
    }
    Ok((tx, status))
}

/// What the mempool knows of `txid`, if anything (the pool part of a lookup).
pub(super) fn pending(pool: &Mempool, txid: Hash) -> Result<Option<InPool>, ApiError> {
    if let Some(tx) = pool.get(&txid) {
        return Ok(Some(InPool::Pending(tx)));
    }
    Ok(pool
        .dropped(&txid)
        .map(|d| InPool::Dropped(*d.tx.tx(), dropped_answer(d))))
}

/// The answer's account of a departure.
fn dropped_answer(d: &mempool::Dropped) -> Dropped {
    let mut out = Dropped {
        reason: DropReason::Expired,
        time: d.time,
        replaced_by: None,
        limit: None,
        rule: None,
        after: d.after,
    };
    out.reason = match &d.reason {
        mempool::DropReason::Replaced { by } => {
            out.replaced_by = Some(*by);
            DropReason::Replaced
        }
        mempool::DropReason::Evicted(limit) => {
            out.limit = Some(match limit {
                mempool::PoolLimit::Count => PoolLimit::MaxCount,
                mempool::PoolLimit::Bytes => PoolLimit::MaxBytes,
                mempool::PoolLimit::PerSender => PoolLimit::PerSender,
            });
            DropReason::Evicted
        }
        mempool::DropReason::Expired => DropReason::Expired,
        mempool::DropReason::Reorg(e) => {
            out.rule = Some(e.rule().to_string());
            DropReason::Reorg
        }
        mempool::DropReason::NonceUsed => DropReason::NonceUsed,
        mempool::DropReason::Unpayable => DropReason::Unpayable,
        mempool::DropReason::NoLongerApplies(e) => {
            out.rule = Some(e.rule().to_string());
            DropReason::NoLongerApplies
        }
    };
    out
}

/// A transfer
///
/// The transfer and where it is: in a best-chain block (without a confirmation count, as the
/// answer may be cached), pending in the mempool, or dropped from it (`dropped` says why) while
/// the node remembers the departure.
#[utoipa::path(get, path = "/api/tx/{txid}", tag = "transactions", operation_id = "getTx",
    params(TxidParam),
    responses(
        (status = 200, description = "The transfer.", body = Tx,
            headers(("Cache-Control" = String,
            description = "`public, max-age=86400` at least 100 blocks deep, else `no-cache`."))),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    ))]
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
                Ok((tx_answer(&prefix, &tx, status), depth))
            },
        )
        .await?;
    Ok((cache_control(depth), Json(body)))
}

/// A transfer's status
///
/// Where the transfer is, with `confirmations` when it is in a best-chain block, or why it
/// left the mempool (`dropped`) (never cached).
#[utoipa::path(get, path = "/api/tx/{txid}/status", tag = "transactions",
    operation_id = "getTxStatus", params(TxidParam),
    responses(
        (status = 200, description = "Its status.", body = TxStatus,
            headers(("Cache-Control" = String, description = "`no-cache`."))),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    ))]
pub(super) async fn tx_status(
    State(api): State<Arc<Api>>,
    ApiPath(txid): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let txid = extract::hash("txid", &txid)?;
    let status = api
        .with_pool(
            move |_, pool| pending(pool, txid),
            move |c, p| Ok(counted(c, p, &txid)?.1),
        )
        .await?;
    Ok((NO_CACHE, Json(status)))
}

/// A transfer's encoding
///
/// The signed transfer's 152 bytes (docs/consensus.md): of a confirmed or pending transfer,
/// or of one dropped from the mempool while the node remembers it.
#[utoipa::path(get, path = "/api/tx/{txid}/raw", tag = "transactions",
    operation_id = "getTxRaw", params(TxidParam),
    responses(
        (status = 200, description = "The encoded transfer.", body = RawBytes,
            content_type = "application/octet-stream", headers(("Cache-Control" = String,
            description = "`public, max-age=86400` at least 100 blocks deep, else `no-cache`."))),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    ))]
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

/// A transfer's merkle proof
///
/// The path from the transfer's leaf to its block's merkle root; verify it with RFC 9162's
/// algorithm (`ferrite_core::merkle::MerkleProof::verify`). 404 unless the transfer is in a
/// best-chain block.
#[utoipa::path(get, path = "/api/tx/{txid}/merkle-proof", tag = "transactions",
    operation_id = "getTxMerkleProof", params(TxidParam),
    responses(
        (status = 200, description = "The proof.", body = MerkleProof,
            headers(("Cache-Control" = String,
            description = "`public, max-age=86400` at least 100 blocks deep, else `no-cache`."))),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    ))]
pub(super) async fn merkle_proof(
    State(api): State<Arc<Api>>,
    ApiPath(txid): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let txid = extract::hash("txid", &txid)?;
    let (body, depth) = api.with_chain(move |c, _| proof_of(c, &txid)).await?;
    Ok((cache_control(Some(depth)), Json(body)))
}

/// The merkle proof of `txid`, with its block's depth; 404 unless it is in a best-chain block.
pub(super) fn proof_of(c: &ChainView, txid: &Hash) -> Result<(MerkleProof, u64), ApiError> {
    let loc = c.tx_location(txid)?.ok_or_else(|| {
        ApiError::not_found(format!("transaction {txid} is not in a best-chain block"))
    })?;
    let block = c
        .block(&loc.block)?
        .ok_or_else(|| ApiError::internal("indexed block missing"))?;
    let ids = ferrite_core::validation::tx_ids(&block);
    let proof = ferrite_core::merkle::merkle_proof(&ids, loc.position as usize)
        .ok_or_else(|| ApiError::internal("indexed position missing"))?;
    let depth = c.tip_info()?.height.saturating_sub(block.header.height);
    let body = MerkleProof {
        block_height: block.header.height,
        block_hash: loc.block,
        merkle_root: block.header.merkle_root,
        pos: proof.index,
        leaf_count: proof.leaf_count,
        merkle: proof.path,
    };
    Ok((body, depth))
}

/// Submit a transfer
///
/// The body is a signed transfer's encoding in hex (304 digits). The answer is its id, or 400
/// `rejected` naming the mempool rule that refused it (docs/http.md lists the rules): its
/// signature, chain and nonce are checked here, not by the schema.
#[utoipa::path(post, path = "/api/tx", tag = "transactions", operation_id = "postTx",
    request_body(content = super::doc::SignedTxHex, content_type = "text/plain",
        description = "The signed transfer, 304 hex digits."),
    responses(
        (status = 200, description = "Accepted: the transfer's id.", body = String,
            content_type = "text/plain",
            headers(("Cache-Control" = String, description = "`no-cache`."))),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
        (status = 500, response = Internal),
    ))]
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
    let id = submit_hex(&api, &body).await?;
    Ok((StatusCode::OK, NO_CACHE, id.to_string()))
}

/// Decodes a signed transfer from hex (surrounding white space allowed) and submits it: its
/// id, or 400 naming what is wrong with it (`invalid_hex`, `invalid_tx`, or `rejected` with
/// the mempool's rule).
pub(super) async fn submit_hex(api: &Api, hex_text: &[u8]) -> Result<Hash, ApiError> {
    let bytes = hex::decode(hex_text.trim_ascii()).map_err(|e| {
        ApiError::bad_param("body", "invalid_hex", format!("body must be hex: {e}"))
    })?;
    let tx = SignedTransaction::decode(&bytes).map_err(|e| {
        ApiError::bad_param("body", "invalid_tx", format!("not a signed transfer: {e}"))
    })?;
    let result = api.admission.submit(tx).await.map_err(ApiError::internal)?;
    match result {
        Ok(id) => Ok(id),
        Err(SubmitTxError::Rejected(e)) => Err(ApiError {
            rule: Some(e.rule()),
            ..ApiError::bad_param("body", "rejected", e.to_string())
        }),
        Err(SubmitTxError::Chain(e)) => Err(ApiError::internal(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrite_core::dev::dev_key;
    use ferrite_core::{Address, IdentifiedTx, Transaction};

    fn left(reason: mempool::DropReason, after: Option<Hash>) -> Dropped {
        let k = dev_key(0);
        let t = Transaction {
            sender: k.public_key(),
            recipient: Address([9; 32]),
            amount: 1,
            fee: 1_000,
            nonce: 3,
        }
        .sign(&k, &Hash([1; 32]));
        dropped_answer(&mempool::Dropped {
            tx: IdentifiedTx::new(t),
            reason,
            after,
            time: 7,
        })
    }

    /// The wallet stops waiting only on a final departure; the rule names it reads are the
    /// node's own.
    #[test]
    fn only_a_used_nonce_makes_a_departure_final() {
        use mempool::DropReason as R;
        let used = mempool::MempoolError::NonceTooLow {
            expected: 4,
            got: 3,
        };
        let poor = mempool::MempoolError::InsufficientBalance {
            balance: 1,
            needed: 2,
        };
        let by = Hash([2; 32]);
        assert!(left(R::Replaced { by }, None).is_final());
        assert!(left(R::NonceUsed, None).is_final());
        assert!(left(R::Reorg(used.clone()), None).is_final());
        assert!(!left(R::Reorg(poor), None).is_final());
        assert!(
            !left(R::Reorg(used), Some(by)).is_final(),
            "went with another"
        );
        assert!(!left(R::Evicted(mempool::PoolLimit::Count), None).is_final());
        assert!(!left(R::Expired, None).is_final());
        assert!(!left(R::Unpayable, None).is_final());
        let stale = R::NoLongerApplies(ferrite_core::ledger::TxError::ZeroAmount);
        assert!(!left(stale, None).is_final());
    }
}
