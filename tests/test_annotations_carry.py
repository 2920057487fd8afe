"""The pipeline entry point: carry one annotation file into the output, or fail it with reasons."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from avanon.annotations.carry import MediaInfo, TextKeys, carry_annotations
from avanon.annotations.formats import read_annotations

SECRET = b"k" * 32


def namer(secret: bytes, kind: str, key: str) -> str:
    return f"{kind[:3]}{hashlib.sha256(secret + kind.encode() + b'|' + key.encode()).hexdigest()[:6]}"


def _study(tmp_path: Path, dev_data: Path) -> Path:
    study = tmp_path / "study"
    (study / "anna").mkdir(parents=True)
    shutil.copy(dev_data / "childproject_annotations/examples/valid_raw_data/annotations/eaf_basic/raw/example.eaf", study / "anna" / "session.eaf")
    shutil.copy(dev_data / "praatio/tests/files/mary.TextGrid", study / "anna" / "mary_words.TextGrid")
    return study


def test_elan_carried_with_links_rewritten_and_redactions(tmp_path: Path, dev_data: Path) -> None:
    study = _study(tmp_path, dev_data)
    media = {"anna/VanDam_FJ11_020816b.wav": MediaInfo("sub-01/sub-01_audio.wav", 301.0, 301.0, redactions=((5.0, 6.0, "name"),))}
    result = carry_annotations(
        study / "anna/session.eaf",
        study_root=study,
        out_root=tmp_path / "out",
        media=media,
        keys=TextKeys(SECRET, ["FA1"], namer),
    )
    assert result.status == "ok", result.problems
    assert result.output.startswith("sub-01/sub-01_audio_ann-")
    text = (tmp_path / "out" / result.output).read_text(encoding="utf-8")
    assert "/Users/" not in text and "VanDam" not in text and "mctice" not in text
    assert 'MEDIA_URL="sub-01_audio.wav"' in text
    doc = read_annotations(tmp_path / "out" / result.output)
    assert [(a.onset, a.offset, a.value) for a in doc.tier("avanon-redacted").annotations] == [(5.0, 6.0, "name")]
    assert result.counts["redactions"] == 1 and result.counts["tiers"] >= 1 and result.counts["participants"] >= 1


def test_misaligned_file_fails_naming_tier_annotation_and_times(tmp_path: Path, dev_data: Path) -> None:
    study = _study(tmp_path, dev_data)
    media = {"anna/VanDam_FJ11_020816b.wav": MediaInfo("sub-01/a.wav", 10.0, 10.0)}
    result = carry_annotations(study / "anna/session.eaf", study_root=study, out_root=tmp_path / "out", media=media, keys=TextKeys(SECRET, namer=namer))
    assert result.status == "failed" and result.output is None
    assert any("ends after the media, which lasts 10.000 s" in p and "tier 'CHI'" in p for p in result.problems)
    assert not (tmp_path / "out").exists()


def test_duration_change_fails_and_retiming_applies(tmp_path: Path, dev_data: Path) -> None:
    study = _study(tmp_path, dev_data)
    grid = study / "anna/mary_words.TextGrid"
    bad = {"anna/mary.wav": MediaInfo("sub-02/mary.wav", 1.87, 2.5)}
    result = carry_annotations(grid, study_root=study, out_root=tmp_path / "out", media=bad, keys=TextKeys(SECRET, namer=namer))
    assert result.status == "failed"
    assert "anna/mary.wav lasts 2.500 s after anonymization but 1.870 s before" in result.reason
    shifted = {"anna/mary.wav": MediaInfo("sub-02/mary.wav", 1.87, 1.87, input_start=0.0, scale=1.0)}
    result = carry_annotations(grid, study_root=study, out_root=tmp_path / "out", media=shifted, keys=TextKeys(SECRET, namer=namer))
    assert result.status == "ok", result.problems
    assert result.output == "sub-02/mary_words.TextGrid"
    doc = read_annotations(tmp_path / "out" / result.output)
    assert doc.tier("word").annotations[1].value == "mary"


def test_retiming_moves_annotations(tmp_path: Path, dev_data: Path) -> None:
    study = _study(tmp_path, dev_data)
    media = {"anna/mary.wav": MediaInfo("m.wav", 1.87, 1.87, input_start=0.01)}
    result = carry_annotations(study / "anna/mary_words.TextGrid", study_root=study, out_root=tmp_path / "out", media=media, keys=TextKeys(SECRET, namer=namer))
    assert result.status == "ok", result.problems
    original = read_annotations(study / "anna/mary_words.TextGrid").tier("word").annotations[1]
    moved = read_annotations(tmp_path / "out" / result.output).tier("word").annotations[1]
    assert abs(moved.onset - (original.onset - 0.01)) < 1e-9


def test_unpaired_and_broken_files_fail_alone(tmp_path: Path, dev_data: Path) -> None:
    study = _study(tmp_path, dev_data)
    (study / "anna/broken.eaf").write_text("<ANNOTATION_DOCUMENT>", encoding="utf-8")
    result = carry_annotations(study / "anna/broken.eaf", study_root=study, out_root=tmp_path / "out", media={}, keys=TextKeys(SECRET, namer=namer))
    assert result.status == "failed" and result.reason.startswith("anna/broken.eaf: line 1")
    assert str(study) not in result.reason
    result = carry_annotations(study / "anna/mary_words.TextGrid", study_root=study, out_root=tmp_path / "out", media={}, keys=TextKeys(SECRET, namer=namer))
    assert "no media file of the study pairs with it" in result.reason
