"""Encrypted storage of original recordings (:mod:`avanon.vault.store`, :mod:`avanon.vault.crypto`, backups in :mod:`avanon.vault.backup`).

For a pipeline reading a study straight from the vault::

    vault = unlock(Path("VAULT"))                   # key from the environment
    for stored in vault.files(study="study1"):     # relative paths, sizes, sha256
        with pipe_or_buffer as sink:
            vault.decrypt_to(stored.path, sink)    # plaintext streamed, never written to disk
"""

from __future__ import annotations

import os
from pathlib import Path

from avanon.vault.crypto import MasterKey, ScryptParams
from avanon.vault.store import Problem, StoredFile, Vault

PASSPHRASE_ENV = "AVANON_VAULT_PASSPHRASE"
KEY_FILE_ENV = "AVANON_VAULT_KEY_FILE"

__all__ = ["MasterKey", "Problem", "ScryptParams", "StoredFile", "Vault", "unlock", "PASSPHRASE_ENV", "KEY_FILE_ENV"]


def unlock(root: Path, *, passphrase: str | None = None, key_file: Path | None = None) -> Vault:
    """Open the vault in ``root``, taking the key from the arguments or else from the environment.

    Parameters
    ----------
    root : Path
        Vault directory.
    passphrase : str, optional
        Master passphrase; defaults to ``$AVANON_VAULT_PASSPHRASE``.
    key_file : Path, optional
        Key file; defaults to ``$AVANON_VAULT_KEY_FILE``.
    """
    if passphrase is None and key_file is None:
        passphrase = os.environ.get(PASSPHRASE_ENV) or None
        env_file = os.environ.get(KEY_FILE_ENV)
        key_file = Path(env_file) if env_file else None
    return Vault.open(root, passphrase=passphrase, key_file=key_file)
