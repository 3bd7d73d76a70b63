//! The mempool's page: its figures, the fee histogram, fee estimates and the newest arrivals;
//! live on every transfer and tip.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use ferrite_api::{MempoolInfo, MempoolTx};
use maud::{html, Markup};

use super::home::pending_table;
use super::layout::card;
use super::{format, Chrome, Page};
use crate::http::address_api::{mempool_info, recent_answer, FEE_TARGETS, RECENT_TXS};
use crate::http::query::page_params;
use crate::http::{Api, ApiError};

struct PoolView {
    info: MempoolInfo,
    recent: Vec<MempoolTx>,
    estimates: Vec<(usize, u64)>,
}

/// `GET /mempool`.
pub(super) async fn mempool(
    State(api): State<Arc<Api>>,
    RawQuery(q): RawQuery,
) -> Result<Page, ApiError> {
    page_params(q.as_deref(), &[])?;
    let per_block = api.per_block;
    let prefix = api.chrome.prefix;
    let view = api
        .with_chain(move |_, node| {
            let pool = node.mempool();
            Ok(PoolView {
                info: mempool_info(&pool),
                recent: recent_answer(&prefix, &pool.recent(RECENT_TXS)),
                estimates: FEE_TARGETS
                    .iter()
                    .map(|&n| (n, pool.fee_estimate(per_block, n)))
                    .collect(),
            })
        })
        .await?;
    Ok(Page::new("Mempool", page(&api.chrome, &view)).live("tip tx"))
}

fn page(chrome: &Chrome, v: &PoolView) -> Markup {
    let i = &v.info;
    html! {
        h1 { "Mempool" }
        div data-part="figures" {
            div.cards {
                (card("Pending transfers", html! { span #mempool-count { (i.count) } }))
                (card("Size", html! { (format::bytes(i.bytes)) }))
                (card("Fees", html! { (chrome.coins(i.total_fee.parse::<u128>().unwrap_or(0))) }))
            }
            h2 { "Fee histogram" }
            p.muted { "Pending transfers by fee, highest first, in groups of about equal count." }
            (histogram(chrome, i))
            h2 { "Fee estimates" }
            div.scroll { table {
                thead { tr { th { "Confirmed within" } th.num { "Fee" } } }
                tbody { @for (n, fee) in &v.estimates {
                    tr { td { (n) " block" @if *n != 1 { "s" } } td.num { (chrome.coins(*fee)) } }
                } }
            } }
        }
        h2 { "Newest arrivals" }
        div data-part="recent" { (pending_table(chrome, &v.recent)) }
    }
}

/// The histogram as bars, widths relative to the largest group (no script needed).
fn histogram(chrome: &Chrome, i: &MempoolInfo) -> Markup {
    let most = i
        .fee_histogram
        .iter()
        .map(|g| g.count)
        .max()
        .unwrap_or(0)
        .max(1);
    html! {
        div.scroll { table #fee-histogram {
            thead { tr { th.num { "Fee from" } th.num { "Transfers" } th { "" } } }
            tbody {
                @for g in &i.fee_histogram {
                    tr {
                        td.num { (chrome.coins(g.fee.0)) }
                        td.num { (g.count) }
                        td style="width:60%" {
                            svg width="100%" height="12" viewBox="0 0 100 12" preserveAspectRatio="none" {
                                rect.bar x="0" y="1" height="10" width=(g.count * 100 / most) fill="#c98a3d" {}
                            }
                        }
                    }
                }
                @if i.fee_histogram.is_empty() { tr { td.muted colspan="3" { "The mempool is empty." } } }
            }
        } }
    }
}
