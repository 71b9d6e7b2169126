//! The persistent analysis cache: what each module file depends on, kept
//! across processes (a kernel restart registers the same files again).
//!
//! One file per workspace (the workspace directories name it), for one
//! engine build and one Python (major, minor): a registration reads one file
//! and, when it analysed something new, writes one file. Each entry holds a
//! module file's content hash and the dependencies found in those bytes (the
//! truth: looked up by content hash), plus the file's path and metadata when
//! it was hashed. The metadata lets a later registration skip reading a file
//! whose metadata is unchanged, by the rule change detection itself uses
//! (`fingerprint`): size, mtime, ctime, inode and device all equal, and the
//! hash taken outside the racy window. Entries are kept most recent first,
//! one per path, at most [`MAX_ENTRIES`].
//!
//! Dependencies are kept resolved (`imports::each_dependency`), as indexes
//! into one table of the file's distinct names: a registration interns each
//! name once, however many entries mention it. Resolved names depend on the
//! module's package only through relative imports: an entry with any records
//! the package they were resolved against, and answers only for a module of
//! that package.
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
use crate::graph::{Dep, NameId, Names};

const MAGIC: &[u8; 8] = b"LIVEIMPC";
const FORMAT: u32 = 3;
/// Entries kept per workspace file.
pub const MAX_ENTRIES: usize = 50_000;
/// Changes whenever the engine's analysis code may change its answers.
const BUILD_KEY: &str = env!("LIVEIMPORT_ANALYSIS_KEY");

/// One module file's entry, as a registration makes it.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    pub path: &'a Path,
    pub hash: ContentHash,
    /// The file's metadata when hashed, and when: `None` when it must not
    /// stand for the content (hashed within the racy window).
    pub meta: Option<(Meta, i64)>,
    /// The module's bytecode file was current when the entry was made (not
    /// older than the source and for other bytes): while the source keeps
    /// this metadata it stays so (a bytecode file is rewritten only when the
    /// source changes), and registration need not look at it again.
    pub bytecode_current: bool,
    /// The package its relative imports were resolved against; `None` when
    /// it has none (its dependencies are the same in any package).
    pub package: Option<&'a str>,
    /// Its dependencies, without repeats, in order (ids of the engine's
    /// `Names`, given to [`Location::store`] and [`Loaded::holds`]).
    pub deps: &'a [Dep],
}

/// A workspace's cache file, loaded: its bytes, checked whole, and an index
/// of its entries. An entry's dependencies are read only when asked for, and
/// entries kept as they were are written back with their bytes as they are
/// (only their names' indexes change).
#[derive(Debug, Default)]
pub struct Loaded {
    bytes: Vec<u8>,
    /// Where each name of the file's table lies in `bytes` (UTF-8, checked).
    names: Vec<(u32, u32)>,
    slots: Vec<Slot>,
    by_hash: FxHashMap<ContentHash, u32>,
    /// By the hash of the path's bytes (checked against the entry's path).
    by_path: FxHashMap<u64, u32>,
}

/// One entry of a loaded file: where its parts lie in `Loaded::bytes`.
#[derive(Debug)]
struct Slot {
    /// Where the entry starts.
    start: u32,
    hash: ContentHash,
    path: (u32, u32),
    /// Its package (`package.0 == package.1`: none recorded).
    package: (u32, u32),
    /// Where its metadata starts (0: none recorded).
    meta: u32,
    /// Where its dependency list starts, and where the entry ends.
    deps: u32,
    end: u32,
    bytecode_current: bool,
    /// Whether `package` holds one (an empty package is a package).
    relative: bool,
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
    /// Which entry of the loaded file (its dependencies: [`Loaded::deps`]).
    pub fn slot(&self) -> usize {
        self.slot
    }
}

fn path_key(path: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(path)
}

fn range(bytes: &[u8], (start, end): (u32, u32)) -> &[u8] {
    &bytes[start as usize..end as usize]
}

