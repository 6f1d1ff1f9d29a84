#!/usr/bin/env python3
"""Build the example velo index: archives in artifacts/, metadata in packages/ and index.json.

Every tool here is a portable POSIX shell script, so one archive serves all four Unix platforms.
The output is deterministic: fixed timestamps, owner 0:0, sorted entries, no gzip name or time,
so running this twice gives byte-identical files (with the same Python, zlib and liblzma).

Usage: python3 examples/index/build.py   (Python 3.11+, standard library only)
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
ARTIFACTS = ROOT / "artifacts"
PACKAGES = ROOT / "packages"

# 2024-01-01T00:00:00Z. Zip cannot store times before 1980, so this is used for every format.
MTIME = 1704067200
ZIP_DATE = (2024, 1, 1, 0, 0, 0)

UNIX = ["linux-x86_64", "linux-aarch64", "macos-x86_64", "macos-aarch64"]
LINUX = ["linux-x86_64", "linux-aarch64"]

EXE = 0o755
FILE = 0o644


# --------------------------------------------------------------------------- the tools

def greet_lib(version: str, banner: bool) -> str:
    text = f"""\
# greet-lib {version}: shell functions for greetings. Source this file; it runs nothing itself.
GREET_LIB_VERSION={version}

# greet_line GREETING NAME: print "GREETING, NAME!".
greet_line() {{
    printf '%s, %s!\\n' "${{1:-Hello}}" "${{2:-world}}"
}}
"""
    if banner:
        text += """
# greet_banner TEXT: print TEXT between two rules as long as it.
greet_banner() {
    rule=$(printf '%s' "$1" | sed 's/./=/g')
    printf '%s\\n%s\\n%s\\n' "$rule" "$1" "$rule"
}
"""
    return text


HELLO_HEADER = """\
#!/bin/sh
# hello {version}: print a greeting for every name given as an argument or listed in a file.
# usage: hello [-f FILE] [NAME...]    (the greeting word comes from $GREETING, default Hello)
set -eu
version={version}

usage() {{
    echo "usage: hello [-f FILE] [NAME...]"
}}
"""

HELLO_STANDALONE = """
greet_line() {
    printf '%s, %s!\\n' "${1:-Hello}" "${2:-world}"
}
"""

# Where greet-lib lives: $GREET_LIB, or beside this script in a velo project
# (.velo/bin/hello -> ../opt, .velo/Cellar/hello/VERSION/bin/hello -> ../../../../opt),
# or next to any PATH entry (.velo/bin is on PATH while a project is active).
HELLO_FIND_LIB = """
find_greet_lib() {
    if [ -n "${GREET_LIB:-}" ] && [ -f "$GREET_LIB" ]; then
        printf '%s\\n' "$GREET_LIB"
        return 0
    fi
    here=$(dirname "$0")
    for candidate in "$here/../opt/greet-lib/lib/greet.sh" "$here/../../../../opt/greet-lib/lib/greet.sh"; do
        if [ -f "$candidate" ]; then
            printf '%s\\n' "$candidate"
            return 0
        fi
    done
    set -f
    old_ifs=$IFS
    IFS=:
    for dir in $PATH; do
        if [ -n "$dir" ] && [ -f "$dir/../opt/greet-lib/lib/greet.sh" ]; then
            IFS=$old_ifs
            set +f
            printf '%s\\n' "$dir/../opt/greet-lib/lib/greet.sh"
            return 0
        fi
    done
    IFS=$old_ifs
    set +f
    return 1
}
"""

HELLO_LOAD_LIB = """
if ! lib=$(find_greet_lib); then
    echo "hello: greet-lib not found (run \\`velo sync\\`, or set GREET_LIB to its lib/greet.sh)" >&2
    exit 1
fi
. "$lib"
"""

HELLO_MAIN = """
file=
while [ $# -gt 0 ]; do
    case $1 in
        --version) echo "hello $version"; exit 0 ;;
        -h|--help) usage; exit 0 ;;
        -f) [ $# -ge 2 ] || {{ usage >&2; exit 2; }}; file=$2; shift 2 ;;
        --) shift; break ;;
        -*) echo "hello: unknown option $1" >&2; usage >&2; exit 2 ;;
        *) break ;;
    esac
done
{banner}
greeting=${{GREETING:-Hello}}
if [ -n "$file" ]; then
    # One name per line; blank lines and lines starting with # are skipped.
    while IFS= read -r name || [ -n "$name" ]; do
        case $name in ''|'#'*) continue ;; esac
        greet_line "$greeting" "$name"
    done < "$file"
fi
for name in "$@"; do
    greet_line "$greeting" "$name"
