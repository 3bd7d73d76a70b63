//! One peer connection: the encrypted transport's handshake ([`super::secure`]) and the
//! `Version` handshake, then a reader that checks every frame (magic, type, size cap, rate),
//! answers the requests it can serve from the node (headers, blocks, transfers, pings) and
//! hands everything else to the driver for the state machine; and a writer that drains the
//! connection's bounded outgoing queue. Frames are read and written through the cipher.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::answer::gone;
use super::send_queue::{self, SendQueue};

use super::bucket::Bucket;
use super::compact_conn::{self, CompactReceiver, Step};
use super::fsm::{Close, Input, Learnt, Misbehavior};
use super::identity::NodeId;
use super::secure::{self, Role, TransportError};
use super::wire::{
    self, Message, Version, WireError, FRAME_HEADER_LEN, MAX_PREHANDSHAKE_PAYLOAD, PROTOCOL_VERSION,
};
use super::{serve, Event, Frame, PeerId, Shared};

/// Time a peer has to complete the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection silent for this long is dropped; pings every [`super::fsm::PING_INTERVAL`] keep a
/// healthy one busy well within it.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Sustained messages per second accepted from one peer: far above what relay or sync need
/// (sync moves up to 2,000 headers or a whole block per message).
pub const MSG_RATE: f64 = 500.0;
/// Burst of messages allowed above the sustained rate.
pub const MSG_BURST: f64 = 5_000.0;
/// Sustained payload bytes per second accepted from one peer (64 MiB/s: faster than the node
/// can validate blocks, so an honest peer never reaches it).
pub const BYTE_RATE: f64 = 64.0 * 1024.0 * 1024.0;
/// Burst of bytes allowed above the sustained rate.
pub const BYTE_BURST: f64 = 128.0 * 1024.0 * 1024.0;
/// The receiving half of a connection, inside the cipher.
type Reader = secure::SecureReader<OwnedReadHalf>;
/// The sending half of a connection, inside the cipher.
type Writer = secure::SecureWriter<OwnedWriteHalf>;

/// Why reading from a peer stopped.
enum ReadError {
    /// The socket closed, failed or timed out: the peer goes away without a ban.
    Gone(String),
    /// The peer broke the protocol.
    Violation(Misbehavior),
    /// A record failed to authenticate: the connection ends, nobody is blamed.
    Forged,
}

impl From<WireError> for ReadError {
    fn from(e: WireError) -> Self {
        ReadError::Violation(e.into())
    }
}

impl From<TransportError> for ReadError {
    /// A socket that failed or a record that does not authenticate: the connection ends, and
    /// nobody is blamed (a flipped byte may be the path's doing).
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Forged => ReadError::Forged,
            // Records that authenticated came from the peer's key: the flood is its own.
            TransportError::RecordFlood => ReadError::Violation(Misbehavior::RecordFlood),
            e => ReadError::Gone(format!("read: {e}")),
        }
    }
}

/// The close for a record that failed to authenticate, logged for the operator.
fn forged(id: Option<PeerId>) -> Close {
    tracing::warn!(
        peer = ?id,
        "a record failed to authenticate; dropping the connection (nobody is banned: the path may have changed it)"
    );
    Close::Dropped("a record failed to authenticate".into())
}

