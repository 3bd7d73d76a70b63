//! The charts page: block time, difficulty and transfers per block over the recent blocks,
//! drawn on the server as SVG (no script needed).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use ferrite_core::Target;
use maud::{html, Markup, PreEscaped};

use super::Page;
use crate::chain::ChainView;
use crate::http::query::page_params;
use crate::http::{Api, ApiError};
use crate::store::StoreRead;

/// Blocks the charts cover (three store reads each).
pub const CHART_BLOCKS: u64 = 120;

/// One block's figures.
struct Point {
    height: u64,
    /// Seconds since its parent (none for genesis or the first block listed).
    interval: Option<f64>,
    difficulty: f64,
    txs: f64,
}

/// The figures of the last [`CHART_BLOCKS`] blocks, oldest first.
fn points(c: &ChainView) -> Result<Vec<Point>, ApiError> {
    let tip = c.tip_info()?.height;
    let lowest = tip.saturating_sub(CHART_BLOCKS);
    let limit = c.params().pow_limit.as_u256();
    let mut out: Vec<Point> = Vec::new();
    let mut last_time = None;
    for h in lowest..=tip {
        let hash = c
            .hash_at(h)?
            .ok_or_else(|| ApiError::internal(format!("height {h} missing")))?;
        let header = c
            .header(&hash)?
            .ok_or_else(|| ApiError::internal(format!("header {hash} missing")))?;
        let stats = c
            .body_stats(&hash)?
            .ok_or_else(|| ApiError::internal(format!("body of {hash} missing")))?;
        let difficulty = Target::from_compact(header.bits)
            .map(|t| limit / t.as_u256().max(1.into()))
            .map_or(0.0, crate::http::node_api::u256_to_f64);
        let interval = last_time.map(|t: u64| header.timestamp.saturating_sub(t) as f64);
        last_time = Some(header.timestamp);
        // The first block read only gives the first interval its start.
        if h > lowest || lowest == 0 {
            out.push(Point {
                height: h,
                interval,
                difficulty,
                txs: stats.tx_count as f64,
            });
        }
    }
    Ok(out)
}

/// `GET /charts`.
pub(super) async fn charts(
    State(api): State<Arc<Api>>,
    RawQuery(q): RawQuery,
) -> Result<Page, ApiError> {
    page_params(q.as_deref(), &[])?;
    let (points, spacing) = api
        .with_chain(|c, _| Ok((points(c)?, c.params().target_spacing)))
        .await?;
    let (first, last) = match (points.first(), points.last()) {
        (Some(f), Some(l)) => (f.height, l.height),
        _ => return Err(ApiError::internal("no blocks to chart")),
    };
    let series = |f: fn(&Point) -> Option<f64>| -> Vec<f64> {
        points.iter().map(|p| f(p).unwrap_or(0.0)).collect()
    };
    let main = html! {
        h1 { "Charts" }
        p.muted { "Blocks " (first) " to " (last) " of the best chain, oldest on the left." }
        h2 { "Block time (seconds since the parent; target " (spacing) " s)" }
        (chart("block-time", &series(|p| p.interval), true))
        h2 { "Difficulty" }
        (chart("difficulty", &series(|p| Some(p.difficulty)), false))
        h2 { "Transfers per block" }
        (chart("transfers", &series(|p| Some(p.txs)), true))
    };
    Ok(Page::new("Charts", main).live("tip"))
}

/// An SVG chart of `values`, as bars or a line, with its largest value marked.
fn chart(id: &str, values: &[f64], bars: bool) -> Markup {
    const W: f64 = 600.0;
    const H: f64 = 160.0;
    const TOP: f64 = 14.0;
    let most = values.iter().copied().fold(0.0_f64, f64::max).max(1e-9);
    let step = W / values.len().max(1) as f64;
    let y = |v: f64| TOP + (H - TOP) * (1.0 - v / most);
    let mut shapes = String::new();
    if bars {
        for (i, v) in values.iter().enumerate() {
            shapes.push_str(&format!(
                r#"<rect class="bar" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"/>"#,
                i as f64 * step,
                y(*v),
                (step - 1.0).max(0.5),
                H - y(*v)
            ));
        }
    } else {
        let pts: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", (i as f64 + 0.5) * step, y(*v)))
            .collect();
        shapes.push_str(&format!(
            r#"<polyline class="line" points="{}"/>"#,
            pts.join(" ")
        ));
    }
    html! {
        svg.chart #(id) viewBox={ "0 0 " (W) " " (H + 4.0) } role="img" aria-label=(id)
            data-points=(values.len()) {
            line.axis x1="0" y1=(H) x2=(W) y2=(H) {}
            text x="4" y="11" { "max " (trim(most)) }
            (PreEscaped(shapes))
        }
    }
}

/// A figure with at most three decimals, trailing zeros dropped.
fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}
