//! A transfer's page: its parties, amount, fee and nonce, where it is with its confirmations
//! (live), and its merkle proof once confirmed.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use ferrite_api::{DropReason, Dropped, MerkleProof, PendingStatus, PoolLimit, Tx, TxStatus};
use maud::{html, Markup};

use super::layout::{address_link, tx_link, when_long};
use super::{format, now, Chrome, Page};
use crate::http::extract;
use crate::http::extract::ApiPath;
use crate::http::query::page_params;
use crate::http::tx_api::{counted, pending, proof_of, tx_answer};
use crate::http::{Api, ApiError};

/// `GET /tx/{txid}`.
pub(super) async fn tx(
    State(api): State<Arc<Api>>,
    ApiPath(txid): ApiPath<String>,
    RawQuery(q): RawQuery,
) -> Result<Page, ApiError> {
    page_params(q.as_deref(), &[])?;
    let txid = extract::hash("txid", &txid)?;
    let (tx, proof) = api
        .with_pool(
            move |_, pool| pending(pool, txid),
            move |c, p| {
                let (tx, status) = counted(c, p, &txid)?;
                let proof = match status {
                    TxStatus::Confirmed(_) => Some(proof_of(c, &txid)?.0),
                    TxStatus::Pending(_) => None,
                };
                Ok((tx_answer(&c.params().prefix, &tx, status), proof))
            },
        )
        .await?;
    let main = view(&api.chrome, &tx, proof.as_ref(), now());
    Ok(Page::new(
        format!("Transfer {}", format::short(&tx.txid.to_string())),
        main,
    )
    .live("tip tx"))
}

fn view(chrome: &Chrome, t: &Tx, proof: Option<&MerkleProof>, now: u64) -> Markup {
    html! {
        h1 { "Transfer" }
        p.mono { (t.txid) }
        div data-part="status" { (status(&t.status, now)) }
        div.scroll { table.fields {
            tr { th { "From" } td { (address_link(&t.from)) } }
            tr { th { "To" } td { (address_link(&t.to)) } }
            tr { th { "Amount" } td #amount { (chrome.coins(t.amount.0)) } }
            tr { th { "Fee" } td { (chrome.coins(t.fee.0)) } }
            tr { th { "Nonce" } td { (t.nonce) } }
            tr { th { "Size" } td { (t.size) " bytes" } }
            tr { th { "Raw" } td { a href={ "/api/tx/" (t.txid) "/raw" } { "encoded transfer" } } }
        } }
        div data-part="proof" {
            @if let Some(p) = proof {
                h2 { "Merkle proof" }
                p.muted {
                    "Leaf " (p.pos) " of " (p.leaf_count) " in block " (p.block_height)
                    "; verify it against the block's merkle root with RFC 9162's algorithm."
                }
                div.scroll { table.fields {
                    tr { th { "Merkle root" } td.mono { (p.merkle_root) } }
                    @for (i, h) in p.merkle.iter().enumerate() {
                        tr { th { "Sibling " (i) } td.mono { (h) } }
                    }
                } }
            }
        }
    }
}

fn status(s: &TxStatus, now: u64) -> Markup {
    match s {
        TxStatus::Confirmed(c) => html! {
            div.notice.ok #tx-status data-state="confirmed" {
                strong { "Confirmed" } ", "
                span #confirmations { (c.confirmations.unwrap_or(1)) } " confirmation"
                @if c.confirmations.unwrap_or(1) != 1 { "s" }
                ", in " a href={ "/block/" (c.block_hash) } { "block " (c.block_height) }
                " at position " (c.position) ", " (when_long(now, c.block_time)) "."
            }
        },
        TxStatus::Pending(PendingStatus {
            dropped: Some(d), ..
        }) => html! {
            div.notice.bad #tx-status data-state="dropped" data-reason=(reason_name(d.reason)) {
                strong { "Dropped" } " from this node's mempool " (when_long(now, d.time)) ": "
                @if let Some(first) = &d.after {
                    "it went with an earlier nonce of the same sender, " (tx_link(first))
                    " (a later nonce cannot be mined without it), which left: " (why_dropped(d))
                } @else {
                    (why_dropped(d))
                } "."
            }
        },
        TxStatus::Pending(p) if p.in_mempool => html! {
            div.notice #tx-status data-state="pending" {
                strong { "Pending" } ": in this node's mempool, waiting for a block."
            }
        },
        TxStatus::Pending(_) => html! {
            div.notice #tx-status data-state="off-chain" {
                "Not on the best chain."
            }
        },
    }
}

/// The reason's name as the API spells it (for tests and scripts reading the page).
fn reason_name(r: DropReason) -> String {
    match serde_json::to_value(r) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// What happened, in words.
fn why_dropped(d: &Dropped) -> Markup {
    let rule = d.rule.as_deref().unwrap_or("?");
    match d.reason {
        DropReason::Replaced => match &d.replaced_by {
            Some(by) => html! { "replaced by " (tx_link(by)) ", which pays a higher fee" },
            None => html! { "replaced by a transfer paying a higher fee" },
        },
        DropReason::Evicted => match d.limit {
            Some(PoolLimit::MaxBytes) => {
                html! { "evicted: the pool was over its byte limit and this paid the lowest fee" }
            }
            Some(PoolLimit::PerSender) => html! {
                "evicted: an earlier nonce of the same sender came back from a block that left the \
                 best chain and took this one's place under the per-sender limit"
            },
            _ => {
                html! { "evicted: the pool was over its transfer count limit and this paid the lowest fee" }
            }
        },
        DropReason::Expired => html! { "expired: it waited longer than the pool keeps a transfer" },
        DropReason::Reorg => html! {
            "its block left the best chain and the pool refused it back (" code { (rule) } ")"
        },
        DropReason::NonceUsed => {
            html! { "another transfer with the same sender and nonce was mined" }
        }
        DropReason::Unpayable => {
            html! { "after a new block the sender's balance no longer covers it" }
        }
        DropReason::NoLongerApplies => html! {
            "it no longer applies to the tip's state (" code { (rule) } ")"
        },
    }
}
