//! PyO3 bindings of the LiveImport engine, exposed as `liveimport._engine`.
//!
//! Conversions only: every decision (and every error's wording) is the
//! engine's. The engine's answers cross as typed, frozen records. Each
//! method runs under `catch_unwind`, so an internal error surfaces as a
//! Python `RuntimeError` and never takes the interpreter down. The typed
//! surface is `python/liveimport/_engine.pyi`.

mod image;

use std::ffi::OsString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use liveimport_engine as engine;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyImportError, PyRuntimeError, PySyntaxError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

create_exception!(
    _engine,
    AnalysisError,
    PyException,
    "A module's source could not be read or parsed. Attributes: module, file, line, message, kind."
);

/// `(module, name, asname)`: a binding record, as `liveimport.Binding` spells it.
type BindingTuple = (String, Option<String>, Option<String>);

fn guard<T>(body: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(payload) => {
            let detail = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(PyRuntimeError::new_err(format!(
                "internal error in the LiveImport engine ({detail}); please report it. \
                 Call liveimport.reset() to start over."
            )))
        }
    }
}

fn path_out(path: Option<PathBuf>) -> Option<OsString> {
    path.map(PathBuf::into_os_string)
}

fn binding_out(b: engine::Binding) -> BindingTuple {
    (b.module, b.name, b.asname)
}

// ---------------------------------------------------------------------------
// Enums

/// Why a module reloads.
#[pyclass(module = "liveimport._engine", eq, eq_int, frozen, hash)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Reason {
    Modified,
    Dependent,
    Forced,
}

#[pymethods]
impl Reason {
    /// The reason's name in reports: `"modified"`, `"dependent"` or `"forced"`.
    #[getter]
    fn value(&self) -> &'static str {
        engine::Reason::from(*self).as_str()
    }
}

impl From<engine::Reason> for Reason {
    fn from(reason: engine::Reason) -> Reason {
        match reason {
            engine::Reason::Modified => Reason::Modified,
            engine::Reason::Dependent => Reason::Dependent,
            engine::Reason::Forced => Reason::Forced,
        }
    }
}

impl From<Reason> for engine::Reason {
    fn from(reason: Reason) -> engine::Reason {
        match reason {
            Reason::Modified => engine::Reason::Modified,
            Reason::Dependent => engine::Reason::Dependent,
            Reason::Forced => engine::Reason::Forced,
        }
    }
}

/// How changes are detected.
#[pyclass(module = "liveimport._engine", eq, eq_int, frozen, hash)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Mode {
    Events,
    Polling,
}

#[pymethods]
impl Mode {
    /// `"events"` or `"polling"`.
    #[getter]
    fn value(&self) -> &'static str {
        engine::Mode::from(*self).as_str()
    }
}

impl From<Mode> for engine::Mode {
    fn from(mode: Mode) -> engine::Mode {
        match mode {
            Mode::Events => engine::Mode::Events,
            Mode::Polling => engine::Mode::Polling,
        }
    }
}

impl From<engine::Mode> for Mode {
    fn from(mode: engine::Mode) -> Mode {
        match mode {
            engine::Mode::Events => Mode::Events,
            engine::Mode::Polling => Mode::Polling,
        }
    }
}

/// What went wrong when a source was analysed.
#[pyclass(module = "liveimport._engine", eq, eq_int, frozen, hash)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum FailureKind {
    /// Not valid Python.
    Syntax,
    /// Not text in its declared (or default) encoding.
    Decode,
    /// The file could not be read.
    Unreadable,
}

// ---------------------------------------------------------------------------
// Records

/// What the interpreter knows of a loaded module (built by the Python layer).
#[pyclass(module = "liveimport._engine", frozen, get_all)]
#[derive(Clone, Debug)]
struct ModuleMeta {
    name: String,
    /// Its `.py` source (absolute), or `None` when it has none.
    file: Option<PathBuf>,
    is_package: bool,
    /// Its bytecode file, if any.
    cached: Option<PathBuf>,
}

#[pymethods]
impl ModuleMeta {
    #[new]
    #[pyo3(signature = (name, file, is_package, cached=None))]
    fn new(name: String, file: Option<PathBuf>, is_package: bool, cached: Option<PathBuf>) -> Self {
        ModuleMeta { name, file, is_package, cached }
    }
}

