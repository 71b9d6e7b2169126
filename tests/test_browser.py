"""LiveImport as a person sees it: JupyterLab in a real headless Chromium.

A JupyterLab server (hermetic: its config, data, runtime, settings and
workspace directories are in a temporary directory) serves notebooks made
for the test, next to a small module package. Playwright drives Debian's
``chromium``: it clicks into cells and runs them with Shift+Enter or the
Run menu, exactly as a person would, while the test edits the modules on
disk; the assertions read the rendered output area.

``make test`` installs what this needs (JupyterLab and Playwright into
.venv, Chromium with apt-get where it can). Elsewhere the tests skip with
the reason; under ``CI=true`` a missing piece fails them instead.

Screenshots of the final state (and of any failure) go to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

try:
    from playwright.sync_api import BrowserContext, Locator, Page, expect, sync_playwright
    from playwright.sync_api import Error as PlaywrightError
except ImportError:  # reported by the `chromium` fixture
    sync_playwright = None

pytestmark = [pytest.mark.kernel, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

#: Past LiveImport's default grace period (1 s): how long a person pauses
#: between saving a module and running the next cell.
PAST_GRACE = 1.3

KERNEL_READY = "Python 3 (ipykernel) | Idle"
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"
CELLS = f"{NOTEBOOK} .jp-Notebook .jp-Cell"
EDITOR = ".jp-InputArea-editor .cm-content"
OUTPUT = ".jp-OutputArea-output"

SHAPES = '''\
"""Shapes: the module the notebooks import (line 5 is the one we break)."""
from geo.units import SCALE
PI = 3

def area(r):
    return PI * r * r * SCALE
'''


def unavailable(reason: str) -> None:
    """Skip loudly; under CI=true, fail: CI must run the browser test."""
    message = f"BROWSER TEST NOT RUN: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: run `make test`, which installs it)", pytrace=False)
    pytest.skip(message)


# -- processes ------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc."""
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def descendants(pid: int) -> list[int]:
    kids = _children()
    found, todo = [], [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_group(pgid: int, *, grace: float = 10.0, leader: subprocess.Popen | None = None) -> None:
    """SIGTERM the process group ``pgid``, then SIGKILL what is left after ``grace`` s.

    ``leader`` is the group leader if it is our child: it is reaped as it
    exits (until then, as a zombie, it would keep the group alive).
    """
    if pgid == os.getpgrp():  # never our own group
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if leader is not None:
                leader.poll()
            if not group_alive(pgid):
                break
            time.sleep(0.05)
        if not group_alive(pgid):
            return


def groups_of(pids: list[int]) -> set[int]:
    groups = set()
    for pid in pids:
        try:
            groups.add(os.getpgid(pid))
        except ProcessLookupError:
            pass
    return groups - {os.getpgrp()}


# -- the JupyterLab server ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_taken(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


class LabServer:
    """``python -m jupyterlab`` on 127.0.0.1, everything it writes under ``base``."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "notebooks"  # the server's root directory
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = base / "server.log"
        dirs = {
            name: base / name for name in ("config", "data", "runtime", "settings", "workspaces")
        }
        for path in [self.root, *dirs.values()]:
            path.mkdir(parents=True, exist_ok=True)
        self._configure(dirs)
        self.env = {
            **os.environ,
            "PYTHONDONTWRITEBYTECODE": "1",
            "JUPYTER_CONFIG_DIR": str(dirs["config"]),
            "JUPYTER_DATA_DIR": str(dirs["data"]),
            "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
            "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
            "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
            "IPYTHONDIR": str(base / "ipython"),  # no user profile or startup files
        }
        for name in ("JUPYTER_PATH", "JUPYTER_CONFIG_PATH", "PYTHONSTARTUP"):
            self.env.pop(name, None)
        self.proc: subprocess.Popen | None = None

    def _configure(self, dirs: dict[str, Path]) -> None:
        server = {
            "ServerApp": {
                "ip": "127.0.0.1",
                "port": self.port,
                "port_retries": 0,  # the port asked for, or exit
                "token": self.token,
                "open_browser": False,
                "root_dir": str(self.root),
                "allow_root": True,
                "terminals_enabled": False,
            },
            "LabApp": {
                "news_url": None,
                "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                "extension_manager": "readonly",
            },
            "LanguageServerManager": {"autodetect": False},
        }
        (dirs["config"] / "jupyter_server_config.json").write_text(json.dumps(server))
        # No news, update or build prompts in the page.
        labconfig = dirs["config"] / "labconfig"
        labconfig.mkdir()
        page = {
            "buildAvailable": False,
            "buildCheck": False,
            "disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True},
        }
        (labconfig / "page_config.json").write_text(json.dumps(page))
        settings = {
            "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
            # every cell in the DOM, whatever the viewport
            "notebook-extension/tracker": {"windowingMode": "none"},
        }
        for plugin, values in settings.items():
            path = dirs["settings"] / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))

    def start(self, timeout: float = 90) -> None:
        if port_taken(self.port):
            raise RuntimeError(f"port {self.port} is taken: refusing to start JupyterLab")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jupyterlab"],
                cwd=self.root,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as one
            )
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                if self.api("GET", "/api/status", timeout=2) is not None:
                    return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"JupyterLab not ready after {timeout} s\n{self.log_tail()}")
            time.sleep(0.25)

    def check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"JupyterLab exited with status {self.proc.returncode}\n{self.log_tail()}"
            )

    def api(self, method: str, path: str, timeout: float = 10) -> object:
        """A REST call with the token (a server that is not ours refuses it)."""
        request = urllib.request.Request(
            self.url + path, method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else {}

    def shut_down_kernels(self) -> None:
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")

    def stop(self) -> None:
        """SIGTERM the server's process group (it shuts its kernels down), then make sure."""
        if self.proc is None:
            return
        # Kernels run in process groups of their own: note them first.
        kernels = groups_of(descendants(self.proc.pid))
        stop_group(self.proc.pid, leader=self.proc)
        self.proc.wait(timeout=5)
        for pgid in kernels:
            stop_group(pgid, grace=2.0)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return "--- server log (tail) ---\n" + self.log_path.read_text()[-chars:]
        except OSError:
            return ""


# -- fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> str:
    if sync_playwright is None:
        unavailable("the playwright package is not installed (make test installs it)")
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        unavailable("the jupyterlab package is not installed (make test installs it)")
    path = shutil.which("chromium")
    if path is None:
        unavailable(
            "no `chromium` on PATH; `make test` installs it as root on Debian, "
            "elsewhere install Debian's chromium package (or put a chromium on PATH)"
        )
    return path


@pytest.fixture(scope="module")
def lab_server(chromium, tmp_path_factory) -> Iterator[LabServer]:
    server = LabServer(tmp_path_factory.mktemp("jupyterlab"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(chromium) -> Iterator[BrowserContext]:
    """A context of Chromium, launched by Playwright; shut down by its process group.

    One context for the module: its HTTP cache makes later page loads quicker.
    """
    pw = sync_playwright().start()
    before = set(descendants(os.getpid()))
    leaders: list[int] = []
    try:
        chrome = pw.chromium.launch(executable_path=chromium, headless=True)
        # Playwright starts the browser as a process-group leader of its own.
        for pid in set(descendants(os.getpid())) - before:
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
                if "chromium" in exe and os.getpgid(pid) == pid:
                    leaders.append(pid)
            except OSError:
                pass
        assert leaders, "could not find the Chromium process Playwright launched"
        yield chrome.new_context(viewport={"width": 1280, "height": 1400})
    finally:
        for pgid in leaders:
            stop_group(pgid, grace=5.0)
        pw.stop()


@pytest.fixture
def lab(request, lab_server, browser) -> Iterator[Lab]:
    lab_server.check_alive()
    workdir = lab_server.root / request.node.name
    workdir.mkdir()
    session = Lab(lab_server, browser, workdir, request.node.name)
    try:
        yield session
    finally:
        # Reports kept by the hook in conftest.py.
        reports = [getattr(request.node, f"rep_{when}", None) for when in ("setup", "call")]
        session.close(failed=any(report and report.failed for report in reports))
    lab_server.check_alive()  # it served the whole test


# -- driving the page ---------------------------------------------------------------


class Lab:
    """Pages of one test, each showing one notebook of ``workdir``."""

    def __init__(
        self, server: LabServer, context: BrowserContext, workdir: Path, name: str
    ) -> None:
        self.server = server
        self.context = context
        self.workdir = workdir
        self.name = name
        self.notebooks: list[Notebook] = []

    def write(self, relpath: str, text: str) -> None:
        path = self.workdir / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        assert not path.exists() or path.read_text() != text, f"{relpath}: same bytes"
        path.write_text(text)

    def notebook(self, filename: str, cells: dict[str, str]) -> Notebook:
        """Write a notebook with these code cells (id -> source), open it, wait for its kernel."""
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
        }
        nb.cells = [nbformat.v4.new_code_cell(src, id=cid) for cid, src in cells.items()]
        nbformat.write(nb, self.workdir / filename)
        for previous in self.notebooks:  # one kernel at a time
            previous.close(self.name, failed=False)
        self.server.shut_down_kernels()
        page = self.context.new_page()
        notebook = Notebook(page, filename, list(cells))
        self.notebooks.append(notebook)
        relpath = f"{self.workdir.name}/{filename}"
        page.goto(f"{self.server.url}/lab/tree/{relpath}?reset&token={self.server.token}")
        notebook.wait_for_kernel(timeout=90)
        expect(notebook.cells).to_have_count(len(cells))
        return notebook

    def close(self, failed: bool) -> None:
        for notebook in self.notebooks:
            notebook.close(self.name, failed)
        if failed:
            ARTIFACTS.mkdir(exist_ok=True)
            (ARTIFACTS / f"{self.name}-server.log").write_text(self.server.log_tail(100_000))
        try:
            self.server.shut_down_kernels()
        except (OSError, urllib.error.URLError):
            pass


class Notebook:
    """One notebook open in its own page."""

    def __init__(self, page: Page, filename: str, ids: list[str]) -> None:
        self.page = page
        self.filename = filename
        self.ids = ids
        self.cells = page.locator(CELLS)
        self.closed = False
        self.console: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    def cell(self, cid: str) -> Locator:
        return self.cells.nth(self.ids.index(cid))

    def prompt(self, cid: str) -> str:
        return self.cell(cid).locator(".jp-InputPrompt").inner_text().strip()

    def wait_for_kernel(self, timeout: float = 30) -> None:
        """Wait until the status bar shows the kernel idle.

        Only the status bar is trusted: the toolbar's indicator says idle before
        the kernel exists, and keystrokes sent then are lost.
        """
        status = self.page.locator(".jp-StatusBar-Widget").get_by_text(KERNEL_READY)
        status.wait_for(state="visible", timeout=timeout * 1000)

    def wait_for_runs(self, before: dict[str, str], timeout: float = 30) -> None:
        """Wait until each cell of ``before`` shows an execution count other than before."""
        deadline = time.monotonic() + timeout
        for cid, old in before.items():
            while True:
                now = self.prompt(cid)
                if re.fullmatch(r"\[\d+\]:", now) and now != old:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"cell {cid} did not finish: prompt {now!r}")
                self.page.wait_for_timeout(50)
        self.wait_for_kernel(timeout=max(1.0, deadline - time.monotonic()))

    def run(self, cid: str, timeout: float = 30) -> str:
        """Click into the cell, press Shift+Enter, wait for the result; return its output."""
        self.wait_for_kernel()
        before = {cid: self.prompt(cid)}
        cell = self.cell(cid)
        cell.locator(EDITOR).click()
        cell.locator(".jp-InputArea-editor.jp-mod-focused").wait_for()
        self.page.keyboard.press("Shift+Enter")
        self.wait_for_runs(before, timeout)
        return self.output(cid)

    def run_all(self, timeout: float = 30) -> dict[str, str]:
        """Run → Run All Cells, from the menu bar; return every cell's output."""
        self.wait_for_kernel()
        before = {cid: self.prompt(cid) for cid in self.ids}
        self.cell(self.ids[0]).locator(EDITOR).click()  # the notebook is the current widget
        self.page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
        menu = self.page.locator(".lm-Menu:not(.lm-MenuBar)")
        menu.locator(".lm-Menu-item", has_text=re.compile(r"^Run All Cells")).click()
        self.wait_for_runs(before, timeout)
        return {cid: self.output(cid) for cid in self.ids}

    def output(self, cid: str, timeout: float = 10) -> str:
        """The text of the cell's rendered outputs, as the page shows it.

        The output nodes of a finished cell are all there, but renderers fill
        them asynchronously (Markdown, for one): wait until every node shows
        text and the whole reads the same twice in a row.
        """
        outputs = self.cell(cid).locator(OUTPUT)
        deadline = time.monotonic() + timeout
        previous = None
        while True:
            texts = outputs.all_inner_texts()
            if all(text.strip() for text in texts) and texts == previous:
                return "\n".join(text.strip("\n") for text in texts)
            if time.monotonic() > deadline:
                raise TimeoutError(f"outputs of cell {cid} still rendering: {texts!r}")
            previous = texts
            self.page.wait_for_timeout(100)

    def close(self, test: str, failed: bool) -> None:
        if self.closed:
            return
        self.closed = True
        ARTIFACTS.mkdir(exist_ok=True)
        stem = f"{test}-{Path(self.filename).stem}"
        if failed:
            (ARTIFACTS / f"{stem}-console.txt").write_text("\n".join(self.console))
        try:
            shot = ARTIFACTS / f"{stem}-{'failure' if failed else 'final'}.png"
            self.page.screenshot(path=str(shot), timeout=15_000)
        except PlaywrightError as error:  # a wedged page must not hide the test's own error
            print(f"no screenshot of {self.filename}: {error}", file=sys.stderr)
        finally:
            self.page.close()


def pause_past_grace() -> None:
    time.sleep(PAST_GRACE)


def reloaded(module: str, text: str) -> bool:
    """Whether ``text`` has the reload report line of ``module`` (its edit)."""
    return re.search(rf"\bReloaded {re.escape(module)} modified \S.* ago\b", text) is not None


def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# -- tests ----------------------------------------------------------------------------


def test_edit_error_fix_run_all_and_hidden_magic(lab):
    lab.write("geo/__init__.py", "")
    lab.write("geo/units.py", "SCALE = 1\n")
    lab.write("geo/shapes.py", SHAPES)
    nb = lab.notebook(
        "shapes.ipynb",
        {
            "setup": "import liveimport",
            "imports": "%%liveimport\nfrom geo.shapes import PI, area",
            "tracked": "print(list(liveimport.tracked()))",
            "first": 'print("area:", area(2))',
            "after-edit": 'print("area:", area(2))',
            "after-mistake": 'print("still ran:", area(2))',
            "while-broken": 'print("still broken, PI =", PI)',
            "after-fix": 'print("fixed:", area(2))',
        },
    )
    assert nb.run("setup") == ""
    assert nb.run("imports") == ""
    # geo.units is tracked only because its file lies in the workspace: the
    # notebook's folder, where JupyterLab started the kernel.
    assert "'geo.units'" in nb.run("tracked")
    assert nb.run("first") == "area: 12"

    # An edit, saved more than the grace period before the next cell: reloaded,
    # reported above the cell's own output, the imported names rebound.
    lab.write("geo/shapes.py", SHAPES.replace("PI = 3", "PI = 4"))
    pause_past_grace()
    out = nb.run("after-edit")
    assert reloaded("geo.shapes", out), out
    assert "area: 16" in out
    assert out.index("Reloaded geo.shapes") < out.index("area: 16")

    # A syntax error: shown with the file and line, and the cell still runs
    # (on the previous versions of the modules).
    lab.write("geo/shapes.py", SHAPES.replace("PI = 3", "PI = 4").replace("(r):", "(r:"))
    pause_past_grace()
    out = nb.run("after-mistake")
    assert "SyntaxError" in out
    assert re.search(r"shapes\.py(:|, line )5\b", out), out
    assert "still ran: 16" in out
    assert "Reloaded" not in out

    pause_past_grace()
    out = nb.run("while-broken")
    assert "still broken, PI = 4" in out
    assert "Reloaded" not in out

    # Fixed: the next cell reloads, and nothing of the error is left.
    lab.write("geo/shapes.py", SHAPES.replace("PI = 3", "PI = 5"))
    pause_past_grace()
    out = nb.run("after-fix")
    assert reloaded("geo.shapes", out), out
    assert "fixed: 20" in out
    assert "Error" not in out

    # "Run All" on a notebook whose first cell edits a module; its imports
    # are registered by a hidden-magic cell (``#_%%liveimport``).
    lab.write("counter.py", "VERSION = 1\n")
    nb = lab.notebook(
        "run_all.ipynb",
        {
            "bump": (
                "import pathlib, re\n"
                "_f = pathlib.Path('counter.py')\n"
                "_v = int(re.search(r'VERSION = (\\d+)', _f.read_text())[1])\n"
                "_ = _f.write_text(f'VERSION = {_v + 1}\\n')"
            ),
            "setup": "import liveimport",
            "hidden": "#_%%liveimport\nfrom counter import VERSION",
            "show": 'print("version", VERSION)\nprint(liveimport.registrations(globals()))',
        },
    )
    outs = nb.run_all()
    assert (lab.workdir / "counter.py").read_text() == "VERSION = 2\n"
    assert "version 2" in outs["show"]
    assert "Binding(module='counter', name='VERSION'" in outs["show"]  # hidden magic
    assert not any("Reloaded" in out or "Error" in out for out in outs.values()), outs

    # Again, later: the first cell edits counter.py, and the cells after it
    # start within the grace period, so nothing reloads part-way.
    pause_past_grace()
    outs = nb.run_all()
    assert (lab.workdir / "counter.py").read_text() == "VERSION = 3\n"
    assert "version 2" in outs["show"]
    assert not any("Reloaded" in out or "Error" in out for out in outs.values()), outs

    # A cell run by hand afterwards syncs: the hidden magic's import is live.
    pause_past_grace()
    out = nb.run("show")
    assert reloaded("counter", out), out
    assert "version 3" in out


def test_module_error_display_is_clean_and_not_repeated(lab):
    lab.write("geo/__init__.py", "")
    lab.write("geo/units.py", "SCALE = 1\n")
    lab.write("geo/shapes.py", SHAPES)
    nb = lab.notebook(
        "error_display.ipynb",
        {
            "setup": "import liveimport",
            "imports": "%%liveimport\nfrom geo.shapes import area",
            "first": 'print("area:", area(2))',
            "after-mistake": 'print("still ran:", area(2))',
            "while-broken": 'print("second cell")',
        },
    )
    nb.run("setup")
    nb.run("imports")
    assert nb.run("first") == "area: 12"

    lab.write("geo/shapes.py", SHAPES.replace("(r):", "(r:"))
    pause_past_grace()
    out = nb.run("after-mistake")
    assert "SyntaxError" in out and "still ran: 12" in out
    # The user's error, not LiveImport's insides.
    for hidden in ("liveimport/_api.py", "_reload.py", "AnalysisError"):
        assert hidden not in out, f"{hidden!r} shown:\n{out}"
    assert "During handling of the above exception" not in out, out

    # The error persists: the next cell gets one short line, not the block again.
    pause_past_grace()
    out = nb.run("while-broken")
    assert "second cell" in out
    rest = [line for line in lines_of(out) if line.strip() != "second cell"]
    assert len(rest) == 1, f"expected one line about the error, got:\n{out}"
    assert len(rest[0]) <= 200 and ("geo.shapes" in rest[0] or "shapes.py" in rest[0]), rest
    assert "Traceback" not in out, out
