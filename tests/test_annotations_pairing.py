"""Pairing annotation files with media: mapping file, links inside the file, then names."""

from __future__ import annotations

from pathlib import Path

import pytest

from avanon.annotations.model import AnnotationDocument, MediaLink
from avanon.annotations.pairing import load_media_map, pair_media
from avanon.errors import ParameterError

MEDIA = ["anna/anna.wav", "anna/anna_2.wav", "bo/bo.mp4", "bo/clip.mp4", "other/anna.wav"]


def test_pairs_by_longest_stem_in_same_folder() -> None:
    assert pair_media("anna/anna_words.TextGrid", None, MEDIA).media == ["anna/anna.wav"]
    assert pair_media("anna/anna_2_phones.TextGrid", None, MEDIA).media == ["anna/anna_2.wav"]
    assert pair_media("anna/annabel.TextGrid", None, MEDIA).media == []


def test_pairs_by_elan_relative_link_then_file_name() -> None:
    doc = AnnotationDocument(format="elan", media=[MediaLink(path="file:///Users/x/anna.wav", relative="../other/anna.wav")])
    pairing = pair_media("anna/codes.eaf", doc, MEDIA)
    assert (pairing.media, pairing.how) == (["other/anna.wav"], "link")
    doc.media[0].relative = "./gone.wav"
    assert pair_media("anna/codes.eaf", doc, MEDIA).media == ["anna/anna.wav"]  # same folder wins by name


def test_pairs_rttm_by_recording_stem() -> None:
    doc = AnnotationDocument(format="rttm", media=[MediaLink(path="clip", kind="stem")])
    assert pair_media("labels/vtc.rttm", doc, MEDIA).links == {"clip": "bo/clip.mp4"}


def test_mapping_file_wins(tmp_path: Path) -> None:
    table = tmp_path / "map.csv"
    table.write_text("annotation,media\nnotes/session.csv,bo/bo.mp4\nnotes/session.csv,bo/clip.mp4\n", encoding="utf-8")
    mapping = load_media_map(table)
    pairing = pair_media("notes/session.csv", None, MEDIA, mapping=mapping)
    assert (pairing.media, pairing.how) == (["bo/bo.mp4", "bo/clip.mp4"], "mapping")


def test_mapping_file_refuses_absolute_paths(tmp_path: Path) -> None:
    table = tmp_path / "map.csv"
    table.write_text("annotation,media\n/home/x/a.eaf,a.wav\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="row 2: annotation '/home/x/a.eaf' must be a path relative"):
        load_media_map(table)
