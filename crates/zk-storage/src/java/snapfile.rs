//! `snapshot.<hex zxid>[.gz|.snappy]` files (`FileSnap`, `SnapStream`): which ones upstream
//! would consider, reading them in any of the three modes, writing them in any mode.
//!
//! The stream inside (after decompression) is [`zk_tree::snapshot`]'s. The zxid in the name
//! is the one the tree is at ("fuzzy" for upstream's own snapshots, which are taken while
//! writes go on: replaying the log from that zxid on fixes them up).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use zk_tree::snapshot::{
    read_snapshot, write_snapshot, LoadedSnapshot, ReadOptions, WriteOptions, WriteSummary,
};
use zk_tree::DataTree;

use super::names::{self, Compression, SNAPSHOT_PREFIX};
use super::snappy::{SnappyReader, SnappyWriter, MAGIC as SNAPPY_MAGIC};
use super::{sync_dir, JavaFormatError};
use crate::progress::{NoProgress, Progress, ProgressRead, ProgressWrite};

/// A snapshot file in a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFile {
    /// Full path.
    pub path: PathBuf,
    /// The zxid in the name.
    pub zxid: i64,
    /// How it is compressed, by its name.
    pub compression: Compression,
}

impl SnapshotFile {
    /// Describes an existing file by its name; `None` if the name is not `snapshot.<hex>...`.
    pub fn from_path(path: &Path) -> Option<SnapshotFile> {
        let name = path.file_name()?.to_str()?;
        Some(SnapshotFile {
            path: path.to_path_buf(),
            zxid: names::zxid_from_name(name, SNAPSHOT_PREFIX)?,
            compression: Compression::from_file_name(name),
        })
    }
}

/// Every `snapshot.*` file of `dir` with a valid zxid in its name, newest first (the order in
/// which `FileSnap.findNValidSnapshots` tries them).
pub fn list_snapshots(dir: &Path) -> Result<Vec<SnapshotFile>, JavaFormatError> {
    let mut files: Vec<SnapshotFile> = names::list(dir, SNAPSHOT_PREFIX)?
        .into_iter()
        .filter_map(|f| SnapshotFile::from_path(&f.path))
        .collect();
    files.reverse();
    Ok(files)
}

/// `SnapStream.isValidSnapshot`: a cheap look at the file before reading it. Plain files must
/// be at least 10 bytes and end with the seal's string `"/"` (`00 00 00 01 2f`); gzip files
/// must start with the gzip magic, snappy files with snappy-java's.
pub fn is_valid_snapshot(file: &SnapshotFile) -> Result<bool, JavaFormatError> {
    let p = &file.path;
    let mut f = File::open(p).map_err(|e| JavaFormatError::io(p, e))?;
    let valid = match file.compression {
        Compression::Plain => {
            let len = f.metadata().map_err(|e| JavaFormatError::io(p, e))?.len();
            if len < 10 {
                return Ok(false);
            }
            let mut tail = [0u8; 5];
            f.seek(SeekFrom::Start(len - 5))
                .and_then(|_| f.read_exact(&mut tail))
                .map_err(|e| JavaFormatError::io(p, e))?;
            tail == [0, 0, 0, 1, b'/']
        }
        Compression::Gzip => {
            starts_with(&mut f, &[0x1f, 0x8b]).map_err(|e| JavaFormatError::io(p, e))?
        }
        Compression::Snappy => {
            starts_with(&mut f, &SNAPPY_MAGIC).map_err(|e| JavaFormatError::io(p, e))?
        }
    };
    Ok(valid)
}

fn starts_with(f: &mut File, magic: &[u8]) -> io::Result<bool> {
    let mut head = vec![0u8; magic.len()];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => return Ok(false),
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(head == magic)
}

/// Opens the decompressed stream of a snapshot file; the bytes read from the file itself
/// (compressed, for gz and snappy) are reported to `progress`.
fn open_stream<'a>(
    file: &SnapshotFile,
    progress: &'a dyn Progress,
) -> Result<Box<dyn Read + 'a>, JavaFormatError> {
    let p = &file.path;
    let f = ProgressRead::new(
        File::open(p).map_err(|e| JavaFormatError::io(p, e))?,
        progress,
    );
    Ok(match file.compression {
        // zk_tree's reader pulls 256 KiB at a time: no buffering needed.
        Compression::Plain => Box::new(f),
        Compression::Gzip => Box::new(MultiGzDecoder::new(BufReader::with_capacity(256 * 1024, f))),
        Compression::Snappy => Box::new(
            SnappyReader::new(BufReader::with_capacity(256 * 1024, f))
                .map_err(|e| JavaFormatError::io(p, e))?,
        ),
    })
}

