"""What a bug report needs: versions, platform, change detection, state.

``python -m liveimport`` prints it for a fresh process; ``%liveimport
--report`` prints it for the running kernel, with its registrations and
last sync.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from . import _engine
from ._api import _state, exclude, last_sync, patching, registrations, tracked
from ._version import __version__


def _ipython_version() -> str:
    module = sys.modules.get("IPython")
    if module is None:
        try:
            import importlib.metadata

            return importlib.metadata.version("ipython") + " (installed, not loaded)"
        except Exception:
            return "not installed"
    return str(getattr(module, "__version__", "?"))


def _inotify_limits() -> str:
    base = Path("/proc/sys/fs/inotify")
    if not base.is_dir():
        return "n/a (not Linux)"
    values = []
    for name in ("max_user_watches", "max_user_instances", "max_queued_events"):
        try:
            values.append(f"{name}={(base / name).read_text().strip()}")
        except OSError:
            values.append(f"{name}=?")
    return ", ".join(values)


def _detection() -> list[str]:
    state = _state.engine.detection()
    lines = [
        f"mode: {state.mode.value}"
        + (
            " (LIVEIMPORT_DETECTION=" + os.environ["LIVEIMPORT_DETECTION"] + ")"
            if "LIVEIMPORT_DETECTION" in os.environ
            else ""
        ),  # fmt: skip
        f"directories watched with events: {state.watched}",
        f"directories polled: {state.polled}",
    ]
    lines += [f"  polled because: {reason} ({count})" for reason, count in state.poll_reasons]
    lines.append(f"full rechecks so far: {state.full_checks}")
    for directory in _state.engine.workspace():
        reason = _state.engine.probe(directory)
        how = "file-system events" if reason is None else f"polling ({reason})"
        lines.append(f"workspace {os.fsdecode(directory)}: {how}")
    if sys.platform != "linux" and state.mode.value == "events":
        lines.append("(this platform has no file-system events LiveImport uses: it polls)")
    return lines


def report() -> str:
    """The report, as plain text to paste into an issue."""
    from ._ipython import _SETTINGS

    last = last_sync()
    modules = tracked()
    lines = [
        "LiveImport report",
        "",
        f"liveimport: {__version__} (engine {_engine.__version__}, {Path(_engine.__file__).name})",
        f"python: {platform.python_implementation()} {platform.python_version()} "
        f"({sys.executable})",
        f"ipython: {_ipython_version()}",
        f"platform: {platform.platform()} ({platform.machine()})",
        "",
        "change detection:",
        *[f"  {line}" for line in _detection()],
        f"  inotify limits: {_inotify_limits()}",
        "",
        f"workspace: {', '.join(map(os.fsdecode, _state.engine.workspace())) or '(empty)'}",
        f"tracked modules: {len(modules)} ({sum(m.direct for m in modules.values())} registered "
        f"directly, {sum(m.pending for m in modules.values())} pending)",
        f"registered imports: {len(registrations())} in {len(_state.namespaces)} namespace(s)",
        f"excluded: {', '.join(sorted(exclude())) or 'none'}",
        f"settings: auto-sync {'on' if _SETTINGS.auto_sync else 'off'} "
        f"(grace {_SETTINGS.grace:g} s, reports {'on' if _SETTINGS.report else 'off'}), "
        f"hidden magic {'on' if _SETTINGS.hidden_magic else 'off'}, "
        f"patching {'on' if patching() else 'off'}, "
        f"zero-config {'on' if _SETTINGS.auto_register else 'off'}, "
        f"hints {'on' if _SETTINGS.hints else 'off'}",
        "",
    ]
    if last is None:
        lines.append("last sync: none yet")
    else:
        outcome = "failed: " + repr(last.error) if last.error is not None else "succeeded"
        lines.append(
            f"last sync: {outcome}, {len(last.events)} reload(s) in {last.seconds * 1000:.1f} ms"
        )
        lines += [f"  {event}" for event in last.events]
        cause = getattr(last.error, "__cause__", None)
        if cause is not None:
            lines.append(f"  cause: {type(cause).__name__}: {cause}")
    return "\n".join(lines)
