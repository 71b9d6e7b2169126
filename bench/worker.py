"""One benchmark measurement, in a fresh process, for one tool and one size.

Run by ``bench/run.py`` with the interpreter of the environment that holds the
tool (our build's ``.venv``, or the anchor venv with PyPI ``liveimport`` and
IPython). Prints one line ``BENCH-JSON {...}`` on stdout (and writes the same
object to ``--out`` when given). Standard library + IPython only.

Tools (``--tool``):

* ``liveimport``       whatever ``import liveimport`` gives in this interpreter
                       (ours in ``.venv``, PyPI 1.3.1 in the anchor venv);
* ``autoreload``       IPython ``%autoreload 2``;
* ``autoreload-full``  IPython ``%autoreload 2 --full``;
* ``none``             no tool (the control: A/B noise floor, what "no reload" looks like).

Phases (``--phase``):

* ``time``: register/setup time, idle overhead per cell (interleaved A/B),
  sync after a leaf edit and a top edit against the ``importlib.reload`` floor,
  correctness after every edit, and RSS added by the tool;
* ``memory``: tracemalloc-traced bytes added by the tool (a separate process,
  since tracing slows everything it watches).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.dont_write_bytecode = False
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import genws  # noqa: E402

CELL = "pass"


def now() -> float:
    return time.perf_counter()


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: peak RSS is the best we have
        import resource

        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


# --------------------------------------------------------------------------- shell


def make_shell():
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    cfg = Config()
    cfg.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=cfg)
    return shell


class Hooks:
    """Every per-cell extension point of an IPython shell, to swap a tool in and out.

    The A/B idle measurement toggles a tool by swapping the shell's event
    callbacks and input/AST transformers between the set recorded before the
    tool was installed and the set recorded after: the same mechanism for every
    tool, and it switches off *everything* the tool does per cell (pre- and
    post-cell hooks, input transformers), not only the part behind its own
    on/off switch.
    """

    def __init__(self, shell) -> None:
        self.shell = shell
        self.events = {k: list(v) for k, v in shell.events.callbacks.items()}
        self.cleanup = list(shell.input_transformers_cleanup)
        self.post = list(shell.input_transformers_post)
        self.ast = list(shell.ast_transformers)

    def apply(self) -> None:
        sh = self.shell
        for k, v in self.events.items():
            sh.events.callbacks[k][:] = v
        sh.input_transformers_cleanup[:] = self.cleanup
        sh.input_transformers_post[:] = self.post
        sh.ast_transformers[:] = self.ast

    def differs_from(self, other: Hooks) -> list[str]:
        out = [k for k in self.events if self.events[k] != other.events.get(k)]
        if self.cleanup != other.cleanup:
            out.append("input_transformers_cleanup")
        if self.post != other.post:
            out.append("input_transformers_post")
        if self.ast != other.ast:
            out.append("ast_transformers")
        return out


# --------------------------------------------------------------------------- tools


class Tool:
    name = "none"

    def __init__(self, shell, ws: genws.Workspace, wsdir: Path) -> None:
        self.shell = shell
        self.ws = ws
        self.wsdir = wsdir
        self.info: dict[str, object] = {}

    def install(self) -> None:
        """Import / load the tool (what a notebook's first cell does)."""

    def register(self) -> float | None:
        """Register the notebook's imports; return the time it took (None: n/a)."""
        return None

    def setup(self) -> float | None:
        self.install()
        return self.register()

    def register_again(self) -> float | None:
        """Forget all registrations and register again; return the time (None: n/a)."""
        return None

    def sync(self) -> None:
        pass


class LiveImportTool(Tool):
    name = "liveimport"

    def install(self) -> None:
        t0 = now()
        import liveimport

        self.info["import_s"] = now() - t0
        self.li = liveimport
        self.info["liveimport_version"] = getattr(liveimport, "__version__", "?")
        self.info["liveimport_file"] = getattr(liveimport, "__file__", "?")

    def register(self) -> float | None:
        liveimport = self.li
        liveimport.workspace(str(self.wsdir))
        liveimport.auto_sync(grace=0, report=False)
        t0 = now()
        liveimport.register(self.shell.user_ns, self.ws.notebook_imports())
        return now() - t0

    def _reset(self) -> None:
        li = self.li
        if hasattr(li, "reset"):
            li.reset()
        else:  # PyPI 1.3 has no public reset()
            li._clear_all_state()

    def register_again(self) -> float | None:
        self._reset()
        gc.collect()
        t0 = now()
        self.li.register(self.shell.user_ns, self.ws.notebook_imports())
        return now() - t0

    def sync(self) -> None:
        self.li.sync()


class AutoreloadTool(Tool):
    name = "autoreload"
    mode = "2"

    def install(self) -> None:
        # Loading the extension already records the mtime of every loaded module.
        t0 = now()
        self.shell.run_line_magic("load_ext", "autoreload")
        self.load_s = now() - t0

    def register(self) -> float | None:
        sh = self.shell
        t0 = now()
        sh.run_line_magic("autoreload", self.mode)
        took = now() - t0 + self.load_s
        self.magics = sh.magics_manager.registry["AutoreloadMagics"]
        self.reloader = self.magics._reloader
        import IPython

        self.info["ipython_version"] = IPython.__version__
        dedup = getattr(self.reloader, "deduper_reloader", None)
        self.info["deduper_enabled"] = None if dedup is None else bool(dedup.enabled)
        return took

    def sync(self) -> None:
        # What its pre_run_cell hook does before every cell.
        self.reloader.check()


class AutoreloadFullTool(AutoreloadTool):
    name = "autoreload-full"
    mode = "2 --full"


def full_supported() -> bool:
    """Whether this IPython's ``%autoreload`` accepts ``--full``."""
    from IPython.extensions import autoreload

    magic = autoreload.AutoreloadMagics.autoreload
    parser = getattr(magic, "parser", None)
    if parser is not None:
        return any("--full" in a.option_strings for a in parser._actions)
    import inspect

    return "--full" in inspect.getsource(autoreload)


def build_id(pkg: object) -> str:
    """Which build of a package: its directory, and a hash of its compiled extension."""
    import hashlib

    d = Path(getattr(pkg, "__file__", "") or ".").parent
    exts = sorted(d.glob("*.so")) + sorted(d.glob("*.pyd"))
    if not exts:
        return f"{d} (pure Python)"
    h = hashlib.sha256(exts[0].read_bytes()).hexdigest()[:12]
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(exts[0].stat().st_mtime))
    return f"{exts[0].name} sha256:{h} built {when} UTC"


