"""IPython and Jupyter integration: installation, hooks, magics.

Everything LiveImport does inside an IPython shell starts here:

* the ``%%liveimport`` cell magic, which runs a cell and registers its
  top-level imports, and its hidden spelling ``#_%%liveimport`` (an input
  transformer, so IDEs see an ordinary Python comment);
* auto-sync: a ``pre_run_cell`` hook that syncs before each cell once a
  *grace period* has passed since the previous cell ended, and reports the
  reloads (how errors look is :mod:`._tracebacks`' job);
* the ``%liveimport`` line magic: the status display (:mod:`._status`),
  forced reloads, help;
* :func:`load_ipython_extension` / :func:`unload_ipython_extension`, so
  ``%load_ext liveimport`` and ``%unload_ext liveimport`` work.

Importing ``liveimport`` inside IPython installs all of this once. The
installation is kept on the shell object itself (attribute
``_liveimport_integration``), so importing the package again, reloading it,
or loading the extension again replaces the installation instead of
stacking a second set of hooks. The settings have one owner, the
:class:`Settings` object: a new installation adopts the previous one's.
IPython itself is imported lazily: outside IPython this module costs nothing
and its settings functions only record their arguments.
"""

from __future__ import annotations

import ast
import math
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from ._api import (
    _in_workspace,
    _Outcome,
    _state,
    _sync,
    exclude,
    include,
    patching,
    register,
    tracked,
)
from ._api import log as _api_log
from ._hints import CellIndex
from ._types import ModuleError, RerunHint

if TYPE_CHECKING:  # pragma: no cover - typing only
    from IPython.core.interactiveshell import ExecutionInfo, ExecutionResult, InteractiveShell

    from ._reload import Changed

__all__ = [
    "auto_register",
    "auto_sync",
    "hidden_cell_magic",
    "load_ipython_extension",
    "unload_ipython_extension",
]

#: Name of the attribute that holds the installed integration on the shell.
_SHELL_ATTR = "_liveimport_integration"

#: The name IPython's extension manager knows this package by.
_PACKAGE = __name__.rpartition(".")[0] or "liveimport"

#: ``#_%%liveimport`` or ``# _%%liveimport`` at the start of a cell's first line.
_HIDDEN_MAGIC = re.compile(r"#[ \t]*_(?=%%liveimport(?:\s|#|$))")

_CELL_MAGIC_USAGE = "%%liveimport [-c|--clear]  # optional comment"

_LINE_MAGIC_USAGE = """\
LiveImport keeps the modules you import in %%liveimport cells up to date.

  %%liveimport [-c|--clear]   (cell magic) run the cell, then register its imports:
                              before each later cell, edited modules reload (and the
                              modules that import them), and the names the imports
                              bound are rebound. --clear first forgets earlier ones.
  #_%%liveimport              the same, as a comment IDEs ignore (first line of a cell)

  %liveimport                        show registered imports, tracked modules and
                                     pending reloads
  %liveimport --reload MODULE [...]  reload these tracked modules now (and the
                                     modules that depend on them), then rebind
  %liveimport --patch on|off         keep the identity of functions and classes
                                     across reloads: existing objects get the new
                                     code (off by default)
  %liveimport --auto on|off          zero-config mode: every cell registers its
                                     imports of workspace modules (off by default)
  %liveimport --hints on|off         list the earlier cells that used what a
                                     reload changed, for %rerun (on by default)
  %liveimport --exclude MODULE [...] never reload these modules (nor through them)
  %liveimport --include MODULE [...] undo --exclude
  %liveimport --report               what a bug report needs: versions, platform,
                                     change detection and why, state, last sync
                                     (python -m liveimport prints it too)
  %liveimport --help                 show this help

Options may be abbreviated -r and -h. Text after '#' is a comment.

Settings (from Python):
  liveimport.auto_sync(report=False)   stop reporting reloads in the cell output
  liveimport.auto_sync(grace=2.0)      seconds after a cell ends before the next cell
                                       syncs (cells started sooner, as in Run All, do not)
  liveimport.auto_sync(False)          stop syncing before cells (call liveimport.sync())
  liveimport.hidden_cell_magic(False)  stop recognising #_%%liveimport"""


# ---------------------------------------------------------------------------
# Settings (kept even when not running under IPython)
# ---------------------------------------------------------------------------


