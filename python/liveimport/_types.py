"""The public value types: what LiveImport's functions return and raise."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ._engine import AnalysisError

__all__ = [
    "Binding",
    "RerunHint",
    "StaleObject",
    "SyncReport",
    "DetectionMode",
    "ModuleError",
    "Reason",
    "ReloadEvent",
    "StaleNameWarning",
    "TrackedModule",
]


class _StrEnum(str, enum.Enum):
    """An enum whose members are their string values (``==``, hashing,
    ``str()``, ``repr()``, JSON): code that handles the plain strings of
    the PyPI package keeps working."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return repr(str.__str__(self))


class Reason(_StrEnum):
    """Why a module reloads. A ``str``: ``event.reason == "modified"`` holds."""

    #: Its source changed.
    MODIFIED = "modified"
    #: A module it imports reloads earlier in the same sync.
    DEPENDENT = "dependent"
    #: Named by ``sync(force=...)`` (or ``%liveimport --reload``), and unchanged.
    FORCED = "forced"


class DetectionMode(_StrEnum):
    """How LiveImport notices edited files (see :func:`liveimport.change_detection`)."""

    #: File-system events (inotify on Linux) where reliable, metadata polling elsewhere.
    EVENTS = "events"
    #: File metadata checked before each cell.
    POLLING = "polling"


class Binding(NamedTuple):
    """One registered single-binding import statement.

    ``import a.b.c`` is ``Binding("a.b.c", None, None)``, ``import a.b.c as x``
    is ``Binding("a.b.c", None, "x")``, ``from m import n`` is
    ``Binding("m", "n", None)``, ``from m import n as k`` is
    ``Binding("m", "n", "k")`` and ``from m import *`` is
    ``Binding("m", "*", None)``. ``str()`` gives the statement.
    """

    module: str
    name: str | None = None
    asname: str | None = None

    def __str__(self) -> str:
        if self.name is None:
            stmt = f"import {self.module}"
        else:
            stmt = f"from {self.module} import {self.name}"
        return stmt if self.asname is None else f"{stmt} as {self.asname}"


@dataclass(frozen=True)
class TrackedModule:
    """A module LiveImport watches.

    Attributes:
        name: The module's name.
        file: Its source file, or ``None`` when it has no Python source
            (built in, an extension module, a namespace package): such a
            module is never reloaded.
        direct: Named by a registered import statement (otherwise it is
            tracked because a tracked module imports it and it lies in the
            workspace).
        dependencies: Tracked modules it imports, in source order.
        pending: Out of date: it will reload at the next sync.
        excluded: Excluded by :func:`liveimport.exclude`: never reloaded.
    """

    name: str
    file: str | None
    direct: bool
    dependencies: tuple[str, ...]
    pending: bool
    excluded: bool = False


