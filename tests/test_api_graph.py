"""Dependencies, indirect tracking, the workspace and the reload order.

Modules append their name to ``sys._liveimport_test_log`` when they execute,
so the tests check the order in which the code really ran, not only the
events.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import liveimport

LOG = "import sys\nsys._liveimport_test_log.append(__name__)\n"


def summary(events: list[liveimport.ReloadEvent]) -> list[tuple[str, str, list[str]]]:
    return [(e.module, e.reason, list(e.after)) for e in events]


@pytest.fixture
def log():
    sys._liveimport_test_log = []  # type: ignore[attr-defined]
    try:
        yield sys._liveimport_test_log  # type: ignore[attr-defined]
    finally:
        del sys._liveimport_test_log  # type: ignore[attr-defined]


def module(imports: str, body: str = "") -> str:
    return LOG + textwrap.dedent(imports) + "\n" + textwrap.dedent(body)


def sync_logged(project, log: list) -> tuple[list, list]:
    log.clear()
    events = project.sync()
    return summary(events), list(log)


def sync_logged_forced(project, log: list, *names: str) -> tuple[list, list]:
    log.clear()
    events = project.sync(force=list(names))
    return summary(events), list(log)


@pytest.fixture
def outside(tmp_path: Path):
    """A directory on sys.path that is not in the workspace."""
    root = tmp_path / "ext"
    root.mkdir()
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    try:
        yield root
    finally:
        sys.path.remove(str(root))
        for name, mod in list(sys.modules.items()):
            if str(getattr(mod, "__file__", None) or "").startswith(str(root)):
                del sys.modules[name]


# ---------------------------------------------------------------------------
# Indirect modules


def test_indirect_modules_are_tracked_and_reload_in_order(project, log):
    project.write("util.py", module("", "def u():\n    return 'u1'\n"))
    project.write("helper.py", module("from util import u", "def h():\n    return 'h:' + u()\n"))
    project.write("app.py", module("import helper", "def run():\n    return 'app:' + helper.h()\n"))
    project.register("from app import run")
    assert "helper" not in project.ns and "util" not in project.ns

    tracked = liveimport.tracked()
    assert list(tracked) == ["app", "helper", "util"]
    assert [t.direct for t in tracked.values()] == [True, False, False]
    assert tracked["app"].dependencies == ("helper",)
    assert tracked["helper"].dependencies == ("util",)

    project.write("util.py", module("", "def u():\n    return 'u2'\n"))
    events, ran = sync_logged(project, log)

    assert events == [
        ("util", "modified", []),
        ("helper", "dependent", ["util"]),
        ("app", "dependent", ["helper"]),
    ]
    assert ran == ["util", "helper", "app"]
    assert project.ns["run"]() == "app:h:u2"

    # Editing the middle module reloads it and what is above it only.
    project.write("helper.py", module("from util import u", "def h():\n    return 'H:' + u()\n"))
    events, ran = sync_logged(project, log)
    assert events == [("helper", "modified", []), ("app", "dependent", ["helper"])]
    assert ran == ["helper", "app"]
    assert project.ns["run"]() == "app:H:u2"


def test_modules_outside_the_workspace_are_not_tracked_indirectly(project, outside, log):
    (outside / "extmod.py").write_text("E = 1\n")
    project.write("app.py", module("import extmod", "E = extmod.E\n"))
    project.register("from app import E")
    tracked = liveimport.tracked()
    assert list(tracked) == ["app"]
    assert tracked["app"].dependencies == ()

    (outside / "extmod.py").write_text("E = 2\n")
    assert project.sync() == []
    assert sys.modules["extmod"].E == 1


def test_modules_outside_the_workspace_can_be_registered(project, outside, log, detection):
    (outside / "extmod.py").write_text(LOG + "E = 1\n")
    project.write("app.py", module("import extmod", "E = extmod.E\n"))
    project.register("from app import E")
    project.register("import extmod")
    tracked = liveimport.tracked()
    assert tracked["extmod"].direct
    assert tracked["app"].dependencies == ("extmod",)

    (outside / "extmod.py").write_text(LOG + "E = 2\n")
    events, ran = sync_logged(project, log)
    assert events == [("extmod", "modified", []), ("app", "dependent", ["extmod"])]
    assert ran == ["extmod", "app"]
    assert project.ns["E"] == 2


def test_outside_module_imported_by_an_outside_registered_module(project, outside):
    # Registered modules are tracked wherever they are; their imports only
    # when those lie in the workspace.
    (outside / "extdep.py").write_text("D = 1\n")
    (outside / "extmod.py").write_text("import extdep\nimport wsdep\nE = 1\n")
    project.write("wsdep.py", "W = 1\n")
    project.register("import extmod")
    assert list(liveimport.tracked()) == ["extmod", "wsdep"]

    project.write("wsdep.py", "W = 2\n")
    assert summary(project.sync()) == [
        ("wsdep", "modified", []),
        ("extmod", "dependent", ["wsdep"]),
    ]
    (outside / "extdep.py").write_text("D = 2\n")
    assert project.sync() == []


def test_workspace_change_mid_session(project, outside, log, detection):
    (outside / "extmod.py").write_text(LOG + "E = 1\n")
    project.write("app.py", module("import extmod", "E = extmod.E\n"))
    project.register("from app import E")
    assert "extmod" not in liveimport.tracked()

    liveimport.workspace(outside, extend=True)
    tracked = liveimport.tracked()
    assert tracked["extmod"].direct is False
    assert tracked["app"].dependencies == ("extmod",)
    (outside / "extmod.py").write_text(LOG + "E = 2\n")
    events, ran = sync_logged(project, log)
    assert events == [("extmod", "modified", []), ("app", "dependent", ["extmod"])]
    assert ran == ["extmod", "app"]
    assert project.ns["E"] == 2

    liveimport.workspace(project.root)
    assert "extmod" not in liveimport.tracked()
    (outside / "extmod.py").write_text(LOG + "E = 3\n")
    assert project.sync() == []
    assert project.ns["E"] == 2

    # An empty workspace still tracks what is registered.
    liveimport.workspace()
    assert list(liveimport.tracked()) == ["app"]
    project.write("app.py", module("import extmod", "E = extmod.E * 100\n"))
    assert summary(project.sync()) == [("app", "modified", [])]
    assert project.ns["E"] == 200  # extmod itself was not reloaded: E is still 2


def test_workspace_rejects_bad_paths(project, tmp_path):
    project.write("dep.py", "D = 1\n")
    project.write("app.py", "import dep\n")
    project.register("import app")
    before = liveimport.tracked()
    (tmp_path / "afile").write_text("")
    with pytest.raises(ValueError):
        liveimport.workspace(tmp_path / "does-not-exist")
    with pytest.raises(ValueError):
        liveimport.workspace(project.root, tmp_path / "afile")
    assert liveimport.tracked() == before
    project.write("dep.py", "D = 2\n")
    assert [e.module for e in project.sync()] == ["dep", "app"]


def test_default_workspace_is_the_initial_working_directory(tmp_path):
    root = tmp_path / "nb"
    root.mkdir()
    (root / "dep.py").write_text("D = 1\n")
    (root / "app.py").write_text("import dep\nA = dep.D\n")
    script = textwrap.dedent(
        """
        import json, sys
        sys.path.insert(0, '.')
        import liveimport
        from app import A
        liveimport.register(globals(), 'from app import A')
        print(json.dumps({n: t.direct for n, t in liveimport.tracked().items()}))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "LIVEIMPORT_DETECTION"}
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"app": True, "dep": False}


