"""In-place patching: objects made before a reload keep working.

Real modules on disk, real reloads; the old objects are checked through
references taken before the sync (instances, bound methods, callbacks held
by another module, Enum members in containers, pickles).
"""

from __future__ import annotations

import pickle
import sys
import textwrap

import pytest

import liveimport


@pytest.fixture
def patching(project):
    liveimport.patching(True)
    try:
        yield project
    finally:
        liveimport.patching(False)


def write(project, name: str, source: str) -> None:
    project.write(f"{name}.py", textwrap.dedent(source))


def reloads(project) -> list[str]:
    return [event.module for event in project.sync()]


def stale(project) -> list[str]:
    report = liveimport.last_sync()
    assert report is not None
    return [str(item) for item in report.stale_objects]


def test_the_setting(project):
    assert liveimport.patching() is False
    assert liveimport.patching(True) is True
    assert liveimport.patching() is True
    assert liveimport.patching(False) is False


# ---------------------------------------------------------------------------
# Functions


def test_functions_keep_their_identity_everywhere(patching):
    project = patching
    write(project, "geo", "def area(r):\n    return 3 * r * r\n")
    write(project, "registry", "import geo\nCALLBACKS = [geo.area]\n")
    project.register("from geo import area\nimport registry")
    area, callbacks = project.ns["area"], sys.modules["registry"].CALLBACKS
    write(project, "geo", "def area(r):\n    return 314 * r * r // 100\n")
    assert reloads(project) == ["geo", "registry"]
    assert project.ns["area"] is area and sys.modules["geo"].area is area
    assert area(10) == 314 and callbacks[0](10) == 314


def test_defaults_docs_annotations_and_attributes(patching):
    project = patching
    write(
        project,
        "fn",
        "def f(a, b=1, *, c=2) -> int:\n    'one'\n    return a + b + c\nf.tag = 'old'\n",
    )
    project.register("from fn import f")
    f = project.ns["f"]
    write(
        project,
        "fn",
        "def f(a, b=10, *, c=20) -> str:\n    'two'\n    return str(a + b + c)\nf.tag = 'new'\n",
    )
    reloads(project)
    assert f(1) == "31" and f.__doc__ == "two" and f.tag == "new"
    assert f.__annotations__ == {"return": str} and f.__kwdefaults__ == {"c": 20}


def test_decorated_functions(patching):
    project = patching
    source = """\
        import functools

        def deco(fn):
            @functools.wraps(fn)
            def wrapper(*args):
                return ("wrapped", fn(*args))
            return wrapper

        @deco
        def g(x):
            return x + {n}

        @functools.cache
        def cached(x):
            return x * {n}
        """
    write(project, "deco", source.replace("{n}", "1"))
    project.register("from deco import g, cached")
    g, cached, inner = project.ns["g"], project.ns["cached"], project.ns["g"].__wrapped__
    assert g(1) == ("wrapped", 2) and cached(2) == 2
    write(project, "deco", source.replace("{n}", "100"))
    reloads(project)
    assert project.ns["g"] is g and project.ns["cached"] is cached
    assert g(1) == ("wrapped", 101) and inner(1) == 101 and g.__wrapped__ is inner
    assert cached(2) == 200  # the cache was cleared


def test_closure_whose_free_variables_changed_is_replaced(patching):
    project = patching
    write(
        project, "cl", "def make(a):\n    def f():\n        return a\n    return f\nf = make(1)\n"
    )
    project.register("from cl import f")
    old = project.ns["f"]
    write(
        project,
        "cl",
        "def make(a, b):\n    def f():\n        return a + b\n    return f\nf = make(1, 2)\n",
    )
    reloads(project)
    assert project.ns["f"] is not old and project.ns["f"]() == 3  # rebound, not patched
    assert old() == 1  # the old closure, untouched


# ---------------------------------------------------------------------------
# Classes


