//! A TCP proxy for tests, in the path between a node and the peers that dial it: it records
//! what crosses it in each direction, can flip one byte of the first connection's stream from
//! the node, and can be cut (every connection closed, new ones refused) and healed.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Where the proxy connects for each connection it accepts.
pub type Connect = Box<dyn Fn() -> std::io::Result<TcpStream> + Send>;

/// A running proxy.
pub struct Proxy {
    /// The address peers dial.
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    to_client: Arc<Mutex<Vec<u8>>>,
    to_target: Arc<Mutex<Vec<u8>>>,
}

/// Copies `from` to `to`, logging what passes and flipping the byte at offset `flip_at`.
fn pump(mut from: TcpStream, mut to: TcpStream, log: Arc<Mutex<Vec<u8>>>, flip_at: Option<usize>) {
    let mut buf = [0u8; 64 * 1024];
    let mut seen = 0usize;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(at) = flip_at.filter(|at| (seen..seen + n).contains(at)) {
            buf[at - seen] ^= 0x01;
        }
        seen += n;
        log.lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(&buf[..n]);
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

impl Proxy {
    /// A proxy on 127.0.0.1 in front of `target`; `flip_at`: see [`Proxy::start_on`].
    pub fn start(target: SocketAddr, flip_at: Option<usize>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        Proxy::start_on(
            listener,
            Box::new(move || TcpStream::connect(target)),
            flip_at,
        )
    }

    /// A proxy accepting on `listener`, opening each onward connection with `connect`. With
    /// `flip_at`, the byte at that offset of the first connection's stream from the target to
    /// the client is flipped.
    pub fn start_on(listener: TcpListener, connect: Connect, flip_at: Option<usize>) -> Proxy {
        let addr = listener.local_addr().expect("proxy address");
        let proxy = Proxy {
            addr,
            open: Arc::new(AtomicBool::new(true)),
            conns: Arc::default(),
            to_client: Arc::default(),
            to_target: Arc::default(),
        };
        let (open, conns) = (proxy.open.clone(), proxy.conns.clone());
        let (tc, tt) = (proxy.to_client.clone(), proxy.to_target.clone());
        std::thread::spawn(move || {
            let mut flip = flip_at;
            for client in listener.incoming().map_while(Result::ok) {
                if !open.load(Ordering::SeqCst) {
                    continue; // cut: the dialler sees the connection close
                }
                let Ok(server) = connect() else {
                    continue;
                };
                let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = (
                    client.try_clone(),
                    server.try_clone(),
                    client.try_clone(),
                    server.try_clone(),
                ) else {
                    continue;
                };
                conns
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend([c3, s3]);
                let (tc, tt) = (tc.clone(), tt.clone());
                let this_flip = flip.take();
                std::thread::spawn(move || pump(client, server, tt, None));
                std::thread::spawn(move || pump(s2, c2, tc, this_flip));
            }
        });
        proxy
    }

    /// Everything that crossed so far, both directions.
    pub fn captured(&self) -> Vec<u8> {
        let mut all = self
            .to_client
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        all.extend_from_slice(&self.to_target.lock().unwrap_or_else(|p| p.into_inner()));
        all
    }

    /// Closes every connection and refuses new ones until [`Proxy::heal`].
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for s in self
            .conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Accepts connections again.
    pub fn heal(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}