def test_new_workspace_module_imported_after_an_edit_is_tracked(project, log, detection):
    project.write("app.py", module("", "def run():\n    return 'plain'\n"))
    project.register("from app import run")
    assert list(liveimport.tracked()) == ["app"]

    project.write("newmod.py", module("", "def n():\n    return 'n1'\n"))
    project.write("app.py", module("import newmod", "def run():\n    return 'app:' + newmod.n()\n"))
    events, ran = sync_logged(project, log)
    assert events == [("app", "modified", [])]
    assert ran == ["app", "newmod"]
    assert project.ns["run"]() == "app:n1"
    tracked = liveimport.tracked()
    assert tracked["newmod"].direct is False
    assert tracked["app"].dependencies == ("newmod",)

    project.write("newmod.py", module("", "def n():\n    return 'n2'\n"))
    events, ran = sync_logged(project, log)
    assert events == [("newmod", "modified", []), ("app", "dependent", ["newmod"])]
    assert ran == ["newmod", "app"]
    assert project.ns["run"]() == "app:n2"


def test_dependencies_are_reread_when_the_source_changes(project, log):
    project.write("a.py", module("", "A = 'a1'\n"))
    project.write("b.py", module("", "B = 'b1'\n"))
    project.write("app.py", module("import a", "V = a.A\n"))
    project.register("from app import V")
    assert liveimport.tracked()["app"].dependencies == ("a",)

    project.write("app.py", module("import b", "V = b.B\n"))
    events, _ = sync_logged(project, log)
    assert events == [("app", "modified", [])]
    assert project.ns["V"] == "b1"
    tracked = liveimport.tracked()
    assert tracked["app"].dependencies == ("b",)
    assert "a" not in tracked

    # a is no longer reachable from any registration: not reloaded.
    project.write("a.py", module("", "A = 'a2'\n"))
    events, ran = sync_logged(project, log)
    assert events == [] and ran == []

    project.write("b.py", module("", "B = 'b2'\n"))
    events, ran = sync_logged(project, log)
    assert events == [("b", "modified", []), ("app", "dependent", ["b"])]
    assert project.ns["V"] == "b2"


