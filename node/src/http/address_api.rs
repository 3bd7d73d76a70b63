//! Account and mempool endpoints: an address with its mempool view and its history (cursor
//! paging), the mempool's figures, ids and newest entries, and fee estimates.

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use ferrite_api::{
    AddressInfo, Amount, FeeEstimates, FeeGroup, MempoolInfo, MempoolTx, PendingView, Tx, TxStatus,
};
use ferrite_core::transaction::SIGNED_TX_LEN;
use ferrite_core::{Address, AddressPrefix, Hash, SignedTransaction};

use super::doc::{BadRequest, Internal, NotFound};
use super::extract::{self, AddressParam, ApiPath, LastSeenParam};
use super::{tx_api, Api, ApiError, NO_CACHE};
use crate::chain::ChainView;
use crate::mempool::Mempool;
use crate::store::StoreRead;
use crate::store::TxLocation;

/// Confirmed transfers per page of an address's history.
pub const HISTORY_PAGE: usize = 25;
/// Pending transfers listed ahead of the first history page (an address can be paid by any
/// number of pending transfers; `address/{address}` counts them all). Keeps the page small.
pub const HISTORY_PENDING: usize = 50;
/// Entries of `mempool/recent`.
pub const RECENT_TXS: usize = 10;
/// Groups of the mempool's fee histogram.
pub const FEE_HISTOGRAM_GROUPS: usize = 20;
/// Confirmation targets of `fee-estimates`, in blocks.
pub const FEE_TARGETS: [usize; 7] = [1, 2, 3, 6, 12, 24, 144];

/// Up to `limit` pending transfers sent by `a` (newest nonce first), then those paying it
/// (newest first).
pub(super) fn pending_touching(
    pool: &Mempool,
    a: &Address,
    limit: usize,
) -> Vec<SignedTransaction> {
    let mut out = pool.pending_of(a);
    out.reverse();
    out.truncate(limit);
    let room = limit - out.len();
    out.extend(pool.incoming_of(a).into_iter().take(room));
    out
}

/// An account
///
/// Its confirmed balance, nonce and transfer count, and the mempool's view of it. An address
/// of the right form whose checksum fails is 400 `invalid_address`.
#[utoipa::path(get, path = "/api/address/{address}", tag = "addresses",
    operation_id = "getAddress", params(AddressParam),
    responses(
        (status = 200, description = "The account.", body = AddressInfo,
            headers(("Cache-Control" = String, description = "`no-cache`."))),
        (status = 400, response = BadRequest),
        (status = 500, response = Internal),
    ))]
pub(super) async fn address(
    State(api): State<Arc<Api>>,
    ApiPath(address): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let prefix = api.prefix;
    let body = api
        .with_pool(
            move |c, pool| account_pool_part(c, pool, extract::address(&address, &prefix)?),
            account_info,
        )
        .await?;
    Ok((NO_CACHE, Json(body)))
}

/// The mempool's view of an account, copied out under the pool's lock.
pub(super) struct PoolPart {
    address: Address,
    account: ferrite_core::Account,
    outgoing: Vec<SignedTransaction>,
    incoming: Vec<SignedTransaction>,
    next_nonce: u64,
}

/// The pool part of [`account_info`].
pub(super) fn account_pool_part(
    c: &ChainView,
    pool: &Mempool,
    a: Address,
) -> Result<PoolPart, ApiError> {
    let account = c.account(&a)?;
    Ok(PoolPart {
        next_nonce: pool.next_nonce(&a, account.nonce),
        outgoing: pool.pending_of(&a),
        incoming: pool.incoming_of(&a),
        address: a,
        account,
    })
}

/// An account's answer: its confirmed state and what the mempool holds for it.
pub(super) fn account_info(c: &ChainView, part: PoolPart) -> Result<AddressInfo, ApiError> {
    let prefix = &c.params().prefix;
    let tx_count = c.address_tx_count(&part.address)?;
    let spent: i128 = part
        .outgoing
        .iter()
        .map(|t| i128::from(t.tx.amount) + i128::from(t.tx.fee))
        .sum();
    let received: i128 = part.incoming.iter().map(|t| i128::from(t.tx.amount)).sum();
    Ok(AddressInfo {
        address: part.address.to_bech32(prefix),
        balance: Amount(part.account.balance),
        nonce: part.account.nonce,
        tx_count,
        mempool: PendingView {
            tx_count: (part.outgoing.len() + part.incoming.len()) as u64,
            pending_delta: (received - spent).to_string(),
            pending_spend: spent.to_string(),
            next_nonce: part.next_nonce,
        },
    })
}

