//! Change detection: file metadata is a cheap filter, the content hash is the truth.

use std::fs;
use std::io;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// A 64-bit content hash (XXH3) of a file's bytes.
pub type ContentHash = u64;

pub fn hash_bytes(bytes: &[u8]) -> ContentHash {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// The metadata that decides whether a file must be hashed again. `ctime`
/// catches edits whose mtime was put back (`os.utime`), `ino`/`dev` catch
/// save-by-rename.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub ino: u64,
    pub dev: u64,
}

impl Meta {
    pub fn of(metadata: &fs::Metadata) -> Meta {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Meta {
                size: metadata.size(),
                mtime_ns: i128::from(metadata.mtime()) * 1_000_000_000 + i128::from(metadata.mtime_nsec()),
                ctime_ns: i128::from(metadata.ctime()) * 1_000_000_000 + i128::from(metadata.ctime_nsec()),
                ino: metadata.ino(),
                dev: metadata.dev(),
            }
        }
        #[cfg(not(unix))]
        {
            let mtime_ns = metadata.modified().map(system_time_ns).unwrap_or(0);
            Meta { size: metadata.len(), mtime_ns, ctime_ns: mtime_ns, ino: 0, dev: 0 }
        }
    }

    /// Seconds since the epoch, as `os.stat().st_mtime` gives them.
    pub fn mtime_seconds(&self) -> f64 {
        self.mtime_ns as f64 / 1e9
    }

    /// Whether a write could still land in the same timestamp tick as a hash
    /// taken at `hashed_at_ns`: such a file stays a candidate. File systems
    /// with whole-second stamps (FAT, some network mounts) get a 2 s window.
    pub fn is_racy(&self, hashed_at_ns: i128) -> bool {
        let coarse = self.mtime_ns % 1_000_000_000 == 0 && self.ctime_ns % 1_000_000_000 == 0;
        let window = if coarse { 2_000_000_000 } else { 20_000_000 };
        self.mtime_ns.max(self.ctime_ns) + window >= hashed_at_ns
    }
}

pub fn system_time_ns(time: SystemTime) -> i128 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

pub fn now_ns() -> i128 {
    system_time_ns(SystemTime::now())
}

/// What a file looked like when it was last read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    /// Not there (deleted, or never existed).
    Missing,
    /// There but unreadable as a file (a directory, no permission): the error text.
    Unreadable(String),
    /// Read: its metadata, content hash and when it was hashed.
    Present { meta: Meta, hash: ContentHash, hashed_at_ns: i128 },
}

impl Observed {
    pub fn hash(&self) -> Option<ContentHash> {
        match self {
            Observed::Present { hash, .. } => Some(*hash),
            _ => None,
        }
    }
}

/// Read a file: its bytes and observation. `Missing` and `Unreadable` carry no bytes.
pub fn read(path: &Path) -> (Observed, Option<Vec<u8>>) {
    let hashed_at_ns = now_ns();
    let metadata = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return (Observed::Missing, None),
        Err(e) => return (Observed::Unreadable(e.to_string()), None),
    };
    if metadata.is_dir() {
        // Not a module file any more: skipped like a deleted one (a
        // registration refuses it earlier, with a clear error).
        return (Observed::Missing, None);
    }
    match fs::read(path) {
        Ok(bytes) => {
            // The metadata taken before reading: a write racing with the read
            // changes it, so the next check hashes the file again.
            let meta = Meta::of(&metadata);
            let hash = hash_bytes(&bytes);
            (Observed::Present { meta, hash, hashed_at_ns }, Some(bytes))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => (Observed::Missing, None),
        Err(e) => (Observed::Unreadable(e.to_string()), None),
    }
}

/// Whether `path` may differ from `seen` (cheap: one `stat`).
pub fn may_differ(path: &Path, seen: &Observed) -> bool {
    match (fs::metadata(path), seen) {
        (Err(e), Observed::Missing) if e.kind() == io::ErrorKind::NotFound => false,
        (Ok(m), Observed::Missing) if m.is_dir() => false,
        (Ok(m), Observed::Present { meta, hashed_at_ns, .. }) => {
            let now = Meta::of(&m);
            now != *meta || now.is_racy(*hashed_at_ns)
        }
        _ => true,
    }
}