def test_new_dependencies_decide_the_order_of_the_same_sync(project, log):
    # app and b are both registered, app first, with no edge between them.
    project.write("b.py", module("", "B = 'b1'\n"))
    project.write("app.py", module("", "V = 'none'\n"))
    project.register("from app import V")
    project.register("from b import B")
    assert list(liveimport.tracked()) == ["app", "b"]

    # One edit makes app import b, the other changes b: b must run first.
    project.write("app.py", module("import b", "V = b.B\n"))
    project.write("b.py", module("", "B = 'b2'\n"))
    events, ran = sync_logged(project, log)

    assert [(m, r) for m, r, _ in events] == [("b", "modified"), ("app", "modified")]
    assert ran == ["b", "app"]
    assert project.ns["V"] == "b2" and project.ns["B"] == "b2"


def test_from_package_import_submodule_depends_on_the_submodule(project, log):
    # Precise dependencies: the names come from pkg.sub, not from pkg's __init__.
    project.write("pkg/__init__.py", module(""))
    project.write("pkg/sub.py", module("", "S = 1\n"))
    project.write("app.py", module("from pkg import sub", "def s():\n    return sub.S\n"))
    project.register("from app import s")
    assert liveimport.tracked()["app"].dependencies == ("pkg.sub",)

    project.write("pkg/sub.py", module("", "S = 2\n"))
    events, ran = sync_logged(project, log)
    assert events == [("pkg.sub", "modified", []), ("app", "dependent", ["pkg.sub"])]
    assert ran == ["pkg.sub", "app"]
    assert project.ns["s"]() == 2

    # Nothing registered depends on pkg's __init__ itself.
    project.write("pkg/__init__.py", module("", "P = 1\n"))
    assert sync_logged(project, log) == ([], [])


def test_from_package_import_name_depends_on_the_package(project, log):
    project.write("pkg/__init__.py", module("", "P = 1\n"))
    project.write("pkg/sub.py", module("", "S = 1\n"))
    project.write("app.py", module("from pkg import P, sub", "def get():\n    return P, sub.S\n"))
    project.register("from app import get")
    assert liveimport.tracked()["app"].dependencies == ("pkg", "pkg.sub")

    project.write("pkg/__init__.py", module("", "P = 2\n"))
    events, ran = sync_logged(project, log)
    assert events == [("pkg", "modified", []), ("app", "dependent", ["pkg"])]
    assert project.ns["get"]() == (2, 1)


