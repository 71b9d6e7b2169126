//! The persistent analysis cache: what each module file imports, kept across
//! processes (a kernel restart registers the same files again).
//!
//! One file per workspace (the workspace directories name it), for one
//! engine build and one Python (major, minor): a registration reads one file
//! and, when it analysed something new, writes one file. Each entry holds a
//! module file's content hash and the imports found in those bytes (the
//! truth: looked up by content hash), plus the file's path and metadata when
//! it was hashed. The metadata lets a later registration skip reading a file
//! whose metadata is unchanged, by the rule change detection itself uses
//! (`fingerprint`): size, mtime, ctime, inode and device all equal, and the
//! hash taken outside the racy window. Entries are kept most recent first,
//! one per path, at most [`MAX_ENTRIES`].
//!
//! The cache is never an error and never a stale answer: a file that is
//! missing, truncated, corrupt (checksum), of another format, build or
//! Python is ignored; writes go to a temporary file renamed over the old one,
//! so a reader sees a whole file or the previous one (never synced to disk:
//! after a crash a file cut short fails its checksum); a directory that
//! cannot be written just means no cache.

use rustc_hash::FxHashMap;
use std::path::{Path, PathBuf};

use crate::fingerprint::{ContentHash, Meta};
#[cfg(test)]
use crate::imports::Alias;
use crate::imports::ImportStmt;

const MAGIC: &[u8; 8] = b"LIVEIMPC";
const FORMAT: u32 = 2;
/// Entries kept per workspace file.
pub const MAX_ENTRIES: usize = 50_000;
/// Changes whenever the engine's analysis code may change its answers.
const BUILD_KEY: &str = env!("LIVEIMPORT_ANALYSIS_KEY");

/// One module file's entry, as a registration makes it: its imports
/// already encoded ([`encode_imports`]), so that it is written as it is.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    pub path: &'a Path,
    pub hash: ContentHash,
    /// As [`Entry::meta`].
    pub meta: Option<(Meta, i64)>,
    /// As [`Entry::bytecode_current`].
    pub bytecode_current: bool,
    pub imports: &'a [u8],
}

/// One module file, analysed (decoded whole: for tests).
#[cfg(test)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    pub hash: ContentHash,
    /// The file's metadata when hashed, and when: `None` when it must not
    /// stand for the content (hashed within the racy window).
    pub meta: Option<(Meta, i64)>,
    /// The module's bytecode file was current when the entry was made (not
    /// older than the source and for other bytes): while the source keeps
    /// this metadata it stays so (a bytecode file is rewritten only when the
    /// source changes), and registration need not look at it again.
    pub bytecode_current: bool,
    /// The imports that run at import time (lines and aliases dropped).
    pub imports: Vec<ImportStmt>,
}

/// Append `imports` as an entry keeps them: what dependencies need (lines
/// and aliases dropped). [`for_each_import`] reads them back.
pub fn encode_imports(out: &mut Vec<u8>, imports: &[ImportStmt]) {
    put_u32(out, imports.len() as u32);
    for stmt in imports {
        out.push(u8::from(stmt.from_import));
        put_u32(out, stmt.level);
        match &stmt.module {
            Some(module) => {
                out.push(1);
                put_str(out, module);
            }
            None => out.push(0),
        }
        put_u32(out, stmt.names.len() as u32);
        for alias in &stmt.names {
            put_str(out, &alias.name);
        }
    }
}

/// Each import statement of an encoded list ([`encode_imports`], or
/// [`Loaded::imports_bytes`]), in order, decoded in place:
/// `f(from_import, level, module, names)`. Such a list was made here or
/// checked when loaded; a malformed one would end the walk.
pub fn for_each_import<'a>(imports: &'a [u8], f: impl FnMut(bool, u32, Option<&'a str>, &[&'a str])) {
    let mut r = Reader { bytes: imports, at: 0 };
    let _ = walk_imports(&mut r, &mut Vec::new(), f);
}

/// A workspace's cache file, loaded: its bytes, checked whole, and an index
/// of its entries. An entry's imports are decoded only when asked for, and
/// entries kept as they were are written back byte for byte.
#[derive(Debug, Default)]
pub struct Loaded {
    bytes: Vec<u8>,
    slots: Vec<Slot>,
    by_hash: FxHashMap<ContentHash, u32>,
    /// By the hash of the path's bytes (checked against the entry's path).
    by_path: FxHashMap<u64, u32>,
}

