//! Small filesystem pieces: atomic file replacement, directory fsync, the directory lock.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};
use rustix::io::Errno;

use crate::OpenError;

/// Fsyncs a directory, so that a rename or a new file in it survives power loss.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A file written under a temporary name in its final directory, and moved into place by
/// [`AtomicFile::commit`]: write, fsync the file, rename, fsync the directory. Readers see
/// either the old file or the complete new one, never a prefix. Dropped without a commit,
/// the temporary file is removed.
pub(crate) struct AtomicFile {
    out: Option<BufWriter<File>>,
    tmp: PathBuf,
    dest: PathBuf,
    dir: PathBuf,
}

impl AtomicFile {
    /// Creates `dir/tmp_name`, truncating a leftover of an earlier attempt, which will
    /// become `dir/name`.
    pub(crate) fn create(dir: &Path, tmp_name: &str, name: &str) -> io::Result<Self> {
        let tmp = dir.join(tmp_name);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        Ok(AtomicFile {
            // Large buffer: snapshots are written in many small records.
            out: Some(BufWriter::with_capacity(256 * 1024, file)),
            tmp,
            dest: dir.join(name),
            dir: dir.to_path_buf(),
        })
    }

    /// The final path.
    pub(crate) fn dest(&self) -> &Path {
        &self.dest
    }

    /// Flushes, fsyncs, renames into place and fsyncs the directory.
    pub(crate) fn commit(mut self) -> io::Result<()> {
        let Some(out) = self.out.take() else {
            return Err(io::Error::other("atomic file already committed"));
        };
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&self.tmp, &self.dest)?;
        // From here on the file is in place; the temp name no longer exists.
        self.tmp = PathBuf::new();
        sync_dir(&self.dir)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.out {
            Some(out) => out.write(buf),
            None => Err(io::Error::other("atomic file already committed")),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.out {
            Some(out) => out.write_all(buf),
            None => Err(io::Error::other("atomic file already committed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            // Best effort: a leftover temp file is ignored by readers and removed at open.
            drop(self.out.take());
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `data` to `dir/name` atomically (temp file `dir/tmp_name`).
pub(crate) fn write_atomically(
    dir: &Path,
    tmp_name: &str,
    name: &str,
    data: &[u8],
) -> io::Result<()> {
    let mut f = AtomicFile::create(dir, tmp_name, name)?;
    f.write_all(data)?;
    f.commit()
}

/// The name of the lock file [`crate::Storage::open`] takes in dataDir and dataLogDir.
pub const LOCK_FILE: &str = "ferrokeeper.lock";

/// An exclusive `flock` on `dir/ferrokeeper.lock`, held while the value lives. The file
/// holds the pid of its holder, for the error message of the next one to try.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock, OpenError> {
        let path = dir.join(LOCK_FILE);
        let dir_err = |source| OpenError::Dir {
            what: "lock file",
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(dir_err)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == Errno::WOULDBLOCK => {
                let mut holder = String::new();
                // The pid is only for the message; a read failure just leaves it out.
                let _ = (&file).take(32).read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(OpenError::Locked {
                    path,
                    holder: if holder.is_empty() {
                        "unknown pid".to_string()
                    } else {
                        format!("pid {holder}")
                    },
                });
            }
            Err(e) => return Err(dir_err(e.into())),
        }
        file.set_len(0).map_err(dir_err)?;
        write!(file, "{}", std::process::id()).map_err(dir_err)?;
        Ok(DirLock { _file: file })
    }
}
