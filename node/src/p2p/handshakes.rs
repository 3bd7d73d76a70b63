//! Slots for inbound connections still in their handshake, bounded in all and per network
//! group. A new connection always gets a slot: when its group has all it may hold, the oldest
//! handshake of that group is cut for it, and when every slot is taken, the oldest handshake of
//! the most crowded group is. An honest handshake takes milliseconds, so it is never the oldest
//! for long, while sockets that dribble a byte a second, or that are reopened as soon as they
//! are closed, only displace one another.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

use super::fsm::evict::NetGroup;

/// Handshakes one network group (IPv4 /16, IPv6 /32) may have in progress at once.
pub const MAX_HANDSHAKES_PER_GROUP: usize = 16;

/// One handshake in progress.
struct Open {
    group: NetGroup,
    started: Instant,
    seq: u64,
    cut: Arc<Notify>,
}

/// The slots (shared by the accept loop and the connections it starts).
pub struct HandshakeSlots {
    total: usize,
    per_group: usize,
    open: Mutex<(u64, HashMap<u64, Open>)>,
}

/// A connection's slot; dropping it (the handshake ended) frees it.
pub struct Slot {
    slots: Arc<HandshakeSlots>,
    key: u64,
    /// Notified when the slot is taken for a newer handshake.
    pub cut: Arc<Notify>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.lock().1.remove(&self.key);
    }
}

/// Which handshake gives way for a new one of `group`: none while there is room; else the
/// oldest of `group` if it is full, or the oldest of the most crowded group. `open` is
/// (key, group, started, seq).
fn victim(
    open: &[(u64, NetGroup, Instant, u64)],
    group: NetGroup,
    total: usize,
    per_group: usize,
) -> Option<u64> {
    let mut count: HashMap<NetGroup, usize> = HashMap::new();
    for (_, g, _, _) in open {
        *count.entry(*g).or_default() += 1;
    }
    let from = if count.get(&group).copied().unwrap_or(0) >= per_group {
        group
    } else if open.len() >= total {
        *count
            .iter()
            .max_by_key(|(g, n)| (**n, **g))
            .map(|(g, _)| g)?
    } else {
        return None;
    };
    open.iter()
        .filter(|(_, g, _, _)| *g == from)
        .min_by_key(|(_, _, started, seq)| (*started, *seq))
        .map(|(k, _, _, _)| *k)
}

impl HandshakeSlots {
    /// At most `total` handshakes at once (at least one), [`MAX_HANDSHAKES_PER_GROUP`] per group.
    pub fn new(total: usize) -> Arc<HandshakeSlots> {
        Arc::new(HandshakeSlots {
            total: total.max(1),
            per_group: MAX_HANDSHAKES_PER_GROUP.min(total.max(1)),
            open: Mutex::new((0, HashMap::new())),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, HashMap<u64, Open>)> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a new handshake from `group`, and whether an older one was cut for it.
    pub fn admit(self: &Arc<Self>, group: NetGroup) -> (Slot, bool) {
        let now = Instant::now();
        let mut state = self.lock();
        let list: Vec<(u64, NetGroup, Instant, u64)> = state
            .1
            .iter()
            .map(|(k, o)| (*k, o.group, o.started, o.seq))
            .collect();
        let cut = victim(&list, group, self.total, self.per_group);
        if let Some(k) = cut {
            if let Some(o) = state.1.remove(&k) {
                o.cut.notify_one();
            }
        }
        state.0 += 1;
        let key = state.0;
        let notify = Arc::new(Notify::new());
        state.1.insert(
            key,
            Open {
                group,
                started: now,
                seq: key,
                cut: notify.clone(),
            },
        );
        drop(state);
        (
            Slot {
                slots: self.clone(),
                key,
                cut: notify,
            },
            cut.is_some(),
        )
    }

    /// Handshakes in progress.
    pub fn in_progress(&self) -> usize {
        self.lock().1.len()
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

    #[test]
    fn the_oldest_of_a_full_group_or_of_the_most_crowded_gives_way() {
        let t = Instant::now();
        let at = |s: u64| t + Duration::from_secs(s);
        let open = vec![
            (1, g(1), at(5), 1),
            (2, g(1), at(1), 2),
            (3, g(2), at(0), 3),
        ];
        assert_eq!(victim(&open, g(3), 4, 2), None, "room");
        assert_eq!(
            victim(&open, g(1), 4, 2),
            Some(2),
            "group 1 is full: its oldest"
        );
        assert_eq!(
            victim(&open, g(3), 3, 2),
            Some(2),
            "all full: the oldest of the most crowded group, not the oldest overall"
        );
    }

    #[test]
    fn slots_are_freed_when_handshakes_end_and_cut_ones_are_told() {
        let slots = HandshakeSlots::new(2);
        let (a, cut_a) = slots.admit(g(1));
        let (b, _) = slots.admit(g(2));
        assert!(!cut_a);
        assert_eq!(slots.in_progress(), 2);
        // Full: the third cuts the oldest of the most crowded group (a tie: both have one).
        let (_c, cut) = slots.admit(g(3));
        assert!(cut);
        assert_eq!(slots.in_progress(), 2);
        drop(b);
        drop(a);
        assert_eq!(slots.in_progress(), 1);
    }

    #[tokio::test]
    async fn a_cut_handshake_hears_of_it_even_before_it_waits() {
        let slots = HandshakeSlots::new(1);
        let (first, _) = slots.admit(g(1));
        let (_second, cut) = slots.admit(g(1));
        assert!(cut);
        // The notification is kept for the waiter.
        tokio::time::timeout(Duration::from_secs(1), first.cut.notified())
            .await
            .unwrap_or_else(|_| panic!("the cut was not told"));
    }
}
