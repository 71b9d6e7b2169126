"""Executes a reload plan on the interpreter: snapshot, reload, roll back, rebind.

The engine decides what reloads and in which order; this module does the
parts only Python can do, and makes the whole sync atomic: either every
module of the plan reloads and every registered name is rebound, or nothing
changes at all.
"""

from __future__ import annotations

import importlib
import importlib.util
import linecache
import os
import sys
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from ._api import ModuleError
    from ._engine import AnalysisError, Engine

Plan = list[tuple[str, "str | None", str, float, list[str]]]
Record = tuple[tuple[str, "str | None", "str | None"], bool]


class _Failure(Exception):
    """A failed step: which module, in which phase, and the original exception."""

    def __init__(self, module: str, file: str | None, phase: str, error: BaseException) -> None:
        super().__init__(module, phase)
        self.module = module
        self.file = file
        self.phase = phase
        self.error = error


def _module_error(module: str, phase: str, file: str | None, line: int | None) -> ModuleError:
    from ._api import ModuleError

    return ModuleError(module, phase, file, line)


def _line_in(error: BaseException, file: str | None) -> int | None:
    """The line of `file` where `error` arose: a syntax error's own line, else
    the innermost traceback frame in that file."""
    if isinstance(error, SyntaxError) and error.lineno is not None:
        if file is None or error.filename is None or _same_file(error.filename, file):
            return error.lineno
    line = None
    if file is not None:
        for frame in traceback.extract_tb(error.__traceback__):
            if _same_file(frame.filename, file):
                line = frame.lineno
    return line


def _same_file(a: str, b: str) -> bool:
    return os.path.abspath(a) == os.path.abspath(b)


