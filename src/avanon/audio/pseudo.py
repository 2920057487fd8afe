"""Pseudo-speaker conversion with the WORLD vocoder, keyed per speaker, streamed in chunks.

Each channel is analysed with WORLD (F0 from Praat's autocorrelation tracker, spectral envelope by
CheapTrick, aperiodicity by D4C, 10 ms frames) and re-synthesised as a *pseudo-speaker*:

* **F0** is remapped in the log domain, ``log f' = mu_t + sigma_t (log f - mu_s) / sigma_s``: the
  speaker's own mean and range (``mu_s``, ``sigma_s``) are replaced by the pseudo-speaker's, while the
  contour shape (intonation, stress, questions) and the voicing decisions stay.
* **Spectral envelope**: the speaker's long-term average envelope is removed except for its broad
  tilt (``flatten``), the frame-by-frame movement (formant trajectories) is cepstrally smoothed
  (``lifter``: fine, speaker-specific envelope detail goes) and frequency-warped by a pseudo-speaker
  vocal-tract factor, and a pseudo-speaker timbre curve (a keyed sum of ``timbre_terms`` cosines on
  the mel scale, ``timbre_db`` RMS) is added; this moves formants and replaces the speaker's timbre.
  Few, broad cosines (4 by default) change the timbre as much as many fine ones for a speaker
  encoder but leave the formant pattern more readable for a recognizer (benchmarks/results/voice.md).
* **Broad tilt** (``tilt_keep``, default 1: kept): the speaker's (and microphone's) long-term tilt is
  the same under every secret and links pseudo-voices across releases. ``tilt_keep: 0`` replaces it by
  a fixed reference (``_REF_DB_PER_OCT`` above 1 kHz; consonants too, pauses keep theirs). It is not
  the default because two attackers got stronger (benchmarks/results/linkage.md).
* **Formant band** (``formant_band_hz``, about F1 and F2, where most phonetic content lies):
  inside it only a share ``timbre_inner`` of the timbre curve and ``warp_inner`` of the log warp
  factor apply (raised-cosine tapers half an octave wide outside the edges); with ``band_tilt`` the
  curve's straight-line slope across the band is kept in full. Off by default: it more than halves
  word errors, but identity lies in the same band and voices link far too often (results/voice.md).
* **Minimum distance from the source**: a keyed voice can by chance land on the speaker's own one.
  The warp factor is drawn log-uniformly from ``warp_range`` without the band ``|log warp| <
  min_warp`` (every pseudo-voice moves the formants), and a pseudo-speaker mean F0 closer than
  ``min_f0_shift_st`` semitones to the speaker's running mean is pushed to that distance (6
  semitones, warps of 0.70-1.40: natural voices carry the privacy, with fewer word errors).
* **Micro-prosody**: the normalised F0 contour is smoothed over ``f0_smooth_ms`` within voiced runs.
* **Unvoiced frames** (``keep_unvoiced``): pauses, breath and voiceless consonants (unvoiced
  stretches up to ``unvoiced_max_ms``) keep their own envelope shape, blending into the
  pseudo-voice's over ``unvoiced_ramp_ms``; a re-coloured background or burst made a voice-activity
  detector miss speech onsets. Kept as they are, though, they are the same under every secret and
  link speakers, so (``unvoiced_warp``) they get the pseudo-voice's frequency warp, and optionally a
  share ``unvoiced_timbre`` of its timbre curve. Longer unvoiced stretches (whispered speech) are
  converted like voiced speech, except their pauses (30 dB below the loud frames).
* **Original samples in unvoiced stretches** were tried and removed (issue 18): the same under every
  secret, they linked speakers (ignorant EER 47 to 41 %; benchmarks/results/voice.md).
* **Band of upsampled input** (``extend_band``): an input below the processing rate has nothing
  above its own Nyquist frequency; the envelope there (the resampler's stop band) is replaced by
  its value at 90 % of the input's band before conversion, so a warp below 1 does not pull the empty
  band down into the input's top band, and the speaker's broad tilt is estimated without the cliff.
* **Aperiodicity** is kept as analysed, and the output is given the input's loudness contour in
  20 ms frames (``match_level``), so intensity and pauses stay as they were.
* **Synthesis** (``backend``): WORLD's vocoder (default), or its output re-rendered by the HiFi-GAN
  vocoder (:mod:`avanon.audio.vocoder`: no fewer word errors on the >= 8 s dev trials, near real
  time on one core; benchmarks/results/voice_issue16.md).

:func:`convert_world` takes the settings as :class:`EnvelopeOptions`, :class:`UnvoicedOptions` and
:class:`ProsodyOptions`, which :meth:`PseudoSpeaker.options` builds from the recipe's parameters.

The pseudo-speaker's parameters (target F0 mean and range, warp factor, timbre curve) are drawn by
:func:`~avanon.audio.base.keyed_uniform` from ``(seed, speaker)``, where the pipeline passes
``seed = derive_seed(study_secret, "voice")``: the same secret and speaker key give the same voice in
every file; another secret gives an unrelated voice. ``jitter`` perturbs them slightly per recording
(keyed by the recording's first second), which makes an attacker's back-end less sure.

Long recordings are processed in chunks of about ``chunk_s`` seconds, cut at the quietest 10 ms
within the last second of each chunk, each analysed with ``context_s`` of signal on both sides and
cross-faded over ``crossfade_ms``; speaker statistics accumulate over the chunks, so the voice is
stable along the recording and there are no clicks at chunk borders. The output does not depend on
the block sizes fed to the stream, and is exactly as long as the input.

Signals above ``max_rate`` are converted at ``max_rate`` and resampled back (the band above
``max_rate / 2`` is dropped); signals below 16 kHz are converted at 16 kHz (WORLD's D4C is not
deterministic at lower rates). Output is clipped to [-1, 1].
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from avanon.audio.base import VoiceTransform, keyed_uniform
from avanon.audio.resample import resample
from avanon.errors import ParameterError
from avanon.registry import Interval, Kind, Options, Param, register

FRAME_MS = 10.0
_MIN_RATE = 4000
_BAND_EDGE = 0.9  # share of a resampled input's band (below its Nyquist frequency) taken as intact
_PAUSE_DB = 30.0  # a frame this far below the segment's loud frames is a pause [dB]
_REF_DB_PER_OCT = 12.0  # slope of the reference tilt above 1 kHz [dB per octave]


@dataclass(frozen=True)
class PseudoVoice:
    """The keyed parameters of one pseudo-speaker."""

    f0_mean_hz: float
    f0_sigma: float  # standard deviation of natural-log F0
    warp: float  # frequency scale of the envelope movement (> 1 moves formants up)
    timbre: tuple[float, ...]  # cosine coefficients of the timbre curve [natural log units]


@dataclass(frozen=True)
class EnvelopeOptions:
    """How the spectral envelope is converted (the module docstring explains each)."""

    flatten: float = 1.0  # share of the speaker's average envelope detail removed, in [0, 1]
    lifter: int = 0  # cepstral coefficients (at 16 kHz) kept of the envelope movement; 0 keeps all
    formant_band: tuple[float, float] = (250.0, 2500.0)  # [Hz] where timbre_inner and warp_inner apply
    timbre_inner: float = 1.0  # share of the timbre curve inside formant_band, in [0, 1]
    warp_inner: float = 1.0  # share of the log warp factor inside formant_band, in [0, 1]
    band_tilt: bool = False  # inside formant_band the curve's straight-line trend is applied in full
    band_hz: float | None = None  # [Hz] band edge of an upsampled input; the envelope above is continued flat
    tilt_keep: float = 1.0  # share of the speaker's broad tilt kept; the rest is the reference tilt, in [0, 1]


@dataclass(frozen=True)
class UnvoicedOptions:
    """What happens to unvoiced frames (see :func:`_kept_frames`)."""

    keep: bool = False  # unvoiced frames keep their own envelope
    ramp: int = 0  # [frames] blend from the pseudo-voice envelope to their own beside converted frames
    max_run: int = 30  # [frames] longest unvoiced run kept whole; in longer runs only pauses are kept
    warp: bool = False  # kept frames get the pseudo-voice's frequency warp
    timbre: float = 0.0  # share of the pseudo-voice's timbre curve added to kept frames, in [0, 1]


@dataclass(frozen=True)
class ProsodyOptions:
    """Pitch and level."""

    f0_smooth: int = 1  # [frames] moving average of the normalised F0 contour within voiced runs
    min_f0_shift: float = 0.0  # [natural-log units] smallest distance of the mean log F0 from the speaker's
    match_level: bool = False  # give the output the input's loudness contour


class _ChannelState:
    """Running speaker statistics of one channel (accumulated over chunks)."""

    def __init__(self) -> None:
        self.n_voiced = 0
        self.sum_lf0 = 0.0
        self.sum_lf0_sq = 0.0
        self.env_sum: np.ndarray | None = None
        self.env_n = 0
        self.voice: PseudoVoice | None = None


def _praat_f0(x: np.ndarray, sr: int, n_frames: int) -> np.ndarray:
    """F0 per 10 ms frame (0 where unvoiced) from Praat's autocorrelation tracker, 60-500 Hz."""
    import parselmouth

    f0 = np.zeros(n_frames)
    if len(x) < int(0.05 * sr):  # too short for a 60 Hz floor: treat as unvoiced
        return f0
    pitch = parselmouth.Sound(x, sampling_frequency=sr).to_pitch_ac(time_step=FRAME_MS / 1000, pitch_floor=60.0, pitch_ceiling=500.0)
    values = pitch.selected_array["frequency"]
    if len(values) == 0:
        return f0
    times = np.arange(n_frames) * FRAME_MS / 1000
    voiced = np.interp(times, pitch.xs(), (values > 0).astype(float), left=0.0, right=0.0)
    f0 = np.interp(times, pitch.xs(), values, left=0.0, right=0.0)
    f0[voiced < 0.999] = 0.0
    return f0


