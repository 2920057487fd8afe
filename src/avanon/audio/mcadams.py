"""McAdams-coefficient voice anonymization (VoicePrivacy Challenge baseline B2).

Each 20 ms Hann frame (10 ms hop) is analysed by LPC (order 20); the angle ``phi`` of every complex
pole becomes ``phi ** alpha``; the LPC residual is re-filtered through the shifted all-pole filter and
the frames are overlap-added. Formants move while the excitation, and so F0 and timing, stay.

Reference: Patino et al., "Speaker anonymisation using the McAdams coefficient", Interspeech 2021,
and the VoicePrivacy 2022 baseline B2 (``anonymise_dir_mcadams.py``). Differences from the reference
script, on purpose: the first frame is not skipped, the signal is padded so the first and last
samples get full overlap-add coverage, the level is not normalised to peak (so a stream needs no look
at the whole file), and all frames of a block are computed at once (vectorised), which makes it far
faster than real time.
"""

from __future__ import annotations

import numpy as np

from avanon.audio.base import VoiceTransform, keyed_uniform
from avanon.registry import AnyOf, Interval, Kind, Param, register

_EPS = float(np.finfo(np.float32).eps)


def _lpc(frames: np.ndarray, order: int) -> np.ndarray:
    """LPC coefficients ``[1, a1..ap]`` per row by autocorrelation and Levinson-Durbin."""
    n = frames.shape[1]
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(frames, nfft, axis=1)
    r = np.fft.irfft(spec * np.conj(spec), nfft, axis=1)[:, : order + 1]
    r[:, 0] *= 1.0 + 1e-9
    r[:, 0] += 1e-12
    a = np.zeros((frames.shape[0], order + 1))
    a[:, 0] = 1.0
    err = r[:, 0].copy()
    for i in range(1, order + 1):
        acc = r[:, i] + np.einsum("fj,fj->f", a[:, 1:i], r[:, i - 1 : 0 : -1])
        k = -acc / err
        a[:, 1:i] = a[:, 1:i] + k[:, None] * a[:, i - 1 : 0 : -1]
        a[:, i] = k
        err = err * (1.0 - k * k)
    return a


def _roots(a: np.ndarray) -> np.ndarray:
    """Roots of each row's polynomial (companion-matrix eigenvalues, batched)."""
    order = a.shape[1] - 1
    companion = np.zeros((a.shape[0], order, order))
    companion[:, 0, :] = -a[:, 1:] / a[:, :1]
    companion[:, np.arange(1, order), np.arange(order - 1)] = 1.0
    return np.linalg.eigvals(companion)


def _poly(roots: np.ndarray) -> np.ndarray:
    """Real polynomial coefficients with the given roots, batched."""
    coeffs = np.zeros((roots.shape[0], roots.shape[1] + 1), dtype=complex)
    coeffs[:, 0] = 1.0
    for j in range(roots.shape[1]):
        coeffs[:, 1 : j + 2] = coeffs[:, 1 : j + 2] - roots[:, j : j + 1] * coeffs[:, : j + 1]
    return coeffs.real


