//! LiveImport's engine: the single owner of LiveImport's state.
//!
//! It knows which modules are tracked, what their files looked like when they
//! were loaded, how they depend on each other and which names each namespace
//! registered, and it decides everything that can be decided without running
//! Python code: what changed, what must reload, in which order. It never calls
//! into Python; facts about the interpreter (which modules are loaded and
//! where their sources are) come in as plain data, through a [`Resolver`].

pub mod bindings;
pub mod cache;
mod charmaps;
pub mod decode;
pub mod detect;
pub mod fingerprint;
pub mod graph;
pub mod imports;
pub mod plan;
pub mod scan;
pub mod source;
pub mod track;
pub mod watch;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

pub use bindings::Binding;
use bindings::Records;
use detect::Detector;
use fingerprint::ContentHash;
use graph::{ModId, NameId, Table};
pub use imports::{Alias, ImportStmt, RelativeImportError};
use plan::{Order, Pending};
pub use plan::{Plan, PlannedReload, Reason, Rebind};
pub use source::{Analysis, Binds, SourceError};
pub use track::ReadCounts;
use track::Workspace;
pub use watch::{Mode, Notice};

/// Facts about a module, gathered from the interpreter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleMeta {
    pub name: String,
    /// Absolute path of its `.py` source; `None` when it has none (built
    /// in, extension module, namespace package, another kind of file).
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
    #[error("module {0} is not tracked by LiveImport")]
    NotTracked(String),
    /// `force` named a module that has no source file to reload from.
    #[error("module {0} has no Python source file to reload")]
    NoSource(String),
    /// `force` named an excluded module.
    #[error("module {0} is excluded (liveimport.include() it first)")]
    Excluded(String),
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

/// Why registered statements were refused (worded as the PyPI package
/// words it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatementsError {
    /// Not valid Python.
    #[error("{0}")]
    Syntax(SourceError),
    /// A relative import its package cannot resolve.
    #[error("{0}")]
    Relative(RelativeImportError),
    /// A statement that is not an import (and none was allowed).
    #[error("Expected only imports, found {0}")]
    Other(String),
}

/// How changes are detected, as introspection shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detection {
    pub mode: Mode,
    /// Directories watched with file-system events.
    pub watched: usize,
    /// Directories whose files' metadata is polled.
    pub polled: usize,
    /// How many polls had to check every tracked file (events lost, a
    /// watched directory gone, a symbolic link changed, a mode switch).
    pub full_checks: u64,
    /// Why directories are polled: (reason, how many directories).
    pub poll_reasons: Vec<(String, usize)>,
}

/// A tracked module, as introspection shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackedInfo {
    pub name: String,
    pub file: Option<PathBuf>,
    pub direct: bool,
    /// Tracked modules it depends on, in source order.
    pub dependencies: Vec<String>,
    /// Out of date: the next sync reloads it.
    pub pending: bool,
    /// Excluded: never reloaded, carries no reload.
    pub excluded: bool,
}

/// One namespace's registrations.
#[derive(Clone, Debug)]
pub(crate) struct Namespace {
    pub id: u64,
    pub records: Records,
    /// Modules named by its registered statements.
    pub roots: Vec<ModId>,
}

/// Which modules the registrations reach.
#[derive(Clone, Debug, Default)]
pub(crate) struct Reach {
    /// Per module: named by a registered statement.
    pub direct: Vec<bool>,
    /// Per module: reached from those through imports (of modules that are
    /// direct or in the workspace).
    pub reachable: Vec<bool>,
}

/// The engine: the single owner of LiveImport's state.
#[derive(Debug)]
pub struct Engine {
    pub(crate) table: Table,
    pub(crate) namespaces: Vec<Namespace>,
    pub(crate) workspace: Workspace,
    /// The Python version whose grammar applies.
    pub(crate) version: (u8, u8),
    /// Names loaded without a trackable source (no `.py`, or outside the
    /// workspace): not asked about again until the workspace changes.
    pub(crate) untrackable: HashSet<NameId>,
    pub(crate) reach: Reach,
    /// The reload order of the current graph (see [`plan`]), when known.
    pub(crate) order: Option<Order>,
    /// `reach` (and so the watches) must be computed again.
    pub(crate) topology_stale: bool,
    /// The next watch must look at symbolic links again.
    relink: bool,
    pub(crate) detector: Detector,
    pub(crate) pending: Option<Pending>,
    /// Modules the user excluded, by name (tracked or not yet): kept by
    /// `reset()`.
    pub(crate) excluded: BTreeSet<String>,
    /// The persistent cache's place, and how files were read.
    pub(crate) reading: track::Reading,
    /// The cache, during one operation that tracks modules.
    pub(crate) session: Option<track::Session>,
}