/// Confirmed history entries of `a` before `cursor` (newest first).
pub(super) fn history_page(
    c: &ChainView,
    a: &Address,
    cursor: Option<(u64, u32)>,
) -> Result<Vec<Tx>, ApiError> {
    let prefix = &c.params().prefix;
    let mut out = Vec::new();
    for (height, position, _) in c.address_txs(a, cursor, HISTORY_PAGE)? {
        let block = c
            .hash_at(height)?
            .ok_or_else(|| ApiError::internal(format!("height {height} missing")))?;
        let (tx, status, _) = tx_api::confirmed(c, &TxLocation { block, position })?;
        out.push(tx_api::tx_answer(prefix, &tx, TxStatus::Confirmed(status)));
    }
    Ok(out)
}

/// An account's newest transfers
///
/// Pending transfers touching the address (up to 50: sent, newest nonce first, then received,
/// newest first), then its 25 newest confirmed transfers. An address of the right form whose
/// checksum fails is 400 `invalid_address`.
#[utoipa::path(get, path = "/api/address/{address}/txs", tag = "addresses",
    operation_id = "getAddressTxs", params(AddressParam),
    responses(
        (status = 200, description = "Pending, then confirmed, newest first.", body = Vec<Tx>,
            headers(("Cache-Control" = String, description = "`no-cache`."))),
        (status = 400, response = BadRequest),
        (status = 500, response = Internal),
    ))]
pub(super) async fn txs(
    State(api): State<Arc<Api>>,
    ApiPath(address): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let prefix = api.prefix;
    let list = api
        .with_pool(
            move |_, pool| {
                let a = extract::address(&address, &prefix)?;
                Ok((a, pending_touching(pool, &a, HISTORY_PENDING)))
            },
            move |c, (a, pending)| {
                let mut out: Vec<Tx> = pending
                    .iter()
                    .map(|t| tx_api::tx_answer(&prefix, t, TxStatus::IN_MEMPOOL))
                    .collect();
                out.extend(history_page(c, &a, None)?);
                Ok(out)
            },
        )
        .await?;
    Ok((NO_CACHE, Json(list)))
}

/// An older page of an account's history
///
/// The next 25 confirmed transfers older than `last_seen_txid`, the last one of the previous
/// page. The cursor is a position in the chain, so blocks arriving on top do not shift later
/// pages. 404 if the cursor is not a confirmed transfer of the address (a reorg may have taken
/// its block: start again from the first page).
#[utoipa::path(get, path = "/api/address/{address}/txs/chain/{last_seen_txid}",
    tag = "addresses", operation_id = "getAddressTxsChain", params(AddressParam, LastSeenParam),
    responses(
        (status = 200, description = "Up to 25 transfers, newest first.", body = Vec<Tx>,
            headers(("Cache-Control" = String, description = "`no-cache`."))),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    ))]
pub(super) async fn txs_chain(
    State(api): State<Arc<Api>>,
    ApiPath((address, last_seen)): ApiPath<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let last_seen = extract::hash("last_seen_txid", &last_seen)?;
    let prefix = api.prefix;
    let list = api
        .with_chain(move |c, _| history_after(c, &extract::address(&address, &prefix)?, &last_seen))
        .await?;
    Ok((NO_CACHE, Json(list)))
}

/// The page of `a`'s confirmed history after `last_seen`, one of its transfers; 404 if it is
/// not one.
pub(super) fn history_after(
    c: &ChainView,
    a: &Address,
    last_seen: &Hash,
) -> Result<Vec<Tx>, ApiError> {
    let not_in_history = || {
        ApiError::not_found(format!(
            "transaction {last_seen} is not a confirmed transfer of this address"
        ))
    };
    let loc = c.tx_location(last_seen)?.ok_or_else(not_in_history)?;
    let tx = c
        .tx_at(&loc.block, loc.position)?
        .ok_or_else(|| ApiError::internal("indexed position missing"))?;
    if tx.tx.sender_address() != *a && tx.tx.recipient != *a {
        return Err(not_in_history());
    }
    let height = c
        .header(&loc.block)?
        .ok_or_else(|| ApiError::internal("indexed block missing"))?
        .height;
    history_page(c, a, Some((height, loc.position)))
}

