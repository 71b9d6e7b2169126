"""Typed surface of the Rust engine (``liveimport._engine``).

Private to LiveImport: the public API is the ``liveimport`` package. The
engine owns all of LiveImport's state and makes every decision that needs
no Python code; its answers cross the boundary as the frozen records below.
Checked against the compiled module by ``stubtest`` (``make check``).
"""

from collections.abc import Callable, Sequence
from os import PathLike
from typing import final

__version__: str

__all__ = [
    "AnalysisError",
    "Detection",
    "Engine",
    "FailureKind",
    "Mode",
    "ModuleMeta",
    "Notice",
    "Plan",
    "PlannedReload",
    "ReadCounts",
    "Reason",
    "Rebind",
    "Statement",
    "TrackedRecord",
    "content_hash",
    "__version__",
    "describe",
]

_BindingTuple = tuple[str, str | None, str | None]
"""``(module, name, asname)``, as ``liveimport.Binding`` spells a record."""

_Resolver = Callable[[list[str]], Sequence[ModuleMeta | None]]
"""Answers, for each module name, what the interpreter knows of it: ``None``
when it is not loaded; a :class:`ModuleMeta` without a file when it has no
Python source."""

class AnalysisError(Exception):
    """A module's source could not be read or parsed."""

    module: str
    file: str
    line: int | None
    message: str
    kind: FailureKind

@final
class Reason:
    """Why a module reloads."""

    Modified: Reason
    Dependent: Reason
    Forced: Reason
    @property
    def value(self) -> str:
        """``"modified"``, ``"dependent"`` or ``"forced"``."""

    def __int__(self) -> int: ...

@final
class Mode:
    """How changes are detected."""

    Events: Mode
    Polling: Mode
    @property
    def value(self) -> str:
        """``"events"`` or ``"polling"``."""

    def __int__(self) -> int: ...

@final
class FailureKind:
    """What went wrong when a source was analysed."""

    Syntax: FailureKind
    Decode: FailureKind
    Unreadable: FailureKind
    def __int__(self) -> int: ...

@final
class ModuleMeta:
    """What the interpreter knows of a loaded module."""

    def __new__(
        cls, name: str, file: str | None, is_package: bool, cached: str | None = None
    ) -> ModuleMeta: ...
    @property
    def name(self) -> str: ...
    @property
    def file(self) -> str | None:
        """Its ``.py`` source (absolute), or ``None`` when it has none."""

    @property
    def is_package(self) -> bool: ...
    @property
    def cached(self) -> str | None:
        """Its bytecode file, if any."""

@final
class Statement:
    """One import statement: ``import a, b as c`` or ``from m import x, y as z``."""

    @property
    def line(self) -> int: ...
    @property
    def from_import(self) -> bool: ...
    @property
    def module(self) -> str | None:
        """The ``from`` module (absolute when registered; as written, with
        ``level`` dots, from ``analyze_source``); ``None`` for ``import``."""

    @property
    def level(self) -> int: ...
    @property
    def names(self) -> list[tuple[str, str | None]]:
        """``(name, asname)`` pairs."""

@final
class PlannedReload:
    """One reload of a plan."""

    @property
    def module(self) -> str: ...
    @property
    def file(self) -> str | None: ...
    @property
    def reason(self) -> Reason: ...
    @property
    def mtime(self) -> float:
        """Modification time of its file (seconds since the epoch)."""

    @property
    def after(self) -> list[str]:
        """Its dependencies that reload earlier in the same plan."""

    @property
    def binds(self) -> list[str] | None:
        """For a modified module that registered ``from`` imports name: the
        names its new source binds at module level, sorted; ``None`` when
        unknown (not asked, or a source that binds names dynamically)."""

@final
class Rebind:
    """A namespace to rebind after a plan's reloads: all its records, in order."""

    @property
    def namespace(self) -> int: ...
    @property
    def records(self) -> list[_BindingTuple]: ...

@final
class Plan:
    """What a sync must do."""

    @property
    def reloads(self) -> list[PlannedReload]: ...
    @property
    def rebinds(self) -> list[Rebind]: ...
    @property
    def imports_changed(self) -> bool:
        """Some module's imports changed (refresh the import system's caches)."""

    @property
    def notices(self) -> list[Notice]:
        """What change detection decided since the last call."""

@final
class Notice:
    """Something change detection decided (a directory polled, and why)."""

    @property
    def warning(self) -> bool:
        """A fallback the user should know about (else a detail for debugging)."""

    @property
    def tell_user(self) -> bool:
        """Worth a Python warning, not only a log record."""

    @property
    def message(self) -> str: ...

@final
class TrackedRecord:
    """A tracked module."""

    @property
    def name(self) -> str: ...
    @property
    def file(self) -> str | None: ...
    @property
    def direct(self) -> bool: ...
    @property
    def dependencies(self) -> list[str]: ...
    @property
    def pending(self) -> bool: ...
    @property
    def excluded(self) -> bool: ...

@final
class Detection:
    """How changes are detected, and over how many directories."""

    @property
    def mode(self) -> Mode: ...
    @property
    def watched(self) -> int:
        """Directories watched with file-system events."""

    @property
    def polled(self) -> int:
        """Directories whose files' metadata is polled."""

    @property
    def full_checks(self) -> int:
        """How many times every tracked file had to be checked (events were
        lost, a watched directory went away, or a symbolic link changed)."""

    @property
    def poll_reasons(self) -> list[tuple[str, int]]:
        """Why directories are polled: ``(reason, number of directories)``."""

