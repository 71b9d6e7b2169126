//! Tracking: registration, the discovery of the workspace modules that
//! tracked modules import, and the workspace itself.

use std::path::{Path, PathBuf};

use crate::bindings::{Binding, Records};
use crate::cache::{Fresh, Loaded, Location, Record};
use crate::fingerprint::{self, Observed};
use crate::graph::{Dep, ModId, Module, NameId, NO_NAME};
use crate::imports::{self, Dependency, ImportStmt};
use crate::scan;
use crate::source::{self, Binds};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::{AnalysisFailure, Engine, EngineError, ModuleMeta, Namespace, Resolution, Resolver};

/// A module's source, analysed: what it depends on, and (when asked) the
/// names it binds.
#[derive(Clone, Debug)]
pub(crate) struct Analysed {
    pub dependencies: Vec<Dependency>,
    pub binds: Binds,
}

/// Analyse a module's source bytes: its dependencies, deduplicated, in
/// source order.
pub(crate) fn analyse(
    name: &str,
    is_package: bool,
    bytes: &[u8],
    version: (u8, u8),
    binds: bool,
) -> Result<Analysed, AnalysisFailure> {
    let source = source::analyze_module(bytes, version, binds)?;
    Ok(Analysed { dependencies: dependencies(name, is_package, &source.imports), binds: source.binds })
}

/// The modules a module's imports depend on, deduplicated, in source order.
pub(crate) fn dependencies(name: &str, is_package: bool, imports: &[ImportStmt]) -> Vec<Dependency> {
    let package = imports::package_of(name, is_package);
    let mut dependencies = Vec::new();
    for stmt in imports {
        stmt.dependencies(package, &mut dependencies);
    }
    first_of_each(dependencies)
}

/// `items` without repeats, each where it first appears.
fn first_of_each<T: Clone + Eq + std::hash::Hash>(mut items: Vec<T>) -> Vec<T> {
    if items.len() <= 32 {
        let mut unique: Vec<T> = Vec::with_capacity(items.len());
        for item in items {
            if !unique.contains(&item) {
                unique.push(item);
            }
        }
        return unique;
    }
    let mut seen = FxHashSet::default();
    seen.reserve(items.len());
    items.retain(|item| seen.insert(item.clone()));
    items
}

/// Separators of [`find_dependencies`]'s text (never in a module name).
const NO_FALLBACK: char = '\x00';
const SAME_FALLBACK: char = '\x01';
const FALLBACK: char = '\x02';
const END: char = '\n';

/// Write the [`dependencies`] of `imports` in `package` (by the same rule,
/// `imports::each_dependency`, repeats kept) to `out` as text, for the
/// calling thread to intern ([`intern_found`]): one allocation per file,
/// made on a reading thread. Each is its name, then [`NO_FALLBACK`], or
/// [`SAME_FALLBACK`] (its statement's, given before), or [`FALLBACK`] and
/// the fallback, then [`END`]. Returns whether an import is relative (the
/// dependencies then hold only in `package`).
fn find_dependencies(out: &mut String, imports: &[ImportStmt], package: &str, buf: &mut String) -> bool {
    let mut relative = false;
    for stmt in imports {
        relative |= stmt.level > 0;
        let names = stmt.names.iter().map(|alias| alias.name.as_str());
        let mut given = false;
        let module = stmt.module.as_deref();
        imports::each_dependency(
            stmt.from_import,
            stmt.level,
            module,
            names,
            package,
            buf,
            |name, fallback| {
                out.push_str(name);
                match fallback {
                    None => out.push(NO_FALLBACK),
                    Some(_) if given => out.push(SAME_FALLBACK),
                    Some(fallback) => {
                        out.push(FALLBACK);
                        out.push_str(fallback);
                        given = true;
                    }
                }
                out.push(END);
            },
        );
    }
    relative
}

/// The dependencies [`find_dependencies`] wrote, interned, without repeats,
/// in the order [`Table::intern_deps`] would intern them.
fn intern_found(table: &mut crate::graph::Table, found: &str) -> Vec<Dep> {
    let mut deps: Vec<Dep> = Vec::new();
    let mut fallback_id: Option<NameId> = None;
    for line in found.split_terminator(END) {
        let Some(at) = line.find([NO_FALLBACK, SAME_FALLBACK, FALLBACK]) else { continue };
        let name = table.intern(&line[..at]);
        let fallback = match line[at..].chars().next() {
            Some(SAME_FALLBACK) => fallback_id,
            Some(FALLBACK) => {
                fallback_id = Some(table.intern(&line[at + 1..]));
                fallback_id
            }
            _ => None,
        };
        deps.push(Dep::new(name, fallback));
    }
    first_of_each(deps)
}

/// The dependencies of a loaded cache entry, interned: each of the file's
/// names once per operation (`ids`, by index of the file's table).
fn cached_deps(table: &mut crate::graph::Table, ids: &mut [NameId], known: &Loaded, slot: usize) -> Vec<Dep> {
    let (count, each) = known.deps(slot);
    let mut deps = Vec::with_capacity(count);
    let mut id = |i: u32| {
        let id = &mut ids[i as usize];
        if *id == NO_NAME {
            *id = table.intern(known.name(i));
        }
        *id
    };
    for (name, fallback) in each {
        let name = id(name);
        deps.push(Dep::new(name, fallback.map(&mut id)));
    }
    deps
}

/// How registrations read module files: the persistent cache (loaded for
/// one discovery, dropped after it) and what this engine has done.
#[derive(Debug, Default)]
pub(crate) struct Reading {
    /// Where the cache lives; `None`: no cache.
    pub dir: Option<PathBuf>,
    pub counts: ReadCounts,
    /// Modules prepared by the operation under way.
    pub prepared: usize,
}

/// How module files were analysed at registration, since the engine began.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadCounts {
    /// Parsed fully.
    pub parsed: u64,
    /// Read with the token scanner (the bytecode showed CPython compiled them).
    pub scanned: u64,
    /// Answered by the persistent cache (by content hash).
    pub cached: u64,
    /// Of those, files not even read (unchanged metadata).
    pub unread: u64,
    /// Cache files written.
    pub cache_writes: u64,
}

/// The workspace: directories whose modules are tracked when a tracked
/// module imports them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Workspace {
    dirs: Vec<PathBuf>,
    /// The same directories with symbolic links resolved.
    resolved: Vec<PathBuf>,
}

