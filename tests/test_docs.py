"""The documentation is checked against the code.

* ``docs/api.md`` must be what ``docs/gen_api.py`` generates from the
  docstrings now (run ``make docs`` after changing a docstring).
* The examples of ``docs/userguide.md`` are run, in document order, as one
  Python session in a temporary directory:

  - a ```` ```python title="name.py" ```` block is a file: it is written (or
    overwritten) at that point;
  - a plain ```` ```python ```` block is executed;
  - a ```` ```pycon ```` block is run as a doctest (ELLIPSIS on), so its
    shown output must match;
  - a ```` ```text ```` block right after an ```` ```ipython ```` block
    that is just ``%liveimport`` must be what ``%liveimport`` prints (in a
    terminal) at that point of the session;
  - everything else (``ipython`` cells with magics, ``console``, ``text``,
    ``sh``, and ```` ```python notest ````) is not run.

  All code shares one namespace, which is the one registered with
  ``liveimport.register(globals(), ...)``.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

import liveimport

DOCS = Path(__file__).resolve().parent.parent / "docs"
GUIDE = DOCS / "userguide.md"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


# ---------------------------------------------------------------------------
# The API reference


def _gen_api():
    spec = importlib.util.spec_from_file_location("_liveimport_gen_api", DOCS / "gen_api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_api_reference_is_up_to_date():
    expected = _gen_api().render()
    current = (DOCS / "api.md").read_text(encoding="utf-8")
    assert current == expected, "docs/api.md is out of date: run `make docs`"


def test_api_reference_covers_every_public_name():
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    for name in liveimport.__all__:
        assert f"`{name}" in text, name


def test_api_reference_notices_a_changed_docstring(monkeypatch):
    gen_api = _gen_api()
    before = gen_api.render()
    monkeypatch.setattr(liveimport.sync, "__doc__", "Something else entirely.")
    assert gen_api.render() != before


# ---------------------------------------------------------------------------
# Running the user guide


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    language: str
    info: str
    text: str

    @property
    def title(self) -> str | None:
        match = re.search(r'title="([^"]+)"', self.info)
        return match.group(1) if match else None


def fenced_blocks(markdown: str) -> list[Block]:
    """Every fenced code block, with its language and the rest of its info string."""
    blocks: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        indent, fence, info = match.group("indent"), match.group("fence"), match.group("info")
        words = info.strip().split(maxsplit=1)
        language = words[0] if words else ""
        rest = words[1] if len(words) > 1 else ""
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines):
            closing = lines[i].strip()
            if closing.startswith(fence[0] * len(fence)) and not closing.strip(fence[0]):
                break
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        blocks.append(Block(start + 1, language, rest, "\n".join(body) + "\n"))
        i += 1
    return blocks


class GuideFailure(AssertionError):
    pass


def run_guide(markdown: str, directory: Path, name: str = "userguide.md") -> int:
    """Run the examples of `markdown` in `directory` (which must be the
    current directory and on sys.path). Returns how many blocks ran."""
    namespace: dict = {"__name__": "__main__"}
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    parser = doctest.DocTestParser()
    ran = 0
    previous: Block | None = None
    for block in fenced_blocks(markdown):
        where = f"{name}:{block.line}"
        if (
            block.language == "text"
            and previous is not None
            and previous.language == "ipython"
            and previous.text.strip() == "%liveimport"
        ):
            shown = _status_text(namespace)
            if block.text.rstrip("\n") != shown:
                raise GuideFailure(f"{where}: %liveimport shows\n{shown}\n")
            ran += 1
        previous = block
        if block.language == "python" and block.title:
            path = directory / block.title
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block.text, encoding="utf-8")
            ran += 1
        elif block.language == "python" and "notest" not in block.info.split():
            try:
                exec(compile(textwrap.dedent(block.text), where, "exec"), namespace)
            except Exception as error:
                raise GuideFailure(f"{where}: the example raised {error!r}") from error
            ran += 1
        elif block.language == "pycon":
            test = parser.get_doctest(block.text, namespace, where, name, block.line)
            test.globs = namespace  # one session: no copy
            output: list[str] = []
            result = runner.run(test, out=output.append, clear_globs=False)
            if result.failed:
                raise GuideFailure("".join(output))
            ran += 1
    return ran


def _status_text(namespace: dict) -> str:
    """What ``%liveimport`` prints in a terminal for `namespace`, with the
    default settings."""
    from liveimport import _ipython, _status

    return _status.render(namespace, _ipython.Settings(), "this notebook")[1]


def _forget_modules_under(root: Path) -> None:
    prefix = str(root)
    for module_name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and str(file).startswith(prefix):
            del sys.modules[module_name]


@pytest.fixture
def guide_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An empty current directory on sys.path, the workspace, and a fresh
    LiveImport in the default ("events") change-detection mode."""
    root = tmp_path / "guide"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    mode = liveimport.change_detection()
    liveimport.reset()
    liveimport.change_detection("events")
    liveimport.workspace(root)
    try:
        yield root
    finally:
        liveimport.reset()
        liveimport.change_detection(mode)
        _forget_modules_under(root)


def test_user_guide_examples_run(guide_dir):
    markdown = GUIDE.read_text(encoding="utf-8")
    names = {b.title for b in fenced_blocks(markdown) if b.title}
    for module_name in names:
        sys.modules.pop(module_name.removesuffix(".py").replace("/", "."), None)
    ran = run_guide(markdown, guide_dir)
    assert ran >= 20, f"only {ran} blocks ran: did the fence syntax change?"


def test_user_guide_fences_are_known():
    """Every block is one the runner knows how to treat, so none is skipped by accident."""
    known = {"python", "pycon", "ipython", "console", "text", "sh"}
    for block in fenced_blocks(GUIDE.read_text(encoding="utf-8")):
        assert block.language in known, f"userguide.md:{block.line}: ```{block.language}"


# The runner must be able to fail: wrong output, a raising example, and a
# file the examples depend on are each caught.

_BAD_OUTPUT = """
```python title="tdmod.py"
X = 1
```

```pycon
>>> import tdmod
>>> tdmod.X
2
```
"""

_RAISES = """
```python
raise RuntimeError("broken example")
```
"""

_STATUS = """
```ipython
%liveimport
```

```text
LiveImport: nothing to see here
```
"""

_RELOAD = """
```python title="tdmod2.py"
X = 1
```

```python
import liveimport
from tdmod2 import X

liveimport.register(globals(), "from tdmod2 import X")
```

```python title="tdmod2.py"
X = 2
```

```pycon
>>> liveimport.sync()
>>> X
1
```
"""


@pytest.mark.parametrize(
    "markdown, message",
    [
        (_BAD_OUTPUT, "Expected:\n    2\nGot:\n    1"),
        (_RAISES, "broken example"),
        (_STATUS, "%liveimport shows"),
        (_RELOAD, "Expected:\n    1\nGot:\n    2"),
    ],
)
def test_guide_runner_detects_failures(guide_dir, markdown, message):
    with pytest.raises(GuideFailure) as failure:
        run_guide(markdown, guide_dir, "bad.md")
    assert message in str(failure.value)


def test_notebook_only_blocks_are_not_run(guide_dir):
    markdown = "```ipython\n%%liveimport\nraise SystemExit\n```\n\n```python notest\n1/0\n```\n"
    assert run_guide(markdown, guide_dir) == 0
