"""The version is written once per manifest; these stay in step."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import liveimport

ROOT = Path(__file__).resolve().parent.parent


def test_version_matches_the_installed_distribution_and_cargo():
    # tomllib is 3.11+; the workspace manifest has one `version = "..."` line.
    cargo = re.search(r'^version = "([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M).group(1)
    assert liveimport.__version__ == cargo
    assert version("liveimport") == cargo
    assert re.fullmatch(r"\d+\.\d+\.\d+", liveimport.__version__)
