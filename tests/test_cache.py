"""The persistent analysis cache, with real files and real processes.

Each registration runs in a fresh Python process (as after a kernel restart)
against a cache directory of the test's own. What the cache did is read from
the engine's counters (``read_counts()``: files parsed, scanned, answered by
the cache, not read at all; cache files written) and from the cache files
themselves: never from timings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

#: Registers ``import app`` in a fresh process; prints the counters and the
#: dependencies of every tracked module.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[1])
    import liveimport
    import app
    liveimport.workspace(sys.argv[1])
    ns = {}
    exec("import app", ns)
    liveimport.register(ns, "import app")
    counts = liveimport._api._state.engine.read_counts()
    print(json.dumps({
        "counts": {k: getattr(counts, k)
                   for k in ("parsed", "scanned", "cached", "unread", "cache_writes")},
        "deps": {n: t.dependencies for n, t in liveimport.tracked().items()},
    }))
    """
)

N = 6


def make_project(root: Path, n: int = N) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.py").write_text("".join(f"import m{i}\n" for i in range(n)))
    for i in range(n):
        below = f"from m{i - 1} import f\n" if i else ""
        (root / f"m{i}.py").write_text(f"{below}def f():\n    return {i}\n")


def run(project: Path, cache: Path | None, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIVEIMPORT_CACHE")}
    if cache is not None:
        environ["LIVEIMPORT_CACHE_DIR"] = str(cache)
    environ.pop("PYTHONDONTWRITEBYTECODE", None)
    environ.update(env)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(project)],
        capture_output=True,
        text=True,
        env=environ,
        cwd=project,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def cache_files(cache: Path) -> list[Path]:
    return sorted(p for p in cache.iterdir() if p.suffix == ".bin") if cache.exists() else []


@pytest.fixture
def project(tmp_path: Path) -> Path:
    make_project(tmp_path / "proj")
    return tmp_path / "proj"


