"""The version is written once per manifest; these stay in step."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import liveimport

ROOT = Path(__file__).resolve().parent.parent


def test_version_matches_the_installed_distribution_and_cargo():
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["package"]["version"]
    assert liveimport.__version__ == cargo
    assert version("liveimport") == cargo
    assert re.fullmatch(r"\d+\.\d+\.\d+", liveimport.__version__)
