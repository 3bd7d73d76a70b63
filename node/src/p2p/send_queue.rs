//! A connection's outgoing queue, bounded in frames and in bytes, and the upload limits that
//! pace the answers a connection gives.
//!
//! Every frame queued for a peer is counted in bytes until the writer has written it. The
//! driver's own messages (announcements, requests) are refused beyond [`SEND_BUDGET`], which
//! drops the peer: it does not read. An answer that can be large (headers, blocks, transfers)
//! first waits until the peer has taken all but [`ANSWER_ROOM`] bytes of what is queued, and
//! then for the upload limits, so a peer that asks and never reads holds at most one answer
//! beyond that room however many requests it sends, and a peer that reads as fast as it can
//! gets at most [`UPLOAD_RATE`] (and all peers together [`TOTAL_UPLOAD_RATE`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrite_core::Hash;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::mpsc;

use super::Frame;

/// Frames queued for one peer (a bound on the channel; bytes are bounded below).
pub const SEND_QUEUE: usize = 1024;
/// Most bytes queued for one peer by the driver: an honest peer's queue holds a few
/// announcements and requests, and at most one compact block as large as a block (4 MiB on a
/// dev chain). Beyond it the peer is dropped (it does not read).
pub const SEND_BUDGET: usize = 8 * 1024 * 1024;
/// An answer is queued only once at most this many bytes wait for the peer: enough to keep
/// a fast link busy between answers. A peer that never reads holds at most this, one answer
/// (a block at most: 1 MiB on the testnet, 4 MiB on a dev chain) and what the driver queued
/// (at most [`SEND_BUDGET`]): with the 40 default connections, under 560 MiB in the worst
/// case, and in practice the answers' part alone, since the driver's messages are small.
pub const ANSWER_ROOM: usize = 2 * 1024 * 1024;
/// How long an answer waits for the peer to make room before the peer counts as stalled.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Sustained answer bytes per second to one peer (32 MiB/s: three times what the fastest
/// measured sync took from one peer), and its burst.
pub const UPLOAD_RATE: f64 = 32.0 * 1024.0 * 1024.0;
/// Burst above [`UPLOAD_RATE`].
pub const UPLOAD_BURST: f64 = 64.0 * 1024.0 * 1024.0;
/// Sustained answer bytes per second to all peers together, and its burst: what the node
/// uploads can never take the whole machine.
pub const TOTAL_UPLOAD_RATE: f64 = 96.0 * 1024.0 * 1024.0;
/// Burst above [`TOTAL_UPLOAD_RATE`].
pub const TOTAL_UPLOAD_BURST: f64 = 192.0 * 1024.0 * 1024.0;
/// Times one block is served to one connection within [`SERVE_WINDOW`]: an honest peer asks
/// for a block once (again when its download window left the block's branch and came back);
/// beyond it the answer is `NotFound` until the window has passed.
pub const MAX_SERVES_PER_BLOCK: u32 = 2;
/// The window [`MAX_SERVES_PER_BLOCK`] counts in: short, so that an honest peer whose branch
/// flipped back and forth more often gets the block again within seconds (it retries after a
/// `NotFound`), long enough that repeating one block costs the node a few reads a second at
/// most.
pub const SERVE_WINDOW: Duration = Duration::from_secs(10);
/// Blocks remembered per connection as served (forgotten all at once beyond it).
const MAX_SERVED_TRACKED: usize = 8192;

/// The queue was closed (the connection is ending) or is over its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The writer is gone.
    #[error("the connection is closing")]
    Closed,
    /// The frame limit or byte budget is reached.
    #[error("the peer does not read: its send queue is full")]
    Full,
    /// An answer waited [`DRAIN_TIMEOUT`] for room.
    #[error("the peer does not read its answers")]
    Stalled,
}

