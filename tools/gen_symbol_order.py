"""Write crates/python/symbol-order.txt: the extension's functions a kernel
runs, in the order the linker should place them (see crates/python/build.rs).

Usage: ``make symbol-order`` (needs valgrind), after any change that renames
or adds functions on the paths below; tests/test_packaging.py says when the
file no longer matches the build.

The installed ``liveimport`` (the ``.venv`` one) runs three stages under
valgrind's callgrind, each in a new process, on a generated workspace:

1. an IPython shell imports liveimport (the extension's init, the IPython
   hooks) and sets the workspace;
2. then a ``%%liveimport`` cell registers the workspace (compiled, and
   older than the process, as files a kernel imported usually are): once
   without the persistent cache, once with it (files scanned on two
   threads; files answered from the cache);
3. then the rest of a session: cells, an edit and its reload, a syntax
   error, the status display, the introspection calls.

Each stage lists the functions of the extension it executed; the file holds
stage 1's, then those stage 2 adds, then those stage 3 adds. A process that
only imports and registers then touches one compact run of pages.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates" / "python" / "symbol-order.txt"
N = 1000
# More than the margin by which track::Trust wants files older than a process.
TRUST_MARGIN_S = 3.5

HEADER = """\
# The extension's functions that import, register() and a session run, in the
# order the linker places them (crates/python/build.rs). Made by
# tools/gen_symbol_order.py (`make symbol-order`); do not edit.
"""

STAGE = r"""
import os, sys, time
sys.path.insert(0, {bench!r})
import genws
work = {work!r}
sys.path.insert(0, work)
os.chdir(work)
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
ws = genws.Workspace({n}, genws.DEFAULT_SEED)
def run(cell):
    shell.run_cell(cell).raise_error()
run(ws.notebook_imports())
run("import liveimport\nliveimport.workspace(%r)\nliveimport.auto_sync(grace=0)" % work)
if {stage} >= 2:
    run("%%liveimport\n" + ws.notebook_imports())
if {stage} >= 3:
    run("x = 1")
    path = os.path.join(work, "app.py")
    text = open(path).read()
    time.sleep(0.01)
    with open(path, "a") as f:
        f.write("\nEXTRA = 1\n")
    run("y = 2")
    assert shell.user_ns["liveimport"].last_sync() is not None
    with open(path, "a") as f:
        f.write("\ndef broken(:\n")
    shell.run_cell("z = 3")
    with open(path, "w") as f:
        f.write(text)
    run("z = 4")
    run("%liveimport")
    run("liveimport.tracked(); liveimport.pending(); liveimport.registrations()")
"""


def local_names(extension: Path) -> dict[int, str]:
    """The extension's symbols by address (callgrind names some only by it:
    the C runtime's own, such as ``frame_dummy``, run when it is loaded)."""
    listing = subprocess.run(
        ["nm", str(extension)], capture_output=True, text=True, check=True
    ).stdout
    names: dict[int, str] = {}
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tT":
            names.setdefault(int(parts[0], 16), parts[2])
    return names


def executed(profile: Path, by_address: dict[int, str]) -> set[str]:
    """The functions of the extension a callgrind profile records."""
    objects: dict[str, str] = {}
    names: dict[str, str] = {}
    current = ""
    found: set[str] = set()
    record = re.compile(r"^(c?ob|c?fn)=\((\d+)\)(?: (.*))?$")
    with open(profile, errors="replace") as f:
        for line in f:
            m = record.match(line.rstrip("\n"))
            if not m:
                continue
            kind, key, name = m.groups()
            table = objects if kind.endswith("ob") else names
            if name is not None:
                table[key] = name
            if kind == "ob":
                current = objects.get(key, "")
            elif kind == "fn" and "_engine" in Path(current).name:
                found.add(names[key])
    named = set()
    for name in found:
        if name.startswith("0x"):
            name = by_address.get(int(name, 16), "")
        # callgrind marks a recursive call's frames name'2, name'3, ...
        name = name.split("'")[0]
        if name:
            named.add(name)
    return named


def stage(
    number: int, work: Path, cache: Path, scratch: Path, by_address: dict[int, str]
) -> set[str]:
    script = scratch / f"stage{number}.py"
    script.write_text(STAGE.format(bench=str(ROOT / "bench"), work=str(work), n=N, stage=number))
    profile = scratch / f"stage{number}.out"
    env = dict(os.environ, LIVEIMPORT_CACHE_DIR=str(cache), PYTHONMALLOC="malloc", MPLBACKEND="Agg")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    command = [
        "valgrind",
        "--tool=callgrind",
        "--demangle=no",
        f"--callgrind-out-file={profile}",
        sys.executable,
        str(script),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"stage {number} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return executed(profile, by_address)


def main() -> None:
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is needed (apt-get install valgrind)")
    sys.path.insert(0, str(ROOT / "bench"))
    import genws

    import liveimport._engine

    by_address = local_names(Path(liveimport._engine.__file__))

    with tempfile.TemporaryDirectory(prefix="liveimport-order-") as tmp:
        scratch = Path(tmp)
        order: list[str] = []
        seen: set[str] = set()
        for number in (1, 2, 3):
            # Each stage on a fresh copy of the workspace, as a kernel that
            # imported the files long after they were written sees them:
            # bytecode present, files older than the process (so that
            # registration scans them, see track::Trust). Stage 2 twice on
            # the same copy: without the cache, then with the one it wrote.
            work = scratch / f"ws{number}"
            genws.Workspace(N, genws.DEFAULT_SEED).write(work)
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(work)], check=True)
            time.sleep(TRUST_MARGIN_S)
            cache = scratch / f"cache{number}"
            cache.mkdir()
            for _ in range(2 if number == 2 else 1):
                new = sorted(stage(number, work, cache, scratch, by_address) - seen)
                order.extend(new)
                seen.update(new)
                print(f"stage {number}: {len(new)} functions more", file=sys.stderr)
    OUT.write_text(HEADER + "".join(f"{name}\n" for name in order))
    print(f"wrote {OUT.relative_to(ROOT)}: {len(order)} functions", file=sys.stderr)


if __name__ == "__main__":
    main()