impl Loaded {
    /// The cache in `bytes` (a whole file), or an empty one when it is not
    /// valid for this build and Python.
    fn from_bytes(bytes: Vec<u8>, version: (u8, u8)) -> Loaded {
        let Some((names, slots)) = index(&bytes, version) else { return Loaded::default() };
        let mut by_hash = FxHashMap::default();
        let mut by_path = FxHashMap::default();
        by_hash.reserve(slots.len());
        by_path.reserve(slots.len());
        for (i, slot) in slots.iter().enumerate() {
            by_hash.entry(slot.hash).or_insert(i as u32);
            by_path.entry(path_key(range(&bytes, slot.path))).or_insert(i as u32);
        }
        Loaded { bytes, names, slots, by_hash, by_path }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// How many names the file's table holds (indexes of [`Loaded::deps`]).
    pub fn names_len(&self) -> usize {
        self.names.len()
    }

    /// How many bytes the names of the file's table take.
    pub fn names_bytes(&self) -> usize {
        self.names.iter().map(|(start, end)| (end - start) as usize).sum()
    }

    /// Name `i` of the file's table.
    pub fn name(&self, i: u32) -> &str {
        // Checked UTF-8 when loaded; an empty name would only fail to match.
        std::str::from_utf8(range(&self.bytes, self.names[i as usize])).unwrap_or_default()
    }

    /// Entry `slot`'s dependencies as indexes of the file's names,
    /// `(name, fallback)`, in order (their number first).
    pub fn deps(&self, slot: usize) -> (usize, impl Iterator<Item = (u32, Option<u32>)> + '_) {
        let slot = &self.slots[slot];
        let mut r = Reader { bytes: &self.bytes[..slot.end as usize], at: slot.deps as usize };
        let count = r.var().unwrap_or(0) as usize;
        let each = std::iter::from_fn(move || {
            let name = r.var()?;
            let fallback = r.var()?;
            Some((name, fallback.checked_sub(1)))
        });
        (count, each)
    }

    /// The package entry `slot`'s relative imports were resolved against.
    pub fn package(&self, slot: usize) -> Option<&str> {
        let slot = &self.slots[slot];
        slot.relative.then(|| std::str::from_utf8(range(&self.bytes, slot.package)).unwrap_or_default())
    }

    /// Whether entry `slot`'s dependencies are those of a module of
    /// `package` with its bytes.
    pub fn fits(&self, slot: usize, package: &str) -> bool {
        self.package(slot).is_none_or(|p| p == package)
    }

    /// The entry of bytes with this content hash, if known: their
    /// dependencies are its dependencies (see [`Loaded::fits`]).
    pub fn slot_with(&self, hash: ContentHash) -> Option<usize> {
        self.by_hash.get(&hash).map(|&i| i as usize)
    }

    /// The entry of `path`, if any.
    pub fn slot_of(&self, path: &Path) -> Option<usize> {
        let path = path.as_os_str().as_encoded_bytes();
        let i = *self.by_path.get(&path_key(path))? as usize;
        (range(&self.bytes, self.slots[i].path) == path).then_some(i)
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
        self.meta(slot).filter(|(seen, hashed_at)| !seen.is_racy(*hashed_at))
    }

    fn meta(&self, slot: usize) -> Option<(Meta, i64)> {
        let at = self.slots[slot].meta;
        if at == 0 {
            return None;
        }
        let mut r = Reader { bytes: &self.bytes, at: at as usize };
        let meta = Meta {
            size: r.u64()?,
            mtime_ns: r.u64()? as i64,
            ctime_ns: r.u64()? as i64,
            ino: r.u64()?,
            dev: r.u64()?,
        };
        Some((meta, r.u64()? as i64))
    }

    /// Whether entry `slot`'s file still has the metadata it was hashed
    /// with (one `lstat`; see [`Loaded::unchanged`]).
    #[cfg(unix)]
    pub fn still_unchanged(&self, slot: usize, lstat: &mut crate::fingerprint::Lstat) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let Some((seen, _)) = self.recorded(slot) else { return false };
        let path = Path::new(std::ffi::OsStr::from_bytes(range(&self.bytes, self.slots[slot].path)));
        lstat.regular_file(path) == Some(seen)
    }

