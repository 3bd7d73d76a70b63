//! The broadcast page: paste a signed transfer in hex and submit it as `POST /api/tx` would;
//! the answer is its id, or the rule that refused it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use ferrite_core::Hash;
use maud::{html, Markup};

use super::Page;
use crate::http::query::page_params;
use crate::http::tx_api::submit_hex;
use crate::http::{Api, ApiError};

/// `GET /broadcast`: the form.
pub(super) async fn form(RawQuery(q): RawQuery) -> Result<Page, ApiError> {
    page_params(q.as_deref(), &[])?;
    Ok(Page::new("Broadcast a transfer", view("", None)))
}

/// `POST /broadcast` with the form's `tx` field: the form again, with the outcome.
pub(super) async fn submit(
    State(api): State<Arc<Api>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Page, ApiError> {
    let body = body.map_err(|e| ApiError::status(e.status(), "invalid_body", e.body_text()))?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_param("tx", "invalid_body", "the form is not UTF-8"))?;
    let fields = page_params(Some(text), &["tx"])?;
    let hex = fields
        .into_iter()
        .next()
        .map(|(_, v)| v)
        .ok_or_else(|| ApiError::bad_param("tx", "invalid_body", "the form has no tx field"))?;
    let outcome = submit_hex(&api, hex.as_bytes()).await;
    let status = match &outcome {
        Ok(_) => axum::http::StatusCode::OK,
        Err(e) => e.status,
    };
    let shown = if outcome.is_ok() { "" } else { hex.as_str() };
    Ok(Page {
        status,
        ..Page::new("Broadcast a transfer", view(shown, Some(&outcome)))
    })
}

fn view(text: &str, outcome: Option<&Result<Hash, ApiError>>) -> Markup {
    html! {
        h1 { "Broadcast a transfer" }
        @match outcome {
            Some(Ok(id)) => div.notice.ok #outcome data-state="accepted" {
                "Accepted into the mempool: " a.mono #txid href={ "/tx/" (id) } { (id) }
            },
            Some(Err(e)) => div.notice.bad #outcome data-state="refused" {
                p { strong { "Refused" } ": " (e.message) }
                p.muted {
                    "error " code #error-code { (e.code) }
                    @if let Some(rule) = e.rule { ", rule " code #rule { (rule) } }
                }
            },
            None => {},
        }
        form method="post" action="/broadcast" {
            p { label for="tx" { "A signed transfer's encoding in hex: 304 digits, the layout of "
                "docs/consensus.md." } }
            textarea #tx name="tx" required spellcheck="false" { (text) }
            p { button.button type="submit" { "Broadcast" } }
        }
        p.muted { "The node checks it as it checks any transfer from the network: signature, "
            "chain, nonce, balance, fee and the mempool's limits (docs/http.md lists the rules)." }
    }
}