def _warp_bins(env: np.ndarray, factor: float | np.ndarray) -> np.ndarray:
    """Scale the frequency axis of rows of ``env`` by ``factor`` (bin k takes bin k / factor).

    ``factor`` may be one number or one per bin (a non-uniform warp); the source position is kept
    non-decreasing so the mapping never folds back.
    """
    n = env.shape[1]
    src = np.clip(np.maximum.accumulate(np.arange(n) / factor), 0, n - 1)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, n - 1)
    w = src - i0
    return env[:, i0] * (1 - w) + env[:, i1] * w


def _tilt(mean_env: np.ndarray, n_coef: int) -> np.ndarray:
    """The broad shape of a log envelope: its first ``n_coef`` cepstral coefficients."""
    cep = np.fft.irfft(mean_env)
    keep = np.zeros_like(cep)
    keep[:n_coef] = cep[:n_coef]
    if n_coef > 1:
        keep[-(n_coef - 1) :] = cep[-(n_coef - 1) :]
    return np.fft.rfft(keep).real


def _target_tilt(tilt: np.ndarray, freqs: np.ndarray, keep: float) -> np.ndarray:
    """``keep`` of ``tilt``, the rest the reference tilt (flat to 1 kHz, ``_REF_DB_PER_OCT`` above) at its mean level."""
    if keep >= 1.0:
        return tilt
    ref = _tilt(-_REF_DB_PER_OCT / 20.0 * np.log(10.0) * np.log2(np.maximum(freqs, 1000.0) / 1000.0), 3)
    return keep * tilt + (1.0 - keep) * (ref - ref.mean() + tilt.mean())