    /// Whether `record` (its names those of `names`) is already recorded as
    /// it is.
    pub fn holds(&self, record: &Record, names: &Names) -> bool {
        let Some(i) = self.slot_of(record.path) else { return false };
        let slot = &self.slots[i];
        let (count, mut deps) = self.deps(i);
        slot.hash == record.hash
            && self.meta(i) == record.meta
            && slot.bytecode_current == record.bytecode_current
            && self.package(i) == record.package
            && count == record.deps.len()
            && record.deps.iter().all(|dep| {
                deps.next().is_some_and(|(name, fallback)| {
                    self.name(name) == names.resolve(dep.name)
                        && match (fallback, dep.fallback()) {
                            (None, None) => true,
                            (Some(f), Some(g)) => self.name(f) == names.resolve(g),
                            _ => false,
                        }
                })
            })
    }
}

/// Entries a registration made, encoded as it goes (one buffer, however
/// many entries: nothing per entry is kept on the heap), their names as the
/// engine's ids until written.
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

    /// Write `fresh` entries (most recent; their names those of `names`)
    /// before the `old` ones they do not replace; errors are ignored (no
    /// cache is not an error). Files of this workspace written by other
    /// builds or Pythons are removed.
    pub fn store(&self, fresh: Fresh, old: &Loaded, names: &Names) {
        let _ = self.write(&serialize(fresh, old, names, self.version));
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
// Format: header; the name table (a count, then each name); the entries (a
// count, then each); a checksum (XXH3 of everything before it). An entry:
// its path, content hash, flags (1: metadata follows, 2: bytecode current,
// 4: a package follows), the metadata, the package, then its dependencies:
// a count, and for each the index of its name and of its fallback plus one
// (0: none). Lengths, counts and indexes are LEB128; the rest little-endian.

const HAS_META: u8 = 1;
const BYTECODE_CURRENT: u8 = 2;
const RELATIVE: u8 = 4;
/// The fewest bytes an entry takes (empty path, no metadata, no package,
/// no dependency).
const MIN_ENTRY: usize = 11;

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_var(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_var(out, s.len() as u32);
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

/// Append one entry (its path must be UTF-8), its names as `Names` ids.
fn encode_entry(out: &mut Vec<u8>, entry: &Record) {
    put_str(out, entry.path.to_str().unwrap_or_default());
    put_u64(out, entry.hash);
    let mut flags = if entry.bytecode_current { BYTECODE_CURRENT } else { 0 };
    flags |= if entry.meta.is_some() { HAS_META } else { 0 };
    flags |= if entry.package.is_some() { RELATIVE } else { 0 };
    out.push(flags);
    if let Some((meta, hashed_at)) = &entry.meta {
        for v in [meta.size, meta.mtime_ns as u64, meta.ctime_ns as u64, meta.ino, meta.dev] {
            put_u64(out, v);
        }
        put_u64(out, *hashed_at as u64);
    }
    if let Some(package) = entry.package {
        put_str(out, package);
    }
    put_var(out, entry.deps.len() as u32);
    for dep in entry.deps {
        put_var(out, dep.name);
        put_var(out, dep.fallback().map_or(0, |f| f + 1));
    }
}

/// The name table of a file being written: each name once, numbered in the
/// order first used.
struct Table<'a> {
    text: Vec<u8>,
    count: u32,
    /// By engine name id, and by index in the old file (`u32::MAX`: not yet).
    of_id: Vec<u32>,
    of_old: Vec<u32>,
    names: &'a Names,
}

impl Table<'_> {
    fn add(&mut self, name: &str) -> u32 {
        put_str(&mut self.text, name);
        self.count += 1;
        self.count - 1
    }

    fn id(&mut self, id: NameId) -> u32 {
        let i = id as usize;
        if self.of_id.len() <= i {
            self.of_id.resize(i + 1, u32::MAX);
        }
        if self.of_id[i] == u32::MAX {
            self.of_id[i] = self.add(self.names.resolve(id));
        }
        self.of_id[i]
    }

    /// Name `i` of `old`'s table (one of `names` too is written once).
    fn old(&mut self, old: &Loaded, i: u32) -> u32 {
        let at = i as usize;
        if self.of_old[at] == u32::MAX {
            let name = old.name(i);
            self.of_old[at] = match self.names.get(name) {
                Some(id) => self.id(id),
                None => self.add(name),
            };
        }
        self.of_old[at]
    }
}

