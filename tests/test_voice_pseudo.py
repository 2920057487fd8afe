"""Tests of the WORLD pseudo-speaker conversion (avanon.audio.pseudo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avanon import registry
from avanon.audio.pseudo import PseudoSpeaker
from avanon.errors import ParameterError


def _vowelish(sr: int, seconds: float, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    """A voiced, formant-shaped synthetic signal with a falling-rising F0 contour and pauses."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    contour = f0 * (1 + 0.15 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(contour) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 25) if k * contour.max() < sr / 2)
    x = x * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    gate = (np.sin(2 * np.pi * 0.4 * t) > -0.6).astype(float)
    x = 0.2 * x * gate + 0.002 * rng.standard_normal(len(t))
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def speech(dev_data: Path) -> tuple[np.ndarray, int]:
    x, sr = sf.read(dev_data / "sprocket_vcc2016/example/data/wav/SF1/100008.wav", dtype="float32")
    return x, sr


def test_registered_and_validates() -> None:
    assert registry.get("voice", "pseudo-speaker") is PseudoSpeaker
    with pytest.raises(ParameterError, match="The 'timbre_db' parameter of PseudoSpeaker must be a float in the range"):
        PseudoSpeaker(timbre_db=99.0)
    with pytest.raises(ParameterError, match="'warp_range'"):
        PseudoSpeaker(warp_range=(1.2, 0.9))
    with pytest.raises(ParameterError, match="'formant_band_hz'"):
        PseudoSpeaker(formant_band_hz=(2500.0, 250.0))
    with pytest.raises(ParameterError, match="The 'timbre_inner' parameter of PseudoSpeaker must be a float in the range"):
        PseudoSpeaker(timbre_inner=1.5)
    t = PseudoSpeaker(jitter=0.2)
    assert PseudoSpeaker(**t.get_params()).get_params() == t.get_params()


@pytest.mark.parametrize("sr", [8000, 16000, 48000])
def test_same_length_deterministic_seeded(sr: int) -> None:
    x = _vowelish(sr, 1.3)
    t = PseudoSpeaker()
    y1 = t.apply(x, sr, seed=3, speaker="sub-01")
    assert y1.shape == x.shape and y1.dtype == np.float32
    assert np.array_equal(y1, t.apply(x, sr, seed=3, speaker="sub-01"))
    assert not np.allclose(y1, t.apply(x, sr, seed=4, speaker="sub-01"), atol=1e-3)
    assert np.sqrt(np.mean(y1**2)) > 0.01


def test_voices_keyed_by_secret_and_speaker() -> None:
    t = PseudoSpeaker()
    a, b = t.voice(1, "sub-01"), t.voice(1, "sub-02")
    assert a == t.voice(1, "sub-01")
    assert a != b and a != t.voice(2, "sub-01")
    lo, hi = t.f0_range_hz
    assert lo <= a.f0_mean_hz <= hi
    jittered = PseudoSpeaker(jitter=0.2)
    assert jittered.voice(1, "s", recording="r1") != jittered.voice(1, "s", recording="r2")
    assert abs(jittered.voice(1, "s", recording="r1").warp - jittered.voice(1, "s", recording="r2").warp) < 0.1


def streamed(t: PseudoSpeaker, x: np.ndarray, sr: int, *, seed: int, blocks: int) -> np.ndarray:
    """``x`` through ``t``'s stream in random block sizes (1-9000 samples, drawn with seed ``blocks``)."""
    stream = t.stream(sr, 1, seed=seed, speaker="a")
    rng = np.random.default_rng(blocks)
    out, i = [], 0
    while i < len(x):
        n = int(rng.integers(1, 9000))
        out.append(stream.process(x[i : i + n, None]))
        i += n
    out.append(stream.flush())
    return np.concatenate(out)[:, 0]


@pytest.mark.parametrize("banded", [{}, {"timbre_inner": 0.3, "warp_inner": 0.5, "band_tilt": True}])
def test_stream_independent_of_block_sizes(banded: dict[str, object]) -> None:
    sr = 16000
    x = _vowelish(sr, 7.0)
    t = PseudoSpeaker(chunk_s=2.0, **banded)
    whole = t.apply(x, sr, seed=1, speaker="a")
    assert np.array_equal(streamed(t, x, sr, seed=1, blocks=0), whole)


