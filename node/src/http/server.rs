//! Accepting and serving the explorer's connections, HTTP/1 over hyper: each client has
//! [`HEADER_READ_TIMEOUT`] to send a request head, at most a configured number of connections
//! are open at once (the one after is answered 503 and closed at once), a failed accept (out of
//! descriptors, most often) is waited out instead of spun on, and when the node stops the
//! listener closes while open connections finish the answer they are giving.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower_http::add_extension::AddExtension;

use super::Api;
use crate::node::Node;

/// How long a client has to send a whole request head (request line and headers): counted
/// from the moment its connection is first served, and on a keep-alive connection again from
/// the end of each answer. A client that sends nothing, or dribbles a partial request line,
/// is closed then, without an answer, instead of holding a descriptor for as long as it
/// likes. Far more than a real client needs on any network; the body and the handler are
/// bounded by [`super::REQUEST_TIMEOUT`] instead, and an answer being sent (an event stream)
/// by nothing here.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head (request line and headers): the API's requests need a few hundred
/// bytes and browsers a few KiB. hyper's default lets a head grow to ~400 KiB, which a full
/// set of slow clients would turn into hundreds of MiB; beyond this one the answer is 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Default for the most HTTP connections open at once (`max_http_connections`): the 256 event
/// streams with room to spare for a reverse proxy's pool and ordinary requests, and few enough
/// that, with a descriptor each, they fit beside the store and the peers under a common limit
/// once raised (the descriptor budget lowers it where the limit is smaller).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// How long the accept loop waits after a failed accept before trying again: the failure
/// (out of descriptors, most often) would repeat at once, and a loop that retries without a
/// pause takes a whole core while nothing gets better.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);
/// Most bytes read from a refused connection before its answer: a request head the client
/// sent already is read so that closing the socket does not reset the connection (a reset can
/// destroy the answer before the client reads it).
const REFUSED_DRAIN_BYTES: usize = MAX_HEADER_BYTES;

/// What a connection beyond the cap is told before it is closed: 503 with the API's JSON
/// error, `too_many_connections`.
static BUSY: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let body = serde_json::to_string(&ferrite_api::ErrorBody {
        error: "too_many_connections".into(),
        field: None,
        message: "the node has as many HTTP connections open as it allows; try again later".into(),
        rule: None,
    })
    .unwrap_or_default();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
});

/// Serves `router` on `listener` until the node stops (`api.stop`), with at most
/// `max_connections` connections open at once.
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    api: Arc<Api>,
    max_connections: usize,
) {
    let mut stop = api.stop.subscribe();
    let slots = Arc::new(Semaphore::new(max_connections.min(Semaphore::MAX_PERMITS)));
    let http = builder();
    // Failed accepts in a row: the first is logged, the rest only counted.
    let mut failures: u64 = 0;
    loop {
        let accepted = tokio::select! {
            () = stopped(&mut stop) => break,
            a = listener.accept() => a,
        };
        let (stream, remote) = match accepted {
            Ok(a) => a,
            // The client gave up before we took its connection: nothing to wait for.
            Err(e) if is_per_connection(&e) => continue,
            Err(e) => {
                if failures == 0 {
                    tracing::warn!(error = %e, "HTTP accept failed; retrying every 100 ms");
                }
                failures += 1;
                let stopping = tokio::select! {
                    () = stopped(&mut stop) => true,
                    () = tokio::time::sleep(ACCEPT_RETRY) => false,
                };
                if stopping {
                    break;
                }
                continue;
            }
        };
        if failures > 0 {
            tracing::info!(failures, "HTTP accepting connections again");
            failures = 0;
        }
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            api.node.metrics().http_connection_refused();
            tracing::debug!(%remote, "HTTP connections full; answering 503");
            refuse(stream);
            continue;
        };
        let open = Open::new(api.node.clone(), permit);
        let service = TowerToHyperService::new(AddExtension::new(
            router.clone(),
            // Handlers see the client's address (event streams are counted per client).
            ConnectInfo(remote),
        ));
        let conn = http.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(connection(conn, remote, stop.clone(), open));
    }
    // The listener closes here; open connections end on the same signal.
    tracing::debug!("HTTP server stopped accepting");
}

/// The HTTP/1 settings every connection is served with.
fn builder() -> http1::Builder {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_header_size(MAX_HEADER_BYTES)
        .keep_alive(true);
    http
}

/// The service a connection is served with: the router, with the client's address.
type ApiService = TowerToHyperService<AddExtension<Router, ConnectInfo<SocketAddr>>>;

/// Drives one connection until it closes; once the node stops, until the answer in progress
/// is sent (keep-alive is turned off, an idle connection closes at once, and an event stream
/// ends on the same signal).
async fn connection(
    conn: http1::Connection<TokioIo<TcpStream>, ApiService>,
    remote: SocketAddr,
    mut stop: watch::Receiver<bool>,
    open: Open,
) {
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
    };
    drop(open);
    if let Err(e) = result {
        // A header-read timeout, a client gone mid-request, a malformed request: the client's
        // doing, and each is one connection; not worth more than a debug line.
        tracing::debug!(%remote, error = %e, timeout = e.is_timeout(), "HTTP connection ended");
    }
}

/// Resolves once the node stops (at once if it has already).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, and with it the API: stopped as well.
    let _ = stop.wait_for(|s| *s).await;
}

/// Accept errors that concern one connection only (it was reset before it was taken), after
/// which the next accept can succeed at once.
fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    )
}

/// Answers a connection beyond the cap with [`BUSY`] and closes it, without ever waiting on
/// it: the socket is non-blocking, so a client that has not sent its request yet, or that
/// cannot take the answer, costs the accept loop one try each. What it already sent is read
/// first (see [`REFUSED_DRAIN_BYTES`]).
fn refuse(stream: TcpStream) {
    // Taken off the runtime: plain non-blocking calls, which try the socket at once.
    let Ok(mut s) = stream.into_std() else {
        return;
    };
    let mut scratch = [0u8; 4096];
    let mut drained = 0;
    while drained < REFUSED_DRAIN_BYTES {
        match s.read(&mut scratch) {
            Ok(n) if n > 0 => drained += n,
            _ => break,
        }
    }
    // A fresh socket's send buffer takes the whole answer; if not, the client gets less.
    let _ = s.write_all(BUSY.as_slice());
    let _ = s.shutdown(std::net::Shutdown::Write);
}

/// A served connection's slot under the cap, counted in the open-connections gauge: both are
/// given back when it is dropped (the connection ended, or its task went with the runtime).
struct Open {
    node: Arc<Node>,
    _permit: OwnedSemaphorePermit,
}

impl Open {
    fn new(node: Arc<Node>, permit: OwnedSemaphorePermit) -> Open {
        node.metrics().http_connection_opened();
        Open {
            node,
            _permit: permit,
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.node.metrics().http_connection_closed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busy_answer_is_a_whole_503_with_the_api_error() {
        let text = String::from_utf8(BUSY.to_vec()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let mut lines = head.split("\r\n");
        assert_eq!(lines.next(), Some("HTTP/1.1 503 Service Unavailable"));
        let length: usize = lines
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(length, body.len());
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"], "too_many_connections");
        assert!(v["field"].is_null());
        assert!(head.contains("\r\nconnection: close"));
    }
}
