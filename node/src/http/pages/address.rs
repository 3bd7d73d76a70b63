//! An address's page (balance, nonce, what the mempool holds for it, its history paged by a
//! cursor) and the CSV export of its whole confirmed history.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use ferrite_api::{AddressInfo, Tx, TxStatus};
use ferrite_core::Address;
use futures_util::StreamExt;
use maud::{html, Markup};

use super::layout::{short_status, tx_table};
use super::{format, Chrome, Page};
use crate::chain::ChainView;
use crate::http::address_api::{
    account_info, account_pool_part, history_after, history_page, pending_touching, HISTORY_PAGE,
    HISTORY_PENDING,
};
use crate::http::extract::ApiPath;
use crate::http::query::page_params;
use crate::http::tx_api::{confirmed, tx_answer};
use crate::http::{extract, Api, ApiError};
use crate::store::{StoreRead, TxLocation};

/// History entries read per step of a CSV export (one store scan each).
pub const EXPORT_STEP: usize = 500;
/// CSV exports running at once: each holds a blocking thread while it reads; more get 503.
pub const MAX_EXPORTS: usize = 2;
/// How long an export waits for its client to take the next chunk before it gives up: a
/// client that stops reading must not hold one of the [`MAX_EXPORTS`] slots (and a store
/// snapshot) for as long as it keeps the connection open.
pub const EXPORT_SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// The CSV export's header line.
pub const CSV_HEADER: &str =
    "txid,block_height,block_hash,block_time,position,direction,from,to,amount,fee,nonce\n";

/// What the address page shows.
struct AddressView {
    info: AddressInfo,
    pending: Vec<Tx>,
    history: Vec<Tx>,
    after: Option<ferrite_core::Hash>,
}

/// `GET /address/{address}?after=TXID`: the account, then its history (pending first on the
/// first page), 25 confirmed transfers a page, older than `after`.
pub(super) async fn address(
    State(api): State<Arc<Api>>,
    ApiPath(address): ApiPath<String>,
    RawQuery(q): RawQuery,
) -> Result<Page, ApiError> {
    let params = page_params(q.as_deref(), &["after"])?;
    let after = match params.first() {
        Some((_, v)) => Some(extract::hash("after", v)?),
        None => None,
    };
    let a = extract::address(&address, &api.chrome.prefix)?;
    let view = api
        .with_pool(
            move |c, pool| {
                let pending = match after {
                    None => pending_touching(pool, &a, HISTORY_PENDING),
                    Some(_) => Vec::new(),
                };
                Ok((account_pool_part(c, pool, a)?, pending))
            },
            move |c, (part, pending)| {
                let prefix = c.params().prefix;
                let history = match after {
                    Some(last) => history_after(c, &a, &last)?,
                    None => history_page(c, &a, None)?,
                };
                Ok(AddressView {
                    info: account_info(c, part)?,
                    pending: pending
                        .iter()
                        .map(|t| tx_answer(&prefix, t, TxStatus::IN_MEMPOOL))
                        .collect(),
                    history,
                    after,
                })
            },
        )
        .await?;
    let main = render(&api.chrome, &view);
    let title = format!("Address {}", format::short(&view.info.address));
    let page = Page::new(title, main);
    Ok(if after.is_none() {
        page.live("tip tx")
    } else {
        page
    })
}

