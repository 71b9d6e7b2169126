"""IPython and Jupyter integration.

Everything LiveImport does inside an IPython shell lives here:

* the ``%%liveimport`` cell magic, which runs a cell and registers its
  top-level imports, and its hidden spelling ``#_%%liveimport`` (an input
  transformer, so IDEs see an ordinary Python comment);
* auto-sync: a ``pre_run_cell`` hook that calls :func:`liveimport.sync` before
  each cell once a *grace period* has passed since the previous cell ended,
  reports the reloads as a Markdown console block, and shows reload errors as
  the module's own exception;
* the ``%liveimport`` line magic, a status display and a forced reload;
* :func:`load_ipython_extension` / :func:`unload_ipython_extension`, so
  ``%load_ext liveimport`` and ``%unload_ext liveimport`` work.

Importing ``liveimport`` inside IPython installs all of this once. The state
of an installation is kept on the shell object itself (attribute
``_liveimport_integration``), so importing the package again, reloading it, or
loading the extension again replaces the installation instead of stacking a
second set of hooks. IPython itself is imported lazily: outside IPython this
module costs nothing and its settings functions only record their arguments.
"""

from __future__ import annotations

import ast
import math
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._api import ModuleError, ReloadEvent, _poll, _register, registrations, sync, tracked

if TYPE_CHECKING:  # pragma: no cover - typing only
    from IPython.core.interactiveshell import ExecutionInfo, ExecutionResult, InteractiveShell

__all__ = [
    "auto_sync",
    "hidden_cell_magic",
    "load_ipython_extension",
    "unload_ipython_extension",
]

#: Name of the attribute that holds the installed integration on the shell.
_SHELL_ATTR = "_liveimport_integration"

#: The name IPython's extension manager knows this package by.
_PACKAGE = __name__.rpartition(".")[0] or "liveimport"

#: Directory of this package, to hide LiveImport's own frames in tracebacks.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

#: Directory of the standard library's importlib, hidden likewise.
_IMPORTLIB_DIR = os.path.dirname(os.path.abspath(__import__("importlib").__file__))

#: ``#_%%liveimport`` or ``# _%%liveimport`` at the start of a cell's first line.
_HIDDEN_MAGIC = re.compile(r"#[ \t]*_(?=%%liveimport(?:\s|#|$))")

_CELL_MAGIC_USAGE = "%%liveimport [-c|--clear]  # optional comment"

_LINE_MAGIC_USAGE = """\
Usage:
  %liveimport                        show registered imports, tracked modules and
                                     pending reloads
  %liveimport --reload MODULE [...]  reload these tracked modules now (and the
                                     modules that depend on them), then rebind
  %liveimport --help                 show this help

Options may be abbreviated -r and -h. Text after '#' is a comment."""


# ---------------------------------------------------------------------------
# Settings (kept even when not running under IPython)
# ---------------------------------------------------------------------------


@dataclass
class _Settings:
    """User-configurable behaviour of the IPython integration."""

    auto_sync: bool = True
    grace: float = 1.0
    report: bool = True
    hidden_magic: bool = True


#: The settings; kept when this module is reloaded (``importlib.reload``).
_SETTINGS: _Settings = globals().get("_SETTINGS") or _Settings()


def auto_sync(
    enabled: bool | None = None,
    *,
    grace: float | None = None,
    report: bool | None = None,
) -> None:
    """Configure automatic syncing before notebook cells.

    Inside IPython or Jupyter, LiveImport calls :func:`liveimport.sync` just
    before each cell runs, so edits to registered modules (and the modules
    they depend on) are picked up without any explicit call. Arguments left
    as ``None`` keep their current value. Outside IPython the settings are
    remembered and take effect if the integration is installed later.

    :param enabled: Sync before each cell (default ``True``).
    :param grace: Seconds that must pass between the end of one cell and the
        start of the next before LiveImport syncs (default ``1.0``). Cells
        started sooner, as during "Run All", never sync, so a multi-cell run
        sees one consistent set of module versions from start to finish.
    :param report: Show a Markdown console block in the cell's output listing
        each reload (default ``True``). Errors are always shown.
    :raises ValueError: ``grace`` is negative or not a number.
    """
    if grace is not None:
        grace = float(grace)
        if math.isnan(grace) or grace < 0:
            raise ValueError(f"grace must be a number of seconds >= 0, not {grace!r}")
    if enabled is not None:
        _SETTINGS.auto_sync = bool(enabled)
    if grace is not None:
        _SETTINGS.grace = grace
    if report is not None:
        _SETTINGS.report = bool(report)
    integration = _current_integration()
    if integration is not None and not _SETTINGS.auto_sync:
        integration.held = None


