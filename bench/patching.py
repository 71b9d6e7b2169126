"""Patching benchmark: a sync's cost with a large heap, side by side.

A module with 100 classes and 300 functions is edited while the process
holds a heap of N extra objects (N = 0, 10^6, 10^7 small lists: each one is
tracked by the garbage collector, as a real notebook's data is). Measured in
one run, each tool in fresh processes:

* ours, patching off (names rebound, as the PyPI package does);
* ours, patching on (functions and classes keep their identity);
* IPython ``%autoreload 2`` (its default, patching mode) and
  ``%autoreload 2 --full`` (the classic reload that patches instances
  through the garbage collector), from the anchor venv of ``bench/run.py``.

Two edits: "bodies" rewrites the bodies of 30 functions and 30 methods;
"shape" adds a method to 10 classes. Each figure is the median of several
edit + sync rounds; the report gives ratios (patching on ÷ off, and ours ÷
autoreload) and how each grows with the heap. Nothing here asserts on time.

    .venv/bin/python bench/patching.py [--heaps 0,1000000,10000000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ANCHORS = ROOT / ".bench-venvs" / "anchors" / "bin" / "python"

CLASSES, FUNCTIONS = 100, 300


def module_source(version: int, edit: str) -> str:
    """The benchmark module; `version` changes what an edit changes."""
    parts = ["import dataclasses\n"]
    bodies = version if edit == "bodies" else 0
    for i in range(FUNCTIONS):
        value = bodies if i < 30 else 0
        parts.append(f"def f{i}(x, y=1):\n    total = x + y + {value}\n    return total * {i}\n")
    for i in range(CLASSES):
        value = bodies if i < 30 else 0
        extra = ""
        if edit == "shape" and i < 10 and version % 2:
            extra = "    def added(self):\n        return self.a\n"
        parts.append(
            f"class C{i}:\n"
            f"    kind = {i}\n"
            f"    def __init__(self, a):\n        self.a = a\n"
            f"    def m(self):\n        return self.a + {value}\n"
            f"    @property\n    def p(self):\n        return self.a * 2\n" + extra
        )
    return "\n".join(parts)


CHILD = textwrap.dedent(
    """
    import gc, json, os, statistics, sys, time
    tool, heap, rounds, edit, ws = sys.argv[1:6]
    heap, rounds = int(heap), int(rounds)
    sys.path.insert(0, ws)
    sys.path.insert(0, {here!r})
    os.chdir(ws)
    from patching import module_source
    path = os.path.join(ws, "patchbench.py")
    def write(version):
        with open(path, "w") as f:
            f.write(module_source(version, edit))
        st = os.stat(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + version * 1_000_000_000))
    write(0)
    data = [[i] for i in range(heap)]  # the heap: GC-tracked objects
    import patchbench
    instances = [getattr(patchbench, f"C{{i}}")(i) for i in range(100)]
    if tool.startswith("ours"):
        import liveimport
        liveimport.patching(tool == "ours-patch")
        ns = {{"patchbench": patchbench}}
        liveimport.register(ns, "import patchbench")
        sync = liveimport.sync
    else:
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config
        cfg = Config(); cfg.HistoryManager.enabled = False
        shell = InteractiveShell.instance(config=cfg)
        shell.run_line_magic("load_ext", "autoreload")
        shell.run_line_magic("autoreload", "2 --full" if tool == "autoreload-full" else "2")
        reloader = shell.magics_manager.registry["AutoreloadMagics"]._reloader
        sync = reloader.check
    times = []
    for version in range(1, rounds + 1):
        write(version)
        time.sleep(0.01)
        t0 = time.perf_counter()
        sync()
        times.append(time.perf_counter() - t0)
    ok = instances[0].m() == (version if edit == "bodies" else 0)
    result = {{"median": statistics.median(times), "times": times}}
    print(json.dumps(dict(result, new_code_in_old_instances=ok)))
    """
).format(here=str(HERE))


def run(python: Path, tool: str, heap: int, rounds: int, edit: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as ws:
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        proc = subprocess.run(
            [str(python), "-c", CHILD, tool, str(heap), str(rounds), edit, ws],
            capture_output=True,
            text=True,
            env=env,
            timeout=1800,
        )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heaps", default="0,1000000,10000000")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--full-max-heap",
        type=int,
        default=1_000_000,
        help="skip autoreload 2 --full above this heap (it scans the heap: minutes per round)",
    )
    parser.add_argument("--ours-python", default=str(ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--out", default=str(HERE / "out" / "patching.json"))
    args = parser.parse_args()
    heaps = [int(h) for h in args.heaps.split(",")]
    tools = [("ours-off", Path(args.ours_python)), ("ours-patch", Path(args.ours_python))]
    if ANCHORS.exists():
        tools += [("autoreload", ANCHORS), ("autoreload-full", ANCHORS)]
    else:
        print(f"(no anchor venv at {ANCHORS}: run bench/run.py once to create it)")
    results: dict[str, dict[str, dict[str, object]]] = {}
    for edit in ("bodies", "shape"):
        for heap in heaps:
            for tool, python in tools:
                key = f"{edit}/{heap}"
                if tool == "autoreload-full" and heap > args.full_max_heap:
                    results.setdefault(key, {})[tool] = {"error": "not run (--full-max-heap)"}
                    continue
                result = run(python, tool, heap, args.rounds, edit)
                results.setdefault(key, {})[tool] = result
                print(f"{edit:6} heap={heap:>9,} {tool:16} {result}", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print()
    print(report(results, heaps, [t for t, _ in tools]))
    return 0


def ms(result: dict[str, object]) -> str:
    value = result.get("median")
    if not isinstance(value, float):
        return "not run" if "not run" in str(result.get("error", "")) else "error"
    return f"{value * 1000:.1f} ms"


def report(results: dict, heaps: list[int], tools: list[str]) -> str:
    lines = [
        "| edit | heap objects | " + " | ".join(tools) + " | patch ÷ off | patch ÷ autoreload 2 |",
        "|---|---:|" + "---:|" * (len(tools) + 2),
    ]
    for edit in ("bodies", "shape"):
        for heap in heaps:
            row = results[f"{edit}/{heap}"]
            cells = [ms(row[t]) for t in tools]
            on, off = row["ours-patch"].get("median"), row["ours-off"].get("median")
            auto = row.get("autoreload", {}).get("median")
            ratio = f"{on / off:.2f}" if isinstance(on, float) and off else "-"
            vs = f"{on / auto:.2f}" if isinstance(on, float) and isinstance(auto, float) else "-"
            lines.append(f"| {edit} | {heap:,} | " + " | ".join(cells) + f" | {ratio} | {vs} |")
    correct = {
        t: all(results[k][t].get("new_code_in_old_instances") for k in results if "bodies" in k)
        for t in tools
    }
    lines.append("")
    lines.append(
        "Old instances run the new code after a body edit: "
        + ", ".join(f"{t}: {'yes' if ok else 'no'}" for t, ok in correct.items())
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
