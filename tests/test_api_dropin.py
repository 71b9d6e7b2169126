"""The rules that make LiveImport a drop-in for the PyPI package.

Reload in place, cycles by the depth-first rule (the specification's examples
and random graphs against a reference implementation of the rule), deleted
modules, symbolic links re-pointed after tracking, nested syncs, and threads
calling into a module while it reloads. Real files, real reloads.
"""

from __future__ import annotations

import os
import random
import sys
import threading

import pytest

import liveimport

# ---------------------------------------------------------------------------
# Helpers


def summary(events: list[liveimport.ReloadEvent]) -> list[tuple[str, str, list[str]]]:
    return [(e.module, str(e.reason), list(e.after)) for e in events]


def write_graph(project, graph: dict[str, list[str]], version: int = 1) -> None:
    """One module per node, importing its successors in order."""
    for name, deps in graph.items():
        imports = "".join(f"import {d}\n" for d in deps)
        project.write(f"{name}.py", f"{imports}V = {version}\n")


def touch(project, *names: str, version: int = 2) -> None:
    for name in names:
        path = project.path(f"{name}.py")
        text = path.read_text()
        path.write_text(text.rsplit("V = ", 1)[0] + f"V = {version}\n")


def reference_plan(
    graph: dict[str, list[str]], tracking: list[str], roots: list[str], touched: set[str]
) -> list[tuple[str, str, list[str]]]:
    """The specification's rule, written plainly: a depth-first walk from the
    registered modules in tracking order, dependencies in source order, an
    edge back onto the walk's path ignored; post-order reloads."""
    mark: dict[str, int] = {}
    plan: list[tuple[str, str, list[str]]] = []
    reloads: set[str] = set()

    def visit(name: str) -> None:
        mark[name] = 1
        after = []
        for dep in graph[name]:
            if mark.get(dep) == 1:
                continue
            if dep not in mark:
                visit(dep)
            if dep in reloads and dep not in after:
                after.append(dep)
        mark[name] = 2
        if name in touched or after:
            reloads.add(name)
            plan.append((name, "modified" if name in touched else "dependent", after))

    for name in tracking:
        if name in roots and name not in mark:
            visit(name)
    return plan


def tracking_order(graph: dict[str, list[str]], roots: list[str]) -> list[str]:
    """Registration order, then discovery: breadth first, a level at a time."""
    order = list(roots)
    level = list(roots)
    while level:
        following = []
        for name in level:
            for dep in graph[name]:
                if dep not in order:
                    order.append(dep)
                    following.append(dep)
        level = following
    return order


# ---------------------------------------------------------------------------
# Cycles


#: `import A, B, C, D, E, F, G` with A→C, B→C,D,G, C→E,F, D→F, E→A.
SEVEN = {
    "A": ["C"],
    "B": ["C", "D", "G"],
    "C": ["E", "F"],
    "D": ["F"],
    "E": ["A"],
    "F": [],
    "G": [],
}


@pytest.mark.parametrize(
    "register, touched, expected",
    [
        ("import A, B, C, D, E, F, G", ["A"], [("A", "modified", [])]),
        (
            "import A, B, C, D, E, F, G",
            ["G"],
            [("G", "modified", []), ("B", "dependent", ["G"])],
        ),
        (
            "import B",
            ["A"],
            [
                ("A", "modified", []),
                ("E", "dependent", ["A"]),
                ("C", "dependent", ["E"]),
                ("B", "dependent", ["C"]),
            ],
        ),
        (
            "import B",
            ["F"],
            [
                ("F", "modified", []),
                ("C", "dependent", ["F"]),
                ("D", "dependent", ["F"]),
                ("B", "dependent", ["C", "D"]),
            ],
        ),
        (
            "import A, B, C, D, E, F, G",
            ["E"],
            [
                ("E", "modified", []),
                ("C", "dependent", ["E"]),
                ("A", "dependent", ["C"]),
                ("B", "dependent", ["C"]),
            ],
        ),  # fmt: skip
    ],
)
def test_the_specifications_cycle_example(project, register, touched, expected):
    write_graph(project, SEVEN)
    project.register(register)
    touch(project, *touched)
    assert summary(project.sync()) == expected
    for name in touched:
        assert sys.modules[name].V == 2


