"""Drive a real Jupyter kernel from tests.

`Kernel` starts an IPython kernel (the venv's ``python3`` kernel spec) with a
given working directory, sends execute requests over ZeroMQ exactly as a front
end does, and collects what the front end would show for each cell into a
`Cell`: streams, display data, results, errors and the reply status.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import textwrap
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager

#: Grace period the kernel tests configure (seconds); `Kernel.pause` waits past it.
GRACE = 0.2


@dataclass
class Cell:
    """What a front end shows for one executed cell."""

    code: str
    status: str = ""
    reply: dict[str, Any] = field(default_factory=dict)
    outputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def stdout(self) -> str:
        return "".join(
            o["text"] for o in self.outputs if o["type"] == "stream" and o["name"] == "stdout"
        )

    @property
    def stderr(self) -> str:
        return "".join(
            o["text"] for o in self.outputs if o["type"] == "stream" and o["name"] == "stderr"
        )

    @property
    def markdown(self) -> list[str]:
        """``text/markdown`` of every display_data output, in order."""
        return [
            o["data"]["text/markdown"]
            for o in self.outputs
            if o["type"] == "display_data" and "text/markdown" in o["data"]
        ]

    @property
    def reports(self) -> list[str]:
        """Reload reports: their Markdown console blocks (the reloads, as the
        PyPI package shows them), without the fences."""
        found = []
        for md in self.markdown:
            if md.startswith("```console\n") and "\n```" in md:
                found.append(md[len("```console\n") : md.index("\n```")])
        return found

    @property
    def notes(self) -> list[str]:
        """The lines after a report's console block (leftover names, re-run
        hints, old objects), one per note."""
        found = []
        for md in self.markdown:
            if md.startswith("```console\n") and "\n```\n\n" in md:
                rest = md.split("\n```\n\n", 1)[1]
                found += [line.rstrip().strip("`") for line in rest.split("  \n")]
        return found

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [o for o in self.outputs if o["type"] == "error"]

    @property
    def result(self) -> str | None:
        """``text/plain`` of the execute_result, if any."""
        for o in self.outputs:
            if o["type"] == "execute_result":
                return o["data"].get("text/plain")
        return None

    def error_text(self) -> str:
        """All error outputs' tracebacks, ANSI colours removed."""
        return "\n".join(strip_ansi("\n".join(e["traceback"])) for e in self.errors)

    def all_text(self) -> str:
        parts = [self.stdout, self.stderr, *self.markdown, self.error_text()]
        if self.result is not None:
            parts.append(self.result)
        return "\n".join(parts)

    def __str__(self) -> str:  # shown by pytest on failure
        lines = [f"--- cell: {self.code!r} -> {self.status}"]
        for o in self.outputs:
            if o["type"] == "stream":
                lines.append(f"[{o['name']}] {o['text']!r}")
            elif o["type"] == "error":
                lines.append(f"[error {o['ename']}] " + strip_ansi("\n".join(o["traceback"])))
            else:
                lines.append(f"[{o['type']}] {o['data']!r}")
        return "\n".join(lines)


def strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


