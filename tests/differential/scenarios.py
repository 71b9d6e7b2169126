"""Scripted LiveImport scenarios for differential testing against PyPI liveimport 1.3.1.

Usage::

    python scenarios.py SCENARIO_NAME WORKDIR
    python scenarios.py --list

Runs one scenario against whichever ``liveimport`` the running interpreter
imports, using only the public API shared by both implementations
(``register``, ``sync(observer=...)``, ``workspace``, ``ModuleError``,
``ReloadEvent``). Module files are real files under WORKDIR, which goes on
``sys.path`` and becomes the current directory before ``liveimport`` is
imported, so the default workspace is WORKDIR.

Prints one JSON object: ``{"scenario", "hashseed", "steps"}``. Each step
records what one action observed: reload events of a sync as
``[module, reason, after]``, inspected namespace values, exceptions as
``{type, message, module?, phase?, cause?}`` and warnings as
``[category, message]``. WORKDIR is replaced by ``<WORKDIR>`` everywhere.

PyPI 1.3.1 notices edits by modification time, so every write and touch sets
the file's mtime from a clock that starts 10 s in the future and advances one
second per change (a scenario may set explicit times instead). Run with
``PYTHONHASHSEED=0``: PyPI 1.3.1 walks a module's dependencies in ``set``
order, so some orders below (chosen to equal source order under that seed)
depend on it.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import sys
import textwrap
import time
import types
import warnings

liveimport = None  # imported by main() once the working directory is set

SCENARIOS: dict = {}


def scenario(func):
    SCENARIOS[func.__name__] = func
    return func


# Scenarios whose import statements are written in the order PyPI 1.3.1 walks
# its sets of module names under PYTHONHASHSEED=0 with the str hash of
# CPython >= 3.11 (SipHash-1-3). CPython 3.10 hashes str with SipHash-2-4, so
# there PyPI's order among independent siblings differs, while ours (source
# order) does not: those runs skip these scenarios.
HASH_ORDERED: set = set()


def hash_ordered(func):
    HASH_ORDERED.add(func.__name__)
    return func


# ---------------------------------------------------------------------------
# Recording helpers


def plain(value):
    """A JSON-compatible rendering of `value`."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(plain(item) for item in value)
    if isinstance(value, types.ModuleType):
        return f"<module {value.__name__}>"
    if callable(value):
        return f"<callable {getattr(value, '__qualname__', type(value).__name__)}>"
    return repr(value)


def describe_error(error: BaseException) -> dict:
    record = {"type": type(error).__name__, "message": str(error)}
    for attr in ("module", "phase"):
        if hasattr(error, attr):
            record[attr] = plain(getattr(error, attr))
    if error.__cause__ is not None:
        record["cause"] = type(error.__cause__).__name__
    return record


def event_record(event) -> list:
    return [event.module, event.reason, list(event.after)]


