"""Vault throughput: encrypt (add) and decrypt (stream to a null sink) one large file; plain copy as baseline.

Run: .venv/bin/python benchmarks/bench_vault.py [SIZE_MIB]
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from avanon.vault import Vault


class Null:
    def write(self, data: bytes) -> int:
        return len(data)


def main(size_mib: int = 256, repeats: int = 3) -> None:
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        root = Path(tmp)
        source = root / "video.bin"
        block = os.urandom(1 << 20)
        with open(source, "wb") as sink:
            for _ in range(size_mib):
                sink.write(block)
        rows: dict[str, list[float]] = {"copy (baseline)": [], "vault add (encrypt)": [], "vault decrypt_to": []}
        for i in range(repeats):
            start = time.perf_counter()
            shutil.copyfile(source, root / f"copy{i}")
            rows["copy (baseline)"].append(time.perf_counter() - start)
            vault = Vault.init(root / f"vault{i}", passphrase="benchmark passphrase", scrypt_n=2**14)
            start = time.perf_counter()
            stored = vault.add_file(source, "s/video.bin", study="s")
            rows["vault add (encrypt)"].append(time.perf_counter() - start)
            start = time.perf_counter()
            vault.decrypt_to(stored.path, Null())
            rows["vault decrypt_to"].append(time.perf_counter() - start)
        print(f"{size_mib} MiB, median of {repeats}")
        print(f"{'operation':<22} {'median s':>9} {'MiB/s':>8}")
        for name, times in rows.items():
            median = statistics.median(times)
            print(f"{name:<22} {median:>9.2f} {size_mib / median:>8.0f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 256)
