"""RSS and time that ``import liveimport`` + ``register()`` add in a real Jupyter kernel.

    .venv/bin/python bench/kernel_rss.py                 # N = 1,000 and 10,000, 5 kernels each
    .venv/bin/python bench/kernel_rss.py --sizes 1000 --runs 3

``bench/worker.py`` measures registration inside a bare ``InteractiveShell``:
one process, no ZeroMQ, nothing else loaded. A notebook's kernel is an
``ipykernel`` process, which has already loaded more (pyzmq and the C++
runtime it links, asyncio, ...), so what LiveImport adds there can differ: a
library the kernel already holds is not paid twice, and CPython's table of
interned strings, which doubles when it fills, sits at another point of its
cycle. This script starts real kernels through ``jupyter_client``, one per
measurement, ours and PyPI ``liveimport==1.3.1`` taking turns, and in each:

1. imports the generated app (``bench/genws.py``, the notebook's imports),
2. reads the kernel's RSS (``/proc/self/statm``; Linux only),
3. runs ``import liveimport``, reads RSS,
4. runs ``workspace()``, ``auto_sync(grace=0, report=False)`` and
   ``register()`` of the notebook's imports, timed, reads RSS.

The first kernel of each tool starts with an empty analysis cache (cold),
the others reuse it (warm, as after a kernel restart). Ours runs from
``.venv`` (``make build``), PyPI's from the anchor venv of ``bench/run.py``
(created if missing; ``ipykernel`` is added to it here). Workspaces go in
``workspaces/`` beside the output directory (shared with ``run.py``). Results:
``bench/out/kernel/results.json`` and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import genws  # noqa: E402
import run  # noqa: E402

MEASURE = """\
import gc as _gc, time as _time
def _rss():
    _gc.collect()
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * {page}
_r0 = _rss()
import liveimport
_r1 = _rss()
liveimport.workspace({ws!r})
liveimport.auto_sync(grace=0, report=False)
_t0 = _time.perf_counter()
liveimport.register(globals(), {imports!r})
_t = _time.perf_counter() - _t0
_r2 = _rss()
print('KERNEL-RSS', _r1 - _r0, _r2 - _r1, _t)
"""


def ensure_ipykernel(py: Path) -> None:
    probe = subprocess.run([str(py), "-c", "import ipykernel"], capture_output=True)
    if probe.returncode != 0:
        run.log(f"installing ipykernel into {py.parent.parent} ...")
        subprocess.run([str(py), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", "ipykernel"], check=True)


def write_spec(root: Path, name: str, py: Path) -> None:
    d = root / "kernels" / name
    d.mkdir(parents=True, exist_ok=True)
    spec = {"argv": [str(py), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": name, "language": "python"}
    (d / "kernel.json").write_text(json.dumps(spec))


def one_kernel(name: str, wsdir: Path, imports: str, cache: str) -> dict[str, float]:
    from jupyter_client.manager import start_new_kernel

    env = dict(os.environ, LIVEIMPORT_CACHE_DIR=cache)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("LIVEIMPORT_CACHE", None)
    km, kc = start_new_kernel(kernel_name=name, cwd=str(wsdir), env=env, startup_timeout=120)
    out: list[str] = []

    def hook(msg: dict) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append("ERROR " + msg["content"]["ename"] + ": " + msg["content"]["evalue"])

    try:
        for code in (f"import sys\nsys.path.insert(0, {str(wsdir)!r})\n{imports}",
                     MEASURE.format(page=os.sysconf("SC_PAGE_SIZE"), ws=str(wsdir),
                                    imports=imports)):
            kc.execute_interactive(code, output_hook=hook, timeout=600)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    for line in "".join(out).splitlines():
        if line.startswith("KERNEL-RSS "):
            install, register, seconds = line.split()[1:]
            return {"install_kib": int(install) / 1024, "register_kib": int(register) / 1024,
                    "register_ms": float(seconds) * 1000}
    raise RuntimeError(f"{name}: no measurement in the kernel's output: {''.join(out)[-2000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 10000])
    ap.add_argument("--runs", type=int, default=5, help="kernels per tool and size (first cold)")
    ap.add_argument("--seed", type=int, default=genws.DEFAULT_SEED)
    ap.add_argument("--ours-python", type=Path, default=run.venv_python(run.ROOT / ".venv"))
    ap.add_argument("--anchor-venv", type=Path, default=run.ROOT / ".bench-venvs" / "anchors")
    ap.add_argument("--tools", default="ours,pypi", help="a subset of ours,pypi")
    ap.add_argument("--no-setup", action="store_true",
                    help="never create the anchor venv nor install into it")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "kernel")
    args = ap.parse_args()
    if not Path("/proc/self/statm").exists():
        sys.exit("kernel_rss.py reads /proc/self/statm: Linux only")

    wanted = args.tools.split(",")
    tools = {"ours": args.ours_python.absolute()} if "ours" in wanted else {}
    if "pypi" in wanted:
        anchor, note = run.ensure_anchor_venv(args.anchor_venv, not args.no_setup)
        if anchor is None:
            sys.exit(note)
        if not args.no_setup:
            ensure_ipykernel(anchor)
        tools["pypi"] = anchor.absolute()
    with tempfile.TemporaryDirectory(prefix="liveimport-kernel-rss-") as scratch:
        specs = Path(scratch) / "specs"
        for key, py in tools.items():
            write_spec(specs, f"liveimport-bench-{key}", py)
        os.environ["JUPYTER_PATH"] = str(specs)
        results = measure(args, tools, Path(scratch))

    args.out.mkdir(parents=True, exist_ok=True)
    summary = summarise(results)
    (args.out / "results.json").write_text(json.dumps({"raw": results, "summary": summary},
                                                      indent=1))
    print(table(summary))


def measure(args: argparse.Namespace, tools: dict[str, Path],
            scratch: Path) -> dict[str, dict[str, list[dict[str, float]]]]:
    """Each size's kernels, the tools in turn; each tool's analysis cache
    (under `scratch`) empty for its first kernel only."""
    base = (args.out.parent / "workspaces").resolve()
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    for n in args.sizes:
        wsdir = run.prepare_master(n, args.seed, base, list(tools.values()))
        imports = genws.Workspace(n, args.seed).notebook_imports()
        rows: dict[str, list[dict[str, float]]] = {key: [] for key in tools}
        for i in range(args.runs):
            for key in tools:
                cache = str(scratch / f"cache-{n}-{key}")
                r = one_kernel(f"liveimport-bench-{key}", wsdir, imports, cache)
                r["warm"] = i > 0
                rows[key].append(r)
                run.log(f"N={n} {key} {'warm' if i else 'cold'}: {r}")
        results[str(n)] = rows
    return results


def summarise(results: dict[str, dict[str, list[dict[str, float]]]]
              ) -> dict[str, dict[str, dict[str, float]]]:
    """Medians per size and tool: import, register (cold: the first kernel;
    warm: the others), and their totals."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for n, rows in results.items():
        for key, rs in rows.items():
            cold = [r for r in rs if not r["warm"]]
            warm = [r for r in rs if r["warm"]] or cold
            inst = statistics.median(r["install_kib"] for r in rs)
            s = {"install_kib": inst}
            for tag, sel in (("cold", cold), ("warm", warm)):
                s[f"register_{tag}_kib"] = statistics.median(r["register_kib"] for r in sel)
                s[f"register_{tag}_ms"] = statistics.median(r["register_ms"] for r in sel)
                s[f"total_{tag}_kib"] = inst + s[f"register_{tag}_kib"]
            out.setdefault(n, {})[key] = s
    return out


def table(summary: dict[str, dict[str, dict[str, float]]]) -> str:
    """The Markdown table of ``summarise``'s medians."""
    lines = ["| N | tool | import (KiB) | + register, cold / warm (KiB) | total, cold / warm (KiB) "
             "| register, cold / warm (ms) |", "|---|---|---|---|---|---|"]
    for n, tools in summary.items():
        for key, s in tools.items():
            lines.append(f"| {int(n):,} | {key} | {s['install_kib']:,.0f} "
                         f"| {s['register_cold_kib']:,.0f} / {s['register_warm_kib']:,.0f} "
                         f"| {s['total_cold_kib']:,.0f} / {s['total_warm_kib']:,.0f} "
                         f"| {s['register_cold_ms']:,.1f} / {s['register_warm_ms']:,.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
