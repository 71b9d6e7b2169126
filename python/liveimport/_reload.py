"""The interpreter's part of a sync: re-execute modules, rebind names, undo.

The engine decides what reloads, in which order, and which namespaces to
rebind; a :class:`Transaction` does the parts only Python can do, and
remembers everything it changed so that a failure anywhere, up to and
including the engine's commit, can put the interpreter back exactly as it
was.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import linecache
import os
import sys
import time
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ._types import ModuleError, StaleNameWarning

if TYPE_CHECKING:
    from ._engine import Plan, PlannedReload
    from ._patch import Replacement

#: An empty closure cell, or an attribute that is not there.
EMPTY: Any = object()

#: Marks a name that did not exist before the sync assigned it.
_ABSENT: Any = object()

BindingTuple = tuple[str, "str | None", "str | None"]


class Failure(Exception):
    """A failed step: which module, in which phase, and the original exception."""

    def __init__(self, module: str, file: str | None, phase: str, error: BaseException) -> None:
        super().__init__(module, phase)
        self.module = module
        self.file = file
        self.phase = phase
        self.error = error

    def module_error(self) -> ModuleError:
        """The public error, its cause attached, for ``raise ... from``."""
        return ModuleError(self.module, self.phase, self.file, line_in(self.error, self.file))


@dataclass
class Changed:
    """What a sync changed in one namespace, for re-run hints."""

    #: Names rebound from modules that reloaded (``from m import n``, ``*``).
    names: set[str]
    #: Names bound to modules (``import a.b as x``: ``x`` → ``"a.b"``), whose
    #: attributes a cell may read through them (``x.f``).
    modules: dict[str, str]


class Transaction:
    """What one sync changed in the interpreter, to undo it.

    Every change (a module re-executed, a name written into a namespace, an
    attribute or closure cell of a patched object) first records how to
    undo it; :meth:`rollback` undoes them all, newest first.
    """

    def __init__(self, patching: bool = False) -> None:
        self.patching = patching
        #: Each reloaded module's dictionary before this sync.
        self.before: dict[str, dict[str, Any]] = {}
        #: Classes whose identity could not be kept (for the report).
        self.replaced: list[Replacement] = []
        #: Per rebound namespace (by id): what changed in it, for re-run hints.
        self.changed: dict[int, Changed] = {}
        #: When the reloads and the rebinding ended (time.perf_counter()).
        self.reloaded_at = 0.0
        self.rebound_at = 0.0
        self._undo: list[Callable[[], None]] = []

    # -- execute ---------------------------------------------------------------

    def reload(self, step: PlannedReload) -> None:
        """Re-execute one module of the plan in its existing namespace (and,
        with patching on, keep its functions' and classes' identity)."""
        name, file = step.module, _str(step.file)
        module = sys.modules.get(name)
        before = dict(module.__dict__) if module is not None else {}
        self.before[name] = before
        self._undo.append(functools.partial(_restore_module, name, module, before))
        if step.reason.value == "modified":
            _forget_bytecode(file)
        try:
            if module is None:
                # The user removed it from sys.modules: import it afresh, as
                # running the import statement again would.
                module = importlib.import_module(name)
            else:
                importlib.reload(module)
        except BaseException as error:  # noqa: BLE001 - every failure rolls back
            raise Failure(name, file, "reload", error) from None
        if file:
            linecache.checkcache(file)
        from . import _patch  # loaded at the first reload, not with the package

        self.replaced += _patch.patch_module(module, before, self, self.patching)

    # -- the journal --------------------------------------------------------------

    def assign(self, namespace: dict[str, Any], values: dict[str, Any]) -> None:
        """Write names into a namespace."""
        for key in values:
            self._undo.append(
                functools.partial(_restore_item, namespace, key, namespace.get(key, _ABSENT))
            )
        namespace.update(values)

    def set_attr(self, obj: Any, name: str, value: Any) -> None:
        """Set an attribute of an existing object (a class's own, for a class)."""
        if isinstance(obj, type):
            previous = obj.__dict__.get(name, _ABSENT)
        else:
            previous = getattr(obj, name, _ABSENT)
        self._undo.append(functools.partial(_restore_attr, obj, name, previous))
        setattr(obj, name, value)

    def del_attr(self, obj: Any, name: str) -> None:
        """Delete a class's own attribute."""
        self._undo.append(functools.partial(_restore_attr, obj, name, obj.__dict__[name]))
        delattr(obj, name)

    def set_cell(self, cell: types.CellType, value: Any) -> None:
        """Set a closure cell's contents (``EMPTY``: empty it)."""
        try:
            previous = cell.cell_contents
        except ValueError:
            previous = EMPTY
        self._undo.append(functools.partial(_restore_cell, cell, previous))
        _restore_cell(cell, value)

    def replace_dict(self, obj: Any, values: dict[str, Any]) -> None:
        """Replace the contents of an object's ``__dict__`` (a function's)."""
        contents = obj.__dict__
        self._undo.append(functools.partial(_restore_dict, contents, dict(contents)))
        _restore_dict(contents, values)

    def rollback(self) -> None:
        """Undo every change, newest first."""
        while self._undo:
            self._undo.pop()()


def _restore_module(name: str, module: ModuleType | None, contents: dict[str, Any]) -> None:
    """A module as it was: its dictionary restored in place, never emptied on
    the way (another thread may be using the module); or not loaded."""
    if module is None:
        sys.modules.pop(name, None)
        return
    namespace = module.__dict__
    namespace.update(contents)
    for key in [key for key in namespace if key not in contents]:
        del namespace[key]
    sys.modules[name] = module


def _restore_item(namespace: dict[str, Any], key: str, value: Any) -> None:
    if value is _ABSENT:
        namespace.pop(key, None)
    else:
        namespace[key] = value


def _restore_attr(obj: Any, name: str, value: Any) -> None:
    if value is _ABSENT:
        if name in getattr(obj, "__dict__", {}):
            delattr(obj, name)
    else:
        setattr(obj, name, value)


def _restore_cell(cell: types.CellType, value: Any) -> None:
    if value is EMPTY:
        try:
            del cell.cell_contents
        except ValueError:
            pass
    else:
        cell.cell_contents = value


def _restore_dict(contents: dict[str, Any], values: dict[str, Any]) -> None:
    contents.update(values)
    for key in [key for key in contents if key not in values]:
        del contents[key]


def execute(
    plan: Plan, namespaces: dict[int, dict[str, Any]], tx: Transaction
) -> list[StaleNameWarning]:
    """Reload the plan's modules in order, then rebind the registered names
    of the namespaces it affects; every change goes through `tx`. Returns
    the leftover names found (to be warned about once the sync succeeded)."""
    if plan.imports_changed:
        # New imports may name files the import system's directory caches
        # have not seen yet. (Refreshing costs a listing of each directory,
        # so it is skipped when no module's imports changed.)
        importlib.invalidate_caches()
    for step in plan.reloads:
        tx.reload(step)
    tx.reloaded_at = time.perf_counter()
    reloaded = {step.module: step for step in plan.reloads}
    leftovers: dict[tuple[str, str], StaleNameWarning] = {}
    for rebind in plan.rebinds:
        namespace = namespaces.get(rebind.namespace)
        if namespace is None:
            continue
        values: dict[str, Any] = {}
        changed = tx.changed.setdefault(rebind.namespace, Changed(set(), {}))
        for record in rebind.records:
            planned = reloaded.get(record[0])
            try:
                pairs = _values(record)
            except Failure:
                if planned is not None:
                    raise
                continue  # that module did not reload; leave its names be
            if record[1] is None:
                # A module bound by name: a path to attributes of modules.
                changed.modules[pairs[0][0]] = pairs[0][1].__name__
            elif planned is not None:
                changed.names.update(name for name, _value in pairs)
            if planned is not None and planned.binds is not None and record[1] is not None:
                for name, _value in pairs:
                    source_name = name if record[1] == "*" else record[1]
                    if _is_leftover(planned, source_name, tx):
                        leftovers.setdefault(
                            (planned.module, source_name),
                            StaleNameWarning(planned.module, source_name),
                        )
            values.update(pairs)
        tx.assign(namespace, values)
    tx.rebound_at = time.perf_counter()
    return list(leftovers.values())


def _values(record: BindingTuple) -> list[tuple[str, Any]]:
    """The (name, value) pairs executing one registered statement binds now."""
    module_name, name, asname = record
    if name is None:
        target = module_name if asname else module_name.partition(".")[0]
        module = sys.modules.get(target)
        if module is None:
            raise Failure(module_name, None, "rebind", ModuleNotFoundError(target, name=target))
        return [(asname or target, module)]
    module = sys.modules.get(module_name)
    if module is None:
        raise Failure(
            module_name, None, "rebind", ModuleNotFoundError(module_name, name=module_name)
        )
    names = exported(module.__dict__) if name == "*" else [name]
    pairs = []
    for source_name in names:
        try:
            value = getattr(module, source_name)
        except AttributeError:
            file = getattr(module, "__file__", None)
            raise Failure(
                module_name, file, "rebind", _vanished(module_name, source_name, file)
            ) from None
        pairs.append((source_name if name == "*" else asname or name, value))
    return pairs


def exported(namespace: dict[str, Any]) -> list[str]:
    """The names ``from m import *`` binds, given m's namespace."""
    names = namespace.get("__all__")
    if names is None:
        return [n for n in namespace if not n.startswith("_")]
    return list(names)


def _is_leftover(step: PlannedReload, name: str, tx: Transaction) -> bool:
    """Whether `name` in the reloaded module is left over from its previous
    version: the new source does not bind it, and it still holds the very
    object it held before (and is not a submodule the import system set)."""
    binds = step.binds
    if binds is None or name in binds:
        return False
    module = sys.modules.get(step.module)
    before = tx.before.get(step.module)
    if module is None or before is None or name not in before:
        return False
    value = module.__dict__.get(name, _ABSENT)
    if value is not before[name]:
        return False
    return not (isinstance(value, ModuleType) and sys.modules.get(f"{step.module}.{name}") is value)


def _vanished(module: str, name: str, file: str | None) -> ImportError:
    where = f" ({file})" if file else ""
    return ImportError(
        f"cannot import name {name!r} from {module!r}{where}: the name disappeared from "
        f"{module} (it is no longer in the module object)",
        name=module,
        path=file,
    )


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


def line_in(error: BaseException, file: str | None) -> int | None:
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


def _str(path: str | os.PathLike[str] | None) -> str | None:
    return None if path is None else os.fspath(path)
