"""The public core API: register, sync, workspace, introspection.

State lives in the Rust engine (``_state.engine``); this module gathers facts
from the interpreter for it and turns its answers into Python objects.
"""

from __future__ import annotations

import os
import sys
import textwrap
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, NamedTuple

from . import _reload
from ._engine import AnalysisError, Engine

__all__ = [
    "Binding",
    "ModuleError",
    "ReloadEvent",
    "TrackedModule",
    "change_detection",
    "register",
    "registrations",
    "reset",
    "sync",
    "tracked",
    "workspace",
]


# ---------------------------------------------------------------------------
# Public value types


class Binding(NamedTuple):
    """One registered single-binding import statement.

    ``import a.b.c`` is ``Binding("a.b.c", None, None)``, ``import a.b.c as x``
    is ``Binding("a.b.c", None, "x")``, ``from m import n`` is
    ``Binding("m", "n", None)``, ``from m import n as k`` is
    ``Binding("m", "n", "k")`` and ``from m import *`` is
    ``Binding("m", "*", None)``. ``str()`` gives the statement.
    """

    module: str
    name: str | None = None
    asname: str | None = None

    def __str__(self) -> str:
        if self.name is None:
            stmt = f"import {self.module}"
        else:
            stmt = f"from {self.module} import {self.name}"
        return stmt if self.asname is None else f"{stmt} as {self.asname}"


@dataclass(frozen=True)
class TrackedModule:
    """A module LiveImport watches.

    Attributes:
        name: The module's name.
        file: Its source file, or ``None`` (a namespace package).
        direct: Named by a registered import statement (otherwise it is
            tracked because a tracked module imports it and it lies in the
            workspace).
        dependencies: Tracked modules it imports at top level, in source order.
        pending: Out of date: it will reload at the next sync.
    """

    name: str
    file: str | None
    direct: bool
    dependencies: tuple[str, ...]
    pending: bool


