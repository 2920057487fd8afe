"""Tests of the speaker-verification attack metrics (avanon.evaluate.asv)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avanon.errors import ParameterError
from avanon.evaluate import asv


def test_eer_known_values() -> None:
    labels = np.array([True] * 50 + [False] * 50)
    assert asv.eer(np.r_[np.ones(50), np.zeros(50)], labels) == 0.0
    assert asv.eer(np.r_[np.zeros(50), np.ones(50)], labels) == 1.0
    rng = np.random.default_rng(0)
    random = asv.eer(rng.standard_normal(20000), rng.random(20000) < 0.3)
    assert random == pytest.approx(0.5, abs=0.02)
    # two unit-variance Gaussians 2 apart: EER = Phi(-1) = 0.1587
    tar, non = rng.normal(1, 1, 40000), rng.normal(-1, 1, 40000)
    assert asv.eer(np.r_[tar, non], np.r_[np.ones(40000, bool), np.zeros(40000, bool)]) == pytest.approx(0.1587, abs=0.01)
    with pytest.raises(ParameterError, match="target and non-target"):
        asv.eer(np.ones(3), np.ones(3, bool))


def _clusters(n_spk: int, per: int, spread: float, seed: int, offset: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).standard_normal((n_spk, 16))
    x = np.repeat(centres, per, axis=0) + spread * rng.standard_normal((n_spk * per, 16))
    if offset is not None:
        x = x + offset
    return x, [f"s{i}" for i in range(n_spk) for _ in range(per)]


def test_trials_exclude_self_pairs_and_bootstrap() -> None:
    emb, spk = _clusters(4, 10, 0.8, 0)
    scores, labels = asv.trials(emb, spk, emb, spk, exclude_same_index=True)
    assert len(scores) == 40 * 39 and labels.sum() == 4 * 10 * 9
    value = asv.pair_eer(emb, spk, emb, spk)
    lo, hi = asv.bootstrap_eer(emb, spk, emb, spk, n_boot=100)
    assert lo <= value <= hi and hi - lo < 0.3
    with pytest.raises(ParameterError, match="equal length"):
        asv.trials(emb, spk, emb[:5], spk[:5], exclude_same_index=True)


def test_lda_backend_beats_cosine_on_nuisance() -> None:
    """Speaker signal hidden under a large per-utterance nuisance in fixed directions: LDA removes it."""
    rng = np.random.default_rng(1)
    nuisance_dirs = rng.standard_normal((3, 16)) * 4

    def data(n_spk: int, seed: int, names: str) -> tuple[np.ndarray, list[str]]:
        r = np.random.default_rng(seed)
        centres = r.standard_normal((n_spk, 16))
        x = np.repeat(centres, 12, axis=0) + 0.3 * r.standard_normal((n_spk * 12, 16)) + r.standard_normal((n_spk * 12, 3)) @ nuisance_dirs
        return x, [f"{names}{i}" for i in range(n_spk) for _ in range(12)]

    test, spk = data(4, 2, "t")
    enrol = test + 0.1 * rng.standard_normal(test.shape)
    train, train_spk = data(20, 3, "p")
    raw = asv.pair_eer(enrol, spk, test, spk)
    semi = asv.semi_informed_eer(enrol, test, spk, train, train_spk, folds=2)
    assert semi < raw - 0.1


def test_semi_informed_never_trains_on_test_speakers() -> None:
    emb, spk = _clusters(4, 10, 0.5, 0)
    # a pool made only of the test speakers leaves each fold with the other fold's speakers only
    value = asv.semi_informed_eer(emb, emb, spk, emb, spk, folds=2)
    assert 0.0 <= value <= 1.0
    with pytest.raises(ParameterError, match="at least 2 training speakers"):
        asv.semi_informed_eer(emb, emb, spk, emb[:10], spk[:10], folds=1)


def test_encoder_separates_real_speakers(dev_data: Path) -> None:
    root = dev_data / "sprocket_vcc2016/example/data/wav"
    utts = []
    for speaker in ("SF1", "SM1"):
        for name in ("100001", "100002", "100003"):
            x, sr = sf.read(root / speaker / f"{name}.wav", dtype="float32")
            utts.append((speaker, x, sr))
    speakers, emb = asv.embed_all(utts)
    assert emb.shape == (6, 256) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    assert asv.pair_eer(emb, speakers, emb, speakers) < 0.1
    assert asv.RESEMBLYZER.record()["sha256"] == asv.RESEMBLYZER.sha256
