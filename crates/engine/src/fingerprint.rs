//! Change detection: file metadata is a cheap filter, the content hash is the truth.

use std::fs;
use std::io;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// A 64-bit content hash (XXH3) of a file's bytes.
pub type ContentHash = u64;

/// `path`'s directory (`Path::parent`), found on its bytes when the path
/// is an absolute `dir/name` with a plain last component (module files, as
/// the import system records them); `Path::parent` otherwise. The two agree
/// on every path; this costs no component parsing in the usual case.
pub fn parent(path: &Path) -> Option<&Path> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_os_str().as_bytes();
        if let Some(at) = bytes.iter().rposition(|&b| b == b'/') {
            let (dir, name) = (&bytes[..at], &bytes[at + 1..]);
            let plain = !name.is_empty() && name != b"." && name != b"..";
            // A directory that ends in `/` or `.` is left to `Path`.
            if plain && dir.len() > 1 && bytes[0] == b'/' && !dir.ends_with(b"/") && !dir.ends_with(b".") {
                return Some(Path::new(std::ffi::OsStr::from_bytes(dir)));
            }
        }
    }
    path.parent()
}

pub fn hash_bytes(bytes: &[u8]) -> ContentHash {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// The metadata that decides whether a file must be hashed again. `ctime`
/// catches edits whose mtime was put back (`os.utime`), `ino`/`dev` catch
/// save-by-rename. Nanoseconds since the epoch fit an `i64` until 2262.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
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
                mtime_ns: metadata
                    .mtime()
                    .saturating_mul(1_000_000_000)
                    .saturating_add(metadata.mtime_nsec()),
                ctime_ns: metadata
                    .ctime()
                    .saturating_mul(1_000_000_000)
                    .saturating_add(metadata.ctime_nsec()),
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
    pub fn is_racy(&self, hashed_at_ns: i64) -> bool {
        let coarse = self.mtime_ns % 1_000_000_000 == 0 && self.ctime_ns % 1_000_000_000 == 0;
        let window = if coarse { 2_000_000_000 } else { 20_000_000 };
        self.mtime_ns.max(self.ctime_ns) + window >= hashed_at_ns
    }
}

pub fn system_time_ns(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

pub fn now_ns() -> i64 {
    system_time_ns(SystemTime::now())
}

/// What a file looked like when it was last read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    /// Not there (deleted, or never existed).
    Missing,
    /// A directory where the file should be: no module file (skipped like
    /// a missing one).
    Directory,
    /// There but unreadable (no permission, I/O error): the error text.
    Unreadable(String),
    /// Read: its metadata, content hash and when it was hashed.
    Present { meta: Meta, hash: ContentHash, hashed_at_ns: i64 },
}

impl Observed {
    pub fn hash(&self) -> Option<ContentHash> {
        match self {
            Observed::Present { hash, .. } => Some(*hash),
            _ => None,
        }
    }

    /// The file's modification time (seconds since the epoch), when present.
    pub fn mtime_seconds(&self) -> Option<f64> {
        match self {
            Observed::Present { meta, .. } => Some(meta.mtime_seconds()),
            _ => None,
        }
    }
}

/// Read a file: its bytes and observation. Only `Present` carries bytes.
/// One `open`, one `fstat` and the reads: the metadata is the open file's.
pub fn read(path: &Path) -> (Observed, Option<Vec<u8>>) {
    let hashed_at_ns = now_ns();
    let failed = |e: io::Error| match e.kind() {
        io::ErrorKind::NotFound => Observed::Missing,
        _ if e.raw_os_error() == Some(21) => Observed::Directory, // EISDIR
        _ => Observed::Unreadable(e.to_string()),
    };
    let mut file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return (failed(e), None),
    };
    let metadata = match file.metadata() {
        Ok(m) => m,
        Err(e) => return (failed(e), None),
    };
    if metadata.is_dir() {
        return (Observed::Directory, None);
    }
    // The metadata taken before reading: a write racing with the read
    // changes it, so the next check hashes the file again.
    let meta = Meta::of(&metadata);
    let mut bytes = Vec::with_capacity(metadata.len() as usize + 1);
    match io::Read::read_to_end(&mut file, &mut bytes) {
        Ok(_) => {
            let hash = hash_bytes(&bytes);
            (Observed::Present { meta, hash, hashed_at_ns }, Some(bytes))
        }
        Err(e) => (failed(e), None),
    }
}

