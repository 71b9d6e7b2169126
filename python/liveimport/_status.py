"""The ``%liveimport`` status display: LiveImport's state, formatted.

Everything shown comes from the public introspection functions; the pending
reloads are the engine's plan (:func:`liveimport.pending`), so the order
announced here is the order the next sync follows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._api import exclude, patching, pending, registrations, tracked
from ._tracebacks import short_path
from ._types import ModuleError, ReloadEvent

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ._ipython import Settings

#: Where to read more.
MORE = (
    "%liveimport --help says how to change these; the user guide (docs/userguide.md) explains them"
)


def _md(text: str) -> str:
    """Escape text for a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def settings_lines(settings: Settings) -> list[str]:
    """The settings, in words a new user understands."""
    if settings.auto_sync:
        sync = (
            f"Auto-sync is on: before each cell, edited modules reload, except within "
            f"{settings.grace:g} s of the previous cell (so Run All never reloads half-way)."
        )
    else:
        sync = "Auto-sync is off: modules reload only when you call liveimport.sync()."
    report = (
        "Reloads are reported in the cell's output."
        if settings.report
        else "Reloads are not reported (liveimport.auto_sync(report=True) shows them)."
    )
    hidden = (
        "A cell starting with #_%%liveimport works like %%liveimport (IDEs see a comment)."
        if settings.hidden_magic
        else "#_%%liveimport is not recognised (liveimport.hidden_cell_magic(True))."
    )
    patch = (
        "Patching is on: functions and classes keep their identity across reloads, so "
        "existing objects run the new code."
        if patching()
        else "Patching is off: reloads rebind names; objects made before keep the old code "
        "(%liveimport --patch on changes that)."
    )
    auto = (
        "Zero-config mode is on: every cell registers its imports of workspace modules."
        if settings.auto_register
        else "Only %%liveimport cells register imports (%liveimport --auto on: every cell does)."
    )
    hints = (
        f"After a reload, the cells that used what changed are listed (up to "
        f"{settings.hint_limit}), for %rerun."
        if settings.hints
        else "Re-run hints are off (%liveimport --hints on)."
    )
    lines = [sync, report, hidden, patch, auto, hints]
    excluded = exclude()
    if excluded:
        lines.append(
            "Excluded (never reloaded, nor through them): " + ", ".join(sorted(excluded)) + "."
        )
    return lines


def render(namespace: dict[str, Any], settings: Settings, where: str) -> tuple[str, str]:
    """Markdown and plain-text renderings of LiveImport's state."""
    own = [str(binding) for binding in registrations(namespace)]
    others = len(registrations()) - len(own)
    modules = tracked()
    importers: dict[str, list[str]] = {}
    for name, module in modules.items():
        for dependency in module.dependencies:
            importers.setdefault(dependency, []).append(name)
    plan: list[ReloadEvent] = []
    problem: str | None = None
    try:
        plan = pending()
    except ModuleError as error:
        problem = f"the next sync fails: {error}"
    planned = {event.module: event for event in plan}

    def state(name: str) -> str:
        if modules[name].excluded:
            return "excluded"
        event = planned.get(name)
        if event is None:
            return (
                "modified, cannot be analysed"
                if problem and modules[name].pending
                else "up to date"
            )
        if event.reason == "dependent":
            return f"reload pending (after {', '.join(event.after)})"
        return f"reload pending ({event.reason})"

    def why(name: str) -> str:
        users = importers.get(name, [])
        reasons = ["registered import"] if modules[name].direct else []
        if users:
            reasons.append("imported by " + ", ".join(users))
        return "; ".join(reasons) or "indirect"

    order = ", ".join(plan_event.module for plan_event in plan)
    md: list[str] = ["**LiveImport**", ""]
    md += [f"- {line}" for line in settings_lines(settings)]
    md += ["- `%liveimport --help` says how to change these; the user guide explains them.", ""]
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
            shown = state(name)
            shown = f"**{_md(shown)}**" if shown != "up to date" else shown
            file = _md(short_path(module.file)) or "— (no Python source: never reloaded)"
            md.append(f"| {_code(_md(name))} | {_md(why(name))} | {deps} | {shown} | {file} |")
    else:
        md.append("None.")
    md.append("")
    if problem:
        md.append(f"**Pending reloads**: {_md(problem)}")
    elif plan:
        md.append(
            "**Pending reloads** (at the next sync, in this order): "
            + ", ".join(_code(event.module) for event in plan)
        )
    else:
        md.append("**Pending reloads**: none, every tracked module is up to date.")

    text: list[str] = ["LiveImport", *[f"  {line}" for line in settings_lines(settings)]]
    text.append(f"  {MORE}.")
    text += ["", f"Registered imports in {where} ({len(own)}):"]
    text += [f"  {stmt}" for stmt in own] or ["  none yet: run a cell starting with %%liveimport"]
    if others > 0:
        text.append(f"  ({others} more registered in other namespaces)")
    text += ["", f"Tracked modules ({len(modules)}):"]
    if modules:
        for name, module in modules.items():
            text.append(f"  {name}  [{state(name)}]")
            text.append(f"      file: {short_path(module.file) or '- (no Python source)'}")
            text.append(f"      tracked because: {why(name)}")
            if module.dependencies:
                text.append(f"      depends on: {', '.join(module.dependencies)}")
    else:
        text.append("  none")
    text.append("")
    if problem:
        text.append(f"Pending reloads: {problem}")
    else:
        text.append(
            f"Pending reloads (at the next sync, in this order): {order}"
            if plan
            else "Pending reloads: none"
        )
    return "\n".join(md), "\n".join(text)
