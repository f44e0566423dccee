//! snappy-java's stream framing (`org.xerial.snappy.SnappyInputStream` /
//! `SnappyOutputStream`, the library behind `zookeeper.snapshot.compression.method=snappy`).
//! It is not the snappy "framing format": no CRCs, no stream identifier chunk.
//!
//! ```text
//!   header   8 bytes magic 0x82 "SNAPPY" 0x00 | i32 version (1) | i32 min compatible version (1)
//!   chunks   i32 compressed length | that many bytes of raw snappy (one block, ≤ 32 KiB of input)
//!            ... until the end of the file
//! ```
//!
//! As snappy-java 1.1.8 reads it: a stream that does not start with the magic is one raw
//! snappy block (`Snappy.compress(byte[])`); a header where a chunk length is expected starts
//! a concatenated stream; the stream ends when fewer than four bytes remain for a length. All
//! integers are big-endian.

use std::io::{self, Read, Write};

/// The first 8 bytes of a snappy-java stream (`SnappyCodec.MAGIC_HEADER`).
pub const MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Magic plus the two version ints.
pub const HEADER_LEN: usize = 16;
/// `SnappyCodec.DEFAULT_VERSION` and `MINIMUM_COMPATIBLE_VERSION`.
pub const VERSION: i32 = 1;
/// `SnappyOutputStream`'s default block size: input bytes per chunk.
pub const BLOCK_SIZE: usize = 32 * 1024;

/// The magic read as the big-endian i32 a chunk length would be (`MAGIC_HEADER_HEAD`).
const MAGIC_HEAD: i32 = i32::from_be_bytes([MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3]]);

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Reads as much as is there, up to `buf.len()`; returns how much.
fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Decompresses a snappy-java stream.
#[derive(Debug)]
pub struct SnappyReader<R> {
    inner: R,
    /// Decompressed bytes of the current chunk.
    out: Vec<u8>,
    cursor: usize,
    compressed: Vec<u8>,
    finished: bool,
    /// Compressed bytes consumed so far (for error messages).
    consumed: u64,
}

impl<R: Read> SnappyReader<R> {
    /// Reads the header (or, without one, the whole input as one raw snappy block).
    pub fn new(mut inner: R) -> io::Result<Self> {
        let mut header = [0u8; HEADER_LEN];
        let n = read_up_to(&mut inner, &mut header)?;
        let mut r = SnappyReader {
            inner,
            out: Vec::new(),
            cursor: 0,
            compressed: Vec::new(),
            finished: false,
            consumed: n as u64,
        };
        if n < HEADER_LEN || header[..8] != MAGIC {
            // Not snappy-java framing: one raw block, as SnappyInputStream.readFully.
            let mut all = header[..n].to_vec();
            r.inner.read_to_end(&mut all)?;
            r.out = decompress(&all, 0)?;
            r.finished = true;
            return Ok(r);
        }
        check_version(&header, 0)?;
        Ok(r)
    }

    /// Decodes the next chunk into `out`; false at the end of the stream.
    fn next_chunk(&mut self) -> io::Result<bool> {
        loop {
            if self.finished {
                return Ok(false);
            }
            let at = self.consumed;
            let mut len = [0u8; 4];
            let n = read_up_to(&mut self.inner, &mut len)?;
            self.consumed += n as u64;
            if n < 4 {
                self.finished = true;
                return Ok(false);
            }
            let len = i32::from_be_bytes(len);
            if len == MAGIC_HEAD {
                // A concatenated stream: the rest of its header, then its chunks.
                let mut rest = [0u8; HEADER_LEN - 4];
                let n = read_up_to(&mut self.inner, &mut rest)?;
                self.consumed += n as u64;
                if n < rest.len() {
                    return Err(invalid(format!(
                        "snappy stream: incomplete header of a concatenated block at offset {at}"
                    )));
                }
                let mut header = [0u8; HEADER_LEN];
                header[..4].copy_from_slice(&MAGIC[..4]);
                header[4..].copy_from_slice(&rest);
                if header[..8] != MAGIC {
                    self.finished = true;
                    return Ok(false);
                }
                check_version(&header, at)?;
                continue;
            }
            if len < 0 {
                return Err(invalid(format!(
                    "snappy stream: negative chunk length {len} at offset {at}"
                )));
            }
            self.compressed.clear();
            (&mut self.inner)
                .take(len as u64)
                .read_to_end(&mut self.compressed)?;
            self.consumed += self.compressed.len() as u64;
            if self.compressed.len() < len as usize {
                return Err(invalid(format!(
                    "snappy stream: chunk at offset {at} declares {len} bytes, the file ends after {}",
                    self.compressed.len()
                )));
            }
            self.out = decompress(&self.compressed, at + 4)?;
            self.cursor = 0;
            return Ok(true);
        }
    }
}

fn check_version(header: &[u8; HEADER_LEN], at: u64) -> io::Result<()> {
    let version = i32::from_be_bytes([header[8], header[9], header[10], header[11]]);
    if version < VERSION {
        return Err(invalid(format!(
            "snappy stream at offset {at}: codec version {version}, at least {VERSION} is needed"
        )));
    }
    Ok(())
}