def test_package_reexporting_its_submodules_reloads_in_order(project, log):
    # pkg/__init__ re-exports from .core; core imports a sibling through the
    # package: no cycle, so editing core reloads core, then pkg.
    project.write("pkg/__init__.py", module("from .core import price"))
    project.write("pkg/consts.py", module("", "RATE = 2\n"))
    project.write(
        "pkg/core.py", module("from . import consts", "def price(x):\n    return x * consts.RATE\n")
    )
    project.register("import pkg\nfrom pkg import price")
    deps = {name: t.dependencies for name, t in liveimport.tracked().items()}
    assert deps == {"pkg": ("pkg.core",), "pkg.core": ("pkg.consts",), "pkg.consts": ()}

    project.write(
        "pkg/core.py",
        module("from . import consts", "def price(x):\n    return x * consts.RATE + 1000\n"),
    )
    events, ran = sync_logged(project, log)
    assert events == [("pkg.core", "modified", []), ("pkg", "dependent", ["pkg.core"])]
    assert ran == ["pkg.core", "pkg"]
    assert project.ns["price"](1) == 1002 and project.ns["pkg"].price(1) == 1002

    project.write("pkg/consts.py", module("", "RATE = 3\n"))
    events, ran = sync_logged(project, log)
    assert [m for m, _, _ in events] == ["pkg.consts", "pkg.core", "pkg"]
    assert project.ns["price"](1) == 1003


def test_imports_that_run_at_import_time_are_dependencies(project, log):
    for name in ("a", "b", "c", "d", "e"):
        project.write(f"{name}.py", module("", f"{name.upper()} = 1\n"))
    project.write(
        "app.py",
        module(
            """\
            import typing
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                import a
            try:
                import b
            except ImportError:
                import nothere
            if typing.TYPE_CHECKING:
                import a
            elif True:
                with open(__file__) as f:
                    import d

            def later():
                import c
                return c.C

            class K:
                import e
            """
        ),
    )
    project.register("import app\nimport a, b, c, d, e")
    assert liveimport.tracked()["app"].dependencies == ("b", "d")

    for name in ("a", "b", "c", "d", "e"):
        project.write(f"{name}.py", module("", f"{name.upper()} = 2\n"))
    events, ran = sync_logged(project, log)
    assert [m for m, _, _ in events] == ["b", "d", "app", "a", "c", "e"]
    assert events[2] == ("app", "dependent", ["b", "d"])


def test_semicolons_and_parentheses_count_as_top_level(project):
    project.write("a.py", "A = 1\n")
    project.write("b.py", "B = 1\n")
    project.write("c.py", "C = 1\n")
    project.write("app.py", "X = 1; import a; import b\nfrom c import (\n    C,\n)\n")
    project.register("import app")
    assert liveimport.tracked()["app"].dependencies == ("a", "b", "c")


def test_diamond_reloads_each_module_once(project, log):
    project.write("a.py", module("", "A = 'a1'\n"))
    project.write("b.py", module("import a", "B = 'b:' + a.A\n"))
    project.write("c.py", module("import a", "C = 'c:' + a.A\n"))
    project.write("d.py", module("import b\nimport c", "D = b.B + '+' + c.C\n"))
    project.register("from d import D\nimport a")

    project.write("a.py", module("", "A = 'a2'\n"))
    events, ran = sync_logged(project, log)

    assert events == [
        ("a", "modified", []),
        ("b", "dependent", ["a"]),
        ("c", "dependent", ["a"]),
        ("d", "dependent", ["b", "c"]),
    ]
    assert ran == ["a", "b", "c", "d"]
    assert project.ns["D"] == "b:a2+c:a2"


def test_missing_module_breaks_no_chain(project, log):
    project.write("a.py", module("", "A = 'a1'\n"))
    project.write("b.py", module("import a", "B = 1\n"))
    project.write("c.py", module("import b\nimport a", "def get():\n    return a.A\n"))
    project.register("from c import get")
    assert list(liveimport.tracked()) == ["c", "b", "a"]
    os.remove(project.path("b.py"))

    project.write("a.py", module("", "A = 'a2'\n"))
    events, ran = sync_logged(project, log)
    assert events == [("a", "modified", []), ("c", "dependent", ["a"])]
    assert ran == ["a", "c"]
    assert project.ns["get"]() == "a2"


