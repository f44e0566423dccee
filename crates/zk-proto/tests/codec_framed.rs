//! The client codec under `tokio_util::codec::Framed`, over an in-memory duplex pipe with a
//! tiny buffer, so frames arrive in pieces as they would from a slow client.

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::{Framed, FramedRead};
use zk_proto::codec::{ClientCodec, ClientFrame, CodecError, ConnectReply, FourLetterWord, Reply};
use zk_proto::handshake::{encode_request, ConnectShape};
use zk_proto::proto::{ConnectRequest, ConnectResponse, ExistsRequest};
use zk_proto::request::Request;

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

fn connect(shape: ConnectShape) -> Vec<u8> {
    let mut b = BytesMut::new();
    encode_request(
        &ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: 10_000,
            session_id: 0,
            passwd: Some(Bytes::from_static(&[0; 16])),
            read_only: true,
        },
        shape,
        &mut b,
    );
    frame(&b)
}

#[tokio::test]
async fn a_session_over_a_slow_pipe() {
    // Both directions share the 7-byte pipe, so the client reads and writes concurrently.
    let (client, server) = tokio::io::duplex(7);
    let (mut client_rd, mut client) = tokio::io::split(client);
    let reader = tokio::spawn(async move {
        let mut got = vec![0u8; 4 + 36 + 4 + 16];
        client_rd.read_exact(&mut got).await.unwrap();
        got
    });
    let writer = tokio::spawn(async move {
        let mut bytes = connect(ConnectShape::Legacy);
        let mut req = BytesMut::new();
        Request::Exists(ExistsRequest {
            path: Some("/zookeeper".into()),
            watch: true,
        })
        .encode_frame(1, &mut req);
        bytes.extend(frame(&req));
        client.write_all(&bytes).await.unwrap();
        client
    });
    let mut framed = Framed::new(server, ClientCodec::default());
    let Some(Ok(ClientFrame::Connect(hs))) = framed.next().await else {
        panic!("no handshake")
    };
    assert_eq!(hs.shape, ConnectShape::Legacy);
    assert!(!hs.request.read_only);
    framed
        .send(ConnectReply {
            response: ConnectResponse {
                protocol_version: 0,
                time_out: hs.request.time_out,
                session_id: 0x42,
                passwd: Some(Bytes::from_static(&[5; 16])),
                read_only: false,
            },
            shape: hs.shape,
        })
        .await
        .unwrap();
    let Some(Ok(ClientFrame::Request { header, body })) = framed.next().await else {
        panic!("no request")
    };
    let req = Request::decode(header.type_, body, framed.codec().limits()).unwrap();
    assert_eq!(
        req,
        Request::Exists(ExistsRequest {
            path: Some("/zookeeper".into()),
            watch: true
        })
    );
    framed
        .send(Reply::header_only(header.xid, 5, -101))
        .await
        .unwrap();
    let got = reader.await.unwrap();
    // The client closes its side: end of stream.
    drop(writer.await.unwrap());
    assert_eq!(&got[..4], &36i32.to_be_bytes());
    assert_eq!(&got[40..44], &16i32.to_be_bytes());
    assert_eq!(&got[44..48], &1i32.to_be_bytes());
    assert_eq!(&got[56..60], &(-101i32).to_be_bytes());
    assert!(framed.next().await.is_none());
}

#[tokio::test]
async fn four_letter_word_then_garbage() {
    let (mut client, server) = tokio::io::duplex(64);
    client.write_all(b"srvr\nanything else").await.unwrap();
    drop(client);
    let mut framed = FramedRead::new(server, ClientCodec::default());
    assert_eq!(
        framed.next().await.unwrap().unwrap(),
        ClientFrame::FourLetter(FourLetterWord::Srvr)
    );
    assert!(framed.next().await.is_none());
}

#[tokio::test]
async fn oversize_frame_closes_before_the_payload_arrives() {
    let (mut client, server) = tokio::io::duplex(64);
    let mut bytes = connect(ConnectShape::WithReadOnly);
    bytes.extend_from_slice(&(0x100000i32).to_be_bytes());
    client.write_all(&bytes).await.unwrap();
    let mut framed = FramedRead::new(server, ClientCodec::default());
    assert!(matches!(
        framed.next().await,
        Some(Ok(ClientFrame::Connect(_)))
    ));
    assert!(matches!(
        framed.next().await,
        Some(Err(CodecError::BadLength {
            len: 0x100000,
            max: 0xfffff
        }))
    ));
}
