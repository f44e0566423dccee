//! `log.<hex first zxid>` files (`FileTxnLog`, `FilePadding`, `Util.marshallTxnEntry`,
//! `Util.readTxnBytes`).
//!
//! ```text
//!   header   i32 magic "ZKLG" | i32 version 2 | i64 dbid 0                       (16 bytes)
//!   entry    i64 Adler32 of the payload | i32 payload length | payload | 0x42 'B'
//!            payload = TxnHeader | txn body | TxnDigest (when the writer had digests on)
//!   ...      zeros: the file is grown in 64 MiB steps ahead of the entries, so a
//!            length of 0 is where the entries end
//! ```
//!
//! Reading verifies every entry's checksum. Where the entries stop is reported as a
//! [`LogEnd`]: the end of the file, the preallocated zeros, or a torn last entry (cut short,
//! or without its `'B'`), the three cases upstream's iterator treats as the end of a file. A
//! checksum mismatch, an unreasonable length or a payload that is not a txn is an error, as it
//! is upstream.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use adler2::Adler32;
use bytes::Bytes;
use zk_proto::persistence::FileHeader;
use zk_proto::txn_body::LogEntry;
use zk_proto::{Limits, Record};

use super::names::{self, DataFile, LOG_PREFIX};
use super::{sync_dir, JavaFormatError};

/// `FileTxnLog.TXNLOG_MAGIC`: "ZKLG" as a big-endian i32.
pub const LOG_MAGIC: i32 = i32::from_be_bytes(*b"ZKLG");
/// `FileTxnLog.VERSION`.
pub const LOG_VERSION: i32 = 2;
/// The dbid upstream writes into log headers.
pub const LOG_DBID: i64 = 0;
/// `FilePadding.preAllocSize`'s default (`zookeeper.preAllocSize` = 65536 KiB).
pub const DEFAULT_PREALLOC: u64 = 64 * 1024 * 1024;
/// The byte after every entry (`Util.writeTxnBytes`).
pub const END_OF_RECORD: u8 = 0x42;
/// Default bound on an entry's length: `jute.maxbuffer` plus its default extra size, as
/// `BinaryInputArchive.readBuffer` checks it.
pub const DEFAULT_MAX_ENTRY: usize = 2 * 0xfffff;
/// Bytes of the file header.
pub const HEADER_LEN: u64 = 16;

/// Every `log.*` file of `dir` with a valid zxid in its name, oldest first.
pub fn list_logs(dir: &Path) -> Result<Vec<DataFile>, JavaFormatError> {
    names::list(dir, LOG_PREFIX)
}

/// The log files that can hold entries after `zxid` (`FileTxnLog.getLogFiles`): the last file
/// starting at or before `zxid`, and every file after it. `files` must be sorted ascending.
pub fn logs_after(files: &[DataFile], zxid: i64) -> Vec<DataFile> {
    let start = files
        .iter()
        .filter(|f| f.zxid <= zxid)
        .map(|f| f.zxid)
        .max()
        .unwrap_or(0);
    files.iter().filter(|f| f.zxid >= start).cloned().collect()
}

/// Where and why the entries of a log file stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEnd {
    /// The file ends right after the last entry (or the header): a file truncated by Zab's
    /// TRUNC, or one written without preallocation.
    EndOfFile {
        /// File offset of the end.
        offset: u64,
    },
    /// A zero length where the next entry would start: the preallocated zeros.
    Zeros {
        /// File offset of the zero length's entry.
        offset: u64,
    },
    /// An entry starts here but is incomplete: a write cut short by a crash.
    Torn {
        /// File offset where the incomplete entry starts.
        offset: u64,
        /// What is missing.
        reason: String,
    },
}

impl LogEnd {
    /// The file offset where the valid entries end.
    pub fn offset(&self) -> u64 {
        match self {
            LogEnd::EndOfFile { offset }
            | LogEnd::Zeros { offset }
            | LogEnd::Torn { offset, .. } => *offset,
        }
    }
}