def _band_share(freqs: np.ndarray, band: tuple[float, float], inner: float, taper_oct: float = 0.5) -> np.ndarray:
    """Per-bin share: ``inner`` inside ``band`` [Hz], 1 outside, raised-cosine tapers of ``taper_oct`` octaves outside it."""
    if inner == 1.0:
        return np.ones(len(freqs))
    lf = np.log2(np.maximum(freqs, 1.0))
    lo, hi = np.log2(band[0]), np.log2(band[1])
    dist = np.maximum(np.maximum(lo - lf, lf - hi), 0.0) / taper_oct  # octaves outside the band, in tapers
    outside = np.where(dist >= 1.0, 1.0, 0.5 - 0.5 * np.cos(np.pi * np.clip(dist, 0.0, 1.0)))
    return inner + (1.0 - inner) * outside


def _banded_timbre(curve: np.ndarray, freqs: np.ndarray, band: tuple[float, float], inner: float, tilt: bool) -> np.ndarray:
    """The timbre curve with only a share ``inner`` of it inside ``band`` (see :func:`_band_share`).

    With ``tilt`` the curve's straight line across the band (in log frequency, through its values at
    the band edges) is kept in full inside the band and only the ripple around it is scaled: the
    pseudo-voice keeps a keyed spectral slope over F1 and F2 but adds no peaks or valleys there.
    """
    share = _band_share(freqs, band, inner)
    if not tilt or inner == 1.0:
        return curve * share
    lf = np.log2(np.maximum(freqs, 1.0))
    lo, hi = np.log2(band[0]), np.log2(band[1])
    c_lo, c_hi = np.interp([lo, hi], lf, curve)
    line = c_lo + (c_hi - c_lo) * (lf - lo) / (hi - lo)
    return share * curve + (1.0 - share) * line  # inside the band: line + inner * (curve - line)


