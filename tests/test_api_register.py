"""register(): what it accepts, what it tracks, and bad input.

Every failed registration must leave ``tracked()`` and ``registrations()``
exactly as they were.
"""

from __future__ import annotations

import os
import re
import shutil
import sys

import pytest

import liveimport
from liveimport import Binding


def summary(events: list[liveimport.ReloadEvent]) -> list[tuple[str, str, list[str]]]:
    return [(e.module, e.reason, list(e.after)) for e in events]


def state(*namespaces: dict) -> tuple:
    return (
        liveimport.tracked(),
        liveimport.registrations(),
        [liveimport.registrations(ns) for ns in namespaces],
        [liveimport.tracked(ns) for ns in namespaces],
    )


@pytest.fixture
def baseline(project):
    """A project with one registration already in place, plus loaded modules
    ``good`` (not registered) and ``mod5`` (loaded elsewhere, not in ns)."""
    project.write("base.py", "B = 1\n")
    project.write("good.py", "G = 1\n")
    project.write("mod5.py", "M = 5\n")
    project.register("from base import B")
    project.run("import good")
    exec("import mod5", {})
    assert "mod5" in sys.modules and "mod5" not in project.ns
    return project


def assert_unchanged(project, before) -> None:
    assert state(project.ns) == before
    # Still working: an edit of the registered module reloads only it.
    project.write("base.py", "B = 2\n")
    assert summary(project.sync()) == [("base", "modified", [])]
    assert project.ns["B"] == 2


# ---------------------------------------------------------------------------
# Bad input: the right error, and no state changed


@pytest.mark.parametrize(
    "stmts, error, pattern",
    [
        ("import (", SyntaxError, None),
        ("import good\nfrom base import", SyntaxError, None),
        ("import good\nx = 1", ValueError, None),
        ("import good\nprint('hi')", ValueError, None),
        ("if True:\n    import good", ValueError, None),
        ("def f():\n    import good", ValueError, None),
        ("try:\n    import good\nexcept ImportError:\n    pass", ValueError, None),
        ("from . import good", ImportError, "^Relative import . is outside any package$"),
        ("from .good import G", ImportError, "^Relative import .good is outside any package$"),
        ("import nothere", ValueError, "nothere"),
        ("import good\nimport nothere", ValueError, "nothere"),
        ("from nothere import x", ValueError, "nothere"),
        ("import good.sub", ValueError, "good.sub"),
        ("from good import zz", ValueError, "zz"),
        ("from good import G, zz", ValueError, "zz"),
        ("import mod5", ValueError, re.escape("No name mod5 in namespace; missing import mod5?")),
        ("import good as gg", ValueError, "gg"),
        ("from good import G as GG", ValueError, "GG"),
        (
            "from good import G, zz",
            ValueError,
            "^No name zz in good; missing from good import zz[?]$",
        ),
        ("import x = 1", SyntaxError, None),
        ("import good\nx = 1", ValueError, "^Expected only imports, found x = 1$"),
    ],
)
def test_bad_statements_raise_and_change_nothing(baseline, stmts, error, pattern):
    project = baseline
    project.run("import math, sys\nfrom math import pi\nG = 1")
    before = state(project.ns)

    with pytest.raises(error) as info:
        liveimport.register(project.ns, stmts)
    if pattern is not None:
        assert re.search(pattern, str(info.value)), str(info.value)
    assert type(info.value) is not liveimport.ModuleError

    assert_unchanged(project, before)


def test_missing_name_message_names_the_statement(baseline):
    with pytest.raises(ValueError) as info:
        liveimport.register(baseline.ns, "import mod5")
    assert str(info.value) == "No name mod5 in namespace; missing import mod5?"

    with pytest.raises(ValueError) as info:
        liveimport.register(baseline.ns, "from good import zz")
    assert "zz" in str(info.value) and "from good import zz" in str(info.value)


def test_bad_statement_from_a_fresh_namespace_leaves_no_trace(baseline):
    fresh: dict = {}
    before = state(baseline.ns, fresh)
    with pytest.raises(ValueError):
        liveimport.register(fresh, "from good import G")  # G not bound in fresh
    assert state(baseline.ns, fresh) == before
    assert liveimport.registrations(fresh) == []
    assert "good" not in liveimport.tracked()


