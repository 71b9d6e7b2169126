"""Rebinding: after a reload, the namespace holds what re-running the registered
statements (in registration order, and nothing more) would bind.

Every test edits real files and syncs with real ``importlib.reload``.
"""

from __future__ import annotations

import sys

import pytest

import liveimport


def summary(events: list[liveimport.ReloadEvent]) -> list[tuple[str, str, list[str]]]:
    return [(e.module, e.reason, list(e.after)) for e in events]


# ---------------------------------------------------------------------------
# One test per row of the rebinding table


def test_import_dotted_binds_top_package(project):
    project.write("a/__init__.py", "TOP = 'a'\n")
    project.write("a/b/__init__.py", "")
    project.write("a/b/c.py", "VALUE = 1\n")
    project.register("import a.b.c")
    assert project.ns["a"] is sys.modules["a"]
    c = sys.modules["a.b.c"]
    project.ns["a"] = "clobbered"  # re-running `import a.b.c` would bind `a` again

    project.write("a/b/c.py", "VALUE = 2\n")
    events = project.sync()

    assert summary(events) == [("a.b.c", "modified", [])]
    assert sys.modules["a.b.c"] is c
    assert project.ns["a"] is sys.modules["a"]
    assert project.ns["a"].b.c.VALUE == 2
    assert "c" not in project.ns and "b" not in project.ns


def test_import_dotted_as_binds_the_submodule(project):
    project.write("a/__init__.py", "")
    project.write("a/b/__init__.py", "")
    project.write("a/b/c.py", "VALUE = 1\n")
    project.register("import a.b.c as x")
    c = sys.modules["a.b.c"]
    assert project.ns["x"] is c
    project.ns["x"] = "clobbered"

    project.write("a/b/c.py", "VALUE = 2\n")
    events = project.sync()

    assert summary(events) == [("a.b.c", "modified", [])]
    assert project.ns["x"] is c
    assert project.ns["x"].VALUE == 2
    assert "a" not in project.ns


def test_from_import_binds_the_new_value(project):
    project.write("m.py", "def n():\n    return 'old'\n")
    project.register("from m import n")
    old = project.ns["n"]
    assert old() == "old"

    project.write("m.py", "def n():\n    return 'new'\n")
    events = project.sync()

    assert summary(events) == [("m", "modified", [])]
    assert project.ns["n"] is not old
    assert project.ns["n"] is sys.modules["m"].n
    assert project.ns["n"]() == "new"


def test_from_import_as_binds_the_alias_only(project):
    project.write("m.py", "n = 1\n")
    project.register("from m import n as k")
    assert project.ns["k"] == 1

    project.write("m.py", "n = 2\n")
    project.sync()

    assert project.ns["k"] == 2
    assert "n" not in project.ns


def test_star_import_with_all_binds_exactly_all(project):
    project.write(
        "m.py",
        """\
        __all__ = ["a", "_b"]
        a = 1
        _b = 1
        c = 1
        """,
    )
    project.register("from m import *")
    assert (project.ns["a"], project.ns["_b"]) == (1, 1)
    assert "c" not in project.ns

    project.write(
        "m.py",
        """\
        __all__ = ["a", "_b", "d"]
        a = 2
        _b = 2
        c = 2
        d = 2
        e = 2
        """,
    )
    events = project.sync()

    assert summary(events) == [("m", "modified", [])]
    assert (project.ns["a"], project.ns["_b"], project.ns["d"]) == (2, 2, 2)
    assert "c" not in project.ns
    assert "e" not in project.ns


def test_star_import_without_all_binds_public_names(project):
    project.write("m.py", "a = 1\n_private = 1\n")
    project.register("from m import *")
    assert project.ns["a"] == 1
    assert "_private" not in project.ns

    project.write("m.py", "a = 2\nb = 2\n_private = 2\n")
    project.sync()

    assert (project.ns["a"], project.ns["b"]) == (2, 2)
    assert "_private" not in project.ns


def test_star_import_leaves_names_that_vanished(project):
    # Re-running `from m import *` binds what m has now and deletes nothing.
    project.write("m.py", "a = 1\ngone = 1\n")
    project.register("from m import *")

    project.write("m.py", "a = 2\n")
    project.sync()

    assert project.ns["a"] == 2
    assert project.ns["gone"] == 1


