"""Differential tests of the parser front end against CPython's ``ast``.

The engine decodes source bytes (BOM, PEP 263 coding cookie, UTF-8) and
extracts top-level imports with Ruff's parser. CPython's ``ast.parse`` on the
same bytes is the reference: for every input both must make the same
accept/reject decision and, when they accept, extract the same top-level
imports: ``(line, from_import, module, level, [(name, asname)])``, in order.
A Rust panic would surface as ``RuntimeError`` and fails the comparison too.

(a) Every ``.py`` file of the standard library (without its
    ``site-packages``) and of this environment's site-packages, bad-syntax
    test data included: no file is skipped, the decisions must agree.
(b) Hypothesis property tests over generated sources that mix import forms,
    ``;``, parentheses, line continuations, comments, strings that look like
    imports, nested blocks, decorators, ``match``, ``type`` statements,
    f-strings, coding cookies, BOMs, CRLF/CR, tabs, form feeds and invalid
    syntax. ``--fuzz-examples`` sets the number of examples (``make fuzz``).

Documented exceptions (inputs where the engine and ``ast`` may legitimately
differ) are listed in ``EXCEPTIONS`` below, each with its reason: a
disagreement passes only if ``documented_exception()`` classifies it (always
"CPython rejects, the engine accepts"), and dedicated tests pin each one.
Disagreements found so far and fixed in ``crates/engine/src/source.rs`` are
kept as ``REGRESSIONS``.
"""

from __future__ import annotations

import ast
import codecs
import gc
import importlib.util
import multiprocessing
import os
import sys
import sysconfig
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liveimport._engine import Engine, Mode

VERSION = sys.version_info[:2]
#: A deep package, so that relative levels up to 8 resolve.
PACKAGE = "p1.p2.p3.p4.p5.p6.p7.p8"

Import = tuple  # (line, from_import, module, level, ((name, asname), ...))
REJECT = "reject"

_engine: Engine | None = None


def _get_engine() -> Engine:
    global _engine
    if _engine is None:
        _engine = Engine(VERSION, [], Mode.Events)
    return _engine


# ---------------------------------------------------------------------------
# The two sides


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports_that_run(body: list[ast.stmt]) -> list[ast.stmt]:
    """The import statements of `body` that run when it runs: its own, and
    those of its try/if/with blocks (not the body of ``if TYPE_CHECKING:``)."""
    found: list[ast.stmt] = []
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                found += _imports_that_run(node.body)
            found += _imports_that_run(node.orelse)
        elif isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            found += _imports_that_run(node.body)
            for handler in node.handlers:
                found += _imports_that_run(handler.body)
            found += _imports_that_run(node.orelse)
            found += _imports_that_run(node.finalbody)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            found += _imports_that_run(node.body)
    return found


