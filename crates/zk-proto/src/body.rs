//! Bodies of frames: anything that appends its bytes and knows how many.
//!
//! Kept apart from [`crate::codec`] (which needs `tokio_util`) so that crates which only
//! want the records, such as zk-zab, can build zk-proto without its `codec` feature.

use bytes::{BufMut, Bytes, BytesMut};

use crate::Record;

/// A reply or request body: appends its bytes and knows how many.
///
/// Every Jute [`Record`] is one; [`NoBody`] is the empty body and [`RawBody`] a body encoded
/// beforehand (e.g. one notification sent to many sessions).
pub trait Body {
    /// Appends the body's bytes.
    fn encode_body(&self, buf: &mut BytesMut);
    /// The exact number of bytes [`Body::encode_body`] appends.
    fn body_len(&self) -> usize;
}

impl<R: Record> Body for R {
    fn encode_body(&self, buf: &mut BytesMut) {
        self.encode(buf);
    }
    fn body_len(&self) -> usize {
        self.encoded_len()
    }
}

/// No body: error replies, ping replies, setWatches, closeSession.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NoBody;

impl Body for NoBody {
    fn encode_body(&self, _buf: &mut BytesMut) {}
    fn body_len(&self) -> usize {
        0
    }
}

/// A body already encoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawBody(pub Bytes);

impl Body for RawBody {
    fn encode_body(&self, buf: &mut BytesMut) {
        buf.put_slice(&self.0);
    }
    fn body_len(&self) -> usize {
        self.0.len()
    }
}