# ---------------------------------------------------------------------------
# Later statements win


def test_later_from_import_wins_within_one_registration(project):
    project.write("a.py", "x = 'a1'\n")
    project.write("b.py", "x = 'b1'\n")
    project.register("from a import x\nfrom b import x")
    assert project.ns["x"] == "b1"

    project.write("a.py", "x = 'a2'\n")
    events = project.sync()
    assert summary(events) == [("a", "modified", [])]
    assert project.ns["x"] == "b1"

    project.write("b.py", "x = 'b2'\n")
    project.sync()
    assert project.ns["x"] == "b2"


def test_later_registration_wins(project):
    project.write("a.py", "x = 'a1'\n")
    project.write("b.py", "x = 'b1'\n")
    project.register("from b import x")
    project.register("from a import x")
    assert project.ns["x"] == "a1"

    project.write("b.py", "x = 'b2'\n")
    project.sync()
    assert project.ns["x"] == "a1"

    project.write("a.py", "x = 'a2'\n")
    project.sync()
    assert project.ns["x"] == "a2"


def test_star_then_from_import_of_same_name(project):
    project.write("a.py", "x = 'a1'\ny = 'a1'\n")
    project.write("b.py", "x = 'b1'\n")
    project.register("from a import *\nfrom b import x")
    assert (project.ns["x"], project.ns["y"]) == ("b1", "a1")

    # Reloading the star module: its other names update, x stays b's.
    project.write("a.py", "x = 'a2'\ny = 'a2'\n")
    events = project.sync()
    assert summary(events) == [("a", "modified", [])]
    assert (project.ns["x"], project.ns["y"]) == ("b1", "a2")

    # Reloading the from-import module: x is b's new value.
    project.write("b.py", "x = 'b2'\n")
    events = project.sync()
    assert summary(events) == [("b", "modified", [])]
    assert (project.ns["x"], project.ns["y"]) == ("b2", "a2")

    # Both at once: still b's.
    project.write("a.py", "x = 'a3'\ny = 'a3'\n")
    project.write("b.py", "x = 'b3'\n")
    project.sync()
    assert (project.ns["x"], project.ns["y"]) == ("b3", "a3")


def test_from_import_then_star_of_same_name(project):
    project.write("a.py", "x = 'a1'\n")
    project.write("b.py", "x = 'b1'\n")
    project.register("from b import x")
    project.register("from a import *")
    assert project.ns["x"] == "a1"

    project.write("b.py", "x = 'b2'\n")
    project.sync()
    assert project.ns["x"] == "a1"

    project.write("a.py", "x = 'a2'\n")
    project.sync()
    assert project.ns["x"] == "a2"


def test_star_import_gaining_a_name_bound_later_elsewhere(project):
    # `from a import *` then `from b import x`: a gains x on reload; b's x still wins.
    project.write("a.py", "y = 1\n")
    project.write("b.py", "x = 'b'\n")
    project.register("from a import *\nfrom b import x")

    project.write("a.py", "y = 2\nx = 'a'\n")
    project.sync()

    assert project.ns["x"] == "b"
    assert project.ns["y"] == 2


def test_star_module_dropping_a_name_from_all_uncovers_the_earlier_binding(project):
    project.write("a.py", "x = 'a.x'\n")
    project.write("c.py", "x = 'c.x'\ny = 'c.y'\n")
    project.register("from a import x\nfrom c import *")
    assert (project.ns["x"], project.ns["y"]) == ("c.x", "c.y")

    project.write("c.py", "__all__ = ['y']\nx = 'c.x2'\ny = 'c.y2'\n")
    assert summary(project.sync()) == [("c", "modified", [])]

    # Running the two statements again binds x from a: c no longer exports it.
    assert project.ns["y"] == "c.y2"
    assert project.ns["x"] == "a.x"


@pytest.mark.parametrize(
    "new_c",
    [
        "y = 'c.y2'\n",  # x no longer defined
        "y = 'c.y2'\n_x = 'c.x2'\n",  # x became private
    ],
)
def test_star_module_dropping_a_name_keeps_exporting_the_leftover(project, new_c):
    project.write("a.py", "x = 'a.x'\n")
    project.write("c.py", "x = 'c.x'\ny = 'c.y'\n")
    project.register("from a import x\nfrom c import *")

    project.write("c.py", new_c)
    with pytest.warns(
        liveimport.StaleNameWarning, match="x is no longer defined in the source of c"
    ):
        assert summary(project.sync()) == [("c", "modified", [])]

    # As after importlib.reload: c still holds x (left over), and
    # `from c import *` still exports it.
    assert project.ns["y"] == "c.y2"
    assert project.ns["x"] == "c.x"