impl Workspace {
    pub fn new(dirs: Vec<PathBuf>) -> Workspace {
        let resolved = dirs.iter().filter_map(|dir| std::fs::canonicalize(dir).ok()).collect();
        Workspace { dirs, resolved }
    }

    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Whether `file` lies under a workspace directory, as written or once
    /// symbolic links are resolved on both sides (macOS's `/tmp` is
    /// `/private/tmp`; a project may be reached through a link).
    pub fn contains(&self, file: &Path) -> bool {
        // The usual case first, on bytes: `dir` + separator + more.
        let bytes = file.as_os_str().as_encoded_bytes();
        let under = |dir: &PathBuf| {
            let dir = dir.as_os_str().as_encoded_bytes();
            bytes.len() > dir.len()
                && bytes.starts_with(dir)
                && std::path::is_separator(char::from(bytes[dir.len()]))
                && !dir.ends_with(b"/")
        };
        if self.dirs.iter().any(|dir| under(dir) || file.starts_with(dir)) {
            return true;
        }
        if self.resolved.is_empty() {
            return false;
        }
        let Ok(resolved) = std::fs::canonicalize(file) else { return false };
        self.resolved.iter().any(|dir| resolved.starts_with(dir))
    }
}

impl Engine {
    /// Register `records` for namespace `ns` and track `modules` (the
    /// modules the statements name, with their metadata), then the workspace
    /// modules they import, transitively. On error nothing changes.
    pub fn register(
        &mut self,
        ns: u64,
        clear: bool,
        records: Vec<Binding>,
        modules: Vec<ModuleMeta>,
        resolver: &mut dyn Resolver,
    ) -> Result<(), EngineError> {
        self.ensure_topology();
        let checkpoint = self.table.len();
        let untrackable = self.untrackable.clone();
        let saved = self.namespaces.iter().position(|n| n.id == ns).map(|i| (i, self.namespaces[i].clone()));
        let result = self.register_inner(ns, clear, records, modules, resolver);
        self.finish_reading();
        if result.is_err() {
            self.table.truncate(checkpoint);
            self.untrackable = untrackable;
            match saved {
                Some((i, entry)) => self.namespaces[i] = entry,
                None => self.namespaces.retain(|n| n.id != ns),
            }
        }
        self.topology_stale = true;
        self.ensure_topology();
        result
    }

    fn register_inner(
        &mut self,
        ns: u64,
        clear: bool,
        records: Vec<Binding>,
        modules: Vec<ModuleMeta>,
        resolver: &mut dyn Resolver,
    ) -> Result<(), EngineError> {
        let mut slots = Vec::with_capacity(modules.len());
        let mut untracked = Vec::new();
        for meta in modules {
            let id = self.table.get(&meta.name);
            if id.is_none() {
                untracked.push(meta);
            }
            slots.push(id);
        }
        let mut prepared = self.prepare_batch(untracked).into_iter();
        let mut roots = Vec::with_capacity(slots.len());
        for slot in slots {
            match slot {
                Some(id) => roots.push(id),
                None => {
                    if let Some(prepared) = prepared.next() {
                        roots.push(self.push_prepared(prepared, true)?);
                    }
                }
            }
        }
        let index = match self.namespaces.iter().position(|n| n.id == ns) {
            Some(i) => i,
            None => {
                self.namespaces.push(Namespace { id: ns, records: Records::default(), roots: Vec::new() });
                self.namespaces.len() - 1
            }
        };
        let entry = &mut self.namespaces[index];
        if clear {
            entry.records = Records::default();
            entry.roots.clear();
        }
        for record in records {
            entry.records.push(record);
        }
        for id in roots {
            if !entry.roots.contains(&id) {
                entry.roots.push(id);
            }
        }
        if entry.records.is_empty() && entry.roots.is_empty() {
            self.namespaces.remove(index);
        }
        self.topology_stale = true;
        self.discover(resolver, true, None)
    }

    /// Add a module read and analysed by [`prepare`]. With `strict`, a file
    /// that cannot be analysed is an error; otherwise the module is tracked
    /// as out of date and the next sync reports it.
    fn push_prepared(&mut self, prepared: Prepared, strict: bool) -> Result<ModId, EngineError> {
        let Prepared { meta, target, observed, edited_since_import, analysed, deps, .. } = prepared;
        let in_workspace = meta.file.as_deref().is_some_and(|f| self.workspace.contains(f));
        let excluded = self.excluded.contains(&meta.name);
        let mut module = Module {
            name: self.table.intern(&meta.name),
            file: meta.file.map(PathBuf::into_boxed_path),
            target: target.map(PathBuf::into_boxed_path),
            is_package: meta.is_package,
            in_workspace,
            deps: Box::default(),
            loaded: None,
            observed: Observed::Missing,
            excluded,
        };
        if let Some(file) = module.file.as_deref() {
            let failure = match (&observed, analysed) {
                (Observed::Present { hash, .. }, Some(Ok(()))) => {
                    module.deps = deps.into_boxed_slice();
                    // Unknown when the file changed after the import: the
                    // next sync reloads it.
                    module.loaded = if edited_since_import { None } else { Some(*hash) };
                    None
                }
                (_, Some(Err(error))) => Some(error),
                (Observed::Unreadable(reason), _) => Some(AnalysisFailure::Unreadable(reason.clone())),
                (Observed::Directory, _) => Some(AnalysisFailure::Unreadable("Is a directory".into())),
                _ => None,
            };
            if let (Some(error), true) = (failure, strict) {
                return Err(EngineError::Analysis { module: meta.name, file: file.to_path_buf(), error });
            }
            module.observed = observed;
        }
        Ok(self.table.push(module))
    }