def reference(source: bytes | str, *, module: bool = True) -> tuple[Import, ...] | str:
    """CPython's verdict, or ``REJECT``: for a module's source (`module`),
    the imports that run when it is imported; for registered statements,
    the top-level imports."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SyntaxWarning (invalid escapes, ...)
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            # ValueError: null bytes (< 3.11.4); MemoryError, RecursionError:
            # nesting deeper than CPython's parser allows.
            return REJECT
    found = []
    for node in _imports_that_run(tree.body) if module else tree.body:
        if isinstance(node, ast.Import):
            names = tuple((a.name, a.asname) for a in node.names)
            found.append((node.lineno, False, None, 0, names))
        elif isinstance(node, ast.ImportFrom):
            names = tuple((a.name, a.asname) for a in node.names)
            found.append((node.lineno, True, node.module, node.level, names))
    return tuple(found)


def engine_bytes(data: bytes) -> tuple[Import, ...] | str:
    """The engine's verdict on a file's bytes (what it does for tracked modules)."""
    try:
        imports = _get_engine().analyze_source(data)
    except SyntaxError:
        return REJECT
    return tuple(
        (s.line, s.from_import, s.module, s.level, tuple(map(tuple, s.names))) for s in imports
    )


def reference_statements(text: str) -> tuple | str:
    """CPython's verdict on registered statements: relative ``from`` modules
    resolved against ``PACKAGE`` like ``importlib.util.resolve_name``."""
    found = reference(text, module=False)
    if found == REJECT:
        return REJECT
    out = []
    for line, from_import, module, level, names in found:
        if from_import:
            try:
                module = importlib.util.resolve_name("." * level + (module or ""), PACKAGE)
            except ImportError:
                return "ImportError"
        out.append((line, from_import, module, names))
    return tuple(out)


def engine_statements(text: str) -> tuple | str:
    try:
        imports = _get_engine().analyze_statements(text, PACKAGE, True)
    except SyntaxError:
        return REJECT
    except ImportError:
        return "ImportError"
    return tuple((s.line, s.from_import, s.module, tuple(map(tuple, s.names))) for s in imports)


# ---------------------------------------------------------------------------
# Documented exceptions

#: Where the engine may accept a source that CPython rejects. Both are in the
#: harmless direction: the engine never *rejects* what CPython accepts here, so
#: no module becomes unregistrable; such a file's reload fails with CPython's
#: own ``SyntaxError`` (phase "reload", file and line), and nothing changes.
EXCEPTIONS = {
    "tabs": "Ruff's lexer measures a tab as 2 columns where CPython uses 8 (and 1 "
    "for its consistency check), so some tab/space indentation that CPython "
    "rejects (TabError, or IndentationError: unindent does not match) parses "
    "in the engine.",
    "limits": "CPython's fixed limits: more than 200 nested brackets, more than 100 "
    "indentation levels, parser recursion beyond its stack (MemoryError); Ruff's parser "
    "has no such limits (the engine parses on a thread with a stack sized for the source, "
    "so depth cannot crash it).",
    "legacy-codec": "A coding cookie naming a multi-byte codec (gbk, shift_jis, euc-kr, "
    "big5, ...) is decoded with the WHATWG Encoding Standard decoders (encoding_rs), "
    "which accept some bytes Python's codec of that name rejects (GB18030 sequences "
    "under 'gbk', ...) and some labels Python does not know ('koi', 'iso88591'). "
    "Python's single-byte codecs are decoded with Python's own tables.",
}

_NATIVE_CODECS = {"utf-8", "utf-8-sig", "iso-8859-1", "ascii"}


def _charmap_codecs() -> dict[str, str]:
    """Python's single-byte codecs, as ``tools/gen_charmaps.py`` copies them
    into the engine: module name -> decoding table."""
    path = Path(__file__).resolve().parent.parent / "tools" / "gen_charmaps.py"
    spec = importlib.util.spec_from_file_location("_gen_charmaps", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.charmap_codecs()


#: Decoded by the engine from Python's own tables: never a "legacy-codec".
SINGLE_BYTE_CODECS = _charmap_codecs()


def _single_byte(codec: str | None) -> bool:
    try:
        return codecs.lookup(codec or "").name.replace("-", "_") in SINGLE_BYTE_CODECS
    except LookupError:
        return False


def _ast_error(source: bytes | str) -> BaseException | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ast.parse(source)
        except (SyntaxError, ValueError, MemoryError, RecursionError) as error:
            return error
    return None


def _cookie_codec(data: bytes) -> str | None:
    """The codec a file's cookie names, as ``tokenize`` resolves it
    (``"?"`` for a name Python does not know)."""
    import io
    import tokenize

    try:
        return tokenize.detect_encoding(io.BytesIO(data).readline)[0]
    except SyntaxError as error:
        return "?" if "unknown encoding" in str(error) else None


def _tab_in_indentation(source: bytes | str) -> bool:
    text = source.decode("latin-1") if isinstance(source, bytes) else source
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return any("\t" in line[: len(line) - len(line.lstrip(" \t\f"))] for line in lines)


def documented_exception(source: bytes | str, expected: object, got: object) -> str | None:
    """The ``EXCEPTIONS`` key that explains a disagreement, or ``None``."""
    if expected != REJECT or got == REJECT:
        return None  # only "CPython rejects, the engine accepts" is ever excused
    error = _ast_error(source)
    if isinstance(error, TabError):
        return "tabs"
    if (
        isinstance(error, IndentationError)
        and "unindent does not match" in str(error)
        and _tab_in_indentation(source)
    ):
        return "tabs"  # the dedent is measured with tab stops of 8, not 2
    if isinstance(error, (MemoryError, RecursionError)) or any(
        limit in str(error)
        for limit in ("too many nested parentheses", "too many levels of indentation")
    ):
        return "limits"
    if isinstance(source, bytes) and isinstance(error, SyntaxError):
        codec = _cookie_codec(source.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))
        if (
            codec not in _NATIVE_CODECS
            and not _single_byte(codec)
            and ("codec can't decode" in str(error) or "unknown encoding" in str(error))
        ):
            return "legacy-codec"
    return None


# ---------------------------------------------------------------------------
# (a) The standard library and site-packages


def corpus_files() -> list[str]:
    stdlib = sysconfig.get_paths()["stdlib"]
    skip = os.path.join(stdlib, "site-packages")  # another environment's packages
    roots = [stdlib, sysconfig.get_paths()["purelib"]]
    files = []
    for root in dict.fromkeys(roots):
        for dirpath, dirnames, filenames in os.walk(root):
            if dirpath == skip:
                dirnames[:] = []
                continue
            dirnames.sort()
            files.extend(os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith(".py"))
    return files


def _compare_files(paths: list[str]) -> tuple[int, int, list[tuple[str, str, str]]]:
    """(files compared, files both rejected, differences) for one batch."""
    gc.disable()  # ast trees are acyclic; collection only slows ast.parse down
    try:
        rejected = 0
        differences = []
        for path in paths:
            with open(path, "rb") as handle:
                data = handle.read()
            expected = reference(data)
            try:
                got = engine_bytes(data)
            except Exception as error:  # a panic (RuntimeError) or anything else
                got = f"raised {type(error).__name__}: {error}"
            if expected != got:
                differences.append((path, _short(expected), _short(got)))
            elif expected == REJECT:
                rejected += 1
        return len(paths), rejected, differences
    finally:
        gc.enable()


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) < 300 else text[:300] + "..."


def test_stdlib_and_site_packages_match_ast():
    files = corpus_files()
    assert len(files) > 2000, "the corpus should hold the whole standard library"
    # Largest first, in small batches over two processes: balanced and quick.
    files.sort(key=os.path.getsize, reverse=True)
    batches = [files[i : i + 40] for i in range(0, len(files), 40)]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        results = list(pool.map(_compare_files, batches))
    compared = sum(r[0] for r in results)
    rejected = sum(r[1] for r in results)
    differences = [d for r in results for d in r[2]]
    assert compared == len(files)
    # The stdlib's tests carry files CPython rejects (bad coding cookies,
    # bad syntax): the engine must reject them too, not skip them.
    assert rejected >= 3
    report = "\n".join(f"{p}\n  ast:    {e}\n  engine: {g}" for p, e, g in differences)
    assert not differences, report


# ---------------------------------------------------------------------------
# (b) Generated sources

#: Module and alias names: plain, soft keywords (valid names), keywords
#: (invalid), and non-ASCII identifiers, some of which NFKC-normalise
#: (``ﬁle`` is ``file``, ``ℌ`` is ``H``) as CPython requires.
NAMES = st.sampled_from(
    ["a", "b", "os", "mod_1", "_private", "match", "case", "type", "_", "print",
     "café", "ﬁle", "ℌx", "µ", "Ǆ", "class", "None", "async", "1x", "x y"]
)  # fmt: skip


@st.composite
def dotted(draw) -> str:
    return ".".join(draw(st.lists(NAMES, min_size=1, max_size=3)))


@st.composite
def import_statement(draw) -> str:
    """One import statement in one of its many spellings (mostly valid)."""
    sep = draw(st.sampled_from([", ", ",", " , ", ",\\\n    ", ", \\\n"]))
    if draw(st.booleans()):
        parts = []
        for _ in range(draw(st.integers(1, 3))):
            name = draw(dotted())
            if draw(st.booleans()):
                name += " as " + draw(NAMES)
            parts.append(name)
        return "import " + sep.join(parts)
    level = draw(st.sampled_from([0, 0, 1, 1, 2, 3, 8, 9]))
    module = draw(st.none() | dotted()) if level else draw(dotted())
    source = "." * level + (module or "")
    if level and module and draw(st.integers(0, 5)) == 0:
        source = "." * level + " " + module  # `from . m import x` is valid
    if draw(st.integers(0, 6)) == 0:
        names_text = "*"
    else:
        parts = []
        for _ in range(draw(st.integers(1, 3))):
            name = draw(NAMES)
            if draw(st.booleans()):
                name += " as " + draw(NAMES)
            parts.append(name)
        style = draw(st.integers(0, 4))
        if style == 0:
            names_text = sep.join(parts)
        elif style == 1:
            names_text = "(" + ", ".join(parts) + ")"
        elif style == 2:
            names_text = "(\n    " + ",\n    ".join(parts) + ",\n)"
        elif style == 3:
            names_text = "(  # a comment\n    " + ",  # import z\n    ".join(parts) + "\n)"
        else:
            names_text = "(" + ", ".join(parts) + ",)"
    return f"from {source} import {names_text}"


#: Statements that are not top-level imports, several of which contain
#: imports (nested, or in strings and comments). Some are valid only in
#: newer Pythons, some never.
OTHER = st.sampled_from([
    "x = 1",
    "pass",
    "# import commented_out",
    "'import in_a_string'",
    '"""\nimport in_a_docstring\nfrom x import y\n"""',
    "s = '''\nimport inside\n'''",
    "f'{x!r:>{width}} import not_an_import'",
    "f'{\"nested\"}'",
    "f'{x[\"k\"]}'",
    "f\"{'a' 'b'}\"",
    "f'{x:{y}}' f'''{\nz\n}'''",
    "rb'import \\x00' b'\\n'",
    "if x:\n    import nested_if\nelse:\n    from nested import else_",
    "if x: import on_one_line",
    "try:\n    import maybe\nexcept ImportError:\n    maybe = None\nfinally:\n    pass",
    "try:\n    pass\nexcept* ValueError:\n    pass",
    "def f():\n    import in_function\n    return 1",
    "async def g():\n    from x import y\n    await y",
    "class C:\n    import in_class\n    from a import b as c",
    "@decorator\ndef f():\n    pass",
    "@a.b(c=1)\n@d\nclass K(Base, metaclass=M):\n    '''import doc'''",
    "with open(p) as f, g:\n    import in_with",
    "with (a as b, c as d):\n    pass",
    "for i in range(3):\n    import in_loop\nelse:\n    pass",
    "while False:\n    from loop import x",
    "match command:\n    case [x, *rest]:\n        import in_match\n"
    "    case {'k': v} | Point(x=0):\n        pass\n    case _:\n        pass",
    "match = 1",
    "match(x)",
    "case = type = _ = 2",
    "type X = int",
    "type(x)",
    "def f[T](x: T) -> T:\n    return x",
    "lambda: (yield)",
    "x = [i for i in range(3) if i]",
    "(y := 10)",
    "y := 10",
    "print(*a, **k)",
    "a[*b]",
    "del a, b[0]",
    "del f()",
    "f() = 1",
    "x: int = 1",
    "global g\nnonlocal n",
    "return 1",
    "await something",
    "async for x in y:\n    pass",
    "f(x for x in y, 1)",
    "a = *b",
    "*a, = b",
    "print 'hello'",
    "def f(a, a):\n    pass",
    "def f(:\n",
    "import",
    "from import x",
    "from m import",
    "from m import *, a",
    "import a as",
    "import .a",
    "from m import a.b",
    "from m import (a",
    "import a.",
    "from __future__ import annotations",
    "from __future__ import braces",
    "x = 'unterminated",
    "x = '''unterminated",
    "\\",
    ")",
    "  indented = 1",
    "if x:\npass",
    "if x:\n\tif y:\n        pass",
    "if x:\n        a = 1\n\tb = 2",
    "x = 1 \\\n  + 2",
    "x = (1 +\n     2)",
    "x = 1  # comment \\",
    "x = 1\\\n",
    "\f",
    "\fimport after_form_feed",
    "x = 1\u00a0+ 2",
    "x = '\u2028'",
    "x = 0_1",
    "x = 1__0",
    "x = 0777",
    "x = 1if y else 2",
    "breakpoint()",
    "...",
])  # fmt: skip


@st.composite
def line_of_statements(draw) -> str:
    """One logical line: a statement, or several joined by semicolons."""
    simple = import_statement() | OTHER.filter(lambda s: "\n" not in s)
    if draw(st.integers(0, 3)) == 0:
        parts = draw(st.lists(simple, min_size=2, max_size=4))
        text = "; ".join(parts)
        if draw(st.booleans()):
            text += ";"
        return text
    return draw(import_statement() | OTHER)


@st.composite
def body_text(draw) -> str:
    lines = draw(st.lists(line_of_statements(), min_size=0, max_size=8))
    text = "\n".join(lines)
    if draw(st.integers(0, 4)):
        text += "\n"
    # Mutations: a character inserted or deleted, to explore invalid syntax
    # and odd spacing near the valid forms.
    for _ in range(draw(st.integers(0, 2))):
        if not text:
            break
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + draw(st.sampled_from(MUTATIONS)) + text[at:]
        else:
            text = text[:at] + text[at + 1 :]
    return text


MUTATIONS = ["(", ")", ":", "\\", "\\\n", "\n", " ", "    ", "\t", "\f", "#", "'", '"',
             ";", ",", ".", "*", "import ", "from ", "as ", "\r", "\r\n", "\x00", "é",
             "\ufeff"]  # fmt: skip

LINE_ENDINGS = st.sampled_from(["\n", "\n", "\r\n", "\r"])


def _with_line_endings(text: str, ending: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", ending)


@pytest.fixture
def examples(request) -> int:
    return request.config.getoption("--fuzz-examples")


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


def test_generated_statements_match_ast(examples):
    """Registered statements (text, no decoding), relative imports resolved."""

    @_settings(examples)
    @given(text=body_text(), ending=LINE_ENDINGS)
    def check(text: str, ending: str) -> None:
        text = _with_line_endings(text, ending)
        got, expected = engine_statements(text), reference_statements(text)
        if got != expected and documented_exception(text, expected, got) is None:
            assert got == expected

    check()


#: Encodings a coding cookie may name, as spelled in real files; each is
#: known to CPython and to the engine (the WHATWG set via encoding_rs, plus
#: latin-1 and ascii handled natively).
COOKIE_ENCODINGS = ["utf-8", "UTF-8", "utf_8", "utf8", "utf-8-sig", "latin-1", "iso-8859-1",
                    "latin1", "ISO_8859_1", "ascii", "us-ascii", "cp1252", "windows-1252",
                    "iso-8859-15", "koi8-r", "shift_jis", "euc-jp", "gbk", "big5",
                    "no-such-codec"]  # fmt: skip
COOKIE_FORMS = ["# -*- coding: {} -*-", "# coding={}", "#coding:{}", "# vim: set fileencoding={} :",
                "  # coding: {}", "\f# coding: {}", "#!/usr/bin/env python # coding: {}",
                "x = 1  # coding: {}", "# encoding: {}", "# coding : {}"]  # fmt: skip
FIRST_LINES = ["", "#!/usr/bin/env python3", "# just a comment", "   ", "\f", "x = 1", "'''doc'''"]


@st.composite
def file_bytes(draw) -> bytes:
    """A source file's bytes: BOM, cookie (on line 1 or 2), encoding, line ends."""
    body = draw(body_text())
    # Non-ASCII text in a string and a comment, to exercise the decoding.
    if draw(st.booleans()):
        body = draw(st.sampled_from(["s = 'é€ж漢'\n", "# è ø ß\n", "Ж = 1\n", ""])) + body
    header = ""
    encoding = "utf-8"
    if draw(st.integers(0, 2)):
        encoding = draw(st.sampled_from(COOKIE_ENCODINGS))
        cookie = draw(st.sampled_from(COOKIE_FORMS)).format(encoding)
        if draw(st.booleans()):
            cookie = draw(st.sampled_from(FIRST_LINES)) + "\n" + cookie
        header = cookie + draw(st.sampled_from(["\n", "\n", ""]))
    text = _with_line_endings(header + body, draw(LINE_ENDINGS))
    codec = encoding
    try:
        data = text.encode(codec, errors="replace" if draw(st.booleans()) else "ignore")
    except LookupError:
        data = text.encode("utf-8")
    if draw(st.integers(0, 3)) == 0:
        data = b"\xef\xbb\xbf" + data
    # Raw bytes that are invalid in some encodings.
    for _ in range(draw(st.integers(0, 1))):
        at = draw(st.integers(0, len(data)))
        raw = draw(st.sampled_from([b"\xff", b"\xe9", b"\x80", b"\x81", b"\xc3", b"\x00", b"\xa4"]))
        data = data[:at] + raw + data[at:]
    return data


