//! The record layer through `ZwingStream`: chunking around the 1 MiB limit, and what a
//! reader does with tampered, truncated, oversized and reordered records.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
use zap_zwing::sizes::{MAX_FRAME_LEN, MAX_RECORD_PLAINTEXT_LEN, TAG_LEN};
use zap_zwing::{Error, Identity, Initiator, VerifiedInit, ZwingStream};

const LIMIT: Duration = Duration::from_secs(20);

/// A client and a server stream whose transports the test relays by hand: bytes the
/// client writes come out of `client_raw`, bytes written to `server_raw` reach the server.
struct Pair {
    client: ZwingStream<DuplexStream>,
    client_raw: DuplexStream,
    server: ZwingStream<DuplexStream>,
    server_raw: DuplexStream,
}

fn identities() -> &'static (Arc<Identity>, Identity) {
    static IDS: OnceLock<(Arc<Identity>, Identity)> = OnceLock::new();
    IDS.get_or_init(|| {
        (
            Arc::new(Identity::generate().unwrap()),
            Identity::generate().unwrap(),
        )
    })
}

/// A fresh session (new keys, sequence numbers at zero) between two fixed identities.
fn pair() -> Pair {
    let (client_id, server_id) = identities();
    let init = Initiator::new(client_id.clone()).unwrap();
    let (response, server_side) = VerifiedInit::verify(init.message())
        .unwrap()
        .respond(server_id)
        .unwrap();
    let client_side = init.finish(&response).unwrap();
    let (c_io, client_raw) = duplex(8 << 20);
    let (s_io, server_raw) = duplex(8 << 20);
    Pair {
        client: client_side.into_stream(c_io),
        client_raw,
        server: server_side.into_stream(s_io),
        server_raw,
    }
}

async fn next_frame(raw: &mut DuplexStream) -> Vec<u8> {
    let mut header = [0u8; 4];
    raw.read_exact(&mut header).await.unwrap();
    let mut frame = header.to_vec();
    frame.resize(4 + u32::from_be_bytes(header) as usize, 0);
    raw.read_exact(&mut frame[4..]).await.unwrap();
    frame
}

async fn read_err(stream: &mut ZwingStream<DuplexStream>) -> std::io::Error {
    let mut buf = vec![0u8; 64];
    tokio::time::timeout(LIMIT, stream.read(&mut buf))
        .await
        .expect("read finished")
        .expect_err("the read must fail")
}

#[tokio::test]
async fn writes_are_cut_into_records_around_the_1_mib_limit() {
    // One write a byte over the limit: a full record (a 1 MiB frame, the largest a peer
    // may send) and a one-byte record. Kept to one megabyte of crypto, because debug
    // builds of the AEAD run at about 1 MiB/s.
    let mut p = pair();
    let max = MAX_RECORD_PLAINTEXT_LEN;
    let data: Vec<u8> = (0..max + 1).map(|i| (i % 253) as u8).collect();
    p.client.write_all(&data).await.unwrap();
    p.client.flush().await.unwrap();
    for plain_len in [max, 1] {
        let frame = next_frame(&mut p.client_raw).await;
        assert_eq!(frame.len(), 4 + plain_len + TAG_LEN);
        p.server_raw.write_all(&frame).await.unwrap();
    }
    assert_eq!(4 + max + TAG_LEN, 4 + MAX_FRAME_LEN);
    let mut got = vec![0u8; data.len()];
    tokio::time::timeout(LIMIT, p.server.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert!(got == data, "round trip of {} bytes", data.len());
}

#[tokio::test]
async fn each_smaller_write_is_one_record() {
    let mut p = pair();
    for size in [1usize, 4096, 65_536] {
        let data = vec![0x42u8; size];
        p.client.write_all(&data).await.unwrap();
        p.client.flush().await.unwrap();
        let frame = next_frame(&mut p.client_raw).await;
        assert_eq!(frame.len(), 4 + size + TAG_LEN);
        p.server_raw.write_all(&frame).await.unwrap();
        let mut got = vec![0u8; size];
        p.server.read_exact(&mut got).await.unwrap();
        assert_eq!(got, data);
    }
}

#[tokio::test]
async fn a_record_larger_than_the_read_buffer_is_kept_for_later_reads() {
    let mut p = pair();
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
    p.client.write_all(&data).await.unwrap();
    p.client.flush().await.unwrap();
    let frame = next_frame(&mut p.client_raw).await;
    // Delivered a few bytes at a time, and read a few bytes at a time.
    for piece in frame.chunks(333) {
        p.server_raw.write_all(piece).await.unwrap();
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 7];
    while got.len() < data.len() {
        let n = p.server.read(&mut buf).await.unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, data);
}

#[tokio::test]
async fn empty_writes_send_nothing_and_a_clean_close_is_end_of_file() {
    let mut p = pair();
    assert_eq!(p.client.write(&[]).await.unwrap(), 0);
    p.client.write_all(b"last").await.unwrap();
    p.client.shutdown().await.unwrap();
    let frame = next_frame(&mut p.client_raw).await;
    assert_eq!(frame.len(), 4 + 4 + TAG_LEN);
    let mut rest = Vec::new();
    p.client_raw.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "nothing but the one record");

    p.server_raw.write_all(&frame).await.unwrap();
    p.server_raw.shutdown().await.unwrap();
    let mut got = Vec::new();
    p.server.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"last");
}

