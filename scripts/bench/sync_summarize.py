#!/usr/bin/env python3
"""Summarize a sync.sh run: print the summary and write the results markdown.

Reads WORK/info.json (written by sync.sh: fixture meta, request counts, mise notes) and
WORK/hyperfine-<scenario>.json/.md for the scenarios that ran (noop, warm, cold, large, shim).
Python 3.11 stdlib only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
from pathlib import Path

from benchlib import hyperfine_sections, load

NOOP_TARGET_MS = 5.0
NOOP_GOAL_X = 5.0
WARM_TARGET_MS = 50.0
LARGE_GOAL_X = 1.2
SHIM_GOAL_MS = 1.0
MB = 1e6


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.2f}"


def yes(ok: bool) -> str:
    return "met" if ok else "**NOT met**"


def reqs(info: dict, key: str) -> str:
    r = info.get(key)
    if not r:
        return "-"
    st = " ".join(f"{k}:{v}" for k, v in sorted(r.get("status", {}).items())) or "none"
    return f"{st}, {r.get('bytes_sent', 0) / MB:.1f} MB"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--scenarios", default="noop warm cold large shim")
    ap.add_argument("--runs", default="?")
    ap.add_argument("--warmup", default="?")
    ap.add_argument("--cold-runs", default="?")
    ap.add_argument("--shim-runs", default="?")
    ap.add_argument("--shim-warmup", default="?")
    ap.add_argument("--velo-version", default="unknown")
    ap.add_argument("--git-rev", default="unknown")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)

    info = json.loads((a.work / "info.json").read_text())
    meta = info["meta"]
    totals = meta["total_bytes"]
    ntools = len(meta["projects"]["project"])
    rows: list[str] = []
    notes: list[str] = []

    def row(scenario: str, velo: str, peer: str, result: str, target: str, verdict: str) -> None:
        rows.append(f"| {scenario} | {velo} | {peer} | {result} | {target} | {verdict} |")

    noop = load(a.work, "noop")
    if noop:
        v = noop[0]["median"]
        mise = noop[1]["median"] if len(noop) > 1 else None
        row(f"no-op sync, {ntools} tools installed", f"{ms(v)} ms",
            f"mise install: {ms(mise)} ms" if mise else "mise: skipped",
            f"{v * 1000:.2f} ms" + (f"; mise / velo = {mise / v:.1f}x" if mise else ""),
            f"< {NOOP_TARGET_MS:g} ms; >= {NOOP_GOAL_X:g}x faster than mise",
            yes(v * 1000 < NOOP_TARGET_MS) + " / "
            + (yes(mise / v >= NOOP_GOAL_X) if mise else "not measured"))
        if not mise:
            notes.append(f"mise comparison skipped: {info.get('mise_skipped', 'unknown reason')}")

    warm = load(a.work, "warm")
    if warm:
        v = warm[0]["median"]
        row(f"warm materialize, {ntools} tools in the store", f"{ms(v)} ms", "-", f"{v * 1000:.2f} ms",
            f"< {WARM_TARGET_MS:g} ms", yes(v * 1000 < WARM_TARGET_MS))

    def cold_row(key: str, label: str, total: int, goal: str, ok) -> None:
        res = load(a.work, key)
        if not res:
            return
        v, b = res[0]["median"], res[1]["median"]
        s = res[2]["median"] if len(res) > 2 else None
        mbps = lambda t: total / t / MB  # noqa: E731
        row(label, f"{ms(v)} ms, {mbps(v):.0f} MB/s",
            f"sequential: {ms(b)} ms, {mbps(b):.0f} MB/s"
            + (f"; streamed: {ms(s)} ms, {mbps(s):.0f} MB/s" if s else ""),
            f"velo / baseline time = {v / b:.2f}"
            + (f" (streamed: {v / s:.2f})" if s else ""),
            goal, yes(ok(v / b)))

    cold_row("cold", f"cold sync, {ntools} x {meta['size_mb']:g} MiB ({totals['project'] / MB:.0f} MB)",
             totals["project"], "faster than the baseline (ratio < 1)", lambda r: r < 1.0)
    cold_row("large", f"cold sync, 1 x {meta['large_mb']:g} MiB ({totals['project-large'] / MB:.0f} MB)",
             totals["project-large"], f"within {LARGE_GOAL_X:g}x of the baseline (ratio <= {LARGE_GOAL_X:g})",
             lambda r: r <= LARGE_GOAL_X)

    shim = load(a.work, "shim")
    if shim:
        s, d = shim[0], shim[1]
        diff = s["mean"] - d["mean"]
        se = math.sqrt(s["stddev"] ** 2 / len(s["times"]) + d["stddev"] ** 2 / len(d["times"]))
        row("shim overhead (`tool-c --version`)", f"shim: {ms(s['mean'])} ms (mean)",
            f"direct: {ms(d['mean'])} ms (mean)", f"{diff * 1000:+.3f} ms ± {se * 1000:.3f} (std. error)",
            f"< {SHIM_GOAL_MS:g} ms added", yes(diff * 1000 < SHIM_GOAL_MS))
        notes.append(f"`.velo/bin/tool-c` is a {info.get('shim', '?')}; tool-c is `{meta.get('tool_c_kind')}` "
                     "(elf-static: a static C binary; sh: a shell script, when no C compiler was found).")

    table = "\n".join([
        "| scenario | velo | peer / baseline | result | target / goal | verdict |",
        "|---|---|---|---|---|---|",
        *rows,
    ])
    reqs_md = "\n".join([
        "| one run of | requests to the loopback server (status:count), body bytes sent |",
        "|---|---|",
        f"| first `velo lock` + `velo sync` | {reqs(info, 'requests_first_sync')} |",
        f"| no-op `velo sync` | {reqs(info, 'requests_noop')} |",
        f"| warm `velo sync --frozen` | {reqs(info, 'requests_warm')} |",
        f"| cold `velo sync --frozen` ({totals['project'] / MB:.1f} MB of artifacts) | {reqs(info, 'requests_cold')} |",
        f"| cold `velo sync --frozen`, large ({totals['project-large'] / MB:.1f} MB) | {reqs(info, 'requests_large')} |",
    ])
    if "mise_version" in info:
        notes.append(f"mise `{info['mise_version']}` (npm `@jdxcode/mise`), tools registered with "
                     f"`mise link http:toolNN@1.0.0 DIR`; network check: {info.get('mise_network_check', '-')}.")
    notes.append(f"VELO_CONCURRENT_DOWNLOADS: {info.get('concurrent_downloads', 'default')}.")

    print()
    print(table)
    print()
    for n in notes:
        print(n)

    host = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    md = [
        "# `velo sync` benchmark",
        "",
        f"Generated by `scripts/bench/sync.sh` on {datetime.date.today().isoformat()} ({host}); "
        f"velo `{a.velo_version}` at `{a.git_rev}`; hyperfine medians (shim: means).",
        f"Runs: no-op and warm `--warmup {a.warmup} --runs {a.runs}`; cold `--warmup 1 --runs {a.cold_runs}`; "
        f"shim `-N --warmup {a.shim_warmup} --runs {a.shim_runs}`.",
        f"Fixture: `sync_fixture.py --seed {meta['seed']}` ({ntools} tools of {meta['size_mb']:g} MiB of "
        f"incompressible data, one of {meta['large_mb']:g} MiB), served by `serve.py` on 127.0.0.1. "
        "MB = 10^6 bytes of archives. See `scripts/bench/README.md`.",
        "",
        "## Summary",
        "",
        table,
        "",
        *[f"- {n}" for n in notes],
        "",
        "## Requests",
        "",
        reqs_md,
        "",
    ]
    titles = {"noop": "No-op sync", "warm": "Warm materialize", "cold": "Cold sync",
              "large": "Cold sync, one large package", "shim": "Shim overhead"}
    md += hyperfine_sections(a.work, titles, a.scenarios.split())
    a.out.write_text("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
