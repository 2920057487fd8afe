"""Tests of the study secret, pseudonyms and derived seeds."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from avanon.errors import AccessError, IntegrityError, ParameterError
from avanon.studykeys import SECRET_FILE, derive_seed, pseudonym, study_secret


def test_created_once_private_and_reused(tmp_path: Path) -> None:
    steward = tmp_path / "out.steward"
    first = study_secret(steward, None)
    assert len(first) == 32
    path = steward / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(steward.stat().st_mode) & 0o077 == 0
    assert study_secret(steward, None) == first
    assert [p.name for p in steward.iterdir()] == [SECRET_FILE]


def test_two_studies_get_unrelated_secrets(tmp_path: Path) -> None:
    assert study_secret(tmp_path / "a", None) != study_secret(tmp_path / "b", None)


def test_seed_is_reproducible_and_writes_nothing(tmp_path: Path) -> None:
    steward = tmp_path / "s"
    assert study_secret(steward, 7) == study_secret(steward, 7)
    assert study_secret(steward, 7) != study_secret(steward, 8)
    assert not steward.exists()


def test_refuses_open_permissions(tmp_path: Path) -> None:
    study_secret(tmp_path, None)
    os.chmod(tmp_path / SECRET_FILE, 0o644)
    with pytest.raises(AccessError, match="0600"):
        study_secret(tmp_path, None)


def test_refuses_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / SECRET_FILE
    path.write_text("not hex")
    os.chmod(path, 0o600)
    with pytest.raises(IntegrityError, match="hexadecimal"):
        study_secret(tmp_path, None)


def test_pseudonym_stable_readable_and_keyed() -> None:
    a, b = study_secret(Path("."), 1), study_secret(Path("."), 2)
    p = pseudonym(a, "sub", "sub-01")
    assert p == pseudonym(a, "sub", "sub-01")
    assert len(p) == 10 and p.isalnum() and p == p.lower()
    assert p != pseudonym(b, "sub", "sub-01")
    assert p != pseudonym(a, "file", "sub-01")
    assert p != pseudonym(a, "sub", "sub-02")


def test_derive_seed_range_and_keying() -> None:
    a, b = study_secret(Path("."), 1), study_secret(Path("."), 2)
    s = derive_seed(a, "voice")
    assert 0 <= s < 2**63 and s == derive_seed(a, "voice")
    assert s != derive_seed(b, "voice") and s != derive_seed(a, "video")


def test_bad_arguments() -> None:
    with pytest.raises(ParameterError, match="seed"):
        study_secret(Path("."), "3")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="kind"):
        pseudonym(study_secret(Path("."), 1), "", "x")
    with pytest.raises(ParameterError, match="secret"):
        derive_seed(b"short", "voice")
