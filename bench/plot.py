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

FLOOR_US = 0.05  # values at or below this are drawn here, hollow


def series(data: dict, key: str, field: str) -> tuple[list[int], list[float], list[float]]:
    xs, ys, es = [], [], []
    for n in data["sizes"]:
        cell = data["results"].get(str(n), {}).get(key)
        if not cell or not cell.get("ok") or cell.get(field) is None:
            continue
        xs.append(n)
        ys.append(cell[field])
        es.append(cell.get("idle_se_us") or 0.0)
    return xs, ys, es


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    data = json.load(open(src))
    fig, ax = plt.subplots(figsize=(8, 5.2))
    for tool in data["tools"]:
        key, label = tool["key"], tool["label"]
        if key == "control":
            xs, ys, es = series(data, key, "idle_us")
            if xs:
                noise = [max(2 * e, FLOOR_US) for e in es]
                ax.plot(xs, noise, color="grey", linestyle="--", marker="x",
                        label="A/B noise: 2 × std. error of the no-tool control")
            continue
        xs, ys, es = series(data, key, "idle_us")
        if not xs:
            continue
        shown = [max(y, FLOOR_US) for y in ys]
        lower = [max(0.0, s - max(y - e, FLOOR_US)) for s, y, e in zip(shown, ys, es, strict=True)]
        upper = [max(y + e, FLOOR_US) - s for s, y, e in zip(shown, ys, es, strict=True)]
        eb = ax.errorbar(xs, shown, yerr=[lower, upper], marker="o", capsize=3,
                         label=f"{label} (A/B median ± std. error)")
        color = eb[0].get_color()
        for x, y, s in zip(xs, ys, shown, strict=True):
            if y <= FLOOR_US:
                ax.plot([x], [s], marker="o", markerfacecolor="white", color=color)
        hx, hy, _ = series(data, key, "hook_us")
        if hx:
            ax.plot(hx, [max(v, FLOOR_US) for v in hy], color=color, linestyle=":",
                    marker=".", label=f"{label}: time inside its hooks")
    ax.axhline(5, color="black", linewidth=0.8, linestyle=":")
    ax.text(data["sizes"][0], 5 * 1.15, "target: 5 µs", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("tracked modules N")
    ax.set_ylabel("idle overhead per cell (µs)")
    ax.set_title(f"Idle overhead per IPython cell ({data['mode']} run, {data['date'][:10]}, "
                 f"load {data.get('load_before', ['?'])[0]})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.text(0.01, 0.01, f"hollow: ≤ 0 measured (drawn at {FLOOR_US} µs)", fontsize=7,
             color="grey")
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main()
