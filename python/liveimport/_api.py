"""The public core API: register, sync, workspace, introspection.

State lives in the Rust engine (``_state.engine``); this module gathers facts
from the interpreter for it, runs a sync from top to bottom, and turns the
engine's answers into the public types.
"""

from __future__ import annotations

import ast
import importlib
import logging
import os
import sys
import textwrap
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import _reload
from ._engine import AnalysisError, Engine, Mode, ModuleMeta, Notice, PlannedReload, describe
from ._types import (
    Binding,
    DetectionMode,
    ReloadEvent,
    RerunHint,
    StaleNameWarning,
    StaleObject,
    SyncReport,
    TrackedModule,
    analysis_error,
)

__all__ = [
    "change_detection",
    "exclude",
    "include",
    "last_sync",
    "patching",
    "pending",
    "poll_lazy_imports",
    "register",
    "registrations",
    "reset",
    "sync",
    "tracked",
    "workspace",
]


# ---------------------------------------------------------------------------
# State: the engine, and the namespaces it refers to by id


def _initial_mode() -> Mode:
    value = os.environ.get("LIVEIMPORT_DETECTION", "events").strip().lower()
    return Mode.Polling if value in ("poll", "polling", "stat") else Mode.Events


class _State:
    """The engine, the namespace objects it names by ``id``, and whether a
    sync is running."""

    def __init__(self) -> None:
        from . import _IMPORT_DIRECTORY

        self.engine = Engine(sys.version_info[:2], [_IMPORT_DIRECTORY], _initial_mode())
        # Registered namespaces, kept alive while they have registrations so
        # their ids stay theirs.
        self.namespaces: dict[int, dict[str, Any]] = {}
        self.syncing = False
        #: Keep the identity of functions and classes across reloads.
        self.patching = False
        #: What the last sync that did something did.
        self.last: SyncReport | None = None
        #: Finds the earlier cells that used what a sync changed (set by the
        #: IPython integration; None outside IPython).
        self.hinter: Callable[[dict[int, _reload.Changed], set[str]], list[RerunHint]] | None = None


_state = _State()

#: LiveImport's logger. Nothing is printed unless logging is configured:
#: DEBUG has one record per sync (what changed, the plan, the time spent) and
#: the change-detection decisions; WARNING, the fallbacks a user should
#: know about (the inotify watch limit, a network file system).
log = logging.getLogger("liveimport")
log.addHandler(logging.NullHandler())


def _describe(name: str) -> ModuleMeta | None:
    """What the engine needs to know of a loaded module (``None`` when it is
    not loaded). ``file`` is ``None`` when it has no Python source. The
    engine reads ``sys.modules`` the same way when it discovers modules."""
    return describe(name)


def _cache_dir() -> str | None:
    """Where the persistent analysis cache lives: ``LIVEIMPORT_CACHE_DIR``,
    else a ``liveimport`` folder in the user's cache directory; ``None``
    when ``LIVEIMPORT_CACHE=0`` turns it off."""
    environ = os.environ
    if environ.get("LIVEIMPORT_CACHE", "").strip().lower() in ("0", "false", "no", "off"):
        return None
    explicit = environ.get("LIVEIMPORT_CACHE_DIR", "").strip()
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    if sys.platform == "win32":
        base = environ.get("LOCALAPPDATA") or os.path.join(
            os.path.expanduser("~"), "AppData", "Local"
        )
    elif sys.platform == "darwin":
        base = os.path.join(os.path.expanduser("~"), "Library", "Caches")
    else:
        xdg = environ.get("XDG_CACHE_HOME", "")
        base = xdg if os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "liveimport")


def _in_workspace(name: str) -> bool:
    """Whether loaded module `name` has a Python source in the workspace."""
    meta = _describe(name)
    return meta is not None and meta.file is not None and _state.engine.in_workspace(meta.file)


def _tell(notices: list[Notice]) -> None:
    """Log what change detection decided; warn about the fallbacks that
    deserve it (a full inotify watch limit, no inotify at all)."""
    for notice in notices:
        if notice.warning:
            log.warning("%s", notice.message)
        else:
            log.debug("%s", notice.message)
        if notice.tell_user:
            warnings.warn(f"liveimport: {notice.message}", RuntimeWarning, stacklevel=3)


# ---------------------------------------------------------------------------
# register()


def _missing(what: str, statement: str) -> ValueError:
    return ValueError(f"{what}; missing {statement}?")


