//! Jute decoding and encoding on the client hot path, as the server sees it.
//!
//! * `get_data_request/decode`: a request frame's body (RequestHeader + GetDataRequest, the
//!   4-byte length already stripped by the framer) decoded from a shared buffer;
//! * `get_data_response_1k/decode`: ReplyHeader + GetDataResponse with 1 KiB of data and a Stat;
//! * `get_data_response_1k/encode`: the same response written as a server writes it, length
//!   prefix included, into a reused output buffer.
//!
//! Run with `cargo bench -p zk-proto --bench decode`; results go in `docs/benchmarks.md`.

use std::hint::black_box;

use bytes::{BufMut, Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use zk_proto::data::Stat;
use zk_proto::proto::{GetDataRequest, GetDataResponse, ReplyHeader, RequestHeader};
use zk_proto::{Decoder, JString, JuteError, Record};

/// ZooKeeper's opcode for getData.
const OP_GET_DATA: i32 = 4;

fn request_frame() -> Bytes {
    let header = RequestHeader {
        xid: 42,
        type_: OP_GET_DATA,
    };
    let body = GetDataRequest {
        path: Some(JString::from("/app/config/service-0001")),
        watch: true,
    };
    let mut buf = BytesMut::with_capacity(header.encoded_len() + body.encoded_len());
    header.encode(&mut buf);
    body.encode(&mut buf);
    buf.freeze()
}

fn response() -> (ReplyHeader, GetDataResponse) {
    let header = ReplyHeader {
        xid: 42,
        zxid: 0x1_0000_0400,
        err: 0,
    };
    let stat = Stat {
        czxid: 0x1_0000_0010,
        mzxid: 0x1_0000_03ff,
        ctime: 1_763_700_000_000,
        mtime: 1_763_700_123_456,
        version: 17,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 1024,
        num_children: 0,
        pzxid: 0x1_0000_0010,
    };
    let data: Vec<u8> = (0..1024u32).map(|i| (i % 251) as u8).collect();
    let body = GetDataResponse {
        data: Some(Bytes::from(data)),
        stat,
    };
    (header, body)
}

fn decode_request(frame: &Bytes) -> Result<(RequestHeader, GetDataRequest), JuteError> {
    let mut d = Decoder::new(frame.clone());
    let header = RequestHeader::decode(&mut d)?;
    let body = GetDataRequest::decode(&mut d)?;
    d.finish()?;
    Ok((header, body))
}

fn decode_response(frame: &Bytes) -> Result<(ReplyHeader, GetDataResponse), JuteError> {
    let mut d = Decoder::new(frame.clone());
    let header = ReplyHeader::decode(&mut d)?;
    let body = GetDataResponse::decode(&mut d)?;
    d.finish()?;
    Ok((header, body))
}

fn encode_response(out: &mut BytesMut, header: &ReplyHeader, body: &GetDataResponse) {
    let len = header.encoded_len() + body.encoded_len();
    out.put_i32(len as i32);
    header.encode(out);
    body.encode(out);
}

fn bench(c: &mut Criterion) {
    let frame = request_frame();
    assert_eq!(
        decode_request(&frame).unwrap().1.path.unwrap(),
        "/app/config/service-0001"
    );
    let mut g = c.benchmark_group("get_data_request");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode", |b| b.iter(|| decode_request(black_box(&frame))));
    g.finish();

    let (header, body) = response();
    let mut wire = BytesMut::new();
    encode_response(&mut wire, &header, &body);
    let wire = wire.freeze();
    let without_len = wire.slice(4..);
    assert_eq!(wire.len(), 4 + 16 + 4 + 1024 + 68);
    assert_eq!(
        decode_response(&without_len).unwrap(),
        (header.clone(), body.clone())
    );

    let mut g = c.benchmark_group("get_data_response_1k");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode", |b| {
        b.iter(|| decode_response(black_box(&without_len)))
    });
    let mut out = BytesMut::with_capacity(wire.len());
    g.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            encode_response(&mut out, black_box(&header), black_box(&body));
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
