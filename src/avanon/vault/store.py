"""The vault: an encrypted store of a lab's original recordings.

Layout of a vault directory::

    VAULT/
      vault.json          configuration, key check, studies and one record per stored file
      blobs/ab/<id>.avv   encrypted files (format in :mod:`avanon.vault.crypto`)
      .lock               advisory lock held while the configuration changes

A file record holds the file's data key wrapped by the master key and its metadata (relative path,
size, SHA-256) encrypted under its own data key, so the names of originals are not readable without
the key and disappear with it when the file is crypto-shredded. ``vault.json`` is always replaced
atomically (write to a temporary name, fsync, rename), so rotating the key is all or nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from avanon.errors import AccessError, IntegrityError, ParameterError
from avanon.vault.backup import backup_vault, restore_vault
from avanon.vault.crypto import (
    DEFAULT_CHUNK,
    MasterKey,
    ScryptParams,
    decrypt_chunks,
    encrypt_stream,
    new_data_key,
    new_file_id,
)
from avanon.vault.layout import CONFIG, READ_BLOCK, check_relpath, file_sha256, read_config, vault_lock, write_json_atomic
from avanon.vault.layout import now as utc_now

__all__ = ["CONFIG", "Problem", "StoredFile", "Vault", "backup_vault", "restore_vault"]


@dataclass(frozen=True)
class StoredFile:
    """One original held in the vault.

    Attributes
    ----------
    path : str
        Relative POSIX path inside the vault, ``STUDY/relative/path``.
    size : int [bytes]
        Plaintext size.
    sha256 : str
        Hex SHA-256 of the plaintext.
    file_id : str
        Random hex id (32 characters), also the blob's name.
    study : str
        Study the file belongs to.
    added : str
        ISO 8601 UTC time it was stored.
    delete_after : str or None
        ISO 8601 UTC time after which it is scheduled for disposal (consent withdrawal), if any.
    """

    path: str
    size: int
    sha256: str
    file_id: str
    study: str
    added: str
    delete_after: str | None = None


@dataclass(frozen=True)
class Problem:
    """A file that failed verification, and why."""

    path: str
    reason: str


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


def _key_from(config: dict[str, object], *, passphrase: str | None, key_file: Path | None) -> MasterKey:
    kdf = config["kdf"]
    assert isinstance(kdf, dict)
    if kdf.get("kdf") == "keyfile":
        if key_file is None:
            raise AccessError("This vault is locked with a key file: pass --key-file (or AVANON_VAULT_KEY_FILE).")
        return MasterKey.from_key_file(key_file)
    if passphrase is None:
        raise AccessError("This vault is locked with a passphrase: set AVANON_VAULT_PASSPHRASE or type it when asked.")
    return MasterKey.from_passphrase(passphrase, ScryptParams.from_json(kdf))


def _new_kdf(*, passphrase: str | None, key_file: Path | None, scrypt_n: int) -> tuple[dict[str, object], MasterKey]:
    if (passphrase is None) == (key_file is None):
        raise ParameterError("Give exactly one of a passphrase or a key file for the vault master key.")
    if key_file is not None:
        return {"kdf": "keyfile"}, MasterKey.from_key_file(key_file)
    params = ScryptParams(salt=secrets.token_bytes(16), n=scrypt_n)
    assert passphrase is not None
    return params.to_json(), MasterKey.from_passphrase(passphrase, params)


class Vault:
    """An opened vault; every method that reads plaintext needs the master key given at opening.

    Use :meth:`init` to create one and :meth:`open` to unlock an existing one.
    """

    def __init__(self, root: Path, key: MasterKey, config: dict[str, object]) -> None:
        self.root = Path(root)
        self._key = key
        self._config = config

    # ------------------------------------------------------------------ creation and opening
    @classmethod
    def init(cls, root: Path, *, passphrase: str | None = None, key_file: Path | None = None, chunk_size: int = DEFAULT_CHUNK, scrypt_n: int = 2**15) -> Vault:
        """Create an empty vault in ``root`` (a new or empty directory).

        Parameters
        ----------
        root : Path
            Vault directory.
        passphrase : str, optional
            Master passphrase (scrypt-derived key). Exactly one of ``passphrase`` and ``key_file``.
        key_file : Path, optional
            File with a 32-byte key (see :meth:`MasterKey.write_key_file`).
        chunk_size : int in [4096, 67108864] [bytes]
            Plaintext bytes per encrypted chunk.
        scrypt_n : int, power of two >= 1024
            scrypt cost for passphrase vaults.
        """
        root = Path(root)
        if root.exists() and any(root.iterdir()):
            raise ParameterError(f"Cannot create a vault in {root}: the directory is not empty.")
        kdf, key = _new_kdf(passphrase=passphrase, key_file=key_file, scrypt_n=scrypt_n)
        if not 4096 <= chunk_size <= 64 * 1024 * 1024:
            raise ParameterError(f"The 'chunk_size' parameter must be an int in the range [4096, 67108864] bytes. Got {chunk_size} instead.")
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        (root / "blobs").mkdir()
        config: dict[str, object] = {
            "format": "avanon-vault",
            "version": 1,
            "kdf": kdf,
            "key_check": key.key_check(),
            "chunk_size": chunk_size,
            "studies": {},
            "files": {},
        }
        write_json_atomic(root / CONFIG, config)
        return cls(root, key, config)

    @classmethod
    def open(cls, root: Path, *, passphrase: str | None = None, key_file: Path | None = None) -> Vault:
        """Unlock an existing vault; a wrong passphrase or key file raises :class:`AccessError`."""
        root = Path(root)
        config = read_config(root)
        key = _key_from(config, passphrase=passphrase, key_file=key_file)
        if not key.matches(str(config["key_check"])):
            raise AccessError(f"Wrong master key for the vault in {root} ({key.source}).")
        return cls(root, key, config)

    @contextmanager
    def _locked(self) -> Iterator[dict[str, object]]:
        """Hold the vault lock, reload the configuration, and write it back atomically on success."""
        with vault_lock(self.root):
            config = read_config(self.root)
            yield config
            write_json_atomic(self.root / CONFIG, config)
            self._config = config

    @property
    def _records(self) -> dict[str, dict[str, object]]:
        files = self._config["files"]
        assert isinstance(files, dict)
        return files

    # ------------------------------------------------------------------ adding
    def add_study(self, study_dir: Path, *, study: str | None = None, retention_until: dt.date | None = None) -> list[StoredFile]:
        """Encrypt every regular file under ``study_dir`` into the vault; the source is left untouched.

        Parameters
        ----------
        study_dir : Path
            Directory with the originals; symbolic links are refused.
        study : str, optional
            Study name; defaults to the directory name.
        retention_until : datetime.date, optional
            Last day the originals may be kept; :meth:`purge` disposes of them after it.

        Returns
        -------
        list of StoredFile
            The stored files, sorted by path.
        """
        study_dir = Path(study_dir)
        if not study_dir.is_dir():
            raise ParameterError(f"Study directory {study_dir} does not exist or is not a directory.")
        name = study or study_dir.name
        check_relpath(name)
        sources = sorted(p for p in study_dir.rglob("*") if not p.is_dir())
        for source in sources:
            if source.is_symlink() or not source.is_file():
                raise AccessError(f"Refusing {source}: only regular files are stored (no links or devices).")
        stored = [self.add_file(source, f"{name}/{source.relative_to(study_dir).as_posix()}", study=name) for source in sources]
        if retention_until is not None:
            self.set_retention(name, retention_until)
        return stored

    def add_file(self, source: Path | BinaryIO, relpath: str, *, study: str) -> StoredFile:
        """Encrypt one file (a path or a readable binary object) under ``relpath``."""
        relpath = check_relpath(relpath)
        if any(f.path == relpath for f in self.files()):
            raise ParameterError(f"The vault already holds {relpath}; remove or purge it before storing it again.")
        file_id = new_file_id()
        data_key = new_data_key()
        blob = self._blob(file_id.hex())
        blob.parent.mkdir(parents=True, exist_ok=True)
        tmp = blob.with_name(blob.name + ".tmp")
        chunk_size = int(self._config["chunk_size"])  # type: ignore[call-overload]
        with open(tmp, "wb") as sink:
            if isinstance(source, (str, os.PathLike)):
                with open(source, "rb") as handle:
                    size, sha = encrypt_stream(handle, sink, data_key=data_key, file_id=file_id, chunk_size=chunk_size)
            else:
                size, sha = encrypt_stream(source, sink, data_key=data_key, file_id=file_id, chunk_size=chunk_size)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(tmp, blob)
        added = utc_now().isoformat(timespec="seconds")
        meta = json.dumps({"path": relpath, "size": size, "sha256": sha, "added": added}).encode("utf-8")
        nonce = secrets.token_bytes(12)
        sealed = nonce + AESGCM(data_key).encrypt(nonce, meta, b"avanon-vault meta|" + file_id)
        with self._locked() as config:
            files = config["files"]
            studies = config["studies"]
            assert isinstance(files, dict) and isinstance(studies, dict)
            files[file_id.hex()] = {"study": study, "wrapped_key": _b64(self._key.wrap(data_key, file_id)), "meta": _b64(sealed), "delete_after": None}
            studies.setdefault(study, {"retention_until": None})
        return StoredFile(relpath, size, sha, file_id.hex(), study, added)

    # ------------------------------------------------------------------ listing and reading
    def _blob(self, file_id: str) -> Path:
        return self.root / "blobs" / file_id[:2] / f"{file_id}.avv"

    def _data_key(self, file_id: str, record: dict[str, object]) -> bytes:
        return self._key.unwrap(_unb64(str(record["wrapped_key"])), bytes.fromhex(file_id))

    def _stored(self, file_id: str, record: dict[str, object]) -> StoredFile:
        data_key = self._data_key(file_id, record)
        sealed = _unb64(str(record["meta"]))
        try:
            meta = json.loads(AESGCM(data_key).decrypt(sealed[:12], sealed[12:], b"avanon-vault meta|" + bytes.fromhex(file_id)))
        except InvalidTag:
            raise IntegrityError(f"The metadata of vault file {file_id} fails authentication: the record was altered.") from None
        return StoredFile(meta["path"], int(meta["size"]), meta["sha256"], file_id, str(record["study"]), meta["added"], record.get("delete_after"))  # type: ignore[arg-type]

    def files(self, study: str | None = None) -> list[StoredFile]:
        """List stored files (relative path, size, SHA-256, ...), sorted by path.

        Parameters
        ----------
        study : str, optional
            Only this study's files.
        """
        return sorted((self._stored(fid, rec) for fid, rec in self._records.items() if study in (None, rec["study"])), key=lambda f: f.path)

    def studies(self) -> dict[str, str | None]:
        """Map each study to its retention date (ISO 8601) or None."""
        studies = self._config["studies"]
        assert isinstance(studies, dict)
        return {name: info.get("retention_until") for name, info in sorted(studies.items())}

    def find(self, path: str) -> StoredFile:
        """Return the stored file at ``path`` (relative path or file id)."""
        for stored in self.files():
            if path in (stored.path, stored.file_id):
                return stored
        raise ParameterError(f"The vault holds no file {path!r}.")

    def iter_plaintext(self, path: str) -> Iterator[bytes]:
        """Yield the plaintext of a stored file chunk by chunk, authenticating each chunk.

        The SHA-256 of the whole file is checked when the last chunk has been read.
        """
        stored = self.find(path)
        data_key = self._data_key(stored.file_id, self._records[stored.file_id])
        digest = hashlib.sha256()
        size = 0
        blob = self._blob(stored.file_id)
        if not blob.is_file():
            raise IntegrityError(f"Vault file {stored.path} is missing its encrypted data ({blob.relative_to(self.root)}).")
        with open(blob, "rb") as handle:
            for chunk in decrypt_chunks(handle, data_key=data_key, file_id=bytes.fromhex(stored.file_id), name=stored.path):
                digest.update(chunk)
                size += len(chunk)
                yield chunk
        if size != stored.size or digest.hexdigest() != stored.sha256:
            raise IntegrityError(
                f"Vault file {stored.path} decrypts to {size} bytes with SHA-256 {digest.hexdigest()}, "
                f"but {stored.size} bytes with {stored.sha256} were stored."
            )

    def decrypt_to(self, path: str, sink: BinaryIO) -> StoredFile:
        """Decrypt one stored file into a caller-provided binary file object (nothing is written to disk).

        Parameters
        ----------
        path : str
            Relative vault path (``STUDY/...``) or file id.
        sink : binary file object
            Receives the plaintext; with a pipe or an in-memory buffer the original never touches disk.

        Returns
        -------
        StoredFile
            The record of the file written.
        """
        for chunk in self.iter_plaintext(path):
            sink.write(chunk)
        return self.find(path)

    def get(self, path: str, dest: Path) -> StoredFile:
        """Write a decrypted copy of one original to ``dest`` (which must not exist), on explicit request."""
        dest = Path(dest)
        if dest.exists():
            raise ParameterError(f"Refusing to overwrite {dest}.")
        tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as sink:
                stored = self.decrypt_to(path, sink)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return stored

    def verify(self) -> list[Problem]:
        """Decrypt and hash every stored file; return the problems found (empty when all is well)."""
        problems = []
        for file_id, record in sorted(self._records.items()):
            try:
                stored = self._stored(file_id, record)
            except (AccessError, IntegrityError) as exc:
                problems.append(Problem(file_id, str(exc)))
                continue
            try:
                for _ in self.iter_plaintext(stored.file_id):
                    pass
            except (IntegrityError, AccessError) as exc:
                problems.append(Problem(stored.path, str(exc)))
        known = {self._blob(fid) for fid in self._records}
        for blob in sorted((self.root / "blobs").rglob("*.avv")):
            if blob not in known:
                problems.append(Problem(blob.relative_to(self.root).as_posix(), "encrypted file with no record in vault.json"))
        return problems

    # ------------------------------------------------------------------ keys
    def rotate_key(self, *, passphrase: str | None = None, key_file: Path | None = None, scrypt_n: int = 2**15) -> int:
        """Rewrap every data key under a new master key; the encrypted files are not rewritten.

        Returns
        -------
        int
            Number of data keys rewrapped.
        """
        kdf, new_key = _new_kdf(passphrase=passphrase, key_file=key_file, scrypt_n=scrypt_n)
        with self._locked() as config:
            files = config["files"]
            assert isinstance(files, dict)
            for file_id, record in files.items():
                data_key = self._data_key(file_id, record)
                record["wrapped_key"] = _b64(new_key.wrap(data_key, bytes.fromhex(file_id)))
            config["kdf"] = kdf
            config["key_check"] = new_key.key_check()
        self._key = new_key
        return len(files)

    # ------------------------------------------------------------------ retention and disposal
    def set_retention(self, study: str, until: dt.date | None) -> None:
        """Set the last day the originals of ``study`` may be kept (None: keep until changed)."""
        with self._locked() as config:
            studies = config["studies"]
            assert isinstance(studies, dict)
            if study not in studies:
                raise ParameterError(f"The vault holds no study {study!r}. Known studies: {sorted(studies)}.")
            studies[study]["retention_until"] = None if until is None else until.isoformat()

    def schedule_deletion(self, paths: list[str], *, when: dt.datetime | None = None) -> list[StoredFile]:
        """Schedule originals for disposal at ``when`` (default now), e.g. after consent is withdrawn."""
        targets = [self.find(p) for p in paths]
        moment = (when or utc_now()).isoformat(timespec="seconds")
        with self._locked() as config:
            files = config["files"]
            assert isinstance(files, dict)
            for stored in targets:
                files[stored.file_id]["delete_after"] = moment
        return [self.find(s.file_id) for s in targets]

    def due_for_disposal(self, *, now: dt.datetime | None = None) -> list[StoredFile]:
        """Files past their study's retention date or past their scheduled deletion time."""
        now = now or utc_now()
        due = []
        for stored in self.files():
            until = self.studies().get(stored.study)
            if until is not None and dt.date.fromisoformat(until) < now.date():
                due.append(stored)
            elif stored.delete_after is not None and dt.datetime.fromisoformat(stored.delete_after) <= now:
                due.append(stored)
        return due

    def purge(self, *, now: dt.datetime | None = None) -> dict[str, object]:
        """Dispose of every file due (see :meth:`due_for_disposal`) by crypto-shredding.

        The wrapped data key and encrypted metadata are removed from ``vault.json`` first (the
        ciphertext is unreadable from then on), then the ciphertext is overwritten and deleted.
        Backups made before the purge still hold the wrapped keys; purge them too.

        Returns
        -------
        dict
            A disposal certificate: time, method, and per file its id, study, size, plaintext and
            ciphertext SHA-256 (no path, so the certificate does not name participants).
        """
        due = self.due_for_disposal(now=now)
        disposed = []
        for stored in due:
            blob = self._blob(stored.file_id)
            cipher_sha = file_sha256(blob) if blob.is_file() else None
            disposed.append({"file_id": stored.file_id, "study": stored.study, "size": stored.size, "sha256": stored.sha256, "ciphertext_sha256": cipher_sha})
        with self._locked() as config:
            files = config["files"]
            assert isinstance(files, dict)
            for stored in due:
                files.pop(stored.file_id, None)
        for stored in due:
            blob = self._blob(stored.file_id)
            if blob.is_file():
                _overwrite(blob)
                blob.unlink()
        return {
            "certificate": "avanon disposal certificate",
            "time": (now or utc_now()).isoformat(timespec="seconds"),
            "method": "crypto-shredding: data keys destroyed, ciphertext overwritten and deleted",
            "files": disposed,
        }

    # ------------------------------------------------------------------ backup
    def backup(self, archive: Path) -> Path:
        """Write the vault (still encrypted) to a tar archive; see :func:`backup_vault`."""
        return backup_vault(self.root, archive)

    @staticmethod
    def restore(archive: Path, root: Path) -> list[str]:
        """Restore a backup made by :meth:`backup` into a new or empty directory; see :func:`restore_vault`."""
        return restore_vault(archive, root)


def _overwrite(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        remaining = size
        while remaining > 0:
            step = min(remaining, READ_BLOCK)
            handle.write(secrets.token_bytes(step))
            remaining -= step
        handle.flush()
        os.fsync(handle.fileno())