impl Engine {
    /// A new engine for Python `version` (major, minor), with a workspace
    /// (absolute directories) and a change-detection mode.
    pub fn new(version: (u8, u8), workspace: Vec<PathBuf>, mode: Mode) -> Engine {
        Engine {
            table: Table::default(),
            namespaces: Vec::new(),
            workspace: Workspace::new(workspace),
            version,
            untrackable: HashSet::new(),
            reach: Reach::default(),
            order: None,
            topology_stale: false,
            relink: false,
            detector: Detector::new(mode),
            pending: None,
            excluded: BTreeSet::new(),
            reading: track::Reading::default(),
            session: None,
        }
    }

    /// Exclude modules (by name): never reloaded, their edits ignored, and
    /// they carry no reload to the modules that import them.
    pub fn exclude(&mut self, names: &[String]) {
        self.excluded.extend(names.iter().cloned());
        self.refresh_exclusions();
    }

    /// Undo [`Engine::exclude`]. A module edited meanwhile reloads at the
    /// next sync: its file differs from what is loaded.
    pub fn include(&mut self, names: &[String]) {
        for name in names {
            self.excluded.remove(name);
        }
        self.refresh_exclusions();
    }

    /// Whether `file` lies in the workspace.
    pub fn in_workspace(&self, file: &std::path::Path) -> bool {
        self.workspace.contains(file)
    }

    /// The excluded module names, sorted.
    pub fn excluded(&self) -> Vec<String> {
        self.excluded.iter().cloned().collect()
    }

    fn refresh_exclusions(&mut self) {
        let table = &mut self.table;
        for module in &mut table.modules {
            module.excluded = self.excluded.contains(table.names.resolve(module.name));
        }
        self.order = None;
    }

    /// Parse registered statements (`register(importstmts=...)`): their
    /// top-level imports, relative `from` modules resolved against
    /// `package`. Any other statement is refused unless `allow_other`.
    pub fn analyze_statements(
        &self,
        source: &str,
        package: &str,
        allow_other: bool,
    ) -> Result<Vec<ImportStmt>, StatementsError> {
        let imports = match imports::simple_statements(source) {
            Some(imports) => imports,
            None => {
                let analysis = source::analyze_text(source, self.version).map_err(StatementsError::Syntax)?;
                if let (Some((_, text)), false) = (analysis.first_other, allow_other) {
                    return Err(StatementsError::Other(text));
                }
                analysis.imports
            }
        };
        imports.into_iter().map(|stmt| stmt.resolved(package).map_err(StatementsError::Relative)).collect()
    }

    // ----------------------------------------------------------------------
    // Derived state

    /// The directly registered modules, in tracking order.
    pub(crate) fn roots(&self) -> Vec<ModId> {
        let mut roots: Vec<ModId> = self.namespaces.iter().flat_map(|ns| ns.roots.iter().copied()).collect();
        roots.sort_unstable();
        roots.dedup();
        roots
    }

    pub(crate) fn direct_flags(&self) -> Vec<bool> {
        let mut direct = vec![false; self.table.len()];
        for id in self.roots() {
            direct[id] = true;
        }
        direct
    }

    /// Whether imports lead into module `id`: it is registered directly, or
    /// lies in the workspace.
    pub(crate) fn follows(&self, id: ModId) -> bool {
        self.reach.direct.get(id).copied().unwrap_or(false) || self.table.modules[id].in_workspace
    }

    /// Recompute what the registrations reach, and watch those files.
    pub(crate) fn ensure_topology(&mut self) {
        if !self.topology_stale {
            return;
        }
        self.topology_stale = false;
        self.order = None;
        self.reach.direct = self.direct_flags();
        let table = &self.table;
        let follow = |d: ModId| self.follows(d);
        let reachable = table.reach(&self.roots(), &|id| &table.modules[id].deps, &follow);
        let watched: Vec<ModId> = (0..table.len()).filter(|&id| reachable[id]).collect();
        self.reach.reachable = reachable;
        self.detector.watch(&self.table, watched, std::mem::take(&mut self.relink));
    }

