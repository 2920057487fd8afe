from __future__ import annotations

import json
from pathlib import Path

import pytest

from avanon import recipe
from avanon.errors import AccessError
from avanon.pipeline import run_study
from avanon.provenance.manifest import sha256_path
from avanon.vault.staging import study_from_vault
from avanon.vault.store import Vault
from synth import write_wav


def test_run_reads_originals_from_the_vault(tmp_path):
    study = tmp_path / "lab" / "interviews"
    write_wav(study / "sub-01" / "a.wav", seconds=0.3)
    (study / "notes.txt").write_text("hello")
    vault = Vault.init(tmp_path / "vault", passphrase="correct horse battery staple", scrypt_n=2**10)
    vault.add_study(study, study="interviews")
    seen: list[Path] = []
    with study_from_vault(vault, "interviews") as root:
        seen.append(root)
        assert str(root).startswith(("/dev/shm", "/run/shm"))
        out = tmp_path / "out"
        summary = run_study(root, out, recipe=recipe.load("default"))
    assert summary.ok == 2
    assert not seen[0].exists()  # plaintext removed
    entries = {e["input"]: e for e in json.loads((out / "avanon_manifest.json").read_text())["entries"]}
    assert entries["sub-01/a.wav"]["input_sha256"] == sha256_path(study / "sub-01" / "a.wav")
    with pytest.raises(AccessError, match="no study 'other'"):
        with study_from_vault(vault, "other"):
            pass


def test_cli_run_from_vault(tmp_path, monkeypatch):
    from avanon.cli import main

    study = tmp_path / "orig" / "pilot"
    write_wav(study / "sub-01" / "a.wav", seconds=0.3)
    Vault.init(tmp_path / "vault", passphrase="a long enough passphrase", scrypt_n=2**10).add_study(study, study="pilot")
    monkeypatch.setenv("AVANON_VAULT_PASSPHRASE", "a long enough passphrase")
    code = main(["run", "pilot", "-o", str(tmp_path / "out"), "--from-vault", str(tmp_path / "vault"), "--workers", "1", "--quiet", "--seed", "3"])
    assert code == 0 and (tmp_path / "out" / "sub-01" / "a.wav").is_file()
