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
    # WORLD's re-synthesis of the kept frames (unvoiced_passthrough takes part of the original instead)
    plain = PseudoSpeaker(unvoiced_warp=False, unvoiced_passthrough=False)
    warped = PseudoSpeaker(unvoiced_warp=True, unvoiced_passthrough=False)
    assert abs(np.log(warped.voice(1, "s").warp / warped.voice(2, "s").warp)) > 0.1  # two clearly different voices

    def spread(t: PseudoSpeaker) -> float:
        diff = _band_db(t.apply(x, sr, seed=1, speaker="s")[core], sr) - _band_db(t.apply(x, sr, seed=2, speaker="s")[core], sr)
        return float(np.abs(diff - np.median(diff)).max())

    assert spread(plain) < 3.0  # the consonant's own envelope under either secret
    assert spread(warped) > 4.5  # the keyed warp moves its resonance
    assert spread(PseudoSpeaker(unvoiced_warp=False, unvoiced_timbre=1.0, timbre_db=22.0, unvoiced_passthrough=False)) > 6.0  # the keyed timbre curve re-colours it


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


# --- original samples in unvoiced stretches (unvoiced_passthrough) and the band of upsampled input (extend_band)

_PASS = {"unvoiced_passthrough": True, "passthrough_db": 20.0, "passthrough_fade_ms": 5.0}


def _pauses(sr: int, seconds: float, margin: float = 0.1) -> list[slice]:
    """The cores of the closed-gate pauses of :func:`_vowelish` (``margin`` [s] inside each edge)."""
    t = np.arange(int(sr * seconds)) / sr
    closed = np.sin(2 * np.pi * 0.4 * t) <= -0.6
    edges = np.flatnonzero(np.diff(np.r_[0, closed.astype(np.int8), 0]))
    m = int(margin * sr)
    return [slice(a + m, b - m) for a, b in zip(edges[::2], edges[1::2]) if b - a > 3 * m]


def test_passthrough_weight_has_raised_cosine_fades() -> None:
    from avanon.audio.pseudo import _passthrough_weight

    frames = np.array([0, 0, 0, 1, 1, 1, 1, 0, 0, 0], dtype=bool)
    hop, fade = 100.0, 40
    g = _passthrough_weight(frames, 1000, hop, fade)
    assert g.shape == (1000,)
    # frame k covers samples [k * hop - hop / 2, k * hop + hop / 2): the run spans [250, 650)
    assert np.all(g[270:631] == 1.0) and np.all(g[:231] == 0.0) and np.all(g[670:] == 0.0)
    rise = g[231:270]
    assert np.allclose(rise, 0.5 - 0.5 * np.cos(np.pi * np.arange(1, 40) / 40))  # a raised cosine ...
    assert np.allclose(rise + rise[::-1], 1.0) and np.all(np.diff(rise) > 0)  # ... centred on the border
    assert np.allclose(g[631:670], rise[::-1])
    hard = _passthrough_weight(frames, 1000, hop, 0)
    assert np.all(hard[250:650] == 1.0) and not hard[:250].any() and not hard[650:].any()
    assert not _passthrough_weight(np.zeros(10, dtype=bool), 1000, hop, fade).any()
    # a run shorter than the fade rises smoothly and never reaches 1
    short = _passthrough_weight(np.array([0, 0, 1, 0, 0], dtype=bool), 500, hop, 200)
    assert 0.0 < short.max() < 1.0 and np.abs(np.diff(short)).max() < 0.05


def test_passthrough_rejects_bad_parameters() -> None:
    with pytest.raises(ParameterError, match="The 'unvoiced_passthrough' parameter of PseudoSpeaker must be"):
        PseudoSpeaker(unvoiced_passthrough="yes")
    with pytest.raises(ParameterError, match="The 'passthrough_fade_ms' parameter of PseudoSpeaker must be a float in the range"):
        PseudoSpeaker(passthrough_fade_ms=80.0)
    with pytest.raises(ParameterError, match="The 'passthrough_db' parameter of PseudoSpeaker must be a float in the range"):
        PseudoSpeaker(passthrough_db=-1.0)
    with pytest.raises(ParameterError, match="The 'extend_band' parameter of PseudoSpeaker must be"):
        PseudoSpeaker(extend_band=1.5)