def hidden_cell_magic(enabled: bool | None = None) -> None:
    """Switch the hidden ``%%liveimport`` cell magic on or off.

    When on (the default), a cell whose first line starts with
    ``#_%%liveimport`` or ``# _%%liveimport`` runs exactly as if that line
    were ``%%liveimport``: to an editor or linter the cell is plain Python
    with a comment, while the notebook kernel still registers its imports.
    ``None`` keeps the current setting. Outside IPython the setting is
    remembered and applied if the integration is installed later.

    :param enabled: Recognise the hidden magic.
    """
    if enabled is None:
        return
    _SETTINGS.hidden_magic = bool(enabled)
    integration = _current_integration()
    if integration is not None:
        integration.apply_hidden_magic_setting()


# ---------------------------------------------------------------------------
# Installation
# ---------------------------------------------------------------------------


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """Install LiveImport into an IPython shell (``%load_ext liveimport``).

    Importing ``liveimport`` inside IPython already does this, so the call is
    only needed after :func:`unload_ipython_extension`. Installing again
    replaces the previous installation; hooks are never doubled.

    :param ipython: The shell to install into.
    """
    _install(ipython)


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    """Remove LiveImport from an IPython shell (``%unload_ext liveimport``).

    Removes the auto-sync hooks, the ``%liveimport`` and ``%%liveimport``
    magics and the hidden-magic input transformer. Registrations are kept;
    use :func:`liveimport.reset` to forget them.

    :param ipython: The shell to remove LiveImport from.
    """
    _uninstall(ipython)


def _install_if_in_ipython() -> None:
    """Install into the running IPython shell, if there is one.

    Called when the package is imported. Does not import IPython: if IPython
    was never imported, this process cannot be running an IPython shell.
    """
    ipython_module = sys.modules.get("IPython")
    if ipython_module is None:
        return
    get_ipython = getattr(ipython_module, "get_ipython", None)
    shell = get_ipython() if get_ipython is not None else None
    if shell is None:
        return
    _install(shell)
    # Mark the extension as loaded, so that "%unload_ext liveimport" works
    # after a plain import and "%load_ext liveimport" does not install twice.
    manager = getattr(shell, "extension_manager", None)
    loaded = getattr(manager, "loaded", None)
    if isinstance(loaded, set):
        loaded.add(_PACKAGE)


def _current_integration() -> _Integration | None:
    """The installation in the running IPython shell, or ``None``."""
    ipython_module = sys.modules.get("IPython")
    if ipython_module is None:
        return None
    shell = ipython_module.get_ipython()
    if shell is None:
        return None
    integration = getattr(shell, _SHELL_ATTR, None)
    return integration if _is_ours(integration) else None


def _is_ours(obj: object) -> bool:
    """Whether a callback, transformer or magic was installed by LiveImport.

    Recognises objects made by any copy of this module (including one that
    was since reloaded), through a marker attribute rather than identity.
    """
    if getattr(obj, "_liveimport_marker", False) is True:
        return True
    owner = getattr(obj, "__self__", None)
    return getattr(owner, "_liveimport_marker", False) is True


def _install(shell: InteractiveShell) -> None:
    previous = getattr(shell, _SHELL_ATTR, None)
    if previous is not None:
        # Settings and timing survive a reload of this module.
        old_settings = getattr(previous, "settings", None)
        if old_settings is not None and old_settings is not _SETTINGS:
            for field in fields(_Settings):
                if hasattr(old_settings, field.name):
                    setattr(_SETTINGS, field.name, getattr(old_settings, field.name))
    _remove_everything(shell)
    integration = _Integration(shell, _SETTINGS)
    if previous is not None:
        integration.last_cell_end = getattr(previous, "last_cell_end", -math.inf)
    integration.install()


def _uninstall(shell: InteractiveShell) -> None:
    _remove_everything(shell)