def _timbre_curve(coefs: tuple[float, ...], freqs: np.ndarray) -> np.ndarray:
    mel = np.log1p(freqs / 700.0)
    mel = mel / mel[-1]
    return sum(c * np.cos(np.pi * (j + 1) * mel) for j, c in enumerate(coefs))


def convert_world(
    x: np.ndarray,
    sr: int,
    voice: PseudoVoice,
    state: _ChannelState,
    *,
    envelope: EnvelopeOptions,
    unvoiced: UnvoicedOptions,
    prosody: ProsodyOptions,
) -> np.ndarray:
    """Convert one mono float64 segment to the pseudo-voice; same length as ``x``.

    Parameters
    ----------
    x : ndarray, shape (n,), float64
        The segment, at ``sr``.
    sr : int >= 16000 [Hz]
    voice : PseudoVoice
        The keyed pseudo-speaker.
    state : _ChannelState
        Speaker statistics accumulated so far; updated with this segment.
    envelope, unvoiced, prosody
        The conversion settings (:meth:`PseudoSpeaker.options` builds them from a recipe).

    Returns
    -------
    ndarray, shape (n,), float64
    """
    import pyworld

    n = len(x)
    n_frames = int(np.floor(n / sr * 1000 / FRAME_MS)) + 1
    if n == 0 or np.max(np.abs(x)) < 1e-7:
        return np.zeros(n)
    x = np.ascontiguousarray(x, dtype=np.float64)
    f0 = _praat_f0(x, sr, n_frames)
    t = np.arange(n_frames) * FRAME_MS / 1000
    sp = pyworld.cheaptrick(x, f0, t, sr)
    ap = pyworld.d4c(x, f0, t, sr)
    log_env = np.log(sp + 1e-16)
    if envelope.band_hz is not None and envelope.band_hz < sr / 2:
        edge = int(_BAND_EDGE * envelope.band_hz / (sr / 2) * (log_env.shape[1] - 1))
        log_env[:, edge + 1 :] = log_env[:, edge : edge + 1]
    voiced = f0 > 0

    # running statistics of the source speaker
    if voiced.any():
        lf = np.log(f0[voiced])
        state.n_voiced += len(lf)
        state.sum_lf0 += float(lf.sum())
        state.sum_lf0_sq += float((lf**2).sum())
    rows = log_env[voiced] if voiced.sum() >= 3 else log_env
    state.env_sum = rows.sum(0) if state.env_sum is None else state.env_sum + rows.sum(0)
    state.env_n += len(rows)
    mean_env = state.env_sum / state.env_n

    new_f0 = np.zeros_like(f0)
    if voiced.any():
        mu_s = state.sum_lf0 / state.n_voiced
        sd_s = np.sqrt(max(state.sum_lf0_sq / state.n_voiced - mu_s**2, 0.0))
        sd_s = max(sd_s, 0.03)
        z = np.clip((np.log(f0[voiced]) - mu_s) / sd_s, -4.0, 4.0)
        if prosody.f0_smooth > 1:  # remove micro-prosody (jitter-like detail) within voiced runs
            z = _smooth_runs(z, np.flatnonzero(voiced), prosody.f0_smooth)
        mu_t = np.log(voice.f0_mean_hz)
        shift = prosody.min_f0_shift
        if abs(mu_t - mu_s) < shift:  # too close to the speaker's own pitch: push away
            mu_t = mu_s + (shift if mu_t >= mu_s else -shift)
        new_f0[voiced] = np.exp(mu_t + voice.f0_sigma * z)

    tilt = _tilt(mean_env, 3)
    moving = log_env - mean_env + (1.0 - envelope.flatten) * (mean_env - tilt)
    freqs = np.linspace(0, sr / 2, log_env.shape[1])
    new_tilt = _target_tilt(tilt, freqs, envelope.tilt_keep)  # the speaker's own is the same under every secret
    if envelope.lifter > 0:  # keep only the broad envelope shape of the movement (drops fine speaker detail)
        keep = max(2, int(round(envelope.lifter * sr / 16000)))  # same quefrency [s] at every processing rate
        cep = np.fft.irfft(moving, axis=1)
        cep[:, keep : cep.shape[1] - keep + 1] = 0.0
        moving = np.fft.rfft(cep, axis=1).real
    band = envelope.formant_band
    timbre = _banded_timbre(_timbre_curve(voice.timbre, freqs), freqs, band, envelope.timbre_inner, envelope.band_tilt)
    warp = voice.warp ** _band_share(freqs, band, envelope.warp_inner) if envelope.warp_inner != 1.0 else voice.warp
    new_env = _warp_bins(moving, warp) + new_tilt + timbre
    if unvoiced.keep:
        kept = _kept_frames(voiced, 10 * np.log10(sp.sum(axis=1) + 1e-30), unvoiced.max_run)
        w = _blend_weight(~kept, unvoiced.ramp)[:, None]
        consonant = _kept_frames(voiced, np.zeros(len(voiced)), unvoiced.max_run)[:, None]  # short runs; pauses keep their own tilt
        own = (_warp_bins(log_env, warp) if unvoiced.warp else log_env) + consonant * (new_tilt - tilt)
        new_env = w * new_env + (1.0 - w) * (own + unvoiced.timbre * timbre)
    y = pyworld.synthesize(np.ascontiguousarray(new_f0), np.ascontiguousarray(np.exp(new_env)), np.ascontiguousarray(ap), sr, FRAME_MS)
    out = np.zeros(n)
    m = min(n, len(y))
    out[:m] = y[:m]
    if prosody.match_level:
        out = _match_level(out, x, sr)
    return out


