"""Import-extraction throughput: LiveImport's engine next to CPython's ``ast``.

Reads every ``.py`` file of the standard library once, then times, on the
same bytes: ``ast.parse`` (what PyPI liveimport and a pure-Python tool pay to
find a module's imports) and the engine's decode + parse + top-level import
extraction (``Engine.analyze_bytes``, called from Python, so the figure
includes the binding's cost). Reports MB/s for each and the ratio.

The pure-Rust figure, without Python in the loop, is the Criterion benchmark
``cargo bench -p liveimport-engine --bench engine -- extract``.

Usage: python bench/parse_throughput.py [--repeat N]
"""

from __future__ import annotations

import argparse
import ast
import sys
import sysconfig
import time
import warnings
from pathlib import Path

from liveimport._engine import Engine


def stdlib_sources() -> list[bytes]:
    root = Path(sysconfig.get_paths()["stdlib"])
    sources = []
    for path in sorted(root.rglob("*.py")):
        if "site-packages" in path.parts:
            continue
        try:
            sources.append(path.read_bytes())
        except OSError:
            continue
    return sources


def time_it(label: str, sources: list[bytes], parse, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for data in sources:
            try:
                parse(data)
            except (SyntaxError, ValueError):
                pass
        best = min(best, time.perf_counter() - start)
    total = sum(map(len, sources))
    rate = total / best / 1e6
    print(f"{label:<34} {best:8.3f} s   {rate:7.1f} MB/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sources = stdlib_sources()
    total = sum(map(len, sources))
    print(f"{len(sources)} files, {total / 1e6:.1f} MB, Python {sys.version.split()[0]}")
    engine = Engine(sys.version_info[:2], [], "polling")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cpython = time_it("CPython ast.parse", sources, ast.parse, args.repeat)
    ours = time_it("LiveImport engine (via Python)", sources, engine.analyze_bytes, args.repeat)
    print(f"ratio: {ours / cpython:.1f}x the throughput of ast.parse")


if __name__ == "__main__":
    main()