def _require_module(name: str, statement: str) -> ModuleType:
    """The loaded module `name`, with its parents loaded and linked."""
    parts = name.split(".")
    parent: ModuleType | None = None
    for i in range(len(parts)):
        prefix = ".".join(parts[: i + 1])
        module = sys.modules.get(prefix)
        if module is None:
            raise _missing(f"Module {prefix} not loaded", statement)
        if parent is not None and not hasattr(parent, parts[i]):
            raise _missing(f"No name {parts[i]} in {parent.__name__}", statement)
        parent = module
    assert parent is not None
    return parent


def _require_bound(namespace: dict[str, Any], name: str, statement: str) -> None:
    if name not in namespace:
        raise _missing(f"No name {name} in namespace", statement)


def _meta(name: str) -> ModuleMeta:
    """A registered module's description; it must have a spec."""
    if getattr(sys.modules[name], "__spec__", None) is None:
        raise ValueError(f"Module {name} has no spec")
    meta = _describe(name)
    assert meta is not None
    return meta


def register(
    namespace: dict[str, Any],
    importstmts: str,
    *,
    package: str = "",
    clear: bool = False,
    allow_other_statements: bool = False,
) -> None:
    """Register import statements whose modules LiveImport keeps up to date.

    The statements must already have run: every module they name is loaded and
    every name they bind exists in `namespace`. When a named module's source
    changes later, :func:`sync` reloads it (and the modules that depend on it,
    in dependency order) and rebinds in `namespace` what the statements bind.

    Args:
        namespace: Where the statements bound their names, usually ``globals()``.
        importstmts: Python source with import statements; dedented first, so
            an indented triple-quoted string works. Only top-level statements
            count.
        package: The package that relative imports (``from .m import x``)
            resolve against, usually ``__spec__.parent``.
        clear: Drop every earlier registration for `namespace` first.
        allow_other_statements: Ignore statements that are not imports instead
            of raising ``ValueError``.

    Raises:
        SyntaxError: `importstmts` is not valid Python.
        ImportError: A relative import is outside any package or escapes it.
        ValueError: Another kind of statement is present (and not allowed), a
            module is not loaded or has no spec, or a name the statement
            imports or binds does not exist: the statement looks like it has
            not run. The message names what is missing, then the statement
            (``No name f in mod5; missing from mod5 import f?``).
        ModuleError: A module's source cannot be analysed (phase
            ``"analysis"``), for example a syntax error in the file.

    A failed call changes nothing. Registrations are additive and idempotent;
    registering a statement again makes it the latest, so for a name bound by
    two statements, the one registered last wins from then on. Modules
    without Python source (``import math``) can be registered; they are
    never reloaded.

    Example::

        liveimport.register(globals(), '''
            import numpy as np
            from geometry import Point, distance as dist
            from helpers import *
        ''')
    """
    if not isinstance(namespace, dict):
        raise TypeError(
            f"namespace must be a dict (like globals()), not {type(namespace).__name__}"
        )
    source = textwrap.dedent(importstmts)
    engine = _state.engine
    try:
        statements = engine.analyze_statements(source, package or "", allow_other_statements)
    except SyntaxError:
        # CPython's own exception (IndentationError, its wording), when it agrees.
        ast.parse(source, "<importstmts>")
        raise

    records: list[tuple[str, str | None, str | None]] = []
    modules: dict[str, ModuleMeta] = {}

    def track(name: str) -> None:
        if name not in modules:
            modules[name] = _meta(name)

    for stmt in statements:
        if not stmt.from_import:
            for name, asname in stmt.names:
                statement = f"import {name}" + (f" as {asname}" if asname else "")
                _require_module(name, statement)
                _require_bound(namespace, asname or name.partition(".")[0], statement)
                track(name)
                records.append((name, None, asname))
            continue
        module_name = stmt.module
        assert module_name is not None
        for name, asname in stmt.names:
            statement = f"from {module_name} import {name}" + (f" as {asname}" if asname else "")
            module = _require_module(module_name, statement)
            if name != "*":
                if not hasattr(module, name):
                    raise _missing(f"No name {name} in {module_name}", statement)
                _require_bound(namespace, asname or name, statement)
            track(module_name)
            submodule_name = f"{module_name}.{name}"
            submodule = sys.modules.get(submodule_name)
            if submodule is not None and getattr(module, name, None) is submodule:
                track(submodule_name)
            records.append((module_name, name, asname))

    if not records and not clear:
        return
    failure: AnalysisError | None = None
    try:
        engine.set_cache_dir(_cache_dir())
        engine.register(id(namespace), clear, records, list(modules.values()))
    except AnalysisError as error:
        failure = error
    if failure is not None:
        raise analysis_error(failure)
    if id(namespace) in engine.namespaces():
        _state.namespaces[id(namespace)] = namespace
    else:
        _state.namespaces.pop(id(namespace), None)
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "registered %s; %d modules tracked",
            "; ".join(_statement(r) for r in records) or "nothing (cleared)",
            len(engine.tracked()),
        )
    _tell(engine.take_notices())


