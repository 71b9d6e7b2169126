"""LiveImport, headless: the example notebook run cell by cell in a real Jupyter kernel.

Run it with ``make demo`` (or ``.venv/bin/python examples/demo.py`` once the
package is built). It copies ``examples/demo.ipynb`` and the ``shop`` package
it imports to a temporary directory, starts a real IPython kernel there,
and runs the notebook's code cells one at a time, as you would. Where the
notebook asks you to edit a file, the script makes that edit on disk, waits a
little longer than LiveImport's grace period (1 second, as a person would),
and runs the next cell. It prints, cell by cell, what the notebook shows:
LiveImport's reload report above the cell's own output, and the new values.

To run the same notebook yourself in JupyterLab::

    .venv/bin/python -m pip install jupyterlab
    .venv/bin/jupyter lab examples/demo.ipynb

then run the cells one by one and make the edits the notebook describes in
any editor (JupyterLab's own file editor works). Use a copy of ``examples/``
if you want to keep the files pristine.

Options: ``--keep`` leaves the temporary copy in place and prints its path.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager

HERE = Path(__file__).resolve().parent
PAUSE = 1.5  # seconds: longer than LiveImport's default grace period (1.0 s)
WIDTH = 78


def strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def indent(text: str, prefix: str = "    ") -> str:
    return textwrap.indent(text.rstrip("\n"), prefix, lambda line: True)


def rule(title: str = "") -> str:
    if not title:
        return "-" * WIDTH
    return f"-- {title} " + "-" * max(0, WIDTH - len(title) - 4)


class Kernel:
    """A real IPython kernel in ``cwd``, driven as a notebook front end drives it."""

    def __init__(self, cwd: Path) -> None:
        self._sockets = tempfile.mkdtemp(prefix="liveimport-demo-")
        self.km = KernelManager(
            kernel_name="python3", transport="ipc", ip=os.path.join(self._sockets, "kernel")
        )
        self.km.start_kernel(cwd=str(cwd))
        self.kc = self.km.blocking_client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def run(self, code: str, cell_id: str) -> tuple[int | None, list[dict]]:
        """Execute one cell; return its execution count and its outputs."""
        msg = self.kc.session.msg(
            "execute_request",
            {
                "code": code,
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
            metadata={"cellId": cell_id},
        )
        self.kc.shell_channel.send(msg)
        msg_id = msg["header"]["msg_id"]
        outputs: list[dict] = []
        while True:
            reply = self.kc.get_iopub_msg(timeout=60)
            if reply["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = reply["msg_type"], reply["content"]
            if kind == "status" and content["execution_state"] == "idle":
                break
            if kind in ("stream", "display_data", "execute_result", "error"):
                outputs.append({"kind": kind, **content})
        while True:
            reply = self.kc.get_shell_msg(timeout=60)
            if reply["parent_header"].get("msg_id") == msg_id:
                return reply["content"].get("execution_count"), outputs

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
        shutil.rmtree(self._sockets, ignore_errors=True)


def show_outputs(outputs: list[dict]) -> None:
    if not outputs:
        print("    (no output)")
    for out in outputs:
        kind = out["kind"]
        if kind == "stream":
            print(indent(out["text"]))
        elif kind == "error":
            print(indent(strip_ansi("\n".join(out["traceback"])), "    ! "))
        else:
            data = out["data"]
            markdown = data.get("text/markdown", "")
            if markdown.startswith("```console\n"):
                report = markdown[len("```console\n") :].rsplit("```", 1)[0]
                print("    +-- LiveImport " + "-" * 40)
                print(indent(report, "    | "))
                print("    +" + "-" * 55)
            elif kind == "execute_result":
                print(indent(data.get("text/plain", ""), "    Out: "))
            else:
                print(indent(data.get("text/plain", markdown)))


def edit(root: Path, change: dict) -> None:
    path = root / change["file"]
    text = path.read_text()
    assert change["old"] in text, f"{change['old']!r} not found in {path}"
    path.write_text(text.replace(change["old"], change["new"], 1))
    print(f">>> You edit {change['file']} and save it:")
    print(f"      - {change['old'].strip()}")
    print(f"      + {change['new'].strip()}")
    print(f"    ...and pause a moment ({PAUSE} s) before running the next cell.")
    time.sleep(PAUSE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="liveimport-example-"))
    shutil.copytree(HERE / "shop", workdir / "shop", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(HERE / "demo.ipynb", workdir / "demo.ipynb")
    notebook = nbformat.read(workdir / "demo.ipynb", as_version=4)

    print("=" * WIDTH)
    print("LiveImport demo: examples/demo.ipynb, cell by cell, in a real Jupyter kernel")
    print(f"(working on a copy in {workdir})")
    print("=" * WIDTH)
    kernel = Kernel(workdir)
    try:
        for cell in notebook.cells:
            if cell.cell_type == "markdown":
                print()
                print(indent(cell.source, "  "))
                continue
            if cell.cell_type != "code":
                continue
            change = cell.metadata.get("demo_edit")
            if change:
                print()
                edit(workdir, change)
            count, outputs = kernel.run(cell.source, cell.get("id", ""))
            print()
            print(rule(f"In [{count}]"))
            print(indent(cell.source))
            print(rule("output"))
            show_outputs(outputs)
            print(rule())
    finally:
        kernel.close()
        if args.keep:
            print(f"\nThe edited copy is in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
