//! Slots for inbound connections still in their handshake, bounded in all and per network
//! group. A new connection always gets a slot: when its group has all it may hold, the
//! handshake of that group that has made the least progress (bytes read; the oldest of equals)
//! is cut for it, and when every slot is taken, the one of the most crowded group is. An honest
//! peer sends its first handshake message at once and completes in milliseconds, so it is never
//! the one cut, while sockets that send nothing, dribble a byte a second, or are reopened as
//! soon as they are closed only displace one another.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

use super::fsm::evict::NetGroup;

/// Handshakes one network group (IPv4 /16, IPv6 /32) may have in progress at once.
pub const MAX_HANDSHAKES_PER_GROUP: usize = 16;
/// A handshake still going after this long counts as making no progress, whatever it sent: an
/// honest one finishes its transport handshake in a round trip and a half, while a peer that
/// sends its first bytes (or even finishes the transport handshake) and then stalls must not
/// outrank a newcomer that is about to finish.
pub const HANDSHAKE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// One handshake in progress.
struct Open {
    group: NetGroup,
    started: Instant,
    seq: u64,
    cut: Arc<Notify>,
    progress: Arc<AtomicUsize>,
}

/// The slots (shared by the accept loop and the connections it starts).
pub struct HandshakeSlots {
    total: usize,
    per_group: usize,
    /// This node's secret for breaking ties between equally crowded groups (a peer cannot
    /// choose a group that always loses them).
    key: [u8; 32],
    open: Mutex<(u64, HashMap<u64, Open>)>,
}

/// A connection's slot; dropping it (the handshake ended) frees it.
pub struct Slot {
    slots: Arc<HandshakeSlots>,
    key: u64,
    /// Notified when the slot is taken for a newer handshake.
    pub cut: Arc<Notify>,
    /// Bytes of handshake read from the peer so far (the connection adds to it; `usize::MAX`
    /// once the transport's handshake is done).
    pub progress: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").field("key", &self.key).finish()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.lock().1.remove(&self.key);
    }
}

/// One handshake in progress as [`victim`] weighs it.
#[derive(Debug, Clone, Copy)]
struct Weighed {
    key: u64,
    group: NetGroup,
    /// 0: nothing sent (or past [`HANDSHAKE_GRACE`]); 1: bytes sent; 2: transport done.
    stage: u8,
    started: Instant,
    seq: u64,
}

/// The stage of a handshake that read `progress` bytes (`usize::MAX`: transport done) and is
/// `age` old.
fn stage(progress: usize, age: std::time::Duration) -> u8 {
    match progress {
        _ if age > HANDSHAKE_GRACE => 0,
        0 => 0,
        usize::MAX => 2,
        _ => 1,
    }
}

/// Which handshake gives way for a new one of `group`: none while there is room; else the one
/// of `group` at the earliest stage (the oldest of equals) if `group` is full, or that of the
/// most crowded group (ties between groups broken by `rank`).
fn victim(
    open: &[Weighed],
    group: NetGroup,
    (total, per_group): (usize, usize),
    rank: impl Fn(&NetGroup) -> [u8; 32],
) -> Option<u64> {
    let mut count: HashMap<NetGroup, usize> = HashMap::new();
    for o in open {
        *count.entry(o.group).or_default() += 1;
    }
    let from = if count.get(&group).copied().unwrap_or(0) >= per_group {
        group
    } else if open.len() >= total {
        *count
            .iter()
            .max_by_key(|(g, n)| (**n, rank(g)))
            .map(|(g, _)| g)?
    } else {
        return None;
    };
    open.iter()
        .filter(|o| o.group == from)
        .min_by_key(|o| (o.stage, o.started, o.seq))
        .map(|o| o.key)
}

