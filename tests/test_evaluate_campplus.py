"""Tests of the CAM++ speaker encoder (avanon.evaluate.campplus): Kaldi features, pinned weights, embeddings."""

from __future__ import annotations

from pathlib import Path

import kaldi_native_fbank as knf
import numpy as np
import pytest
import soundfile as sf

from avanon.errors import ModelError, ParameterError
from avanon.evaluate import asv, campplus

SPROCKET = Path("sprocket_vcc2016/example/data/wav")


def kaldi_reference(x: np.ndarray) -> np.ndarray:
    """Filter banks from kaldi-native-fbank (Kaldi's C++ code) with the same options."""
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0
    opts.frame_opts.samp_freq = 16000
    opts.mel_opts.num_bins = 80
    bank = knf.OnlineFbank(opts)
    bank.accept_waveform(16000, x.tolist())
    bank.input_finished()
    return np.stack([bank.get_frame(i) for i in range(bank.num_frames_ready)])


def test_fbank_matches_kaldi_on_speech(dev_data: Path) -> None:
    x, sr = sf.read(dev_data / SPROCKET / "SM1" / "100002.wav", dtype="float64")
    assert sr == 16000
    ours, kaldi = campplus.fbank(x), kaldi_reference(x)
    assert ours.shape == kaldi.shape == (1 + (len(x) - 400) // 160, 80)
    assert np.abs(ours - kaldi).max() < 1e-3


def test_fbank_of_a_tone_peaks_in_its_band() -> None:
    t = np.arange(16000) / 16000
    feats = campplus.fbank(0.5 * np.sin(2 * np.pi * 1000 * t))
    mel = 1127 * np.log1p(np.array([20.0, 8000.0]) / 700)
    centres = 700 * np.expm1((mel[0] + (np.arange(80) + 1) * (mel[1] - mel[0]) / 81) / 1127)
    assert int(np.argmax(feats.mean(axis=0))) == int(np.argmin(np.abs(centres - 1000)))
    with pytest.raises(ParameterError, match="at least 400 samples"):
        campplus.fbank(np.zeros(100))


def test_swapped_weights_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        campplus.weights_path(tmp_path)
    fake = tmp_path / campplus.WEIGHTS_RELPATH
    fake.parent.mkdir(parents=True)
    fake.write_bytes(b"not the model")
    with pytest.raises(ModelError, match="expected the pinned"):
        campplus.weights_path(tmp_path)


def test_campplus_tells_the_sprocket_speakers_apart(dev_data: Path) -> None:
    files = sorted((dev_data / SPROCKET).glob("*/10000[1-5].wav"))
    speakers = [f.parent.name for f in files]
    assert len(set(speakers)) == 4 and len(files) == 20
    emb = np.stack([asv.embed(*sf.read(f, dtype="float32"), encoder="campplus") for f in files])
    assert emb.shape == (20, 192)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert asv.pair_eer(emb, speakers, emb, speakers) < 0.1
    x, sr = sf.read(files[0], dtype="float32")
    resampled = asv.embed(x[::2], sr // 2, encoder="campplus")  # 8 kHz input is resampled to 16 kHz
    assert float(resampled @ emb[0]) > 0.7
    with pytest.raises(ParameterError, match="'encoder'"):
        asv.embed(x, sr, encoder="xvector")