/// Reads one frame; `limit` is the largest payload accepted at this stage (pre-handshake).
async fn read_frame(
    r: &mut Reader,
    shared: &Shared,
    prehandshake: bool,
) -> Result<(Message, usize), ReadError> {
    let mut head = [0u8; FRAME_HEADER_LEN];
    r.read_exact(&mut head).await?;
    let magic = [head[0], head[1], head[2], head[3]];
    if magic != shared.magic {
        return Err(WireError::BadMagic(magic).into());
    }
    let code = head[4];
    let len = u32::from_le_bytes([head[5], head[6], head[7], head[8]]) as usize;
    let (kind, cap) =
        wire::type_info(code, shared.max_block).ok_or(WireError::UnknownType(code))?;
    let cap = if prehandshake {
        cap.min(MAX_PREHANDSHAKE_PAYLOAD)
    } else {
        cap
    };
    if len > cap {
        return Err(WireError::TooLarge { kind, len, cap }.into());
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Ok((Message::decode(code, &payload)?, len))
}

/// Our `Version` for a new connection.
fn our_version(shared: &Shared) -> Version {
    let tip = shared.node.tip();
    let (height, work) = (tip.height, tip.work);
    Version {
        protocol: PROTOCOL_VERSION,
        genesis: shared.chain.genesis,
        height,
        work,
        listen_port: shared.listen_port,
        nonce: shared.nonce,
        user_agent: format!("ferrite-node/{}", crate::VERSION),
    }
}

/// Exchanges `Version` and `Verack`.
async fn handshake(
    r: &mut Reader,
    w: &mut Writer,
    shared: &Shared,
    listen_port: &mut Option<u16>,
) -> Result<Version, Close> {
    let mine = Message::Version(our_version(shared)).to_frame(shared.magic);
    w.write_all(&mine)
        .await
        .map_err(|e| Close::Dropped(format!("write: {e}")))?;
    let mut theirs: Option<Version> = None;
    let mut acked = false;
    while theirs.is_none() || !acked {
        match read_frame(r, shared, true).await {
            Ok((Message::Version(v), _)) if theirs.is_none() => {
                *listen_port = Some(v.listen_port).filter(|p| *p != 0);
                if v.genesis != shared.chain.genesis {
                    return Err(Close::Misbehaved(Misbehavior::WrongGenesis {
                        theirs: v.genesis,
                        ours: shared.chain.genesis,
                    }));
                }
                if v.protocol != PROTOCOL_VERSION {
                    return Err(Close::Dropped(format!(
                        "protocol version {} (ours is {PROTOCOL_VERSION})",
                        v.protocol
                    )));
                }
                if v.nonce == shared.nonce {
                    return Err(Close::SelfConnection);
                }
                w.write_all(&Message::Verack.to_frame(shared.magic))
                    .await
                    .map_err(|e| Close::Dropped(format!("write: {e}")))?;
                theirs = Some(v);
            }
            Ok((Message::Verack, _)) if !acked => acked = true,
            Ok((m, _)) => return Err(Close::Misbehaved(Misbehavior::BeforeHandshake(m.name()))),
            Err(ReadError::Gone(e)) => return Err(Close::Dropped(e)),
            Err(ReadError::Forged) => return Err(forged(None)),
            Err(ReadError::Violation(e)) => return Err(Close::Misbehaved(e)),
        }
    }
    theirs.ok_or_else(|| Close::Dropped("no version".into()))
}

/// The transport's handshake (with the id pinned for a dialled address checked), then the
/// `Version` exchange inside it.
async fn handshakes(
    mut stream: TcpStream,
    remote: SocketAddr,
    role: Role,
    shared: &Shared,
    learnt: &mut Learnt,
    progress: Arc<std::sync::atomic::AtomicUsize>,
) -> Result<(Version, NodeId, Reader, Writer), Close> {
    let mut counted = super::handshakes::Counting::new(&mut stream, progress.clone());
    let done = secure::handshake(&mut counted, &shared.identity, &shared.chain, role).await;
    // Past the transport's handshake, the slot is the last to be cut (until the handshake is
    // older than the grace every honest one finishes within).
    progress.store(usize::MAX, Ordering::Release);
    let session = match done {
        Ok(s) => s,
        Err(e @ TransportError::WrongPeer { .. }) => {
            tracing::warn!(peer = %remote, error = %e, "refusing a peer whose key is not the pinned one");
            return Err(Close::Dropped(e.to_string()));
        }
        Err(TransportError::OtherChain { ours, theirs }) => {
            tracing::warn!(
                peer = %remote,
                "peer is on another chain (genesis {theirs}; ours is {ours}): not connecting. \
                 Start this node with that chain's genesis (--genesis FILE, or --dev --peer \
                 ADDR for a dev chain) to join it"
            );
            return Err(Close::Dropped("on another chain".into()));
        }
        Err(TransportError::GenesisAsked) => {
            tracing::debug!(peer = %remote, "handed our genesis to a peer that asked");
            return Err(Close::Dropped("asked for our genesis".into()));
        }
        Err(e) => return Err(Close::Dropped(e.to_string())),
    };
    let node_id = session.peer();
    learnt.node_id = Some(node_id);
    let (r, w) = stream.into_split();
    let (mut r, mut w) = session.split(r, w);
    let version = handshake(&mut r, &mut w, shared, &mut learnt.listen_port).await?;
    Ok((version, node_id, r, w))
}

/// An outbound connection: the address dialled and the node id pinned for it.
#[derive(Debug, Clone, Copy)]
pub struct Dialled {
    /// The address.
    pub addr: SocketAddr,
    /// The only key accepted from it, if pinned.
    pub expect: Option<NodeId>,
}

/// Runs a connection to the end, reporting to the driver. `dialled` is what we dialled
/// (outbound) or `None` (inbound).
///
/// `permit` is the inbound handshake slot (`None` for dials); it is released once the handshake
/// ends, and the handshake ends early if the slot is cut for a newer one.
pub async fn run(
    id: PeerId,
    stream: TcpStream,
    remote: SocketAddr,
    dialled: Option<Dialled>,
    shared: Arc<Shared>,
    events: mpsc::Sender<Event>,
    permit: Option<super::handshakes::Slot>,
) {
    let _ = stream.set_nodelay(true);
    let local = stream
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let dialed = dialled.map(|d| d.addr);
    let mut learnt = Learnt::default();
    let role = match dialled {
        Some(d) => Role::Dialer { expect: d.expect },
        None => Role::Listener,
    };
    let progress = permit
        .as_ref()
        .map_or_else(Default::default, |p| p.progress.clone());
    let handshakes = handshakes(stream, remote, role, &shared, &mut learnt, progress);
    let cut = permit.as_ref().map(|p| p.cut.clone());
    let result = tokio::select! {
        r = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshakes) => r,
        () = async {
            match &cut {
                Some(c) => c.notified().await,
                None => std::future::pending().await,
            }
        } => Ok(Err(Close::Dropped("handshake cut for a newer one".into()))),
    };
    // The slot is held until the state machine has taken the connection in (it goes with the
    // `Connected` event), so descriptors of connections waiting in the event queue count too.
    let (version, node_id, mut r, mut w) = match result {
        Ok(Ok(done)) => done,
        Ok(Err(close)) => {
            let closed = Event::Input(Input::Closed {
                id,
                remote,
                dialed,
                close,
                learnt,
            });
            let _ = events.send(closed).await;
            return;
        }
        Err(_) => {
            let closed = Event::Input(Input::Closed {
                id,
                remote,
                dialed,
                close: Close::Dropped("handshake timed out".into()),
                learnt,
            });
            let _ = events.send(closed).await;
            return;
        }
    };
    let (out_tx, mut drain) = send_queue::queue(shared.node.metrics().queued_bytes());
    let kill = Arc::new(tokio::sync::Notify::new());
    let blocks_allowed = Arc::new(AtomicUsize::new(0));
    let connected = Event::Connected {
        id,
        remote,
        local,
        dialed,
        version,
        node_id,
        out: out_tx.clone(),
        kill: kill.clone(),
        blocks_allowed: blocks_allowed.clone(),
        slot: permit,
    };
    if events.send(connected).await.is_err() {
        return;
    }
    let writer = async move {
        while let Some(frame) = drain.next().await {
            if let Err(e) = w.write_all(&frame).await {
                return Close::Dropped(format!("write: {e}"));
            }
        }
        Close::Dropped("closed by this node".into())
    };
    let (requests, queued) = mpsc::channel(super::answer::MAX_QUEUED_REQUESTS);
    let answers = super::answer::answer_loop(shared.clone(), out_tx.clone(), queued);
    let reader = read_loop(
        id,
        &mut r,
        &shared,
        &events,
        out_tx,
        requests,
        &blocks_allowed,
    );
    let close = tokio::select! {
        c = writer => c,
        c = reader => c,
        c = answers => c,
        _ = kill.notified() => Close::Dropped("closed by this node".into()),
    };
    let _ = events
        .send(Event::Input(Input::Closed {
            id,
            remote,
            dialed,
            close,
            learnt,
        }))
        .await;
}

