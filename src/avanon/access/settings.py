"""Where the governance state lives: the governance home, the catalogue URL, the audit keys and the vault.

Everything is read from the environment (:meth:`Settings.from_env`) and created by
``avanon access init`` (:meth:`Settings.init`). The audit trail's secrets and its records outside
the database sit side by side, beside the audit key:

``audit.key``             HMAC key of the chain (64 hex characters, mode 0600)
``audit.head``            the signed head (newest sequence number and hash)
``audit-checkpoint.key``  Ed25519 key that signs checkpoints (mode 0600); ``.pub`` its public half
``audit.checkpoints``     the append-only checkpoint log
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from avanon.access.audit import GENESIS, AuditTrail, head_path, read_key_file, write_head, write_key_file
from avanon.access.checkpoint import DEFAULT_EVERY, CheckpointLog, write_signing_key
from avanon.access.db import connect
from avanon.errors import AccessError, ParameterError

EVERY_ENV = "AVANON_AUDIT_CHECKPOINT_EVERY"


@dataclass(frozen=True)
class Settings:
    """Where the governance state lives.

    Attributes
    ----------
    home : Path
        Directory for the default catalogue, audit keys and vault (``$AVANON_HOME``, default ``./.avanon``).
    db : str
        Catalogue URL (``$AVANON_DB``, default SQLite in ``home``).
    audit_key_file : Path
        Audit HMAC key (``$AVANON_AUDIT_KEY_FILE``, default ``home/audit.key``); the trail's signed
        head, checkpoint key and checkpoint log are kept beside it.
    vault : Path
        Vault directory (``$AVANON_VAULT``, default ``home/vault``).
    checkpoint_every : int > 0 [entries]
        A signed checkpoint every this many audit entries (``$AVANON_AUDIT_CHECKPOINT_EVERY``, default 100).
    """

    home: Path
    db: str
    audit_key_file: Path
    vault: Path
    checkpoint_every: int = DEFAULT_EVERY

    @classmethod
    def from_env(cls, home: Path | None = None) -> Settings:
        """Read the settings from the environment."""
        root = Path(home or os.environ.get("AVANON_HOME") or ".avanon").absolute()
        every = os.environ.get(EVERY_ENV) or str(DEFAULT_EVERY)
        if not every.isdigit() or int(every) < 1:
            raise ParameterError(f"The '{EVERY_ENV}' variable must be an int in the range [1, inf) entries. Got {every!r} instead.")
        return cls(
            root,
            os.environ.get("AVANON_DB") or f"sqlite:///{root / 'catalogue.sqlite'}",
            Path(os.environ.get("AVANON_AUDIT_KEY_FILE") or root / "audit.key"),
            Path(os.environ.get("AVANON_VAULT") or root / "vault"),
            int(every),
        )

    @property
    def audit_head_file(self) -> Path:
        """The audit trail's signed head, outside the database (``audit.head`` beside the key)."""
        return head_path(self.audit_key_file)

    @property
    def checkpoint_key_file(self) -> Path:
        """The Ed25519 key that signs audit checkpoints (``audit-checkpoint.key`` beside the audit key)."""
        return self.audit_key_file.with_name("audit-checkpoint.key")

    @property
    def checkpoint_file(self) -> Path:
        """The append-only checkpoint log (``audit.checkpoints`` beside the audit key)."""
        return self.audit_key_file.with_name("audit.checkpoints")

    def init(self) -> None:
        """Create the home directory (mode 0700), the audit keys, the empty signed head and the catalogue tables.

        Running it again creates only what is missing (a home made before checkpoints gets its key).
        """
        self.home.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, 0o700)
        if not self.audit_key_file.exists():
            write_key_file(self.audit_key_file)
            if not self.audit_head_file.exists():
                write_head(self.audit_head_file, read_key_file(self.audit_key_file), 0, GENESIS)
        if not self.checkpoint_key_file.exists():
            write_signing_key(self.checkpoint_key_file)
        connect(self.db).dispose()

    def checkpoint_log(self) -> CheckpointLog:
        """The trail's checkpoint log, able to sign; refused when the home has no checkpoint key."""
        if not self.checkpoint_key_file.exists():
            raise AccessError(f"No audit checkpoint key at {self.checkpoint_key_file}: run `avanon access init` to create one.")
        return CheckpointLog.open(self.checkpoint_file, self.checkpoint_key_file, every=self.checkpoint_every)

    def audit_trail(self, db: str | Engine | None = None, *, clock: Callable[[], dt.datetime] | None = None) -> AuditTrail:
        """The audit trail of this home, with its signed head and checkpoint log.

        Parameters
        ----------
        db : str or Engine, optional
            The catalogue (default :attr:`db`).
        clock : callable, optional
            Returns the current UTC time.
        """
        return AuditTrail(
            connect(db if db is not None else self.db),
            read_key_file(self.audit_key_file),
            clock=clock,
            head_file=self.audit_head_file,
            checkpoints=self.checkpoint_log(),
        )
