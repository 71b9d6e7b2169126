"""Shared fixtures: a real temporary project directory on sys.path."""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

# The suite never writes LiveImport's analysis cache to the real home: every
# test process (kernels included, by inheritance) uses a scratch directory.
os.environ.setdefault("LIVEIMPORT_CACHE_DIR", tempfile.mkdtemp(prefix="liveimport-test-cache-"))

import pytest  # noqa: E402

import liveimport  # noqa: E402


class Project:
    """A temporary directory of real module files, importable and the workspace.

    ``write`` changes the bytes on disk; ``load`` imports for real; ``ns`` is a
    fresh namespace (like a notebook's globals) for each test.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ns: dict = {"__name__": "__main__"}

    def path(self, relpath: str) -> Path:
        return self.root / relpath

    def write(self, relpath: str, source: str, *, dedent: bool = True) -> Path:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        text = textwrap.dedent(source) if dedent else source
        path.write_text(text)
        return path

    def write_bytes(self, relpath: str, data: bytes) -> Path:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def run(self, code: str) -> None:
        """Execute statements in the namespace, as a notebook cell would."""
        exec(compile(textwrap.dedent(code), "<cell>", "exec"), self.ns)

    def register(self, stmts: str, **kwargs) -> None:
        """Run the import statements, then register them."""
        self.run(stmts)
        liveimport.register(self.ns, stmts, **kwargs)

    def sync(self, **kwargs) -> list[liveimport.ReloadEvent]:
        events: list[liveimport.ReloadEvent] = []
        liveimport.sync(observer=events.append, **kwargs)
        return events


def _forget_modules_under(root: Path) -> None:
    prefix = str(root)
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        paths = list(getattr(module, "__path__", []) or [])
        if (file and str(file).startswith(prefix)) or any(str(p).startswith(prefix) for p in paths):
            del sys.modules[name]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "proj"
    root.mkdir()
    monkeypatch.chdir(root)
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    liveimport.reset()
    liveimport.workspace(root)
    try:
        yield Project(root)
    finally:
        liveimport.reset()
        sys.path.remove(str(root))
        _forget_modules_under(root)
        sys.dont_write_bytecode = False


def tick() -> None:
    """Let a little time pass (mtime ordering is not relied on: content is)."""
    time.sleep(0.001)


@pytest.fixture(params=["events", "polling"])
def detection(request: pytest.FixtureRequest):
    """Run a test in both change-detection modes."""
    previous = liveimport.change_detection()
    liveimport.change_detection(request.param)
    try:
        yield request.param
    finally:
        liveimport.change_detection(previous)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak-cycles", type=int, default=300, help="edit/sync cycles of the soak test"
    )
    parser.addoption(
        "--fuzz-examples",
        type=int,
        default=300,
        help="generated inputs for the parser differential test",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keep each phase's report on the item (``item.rep_setup``, ``item.rep_call``),
    so that a fixture can tell at teardown whether its test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