impl std::fmt::Display for LogEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogEnd::EndOfFile { offset } => write!(f, "end of file at offset {offset}"),
            LogEnd::Zeros { offset } => write!(f, "preallocated zeros from offset {offset}"),
            LogEnd::Torn { offset, reason } => {
                write!(f, "torn entry at offset {offset} ({reason})")
            }
        }
    }
}

/// One entry as stored, checksum verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// File offset of the entry (its checksum).
    pub offset: u64,
    /// The payload: TxnHeader, body, digest.
    pub payload: Bytes,
}

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

fn adler32(b: &[u8]) -> u32 {
    let mut a = Adler32::new();
    a.write_slice(b);
    a.checksum()
}

/// Reads the entries of one log file, in order.
#[derive(Debug)]
pub struct LogReader {
    path: PathBuf,
    input: BufReader<File>,
    offset: u64,
    header: FileHeader,
    end: Option<LogEnd>,
    max_entry: usize,
}

impl LogReader {
    /// Opens a log file and checks its header's magic (the only header field upstream
    /// checks).
    pub fn open(path: &Path) -> Result<LogReader, JavaFormatError> {
        let f = File::open(path).map_err(|e| JavaFormatError::io(path, e))?;
        let mut input = BufReader::with_capacity(256 * 1024, f);
        let mut h = [0u8; HEADER_LEN as usize];
        let n = read_up_to(&mut input, &mut h).map_err(|e| JavaFormatError::io(path, e))?;
        if n < h.len() {
            return Err(JavaFormatError::corrupt(
                path,
                n as u64,
                "the file ends inside the 16-byte header",
            ));
        }
        let header = FileHeader::from_bytes(Bytes::copy_from_slice(&h))
            .map_err(|e| JavaFormatError::corrupt(path, 0, e.to_string()))?;
        if header.magic != LOG_MAGIC {
            return Err(JavaFormatError::corrupt(
                path,
                0,
                format!(
                    "invalid magic number {:#010x}, expected {LOG_MAGIC:#010x} (\"ZKLG\")",
                    header.magic
                ),
            ));
        }
        Ok(LogReader {
            path: path.to_path_buf(),
            input,
            offset: HEADER_LEN,
            header,
            end: None,
            max_entry: DEFAULT_MAX_ENTRY,
        })
    }

    /// Bounds an entry's length (default [`DEFAULT_MAX_ENTRY`]).
    pub fn with_max_entry(mut self, max_entry: usize) -> Self {
        self.max_entry = max_entry;
        self
    }