def test_relative_import_escaping_its_package(project):
    project.write("pkg/__init__.py", "")
    project.write("pkg/sub/__init__.py", "")
    project.write("pkg/m.py", "X = 1\n")
    project.register("import pkg.sub, pkg.m")
    before = state(project.ns)
    for stmts, package, message in [
        ("from .. import m", "pkg", "Relative import .. would escape package pkg"),
        ("from ...m import X", "pkg.sub", "Relative import ...m would escape package pkg.sub"),
        ("from . import m", "", "Relative import . is outside any package"),
    ]:
        with pytest.raises(ImportError) as info:
            liveimport.register(project.ns, stmts, package=package)
        assert str(info.value) == message  # worded as the PyPI package words it
        assert state(project.ns) == before


def test_other_statements_allowed_when_asked(project):
    project.write("m.py", "X = 1\n")
    project.run("from m import X")
    liveimport.register(
        project.ns,
        """
        y = 1
        from m import X
        if True:
            import os
        print('never run')
        """,
        allow_other_statements=True,
    )
    # Only the top-level import is registered; the rest is ignored, not run.
    assert liveimport.registrations(project.ns) == [Binding("m", "X", None)]
    assert "y" not in project.ns
    assert list(liveimport.tracked()) == ["m"]

    project.write("m.py", "X = 2\n")
    assert summary(project.sync()) == [("m", "modified", [])]
    assert project.ns["X"] == 2


def test_statements_are_dedented_and_multiline_forms_count(project):
    project.write("m.py", "a = 1\nb = 1\nc = 1\n")
    project.write("k.py", "K = 1\n")
    project.run("from m import a, b, c\nimport k")
    liveimport.register(
        project.ns,
        """
            from m import (
                a,
                b as b,
                c,
            ); import k
        """,
    )
    assert liveimport.registrations(project.ns) == [
        Binding("m", "a", None),
        Binding("m", "b", "b"),
        Binding("m", "c", None),
        Binding("k", None, None),
    ]


def test_empty_registration_is_a_no_op(project):
    project.write("m.py", "X = 1\n")
    project.register("from m import X")
    before = state(project.ns)
    liveimport.register(project.ns, "")
    liveimport.register(project.ns, "   \n# only a comment\n")
    assert state(project.ns) == before


# ---------------------------------------------------------------------------
# Modules whose source cannot be used


def test_syntax_error_in_module_file_at_registration(project):
    project.write("ok.py", "O = 1\n")
    project.register("from ok import O")
    project.write("m.py", "X = 1\n")
    project.run("from m import X")
    project.write("m.py", "X = 1\nY = (\n")
    before = state(project.ns)

    with pytest.raises(liveimport.ModuleError) as info:
        liveimport.register(project.ns, "from m import X")

    err = info.value
    assert (err.module, err.phase) == ("m", "analysis")
    assert os.path.samefile(err.file, project.path("m.py"))
    assert err.line == 2
    assert state(project.ns) == before


def test_syntax_error_in_module_file_at_registration_has_cause(project):
    project.write("m.py", "X = 1\n")
    project.run("from m import X")
    project.write("m.py", "X = 1\nY = (\n")
    with pytest.raises(liveimport.ModuleError) as info:
        liveimport.register(project.ns, "from m import X")
    cause = info.value.__cause__
    assert isinstance(cause, SyntaxError)
    assert os.path.samefile(cause.filename, project.path("m.py"))
    assert cause.lineno == 2


def test_syntax_error_in_indirect_module_at_registration(project):
    project.write("dep.py", "D = 1\n")
    project.write("app.py", "import dep\nA = 1\n")
    project.run("from app import A")
    project.write("dep.py", "D = [\n")
    before = state(project.ns)

    with pytest.raises(liveimport.ModuleError) as info:
        liveimport.register(project.ns, "from app import A")

    assert (info.value.module, info.value.phase) == ("dep", "analysis")
    assert state(project.ns) == before


def test_non_utf8_file_without_cookie(project):
    project.write("ok.py", "O = 1\n")
    project.register("from ok import O")
    project.write("m.py", "X = 1\n")
    project.run("from m import X")
    project.write_bytes("m.py", b"X = 'caf\xe9'\n")
    before = state(project.ns)

    with pytest.raises(liveimport.ModuleError) as info:
        liveimport.register(project.ns, "from m import X")

    assert (info.value.module, info.value.phase) == ("m", "analysis")
    assert isinstance(info.value.__cause__, SyntaxError)  # as CPython reports it
    assert state(project.ns) == before