/// The file for `fresh` entries (most recent) before the `old` ones they do
/// not replace, at most [`MAX_ENTRIES`].
fn serialize(fresh: Fresh, old: &Loaded, names: &Names, version: (u8, u8)) -> Vec<u8> {
    let mut table = Table {
        text: Vec::new(),
        count: 0,
        of_id: Vec::new(),
        of_old: vec![u32::MAX; old.names.len()],
        names,
    };
    let mut entries = Vec::with_capacity(fresh.bytes.len() + old.bytes.len());
    let mut count = 0;
    let mut r = Reader { bytes: &fresh.bytes, at: 0 };
    while r.at < fresh.bytes.len() {
        // Made here: well formed.
        let Some(slot) = entry(&mut r, u32::MAX) else { break };
        entries.extend_from_slice(&fresh.bytes[slot.start as usize..slot.deps as usize]);
        let mut deps = Reader { bytes: &fresh.bytes[..slot.end as usize], at: slot.deps as usize };
        let n = deps.var().unwrap_or(0);
        put_var(&mut entries, n);
        for _ in 0..n {
            let (Some(name), Some(fallback)) = (deps.var(), deps.var()) else { break };
            let name = table.id(name);
            put_var(&mut entries, name);
            let fallback = fallback.checked_sub(1).map_or(0, |f| table.id(f) + 1);
            put_var(&mut entries, fallback);
        }
        count += 1;
    }
    let mut seen = fresh.paths;
    for (i, slot) in old.slots.iter().enumerate() {
        if count >= MAX_ENTRIES {
            break;
        }
        if seen.insert(path_key(range(&old.bytes, slot.path))) {
            entries.extend_from_slice(&old.bytes[slot.start as usize..slot.deps as usize]);
            let (n, deps) = old.deps(i);
            put_var(&mut entries, n as u32);
            for (name, fallback) in deps {
                let name = table.old(old, name);
                put_var(&mut entries, name);
                let fallback = fallback.map_or(0, |f| table.old(old, f) + 1);
                put_var(&mut entries, fallback);
            }
            count += 1;
        }
    }
    let mut out = header(version);
    out.reserve(8 + table.text.len() + entries.len() + 8);
    put_u32(&mut out, table.count);
    out.extend_from_slice(&table.text);
    put_u32(&mut out, count as u32);
    out.extend_from_slice(&entries);
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

    fn var(&mut self) -> Option<u32> {
        let mut v: u32 = 0;
        for shift in [0, 7, 14, 21, 28] {
            let byte = self.u8()?;
            v |= u32::from(byte & 0x7f).checked_shl(shift)?;
            if byte < 0x80 {
                return (shift < 28 || byte < 0x10).then_some(v);
            }
        }
        None
    }

    /// A length-prefixed UTF-8 string: where it lies.
    fn str(&mut self) -> Option<(u32, u32)> {
        let n = self.var()? as usize;
        let start = self.at;
        std::str::from_utf8(self.take(n)?).ok()?;
        Some((start as u32, self.at as u32))
    }
}