    /// Track the workspace modules that reachable modules import, until no
    /// new one appears: a breadth-first walk from the roots that asks the
    /// resolver about unknown names one level at a time, in batches.
    ///
    /// With `seeds`, only the imports of those modules (whose dependencies
    /// just changed) and of modules newly tracked are examined: the rest of
    /// the graph was examined when its modules were tracked.
    pub(crate) fn discover(
        &mut self,
        resolver: &mut dyn Resolver,
        strict: bool,
        seeds: Option<&[ModId]>,
    ) -> Result<(), EngineError> {
        let direct = self.direct_flags();
        let walk_known = seeds.is_none();
        let mut visited = vec![false; self.table.len()];
        let mut queue: Vec<ModId> = match seeds {
            None => self.roots(),
            Some(seeds) => seeds.to_vec(),
        };
        queue.sort_unstable();
        queue.dedup();
        for &id in &queue {
            visited[id] = true;
        }
        let mut added = false;
        let mut absent: FxHashSet<NameId> = FxHashSet::default();
        // Loaded modules that are not packages (`__path__`-less): names
        // below them cannot be submodules, so they are not asked about.
        let mut plain: FxHashSet<NameId> = FxHashSet::default();
        let mut head = 0;
        loop {
            let mut asked: FxHashSet<NameId> = FxHashSet::default();
            let mut wanted: Vec<NameId> = Vec::new();
            // `m.x` of `from m import x`, with `m`: asked once `m` is known.
            let mut children: Vec<(NameId, NameId)> = Vec::new();
            while head < queue.len() {
                let id = queue[head];
                head += 1;
                let deps = &self.table.modules[id].deps;
                for dep in deps {
                    let parent = dep.fallback();
                    // `m.x` of `from m import x` with `m` tracked and not a
                    // package: `x` is no submodule, and `m` is known.
                    if parent.is_some_and(|p| self.table.is_plain_module(p)) {
                        continue;
                    }
                    for name in std::iter::once(dep.name).chain(parent) {
                        if self.table.get_id(name).is_none()
                            && !self.untrackable.contains(&name)
                            && !absent.contains(&name)
                            && !asked.contains(&name)
                        {
                            match parent {
                                Some(parent) if name == dep.name => children.push((name, parent)),
                                _ => {
                                    asked.insert(name);
                                    wanted.push(name);
                                }
                            }
                        }
                    }
                }
                if walk_known {
                    let follow = |d: ModId| {
                        direct.get(d).copied().unwrap_or(false) || self.table.modules[d].in_workspace
                    };
                    self.table.each_edge(id, deps, &follow, |target| {
                        if !visited[target] {
                            visited[target] = true;
                            queue.push(target);
                        }
                    });
                }
            }
            if wanted.is_empty() && children.is_empty() {
                break;
            }
            let mut to_track: Vec<ModuleMeta> = Vec::new();
            self.ask(resolver, wanted, &mut to_track, &mut absent, &mut plain)?;
            let is_plain = |name: NameId| plain.contains(&name) || self.table.is_plain_module(name);
            let mut wanted = Vec::new();
            for (child, parent) in children {
                if !is_plain(parent) && !absent.contains(&child) && asked.insert(child) {
                    wanted.push(child);
                }
            }
            self.ask(resolver, wanted, &mut to_track, &mut absent, &mut plain)?;
            for prepared in self.prepare_batch(to_track) {
                let id = self.push_prepared(prepared, strict)?;
                visited.push(true);
                queue.push(id);
                added = true;
            }
        }
        if added || walk_known {
            self.topology_stale = true;
        }
        Ok(())
    }

    /// Ask the resolver about `wanted` names: those to track (loaded from a
    /// source in the workspace) go to `to_track`.
    fn ask(
        &mut self,
        resolver: &mut dyn Resolver,
        wanted: Vec<NameId>,
        to_track: &mut Vec<ModuleMeta>,
        absent: &mut FxHashSet<NameId>,
        plain: &mut FxHashSet<NameId>,
    ) -> Result<(), EngineError> {
        if wanted.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = wanted.iter().map(|&n| self.table.names.resolve(n).to_owned()).collect();
        let answers = resolver.resolve(&names).map_err(EngineError::Resolver)?;
        for ((name_id, name), answer) in wanted.into_iter().zip(names).zip(answers) {
            match answer {
                Resolution::Absent => {
                    absent.insert(name_id);
                }
                Resolution::NoSource => {
                    self.untrackable.insert(name_id);
                }
                Resolution::Source(meta) => {
                    if !meta.is_package {
                        plain.insert(name_id);
                    }
                    let inside = meta.file.as_deref().is_some_and(|f| self.workspace.contains(f));
                    if inside && meta.name == name && self.table.get_id(name_id).is_none() {
                        to_track.push(meta);
                    } else {
                        self.untrackable.insert(name_id);
                    }
                }
            }
        }
        Ok(())
    }

    /// Replace the workspace; modules outside it stop being tracked
    /// indirectly, modules now inside it start. On error nothing changes.
    pub fn set_workspace(
        &mut self,
        dirs: Vec<PathBuf>,
        resolver: &mut dyn Resolver,
    ) -> Result<(), EngineError> {
        let previous = std::mem::replace(&mut self.workspace, Workspace::new(dirs));
        let previous_untrackable = std::mem::take(&mut self.untrackable);
        let checkpoint = self.table.len();
        self.refresh_workspace_flags();
        self.topology_stale = true;
        let result = self.discover(resolver, true, None);
        self.finish_reading();
        if result.is_err() {
            self.table.truncate(checkpoint);
            self.workspace = previous;
            self.untrackable = previous_untrackable;
            self.refresh_workspace_flags();
            self.topology_stale = true;
        }
        self.ensure_topology();
        result
    }

    fn refresh_workspace_flags(&mut self) {
        for i in 0..self.table.len() {
            let inside = self.table.modules[i].file.as_deref().is_some_and(|f| self.workspace.contains(f));
            self.table.modules[i].in_workspace = inside;
        }
    }

    pub fn workspace(&self) -> &[PathBuf] {
        self.workspace.dirs()
    }

    /// Look at every module file's symbolic link again (one was re-pointed).
    pub(crate) fn retarget(&mut self) {
        for module in &mut self.table.modules {
            module.target = module.file.as_deref().and_then(link_target).map(PathBuf::into_boxed_path);
        }
    }
}

/// How a module's file was analysed, for [`ReadCounts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    Nothing,
    Parsed,
    Scanned,
    Cached,
    Unread,
}

/// A module's file, read and analysed: the part of tracking that needs no
/// engine state, so a batch of modules can be prepared in parallel.
pub(crate) struct Prepared {
    meta: ModuleMeta,
    target: Option<PathBuf>,
    observed: Observed,
    /// The source changed after the module's bytecode was written: what runs
    /// is older than the file.
    edited_since_import: bool,
    /// Whether its imports are known: `None` when there was nothing to
    /// analyse (no file, missing, unreadable).
    analysed: Option<Result<(), AnalysisFailure>>,
    how: How,
    /// The dependencies found ([`find_dependencies`]); empty when `slot`
    /// has them.
    found: Box<str>,
    /// Whether an import is relative (`found` holds only in its package).
    relative: bool,
    /// The entry of the loaded cache whose dependencies are this file's.
    slot: Option<usize>,
    /// Its dependencies, interned from the imports (`prepare_batch`).
    deps: Vec<Dep>,
}

impl Prepared {
    /// A module with nothing to analyse (no file, missing, unreadable).
    fn nothing(meta: ModuleMeta, observed: Observed) -> Prepared {
        Prepared {
            meta,
            target: None,
            observed,
            edited_since_import: false,
            analysed: None,
            how: How::Nothing,
            found: Box::default(),
            relative: false,
            slot: None,
            deps: Vec::new(),
        }
    }
}