@pytest.mark.parametrize("sr", [8000, 16000, 22050, 44100])
def test_passthrough_keeps_the_duration_to_the_sample(sr: int) -> None:
    x = _vowelish(sr, 2.3)[: int(2.3 * sr) - 7]  # an odd length, not a whole number of frames
    y = PseudoSpeaker(**_PASS).apply(x, sr, seed=3, speaker="a")
    assert y.shape == x.shape and y.dtype == np.float32 and np.all(np.isfinite(y))


def test_quiet_unvoiced_frames_are_the_original_samples() -> None:
    sr = 16000
    x = _vowelish(sr, 3.0, seed=2)
    on = PseudoSpeaker(**_PASS).apply(x, sr, seed=3, speaker="b")
    off = PseudoSpeaker(**{**_PASS, "unvoiced_passthrough": False}).apply(x, sr, seed=3, speaker="b")
    for pause in _pauses(sr, 3.0):
        assert np.abs(on[pause] - x[pause]).max() < 1e-6  # the background itself, not WORLD's noise
        assert np.abs(off[pause] - x[pause]).max() > 1e-3
    # nothing is passed through where unvoiced frames are converted like the voice
    converted = PseudoSpeaker(**_PASS, keep_unvoiced=False).apply(x, sr, seed=3, speaker="b")
    assert all(np.abs(converted[p] - x[p]).max() > 1e-3 for p in _pauses(sr, 3.0))
    # the voice itself is converted
    voiced = slice(int(0.2 * sr), int(1.2 * sr))
    assert np.sqrt(np.mean((on[voiced] - x[voiced]) ** 2)) > 0.3 * np.sqrt(np.mean(x[voiced] ** 2))
    assert np.abs(on[voiced] - off[voiced]).max() < 1e-6


def test_passthrough_at_a_low_rate_survives_the_resampling() -> None:
    sr = 8000  # converted at 16 kHz, passed-through samples go up and down again
    x = _vowelish(sr, 3.0, seed=2)
    y = PseudoSpeaker(**_PASS).apply(x, sr, seed=3, speaker="b")
    for pause in _pauses(sr, 3.0):
        err = np.sqrt(np.mean((y[pause] - x[pause]) ** 2)) / np.sqrt(np.mean(x[pause] ** 2))
        assert err < 0.2


def test_loud_consonants_and_whisper_are_not_passed_through() -> None:
    from scipy.signal import lfilter

    from avanon.audio.pseudo import _high_band

    sr = 16000
    x, core = _with_fricative(sr)
    y = PseudoSpeaker(**_PASS).apply(x, sr, seed=1, speaker="s").astype(np.float64)
    assert np.abs(y[core] - x[core]).max() > 0.01  # 11 dB below the vowels: not the original as it is
    # ... but its band above passthrough_hz (1 kHz) is the original's; below, WORLD's re-synthesis
    high_x, high_y = (_high_band(z.astype(np.float64), 1000.0, sr, 160.0)[core] for z in (x, y))
    low_x, low_y = x[core] - high_x, y[core] - high_y
    assert np.corrcoef(high_x, high_y)[0, 1] > 0.99 and 0.9 < np.std(high_y) / np.std(high_x) < 1.1
    assert abs(np.corrcoef(low_x, low_y)[0, 1]) < 0.3
    off = PseudoSpeaker(**{**_PASS, "unvoiced_passthrough": False}).apply(x, sr, seed=1, speaker="s").astype(np.float64)
    assert abs(np.corrcoef(high_x, _high_band(off, 1000.0, sr, 160.0)[core])[0, 1]) < 0.3
    rng = np.random.default_rng(5)
    whisper = lfilter([1.0], [1.0, -1.3, 0.8], rng.standard_normal(2 * sr)).astype(np.float32) * 0.02
    y = PseudoSpeaker(**_PASS).apply(whisper, sr, seed=3, speaker="b")
    assert np.sqrt(np.mean((y - whisper) ** 2)) > 0.5 * np.sqrt(np.mean(whisper**2))


