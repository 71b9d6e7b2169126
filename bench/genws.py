"""Deterministic generator of benchmark workspaces.

A workspace is N flat modules ``m00000`` … in a layered dependency graph plus an
``app`` module over the top layer. Layer 0 modules import nothing from the
workspace (the leaves of the graph); every module of a higher layer imports a
few modules of lower layers at top level, with the three import forms a
notebook project uses:

* ``from mX import mX_f0, MXC``       (names bound at import time),
* ``import mY as mY_mod``              (a module object),
* ``from mZ import *``                  (``mZ.__all__``: its five own names).

Every module exports five names: ``<m>_f0``, ``<m>_f1``, ``<m>_f2`` (functions),
``<M>C`` (a class) and ``<M>_VER`` (an int). The *version* ``v`` of a module is
written as a literal into ``<m>_f0`` (it returns ``(name, v, x)``), into the
class (``version = v``) and into ``<M>_VER``; an "edit" rewrites the file with
the next version, so a stale binding is recognisable by its version.

Each module body also appends its name to ``sys._bench_loads`` so a harness can
see exactly which module bodies ran during a sync.

The notebook side imports ``import app`` and ``from app import …`` (see
:meth:`Workspace.notebook_imports`); through the workspace directory that
tracks all N modules. Same ``(n, seed)`` ⇒ byte-identical files.

Usable as a script: ``python bench/genws.py N DIR [--seed S]``.
"""

from __future__ import annotations

import argparse
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SEED = 20240601
IMPORTS_PER_MODULE = 4  # from, as, star, from (before coverage edges)
KINDS = ("from", "as", "star", "from")


@dataclass
class ModSpec:
    name: str
    layer: int
    index: int
    # (kind, target) in source order; kind in {"from", "as", "star"}
    imports: list[tuple[str, str]] = field(default_factory=list)

    @property
    def upper(self) -> str:
        return self.name.upper()

    def exports(self) -> list[str]:
        m, u = self.name, self.upper
        return [f"{m}_f0", f"{m}_f1", f"{m}_f2", f"{u}C", f"{u}_VER"]


def exports_of(name: str) -> list[str]:
    u = name.upper()
    return [f"{name}_f0", f"{name}_f1", f"{name}_f2", f"{u}C", f"{u}_VER"]


def from_names(target: str) -> list[str]:
    """The names a ``from target import …`` edge binds."""
    return [f"{target}_f0", f"{target.upper()}C", f"{target.upper()}_VER"]


def layer_count(n: int) -> int:
    return max(2, min(12, math.ceil(3 * math.log10(max(n, 2)))))


