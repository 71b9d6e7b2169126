"""Soak test: many seeded edit/sync cycles over 100 modules.

Each cycle edits one to three modules at random (seeded): a new version, an
identical rewrite (``touch``: must not reload), a break (syntax error, or an
exception at import) or the fix of a broken module; then syncs, through
``liveimport.sync`` or, every tenth cycle when no module is broken, through
a real IPython cell with auto-sync. A model of what is on disk and what each
module runs predicts the outcome exactly:

* zero missed reloads: after a successful sync every module runs what is on
  disk (its ``VERSION`` constant), and nothing is pending;
* zero spurious reloads: exactly the modified modules and their dependents
  reload (observer events, with reasons, in dependency order), and every other
  module keeps its function objects;
* a sync with a broken module pending fails with a ``ModuleError`` naming a
  broken module and changes nothing;
* resources: open file descriptors and threads do not grow, IPython hooks stay
  single, and resident memory growth after warm-up is reported; at full size
  (``make soak``: 10,000 cycles) its trend must be at most 1 MiB (see the
  end of the test for the allocator's one-time arena step).

``--soak-cycles`` sets the number of cycles (default 300, in both detection
modes).
"""

from __future__ import annotations

import gc
import os
import random
import sys
import threading
import time

import pytest
from IPython.core.interactiveshell import InteractiveShell

import liveimport
import liveimport._ipython as integration

# Long-running: .venv's Python only (see `slow` in pyproject.toml).
pytestmark = pytest.mark.slow

N_MODULES = 100
FULL_SIZE = 10_000
RSS_LIMIT = 1 << 20
ARENA = 1 << 20  # CPython's small-object arena (64-bit, 3.10+)
SEED = 20240607


def trend_growth(samples: list[tuple[int, int]]) -> float:
    """Growth over the sampled span along the least-squares line."""
    n = len(samples)
    if n < 2:
        return 0.0
    mean_x = sum(x for x, _ in samples) / n
    mean_y = sum(y for _, y in samples) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in samples)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in samples)
    return sxy / sxx * (samples[-1][0] - samples[0][0]) if sxx else 0.0


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class Model:
    """What is on disk and what each module runs."""

    def __init__(self, project, rng: random.Random) -> None:
        self.project = project
        self.rng = rng
        self.names = [f"sk{i:03d}" for i in range(N_MODULES)]
        # A sparse DAG: each module imports up to two of the ten before it.
        self.deps: dict[str, list[str]] = {}
        for i, name in enumerate(self.names):
            window = self.names[max(0, i - 10) : i]
            k = min(len(window), rng.choice([0, 1, 1, 2]))
            self.deps[name] = sorted(rng.sample(window, k=k))
        self.users: dict[str, set[str]] = {name: set() for name in self.names}
        for name, deps in self.deps.items():
            for dep in deps:
                self.users[dep].add(name)
        self.version = dict.fromkeys(self.names, 0)  # on disk
        self.state = dict.fromkeys(self.names, "ok")  # on disk: ok, syntax, raise
        self.loaded = dict.fromkeys(self.names, 0)  # what the module runs
        self.counter = 0

    def source(self, name: str) -> str:
        lines = [f"import {dep}" for dep in self.deps[name]]
        lines += [f"VERSION = {self.version[name]}", "", "def f():", "    return VERSION", ""]
        if self.state[name] == "syntax":
            lines += ["def broken(:", "    pass", ""]
        elif self.state[name] == "raise":
            lines += [f"raise RuntimeError('{name} is broken')", ""]
        return "\n".join(lines)

    def write(self, name: str) -> None:
        self.project.write(f"{name}.py", self.source(name), dedent=False)

    def broken(self) -> list[str]:
        return [n for n in self.names if self.state[n] != "ok"]

    def edit(self) -> None:
        for _ in range(self.rng.randint(1, 3)):
            broken = self.broken()
            roll = self.rng.random()
            if broken and roll < 0.4:
                name = self.rng.choice(broken)
                self.state[name] = "ok"
            else:
                name = self.rng.choice(self.names)
                if roll < 0.55:  # an identical rewrite: new mtime, same bytes
                    self.write(name)
                    continue
                if not broken and roll > 0.93:
                    self.state[name] = self.rng.choice(["syntax", "raise"])
            self.counter += 1
            self.version[name] = self.counter
            self.write(name)

    def pending(self) -> set[str]:
        return {n for n in self.names if self.version[n] != self.loaded[n]}

    def closure(self, modified: set[str]) -> set[str]:
        out = set(modified)
        todo = list(modified)
        while todo:
            for user in self.users[todo.pop()]:
                if user not in out:
                    out.add(user)
                    todo.append(user)
        return out


@pytest.fixture
def shell(project):
    InteractiveShell.clear_instance()
    sh = InteractiveShell.instance()
    liveimport.load_ipython_extension(sh)
    liveimport.auto_sync(True, grace=0.0, report=False)
    try:
        yield sh
    finally:
        liveimport.unload_ipython_extension(sh)
        liveimport.auto_sync(True, grace=1.0, report=True)
        InteractiveShell.clear_instance()