def _remove_everything(shell: InteractiveShell) -> None:
    """Remove every hook, magic and transformer any LiveImport installed."""
    for event in ("pre_run_cell", "post_run_cell"):
        for callback in list(shell.events.callbacks.get(event, ())):
            if _is_ours(callback):
                shell.events.unregister(event, callback)
    for transformers in (shell.input_transformers_cleanup, shell.ast_transformers):
        transformers[:] = [t for t in transformers if not _is_ours(t)]
    manager = shell.magics_manager
    for kind in ("line", "cell"):
        table = manager.magics.get(kind, {})
        if _is_ours(table.get("liveimport")):
            del table["liveimport"]
    if _is_ours(getattr(manager.user_magics, "liveimport", None)):
        delattr(manager.user_magics, "liveimport")
    if hasattr(shell, _SHELL_ATTR):
        delattr(shell, _SHELL_ATTR)


# ---------------------------------------------------------------------------
# Displaying reports and errors
# ---------------------------------------------------------------------------


def _display(markdown: str, plain: str) -> None:
    """Show Markdown in a notebook, with a plain-text rendering for terminals."""
    from IPython.display import display

    display({"text/markdown": markdown, "text/plain": plain}, raw=True)


def _display_report(events: Sequence[ReloadEvent]) -> None:
    """Show one line per reload, as a Markdown console block."""
    text = "\n".join(str(event) for event in events)
    _display(f"```console\n{text}\n```", text)


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


def _describe_failure(error: ModuleError) -> str:
    """One sentence (without the final period) saying what went wrong where."""
    module = getattr(error, "module", "?")
    where = ""
    file = getattr(error, "file", None)
    if file:
        where = f" ({_short_path(file)}"
        line = getattr(error, "line", None)
        where += f", line {line})" if line else ")"
    phase = getattr(error, "phase", "")
    if phase == "analysis":
        return f"the source of {module}{where} has an error"
    if phase == "rebind":
        return f"a registered import from {module}{where} fails after its reload"
    return f"reloading {module}{where} failed"


def _format_module_error(
    shell: InteractiveShell, error: BaseException, header: Sequence[str]
) -> tuple[type[BaseException], BaseException, list[str]]:
    """Render a sync failure as the module's own exception, under a header.

    Returns ``(type, value, structured traceback)`` for the shell's
    ``_showtraceback``, or for an exception's ``_render_traceback_``. The
    exception shown is the cause (the module's ``SyntaxError``, or whatever
    its code raised), with the import machinery's frames removed.
    """
    shown: BaseException = error
    # The engine's analysis errors carry CPython's own exception as the cause
    # (_reload.raise_analysis_error compiles the file for it).
    cause = error.__cause__
    if isinstance(error, ModuleError) and cause is not None:
        shown = cause
    # A vanished name's traceback is LiveImport's own, not the module's.
    message_only = shown is error or getattr(error, "phase", None) == "rebind"
    lines = list(header)
    try:
        if isinstance(shown, SyntaxError):
            body = shell.SyntaxTB.structured_traceback(type(shown), shown, [])
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


def _auto_sync_header(error: BaseException) -> list[str]:
    if isinstance(error, ModuleError):
        first = f"LiveImport: {_describe_failure(error)}."
    else:
        first = f"LiveImport: the sync failed ({type(error).__name__})."
    return [
        first,
        "The sync was rolled back: no module was reloaded, and this cell runs with the",
        "previous versions of the modules. Fix the error below; LiveImport retries",
        "before the next cell.",
        "",
    ]


def _render_with(exc: BaseException, lines: list[str]) -> BaseException:
    """Make IPython show ``lines`` instead of the usual traceback of ``exc``."""
    exc._render_traceback_ = lambda: list(lines)  # type: ignore[attr-defined]
    return exc


def _raise_sync_interrupt() -> None:
    """Raise the KeyboardInterrupt of a cell whose auto-sync was interrupted.

    The cell's code is replaced by a call to this function (see
    :class:`_InterruptCell`), so the cell stops the way an interrupted cell
    does: with a ``KeyboardInterrupt`` and an error status.
    """
    exc = KeyboardInterrupt("interrupted while LiveImport was syncing")
    raise _render_with(
        exc,
        [
            "KeyboardInterrupt: interrupted while LiveImport was reloading modules.",
            "The sync was rolled back and this cell did not run.",
        ],
    )


