//! The driver: the thin tokio layer around the peer state machine ([`super::fsm`]). One task
//! turns what happens (connection events, results of work, the node's events, two timers) into
//! [`Input`]s with the wall-clock time, and carries out each [`Output`]: frames onto the
//! connections' queues, dials, header and transfer submissions on tokio's blocking pool, blocks
//! onto the processor's threads, address-book writes, the peer table for the HTTP API.
//! Nothing here decides anything.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, Notify};

use super::fsm::{ChainReader, Input, Machine, Output, Time};
use super::processor::{self, Job, Processed};
use super::{dial, Event, PeerId, Shared};
use crate::chain::ChainView;
use crate::mempool::MempoolError;
use crate::node::{Node, NodeEvent, SubmitTxError};

/// Housekeeping period (stalls, pings, dialling, saving).
pub const HOUSEKEEPING: Duration = Duration::from_secs(1);
/// Transfer announcements are batched for this long.
pub const TX_FLUSH: Duration = Duration::from_millis(50);

/// The wall clock as the state machine's time.
pub fn now() -> Time {
    Time(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0),
    )
}

/// Set once the driver has stopped and saved the address book.
#[derive(Default)]
pub struct Stopped {
    done: Mutex<bool>,
    cv: Condvar,
}

impl Stopped {
    fn set(&self) {
        *self.done.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }

    /// Waits until set, at most `limit`.
    pub fn wait(&self, limit: Duration) {
        let done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        let _ = self
            .cv
            .wait_timeout_while(done, limit, |d| !*d)
            .map_err(|_| ());
    }
}

/// What the driver holds of one connection.
struct Handle {
    out: super::send_queue::SendQueue,
    kill: Arc<Notify>,
    blocks_allowed: Arc<std::sync::atomic::AtomicUsize>,
}

/// The machine's window on the node: the view published when it was made, and the mempool.
/// The driver makes one per input; the simulator uses the same.
pub struct NodeReader<'a> {
    view: Arc<ChainView>,
    node: &'a Node,
}

impl<'a> NodeReader<'a> {
    /// A reader over `node`'s current view.
    pub fn new(node: &'a Node) -> NodeReader<'a> {
        NodeReader {
            view: node.view(),
            node,
        }
    }
}

impl ChainReader for NodeReader<'_> {
    fn locator(&self) -> Vec<ferrite_core::Hash> {
        self.view.locator.to_vec()
    }

    fn best_header(&self) -> (u64, ferrite_core::Work) {
        (
            self.view.best_header_meta.height,
            self.view.best_header_meta.work,
        )
    }

    fn missing(&self) -> Vec<(ferrite_core::Hash, u64)> {
        self.view.missing.to_vec()
    }

    fn missing_txs(&self, ids: &[ferrite_core::Hash]) -> Vec<ferrite_core::Hash> {
        let pool = self.node.mempool();
        ids.iter().filter(|h| !pool.contains(h)).copied().collect()
    }

    fn pool_ids(&self) -> Vec<ferrite_core::Hash> {
        self.node.mempool().ids()
    }

    fn has_header(&self, h: &ferrite_core::Hash) -> bool {
        self.view
            .block_meta(h)
            .ok()
            .flatten()
            .is_some_and(|m| !m.status.is_invalid())
    }

    fn has_block(&self, h: &ferrite_core::Hash) -> bool {
        self.view
            .block_meta(h)
            .ok()
            .flatten()
            .is_some_and(|m| m.status.has_body())
    }

    fn extends_best_header(&self, header: &ferrite_core::BlockHeader) -> bool {
        // The chain's own clock, so that the verdict is the one the chain reaches.
        self.view
            .extends_best_header(header, self.node.now())
            .unwrap_or(false)
    }
}

/// The new tip's block for compact relay: the node's last connected block when it is the tip
/// `announce` ends with, and only once caught up (peers have the blocks of a catch-up).
pub fn tip_block(
    node: &Node,
    announce: &[ferrite_core::BlockHeader],
    catching_up: bool,
) -> Option<Arc<ferrite_core::BodyChecked>> {
    let tip = announce.last()?.hash();
    node.tip_block().filter(|b| !catching_up && b.hash() == tip)
}

/// The driver's state.
pub struct Driver {
    shared: Arc<Shared>,
    machine: Machine,
    handles: HashMap<PeerId, Handle>,
    events_tx: mpsc::Sender<Event>,
    jobs: mpsc::UnboundedSender<Job>,
    work_tx: mpsc::UnboundedSender<Input>,
    work_rx: Option<mpsc::UnboundedReceiver<Input>>,
    processed_rx: Option<mpsc::UnboundedReceiver<Processed>>,
    stopped: Arc<Stopped>,
    book: BookWriter,
    /// The handshake slot of the connection being fed to the machine.
    admitting: Option<super::handshakes::Slot>,
}