TOOLS = {
    "none": Tool,
    "liveimport": LiveImportTool,
    "autoreload": AutoreloadTool,
    "autoreload-full": AutoreloadFullTool,
}


# --------------------------------------------------------------------------- checks


def version_of(obj: object, attr: str) -> object:
    """The version a bound object carries (see genws), or None if it carries none."""
    if attr.endswith("_f0") or attr == "run":
        return obj(0)[1]
    if attr.endswith("C") or attr == "App":
        v = obj.version
        w = obj().who()[1]
        return v if v == w else ("mixed", v, w)
    if attr.endswith("_VER"):
        return obj
    return None


def check_state(ws: genws.Workspace, ns: dict, edited: str) -> dict[str, object]:
    """Stale bindings against the versions on disk (what a fresh import would give).

    * ``stale``: bindings (in the namespace and in every workspace module) of
      names from the edited module whose object behaves like an older version
      than the file on disk, plus 1 if the edited module's own body is older
      than its file;
    * ``stale_total``: the same over every module (includes staleness left over
      from earlier edits that the tool never repaired);
    * ``identity``: bindings that are not the very object a fresh execution of the
      import statement would bind (tools that patch old objects in place can be
      behaviourally current yet not identical).
    """
    mods = sys.modules
    stale = total = identity = own = 0
    examples: list[str] = []

    def bad(holder: str, src: str, why: str) -> None:
        nonlocal stale, total
        total += 1
        if src == edited:
            stale += 1
            if len(examples) < 5:
                examples.append(f"{holder}.{why}")

    def one(holder: str, d: dict, name: str, src: str, attr: str) -> None:
        nonlocal identity
        smod = mods.get(src)
        if name not in d or smod is None:
            bad(holder, src, f"{name} missing")
            return
        obj = d[name]
        if attr == "":
            if obj is not smod:
                identity += 1
                bad(holder, src, f"{name} is not sys.modules[{src!r}]")
            return
        if obj is not smod.__dict__.get(attr):
            identity += src == edited
        want = ws.versions[src]
        got = version_of(obj, attr)
        if got is not None and got != want:
            bad(holder, src, f"{name} is v{got}, file is v{want}")

    for name, src, attr in ws.notebook_bindings():
        one("<namespace>", ns, name, src, attr)
    for holder in ws.all_names():
        m = mods.get(holder)
        if m is None:
            bad(holder, holder, "not loaded")
            continue
        d = m.__dict__
        want = ws.versions[holder]
        own_attr = "APP_VER" if holder == "app" else f"{holder.upper()}_VER"
        if d.get(own_attr) != want:
            own += holder == edited
            bad(holder, holder, f" body is v{d.get(own_attr)}, file is v{want}")
        for name, src, attr in ws.module_bindings(holder):
            one(holder, d, name, src, attr)
    return {
        "stale": stale,
        "stale_total": total,
        "identity": identity,
        "own_stale": own,
        "examples": examples,
    }