def test_missing_module_stops_being_a_link(project, log):
    # c -> b -> a only through b, whose file is gone.
    project.write("a.py", module("", "A = 'a1'\n"))
    project.write("b.py", module("import a"))
    project.write("c.py", module("import b", "def get():\n    return b.a.A\n"))
    project.register("from c import get")
    b_source = project.path("b.py").read_text()
    os.remove(project.path("b.py"))

    project.write("a.py", module("", "A = 'a2'\n"))
    assert sync_logged(project, log) == ([], [])
    assert not liveimport.tracked()["a"].pending  # nothing the next sync reloads

    project.write("b.py", b_source)  # back, as it was loaded
    assert [e.module for e in liveimport.pending()] == ["a", "b", "c"]
    events, ran = sync_logged(project, log)
    assert events == [("a", "modified", []), ("b", "dependent", ["a"]), ("c", "dependent", ["b"])]
    assert ran == ["a", "b", "c"]
    assert project.ns["get"]() == "a2"


# ---------------------------------------------------------------------------
# Cycles: deterministic, the edge closing the cycle is ignored


def fresh_cycle_run(project, log, files: dict[str, str], register: str, edits: dict[str, str]):
    liveimport.reset()
    for name in files:
        sys.modules.pop(name, None)
    for name, text in files.items():
        project.write(f"{name}.py", text)
    project.ns.clear()
    project.register(register)
    for name, text in edits.items():
        project.write(f"{name}.py", text)
    return sync_logged(project, log)


CYCLE2 = {
    "a": module("import b", "X = 'a1'\n"),
    "b": module("import a", "X = 'b1'\n"),
}
CYCLE3 = {
    "a": module("import b", "X = 'a1'\n"),
    "b": module("import c", "X = 'b1'\n"),
    "c": module("import a", "X = 'c1'\n"),
}
# A 3-cycle with a chord a -> c: only c -> a closes a cycle.
CHORD = {
    "a": module("import b\nimport c", "X = 'a1'\n"),
    "b": module("import c", "X = 'b1'\n"),
    "c": module("import a", "X = 'c1'\n"),
}
# Two cycles sharing b: a <-> b and b <-> c; b -> a and c -> b are ignored.
TWO_CYCLES = {
    "a": module("import b", "X = 'a1'\n"),
    "b": module("import a\nimport c", "X = 'b1'\n"),
    "c": module("import b", "X = 'c1'\n"),
}


def edit(files: dict[str, str], *names: str) -> dict[str, str]:
    return {n: files[n].replace("1'", "2'") for n in names}


@pytest.mark.parametrize(
    "files, register, edited, expected",
    [
        # a tracked first keeps a -> b; b -> a closes the cycle and is ignored.
        (CYCLE2, "import a", ("b",), [("b", "modified", []), ("a", "dependent", ["b"])]),
        (CYCLE2, "import a", ("a",), [("a", "modified", [])]),
        (CYCLE2, "import b", ("a",), [("a", "modified", []), ("b", "dependent", ["a"])]),
        (CYCLE2, "import a, b", ("b",), [("b", "modified", []), ("a", "dependent", ["b"])]),
        (CYCLE2, "import b, a", ("b",), [("b", "modified", [])]),
        (CYCLE2, "import a", ("a", "b"), [("b", "modified", []), ("a", "modified", ["b"])]),
        (
            CYCLE3,
            "import a",
            ("c",),
            [("c", "modified", []), ("b", "dependent", ["c"]), ("a", "dependent", ["b"])],
        ),
        (CYCLE3, "import a", ("a",), [("a", "modified", [])]),
        (CYCLE3, "import a", ("b",), [("b", "modified", []), ("a", "dependent", ["b"])]),
        # c tracked first: c -> a and a -> b are kept, b -> c is ignored.
        (
            CYCLE3,
            "import c, a",
            ("b",),
            [("b", "modified", []), ("a", "dependent", ["b"]), ("c", "dependent", ["a"])],
        ),
        (CYCLE3, "import c, a", ("c",), [("c", "modified", [])]),
        (
            CHORD,
            "import a",
            ("c",),
            [("c", "modified", []), ("b", "dependent", ["c"]), ("a", "dependent", ["b", "c"])],
        ),
        (CHORD, "import a", ("b",), [("b", "modified", []), ("a", "dependent", ["b"])]),
        (CHORD, "import a", ("a",), [("a", "modified", [])]),
        (
            TWO_CYCLES,
            "import a",
            ("c",),
            [("c", "modified", []), ("b", "dependent", ["c"]), ("a", "dependent", ["b"])],
        ),
        (TWO_CYCLES, "import a", ("b",), [("b", "modified", []), ("a", "dependent", ["b"])]),
        (TWO_CYCLES, "import a", ("a",), [("a", "modified", [])]),
    ],
)
def test_cycles_reload_in_the_same_order_every_run(project, log, files, register, edited, expected):
    runs = [fresh_cycle_run(project, log, files, register, edit(files, *edited)) for _ in range(4)]

    # `after` of a modified module is not pinned down: compare it for dependents.
    def comparable(evs):
        return [(m, r, a if r == "dependent" else None) for m, r, a in evs]

    assert runs[0] == runs[1] == runs[2] == runs[3]
    for events, ran in runs:
        assert comparable(events) == comparable(expected)
        assert ran == [m for m, _, _ in expected]
    for name in edited:
        assert sys.modules[name].X == f"{name}2"


