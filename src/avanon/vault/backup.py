"""Backups of a vault: a tar archive of the still-encrypted files with a SHA-256 per member.

No key is needed to make or restore one: the data stay encrypted. :func:`restore_vault` checks
every member against the archive's manifest (``avanon-backup.json``) before anything lands in the
destination, and refuses members that are not regular files or whose paths leave it.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tarfile
import tempfile
from pathlib import Path

from avanon.errors import IntegrityError, ParameterError
from avanon.vault.layout import CONFIG, READ_BLOCK, check_relpath, file_sha256, now, read_config, vault_lock

BACKUP_MANIFEST = "avanon-backup.json"


def backup_vault(root: Path, archive: Path) -> Path:
    """Write the vault (still encrypted) to a tar archive with a SHA-256 per member.

    Parameters
    ----------
    root : Path
        Vault directory (no key is needed: the data stay encrypted).
    archive : Path
        New ``.tar`` file; refuses to overwrite one.
    """
    root, archive = Path(root), Path(archive)
    read_config(root)  # refuse a directory that is not a vault
    if archive.exists():
        raise ParameterError(f"Refusing to overwrite backup {archive}.")
    with vault_lock(root, shared=True):
        members = [root / CONFIG] + sorted((root / "blobs").rglob("*.avv"))
        sums = {m.relative_to(root).as_posix(): file_sha256(m) for m in members}
        manifest = json.dumps(
            {"format": "avanon-vault-backup", "version": 1, "created": now().isoformat(timespec="seconds"), "sha256": sums}, indent=1, sort_keys=True
        ).encode("utf-8")
        tmp = archive.with_name(f".{archive.name}.{secrets.token_hex(4)}.tmp")
        try:
            with tarfile.open(tmp, "w") as tar:
                info = tarfile.TarInfo(BACKUP_MANIFEST)
                info.size = len(manifest)
                info.mode = 0o600
                tar.addfile(info, _BytesReader(manifest))
                for member in members:
                    tar.add(member, arcname=member.relative_to(root).as_posix(), recursive=False)
            os.replace(tmp, archive)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return archive


def restore_vault(archive: Path, root: Path) -> list[str]:
    """Restore a backup made by :func:`backup_vault` into a new or empty directory, checking every member.

    Returns
    -------
    list of str
        The restored members (relative paths).
    """
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise ParameterError(f"Cannot restore into {root}: the directory is not empty.")
    with tarfile.open(archive, "r") as tar:
        names = tar.getnames()
        if BACKUP_MANIFEST not in names:
            raise IntegrityError(f"{archive} is not an avanon vault backup: {BACKUP_MANIFEST} is missing.")
        manifest_file = tar.extractfile(BACKUP_MANIFEST)
        assert manifest_file is not None
        manifest = json.loads(manifest_file.read())
        sums: dict[str, str] = manifest["sha256"]
        unexpected = sorted(set(names) - set(sums) - {BACKUP_MANIFEST})
        missing = sorted(set(sums) - set(names))
        if unexpected or missing:
            raise IntegrityError(f"Backup {archive} does not match its manifest: unexpected {unexpected}, missing {missing}.")
        staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=root.parent if root.parent.exists() else None))
        try:
            for name, expected in sums.items():
                check_relpath(name)
                member = tar.getmember(name)
                if not member.isfile():
                    raise IntegrityError(f"Backup member {name} is not a regular file.")
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                digest = hashlib.sha256()
                with open(target, "wb") as sink:
                    while block := source.read(READ_BLOCK):
                        digest.update(block)
                        sink.write(block)
                if digest.hexdigest() != expected:
                    raise IntegrityError(f"Backup member {name} has SHA-256 {digest.hexdigest()}, expected {expected}: the backup is damaged.")
            root.mkdir(parents=True, exist_ok=True)
            os.chmod(root, 0o700)
            for item in staging.iterdir():
                shutil.move(str(item), root / item.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return sorted(sums)


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size < 0 else self._pos + size
        chunk = self._data[self._pos : end]
        self._pos += len(chunk)
        return chunk
