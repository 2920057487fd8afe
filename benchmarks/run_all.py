"""``make bench``: the main-job benchmark, then (with --all) every other benchmarks/bench_*.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    scripts = [HERE / "bench_main.py"]
    if "--all" in sys.argv:
        scripts += sorted(p for p in HERE.glob("bench_*.py") if p.name != "bench_main.py")
    code = 0
    for script in scripts:
        print(f"== {script.name}", flush=True)
        code |= subprocess.call([sys.executable, str(script)])
    subprocess.call([sys.executable, str(HERE / "assemble.py")])
    return code


if __name__ == "__main__":
    sys.exit(main())
