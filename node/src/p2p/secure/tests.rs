//! The transport over in-memory pipes: who learns which id, pinning, another network, a
//! flipped byte, frames larger than a record, and the exact bytes on the wire.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};

use super::*;

const GENESIS: Hash = Hash([0x11; 32]);
const OTHER: Hash = Hash([0x22; 32]);

fn chain(genesis: Hash) -> OurChain {
    OurChain::new(
        genesis,
        format!("{{\"genesis of\":\"{genesis}\"}}").into_bytes(),
    )
}

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

/// Both handshakes, dialler with `expect` on the chain `dial_genesis`.
async fn both(
    expect: Option<NodeId>,
    dial_genesis: Hash,
    a: &mut Tap,
    b: &mut Tap,
) -> (
    Result<Session, TransportError>,
    Result<Session, TransportError>,
) {
    let (x, y) = (identity(1), identity(2));
    let (dial_chain, listen_chain) = (chain(dial_genesis), chain(GENESIS));
    tokio::join!(
        async {
            let r = handshake(a, &x, &dial_chain, Role::Dialer { expect }).await;
            if r.is_err() {
                // A dialler that gives up closes the connection, as the socket would.
                let _ = a.inner.shutdown().await;
            }
            r
        },
        handshake(b, &y, &listen_chain, Role::Listener)
    )
}