/// A whole entry at `r`, checked (its dependencies' indexes below
/// `names`), and where its parts lie.
fn entry(r: &mut Reader, names: u32) -> Option<Slot> {
    let start = r.at as u32;
    let path = r.str()?;
    let hash = r.u64()?;
    let flags = r.u8()?;
    if flags & !(HAS_META | BYTECODE_CURRENT | RELATIVE) != 0 {
        return None;
    }
    let meta = if flags & HAS_META != 0 {
        let at = r.at as u32;
        r.take(48)?;
        at
    } else {
        0
    };
    let package = if flags & RELATIVE != 0 { r.str()? } else { (0, 0) };
    let deps = r.at as u32;
    for _ in 0..r.var()? {
        let (name, fallback) = (r.var()?, r.var()?);
        if name >= names || fallback > names {
            return None;
        }
    }
    Some(Slot {
        start,
        hash,
        path,
        package,
        meta,
        deps,
        end: r.at as u32,
        bytecode_current: flags & BYTECODE_CURRENT != 0,
        relative: flags & RELATIVE != 0,
    })
}

/// Check a cache file whole (checksum, header, names, every entry) and index
/// its names and entries; `None` when it is not valid for this build and
/// Python.
#[allow(clippy::type_complexity)]
fn index(bytes: &[u8], version: (u8, u8)) -> Option<(Vec<(u32, u32)>, Vec<Slot>)> {
    // Offsets are kept as u32 (a file is far smaller: at most MAX_ENTRIES).
    if bytes.len() > u32::MAX as usize {
        return None;
    }
    let (body, checksum) = bytes.split_at_checked(bytes.len().checked_sub(8)?)?;
    if xxhash_rust::xxh3::xxh3_64(body) != u64::from_le_bytes(checksum.try_into().ok()?) {
        return None;
    }
    let expected = header(version);
    body.strip_prefix(expected.as_slice())?;
    let mut r = Reader { bytes: body, at: expected.len() };
    // Counts that cannot fit are corrupt (a name takes a byte at least).
    let count = r.u32()? as usize;
    if count > body.len() - r.at {
        return None;
    }
    let mut names = Vec::with_capacity(count);
    for _ in 0..count {
        names.push(r.str()?);
    }
    let count = r.u32()? as usize;
    if count > (body.len() - r.at) / MIN_ENTRY {
        return None;
    }
    let mut slots = Vec::with_capacity(count);
    for _ in 0..count {
        slots.push(entry(&mut r, names.len() as u32)?);
    }
    (r.at == body.len()).then_some((names, slots))
}

/// One module file, analysed: an entry decoded whole, its names as
/// strings (for tests).
#[cfg(test)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    pub hash: ContentHash,
    pub meta: Option<(Meta, i64)>,
    pub bytecode_current: bool,
    pub package: Option<String>,
    pub deps: Vec<(String, Option<String>)>,
}

#[cfg(test)]
impl Entry {
    /// `f` given this entry as a registration would record it, its names
    /// interned in `names`.
    pub(crate) fn as_record<T>(&self, names: &mut Names, f: impl FnOnce(&Record) -> T) -> T {
        let deps: Vec<Dep> = self
            .deps
            .iter()
            .map(|(name, fallback)| {
                Dep::new(names.intern(name), fallback.as_deref().map(|f| names.intern(f)))
            })
            .collect();
        f(&Record {
            path: &self.path,
            hash: self.hash,
            meta: self.meta,
            bytecode_current: self.bytecode_current,
            package: self.package.as_deref(),
            deps: &deps,
        })
    }
}

#[cfg(test)]
pub(crate) fn encode(entries: &[Entry], version: (u8, u8)) -> Vec<u8> {
    let mut names = Names::default();
    let mut fresh = Fresh::default();
    for entry in entries {
        entry.as_record(&mut names, |record| fresh.push(record));
    }
    serialize(fresh, &Loaded::default(), &names, version)
}

#[cfg(test)]
pub(crate) fn loaded(entries: &[Entry]) -> Loaded {
    Loaded::from_bytes(encode(entries, (3, 11)), (3, 11))
}

