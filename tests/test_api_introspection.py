"""tracked(), registrations(), Binding, TrackedModule, reset(), clear=True and
several namespaces."""

from __future__ import annotations

import os
import sys

import pytest

import liveimport
from liveimport import Binding, TrackedModule


def summary(events: list[liveimport.ReloadEvent]) -> list[tuple[str, str, list[str]]]:
    return [(e.module, e.reason, list(e.after)) for e in events]


# ---------------------------------------------------------------------------
# Binding


@pytest.mark.parametrize(
    "binding, text",
    [
        (Binding("a.b.c", None, None), "import a.b.c"),
        (Binding("a.b.c", None, "x"), "import a.b.c as x"),
        (Binding("m", "n", None), "from m import n"),
        (Binding("m", "n", "k"), "from m import n as k"),
        (Binding("m", "*", None), "from m import *"),
    ],
)
def test_binding_renders_its_statement(binding, text):
    assert str(binding) == text
    assert isinstance(binding, tuple)
    module, name, asname = binding
    assert (binding.module, binding.name, binding.asname) == (module, name, asname)


def test_registrations_spell_each_binding(project):
    project.write("a/__init__.py", "")
    project.write("a/b/__init__.py", "")
    project.write("a/b/c.py", "")
    project.write("m.py", "n = 1\nq = 2\n")
    project.write("s.py", "S = 1\n")
    stmts = """\
        import a.b.c
        import a.b.c as x
        from m import n
        from m import q as k
        from s import *
    """
    project.register(stmts)
    assert liveimport.registrations(project.ns) == [
        ("a.b.c", None, None),
        ("a.b.c", None, "x"),
        ("m", "n", None),
        ("m", "q", "k"),
        ("s", "*", None),
    ]
    assert [str(b) for b in liveimport.registrations()] == [
        "import a.b.c",
        "import a.b.c as x",
        "from m import n",
        "from m import q as k",
        "from s import *",
    ]
    assert all(type(b) is Binding for b in liveimport.registrations())


def test_one_record_per_bound_name(project):
    project.write("m.py", "a = 1\nb = 2\nc = 3\n")
    project.write("p.py", "")
    project.write("q.py", "")
    project.register("from m import a, b as bb, c\nimport p, q as qq")
    assert liveimport.registrations(project.ns) == [
        Binding("m", "a", None),
        Binding("m", "b", "bb"),
        Binding("m", "c", None),
        Binding("p", None, None),
        Binding("q", None, "qq"),
    ]


# ---------------------------------------------------------------------------
# Compaction


def test_repeated_registration_stays_compact(project):
    project.write("m.py", "a = 1\nb = 2\n")
    project.write("k.py", "K = 1\n")
    cell = "from m import a, b\nimport k\nfrom k import *"
    project.register(cell)
    first = liveimport.registrations(project.ns)
    first_tracked = liveimport.tracked()
    assert len(first) == 4
    for _ in range(50):
        project.register(cell)
        assert liveimport.registrations(project.ns) == first
    assert liveimport.tracked() == first_tracked


def test_later_binding_of_the_same_name_replaces_the_earlier_record(project):
    project.write("a.py", "x = 'a'\ny = 'a'\n")
    project.write("b.py", "x = 'b'\n")
    project.register("from a import x, y")
    project.register("from b import x")
    assert liveimport.registrations(project.ns) == [
        Binding("a", "y", None),
        Binding("b", "x", None),
    ]

    # Re-registering the earlier statement moves it to the end again.
    project.register("from a import x")
    assert liveimport.registrations(project.ns) == [
        Binding("a", "y", None),
        Binding("a", "x", None),
    ]
    # An alias binding the same name replaces it too.
    project.register("from b import x as y")
    assert liveimport.registrations(project.ns) == [Binding("a", "x", None), Binding("b", "x", "y")]

    # The compacted records still rebind as the full sequence would.
    project.write("a.py", "x = 'a2'\ny = 'a2'\n")
    project.write("b.py", "x = 'b2'\n")
    project.sync()
    assert (project.ns["x"], project.ns["y"]) == ("a2", "b2")


