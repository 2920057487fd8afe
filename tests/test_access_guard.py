"""The export guard: failed, raw, QA-failed, altered, unlisted and escaping files are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from access_support import ORIGINALS, make_run, sha
from avanon.access.guard import ExportGuard, ExportRefused, load_manifest
from avanon.errors import IntegrityError, ParameterError


@pytest.fixture()
def run(tmp_path: Path) -> Path:
    return make_run(tmp_path, ORIGINALS)


def test_sweep_clears_only_anonymized_verified_files(run: Path) -> None:
    cleared, refused = ExportGuard(run).sweep()
    assert sorted(c.path for c in cleared) == ["p01/session.mp4", "p01/session_pose.csv", "p02/talk.wav", "p03/unconsented.mp4"]
    reasons = {r.path: r.reason for r in refused}
    assert "status is 'failed'" in reasons["p02/failed.mp4"] and "decode error" in reasons["p02/failed.mp4"]
    assert "byte-identical to an original" in reasons["p02/copied.mp4"]
    assert "QA did not pass" in reasons["p02/qa.mp4"]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("p01/stray.mp4", "not an anonymized output listed in the manifest"),
        ("../secret.txt", "outside the anonymized output"),
        ("/etc/passwd", "outside the anonymized output"),
        ("avanon_manifest.json", "not an anonymized output"),
    ],
)
def test_unlisted_and_escaping_paths(run: Path, path: str, reason: str) -> None:
    with pytest.raises(ExportRefused, match=reason):
        ExportGuard(run).check(path)


def test_altered_output_fails_provenance(run: Path) -> None:
    (run / "p02" / "talk.wav").write_bytes(b"changed after the run")
    with pytest.raises(ExportRefused, match="provenance does not verify"):
        ExportGuard(run).check("p02/talk.wav")


def test_original_replacing_an_output_is_caught(run: Path) -> None:
    (run / "p02" / "talk.wav").write_bytes(ORIGINALS["p02/talk.wav"])
    with pytest.raises(ExportRefused, match="byte-identical to an original"):
        ExportGuard(run).check(run / "p02" / "talk.wav")


def test_vault_originals_are_also_compared(run: Path) -> None:
    video = (run / "p01" / "session.mp4").read_bytes()
    with pytest.raises(ExportRefused, match="original"):
        ExportGuard(run, originals={sha(video)}).check("p01/session.mp4")


def test_unmasked_segments_and_metadata_refused(run: Path) -> None:
    manifest = json.loads((run / "avanon_manifest.json").read_text())
    manifest["entries"][0]["unmasked_segments"] = [[1.0, 2.5]]
    manifest["entries"][2]["qa"] = {"passed": True, "identifying_metadata": True}
    (run / "avanon_manifest.json").write_text(json.dumps(manifest))
    guard = ExportGuard(run)
    with pytest.raises(ExportRefused, match="1 unmasked segments"):
        guard.check("p01/session.mp4")
    with pytest.raises(ExportRefused, match="identifying metadata"):
        guard.check("p02/talk.wav")


def test_symlinked_output_refused(run: Path, tmp_path: Path) -> None:
    target = run / "p02" / "talk.wav"
    data = target.read_bytes()
    outside = tmp_path / "outside.wav"
    outside.write_bytes(data)
    target.unlink()
    target.symlink_to(outside)
    with pytest.raises(ExportRefused):
        ExportGuard(run).check("p02/talk.wav")


def test_manifest_errors(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="No manifest"):
        load_manifest(tmp_path)
    (tmp_path / "avanon_manifest.json").write_text("{not json")
    with pytest.raises(IntegrityError, match="not valid JSON"):
        load_manifest(tmp_path)
    (tmp_path / "avanon_manifest.json").write_text('{"files": []}')
    with pytest.raises(IntegrityError, match="no 'entries'"):
        load_manifest(tmp_path)