impl From<ModuleMeta> for engine::ModuleMeta {
    fn from(meta: ModuleMeta) -> engine::ModuleMeta {
        engine::ModuleMeta {
            name: meta.name,
            file: meta.file,
            is_package: meta.is_package,
            cached: meta.cached,
        }
    }
}

impl From<&ModuleMeta> for engine::ModuleMeta {
    fn from(meta: &ModuleMeta) -> engine::ModuleMeta {
        engine::ModuleMeta {
            name: meta.name.clone(),
            file: meta.file.clone(),
            is_package: meta.is_package,
            cached: meta.cached.clone(),
        }
    }
}

/// One import statement: `import a, b as c` or `from m import x, y as z`.
#[pyclass(module = "liveimport._engine", frozen, get_all)]
struct Statement {
    /// Its first line.
    line: u32,
    from_import: bool,
    /// The `from` module (absolute when registered; as written, with
    /// `level` dots, from `analyze_source`); `None` for `import`.
    module: Option<String>,
    level: u32,
    /// `(name, asname)` pairs.
    names: Vec<(String, Option<String>)>,
}

impl From<engine::ImportStmt> for Statement {
    fn from(stmt: engine::ImportStmt) -> Statement {
        Statement {
            line: stmt.line,
            from_import: stmt.from_import,
            module: stmt.module,
            level: stmt.level,
            names: stmt.names.into_iter().map(|a| (a.name, a.asname)).collect(),
        }
    }
}

/// One reload of a plan.
#[pyclass(module = "liveimport._engine", frozen, get_all)]
struct PlannedReload {
    module: String,
    file: Option<OsString>,
    reason: Reason,
    /// Modification time of its file (seconds since the epoch).
    mtime: f64,
    /// Modules reloaded earlier in the plan that cause this reload.
    after: Vec<String>,
    /// For a modified module that registered `from` imports name: the names
    /// its new source binds at module level, sorted; `None` when unknown.
    binds: Option<Vec<String>>,
}

impl From<engine::PlannedReload> for PlannedReload {
    fn from(step: engine::PlannedReload) -> PlannedReload {
        PlannedReload {
            module: step.module,
            file: path_out(step.file),
            reason: step.reason.into(),
            mtime: step.mtime,
            after: step.after,
            binds: match step.binds {
                engine::Binds::Static(names) => Some(names),
                engine::Binds::NotAsked | engine::Binds::Dynamic => None,
            },
        }
    }
}

/// A namespace to rebind after a plan's reloads: all its records, in order.
#[pyclass(module = "liveimport._engine", frozen, get_all)]
struct Rebind {
    namespace: u64,
    records: Vec<BindingTuple>,
}

/// What a sync must do.
#[pyclass(module = "liveimport._engine", frozen, get_all)]
struct Plan {
    reloads: Vec<Py<PlannedReload>>,
    rebinds: Vec<Py<Rebind>>,
    /// Some module's imports changed (refresh the import system's caches).
    imports_changed: bool,
    /// What change detection decided since the last call.
    notices: Vec<Py<Notice>>,
}

/// Something change detection decided.
#[pyclass(module = "liveimport._engine", frozen, get_all)]
struct Notice {
    /// A fallback the user should know about (else a detail for debugging).
    warning: bool,
    /// Worth a Python warning, not only a log record.
    tell_user: bool,
    message: String,
}

fn notices_out(py: Python<'_>, notices: Vec<engine::Notice>) -> PyResult<Vec<Py<Notice>>> {
    notices
        .into_iter()
        .map(|n| Py::new(py, Notice { warning: n.warning, tell_user: n.tell_user, message: n.message }))
        .collect()
}

/// A tracked module.
#[pyclass(module = "liveimport._engine", frozen, get_all)]
struct TrackedRecord {
    name: String,
    file: Option<OsString>,
    direct: bool,
    dependencies: Vec<String>,
    pending: bool,
    excluded: bool,
}

/// How changes are detected, and over how many directories.
#[pyclass(module = "liveimport._engine", frozen, get_all)]
struct Detection {
    mode: Mode,
    /// Directories watched with file-system events.
    watched: usize,
    /// Directories whose files' metadata is polled.
    polled: usize,
    /// How many polls had to check every tracked file.
    full_checks: u64,
    /// Why directories are polled: `(reason, number of directories)`.
    poll_reasons: Vec<(String, usize)>,
}