/// One registration's use of the persistent cache.
#[derive(Debug)]
pub(crate) struct Session {
    location: Location,
    loaded: std::sync::Arc<Loaded>,
    /// The engine's id of each name of `loaded`'s table, once interned
    /// (`NO_NAME` until then).
    ids: Vec<NameId>,
    fresh: Fresh,
    /// Checks of `loaded`'s entries under way (large caches only).
    ahead: Option<Ahead>,
}

/// What registration may take as known about files older than this
/// process. A file on a local file system whose last change (mtime and
/// ctime, which no tool can set back) predates the process by more than
/// [`PREDATES_MARGIN_NS`] holds the bytes every import of it in this
/// process ran: so it compiles (its module is loaded), and it was not
/// edited after its import. Its bytecode file need not be opened to know
/// either (a kernel restart: every file predates the new kernel).
#[derive(Debug, Default)]
struct Trust {
    /// When this process started (`None`: unknown, nothing predates it).
    started_ns: Option<i64>,
    /// Directories on a local file system (remote ones have the server's
    /// clock), by their path's bytes (hashed as bytes, not as components).
    local: FxHashMap<Box<[u8]>, bool>,
}

/// Slack for timestamp granularity (file systems with coarse or
/// whole-second timestamps) and for the process start time (known to a
/// clock tick, 10 ms).
const PREDATES_MARGIN_NS: i64 = 3_000_000_000;

impl Trust {
    fn new() -> Trust {
        Trust { started_ns: process_start_ns(), local: FxHashMap::default() }
    }

    /// Learn whether the directories of `metas` are local (one `statfs`
    /// per directory, once).
    fn learn(&mut self, metas: &[ModuleMeta]) {
        if self.started_ns.is_none() {
            return;
        }
        for meta in metas {
            let Some(dir) = meta.file.as_deref().and_then(fingerprint::parent) else { continue };
            let key = dir.as_os_str().as_encoded_bytes();
            if !self.local.contains_key(key) {
                self.local.insert(Box::from(key), crate::watch::local_fs(dir));
            }
        }
    }

    fn predates(&self, file: &Path, meta: &fingerprint::Meta) -> bool {
        let Some(started) = self.started_ns else { return false };
        meta.mtime_ns.max(meta.ctime_ns).saturating_add(PREDATES_MARGIN_NS) < started
            && fingerprint::parent(file)
                .and_then(|dir| self.local.get(dir.as_os_str().as_encoded_bytes()))
                .copied()
                .unwrap_or(false)
    }
}

/// When this process started, from `/proc` (Linux); `None` elsewhere.
fn process_start_ns() -> Option<i64> {
    static START: std::sync::OnceLock<Option<i64>> = std::sync::OnceLock::new();
    *START.get_or_init(|| {
        #[cfg(target_os = "linux")]
        {
            let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
            // Field 22 (starttime, clock ticks after boot), counted after
            // the command name, which may hold spaces but ends with ')'.
            let after = &stat[stat.rfind(')')? + 1..];
            let ticks: i64 = after.split_whitespace().nth(19)?.parse().ok()?;
            // SAFETY: sysconf only reads a configuration value.
            let hz = i64::from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as i32);
            // When the machine booted, to the nanosecond: the wall clock
            // now less the time since boot (what `/proc/stat`'s `btime`
            // holds, but that is cut to whole seconds, which would make
            // the start up to a second early). The wall clock is read
            // first, so the boot time found is never late.
            let now = fingerprint::now_ns();
            let mut since_boot = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: clock_gettime writes one timespec, which `since_boot` is.
            if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut since_boot) } != 0 {
                return None;
            }
            // `time_t` and `c_long` are 32 bits on some targets.
            #[allow(clippy::useless_conversion)]
            let since_boot = i64::from(since_boot.tv_sec)
                .checked_mul(1_000_000_000)?
                .checked_add(i64::from(since_boot.tv_nsec))?;
            // The kernel rounds the start's ticks down: a lower bound too.
            let started =
                now.checked_sub(since_boot)?.checked_add(ticks.checked_mul(1_000_000_000 / hz.max(1))?)?;
            // A start after now is a misreading (the rule needs a lower bound).
            (hz > 0 && started <= now).then_some(started)
        }
        #[cfg(not(target_os = "linux"))]
        None
    })
}

/// Read and analyse a module's file (one [`unchanged`] did not answer). The
/// imports come from the cache when it knows the file's content hash, from
/// the token scanner when CPython is known to have compiled exactly these
/// bytes (the module's bytecode says so, or the file predates this process:
/// [`Trust`]), and from the full parse otherwise.
fn prepare(
    meta: ModuleMeta,
    version: (u8, u8),
    known: &Loaded,
    trust: &Trust,
    bufs: &mut Buffers,
) -> Prepared {
    let Buffers { source: buf, found, name } = bufs;
    let Some(file) = meta.file.clone() else {
        return Prepared::nothing(meta, Observed::Missing);
    };
    let mut linked = None;
    let (target, observed) = match fingerprint::read_source(&file, buf) {
        Some(observed) => (None, observed),
        // A symbolic link: edits made through it happen at its target.
        None => {
            let (observed, bytes) = fingerprint::read(&file);
            linked = bytes;
            (link_target(&file), observed)
        }
    };
    let bytes: &[u8] = linked.as_deref().unwrap_or(buf);
    let Observed::Present { meta: source_meta, hash, .. } = &observed else {
        return Prepared { target, ..Prepared::nothing(meta, observed) };
    };
    let (source_meta, hash) = (*source_meta, *hash);
    // A file older than this process needs no look at its bytecode.
    let predates = trust.predates(&file, &source_meta);
    let cached = meta.cached.as_deref().filter(|_| !predates);
    let package = imports::package_of(&meta.name, meta.is_package);
    let slot = known.slot_with(hash).filter(|&slot| known.fits(slot, package));
    let (how, edited_since_import, imports) = match slot {
        Some(_) => {
            let edited = cached.is_some_and(|c| edited_after_bytecode(&source_meta, c));
            (How::Cached, edited, Ok(Vec::new()))
        }
        None => {
            let (edited, compiled) = match cached {
                Some(c) => bytecode(&source_meta, c),
                None => (false, predates),
            };
            match compiled.then(|| scan::scan_module(bytes)).flatten() {
                Some(imports) => (How::Scanned, edited, Ok(imports)),
                None => {
                    (How::Parsed, edited, source::analyze_module(bytes, version, false).map(|s| s.imports))
                }
            }
        }
    };
    // Kept compact until the calling thread interns them: one allocation,
    // whatever their number (the import list itself is freed here).
    let (mut dependencies, mut relative) = (Box::default(), false);
    let analysed = imports.map_err(AnalysisFailure::from).map(|imports| {
        if slot.is_none() {
            found.clear();
            relative = find_dependencies(found, &imports, package, name);
            dependencies = Box::from(found.as_str());
        }
    });
    Prepared {
        meta,
        target,
        observed,
        edited_since_import,
        analysed: Some(analysed),
        how,
        found: dependencies,
        relative,
        slot,
        deps: Vec::new(),
    }
}

