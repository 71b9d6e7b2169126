"""Run the test suite under every other supported CPython, each in its own venv.

``make test`` calls this (target ``py-versions``) while the whole suite runs
in ``.venv``. For each interpreter given on the command line that is
CPython >= 3.10, one per minor version (the newest patch release), except the
minor version ``.venv`` runs (the whole suite runs there):

* create ``.venv-py3.X`` with the test dependencies (kept between runs;
  made anew when the interpreter or the dependency list changes);
* install the wheel ``make`` built (the same file ``.venv`` has:
  ``pip install --no-index --no-deps --force-reinstall``);
* run pytest with the given marker expression, in a scratch directory of its
  own (``target/py-versions/py3.X``), so that nothing is imported from the
  checkout and the runs do not share a working directory.

The interpreters are set up and tested in parallel (``--jobs``); each one's
output goes to ``target/py-versions/py3.X.log``, printed in full if it failed.
The last lines are each run's pytest closing line. The exit status is
non-zero if any run failed, or if a venv could not be set up.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parent.parent
OLDEST = (3, 10)
PIP = ["-m", "pip", "--disable-pip-version-check", "install", "--quiet"]


@dataclass
class Target:
    python: str  # the interpreter the venv is made from
    version: tuple[int, int, int]

    @property
    def minor(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"

    @property
    def venv(self) -> Path:
        return ROOT / f".venv-py{self.minor}"

    @property
    def venv_python(self) -> Path:
        return self.venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@dataclass
class Result:
    status: int  # pytest's exit status; -1 if the venv could not be set up
    log: str
    seconds: float


def version_of(python: str) -> tuple[int, int, int] | None:
    """(major, minor, micro) of a CPython interpreter, or None if it is not one that runs."""
    code = "import sys; print(sys.implementation.name, *sys.version_info[:3])"
    try:
        out = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, timeout=60, check=True
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    if len(out) != 4 or out[0] != "cpython":
        return None
    return (int(out[1]), int(out[2]), int(out[3]))


def choose(pythons: list[str], main_python: str) -> tuple[list[Target], list[str]]:
    """The interpreters to test, newest patch per minor version; and why others are not."""
    notes: list[str] = []
    main = version_of(main_python)
    best: dict[tuple[int, int], Target] = {}
    for python in pythons:
        version = version_of(python)
        if version is None:
            notes.append(f"{python}: not a working CPython, skipped")
            continue
        if version[:2] < OLDEST:
            continue  # not supported (requires-python >= 3.10): silently out of scope
        current = best.get(version[:2])
        if current is None or version > current.version:
            best[version[:2]] = Target(python, version)
    if main is not None and main[:2] in best:
        notes.append(
            f"{main[0]}.{main[1]}: the whole suite runs in .venv ({main_python}), not again here"
        )
        del best[main[:2]]
    return [best[key] for key in sorted(best)], notes


def run(cmd: list[str | os.PathLike[str]], log: TextIO) -> None:
    log.write(f"$ {' '.join(map(os.fspath, cmd))}\n")
    log.flush()
    subprocess.run([os.fspath(p) for p in cmd], check=True, stdout=log, stderr=subprocess.STDOUT)


def set_up(target: Target, deps: list[str], wheel: Path, uv: str | None, log: TextIO) -> None:
    """Create or refresh the venv, install the test dependencies and the wheel.

    With uv (``make`` installs it into .venv) that takes a second or two from
    its cache; pip is the fallback.
    """
    venv, python = target.venv, target.venv_python
    marker = venv / ".made-for"
    identity = "\n".join([str(Path(target.python).resolve()), *deps]) + "\n"
    if not python.exists() or not marker.exists() or marker.read_text() != identity:
        # Made anew when the interpreter or the dependencies change, so that
        # nothing left from an earlier list lingers.
        shutil.rmtree(venv, ignore_errors=True)
        print(f"py{target.minor}: creating {venv.name} from {target.python}", flush=True)
        if uv:
            run([uv, "venv", "--quiet", "--python", target.python, venv], log)
            run([uv, "pip", "install", "--quiet", "--python", python, *deps], log)
        else:
            run([target.python, "-m", "venv", venv], log)
            run([python, *PIP, "--upgrade", "pip"], log)
            run([python, *PIP, *deps], log)
        marker.write_text(identity)
    if uv:
        run([uv, "pip", "install", "--quiet", "--python", python, "--no-index", "--no-deps",
             "--reinstall", wheel], log)  # fmt: skip
    else:
        run([python, *PIP, "--no-index", "--no-deps", "--force-reinstall", wheel], log)


def test(
    target: Target, deps: list[str], wheel: Path, uv: str | None, markers: str, extra: list[str]
) -> Result:
    """Set the venv up, then run pytest in a scratch directory of its own."""
    scratch = ROOT / "target" / "py-versions" / f"py{target.minor}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    log_path = scratch.parent / f"py{target.minor}.log"
    cmd = [
        os.fspath(target.venv_python),
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-m",
        markers,
        *extra,
        os.fspath(ROOT / "tests"),
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    started = time.monotonic()
    with open(log_path, "w") as log:
        try:
            set_up(target, deps, wheel, uv, log)
        except subprocess.CalledProcessError as error:
            log.write(f"setting up {target.venv.name} failed: {error}\n")
            status = -1
        else:
            log.write(f"$ cd {scratch} && {' '.join(cmd)}\n")
            log.flush()
            proc = subprocess.run(cmd, cwd=scratch, stdout=log, stderr=subprocess.STDOUT, env=env)
            status = proc.returncode
    return Result(status, log_path.read_text(errors="replace"), time.monotonic() - started)


def closing_line(text: str) -> str:
    """pytest's closing line (``==== N passed, ... in Xs ====``), or the last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if " in " in line and any(w in line for w in ("passed", "failed", "error", "no tests")):
            return line
    return lines[-1] if lines else "(no output)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel-dir", type=Path, required=True)
    parser.add_argument("--main-python", default=sys.executable)
    parser.add_argument("--markers", default="not slow and not browser")
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--deps", nargs="+", required=True)
    parser.add_argument("--uv", help="uv executable for venvs and installs (default: pip)")
    parser.add_argument("--pytest-arg", action="append", default=[], dest="pytest_args")
    parser.add_argument("pythons", nargs="*")
    args = parser.parse_args()

    wheels = sorted(args.wheel_dir.glob("*.whl"))
    if len(wheels) != 1:
        print(f"expected one wheel in {args.wheel_dir}, found {len(wheels)}", file=sys.stderr)
        return 2
    targets, notes = choose(args.pythons, args.main_python)
    for note in notes:
        print(note)
    if not targets:
        print("no other CPython >= 3.10 found: only .venv was tested")
        return 0
    print(f"testing {wheels[0].name} with CPython {', '.join(t.minor for t in targets)}")

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {
            t.minor: pool.submit(
                test, t, args.deps, wheels[0], args.uv, args.markers, args.pytest_args
            )
            for t in targets
        }
        results = {minor: future.result() for minor, future in futures.items()}

    failed = [t for t in targets if results[t.minor].status != 0]
    for target in failed:
        result = results[target.minor]
        print(f"\n----- CPython {target.minor}: exit status {result.status}, full log -----")
        print(result.log, end="" if result.log.endswith("\n") else "\n")
    print(f"\nwheel {wheels[0].name}, pytest -m {args.markers!r}:")
    for target in targets:
        result = results[target.minor]
        verdict = "FAILED" if target in failed else "ok"
        version = ".".join(map(str, target.version))
        print(f"CPython {version} ({target.venv.name}): {verdict}, {result.seconds:.0f} s")
        print(closing_line(result.log))
    if failed:
        print(f"FAILED under CPython {', '.join(t.minor for t in failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