_INTERRUPT_CALL = (
    f"__import__({__name__!r}, fromlist=['_raise_sync_interrupt'])._raise_sync_interrupt()"
)


class _InterruptCell(ast.NodeTransformer):
    """One-shot AST transformer: replaces the next cell's code by an interrupt.

    An exception raised by a ``pre_run_cell`` callback cannot stop the cell
    (IPython prints it and runs the cell anyway), so a KeyboardInterrupt
    received during auto-sync is turned into a cell that raises one.
    """

    _liveimport_marker = True

    def __init__(self) -> None:
        super().__init__()
        self.armed = True

    def visit(self, node: ast.AST) -> ast.AST:
        if not self.armed or not isinstance(node, ast.Module):
            return node
        self.armed = False
        replacement = ast.parse(_INTERRUPT_CALL)
        return ast.Module(body=replacement.body, type_ignores=[])


# ---------------------------------------------------------------------------
# The installation in one shell
# ---------------------------------------------------------------------------


@dataclass
class _Held:
    """Outcome of a sync done for a bootstrap cell, held for the next user cell."""

    events: list[ReloadEvent]
    error: BaseException | None


class _Integration:
    """LiveImport's hooks, magics and transformer in one IPython shell."""

    _liveimport_marker = True

    def __init__(self, shell: InteractiveShell, settings: _Settings) -> None:
        self.shell = shell
        self.settings = settings
        #: time.monotonic() when the last cell finished
        self.last_cell_end = -math.inf
        #: reloads done for a bootstrap cell, shown with the next user cell
        self.held: _Held | None = None
        #: > 0 while %%liveimport runs its cell (its own pre/post events are ignored)
        self.nested = 0
        #: pending transformer that stops the current cell after an interrupt
        self.interrupt: _InterruptCell | None = None

    # -- installation ---------------------------------------------------------

    def install(self) -> None:
        shell = self.shell
        setattr(shell, _SHELL_ATTR, self)
        shell.events.register("pre_run_cell", self.pre_run_cell)
        shell.events.register("post_run_cell", self.post_run_cell)
        shell.register_magic_function(self.cell_magic, "cell", "liveimport")
        shell.register_magic_function(self.line_magic, "line", "liveimport")
        self.apply_hidden_magic_setting()

    def apply_hidden_magic_setting(self) -> None:
        cleanup = self.shell.input_transformers_cleanup
        present = [t for t in cleanup if _is_ours(t)]
        if self.settings.hidden_magic and not present:
            cleanup.append(self.unhide_cell_magic)
        elif not self.settings.hidden_magic:
            cleanup[:] = [t for t in cleanup if not _is_ours(t)]

    # -- hidden magic -----------------------------------------------------------

    def unhide_cell_magic(self, lines: list[str]) -> list[str]:
        """Input transformer: ``#_%%liveimport ...`` first line → ``%%liveimport ...``."""
        if lines:
            match = _HIDDEN_MAGIC.match(lines[0])
            if match is not None:
                return [lines[0][match.end() :], *lines[1:]]
        return lines

    # -- auto-sync --------------------------------------------------------------

    def pre_run_cell(self, info: ExecutionInfo | None = None) -> None:
        """Sync before a cell, unless inside the grace period."""
        if self.nested:
            return
        try:
            # The common case, kept short: grace passed, nothing held, and the
            # engine says no file changed (one non-blocking read, no allocation).
            settings = self.settings
            if (
                settings.auto_sync
                and self.held is None
                and time.monotonic() - self.last_cell_end >= settings.grace
                and not _poll()
            ):
                return
            self._pre_run_cell(info)
        except KeyboardInterrupt:
            self.stop_cell()
        except Exception as exc:  # pragma: no cover - a bug in LiveImport
            self.show_error(exc, ["LiveImport: internal error during auto-sync.", ""])

    def _pre_run_cell(self, info: ExecutionInfo | None) -> None:
        settings = self.settings
        if not settings.auto_sync:
            self.held = None
            return
        bootstrap = _looks_like_bootstrap(info)
        if time.monotonic() - self.last_cell_end < settings.grace:
            # A cell started right after the previous one ("Run All", or a user
            # cell right after a front end's bootstrap cell): never sync here.
            if self.held is not None and not bootstrap:
                held, self.held = self.held, None
                self.show(held.events, held.error)
            return
        self.held = None
        if not _poll():
            return  # the common case: nothing changed, nothing allocated
        events: list[ReloadEvent] = []
        error: BaseException | None = None
        try:
            sync(observer=events.append)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            error = exc
        if not events and error is None:
            return
        if bootstrap:
            self.held = _Held(events, error)
        else:
            self.show(events, error)

    def post_run_cell(self, result: ExecutionResult | None = None) -> None:
        """Remember when the cell ended; the grace period starts now."""
        if self.nested:
            return
        self.last_cell_end = time.monotonic()
        if self.interrupt is not None:
            transformers = self.shell.ast_transformers
            if self.interrupt in transformers:
                transformers.remove(self.interrupt)
            self.interrupt = None

    def stop_cell(self) -> None:
        """Make the cell about to run raise KeyboardInterrupt instead of running."""
        if self.interrupt is None:
            self.interrupt = _InterruptCell()
            self.shell.ast_transformers.append(self.interrupt)
        else:
            self.interrupt.armed = True

    def show(self, events: Sequence[ReloadEvent], error: BaseException | None) -> None:
        if events and self.settings.report:
            _display_report(events)
        if error is not None:
            self.show_error(error, _auto_sync_header(error))

    def show_error(self, error: BaseException, header: Sequence[str]) -> None:
        """Show an error in the current cell's output without raising it."""
        etype, value, stb = _format_module_error(self.shell, error, header)
        self.shell._showtraceback(etype, value, stb)

    # -- magics -----------------------------------------------------------------

    def cell_magic(self, line: str, cell: str) -> None:
        """Run the cell, then keep its top-level imports up to date.

        Usage: ``%%liveimport [-c|--clear]``, optionally followed by a comment
        starting with ``#``.

        The cell runs as ordinary code. If it raises nothing, every top-level
        ``import`` and ``from ... import`` statement in it is registered with
        :func:`liveimport.register` for the notebook's namespace: before each
        later cell, LiveImport reloads those modules (and the workspace
        modules they import) when their source changes, and rebinds the names
        the statements bound. Other statements in the cell, line magics and
        shell escapes included, are allowed and ignored.

        ``-c`` / ``--clear`` first drops every import registered for the
        notebook before, so the cell's imports become the whole set.
        """
        from IPython.core.error import UsageError

        words = line.split("#", 1)[0].split()
        unknown = [word for word in words if word not in ("-c", "--clear")]
        if unknown:
            raise UsageError(
                f"%%liveimport: unknown argument {' '.join(unknown)!r}; usage: {_CELL_MAGIC_USAGE}"
            )
        clear = bool(words)
        shell = self.shell
        outer = getattr(shell.displayhook, "exec_result", None)
        self.nested += 1
        try:
            result = shell.run_cell(cell, store_history=False)
        finally:
            self.nested -= 1
        # The inner run leaves the display hook without a result; give the
        # outer cell's result back to it.
        if outer is not None:
            shell.displayhook.exec_result = outer
        if result is None or not result.success:
            # The error is already on screen; make the cell as a whole fail
            # (so "Run All" stops) without showing it a second time.
            failure = None if result is None else result.error_before_exec
            if failure is None and result is not None:
                failure = result.error_in_exec
            if failure is not None:
                if outer is None:  # called from code, not from a cell: raise
                    raise failure
                outer.error_in_exec = failure
            return
        source = shell.transform_cell(cell)
        try:
            # Imports of modules without Python source (sys, math) are left
            # out: they can never change, and the rest of the cell counts.
            _register(shell.user_ns, source, "", clear, True, True)
        except (SyntaxError, ImportError, ValueError, ModuleError) as exc:
            if isinstance(exc, ModuleError):
                header = [
                    f"%%liveimport: the cell ran, but its imports were not registered: "
                    f"{_describe_failure(exc)}.",
                    "",
                ]
                _, _, lines = _format_module_error(shell, exc, header)
            else:
                lines = [
                    "%%liveimport: the cell ran, but its imports were not registered:",
                    f"{type(exc).__name__}: {exc}",
                ]
            raise _render_with(exc, lines) from None

    def line_magic(self, line: str) -> None:
        """Show LiveImport's state, or reload modules now.

        Usage::

            %liveimport                        # status
            %liveimport --reload MODULE [...]  # forced reload
            %liveimport --help

        Without arguments, shows the imports registered for this notebook,
        every tracked module (registered directly, or tracked because a
        tracked module imports it), its dependencies and source file, and the
        reloads pending for the next sync.

        ``--reload`` (``-r``) reloads the named tracked modules now even if
        their source is unchanged, together with every module that depends on
        them, in dependency order, then rebinds the registered names and
        reports the reloads.
        """
        from IPython.core.error import UsageError

        words = line.split("#", 1)[0].split()
        if not words:
            self.show_status()
            return
        option, rest = words[0], words[1:]
        if option in ("-h", "--help") and not rest:
            print(_LINE_MAGIC_USAGE)
            return
        if option in ("-r", "--reload"):
            if not rest:
                raise UsageError("%liveimport --reload: name at least one module to reload")
            options = [word for word in rest if word.startswith("-")]
            if options:
                raise UsageError(f"%liveimport: unknown option {options[0]!r}")
            self.force_reload(rest)
            return
        raise UsageError(f"%liveimport: unknown argument {option!r}\n{_LINE_MAGIC_USAGE}")

    def force_reload(self, modules: Sequence[str]) -> None:
        from IPython.core.error import UsageError

        known = tracked()
        missing = [name for name in modules if name not in known]
        if missing:
            names = ", ".join(missing)
            hint = ", ".join(known) if known else "none"
            raise UsageError(
                f"%liveimport --reload: not a tracked module: {names} (tracked modules: {hint})"
            )
        events: list[ReloadEvent] = []
        try:
            sync(force=tuple(dict.fromkeys(modules)), observer=events.append)
        except ModuleError as exc:
            header = [
                f"LiveImport: {_describe_failure(exc)}.",
                "The sync was rolled back: no module was reloaded.",
                "",
            ]
            _, _, lines = _format_module_error(self.shell, exc, header)
            raise _render_with(exc, lines) from None
        if events:
            _display_report(events)
        else:
            print("LiveImport: nothing was reloaded.")

    def show_status(self) -> None:
        # Kernels serve notebooks; a terminal shell is a session.
        kernel = type(self.shell).__name__ == "ZMQInteractiveShell"
        where = "this notebook" if kernel else "this session"
        markdown, plain = _status(self.shell.user_ns, self.settings, where)
        _display(markdown, plain)