def test_import_forms_binding_the_same_top_name(project):
    project.write("a/__init__.py", "")
    project.write("a/b.py", "")
    project.write("a/c.py", "")
    project.register("import a.b")
    project.register("import a.c")
    project.register("import a.c")
    assert liveimport.registrations(project.ns) == [Binding("a.c", None, None)]


def test_star_imports_are_kept_once_per_module(project):
    project.write("m.py", "x = 1\n")
    project.write("k.py", "z = 1\n")
    project.register("from m import *\nfrom k import *\nfrom m import x")
    project.register("from m import *")
    assert liveimport.registrations(project.ns) == [
        Binding("k", "*", None),
        Binding("m", "x", None),
        Binding("m", "*", None),
    ]


# ---------------------------------------------------------------------------
# tracked()


def test_tracked_module_records(project):
    project.write("z.py", "Z = 1\n")
    project.write("y.py", "Y = 1\n")
    project.write("app.py", "import os\nimport z\nfrom y import Y\nimport sys\n")
    project.register("import app")
    tracked = liveimport.tracked()
    assert list(tracked) == ["app", "z", "y"]
    app = tracked["app"]
    assert type(app) is TrackedModule
    assert app.name == "app"
    assert os.path.isabs(app.file) and os.path.samefile(app.file, project.path("app.py"))
    assert app.direct is True
    assert app.dependencies == ("z", "y")  # tracked modules only, in source order
    assert app.pending is False
    assert tracked["z"] == TrackedModule("z", tracked["z"].file, False, (), False)

    project.write("y.py", "Y = 2\n")
    assert liveimport.tracked()["y"].pending is True
    # app imports y, so it will reload too: out of date (SEMANTICS: "Dependencies").
    assert liveimport.tracked()["app"].pending is True
    assert liveimport.tracked()["z"].pending is False


def test_tracking_order_is_registration_then_discovery(project):
    project.write("d1.py", "")
    project.write("d2.py", "")
    project.write("r1.py", "import d1\n")
    project.write("r2.py", "import d2\n")
    project.write("r3.py", "")
    project.register("import r2")
    project.register("import r1, r3")
    assert list(liveimport.tracked()) == ["r2", "d2", "r1", "r3", "d1"]


def test_tracked_per_namespace(project):
    project.write("shared.py", "S = 1\n")
    project.write("one.py", "import shared\nO = 1\n")
    project.write("two.py", "T = 1\n")
    ns2: dict = {}
    project.register("from one import O")
    exec("from two import T", ns2)
    liveimport.register(ns2, "from two import T")

    assert list(liveimport.tracked(project.ns)) == ["one", "shared"]
    assert list(liveimport.tracked(ns2)) == ["two"]
    assert list(liveimport.tracked()) == ["one", "shared", "two"]
    assert liveimport.tracked({}) == {}
    assert liveimport.registrations({}) == []


# ---------------------------------------------------------------------------
# Several namespaces


def test_registration_from_two_namespaces(project):
    project.write("m.py", "def f():\n    return 'old'\n\nX = 1\n")
    project.write("k.py", "K = 1\n")
    ns2: dict = {"__name__": "second"}
    project.register("from m import f\nimport k")
    exec("from m import f as g, X", ns2)
    liveimport.register(ns2, "from m import f as g, X")

    assert liveimport.registrations(project.ns) == [
        Binding("m", "f", None),
        Binding("k", None, None),
    ]
    assert liveimport.registrations(ns2) == [Binding("m", "f", "g"), Binding("m", "X", None)]
    assert liveimport.registrations() == [
        Binding("m", "f", None),
        Binding("k", None, None),
        Binding("m", "f", "g"),
        Binding("m", "X", None),
    ]

    project.write("m.py", "def f():\n    return 'new'\n\nX = 2\n")
    events = project.sync()

    assert summary(events) == [("m", "modified", [])]  # once, for both namespaces
    assert project.ns["f"]() == "new"
    assert ns2["g"]() == "new" and ns2["X"] == 2
    assert "g" not in project.ns and "X" not in project.ns
    assert "f" not in ns2