/// Writes address-book records on a thread of its own, one save after another in the order
/// the machine made them (a later save must never be overwritten by an earlier one).
struct BookWriter {
    tx: Option<std::sync::mpsc::Sender<Vec<crate::store::PeerUpdate>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BookWriter {
    fn start(node: Arc<Node>) -> std::io::Result<BookWriter> {
        let (tx, rx) = std::sync::mpsc::channel::<Vec<crate::store::PeerUpdate>>();
        let thread = std::thread::Builder::new()
            .name("p2p-book".into())
            .spawn(move || {
                for records in rx {
                    if let Err(e) = node.peer_store().update_peers(&records) {
                        tracing::warn!(error = %e, "cannot save the address book");
                    }
                }
            })?;
        Ok(BookWriter {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    fn save(&self, records: Vec<crate::store::PeerUpdate>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(records);
        }
    }

    /// Waits for every queued save to be written.
    fn finish(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Driver {
    /// A driver for `machine`, starting the block processor's threads.
    pub fn new(
        shared: Arc<Shared>,
        machine: Machine,
        events_tx: mpsc::Sender<Event>,
        stopped: Arc<Stopped>,
    ) -> std::io::Result<Driver> {
        let (processed_tx, processed_rx) = mpsc::unbounded_channel();
        let jobs = processor::spawn(shared.node.clone(), processed_tx)?;
        let (work_tx, work_rx) = mpsc::unbounded_channel();
        let book = BookWriter::start(shared.node.clone())?;
        Ok(Driver {
            book,
            shared,
            machine,
            handles: HashMap::new(),
            events_tx,
            jobs,
            work_tx,
            work_rx: Some(work_rx),
            processed_rx: Some(processed_rx),
            stopped,
            admitting: None,
        })
    }

    /// Runs until the node stops.
    pub async fn run(mut self, mut events: mpsc::Receiver<Event>) {
        let (Some(mut work), Some(mut processed)) = (self.work_rx.take(), self.processed_rx.take())
        else {
            return;
        };
        let mut node_events = self.shared.node.subscribe();
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
        let mut tx_flush = tokio::time::interval(TX_FLUSH);
        self.execute();
        loop {
            if self.shared.node.shutting_down() {
                break;
            }
            let input = tokio::select! {
                Some(ev) = events.recv() => self.on_event(ev),
                Some(input) = work.recv() => Some(input),
                Some(done) = processed.recv() => Some(Input::BlockProcessed {
                    peer: done.peer,
                    ban_key: done.ban_key,
                    hash: done.hash,
                    result: done.result,
                    status: done.status,
                }),
                ev = node_events.recv() => match ev {
                    Ok(NodeEvent::Tip { announce, catching_up, .. }) => {
                        let block = tip_block(&self.shared.node, &announce, catching_up);
                        Some(Input::TipChanged { announce, catching_up, block })
                    }
                    Ok(NodeEvent::Tx(id)) => Some(Input::TxAdmitted(id)),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(missed = n, "network fell behind node events");
                        Some(Input::EventsLagged)
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = tx_flush.tick() => Some(Input::FlushTxs),
                _ = housekeeping.tick() => Some(Input::Tick),
            };
            let tick = matches!(input, Some(Input::Tick));
            if let Some(input) = input {
                self.feed(input);
            }
            if tick {
                let f = self.machine.footprint();
                self.shared.node.metrics().network(f.bans, f.txs_wanted);
            }
        }
        for h in self.handles.values() {
            h.kill.notify_one();
        }
        // The final save goes behind the others, and all are written when `Stopped` is set.
        for out in self.machine.final_save() {
            if let Output::SaveBook(records) = out {
                self.book.save(records);
            }
        }
        let mut book = std::mem::replace(
            &mut self.book,
            BookWriter {
                tx: None,
                thread: None,
            },
        );
        let _ = tokio::task::spawn_blocking(move || book.finish()).await;
        self.stopped.set();
    }

    /// Turns a connection event into an input, keeping the connection's handles from its
    /// handshake until it closes.
    fn on_event(&mut self, ev: Event) -> Option<Input> {
        Some(match ev {
            Event::Connected {
                id,
                remote,
                local,
                dialed,
                version,
                node_id,
                out,
                kill,
                blocks_allowed,
                slot,
            } => {
                self.admitting = slot;
                self.handles.insert(
                    id,
                    Handle {
                        out,
                        kill,
                        blocks_allowed,
                    },
                );
                Input::Connected {
                    id,
                    remote,
                    local,
                    dialed,
                    version,
                    node_id,
                }
            }
            Event::Input(input) => {
                if let Input::Closed { id, .. } = &input {
                    self.handles.remove(id);
                }
                input
            }
        })
    }

    fn feed(&mut self, input: Input) {
        let reader = NodeReader::new(&self.shared.node);
        self.machine.handle(input, now(), &reader);
        // A new connection's handshake slot is freed now that the machine has it.
        self.admitting = None;
        self.execute();
    }

    /// Carries out the machine's outputs.
    fn execute(&mut self) {
        for out in self.machine.drain() {
            match out {
                Output::Send(id, msg) => self.send(id, &msg),
                Output::Disconnect(id) => {
                    if let Some(h) = self.handles.get(&id) {
                        h.kill.notify_one();
                    }
                }
                Output::Dial(addr, expect) => {
                    dial::dial(addr, expect, self.shared.clone(), self.events_tx.clone());
                }
                Output::SubmitHeaders { peer, headers } => self.submit_headers(peer, headers),
                Output::SubmitBlock {
                    peer,
                    ban_key,
                    block,
                } => {
                    if self
                        .jobs
                        .send(Job {
                            peer,
                            ban_key,
                            block,
                        })
                        .is_err()
                    {
                        tracing::error!("block processor stopped");
                        self.shared.node.request_shutdown();
                    }
                }
                Output::SubmitTxs { peer, txs } => self.submit_txs(peer, txs),
                Output::Withhold(hash) => self.withhold(hash),
                Output::KeepForCompact(block) => self.shared.recent_compact.keep(block),
                Output::Banned(key, until) => {
                    self.shared
                        .node
                        .metrics()
                        .defence(crate::metrics::Defence::Ban);
                    self.shared
                        .bans
                        .write()
                        .unwrap_or_else(|p| p.into_inner())
                        .ban(key, until);
                }
                Output::SaveBook(records) => self.book.save(records),
                Output::PublishPeers(list) => self.shared.peer_table.publish(list),
                Output::Defended(d) => self.shared.node.metrics().defence(d),
                Output::Fatal(e) => {
                    tracing::error!(error = %e, "store failed; stopping the node");
                    self.shared.node.request_shutdown();
                }
            }
        }
    }

    fn send(&self, id: PeerId, msg: &super::wire::Message) {
        if let Some(h) = self.handles.get(&id) {
            if let super::wire::Message::GetBlocks(ids) = msg {
                h.blocks_allowed
                    .fetch_add(ids.len(), std::sync::atomic::Ordering::AcqRel);
            }
            let frame = Arc::new(msg.to_frame(self.shared.magic));
            let len = frame.len();
            match h.out.try_send(frame) {
                Ok(()) => self.shared.node.metrics().sent(msg.name(), len),
                // The connection is ending already: nothing to count.
                Err(super::send_queue::QueueError::Closed) => {}
                Err(e) => {
                    // A full queue (in frames or bytes): the peer does not keep up.
                    tracing::debug!(peer = id, error = %e, "cannot queue for the peer; dropping it");
                    self.shared
                        .node
                        .metrics()
                        .defence(crate::metrics::Defence::SendQueueFull);
                    h.kill.notify_one();
                }
            }
        }
    }

    fn submit_headers(&self, peer: PeerId, headers: Vec<ferrite_core::BlockHeader>) {
        let node = self.shared.node.clone();
        let work = self.work_tx.clone();
        tokio::task::spawn_blocking(move || {
            let count = headers.len();
            let last_height = headers.last().map_or(0, |h| h.height);
            let result = node.submit_headers(&headers);
            let _ = work.send(Input::HeadersSubmitted {
                peer,
                count,
                last_height,
                result,
            });
        });
    }

    fn withhold(&self, hash: ferrite_core::Hash) {
        let node = self.shared.node.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = node.withhold(hash) {
                tracing::error!(error = %e, "store failed; stopping the node");
                node.request_shutdown();
            }
        });
    }

    fn submit_txs(&self, peer: PeerId, txs: Vec<ferrite_core::SignedTransaction>) {
        let node = self.shared.node.clone();
        let work = self.work_tx.clone();
        tokio::task::spawn_blocking(move || {
            let (mut invalid, mut accepted) = (None, 0);
            for r in node.submit_txs(txs) {
                match r {
                    Ok(_) => accepted += 1,
                    // A signature that does not verify, or a transfer that breaks a rule that
                    // needs no state, is wrong everywhere: the peer should never have relayed
                    // it. Other refusals can be honest differences of state.
                    Err(SubmitTxError::Rejected(
                        e @ (MempoolError::BadSignature | MempoolError::Rule(_)),
                    )) => invalid = Some(e),
                    Err(e) => tracing::debug!(error = %e, "relayed transfer refused"),
                }
            }
            let _ = work.send(Input::TxsSubmitted {
                peer,
                accepted,
                invalid,
            });
        });
    }
}
