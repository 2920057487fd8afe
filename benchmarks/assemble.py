"""Rebuild BENCHMARKS.md from the result sections each benchmark writes in benchmarks/results/."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["main.md", "voice.md", "evaluate.md", "video_modes.md", "scale.md", "governance.md"]

HEADER = """# Benchmarks

Every number here was produced by a script in `benchmarks/` (the command is given in each section),
on this project's 2-core, 24 GiB CPU machine, with the baseline run beside it in the same session.
These machines are noisy, and most sections were measured while other jobs shared the two cores:
compare the ratios within one table, not absolute times across tables. `make bench` reruns the
main-job benchmark (`--all` for every benchmark) and rewrites its section; `python
benchmarks/assemble.py` rebuilds this file from `benchmarks/results/`.

"""


def main() -> None:
    parts = [HEADER]
    names = ORDER + sorted(p.name for p in (HERE / "results").glob("*.md") if p.name not in ORDER)
    for name in names:
        path = HERE / "results" / name
        if path.is_file():
            parts.append(path.read_text(encoding="utf-8").strip() + "\n\n")
    (HERE.parent / "BENCHMARKS.md").write_text("".join(parts), encoding="utf-8")


if __name__ == "__main__":
    main()