POINT = """\
    import dataclasses

    class Base:
        def kind(self):
            return "base{n}"

    class Point(Base):
        dims = {n}

        def __init__(self, x, y):
            self.x, self.y = x, y

        def norm(self):
            return abs(self.x) + abs(self.y) + {n}

        def kind(self):
            return "point:" + super().kind()

        @property
        def twice(self):
            return 2 * self.x + {n}

        @classmethod
        def origin(cls):
            return cls(0, 0)

        @staticmethod
        def version():
            return {n}

        class Inner:
            def tag(self):
                return "inner{n}"

    ORIGIN = Point(0, 0)
    """


def test_existing_instances_get_the_new_methods(patching):
    project = patching
    write(project, "pt", POINT.replace("{n}", "1"))
    project.register("from pt import Point, ORIGIN, Base")
    Point, origin = project.ns["Point"], project.ns["ORIGIN"]
    p = Point(3, 4)
    bound = p.norm
    inner = Point.Inner()
    write(project, "pt", POINT.replace("{n}", "2"))
    assert reloads(project) == ["pt"]
    assert project.ns["Point"] is Point and isinstance(p, project.ns["Point"])
    assert p.norm() == 9 and bound() == 9
    assert p.kind() == "point:base2"  # super() still works: the class is the old one
    assert p.twice == 8 and Point.version() == 2 and Point.dims == 2
    assert type(Point.origin()) is Point
    assert isinstance(inner, Point.Inner) and inner.tag() == "inner2"
    # An instance the module made while it re-executed belongs to the old class.
    assert project.ns["ORIGIN"] is not origin and type(project.ns["ORIGIN"]) is Point
    assert pickle.loads(pickle.dumps(p)).norm() == 9
    assert stale(project) == []


def test_dataclass_field_added_with_a_default(patching):
    project = patching
    source = "import dataclasses\n\n@dataclasses.dataclass\nclass Item:\n    name: str\n"
    write(project, "dc", source)
    project.register("from dc import Item")
    Item = project.ns["Item"]
    old = Item("a")
    write(
        project,
        "dc",
        source + "    qty: int = 1\n\n    def total(self):\n        return self.qty\n",
    )
    reloads(project)
    assert project.ns["Item"] is Item and isinstance(old, Item)
    assert old.qty == 1 and old.total() == 1
    assert Item("b", 5).qty == 5 and repr(old) == "Item(name='a', qty=1)"


def test_enum_members_keep_their_identity(patching):
    project = patching
    source = (
        "import enum\n\nclass Color(enum.Enum):\n    RED = 1\n    BLUE = 2\n\n"
        "    def label(self):\n        return '{v}' + self.name\n\nFAVOURITE = Color.RED\n"
    )
    write(project, "col", source.replace("{v}", "v1:"))
    project.register("from col import Color, FAVOURITE")
    Color, red = project.ns["Color"], project.ns["Color"].RED
    by_color, colors = {red: "r"}, {red}
    write(project, "col", source.replace("{v}", "v2:"))
    reloads(project)
    assert project.ns["Color"] is Color and Color.RED is red and red == Color.RED
    assert by_color[Color.RED] == "r" and Color.RED in colors
    assert red.label() == "v2:RED" and project.ns["FAVOURITE"] is red


def test_enum_with_changed_members_is_replaced_and_reported(patching):
    project = patching
    write(project, "col", "import enum\n\nclass Color(enum.Enum):\n    RED = 1\n")
    project.register("from col import Color")
    project.ns["mine"] = project.ns["Color"].RED
    old = project.ns["Color"]
    write(project, "col", "import enum\n\nclass Color(enum.Enum):\n    RED = 1\n    GREEN = 2\n")
    reloads(project)
    assert project.ns["Color"] is not old
    assert stale(project) == ["mine (Color from col, replaced: its members changed)"]