def _looks_like_bootstrap(info: ExecutionInfo | None) -> bool:
    """Whether a cell looks like one a front end ran for itself.

    Front ends such as VS Code run hidden setup code with
    ``store_history=False`` and without a notebook cell id.
    """
    if info is None:
        return False
    return not getattr(info, "store_history", True) and getattr(info, "cell_id", None) is None


# ---------------------------------------------------------------------------
# Status display
# ---------------------------------------------------------------------------


def _short_path(path: str | None) -> str:
    """A path relative to the working directory when it is inside it."""
    if not path:
        return ""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # pragma: no cover - another drive on Windows
        return path
    return path if relative.startswith("..") else relative


def _md(text: str) -> str:
    """Escape text for a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_state(text: str) -> str:
    """A module's state for the Markdown table: pending reloads in bold."""
    return f"**{_md(text)}**" if text.startswith("reload") else _md(text)


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def _pending_reloads(modules: dict[str, Any]) -> dict[str, list[str]]:
    """The modules the next sync will reload, each with the pending modules it depends on.

    A module reloads when it is pending itself (its source changed) or when a
    module it depends on reloads; only modules reachable from a registered
    (direct) module count, as in the core's plan.
    """
    reachable: set[str] = set()
    stack = [name for name, module in modules.items() if module.direct]
    while stack:
        name = stack.pop()
        if name in reachable or name not in modules:
            continue
        reachable.add(name)
        stack.extend(modules[name].dependencies)
    reloads: dict[str, list[str]] = {}
    changed = True
    while changed:
        changed = False
        for name, module in modules.items():
            if name not in reachable:
                continue
            causes = [d for d in module.dependencies if d in reloads and d != name]
            if (module.pending or causes) and reloads.get(name) != causes:
                reloads[name] = causes
                changed = True
    # Dependencies first (the order the sync reloads in), ties in tracking order.
    ordered: dict[str, list[str]] = {}
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered or name in visiting:
            return
        visiting.add(name)
        for dependency in modules[name].dependencies:
            if dependency in reloads:
                visit(dependency)
        visiting.discard(name)
        ordered[name] = reloads[name]

    for name in modules:
        if name in reloads:
            visit(name)
    return ordered


