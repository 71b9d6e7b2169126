"""LiveImport: reload edited Python modules in Jupyter and IPython, in dependency order.

Register the import statements a notebook relies on (with the ``%%liveimport``
cell magic, or :func:`register` from plain Python); before each later cell,
LiveImport reloads the modules whose source changed, then the modules that
depend on them, and rebinds exactly the names those statements bound.

See the user guide in ``docs/userguide.md``.
"""

import os as _os
import sys as _sys

from ._version import __version__

__all__ = (
    "register",
    "sync",
    "auto_sync",
    "auto_register",
    "hidden_cell_magic",
    "workspace",
    "tracked",
    "pending",
    "exclude",
    "include",
    "last_sync",
    "patching",
    "registrations",
    "reset",
    "change_detection",
    "ReloadEvent",
    "ModuleError",
    "StaleNameWarning",
    "StaleObject",
    "SyncReport",
    "RerunHint",
    "Binding",
    "TrackedModule",
    "Reason",
    "DetectionMode",
    "load_ipython_extension",
    "unload_ipython_extension",
    "__version__",
)

#: The current directory when the package was first imported: the default
#: workspace (read by ``_api`` when the engine starts).
_IMPORT_DIRECTORY = _os.getcwd()

#: Where each public name lives. The submodules are imported on first use
#: (PEP 562), so ``import liveimport`` outside IPython loads neither the
#: engine nor the standard-library modules the API needs.
_HOME = {
    **dict.fromkeys(
        ("change_detection", "exclude", "include", "last_sync", "patching", "pending",
         "poll_lazy_imports", "register", "registrations", "reset", "sync", "tracked",
         "workspace"),
        "_api",
    ),
    **dict.fromkeys(
        ("auto_register", "auto_sync", "hidden_cell_magic", "load_ipython_extension",
         "unload_ipython_extension"),
        "_ipython",
    ),
    **dict.fromkeys(
        ("Binding", "DetectionMode", "ModuleError", "Reason", "ReloadEvent", "RerunHint",
         "StaleNameWarning", "StaleObject", "SyncReport", "TrackedModule"),
        "_types",
    ),
}  # fmt: skip
_SUBMODULES = (
    "_api",
    "_diagnostics",
    "_engine",
    "_hints",
    "_ipython",
    "_patch",
    "_reload",
    "_status",
    "_tracebacks",
    "_types",
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._api import (
        change_detection,
        exclude,
        include,
        last_sync,
        patching,
        pending,
        register,
        registrations,
        reset,
        sync,
        tracked,
        workspace,
    )
    from ._api import (
        poll_lazy_imports as poll_lazy_imports,
    )
    from ._ipython import (
        auto_register,
        auto_sync,
        hidden_cell_magic,
        load_ipython_extension,
        unload_ipython_extension,
    )
    from ._types import (
        Binding,
        DetectionMode,
        ModuleError,
        Reason,
        ReloadEvent,
        RerunHint,
        StaleNameWarning,
        StaleObject,
        SyncReport,
        TrackedModule,
    )


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None and name not in _SUBMODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = __import__(f"{__name__}.{home or name}", fromlist=["_"])
    value = module if home is None else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _in_ipython() -> bool:
    """Whether this process runs an IPython shell (never imports IPython)."""
    ipython = _sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    return get_ipython is not None and get_ipython() is not None


if _in_ipython():
    from ._ipython import _install_if_in_ipython

    _install_if_in_ipython()