/// One entry of a loaded file: its fixed fields, and where it lies.
#[derive(Debug)]
struct Slot {
    /// The whole entry, encoded, and its path, in `Loaded::bytes`.
    raw: std::ops::Range<usize>,
    path: std::ops::Range<usize>,
    /// Where its imports start.
    imports: usize,
    hash: ContentHash,
    meta: Option<(Meta, i64)>,
    bytecode_current: bool,
}

/// A loaded entry whose file has the metadata it was hashed with.
#[derive(Debug)]
pub struct Unchanged {
    pub hash: ContentHash,
    pub hashed_at_ns: i64,
    pub bytecode_current: bool,
    slot: usize,
}

impl Unchanged {
    /// Which entry of the loaded file (its imports: [`Loaded::imports_bytes`]).
    pub fn slot(&self) -> usize {
        self.slot
    }
}

fn path_key(path: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(path)
}

impl Loaded {
    /// The cache in `bytes` (a whole file), or an empty one when it is not
    /// valid for this build and Python.
    fn from_bytes(bytes: Vec<u8>, version: (u8, u8)) -> Loaded {
        let Some(slots) = index(&bytes, version) else { return Loaded::default() };
        let mut by_hash = FxHashMap::default();
        let mut by_path = FxHashMap::default();
        by_hash.reserve(slots.len());
        by_path.reserve(slots.len());
        for (i, slot) in slots.iter().enumerate() {
            by_hash.entry(slot.hash).or_insert(i as u32);
            by_path.entry(path_key(&bytes[slot.path.clone()])).or_insert(i as u32);
        }
        Loaded { bytes, slots, by_hash, by_path }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    #[cfg(test)]
    fn imports_of(&self, slot: usize) -> Vec<ImportStmt> {
        let mut imports = Vec::new();
        for_each_import(self.imports_bytes(slot), |from_import, level, module, names| {
            imports.push(ImportStmt {
                line: 0,
                from_import,
                module: module.map(str::to_owned),
                level,
                names: names.iter().map(|n| Alias { name: (*n).to_owned(), asname: None }).collect(),
            });
        });
        imports
    }

    /// Entry `slot`'s imports, encoded (for [`for_each_import`]).
    pub fn imports_bytes(&self, slot: usize) -> &[u8] {
        let slot = &self.slots[slot];
        &self.bytes[slot.imports..slot.raw.end]
    }

    /// The entry of bytes with this content hash, if known: their imports
    /// are its imports.
    pub fn slot_with(&self, hash: ContentHash) -> Option<usize> {
        self.by_hash.get(&hash).map(|&i| i as usize)
    }

    /// The entry of `path`, if any.
    pub fn slot_of(&self, path: &Path) -> Option<usize> {
        let path = path.as_os_str().as_encoded_bytes();
        let i = *self.by_path.get(&path_key(path))? as usize;
        (self.bytes[self.slots[i].path.clone()] == *path).then_some(i)
    }

    /// Entry `slot` when `meta` (its file's metadata now) is the metadata
    /// it was hashed with, outside the racy window.
    pub fn unchanged(&self, slot: usize, meta: &Meta) -> Option<Unchanged> {
        let (_, hashed_at_ns) = self.recorded(slot).filter(|(seen, _)| seen == meta)?;
        let entry = &self.slots[slot];
        Some(Unchanged { hash: entry.hash, hashed_at_ns, bytecode_current: entry.bytecode_current, slot })
    }

    /// The metadata entry `slot`'s file was hashed with, and when, unless
    /// that was inside the racy window (then a look at the metadata cannot
    /// tell that the file is unchanged).
    pub fn recorded(&self, slot: usize) -> Option<(Meta, i64)> {
        self.slots[slot].meta.filter(|(seen, hashed_at)| !seen.is_racy(*hashed_at))
    }

    /// Whether entry `slot`'s file still has the metadata it was hashed
    /// with (one `lstat`; see [`Loaded::unchanged`]).
    #[cfg(unix)]
    pub fn still_unchanged(&self, slot: usize, lstat: &mut crate::fingerprint::Lstat) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let Some((seen, _)) = self.recorded(slot) else { return false };
        let path = Path::new(std::ffi::OsStr::from_bytes(&self.bytes[self.slots[slot].path.clone()]));
        lstat.regular_file(path) == Some(seen)
    }