def _kept_frames(voiced: np.ndarray, frame_db: np.ndarray, max_run: int) -> np.ndarray:
    """Unvoiced frames that keep their own envelope: short unvoiced runs, and pauses in long ones.

    A run of unvoiced frames up to ``max_run`` frames is a consonant, breath or short pause. In a
    longer run (whispered speech, for instance) only frames more than ``_PAUSE_DB`` below the
    segment's loud frames are kept, so whispering is converted like voiced speech.
    """
    keep = ~voiced
    loud = np.percentile(frame_db, 95) if len(frame_db) else 0.0
    edges = np.flatnonzero(np.diff(np.r_[0, keep.astype(np.int8), 0]))
    for start, stop in zip(edges[::2], edges[1::2]):
        if stop - start > max_run:
            keep[start:stop] = frame_db[start:stop] < loud - _PAUSE_DB
    return keep


def _blend_weight(converted: np.ndarray, ramp: int) -> np.ndarray:
    """1 on ``converted`` frames, falling linearly to 0 over ``ramp`` frames into the others."""
    if not converted.any():
        return np.zeros(len(converted))
    idx = np.flatnonzero(converted)
    pos = np.arange(len(converted))
    j = np.clip(np.searchsorted(idx, pos), 0, len(idx) - 1)
    dist = np.minimum(np.abs(pos - idx[j]), np.abs(pos - idx[np.maximum(j - 1, 0)]))
    return np.clip(1.0 - dist / (ramp + 1), 0.0, 1.0)


def _frame_rms(x: np.ndarray, hop: int) -> np.ndarray:
    n = len(x) // hop
    return np.sqrt(np.mean(np.square(x[: n * hop]).reshape(n, hop), axis=1) + 1e-12) if n else np.zeros(0)


