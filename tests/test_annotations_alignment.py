"""Alignment checks name the tier, the annotation and the times."""

from __future__ import annotations

from avanon.annotations.alignment import check_durations, check_structure, check_within
from avanon.annotations.model import Annotation, AnnotationDocument, Tier, linear_time_map, retime


def _doc(fmt: str = "textgrid") -> AnnotationDocument:
    tier = Tier("words", "interval", [Annotation(0.0, 1.0, "a"), Annotation(0.8, 2.0, "b"), Annotation(3.0, 2.5, "c")])
    return AnnotationDocument(format=fmt, tiers=[tier], extent=(0.0, 3.0))


def test_structure_finds_overlap_and_reversed_times() -> None:
    problems = [str(p) for p in check_structure(_doc())]
    assert "tier 'words', annotation 'b', 0.800-2.000 s: overlaps 'a' (0.000-1.000 s)" in problems
    assert "tier 'words', annotation 'c', 3.000-2.500 s: ends before it starts" in problems


def test_overlap_allowed_outside_textgrid() -> None:
    assert [p.message for p in check_structure(_doc("elan"))] == ["ends before it starts"]


def test_within_names_annotation_after_media_end() -> None:
    problems = check_within(_doc(), 2.7, tolerance=0.05)
    assert [str(p) for p in problems] == [
        "tier 'words', annotation 'c', 3.000-2.500 s: ends after the media, which lasts 2.700 s",
        "0.000-3.000 s: document extent ends at 3.000 s, after the media, which lasts 2.700 s",
    ]
    assert check_within(_doc(), 3.02, tolerance=0.05) == []


def test_durations() -> None:
    assert check_durations(10.0, 10.03) == []
    (problem,) = check_durations(10.0, 10.852, name="a.mp4")
    assert "a.mp4 lasts 10.852 s after anonymization but 10.000 s before (difference +0.852 s" in str(problem)


def test_retime_applies_to_everything() -> None:
    doc = _doc()
    retime(doc, linear_time_map(input_start=0.5, scale=2.0))
    assert [(a.onset, a.offset) for a in doc.tiers[0].annotations] == [(-1.0, 1.0), (0.6000000000000001, 3.0), (5.0, 4.0)]
    assert doc.extent == (-1.0, 5.0)
    assert any(p.message == "negative time" for p in check_structure(doc))