    /// Whether `record` is already recorded as it is (the same bytes would
    /// be written).
    pub fn holds(&self, record: &Record) -> bool {
        let Some(i) = self.slot_of(record.path) else { return false };
        let slot = &self.slots[i];
        slot.hash == record.hash
            && slot.meta == record.meta
            && slot.bytecode_current == record.bytecode_current
            && self.imports_bytes(i) == record.imports
    }
}

/// Entries a registration made, encoded as it goes (one buffer, however
/// many entries: nothing per entry is kept on the heap).
#[derive(Debug, Default)]
pub struct Fresh {
    bytes: Vec<u8>,
    count: usize,
    /// Their paths' hashes: an old entry with one of these is replaced.
    paths: rustc_hash::FxHashSet<u64>,
}

impl Fresh {
    pub fn push(&mut self, record: &Record) {
        if record.path.to_str().is_none() || self.count >= MAX_ENTRIES {
            return;
        }
        self.paths.insert(path_key(record.path.as_os_str().as_encoded_bytes()));
        encode_entry(&mut self.bytes, record);
        self.count += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Where a workspace's cache lives: the cache directory and the file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    dir: PathBuf,
    stem: String,
    version: (u8, u8),
}

impl Location {
    pub fn new(dir: PathBuf, workspace: &[PathBuf], version: (u8, u8)) -> Location {
        let mut key = Vec::new();
        for path in workspace {
            key.extend_from_slice(path.to_string_lossy().as_bytes());
            key.push(0);
        }
        let stem = format!("ws-{:016x}", xxhash_rust::xxh3::xxh3_64(&key));
        Location { dir, stem, version }
    }

    pub fn file(&self) -> PathBuf {
        let build = xxhash_rust::xxh3::xxh3_64(BUILD_KEY.as_bytes()) as u32;
        self.dir.join(format!("{}-py{}.{}-{build:08x}.bin", self.stem, self.version.0, self.version.1))
    }

    /// The cache, or an empty one when it cannot be read or is not valid.
    pub fn load(&self) -> Loaded {
        std::fs::read(self.file()).map(|bytes| Loaded::from_bytes(bytes, self.version)).unwrap_or_default()
    }

    /// Write `fresh` entries (most recent) before the `old` ones they do not
    /// replace; errors are ignored (no cache is not an error). Files of this
    /// workspace written by other builds or Pythons are removed.
    pub fn store(&self, fresh: Fresh, old: &Loaded) {
        let mut out = header(self.version);
        let mut count = fresh.count;
        put_u32(&mut out, 0);
        let count_at = out.len() - 4;
        out.extend_from_slice(&fresh.bytes);
        let mut seen = fresh.paths;
        for slot in &old.slots {
            if count >= MAX_ENTRIES {
                break;
            }
            if seen.insert(path_key(&old.bytes[slot.path.clone()])) {
                out.extend_from_slice(&old.bytes[slot.raw.clone()]);
                count += 1;
            }
        }
        out[count_at..count_at + 4].copy_from_slice(&(count as u32).to_le_bytes());
        let checksum = xxhash_rust::xxh3::xxh3_64(&out);
        put_u64(&mut out, checksum);
        let _ = self.write(&out);
    }

    fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        std::fs::create_dir_all(&self.dir)?;
        let target = self.file();
        let unique = format!(
            "{}.{}.{:x}.tmp",
            self.stem,
            std::process::id(),
            crate::fingerprint::now_ns() as u64 ^ (bytes.len() as u64).rotate_left(32)
        );
        let temp = self.dir.join(unique);
        let result = (|| {
            // No fsync: a cache need not survive a crash, and a file cut
            // short by one fails its checksum and is ignored.
            let mut file = std::fs::File::create(&temp)?;
            file.write_all(bytes)?;
            drop(file);
            std::fs::rename(&temp, &target)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
            return result;
        }
        // Older builds' files for this workspace are of no use any more.
        if let Ok(listing) = std::fs::read_dir(&self.dir) {
            let name = target.file_name().map(|n| n.to_os_string());
            for item in listing.flatten() {
                let other = item.file_name();
                let text = other.to_string_lossy();
                if Some(&other) != name.as_ref() && text.starts_with(&self.stem) && text.ends_with(".bin") {
                    let _ = std::fs::remove_file(item.path());
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Format: header, entries, checksum (XXH3 of everything before it).

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

fn header(version: (u8, u8)) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    put_u32(&mut out, FORMAT);
    put_str(&mut out, BUILD_KEY);
    out.push(version.0);
    out.push(version.1);
    out
}

/// Append one entry (its path must be UTF-8).
fn encode_entry(out: &mut Vec<u8>, entry: &Record) {
    put_str(out, entry.path.to_str().unwrap_or_default());
    put_u64(out, entry.hash);
    let current = if entry.bytecode_current { 2 } else { 0 };
    match &entry.meta {
        Some((meta, hashed_at)) => {
            out.push(1 | current);
            for v in [meta.size, meta.mtime_ns as u64, meta.ctime_ns as u64, meta.ino, meta.dev] {
                put_u64(out, v);
            }
            put_u64(out, *hashed_at as u64);
        }
        None => out.push(current),
    }
    out.extend_from_slice(entry.imports);
}

#[cfg(test)]
impl Entry {
    /// `f` given this entry as a registration would record it.
    pub(crate) fn as_record<T>(&self, f: impl FnOnce(&Record) -> T) -> T {
        let mut imports = Vec::new();
        encode_imports(&mut imports, &self.imports);
        f(&Record {
            path: &self.path,
            hash: self.hash,
            meta: self.meta,
            bytecode_current: self.bytecode_current,
            imports: &imports,
        })
    }
}

#[cfg(test)]
pub(crate) fn encode(entries: &[Entry], version: (u8, u8)) -> Vec<u8> {
    let mut out = header(version);
    let entries: Vec<&Entry> = entries.iter().filter(|e| e.path.to_str().is_some()).collect();
    put_u32(&mut out, entries.len() as u32);
    for entry in entries {
        entry.as_record(|record| encode_entry(&mut out, record));
    }
    let checksum = xxhash_rust::xxh3::xxh3_64(&out);
    put_u64(&mut out, checksum);
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let slice = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(slice)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn str(&mut self) -> Option<&'a str> {
        let n = self.u32()? as usize;
        self.str_of(n)
    }

    fn str_of(&mut self, n: usize) -> Option<&'a str> {
        std::str::from_utf8(self.take(n)?).ok()
    }
}

/// Check a cache file whole (checksum, header, every entry) and index its
/// entries; `None` when it is not valid for this build and Python.
fn index(bytes: &[u8], version: (u8, u8)) -> Option<Vec<Slot>> {
    let (body, checksum) = bytes.split_at_checked(bytes.len().checked_sub(8)?)?;
    if xxhash_rust::xxh3::xxh3_64(body) != u64::from_le_bytes(checksum.try_into().ok()?) {
        return None;
    }
    let expected = header(version);
    body.strip_prefix(expected.as_slice())?;
    let mut r = Reader { bytes: body, at: expected.len() };
    let count = r.u32()? as usize;
    // Every entry takes at least 25 bytes: a count that cannot fit is corrupt.
    if count > (body.len() - r.at) / 25 {
        return None;
    }
    let mut slots = Vec::with_capacity(count);
    let mut names = Vec::new();
    for _ in 0..count {
        let start = r.at;
        let n = r.u32()? as usize;
        let path = r.at..r.at.checked_add(n)?;
        r.str_of(n)?;
        let hash = r.u64()?;
        let flags = r.u8()?;
        if flags & !3 != 0 {
            return None;
        }
        let meta = match flags & 1 {
            0 => None,
            _ => {
                let meta = Meta {
                    size: r.u64()?,
                    mtime_ns: r.u64()? as i64,
                    ctime_ns: r.u64()? as i64,
                    ino: r.u64()?,
                    dev: r.u64()?,
                };
                Some((meta, r.u64()? as i64))
            }
        };
        let imports = r.at;
        walk_imports(&mut r, &mut names, |_, _, _, _| {})?;
        slots.push(Slot { raw: start..r.at, path, imports, hash, meta, bytecode_current: flags & 2 != 0 });
    }
    (r.at == body.len()).then_some(slots)
}

/// An entry's imports, from where they start, each checked and given to
/// `f(from_import, level, module, names)` (`names`: a buffer to reuse);
/// `None` at the first malformed one.
fn walk_imports<'a>(
    r: &mut Reader<'a>,
    names: &mut Vec<&'a str>,
    mut f: impl FnMut(bool, u32, Option<&'a str>, &[&'a str]),
) -> Option<()> {
    for _ in 0..r.u32()? {
        let from_import = match r.u8()? {
            0 => false,
            1 => true,
            _ => return None,
        };
        let level = r.u32()?;
        let module = match r.u8()? {
            0 => None,
            1 => Some(r.str()?),
            _ => return None,
        };
        names.clear();
        for _ in 0..r.u32()? {
            names.push(r.str()?);
        }
        f(from_import, level, module, names);
    }
    Some(())
}

#[cfg(test)]
pub(crate) fn loaded(entries: &[Entry]) -> Loaded {
    Loaded::from_bytes(encode(entries, (3, 11)), (3, 11))
}

#[cfg(test)]
pub(crate) fn decode(bytes: &[u8], version: (u8, u8)) -> Option<Vec<Entry>> {
    let loaded = Loaded::from_bytes(bytes.to_vec(), version);
    if loaded.is_empty() && index(bytes, version).is_none() {
        return None;
    }
    let entries = (0..loaded.len())
        .map(|i| {
            let slot = &loaded.slots[i];
            Entry {
                path: PathBuf::from(
                    std::str::from_utf8(&loaded.bytes[slot.path.clone()]).unwrap_or_default(),
                ),
                hash: slot.hash,
                meta: slot.meta,
                bytecode_current: slot.bytecode_current,
                imports: loaded.imports_of(i),
            }
        })
        .collect();
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, hash: u64) -> Entry {
        Entry {
            path: PathBuf::from(path),
            hash,
            meta: Some((Meta { size: 3, mtime_ns: 1, ctime_ns: 2, ino: 4, dev: 5 }, 1_000_000_000_000)),
            bytecode_current: true,
            imports: vec![
                ImportStmt {
                    line: 0,
                    from_import: true,
                    module: Some("m".into()),
                    level: 1,
                    names: vec![Alias { name: "x".into(), asname: None }],
                },
                ImportStmt {
                    line: 0,
                    from_import: false,
                    module: None,
                    level: 0,
                    names: vec![Alias { name: "a.b".into(), asname: None }],
                },
            ],
        }
    }

