"""Change detection: content decides, in both detection modes.

Every test runs with file-system events and with polling (the ``detection``
fixture).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import struct
import sys
import time

import pytest

import liveimport


def summary(events: list[liveimport.ReloadEvent]) -> list[tuple[str, str, list[str]]]:
    return [(e.module, e.reason, list(e.after)) for e in events]


def pending(name: str) -> bool:
    return liveimport.tracked()[name].pending


def test_detection_mode_is_set(detection):
    assert liveimport.change_detection() == detection


def test_touch_without_change_does_not_reload(project, detection):
    path = project.write("m.py", "X = 1\n")
    project.register("from m import X")
    module_dict = dict(vars(sys.modules["m"]))

    os.utime(path)  # now
    assert not pending("m")
    assert project.sync() == []
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # the future
    assert project.sync() == []
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - 50_000_000_000))  # the past
    assert project.sync() == []
    for key, value in module_dict.items():
        assert vars(sys.modules["m"])[key] is value


def test_identical_rewrite_does_not_reload(project, detection):
    project.write("m.py", "X = 1\n")
    project.write("app.py", "import m\n")
    project.register("from m import X\nimport app")
    for _ in range(3):
        project.write("m.py", "X = 1\n")
        assert not pending("m")
        assert project.sync() == []


def test_save_by_rename_with_the_same_content_does_not_reload(project, detection):
    project.write("m.py", "X = 1\n")
    project.register("from m import X")
    tmp = project.write("m.py.tmp", "X = 1\n")
    os.replace(tmp, project.path("m.py"))
    assert project.sync() == []


def test_save_by_rename_with_new_content_reloads(project, detection):
    project.write("m.py", "X = 1\n")
    project.register("from m import X")
    tmp = project.write("m.py.tmp", "X = 2\n")
    os.replace(tmp, project.path("m.py"))
    assert summary(project.sync()) == [("m", "modified", [])]
    assert project.ns["X"] == 2


def test_edit_then_revert_before_sync_does_not_reload(project, detection):
    # A branch switch and back.
    project.write("m.py", "X = 1\n")
    project.register("from m import X")
    project.write("m.py", "X = 2  # other branch\n")
    assert pending("m")
    project.write("m.py", "X = 1\n")
    assert not pending("m")
    assert project.sync() == []
    assert project.ns["X"] == 1


def test_same_size_edit_with_mtime_set_back_reloads_new_code(project, detection):
    sys.dont_write_bytecode = False  # conftest restores it
    path = project.write("m.py", "def f():\n    return 'old'\n")
    project.register("from m import f")
    cached = importlib.util.cache_from_source(str(path))
    assert os.path.exists(cached), "bytecode was written"
    st = os.stat(path)

    project.write("m.py", "def f():\n    return 'new'\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    st2 = os.stat(path)
    assert (st2.st_size, st2.st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    # The cached bytecode still matches the source's metadata, so a reload
    # that trusted it would run the old code.
    if os.path.exists(cached):
        with open(cached, "rb") as handle:
            header = handle.read(16)
        flags, mtime, size = struct.unpack("<III", header[4:16])
        assert flags == 0 and mtime == int(st.st_mtime) & 0xFFFFFFFF and size == st.st_size

    assert pending("m")
    events = project.sync()

    assert summary(events) == [("m", "modified", [])]
    assert project.ns["f"]() == "new"
    assert sys.modules["m"].f() == "new"


def test_two_edits_in_quick_succession_are_both_seen(project, detection):
    path = project.write("m.py", "X = 'v0'\n")
    project.register("from m import X")
    st = os.stat(path)
    for i in range(1, 6):
        project.write("m.py", f"X = 'v{i}'\n")
        # Same size, same timestamp: only the content tells them apart.
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert summary(project.sync()) == [("m", "modified", [])]
        assert project.ns["X"] == f"v{i}"
    assert project.sync() == []
    # Back to an earlier content: still a change from what is loaded.
    project.write("m.py", "X = 'v1'\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert summary(project.sync()) == [("m", "modified", [])]
    assert project.ns["X"] == "v1"


def test_two_edits_before_one_sync_reload_once_with_the_last(project, detection):
    project.write("m.py", "X = 'v0'\n")
    project.register("from m import X")
    project.write("m.py", "X = 'v1'\n")
    project.write("m.py", "X = 'v2'\n")
    assert summary(project.sync()) == [("m", "modified", [])]
    assert project.ns["X"] == "v2"


def test_deleted_file_is_skipped_without_error(project, detection):
    project.write("a.py", "A = 1\n")
    project.write("b.py", "import a\nB = a.A\n")
    project.register("from a import A\nfrom b import B")
    os.remove(project.path("a.py"))

    assert project.sync() == []
    tracked = liveimport.tracked()
    assert "a" in tracked and not tracked["a"].pending
    assert project.ns["A"] == 1
    assert sys.modules["a"].A == 1

    # Its dependents still reload on their own edits.
    project.write("b.py", "import a\nB = a.A + 10\n")
    assert summary(project.sync()) == [("b", "modified", [])]
    assert project.ns["B"] == 11


def test_deleted_file_recreated_with_new_content_reloads(project, detection):
    project.write("a.py", "A = 1\n")
    project.write("b.py", "import a\nB = a.A\n")
    project.register("from b import B\nfrom a import A")
    os.remove(project.path("a.py"))
    assert project.sync() == []

    project.write("a.py", "A = 2\n")
    assert pending("a")
    events = project.sync()
    assert summary(events) == [("a", "modified", []), ("b", "dependent", ["a"])]
    assert (project.ns["A"], project.ns["B"]) == (2, 2)


def test_deleted_file_recreated_with_same_content_does_not_reload(project, detection):
    project.write("a.py", "A = 1\n")
    project.register("from a import A")
    os.remove(project.path("a.py"))
    assert project.sync() == []
    project.write("a.py", "A = 1\n")
    assert project.sync() == []


def test_deleted_package_directory_recreated(project, detection):
    project.write("pkg/__init__.py", "")
    project.write("pkg/sub.py", "S = 1\n")
    project.register("from pkg.sub import S")
    shutil.rmtree(project.path("pkg"))
    assert project.sync() == []

    project.write("pkg/__init__.py", "")
    project.write("pkg/sub.py", "S = 2\n")
    assert summary(project.sync()) == [("pkg.sub", "modified", [])]
    assert project.ns["S"] == 2

    project.write("pkg/sub.py", "S = 3\n")
    assert summary(project.sync()) == [("pkg.sub", "modified", [])]
    assert project.ns["S"] == 3


def test_registering_a_module_whose_file_is_missing(project, detection):
    project.write("ok.py", "O = 1\n")
    project.register("from ok import O")
    project.write("m.py", "X = 1\n")
    project.run("from m import X")
    os.remove(project.path("m.py"))

    liveimport.register(project.ns, "from m import X")

    assert "m" in liveimport.tracked()
    assert liveimport.registrations(project.ns)[-1] == liveimport.Binding("m", "X", None)
    assert project.sync() == []

    project.write("m.py", "X = 2\n")
    events = project.sync()
    assert summary(events) == [("m", "modified", [])]
    assert project.ns["X"] == 2
    assert project.sync() == []


def test_missing_file_reappearing_with_the_old_content_reloads(project, detection):
    # What was loaded is unknown, so the reappeared file is loaded again.
    project.write("m.py", "X = 1\n")
    project.run("from m import X")
    os.remove(project.path("m.py"))
    liveimport.register(project.ns, "from m import X")
    old = sys.modules["m"].__dict__.get("X")
    project.write("m.py", "X = 1\n")
    assert summary(project.sync()) == [("m", "modified", [])]
    assert project.ns["X"] == old == 1
    assert project.sync() == []


def test_pending_reflects_the_disk(project, detection):
    project.write("a.py", "A = 1\n")
    project.write("b.py", "import a\n")
    project.write("c.py", "C = 1\n")
    project.register("import b, c")
    assert not any(t.pending for t in liveimport.tracked().values())
    project.write("a.py", "A = 2\n")
    assert pending("a")
    assert not pending("c")
    project.sync()
    assert not any(t.pending for t in liveimport.tracked().values())


def test_pending_includes_dependents_of_changed_modules(project, detection):
    project.write("a.py", "A = 1\n")
    project.write("b.py", "import a\n")
    project.write("top.py", "import b\n")
    project.register("import top")
    project.write("a.py", "A = 2\n")
    # b and top will reload at the next sync: they are out of date.
    assert [n for n, t in liveimport.tracked().items() if t.pending] == ["top", "b", "a"]
    assert [e.module for e in project.sync()] == ["a", "b", "top"]
    assert not any(t.pending for t in liveimport.tracked().values())


def test_switching_mode_keeps_pending_edits(project, detection):
    project.write("m.py", "X = 1\n")
    project.register("from m import X")
    project.write("m.py", "X = 2\n")
    other = "polling" if detection == "events" else "events"
    liveimport.change_detection(other)
    assert summary(project.sync()) == [("m", "modified", [])]
    assert project.ns["X"] == 2
    project.write("m.py", "X = 3\n")
    liveimport.change_detection(detection)
    assert summary(project.sync()) == [("m", "modified", [])]
    assert project.ns["X"] == 3


def test_many_modules_only_the_edited_reload(project, detection):
    for i in range(40):
        project.write(f"mod{i}.py", f"V = {i}\n")
    project.register("\n".join(f"from mod{i} import V as V{i}" for i in range(40)))
    for i in (3, 17, 39):
        project.write(f"mod{i}.py", f"V = {i * 100}\n")
    events = project.sync()
    assert summary(events) == [(f"mod{i}", "modified", []) for i in (3, 17, 39)]
    assert [project.ns[f"V{i}"] for i in (2, 3, 17, 39)] == [2, 300, 1700, 3900]


@pytest.mark.parametrize("cycles", [10])
def test_repeated_edit_sync_cycles(project, detection, cycles):
    project.write("a.py", "N = 0\n")
    project.write("b.py", "import a\nN = a.N\n")
    project.register("from b import N")
    for i in range(1, cycles + 1):
        project.write("a.py", f"N = {i}\n")
        events = project.sync()
        assert summary(events) == [("a", "modified", []), ("b", "dependent", ["a"])]
        assert project.ns["N"] == i


# ---------------------------------------------------------------------------
# Edits made well after the last look at a file (outside any timestamp race
# window), so that only the detection mechanism can find them.


def settle() -> None:
    time.sleep(0.06)


def test_settled_in_place_edit(project, detection):
    project.write("m.py", "X = 1\n")
    project.register("from m import X")
    settle()
    project.write("m.py", "X = 2\n")
    assert summary(project.sync()) == [("m", "modified", [])]
    assert project.ns["X"] == 2
    settle()
    assert project.sync() == []


def test_settled_same_size_edit_with_mtime_set_back(project, detection):
    path = project.write("m.py", "X = 1\n")
    project.register("from m import X")
    st = os.stat(path)
    settle()
    project.write("m.py", "X = 2\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert summary(project.sync()) == [("m", "modified", [])]
    assert project.ns["X"] == 2


def test_settled_rename_over(project, detection):
    project.write("m.py", "X = 1\n")
    project.register("from m import X")
    settle()
    tmp = project.write("m.py.swp", "X = 2\n")
    os.replace(tmp, project.path("m.py"))
    assert summary(project.sync()) == [("m", "modified", [])]
    assert project.ns["X"] == 2


def test_settled_delete_and_recreate(project, detection):
    project.write("m.py", "X = 1\n")
    project.register("from m import X")
    settle()
    os.remove(project.path("m.py"))
    assert project.sync() == []
    settle()
    project.write("m.py", "X = 2\n")
    assert summary(project.sync()) == [("m", "modified", [])]
    assert project.ns["X"] == 2


def test_settled_directory_swapped(project, detection):
    project.write("pkg/__init__.py", "")
    project.write("pkg/sub.py", "S = 1\n")
    project.register("from pkg.sub import S")
    settle()
    os.rename(project.path("pkg"), project.path("pkg_old"))
    project.write("pkg/__init__.py", "")
    project.write("pkg/sub.py", "S = 2\n")
    assert summary(project.sync()) == [("pkg.sub", "modified", [])]
    assert project.ns["S"] == 2
    settle()
    project.write("pkg/sub.py", "S = 3\n")
    assert summary(project.sync()) == [("pkg.sub", "modified", [])]
    assert project.ns["S"] == 3
    settle()
    project.write("pkg_old/sub.py", "S = 4\n")
    assert project.sync() == []


def test_settled_edit_of_a_symlinked_module(project, detection, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "lm.py").write_text("V = 1\n")
    os.symlink(real / "lm.py", project.path("lm.py"))
    project.register("from lm import V")
    settle()
    (real / "lm.py").write_text("V = 2\n")
    assert summary(project.sync()) == [("lm", "modified", [])]
    assert project.ns["V"] == 2


def test_settled_edit_of_an_indirect_module_in_a_subdirectory(project, detection):
    project.write("lib/__init__.py", "")
    project.write("lib/deep/__init__.py", "")
    project.write("lib/deep/util.py", "U = 1\n")
    project.write("app.py", "from lib.deep import util\nU = util.U\n")
    project.register("from app import U")
    settle()
    project.write("lib/deep/util.py", "U = 2\n")
    assert summary(project.sync()) == [
        ("lib.deep.util", "modified", []),
        ("app", "dependent", ["lib.deep.util"]),
    ]
    assert project.ns["U"] == 2