def _status(
    namespace: dict[str, Any], settings: _Settings, where: str = "this notebook"
) -> tuple[str, str]:
    """Markdown and plain-text renderings of LiveImport's state."""
    own = [str(binding) for binding in registrations(namespace)]
    every = [str(binding) for binding in registrations()]
    others = len(every) - len(own)
    modules = tracked()
    importers: dict[str, list[str]] = {}
    for name, module in modules.items():
        for dependency in module.dependencies:
            if dependency in modules:
                importers.setdefault(dependency, []).append(name)
    after = _pending_reloads(modules)
    pending = list(after)

    def state(name: str) -> str:
        if name not in after:
            return "up to date"
        causes = after[name]
        return "reload pending" + (f" (after {', '.join(causes)})" if causes else " (modified)")

    def why(name: str) -> str:
        users = importers.get(name, [])
        reasons = ["registered import"] if modules[name].direct else []
        if users:
            reasons.append("imported by " + ", ".join(users))
        return "; ".join(reasons) or "indirect"

    state_line = (
        f"auto-sync {'on' if settings.auto_sync else 'off'}"
        + (f" (grace {settings.grace:g} s, reports {'on' if settings.report else 'off'})")
        + f"; hidden cell magic {'on' if settings.hidden_magic else 'off'}"
    )

    md: list[str] = [f"**LiveImport** — {state_line}", ""]
    md.append(f"**Registered imports in {where}** ({len(own)})")
    md.append("")
    if own:
        md += ["| # | import |", "|---:|---|"]
        md += [f"| {i} | {_code(_md(stmt))} |" for i, stmt in enumerate(own, 1)]
    else:
        md.append("None yet: run a cell starting with `%%liveimport`.")
    if others > 0:
        md += ["", f"({others} more registered in other namespaces.)"]
    md += ["", f"**Tracked modules** ({len(modules)})", ""]
    if modules:
        md += ["| module | tracked because | depends on | state | file |", "|---|---|---|---|---|"]
        for name, module in modules.items():
            deps = ", ".join(_code(_md(d)) for d in module.dependencies) or "—"
            md.append(
                f"| {_code(_md(name))} | {_md(why(name))} | {deps} | {_md_state(state(name))} "
                f"| {_md(_short_path(module.file)) or '—'} |"
            )
    else:
        md.append("None.")
    md.append("")
    if pending:
        md.append(
            "**Pending reloads** (at the next sync, in this order): "
            + ", ".join(_code(p) for p in pending)
        )
    else:
        md.append("**Pending reloads**: none, every tracked module is up to date.")

    text: list[str] = [f"LiveImport: {state_line}", ""]
    text.append(f"Registered imports in {where} ({len(own)}):")
    text += [f"  {stmt}" for stmt in own] or ["  none yet: run a cell starting with %%liveimport"]
    if others > 0:
        text.append(f"  ({others} more registered in other namespaces)")
    text += ["", f"Tracked modules ({len(modules)}):"]
    if modules:
        rows = [("module", "tracked because", "depends on", "state", "file")]
        for name, module in modules.items():
            rows.append(
                (
                    name,
                    why(name),
                    ", ".join(module.dependencies) or "-",
                    state(name),
                    _short_path(module.file) or "-",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        for row in rows:
            cells = [row[i].ljust(widths[i]) for i in range(4)]
            text.append("  " + "  ".join([*cells, row[4]]).rstrip())
    else:
        text.append("  none")
    text.append("")
    text.append(
        "Pending reloads (at the next sync, in this order): " + ", ".join(pending)
        if pending
        else "Pending reloads: none"
    )
    return "\n".join(md), "\n".join(text)