    fn fresh(entries: &[Entry]) -> Fresh {
        let mut fresh = Fresh::default();
        for entry in entries {
            entry.as_record(|record| fresh.push(record));
        }
        fresh
    }

    #[test]
    fn round_trips_and_rejects_damage() {
        let entries =
            vec![entry("/ws/a.py", 1), Entry { meta: None, bytecode_current: false, ..entry("/ws/b.py", 2) }];
        let bytes = encode(&entries, (3, 11));
        assert_eq!(decode(&bytes, (3, 11)), Some(entries));
        assert_eq!(decode(&bytes, (3, 12)), None, "another Python");
        for cut in [0, 1, 8, bytes.len() / 2, bytes.len() - 1] {
            assert_eq!(decode(&bytes[..cut], (3, 11)), None, "truncated at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[bytes.len() / 2] ^= 1;
        assert_eq!(decode(&flipped, (3, 11)), None, "corrupt");
    }

    #[test]
    fn stores_one_entry_per_path_most_recent_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let location = Location::new(dir.path().to_path_buf(), &[PathBuf::from("/ws")], (3, 11));
        assert!(location.load().is_empty());
        location.store(fresh(&[entry("/ws/a.py", 1), entry("/ws/b.py", 2)]), &Loaded::default());
        let loaded = location.load();
        assert_eq!(loaded.len(), 2);
        location.store(fresh(&[entry("/ws/b.py", 3)]), &loaded);
        let loaded = location.load();
        assert_eq!(loaded.len(), 2);
        assert!(
            loaded.slot_with(3).is_some() && loaded.slot_with(2).is_none() && loaded.slot_with(1).is_some()
        );
        let meta = Meta { size: 3, mtime_ns: 1, ctime_ns: 2, ino: 4, dev: 5 };
        let a = loaded.slot_of(Path::new("/ws/a.py")).expect("a.py's entry");
        assert_eq!(loaded.unchanged(a, &meta).map(|e| e.hash), Some(1));
        let touched = Meta { mtime_ns: 7, ..meta };
        assert!(loaded.unchanged(a, &touched).is_none());
        let names: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").flatten().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }
}
