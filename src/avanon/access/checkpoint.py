"""Signed checkpoints of the audit trail, appended to a file outside the database.

The keyed chain and the signed head (:mod:`avanon.access.audit`) show edits and a cut tail, but the
head is one file that is replaced on every append: an old copy put back, together with a database
cut to match, verifies. A checkpoint log keeps the history instead. Every ``every`` entries (and on
demand, ``avanon audit checkpoint``) the trail appends one line::

    {"count": N, "hash": H, "prev": P, "sig": S, "time": T}

``count`` and ``hash`` are the sequence number and keyed hash of entry ``N``, ``time`` is when the
checkpoint was written (UTC, ISO 8601), ``prev`` is the SHA-256 of the previous line's bytes
(:data:`GENESIS` for the first) and ``sig`` is an Ed25519 signature over
``b"avanon-audit-checkpoint\\x00"`` followed by the canonical JSON of the four other fields.

The log is opened with ``O_APPEND`` (and locked while a line is added), never rewritten; keep it on
storage the database writer cannot reach, ideally append-only (``chattr +a``) or copied off-site.
The signing key (raw Ed25519 private key, 64 hex characters, mode 0600) sits beside the audit HMAC
key; its public half is written beside it (``.pub``), so an auditor can check a copy of the log
with the public key alone (:func:`read_checkpoints`). A line that was edited, removed from the
middle or inserted no longer verifies; a database that no longer holds a checkpointed entry, or
holds a different one, is caught by :meth:`avanon.access.audit.AuditTrail.verify`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from avanon.errors import AccessError, ParameterError

GENESIS = "0" * 64
DEFAULT_EVERY = 100
_DOMAIN = b"avanon-audit-checkpoint\x00"
_SIGNED = ("count", "hash", "prev", "time")
_TAIL = 4096  # bytes read back from the end of the log to find the previous line [bytes]


@dataclass(frozen=True)
class Checkpoint:
    """One verified line of the checkpoint log.

    Attributes
    ----------
    line : int >= 1
        Line number in the log.
    count : int >= 0
        Number of audit entries the checkpoint covers (the sequence number of the newest one).
    hash : str
        Keyed hash of entry ``count`` (64 hex characters; :data:`GENESIS` for an empty trail).
    time : str
        When the checkpoint was written (UTC, ISO 8601).
    """

    line: int
    count: int
    hash: str
    time: str


def public_key_path(signing_key_file: Path) -> Path:
    """Where the public half of a signing key is kept: the same name with ``.pub``."""
    return Path(signing_key_file).with_suffix(".pub")


def write_signing_key(path: Path) -> None:
    """Create a fresh Ed25519 signing key (mode 0600) and its public key beside it; refuses to overwrite."""
    key = Ed25519PrivateKey.generate()
    fd = os.open(Path(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key.private_bytes_raw().hex() + "\n")
    public_key_path(path).write_text(key.public_key().public_bytes_raw().hex() + "\n", encoding="ascii")


def _read_hex_key(path: Path, what: str) -> bytes:
    try:
        raw = bytes.fromhex(Path(path).read_text(encoding="ascii").strip())
    except OSError as exc:
        raise AccessError(f"Cannot read the checkpoint {what} file {path}: {exc.strerror}.") from exc
    except ValueError as exc:
        raise ParameterError(f"The checkpoint {what} file {path} must hold 64 hexadecimal characters.") from exc
    if len(raw) != 32:
        raise ParameterError(f"The checkpoint {what} file {path} must hold 64 hexadecimal characters. Got {2 * len(raw)}.")
    return raw


def read_signing_key(path: Path) -> Ed25519PrivateKey:
    """Read the Ed25519 signing key written by :func:`write_signing_key`."""
    return Ed25519PrivateKey.from_private_bytes(_read_hex_key(path, "signing key"))


def read_public_key(path: Path) -> Ed25519PublicKey:
    """Read an Ed25519 public key (64 hex characters), e.g. the ``.pub`` beside the signing key."""
    return Ed25519PublicKey.from_public_bytes(_read_hex_key(path, "public key"))


def _payload(fields: dict[str, object]) -> bytes:
    return _DOMAIN + json.dumps({k: fields[k] for k in _SIGNED}, sort_keys=True, separators=(",", ":")).encode("ascii")


def _line_digest(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def read_checkpoints(path: Path, public_key: Ed25519PublicKey) -> tuple[list[Checkpoint], list[str]]:
    """Read and check a checkpoint log.

    Parameters
    ----------
    path : Path
        The log; a missing file reads as empty.
    public_key : Ed25519PublicKey
        The public half of the signing key.

    Returns
    -------
    checkpoints : list of Checkpoint
        Lines whose signature verifies, in file order.
    problems : list of str
        One sentence per line that cannot be read, was edited (bad signature) or does not follow
        the line before it (a line removed, inserted or reordered).
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        return [], [f"the checkpoint log {path} cannot be read ({exc.strerror})"]
    checkpoints: list[Checkpoint] = []
    problems: list[str] = []
    prev = GENESIS
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        problems.append(f"the last line of the checkpoint log {path} is incomplete (cut off while it was written, or edited)")
    for number, raw in enumerate(lines, start=1):
        try:
            fields = json.loads(raw)
            count, digest, time, chained, sig = int(fields["count"]), str(fields["hash"]), str(fields["time"]), str(fields["prev"]), str(fields["sig"])
            public_key.verify(bytes.fromhex(sig), _payload(fields))
        except (ValueError, KeyError, TypeError):
            problems.append(f"checkpoint line {number} of {path} cannot be read")
        except InvalidSignature:
            problems.append(f"checkpoint line {number} of {path} was edited: its signature does not verify")
        else:
            if chained != prev:
                problems.append(f"checkpoint line {number} of {path} does not follow the line before it (a line was removed, inserted or reordered)")
            checkpoints.append(Checkpoint(number, count, digest, time))
        prev = _line_digest(raw)
    return checkpoints, problems


