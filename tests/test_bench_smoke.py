"""Smoke test of the benchmark harness: ``bench/run.py --smoke`` at the tiniest size.

Checks only that the harness runs and its JSON and Markdown are well-formed.
It never asserts on a timing: benchmark numbers belong in ``bench/RESULTS.md``.
Our build is measured with this interpreter; the anchors (PyPI liveimport,
autoreload, no-tool control) only when their venv already exists, since
creating it takes longer than this test may.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

# Starts the benchmark's worker processes; the harness is the same on every Python.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
ANCHORS = ROOT / ".bench-venvs" / "anchors"

NUMBERS = (
    "idle_us",
    "idle_iqr_us",
    "cell_us_without",
    "leaf_ms",
    "leaf_floor_ms",
    "leaf_ratio",
    "top_ms",
    "top_floor_ms",
    "top_ratio",
    "rss_kib",
    "rss_register_kib",
    "tracemalloc_kib",
    "tracemalloc_register_kib",
    "hook_us",
)
COUNTS = (
    "leaf_stale",
    "top_stale",
    "leaf_stale_total",
    "top_stale_total",
    "leaf_unnecessary",
    "top_unnecessary",
    "leaf_missed",
    "top_missed",
    "leaf_order",
    "top_order",
)


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def test_bench_harness_smoke(tmp_path: Path) -> None:
    pytest.importorskip("IPython")
    if importlib.util.find_spec("liveimport") is None:
        pytest.skip("liveimport is not installed in this interpreter (run `make build`)")
    tools = ["ours"]
    if (ANCHORS / ".bench-stamp").exists():
        tools += ["pypi", "autoreload", "control"]
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "run.py"),
        "--smoke",
        "--tools",
        ",".join(tools),
        "--ours-python",
        sys.executable,
        "--no-setup",
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]

    data = json.loads((tmp_path / "results.json").read_text())
    assert data["mode"] == "smoke"
    assert data["sizes"] == [10]
    assert set(data["tool_keys"]) == set(tools)
    assert isinstance(data["commit"], str) and data["commit"]
    assert isinstance(data["date"], str) and data["date"]
    ws = data["workspaces"]["10"]
    assert ws["n"] == 10 and ws["leaf_dependents"] >= 1 and ws["top_dependents"] >= 1

    cells = data["results"]["10"]
    for key in tools:
        cell = cells[key]
        assert cell["ok"] is True, (key, cell.get("error"))
        for name in NUMBERS:
            assert _is_number(cell[name]), (key, name, cell[name])
        for name in COUNTS:
            assert isinstance(cell[name], int) and cell[name] >= 0, (key, name, cell[name])
        assert cell["leaf_plan"] == ws["leaf_dependents"] + 1
        assert cell["top_plan"] == ws["top_dependents"] + 1
    # Tools that register imports report a register time; the control has none.
    assert _is_number(cells["ours"]["register_ms"])
    if "control" in cells:
        assert cells["control"]["register_ms"] is None

    md = (tmp_path / "results.md").read_text()
    assert "### N = 10" in md and "| metric |" in md and "### Targets" in md
    for raw in (tmp_path / "workers").glob("*.json"):
        json.loads(raw.read_text())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_kernel_rss_harness_smoke(tmp_path: Path) -> None:
    """``bench/kernel_rss.py`` starts a real ipykernel with our build, has it
    import a 10-module app, then LiveImport, and register; the RSS and time it
    reports come from inside that kernel."""
    pytest.importorskip("jupyter_client")
    pytest.importorskip("ipykernel")
    if importlib.util.find_spec("liveimport") is None:
        pytest.skip("liveimport is not installed in this interpreter (run `make build`)")
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "kernel_rss.py"),
        "--sizes",
        "10",
        "--runs",
        "2",
        "--tools",
        "ours",
        "--ours-python",
        sys.executable,
        "--no-setup",
        "--out",
        str(tmp_path / "kernel"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((tmp_path / "kernel" / "results.json").read_text())
    raw = data["raw"]["10"]["ours"]
    assert [r["warm"] for r in raw] == [False, True]
    for r in raw:
        # The extension alone maps pages: an import that adds nothing was not measured.
        assert _is_number(r["install_kib"]) and r["install_kib"] > 0, r
        assert _is_number(r["register_kib"]) and r["register_kib"] >= 0, r
        assert _is_number(r["register_ms"]) and r["register_ms"] > 0, r
    s = data["summary"]["10"]["ours"]
    assert s["total_cold_kib"] == s["install_kib"] + s["register_cold_kib"]
    assert "| 10 | ours |" in proc.stdout
