//! Progress of long reads and writes (migration of large data directories), reported in
//! bytes of the files involved.
//!
//! The library only counts; drawing a bar or logging is the caller's business. Reports come
//! at most once per buffer refill (hundreds of KiB) or per MiB of log entries, never per
//! record, so a [`Progress`] implementation may take a lock or look at the clock.

use std::io::{self, Read, Write};

/// Receives progress reports. `Sync`, so that a writer reporting through it can be handed
/// to code that needs `Send`.
pub trait Progress: Sync {
    /// Starts (or starts over) a piece of work of `total` bytes: position 0 of `total`. A
    /// restore calls it again when a damaged snapshot sends it back to an older one.
    fn set_total(&self, total: u64);
    /// `bytes` more bytes were processed.
    fn advance(&self, bytes: u64);
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn set_total(&self, _total: u64) {}
    fn advance(&self, _bytes: u64) {}
}

/// A reader that reports the bytes read through it.
pub struct ProgressRead<'a, R> {
    inner: R,
    progress: &'a dyn Progress,
}

impl<'a, R> ProgressRead<'a, R> {
    /// Wraps `inner`.
    pub fn new(inner: R, progress: &'a dyn Progress) -> Self {
        ProgressRead { inner, progress }
    }
}

impl<R: Read> Read for ProgressRead<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

/// A writer that reports the bytes written through it.
pub struct ProgressWrite<'a, W> {
    inner: W,
    progress: &'a dyn Progress,
}

impl<'a, W> ProgressWrite<'a, W> {
    /// Wraps `inner`.
    pub fn new(inner: W, progress: &'a dyn Progress) -> Self {
        ProgressWrite { inner, progress }
    }

    /// The wrapped writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for ProgressWrite<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