/// [`read`] for a module's source when registering, into `bytes` (cleared
/// first; reused from file to file, so reading many files allocates once):
/// a symbolic link is not followed but reported (`None`: the caller
/// resolves it), which spares a separate `lstat`, and only the size `fstat`
/// gives is read (a file that grows meanwhile has other metadata, so the
/// next check hashes it again). `bytes` holds the file only when `Present`.
pub fn read_source(path: &Path, bytes: &mut Vec<u8>) -> Option<Observed> {
    bytes.clear();
    let hashed_at_ns = now_ns();
    let failed = |e: io::Error| match e.kind() {
        io::ErrorKind::NotFound => Observed::Missing,
        _ if e.raw_os_error() == Some(21) => Observed::Directory, // EISDIR
        _ => Observed::Unreadable(e.to_string()),
    };
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    #[cfg(not(unix))]
    if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return None;
    }
    let file = match options.open(path) {
        Ok(f) => f,
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return None,
        Err(e) => return Some(failed(e)),
    };
    let metadata = match file.metadata() {
        Ok(m) => m,
        Err(e) => return Some(failed(e)),
    };
    if metadata.is_dir() {
        return Some(Observed::Directory);
    }
    let meta = Meta::of(&metadata);
    bytes.reserve(metadata.len() as usize);
    match io::Read::read_to_end(&mut io::Read::take(&file, metadata.len()), bytes) {
        Ok(_) => Some(Observed::Present { meta, hash: hash_bytes(bytes), hashed_at_ns }),
        Err(e) => {
            bytes.clear();
            Some(failed(e))
        }
    }
}

/// Whether `path` may differ from `seen` (cheap: one `stat`).
pub fn may_differ(path: &Path, seen: &Observed) -> bool {
    match (fs::metadata(path), seen) {
        (Err(e), Observed::Missing) if e.kind() == io::ErrorKind::NotFound => false,
        (Ok(m), Observed::Directory) if m.is_dir() => false,
        (Ok(m), Observed::Present { meta, hashed_at_ns, .. }) => {
            let now = Meta::of(&m);
            now != *meta || now.is_racy(*hashed_at_ns)
        }
        _ => true,
    }
}

/// `lstat`s of many files in few directories: each directory is opened once
/// (`O_PATH`) and each file looked up relative to it, so the directory's
/// own path is not walked again for every file (on Linux; elsewhere a plain
/// `lstat`). The metadata is the one [`Meta::of`] gives (the same `statx`
/// fields, the device number built the same way).
#[derive(Debug, Default)]
pub struct Lstat {
    #[cfg(target_os = "linux")]
    dirs: std::collections::HashMap<std::path::PathBuf, Option<std::os::fd::OwnedFd>>,
    /// The directory of the previous file and its descriptor (files come
    /// mostly directory by directory): its bytes, compared as bytes.
    #[cfg(target_os = "linux")]
    last: Option<(Vec<u8>, Option<std::os::fd::RawFd>)>,
}

