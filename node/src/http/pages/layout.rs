//! The frame of every page (header with the chain's name, links, the search box, footer), the
//! error page, and the small pieces pages share: times, amounts, links to ids.

use axum::http::StatusCode;
use maud::{html, Markup, DOCTYPE};

use super::assets::{ICON, SCRIPT, STYLE};
use super::format;
use super::{Chrome, Page};
use crate::http::ApiError;

/// The whole HTML document of `page`.
pub fn document(chrome: &Chrome, page: &Page) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (page.title) " \u{2014} " (chrome.chain) " \u{2014} Ferrite" }
                link rel="stylesheet" href=(STYLE.path());
                link rel="icon" href=(ICON.path()) type="image/svg+xml";
                script src=(SCRIPT.path()) defer {}
            }
            body data-live=(page.live) {
                header.top {
                    a.brand href="/" { "Ferrite" }
                    span.chain.dev[chrome.dev] title="The chain this node follows" { (chrome.chain) }
                    nav.links {
                        a href="/blocks" { "Blocks" }
                        a href="/mempool" { "Mempool" }
                        a href="/charts" { "Charts" }
                        a href="/broadcast" { "Broadcast" }
                        a href="/api" { "API" }
                    }
                    form.search action="/search" method="get" role="search" {
                        input type="search" name="q" value=(page.query) aria-label="Search"
                            placeholder="Height, block hash, txid or address";
                        button type="submit" { "Search" }
                    }
                }
                main { (page.main) }
                footer {
                    "ferrite-node " (chrome.version) " \u{b7} times in UTC \u{b7} amounts in coins of "
                    (chrome.decimals) " decimals \u{b7} "
                    a href="/api/openapi.json" { "OpenAPI document" }
                }
            }
        }
    }
}

/// The page for an error a handler answered: its status, its code and message, and the
/// parameter or rule at fault.
pub fn error_page(e: &ApiError) -> Page {
    let title = match e.status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::BAD_REQUEST => "Bad request",
        s if s.is_server_error() => "The node failed to answer",
        _ => "Refused",
    };
    let main = html! {
        h1 { (title) }
        div.notice.bad {
            p { (e.message) }
            p.muted {
                "error " code { (e.code) }
                @if let Some(field) = e.field { " in " code { (field) } }
                @if let Some(rule) = e.rule { ", rule " code { (rule) } }
                " (HTTP " (e.status.as_u16()) ")"
            }
        }
        p { a href="/" { "Back to the latest blocks" } }
    };
    Page {
        status: e.status,
        ..Page::new(title, main)
    }
}

/// A time as UTC and as an age that the script keeps current.
pub fn when(now: u64, ts: u64) -> Markup {
    html! {
        span title=(format::utc(ts)) { span data-ts=(ts) { (format::age(now, ts)) } }
    }
}

/// A time as UTC with its age after it.
pub fn when_long(now: u64, ts: u64) -> Markup {
    html! {
        (format::utc(ts)) " (" span data-ts=(ts) { (format::age(now, ts)) } ")"
    }
}

/// A link to a block, shortened.
pub fn block_link(hash: &impl std::fmt::Display) -> Markup {
    let id = hash.to_string();
    html! { a.mono href={ "/block/" (id) } title=(id) { (format::short(&id)) } }
}

/// A link to a transfer, shortened.
pub fn tx_link(txid: &impl std::fmt::Display) -> Markup {
    let id = txid.to_string();
    html! { a.mono href={ "/tx/" (id) } title=(id) { (format::short(&id)) } }
}

/// A link to an address, shortened.
pub fn address_link(address: &str) -> Markup {
    html! { a.mono href={ "/address/" (address) } title=(address) { (format::short(address)) } }
}

/// A labelled figure of a card grid.
pub fn card(label: &str, value: Markup) -> Markup {
    html! {
        div.card { div.label { (label) } div.value { (value) } }
    }
}

/// One row of a transfer table.
pub struct TransferRow<'a> {
    /// The transfer's id.
    pub txid: &'a ferrite_core::Hash,
    /// Sender address.
    pub from: &'a str,
    /// Recipient address.
    pub to: &'a str,
    /// Amount, base units.
    pub amount: u64,
    /// Fee, base units.
    pub fee: u64,
    /// The status cell, for tables that have one.
    pub status: Option<Markup>,
}

/// A table of transfers: id, from, to, amount, fee, and a status column when `with_status`;
/// `empty` is the text of an empty table.
pub fn transfer_table<'a>(
    chrome: &Chrome,
    rows: impl IntoIterator<Item = TransferRow<'a>>,
    with_status: bool,
    empty: &str,
) -> Markup {
    let rows: Vec<TransferRow<'a>> = rows.into_iter().collect();
    let columns = if with_status { 6 } else { 5 };
    html! {
        div.scroll { table {
            thead { tr { th { "Transfer" } th { "From" } th { "To" } th.num { "Amount" }
                th.num { "Fee" } @if with_status { th { "Status" } } } }
            tbody {
                @for r in &rows {
                    tr {
                        td { (tx_link(r.txid)) }
                        td { (address_link(r.from)) }
                        td { (address_link(r.to)) }
                        td.num { (chrome.coins(r.amount)) }
                        td.num { (chrome.coins(r.fee)) }
                        @if let Some(status) = &r.status { td { (status) } }
                    }
                }
                @if rows.is_empty() { tr { td.muted colspan=(columns) { (empty) } } }
            }
        } }
    }
}

/// A table of confirmed or pending transfers with `status` for each.
pub fn tx_table(
    chrome: &Chrome,
    txs: &[ferrite_api::Tx],
    status: impl Fn(&ferrite_api::Tx) -> Markup,
) -> Markup {
    let rows = txs.iter().map(|t| TransferRow {
        txid: &t.txid,
        from: &t.from,
        to: &t.to,
        amount: t.amount.0,
        fee: t.fee.0,
        status: Some(status(t)),
    });
    transfer_table(chrome, rows, true, "None.")
}

/// "confirmed at height N" or "pending", for a transfer table.
pub fn short_status(t: &ferrite_api::Tx) -> Markup {
    match &t.status {
        ferrite_api::TxStatus::Confirmed(c) => html! {
            span.ok { "in " a href={ "/block/" (c.block_hash) } { "block " (c.block_height) } }
        },
        ferrite_api::TxStatus::Pending(p) if p.in_mempool => html! { span.warn { "pending" } },
        ferrite_api::TxStatus::Pending(p) if p.dropped.is_some() => {
            html! { span.bad { "dropped" } }
        }
        ferrite_api::TxStatus::Pending(_) => html! { span.muted { "off the best chain" } },
    }
}