/// A reading thread's buffers, reused from file to file: the source's bytes,
/// its dependencies found, a name being built.
#[derive(Default)]
struct Buffers {
    source: Vec<u8>,
    found: String,
    name: String,
}

/// [`prepare`] without reading the file: when the cache recorded it with the
/// metadata it has now (one `lstat`). `Err` gives `meta` back otherwise.
fn unchanged(
    meta: ModuleMeta,
    known: &Loaded,
    trust: &Trust,
    lstat: &mut fingerprint::Lstat,
    ahead: Option<&Ahead>,
) -> Result<Prepared, ModuleMeta> {
    let Some(file) = meta.file.as_deref().filter(|_| cfg!(unix)) else {
        return Err(meta);
    };
    let package = imports::package_of(&meta.name, meta.is_package);
    let Some(slot) = known.slot_of(file).filter(|&slot| known.fits(slot, package)) else { return Err(meta) };
    let now = match ahead.map_or(Verdict::Unknown, |ahead| ahead.verdict(slot)) {
        Verdict::Unchanged => known.recorded(slot).map(|(seen, _)| seen),
        Verdict::Changed => None,
        Verdict::Unknown => lstat.regular_file(file),
    };
    let Some((now, entry)) = now.and_then(|now| Some((now, known.unchanged(slot, &now)?))) else {
        return Err(meta);
    };
    let hashed_at_ns = entry.hashed_at_ns;
    let edited_since_import = !entry.bytecode_current
        && !trust.predates(file, &now)
        && meta.cached.as_deref().is_some_and(|c| edited_after_bytecode(&now, c));
    Ok(Prepared {
        meta,
        target: None,
        observed: Observed::Present { meta: now, hash: entry.hash, hashed_at_ns },
        edited_since_import,
        analysed: Some(Ok(())),
        how: How::Unread,
        found: Box::default(),
        relative: false,
        slot: Some(entry.slot()),
        deps: Vec::new(),
    })
}

/// What a module's bytecode file says of its source: whether the source was
/// edited after the bytecode was written (see [`edited_after_bytecode`]),
/// and whether its header is valid for exactly this source (timestamp-based,
/// the source's mtime in seconds and size): then CPython compiled these
/// bytes, and they hold no syntax error.
fn bytecode(source: &fingerprint::Meta, cached: &Path) -> (bool, bool) {
    use std::io::Read;
    let Ok(mut file) = std::fs::File::open(cached) else { return (false, false) };
    let mut header = [0u8; 16];
    if file.read_exact(&mut header).is_err() {
        return (false, false);
    }
    let word = |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let (flags, mtime, size) = (word(4), word(8), word(12));
    if flags != 0 {
        return (false, false);
    }
    let source_seconds = source.mtime_ns.div_euclid(1_000_000_000) as u32;
    if mtime == source_seconds && size == source.size as u32 {
        return (false, header[2..4] == *b"\r\n");
    }
    let older = file.metadata().is_ok_and(|status| fingerprint::Meta::of(&status).mtime_ns < source.mtime_ns);
    (older, false)
}

/// Whether a source was modified after its bytecode was written, and the
/// bytecode no longer matches it. The bytecode is (re)written when a module
/// is imported, so such a module runs older code than its file holds. The
/// header check (source mtime in seconds and size, as the import system
/// validates them) keeps a rewrite that the import system itself would take
/// as unchanged from counting; hash-based bytecode is not judged.
fn edited_after_bytecode(source: &fingerprint::Meta, cached: &Path) -> bool {
    // One stat in the usual case (bytecode newer than the source).
    let Ok(pyc) = std::fs::metadata(cached) else { return false };
    if fingerprint::Meta::of(&pyc).mtime_ns >= source.mtime_ns {
        return false;
    }
    bytecode(source, cached).0
}

/// [`unchanged`] for every module, in order: `Err` gives back the modules
/// whose files must be read. Files the [`Ahead`] helper has looked at cost
/// no system call here.
fn check_all(
    metas: Vec<ModuleMeta>,
    known: &Loaded,
    trust: &Trust,
    ahead: Option<&Ahead>,
) -> Vec<Result<Prepared, ModuleMeta>> {
    if known.is_empty() {
        return metas.into_iter().map(Err).collect();
    }
    let mut lstat = fingerprint::Lstat::default();
    metas.into_iter().map(|meta| unchanged(meta, known, trust, &mut lstat, ahead)).collect()
}

/// A loaded cache with at least this many entries has them looked at ahead
/// by an [`Ahead`] helper.
const AHEAD_AT: usize = 256;

/// What a look at an entry's file found (see [`Ahead`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Not looked at yet.
    Unknown = 0,
    /// The file has the metadata the entry records: it need not be read.
    Unchanged = 1,
    /// It may differ (or the entry records no usable metadata).
    Changed = 2,
}

/// The unchanged-metadata checks of a loaded cache's entries (an `lstat`
/// each, a few microseconds of system time), run on a helper thread in the
/// entries' order (the order of the registration that wrote them, which
/// the next one mostly repeats) while the calling thread asks the
/// interpreter about modules and interns their dependencies. A file the
/// helper has not reached yet is looked at by the calling thread, as
/// without a helper. A file edited between the helper's look and the
/// watch that starts after the registration is seen as edited by the next
/// poll, as one edited just after the calling thread's own look would be.
/// Stopped and joined when dropped (at the end of the operation).
#[derive(Debug)]
struct Ahead {
    verdicts: std::sync::Arc<[std::sync::atomic::AtomicU8]>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    helper: Option<std::thread::JoinHandle<()>>,
}

impl Ahead {
    /// Start looking at `loaded`'s entries; `None` when no thread can be had.
    #[cfg(unix)]
    fn start(loaded: &std::sync::Arc<Loaded>) -> Option<Ahead> {
        use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
        use std::sync::Arc;
        let verdicts: Arc<[AtomicU8]> =
            (0..loaded.len()).map(|_| AtomicU8::new(Verdict::Unknown as u8)).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let (loaded, theirs, stopped) = (Arc::clone(loaded), Arc::clone(&verdicts), Arc::clone(&stop));
        let helper = std::thread::Builder::new()
            .name("liveimport-check".into())
            .spawn(move || {
                let mut lstat = fingerprint::Lstat::default();
                for (slot, verdict) in theirs.iter().enumerate() {
                    if stopped.load(Ordering::Relaxed) {
                        break;
                    }
                    let found = if loaded.still_unchanged(slot, &mut lstat) {
                        Verdict::Unchanged
                    } else {
                        Verdict::Changed
                    };
                    verdict.store(found as u8, Ordering::Release);
                }
            })
            .ok()?;
        Some(Ahead { verdicts, stop, helper: Some(helper) })
    }

