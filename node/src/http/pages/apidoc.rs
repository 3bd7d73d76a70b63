//! The API page: the node's OpenAPI document written out for people (each operation's method,
//! path, summary, parameters and answers, grouped by tag), rendered once from the same document
//! `/api/openapi.json` serves.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use maud::{html, Markup, PreEscaped};
use serde_json::Value;

use super::Page;
use crate::http::query::page_params;
use crate::http::{Api, ApiError};

/// `GET /api`.
pub(super) async fn page(
    State(api): State<Arc<Api>>,
    RawQuery(q): RawQuery,
) -> Result<Page, ApiError> {
    page_params(q.as_deref(), &[])?;
    Ok(Page {
        cache: "public, max-age=3600",
        ..Page::new("API", PreEscaped(api.api_page.clone()))
    })
}

/// The page's main content for `doc`, an OpenAPI 3.1 document.
pub fn render(doc: &Value) -> String {
    let title = doc["info"]["title"].as_str().unwrap_or("API");
    let mut tags: Vec<(String, Vec<Markup>)> = Vec::new();
    let empty = serde_json::Map::new();
    let paths = doc["paths"].as_object().unwrap_or(&empty);
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap_or(&empty) {
            let tag = op["tags"][0].as_str().unwrap_or("other").to_owned();
            let entry = operation(method, path, op);
            match tags.iter_mut().find(|(t, _)| *t == tag) {
                Some((_, ops)) => ops.push(entry),
                None => tags.push((tag, vec![entry])),
            }
        }
    }
    html! {
        h1 { (title) }
        p {
            "Every route below answers JSON unless it says otherwise. The machine-readable "
            "document is " a href="/api/openapi.json" { code { "/api/openapi.json" } } " (OpenAPI "
            (doc["openapi"].as_str().unwrap_or("3.1")) "); docs/http.md explains the encodings."
        }
        nav { p { @for (tag, _) in &tags { a href={ "#" (tag) } { (tag) } " " } } }
        @for (tag, ops) in &tags {
            h2 #(tag) { (tag) }
            @for op in ops { (op) }
        }
    }
    .into_string()
}

fn operation(method: &str, path: &str, op: &Value) -> Markup {
    let params = op["parameters"].as_array().cloned().unwrap_or_default();
    let responses = op["responses"].as_object().cloned().unwrap_or_default();
    html! {
        div.op id=(op["operationId"].as_str().unwrap_or("")) {
            p { span.method { (method.to_uppercase()) } code { (path) } }
            @if let Some(s) = op["summary"].as_str() { p { strong { (s) } } }
            @if let Some(d) = op["description"].as_str() { p { (d) } }
            @if !params.is_empty() {
                p.muted { "Parameters:" }
                ul { @for p in &params {
                    li {
                        code { (p["name"].as_str().unwrap_or("")) } " (" (p["in"].as_str().unwrap_or("")) ")"
                        @if let Some(d) = p["description"].as_str() { ": " (d) }
                    }
                } }
            }
            p.muted { "Answers: "
                @for (i, (code, r)) in responses.iter().enumerate() {
                    @if i > 0 { ", " }
                    code { (code) }
                    @if let Some(d) = r["description"].as_str() { " " (d) }
                }
            }
        }
    }
}
