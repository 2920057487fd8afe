"""The vault: add, list, read, verify, rotate, back up, restore and purge originals."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from avanon.errors import AccessError, IntegrityError, ParameterError
from avanon.vault import Vault, unlock
from avanon.vault.crypto import MasterKey

PASS = "lab passphrase 2024"
CHUNK = 4096


@pytest.fixture()
def study(tmp_path: Path) -> Path:
    root = tmp_path / "study1"
    (root / "session 1").mkdir(parents=True)
    (root / "session 1" / "kamera_ä.mp4").write_bytes(os.urandom(5 * CHUNK + 123))
    (root / "session 1" / "mic.wav").write_bytes(os.urandom(CHUNK))
    (root / "notes.txt").write_bytes(b"")
    return root


@pytest.fixture()
def vault(tmp_path: Path, study: Path) -> Vault:
    v = Vault.init(tmp_path / "vault", passphrase=PASS, chunk_size=CHUNK, scrypt_n=2**10)
    v.add_study(study)
    return v


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_add_and_list(vault: Vault, study: Path) -> None:
    files = vault.files()
    assert [f.path for f in files] == ["study1/notes.txt", "study1/session 1/kamera_ä.mp4", "study1/session 1/mic.wav"]
    by_path = {f.path: f for f in files}
    original = study / "session 1" / "kamera_ä.mp4"
    assert by_path["study1/session 1/kamera_ä.mp4"].sha256 == _sha(original)
    assert by_path["study1/session 1/kamera_ä.mp4"].size == original.stat().st_size
    assert vault.files(study="other") == []


def test_names_and_plaintext_are_not_on_disk(vault: Vault, study: Path) -> None:
    blobs = b"".join(p.read_bytes() for p in (vault.root / "blobs").rglob("*.avv"))
    config = (vault.root / "vault.json").read_text(encoding="utf-8")
    assert "kamera" not in config and "session 1" not in config
    assert (study / "session 1" / "mic.wav").read_bytes()[:256] not in blobs


def test_decrypt_to_buffer_is_byte_identical(vault: Vault, study: Path) -> None:
    sink = io.BytesIO()
    stored = vault.decrypt_to("study1/session 1/kamera_ä.mp4", sink)
    assert sink.getvalue() == (study / "session 1" / "kamera_ä.mp4").read_bytes()
    assert stored.file_id and vault.find(stored.file_id).path == stored.path


def test_get_writes_copy_and_refuses_overwrite(vault: Vault, study: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out.wav"
    vault.get("study1/session 1/mic.wav", dest)
    assert dest.read_bytes() == (study / "session 1" / "mic.wav").read_bytes()
    with pytest.raises(ParameterError, match="overwrite"):
        vault.get("study1/session 1/mic.wav", dest)
    with pytest.raises(ParameterError, match="holds no file"):
        vault.get("study1/missing.wav", tmp_path / "x")


def test_wrong_passphrase_and_missing_key(vault: Vault, tmp_path: Path) -> None:
    with pytest.raises(AccessError, match="Wrong master key"):
        Vault.open(vault.root, passphrase="not it")
    with pytest.raises(AccessError, match="passphrase"):
        Vault.open(vault.root)
    assert len(Vault.open(vault.root, passphrase=PASS).files()) == 3


def test_unlock_from_environment(vault: Vault, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVANON_VAULT_PASSPHRASE", PASS)
    assert len(unlock(vault.root).files()) == 3


def test_verify_clean_then_detects_tampering(vault: Vault) -> None:
    assert vault.verify() == []
    target = vault.find("study1/session 1/kamera_ä.mp4")
    blob = vault.root / "blobs" / target.file_id[:2] / f"{target.file_id}.avv"
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x80
    blob.write_bytes(bytes(data))
    problems = vault.verify()
    assert [p.path for p in problems] == ["study1/session 1/kamera_ä.mp4"]
    assert "fails authentication at chunk" in problems[0].reason
    with pytest.raises(IntegrityError, match="kamera"):
        vault.decrypt_to(target.path, io.BytesIO())


def test_verify_detects_truncation_swap_and_loss(vault: Vault) -> None:
    a = vault.find("study1/session 1/kamera_ä.mp4")
    b = vault.find("study1/session 1/mic.wav")
    blob_a = vault.root / "blobs" / a.file_id[:2] / f"{a.file_id}.avv"
    blob_b = vault.root / "blobs" / b.file_id[:2] / f"{b.file_id}.avv"
    full = blob_a.read_bytes()
    blob_a.write_bytes(full[: len(full) - (len(full) - 25) % (CHUNK + 28) - 1])
    data_b = blob_b.read_bytes()
    blob_b.write_bytes(full)  # another file's ciphertext in b's place
    reasons = {p.path: p.reason for p in vault.verify()}
    assert "truncated" in reasons[a.path] or "authentication" in reasons[a.path]
    assert "swapped" in reasons[b.path]
    blob_b.write_bytes(data_b)
    blob_a.unlink()
    reasons = {p.path: p.reason for p in vault.verify()}
    assert list(reasons) == [a.path] and "missing" in reasons[a.path]


def test_edited_record_is_detected(vault: Vault) -> None:
    config = json.loads((vault.root / "vault.json").read_text())
    fid = vault.find("study1/session 1/mic.wav").file_id
    other = vault.find("study1/notes.txt").file_id
    config["files"][fid]["meta"] = config["files"][other]["meta"]
    (vault.root / "vault.json").write_text(json.dumps(config))
    reopened = Vault.open(vault.root, passphrase=PASS)
    with pytest.raises(IntegrityError, match="altered"):
        reopened.files()


def test_rotation_rewraps_keys_without_touching_data(vault: Vault, study: Path, tmp_path: Path) -> None:
    blobs = {p: (p.stat().st_mtime_ns, _sha(p)) for p in (vault.root / "blobs").rglob("*.avv")}
    key_file = tmp_path / "new.key"
    MasterKey.write_key_file(key_file)
    assert vault.rotate_key(key_file=key_file) == 3
    assert {p: (p.stat().st_mtime_ns, _sha(p)) for p in (vault.root / "blobs").rglob("*.avv")} == blobs
    with pytest.raises(AccessError, match="key file"):
        Vault.open(vault.root, passphrase=PASS)
    reopened = Vault.open(vault.root, key_file=key_file)
    sink = io.BytesIO()
    reopened.decrypt_to("study1/session 1/mic.wav", sink)
    assert sink.getvalue() == (study / "session 1" / "mic.wav").read_bytes()
    assert reopened.rotate_key(passphrase="second passphrase", scrypt_n=2**10) == 3
    assert Vault.open(vault.root, passphrase="second passphrase").verify() == []


def test_backup_restore_round_trip_byte_identical(vault: Vault, study: Path, tmp_path: Path) -> None:
    archive = vault.backup(tmp_path / "backup.tar")
    restored_root = tmp_path / "restored"
    members = Vault.restore(archive, restored_root)
    assert "vault.json" in members
    restored = Vault.open(restored_root, passphrase=PASS)
    assert restored.verify() == []
    for source in sorted(p for p in study.rglob("*") if p.is_file()):
        sink = io.BytesIO()
        restored.decrypt_to(f"study1/{source.relative_to(study).as_posix()}", sink)
        assert sink.getvalue() == source.read_bytes()
    with pytest.raises(ParameterError, match="not empty"):
        Vault.restore(archive, restored_root)
    with pytest.raises(ParameterError, match="overwrite"):
        vault.backup(archive)


def test_damaged_backup_is_refused(vault: Vault, tmp_path: Path) -> None:
    archive = vault.backup(tmp_path / "backup.tar")
    with tarfile.open(archive) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(damaged, "w") as tar:
        for member, data in members:
            if member.name.endswith(".avv"):
                data = bytes([data[0] ^ 1]) + data[1:]
            tar.addfile(member, io.BytesIO(data))
    with pytest.raises(IntegrityError, match="damaged"):
        Vault.restore(damaged, tmp_path / "r")
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_purge_by_retention_and_schedule(vault: Vault, tmp_path: Path, study: Path) -> None:
    other = tmp_path / "study2"
    other.mkdir()
    (other / "b.wav").write_bytes(b"abc" * 1000)
    vault.add_study(other, retention_until=dt.date(2030, 1, 1))
    vault.set_retention("study1", dt.date(2020, 1, 1))
    now = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)
    assert {f.path for f in vault.due_for_disposal(now=now)} == {f.path for f in vault.files("study1")}
    ids = {f.file_id for f in vault.files("study1")}
    certificate = vault.purge(now=now)
    assert {f["file_id"] for f in certificate["files"]} == ids
    assert "crypto-shredding" in certificate["method"]
    assert "kamera" not in json.dumps(certificate)
    assert [f.path for f in vault.files()] == ["study2/b.wav"]
    assert not any(fid in p.name for p in (vault.root / "blobs").rglob("*") for fid in ids)
    config = (vault.root / "vault.json").read_text()
    assert not any(fid in config for fid in ids)
    assert vault.verify() == []
    vault.schedule_deletion(["study2/b.wav"], when=now)
    assert [f.path for f in vault.due_for_disposal(now=now)] == ["study2/b.wav"]
    vault.purge(now=now)
    assert vault.files() == []


def test_unsafe_inputs_are_refused(tmp_path: Path, vault: Vault) -> None:
    with pytest.raises(AccessError, match="Unsafe"):
        vault.add_file(io.BytesIO(b"x"), "../escape.wav", study="s")
    with pytest.raises(ParameterError, match="already holds"):
        vault.add_file(io.BytesIO(b"x"), "study1/notes.txt", study="study1")
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "l.wav").symlink_to(tmp_path / "study1" / "notes.txt")
    with pytest.raises(AccessError, match="regular files"):
        vault.add_study(linked)
    with pytest.raises(ParameterError, match="not empty"):
        Vault.init(vault.root, passphrase=PASS)
    with pytest.raises(ParameterError, match="exactly one"):
        Vault.init(tmp_path / "v2")
    with pytest.raises(ParameterError, match="No vault"):
        Vault.open(tmp_path / "nowhere", passphrase=PASS)