# ---------------------------------------------------------------------------
# sync()


@dataclass
class _Outcome:
    """What a successful sync did."""

    events: list[ReloadEvent] = field(default_factory=list)
    leftovers: list[StaleNameWarning] = field(default_factory=list)
    stale_objects: list[StaleObject] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    rerun: list[RerunHint] = field(default_factory=list)


def sync(
    *,
    force: Iterable[str] = (),
    observer: Callable[[ReloadEvent], None] | None = None,
) -> None:
    """Bring every registered import up to date.

    Reloads, as ``importlib.reload`` does (the module re-executes in its
    existing namespace), each tracked module whose source changed since it
    was loaded, and each module that depends on one that reloads, every
    module after the modules it depends on; then rebinds the names the
    registered statements bind, as if they ran again in order.

    The sync is atomic: if any reload raises (or a name a registered ``from``
    import needs is missing from its module), every module reloaded in this
    sync gets its previous contents back, no name is rebound, and the error
    is raised. The modules stay out of date, so the next sync tries again.

    A registered name that the new source no longer defines keeps the value
    left over from the previous version (as after any ``importlib.reload``);
    a :class:`StaleNameWarning` says so.

    Args:
        force: Names of tracked modules to reload even if unchanged (their
            dependents reload too).
        observer: Called with one :class:`ReloadEvent` per reload, in reload
            order, after the whole sync succeeded.

    Raises:
        ModuleError: A module cannot be analysed or reloaded; ``__cause__`` is
            the original exception.
        ValueError: `force` names a module that is not tracked.
        RuntimeError: Called while a sync is running (from a module being
            reloaded, or from an observer).
        KeyboardInterrupt: Interrupted during a reload (after the rollback).
    """
    outcome = _sync(force, observer=observer)
    _tell(outcome.notices)
    for leftover in outcome.leftovers:
        warnings.warn(leftover, stacklevel=2)


_NOTHING = _Outcome()


def _sync(
    force: Iterable[str] = (),
    *,
    observer: Callable[[ReloadEvent], None] | None = None,
    polled: bool = False,
) -> _Outcome:
    """One sync, top to bottom: poll → plan → reload → rebind → commit →
    report. `polled`: the caller's ``engine.poll()`` just said something
    changed (the auto-sync hook), so it is not asked again."""
    if _state.syncing:
        raise RuntimeError(
            "liveimport.sync() was called while a sync is running (by a module "
            "being reloaded, or by an observer); the running sync goes on"
        )
    forced = [force] if isinstance(force, str) else list(force)
    engine = _state.engine
    # 1. Poll: has anything changed? (The idle path ends here.)
    polling = time.perf_counter()
    if not polled and not engine.poll() and not forced:
        return _NOTHING
    _state.syncing = True
    started = time.perf_counter()
    try:
        # 2. Plan: the engine reads what changed and decides what reloads.
        failure: AnalysisError | None = None
        try:
            plan = engine.plan(forced)
        except AnalysisError as error:
            failure = error
        if failure is not None:
            raise analysis_error(failure)
        planned = time.perf_counter()
        if not plan.reloads:
            return _Outcome(notices=plan.notices)
        # Loaded at the first sync with something to reload, not with the package.
        from . import _patch, _reload

        tx = _reload.Transaction(patching=_state.patching)
        try:
            # 3. Execute and 4. rebind: the interpreter's work, every change
            # remembered by the transaction.
            leftovers = _reload.execute(plan, _state.namespaces, tx)
            # 5. Commit: the engine records the new state, all or nothing.
            engine.commit()
            committed = time.perf_counter()
        except BaseException as error:  # noqa: BLE001 - every failure rolls back
            tx.rollback()
            engine.abort()
            if isinstance(getattr(error, "error", error), ImportError):
                importlib.invalidate_caches()  # the retry sees new files for sure
            if isinstance(error, _reload.Failure):
                if isinstance(error.error, KeyboardInterrupt):
                    raise error.error from None
                raise error.module_error() from error.error
            raise
        # 6. Report.
        events = [
            ReloadEvent(step.module, step.reason.value, step.mtime, list(step.after))
            for step in plan.reloads
        ]
        stale = _patch.stale_objects(tx.replaced, list(_state.namespaces.values()))
        rerun = []
        if _state.hinter is not None:
            rerun = _state.hinter(tx.changed, {step.module for step in plan.reloads})
        _state.last = SyncReport(
            events, leftovers, stale, None, time.perf_counter() - started, time.time(), rerun
        )
        if observer is not None:
            for event in events:
                observer(event)
        if log.isEnabledFor(logging.DEBUG):
            times = {
                "detection": 0.0 if polled else started - polling,
                "plan": planned - started,
                "reloads": tx.reloaded_at - planned,
                "rebinding": tx.rebound_at - tx.reloaded_at,
                "commit": committed - tx.rebound_at,
            }
            _log_sync(plan.reloads, times, committed - (started if polled else polling))
        return _Outcome(events, leftovers, stale, plan.notices, rerun)
    except BaseException as error:
        _state.last = SyncReport([], [], [], error, time.perf_counter() - started, time.time())
        log.debug("sync failed and was rolled back: %s", error)
        raise
    finally:
        _state.syncing = False


