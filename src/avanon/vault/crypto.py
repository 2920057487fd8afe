"""Authenticated, streamed encryption of originals: master keys, data keys and the chunk format.

Every stored file has its own random 256-bit data key. The data key is wrapped (AES-256-GCM) by the
vault's master key, which is derived from a passphrase with scrypt or read from a key file. Rotating
the master key therefore rewraps the small data keys and never touches the encrypted media.

A file is encrypted in chunks so that a one-hour video never sits in memory::

    header  = MAGIC (4 bytes) | version (1) | file id (16) | chunk size (4, big-endian)
    chunk_i = nonce (12) | AES-256-GCM(data key, nonce, plaintext_i, aad_i) (len(plaintext_i) + 16)
    aad_i   = header | chunk index (8, big-endian) | final flag (1)

The associated data binds each chunk to its file, its position and to whether it is the last one, so
chunks cannot be swapped between files, reordered, dropped, or the stream cut short at a chunk
boundary without the decryption failing. Plaintext only ever exists in memory, one chunk at a time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from avanon.errors import AccessError, IntegrityError, ParameterError

MAGIC = b"AVV1"
FORMAT_VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
FILE_ID_BYTES = 16
HEADER = struct.Struct(">4sB16sI")
MIN_CHUNK = 4096
MAX_CHUNK = 64 * 1024 * 1024
DEFAULT_CHUNK = 1024 * 1024
KEY_CHECK_LABEL = b"avanon-vault key check v1"


@dataclass(frozen=True)
class ScryptParams:
    """Cost parameters of the scrypt key derivation (RFC 7914).

    Parameters
    ----------
    salt : bytes, 16 bytes or more
        Random salt stored in the vault's configuration.
    n : int, power of two >= 2**10
        CPU/memory cost; memory used is ``128 * n * r`` bytes.
    r : int >= 1
        Block size.
    p : int >= 1
        Parallelisation.
    """

    salt: bytes
    n: int = 2**15
    r: int = 8
    p: int = 1

    def to_json(self) -> dict[str, object]:
        """Return a JSON-serialisable description (salt in hex)."""
        return {"kdf": "scrypt", "salt": self.salt.hex(), "n": self.n, "r": self.r, "p": self.p}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> ScryptParams:
        """Read parameters written by :meth:`to_json`."""
        return cls(salt=bytes.fromhex(str(data["salt"])), n=int(data["n"]), r=int(data["r"]), p=int(data["p"]))  # type: ignore[arg-type]


class MasterKey:
    """The 256-bit key that wraps every data key of a vault.

    Build it with :meth:`from_passphrase` or :meth:`from_key_file`; the raw bytes are kept in memory
    only.
    """

    __slots__ = ("_key", "source")

    def __init__(self, key: bytes, *, source: str) -> None:
        if len(key) != KEY_BYTES:
            raise ParameterError(f"A master key must be {KEY_BYTES} bytes long. Got {len(key)} bytes (from {source}).")
        self._key = bytes(key)
        self.source = source

    @classmethod
    def from_passphrase(cls, passphrase: str, params: ScryptParams) -> MasterKey:
        """Derive the key from a passphrase with scrypt.

        Parameters
        ----------
        passphrase : str, non-empty
            The vault passphrase (UTF-8).
        params : ScryptParams
            Salt and costs stored in the vault.
        """
        if not passphrase:
            raise ParameterError("The vault passphrase must not be empty.")
        if params.n < 2**10 or params.n & (params.n - 1):
            raise ParameterError(f"The scrypt 'n' parameter must be a power of two >= 1024. Got {params.n} instead.")
        maxmem = 256 * params.n * params.r + (1 << 20)
        key = hashlib.scrypt(passphrase.encode("utf-8"), salt=params.salt, n=params.n, r=params.r, p=params.p, maxmem=maxmem, dklen=KEY_BYTES)
        return cls(key, source="passphrase")

    @classmethod
    def from_key_file(cls, path: Path) -> MasterKey:
        """Read a key file holding 32 raw bytes or 64 hexadecimal characters.

        Parameters
        ----------
        path : Path
            Key file, readable only by its owner.
        """
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise AccessError(f"Cannot read the vault key file {path}: {exc.strerror}.") from exc
        text = data.strip()
        if len(text) == 2 * KEY_BYTES:
            try:
                return cls(bytes.fromhex(text.decode("ascii")), source=f"key file {path.name}")
            except (ValueError, UnicodeDecodeError):
                pass
        if len(data) == KEY_BYTES:
            return cls(data, source=f"key file {path.name}")
        raise ParameterError(f"The vault key file {path} must hold 32 raw bytes or 64 hex characters. Got {len(data)} bytes.")

    @staticmethod
    def write_key_file(path: Path) -> None:
        """Create a new random key file (64 hex characters, mode 0600); refuses to overwrite one."""
        path = Path(path)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(KEY_BYTES) + "\n")

    def key_check(self) -> str:
        """Return a keyed check value (hex) that tells a right key from a wrong one without revealing it."""
        return hmac.new(self._key, KEY_CHECK_LABEL, hashlib.sha256).hexdigest()

    def matches(self, check: str) -> bool:
        """Whether this key produced the stored check value ``check``."""
        return hmac.compare_digest(self.key_check(), check)

    def wrap(self, data_key: bytes, file_id: bytes) -> bytes:
        """Encrypt a data key for one file; the file id is bound as associated data."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + AESGCM(self._key).encrypt(nonce, data_key, b"avanon-vault data key|" + file_id)

    def unwrap(self, wrapped: bytes, file_id: bytes) -> bytes:
        """Decrypt a data key wrapped by :meth:`wrap`; raises :class:`AccessError` on a wrong key."""
        try:
            return AESGCM(self._key).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], b"avanon-vault data key|" + file_id)
        except InvalidTag as exc:
            raise AccessError(f"The data key of vault file {file_id.hex()} cannot be unwrapped: wrong master key or tampered key record.") from exc


