"""Draws the scaling charts of BENCHMARKS.md from the CSV that the memory bench writes.

    INFORMER_BENCH_SIZES=10000,30000,100000,300000 INFORMER_BENCH_CSV=docs/benchmarks/scaling.csv \
        cargo bench -p informer-kube --bench memory -- raw_strip,typed_strip,client_go/json_strip
    python3 -m venv ~/.cache/informer/plot-venv
    ~/.cache/informer/plot-venv/bin/pip install -r backends/kube/benches/scaling/requirements.txt
    ~/.cache/informer/plot-venv/bin/python backends/kube/benches/scaling/plot.py docs/benchmarks/scaling.csv docs/benchmarks

Four PNGs: initial-sync time and peak RSS against the pod count, and the same per pod (the
cost per object, which should stay flat). Each point is the median of the runs; the bars span
min to max.
"""

import csv
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LABELS = {
    "informer/raw_strip": "informer, raw, strip",
    "informer/raw": "informer, raw",
    "informer/typed_strip": "informer, typed, strip",
    "informer/typed": "informer, typed",
    "kube_runtime/typed_strip": "kube-runtime, typed, strip",
    "kube_runtime/typed": "kube-runtime, typed",
    "client_go/json_strip": "client-go, JSON, strip",
    "client_go/json": "client-go, JSON",
    "client_go/json_watchlist_strip": "client-go, JSON, WatchList, strip",
}


def read(path):
    """side -> sorted list of rows (dicts of floats), local server only."""
    sides = defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["server"] != "local":
                continue
            sides[row["side"]].append({k: float(v) for k, v in row.items() if k not in ("server", "side")})
    for rows in sides.values():
        rows.sort(key=lambda r: r["pods"])
    return sides


def chart(sides, out, name, title, ylabel, median, low, high, per_pod, scale):
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    for side, rows in sorted(sides.items(), key=lambda s: LABELS.get(s[0], s[0])):
        xs = [r["pods"] for r in rows]
        div = [(r["pods"] if per_pod else 1.0) / scale for r in rows]
        ys = [r[median] / d for r, d in zip(rows, div)]
        lo = [y - r[low] / d for r, d, y in zip(rows, div, ys)] if low else None
        hi = [r[high] / d - y for r, d, y in zip(rows, div, ys)] if high else None
        ax.errorbar(xs, ys, yerr=[lo, hi] if low else None, marker="o", capsize=3, label=LABELS.get(side, side))
    ax.set_xscale("log")
    if not per_pod:
        ax.set_yscale("log")
    ax.set_xlabel("pods")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / name)
    plt.close(fig)
    print(out / name)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py SCALING.csv OUT_DIR")
    sides = read(sys.argv[1])
    if not sides:
        sys.exit(f"{sys.argv[1]}: no rows for the local server")
    out = Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    chart(sides, out, "scaling-sync.png", "Initial sync time", "seconds", "secs_median", "secs_min", "secs_max", False, 1)
    chart(sides, out, "scaling-rss.png", "Peak RSS", "MiB", "rss_mib_median", "rss_mib_min", "rss_mib_max", False, 1)
    chart(sides, out, "scaling-sync-per-pod.png", "Initial sync time per pod", "µs per pod",
          "secs_median", "secs_min", "secs_max", True, 1e6)
    chart(sides, out, "scaling-rss-per-pod.png", "Peak RSS per pod", "KiB per pod",
          "rss_mib_median", "rss_mib_min", "rss_mib_max", True, 1024)


if __name__ == "__main__":
    main()
