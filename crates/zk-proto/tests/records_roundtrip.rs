//! Property tests over every generated record: encode→decode is the identity, the encoded
//! length is exact, and no input (truncated, mutated or random) makes a decoder panic.

use bytes::Bytes;
use proptest::prelude::*;
use zk_jute::sample::{RecordVisitor, Sample, SampleRng};
use zk_proto::records::{visit_records, RECORD_NAMES};
use zk_proto::{Decoder, JuteError, Limits, Record};

/// Runs `f` for every record type with a given seed.
struct ForEach<F: FnMut(&str, &dyn Fn(u64, bool) -> Result<(), String>)>(F);

fn check_roundtrip<R: Sample + Clone + PartialEq + std::fmt::Debug>(
    seed: u64,
    nulls: bool,
) -> Result<(), String> {
    let value = R::sample(&mut SampleRng::new(seed, nulls));
    let bytes = value.to_bytes();
    if bytes.len() != value.encoded_len() {
        return Err(format!(
            "{}: encoded_len {} but wrote {}",
            R::NAME,
            value.encoded_len(),
            bytes.len()
        ));
    }
    let back = R::from_bytes(bytes.clone()).map_err(|e| format!("{}: {e}", R::NAME))?;
    if back != value {
        return Err(format!("{}: {value:?} came back as {back:?}", R::NAME));
    }
    // Every strict prefix must fail cleanly with an error, never a panic or a success.
    for cut in 0..bytes.len() {
        if R::from_bytes(bytes.slice(..cut)).is_ok() {
            return Err(format!(
                "{}: prefix of {cut}/{} bytes decoded",
                R::NAME,
                bytes.len()
            ));
        }
    }
    Ok(())
}

impl<F: FnMut(&str, &dyn Fn(u64, bool) -> Result<(), String>)> RecordVisitor for ForEach<F> {
    fn visit<R>(&mut self)
    where
        R: Sample + Clone + PartialEq + std::fmt::Debug + 'static,
    {
        (self.0)(R::NAME, &check_roundtrip::<R>);
    }
}

struct DecodeAny<'a>(&'a [u8], usize);

impl RecordVisitor for DecodeAny<'_> {
    fn visit<R>(&mut self)
    where
        R: Sample + Clone + PartialEq + std::fmt::Debug + 'static,
    {
        let mut d = Decoder::with_limits(Bytes::copy_from_slice(self.0), Limits { max_buffer: 64 });
        if R::decode(&mut d).is_ok() {
            self.1 += 1;
        }
    }
}

#[test]
fn every_schema_record_is_generated() {
    // 5 data + 51 proto + 3 quorum + 1 persistence + 17 txn (counted from the schemas).
    assert_eq!(RECORD_NAMES.len(), 72, "{RECORD_NAMES:?}");
    for name in RECORD_NAMES {
        assert!(name.starts_with("org.apache.zookeeper."), "{name}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn encode_decode_is_identity(seed in any::<u64>(), nulls in any::<bool>()) {
        let mut failures = Vec::new();
        visit_records(&mut ForEach(|_name: &str, check: &dyn Fn(u64, bool) -> Result<(), String>| {
            if let Err(e) = check(seed, nulls) {
                failures.push(e);
            }
        }));
        prop_assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut v = DecodeAny(&bytes, 0);
        visit_records(&mut v);
    }
}

#[test]
fn hostile_lengths_are_rejected_before_allocating() {
    use zk_proto::proto::GetDataResponse;
    // A buffer claiming 2 GiB, one claiming more than the limit, a negative one.
    for len in [i32::MAX, 0x10_0000, -2] {
        let mut b = len.to_be_bytes().to_vec();
        b.extend_from_slice(&[0; 16]);
        let err = GetDataResponse::from_bytes(Bytes::from(b)).unwrap_err();
        assert!(matches!(err, JuteError::BadLength { .. }), "{len}: {err:?}");
    }
    // A vector claiming a billion elements in a 12-byte input.
    use zk_proto::proto::GetChildrenResponse;
    let mut b = 1_000_000_000i32.to_be_bytes().to_vec();
    b.extend_from_slice(&[0; 8]);
    let err = GetChildrenResponse::from_bytes(Bytes::from(b)).unwrap_err();
    assert!(matches!(err, JuteError::BadLength { .. }), "{err:?}");
    // Within the limit, but more than the bytes present: truncated, not allocated.
    let mut b = 1000i32.to_be_bytes().to_vec();
    b.extend_from_slice(&[0; 10]);
    let err = GetDataResponse::from_bytes(Bytes::from(b)).unwrap_err();
    assert!(matches!(err, JuteError::Truncated { .. }), "{err:?}");
}

#[test]
fn null_and_empty_are_distinct() {
    use zk_proto::proto::GetDataResponse;
    let null = GetDataResponse {
        data: None,
        ..Default::default()
    };
    let empty = GetDataResponse {
        data: Some(Bytes::new()),
        ..Default::default()
    };
    assert_eq!(&null.to_bytes()[..4], &(-1i32).to_be_bytes());
    assert_eq!(&empty.to_bytes()[..4], &0i32.to_be_bytes());
    assert_eq!(GetDataResponse::from_bytes(null.to_bytes()).unwrap(), null);
    assert_eq!(
        GetDataResponse::from_bytes(empty.to_bytes()).unwrap(),
        empty
    );
}

#[test]
fn trailing_bytes_are_reported() {
    use zk_proto::proto::SyncRequest;
    let mut b = SyncRequest {
        path: Some("/a".into()),
    }
    .to_bytes()
    .to_vec();
    b.push(0);
    assert_eq!(
        SyncRequest::from_bytes(Bytes::from(b)),
        Err(JuteError::Trailing(1))
    );
}
