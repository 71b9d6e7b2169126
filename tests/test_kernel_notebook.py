"""The example notebook, executed end to end by nbclient in a real kernel, and the demo."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.kernel

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def example(tmp_path):
    shutil.copytree(
        EXAMPLES / "shop", tmp_path / "shop", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(EXAMPLES / "demo.ipynb", tmp_path / "demo.ipynb")
    return tmp_path


def texts(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("display_data", "execute_result"):
            parts.append(out.data.get("text/markdown") or out.data.get("text/plain", ""))
        elif out.output_type == "error":
            parts.append("\n".join(out.traceback))
    return "\n".join(parts)


def reports(cell) -> list[str]:
    lines = []
    for out in cell.get("outputs", []):
        md = out.get("data", {}).get("text/markdown", "") if "data" in out else ""
        if md.startswith("```console\n"):  # the reloads; notes may follow the block
            lines += md[len("```console\n") : md.index("\n```")].splitlines()
    return lines


def execute(path: Path, on_cell_start=None) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=60,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        on_cell_start=on_cell_start,
    )
    client.execute()
    return nb


def by_id(nb) -> dict:
    return {cell.id: cell for cell in nb.cells}


def test_run_all_reloads_nothing_part_way(example):
    # "Run All" with an edit made by a cell in the middle: the cells start
    # within the grace period of each other, so no cell reloads anything.
    nb = nbformat.read(example / "demo.ipynb", as_version=4)
    edit = nbformat.v4.new_code_cell(
        "import pathlib\n"
        "p = pathlib.Path('shop/pricing.py')\n"
        "p.write_text(p.read_text().replace('TAX_RATE = 0.20', 'TAX_RATE = 0.25'))",
        id="sneaky-edit",
    )
    position = [c.id for c in nb.cells].index("after-tax")
    nb.cells.insert(position, edit)
    nbformat.write(nb, example / "demo.ipynb")

    nb = execute(example / "demo.ipynb")
    cells = by_id(nb)
    assert all(reports(cell) == [] for cell in nb.cells if cell.cell_type == "code")
    assert not any(out.output_type == "error" for c in nb.cells for out in c.get("outputs", []))
    assert "tax rate: 0.2\n" in texts(cells["after-tax"])
    assert "12.29 EUR" in texts(cells["after-fix"])
    status = texts(cells["status"])
    assert "from shop.cart import Cart" in status and "shop.pricing" in status
    # the status display knows the edit is still pending
    assert "reload pending" in status


@pytest.mark.slow  # the whole example notebook: .venv's Python only
def test_step_by_step_with_the_edits_the_notebook_asks_for(example):
    def on_cell_start(cell, cell_index):
        change = cell.metadata.get("demo_edit")
        if change:
            path = example / change["file"]
            text = path.read_text()
            assert change["old"] in text
            path.write_text(text.replace(change["old"], change["new"], 1))
            time.sleep(1.2)  # past the default grace period of 1 s

    nb = execute(example / "demo.ipynb", on_cell_start)
    cells = by_id(nb)
    assert reports(cells["first-receipt"]) == []

    lines = reports(cells["after-tax"])
    assert len(lines) == 2
    assert lines[0].startswith("Reloaded shop.pricing modified")
    assert lines[1] == "Reloaded shop.cart because shop.pricing reloaded"
    assert "tax rate: 0.25" in texts(cells["after-tax"])
    assert "12.80 EUR" in texts(cells["after-tax"])

    lines = reports(cells["after-currency"])
    assert [line.split()[1] for line in lines] == ["shop.money", "shop.pricing", "shop.cart"]
    assert lines[2] == "Reloaded shop.cart because shop.money and shop.pricing reloaded"
    assert "currency: USD" in texts(cells["after-currency"])  # star-imported name rebound
    assert "12.80 USD" in texts(cells["after-currency"])

    mistake = cells["after-mistake"]
    errors = [out for out in mistake.outputs if out.output_type == "error"]
    assert len(errors) == 1 and errors[0].ename == "SyntaxError"
    assert "pricing.py" in texts(mistake)
    assert "12.80 USD" in texts(mistake)  # the cell still ran, on the previous versions

    assert reports(cells["after-fix"]) == []  # same bytes as loaded: nothing to reload
    lines = reports(cells["after-cart"])
    assert len(lines) == 1 and lines[0].startswith("Reloaded shop.cart modified")
    assert "TOTAL" in texts(cells["after-cart"])
    assert "reload pending" not in texts(cells["status"])


@pytest.mark.slow  # the whole example notebook: .venv's Python only
def test_demo_script(tmp_path):
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "| Reloaded shop.pricing modified" in out
    assert "| Reloaded shop.cart because shop.pricing reloaded" in out
    assert "| Reloaded shop.cart because shop.money and shop.pricing reloaded" in out
    assert "SyntaxError: expected ':'" in out
    assert "TOTAL               12.80 USD" in out
    assert "Error in callback" not in out
