//! LiveImport's engine: the single owner of LiveImport's state.
//!
//! It knows which modules are tracked, what their files looked like when they
//! were loaded, how they depend on each other and which names each namespace
//! registered, and it decides everything that can be decided without running
//! Python code: what changed, what must reload, in which order. It never calls
//! into Python; facts about the interpreter (which modules are loaded and
//! where their sources are) come in as plain data, through a [`Resolver`].

pub mod bindings;
pub mod decode;
pub mod fingerprint;
pub mod graph;
pub mod imports;
pub mod source;
pub mod watch;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub use bindings::Binding;
use bindings::Records;
use fingerprint::{ContentHash, Observed};
use graph::{ModId, Module, NameId, Reason, Table, Topology};
pub use imports::{Alias, ImportStmt, RelativeImportError};
pub use source::{Analysis, SourceError};
pub use watch::Mode;
use watch::{Drained, Watcher};

/// Facts about a module, gathered from the interpreter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleMeta {
    pub name: String,
    /// Absolute path of its `.py` source; `None` for namespace packages.
    pub file: Option<PathBuf>,
    pub is_package: bool,
    /// Its cached bytecode file (`__spec__.cached`), if any. Written when the
    /// module was imported, so a source modified after it was modified after
    /// the import: tracking then starts with the module out of date.
    pub cached: Option<PathBuf>,
}

/// What the interpreter knows of a module name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Not loaded (not in `sys.modules`).
    Absent,
    /// Loaded, but with no Python source (builtin, extension, namespace package).
    NoSource,
    /// Loaded from a Python source file.
    Source(ModuleMeta),
}

/// Answers questions about loaded modules, in batches.
pub trait Resolver {
    /// One resolution per name, in order. An `Err` aborts the operation.
    fn resolve(&mut self, names: &[String]) -> Result<Vec<Resolution>, String>;
}

/// Why the engine refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// A module's source could not be read or parsed.
    #[error("analysis of {module} failed: {error}")]
    Analysis { module: String, file: PathBuf, error: AnalysisFailure },
    /// `force` named a module that is not tracked.
    #[error("module {0} is not tracked")]
    NotTracked(String),
    /// The resolver failed.
    #[error("{0}")]
    Resolver(String),
    /// `commit()` without a plan.
    #[error("no reload plan to commit")]
    NoPlan,
}

/// The cause of an analysis failure.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnalysisFailure {
    #[error("{0}")]
    Source(#[from] SourceError),
    #[error("cannot read source: {0}")]
    Unreadable(String),
}

impl AnalysisFailure {
    pub fn line(&self) -> Option<u32> {
        match self {
            AnalysisFailure::Source(e) => Some(e.line()),
            AnalysisFailure::Unreadable(_) => None,
        }
    }
}

/// One reload of a plan, as the Python layer needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedReload {
    pub module: String,
    pub file: Option<PathBuf>,
    pub reason: &'static str,
    /// Modification time of the file (seconds since the epoch).
    pub mtime: f64,
    /// Modules reloaded earlier in the plan that cause this reload.
    pub after: Vec<String>,
}

/// A tracked module, as introspection shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackedInfo {
    pub name: String,
    pub file: Option<PathBuf>,
    pub direct: bool,
    /// Tracked modules it depends on, in source order.
    pub dependencies: Vec<String>,
    pub pending: bool,
}

#[derive(Clone, Debug, Default)]
struct Namespace {
    id: u64,
    records: Records,
    /// Modules named by its registered statements, in registration order.
    roots: Vec<ModId>,
}

#[derive(Debug)]
struct PendingPlan {
    steps: Vec<graph::Step>,
    new_deps: HashMap<ModId, Vec<NameId>>,
}

