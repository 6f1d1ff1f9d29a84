"""Helpers shared by the benchmark summarizers (imported from the scripts' own directory)."""

from __future__ import annotations

import json
from pathlib import Path


def load(work: Path, key: str) -> list[dict] | None:
    """The results of `hyperfine --export-json $work/hyperfine-KEY.json`, if that run happened."""
    p = work / f"hyperfine-{key}.json"
    return json.loads(p.read_text())["results"] if p.exists() else None


def hyperfine_sections(work: Path, titles: dict[str, str], keys) -> list[str]:
    """Markdown lines: hyperfine's own table for each key that ran, under its title."""
    md: list[str] = []
    for key in keys:
        p = work / f"hyperfine-{key}.md"
        if p.exists():
            md += [f"## {titles.get(key, key)}", "", p.read_text().rstrip().replace(str(work), "$TMP"), ""]
    return md