def test_generated_files_match_ast(examples):
    """Files: bytes decoded like CPython (BOM, cookie), then analysed."""

    @_settings(examples)
    @given(data=file_bytes())
    def check(data: bytes) -> None:
        got, expected = engine_bytes(data), reference(data)
        if got != expected and documented_exception(data, expected, got) is None:
            assert got == expected

    check()


# ---------------------------------------------------------------------------
# Regressions: disagreements found by the tests above (fixed in source.rs)

REGRESSIONS = {
    # Lib/test/tokenizedata/bad_coding2.py: with a BOM only a cookie whose C
    # normal name is "utf-8" is allowed; `utf8` is an error.
    "bom-utf8-cookie": b"\xef\xbb\xbf#coding: utf8\nprint('\xe6\x88\x91')\n",
    "bom-utf-8-sig-cookie": b"\xef\xbb\xbf# coding: UTF_8_sig\nimport a\n",
    # CPython never decodes comments of UTF-8 source: invalid bytes are fine there.
    "latin1-byte-in-comment": b"# caf\xe9\nimport a\n",
    "latin1-byte-in-trailing-comment": b"import a  # caf\xe9\r\nimport b\n",
    "latin1-byte-in-string": b"import a\ns = 'caf\xe9'\n",
    "latin1-byte-in-comment-utf8-alias-cookie": b"# coding: utf8\n# caf\xe9\nimport a\n",
    # Cookies after a lone CR or CRLF (CPython translates line ends first).
    "cookie-after-cr": b"\x0c\r# coding: latin-1\rimport a\rs = '\xe9'\r",
    "cookie-after-crlf": b"#!python\r\n# coding: latin-1\r\ns = '\xe9'\r\nimport a\r\n",
    # A second BOM is U+FEFF in the text, an invalid character.
    "double-bom": b"\xef\xbb\xbf\xef\xbb\xbfimport a\n",
    # Up to 3.11, a final backslash-CRLF is accepted (translate_newlines).
    "final-backslash-crlf": b"import a\nx = 1\\\r\n",
    "final-backslash-lf": b"import a\nx = 1\\\n",
    # Python's codec aliases of latin-1 / ascii / utf-8 that WHATWG lacks.
    "cookie-latin": b"# -*- coding: latin -*-\nimport x\ns = '\xe9'\n",
    "cookie-u8": b"# coding: u8\nimport x\n",
    "cookie-ansi-ascii": b"# coding: ANSI_X3.4-1968\nimport x\ns = '\xe9'\n",
    # Null bytes are refused before decoding.
    "null-byte": b"import a\n# \x00\n",
    # Ruff rejects `match` as a name at the start of a statement after `;`.
    "match-name-after-semicolon": b"import a; match = 1\nx; match(y); import b\n",
    "match-statement-after-semicolon": b"x; match y:\n    case 1:\n        pass\n",
}