    #[cfg(not(unix))]
    fn start(_loaded: &std::sync::Arc<Loaded>) -> Option<Ahead> {
        None
    }

    fn verdict(&self, slot: usize) -> Verdict {
        let found = self.verdicts.get(slot).map(|v| v.load(std::sync::atomic::Ordering::Acquire));
        [Verdict::Unchanged, Verdict::Changed]
            .into_iter()
            .find(|v| found == Some(*v as u8))
            .unwrap_or(Verdict::Unknown)
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(helper) = self.helper.take() {
            // A panic there (none is expected) only loses the look-ahead.
            let _ = helper.join();
        }
    }
}

/// Batches with at least this many files to read share them with a helper
/// thread (below that, starting one costs more than it saves).
const HELP_AT: usize = 16;

/// How many modules the helper may read ahead of those the calling thread
/// has taken: a bound on what it has allocated and not handed over.
const READ_AHEAD: usize = 128;

/// Give `each` every module's [`Prepared`], in order, on the calling thread:
/// those [`check_all`] answered, and the others once read ([`prepare`]).
/// From [`HELP_AT`] files on, the calling thread and a helper both take the
/// next file to read, and the calling thread hands over each result as soon
/// as it and those before it are ready: what `each` does (interning) overlaps
/// the helper's reading, and neither thread waits for the other until the
/// last file.
fn prepare_each(
    checked: Vec<Result<Prepared, ModuleMeta>>,
    version: (u8, u8),
    known: &Loaded,
    trust: &Trust,
    each: impl FnMut(Prepared),
) {
    read_each(checked, |meta, bufs| prepare(meta, version, known, trust, bufs), each);
}

