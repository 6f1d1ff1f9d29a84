#!/usr/bin/env python3
"""Generate a synthetic velo index and a project that locks against it.

Usage:
    gen_index.py --packages 2000 --versions 30 --direct 50 --seed 1 --out DIR
                 [--registry URL] [--project-dir PATH] [--manifest-only]

Writes:
    DIR/index/index.json              {"format": 1, "packages": [sorted names]}
    DIR/index/packages/<name>.json    one file per package, all versions
    DIR/project/velo.json             a manifest with --direct dependencies
    DIR/meta.json                     what was generated (for the bench runner)

Shape of the index (see scripts/bench/README.md):
  * packages are named pkg-0000 .. pkg-NNNN; each has --versions distinct semver
    versions on a random walk over 0.x and 1.x-6.x (mostly patch and minor bumps);
  * each version depends on 0-6 other packages (mean about 2.5), always on a package
    with a higher index number, so the dependency graph is a DAG; targets are skewed
    towards the high end of the index ("foundation" packages many others depend on)
    with some local links to neighbours;
  * dependencies drift across the versions of a package: newer versions add a
    dependency now and then, or raise a requirement's floor;
  * every requirement (in the manifest and in every version of every package) is
    satisfied by the newest version of the package it names, so the newest version
    of every reachable package is a solution: the index is solvable by construction
    (check_solvable.py verifies this).

Deterministic: the same arguments (and --seed) produce byte-identical files.
Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
from pathlib import Path

PLATFORMS = ["linux-x86_64", "linux-aarch64", "macos-x86_64", "macos-aarch64"]

# Fan-out per package (number of dependencies of its newest version), weights.
# Applications and mid-level packages (the lower 75% of the index): mean 2.9.
FANOUT_WEIGHTS = [(0, 8), (1, 12), (2, 20), (3, 24), (4, 17), (5, 11), (6, 8)]
# "Foundation" libraries (the top 25%, what most packages depend on): mean 1.0.
FOUNDATION_FANOUT_WEIGHTS = [(0, 40), (1, 30), (2, 20), (3, 10)]
FOUNDATION_TIER = 0.75
NEIGHBOUR_SHARE = 0.15

WORDS = [
    "fast", "tiny", "portable", "secure", "parallel", "incremental", "structured",
    "streaming", "declarative", "lossless", "cross-platform", "minimal", "modern",
]
NOUNS = [
    "search tool", "JSON processor", "compression library", "HTTP client", "shell",
    "build tool", "formatter", "linter", "TLS library", "regex engine", "pager",
    "diff viewer", "archive tool", "database client", "terminal multiplexer",
]


Version = tuple[int, int, int]


def vstr(v: Version) -> str:
    return f"{v[0]}.{v[1]}.{v[2]}"


def pkg_name(i: int, width: int) -> str:
    return f"pkg-{i:0{width}d}"


def gen_versions(rng: random.Random, count: int) -> list[Version]:
    """A random walk of `count` distinct, increasing versions."""
    major = rng.choice([0, 0, 1, 1, 2, 3])
    minor = 1 if major == 0 else 0
    patch = 0
    out = [(major, minor, patch)]
    while len(out) < count:
        r = rng.random()
        if r < 0.08 and major < 6:
            major, minor, patch = major + 1, 0, 0
        elif r < 0.38:
            minor, patch = minor + 1, 0
        else:
            patch += 1
        out.append((major, minor, patch))
    return out


def caret_floors(versions: list[Version]) -> list[Version]:
    """Versions v such that ^v (written with major.minor, or full) matches the newest.

    For a newest version M.m.p with M >= 1: every version with major M.
    For 0.m.p: every version 0.m.* (Cargo's caret on 0.x pins the minor).
    """
    newest = versions[-1]
    if newest[0] >= 1:
        return [v for v in versions if v[0] == newest[0]]
    return [v for v in versions if v[0] == 0 and v[1] == newest[1]]


def caret_req(floor: Version, full: bool) -> str:
    return f"^{vstr(floor)}" if full else f"^{floor[0]}.{floor[1]}"


def range_req(lower: Version, newest: Version, rng: random.Random) -> str:
    """`>=A.B, <C`: lower bound at or below `lower`, upper bound above the newest."""
    if newest[0] >= 1:
        upper = str(newest[0] + rng.choice([1, 1, 1, 2]))
    else:
        upper = rng.choice(["1", f"0.{newest[1] + 1}"])
    return f">={lower[0]}.{lower[1]}, <{upper}"


def choose_target(rng: random.Random, i: int, n: int) -> int:
    """A dependency target for package i: an index in (i, n)."""
    span = n - i - 1
    if rng.random() < NEIGHBOUR_SHARE:
        # A neighbour: within a few percent of the index above i.
        reach = max(1, min(span, n // 40))
        return i + 1 + int(rng.random() ** 2 * reach)
    # A "foundation" package: skewed strongly towards the top of the index.
    return n - 1 - int(rng.random() ** 3 * span)


def gen_package_deps(
    rng: random.Random, i: int, n: int, nversions: int, versions: dict[int, list[Version]]
) -> list[dict[int, str]]:
    """The dependencies of each version (oldest first) of package i."""
    span = n - i - 1
    table = FOUNDATION_FANOUT_WEIGHTS if i >= FOUNDATION_TIER * n else FANOUT_WEIGHTS
    fanout = rng.choices([f for f, _ in table], [w for _, w in table])[0]
    fanout = min(fanout, span)
    targets: list[int] = []
    tries = 0
    while len(targets) < fanout and tries < 100:
        tries += 1
        t = choose_target(rng, i, n)
        if t not in targets:
            targets.append(t)

    plans = []
    for k, t in enumerate(targets):
        tv = versions[t]
        newest = tv[-1]
        floors = caret_floors(tv)
        style = "caret" if rng.random() < 0.72 else "range"
        full = rng.random() < 0.25
        # The first versions of the package may not have had this dependency yet.
        introduced = 0 if k < max(1, fanout - 1) or rng.random() < 0.4 else rng.randrange(1, nversions)
        if style == "caret":
            pos = rng.randrange(0, max(1, len(floors) // 2 + 1))
            pool = floors
        else:
            pos = rng.randrange(0, max(1, len(tv) // 2 + 1))
            pool = tv
        plans.append({"t": t, "newest": newest, "style": style, "full": full,
                      "introduced": introduced, "pos": pos, "pool": pool})

    out: list[dict[int, str]] = []
    for vi in range(nversions):
        deps: dict[int, str] = {}
        for p in plans:
            if vi < p["introduced"]:
                continue
            # Newer versions of the package now and then raise the requirement's floor.
            if vi > p["introduced"] and rng.random() < 0.12:
                p["pos"] = min(len(p["pool"]) - 1, p["pos"] + rng.randint(1, 3))
            floor = p["pool"][p["pos"]]
            if p["style"] == "caret":
                deps[p["t"]] = caret_req(floor, p["full"])
            else:
                deps[p["t"]] = range_req(floor, p["newest"], rng)
        out.append(deps)
    return out


def manifest_req(rng: random.Random, tv: list[Version]) -> str:
    newest = tv[-1]
    r = rng.random()
    if r < 0.2:
        return "*"
    if r < 0.6:
        floors = caret_floors(tv)
        return caret_req(floors[rng.randrange(len(floors))], False)
    if r < 0.85:
        return range_req(tv[rng.randrange(len(tv))], newest, rng)
    # ~X.Y.Z matches >=X.Y.Z, <X.(Y+1).0: pick a patch of the newest minor.
    same_minor = [v for v in tv if v[:2] == newest[:2]]
    return f"~{vstr(same_minor[rng.randrange(len(same_minor))])}"


def fake_sha256(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def build_model(n: int, nversions: int, ndirect: int, seed: int):
    width = max(4, len(str(n - 1)))
    names = [pkg_name(i, width) for i in range(n)]
    versions = {i: gen_versions(random.Random(f"{seed}:versions:{i}"), nversions) for i in range(n)}
    deps = {
        i: gen_package_deps(random.Random(f"{seed}:deps:{i}"), i, n, nversions, versions)
        for i in range(n)
    }
    rng = random.Random(f"{seed}:manifest")
    ndirect = min(ndirect, n)
    # Direct dependencies: "applications", drawn from the whole index but more often
    # from its lower part (packages near the top are mostly libraries).
    direct: list[int] = []
    while len(direct) < ndirect:
        c = int(rng.random() ** 1.5 * n)
        if c not in direct:
            direct.append(c)
    direct.sort()
    manifest_deps = {names[c]: manifest_req(rng, versions[c]) for c in direct}
    return names, versions, deps, manifest_deps


def package_doc(i: int, name: str, vers: list[Version], deps: list[dict[int, str]],
                names: list[str], seed: int) -> dict:
    rng = random.Random(f"{seed}:doc:{i}")
    desc = f"{rng.choice(WORDS)} {rng.choice(NOUNS)} (synthetic benchmark package)"
    versions = {}
    for v, d in zip(vers, deps):
        vs = vstr(v)
        arts = {}
        for plat in PLATFORMS:
            arts[plat] = {
                "url": f"../artifacts/{name}-{vs}-{plat}.tar.gz",
                "sha256": fake_sha256(str(seed), name, vs, plat),
                "size": rng.randint(200_000, 40_000_000),
                "bin": {name: f"bin/{name}"},
            }
        versions[vs] = {
            "dependencies": {names[t]: req for t, req in sorted(d.items())},
            "artifacts": arts,
        }
    return {"name": name, "description": desc, "versions": versions}


def dump(obj, pretty: bool) -> str:
    if pretty:
        return json.dumps(obj, indent=2, sort_keys=False) + "\n"
    return json.dumps(obj, separators=(",", ":")) + "\n"


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packages", type=int, default=2000)
    ap.add_argument("--versions", type=int, default=30)
    ap.add_argument("--direct", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--registry", help="registry URL for velo.json "
                    "(default: file:// URL of OUT/index/)")
    ap.add_argument("--project-dir", type=Path,
                    help="where to write velo.json (default: OUT/project)")
    ap.add_argument("--manifest-only", action="store_true",
                    help="only (re)write the project's velo.json, not the index")
    ap.add_argument("--pretty", action="store_true", help="indent package files")
    a = ap.parse_args(argv)
    if a.packages < 1 or a.versions < 1 or a.direct < 0:
        ap.error("--packages and --versions must be >= 1, --direct >= 0")

    out: Path = a.out.resolve()
    index_dir = out / "index"
    project_dir = (a.project_dir or out / "project").resolve()
    registry = a.registry or index_dir.as_uri() + "/"

    names, versions, deps, manifest_deps = build_model(a.packages, a.versions, a.direct, a.seed)

    if not a.manifest_only:
        pkg_dir = index_dir / "packages"
        pkg_dir.mkdir(parents=True, exist_ok=True)
        keep = set()
        for i, name in enumerate(names):
            doc = package_doc(i, name, versions[i], deps[i], names, a.seed)
            write_atomic(pkg_dir / f"{name}.json", dump(doc, a.pretty))
            keep.add(f"{name}.json")
        for stale in pkg_dir.glob("*.json"):  # a previous, larger run in the same dir
            if stale.name not in keep:
                stale.unlink()
        write_atomic(index_dir / "index.json",
                         dump({"format": 1, "packages": sorted(names)}, a.pretty))
        nedges = sum(len(d) for per in deps.values() for d in per)
        meta = {
            "packages": a.packages, "versions": a.versions, "direct": len(manifest_deps),
            "seed": a.seed, "mean_fanout": round(nedges / (a.packages * a.versions), 3),
        }
        write_atomic(out / "meta.json", dump(meta, True))

    manifest = {
        "name": f"velo-bench-{a.packages}",
        "registry": registry,
        "dependencies": manifest_deps,
    }
    write_atomic(project_dir / "velo.json", dump(manifest, True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
