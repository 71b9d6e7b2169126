//! Tracking: registration, the discovery of the workspace modules that
//! tracked modules import, and the workspace itself.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::bindings::{Binding, Records};
use crate::fingerprint::{self, Observed};
use crate::graph::{ModId, Module, NameId};
use crate::imports::{self, Dependency};
use crate::source::{self, Binds};
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
    let package = imports::package_of(name, is_package);
    let mut dependencies = Vec::new();
    for stmt in &source.imports {
        stmt.dependencies(package, &mut dependencies);
    }
    let mut seen = HashSet::with_capacity(dependencies.len());
    dependencies.retain(|d| seen.insert(d.clone()));
    Ok(Analysed { dependencies, binds: source.binds })
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
        if self.dirs.iter().any(|dir| file.starts_with(dir)) {
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
        let mut roots = Vec::with_capacity(modules.len());
        for meta in modules {
            let id = match self.table.get(&meta.name) {
                Some(id) => id,
                None => {
                    let prepared = prepare(meta, self.version);
                    self.push_prepared(prepared, true)?
                }
            };
            roots.push(id);
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
        let Prepared { meta, target, observed, edited_since_import, analysed } = prepared;
        let in_workspace = meta.file.as_deref().is_some_and(|f| self.workspace.contains(f));
        let mut module = Module {
            name: meta.name,
            file: meta.file,
            target,
            is_package: meta.is_package,
            in_workspace,
            deps: Vec::new(),
            loaded: None,
            observed: Observed::Missing,
            excluded: false,
        };
        module.excluded = self.excluded.contains(&module.name);
        if let Some(file) = module.file.clone() {
            let failure = match (&observed, analysed) {
                (Observed::Present { hash, .. }, Some(Ok(analysed))) => {
                    module.deps = self.table.intern_deps(&analysed.dependencies);
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
                return Err(EngineError::Analysis { module: module.name, file, error });
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
        let mut absent: HashSet<NameId> = HashSet::new();
        let mut head = 0;
        loop {
            let mut wanted: Vec<NameId> = Vec::new();
            let mut asked: HashSet<NameId> = HashSet::new();
            while head < queue.len() {
                let id = queue[head];
                head += 1;
                let deps = &self.table.modules[id].deps;
                for name in deps.iter().flat_map(|dep| std::iter::once(dep.name).chain(dep.fallback())) {
                    if self.table.get_id(name).is_none()
                        && !self.untrackable.contains(&name)
                        && !absent.contains(&name)
                        && asked.insert(name)
                    {
                        wanted.push(name);
                    }
                }
                if walk_known {
                    let follow = |d: ModId| {
                        direct.get(d).copied().unwrap_or(false) || self.table.modules[d].in_workspace
                    };
                    for target in self.table.edges(id, deps, &follow) {
                        if !visited[target] {
                            visited[target] = true;
                            queue.push(target);
                        }
                    }
                }
            }
            if wanted.is_empty() {
                break;
            }
            let wanted_names: Vec<String> =
                wanted.iter().map(|&n| self.table.names.resolve(n).to_owned()).collect();
            let answers = resolver.resolve(&wanted_names).map_err(EngineError::Resolver)?;
            let mut to_track: Vec<ModuleMeta> = Vec::new();
            for ((name_id, name), answer) in wanted.into_iter().zip(wanted_names).zip(answers) {
                match answer {
                    Resolution::Absent => {
                        absent.insert(name_id);
                    }
                    Resolution::NoSource => {
                        self.untrackable.insert(name_id);
                    }
                    Resolution::Source(meta) => {
                        let inside = meta.file.as_deref().is_some_and(|f| self.workspace.contains(f));
                        if inside && meta.name == name && self.table.get_id(name_id).is_none() {
                            to_track.push(meta);
                        } else {
                            self.untrackable.insert(name_id);
                        }
                    }
                }
            }
            for prepared in prepare_all(to_track, self.version) {
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
            module.target = module.file.as_deref().and_then(link_target);
        }
    }
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
    /// `None` when there was nothing to analyse (no file, missing, unreadable).
    analysed: Option<Result<Analysed, AnalysisFailure>>,
}

fn prepare(meta: ModuleMeta, version: (u8, u8)) -> Prepared {
    let Some(file) = meta.file.as_deref() else {
        return Prepared {
            meta,
            target: None,
            observed: Observed::Missing,
            edited_since_import: false,
            analysed: None,
        };
    };
    let target = link_target(file);
    let (observed, bytes) = fingerprint::read(file);
    let analysed = bytes.map(|bytes| analyse(&meta.name, meta.is_package, &bytes, version, false));
    let edited_since_import = match (&observed, meta.cached.as_deref()) {
        (Observed::Present { meta: source, .. }, Some(cached)) => edited_after_bytecode(source, cached),
        _ => false,
    };
    Prepared { meta, target, observed, edited_since_import, analysed }
}

/// Whether a source was modified after its bytecode was written, and the
/// bytecode no longer matches it. The bytecode is (re)written when a module
/// is imported, so such a module runs older code than its file holds. The
/// header check (source mtime in seconds and size, as the import system
/// validates them) keeps a rewrite that the import system itself would take
/// as unchanged from counting; hash-based bytecode is not judged.
fn edited_after_bytecode(source: &fingerprint::Meta, cached: &Path) -> bool {
    use std::io::Read;
    // One stat in the usual case (bytecode newer than the source).
    let Ok(pyc) = std::fs::metadata(cached) else { return false };
    if fingerprint::Meta::of(&pyc).mtime_ns >= source.mtime_ns {
        return false;
    }
    let Ok(mut file) = std::fs::File::open(cached) else { return false };
    let mut header = [0u8; 16];
    if file.read_exact(&mut header).is_err() {
        return false;
    }
    let word = |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let (flags, mtime, size) = (word(4), word(8), word(12));
    if flags != 0 {
        return false;
    }
    let source_seconds = source.mtime_ns.div_euclid(1_000_000_000) as u32;
    mtime != source_seconds || size != source.size as u32
}

/// [`prepare`] every module, on up to four threads for larger batches (file
/// reads dominate, and they wait on the kernel); results keep their order.
/// Workers get the stack a main thread has, since sources up to 16 KiB are
/// parsed on the calling thread (see `source::on_deep_stack`).
fn prepare_all(metas: Vec<ModuleMeta>, version: (u8, u8)) -> Vec<Prepared> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
    if metas.len() < 32 || threads < 2 {
        return metas.into_iter().map(|m| prepare(m, version)).collect();
    }
    let chunk = metas.len().div_ceil(threads);
    let mut chunks: Vec<Vec<ModuleMeta>> = Vec::new();
    let mut rest = metas;
    while !rest.is_empty() {
        let tail = rest.split_off(chunk.min(rest.len()));
        chunks.push(rest);
        rest = tail;
    }
    std::thread::scope(|scope| {
        let mut results: Vec<Vec<Prepared>> = Vec::with_capacity(chunks.len());
        let mut handles = Vec::with_capacity(chunks.len());
        for part in chunks {
            let work = move || part.into_iter().map(|m| prepare(m, version)).collect::<Vec<_>>();
            let worker = std::thread::Builder::new().name("liveimport-prepare".into()).stack_size(8 << 20);
            handles.push(worker.spawn_scoped(scope, work.clone()).map_err(|_| work));
        }
        for handle in handles {
            results.push(match handle {
                Ok(handle) => handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                // No thread to be had: do that part here.
                Err(work) => work(),
            });
        }
        results.into_iter().flatten().collect()
    })
}

/// Where a symbolically linked file points (resolved fully), or `None`.
pub(crate) fn link_target(file: &Path) -> Option<PathBuf> {
    let meta = std::fs::symlink_metadata(file).ok()?;
    if !meta.file_type().is_symlink() {
        return None;
    }
    std::fs::canonicalize(file).ok()
}