def reload_accounting(ws: genws.Workspace, edited: str, loads: list[str]) -> dict[str, object]:
    plan = ws.reload_plan(edited)
    need = set(plan)
    got = set(loads)
    pos = {m: i for i, m in enumerate(loads)}
    order = 0
    for m in loads:
        for d in ws.deps(m):
            if d in pos and pos[d] > pos[m]:
                order += 1
    return {
        "needed": len(need),
        "reloaded": len(loads),
        "unnecessary": len(got - need),
        "missed": len(need - got),
        "repeated": len(loads) - len(got),
        "order_violations": order,
    }


# --------------------------------------------------------------------------- phases


def idle_ab(shell, on: Hooks, off: Hooks, blocks: int, target_s: float,
            budget_s: float) -> dict[str, object]:
    """Idle overhead per cell: cells with the tool's hooks minus cells without.

    Many short interleaved blocks (on/off, then off/on, ...) so that load from
    other processes hits both sides alike; the headline is the median of the
    per-block differences, with the difference of the per-side minima alongside
    (noise from a busy machine only ever adds time).
    """
    run = shell.run_cell
    on.apply()
    for _ in range(3):
        run(CELL)
    t0 = now()
    k = 0
    while now() - t0 < 0.02 or k < 3:
        run(CELL)
        k += 1
    per = (now() - t0) / k
    cells = int(min(1000, max(3, target_s / per)))
    gc.collect()
    gc.freeze()  # keep collections of the (large) workspace heap out of the blocks
    diffs, ons, offs = [], [], []
    t_end = now() + budget_s
    for b in range(blocks):
        if b >= 5 and now() > t_end:
            break
        order = (on, off) if b % 2 == 0 else (off, on)
        res = {}
        for h in order:
            h.apply()
            run(CELL)  # settle: the first cell after a swap is not timed
            t = time.perf_counter_ns()
            for _ in range(cells):
                run(CELL)
            res[id(h)] = (time.perf_counter_ns() - t) / cells
        ons.append(res[id(on)])
        offs.append(res[id(off)])
        diffs.append(res[id(on)] - res[id(off)])
    on.apply()
    gc.unfreeze()
    return {
        "overhead_ns": median(diffs),
        "overhead_ns_min": min(ons) - min(offs),
        "overhead_ns_blocks": diffs,
        "cell_ns_with": median(ons),
        "cell_ns_without": median(offs),
        "cells_per_block": cells,
        "blocks": len(diffs),
    }