def test_soak(project, detection, shell, request, monkeypatch):
    cycles = request.config.getoption("--soak-cycles")
    # pytest's assertion-rewriting import hook is asked for a spec by every
    # reload and caches what it saw: about 1 MiB per 4,000 cycles here, none
    # of it LiveImport's, and no such hook exists in a kernel. Take it out.
    hooks = [f for f in sys.meta_path if type(f).__name__ != "AssertionRewritingHook"]
    monkeypatch.setattr(sys, "meta_path", hooks)
    rng = random.Random(SEED)
    model = Model(project, rng)
    for name in model.names:
        model.write(name)
    project.register("import " + ", ".join(model.names))
    watched = model.names[::10]
    project.register("\n".join(f"from {n} import VERSION as v_{n}" for n in watched))
    assert len(liveimport.tracked()) == N_MODULES
    ns = project.ns
    shell.user_ns.update(ns)
    # The shell's namespace gets the same registrations, for the cell cycles.
    liveimport.register(shell.user_ns, "import " + ", ".join(model.names))

    def ours(event: str) -> int:
        return sum(integration._is_ours(cb) for cb in shell.events.callbacks[event])

    warmup = max(50, cycles // 10)
    started = time.perf_counter()
    baseline = None
    reloads = failures = cell_syncs = 0
    stride = max(1, (cycles - warmup) // 20)
    samples: list[tuple[int, int]] = []  # (cycle, RSS) after warm-up
    for cycle in range(cycles):
        if baseline is not None and (cycle - warmup) % stride == 0:
            gc.collect()
            samples.append((cycle, rss_bytes()))
        before_fns = {n: sys.modules[n].f for n in model.names}
        model.edit()
        pending = model.pending()
        broken_pending = [n for n in pending if model.state[n] != "ok"]
        expected = model.closure(pending)
        # Through a cell when nothing is broken: failures shown in a cell go
        # through IPython's traceback formatting, whose caches (stack_data,
        # executing) grow with every distinct file shown, blurring the RSS
        # figure; cell-level failures are covered by test_faults.py.
        via_cell = cycle % 10 == 9 and not broken_pending
        events: list = []
        error = None
        if via_cell:
            cell_syncs += 1
            # A user cell (it has an id); not stored in IPython's history,
            # which would otherwise grow by design and blur the RSS figure.
            result = shell.run_cell("cell_ran = True", store_history=False, cell_id=f"c{cycle}")
            assert result.success and shell.user_ns["cell_ran"] is True
        else:
            try:
                liveimport.sync(observer=events.append)
            except liveimport.ModuleError as exc:
                error = exc

        if broken_pending:
            # Nothing reloaded; the error names a broken module.
            failures += 1
            if not via_cell:
                assert error is not None, f"cycle {cycle}: broken {broken_pending} did not fail"
                assert error.module in broken_pending, (cycle, error.module, broken_pending)
                assert events == []
            for name in model.names:
                assert sys.modules[name].f is before_fns[name], (cycle, name, "reloaded")
                assert sys.modules[name].VERSION == model.loaded[name], (cycle, name)
            continue

        assert error is None, f"cycle {cycle}: {error}"
        if not via_cell:
            got = [e.module for e in events]
            assert len(got) == len(set(got)), f"cycle {cycle}: a module reloaded twice"
            assert set(got) == expected, (cycle, sorted(set(got) ^ expected))
            position = {name: i for i, name in enumerate(got)}
            for e in events:
                assert e.reason == ("modified" if e.module in pending else "dependent"), e
                for dep in model.deps[e.module]:
                    if dep in position:
                        assert position[dep] < position[e.module], (cycle, dep, e.module)
        for name in model.names:
            module = sys.modules[name]
            reloaded = module.f is not before_fns[name]
            what = "spurious" if reloaded else "missed"
            assert reloaded == (name in expected), (cycle, name, what)
            assert module.VERSION == model.version[name], (cycle, name)
        for name in watched:
            assert ns[f"v_{name}"] == model.version[name]
        reloads += len(expected)
        model.loaded.update({n: model.version[n] for n in pending})
        if cycle % 50 == 0:
            assert not [n for n, t in liveimport.tracked().items() if t.pending], cycle

        if cycle + 1 == warmup:
            gc.collect()
            baseline = (rss_bytes(), open_fds(), threading.active_count())
    # Final state: fix everything, one last sync, nothing pending.
    for name in model.broken():
        model.state[name] = "ok"
        model.counter += 1
        model.version[name] = model.counter
        model.write(name)
    liveimport.sync()
    assert all(sys.modules[n].VERSION == model.version[n] for n in model.names)
    assert not [n for n, t in liveimport.tracked().items() if t.pending]
    assert liveimport.sync() is None and project.sync() == []
    elapsed = time.perf_counter() - started

    gc.collect()
    assert baseline is not None
    samples.append((cycles, rss_bytes()))
    rss_growth = samples[-1][1] - baseline[0]
    trend = trend_growth(samples)
    assert open_fds() <= baseline[1], "file descriptors leaked"
    assert threading.active_count() <= baseline[2], "threads leaked"
    assert ours("pre_run_cell") == 1 and ours("post_run_cell") == 1
    summary = (
        f"soak[{detection}]: {cycles} cycles in {elapsed:.1f} s, {reloads} reloads, "
        f"{failures} failed syncs, {cell_syncs} via cells; RSS growth after warm-up "
        f"{rss_growth / 1024:.0f} KiB (trend {trend / 1024:.0f} KiB)"
    )
    request.node.user_properties.append(("soak", summary))
    print("\n" + summary)
    if cycles >= FULL_SIZE:
        # A leak grows with the cycles: the least-squares trend over the
        # samples must stay within 1 MiB. The raw growth may also hold one
        # step from the allocator (CPython's small-object allocator maps 1 MiB
        # arenas and keeps one while any object in it lives; measured here:
        # +0.9 MiB once, flat before and after, with a flat count of Python
        # blocks and malloc_trim releasing nothing), hence one arena more.
        assert trend <= RSS_LIMIT, summary
        assert rss_growth <= RSS_LIMIT + ARENA, summary
