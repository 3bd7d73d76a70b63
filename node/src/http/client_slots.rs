//! Per-client counting of long-lived requests (event streams), so that one client cannot take
//! every slot of a shared limit. A client is an IPv4 address, or an IPv6 /64: one host is
//! usually given a whole /64, so counting single IPv6 addresses would let it open as many
//! streams as it has addresses.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};

/// Who a connection counts as: its IPv4 address (an IPv4-mapped IPv6 address counts as the
/// IPv4 one), or the first 64 bits of its IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// An IPv4 client.
    V4(std::net::Ipv4Addr),
    /// An IPv6 network prefix (the /64 the address is in).
    V6(u64),
}

impl ClientKey {
    /// The key for a peer address.
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip {
            IpAddr::V4(v4) => ClientKey::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey::V4(v4),
                None => ClientKey::V6(prefix64(&v6)),
            },
        }
    }
}

/// The first 64 bits of an IPv6 address.
fn prefix64(v6: &Ipv6Addr) -> u64 {
    (v6.to_bits() >> 64) as u64
}

/// Counts of open slots per client, each at most `per_client`.
#[derive(Debug)]
pub struct ClientSlots {
    per_client: usize,
    open: Arc<Mutex<HashMap<ClientKey, usize>>>,
}

/// One client's slot, given back when dropped.
#[derive(Debug)]
pub struct ClientSlot {
    key: ClientKey,
    open: Arc<Mutex<HashMap<ClientKey, usize>>>,
}

impl ClientSlots {
    /// At most `per_client` slots for each client.
    pub fn new(per_client: usize) -> ClientSlots {
        ClientSlots {
            per_client,
            open: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A slot for the client at `ip`, or `None` when it already holds `per_client`.
    pub fn try_take(&self, ip: IpAddr) -> Option<ClientSlot> {
        let key = ClientKey::of(ip);
        // A panic while holding this lock leaves the counts consistent (each change is one
        // statement), so a poisoned lock is still usable.
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key).or_insert(0);
        if *count >= self.per_client {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            key,
            open: self.open.clone(),
        })
    }

    /// How many slots `ip`'s client holds.
    #[cfg(test)]
    fn held(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&ClientKey::of(ip)).copied().unwrap_or(0)
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                // No entry is kept for a client with nothing open, so the map only ever
                // holds clients with open streams.
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn each_client_gets_its_own_limit_and_slots_come_back() {
        let slots = ClientSlots::new(2);
        let a1 = slots.try_take(ip("10.0.0.1")).unwrap();
        let a2 = slots.try_take(ip("10.0.0.1")).unwrap();
        assert!(slots.try_take(ip("10.0.0.1")).is_none());
        // The same host through an IPv4-mapped IPv6 address is the same client.
        assert!(slots.try_take(ip("::ffff:10.0.0.1")).is_none());
        let b = slots.try_take(ip("10.0.0.2")).unwrap();
        drop(a1);
        assert_eq!(slots.held(ip("10.0.0.1")), 1);
        let a3 = slots.try_take(ip("10.0.0.1")).unwrap();
        drop((a2, a3, b));
        assert_eq!(slots.held(ip("10.0.0.1")), 0);
        assert!(
            slots.open.lock().unwrap().is_empty(),
            "no entries left behind"
        );
    }

    #[test]
    fn an_ipv6_64_is_one_client() {
        let slots = ClientSlots::new(1);
        let _a = slots.try_take(ip("2001:db8:1:2::1")).unwrap();
        assert!(slots.try_take(ip("2001:db8:1:2:ffff::9")).is_none());
        assert!(slots.try_take(ip("2001:db8:1:3::1")).is_some());
    }
}