@pytest.mark.parametrize("data", REGRESSIONS.values(), ids=REGRESSIONS.keys())
def test_regressions_match_ast(data):
    assert engine_bytes(data) == reference(data)


def test_match_after_semicolon_in_registered_statements():
    text = "import a; match = 1\n"
    assert engine_statements(text) == reference_statements(text)


# ---------------------------------------------------------------------------
# The documented exceptions, pinned: if one changes, update EXCEPTIONS.


def test_exception_tabs_is_what_it_says():
    source = "import a\nif x:\n\tif y:\n        pass\n"
    assert isinstance(_ast_error(source), TabError)
    assert engine_statements(source) == ((1, False, None, (("a", None),)),)
    assert documented_exception(source, REJECT, engine_statements(source)) == "tabs"


def test_exception_legacy_codec_is_what_it_says():
    data = b"# coding: gbk\nimport a\ns = '\x81\x30\x81\x30'\n"  # GB18030, not GBK
    assert "codec can't decode" in str(_ast_error(data))
    assert engine_bytes(data) == ((2, False, None, 0, (("a", None),)),)
    assert documented_exception(data, REJECT, engine_bytes(data)) == "legacy-codec"
    # The engine decodes Python's single-byte codecs with Python's tables:
    # a disagreement there is never excused.
    cp1252 = b"# coding: windows-1252\nimport a\ns = '\x81'\n"
    assert "codec can't decode" in str(_ast_error(cp1252))
    assert engine_bytes(cp1252) == REJECT
    assert documented_exception(cp1252, REJECT, ((2, False, None, 0, (("a", None),)),)) is None