def test_cycle_dependencies_shown_without_the_ignored_edge(project, log):
    for name, text in CYCLE3.items():
        project.write(f"{name}.py", text)
    project.register("import a")
    tracked = liveimport.tracked()
    assert list(tracked) == ["a", "b", "c"]
    assert tracked["a"].dependencies == ("b",)
    assert tracked["b"].dependencies == ("c",)
    # c's import of a is in its source; whether it is shown or not, the
    # order must not depend on it.
    assert tracked["c"].dependencies in ((), ("a",))


# ---------------------------------------------------------------------------
# A layered graph of eight modules

LAYERED = {
    "base": ("", "V = 'base1'\n"),
    "u1": ("import base", "V = 'u1:' + base.V\n"),
    "u2": ("import base", "V = 'u2:' + base.V\n"),
    "m1": ("import u1", "V = 'm1:' + u1.V\n"),
    "m2": ("import u1\nimport u2", "V = 'm2:' + u1.V + ',' + u2.V\n"),
    "m3": ("import u2", "V = 'm3:' + u2.V\n"),
    "top1": ("import m1\nimport m2", "V = 'top1:' + m1.V + ';' + m2.V\n"),
    "top2": ("import m3", "V = 'top2:' + m3.V\n"),
}


@pytest.fixture
def layered(project, log):
    for name, (imports, body) in LAYERED.items():
        project.write(f"{name}.py", module(imports, body))
    project.register("from top1 import V as T1\nfrom top2 import V as T2")
    return project


def test_layered_graph_tracking(layered):
    tracked = liveimport.tracked()
    assert set(tracked) == set(LAYERED)
    assert [n for n, t in tracked.items() if t.direct] == ["top1", "top2"]
    assert list(tracked)[:2] == ["top1", "top2"]
    assert tracked["m2"].dependencies == ("u1", "u2")
    assert tracked["top1"].dependencies == ("m1", "m2")


def test_layered_graph_full_reload_order(layered, log):
    layered.write("base.py", module("", "V = 'base2'\n"))
    events, ran = sync_logged(layered, log)

    assert events == [
        ("base", "modified", []),
        ("u1", "dependent", ["base"]),
        ("m1", "dependent", ["u1"]),
        ("u2", "dependent", ["base"]),
        ("m2", "dependent", ["u1", "u2"]),
        ("top1", "dependent", ["m1", "m2"]),
        ("m3", "dependent", ["u2"]),
        ("top2", "dependent", ["m3"]),
    ]
    assert ran == [m for m, _, _ in events]
    assert layered.ns["T1"] == "top1:m1:u1:base2;m2:u1:base2,u2:base2"
    assert layered.ns["T2"] == "top2:m3:u2:base2"

    # Every module after every dependency it has.
    position = {m: i for i, (m, _, _) in enumerate(events)}
    for name, (imports, _) in LAYERED.items():
        for line in imports.splitlines():
            assert position[line.split()[1]] < position[name]


