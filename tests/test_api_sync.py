"""sync(): forced reloads, atomic rollback, error reporting, ReloadEvent.

Failures are provoked by real module code (a module that raises while
reloading, a name that disappears, a syntax error on disk).
"""

from __future__ import annotations

import os
import re
import sys
import time
import warnings

import pytest

import liveimport


def summary(events: list[liveimport.ReloadEvent]) -> list[tuple[str, str, list[str]]]:
    return [(e.module, e.reason, list(e.after)) for e in events]


def chain(project) -> None:
    """d -> c -> b -> a (each imports the previous); the user registers d and a."""
    project.write("a.py", "def f():\n    return 'a1'\n")
    project.write("b.py", "import a\n\ndef g():\n    return 'b(' + a.f() + ')'\n")
    project.write("c.py", "import b\n\nMODE = 'ok'\n\ndef h():\n    return 'c(' + b.g() + ')'\n")
    project.write("d.py", "import c\n\ndef top():\n    return 'd(' + c.h() + ')'\n")
    project.register("from d import top\nfrom a import f")


# ---------------------------------------------------------------------------
# Forced reloads


def test_force_reloads_unchanged_module_and_dependents(project):
    chain(project)
    b = sys.modules["b"]
    old_g = b.g
    events = project.sync()
    assert events == []

    events = project.sync(force=["b"])

    assert summary(events) == [
        ("b", "forced", []),
        ("c", "dependent", ["b"]),
        ("d", "dependent", ["c"]),
    ]
    assert sys.modules["b"] is b
    assert b.g is not old_g  # the code really ran again
    assert project.ns["top"] is sys.modules["d"].top
    assert str(events[0]).startswith("Reloaded b")


def test_force_with_a_modified_module(project):
    chain(project)
    project.write("c.py", "import b\n\nMODE = 'ok'\n\ndef h():\n    return 'C(' + b.g() + ')'\n")

    events = project.sync(force=["a"])

    assert [(m, r) for m, r, _ in summary(events)] == [
        ("a", "forced"),
        ("b", "dependent"),
        ("c", "modified"),
        ("d", "dependent"),
    ]
    assert project.ns["top"]() == "d(C(b(a1)))"
    assert project.sync() == []


def test_force_rejects_untracked_names(project):
    chain(project)
    before = sys.modules["a"].f
    for name in ("no_such_module", "os", "json"):
        with pytest.raises(ValueError, match=name):
            liveimport.sync(force=[name])
    assert sys.modules["a"].f is before
    # A rejected force does not swallow pending changes.
    project.write("a.py", "def f():\n    return 'a2'\n")
    with pytest.raises(ValueError):
        liveimport.sync(force=["a", "nope"])
    events = project.sync()
    assert [e.module for e in events] == ["a", "b", "c", "d"]
    assert project.ns["top"]() == "d(c(b(a2)))"


# ---------------------------------------------------------------------------
# Rollback