    // ----------------------------------------------------------------------
    // Change detection

    /// Bring the engine's view of the files up to date. Returns whether any
    /// reachable module is out of date. With events and nothing changed this
    /// is one non-blocking `read` and no allocation.
    pub fn poll(&mut self) -> bool {
        self.ensure_topology();
        let mut seen = self.detector.poll(&mut self.table);
        // A re-pointed symbolic link (or lost events): watch again, then
        // check everything. Twice at most; more waits for the next poll.
        for _ in 0..2 {
            if !seen.rewatch {
                break;
            }
            self.retarget();
            self.relink = true;
            self.topology_stale = true;
            self.ensure_topology();
            let again = self.detector.poll(&mut self.table);
            seen = detect::Seen {
                rewatch: again.rewatch,
                missing_changed: seen.missing_changed || again.missing_changed,
            };
        }
        if seen.missing_changed {
            self.order = None;
        }
        !self.detector.stale().is_empty()
    }

    /// How changes are detected now.
    pub fn detection(&self) -> Detection {
        let (watched, polled, full_checks) = self.detector.counts();
        Detection {
            mode: self.detector.mode(),
            watched,
            polled,
            full_checks,
            poll_reasons: self.detector.poll_reasons(),
        }
    }

    /// Why `dir`'s files would be polled rather than watched with events
    /// (`None`: events), without watching it.
    pub fn probe(&self, dir: &std::path::Path) -> Option<String> {
        self.detector.probe(dir)
    }

    pub fn set_mode(&mut self, mode: Mode) {
        self.detector.set_mode(mode);
        self.topology_stale = true;
    }

    /// What change detection decided since the last call (directories
    /// polled and why; the fallbacks a user should know about).
    pub fn take_notices(&mut self) -> Vec<Notice> {
        self.ensure_topology();
        self.detector.take_notices()
    }

    // ----------------------------------------------------------------------
    // Introspection and reset

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

    /// Tracked modules reachable from `ns`'s registrations (from all when
    /// `None`), in tracking order.
    pub fn tracked(&mut self, ns: Option<u64>) -> Vec<TrackedInfo> {
        self.poll();
        let pending: HashSet<String> = match self.preview() {
            Ok(plan) => plan.into_iter().map(|step| step.module).collect(),
            // A module that cannot be analysed is pending itself.
            Err(_) => self.detector.stale().iter().map(|&id| self.table.name(id).to_owned()).collect(),
        };
        let reachable: Vec<bool> = match ns {
            None => self.reach.reachable.clone(),
            Some(id) => {
                let roots: Vec<ModId> = self
                    .namespaces
                    .iter()
                    .filter(|n| n.id == id)
                    .flat_map(|n| n.roots.iter().copied())
                    .collect();
                let table = &self.table;
                table.reach(&roots, &|i| &table.modules[i].deps, &|d| self.follows(d))
            }
        };
        let follow = |d: ModId| self.follows(d);
        (0..self.table.len())
            .filter(|&id| reachable[id])
            .map(|id| {
                let module = &self.table.modules[id];
                TrackedInfo {
                    name: self.table.name(id).to_owned(),
                    file: module.file.as_deref().map(Path::to_path_buf),
                    direct: self.reach.direct[id],
                    dependencies: self
                        .table
                        .edges(id, &module.deps, &follow)
                        .into_iter()
                        .map(|d| self.table.name(d).to_owned())
                        .collect(),
                    pending: pending.contains(self.table.name(id)),
                    excluded: module.excluded,
                }
            })
            .collect()
    }

    /// Forget every registration and tracked module; release the watches.
    pub fn reset(&mut self) {
        let mode = self.detector.mode();
        let workspace = self.workspace.dirs().to_vec();
        let excluded = std::mem::take(&mut self.excluded);
        self.detector.release();
        let reading = std::mem::take(&mut self.reading);
        *self = Engine::new(self.version, workspace, mode);
        self.excluded = excluded;
        self.reading = reading;
    }

    /// Drop a namespace's registrations (its dict was garbage collected).
    pub fn forget_namespace(&mut self, ns: u64) {
        let before = self.namespaces.len();
        self.namespaces.retain(|n| n.id != ns);
        if self.namespaces.len() != before {
            self.topology_stale = true;
        }
    }
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
