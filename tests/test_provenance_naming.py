"""Keyed file-name pseudonyms, the steward's mapping, and BIDS-style names and sidecars."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from avanon.errors import AccessError, ParameterError
from avanon.provenance.naming import NameMapper, bids_path, media_sidecar, sidecar_path

SECRET = b"n" * 32


def namer(secret: bytes, kind: str, key: str) -> str:
    return f"{kind[:3]}{hashlib.sha256(secret + kind.encode() + b'|' + key.encode()).hexdigest()[:6]}"


def test_identifying_components_pseudonymized_consistently() -> None:
    mapper = NameMapper(SECRET, ["Anna Smith", "Bo"], namer=namer)
    first = mapper.map_path("Anna Smith/anna smith_2019-03-01.MP4")
    second = mapper.map_path("Anna Smith/notes.txt")
    folder = first.split("/")[0]
    assert second == f"{folder}/notes.txt"
    assert "anna" not in first.lower() and first.endswith(".mp4")
    assert mapper.map_path("session_20190301/clip.wav").split("/")[0] != "session_20190301"
    assert mapper.map_path("bobby/clip.wav") == "bobby/clip.wav"  # 'Bo' only as a whole word
    assert mapper.mapping["Anna Smith/notes.txt"] == second


def test_mapping_stays_out_of_the_release(tmp_path: Path) -> None:
    mapper = NameMapper(SECRET, ["Anna"], namer=namer)
    mapper.map_path("Anna/a.wav")
    with pytest.raises(AccessError, match="may not be stored inside the release"):
        mapper.save(tmp_path / "out" / "steward", release_root=tmp_path / "out")
    path = mapper.save(tmp_path / "steward", release_root=tmp_path / "out")
    assert json.loads(path.read_text())["Anna/a.wav"] == mapper.map_path("Anna/a.wav")


def test_bids_path_and_sidecar() -> None:
    rel = bids_path(subject="01", session="01", task="play", datatype="beh", suffix="video", extension=".mp4")
    assert rel == "sub-01/ses-01/beh/sub-01_ses-01_task-play_video.mp4"
    assert sidecar_path(rel) == "sub-01/ses-01/beh/sub-01_ses-01_task-play_video.json"
    with pytest.raises(ParameterError, match="'subject' parameter of bids_path must be alphanumeric. Got 'a_b'"):
        bids_path(subject="a_b", datatype="beh", suffix="video", extension=".mp4")
    info = SimpleNamespace(
        duration_s=10.0,
        video=SimpleNamespace(average_rate="2997/100", codec="h264", width=640, height=360),
        audio=SimpleNamespace(sample_rate=48000, channels=2, codec="aac"),
    )
    data = media_sidecar(info, anonymization={"video": "solid"})
    assert data == {
        "Duration": 10.0,
        "FrameRate": 29.97,
        "VideoCodec": "h264",
        "Width": 640,
        "Height": 360,
        "SamplingFrequency": 48000,
        "AudioChannelCount": 2,
        "AudioCodec": "aac",
        "Anonymization": {"video": "solid"},
    }


def test_default_namer_is_the_study_secret_module() -> None:
    from avanon.studykeys import pseudonym

    mapper = NameMapper(SECRET, ["Anna"])
    assert mapper.map_path("Anna/x.wav") == f"{pseudonym(SECRET, 'path', 'anna')}/x.wav"