def test_tracking_order_restarts_at_reset(project):
    write_graph(project, {"a": ["b"], "b": ["a"]})
    project.register("import a")
    touch(project, "a")
    assert [e.module for e in project.sync()] == ["a"]  # b -> a is the ignored edge
    liveimport.reset()
    project.register("import b")  # b is tracked first now
    touch(project, "a", version=3)
    assert summary(project.sync()) == [("a", "modified", []), ("b", "dependent", ["a"])]


CYCLE_SHAPES = {
    "two": {"a": ["b"], "b": ["a"]},
    "three": {"a": ["b"], "b": ["c"], "c": ["a"]},
    "chord": {"a": ["b", "c"], "b": ["c"], "c": ["a"]},
    "shared": {"a": ["b"], "b": ["a", "c"], "c": ["b"]},
    "figure_eight": {"a": ["b"], "b": ["c", "d"], "c": ["a"], "d": ["e"], "e": ["b"]},
    "self_and_tail": {"a": ["b"], "b": ["b", "c"], "c": []},
    "two_entries": {"r1": ["x"], "r2": ["y"], "x": ["y"], "y": ["x"]},
    "nested": {"a": ["b"], "b": ["c"], "c": ["d"], "d": ["b", "a"]},
    "ladder": {"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": ["a", "e"], "e": ["c"]},
    "star": {"hub": ["s1", "s2", "s3"], "s1": ["hub"], "s2": ["hub"], "s3": ["s1"]},
    "long_ring": {f"m{i}": [f"m{(i + 1) % 8}"] for i in range(8)},
    "diamond_back": {"t": ["l", "r"], "l": ["b"], "r": ["b"], "b": ["t"]},
}


@pytest.mark.parametrize("shape", sorted(CYCLE_SHAPES))
def test_cycle_shapes_follow_the_depth_first_rule(project, shape):
    graph = CYCLE_SHAPES[shape]
    names = list(graph)
    for roots in (names[:1], names[-1:], names):
        for touched in ([names[0]], [names[-1]], names[1:3]):
            liveimport.reset()
            for name in names:
                sys.modules.pop(name, None)
            write_graph(project, graph)
            project.ns.clear()
            project.register("import " + ", ".join(roots))
            touch(project, *touched)
            expected = reference_plan(graph, tracking_order(graph, roots), roots, set(touched))
            assert summary(project.sync()) == expected, (roots, touched)


def test_random_graphs_follow_the_depth_first_rule(project):
    rng = random.Random(20261130)
    for case in range(25):
        size = rng.randint(3, 9)
        names = [f"g{case}_{i}" for i in range(size)]
        graph = {n: rng.sample(names, rng.randint(0, min(3, size))) for n in names}
        roots = rng.sample(names, rng.randint(1, 3))
        touched = set(rng.sample(names, rng.randint(1, 3)))
        liveimport.reset()
        write_graph(project, graph)
        project.ns.clear()
        project.register("import " + ", ".join(roots))
        order = tracking_order(graph, roots)
        assert list(liveimport.tracked()) == order
        touch(project, *sorted(touched))
        expected = reference_plan(graph, order, roots, touched & set(order))
        # The announced plan is the one the sync then follows.
        announced = summary(liveimport.pending())
        assert announced == expected, (graph, roots, touched)
        assert summary(project.sync()) == expected, (graph, roots, touched)


# ---------------------------------------------------------------------------
# Deleted modules


def test_deleted_module_with_a_registered_dependency(project):
    write_graph(project, {"a": ["b"], "b": ["c"], "c": []})
    project.register("import a, c")
    b_source = project.path("b.py").read_text()
    os.remove(project.path("b.py"))
    touch(project, "c")
    # c is registered itself: it reloads; nothing above it does (b is gone).
    assert summary(project.sync()) == [("c", "modified", [])]
    touch(project, "c", version=3)
    assert summary(project.sync()) == [("c", "modified", [])]
    project.write("b.py", b_source.replace("V = 1", "V = 5"))
    assert summary(project.sync()) == [("b", "modified", []), ("a", "dependent", ["b"])]
    assert sys.modules["b"].V == 5 and sys.modules["c"].V == 3