class Kernel:
    """A real IPython kernel whose working directory is ``cwd``."""

    def __init__(self, cwd: Path, *, extra_env: dict[str, str] | None = None) -> None:
        self.cwd = Path(cwd)
        env = dict(os.environ)
        env.pop("PYTHONSTARTUP", None)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.update(extra_env or {})
        # IPC sockets: local only, and no warning about unencrypted TCP.
        self._sockets = tempfile.mkdtemp(prefix="liveimport-kernel-")
        self.km = KernelManager(
            kernel_name="python3", transport="ipc", ip=os.path.join(self._sockets, "kernel")
        )
        self.km.start_kernel(cwd=str(self.cwd), env=env)
        self.kc = self.km.blocking_client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
        shutil.rmtree(self._sockets, ignore_errors=True)

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- execution ------------------------------------------------------------

    def send(
        self,
        code: str,
        *,
        store_history: bool = True,
        cell_id: str | None | bool = True,
    ) -> str:
        """Send an execute request like a notebook front end; return its msg_id.

        ``cell_id=True`` sends a fresh notebook cell id (as JupyterLab does);
        ``None`` or ``False`` sends none (as bootstrap code does).
        """
        if cell_id is True:
            cell_id = str(uuid.uuid4())
        metadata = {"cellId": cell_id} if cell_id else {}
        content = {
            "code": code,
            "silent": False,
            "store_history": store_history,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": False,
        }
        msg = self.kc.session.msg("execute_request", content, metadata=metadata)
        self.kc.shell_channel.send(msg)
        return msg["header"]["msg_id"]

    def collect(self, msg_id: str, code: str = "", *, timeout: float = 30) -> Cell:
        """Collect the outputs and the reply of a request sent with `send`."""
        cell = Cell(code)
        deadline = time.monotonic() + timeout
        idle = False
        while not idle:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"cell did not finish: {code!r}\n{cell}")
            m = self.kc.get_iopub_msg(timeout=remaining)
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            kind = m["msg_type"]
            c = m["content"]
            if kind == "status":
                idle = c["execution_state"] == "idle"
            elif kind == "stream":
                cell.outputs.append({"type": "stream", "name": c["name"], "text": c["text"]})
            elif kind in ("display_data", "execute_result", "update_display_data"):
                cell.outputs.append(
                    {"type": kind, "data": c["data"], "execution_count": c.get("execution_count")}
                )
            elif kind == "error":
                cell.outputs.append(
                    {
                        "type": "error",
                        "ename": c["ename"],
                        "evalue": c["evalue"],
                        "traceback": c["traceback"],
                    }
                )
        while True:
            reply = self.kc.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        cell.reply = reply["content"]
        cell.status = reply["content"]["status"]
        return cell

    def run(
        self,
        code: str,
        *,
        store_history: bool = True,
        cell_id: str | None | bool = True,
        timeout: float = 30,
    ) -> Cell:
        """Execute ``code`` (dedented) like a notebook front end and collect the outputs."""
        code = textwrap.dedent(code)
        msg_id = self.send(code, store_history=store_history, cell_id=cell_id)
        return self.collect(msg_id, code, timeout=timeout)

    def batch(self, *cells: str | tuple[str, dict[str, Any]], timeout: float = 30) -> list[Cell]:
        """Send several cells at once, as "Run All" does, then collect each.

        The kernel queues the requests, so each cell starts right after the
        previous one ends, whatever the load on this machine. An item may be
        ``(code, send_options)``.
        """
        sent = []
        for item in cells:
            code, options = (item, {}) if isinstance(item, str) else item
            code = textwrap.dedent(code)
            sent.append((self.send(code, **options), code))
        return [self.collect(msg_id, code, timeout=timeout) for msg_id, code in sent]

    @staticmethod
    def edit_cell(path: str, old: str, new: str) -> str:
        """Code of a cell that edits a file in the kernel's directory."""
        return (
            f"import pathlib as _p\n_f = _p.Path({path!r})\n"
            f"assert {old!r} in _f.read_text()\n"
            f"_f.write_text(_f.read_text().replace({old!r}, {new!r}))"
        )

    def ok(self, code: str, **kwargs: Any) -> Cell:
        """Run a cell that must succeed without any error output."""
        cell = self.run(code, **kwargs)
        assert cell.status == "ok" and not cell.errors, str(cell)
        return cell

    def value(self, expr: str) -> Any:
        """Evaluate an expression in the kernel (through a cell) and return its repr-eval."""
        import ast

        cell = self.ok(f"print(repr({expr}))")
        return ast.literal_eval(cell.stdout.strip())

    @staticmethod
    def pause(seconds: float | None = None) -> None:
        """Wait until the grace period since the previous cell has passed."""
        time.sleep(GRACE + 0.15 if seconds is None else seconds)


def write(path: Path, source: str) -> None:
    """Write a module file; the content must differ from what was there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = textwrap.dedent(source).lstrip("\n")
    if path.exists():
        assert path.read_text() != text, f"edit of {path} does not change its bytes"
    path.write_text(text)


def python() -> str:
    return sys.executable