def test_a_new_process_registers_from_the_cache(project: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    cold = run(project, cache)
    assert cold["counts"]["cached"] == 0
    assert cold["counts"]["parsed"] + cold["counts"]["scanned"] == N + 1
    assert cold["counts"]["cache_writes"] == 1
    assert len(cache_files(cache)) == 1
    warm = run(project, cache)
    assert warm["counts"] == {
        "parsed": 0,
        "scanned": 0,
        "cached": N + 1,
        "unread": N + 1,
        "cache_writes": 0,
    }
    assert warm["deps"] == cold["deps"]
    assert warm["deps"]["m3"] == ["m2"]


def test_an_edit_is_never_answered_from_the_cache(project: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    run(project, cache)
    m3 = project / "m3.py"
    before = m3.stat()
    # Same size, mtime put back: only the content (and ctime) differ.
    m3.write_text(m3.read_text().replace("from m2 import f", "from m1 import f"))
    os.utime(m3, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert m3.stat().st_size == before.st_size
    after = run(project, cache)
    assert after["deps"]["m3"] == ["m1"]
    assert after["counts"]["cached"] == N  # every file but the edited one
    assert after["counts"]["cache_writes"] == 1


def test_a_large_cache_is_checked_ahead_and_still_sees_every_edit(tmp_path: Path):
    # From 256 entries on, the files' metadata is checked on a helper thread
    # ahead of the registration's own walk; an edit anywhere in the order,
    # even one that keeps the size and puts the mtime back, is still read.
    n = 300
    project = tmp_path / "big"
    make_project(project, n)
    time.sleep(0.1)  # past the racy window: every entry records metadata
    cache = tmp_path / "cache"
    cold = run(project, cache)
    assert cold["counts"]["cache_writes"] == 1
    edited = (102, 200, n - 1)
    for i in edited:
        path = project / f"m{i}.py"
        before = path.stat()
        path.write_text(path.read_text().replace(f"from m{i - 1} import f", "from m100 import f"))
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert path.stat().st_size == before.st_size
    warm = run(project, cache)
    for i in edited:
        assert warm["deps"][f"m{i}"] == ["m100"]
    assert warm["deps"]["m150"] == ["m149"]
    unchanged = n + 1 - len(edited)
    assert warm["counts"]["cached"] == warm["counts"]["unread"] == unchanged
    assert warm["counts"]["cache_writes"] == 1
    time.sleep(0.1)
    again = run(project, cache)
    assert again["counts"]["unread"] == n + 1
    assert again["deps"] == warm["deps"]


def test_a_copy_in_another_package_resolves_its_relative_imports_there(tmp_path: Path):
    # The cache knows files by content: a copy of a module with relative
    # imports, in another package, depends on its own package's modules.
    project = tmp_path / "pkgs"
    for pkg in ("p", "q"):
        (project / pkg).mkdir(parents=True)
        (project / pkg / "__init__.py").write_text("")
        (project / pkg / "sib.py").write_text(f"WHERE = {pkg!r}\n")
        (project / pkg / "mod.py").write_text(
            "from . import sib\nfrom .sib import WHERE\nimport json\n"
        )
    (project / "app.py").write_text("import p.mod\n")
    cache = tmp_path / "cache"
    first = run(project, cache)
    assert first["deps"]["p.mod"] == ["p.sib"]
    (project / "app.py").write_text("import p.mod\nimport q.mod\n")
    second = run(project, cache)
    assert second["deps"]["q.mod"] == ["q.sib"]
    assert second["deps"]["p.mod"] == ["p.sib"]
    assert second["counts"]["cache_writes"] == 1
    time.sleep(0.1)
    third = run(project, cache)
    assert third["deps"] == second["deps"]


def test_a_truncated_cache_file_is_ignored_and_replaced(project: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    cold = run(project, cache)
    (file,) = cache_files(cache)
    data = file.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 3, 0):
        file.write_bytes(data[:cut])
        again = run(project, cache)
        assert again["counts"]["cached"] == 0, cut
        assert again["counts"]["cache_writes"] == 1, cut
        assert again["deps"] == cold["deps"]
        assert cache_files(cache) == [file]
        assert run(project, cache)["counts"]["cached"] == N + 1, "rewritten whole"
        data = file.read_bytes()


def test_a_corrupt_cache_file_is_ignored(project: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    cold = run(project, cache)
    (file,) = cache_files(cache)
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    file.write_bytes(bytes(data))
    again = run(project, cache)
    assert again["counts"]["cached"] == 0
    assert again["deps"] == cold["deps"]


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="needs a non-root POSIX user (root writes anywhere)",
)
def test_a_read_only_cache_directory_is_no_error(project: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o555)
    try:
        first = run(project, cache)
        second = run(project, cache)
    finally:
        cache.chmod(0o755)
    assert first["deps"] == second["deps"]
    assert second["counts"]["cached"] == 0
    assert cache_files(cache) == []


def test_an_unwritable_cache_location_is_no_error(project: Path, tmp_path: Path):
    # A regular file where the directory should be: nothing can be written
    # there, whoever runs the test.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    first = run(project, blocker / "cache")
    second = run(project, blocker / "cache")
    assert first["deps"] == second["deps"]
    assert second["counts"]["cached"] == 0
    assert blocker.read_text() == ""


def test_the_cache_can_be_turned_off(project: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    off = run(project, cache, LIVEIMPORT_CACHE="0")
    assert off["counts"]["cache_writes"] == 0
    assert cache_files(cache) == []
    run(project, cache)
    again = run(project, cache, LIVEIMPORT_CACHE="0")
    assert again["counts"]["cached"] == 0


def test_the_default_location_is_the_user_cache_directory(project: Path, tmp_path: Path):
    home = tmp_path / "home"
    run(project, None, HOME=str(home), XDG_CACHE_HOME=str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert len(cache_files(tmp_path / "xdg" / "liveimport")) == 1
        run(project, None, HOME=str(home), XDG_CACHE_HOME="")
        assert len(cache_files(home / ".cache" / "liveimport")) == 1


def test_two_processes_registering_at_once(project: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIVEIMPORT_CACHE")}
    environ["LIVEIMPORT_CACHE_DIR"] = str(cache)
    results = []
    for _round in range(3):
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", SCRIPT, str(project)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=environ,
                cwd=project,
            )
            for _ in range(2)
        ]
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        if _round < 2:
            # Rewrite a module between rounds, so both processes write again.
            m0 = project / "m0.py"
            m0.write_text(m0.read_text() + f"# round {_round}\n")
    assert all(r["deps"] == results[0]["deps"] for r in results)
    assert len(cache_files(cache)) == 1
    assert not [p for p in cache.iterdir() if p.suffix != ".bin"], "no temporary file left"
    final = run(project, cache)
    assert final["counts"]["cached"] == N + 1
    assert final["deps"] == results[0]["deps"]


def test_files_older_than_the_process_are_scanned_without_their_bytecode(project: Path):
    """Without bytecode files, a file changed while the process could have
    imported it is parsed whole; once every file predates the process (by
    the engine's 3 s margin: a kernel restart), its bytecode is not needed
    to know it compiles, and the fast scan reads it. Same dependencies."""
    no_pyc = {"PYTHONDONTWRITEBYTECODE": "1", "LIVEIMPORT_CACHE": "0"}
    assert not (project / "__pycache__").exists()
    fresh = run(project, None, **no_pyc)
    assert fresh["counts"]["parsed"] == N + 1 and fresh["counts"]["scanned"] == 0
    newest = max(max(p.stat().st_mtime, p.stat().st_ctime) for p in project.glob("*.py"))
    time.sleep(max(0.0, newest + 3.5 - time.time()))
    old = run(project, None, **no_pyc)
    assert old["counts"]["scanned"] == N + 1 and old["counts"]["parsed"] == 0
    assert old["deps"] == fresh["deps"]
    assert not (project / "__pycache__").exists()
