"""How LiveImport's errors look in a notebook cell.

A failed sync is shown as the module's own exception (its file, line, caret
and message, without LiveImport's or importlib's frames), under a short
note saying what LiveImport did about it. While the same error persists,
later cells get one line instead of the whole block again.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from ._types import ModuleError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from IPython.core.interactiveshell import InteractiveShell

#: Directory of this package, to hide LiveImport's own frames in tracebacks.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

#: Directory of the standard library's importlib, hidden likewise.
_IMPORTLIB_DIR = os.path.dirname(os.path.abspath(importlib.__file__ or ""))


def short_path(path: str | None) -> str:
    """A path relative to the working directory when it is inside it."""
    if not path:
        return ""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # pragma: no cover - another drive on Windows
        return path
    return path if relative.startswith("..") else relative


def _is_machinery(filename: str) -> bool:
    """Frames of the import system and of LiveImport itself."""
    if filename.startswith("<frozen importlib"):
        return True
    directory = os.path.dirname(os.path.abspath(filename))
    return directory in (_IMPORTLIB_DIR, _PACKAGE_DIR)


def _user_frames(tb: TracebackType | None) -> TracebackType | None:
    """The traceback without the frames of importlib and LiveImport.

    What remains starts in the module that failed to reload, as if the user
    had imported it. If nothing remains, the traceback is returned as is.
    """
    kept: list[TracebackType] = []
    entry = tb
    while entry is not None:
        if not _is_machinery(entry.tb_frame.f_code.co_filename):
            kept.append(entry)
        entry = entry.tb_next
    if not kept:
        return tb
    rebuilt: TracebackType | None = None
    for entry in reversed(kept):
        rebuilt = TracebackType(rebuilt, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return rebuilt


def _where(error: ModuleError) -> str:
    if not error.file:
        return ""
    return f" ({short_path(error.file)}" + (f", line {error.line})" if error.line else ")")


def describe_failure(error: ModuleError) -> str:
    """One sentence (without the final period) saying what went wrong where."""
    if error.phase == "analysis":
        return f"the source of {error.module}{_where(error)} has an error"
    if error.phase == "rebind":
        return f"a registered import from {error.module}{_where(error)} fails after its reload"
    return f"reloading {error.module}{_where(error)} failed"


def still_failing(error: ModuleError) -> str:
    """The one line shown while an error already shown persists."""
    cause = error.__cause__
    what = f"{type(cause).__name__}: {cause}" if cause is not None else "an error"
    if isinstance(cause, SyntaxError):
        what = f"{type(cause).__name__}: {cause.msg}"
    if error.phase == "analysis" and error.file:
        line = f" line {error.line}" if error.line else ""
        return (
            f"LiveImport: {short_path(error.file)}{line} still has an error ({what}); "
            f"this cell runs on the previous version of {error.module}."
        )
    return (
        f"LiveImport: {error.module}{_where(error)} still fails ({what}); this cell runs on "
        f"the previous versions of the modules."
    )


def sync_header(error: BaseException) -> list[str]:
    """The note above an error of auto-sync."""
    if isinstance(error, ModuleError):
        first = f"LiveImport: {describe_failure(error)}."
    else:
        first = f"LiveImport: the sync failed ({type(error).__name__})."
    return [
        first,
        "The sync was rolled back: no module was reloaded, and this cell runs with the",
        "previous versions of the modules. Fix the error below; LiveImport tries again",
        "before the next cell.",
        "",
    ]


def format_error(
    shell: InteractiveShell, error: BaseException, header: Sequence[str]
) -> tuple[type[BaseException], BaseException, list[str]]:
    """Render a failure as the module's own exception, under a header.

    Returns ``(type, value, structured traceback)`` for the shell's
    ``_showtraceback``, or for an exception's ``_render_traceback_``. The
    exception shown is the cause (the module's ``SyntaxError``, or whatever
    its code raised), with the import machinery's frames removed.
    """
    shown: BaseException = error
    cause = error.__cause__
    if isinstance(error, ModuleError) and cause is not None:
        shown = cause
    # A vanished name's traceback is LiveImport's own, not the module's.
    message_only = shown is error or getattr(error, "phase", None) == "rebind"
    lines = list(header)
    try:
        if isinstance(shown, SyntaxError):
            body = shell.SyntaxTB.structured_traceback(type(shown), shown, None)
            body = [chunk.rstrip("\n") for chunk in body]
        elif message_only:
            body = shell.InteractiveTB.get_exception_only(type(shown), shown)
            body = [chunk.rstrip("\n") for chunk in body]
        else:
            tb = _user_frames(shown.__traceback__)
            body = shell.InteractiveTB.structured_traceback(type(shown), shown, tb, tb_offset=0)
    except Exception:  # pragma: no cover - IPython formatting failed; stay useful
        import traceback

        body = traceback.format_exception(type(shown), shown, shown.__traceback__)
    lines.extend(body)
    return type(shown), shown, lines


def render_with(exc: BaseException, lines: list[str]) -> BaseException:
    """Make IPython show ``lines`` instead of the usual traceback of ``exc``."""
    exc._render_traceback_ = lambda: list(lines)  # type: ignore[attr-defined]
    return exc


def error_key(error: BaseException) -> tuple[object, ...]:
    """What identifies an error as the same one again: the module, phase,
    place and message, and the file as it is on disk (an edit that fails
    the same way is news)."""
    cause = error.__cause__
    key: tuple[object, ...] = (type(error).__name__, str(error), type(cause).__name__, str(cause))
    if isinstance(error, ModuleError):
        key += (error.module, error.phase, error.file, error.line)
        if error.file:
            try:
                stat = os.stat(error.file)
                key += (stat.st_mtime_ns, stat.st_size)
            except OSError:
                pass
    return key
