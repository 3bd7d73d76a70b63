//! Opening connections: accepting inbound ones (bounded handshake slots, bans), resolving the
//! configured peers off the driver's task, and dialling the addresses the state machine picks.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::node::now_secs;
use crate::p2p::addrbook::AddrKey;
use crate::p2p::fsm::evict::NetGroup;
use crate::p2p::fsm::Input;
use crate::p2p::handshakes::HandshakeSlots;
use crate::p2p::identity::NodeId;
use crate::p2p::{conn, Event, PeerId, PeerSpec, Shared};

/// How long a dial may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// First retry delay for a peer name that does not resolve; doubles up to a minute.
const RESOLVE_RETRY: Duration = Duration::from_secs(2);

/// Allocates connection ids.
static NEXT_PEER_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> PeerId {
    NEXT_PEER_ID.fetch_add(1, Ordering::Relaxed)
}

/// Accepts inbound connections until the node stops. `slots` bounds the connections still in
/// their handshake, in all and per network group: a new one cuts the oldest handshake of its
/// group, or of the most crowded one (see [`super::handshakes`]), so a flood of half-open or
/// dribbling connections neither exhausts file descriptors (which RocksDB needs too) nor keeps
/// an honest peer out.
pub async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    events: mpsc::Sender<Event>,
    slots: Arc<HandshakeSlots>,
) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if shared.node.shutting_down() {
            return;
        }
        let banned = !remote.ip().is_loopback()
            && shared
                .bans
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .is_banned(&AddrKey::new(remote.ip(), remote.port()), now_secs());
        if banned {
            tracing::debug!(%remote, "refusing a banned address");
            continue;
        }
        // What the peer sent already counts as progress: an honest client sends its first
        // handshake message as soon as it is connected, a slot hog does not.
        let (permit, cut) = slots.admit(NetGroup::of(remote.ip()), waiting_bytes(&stream));
        if cut {
            tracing::debug!(%remote, "handshake slots full; cut the oldest for this one");
            shared
                .node
                .metrics()
                .defence(crate::metrics::Defence::HandshakeCut);
        }
        tokio::spawn(conn::run(
            next_id(),
            stream,
            remote,
            None,
            shared.clone(),
            events.clone(),
            Some(permit),
        ));
    }
}

/// Bytes the peer has sent that wait to be read (a peek that never waits).
fn waiting_bytes(stream: &TcpStream) -> usize {
    let mut buf = [0u8; 64];
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match stream.poll_peek(&mut cx, &mut tokio::io::ReadBuf::new(&mut buf)) {
        std::task::Poll::Ready(Ok(n)) => n,
        _ => 0,
    }
}

/// Resolves the configured peers (retrying names that do not resolve yet, with backoff) and
/// reports each one's addresses, with the node id pinned for it, to the state machine. Runs on its own task so a slow resolver never holds up the state machine.
pub async fn resolve_peers(specs: Vec<PeerSpec>, events: mpsc::Sender<Event>) {
    // Literal addresses first: they resolve at once, so their pins reach the machine before
    // anything a slow name holds up.
    let mut pending = specs;
    pending.sort_by_key(|s| s.addr.parse::<SocketAddr>().is_err());
    let mut delay = RESOLVE_RETRY;
    while !pending.is_empty() {
        let mut failed = Vec::new();
        for spec in pending {
            let resolved: std::io::Result<Vec<SocketAddr>> =
                tokio::net::lookup_host(spec.addr.as_str())
                    .await
                    .map(|a| a.collect());
            match resolved {
                Ok(addrs) => {
                    let pin = spec.id;
                    if events
                        .send(Event::Input(Input::Resolved { addrs, pin }))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(peer = %spec, error = %e, "cannot resolve peer address; will retry");
                    failed.push(spec);
                }
            }
        }
        pending = failed;
        if !pending.is_empty() {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(60));
        }
    }
}

/// Opens an outbound connection to `addr` (accepting only the key `expect`, if pinned) and runs
/// it, or reports the failure.
pub fn dial(
    addr: SocketAddr,
    expect: Option<NodeId>,
    shared: Arc<Shared>,
    events: mpsc::Sender<Event>,
) {
    tokio::spawn(async move {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let dialled = Some(conn::Dialled { addr, expect });
                conn::run(next_id(), stream, addr, dialled, shared, events, None).await
            }
            _ => {
                let _ = events.send(Event::Input(Input::DialFailed(addr))).await;
            }
        }
    });
}