def _log_sync(reloads: list[PlannedReload], times: dict[str, float], total: float) -> None:
    """One DEBUG record per sync: what changed, the plan, where the time went."""
    changed = [step.module for step in reloads if step.reason.value == "modified"]
    plan = ", ".join(
        step.module
        + (
            f" ({step.reason.value})"
            if not step.after
            else f" ({step.reason.value}, after {' and '.join(step.after)})"
        )
        for step in reloads
    )
    spent = ", ".join(f"{name} {seconds * 1000:.2f} ms" for name, seconds in times.items())
    log.debug(
        "sync: %d reload(s) in %.2f ms (%s); changed: %s; plan: %s",
        len(reloads),
        total * 1000,
        spent,
        ", ".join(changed) or "nothing (forced)",
        plan,
    )


def _statement(record: tuple[str, str | None, str | None]) -> str:
    return str(Binding(*record))


def patching(enabled: bool | None = None) -> bool:
    """Switch in-place patching on or off; returns the setting in force.

    Off (the default), a reload rebinds the registered names to the new
    objects, as the PyPI package does, and objects made before it keep the
    old classes and functions. On, every top-level function and class that
    existed before a reload and still exists keeps its identity: the old
    object receives the new definition, so existing instances, references
    held anywhere, callbacks and bound methods run the new code, and
    ``isinstance`` and pickling keep working. Where identity cannot be kept
    (bases, metaclass, ``__slots__`` or layout changed, an Enum's members
    changed, a closure's free variables changed), the new object replaces
    the old one; :func:`last_sync` lists the variables still holding
    instances of such classes. A module can opt out with
    ``__liveimport_patch__ = False`` in its source. A failed sync undoes its
    patches.

    Args:
        enabled: The new setting; ``None`` only reads it.
    """
    if enabled is not None:
        _state.patching = bool(enabled)
    return _state.patching


def poll_lazy_imports() -> None:
    """Compatibility with the PyPI package, where it starts tracking modules
    whose lazy import (``sys.lazy_modules``) has resolved since.

    CPython 3.10 to 3.13 have no lazy imports, so there is never anything to
    do; the function exists so that code written for that package runs.
    """


def exclude(*modules: str) -> frozenset[str]:
    """Exclude modules from reloading; returns the excluded set.

    An excluded module is never reloaded and its edits are ignored, and it
    carries no reload through it: a module that imports it does not reload
    because of it (as if its file were missing). Useful for a module that
    loads a large dataset when it is imported. Names need not be tracked
    yet. ``exclude()`` with no names only returns the set; :func:`include`
    undoes it. Exclusions survive :func:`reset`. (To track modules outside
    the workspace, widen it: ``workspace(path, extend=True)``.)
    """
    engine = _state.engine
    if modules:
        engine.exclude(list(modules))
    return frozenset(engine.excluded())


def include(*modules: str) -> frozenset[str]:
    """Undo :func:`exclude` for these modules; returns the excluded set.

    A module edited while it was excluded reloads at the next sync (its file
    differs from what is loaded), and the modules that depend on it after it.
    """
    engine = _state.engine
    engine.include(list(modules))
    return frozenset(engine.excluded())


def last_sync() -> SyncReport | None:
    """What the last sync that had something to do did: its reloads, the
    leftover names, the stale objects, its error (if it failed) and how long
    it took; ``None`` before the first one."""
    return _state.last


# ---------------------------------------------------------------------------
# workspace(), introspection, reset()


