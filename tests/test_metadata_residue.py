"""Kept stimuli against real residue in the metadata check (avanon.evaluate.metadata, issue 19)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from avanon.evaluate import metadata


def photo(path: Path, exif: Image.Exif | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path, exif=exif or Image.Exif())


def test_a_kept_stimulus_name_is_not_residue(tmp_path: Path) -> None:
    photo(tmp_path / "stimuli" / "photos" / "street.jpg")
    originals = ["stimuli/photos/street.jpg", "sub-01/ses-01/video/sub-01_ses-01_task-play_video.mp4"]
    report = metadata.metadata_residue(tmp_path, ["stimuli/photos/street.jpg"], originals=originals)
    assert report.findings == []
    assert metadata.renamed_originals(originals, ["stimuli/photos/street.jpg", "sub-01/ses-01/video/sub-01_ses-01_task-play_video.mkv"]) == []


def test_a_roster_name_or_date_in_a_kept_file_is_still_found(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010E] = "Maria Lopez on 2021-03-04"  # ImageDescription
    photo(tmp_path / "stimuli" / "photos" / "street.jpg", exif)
    photo(tmp_path / "stimuli" / "photos" / "maria.jpg")
    files = ["stimuli/photos/street.jpg", "stimuli/photos/maria.jpg"]
    report = metadata.metadata_residue(tmp_path, files, originals=files, identifiers=["Maria"])
    whats = {(f.file, f.where, f.what) for f in report.findings}
    assert ("stimuli/photos/street.jpg", "exif ImageDescription", "contains the identifier 'maria'") in whats
    assert ("stimuli/photos/street.jpg", "exif ImageDescription", "contains a date") in whats
    assert ("stimuli/photos/maria.jpg", "file name", "contains the identifier 'maria'") in whats
    assert not any("street" in f.what or "stimuli" in f.what for f in report.findings)


def test_a_renamed_originals_words_are_found_in_kept_names(tmp_path: Path) -> None:
    photo(tmp_path / "photos" / "jane_smile.jpg")
    originals = ["photos/jane_smile.jpg", "jane_doe_interview.mp4"]  # the video was renamed: 'jane' identifies
    report = metadata.metadata_residue(tmp_path, ["photos/jane_smile.jpg"], originals=originals)
    assert [(f.where, f.what) for f in report.findings] == [("file name", "contains the identifier 'jane'")]
