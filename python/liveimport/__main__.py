"""``python -m liveimport``: print what a bug report needs.

In a notebook, ``%liveimport --report`` prints the same for the running
kernel (with its registrations and its last sync).
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m liveimport",
        description=(
            "Print LiveImport's diagnostic report: versions (LiveImport, its engine, "
            "Python, IPython), the platform, how changes are detected here and why "
            "(file-system events or polling, per directory reason), the inotify "
            "limits, and the state of this process (workspace, tracked modules, "
            "registrations, settings, last sync). Paste it into a bug report. In a "
            "notebook, %%liveimport --report prints it for the running kernel."
        ),
    )
    parser.add_argument(
        "--workspace",
        metavar="DIR",
        help="report change detection for this directory's modules (default: the current one)",
    )
    args = parser.parse_args(argv)

    import liveimport
    from liveimport._diagnostics import report

    if args.workspace:
        liveimport.workspace(args.workspace)
    print(report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