def _fir(frames: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row FIR filter ``y = b * x`` (zero initial state), output as long as the input."""
    n = frames.shape[1]
    out = np.zeros_like(frames)
    for k in range(b.shape[1]):
        out[:, k:] += b[:, k : k + 1] * frames[:, : n - k]
    return out


def _allpole(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Per-row all-pole filter ``y = x / a`` (zero initial state), vectorised across rows."""
    order = a.shape[1] - 1
    n = x.shape[1]
    y = np.zeros((x.shape[0], n + order))
    coef = a[:, :0:-1]  # a_p .. a_1, aligned with y[n-p .. n-1]
    for t in range(n):
        y[:, t + order] = x[:, t] - np.einsum("fk,fk->f", coef, y[:, t : t + order])
    return y[:, order:]


def mcadams_frames(frames: np.ndarray, *, alpha: float, order: int) -> np.ndarray:
    """Apply the McAdams pole shift to windowed frames (rows); returns re-synthesised frames."""
    a = _lpc(frames + _EPS, order)
    poles = _roots(a)
    angles = np.clip(np.abs(np.angle(poles)) ** alpha, 0.0, np.pi)
    shifted = np.where(np.abs(poles.imag) > 0, np.abs(poles) * np.exp(1j * np.sign(poles.imag) * angles), poles)
    a_new = _poly(shifted)
    residual = _fir(frames, a)
    return _allpole(residual, a_new)


class _McAdamsStream:
    """Overlap-add over a growing buffer; positions are counted in the zero-padded signal."""

    def __init__(self, *, sample_rate: int, channels: int, alpha: float, order: int, win_ms: float, hop_ms: float):
        self.alpha, self.order, self.channels = alpha, order, channels
        self.win = int(np.floor(win_ms * 1e-3 * sample_rate))
        self.hop = max(1, int(np.floor(hop_ms * 1e-3 * sample_rate)))
        hann = np.hanning(self.win)
        self.window = np.sqrt(hann / (hann.sum() / self.hop))
        self.pad = self.win - self.hop  # leading zeros so the first samples get full coverage
        self.buf = np.zeros((self.pad, channels))
        self.acc = np.zeros((self.pad, channels))
        self.base = 0  # padded position of buf[0]; always a multiple of hop
        self.consumed = 0

    def _run(self, final: bool) -> np.ndarray:
        if final:
            self.buf = np.concatenate([self.buf, np.zeros((self.win, self.channels))])
        n_frames = 0 if len(self.buf) < self.win else 1 + (len(self.buf) - self.win) // self.hop
        if len(self.acc) < len(self.buf):
            self.acc = np.concatenate([self.acc, np.zeros((len(self.buf) - len(self.acc), self.channels))])
        if n_frames:
            idx = np.arange(n_frames)[:, None] * self.hop + np.arange(self.win)[None, :]
            for c in range(self.channels):
                frames = self.buf[idx, c] * self.window
                rec = mcadams_frames(frames, alpha=self.alpha, order=self.order) * self.window
                np.add.at(self.acc[:, c], idx.ravel(), rec.ravel())
        done = n_frames * self.hop
        out = self.acc[:done]
        first = self.base - self.pad  # input index of out[0]
        lo, hi = max(0, -first), max(0, min(done, self.consumed - first))
        out = out[lo:hi]
        self.acc, self.buf, self.base = self.acc[done:], self.buf[done:], self.base + done
        return out.astype(np.float32)

    def process(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block, dtype=np.float64).reshape(len(block), self.channels)
        self.consumed += len(block)
        self.buf = np.concatenate([self.buf, block])
        return self._run(final=False)

    def flush(self) -> np.ndarray:
        return self._run(final=True)


@register
class McAdams(VoiceTransform):
    """McAdams coefficient transform; ``alpha`` fixed, or drawn per speaker from ``alpha_range``."""

    name = "mcadams"
    params = {
        "alpha": Param(0.8, AnyOf((Interval(float, 0.5, 1.0), Kind((type(None),)))), "McAdams coefficient; None draws it per speaker"),
        "alpha_range": Param((0.7, 0.9), Kind((tuple,), length=2), "range for a per-speaker alpha when alpha is None"),
        "lp_order": Param(20, Interval(int, 4, 64), "LPC order"),
        "win_ms": Param(20.0, Interval(float, 5.0, 100.0), "analysis frame length [ms]"),
        "hop_ms": Param(10.0, Interval(float, 1.0, 50.0), "frame hop [ms]; half the frame for the reference setting"),
    }

    def speaker_alpha(self, seed: int, speaker: str) -> float:
        """The coefficient used for one speaker."""
        if self.alpha is not None:
            return float(self.alpha)
        low, high = (float(v) for v in self.alpha_range)
        return keyed_uniform(seed, speaker, "mcadams-alpha", low, high)

    def stream(self, sample_rate: int, channels: int, *, seed: int, speaker: str) -> _McAdamsStream:
        return _McAdamsStream(
            sample_rate=sample_rate,
            channels=channels,
            alpha=self.speaker_alpha(seed, speaker),
            order=self.lp_order,
            win_ms=self.win_ms,
            hop_ms=self.hop_ms,
        )