@pytest.mark.parametrize(
    "source",
    [
        "import a\nx = " + "(" * 201 + ")" * 201 + "\n",
        "import a\n" + "".join(" " * i + "if x:\n" for i in range(101)) + " " * 101 + "pass\n",
        "import a\nx = " + "-" * 20000 + "1\n",
    ],
    ids=["brackets", "indentation", "parser-stack"],
)
def test_exception_limits_is_what_it_says(source):
    assert engine_statements(source) == ((1, False, None, (("a", None),)),)
    assert documented_exception(source, REJECT, engine_statements(source)) == "limits"


def test_exception_tabs_covers_dedents_measured_with_tab_stops_of_8():
    source = "import a\nif x:\n\tif y:\n       pass\n"
    error = _ast_error(source)
    assert isinstance(error, IndentationError) and not isinstance(error, TabError)
    assert documented_exception(source, REJECT, engine_statements(source)) == "tabs"
    spaces = "import a\nif x:\n        if y:\n       pass\n"  # no tab: not excused
    assert engine_statements(spaces) == REJECT
    assert documented_exception(spaces, REJECT, ((1, False, None, (("a", None),)),)) is None


def test_exceptions_never_excuse_a_rejection_by_the_engine():
    assert documented_exception("import a\n", (), REJECT) is None
    assert documented_exception(b"\tx\n", REJECT, ()) is None  # an IndentationError
    assert documented_exception(b"x = (\n", REJECT, ()) is None


