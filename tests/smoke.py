"""Smoke test of an installed LiveImport: import it, register, edit, sync.

Run on every wheel the release workflow builds (``.github/workflows/wheels.yml``)
and on the build from the sdist (``tests/test_packaging.py``). It needs only
the standard library and an installed ``liveimport`` (no pytest, no IPython),
runs on Linux, macOS and Windows, and exits non-zero when something is wrong.
Usage: ``python tests/smoke.py`` from any directory.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"smoke test FAILED: {what}")


def round_trip(root: Path, mode: str) -> None:
    """One module and one that imports it; edit the first, sync, check the rebinding."""
    import liveimport

    base, user = f"smoke_base_{mode}", f"smoke_user_{mode}"
    (root / f"{base}.py").write_text("VALUE = 1\n")
    (root / f"{user}.py").write_text(f"from {base} import VALUE\n\nDOUBLE = VALUE * 2\n")

    liveimport.reset()
    check(liveimport.change_detection(mode) == mode, f"change_detection({mode!r})")
    liveimport.workspace(root)
    namespace: dict = {"__name__": "__main__"}
    statement = f"from {user} import DOUBLE"
    exec(statement, namespace)
    liveimport.register(namespace, statement)
    check(namespace["DOUBLE"] == 2, "the registered import ran")
    check(set(liveimport.tracked()) == {base, user}, f"tracked: {sorted(liveimport.tracked())}")

    events: list = []
    liveimport.sync(observer=events.append)
    check(events == [], f"nothing changed, yet: {events}")

    (root / f"{base}.py").write_text("VALUE = 21\n")
    liveimport.sync(observer=events.append)
    order = [(event.module, event.reason) for event in events]
    check(order == [(base, "modified"), (user, "dependent")], f"reloads: {order}")
    check(namespace["DOUBLE"] == 42, f"DOUBLE rebound: {namespace['DOUBLE']}")

    events.clear()
    liveimport.sync(observer=events.append)
    check(events == [], f"a second sync reloaded again: {events}")
    liveimport.reset()


def main() -> None:
    sys.dont_write_bytecode = True
    import liveimport
    from liveimport import _engine

    print(f"liveimport {liveimport.__version__} from {os.path.dirname(liveimport.__file__)}")
    print(f"engine {_engine.__file__}")
    print(f"Python {sys.version.split()[0]} on {sys.platform}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        sys.path.insert(0, str(root))
        try:
            for mode in ("events", "polling"):
                round_trip(root, mode)
                print(f"register/edit/sync ({mode}): ok")
        finally:
            sys.path.remove(str(root))
    print("smoke test passed")


if __name__ == "__main__":
    main()