    /// The file header.
    pub fn header(&self) -> &FileHeader {
        &self.header
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// File offset just past the last entry returned (the header's end before the first).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Where the entries stopped, once [`LogReader::next_raw`] has returned `None`.
    pub fn end(&self) -> Option<&LogEnd> {
        self.end.as_ref()
    }

    fn stop(&mut self, end: LogEnd) -> Result<Option<RawEntry>, JavaFormatError> {
        self.end = Some(end);
        Ok(None)
    }

    /// The next entry with its checksum verified; `None` where the entries end.
    pub fn next_raw(&mut self) -> Result<Option<RawEntry>, JavaFormatError> {
        if self.end.is_some() {
            return Ok(None);
        }
        let start = self.offset;
        let mut head = [0u8; 12];
        let n = read_up_to(&mut self.input, &mut head)
            .map_err(|e| JavaFormatError::io(&self.path, e))?;
        match n {
            0 => return self.stop(LogEnd::EndOfFile { offset: start }),
            1..=7 => {
                return self.stop(LogEnd::Torn {
                    offset: start,
                    reason: "the file ends inside the checksum".into(),
                })
            }
            8..=11 => {
                return self.stop(LogEnd::Torn {
                    offset: start,
                    reason: "the file ends inside the length".into(),
                })
            }
            _ => {}
        }
        let mut crc = [0u8; 8];
        crc.copy_from_slice(&head[..8]);
        let stored = i64::from_be_bytes(crc);
        let len = i32::from_be_bytes([head[8], head[9], head[10], head[11]]);
        if len == 0 {
            return self.stop(LogEnd::Zeros { offset: start });
        }
        if len < 0 || len as usize > self.max_entry {
            return Err(JavaFormatError::corrupt(
                &self.path,
                start + 8,
                format!("unreasonable entry length {len} (limit {})", self.max_entry),
            ));
        }
        let len = len as usize;
        let mut body = vec![0u8; len + 1];
        let n = read_up_to(&mut self.input, &mut body)
            .map_err(|e| JavaFormatError::io(&self.path, e))?;
        if n < len {
            return self.stop(LogEnd::Torn {
                offset: start,
                reason: format!("the file ends after {n} of the entry's {len} bytes"),
            });
        }
        if n == len {
            return self.stop(LogEnd::Torn {
                offset: start,
                reason: "the file ends before the end-of-record byte".into(),
            });
        }
        if body[len] != END_OF_RECORD {
            return self.stop(LogEnd::Torn {
                offset: start,
                reason: format!(
                    "end-of-record byte is {:#04x}, not 'B' (a partial write)",
                    body[len]
                ),
            });
        }
        body.truncate(len);
        let computed = adler32(&body);
        if stored != i64::from(computed) {
            return Err(JavaFormatError::corrupt(
                &self.path,
                start,
                format!(
                    "entry checksum mismatch: stored {stored:#x}, computed {computed:#x} over {len} bytes"
                ),
            ));
        }
        self.offset = start + 13 + len as u64;
        Ok(Some(RawEntry {
            offset: start,
            payload: Bytes::from(body),
        }))
    }

    /// The next entry, decoded (`SerializeUtils.deserializeTxn`).
    pub fn next_entry(&mut self) -> Result<Option<(u64, LogEntry)>, JavaFormatError> {
        let Some(raw) = self.next_raw()? else {
            return Ok(None);
        };
        let limits = Limits {
            max_buffer: self.max_entry,
        };
        let entry = LogEntry::decode_with_limits(raw.payload, limits).map_err(|e| {
            JavaFormatError::corrupt(
                &self.path,
                raw.offset + 12,
                format!("the entry's payload is not a txn: {e}"),
            )
        })?;
        Ok(Some((raw.offset, entry)))
    }
}

/// Reads a whole log file: its entries (with their offsets) and where they end.
pub fn read_log_file(path: &Path) -> Result<(Vec<(u64, LogEntry)>, LogEnd), JavaFormatError> {
    let mut r = LogReader::open(path)?;
    let mut entries = Vec::new();
    while let Some(e) = r.next_entry()? {
        entries.push(e);
    }
    let end = r
        .end
        .take()
        .unwrap_or(LogEnd::EndOfFile { offset: r.offset });
    Ok((entries, end))
}

/// How a [`LogWriter`] lays the file out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogWriteOptions {
    /// Growth step of the file, in bytes ([`DEFAULT_PREALLOC`]); 0 grows it only by the
    /// entries, so the file ends exactly after the last one.
    pub prealloc: u64,
}

impl Default for LogWriteOptions {
    fn default() -> Self {
        LogWriteOptions {
            prealloc: DEFAULT_PREALLOC,
        }
    }
}

/// `FilePadding.calculateFileSizeWithPadding`: within 4 KiB of the preallocated end, grow by
/// one step (or to the step boundary past `position` when already beyond it).
pub fn padded_size(position: u64, size: u64, prealloc: u64) -> u64 {
    if prealloc == 0 || position + 4096 < size {
        return size;
    }
    if position > size {
        let s = position + prealloc;
        s - s % prealloc
    } else {
        size + prealloc
    }
}

/// Writes a new log file the way `FileTxnLog.append` does, so that Apache ZooKeeper reads it.
///
/// Entries are buffered; [`LogWriter::sync`] makes them durable. After a failed write or
/// sync the writer refuses further writes (the page cache may have dropped what failed).
#[derive(Debug)]
pub struct LogWriter {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
    /// Logical end of the entries, buffered ones included.
    pos: u64,
    /// The file's preallocated size.
    size: u64,
    prealloc: u64,
    last_zxid: Option<i64>,
    synced_once: bool,
    poisoned: bool,
}