def new_data_key() -> bytes:
    """Return a fresh random 256-bit data key."""
    return secrets.token_bytes(KEY_BYTES)


def new_file_id() -> bytes:
    """Return a fresh random 128-bit file id."""
    return secrets.token_bytes(FILE_ID_BYTES)


def _aad(header: bytes, index: int, final: bool) -> bytes:
    return header + struct.pack(">QB", index, 1 if final else 0)


def _read_exact(source: BinaryIO, size: int) -> bytes:
    parts = []
    remaining = size
    while remaining > 0:
        part = source.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def encrypt_stream(source: BinaryIO, sink: BinaryIO, *, data_key: bytes, file_id: bytes, chunk_size: int = DEFAULT_CHUNK) -> tuple[int, str]:
    """Encrypt ``source`` into ``sink`` chunk by chunk.

    Parameters
    ----------
    source : binary file object
        Plaintext, read sequentially.
    sink : binary file object
        Receives the header and the encrypted chunks.
    data_key : bytes, 32 bytes
        The file's data key.
    file_id : bytes, 16 bytes
        The file's id, bound into every chunk.
    chunk_size : int in [4096, 67108864] [bytes]
        Plaintext bytes per chunk.

    Returns
    -------
    size : int [bytes]
        Plaintext size.
    sha256 : str
        Hex SHA-256 of the plaintext.
    """
    if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
        raise ParameterError(f"The 'chunk_size' parameter must be an int in the range [{MIN_CHUNK}, {MAX_CHUNK}] bytes. Got {chunk_size} instead.")
    header = HEADER.pack(MAGIC, FORMAT_VERSION, file_id, chunk_size)
    sink.write(header)
    aead = AESGCM(data_key)
    digest = hashlib.sha256()
    size = 0
    index = 0
    current = _read_exact(source, chunk_size)
    while True:
        following = _read_exact(source, chunk_size) if len(current) == chunk_size else b""
        final = not following
        digest.update(current)
        size += len(current)
        nonce = secrets.token_bytes(NONCE_BYTES)
        sink.write(nonce + aead.encrypt(nonce, current, _aad(header, index, final)))
        if final:
            return size, digest.hexdigest()
        current = following
        index += 1


def read_header(source: BinaryIO, *, name: str) -> tuple[bytes, bytes, int]:
    """Read and check a vault file header; returns (raw header, file id, chunk size)."""
    header = _read_exact(source, HEADER.size)
    if len(header) != HEADER.size:
        raise IntegrityError(f"Vault file {name} is truncated: its header is {len(header)} of {HEADER.size} bytes.")
    magic, version, file_id, chunk_size = HEADER.unpack(header)
    if magic != MAGIC or version != FORMAT_VERSION:
        raise IntegrityError(f"Vault file {name} is not an avanon vault file (magic {magic!r}, version {version}; expected {MAGIC!r}, {FORMAT_VERSION}).")
    if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
        raise IntegrityError(f"Vault file {name} has an impossible chunk size {chunk_size} in its header.")
    return header, file_id, chunk_size


def decrypt_chunks(source: BinaryIO, *, data_key: bytes, file_id: bytes, name: str) -> Iterator[bytes]:
    """Yield the plaintext of a vault file one chunk at a time.

    Every chunk is authenticated before it is yielded; a chunk that was altered, moved, taken from
    another file, or a stream that ends before its final chunk raises :class:`IntegrityError` naming
    ``name`` and the chunk index.

    Parameters
    ----------
    source : binary file object
        The encrypted file, positioned at its start.
    data_key : bytes, 32 bytes
        The unwrapped data key.
    file_id : bytes, 16 bytes
        The id the file must carry.
    name : str
        Name used in error messages (a relative path or file id, never an identifying name).
    """
    header, stored_id, chunk_size = read_header(source, name=name)
    if stored_id != file_id:
        raise IntegrityError(f"Vault file {name} carries file id {stored_id.hex()}, expected {file_id.hex()}: the file was swapped.")
    aead = AESGCM(data_key)
    record = NONCE_BYTES + chunk_size + TAG_BYTES
    index = 0
    block = _read_exact(source, record)
    while True:
        if len(block) < NONCE_BYTES + TAG_BYTES:
            raise IntegrityError(f"Vault file {name} is truncated at chunk {index}: {len(block)} bytes where at least {NONCE_BYTES + TAG_BYTES} are needed.")
        following = _read_exact(source, record) if len(block) == record else b""
        final = not following
        nonce, body = block[:NONCE_BYTES], block[NONCE_BYTES:]
        try:
            plain = aead.decrypt(nonce, body, _aad(header, index, final))
        except InvalidTag:
            if final and _opens(aead, nonce, body, _aad(header, index, False)):
                raise IntegrityError(f"Vault file {name} is truncated after chunk {index}: its final chunk is missing.") from None
            raise IntegrityError(
                f"Vault file {name} fails authentication at chunk {index}: the chunk was altered, reordered or taken from another file."
            ) from None
        yield plain
        if final:
            return
        block = following
        index += 1


def _opens(aead: AESGCM, nonce: bytes, body: bytes, aad: bytes) -> bool:
    try:
        aead.decrypt(nonce, body, aad)
    except InvalidTag:
        return False
    return True