async fn read_loop(
    id: PeerId,
    r: &mut Reader,
    shared: &Arc<Shared>,
    events: &mpsc::Sender<Event>,
    out: SendQueue,
    requests: mpsc::Sender<Message>,
    blocks_allowed: &AtomicUsize,
) -> Close {
    let mut msgs = Bucket::new(MSG_RATE, MSG_BURST);
    let mut bytes = Bucket::new(BYTE_RATE, BYTE_BURST);
    let mut compact = CompactReceiver::default();
    loop {
        let (msg, len) =
            match tokio::time::timeout(IDLE_TIMEOUT, read_frame(r, shared, false)).await {
                Err(_) => return Close::Dropped("idle timeout".into()),
                Ok(Err(ReadError::Gone(e))) => return Close::Dropped(e),
                Ok(Err(ReadError::Forged)) => return forged(Some(id)),
                Ok(Err(ReadError::Violation(e))) => return Close::Misbehaved(e),
                Ok(Ok(m)) => m,
            };
        if !msgs.take(1.0) || !bytes.take(len as f64) {
            return Close::Misbehaved(Misbehavior::RateLimit);
        }
        match msg {
            Message::Ping(n) => {
                // Answered here, never by the state machine; the time to queue it is a metric.
                let read = Instant::now();
                let pong = frame(shared, &Message::Pong(n));
                if let Err(e) = out.send(pong).await {
                    return gone(shared, e);
                }
                shared.node.metrics().pong(read.elapsed());
            }
            Message::Version(_) | Message::Verack => {
                return Close::Misbehaved(Misbehavior::SecondHandshake)
            }
            Message::GetHeaders { .. }
            | Message::GetBlocks(_)
            | Message::GetTxs(_)
            | Message::GetBlockTxs { .. } => {
                // Answered in order by the connection's answering task, so that reading the
                // peer never waits for an answer to find room or upload budget. A peer with
                // more requests waiting than that queue holds is read no further until it
                // has taken some answers.
                if requests.send(msg).await.is_err() {
                    return Close::Dropped("closed".into());
                }
            }
            Message::CompactBlock {
                compact: c,
                validated,
            } => {
                let parent = compact_conn::parent_of(&shared.node.view(), &c.header.prev);
                let limits = compact_conn::CompactLimits {
                    max_txs: shared.max_block / ferrite_core::transaction::SIGNED_TX_LEN,
                    pow_limit: shared.node.params().pow_limit,
                };
                let step =
                    compact.on_compact(c, validated, parent, &limits, &shared.node.mempool());
                if let Err(close) = deliver(id, step, events, shared, &out).await {
                    return close;
                }
            }
            Message::BlockTxs { block, txs } => {
                let step = compact.on_block_txs(block, txs);
                if let Err(close) = deliver(id, step, events, shared, &out).await {
                    return close;
                }
            }
            Message::NotFound(hs) => {
                let n = hs.len();
                let _ = blocks_allowed.fetch_update(Ordering::AcqRel, Ordering::Acquire, |a| {
                    Some(a.saturating_sub(n))
                });
                if events
                    .send(Event::Input(Input::Message {
                        id,
                        msg: Message::NotFound(hs),
                    }))
                    .await
                    .is_err()
                {
                    return Close::Dropped("node stopping".into());
                }
            }
            Message::Block(b) => {
                // A block nobody asked this peer for is dropped unread: the allowance counts
                // the blocks requested of it (the state machine, which owns the requests, then
                // takes only those it is still waiting for). Each block must be the body its
                // header commits to, checked here on the connection's own task.
                let allowed = blocks_allowed
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                    .is_ok();
                if !allowed {
                    tracing::debug!(block = %b.hash(), "ignoring an unrequested block");
                    continue;
                }
                let block = match serve::check_body(b) {
                    Ok(block) => block,
                    Err(why) => return Close::Misbehaved(why),
                };
                if events
                    .send(Event::Input(Input::Block { id, block }))
                    .await
                    .is_err()
                {
                    return Close::Dropped("node stopping".into());
                }
            }
            other => {
                if events
                    .send(Event::Input(Input::Message { id, msg: other }))
                    .await
                    .is_err()
                {
                    return Close::Dropped("node stopping".into());
                }
            }
        }
    }
}

