//! `GET /api/events`: server-sent events for new tips (with the reorg depth) and new mempool
//! transfers, fed by the node's event broadcast.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use ferrite_api::{LaggedEvent, TipEvent, TxEvent};
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::OwnedSemaphorePermit;

use super::client_slots::ClientSlot;
use super::{Api, ApiError, MAX_EVENT_STREAMS_PER_CLIENT, NO_CACHE};
use crate::node::NodeEvent;

/// A comment line this often keeps idle streams (and proxies in between) from timing out.
pub const KEEPALIVE: Duration = Duration::from_secs(15);

/// An event named `name` carrying `data` as JSON.
fn event(name: &str, data: &impl serde::Serialize) -> Event {
    // These types always serialise (plain fields, string keys).
    let json = serde_json::to_string(data).unwrap_or_default();
    Event::default().event(name).data(json)
}

/// The SSE event for one node event.
fn to_sse(e: &NodeEvent) -> Event {
    match e {
        NodeEvent::Tip {
            connected,
            disconnected,
            height,
            ..
        } => event(
            "tip",
            &TipEvent {
                height: *height,
                hash: connected.last().copied(),
                connected: connected.clone(),
                reorg_depth: *disconnected as u64,
            },
        ),
        NodeEvent::Tx(id) => event("tx", &TxEvent { txid: *id }),
    }
}

/// Server-sent events
///
/// A `text/event-stream` that stays open, a keep-alive comment every 15 s. Each event's
/// `data` is one JSON object: `event: tip` when the best chain moved (a TipEvent: the blocks
/// connected, oldest first, and how many were disconnected first), `event: tx` when a transfer
/// entered the mempool (a TxEvent), `event: lagged` when the client read too slowly and
/// events were dropped (a LaggedEvent; re-read what it shows). 429 when this client (an IPv4
/// address or an IPv6 /64) already holds 16 streams; 503 when 256 are open in all.
#[utoipa::path(get, path = "/api/events", tag = "node", operation_id = "getEvents",
    responses(
        (status = 200, description = "The event stream.", body = super::doc::EventStream,
            content_type = "text/event-stream"),
        (status = 429, description = "This client holds the most streams one client may.",
            body = ferrite_api::ErrorBody),
        (status = 503, response = super::doc::ServiceUnavailable),
    ))]
pub(super) async fn events(
    State(api): State<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<impl IntoResponse, ApiError> {
    // The client's own limit first, so a client at its limit never takes a shared slot.
    let slot = api.client_streams.try_take(peer.ip()).ok_or_else(|| {
        ApiError::status(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_streams",
            format!(
                "this client already has {MAX_EVENT_STREAMS_PER_CLIENT} event streams open; \
                 close one first"
            ),
        )
    })?;
    let permit = api.streams.clone().try_acquire_owned().map_err(|_| {
        ApiError::status(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_streams",
            "too many event streams are open; try again later",
        )
    })?;
    let rx = api.node.subscribe();
    let stop = api.stop.subscribe();
    Ok((
        NO_CACHE,
        Sse::new(event_stream(rx, stop, (permit, slot)))
            .keep_alive(KeepAlive::new().interval(KEEPALIVE)),
    ))
}

/// Node events as SSE events until the node stops (`stop` turns true); the shared permit and
/// the client's slot are held as long as the stream.
fn event_stream(
    rx: tokio::sync::broadcast::Receiver<NodeEvent>,
    stop: tokio::sync::watch::Receiver<bool>,
    held: (OwnedSemaphorePermit, ClientSlot),
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold((rx, stop, held), |(mut rx, mut stop, held)| async move {
        let received = tokio::select! {
            r = rx.recv() => r,
            _ = stop.wait_for(|s| *s) => return None,
        };
        let event = match received {
            Ok(e) => to_sse(&e),
            // A slow reader missed events: say how many, so it can re-read what it needs.
            Err(RecvError::Lagged(missed)) => event("lagged", &LaggedEvent { missed }),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), (rx, stop, held)))
    })
}
