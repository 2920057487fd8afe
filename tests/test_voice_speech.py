"""Speech plans in ``avanon run``: speaker turns from annotations, PII tiers and transcript redaction."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avanon import recipe as recipes
from avanon.annotations import REDACTED_TIER, read_annotations
from avanon.audio.mcadams import McAdams
from avanon.audio.redact import Redaction, Redactor
from avanon.audio.speech import PlannedVoice, RedactStream, plans_for_study, speaker_turns, tier_spans
from avanon.audio.turns import apply_turns
from avanon.pipeline import Execution, People, run_study

RATE = 16000


def _voiced(seconds: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """A buzzy vowel-like signal with a slow pitch glide (something a voice transform changes)."""
    t = np.arange(int(seconds * rate)) / rate
    f0 = 140 + 20 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    x += 0.01 * np.random.default_rng(seed).standard_normal(len(t))
    return (0.2 * x / np.max(np.abs(x))).astype(np.float32)


def _textgrid(path: Path, duration: float, tiers: dict[str, list[tuple[float, float, str]]]) -> None:
    from praatio import textgrid

    tg = textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=duration)
    for name, entries in tiers.items():
        tg.addTier(textgrid.IntervalTier(name, entries, 0.0, duration))
    tg.save(str(path), format="long_textgrid", includeBlankSpaces=True)


@pytest.mark.parametrize("mode", ["silence", "tone"])
def test_streamed_redaction_equals_whole_signal(mode: str) -> None:
    x = _voiced(2.0)[:, None]
    redactor = Redactor(mode=mode, fade_ms=10.0)
    spans = [Redaction(0.3, 0.75, "PERSON", "transcript"), Redaction(1.2, 1.9, "PHONE", "annotation")]
    whole = redactor.apply(x, RATE, spans)

    class Identity:
        def process(self, block: np.ndarray) -> np.ndarray:
            return block

        def flush(self) -> np.ndarray:
            return np.zeros((0, 1), np.float32)

    stream = RedactStream(Identity(), redactor, spans, RATE)
    sizes = [1000, 37, 4096, 5000, 9999]
    parts, start = [], 0
    for n in sizes + [len(x)]:
        parts.append(stream.process(x[start : start + n]))
        start += n
        if start >= len(x):
            break
    parts.append(stream.flush())
    streamed = np.concatenate(parts)
    assert streamed.shape == x.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-6)
    inside = slice(int(0.35 * RATE), int(0.7 * RATE))
    if mode == "silence":
        assert np.abs(streamed[inside]).max() == 0.0
    else:
        assert np.abs(streamed[inside] - x[inside]).max() > 0.05
    assert np.array_equal(streamed[: int(0.29 * RATE)], x[: int(0.29 * RATE)])  # untouched before the first span


def test_planned_voice_gives_each_speaker_their_voice() -> None:
    x = _voiced(3.0)
    voice = McAdams(alpha=None, alpha_range=[0.6, 0.95])
    turns = [(0.0, 1.4, "rec/A"), (1.6, 3.0, "rec/B")]
    planned = PlannedVoice(voice, turns)
    out = planned.stream(RATE, 1, seed=3, speaker="rec")
    y = np.concatenate([out.process(x[:, None]), out.flush()])[:, 0]
    expected = apply_turns(voice, x, RATE, seed=3, turns=turns, default="rec")
    np.testing.assert_allclose(y, expected, atol=1e-5)
    as_a = voice.apply(x, RATE, seed=3, speaker="rec/A")
    as_b = voice.apply(x, RATE, seed=3, speaker="rec/B")
    a = slice(int(0.2 * RATE), int(1.2 * RATE))
    b = slice(int(1.8 * RATE), int(2.8 * RATE))
    assert np.abs(y[a] - as_a[a]).max() < 1e-4 < np.abs(y[a] - as_b[a]).max()  # A's turn has A's voice
    assert np.abs(y[b] - as_b[b]).max() < 1e-4 < np.abs(y[b] - as_a[b]).max()  # B's turn has B's


def test_turns_and_spans_from_annotation_files(tmp_path: Path) -> None:
    rttm = tmp_path / "rec.rttm"
    rttm.write_text("SPEAKER rec 1 0.50 1.00 <NA> <NA> CHI <NA> <NA>\nSPEAKER rec 1 2.00 0.50 <NA> <NA> FEM <NA> <NA>\n")
    turns = speaker_turns(read_annotations(rttm), recording_key="sub-01")
    assert turns == [(0.5, 1.5, "sub-01/CHI"), (2.0, 2.5, "sub-01/FEM")]
    grid = tmp_path / "rec.TextGrid"
    _textgrid(grid, 3.0, {"words": [(0.1, 0.4, "hello")], "PII": [(1.0, 1.5, "name"), (2.0, 2.2, "her street")]})
    doc = read_annotations(grid)
    assert tier_spans(doc) == [(1.0, 1.5, "NAME"), (2.0, 2.2, "ANNOTATED")]
    assert speaker_turns(doc, recording_key="sub-01") == []  # a words tier is not a speaker


def test_elan_speaker_tiers_use_participants_and_codes(dev_data: Path) -> None:
    eafs = sorted((dev_data / "childproject_annotations").rglob("*.eaf"))
    assert eafs, "the ACLEW ELAN examples are missing"
    found = 0
    for path in eafs:
        doc = read_annotations(path)
        turns = speaker_turns(doc, recording_key="sub-01")
        for start, end, speaker in turns:
            assert 0 <= start < end
            assert speaker.startswith("sub-01/") or "/" not in speaker
        found += len({s for _, _, s in turns})
    assert found >= 2  # CHI, FA1, ... tiers of the ACLEW template


def test_study_plans_pair_annotations_with_their_recording(tmp_path: Path) -> None:
    study = tmp_path / "study"
    (study / "sub-01").mkdir(parents=True)
    sf.write(study / "sub-01" / "talk.wav", _voiced(3.0), RATE)
    (study / "sub-01" / "talk.rttm").write_text("SPEAKER talk 1 0.0 1.0 <NA> <NA> MOT <NA> <NA>\n")
    _textgrid(study / "sub-01" / "talk_pii.TextGrid", 3.0, {"PII": [(1.0, 1.5, "NAME")]})
    plans = plans_for_study(study, ["sub-01/talk.rttm", "sub-01/talk_pii.TextGrid"], ["sub-01/talk.wav"], roster=["Anna"])
    plan = plans["sub-01/talk.wav"]
    assert plan.turns == ((0.0, 1.0, "sub-01/MOT"),)
    assert plan.spans == ((1.0, 1.5, "NAME"),)
    assert plan.names == ("Anna",)


def test_run_redacts_pii_tier_spans_and_marks_them(tmp_path: Path) -> None:
    study = tmp_path / "study"
    (study / "sub-02").mkdir(parents=True)
    x = _voiced(3.0)
    sf.write(study / "sub-02" / "play.wav", x, RATE)
    _textgrid(study / "sub-02" / "play.TextGrid", 3.0, {"speech": [(0.2, 2.8, "we met Anna there")], "PII": [(1.0, 1.6, "NAME")]})
    recipe = recipes.parse("extends: default\naudio: {redact: null, voice: {name: mcadams}}")
    summary = run_study(study, tmp_path / "out", recipe=recipe, seed=1, people=People(roster=["Anna"]))
    assert not summary.failed
    manifest = json.loads((tmp_path / "out" / "avanon_manifest.json").read_text())
    entry = next(e for e in manifest["entries"] if e["kind"] == "audio")
    assert [(r["start_s"], r["end_s"], r["category"], r["source"]) for r in entry["redactions"]] == [(1.0, 1.6, "NAME", "annotation")]
    assert any(s["step"] == "redact" and s["transcribe"] is False for s in entry["steps"])
    y, rate = sf.read(tmp_path / "out" / entry["output"], dtype="float32")
    assert len(y) == len(x)
    tone = y[int(1.1 * RATE) : int(1.5 * RATE)]
    # the default fill is a 1 kHz tone: nearly all energy at 1 kHz, none of the voice's harmonics
    spectrum = np.abs(np.fft.rfft(tone * np.hanning(len(tone))))
    freqs = np.fft.rfftfreq(len(tone), 1 / RATE)
    assert freqs[np.argmax(spectrum)] == pytest.approx(1000.0, abs=5.0)
    assert spectrum[np.abs(freqs - 1000) > 50].max() < 0.05 * spectrum.max()
    grid = next(e for e in manifest["entries"] if e["kind"] == "annotation")
    doc = read_annotations(tmp_path / "out" / grid["output"])
    marked = [t for t in doc.tiers if t.name == REDACTED_TIER]
    assert marked and any(a.onset == pytest.approx(1.0) for t in marked for a in t.annotations)
    text = " ".join(a.value for t in doc.tiers for a in t.annotations)
    assert "Anna" not in text


@pytest.mark.privacy
@pytest.mark.slow
def test_run_transcribes_and_redacts_a_spoken_name(dev_data: Path, tmp_path: Path) -> None:
    """A roster word heard in a real recording is redacted after voice conversion, in time, with transcripts."""
    study = tmp_path / "study"
    (study / "sub-03").mkdir(parents=True)
    shutil.copyfile(dev_data / "sprocket_vcc2016/example/data/wav/SF1/100008.wav", study / "sub-03" / "read.wav")
    recipe = recipes.parse("extends: default\naudio: {redact: {name: redact, mode: silence, padding_ms: 100}}")
    summary = run_study(study, tmp_path / "out", recipe=recipe, seed=2, people=People(roster=["Detail"]))
    assert not summary.failed
    manifest = json.loads((tmp_path / "out" / "avanon_manifest.json").read_text())
    entry = next(e for e in manifest["entries"] if e["kind"] == "audio")
    person = [r for r in entry["redactions"] if "PERSON" in r["category"]]
    assert len(person) == 1 and 0.5 < person[0]["start_s"] < 2.0
    y, rate = sf.read(tmp_path / "out" / entry["output"], dtype="float32")
    a, b = int(person[0]["start_s"] * rate) + 200, int(person[0]["end_s"] * rate) - 200
    assert np.abs(y[a:b]).max() < 1e-3 and np.abs(y).max() > 0.05
    stem = Path(entry["output"]).stem
    assert {Path(d["path"]).name for d in entry["derived"]} == {f"{stem}_transcript.json", f"{stem}_transcript.TextGrid"}
    saved = (tmp_path / "out" / entry["derived"][0]["path"]).read_text().lower()
    assert "detail" not in saved and "[person]" in saved


@pytest.mark.parametrize("segment_seconds", [0.0, 1.0])
def test_video_audio_is_redacted_whole_or_in_segments(tmp_path: Path, segment_seconds: float) -> None:
    """A PII tier over a video's audio is honoured whether the video is processed whole or in segments."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from avanon.media.audio import read_audio
    from synth import write_video

    study = tmp_path / "study"
    write_video(study / "sub-04" / "clip.mp4", frames=100, fps=25, size=(160, 120), audio_rate=16000)
    _textgrid(study / "sub-04" / "clip.TextGrid", 4.0, {"PII": [(1.2, 2.0, "NAME")]})
    recipe = recipes.parse("extends: default\naudio: {voice: null, redact: {name: redact, mode: silence, fade_ms: 5}}\nvideo: {encoder: {threads: 1}}")
    summary = run_study(study, tmp_path / "out", recipe=recipe, seed=4, execution=Execution(segment_seconds=segment_seconds))
    assert not summary.failed, summary.failed
    manifest = json.loads((tmp_path / "out" / "avanon_manifest.json").read_text())
    entry = next(e for e in manifest["entries"] if e["kind"] == "video")
    assert ("segments" in entry) == (segment_seconds > 0)
    assert [r["category"] for r in entry["redactions"]] == ["NAME"]
    y, rate = read_audio(tmp_path / "out" / entry["output"])
    x, _ = read_audio(study / "sub-04" / "clip.mp4")
    inside = slice(int(1.35 * rate), int(1.85 * rate))
    outside = slice(int(0.3 * rate), int(1.0 * rate))
    assert np.abs(y[inside]).max() < 0.01 < np.abs(x[inside]).max()  # AAC leaves a little noise, the tone is gone
    assert np.abs(y[outside]).max() > 0.1


