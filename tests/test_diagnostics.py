"""The `liveimport` logger and the bug-report text (python -m liveimport)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import liveimport


def test_one_debug_record_per_sync_with_the_plan_and_the_time(project, caplog):
    project.write("a.py", "V = 1\n")
    project.write("b.py", "import a\nW = a.V\n")
    project.register("from b import W")
    project.write("a.py", "V = 2\n")
    with caplog.at_level(logging.DEBUG, logger="liveimport"):
        project.sync()
        project.sync()  # nothing changed: no record
    records = [r for r in caplog.records if r.getMessage().startswith("sync:")]
    assert len(records) == 1
    message = records[0].getMessage()
    assert "2 reload(s)" in message and "changed: a" in message
    assert "plan: a (modified), b (dependent, after a)" in message
    for part in ("plan ", "reloads ", "rebinding ", "commit "):
        assert part in message


def test_nothing_is_printed_unless_logging_is_configured(tmp_path):
    (tmp_path / "m.py").write_text("V = 1\n")
    script = textwrap.dedent(
        """
        import sys, os, logging
        sys.path.insert(0, os.getcwd())
        import liveimport, m
        liveimport.register(globals(), "import m")
        open("m.py", "w").write("V = 2\\n")
        liveimport.sync()
        if sys.argv[1] == "debug":
            logging.basicConfig(level=logging.DEBUG)
            open("m.py", "w").write("V = 3\\n")
            liveimport.sync()
        """
    )
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    quiet = subprocess.run(
        [sys.executable, "-c", script, "quiet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == ""
    loud = subprocess.run(
        [sys.executable, "-c", script, "debug"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert "DEBUG:liveimport:sync: 1 reload(s)" in loud.stderr


def test_python_m_liveimport_prints_the_report(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "liveimport", "--workspace", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("LiveImport report\n")
    for needle in (
        f"liveimport: {liveimport.__version__} (engine ",
        "python: CPython",
        "platform: ",
        "mode: events",
        f"workspace {tmp_path}: ",
        "inotify limits: ",
        "tracked modules: 0",
        "last sync: none yet",
    ):
        assert needle in out, needle
    helped = subprocess.run(
        [sys.executable, "-m", "liveimport", "--help"], capture_output=True, text=True
    )
    assert helped.returncode == 0 and "bug report" in helped.stdout


def test_report_after_a_failed_sync(project):
    from liveimport._diagnostics import report

    project.write("r.py", "V = 1\n")
    project.register("from r import V")
    project.write("r.py", "V = 2\nraise ValueError('broken')\n")
    try:
        project.sync()
    except liveimport.ModuleError:
        pass
    text = report()
    assert "tracked modules: 1 (1 registered directly, 1 pending)" in text
    assert "last sync: failed: ModuleError" in text
    assert "cause: ValueError: broken" in text