def workspace(*directories: str | os.PathLike[str], extend: bool = False) -> None:
    """Set (or, with ``extend=True``, extend) the workspace.

    The workspace is a set of directories. A module that a tracked module
    imports is tracked too (transitively) when its source file lies in the
    workspace; modules named by registered imports are tracked wherever they
    are. The default workspace is the current directory when LiveImport was
    first imported: the notebook's folder. ``workspace()`` with no arguments
    empties it. Modules start or stop being tracked at once.

    Raises:
        ValueError: A path does not exist or is not a directory.
        ModuleError: A module newly tracked cannot be analysed (the workspace
            is left unchanged).
    """
    paths: list[str] = []
    for directory in directories:
        path = os.path.abspath(os.fspath(directory))
        if not os.path.exists(path):
            raise ValueError(f"Path {path} does not exist")
        if not os.path.isdir(path):
            raise ValueError(f"Path {path} is not a directory")
        paths.append(path)
    engine = _state.engine
    if extend:
        paths = [*map(os.fsdecode, engine.workspace()), *paths]
    unique = list(dict.fromkeys(paths))
    failure: AnalysisError | None = None
    try:
        engine.set_cache_dir(_cache_dir())
        engine.set_workspace(unique)
    except AnalysisError as error:
        failure = error
    if failure is not None:
        raise analysis_error(failure)


def _namespace_id(namespace: dict[str, Any] | None) -> int | None:
    return None if namespace is None else id(namespace)


def tracked(namespace: dict[str, Any] | None = None) -> dict[str, TrackedModule]:
    """Every tracked module by name, in tracking order.

    With `namespace`, only the modules its registrations reach. ``pending``
    reflects the files on disk now.
    """
    ns = _namespace_id(namespace)
    if ns is not None and ns not in _state.namespaces:
        return {}
    return {
        record.name: TrackedModule(
            record.name,
            None if record.file is None else os.fsdecode(record.file),
            record.direct,
            tuple(record.dependencies),
            record.pending,
            record.excluded,
        )
        for record in _state.engine.tracked(ns)
    }


def pending() -> list[ReloadEvent]:
    """The reloads the next sync will do, in order, as the
    :class:`ReloadEvent` objects its observer will receive.

    The engine plans them exactly as the sync will (it is the only planner),
    reading the files on disk now; nothing is reloaded.

    Raises:
        ModuleError: A changed module cannot be analysed (phase
            ``"analysis"``): the next sync will fail the same way.
    """
    engine = _state.engine
    failure: AnalysisError | None = None
    try:
        steps = engine.preview()
    except AnalysisError as error:
        failure = error
    if failure is not None:
        raise analysis_error(failure)
    return [
        ReloadEvent(step.module, step.reason.value, step.mtime, list(step.after)) for step in steps
    ]


def registrations(namespace: dict[str, Any] | None = None) -> list[Binding]:
    """The effective registered imports of `namespace` (of all when ``None``).

    One :class:`Binding` per bound name, in registration order; a record is
    dropped when a later registration binds the same name (for ``*``, star
    imports the same module), so re-running a cell does not grow the list.
    """
    ns = _namespace_id(namespace)
    if ns is not None and ns not in _state.namespaces:
        return []
    return [Binding(*record) for _ns, record in _state.engine.registrations(ns)]


def reset() -> None:
    """Forget every registration and tracked module.

    Nothing is unloaded and no name is unbound; file watches are released.
    The workspace is kept, and tracking order starts over.
    """
    _state.engine.reset()
    _state.namespaces.clear()


def change_detection(mode: str | None = None) -> DetectionMode:
    """Get or set how LiveImport notices edited files; returns the mode.

    ``"events"`` (the default) uses file-system events (inotify on Linux)
    where they are reliable, so checking before a cell costs the same for 10
    or 10,000 tracked modules, and polls file metadata elsewhere (network and
    FUSE mounts, when the watch limit is reached, on other platforms).
    ``"polling"`` checks every tracked file's metadata before each cell. The
    environment variable ``LIVEIMPORT_DETECTION=polling`` sets the initial
    mode. In both modes, a file counts as changed only when its content does.
    The result is a :class:`DetectionMode`, a ``str``.

    Raises:
        ValueError: `mode` is neither ``"events"`` nor ``"polling"``.
    """
    engine = _state.engine
    if mode is not None:
        try:
            wanted = DetectionMode(str(mode).strip().lower())
        except ValueError:
            raise ValueError(
                f"change detection mode must be 'events' or 'polling', not {mode!r}"
            ) from None
        engine.set_mode(Mode.Events if wanted is DetectionMode.EVENTS else Mode.Polling)
    return DetectionMode(engine.detection().mode.value)