fn render(chrome: &Chrome, v: &AddressView) -> Markup {
    let i = &v.info;
    let delta: i128 = i.mempool.pending_delta.parse().unwrap_or(0);
    html! {
        h1 { "Address" }
        p.mono #address { (i.address) }
        div data-part="account" { div.cards {
            (super::layout::card("Balance", html! { span #balance { (chrome.coins(i.balance.0)) } }))
            (super::layout::card("Nonce", html! { (i.nonce) }))
            (super::layout::card("Confirmed transfers", html! { span #tx-count { (i.tx_count) } }))
            (super::layout::card("Pending transfers", html! { (i.mempool.tx_count) }))
            (super::layout::card("Pending change", html! { (format::signed_coins(delta, chrome.decimals)) }))
            (super::layout::card("Next nonce", html! { (i.mempool.next_nonce) }))
        } }
        p { a #csv href={ "/address/" (i.address) "/history.csv" } download { "Export the whole history as CSV" } }
        @if v.after.is_none() {
            h2 { "Pending" }
            div data-part="pending" { (tx_table(chrome, &v.pending, short_status)) }
        }
        h2 { "Confirmed history" @if v.after.is_some() { " (older)" } }
        div data-part="history" { (tx_table(chrome, &v.history, short_status)) }
        div.pager {
            @if v.after.is_some() { a href={ "/address/" (i.address) } { "\u{2190} Newest" } }
            @if let (true, Some(last)) = (v.history.len() == HISTORY_PAGE, v.history.last()) {
                a href={ "/address/" (i.address) "?after=" (last.txid) } rel="next" { "Older \u{2192}" }
            }
        }
    }
}

/// `GET /address/{address}/history.csv`: every confirmed transfer of the address, newest
/// first, read from one view of the chain and streamed as it is read (docs/http.md gives the
/// columns). 503 when [`MAX_EXPORTS`] are running.
pub(super) async fn csv(
    State(api): State<Arc<Api>>,
    ApiPath(address): ApiPath<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    page_params(q.as_deref(), &[])?;
    let a = extract::address(&address, &api.chrome.prefix)?;
    let permit = api.exports.clone().try_acquire_owned().map_err(|_| {
        ApiError::status(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!("{MAX_EXPORTS} exports are running; try again shortly"),
        )
    })?;
    let view = api.node.view();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let decimals = api.chrome.decimals;
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let send = |item| {
            runtime
                .block_on(tx.send_timeout(item, EXPORT_SEND_TIMEOUT))
                .is_ok()
        };
        let mut cursor = None;
        let mut first = Some(Bytes::from_static(CSV_HEADER.as_bytes()));
        loop {
            let chunk = match export_step(&view, &a, &mut cursor, decimals) {
                Ok(rows) => rows,
                Err(e) => {
                    send(Err(std::io::Error::other(e.message)));
                    return;
                }
            };
            let done = chunk.is_empty();
            let body = match first.take() {
                Some(head) => [head.to_vec(), chunk.into_bytes()].concat().into(),
                None => Bytes::from(chunk),
            };
            if (!body.is_empty() && !send(Ok(body))) || done {
                return;
            }
        }
    });
    // Fused: the compression layer polls once more after the end.
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .fuse();
    let name = format!("attachment; filename=\"{address}.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, name),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The CSV rows of the next [`EXPORT_STEP`] history entries after `cursor` (empty at the end),
/// moving the cursor.
fn export_step(
    c: &ChainView,
    a: &Address,
    cursor: &mut Option<(u64, u32)>,
    decimals: u8,
) -> Result<String, ApiError> {
    let prefix = c.params().prefix;
    let mut out = String::new();
    for (height, position, _) in c.address_txs(a, *cursor, EXPORT_STEP)? {
        *cursor = Some((height, position));
        let block = c
            .hash_at(height)?
            .ok_or_else(|| ApiError::internal(format!("height {height} missing")))?;
        let (tx, status, _) = confirmed(c, &TxLocation { block, position })?;
        let direction = match (tx.tx.sender_address() == *a, tx.tx.recipient == *a) {
            (true, true) => "self",
            (true, false) => "out",
            _ => "in",
        };
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            tx.id(),
            status.block_height,
            status.block_hash,
            format::utc(status.block_time),
            status.position,
            direction,
            tx.tx.sender_address().to_bech32(&prefix),
            tx.tx.recipient.to_bech32(&prefix),
            format::decimal(tx.tx.amount.into(), decimals),
            format::decimal(tx.tx.fee.into(), decimals),
            tx.tx.nonce,
        ));
    }
    Ok(out)
}