def hook_cost(shell, on: Hooks, off: Hooks, blocks: int, target_s: float,
              budget_s: float) -> dict[str, object]:
    """Direct cost of the per-cell callables the tool added, called without a cell.

    Far less noisy than the A/B difference of whole cells, but it misses costs
    outside the callables (e.g. extra work a tool causes inside IPython).
    """
    captured: dict[str, object] = {}
    on.apply()

    def grab_pre(info: object) -> None:
        captured["info"] = info

    def grab_post(result: object) -> None:
        captured["result"] = result

    shell.events.register("pre_run_cell", grab_pre)
    shell.events.register("post_run_cell", grab_post)
    shell.run_cell(CELL)
    shell.events.unregister("pre_run_cell", grab_pre)
    shell.events.unregister("post_run_cell", grab_post)
    args = {"pre_run_cell": (captured.get("info"),), "post_run_cell": (captured.get("result"),),
            "pre_execute": (), "post_execute": ()}
    calls = []
    for ev, cbs in on.events.items():
        if ev not in args:
            continue
        for cb in cbs:
            if cb not in off.events.get(ev, []):
                calls.append((cb, args[ev]))
    lines = [CELL + "\n"]
    transforms = [t for t in on.cleanup if t not in off.cleanup]
    transforms += [t for t in on.post if t not in off.post]

    def once() -> None:
        for cb, a in calls:
            cb(*a)
        for t in transforms:
            t(lines)

    if not calls and not transforms:
        return {"hook_ns": 0.0, "hook_ns_min": 0.0, "callables": 0, "transformers": 0}
    t0 = now()
    k = 0
    while now() - t0 < 0.01 or k < 3:
        once()
        k += 1
    reps = int(min(100000, max(3, target_s / ((now() - t0) / k))))
    per = []
    t_end = now() + budget_s
    for b in range(blocks):
        if b >= 5 and now() > t_end:
            break
        t = time.perf_counter_ns()
        for _ in range(reps):
            once()
        per.append((time.perf_counter_ns() - t) / reps)
    return {"hook_ns": median(per), "hook_ns_min": min(per), "callables": len(calls),
            "transformers": len(transforms), "calls_per_block": reps, "blocks": len(per)}


