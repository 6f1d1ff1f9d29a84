#!/usr/bin/env python3
"""Generate the repos that run.sh benchmarks `velo run` on (and `turbo run`, on the same files).

Usage:
    gen_monorepo.py --out DIR [--members 50] [--files 100] [--src-files 5] [--max-deps 3]
                    [--seed 1] [--package-manager npm@X.Y.Z] [--no-git]
    gen_monorepo.py --hash-tree --out DIR [--hash-files 10000] [--per-dir 100]
                    [--mean-size 4096] [--seed 1] [--package-manager npm@X.Y.Z] [--no-git]

Monorepo (the default) -- a velo workspace and an npm + turborepo workspace in one tree:
    DIR/velo.json           {"name": "bench", "workspace": {"members": ["packages/*"]}}
    DIR/package.json        private, "workspaces": ["packages/*"], "packageManager"
    DIR/package-lock.json   lockfileVersion 3: the root and one link per member (what
                            `npm install --package-lock-only` writes for this tree)
    DIR/turbo.json          "build": dependsOn ^build, inputs src/**, outputs dist/**
    DIR/.gitignore          dist, .turbo, node_modules, .velo, .bench-runs.log
    DIR/packages/pkg-NN/    NN = 01 .. --members, each with
        package.json        name pkg-NN, version 1.0.0, scripts.build = BUILD, and
                            "dependencies" on 0..--max-deps lower-numbered members ("*")
        velo.json           {"name": "pkg-NN", "tasks": {"build": {"command": BUILD,
                            "inputs": ["src/**"], "outputs": ["dist/**"],
                            "depends_on": ["^build"]}}}
        src/                --src-files small JS files (the task's inputs)
    DIR/meta.json           what was generated (not read by either tool)

BUILD is the same POSIX sh snippet for both tools: it writes --files files into dist/
(`dist/fI.txt`, one line each), appends the member's name to DIR/.bench-runs.log (one line
per executed build: a cache hit adds none, which is how run.sh checks that a run was a full
hit, whatever either tool prints), and prints one line, `pkg-NN: wrote N files`, so that a
cache hit has a log to replay.

Hash tree (--hash-tree) -- one project, no workspace:
    DIR/velo.json           {"name": "hash", "tasks": {"hash": {"command": "true",
                            "inputs": ["src/**"], "outputs": []}}}
    DIR/package.json, DIR/package-lock.json, DIR/turbo.json    the turborepo twin (a
                            single-package repo, scripts.hash = "true")
    DIR/src/aXX/bYY/fZZZ.txt  --hash-files files, --per-dir per leaf dir, sizes drawn from an
                            exponential distribution with mean --mean-size (capped at 16x),
                            printable text, each file distinct
    DIR/meta.json           files, total bytes, size quantiles

Both: with git on PATH and without --no-git, DIR becomes a git repo with everything committed
(turborepo reads file hashes from git when it can; the commit has a fixed author and date).
Deterministic: the same arguments give byte-identical files and the same git commit.
Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

TURBO_SCHEMA = "https://turborepo.com/schema.json"
GITIGNORE = "dist\n.turbo\nnode_modules\n.velo\n.bench-runs.log\n"
RUNLOG = ".bench-runs.log"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def dump(path: Path, obj) -> None:
    write(path, json.dumps(obj, indent=2) + "\n")


def build_command(name: str, files: int) -> str:
    # POSIX sh, run in the member dir by both tools (turbo through `npm run build`).
    return (
        f"mkdir -p dist && i=0; while [ $i -lt {files} ]; do "
        f'echo "{name} file $i" > dist/f$i.txt; i=$((i+1)); done; '
        f"echo {name} >> ../../{RUNLOG}; echo '{name}: wrote {files} files'"
    )


def lockfile(root_name: str, members: dict[str, dict]) -> dict:
    """package-lock.json v3 as `npm install --package-lock-only` writes it for this tree.

    Workspace members only, no registry packages. `members` maps the member's path
    ("packages/pkg-01") to its package.json. npm leaves out "name" where it equals the
    directory's name, as it does here.
    """
    root: dict = {"name": root_name, "version": "0.0.0"}
    if members:
        root["workspaces"] = ["packages/*"]
    pkgs: dict[str, dict] = {"": root}
    for path, pj in sorted(members.items(), key=lambda kv: kv[1]["name"]):
        pkgs[f"node_modules/{pj['name']}"] = {"resolved": path, "link": True}
    for path, pj in sorted(members.items()):
        entry = {"version": pj["version"]}
        if pj["name"] != path.rsplit("/", 1)[-1]:
            entry = {"name": pj["name"], **entry}
        if pj.get("dependencies"):
            entry["dependencies"] = pj["dependencies"]
        pkgs[path] = entry
    return {"name": root_name, "version": "0.0.0", "lockfileVersion": 3, "requires": True,
            "packages": pkgs}


def git_commit(out: Path) -> None:
    env = dict(os.environ, GIT_AUTHOR_DATE="2000-01-01T00:00:00Z",
               GIT_COMMITTER_DATE="2000-01-01T00:00:00Z", GIT_CONFIG_NOSYSTEM="1",
               GIT_CONFIG_GLOBAL=os.devnull)
    cfg = ["-c", "user.name=velo bench", "-c", "user.email=bench@127.0.0.1",
           "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", "-c", "core.autocrlf=false"]

    def git(*args: str) -> None:
        subprocess.run(["git", *cfg, *args], cwd=out, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    if (out / ".git").exists():
        shutil.rmtree(out / ".git")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "generated by scripts/bench/gen_monorepo.py")


def gen_monorepo(a: argparse.Namespace) -> dict:
    out: Path = a.out
    rng = random.Random(f"monorepo:{a.seed}")
    width = max(2, len(str(a.members)))
    names = [f"pkg-{i:0{width}d}" for i in range(1, a.members + 1)]

    dump(out / "velo.json", {"name": "bench", "workspace": {"members": ["packages/*"]}})
    dump(out / "package.json", {"name": "bench", "version": "0.0.0", "private": True,
                                "workspaces": ["packages/*"], "packageManager": a.package_manager})
    dump(out / "turbo.json", {"$schema": TURBO_SCHEMA, "tasks": {"build": {
        "dependsOn": ["^build"], "inputs": ["src/**"], "outputs": ["dist/**"]}}})
    write(out / ".gitignore", GITIGNORE)

    members: dict[str, dict] = {}
    edges = 0
    for i, name in enumerate(names):
        deps = sorted(rng.sample(names[:i], rng.randint(0, min(a.max_deps, i))))
        edges += len(deps)
        d = out / "packages" / name
        cmd = build_command(name, a.files)
        pj = {"name": name, "version": "1.0.0", "private": True, "scripts": {"build": cmd}}
        if deps:
            pj["dependencies"] = {dep: "*" for dep in deps}
        dump(d / "package.json", pj)
        members[f"packages/{name}"] = pj
        dump(d / "velo.json", {"name": name, "tasks": {"build": {
            "command": cmd, "inputs": ["src/**"], "outputs": ["dist/**"], "depends_on": ["^build"]}}})
        imports = "".join(f'import "{dep}";\n' for dep in deps)
        write(d / "src" / "index.js",
              f"// {name}\n{imports}export const name = {json.dumps(name)};\n")
        for k in range(1, a.src_files):
            body = "".join(f"export const v{j} = {rng.randrange(10**9)};\n" for j in range(rng.randint(5, 40)))
            write(d / "src" / "lib" / f"mod{k}.js", f"// {name} mod{k}\n{body}")

    dump(out / "package-lock.json", lockfile("bench", members))
    depth = {}
    for name in names:
        deps = members[f"packages/{name}"].get("dependencies", {})
        depth[name] = 1 + max((depth[x] for x in deps), default=0)
    return {"kind": "monorepo", "seed": a.seed, "members": a.members, "files_per_build": a.files,
            "src_files_per_member": a.src_files, "edges": edges,
            "critical_path": max(depth.values(), default=0),
            "roots": sum(1 for n in names if not members[f"packages/{n}"].get("dependencies")),
            "package_manager": a.package_manager, "runlog": RUNLOG,
            "build_command_example": build_command(names[0], a.files) if names else None}


def gen_hash_tree(a: argparse.Namespace) -> dict:
    out: Path = a.out
    rng = random.Random(f"hash:{a.seed}")
    dump(out / "velo.json", {"name": "hash", "tasks": {"hash": {
        "command": "true", "inputs": ["src/**"], "outputs": []}}})
    dump(out / "package.json", {"name": "hash", "version": "0.0.0", "private": True,
                                "scripts": {"hash": "true"}, "packageManager": a.package_manager})
    dump(out / "package-lock.json", lockfile("hash", {}))
    dump(out / "turbo.json", {"$schema": TURBO_SCHEMA, "tasks": {"hash": {
        "inputs": ["src/**"], "outputs": []}}})
    write(out / ".gitignore", GITIGNORE)

    # A pool of printable text; each file is a header naming it plus a slice of the pool.
    pool_rng = random.Random(f"pool:{a.seed}")
    words = [hashlib.sha256(f"{a.seed}:{i}".encode()).hexdigest()[: 2 + i % 9] for i in range(4096)]
    pool_parts, n = [], 0
    while n < 1 << 20:
        line = " ".join(pool_rng.choice(words) for _ in range(pool_rng.randint(3, 14))) + "\n"
        pool_parts.append(line)
        n += len(line)
    pool = "".join(pool_parts)
    cap = a.mean_size * 16
    dirs = math.ceil(a.hash_files / a.per_dir)
    fan = max(1, math.ceil(math.sqrt(dirs)))
    sizes = []
    for f in range(a.hash_files):
        dnum = f // a.per_dir
        rel = f"src/a{dnum // fan:02d}/b{dnum % fan:02d}/f{f % a.per_dir:03d}.txt"
        header = f"// {rel}\n"
        size = max(len(header), min(cap, int(rng.expovariate(1 / a.mean_size))))
        start = rng.randrange(len(pool) - cap)
        text = header + pool[start:start + size - len(header)]
        write(out / rel, text)
        sizes.append(len(text.encode()))
    sizes.sort()
    q = lambda p: sizes[min(len(sizes) - 1, int(p * len(sizes)))] if sizes else 0  # noqa: E731
    return {"kind": "hash-tree", "seed": a.seed, "files": a.hash_files, "dirs": dirs,
            "per_dir": a.per_dir, "total_bytes": sum(sizes), "mean_size": a.mean_size,
            "size_p50": q(0.5), "size_p90": q(0.9), "size_max": sizes[-1] if sizes else 0,
            "package_manager": a.package_manager}


def npm_version() -> str:
    try:
        v = subprocess.run(["npm", "--version"], capture_output=True, text=True, check=True).stdout.strip()
        return f"npm@{v}"
    except (OSError, subprocess.CalledProcessError):
        return "npm@10.0.0"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--members", type=int, default=50)
    ap.add_argument("--files", type=int, default=100, help="files each build writes into dist/")
    ap.add_argument("--src-files", type=int, default=5, help="input files per member")
    ap.add_argument("--max-deps", type=int, default=3)
    ap.add_argument("--hash-tree", action="store_true", help="generate the hashing project instead")
    ap.add_argument("--hash-files", type=int, default=10000)
    ap.add_argument("--per-dir", type=int, default=100)
    ap.add_argument("--mean-size", type=int, default=4096)
    ap.add_argument("--package-manager", help="packageManager field (default: npm@<npm --version>)")
    ap.add_argument("--no-git", action="store_true", help="do not git init + commit")
    a = ap.parse_args(argv)
    a.package_manager = a.package_manager or npm_version()
    if a.out.exists() and any(a.out.iterdir()):
        sys.exit(f"gen_monorepo.py: {a.out} exists and is not empty")
    a.out.mkdir(parents=True, exist_ok=True)
    meta = gen_hash_tree(a) if a.hash_tree else gen_monorepo(a)
    meta["git"] = not a.no_git and shutil.which("git") is not None
    dump(a.out / "meta.json", meta)
    if meta["git"]:
        git_commit(a.out)
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
