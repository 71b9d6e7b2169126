"""Differential test: this build against PyPI ``liveimport==1.3.1``.

Each scenario in ``differential/scenarios.py`` runs in a fresh subprocess
twice, once under a venv holding the PyPI package (created once, cached at
``<repo>/.venv-pypi``) and once under ``sys.executable`` (this build), each in
its own empty work directory. The JSON results must be equal, except for the
scenarios in ``DEVIATIONS``: behaviour that SEMANTICS.md declares a deliberate
improvement over the PyPI package. For those, this build must produce exactly
the expected result recorded there, and that result must differ from PyPI's.

If the PyPI venv cannot be made (no network, pip fails), the tests are
skipped, unless ``CI=true``, where that is a failure. Set
``LIVEIMPORT_DIFF_DUMP=<dir>`` to keep both JSON results of every scenario.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from itertools import zip_longest
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = Path(__file__).resolve().parent / "differential" / "scenarios.py"
PYPI_VENV = REPO / ".venv-pypi"
PYPI_VERSION = "1.3.1"


def _load_scenario_names() -> list[str]:
    spec = importlib.util.spec_from_file_location("_differential_scenarios", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines scenarios only; imports no liveimport
    return list(module.SCENARIOS)


SCENARIO_NAMES = _load_scenario_names()


# ---------------------------------------------------------------------------
# Deliberate deviations (SEMANTICS.md, "Deliberate improvements over the PyPI
# package"). Each entry: scenario -> (reason, expected result of THIS build,
# as a literal or as a function of PyPI's result). Only improvements declared
# there belong here; any other difference is a bug.


def _sync(events: list, error: dict | None = None, warnings: list | None = None) -> dict:
    step: dict = {"op": "sync", "events": events}
    if error is not None:
        step["error"] = error
    if warnings is not None:
        step["warnings"] = warnings
    return step


def _replace_steps(**changes: dict) -> Callable[[dict], dict]:
    """Expected = PyPI's result with the steps at the given indexes (``s3=...``)
    replaced."""

    def expected(pypi: dict) -> dict:
        steps = list(pypi["steps"])
        for key, step in changes.items():
            steps[int(key[1:])] = step
        return {**pypi, "steps": steps}

    return expected


def _value(expr: str, value: Any) -> dict:
    return {"op": "value", "expr": expr, "value": value}


DEVIATIONS: dict[str, tuple[str, Any]] = {}


# ---------------------------------------------------------------------------
# Running the scenarios


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{reason} (CI=true: the differential test must run)")
    pytest.skip(reason)


def _venv_python(venv: Path) -> Path:
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.pop("VIRTUAL_ENV", None)
    env.update(PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1", PYTHONIOENCODING="utf-8")
    return env


_PROBE = (
    "import sys, importlib.metadata as m; "
    "print(m.version('liveimport'), '.'.join(map(str, sys.version_info[:3])))"
)


def _pypi_ready(python: Path) -> bool:
    if not python.exists():
        return False
    try:
        probe = subprocess.run(
            [str(python), "-c", _PROBE], env=_env(), capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    ours = ".".join(map(str, sys.version_info[:3]))
    return probe.returncode == 0 and probe.stdout.split() == [PYPI_VERSION, ours]


@pytest.fixture(scope="session")
def pypi_python() -> Path:
    """The python of a venv with PyPI liveimport 1.3.1, on this interpreter."""
    python = _venv_python(PYPI_VENV)
    if _pypi_ready(python):
        return python
    shutil.rmtree(PYPI_VENV, ignore_errors=True)
    commands = [
        [sys.executable, "-m", "venv", str(PYPI_VENV)],
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"liveimport=={PYPI_VERSION}",
        ],
    ]
    for command in commands:
        try:
            done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as error:
            shutil.rmtree(PYPI_VENV, ignore_errors=True)
            _unavailable(f"cannot set up PyPI liveimport {PYPI_VERSION}: {error}")
        if done.returncode != 0:
            shutil.rmtree(PYPI_VENV, ignore_errors=True)
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            _unavailable(
                f"cannot set up PyPI liveimport {PYPI_VERSION}: {' '.join(command[:4])} "
                f"failed: {' | '.join(tail)}"
            )
    if not _pypi_ready(python):
        _unavailable(f"{PYPI_VENV} does not provide liveimport {PYPI_VERSION}")
    return python


def _start(python: Path | str, name: str, workdir: Path) -> subprocess.Popen:
    workdir.mkdir(parents=True)
    return subprocess.Popen(
        [str(python), str(SCRIPT), name, str(workdir)],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen, label: str) -> dict:
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"{label}: scenario timed out")
    if process.returncode != 0:
        pytest.fail(f"{label}: scenario exited with {process.returncode}:\n{err}")
    return json.loads(out)


def _explain(pypi: dict, ours: dict, label: str = "ours") -> str:
    lines = []
    for key in ("crash",):
        if pypi.get(key) != ours.get(key):
            lines.append(f"{key}:\n  pypi: {pypi.get(key)}\n  {label}: {ours.get(key)}")
    pairs = zip_longest(pypi["steps"], ours["steps"])
    for index, (left, right) in enumerate(pairs):
        if left != right:
            lines.append(
                f"step {index}:\n  pypi: {json.dumps(left)}\n  {label}: {json.dumps(right)}"
            )
    return "\n".join(lines)


def test_scenario_count() -> None:
    assert len(SCENARIO_NAMES) >= 30


def test_deviations_name_scenarios() -> None:
    assert set(DEVIATIONS) <= set(SCENARIO_NAMES)


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_matches_pypi(name: str, pypi_python: Path, tmp_path: Path) -> None:
    pypi_process = _start(pypi_python, name, tmp_path / "pypi")
    ours_process = _start(sys.executable, name, tmp_path / "ours")
    pypi = _finish(pypi_process, f"PyPI {name}")
    ours = _finish(ours_process, f"our build {name}")

    dump = os.environ.get("LIVEIMPORT_DIFF_DUMP")
    if dump:
        Path(dump).mkdir(parents=True, exist_ok=True)
        for label, result in (("pypi", pypi), ("ours", ours)):
            Path(dump, f"{name}.{label}.json").write_text(json.dumps(result, indent=1))

    assert "crash" not in pypi, f"the scenario itself failed under PyPI: {pypi['crash']}"
    if name not in DEVIATIONS:
        assert ours == pypi, "differs from PyPI 1.3.1:\n" + _explain(pypi, ours)
        return
    reason, expected = DEVIATIONS[name]
    if callable(expected):
        expected = expected(pypi)
    assert ours == expected, f"documented deviation ({reason}) not as expected:\n" + _explain(
        expected, ours
    ).replace("pypi:", "want:")
    assert expected != pypi, f"deviation {name} no longer differs from PyPI"