def test_non_utf8_edit_of_a_registered_module_fails_the_sync(project):
    project.write("m.py", "X = 1\n")
    project.register("from m import X")
    project.write_bytes("m.py", b"X = 'caf\xe9'\n")

    with pytest.raises(liveimport.ModuleError) as info:
        project.sync()
    assert (info.value.module, info.value.phase) == ("m", "analysis")
    assert project.ns["X"] == 1

    project.write_bytes("m.py", b"# -*- coding: latin-1 -*-\nX = 'caf\xe9'\n")
    assert summary(project.sync()) == [("m", "modified", [])]
    assert project.ns["X"] == "caf\u00e9"


def test_wrong_coding_cookie(project):
    project.write("m.py", "X = 1\n")
    project.register("from m import X")
    project.write_bytes("m.py", b"# -*- coding: no-such-codec -*-\nX = 2\n")
    with pytest.raises(liveimport.ModuleError) as info:
        project.sync()
    assert (info.value.module, info.value.phase) == ("m", "analysis")
    assert project.ns["X"] == 1


def test_latin1_coding_cookie(project):
    project.write("dep.py", "D = 1\n")
    project.write_bytes("m.py", b"# -*- coding: latin-1 -*-\nimport dep\nNAME = 'caf\xe9'\n")
    project.register("from m import NAME")
    assert project.ns["NAME"] == "caf\u00e9"
    assert liveimport.tracked()["m"].dependencies == ("dep",)

    project.write_bytes("m.py", b"# -*- coding: latin-1 -*-\nimport dep\nNAME = 'th\xe9'\n")
    assert summary(project.sync()) == [("m", "modified", [])]
    assert project.ns["NAME"] == "th\u00e9"

    project.write("dep.py", "D = 2\n")
    assert summary(project.sync()) == [("dep", "modified", []), ("m", "dependent", ["dep"])]


@pytest.mark.parametrize("codec", ["cp437", "mac-roman", "cp1252"])
def test_python_single_byte_coding_cookie(project, codec):
    # cp437 and mac-roman are unknown to the WHATWG decoders; cp1252 is
    # decoded as Python has it (0x81 undefined).
    def source(word: str) -> bytes:
        return f"# -*- coding: {codec} -*-\nimport dep\nNAME = '{word}'\n".encode(codec)

    project.write("dep.py", "D = 1\n")
    project.write_bytes("m.py", source("caf\u00e9"))
    project.register("from m import NAME")
    assert project.ns["NAME"] == "caf\u00e9"
    assert liveimport.tracked()["m"].dependencies == ("dep",)

    project.write_bytes("m.py", source("th\u00e9"))
    assert summary(project.sync()) == [("m", "modified", [])]
    assert project.ns["NAME"] == "th\u00e9"

    project.write("dep.py", "D = 2\n")
    assert summary(project.sync()) == [("dep", "modified", []), ("m", "dependent", ["dep"])]
    if codec == "cp1252":
        project.write_bytes("m.py", source("x")[:-3] + b"\x81'\n")
        with pytest.raises(liveimport.ModuleError) as info:
            project.sync()
        assert (info.value.module, info.value.phase) == ("m", "analysis")
        assert project.ns["NAME"] == "th\u00e9"


def test_utf8_bom_file(project):
    project.write("dep.py", "D = 1\n")
    project.write_bytes("m.py", "\ufeffimport dep\nNAME = 'caf\u00e9'\n".encode())
    project.register("from m import NAME")
    assert project.ns["NAME"] == "caf\u00e9"
    assert liveimport.tracked()["m"].dependencies == ("dep",)

    project.write_bytes("m.py", "\ufeffimport dep\nNAME = 'th\u00e9'\n".encode())
    assert summary(project.sync()) == [("m", "modified", [])]
    assert project.ns["NAME"] == "th\u00e9"


