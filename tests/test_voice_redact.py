"""Tests of spoken-PII redaction (avanon.audio.redact)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avanon.audio.redact import Redaction, Redactor, merge, redact_file, redact_transcript, write_textgrid, write_transcript_json
from avanon.audio.transcribe import Segment, Transcript, Word
from avanon.errors import ParameterError
from avanon.pii.recognizers import Roster

SR = 16000


def transcript() -> Transcript:
    words = (Word(0.5, 0.8, "hello"), Word(0.9, 1.3, "Anna"), Word(1.4, 1.7, "call"), Word(1.8, 2.0, "555"), Word(2.1, 2.3, "867"), Word(2.4, 2.8, "5309"))
    return Transcript(
        (Segment(0.5, 2.8, "hello Anna call 555 867 5309", words), Segment(3.0, 3.6, "bye now", (Word(3.0, 3.2, "bye"), Word(3.3, 3.6, "now")))), 4.0
    )


def signal(seconds: float = 4.0) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_plan_pads_merges_and_hides_words() -> None:
    r = Redactor(padding_ms=100.0, use_spacy=False)
    plan = r.plan(transcript(), Roster(names=["Anna"]), annotations=[(3.3, 3.6, "PII")])
    spans = [(round(p.start, 3), round(p.end, 3), p.category, p.source) for p in plan]
    assert spans == [(0.8, 1.4, "PERSON", "transcript"), (1.7, 2.9, "PHONE", "transcript"), (3.3, 3.6, "PII", "annotation")]
    red = redact_transcript(transcript(), plan)
    assert [w.text for w in red.words] == ["hello", "[PERSON]", "call", "[PHONE]", "[PHONE]", "[PHONE]", "bye", "[PII]"]
    assert "Anna" not in json.dumps(red.to_dict()) and "5309" not in json.dumps(red.to_dict())
    assert all(set(p.record()) == {"start_s", "end_s", "category", "source"} for p in plan)


@pytest.mark.parametrize("mode", ["silence", "tone", "noise"])
def test_apply_keeps_duration_and_replaces_span(mode: str) -> None:
    x = np.stack([signal(), signal()], axis=1)
    r = Redactor(mode=mode, level_db=-30.0, fade_ms=10.0)
    y = r.apply(x, SR, [Redaction(1.0, 2.0, "PERSON", "transcript")])
    assert y.shape == x.shape and y.dtype == np.float32
    inner = y[int(1.01 * SR) : int(1.99 * SR), 0]
    original = x[int(1.01 * SR) : int(1.99 * SR), 0]
    assert abs(np.corrcoef(inner, original)[0, 1]) < 0.05 if mode != "silence" else np.all(inner == 0)
    if mode != "silence":
        assert np.sqrt(np.mean(inner**2)) == pytest.approx(10 ** (-30 / 20), rel=0.1)
    assert np.array_equal(y[:SR], x[:SR]) and np.array_equal(y[2 * SR + 1 :], x[2 * SR + 1 :])
    assert np.abs(np.diff(y[:, 0])).max() < 0.2  # no step at the edges


def test_fail_closed_redacts_whole_segment() -> None:
    tr = transcript()
    seg = tr.segments[0]
    broken = Segment(seg.start, seg.end, seg.text, tuple(Word(w.start, w.start, w.text) for w in seg.words))
    tr = Transcript((broken, tr.segments[1]), tr.duration)
    plan = Redactor(padding_ms=50.0, use_spacy=False, categories=("PERSON",)).plan(tr, Roster(names=["Anna"]))
    assert [(round(p.start, 3), round(p.end, 3), p.source) for p in plan] == [(0.45, 2.85, "fail-closed")]
    red = redact_transcript(tr, plan)
    assert red.segments[0].text == "[PERSON]" and red.segments[1].text == "bye now"


def test_merge_and_bad_annotations() -> None:
    merged = merge([Redaction(0, 1, "A", "transcript"), Redaction(0.5, 2, "B", "fail-closed")])
    assert merged == [Redaction(0, 2, "A+B", "fail-closed")]
    with pytest.raises(ParameterError, match="start_s <= end_s"):
        Redactor(use_spacy=False).plan(transcript(), annotations=[(2.0, 1.0, "PII")])
    with pytest.raises(ParameterError, match="after the end"):
        Redactor(use_spacy=False).plan(transcript(), annotations=[(9.0, 10.0, "PII")])
    with pytest.raises(ParameterError, match="'mode' parameter of Redactor must be one of"):
        Redactor(mode="bleep")
    with pytest.raises(ParameterError, match="categories"):
        Redactor(categories=("NAME",))


def test_writers(tmp_path: Path) -> None:
    plan = Redactor(use_spacy=False).plan(transcript(), Roster(names=["Anna"]))
    red = redact_transcript(transcript(), plan)
    data = json.loads(write_transcript_json(tmp_path / "t.json", red, plan).read_text())
    assert data["redactions"][0]["category"] == "PERSON" and "Anna" not in json.dumps(data)
    from praatio import textgrid

    tg = textgrid.openTextgrid(str(write_textgrid(tmp_path / "t.TextGrid", red, plan)), includeEmptyIntervals=False)
    assert tg.tierNames == ("words", "redactions")
    assert "[PERSON]" in [e.label for e in tg.getTier("words").entries]


@pytest.mark.privacy
@pytest.mark.slow
def test_redact_real_recording(dev_data: Path, tmp_path: Path) -> None:
    src = dev_data / "sprocket_vcc2016/example/data/wav/SF1/100008.wav"  # "One odd detail. All these books..."
    out = tmp_path / "redacted.wav"
    result = redact_file(src, out, roster=Roster(names=["Detail"]), redactor=Redactor(mode="silence", padding_ms=100.0))
    x, sr = sf.read(src, dtype="float32")
    y, sr2 = sf.read(out, dtype="float32")
    assert sr2 == sr and len(y) == len(x)
    person = [r for r in result.redactions if r.category == "PERSON"]
    assert len(person) == 1 and 0.5 < person[0].start < 2.0
    a, b = int(person[0].start * sr) + 200, int(person[0].end * sr) - 200
    assert np.abs(y[a:b]).max() < 1e-4 and np.abs(x[a:b]).max() > 0.01
    saved = (tmp_path / "redacted.transcript.json").read_text()
    assert "detail" not in saved.lower() and "[PERSON]" in saved
    assert (tmp_path / "redacted.TextGrid").is_file()
    with pytest.raises(ParameterError, match="overwrite"):
        redact_file(src, out)


@pytest.mark.privacy
@pytest.mark.slow
def test_end_to_end_on_synthesized_pii(tmp_path: Path) -> None:
    """Speech with known personal information (made with the offline piper voice) loses all of it."""
    from avanon.audio.resynth import synthesize
    from avanon.audio.transcribe import transcribe

    pieces = []
    for sentence in (
        "Hello, my name is Anna Miller.",
        "You can call me at 555 867 5309.",
        "I live at 12 Baker Street since March 2019.",
        "The weather was fine.",
    ):
        y, rate = synthesize(sentence)
        pieces += [y, np.zeros(int(0.4 * rate), dtype=np.float32)]
    x = np.concatenate(pieces)
    result = Redactor(mode="silence").run(x, rate, roster=Roster(names=["Anna Miller"]))
    assert len(result.samples) == len(x)
    categories = {c for r in result.redactions for c in r.category.split("+")}
    assert {"PERSON", "PHONE", "ADDRESS", "DATE"} <= categories
    heard = transcribe(result.samples, rate).text.lower()
    for secret in ("anna", "miller", "867", "5309", "baker", "2019"):
        assert secret not in heard
    assert "weather" in heard


def test_a_zero_length_word_inside_a_span_is_redacted_in_the_transcript() -> None:
    """Whisper sometimes times a word as zero-length ("Mr. Brown," with Brown at 12.28-12.28 s)."""
    words = (Word(11.86, 12.28, "Mr.", 0.9), Word(12.28, 12.28, "Brown,", 0.9), Word(12.54, 12.62, "in", 0.9))
    transcript = Transcript((Segment(11.8, 12.7, "Mr. Brown, in", words),), 14.0, "en")
    out = redact_transcript(transcript, [Redaction(12.13, 12.43, "PERSON", "transcript")])
    assert out.segments[0].text == "[PERSON] [PERSON] in"
