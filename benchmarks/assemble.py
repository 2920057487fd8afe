"""Raw benchmark results as JSON, and the lab notebook, from the sections in benchmarks/results/.

Each benchmark script writes (or its author pastes) a markdown section ``benchmarks/results/NAME.md``:
the newest tables, the command, the machine and the notes of the runs. This script

- writes ``benchmarks/results/NAME.json`` beside each section: every table of the section, with the
  heading it stands under and the commands and dates given there (the raw results); a JSON file that
  a benchmark writes itself (``collateral.json``) is left alone, and
- rebuilds ``docs/benchmark-notes.md``, the lab notebook: all sections, in a fixed order.

``BENCHMARKS.md`` is kept by hand: one short table per benchmark (command, machine, date, baseline,
headline numbers), pointing here for the rest.

    .venv/bin/python benchmarks/assemble.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
NOTES = HERE.parent / "docs" / "benchmark-notes.md"
ORDER = ["main.md", "voice.md", "evaluate.md", "video_modes.md", "video_background.md", "leaks.md", "scale.md", "governance.md"]

HEADER = """# Benchmark notes (lab notebook)

The full record behind [BENCHMARKS.md](../BENCHMARKS.md): every run's tables, the notes on what
changed between runs, what was tried and dropped, and the diagnostics. Each section is
`benchmarks/results/NAME.md` (written by the benchmark scripts or by hand); its tables are also in
`benchmarks/results/NAME.json`. Rebuilt by `.venv/bin/python benchmarks/assemble.py`.

Measured on this project's 2-core CPU machine, mostly while other jobs shared the cores: compare the
ratios within one table, not absolute times across tables.

"""

_ROW = re.compile(r"^\|.*\|\s*$")
_RULE = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")
_DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def parse_section(text: str) -> list[dict[str, Any]]:
    """Every markdown table of ``text`` with its heading, and the commands and dates of that heading."""
    tables: list[dict[str, Any]] = []
    heading, commands, dates = "", [], []
    lines = text.splitlines()
    k = 0
    while k < len(lines):
        line = lines[k]
        if line.startswith("#"):
            heading, commands, dates = line.lstrip("#").strip(), [], []
        commands += re.findall(r"`((?:\.venv/bin/|make )[^`]+)`", line)
        dates += _DATE.findall(line)
        if _ROW.match(line) and k + 1 < len(lines) and _RULE.match(lines[k + 1]):
            columns = _cells(line)
            rows = []
            k += 2
            while k < len(lines) and _ROW.match(lines[k]):
                rows.append(_cells(lines[k]))
                k += 1
            tables.append({"heading": heading, "commands": sorted(set(commands)), "dates": sorted(set(dates)), "columns": columns, "rows": rows})
            continue
        k += 1
    return tables


def main() -> None:
    names = ORDER + sorted(p.name for p in RESULTS.glob("*.md") if p.name not in ORDER)
    parts = [HEADER]
    for name in names:
        path = RESULTS / name
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        parts.append(text.strip() + "\n\n")
        target = path.with_suffix(".json")
        if target.is_file() and json.loads(target.read_text(encoding="utf-8")).get("assembled_from") != name:
            continue  # a benchmark's own JSON (bench_collateral.py writes one): never overwritten
        data = {"assembled_from": name, "tables": parse_section(text)}
        target.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    NOTES.parent.mkdir(parents=True, exist_ok=True)
    NOTES.write_text("".join(parts), encoding="utf-8")


if __name__ == "__main__":
    main()