class Workspace:
    """The spec of one generated workspace (no files until :meth:`write`)."""

    def __init__(self, n: int, seed: int = DEFAULT_SEED) -> None:
        if n < 2:
            raise ValueError("a workspace needs at least 2 modules")
        self.n = n
        self.seed = seed
        self.width = max(5, len(str(n - 1)))
        rng = random.Random(f"{seed}:{n}")
        nl = min(layer_count(n), n)
        sizes = [n // nl + (1 if i < n % nl else 0) for i in range(nl)]
        self.layers: list[list[ModSpec]] = []
        k = 0
        for li, size in enumerate(sizes):
            row = []
            for j in range(size):
                row.append(ModSpec(f"m{k:0{self.width}d}", li, j))
                k += 1
            self.layers.append(row)
        self.modules: list[ModSpec] = [m for row in self.layers for m in row]
        self.by_name = {m.name: m for m in self.modules}
        # Edges: coverage first (every module of layer k-1 is imported by the module
        # of layer k at the same relative position), then random local extras.
        for li in range(1, nl):
            below, here = self.layers[li - 1], self.layers[li]
            targets: dict[str, list[str]] = {m.name: [] for m in here}
            for j, low in enumerate(below):
                imp = here[min(len(here) - 1, j * len(here) // len(below))]
                targets[imp.name].append(low.name)
            for m in here:
                chosen = targets[m.name]
                tries = 0
                while len(chosen) < IMPORTS_PER_MODULE and tries < 50:
                    tries += 1
                    if li >= 2 and rng.random() < 0.3:
                        row = self.layers[rng.randrange(0, li - 1)]
                    else:
                        row = below
                    centre = m.index * len(row) // len(here)
                    window = max(2, len(row) // 50)
                    pos = min(len(row) - 1, max(0, centre + rng.randint(-window, window)))
                    cand = row[pos].name
                    if cand not in chosen:
                        chosen.append(cand)
                chosen = sorted(set(chosen), key=chosen.index)
                for t_i, target in enumerate(chosen):
                    kind = KINDS[t_i] if t_i < len(KINDS) else "from"
                    m.imports.append((kind, target))
        self.top = self.layers[-1]
        self.leaf: ModSpec | None = None
        # The leaf to edit: a layer-0 module with the most transitive dependents.
        self.leaf = max(self.layers[0], key=lambda m: (len(self.dependents(m.name)), -m.index))
        del self._rdeps_cache  # app's edges change once the leaf is known
        self.top_mod = self.top[len(self.top) // 2]
        self.versions: dict[str, int] = {m.name: 0 for m in self.modules}
        self.versions["app"] = 0

    # ----- graph queries -------------------------------------------------------

    def deps(self, name: str) -> list[str]:
        """Workspace modules that ``name`` imports, in source order."""
        if name == "app":
            out = [m.name for m in self.top]
            if self.leaf is not None and self.leaf.name not in out:
                out.append(self.leaf.name)
            return out
        return [t for _, t in self.by_name[name].imports]

    def _rdeps(self) -> dict[str, list[str]]:
        if not hasattr(self, "_rdeps_cache"):
            r: dict[str, list[str]] = {m.name: [] for m in self.modules}
            r["app"] = []
            for m in [*self.modules, None]:
                src = "app" if m is None else m.name
                for t in self.deps(src):
                    r[t].append(src)
            self._rdeps_cache = r
        return self._rdeps_cache

    def dependents(self, name: str) -> set[str]:
        """Transitive importers of ``name`` (not including it)."""
        r = self._rdeps()
        seen: set[str] = set()
        todo = [name]
        while todo:
            x = todo.pop()
            for d in r.get(x, ()):
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        return seen

    def all_names(self) -> list[str]:
        """Module names in a topological order (dependencies first), app last."""
        return [m.name for m in self.modules] + ["app"]

    def reload_plan(self, edited: str) -> list[str]:
        """The modules a correct tool must reload after editing ``edited``, in order."""
        need = self.dependents(edited) | {edited}
        return [x for x in self.all_names() if x in need]

    # ----- notebook side -------------------------------------------------------

    def notebook_imports(self) -> str:
        leaf, top = self.leaf.name, self.top_mod.name
        return (
            "import app\n"
            f"from app import run, App, APP_VER, {leaf}_f0, {leaf.upper()}_VER, "
            f"{top}_f0, {top.upper()}_VER\n"
        )

    def notebook_bindings(self) -> list[tuple[str, str, str]]:
        """(bound name, source module, source attribute or '' for a module)."""
        leaf, top = self.leaf.name, self.top_mod.name
        out = [("app", "app", ""), ("run", "app", "run"), ("App", "app", "App")]
        out.append(("APP_VER", "app", "APP_VER"))
        for m in (leaf, top):
            out.append((f"{m}_f0", m, f"{m}_f0"))
            out.append((f"{m.upper()}_VER", m, f"{m.upper()}_VER"))
        return out

    def module_bindings(self, name: str) -> list[tuple[str, str, str]]:
        """Bindings module ``name`` makes from workspace modules: (name, module, attr)."""
        out: list[tuple[str, str, str]] = []
        if name == "app":
            for m in self.top:
                out.append((f"{m.name}_mod", m.name, ""))
            for m in (self.leaf.name, self.top_mod.name):
                out.append((f"{m}_f0", m, f"{m}_f0"))
                out.append((f"{m.upper()}_VER", m, f"{m.upper()}_VER"))
            return out
        for kind, t in self.by_name[name].imports:
            if kind == "as":
                out.append((f"{t}_mod", t, ""))
            elif kind == "from":
                out.extend((x, t, x) for x in from_names(t))
            else:
                out.extend((x, t, x) for x in exports_of(t))
        return out

    # ----- sources -------------------------------------------------------------

    def source(self, name: str, version: int | None = None) -> str:
        v = self.versions[name] if version is None else version
        if name == "app":
            return self._app_source(v)
        m = self.by_name[name]
        u = m.upper
        lines = [f'"""Generated module {name} (layer {m.layer})."""', "", "import sys as _sys"]
        first_from = first_as = None
        for kind, t in m.imports:
            if kind == "from":
                lines.append(f"from {t} import {', '.join(from_names(t))}")
                first_from = first_from or t
            elif kind == "as":
                lines.append(f"import {t} as {t}_mod")
                first_as = first_as or t
            else:
                lines.append(f"from {t} import *")
        lines += [
            "",
            '_sys.__dict__.setdefault("_bench_loads", []).append(__name__)',
            "",
            f"__all__ = {m.exports()!r}",
            "",
            f"{u}_VER = {v}",
            "",
            "",
            f"def {name}_f0(x=0):",
            f'    return ("{name}", {v}, x)',
            "",
            "",
            f"def {name}_f1(x=0):",
        ]
        if first_from:
            lines.append(f"    return {first_from}_f0(x)")
        else:
            lines.append(f"    return {name}_f0(x)")
        lines += ["", "", f"def {name}_f2(x=0):"]
        if first_as:
            lines.append(f"    return {first_as}_mod.{first_as.upper()}_VER + x")
        else:
            lines.append(f"    return {u}_VER + x")
        lines += [
            "",
            "",
            f"class {u}C:",
            f"    version = {v}",
            "",
            "    def who(self):",
            f'        return ("{name}", {v})',
            "",
            "    def total(self, x=0):",
            f"        return {name}_f1(x) + ({name}_f2(x),)",
            "",
        ]
        return "\n".join(lines)

    def _app_source(self, v: int) -> str:
        leaf, top = self.leaf.name, self.top_mod.name
        lines = ['"""Generated application module over the top layer."""', "", "import sys as _sys"]
        for m in self.top:
            lines.append(f"import {m.name} as {m.name}_mod")
        lines.append(f"from {leaf} import {leaf}_f0, {leaf.upper()}_VER")
        lines.append(f"from {top} import {top}_f0, {top.upper()}_VER")
        lines += [
            "",
            '_sys.__dict__.setdefault("_bench_loads", []).append(__name__)',
            "",
            f"APP_VER = {v}",
            "_TOP = (",
        ]
        lines += [f"    {m.name}_mod," for m in self.top]
        lines += [
            ")",
            "",
            "",
            "def run(x=0):",
            f'    return ("app", {v}, [getattr(m, m.__name__ + "_f0")(x) for m in _TOP])',
            "",
            "",
            "class App:",
            f"    version = {v}",
            "",
            "    def who(self):",
            f'        return ("app", {v})',
            "",
        ]
        return "\n".join(lines)

    def write(self, directory: str | os.PathLike[str], mtime: float | None = None) -> Path:
        """Write all files into ``directory`` (created); optionally set every mtime."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        for name in self.all_names():
            p = d / f"{name}.py"
            p.write_text(self.source(name), encoding="utf-8")
            if mtime is not None:
                os.utime(p, (mtime, mtime))
        return d

    def edit(self, directory: str | os.PathLike[str], name: str) -> int:
        """Rewrite ``name`` with the next version; bump its mtime by 2 s. Returns the version.

        The explicit mtime step keeps timestamp-based tools (and CPython's
        ``.pyc`` check, which uses whole seconds) from missing an edit that
        happens within the same second as the previous one.
        """
        p = Path(directory) / f"{name}.py"
        old = p.stat().st_mtime_ns
        self.versions[name] += 1
        p.write_text(self.source(name), encoding="utf-8")
        new = old + 2_000_000_000
        os.utime(p, ns=(new, new))
        return self.versions[name]

    def summary(self) -> dict[str, object]:
        return {
            "n": self.n,
            "seed": self.seed,
            "layers": [len(row) for row in self.layers],
            "edges": sum(len(m.imports) for m in self.modules) + len(self.deps("app")),
            "leaf": self.leaf.name,
            "leaf_dependents": len(self.dependents(self.leaf.name)),
            "top": self.top_mod.name,
            "top_dependents": len(self.dependents(self.top_mod.name)),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", type=int)
    ap.add_argument("directory")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = ap.parse_args()
    ws = Workspace(args.n, args.seed)
    ws.write(args.directory)
    print(ws.summary())


if __name__ == "__main__":
    main()