@dataclass
class Settings:
    """User-configurable behaviour of the IPython integration."""

    auto_sync: bool = True
    grace: float = 1.0
    report: bool = True
    hidden_magic: bool = True
    #: List the earlier cells that used what a sync changed.
    hints: bool = True
    #: At most this many of them.
    hint_limit: int = 10
    #: Register every cell's imports of workspace modules (zero-config mode).
    auto_register: bool = False


#: The settings. A reload of this module keeps them; an installation made by
#: a fresh copy of this module adopts its predecessor's (see `_install`).
_SETTINGS: Settings = globals().get("_SETTINGS") or Settings()


def auto_sync(
    enabled: bool | None = None,
    *,
    grace: float | None = None,
    report: bool | None = None,
    hints: bool | None = None,
    hint_limit: int | None = None,
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
    :param report: Show the reloads in the cell's output (default ``True``).
        Errors are always shown.
    :param hints: After a sync that reloaded something, also list the
        earlier cells whose code used what changed, ready for IPython's
        ``%rerun`` (default ``True``). :func:`liveimport.last_sync` gives
        them as ``rerun``.
    :param hint_limit: List at most this many cells (default ``10``).
    :raises ValueError: ``grace`` is negative or not a number, or
        ``hint_limit`` is below 1.
    """
    if grace is not None:
        grace = float(grace)
        if math.isnan(grace) or grace < 0:
            raise ValueError(f"grace must be a number of seconds >= 0, not {grace!r}")
    if hint_limit is not None and int(hint_limit) < 1:
        raise ValueError(f"hint_limit must be at least 1, not {hint_limit!r}")
    if hints is not None:
        _SETTINGS.hints = bool(hints)
    if hint_limit is not None:
        _SETTINGS.hint_limit = int(hint_limit)
    if enabled is not None:
        _SETTINGS.auto_sync = bool(enabled)
    if grace is not None:
        _SETTINGS.grace = grace
    if report is not None:
        _SETTINGS.report = bool(report)
    integration = _current_integration()
    if integration is not None and not _SETTINGS.auto_sync:
        integration.held = None


def auto_register(enabled: bool | None = None) -> bool:
    """Zero-config mode: register every cell's imports of workspace modules.

    When on, every cell that runs without error registers its own top-level
    imports of modules whose files lie in the workspace, as if it were a
    ``%%liveimport`` cell; imports of modules outside it (numpy, the
    standard library) are left alone. Off (the default), only
    ``%%liveimport`` cells register. Turning it off keeps what was
    registered. A cell without ``import`` costs nothing; one with imports,
    one parse. In a notebook: ``%liveimport --auto on|off``.

    :param enabled: The new setting; ``None`` only reads it.
    :returns: The setting in force.
    """
    if enabled is not None:
        _SETTINGS.auto_register = bool(enabled)
    return _SETTINGS.auto_register


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
    _remove_everything(ipython)


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
    global _SETTINGS
    previous = getattr(shell, _SHELL_ATTR, None)
    adopted = getattr(previous, "settings", None)
    if adopted is not None and adopted is not _SETTINGS:
        # A fresh copy of this module: the settings stay those in force.
        try:
            _SETTINGS = Settings(
                **{
                    f.name: getattr(adopted, f.name)
                    for f in fields(Settings)
                    if hasattr(adopted, f.name)
                }
            )
        except AttributeError:  # pragma: no cover - a much older installation
            pass
    _remove_everything(shell)
    integration = _Integration(shell)
    if previous is not None:
        integration.last_cell_end = getattr(previous, "last_cell_end", -math.inf)
        index = getattr(previous, "index", None)
        if isinstance(index, CellIndex):
            integration.index = index
    integration.install()


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
    _state.hinter = None


# ---------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------


def _display(bundle: dict[str, str]) -> None:
    from IPython.display import display

    display(bundle, raw=True)


#: At most this many stale objects are listed in a report.
_STALE_LISTED = 5


def _display_report(outcome: _Outcome) -> None:
    """Show one line per reload, then the notes (leftover names, re-run
    hints, old objects), marked as LiveImport's.

    Markdown (the reloads as a console block, exactly as the PyPI package
    shows them, the notes after it), HTML (every line, labelled) and plain
    text are offered; front ends pick the richest they render.
    """
    events = [str(event) for event in outcome.events]
    lines = [f"Warning: {leftover}" for leftover in outcome.leftovers]
    if outcome.rerun:
        limit = _SETTINGS.hint_limit
        hints = outcome.rerun[:limit]
        text = ", ".join(str(hint) for hint in hints)
        if len(outcome.rerun) > limit:
            text += f", and {len(outcome.rerun) - limit} more"
        counts = " ".join(str(hint.count) for hint in hints)
        lines.append(f"Cells that used changed names: {text} — %rerun {counts}")
    stale = outcome.stale_objects
    if stale:
        listed = ", ".join(str(item) for item in stale[:_STALE_LISTED])
        more = f", and {len(stale) - _STALE_LISTED} more" if len(stale) > _STALE_LISTED else ""
        lines.append(f"Old objects: {listed}{more}")
    markdown = "```console\n" + "\n".join(events) + "\n```"
    if lines:
        notes = "  \n".join("`" + line.replace("`", "'") + "`" for line in lines)
        markdown += "\n\n" + notes
    lines = events + lines
    label = '<span style="font-weight:600;color:var(--jp-brand-color1,#1976d2)">LiveImport</span> '
    rows = "".join(f"<div>{label}{_escape(line)}</div>" for line in lines)
    markup = (
        '<div class="liveimport-report" style="font-family:var(--jp-code-font-family,monospace);'
        'font-size:var(--jp-code-font-size,13px);color:var(--jp-content-font-color2,#555)">'
        f"{rows}</div>"
    )
    plain = "\n".join(f"LiveImport: {line}" for line in lines)
    _display({"text/markdown": markdown, "text/html": markup, "text/plain": plain})


def _escape(text: str) -> str:
    """`text` as HTML text (``html.escape``, without importing ``html``,
    whose named-entity table costs a kernel about 200 KiB)."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#x27;")
    )


