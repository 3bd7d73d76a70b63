//! Listening sockets at a configured address, or (for the dev defaults) at the first free port
//! from it, so that a dev node is found at the usual ports whenever they are free.

use std::net::SocketAddr;

use tokio::net::TcpListener;

/// Ports after the preferred one tried before any free port is taken.
pub const NEXT_FREE_TRIES: u16 = 32;

/// Where to listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bind {
    /// The preferred address.
    pub addr: SocketAddr,
    /// If the port is taken, try the next [`NEXT_FREE_TRIES`] ports and then any free one
    /// (dev defaults); otherwise the address is used exactly or not at all.
    pub next_free: bool,
}

impl Bind {
    /// Exactly `addr`.
    pub fn exact(addr: SocketAddr) -> Bind {
        Bind {
            addr,
            next_free: false,
        }
    }

    /// `addr`, or the next free port after it.
    pub fn near(addr: SocketAddr) -> Bind {
        Bind {
            addr,
            next_free: true,
        }
    }

    /// Binds a listener as described. The error is the preferred address's.
    pub async fn listen(self) -> std::io::Result<TcpListener> {
        let first = TcpListener::bind(self.addr).await;
        if !self.next_free || self.addr.port() == 0 {
            return first;
        }
        let Err(error) = first else {
            return first;
        };
        if error.kind() != std::io::ErrorKind::AddrInUse {
            return Err(error);
        }
        let start = self.addr.port();
        for port in (1..=NEXT_FREE_TRIES).filter_map(|i| start.checked_add(i)) {
            let mut a = self.addr;
            a.set_port(port);
            if let Ok(l) = TcpListener::bind(a).await {
                return Ok(l);
            }
        }
        let mut any = self.addr;
        any.set_port(0);
        TcpListener::bind(any).await.map_err(|_| error)
    }
}

impl std::fmt::Display for Bind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_taken_port_moves_to_the_next_free_one_only_when_allowed() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap();
        let err = Bind::exact(addr).listen().await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
        let moved = Bind::near(addr).listen().await.unwrap();
        let got = moved.local_addr().unwrap();
        assert_ne!(got.port(), addr.port());
        assert_eq!(got.ip(), addr.ip());
        let free = Bind::near(got).listen().await;
        assert!(free.is_ok(), "another free port after {got}");
    }
}