/// How module files were analysed at registration (diagnostics).
#[pyclass(module = "liveimport._engine", frozen, get_all)]
struct ReadCounts {
    /// Parsed fully.
    parsed: u64,
    /// Read with the token scanner.
    scanned: u64,
    /// Answered by the persistent cache.
    cached: u64,
    /// Of those, files not read at all.
    unread: u64,
    /// Cache files written.
    cache_writes: u64,
}

// ---------------------------------------------------------------------------
// Errors and the resolver

fn analysis_error(py: Python<'_>, module: String, file: PathBuf, error: engine::AnalysisFailure) -> PyErr {
    let kind = match &error {
        engine::AnalysisFailure::Source(engine::SourceError::Decode { .. }) => FailureKind::Decode,
        engine::AnalysisFailure::Source(engine::SourceError::Syntax { .. }) => FailureKind::Syntax,
        engine::AnalysisFailure::Unreadable(_) => FailureKind::Unreadable,
    };
    let message = error.to_string();
    let err = AnalysisError::new_err(format!("{module}: {message}"));
    let value = err.value(py);
    let set = || -> PyResult<()> {
        value.setattr("module", module)?;
        value.setattr("file", file.into_os_string())?;
        value.setattr("line", error.line())?;
        value.setattr("message", message)?;
        value.setattr("kind", kind)?;
        Ok(())
    };
    match set() {
        Ok(()) => err,
        Err(failed) => failed,
    }
}

fn convert(py: Python<'_>, error: engine::EngineError) -> PyErr {
    match error {
        engine::EngineError::Analysis { module, file, error } => analysis_error(py, module, file, error),
        engine::EngineError::NotTracked(_)
        | engine::EngineError::NoSource(_)
        | engine::EngineError::Excluded(_) => PyValueError::new_err(error.to_string()),
        other => PyRuntimeError::new_err(other.to_string()),
    }
}

fn syntax_error(error: &engine::SourceError, filename: &str, source: &str) -> PyErr {
    let (line, column) = match error {
        engine::SourceError::Syntax { line, column, .. } => (*line, *column),
        engine::SourceError::Decode { line, .. } => (*line, 0),
    };
    let text = source.lines().nth(line.saturating_sub(1) as usize).unwrap_or("").to_owned();
    PySyntaxError::new_err((error.to_string(), (filename.to_owned(), line, column, text)))
}

/// Calls a Python function `resolve(names) -> list[ModuleMeta | None]`
/// (`None`: not loaded; a `ModuleMeta` without a file: no Python source).
struct PyResolver<'py> {
    func: Bound<'py, PyAny>,
    error: Option<PyErr>,
}

impl<'py> PyResolver<'py> {
    fn new(func: Bound<'py, PyAny>) -> Self {
        PyResolver { func, error: None }
    }

    fn convert(&mut self, error: engine::EngineError) -> PyErr {
        match error {
            engine::EngineError::Resolver(message) => {
                self.error.take().unwrap_or_else(|| PyRuntimeError::new_err(message))
            }
            other => convert(self.func.py(), other),
        }
    }
}

impl engine::Resolver for PyResolver<'_> {
    fn resolve(&mut self, names: &[String]) -> Result<Vec<engine::Resolution>, String> {
        let answers = self.func.call1((names.to_vec(),)).and_then(|answers| {
            let mut out = Vec::with_capacity(names.len());
            for answer in answers.try_iter()? {
                let answer = answer?;
                out.push(if answer.is_none() {
                    engine::Resolution::Absent
                } else {
                    let meta = answer.cast::<ModuleMeta>()?.get();
                    match meta.file {
                        None => engine::Resolution::NoSource,
                        Some(_) => engine::Resolution::Source(meta.into()),
                    }
                });
            }
            Ok(out)
        });
        answers.map_err(|e| {
            let message = e.to_string();
            self.error = Some(e);
            message
        })
    }
}

/// What `sys.modules` says of a module: `None` when it is not loaded; a
/// `ModuleMeta` without a file when it has no Python source. The one
/// definition (see [`describe_modules`]), used by the engine's resolver and
/// by the Python layer.
fn describe_module(py: Python<'_>, modules: &Bound<'_, PyAny>, name: &str) -> PyResult<Option<ModuleMeta>> {
    Ok(describe_modules(py, modules, &[name])?.pop().flatten())
}

