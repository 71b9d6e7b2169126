"""Objects that survive reloads: in-place patching, and the stale-object report.

With patching on, after a module re-executes, every top-level function and
class that existed before and still exists keeps its identity: the old
object receives the new definition and is put back in the module, so every
reference to it anywhere (notebook variables, other modules, registries,
callbacks, bound methods, existing instances) runs the new code. Where
identity cannot be kept (a class's bases, metaclass, ``__slots__`` or
layout changed; a closure's free variables changed; a class became a
function), the new object replaces the old one, and the reason is kept for
the report.

Every change to an existing object goes through the sync's
:class:`~liveimport._reload.Transaction`, so a failed sync undoes the
patches too. The cost is proportional to the definitions of the reloaded
modules (and, for the report, to the registered namespaces): the heap is
never scanned.
"""

from __future__ import annotations

import enum
import functools
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._reload import EMPTY as _EMPTY
from ._types import StaleObject

if TYPE_CHECKING:
    from ._reload import Transaction

#: A module can opt out: ``__liveimport_patch__ = False`` in its source.
OPT_OUT = "__liveimport_patch__"

_FUNCTION_ATTRS = (
    "__code__",
    "__defaults__",
    "__kwdefaults__",
    "__annotations__",
    "__doc__",
    "__qualname__",
    "__name__",
    "__type_params__",
)

#: Class attributes that are part of the class object itself, never copied.
_CLASS_SKIP = frozenset(("__dict__", "__weakref__", "__module__"))

_LAYOUT = ("__basicsize__", "__itemsize__", "__dictoffset__", "__weakrefoffset__")


@dataclass(frozen=True)
class Replacement:
    """A class of a reloaded module whose identity could not be kept."""

    module: str
    name: str
    reason: str
    #: The class objects from before the sync (what old instances have).
    old: type


def patch_module(
    module: types.ModuleType, before: dict[str, Any], tx: Transaction, enabled: bool
) -> list[Replacement]:
    """Keep the identity of a reloaded module's functions and classes.

    `before` is the module's dictionary before it re-executed. Returns the
    classes that were replaced (with patching off: every class that the new
    source defined again).
    """
    name = module.__name__
    namespace = module.__dict__
    enabled = enabled and namespace.get(OPT_OUT, True) is not False
    pairs = [
        (key, old, namespace[key])
        for key, old in before.items()
        if key in namespace and namespace[key] is not old and _defined_in(old, name)
    ]
    if not enabled:
        return [
            Replacement(name, key, "patching is off", old)
            for key, old, new in pairs
            if isinstance(old, type)
        ]
    patcher = _Patcher(name, tx)
    replaced = []
    for key, old, new in pairs:
        reason = patcher.keep(old, new)
        if reason is not None and isinstance(old, type):
            replaced.append(Replacement(name, key, reason, old))
    patcher.apply()
    # Put the old objects back wherever the new ones are bound in the module
    # (their own names, and aliases).
    for key, value in list(namespace.items()):
        kept = patcher.kept.get(id(value))
        if kept is not None:
            namespace[key] = kept
    patcher.adopt_instances(namespace.values())
    return replaced


def _defined_in(obj: object, module: str) -> bool:
    """A function or class this module's source defines (not an import)."""
    if isinstance(obj, (types.FunctionType, type)):
        return getattr(obj, "__module__", None) == module
    wrapped = getattr(obj, "__wrapped__", None)
    return isinstance(wrapped, types.FunctionType) and wrapped.__module__ == module