done
if [ -z "$file" ] && [ $# -eq 0 ]; then
    greet_line "$greeting" world
fi
"""


def hello(version: str, with_lib: bool, banner: bool) -> str:
    text = HELLO_HEADER.format(version=version)
    if with_lib:
        text += HELLO_FIND_LIB + HELLO_LOAD_LIB
    else:
        text += HELLO_STANDALONE
    return text + HELLO_MAIN.format(banner='greet_banner "hello $version"' if banner else "")


def wordcount(version: str) -> str:
    return f"""\
#!/bin/sh
# wordcount {version}: count the words in files (or standard input), like `wc -w`.
# usage: wordcount [FILE...]    prints "COUNT FILE" per file and a total for several files
set -eu

case "${{1:-}}" in
    --version) echo "wordcount {version}"; exit 0 ;;
    -h|--help) echo "usage: wordcount [FILE...]"; exit 0 ;;
esac

if [ $# -eq 0 ]; then
    awk '{{ n += NF }} END {{ print n + 0 }}'
    exit 0
fi
total=0
for f in "$@"; do
    n=$(awk '{{ n += NF }} END {{ print n + 0 }}' "$f")
    echo "$n $f"
    total=$((total + n))
done
if [ $# -gt 1 ]; then
    echo "$total total"
fi
"""


def linecount(version: str) -> str:
    return f"""\
#!/bin/sh
# linecount (wordcount {version}): count the non-blank lines in files (or standard input).
set -eu
case "${{1:-}}" in
    --version) echo "linecount {version}"; exit 0 ;;
esac
awk 'NF {{ n++ }} END {{ print n + 0 }}' "$@"
"""


def shout(version: str) -> str:
    return f"""\
#!/bin/sh
# shout {version}: print the arguments (or standard input) in upper case.
set -eu
if [ "${{1:-}}" = --version ]; then echo "shout {version}"; exit 0; fi
if [ $# -gt 0 ]; then
    printf '%s\\n' "$*" | tr '[:lower:]' '[:upper:]'
else
    tr '[:lower:]' '[:upper:]'
fi
"""


def readme(name: str, version: str, what: str) -> str:
    return f"{name} {version}\n\n{what}\nPart of velo's example index; built by examples/index/build.py.\n"


# --------------------------------------------------------------------------- archive writers

Entries = dict[str, tuple[str, int]]  # path inside the archive -> (text, mode)


def with_dirs(entries: Entries) -> list[tuple[str, str | None, int]]:
    """All entries plus their parent directories (text None), sorted by path."""
    rows: dict[str, tuple[str | None, int]] = {}
    for path, (text, mode) in entries.items():
        rows[path] = (text, mode)
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            rows.setdefault("/".join(parts[:i]), (None, EXE))
    return [(path, text, mode) for path, (text, mode) in sorted(rows.items())]


def tar_bytes(entries: Entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path, text, mode in with_dirs(entries):
            info = tarfile.TarInfo(path)
            info.mtime = MTIME
            info.mode = mode
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if text is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                data = text.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    out = io.BytesIO()
    # filename="" and mtime=0 keep the name and the build time out of the gzip header.
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return out.getvalue()


def xz_bytes(data: bytes) -> bytes:
    return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=6)


def zip_bytes(entries: Entries) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, text, mode in with_dirs(entries):
            if text is None:
                info = zipfile.ZipInfo(path + "/", date_time=ZIP_DATE)
                info.external_attr = ((stat.S_IFDIR | mode) << 16) | 0x10  # 0x10: MS-DOS directory
                info.compress_type = zipfile.ZIP_STORED
                data = b""
            else:
                info = zipfile.ZipInfo(path, date_time=ZIP_DATE)
                info.external_attr = (stat.S_IFREG | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                data = text.encode()
            info.create_system = 3  # Unix, so extractors honour the mode bits above
            zf.writestr(info, data, compresslevel=9)
    return buf.getvalue()


def build(kind: str, entries: Entries) -> bytes:
    if kind == "tar.gz":
        return gzip_bytes(tar_bytes(entries))
    if kind == "tar.xz":
        return xz_bytes(tar_bytes(entries))
    if kind == "tar.bz2":
        return bz2.compress(tar_bytes(entries), 9)
    if kind == "zip":
        return zip_bytes(entries)
    if kind == "gz":  # a single compressed file
        [(text, _mode)] = entries.values()
        return gzip_bytes(text.encode())
    if kind == "raw":  # the executable itself
        [(text, _mode)] = entries.values()
        return text.encode()
    raise ValueError(kind)


# --------------------------------------------------------------------------- the index

def prefixed(top: str, entries: Entries) -> Entries:
    return {f"{top}/{path}": value for path, value in entries.items()}


# name -> description, and per version: (artifact file under artifacts/, format, entries,
# dependencies, platforms, extra artifact fields such as strip_components and bin).
INDEX = {
    "greet-lib": {
        "description": "shell library of greeting functions (no executables)",
        "versions": {
            "1.0.0": dict(
                file="greet-lib-1.0.0.tgz",
                kind="tar.gz",
                entries={"lib/greet.sh": (greet_lib("1.0.0", banner=False), FILE)},
            ),
            "1.2.0": dict(
                file="greet-lib-1.2.0.tar.gz",
                kind="tar.gz",
                entries=prefixed("greet-lib-1.2.0", {
                    "README": (readme("greet-lib", "1.2.0", "Adds greet_banner."), FILE),
                    "lib/greet.sh": (greet_lib("1.2.0", banner=True), FILE),
                }),
                strip_components=1,
            ),
        },
    },
    "hello": {
        "description": "prints a greeting for each name",
        "versions": {
            "1.0.0": dict(
                file="hello-1.0.0.tar.gz",
                kind="tar.gz",
                entries={"bin/hello": (hello("1.0.0", with_lib=False, banner=False), EXE)},
            ),
            "1.1.0": dict(
                file="hello-1.1.0.tar.gz",
                kind="tar.gz",
                entries=prefixed("hello-1.1.0", {
                    "bin/hello": (hello("1.1.0", with_lib=True, banner=False), EXE),
                    "share/doc/hello/README": (readme("hello", "1.1.0", "Greets through greet-lib."), FILE),
                }),
                dependencies={"greet-lib": "^1"},
                strip_components=1,
            ),
            "2.0.0-beta.1": dict(
                file="hello-2.0.0-beta.1.tar.xz",
                kind="tar.xz",
                entries=prefixed("hello-2.0.0-beta.1", {
                    "bin/hello": (hello("2.0.0-beta.1", with_lib=True, banner=True), EXE),
                }),
                dependencies={"greet-lib": ">=1.2, <2"},
                strip_components=1,
            ),
        },
    },
    "wordcount": {
        "description": "counts words and lines; calendar-style versions",
        "versions": {
            # Older release, Linux only, a bare executable at the top of the archive.
            "2023.11.02": dict(
                file="wordcount-2023.11.02.tar.bz2",
                kind="tar.bz2",
                entries={"wordcount": (wordcount("2023.11.02"), EXE)},
                platforms=LINUX,
            ),
            "2024.01.15": dict(
                file="wordcount-2024.01.15.zip",
                kind="zip",
                entries=prefixed("wordcount-2024.01.15", {
                    "README": (readme("wordcount", "2024.01.15", "Adds linecount."), FILE),
                    "bin/linecount": (linecount("2024.01.15"), EXE),
                    "bin/wordcount": (wordcount("2024.01.15"), EXE),
                }),
                strip_components=1,
                bin={"linecount": "bin/linecount", "wordcount": "bin/wordcount"},
            ),
        },
    },
    "shout": {
        "description": "upper-cases its input; shipped as a single file",
        "versions": {
            "0.3.0": dict(
                file="shout/0.3.0/shout.gz",
                kind="gz",
                entries={"shout": (shout("0.3.0"), EXE)},
                bin={"shout": "shout"},
            ),
            "0.4.0": dict(
                file="shout/0.4.0/shout",
                kind="raw",
                entries={"shout": (shout("0.4.0"), EXE)},
                bin={"shout": "shout"},
            ),
        },
    },
}


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def main() -> None:
    # Start from scratch so files of removed versions do not linger.
    for generated in (ARTIFACTS, PACKAGES):
        if generated.exists():
            shutil.rmtree(generated)

    for name, package in INDEX.items():
        versions = {}
        for version, spec in package["versions"].items():
            data = build(spec["kind"], spec["entries"])
            write(ARTIFACTS / spec["file"], data)
            if spec["kind"] == "raw":
                (ARTIFACTS / spec["file"]).chmod(EXE)
            artifact = {
                "url": f"../artifacts/{spec['file']}",
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
            }
            if "strip_components" in spec:
                artifact["strip_components"] = spec["strip_components"]
            if "bin" in spec:
                artifact["bin"] = spec["bin"]
            versions[version] = {
                "dependencies": spec.get("dependencies", {}),
                "artifacts": {platform: artifact for platform in spec.get("platforms", UNIX)},
            }
        document = {"name": name, "description": package["description"], "versions": versions}
        write(PACKAGES / f"{name}.json", (json.dumps(document, indent=2) + "\n").encode())

    index = {"format": 1, "packages": sorted(INDEX)}
    write(ROOT / "index.json", (json.dumps(index, indent=2) + "\n").encode())


if __name__ == "__main__":
    main()