def test_clear_drops_earlier_registrations_of_that_namespace_only(project):
    project.write("a.py", "A = 1\n")
    project.write("b.py", "B = 1\n")
    project.write("c.py", "C = 1\n")
    ns2: dict = {}
    project.register("from a import A\nfrom c import C")
    exec("from c import C", ns2)
    liveimport.register(ns2, "from c import C")

    project.register("from b import B", clear=True)

    assert liveimport.registrations(project.ns) == [Binding("b", "B", None)]
    assert liveimport.registrations(ns2) == [Binding("c", "C", None)]
    assert list(liveimport.tracked(project.ns)) == ["b"]
    assert "a" not in liveimport.tracked()

    project.write("a.py", "A = 2\n")
    project.write("b.py", "B = 2\n")
    project.write("c.py", "C = 2\n")
    events = project.sync()
    assert sorted(e.module for e in events) == ["b", "c"]
    assert project.ns["A"] == 1  # no longer registered: left alone
    assert project.ns["B"] == 2
    assert project.ns["C"] == 1  # project.ns no longer registers c
    assert ns2["C"] == 2
    # a is not tracked any more: it cannot be forced.
    with pytest.raises(ValueError):
        liveimport.sync(force=["a"])


def test_clear_with_nothing_forgets_the_namespace(project):
    project.write("a.py", "A = 1\n")
    project.register("from a import A")
    liveimport.register(project.ns, "", clear=True)
    assert liveimport.registrations(project.ns) == []
    assert liveimport.registrations() == []
    assert liveimport.tracked() == {}
    project.write("a.py", "A = 2\n")
    assert project.sync() == []
    assert project.ns["A"] == 1


def test_failed_clear_registration_keeps_the_old_records(project):
    project.write("a.py", "A = 1\n")
    project.register("from a import A")
    before = liveimport.registrations(project.ns)
    with pytest.raises(ValueError):
        liveimport.register(project.ns, "import nothere", clear=True)
    assert liveimport.registrations(project.ns) == before
    project.write("a.py", "A = 2\n")
    project.sync()
    assert project.ns["A"] == 2


# ---------------------------------------------------------------------------
# reset()


def test_reset_forgets_everything_but_unloads_nothing(project):
    project.write("dep.py", "D = 1\n")
    project.write("m.py", "import dep\nX = 1\n")
    project.register("from m import X")
    m = sys.modules["m"]
    assert liveimport.tracked() and liveimport.registrations()

    liveimport.reset()

    assert liveimport.tracked() == {}
    assert liveimport.registrations() == []
    assert liveimport.registrations(project.ns) == []
    assert sys.modules["m"] is m and sys.modules["dep"].D == 1
    assert project.ns["X"] == 1
    project.write("m.py", "import dep\nX = 22\n")
    assert project.sync() == []
    assert project.ns["X"] == 1
    with pytest.raises(ValueError):
        liveimport.sync(force=["m"])

    # Registering again starts afresh, with the same workspace.
    liveimport.register(project.ns, "from m import X")
    assert list(liveimport.tracked()) == ["m", "dep"]
    project.write("dep.py", "D = 2\n")
    events = project.sync()
    # m.py changed after m was imported (while nothing tracked it): LiveImport
    # sees that its bytecode is older than its source, so m counts as modified.
    assert summary(events) == [("dep", "modified", []), ("m", "modified", ["dep"])]
    assert sys.modules["dep"].D == 2
    assert project.ns["X"] == 22