def _match_level(y: np.ndarray, x: np.ndarray, sr: int) -> np.ndarray:
    """Give ``y`` the loudness contour of ``x`` (20 ms frames, gains smoothed and interpolated).

    Keeps intensity and pauses as they were, so voice-activity segments agree; the pseudo-voice's
    timbre can otherwise lift the background noise of pauses.
    """
    hop = max(1, int(0.02 * sr))
    gx, gy = _frame_rms(x, hop), _frame_rms(y, hop)
    if len(gx) < 2:
        return y
    gain = np.clip(gx / gy, 0.05, 4.0)
    gain = np.convolve(np.pad(gain, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    centres = (np.arange(len(gain)) + 0.5) * hop
    return y * np.interp(np.arange(len(y)), centres, gain)


def _smooth_runs(z: np.ndarray, idx: np.ndarray, width: int) -> np.ndarray:
    """Moving average of ``z`` over ``width`` frames, separately within each run of consecutive ``idx``."""
    out = z.copy()
    breaks = np.flatnonzero(np.diff(idx) > 1) + 1
    for run in np.split(np.arange(len(z)), breaks):
        if len(run) >= 3:
            w = min(width, len(run) | 1)
            pad = np.pad(z[run], w // 2, mode="edge")
            out[run] = np.convolve(pad, np.ones(w) / w, mode="valid")
    return out


class _PseudoStream:
    """Chunked conversion with content-defined cut points and cross-fades (block-size independent)."""

    def __init__(self, owner: "PseudoSpeaker", sample_rate: int, channels: int, *, seed: int, speaker: str) -> None:
        if sample_rate < _MIN_RATE:
            raise ParameterError(f"PseudoSpeaker needs a sample rate of at least {_MIN_RATE} Hz. Got {sample_rate} Hz instead.")
        if channels < 1:
            raise ParameterError(f"PseudoSpeaker needs at least 1 channel. Got {channels} instead.")
        self.owner, self.sr, self.channels = owner, int(sample_rate), int(channels)
        self.seed, self.speaker = seed, speaker
        # D4C reads uninitialised memory below 16 kHz (non-deterministic output): work at 16 kHz or more
        self.work_sr = max(16000, min(self.sr, int(owner.max_rate)))
        self.chunk = int(owner.chunk_s * self.sr)
        self.context = int(owner.context_s * self.sr)
        self.xfade = max(1, int(owner.crossfade_ms * 1e-3 * self.sr))
        self.search = min(int(1.0 * self.sr), self.chunk // 2)
        self.hop = max(1, int(0.01 * self.sr))
        self.buf = np.zeros((0, channels))
        self.buf_start = 0  # absolute index of buf[0]
        self.pos = 0  # output emitted up to here
        self.tail: np.ndarray | None = None  # cross-fade tail covering [pos, pos + xfade)
        self.states = [_ChannelState() for _ in range(channels)]
        self.envelope, self.unvoiced, self.prosody = owner.options(self.sr, self.work_sr)

    def _voice(self, c: int, first: np.ndarray) -> PseudoVoice:
        state = self.states[c]
        if state.voice is None:
            key = f"{self.speaker}#ch{c}" if self.owner.channel_voices and self.channels > 1 else self.speaker
            content = hashlib.sha256(np.asarray(first[: self.sr], dtype="<f4").tobytes()).hexdigest()[:16]
            state.voice = self.owner.voice(self.seed, key, recording=content)
        return state.voice

    def _convert(self, seg: np.ndarray) -> np.ndarray:
        out = np.zeros_like(seg)
        for c in range(self.channels):
            voice = self._voice(c, seg[:, c])
            x = seg[:, c]
            if self.work_sr != self.sr:
                x = resample(x, self.sr, self.work_sr)
            y = convert_world(x, self.work_sr, voice, self.states[c], envelope=self.envelope, unvoiced=self.unvoiced, prosody=self.prosody)
            if self.owner.backend == "hifigan":  # the converted voice rendered by the neural vocoder
                from avanon.audio import vocoder

                y = vocoder.resynthesize(y, self.work_sr)
                if self.owner.match_level:
                    y = _match_level(y, x, self.work_sr)
            if self.work_sr != self.sr:
                y = resample(y, self.work_sr, self.sr)
            m = min(len(y), len(seg))
            out[:m, c] = y[:m]
        return out

    def _cut(self, total: int) -> int:
        """The quietest 10 ms position in the last second before ``pos + chunk`` (absolute index)."""
        lo, hi = self.pos + self.chunk - self.search, self.pos + self.chunk
        region = self.buf[lo - self.buf_start : hi - self.buf_start + self.hop].mean(axis=1)
        n = (len(region) - self.hop) // self.hop
        if n < 1:
            return hi
        energy = np.square(region[: n * self.hop + self.hop]).reshape(-1, self.hop)[:n].sum(axis=1)
        return lo + int(np.argmin(energy)) * self.hop + self.hop // 2

    def _emit(self, end: int, final: bool) -> np.ndarray:
        start = max(0, self.pos - self.context)
        stop = self.buf_start + len(self.buf) if final else min(end + self.xfade + self.context, self.buf_start + len(self.buf))
        y = self._convert(self.buf[start - self.buf_start : stop - self.buf_start])
        y0 = self.pos - start
        piece = y[y0 : y0 + (end - self.pos)].copy()
        if self.tail is not None:
            k = min(len(self.tail), len(piece))
            ramp = (np.arange(k) + 0.5)[:, None] / len(self.tail)
            piece[:k] = self.tail[:k] * (1 - ramp) + piece[:k] * ramp
        self.tail = None if final else y[y0 + (end - self.pos) : y0 + (end - self.pos) + self.xfade].copy()
        self.pos = end
        drop = max(0, self.pos - self.context - self.buf_start)
        self.buf, self.buf_start = self.buf[drop:], self.buf_start + drop
        return np.clip(piece, -1.0, 1.0).astype(np.float32)

    def process(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block, dtype=np.float64)
        if block.ndim == 1:
            block = block[:, None]
        if block.shape[1] != self.channels:
            raise ParameterError(f"PseudoSpeaker stream expects {self.channels} channel(s). Got a block of shape {block.shape} instead.")
        self.buf = np.concatenate([self.buf, block])
        outs = [np.zeros((0, self.channels), dtype=np.float32)]
        while self.buf_start + len(self.buf) >= self.pos + self.chunk + self.hop + self.xfade + self.context:
            outs.append(self._emit(self._cut(self.buf_start + len(self.buf)), final=False))
        return np.concatenate(outs)

    def flush(self) -> np.ndarray:
        total = self.buf_start + len(self.buf)
        if total == self.pos:
            return np.zeros((0, self.channels), dtype=np.float32)
        return self._emit(total, final=True)


@register
class PseudoSpeaker(VoiceTransform):
    """WORLD pseudo-speaker conversion keyed by ``(seed, speaker)``; see the module docstring."""

    name = "pseudo-speaker"
    params = {
        "f0_range_hz": Param((85.0, 270.0), Kind((tuple,), length=2), "range of pseudo-speaker mean F0 [Hz], drawn log-uniformly"),
        "f0_sigma_range": Param((0.10, 0.20), Kind((tuple,), length=2), "range of pseudo-speaker F0 spread [natural-log units]"),
        "warp_range": Param((0.70, 1.40), Kind((tuple,), length=2), "range of the envelope frequency-warp factor"),
        "timbre_db": Param(16.0, Interval(float, 0.0, 30.0), "amplitude of the keyed timbre curve [dB]"),
        "timbre_terms": Param(4, Interval(int, 1, 32), "cosine terms of the timbre curve (more = finer spectral detail)"),
        "formant_band_hz": Param((250.0, 2500.0), Kind((tuple,), length=2), "band of the first two formants (most phonetic content) [Hz]"),
        "timbre_inner": Param(1.0, Interval(float, 0.0, 1.0), "share of the timbre curve applied inside formant_band_hz (1 outside)"),
        "warp_inner": Param(1.0, Interval(float, 0.0, 1.0), "share of the log warp factor applied inside formant_band_hz (1 outside)"),
        "band_tilt": Param(
            False, Kind((bool,)), "inside formant_band_hz keep the timbre curve's straight-line slope in full (timbre_inner scales only its ripple)"
        ),
        "tilt_keep": Param(1.0, Interval(float, 0.0, 1.0), "share of the speaker's broad spectral tilt kept; the rest is a fixed reference tilt"),
        "flatten": Param(1.0, Interval(float, 0.0, 1.0), "share of the speaker's average envelope detail removed (1 = all)"),
        "lifter": Param(30, Interval(int, 0, 512), "cepstral coefficients (at 16 kHz) kept of the envelope movement; 0 keeps all"),
        "f0_smooth_ms": Param(30.0, Interval(float, 0.0, 200.0), "moving-average smoothing of the F0 contour within voiced runs [ms]; 0 = none"),
        "match_level": Param(True, Kind((bool,)), "give the output the input's loudness contour (20 ms frames)"),
        "keep_unvoiced": Param(True, Kind((bool,)), "unvoiced frames (pauses, fricatives) keep their own spectral envelope"),
        "unvoiced_ramp_ms": Param(30.0, Interval(float, 0.0, 200.0), "ramp from the pseudo-voice envelope to the original one next to voiced frames [ms]"),
        "unvoiced_max_ms": Param(
            300.0, Interval(float, 10.0, 2000.0), "longest unvoiced stretch kept whole; in longer ones (whisper) only pauses keep their envelope [ms]"
        ),
        "unvoiced_warp": Param(True, Kind((bool,)), "kept unvoiced frames get the pseudo-voice's frequency warp, so they differ between secrets"),
        "unvoiced_timbre": Param(0.0, Interval(float, 0.0, 1.0), "share of the keyed timbre curve added to kept unvoiced frames"),
        "extend_band": Param(
            True,
            Kind((bool,)),
            "input below the processing rate: continue its envelope flat above its band instead of converting the resampler's empty stop band",
        ),
        "min_warp": Param(
            0.06, Interval(float, 0.0, 0.3), "smallest |log warp| drawn: every pseudo-voice moves the formants at least this much [natural-log units]"
        ),
        "min_f0_shift_st": Param(6.0, Interval(float, 0.0, 12.0), "smallest distance of the pseudo-voice mean F0 from the speaker's own [semitones]"),
        "jitter": Param(0.0, Interval(float, 0.0, 1.0), "per-recording perturbation of the voice, as a share of each range"),
        "chunk_s": Param(8.0, Interval(float, 2.0, 120.0), "chunk length for streaming [s]"),
        "context_s": Param(0.3, Interval(float, 0.05, 2.0), "analysis context on each side of a chunk [s]"),
        "crossfade_ms": Param(20.0, Interval(float, 1.0, 200.0), "cross-fade at chunk borders [ms]"),
        "max_rate": Param(24000, Interval(int, 8000, 96000), "highest processing sample rate [Hz]"),
        "channel_voices": Param(False, Kind((bool,)), "give each channel its own pseudo-voice (one speaker per channel)"),
        "backend": Param(
            "world", Options(("world", "hifigan")), "synthesis of the converted voice: WORLD's vocoder, or the HiFi-GAN neural vocoder re-rendering it"
        ),
    }

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        for key, lo_min in (("f0_range_hz", 40.0), ("f0_sigma_range", 0.0), ("warp_range", 0.5), ("formant_band_hz", 50.0)):
            value = getattr(self, key)
            ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value) and lo_min <= value[0] <= value[1]
            if not ok:
                raise ParameterError(f"The {key!r} parameter of PseudoSpeaker must be a (low, high) pair with {lo_min} <= low <= high. Got {value!r} instead.")

    def options(self, sample_rate: int, work_rate: int) -> tuple[EnvelopeOptions, UnvoicedOptions, ProsodyOptions]:
        """The conversion settings for input at ``sample_rate`` [Hz] converted at ``work_rate`` [Hz]."""
        envelope = EnvelopeOptions(
            flatten=self.flatten,
            lifter=self.lifter,
            formant_band=tuple(self.formant_band_hz),  # type: ignore[arg-type]
            timbre_inner=self.timbre_inner,
            warp_inner=self.warp_inner,
            band_tilt=self.band_tilt,
            band_hz=sample_rate / 2 if self.extend_band and work_rate > sample_rate else None,
            tilt_keep=self.tilt_keep,
        )
        unvoiced = UnvoicedOptions(
            keep=self.keep_unvoiced,
            ramp=int(round(self.unvoiced_ramp_ms / FRAME_MS)),
            max_run=max(1, int(round(self.unvoiced_max_ms / FRAME_MS))),
            warp=self.unvoiced_warp,
            timbre=self.unvoiced_timbre,
        )
        prosody = ProsodyOptions(
            f0_smooth=max(1, int(round(self.f0_smooth_ms / FRAME_MS)) | 1),
            min_f0_shift=self.min_f0_shift_st * np.log(2.0) / 12.0,
            match_level=self.match_level,
        )
        return envelope, unvoiced, prosody

    def voice(self, seed: int, speaker: str, *, recording: str = "") -> PseudoVoice:
        """The pseudo-voice of ``speaker``; ``recording`` keys the per-recording jitter."""

        def draw(label: str, lo: float, hi: float, log: bool = False) -> float:
            a, b = (np.log(lo), np.log(hi)) if log else (lo, hi)
            u = keyed_uniform(seed, speaker, "pseudo/" + label, 0.0, 1.0)
            if self.jitter > 0:
                u += self.jitter * keyed_uniform(seed, speaker + "\x00" + recording, "jitter/" + label, -0.5, 0.5)
                u = float(np.clip(u, 0.0, 1.0))
            v = a + (b - a) * u
            return float(np.exp(v)) if log else float(v)

        amp = self.timbre_db / 20.0 * np.log(10.0) / np.sqrt(self.timbre_terms / 2)
        return PseudoVoice(
            f0_mean_hz=draw("f0", *self.f0_range_hz, log=True),
            f0_sigma=draw("f0-sigma", *self.f0_sigma_range),
            warp=self._draw_warp(draw("warp", 0.0, 1.0)),
            timbre=tuple(draw(f"timbre{j}", -amp, amp) * np.sqrt(3) for j in range(self.timbre_terms)),
        )

    def _draw_warp(self, u: float) -> float:
        """Map ``u`` in [0, 1] to a warp factor log-uniform over ``warp_range`` without ``|log warp| < min_warp``."""
        lo, hi = np.log(self.warp_range[0]), np.log(self.warp_range[1])
        m = self.min_warp
        gap = max(0.0, min(hi, m) - max(lo, -m))  # the excluded part inside the range
        v = lo + u * (hi - lo - gap)
        if gap > 0 and v > max(lo, -m):
            v += gap
        return float(np.exp(v))

    def stream(self, sample_rate: int, channels: int, *, seed: int, speaker: str) -> _PseudoStream:
        return _PseudoStream(self, sample_rate, channels, seed=seed, speaker=speaker)