#[tokio::test]
async fn tampered_records_are_errors() {
    for position in [0usize, 9, 4 + 8 + TAG_LEN - 1] {
        let mut p = pair();
        p.client.write_all(b"pay bob 10").await.unwrap();
        p.client.flush().await.unwrap();
        let mut frame = next_frame(&mut p.client_raw).await;
        let at = 4 + position % (frame.len() - 4);
        frame[at] ^= 0x01;
        p.server_raw.write_all(&frame).await.unwrap();
        let err = read_err(&mut p.server).await;
        assert!(
            matches!(Error::from_io(&err), Some(Error::CiphertextCorrupted)),
            "byte {at}: {err}"
        );
        // Nothing is ever read from a failed channel.
        let again = read_err(&mut p.server).await;
        assert_eq!(again.kind(), std::io::ErrorKind::InvalidData);
    }
}

#[tokio::test]
async fn a_record_with_a_changed_length_is_an_error() {
    let mut p = pair();
    p.client.write_all(b"0123456789").await.unwrap();
    p.client.flush().await.unwrap();
    let frame = next_frame(&mut p.client_raw).await;
    // Claim one byte less: the tag no longer matches.
    let mut shorter = ((frame.len() - 5) as u32).to_be_bytes().to_vec();
    shorter.extend_from_slice(&frame[4..frame.len() - 1]);
    p.server_raw.write_all(&shorter).await.unwrap();
    let err = read_err(&mut p.server).await;
    assert!(matches!(
        Error::from_io(&err),
        Some(Error::CiphertextCorrupted)
    ));
}

#[tokio::test]
async fn reordered_or_replayed_records_are_errors() {
    // Replayed: the first record twice.
    let mut p = pair();
    for msg in [&b"first"[..], b"second"] {
        p.client.write_all(msg).await.unwrap();
        p.client.flush().await.unwrap();
    }
    let first = next_frame(&mut p.client_raw).await;
    let second = next_frame(&mut p.client_raw).await;
    p.server_raw.write_all(&first).await.unwrap();
    p.server_raw.write_all(&first).await.unwrap();
    let mut buf = [0u8; 5];
    p.server.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"first");
    let err = read_err(&mut p.server).await;
    assert!(matches!(
        Error::from_io(&err),
        Some(Error::CiphertextCorrupted)
    ));

    // Reordered: the second record first.
    let mut q = pair();
    for msg in [&b"first"[..], b"second"] {
        q.client.write_all(msg).await.unwrap();
        q.client.flush().await.unwrap();
    }
    let first = next_frame(&mut q.client_raw).await;
    let second_q = next_frame(&mut q.client_raw).await;
    q.server_raw.write_all(&second_q).await.unwrap();
    q.server_raw.write_all(&first).await.unwrap();
    let err = read_err(&mut q.server).await;
    assert!(matches!(
        Error::from_io(&err),
        Some(Error::CiphertextCorrupted)
    ));
    drop(second);
}

#[tokio::test]
async fn a_record_cut_short_is_an_error_not_end_of_file() {
    let mut p = pair();
    p.client.write_all(&[9u8; 500]).await.unwrap();
    p.client.flush().await.unwrap();
    let frame = next_frame(&mut p.client_raw).await;
    for cut in [2, 100, frame.len() - 1] {
        let mut q = pair();
        // A frame from another session is as good as any for a truncation.
        q.server_raw.write_all(&frame[..cut]).await.unwrap();
        q.server_raw.shutdown().await.unwrap();
        let err = read_err(&mut q.server).await;
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::UnexpectedEof,
            "cut at {cut}"
        );
    }
}

#[tokio::test]
async fn oversized_empty_and_runt_frames_are_errors() {
    type Check = fn(&Error) -> bool;
    let cases: [(&[u8], Check); 3] = [
        (
            &[0x00, 0x10, 0x00, 0x01],
            |e| matches!(e, Error::MessageTooLarge(n) if *n == MAX_FRAME_LEN + 1),
        ),
        (&[0, 0, 0, 0], |e| matches!(e, Error::InvalidWireFormat(_))),
        (&[0, 0, 0, 5, 1, 2, 3, 4, 5], |e| {
            matches!(e, Error::CiphertextCorrupted)
        }),
    ];
    for (bytes, expected) in cases {
        let mut p = pair();
        p.server_raw.write_all(bytes).await.unwrap();
        let err = read_err(&mut p.server).await;
        let inner = Error::from_io(&err).expect("a Z-Wing error");
        assert!(expected(inner), "{bytes:?}: {inner}");
    }
}

#[tokio::test]
async fn a_full_size_forged_record_is_read_then_refused() {
    let mut p = pair();
    let mut forged = (MAX_FRAME_LEN as u32).to_be_bytes().to_vec();
    forged.resize(4 + MAX_FRAME_LEN, 0x5a);
    p.server_raw.write_all(&forged).await.unwrap();
    let err = read_err(&mut p.server).await;
    assert!(matches!(
        Error::from_io(&err),
        Some(Error::CiphertextCorrupted)
    ));
}