impl LogWriter {
    /// Creates `dir/log.<hex first_zxid>` (which must not exist) and writes its header.
    pub fn create(
        dir: &Path,
        first_zxid: i64,
        opts: &LogWriteOptions,
    ) -> Result<LogWriter, JavaFormatError> {
        let path = dir.join(names::log_name(first_zxid));
        let mut file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| JavaFormatError::io(&path, e))?;
        let header = FileHeader {
            magic: LOG_MAGIC,
            version: LOG_VERSION,
            dbid: LOG_DBID,
        };
        file.write_all(&header.to_bytes())
            .map_err(|e| JavaFormatError::io(&path, e))?;
        Ok(LogWriter {
            dir: dir.to_path_buf(),
            path,
            file,
            buf: Vec::with_capacity(1 << 20),
            pos: HEADER_LEN,
            size: HEADER_LEN,
            prealloc: opts.prealloc,
            last_zxid: None,
            synced_once: false,
            poisoned: false,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The zxid of the last entry appended.
    pub fn last_zxid(&self) -> Option<i64> {
        self.last_zxid
    }

    /// Bytes of header and entries (buffered ones included), without the preallocated
    /// zeros.
    pub fn position(&self) -> u64 {
        self.pos
    }

    fn check(&self) -> Result<(), JavaFormatError> {
        if self.poisoned {
            return Err(JavaFormatError::Invalid(format!(
                "{}: an earlier write failed; no more writes",
                self.path.display()
            )));
        }
        Ok(())
    }

    fn fail(&mut self, e: io::Error) -> JavaFormatError {
        self.poisoned = true;
        JavaFormatError::io(&self.path, e)
    }

    /// Appends an entry; its zxid must be above the previous entry's.
    pub fn append(&mut self, entry: &LogEntry) -> Result<(), JavaFormatError> {
        self.append_payload(entry.header.zxid, &entry.to_bytes())
    }

    /// Appends an already encoded payload (TxnHeader, body, digest) for `zxid`.
    pub fn append_payload(&mut self, zxid: i64, payload: &[u8]) -> Result<(), JavaFormatError> {
        self.check()?;
        if let Some(last) = self.last_zxid {
            if zxid <= last {
                return Err(JavaFormatError::Invalid(format!(
                    "{}: zxid {zxid:#x} is not above the last one, {last:#x}",
                    self.path.display()
                )));
            }
        }
        if payload.is_empty() || payload.len() > i32::MAX as usize {
            return Err(JavaFormatError::Invalid(format!(
                "{}: a txn entry of {} bytes cannot be logged",
                self.path.display(),
                payload.len()
            )));
        }
        let size = padded_size(self.pos, self.size, self.prealloc);
        if size != self.size {
            // Extending the file leaves a hole that reads as zeros, as upstream's one-byte
            // write at the new end does.
            if let Err(e) = self.file.set_len(size) {
                return Err(self.fail(e));
            }
            self.size = size;
        }
        self.buf
            .extend_from_slice(&i64::from(adler32(payload)).to_be_bytes());
        self.buf
            .extend_from_slice(&(payload.len() as i32).to_be_bytes());
        self.buf.extend_from_slice(payload);
        self.buf.push(END_OF_RECORD);
        self.pos += 13 + payload.len() as u64;
        self.last_zxid = Some(zxid);
        if self.buf.len() >= 1 << 20 {
            self.flush()?;
        }
        Ok(())
    }

    /// Hands the buffered entries to the OS.
    pub fn flush(&mut self) -> Result<(), JavaFormatError> {
        self.check()?;
        if let Err(e) = self.file.write_all(&self.buf) {
            return Err(self.fail(e));
        }
        self.buf.clear();
        Ok(())
    }

    /// Makes every appended entry durable (fdatasync; the directory too, the first time).
    pub fn sync(&mut self) -> Result<(), JavaFormatError> {
        self.flush()?;
        if let Err(e) = self.file.sync_data() {
            return Err(self.fail(e));
        }
        if !self.synced_once {
            sync_dir(&self.dir).inspect_err(|_| self.poisoned = true)?;
            self.synced_once = true;
        }
        Ok(())
    }
}
