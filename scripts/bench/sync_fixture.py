#!/usr/bin/env python3
"""Build the velo index and projects that sync.sh benchmarks `velo sync` against.

Usage:
    sync_fixture.py --out DIR [--registry URL] [--seed 1] [--tools 20] [--size-mb 10]
                    [--large-mb 200] [--cc cc | --no-cc] [--manifest-only]

Writes:
    DIR/index/index.json                    {"format": 1, "packages": [sorted names]}
    DIR/index/packages/<name>.json          one version, 1.0.0, four platforms
    DIR/index/artifacts/<name>-1.0.0.tar.gz the archive (the same one for every platform)
    DIR/project/velo.json                   the tools tool01 .. toolNN
    DIR/project-large/velo.json             the large package alone ("bigtool")
    DIR/project-shim/velo.json              "tool-c" alone (the shim-overhead test)
    DIR/meta.json                           what was generated: names, sizes, sha256, urls

Packages:
  * toolNN (NN = 01 .. --tools): an archive `toolNN-1.0.0/` holding `bin/toolNN`, a POSIX sh
    script that prints `toolNN 1.0.0` (for `--version` and anything else), and
    `share/toolNN/data.bin`, --size-mb MiB of pseudo-random bytes (SHAKE-256 of the seed and
    the package name, so gzip cannot shrink them and every package differs);
  * bigtool: the same structure with --large-mb MiB of data (the single-large-package test);
  * tool-c: `bin/tool-c`, a tiny C program compiled with --cc (static if the toolchain can,
    stripped) that prints `tool-c 1.0.0`; without a working compiler (or with --no-cc) it is a
    sh script like the others, and meta.json says so ("tool_c_kind").
Every artifact has `strip_components: 1` and `bin: {"<name>": "bin/<name>"}`, and the url
`../artifacts/<file>` (relative to the package file).

Deterministic: the same arguments give byte-identical archives and JSON (tar entries sorted,
mtime 0, uid/gid 0, no user names; gzip header mtime 0, no file name). tool-c is deterministic
for a given compiler. --manifest-only rewrites only the velo.json files (e.g. with the port of
the server that now serves the index). Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PLATFORMS = ["linux-x86_64", "linux-aarch64", "macos-x86_64", "macos-aarch64"]
VERSION = "1.0.0"
MIB = 1024 * 1024
CHUNK = MIB
# Incompressible data: gzip only wastes time trying; level 1 gives the same size as 9.
GZIP_LEVEL = 1

C_SOURCE = r"""#include <stdio.h>
int main(void) {
    fputs("tool-c 1.0.0\n", stdout);
    return 0;
}
"""


def sh_script(name: str) -> bytes:
    return (
        "#!/bin/sh\n"
        f"# {name}: a stand-in tool for the velo sync benchmark.\n"
        f'echo "{name} {VERSION}"\n'
    ).encode()


class PadReader(io.RawIOBase):
    """`size` pseudo-random bytes, streamed: chunk i is SHAKE-256(seed:name:i)."""

    def __init__(self, seed: int, name: str, size: int):
        self.seed, self.name, self.size = seed, name, size
        self.pos = 0
        self.buf = memoryview(b"")
        self.off = 0
        self.chunk = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self.pos >= self.size:
            return 0
        if self.off >= len(self.buf):
            n = min(CHUNK, self.size - self.chunk * CHUNK)
            key = f"velo-bench-sync:{self.seed}:{self.name}:{self.chunk}".encode()
            self.buf = memoryview(hashlib.shake_256(key).digest(n))
            self.off = 0
            self.chunk += 1
        n = min(len(b), len(self.buf) - self.off)
        b[:n] = self.buf[self.off:self.off + n]
        self.off += n
        self.pos += n
        return n


def tar_info(path: str, *, size: int = 0, mode: int = 0o644, is_dir: bool = False) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(path)
    ti.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    ti.size = 0 if is_dir else size
    ti.mode = mode
    ti.mtime = 0
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    return ti


def write_archive(path: Path, name: str, bin_bytes: bytes, pad_size: int, seed: int) -> None:
    """`<name>-1.0.0/bin/<name>` (+ `share/<name>/data.bin` when pad_size > 0), tar.gz."""
    top = f"{name}-{VERSION}"
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL, mtime=0) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
                tar.addfile(tar_info(top, mode=0o755, is_dir=True))
                tar.addfile(tar_info(f"{top}/bin", mode=0o755, is_dir=True))
                tar.addfile(tar_info(f"{top}/bin/{name}", size=len(bin_bytes), mode=0o755),
                            io.BytesIO(bin_bytes))
                if pad_size > 0:
                    tar.addfile(tar_info(f"{top}/share", mode=0o755, is_dir=True))
                    tar.addfile(tar_info(f"{top}/share/{name}", mode=0o755, is_dir=True))
                    tar.addfile(tar_info(f"{top}/share/{name}/data.bin", size=pad_size),
                                io.BufferedReader(PadReader(seed, name, pad_size), CHUNK))
    os.replace(tmp, path)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * MIB):
            h.update(chunk)
    return h.hexdigest()


def compile_tool_c(cc: str | None) -> tuple[bytes, str]:
    """(binary, kind): kind is "elf-static", "native" or "sh" (fallback)."""
    if not cc or shutil.which(cc) is None:
        return sh_script("tool-c"), "sh"
    with tempfile.TemporaryDirectory() as d:
        src = Path(d, "tool-c.c")
        src.write_text(C_SOURCE)
        out = Path(d, "tool-c")
        for flags, kind in ((["-static"], "elf-static"), ([], "native")):
            cmd = [cc, "-O2", "-s", *flags, "-o", str(out), str(src)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0 or not out.exists():
                continue
            try:
                run = subprocess.run([str(out), "--version"], capture_output=True, text=True, timeout=10)
            except OSError:
                continue
            if run.returncode == 0 and run.stdout == "tool-c 1.0.0\n":
                return out.read_bytes(), kind
    print("sync_fixture.py: could not compile tool-c; using a sh script", file=sys.stderr)
    return sh_script("tool-c"), "sh"


def dump(obj) -> str:
    return json.dumps(obj, indent=2) + "\n"


def write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(dump(obj))
    os.replace(tmp, path)


def package_doc(name: str, file: str, sha: str, size: int, desc: str) -> dict:
    artifact = {
        "url": f"../artifacts/{file}",
        "sha256": sha,
        "size": size,
        "strip_components": 1,
        "bin": {name: f"bin/{name}"},
    }
    return {
        "name": name,
        "description": desc,
        "versions": {VERSION: {"dependencies": {}, "artifacts": {p: dict(artifact) for p in PLATFORMS}}},
    }


def manifest(name: str, registry: str, deps: list[str]) -> dict:
    return {
        "name": name,
        "registry": registry,
        "platforms": PLATFORMS,
        "dependencies": {d: VERSION for d in deps},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--registry", help="registry URL for the velo.json files "
                    "(default: file:// URL of DIR/index/)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tools", type=int, default=20)
    ap.add_argument("--size-mb", type=float, default=10, help="MiB of data per tool (default 10)")
    ap.add_argument("--large-mb", type=float, default=200, help="MiB of data in bigtool (default 200)")
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"), help="C compiler for tool-c (default: $CC or cc)")
    ap.add_argument("--no-cc", action="store_true", help="make tool-c a sh script")
    ap.add_argument("--manifest-only", action="store_true", help="only (re)write the velo.json files")
    a = ap.parse_args(argv)

    if a.tools < 1 or a.tools > 99:
        ap.error("--tools must be 1..99")
    out = a.out.resolve()
    index = out / "index"
    registry = a.registry or index.as_uri() + "/"
    tools = [f"tool{i:02d}" for i in range(1, a.tools + 1)]

    projects = {
        "project": manifest("velo-bench-sync", registry, tools),
        "project-large": manifest("velo-bench-sync-large", registry, ["bigtool"]),
        "project-shim": manifest("velo-bench-sync-shim", registry, ["tool-c"]),
    }
    for d, m in projects.items():
        write_json(out / d / "velo.json", m)
    if a.manifest_only:
        return 0

    arts = index / "artifacts"
    arts.mkdir(parents=True, exist_ok=True)
    pad = int(a.size_mb * MIB)
    large_pad = int(a.large_mb * MIB)
    c_bytes, c_kind = compile_tool_c(None if a.no_cc else a.cc)

    specs = [(t, sh_script(t), pad, f"benchmark tool {t} ({a.size_mb:g} MiB of data)") for t in tools]
    specs.append(("bigtool", sh_script("bigtool"), large_pad, f"large benchmark tool ({a.large_mb:g} MiB of data)"))
    specs.append(("tool-c", c_bytes, 0, f"tiny binary for the shim-overhead test ({c_kind})"))

    meta = {
        "seed": a.seed, "version": VERSION, "platforms": PLATFORMS,
        "size_mb": a.size_mb, "large_mb": a.large_mb, "tool_c_kind": c_kind,
        "projects": {"project": tools, "project-large": ["bigtool"], "project-shim": ["tool-c"]},
        "packages": {},
    }
    for name, bin_bytes, pad_size, desc in specs:
        file = f"{name}-{VERSION}.tar.gz"
        path = arts / file
        write_archive(path, name, bin_bytes, pad_size, a.seed)
        sha, size = sha256_file(path), path.stat().st_size
        write_json(index / "packages" / f"{name}.json", package_doc(name, file, sha, size, desc))
        meta["packages"][name] = {"file": f"artifacts/{file}", "sha256": sha, "size": size, "data_bytes": pad_size}
        print(f"{name:8s} {size:>11,d} bytes  {sha}", file=sys.stderr)

    names = sorted(meta["packages"])
    write_json(index / "index.json", {"format": 1, "packages": names})
    meta["total_bytes"] = {p: sum(meta["packages"][n]["size"] for n in ns) for p, ns in meta["projects"].items()}
    write_json(out / "meta.json", meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
