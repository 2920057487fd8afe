"""Synthetic turn-taking from real annotations (../shared/data/dev): the checks hold on a real day-long recording."""

from __future__ import annotations

from pathlib import Path

import pytest

from avanon.synth import tables, validate
from avanon.synth.pipeline import SynthOptions, synthesize_features

DAYLONG = "childproject_annotations/examples/valid_raw_data/annotations/metrics/raw/example_metrics.rttm"  # VTC, 16 h, Tsimane
FALCON = "picovoice_falcon/test.derived.rttm"  # 18.6 s, 3 speakers


def _speakers_only(dev_data: Path, rel: str, features: Path) -> tables.TurnSession:
    """The RTTM without VTC's ``SPEECH`` class (the union of the voice types, not a speaker), written under ``features``."""
    path = dev_data / rel
    session = tables.read_turns(path, root=path.parent)
    kept = tables.TurnSession(session.rel, session.file_id, [s for s in session.segments if s[2] != "SPEECH"])
    tables.write_turns(kept, features)
    return kept


@pytest.mark.slow
def test_a_real_day_long_recording_keeps_its_turn_taking(dev_data: Path, tmp_path: Path) -> None:
    real = _speakers_only(dev_data, DAYLONG, tmp_path / "features")
    assert len(real.segments) == 5452 and real.duration > 16 * 3600 - 1
    report = synthesize_features(tmp_path / "features", tmp_path / "out", options=SynthOptions(seed=0))
    checks = {c.name: c for c in report.checks}
    assert set(checks) == {"turn_rate", "turn_duration", "overlap_share", "silence_share"}
    assert all(c.passed is True for c in checks.values()), {n: (c.value, c.tolerance) for n, c in checks.items()}
    assert report.status == "passed"
    synthetic = tables.read_turns(tmp_path / "out" / real.rel, root=tmp_path / "out")
    assert synthetic.speakers == real.speakers
    starts = {round(a, 3) for a, _, _ in real.segments}
    assert sum(round(a, 3) in starts for a, _, _ in synthetic.segments) <= 0.01 * len(synthetic.segments)  # no real segment times copied


@pytest.mark.slow
def test_a_real_recording_of_three_turns_is_too_short_to_validate(dev_data: Path, tmp_path: Path) -> None:
    real = _speakers_only(dev_data, FALCON, tmp_path / "features")
    report = synthesize_features(tmp_path / "features", tmp_path / "out", options=SynthOptions(seed=0))
    assert report.status == "not validated" and len(real.segments) == 3
    assert all(c.is_too_short and c.detail["too_short_to_validate"]["need"] == validate.MIN_TURNS for c in report.checks)
