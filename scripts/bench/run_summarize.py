#!/usr/bin/env python3
"""Summarize a run.sh run: print the summary and write the results markdown.

    run_summarize.py --work WORK --out results-run.md [--scenarios "hit hash"] ...
    run_summarize.py --dry-run-report FILE [--expect N]

The first form reads WORK/info.json (written by run.sh: fixture meta, turbo and velo notes)
and WORK/hyperfine-<key>.json/.md for hit, hash and hash-touched. The second prints, as one
JSON string, what a `velo run ... --dry-run=json` output looks like (valid JSON? how many task
entries? how many look cached?), without assuming velo's exact format. Python 3.11 stdlib only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import sys
from pathlib import Path

from benchlib import hyperfine_sections, load

HIT_GOAL_X = 3.0
MB = 1e6

STATUS_KEY = re.compile(r"cache|status|hit", re.I)
HIT_VALUE = re.compile(r"^(hit|cached|cache[ _-]?hit|local|replayed|fresh|up[ _-]?to[ _-]?date)$", re.I)
MISS_VALUE = re.compile(r"^(miss|cache[ _-]?miss|none|stale|dirty|run|pending)$", re.I)


def task_lists(node, found: list[list[dict]]) -> None:
    """Every list of dicts (and dict of dicts) in the document: candidates for the task list."""
    if isinstance(node, list):
        if node and all(isinstance(x, dict) for x in node):
            found.append(node)
        for x in node:
            task_lists(x, found)
    elif isinstance(node, dict):
        vals = list(node.values())
        if len(vals) > 1 and all(isinstance(x, dict) for x in vals):
            found.append(vals)
        for x in vals:
            task_lists(x, found)


def cache_verdict(task: dict) -> str | None:
    """"hit", "miss" or None, from fields whose name mentions cache / status / hit."""
    verdict = None
    stack = [task]
    while stack:
        d = stack.pop()
        for k, v in d.items():
            if isinstance(v, dict):
                stack.append(v)
                continue
            if not STATUS_KEY.search(str(k)):
                continue
            if isinstance(v, bool):
                if re.search(r"hit|cached", k, re.I):
                    return "hit" if v else "miss"
            elif isinstance(v, str):
                if HIT_VALUE.match(v.strip()):
                    return "hit"
                if MISS_VALUE.match(v.strip()):
                    verdict = "miss"
    return verdict


def dry_run_report(path: Path, expect: int | None) -> str:
    text = path.read_text(errors="replace")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        # Maybe one JSON object per line.
        try:
            doc = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError:
            return f"not JSON ({e.msg} at line {e.lineno}); starts with {text[:120]!r}"
    found: list[list[dict]] = []
    task_lists(doc, found)
    if not found:
        return f"valid JSON ({len(text)} bytes), no list of task entries found"
    tasks = max(found, key=len)
    verdicts = [cache_verdict(t) for t in tasks]
    hits, misses = verdicts.count("hit"), verdicts.count("miss")
    parts = [f"valid JSON, {len(tasks)} task entries"]
    if expect is not None and len(tasks) != expect:
        parts[0] += f" (expected {expect})"
    if hits or misses:
        parts.append(f"{hits} look cached, {misses} look like misses")
    else:
        parts.append("cache status not recognized")
    return "; ".join(parts)


def by_name(results: list[dict] | None, prefix: str) -> dict | None:
    for r in results or []:
        if r["command"] == prefix:
            return r
    return None


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def yes(ok: bool) -> str:
    return "met" if ok else "**NOT met**"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dry-run-report", type=Path)
    ap.add_argument("--expect", type=int)
    ap.add_argument("--work", type=Path)
    ap.add_argument("--scenarios", default="hit hash")
    ap.add_argument("--runs", default="?")
    ap.add_argument("--warmup", default="?")
    ap.add_argument("--git-rev", default="unknown")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)

    if a.dry_run_report:
        print(json.dumps(dry_run_report(a.dry_run_report, a.expect)))
        return 0
    if not a.work or not a.out:
        ap.error("--work and --out are needed (or --dry-run-report)")

    info = json.loads((a.work / "info.json").read_text())
    rows: list[str] = []
    notes: list[str] = []
    tv = info.get("turbo_version")

    hit = load(a.work, "hit")
    mono = info.get("mono", {})
    if hit:
        v = by_name(hit, "velo run build")
        t = by_name(hit, "turbo run build")
        shim = by_name(hit, "turbo run build (npm .bin/turbo, node wrapper)")
        label = (f"full cache hit, {mono.get('members')} members x {mono.get('files_per_build')} "
                 "output files")
        if v and t:
            r = t["median"] / v["median"]
            rows.append(f"| {label} | {ms(v['median'])} | {ms(t['median'])} | turbo / velo = {r:.2f}x | "
                        f">= {HIT_GOAL_X:g}x | {yes(r >= HIT_GOAL_X)} |")
        else:
            rows.append(f"| {label} | {ms(v and v['median'])} | {ms(t and t['median'])} | - | "
                        f">= {HIT_GOAL_X:g}x | not measured ({'velo' if not v else 'turbo'} skipped) |")
        if shim:
            extra = f"turbo / velo = {shim['median'] / v['median']:.2f}x" if v else "-"
            rows.append(f"| same, turbo through npm's `.bin/turbo` (node wrapper) | {ms(v and v['median'])} | "
                        f"{ms(shim['median'])} | {extra} | (reference) | - |")
        for r in hit:
            if "daemon" in r["command"]:
                rows.append(f"| same, `{r['command']}` | {ms(v and v['median'])} | {ms(r['median'])} | "
                            + (f"turbo / velo = {r['median'] / v['median']:.2f}x" if v else "-")
                            + " | (reference) | - |")

    hmeta = info.get("hash", {})
    nfiles, nbytes = hmeta.get("files"), hmeta.get("total_bytes")
    hash_rows: list[str] = []
    for key, what in (("hash", "as they are"), ("hash-touched", "mtimes bumped")):
        for r in load(a.work, key) or []:
            med = r["median"]
            cmd = r["command"].replace("|", "\\|")
            rate = (f"{nfiles / med:,.0f} | {nbytes / med / MB:,.0f}" if nfiles and nbytes else "- | -")
            hash_rows.append(f"| {what} | `{cmd}` | {ms(med)} | {rate} |")

    table = "\n".join([
        "| scenario | velo median | turbo median | result | goal | verdict |",
        "|---|---|---|---|---|---|",
        *rows,
    ]) if rows else ""
    if hash_rows:
        htable = "\n".join([
            f"Hashing {nfiles:,} input files ({nbytes / MB:.1f} MB):" if nfiles and nbytes else "Hashing:",
            "",
            "| inputs | command | median | files/s | MB/s |",
            "|---|---|---|---|---|",
            *hash_rows,
        ])
        table = f"{table}\n\n{htable}" if table else htable

    if tv:
        notes.append(f"turbo {tv} (npm `turbo@2`), native binary `{info.get('turbo_binary')}` timed directly; "
                     "the node wrapper (`node_modules/.bin/turbo`, what a global or npx turbo runs) "
                     "is the reference row. Daemon: " + info.get("turbo_daemon", "?") + ".")
        notes.append("turbo ran with TURBO_TELEMETRY_DISABLED=1, DO_NOT_TRACK=1, TURBO_NO_UPDATE_NOTIFIER=1, "
                     "HOME/XDG dirs in the temp dir, its default local cache (`.turbo/cache` in the repo) "
                     "and default UI and `--output-logs` (stdout is not a TTY under hyperfine: stream UI, "
                     "full logs replayed).")
    elif "turbo_skipped" in info:
        notes.append(f"turbo skipped: {info['turbo_skipped']}")
    if "turbo_hit_check" in info:
        notes.append(f"turbo warm check: {info['turbo_hit_check']}; first (empty-cache) build "
                     f"{info.get('turbo_full_build_s', '?')} s.")
    if "velo_hit_check" in info:
        notes.append(f"velo warm check: {info['velo_hit_check']}; first (empty-cache) build "
                     f"{info.get('velo_full_build_s', '?')} s.")
    if "velo_dry_run" in info:
        notes.append(f"`velo run build --dry-run=json` after warming: {info['velo_dry_run']}.")
    if "hit_runlog_check" in info:
        notes.append(f"Run log (`.bench-runs.log`, one line per executed build): {info['hit_runlog_check']}.")
    if "velo_hash_dry_run" in info:
        notes.append(f"`velo run hash --dry-run=json`: {info['velo_hash_dry_run']}.")
    if "turbo_hash_inputs" in info:
        notes.append(f"`turbo run hash --dry-run=json` lists {info['turbo_hash_inputs']} inputs (src/** plus "
                     "package.json and turbo.json). In a git repo turbo takes the hash of a clean tracked file "
                     "from the git index instead of reading it; with mtimes bumped git must re-read them.")
    if hit:
        notes.append(f"Launch: {info.get('hit_launch', '?')}; velo and turbo each in a copy of the "
                     "same generated tree, so neither finds its outputs rewritten by the other.")
    if "fs" in info:
        fs = info["fs"]
        notes.append(f"Temp dir filesystem: {fs}." + (
            " On ext4 without a journal the inode allocator skips inodes deleted in the last few "
            "seconds, so a run that deletes and re-creates thousands of output files pays for it in "
            "kernel time (perf: `recently_deleted`, `find_inode_bit`); a tool that leaves outputs "
            "already in place alone does not." if "no journal" in fs else ""))
    if mono:
        notes.append(f"Monorepo (`gen_monorepo.py --seed {mono.get('seed')}`): {mono.get('members')} members, "
                     f"{mono.get('edges')} dependency edges (package.json), {mono.get('roots')} without deps, "
                     f"longest chain {mono.get('critical_path')}; {mono.get('src_files_per_member')} input files "
                     f"per member; git repo: {mono.get('git')}; packageManager `{mono.get('package_manager')}`.")
    if hmeta:
        notes.append(f"Hash tree: {nfiles:,} files in {hmeta.get('dirs')} dirs, {nbytes:,} bytes "
                     f"(median {hmeta.get('size_p50')} B, p90 {hmeta.get('size_p90')} B, max "
                     f"{hmeta.get('size_max')} B); MB = 10^6 bytes; rates = files or bytes / median.")

    print()
    print(table)
    print()
    for n in notes:
        print(n)

    host = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    md = [
        "# `velo run` benchmark",
        "",
        f"Generated by `scripts/bench/run.sh` on {datetime.date.today().isoformat()} ({host}); "
        f"velo `{info.get('velo_version', 'not measured')}` at `{a.git_rev}`; turbo `{tv or 'not measured'}`; "
        f"hyperfine medians, `--warmup {a.warmup} --runs {a.runs}`. See `scripts/bench/README.md`.",
        "",
        "## Summary",
        "",
        table,
        "",
        *[f"- {n}" for n in notes],
        "",
    ]
    titles = {"hit": "Full cache hit (each tool in its copy of the repo root)", "hash": "Hashing, inputs as they are",
              "hash-touched": "Hashing, every input's mtime bumped before each run"}
    md += hyperfine_sections(a.work, titles, ("hit", "hash", "hash-touched"))
    a.out.write_text("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