/// The engine.
#[derive(Debug)]
pub struct Engine {
    table: Table,
    namespaces: Vec<Namespace>,
    workspace: Vec<PathBuf>,
    /// The workspace directories with symbolic links resolved.
    workspace_resolved: Vec<PathBuf>,
    version: (u8, u8),
    /// Names loaded without a trackable source (no `.py`, or outside the
    /// workspace): not asked about again until the workspace changes.
    untrackable: HashSet<NameId>,
    topology: Topology,
    direct: Vec<bool>,
    topology_stale: bool,
    /// Reachable modules whose file differs from what was loaded.
    stale: BTreeSet<ModId>,
    /// Reachable modules by file, to map file events to modules.
    by_file: HashMap<PathBuf, Vec<ModId>>,
    /// Reachable modules in directories that must be polled.
    polled: Vec<ModId>,
    /// Modules to check at the next poll (events, new watches).
    candidates: BTreeSet<ModId>,
    check_all: bool,
    watcher: Watcher,
    events: Vec<(PathBuf, OsString)>,
    pending: Option<PendingPlan>,
}

impl Engine {
    /// A new engine for Python `version` (major, minor), with a workspace
    /// (absolute directories) and a change-detection mode.
    pub fn new(version: (u8, u8), workspace: Vec<PathBuf>, mode: Mode) -> Engine {
        let mut engine = Engine {
            table: Table::default(),
            namespaces: Vec::new(),
            workspace,
            workspace_resolved: Vec::new(),
            version,
            untrackable: HashSet::new(),
            topology: Topology::default(),
            direct: Vec::new(),
            topology_stale: false,
            stale: BTreeSet::new(),
            by_file: HashMap::new(),
            polled: Vec::new(),
            candidates: BTreeSet::new(),
            check_all: false,
            watcher: Watcher::new(mode),
            events: Vec::new(),
            pending: None,
        };
        engine.resolve_workspace();
        engine
    }

    // ----------------------------------------------------------------------
    // Analysis of statements given by the user

    /// Parse registered statements (`register(importstmts=...)`).
    pub fn analyze_statements(&self, source: &str) -> Result<Analysis, SourceError> {
        source::analyze_text(source, self.version)
    }