class _Patcher:
    """Decides which old objects keep their identity, then patches them."""

    def __init__(self, module: str, tx: Transaction) -> None:
        self.module = module
        self.tx = tx
        #: id(new object) -> the old object it is patched into
        self.kept: dict[int, Any] = {}
        #: (old, new) pairs to patch, in the order decided
        self.functions: list[tuple[types.FunctionType, types.FunctionType]] = []
        self.classes: list[tuple[type, type]] = []
        self.wrappers: list[tuple[Any, Any]] = []
        #: id(new class) -> why it cannot be kept (memo)
        self.refused: dict[int, str] = {}

    # -- deciding ------------------------------------------------------------------

    def keep(self, old: Any, new: Any) -> str | None:
        """Plan to keep `old` with `new`'s definition; the reason if not."""
        if id(new) in self.kept:
            return None
        if isinstance(old, types.FunctionType):
            if not isinstance(new, types.FunctionType):
                return "it is no longer a function"
            return self._keep_function(old, new)
        if isinstance(old, type):
            if not isinstance(new, type):
                return "it is no longer a class"
            return self._keep_class(old, new)
        return self._keep_wrapper(old, new)

    def _keep_function(self, old: types.FunctionType, new: types.FunctionType) -> str | None:
        if old.__globals__ is not new.__globals__:
            return "its globals differ"
        if old.__code__.co_freevars != new.__code__.co_freevars:
            return "its closure's free variables changed"
        self.kept[id(new)] = old
        self.functions.append((old, new))
        # A functools.wraps wrapper: keep the wrapped function too.
        inner_old = old.__dict__.get("__wrapped__")
        inner_new = new.__dict__.get("__wrapped__")
        if isinstance(inner_old, types.FunctionType) and isinstance(inner_new, types.FunctionType):
            if inner_old is not inner_new and _defined_in(inner_new, self.module):
                self.keep(inner_old, inner_new)
        return None

    def _keep_wrapper(self, old: Any, new: Any) -> str | None:
        """``functools.cache``/``lru_cache`` wrappers: keep the wrapper (its
        cache is cleared) and patch the function it calls."""
        if type(old) is not type(new) or not isinstance(old, functools._lru_cache_wrapper):
            return "it is not a function or class LiveImport can patch"
        inner_old, inner_new = old.__wrapped__, new.__wrapped__
        if not isinstance(inner_old, types.FunctionType) or not isinstance(
            inner_new, types.FunctionType
        ):
            return "it wraps something other than a function"
        reason = self.keep(inner_old, inner_new)
        if reason is not None:
            return reason
        self.kept[id(new)] = old
        self.wrappers.append((old, new))
        return None

    def _keep_class(self, old: type, new: type) -> str | None:
        if id(new) in self.refused:
            return self.refused[id(new)]
        reason = self._class_incompatibility(old, new)
        if reason is not None:
            self.refused[id(new)] = reason
            return reason
        self.kept[id(new)] = old
        self.classes.append((old, new))
        if issubclass(old, enum.Enum):
            # The same members: the old member objects stand for the new ones.
            for member in new.__dict__.get("_member_map_", {}).values():
                self.kept[id(member)] = old.__dict__["_member_map_"][member.name]
        # Nested classes and methods, decided now (patched in apply()).
        for key, value in new.__dict__.items():
            previous = old.__dict__.get(key, _EMPTY)
            if previous is _EMPTY or previous is value or key in _CLASS_SKIP:
                continue
            if isinstance(value, type) and isinstance(previous, type):
                if _defined_in(value, self.module) and self._keep_class(previous, value) is None:
                    continue
            elif isinstance(value, types.FunctionType) and isinstance(previous, types.FunctionType):
                self._keep_function(previous, value)
        return None

    def _class_incompatibility(self, old: type, new: type) -> str | None:
        if type(old) is not type(new):
            return "its metaclass changed"
        bases = [self._old_base(base) for base in new.__bases__]
        if bases != list(old.__bases__):
            return "its bases changed"
        if old.__dict__.get("__slots__") != new.__dict__.get("__slots__"):
            return "its __slots__ changed"
        if any(getattr(old, a, None) != getattr(new, a, None) for a in _LAYOUT):
            return "its memory layout changed"
        fields = getattr(old, "_fields", None), getattr(new, "_fields", None)
        if issubclass(old, tuple) and fields[0] != fields[1]:
            return "its fields changed"
        if issubclass(old, enum.Enum) and _members(old) != _members(new):
            return "its members changed"
        return None

    def _old_base(self, base: type) -> type:
        """The class a base of a new class stands for: the old one when it is
        kept (bases are decided first)."""
        kept = self.kept.get(id(base))
        if kept is not None:
            return kept  # type: ignore[no-any-return]
        return base

    # -- patching ------------------------------------------------------------------

    def apply(self) -> None:
        for old_fn, new_fn in self.functions:
            self._patch_function(old_fn, new_fn)
        for old_cls, new_cls in self.classes:
            self._patch_class(old_cls, new_cls)
        for old, _new in self.wrappers:
            old.cache_clear()

    def _substitute(self, value: Any) -> Any:
        return self.kept.get(id(value), value)

    def _patch_function(self, old: types.FunctionType, new: types.FunctionType) -> None:
        tx = self.tx
        for attr in _FUNCTION_ATTRS:
            value = getattr(new, attr, _EMPTY)
            if value is _EMPTY:
                continue
            current = getattr(old, attr, _EMPTY)
            if current is value or (type(current) is type(value) and _same(current, value)):
                continue  # unchanged (most attributes, most of the time)
            tx.set_attr(old, attr, value)
        for name, old_cell, new_cell in zip(
            new.__code__.co_freevars, old.__closure__ or (), new.__closure__ or (), strict=True
        ):
            if name == "__class__":
                continue  # the class the method belongs to: the old one, kept
            try:
                value = new_cell.cell_contents
            except ValueError:
                value = _EMPTY
            tx.set_cell(old_cell, value if value is _EMPTY else self._substitute(value))
        if old.__dict__ or new.__dict__:
            tx.replace_dict(old, {k: self._substitute(v) for k, v in new.__dict__.items()})

    def _patch_class(self, old: type, new: type) -> None:
        tx = self.tx
        is_enum = issubclass(old, enum.Enum)
        members = set(old.__dict__.get("_member_map_", ())) if is_enum else set()
        for key, value in new.__dict__.items():
            if key in _CLASS_SKIP or _is_layout_descriptor(value):
                continue
            if is_enum and not _enum_patchable(key, value, members):
                continue
            previous = old.__dict__.get(key, _EMPTY)
            kept = self.kept.get(id(value))
            if kept is not None and kept is previous:
                continue  # a method or nested class patched in place
            _retarget_class_cells(value, new, old, tx)
            tx.set_attr(old, key, self._substitute(value))
        for key in list(old.__dict__):
            if key in new.__dict__ or key in _CLASS_SKIP:
                continue
            value = old.__dict__[key]
            if _is_layout_descriptor(value) or (
                is_enum and not _enum_patchable(key, value, members)
            ):
                continue
            tx.del_attr(old, key)

    def adopt_instances(self, values: Iterator[Any] | Any) -> None:
        """Instances of a kept class that the module created while it
        re-executed (``ORIGIN = Point(0, 0)``) become instances of the old
        class, one level into containers."""
        if not self.classes:
            return
        for value in values:
            for item in _one_level(value):
                kept = self.kept.get(id(type(item)))
                if kept is not None and isinstance(kept, type):
                    try:
                        item.__class__ = kept
                    except TypeError:
                        pass