def test_deleted_registered_module_is_skipped(project):
    write_graph(project, {"a": []})
    project.register("import a")
    os.remove(project.path("a.py"))
    assert project.sync() == []
    with pytest.raises(ValueError, match="no Python source"):
        liveimport.sync(force=["a"])
    write_graph(project, {"a": []}, version=2)
    assert summary(project.sync()) == [("a", "modified", [])]


# ---------------------------------------------------------------------------
# Symbolic links re-pointed after tracking


@pytest.fixture(params=["events", "polling"])
def mode(request):
    previous = liveimport.change_detection()
    liveimport.change_detection(request.param)
    try:
        yield request.param
    finally:
        liveimport.change_detection(previous)


def test_directory_link_switched_to_another_release(project, tmp_path, mode):
    for release, value in (("v1", 1), ("v2", 2)):
        (tmp_path / release).mkdir()
        (tmp_path / release / "rel.py").write_text(f"V = {value}\n")
    current = project.path("current")
    os.symlink(tmp_path / "v1", current)
    sys.path.insert(0, str(current))
    try:
        project.register("from rel import V")
        assert project.ns["V"] == 1
        # ln -sfn v2 current: a new link renamed over the old one.
        os.symlink(tmp_path / "v2", project.path("current.tmp"))
        os.replace(project.path("current.tmp"), current)
        assert summary(project.sync()) == [("rel", "modified", [])]
        assert project.ns["V"] == 2
        # Later edits of the new target are seen; the old target is not watched.
        (tmp_path / "v1" / "rel.py").write_text("V = 10\n")
        assert project.sync() == []
        (tmp_path / "v2" / "rel.py").write_text("V = 3\n")
        assert summary(project.sync()) == [("rel", "modified", [])]
        assert project.ns["V"] == 3
    finally:
        sys.path.remove(str(current))
        sys.modules.pop("rel", None)


def test_file_link_retargeted(project, tmp_path, mode):
    store = tmp_path / "store"
    store.mkdir()
    (store / "one.py").write_text("V = 1\n")
    (store / "two.py").write_text("V = 2\n")
    os.symlink(store / "one.py", project.path("lnk.py"))
    project.register("from lnk import V")
    os.symlink(store / "two.py", project.path("lnk.tmp"))
    os.replace(project.path("lnk.tmp"), project.path("lnk.py"))
    assert summary(project.sync()) == [("lnk", "modified", [])]
    assert project.ns["V"] == 2
    (store / "two.py").write_text("V = 22\n")
    assert summary(project.sync()) == [("lnk", "modified", [])]
    assert project.ns["V"] == 22
    (store / "one.py").write_text("V = 11\n")
    assert project.sync() == []


# ---------------------------------------------------------------------------
# Editors' save patterns


def _save_in_place(path, text):  # truncate and write (VS Code's default)
    with open(path, "w") as handle:
        handle.write(text)


def _save_atomic(path, text):  # write a temporary file, rename it over
    tmp = path.with_name(path.name + ".tmp~")
    tmp.write_text(text)
    os.replace(tmp, path)


def _save_vim(path, text):  # backupcopy=no: move the original aside, write anew
    backup = path.with_name(path.name + "~")
    os.replace(path, backup)
    path.write_text(text)
    os.remove(backup)


def _save_jetbrains(path, text):  # "safe write": tmp, original aside, tmp in place
    tmp = path.with_name(path.name + "___jb_tmp___")
    old = path.with_name(path.name + "___jb_old___")
    tmp.write_text(text)
    os.replace(path, old)
    os.replace(tmp, path)
    os.remove(old)


def _save_delete_create(path, text):
    os.remove(path)
    path.write_text(text)