/// The bytes a connection has queued, and whether its writer is gone: once it is, nothing more
/// is counted, and what was counted has left the node-wide gauge (a frame a sender still puts
/// in the closed channel is never written and never counted again).
#[derive(Debug, Default)]
struct Count {
    bytes: usize,
    closed: bool,
}

/// One connection's [`Count`] and the node-wide gauge, always changed together under one lock.
#[derive(Debug)]
struct Counter {
    count: Mutex<Count>,
    /// Bytes queued over every connection, for `/metrics`.
    total: Gauge,
}

impl Counter {
    fn lock(&self) -> std::sync::MutexGuard<'_, Count> {
        self.count.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts `len` bytes in, if the writer is there and the result stays within `budget`.
    fn add(&self, len: usize, budget: usize) -> Result<(), QueueError> {
        let mut c = self.lock();
        if c.closed {
            return Err(QueueError::Closed);
        }
        if c.bytes.saturating_add(len) > budget {
            return Err(QueueError::Full);
        }
        c.bytes += len;
        self.total.inc_by(gauge_bytes(len));
        Ok(())
    }

    /// Takes `len` bytes out (written, or not queued after all), unless the writer is gone.
    fn sub(&self, len: usize) {
        let mut c = self.lock();
        if c.closed {
            return;
        }
        let len = len.min(c.bytes);
        c.bytes -= len;
        self.total.dec_by(gauge_bytes(len));
    }

    /// The writer is gone: what it never took leaves the gauge.
    fn close(&self) {
        let mut c = self.lock();
        c.closed = true;
        self.total.dec_by(gauge_bytes(c.bytes));
        c.bytes = 0;
    }
}

fn gauge_bytes(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}

/// The sending side of a connection's queue (cheap to clone: the driver and the connection
/// each hold one).
#[derive(Clone, Debug)]
pub struct SendQueue {
    tx: mpsc::Sender<Frame>,
    counter: Arc<Counter>,
}

/// The writer's side.
pub struct Drain {
    rx: mpsc::Receiver<Frame>,
    counter: Arc<Counter>,
}

/// A new queue; `total` is the node-wide gauge of queued bytes.
pub fn queue(total: Gauge) -> (SendQueue, Drain) {
    let (tx, rx) = mpsc::channel(SEND_QUEUE);
    let counter = Arc::new(Counter {
        count: Mutex::new(Count::default()),
        total,
    });
    (
        SendQueue {
            tx,
            counter: counter.clone(),
        },
        Drain { rx, counter },
    )
}

