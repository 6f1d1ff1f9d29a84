#!/usr/bin/env python3
"""Check that a generated index is solvable by "the newest version of everything".

Usage:
    check_solvable.py DIR            (DIR as given to gen_index.py --out)
    check_solvable.py --index INDEX_DIR --manifest path/to/velo.json

Starting from the manifest's dependencies, picks the newest version of every
reachable package (following the dependencies of the picked versions) and checks
that every requirement met on the way is satisfied by the pick. Prints the number
of reachable packages and exits 1 if any requirement is not satisfied.

Implements Cargo's requirement syntax for release versions: `*`, `^`, `~`, `=`,
`>`, `>=`, `<`, `<=`, bare versions (= caret), partial versions (`1`, `1.2`),
wildcards (`1.*`, `1.2.*`), comma-separated comparators. Python 3.11 stdlib only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

Version = tuple[int, int, int]
INF = 1 << 62


def parse_version(s: str) -> Version:
    s = s.strip().split("+", 1)[0]
    if "-" in s:
        raise ValueError(f"pre-release versions are not supported here: {s!r}")
    parts = s.split(".")
    if len(parts) != 3:
        raise ValueError(f"not a semver version: {s!r}")
    return int(parts[0]), int(parts[1]), int(parts[2])


def _partial(s: str) -> list[int]:
    parts = s.strip().split(".")
    while parts and parts[-1] in ("*", "x", "X"):
        parts.pop()
    if not 0 < len(parts) <= 3 and parts:
        raise ValueError(f"bad version in requirement: {s!r}")
    return [int(p) for p in parts]


def comparator_bounds(c: str) -> tuple[Version, Version]:
    """[lo, hi) of one comparator."""
    c = c.strip()
    if c in ("*", "x", "X", ""):
        return (0, 0, 0), (INF, 0, 0)
    for op in (">=", "<=", ">", "<", "=", "^", "~"):
        if c.startswith(op):
            rest = c[len(op):].strip()
            break
    else:
        op, rest = "^", c
    wildcard = rest.endswith("*") or rest.endswith("x") or rest.endswith("X")
    p = _partial(rest)
    if wildcard and op == "^":
        op = "="
    if not p:
        return (0, 0, 0), (INF, 0, 0)
    major = p[0]
    minor = p[1] if len(p) > 1 else 0
    patch = p[2] if len(p) > 2 else 0
    base = (major, minor, patch)

    def after_partial() -> Version:
        # The first version past every version that the partial version names.
        if len(p) == 1:
            return (major + 1, 0, 0)
        if len(p) == 2:
            return (major, minor + 1, 0)
        return (major, minor, patch + 1)

    if op == "=":
        return base, after_partial()
    if op == ">=":
        return base, (INF, 0, 0)
    if op == ">":
        return after_partial(), (INF, 0, 0)
    if op == "<":
        return (0, 0, 0), base
    if op == "<=":
        return (0, 0, 0), after_partial()
    if op == "~":
        if len(p) == 1:
            return base, (major + 1, 0, 0)
        return base, (major, minor + 1, 0)
    # caret
    if major > 0 or len(p) == 1:
        return base, (major + 1, 0, 0)
    if minor > 0 or len(p) == 2:
        return base, (0, minor + 1, 0)
    return base, (0, 0, patch + 1)


def matches(req: str, v: Version) -> bool:
    for c in req.split(","):
        lo, hi = comparator_bounds(c)
        if not lo <= v < hi:
            return False
    return True


def self_test() -> None:
    cases = [
        ("*", "0.0.1", True), ("^1.2", "1.9.0", True), ("^1.2", "2.0.0", False),
        ("^1.2", "1.1.9", False), ("^0.3", "0.3.7", True), ("^0.3", "0.4.0", False),
        ("^0.0.3", "0.0.3", True), ("^0.0.3", "0.0.4", False), ("^1.2.3", "1.2.2", False),
        ("~1.2.3", "1.2.9", True), ("~1.2.3", "1.3.0", False), ("~1", "1.9.9", True),
        (">=1, <3", "2.9.9", True), (">=1, <3", "3.0.0", False), (">=1.2, <2", "1.1.0", False),
        ("<=1.2", "1.2.9", True), ("<=1.2", "1.3.0", False), (">1.2", "1.2.9", False),
        (">1.2", "1.3.0", True), ("=1.2.3", "1.2.3", True), ("=1.2", "1.2.4", True),
        ("1.2", "1.5.0", True), ("1.*", "1.7.0", True), ("1.*", "2.0.0", False),
        (">=0.2, <0.5", "0.4.9", True), (">=0.2, <1", "0.1.0", False),
    ]
    for req, v, want in cases:
        got = matches(req, parse_version(v))
        assert got == want, f"{req!r} vs {v}: got {got}, want {want}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", nargs="?", type=Path, help="gen_index.py --out DIR")
    ap.add_argument("--index", type=Path, help="index root (holds index.json)")
    ap.add_argument("--manifest", type=Path, help="velo.json")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    a = ap.parse_args(argv)
    self_test()
    index = a.index or (a.dir / "index" if a.dir else None)
    manifest = a.manifest or (a.dir / "project" / "velo.json" if a.dir else None)
    if index is None or manifest is None:
        ap.error("give DIR, or --index and --manifest")

    listed = set(json.loads((index / "index.json").read_text())["packages"])
    docs: dict[str, dict] = {}

    def doc(name: str) -> dict:
        if name not in docs:
            if name not in listed:
                raise SystemExit(f"error: {name} is not listed in {index / 'index.json'}")
            docs[name] = json.loads((index / "packages" / f"{name}.json").read_text())
        return docs[name]

    def newest(name: str) -> str:
        return max(doc(name)["versions"], key=parse_version)

    root = json.loads(manifest.read_text())["dependencies"]
    problems: list[str] = []
    picked: dict[str, str] = {}
    edges = 0
    stack = [("(manifest)", n, r) for n, r in root.items()]
    while stack:
        parent, name, req = stack.pop()
        edges += 1
        v = picked.get(name)
        if v is None:
            v = picked[name] = newest(name)
            for dep, dreq in doc(name)["versions"][v]["dependencies"].items():
                stack.append((f"{name} {v}", dep, dreq))
        if not matches(req, parse_version(v)):
            problems.append(f"{parent} requires {name} {req!r}, newest is {v}")

    result = {
        "packages_in_index": len(listed),
        "direct": len(root),
        "reachable": len(picked),
        "requirements_checked": edges,
        "unsatisfied": len(problems),
        "solvable": not problems,
    }
    if a.json:
        print(json.dumps(result))
    else:
        print(f"index: {len(listed)} packages; manifest: {len(root)} direct dependencies")
        print(f"reachable from the manifest (newest versions): {len(picked)} packages, "
              f"{edges} requirements checked")
        for p in problems[:20]:
            print(f"  UNSATISFIED: {p}")
        print("solvable: yes (newest of everything)" if not problems
              else f"solvable: NO ({len(problems)} unsatisfied requirements)")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
