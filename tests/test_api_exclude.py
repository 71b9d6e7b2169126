"""Excluded modules: never reloaded, and no link for reloads; include undoes it."""

from __future__ import annotations

import sys

import pytest

import liveimport


def summary(events):
    return [(e.module, str(e.reason), list(e.after)) for e in events]


@pytest.fixture(autouse=True)
def no_exclusions():
    yield
    liveimport.include(*liveimport.exclude())


def test_excluded_module_is_not_reloaded_nor_a_link(project):
    project.write("data.py", "import base\nROWS = [base.V]\n")
    project.write("base.py", "V = 1\n")
    project.write("app.py", "import data\nTOTAL = sum(data.ROWS)\n")
    project.register("from app import TOTAL")
    assert liveimport.exclude("data") == frozenset({"data"})
    assert liveimport.tracked()["data"].excluded
    assert liveimport.exclude() == frozenset({"data"})

    project.write("data.py", "import base\nROWS = [base.V, 100]\n")
    project.write("base.py", "V = 2\n")
    # data is excluded: not reloaded, and base's reload does not reach app
    # through it (base itself is not registered, so nothing reloads).
    assert project.sync() == []
    assert liveimport.pending() == []
    with pytest.raises(ValueError, match="excluded"):
        liveimport.sync(force=["data"])

    # Included again: what changed meanwhile reloads, and everything above it.
    assert liveimport.include("data") == frozenset()
    assert summary(project.sync()) == [
        ("base", "modified", []),
        ("data", "modified", ["base"]),
        ("app", "dependent", ["data"]),
    ]
    assert project.ns["TOTAL"] == 102


def test_exclusion_by_name_before_tracking_and_across_reset(project):
    liveimport.exclude("later")
    project.write("later.py", "V = 1\n")
    project.register("from later import V")
    assert liveimport.tracked()["later"].excluded
    liveimport.reset()
    assert liveimport.exclude() == frozenset({"later"})
    project.register("from later import V")
    project.write("later.py", "V = 2\n")
    assert project.sync() == []
    liveimport.include("later")
    assert [e.module for e in project.sync()] == ["later"]
    assert project.ns["V"] == 2


def test_excluded_registered_module_keeps_its_bindings(project):
    project.write("heavy.py", "DATA = 'loaded once'\n")
    project.register("from heavy import DATA")
    liveimport.exclude("heavy")
    project.write("heavy.py", "DATA = 'loaded twice'\n")
    assert project.sync() == []
    assert project.ns["DATA"] == "loaded once" and sys.modules["heavy"].DATA == "loaded once"
