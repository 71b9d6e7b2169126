"""Consistency checks of GitHub Actions workflows that a schema cannot make.

``make check`` (target ``lint-workflows``) runs this after check-jsonschema's
schema check of the same files. actionlint would do both and more, but it
cannot be installed here (its PyPI package downloads the binary when it is
built). This covers the mistakes a schema lets through:

* ``needs`` naming a job that does not exist;
* ``matrix.a.b`` in a job naming a key that some entry of that job's matrix
  lacks (a typo there silently expands to an empty string);
* ``${{`` without its ``}}``;
* ``uses`` without a pinned ref (``owner/repo@ref``);
* ``${{ ... }}`` inside ``run`` other than ``env.*``/``matrix.*`` values
  (anything else belongs in ``env:``, so no untrusted text reaches a shell).

Usage: ``python tools/check_workflows.py .github/workflows/*.yml``; prints
each problem and exits 1 if there is any.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)
MATRIX_REF = re.compile(r"\bmatrix((?:\.[A-Za-z_][\w-]*)+)")
SAFE_IN_RUN = re.compile(r"^\s*(env|matrix)\.[\w.-]+\s*$")


def strings(node: Any, path: str = "") -> list[tuple[str, str]]:
    """Every string in a YAML tree, with its path."""
    if isinstance(node, str):
        return [(path, node)]
    if isinstance(node, dict):
        return [item for key, value in node.items() for item in strings(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [item for i, value in enumerate(node) for item in strings(value, f"{path}[{i}]")]
    return []


def matrix_entries(strategy: Any) -> list[dict]:
    """The combinations a job's matrix expands to (enough to check key paths)."""
    matrix = (strategy or {}).get("matrix") or {}
    if isinstance(matrix, str):
        return []  # an expression: cannot be checked statically
    axes = {k: v for k, v in matrix.items() if k not in ("include", "exclude")}
    entries: list[dict] = [{}]
    for key, values in axes.items():
        entries = [{**entry, key: value} for entry in entries for value in values]
    entries = [entry for entry in entries if entry]
    entries += list(matrix.get("include") or [])
    return entries


def has_path(entry: Any, parts: list[str]) -> bool:
    for part in parts:
        if not isinstance(entry, dict) or part not in entry:
            return False
        entry = entry[part]
    return True


def check(file: Path) -> list[str]:
    problems: list[str] = []
    workflow = YAML(typ="safe").load(file.read_text())
    jobs: dict = workflow.get("jobs") or {}
    for path, text in strings(workflow):
        if text.count("${{") != text.count("}}"):
            problems.append(f"{path}: unbalanced ${{{{ }}}} in {text!r}")
    for name, job in jobs.items():
        needs = job.get("needs") or []
        for need in [needs] if isinstance(needs, str) else needs:
            if need not in jobs:
                problems.append(f"jobs.{name}.needs: no job {need!r}")
        entries = matrix_entries(job.get("strategy"))
        for path, text in strings(job, f"jobs.{name}"):
            for expression in EXPRESSION.findall(text):
                for ref in MATRIX_REF.findall(expression):
                    parts = ref.strip(".").split(".")
                    if not entries or not all(has_path(e, parts) for e in entries):
                        problems.append(f"{path}: matrix.{'.'.join(parts)} is not in every entry")
        for i, step in enumerate(job.get("steps") or []):
            where = f"jobs.{name}.steps[{i}]"
            uses = step.get("uses")
            if uses and not uses.startswith(("./", "docker://")) and "@" not in uses:
                problems.append(f"{where}: {uses!r} has no @ref")
            for expression in EXPRESSION.findall(step.get("run") or ""):
                if not SAFE_IN_RUN.match(expression):
                    problems.append(f"{where}.run: pass ${{{{{expression}}}}} through env:")
    return problems


def main(files: list[str]) -> int:
    problems = [f"{file}: {problem}" for file in files for problem in check(Path(file))]
    for problem in problems:
        print(problem)
    if not problems:
        print(f"ok -- {len(files)} workflow(s) consistent")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