impl SendQueue {
    /// Bytes queued and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.counter.lock().bytes
    }

    /// Queues a frame now, or refuses it when the queue is full in frames or past
    /// [`SEND_BUDGET`] in bytes.
    pub fn try_send(&self, frame: Frame) -> Result<(), QueueError> {
        let len = frame.len();
        // Counted before it is queued: the writer may take it at once.
        self.counter.add(len, SEND_BUDGET)?;
        match self.tx.try_send(frame) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.counter.sub(len);
                Err(match e {
                    mpsc::error::TrySendError::Full(_) => QueueError::Full,
                    mpsc::error::TrySendError::Closed(_) => QueueError::Closed,
                })
            }
        }
    }

    /// Queues a small frame (a pong, a request), waiting for a frame slot.
    pub async fn send(&self, frame: Frame) -> Result<(), QueueError> {
        let len = frame.len();
        self.counter.add(len, usize::MAX)?;
        if self.tx.send(frame).await.is_err() {
            self.counter.sub(len);
            return Err(QueueError::Closed);
        }
        Ok(())
    }

    /// Waits until at most [`ANSWER_ROOM`] bytes wait for the peer, then for the upload limits
    /// to allow `len` more bytes; `Stalled` if the peer takes longer than [`DRAIN_TIMEOUT`].
    pub async fn room_for_answer(&self, len: usize, limits: &Uploads) -> Result<(), QueueError> {
        let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
        while self.queued_bytes() > ANSWER_ROOM {
            if self.tx.is_closed() {
                return Err(QueueError::Closed);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(QueueError::Stalled);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let wait = limits.reserve(len);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// Queues an answer of `frame` once [`SendQueue::room_for_answer`] allows.
    pub async fn answer(&self, frame: Frame, limits: &Uploads) -> Result<(), QueueError> {
        self.room_for_answer(frame.len(), limits).await?;
        self.send(frame).await
    }
}

impl Drain {
    /// The next frame to write; its bytes leave the count as it leaves the queue (the one frame
    /// being written is the writer's, however its write ends).
    pub async fn next(&mut self) -> Option<Frame> {
        let frame = self.rx.recv().await?;
        self.counter.sub(frame.len());
        Some(frame)
    }
}

impl Drop for Drain {
    fn drop(&mut self) {
        // Senders see the queue closed from now on; what was never written leaves the
        // node-wide count with the connection, including a frame a sender with a reserved
        // slot puts in the channel after this.
        self.rx.close();
        self.counter.close();
    }
}

/// A token bucket that may go into debt: taking more than it holds says how long to wait.
#[derive(Debug)]
struct Pace {
    level: f64,
    rate: f64,
    burst: f64,
    at: Instant,
}

impl Pace {
    fn new(rate: f64, burst: f64) -> Pace {
        Pace {
            level: burst,
            rate,
            burst,
            at: Instant::now(),
        }
    }

    /// Takes `n` tokens at `now`; the time until the bucket is out of debt again.
    fn reserve(&mut self, n: f64, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.level = (self.level + elapsed * self.rate).min(self.burst);
        self.at = now;
        self.level -= n;
        if self.level >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.level / self.rate)
        }
    }
}

/// The node-wide upload limit, shared by every connection.
pub struct TotalUploads {
    pace: Mutex<Pace>,
}

impl Default for TotalUploads {
    fn default() -> Self {
        TotalUploads {
            pace: Mutex::new(Pace::new(TOTAL_UPLOAD_RATE, TOTAL_UPLOAD_BURST)),
        }
    }
}

/// The upload limits one connection's answers go through: its own and the node's.
pub struct Uploads {
    own: Mutex<Pace>,
    total: Arc<TotalUploads>,
}

impl Uploads {
    /// One connection's limits under the node-wide `total`.
    pub fn new(total: Arc<TotalUploads>) -> Uploads {
        Uploads {
            own: Mutex::new(Pace::new(UPLOAD_RATE, UPLOAD_BURST)),
            total,
        }
    }

    /// Takes `len` bytes from both limits; how long to wait before sending them.
    fn reserve(&self, len: usize) -> Duration {
        let now = Instant::now();
        let n = len as f64;
        let own = self
            .own
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .reserve(n, now);
        let total = self
            .total
            .pace
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .reserve(n, now);
        own.max(total)
    }
}

/// The blocks served to one connection, and how often in their current window.
#[derive(Default)]
pub struct Served {
    times: HashMap<Hash, (u32, Instant)>,
}

impl Served {
    /// True when `h` may be served once more at `now`.
    pub fn allows(&self, h: &Hash, now: Instant) -> bool {
        self.times.get(h).is_none_or(|(n, since)| {
            *n < MAX_SERVES_PER_BLOCK || now.saturating_duration_since(*since) >= SERVE_WINDOW
        })
    }