impl Lstat {
    /// `path`'s metadata when it is a regular file (a symbolic link is not
    /// followed); `None` otherwise, or when it cannot be read.
    pub fn regular_file(&mut self, path: &Path) -> Option<Meta> {
        #[cfg(target_os = "linux")]
        if let (Some(dir), Some(name)) = (parent(path), path.file_name()) {
            use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
            use std::os::unix::ffi::OsStrExt;
            let dir_bytes = dir.as_os_str().as_bytes();
            let fd = match &self.last {
                Some((last, fd)) if last.as_slice() == dir_bytes => *fd,
                _ => {
                    let fd = self.dirs.entry(dir.to_path_buf()).or_insert_with(|| {
                        let dir = std::ffi::CString::new(dir_bytes).ok()?;
                        // SAFETY: `dir` is NUL-terminated; the descriptor
                        // returned, if any, is owned by the `OwnedFd` alone.
                        let fd = unsafe {
                            libc::open(dir.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
                        };
                        (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
                    });
                    let fd = fd.as_ref().map(AsRawFd::as_raw_fd);
                    self.last = Some((dir_bytes.to_vec(), fd));
                    fd
                }
            };
            // The name, NUL-terminated, on the stack (a longer one, or one
            // holding a NUL, takes the plain lstat below).
            let name = name.as_bytes();
            let mut buf = [0u8; 256];
            if let (Some(fd), true) = (fd, name.len() < buf.len() && !name.contains(&0)) {
                buf[..name.len()].copy_from_slice(name);
                // SAFETY: a zeroed statx is a valid value for the kernel to fill.
                let mut stx: libc::statx = unsafe { std::mem::zeroed() };
                let mask = libc::STATX_BASIC_STATS;
                // SAFETY: `fd` is open (owned by `self.dirs`, never removed),
                // the name is NUL-terminated, the buffer writable.
                let done = unsafe {
                    libc::statx(fd, buf.as_ptr().cast(), libc::AT_SYMLINK_NOFOLLOW, mask, &mut stx)
                };
                if done == 0 {
                    if u32::from(stx.stx_mode) & libc::S_IFMT != libc::S_IFREG {
                        return None;
                    }
                    let ns = |t: libc::statx_timestamp| {
                        t.tv_sec.saturating_mul(1_000_000_000).saturating_add(i64::from(t.tv_nsec))
                    };
                    return Some(Meta {
                        size: stx.stx_size,
                        mtime_ns: ns(stx.stx_mtime),
                        ctime_ns: ns(stx.stx_ctime),
                        ino: stx.stx_ino,
                        dev: libc::makedev(stx.stx_dev_major, stx.stx_dev_minor),
                    });
                }
                if io::Error::last_os_error().kind() == io::ErrorKind::NotFound {
                    return None;
                }
                // Anything else (statx refused by a sandbox, an old
                // kernel): the plain lstat below, as std falls back.
            }
        }
        let status = fs::symlink_metadata(path).ok()?;
        status.is_file().then(|| Meta::of(&status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_is_path_parent() {
        let paths = [
            "/a/b/c.py",
            "/a/c.py",
            "/c.py",
            "/",
            "",
            "c.py",
            "a/b.py",
            "/a//c.py",
            "//a/b.py",
            "/a/./c.py",
            "/a/b/./c.py",
            "/a/../c.py",
            "/a/b/..",
            "/a/b/.",
            "/a/b/",
            "/a/b//",
            "/a./c.py",
            "/a/.b/c.py",
            "/a/b.py/",
            "/./c.py",
            "///c.py",
            "/a/b/c..py",
        ];
        for path in paths {
            // As bytes: `Path`'s own equality compares components.
            let bytes = |p: Option<&Path>| p.map(|p| p.as_os_str().to_owned());
            assert_eq!(bytes(parent(Path::new(path))), bytes(Path::new(path).parent()), "{path:?}");
        }
    }

    #[test]
    fn lstat_in_a_directory_gives_what_a_plain_lstat_gives() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("m.py");
        fs::write(&file, "x = 1\n").expect("write");
        let mut lstat = Lstat::default();
        let plain = Meta::of(&fs::symlink_metadata(&file).expect("lstat"));
        assert_eq!(lstat.regular_file(&file), Some(plain));
        assert_eq!(lstat.regular_file(&dir.path().join("missing.py")), None);
        fs::create_dir(dir.path().join("pkg.py")).expect("mkdir");
        assert_eq!(lstat.regular_file(&dir.path().join("pkg.py")), None, "a directory");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&file, dir.path().join("link.py")).expect("symlink");
            assert_eq!(lstat.regular_file(&dir.path().join("link.py")), None, "a link is not followed");
        }
        fs::write(&file, "x = 22\n").expect("rewrite");
        let again = Meta::of(&fs::symlink_metadata(&file).expect("lstat"));
        assert_eq!(
            lstat.regular_file(&file),
            Some(again),
            "the directory stays open, the file is looked up again"
        );
        assert_ne!(again, plain);
    }
}