def test_channel_speakers_get_their_own_voices() -> None:
    x = np.stack([_voiced(2.0, seed=1), _voiced(2.0, seed=2)], axis=1)
    voice = McAdams(alpha=None, alpha_range=[0.6, 0.95])
    stream = PlannedVoice(voice, channel_speakers=True).stream(RATE, 2, seed=5, speaker="sub-01")
    y = np.concatenate([stream.process(x[:700]), stream.process(x[700:]), stream.flush()])
    assert y.shape == x.shape
    for k in range(2):
        own = voice.apply(x[:, k], RATE, seed=5, speaker=f"sub-01/ch{k + 1}")
        other = voice.apply(x[:, k], RATE, seed=5, speaker=f"sub-01/ch{2 - k}")
        assert np.abs(y[:, k] - own).max() < 1e-5 < np.abs(y[:, k] - other).max()


def test_speaker_mapping_file_gives_recordings_one_voice(tmp_path: Path) -> None:
    """Two recordings mapped to one speaker get the same pseudo-voice; an unmapped one does not."""
    from avanon.cli.run import read_speaker_map

    study = tmp_path / "study"
    study.mkdir()
    x = _voiced(1.5)
    for name in ("a.wav", "b.wav", "c.wav"):
        sf.write(study / name, x, RATE)
    mapping_file = tmp_path / "speakers.tsv"
    mapping_file.write_text("# path\tspeaker\na.wav\tP07\nb\tP07\n", encoding="utf-8")
    mapping = read_speaker_map(mapping_file)
    assert mapping == {"a.wav": "P07", "b": "P07"}
    recipe = recipes.parse("extends: default\naudio: {voice: {name: mcadams, alpha: null}}")
    summary = run_study(study, tmp_path / "out", recipe=recipe, seed=9, people=People(speakers=mapping))
    assert not summary.failed
    a, b, c = (sf.read(tmp_path / "out" / n, dtype="float32")[0] for n in ("a.wav", "b.wav", "c.wav"))
    assert np.array_equal(a, b) and not np.allclose(a, c, atol=1e-3)