class CheckpointLog:
    """The append-only, signed checkpoint log of one audit trail.

    Parameters
    ----------
    path : Path
        The log file (created on the first append, mode 0600).
    public_key : Ed25519PublicKey
        Verifies the lines.
    signing_key : Ed25519PrivateKey, optional
        Signs new lines; without it the log can be checked but not written.
    every : int > 0 [entries]
        A checkpoint is written when the trail reaches a multiple of ``every`` entries.
    """

    def __init__(self, path: Path, *, public_key: Ed25519PublicKey, signing_key: Ed25519PrivateKey | None = None, every: int = DEFAULT_EVERY) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ParameterError(f"The 'every' parameter must be an int in the range [1, inf) entries. Got {every!r} instead.")
        if signing_key is not None and signing_key.public_key().public_bytes_raw() != public_key.public_bytes_raw():
            raise ParameterError(f"The checkpoint signing key does not match the public key of {path}.")
        self.path = Path(path)
        self.every = every
        self.public_key = public_key
        self._signing_key = signing_key

    @classmethod
    def open(cls, path: Path, signing_key_file: Path, *, every: int = DEFAULT_EVERY) -> CheckpointLog:
        """The log at ``path`` signed with the key in ``signing_key_file`` (see :func:`write_signing_key`)."""
        key = read_signing_key(signing_key_file)
        return cls(path, public_key=key.public_key(), signing_key=key, every=every)

    def due(self, count: int) -> bool:
        """Whether the trail's entry ``count`` is one that gets a periodic checkpoint."""
        return count > 0 and count % self.every == 0

    def append(self, count: int, digest: str, time: str) -> Checkpoint:
        """Sign and append one checkpoint, chained to the line before it.

        Parameters
        ----------
        count : int >= 0
            Sequence number of the newest audit entry covered.
        digest : str
            Its keyed hash.
        time : str
            Current UTC time, ISO 8601.
        """
        if self._signing_key is None:
            raise AccessError(f"No checkpoint signing key: the checkpoint log {self.path} can be checked but not written.")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last, number, complete = self._last_line()
            fields: dict[str, object] = {"count": int(count), "hash": digest, "prev": _line_digest(last) if last is not None else GENESIS, "time": time}
            fields["sig"] = self._signing_key.sign(_payload(fields)).hex()
            line = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("ascii") + b"\n"
            if not complete:  # a line cut off by a crash stays visible as its own (unreadable) line
                line, number = b"\n" + line, number + 1
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock
        return Checkpoint(number + 1, int(count), digest, time)

    def _last_line(self) -> tuple[bytes | None, int, bool]:
        """The log's last line, the number of complete lines, and whether the file ends with a newline (read under the lock)."""
        with open(self.path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return None, 0, True
            handle.seek(0)
            number = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 16), b""))
            handle.seek(max(0, size - _TAIL))
            tail = handle.read()
        complete = tail.endswith(b"\n")
        return tail.removesuffix(b"\n").split(b"\n")[-1], number, complete

    def read(self) -> tuple[list[Checkpoint], list[str]]:
        """:func:`read_checkpoints` on this log."""
        return read_checkpoints(self.path, self.public_key)
