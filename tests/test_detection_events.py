"""Event-driven change detection (inotify), and the polling fallback.

Race-freedom: a file written and closed before sync() starts is seen by that
sync, in both modes, every time. The watched set follows the tracked set.
"""

from __future__ import annotations

import os
import sys

import pytest

import liveimport
from liveimport import _api

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="inotify is Linux-only")


def detection_state() -> tuple[str, int, int]:
    state = _api._state.engine.detection()
    return (state.mode.value, state.watched, state.polled)


def test_write_and_sync_immediately_a_thousand_times(project, detection):
    project.write("hot.py", "V = -1\n")
    project.register("import hot")
    misses = []
    for i in range(1000):
        # Different content each time, some of it the same size as before.
        project.write("hot.py", f"V = {i % 10}{'' if i % 3 else ' '}\n")
        events = project.sync()
        expected = i % 10
        if project.ns["hot"].V != expected:
            misses.append(i)
        if i and (i % 10, i % 3 != 0) != ((i - 1) % 10, (i - 1) % 3 != 0):
            assert [e.module for e in events] == ["hot"]
    assert misses == []


def test_events_watch_the_directories_of_tracked_files(project):
    liveimport.change_detection("events")
    for d in range(20):
        project.write(f"pkg{d}/__init__.py", "")
        project.write(f"pkg{d}/mod.py", f"V = {d}\n")
    project.write("app.py", "".join(f"import pkg{d}.mod\n" for d in range(20)))
    project.register("import app")
    mode, watched, polled = detection_state()
    assert mode == "events"
    assert watched == 21 and polled == 0  # the project root and 20 package dirs
    for d in (0, 7, 19):
        project.write(f"pkg{d}/mod.py", f"V = {d * 100 + 1}\n")
    events = project.sync()
    assert [e.module for e in events] == ["pkg0.mod", "pkg7.mod", "pkg19.mod", "app"]
    assert [sys.modules[f"pkg{d}.mod"].V for d in (0, 1, 7, 19)] == [1, 1, 701, 1901]


def test_watches_shrink_with_the_tracked_set_and_reset_releases_them(project):
    liveimport.change_detection("events")
    project.write("sub/__init__.py", "")
    project.write("sub/leaf.py", "V = 1\n")
    project.write("app.py", "import sub.leaf\n")
    project.register("import app")
    assert detection_state()[1] == 2
    # app stops importing sub.leaf: its directory is no longer watched.
    project.write("app.py", "X = 1\n")
    project.sync()
    assert "sub.leaf" not in liveimport.tracked()
    assert detection_state()[1] == 1
    liveimport.reset()
    assert detection_state()[1:] == (0, 0)
    fds = len(os.listdir("/proc/self/fd"))
    for _ in range(50):  # no descriptor leak across resets
        project.register("import app")
        liveimport.reset()
    assert len(os.listdir("/proc/self/fd")) <= fds + 1


def test_polling_mode_polls_every_directory(project):
    liveimport.change_detection("polling")
    try:
        project.write("a/m.py", "V = 1\n")
        project.write("b/m.py", "V = 1\n")
        project.write("app.py", "import a.m\nimport b.m\n")
        project.register("import app")
        assert detection_state() == ("polling", 0, 3)
        project.write("b/m.py", "V = 2\n")
        assert [e.module for e in project.sync()] == ["b.m", "app"]
    finally:
        liveimport.change_detection("events")


def test_environment_variable_selects_polling(tmp_path):
    import subprocess

    code = "import liveimport; print(liveimport.change_detection())"
    env = {**os.environ, "LIVEIMPORT_DETECTION": "polling"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert out.stdout.strip() == "polling", out.stderr
    env["LIVEIMPORT_DETECTION"] = "events"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert out.stdout.strip() == "events", out.stderr


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="events.*polling"):
        liveimport.change_detection("sometimes")


def test_many_modules_in_many_directories(project, detection):
    for d in range(50):
        for m in range(4):
            project.write(f"d{d}/m{m}.py", f"V = {m}\n")
    project.write("app.py", "".join(f"import d{d}.m{m}\n" for d in range(50) for m in range(4)))
    project.register("import app")
    assert len(liveimport.tracked()) == 1 + 200  # namespace packages have no file to track
    project.write("d33/m2.py", "V = 'edited'\n")
    project.write("d49/m0.py", "V = 'edited'\n")
    events = project.sync()
    assert [e.module for e in events] == ["d33.m2", "d49.m0", "app"]
    assert sys.modules["d33.m2"].V == "edited"
    assert [e.module for e in project.sync()] == []


def test_a_watch_removed_by_liveimport_does_not_force_a_full_recheck(project):
    previous = liveimport.change_detection()
    liveimport.change_detection("events")
    try:
        project.write("lib/helper.py", "H = 1\n")
        project.write("app.py", "import sys\nsys.path.insert(0, 'lib')\nimport helper\n")
        sys.path.insert(0, str(project.path("lib")))
        project.register("import app")
        assert "helper" in liveimport.tracked()
        watched = _api._state.engine.detection().watched
        # app stops importing helper: lib/ is no longer watched, and the
        # kernel reports the end of that watch (IN_IGNORED).
        project.write("app.py", "X = 1\n")
        assert [e.module for e in project.sync()] == ["app"]
        assert _api._state.engine.detection().watched == watched - 1
        before = _api._state.engine.detection().full_checks
        for _ in range(3):
            assert not _api._state.engine.poll()
        assert _api._state.engine.detection().full_checks == before
    finally:
        liveimport.change_detection(previous)
        sys.path.remove(str(project.path("lib")))
        sys.modules.pop("helper", None)