/// [`describe_module`] for each of `names`, in order. The work is done in
/// passes over all of them (the modules, then their namespaces, their specs,
/// the specs' fields, the paths), each pass asking the processor for the objects
/// the next items need: in a kernel that imported thousands of modules
/// they are scattered in memory, and fetched one after the other they cost
/// more than the lookups themselves.
fn describe_modules<S: AsRef<str>>(
    py: Python<'_>,
    modules: &Bound<'_, PyAny>,
    names: &[S],
) -> PyResult<Vec<Option<ModuleMeta>>> {
    // `sys.modules.get(name)`; a plain dict (as it always is) without the
    // cost of a KeyError per absent name.
    let dict = modules.cast::<PyDict>().ok();
    let mut found = Vec::with_capacity(names.len());
    for name in names {
        let module = match dict {
            Some(dict) => dict.get_item(name.as_ref())?,
            None => modules.call_method1("get", (name.as_ref(),))?.into(),
        };
        found.push(module.filter(|m| !m.is_none()));
    }
    // A plain module's `__spec__` is an entry of its namespace: read there
    // (one lookup, and the namespace asked for ahead), else as an attribute.
    let module_type = py.get_type::<PyModule>();
    let mut namespaces = Vec::with_capacity(names.len());
    for (i, module) in found.iter().enumerate() {
        prefetch(found.get(i + AHEAD).and_then(Option::as_ref));
        namespaces.push(
            module
                .as_ref()
                .filter(|m| m.get_type().is(&module_type))
                .map(|m| m.cast::<PyModule>().map(PyModuleMethods::dict))
                .transpose()?,
        );
    }
    // `None`: no module, or no spec.
    let mut specs = Vec::with_capacity(names.len());
    for (i, module) in found.iter().enumerate() {
        prefetch(namespaces.get(i + AHEAD).and_then(Option::as_ref).map(|d| d.as_any()));
        let Some(module) = module else {
            specs.push(None);
            continue;
        };
        let spec = match namespaces[i]
            .as_ref()
            .map(|d| d.get_item(intern!(py, "__spec__")))
            .transpose()?
            .flatten()
        {
            Some(spec) => Some(spec),
            None => module.getattr_opt(intern!(py, "__spec__"))?,
        };
        specs.push(spec.filter(|s| !s.is_none()));
    }
    let mut fields = Vec::with_capacity(names.len());
    for (i, spec) in specs.iter().enumerate() {
        let ahead = specs.get(i + AHEAD).and_then(Option::as_ref);
        prefetch(ahead);
        // Where CPython 3.11 and 3.12 keep the pointer to an instance's
        // attribute values: just before the object.
        prefetch_at(ahead.map(|s| s.as_ptr().cast::<u8>().cast_const().wrapping_sub(32)));
        fields.push(spec.as_ref().map(spec_fields).transpose()?);
    }
    let mut out = Vec::with_capacity(names.len());
    for i in 0..names.len() {
        if let Some(Some((_, origin, cached, _))) = fields.get(i + AHEAD) {
            prefetch(Some(origin));
            prefetch(Some(cached));
        }
        let Some(module) = &found[i] else {
            out.push(None);
            continue;
        };
        let name = names[i].as_ref().to_owned();
        let Some((has_location, origin, cached, locations)) = fields[i].take() else {
            let is_package = module.hasattr(intern!(py, "__path__"))?;
            out.push(Some(ModuleMeta { name, file: None, is_package, cached: None }));
            continue;
        };
        let file = match has_location.then(|| origin.extract::<String>().ok()).flatten() {
            Some(origin) if origin.ends_with(".py") => Some(absolute(py, origin)?),
            _ => None,
        };
        let cached = cached.extract::<String>().ok().map(PathBuf::from);
        out.push(Some(ModuleMeta { name, file, is_package: !locations.is_none(), cached }));
    }
    Ok(out)
}

/// How many items ahead [`describe_modules`] asks for the objects of.
const AHEAD: usize = 8;

/// Ask the processor to bring `object`'s first bytes (its header and, for
/// a module, the pointer to its namespace) into the cache; a hint only.
fn prefetch(object: Option<&Bound<'_, PyAny>>) {
    prefetch_at(object.map(|o| o.as_ptr().cast::<u8>().cast_const()));
}