@pytest.mark.parametrize("codec", sorted(SINGLE_BYTE_CODECS))
def test_python_single_byte_codecs_decode_as_cpython_does(codec):
    # cp437, mac-roman, the EBCDIC code pages ... (many unknown to the WHATWG
    # set), and cp1252 & co., whose undefined bytes Python rejects.
    table = SINGLE_BYTE_CODECS[codec]
    defined = [c for c in table[128:] if c != "\ufffe"]
    letter = next((c for c in defined if c.isidentifier()), None)
    sources = [f"# coding: {codec}\nimport a\ns = '{defined[0]}'\n"]
    if letter is not None:
        sources.append(f"# -*- coding: {codec} -*-\nimport a\n{letter} = 1\n")
    for source in sources:
        data = source.encode(codec)
        assert engine_bytes(data) == reference(data), source
    undefined = [i for i, c in enumerate(table) if c == "\ufffe"]
    if undefined:
        data = f"# coding: {codec}\nimport a\n".encode() + b"s = '" + bytes([undefined[0]]) + b"'\n"
        assert reference(data) == REJECT
        assert engine_bytes(data) == REJECT


@pytest.mark.xfail(
    strict=True,
    reason="BUG (engine, not fixed): a coding cookie naming a multi-byte codec Python has but "
    "the WHATWG Encoding Standard lacks (utf-7, big5hkscs, euc_jis_2004, shift_jis_2004, hz, "
    "...) is rejected by the engine as 'unknown encoding', so such a module cannot be "
    "registered; CPython imports it.",
)
@pytest.mark.parametrize("codec", ["utf-7", "big5hkscs", "euc_jis_2004"])
def test_python_only_multibyte_codecs_are_decoded(codec):
    data = f"# coding: {codec}\nimport a\ns = '\u00e9'\n".encode(codec)
    assert reference(data) == ((2, False, None, 0, (("a", None),)),)
    assert engine_bytes(data) == reference(data)