#[tokio::test]
async fn each_side_learns_the_others_id_and_frames_cross_in_records() {
    let (mut a, mut b) = pipe();
    let (da, lb) = both(Some(identity(2).id()), GENESIS, &mut a, &mut b).await;
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
    let (da, lb) = both(None, GENESIS, &mut a, &mut b).await;
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
                &chain(GENESIS),
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
            let r = handshake(&mut b, &y, &chain(GENESIS), Role::Listener).await;
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
async fn nodes_of_another_chain_say_so_and_hand_over_nothing_else() {
    let (mut a, mut b) = pipe();
    let (da, lb) = both(None, OTHER, &mut a, &mut b).await;
    // Each end learns both chain ids, from its own point of view.
    match (da, lb) {
        (
            Err(TransportError::OtherChain {
                ours: d_ours,
                theirs: d_theirs,
            }),
            Err(TransportError::OtherChain {
                ours: l_ours,
                theirs: l_theirs,
            }),
        ) => {
            assert_eq!((d_ours, d_theirs), (OTHER, GENESIS));
            assert_eq!((l_ours, l_theirs), (GENESIS, OTHER));
        }
        (d, l) => panic!("{:?} / {:?}", d.err(), l.err()),
    }
    // The listener sent its notice and no handshake message: no key of its own.
    assert_eq!(b.written, ChainNotice::of(&chain(GENESIS)).encode());
}

#[tokio::test]
async fn a_node_without_a_chain_asks_for_the_genesis_and_gets_the_document() {
    let (mut a, mut b) = pipe();
    let (y, ours) = (identity(2), chain(GENESIS));
    let (asked, lb) = tokio::join!(
        ask_genesis(&mut a),
        handshake(&mut b, &y, &ours, Role::Listener)
    );
    assert!(
        matches!(lb, Err(TransportError::GenesisAsked)),
        "{:?}",
        lb.err()
    );
    let notice = asked.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(notice.genesis, GENESIS);
    assert_eq!(&notice.doc[..], &chain(GENESIS).doc[..]);
    // Its request is the first handshake message with the zero chain id in the clear.
    assert_eq!(a.written.len(), LEN_PREFIX + HANDSHAKE_LENS[0]);
    assert_eq!(&a.written[LEN_PREFIX + 32..], &ASK_GENESIS.0);
}

#[tokio::test]
async fn a_listener_that_answers_with_a_handshake_is_no_genesis() {
    // An asking dialler against a listener that (wrongly) goes on with the handshake.
    let mut hs = Handshake::new(&identity(2), &chain(GENESIS), Role::Listener).unwrap();
    let mut dial =
        Handshake::new(&identity(1), &chain(GENESIS), Role::Dialer { expect: None }).unwrap();
    let first = dial.write().unwrap();
    hs.read(&first[LEN_PREFIX..]).unwrap();
    let answer = hs.write().unwrap();
    let mut io = tokio::io::join(&answer[..], tokio::io::sink());
    assert!(matches!(
        ask_genesis(&mut io).await,
        Err(TransportError::NoNotice)
    ));
}

#[test]
fn the_chain_notice_is_pinned_and_bounded() {
    let n = ChainNotice {
        genesis: Hash([0xab; 32]),
        doc: b"{}".to_vec(),
    };
    let mut expected = vec![0u8, 0];
    expected.extend_from_slice(&[0xab; 32]);
    expected.extend_from_slice(&[2, 0, 0, 0]);
    expected.extend_from_slice(b"{}");
    assert_eq!(n.encode(), expected);
    let header: [u8; NOTICE_HEADER_LEN] = expected[2..2 + NOTICE_HEADER_LEN].try_into().unwrap();
    assert_eq!(ChainNotice::parse_header(&header).unwrap(), (n.genesis, 2));
    let mut big = header;
    big[CHAIN_ID_LEN..].copy_from_slice(&(MAX_GENESIS_DOC as u32 + 1).to_le_bytes());
    assert!(matches!(
        ChainNotice::parse_header(&big),
        Err(TransportError::GenesisTooLarge(_))
    ));
    // A document too large to hand out is left out; the id still goes.
    let huge = OurChain::new(GENESIS, vec![b' '; MAX_GENESIS_DOC + 1]);
    assert!(ChainNotice::of(&huge).doc.is_empty());
}

#[tokio::test]
async fn a_flipped_byte_fails_to_authenticate() {
    let (mut a, mut b) = pipe();
    let (da, lb) = both(None, GENESIS, &mut a, &mut b).await;
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
    let (_, lb) = both(None, GENESIS, &mut a, &mut b).await;
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
    let mut frame = super::network_magic(&GENESIS).to_vec();
    frame.extend_from_slice(&[1, 0, 0, 0, 0]);
    let mut io = tokio::io::join(&frame[..], tokio::io::sink());
    let r = handshake(&mut io, &identity(2), &chain(GENESIS), Role::Listener).await;
    assert!(
        matches!(
            r,
            Err(TransportError::BadHandshakeLength { expected: 64, .. })
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
    let c = chain(GENESIS);
    let dial = Handshake::with_ephemeral(&x, &c, Role::Dialer { expect: None }, Some(&[3; 32]));
    let listen = Handshake::with_ephemeral(&y, &c, Role::Listener, Some(&[4; KEY_LEN]));
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
    // Lengths: 64 (e, then the chain id in the clear), 96 (e, ee, s, es), 64 (s, se), each
    // after its 2-byte prefix.
    assert_eq!(a.written.len(), 2 + 64 + 2 + 64);
    assert_eq!(b.written.len(), 2 + 96);
    assert_eq!(&a.written[..2], &[0, 64]);
    assert_eq!(&a.written[2 + 32..2 + 64], &GENESIS.0);
    assert_eq!(out.inner.len(), 2 + 7 + TAG_LEN);
    let transcript = [&a.written[..], &b.written[..], &out.inner[..]].concat();
    assert_eq!(
        blake3::hash(&transcript).to_hex().as_str(),
        "e7dbbe29ce2f1f7245b9c1a2d69bbd930b2e26cfc41c74a4109f33cff10d86af"
    );
}

#[tokio::test]
async fn a_stream_of_tiny_records_is_cut_off_and_the_same_bytes_in_full_records_are_not() {
    let (mut a, mut b) = pipe();
    let (da, lb) = both(None, GENESIS, &mut a, &mut b).await;
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
    let (da, lb) = both(None, GENESIS, &mut a, &mut b).await;
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