@pytest.mark.parametrize(
    "before, after, reason",
    [
        (
            "class P:\n    __slots__ = ('x',)\n",
            "class P:\n    __slots__ = ('x', 'y')\n",
            "its __slots__ changed",
        ),
        ("class P:\n    pass\n", "class P(dict):\n    pass\n", "its bases changed"),
        (
            "class P:\n    pass\n",
            "class M(type):\n    pass\n\nclass P(metaclass=M):\n    pass\n",
            "its metaclass changed",
        ),
        (
            "from typing import NamedTuple\n\nclass P(NamedTuple):\n    x: int\n",
            "from typing import NamedTuple\n\nclass P(NamedTuple):\n    x: int\n    y: int = 0\n",
            "its fields changed",
        ),
        ("class P:\n    pass\n", "def P():\n    return 1\n", "it is no longer a class"),
    ],
)
def test_classes_that_cannot_be_kept_are_replaced_and_reported(patching, before, after, reason):
    project = patching
    write(project, "inc", before + "\nmade = [P() if not hasattr(P, '_fields') else P(1)]\n")
    project.register("from inc import P")
    old = project.ns["P"]
    project.ns["p"] = old(1) if hasattr(old, "_fields") else old()
    project.ns["several"] = {"k": project.ns["p"]}
    write(project, "inc", after)
    reloads(project)
    assert project.ns["P"] is not old
    assert stale(project) == [
        f"p (P from inc, replaced: {reason})",
        f"several['k'] (P from inc, replaced: {reason})",
    ]


# ---------------------------------------------------------------------------
# Other modules, rollback, off, opt-out


def test_dependents_import_the_kept_objects(patching):
    project = patching
    write(project, "base", "class Shape:\n    def sides(self):\n        return 0\n")
    write(project, "user", "from base import Shape\n\nclass Square(Shape):\n    pass\n")
    project.register("from user import Square\nfrom base import Shape")
    Shape, Square = project.ns["Shape"], project.ns["Square"]
    square = Square()
    write(project, "base", "class Shape:\n    def sides(self):\n        return 4\n")
    assert reloads(project) == ["base", "user"]
    assert project.ns["Shape"] is Shape and project.ns["Square"] is Square
    assert square.sides() == 4 and issubclass(Square, Shape)


def test_a_failed_sync_undoes_the_patches(patching):
    project = patching
    write(project, "a", "class K:\n    def v(self):\n        return 1\n\ndef f():\n    return 1\n")
    write(project, "b", "import a\nX = 1\n")
    project.register("from a import K, f\nimport b")
    K, f, k = project.ns["K"], project.ns["f"], project.ns["K"]()
    code, method = f.__code__, K.__dict__["v"]
    write(
        project,
        "a",
        "class K:\n    def v(self):\n        return 2\n    w = 5\n\ndef f():\n    return 2\n",
    )
    write(project, "b", "import a\nX = 1\nraise RuntimeError('b fails')\n")
    with pytest.raises(liveimport.ModuleError):
        project.sync()
    assert f() == 1 and f.__code__ is code and k.v() == 1 and K.__dict__["v"] is method
    assert not hasattr(K, "w") and sys.modules["a"].K is K
    assert liveimport.last_sync().error is not None
    write(project, "b", "import a\nX = 2\n")
    assert reloads(project) == ["a", "b"]
    assert f() == 2 and k.v() == 2 and K.w == 5


def test_patching_off_rebinds_new_objects_and_reports_stale_instances(project):
    assert liveimport.patching() is False
    write(project, "pt", POINT.replace("{n}", "1"))
    project.register("from pt import Point")
    Point = project.ns["Point"]
    project.ns["p"] = Point(1, 1)
    write(project, "pt", POINT.replace("{n}", "2"))
    reloads(project)
    assert project.ns["Point"] is not Point
    assert not isinstance(project.ns["p"], project.ns["Point"])
    assert project.ns["p"].norm() == 3  # the old code
    assert stale(project) == ["p (Point from pt, replaced: patching is off)"]


def test_a_module_can_opt_out(patching):
    project = patching
    write(project, "oo", "__liveimport_patch__ = False\n\ndef f():\n    return 1\n")
    project.register("from oo import f")
    old = project.ns["f"]
    write(project, "oo", "__liveimport_patch__ = False\n\ndef f():\n    return 2\n")
    reloads(project)
    assert project.ns["f"] is not old and old() == 1 and project.ns["f"]() == 2
