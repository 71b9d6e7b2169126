"""Re-run hints: which earlier cells used what a sync changed.

Each cell is analysed once, by the engine's parser: the names it loads
(that it did not assign first) and the dotted attribute chains it loads
from them. A cell is queued when it runs (a list append: all a cell pays)
and analysed at the next sync that reloads something, with the cells
queued since, from the shell's history of its (transformed) inputs. The
index maps names to the execution counts of the cells that used them,
keeping only the latest execution of each cell, so a hint costs in
proportion to the names a sync changed (and the cells run since the last
one), not to the history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._engine import Engine
from ._types import RerunHint

if TYPE_CHECKING:
    from ._reload import Changed


@dataclass
class _Cell:
    count: int
    names: list[str]
    chains: list[str]


@dataclass
class CellIndex:
    """The cells of one session, by what they read."""

    engine: Engine
    #: The Python source a cell ran (after IPython's transformations), by
    #: execution count; ``None`` when unknown.
    source_of: Callable[[int], str | None]
    #: Cells run and not analysed yet: (identity, execution count).
    queue: list[tuple[str, int]] = field(default_factory=list)
    #: cell identity (its id, or its text) -> its latest execution
    cells: dict[str, _Cell] = field(default_factory=dict)
    #: execution count -> the cell run then (only latest executions)
    by_count: dict[int, _Cell] = field(default_factory=dict)
    #: name -> execution counts of the cells that loaded it
    by_name: dict[str, set[int]] = field(default_factory=dict)

    def add(self, key: str, count: int) -> None:
        """Queue a cell that just ran (`key`: its identity, id or text)."""
        self.queue.append((key, count))

    def analyse(self) -> None:
        """Index the queued cells, in the order they ran."""
        queue, self.queue = self.queue, []
        for key, count in queue:
            source = self.source_of(count)
            if source is not None:
                self._index(key, count, source)

    def _index(self, key: str, count: int, source: str) -> None:
        """Index a cell's execution (replacing its previous execution)."""
        previous = self.cells.pop(key, None)
        if previous is not None:
            self._forget(previous)
        names, chains = self.engine.cell_uses(source)
        if not names:
            return
        cell = _Cell(count, names, chains)
        self.cells[key] = cell
        self.by_count[count] = cell
        for name in names:
            self.by_name.setdefault(name, set()).add(count)

    def _forget(self, cell: _Cell) -> None:
        self.by_count.pop(cell.count, None)
        for name in cell.names:
            counts = self.by_name.get(name)
            if counts is not None:
                counts.discard(cell.count)
                if not counts:
                    del self.by_name[name]

    def clear(self) -> None:
        self.queue.clear()
        self.cells.clear()
        self.by_count.clear()
        self.by_name.clear()

    def hints(self, changed: Changed, reloaded: set[str]) -> list[RerunHint]:
        """The cells that used what changed, in execution order."""
        self.analyse()
        used: dict[int, list[str]] = {}
        for name in changed.names:
            for count in self.by_name.get(name, ()):
                used.setdefault(count, []).append(name)
        for bound, module in changed.modules.items():
            for count in self.by_name.get(bound, ()):
                for chain in self.by_count[count].chains:
                    hit = _changed_attribute(chain, bound, module, reloaded)
                    if hit is not None:
                        used.setdefault(count, []).append(hit)
        hints = []
        for count in sorted(used):
            cell = self.by_count[count]
            order = {use: i for i, use in enumerate(cell.names + cell.chains)}
            uses = sorted(set(used[count]), key=lambda use: order.get(use, len(order)))
            hints.append(RerunHint(count, tuple(uses)))
        return hints


def _changed_attribute(chain: str, bound: str, module: str, reloaded: set[str]) -> str | None:
    """For a chain read through a name bound to `module` (``report.summary``
    with ``report`` bound to ``shop.report``): the shortest prefix naming an
    attribute of a reloaded module, or ``None``."""
    parts = chain.split(".")
    if parts[0] != bound:
        return None
    path = module
    for i in range(1, len(parts)):
        if path in reloaded:
            return ".".join(parts[: i + 1])
        path = f"{path}.{parts[i]}"
    return None