/// Reads and verifies one snapshot file. Offsets in errors are offsets in the decompressed
/// stream (the file offset itself for plain files).
pub fn read_snapshot_file(
    file: &SnapshotFile,
    opts: &ReadOptions,
) -> Result<LoadedSnapshot, JavaFormatError> {
    read_snapshot_file_with_progress(file, opts, &NoProgress)
}

/// [`read_snapshot_file`], reporting the bytes read from the file to `progress`.
pub fn read_snapshot_file_with_progress(
    file: &SnapshotFile,
    opts: &ReadOptions,
    progress: &dyn Progress,
) -> Result<LoadedSnapshot, JavaFormatError> {
    let stream = open_stream(file, progress)?;
    read_snapshot(stream, file.zxid, opts).map_err(|source| JavaFormatError::Snapshot {
        path: file.path.clone(),
        source,
    })
}

/// Writes `tree` and `sessions` as `dir/snapshot.<hex tree.last_processed_zxid>[ext]`,
/// atomically (a temporary file, fsynced, renamed, directory fsynced). A file of the same name
/// is replaced, as upstream replaces it.
pub fn write_snapshot_file<I>(
    dir: &Path,
    tree: &DataTree,
    sessions: I,
    compression: Compression,
    opts: &WriteOptions,
) -> Result<(SnapshotFile, WriteSummary), JavaFormatError>
where
    I: IntoIterator<Item = (i64, i32)>,
    I::IntoIter: ExactSizeIterator,
{
    write_snapshot_file_with_progress(dir, tree, sessions, compression, opts, &NoProgress)
}

/// [`write_snapshot_file`], reporting the bytes written to the file (compressed, for gz and
/// snappy) to `progress`.
pub fn write_snapshot_file_with_progress<I>(
    dir: &Path,
    tree: &DataTree,
    sessions: I,
    compression: Compression,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<(SnapshotFile, WriteSummary), JavaFormatError>
where
    I: IntoIterator<Item = (i64, i32)>,
    I::IntoIter: ExactSizeIterator,
{
    let zxid = tree.last_processed_zxid;
    let name = names::snapshot_name(zxid, compression);
    let target = dir.join(&name);
    // Not "snapshot.*": upstream must never take a half-written file for a snapshot.
    let tmp = dir.join(format!("tmp.{name}"));
    let written = write_to(&tmp, tree, sessions, compression, opts, progress);
    let summary = match written {
        Ok(s) => s,
        Err(e) => {
            // Best effort: the half-written file is useless.
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, &target).map_err(|e| JavaFormatError::io(&target, e))?;
    sync_dir(dir)?;
    let file = SnapshotFile {
        path: target,
        zxid,
        compression,
    };
    Ok((file, summary))
}

/// Writes the (compressed) snapshot stream to `tmp` and fsyncs it.
fn write_to<I>(
    tmp: &Path,
    tree: &DataTree,
    sessions: I,
    compression: Compression,
    opts: &WriteOptions,
    progress: &dyn Progress,
) -> Result<WriteSummary, JavaFormatError>
where
    I: IntoIterator<Item = (i64, i32)>,
    I::IntoIter: ExactSizeIterator,
{
    let io = |e| JavaFormatError::io(tmp, e);
    let f = ProgressWrite::new(File::create(tmp).map_err(io)?, progress);
    let (f, summary) = match compression {
        Compression::Plain => {
            let mut f = f;
            let s = write_snapshot(tree, sessions, &mut f, opts).map_err(io)?;
            (f, s)
        }
        Compression::Gzip => {
            let mut gz = GzEncoder::new(
                BufWriter::with_capacity(256 * 1024, f),
                flate2::Compression::default(),
            );
            let s = write_snapshot(tree, sessions, &mut gz, opts).map_err(io)?;
            let f = gz
                .finish()
                .and_then(|b| b.into_inner().map_err(|e| e.into_error()))
                .map_err(io)?;
            (f, s)
        }
        Compression::Snappy => {
            let mut sn = SnappyWriter::new(BufWriter::with_capacity(256 * 1024, f)).map_err(io)?;
            let s = write_snapshot(tree, sessions, &mut sn, opts).map_err(io)?;
            let f = sn
                .finish()
                .and_then(|b| b.into_inner().map_err(|e| e.into_error()))
                .map_err(io)?;
            (f, s)
        }
    };
    f.into_inner().sync_all().map_err(io)?;
    Ok(summary)
}
