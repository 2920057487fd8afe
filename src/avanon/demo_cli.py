"""``python -m avanon.demo_cli DIR``: the demo end to end, as a user would type it.

1. build the demo study in ``DIR/study`` (:func:`avanon.demo.build_demo_study`);
2. ``avanon run`` it into ``DIR/out``;
3. ``avanon evaluate`` the release into ``DIR/evaluation`` (``metrics.json``, ``report.html``;
   every :data:`EVERY`-th video frame, so that the demo stays short);
4. ``avanon methods``: the methods statement from the manifest and that evaluation, in ``DIR/out/methods``;
5. ``avanon redteam``: the dated red-team record from the same evaluation, in ``DIR/governance``;

and prints where each result is. The exit status is the first non-zero status of the steps; a
usage or internal error (status 2 or 3) stops the demo, a run in which some files failed (status 1)
is still evaluated, since the evaluation and the red-team record are where that shows.
"""

from __future__ import annotations

import sys
from pathlib import Path

from avanon.cli import main as cli_main
from avanon.demo import build_demo_study

EVERY = 25  # video frames between two evaluated frames (1 per second at 25 frames/s)


def steps(root: Path) -> list[list[str]]:
    """The command lines the demo runs after building its study in ``root / "study"``."""
    study, out, evaluation = root / "study", root / "out", root / "evaluation"
    metrics = evaluation / "metrics.json"
    return [
        ["run", str(study), "-o", str(out), "--seed", "1"],
        ["evaluate", str(study), str(out), "-o", str(evaluation), "--every", str(EVERY)],
        ["methods", str(out), "--evaluation", str(metrics)],
        ["redteam", str(out), "--metrics", str(metrics), "-o", str(root / "governance")],
    ]


def results(root: Path) -> list[tuple[str, Path]]:
    """What the demo wrote, labelled, for the closing summary (only files that exist)."""
    out = root / "out"
    found = [
        ("anonymized study", out),
        ("manifest", out / "avanon_manifest.json"),
        ("evaluation report", root / "evaluation" / "report.html"),
        ("evaluation metrics", root / "evaluation" / "metrics.json"),
        ("methods statement", out / "methods" / "methods_short.md"),
        ("methods (long form)", out / "methods" / "methods_long.md"),
    ]
    found += [("red-team report", path) for path in sorted((root / "governance").glob("redteam-*.md"))]
    return [(label, path) for label, path in found if path.exists()]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0] if args else "demo")
    study = build_demo_study(root / "study")
    print(f"demo study: {study}")
    code = 0
    for command in steps(root):
        print(f"\n$ avanon {' '.join(command)}", flush=True)
        status = cli_main(command)
        code = code or status
        if status not in (0, 1):
            print(f"avanon {command[0]} exited with status {status}; the demo stops here.")
            break
    print()
    for label, path in results(root):
        print(f"{label + ':':22s}{path}")
    return code


if __name__ == "__main__":
    sys.exit(main())