class ReloadEvent:
    """One module reloaded by a successful sync.

    Attributes:
        module: The module's name.
        reason: ``"modified"`` (its source changed), ``"dependent"`` (a
            module it imports reloaded first) or ``"forced"`` (named by
            ``sync(force=...)`` and otherwise unchanged).
        mtime: Modification time of its source file (seconds since the epoch).
        after: Modules reloaded earlier in the same sync that caused this
            reload, in reload order.

    ``str()`` reads ``Reloaded X modified 18 seconds ago`` or
    ``Reloaded Y because X reloaded``.
    """

    __slots__ = ("module", "reason", "mtime", "after")

    def __init__(self, module: str, reason: str, mtime: float, after: list[str]) -> None:
        self.module = module
        self.reason = reason
        self.mtime = mtime
        self.after = after

    def __str__(self) -> str:
        if self.reason == "modified":
            return f"Reloaded {self.module} modified {_time_ago(time.time() - self.mtime)}"
        if self.reason == "forced":
            return f"Reloaded {self.module} (forced)"
        return f"Reloaded {self.module} because {_english_list(self.after)} reloaded"

    def __repr__(self) -> str:
        return (
            f"ReloadEvent(module={self.module!r}, reason={self.reason!r}, "
            f"mtime={self.mtime!r}, after={self.after!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReloadEvent):
            return NotImplemented
        return (self.module, self.reason, self.mtime, self.after) == (
            other.module,
            other.reason,
            other.mtime,
            other.after,
        )

    __hash__ = None  # type: ignore[assignment]


class ModuleError(Exception):
    """A module's content stopped LiveImport: it cannot be analysed or reloaded.

    Attributes:
        module: The module's name.
        phase: ``"analysis"`` (its source cannot be read or parsed),
            ``"reload"`` (executing it raised) or ``"rebind"`` (a name a
            registered ``from`` import needs disappeared from it).
        file: Its source file, when known.
        line: The line in ``file`` where the problem is, when known.
        __cause__: The underlying exception (``SyntaxError``, the exception
            the module raised, ``ImportError`` for a vanished name, ...).
    """

    def __init__(
        self,
        module: str,
        phase: str,
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(module, phase)
        self.module = module
        self.phase = phase
        self.file = file
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f" ({self.file}" + (f", line {self.line})" if self.line else ")")
        cause = self.__cause__
        detail = f": {type(cause).__name__}: {cause}" if cause is not None else ""
        return f"{self.phase.capitalize()} of {self.module} failed{where}{detail}"


def _time_ago(seconds: float) -> str:
    if seconds < 0:
        return "in the future"
    if seconds < 1:
        return f"{int(seconds * 1000)} milliseconds ago"
    for unit, size, limit in (
        ("second", 1, 120),
        ("minute", 60, 7200),
        ("hour", 3600, 172800),
    ):
        if seconds < limit:
            count = int(seconds // size)
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    count = int(seconds // 86400)
    return f"{count} day{'' if count == 1 else 's'} ago"


def _english_list(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


# ---------------------------------------------------------------------------
# State: the engine, and the namespaces it refers to by id


def _initial_mode() -> str:
    value = os.environ.get("LIVEIMPORT_DETECTION", "events").strip().lower()
    if value in ("poll", "polling", "stat"):
        return "polling"
    return "events"


class _State:
    """The engine and the namespace objects it names by ``id``."""

    def __init__(self) -> None:
        self.engine = Engine(sys.version_info[:2], [os.getcwd()], _initial_mode())
        # Registered namespaces, kept alive while they have registrations so
        # their ids stay theirs.
        self.namespaces: dict[int, dict[str, Any]] = {}


_state = _State()


def _describe(name: str) -> tuple[str, str | None, bool, str | None] | bool | None:
    """What the engine needs to know of a loaded module: ``None`` when it is
    not loaded, ``False`` when it has no Python source, else
    ``(name, file, is_package, cached)`` (``cached``: its bytecode file)."""
    module = sys.modules.get(name)
    if module is None:
        return None
    spec = getattr(module, "__spec__", None)
    if spec is not None:
        is_package = spec.submodule_search_locations is not None
        origin = spec.origin if spec.has_location else None
        cached = spec.cached
    else:
        is_package = hasattr(module, "__path__")
        origin = getattr(module, "__file__", None)
        cached = getattr(module, "__cached__", None)
    if not isinstance(origin, str) or not origin.endswith(".py"):
        return False
    return (name, os.path.abspath(origin), is_package, cached if isinstance(cached, str) else None)


def _resolve(names: list[str]) -> list[tuple[str, str | None, bool, str | None] | bool | None]:
    return [_describe(name) for name in names]


def _is_namespace_package(module: ModuleType) -> bool:
    spec = getattr(module, "__spec__", None)
    return (
        spec is not None
        and spec.submodule_search_locations is not None
        and (spec.origin is None or spec.origin == "namespace")
    )


def _warn_once() -> None:
    message = _state.engine.take_warning()
    if message:
        warnings.warn(f"liveimport: {message}", RuntimeWarning, stacklevel=3)


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
            raise _missing(f"No name {parts[i]} in module {parent.__name__}", statement)
        parent = module
    assert parent is not None
    return parent


def _require_bound(namespace: dict[str, Any], name: str, statement: str) -> None:
    if name not in namespace:
        raise _missing(f"No name {name} in namespace", statement)


class _NoSource(ValueError):
    """A registered module has no Python source."""


def _source_meta(name: str, statement: str) -> tuple[str, str | None, bool, str | None]:
    described = _describe(name)
    if isinstance(described, tuple):
        return described
    module = sys.modules[name]
    if _is_namespace_package(module):
        return (name, None, True, None)
    raise _NoSource(
        f"Module {name} has no Python source file (it is built in, frozen or an "
        f"extension module), so LiveImport cannot reload it: {statement}"
    )


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
            module is not loaded or has no Python source, or a name the
            statement imports or binds does not exist: the statement looks
            like it has not run.
        ModuleError: A module's source cannot be analysed (phase
            ``"analysis"``), for example a syntax error in the file.

    A failed call changes nothing. Registrations are additive and idempotent:
    registering the same or overlapping statements again is harmless.

    Example::

        liveimport.register(globals(), '''
            import numpy as np
            from geometry import Point, distance as dist
            from helpers import *
        ''')
    """
    _register(namespace, importstmts, package, clear, allow_other_statements, False)


def _register(
    namespace: dict[str, Any],
    importstmts: str,
    package: str,
    clear: bool,
    allow_other_statements: bool,
    skip_unreloadable: bool,
) -> list[str]:
    """:func:`register`; with `skip_unreloadable`, statements of modules with
    no Python source (``import sys``) are left out instead of refused, and
    returned. The ``%%liveimport`` magic registers cells this way."""
    if not isinstance(namespace, dict):
        raise TypeError(
            f"namespace must be a dict (like globals()), not {type(namespace).__name__}"
        )
    source = textwrap.dedent(importstmts)
    engine = _state.engine
    imports, other = engine.analyze_statements(source, package or "")
    if other is not None and not allow_other_statements:
        line, text = other
        raise ValueError(f"Expected only import statements, found {text!r} on line {line}")

    records: list[tuple[str, str | None, str | None]] = []
    modules: list[tuple[str, str | None, bool, str | None]] = []
    skipped: list[str] = []

    def track(name: str, statement: str) -> bool:
        """Track `name`; False when it has no source and is to be skipped."""
        if any(m[0] == name for m in modules):
            return True
        try:
            modules.append(_source_meta(name, statement))
        except _NoSource:
            if not skip_unreloadable:
                raise
            skipped.append(statement)
            return False
        return True

    for _line, from_import, module_name, names in imports:
        if not from_import:
            for name, asname in names:
                statement = f"import {name}" + (f" as {asname}" if asname else "")
                _require_module(name, statement)
                _require_bound(namespace, asname or name.partition(".")[0], statement)
                if track(name, statement):
                    records.append((name, None, asname))
            continue
        assert module_name is not None
        for name, asname in names:
            statement = f"from {module_name} import {name}" + (f" as {asname}" if asname else "")
            module = _require_module(module_name, statement)
            if not track(module_name, statement):
                continue
            if name == "*":
                records.append((module_name, "*", None))
                continue
            submodule = sys.modules.get(f"{module_name}.{name}")
            if not hasattr(module, name) and submodule is None:
                raise _missing(f"No name {name} in module {module_name}", statement)
            _require_bound(namespace, asname or name, statement)
            if submodule is not None and getattr(module, name, submodule) is submodule:
                if isinstance(_describe(f"{module_name}.{name}"), tuple):
                    track(f"{module_name}.{name}", statement)
            records.append((module_name, name, asname))

    if not records and not clear:
        return skipped
    try:
        engine.register(id(namespace), clear, records, modules, _resolve)
    except AnalysisError as error:
        _reload.raise_analysis_error(error)
    if id(namespace) in engine.namespaces():
        _state.namespaces[id(namespace)] = namespace
    else:
        _state.namespaces.pop(id(namespace), None)
    _warn_once()
    return skipped


# ---------------------------------------------------------------------------
# sync()


#: Whether any tracked module may be out of date: the engine's cheap check.
_poll: Callable[[], bool] = _state.engine.poll


def sync(
    *,
    force: Iterable[str] = (),
    observer: Callable[[ReloadEvent], None] | None = None,
) -> None:
    """Bring every registered import up to date.

    Reloads, with ``importlib.reload``, each tracked module whose source
    changed since it was loaded, and each module that depends on one that
    reloads, every module after the modules it depends on; then rebinds the
    names the registered statements bind.

    The sync is atomic: if any reload raises (or a name a registered ``from``
    import needs disappeared), every module reloaded in this sync gets its
    previous contents back, no name is rebound, and the error is raised. The
    modules stay out of date, so the next sync tries again.

    Args:
        force: Names of tracked modules to reload even if unchanged (their
            dependents reload too).
        observer: Called with one :class:`ReloadEvent` per reload, in reload
            order, after the whole sync succeeded.

    Raises:
        ModuleError: A module cannot be analysed or reloaded; ``__cause__`` is
            the original exception.
        ValueError: `force` names a module that is not tracked.
        KeyboardInterrupt: Interrupted during a reload (after the rollback).
    """
    forced = [force] if isinstance(force, str) else list(force)
    engine = _state.engine
    if not forced and not engine.poll():
        return
    _warn_once()
    try:
        plan = engine.plan(forced)
    except AnalysisError as error:
        _reload.raise_analysis_error(error)
    if not plan:
        return
    events = [ReloadEvent(name, reason, mtime, after) for name, _file, reason, mtime, after in plan]
    _reload.execute(engine, plan, _state.namespaces, _resolve)
    if observer is not None:
        for event in events:
            observer(event)


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
            raise ValueError(f"Workspace directory {path} does not exist")
        if not os.path.isdir(path):
            raise ValueError(f"Workspace path {path} is not a directory")
        paths.append(path)
    engine = _state.engine
    if extend:
        paths = [*engine.workspace(), *paths]
    unique = list(dict.fromkeys(paths))
    try:
        engine.set_workspace(unique, _resolve)
    except AnalysisError as error:
        _reload.raise_analysis_error(error)


def _namespace_id(namespace: dict[str, Any] | None) -> int | None:
    return None if namespace is None else id(namespace)


def tracked(namespace: dict[str, Any] | None = None) -> dict[str, TrackedModule]:
    """Every tracked module by name, in tracking order.

    With `namespace`, only the modules its registrations reach. ``pending``
    reflects the files on disk now.
    """
    engine = _state.engine
    ns = _namespace_id(namespace)
    if ns is not None and ns not in _state.namespaces:
        return {}
    engine.poll()
    return {
        name: TrackedModule(name, file, direct, tuple(deps), pending)
        for name, file, direct, deps, pending in engine.tracked(ns)
    }


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
    The workspace is kept.
    """
    _state.engine.reset()
    _state.namespaces.clear()


def change_detection(mode: str | None = None) -> str:
    """Get or set how LiveImport notices edited files; returns the mode.

    ``"events"`` (the default) uses file-system events (inotify on Linux)
    where they are reliable, so checking before a cell costs the same for 10
    or 10,000 tracked modules, and polls file metadata elsewhere (network and
    FUSE mounts, when the watch limit is reached, on other platforms).
    ``"polling"`` checks every tracked file's metadata before each cell. The
    environment variable ``LIVEIMPORT_DETECTION=polling`` sets the initial
    mode. In both modes, a file counts as changed only when its content does.
    """
    engine = _state.engine
    if mode is not None:
        engine.set_mode(mode)
    return engine.detection()[0]
