"""Tests of the turn-boundary metric (avanon.evaluate.turns)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avanon import registry
from avanon.annotations.formats import read_annotations
from avanon.errors import ParameterError
from avanon.evaluate import turns

RATE = 16000
FALCON = "picovoice_falcon"

ELAN = """<?xml version="1.0" encoding="UTF-8"?>
<ANNOTATION_DOCUMENT AUTHOR="" DATE="2024-01-01T00:00:00+00:00" FORMAT="3.0" VERSION="3.0">
<HEADER MEDIA_FILE="" TIME_UNITS="milliseconds"/>
<TIME_ORDER>
<TIME_SLOT TIME_SLOT_ID="ts1" TIME_VALUE="900"/><TIME_SLOT TIME_SLOT_ID="ts2" TIME_VALUE="2100"/>
<TIME_SLOT TIME_SLOT_ID="ts3" TIME_VALUE="2900"/><TIME_SLOT TIME_SLOT_ID="ts4" TIME_VALUE="4100"/>
</TIME_ORDER>
<TIER LINGUISTIC_TYPE_REF="default" PARTICIPANT="A" TIER_ID="CHI">
<ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a1" TIME_SLOT_REF1="ts1" TIME_SLOT_REF2="ts2"><ANNOTATION_VALUE>0.</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>
</TIER>
<TIER LINGUISTIC_TYPE_REF="default" PARTICIPANT="B" TIER_ID="FA1">
<ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a2" TIME_SLOT_REF1="ts3" TIME_SLOT_REF2="ts4"><ANNOTATION_VALUE>hello</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>
</TIER>
<TIER LINGUISTIC_TYPE_REF="sub" PARENT_REF="FA1" TIER_ID="xds@FA1">
<ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a3" TIME_SLOT_REF1="ts3" TIME_SLOT_REF2="ts4"><ANNOTATION_VALUE>C</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>
</TIER>
<LINGUISTIC_TYPE GRAPHIC_REFERENCES="false" LINGUISTIC_TYPE_ID="default" TIME_ALIGNABLE="true"/>
<LINGUISTIC_TYPE CONSTRAINTS="Included_In" GRAPHIC_REFERENCES="false" LINGUISTIC_TYPE_ID="sub" TIME_ALIGNABLE="true"/>
<CONSTRAINT DESCRIPTION="Time subdivision of parent annotation's time interval, no time gaps allowed within this interval" STEREOTYPE="Time_Subdivision"/>
<CONSTRAINT DESCRIPTION="Time alignable annotations within the parent annotation's time interval, gaps are allowed" STEREOTYPE="Included_In"/>
</ANNOTATION_DOCUMENT>
"""


def voiced(bursts: list[tuple[float, float]], duration: float = 5.0, *, seed: int = 0) -> np.ndarray:
    """A 150 Hz harmonic complex during ``bursts`` [s], quiet noise elsewhere."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration * RATE)) / RATE
    x = 0.001 * rng.standard_normal(len(t))
    tone = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 6))
    for start, end in bursts:
        sel = (t >= start) & (t < end)
        x[sel] += 0.2 * tone[sel]
    return x.astype(np.float32)


SEGMENTS = [(0.9, 2.1, "CHI"), (2.9, 4.1, "FA1")]


def test_identical_signals_have_no_shift() -> None:
    x = voiced([(1.0, 2.0), (3.0, 4.0)])
    report = turns.turn_boundaries(x, x, RATE, SEGMENTS)
    assert report.measured == 2 and report.lost == 0
    assert np.allclose(report.shifts, 0.0)
    assert report.statistics()["within_50ms"] == 1.0