def test_module_whose_file_is_a_directory(project):
    project.write("ok.py", "O = 1\n")
    project.register("from ok import O")
    project.write("m.py", "X = 1\n")
    project.run("from m import X")
    os.remove(project.path("m.py"))
    os.mkdir(project.path("m.py"))
    before = state(project.ns)

    with pytest.raises(liveimport.ModuleError) as info:
        liveimport.register(project.ns, "from m import X")

    assert (info.value.module, info.value.phase) == ("m", "analysis")
    assert isinstance(info.value.__cause__, OSError)
    assert state(project.ns) == before


def test_registered_module_whose_file_becomes_a_directory(project):
    project.write("m.py", "X = 1\n")
    project.register("from m import X")
    os.remove(project.path("m.py"))
    os.mkdir(project.path("m.py"))
    # No module file any more: skipped like a deleted file (never an error
    # that would block every other module's reloads).
    assert project.sync() == []
    assert project.ns["X"] == 1

    shutil.rmtree(project.path("m.py"))
    project.write("m.py", "X = 2\n")
    assert summary(project.sync()) == [("m", "modified", [])]
    assert project.ns["X"] == 2


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_unreadable_module_file(project):
    project.write("m.py", "X = 1\n")
    project.run("from m import X")
    path = project.path("m.py")
    os.chmod(path, 0)
    try:
        before = state(project.ns)
        with pytest.raises(liveimport.ModuleError) as info:
            liveimport.register(project.ns, "from m import X")
        assert (info.value.module, info.value.phase) == ("m", "analysis")
        assert state(project.ns) == before
    finally:
        os.chmod(path, 0o644)


# ---------------------------------------------------------------------------
# What gets tracked


def test_from_pkg_import_submodule_tracks_the_submodule(project):
    project.write("pkg/__init__.py", "P = 1\n")
    project.write("pkg/sub.py", "S = 1\n")
    project.register("from pkg import sub")
    sub = sys.modules["pkg.sub"]
    tracked = liveimport.tracked()
    assert list(tracked) == ["pkg", "pkg.sub"]
    assert tracked["pkg"].direct and tracked["pkg.sub"].direct
    assert liveimport.registrations(project.ns) == [Binding("pkg", "sub", None)]

    project.write("pkg/sub.py", "S = 2\n")
    events = project.sync()

    assert summary(events) == [("pkg.sub", "modified", [])]
    assert project.ns["sub"] is sub
    assert project.ns["sub"].S == 2


def test_from_pkg_import_plain_name_does_not_track_more(project):
    project.write("pkg/__init__.py", "from .impl import thing\n")
    project.write("pkg/impl.py", "def thing():\n    return 1\n")
    project.register("from pkg import thing")
    tracked = liveimport.tracked()
    assert tracked["pkg"].direct
    # pkg.impl is tracked only indirectly, through pkg's own import.
    assert tracked["pkg.impl"].direct is False
    assert tracked["pkg"].dependencies == ("pkg.impl",)

    project.write("pkg/impl.py", "def thing():\n    return 2\n")
    events = project.sync()
    assert summary(events) == [("pkg.impl", "modified", []), ("pkg", "dependent", ["pkg.impl"])]
    assert project.ns["thing"]() == 2


def test_import_dotted_tracks_the_dotted_module(project):
    project.write("a/__init__.py", "")
    project.write("a/b/__init__.py", "")
    project.write("a/b/c.py", "V = 1\n")
    project.register("import a.b.c")
    tracked = liveimport.tracked()
    assert tracked["a.b.c"].direct
    assert os.path.samefile(tracked["a.b.c"].file, project.path("a/b/c.py"))
    assert liveimport.registrations(project.ns) == [Binding("a.b.c", None, None)]


def test_namespace_package(project):
    project.write("nsp/mod.py", "V = 1\n")
    project.write("nsp/other.py", "W = 1\n")
    project.register("from nsp import mod\nimport nsp.other")
    mod = sys.modules["nsp.mod"]
    tracked = liveimport.tracked()
    assert tracked["nsp"].file is None
    assert tracked["nsp.mod"].direct and tracked["nsp.other"].direct
    assert liveimport.registrations(project.ns) == [
        Binding("nsp", "mod", None),
        Binding("nsp.other", None, None),
    ]

    project.write("nsp/mod.py", "V = 2\n")
    project.write("nsp/other.py", "W = 2\n")
    events = project.sync()

    assert summary(events) == [("nsp.mod", "modified", []), ("nsp.other", "modified", [])]
    assert project.ns["mod"] is mod and mod.V == 2
    assert project.ns["nsp"].other.W == 2


