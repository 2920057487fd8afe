"""The study secret and what is derived from it: pseudonyms and per-speaker seeds.

A study secret is 32 random bytes. It keys every pseudonym (speaker ids, file ids) and every
pseudo-voice, so that the same secret gives the same pseudonyms and voices in every run, and a run
with another secret gives unrelated ones. It belongs to the data steward: it is written to a private
folder *outside* the release (by convention ``OUT.parent / (OUT.name + ".steward")``), readable by its
owner only, and never copied into the output.

For tests and reproducible demonstrations a seed derives the secret deterministically instead; such
a secret protects nothing against someone who knows the seed, so the seed must not be published
with a release meant to be private.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets as _random
import stat
from pathlib import Path

from avanon.errors import AccessError, IntegrityError, ParameterError

SECRET_BYTES = 32
SECRET_FILE = "study_secret.hex"
_PSEUDONYM_CHARS = 10  # base32 characters: 50 bits


def study_secret(steward_dir: Path, seed: int | None) -> bytes:
    """The study secret: derived from ``seed``, or read from / created in ``steward_dir``.

    Parameters
    ----------
    steward_dir : Path
        The steward's private folder (created with mode 0700 if missing). Ignored when ``seed`` is
        given. The secret lives in ``steward_dir / "study_secret.hex"`` with mode 0600.
    seed : int or None
        If given, the secret is ``SHA-256("avanon-study-secret" | seed)``: reproducible, for tests.

    Returns
    -------
    bytes, length 32

    Raises
    ------
    AccessError
        If an existing secret file is readable or writable by group or others.
    IntegrityError
        If an existing secret file is not 64 hexadecimal characters.
    """
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ParameterError(f"The 'seed' must be an int or None. Got {seed!r} instead.")
        return hashlib.sha256(f"avanon-study-secret\x00{seed}".encode()).digest()
    steward_dir = Path(steward_dir)
    steward_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = steward_dir / SECRET_FILE
    if not path.exists():
        value = _random.token_bytes(SECRET_BYTES)
        tmp = steward_dir / f".{SECRET_FILE}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, value.hex().encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic, and fails if another process created the secret first
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise AccessError(f"The study secret {path} has permissions {oct(mode)}; it must be readable by its owner only (0600). Fix with `chmod 600 {path}`.")
    text = path.read_text(encoding="ascii").strip()
    try:
        value = bytes.fromhex(text)
    except ValueError:
        value = b""
    if len(value) != SECRET_BYTES:
        raise IntegrityError(f"The study secret {path} must hold {2 * SECRET_BYTES} hexadecimal characters; it does not.")
    return value


def _mac(secret: bytes, *parts: str) -> bytes:
    if not isinstance(secret, bytes) or len(secret) < 16:
        raise ParameterError(
            f"A study secret must be bytes of length >= 16. Got {type(secret).__name__} of length {len(secret) if isinstance(secret, bytes) else '-'}."
        )
    return hmac.new(secret, "\x00".join(parts).encode("utf-8"), hashlib.sha256).digest()


def pseudonym(secret: bytes, kind: str, key: str) -> str:
    """A short, readable, stable pseudonym for ``key`` in the namespace ``kind``.

    HMAC-SHA256 of ``kind`` and ``key`` under the secret, written as 10 lowercase base32 characters
    (letters a-z and digits 2-7, 50 bits), so it is a valid BIDS label. Different kinds (``"sub"``,
    ``"file"``, ``"speaker"``) give unrelated pseudonyms for the same key.

    Examples
    --------
    >>> s = study_secret(Path("."), seed=1)
    >>> pseudonym(s, "sub", "sub-01") == pseudonym(s, "sub", "sub-01")
    True
    """
    if not kind:
        raise ParameterError("The 'kind' of a pseudonym must be a non-empty string. Got '' instead.")
    digest = _mac(secret, "pseudonym", kind, key)
    return base64.b32encode(digest).decode("ascii").lower()[:_PSEUDONYM_CHARS]


def derive_seed(secret: bytes, label: str) -> int:
    """A non-negative 63-bit integer seed for ``label`` (for example ``"voice"``), keyed by the secret."""
    return int.from_bytes(_mac(secret, "seed", label)[:8], "big") >> 1