def raise_analysis_error(error: AnalysisError) -> NoReturn:
    """Raise ``ModuleError(phase="analysis")`` for an engine analysis failure,
    with CPython's own exception as the cause (the real ``SyntaxError`` with
    its caret, or the ``OSError`` of reading the file)."""
    module, file, line, message, kind = error.args
    cause: BaseException
    if kind == "unreadable":
        try:
            with open(file, "rb") as handle:
                handle.read()
            cause = OSError(message)
        except OSError as exc:
            cause = exc
    else:
        cause = SyntaxError(message, (file, line, None, None))
        try:
            with open(file, "rb") as handle:
                compile(handle.read(), file, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            cause = exc
            if isinstance(exc, SyntaxError) and exc.lineno:
                line = exc.lineno
        except OSError:
            pass
    raise _module_error(module, "analysis", file, line) from cause


def _forget_bytecode(file: str | None) -> None:
    """Remove the cached bytecode of a changed source: its header holds the
    source's mtime and size, which an edit can leave equal (same size, same
    timestamp tick, or a restored mtime) and then Python would run the old
    code."""
    if not file:
        return
    try:
        os.remove(importlib.util.cache_from_source(file))
    except (OSError, ValueError, NotImplementedError):
        pass


#: Module attributes the import system sets, kept when a module re-executes.
_IMPORT_ATTRS = frozenset(
    ("__name__", "__loader__", "__package__", "__spec__", "__path__", "__file__", "__cached__")
)


def _reload_one(name: str) -> ModuleType:
    """Re-execute a module in its own, emptied namespace.

    The module object stays the same (``importlib.reload``), but the names
    its previous version defined are removed first, so a name deleted from
    the source disappears as it would from a fresh import, instead of
    lingering as a stale reference. Kept: what the import system set, and
    the attributes that link a package to its loaded submodules.
    """
    module = sys.modules.get(name)
    if module is None:
        # The user removed it from sys.modules: import it afresh, as running
        # the import statement again would.
        return importlib.import_module(name)
    namespace = module.__dict__
    kept = {
        key: value
        for key, value in namespace.items()
        if key in _IMPORT_ATTRS
        or (isinstance(value, ModuleType) and sys.modules.get(f"{name}.{key}") is value)
    }
    kept["__doc__"] = None  # as a fresh module has, until its docstring runs
    namespace.clear()
    namespace.update(kept)
    return importlib.reload(module)


def _star_names(module: ModuleType) -> list[str]:
    return _exported(module.__dict__)


def _exported(namespace: dict[str, Any]) -> list[str]:
    """The names ``from m import *`` binds, given m's namespace."""
    names = namespace.get("__all__")
    if names is None:
        return [n for n in namespace if not n.startswith("_")]
    return list(names)


def _vanished(module: str, name: str, file: str | None) -> ImportError:
    where = f" ({file})" if file else ""
    return ImportError(
        f"cannot import name {name!r} from {module!r}{where}: the name disappeared from "
        f"{module} when it reloaded",
        name=module,
        path=file,
    )


def _values(
    binding: tuple[str, str | None, str | None],
    only: set[str] | None,
    files: dict[str, str | None],
) -> list[tuple[str, Any]]:
    """The (name, value) pairs executing a binding would assign now; with
    `only`, just those names."""
    module_name, name, asname = binding
    file = files.get(module_name)
    if name is None:
        bound = asname or module_name.partition(".")[0]
        if only is not None and bound not in only:
            return []
        target = module_name if asname else module_name.partition(".")[0]
        module = sys.modules.get(target)
        if module is None:
            raise _Failure(module_name, file, "rebind", ModuleNotFoundError(target))
        return [(bound, module)]
    module = sys.modules.get(module_name)
    if module is None:
        raise _Failure(module_name, file, "rebind", ModuleNotFoundError(module_name))
    if name == "*":
        names = _star_names(module)
        if only is not None:
            names = [n for n in names if n in only]
        pairs = []
        for n in names:
            try:
                pairs.append((n, getattr(module, n)))
            except AttributeError:
                raise _Failure(
                    module_name, file, "rebind", _vanished(module_name, n, file)
                ) from None
        return pairs
    bound = asname or name
    if only is not None and bound not in only:
        return []
    try:
        value = getattr(module, name)
    except AttributeError:
        value = sys.modules.get(f"{module_name}.{name}")
        if value is None:
            raise _Failure(
                module_name, file, "rebind", _vanished(module_name, name, file)
            ) from None
    return [(bound, value)]


def _new_bindings(
    rebind_plan: list[tuple[int, list[Record]]],
    namespaces: dict[int, dict[str, Any]],
    files: dict[str, str | None],
    old_exports: dict[str, list[str]],
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Per affected namespace, the names to assign.

    The names in question are those the records of reloaded modules bind now
    or (for star imports) bound before the reload. For each, the value is what
    executing every registered record again, in order, would leave: so later
    statements still win, and a name a star import no longer exports falls
    back to an earlier statement that binds it. A name no statement binds any
    more keeps its value, as re-running imports never deletes names.
    """
    updates = []
    for ns_id, records in rebind_plan:
        namespace = namespaces.get(ns_id)
        if namespace is None:
            continue
        touched: set[str] = set()
        for binding, reloaded in records:
            if reloaded:
                touched.update(name for name, _value in _values(binding, None, files))
                if binding[1] == "*":
                    touched.update(old_exports.get(binding[0], ()))
        assign: dict[str, Any] = {}
        for binding, reloaded in records:
            if reloaded:
                pairs = _values(binding, touched, files)
            else:
                try:
                    pairs = _values(binding, touched, files)
                except _Failure:
                    continue  # that module did not reload; leave its names be
            assign.update(pairs)
        updates.append((namespace, assign))
    return updates


def _rollback(snapshots: list[tuple[str, ModuleType | None, dict[str, Any]]]) -> None:
    for name, module, contents in reversed(snapshots):
        if module is None:
            sys.modules.pop(name, None)
            continue
        namespace = module.__dict__
        namespace.clear()
        namespace.update(contents)
        sys.modules[name] = module


def execute(
    engine: Engine,
    plan: Plan,
    namespaces: dict[int, dict[str, Any]],
    resolve: Callable[[list[str]], list[Any]],
) -> None:
    """Reload the plan's modules in order and rebind; atomically."""
    snapshots: list[tuple[str, ModuleType | None, dict[str, Any]]] = []
    files = {name: file for name, file, _reason, _mtime, _after in plan}
    try:
        if engine.plan_changes_imports():
            # New imports may name files the import system's directory
            # caches have not seen yet. (Refreshing costs a listing of each
            # directory, so it is skipped when no module's imports changed.)
            importlib.invalidate_caches()
        for name, file, reason, _mtime, _after in plan:
            module = sys.modules.get(name)
            snapshots.append((name, module, dict(module.__dict__) if module is not None else {}))
            if reason == "modified":
                _forget_bytecode(file)
            try:
                _reload_one(name)
            except BaseException as error:  # noqa: BLE001 - every failure rolls back
                raise _Failure(name, file, "reload", error) from None
            if file:
                linecache.checkcache(file)
        old_exports = {name: _exported(contents) for name, _m, contents in snapshots}
        updates = _new_bindings(engine.rebind_plan(list(files)), namespaces, files, old_exports)
    except _Failure as failure:
        _rollback(snapshots)
        engine.abort()
        error = failure.error
        if isinstance(error, ImportError):
            importlib.invalidate_caches()  # the retry sees new files for sure
        if isinstance(error, KeyboardInterrupt):
            raise error from None
        line = _line_in(error, failure.file)
        raise _module_error(failure.module, failure.phase, failure.file, line) from error
    except BaseException:
        _rollback(snapshots)
        engine.abort()
        raise
    engine.commit(resolve)
    for namespace, assign in updates:
        namespace.update(assign)
