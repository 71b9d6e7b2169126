"""Plot idle overhead per cell against N (log-log) from a ``results.json``.

Run with an interpreter that has matplotlib (``bench/run.py`` uses the anchor
venv, where it installs matplotlib): ``python bench/plot.py results.json out.png``.
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

FLOOR_US = 0.05  # values at or below zero are drawn here, hollow


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    data = json.load(open(src))
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for tool in data["tools"]:
        key, label = tool["key"], tool["label"]
        xs, ys, hollow = [], [], []
        for n in data["sizes"]:
            cell = data["results"].get(str(n), {}).get(key)
            if not cell or not cell.get("ok") or cell.get("idle_us") is None:
                continue
            v = cell["idle_us"]
            xs.append(n)
            ys.append(max(v, FLOOR_US))
            hollow.append(v <= FLOOR_US)
        if not xs:
            continue
        (line,) = ax.plot(xs, ys, marker="o", label=label, linestyle="--" if key == "control"
                          else "-")
        for x, y, h in zip(xs, ys, hollow, strict=True):
            if h:
                ax.plot([x], [y], marker="o", markerfacecolor="white", color=line.get_color())
    ax.axhline(5, color="grey", linewidth=0.8, linestyle=":")
    ax.text(data["sizes"][0], 5 * 1.15, "target: 5 µs", color="grey", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("tracked modules N")
    ax.set_ylabel("idle overhead per cell (µs, with tool − without)")
    ax.set_title(f"Idle overhead per IPython cell ({data['mode']} run, {data['date'][:10]})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.text(0.01, 0.01, f"hollow: ≤ 0 measured (drawn at {FLOOR_US} µs); control = A/B noise",
             fontsize=7, color="grey")
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main()