/// `msg` as a frame for this connection's queue, counted in the node's metrics.
pub(super) fn frame(shared: &Shared, msg: &Message) -> Frame {
    let f = msg.to_frame(shared.magic);
    shared.node.metrics().sent(msg.name(), f.len());
    Arc::new(f)
}

/// Carries out what the compact receiver decided: a rebuilt block goes to the state machine; a
/// request goes to the peer first, then the machine learns that the block is on its way; a
/// violation closes the connection.
async fn deliver(
    id: PeerId,
    step: Result<Step, Misbehavior>,
    events: &mpsc::Sender<Event>,
    shared: &Shared,
    out: &SendQueue,
) -> Result<(), Close> {
    match step.map_err(Close::Misbehaved)? {
        Step::Deliver { block, validated } => {
            let input = Input::CompactBlock {
                id,
                block,
                validated,
            };
            tell(events, input).await?;
        }
        Step::Ask { header, request } => {
            if let Err(e) = out.send(frame(shared, &request)).await {
                return Err(gone(shared, e));
            }
            tell(events, Input::CompactAwaited { id, header }).await?;
        }
        Step::Nothing => {}
    }
    Ok(())
}

async fn tell(events: &mpsc::Sender<Event>, input: Input) -> Result<(), Close> {
    events
        .send(Event::Input(input))
        .await
        .map_err(|_| Close::Dropped("node stopping".into()))
}
