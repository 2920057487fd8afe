"""Tests of the metadata residue check (avanon.evaluate.metadata)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from avanon import registry
from avanon.evaluate import metadata

TEXTGRID = """File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 2
tiers? <exists>
size = 1
item []:
    item [1]:
        class = "IntervalTier"
        name = "speaker"
        xmin = 0
        xmax = 2
        intervals: size = 2
        intervals [1]:
            xmin = 0
            xmax = 1
            text = "{text}"
        intervals [2]:
            xmin = 1
            xmax = 2
            text = "okay"
"""


def tiny_video(path: Path, tags: dict[str, str]) -> Path:
    with av.open(str(path), "w") as out:
        for key, value in tags.items():
            out.metadata[key] = value
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(3):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_identifiers_from_original_names() -> None:
    words = metadata.identifiers_from_names(["sub-01/ses-2/jane_doe_2021-03-04_interview.mp4", "sub-02/video.mp4"])
    assert {"jane", "doe"} <= words
    assert not words & {"sub", "01", "interview", "video", "mp4"}


def test_clean_files_have_no_findings(tmp_path: Path) -> None:
    tiny_video(tmp_path / "sub-01_task-play.mp4", {})
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "sub-01_photo.jpg")
    (tmp_path / "sub-01.TextGrid").write_text(TEXTGRID.format(text="hello there"), encoding="utf-8")
    report = metadata.metadata_residue(tmp_path, ["sub-01_task-play.mp4", "sub-01_photo.jpg", "sub-01.TextGrid"], originals=["jane_doe/sub-01_task-play.mp4"])
    assert report.files == 3
    assert report.findings == []


def test_identifying_metadata_is_found(tmp_path: Path) -> None:
    tiny_video(tmp_path / "sub-01_2021-03-04.mp4", {"title": "Jane at home", "comment": "call 555 123 4567"})
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "N"}  # GPSInfo
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "doe.jpg", exif=exif)
    (tmp_path / "notes.TextGrid").write_text(TEXTGRID.format(text="Jane says write to jane@example.org"), encoding="utf-8")
    report = metadata.metadata_residue(tmp_path, ["sub-01_2021-03-04.mp4", "doe.jpg", "notes.TextGrid"], originals=["jane_doe.mp4"])
    whats = {(f.file, f.what) for f in report.findings}
    assert ("sub-01_2021-03-04.mp4", "tag 'title' is present") in whats
    assert ("sub-01_2021-03-04.mp4", "contains a phone number") in whats
    assert ("sub-01_2021-03-04.mp4", "contains a date") in whats  # in the file name
    assert ("doe.jpg", "contains the identifier 'doe'") in whats
    assert ("doe.jpg", "EXIF GPSInfo is present") in whats
    assert ("notes.TextGrid", "contains an e-mail address") in whats
    assert ("notes.TextGrid", "contains the identifier 'jane'") in whats
    assert report.severe >= 5
    score = registry.create("metric", "metadata_residue", identifiers=["okay"]).measure(tmp_path, ["notes.TextGrid"])
    assert score.direction == "lower" and score.value >= 2


@pytest.mark.parametrize(
    ("text", "in_file_name", "phone"),
    [
        ("1688-142285-0000", True, False),  # LibriSpeech speaker-chapter-utterance
        ("61-70968-0000", True, False),
        ("sub-01_2021-03-04", True, False),
        ("20210304_120000", True, False),
        ("call 555 123 4567", False, True),
        ("(555) 123-4567", True, True),
        ("+44 20 7946 0958", False, True),
        ("ring 5551234567", False, True),
        ("rec_5551234567", True, False),
    ],
)
def test_phone_numbers_and_identifiers(text: str, in_file_name: bool, phone: bool) -> None:
    assert metadata._phone(text, in_file_name=in_file_name) is phone


def test_librispeech_file_names_are_not_phone_numbers(tmp_path: Path) -> None:
    (tmp_path / "1688").mkdir()
    (tmp_path / "1688" / "1688-142285-0000.TextGrid").write_text(TEXTGRID.format(text="hello there"), encoding="utf-8")
    report = metadata.metadata_residue(tmp_path, ["1688/1688-142285-0000.TextGrid"], originals=["1688/1688-142285-0000.flac"])
    assert [f.what for f in report.findings if "phone" in f.what] == []
