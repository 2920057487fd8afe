"""Chunk format: round trips, and every kind of tampering is detected and named."""

from __future__ import annotations

import io
import os
import struct

import pytest

from avanon.errors import AccessError, IntegrityError, ParameterError
from avanon.vault.crypto import (
    HEADER,
    NONCE_BYTES,
    TAG_BYTES,
    MasterKey,
    ScryptParams,
    decrypt_chunks,
    encrypt_stream,
    new_data_key,
    new_file_id,
)

CHUNK = 4096
RECORD = NONCE_BYTES + CHUNK + TAG_BYTES


def _encrypt(data: bytes, key: bytes, file_id: bytes) -> bytes:
    sink = io.BytesIO()
    encrypt_stream(io.BytesIO(data), sink, data_key=key, file_id=file_id, chunk_size=CHUNK)
    return sink.getvalue()


def _decrypt(blob: bytes, key: bytes, file_id: bytes) -> bytes:
    return b"".join(decrypt_chunks(io.BytesIO(blob), data_key=key, file_id=file_id, name="study/a.mp4"))


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17])
def test_round_trip_sizes(size: int) -> None:
    data = os.urandom(size)
    key, fid = new_data_key(), new_file_id()
    blob = _encrypt(data, key, fid)
    assert _decrypt(blob, key, fid) == data
    assert size < 16 or data[:64] not in blob  # a few random bytes can occur in any ciphertext by chance


def test_reports_size_and_sha256() -> None:
    import hashlib

    data = os.urandom(10_000)
    size, sha = encrypt_stream(io.BytesIO(data), io.BytesIO(), data_key=new_data_key(), file_id=new_file_id(), chunk_size=CHUNK)
    assert size == 10_000 and sha == hashlib.sha256(data).hexdigest()


def test_flipped_byte_is_detected_with_chunk_index() -> None:
    data = os.urandom(3 * CHUNK)
    key, fid = new_data_key(), new_file_id()
    blob = bytearray(_encrypt(data, key, fid))
    blob[HEADER.size + RECORD + 100] ^= 0x01
    with pytest.raises(IntegrityError, match="study/a.mp4 fails authentication at chunk 1"):
        _decrypt(bytes(blob), key, fid)


def test_reordered_chunks_are_detected() -> None:
    data = os.urandom(3 * CHUNK + 5)
    key, fid = new_data_key(), new_file_id()
    blob = _encrypt(data, key, fid)
    head, body = blob[: HEADER.size], blob[HEADER.size :]
    c0, c1, rest = body[:RECORD], body[RECORD : 2 * RECORD], body[2 * RECORD :]
    with pytest.raises(IntegrityError, match="chunk 0"):
        _decrypt(head + c1 + c0 + rest, key, fid)


def test_truncation_at_chunk_boundary_is_named_truncation() -> None:
    data = os.urandom(3 * CHUNK + 5)
    key, fid = new_data_key(), new_file_id()
    blob = _encrypt(data, key, fid)
    with pytest.raises(IntegrityError, match="truncated after chunk 1"):
        _decrypt(blob[: HEADER.size + 2 * RECORD], key, fid)
    with pytest.raises(IntegrityError, match="truncated"):
        _decrypt(blob[: HEADER.size - 3], key, fid)


def test_chunk_from_another_file_is_detected() -> None:
    key = new_data_key()
    a, b = new_file_id(), new_file_id()
    blob_a = _encrypt(os.urandom(2 * CHUNK), key, a)
    blob_b = _encrypt(os.urandom(2 * CHUNK), key, b)
    # Same key and position, other file: the header (file id) in the associated data differs.
    spliced = blob_a[: HEADER.size] + blob_b[HEADER.size : HEADER.size + RECORD] + blob_a[HEADER.size + RECORD :]
    with pytest.raises(IntegrityError, match="chunk 0"):
        _decrypt(spliced, key, a)
    with pytest.raises(IntegrityError, match="swapped"):
        _decrypt(blob_b, key, a)


