//! The search box's target: a height, a block hash, a txid or an address goes to its page; what
//! is none of these, or not known here, gets a not-found page that keeps the query and says
//! why (an address whose checksum fails is a typo, one with another prefix is another chain's).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use ferrite_core::{Address, Hash};
use maud::html;

use super::Page;
use crate::chain::ChainView;
use crate::http::query::page_params;
use crate::http::tx_api::pending;
use crate::http::{Api, ApiError};
use crate::store::StoreRead;

/// Longest query looked at; anything longer is none of the four.
pub const MAX_QUERY_CHARS: usize = 120;

/// Where a query leads.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// The page to go to.
    Go(String),
    /// Nothing: why, for the not-found page.
    Nothing(String),
}

/// `GET /search?q=...`: a redirect to the page found, or the not-found page (404, or 400 for
/// an empty query).
pub(super) async fn search(
    State(api): State<Arc<Api>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let params = page_params(q.as_deref(), &["q"])?;
    let query = params
        .into_iter()
        .next()
        .map(|(_, v)| v)
        .unwrap_or_default();
    let text = query.trim().to_owned();
    if text.is_empty() {
        return Ok(not_found(
            StatusCode::BAD_REQUEST,
            &query,
            "Type a height, a block hash, a txid or an address.".into(),
        ));
    }
    let prefix = api.chrome.prefix;
    let lookup = text.clone();
    let found = api
        .with_pool(
            move |_, pool| match lookup.parse::<Hash>() {
                Ok(h) => pending(pool, h).map(|p| p.is_some()),
                Err(_) => Ok(false),
            },
            move |c, in_pool| resolve(c, &prefix, &text, in_pool),
        )
        .await?;
    Ok(match found {
        Found::Go(path) => Redirect::to(&path).into_response(),
        Found::Nothing(why) => not_found(StatusCode::NOT_FOUND, &query, why),
    })
}

fn not_found(status: StatusCode, query: &str, why: String) -> Response {
    let main = html! {
        h1 { "Nothing found" }
        div.notice.bad #not-found { p { (why) } }
        p.muted { "The search takes a block height, a block hash or a txid (64 hex digits), or an address of this chain." }
    };
    Page {
        status,
        query: query.to_owned(),
        ..Page::new("Nothing found", main)
    }
    .into_response()
}

/// Where `q` (trimmed, not empty) leads on `c`; `in_pool` if it is the id of a pending
/// transfer.
pub fn resolve(
    c: &ChainView,
    prefix: &ferrite_core::AddressPrefix,
    q: &str,
    in_pool: bool,
) -> Result<Found, ApiError> {
    if q.chars().count() > MAX_QUERY_CHARS {
        return Ok(Found::Nothing(format!(
            "The query is longer than {MAX_QUERY_CHARS} characters: it is none of a height, a hash or an address."
        )));
    }
    if q.bytes().all(|b| b.is_ascii_digit()) {
        let tip = c.tip_info()?.height;
        let found = match q.parse::<u64>() {
            Ok(h) => c.hash_at(h)?,
            Err(_) => None,
        };
        return Ok(match found {
            Some(hash) => Found::Go(format!("/block/{hash}")),
            None => Found::Nothing(format!(
                "There is no block at height {q}: the tip is at {tip}."
            )),
        });
    }
    if let Ok(hash) = q.parse::<Hash>() {
        if c.block_meta(&hash)?.is_some_and(|m| m.status.has_body()) {
            return Ok(Found::Go(format!("/block/{hash}")));
        }
        if in_pool || c.tx_location(&hash)?.is_some() {
            return Ok(Found::Go(format!("/tx/{hash}")));
        }
        return Ok(Found::Nothing(format!(
            "No block or transfer with id {hash} is known to this node."
        )));
    }
    Ok(address(prefix, q))
}

/// An address query: its page, or why it is not one of this chain's.
fn address(prefix: &ferrite_core::AddressPrefix, q: &str) -> Found {
    let ours = format!("{}1", prefix.as_str());
    let lower = q.to_ascii_lowercase();
    if lower.starts_with(&ours) {
        return match Address::parse(q, prefix) {
            Ok(a) => Found::Go(format!("/address/{}", a.to_bech32(prefix))),
            Err(e) => Found::Nothing(format!(
                "{q} is not a valid address of this chain ({e}): check it for a typo."
            )),
        };
    }
    match lower.rfind('1') {
        Some(at) if at > 0 && lower.len() - at > 6 => Found::Nothing(format!(
            "{q} looks like an address of another chain (prefix {:?}); this chain's addresses start with {ours}.",
            &lower[..at]
        )),
        _ => Found::Nothing(format!(
            "{q} is not a height, a block hash, a txid or an address of this chain."
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_of_this_chain_typos_and_other_chains_are_told_apart() {
        let prefix = ferrite_core::AddressPrefix::new(ferrite_core::dev::DEV_PREFIX).unwrap();
        let a = ferrite_core::dev::dev_key(0).public_key().address();
        let text = a.to_bech32(&prefix);
        assert_eq!(
            address(&prefix, &text),
            Found::Go(format!("/address/{text}"))
        );
        // Upper case is the same address.
        let upper = text.to_ascii_uppercase();
        assert_eq!(
            address(&prefix, &upper),
            Found::Go(format!("/address/{text}"))
        );
        // One character changed: the checksum catches it.
        let mut typo = text.clone().into_bytes();
        let last = typo.len() - 1;
        typo[last] = if typo[last] == b'q' { b'p' } else { b'q' };
        let typo = String::from_utf8(typo).unwrap();
        match address(&prefix, &typo) {
            Found::Nothing(why) => assert!(why.contains("typo"), "{why}"),
            other => panic!("a typo was found: {other:?}"),
        }
        let other = a.to_bech32(&ferrite_core::AddressPrefix::new("ftest").unwrap());
        match address(&prefix, &other) {
            Found::Nothing(why) => assert!(why.contains("another chain"), "{why}"),
            other => panic!("another chain's address was found: {other:?}"),
        }
        match address(&prefix, "hello") {
            Found::Nothing(why) => assert!(why.contains("not a height"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
}
