"""Tests of the study-level voice privacy attacks (avanon.evaluate.voice)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from avanon.evaluate import asv
from avanon.evaluate.voice import genders, semi_informed, speech_chunks, voice_privacy

SPROCKET = "sprocket_vcc2016/example/data/wav"


def embeddings(speakers: int, per: int, *, spread: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Enrol/test embeddings of ``speakers`` x ``per`` chunks around one centre per speaker."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(speakers, 32))
    labels = [f"sub-{i:02d}" for i in range(speakers) for _ in range(per)]
    base = np.repeat(centres, per, axis=0)
    return base + spread * rng.normal(size=base.shape), base + spread * rng.normal(size=base.shape), labels


@pytest.mark.parametrize("speakers, per, reason", [(3, 8, "at least 4 speakers"), (4, 1, "more chunks than speakers")])
def test_semi_informed_is_not_computable_on_too_little_speech(speakers: int, per: int, reason: str) -> None:
    enrol, test, labels = embeddings(speakers, per)
    result = semi_informed(enrol, test, labels)
    assert result["eer"] is None and result["computable"] is False
    assert result["note"].startswith("not computable") and reason in result["note"]


def test_semi_informed_never_raises_on_small_pools() -> None:
    """Two chunks per speaker: sklearn's LDA fails on the within-speaker scatter; reported, not raised."""
    enrol, test, labels = embeddings(4, 2)
    result = semi_informed(enrol, test, labels)
    assert result["eer"] is None and result["computable"] is False
    assert "could not be trained on 8 chunks of 4 speakers" in result["note"]


def test_semi_informed_matches_the_asv_computation() -> None:
    enrol, test, labels = embeddings(6, 8, spread=0.3)
    result = semi_informed(enrol, test, labels)
    assert result["computable"] and result["trials"] == 48 * 47
    assert result["eer"] == pytest.approx(asv.semi_informed_eer(enrol, test, labels, enrol, labels, folds=2))
    assert result["eer"] < 0.1  # well-separated speakers are linked
    far = semi_informed(*embeddings(6, 8, spread=10.0))
    assert far["eer"] > 0.25  # speakers buried in noise are not


def test_attack_without_same_speaker_trials_is_not_computable() -> None:
    from avanon.evaluate.voice import _attack

    enrol, test, labels = embeddings(4, 1)
    entry = _attack(enrol, test, labels, seed=0)
    assert entry["eer"] is None and entry["target_trials"] == 0 and "not computable" in entry["note"]
    entry = _attack(*embeddings(3, 3, spread=0.2), seed=0)
    assert entry["eer"] < 0.1 and entry["trials"] == 9 * 8 and len(entry["ci95"]) == 2


def test_chunks_and_genders(tmp_path: Path) -> None:
    rate = 16000
    x = np.zeros(12 * rate, np.float32)
    t = np.arange(len(x)) / rate
    for start, end in ((0.5, 3.0), (3.3, 4.0), (6.0, 11.5)):
        sel = (t >= start) & (t < end)
        x[sel] = 0.3 * np.sin(2 * np.pi * 140 * t[sel])
    chunks = [(a / rate, b / rate) for a, b in speech_chunks(x, rate)]
    assert all(2.0 - 0.05 <= b - a <= 6.0 + 0.05 for a, b in chunks)
    assert chunks[0][0] == pytest.approx(0.5, abs=0.05) and chunks[0][1] == pytest.approx(4.0, abs=0.05)
    (tmp_path / "participants.tsv").write_text("participant_id\tsex\nsub-01\tF\nsub-02\tm\nsub-03\tn/a\n", encoding="utf-8")
    assert genders(tmp_path) == {"sub-01": "female", "sub-02": "male"}


def test_voice_privacy_on_real_speakers(tmp_path: Path, dev_data: Path) -> None:
    """Four VCC2016 speakers x 2 utterances, McAdams 0.8: ignorant and lazy-informed EERs with intervals."""
    from avanon import registry

    original, anonymized = tmp_path / "study", tmp_path / "out"
    voice = registry.create("voice", "mcadams", alpha=0.8)
    pairs = []
    for speaker in ("SF1", "SM1", "TF1", "TM1"):
        for utterance in ("100001", "100005"):
            rel = f"sub-{speaker}/sub-{speaker}_utt-{utterance}.wav"
            x, rate = sf.read(dev_data / SPROCKET / speaker / f"{utterance}.wav", dtype="float32")
            for root, signal in ((original, x), (anonymized, voice.apply(x, rate, seed=3, speaker=f"sub-{speaker}"))):
                (root / f"sub-{speaker}").mkdir(parents=True, exist_ok=True)
                sf.write(root / rel, signal, rate)
            pairs.append(SimpleNamespace(input=rel, output=rel, speaker=f"sub-{speaker}"))
    (original / "participants.tsv").write_text("participant_id\tsex\nsub-SF1\tF\nsub-SM1\tM\nsub-TF1\tF\nsub-TM1\tM\n", encoding="utf-8")
    header = {"recipe": {"audio": {"voice": {"name": "mcadams", "alpha": 0.8}}}, "seed": 3}
    result = voice_privacy(original, anonymized, pairs, header)
    assert result["speakers"] == 4 and result["chunks"] == 8
    assert result["original"]["eer"] < result["ignorant"]["eer"]  # anonymization hides something
    assert set(result["by_encoder"]) == {"resemblyzer", "campplus"}
    for attacker in ("ignorant", "lazy_informed"):
        entry = result[attacker]
        assert entry["trials"] == 8 * 7 and entry["target_trials"] == 8
        assert entry["ci95"][0] <= entry["eer"] <= entry["ci95"][1]
        each = {e: result["by_encoder"][e][attacker]["eer"] for e in ("resemblyzer", "campplus")}
        assert entry["eer"] == min(each.values()) and each[entry["encoder"]] == entry["eer"]  # the worse for privacy
    assert set(result["by_gender"]) == {"female", "male"}