def test_namespace_package_module_with_relative_import(project):
    project.write("nsp/base.py", "def f():\n    return 1\n")
    project.write("nsp/user.py", "from .base import f\n\ndef g():\n    return f() * 10\n")
    project.register("from nsp.user import g")
    assert liveimport.tracked()["nsp.user"].dependencies == ("nsp.base",)

    project.write("nsp/base.py", "def f():\n    return 2\n")
    events = project.sync()
    assert summary(events) == [
        ("nsp.base", "modified", []),
        ("nsp.user", "dependent", ["nsp.base"]),
    ]
    assert project.ns["g"]() == 20


def deep_package(project) -> None:
    project.write("pkg/__init__.py", "")
    project.write("pkg/util.py", "def h():\n    return 'h1'\n")
    project.write("pkg/sub/__init__.py", "")
    project.write("pkg/sub/helper.py", "from ..util import h\n\ndef k():\n    return 'k:' + h()\n")
    project.write("pkg/sub/deep/__init__.py", "")
    project.write("pkg/sub/deep/sibling.py", "from .. import helper\n\nS = 's1'\n")
    project.write(
        "pkg/sub/deep/leaf.py",
        """\
        from ...util import h
        from ..helper import k
        from . import sibling

        def result():
            return h() + '|' + k() + '|' + sibling.S
        """,
    )


def test_relative_imports_at_several_depths(project):
    deep_package(project)
    project.register("from pkg.sub.deep.leaf import result")
    assert project.ns["result"]() == "h1|k:h1|s1"
    tracked = liveimport.tracked()
    # `from . import sibling` depends on the submodule, not on the package.
    assert tracked["pkg.sub.deep.leaf"].dependencies == (
        "pkg.util",
        "pkg.sub.helper",
        "pkg.sub.deep.sibling",
    )
    assert tracked["pkg.sub.helper"].dependencies == ("pkg.util",)
    assert tracked["pkg.sub.deep.sibling"].dependencies == ("pkg.sub.helper",)
    assert [n for n, t in tracked.items() if t.direct] == ["pkg.sub.deep.leaf"]

    project.write("pkg/util.py", "def h():\n    return 'h2'\n")
    events = project.sync()

    assert summary(events) == [
        ("pkg.util", "modified", []),
        ("pkg.sub.helper", "dependent", ["pkg.util"]),
        ("pkg.sub.deep.sibling", "dependent", ["pkg.sub.helper"]),
        ("pkg.sub.deep.leaf", "dependent", ["pkg.util", "pkg.sub.helper", "pkg.sub.deep.sibling"]),
    ]
    assert project.ns["result"]() == "h2|k:h2|s1"

    project.write("pkg/sub/deep/sibling.py", "from .. import helper\n\nS = 's2'\n")
    events = project.sync()
    assert summary(events) == [
        ("pkg.sub.deep.sibling", "modified", []),
        ("pkg.sub.deep.leaf", "dependent", ["pkg.sub.deep.sibling"]),
    ]
    assert project.ns["result"]() == "h2|k:h2|s2"


def test_register_with_package_resolves_relative_statements(project):
    deep_package(project)
    project.ns["__package__"] = "pkg.sub"
    project.run("from .helper import k\nfrom ..util import h as hh\nfrom .deep import leaf")
    liveimport.register(
        project.ns,
        "from .helper import k\nfrom ..util import h as hh\nfrom .deep import leaf",
        package="pkg.sub",
    )
    assert liveimport.registrations(project.ns) == [
        Binding("pkg.sub.helper", "k", None),
        Binding("pkg.util", "h", "hh"),
        Binding("pkg.sub.deep", "leaf", None),
    ]
    tracked = liveimport.tracked()
    for name in ("pkg.sub.helper", "pkg.util", "pkg.sub.deep", "pkg.sub.deep.leaf"):
        assert tracked[name].direct, name

    project.write("pkg/util.py", "def h():\n    return 'h3'\n")
    events = project.sync()
    assert [e.module for e in events][:2] == ["pkg.util", "pkg.sub.helper"]
    assert "pkg.sub.deep.leaf" in [e.module for e in events]
    assert project.ns["hh"]() == "h3"
    assert project.ns["k"]() == "k:h3"
    assert project.ns["leaf"].result() == "h3|k:h3|s1"


