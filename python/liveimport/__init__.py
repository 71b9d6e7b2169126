"""LiveImport: reload edited Python modules in Jupyter and IPython, in dependency order.

Register the import statements a notebook relies on (with the ``%%liveimport``
cell magic, or :func:`register` from plain Python); before each later cell,
LiveImport reloads the modules whose source changed, then the modules that
depend on them, and rebinds exactly the names those statements bound.

See the user guide in ``docs/userguide.md``.
"""

from __future__ import annotations

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

from ._ipython import _install_if_in_ipython  # noqa: E402

_install_if_in_ipython()
