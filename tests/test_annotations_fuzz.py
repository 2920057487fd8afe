"""Property-based fuzzing of every annotation and table reader, and the recipe loader (issue 17).

The property: whatever the bytes, a reader returns a document or raises :class:`AvanonError` with
the file's name; never another exception (which would stop a study run) and never a hang. Inputs are
valid seeds of each format with random edits (insertions, deletions, replaced characters, cut tails),
and arbitrary bytes.

``make test`` runs a short profile (``AVANON_FUZZ=short``, 60 examples per reader); the long one
(``AVANON_FUZZ=long``, 2000 examples per reader) belongs in ``make test-all``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avanon.annotations import read_annotations
from avanon.errors import AvanonError

settings.register_profile("short", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROFILE = os.environ.get("AVANON_FUZZ", "short")

ELAN = """<?xml version="1.0" encoding="UTF-8"?>
<ANNOTATION_DOCUMENT AUTHOR="" DATE="2020-01-01T00:00:00+01:00" FORMAT="3.0" VERSION="3.0">
  <HEADER MEDIA_FILE="" TIME_UNITS="milliseconds">
    <MEDIA_DESCRIPTOR MEDIA_URL="file:///a.wav" MIME_TYPE="audio/x-wav" RELATIVE_MEDIA_URL="./a.wav"/>
  </HEADER>
  <TIME_ORDER>
    <TIME_SLOT TIME_SLOT_ID="ts1" TIME_VALUE="1000"/>
    <TIME_SLOT TIME_SLOT_ID="ts2" TIME_VALUE="2500"/>
  </TIME_ORDER>
  <TIER LINGUISTIC_TYPE_REF="utt" PARTICIPANT="Anna" TIER_ID="Anna">
    <ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a1" TIME_SLOT_REF1="ts1" TIME_SLOT_REF2="ts2"><ANNOTATION_VALUE>hi</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>
  </TIER>
  <TIER LINGUISTIC_TYPE_REF="code" PARENT_REF="Anna" TIER_ID="code@Anna">
    <ANNOTATION><REF_ANNOTATION ANNOTATION_ID="a2" ANNOTATION_REF="a1"><ANNOTATION_VALUE>C</ANNOTATION_VALUE></REF_ANNOTATION></ANNOTATION>
  </TIER>
  <LINGUISTIC_TYPE GRAPHIC_REFERENCES="false" LINGUISTIC_TYPE_ID="utt" TIME_ALIGNABLE="true"/>
  <LINGUISTIC_TYPE CONSTRAINTS="Symbolic_Association" LINGUISTIC_TYPE_ID="code" TIME_ALIGNABLE="false"/>
  <CONSTRAINT DESCRIPTION="1-1 association with a parent annotation" STEREOTYPE="Symbolic_Association"/>
</ANNOTATION_DOCUMENT>
"""
TEXTGRID = """File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 2
tiers? <exists>
size = 2
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
            text = "hello"
        intervals [2]:
            xmin = 1
            xmax = 2
            text = "okay"
    item [2]:
        class = "TextTier"
        name = "events"
        xmin = 0
        xmax = 2
        points: size = 1
        points [1]:
            number = 0.5
            mark = "tap"
"""
RTTM = "SPEAKER rec 1 0.50 1.25 <NA> <NA> spk1 <NA> <NA>\nSPEAKER rec 1 2.00 0.75 <NA> <NA> spk2 <NA> <NA>\n"
CHAT = (
    "@UTF8\n@Begin\n@Languages:\teng\n@Participants:\tCHI Anna Target_Child, MOT Mother\n"
    "@ID:\teng|Study|CHI|2;06.15|female|TD||Target_Child|||\n*MOT:\tlook Anna , a dog ! \x150_1500\x15\n"
    "%com:\tpoints\n*CHI:\tdog . \x151500_2500\x15\n@End\n"
)
BORIS = (
    "Observation id\tobs1\n\nTime\tMedia file path\tSubject\tBehavior\tComment\tStatus\n"
    "0.5\ta.mp4\tAnna\tgaze\t\tSTART\n1.5\ta.mp4\tAnna\tgaze\t\tSTOP\n2.0\ta.mp4\tTom\tpoint\tnote\tPOINT\n"
)
CSV = 'onset,offset,label,speaker\n0.5,1.0,hello,CHI\n1.2,2.0,"quoted, cell",MOT\n'
SEEDS = {
    "elan": (".eaf", ELAN),
    "textgrid": (".TextGrid", TEXTGRID),
    "rttm": (".rttm", RTTM),
    "chat": (".cha", CHAT),
    "boris": (".tsv", BORIS),
    "csv": (".csv", CSV),
}


@st.composite
def mutated(draw: st.DrawFn, seed: str) -> bytes:
    """``seed`` with a few random edits, or a cut tail, or (rarely) arbitrary bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=400))
    text = seed
    alphabet = st.sampled_from(list("<>/=\"'\t\r\n \\\x00\x15&;:,.-+@#[]{}0123456789eE") + ["\u00e9", "\ud7ff", "\ufeff"])
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "replace", "cut", "repeat"]))
        piece = draw(st.text(alphabet, min_size=1, max_size=8))
        if kind == "insert":
            text = text[:at] + piece + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        elif kind == "replace":
            text = text[:at] + piece + text[at + len(piece) :]
        elif kind == "cut":
            text = text[:at]
        else:
            text = text[:at] + text[at : at + 60] * draw(st.integers(2, 5)) + text[at + 60 :]
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "latin-1"]))
    return text.encode(encoding, "replace")


def _check(fmt: str, data: bytes) -> None:
    suffix = SEEDS[fmt][0]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz{suffix}"
        path.write_bytes(data)
        try:
            read_annotations(path, format=fmt)
        except AvanonError as exc:
            assert str(path) in str(exc), f"the message does not name the file: {exc}"


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_seed_reads(fmt: str, tmp_path: Path) -> None:
    """Each seed is a valid file: the fuzzing starts from something the reader accepts."""
    suffix, text = SEEDS[fmt]
    (tmp_path / f"seed{suffix}").write_text(text, encoding="utf-8")
    doc = read_annotations(tmp_path / f"seed{suffix}", format=fmt)
    assert sum(len(t.annotations) for t in doc.tiers) >= 2


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_readers_fail_only_with_named_errors(fmt: str) -> None:
    @settings(settings.get_profile(PROFILE))
    @given(mutated(SEEDS[fmt][1]))
    def run(data: bytes) -> None:
        _check(fmt, data)

    run()


def test_recipe_loader_fails_only_with_named_errors() -> None:
    from avanon import recipe

    seed = "name: fuzz\nextends: default\nseed: 3\nvideo:\n  detectors: [{name: blazeface, tiles: 1}]\n  encoder: {preset: ultrafast}\n"

    @settings(settings.get_profile(PROFILE))
    @given(mutated(seed))
    def run(data: bytes) -> None:
        try:
            recipe.parse(data.decode("utf-8", "replace"))
        except AvanonError:
            pass

    run()