/// One raw snappy block, with its declared length bounded by what the input can expand to
/// (a snappy copy op of 3 bytes yields at most 64), so a hostile length cannot make us
/// allocate.
fn decompress(block: &[u8], at: u64) -> io::Result<Vec<u8>> {
    let len = snap::raw::decompress_len(block)
        .map_err(|e| invalid(format!("snappy block at offset {at}: {e}")))?;
    if len > block.len().saturating_mul(32).saturating_add(64) {
        return Err(invalid(format!(
            "snappy block at offset {at}: {} bytes cannot expand to the declared {len}",
            block.len()
        )));
    }
    snap::raw::Decoder::new()
        .decompress_vec(block)
        .map_err(|e| invalid(format!("snappy block at offset {at}: {e}")))
}

impl<R: Read> Read for SnappyReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cursor >= self.out.len() {
            if !self.next_chunk()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.out.len() - self.cursor);
        buf[..n].copy_from_slice(&self.out[self.cursor..self.cursor + n]);
        self.cursor += n;
        Ok(n)
    }
}

/// Compresses into snappy-java's framing, in blocks of [`BLOCK_SIZE`] input bytes.
#[derive(Debug)]
pub struct SnappyWriter<W: Write> {
    inner: W,
    pending: Vec<u8>,
    compressed: Vec<u8>,
    encoder: snap::raw::Encoder,
}

impl<W: Write> SnappyWriter<W> {
    /// Writes the header.
    pub fn new(mut inner: W) -> io::Result<Self> {
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(&MAGIC);
        header[8..12].copy_from_slice(&VERSION.to_be_bytes());
        header[12..].copy_from_slice(&VERSION.to_be_bytes());
        inner.write_all(&header)?;
        Ok(SnappyWriter {
            inner,
            pending: Vec::with_capacity(BLOCK_SIZE),
            compressed: vec![0; snap::raw::max_compress_len(BLOCK_SIZE)],
            encoder: snap::raw::Encoder::new(),
        })
    }

    fn emit(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let n = self
            .encoder
            .compress(&self.pending, &mut self.compressed)
            .map_err(|e| io::Error::other(format!("snappy compression failed: {e}")))?;
        // n ≤ max_compress_len(32 KiB), far below i32::MAX.
        self.inner.write_all(&(n as i32).to_be_bytes())?;
        self.inner.write_all(&self.compressed[..n])?;
        self.pending.clear();
        Ok(())
    }

    /// Writes the last block and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.emit()?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for SnappyWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(BLOCK_SIZE - self.pending.len());
        self.pending.extend_from_slice(&buf[..n]);
        if self.pending.len() == BLOCK_SIZE {
            self.emit()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.emit()?;
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn round_trips_across_blocks() {
        for n in [0, 1, BLOCK_SIZE - 1, BLOCK_SIZE, 3 * BLOCK_SIZE + 5] {
            let data = sample(n);
            let mut w = SnappyWriter::new(Vec::new()).unwrap();
            w.write_all(&data).unwrap();
            let bytes = w.finish().unwrap();
            assert_eq!(&bytes[..8], &MAGIC);
            assert_eq!(&bytes[8..16], &[0, 0, 0, 1, 0, 0, 0, 1]);
            let mut back = Vec::new();
            SnappyReader::new(&bytes[..])
                .unwrap()
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data, "n={n}");
        }
    }

    #[test]
    fn raw_block_and_concatenated_streams() {
        let data = sample(1000);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        let mut back = Vec::new();
        SnappyReader::new(&raw[..])
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);

        let mut both = Vec::new();
        for part in [&data[..400], &data[400..]] {
            let mut w = SnappyWriter::new(Vec::new()).unwrap();
            w.write_all(part).unwrap();
            both.extend(w.finish().unwrap());
        }
        let mut back = Vec::new();
        SnappyReader::new(&both[..])
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let mut w = SnappyWriter::new(Vec::new()).unwrap();
        w.write_all(&sample(100_000)).unwrap();
        let bytes = w.finish().unwrap();
        // A chunk cut short.
        let mut out = Vec::new();
        let err = SnappyReader::new(&bytes[..bytes.len() - 10])
            .unwrap()
            .read_to_end(&mut out)
            .unwrap_err();
        assert!(err.to_string().contains("the file ends"), "{err}");
        // A negative chunk length.
        let mut bad = bytes.clone();
        bad[16] = 0xff;
        assert!(SnappyReader::new(&bad[..])
            .unwrap()
            .read_to_end(&mut out)
            .is_err());
        // A block whose declared decompressed length is garbage. (Garbage inside a literal
        // goes unnoticed: the framing has no checksum; the snapshot's Adler32 catches it.)
        let mut bad = bytes;
        for b in &mut bad[20..25] {
            *b = 0xff;
        }
        assert!(SnappyReader::new(&bad[..])
            .unwrap()
            .read_to_end(&mut out)
            .is_err());
    }
}
