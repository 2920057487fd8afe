"""Releases: data dictionary, checksums, versions, and verify catching every kind of tampering."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avanon.cli import main
from avanon.provenance.release import freeze_release, sha256_file, verify_release

GRID = """File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 1.5
tiers? <exists>
size = 1
item []:
    item [1]:
        class = "IntervalTier"
        name = "words"
        xmin = 0
        xmax = 1.5
        intervals: size = 2
        intervals [1]:
            xmin = 0
            xmax = 0.7
            text = "hello"
        intervals [2]:
            xmin = 0.7
            xmax = 1.5
            text = ""
"""


@pytest.fixture()
def out_dir(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    (out / "sub-01").mkdir(parents=True)
    sf.write(out / "sub-01" / "sub-01_audio.wav", np.zeros((24000, 1), dtype=np.float32), 16000)
    (out / "sub-01" / "sub-01_audio.TextGrid").write_text(GRID, encoding="utf-8")
    (out / "README.txt").write_text("study notes\n", encoding="utf-8")
    wav_sha = sha256_file(out / "sub-01" / "sub-01_audio.wav")
    manifest = {
        "seed": 7,
        "versions": {"avanon": "0.1.0"},
        "entries": [
            {
                "input": "anna/anna.wav",
                "output": "sub-01/sub-01_audio.wav",
                "status": "ok",
                "input_sha256": "a" * 64,
                "output_sha256": wav_sha,
                "steps": [{"name": "mcadams", "params": {"alpha": 0.8}}],
            }
        ],
    }
    (out / "avanon_manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return out


def test_freeze_writes_dictionary_provenance_and_sums(out_dir: Path) -> None:
    release = freeze_release(out_dir, notes="first")
    assert release.version == 1 and "sub-01/sub-01_audio.wav" in release.added
    package = json.loads((out_dir / "datapackage.json").read_text())
    by_path = {r["path"]: r for r in package["resources"]}
    audio = by_path["sub-01/sub-01_audio.wav"]
    assert (audio["type"], audio["sampleRate"], audio["channels"]) == ("media", 16000, 1)
    assert abs(audio["duration"] - 1.5) < 1e-3
    grid = by_path["sub-01/sub-01_audio.TextGrid"]
    assert grid["media"] == ["sub-01/sub-01_audio.wav"] and grid["tiers"][0]["name"] == "words"
    assert "anna" not in (out_dir / "provenance.json").read_text()
    assert "sub-01/sub-01_audio.wav" in (out_dir / "DATA_DICTIONARY.md").read_text()
    assert "## v1" in (out_dir / "CHANGES.md").read_text()
    report = verify_release(out_dir)
    assert report.ok, report.problems
    assert report.version == 1 and report.checked >= 8


def test_unchanged_study_keeps_version_and_changed_one_gets_next(out_dir: Path) -> None:
    freeze_release(out_dir)
    assert freeze_release(out_dir).unchanged
    (out_dir / "README.txt").write_text("new notes\n", encoding="utf-8")
    (out_dir / "extra.txt").write_text("x\n", encoding="utf-8")
    second = freeze_release(out_dir)
    assert (second.version, second.changed, second.added) == (2, ["README.txt"], ["extra.txt"])
    changes = (out_dir / "CHANGES.md").read_text()
    assert changes.index("## v2") < changes.index("## v1")
    assert verify_release(out_dir).ok


def test_verify_names_flipped_byte_missing_and_extra_files(out_dir: Path) -> None:
    freeze_release(out_dir)
    wav = out_dir / "sub-01" / "sub-01_audio.wav"
    data = bytearray(wav.read_bytes())
    data[-1] ^= 0xFF
    wav.write_bytes(bytes(data))
    (out_dir / "README.txt").unlink()
    (out_dir / "sneaky.txt").write_text("x", encoding="utf-8")
    problems = verify_release(out_dir).problems
    assert any(p.startswith("sub-01/sub-01_audio.wav: content changed") for p in problems)
    assert any(p.startswith("sub-01/sub-01_audio.wav: SHA-256 differs from the manifest") for p in problems)
    assert "README.txt: missing (listed in SHA256SUMS)" in problems
    assert "sneaky.txt: extra file, not in SHA256SUMS" in problems


def test_verify_checks_annotation_alignment(out_dir: Path) -> None:
    (out_dir / "sub-01" / "sub-01_audio.TextGrid").write_text(GRID.replace("1.5", "2.5"), encoding="utf-8")
    freeze_release(out_dir)
    problems = verify_release(out_dir).problems
    assert any("sub-01/sub-01_audio.TextGrid: tier 'words'" in p and "ends after the media" in p for p in problems)


def test_cli_release_and_verify_exit_codes(out_dir: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from avanon.cli import release as commands

    app = typer.Typer()
    commands.register(app)
    runner = CliRunner()
    assert runner.invoke(app, ["release", str(out_dir)]).exit_code == 0
    assert runner.invoke(app, ["verify", str(out_dir)]).exit_code == 0
    (out_dir / "README.txt").write_text("tampered\n", encoding="utf-8")
    result = runner.invoke(app, ["verify", str(out_dir)])
    assert result.exit_code == 1
    assert "README.txt: content changed" in result.output


def test_cli_commands_have_help() -> None:
    from avanon.cli import release as commands

    for command in (commands.release, commands.verify):
        assert command.__doc__ and len(command.__doc__) > 20
    assert main(["release", "--help"]) == 0


def test_verify_refuses_unreleased_folder(tmp_path: Path) -> None:
    report = verify_release(tmp_path)
    assert not report.ok and "SHA256SUMS is missing" in report.problems[0]
