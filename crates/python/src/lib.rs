//! PyO3 bindings of the LiveImport engine, exposed as `liveimport._engine`.
//!
//! Conversions only: every decision is the engine's. Each method runs under
//! `catch_unwind`, so an internal error surfaces as a Python `RuntimeError`
//! and never takes the interpreter down.

use std::ffi::OsString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use liveimport_engine as engine;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyImportError, PyRuntimeError, PySyntaxError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

create_exception!(
    _engine,
    AnalysisError,
    PyException,
    "A module's source could not be analysed. args: (module, file, line, message, kind)."
);

/// `(module, name, asname)`, as the Python layer spells a binding record.
type BindingTuple = (String, Option<String>, Option<String>);

/// `(name, file, is_package, cached)`: a module's metadata from the interpreter.
type ModuleTuple = (String, Option<PathBuf>, bool, Option<PathBuf>);

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

fn mode_from(mode: &str) -> PyResult<engine::Mode> {
    match mode {
        "events" => Ok(engine::Mode::Events),
        "polling" => Ok(engine::Mode::Polling),
        other => Err(PyValueError::new_err(format!(
            "change detection mode must be 'events' or 'polling', not {other:?}"
        ))),
    }
}

/// Calls a Python function `resolve(names) -> list[None | False | (name, file, is_package, cached)]`.
struct PyResolver<'py> {
    func: Bound<'py, PyAny>,
    error: Option<PyErr>,
}