def _raise_sync_interrupt() -> None:
    """Raise the KeyboardInterrupt of a cell whose auto-sync was interrupted.

    The cell's code is replaced by a call to this function (see
    :class:`_InterruptCell`), so the cell stops the way an interrupted cell
    does: with a ``KeyboardInterrupt`` and an error status.
    """
    from . import _tracebacks

    exc = KeyboardInterrupt("interrupted while LiveImport was syncing")
    raise _tracebacks.render_with(
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

    outcome: _Outcome
    error: BaseException | None


class _Integration:
    """LiveImport's hooks, magics and transformer in one IPython shell."""

    _liveimport_marker = True

    def __init__(self, shell: InteractiveShell) -> None:
        self.shell = shell
        #: time.monotonic() when the last cell finished
        self.last_cell_end = -math.inf
        #: reloads done for a bootstrap cell, shown with the next user cell
        self.held: _Held | None = None
        #: > 0 while %%liveimport runs its cell (its own pre/post events are ignored)
        self.nested = 0
        #: pending transformer that stops the current cell after an interrupt
        self.interrupt: _InterruptCell | None = None
        #: the auto-sync error shown last, while it persists (see _tracebacks.error_key)
        self.shown_error: tuple[object, ...] | None = None
        #: what the session's cells read, for re-run hints
        self.index = CellIndex(_state.engine, self.source_of)

    @property
    def settings(self) -> Settings:
        return _SETTINGS

    # -- installation ---------------------------------------------------------

    def install(self) -> None:
        shell = self.shell
        setattr(shell, _SHELL_ATTR, self)
        shell.events.register("pre_run_cell", self.pre_run_cell)
        shell.events.register("post_run_cell", self.post_run_cell)
        # (IPython's annotations of this decorated method are wrong.)
        shell.register_magic_function(self.cell_magic, "cell", "liveimport")  # type: ignore[arg-type]
        shell.register_magic_function(self.line_magic, "line", "liveimport")  # type: ignore[arg-type]
        self.apply_hidden_magic_setting()
        _state.hinter = self.hints_for

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
            settings = _SETTINGS
            if (
                settings.auto_sync
                and self.held is None
                and time.monotonic() - self.last_cell_end >= settings.grace
                and not _state.engine.poll()
            ):
                self.shown_error = None
                return
            self._pre_run_cell(info)
        except KeyboardInterrupt:
            self.stop_cell()
        except Exception as exc:  # pragma: no cover - a bug in LiveImport
            self.show_error(exc, ["LiveImport: internal error during auto-sync.", ""])

    def _pre_run_cell(self, info: ExecutionInfo | None) -> None:
        settings = _SETTINGS
        if not settings.auto_sync:
            self.held = None
            return
        bootstrap = _looks_like_bootstrap(info)
        if time.monotonic() - self.last_cell_end < settings.grace:
            # A cell started right after the previous one ("Run All", or a user
            # cell right after a front end's bootstrap cell): never sync here.
            if self.held is not None and not bootstrap:
                held, self.held = self.held, None
                self.show(held.outcome, held.error)
            return
        self.held = None
        outcome = _Outcome()
        error: BaseException | None = None
        try:
            # The hook polled already (true, or this path is taken because a
            # report was held or grace just passed): the sync plans directly.
            outcome = _sync(polled=True)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            error = exc
        if not outcome.events and error is None:
            self.shown_error = None
            return
        if bootstrap:
            self.held = _Held(outcome, error)
        else:
            self.show(outcome, error)

    def post_run_cell(self, result: ExecutionResult | None = None) -> None:
        """Remember when the cell ended (the grace period starts now); index
        what it read; in zero-config mode, register its imports."""
        if self.nested:
            return
        self.last_cell_end = time.monotonic()
        info = getattr(result, "info", None)
        raw = getattr(info, "raw_cell", None)
        count = getattr(result, "execution_count", None)
        if isinstance(raw, str) and raw and getattr(info, "store_history", False):
            settings = _SETTINGS
            try:
                if settings.hints and isinstance(count, int):
                    self.index.add(getattr(info, "cell_id", None) or raw, count)
                if settings.auto_register and "import" in raw and result is not None:
                    if result.success:
                        self.register_imports(raw)
            except Exception as exc:  # pragma: no cover - a bug in LiveImport
                print(f"LiveImport: internal error after the cell: {exc!r}", file=sys.stderr)
        if self.interrupt is not None:
            transformers = self.shell.ast_transformers
            if self.interrupt in transformers:
                transformers.remove(self.interrupt)
            self.interrupt = None

    def register_imports(self, raw: str) -> None:
        """Zero-config mode: register the cell's imports of workspace modules."""
        try:
            statements = _state.engine.analyze_statements(self.shell.transform_cell(raw), "", True)
        except (SyntaxError, ImportError, ValueError):
            return
        lines = []
        for stmt in statements:
            for name, asname in stmt.names:
                module = stmt.module if stmt.from_import else name
                if module is None or not _in_workspace(module):
                    continue
                text = f"from {module} import {name}" if stmt.from_import else f"import {name}"
                lines.append(text + (f" as {asname}" if asname else ""))
        if not lines:
            return
        try:
            register(self.shell.user_ns, "\n".join(lines))
        except (ValueError, ImportError, SyntaxError, ModuleError) as exc:
            print(f"LiveImport: this cell's imports were not registered: {exc}", file=sys.stderr)

    def source_of(self, count: int) -> str | None:
        """The Python source of execution `count` (transformed by IPython)."""
        parsed = getattr(self.shell.history_manager, "input_hist_parsed", [])
        return parsed[count] if 0 <= count < len(parsed) else None

    def hints_for(self, changed: dict[int, Changed], reloaded: set[str]) -> list[RerunHint]:
        """The earlier cells that used what a sync changed in this notebook."""
        if not _SETTINGS.hints:
            return []
        mine = changed.get(id(self.shell.user_ns))
        return [] if mine is None else self.index.hints(mine, reloaded)

    def stop_cell(self) -> None:
        """Make the cell about to run raise KeyboardInterrupt instead of running."""
        if self.interrupt is None:
            self.interrupt = _InterruptCell()
            self.shell.ast_transformers.append(self.interrupt)
        else:
            self.interrupt.armed = True

    def show(self, outcome: _Outcome, error: BaseException | None) -> None:
        if outcome.events and _SETTINGS.report:
            _display_report(outcome)
        for notice in outcome.notices:
            if notice.warning:
                _api_log.warning("%s", notice.message)
                if notice.tell_user:
                    print(f"LiveImport: {notice.message}", file=sys.stderr)
            else:
                _api_log.debug("%s", notice.message)
        if error is None:
            self.shown_error = None
            return
        from . import _tracebacks

        key = _tracebacks.error_key(error)
        if key == self.shown_error and isinstance(error, ModuleError):
            print(_tracebacks.still_failing(error), file=sys.stderr)
            return
        self.shown_error = key
        self.show_error(error, _tracebacks.sync_header(error))

    def show_error(self, error: BaseException, header: Sequence[str]) -> None:
        from . import _tracebacks

        """Show an error in the current cell's output without raising it."""
        etype, value, stb = _tracebacks.format_error(self.shell, error, header)
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
            register(shell.user_ns, source, clear=clear, allow_other_statements=True)
        except (SyntaxError, ImportError, ValueError, ModuleError) as exc:
            from . import _tracebacks

            if isinstance(exc, ModuleError):
                header = [
                    f"%%liveimport: the cell ran, but its imports were not registered: "
                    f"{_tracebacks.describe_failure(exc)}.",
                    "",
                ]
                _, _, lines = _tracebacks.format_error(shell, exc, header)
            else:
                lines = [
                    "%%liveimport: the cell ran, but its imports were not registered:",
                    f"{type(exc).__name__}: {exc}",
                ]
            raise _tracebacks.render_with(exc, lines) from None

    def line_magic(self, line: str) -> None:
        """Show LiveImport's state, change a setting, or reload modules now.

        Usage::

            %liveimport                        # status
            %liveimport --reload MODULE [...]  # forced reload
            %liveimport --patch on|off         # in-place patching
            %liveimport --help

        Without arguments, shows the settings, the imports registered for
        this notebook, every tracked module (registered directly, or tracked
        because a tracked module imports it), its dependencies and source
        file, and the reloads pending for the next sync, in the order it
        will do them.

        ``--reload`` (``-r``) reloads the named tracked modules now even if
        their source is unchanged, together with every module that depends on
        them, in dependency order, then rebinds the registered names and
        reports the reloads. ``--patch on`` keeps the identity of functions
        and classes across reloads (see :func:`liveimport.patching`).
        """
        from IPython.core.error import UsageError

        words = line.split("#", 1)[0].split()
        if not words:
            self.show_status()
            return
        while words:
            option = words.pop(0)
            if option in ("-h", "--help"):
                print(_LINE_MAGIC_USAGE)
            elif option == "--report":
                from ._diagnostics import report

                print(report())
            elif option in ("-r", "--reload"):
                names = _take_names(words)
                if not names:
                    raise UsageError("%liveimport --reload: name at least one module to reload")
                self.force_reload(names)
            elif option == "--patch":
                state = _take_switch(option, words)
                patching(state)
                print(f"LiveImport: patching is {'on' if state else 'off'}.")
            elif option == "--auto":
                state = _take_switch(option, words)
                auto_register(state)
                print(f"LiveImport: zero-config mode is {'on' if state else 'off'}.")
            elif option == "--hints":
                state = _take_switch(option, words)
                auto_sync(hints=state)
                print(f"LiveImport: re-run hints are {'on' if state else 'off'}.")
            elif option in ("--exclude", "--include"):
                names = _take_names(words)
                excluded = exclude(*names) if option == "--exclude" else include(*names)
                print(f"LiveImport: excluded modules: {', '.join(sorted(excluded)) or 'none'}.")
            else:
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
        try:
            outcome = _sync(tuple(dict.fromkeys(modules)))
        except ModuleError as exc:
            from . import _tracebacks

            header = [
                f"LiveImport: {_tracebacks.describe_failure(exc)}.",
                "The sync was rolled back: no module was reloaded.",
                "",
            ]
            _, _, lines = _tracebacks.format_error(self.shell, exc, header)
            raise _tracebacks.render_with(exc, lines) from None
        except ValueError as exc:
            raise UsageError(f"%liveimport --reload: {exc}") from None
        if outcome.events:
            _display_report(outcome)
        else:
            print("LiveImport: nothing was reloaded.")

    def show_status(self) -> None:
        # Kernels serve notebooks; a terminal shell is a session.
        kernel = type(self.shell).__name__ == "ZMQInteractiveShell"
        where = "this notebook" if kernel else "this session"
        from . import _status  # loaded when first shown, not with the package

        markdown, plain = _status.render(self.shell.user_ns, _SETTINGS, where)
        _display({"text/markdown": markdown, "text/plain": plain})


def _take_names(words: list[str]) -> list[str]:
    """The words up to the next option."""
    names = []
    while words and not words[0].startswith("-"):
        names.append(words.pop(0))
    return names


def _take_switch(option: str, words: list[str]) -> bool:
    from IPython.core.error import UsageError

    value = words.pop(0).lower() if words else ""
    if value not in ("on", "off"):
        raise UsageError(f"%liveimport {option}: say on or off")
    return value == "on"


def _looks_like_bootstrap(info: ExecutionInfo | None) -> bool:
    """Whether a cell looks like one a front end ran for itself.

    Front ends such as VS Code run hidden setup code with
    ``store_history=False`` and without a notebook cell id.
    """
    if info is None:
        return False
    return not getattr(info, "store_history", True) and getattr(info, "cell_id", None) is None