/// [`prefetch`] of any address (it need not be valid: a prefetch reads
/// nothing the program sees and cannot fault).
fn prefetch_at(address: Option<*const u8>) {
    #[cfg(target_arch = "x86_64")]
    if let Some(address) = address {
        // SAFETY: a prefetch has no effect the program can observe.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address.cast()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// `importlib.machinery.ModuleSpec`, looked up once.
fn module_spec_type(py: Python<'_>) -> &Bound<'_, PyAny> {
    static SPEC: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
    SPEC.get_or_init(py, || {
        py.import("importlib.machinery")
            .and_then(|m| m.getattr("ModuleSpec"))
            .map(Bound::unbind)
            .unwrap_or_else(|_| py.None())
    })
    .bind(py)
}

/// A spec's `has_location`, `origin`, `cached` and
/// `submodule_search_locations`. A `ModuleSpec` whose `cached` was computed
/// (the import system computes it) is read from its instance attributes
/// (`_set_fileattr`, `_cached`), without running the two properties (nor
/// reading its `__dict__`, which on CPython 3.11+ would make a dict object
/// for each spec, kept for the spec's life); anything else through its
/// public attributes.
#[allow(clippy::type_complexity)]
fn spec_fields<'py>(
    spec: &Bound<'py, PyAny>,
) -> PyResult<(bool, Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let py = spec.py();
    if spec.get_type().is(module_spec_type(py)) {
        // Interned names: no string made, and their hash known, per lookup.
        let get = |name: &Bound<'py, PyString>| spec.getattr_opt(name).ok().flatten();
        if let (Some(set), Some(origin), Some(cached), Some(locations)) = (
            get(intern!(py, "_set_fileattr")),
            get(intern!(py, "origin")),
            get(intern!(py, "_cached")),
            get(intern!(py, "submodule_search_locations")),
        ) {
            if !cached.is_none() || !set.is_truthy()? {
                return Ok((set.is_truthy()?, origin, cached, locations));
            }
        }
    }
    Ok((
        spec.getattr(intern!(py, "has_location"))?.is_truthy()?,
        spec.getattr(intern!(py, "origin"))?,
        spec.getattr(intern!(py, "cached"))?,
        spec.getattr(intern!(py, "submodule_search_locations"))?,
    ))
}

/// `os.path.abspath(path)`, without calling Python for a path that is
/// already absolute and normal (the usual `__spec__.origin`).
fn absolute(py: Python<'_>, path: String) -> PyResult<PathBuf> {
    let normal = cfg!(unix)
        && path.starts_with('/')
        && !path.ends_with('/')
        && !path.contains("//")
        && !path.contains("/./")
        && !path.contains("/../")
        && !path.ends_with("/.")
        && !path.ends_with("/..");
    if normal {
        return Ok(PathBuf::from(path));
    }
    py.import("os.path")?.getattr("abspath")?.call1((path,))?.extract()
}

/// `sys.modules`, read from the `sys` module looked up once (an import per
/// call costs microseconds; `sys.modules` itself may be replaced).
fn sys_modules(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static SYS: pyo3::sync::PyOnceLock<Py<PyModule>> = pyo3::sync::PyOnceLock::new();
    SYS.get_or_try_init(py, || py.import("sys").map(Bound::unbind))?.bind(py).getattr(intern!(py, "modules"))
}

/// The resolver the engine uses unless given another: `sys.modules`, read
/// directly (no Python call per name).
struct NativeResolver<'py> {
    py: Python<'py>,
    error: Option<PyErr>,
}

impl engine::Resolver for NativeResolver<'_> {
    fn resolve(&mut self, names: &[String]) -> Result<Vec<engine::Resolution>, String> {
        let answers = sys_modules(self.py).and_then(|modules| {
            Ok(describe_modules(self.py, &modules, names)?
                .into_iter()
                .map(|meta| match meta {
                    None => engine::Resolution::Absent,
                    Some(meta) if meta.file.is_none() => engine::Resolution::NoSource,
                    Some(meta) => engine::Resolution::Source(meta.into()),
                })
                .collect())
        });
        answers.map_err(|e| {
            let message = e.to_string();
            self.error = Some(e);
            message
        })
    }
}

