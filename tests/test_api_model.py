"""Randomised (seeded, deterministic) edit/sync rounds on a module DAG, checked
against a model of SEMANTICS.md: exactly the edited modules and everything
that depends on them reload, every module after its dependencies (as the
files say now), and afterwards every module runs its current source."""

from __future__ import annotations

import random
import sys

import pytest

import liveimport

N = 10
LOG = "import sys\nsys._liveimport_test_log.append(__name__)\n"


def source(name: str, deps: list[str], version: int) -> str:
    imports = "".join(f"import {d}\n" for d in deps)
    parts = " + ',' + ".join(f"{d}.V" for d in deps) or "''"
    return f"{LOG}{imports}V = '{name}.{version}(' + {parts} + ')'\n"


def expected_value(name: str, deps: dict[str, list[str]], versions: dict[str, int]) -> str:
    inner = ",".join(expected_value(d, deps, versions) for d in deps[name])
    return f"{name}.{versions[name]}({inner})"


def dependents_closure(changed: set[str], deps: dict[str, list[str]]) -> set[str]:
    out = set(changed)
    grew = True
    while grew:
        grew = False
        for name, ds in deps.items():
            if name not in out and any(d in out for d in ds):
                out.add(name)
                grew = True
    return out


@pytest.fixture
def log():
    sys._liveimport_test_log = []  # type: ignore[attr-defined]
    try:
        yield sys._liveimport_test_log  # type: ignore[attr-defined]
    finally:
        del sys._liveimport_test_log  # type: ignore[attr-defined]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_edit_rounds_follow_the_model(project, log, detection, seed):
    rng = random.Random(seed)
    names = [f"m{i}" for i in range(N)]
    deps: dict[str, list[str]] = {}
    versions: dict[str, int] = {}
    for i, name in enumerate(names):
        deps[name] = sorted(rng.sample(names[:i], k=min(i, rng.randint(0, 3))))
        versions[name] = 0
    deps["main"] = list(names)
    versions["main"] = 0
    for name in [*names, "main"]:
        project.write(f"{name}.py", source(name, deps[name], 0))
    project.register("from main import V")
    assert set(liveimport.tracked()) == {*names, "main"}

    for _round in range(12):
        edited: set[str] = set()
        for name in rng.sample(names, k=rng.randint(1, 3)):
            i = names.index(name)
            versions[name] += 1
            if rng.random() < 0.4:  # also change what it imports (still a DAG)
                deps[name] = sorted(rng.sample(names[:i], k=min(i, rng.randint(0, 3))))
            project.write(f"{name}.py", source(name, deps[name], versions[name]))
            edited.add(name)
        log.clear()
        events = project.sync()

        reloaded = [e.module for e in events]
        assert set(reloaded) == dependents_closure(edited, deps)
        assert len(reloaded) == len(set(reloaded))
        assert list(log) == reloaded
        position = {m: k for k, m in enumerate(reloaded)}
        for event in events:
            for dep in deps[event.module]:
                if dep in position:
                    assert position[dep] < position[event.module], (dep, event.module)
            if event.module in edited:
                assert event.reason == "modified"
            else:
                assert event.reason == "dependent"
                assert set(event.after) == {d for d in deps[event.module] if d in position}
        for name in names:
            assert sys.modules[name].V == expected_value(name, deps, versions), name
        assert project.ns["V"] == expected_value("main", deps, versions)
        for name in names:
            assert liveimport.tracked()[name].dependencies == tuple(deps[name])
        assert project.sync() == []


# ---------------------------------------------------------------------------
# Rebinding: the namespace equals what re-running every registered statement,
# in registration order, on top of the previous namespace would give.

STATEMENTS = [
    "import a",
    "import b as bb",
    "from a import x",
    "from b import x",
    "from c import x as y",
    "from a import y",
    "from b import z as x",
    "from c import z",
    "from a import *",
    "from b import *",
    "from c import *",
]


def model_source(mod: str, version: int, rng: random.Random, shared: bool = False) -> str:
    # x, y, z always exist and are always exported. The optional names are
    # private to each module unless `shared`: then star imports of different
    # modules compete for `w`, which can disappear from one of them.
    names = ["x", "y", "z"]
    if rng.random() < 0.5:
        names.append("w" if shared else f"w{mod}")
    if rng.random() < 0.3:
        names.append(f"_p{mod}")
    lines = [f"{n} = '{mod}.{n}.{version}'" for n in names]
    if rng.random() < 0.5:
        exported = ["x", "y", "z", *(n for n in names[3:] if rng.random() < 0.7)]
        lines.insert(0, f"__all__ = {exported!r}")
    return "\n".join(lines) + "\n"


def run_rebinding_model(project, seed: int, shared: bool) -> None:
    liveimport.reset()
    for mod in "abc":
        sys.modules.pop(mod, None)
    project.ns.clear()
    rng = random.Random(seed)
    versions = {m: 0 for m in "abc"}
    for mod in "abc":
        project.write(f"{mod}.py", model_source(mod, 0, rng, shared))
    history: list[str] = []
    for _ in range(6):
        stmt = rng.choice(STATEMENTS)
        project.register(stmt)
        history.append(stmt)
    expected = dict(project.ns)

    for _round in range(10):
        for mod in rng.sample("abc", k=rng.randint(1, 2)):
            versions[mod] += 1
            project.write(f"{mod}.py", model_source(mod, versions[mod], rng, shared))
        if rng.random() < 0.3:
            stmt = rng.choice(STATEMENTS)
            project.register(stmt)
            history.append(stmt)
        project.sync()

        exec("\n".join(history), expected)
        for key, value in expected.items():
            if key.startswith("__"):
                continue
            assert project.ns[key] is value or project.ns[key] == value, (key, seed, history)
        assert len(liveimport.registrations(project.ns)) <= len(STATEMENTS) + 3


@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15])
def test_random_rebinding_matches_rerunning_the_statements(project, seed):
    run_rebinding_model(project, seed, shared=False)


def test_random_rebinding_with_competing_star_imports(project):
    for seed in range(1, 9):
        run_rebinding_model(project, seed, shared=True)
