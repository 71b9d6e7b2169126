"""Differential tests of the token scanner against the engine's full parse.

Registration reads a module's imports with a scan of its token stream when
the source is known to compile (its bytecode header matches the file); the
full parse (``analyze_source``, itself held to CPython's ``ast`` by
``test_parser_differential.py``) is the reference. Where the scanner decides,
it must find exactly what the full parse finds: the same imports, lines,
names, aliases and levels. Where it cannot decide it declines (``None``) and
the engine parses fully; declining is allowed, disagreeing never.

(a) Every ``.py`` file of the standard library and of this environment's
    site-packages that the engine accepts; the files the scanner declines
    are counted (and must stay rare).
(b) Hypothesis-generated files and statements, from the parser differential
    test's generators (odd spacing, strings and f-strings that look like
    imports, nested blocks, ``TYPE_CHECKING``, line ends, cookies, BOMs).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_parser_differential import (
    LINE_ENDINGS,
    REJECT,
    _settings,
    _with_line_endings,
    body_text,
    corpus_files,
    engine_bytes,
    file_bytes,
)

from liveimport._engine import Engine, Mode

_engine: Engine | None = None


@pytest.fixture
def examples(request: pytest.FixtureRequest) -> int:
    return int(request.config.getoption("--fuzz-examples"))


def _get_engine() -> Engine:
    global _engine
    if _engine is None:
        _engine = Engine(sys.version_info[:2], [], Mode.Events)
    return _engine


def scanned(data: bytes) -> tuple | None:
    found = _get_engine().scan_source(data)
    if found is None:
        return None
    return tuple(
        (s.line, s.from_import, s.module, s.level, tuple(map(tuple, s.names))) for s in found
    )


def compare(data: bytes) -> str | None:
    """``"declined"``, ``"agrees"``, ``"invalid"`` (the full parse rejects it:
    the engine never scans such a source) or a description of a difference."""
    expected = engine_bytes(data)
    if expected == REJECT:
        return "invalid"
    got = scanned(data)
    if got is None:
        return "declined"
    if got != expected:
        return f"scanner {got!r}\n  full parse {expected!r}"
    return "agrees"


def _compare_files(paths: list[str]) -> list[tuple[str, str]]:
    out = []
    for path in paths:
        with open(path, "rb") as handle:
            out.append((path, compare(handle.read()) or ""))
    return out


def test_stdlib_and_site_packages_agree_with_the_full_parse():
    files = corpus_files()
    assert len(files) > 2000, "the corpus should hold the whole standard library"
    files.sort(key=os.path.getsize, reverse=True)
    batches = [files[i : i + 100] for i in range(0, len(files), 100)]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        results = [r for batch in pool.map(_compare_files, batches) for r in batch]
    verdicts = [v for _, v in results]
    decided = verdicts.count("agrees")
    declined = [p for p, v in results if v == "declined"]
    differences = [(p, v) for p, v in results if v not in ("agrees", "declined", "invalid")]
    report = "\n".join(f"{p}\n  {v}" for p, v in differences)
    assert not differences, report
    # The scanner is the fast path: it must decide nearly every valid file.
    print(f"\nscanner: {decided} files decided, {len(declined)} declined")
    assert decided > 2000
    assert len(declined) <= decided // 100, declined[:20]


def test_generated_files_agree_with_the_full_parse(examples):
    @_settings(examples)
    @given(data=file_bytes())
    def check(data: bytes) -> None:
        verdict = compare(data)
        assert verdict in ("agrees", "declined", "invalid"), verdict

    check()


#: Block shapes around imports: which run at import time and which do not.
BLOCKS = st.sampled_from(
    [
        "if TYPE_CHECKING:\n{i}import tc_hidden\nelse:\n{i}import tc_shown",
        "if typing.TYPE_CHECKING: import tc_one_line\nelif x: import elif_line",
        "if sys.modules['t'].TYPE_CHECKING:\n{i}import tc_subscript",
        "if not TYPE_CHECKING:\n{i}import tc_not",
        "if TYPE_CHECKING or x:\n{i}import tc_or",
        "for x in y:\n{i}pass\nelse:\n{i}import loop_else",
        "while x:\n{i}if y:\n{i}{i}import in_while\n{i}else:\n{i}{i}import in_while_else",
        "try:\n{i}import t1\nexcept (A, B) as e:\n{i}import t2\n"
        "else:\n{i}import t3\nfinally:\n{i}import t4",
        "with a as b, c:\n{i}if d:\n{i}{i}import nested_with",
        "class C(B):\n{i}x = 1\n{i}def f(self):\n{i}{i}import inner\nimport after_class",
        "def f(\n    a,\n):\n{i}import in_def\nimport after_def",
        "@dec(\n  1)\nclass D: import one_line_class",
        "async def g():\n{i}async with x:\n{i}{i}import in_async",
        "match x:\n{i}case {{'a': 1}}:\n{i}{i}import in_case\nimport after_match",
        "if x:\n{i}s = '''\nimport in_string\n'''\n{i}import after_string",
        "if x:\n{i}t = f'{{a!r:>{{w}}}}' ; import after_fstring",
        "if x:  # comment\n{i}# import commented\n\n{i}import after_blank",
        "if (a and\n    b):\n{i}import after_paren_test",
        "if x: \\\n  import after_continuation",
        "if f(lambda: 1):\n{i}import after_lambda_arg",
    ]
)
INDENTS = st.sampled_from(["    ", "  ", "\t", " " * 8])


@st.composite
def block_text(draw) -> str:
    indent = draw(INDENTS)
    parts = []
    for _ in range(draw(st.integers(1, 5))):
        block = draw(BLOCKS).format(i=indent)
        if draw(st.integers(0, 3)) == 0:
            # Nest the block in another one.
            outer = draw(st.sampled_from(["if x:", "try:", "with y:", "def h():", "class K:"]))
            block = outer + "\n" + "\n".join(indent + line for line in block.split("\n"))
            if outer == "try:":
                block += "\nexcept E:\n" + indent + "import handler"
        parts.append(block)
    if draw(st.booleans()):
        parts.append(draw(body_text()))
    return "\n".join(parts) + "\n"


def test_generated_blocks_agree_with_the_full_parse(examples):
    @_settings(examples)
    @given(text=block_text(), ending=LINE_ENDINGS)
    def check(text: str, ending: str) -> None:
        verdict = compare(_with_line_endings(text, ending).encode())
        assert verdict in ("agrees", "declined", "invalid"), verdict

    check()


def test_the_scanner_decides_common_shapes():
    source = (
        b"from __future__ import annotations\n"
        b"import os, sys as system\n"
        b"from typing import TYPE_CHECKING\n"
        b"try:\n    import fast\nexcept ImportError:\n    fast = None\n"
        b"if TYPE_CHECKING:\n    from collections.abc import Iterator\n"
        b"from . import sibling\n"
        b"def f():\n    import inner\n"
    )
    assert compare(source) == "agrees"
    lines = [s[0] for s in scanned(source) or ()]
    assert lines == [1, 2, 3, 5, 10]
