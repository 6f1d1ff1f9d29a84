#!/usr/bin/env bash
# The sequential download-verify-extract baseline that sync.sh times `velo sync` against.
#
#   sync_baseline.sh [--stream] LIST DEST
#
# LIST has one artifact a line: `URL SHA256 NAME`. For each line, in order, one at a time:
#   default   curl -sf URL | tee DEST/NAME.tar.gz | sha256sum     (download, keep, hash)
#             tar -xzf DEST/NAME.tar.gz --strip-components=1 -C DEST/NAME
#   --stream  curl -sf URL | tee FIFO | sha256sum, with tar -xz --strip-components=1 -C DEST/NAME
#             reading the FIFO: download, hash and extract at once, in a pipeline
#             (what `curl | tee >(sha256sum) | tar -xz` does, with a status to wait for)
# then compares the sha256 with the expected one (exit 1 on a mismatch). DEST must not hold
# the NAME directories yet (sync.sh deletes DEST before each run).
set -euo pipefail

mode=file
if [[ "${1:-}" == --stream ]]; then mode=stream; shift; fi
[[ $# -eq 2 ]] || { echo "usage: sync_baseline.sh [--stream] LIST DEST" >&2; exit 2; }
list=$1 dest=$2
mkdir -p "$dest"

while read -r url sha name; do
  [[ -n "$url" ]] || continue
  mkdir "$dest/$name"
  if [[ "$mode" == file ]]; then
    got=$(curl -sf "$url" | tee "$dest/$name.tar.gz" | sha256sum)
    tar -xzf "$dest/$name.tar.gz" --strip-components=1 -C "$dest/$name"
  else
    fifo=$dest/$name.fifo
    mkfifo "$fifo"
    tar -xz --strip-components=1 -C "$dest/$name" <"$fifo" &
    tar_pid=$!
    if ! got=$(curl -sf "$url" | tee "$fifo" | sha256sum); then
      wait "$tar_pid" || true
      exit 1
    fi
    wait "$tar_pid"
    rm -f "$fifo"
  fi
  if [[ "${got%% *}" != "$sha" ]]; then
    echo "sync_baseline.sh: sha256 mismatch for $url: got ${got%% *}, want $sha" >&2
    exit 1
  fi
done <"$list"