def test_no_clicks_at_chunk_borders(speech: tuple[np.ndarray, int]) -> None:
    x, sr = speech
    x = np.concatenate([x, x])
    chunked = PseudoSpeaker(chunk_s=2.0).apply(x, sr, seed=5, speaker="a")
    whole = PseudoSpeaker(chunk_s=60.0).apply(x, sr, seed=5, speaker="a")
    hop = sr // 200  # 5 ms

    def roughness(y: np.ndarray) -> np.ndarray:
        d = np.diff(y, prepend=y[0])
        return np.sqrt(np.mean(d[: len(d) // hop * hop].reshape(-1, hop) ** 2, axis=1))

    assert roughness(chunked).max() < 1.5 * roughness(whole).max()
    # the chunked voice is the same voice: level within 2 dB of the one-piece conversion
    ratio = np.sqrt(np.mean(chunked**2) / np.mean(whole**2))
    assert 0.8 < ratio < 1.25


def test_f0_contour_shape_survives(speech: tuple[np.ndarray, int]) -> None:
    import parselmouth

    x, sr = speech
    y = PseudoSpeaker().apply(x, sr, seed=2, speaker="a")
    p0 = parselmouth.Sound(x.astype(np.float64), sr).to_pitch_ac(time_step=0.01, pitch_floor=75, pitch_ceiling=500).selected_array["frequency"]
    p1 = parselmouth.Sound(y.astype(np.float64), sr).to_pitch_ac(time_step=0.01, pitch_floor=75, pitch_ceiling=500).selected_array["frequency"]
    n = min(len(p0), len(p1))
    both = (p0[:n] > 0) & (p1[:n] > 0)
    assert both.sum() > 100
    assert np.corrcoef(p0[:n][both], p1[:n][both])[0, 1] > 0.9
    assert abs(np.log(np.median(p1[:n][both]) / np.median(p0[:n][both]))) > 0.01


def test_stereo_channels(speech: tuple[np.ndarray, int]) -> None:
    x, sr = speech
    x = x[: 2 * sr]
    stereo = np.stack([x, np.roll(x, 4000) * 0.5], axis=1)
    y = PseudoSpeaker().apply(stereo, sr, seed=1, speaker="a")
    assert y.shape == stereo.shape
    mono0 = PseudoSpeaker().apply(x, sr, seed=1, speaker="a")
    assert np.allclose(y[:, 0], mono0)
    per_channel = PseudoSpeaker(channel_voices=True).apply(stereo, sr, seed=1, speaker="a")
    assert not np.allclose(per_channel[:, 0], mono0, atol=1e-3)


@pytest.mark.parametrize("n", [0, 1, 50, 800, 1599])
def test_tiny_inputs(n: int) -> None:
    x = _vowelish(16000, 0.1)[:n]
    y = PseudoSpeaker().apply(x, 16000, seed=0, speaker="a")
    assert y.shape == x.shape and np.all(np.isfinite(y))


def test_silence_and_clipping() -> None:
    sr = 16000
    silent = np.zeros(sr, dtype=np.float32)
    assert np.array_equal(PseudoSpeaker().apply(silent, sr, seed=0, speaker="a"), silent)
    loud = np.clip(_vowelish(sr, 1.0) * 20, -1, 1)
    y = PseudoSpeaker().apply(loud, sr, seed=0, speaker="a")
    assert y.shape == loud.shape and np.abs(y).max() <= 1.0 and np.all(np.isfinite(y))


def test_refuses_too_low_rate() -> None:
    with pytest.raises(ParameterError, match="at least 4000 Hz"):
        PseudoSpeaker().apply(np.zeros(100, dtype=np.float32), 2000, seed=0, speaker="a")


def test_long_stream_keeps_memory_bounded() -> None:
    sr = 8000
    piece = _vowelish(sr, 5.0)
    t = PseudoSpeaker(chunk_s=3.0, lifter=40, f0_smooth_ms=30.0)
    stream = t.stream(sr, 1, seed=0, speaker="a")
    total, largest = 0, 0
    for _ in range(6):  # 30 s, fed in 5 s blocks
        total += len(stream.process(piece[:, None]))
        largest = max(largest, len(stream.buf))
    total += len(stream.flush())
    assert total == 6 * len(piece)
    assert largest < (3.0 + 5.0 + 1.0) * sr


def test_warp_keeps_min_distance_from_source() -> None:
    t = PseudoSpeaker(min_warp=0.08, warp_range=(0.8, 1.25))
    warps = np.array([t.voice(1, f"sub-{i:02d}").warp for i in range(200)])
    assert np.all(np.abs(np.log(warps)) >= 0.08 - 1e-9)
    assert warps.min() >= 0.8 - 1e-9 and warps.max() <= 1.25 + 1e-9
    assert (warps < 1).sum() > 50 and (warps > 1).sum() > 50  # both directions are used
    # without the exclusion the draw is the plain log-uniform one over the whole range
    plain = PseudoSpeaker(min_warp=0.0, warp_range=(0.8, 1.25))
    assert np.any(np.abs(np.log([plain.voice(1, f"sub-{i:02d}").warp for i in range(200)])) < 0.08)


def _median_f0(x: np.ndarray, sr: int) -> float:
    import parselmouth

    f = parselmouth.Sound(x.astype(np.float64), sr).to_pitch_ac(time_step=0.01, pitch_floor=60, pitch_ceiling=500).selected_array["frequency"]
    return float(np.median(f[f > 0]))


def test_pseudo_f0_pushed_away_from_the_speakers_own() -> None:
    sr = 16000
    x = _vowelish(sr, 2.0, f0=140.0)
    own = _median_f0(x, sr)
    near = PseudoSpeaker(f0_range_hz=(own, own), min_f0_shift_st=3.0).apply(x, sr, seed=0, speaker="a")
    assert abs(12 * np.log2(_median_f0(near, sr) / own)) > 2.5
    free = PseudoSpeaker(f0_range_hz=(own, own), min_f0_shift_st=0.0).apply(x, sr, seed=0, speaker="a")
    assert abs(12 * np.log2(_median_f0(free, sr) / own)) < 1.0


def _band_db(x: np.ndarray, sr: int) -> np.ndarray:
    """Long-term level in the 6 middle bands of 8 between 100 Hz and sr/2 [dB].

    The outer bands are left out: WORLD's envelope estimate smooths the steep edges of a noise
    spectrum there whatever the transform does.
    """
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    edges = np.geomspace(100, sr / 2, 9) * len(x) / sr
    return np.array([10 * np.log10(spec[int(a) : int(b)].mean() + 1e-20) for a, b in zip(edges[1:-2], edges[2:-1])])


def test_pauses_keep_their_background_but_whisper_is_converted() -> None:
    from scipy.signal import lfilter

    sr = 16000
    rng = np.random.default_rng(5)
    hum = lfilter([1.0], [1.0, -0.95], rng.standard_normal(3 * sr)) * 0.002  # low-pass room noise
    x = (_vowelish(sr, 3.0, seed=5) + hum).astype(np.float32)
    pause = slice(int(1.95 * sr), int(2.15 * sr))  # the gate of _vowelish is closed here
    assert np.abs(x[pause]).max() < 0.05
    for keep, ok in ((True, True), (False, False)):
        y = PseudoSpeaker(keep_unvoiced=keep, timbre_db=30.0).apply(x, sr, seed=3, speaker="b")
        diff = _band_db(y[pause], sr) - _band_db(x[pause], sr)
        assert bool(np.abs(diff - np.median(diff)).max() < 6.0) is ok
    # a long unvoiced stretch at speech level (whisper-like shaped noise) is converted
    whisper = lfilter([1.0], [1.0, -1.3, 0.8], rng.standard_normal(2 * sr)).astype(np.float32) * 0.02
    y = PseudoSpeaker(timbre_db=30.0).apply(whisper, sr, seed=3, speaker="b")
    diff = _band_db(y, sr) - _band_db(whisper, sr)
    assert np.abs(diff - np.median(diff)).max() > 6.0


def _with_fricative(sr: int, seed: int = 7) -> tuple[np.ndarray, slice]:
    """Voiced speech, a 150 ms resonant noise burst (a voiceless consonant), voiced speech; and the burst's span."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    t = np.arange(int(0.6 * sr)) / sr
    phase = 2 * np.pi * np.cumsum(130 * (1 + 0.1 * np.sin(2 * np.pi * 2 * t))) / sr
    vowel = 0.2 * sum(np.sin(k * phase) / k for k in range(1, 25))
    burst = lfilter([1.0], [1.0, 0.3, 0.8], rng.standard_normal(int(0.15 * sr)))  # resonance near 4.4 kHz
    burst = 0.05 * burst / np.std(burst)
    x = np.concatenate([vowel, burst, vowel]) + 0.001 * rng.standard_normal(2 * len(t) + len(burst))
    core = slice(len(t) + int(0.05 * sr), len(t) + len(burst) - int(0.05 * sr))  # away from the ramps
    return x.astype(np.float32), core


def test_unvoiced_frames_differ_between_secrets() -> None:
    sr = 16000
    x, core = _with_fricative(sr)
    plain = PseudoSpeaker(unvoiced_warp=False, tilt_keep=1.0)  # the warp alone (the reference tilt is the same under every secret)
    warped = PseudoSpeaker(unvoiced_warp=True, tilt_keep=1.0)
    assert abs(np.log(warped.voice(1, "s").warp / warped.voice(2, "s").warp)) > 0.1  # two clearly different voices

    def spread(t: PseudoSpeaker) -> float:
        diff = _band_db(t.apply(x, sr, seed=1, speaker="s")[core], sr) - _band_db(t.apply(x, sr, seed=2, speaker="s")[core], sr)
        return float(np.abs(diff - np.median(diff)).max())

    assert spread(plain) < 3.0  # the consonant's own envelope under either secret
    assert spread(warped) > 4.5  # the keyed warp moves its resonance
    assert spread(PseudoSpeaker(unvoiced_warp=False, unvoiced_timbre=1.0, timbre_db=22.0)) > 6.0  # the keyed timbre curve re-colours it


def test_band_share_is_inner_in_the_band_and_one_outside() -> None:
    from avanon.audio.pseudo import _band_share

    freqs = np.linspace(0, 8000, 4097)
    share = _band_share(freqs, (250.0, 2500.0), 0.2)
    assert np.allclose(share[(freqs >= 250) & (freqs <= 2500)], 0.2)
    assert np.allclose(share[(freqs <= 250 / np.sqrt(2)) | (freqs >= 2500 * np.sqrt(2))], 1.0)
    assert np.all(np.abs(np.diff(share)) < 0.05)  # smooth tapers, no steps
    assert np.array_equal(_band_share(freqs, (250.0, 2500.0), 1.0), np.ones(len(freqs)))


def test_non_uniform_warp_never_folds_back() -> None:
    from avanon.audio.pseudo import _band_share, _warp_bins

    freqs = np.linspace(0, 8000, 513)
    for warp in (0.75, 1.3):
        factor = warp ** _band_share(freqs, (250.0, 2500.0), 0.0)
        ramp = _warp_bins(np.arange(513, dtype=float)[None, :], factor)[0]
        assert np.all(np.diff(ramp) >= 0)
        band = (freqs > 400) & (freqs < 2000)
        assert np.allclose(ramp[band], np.arange(513)[band], atol=1.0)  # the F1/F2 band is not moved
        top = freqs > 4000
        assert np.allclose(ramp[top], np.clip(np.arange(513)[top] / warp, 0, 512), atol=1.0)


def _band_spread(x: np.ndarray, sr: int, y1: np.ndarray, y2: np.ndarray, lo: float, hi: float) -> float:
    """Largest deviation from their median of the 1/3-octave level differences of y1 and y2 between lo and hi [dB]."""
    edges = np.geomspace(lo, hi, int(round(3 * np.log2(hi / lo))) + 1)

    def levels(s: np.ndarray) -> np.ndarray:
        spec = np.abs(np.fft.rfft(s * np.hanning(len(s)))) ** 2
        k = edges * len(s) / sr
        return np.array([10 * np.log10(spec[int(a) : int(b)].mean() + 1e-20) for a, b in zip(k[:-1], k[1:])])

    diff = levels(y1) - levels(y2)
    return float(np.abs(diff - np.median(diff)).max())


def test_formant_band_keeps_its_shape_between_secrets(speech: tuple[np.ndarray, int]) -> None:
    x, sr = speech
    same_pitch = {"f0_range_hz": (150.0, 150.0), "f0_sigma_range": (0.15, 0.15), "min_f0_shift_st": 0.0}
    banded = PseudoSpeaker(timbre_inner=0.0, warp_inner=0.0, **same_pitch)
    full = PseudoSpeaker(**same_pitch)
    y1, y2 = banded.apply(x, sr, seed=1, speaker="a"), banded.apply(x, sr, seed=2, speaker="a")
    f1, f2 = full.apply(x, sr, seed=1, speaker="a"), full.apply(x, sr, seed=2, speaker="a")
    # inside the F1/F2 band the two secrets' voices have nearly the same long-term shape ...
    assert _band_spread(x, sr, y1, y2, 400.0, 2000.0) < 0.5 * _band_spread(x, sr, f1, f2, 400.0, 2000.0)
    # ... while above it they stay as different as with the full-band curve
    assert _band_spread(x, sr, y1, y2, 3500.0, 7500.0) > 0.5 * _band_spread(x, sr, f1, f2, 3500.0, 7500.0)


def test_band_tilt_keeps_only_a_straight_slope_in_the_band() -> None:
    from avanon.audio.pseudo import _banded_timbre, _timbre_curve

    freqs = np.linspace(0, 8000, 4097)
    curve = _timbre_curve((1.0, -0.6, 0.4, 0.3), freqs)
    band = (freqs >= 250) & (freqs <= 2500)
    tilted = _banded_timbre(curve, freqs, (250.0, 2500.0), 0.0, True)
    lf = np.log2(freqs[band])
    slope, offset = np.polyfit(lf, tilted[band], 1)
    assert np.allclose(tilted[band], slope * lf + offset, atol=1e-9)  # a straight line in log frequency ...
    assert abs(slope) > 0.01 and np.allclose(tilted[[0, -1]], curve[[0, -1]])  # ... keyed, and the curve outside
    assert np.all(np.abs(np.diff(tilted)) < 0.02)  # continuous at the band edges
    plain = _banded_timbre(curve, freqs, (250.0, 2500.0), 0.0, False)
    assert np.allclose(plain[band], 0.0)
    half = _banded_timbre(curve, freqs, (250.0, 2500.0), 0.5, True)
    assert np.allclose(half[band] - tilted[band], 0.5 * (curve[band] - tilted[band]))


# --- the band of upsampled input (extend_band)


def test_band_and_backend_reject_bad_parameters() -> None:
    with pytest.raises(ParameterError, match="The 'extend_band' parameter of PseudoSpeaker must be"):
        PseudoSpeaker(extend_band=1.5)
    with pytest.raises(ParameterError, match="The 'backend' parameter of PseudoSpeaker must be one of"):
        PseudoSpeaker(backend="wavenet")
    with pytest.raises(ParameterError, match="unvoiced_passthrough"):  # the switch that lost (it leaked) is gone
        PseudoSpeaker(unvoiced_passthrough=True)


@pytest.mark.parametrize("sr", [8000, 16000, 22050, 44100])
def test_conversion_keeps_the_duration_to_the_sample(sr: int) -> None:
    x = _vowelish(sr, 2.3)[: int(2.3 * sr) - 7]  # an odd length, not a whole number of frames
    y = PseudoSpeaker().apply(x, sr, seed=3, speaker="a")
    assert y.shape == x.shape and y.dtype == np.float32 and np.all(np.isfinite(y))


def test_extend_band_fills_the_resamplers_empty_band() -> None:
    sr = 8000
    x = _vowelish(sr, 2.0)

    def top(y: np.ndarray) -> float:  # level of 3-3.8 kHz relative to 1-2 kHz in the voiced first 1.4 s [dB]
        spec = np.abs(np.fft.rfft(y[: int(1.4 * sr)])) ** 2
        f = np.fft.rfftfreq(int(1.4 * sr), 1 / sr)
        return float(10 * np.log10(spec[(f >= 3000) & (f < 3800)].sum() / spec[(f >= 1000) & (f < 2000)].sum()))

    for seed in (1, 2, 3, 4):
        flat = PseudoSpeaker(extend_band=True, tilt_keep=1.0).apply(x, sr, seed=seed, speaker="a")  # the speaker's tilt, estimated
        empty = PseudoSpeaker(extend_band=False, tilt_keep=1.0).apply(x, sr, seed=seed, speaker="a")
        assert top(flat) > top(empty) + 5.0
    # nothing to fill when the input is at the processing rate
    x16 = _vowelish(16000, 1.0)
    assert np.array_equal(
        PseudoSpeaker(extend_band=True).apply(x16, 16000, seed=1, speaker="a"),
        PseudoSpeaker(extend_band=False).apply(x16, 16000, seed=1, speaker="a"),
    )