def test_reregistering_earlier_statement_makes_it_win_again(project):
    project.write("a.py", "x = 'a1'\n")
    project.write("b.py", "x = 'b1'\n")
    project.register("from a import x")
    project.register("from b import x")
    project.register("from a import x")
    assert project.ns["x"] == "a1"

    project.write("b.py", "x = 'b2'\n")
    project.sync()
    assert project.ns["x"] == "a1"


def test_alias_and_plain_name_are_different_bindings(project):
    project.write("a.py", "x = 'a1'\n")
    project.write("b.py", "x = 'b1'\n")
    project.register("from a import x as k\nfrom b import x")

    project.write("a.py", "x = 'a2'\n")
    project.write("b.py", "x = 'b2'\n")
    project.sync()

    assert (project.ns["k"], project.ns["x"]) == ("a2", "b2")


def test_import_as_then_from_import_same_name(project):
    project.write("a.py", "V = 'a1'\n")
    project.write("b.py", "k = 'b1'\n")
    project.register("import a as k\nfrom b import k")
    assert project.ns["k"] == "b1"

    project.write("a.py", "V = 'a2'\n")
    project.sync()
    assert project.ns["k"] == "b1"


# ---------------------------------------------------------------------------
# What is never touched


def test_names_defined_by_the_notebook_are_never_touched(project):
    project.write("m.py", "a = 1\n")
    project.register("from m import *")
    project.run("mine = 'notebook'\nmine_too = [1, 2]")
    kept = project.ns["mine_too"]

    project.write("m.py", "a = 2\nb = 2\n")
    project.sync()

    assert project.ns["a"] == 2
    assert project.ns["mine"] == "notebook"
    assert project.ns["mine_too"] is kept


def test_unrelated_namespace_is_not_touched(project):
    project.write("m.py", "x = 1\n")
    project.write("k.py", "x = 'k'\n")
    other: dict = {}
    exec("from k import x", other)
    liveimport.register(other, "from k import x")
    project.register("from m import x")

    project.write("m.py", "x = 2\n")
    project.sync()

    assert project.ns["x"] == 2
    assert other["x"] == "k"


def test_names_only_bound_by_other_modules_keep_their_value(project):
    project.write("m.py", "x = 1\n")
    project.write("k.py", "z = 'k1'\n")
    project.register("from m import x\nfrom k import z")
    project.ns["z_before"] = project.ns["z"]

    project.write("m.py", "x = 2\n")
    events = project.sync()

    assert summary(events) == [("m", "modified", [])]
    assert project.ns["x"] == 2
    assert project.ns["z"] is project.ns["z_before"]


# ---------------------------------------------------------------------------
# Dependents see new values


def test_dependent_module_gets_the_new_function(project):
    project.write("base.py", "def f():\n    return 'old'\n")
    project.write("user.py", "from base import f\n\ndef g():\n    return 'g:' + f()\n")
    project.register("from user import g")
    assert project.ns["g"]() == "g:old"

    project.write("base.py", "def f():\n    return 'new'\n")
    events = project.sync()

    assert summary(events) == [("base", "modified", []), ("user", "dependent", ["base"])]
    assert project.ns["g"]() == "g:new"
    assert sys.modules["user"].f is sys.modules["base"].f


@pytest.mark.parametrize(
    "stmt, bound",
    [
        ("import m", "m"),
        ("import m as mm", "mm"),
        ("from m import VALUE", "VALUE"),
        ("from m import VALUE as V", "V"),
        ("from m import *", "VALUE"),
    ],
)
def test_each_statement_form_sees_the_edit(project, stmt, bound):
    project.write("m.py", "VALUE = 'one'\n")
    project.register(stmt)

    project.write("m.py", "VALUE = 'two'\n")
    events = project.sync()

    assert summary(events) == [("m", "modified", [])]
    value = project.ns[bound]
    if not isinstance(value, str):
        value = value.VALUE
    assert value == "two"