class Run:
    """One scenario's state: the workdir, the file clock, the recorded steps."""

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.clock = time.time() + 10
        self.steps: list = []
        self.ns: dict = {"__name__": "__main__"}

    # -- files ------------------------------------------------------------

    def path(self, relpath: str) -> str:
        return os.path.join(self.workdir, relpath)

    def _stamp(self, path: str, mtime: float | None) -> None:
        if mtime is None:
            self.clock += 1
            mtime = self.clock
        os.utime(path, (mtime, mtime))

    def write(self, relpath: str, text: str, *, mtime: float | None = None) -> None:
        """Write a file (dedented) and give it a new, strictly later mtime."""
        path = self.path(relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(textwrap.dedent(text))
        self._stamp(path, mtime)

    def files(self, mapping: dict) -> None:
        for relpath, text in mapping.items():
            self.write(relpath, text)

    def touch(self, relpath: str, *, mtime: float | None = None) -> None:
        """Bump the mtime only; the content stays the same."""
        self._stamp(self.path(relpath), mtime)

    def read(self, relpath: str) -> str:
        with open(self.path(relpath)) as handle:
            return handle.read()

    def delete(self, relpath: str) -> None:
        os.remove(self.path(relpath))

    # -- the notebook side -----------------------------------------------

    def run(self, code: str, ns: dict | None = None) -> None:
        """Execute code in a namespace, as a notebook cell would (not recorded)."""
        exec(compile(textwrap.dedent(code), "<cell>", "exec"), self.ns if ns is None else ns)

    def value(self, expr: str, ns: dict | None = None) -> None:
        """Record the value of an expression evaluated in a namespace."""
        step: dict = {"op": "value", "expr": expr}
        try:
            step["value"] = plain(eval(expr, self.ns if ns is None else ns))
        except Exception as error:
            step["error"] = describe_error(error)
        self.steps.append(step)

    def note(self, label: str, value) -> None:
        """Record a value computed by the scenario itself."""
        self.steps.append({"op": "note", "label": label, "value": plain(value)})

    def names(self, ns: dict | None = None) -> None:
        """Record the sorted non-dunder names bound in a namespace."""
        target = self.ns if ns is None else ns
        self.note("names", sorted(n for n in target if not n.startswith("__")))

    # -- the API ---------------------------------------------------------

    def _call(self, step: dict, func) -> object:
        result = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = func()
            except Exception as error:
                step["error"] = describe_error(error)
        if caught:
            step["warnings"] = [[w.category.__name__, str(w.message)] for w in caught]
        self.steps.append(step)
        return result

    def register(self, stmts: str, ns: dict | None = None, **kwargs) -> None:
        step: dict = {"op": "register", "stmts": stmts}
        if ns is not None:
            step["ns"] = ns.get("__name__", "?")
        if kwargs:
            step["kwargs"] = plain(kwargs)
        target = self.ns if ns is None else ns
        self._call(step, lambda: liveimport.register(target, stmts, **kwargs))

    def sync(self, **kwargs) -> list:
        events: list = []
        step: dict = {"op": "sync", "events": []}
        if kwargs:
            step["kwargs"] = plain(kwargs)
        self._call(step, lambda: liveimport.sync(observer=events.append, **kwargs))
        step["events"] = [event_record(event) for event in events]
        return events

    def workspace(self, *dirs: str, **kwargs) -> None:
        step: dict = {"op": "workspace", "dirs": list(dirs)}
        if kwargs:
            step["kwargs"] = plain(kwargs)
        self._call(step, lambda: liveimport.workspace(*dirs, **kwargs))


# ---------------------------------------------------------------------------
# Basic binding forms


@scenario
def basic_import(r: Run) -> None:
    r.write("m.py", "x = 1\ndef f():\n    return 'f1'\n")
    r.run("import m")
    r.register("import m")
    r.sync()
    r.write("m.py", "x = 2\ndef f():\n    return 'f2'\n")
    r.sync()
    r.value("(m.x, m.f())")
    r.value("m is __import__('sys').modules['m']")
    r.sync()
    r.write("m.py", "x = 3\ndef f():\n    return 'f3'\n")
    r.sync()
    r.value("(m.x, m.f())")


@scenario
def from_import_alias(r: Run) -> None:
    r.write("m.py", "def f(): return 'f1'\ndef g(): return 'g1'\nother = 1\n")
    r.run("from m import f, g as h")
    r.register("from m import f, g as h")
    r.write("m.py", "def f(): return 'f2'\ndef g(): return 'g2'\nother = 2\n")
    r.sync()
    r.value("(f(), h())")
    r.names()


@scenario
def import_dotted(r: Run) -> None:
    r.files(
        {
            "a/__init__.py": "tag = 'a1'\n",
            "a/b/__init__.py": "",
            "a/b/c.py": "val = 1\n",
        }
    )
    r.run("import a.b.c")
    r.register("import a.b.c")
    r.write("a/b/c.py", "val = 2\n")
    r.sync()
    r.value("(a.__name__, a.b.c.val)")
    r.value("a is __import__('sys').modules['a']")
    r.write("a/__init__.py", "tag = 'a2'\n")
    r.sync()
    r.value("a.tag")
    r.names()


@scenario
def import_dotted_as(r: Run) -> None:
    r.files({"a/__init__.py": "", "a/b/__init__.py": "", "a/b/c.py": "val = 1\n"})
    r.run("import a.b.c as x")
    r.register("import a.b.c as x")
    r.write("a/b/c.py", "val = 2\n")
    r.sync()
    r.value("(x.__name__, x.val)")
    r.names()


@scenario
def star_without_all(r: Run) -> None:
    r.write("m.py", "import json\nalpha = 1\nbeta = 'b1'\n_hidden = 0\ndef fn(): return 'fn1'\n")
    r.run("from m import *")
    r.register("from m import *")
    r.names()
    r.write(
        "m.py",
        "import json\nalpha = 2\nbeta = 'b2'\ngamma = 3\n_hidden = 5\ndef fn(): return 'fn2'\n",
    )
    r.sync()
    r.names()
    r.value("(alpha, beta, gamma, fn(), json.__name__)")
    r.write("m.py", "alpha = 3\ngamma = 4\ndef fn(): return 'fn3'\n")
    r.sync()
    r.names()
    r.value("(alpha, beta, gamma, fn())")


@scenario
def star_with_all(r: Run) -> None:
    r.write("m.py", "__all__ = ['a', 'b']\na = 1\nb = 1\nc = 1\n")
    r.run("from m import *")
    r.register("from m import *")
    r.names()
    r.write("m.py", "__all__ = ['a', 'c']\na = 2\nb = 2\nc = 2\n")
    r.sync()
    r.names()
    r.value("(a, b, c)")


@scenario
def register_statement_forms(r: Run) -> None:
    r.files({"m1.py": "v = 1\n", "m2.py": "v = 1\nw = 1\n", "m3.py": "v = 1\n"})
    r.run("import m1; from m2 import (v as v2,\n    w)\nimport m3")
    r.register("\n    import m1; from m2 import (v as v2,\n        w)\n    import m3\n")
    r.write("m1.py", "v = 2\n")
    r.write("m2.py", "v = 2\nw = 2\n")
    r.write("m3.py", "v = 2\n")
    r.sync()
    r.value("(m1.v, v2, w, m3.v)")


@scenario
def idempotent_registration(r: Run) -> None:
    r.write("m.py", "def f(): return 'f1'\ndef g(): return 'g1'\nx = 1\n")
    r.run("import m\nfrom m import f, g\nfrom m import g as gg\nfrom m import *")
    for stmts in (
        "from m import f, g",
        "from m import f, g",
        "from m import g as gg",
        "from m import *",
        "import m",
        "import m",
        "from m import f, g",
    ):
        r.register(stmts)
    r.write("m.py", "def f(): return 'f2'\ndef g(): return 'g2'\nx = 2\n")
    r.sync()
    r.value("(f(), g(), gg(), x, m.x)")


@scenario
def two_namespaces(r: Run) -> None:
    other: dict = {"__name__": "other"}
    r.write("m.py", "def f(): return 'f1'\n")
    r.run("import m")
    r.run("from m import f", other)
    r.register("import m")
    r.register("from m import f", other)
    r.write("m.py", "def f(): return 'f2'\n")
    r.sync()
    r.value("m.f()")
    r.value("f()", other)
    r.names()
    r.names(other)


@scenario
def own_names_untouched(r: Run) -> None:
    r.write("m.py", "def f(): return 'f1'\nx = 'module x'\n")
    r.run("from m import f\nx = 'mine'\nmine = 'also mine'")
    r.register("from m import f")
    r.run("f = 'overwritten by the user'")
    r.write("m.py", "def f(): return 'f2'\nx = 'module x 2'\nmine = 'module'\n")
    r.sync()
    r.value("(f(), x, mine)")


@scenario
def last_registration_wins(r: Run) -> None:
    r.files({"m1.py": "val = 'm1'\n", "m2.py": "val = 'm2'\n"})
    r.run("from m1 import val\nfrom m2 import val")
    r.register("from m1 import val")
    r.register("from m2 import val")
    r.write("m1.py", "val = 'm1b'\n")
    r.sync()
    r.value("val")
    # Re-registering the m1 statement makes it the latest.
    r.register("from m1 import val")
    r.write("m2.py", "val = 'm2b'\n")
    r.sync()
    r.value("val")
    r.write("m1.py", "val = 'm1c'\n")
    r.sync()
    r.value("val")


@scenario
def star_then_from_order(r: Run) -> None:
    r.files({"m1.py": "val = 'm1'\nonly1 = 1\n", "m2.py": "val = 'm2'\n"})
    r.run("from m1 import *\nfrom m2 import val")
    r.register("from m1 import *\nfrom m2 import val")
    r.write("m1.py", "val = 'm1b'\nonly1 = 2\n")
    r.sync()
    r.value("(val, only1)")
    r.register("from m1 import *")
    r.write("m1.py", "val = 'm1c'\nonly1 = 3\n")
    r.sync()
    r.value("(val, only1)")


@scenario
def clear_registrations(r: Run) -> None:
    r.files({"m1.py": "v = 1\n", "m2.py": "v = 1\n"})
    r.run("import m1, m2\nfrom m1 import v")
    r.register("import m1\nfrom m1 import v")
    r.register("import m2", clear=True)
    r.write("m1.py", "v = 2\n")
    r.sync()
    r.value("(m1.v, v)")
    r.write("m2.py", "v = 2\n")
    r.sync()
    r.value("(m1.v, v, m2.v)")
    r.register("", clear=True)
    r.write("m2.py", "v = 3\n")
    r.sync()
    r.value("m2.v")


@scenario
def package_relative(r: Run) -> None:
    r.files({"pkg/__init__.py": "", "pkg/mod.py": "val = 1\n", "pkg/other.py": "val = 1\n"})
    r.run("from pkg.mod import val\nfrom pkg import other")
    r.register("from .mod import val\nfrom . import other", package="pkg")
    r.write("pkg/mod.py", "val = 2\n")
    r.write("pkg/other.py", "val = 2\n")
    r.sync()
    r.value("(val, other.val)")


@scenario
def from_pkg_submodule(r: Run) -> None:
    r.files({"pkg/__init__.py": "tag = 1\n", "pkg/sub.py": "val = 1\n"})
    r.run("from pkg import sub")
    r.register("from pkg import sub")
    r.write("pkg/sub.py", "val = 2\n")
    r.sync()
    r.value("(sub.__name__, sub.val)")
    r.value("sub is __import__('sys').modules['pkg.sub']")
    r.write("pkg/__init__.py", "tag = 2\n")
    r.sync()
    r.value("(sub.val, __import__('pkg').tag)")


@scenario
def no_source_modules(r: Run) -> None:
    r.write("m.py", "v = 1\n")
    r.run("import math, sys, array\nfrom math import pi\nimport m")
    r.note("math is an extension module", getattr(sys.modules["math"], "__file__", ""))
    r.register("import math, sys, array\nfrom math import pi\nimport m")
    r.write("m.py", "v = 2\n")
    r.sync()
    r.value("(m.v, pi, math.__name__, sys.__name__, array.__name__)")


# ---------------------------------------------------------------------------
# Dependency order


@scenario
def chain_indirect(r: Run) -> None:
    r.files(
        {
            "c.py": "val = 1\n",
            "b.py": "import c\ndef get(): return ('b1', c.val)\n",
            "a.py": "import b\ndef get(): return ('a1',) + b.get()\n",
        }
    )
    r.run("import a")
    r.register("import a")
    r.write("c.py", "val = 2\n")
    r.sync()
    r.value("a.get()")
    r.write("b.py", "import c\ndef get(): return ('b2', c.val)\n")
    r.sync()
    r.value("a.get()")
    r.write("a.py", "import b\ndef get(): return ('a2',) + b.get()\n")
    r.sync()
    r.value("a.get()")


@scenario
def chain_from_imports(r: Run) -> None:
    r.files(
        {
            "c.py": "val = 1\n",
            "b.py": "from c import val\ndef get_b(): return ('b', val)\n",
            "a.py": "from b import get_b\ndef get(): return get_b()\n",
        }
    )
    r.run("from a import get")
    r.register("from a import get")
    r.write("c.py", "val = 2\n")
    r.sync()
    r.value("get()")


@scenario
@hash_ordered
def diamond(r: Run) -> None:
    # top's imports are in PYTHONHASHSEED=0 set order (PyPI walks sets).
    r.files(
        {
            "base.py": "val = 1\n",
            "l.py": "import base\ndef get(): return ('l', base.val)\n",
            "r.py": "import base\ndef get(): return ('r', base.val)\n",
            "top.py": "import l\nimport r\ndef get(): return (l.get(), r.get())\n",
        }
    )
    r.run("import top")
    r.register("import top")
    r.write("base.py", "val = 2\n")
    r.sync()
    r.value("top.get()")
    r.write("l.py", "import base\ndef get(): return ('l2', base.val)\n")
    r.sync()
    r.value("top.get()")


@scenario
@hash_ordered
def multiple_after(r: Run) -> None:
    # top's imports are in PYTHONHASHSEED=0 set order (PyPI walks sets).
    r.files(
        {
            "x.py": "v = 1\n",
            "y.py": "v = 1\n",
            "z.py": "v = 1\n",
            "top.py": "import y\nimport x\nimport z\n",
        }
    )
    r.run("import top")
    r.register("import top")
    r.write("x.py", "v = 2\n")
    r.write("y.py", "v = 2\n")
    r.write("z.py", "v = 2\n")
    r.sync()
    r.write("x.py", "v = 3\n")
    r.write("z.py", "v = 3\n")
    r.sync()


@scenario
@hash_ordered
def after_order(r: Run) -> None:
    # top's imports are in PYTHONHASHSEED=0 set order; y imports x, so the
    # reload order (x, y) differs from top's dependency order (y, x).
    r.files(
        {
            "x.py": "v = 1\n",
            "y.py": "import x\nv = 1\n",
            "top.py": "import y\nimport x\n",
        }
    )
    r.run("import top")
    r.register("import top")
    r.write("x.py", "v = 2\n")
    r.write("y.py", "import x\nv = 2\n")
    r.sync()


@scenario
def independent_tracking_order(r: Run) -> None:
    r.files({"m1.py": "v = 1\n", "m2.py": "v = 1\n", "m3.py": "v = 1\n"})
    r.run("import m1, m2, m3")
    r.register("import m2")
    r.register("import m3, m1")
    r.write("m1.py", "v = 2\n")
    r.write("m2.py", "v = 2\n")
    r.write("m3.py", "v = 2\n")
    r.sync()


@scenario
def indirect_dropped_and_back(r: Run) -> None:
    r.files({"b.py": "val = 1\n", "a.py": "import b\nval = 1\n"})
    r.run("import a")
    r.register("import a")
    r.write("a.py", "val = 2\n")
    r.sync()
    r.write("b.py", "val = 2\n")
    r.sync()
    r.value("__import__('b').val")
    r.write("a.py", "import b\nval = 3\n")
    r.sync()
    r.value("(a.val, a.b.val)")


@scenario
def new_dependency_added(r: Run) -> None:
    r.files({"b.py": "val = 1\n", "a.py": "val = 1\n"})
    r.run("import a")
    r.register("import a")
    r.write("a.py", "import b\nval = 2\n")
    r.sync()
    r.value("(a.val, a.b.val)")
    r.write("b.py", "val = 2\n")
    r.sync()
    r.value("(a.val, a.b.val)")


@scenario
def deleted_module_link(r: Run) -> None:
    b_source = "import c\ndef get(): return c.val\n"
    r.files({"c.py": "val = 1\n", "b.py": b_source, "a.py": "import b\n"})
    r.run("import a")
    r.register("import a")
    r.delete("b.py")
    r.write("c.py", "val = 2\n")
    r.sync()
    r.value("a.b.get()")
    r.write("b.py", b_source + "# restored\n")
    r.sync()
    r.value("a.b.get()")


@scenario
def deleted_module_link_restored_identical(r: Run) -> None:
    b_source = "import c\ndef get(): return c.val\n"
    r.files({"c.py": "val = 1\n", "b.py": b_source, "a.py": "import b\n"})
    r.run("import a")
    r.register("import a")
    r.delete("b.py")
    r.write("c.py", "val = 2\n")
    r.sync()
    r.write("b.py", b_source)
    r.sync()
    r.value("a.b.get()")


@scenario
def deleted_registered_module(r: Run) -> None:
    r.write("m.py", "val = 1\n")
    r.run("from m import val")
    r.register("from m import val")
    r.delete("m.py")
    r.sync()
    r.value("val")
    r.write("m.py", "val = 2\n")
    r.sync()
    r.value("val")


@scenario
def register_with_missing_file(r: Run) -> None:
    r.write("m.py", "val = 1\n")
    r.run("import m")
    r.delete("m.py")
    r.register("import m")
    r.sync()
    r.write("m.py", "val = 2\n")
    r.sync()
    r.value("m.val")


@scenario
def type_checking_block(r: Run) -> None:
    r.files(
        {
            "dep3.py": "v = 1\n",
            "dep4.py": "v = 1\n",
            "m.py": (
                "import typing\nfrom typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    import dep3\n"
                "if typing.TYPE_CHECKING:\n    import dep4\n"
                "val = 1\n"
            ),
        }
    )
    r.run("import dep3, dep4, m")
    r.register("import m")
    r.write("dep3.py", "v = 2\n")
    r.write("dep4.py", "v = 2\n")
    r.sync()


@scenario
def try_if_with_imports(r: Run) -> None:
    r.files(
        {
            "dep1.py": "v = 1\n",
            "dep2.py": "v = 1\n",
            "dep3.py": "v = 1\n",
            "m.py": (
                "import contextlib\n"
                "try:\n    import dep1\nexcept ImportError:\n    dep1 = None\n"
                "if True:\n    import dep2\n"
                "with contextlib.nullcontext():\n    import dep3\n"
                "def get(): return (dep1.v, dep2.v, dep3.v)\n"
            ),
        }
    )
    r.run("import m")
    r.register("import m")
    r.write("dep1.py", "v = 2\n")
    r.sync()
    r.value("m.get()")
    r.write("dep2.py", "v = 2\n")
    r.write("dep3.py", "v = 2\n")
    r.sync()
    r.value("m.get()")


PKG_FILES = {
    "pkg/__init__.py": "from .core import price\n",
    "pkg/core.py": "from . import consts\ndef price(q): return q * consts.RATE\n",
    "pkg/consts.py": "RATE = 2\n",
}


@scenario
def pkg_reexport(r: Run) -> None:
    r.files(PKG_FILES)
    r.run("import pkg\nfrom pkg import price as p")
    r.register("import pkg\nfrom pkg import price as p")
    r.write("pkg/core.py", "from . import consts\ndef price(q): return q * consts.RATE + 1000\n")
    r.sync()
    r.value("(pkg.price(1), p(1))")
    r.write("pkg/consts.py", "RATE = 3\n")
    r.sync()
    r.value("(pkg.price(1), p(1))")


@scenario
def pkg_reexport_core_first(r: Run) -> None:
    r.files(PKG_FILES)
    r.run("import pkg.core\nfrom pkg import price")
    r.register("import pkg.core\nfrom pkg import price")
    r.write("pkg/core.py", "from . import consts\ndef price(q): return q * consts.RATE + 1000\n")
    r.sync()
    r.value("(price(1), pkg.price(1), pkg.core.price(1))")


# ---------------------------------------------------------------------------
# Cycles. Dependencies are listed in source order; where a module has more
# than one dependency that matters, the order equals PYTHONHASHSEED=0 set
# order, or the answer does not depend on it.


def cycle_modules(r: Run, graph: dict) -> None:
    for name, deps in graph.items():
        lines = [f"import {dep}" for dep in deps]
        r.write(f"{name}.py", "\n".join([*lines, f"tag = '{name}1'", ""]))


def edit(r: Run, name: str, version: int) -> None:
    """Change a cycle module's tag, keeping its imports."""
    source = re.sub(r"tag = '.*'", f"tag = '{name}{version}'", r.read(f"{name}.py"))
    r.write(f"{name}.py", source)


# B's imports: PyPI walks them as {G, C, D} under PYTHONHASHSEED=0; only C
# before D matters below, as in source order.
SEVEN = {
    "A": ["C"],
    "B": ["C", "D", "G"],
    "C": ["E", "F"],
    "D": ["F"],
    "E": ["A"],
    "F": [],
    "G": [],
}


@scenario
def cycle_seven_edit_A(r: Run) -> None:
    cycle_modules(r, SEVEN)
    r.run("import A, B, C, D, E, F, G")
    r.register("import A, B, C, D, E, F, G")
    edit(r, "A", 2)
    r.sync()
    r.value("A.tag")


@scenario
def cycle_seven_edit_G(r: Run) -> None:
    cycle_modules(r, SEVEN)
    r.run("import A, B, C, D, E, F, G")
    r.register("import A, B, C, D, E, F, G")
    edit(r, "G", 2)
    r.sync()


@scenario
def cycle_seven_only_B(r: Run) -> None:
    cycle_modules(r, SEVEN)
    r.run("import A, B, C, D, E, F, G")
    r.register("import B")
    edit(r, "A", 2)
    r.sync()
    edit(r, "F", 2)
    r.sync()


@scenario
def cycle_pair_both_registered(r: Run) -> None:
    cycle_modules(r, {"a": ["b"], "b": ["a"]})
    r.run("import a, b")
    r.register("import a, b")
    edit(r, "a", 2)
    r.sync()
    edit(r, "b", 2)
    r.sync()


@scenario
def cycle_pair_registered_b_first(r: Run) -> None:
    cycle_modules(r, {"a": ["b"], "b": ["a"]})
    r.run("import a, b")
    r.register("import b")
    r.register("import a")
    edit(r, "a", 2)
    r.sync()
    edit(r, "b", 2)
    r.sync()


@scenario
def cycle_self_import(r: Run) -> None:
    cycle_modules(r, {"a": ["a", "c"], "c": []})
    r.run("import a")
    r.register("import a")
    edit(r, "c", 2)
    r.sync()
    edit(r, "a", 2)
    r.sync()
    r.value("(a.tag, a.a is a)")


@scenario
def cycle_triangle(r: Run) -> None:
    cycle_modules(r, {"a": ["b"], "b": ["c"], "c": ["a"]})
    r.run("import a")
    r.register("import a")
    edit(r, "c", 2)
    r.sync()
    edit(r, "a", 2)
    r.sync()
    edit(r, "b", 2)
    r.sync()
    edit(r, "a", 3)
    edit(r, "b", 3)
    edit(r, "c", 3)
    r.sync()
    r.value("(a.tag, a.b.tag, a.b.c.tag)")


@scenario
def cycle_triangle_all_registered(r: Run) -> None:
    cycle_modules(r, {"a": ["b"], "b": ["c"], "c": ["a"]})
    r.run("import a, b, c")
    r.register("import a, b, c")
    edit(r, "b", 2)
    edit(r, "c", 2)
    r.sync()
    r.register("import c, b, a", clear=True)
    edit(r, "a", 3)
    r.sync()


@scenario
@hash_ordered
def cycle_two_sharing_node(r: Run) -> None:
    # b's imports [c, a] are in PYTHONHASHSEED=0 set order.
    cycle_modules(r, {"a": ["b"], "b": ["c", "a"], "c": ["b"]})
    r.run("import a")
    r.register("import a")
    edit(r, "c", 2)
    r.sync()
    edit(r, "a", 2)
    r.sync()
    edit(r, "b", 2)
    r.sync()


@scenario
def cycle_with_tail(r: Run) -> None:
    cycle_modules(r, {"x": ["a"], "a": ["b"], "b": ["a", "base"], "base": []})
    r.run("import x")
    r.register("import x")
    edit(r, "base", 2)
    r.sync()
    edit(r, "a", 2)
    r.sync()


@scenario
def cycle_long_five(r: Run) -> None:
    cycle_modules(r, {"m1": ["m2"], "m2": ["m3"], "m3": ["m4"], "m4": ["m5"], "m5": ["m1"]})
    r.run("import m3")
    r.register("import m3")
    edit(r, "m1", 2)
    r.sync()
    edit(r, "m2", 2)
    r.sync()
    edit(r, "m3", 2)
    r.sync()


@scenario
@hash_ordered
def cycle_hub_and_spokes(r: Run) -> None:
    # hub's imports [p, q] are in PYTHONHASHSEED=0 set order.
    cycle_modules(r, {"hub": ["p", "q"], "p": ["hub"], "q": ["hub"]})
    r.run("import hub")
    r.register("import hub")
    edit(r, "q", 2)
    r.sync()
    edit(r, "p", 2)
    edit(r, "q", 3)
    r.sync()
    edit(r, "hub", 2)
    r.sync()


@scenario
def cycle_entered_from_two_roots(r: Run) -> None:
    cycle_modules(r, {"r1": ["a"], "r2": ["b"], "a": ["b"], "b": ["a"]})
    r.run("import r1, r2")
    r.register("import r1, r2")
    edit(r, "b", 2)
    r.sync()
    edit(r, "a", 2)
    r.sync()


# ---------------------------------------------------------------------------
# Reload semantics


@scenario
def reload_in_place(r: Run) -> None:
    source = textwrap.dedent(
        """\
        try:
            cache
        except NameError:
            cache = {}
        try:
            counter += 1
        except NameError:
            counter = 1
        cache[counter] = VERSION
        """
    )
    r.write("m.py", source.replace("VERSION", "'v1'") + "old_only = 'old'\n")
    r.run("import m\nfrom m import cache")
    r.register("import m\nfrom m import cache")
    for version in (2, 3):
        r.write("m.py", source.replace("VERSION", f"'v{version}'"))
        r.sync()
    r.value("(m.counter, m.cache, cache is m.cache)")
    r.value("m.old_only")


@scenario
def removed_name_leftover(r: Run) -> None:
    r.write("m.py", "def f(): return 'f1'\ndef g(): return 'g1'\n")
    r.run("from m import f, g")
    r.register("from m import f, g")
    r.write("m.py", "def f(): return 'f2'\n")
    r.sync()
    r.value("(f(), g(), hasattr(__import__('m'), 'g'))")


@scenario
def rebind_name_deleted_by_hand(r: Run) -> None:
    r.write("m.py", "def f(): return 'f1'\ndef g(): return 'g1'\n")
    r.run("from m import f, g")
    r.register("from m import f, g")
    r.write("m.py", "def f(): return 'f2'\n")
    del sys.modules["m"].g
    events: list = []
    try:
        liveimport.sync(observer=events.append)
        outcome = None
    except RuntimeError as error:
        outcome = {"caught by": "except RuntimeError", **describe_error(error)}
    except Exception as error:
        outcome = {"caught by": "except Exception", **describe_error(error)}
    r.note("sync", {"events": [event_record(e) for e in events], "outcome": outcome})
    r.value("(f(), g(), hasattr(__import__('m'), 'g'))")
    r.sync()
    r.value("(f(), g(), hasattr(__import__('m'), 'g'))")
    r.write("m.py", "def f(): return 'f3'\ndef g(): return 'g3'\n")
    r.sync()
    r.value("(f(), g())")


@scenario
def syntax_error_at_sync(r: Run) -> None:
    r.write("m.py", "x = 1\n")
    r.run("import m")
    r.register("import m")
    r.write("m.py", "x = 2\ndef broken(:\n    pass\n")
    r.sync()
    r.value("m.x")
    r.sync()
    r.write("m.py", "x = 3\n")
    r.sync()
    r.value("m.x")


@scenario
def syntax_error_fixed_to_original(r: Run) -> None:
    r.write("m.py", "x = 1\n")
    r.run("import m")
    r.register("import m")
    r.write("m.py", "x = 1\ndef broken(:\n    pass\n")
    r.sync()
    r.write("m.py", "x = 1\n")
    r.sync()
    r.value("m.x")


@scenario
def syntax_error_in_indirect(r: Run) -> None:
    r.files({"c.py": "val = 1\n", "b.py": "import c\n", "a.py": "import b\n"})
    r.run("import a")
    r.register("import a")
    r.write("c.py", "val = (\n")
    r.sync()
    r.write("c.py", "val = 2\n")
    r.sync()
    r.value("a.b.c.val")


@scenario
def reload_raises(r: Run) -> None:
    r.write("m.py", "x = 1\ny = 1\n")
    r.run("import m\nfrom m import x, y")
    r.register("import m\nfrom m import x, y")
    r.write("m.py", "x = 2\nraise ValueError('boom')\ny = 2\n")
    r.sync()
    r.value("(x, y, m.x, m.y)")
    r.sync()
    r.value("(x, y, m.x, m.y)")
    r.write("m.py", "x = 3\ny = 3\n")
    r.sync()
    r.value("(x, y, m.x, m.y)")


@scenario
def reload_raises_in_chain(r: Run) -> None:
    r.files(
        {
            "c.py": "val = 1\n",
            "b.py": "import c\nval = 1\n",
            "a.py": "import b\nfrom c import val\n",
        }
    )
    r.run("import a\nfrom c import val")
    r.register("import a\nfrom c import val")
    r.write("c.py", "val = 2\n")
    r.write("b.py", "import c\nval = 2\nraise RuntimeError('b is broken')\n")
    r.sync()
    r.value("(val, a.val, a.b.val, a.b.c.val)")
    r.write("b.py", "import c\nval = 3\n")
    r.sync()
    r.value("(val, a.val, a.b.val, a.b.c.val)")


@scenario
def forced_reload(r: Run) -> None:
    """Reload an unchanged module on purpose: PyPI 1.3.1 users touch the file;
    an implementation with ``sync(force=...)`` is asked directly."""
    r.files({"m.py": "x = 1\n", "a.py": "import m\n"})
    r.run("import a")
    r.register("import a")
    if "force" in inspect.signature(liveimport.sync).parameters:
        events = r.sync(force=["m"])
    else:
        r.touch("m.py", mtime=time.time() - 30)
        events = r.sync()
    r.note("str", [re.sub(r"\d+ seconds ago", "N seconds ago", str(e)) for e in events])
    r.sync()


@scenario
def touch_unchanged(r: Run) -> None:
    r.files(
        {
            "m.py": "x = 1\n",
            "c.py": "val = 1\n",
            "b.py": "import c\n",
            "a.py": "import b\n",
        }
    )
    r.run("import m, a")
    r.register("import m, a")
    r.touch("m.py")
    r.sync()
    r.touch("c.py")
    r.sync()
    r.write("m.py", "x = 2\n")
    r.sync()
    r.value("m.x")


# ---------------------------------------------------------------------------
# Registration errors


@scenario
def register_errors(r: Run) -> None:
    r.files({"m.py": "def f(): pass\ndef g(): pass\n", "a/__init__.py": "", "a/b.py": ""})
    r.run("import m, a.b\nfrom m import f")
    for stmts in (
        "import nosuch",
        "import m, nosuch",
        "import m.nosub",
        "from nosuch import f",
        "from m import nothere",
        "from m import f, nothere",
        "from m import g",
        "from m import f as renamed",
        "import m as alias",
    ):
        r.register(stmts)
    r.register("import m", {"__name__": "empty"})
    del sys.modules["a"].b
    r.register("import a.b")
    # None of the failed registrations registered anything.
    r.write("m.py", "def f(): return 2\ndef g(): pass\n")
    r.sync()
    r.value("f()")


@scenario
def register_relative_errors(r: Run) -> None:
    r.files({"pkg/__init__.py": "", "pkg/mod.py": "val = 1\n"})
    r.run("from pkg.mod import val")
    r.register("from .mod import val")
    r.register("from . import mod")
    r.register("from ..mod import val", package="pkg")
    r.register("from ...x import y", package="pkg.mod")
    r.register("from .. import mod", package="pkg")


@scenario
def register_other_statements(r: Run) -> None:
    r.write("m.py", "v = 1\n")
    r.run("import m")
    r.register("import m\nx = 1")
    r.register("print('hi')")
    r.register("def f():\n    import m")
    r.register("if True:\n    import m")
    r.register("x = 1\nimport m\nprint(x)", allow_other_statements=True)
    r.write("m.py", "v = 2\n")
    r.sync()
    r.value("m.v")


@scenario
def register_syntax_error(r: Run) -> None:
    r.write("m.py", "v = 1\n")
    r.run("import m")
    r.register("import")
    r.register("from m import")
    r.register("import m\n  import m")


@scenario
def register_no_spec(r: Run) -> None:
    module = types.ModuleType("nospec")
    module.value = 1
    sys.modules["nospec"] = module
    r.ns["nospec"] = module
    r.ns["value"] = 1
    r.register("import nospec")
    r.register("from nospec import value")


@scenario
def register_analysis_error(r: Run) -> None:
    r.files({"m.py": "v = 1\n", "b.py": "v = 1\n", "a.py": "import b\nv = 1\n"})
    r.run("import m, a")
    r.write("m.py", "v = (\n")
    r.register("import m")
    r.write("b.py", "v = (\n")
    r.register("import a")
    r.write("b.py", "v = 2\n")
    r.sync()
    r.write("a.py", "import b\nv = 2\n")
    r.sync()
    r.value("(a.v, a.b.v)")


# ---------------------------------------------------------------------------
# Workspace


@scenario
def workspace_changes(r: Run) -> None:
    r.files(
        {
            "ws/top.py": "import helper\ndef get(): return helper.val\n",
            "ext/helper.py": "val = 1\n",
        }
    )
    sys.path[:0] = [r.path("ws"), r.path("ext")]
    r.run("import top")
    r.workspace("ws")
    r.register("import top")
    r.write("ext/helper.py", "val = 2\n")
    r.sync()
    r.value("top.get()")
    r.workspace("ext", extend=True)
    r.sync()
    r.value("top.get()")
    r.write("ext/helper.py", "val = 3\n")
    r.sync()
    r.value("top.get()")
    r.workspace()
    r.write("ext/helper.py", "val = 4\n")
    r.sync()
    r.write("ws/top.py", "import helper\ndef get(): return ('top2', helper.val)\n")
    r.sync()
    r.value("top.get()")
    r.workspace(r.path("ext"))
    r.sync()
    r.value("top.get()")


@scenario
def workspace_errors(r: Run) -> None:
    r.files({"top.py": "import helper\n", "sub/helper.py": "val = 1\n"})
    sys.path.insert(0, r.path("sub"))
    r.run("import top")
    r.register("import top")
    r.workspace("nope")
    r.workspace("top.py")
    r.workspace("sub", "nope", extend=True)
    # The failed calls left the default workspace (WORKDIR) in place.
    r.write("sub/helper.py", "val = 2\n")
    r.sync()


# ---------------------------------------------------------------------------
# ReloadEvent


@scenario
@hash_ordered
def reload_event_str(r: Run) -> None:
    now = time.time()
    files = {
        "x.py": "v = 1\n",
        "y.py": "v = 1\n",
        "z.py": "v = 1\n",
        "top.py": "import y\nimport x\nimport z\n",
    }
    for relpath, text in files.items():
        r.write(relpath, text, mtime=now - 1000)
    r.run("import top")
    r.register("import top")
    r.write("x.py", "v = 2\n", mtime=now - 100)
    r.write("y.py", "v = 2\n", mtime=now - 99)
    r.write("z.py", "v = 2\n", mtime=now - 98)
    events = r.sync()
    r.note("str", [re.sub(r"\d+ seconds ago", "N seconds ago", str(e)) for e in events])
    r.note(
        "mtime",
        [e.mtime == os.path.getmtime(r.path(e.module + ".py")) for e in events],
    )
    r.write("x.py", "v = 3\n", mtime=now - 50)
    r.write("z.py", "v = 3\n", mtime=now - 49)
    events = r.sync()
    r.note("str", [re.sub(r"\d+ seconds ago", "N seconds ago", str(e)) for e in events])


@scenario
def reload_event_str_ages(r: Run) -> None:
    ReloadEvent = liveimport.ReloadEvent
    texts = {}
    for age in (0.5, 1.5, 30.5, 150.5, 9000.5, 200000.5, -100):
        texts[str(age)] = str(ReloadEvent("m", "modified", time.time() - age, []))
    for after in (["a"], ["a", "b"], ["a", "b", "c"], ["a", "b", "c", "d"]):
        texts[",".join(after)] = str(ReloadEvent("m", "dependent", 0.0, after))
    r.note("str", texts)
    event = ReloadEvent("m", "dependent", 12.5, ["a"])
    r.note("attributes", [event.module, event.reason, event.mtime, event.after])


# ---------------------------------------------------------------------------


def main(argv: list) -> int:
    global liveimport
    if len(argv) == 2 and argv[1] == "--list":
        print("\n".join(SCENARIOS))
        return 0
    if len(argv) != 3 or argv[1] not in SCENARIOS:
        print(f"usage: {argv[0]} SCENARIO_NAME WORKDIR  (or --list)", file=sys.stderr)
        return 2
    name, workdir = argv[1], os.path.abspath(argv[2])
    os.makedirs(workdir, exist_ok=True)
    os.chdir(workdir)
    sys.path.insert(0, workdir)
    import liveimport as module

    liveimport = module
    run = Run(workdir)
    result: dict = {"scenario": name, "hashseed": os.environ.get("PYTHONHASHSEED")}
    try:
        SCENARIOS[name](run)
    except Exception as error:
        result["crash"] = describe_error(error)
    result["steps"] = run.steps
    text = json.dumps(result, indent=1)
    for path in {workdir, os.path.realpath(workdir)}:
        text = text.replace(path, "<WORKDIR>")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