#[cfg(test)]
pub(crate) fn decode(bytes: &[u8], version: (u8, u8)) -> Option<Vec<Entry>> {
    index(bytes, version)?;
    let loaded = Loaded::from_bytes(bytes.to_vec(), version);
    let entries = (0..loaded.len())
        .map(|i| {
            let slot = &loaded.slots[i];
            let name = |n: u32| loaded.name(n).to_owned();
            Entry {
                path: PathBuf::from(std::str::from_utf8(range(&loaded.bytes, slot.path)).unwrap_or_default()),
                hash: slot.hash,
                meta: loaded.meta(i),
                bytecode_current: slot.bytecode_current,
                package: loaded.package(i).map(str::to_owned),
                deps: loaded.deps(i).1.map(|(n, f)| (name(n), f.map(name))).collect(),
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
            package: Some("p".into()),
            deps: vec![
                ("p.m.x".into(), Some("p.m".into())),
                ("a.b".into(), None),
                ("p.m.y".into(), Some("p.m".into())),
            ],
        }
    }

    fn fresh(entries: &[Entry], names: &mut Names) -> Fresh {
        let mut fresh = Fresh::default();
        for entry in entries {
            entry.as_record(names, |record| fresh.push(record));
        }
        fresh
    }

    #[test]
    fn round_trips_and_rejects_damage() {
        let entries = vec![
            entry("/ws/a.py", 1),
            Entry { meta: None, bytecode_current: false, package: None, ..entry("/ws/b.py", 2) },
            Entry { package: Some(String::new()), deps: Vec::new(), ..entry("/ws/c.py", 3) },
        ];
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
    fn any_bytes_with_a_valid_checksum_load_without_panicking() {
        // Not a format check (the checksum catches damage): whatever a file
        // holds, loading it and reading every entry back stays in bounds.
        let entries = vec![entry("/ws/a.py", 1), Entry { package: None, ..entry("/ws/b.py", 2) }];
        let bytes = encode(&entries, (3, 11));
        let body = bytes.len() - 8;
        for at in 0..body {
            for value in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let mut changed = bytes[..body].to_vec();
                changed[at] = value;
                let checksum = xxhash_rust::xxh3::xxh3_64(&changed);
                changed.extend_from_slice(&checksum.to_le_bytes());
                if let Some(decoded) = decode(&changed, (3, 11)) {
                    assert_eq!(decoded.len(), 2);
                }
            }
        }
    }

    #[test]
    fn stores_one_entry_per_path_most_recent_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let location = Location::new(dir.path().to_path_buf(), &[PathBuf::from("/ws")], (3, 11));
        assert!(location.load().is_empty());
        let mut names = Names::default();
        let (a, b) = (entry("/ws/a.py", 1), entry("/ws/b.py", 2));
        location.store(fresh(&[a.clone(), b], &mut names), &Loaded::default(), &names);
        let loaded = location.load();
        assert_eq!(loaded.len(), 2);
        // Written by another engine (other name ids), with a name of its own.
        let mut names = Names::default();
        names.intern("unrelated");
        let b = Entry {
            deps: vec![("q".into(), None), ("p.m.x".into(), Some("p.m".into()))],
            ..entry("/ws/b.py", 3)
        };
        location.store(fresh(std::slice::from_ref(&b), &mut names), &loaded, &names);
        assert_eq!(decode(&std::fs::read(location.file()).expect("written"), (3, 11)), Some(vec![b, a]));
        let loaded = location.load();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded.names_len(), 5, "each name once");
        assert!(
            loaded.slot_with(3).is_some() && loaded.slot_with(2).is_none() && loaded.slot_with(1).is_some()
        );
        let meta = Meta { size: 3, mtime_ns: 1, ctime_ns: 2, ino: 4, dev: 5 };
        let a = loaded.slot_of(Path::new("/ws/a.py")).expect("a.py's entry");
        assert!(loaded.fits(a, "p") && !loaded.fits(a, "q"), "relative imports resolved in p");
        assert_eq!(loaded.unchanged(a, &meta).map(|e| e.hash), Some(1));
        let touched = Meta { mtime_ns: 7, ..meta };
        assert!(loaded.unchanged(a, &touched).is_none());
        let names: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").flatten().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }
}