def test_failing_reload_in_middle_of_chain_rolls_back(project):
    chain(project)
    mods = {name: sys.modules[name] for name in "abcd"}
    old_dicts = {name: dict(vars(m)) for name, m in mods.items()}
    ns_before = dict(project.ns)

    project.write("a.py", "NEW = 1\n\ndef f():\n    return 'a2'\n")
    project.write(
        "c.py",
        "import b\n\nMODE = 'ok'\n\ndef h():\n    return 'c(' + b.g() + ')'\n\n"
        "raise RuntimeError('c is broken')\n",
    )
    seen: list = []
    with pytest.raises(liveimport.ModuleError) as info:
        liveimport.sync(observer=seen.append)
    err = info.value

    assert seen == []
    assert err.module == "c"
    assert err.phase == "reload"
    assert os.path.samefile(err.file, project.path("c.py"))
    assert err.line == 8
    assert isinstance(err.__cause__, RuntimeError)
    assert str(err.__cause__) == "c is broken"
    assert "c" in str(err) and "c is broken" in str(err)

    # Every module reloaded in the sync has its old contents back, by identity.
    for name, module in mods.items():
        assert sys.modules[name] is module
        assert set(vars(module)) == set(old_dicts[name]), name
        for key, value in old_dicts[name].items():
            assert vars(module)[key] is value, (name, key)
    assert "NEW" not in vars(mods["a"])
    assert mods["b"].a is mods["a"]
    # The namespace is exactly as it was.
    assert project.ns.keys() == ns_before.keys()
    for key, value in ns_before.items():
        assert project.ns[key] is value, key
    assert project.ns["top"]() == "d(c(b(a1)))"

    # Still out of date: the next sync tries again and fails again.
    tracked = liveimport.tracked()
    assert tracked["a"].pending and tracked["c"].pending
    assert tracked["b"].pending and tracked["d"].pending  # they will reload with a
    with pytest.raises(liveimport.ModuleError):
        liveimport.sync(observer=seen.append)
    assert seen == []

    # Fixed: the whole sync happens.
    project.write("c.py", "import b\n\nMODE = 'fixed'\n\ndef h():\n    return 'c(' + b.g() + ')'\n")
    events = project.sync()
    assert [(m, r) for m, r, _ in summary(events)] == [
        ("a", "modified"),
        ("b", "dependent"),
        ("c", "modified"),
        ("d", "dependent"),
    ]
    assert events[1].after == ["a"]
    assert events[3].after == ["c"]
    assert mods["a"].NEW == 1
    assert mods["c"].MODE == "fixed"
    assert project.ns["top"]() == "d(c(b(a2)))"
    assert project.ns["f"] is mods["a"].f
    assert not any(t.pending for t in liveimport.tracked().values())
    assert project.sync() == []


def test_failure_caused_by_a_dependency_is_retried_after_fixing_it(project):
    # c itself is unchanged: it fails only because of what b now says.
    project.write("a.py", "MODE = 'ok'\n")
    project.write("b.py", "from a import MODE\n")
    project.write(
        "c.py",
        """\
        from b import MODE

        if MODE == 'bad':
            raise ValueError('bad mode')

        SEEN = MODE
        """,
    )
    project.register("from c import SEEN\nfrom a import MODE")
    a = sys.modules["a"]

    project.write("a.py", "MODE = 'bad'\n")
    with pytest.raises(liveimport.ModuleError) as info:
        project.sync()
    assert info.value.module == "c"
    assert info.value.phase == "reload"
    assert info.value.line == 4
    assert isinstance(info.value.__cause__, ValueError)
    assert a.MODE == "ok"
    assert sys.modules["b"].MODE == "ok"
    assert (project.ns["SEEN"], project.ns["MODE"]) == ("ok", "ok")
    assert liveimport.tracked()["c"].pending  # the failed module stays out of date

    project.write("a.py", "MODE = 'good'\n")
    events = project.sync()
    assert summary(events) == [
        ("a", "modified", []),
        ("b", "dependent", ["a"]),
        ("c", "dependent", ["b"]),
    ]
    assert (project.ns["SEEN"], project.ns["MODE"]) == ("good", "good")


def test_failure_of_first_module_reloads_nothing(project):
    project.write("a.py", "X = 1\n")
    project.write("b.py", "import a\nY = a.X\n")
    project.register("from b import Y")
    project.write("a.py", "X = 2\n1 / 0\n")

    with pytest.raises(liveimport.ModuleError) as info:
        project.sync()

    assert info.value.module == "a"
    assert info.value.line == 2
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert sys.modules["a"].X == 1
    assert project.ns["Y"] == 1


