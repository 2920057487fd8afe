"""CHAT transcripts: byte-for-byte round trip, anonymized headers and text, alignment, carrying."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from avanon.annotations.carry import MediaInfo, TextKeys, carry_annotations
from avanon.annotations.chat import read_chat, write_chat
from avanon.annotations.formats import detect_format, read_annotations
from avanon.annotations.model import linear_time_map, retime
from avanon.annotations.pseudonymize import TextAnonymizer, anonymize_document
from avanon.errors import MediaError

SECRET = b"c" * 32
VANDAM = "childproject_annotations/tests/data/vandam.cha"

SMALL = (
    "@UTF8\n@Begin\n@Languages:\teng\n"
    "@Participants:\tCHI Anna Target_Child, MOT Mother, FAT Tom\n\tSmith Father\n"
    "@ID:\teng|Study|CHI|2;06.15|female|TD||Target_Child|||\n"
    "@ID:\teng|Study|MOT|||||Mother|||\n"
    "@Birth of CHI:\t28-JAN-2014\n@Date:\t12-SEP-2016\n"
    "@Media:\tanna_home, audio\n@Transcriber:\tJane Coder\n"
    "@Comment:\trecorded at 12 Baker Street with Anna\n"
    "*MOT:\tlook Anna , a dog ! \x150_1500\x15\n"
    "%com:\tAnna points at the dog\n"
    "*CHI:\tdog . \x151500_2500\x15\n"
    "*FAT:\tTom Smith here . [+ id]\n"
    "*CHI:\t&=laughs .\n"
    "\t[+ r] \x152500_4000\x15\n"
    "@End\n"
)


def namer(secret: bytes, kind: str, key: str) -> str:
    return f"{kind[:3]}{hashlib.sha256(secret + kind.encode() + b'|' + key.encode()).hexdigest()[:6]}"


def _small(tmp_path: Path) -> Path:
    path = tmp_path / "anna_home.cha"
    path.write_text(SMALL, encoding="utf-8")
    return path


def test_real_file_round_trips_byte_for_byte(dev_data: Path, tmp_path: Path) -> None:
    source = dev_data / VANDAM
    assert detect_format(source) == "chat"
    doc = read_annotations(source)
    assert [(t.name, len(t.annotations)) for t in doc.tiers] == [("CHI", 13), ("MOT", 7), ("SIS", 0), ("FAT", 0)]
    first = doc.tier("CHI").annotations[0]
    assert (first.onset, first.offset, first.value) == (0.0, 12.414, "&=vocalizes . [+ nc]")
    assert doc.tier("CHI").annotations[7].fields == {"%add": "MOT"}
    assert doc.media[0].path == "BN32_010007"
    out = tmp_path / "same.cha"
    write_chat(doc, out)
    assert out.read_bytes() == source.read_bytes()


def test_utterance_without_bullet_keeps_no_time_and_survives(tmp_path: Path) -> None:
    doc = read_chat(_small(tmp_path))
    fat = doc.tier("FAT").annotations[0]
    assert (fat.onset, fat.offset) == (None, None)
    laugh = doc.tier("CHI").annotations[1]
    assert (laugh.value, laugh.onset, laugh.offset) == ("&=laughs . [+ r]", 2.5, 4.0)
    retime(doc, linear_time_map(scale=2.0))
    out = tmp_path / "out.cha"
    write_chat(doc, out)
    text = out.read_text(encoding="utf-8")
    assert "*FAT:\tTom Smith here . [+ id]\n" in text
    assert "*CHI:\t&=laughs . [+ r] \x155000_8000\x15\n" in text
    assert "*MOT:\tlook Anna , a dog ! \x150_3000\x15\n" in text
    again = read_chat(out)
    assert [(a.onset, a.offset) for a in again.tier("FAT").annotations] == [(None, None)]


def test_anonymized_headers_names_and_text(tmp_path: Path) -> None:
    doc = read_chat(_small(tmp_path))
    anon = TextAnonymizer(SECRET, {"Anna": "sub-01"}, namer=namer)
    counts = anonymize_document(doc, anon)
    out = tmp_path / "anon.cha"
    write_chat(doc, out)
    text = out.read_text(encoding="utf-8")
    child, father = namer(SECRET, "speaker", "sub-01"), namer(SECRET, "speaker", "tom smith")
    for leaked in ("Anna", "Tom", "Smith", "Jane", "Baker", "2014", "2016", "2;06.15"):
        assert leaked not in text
    assert f"@Participants:\tCHI {child} Target_Child, MOT Mother, FAT {father} Father\n" in text
    assert "@ID:\teng|Study|CHI|2;06.|female|TD||Target_Child|||\n" in text
    assert "@Birth" not in text and "@Date" not in text
    assert f"@Transcriber:\t{namer(SECRET, 'annotator', 'jane coder')}\n" in text
    assert f"@Comment:\trecorded at [ADDRESS] with {child}\n" in text
    assert f"*MOT:\tlook {child} , a dog ! \x150_1500\x15\n%com:\t{child} points at the dog\n" in text
    assert f"*FAT:\t{father} here . [+ id]\n" in text  # not on the roster, but named in @Participants
    assert "*CHI:\tdog . \x151500_2500\x15\n" in text  # unchanged records keep their bytes
    assert counts["removed"] == 2 and counts["participants"] == 2


def test_broken_chat_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.cha"
    path.write_text("@Begin\n*CHI:\thi \x15900_100\x15\n@End\n", encoding="utf-8")
    with pytest.raises(MediaError, match=r"bad.cha: line 2: bullet 900_100 ends before it starts"):
        read_chat(path)
    path.write_text("@UTF8\n*CHI hi\n", encoding="utf-8")
    with pytest.raises(MediaError, match=r"line 2: tier line without ':'"):
        read_chat(path)
    path.write_text("just text\n", encoding="utf-8")
    with pytest.raises(MediaError, match="no @Begin line"):
        read_chat(path)


def test_carried_with_media_renamed_and_alignment_checked(tmp_path: Path, dev_data: Path) -> None:
    study = tmp_path / "study"
    (study / "fam").mkdir(parents=True)
    shutil.copy(dev_data / VANDAM, study / "fam" / "BN32_010007.cha")
    media = {"fam/BN32_010007.wav": MediaInfo("sub-01/sub-01_audio.wav", 140.0, 140.0, redactions=((90.0, 93.2, "name"),))}
    result = carry_annotations(
        study / "fam/BN32_010007.cha",
        study_root=study,
        out_root=tmp_path / "out",
        media=media,
        keys=TextKeys(SECRET, namer=namer),
    )
    assert result.status == "ok", result.problems
    assert result.output == "sub-01/sub-01_audio.cha"
    text = (tmp_path / "out" / result.output).read_text(encoding="utf-8")
    assert "@Media:\tsub-01_audio, audio\n" in text
    for leaked in ("Natasha", "Sicilia", "Robert", "12-SEP-2016", "H. Heid", "@PID"):
        assert leaked not in text
    assert text.endswith("@Comment:\tavanon-redacted 90.000-93.200 s: name\n")

    short = {"fam/BN32_010007.wav": MediaInfo("sub-01/sub-01_audio.wav", 100.0, 100.0)}
    failed = carry_annotations(study / "fam/BN32_010007.cha", study_root=study, out_root=tmp_path / "out2", media=short, keys=TextKeys(SECRET, namer=namer))
    assert failed.status == "failed"
    assert "tier 'CHI', annotation r" in failed.reason and "103.086-114.242 s" in failed.reason