def test_register_package_relative_from_import_of_a_submodule(project):
    project.write("pkg/__init__.py", "")
    project.write("pkg/util.py", "U = 1\n")
    project.ns["__package__"] = "pkg"
    project.run("from . import util")
    liveimport.register(project.ns, "from . import util", package="pkg")
    assert liveimport.registrations(project.ns) == [Binding("pkg", "util", None)]
    assert liveimport.tracked()["pkg.util"].direct

    project.write("pkg/util.py", "U = 2\n")
    assert summary(project.sync()) == [("pkg.util", "modified", [])]
    assert project.ns["util"].U == 2


def test_registering_the_same_statement_twice_is_idempotent(project):
    project.write("m.py", "X = 1\n")
    project.register("from m import X")
    before = state(project.ns)
    project.register("from m import X")
    project.register("from m import X\nfrom m import X")
    assert state(project.ns) == before

    project.write("m.py", "X = 2\n")
    assert summary(project.sync()) == [("m", "modified", [])]
    assert project.ns["X"] == 2


def test_namespace_must_be_a_dict(project):
    project.write("m.py", "X = 1\n")
    project.run("import m")
    with pytest.raises(TypeError):
        liveimport.register(["not", "a", "dict"], "import m")  # type: ignore[arg-type]
    assert liveimport.tracked() == {}


def test_sourceless_module_registers_and_never_reloads(project):
    import importlib
    import py_compile

    path = project.write("sl.py", "S = 1\n")
    py_compile.compile(str(path), cfile=str(project.path("sl.pyc")))
    os.remove(path)
    importlib.invalidate_caches()
    project.run("import sl")
    assert sys.modules["sl"].__file__.endswith(".pyc")
    liveimport.register(project.ns, "import sl")
    assert liveimport.tracked()["sl"].file is None
    assert liveimport.registrations() == [Binding("sl", None, None)]
    assert project.sync() == []
    with pytest.raises(ValueError, match="sl has no Python source"):
        liveimport.sync(force=["sl"])


@pytest.mark.parametrize("stmt", ["import _json", "import math, sys", "from math import pi"])
def test_extension_and_builtin_modules_register(project, stmt):
    import _json

    assert _json.__spec__.origin.endswith((".so", ".pyd")) or _json.__spec__.origin == "built-in"
    project.write("m.py", "V = 1\n")
    project.run(stmt + "\nimport m")
    liveimport.register(project.ns, stmt + "\nimport m")
    tracked = liveimport.tracked()
    assert all(tracked[name].file is None for name in tracked if name != "m")
    # They never reload, and do not stop the others from reloading.
    project.write("m.py", "V = 2\n")
    assert summary(project.sync()) == [("m", "modified", [])]
    assert project.ns["m"].V == 2


def test_module_without_a_spec_cannot_be_registered(project):
    import types

    module = types.ModuleType("nospec")
    sys.modules["nospec"] = module
    try:
        project.ns["nospec"] = module
        with pytest.raises(ValueError) as info:
            liveimport.register(project.ns, "import nospec")
        assert str(info.value) == "Module nospec has no spec"
        assert liveimport.tracked() == {} and liveimport.registrations() == []
    finally:
        del sys.modules["nospec"]


def test_dotted_import_needs_its_top_name_bound(project):
    project.write("a/__init__.py", "")
    project.write("a/b/__init__.py", "")
    project.write("a/b/c.py", "")
    exec("import a.b.c", {})
    with pytest.raises(ValueError) as info:
        liveimport.register(project.ns, "import a.b.c")
    assert str(info.value) == "No name a in namespace; missing import a.b.c?"
    with pytest.raises(ValueError, match="x"):
        liveimport.register(project.ns, "import a.b.c as x")
    assert liveimport.tracked() == {} and liveimport.registrations() == []


def test_sync_with_nothing_registered(project):
    project.write("m.py", "X = 1\n")
    project.run("import m")
    project.write("m.py", "X = 2\n")
    assert project.sync() == []
    assert sys.modules["m"].X == 1
