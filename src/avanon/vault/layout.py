"""The vault directory on disk: its configuration file, its lock and the paths it accepts.

Shared by the store (:mod:`avanon.vault.store`) and its backups (:mod:`avanon.vault.backup`).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from avanon.errors import AccessError, IntegrityError, ParameterError
from avanon.files import sha256_file, write_atomic

CONFIG = "vault.json"
LOCK = ".lock"
READ_BLOCK = 1024 * 1024


def now() -> dt.datetime:
    """The current UTC time."""
    return dt.datetime.now(dt.timezone.utc)


def write_json_atomic(path: Path, data: dict[str, object]) -> None:
    """Write ``data`` as JSON through a temporary name (a reader sees the old or the new file)."""
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True).encode("utf-8"))


def check_relpath(relpath: str) -> str:
    """``relpath`` as a POSIX path, refused when absolute or holding ``..`` (a path stays inside the vault)."""
    pure = PurePosixPath(relpath)
    if pure.is_absolute() or not pure.parts or any(part in ("", ".", "..") for part in pure.parts):
        raise AccessError(f"Unsafe vault path {relpath!r}: paths must be relative and must not contain '..'.")
    return pure.as_posix()


def read_config(root: Path) -> dict[str, object]:
    """Read and check ``ROOT/vault.json``; refuses a directory that is not a vault."""
    path = Path(root) / CONFIG
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParameterError(f"No vault in {root}: {CONFIG} is missing (create one with `avanon vault init`).") from None
    except json.JSONDecodeError as exc:
        raise IntegrityError(f"The vault configuration {path} is not valid JSON: {exc}.") from exc
    if config.get("format") != "avanon-vault":
        raise IntegrityError(f"{path} is not an avanon vault configuration.")
    return config


@contextmanager
def vault_lock(root: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold the vault's advisory lock: exclusive while the configuration changes, shared while it is copied."""
    with open(Path(root) / LOCK, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a vault file (read in :data:`READ_BLOCK` blocks)."""
    return sha256_file(path, READ_BLOCK)
