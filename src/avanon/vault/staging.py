"""Run the anonymizer straight from the vault: originals decrypted to memory, never to disk.

:func:`study_from_vault` decrypts one study's files into a private folder on a RAM-backed file
system (``/dev/shm`` on Linux), yields its path for :func:`avanon.pipeline.run_study`, and overwrites
and removes every plaintext byte when the block ends, even on error. Each file is authenticated
(AES-GCM) and checked against its recorded SHA-256 on the way out, so the manifest's input hashes are
the originals' hashes. A study larger than the free memory of that file system is refused before
anything is decrypted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from avanon.errors import AccessError, IntegrityError
from avanon.vault.store import Vault

RAM_ROOTS = (Path("/dev/shm"), Path("/run/shm"))


def ram_folder() -> Path:
    """A RAM-backed folder for plaintext, or :class:`AccessError` if the machine has none."""
    for root in RAM_ROOTS:
        if root.is_dir() and os.access(root, os.W_OK):
            return root
    raise AccessError("No RAM-backed folder (/dev/shm) is available: refusing to decrypt originals to disk.")


def _wipe(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file():
            size = path.stat().st_size
            with open(path, "r+b") as fh:
                fh.write(b"\0" * size)
        # folders are removed with the tree below
    shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def study_from_vault(vault: Vault, study: str) -> Iterator[Path]:
    """Decrypt ``study`` from ``vault`` to a private RAM folder for the duration of the block."""
    files = vault.files(study=study)
    if not files:
        known = ", ".join(vault.studies()) or "none"
        raise AccessError(f"The vault holds no study {study!r} (studies: {known}).")
    root = ram_folder()
    need = sum(f.size for f in files)
    free = shutil.disk_usage(root).free
    if need > free * 0.9:
        raise AccessError(f"Study {study!r} needs {need / 2**20:.0f} MiB of memory to decrypt but {root} has {free / 2**20:.0f} MiB free.")
    folder = Path(tempfile.mkdtemp(prefix="avanon-vault-", dir=root))
    os.chmod(folder, 0o700)
    try:
        study_root = folder / study
        for stored in files:
            rel = stored.path[len(study) + 1 :] if stored.path.startswith(study + "/") else stored.path
            target = study_root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as sink:
                os.chmod(target, 0o400 | 0o200)
                vault.decrypt_to(stored.path, sink)
            if target.stat().st_size != stored.size:
                raise IntegrityError(f"{stored.path}: decrypted {target.stat().st_size} bytes, the vault recorded {stored.size}.")
            os.chmod(target, 0o400)  # read only, like any original
        yield study_root
    finally:
        for path in folder.rglob("*"):
            if path.is_file():
                os.chmod(path, 0o600)
        _wipe(folder)