/// The resolver a binding call was given (`None`: the native one).
enum AnyResolver<'py> {
    Python(PyResolver<'py>),
    Native(NativeResolver<'py>),
}

impl<'py> AnyResolver<'py> {
    fn new(py: Python<'py>, func: Option<Bound<'py, PyAny>>) -> Self {
        match func {
            Some(func) => AnyResolver::Python(PyResolver::new(func)),
            None => AnyResolver::Native(NativeResolver { py, error: None }),
        }
    }

    fn get(&mut self) -> &mut dyn engine::Resolver {
        match self {
            AnyResolver::Python(r) => r,
            AnyResolver::Native(r) => r,
        }
    }

    fn convert(&mut self, error: engine::EngineError) -> PyErr {
        match self {
            AnyResolver::Python(r) => r.convert(error),
            AnyResolver::Native(r) => match error {
                engine::EngineError::Resolver(message) => {
                    r.error.take().unwrap_or_else(|| PyRuntimeError::new_err(message))
                }
                other => convert(r.py, other),
            },
        }
    }
}

// ---------------------------------------------------------------------------
// The engine

/// The engine: owns all of LiveImport's state.
#[pyclass(module = "liveimport._engine")]
struct Engine {
    inner: engine::Engine,
    /// The Python version whose grammar applies.
    version: (u8, u8),
}

#[pymethods]
impl Engine {
    #[new]
    fn new(version: (u8, u8), workspace: Vec<PathBuf>, mode: PyRef<'_, Mode>) -> PyResult<Self> {
        let mode = *mode;
        guard(|| Ok(Engine { inner: engine::Engine::new(version, workspace, mode.into()), version }))
    }

    /// The top-level imports of registered statements, relative `from`
    /// modules resolved against `package`. Raises `SyntaxError`,
    /// `ImportError` (a relative import `package` cannot resolve) or
    /// `ValueError` (another statement, unless `allow_other`).
    fn analyze_statements(&self, source: &str, package: &str, allow_other: bool) -> PyResult<Vec<Statement>> {
        guard(|| match self.inner.analyze_statements(source, package, allow_other) {
            Ok(stmts) => Ok(stmts.into_iter().map(Statement::from).collect()),
            Err(engine::StatementsError::Syntax(error)) => Err(syntax_error(&error, "<importstmts>", source)),
            Err(error @ engine::StatementsError::Relative(_)) => {
                Err(PyImportError::new_err(error.to_string()))
            }
            Err(error @ engine::StatementsError::Other(_)) => Err(PyValueError::new_err(error.to_string())),
        })
    }

    /// Register `records` for namespace `ns` and track `modules`; atomic.
    #[pyo3(signature = (ns, clear, records, modules, resolver=None))]
    fn register(
        &mut self,
        py: Python<'_>,
        ns: u64,
        clear: bool,
        records: Vec<BindingTuple>,
        modules: Vec<PyRef<'_, ModuleMeta>>,
        resolver: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        guard(|| {
            let records = records
                .into_iter()
                .map(|(module, name, asname)| engine::Binding { module, name, asname })
                .collect();
            let modules = modules.iter().map(|m| engine::ModuleMeta::from(&**m)).collect();
            let mut resolver = AnyResolver::new(py, resolver);
            self.inner.register(ns, clear, records, modules, resolver.get()).map_err(|e| resolver.convert(e))
        })
    }

    /// True when some tracked module may be out of date. Cheap when nothing
    /// changed: one non-blocking read, no allocation.
    fn poll(&mut self) -> PyResult<bool> {
        guard(|| Ok(self.inner.poll()))
    }

    /// The plan of a sync, from what the last `poll()` observed; kept for
    /// `commit()`. Raises `AnalysisError` or `ValueError` (bad `force`).
    fn plan(&mut self, py: Python<'_>, force: Vec<String>) -> PyResult<Plan> {
        guard(|| {
            let plan = self.inner.plan(&force).map_err(|e| convert(py, e))?;
            let reloads = plan
                .reloads
                .into_iter()
                .map(|r| Py::new(py, PlannedReload::from(r)))
                .collect::<PyResult<_>>()?;
            let rebinds = plan
                .rebinds
                .into_iter()
                .map(|r| {
                    let records = r.records.into_iter().map(binding_out).collect();
                    Py::new(py, Rebind { namespace: r.namespace, records })
                })
                .collect::<PyResult<_>>()?;
            let notices = notices_out(py, plan.notices)?;
            Ok(Plan { reloads, rebinds, imports_changed: plan.imports_changed, notices })
        })
    }

    /// The reloads the next sync would do, in order (nothing is kept).
    fn preview(&mut self, py: Python<'_>) -> PyResult<Vec<PlannedReload>> {
        guard(|| {
            let steps = self.inner.preview().map_err(|e| convert(py, e))?;
            Ok(steps.into_iter().map(PlannedReload::from).collect())
        })
    }

    /// Every reload of the last plan succeeded; all or nothing.
    #[pyo3(signature = (resolver=None))]
    fn commit(&mut self, py: Python<'_>, resolver: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        guard(|| {
            let mut resolver = AnyResolver::new(py, resolver);
            self.inner.commit(resolver.get()).map_err(|e| resolver.convert(e))
        })
    }

    /// The last plan was rolled back.
    fn abort(&mut self) -> PyResult<()> {
        guard(|| {
            self.inner.abort();
            Ok(())
        })
    }

    /// `(namespace id, binding)` per effective registered import.
    #[pyo3(signature = (ns=None))]
    fn registrations(&self, ns: Option<u64>) -> PyResult<Vec<(u64, BindingTuple)>> {
        guard(|| Ok(self.inner.registrations(ns).into_iter().map(|(id, b)| (id, binding_out(b))).collect()))
    }

    /// The tracked modules `ns`'s registrations reach (all when `None`).
    #[pyo3(signature = (ns=None))]
    fn tracked(&mut self, ns: Option<u64>) -> PyResult<Vec<TrackedRecord>> {
        guard(|| {
            Ok(self
                .inner
                .tracked(ns)
                .into_iter()
                .map(|t| TrackedRecord {
                    name: t.name,
                    file: path_out(t.file),
                    direct: t.direct,
                    dependencies: t.dependencies,
                    pending: t.pending,
                    excluded: t.excluded,
                })
                .collect())
        })
    }

    fn namespaces(&self) -> PyResult<Vec<u64>> {
        guard(|| Ok(self.inner.namespaces()))
    }

    fn forget_namespace(&mut self, ns: u64) -> PyResult<()> {
        guard(|| {
            self.inner.forget_namespace(ns);
            Ok(())
        })
    }

    #[pyo3(signature = (dirs, resolver=None))]
    fn set_workspace(
        &mut self,
        py: Python<'_>,
        dirs: Vec<PathBuf>,
        resolver: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        guard(|| {
            let mut resolver = AnyResolver::new(py, resolver);
            self.inner.set_workspace(dirs, resolver.get()).map_err(|e| resolver.convert(e))
        })
    }

    /// Where the persistent analysis cache lives (`None`: no cache).
    fn set_cache_dir(&mut self, dir: Option<PathBuf>) -> PyResult<()> {
        guard(|| {
            self.inner.set_cache_dir(dir);
            Ok(())
        })
    }

    /// How module files were analysed at registration since the engine
    /// began: parsed fully, scanned, answered by the persistent cache, not
    /// read at all (cache, unchanged metadata), and cache files written.
    fn read_counts(&self) -> PyResult<ReadCounts> {
        guard(|| {
            let c = self.inner.read_counts();
            Ok(ReadCounts {
                parsed: c.parsed,
                scanned: c.scanned,
                cached: c.cached,
                unread: c.unread,
                cache_writes: c.cache_writes,
            })
        })
    }

    fn workspace(&self) -> PyResult<Vec<OsString>> {
        guard(|| Ok(self.inner.workspace().iter().map(|p| p.clone().into_os_string()).collect()))
    }

    fn reset(&mut self) -> PyResult<()> {
        guard(|| {
            self.inner.reset();
            Ok(())
        })
    }

    fn detection(&self) -> PyResult<Detection> {
        guard(|| {
            let d = self.inner.detection();
            Ok(Detection {
                mode: d.mode.into(),
                watched: d.watched,
                polled: d.polled,
                full_checks: d.full_checks,
                poll_reasons: d.poll_reasons,
            })
        })
    }

    /// Why `dir`'s files would be polled rather than watched with events
    /// (`None`: events), without watching it.
    fn probe(&self, dir: PathBuf) -> PyResult<Option<String>> {
        guard(|| Ok(self.inner.probe(&dir)))
    }

    fn set_mode(&mut self, mode: PyRef<'_, Mode>) -> PyResult<()> {
        let mode = *mode;
        guard(|| {
            self.inner.set_mode(mode.into());
            Ok(())
        })
    }

    /// What change detection decided since the last call.
    fn take_notices(&mut self, py: Python<'_>) -> PyResult<Vec<Py<Notice>>> {
        guard(|| notices_out(py, self.inner.take_notices()))
    }

    /// Decode and analyse a module's source bytes as the engine does for
    /// tracked files (BOM, coding cookie, then the parser), for
    /// differential tests of the front end: the imports that run at import
    /// time, `module` as written. Raises `SyntaxError`.
    fn analyze_source(&self, data: &[u8]) -> PyResult<Vec<Statement>> {
        guard(|| {
            let source = engine::source::analyze_module(data, self.version, false)
                .map_err(|e| syntax_error(&e, "<bytes>", ""))?;
            Ok(source.imports.into_iter().map(Statement::from).collect())
        })
    }

    /// Exclude modules by name: never reloaded, and they carry no reload.
    fn exclude(&mut self, names: Vec<String>) -> PyResult<()> {
        guard(|| {
            self.inner.exclude(&names);
            Ok(())
        })
    }

    /// Undo `exclude`.
    fn include(&mut self, names: Vec<String>) -> PyResult<()> {
        guard(|| {
            self.inner.include(&names);
            Ok(())
        })
    }

    /// Whether `file` lies in the workspace.
    fn in_workspace(&self, file: PathBuf) -> PyResult<bool> {
        guard(|| Ok(self.inner.in_workspace(&file)))
    }

    /// The excluded module names, sorted.
    fn excluded(&self) -> PyResult<Vec<String>> {
        guard(|| Ok(self.inner.excluded()))
    }

    /// What a notebook cell reads: `(names, chains)` (see `CellUses`);
    /// empty when it does not parse.
    fn cell_uses(&self, source: &str) -> PyResult<(Vec<String>, Vec<String>)> {
        guard(|| {
            Ok(match engine::source::cell_uses(source, self.version) {
                Ok(uses) => (uses.names, uses.chains),
                Err(_) => (Vec::new(), Vec::new()),
            })
        })
    }

    /// The imports the token scanner finds in a module's source bytes, as
    /// `analyze_source` gives them, or `None` where it declines (the engine
    /// then parses fully). It does not look for syntax errors: the engine
    /// uses it only for sources known to compile. For differential tests.
    fn scan_source(&self, data: &[u8]) -> PyResult<Option<Vec<Statement>>> {
        guard(|| {
            Ok(engine::scan::scan_module(data)
                .map(|imports| imports.into_iter().map(Statement::from).collect()))
        })
    }

    /// Deliberately fail inside the engine (tests of kernel safety).
    fn _panic_for_test(&self) -> PyResult<()> {
        guard(|| -> PyResult<()> { panic!("deliberate test panic") })
    }
}