@final
class ReadCounts:
    """How module files were analysed at registration (diagnostics)."""

    @property
    def parsed(self) -> int:
        """Parsed fully."""

    @property
    def scanned(self) -> int:
        """Read with the token scanner (their bytecode showed CPython
        compiled exactly these bytes)."""

    @property
    def cached(self) -> int:
        """Answered by the persistent cache."""

    @property
    def unread(self) -> int:
        """Of those, files not read at all (metadata unchanged)."""

    @property
    def cache_writes(self) -> int:
        """Cache files written."""

@final
class Engine:
    """The engine: owns all of LiveImport's state."""

    def __new__(
        cls, version: tuple[int, int], workspace: Sequence[str | PathLike[str]], mode: Mode
    ) -> Engine: ...
    def analyze_statements(self, source: str, package: str, allow_other: bool) -> list[Statement]:
        """The top-level imports of registered statements, relative ``from``
        modules resolved against `package`. Raises ``SyntaxError``,
        ``ImportError`` or ``ValueError`` (another statement, unless
        `allow_other`)."""

    def register(
        self,
        ns: int,
        clear: bool,
        records: Sequence[_BindingTuple],
        modules: Sequence[ModuleMeta],
        resolver: _Resolver | None = None,
    ) -> None:
        """Register `records` for namespace `ns` and track `modules`; atomic.
        `resolver` describes loaded modules (``None``: ``sys.modules``, read
        natively, as :func:`describe` does). Raises ``AnalysisError``."""

    def poll(self) -> bool:
        """Whether some tracked module may be out of date. Cheap when nothing
        changed: one non-blocking read, no allocation."""

    def plan(self, force: Sequence[str]) -> Plan:
        """The plan of a sync, from what the last ``poll()`` observed; kept
        for ``commit()``. Raises ``AnalysisError``, or ``ValueError`` for a
        `force` name that is not tracked or has no source."""

    def preview(self) -> list[PlannedReload]:
        """The reloads the next sync would do, in order (nothing is kept).
        Raises ``AnalysisError``."""

    def commit(self, resolver: _Resolver | None = None) -> None:
        """Every reload of the last plan succeeded; all or nothing."""

    def abort(self) -> None:
        """The last plan was rolled back."""

    def registrations(self, ns: int | None = None) -> list[tuple[int, _BindingTuple]]:
        """``(namespace id, binding)`` per effective registered import."""

    def tracked(self, ns: int | None = None) -> list[TrackedRecord]:
        """The tracked modules `ns`'s registrations reach (all when ``None``)."""

    def namespaces(self) -> list[int]:
        """Namespaces with registrations, in registration order."""

    def forget_namespace(self, ns: int) -> None: ...
    def set_workspace(
        self, dirs: Sequence[str | PathLike[str]], resolver: _Resolver | None = None
    ) -> None:
        """Replace the workspace; atomic. Raises ``AnalysisError``."""

    def set_cache_dir(self, dir: str | PathLike[str] | None) -> None:
        """Where the persistent analysis cache lives (``None``: no cache)."""

    def read_counts(self) -> ReadCounts:
        """How module files were analysed at registration since the engine
        began (diagnostics)."""

    def workspace(self) -> list[str]: ...
    def reset(self) -> None:
        """Forget every registration and tracked module; release the watches."""

    def detection(self) -> Detection: ...
    def probe(self, dir: str | PathLike[str]) -> str | None:
        """Why `dir`'s files would be polled rather than watched with events
        (``None``: events), without watching it."""

    def set_mode(self, mode: Mode) -> None: ...
    def take_notices(self) -> list[Notice]:
        """What change detection decided since the last call."""

    def analyze_source(self, data: bytes) -> list[Statement]:
        """The imports that run when a module with this source is imported
        (for differential tests of the parser). Raises ``SyntaxError``."""

    def exclude(self, names: Sequence[str]) -> None:
        """Exclude modules by name: never reloaded, and they carry no reload."""

    def include(self, names: Sequence[str]) -> None:
        """Undo ``exclude``."""

    def in_workspace(self, file: str | PathLike[str]) -> bool:
        """Whether `file` lies in the workspace."""

    def excluded(self) -> list[str]:
        """The excluded module names, sorted."""

    def cell_uses(self, source: str) -> tuple[list[str], list[str]]:
        """What a notebook cell reads: the names it loads that it did not
        assign before, and the dotted attribute chains it loads from them;
        empty when it does not parse."""
    def scan_source(self, data: bytes) -> list[Statement] | None:
        """The imports the token scanner finds in a module's source (as
        :meth:`analyze_source` gives them), or ``None`` where it declines.
        It does not look for syntax errors: the engine uses it only for
        sources known to compile (for differential tests)."""

    def _panic_for_test(self) -> None:
        """Fail inside the engine (tests that a panic becomes RuntimeError)."""

def describe(name: str) -> ModuleMeta | None:
    """What the engine knows of a loaded module from ``sys.modules``
    (``None``: not loaded; no ``file``: no Python source)."""

def content_hash(data: bytes) -> int:
    """Content hash of bytes, as the engine computes it."""
