//! The transport over in-memory pipes: who learns which id, pinning, another network, a
//! flipped byte, frames larger than a record, and the exact bytes on the wire.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};

use super::*;

const MAGIC: [u8; 4] = *b"frt1";

fn identity(n: u8) -> Identity {
    Identity::from_secret([n; KEY_LEN])
}

/// A stream that keeps a copy of everything written to it.
struct Tap {
    inner: DuplexStream,
    written: Vec<u8>,
}

impl AsyncRead for Tap {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tap {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            let n = *n;
            self.written.extend_from_slice(&buf[..n]);
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn pipe() -> (Tap, Tap) {
    let (a, b) = tokio::io::duplex(1 << 20);
    (
        Tap {
            inner: a,
            written: Vec::new(),
        },
        Tap {
            inner: b,
            written: Vec::new(),
        },
    )
}

/// Both handshakes, dialler with `expect` and `dial_magic`.
async fn both(
    expect: Option<NodeId>,
    dial_magic: [u8; 4],
    a: &mut Tap,
    b: &mut Tap,
) -> (
    Result<Session, TransportError>,
    Result<Session, TransportError>,
) {
    let (x, y) = (identity(1), identity(2));
    tokio::join!(
        async {
            let r = handshake(a, &x, dial_magic, Role::Dialer { expect }).await;
            if r.is_err() {
                // A dialler that gives up closes the connection, as the socket would.
                let _ = a.inner.shutdown().await;
            }
            r
        },
        handshake(b, &y, MAGIC, Role::Listener)
    )
}

#[tokio::test]
async fn each_side_learns_the_others_id_and_frames_cross_in_records() {
    let (mut a, mut b) = pipe();
    let (da, lb) = both(Some(identity(2).id()), MAGIC, &mut a, &mut b).await;
    let (da, lb) = (
        da.unwrap_or_else(|e| panic!("{e}")),
        lb.unwrap_or_else(|e| panic!("{e}")),
    );
    assert_eq!(da.peer(), identity(2).id());
    assert_eq!(lb.peer(), identity(1).id());
    let (ar, aw) = tokio::io::split(a);
    let (br, bw) = tokio::io::split(b);
    let (mut a_in, mut a_out) = da.split(ar, aw);
    let (mut b_in, mut b_out) = lb.split(br, bw);
    // The other way too, and under the other direction's key: the same bytes sealed first
    // by each side differ on the wire.
    b_out
        .write_all(b"answer")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut answer = [0u8; 6];
    a_in.read_exact(&mut answer)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(&answer, b"answer");
    // Larger than three records, then a small one.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    a_out
        .write_all(&big)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    a_out
        .write_all(b"tail")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut got = vec![0u8; big.len() + 4];
    b_in.read_exact(&mut got)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(&got[..big.len()], &big[..]);
    assert_eq!(&got[big.len()..], b"tail");
}

#[tokio::test]
async fn the_two_directions_use_different_keys() {
    let (mut a, mut b) = pipe();
    let (da, lb) = both(None, MAGIC, &mut a, &mut b).await;
    let (da, lb) = (
        da.unwrap_or_else(|e| panic!("{e}")),
        lb.unwrap_or_else(|e| panic!("{e}")),
    );
    let ((_, mut dial_out), (_, mut listen_out)) = (da.codecs(), lb.codecs());
    let (mut x, mut y) = (Vec::new(), Vec::new());
    dial_out
        .seal(b"same bytes", &mut x)
        .unwrap_or_else(|e| panic!("{e}"));
    listen_out
        .seal(b"same bytes", &mut y)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(x.len(), y.len());
    assert_ne!(x, y, "both directions sealed under one key and nonce");
}

#[tokio::test]
async fn a_pinned_id_that_does_not_match_fails_the_dial() {
    let (mut a, mut b) = pipe();
    let (wrong, x, y) = (identity(9).id(), identity(1), identity(2));
    let (da, _) = tokio::join!(
        async {
            let r = handshake(
                &mut a,
                &x,
                MAGIC,
                Role::Dialer {
                    expect: Some(wrong),
                },
            )
            .await;
            drop(a);
            r
        },
        async {
            // The listener sees the dialler give up.
            let r = handshake(&mut b, &y, MAGIC, Role::Listener).await;
            assert!(r.is_err());
        }
    );
    match da {
        Err(TransportError::WrongPeer { expected, got }) => {
            assert_eq!((expected, got), (wrong, identity(2).id()));
        }
        other => panic!("{:?}", other.map(|s| s.peer())),
    }
}

#[tokio::test]
async fn nodes_of_another_network_fail_the_handshake() {
    let (mut a, mut b) = pipe();
    let (da, lb) = both(None, *b"othr", &mut a, &mut b).await;
    // The listener's answer does not decrypt under the dialler's prologue; the listener then
    // sees the dialler hang up.
    assert!(matches!(da, Err(TransportError::Handshake(_))));
    assert!(lb.is_err());
}

#[tokio::test]
async fn a_flipped_byte_fails_to_authenticate() {
    let (mut a, mut b) = pipe();
    let (da, lb) = both(None, MAGIC, &mut a, &mut b).await;
    let (da, lb) = (
        da.unwrap_or_else(|e| panic!("{e}")),
        lb.unwrap_or_else(|e| panic!("{e}")),
    );
    // The dialler's records, written into a buffer; one ciphertext byte flipped on the way.
    let (mut sink, mut source) = tokio::io::duplex(1 << 16);
    let (_, mut out) = da.split(tokio::io::empty(), Vec::new());
    out.write_all(b"a frame")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut wire = out.inner.clone();
    assert_eq!(wire.len(), LEN_PREFIX + 7 + TAG_LEN);
    assert!(
        !wire.windows(7).any(|w| w == b"a frame"),
        "plaintext on the wire"
    );
    wire[LEN_PREFIX + 3] ^= 1;
    sink.write_all(&wire)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (mut input, _) = lb.split(&mut source, tokio::io::sink());
    let mut got = [0u8; 7];
    assert!(matches!(
        input.read_exact(&mut got).await,
        Err(TransportError::Forged)
    ));
}

#[tokio::test]
async fn a_record_with_nothing_in_it_is_refused() {
    let (mut a, mut b) = pipe();
    let (_, lb) = both(None, MAGIC, &mut a, &mut b).await;
    let lb = lb.unwrap_or_else(|e| panic!("{e}"));
    let wire = [0u8, TAG_LEN as u8];
    let (mut input, _) = lb.split(&wire[..], tokio::io::sink());
    let mut got = [0u8; 1];
    assert!(matches!(
        input.read_exact(&mut got).await,
        Err(TransportError::EmptyRecord(16))
    ));
}

#[tokio::test]
async fn plaintext_before_the_handshake_ends_it_at_once() {
    // A Ferrite frame's magic read as a handshake message's length.
    let mut frame = MAGIC.to_vec();
    frame.extend_from_slice(&[1, 0, 0, 0, 0]);
    let mut io = tokio::io::join(&frame[..], tokio::io::sink());
    let r = handshake(&mut io, &identity(2), MAGIC, Role::Listener).await;
    assert!(
        matches!(
            r,
            Err(TransportError::BadHandshakeLength { expected: 32, .. })
        ),
        "{:?}",
        r.err()
    );
}

#[tokio::test]
async fn the_wire_format_is_pinned() {
    // Fixed static and ephemeral keys make the whole exchange deterministic: the handshake
    // messages both ways, then one record of "ferrite" from the dialler.
    let (mut a, mut b) = pipe();
    let (x, y) = (identity(1), identity(2));
    let dial = Handshake::with_ephemeral(&x, MAGIC, Role::Dialer { expect: None }, Some(&[3; 32]));
    let listen = Handshake::with_ephemeral(&y, MAGIC, Role::Listener, Some(&[4; KEY_LEN]));
    let (da, lb) = tokio::join!(
        drive(&mut a, dial.unwrap_or_else(|e| panic!("{e}"))),
        drive(&mut b, listen.unwrap_or_else(|e| panic!("{e}")))
    );
    let da = da.unwrap_or_else(|e| panic!("{e}"));
    assert!(lb.is_ok());
    let (_, mut out) = da.split(tokio::io::empty(), Vec::new());
    out.write_all(b"ferrite")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Lengths: 32 (e), 96 (e, ee, s, es), 64 (s, se), each after its 2-byte prefix.
    assert_eq!(a.written.len(), 2 + 32 + 2 + 64);
    assert_eq!(b.written.len(), 2 + 96);
    assert_eq!(&a.written[..2], &[0, 32]);
    assert_eq!(out.inner.len(), 2 + 7 + TAG_LEN);
    let transcript = [&a.written[..], &b.written[..], &out.inner[..]].concat();
    assert_eq!(
        blake3::hash(&transcript).to_hex().as_str(),
        "20ece1dd0c73efbc809134919120c5fa68d08beec0f1a7fcef8fadc0a693927b"
    );
}

#[tokio::test]
async fn a_stream_of_tiny_records_is_cut_off_and_the_same_bytes_in_full_records_are_not() {
    let (mut a, mut b) = pipe();
    let (da, lb) = both(None, MAGIC, &mut a, &mut b).await;
    let (da, lb) = (
        da.unwrap_or_else(|e| panic!("{e}")),
        lb.unwrap_or_else(|e| panic!("{e}")),
    );
    // 100,000 records of one byte each: at the sustained rate alone they would take over a
    // minute to be allowed, so the burst runs out however slow this machine is.
    const TINY: usize = 100_000;
    let (_, mut out) = da.split(tokio::io::empty(), Vec::new());
    for i in 0..TINY {
        out.write_all(&[i as u8])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let wire = out.inner.clone();
    assert_eq!(wire.len(), TINY * (LEN_PREFIX + 1 + TAG_LEN));
    let (mut input, _) = lb.split(&wire[..], tokio::io::sink());
    let mut read = 0usize;
    let mut byte = [0u8; 1];
    let end = loop {
        match input.read_exact(&mut byte).await {
            Ok(()) => read += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(end, TransportError::RecordFlood), "{end}");
    assert!(
        read >= RECORD_BURST as usize,
        "cut off after {read} records"
    );
    assert!(read < TINY / 2, "{read} tiny records let through");
}

#[tokio::test]
async fn megabytes_in_full_records_pass_the_record_limit() {
    let (mut a, mut b) = pipe();
    let (da, lb) = both(None, MAGIC, &mut a, &mut b).await;
    let (da, lb) = (
        da.unwrap_or_else(|e| panic!("{e}")),
        lb.unwrap_or_else(|e| panic!("{e}")),
    );
    // An honest sender at the frame limits' bursts: 5,000 small frames, then 64 MiB of blocks;
    // and each small frame's header sealed apart from its payload, as another client might.
    let (_, mut out) = da.split(tokio::io::empty(), Vec::new());
    for i in 0..5_000u32 {
        for part in [&[0u8; 9][..], &i.to_le_bytes()[..]] {
            out.write_all(part).await.unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let big = vec![7u8; 64 << 20];
    out.write_all(&big).await.unwrap_or_else(|e| panic!("{e}"));
    let wire = out.inner.clone();
    let (mut input, _) = lb.split(&wire[..], tokio::io::sink());
    let mut small = [0u8; 13];
    for i in 0..5_000u32 {
        input
            .read_exact(&mut small)
            .await
            .unwrap_or_else(|e| panic!("small frame {i}: {e}"));
    }
    let mut got = vec![0u8; big.len()];
    input
        .read_exact(&mut got)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(got == big);
}