impl HandshakeSlots {
    /// At most `total` handshakes at once (at least one), [`MAX_HANDSHAKES_PER_GROUP`] per group.
    pub fn new(total: usize) -> Arc<HandshakeSlots> {
        Arc::new(HandshakeSlots {
            total: total.max(1),
            per_group: MAX_HANDSHAKES_PER_GROUP.min(total.max(1)),
            key: rand::random(),
            open: Mutex::new((0, HashMap::new())),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, HashMap<u64, Open>)> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a new handshake from `group` that has `sent` bytes waiting already, and
    /// whether an older one was cut for it.
    pub fn admit(self: &Arc<Self>, group: NetGroup, sent: usize) -> (Slot, bool) {
        let now = Instant::now();
        let mut state = self.lock();
        let list: Vec<Weighed> = state
            .1
            .iter()
            .map(|(k, o)| Weighed {
                key: *k,
                group: o.group,
                stage: stage(
                    o.progress.load(Ordering::Acquire),
                    now.saturating_duration_since(o.started),
                ),
                started: o.started,
                seq: o.seq,
            })
            .collect();
        let rank = |g: &NetGroup| g.rank(&self.key);
        let cut = victim(&list, group, (self.total, self.per_group), rank);
        if let Some(k) = cut {
            if let Some(o) = state.1.remove(&k) {
                o.cut.notify_one();
            }
        }
        state.0 += 1;
        let key = state.0;
        let notify = Arc::new(Notify::new());
        let progress = Arc::new(AtomicUsize::new(sent));
        state.1.insert(
            key,
            Open {
                group,
                started: now,
                seq: key,
                cut: notify.clone(),
                progress: progress.clone(),
            },
        );
        drop(state);
        (
            Slot {
                slots: self.clone(),
                key,
                cut: notify,
                progress,
            },
            cut.is_some(),
        )
    }

    /// Handshakes in progress.
    pub fn in_progress(&self) -> usize {
        self.lock().1.len()
    }
}

/// A stream whose reads add to a handshake's progress.
pub struct Counting<'a, S> {
    io: &'a mut S,
    progress: Arc<AtomicUsize>,
}

impl<'a, S> Counting<'a, S> {
    /// `io`, counting what is read from it into `progress`.
    pub fn new(io: &'a mut S, progress: Arc<AtomicUsize>) -> Self {
        Counting { io, progress }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counting<'_, S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut *self.io).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        if read > 0 {
            self.progress.fetch_add(read, Ordering::AcqRel);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counting<'_, S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut *self.io).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;
    use std::time::Duration;

    fn g(a: u8) -> NetGroup {
        NetGroup::of(IpAddr::from([a, 0, 0, 1]))
    }

    fn w(key: u64, group: NetGroup, stage: u8, started: Instant) -> Weighed {
        Weighed {
            key,
            group,
            stage,
            started,
            seq: key,
        }
    }

    fn by_value(g: &NetGroup) -> [u8; 32] {
        let mut r = [0; 32];
        r[..5].copy_from_slice(&g.bytes());
        r
    }

    #[test]
    fn the_least_advanced_of_a_full_group_or_of_the_most_crowded_gives_way() {
        let t = Instant::now();
        let at = |s: u64| t + Duration::from_secs(s);
        let open = vec![
            w(1, g(1), 0, at(5)),
            w(2, g(1), 0, at(1)),
            w(3, g(2), 0, at(0)),
        ];
        assert_eq!(victim(&open, g(3), (4, 2), by_value), None, "room");
        assert_eq!(
            victim(&open, g(1), (4, 2), by_value),
            Some(2),
            "group 1 is full: its oldest"
        );
        assert_eq!(
            victim(&open, g(3), (3, 2), by_value),
            Some(2),
            "all full: the oldest of the most crowded group, not the oldest overall"
        );
        // A handshake at a later stage outlasts older ones at earlier stages.
        let open = vec![
            w(1, g(1), 2, at(0)),
            w(2, g(1), 0, at(3)),
            w(3, g(1), 1, at(1)),
        ];
        assert_eq!(victim(&open, g(1), (8, 3), by_value), Some(2));
    }

    #[test]
    fn a_handshake_that_stalls_past_the_grace_counts_as_no_progress() {
        let grace = HANDSHAKE_GRACE;
        assert_eq!(stage(0, Duration::ZERO), 0);
        assert_eq!(stage(64, Duration::ZERO), 1);
        assert_eq!(stage(usize::MAX, grace), 2);
        assert_eq!(stage(usize::MAX, grace + Duration::from_millis(1)), 0);
        assert_eq!(stage(64, grace * 5), 0);
    }

    #[test]
    fn slots_are_freed_when_handshakes_end_and_cut_ones_are_told() {
        let slots = HandshakeSlots::new(2);
        let (a, cut_a) = slots.admit(g(1), 0);
        let (b, _) = slots.admit(g(2), 0);
        assert!(!cut_a);
        assert_eq!(slots.in_progress(), 2);
        // Full: the third cuts the oldest of the most crowded group (a tie: both have one).
        let (_c, cut) = slots.admit(g(3), 0);
        assert!(cut);
        assert_eq!(slots.in_progress(), 2);
        drop(b);
        drop(a);
        assert_eq!(slots.in_progress(), 1);
    }

    #[tokio::test]
    async fn a_cut_handshake_hears_of_it_even_before_it_waits() {
        let slots = HandshakeSlots::new(1);
        let (first, _) = slots.admit(g(1), 0);
        let (_second, cut) = slots.admit(g(1), 0);
        assert!(cut);
        // The notification is kept for the waiter.
        tokio::time::timeout(Duration::from_secs(1), first.cut.notified())
            .await
            .unwrap_or_else(|_| panic!("the cut was not told"));
    }
}