def test_layered_graph_partial_reloads(layered, log):
    layered.write("u2.py", module("import base", "V = 'U2:' + base.V\n"))
    events, ran = sync_logged(layered, log)
    assert events == [
        ("u2", "modified", []),
        ("m2", "dependent", ["u2"]),
        ("top1", "dependent", ["m2"]),
        ("m3", "dependent", ["u2"]),
        ("top2", "dependent", ["m3"]),
    ]
    assert ran == ["u2", "m2", "top1", "m3", "top2"]
    assert layered.ns["T2"] == "top2:m3:U2:base1"

    layered.write("m1.py", module("import u1", "V = 'M1:' + u1.V\n"))
    layered.write("m3.py", module("import u2", "V = 'M3:' + u2.V\n"))
    events, ran = sync_logged(layered, log)
    assert events == [
        ("m1", "modified", []),
        ("top1", "dependent", ["m1"]),
        ("m3", "modified", []),
        ("top2", "dependent", ["m3"]),
    ]
    assert ran == ["m1", "top1", "m3", "top2"]
    assert layered.ns["T1"].startswith("top1:M1:")
    assert layered.ns["T2"] == "top2:M3:U2:base1"

    layered.write("top2.py", module("import m3", "V = 'TOP2'\n"))
    events, ran = sync_logged(layered, log)
    assert events == [("top2", "modified", [])]
    assert layered.ns["T2"] == "TOP2"
    assert sync_logged(layered, log) == ([], [])


def test_layered_graph_same_order_every_run(project, log):
    orders = []
    for _ in range(3):
        liveimport.reset()
        for name in LAYERED:
            sys.modules.pop(name, None)
        for name, (imports, body) in LAYERED.items():
            project.write(f"{name}.py", module(imports, body))
        project.ns.clear()
        project.register("from top1 import V as T1\nfrom top2 import V as T2")
        events, ran = sync_logged_forced(project, log, "base")
        assert ran == [m for m, _, _ in events]
        orders.append(events)
    assert orders[0] == orders[1] == orders[2]
    assert [m for m, _, _ in orders[0]] == ["base", "u1", "m1", "u2", "m2", "top1", "m3", "top2"]
    assert orders[0][0] == ("base", "forced", [])


def cycle_reached_deep_first(project) -> None:
    """a imports x, p; x imports q; p and q import each other.

    The walk from a enters x, then q, then p, whose edge back to q (on the
    walk's path) is the one ignored: p reloads after nothing in the cycle.
    """
    project.write("a.py", module("import x\nimport p"))
    project.write("x.py", module("import q"))
    project.write("p.py", module("import q", "V = 1\n"))
    project.write("q.py", module("import p", "V = 1\n"))
    project.register("import a")
    assert list(liveimport.tracked()) == ["a", "x", "p", "q"]


def test_cycle_edge_ignored_is_the_one_back_onto_the_walks_path(project, log):
    cycle_reached_deep_first(project)

    project.write("p.py", module("import q", "V = 2\n"))
    events, ran = sync_logged(project, log)
    assert events == [
        ("p", "modified", []),
        ("q", "dependent", ["p"]),
        ("x", "dependent", ["q"]),
        ("a", "dependent", ["x", "p"]),
    ]
    assert ran == ["p", "q", "x", "a"]


def test_cycle_edit_of_the_module_whose_edge_is_ignored(project, log):
    cycle_reached_deep_first(project)

    project.write("q.py", module("import p", "V = 2\n"))
    events, ran = sync_logged(project, log)
    # p's import of q closed the cycle: p does not reload because of q.
    assert events == [("q", "modified", []), ("x", "dependent", ["q"]), ("a", "dependent", ["x"])]
    assert ran == ["q", "x", "a"]


def test_new_module_in_a_new_package_directory_is_tracked(project, log, detection):
    project.write("app.py", module("", "def run():\n    return 'plain'\n"))
    project.register("from app import run")

    project.write("newpkg/__init__.py", module(""))
    project.write("newpkg/deep/__init__.py", module(""))
    project.write("newpkg/deep/leaf.py", module("", "L = 'l1'\n"))
    project.write(
        "app.py",
        module("from newpkg.deep import leaf", "def run():\n    return 'app:' + leaf.L\n"),
    )
    events, ran = sync_logged(project, log)
    assert events == [("app", "modified", [])]
    assert project.ns["run"]() == "app:l1"
    assert "newpkg.deep.leaf" in liveimport.tracked()

    project.write("newpkg/deep/leaf.py", module("", "L = 'l2'\n"))
    events, ran = sync_logged(project, log)
    assert events == [
        ("newpkg.deep.leaf", "modified", []),
        ("app", "dependent", ["newpkg.deep.leaf"]),
    ]
    assert ran == ["newpkg.deep.leaf", "app"]
    assert project.ns["run"]() == "app:l2"