    /// `h` was served at `now`.
    pub fn count(&mut self, h: Hash, now: Instant) {
        if self.times.len() >= MAX_SERVED_TRACKED && !self.times.contains_key(&h) {
            self.times
                .retain(|_, (_, since)| now.saturating_duration_since(*since) < SERVE_WINDOW);
            if self.times.len() >= MAX_SERVED_TRACKED {
                self.times.clear();
            }
        }
        let entry = self.times.entry(h).or_insert((0, now));
        if now.saturating_duration_since(entry.1) >= SERVE_WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pace_in_debt_says_how_long_to_wait() {
        let t0 = Instant::now();
        let mut p = Pace::new(1_000.0, 2_000.0);
        assert_eq!(p.reserve(2_000.0, t0), Duration::ZERO, "the burst is free");
        assert_eq!(p.reserve(500.0, t0), Duration::from_millis(500));
        // Half a second later the debt is paid.
        assert_eq!(
            p.reserve(0.0, t0 + Duration::from_millis(500)),
            Duration::ZERO
        );
        // A long pause refills only up to the burst.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(p.reserve(2_000.0, later), Duration::ZERO);
        assert_eq!(p.reserve(1_000.0, later), Duration::from_secs(1));
    }

    #[test]
    fn a_block_is_served_to_one_connection_at_most_twice_per_window() {
        let mut s = Served::default();
        let t0 = Instant::now();
        let h = Hash([1; 32]);
        for _ in 0..MAX_SERVES_PER_BLOCK {
            assert!(s.allows(&h, t0));
            s.count(h, t0);
        }
        assert!(!s.allows(&h, t0));
        assert!(!s.allows(&h, t0 + SERVE_WINDOW - Duration::from_millis(1)));
        assert!(s.allows(&Hash([2; 32]), t0));
        // Once the window has passed, the block is served again, and a new window counts.
        let later = t0 + SERVE_WINDOW;
        assert!(s.allows(&h, later));
        for _ in 0..MAX_SERVES_PER_BLOCK {
            s.count(h, later);
        }
        assert!(!s.allows(&h, later));
    }

    #[tokio::test]
    async fn the_byte_budget_bounds_what_waits_for_a_peer() {
        let gauge = Gauge::default();
        let (q, mut drain) = queue(gauge.clone());
        let big: Frame = Arc::new(vec![0; SEND_BUDGET / 2]);
        assert!(q.try_send(big.clone()).is_ok());
        assert!(q.try_send(big.clone()).is_ok());
        assert_eq!(q.try_send(Arc::new(vec![0; 1])), Err(QueueError::Full));
        assert_eq!(gauge.get(), SEND_BUDGET as i64);
        // Taken by the writer, the bytes leave the count; what is never taken leaves with the
        // drain.
        let _taken = drain.next().await;
        assert_eq!(q.queued_bytes(), SEND_BUDGET / 2);
        drop(drain);
        assert_eq!(gauge.get(), 0);
        // Once the writer is gone nothing more is counted, and nothing goes negative.
        assert_eq!(q.try_send(Arc::new(vec![0; 7])), Err(QueueError::Closed));
        assert_eq!(q.send(Arc::new(vec![0; 7])).await, Err(QueueError::Closed));
        assert_eq!((gauge.get(), q.queued_bytes()), (0, 0));
    }

    #[tokio::test]
    async fn a_frame_put_in_the_channel_after_the_writer_left_leaves_no_count_behind() {
        let gauge = Gauge::default();
        let (q, drain) = queue(gauge.clone());
        // A sender counts its frame and holds a slot, as `send` does, when the writer goes.
        q.counter
            .add(100, usize::MAX)
            .unwrap_or_else(|e| panic!("{e}"));
        let permit = q.tx.reserve().await.unwrap_or_else(|e| panic!("{e}"));
        drop(drain);
        permit.send(Arc::new(vec![0; 100]));
        assert_eq!((gauge.get(), q.queued_bytes()), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_waits_for_room_and_a_reader_that_never_drains_is_stalled() {
        let (q, _drain) = queue(Gauge::default());
        let limits = Uploads::new(Arc::default());
        assert!(q.try_send(Arc::new(vec![0; ANSWER_ROOM + 1])).is_ok());
        let r = q.answer(Arc::new(vec![0; 10]), &limits).await;
        assert_eq!(r, Err(QueueError::Stalled));
        assert_eq!(
            q.queued_bytes(),
            ANSWER_ROOM + 1,
            "the answer was not queued"
        );
    }
}