/// The mempool's figures
///
/// Pending transfers, their bytes and fees, and a fee histogram: about 20 groups of similar
/// size, highest fee first, a fee never split across groups (every transfer has the same
/// size, so the fee is the fee rate).
#[utoipa::path(get, path = "/api/mempool", tag = "mempool", operation_id = "getMempool",
    responses(
        (status = 200, description = "The figures.", body = MempoolInfo,
            headers(("Cache-Control" = String, description = "`no-cache`."))),
        (status = 500, response = Internal),
    ))]
pub(super) async fn mempool(State(api): State<Arc<Api>>) -> Result<impl IntoResponse, ApiError> {
    let body = api
        .with_chain(|_, node| Ok(mempool_info(&node.mempool())))
        .await?;
    Ok((NO_CACHE, Json(body)))
}

/// The mempool's figures and fee histogram.
pub(super) fn mempool_info(pool: &Mempool) -> MempoolInfo {
    let s = pool.stats();
    let fee_histogram = pool
        .fee_histogram(FEE_HISTOGRAM_GROUPS)
        .into_iter()
        .map(|(fee, count)| FeeGroup {
            fee: Amount(fee),
            count: count as u64,
        })
        .collect();
    MempoolInfo {
        count: s.count as u64,
        bytes: s.bytes as u64,
        total_fee: s.total_fee.to_string(),
        fee_histogram,
    }
}

/// The mempool's ids
///
/// The id of every pending transfer.
#[utoipa::path(get, path = "/api/mempool/txids", tag = "mempool",
    operation_id = "getMempoolTxids",
    responses(
        (status = 200, description = "The ids.", body = Vec<ferrite_api::HashHex>,
            headers(("Cache-Control" = String, description = "`no-cache`."))),
        (status = 500, response = Internal),
    ))]
pub(super) async fn mempool_txids(
    State(api): State<Arc<Api>>,
) -> Result<impl IntoResponse, ApiError> {
    let ids = api.with_chain(|_, node| Ok(node.mempool().ids())).await?;
    Ok((NO_CACHE, Json(ids)))
}

/// The newest pending transfers
///
/// The 10 transfers that entered the mempool last, newest first.
#[utoipa::path(get, path = "/api/mempool/recent", tag = "mempool",
    operation_id = "getMempoolRecent",
    responses(
        (status = 200, description = "Newest first.", body = Vec<MempoolTx>,
            headers(("Cache-Control" = String, description = "`no-cache`."))),
        (status = 500, response = Internal),
    ))]
pub(super) async fn mempool_recent(
    State(api): State<Arc<Api>>,
) -> Result<impl IntoResponse, ApiError> {
    let prefix = api.prefix;
    let recent = api
        .with_chain(|_, node| Ok(node.mempool().recent(RECENT_TXS)))
        .await?;
    Ok((NO_CACHE, Json(recent_answer(&prefix, &recent))))
}

/// The answers for transfers that entered the mempool.
pub(super) fn recent_answer(
    prefix: &AddressPrefix,
    recent: &[SignedTransaction],
) -> Vec<MempoolTx> {
    recent
        .iter()
        .map(|t| MempoolTx {
            txid: t.id(),
            from: t.tx.sender_address().to_bech32(prefix),
            to: t.tx.recipient.to_bech32(prefix),
            amount: Amount(t.tx.amount),
            fee: Amount(t.tx.fee),
            size: SIGNED_TX_LEN as u64,
        })
        .collect()
}

/// Fee estimates
///
/// For n blocks (1, 2, 3, 6, 12, 24 and 144), one unit more than the fee of the last pending
/// transfer that fits in n full blocks, or the mempool's minimum fee when fewer are pending.
/// Every pending transfer counts, also those waiting behind a nonce gap, so estimates err
/// high when many such wait.
#[utoipa::path(get, path = "/api/fee-estimates", tag = "mempool",
    operation_id = "getFeeEstimates",
    responses(
        (status = 200, description = "Fee per target.", body = FeeEstimates,
            headers(("Cache-Control" = String, description = "`no-cache`."))),
        (status = 500, response = Internal),
    ))]
pub(super) async fn fee_estimates(
    State(api): State<Arc<Api>>,
) -> Result<impl IntoResponse, ApiError> {
    let per_block = api.per_block;
    let out = api
        .with_chain(move |_, node| {
            let pool = node.mempool();
            let estimates = FEE_TARGETS
                .iter()
                .map(|&n| (n.to_string(), Amount(pool.fee_estimate(per_block, n))))
                .collect();
            Ok(FeeEstimates(estimates))
        })
        .await?;
    Ok((NO_CACHE, Json(out)))
}