def test_wrong_data_key_fails() -> None:
    fid = new_file_id()
    blob = _encrypt(b"x" * 100, new_data_key(), fid)
    with pytest.raises(IntegrityError):
        _decrypt(blob, new_data_key(), fid)


def test_header_chunk_size_cannot_be_changed() -> None:
    key, fid = new_data_key(), new_file_id()
    blob = bytearray(_encrypt(os.urandom(2 * CHUNK), key, fid))
    magic, version, file_id, _ = HEADER.unpack(bytes(blob[: HEADER.size]))
    blob[: HEADER.size] = HEADER.pack(magic, version, file_id, 8192)
    with pytest.raises(IntegrityError):
        _decrypt(bytes(blob), key, fid)
    bad = bytearray(blob)
    bad[:4] = b"NOPE"
    with pytest.raises(IntegrityError, match="not an avanon vault file"):
        _decrypt(bytes(bad), key, fid)


def test_master_key_wrap_binds_file_id_and_key() -> None:
    master = MasterKey(os.urandom(32), source="test")
    other = MasterKey(os.urandom(32), source="test")
    fid, dk = new_file_id(), new_data_key()
    wrapped = master.wrap(dk, fid)
    assert master.unwrap(wrapped, fid) == dk
    with pytest.raises(AccessError, match="wrong master key"):
        other.unwrap(wrapped, fid)
    with pytest.raises(AccessError):
        master.unwrap(wrapped, new_file_id())
    assert master.matches(master.key_check()) and not other.matches(master.key_check())


def test_passphrase_derivation_is_deterministic_per_salt() -> None:
    params = ScryptParams(salt=b"s" * 16, n=2**10)
    a = MasterKey.from_passphrase("correct horse", params)
    assert a.key_check() == MasterKey.from_passphrase("correct horse", params).key_check()
    assert a.key_check() != MasterKey.from_passphrase("correct horse", ScryptParams(salt=b"t" * 16, n=2**10)).key_check()
    assert a.key_check() != MasterKey.from_passphrase("wrong horse", params).key_check()
    with pytest.raises(ParameterError, match="power of two"):
        MasterKey.from_passphrase("x", ScryptParams(salt=b"s" * 16, n=1000))
    with pytest.raises(ParameterError, match="must not be empty"):
        MasterKey.from_passphrase("", params)


def test_key_file_formats(tmp_path) -> None:
    path = tmp_path / "vault.key"
    MasterKey.write_key_file(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    hex_key = MasterKey.from_key_file(path)
    raw = tmp_path / "raw.key"
    raw.write_bytes(bytes.fromhex(path.read_text().strip()))
    assert MasterKey.from_key_file(raw).key_check() == hex_key.key_check()
    with pytest.raises(FileExistsError):
        MasterKey.write_key_file(path)
    (tmp_path / "short.key").write_bytes(b"abc")
    with pytest.raises(ParameterError, match="32 raw bytes or 64 hex"):
        MasterKey.from_key_file(tmp_path / "short.key")
    with pytest.raises(ParameterError, match="chunk_size"):
        encrypt_stream(io.BytesIO(b""), io.BytesIO(), data_key=new_data_key(), file_id=new_file_id(), chunk_size=10)


def test_streaming_memory_is_bounded() -> None:
    """Encrypting 64 chunks never reads more than two chunks at a time from the source."""

    class Counting(io.RawIOBase):
        def __init__(self, total: int) -> None:
            self.left = total
            self.largest = 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            assert n > 0, "the whole stream was requested at once"
            self.largest = max(self.largest, n)
            step = min(n, self.left)
            self.left -= step
            return b"\0" * step

    source = Counting(64 * CHUNK)
    encrypt_stream(source, io.BytesIO(), data_key=new_data_key(), file_id=new_file_id(), chunk_size=CHUNK)
    assert source.largest <= CHUNK
    assert struct.calcsize(">QB") == 9