def test_known_shifts_are_recovered() -> None:
    x = voiced([(1.0, 2.0), (3.0, 4.0)])
    y = voiced([(1.08, 2.0), (3.0, 3.85)], seed=1)  # first turn starts 80 ms late, second ends 150 ms early
    report = turns.turn_boundaries(x, y, RATE, SEGMENTS)
    assert report.start_shifts[0] == pytest.approx(0.08, abs=0.015)
    assert report.start_shifts[1] == pytest.approx(0.0, abs=0.015)
    assert report.end_shifts[0] == pytest.approx(0.0, abs=0.015)
    assert report.end_shifts[1] == pytest.approx(-0.15, abs=0.015)
    stats = report.statistics()
    assert stats["max_abs_shift"] == pytest.approx(0.15, abs=0.015)
    assert stats["within_50ms"] == pytest.approx(0.5)
    assert stats["within_100ms"] == pytest.approx(0.75)
    score = registry.create("metric", "turn_boundary_shift").compute(x, y, RATE, SEGMENTS)
    assert score.metric == "turn_boundary_shift" and score.direction == "lower" and score.unit == "s"
    assert score.value == pytest.approx(stats["median_abs_shift"]) and score.n == 4


def test_silenced_turns_are_lost_and_silent_segments_not_measured() -> None:
    x = voiced([(1.0, 2.0)])  # the second segment has no voice in the original
    y = voiced([], seed=1)
    report = turns.turn_boundaries(x, y, RATE, SEGMENTS)
    assert (report.measured, report.lost) == (0, 1)
    score = turns.TurnBoundaryShift().compute(x, y, RATE, SEGMENTS)
    assert np.isnan(score.value) and "no speaker segment" in score.detail["note"]
    with pytest.raises(ParameterError, match="'pad'"):
        turns.turn_boundaries(x, y, RATE, SEGMENTS, pad=-1.0)
    with pytest.raises(ParameterError, match="'pad' parameter of TurnBoundaryShift"):
        turns.TurnBoundaryShift(pad=10.0)


def test_speaker_tiers_from_elan_and_rttm(tmp_path: Path) -> None:
    (tmp_path / "sub-01").mkdir()
    sf.write(tmp_path / "sub-01" / "sub-01_task-play.wav", voiced([(1.0, 2.0)]), RATE)
    (tmp_path / "sub-01" / "sub-01_task-play.eaf").write_text(ELAN, encoding="utf-8")
    (tmp_path / "sub-01" / "sub-01_task-play_words.TextGrid").write_text("not read", encoding="utf-8")
    (tmp_path / "other.rttm").write_text("SPEAKER other 1 0.5 1.0 <NA> <NA> spk1 <NA> <NA>\n", encoding="utf-8")
    doc = read_annotations(tmp_path / "sub-01" / "sub-01_task-play.eaf")
    assert turns.speaker_segments(doc) == [(0.9, 2.1, "CHI"), (2.9, 4.1, "FA1")]  # xds@FA1 is a dependent tier
    found = turns.find_speaker_segments(
        tmp_path, "sub-01/sub-01_task-play.wav", ["other.rttm", "sub-01/sub-01_task-play.eaf", "sub-01/sub-01_task-play_words.TextGrid"]
    )
    assert found == ("sub-01/sub-01_task-play.eaf", SEGMENTS)
    assert turns.find_speaker_segments(tmp_path, "sub-01/sub-01_task-play.wav", ["other.rttm"]) == (None, [])
    rttm = read_annotations(tmp_path / "other.rttm")
    assert turns.speaker_segments(rttm) == [(0.5, 1.5, "spk1")]


def test_real_three_speaker_recording(dev_data: Path) -> None:
    """McAdams keeps turn timing (within tens of ms); a 300 ms delay is measured as such."""
    doc = read_annotations(dev_data / FALCON / "test.derived.rttm")
    segments = turns.speaker_segments(doc)
    assert len(segments) == 3
    x, rate = sf.read(dev_data / FALCON / "resources" / "audio_samples" / "test.wav", dtype="float32")
    kept = turns.turn_boundaries(x, registry.create("voice", "mcadams", alpha=0.8).apply(x, rate, seed=1, speaker="s"), rate, segments)
    assert kept.measured == 3 and kept.statistics()["median_abs_shift"] < 0.05
    late = np.concatenate([np.zeros(int(0.3 * rate), np.float32), x[: -int(0.3 * rate)]])
    delayed = turns.turn_boundaries(x, late, rate, segments).statistics()
    assert delayed["median_abs_shift"] == pytest.approx(0.3, abs=0.02)
    assert delayed["within_100ms"] == 0.0