class ReloadEvent:
    """One module reloaded by a successful sync (or, from
    :func:`liveimport.pending`, one the next sync will reload).

    Attributes:
        module: The module's name.
        reason: ``"modified"`` (its source changed), ``"dependent"`` (a
            module it imports reloaded first) or ``"forced"`` (named by
            ``sync(force=...)`` and otherwise unchanged); a :class:`Reason`,
            which is a ``str``.
        mtime: Modification time of its source file (seconds since the epoch).
        after: The modules it imports that reloaded earlier in the same sync,
            in source order: for a ``"dependent"`` reload, its causes.

    ``str()`` reads ``Reloaded X modified 18 seconds ago`` or
    ``Reloaded Y because X reloaded``.
    """

    __slots__ = ("module", "reason", "mtime", "after")

    def __init__(self, module: str, reason: str, mtime: float, after: list[str]) -> None:
        self.module = module
        self.reason = Reason(reason)
        self.mtime = mtime
        self.after = after

    def __str__(self) -> str:
        if self.reason is Reason.MODIFIED:
            return f"Reloaded {self.module} modified {_time_ago(time.time() - self.mtime)}"
        if self.reason is Reason.FORCED:
            return f"Reloaded {self.module} (forced)"
        return f"Reloaded {self.module} because {_english_list(self.after)} reloaded"

    def __repr__(self) -> str:
        return (
            f"ReloadEvent(module={self.module!r}, reason={self.reason.value!r}, "
            f"mtime={self.mtime!r}, after={self.after!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReloadEvent):
            return NotImplemented
        return (self.module, self.reason, self.mtime, self.after) == (
            other.module,
            other.reason,
            other.mtime,
            other.after,
        )

    __hash__ = None  # type: ignore[assignment]


class ModuleError(RuntimeError):
    """A module's content stopped a sync or a registration.

    Attributes:
        module: The module's name.
        phase: ``"analysis"`` (its source cannot be read or parsed),
            ``"reload"`` (executing it raised) or ``"rebind"`` (a name a
            registered ``from`` import needs is missing from the module).
        file: Its source file, when known.
        line: The line in ``file`` where the problem is, when known.
        __cause__: The underlying exception (``SyntaxError``, the exception
            the module raised, ``ImportError`` for a missing name, ...).

    ``str()`` reads ``Reload of m failed: division by zero``, as the PyPI
    ``liveimport`` package words it. A ``RuntimeError``, so code written for
    that package's error for a vanished name catches it too.
    """

    def __init__(
        self,
        module: str,
        phase: str,
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(module, phase)
        self.module = module
        self.phase = phase
        self.file = file
        self.line = line

    def __str__(self) -> str:
        text = f"{self.phase.capitalize()} of {self.module} failed"
        return text if self.__cause__ is None else f"{text}: {self.__cause__}"


class StaleNameWarning(UserWarning):
    """A registered name that the module's new source no longer defines.

    As after any ``importlib.reload``, the module keeps the value its
    previous version bound, and the registered import rebinds that leftover
    value; this warning says so. Attributes: ``module``, ``name``.
    """

    def __init__(self, module: str, name: str) -> None:
        super().__init__(
            f"{name} is no longer defined in the source of {module}: the name keeps the "
            f"value left over from the previous version of {module}"
        )
        self.module = module
        self.name = name


@dataclass(frozen=True)
class StaleObject:
    """A variable of a registered namespace that still holds an instance of
    a class the sync replaced (its identity could not be kept).

    ``str()`` reads ``p (Point from geometry, replaced: its __slots__ changed)``.

    Attributes:
        path: How to reach it: ``p``, ``points[2]``, ``by_name['a']``.
        type_name: The class's name.
        module: The module that defines it.
        reason: Why it was replaced (``"patching is off"``, ``"its
            __slots__ changed"``, ...).
    """

    path: str
    type_name: str
    module: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path} ({self.type_name} from {self.module}, replaced: {self.reason})"


@dataclass(frozen=True)
class RerunHint:
    """An earlier notebook cell that used what a sync changed.

    ``str()`` reads ``In [7] (Cart, report.summary)``; ``%rerun 7`` runs the
    cell again.

    Attributes:
        count: Its execution count (the ``7`` of ``In [7]``).
        uses: The changed names, and attributes of reloaded modules, it read.
    """

    count: int
    uses: tuple[str, ...]

    def __str__(self) -> str:
        return f"In [{self.count}] ({', '.join(self.uses)})"


@dataclass(frozen=True)
class SyncReport:
    """What the last sync did (:func:`liveimport.last_sync`).

    Attributes:
        events: The reloads, in order (empty when it failed).
        leftovers: Registered names left over from a module's previous
            version (each also warned about).
        stale_objects: Variables of the registered namespaces (and one level
            into their containers) that hold instances of a class the sync
            replaced.
        error: The error that stopped it (the sync was rolled back), or
            ``None``.
        seconds: How long it took.
        finished: When it ended (``time.time()``).
        rerun: In IPython, the earlier cells of the session that used what
            the sync changed, in execution order (see
            :func:`liveimport.auto_sync`'s ``hints``).
    """

    events: list[ReloadEvent]
    leftovers: list[StaleNameWarning]
    stale_objects: list[StaleObject]
    error: BaseException | None
    seconds: float
    finished: float
    rerun: list[RerunHint] = field(default_factory=list)


def _time_ago(seconds: float) -> str:
    """How long ago, worded as the PyPI ``liveimport`` package words it."""
    if seconds < 0:
        return "in the future (!)"
    if seconds < 2:
        return f"{int(seconds * 1000)} milliseconds ago"
    if seconds < 120:
        return f"{int(seconds)} seconds ago"
    if seconds < 7200:
        return f"{int(seconds / 60)} minutes ago"
    if seconds < 172800:
        return f"{int(seconds / 3600)} hours ago"
    return f"{int(seconds / 86400)} days ago"


def _english_list(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def analysis_error(error: AnalysisError) -> ModuleError:
    """The public error for an engine analysis failure, with CPython's own
    exception as its cause: the real ``SyntaxError`` (with its caret), or the
    ``OSError`` of reading the file. Call outside an ``except`` block, so the
    engine's error is not chained to it."""
    from ._engine import FailureKind

    file, line = error.file, error.line
    cause: BaseException
    if error.kind == FailureKind.Unreadable:
        try:
            with open(file, "rb") as handle:
                handle.read()
            cause = OSError(error.message)
        except OSError as exc:
            cause = exc
    else:
        cause = SyntaxError(error.message, (file, line, None, None))
        try:
            with open(file, "rb") as handle:
                compile(handle.read(), file, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            cause = exc
            if isinstance(exc, SyntaxError) and exc.lineno:
                line = exc.lineno
        except OSError:
            pass
    cause.__traceback__ = None
    cause.__context__ = None
    module_error = ModuleError(error.module, "analysis", file, line)
    module_error.__cause__ = cause
    return module_error
