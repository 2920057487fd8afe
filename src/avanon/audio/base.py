"""The contract every voice transform follows.

A voice transform is a registered :class:`~avanon.registry.Method` of kind ``"voice"``. It turns a
float32 signal of shape ``(n_samples, n_channels)`` into a signal of exactly the same shape and
sample rate. Long recordings are processed as a stream: :meth:`VoiceTransform.stream` returns an
object whose ``process`` takes consecutive blocks and returns the samples that are final so far, and
whose ``flush`` returns the rest. The output of a stream is identical whatever the block sizes.
"""

from __future__ import annotations

import hashlib
import re
from abc import abstractmethod
from pathlib import PurePath
from typing import Protocol

import numpy as np

from avanon.detect.models import ModelFile
from avanon.registry import Method

_SUBJECT = re.compile(r"(sub-[A-Za-z0-9]+)")


class VoiceStream(Protocol):
    """State of one transform over one recording."""

    def process(self, block: np.ndarray) -> np.ndarray:
        """Take ``(n, channels)`` float32 samples; return the output samples that are now final."""

    def flush(self) -> np.ndarray:
        """Return the remaining output samples; total output length equals total input length."""


class VoiceTransform(Method):
    """Base class of voice transforms (kind ``"voice"``)."""

    kind = "voice"

    @abstractmethod
    def stream(self, sample_rate: int, channels: int, *, seed: int, speaker: str) -> VoiceStream:
        """Start transforming one recording.

        Parameters
        ----------
        sample_rate : int > 0 [Hz]
        channels : int > 0
        seed : int
            Recipe seed; together with ``speaker`` it fixes every random choice.
        speaker : str
            Pseudonymous speaker key; the same key gets the same voice in every file.
        """

    def models(self) -> list[ModelFile]:
        """Model files this transform uses (recorded in the manifest); none by default."""
        return []

    def apply(self, samples: np.ndarray, sample_rate: int, *, seed: int = 0, speaker: str = "") -> np.ndarray:
        """Transform a whole signal held in memory (convenience for short clips and tests)."""
        samples = np.asarray(samples, dtype=np.float32)
        mono = samples.ndim == 1
        block = samples[:, None] if mono else samples
        stream = self.stream(sample_rate, block.shape[1], seed=seed, speaker=speaker)
        out = np.concatenate([stream.process(block), stream.flush()], axis=0)
        return out[:, 0] if mono else out


def speaker_key(path: str | PurePath) -> str:
    """A speaker key from a path: the BIDS ``sub-XX`` entity if present, else the file stem."""
    path = PurePath(path)
    match = _SUBJECT.search(path.as_posix())
    return match.group(1) if match else path.stem


def keyed_uniform(seed: int, speaker: str, label: str, low: float, high: float) -> float:
    """A number in ``[low, high)`` fixed by ``(seed, speaker, label)`` through SHA-256."""
    digest = hashlib.sha256(f"{seed}\x00{speaker}\x00{label}".encode()).digest()
    unit = int.from_bytes(digest[:8], "big") / 2**64
    return low + (high - low) * unit