/// [`prepare_each`] with `read` for [`prepare`].
fn read_each(
    checked: Vec<Result<Prepared, ModuleMeta>>,
    read: impl Fn(ModuleMeta, &mut Buffers) -> Prepared + Sync,
    mut each: impl FnMut(Prepared),
) {
    let to_read = checked.iter().filter(|c| c.is_err()).count();
    if to_read < HELP_AT {
        let mut bufs = Buffers::default();
        for module in checked {
            each(module.unwrap_or_else(|meta| read(meta, &mut bufs)));
        }
        return;
    }
    let stream = Stream::new(checked, to_read);
    std::thread::scope(|scope| {
        // The stack a main thread has: sources up to 16 KiB are parsed on
        // the reading thread (see `source::on_deep_stack`).
        let worker = std::thread::Builder::new().name("liveimport-prepare".into()).stack_size(8 << 20);
        let helper = worker.spawn_scoped(scope, || {
            // A panic here stops the calling thread's wait; join re-raises it.
            let _stop = StopOnDrop(&stream.stop);
            let mut bufs = Buffers::default();
            while stream.read_one(true, |meta| read(meta, &mut bufs)) {}
        });
        {
            // Stops the helper if anything here panics.
            let _stop = StopOnDrop(&stream.stop);
            let mut bufs = Buffers::default();
            stream.hand_over(|meta| read(meta, &mut bufs), &mut each);
        }
        if let Ok(helper) = helper {
            if let Err(panic) = helper.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}

/// One batch's modules, shared by the threads of [`prepare_each`].
struct Stream {
    slots: Vec<Slot>,
    /// The positions of the modules to read, in order; `next` indexes it.
    to_read: Vec<usize>,
    next: std::sync::atomic::AtomicUsize,
    /// How many modules the calling thread has taken (handed to `each`).
    taken: std::sync::atomic::AtomicUsize,
    /// Set when either thread is done or failing: nobody waits any more.
    stop: std::sync::atomic::AtomicBool,
}

struct Slot {
    cell: std::sync::Mutex<Cell>,
    /// `cell` holds `Cell::Ready`.
    ready: std::sync::atomic::AtomicBool,
}

enum Cell {
    ToRead(ModuleMeta),
    Ready(Prepared),
    Taken,
}

/// Sets its flag when dropped, unwinding included.
struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Stream {
    fn new(checked: Vec<Result<Prepared, ModuleMeta>>, to_read: usize) -> Stream {
        use std::sync::atomic::{AtomicBool, AtomicUsize};
        let mut positions = Vec::with_capacity(to_read);
        let slots = checked
            .into_iter()
            .enumerate()
            .map(|(i, module)| {
                let (cell, ready) = match module {
                    Ok(prepared) => (Cell::Ready(prepared), true),
                    Err(meta) => {
                        positions.push(i);
                        (Cell::ToRead(meta), false)
                    }
                };
                Slot { cell: std::sync::Mutex::new(cell), ready: AtomicBool::new(ready) }
            })
            .collect();
        Stream {
            slots,
            to_read: positions,
            next: AtomicUsize::new(0),
            taken: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        }
    }

    /// Read the next module no thread has taken; `false` when none is left
    /// (or the other thread stopped). The helper (`bounded`) first waits
    /// until it is at most [`READ_AHEAD`] modules ahead of the hand-over.
    fn read_one(&self, bounded: bool, read: impl FnOnce(ModuleMeta) -> Prepared) -> bool {
        use std::sync::atomic::Ordering;
        let Some(&at) = self.to_read.get(self.next.fetch_add(1, Ordering::Relaxed)) else { return false };
        while bounded && at >= self.taken.load(Ordering::Acquire) + READ_AHEAD {
            if self.stop.load(Ordering::Acquire) {
                return false;
            }
            std::thread::yield_now();
        }
        let slot = &self.slots[at];
        // The guard is dropped with the statement: not held while reading.
        let cell = std::mem::replace(&mut *lock(&slot.cell), Cell::Taken);
        if let Cell::ToRead(meta) = cell {
            let prepared = read(meta);
            *lock(&slot.cell) = Cell::Ready(prepared);
            slot.ready.store(true, Ordering::Release);
        }
        true
    }

    /// The calling thread's part: hand every module over in order, reading
    /// the next unread one itself whenever the one due is not ready.
    fn hand_over(&self, mut read: impl FnMut(ModuleMeta) -> Prepared, each: &mut impl FnMut(Prepared)) {
        use std::sync::atomic::Ordering;
        let mut due = 0;
        while let Some(slot) = self.slots.get(due) {
            if slot.ready.load(Ordering::Acquire) {
                let cell = std::mem::replace(&mut *lock(&slot.cell), Cell::Taken);
                if let Cell::Ready(prepared) = cell {
                    each(prepared);
                }
                due += 1;
                self.taken.store(due, Ordering::Release);
            } else if !self.read_one(false, &mut read) {
                // The helper is reading the one due, or has failed (its
                // panic is raised when it is joined).
                if self.stop.load(Ordering::Acquire) {
                    return;
                }
                std::thread::yield_now();
            }
        }
    }
}

impl Engine {
    /// Read and analyse modules about to be tracked, with the persistent
    /// cache (loaded at the first batch of an operation).
    fn prepare_batch(&mut self, metas: Vec<ModuleMeta>) -> Vec<Prepared> {
        if self.session.is_none() {
            if let Some(dir) = self.reading.dir.clone() {
                let location = Location::new(dir, self.workspace.dirs(), self.version);
                let loaded = std::sync::Arc::new(location.load());
                let ahead = if loaded.len() >= AHEAD_AT { Ahead::start(&loaded) } else { None };
                let ids = vec![NO_NAME; loaded.names_len()];
                // Most of them are interned by this operation.
                self.table.names.reserve(loaded.names_len(), loaded.names_bytes());
                self.session = Some(Session { location, loaded, ids, fresh: Fresh::default(), ahead });
            }
        }
        self.reading.prepared += metas.len();
        let mut prepared = Vec::with_capacity(metas.len());
        // Files the cache answers unread (an `lstat` each) are checked
        // first, for the whole batch (`check_all`); the others are read on
        // two threads while this one interns the dependencies of those
        // ready, in order, and notes what the cache should learn.
        let mut trust = Trust::new();
        trust.learn(&metas);
        let empty = Loaded::default();
        let Engine { table, reading, session, version, .. } = self;
        let mut no_ids = Vec::new();
        let (known, ids, ahead, mut fresh) = match session {
            Some(Session { loaded, ids, ahead, fresh, .. }) => (&**loaded, ids, ahead.as_ref(), Some(fresh)),
            None => (&empty, &mut no_ids, None, None),
        };
        let checked = check_all(metas, known, &trust, ahead);
        prepare_each(checked, *version, known, &trust, |mut p| {
            let counts = &mut reading.counts;
            match p.how {
                How::Nothing => {}
                How::Parsed => counts.parsed += 1,
                How::Scanned => counts.scanned += 1,
                How::Cached => counts.cached += 1,
                How::Unread => {
                    counts.cached += 1;
                    counts.unread += 1;
                }
            }
            if let Some(Ok(())) = p.analysed {
                let relative = match p.slot {
                    Some(slot) => {
                        p.deps = cached_deps(table, ids, known, slot);
                        known.package(slot).is_some()
                    }
                    None => {
                        p.deps = intern_found(table, &p.found);
                        p.relative
                    }
                };
                // What the cache should learn: a file it did not know by
                // this path, metadata and content.
                if let (Some(fresh), Some(path), Observed::Present { meta, hash, hashed_at_ns }) =
                    (fresh.as_deref_mut(), p.meta.file.as_deref(), &p.observed)
                {
                    let record = Record {
                        path,
                        hash: *hash,
                        meta: (!meta.is_racy(*hashed_at_ns)).then_some((*meta, *hashed_at_ns)),
                        bytecode_current: !p.edited_since_import,
                        package: relative.then(|| imports::package_of(&p.meta.name, p.meta.is_package)),
                        deps: &p.deps,
                    };
                    if p.how != How::Unread && !known.holds(&record, &table.names) {
                        fresh.push(&record);
                    }
                }
                p.found = Box::default();
            }
            prepared.push(p);
        });
        prepared
    }

    /// End an operation's use of the cache: write what it learnt, forget
    /// the rest, and give memory freed by a large batch back to the system.
    pub(crate) fn finish_reading(&mut self) {
        let prepared = std::mem::take(&mut self.reading.prepared);
        if let Some(mut session) = self.session.take() {
            // The helper stops before anything is written.
            drop(session.ahead.take());
            if !session.fresh.is_empty() {
                session.location.store(session.fresh, &session.loaded, &self.table.names);
                self.reading.counts.cache_writes += 1;
            }
        }
        if prepared > 256 {
            self.table.shrink();
            release_free_memory();
        }
    }

    /// Where the persistent cache lives (`None`: no cache).
    pub fn set_cache_dir(&mut self, dir: Option<PathBuf>) {
        self.reading.dir = dir;
    }

    /// How module files were analysed at registration so far.
    pub fn read_counts(&self) -> ReadCounts {
        self.reading.counts
    }
}

/// Return the free memory of the allocator's arenas to the system (glibc
/// keeps it, in every thread's arena, after a large batch of allocations).
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Where a symbolically linked file points (resolved fully), or `None`.
pub(crate) fn link_target(file: &Path) -> Option<PathBuf> {
    let meta = std::fs::symlink_metadata(file).ok()?;
    if !meta.file_type().is_symlink() {
        return None;
    }
    std::fs::canonicalize(file).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_on_local_disks_older_than_the_process_by_the_margin_predate_it() {
        let started = 100 * 1_000_000_000;
        let mut trust = Trust { started_ns: Some(started), local: FxHashMap::default() };
        trust.local.insert(Box::from(&b"/local"[..]), true);
        trust.local.insert(Box::from(&b"/remote"[..]), false);
        let at =
            |mtime_ns: i64, ctime_ns: i64| fingerprint::Meta { size: 1, mtime_ns, ctime_ns, ino: 1, dev: 1 };
        let old = started - PREDATES_MARGIN_NS - 1;
        assert!(trust.predates(Path::new("/local/m.py"), &at(old, old)));
        assert!(!trust.predates(Path::new("/remote/m.py"), &at(old, old)), "another machine's clock");
        assert!(!trust.predates(Path::new("/elsewhere/m.py"), &at(old, old)), "unknown directory");
        assert!(!trust.predates(Path::new("/local/m.py"), &at(old, started)), "ctime: changed since");
        assert!(!trust.predates(Path::new("/local/m.py"), &at(old + 2, old)), "within the margin");
        trust.started_ns = None;
        assert!(!trust.predates(Path::new("/local/m.py"), &at(old, old)), "start unknown");
    }

    #[test]
    fn dependencies_found_or_cached_are_those_of_the_imports() {
        let stmt = |from_import: bool, level: u32, module: Option<&str>, names: &[&str]| ImportStmt {
            line: 0,
            from_import,
            module: module.map(str::to_owned),
            level,
            names: names
                .iter()
                .map(|n| crate::imports::Alias { name: (*n).to_owned(), asname: None })
                .collect(),
        };
        let mut imports = vec![
            stmt(false, 0, None, &["os", "a.b", "os"]),
            stmt(true, 0, Some("m"), &["x", "y", "x"]),
            stmt(true, 1, None, &["sib", "*"]),
            stmt(true, 2, Some("up"), &["z"]),
            stmt(true, 5, Some("far"), &["gone"]),
            stmt(true, 0, Some("m"), &["*"]),
        ];
        // Enough for the hashed deduplication (over 32).
        imports.push(stmt(true, 0, Some("big"), &(0..40).map(|_| "n").collect::<Vec<_>>()));
        let names: Vec<String> = (0..40).map(|i| format!("n{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).chain(["n0", "n1"]).collect();
        imports.push(stmt(true, 0, Some("big"), &refs));
        let absolute: Vec<ImportStmt> = imports.iter().filter(|s| s.level == 0).cloned().collect();
        for (name, is_package) in [("pkg.sub.mod", false), ("pkg.sub", true), ("top", false)] {
            let package = imports::package_of(name, is_package);
            let mut by_strings = crate::graph::Table::default();
            let expected = by_strings.intern_deps(&dependencies(name, is_package, &imports));
            let (mut found, mut buf) = (String::new(), String::new());
            assert!(find_dependencies(&mut found, &imports, package, &mut buf), "relative imports");
            let mut from_text = crate::graph::Table::default();
            let got = intern_found(&mut from_text, &found);
            let text = |t: &crate::graph::Table, deps: &[Dep]| -> Vec<(String, Option<String>)> {
                deps.iter()
                    .map(|d| {
                        (
                            t.names.resolve(d.name).to_owned(),
                            d.fallback().map(|f| t.names.resolve(f).to_owned()),
                        )
                    })
                    .collect()
            };
            assert_eq!(text(&from_text, &got), text(&by_strings, &expected), "{name}");
            assert_eq!(got, expected, "same ids, interned in the same order ({name})");
            // Kept in the cache, they are read back as they were, for a
            // module of the same package only.
            let entry = crate::cache::Entry {
                path: PathBuf::from("/ws/pkg/sub/mod.py"),
                hash: 1,
                meta: None,
                bytecode_current: true,
                package: Some(package.to_owned()),
                deps: text(&from_text, &got),
            };
            let loaded = crate::cache::loaded(&[entry]);
            let mut from_cache = crate::graph::Table::default();
            let mut ids = vec![NO_NAME; loaded.names_len()];
            let cached = cached_deps(&mut from_cache, &mut ids, &loaded, 0);
            assert_eq!(text(&from_cache, &cached), text(&by_strings, &expected), "{name}, cached");
            assert!(loaded.fits(0, package) && !loaded.fits(0, "elsewhere"));
        }
        // Without relative imports, they hold in any package.
        let (mut found, mut buf) = (String::new(), String::new());
        assert!(!find_dependencies(&mut found, &absolute, "pkg", &mut buf));
        let deps = intern_found(&mut crate::graph::Table::default(), &found);
        for name in ["top", "a.b.c"] {
            let expected = crate::graph::Table::default().intern_deps(&dependencies(name, false, &absolute));
            assert_eq!(deps, expected, "{name}");
        }
    }

    #[test]
    fn every_module_is_handed_over_once_in_order_whichever_thread_reads_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let metas: Vec<ModuleMeta> = (0..300)
            .map(|i| {
                let file = dir.path().join(format!("m{i}.py"));
                std::fs::write(&file, format!("import m{}\nfrom pkg import x{i}\n", i + 1)).expect("write");
                ModuleMeta { name: format!("m{i}"), file: Some(file), is_package: false, cached: None }
            })
            .collect();
        let answered = |meta| Prepared::nothing(meta, Observed::Missing);
        // Every third module answered already (as the cache would), the
        // others to read: more than the helper's read-ahead. Reads are
        // slowed down, on the calling thread for some files (the helper
        // then runs up to its read-ahead) and on the helper for others (the
        // calling thread then waits for the module due).
        let checked = |metas: &[ModuleMeta]| -> Vec<Result<Prepared, ModuleMeta>> {
            metas
                .iter()
                .enumerate()
                .map(|(i, meta)| if i % 3 == 0 { Ok(answered(meta.clone())) } else { Err(meta.clone()) })
                .collect()
        };
        let calling = std::thread::current().id();
        for slow_here in [false, true] {
            let read = |meta: ModuleMeta, bufs: &mut Buffers| {
                let here = std::thread::current().id() == calling;
                let n: usize = meta.name[1..].parse().unwrap_or(0);
                if here == slow_here && n % 10 == 1 {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                prepare(meta, (3, 11), &Loaded::default(), &Trust::default(), bufs)
            };
            let mut seen = Vec::new();
            read_each(checked(&metas), read, |p| {
                let first = p.found.split(NO_FALLBACK).next().filter(|f| !f.is_empty()).map(str::to_owned);
                seen.push((p.meta.name.clone(), p.how, first));
            });
            assert_eq!(seen.len(), 300);
            for (i, (name, how, first)) in seen.into_iter().enumerate() {
                assert_eq!(name, format!("m{i}"));
                if i % 3 == 0 {
                    assert_eq!((how, first), (How::Nothing, None));
                } else {
                    assert_eq!(how, How::Parsed, "no bytecode, not older than the process: parsed");
                    assert_eq!(first, Some(format!("m{}", i + 1)), "its own imports");
                }
            }
        }
    }

    #[test]
    fn a_panic_while_reading_on_either_thread_reaches_the_caller() {
        let metas = || -> Vec<Result<Prepared, ModuleMeta>> {
            (0..200)
                .map(|i| {
                    Err(ModuleMeta { name: format!("m{i}"), file: None, is_package: false, cached: None })
                })
                .collect()
        };
        let calling = std::thread::current().id();
        for panic_here in [false, true] {
            let read = |meta: ModuleMeta, bufs: &mut Buffers| {
                // Every read takes a while, so both threads take part.
                std::thread::sleep(std::time::Duration::from_micros(200));
                if (std::thread::current().id() == calling) == panic_here && meta.name.ends_with('7') {
                    panic!("reading {}", meta.name);
                }
                prepare(meta, (3, 11), &Loaded::default(), &Trust::default(), bufs)
            };
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_each(metas(), read, drop)));
            let panic = outcome.expect_err("the panic is raised again");
            let message = panic.downcast_ref::<String>().map_or("", String::as_str);
            assert!(message.starts_with("reading m") && message.ends_with('7'), "{message}");
        }
    }

    #[test]
    fn this_process_started_before_now_and_after_boot() {
        if cfg!(target_os = "linux") {
            let started = process_start_ns().expect("/proc");
            let now = fingerprint::now_ns();
            assert!(started <= now + 1_000_000_000 && started > now - 86_400 * 365 * 1_000_000_000);
        }
    }
}