def test_passthrough_is_seamless_across_chunk_borders(monkeypatch: pytest.MonkeyPatch) -> None:
    from avanon.audio import pseudo

    sr = 16000
    x = _vowelish(sr, 7.0, seed=4)
    cuts: list[int] = []
    cut = pseudo._PseudoStream._cut

    def record(self: pseudo._PseudoStream, total: int) -> int:
        cuts.append(cut(self, total))
        return cuts[-1]

    monkeypatch.setattr(pseudo._PseudoStream, "_cut", record)
    chunked = PseudoSpeaker(chunk_s=2.0, **_PASS).apply(x, sr, seed=5, speaker="a")
    whole = PseudoSpeaker(chunk_s=60.0, **_PASS).apply(x, sr, seed=5, speaker="a")
    pauses = _pauses(sr, 7.0, margin=0.05)
    inside = [c for c in cuts if any(p.start + 0.03 * sr < c < p.stop - 0.03 * sr for p in pauses)]
    assert inside  # the quietest 10 ms fell in a pause: both chunks pass the original through there
    for pause in pauses:
        assert np.abs(chunked[pause] - x[pause]).max() < 1e-6
        assert np.abs(whole[pause] - x[pause]).max() < 1e-6
    hop = sr // 200

    def roughness(y: np.ndarray) -> np.ndarray:
        d = np.diff(y, prepend=y[0])
        return np.sqrt(np.mean(d[: len(d) // hop * hop].reshape(-1, hop) ** 2, axis=1))

    assert roughness(chunked).max() < 1.5 * roughness(whole).max()
    # block sizes fed to the stream do not matter
    t = PseudoSpeaker(chunk_s=2.0, **_PASS)
    assert np.array_equal(streamed(t, x, sr, seed=5, blocks=1), chunked)


def test_passthrough_borders_are_smooth_cross_fades() -> None:
    sr = 16000
    x = _vowelish(sr, 3.0, seed=2).astype(np.float64)
    whole = {**_PASS, "passthrough_db": 0.0}  # every kept frame passed through whole (no high band only)
    off = PseudoSpeaker(**{**whole, "unvoiced_passthrough": False}).apply(x, sr, seed=3, speaker="b").astype(np.float64)
    for fade_ms, steepest in ((5.0, np.pi / 2 / 80), (0.0, 1.0)):
        on = PseudoSpeaker(**{**whole, "passthrough_fade_ms": fade_ms}).apply(x, sr, seed=3, speaker="b").astype(np.float64)
        # on = (1 - g) off + g x: recover the per-sample share g of the original where off and x differ
        ok = np.abs(x - off) > 2e-3
        g = np.interp(np.arange(len(x)), np.flatnonzero(ok), ((on - off) / np.where(ok, x - off, 1.0))[ok])
        assert g.min() > -0.01 and g.max() < 1.01 and g.max() > 0.99
        assert np.abs(np.diff(g)).max() == pytest.approx(steepest, rel=0.1, abs=0.01)


def test_extend_band_fills_the_resamplers_empty_band() -> None:
    sr = 8000
    x = _vowelish(sr, 2.0)

    def top(y: np.ndarray) -> float:  # level of 3-3.8 kHz relative to 1-2 kHz in the voiced first 1.4 s [dB]
        spec = np.abs(np.fft.rfft(y[: int(1.4 * sr)])) ** 2
        f = np.fft.rfftfreq(int(1.4 * sr), 1 / sr)
        return float(10 * np.log10(spec[(f >= 3000) & (f < 3800)].sum() / spec[(f >= 1000) & (f < 2000)].sum()))

    for seed in (1, 2, 3, 4):
        flat = PseudoSpeaker(extend_band=True, unvoiced_passthrough=False).apply(x, sr, seed=seed, speaker="a")
        empty = PseudoSpeaker(extend_band=False, unvoiced_passthrough=False).apply(x, sr, seed=seed, speaker="a")
        assert top(flat) > top(empty) + 5.0
    # nothing to fill when the input is at the processing rate
    x16 = _vowelish(16000, 1.0)
    assert np.array_equal(
        PseudoSpeaker(extend_band=True).apply(x16, 16000, seed=1, speaker="a"),
        PseudoSpeaker(extend_band=False).apply(x16, 16000, seed=1, speaker="a"),
    )


@pytest.mark.parametrize(("sr", "hop"), [(16000, 160.0), (22050, 220.5)])
def test_high_band_splits_at_the_cutoff(sr: int, hop: float) -> None:
    from avanon.audio.pseudo import _high_band

    t = np.arange(sr + 37) / sr
    low, high = np.sin(2 * np.pi * 300 * t), 0.5 * np.sin(2 * np.pi * 3000 * t)
    y = _high_band(low + high, 1000.0, sr, hop)
    assert y.shape == t.shape
    inner = slice(int(0.05 * sr), -int(0.05 * sr))  # away from the zero-padded ends
    assert np.abs(y[inner] - high[inner]).max() < 1e-3
    assert np.array_equal(_high_band(low, 0.0, sr, hop), low)