def _same(a: Any, b: Any) -> bool:
    """Equal, for the plain values a function's metadata holds (names, docs,
    code, default tuples); a comparison that fails counts as different."""
    try:
        return bool(a == b)
    except Exception:
        return False


def _members(cls: type) -> list[tuple[str, Any]]:
    return [(member.name, member.value) for member in cls]  # type: ignore[attr-defined]


def _enum_patchable(key: str, value: Any, members: set[str]) -> bool:
    """In an Enum, only methods and descriptors are patched; members and the
    enum machinery's own attributes are left alone."""
    if key in members or (key.startswith("_") and key.endswith("_") and not key.startswith("__")):
        return False
    return isinstance(value, (types.FunctionType, classmethod, staticmethod, property))


def _is_layout_descriptor(value: object) -> bool:
    """``__slots__`` members and the ``__dict__``/``__weakref__`` descriptors
    belong to the class they were made for."""
    return isinstance(value, (types.MemberDescriptorType, types.GetSetDescriptorType))


def _retarget_class_cells(value: Any, new: type, old: type, tx: Transaction) -> None:
    """A method taken over as is (a property, classmethod, staticmethod, or
    a function that could not be patched) refers to its class through the
    ``__class__`` cell (zero-argument ``super()``): make it the old class."""
    functions: list[Any] = []
    if isinstance(value, types.FunctionType):
        functions.append(value)
    elif isinstance(value, (classmethod, staticmethod)):
        functions.append(value.__func__)
    elif isinstance(value, property):
        functions.extend(f for f in (value.fget, value.fset, value.fdel) if f is not None)
    for function in functions:
        code = getattr(function, "__code__", None)
        if code is None or "__class__" not in code.co_freevars:
            continue
        cell = function.__closure__[code.co_freevars.index("__class__")]
        try:
            if cell.cell_contents is new:
                tx.set_cell(cell, old)
        except ValueError:
            pass


def _one_level(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, (list, tuple, set, frozenset)):
        yield from value
    elif isinstance(value, dict):
        yield from value.values()


# ---------------------------------------------------------------------------
# The stale-object report

#: Names a shell keeps in the user's namespace for itself.
_SHELL_NAMES = frozenset(("In", "Out", "exit", "quit", "get_ipython"))


def stale_objects(
    replaced: list[Replacement], namespaces: Iterator[dict[str, Any]] | list[dict[str, Any]]
) -> list[StaleObject]:
    """Variables of the registered namespaces (and one level into their
    lists, tuples, dicts and sets) that hold instances of replaced classes."""
    if not replaced:
        return []
    by_class = {id(r.old): r for r in replaced}
    found: list[StaleObject] = []
    seen: set[tuple[int, str]] = set()
    for namespace in namespaces:
        for name, value in list(namespace.items()):
            if name.startswith("_") or name in _SHELL_NAMES or isinstance(value, type):
                continue
            for path, item in _paths(name, value):
                replacement = _replacement_of(item, by_class)
                if replacement is None or (id(namespace), path) in seen:
                    continue
                seen.add((id(namespace), path))
                found.append(
                    StaleObject(path, replacement.name, replacement.module, replacement.reason)
                )
    return found


def _paths(name: str, value: Any) -> Iterator[tuple[str, Any]]:
    yield name, value
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield f"{name}[{i}]", item
    elif isinstance(value, (set, frozenset)):
        for item in value:
            yield f"{name} (an element)", item
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{name}[{key!r}]", item


def _replacement_of(item: Any, by_class: dict[int, Replacement]) -> Replacement | None:
    for cls in type(item).__mro__:
        replacement = by_class.get(id(cls))
        if replacement is not None:
            return replacement
    return None