@pytest.mark.parametrize(
    "save", [_save_in_place, _save_atomic, _save_vim, _save_jetbrains, _save_delete_create]
)
def test_editors_save_patterns(project, mode, save):
    project.write("ed.py", "V = 1\n")
    project.register("from ed import V")
    path = project.path("ed.py")
    for version in (2, 3):
        save(path, f"V = {version}\n")
        assert summary(project.sync()) == [("ed", "modified", [])], save.__name__
        assert project.ns["V"] == version
    save(path, "V = 3\n")  # saved without a change
    assert project.sync() == []
    save(path, "V = 4\n")  # two saves before one sync
    save(path, "V = 5\n")
    assert summary(project.sync()) == [("ed", "modified", [])]
    assert project.ns["V"] == 5


# ---------------------------------------------------------------------------
# Nested syncs


def test_sync_called_by_a_module_while_it_reloads(project):
    project.write("a.py", "V = 1\n")
    project.write("b.py", "import a\nW = a.V\n")
    project.register("from a import V\nfrom b import W")
    project.write("a.py", "V = 2\n")
    project.write(
        "b.py",
        "import a, liveimport\ntry:\n    liveimport.sync()\nexcept RuntimeError as e:\n"
        "    NESTED = str(e)\nW = a.V\n",
    )
    assert summary(project.sync()) == [("a", "modified", []), ("b", "modified", ["a"])]
    assert "while a sync is running" in sys.modules["b"].NESTED
    assert (project.ns["V"], project.ns["W"]) == (2, 2)


def test_sync_called_by_an_observer(project):
    project.write("a.py", "V = 1\n")
    project.register("from a import V")
    project.write("a.py", "V = 2\n")
    errors: list[BaseException] = []

    def observer(event: liveimport.ReloadEvent) -> None:
        try:
            liveimport.sync()
        except RuntimeError as error:
            errors.append(error)

    liveimport.sync(observer=observer)
    assert len(errors) == 1 and "while a sync is running" in str(errors[0])
    assert project.ns["V"] == 2
    assert project.sync() == []  # the outer sync completed; nothing left


def test_module_whose_nested_sync_error_escapes_rolls_back(project):
    project.write("a.py", "V = 1\n")
    project.register("from a import V")
    project.write("a.py", "import liveimport\nV = 2\nliveimport.sync()\n")
    with pytest.raises(liveimport.ModuleError) as info:
        project.sync()
    assert (info.value.module, info.value.phase) == ("a", "reload")
    assert isinstance(info.value.__cause__, RuntimeError)
    assert sys.modules["a"].V == 1 and project.ns["V"] == 1


# ---------------------------------------------------------------------------
# Threads calling into a module while it reloads


def test_thread_calling_a_module_during_reloads_never_finds_it_empty(project):
    body = "import time\ndef f():\n    return helper()\ndef helper():\n    return {v}\n"
    project.write("busy.py", body.format(v=1) + "time.sleep(0.002)\n")
    project.register("import busy")
    busy = sys.modules["busy"]
    stop = threading.Event()
    failures: list[BaseException] = []
    calls = 0

    def hammer() -> None:
        nonlocal calls
        while not stop.is_set():
            try:
                busy.f()
            except BaseException as error:  # noqa: BLE001 - counted, not raised
                failures.append(error)
            calls += 1

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        for version in range(2, 40):
            project.write("busy.py", body.format(v=version) + "time.sleep(0.002)\n")
            assert [e.module for e in project.sync()] == ["busy"]
    finally:
        stop.set()
        thread.join()
    assert calls > 100
    assert failures == []
    assert busy.f() == 39


def test_rollback_restores_the_namespace_without_emptying_it(project):
    project.write("m.py", "A = 1\nB = 1\n")
    project.register("import m")
    m = sys.modules["m"]
    before = dict(m.__dict__)
    project.write("m.py", "A = 2\nC = 3\nraise ValueError('no')\n")
    with pytest.raises(liveimport.ModuleError):
        project.sync()
    assert m.__dict__ == before
    assert all(m.__dict__[k] is v for k, v in before.items())