def test_workspace_extension_with_an_unanalysable_module(project, outside):
    (outside / "extmod.py").write_text("E = 1\n")
    project.write("app.py", "import extmod\nE = extmod.E\n")
    project.register("from app import E")
    (outside / "extmod.py").write_text("E = (\n")
    before = liveimport.tracked()

    with pytest.raises(liveimport.ModuleError) as info:
        liveimport.workspace(outside, extend=True)

    assert (info.value.module, info.value.phase) == ("extmod", "analysis")
    assert isinstance(info.value.__cause__, SyntaxError)
    assert liveimport.tracked() == before
    # The workspace is unchanged: a fixed extmod is still not tracked.
    (outside / "extmod.py").write_text("E = 2\n")
    assert project.sync() == []
    liveimport.workspace(outside, extend=True)
    assert "extmod" in liveimport.tracked()


def test_module_removed_from_sys_modules_is_imported_again(project):
    project.write("m.py", "X = 1\n")
    project.register("import m\nfrom m import X")
    old = sys.modules.pop("m")

    project.write("m.py", "X = 2\n")
    events = project.sync()

    assert summary(events) == [("m", "modified", [])]
    assert sys.modules["m"] is not old
    assert project.ns["m"] is sys.modules["m"]
    assert project.ns["X"] == 2


def test_broken_module_no_longer_reachable_does_not_fail_the_sync(project, log):
    project.write("a.py", module("", "A = 1\n"))
    project.write("app.py", module("import a", "V = a.A\n"))
    project.register("from app import V")
    project.write("app.py", module("", "V = 'alone'\n"))
    assert sync_logged(project, log)[0] == [("app", "modified", [])]

    project.write("a.py", "A = (\n")
    assert project.sync() == []
    project.write("app.py", module("", "V = 'still alone'\n"))
    assert summary(project.sync()) == [("app", "modified", [])]
    assert project.ns["V"] == "still alone"


def test_broken_indirect_module_fails_the_sync_until_fixed(project, log):
    project.write("a.py", module("", "A = 1\n"))
    project.write("app.py", module("import a", "V = a.A\n"))
    project.register("from app import V")
    project.write("a.py", "A = (\n")
    with pytest.raises(liveimport.ModuleError) as info:
        project.sync()
    assert (info.value.module, info.value.phase, info.value.line) == ("a", "analysis", 1)
    assert project.ns["V"] == 1

    project.write("a.py", module("", "A = 2\n"))
    events, ran = sync_logged(project, log)
    assert events == [("a", "modified", []), ("app", "dependent", ["a"])]
    assert project.ns["V"] == 2


@pytest.mark.parametrize("spelling", ["workspace-via-link", "module-via-link"])
def test_workspace_through_a_symlinked_directory(project, tmp_path, log, spelling):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    os.symlink(real, link)
    (real / "dep.py").write_text(LOG + "D = 1\n")
    (real / "app.py").write_text(LOG + "import dep\nD = dep.D\n")
    path_entry, workspace = (real, link) if spelling == "workspace-via-link" else (link, real)
    sys.path.insert(0, str(path_entry))
    importlib.invalidate_caches()
    try:
        liveimport.workspace(workspace)
        project.register("from app import D")
        assert list(liveimport.tracked()) == ["app", "dep"]
        (real / "dep.py").write_text(LOG + "D = 2\n")
        events, ran = sync_logged(project, log)
        assert events == [("dep", "modified", []), ("app", "dependent", ["dep"])]
        assert project.ns["D"] == 2
    finally:
        sys.path.remove(str(path_entry))
        for name in ("app", "dep"):
            sys.modules.pop(name, None)