/// What the engine knows of a loaded module from `sys.modules` (`None`: not
/// loaded; no `file`: no Python source).
#[pyfunction]
fn describe(py: Python<'_>, name: &str) -> PyResult<Option<ModuleMeta>> {
    guard(|| describe_module(py, &sys_modules(py)?, name))
}

/// Content hash of bytes, as the engine computes it (for tests and tools).
#[pyfunction]
fn content_hash(data: &[u8]) -> u64 {
    engine::content_hash(data)
}

#[pymodule]
fn _engine(m: &Bound<'_, PyModule>) -> PyResult<()> {
    image::trim();
    m.add_class::<Engine>()?;
    m.add_class::<Reason>()?;
    m.add_class::<Mode>()?;
    m.add_class::<FailureKind>()?;
    m.add_class::<ModuleMeta>()?;
    m.add_class::<Statement>()?;
    m.add_class::<PlannedReload>()?;
    m.add_class::<Rebind>()?;
    m.add_class::<Plan>()?;
    m.add_class::<TrackedRecord>()?;
    m.add_class::<Detection>()?;
    m.add_class::<Notice>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<ReadCounts>()?;
    m.add_function(wrap_pyfunction!(content_hash, m)?)?;
    m.add_function(wrap_pyfunction!(describe, m)?)?;
    m.add("AnalysisError", m.py().get_type::<AnalysisError>())?;
    Ok(())
}