impl engine::Resolver for PyResolver<'_> {
    fn resolve(&mut self, names: &[String]) -> Result<Vec<engine::Resolution>, String> {
        let answers = self.func.call1((names.to_vec(),)).and_then(|answers| {
            let mut out = Vec::with_capacity(names.len());
            for answer in answers.try_iter()? {
                let answer = answer?;
                out.push(if answer.is_none() {
                    engine::Resolution::Absent
                } else if answer.is_instance_of::<PyTuple>() {
                    let (name, file, is_package, cached): ModuleTuple = answer.extract()?;
                    engine::Resolution::Source(engine::ModuleMeta { name, file, is_package, cached })
                } else {
                    engine::Resolution::NoSource
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

impl PyResolver<'_> {
    fn convert(&mut self, error: engine::EngineError) -> PyErr {
        match error {
            engine::EngineError::Resolver(message) => {
                self.error.take().unwrap_or_else(|| PyRuntimeError::new_err(message))
            }
            other => convert(other),
        }
    }
}

fn convert(error: engine::EngineError) -> PyErr {
    match error {
        engine::EngineError::Analysis { module, file, error } => {
            let kind = match &error {
                engine::AnalysisFailure::Source(engine::SourceError::Decode { .. }) => "decode",
                engine::AnalysisFailure::Source(engine::SourceError::Syntax { .. }) => "syntax",
                engine::AnalysisFailure::Unreadable(_) => "unreadable",
            };
            AnalysisError::new_err((module, file.into_os_string(), error.line(), error.to_string(), kind))
        }
        engine::EngineError::NotTracked(name) => {
            PyValueError::new_err(format!("module {name} is not tracked by LiveImport"))
        }
        other => PyRuntimeError::new_err(other.to_string()),
    }
}

/// The engine: owns all of LiveImport's state.
#[pyclass(module = "liveimport._engine")]
struct Engine {
    inner: engine::Engine,
    /// The Python version whose grammar applies (for `analyze_bytes`).
    version: (u8, u8),
}

#[pymethods]
impl Engine {
    #[new]
    fn new(version: (u8, u8), workspace: Vec<PathBuf>, mode: &str) -> PyResult<Self> {
        let mode = mode_from(mode)?;
        guard(|| Ok(Engine { inner: engine::Engine::new(version, workspace, mode), version }))
    }

    /// Parse registered statements: `(imports, first_other)` where imports are
    /// `(line, from_import, module, names)`, `module` absolute (relative
    /// `from` imports resolved against `package`; `None` for `import`) and
    /// names `[(name, asname)]`. Raises `SyntaxError`, or `ImportError` for a
    /// relative import that `package` cannot resolve.
    #[allow(clippy::type_complexity)]
    fn analyze_statements(
        &self,
        source: &str,
        package: &str,
    ) -> PyResult<(Vec<(u32, bool, Option<String>, Vec<(String, Option<String>)>)>, Option<(u32, String)>)>
    {
        guard(|| {
            let analysis = self.inner.analyze_statements(source).map_err(|e| match e {
                engine::SourceError::Syntax { message, line, column } => {
                    let text = source.lines().nth(line.saturating_sub(1) as usize).unwrap_or("").to_owned();
                    PySyntaxError::new_err((message, ("<importstmts>", line, column, text)))
                }
                engine::SourceError::Decode { message, line } => {
                    PySyntaxError::new_err((message, ("<importstmts>", line, 0, String::new())))
                }
            })?;
            let mut imports = Vec::with_capacity(analysis.imports.len());
            for stmt in analysis.imports {
                let module = if stmt.from_import {
                    Some(stmt.resolve_from(package).map_err(|e| {
                        let names: Vec<&str> = stmt.names.iter().map(|a| a.name.as_str()).collect();
                        PyImportError::new_err(format!(
                            "Relative import in 'from {} import {}' (line {}): {e}",
                            stmt.written_module(),
                            names.join(", "),
                            stmt.line
                        ))
                    })?)
                } else {
                    None
                };
                let names = stmt.names.into_iter().map(|a| (a.name, a.asname)).collect();
                imports.push((stmt.line, stmt.from_import, module, names));
            }
            Ok((imports, analysis.first_other))
        })
    }

    /// Register records for namespace `ns` and track `modules`
    /// (`(name, file, is_package, cached)`); atomic.
    fn register(
        &mut self,
        ns: u64,
        clear: bool,
        records: Vec<BindingTuple>,
        modules: Vec<ModuleTuple>,
        resolver: Bound<'_, PyAny>,
    ) -> PyResult<()> {
        guard(|| {
            let records = records
                .into_iter()
                .map(|(module, name, asname)| engine::Binding { module, name, asname })
                .collect();
            let modules = modules
                .into_iter()
                .map(|(name, file, is_package, cached)| engine::ModuleMeta { name, file, is_package, cached })
                .collect();
            let mut resolver = PyResolver { func: resolver, error: None };
            self.inner.register(ns, clear, records, modules, &mut resolver).map_err(|e| resolver.convert(e))
        })
    }

    /// True when some tracked module may be out of date. Cheap when nothing changed.
    fn poll(&mut self) -> PyResult<bool> {
        guard(|| Ok(self.inner.poll()))
    }

    /// The reloads to do, in order: `(module, file, reason, mtime, after)`.
    #[allow(clippy::type_complexity)]
    fn plan(
        &mut self,
        force: Vec<String>,
    ) -> PyResult<Vec<(String, Option<OsString>, &'static str, f64, Vec<String>)>> {
        guard(|| {
            let plan = self.inner.plan(&force).map_err(convert)?;
            Ok(plan.into_iter().map(|p| (p.module, path_out(p.file), p.reason, p.mtime, p.after)).collect())
        })
    }

    /// The last plan's reloads all succeeded.
    fn commit(&mut self, resolver: Bound<'_, PyAny>) -> PyResult<()> {
        guard(|| {
            let mut resolver = PyResolver { func: resolver, error: None };
            self.inner.commit(&mut resolver).map_err(|e| resolver.convert(e))
        })
    }

    /// Whether the last plan changes some module's imports.
    fn plan_changes_imports(&self) -> PyResult<bool> {
        guard(|| Ok(self.inner.plan_changes_imports()))
    }

    /// The last plan was rolled back.
    fn abort(&mut self) -> PyResult<()> {
        guard(|| {
            self.inner.abort();
            Ok(())
        })
    }

    /// Per affected namespace: its records in order, flagged when their module reloaded.
    #[allow(clippy::type_complexity)]
    fn rebind_plan(&self, modules: Vec<String>) -> PyResult<Vec<(u64, Vec<(BindingTuple, bool)>)>> {
        guard(|| {
            Ok(self
                .inner
                .rebind_plan(&modules)
                .into_iter()
                .map(|(ns, records)| (ns, records.into_iter().map(|(b, r)| (binding_out(b), r)).collect()))
                .collect())
        })
    }

    #[pyo3(signature = (ns=None))]
    fn registrations(&self, ns: Option<u64>) -> PyResult<Vec<(u64, BindingTuple)>> {
        guard(|| Ok(self.inner.registrations(ns).into_iter().map(|(id, b)| (id, binding_out(b))).collect()))
    }

    /// `(name, file, direct, dependencies, pending)` per tracked module.
    #[pyo3(signature = (ns=None))]
    #[allow(clippy::type_complexity)]
    fn tracked(
        &mut self,
        ns: Option<u64>,
    ) -> PyResult<Vec<(String, Option<OsString>, bool, Vec<String>, bool)>> {
        guard(|| {
            Ok(self
                .inner
                .tracked(ns)
                .into_iter()
                .map(|t| (t.name, path_out(t.file), t.direct, t.dependencies, t.pending))
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

    fn set_workspace(&mut self, dirs: Vec<PathBuf>, resolver: Bound<'_, PyAny>) -> PyResult<()> {
        guard(|| {
            let mut resolver = PyResolver { func: resolver, error: None };
            self.inner.set_workspace(dirs, &mut resolver).map_err(|e| resolver.convert(e))
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

    /// `(mode, directories watched with events, directories polled)`.
    fn detection(&self) -> PyResult<(&'static str, usize, usize)> {
        guard(|| {
            let (mode, watched, polled) = self.inner.detection();
            Ok((mode.as_str(), watched, polled))
        })
    }

    fn set_mode(&mut self, mode: &str) -> PyResult<()> {
        let mode = mode_from(mode)?;
        guard(|| {
            self.inner.set_mode(mode);
            Ok(())
        })
    }

    fn take_warning(&mut self) -> PyResult<Option<String>> {
        guard(|| Ok(self.inner.take_warning()))
    }

    /// Decode and analyse a source file's bytes exactly as the engine does for
    /// tracked files (BOM, coding cookie, then the parser), for differential
    /// tests of the front end: `(imports, first_other)` with imports
    /// `(line, from_import, module, level, names)`, `module` as written (not
    /// resolved). Raises `SyntaxError` for undecodable or invalid source.
    #[allow(clippy::type_complexity)]
    fn analyze_bytes(
        &self,
        data: &[u8],
    ) -> PyResult<(Vec<(u32, bool, Option<String>, u32, Vec<(String, Option<String>)>)>, Option<(u32, String)>)>
    {
        guard(|| {
            let failed = |e: engine::SourceError| {
                let (line, column) = match &e {
                    engine::SourceError::Syntax { line, column, .. } => (*line, *column),
                    engine::SourceError::Decode { line, .. } => (*line, 0),
                };
                PySyntaxError::new_err((e.to_string(), ("<bytes>", line, column, String::new())))
            };
            let analysis = engine::source::analyze_bytes(data, self.version).map_err(failed)?;
            let imports = analysis
                .imports
                .into_iter()
                .map(|s| {
                    let names = s.names.into_iter().map(|a| (a.name, a.asname)).collect();
                    (s.line, s.from_import, s.module, s.level, names)
                })
                .collect();
            Ok((imports, analysis.first_other))
        })
    }

    /// Deliberately fail inside the engine (tests of kernel safety).
    fn _panic_for_test(&self) -> PyResult<()> {
        guard(|| -> PyResult<()> { panic!("deliberate test panic") })
    }
}

/// Content hash of bytes, as the engine computes it (for tests and tools).
#[pyfunction]
fn content_hash(data: &[u8]) -> u64 {
    engine::content_hash(data)
}

#[pymodule]
fn _engine(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add_function(wrap_pyfunction!(content_hash, m)?)?;
    m.add("AnalysisError", m.py().get_type::<AnalysisError>())?;
    Ok(())
}