    // ----------------------------------------------------------------------
    // Registration and tracking

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
        let saved = self.namespaces.iter().position(|n| n.id == ns).map(|i| (i, self.namespaces[i].clone()));
        let result = self.register_inner(ns, clear, records, modules, resolver);
        if result.is_err() {
            self.table.truncate(checkpoint);
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
                None => self.track(meta, true)?,
            };
            roots.push(id);
        }
        let index = match self.namespaces.iter().position(|n| n.id == ns) {
            Some(i) => i,
            None => {
                self.namespaces.push(Namespace { id: ns, ..Namespace::default() });
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

    /// Start tracking a module: read and analyse its file.
    fn track(&mut self, meta: ModuleMeta, strict: bool) -> Result<ModId, EngineError> {
        let prepared = prepare(meta, self.version);
        self.push_prepared(prepared, strict)
    }

    /// Add a module read and analysed by [`prepare`]. With `strict`, a file
    /// that cannot be analysed is an error; otherwise the module is tracked
    /// as out of date and the next sync reports it.
    fn push_prepared(&mut self, prepared: Prepared, strict: bool) -> Result<ModId, EngineError> {
        let Prepared { meta, target, observed, edited_since_import, deps } = prepared;
        let in_workspace = meta.file.as_deref().is_some_and(|f| self.in_workspace(f));
        let mut module = Module {
            name: meta.name,
            file: meta.file,
            target,
            is_package: meta.is_package,
            in_workspace,
            deps: Vec::new(),
            loaded: None,
            observed: Observed::Missing,
        };
        if let Some(file) = module.file.clone() {
            let failure = match (&observed, deps) {
                (Observed::Present { hash, .. }, Some(Ok(deps))) => {
                    module.deps = self.table.intern_all(&deps);
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

    fn dependencies_of(
        &self,
        name: &str,
        is_package: bool,
        bytes: &[u8],
    ) -> Result<Vec<String>, AnalysisFailure> {
        dependencies_of(name, is_package, bytes, self.version)
    }

    /// Track the workspace modules that reachable modules import, until no
    /// new one appears: a breadth-first walk from the roots that asks the
    /// resolver about unknown names one level at a time, in batches.
    ///
    /// With `seeds`, only the imports of those modules (whose dependencies
    /// just changed) and of modules newly tracked are examined: the rest of
    /// the graph was examined when its modules were tracked.
    fn discover(
        &mut self,
        resolver: &mut dyn Resolver,
        strict: bool,
        seeds: Option<&[ModId]>,
    ) -> Result<(), EngineError> {
        let mut direct = vec![false; self.table.len()];
        let mut queue: Vec<ModId> = Vec::new();
        for ns in &self.namespaces {
            for &id in &ns.roots {
                if !direct[id] {
                    direct[id] = true;
                    if seeds.is_none() {
                        queue.push(id);
                    }
                }
            }
        }
        let mut visited = if seeds.is_none() { direct.clone() } else { vec![false; self.table.len()] };
        for &id in seeds.unwrap_or(&[]) {
            if !visited[id] {
                visited[id] = true;
                queue.push(id);
            }
        }
        queue.sort_unstable();
        let walk_known = seeds.is_none();
        let mut added = false;
        let mut absent: HashSet<NameId> = HashSet::new();
        let mut head = 0;
        loop {
            let mut wanted: Vec<NameId> = Vec::new();
            let mut asked: HashSet<NameId> = HashSet::new();
            while head < queue.len() {
                let id = queue[head];
                head += 1;
                for &dep in &self.table.modules[id].deps {
                    match self.table.get_id(dep) {
                        Some(d) => {
                            let follow =
                                direct.get(d).copied().unwrap_or(false) || self.table.modules[d].in_workspace;
                            if walk_known && follow && !visited[d] {
                                visited[d] = true;
                                queue.push(d);
                            }
                        }
                        None => {
                            if !self.untrackable.contains(&dep) && !absent.contains(&dep) && asked.insert(dep)
                            {
                                wanted.push(dep);
                            }
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
                        let inside = meta.file.as_deref().is_some_and(|f| self.in_workspace(f));
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

    /// Whether `file` lies under a workspace directory, as written or once
    /// symbolic links are resolved on both sides (macOS's `/tmp` is
    /// `/private/tmp`; a project may be reached through a link).
    fn in_workspace(&self, file: &Path) -> bool {
        if self.workspace.iter().any(|dir| file.starts_with(dir)) {
            return true;
        }
        if self.workspace_resolved.is_empty() {
            return false;
        }
        let Ok(resolved) = std::fs::canonicalize(file) else { return false };
        self.workspace_resolved.iter().any(|dir| resolved.starts_with(dir))
    }

    fn resolve_workspace(&mut self) {
        self.workspace_resolved =
            self.workspace.iter().filter_map(|dir| std::fs::canonicalize(dir).ok()).collect();
    }

    /// Replace the workspace; modules outside it stop being tracked
    /// indirectly, modules now inside it start. On error the workspace is
    /// still replaced, but no module is tracked from it.
    pub fn set_workspace(
        &mut self,
        dirs: Vec<PathBuf>,
        resolver: &mut dyn Resolver,
    ) -> Result<(), EngineError> {
        let previous = std::mem::replace(&mut self.workspace, dirs);
        let previous_untrackable = std::mem::take(&mut self.untrackable);
        let checkpoint = self.table.len();
        self.resolve_workspace();
        self.refresh_workspace_flags();
        self.topology_stale = true;
        let result = self.discover(resolver, true, None);
        if result.is_err() {
            self.table.truncate(checkpoint);
            self.workspace = previous;
            self.untrackable = previous_untrackable;
            self.resolve_workspace();
            self.refresh_workspace_flags();
            self.topology_stale = true;
        }
        self.ensure_topology();
        result
    }

    fn refresh_workspace_flags(&mut self) {
        for i in 0..self.table.len() {
            let inside = self.table.modules[i].file.as_deref().is_some_and(|f| self.in_workspace(f));
            self.table.modules[i].in_workspace = inside;
        }
    }

    pub fn workspace(&self) -> &[PathBuf] {
        &self.workspace
    }

    /// Forget every registration and tracked module; release the watches.
    pub fn reset(&mut self) {
        let mode = self.watcher.mode();
        let workspace = std::mem::take(&mut self.workspace);
        self.watcher.release();
        *self = Engine::new(self.version, workspace, mode);
    }

    /// Drop a namespace's registrations (its dict was garbage collected).
    pub fn forget_namespace(&mut self, ns: u64) {
        let before = self.namespaces.len();
        self.namespaces.retain(|n| n.id != ns);
        if self.namespaces.len() != before {
            self.topology_stale = true;
        }
    }

    // ----------------------------------------------------------------------
    // Topology and change detection

    fn ensure_topology(&mut self) {
        if !self.topology_stale {
            return;
        }
        self.topology_stale = false;
        let n = self.table.len();
        let mut direct = vec![false; n];
        let mut roots = Vec::new();
        for ns in &self.namespaces {
            for &id in &ns.roots {
                direct[id] = true;
                roots.push(id);
            }
        }
        let table = &self.table;
        let follow = |d: ModId| direct[d] || table.modules[d].in_workspace;
        self.topology = graph::topology(table, &roots, &|id| &table.modules[id].deps, &follow);
        self.direct = direct;
        self.refresh_watches();
    }

    /// Point the watcher at the directories of reachable files and rebuild
    /// the maps that turn events into modules.
    fn refresh_watches(&mut self) {
        self.by_file.clear();
        let mut dirs: HashSet<PathBuf> = HashSet::new();
        for &id in &self.topology.order {
            let module = &self.table.modules[id];
            for file in module.file.iter().chain(module.target.iter()) {
                self.by_file.entry(file.clone()).or_default().push(id);
                if let Some(dir) = file.parent() {
                    dirs.insert(dir.to_path_buf());
                }
            }
        }
        let fresh: HashSet<PathBuf> = self.watcher.watch_dirs(&dirs).into_iter().collect();
        let polled = self.watcher.polled_dirs();
        self.polled.clear();
        for &id in &self.topology.order {
            let module = &self.table.modules[id];
            let dirs = module.file.iter().chain(module.target.iter()).filter_map(|f| f.parent());
            let (mut is_polled, mut is_fresh) = (false, false);
            for dir in dirs {
                is_polled |= polled.contains(dir);
                is_fresh |= fresh.contains(dir);
            }
            if is_polled {
                self.polled.push(id);
            }
            if is_fresh {
                self.candidates.insert(id);
            }
        }
        self.stale =
            self.topology.order.iter().copied().filter(|&id| self.table.modules[id].is_stale()).collect();
    }

    /// Bring the engine's view of the files up to date. Returns whether any
    /// reachable module is out of date. With events and nothing changed this
    /// is one non-blocking `read` and no allocation.
    pub fn poll(&mut self) -> bool {
        self.ensure_topology();
        match self.watcher.drain(&mut self.events) {
            Drained::Nothing => {}
            Drained::Some => {
                for (dir, name) in self.events.drain(..) {
                    if let Some(ids) = self.by_file.get(&dir.join(name)) {
                        self.candidates.extend(ids.iter().copied());
                    }
                }
            }
            Drained::Everything => {
                self.events.clear();
                self.check_all = true;
                // Watches of vanished directories are re-established.
                self.topology_stale = true;
                self.ensure_topology();
            }
        }
        if self.check_all {
            self.check_all = false;
            let all: Vec<ModId> = self.topology.order.clone();
            for id in all {
                self.check(id);
            }
        } else {
            for i in 0..self.polled.len() {
                let id = self.polled[i];
                self.check(id);
            }
        }
        while let Some(id) = self.candidates.pop_first() {
            self.check(id);
        }
        !self.stale.is_empty()
    }

    /// Re-observe one module's file if its metadata says it may have changed.
    fn check(&mut self, id: ModId) {
        let module = &mut self.table.modules[id];
        let Some(file) = &module.file else { return };
        if !fingerprint::may_differ(file, &module.observed) {
            return;
        }
        module.observed = fingerprint::read(file).0;
        if module.is_stale() && self.topology.reachable.get(id).copied().unwrap_or(false) {
            self.stale.insert(id);
        } else {
            self.stale.remove(&id);
        }
    }

    /// The change-detection mode and how many directories are watched with
    /// events and polled.
    pub fn detection(&self) -> (Mode, usize, usize) {
        (self.watcher.mode(), self.watcher.watched_count(), self.watcher.polled_dirs().len())
    }

    pub fn set_mode(&mut self, mode: Mode) {
        self.watcher.set_mode(mode);
        self.topology_stale = true;
        self.check_all = true;
    }

    /// A one-time warning about change detection for the user.
    pub fn take_warning(&mut self) -> Option<String> {
        self.ensure_topology();
        self.watcher.take_warning()
    }

    // ----------------------------------------------------------------------
    // Planning and committing

    /// The reloads a sync must do, in order. `force` names modules to reload
    /// even if unchanged. Re-reads and re-analyses every changed module; a
    /// module that cannot be analysed fails the whole plan.
    pub fn plan(&mut self, force: &[String]) -> Result<Vec<PlannedReload>, EngineError> {
        self.pending = None;
        self.poll();
        let mut forced = HashSet::new();
        for name in force {
            match self.table.get(name) {
                Some(id) if self.topology.reachable[id] => {
                    forced.insert(id);
                }
                _ => return Err(EngineError::NotTracked(name.clone())),
            }
        }
        // Re-read what changed: the hash is the truth as of now, and the new
        // dependencies decide the order.
        let mut new_deps: HashMap<ModId, Vec<NameId>> = HashMap::new();
        let stale: Vec<ModId> = self.stale.iter().copied().collect();
        for id in stale {
            let module = &self.table.modules[id];
            let Some(file) = module.file.clone() else {
                continue;
            };
            let (observed, bytes) = fingerprint::read(&file);
            let result = match (&observed, bytes) {
                (Observed::Present { .. }, Some(bytes)) => {
                    self.dependencies_of(&module.name, module.is_package, &bytes).map(Some)
                }
                (Observed::Unreadable(reason), _) => Err(AnalysisFailure::Unreadable(reason.clone())),
                _ => Ok(None),
            };
            let module = &mut self.table.modules[id];
            module.observed = observed;
            if !module.is_stale() {
                self.stale.remove(&id);
            }
            match result {
                Ok(Some(deps)) if self.stale.contains(&id) => {
                    let deps = self.table.intern_all(&deps);
                    if deps != self.table.modules[id].deps {
                        new_deps.insert(id, deps);
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    return Err(EngineError::Analysis { module: module.name.clone(), file, error });
                }
            }
        }
        let table = &self.table;
        let direct = &self.direct;
        let follow = |d: ModId| direct.get(d).copied().unwrap_or(false) || table.modules[d].in_workspace;
        let deps_of = |id: ModId| -> &[NameId] { new_deps.get(&id).map_or(&table.modules[id].deps, |d| d) };
        let mut roots = Vec::new();
        for ns in &self.namespaces {
            roots.extend(ns.roots.iter().copied());
        }
        let topology =
            if new_deps.is_empty() { None } else { Some(graph::topology(table, &roots, &deps_of, &follow)) };
        let topology = topology.as_ref().unwrap_or(&self.topology);
        let stale = &self.stale;
        let steps = graph::plan_steps(table, topology, &|id| stale.contains(&id), &|id| forced.contains(&id));
        let planned = steps
            .iter()
            .map(|step| {
                let module = &self.table.modules[step.id];
                PlannedReload {
                    module: module.name.clone(),
                    file: module.file.clone(),
                    reason: step.reason.as_str(),
                    mtime: match &module.observed {
                        Observed::Present { meta, .. } => meta.mtime_seconds(),
                        _ => 0.0,
                    },
                    after: step.after.iter().map(|&a| self.table.modules[a].name.clone()).collect(),
                }
            })
            .collect();
        self.pending = Some(PendingPlan { steps, new_deps });
        Ok(planned)
    }

    /// Record that every reload of the last plan succeeded: the modules now
    /// run what was on disk when planned. Then track what they newly import.
    pub fn commit(&mut self, resolver: &mut dyn Resolver) -> Result<(), EngineError> {
        let plan = self.pending.take().ok_or(EngineError::NoPlan)?;
        let mut new_deps = plan.new_deps;
        let mut changed: Vec<ModId> = Vec::new();
        for step in &plan.steps {
            let module = &mut self.table.modules[step.id];
            if step.reason == Reason::Modified || module.loaded.is_none() {
                module.loaded = module.observed.hash();
            }
            if let Some(deps) = new_deps.remove(&step.id) {
                module.deps = deps;
                changed.push(step.id);
            }
            self.stale.remove(&step.id);
        }
        if changed.is_empty() {
            // Same graph: the cached order, watches and maps stay valid.
            return Ok(());
        }
        self.topology_stale = true;
        // Workspace modules the changed imports name are tracked; one that
        // cannot be analysed is tracked anyway and reported by the next sync.
        let result = self.discover(resolver, false, Some(&changed));
        self.ensure_topology();
        result
    }

    /// Whether the last plan changes some module's imports (its reloads may
    /// import modules not loaded yet, so the import system's directory
    /// caches should be refreshed first).
    pub fn plan_changes_imports(&self) -> bool {
        self.pending.as_ref().is_some_and(|plan| !plan.new_deps.is_empty())
    }

    /// Forget the last plan (its reloads were rolled back).
    pub fn abort(&mut self) {
        self.pending = None;
    }

    // ----------------------------------------------------------------------
    // Introspection

    /// Namespaces with registrations, in registration order.
    pub fn namespaces(&self) -> Vec<u64> {
        self.namespaces.iter().map(|n| n.id).collect()
    }

    /// The effective registered imports of namespace `ns` (all when `None`).
    pub fn registrations(&self, ns: Option<u64>) -> Vec<(u64, Binding)> {
        self.namespaces
            .iter()
            .filter(|n| ns.is_none_or(|id| id == n.id))
            .flat_map(|n| n.records.iter().map(move |b| (n.id, b.clone())))
            .collect()
    }

    /// Registered records of the namespaces affected by reloading `modules`:
    /// per namespace, every record in order, flagged when its module reloaded.
    pub fn rebind_plan(&self, modules: &[String]) -> Vec<(u64, Vec<(Binding, bool)>)> {
        let reloaded: HashSet<&str> = modules.iter().map(String::as_str).collect();
        let mut out = Vec::new();
        for ns in &self.namespaces {
            if !ns.records.iter().any(|b| reloaded.contains(b.module.as_str())) {
                continue;
            }
            let records =
                ns.records.iter().map(|b| (b.clone(), reloaded.contains(b.module.as_str()))).collect();
            out.push((ns.id, records));
        }
        out
    }

    /// Tracked modules reachable from `ns`'s registrations (from all when
    /// `None`), in tracking order.
    pub fn tracked(&mut self, ns: Option<u64>) -> Vec<TrackedInfo> {
        self.ensure_topology();
        let reachable: Vec<bool> = match ns {
            None => self.topology.reachable.clone(),
            Some(id) => {
                let roots: Vec<ModId> = self
                    .namespaces
                    .iter()
                    .filter(|n| n.id == id)
                    .flat_map(|n| n.roots.iter().copied())
                    .collect();
                let table = &self.table;
                let direct = &self.direct;
                let follow = |d: ModId| direct[d] || table.modules[d].in_workspace;
                graph::topology(table, &roots, &|i| &table.modules[i].deps, &follow).reachable
            }
        };
        // Out of date: changed, or depending on a module that will reload.
        let stale = &self.stale;
        let mut pending = vec![false; self.table.len()];
        for step in graph::plan_steps(&self.table, &self.topology, &|id| stale.contains(&id), &|_| false) {
            pending[step.id] = true;
        }
        let direct = &self.direct;
        let table = &self.table;
        let follow = |d: ModId| direct[d] || table.modules[d].in_workspace;
        (0..self.table.len())
            .filter(|&id| reachable[id])
            .map(|id| {
                let module = &self.table.modules[id];
                let mut dependencies: Vec<String> = Vec::new();
                for dep in graph::edges(table, &module.deps, id, &follow) {
                    let name = &table.modules[dep].name;
                    if !dependencies.contains(name) {
                        dependencies.push(name.clone());
                    }
                }
                TrackedInfo {
                    name: module.name.clone(),
                    file: module.file.clone(),
                    direct: self.direct[id],
                    dependencies,
                    pending: pending[id] || module.is_stale(),
                }
            })
            .collect()
    }
}

/// A module's file, read and analysed: the part of tracking that needs no
/// engine state, so a batch of modules can be prepared in parallel.
struct Prepared {
    meta: ModuleMeta,
    target: Option<PathBuf>,
    observed: Observed,
    /// The source changed after the module's bytecode was written: what runs
    /// is older than the file.
    edited_since_import: bool,
    /// `None` when there was nothing to analyse (no file, missing, unreadable).
    deps: Option<Result<Vec<String>, AnalysisFailure>>,
}

fn prepare(meta: ModuleMeta, version: (u8, u8)) -> Prepared {
    let Some(file) = meta.file.as_deref() else {
        return Prepared {
            meta,
            target: None,
            observed: Observed::Missing,
            edited_since_import: false,
            deps: None,
        };
    };
    let target = link_target(file);
    let (observed, bytes) = fingerprint::read(file);
    let deps = bytes.map(|bytes| dependencies_of(&meta.name, meta.is_package, &bytes, version));
    let edited_since_import = match (&observed, meta.cached.as_deref()) {
        (Observed::Present { meta: source, .. }, Some(cached)) => edited_after_bytecode(source, cached),
        _ => false,
    };
    Prepared { meta, target, observed, edited_since_import, deps }
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

/// The dependency names of a module's source, deduplicated, in source order.
fn dependencies_of(
    name: &str,
    is_package: bool,
    bytes: &[u8],
    version: (u8, u8),
) -> Result<Vec<String>, AnalysisFailure> {
    let analysis = source::analyze_bytes(bytes, version)?;
    let package = imports::package_of(name, is_package);
    let mut names = Vec::new();
    for stmt in &analysis.imports {
        stmt.dependency_names(package, &mut names);
    }
    let mut seen = HashSet::with_capacity(names.len());
    names.retain(|n| seen.insert(n.clone()));
    Ok(names)
}

/// Where a symbolically linked file points (resolved fully), or `None`.
fn link_target(file: &Path) -> Option<PathBuf> {
    let meta = std::fs::symlink_metadata(file).ok()?;
    if !meta.file_type().is_symlink() {
        return None;
    }
    std::fs::canonicalize(file).ok()
}

/// A resolver for tests and tools: a fixed map of loaded modules.
#[derive(Clone, Debug, Default)]
pub struct MapResolver {
    pub modules: HashMap<String, Resolution>,
}

impl Resolver for MapResolver {
    fn resolve(&mut self, names: &[String]) -> Result<Vec<Resolution>, String> {
        Ok(names.iter().map(|n| self.modules.get(n).cloned().unwrap_or(Resolution::Absent)).collect())
    }
}

#[doc(hidden)]
pub fn content_hash(bytes: &[u8]) -> ContentHash {
    fingerprint::hash_bytes(bytes)
}