def test_name_removed_from_the_source_is_a_leftover_and_warned(project):
    project.write("m.py", "def n():\n    return 1\n\ndef other():\n    return 1\n")
    project.write("u.py", "import m\nU = 'u1'\n")
    project.register("from m import n, other\nfrom u import U")
    m = sys.modules["m"]
    old_n = m.n

    # The new version no longer defines n: as after importlib.reload, the
    # module keeps it, the registered import rebinds it, and a warning says so.
    project.write("m.py", "def other():\n    return 2\n")
    seen: list = []
    with pytest.warns(liveimport.StaleNameWarning) as caught:
        liveimport.sync(observer=seen.append)
    assert summary(seen) == [("m", "modified", []), ("u", "dependent", ["m"])]
    assert [(w.message.module, w.message.name) for w in caught] == [("m", "n")]
    assert "n is no longer defined in the source of m" in str(caught[0].message)
    assert issubclass(liveimport.StaleNameWarning, UserWarning)
    assert m.n is old_n and project.ns["n"] is old_n
    assert project.ns["other"]() == 2

    # Defined again: rebound to the new function, no warning.
    project.write("m.py", "def n():\n    return 3\n\ndef other():\n    return 3\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        events = project.sync()
    assert summary(events) == [("m", "modified", []), ("u", "dependent", ["m"])]
    assert project.ns["n"]() == 3 and project.ns["other"]() == 3


def test_name_deleted_from_the_module_by_hand_fails_rebind_and_rolls_back(project):
    project.write("m.py", "def n():\n    return 1\n\ndef other():\n    return 1\n")
    project.write("u.py", "import m\nU = 'u1'\n")
    project.register("from m import n, other\nfrom u import U")
    m = sys.modules["m"]
    del m.n  # by hand: the module object no longer has it
    old_other = m.other

    project.write("m.py", "def other():\n    return 2\n")
    seen: list = []
    with pytest.raises(liveimport.ModuleError) as info:
        liveimport.sync(observer=seen.append)
    err = info.value

    assert seen == []
    assert (err.module, err.phase) == ("m", "rebind")
    assert isinstance(err, RuntimeError)  # as the PyPI package's error for this case
    assert "disappeared" in str(err) and "'n'" in str(err)
    assert isinstance(err.__cause__, ImportError)
    # m (and its dependent u) were rolled back.
    assert not hasattr(m, "n") and m.other is old_other
    assert sys.modules["u"].U == "u1"
    assert project.ns["other"] is old_other

    project.write("m.py", "def n():\n    return 3\n\ndef other():\n    return 3\n")
    events = project.sync()
    assert summary(events) == [("m", "modified", []), ("u", "dependent", ["m"])]
    assert project.ns["n"]() == 3 and project.ns["other"]() == 3


def test_name_removed_by_the_module_itself_fails_rebind(project):
    project.write("m.py", "n = 1\nk = 1\n")
    project.register("from m import n, k")
    project.write("m.py", "n = 2\nk = 2\nglobals().pop('n', None)\n")
    with pytest.raises(liveimport.ModuleError) as info:
        project.sync()
    assert (info.value.module, info.value.phase) == ("m", "rebind")
    assert isinstance(info.value.__cause__, ImportError)
    assert (sys.modules["m"].n, sys.modules["m"].k) == (1, 1)
    assert (project.ns["n"], project.ns["k"]) == (1, 1)


def test_reload_keeps_the_namespace_as_importlib_reload_does(project):
    state = "try:\n    cache\nexcept NameError:\n    cache = {}\ncache[a] = 'v{n}'\n"
    count = "try:\n    count += 1\nexcept NameError:\n    count = 1\n"
    project.write("m.py", "a = 1\nold_helper = 1\n" + state.replace("{n}", "1") + count)
    project.register("import m")
    m = sys.modules["m"]
    cache = m.cache
    project.write("m.py", "a = 2\n" + state.replace("{n}", "2") + count)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # `import m` registers no name of m
        project.sync()
    assert project.ns["m"] is m and m.a == 2
    assert m.old_helper == 1  # left over, as importlib.reload leaves it
    assert m.cache is cache and cache == {1: "v1", 2: "v2"}
    assert m.count == 2


def test_name_vanishing_from_a_star_import_is_not_an_error(project):
    project.write("m.py", "a = 1\nb = 1\n")
    project.register("from m import *")
    project.write("m.py", "a = 2\n")
    with pytest.warns(liveimport.StaleNameWarning, match="b is no longer defined"):
        assert summary(project.sync()) == [("m", "modified", [])]
    assert project.ns["a"] == 2 and project.ns["b"] == 1  # b: left over, still exported


def test_keyboard_interrupt_is_reraised_after_rollback(project):
    project.write("a.py", "X = 1\n")
    project.write("b.py", "import a\nY = a.X\n")
    project.register("from a import X\nfrom b import Y")
    a = sys.modules["a"]
    project.write("a.py", "X = 2\n")
    project.write("b.py", "import a\nY = a.X\nraise KeyboardInterrupt\n")

    seen: list = []
    with pytest.raises(KeyboardInterrupt):
        liveimport.sync(observer=seen.append)

    assert seen == []
    assert a.X == 1 and sys.modules["b"].Y == 1
    assert (project.ns["X"], project.ns["Y"]) == (1, 1)
    project.write("b.py", "import a\nY = a.X * 10\n")
    events = project.sync()
    assert [e.module for e in events] == ["a", "b"]
    assert (project.ns["X"], project.ns["Y"]) == (2, 20)


def test_system_exit_becomes_module_error(project):
    project.write("a.py", "X = 1\n")
    project.register("from a import X")
    project.write("a.py", "import sys\nX = 2\nsys.exit(3)\n")

    with pytest.raises(liveimport.ModuleError) as info:
        project.sync()

    assert info.value.module == "a"
    assert info.value.phase == "reload"
    assert info.value.line == 3
    assert isinstance(info.value.__cause__, SystemExit)
    assert sys.modules["a"].X == 1
    assert project.ns["X"] == 1


def test_syntax_error_in_changed_module_reloads_nothing(project):
    project.write("a.py", "X = 1\n")
    project.write("b.py", "Y = 1\n")
    project.register("from a import X\nfrom b import Y")
    project.write("a.py", "X = 2\n")
    project.write("b.py", "Y = 1\n\ndef broken(:\n    pass\n")

    seen: list = []
    with pytest.raises(liveimport.ModuleError) as info:
        liveimport.sync(observer=seen.append)
    err = info.value

    assert seen == []
    assert err.module == "b"
    assert err.phase == "analysis"
    assert os.path.samefile(err.file, project.path("b.py"))
    assert err.line == 3
    assert sys.modules["a"].X == 1
    assert project.ns["X"] == 1
    assert liveimport.tracked()["b"].pending
    assert liveimport.tracked()["a"].pending

    project.write("b.py", "Y = 2\n")
    events = project.sync()
    assert summary(events) == [("a", "modified", []), ("b", "modified", [])]
    assert (project.ns["X"], project.ns["Y"]) == (2, 2)


def test_syntax_error_in_changed_module_has_the_real_syntax_error_as_cause(project):
    project.write("b.py", "Y = 1\n")
    project.register("from b import Y")
    project.write("b.py", "Y = 1\n\ndef broken(:\n    pass\n")

    with pytest.raises(liveimport.ModuleError) as info:
        project.sync()

    cause = info.value.__cause__
    assert isinstance(cause, SyntaxError)
    assert os.path.samefile(cause.filename, project.path("b.py"))
    assert cause.lineno == 3


def test_module_error_attributes_and_str():
    err = liveimport.ModuleError("pkg.mod", "reload", "/x/pkg/mod.py", 7)
    assert (err.module, err.phase, err.file, err.line) == ("pkg.mod", "reload", "/x/pkg/mod.py", 7)
    assert isinstance(err, Exception)
    assert "pkg.mod" in str(err)


# ---------------------------------------------------------------------------
# ReloadEvent


def test_reload_event_str_forms():
    now = time.time()
    modified = liveimport.ReloadEvent("X", "modified", now - 18.4, [])
    assert str(modified) == "Reloaded X modified 18 seconds ago"
    assert (modified.module, modified.reason, modified.after) == ("X", "modified", [])
    one = liveimport.ReloadEvent("Y", "dependent", now, ["A"])
    assert str(one) == "Reloaded Y because A reloaded"
    two = liveimport.ReloadEvent("Y", "dependent", now, ["A", "B"])
    assert str(two) == "Reloaded Y because A and B reloaded"
    three = liveimport.ReloadEvent("Y", "dependent", now, ["A", "B", "C"])
    assert str(three) == "Reloaded Y because A, B, and C reloaded"
    four = liveimport.ReloadEvent("Y", "dependent", now, ["A", "B", "C", "D"])
    assert str(four) == "Reloaded Y because A, B, C, and D reloaded"


def test_reload_event_str_from_a_real_sync(project):
    for name in ("a", "b", "c"):
        project.write(f"{name}.py", f"V = '{name}1'\n")
    project.write("two.py", "import a, b\n")
    project.write("three.py", "import a\nimport b\nimport c\n")
    project.register("import two, three")
    past = time.time() - 30
    for name in ("a", "b", "c"):
        path = project.write(f"{name}.py", f"V = '{name}2'\n")
        os.utime(path, (past, past))

    events = project.sync()

    assert [e.module for e in events] == ["a", "b", "two", "c", "three"]
    by_name = {e.module: e for e in events}
    for name in ("a", "b", "c"):
        assert by_name[name].reason == "modified"
        assert abs(by_name[name].mtime - os.stat(project.path(f"{name}.py")).st_mtime) < 1e-3
        assert re.fullmatch(rf"Reloaded {name} modified 3\d seconds ago", str(by_name[name]))
    assert str(by_name["two"]) == "Reloaded two because a and b reloaded"
    assert str(by_name["three"]) == "Reloaded three because a, b, and c reloaded"
    assert sys.modules["three"].c.V == "c2"


def test_rebind_failure_in_one_namespace_updates_no_namespace(project):
    project.write("m.py", "a = 1\nb = 1\n")
    ns2: dict = {}
    project.register("from m import a")
    exec("from m import b", ns2)
    liveimport.register(ns2, "from m import b")

    project.write("m.py", "a = 2\ndel b\n")
    with pytest.raises(liveimport.ModuleError) as info:
        project.sync()
    assert (info.value.module, info.value.phase) == ("m", "rebind")
    assert project.ns["a"] == 1 and ns2["b"] == 1
    assert sys.modules["m"].a == 1

    project.write("m.py", "a = 3\nb = 3\n")
    project.sync()
    assert project.ns["a"] == 3 and ns2["b"] == 3


def test_star_import_with_a_bad_all_fails_the_sync(project):
    project.write("m.py", "__all__ = ['a']\na = 1\n")
    project.register("from m import *")
    project.write("m.py", "__all__ = ['a', 'missing']\na = 2\n")
    with pytest.raises(liveimport.ModuleError) as info:
        project.sync()
    assert (info.value.module, info.value.phase) == ("m", "rebind")
    assert "missing" in str(info.value)
    assert project.ns["a"] == 1
    assert sys.modules["m"].__all__ == ["a"]


def test_error_line_is_the_line_in_the_failing_module(project):
    project.write("helper.py", "def boom():\n    raise LookupError('deep')\n")
    project.write("m.py", "import helper\nX = 1\n")
    project.register("from m import X")
    project.write("m.py", "import helper\nX = 2\n\nhelper.boom()\n")
    with pytest.raises(liveimport.ModuleError) as info:
        project.sync()
    err = info.value
    assert (err.module, err.phase, err.line) == ("m", "reload", 4)
    assert os.path.samefile(err.file, project.path("m.py"))
    assert isinstance(err.__cause__, LookupError)


def test_failing_import_of_a_new_module_rolls_back(project):
    project.write("app.py", "X = 1\n")
    project.write("other.py", "O = 1\n")
    project.register("from other import O\nfrom app import X")
    project.write("other.py", "O = 2\n")
    project.write("newmod.py", "N = 1\nraise OSError('newmod fails')\n")
    project.write("app.py", "import newmod\nX = newmod.N\n")

    with pytest.raises(liveimport.ModuleError) as info:
        project.sync()
    assert (info.value.module, info.value.phase) == ("app", "reload")
    assert isinstance(info.value.__cause__, OSError)
    assert sys.modules["other"].O == 1
    assert (project.ns["O"], project.ns["X"]) == (1, 1)
    assert "newmod" not in liveimport.tracked()

    project.write("newmod.py", "N = 5\n")
    events = project.sync()
    assert summary(events) == [("other", "modified", []), ("app", "modified", [])]
    assert (project.ns["O"], project.ns["X"]) == (2, 5)
    assert "newmod" in liveimport.tracked()


def test_force_an_indirect_module(project):
    project.write("util.py", "import itertools\nTOKEN = object()\n")
    project.write("app.py", "import util\nTOKEN = util.TOKEN\n")
    project.register("from app import TOKEN")
    old = project.ns["TOKEN"]

    events = project.sync(force=["util"])

    assert summary(events) == [("util", "forced", []), ("app", "dependent", ["util"])]
    assert project.ns["TOKEN"] is not old
    assert project.ns["TOKEN"] is sys.modules["util"].TOKEN


def test_force_several_modules(project):
    project.write("a.py", "T = object()\n")
    project.write("b.py", "T = object()\n")
    project.write("c.py", "import a\nimport b\n")
    project.register("import c\nfrom a import T")
    old = project.ns["T"]
    events = project.sync(force=["b", "a"])
    assert summary(events) == [
        ("a", "forced", []),
        ("b", "forced", []),
        ("c", "dependent", ["a", "b"]),
    ]
    assert project.ns["T"] is not old


# ---------------------------------------------------------------------------
# What a reloaded module looks like


def test_package_keeps_its_loaded_submodules_when_it_reloads(project):
    project.write("pkg/__init__.py", "P = 1\n")
    project.write("pkg/sub.py", "S = 1\n")
    project.register("import pkg\nimport pkg.sub")
    sub = sys.modules["pkg.sub"]

    project.write("pkg/__init__.py", "P = 2\n")
    assert summary(project.sync()) == [("pkg", "modified", [])]

    assert project.ns["pkg"].P == 2
    assert project.ns["pkg"].sub is sub
    assert project.ns["pkg"].__path__ == [str(project.path("pkg"))]
    assert os.path.samefile(project.ns["pkg"].__file__, project.path("pkg/__init__.py"))


def test_reloaded_module_keeps_its_import_attributes(project):
    project.write("m.py", "X = 1\n")
    project.register("import m")
    m = sys.modules["m"]
    before = {k: getattr(m, k) for k in ("__name__", "__spec__", "__loader__", "__file__")}

    project.write("m.py", "X = 2\n")
    project.sync()

    assert m.X == 2
    for key, value in before.items():
        assert getattr(m, key) is value or getattr(m, key) == value, key
    assert isinstance(m.__builtins__, dict | type(sys))


def test_reloaded_module_docstring_is_as_after_a_fresh_import(project):
    project.write("m.py", '"""Doc one."""\nX = 1\n')
    project.write("nodoc.py", "X = 1\n")
    project.register("import m, nodoc")
    assert sys.modules["nodoc"].__doc__ is None

    project.write("m.py", '"""Doc two."""\nX = 2\n')
    project.write("nodoc.py", "X = 2\n")
    project.sync()

    assert sys.modules["m"].__doc__ == "Doc two."
    assert sys.modules["nodoc"].X == 2
    assert sys.modules["nodoc"].__doc__ is None


def test_observer_runs_after_the_namespace_is_rebound(project):
    project.write("a.py", "X = 1\n")
    project.write("b.py", "import a\nY = a.X\n")
    project.register("from a import X\nfrom b import Y")
    project.write("a.py", "X = 2\n")
    seen = []

    def observer(event):
        seen.append((event.module, project.ns["X"], project.ns["Y"], sys.modules["b"].Y))

    liveimport.sync(observer=observer)
    assert seen == [("a", 2, 2, 2), ("b", 2, 2, 2)]


def test_package_init_with_relative_imports(project):
    project.write("pkg/__init__.py", "")
    project.write("pkg/util.py", "def h():\n    return 'h1'\n")
    project.write("pkg/sub/__init__.py", "from ..util import h\nfrom . import leaf\n")
    project.write("pkg/sub/leaf.py", "from .. import util\n\ndef f():\n    return util.h()\n")
    project.register("from pkg.sub import h, leaf")
    tracked = liveimport.tracked()
    assert tracked["pkg.sub"].dependencies == ("pkg.util", "pkg.sub.leaf")
    assert tracked["pkg.sub.leaf"].dependencies == ("pkg.util",)

    project.write("pkg/util.py", "def h():\n    return 'h2'\n")
    events = project.sync()
    assert summary(events) == [
        ("pkg.util", "modified", []),
        ("pkg.sub.leaf", "dependent", ["pkg.util"]),
        ("pkg.sub", "dependent", ["pkg.util", "pkg.sub.leaf"]),
    ]
    assert project.ns["h"]() == "h2" and project.ns["leaf"].f() == "h2"