def hook_in_cells(shell, on: Hooks, off: Hooks, cells: int, budget_s: float) -> dict[str, object]:
    """Time the tool's own per-cell callables inside real cells.

    Each callable the tool added (event callbacks, input transformers) is
    wrapped with a clock; real ``run_cell("pass")`` cells run, and the time
    spent inside the tool's callables is summed per cell. Far less noisy than
    the A/B difference (only the tool's own code is on the clock), and unlike
    a tight loop of direct calls it sees the caches a real cell leaves behind.
    """
    acc = [0]
    clock = time.perf_counter_ns

    def wrap(fn):
        def timed(*a, **k):
            t = clock()
            try:
                return fn(*a, **k)
            finally:
                acc[0] += clock() - t

        return timed

    sh = shell
    saved = Hooks(sh)
    on.apply()
    for ev, cbs in sh.events.callbacks.items():
        base = off.events.get(ev, [])
        cbs[:] = [wrap(cb) if cb not in base else cb for cb in cbs]
    for lst, base in ((sh.input_transformers_cleanup, off.cleanup),
                      (sh.input_transformers_post, off.post)):
        lst[:] = [wrap(t) if t not in base else t for t in lst]
    per = []
    t_end = now() + budget_s
    try:
        for i in range(cells):
            if i >= 50 and now() > t_end:
                break
            acc[0] = 0
            sh.run_cell(CELL)
            per.append(acc[0])
    finally:
        saved.apply()
    per = per[len(per) // 10:]  # drop the first tenth (warm-up)
    return {"hook_cell_ns": median(per), "hook_cell_ns_p10": sorted(per)[len(per) // 10]
            if per else None, "cells": len(per)}


def reload_floor(plan: list[str]) -> float:
    mods = sys.modules
    t0 = now()
    for name in plan:
        importlib.reload(mods[name])
    return now() - t0


def sync_phase(tool: Tool, ws: genws.Workspace, wsdir: Path, ns: dict, reps: int,
               deadline: float) -> dict[str, object]:
    """Sync after leaf and top edits, then the floor for the same plans.

    All of the tool's syncs come first and the floor reloads after them: a
    reload done behind a tool's back would break tools that patch the objects
    they saw at their previous reload (autoreload), and make them look staler
    than they are in real use.
    """
    out: dict[str, object] = {}
    loads = sys.__dict__.setdefault("_bench_loads", [])
    targets = (("leaf", ws.leaf.name), ("top", ws.top_mod.name))
    for which, target in targets:
        tool_s, checks, accts = [], [], []
        for r in range(reps):
            if r > 0 and now() > deadline:
                break
            ws.edit(wsdir, target)
            gc.collect()
            del loads[:]
            t0 = now()
            err = None
            try:
                tool.sync()
            except Exception as e:  # a tool failure is a result, not a crash
                err = f"{type(e).__name__}: {e}"
            tool_s.append(now() - t0)
            acct = reload_accounting(ws, target, list(loads))
            chk = check_state(ws, ns, target)
            if err:
                chk["error"] = err
            checks.append(chk)
            accts.append(acct)
        out[which] = {
            "module": target,
            "tool_s": tool_s,
            "tool_median_s": median(tool_s),
            "stale_max": max((c["stale"] for c in checks), default=None),
            "stale_total_max": max((c["stale_total"] for c in checks), default=None),
            "identity_max": max((c["identity"] for c in checks), default=None),
            "own_stale_max": max((c["own_stale"] for c in checks), default=None),
            "unnecessary_max": max((a["unnecessary"] for a in accts), default=None),
            "missed_max": max((a["missed"] for a in accts), default=None),
            "order_violations_max": max((a["order_violations"] for a in accts), default=None),
            "checks": checks,
            "reloads": accts,
            "reps": len(tool_s),
        }
    floors: dict[str, list[float]] = {which: [] for which, _ in targets}
    for _ in range(max(len(out[w]["tool_s"]) for w, _ in targets)):
        for which, target in targets:
            if len(floors[which]) < len(out[which]["tool_s"]):
                ws.edit(wsdir, target)
                gc.collect()
                floors[which].append(reload_floor(ws.reload_plan(target)))
    for which, target in targets:
        o = out[which]
        o["plan_len"] = len(ws.reload_plan(target))
        o["floor_s"] = floors[which]
        o["floor_median_s"] = median(floors[which])
        f = o["floor_median_s"]
        o["ratio_median"] = o["tool_median_s"] / f if f else None
    return out


def smaps_kib() -> dict[str, int]:
    """Resident KiB by kind of mapping: LiveImport's extension module, the
    main heap, other anonymous memory (thread arenas, large allocations),
    everything else."""
    out = {"extension": 0, "heap": 0, "anon": 0, "other": 0}
    kind = "other"
    try:
        with open("/proc/self/smaps") as f:
            for line in f:
                first = line.split(maxsplit=6)
                if len(first) >= 5 and "-" in first[0] and ":" not in first[0]:
                    path = first[5].strip() if len(first) >= 6 else ""
                    if "_engine" in path and ("liveimport" in path) and path.endswith(".so"):
                        kind = "extension"
                    elif path == "[heap]":
                        kind = "heap"
                    elif path == "":
                        kind = "anon"
                    else:
                        kind = "other"
                elif line.startswith("Rss:"):
                    out[kind] += int(line.split()[1])
    except OSError:
        pass
    return out


def register_phase(tool: Tool, result: dict[str, object]) -> None:
    """The first register() in a new process, on the master workspace itself
    (same paths every run, so a persistent cache, if the tool has one, is
    used when present), with the RSS each step adds."""
    gc.collect()
    rss0, maps0 = rss_bytes(), smaps_kib()
    t0 = now()
    tool.install()
    install_s = now() - t0
    gc.collect()
    rss1, maps1 = rss_bytes(), smaps_kib()
    register_s = tool.register()
    gc.collect()
    rss2, maps2 = rss_bytes(), smaps_kib()
    result["register"] = {
        "install_s": install_s,
        "register_s": register_s,
        "rss_install_bytes": rss1 - rss0,
        "rss_register_bytes": rss2 - rss1,
        "smaps_install_kib": {k: maps1[k] - maps0[k] for k in maps0},
        "smaps_register_kib": {k: maps2[k] - maps1[k] for k in maps0},
    }
    li = getattr(tool, "li", None)
    engine = getattr(getattr(li, "_api", None), "_state", None)
    counts = getattr(getattr(engine, "engine", None), "read_counts", None)
    if counts is not None:
        c = counts()
        result["register"]["read_counts"] = {
            k: getattr(c, k) for k in ("parsed", "scanned", "cached", "unread", "cache_writes")
        }
    result["ok"] = True


def prepare_workspace(master: Path | None, n: int, seed: int, copy: bool) -> tuple[Path, Path]:
    """Return (workspace dir, temp root to delete)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"liveimport-bench-{n}-"))
    wsdir = tmp / "ws"
    if master is not None and master.is_dir() and copy:
        shutil.copytree(master, wsdir)
    elif master is not None and master.is_dir():
        wsdir = master
    else:
        genws.Workspace(n, seed).write(wsdir)
    return wsdir, tmp


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", choices=sorted(TOOLS), required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--seed", type=int, default=genws.DEFAULT_SEED)
    ap.add_argument("--master", type=Path, help="pre-generated workspace to copy")
    ap.add_argument("--phase", choices=("time", "memory", "register", "probe"), default="time")
    ap.add_argument("--blocks", type=int, default=9)
    ap.add_argument("--block-seconds", type=float, default=0.05)
    ap.add_argument("--register-reps", type=int, default=5)
    ap.add_argument("--sync-reps", type=int, default=5)
    ap.add_argument("--budget", type=float, default=300.0, help="soft time budget, seconds")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    t_start = now()
    deadline = t_start + args.budget
    result: dict[str, object] = {
        "tool": args.tool,
        "n": args.n,
        "phase": args.phase,
        "python": platform.python_version(),
        "executable": sys.executable,
        "ok": False,
    }
    tmp = None
    try:
        if args.phase == "probe":
            import IPython

            result["ipython_version"] = IPython.__version__
            result["autoreload_full"] = full_supported()
            try:
                import liveimport  # noqa: F401  (outside IPython: installs nothing)

                result["liveimport_version"] = getattr(liveimport, "__version__", "?")
                result["liveimport_build"] = build_id(liveimport)
            except Exception as e:
                result["liveimport_version"] = None
                result["liveimport_error"] = f"{type(e).__name__}: {e}"
            result["ok"] = True
            return
        ws = genws.Workspace(args.n, args.seed)
        result["workspace"] = ws.summary()
        wsdir, tmp = prepare_workspace(args.master, args.n, args.seed, args.phase == "time")
        wsdir = wsdir.resolve()
        os.chdir(wsdir)
        sys.path.insert(0, str(wsdir))
        shell = make_shell()
        import IPython

        result["ipython_version"] = IPython.__version__
        ns = shell.user_ns
        t0 = now()
        r = shell.run_cell(ws.notebook_imports())
        r.raise_error()
        result["import_workspace_s"] = now() - t0
        for _ in range(3):
            shell.run_cell(CELL)
        off = Hooks(shell)
        tool = TOOLS[args.tool](shell, ws, wsdir)
        gc.collect()
        if args.phase == "register":
            register_phase(tool, result)
            return
        if args.phase == "memory":
            import tracemalloc

            rss0 = rss_bytes()
            tracemalloc.start()
            tm0 = tracemalloc.get_traced_memory()[0]
            tool.install()
            gc.collect()
            tm1 = tracemalloc.get_traced_memory()[0]
            rss1 = rss_bytes() - tracemalloc.get_tracemalloc_memory()
            tool.register()
            shell.run_cell(CELL)
            gc.collect()
            tm2 = tracemalloc.get_traced_memory()[0]
            rss2 = rss_bytes() - tracemalloc.get_tracemalloc_memory()
            tracemalloc.stop()
            result["memory"] = {
                "tracemalloc_bytes": tm2 - tm0,
                "tracemalloc_install_bytes": tm1 - tm0,
                "tracemalloc_register_bytes": tm2 - tm1,
                "rss_bytes_minus_tracing": rss2 - rss0,
                "rss_install_bytes_minus_tracing": rss1 - rss0,
            }
            result["tool_info"] = tool.info
            result["ok"] = True
            return
        rss0 = rss_bytes()
        tool.install()
        gc.collect()
        rss1 = rss_bytes()
        reg_first = tool.register()
        shell.run_cell(CELL)
        gc.collect()
        result["rss_added_bytes"] = rss_bytes() - rss0
        result["rss_register_bytes"] = rss_bytes() - rss1
        result["tool_info"] = tool.info
        regs = []
        if reg_first is not None:
            for _ in range(args.register_reps):
                if now() > deadline - 0.5 * args.budget:
                    break
                t = tool.register_again()
                if t is None:
                    break
                regs.append(t)
        result["register"] = {
            "first_s": reg_first,
            "repeat_s": regs,
            "median_s": median([reg_first, *regs]) if reg_first is not None else None,
            "what": {
                "liveimport": "register(ns, 'import app / from app import ...')",
                "autoreload": "%load_ext autoreload + %autoreload 2 (first check of all modules)",
                "autoreload-full": "%load_ext autoreload + %autoreload 2 --full",
                "none": "n/a",
            }[args.tool],
        }
        on = Hooks(shell)  # after the repeats, in case register() reinstalls anything
        result["hooks_swapped"] = on.differs_from(off)
        result["idle"] = idle_ab(shell, on, off, args.blocks, args.block_seconds,
                                 0.25 * args.budget)
        result["hooks"] = hook_cost(shell, on, off, args.blocks, args.block_seconds,
                                    0.05 * args.budget)
        result["hooks"].update(hook_in_cells(shell, on, off, 10 * args.blocks,
                                             0.05 * args.budget))
        # Sanity: with the hooks on, a cell after an edit really reloads (so the idle
        # figure above is the cost of a hook that checks, not of one that sleeps).
        loads = sys.__dict__.setdefault("_bench_loads", [])
        del loads[:]
        ws.edit(wsdir, ws.top_mod.name)
        shell.run_cell(CELL)
        result["cell_hook_reloads"] = ws.top_mod.name in loads or (
            getattr(sys.modules[ws.top_mod.name], f"{ws.top_mod.upper}_VER", None)
            == ws.versions[ws.top_mod.name])
        result["sync"] = sync_phase(tool, ws, wsdir, ns, args.sync_reps, deadline)
        result["ok"] = True
    except BaseException as e:  # report, never hang the runner
        result["error"] = f"{type(e).__name__}: {e}"
        result["traceback"] = traceback.format_exc()
    finally:
        result["elapsed_s"] = now() - t_start
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        text = json.dumps(result)
        if args.out:
            args.out.write_text(text)
        sys.stdout.write("\nBENCH-JSON " + text + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
