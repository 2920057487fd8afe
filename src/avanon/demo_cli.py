"""``python -m avanon.demo_cli DIR``: build the demo study in DIR/study, anonymize it into DIR/out."""

from __future__ import annotations

import sys
from pathlib import Path

from avanon.cli import main as cli_main
from avanon.demo import build_demo_study


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0] if args else "demo")
    study = build_demo_study(root / "study")
    print(f"demo study: {study}")
    code = cli_main(["run", str(study), "-o", str(root / "out"), "--seed", "1"])
    print(f"\nanonymized study: {root / 'out'}\nmanifest:         {root / 'out' / 'avanon_manifest.json'}")
    return code


if __name__ == "__main__":
    sys.exit(main())
